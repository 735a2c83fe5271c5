//! `cargo xtask chaos`: a randomised, model-checked fault test of several docbridge processes
//! serving one library (issue #14). It starts PostgreSQL and an S3 server (or, with
//! `--setup sqlite-fs`, one SQLite file and one folder), several docbridge processes on loopback
//! that share them, and concurrent clients doing random uploads (`/uploadInit` on one process,
//! the bytes through another), new versions, renames, moves, folder creations, deletes, restores,
//! listings, searches and downloads, each through a random process; meanwhile it SIGKILLs and
//! restarts random processes, restarts PostgreSQL once and pauses the S3 server once.
//!
//! Each client owns a folder and is the only writer below it, so that its [`model::Model`] says
//! exactly what must be there: every acknowledged operation is checked at once through another
//! process, an operation answered with an error or cut by a kill is resolved the first time the
//! item is looked at (it must then be either undone or complete), and at the end every item is
//! checked from every process, the whole tree is walked, `docbridge fsck` must find nothing to
//! repair and the storage must hold nothing that is not an item or in the trash.
//!
//! A seed makes the choices (operations, items, names, bytes, processes, faults); concurrency
//! and timing still differ from one run to the next. A failure prints the seed and, per anomaly,
//! the history of the items involved: the operations on them and the faults around them. Then
//! the run is cut down ([`shrink`]): the same seed again, shorter, with fewer clients, processes
//! and faults, while it still fails; the smallest failing run's command and histories come last.

pub(crate) mod cluster;
mod model;
mod run;
mod shrink;

use anyhow::{Context, bail};

const USAGE: &str = "cargo xtask chaos [--minutes N | --seconds N] [--seed S] [--setup pg-s3|sqlite-fs]
                   [--processes N] [--clients N] [--kill-every SECS] [--rescan-secs SECS]
                   [--postgres-restarts N] [--dev | --binary PATH] [--shrink N]

  Runs docbridge processes on shared storage under random operations and faults for the given
  time (default 3 minutes, most 24 hours) and checks every result against a model of the library.
  --setup pg-s3 (default): PostgreSQL and an S3 server (rclone), 3 processes by default.
  --setup sqlite-fs: one SQLite file and one folder, 2 processes by default.
  --clients: concurrent clients (default 8). --kill-every: mean seconds between SIGKILLs of a
  random process (default 6; 0 kills none). --rescan-secs: the processes' periodic rescan
  (default 2, so that its window comes often). --postgres-restarts: how many times PostgreSQL
  is restarted, spread over the run (default 1; pg-s3 only). --seed: the run's seed (default:
  from the clock).
  --dev: the debug build instead of a release one. --binary: this docbridge instead of a build
  (another commit's release build, say). --shrink: after a failure, at most N runs that cut it
  down (shorter, fewer clients, no kills, fewer processes, rare rescans; default 6, 0: none).";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Setup {
    PgS3,
    SqliteFs,
}

#[derive(Clone, Debug)]
pub struct Options {
    pub seconds: u64,
    pub seed: u64,
    pub setup: Setup,
    pub processes: usize,
    pub clients: usize,
    pub kill_every_secs: f64,
    pub rescan_secs: u64,
    /// PostgreSQL restarts, spread evenly over the run (pg-s3).
    pub postgres_restarts: u32,
    pub release: bool,
    /// A docbridge binary to run instead of building one.
    pub binary: Option<std::path::PathBuf>,
    /// After a failure, at most this many runs that cut it down.
    pub shrink: u32,
}

