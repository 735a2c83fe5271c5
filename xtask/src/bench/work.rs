//! The measurements: each runs docbridge and its peer on the same files, one after the other,
//! and answers rows for the table.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::data::{DataSet, fresh_dir, search_term};
use super::http::{Body, Conn, encode};
use super::procs::{Wrk, memory_kib, run_wrk, start_docbridge, start_nginx, start_rclone};
use super::{Options, Row, Run};

pub const BASE: &str = "/webhooks/default";
const MIB: f64 = 1024.0 * 1024.0;

/// IDs of the data set's items, from docbridge's own listings.
#[derive(Debug, Clone)]
pub struct Ids {
    pub big: String,
    pub photo: String,
    pub folder: String,
    pub uploads: String,
    pub small: Vec<String>,
}

pub fn auth(key: &str) -> [(&str, &str); 2] {
    [("apiKey", key), ("username", "bench@example.com")]
}

/// `GET` with the ApiKey; the JSON answer, which must be a 200.
pub fn get_json(conn: &mut Conn, key: &str, target: &str) -> anyhow::Result<serde_json::Value> {
    let response = conn.request("GET", target, &auth(key), Body::Empty, true)?;
    if response.status != 200 {
        bail!("GET {target}: {} {}", response.status, String::from_utf8_lossy(&response.body));
    }
    serde_json::from_slice(&response.body).with_context(|| format!("GET {target}: not JSON"))
}

fn list(conn: &mut Conn, key: &str, parent: &str) -> anyhow::Result<Vec<serde_json::Value>> {
    let listing = get_json(conn, key, &format!("{BASE}/files?parentId={}", encode(parent)))?;
    listing.as_array().cloned().context("a listing that is not an array")
}

/// The ID of the item titled `title` in a listing.
pub fn id_of(items: &[serde_json::Value], title: &str) -> anyhow::Result<String> {
    items
        .iter()
        .find(|item| item["title"] == title)
        .and_then(|item| item["id"].as_str())
        .map(str::to_owned)
        .with_context(|| format!("no {title:?} in the listing"))
}

pub fn discover(addr: SocketAddr, key: &str, data: &DataSet) -> anyhow::Result<Ids> {
    let mut conn = Conn::new(addr);
    let root = list(&mut conn, key, "/")?;
    let small_folder = id_of(&root, "small")?;
    let small_items = list(&mut conn, key, &small_folder)?;
    let small =
        data.small_file_names().iter().map(|name| id_of(&small_items, name)).collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Ids {
        big: id_of(&root, "big.bin")?,
        photo: id_of(&root, "photo.jpg")?,
        folder: id_of(&root, "folder1k")?,
        uploads: id_of(&root, "uploads")?,
        small,
    })
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Idle server: first answer after start and resident memory once settled, on an empty data
/// directory (a first start: database created, integration set up).
pub fn idle(binary: &Path, data: &DataSet, options: &Options) -> anyhow::Result<Vec<Row>> {
    let dir = data.root.join("idle");
    fresh_dir(&dir)?;
    let server = start_docbridge(binary, &dir, &data.root.join("docbridge-idle.log"))?;
    let first = server.first_answer;
    std::thread::sleep(if options.quick { Duration::from_secs(1) } else { Duration::from_secs(3) });
    let (rss, _) = memory_kib(server.proc.pid())?;
    let parts = super::procs::rss_parts(server.proc.pid())?;
    server.proc.stop();
    // A restart on the same directory: what a server restarted in production does.
    let server = start_docbridge(binary, &dir, &data.root.join("docbridge-idle.log"))?;
    let second = server.first_answer;
    server.proc.stop();
    let rss_mib = rss as f64 / 1024.0;
    Ok(vec![
        Row::at_most("idle server: RSS", format!("{rss_mib:.1} MiB ({parts})"), rss_mib, 30.0, "MiB"),
        Row::at_most(
            "idle server: first answer after start (first start / restart)",
            format!("{:.0} ms / {:.0} ms", ms(first), ms(second)),
            ms(first).max(ms(second)),
            200.0,
            "ms",
        ),
    ])
}

