//! `cargo xtask dist`: a release tarball under `target/dist/`: the `docbridge` binary built in
//! release mode, the default configuration (every key, commented), the README, the changelog and
//! both licences, plus a `.sha256` file that `sha256sum -c` checks.
//!
//! The archive is made with `tar` and hashed with `sha256sum` (GNU coreutils), which every Linux
//! build host has; entries are sorted and owned by root so two builds of the same binary give the
//! same archive listing.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Files copied into the archive, as (source in the workspace, name in the archive).
const FILES: [(&str, &str); 5] = [
    ("crates/docbridge-server/default-config.toml", "docbridge.toml"),
    ("README.md", "README.md"),
    ("CHANGELOG.md", "CHANGELOG.md"),
    ("LICENSE-MIT", "LICENSE-MIT"),
    ("LICENSE-APACHE", "LICENSE-APACHE"),
];

pub fn run() -> anyhow::Result<()> {
    let root = crate::codegen::workspace_root();
    let version = workspace_version(&std::fs::read_to_string(root.join("Cargo.toml"))?)?;
    let target = host_target()?;
    super::cargo(&["build", "--release", "-p", "docbridge-server", "--bin", "docbridge"])?;
    // Where cargo put it: `CARGO_TARGET_DIR` when set, not always the workspace's `target`
    // (taking the latter shipped a stale binary when the two differed).
    let binary = super::target_dir(&root).join("release/docbridge");
    let archive = package(&root, &binary, &version, &target, Strip::DebugInfo)?;
    eprintln!("{}", archive.display());
    Ok(())
}

/// Whether the shipped binary keeps the release profile's line tables (kept in the build for
/// profiling; a user's binary does not need them, and they are most of its size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strip {
    DebugInfo,
    /// For the tests, whose stand-in binary is not an ELF file.
    #[cfg(test)]
    Nothing,
}

/// Stages the files and writes `docbridge-VERSION-TARGET.tar.gz` and its `.sha256`.
fn package(root: &Path, binary: &Path, version: &str, target: &str, strip: Strip) -> anyhow::Result<PathBuf> {
    let dist = root.join("target/dist");
    let name = format!("docbridge-{version}-{target}");
    let stage = dist.join(&name);
    if stage.exists() {
        std::fs::remove_dir_all(&stage)?;
    }
    std::fs::create_dir_all(&stage)?;
    anyhow::ensure!(binary.is_file(), "{} is missing after the release build", binary.display());
    std::fs::copy(binary, stage.join("docbridge"))?;
    if strip == Strip::DebugInfo {
        run_in(&stage, "strip", &["--strip-debug", "docbridge"])?;
    }
    for (source, dest) in FILES {
        let from = root.join(source);
        anyhow::ensure!(from.is_file(), "{source} is missing: a release ships it");
        std::fs::copy(&from, stage.join(dest))?;
    }
    let tarball = format!("{name}.tar.gz");
    run_in(&dist, "tar", &["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-czf", &tarball, &name])?;
    let sum = Command::new("sha256sum").arg(&tarball).current_dir(&dist).output()?;
    anyhow::ensure!(sum.status.success(), "sha256sum failed: {}", String::from_utf8_lossy(&sum.stderr));
    std::fs::write(dist.join(format!("{tarball}.sha256")), &sum.stdout)?;
    std::fs::remove_dir_all(&stage)?;
    Ok(dist.join(tarball))
}

fn run_in(dir: &Path, program: &str, args: &[&str]) -> anyhow::Result<()> {
    eprintln!("$ {program} {}", args.join(" "));
    let status = Command::new(program).args(args).current_dir(dir).status()?;
    anyhow::ensure!(status.success(), "{program} failed ({status})");
    Ok(())
}

/// The `version` of `[workspace.package]` in the workspace manifest.
pub fn workspace_version(manifest: &str) -> anyhow::Result<String> {
    let mut in_package = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
            continue;
        }
        if in_package
            && let Some(value) =
                line.strip_prefix("version").map(str::trim_start).and_then(|rest| rest.strip_prefix('='))
        {
            return Ok(value.trim().trim_matches('"').to_owned());
        }
    }
    anyhow::bail!("Cargo.toml has no version in [workspace.package]")
}

/// The target triple rustc builds for by default, e.g. `x86_64-unknown-linux-gnu`.
fn host_target() -> anyhow::Result<String> {
    let output = Command::new("rustc").arg("-vV").output()?;
    let text = String::from_utf8(output.stdout)?;
    text.lines()
        .find_map(|l| l.strip_prefix("host: "))
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("rustc -vV names no host"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_workspace_version() {
        let manifest = "[workspace]\nmembers = []\n\n[workspace.package]\nedition = \"2024\"\nversion = \"1.2.3\"\n\n[workspace.dependencies]\nversion = \"9\"\n";
        assert_eq!(workspace_version(manifest).unwrap(), "1.2.3");
        assert!(workspace_version("[package]\nversion = \"1\"\n").is_err());
    }

    #[test]
    fn packages_the_files_with_a_checksum() {
        let root = std::env::temp_dir().join(format!("xtask-dist-{}", std::process::id()));
        std::fs::create_dir_all(root.join("target/release")).unwrap();
        std::fs::create_dir_all(root.join("crates/docbridge-server")).unwrap();
        std::fs::write(root.join("target/release/docbridge"), b"binary").unwrap();
        for (source, _) in FILES {
            std::fs::write(root.join(source), source).unwrap();
        }
        let binary = root.join("target/release/docbridge");
        let archive = package(&root, &binary, "9.9.9", "test-target", Strip::Nothing).unwrap();
        assert!(archive.ends_with("target/dist/docbridge-9.9.9-test-target.tar.gz"));
        let listing = Command::new("tar").arg("-tzf").arg(&archive).output().unwrap();
        let listing = String::from_utf8(listing.stdout).unwrap();
        for name in ["docbridge", "docbridge.toml", "README.md", "CHANGELOG.md", "LICENSE-MIT", "LICENSE-APACHE"] {
            assert!(listing.lines().any(|l| l == format!("docbridge-9.9.9-test-target/{name}")), "{name} in {listing}");
        }
        let check = Command::new("sha256sum")
            .args(["-c", "docbridge-9.9.9-test-target.tar.gz.sha256"])
            .current_dir(root.join("target/dist"))
            .status()
            .unwrap();
        assert!(check.success(), "the checksum file verifies");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
