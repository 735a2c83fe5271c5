//! The one test harness of the server's test binaries (`tests/it/`, `tests/process/`): an
//! in-process docbridge on a temporary data directory (`in_process`), a client that speaks to it
//! over real HTTP, assertions on the contract's shapes, the real binary's first start
//! (`first_start`) and the OAuth2 pages driven as a browser drives them (`oauth_pages`).

#![allow(dead_code)] // Each test binary uses part of it.

pub mod first_start;
pub mod in_process;
pub mod oauth_pages;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use docbridge_documents::{ConflictPolicy, Library, LibrarySettings};
use docbridge_registry::{Integration, Registry};
use docbridge_server::{AppState, BuiltinStorage, setup};
use in_process::Serving;
use reqwest::header::HeaderMap;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;
use tempfile::TempDir;

/// The `username` header every test call sends.
pub const USER: &str = "tester@example.com";
/// The publisher the test servers announce in `/serviceInfo`.
pub const PUBLISHER: &str = "docbridge tests";
/// The twelve endpoint names of C1, as the protocol crate spells them.
pub fn endpoints() -> impl Iterator<Item = &'static str> {
    docbridge_protocol::Endpoint::ALL.into_iter().map(docbridge_protocol::Endpoint::as_str)
}

/// Polls `probe` every 25 ms until it answers `Some`, and answers that; panics naming `what`
/// after about 30 seconds (a safety net against a hang, never an expectation about speed).
pub async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut probe: impl FnMut() -> F) -> T {
    for _ in 0..1200 {
        if let Some(found) = probe().await {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("never happened: {what}")
}

/// How a test server is configured.
#[derive(Debug, Clone)]
pub struct Options {
    pub max_upload_bytes: u64,
    pub link_ttl: chrono::Duration,
    pub max_auth_failures_per_minute: u32,
    pub conflict_policy: ConflictPolicy,
    pub reservation_ttl: chrono::Duration,
    pub trash_retention: chrono::Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            max_upload_bytes: LibrarySettings::default().max_upload_bytes,
            link_ttl: chrono::Duration::hours(1),
            max_auth_failures_per_minute: 10_000,
            conflict_policy: ConflictPolicy::Rename,
            reservation_ttl: LibrarySettings::default().reservation_ttl,
            trash_retention: LibrarySettings::default().trash_retention,
        }
    }
}

/// A docbridge serving the `default` integration from a temporary data directory: the
/// in-process server of [`in_process`] with the settings [`Options`] change, and a client.
pub struct TestServer {
    /// `http://127.0.0.1:PORT`, which is also the server's `public_url`.
    pub base: String,
    /// The default integration's ApiKey.
    pub key: String,
    pub http: reqwest::Client,
    pub registry: Registry,
    pub state: AppState,
    dir: TempDir,
    options: Options,
    serving: Option<Serving>,
}

impl TestServer {
    pub async fn start() -> TestServer {
        Self::with_options(Options::default()).await
    }

    pub async fn with_options(options: Options) -> TestServer {
        let dir = tempfile::tempdir().expect("temporary data directory");
        Self::boot(dir, options, None).await
    }