/// `/upload` of the big file against `cp` of it on the same disk; docbridge's memory sampled
/// all along.
pub fn upload(run: &mut Run) -> anyhow::Result<Vec<Row>> {
    let source = run.data.big_file();
    let size = std::fs::metadata(&source)?.len();
    let size_mib = size as f64 / MIB;

    let copy = run.data.root.join("cp-copy.bin");
    let _ = std::fs::remove_file(&copy);
    let started = Instant::now();
    let status = Command::new("cp").arg("--reflink=never").arg(&source).arg(&copy).status()?;
    let cp_time = started.elapsed();
    anyhow::ensure!(status.success(), "cp failed");
    // The same copy made durable, as an upload is before it answers: for context.
    let status = Command::new("sync").arg(&copy).status()?;
    let cp_sync_time = started.elapsed();
    anyhow::ensure!(status.success(), "sync failed");
    std::fs::remove_file(&copy)?;

    let mut conn = Conn::new(run.docbridge.addr);
    let key = run.api_key.clone();
    let init = conn.request(
        "POST",
        &format!("{BASE}/uploadInit?parentId={}&filename=upload.bin", encode(&run.ids.uploads)),
        &auth(&key),
        Body::Empty,
        true,
    )?;
    anyhow::ensure!(init.status == 200, "uploadInit: {} {}", init.status, String::from_utf8_lossy(&init.body));
    let id = serde_json::from_slice::<serde_json::Value>(&init.body)?["id"]
        .as_str()
        .context("uploadInit answered no id")?
        .to_owned();

    let pid = run.docbridge.proc.pid();
    let (baseline, _) = memory_kib(pid)?;
    let stop = Arc::new(AtomicBool::new(false));
    let peak = Arc::new(AtomicU64::new(baseline));
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                if let Ok((rss, _)) = memory_kib(pid) {
                    peak.fetch_max(rss, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        })
    };
    let mut file = std::fs::File::open(&source)?;
    let started = Instant::now();
    let result = conn.request(
        "PUT",
        &format!("{BASE}/upload?id={}", encode(&id)),
        &auth(&key),
        Body::Reader(&mut file, size),
        true,
    );
    let upload_time = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    let _ = sampler.join();
    let response = result?;
    anyhow::ensure!(response.status == 200, "upload: {} {}", response.status, String::from_utf8_lossy(&response.body));
    let growth_mib = peak.load(Ordering::Relaxed).saturating_sub(baseline) as f64 / 1024.0;

    // Removed behind docbridge's back (not into the trash, which would keep the bytes); the next
    // listing drops it from the index.
    for entry in std::fs::read_dir(run.data.documents.join("uploads"))? {
        std::fs::remove_file(entry?.path())?;
    }
    list(&mut conn, &key, &run.ids.uploads)?;

    let ours = size_mib / upload_time.as_secs_f64();
    let cp = size_mib / cp_time.as_secs_f64();
    let cp_sync = size_mib / cp_sync_time.as_secs_f64();
    Ok(vec![
        Row::at_least(
            format!("/upload of {size_mib:.0} MiB vs cp (same disk)"),
            format!("{ours:.0} MiB/s"),
            format!("{cp:.0} MiB/s"),
            ours / cp,
            0.7,
        ),
        Row::info(
            "… cp then sync of the copy (an upload is durable before it answers)",
            "",
            format!("{cp_sync:.0} MiB/s ({:.2}× for docbridge)", ours / cp_sync),
        ),
        Row::at_most(
            "… docbridge RSS growth during the upload",
            format!("{growth_mib:.1} MiB"),
            growth_mib,
            64.0,
            "MiB",
        ),
    ])
}

/// `/thumbnail` of the 12-megapixel JPEG: the first request renders it, the next ones come from
/// the cache.
pub fn thumbnail(run: &mut Run) -> anyhow::Result<Vec<Row>> {
    let cache = run.data.data_dir.join("cache").join("thumbnails");
    if cache.exists() {
        std::fs::remove_dir_all(&cache)?;
    }
    let mut conn = Conn::new(run.docbridge.addr);
    let target = format!("{BASE}/thumbnail?id={}", encode(&run.ids.photo));
    let key = run.api_key.clone();
    let mut timed = || -> anyhow::Result<Duration> {
        let started = Instant::now();
        let response = conn.request("GET", &target, &auth(&key), Body::Empty, false)?;
        let took = started.elapsed();
        anyhow::ensure!(response.status == 200 && response.body_len > 0, "thumbnail: status {}", response.status);
        Ok(took)
    };
    let first = timed()?;
    let mut again = (0..9).map(|_| timed()).collect::<anyhow::Result<Vec<_>>>()?;
    again.sort();
    let second = again[again.len() / 2];
    Ok(vec![Row::at_least(
        "/thumbnail of a 12 MP JPEG: cached vs first",
        format!("{:.2} ms (median of 9)", ms(second)),
        format!("first {:.0} ms", ms(first)),
        first.as_secs_f64() / second.as_secs_f64(),
        50.0,
    )])
}

