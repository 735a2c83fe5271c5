//! The `docbridge` binary (C2, C22, C26): the first start prints what Workfront needs once,
//! `integration add`/`list` print JSON, `trash` gives deleted items back, and SIGTERM stops the
//! server with exit code 0.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, ChildStdout, Command};

use crate::support::{USER, api_call, id_of};

/// The binary with a clean environment (no inherited `DOCBRIDGE_*`), run inside `data`'s
/// parent so that nothing can land in the source tree.
pub(crate) fn docbridge(data: &Path) -> Command {
    docbridge_through(Command::new(env!("CARGO_BIN_EXE_docbridge")), data)
}

/// As [`docbridge`], through `command`: docbridge itself, or a launcher whose arguments so far
/// end with docbridge's path.
fn docbridge_through(mut command: Command, data: &Path) -> Command {
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("DOCBRIDGE_")) {
        command.env_remove(key);
    }
    command.current_dir(data.parent().expect("data dir has a parent")).arg("--data-dir").arg(data).kill_on_drop(true);
    command
}

/// Runs a command to completion.
pub(crate) async fn run(data: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut command = docbridge(data);
    command.args(args).envs(env.iter().copied());
    tokio::time::timeout(Duration::from_secs(120), command.output())
        .await
        .expect("the command finishes")
        .expect("the binary runs")
}

fn stdout_json(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// A temporary directory and an empty data directory `data` in it.
pub(crate) fn data_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    (dir, data)
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("bound").port()
}

/// A running `docbridge serve`.
pub(crate) struct Served {
    child: Child,
    stdout: BufReader<ChildStdout>,
    pub(crate) base: String,
    log: PathBuf,
}

impl Served {
    /// Starts the server on a free port and polls `/healthz` until it answers.
    pub(crate) async fn start(data: &Path) -> Served {
        Self::start_with(data, &[]).await
    }

    /// Starts the server on a data directory it has not served yet; with the default
    /// integration's ApiKey, which that first start prints, and its base API URL.
    async fn start_first(data: &Path) -> (Served, String, String) {
        let mut server = Self::start(data).await;
        let key = server.printed("ApiKey:").await;
        let api = format!("{}/webhooks/default", server.base);
        (server, key, api)
    }

    /// [`Served::start`] with these environment variables set.
    pub(crate) async fn start_with(data: &Path, env: &[(&str, &str)]) -> Served {
        std::fs::create_dir_all(data).unwrap();
        let port = free_port();
        let base = format!("http://127.0.0.1:{port}");
        let log = data.with_extension("stderr.log");
        let mut child = docbridge(data)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}"), "--public-url", &base])
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("docbridge starts");
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let http = reqwest::Client::new();
        for _ in 0..1200 {
            if let Some(status) = child.try_wait().unwrap() {
                panic!("docbridge exited with {status}: {}", std::fs::read_to_string(&log).unwrap_or_default());
            }
            if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status() == StatusCode::OK) {
                return Served { child, stdout, base, log };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("docbridge did not answer /healthz: {}", std::fs::read_to_string(&log).unwrap_or_default());
    }

