//! `cargo xtask bench [--quick]`: docbridge side by side with nginx, rclone, `find` and `cp` on
//! the same files, in one run on this machine, and a table of the ratios against the goals of
//! issue #7 (see `docs/benchmarks.md`); and per storage backend of issue #16, docbridge against
//! rclone on the same test server (`stores.rs`).
//!
//! Everything runs on 127.0.0.1; every load is bounded in time (wrk's `-d`, the download
//! clients' deadline) or in count (the search queries, one upload).

mod data;
mod http;
mod postgres;
pub(crate) mod procs;
mod stores;
mod work;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use data::{DataSet, Sizes};
use procs::{Docbridge, memory_kib, start_docbridge};

const USAGE: &str = "usage: cargo xtask bench [--quick] [--items N] [--only LIST] [--no-install] [--binary PATH]

  --quick       smaller data sets and shorter runs (under 5 minutes)
  --items N     items in the search tree (default 1,000,000; 100,000 with --quick)
  --only LIST   comma-separated subset of: idle,upload,thumbnail,search,files,metadata,small,big,
                postgres,scaleout (postgres: the search/files/metadata/small rows again with
                the registry on a throwaway PostgreSQL; scaleout: two processes on it)
                stores (the storage backends of issue #16 on their .ci test servers; alone, it
                skips the local data set)
  --no-install  do not install nginx, wrk and rclone when missing (the .ci scripts that start
                the storage servers still install those)
  --binary PATH measure this docbridge binary instead of building the workspace's (to compare
                two builds on the same data set)";

const ALL_WORK: &[&str] = &[
    "idle",
    "upload",
    "thumbnail",
    "search",
    "files",
    "metadata",
    "small",
    "big",
    "postgres",
    "scaleout",
    stores::WORK,
];

/// What one run does.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    pub sizes: Sizes,
    /// How long each throughput measurement lasts.
    pub duration: Duration,
    /// Sequential `/search` queries timed.
    pub queries: usize,
    /// Runs of `find` timed.
    pub find_runs: usize,
    pub only: Vec<String>,
    pub install: bool,
    pub mode: String,
    pub binary: Option<PathBuf>,
}

impl Options {
    fn parse(args: &[String]) -> anyhow::Result<Options> {
        let mut quick = false;
        let mut items: Option<usize> = None;
        let mut only: Vec<String> = ALL_WORK.iter().map(|s| (*s).to_owned()).collect();
        let mut install = true;
        let mut binary = None;
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--quick" => quick = true,
                "--items" => {
                    items = Some(
                        args.next()
                            .context(USAGE)?
                            .replace(['_', ','], "")
                            .parse()
                            .context("--items takes a number")?,
                    )
                }
                "--only" => {
                    only = args.next().context(USAGE)?.split(',').map(str::to_owned).collect();
                    if let Some(unknown) = only.iter().find(|w| !ALL_WORK.contains(&w.as_str())) {
                        bail!("unknown work {unknown:?}\n\n{USAGE}");
                    }
                }
                "--no-install" => install = false,
                "--binary" => binary = Some(std::path::absolute(args.next().context(USAGE)?)?),
                "-h" | "--help" => {
                    println!("{USAGE}");
                    std::process::exit(0);
                }
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        let default_items = if quick { 100_000 } else { 1_000_000 };
        let tree_items = items.unwrap_or(default_items);
        let mode = match (quick, items) {
            (_, Some(n)) if n != default_items => format!("{}-{n}", if quick { "quick" } else { "full" }),
            (true, _) => "quick".to_owned(),
            (false, _) => "full".to_owned(),
        };
        let sizes = Sizes {
            big_file_bytes: if quick { 256 << 20 } else { 1 << 30 },
            small_files: 100,
            small_file_bytes: 10 * 1024,
            folder_items: 1000,
            tree_items,
            // 12 megapixels in either mode: the cost being cached is the decode of such a photo.
            photo_width: 4000,
            photo_height: 3000,
        };
        Ok(Options {
            quick,
            sizes,
            duration: Duration::from_secs(if quick { 5 } else { 15 }),
            queries: if quick { 300 } else { 1000 },
            find_runs: if quick { 3 } else { 5 },
            only,
            install,
            mode,
            binary,
        })
    }

    fn wants(&self, work: &str) -> bool {
        self.only.iter().any(|w| w == work)
    }
}

