//! The real `docbridge` binary started on an empty data directory, for tests that need what its
//! first start prints (the Base API URL and the ApiKey of the default integration).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A `docbridge` command on `data_dir`, with no configuration inherited from the environment.
pub fn docbridge(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_docbridge"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("DOCBRIDGE_")) {
        command.env_remove(key);
    }
    command.env("DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS", "0");
    command.args(["--data-dir", data_dir.to_str().expect("UTF-8 path")]);
    command
}

/// The names of the serving threads (`serve-N`, `[http] threads`) of process `pid`, sorted.
pub fn serving_threads(pid: u32) -> Vec<String> {
    let mut serving: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/task"))
        .expect("the process's threads")
        .filter_map(|task| std::fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim().to_owned())
        .filter(|name| name.starts_with("serve-"))
        .collect();
    serving.sort();
    serving
}

/// `docbridge serve` on 127.0.0.1 at a port of its choosing, killed when dropped; its output is
/// read up to the ApiKey line.
pub struct FirstStart {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    pub base_api_url: String,
    pub api_key: String,
}

impl FirstStart {
    pub fn spawn(data_dir: &Path) -> FirstStart {
        Self::spawn_with(data_dir, &[])
    }

    /// As [`FirstStart::spawn`], with these `DOCBRIDGE_*` variables (a store's settings).
    pub fn spawn_with(data_dir: &Path, env: &[(String, String)]) -> FirstStart {
        let mut child = docbridge(data_dir)
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("docbridge starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
        let mut field = |name: &str| {
            lines
                .find_map(|line| line.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
                .unwrap_or_else(|| panic!("the first start prints {name}"))
        };
        let base_api_url = field("Base API URL:");
        let api_key = field("ApiKey:");
        let base = base_api_url.strip_suffix("/webhooks/default").expect("the default integration's URL").to_owned();
        FirstStart { child, base, base_api_url, api_key }
    }

    /// Polls `/healthz` until it answers 200; panics if the process exits first.
    pub async fn wait_healthy(&mut self) {
        wait_healthy(&mut self.child, &self.base).await;
    }
}

/// Polls `{base}/healthz` until it answers 200; panics if `child` exits first.
pub async fn wait_healthy(child: &mut Child, base: &str) {
    let client = reqwest::Client::new();
    for _ in 0..600 {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("docbridge exited with {status}");
        }
        if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("docbridge did not answer /healthz");
}

impl Drop for FirstStart {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// Kills a child process and reaps it, for the `Drop` of whatever runs one.
pub fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
