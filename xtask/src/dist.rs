//! `cargo xtask dist`: the release artifacts under `target/dist/`:
//!
//! - `docbridge-VERSION-TARGET.tar.gz` (and its `.sha256`, which `sha256sum -c` checks): the
//!   binary, static (musl) when the `x86_64-unknown-linux-musl` target is installed, else for the
//!   host's glibc, with the oldest glibc it needs stated in the archive's README; the default
//!   configuration, man pages, shell completions, the systemd unit, both licences and
//!   `THIRD-PARTY-LICENSES.md` (every dependency compiled into the binary, with its licence text,
//!   read from `cargo metadata` and the crates' sources: no tool to install);
//! - `docbridge_VERSION-1_ARCH.deb`, built by `cargo-deb` (installed with `cargo install` when
//!   missing) from `[package.metadata.deb]` in the server's manifest, with the generated files it
//!   names under `target/deb-assets/`.
//!
//! `--dev` packages the debug build for the host instead (what `.ci/package.sh` installs and
//! removes: it reuses the test build rather than compiling everything again in release mode).
//!
//! Archives are made with `tar` and hashed with `sha256sum` (GNU coreutils), which every Linux
//! build host has; entries are sorted and owned by root so two builds of the same binary give the
//! same archive listing.

use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// The static target used when rustup has it.
const MUSL: &str = "x86_64-unknown-linux-musl";

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let dev = match args {
        [] => false,
        [flag] if flag == "--dev" => true,
        _ => anyhow::bail!("usage: cargo xtask dist [--dev]  (--dev: package the debug build, for CI)"),
    };
    let root = crate::codegen::workspace_root();
    let version = workspace_version(&std::fs::read_to_string(root.join("Cargo.toml"))?)?;
    let host = host_target()?;
    let target = if !dev && musl_installed() { MUSL.to_owned() } else { host.clone() };
    let binary = build(&root, &target, &host, dev)?;
    let assets = root.join("target/deb-assets");
    generate_assets(&root, &binary, &assets, &target)?;
    let libc = linkage(&binary, &target)?;
    let strip = if dev { Strip::Nothing } else { Strip::DebugInfo };
    let archive = package(&root, &binary, &version, &target, strip, Some((&assets, &libc)))?;
    eprintln!("{}", archive.display());
    let deb = debian_package(&root, &target, &host, dev)?;
    eprintln!("{}", deb.display());
    Ok(())
}

fn musl_installed() -> bool {
    Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).lines().any(|l| l.trim() == MUSL))
}

/// Builds the binary and says where cargo put it: under `CARGO_TARGET_DIR` when set, not always
/// the workspace's `target` (taking the latter shipped a stale binary when the two differed).
/// For the host, this is the very build `cargo xtask soak` makes (same command, same features,
/// same environment), so `.ci/run`'s package test, which runs after the soak, compiles nothing.
fn build(root: &Path, target: &str, host: &str, dev: bool) -> anyhow::Result<PathBuf> {
    if target == host {
        return crate::soak::build_docbridge(!dev);
    }
    let mut args = vec!["build", "-p", "docbridge-server", "--bin", "docbridge", "--target", target];
    if !dev {
        args.push("--release");
    }
    let mut env = Vec::new();
    if target == MUSL {
        // ring and the bundled SQLite are C: Debian's musl-tools provides the compiler wrapper.
        anyhow::ensure!(
            Command::new("musl-gcc").arg("--version").output().is_ok(),
            "the {MUSL} target needs musl-gcc (apt-get install musl-tools)"
        );
        env.push(("CC_x86_64_unknown_linux_musl", "musl-gcc"));
    }
    eprintln!(
        "$ {} cargo {}",
        env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
        args.join(" ")
    );
    // As from a shell (`fuzz::cargo`): xtask's own `cargo run` variables would rebuild
    // dependencies whose build scripts watch them.
    let status = crate::fuzz::cargo().args(&args).envs(env.iter().copied()).current_dir(root).status()?;
    anyhow::ensure!(status.success(), "cargo {} failed ({status})", args.join(" "));
    let dir = super::target_dir(root).join(target);
    Ok(dir.join(if dev { "debug" } else { "release" }).join("docbridge"))
}

