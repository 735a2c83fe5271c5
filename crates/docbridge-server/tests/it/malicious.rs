//! Hostile names and IDs over real HTTP (issue #8): traversal (`..`, `%2e%2e`, `%2f`), NUL,
//! absolute and Windows paths, invalid and over-long UTF-8 escapes, Unicode look-alikes,
//! symbolic links inside the library that point outside it, and names at the 255-byte limit, in
//! every parameter that carries one. Each call answers 4xx with its endpoint's error body, or
//! 200 where the name is legitimate; never a 500, and nothing is ever written, renamed, deleted
//! or read outside the documents folder.

use crate::support::in_process;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use in_process::InProcess;
use reqwest::Method;
use serde_json::Value;

/// The user of the calls the tests make through [`Server::raw`], `call` and `upload`.
const MALLORY: &str = "mallory@example.com";

/// The in-process docbridge (`in_process.rs`), counting its answers.
struct Server {
    served: InProcess,
    http: reqwest::Client,
    /// Calls made through `raw`, `call` and `upload`, and how many of them answered 5xx.
    calls: AtomicUsize,
    server_errors: AtomicUsize,
}

impl Server {
    async fn start() -> Server {
        Server {
            served: InProcess::start("malicious", |_| {}).await,
            http: reqwest::Client::new(),
            calls: AtomicUsize::new(0),
            server_errors: AtomicUsize::new(0),
        }
    }

    /// A server with a file `name` holding `bytes` in a folder `folder` of the root, and the IDs
    /// of the folder and the file.
    async fn start_with_file(folder: &str, name: &str, bytes: &[u8]) -> (Server, String, String) {
        let server = Server::start().await;
        let folder = server.folder("/", folder).await;
        let file = server.upload(&folder, name, bytes).await["id"].as_str().unwrap().to_owned();
        (server, folder, file)
    }

    /// Counts an answer for the figures `report` prints.
    fn note(&self, reply: Reply) -> Reply {
        self.calls.fetch_add(1, Ordering::Relaxed);
        if reply.status >= 500 {
            self.server_errors.fetch_add(1, Ordering::Relaxed);
        }
        reply
    }

    /// Prints the figures of a test (`--nocapture` shows them; docs/reliability.md quotes them)
    /// and checks that no call answered 5xx.
    fn report(&self, test: &str, detail: &str) {
        let calls = self.calls.load(Ordering::Relaxed);
        let server_errors = self.server_errors.load(Ordering::Relaxed);
        eprintln!("malicious/{test}: {calls} calls, {server_errors} answered 5xx; {detail}");
        assert_eq!(server_errors, 0, "{test}: no call answers 5xx");
    }

    fn docs(&self) -> PathBuf {
        self.served.documents()
    }

    /// A request to `{api}/{path}` with the default integration's ApiKey, as `username`.
    fn request(&self, method: Method, path: &str, username: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}/{path}", self.served.api))
            .header("apiKey", &self.served.key)
            .header("username", username)
    }

    /// A call whose query string is sent exactly as written, percent-escapes and all, so that
    /// the server and not the client decodes it.
    async fn raw(&self, method: Method, endpoint: &str, query: &str) -> Reply {
        let response = self.request(method, &format!("{endpoint}?{query}"), MALLORY).send().await.unwrap();
        self.note(Reply::read(response).await)
    }

    /// A call with parameters that reqwest encodes (for values that must arrive verbatim).
    async fn call(&self, method: Method, endpoint: &str, query: &[(&str, &str)]) -> Reply {
        let response = self.request(method, endpoint, MALLORY).query(query).send().await.unwrap();
        self.note(Reply::read(response).await)
    }

    async fn upload(&self, parent: &str, name: &str, bytes: &[u8]) -> Value {
        let init = self.call(Method::POST, "uploadInit", &[("parentId", parent), ("filename", name)]).await;
        assert_eq!(init.status, 200, "uploadInit {name:?}: {}", init.text());
        let id = init.json()["id"].as_str().unwrap().to_owned();
        let response =
            self.request(Method::PUT, "upload", MALLORY).query(&[("id", id.as_str())]).body(bytes.to_vec()).send();
        let response = response.await.unwrap();
        let reply = self.note(Reply::read(response).await);
        assert_eq!(reply.status, 200, "upload {name:?}: {}", reply.text());
        init.json()
    }

    async fn folder(&self, parent: &str, name: &str) -> String {
        let reply = self.call(Method::POST, "createFolder", &[("parentId", parent), ("name", name)]).await;
        assert_eq!(reply.status, 200, "createFolder {name:?}: {}", reply.text());
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    async fn titles(&self, parent: &str) -> Vec<String> {
        let reply = self.call(Method::GET, "files", &[("parentId", parent)]).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json().as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap().to_owned()).collect()
    }

    /// Everything in the data directory outside the documents folder, with file sizes: what no
    /// request may ever change. The database and the thumbnail cache change by design.
    fn outside_root(&self) -> BTreeMap<String, Option<u64>> {
        let mut out = BTreeMap::new();
        walk(self.served.dir.path(), self.served.dir.path(), &mut out, &["documents", "cache"]);
        out.retain(|k, _| !k.starts_with("db.sqlite"));
        out
    }
}