    /// Stops this server and starts another on the same data directory (database and
    /// documents), as a process restart would.
    pub async fn restart(mut self) -> TestServer {
        if let Some(serving) = self.serving.take() {
            serving.stop().await;
        }
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("placeholder directory"));
        let (options, key) = (self.options.clone(), self.key.clone());
        drop(self);
        Self::boot(dir, options, Some(key)).await
    }

    async fn boot(dir: TempDir, options: Options, key: Option<String>) -> TestServer {
        let registry = in_process::registry(dir.path()).await;
        let docs = dir.path().join("documents");
        std::fs::create_dir_all(&docs).expect("documents folder");
        let (listener, base) = in_process::listen().await;
        let credentials =
            setup::ensure_default_integration(&registry, &base, &docs).await.expect("default integration");
        let key = match (credentials, key) {
            (Some(credentials), None) => credentials.api_key.expect("the default integration uses an ApiKey"),
            (None, Some(key)) => key,
            (Some(_), Some(_)) => panic!("a restart must find the default integration registered"),
            (None, None) => panic!("a fresh data directory must get the default integration"),
        };
        let mut settings = in_process::settings(&base, dir.path(), PUBLISHER);
        settings.link_ttl = options.link_ttl;
        settings.max_auth_failures_per_minute = options.max_auth_failures_per_minute;
        settings.library = Arc::new(LibrarySettings {
            max_upload_bytes: options.max_upload_bytes,
            conflict_policy: options.conflict_policy,
            reservation_ttl: options.reservation_ttl,
            trash_retention: options.trash_retention,
            ..(*settings.library).clone()
        });
        let state =
            AppState::new(registry.clone(), settings, Arc::new(BuiltinStorage::default())).await.expect("state");
        let serving = Serving::start(listener, state.clone());
        TestServer { base, key, http: reqwest::Client::new(), registry, state, dir, options, serving: Some(serving) }
    }

    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The default integration's documents folder.
    pub fn docs(&self) -> PathBuf {
        self.dir.path().join("documents")
    }

    /// The Base API URL of the default integration.
    pub fn api(&self) -> String {
        format!("{}/webhooks/default", self.base)
    }

    pub async fn integration(&self) -> Integration {
        self.registry.integration("default").await.expect("registry answers").expect("default integration exists")
    }

    pub async fn library(&self) -> Arc<Library> {
        self.state.library(&self.integration().await).expect("library opens")
    }

    /// A call to an endpoint of the default integration with valid credentials.
    pub fn call(&self, method: Method, endpoint: &str, query: &[(&str, &str)]) -> RequestBuilder {
        api_call(&self.http, (&self.api(), &self.key, USER), method, endpoint, query)
    }

    /// A call without credentials.
    pub fn anonymous(&self, method: Method, endpoint: &str, query: &[(&str, &str)]) -> RequestBuilder {
        self.http.request(method, format!("{}/{endpoint}", self.api())).query(query)
    }

    /// A call with valid credentials whose parameters are a form body.
    pub async fn send_form(&self, method: Method, endpoint: &str, form: &[(&str, &str)]) -> Reply {
        send(self.call(method, endpoint, &[]).form(form)).await
    }

    pub async fn get(&self, endpoint: &str, query: &[(&str, &str)]) -> Reply {
        send(self.call(Method::GET, endpoint, query)).await
    }

    /// A call that must answer 200 with JSON.
    pub async fn ok_json(&self, method: Method, endpoint: &str, query: &[(&str, &str)]) -> Value {
        let reply = send(self.call(method, endpoint, query)).await;
        assert_eq!(reply.status, StatusCode::OK, "{endpoint} {query:?} answered {}", reply.text());
        reply.json()
    }

    /// The children of a folder, as `/files` lists them.
    pub async fn list(&self, parent: &str) -> Vec<Value> {
        array(self.ok_json(Method::GET, "files", &[("parentId", parent)]).await)
    }

    pub async fn metadata(&self, id: &str) -> Reply {
        self.get("metadata", &[("id", id)]).await
    }

    pub async fn upload_init(&self, parent: &str, filename: &str) -> Value {
        self.ok_json(Method::POST, "uploadInit", &[("parentId", parent), ("filename", filename)]).await
    }

    pub async fn put_bytes(&self, id: &str, bytes: impl Into<reqwest::Body>) -> Reply {
        send(self.call(Method::PUT, "upload", &[("id", id)]).body(bytes)).await
    }

    /// `/uploadInit` then `/upload`; answers the metadata `/uploadInit` gave.
    pub async fn upload(&self, parent: &str, filename: &str, bytes: impl Into<reqwest::Body>) -> Value {
        let init = self.upload_init(parent, filename).await;
        let reply = self.put_bytes(id_of(&init), bytes).await;
        assert_eq!(reply.status, StatusCode::OK, "upload of {filename} answered {}", reply.text());
        assert_eq!(reply.json(), serde_json::json!({"result": "success"}));
        init
    }

    /// Asserts that the root lists nothing and that no file is left in the documents folder.
    pub async fn assert_empty(&self) {
        assert!(self.list("/").await.is_empty(), "the root lists nothing");
        assert!(visible_files(&self.docs()).is_empty(), "{:?}", visible_files(&self.docs()));
    }

    /// `/delete` of the item `param` names, which must succeed.
    pub async fn delete(&self, param: &str, id: &str) {
        let reply = send(self.call(Method::PUT, "delete", &[(param, id)])).await;
        assert_eq!(reply.status, StatusCode::OK, "delete of {param}={id} answered {}", reply.text());
    }

    /// The default integration's trash entries.
    pub async fn trash(&self) -> Vec<docbridge_registry::TrashEntry> {
        self.registry.trash_entries(Some(self.integration().await.id)).await.expect("registry answers")
    }

    pub async fn create_folder(&self, parent: &str, name: &str) -> Value {
        self.ok_json(Method::POST, "createFolder", &[("parentId", parent), ("name", name)]).await
    }

    pub async fn download(&self, id: &str) -> Reply {
        self.get("download", &[("id", id)]).await
    }

    /// The bytes of a file, which must download.
    pub async fn content(&self, id: &str) -> Vec<u8> {
        let reply = self.download(id).await;
        assert_eq!(reply.status, StatusCode::OK, "download of {id} answered {}", reply.text());
        reply.body.to_vec()
    }

    pub async fn search(&self, query: &[(&str, &str)]) -> Vec<Value> {
        array(self.ok_json(Method::GET, "search", query).await)
    }
}