/// Whether a row met its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Fail,
    /// A figure for context, with no goal of its own.
    Info,
}

/// One line of the results table.
#[derive(Debug, Clone)]
pub struct Row {
    pub work: String,
    pub docbridge: String,
    pub peer: String,
    pub ratio: String,
    pub goal: String,
    pub verdict: Verdict,
}

impl Row {
    pub fn info(work: impl Into<String>, docbridge: impl Into<String>, peer: impl Into<String>) -> Row {
        Row {
            work: work.into(),
            docbridge: docbridge.into(),
            peer: peer.into(),
            ratio: String::new(),
            goal: String::new(),
            verdict: Verdict::Info,
        }
    }

    /// A row whose figure is `ratio`, to be at least `goal`.
    pub fn at_least(work: impl Into<String>, docbridge: String, peer: String, ratio: f64, goal: f64) -> Row {
        Row {
            work: work.into(),
            docbridge,
            peer,
            ratio: format!("{ratio:.2}×"),
            goal: format!("≥ {goal}×"),
            verdict: if ratio >= goal { Verdict::Pass } else { Verdict::Fail },
        }
    }

    /// A row whose figure is an absolute value, to be at most `limit`.
    pub fn at_most(work: impl Into<String>, docbridge: String, value: f64, limit: f64, unit: &str) -> Row {
        Row {
            work: work.into(),
            docbridge,
            peer: String::new(),
            ratio: String::new(),
            goal: format!("≤ {limit} {unit}"),
            verdict: if value <= limit { Verdict::Pass } else { Verdict::Fail },
        }
    }

    pub(super) fn failed(work: &str, error: &anyhow::Error) -> Row {
        Row {
            work: work.to_owned(),
            docbridge: format!("error: {error:#}").replace('\n', " "),
            peer: String::new(),
            ratio: String::new(),
            goal: String::new(),
            verdict: Verdict::Fail,
        }
    }
}

/// Shared by every measurement of a run.
pub struct Run {
    pub options: Options,
    pub data: DataSet,
    pub docbridge: Docbridge,
    pub api_key: String,
    pub ids: work::Ids,
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let options = Options::parse(args)?;
    let started = Instant::now();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("xtask has no parent folder")?.to_path_buf();
    // Beside the build: under `CARGO_TARGET_DIR` when set, so that two checkouts (or two
    // engineers) with build directories of their own do not share a data set and its database.
    let bench_root = crate::target_dir(&workspace).join("bench");
    // Only the storage backends: no local data set, no index, no nginx.
    let local_work = options.only.iter().any(|w| w != stores::WORK);
    if options.install && local_work {
        ensure_peers()?;
    }
    let binary = match &options.binary {
        Some(binary) => binary.clone(),
        None => build_docbridge(&workspace)?,
    };
    let (mut rows, results_dir) = if local_work {
        let data = DataSet::new(bench_root.join(&options.mode), options.sizes.clone());
        (local_rows(&binary, &data, &options)?, data.root)
    } else {
        (Vec::new(), bench_root.join(stores::WORK))
    };
    if options.wants(stores::WORK) {
        eprintln!("bench: storage backends");
        rows.append(&mut stores::rows(&binary, &workspace, &bench_root, &options));
    }

    let table = render(&rows, &options, started.elapsed());
    println!("{table}");
    std::fs::create_dir_all(&results_dir)?;
    let saved = results_dir.join("results.md");
    std::fs::write(&saved, &table)?;
    eprintln!("bench: table saved to {}", saved.display());
    Ok(())
}

/// How long the server idles after the last row before its memory is read again: longer than
/// the 10 s after which tokio's idle blocking-pool threads exit, taking their stacks with them.
const SETTLE: Duration = Duration::from_secs(12);

