//! Project automation, run as `cargo xtask <task>`: `ci` runs `.ci/run`, CI's one list of checks;
//! `bench` measures docbridge side by side with nginx, rclone, `find` and `cp` (issue #7);
//! `chaos` is the model-checked fault test of several processes on one library (issue #14).

mod bench;
mod chaos;
mod codegen;
mod dist;
mod fuzz;
mod release;
mod soak;

use std::path::Path;
use std::process::{Command, ExitCode};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let task = args.first().cloned().unwrap_or_default();
    let result = match task.as_str() {
        "ci" => ci(),
        "bench" => bench::run(&args[1..]),
        "chaos" => chaos::run(&args[1..]),
        "codegen" => codegen::run(),
        "dist" => dist::run(&args[1..]),
        "fuzz" => fuzz::run(&args[1..]),
        "release" => release::run(&args[1..]),
        "soak" => soak::run(&args[1..]),
        _ => {
            eprintln!(
                "usage: cargo xtask ci | bench [--quick] | soak | chaos\n\n  ci     everything CI runs (.ci/run: servers, tests, packaging, docs, cargo-deny, clippy)\n  bench  docbridge against nginx, rclone, find and cp on the same files (--help for options)\n  soak   a mixed load on one process\n  chaos  several processes under random operations and faults, checked against a model (--help)"
            );
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask {task}: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Cargo's build directory: `CARGO_TARGET_DIR`, else the workspace's `target`. Every task that
/// runs what cargo built looks for it here.
fn target_dir(workspace: &std::path::Path) -> std::path::PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| workspace.join("target"), std::path::PathBuf::from)
}

fn cargo(args: &[&str]) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("$ cargo {}", args.join(" "));
    let status = Command::new(cargo).args(args).status()?;
    anyhow::ensure!(status.success(), "cargo {} failed ({status})", args.join(" "));
    Ok(())
}

/// What CI checks, runnable locally: `.ci/run` itself, so that there is one list of steps (it
/// starts the PostgreSQL and S3 servers the suites use, runs every check, and stops them).
fn ci() -> anyhow::Result<()> {
    let workspace =
        Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap_or_else(|| unreachable!("xtask lives in the workspace"));
    eprintln!("$ bash .ci/run");
    let status = Command::new("bash").arg(workspace.join(".ci/run")).current_dir(workspace).status()?;
    anyhow::ensure!(status.success(), ".ci/run failed ({status})");
    Ok(())
}

/// Command-line arguments for the option parsers' tests.
#[cfg(test)]
fn test_args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}
