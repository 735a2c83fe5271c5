//! The server as a process: killed with SIGKILL in the middle of uploads, renames and deletes it
//! loses nothing that was acknowledged and shows nothing partial; stopped with SIGTERM it
//! finishes the requests in flight and refuses new ones.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

struct Server {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
}

impl Server {
    /// Starts `docbridge serve` on a free port and polls `/healthz` until it answers.
    async fn start(data: &Path) -> Server {
        Self::start_with(data, None, &[]).await
    }

    /// Like `start`, with the server's log (at `debug`) written to `log` and `envs` set.
    async fn start_with(data: &Path, log: Option<&Path>, envs: &[(&str, &str)]) -> Server {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let stderr = match log {
            Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
            None => Stdio::null(),
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_docbridge"))
            .args(["--data-dir", data.to_str().unwrap(), "serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS", "0")
            .env("DOCBRIDGE_HTTP__SHUTDOWN_GRACE_SECS", "60")
            .env("DOCBRIDGE_LOG", "debug")
            .envs(envs.iter().copied())
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("docbridge starts");
        let output = Arc::new(Mutex::new(String::new()));
        let stdout = child.stdout.take().unwrap();
        let sink = output.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut out = sink.lock().unwrap();
                out.push_str(&line);
                out.push('\n');
            }
        });
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..600 {
            if client.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
                return Server { child, base, output };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
        panic!("docbridge did not become healthy");
    }

    /// The ApiKey printed on the first start (printed before the listener answers).
    fn api_key(&self) -> String {
        for _ in 0..200 {
            let output = self.output.lock().unwrap().clone();
            if let Some(key) = output.lines().find_map(|l| l.trim().strip_prefix("ApiKey:")) {
                return key.trim().to_owned();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the first start prints the ApiKey");
    }

    fn signal(&self, signal: &str) {
        let status = Command::new("kill").args([signal, &self.child.id().to_string()]).status().unwrap();
        assert!(status.success());
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[derive(Clone)]
struct Api {
    http: reqwest::Client,
    base: String,
    key: String,
}

impl Api {
    fn request(&self, method: reqwest::Method, endpoint: &str, query: &[(&str, &str)]) -> reqwest::RequestBuilder {
        let query = serde_urlencoded::to_string(query).unwrap();
        self.http
            .request(method, format!("{}/webhooks/default/{endpoint}?{query}", self.base))
            .header("apiKey", &self.key)
            .header("username", "tester@example.com")
    }

    async fn json(
        &self,
        method: reqwest::Method,
        endpoint: &str,
        query: &[(&str, &str)],
    ) -> Result<(u16, Value), reqwest::Error> {
        let response = self.request(method, endpoint, query).send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await?))
    }

    async fn upload_new(&self, name: &str, bytes: Vec<u8>) -> Result<String, reqwest::Error> {
        let (_, init) =
            self.json(reqwest::Method::POST, "uploadInit", &[("parentId", "/"), ("filename", name)]).await?;
        let id = init["id"].as_str().unwrap_or_default().to_owned();
        let response = self.request(reqwest::Method::PUT, "upload", &[("id", &id)]).body(bytes).send().await?;
        response.error_for_status()?;
        Ok(id)
    }

    async fn download(&self, id: &str) -> (u16, Vec<u8>) {
        let response = self.request(reqwest::Method::GET, "download", &[("id", id)]).send().await.unwrap();
        (response.status().as_u16(), response.bytes().await.unwrap().to_vec())
    }

    async fn list_root(&self) -> Vec<Value> {
        let (status, listing) = self.json(reqwest::Method::GET, "files", &[("parentId", "/")]).await.unwrap();
        assert_eq!(status, 200);
        listing.as_array().unwrap().clone()
    }
}

fn content(seed: usize, len: usize) -> Vec<u8> {
    (0..len).map(|i| ((i * 31 + seed * 7) % 251) as u8).collect()
}

/// The temporary upload files in a library's `.docbridge/tmp`.
fn temp_uploads(tmp: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(tmp) else { return Vec::new() };
    entries.filter_map(|e| e.ok()?.file_name().into_string().ok()).filter(|name| name.ends_with(".upload")).collect()
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())).permissions().mode() & 0o777
}