/// `queries` timed `/search` queries one after the other (after 20 untimed ones that fault the
/// database's pages in); answers their times, sorted, and how many items each of the first
/// `counted` found.
pub fn timed_searches(
    addr: SocketAddr,
    key: &str,
    items: usize,
    queries: usize,
    counted: usize,
) -> anyhow::Result<(Vec<Duration>, Vec<usize>)> {
    let mut conn = Conn::new(addr);
    let mut query = |k: usize| -> anyhow::Result<(Duration, usize)> {
        let target = format!("{BASE}/search?query={}", encode(&search_term(k, items)));
        let started = Instant::now();
        let response = conn.request("GET", &target, &auth(key), Body::Empty, true)?;
        let took = started.elapsed();
        anyhow::ensure!(
            response.status == 200,
            "search: {} {}",
            response.status,
            String::from_utf8_lossy(&response.body)
        );
        let found = serde_json::from_slice::<serde_json::Value>(&response.body)?.as_array().map_or(0, Vec::len);
        Ok((took, found))
    };
    for k in 0..20 {
        query(1_000_000 + k)?;
    }
    let mut times = Vec::with_capacity(queries);
    let mut found = Vec::new();
    for k in 0..queries {
        let (took, n) = query(k)?;
        times.push(took);
        if k < counted {
            found.push(n);
        }
    }
    times.sort();
    Ok((times, found))
}

/// The `p`th percentile of sorted times.
pub fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() * p).div_ceil(100).max(1) - 1]
}

/// `/search` latency over the tree, queries one after the other, against `find -iname`.
pub fn search(run: &mut Run) -> anyhow::Result<Vec<Row>> {
    let items = run.options.sizes.tree_items;
    let (times, found) =
        timed_searches(run.docbridge.addr, &run.api_key, items, run.options.queries, run.options.find_runs)?;
    let p50 = times[times.len() / 2];
    let p99 = percentile(&times, 99);

    let mut find_times = Vec::new();
    for (k, docbridge_found) in found.iter().enumerate() {
        let pattern = format!("*{}*", search_term(k, items));
        let started = Instant::now();
        let output = Command::new("find").arg(&run.data.documents).arg("-iname").arg(&pattern).output()?;
        find_times.push(started.elapsed());
        anyhow::ensure!(output.status.success(), "find failed");
        let find_found = String::from_utf8_lossy(&output.stdout).lines().count();
        if find_found != *docbridge_found {
            eprintln!("bench: warning: {pattern:?}: find found {find_found} items, docbridge {docbridge_found}");
        }
    }
    find_times.sort();
    let find = find_times[find_times.len() / 2];
    let mut rows = vec![
        Row::at_least(
            format!("/search over {items} items: p50 vs find -iname"),
            format!("p50 {:.2} ms ({} queries)", ms(p50), times.len()),
            format!("find {:.0} ms (median of {})", ms(find), find_times.len()),
            find.as_secs_f64() / p50.as_secs_f64(),
            100.0,
        ),
        Row::at_most(format!("/search over {items} items: p99"), format!("{:.2} ms", ms(p99)), ms(p99), 50.0, "ms"),
    ];
    if items < SEARCH_GOAL_ITEMS {
        // The goals are set for a million items. `find` grows with the tree and the index does
        // not, so on a smaller tree the ratio says little (at 100,000 items on a quiet machine
        // `find` takes some 90 ms); the row is shown, not judged.
        for row in &mut rows {
            row.goal = format!("{} at 1,000,000 items", row.goal);
            row.verdict = super::Verdict::Info;
        }
    }
    Ok(rows)
}

/// The tree size the `/search` goals of issue #7 are set for (the full run's size).
const SEARCH_GOAL_ITEMS: usize = 1_000_000;