/// Files (with sizes) and folders (`None`) under `dir`, relative to `root`, not following links.
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Option<u64>>, skip: &[&str]) {
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap()).collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let relative = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
        if skip.contains(&relative.as_str()) {
            continue;
        }
        let meta = std::fs::symlink_metadata(&path).unwrap();
        if meta.is_dir() {
            out.insert(relative, None);
            walk(root, &path, out, skip);
        } else {
            out.insert(relative, Some(meta.len()));
        }
    }
}

/// A response, read whole.
struct Reply {
    status: u16,
    content_type: String,
    body: Vec<u8>,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let content_type =
            response.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        Reply { status, content_type, body: response.bytes().await.unwrap().to_vec() }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }
}

/// The failure body each endpoint speaks (C14, C16–C18, C20).
fn vocabulary(endpoint: &str) -> (&'static str, &'static str) {
    match endpoint {
        "upload" => ("result", "fail"),
        "delete" | "rename" | "customAction" => ("status", "failure"),
        _ => ("status", "error"),
    }
}

/// A refusal: 4xx, JSON, the endpoint's failure body with a message. Never a 5xx.
fn assert_refused(reply: &Reply, endpoint: &str, what: &str) {
    assert!(
        (400..500).contains(&reply.status),
        "{endpoint} {what}: expected 4xx, got {} {}",
        reply.status,
        reply.text()
    );
    assert!(
        reply.content_type.starts_with("application/json"),
        "{endpoint} {what}: {} as {:?}",
        reply.status,
        reply.content_type
    );
    let body = reply.json();
    let (key, value) = vocabulary(endpoint);
    assert_eq!(body[key], value, "{endpoint} {what}: {body}");
    assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{endpoint} {what}: {body}");
}

/// IDs no client may use: traversal in every spelling, separators, NUL, absolute and Windows
/// paths, invalid UTF-8, look-alikes, and lengths over the limit. Written as they go on the
/// wire (percent-escapes are decoded by the server).
fn hostile_ids() -> Vec<String> {
    let mut ids = crate::support::owned(&[
        "..",
        "../..",
        "%2e%2e",
        "%2E%2E%2F%2E%2E",
        "%252e%252e",
        "..%2F..%2Fetc%2Fpasswd",
        "..%5C..%5Cwindows",
        "%2Fetc%2Fpasswd",
        "/etc/passwd",
        "//",
        "%00",
        "a%00b",
        "C:%5Cx",
        "%5C%5Cserver%5Cshare",
        "%C0%AE%C0%AE",
        "%C0%AF",
        "%FF",
        "%FE%FF",
        "%EF%BC%8F",
        "%E2%88%95",
        "%E2%80%A4%E2%80%A4",
        ".",
        "a.b",
        "a%20b",
        "*",
        "%",
        "%zz",
    ]);
    ids.push("a".repeat(65));
    ids.push("x".repeat(10_000));
    ids
}