/// What the packages ship besides the binary, written under `assets`: the commented
/// configuration, the man pages (gzipped) and completions (from the binary itself) and the
/// dependencies' licences.
fn generate_assets(root: &Path, binary: &Path, assets: &Path, target: &str) -> anyhow::Result<()> {
    if assets.exists() {
        std::fs::remove_dir_all(assets)?;
    }
    std::fs::create_dir_all(assets)?;
    let status = Command::new(binary).arg("generate-assets").arg(assets).status()?;
    anyhow::ensure!(status.success(), "docbridge generate-assets failed ({status})");
    let man = assets.join("man");
    let mut pages: Vec<String> = std::fs::read_dir(&man)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".1"))
        .collect();
    pages.sort();
    anyhow::ensure!(pages.iter().any(|p| p == "docbridge.1"), "generate-assets wrote no docbridge.1");
    let mut gzip = vec!["-9n"];
    gzip.extend(pages.iter().map(String::as_str));
    run_in(&man, "gzip", &gzip)?;
    let defaults = std::fs::read_to_string(root.join("crates/docbridge-server/default-config.toml"))?;
    std::fs::write(assets.join("docbridge.toml"), commented_config(&defaults))?;
    let metadata = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()))
        .args(["metadata", "--format-version", "1", "--locked", "--filter-platform", target])
        .current_dir(root)
        .output()?;
    anyhow::ensure!(metadata.status.success(), "cargo metadata failed: {}", String::from_utf8_lossy(&metadata.stderr));
    let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout)?;
    let (text, missing) = third_party_licenses(&metadata, "docbridge-server")?;
    if !missing.is_empty() {
        eprintln!(
            "note: no licence file in {} crate(s), their licence expression is listed: {}",
            missing.len(),
            missing.join(", ")
        );
    }
    std::fs::write(assets.join("THIRD-PARTY-LICENSES.md"), text)?;
    Ok(())
}

/// The packaged `/etc/docbridge/docbridge.toml`: the default configuration with every setting
/// and section line commented out, so the file changes nothing until a line is uncommented,
/// and an administrator can append `[section]` lines and keys at its end.
pub fn commented_config(defaults: &str) -> String {
    let mut out = String::from(
        "# /etc/docbridge/docbridge.toml, read by the docbridge service (DOCBRIDGE_CONFIG).\n\
         # Every setting is listed with its default, commented out. To change one, remove the `#`\n\
         # in front of it and in front of its [section] line, or append the section and the key at\n\
         # the end of this file. Check with `docbridge doctor`; `systemctl reload docbridge` applies\n\
         # the log level, `systemctl restart docbridge` everything else.\n\n",
    );
    for line in defaults.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            out.push_str(line);
        } else {
            out.push('#');
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

/// What the binary needs from the C library, for the archive's README: nothing for musl (static),
/// else the newest `GLIBC_x.y` symbol version it references (`objdump -T`).
fn linkage(binary: &Path, target: &str) -> anyhow::Result<String> {
    if target.contains("musl") {
        return Ok("a static binary (musl libc inside): it runs on any x86-64 Linux, whatever its C library".to_owned());
    }
    let dump = Command::new("objdump").arg("-T").arg(binary).output()?;
    anyhow::ensure!(dump.status.success(), "objdump -T failed: {}", String::from_utf8_lossy(&dump.stderr));
    let oldest = newest_glibc(&String::from_utf8_lossy(&dump.stdout))
        .ok_or_else(|| anyhow::anyhow!("objdump -T shows no GLIBC_ symbol version"))?;
    Ok(format!(
        "linked against the GNU C library: it runs on x86-64 Linux with glibc {oldest} or newer (Debian 12 and Ubuntu 22.04 have 2.36 and 2.35; check with `ldd --version`)"
    ))
}

/// The highest `GLIBC_x.y[.z]` version named in `objdump -T` output: the oldest glibc that has
/// every symbol the binary needs.
pub fn newest_glibc(objdump: &str) -> Option<String> {
    objdump
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let parts: Option<Vec<u32>> = v.split('.').map(|p| p.parse().ok()).collect();
            parts.filter(|p| !p.is_empty()).map(|p| (p, v.to_owned()))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, v)| v)
}

