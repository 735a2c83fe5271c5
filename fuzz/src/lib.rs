//! The bodies of docbridge's fuzz targets, shared by `cargo fuzz` (`fuzz_targets/*.rs`) and by
//! the plain test `crates/docbridge-server/tests/it/fuzz_replay.rs`, which includes this file as a
//! module so that CI runs the very same checks on stable Rust without libFuzzer.
//!
//! Every body takes arbitrary bytes and panics only when docbridge breaks a promise: a parser
//! panics, accepts what it must refuse, or the router answers a 5xx or a 4xx without the
//! contract's JSON error body (C20).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderValue, Method, Request, StatusCode, header};
use docbridge_protocol::{
    ItemId, ItemMetadata, MAX_NAME_BYTES, RangeRequest, content_disposition, parse_count, parse_range, validate_name,
};
use docbridge_registry::{ActionKind, AuthType, CustomActionSpec, DefaultRole, NewIntegration, Registry};
use docbridge_server::{AppState, BuiltinStorage, ServerSettings};
use tower::ServiceExt;

/// Names and IDs: `validate_name`, `ItemId::parse`, `parse_count` and `content_disposition`.
pub fn names(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let text = text.as_ref();
    match validate_name("name", text) {
        Ok(()) => {
            // What is accepted can never name more than one path component or leave the folder.
            assert!(!text.is_empty() && text != "." && text != "..", "accepted {text:?}");
            assert!(!text.contains(['/', '\\', '\0']), "accepted a separator or NUL in {text:?}");
            assert!(!text.chars().any(char::is_control), "accepted a control character in {text:?}");
            assert!(text.len() <= MAX_NAME_BYTES, "accepted {} bytes", text.len());
            assert!(
                docbridge_storage::StoragePath::root().join(text).is_ok(),
                "a valid name is a valid path component: {text:?}"
            );
            // The name goes into a download's header: it must stay one header value.
            let disposition = content_disposition("attachment", text);
            assert!(
                HeaderValue::from_str(&disposition).is_ok(),
                "Content-Disposition for {text:?} is not a header value"
            );
            assert!(disposition.is_ascii(), "Content-Disposition is ASCII");
        }
        Err(e) => assert!(e.to_string().starts_with("name:"), "the error names the field: {e}"),
    }
    match ItemId::parse("id", text) {
        Ok(id) if id.is_root() => assert_eq!(text, "/"),
        Ok(id) => {
            let raw = id.as_str();
            assert!(raw.len() <= ItemId::MAX_LEN && !raw.is_empty(), "accepted ID of {} bytes", raw.len());
            assert!(raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'), "accepted ID {raw:?}");
            let json = serde_json::to_string(&id).expect("an ID serialises");
            let back: ItemId = serde_json::from_str(&json).expect("an ID reads back");
            assert_eq!(back, id);
        }
        Err(e) => assert!(e.to_string().starts_with("id:"), "the error names the field: {e}"),
    }
    if let Ok(Some(n)) = parse_count("max", Some(text)) {
        assert_eq!(text.trim().trim_start_matches('0').parse::<u64>().unwrap_or(0), n, "{text:?}");
    }
}

/// `Range` headers against files of every small length and one large one.
pub fn range(data: &[u8]) {
    let (len_bytes, header) = data.split_at(data.len().min(8));
    let mut raw_len = [0u8; 8];
    raw_len[..len_bytes.len()].copy_from_slice(len_bytes);
    let header = String::from_utf8_lossy(header);
    for len in [0, 1, 2, 10, u64::from_le_bytes(raw_len), u64::MAX] {
        match parse_range(Some(&header), len) {
            RangeRequest::Partial(r) => {
                assert!(r.start <= r.end_inclusive && r.end_inclusive < len, "{header:?} of {len}: {r:?}");
                assert_eq!(r.len(), r.end_inclusive - r.start + 1);
                let content_range = r.content_range(len);
                assert!(HeaderValue::from_str(&content_range).is_ok(), "{content_range:?}");
            }
            RangeRequest::Full => {}
            RangeRequest::Unsatisfiable => {
                assert!(header.trim().starts_with("bytes="), "{header:?} is not a byte range")
            }
        }
    }
}

/// Lenient metadata JSON, as docbridge reads other providers: never a panic, and whatever it
/// accepts it writes strictly in a form it reads back.
pub fn metadata(data: &[u8]) {
    let Ok(item) = serde_json::from_slice::<ItemMetadata>(data) else { return };
    let strict = serde_json::to_value(&item).expect("metadata serialises");
    assert_eq!(strict.as_object().map(serde_json::Map::len), Some(9), "exactly the nine fields: {strict}");
    assert!(strict["size"].is_u64() && strict["readOnly"].is_boolean(), "{strict}");
    let again: ItemMetadata = serde_json::from_value(strict.clone())
        .unwrap_or_else(|e| panic!("what docbridge writes, it reads back ({e}): {strict}"));
    assert_eq!(
        (&again.id, &again.title, again.kind, again.size, again.read_only),
        (&item.id, &item.title, item.kind, item.size, item.read_only)
    );
    // Dates are written with millisecond precision.
    assert_eq!(again.date_modified.timestamp_millis(), item.date_modified.timestamp_millis(), "{strict}");
}

/// A configuration file: `Config::load` answers `Ok` or `Err`, never a panic.
pub fn config(data: &[u8]) {
    let Ok(file) = tempfile::NamedTempFile::new() else { return };
    if std::fs::write(file.path(), data).is_err() {
        return;
    }
    let env = std::collections::HashMap::new();
    if let Ok(config) = docbridge_server::config::Config::load(Some(file.path()), &env, &Default::default()) {
        // Whatever loads is usable: the values the server derives from it do not panic either.
        let data_dir = std::path::Path::new("/nonexistent-docbridge-data");
        let _ = config.database_url(data_dir);
        let _ = config.storage_root(data_dir);
        let _ = config.library_settings(data_dir);
        assert!(config.conflict_policy().is_ok(), "a loaded configuration has a valid conflict policy");
        assert!(
            config.http.listen.parse::<std::net::SocketAddr>().is_ok(),
            "a loaded configuration has a valid listen address"
        );
    }
}

/// The endpoint names a call may use: the twelve, plus one that does not exist.
const ENDPOINTS: [&str; 13] = [
    "serviceInfo",
    "metadata",
    "files",
    "search",
    "download",
    "thumbnail",
    "uploadInit",
    "upload",
    "createFolder",
    "delete",
    "rename",
    "customAction",
    "noSuchEndpoint",
];
const METHODS: [Method; 6] = [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE, Method::PATCH];
/// Separates the calls of one input, and the fields of one call.
const CALL_SEPARATOR: u8 = 0xFE;
const FIELD_SEPARATOR: u8 = 0xFF;
/// Calls per input: enough for `uploadInit`, `upload`, then something on the new item.
const MAX_CALLS: usize = 4;
const BOUNDARY: &str = "fuzzboundary";

/// The whole HTTP surface, in process: each input is up to four calls to `/webhooks/fuzz/...`
/// on a fresh memory-backed library that holds a folder and two files, so that an input's
/// outcome depends on nothing but its bytes (a crash found once reproduces). Bytes of an input:
/// `[endpoint, flags, query 0xFF header 0xFF body 0xFF username]`, calls separated by 0xFE.
/// In the query, `@F`, `@D` and `@L` stand for the ID of a file, of a folder, and of the item
/// the previous call created, so that the fuzzer reaches real items.
pub struct RouterTarget {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    /// Figures for reports: inputs run, calls that reached the router, and of those the ones
    /// answered with a 4xx (each checked for the contract's error body).
    pub inputs: u64,
    pub calls: u64,
    pub refused: u64,
}

/// How long one call may take before the target reports a hang. Far above any real answer; a
/// hang found this way is a finding, not slowness.
const CALL_GUARD: Duration = Duration::from_secs(20);

struct Fixture {
    router: axum::Router,
    key: String,
    file_id: String,
    folder_id: String,
    /// Thumbnails are cached on disk; the folder goes with the fixture.
    _cache: tempfile::TempDir,
}

/// One decoded call.
struct Call<'a> {
    endpoint: &'static str,
    method: Method,
    credentials: bool,
    content_type: u8,
    header_as: u8,
    query: &'a [u8],
    header: &'a [u8],
    body: &'a [u8],
    username: &'a [u8],
}