/// Every parameter that carries an ID, with what else its endpoint needs to get that far.
const ID_PARAMETERS: [(&str, &str, &str, &str); 15] = [
    ("GET", "metadata", "id", ""),
    ("GET", "files", "parentId", ""),
    ("GET", "search", "parentId", "&query=hello"),
    ("GET", "download", "id", ""),
    ("GET", "thumbnail", "id", ""),
    ("POST", "uploadInit", "parentId", "&filename=ok.txt"),
    ("PUT", "upload", "id", ""),
    ("POST", "createFolder", "parentId", "&name=ok"),
    ("PUT", "delete", "documentId", ""),
    ("PUT", "delete", "folderId", ""),
    ("PUT", "delete", "id", ""),
    ("PUT", "rename", "id", "&name=ok2.txt"),
    ("GET", "customAction", "id", "&name=archive"),
    ("GET", "customAction", "documentId", "&name=archive"),
    ("POST", "customAction", "documentId", "&name=copy&documentVersionId=..%2F.."),
];

#[tokio::test]
async fn hostile_ids_are_refused_in_every_id_parameter() {
    let (server, folder, file_id) = Server::start_with_file("kept", "kept.txt", b"kept bytes").await;
    let before = server.outside_root();
    let mut tried = 0;
    for (method, endpoint, parameter, extra) in ID_PARAMETERS {
        for id in hostile_ids() {
            let method = Method::from_bytes(method.as_bytes()).unwrap();
            let reply = server.raw(method, endpoint, &format!("{parameter}={id}{extra}")).await;
            assert_refused(&reply, endpoint, &format!("{parameter}={id}"));
            tried += 1;
        }
    }
    assert!(tried >= 400, "{tried} calls");
    assert_eq!(server.outside_root(), before, "nothing changed outside the documents folder");
    assert_eq!(server.titles("/").await, ["kept"]);
    assert_eq!(server.titles(&folder).await, ["kept.txt"]);
    let download = server.call(Method::GET, "download", &[("id", &file_id)]).await;
    assert_eq!(download.body, b"kept bytes");
    let distinct = hostile_ids().len();
    server.report(
        "ids",
        &format!(
            "{tried} hostile ID calls ({distinct} IDs x {} parameters), all 4xx; 0 files changed outside the root",
            ID_PARAMETERS.len()
        ),
    );
}

/// Names that must be refused (400), as they go on the wire.
fn refused_names() -> Vec<String> {
    let mut names = crate::support::owned(&[
        "",
        ".",
        "..",
        "%2e%2e",
        "%2E%2e",
        "a%2Fb",
        "%2Fetc%2Fpasswd",
        "..%2F..%2Fescape",
        "..%2F",
        "%2F",
        "a%5Cb",
        "C:%5Cx",
        "%5C%5Cserver%5Cshare",
        "..%5C..%5Cescape",
        "a%00b",
        "%00",
        "name%00.txt",
        "tab%09here",
        "line%0Abreak",
        "%0D",
        "%7F",
        "%C2%85next-line",
    ]);
    names.push("x".repeat(256));
    names.push("%C3%A9".repeat(128)); // 128 × "é": 256 bytes
    names.push(format!("{}.txt", "a".repeat(252)));
    names
}

/// Names that are unusual but legitimate: accepted, and the item lands inside the documents
/// folder under exactly that name. (wire form, name on disk)
fn accepted_names() -> Vec<(String, String)> {
    let mut names: Vec<(String, String)> = [
        ("...", "..."),
        ("%2e%2e%2e", "..."),
        ("%252e%252e", "%2e%2e"),
        (".hidden", ".hidden"),
        ("a%EF%BC%8Fb", "a\u{FF0F}b"),              // fullwidth solidus
        ("%EF%BC%8F", "\u{FF0F}"),                  // fullwidth solidus alone
        ("a%E2%88%95b", "a\u{2215}b"),              // division slash
        ("%E2%80%A4%E2%80%A4", "\u{2024}\u{2024}"), // one-dot leaders, which look like ".."
        ("%E2%80%A4", "\u{2024}"),
        ("%EF%BC%BCx", "\u{FF3C}x"), // fullwidth reverse solidus
        ("C%3Ax", "C:x"),
        ("con", "con"),
        ("a b.txt", "a b.txt"),
        ("%E6%97%A5%E6%9C%AC%E8%AA%9E.txt", "日本語.txt"),
        ("name%20", "name "),
        ("%20name", " name"),
    ]
    .iter()
    .map(|(wire, disk)| ((*wire).to_owned(), (*disk).to_owned()))
    .collect();
    names.push(("x".repeat(255), "x".repeat(255)));
    names.push(("%E6%97%A5".repeat(85), "日".repeat(85))); // 255 bytes
    names
}