/// A call to `{api}/{endpoint}` (`api` a Base API URL) with an ApiKey and a `username`, as
/// Workfront sends one.
pub fn api_call(
    http: &reqwest::Client,
    (api, key, user): (&str, &str, &str),
    method: Method,
    endpoint: &str,
    query: &[(&str, &str)],
) -> RequestBuilder {
    http.request(method, format!("{api}/{endpoint}")).query(query).header("apiKey", key).header("username", user)
}

/// A Workfront caller for tests that drive the provider from many clients or processes: a Base
/// API URL, an ApiKey, the user it speaks for and, when the server is another process, that
/// process's log, shown when a call fails.
#[derive(Clone)]
pub struct Caller {
    pub http: reqwest::Client,
    pub api: String,
    pub key: String,
    pub user: String,
    pub log: Option<Arc<std::sync::Mutex<String>>>,
}

impl Caller {
    /// A provider call with an optional body: its status and its body (JSON, or the text as a
    /// JSON string). The server must answer and must not fail: a 5xx fails the test.
    pub async fn call(
        &self,
        method: Method,
        endpoint: &str,
        query: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> (u16, Value) {
        let mut request = api_call(&self.http, (&self.api, &self.key, &self.user), method, endpoint, query);
        if let Some(body) = body {
            request = request.body(body);
        }
        let response = request.send().await.unwrap_or_else(|e| panic!("{endpoint}: {e}{}", self.log()));
        let status = response.status().as_u16();
        let bytes = response.bytes().await.unwrap_or_else(|e| panic!("{endpoint}'s body: {e}{}", self.log()));
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        assert!(status < 500, "{endpoint} {query:?} answered {status}: {body}{}", self.log());
        (status, body)
    }

    /// The server process's log, on its own lines, for a failure's message; empty in process.
    pub fn log(&self) -> String {
        let Some(log) = &self.log else { return String::new() };
        format!("\n{}", log.lock().unwrap_or_else(|e| e.into_inner()))
    }
}

/// The JSON a command printed; fails the test, naming `what` and showing both outputs, if the
/// command failed or printed something else.
pub fn output_json(output: &std::process::Output, what: &str) -> Value {
    let text = |bytes: &[u8]| String::from_utf8_lossy(bytes).into_owned();
    assert!(output.status.success(), "{what} failed: {}\n{}", text(&output.stdout), text(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("{what} printed no JSON ({e}): {}", text(&output.stdout)))
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON; fails the test, showing the body, if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("expected JSON ({e}), got {} {:?}", self.status, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(|v| v.to_str().expect("header is text"))
    }

    /// A header that must be present.
    pub fn must(&self, name: &str) -> &str {
        self.header(name).unwrap_or_else(|| panic!("no {name} header in {:?}", self.headers))
    }
}

pub async fn send(request: RequestBuilder) -> Reply {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("the body arrives");
    Reply { status, headers, body }
}

pub fn array(value: Value) -> Vec<Value> {
    match value {
        Value::Array(items) => items,
        other => panic!("expected an array, got {other}"),
    }
}

pub fn id_of(item: &Value) -> &str {
    item["id"].as_str().unwrap_or_else(|| panic!("no id in {item}"))
}

pub fn titles(items: &[Value]) -> Vec<&str> {
    items.iter().map(|i| i["title"].as_str().unwrap_or_else(|| panic!("no title in {i}"))).collect()
}

pub fn ids(items: &[Value]) -> Vec<&str> {
    items.iter().map(id_of).collect()
}

/// The item of a listing with this title.
pub fn find<'a>(items: &'a [Value], title: &str) -> Option<&'a Value> {
    items.iter().find(|i| i["title"] == title)
}

/// Whether an ID has the shape C6 promises.
pub fn is_wire_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

