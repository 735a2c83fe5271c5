//! What `cargo xtask chaos` runs docbridge on: PostgreSQL and an S3 server (started by
//! `.ci/postgres.sh` and `.ci/s3.sh`, in folders of the run's own) or one SQLite file and one
//! folder; and the docbridge processes that share them, each on a fixed loopback port so that a
//! killed process comes back where the clients look for it. Everything is stopped by its own
//! process ID when dropped, on errors and panics too.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::bench::procs::{Proc, free_port, local, wait_until_answering};

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// PostgreSQL's binaries: Debian keeps them out of PATH (as `.ci/postgres.sh` finds them).
fn pg_bindir() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|d| d.join("pg_ctl").exists())
        .collect();
    dirs.sort_by_key(|d| {
        d.parent().and_then(|v| v.file_name()).and_then(|v| v.to_str()).and_then(|v| v.parse::<u32>().ok()).unwrap_or(0)
    });
    dirs.pop()
}

/// Runs `.ci/SCRIPT ACTION` (`start` or `stop`) with its server folder `dir` in the variable
/// `dir_var`; what it prints on standard output (the address) is not needed: we read its files.
fn ci_script(script: &str, dir_var: &str, dir: &Path, action: &str) -> std::io::Result<ExitStatus> {
    Command::new(workspace().join(".ci").join(script)).arg(action).env(dir_var, dir).stdout(Stdio::null()).status()
}

fn running_as_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .is_ok_and(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
}

/// A cluster of `.ci/postgres.sh` in `dir` (the benchmark's PostgreSQL rows use it too),
/// stopped when dropped.
pub(crate) struct Postgres {
    dir: PathBuf,
}

impl Postgres {
    pub(crate) fn start(dir: &Path) -> anyhow::Result<(Postgres, String)> {
        let status = ci_script("postgres.sh", "PGTMP", dir, "start").context("running .ci/postgres.sh")?;
        // Dropped on every way out from here on: the script may have started it before failing.
        let postgres = Postgres { dir: dir.to_owned() };
        anyhow::ensure!(status.success(), ".ci/postgres.sh start failed");
        let url = std::fs::read_to_string(dir.join("url")).context("the cluster's URL")?.trim().to_owned();
        Ok((postgres, url))
    }

    /// An immediate shutdown (as a crash would leave it) and a start with the same options.
    fn restart(&self) -> anyhow::Result<()> {
        let pg_ctl = pg_bindir().map_or_else(|| PathBuf::from("pg_ctl"), |d| d.join("pg_ctl"));
        let mut command = if running_as_root() {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(pg_ctl);
            c
        } else {
            Command::new(pg_ctl)
        };
        command
            .arg("-D")
            .arg(self.dir.join("data"))
            .args(["-m", "immediate", "-w", "-t", "60", "-l"])
            .arg(self.dir.join("server.log"))
            .arg("restart")
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        anyhow::ensure!(
            command.status()?.success(),
            "pg_ctl restart failed; see {}",
            self.dir.join("server.log").display()
        );
        Ok(())
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        let _ = ci_script("postgres.sh", "PGTMP", &self.dir, "stop");
    }
}

/// An `rclone serve s3` of `.ci/s3.sh` in `dir`.
struct S3 {
    dir: PathBuf,
    pid: String,
}

impl S3 {
    fn start(dir: &Path) -> anyhow::Result<(S3, HashMap<String, String>)> {
        let status = ci_script("s3.sh", "S3TMP", dir, "start").context("running .ci/s3.sh")?;
        let pid = std::fs::read_to_string(dir.join("rclone.pid")).unwrap_or_default().trim().to_owned();
        let s3 = S3 { dir: dir.to_owned(), pid };
        anyhow::ensure!(status.success(), ".ci/s3.sh start failed");
        let env = std::fs::read_to_string(dir.join("env")).context("the S3 server's variables")?;
        let vars = env
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect();
        Ok((s3, vars))
    }

    fn signal(&self, signal: &str) {
        if !self.pid.is_empty() {
            let _ = Command::new("kill").args([signal, &self.pid]).status();
        }
    }
}

impl Drop for S3 {
    fn drop(&mut self) {
        // A paused server would not hear SIGTERM.
        self.signal("-CONT");
        let _ = ci_script("s3.sh", "S3TMP", &self.dir, "stop");
    }
}

/// The shared database and storage of a run, and how to configure docbridge for them.
pub struct Services {
    postgres: Option<Postgres>,
    s3: Option<S3>,
    /// `DOCBRIDGE_*` variables every process and command gets.
    pub env: Vec<(String, String)>,
    /// The library's files as they lie on disk (the S3 server keeps objects as files).
    pub library_dir: PathBuf,
}

impl Services {
    pub fn pg_s3(scratch: &Path) -> anyhow::Result<Services> {
        let (postgres, url) = Postgres::start(&scratch.join("postgres"))?;
        let (s3, vars) = S3::start(&scratch.join("s3"))?;
        let var = |name: &str| vars.get(&format!("DOCBRIDGE_TEST_S3_{name}")).cloned().unwrap_or_default();
        let bucket = var("BUCKET");
        let env = [
            ("DATABASE__URL", url),
            ("STORAGE__KIND", "s3".to_owned()),
            ("STORAGE__S3__ENDPOINT", var("ENDPOINT")),
            ("STORAGE__S3__ALLOW_HTTP", "true".to_owned()),
            ("STORAGE__S3__REGION", var("REGION")),
            ("STORAGE__S3__BUCKET", bucket.clone()),
            ("STORAGE__S3__PREFIX", "chaos".to_owned()),
            ("STORAGE__S3__ACCESS_KEY_ID", var("KEY")),
            ("STORAGE__S3__SECRET_ACCESS_KEY", var("SECRET")),
        ];
        let library_dir = scratch.join("s3/data").join(bucket).join("chaos/documents");
        Ok(Services {
            postgres: Some(postgres),
            s3: Some(s3),
            env: env.into_iter().map(|(k, v)| (format!("DOCBRIDGE_{k}"), v)).collect(),
            library_dir,
        })
    }