/// Names whose escapes are not UTF-8: the server may refuse them or decode them lossily, but a
/// name it accepts is a plain name inside the folder, never a separator or `..`.
const INVALID_UTF8_NAMES: [&str; 6] = ["%C0%AE%C0%AE", "%C0%AF", "%FF", "%FE%FF", "a%C0%AFb", "%E0%80%AE%E0%80%AE"];

#[tokio::test]
async fn hostile_names_are_refused_and_legitimate_ones_stay_inside_the_root() {
    let (server, folder, victim_id) = Server::start_with_file("target", "victim.txt", b"victim").await;
    let before = server.outside_root();

    // Refused everywhere a name goes: new files, new folders, renames.
    for name in refused_names() {
        let reply = server.raw(Method::POST, "uploadInit", &format!("parentId={folder}&filename={name}")).await;
        assert_eq!(reply.status, 400, "uploadInit filename={name}: {}", reply.text());
        assert_refused(&reply, "uploadInit", &name);
        let reply = server.raw(Method::POST, "createFolder", &format!("parentId={folder}&name={name}")).await;
        assert_eq!(reply.status, 400, "createFolder name={name}: {}", reply.text());
        assert_refused(&reply, "createFolder", &name);
        let reply = server.raw(Method::PUT, "rename", &format!("id={victim_id}&name={name}")).await;
        assert_eq!(reply.status, 400, "rename name={name}: {}", reply.text());
        assert_refused(&reply, "rename", &name);
    }
    assert_eq!(server.titles(&folder).await, ["victim.txt"], "no refused name left anything behind");

    // Accepted as plain names: each lands in the folder, on disk, under exactly that name.
    for (i, (wire, disk)) in accepted_names().into_iter().enumerate() {
        let sub = server.folder(&folder, &format!("case-{i}")).await;
        let reply = server.raw(Method::POST, "uploadInit", &format!("parentId={sub}&filename={wire}")).await;
        assert_eq!(reply.status, 200, "uploadInit filename={wire}: {}", reply.text());
        assert_eq!(reply.json()["title"], disk.as_str());
        let id = reply.json()["id"].as_str().unwrap().to_owned();
        let put = server.request(Method::PUT, &format!("upload?id={id}"), "m@example.com").body(disk.clone());
        assert_eq!(put.send().await.unwrap().status(), 200);
        let on_disk = server.docs().join("target").join(format!("case-{i}")).join(&disk);
        assert_eq!(
            std::fs::read(&on_disk).unwrap_or_default(),
            disk.as_bytes(),
            "{wire} is the file {}",
            on_disk.display()
        );
        // The same name as a folder, and as the target of a rename.
        let reply = server.raw(Method::POST, "createFolder", &format!("parentId={sub}&name=dir-{wire}")).await;
        if disk.len() + 4 <= 255 {
            assert_eq!(reply.status, 200, "createFolder name=dir-{wire}: {}", reply.text());
            assert!(server.docs().join("target").join(format!("case-{i}")).join(format!("dir-{disk}")).is_dir());
        } else {
            assert_refused(&reply, "createFolder", &wire);
        }
        let reply = server.raw(Method::PUT, "rename", &format!("id={id}&name=r{wire}")).await;
        if disk.len() < 255 {
            assert_eq!(reply.status, 200, "rename to r{wire}: {}", reply.text());
            assert!(server.docs().join("target").join(format!("case-{i}")).join(format!("r{disk}")).is_file());
        } else {
            assert_refused(&reply, "rename", &wire);
        }
    }

    // Escapes that are not UTF-8.
    for wire in INVALID_UTF8_NAMES {
        let reply = server.raw(Method::POST, "createFolder", &format!("parentId={folder}&name={wire}")).await;
        if reply.status == 200 {
            let title = reply.json()["title"].as_str().unwrap().to_owned();
            assert!(!title.contains(['/', '\\', '\0']) && title != ".." && title != ".", "{wire} became {title:?}");
            assert!(server.docs().join("target").join(&title).is_dir(), "{wire} became {title:?} inside the folder");
            let id = reply.json()["id"].as_str().unwrap().to_owned();
            assert_eq!(server.raw(Method::PUT, "delete", &format!("folderId={id}")).await.status, 200);
        } else {
            assert_refused(&reply, "createFolder", wire);
        }
        let reply = server.raw(Method::PUT, "rename", &format!("id={victim_id}&name={wire}")).await;
        if reply.status != 200 {
            assert_refused(&reply, "rename", wire);
        }
        let reply = server.raw(Method::PUT, "rename", &format!("id={victim_id}&name=victim.txt")).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
    }

    // Form bodies carry the same names (C21): refused alike.
    for name in ["..", "a%2Fb", "%00", "C:%5Cx"] {
        let response = server
            .request(Method::POST, "createFolder", "m@example.com")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("parentId={folder}&name={name}"))
            .send()
            .await
            .unwrap();
        let reply = server.note(Reply::read(response).await);
        assert_eq!(reply.status, 400, "form name={name}: {}", reply.text());
        assert_refused(&reply, "createFolder", name);
    }

    assert_eq!(server.outside_root(), before, "nothing appeared outside the documents folder");
    assert_eq!(std::fs::read(server.docs().join("target/victim.txt")).unwrap(), b"victim");
    server.report(
        "names",
        &format!(
            "{} refused names x 3 endpoints (400), {} legitimate look-alikes as file, folder and rename target (on disk inside the root), {} non-UTF-8 escapes, 4 form bodies; 0 files changed outside the root",
            refused_names().len(),
            accepted_names().len(),
            INVALID_UTF8_NAMES.len()
        ),
    );
}