/// The database holds the link-signing key (issue #13 finding 8): a first start makes the data
/// directory, the database and its WAL files private, and a start on wider ones says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_data_directory_is_private_and_a_wide_one_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data).await;
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key: server.api_key() };
    api.upload_new("written.txt", b"makes the WAL grow".to_vec()).await.unwrap();
    let db = data.join("docbridge.db");
    assert_eq!(mode(&data), 0o700, "data directory");
    assert_eq!(mode(&db), 0o600, "database");
    for suffix in ["-wal", "-shm"] {
        let file = data.join(format!("docbridge.db{suffix}"));
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
    assert_eq!(mode(&data.join("cache")), 0o700, "thumbnail cache");
    assert_eq!(mode(&data.join("documents")), 0o700, "the default library's folder");
    drop(server);

    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let log = dir.path().join("server.log");
    let server = Server::start_with(&data, Some(&log), &[]).await;
    drop(server);
    let log = std::fs::read_to_string(&log).unwrap();
    let warnings: Vec<&str> =
        log.lines().filter(|l| l.contains("WARN") && l.contains("readable by other users")).collect();
    assert_eq!(warnings.len(), 2, "one line for the folder, one for the database: {warnings:#?}");
    assert!(warnings.iter().any(|l| l.contains("\"755\"")), "{warnings:#?}");
    assert_eq!(mode(&data), 0o755, "an administrator's choice is reported, not changed");
}

