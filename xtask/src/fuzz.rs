//! `cargo xtask fuzz [--seconds N] [--target NAME] [--sanitizer none|address]`: runs every fuzz
//! target of `fuzz/` (coverage-guided, libFuzzer through `cargo fuzz`) for N seconds each.
//!
//! The machine has only a stable toolchain; `RUSTC_BOOTSTRAP=1` lets the nightly-only flags that
//! cargo-fuzz passes work on it. It is set for the fuzz build alone, which lives in its own
//! workspace (`fuzz/Cargo.toml`) and target folder, so no normal build ever sees it. The corpus
//! is seeded with the same generated inputs that `tests/it/fuzz_replay.rs` checks in CI; a crash
//! input found here belongs in `fuzz/regressions/<target>/`, from where that test replays it.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};

/// The targets of `fuzz/Cargo.toml`.
const TARGETS: [&str; 5] = ["router", "names", "range", "metadata", "config"];

struct Options {
    seconds: u64,
    targets: Vec<String>,
    sanitizer: String,
}

const USAGE: &str = "cargo xtask fuzz [--seconds N] [--target NAME]... [--sanitizer none|address]

  Runs each fuzz target for N seconds (default 60): router, names, range, metadata, config.
  The sanitizer defaults to none: docbridge forbids unsafe code, and without one a run covers
  several times more inputs.";

/// The options, or `None` when help was asked for.
fn parse(args: &[String]) -> anyhow::Result<Option<Options>> {
    let mut options = Options { seconds: 60, targets: Vec::new(), sanitizer: "none".into() };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().cloned().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--seconds" => options.seconds = value("--seconds")?.parse().context("--seconds: a whole number")?,
            "--target" => options.targets.push(value("--target")?),
            "--sanitizer" => options.sanitizer = value("--sanitizer")?,
            "--help" | "-h" => return Ok(None),
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if options.targets.is_empty() {
        options.targets = TARGETS.iter().map(|t| (*t).to_owned()).collect();
    }
    if let Some(unknown) = options.targets.iter().find(|t| !TARGETS.contains(&t.as_str())) {
        bail!("no fuzz target {unknown:?}; there are {}", TARGETS.join(", "));
    }
    anyhow::ensure!(options.seconds > 0, "--seconds must be at least 1");
    Ok(Some(options))
}

/// Cargo, as it runs from a shell: without the variables `cargo run` set for xtask.
pub(crate) fn cargo() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned()));
    for (name, _) in std::env::vars_os() {
        if name.to_str().is_some_and(set_by_cargo_run) {
            command.env_remove(&name);
        }
    }
    command
}

/// Whether an environment variable is one that `cargo run` sets for the program it runs (here,
/// xtask itself) rather than configuration. Build scripts such as ring's ask to be rerun when
/// `CARGO_PKG_NAME` or `CARGO_MANIFEST_DIR` change, so passing xtask's values on to a build
/// would make it differ from the same build from a shell, and each would rebuild those
/// dependencies and everything above them after the other (for the instrumented fuzz build,
/// most of an hour on 2 cores).
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || matches!(
            name,
            "CARGO_MANIFEST_DIR"
                | "CARGO_MANIFEST_PATH"
                | "CARGO_MANIFEST_LINKS"
                | "CARGO_CRATE_NAME"
                | "CARGO_BIN_NAME"
                | "CARGO_PRIMARY_PACKAGE"
                | "CARGO_RUSTC_CURRENT_DIR"
        )
}

/// `cargo fuzz <sub>` as it runs from a shell, with `RUSTC_BOOTSTRAP=1` (stable toolchain).
fn cargo_fuzz(root: &Path, sub: &str, sanitizer: &str) -> Command {
    let mut command = cargo();
    command.current_dir(root).env("RUSTC_BOOTSTRAP", "1").args([
        "fuzz",
        sub,
        "--fuzz-dir",
        "fuzz",
        "--sanitizer",
        sanitizer,
        "--debug-assertions",
    ]);
    command
}

/// The workspace root: xtask's manifest folder's parent.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

fn run_checked(command: &mut Command, what: &str) -> anyhow::Result<()> {
    eprintln!("$ {what}");
    let status = command.status().with_context(|| format!("starting {what}"))?;
    anyhow::ensure!(status.success(), "{what} failed ({status})");
    Ok(())
}