/// [`wrk_warm`] against docbridge (process `pid`), also answering the CPU time the server spent
/// per request during the measured run, in microseconds: a figure that moves less than
/// throughput when the machine's neighbours are busy (still by up to a quarter).
pub fn wrk_warm_cpu(url: &str, options: &Wrk<'_>, pid: u32) -> anyhow::Result<(super::procs::WrkResult, f64)> {
    warm_up(url, options);
    let before = super::procs::cpu_time(pid)?;
    let result = run_without_errors(url, options)?;
    let spent = super::procs::cpu_time(pid)?.saturating_sub(before);
    let per_request = spent.as_secs_f64() * 1e6 / result.requests.max(1) as f64;
    Ok((result, per_request))
}

/// A short untimed run first, so that both sides are measured warm.
pub fn wrk_warm(url: &str, options: &Wrk<'_>) -> anyhow::Result<super::procs::WrkResult> {
    warm_up(url, options);
    run_without_errors(url, options)
}

/// The measured run, which must have had no failed request.
fn run_without_errors(url: &str, options: &Wrk<'_>) -> anyhow::Result<super::procs::WrkResult> {
    let result = run_wrk(url, options)?;
    anyhow::ensure!(result.errors == 0, "{} failed requests or socket errors at {url}", result.errors);
    Ok(result)
}

/// One second of the same load, first. Its figures are thrown away, and so is a warm-up that
/// counted no answer at all (a slow endpoint on a loaded machine can take longer than the
/// second): the measured run decides.
fn warm_up(url: &str, options: &Wrk<'_>) {
    let warm = Wrk {
        threads: options.threads,
        connections: options.connections,
        duration: Duration::from_secs(1),
        headers: options.headers,
        script: options.script.clone(),
    };
    let _ = run_wrk(url, &warm);
}

/// `/files` of the 1,000-item folder against rclone's WebDAV `PROPFIND` (depth 1) of it.
pub fn files(run: &mut Run) -> anyhow::Result<Vec<Row>> {
    let mut conn = Conn::new(run.docbridge.addr);
    let count = list(&mut conn, &run.api_key, &run.ids.folder)?.len();
    anyhow::ensure!(count == run.options.sizes.folder_items, "the folder lists {count} items");
    let url = format!("http://{}{BASE}/files?parentId={}", run.docbridge.addr, encode(&run.ids.folder));
    let key = run.api_key.clone();
    let headers = auth(&key);
    let connections = 16;
    let ours = wrk_warm(
        &url,
        &Wrk { threads: 2, connections, duration: run.options.duration, headers: &headers, script: None },
    )?;

    let work = run.data.root.join("rclone");
    let (rclone, addr) = start_rclone(&run.data.documents.join("folder1k"), &work)?;
    let script = work.join("propfind.lua");
    std::fs::write(
        &script,
        "-- PROPFIND depth 1, as a WebDAV client lists a folder.\nwrk.method = \"PROPFIND\"\nwrk.headers[\"Depth\"] = \"1\"\n",
    )?;
    let peer = wrk_warm(
        &format!("http://{addr}/"),
        &Wrk { threads: 2, connections, duration: run.options.duration, headers: &[], script: Some(script) },
    );
    rclone.stop();
    let peer = peer?;
    Ok(vec![Row::at_least(
        format!("/files of {count} items vs rclone PROPFIND ({connections} connections)"),
        format!("{:.0} req/s", ours.requests_per_sec),
        format!("{:.0} req/s", peer.requests_per_sec),
        ours.requests_per_sec / peer.requests_per_sec,
        5.0,
    )])
}

/// Writes a wrk script that cycles through `paths`.
pub fn cycling_script(path: &Path, paths: &[String]) -> anyhow::Result<()> {
    let mut script =
        String::from("-- Each request takes the next path, so that every file is served in turn.\nlocal paths = {\n");
    for p in paths {
        script.push_str(&format!("  \"{p}\",\n"));
    }
    script.push_str(
        "}\nlocal i = 0\nrequest = function()\n  i = i + 1\n  return wrk.format(nil, paths[(i % #paths) + 1])\nend\n",
    );
    std::fs::write(path, script)?;
    Ok(())
}

fn nginx_dir(run: &Run) -> std::path::PathBuf {
    run.data.root.join("nginx")
}

