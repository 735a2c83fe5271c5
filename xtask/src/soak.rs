//! `cargo xtask soak [--seconds N] [--clients N] [--dev]`: starts a release `docbridge` on
//! 127.0.0.1 with a fresh data folder, runs a mixed load (downloads, listings, searches,
//! uploads, renames, deletes) from a few concurrent clients for N seconds (default and most:
//! 600), then checks that every file the clients were told exists reads back whole, and reports
//! requests served, errors, latency percentiles and the server's memory (RSS) over the run.
//!
//! Traffic goes to the loopback address only, and every loop is bounded in time and count. The
//! client is plain `std::net` HTTP/1.1 with keep-alive, so that the tool measures the server and
//! adds no dependency to xtask.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const MAX_SECONDS: u64 = 600;
const MAX_CLIENTS: usize = 16;
/// A bound on each client's loop besides the clock.
const MAX_STEPS_PER_CLIENT: u64 = 5_000_000;
/// Files each client keeps at most; past it, it deletes before it uploads.
const MAX_OWNED: usize = 40;
/// Files shared by all clients for reads, uploaded before the clock starts.
const SHARED_FILES: usize = 20;

const USAGE: &str = "cargo xtask soak [--seconds N] [--clients N] [--dev]

  Starts a release docbridge on 127.0.0.1 and runs a mixed load against it for N seconds
  (default and most: 600) from N clients (default 4, most 16). --dev uses the debug build
  instead of building a release one.";

struct Options {
    seconds: u64,
    clients: usize,
    release: bool,
}

/// The options, or `None` when help was asked for.
fn parse(args: &[String]) -> anyhow::Result<Option<Options>> {
    let mut options = Options { seconds: MAX_SECONDS, clients: 4, release: true };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().cloned().with_context(|| format!("{name} needs a value"));
        match arg.as_str() {
            "--seconds" => options.seconds = value("--seconds")?.parse().context("--seconds: a whole number")?,
            "--clients" => options.clients = value("--clients")?.parse().context("--clients: a whole number")?,
            "--dev" => options.release = false,
            "--help" | "-h" => return Ok(None),
            other => bail!("unknown argument {other:?} (see --help)"),
        }
    }
    anyhow::ensure!((1..=MAX_SECONDS).contains(&options.seconds), "--seconds must be 1 to {MAX_SECONDS}");
    anyhow::ensure!((1..=MAX_CLIENTS).contains(&options.clients), "--clients must be 1 to {MAX_CLIENTS}");
    Ok(Some(options))
}

/// One answer: status, headers (lower-case names) and body.
pub(crate) struct Answer {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Vec<u8>,
}

/// A keep-alive HTTP/1.1 connection to the server, reopened when the server closes it.
struct Connection {
    addr: SocketAddr,
    stream: Option<BufReader<TcpStream>>,
    key: String,
}

impl Connection {
    fn new(addr: SocketAddr, key: &str) -> Connection {
        Connection { addr, stream: None, key: key.to_owned() }
    }

    fn open(&mut self) -> std::io::Result<&mut BufReader<TcpStream>> {
        if self.stream.is_none() {
            let stream = TcpStream::connect_timeout(&self.addr, Duration::from_secs(10))?;
            // Nothing in this load should take long; a stuck call is an error, not a hang.
            stream.set_read_timeout(Some(Duration::from_secs(60)))?;
            stream.set_write_timeout(Some(Duration::from_secs(60)))?;
            stream.set_nodelay(true)?;
            self.stream = Some(BufReader::new(stream));
        }
        self.stream.as_mut().ok_or_else(|| std::io::Error::other("no connection"))
    }

    /// One call to the default integration; retried once on a fresh connection if the kept-alive
    /// one turned out to be closed.
    fn call(&mut self, method: &str, endpoint: &str, query: &[(&str, &str)], body: &[u8]) -> std::io::Result<Answer> {
        let target = format!("/webhooks/default/{endpoint}?{}", encode_query(query));
        match self.exchange(method, &target, body) {
            Ok(answer) => Ok(answer),
            Err(_) => {
                self.stream = None;
                self.exchange(method, &target, body)
            }
        }
    }

    fn get_path(&mut self, path: &str) -> std::io::Result<Answer> {
        self.exchange("GET", path, b"")
    }