#[tokio::test]
async fn the_bookkeeping_folder_cannot_be_named() {
    let server = Server::start().await;
    // Make sure `.docbridge` exists (an upload writes through its tmp folder) and does not.
    for exists in [false, true] {
        if exists {
            server.upload("/", "first.txt", b"1").await;
        }
        for name in [".docbridge", ".docbridge%2Ftmp", ".docbridge%2Ftrash"] {
            let reply = server.raw(Method::POST, "createFolder", &format!("parentId=/&name={name}")).await;
            assert_refused(&reply, "createFolder", name);
            let reply = server.raw(Method::POST, "uploadInit", &format!("parentId=/&filename={name}")).await;
            if reply.status == 200 {
                // Accepted only under another name: the bookkeeping folder is never a document.
                assert_ne!(reply.json()["title"], ".docbridge", "uploadInit {name} (bookkeeping exists: {exists})");
            } else {
                assert_refused(&reply, "uploadInit", name);
            }
        }
    }
    let first = server.titles("/").await;
    let id = server.upload("/", "second.txt", b"2").await["id"].as_str().unwrap().to_owned();
    let reply = server.raw(Method::PUT, "rename", &format!("id={id}&name=.docbridge")).await;
    assert_refused(&reply, "rename", ".docbridge");
    assert!(server.docs().join(".docbridge").is_dir());
    assert!(!first.iter().any(|t| t == ".docbridge"), "{first:?}");
    assert!(!server.titles("/").await.iter().any(|t| t == ".docbridge"));
    server.report("bookkeeping", "`.docbridge` never created, uploaded to, renamed onto or listed");
}

/// A taken name at the 255-byte limit, under the default conflict policy (a free name like
/// `name (1).txt`): the server must answer, with a name within the limit or a refusal.
#[test]
fn names_at_the_byte_limit_stay_within_it_when_renamed_for_a_conflict() {
    // Its own runtime, shut down without waiting: a server stuck in a loop must fail this test,
    // not hang the whole test binary.
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let outcome = runtime.block_on(async {
        let server = Server::start().await;
        let mut failures = Vec::new();
        for name in [format!("{}.txt", "n".repeat(251)), "日".repeat(85), "m".repeat(253)] {
            assert!(name.len() <= 255);
            let first = server.upload("/", &name, b"one").await;
            assert_eq!(first["title"], name.as_str());
            let query = [("parentId", "/"), ("filename", name.as_str())];
            let call = server.call(Method::POST, "uploadInit", &query);
            // A guard only: the answer takes milliseconds.
            let Ok(reply) = tokio::time::timeout(Duration::from_secs(20), call).await else {
                failures.push(format!(
                    "uploadInit of a taken {}-byte name {:?}… never answered",
                    name.len(),
                    &name[..6]
                ));
                // Whatever holds it may hold the library's lock too: nothing more can be asked.
                break;
            };
            match reply.status {
                200 => {
                    let title = reply.json()["title"].as_str().unwrap().to_owned();
                    assert!(title.len() <= 255 && title != name, "{title:?}");
                }
                _ => assert_refused(&reply, "uploadInit", "a taken 255-byte name"),
            }
        }
        server.report("byte-limit", "taken names of 255 bytes answered within the limit");
        failures
    });
    runtime.shutdown_background();
    assert!(outcome.is_empty(), "{outcome:?}");
}