/// `/metadata` of one file against nginx serving a static JSON file of the same size.
pub fn metadata(run: &mut Run) -> anyhow::Result<Vec<Row>> {
    let mut conn = Conn::new(run.docbridge.addr);
    let target = format!("{BASE}/metadata?id={}", encode(&run.ids.small[0]));
    let sample = conn.request("GET", &target, &auth(&run.api_key), Body::Empty, true)?;
    anyhow::ensure!(sample.status == 200, "metadata: {}", sample.status);
    let size = sample.body.len();
    // `{"pad":"xxx…"}`, exactly as long as docbridge's answer.
    let padding = size.saturating_sub(10);
    let json = format!("{{\"pad\":\"{}\"}}", "x".repeat(padding));
    let prefix = nginx_dir(run);
    std::fs::create_dir_all(&prefix)?;
    let meta = prefix.join("meta.json");
    std::fs::write(&meta, &json)?;

    let key = run.api_key.clone();
    let headers = auth(&key);
    let (ours, cpu) = wrk_warm_cpu(
        &format!("http://{}{target}", run.docbridge.addr),
        &Wrk { threads: 2, connections: 64, duration: run.options.duration, headers: &headers, script: None },
        run.docbridge.proc.pid(),
    )?;
    // Where the ceiling is, in the same run: the HTTP stack and middleware with no work behind
    // them (`/healthz`), and an authenticated provider call that touches no document
    // (`/serviceInfo`: the registry generation check, the integration, JSON).
    let floor = |path: &str, headers: &[(&str, &str)]| {
        wrk_warm(
            &format!("http://{}{path}", run.docbridge.addr),
            &Wrk { threads: 2, connections: 64, duration: run.options.duration, headers, script: None },
        )
    };
    let healthz = floor("/healthz", &[])?;
    let service_info = floor(&format!("{BASE}/serviceInfo"), &headers)?;
    let (nginx, addr) = start_nginx(&prefix, &run.data.documents, &meta, true)?;
    let peer = wrk_warm(
        &format!("http://{addr}/meta.json"),
        &Wrk { threads: 2, connections: 64, duration: run.options.duration, headers: &[], script: None },
    );
    nginx.stop();
    let peer = peer?;
    let context = |what: &str, result: &super::procs::WrkResult| {
        let mut row = Row::info(
            format!("… for scale: {what}, 64 connections, vs the same nginx"),
            format!("{:.0} req/s", result.requests_per_sec),
            format!("{:.0} req/s", peer.requests_per_sec),
        );
        row.ratio = format!("{:.2}×", result.requests_per_sec / peer.requests_per_sec);
        row
    };
    Ok(vec![
        Row::at_least(
            format!("/metadata ({size} B answer), 64 connections, vs nginx static JSON"),
            format!("{:.0} req/s (p99 {:.1} ms; CPU {cpu:.0} µs per request)", ours.requests_per_sec, ours.p99_ms),
            format!("{:.0} req/s", peer.requests_per_sec),
            ours.requests_per_sec / peer.requests_per_sec,
            0.5,
        ),
        Row::at_most(
            "… its p99 latency (64 connections)",
            format!("{:.1} ms (nginx {:.1} ms)", ours.p99_ms, peer.p99_ms),
            ours.p99_ms,
            5.0,
            "ms",
        ),
        context("docbridge `/healthz` (the HTTP stack alone)", &healthz),
        context("docbridge `/serviceInfo` (authenticated, no document)", &service_info),
    ])
}