/// The options, or `None` when help was asked for.
fn parse(args: &[String]) -> anyhow::Result<Option<Options>> {
    let clock = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
    let mut options = Options {
        seconds: 180,
        seed: clock % 1_000_000_007,
        setup: Setup::PgS3,
        processes: 0,
        clients: 8,
        kill_every_secs: 6.0,
        rescan_secs: 2,
        postgres_restarts: 1,
        release: true,
        binary: None,
        shrink: 6,
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().cloned().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--seconds" => options.seconds = value(arg)?.parse().context("--seconds: a whole number")?,
            "--minutes" => {
                options.seconds = value(arg)?.parse::<u64>().context("--minutes: a whole number")?.saturating_mul(60);
            }
            "--seed" => options.seed = value(arg)?.parse().context("--seed: a whole number")?,
            "--setup" => {
                options.setup = match value(arg)?.as_str() {
                    "pg-s3" => Setup::PgS3,
                    "sqlite-fs" => Setup::SqliteFs,
                    other => bail!("--setup: pg-s3 or sqlite-fs, not {other:?}"),
                }
            }
            "--processes" => options.processes = value(arg)?.parse().context("--processes: a whole number")?,
            "--clients" => options.clients = value(arg)?.parse().context("--clients: a whole number")?,
            "--kill-every" => options.kill_every_secs = value(arg)?.parse().context("--kill-every: seconds")?,
            "--rescan-secs" => options.rescan_secs = value(arg)?.parse().context("--rescan-secs: a whole number")?,
            "--postgres-restarts" => {
                options.postgres_restarts = value(arg)?.parse().context("--postgres-restarts: a whole number")?;
            }
            "--dev" => options.release = false,
            "--shrink" => options.shrink = value(arg)?.parse().context("--shrink: a whole number")?,
            "--binary" => options.binary = Some(std::path::absolute(value(arg)?)?),
            "--help" | "-h" => return Ok(None),
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    if options.processes == 0 {
        options.processes = if options.setup == Setup::PgS3 { 3 } else { 2 };
    }
    if let Some(binary) = &options.binary {
        anyhow::ensure!(binary.is_file(), "--binary: {} is not a file", binary.display());
    }
    anyhow::ensure!((1..=86_400).contains(&options.seconds), "the run lasts 1 second to 24 hours");
    anyhow::ensure!((1..=8).contains(&options.processes), "--processes must be 1 to 8");
    anyhow::ensure!((1..=32).contains(&options.clients), "--clients must be 1 to 32");
    anyhow::ensure!(options.postgres_restarts <= 1000, "--postgres-restarts must be 0 to 1000");
    anyhow::ensure!(
        options.kill_every_secs == 0.0 || (1.0..=3600.0).contains(&options.kill_every_secs),
        "--kill-every must be 0 or 1 to 3600"
    );
    Ok(Some(options))
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let Some(options) = parse(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    run::run(&options)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn options() {
        let o = parse(&args(&["--seed", "7"])).unwrap().unwrap();
        assert_eq!((o.seconds, o.seed, o.setup, o.processes, o.clients, o.release), (180, 7, Setup::PgS3, 3, 8, true));
        let o =
            parse(&args(&["--minutes", "20", "--setup", "sqlite-fs", "--dev", "--kill-every", "0"])).unwrap().unwrap();
        assert_eq!(
            (o.seconds, o.setup, o.processes, o.release, o.kill_every_secs),
            (1200, Setup::SqliteFs, 2, false, 0.0)
        );
        assert!(parse(&args(&["--setup", "mysql"])).is_err());
        assert!(parse(&args(&["--processes", "9"])).is_err());
        assert!(parse(&args(&["--seconds", "0"])).is_err());
        assert!(parse(&args(&["--kill-every", "0.5"])).is_err());
        assert_eq!(parse(&args(&["--postgres-restarts", "12"])).unwrap().unwrap().postgres_restarts, 12);
        assert_eq!(parse(&args(&[])).unwrap().unwrap().postgres_restarts, 1);
        assert!(parse(&args(&["--postgres-restarts", "-1"])).is_err());
        assert!(parse(&args(&["--help"])).unwrap().is_none());
        assert_eq!(parse(&args(&[])).unwrap().unwrap().shrink, 6);
        assert_eq!(parse(&args(&["--shrink", "0"])).unwrap().unwrap().shrink, 0);
        assert!(parse(&args(&["--shrink", "-1"])).is_err());
        assert!(parse(&args(&["--binary", "/no/such/docbridge"])).is_err());
    }
}