#[tokio::test]
async fn hostile_query_size_max_and_offset_values() {
    let server = Server::start().await;
    server.upload("/", "hello world.txt", b"hello").await;
    let mut tried = 0;
    // Search terms are never a pattern or SQL: any text is answered 200 (an array) or 400.
    let mut queries = crate::support::owned(&[
        "..",
        "../..",
        "%2F",
        "%00",
        "a%00b",
        "*",
        ".*",
        "%25",
        "_",
        "%",
        "'",
        "' OR 1=1 --",
        "%22",
        "%22a%22 AND b",
        "NEAR(a b)",
        "a:b",
        "{a}",
        "^a",
        "-a",
        "a+OR+b",
        "%C0%AE",
        "%FF",
        "%EF%BC%8F",
        "\\",
        "%5C",
        "(",
        ")",
        "[a-z]",
        "hello%20world",
    ]);
    queries.push("x".repeat(1001));
    queries.push((0..17).map(|i| format!("t{i}")).collect::<Vec<_>>().join("+"));
    for query in &queries {
        let reply = server.raw(Method::GET, "search", &format!("query={query}")).await;
        if reply.status == 200 {
            assert!(reply.json().is_array(), "search {query}: {}", reply.text());
            if query.contains("%00") {
                // No name holds a NUL (names refuse it), so nothing can match.
                assert_eq!(reply.json(), serde_json::json!([]), "search {query} matched a name without a NUL");
            }
        } else {
            assert_eq!(reply.status, 400, "search query={query}: {}", reply.text());
            assert_refused(&reply, "search", query);
        }
        tried += 1;
    }
    // Counts: anything but a plain non-negative number is a 400 in every count parameter;
    // extreme but well-formed counts are answered in all but search's max.
    let counts = [
        ("files", "max", ""),
        ("files", "offset", ""),
        ("search", "offset", "&query=hello"),
        ("thumbnail", "size", "&id=/"),
        ("search", "max", "&query=hello"),
    ];
    let malformed =
        ["-1", "abc", "1e9", "1.5", "0x10", "99999999999999999999", "%00", "1%00", "%2B1", "%EF%BC%91", "1,2"];
    let cases: [(&[&str], &[_], u16); 2] =
        [(&malformed, &counts, 400), (&["0", "18446744073709551615", "00000000000000000000001"], &counts[..4], 200)];
    for (values, parameters, status) in cases {
        for value in values {
            for (endpoint, parameter, extra) in parameters {
                let reply = server.raw(Method::GET, endpoint, &format!("{parameter}={value}{extra}")).await;
                assert_eq!(reply.status, status, "{endpoint} {parameter}={value}: {}", reply.text());
                if status == 400 {
                    assert_refused(&reply, endpoint, &format!("{parameter}={value}"));
                }
                tried += 1;
            }
        }
    }
    assert!(tried > 80);
    server.report("query-counts", &format!("{tried} hostile search terms and counts: 200 with an array or 400"));
}