/// The rows of issue #7, on the local data set: made (once) and indexed, then served by one
/// docbridge process while each work runs against it and its peer.
fn local_rows(binary: &Path, data: &DataSet, options: &Options) -> anyhow::Result<Vec<Row>> {
    let new_set = data.ensure()?;

    let mut rows = Vec::new();
    if options.wants("idle") {
        match work::idle(binary, data, options) {
            Ok(mut idle) => rows.append(&mut idle),
            Err(e) => rows.push(Row::failed("idle server", &e)),
        }
    }

    let (api_key, index_row) = prepare_index(binary, data, new_set)?;
    if let Some(row) = index_row {
        rows.push(row);
    }
    let log = data.root.join("docbridge.log");
    let docbridge = start_docbridge(binary, &data.data_dir, &log)?;
    let (rss_kib, _) = memory_kib(docbridge.proc.pid())?;
    rows.push(Row::info(
        format!("start on the indexed data set ({} items)", options.sizes.tree_items),
        format!(
            "first answer {:.0} ms, RSS {:.1} MiB",
            docbridge.first_answer.as_secs_f64() * 1000.0,
            rss_kib as f64 / 1024.0
        ),
        "",
    ));
    let ids = work::discover(docbridge.addr, &api_key, data)?;
    let mut context = Run { options: options.clone(), data: data.clone(), docbridge, api_key, ids };

    type Work = fn(&mut Run) -> anyhow::Result<Vec<Row>>;
    let plan: &[(&str, &str, Work)] = &[
        ("upload", "/upload", work::upload),
        ("thumbnail", "/thumbnail", work::thumbnail),
        ("search", "/search", work::search),
        ("files", "/files", work::files),
        ("metadata", "/metadata", work::metadata),
        ("small", "/download small", work::small_downloads),
        ("big", "/download big", work::big_download),
    ];
    for (key, label, run) in plan {
        if !context.options.wants(key) {
            continue;
        }
        eprintln!("bench: {label}");
        match run(&mut context) {
            Ok(mut more) => rows.append(&mut more),
            Err(e) => rows.push(Row::failed(label, &e)),
        }
    }
    let (rss_kib, hwm_kib) = memory_kib(context.docbridge.proc.pid())?;
    // Issue #17's goal is for the whole quick run; a run of some rows only is held to it too.
    rows.push(Row::at_most(
        "docbridge memory after the run",
        format!(
            "RSS {:.1} MiB ({}), peak {:.1} MiB",
            rss_kib as f64 / 1024.0,
            procs::rss_parts(context.docbridge.proc.pid())?,
            hwm_kib as f64 / 1024.0
        ),
        rss_kib as f64 / 1024.0,
        48.0,
        "MiB",
    ));
    // The same process once idle: what goes back once load stops (the blocking pool's idle
    // threads; freed memory that jemalloc or mimalloc return after a delay, glibc's arenas keep).
    let busy_threads = procs::thread_count(context.docbridge.proc.pid())?;
    std::thread::sleep(SETTLE);
    let (settled_kib, _) = memory_kib(context.docbridge.proc.pid())?;
    let idle_threads = procs::thread_count(context.docbridge.proc.pid())?;
    rows.push(Row::info(
        format!("… {} s later, idle", SETTLE.as_secs()),
        format!("RSS {:.1} MiB; threads {busy_threads} → {idle_threads}", settled_kib as f64 / 1024.0),
        "",
    ));
    if context.options.wants("postgres") || context.options.wants("scaleout") {
        eprintln!("bench: the registry on PostgreSQL");
        match postgres::compare(&mut context, binary) {
            Ok(mut more) => rows.append(&mut more),
            Err(e) => rows.push(Row::failed("registry on PostgreSQL", &e)),
        }
    }
    context.docbridge.proc.stop();
    Ok(rows)
}

/// Installs nginx, wrk and rclone from Debian's packages when one is missing.
fn ensure_peers() -> anyhow::Result<()> {
    let missing: Vec<&str> = ["nginx", "wrk", "rclone"].into_iter().filter(|tool| !on_path(tool)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    eprintln!("bench: installing {}", missing.join(", "));
    let status = Command::new("apt-get").arg("update").status().context("running apt-get update")?;
    anyhow::ensure!(status.success(), "apt-get update failed ({status})");
    let status = Command::new("apt-get")
        .args(["install", "-y", "nginx", "wrk", "rclone"])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .status()
        .context("running apt-get install")?;
    anyhow::ensure!(status.success(), "apt-get install failed ({status}); the benchmark installs its peers as root");
    Ok(())
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .any(|dir| dir.join(tool).is_file())
}

fn build_docbridge(workspace: &Path) -> anyhow::Result<PathBuf> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    eprintln!("$ cargo build --release -p docbridge-server");
    let status =
        Command::new(cargo).args(["build", "--release", "-p", "docbridge-server"]).current_dir(workspace).status()?;
    anyhow::ensure!(status.success(), "cargo build --release failed ({status})");
    Ok(crate::target_dir(workspace).join("release").join("docbridge"))
}

