//! The processes of a run: docbridge, nginx, rclone and wrk, started on 127.0.0.1 and always
//! stopped by their own process ID (a guard does it on every way out, errors included).

use std::fs;
use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::http::{Body, Conn};

/// A child process stopped when dropped: `SIGTERM` first (nginx's master only takes its workers
/// down with it that way), `SIGKILL` if it is still there after a few seconds.
pub struct Proc {
    pub name: &'static str,
    child: Child,
}

impl Proc {
    pub fn spawn(name: &'static str, command: &mut Command) -> anyhow::Result<Proc> {
        let child = command.spawn().with_context(|| format!("starting {name} ({command:?})"))?;
        Ok(Proc { name, child })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stop(mut self) {
        self.terminate();
    }

    /// `SIGKILL`, as a crash would end it, and its exit reaped.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn exited(&mut self) -> bool {
        self.child.try_wait().is_ok_and(|s| s.is_some())
    }

    pub fn take_stdout(&mut self) -> Option<std::process::ChildStdout> {
        self.child.stdout.take()
    }

    fn terminate(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("bench: {} did not stop on SIGTERM; killing it", self.name);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// A free port on 127.0.0.1 (the kernel's choice; released at once for the server to take).
pub fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

pub fn local(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// Polls `target` until the server answers anything, and answers how long that took since
/// `since`; gives up at once if the process exits.
pub fn wait_until_answering(
    proc: &mut Proc,
    addr: SocketAddr,
    method: &str,
    target: &str,
    since: Instant,
    limit: Duration,
) -> anyhow::Result<Duration> {
    loop {
        if let Ok(Some(status)) = proc.child.try_wait() {
            bail!("{} exited ({status}) before answering", proc.name);
        }
        let mut conn = Conn::new(addr);
        if conn.request(method, target, &[("Depth", "1")], Body::Empty, false).is_ok() {
            return Ok(since.elapsed());
        }
        if since.elapsed() > limit {
            bail!("nothing answered on {addr} within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `VmRSS` and `VmHWM` of a process, in KiB.
pub fn memory_kib(pid: u32) -> anyhow::Result<(u64, u64)> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| status_kib(&status, name).with_context(|| format!("no {name} in /proc/{pid}/status"));
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

/// What the RSS of process `pid` is made of, for a table cell: anonymous memory (heap, stacks)
/// and pages of mapped files (the executable's code and data as far as they were touched).
pub fn rss_parts(pid: u32) -> anyhow::Result<String> {
    let status = fs::read_to_string(format!("/proc/{pid}/status"))?;
    let mib = |name: &str| status_kib(&status, name).map_or(f64::NAN, |kib| kib as f64 / 1024.0);
    Ok(format!("anonymous {:.1} MiB, files {:.1} MiB", mib("RssAnon:"), mib("RssFile:")))
}

/// The value of the line `name` (`VmRSS:`, ...) of a `/proc/PID/status`, in KiB.
fn status_kib(status: &str, name: &str) -> Option<u64> {
    status.lines().find(|l| l.starts_with(name))?.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time (user and system, every thread) that process `pid` has used so far.
pub fn cpu_time(pid: u32) -> anyhow::Result<Duration> {
    cpu_time_of(&fs::read_to_string(format!("/proc/{pid}/stat"))?)
}

/// The CPU time in a line of `/proc/PID/stat`: utime and stime, fields 14 and 15, in clock ticks
/// of 1/100 s (`USER_HZ`, fixed by Linux's ABI for /proc).
fn cpu_time_of(stat: &str) -> anyhow::Result<Duration> {
    // The command name (field 2, in parentheses) may hold spaces and parentheses: the fields
    // after it are counted from its last `)`.
    let rest = stat.rsplit_once(')').map(|(_, rest)| rest).context("malformed /proc/PID/stat")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> anyhow::Result<u64> {
        fields.get(i).context("short /proc/PID/stat")?.parse().context("malformed /proc/PID/stat")
    };
    Ok(Duration::from_millis((ticks(11)? + ticks(12)?) * 10))
}

/// The number of threads of process `pid`.
pub fn thread_count(pid: u32) -> anyhow::Result<usize> {
    Ok(fs::read_dir(format!("/proc/{pid}/task"))?.count())
}

/// A docbridge server and what its first start printed.
pub struct Docbridge {
    pub proc: Proc,
    pub addr: SocketAddr,
    /// The `ApiKey:` line of a first start, if this was one.
    pub printed_key: Option<String>,
    /// From spawning the process to its first answer.
    pub first_answer: Duration,
}

pub fn docbridge_command(binary: &Path, data_dir: &Path) -> Command {
    let mut command = Command::new(binary);
    command
        .arg("--data-dir")
        .arg(data_dir)
        // Steady runs: no periodic rescan competing with the measured requests.
        .env("DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS", "0");
    command
}

pub fn start_docbridge(binary: &Path, data_dir: &Path, log: &Path) -> anyhow::Result<Docbridge> {
    start_docbridge_with(binary, data_dir, log, &[])
}

/// [`start_docbridge`] with more `DOCBRIDGE_*` (or other) variables in its environment: the
/// PostgreSQL registry, a library folder elsewhere, one worker thread.
pub fn start_docbridge_with(
    binary: &Path,
    data_dir: &Path,
    log: &Path,
    env: &[(String, String)],
) -> anyhow::Result<Docbridge> {
    let port = free_port()?;
    let addr = local(port);
    let mut command = docbridge_command(binary, data_dir);
    command.envs(env.iter().map(|(k, v)| (k, v)));
    command.args(["serve", "--listen", &addr.to_string()]).stdout(Stdio::piped()).stderr(fs::File::create(log)?);
    let started = Instant::now();
    let mut proc = Proc::spawn("docbridge", &mut command)?;
    let key: Arc<Mutex<Option<String>>> = Arc::default();
    if let Some(stdout) = proc.child.stdout.take() {
        let key = key.clone();
        // Drains stdout for the process's life, so that it can never block on a full pipe.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(value) = line.trim().strip_prefix("ApiKey:") {
                    *key.lock().unwrap_or_else(|e| e.into_inner()) = Some(value.trim().to_owned());
                }
            }
        });
    }
    let first_answer = wait_until_answering(&mut proc, addr, "GET", "/healthz", started, Duration::from_secs(60))
        .with_context(|| format!("docbridge did not start; see {}", log.display()))?;
    // The key is printed before the listener serves, but the reading thread may lag a little.
    let deadline = Instant::now() + Duration::from_millis(500);
    let printed_key = loop {
        let current = key.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if current.is_some() || Instant::now() > deadline {
            break current;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Ok(Docbridge { proc, addr, printed_key, first_answer })
}

/// nginx serving `documents` at `/`, plus `/meta.json`, with the settings a production static
/// server has (no access log, long keep-alive, and `sendfile` unless told otherwise).
pub fn start_nginx(
    prefix: &Path,
    documents: &Path,
    meta_json: &Path,
    sendfile: bool,
) -> anyhow::Result<(Proc, SocketAddr)> {
    let port = free_port()?;
    fs::create_dir_all(prefix.join("tmp"))?;
    let running_as_root = fs::read_to_string("/proc/self/status")?
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"));
    let conf = format!(
        r#"# Generated by `cargo xtask bench`.
{user}worker_processes auto;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    include /etc/nginx/mime.types;
    default_type application/octet-stream;
    access_log off;
    sendfile {sendfile};
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    server {{
        listen 127.0.0.1:{port};
        root {documents};
        location = /meta.json {{ alias {meta}; default_type application/json; }}
    }}
}}
"#,
        // As root nginx would switch its workers to `nobody`, who may not read the data set.
        user = if running_as_root { "user root;\n" } else { "" },
        prefix = prefix.display(),
        documents = documents.display(),
        meta = meta_json.display(),
        sendfile = if sendfile { "on" } else { "off" },
    );
    let conf_path = prefix.join("nginx.conf");
    fs::write(&conf_path, conf)?;
    let mut command = Command::new("nginx");
    command
        .arg("-p")
        .arg(prefix)
        .arg("-e")
        .arg(prefix.join("error.log"))
        .arg("-c")
        .arg(&conf_path)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let started = Instant::now();
    let mut proc = Proc::spawn("nginx", &mut command)?;
    let addr = local(port);
    wait_until_answering(&mut proc, addr, "GET", "/meta.json", started, Duration::from_secs(20))
        .with_context(|| format!("nginx did not start; see {}", prefix.join("error.log").display()))?;
    Ok((proc, addr))
}

/// `rclone serve webdav` of one folder, read-only, with rclone's defaults otherwise.
pub fn start_rclone(dir: &Path, work: &Path) -> anyhow::Result<(Proc, SocketAddr)> {
    let port = free_port()?;
    let addr = local(port);
    fs::create_dir_all(work)?;
    let config = work.join("rclone.conf");
    fs::write(&config, "")?;
    let mut command = Command::new("rclone");
    command
        .args(["serve", "webdav"])
        .arg(dir)
        .args(["--addr", &addr.to_string(), "--read-only", "--config"])
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(fs::File::create(work.join("rclone.log"))?);
    let started = Instant::now();
    let mut proc = Proc::spawn("rclone", &mut command)?;
    wait_until_answering(&mut proc, addr, "PROPFIND", "/", started, Duration::from_secs(20))
        .context("rclone serve webdav did not start")?;
    Ok((proc, addr))
}

/// What wrk measured.
#[derive(Debug, Clone, Default)]
pub struct WrkResult {
    pub requests_per_sec: f64,
    pub bytes_per_sec: f64,
    pub requests: u64,
    /// Non-2xx/3xx answers plus socket errors: any makes the figure suspect.
    pub errors: u64,
    pub p50_ms: f64,
    pub p99_ms: f64,
}

/// Options of one wrk run.
pub struct Wrk<'a> {
    /// wrk's threads: 2 (as many as there are cores) unless two wrk runs share the machine.
    pub threads: u32,
    pub connections: u32,
    pub duration: Duration,
    pub headers: &'a [(&'a str, &'a str)],
    pub script: Option<PathBuf>,
}

/// Runs wrk against `url`.
pub fn run_wrk(url: &str, options: &Wrk<'_>) -> anyhow::Result<WrkResult> {
    let mut command = Command::new("wrk");
    command.args([
        &format!("-t{}", options.threads),
        &format!("-c{}", options.connections),
        &format!("-d{}s", options.duration.as_secs().max(1)),
        "--timeout",
        "30s",
        "--latency",
    ]);
    for (name, value) in options.headers {
        command.arg("-H").arg(format!("{name}: {value}"));
    }
    if let Some(script) = &options.script {
        command.arg("-s").arg(script);
    }
    command.arg(url);
    let output = command.output().context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!("wrk failed: {}{}", text, String::from_utf8_lossy(&output.stderr));
    }
    parse_wrk(&text).with_context(|| format!("reading wrk's output:\n{text}"))
}

fn parse_wrk(text: &str) -> anyhow::Result<WrkResult> {
    let mut result = WrkResult::default();
    for line in text.lines().map(str::trim) {
        let mut words = line.split_whitespace();
        match (words.next(), words.next()) {
            (Some("Requests/sec:"), Some(v)) => result.requests_per_sec = v.parse()?,
            (Some("Transfer/sec:"), Some(v)) => result.bytes_per_sec = parse_size(v)?,
            (Some("50%"), Some(v)) => result.p50_ms = parse_duration_ms(v)?,
            (Some("99%"), Some(v)) => result.p99_ms = parse_duration_ms(v)?,
            _ => {}
        }
        if let Some(rest) = line.strip_prefix("Non-2xx or 3xx responses:") {
            result.errors += rest.trim().parse::<u64>()?;
        }
        if let Some(rest) = line.strip_prefix("Socket errors:") {
            // "connect 0, read 0, write 0, timeout 0"
            result.errors +=
                rest.split(',').filter_map(|part| part.split_whitespace().nth(1)?.parse::<u64>().ok()).sum::<u64>();
        }
        if line.contains("requests in") {
            result.requests = line.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(0);
        }
    }
    anyhow::ensure!(result.requests_per_sec > 0.0, "no Requests/sec line");
    Ok(result)
}

/// `2.10GB` → bytes (wrk's units are powers of 1024).
fn parse_size(text: &str) -> anyhow::Result<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor = match unit {
        "" | "B" => 1.0,
        "KB" => 1024.0,
        "MB" => 1024.0 * 1024.0,
        "GB" => 1024.0 * 1024.0 * 1024.0,
        "TB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        other => bail!("unknown unit {other:?}"),
    };
    Ok(number.parse::<f64>()? * factor)
}

/// `1.23ms`, `850.00us`, `1.02s`, `2.00m` → milliseconds.
fn parse_duration_ms(text: &str) -> anyhow::Result<f64> {
    let split = text.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let factor = match unit {
        "us" => 0.001,
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        other => bail!("unknown unit {other:?}"),
    };
    Ok(number.parse::<f64>()? * factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_cpu_time_after_a_command_name_with_spaces() {
        let line = "4242 (tokio (rt) 1) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 75 0 0 20 0 9 0 1 2 3";
        assert_eq!(cpu_time_of(line).unwrap(), Duration::from_millis(3250));
        assert!(cpu_time_of("4242 (x) S 1").is_err());
        // This process, through /proc: a figure that only grows.
        let now = cpu_time(std::process::id()).unwrap();
        assert!(cpu_time(std::process::id()).unwrap() >= now);
    }

    #[test]
    fn reads_wrk_output() {
        let text = "Running 5s test @ http://127.0.0.1:1/\n  2 threads and 64 connections\n  Latency Distribution\n     50%    1.20ms\n     99%  850.00us\n  225000 requests in 5.00s, 2.10GB read\n  Non-2xx or 3xx responses: 3\n  Socket errors: connect 0, read 2, write 0, timeout 1\nRequests/sec:  45000.10\nTransfer/sec:    430.00MB\n";
        let result = parse_wrk(text).expect("parses");
        assert_eq!(result.requests, 225_000);
        assert_eq!(result.errors, 6);
        assert!((result.requests_per_sec - 45000.1).abs() < 1e-6);
        assert!((result.bytes_per_sec - 430.0 * 1024.0 * 1024.0).abs() < 1.0);
        assert!((result.p50_ms - 1.2).abs() < 1e-9);
        assert!((result.p99_ms - 0.85).abs() < 1e-9);
    }
}