    pub fn sqlite_fs(scratch: &Path) -> anyhow::Result<Services> {
        let shared = scratch.join("shared");
        let library_dir = shared.join("documents");
        std::fs::create_dir_all(&library_dir)?;
        let env = vec![
            (
                "DOCBRIDGE_DATABASE__URL".to_owned(),
                format!("sqlite://{}?mode=rwc", shared.join("docbridge.db").display()),
            ),
            ("DOCBRIDGE_STORAGE__ROOT".to_owned(), library_dir.display().to_string()),
        ];
        Ok(Services { postgres: None, s3: None, env, library_dir })
    }

    pub fn restart_postgres(&self) -> anyhow::Result<bool> {
        match &self.postgres {
            Some(pg) => pg.restart().map(|()| true),
            None => Ok(false),
        }
    }

    /// Pauses the S3 server (SIGSTOP) for `pause`, then resumes it.
    pub fn pause_s3(&self, pause: Duration) -> bool {
        let Some(s3) = &self.s3 else { return false };
        s3.signal("-STOP");
        std::thread::sleep(pause);
        s3.signal("-CONT");
        true
    }

    /// A `docbridge` command with this run's configuration and nothing inherited from ours.
    pub fn docbridge(&self, binary: &Path, data_dir: &Path) -> Command {
        let mut command = Command::new(binary);
        for (name, _) in std::env::vars_os() {
            if name.to_string_lossy().starts_with("DOCBRIDGE_") {
                command.env_remove(name);
            }
        }
        command.arg("--data-dir").arg(data_dir).envs(self.env.iter().cloned());
        command
    }
}

/// One docbridge process of the run: its fixed address, and the process while it runs.
pub struct Node {
    pub index: usize,
    pub addr: SocketAddr,
    data_dir: PathBuf,
    log: PathBuf,
    proc: Mutex<Option<Proc>>,
}

impl Node {
    pub fn new(index: usize, scratch: &Path) -> anyhow::Result<Node> {
        let data_dir = scratch.join(format!("node{index}"));
        std::fs::create_dir_all(&data_dir)?;
        Ok(Node {
            index,
            addr: local(free_port()?),
            log: scratch.join(format!("node{index}.log")),
            data_dir,
            proc: Mutex::new(None),
        })
    }

    /// Starts the process and waits until it answers; answers the `ApiKey:` a first start prints.
    pub fn start(&self, services: &Services, binary: &Path, rescan_secs: u64) -> anyhow::Result<Option<String>> {
        let log = std::fs::File::options().create(true).append(true).open(&self.log)?;
        let mut command = services.docbridge(binary, &self.data_dir);
        command
            .args(["serve", "--listen", &self.addr.to_string()])
            .env("DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS", rescan_secs.to_string())
            .stdout(Stdio::piped())
            .stderr(log);
        let started = Instant::now();
        let mut last = None;
        // The port may still be held for a moment by the process just killed.
        for _ in 0..5 {
            let mut proc = Proc::spawn("docbridge", &mut command)?;
            let (found, key) = std::sync::mpsc::channel();
            if let Some(stdout) = proc.take_stdout() {
                // Drains stdout for the process's life, so that it can never block on a full pipe.
                std::thread::spawn(move || {
                    for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                        if let Some(value) = line.trim().strip_prefix("ApiKey:") {
                            let _ = found.send(value.trim().to_owned());
                        }
                    }
                });
            }
            match wait_until_answering(&mut proc, self.addr, "GET", "/healthz", started, Duration::from_secs(120)) {
                Ok(_) => {
                    let key = key.recv_timeout(Duration::from_millis(300)).ok();
                    *self.proc.lock().unwrap_or_else(|e| e.into_inner()) = Some(proc);
                    return Ok(key);
                }
                Err(e) => {
                    proc.kill();
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(500));
                }
            }
        }
        bail!("docbridge {} did not start on {} ({:?}); see {}", self.index, self.addr, last, self.log.display())
    }

    /// SIGKILL; answers whether a process was running.
    pub fn kill(&self) -> bool {
        let proc = self.proc.lock().unwrap_or_else(|e| e.into_inner()).take();
        proc.map(Proc::kill).is_some()
    }

    /// SIGTERM, and the process's exit awaited.
    pub fn stop(&self) {
        if let Some(proc) = self.proc.lock().unwrap_or_else(|e| e.into_inner()).take() {
            proc.stop();
        }
    }

    /// Whether the process runs; one that exited on its own is a finding.
    pub fn running(&self) -> Result<bool, String> {
        let mut guard = self.proc.lock().unwrap_or_else(|e| e.into_inner());
        let Some(proc) = guard.as_mut() else { return Ok(false) };
        if proc.exited() {
            guard.take();
            return Err(format!("docbridge {} exited on its own; see {}", self.index, self.log.display()));
        }
        Ok(true)
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}