/// `THIRD-PARTY-LICENSES.md` for the crates compiled into `package` (normal and build
/// dependencies, found through `cargo metadata`'s resolve graph; dev-dependencies are not
/// shipped): a table of names, versions and licence expressions, then each distinct licence text
/// once, with the crates it came with. Also the crates that ship no licence file.
pub fn third_party_licenses(metadata: &serde_json::Value, package: &str) -> anyhow::Result<(String, Vec<String>)> {
    let packages = metadata["packages"].as_array().ok_or_else(|| anyhow::anyhow!("cargo metadata: no packages"))?;
    let by_id: HashMap<&str, &serde_json::Value> =
        packages.iter().filter_map(|p| Some((p["id"].as_str()?, p))).collect();
    let members: BTreeSet<&str> =
        metadata["workspace_members"].as_array().into_iter().flatten().filter_map(|m| m.as_str()).collect();
    let nodes: HashMap<&str, &serde_json::Value> = metadata["resolve"]["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| Some((n["id"].as_str()?, n)))
        .collect();
    let start = packages
        .iter()
        .find(|p| p["name"] == package && members.contains(p["id"].as_str().unwrap_or_default()))
        .and_then(|p| p["id"].as_str())
        .ok_or_else(|| anyhow::anyhow!("{package} is not a workspace member"))?;
    let mut seen = BTreeSet::from([start]);
    let mut queue = vec![start];
    while let Some(id) = queue.pop() {
        for dep in nodes.get(id).and_then(|n| n["deps"].as_array()).into_iter().flatten() {
            let shipped =
                dep["dep_kinds"].as_array().into_iter().flatten().any(|k| k["kind"].is_null() || k["kind"] == "build");
            if let (true, Some(pkg)) = (shipped, dep["pkg"].as_str())
                && seen.insert(pkg)
            {
                queue.push(pkg);
            }
        }
    }
    let mut rows = Vec::new();
    let mut texts: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut missing = Vec::new();
    let mut crates: Vec<&serde_json::Value> =
        seen.iter().filter(|id| !members.contains(*id)).filter_map(|id| by_id.get(id).copied()).collect();
    crates.sort_by_key(|p| {
        (p["name"].as_str().unwrap_or_default().to_owned(), p["version"].as_str().unwrap_or_default().to_owned())
    });
    for p in crates {
        let name = format!("{} {}", p["name"].as_str().unwrap_or("?"), p["version"].as_str().unwrap_or("?"));
        let license = p["license"].as_str().unwrap_or("(none declared)").to_owned();
        rows.push(format!(
            "| {} | {} | {} |",
            p["name"].as_str().unwrap_or("?"),
            p["version"].as_str().unwrap_or("?"),
            license
        ));
        let dir = Path::new(p["manifest_path"].as_str().unwrap_or_default()).parent().map(Path::to_path_buf);
        let mut files: Vec<PathBuf> = Vec::new();
        if let (Some(dir), Some(file)) = (&dir, p["license_file"].as_str()) {
            files.push(dir.join(file));
        }
        if let Some(dir) = &dir
            && let Ok(entries) = std::fs::read_dir(dir)
        {
            let mut found: Vec<PathBuf> = entries
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|path| {
                    let upper = path.file_name().unwrap_or_default().to_string_lossy().to_ascii_uppercase();
                    path.is_file()
                        && ["LICENSE", "LICENCE", "COPYING", "NOTICE", "UNLICENSE"].iter().any(|s| upper.starts_with(s))
                })
                .collect();
            found.sort();
            files.extend(found);
        }
        files.dedup();
        let mut any = false;
        for file in files {
            if let Ok(text) = std::fs::read_to_string(&file) {
                any = true;
                texts.entry(text.trim().to_owned()).or_default().push(name.clone());
            }
        }
        if !any {
            missing.push(format!("{name} ({license})"));
        }
    }
    let mut out = format!(
        "# Third-party licences\n\nThe docbridge binary contains these {} crates. Each licence text they ship follows the\ntable once, with the crates it came with.\n\n| crate | version | licence |\n|---|---|---|\n",
        rows.len()
    );
    for row in rows {
        out.push_str(&row);
        out.push('\n');
    }
    if !missing.is_empty() {
        out.push_str("\nThese crates ship no licence file; their licence is the expression above:\n");
        for m in &missing {
            out.push_str(&format!("- {m}\n"));
        }
    }
    for (text, names) in texts {
        out.push_str(&format!("\n## {}\n\n```text\n{}\n```\n", names.join(", "), text.replace("```", "` ` `")));
    }
    Ok((out, missing))
}