    /// The rest of the first stdout line that starts with `label` (after trimming).
    async fn printed(&mut self, label: &str) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            let read = tokio::time::timeout(Duration::from_secs(30), self.stdout.read_line(&mut line))
                .await
                .expect("stdout in time")
                .expect("stdout readable");
            assert!(read > 0, "stdout ended before a line starting with {label:?}");
            if let Some(rest) = line.trim().strip_prefix(label) {
                return rest.trim().to_owned();
            }
        }
    }

    /// SIGTERM, which must end the server with exit code 0; whatever stdout held that was not
    /// read yet.
    pub(crate) async fn stop(mut self) -> String {
        let pid = self.child.id().expect("running").to_string();
        let status = std::process::Command::new("kill").args(["-TERM", &pid]).status().expect("kill runs");
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(60), self.child.wait())
            .await
            .expect("stops in time")
            .expect("exit status");
        let mut rest = String::new();
        self.stdout.read_to_string(&mut rest).await.expect("stdout readable");
        assert_eq!(exit.code(), Some(0), "exit {exit}: {}", std::fs::read_to_string(&self.log).unwrap_or_default());
        rest
    }

    /// Asserts that the server still answers `/healthz` with 200, then stops it.
    async fn stop_still_serving(self) {
        let health = reqwest::get(format!("{}/healthz", self.base)).await.expect("still serving");
        assert_eq!(health.status(), StatusCode::OK);
        self.stop().await;
    }

    /// What the server has logged so far.
    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Polls the log until a line contains `needle`; that line.
    async fn logged(&self, needle: &str) -> String {
        for _ in 0..600 {
            if let Some(line) = self.log().lines().find(|l| l.contains(needle)) {
                return line.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("nothing logged with {needle:?}: {}", self.log());
    }

    fn signal(&self, signal: &str) {
        let pid = self.child.id().expect("running").to_string();
        assert!(std::process::Command::new("kill").args([signal, &pid]).status().unwrap().success());
    }

    fn call(&self, base_api_url: &str, endpoint: &str, key: &str) -> reqwest::RequestBuilder {
        api_call(&reqwest::Client::new(), (base_api_url, key, USER), Method::GET, endpoint, &[])
    }
}

/// Uploads `body` as `name` into the root folder of the integration at `api`; the file's ID.
async fn upload(api: &str, key: &str, name: &str, body: &'static str) -> String {
    let (http, caller) = (reqwest::Client::new(), (api, key, USER));
    let init = api_call(&http, caller, Method::POST, "uploadInit", &[("filename", name)]).send().await.unwrap();
    let init: Value = init.json().await.unwrap();
    let id = id_of(&init).to_owned();
    let reply = api_call(&http, caller, Method::PUT, "upload", &[("id", &id)]).body(body).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK, "upload of {name}");
    id
}

#[tokio::test]
async fn the_first_start_prints_the_credentials_once() {
    let (_dir, data) = data_dir();
    let mut server = Served::start(&data).await;
    let base_api_url = server.printed("Base API URL:").await;
    let key = server.printed("ApiKey:").await;
    assert_eq!(base_api_url, format!("{}/webhooks/default", server.base));
    assert!(key.len() >= 32, "a long random key: {key:?}");
    let reply = server.call(&base_api_url, "files", &key).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    let info: Value = reqwest::get(format!("{base_api_url}/serviceInfo")).await.unwrap().json().await.unwrap();
    assert_eq!(info["customActions"], serde_json::json!([{"name": "archive", "displayName": "Archive"}]));
    assert!(data.join("docbridge.db").is_file(), "SQLite under the data directory");
    assert!(data.join("documents").is_dir(), "documents under the data directory");
    // The default address is one Workfront Cloud cannot call: the banner says so, once per fault.
    let warning = server.printed("Warning:").await;
    assert!(warning.contains("loopback"), "{warning}");
    let warning = server.printed("Warning:").await;
    assert!(warning.contains("plain http"), "{warning}");
    server.stop().await;

    let server = Served::start(&data).await;
    let reply = server.call(&format!("{}/webhooks/default", server.base), "files", &key).send().await.unwrap();
    assert_eq!(reply.status(), StatusCode::OK, "the key stays valid across restarts");
    let stdout = server.stop().await;
    assert!(!stdout.contains("ApiKey") && !stdout.contains(&key), "the key is never printed again: {stdout}");
    assert!(!std::fs::read_to_string(data.with_extension("stderr.log")).unwrap().contains(&key), "nor logged");
}