impl Default for RouterTarget {
    fn default() -> Self {
        Self::new()
    }
}

impl RouterTarget {
    pub fn new() -> Self {
        // Two workers: a handler stuck in a loop holds one, and the other still drives the timer
        // that reports it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        RouterTarget { runtime: Some(runtime), inputs: 0, calls: 0, refused: 0 }
    }

    pub fn run(&mut self, data: &[u8]) {
        let Some(runtime) = &self.runtime else { return };
        let (calls, refused) = runtime.block_on(async {
            let fixture = Fixture::build().await;
            fixture.run(data).await
        });
        self.inputs += 1;
        self.calls += calls;
        self.refused += refused;
    }
}

impl Drop for RouterTarget {
    fn drop(&mut self) {
        // Never wait for a worker that a hang found by this target keeps busy.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

impl<'a> Call<'a> {
    fn decode(chunk: &'a [u8]) -> Option<Call<'a>> {
        let [endpoint, flags, rest @ ..] = chunk else { return None };
        let mut fields = rest.splitn(4, |b| *b == FIELD_SEPARATOR);
        let mut next = || fields.next().unwrap_or_default();
        Some(Call {
            endpoint: ENDPOINTS[usize::from(*endpoint) % ENDPOINTS.len()],
            method: METHODS[usize::from(flags & 0x07) % METHODS.len()].clone(),
            credentials: flags & 0x08 == 0,
            content_type: (flags >> 4) & 0x03,
            header_as: flags >> 6,
            query: next(),
            header: next(),
            body: next(),
            username: next(),
        })
    }
}

impl Fixture {
    async fn build() -> Fixture {
        let cache = tempfile::tempdir().expect("a cache folder");
        let registry = Registry::connect("sqlite::memory:").await.expect("an in-memory registry");
        let secret = docbridge_auth::issue_secret();
        let action =
            |name: &str, kind: ActionKind| CustomActionSpec { name: name.into(), display_name: name.into(), kind };
        registry
            .create_integration(NewIntegration {
                slug: "fuzz".into(),
                name: "Fuzz".into(),
                auth_type: AuthType::ApiKey,
                redirect_uris: Vec::new(),
                request_params: Vec::new(),
                storage_kind: "memory".into(),
                storage_root: "/fuzz".into(),
                default_role: DefaultRole::Editor,
                // No `webhook` action: a fuzz run sends nothing anywhere.
                custom_actions: vec![
                    action("archive", ActionKind::Move { folder: "Archive".into() }),
                    action("copy", ActionKind::Copy { folder: "Copies".into() }),
                    action("lock", ActionKind::Lock),
                ],
                api_key: Some(secret.stored.clone()),
                client: None,
            })
            .await
            .expect("the fuzz integration registers");
        let library = docbridge_documents::LibrarySettings {
            max_upload_bytes: 1 << 20,
            cache_dir: cache.path().to_path_buf(),
            ..Default::default()
        };
        let settings = ServerSettings {
            public_url: "http://127.0.0.1:9".into(),
            publisher: "fuzz".into(),
            link_ttl: chrono::Duration::hours(1),
            library: Arc::new(library),
            // Generous: a timeout here would be the machine's slowness, not a finding.
            request_timeout: Duration::from_secs(60),
            max_concurrent_uploads: 4,
            max_auth_failures_per_minute: u32::MAX,
            trusted_proxies: Default::default(),
            timeouts: docbridge_server::Timeouts::default(),
        };
        let state =
            AppState::new(registry, settings, Arc::new(BuiltinStorage::default())).await.expect("the router state");
        let mut fixture = Fixture {
            router: docbridge_server::router(state),
            key: secret.plain,
            file_id: String::new(),
            folder_id: String::new(),
            _cache: cache,
        };
        fixture.folder_id = fixture.setup(Method::POST, "createFolder?parentId=/&name=folder", Body::empty()).await;
        fixture.file_id = fixture.setup(Method::POST, "uploadInit?parentId=/&filename=file.txt", Body::empty()).await;
        fixture.setup(Method::PUT, &format!("upload?id={}", fixture.file_id), Body::from("hello fuzz\n")).await;
        let inner = fixture
            .setup(Method::POST, &format!("uploadInit?parentId={}&filename=notes.md", fixture.folder_id), Body::empty())
            .await;
        fixture.setup(Method::PUT, &format!("upload?id={inner}"), Body::from("# notes\nhello again\n")).await;
        fixture
    }

    /// A setup call that must succeed; answers the `id` of what it created, if anything.
    async fn setup(&self, method: Method, path_and_query: &str, body: Body) -> String {
        let request = Request::builder()
            .method(method)
            .uri(format!("/webhooks/fuzz/{path_and_query}"))
            .header("apiKey", &self.key)
            .header("username", "fuzz@example.com")
            .body(body)
            .expect("a setup request");
        let response = self.router.clone().oneshot(request).await.expect("the router is infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.expect("a setup body");
        assert_eq!(status, StatusCode::OK, "setup call {path_and_query}: {}", String::from_utf8_lossy(&bytes));
        let json: serde_json::Value = serde_json::from_slice(&bytes).expect("setup answers JSON");
        json["id"].as_str().unwrap_or_default().to_owned()
    }

    /// Runs the calls of an input; answers how many reached the router and how many of those
    /// were answered 4xx.
    async fn run(&self, data: &[u8]) -> (u64, u64) {
        let mut last = self.file_id.clone();
        let (mut calls, mut refused) = (0, 0);
        for chunk in data.split(|b| *b == CALL_SEPARATOR).take(MAX_CALLS) {
            let Some(call) = Call::decode(chunk) else { continue };
            let Some((status, created)) = self.send(&call, &last).await else { continue };
            calls += 1;
            refused += u64::from(status.is_client_error());
            if let Some(id) = created {
                last = id;
            }
        }
        (calls, refused)
    }

    /// Sends one call and checks the answer; returns its status and the ID of an item it
    /// created, or nothing if the call could not be sent (an input HTTP itself refuses).
    async fn send(&self, call: &Call<'_>, last: &str) -> Option<(StatusCode, Option<String>)> {
        let query = encode_query(call.query, &[("@F", &self.file_id), ("@D", &self.folder_id), ("@L", last)]);
        let uri = format!("/webhooks/fuzz/{}?{query}", call.endpoint);
        let mut request = Request::builder().method(call.method.clone()).uri(&uri);
        if call.credentials {
            let username = HeaderValue::from_bytes(call.username)
                .ok()
                .filter(|v| !v.is_empty())
                .unwrap_or(HeaderValue::from_static("fuzz@example.com"));
            request = request.header("apiKey", &self.key).header("username", username);
        }
        if let Ok(value) = HeaderValue::from_bytes(call.header) {
            let name = match call.header_as {
                0 => header::RANGE,
                1 => header::IF_NONE_MATCH,
                2 => header::IF_RANGE,
                _ => header::IF_MODIFIED_SINCE,
            };
            request = request.header(name, value);
        }
        let body = match call.content_type {
            1 => {
                request = request.header(header::CONTENT_TYPE, "application/x-www-form-urlencoded");
                Body::from(call.body.to_vec())
            }
            2 => {
                request = request.header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"));
                let mut wrapped = format!(
                    "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"f.bin\"\r\n\r\n"
                )
                .into_bytes();
                wrapped.extend_from_slice(call.body);
                wrapped.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
                Body::from(wrapped)
            }
            3 => {
                request = request.header(header::CONTENT_TYPE, format!("multipart/form-data; boundary={BOUNDARY}"));
                Body::from(call.body.to_vec())
            }
            _ => Body::from(call.body.to_vec()),
        };
        // An input the HTTP layer itself would refuse never reaches a server.
        let request = request.body(body).ok()?;
        let answer = async {
            let response = self.router.clone().oneshot(request).await.expect("the router is infallible");
            let (parts, body) = response.into_parts();
            (parts, axum::body::to_bytes(body, 64 << 20).await.expect("a response body reads whole"))
        };
        let method = &call.method;
        let Ok((parts, bytes)) = tokio::time::timeout(CALL_GUARD, answer).await else {
            panic!("{method} {uri} did not answer within {CALL_GUARD:?}");
        };
        let (status, headers) = (parts.status, parts.headers);
        let text = String::from_utf8_lossy(&bytes);
        assert!(!status.is_server_error(), "{method} {uri} answered {status}: {text}");
        if status.is_client_error() && method != Method::HEAD {
            let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
            assert!(
                content_type.starts_with("application/json"),
                "{method} {uri} answered {status} as {content_type:?}: {text}"
            );
            let json: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{method} {uri} answered {status} with no JSON ({e}): {text}"));
            assert!(
                json["error"].as_str().is_some_and(|e| !e.is_empty()),
                "{method} {uri} answered {status} without an error message: {text}"
            );
            let vocabulary = (json["status"].as_str(), json["result"].as_str());
            assert!(
                matches!(vocabulary, (Some("error" | "failure"), None) | (None, Some("fail"))),
                "{method} {uri}: not a contract error body: {text}"
            );
        }
        if status.is_success() && method != Method::HEAD {
            if let Some(length) =
                headers.get(header::CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<usize>().ok())
            {
                assert_eq!(length, bytes.len(), "{method} {uri}: Content-Length disagrees with the body");
            }
            if matches!(call.endpoint, "files" | "search") {
                assert!(
                    serde_json::from_slice::<Vec<serde_json::Value>>(&bytes).is_ok(),
                    "{method} {uri} answered {status} with no array: {text}"
                );
            }
        }
        let created = if status == StatusCode::OK && matches!(call.endpoint, "uploadInit" | "createFolder") {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|json| json["id"].as_str().map(str::to_owned))
        } else {
            None
        };
        Some((status, created))
    }
}

/// The query as a URI can carry it: placeholders replaced, bytes a URI may not hold
/// percent-encoded, everything else (including `%`, so broken escapes get through) as is.
fn encode_query(raw: &[u8], placeholders: &[(&str, &str)]) -> String {
    let mut bytes = raw.to_vec();
    for (from, to) in placeholders {
        bytes = replace(&bytes, from.as_bytes(), to.as_bytes());
    }
    let mut out = String::with_capacity(bytes.len() * 3);
    for byte in bytes {
        if byte.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

/// Inputs that reach every endpoint and parser, for a fuzz corpus and for the replay test:
/// one call per endpoint with good and hostile parameters, and sequences that create an item
/// and then use it.
pub fn router_seeds() -> Vec<Vec<u8>> {
    let call = |endpoint: usize, flags: u8, query: &str, header: &str, body: &[u8]| {
        let mut out = vec![u8::try_from(endpoint).unwrap_or(0), flags];
        out.extend_from_slice(query.as_bytes());
        out.push(FIELD_SEPARATOR);
        out.extend_from_slice(header.as_bytes());
        out.push(FIELD_SEPARATOR);
        out.extend_from_slice(body);
        out
    };
    let sequence = |calls: &[Vec<u8>]| calls.join(&CALL_SEPARATOR);
    let (get, head, post, put, delete, patch) = (0u8, 1u8, 2u8, 3u8, 4u8, 5u8);
    let form = 0x10;
    let mut seeds = Vec::new();
    for query in [
        "",
        "id=@F",
        "id=@D",
        "id=/",
        "id=..%2F..%2Fetc%2Fpasswd",
        "id=%00",
        "id=%C0%AE%C0%AE",
        "id=%FF",
        "parentId=@D&max=1&offset=1",
        "parentId=@F",
        "max=-1",
        "offset=99999999999999999999999",
        "query=hello",
        "query=a%00b",
        "query=a+b+c+d+e+f+g+h+i+j+k+l+m+n+o+p+q",
        "size=16",
        "size=999999",
        "id=@F&size=x",
        "%zz=%",
    ] {
        for (endpoint, name) in ENDPOINTS.iter().enumerate() {
            let method = match *name {
                "uploadInit" | "createFolder" => post,
                "upload" | "delete" | "rename" => put,
                _ => get,
            };
            seeds.push(call(endpoint, method, query, "", b""));
        }
    }
    let endpoint = |name: &str| ENDPOINTS.iter().position(|e| *e == name).unwrap_or(0);
    seeds.push(call(endpoint("download"), get, "id=@F", "bytes=0-3", b""));
    seeds.push(call(endpoint("download"), get, "id=@F", "bytes=-0", b""));
    seeds.push(call(endpoint("download"), get | 0x40, "id=@F", "*", b""));
    seeds.push(call(endpoint("thumbnail"), head, "id=@F&size=32", "", b""));
    seeds.push(call(endpoint("files"), patch, "", "", b""));
    seeds.push(call(endpoint("files"), get | 0x08, "", "", b""));
    seeds.push(call(endpoint("createFolder"), post | form, "", "", b"parentId=%2F&name=..%2Fx"));
    seeds.push(call(endpoint("rename"), put | form, "id=@F", "", b"name=renamed.txt"));
    seeds.push(call(endpoint("delete"), delete, "documentId=@F&folderId=@D", "", b""));
    seeds.push(call(endpoint("customAction"), get, "name=archive&id=@F", "", b""));
    seeds.push(call(endpoint("customAction"), post | form, "", "", b"name=nope&documentId=x"));
    for filename in ["new.txt", "..", "a%2Fb", "a%5Cb", "a%00b", "%EF%BC%8Fslash", &"x".repeat(256)] {
        seeds.push(sequence(&[
            call(endpoint("uploadInit"), post, &format!("parentId=@D&filename={filename}"), "", b""),
            call(endpoint("upload"), put, "id=@L", "", b"new bytes"),
            call(endpoint("download"), get, "id=@L", "bytes=1-", b""),
            call(endpoint("thumbnail"), get, "id=@L", "", b""),
        ]));
    }
    seeds.push(sequence(&[
        call(endpoint("uploadInit"), post, "filename=m.bin", "", b""),
        call(endpoint("upload"), put | 0x20, "id=@L", "", b"multipart bytes"),
        call(endpoint("upload"), put | 0x30, "id=@L", "", b"--fuzzboundary\r\nbroken"),
        call(endpoint("rename"), put, "id=@L&name=..", "", b""),
    ]));
    seeds.push(sequence(&[
        call(endpoint("createFolder"), post, "parentId=@D&name=sub", "", b""),
        call(endpoint("search"), get, "query=notes&parentId=@L", "", b""),
        call(endpoint("delete"), put, "folderId=@L", "", b""),
        call(endpoint("files"), get, "parentId=@L", "", b""),
    ]));
    seeds
}

/// Seeds for the other targets: typical, edge and hostile values.
pub fn text_seeds() -> Vec<Vec<u8>> {
    let long = "x".repeat(256);
    let mut seeds: Vec<Vec<u8>> = [
        "",
        ".",
        "..",
        "...",
        "/",
        "a/b",
        "a\\b",
        "C:\\x",
        "a\0b",
        "report.pdf",
        "report (1).pdf",
        "日本語.txt",
        "\u{FF0F}",
        "\u{2215}",
        "\u{2024}\u{2024}",
        "%2e%2e",
        "bytes=0-4",
        "bytes=-3",
        "bytes=5-",
        "bytes=0-1,3-4",
        "bytes=-0",
        "bytes=99999999999999999999-",
        "items=0-1",
        "0",
        "10",
        "-1",
        "1e3",
        "abc_DEF-123",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    seeds.push(long.clone().into_bytes());
    seeds.push(long.as_bytes()[..255].to_vec());
    seeds.push(vec![0xC0, 0xAE, 0xFF, 0xFE]);
    seeds
}

pub fn metadata_seeds() -> Vec<Vec<u8>> {
    [
        r#"{"id":"abc","title":"A","kind":"file","dateModified":"2014-06-05T17:39:45.251Z","size":"12","mimeType":"text/plain","viewLink":"v","downloadLink":"d","readOnly":false}"#,
        r#"{"id":"f","title":"Folder","kind":"folder","dateModified":1401989985251,"size":"","mimeType":null,"viewLink":null,"downloadLink":"","readOnly":"true"}"#,
        r#"{"id":"x","kind":"file","dateModified":null,"size":null}"#,
        r#"{"id":"x","kind":"file","dateModified":"20140605T17:39:45Z","size":18446744073709551615}"#,
        r#"{"id":"x","kind":"file","dateModified":-8334632851200001}"#,
        r#"{"id":"x","kind":"dir"}"#,
        r#"[]"#,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}

pub fn config_seeds() -> Vec<Vec<u8>> {
    [
        "",
        "publisher = \"Acme\"\n[http]\nlisten = \"127.0.0.1:9000\"\n",
        "[documents]\nconflict_policy = \"merge\"\n",
        "[documents]\nmax_upload_bytes = -1\n",
        "public_url = \"ftp://x\"\n",
        "[http]\nlisten = \"::::\"\nrequest_timeout_secs = 18446744073709551616\n",
        "[[http]]\n",
        "a = [1, \"x\", {b = 2}]\n",
        "x = \"\\uD800\"\n",
        "[database]\nurl = 1979-05-27T07:32:00Z\n",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect()
}