/// `/download` of the 10 KiB files, in turn, against nginx serving the same files.
pub fn small_downloads(run: &mut Run) -> anyhow::Result<Vec<Row>> {
    let prefix = nginx_dir(run);
    std::fs::create_dir_all(&prefix)?;
    let ours_script = prefix.join("small-docbridge.lua");
    let targets: Vec<String> = run.ids.small.iter().map(|id| format!("{BASE}/download?id={}", encode(id))).collect();
    cycling_script(&ours_script, &targets)?;
    let peer_script = prefix.join("small-nginx.lua");
    let paths: Vec<String> = run.data.small_file_names().iter().map(|name| format!("/small/{name}")).collect();
    cycling_script(&peer_script, &paths)?;

    let key = run.api_key.clone();
    let headers = auth(&key);
    let (ours, cpu) = wrk_warm_cpu(
        &format!("http://{}/", run.docbridge.addr),
        &Wrk {
            threads: 2,
            connections: 64,
            duration: run.options.duration,
            headers: &headers,
            script: Some(ours_script),
        },
        run.docbridge.proc.pid(),
    )?;
    let meta = prefix.join("meta.json");
    if !meta.exists() {
        std::fs::write(&meta, "{}")?;
    }
    // nginx as configured for production (`sendfile on`), and once more copying the files
    // through user memory as hyper must (`sendfile off`): what sendfile alone is worth here.
    let nginx_run = |sendfile: bool| -> anyhow::Result<super::procs::WrkResult> {
        let (nginx, addr) = start_nginx(&prefix, &run.data.documents, &meta, sendfile)?;
        let result = wrk_warm(
            &format!("http://{addr}/"),
            &Wrk {
                threads: 2,
                connections: 64,
                duration: run.options.duration,
                headers: &[],
                script: Some(peer_script.clone()),
            },
        );
        nginx.stop();
        result
    };
    let peer = nginx_run(true)?;
    let copying = nginx_run(false)?;
    let mut reference = Row::info(
        "… for scale: nginx with `sendfile off` (copying as docbridge does), vs itself with it on",
        "",
        format!("{:.0} req/s", copying.requests_per_sec),
    );
    reference.ratio = format!("{:.2}×", copying.requests_per_sec / peer.requests_per_sec);
    Ok(vec![
        Row::at_least(
            format!("/download of {} KiB files, 64 connections, vs nginx", run.options.sizes.small_file_bytes / 1024),
            format!("{:.0} req/s (p99 {:.1} ms; CPU {cpu:.0} µs per request)", ours.requests_per_sec, ours.p99_ms),
            format!("{:.0} req/s", peer.requests_per_sec),
            ours.requests_per_sec / peer.requests_per_sec,
            0.5,
        ),
        reference,
    ])
}

/// `clients` connections downloading `target` over and over until `duration` has passed;
/// answers bytes per second. Bytes of answers cut off by the deadline count too.
pub(super) fn download_load(
    addr: SocketAddr,
    target: &str,
    headers: &[(&str, &str)],
    clients: usize,
    duration: Duration,
) -> anyhow::Result<f64> {
    let total = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let deadline = started + duration;
    let handles: Vec<_> = (0..clients)
        .map(|_| {
            let (total, target) = (total.clone(), target.to_owned());
            let headers: Vec<(String, String)> =
                headers.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect();
            std::thread::spawn(move || -> anyhow::Result<()> {
                let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.as_str())).collect();
                let mut conn = Conn::new(addr);
                while Instant::now() < deadline {
                    let status = conn.stream_until(&target, &headers, deadline, &total)?;
                    anyhow::ensure!(status == 200, "download: status {status}");
                }
                Ok(())
            })
        })
        .collect();
    for handle in handles {
        handle.join().map_err(|_| anyhow::anyhow!("a download client panicked"))??;
    }
    Ok(total.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64())
}

/// `/download` of the big file by 8 clients at once, against nginx (sendfile) serving it.
pub fn big_download(run: &mut Run) -> anyhow::Result<Vec<Row>> {
    let clients = 8;
    let key = run.api_key.clone();
    let headers = auth(&key);
    let target = format!("{BASE}/download?id={}", encode(&run.ids.big));
    download_load(run.docbridge.addr, &target, &headers, clients, Duration::from_secs(1))?;
    let ours = download_load(run.docbridge.addr, &target, &headers, clients, run.options.duration)?;

    let prefix = nginx_dir(run);
    std::fs::create_dir_all(&prefix)?;
    let meta = prefix.join("meta.json");
    if !meta.exists() {
        std::fs::write(&meta, "{}")?;
    }
    let (nginx, addr) = start_nginx(&prefix, &run.data.documents, &meta, true)?;
    let peer = download_load(addr, "/big.bin", &[], clients, Duration::from_secs(1))
        .and_then(|_| download_load(addr, "/big.bin", &[], clients, run.options.duration));
    nginx.stop();
    let peer = peer?;
    let size_mib = run.options.sizes.big_file_bytes >> 20;
    Ok(vec![Row::at_least(
        format!("/download of a {size_mib} MiB file, {clients} clients, vs nginx sendfile"),
        format!("{:.0} MiB/s", ours / MIB),
        format!("{:.0} MiB/s", peer / MIB),
        ours / peer,
        0.8,
    )])
}