#[tokio::test]
async fn integration_add_prints_json_that_works() {
    let (_dir, data) = data_dir();
    // Every printed URL starts with the public URL (C26), whatever the server listens on.
    let env = [("DOCBRIDGE_PUBLIC_URL", "https://docs.example.test")];
    let added = stdout_json(
        &run(&data, &["integration", "add", "--name", "Marketing Docs", "--auth", "apikey", "--json"], &env).await,
    );
    assert_eq!(added["slug"], "marketing-docs");
    assert_eq!(added["base_api_url"], "https://docs.example.test/webhooks/marketing-docs");
    let key = added["api_key"].as_str().expect("an api_key").to_owned();
    assert!(key.len() >= 32);

    let listed = stdout_json(&run(&data, &["integration", "list", "--json"], &env).await);
    let entries = listed.as_array().expect("a list");
    let entry = entries.iter().find(|e| e["slug"] == "marketing-docs").expect("listed");
    assert_eq!(entry["enabled"], true);
    assert_eq!(entry["base_api_url"], added["base_api_url"]);
    assert!(entry.get("api_key").is_none(), "list never shows secrets: {entry}");
    assert!(!String::from_utf8_lossy(&run(&data, &["integration", "list"], &env).await.stdout).contains(&key));

    // The same data directory, served: the new integration answers with its key.
    let server = Served::start(&data).await;
    let api = format!("{}/webhooks/marketing-docs", server.base);
    upload(&api, &key, "brief.txt", "brief").await;
    let root = added["root"].as_str().expect("the library folder");
    assert_eq!(std::fs::read(Path::new(root).join("brief.txt")).unwrap(), b"brief");
    assert_eq!(server.call(&api, "files", "wrong").send().await.unwrap().status(), StatusCode::FORBIDDEN);
    assert_eq!(server.call(&api, "files", &key).send().await.unwrap().status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn sighup_does_not_stop_a_plain_http_server() {
    let (_dir, data) = data_dir();
    let server = Served::start(&data).await;
    server.signal("-HUP");
    // Polled, not slept for: once the handler has logged, the signal has been dealt with, and a
    // process that SIGHUP ended would not have logged it.
    server.logged("SIGHUP: configuration read again").await;
    assert!(server.log().lines().filter(|l| l.contains("SIGHUP")).count() == 1, "{}", server.log());
    server.stop_still_serving().await;
}

#[tokio::test]
async fn the_data_directory_and_config_file_can_come_from_the_environment() {
    // What a packaged service and an administrator's shell both set, so that they agree.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("state");
    let config = dir.path().join("docbridge.toml");
    std::fs::write(&config, "public_url = \"https://docs.example.test\"\n").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_docbridge"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("DOCBRIDGE_")) {
        command.env_remove(key);
    }
    command.current_dir(dir.path()).env("DOCBRIDGE_DATA_DIR", &data).env("DOCBRIDGE_CONFIG", &config).args([
        "integration",
        "add",
        "--name",
        "From Env",
        "--auth",
        "apikey",
        "--json",
    ]);
    let output = tokio::time::timeout(Duration::from_secs(120), command.output()).await.unwrap().unwrap();
    let added = stdout_json(&output);
    assert_eq!(added["base_api_url"], "https://docs.example.test/webhooks/from-env", "the file's public_url");
    assert!(data.join("docbridge.db").is_file(), "the registry in DOCBRIDGE_DATA_DIR");
    assert!(!dir.path().join("data").exists(), "nothing in the default ./data");
}

#[tokio::test]
async fn integration_add_refuses_bad_input_naming_the_field() {
    let (_dir, data) = data_dir();
    let first = run(&data, &["integration", "add", "--name", "Sales", "--auth", "apikey", "--json"], &[]).await;
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let cases: [(&[&str], &str); 5] = [
        (&["--name", "Other", "--slug", "Bad Slug!"], "slug"),
        (&["--name", "Sales", "--slug", "sales-2"], "already exists"),
        (&["--name", "Sales Two", "--slug", "sales"], "already exists"),
        (&["--name", "Oauth", "--auth", "oauth2"], "redirect_uri"),
        (&["--name", "Oauth", "--auth", "oauth2", "--redirect-uri", "/relative/callback"], "redirect_uri"),
    ];
    for (args, expected) in cases {
        let mut all = vec!["integration", "add"];
        all.extend_from_slice(args);
        if !args.contains(&"--auth") {
            all.extend_from_slice(&["--auth", "apikey"]);
        }
        let output = run(&data, &all, &[]).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(stderr.contains(expected), "{args:?}: the message names {expected:?}: {stderr}");
    }
    let listed = stdout_json(&run(&data, &["integration", "list", "--json"], &[]).await);
    assert_eq!(listed.as_array().unwrap().len(), 1, "nothing half-registered: {listed}");
}

#[tokio::test]
async fn trash_commands_give_deleted_items_back() {
    let (_dir, data) = data_dir();
    let (server, key, api) = Served::start_first(&data).await;
    let http = reqwest::Client::new();
    let with_key = |request: reqwest::RequestBuilder| request.header("apiKey", &key).header("username", USER);
    let id = upload(&api, &key, "precious.txt", "precious").await;
    assert_eq!(
        with_key(http.put(format!("{api}/delete")).query(&[("id", &id)])).send().await.unwrap().status(),
        StatusCode::OK
    );
    server.stop().await;

    let listed = stdout_json(&run(&data, &["trash", "list", "--json"], &[]).await);
    let rows = listed.as_array().unwrap();
    assert_eq!(rows.len(), 1, "{listed}");
    assert_eq!(rows[0]["item_id"], id.as_str());
    assert_eq!(rows[0]["name"], "precious.txt");
    let trash_id = rows[0]["trash_id"].as_str().unwrap().to_owned();
    let restored = stdout_json(&run(&data, &["trash", "restore", &trash_id, "--json"], &[]).await);
    assert_eq!(restored["restored"], id.as_str());
    assert_eq!(stdout_json(&run(&data, &["trash", "list", "--json"], &[]).await), serde_json::json!([]));

    let server = Served::start(&data).await;
    let api = format!("{}/webhooks/default", server.base);
    let listing: Value = with_key(http.get(format!("{api}/files"))).send().await.unwrap().json().await.unwrap();
    assert_eq!(
        listing.as_array().unwrap().iter().map(|i| i["id"].clone()).collect::<Vec<_>>(),
        [Value::from(id.as_str())]
    );
    let bytes = with_key(http.get(format!("{api}/download")).query(&[("id", &id)]))
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(&bytes[..], b"precious");
    server.stop().await;
}

#[tokio::test]
async fn key_rotation_and_disabling_reach_a_running_server() {
    let (_dir, data) = data_dir();
    let (server, old_key, api) = Served::start_first(&data).await;
    let status = |key: String| {
        let request = server.call(&api, "files", &key);
        async move { request.send().await.unwrap().status() }
    };

    let rotated = stdout_json(&run(&data, &["integration", "rotate-key", "default", "--json"], &[]).await);
    let new_key = rotated["api_key"].as_str().expect("the new key is printed").to_owned();
    assert_ne!(new_key, old_key);
    assert_eq!(status(old_key.clone()).await, StatusCode::OK, "the old key works until revoked");
    assert_eq!(status(new_key.clone()).await, StatusCode::OK);
    stdout_json(&run(&data, &["integration", "revoke-keys", "default", "--keep-newest", "--json"], &[]).await);
    assert_eq!(status(old_key).await, StatusCode::FORBIDDEN);
    assert_eq!(status(new_key.clone()).await, StatusCode::OK);

    stdout_json(&run(&data, &["integration", "disable", "default", "--json"], &[]).await);
    assert_eq!(status(new_key.clone()).await, StatusCode::FORBIDDEN, "disabling takes effect at once");
    let info = reqwest::get(format!("{api}/serviceInfo")).await.unwrap();
    assert_eq!(info.status(), StatusCode::OK);
    stdout_json(&run(&data, &["integration", "enable", "default", "--json"], &[]).await);
    assert_eq!(status(new_key).await, StatusCode::OK);
    server.stop().await;
}

#[tokio::test]
async fn fsck_indexes_what_was_copied_in_and_then_finds_nothing() {
    let (_dir, data) = data_dir();
    Served::start(&data).await.stop().await;
    std::fs::write(data.join("documents/copied.txt"), "copied").unwrap();
    let report = stdout_json(&run(&data, &["fsck", "--json"], &[]).await);
    let indexed = report["default"]["indexed"].as_array().expect("a report for the default integration");
    assert_eq!(indexed.len(), 1, "{report}");
    assert!(indexed[0].as_str().unwrap().contains("copied.txt"), "{report}");
    let again = stdout_json(&run(&data, &["fsck", "--json"], &[]).await);
    for list in ["indexed", "dropped", "updated", "trash_entries_dropped", "trash_orphans"] {
        assert_eq!(again["default"][list], serde_json::json!([]), "{list} after a repair: {again}");
    }
}

#[tokio::test]
async fn metrics_have_a_listener_of_their_own_and_the_public_one_needs_the_token() {
    let (_dir, data) = data_dir();
    let metrics_port = free_port();
    let metrics = format!("127.0.0.1:{metrics_port}");
    let server = Served::start_with(&data, &[("DOCBRIDGE_METRICS__LISTEN", metrics.as_str())]).await;
    let http = reqwest::Client::new();
    let public = http.get(format!("{}/metrics", server.base)).send().await.unwrap();
    assert_eq!(public.status(), StatusCode::NOT_FOUND, "not on the public listener by default");
    assert!(public.text().await.unwrap().contains("[metrics] listen"), "the 404 says where they are");
    let scraped = http.get(format!("http://{metrics}/metrics")).send().await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    let text = scraped.text().await.unwrap();
    assert!(text.contains("docbridge_http_requests_total"), "the public listener's requests are counted: {text}");
    let other = http.get(format!("http://{metrics}/healthz")).send().await.unwrap();
    assert_eq!(other.status(), StatusCode::NOT_FOUND, "the metrics listener serves nothing else");
    server.stop().await;

    // With a token, the public listener serves them to its bearer only; no metrics listener.
    let server = Served::start_with(
        &data,
        &[("DOCBRIDGE_METRICS__LISTEN", ""), ("DOCBRIDGE_METRICS__TOKEN", "scrape-me-please")],
    )
    .await;
    let url = format!("{}/metrics", server.base);
    let anonymous = http.get(&url).send().await.unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(anonymous.headers()["www-authenticate"], "Bearer");
    assert_eq!(http.get(&url).bearer_auth("wrong").send().await.unwrap().status(), StatusCode::UNAUTHORIZED);
    let scraped = http.get(&url).bearer_auth("scrape-me-please").send().await.unwrap();
    assert_eq!(scraped.status(), StatusCode::OK);
    assert!(scraped.text().await.unwrap().contains("docbridge_http_requests_total"));
    assert!(!server.log().contains("scrape-me-please"), "the token is never logged");
    server.stop().await;
}

#[tokio::test]
async fn a_taken_metrics_port_is_one_error_line_and_the_server_serves_on() {
    let (_dir, data) = data_dir();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap().to_string();
    let server = Served::start_with(&data, &[("DOCBRIDGE_METRICS__LISTEN", address.as_str())]).await;
    let line = server.logged("[metrics] listen").await;
    assert!(line.contains(&address) && line.contains("ERROR"), "{line}");
    server.stop_still_serving().await;
}

#[tokio::test]
async fn the_log_format_and_level_come_from_the_file_the_environment_wins_and_a_pipe_gets_no_colours() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("docbridge.toml");
    std::fs::write(&config, "[log]\nformat = \"json\"\nlevel = \"info,tower_http=debug\"\n").unwrap();
    let config = config.to_str().unwrap();
    let data = dir.path().join("data");
    let server = Served::start_with(&data, &[("DOCBRIDGE_CONFIG", config)]).await;
    let line = server.logged("docbridge listening").await;
    let event: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("[log] format = json ({e}): {line}"));
    assert_eq!(event["level"], "INFO");
    // The file's level: tower_http's per-request debug events are there.
    server.logged("finished processing request").await;
    server.stop().await;

    // The environment wins over the file, for the format and for the level.
    let server = Served::start_with(
        &data,
        &[("DOCBRIDGE_CONFIG", config), ("DOCBRIDGE_LOG_FORMAT", "text"), ("DOCBRIDGE_LOG", "warn")],
    )
    .await;
    reqwest::get(format!("{}/healthz", server.base)).await.unwrap();
    server.stop().await;
    let log = std::fs::read_to_string(data.with_extension("stderr.log")).unwrap();
    assert!(!log.contains("docbridge listening"), "DOCBRIDGE_LOG=warn hides info: {log}");
    assert!(!log.contains("finished processing request"), "{log}");

    let server = Served::start_with(&data, &[("DOCBRIDGE_LOG_FORMAT", "text")]).await;
    let line = server.logged("docbridge listening").await;
    assert!(serde_json::from_str::<Value>(&line).is_err(), "text: {line}");
    // Standard error is a file here, not a terminal: no escape codes in it.
    assert!(!server.log().contains('\u{1b}'), "ANSI colours written to a file: {:?}", server.log());
    server.stop().await;

    let bad = run(&data, &["serve"], &[("DOCBRIDGE_LOG__LEVEL", "info,docbridge=loud")]).await;
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("log.level"), "{}", String::from_utf8_lossy(&bad.stderr));
}