fn assert_json(reply: &Reply) {
    let content_type = reply.header("content-type").unwrap_or_default();
    assert!(
        content_type.starts_with("application/json"),
        "a failure must be JSON, got {content_type:?}: {}",
        reply.text()
    );
}

/// Checks a failure of the common vocabulary (C20): `{"status":"error","error":"..."}`.
pub fn assert_error(reply: &Reply, status: u16) {
    assert_outcome(reply, status, "status", "error");
}

/// Checks a failure of delete, rename or customAction: `{"status":"failure","error":"..."}`.
pub fn assert_failure(reply: &Reply, status: u16) {
    assert_outcome(reply, status, "status", "failure");
}

/// Checks a failure of upload: `{"result":"fail","error":"..."}`.
pub fn assert_upload_fail(reply: &Reply, status: u16) {
    assert_outcome(reply, status, "result", "fail");
}

fn assert_outcome(reply: &Reply, status: u16, key: &str, value: &str) {
    assert_eq!(reply.status.as_u16(), status, "unexpected status; body {}", reply.text());
    assert_json(reply);
    let body = reply.json();
    let object = body.as_object().unwrap_or_else(|| panic!("failure body is not an object: {body}"));
    assert_eq!(object.len(), 2, "exactly {key} and error: {body}");
    assert_eq!(body[key], value, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.trim().is_empty()), "a non-empty error message: {body}");
}

/// The message of a failure body.
pub fn message(reply: &Reply) -> String {
    reply.json()["error"].as_str().unwrap_or_default().to_owned()
}

/// Checks the exact metadata object of C7.
pub fn assert_metadata(item: &Value, base: &str) {
    let object = item.as_object().unwrap_or_else(|| panic!("metadata is not an object: {item}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        ["dateModified", "downloadLink", "id", "kind", "mimeType", "readOnly", "size", "title", "viewLink"],
        "{item}"
    );
    let id = item["id"].as_str().expect("id is a string");
    assert!(id == "/" || is_wire_id(id), "malformed ID {id:?}");
    assert!(item["title"].as_str().is_some_and(|t| !t.is_empty()), "title: {item}");
    assert!(item["size"].is_u64(), "size is a number: {item}");
    assert!(item["readOnly"].is_boolean(), "readOnly is a boolean: {item}");
    assert_date(item["dateModified"].as_str().expect("dateModified is a string"));
    let view = item["viewLink"].as_str().expect("viewLink is a string");
    assert!(view.starts_with(&format!("{base}/")), "viewLink {view:?} is absolute under {base}");
    let download = item["downloadLink"].as_str().expect("downloadLink is a string");
    let mime = item["mimeType"].as_str().expect("mimeType is a string");
    match item["kind"].as_str() {
        Some("folder") => {
            assert_eq!(item["size"], 0, "{item}");
            assert_eq!(mime, "", "{item}");
            assert_eq!(download, "", "{item}");
        }
        Some("file") => {
            assert!(download.starts_with(&format!("{base}/")), "downloadLink {download:?} is absolute under {base}");
            assert!(mime.contains('/'), "mimeType {mime:?}");
        }
        other => panic!("kind {other:?}"),
    }
}

/// RFC 3339, UTC, milliseconds, `Z`: `2014-06-05T17:39:45.251Z`.
pub fn assert_date(date: &str) {
    let shape_ok = date.len() == 24
        && date.ends_with('Z')
        && date.as_bytes()[19] == b'.'
        && date[20..23].bytes().all(|b| b.is_ascii_digit())
        && chrono::DateTime::parse_from_rfc3339(date).is_ok();
    assert!(shape_ok, "{date:?} is not RFC 3339 UTC with milliseconds");
}

/// The files and folders under `dir`, relative, leaving out docbridge's `.docbridge` folder.
pub fn visible_files(dir: &Path) -> BTreeSet<String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeSet<String>) {
        for entry in std::fs::read_dir(dir).expect("readable folder") {
            let entry = entry.expect("readable entry");
            let path = entry.path();
            let relative = path.strip_prefix(root).expect("under root").display().to_string();
            if relative == ".docbridge" {
                continue;
            }
            let is_dir = entry.file_type().expect("file type").is_dir();
            out.insert(relative);
            if is_dir {
                walk(root, &path, out);
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// Deterministic bytes that do not repeat with a short period.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (state >> 33) as u8
        })
        .collect()
}

/// `words` as owned strings, for tables of inputs written as string literals.
pub fn owned(words: &[&str]) -> Vec<String> {
    words.iter().map(|word| (*word).to_owned()).collect()
}