/// Builds the `.deb` with cargo-deb from the binary already built, installing cargo-deb first
/// when it is missing.
fn debian_package(root: &Path, target: &str, host: &str, dev: bool) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let have = Command::new(&cargo).args(["deb", "--version"]).output().is_ok_and(|o| o.status.success());
    if !have {
        super::cargo(&["install", "--locked", "cargo-deb"])?;
    }
    let dist = root.join("target/dist");
    std::fs::create_dir_all(&dist)?;
    let dist_arg = dist.to_string_lossy().into_owned();
    let mut args = vec!["deb", "-p", "docbridge-server", "--no-build", "--output", dist_arg.as_str()];
    if target != host {
        args.extend(["--target", target]);
    }
    if dev {
        // gzip instead of xz: the debug binary is large, and xz took 100 s of CI's 2 cores for a
        // package that is installed once and thrown away.
        args.extend(["--profile", "dev", "--fast"]);
    }
    let output = Command::new(&cargo).args(&args).current_dir(root).output()?;
    eprintln!("$ cargo {}", args.join(" "));
    anyhow::ensure!(output.status.success(), "cargo deb failed: {}", String::from_utf8_lossy(&output.stderr));
    // cargo-deb prints the package's path last.
    let printed = String::from_utf8_lossy(&output.stdout);
    let path = printed.lines().rev().find(|l| l.trim().ends_with(".deb")).map(|l| PathBuf::from(l.trim()));
    path.ok_or_else(|| anyhow::anyhow!("cargo deb named no .deb: {printed}"))
}

/// Whether the shipped binary keeps the release profile's line tables (kept in the build for
/// profiling; a user's binary does not need them, and they are most of its size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strip {
    DebugInfo,
    /// The debug build of `--dev`, and the tests' stand-in binary (not an ELF file).
    Nothing,
}

/// Stages the files and writes `docbridge-VERSION-TARGET.tar.gz` and its `.sha256`.
/// `generated` is the folder of [`generate_assets`] and what the binary needs of the C library.
fn package(
    root: &Path,
    binary: &Path,
    version: &str,
    target: &str,
    strip: Strip,
    generated: Option<(&Path, &str)>,
) -> anyhow::Result<PathBuf> {
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
    if let Some((assets, libc)) = generated {
        copy_tree(&assets.join("man"), &stage.join("man"))?;
        copy_tree(&assets.join("completions"), &stage.join("completions"))?;
        std::fs::copy(assets.join("THIRD-PARTY-LICENSES.md"), stage.join("THIRD-PARTY-LICENSES.md"))?;
        std::fs::copy(root.join("crates/docbridge-server/debian/docbridge.service"), stage.join("docbridge.service"))?;
        let readme = std::fs::read_to_string(stage.join("README.md"))?;
        let this_build = format!(
            "# docbridge {version} for {target}\n\nThis archive's `docbridge` is {libc}. Install it with\n`install -m 755 docbridge /usr/local/bin/`; `docbridge.toml` lists every setting with its default,\n`docbridge.service` is the hardened systemd unit of the Debian package (it expects a `docbridge` user\nand `/var/lib/docbridge`), `man/` and `completions/` are the manual pages and shell completions, and\n`THIRD-PARTY-LICENSES.md` the licences of every crate compiled into the binary.\n\n"
        );
        std::fs::write(stage.join("README.md"), this_build + &readme)?;
    }
    let tarball = format!("{name}.tar.gz");
    run_in(&dist, "tar", &["--sort=name", "--owner=0", "--group=0", "--numeric-owner", "-czf", &tarball, &name])?;
    let sum = Command::new("sha256sum").arg(&tarball).current_dir(&dist).output()?;
    anyhow::ensure!(sum.status.success(), "sha256sum failed: {}", String::from_utf8_lossy(&sum.stderr));
    std::fs::write(dist.join(format!("{tarball}.sha256")), &sum.stdout)?;
    std::fs::remove_dir_all(&stage)?;
    Ok(dist.join(tarball))
}

