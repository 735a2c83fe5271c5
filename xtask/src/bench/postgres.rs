//! The scale-out setup measured (issue #17): the registry on a throwaway PostgreSQL started by
//! `.ci/postgres.sh`, serving the same library folder as the SQLite server of the run. Each
//! endpoint is measured on both registries one right after the other, so that a ratio compares
//! two figures taken under the same load of the machine; then two processes sharing that
//! PostgreSQL, each loaded by a client of its own, against one process.

use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::Context;

use super::data::fresh_dir;
use super::http::encode;
use super::procs::{Docbridge, Wrk, WrkResult, docbridge_command, run_wrk, start_docbridge_with};
use super::work::{BASE, auth, cycling_script, discover, percentile, timed_searches, wrk_warm};
use super::{Row, Run};
use crate::chaos::cluster::Postgres;

/// A server to load: where it listens, its key and the IDs its registry gave the data set.
struct Side {
    addr: std::net::SocketAddr,
    key: String,
    ids: super::work::Ids,
}

/// Rows comparing PostgreSQL with SQLite for whichever of `search`, `files`, `metadata` and
/// `small` the run wants, and the two-process row when `scaleout` is wanted.
pub fn compare(run: &mut Run, binary: &Path) -> anyhow::Result<Vec<Row>> {
    let scratch = run.data.root.join("postgres-run");
    fresh_dir(&scratch)?;
    // Stopped (by `.ci/postgres.sh stop`, which stops the postmaster of its PID file) when this
    // function returns, on errors too.
    let (_postgres, url) = Postgres::start(&scratch.join("cluster"))?;
    let data_dir = scratch.join("data");
    fresh_dir(&data_dir)?;
    let env = vec![
        ("DOCBRIDGE_DATABASE__URL".to_owned(), url),
        // The very files the SQLite server serves (its default library).
        ("DOCBRIDGE_STORAGE__ROOT".to_owned(), run.data.documents.display().to_string()),
    ];
    let log = |name: &str| scratch.join(format!("{name}.log"));
    let mut rows = Vec::new();
    // `--only scaleout` measures the two-process row alone.
    let wants = |work: &str| run.options.wants("postgres") && run.options.wants(work);

    // The first start creates the schema and the default integration and prints its key.
    let first = start_docbridge_with(binary, &data_dir, &log("docbridge-first"), &env)?;
    let key = first.printed_key.clone().context("the first start on PostgreSQL printed no ApiKey line")?;
    if wants("search") {
        first.proc.stop();
        eprintln!("bench: indexing {} items into PostgreSQL with `docbridge fsck`", run.options.sizes.tree_items);
        let started = Instant::now();
        let output = docbridge_command(binary, &data_dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .arg("fsck")
            .output()
            .context("running docbridge fsck")?;
        // fsck exits 1 when it repaired something, which a first indexing always does.
        anyhow::ensure!(
            output.status.code().is_some_and(|code| code <= 1),
            "docbridge fsck on PostgreSQL failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        rows.push(Row::info(
            format!("index {} items into PostgreSQL (`docbridge fsck`, every run)", run.options.sizes.tree_items),
            format!("{:.1} s", started.elapsed().as_secs_f64()),
            "",
        ));
    } else {
        first.proc.stop();
    }
    let server = start_docbridge_with(binary, &data_dir, &log("docbridge"), &env)?;
    let ids = discover(server.addr, &key, &run.data)?;
    let pg = Side { addr: server.addr, key, ids };
    let sqlite = Side { addr: run.docbridge.addr, key: run.api_key.clone(), ids: run.ids.clone() };

    // One failed comparison is a failed row; the others are still measured.
    let mut push = |label: &str, row: anyhow::Result<Row>| {
        rows.push(row.unwrap_or_else(|e| Row::failed(&format!("{label} on PostgreSQL"), &e)));
    };
    if wants("search") {
        let items = run.options.sizes.tree_items;
        let queries = run.options.queries;
        push(
            "/search",
            (|| {
                let (lite, _) = timed_searches(sqlite.addr, &sqlite.key, items, queries, 0)?;
                let (post, _) = timed_searches(pg.addr, &pg.key, items, queries, 0)?;
                let (lite50, post50) = (lite[lite.len() / 2], post[post.len() / 2]);
                let mut row = Row::info(
                    format!("/search over {items} items, PostgreSQL vs SQLite: p50 (p99)"),
                    format!("{:.2} ms ({:.2} ms)", ms(post50), ms(percentile(&post, 99))),
                    format!("{:.2} ms ({:.2} ms)", ms(lite50), ms(percentile(&lite, 99))),
                );
                row.ratio = format!("{:.2}×", lite50.as_secs_f64() / post50.as_secs_f64());
                Ok(row)
            })(),
        );
    }
    let options = &run.options;
    let wrk = |side: &Side, target: &str, connections: u32, script: Option<std::path::PathBuf>| {
        let headers = auth(&side.key);
        wrk_warm(
            &format!("http://{}{target}", side.addr),
            &Wrk { threads: 2, connections, duration: options.duration, headers: &headers, script },
        )
    };
    let pair = |work: String, lite: WrkResult, post: WrkResult| {
        Row::at_least(
            work,
            format!("{:.0} req/s (p99 {:.1} ms)", post.requests_per_sec, post.p99_ms),
            format!("{:.0} req/s (p99 {:.1} ms)", lite.requests_per_sec, lite.p99_ms),
            post.requests_per_sec / lite.requests_per_sec,
            0.8,
        )
    };
    if wants("files") {
        let target = |side: &Side| format!("{BASE}/files?parentId={}", encode(&side.ids.folder));
        let label = format!("/files of {} items, PostgreSQL vs SQLite (16 connections)", options.sizes.folder_items);
        push(
            "/files",
            (|| Ok(pair(label, wrk(&sqlite, &target(&sqlite), 16, None)?, wrk(&pg, &target(&pg), 16, None)?)))(),
        );
    }
    if wants("metadata") {
        let target = |side: &Side| format!("{BASE}/metadata?id={}", encode(&side.ids.small[0]));
        let label = "/metadata, PostgreSQL vs SQLite (64 connections)".to_owned();
        push(
            "/metadata",
            (|| Ok(pair(label, wrk(&sqlite, &target(&sqlite), 64, None)?, wrk(&pg, &target(&pg), 64, None)?)))(),
        );
    }
    if wants("small") {
        let script = |side: &Side, name: &str| -> anyhow::Result<std::path::PathBuf> {
            let path = scratch.join(name);
            let targets: Vec<String> =
                side.ids.small.iter().map(|id| format!("{BASE}/download?id={}", encode(id))).collect();
            cycling_script(&path, &targets)?;
            Ok(path)
        };
        let label = format!(
            "/download of {} KiB files, PostgreSQL vs SQLite (64 connections)",
            options.sizes.small_file_bytes / 1024
        );
        push(
            "/download small",
            (|| {
                let lite = wrk(&sqlite, "/", 64, Some(script(&sqlite, "small-sqlite.lua")?))?;
                let post = wrk(&pg, "/", 64, Some(script(&pg, "small-postgres.lua")?))?;
                Ok(pair(label, lite, post))
            })(),
        );
    }
    if options.wants("scaleout") {
        push("two processes", scale_out(run, binary, &data_dir, &env, &log("docbridge-b"), server, &pg));
    } else {
        server.proc.stop();
    }
    Ok(rows)
}