/// A symbolic link inside the library that points outside it: never listed, searched, read,
/// written through, renamed over or deleted through.
#[tokio::test]
async fn symlinks_pointing_outside_are_never_followed() {
    use std::os::unix::fs::symlink;
    let server = Server::start().await;
    let outside = server.served.dir.path().join("outside");
    std::fs::create_dir_all(outside.join("inner")).unwrap();
    std::fs::write(outside.join("secret.txt"), b"top secret").unwrap();
    std::fs::write(outside.join("inner/deep-secret.txt"), b"deeper secret").unwrap();
    let folder = server.folder("/", "shared").await;
    let victim = server.upload("/", "victim.txt", b"victim bytes").await["id"].as_str().unwrap().to_owned();
    let docs = server.docs();
    symlink(outside.join("secret.txt"), docs.join("link-file.txt")).unwrap();
    symlink(&outside, docs.join("link-dir")).unwrap();
    symlink("../../outside", docs.join("shared/escape")).unwrap();
    symlink("/etc/passwd", docs.join("passwd")).unwrap();
    let before = server.outside_root();

    // Listings, a rescan and searches never show a link or what it points to.
    assert_eq!(server.titles("/").await, ["shared", "victim.txt"]);
    assert!(server.titles(&folder).await.is_empty());
    let library =
        server.served.state.library(&server.served.registry.integration("default").await.unwrap().unwrap()).unwrap();
    library.rescan().await.unwrap();
    for query in ["secret", "link", "escape", "passwd", "root"] {
        let reply = server.call(Method::GET, "search", &[("query", query)]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json(), serde_json::json!([]), "search {query}");
    }

    // A link's name is taken: nothing is written through it or renamed over it.
    let reply = server.call(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "link-file.txt")]).await;
    if reply.status == 200 {
        // A reservation may take the name (the link is invisible); its bytes never go through.
        let id = reply.json()["id"].as_str().unwrap().to_owned();
        let put = server.request(Method::PUT, &format!("upload?id={id}"), "m@example.com").body("overwrite");
        let status = put.send().await.unwrap().status().as_u16();
        assert!(status == 200 || (400..500).contains(&status), "upload next to a link: {status}");
    } else {
        assert_refused(&reply, "uploadInit", "a link's name");
    }
    for name in ["link-file.txt", "link-dir", "passwd"] {
        let reply = server.call(Method::PUT, "rename", &[("id", &victim), ("name", name)]).await;
        assert_refused(&reply, "rename", name);
        let reply = server.call(Method::POST, "createFolder", &[("parentId", "/"), ("name", name)]).await;
        assert_refused(&reply, "createFolder", name);
    }
    let reply = server.call(Method::POST, "createFolder", &[("parentId", &folder), ("name", "escape")]).await;
    assert_refused(&reply, "createFolder", "escape");

    // An indexed file and folder swapped for links behind docbridge's back.
    let file = server.upload(&folder, "report.txt", b"report").await["id"].as_str().unwrap().to_owned();
    let sub = server.folder(&folder, "sub").await;
    std::fs::remove_file(docs.join("shared/report.txt")).unwrap();
    symlink(outside.join("secret.txt"), docs.join("shared/report.txt")).unwrap();
    std::fs::remove_dir(docs.join("shared/sub")).unwrap();
    symlink(&outside, docs.join("shared/sub")).unwrap();
    for (method, endpoint, query) in [
        ("GET", "metadata", vec![("id", file.as_str())]),
        ("GET", "download", vec![("id", file.as_str())]),
        ("GET", "thumbnail", vec![("id", file.as_str())]),
        ("GET", "files", vec![("parentId", sub.as_str())]),
        ("GET", "search", vec![("parentId", sub.as_str()), ("query", "secret")]),
        ("POST", "uploadInit", vec![("parentId", sub.as_str()), ("filename", "planted.txt")]),
        ("POST", "createFolder", vec![("parentId", sub.as_str()), ("name", "planted")]),
        ("PUT", "rename", vec![("id", file.as_str()), ("name", "moved.txt")]),
        ("PUT", "rename", vec![("id", sub.as_str()), ("name", "moved")]),
        ("GET", "customAction", vec![("name", "archive"), ("id", file.as_str())]),
        ("GET", "customAction", vec![("name", "archive"), ("id", sub.as_str())]),
        ("PUT", "delete", vec![("documentId", file.as_str())]),
        ("PUT", "delete", vec![("folderId", sub.as_str())]),
    ] {
        let reply = server.call(Method::from_bytes(method.as_bytes()).unwrap(), endpoint, &query).await;
        let what = format!("{query:?} through a link");
        if endpoint == "search" && reply.status == 200 {
            assert_eq!(reply.json(), serde_json::json!([]), "{endpoint} {what}");
            continue;
        }
        if endpoint == "customAction" && reply.status == 200 {
            // Ran and failed (C18): the link is neither moved nor followed.
            assert_eq!(reply.json()["status"], "failure", "{endpoint} {what}: {}", reply.text());
            continue;
        }
        if endpoint == "delete" && reply.status == 200 {
            // Deleting the link is allowed; what it points to must survive (checked below).
            continue;
        }
        assert_refused(&reply, endpoint, &what);
        assert!(!reply.text().contains("secret"), "{endpoint} {what} leaked: {}", reply.text());
    }
    // Downloading through the signed links of a listing never reaches outside either.
    let reply = server.call(Method::GET, "files", &[("parentId", &folder)]).await;
    for item in reply.json().as_array().unwrap() {
        for link in ["viewLink", "downloadLink"] {
            if let Some(url) = item[link].as_str().filter(|u| !u.is_empty()) {
                let body = server.http.get(url).send().await.unwrap().text().await.unwrap();
                assert!(!body.contains("secret"), "{link} of {item}");
            }
        }
    }
    // Delete the folder holding the `escape` link: the link goes to the trash, the target stays.
    let reply = server.call(Method::PUT, "delete", &[("folderId", &folder)]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    assert_eq!(server.outside_root(), before, "nothing outside the root changed");
    assert_eq!(std::fs::read(outside.join("secret.txt")).unwrap(), b"top secret");
    assert_eq!(std::fs::read(outside.join("inner/deep-secret.txt")).unwrap(), b"deeper secret");
    assert!(
        std::fs::symlink_metadata(docs.join("link-file.txt")).unwrap().file_type().is_symlink(),
        "the link itself is untouched"
    );
    assert_eq!(server.call(Method::GET, "download", &[("id", &victim)]).await.body, b"victim bytes");
    server.report("symlinks", "6 links to outside (file, folder, relative, /etc/passwd, 2 swapped for indexed items); 0 followed, 0 bytes leaked, 0 files changed outside the root");
}