/// Socket activation (`docbridge.socket`): systemd holds the port and starts docbridge on the
/// first connection, passing the listening socket as descriptor 3 (`LISTEN_FDS`, `LISTEN_PID`).
/// `systemd-socket-activate` does the same outside systemd. docbridge serves on that socket, not
/// on `[http] listen`.
#[tokio::test]
async fn socket_activation_serves_on_the_socket_systemd_passes() {
    let launcher = Path::new("/usr/bin/systemd-socket-activate");
    assert!(launcher.exists(), "{} is missing: apt-get install systemd (.ci/run does)", launcher.display());
    let (_dir, data) = data_dir();
    let (port, unused) = (free_port(), free_port());
    let log = data.with_extension("stderr.log");
    let mut command = Command::new(launcher);
    command.args(["-l", &format!("127.0.0.1:{port}"), env!("CARGO_BIN_EXE_docbridge")]);
    let mut child = docbridge_through(command, &data)
        .args(["serve", "--listen", &format!("127.0.0.1:{unused}")])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("systemd-socket-activate starts");
    // The launcher listens at once; this first request is what starts docbridge, and waits in
    // the socket's backlog until docbridge accepts it.
    let client = reqwest::Client::builder().timeout(Duration::from_secs(30)).build().unwrap();
    let mut answer = None;
    for _ in 0..600 {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("exited with {status}: {}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        match client.get(format!("http://127.0.0.1:{port}/healthz")).send().await {
            Ok(reply) => {
                answer = Some(reply.status());
                break;
            }
            // Accepted by the socket but never answered: nobody serves on it.
            Err(e) if e.is_timeout() => break,
            Err(_) => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let log_text = || std::fs::read_to_string(&log).unwrap_or_default();
    assert_eq!(answer, Some(StatusCode::OK), "{}", log_text());
    assert!(log_text().contains("socket activation: serving on the socket systemd passed"), "{}", log_text());
    assert!(std::net::TcpStream::connect(("127.0.0.1", unused)).is_err(), "[http] listen was bound too");
    // The launcher exec'd docbridge: the same process, stopped as the service would be.
    let pid = child.id().expect("running").to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let exit = tokio::time::timeout(Duration::from_secs(60), child.wait()).await.expect("stops in time").unwrap();
    assert!(exit.success(), "exit {exit}: {}", log_text());
}

/// A server reading `contents` from its configuration file (`DOCBRIDGE_CONFIG`), which the test
/// may then rewrite; the directory holds both.
async fn served_with_config(contents: &str) -> (tempfile::TempDir, PathBuf, Served) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("docbridge.toml");
    std::fs::write(&config, contents).unwrap();
    let server = Served::start_with(&dir.path().join("data"), &[("DOCBRIDGE_CONFIG", config.to_str().unwrap())]).await;
    (dir, config, server)
}

#[tokio::test]
async fn sighup_reloads_the_limits() {
    let (_dir, config, server) = served_with_config("[http]\nmax_auth_failures_per_minute = 100\n").await;
    let client = reqwest::Client::new();
    let wrong_key = || async {
        let request = client.get(format!("{}/webhooks/default/files", server.base));
        let request = request.header("apiKey", "wrong").header("username", "tester@example.com");
        request.send().await.expect("an answer").status()
    };
    for _ in 0..3 {
        assert_eq!(wrong_key().await, StatusCode::FORBIDDEN);
    }
    // Three failures are already counted: with the reloaded allowance of 3, the next is refused.
    std::fs::write(&config, "[http]\nmax_auth_failures_per_minute = 3\n").unwrap();
    server.signal("-HUP");
    let line = server.logged("SIGHUP: limits applied").await;
    assert!(line.contains("max_auth_failures_per_minute=3"), "{line}");
    assert_eq!(wrong_key().await, StatusCode::TOO_MANY_REQUESTS);
    server.stop_still_serving().await;
}

#[tokio::test]
async fn sighup_reloads_the_log_level_and_a_broken_file_changes_nothing() {
    let (_dir, config, server) = served_with_config("[log]\nlevel = \"warn\"\n").await;
    reqwest::get(format!("{}/healthz", server.base)).await.unwrap();
    assert!(!server.log().contains("docbridge listening"), "warn hides info: {}", server.log());

    std::fs::write(&config, "[log]\nlevel = \"info,tower_http=debug\"\n").unwrap();
    server.signal("-HUP");
    server.logged("SIGHUP: configuration read again").await;
    reqwest::get(format!("{}/openapi.json", server.base)).await.unwrap();
    server.logged("/openapi.json").await;

    // A file that no longer loads: one error line, the level stays, the server serves on.
    std::fs::write(&config, "[log]\nlevel = \"info\"\nlevle = 1\n").unwrap();
    server.signal("-HUP");
    let line = server.logged("nothing reloaded").await;
    assert!(line.contains("levle"), "names the unknown key: {line}");
    reqwest::get(format!("{}/links/view", server.base)).await.unwrap();
    server.logged("/links/view").await;
    server.stop().await;
}

#[tokio::test]
async fn generate_assets_writes_the_man_pages_and_completions_packages_ship() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("assets");
    let done = run(&dir.path().join("data"), &["generate-assets", out.to_str().unwrap()], &[]).await;
    assert!(done.status.success(), "{}", String::from_utf8_lossy(&done.stderr));
    let page = std::fs::read_to_string(out.join("man/docbridge.1")).unwrap();
    assert!(page.contains("doctor") && page.contains("serve"), "the subcommands are in the page: {page}");
    assert!(out.join("man/docbridge-serve.1").is_file(), "one page per subcommand");
    assert!(!page.contains("generate-assets"), "the packagers' command stays hidden");
    let bash = std::fs::read_to_string(out.join("completions/docbridge.bash")).unwrap();
    assert!(bash.contains("doctor") && bash.contains("--data-dir"), "{bash}");
    assert!(out.join("completions/_docbridge").is_file() && out.join("completions/docbridge.fish").is_file());
}