/// Makes sure the data set has a database with the default integration, an ApiKey we know and
/// an index of every item; answers the key, and a row with the indexing time when it was done.
fn prepare_index(binary: &Path, data: &DataSet, new_set: bool) -> anyhow::Result<(String, Option<Row>)> {
    let key_file = data.root.join("apikey");
    let indexed_marker = data.root.join(".indexed");
    if new_set || !key_file.exists() {
        // The key is printed once, on the first start: begin again from an empty database.
        for entry in std::fs::read_dir(&data.data_dir)? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("docbridge.db") {
                std::fs::remove_file(entry.path())?;
            } else if name == "cache" {
                std::fs::remove_dir_all(entry.path())?;
            }
        }
        let _ = std::fs::remove_file(&indexed_marker);
        let first = start_docbridge(binary, &data.data_dir, &data.root.join("docbridge-first.log"))?;
        let key = first.printed_key.clone().context("the first start printed no ApiKey line")?;
        first.proc.stop();
        std::fs::write(&key_file, &key)?;
    }
    let key = std::fs::read_to_string(&key_file)?.trim().to_owned();
    if indexed_marker.exists() {
        return Ok((key, None));
    }
    eprintln!("bench: indexing {} items with `docbridge fsck`", data.sizes.tree_items);
    let started = Instant::now();
    let output =
        procs::docbridge_command(binary, &data.data_dir).arg("fsck").output().context("running docbridge fsck")?;
    let took = started.elapsed();
    // fsck exits non-zero when it repaired something, which a first indexing always does.
    if output.status.code().is_none_or(|code| code > 1) {
        bail!("docbridge fsck failed ({}): {}", output.status, String::from_utf8_lossy(&output.stderr));
    }
    std::fs::write(&indexed_marker, b"")?;
    let row = Row::info(
        format!("index {} items (`docbridge fsck`, once per data set)", data.sizes.tree_items),
        format!("{:.1} s", took.as_secs_f64()),
        "",
    );
    Ok((key, Some(row)))
}

fn render(rows: &[Row], options: &Options, elapsed: Duration) -> String {
    let s = &options.sizes;
    let mut out = String::new();
    out.push_str(&format!(
        "docbridge benchmark ({}): big file {} MiB, {} small files of {} KiB, folder of {} items, search tree of {} items, {}×{} JPEG; {} s per throughput run; {} search queries\n",
        if options.quick { "--quick" } else { "full" },
        s.big_file_bytes >> 20,
        s.small_files,
        s.small_file_bytes / 1024,
        s.folder_items,
        s.tree_items,
        s.photo_width,
        s.photo_height,
        options.duration.as_secs(),
        options.queries,
    ));
    out.push_str(&format!("machine: {}\n", machine()));
    out.push_str(&format!("command: cargo xtask bench {}\n\n", std::env::args().skip(2).collect::<Vec<_>>().join(" ")));
    out.push_str("| work | docbridge | peer | ratio | goal | result |\n|---|---|---|---|---|---|\n");
    for row in rows {
        let verdict = match row.verdict {
            Verdict::Pass => "pass",
            Verdict::Fail => "**FAIL**",
            Verdict::Info => "",
        };
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} |\n",
            row.work, row.docbridge, row.peer, row.ratio, row.goal, verdict
        ));
    }
    let failed = rows.iter().filter(|r| r.verdict == Verdict::Fail).count();
    let passed = rows.iter().filter(|r| r.verdict == Verdict::Pass).count();
    out.push_str(&format!("\n{passed} goals met, {failed} missed; the run took {:.0} s\n", elapsed.as_secs_f64()));
    out
}

/// `nproc`, memory and kernel, for the record.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map_or_else(|| "?".to_owned(), |kib| format!("{:.1} GiB", kib as f64 / 1024.0 / 1024.0));
    let kernel =
        std::fs::read_to_string("/proc/sys/kernel/osrelease").map_or_else(|_| "?".to_owned(), |k| k.trim().to_owned());
    // The load average says how much else (other builds) shared the cores during the run.
    let load = std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".to_owned(), |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "));
    format!("{cores} cores, {memory} memory, Linux {kernel}; load average at the end {load}")
}