/// Files copied in by hand with dates no upload produces (before 1970, the epoch itself, as far
/// in the future as the filesystem keeps): listed with RFC 3339 dates (C7), downloaded with a
/// valid `Last-Modified` (C11), never a 500.
#[tokio::test]
async fn files_with_extreme_dates_are_served() {
    use std::time::UNIX_EPOCH;
    let server = Server::start().await;
    let docs = server.docs();
    let dates = [
        ("before-1970.txt", UNIX_EPOCH - Duration::from_secs(100_000_000)),
        ("epoch.txt", UNIX_EPOCH),
        ("far-future.txt", UNIX_EPOCH + Duration::from_secs(400_000_000_000)),
    ];
    for (name, date) in dates {
        std::fs::write(docs.join(name), name).unwrap();
        // The filesystem may clamp the date (ext4 keeps 1901 to 2446); what it keeps is the test.
        let file = std::fs::File::options().write(true).open(docs.join(name)).unwrap();
        file.set_modified(date).unwrap();
    }
    let reply = server.call(Method::GET, "files", &[("parentId", "/")]).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let listing = reply.json();
    let items = listing.as_array().unwrap();
    assert_eq!(items.len(), dates.len());
    for item in items {
        let title = item["title"].as_str().unwrap();
        let date = item["dateModified"].as_str().unwrap();
        let rfc3339 = date.len() == 24 && date.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(date).is_ok();
        assert!(rfc3339, "{title}: dateModified {date:?} is not RFC 3339 with milliseconds");
        let id = item["id"].as_str().unwrap();
        let reply = server.call(Method::GET, "metadata", &[("id", id)]).await;
        assert_eq!(reply.status, 200, "metadata of {title}: {}", reply.text());
        let response =
            server.request(Method::GET, "download", "m@example.com").query(&[("id", id)]).send().await.unwrap();
        assert_eq!(response.status(), 200, "download of {title}");
        let last_modified =
            response.headers().get("last-modified").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
        assert!(httpdate::parse_http_date(&last_modified).is_ok(), "{title}: Last-Modified {last_modified:?}");
        assert_eq!(response.bytes().await.unwrap(), title.as_bytes());
    }
    server.report("dates", "3 files dated before 1970, at the epoch and far in the future (as far as the filesystem keeps): listed, described and downloaded");
}