/// Installs cargo-fuzz from crates.io when `cargo fuzz` is not there.
fn ensure_cargo_fuzz() -> anyhow::Result<()> {
    let present = cargo()
        .args(["fuzz", "--version"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !present {
        run_checked(cargo().args(["install", "cargo-fuzz", "--locked"]), "cargo install cargo-fuzz --locked")?;
    }
    Ok(())
}

/// What libFuzzer reported last: its final `#N: cov: ... exec/s` line, if any.
fn summary(log: &str) -> String {
    log.lines()
        .rev()
        .find(|l| l.starts_with('#') && l.contains("exec/s"))
        .map_or_else(|| "no statistics".to_owned(), |l| l.trim().to_owned())
}

/// The number of inputs a fork-mode run tried: the `N` of its last `#N:` line.
fn executions(log: &str) -> Option<u64> {
    log.lines().rev().find_map(|l| l.strip_prefix('#')?.split(':').next()?.trim().parse().ok())
}

/// The crash inputs kept for a target so far.
fn artifacts(dir: &Path) -> Vec<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    found.sort();
    found
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let Some(options) = parse(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let root = root();
    let fuzz_dir = root.join("fuzz");
    ensure_cargo_fuzz()?;

    // Seed the corpus with the generated inputs that CI replays (they make the router target's
    // input format reachable from the first second).
    let corpus = fuzz_dir.join("corpus");
    run_checked(
        cargo().current_dir(&root).env("DOCBRIDGE_FUZZ_EXPORT", &corpus).args([
            "test",
            "--quiet",
            "-p",
            "docbridge-server",
            "--test",
            "it",
            "--",
            "--exact",
            "fuzz_replay::seed_corpus_round_trips_through_files",
        ]),
        "cargo test --test it fuzz_replay::seed_corpus_round_trips_through_files (exporting seeds)",
    )?;

    let fuzz = |sub: &str| cargo_fuzz(&root, sub, &options.sanitizer);
    run_checked(&mut fuzz("build"), "cargo fuzz build (all targets)")?;

    let logs = fuzz_dir.join("logs");
    std::fs::create_dir_all(&logs)?;
    let mut failed = Vec::new();
    for target in &options.targets {
        let log_path = logs.join(format!("{target}.log"));
        let log = std::fs::File::create(&log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let target_corpus = corpus.join(target);
        std::fs::create_dir_all(&target_corpus)?;
        let artifact_dir = fuzz_dir.join("artifacts").join(target);
        let before = artifacts(&artifact_dir);
        eprintln!("fuzzing {target} for {} s (log: {})", options.seconds, log_path.display());
        let status = fuzz("run")
            .arg(target)
            .arg(&target_corpus)
            .arg("--")
            .arg(format!("-max_total_time={}", options.seconds))
            // Fork mode goes on after a crash, so that one known bug does not end the run: every
            // crashing input is kept as an artifact and counted below.
            .args(["-fork=1", "-ignore_crashes=1", "-ignore_timeouts=1", "-ignore_ooms=1"])
            // A single input taking this long is a hang worth reporting, not slowness.
            .arg("-timeout=60")
            .arg("-rss_limit_mb=4096")
            .arg("-max_len=8192")
            .stdout(log.try_clone()?)
            .stderr(log)
            .status()
            .with_context(|| format!("running cargo fuzz run {target}"))?;
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        let tried = executions(&text).map_or_else(|| "?".to_owned(), |n| n.to_string());
        let found: Vec<PathBuf> = artifacts(&artifact_dir).into_iter().filter(|a| !before.contains(a)).collect();
        println!(
            "{target}: {tried} inputs in {} s, {} new crash inputs; {}",
            options.seconds,
            found.len(),
            summary(&text)
        );
        for artifact in &found {
            println!("  {}", artifact.display());
        }
        if !status.success() || !found.is_empty() {
            failed.push(target.clone());
        }
    }
    if !failed.is_empty() {
        bail!(
            "fuzz targets failed: {} (replay one with `RUSTC_BOOTSTRAP=1 cargo fuzz run --fuzz-dir fuzz -s none TARGET fuzz/artifacts/TARGET/crash-...`; \
             keep it in fuzz/regressions/TARGET/ so that tests/it/fuzz_replay.rs replays it)",
            failed.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn options() {
        let o = parse(&args(&[])).unwrap().unwrap();
        assert_eq!((o.seconds, o.targets.len(), o.sanitizer.as_str()), (60, TARGETS.len(), "none"));
        let o = parse(&args(&["--seconds", "5", "--target", "range", "--sanitizer", "address"])).unwrap().unwrap();
        assert!(parse(&args(&["--help"])).unwrap().is_none());
        assert_eq!((o.seconds, o.targets, o.sanitizer.as_str()), (5, vec!["range".to_owned()], "address"));
        assert!(parse(&args(&["--target", "nope"])).is_err());
        assert!(parse(&args(&["--seconds", "0"])).is_err());
        assert!(parse(&args(&["--seconds"])).is_err());
        assert!(parse(&args(&["--frobnicate"])).is_err());
    }

    #[test]
    fn variables_of_cargo_run_are_not_passed_on() {
        for name in ["CARGO_PKG_NAME", "CARGO_PKG_VERSION_MAJOR", "CARGO_MANIFEST_DIR", "CARGO_CRATE_NAME"] {
            assert!(set_by_cargo_run(name), "{name}");
        }
        for name in ["CARGO", "CARGO_HOME", "CARGO_TARGET_DIR", "CARGO_PROFILE_DEV_DEBUG", "RUSTC_BOOTSTRAP"] {
            assert!(!set_by_cargo_run(name), "{name}");
        }
    }

    #[test]
    fn fork_mode_statistics() {
        let log = "INFO: seed\n#75: cov: 11854 ft: 19919 corp: 179 exec/s: 37 oom/timeout/crash: 0/0/0 time: 8s job: 1\n\
                   #1929: cov: 12125 ft: 22428 corp: 417 exec/s: 24 oom/timeout/crash: 0/0/1 time: 90s job: 10\nINFO: exiting: 0\n";
        assert_eq!(executions(log), Some(1929));
        assert!(summary(log).starts_with("#1929: cov: 12125"));
        assert_eq!(executions("nothing"), None);
    }

    #[test]
    fn every_target_is_declared_in_the_fuzz_manifest() {
        let manifest = std::fs::read_to_string(root().join("fuzz/Cargo.toml")).unwrap();
        for target in TARGETS {
            assert!(manifest.contains(&format!("name = \"{target}\"")), "{target} is not in fuzz/Cargo.toml");
            assert!(root().join(format!("fuzz/fuzz_targets/{target}.rs")).is_file());
        }
    }
}