fn docbridge(data: &Path, args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO_BIN_EXE_docbridge")).arg("--data-dir").arg(data).args(args).output().unwrap();
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_loses_nothing_acknowledged_and_shows_nothing_partial() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data).await;
    let key = server.api_key();
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key: key.clone() };

    // Acknowledged work: uploads, renames, deletes, a reservation.
    let mut expected: HashMap<String, (String, Vec<u8>)> = HashMap::new();
    let mut ids = Vec::new();
    for i in 0..12 {
        let name = format!("file-{i}.bin");
        let bytes = content(i, 64 * 1024 + i);
        let id = api.upload_new(&name, bytes.clone()).await.unwrap();
        ids.push(id.clone());
        expected.insert(id, (name, bytes));
    }
    for id in &ids[..3] {
        let new_name = format!("renamed-{}", expected[id].0);
        let (status, _) = api.json(reqwest::Method::PUT, "rename", &[("id", id), ("name", &new_name)]).await.unwrap();
        assert_eq!(status, 200);
        expected.get_mut(id).unwrap().0 = new_name;
    }
    let deleted_ids: Vec<String> = ids[3..5].to_vec();
    for id in &deleted_ids {
        let (status, _) = api.json(reqwest::Method::PUT, "delete", &[("documentId", id)]).await.unwrap();
        assert_eq!(status, 200);
        expected.remove(id);
    }
    let (_, reservation) =
        api.json(reqwest::Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "later.txt")]).await.unwrap();
    let reserved_id = reservation["id"].as_str().unwrap().to_owned();

    // In flight when the server dies: a replacement of a file that never completes ...
    let victim = ids[5].clone();
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    tx.unbounded_send(Ok(vec![0xEE; 256 * 1024])).unwrap();
    let stalled = tokio::spawn(
        api.request(reqwest::Method::PUT, "upload", &[("id", &victim)]).body(reqwest::Body::wrap_stream(rx)).send(),
    );
    // ... and a stream of uploads and renames racing the kill.
    let racing = api.clone();
    let churn = tokio::spawn(async move {
        let mut acknowledged = Vec::new();
        for i in 100..10_000 {
            let name = format!("churn-{i}.bin");
            let bytes = content(i, 32 * 1024);
            let Ok(id) = racing.upload_new(&name, bytes.clone()).await else { break };
            let renamed = format!("churned-{i}.bin");
            let renamed_ok = matches!(
                racing.json(reqwest::Method::PUT, "rename", &[("id", &id), ("name", &renamed)]).await,
                Ok((200, _))
            );
            acknowledged.push((id, if renamed_ok { renamed } else { name }, bytes));
        }
        acknowledged
    });
    // The stalled upload is being written to its temporary file.
    let tmp = data.join("documents/.docbridge/tmp");
    for _ in 0..500 {
        if !temp_uploads(&tmp).is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..2000 {
        let churned = api
            .list_root()
            .await
            .iter()
            .filter(|i| i["title"].as_str().is_some_and(|t| t.starts_with("churned-")))
            .count();
        if churned >= 5 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    let acknowledged_churn = churn.await.unwrap();
    assert!(acknowledged_churn.len() >= 4, "the churn ran before the kill");
    let stalled = stalled.await.unwrap();
    assert!(stalled.is_err() || !stalled.unwrap().status().is_success(), "the stalled upload cannot have succeeded");
    drop(tx);
    drop(server);

    let leftovers = temp_uploads(&tmp);
    assert!(!leftovers.is_empty(), "the kill left the stalled upload's temporary file");

    let server = Server::start(&data).await;
    assert!(!server.output.lock().unwrap().contains("ApiKey:"), "the key is printed only on the first start");
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key };
    // The first call opens the library, which reclaims what the dead process left at once
    // (issue #13 finding 11: not an hour later).
    api.list_root().await;
    assert_eq!(temp_uploads(&tmp), Vec::<String>::new(), "dead uploads' temporary files are reclaimed at start");

    for (id, (name, bytes)) in &expected {
        let (status, meta) = api.json(reqwest::Method::GET, "metadata", &[("id", id)]).await.unwrap();
        assert_eq!(status, 200, "{name} survived with its ID");
        assert_eq!(meta["title"], name.as_str());
        let (status, body) = api.download(id).await;
        assert_eq!(status, 200);
        assert!(body == *bytes, "{name}: content intact (an interrupted replacement leaves the old bytes)");
    }
    for (id, name, bytes) in &acknowledged_churn {
        let (status, meta) = api.json(reqwest::Method::GET, "metadata", &[("id", id)]).await.unwrap();
        assert_eq!(status, 200, "{name} survived");
        let title = meta["title"].as_str().unwrap();
        // The last rename raced the kill: either name, never anything else.
        assert!(
            title == name || title.replace("churned-", "churn-") == name.replace("churned-", "churn-"),
            "{title} vs {name}"
        );
        assert!(api.download(id).await.1 == *bytes);
    }
    for id in &deleted_ids {
        let (status, _) = api.json(reqwest::Method::GET, "metadata", &[("id", id)]).await.unwrap();
        assert_eq!(status, 404, "deleted items stay deleted");
    }
    // Nothing partial is visible: every listed file has exactly the size its writer sent.
    for item in api.list_root().await {
        let title = item["title"].as_str().unwrap().to_owned();
        assert!(!title.starts_with('.'), "no bookkeeping is listed: {title}");
        if item["kind"] == "file" && title.ends_with(".bin") {
            let digits: String = title.chars().filter(char::is_ascii_digit).collect();
            let seed: usize = digits.parse().unwrap();
            let full = if title.contains("churn") { 32 * 1024 } else { 64 * 1024 + seed };
            assert_eq!(item["size"].as_u64().unwrap(), full as u64, "{title} is whole");
        }
    }
    // A reservation made before the crash can still be completed.
    let response = api
        .request(reqwest::Method::PUT, "upload", &[("id", &reserved_id)])
        .body("after the crash")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(api.download(&reserved_id).await.1, b"after the crash");

    // fsck drops no acknowledged item; the deleted ones wait in the trash.
    let report = docbridge(&data, &["fsck", "--json"]);
    for id in expected.keys() {
        assert!(!report["default"]["dropped"].to_string().contains(id.as_str()), "fsck dropped an acknowledged item");
    }
    let trash = docbridge(&data, &["trash", "list", "--json"]);
    for id in &deleted_ids {
        assert!(trash.as_array().unwrap().iter().any(|t| t["item_id"] == id.as_str()), "{id} is in the trash");
    }
    let dropped = report["default"]["dropped"].as_array().map_or(0, Vec::len);
    eprintln!(
        "lifecycle/sigkill: {} acknowledged items before the kill ({} set up, {} upload-and-rename pairs racing it), 0 lost, 0 partial files listed; {} deletes in the trash; reservation completed after restart; fsck dropped {dropped} entries",
        expected.len() + acknowledged_churn.len(),
        expected.len(),
        acknowledged_churn.len(),
        deleted_ids.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_requests_in_flight_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start(&data).await;
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key: server.api_key() };
    let (_, init) =
        api.json(reqwest::Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "slow.bin")]).await.unwrap();
    let id = init["id"].as_str().unwrap().to_owned();

    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    tx.unbounded_send(Ok(vec![1; 100_000])).unwrap();
    let upload = tokio::spawn(
        api.request(reqwest::Method::PUT, "upload", &[("id", &id)]).body(reqwest::Body::wrap_stream(rx)).send(),
    );
    // Wait until the server is streaming this upload: its temporary file appears.
    let tmp = data.join("documents/.docbridge/tmp");
    for _ in 0..500 {
        if std::fs::read_dir(&tmp).is_ok_and(|mut d| d.next().is_some()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    server.signal("-TERM");
    let mut refused = false;
    for _ in 0..500 {
        if reqwest::Client::new().get(format!("{}/healthz", server.base)).send().await.is_err() {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(refused, "new requests are refused after SIGTERM");
    tx.unbounded_send(Ok(vec![2; 100_000])).unwrap();
    drop(tx);
    let response = upload.await.unwrap().expect("the upload in flight completes");
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap(), serde_json::json!({"result": "success"}));
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    drop(server);

    let server = Server::start(&data).await;
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key: api.key.clone() };
    let (status, body) = api.download(&id).await;
    assert_eq!(status, 200);
    assert_eq!(body.len(), 200_000);
    assert!(body[..100_000].iter().all(|b| *b == 1) && body[100_000..].iter().all(|b| *b == 2));
    eprintln!(
        "lifecycle/sigterm: new connections refused after SIGTERM; the upload in flight completed with all {} bytes; exit status 0",
        body.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_never_contain_a_secret() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("server.log");
    let server = Server::start_with(&data, Some(&log), &[]).await;
    let key = server.api_key();
    let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key: key.clone() };
    let mut secrets = vec![key.clone()];

    // A full run: uploads, listings, links, failures, a rotated-in second integration.
    let id = api.upload_new("secret-test.txt", b"hello".to_vec()).await.unwrap();
    let (_, meta) = api.json(reqwest::Method::GET, "metadata", &[("id", &id)]).await.unwrap();
    for link in ["viewLink", "downloadLink"] {
        let url = meta[link].as_str().unwrap().to_owned();
        let signature = url.rsplit("s=").next().unwrap().to_owned();
        secrets.push(signature);
        assert_eq!(reqwest::get(&url).await.unwrap().status(), 200);
    }
    api.list_root().await;
    let wrong = Api { key: format!("{key}x"), ..api.clone() };
    assert_eq!(wrong.json(reqwest::Method::GET, "files", &[]).await.unwrap().0, 403);
    let added = Command::new(env!("CARGO_BIN_EXE_docbridge"))
        .args([
            "--data-dir",
            data.to_str().unwrap(),
            "integration",
            "add",
            "--name",
            "Second",
            "--auth",
            "oauth2",
            "--redirect-uri",
            "https://wf.example.com/cb",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    let added: Value = serde_json::from_slice(&added.stdout).unwrap();
    secrets.push(added["client_secret"].as_str().unwrap().to_owned());
    assert_eq!(reqwest::get(format!("{}/webhooks/second/serviceInfo", server.base)).await.unwrap().status(), 200);
    drop(server);

    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("request"), "the log recorded the run (debug level): {} bytes", log.len());
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "a secret appears in the log");
    }
    eprintln!(
        "lifecycle/secrets: {} secrets (ApiKey, 2 link signatures, OAuth2 client secret) searched in {} log lines ({} bytes, debug level): 0 found",
        secrets.len(),
        log.lines().count(),
        log.len()
    );
}

/// `[http] threads`: that many serving threads, each with a runtime of its own (`threads.rs`);
/// many connections at once are all answered, and SIGTERM stops every thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_serving_threads_serve_and_all_stop_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut server = Server::start_with(&data, None, &[("DOCBRIDGE_HTTP__THREADS", "3")]).await;
    assert_eq!(crate::support::first_start::serving_threads(server.child.id()), ["serve-0", "serve-1", "serve-2"]);

    // A client per upload: each is a connection of its own, handed to the threads in turn.
    let key = server.api_key();
    let uploads = (0..24).map(|i| {
        let api = Api { http: reqwest::Client::new(), base: server.base.clone(), key: key.clone() };
        tokio::spawn(async move {
            let bytes = content(i, 3_000 + i * 100);
            let id = api.upload_new(&format!("threads-{i}.bin"), bytes.clone()).await.unwrap();
            assert_eq!(api.download(&id).await, (200, bytes));
        })
    });
    for upload in futures::future::join_all(uploads).await {
        upload.unwrap();
    }
    server.signal("-TERM");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    eprintln!("lifecycle/threads: 3 serving threads; 24 clients uploaded and read back; exit status 0 on SIGTERM");
}