    fn exchange(&mut self, method: &str, target: &str, body: &[u8]) -> std::io::Result<Answer> {
        let key = self.key.clone();
        let stream = self.open()?;
        let head = format!(
            "{method} {target} HTTP/1.1\r\nHost: 127.0.0.1\r\napiKey: {key}\r\nusername: soak@example.com\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let inner = stream.get_mut();
        inner.write_all(head.as_bytes())?;
        inner.write_all(body)?;
        let answer = read_answer(stream);
        let closing = match &answer {
            Ok(a) => a.headers.get("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")),
            Err(_) => true,
        };
        if closing {
            self.stream = None;
        }
        answer
    }
}

pub(crate) fn read_answer(stream: &mut BufReader<TcpStream>) -> std::io::Result<Answer> {
    let (status, headers) = read_head(stream)?;
    let mut line = String::new();
    let mut body = Vec::new();
    if let Some(length) = headers.get("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.resize(length, 0);
        stream.read_exact(&mut body)?;
    } else if headers.get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        // Bounded by the largest file this load uploads, with room to spare.
        while body.len() < 64 << 20 {
            line.clear();
            stream.read_line(&mut line)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)
                .map_err(std::io::Error::other)?;
            let mut chunk = vec![0; size + 2];
            stream.read_exact(&mut chunk)?;
            if size == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..size]);
        }
    }
    Ok(Answer { status, headers, body })
}

/// An answer's status line and headers (at most 200 lines of them): the status, and the headers
/// by lower-case name. A connection closed before the status line is an `UnexpectedEof` error.
pub(crate) fn read_head(stream: &mut impl BufRead) -> std::io::Result<(u16, HashMap<String, String>)> {
    let mut line = String::new();
    if stream.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "connection closed"));
    }
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
    let mut headers = HashMap::new();
    for _ in 0..200 {
        line.clear();
        stream.read_line(&mut line)?;
        let trimmed = line.trim_end();
        if trimmed.is_empty() {
            break;
        }
        if let Some((name, value)) = trimmed.split_once(':') {
            headers.insert(name.trim().to_ascii_lowercase(), value.trim().to_owned());
        }
    }
    Ok((status, headers))
}

pub(crate) fn encode_query(pairs: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    pairs.iter().map(|(k, v)| format!("{}={}", encode(k), encode(v))).collect::<Vec<_>>().join("&")
}

/// The string value of `"field":"..."` in a JSON answer (IDs and titles need no unescaping).
fn json_field(body: &[u8], field: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find(&format!("\"{field}\":\""))? + field.len() + 4;
    let end = text[start..].find('"')? + start;
    Some(text[start..end].to_owned())
}

/// Deterministic content of a given length, different per seed.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut lcg = Lcg(seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
    (0..len).map(|_| (lcg.step() >> 33) as u8).collect()
}

/// A small deterministic generator for choosing operations.
struct Lcg(u64);

impl Lcg {
    /// The next state (Knuth's MMIX multiplier and increment); its high bits are the random ones.
    fn step(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        (self.step() >> 33) % n.max(1)
    }
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: Vec<String>,
    by_operation: HashMap<&'static str, usize>,
    /// Files this client owns and was told exist: id → bytes.
    owned: HashMap<String, Vec<u8>>,
}

impl Tally {
    fn record(
        &mut self,
        operation: &'static str,
        started: Instant,
        result: &std::io::Result<Answer>,
        expected: &[u16],
    ) -> bool {
        self.latencies_us.push(u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX));
        *self.by_operation.entry(operation).or_default() += 1;
        match result {
            Ok(answer) if expected.contains(&answer.status) => true,
            Ok(answer) => {
                self.errors.push(format!("{operation}: {} {}", answer.status, String::from_utf8_lossy(&answer.body)));
                false
            }
            Err(e) => {
                self.errors.push(format!("{operation}: {e}"));
                false
            }
        }
    }
}

