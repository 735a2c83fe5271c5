//! `cargo xtask release VERSION`: sets the workspace version, turns the changelog's Unreleased
//! section into the section of VERSION (dated today, UTC), and runs the whole check
//! (`cargo xtask ci`). It commits and tags nothing: it prints the git commands to run once the
//! change looks right, so a failed check leaves the edits in the tree to fix or revert.

use std::path::Path;

const UNRELEASED: &str = "## [Unreleased]";

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let [version] = args else { anyhow::bail!("usage: cargo xtask release VERSION (e.g. 0.2.0)") };
    check_version(version)?;
    let root = crate::codegen::workspace_root();
    let manifest_path = root.join("Cargo.toml");
    let changelog_path = root.join("CHANGELOG.md");
    let manifest = std::fs::read_to_string(&manifest_path)?;
    let changelog = std::fs::read_to_string(&changelog_path)?;
    let current = super::dist::workspace_version(&manifest)?;
    anyhow::ensure!(current != *version, "the workspace is at {version} already");
    // Both edits are computed before either file is written: a bad changelog changes nothing.
    let new_changelog = move_unreleased(&changelog, version, &today())?;
    let new_manifest = set_workspace_version(&manifest, version)?;
    write(&manifest_path, &new_manifest)?;
    write(&changelog_path, &new_changelog)?;
    eprintln!("version {current} -> {version}; CHANGELOG.md has its section. Running the whole check:");
    super::ci()?;
    eprintln!(
        "\nAll checks passed. To publish:\n  git commit -am \"Release {version}\"\n  git tag -a v{version} -m \"docbridge {version}\"\n  cargo xtask dist"
    );
    Ok(())
}

fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    std::fs::write(path, text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
}

/// `MAJOR.MINOR.PATCH`, optionally with a `-pre.release` suffix (semantic versioning).
fn check_version(version: &str) -> anyhow::Result<()> {
    let (core, pre) = version.split_once('-').map_or((version, None), |(c, p)| (c, Some(p)));
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |part: &str| {
        !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()) && (part == "0" || !part.starts_with('0'))
    };
    let pre_ok = pre.is_none_or(|p| {
        !p.is_empty()
            && p.split('.').all(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    });
    anyhow::ensure!(
        numbers.len() == 3 && numbers.iter().all(|n| numeric(n)) && pre_ok,
        "{version:?} is not a version like 1.2.3 or 1.2.3-rc.1"
    );
    Ok(())
}

/// The manifest with `[workspace.package] version` set to `version`, nothing else touched.
fn set_workspace_version(manifest: &str, version: &str) -> anyhow::Result<String> {
    let mut in_package = false;
    let mut done = false;
    let mut out = String::with_capacity(manifest.len());
    for line in manifest.split_inclusive('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_package = trimmed == "[workspace.package]";
        } else if in_package
            && !done
            && trimmed.starts_with("version")
            && trimmed["version".len()..].trim_start().starts_with('=')
        {
            let ending = if line.ends_with('\n') { "\n" } else { "" };
            out.push_str(&format!("version = \"{version}\"{ending}"));
            done = true;
            continue;
        }
        out.push_str(line);
    }
    anyhow::ensure!(done, "Cargo.toml has no version in [workspace.package]");
    Ok(out)
}

/// The changelog with the Unreleased section's entries moved under `## [VERSION] - DATE`, and a
/// new, empty Unreleased section above it.
fn move_unreleased(changelog: &str, version: &str, date: &str) -> anyhow::Result<String> {
    let start =
        changelog.find(UNRELEASED).ok_or_else(|| anyhow::anyhow!("CHANGELOG.md has no \"{UNRELEASED}\" section"))?;
    let body_start = start + UNRELEASED.len();
    let body_end = changelog[body_start..].find("\n## ").map_or(changelog.len(), |i| body_start + i + 1);
    let body = changelog[body_start..body_end].trim();
    anyhow::ensure!(!body.is_empty(), "the Unreleased section of CHANGELOG.md is empty: nothing to release");
    anyhow::ensure!(
        !changelog.contains(&format!("## [{version}]")),
        "CHANGELOG.md has a section for {version} already"
    );
    Ok(format!(
        "{}{UNRELEASED}\n\n## [{version}] - {date}\n\n{body}\n\n{}",
        &changelog[..start],
        &changelog[body_end..]
    )
    .trim_end()
    .to_owned()
        + "\n")
}

/// Today's date in UTC, `YYYY-MM-DD`, from the system clock (no date library for one line).
fn today() -> String {
    let days =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() / 86_400).unwrap_or(0);
    let (year, month, day) = civil_from_days(days as i64);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions() {
        for good in ["0.2.0", "1.10.3", "2.0.0-rc.1"] {
            assert!(check_version(good).is_ok(), "{good}");
        }
        for bad in ["", "1.2", "v1.2.3", "1.2.3.4", "01.2.3", "1.2.3-", "1.2.x"] {
            assert!(check_version(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn bumps_only_the_workspace_version() {
        let manifest = "[workspace]\nmembers = [\"x\"]\n\n[workspace.package]\nversion = \"0.1.0\"\nedition = \"2024\"\n\n[workspace.dependencies]\nfoo = { version = \"1\" }\n";
        let bumped = set_workspace_version(manifest, "0.2.0").unwrap();
        assert_eq!(bumped, manifest.replace("version = \"0.1.0\"", "version = \"0.2.0\""));
        assert!(set_workspace_version("[package]\nversion = \"1\"\n", "2.0.0").is_err());
    }

    #[test]
    fn moves_the_unreleased_section() {
        let changelog = "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n### Added\n\n- New thing.\n\n## [0.1.0] - 2026-01-01\n\n- First.\n";
        let moved = move_unreleased(changelog, "0.2.0", "2026-11-23").unwrap();
        assert_eq!(
            moved,
            "# Changelog\n\nIntro.\n\n## [Unreleased]\n\n## [0.2.0] - 2026-11-23\n\n### Added\n\n- New thing.\n\n## [0.1.0] - 2026-01-01\n\n- First.\n"
        );
        assert!(
            move_unreleased(&moved, "0.3.0", "2026-11-24").is_err(),
            "an empty Unreleased section has nothing to release"
        );
        assert!(move_unreleased("# Changelog\n", "0.2.0", "2026-11-23").is_err());
        let last = "## [Unreleased]\n\n- Only.\n";
        assert_eq!(
            move_unreleased(last, "1.0.0", "2026-11-23").unwrap(),
            "## [Unreleased]\n\n## [1.0.0] - 2026-11-23\n\n- Only.\n"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
        assert_eq!(today().len(), 10);
    }
}