/// `/metadata` on PostgreSQL: one process (its usual two worker threads) under two `wrk -t1
/// -c32` at once, then two processes of one worker thread each (the same number of threads),
/// each under one of the two wrk runs; answers the combined rate against the single one.
fn scale_out(
    run: &Run,
    binary: &Path,
    data_dir: &Path,
    env: &[(String, String)],
    log_b: &Path,
    one: Docbridge,
    side: &Side,
) -> anyhow::Result<Row> {
    let headers = auth(&side.key);
    let target = format!("{BASE}/metadata?id={}", encode(&side.ids.small[0]));
    let duration = run.options.duration;
    let load = |addrs: [std::net::SocketAddr; 2]| -> anyhow::Result<f64> {
        let wrk = |addr: std::net::SocketAddr, duration: Duration| {
            let options = Wrk { threads: 1, connections: 32, duration, headers: &headers, script: None };
            run_wrk(&format!("http://{addr}{target}"), &options)
        };
        // Warm-up, then the measured runs, both clients at once.
        let mut total = 0.0;
        for duration in [Duration::from_secs(1), duration] {
            let results: Vec<anyhow::Result<WrkResult>> = std::thread::scope(|scope| {
                let handles: Vec<_> = addrs.iter().map(|addr| scope.spawn(move || wrk(*addr, duration))).collect();
                handles.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow::anyhow!("wrk panicked")))).collect()
            });
            total = 0.0;
            for result in results {
                let result = result?;
                anyhow::ensure!(result.errors == 0, "{} failed requests or socket errors", result.errors);
                total += result.requests_per_sec;
            }
        }
        Ok(total)
    };
    let single = load([one.addr, one.addr]);
    one.proc.stop();
    let single = single?;
    let mut one_thread: Vec<(String, String)> = env.to_vec();
    // One serving thread ([http] threads) and one worker for the rest (upkeep, the main runtime).
    one_thread.push(("DOCBRIDGE_HTTP__THREADS".to_owned(), "1".to_owned()));
    one_thread.push(("TOKIO_WORKER_THREADS".to_owned(), "1".to_owned()));
    let a = start_docbridge_with(binary, data_dir, &log_b.with_file_name("docbridge-a.log"), &one_thread)?;
    let b = start_docbridge_with(binary, data_dir, log_b, &one_thread)?;
    let both = load([a.addr, b.addr]);
    a.proc.stop();
    b.proc.stop();
    let both = both?;
    let mut row = Row::info(
        "/metadata on PostgreSQL: two processes of 1 serving thread, each under its own wrk -t1 -c32, vs one process of 2 under both",
        format!("{both:.0} req/s combined"),
        format!("{single:.0} req/s"),
    );
    row.ratio = format!("{:.2}×", both / single);
    Ok(row)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