/// One client's loop: a mix weighted towards reads, as document browsing is.
fn client(
    addr: SocketAddr,
    key: String,
    n: usize,
    folder: String,
    shared: Vec<(String, Vec<u8>)>,
    stop: Arc<AtomicBool>,
) -> Tally {
    let mut tally = Tally::default();
    let mut connection = Connection::new(addr, &key);
    let mut rng = Lcg(n as u64 + 17);
    let mut counter = 0u64;
    while !stop.load(Ordering::Relaxed) && counter < MAX_STEPS_PER_CLIENT {
        counter += 1;
        let started = Instant::now();
        match rng.below(100) {
            0..=34 => {
                let (id, bytes) = &shared[rng.below(shared.len() as u64) as usize];
                let result = connection.call("GET", "download", &[("id", id)], b"");
                if tally.record("download", started, &result, &[200]) && result.as_ref().is_ok_and(|a| a.body != *bytes)
                {
                    tally.errors.push(format!("download {id}: wrong bytes"));
                }
            }
            35..=54 => {
                let result = connection.call("GET", "files", &[("parentId", &folder)], b"");
                tally.record("list", started, &result, &[200]);
            }
            55..=69 => {
                let query = ["shared", "client", "file 1", "bin", "nothing-matches-this"][rng.below(5) as usize];
                let result = connection.call("GET", "search", &[("query", query)], b"");
                tally.record("search", started, &result, &[200]);
            }
            70..=84 => {
                if tally.owned.len() >= MAX_OWNED {
                    delete_one(&mut connection, &mut tally, &mut rng);
                    continue;
                }
                let name = format!("client {n} file {counter}.bin");
                let result = connection.call("POST", "uploadInit", &[("parentId", &folder), ("filename", &name)], b"");
                if !tally.record("uploadInit", started, &result, &[200]) {
                    continue;
                }
                let Some(id) = result.ok().and_then(|a| json_field(&a.body, "id")) else {
                    tally.errors.push("uploadInit: no id".into());
                    continue;
                };
                let bytes = content(counter * 31 + n as u64, 1 + rng.below(64 * 1024) as usize);
                let started = Instant::now();
                let result = connection.call("PUT", "upload", &[("id", &id)], &bytes);
                if tally.record("upload", started, &result, &[200]) {
                    tally.owned.insert(id, bytes);
                }
            }
            85..=94 => {
                let Some(id) = pick(&tally.owned, &mut rng) else { continue };
                let name = format!("client {n} renamed {counter}.bin");
                let result = connection.call("PUT", "rename", &[("id", &id), ("name", &name)], b"");
                tally.record("rename", started, &result, &[200]);
            }
            _ => delete_one(&mut connection, &mut tally, &mut rng),
        }
    }
    tally
}

fn pick(owned: &HashMap<String, Vec<u8>>, rng: &mut Lcg) -> Option<String> {
    if owned.is_empty() {
        return None;
    }
    let mut ids: Vec<&String> = owned.keys().collect();
    ids.sort();
    Some(ids[rng.below(ids.len() as u64) as usize].clone())
}

fn delete_one(connection: &mut Connection, tally: &mut Tally, rng: &mut Lcg) {
    let Some(id) = pick(&tally.owned, rng) else { return };
    let started = Instant::now();
    let result = connection.call("PUT", "delete", &[("documentId", &id)], b"");
    if tally.record("delete", started, &result, &[200]) {
        tally.owned.remove(&id);
    }
}

/// The server's resident memory, from `/proc/PID/status` (Linux), in KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let index = ((sorted.len() - 1) as f64 * p).round() as usize;
    f64::from(sorted[index.min(sorted.len() - 1)]) / 1000.0
}