fn copy_tree(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        std::fs::copy(entry.path(), to.join(entry.file_name()))?;
    }
    Ok(())
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
        let archive = package(&root, &binary, "9.9.9", "test-target", Strip::Nothing, None).unwrap();
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

    #[test]
    fn finds_the_newest_glibc_symbol_version() {
        let dump = "0000 DF *UND* 0000 (GLIBC_2.2.5) malloc\n0000 DF *UND* 0000 (GLIBC_2.34) __libc_start_main\n0000 DF *UND* 0000 GLIBC_2.17 clock_gettime\n0000 DF *UND* 0000 (GLIBC_PRIVATE) x\n";
        assert_eq!(newest_glibc(dump).as_deref(), Some("2.34"), "2.34 > 2.17 > 2.2.5, as versions not strings");
        assert_eq!(newest_glibc("no versions here"), None);
    }

    #[test]
    fn the_packaged_config_changes_nothing_until_a_line_is_uncommented() {
        let defaults = "# a comment\npublic_url = \"\"\n\n[http]\n# more\nlisten = \"127.0.0.1:8080\"\n";
        let commented = commented_config(defaults);
        assert!(commented.lines().all(|l| l.trim().is_empty() || l.starts_with('#')), "{commented}");
        assert!(commented.contains("#[http]\n# more\n#listen = \"127.0.0.1:8080\"\n"), "{commented}");
        // Appending a section at the end, as the guide does, is then valid and unambiguous.
        let appended = format!("{commented}public_url = \"https://docs.example.com\"\n[http.acme]\nenabled = true\n");
        let settings: Vec<&str> = appended.lines().filter(|l| !l.trim().is_empty() && !l.starts_with('#')).collect();
        assert_eq!(settings, ["public_url = \"https://docs.example.com\"", "[http.acme]", "enabled = true"]);
        let real = std::fs::read_to_string(
            crate::codegen::workspace_root().join("crates/docbridge-server/default-config.toml"),
        )
        .unwrap();
        let real = commented_config(&real);
        assert!(real.contains("#[metrics]") && real.contains("#public_url = \"\""), "every section and key is there");
    }

    #[test]
    fn lists_the_licences_of_what_is_shipped_only() {
        let dir = std::env::temp_dir().join(format!("xtask-licences-{}", std::process::id()));
        for name in ["shipped", "devonly", "nofile"] {
            std::fs::create_dir_all(dir.join(name)).unwrap();
        }
        std::fs::write(dir.join("shipped/LICENSE-MIT"), "MIT text").unwrap();
        std::fs::write(dir.join("devonly/LICENSE"), "dev text").unwrap();
        let manifest = |name: &str| dir.join(name).join("Cargo.toml").to_string_lossy().into_owned();
        let metadata = serde_json::json!({
            "workspace_members": ["app"],
            "packages": [
                {"id": "app", "name": "docbridge-server", "version": "0.1.0", "license": "MIT", "manifest_path": manifest("app")},
                {"id": "s", "name": "shipped", "version": "1.0.0", "license": "MIT", "manifest_path": manifest("shipped")},
                {"id": "d", "name": "devonly", "version": "2.0.0", "license": "GPL-3.0", "manifest_path": manifest("devonly")},
                {"id": "n", "name": "nofile", "version": "3.0.0", "license": "Apache-2.0", "manifest_path": manifest("nofile")},
            ],
            "resolve": {"nodes": [
                {"id": "app", "deps": [
                    {"pkg": "s", "dep_kinds": [{"kind": null}]},
                    {"pkg": "d", "dep_kinds": [{"kind": "dev"}]},
                ]},
                {"id": "s", "deps": [{"pkg": "n", "dep_kinds": [{"kind": "build"}]}]},
            ]},
        });
        let (text, missing) = third_party_licenses(&metadata, "docbridge-server").unwrap();
        assert!(text.contains("| shipped | 1.0.0 | MIT |") && text.contains("MIT text"), "{text}");
        assert!(!text.contains("devonly") && !text.contains("dev text"), "dev-dependencies are not shipped: {text}");
        assert!(!text.contains("| docbridge-server"), "the workspace's own crates are not third-party");
        assert_eq!(missing, ["nofile 3.0.0 (Apache-2.0)"]);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