/// The server process, stopped (SIGTERM, then SIGKILL if it lingers) when dropped.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        for _ in 0..300 {
            if self.child.try_wait().is_ok_and(|s| s.is_some()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_server(binary: &Path, data: &Path) -> anyhow::Result<(Server, SocketAddr, String)> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let log = std::fs::File::create(data.with_extension("log"))?;
    let mut child = Command::new(binary)
        .arg("--data-dir")
        .arg(data)
        .args(["serve", "--listen", &addr.to_string()])
        // Upkeep is part of a long run; keep it, but not so often that it dominates a short one.
        .env("DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS", "60")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let stdout = child.stdout.take().context("the server's output")?;
    let server = Server { child };
    // The first start prints the ApiKey once, before it answers. The output is read to its end
    // on a thread of its own: closing the pipe early would make the server's next line fail.
    let (found, key) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(value) = line.trim().strip_prefix("ApiKey:") {
                let _ = found.send(value.trim().to_owned());
            }
        }
    });
    let key = key.recv_timeout(Duration::from_secs(120)).context("the server printed no ApiKey")?;
    let mut probe = Connection::new(addr, &key);
    for _ in 0..300 {
        if probe.get_path("/healthz").is_ok_and(|a| a.status == 200) {
            return Ok((server, addr, key));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bail!("docbridge did not become healthy on {addr}")
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let Some(options) = parse(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let binary = build_docbridge(options.release)?;

    let scratch = std::env::temp_dir().join(format!("docbridge-soak-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)?;
    let data = scratch.join("data");
    let result = soak(&options, &binary, &data);
    match &result {
        Ok(()) => {
            let _ = std::fs::remove_dir_all(&scratch);
        }
        // Kept for a look: the data folder and the server's log.
        Err(_) => eprintln!("soak: data and server log kept in {}", scratch.display()),
    }
    result
}

/// Builds the `docbridge` binary (release, or the debug build with `release` false) and answers
/// its path.
pub(crate) fn build_docbridge(release: bool) -> anyhow::Result<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf);
    // As from a shell: with xtask's `cargo run` variables, the build would not reuse the one
    // `cargo test` made (see `fuzz::cargo`).
    let mut build = crate::fuzz::cargo();
    build.current_dir(&root).args(["build", "--quiet", "-p", "docbridge-server", "--bin", "docbridge"]);
    if release {
        build.arg("--release");
    }
    eprintln!("$ cargo build -p docbridge-server --bin docbridge{}", if release { " --release" } else { "" });
    anyhow::ensure!(build.status()?.success(), "building docbridge failed");
    Ok(crate::target_dir(&root).join(if release { "release" } else { "debug" }).join("docbridge"))
}

fn soak(options: &Options, binary: &Path, data: &Path) -> anyhow::Result<()> {
    let (server, addr, key) = start_server(binary, data)?;
    let pid = server.child.id();
    let mut setup = Connection::new(addr, &key);
    let folder = setup.call("POST", "createFolder", &[("parentId", "/"), ("name", "soak")], b"")?;
    anyhow::ensure!(folder.status == 200, "createFolder: {}", String::from_utf8_lossy(&folder.body));
    let folder = json_field(&folder.body, "id").context("createFolder: no id")?;
    let mut shared = Vec::new();
    for i in 0..SHARED_FILES {
        let init = setup.call(
            "POST",
            "uploadInit",
            &[("parentId", &folder), ("filename", &format!("shared {i}.bin"))],
            b"",
        )?;
        let id = json_field(&init.body, "id").context("uploadInit: no id")?;
        let bytes = content(i as u64, 1024 * (1 + i * 13));
        let put = setup.call("PUT", "upload", &[("id", &id)], &bytes)?;
        anyhow::ensure!(put.status == 200, "seeding: upload answered {}", put.status);
        shared.push((id, bytes));
    }
    let rss_start = rss_kib(pid).unwrap_or(0);
    eprintln!(
        "soak: {} clients for {} s against {addr} (pid {pid}, RSS {rss_start} KiB)",
        options.clients, options.seconds
    );

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<_> = (0..options.clients)
        .map(|n| {
            let (key, folder, shared, stop) = (key.clone(), folder.clone(), shared.clone(), stop.clone());
            std::thread::spawn(move || client(addr, key, n, folder, shared, stop))
        })
        .collect();
    // Sample memory while the load runs (a pace, not a wait for anything); the clock bounds it.
    let mut rss_max = rss_start;
    let deadline = started + Duration::from_secs(options.seconds);
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500).min(deadline.saturating_duration_since(Instant::now())));
        rss_max = rss_max.max(rss_kib(pid).unwrap_or(0));
    }
    stop.store(true, Ordering::Relaxed);
    let mut tallies = Vec::new();
    for handle in handles {
        tallies.push(handle.join().map_err(|_| anyhow::anyhow!("a client thread panicked"))?);
    }
    let elapsed = started.elapsed();
    let rss_end = rss_kib(pid).unwrap_or(0);

    // Nothing acknowledged is lost: every file a client owns reads back whole, every shared one too.
    let mut lost = Vec::new();
    let mut checked = 0;
    for (id, bytes) in tallies.iter().flat_map(|t| t.owned.iter()).chain(shared.iter().map(|(id, bytes)| (id, bytes))) {
        checked += 1;
        match setup.call("GET", "download", &[("id", id)], b"") {
            Ok(answer) if answer.status == 200 && answer.body == *bytes => {}
            Ok(answer) => lost.push(format!("{id}: {} ({} bytes)", answer.status, answer.body.len())),
            Err(e) => lost.push(format!("{id}: {e}")),
        }
    }
    let alive = rss_kib(pid).is_some();
    drop(server);

    let mut latencies: Vec<u32> = tallies.iter().flat_map(|t| t.latencies_us.iter().copied()).collect();
    latencies.sort_unstable();
    let errors: Vec<&String> = tallies.iter().flat_map(|t| t.errors.iter()).collect();
    let mut operations: HashMap<&str, usize> = HashMap::new();
    for tally in &tallies {
        for (op, n) in &tally.by_operation {
            *operations.entry(op).or_default() += n;
        }
    }
    let mut operations: Vec<_> = operations.into_iter().collect();
    operations.sort();
    let requests = latencies.len();
    println!("soak: {} s, {} clients", elapsed.as_secs(), options.clients);
    println!("  requests served: {requests} ({:.0}/s)", requests as f64 / elapsed.as_secs_f64().max(0.001));
    println!(
        "  by operation:    {}",
        operations.iter().map(|(op, n)| format!("{op} {n}")).collect::<Vec<_>>().join(", ")
    );
    println!("  errors:          {}", errors.len());
    println!(
        "  latency:         p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!(
        "  server RSS:      start {} MiB, end {} MiB, max {} MiB",
        rss_start / 1024,
        rss_end / 1024,
        rss_max / 1024
    );
    println!("  files checked:   {checked}, lost or damaged: {}", lost.len());
    for error in errors.iter().take(10) {
        println!("  error: {error}");
    }
    for item in lost.iter().take(10) {
        println!("  lost: {item}");
    }
    anyhow::ensure!(alive, "the server died during the run");
    anyhow::ensure!(
        errors.is_empty() && lost.is_empty(),
        "{} errors, {} files lost or damaged",
        errors.len(),
        lost.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_args as args;

    #[test]
    fn options() {
        let o = parse(&args(&[])).unwrap().unwrap();
        assert_eq!((o.seconds, o.clients, o.release), (600, 4, true));
        let o = parse(&args(&["--seconds", "20", "--clients", "2", "--dev"])).unwrap().unwrap();
        assert_eq!((o.seconds, o.clients, o.release), (20, 2, false));
        assert!(parse(&args(&["--seconds", "601"])).is_err());
        assert!(parse(&args(&["--seconds", "0"])).is_err());
        assert!(parse(&args(&["--clients", "17"])).is_err());
        assert!(parse(&args(&["--help"])).unwrap().is_none());
    }

    #[test]
    fn helpers() {
        assert_eq!(encode_query(&[("id", "a b/c"), ("q", "é")]), "id=a%20b%2Fc&q=%C3%A9");
        assert_eq!(json_field(br#"{"id":"abc","title":"x y"}"#, "title").as_deref(), Some("x y"));
        assert_eq!(json_field(b"{}", "id"), None);
        assert_eq!(percentile(&[1000, 2000, 3000], 0.5), 2.0);
        assert_eq!(content(1, 10), content(1, 10));
        assert_ne!(content(1, 10), content(2, 10));
    }

    #[test]
    fn answer_heads() {
        let mut answer = &b"HTTP/1.1 404 Not Found\r\nContent-Length: 2\r\nX-Thing : A b\r\n\r\n{}"[..];
        let (status, headers) = read_head(&mut answer).unwrap();
        assert_eq!((status, headers["content-length"].as_str(), headers["x-thing"].as_str()), (404, "2", "A b"));
        assert_eq!(answer, b"{}", "the body is left unread");
        assert_eq!(read_head(&mut &b""[..]).unwrap_err().kind(), std::io::ErrorKind::UnexpectedEof);
        assert!(read_head(&mut &b"garbage\r\n\r\n"[..]).is_err());
    }
}
