//! Limits over real HTTP (issue #8, C14, C20): oversized headers and form bodies, oversized
//! uploads, concurrent uploads per integration, failed authentications per address, the request
//! timeout and search terms. Each limit answers its status with the endpoint's JSON body (and
//! `Retry-After` for 429), and the server goes on serving afterwards. And the timeouts of slow
//! and silent clients (issue #13): connections without a whole request head or with nothing in
//! progress are closed, uploads slower than the minimum rate answer 408 and free their slot.

use crate::support::{api_call, eventually, in_process};

use std::sync::Arc;
use std::time::Duration;

use docbridge_documents::{Caller, LibrarySettings};
use docbridge_registry::Role;
use docbridge_server::{ServerSettings, setup};
use in_process::InProcess;
use reqwest::Method;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The in-process docbridge (`in_process.rs`) with settings a test chooses, and a client.
struct Server {
    served: InProcess,
    addr: std::net::SocketAddr,
    http: reqwest::Client,
}

impl Server {
    async fn start(configure: impl FnOnce(&mut ServerSettings, &mut LibrarySettings)) -> Server {
        let served = InProcess::start("limits", |settings| {
            let mut library = (*settings.library).clone();
            configure(settings, &mut library);
            settings.library = Arc::new(library);
        })
        .await;
        let addr = served.base.trim_start_matches("http://").parse().expect("the server's address");
        Server { served, addr, http: reqwest::Client::new() }
    }

    fn request(&self, method: Method, endpoint: &str, query: &[(&str, &str)]) -> reqwest::RequestBuilder {
        api_call(&self.http, (&self.served.api, &self.served.key, "tester@example.com"), method, endpoint, query)
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        Reply::read(request.send().await.unwrap()).await
    }

    async fn upload_init(&self, name: &str) -> String {
        let reply = self.send(self.request(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", name)])).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        reply.json()["id"].as_str().unwrap().to_owned()
    }

    async fn healthy(&self) -> bool {
        self.http.get(format!("{}/healthz", self.served.base)).send().await.is_ok_and(|r| r.status() == 200)
    }
}

struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Reply { status, headers, body: response.bytes().await.unwrap().to_vec() }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {} {}", self.status, self.text()))
    }

    /// `status` with the failure body `{key: value, "error": "..."}` as JSON.
    fn assert_failure(&self, status: u16, key: &str, value: &str) {
        assert_eq!(self.status, status, "{}", self.text());
        let content_type = self.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "{content_type:?}");
        let body = self.json();
        assert_eq!(body[key], value, "{body}");
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        assert_eq!(body.as_object().unwrap().len(), 2, "{body}");
    }

    fn retry_after(&self) -> u64 {
        let value = self.headers.get("retry-after").unwrap_or_else(|| panic!("no Retry-After in {:?}", self.headers));
        value.to_str().unwrap().parse().unwrap()
    }
}

/// Sends raw bytes and reads the status line of whatever the server answers. The write runs
/// beside the read: a server that refuses a request early may close before taking it all.
async fn raw_status(addr: std::net::SocketAddr, request: Vec<u8>) -> Option<u16> {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut reader, mut writer) = stream.into_split();
    let write = tokio::spawn(async move {
        let _ = writer.write_all(&request).await;
        let _ = writer.shutdown().await;
    });
    let mut answer = Vec::new();
    let mut chunk = [0u8; 4096];
    // Bounded: the status line is all we need, and the server closes after refusing.
    while answer.len() < 64 * 1024 {
        match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
        }
        if answer.windows(4).any(|w| w == b"\r\n\r\n") {
            break;
        }
    }
    write.abort();
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ").and_then(|rest| rest.get(..3)).and_then(|code| code.parse().ok())
}

#[tokio::test]
async fn oversized_headers_are_refused_and_the_server_goes_on() {
    let server = Server::start(|_, _| {}).await;
    let path = "/webhooks/default/files";
    let huge = format!("GET {path} HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(1 << 20));
    let mut statuses = Vec::new();
    let status = raw_status(server.addr, huge.into_bytes()).await;
    assert!(matches!(status, Some(431 | 400)), "a 1 MiB header answered {status:?}");
    statuses.extend(status);
    let mut many = format!("GET {path} HTTP/1.1\r\nHost: x\r\n");
    for i in 0..1000 {
        many.push_str(&format!("X-H{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let status = raw_status(server.addr, many.into_bytes()).await;
    assert!(matches!(status, Some(431 | 400)), "1000 headers answered {status:?}");
    statuses.extend(status);
    let huge_uri = format!("GET {path}?q={} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(1 << 20));
    let status = raw_status(server.addr, huge_uri.into_bytes()).await;
    assert!(matches!(status, Some(414 | 431 | 400)), "a 1 MiB URI answered {status:?}");
    statuses.extend(status);
    assert!(server.healthy().await, "the server still serves");
    let reply = server.send(server.request(Method::GET, "files", &[])).await;
    assert_eq!(reply.status, 200);
    eprintln!(
        "limits/headers: a 1 MiB header, 1000 headers and a 1 MiB URI refused ({statuses:?}); the server serves on"
    );
}

#[tokio::test]
async fn form_bodies_over_64_kib_are_413() {
    let server = Server::start(|_, _| {}).await;
    let id = server.upload_init("named.txt").await;
    let big = format!("parentId=%2F&name=ok&padding={}", "p".repeat(65 * 1024));
    for (method, endpoint, key, value) in
        [(Method::POST, "createFolder", "status", "error"), (Method::PUT, "rename", "status", "failure")]
    {
        let request = server
            .request(method, endpoint, &[("id", &id)])
            .header("content-type", "application/x-www-form-urlencoded")
            .body(big.clone());
        server.send(request).await.assert_failure(413, key, value);
    }
    // Just under the limit is read.
    let fits = format!("parentId=%2F&name=fits&padding={}", "p".repeat(60 * 1024));
    let request = server
        .request(Method::POST, "createFolder", &[])
        .header("content-type", "application/x-www-form-urlencoded")
        .body(fits);
    let reply = server.send(request).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    eprintln!("limits/form-body: 2 form bodies of 65 KiB answered 413 in their vocabularies; 60 KiB accepted");
}

#[tokio::test]
async fn uploads_over_the_limit_are_413_and_leave_the_old_content() {
    let server = Server::start(|_, library| library.max_upload_bytes = 1000).await;
    let id = server.upload_init("capped.bin").await;
    let reply = server.send(server.request(Method::PUT, "upload", &[("id", &id)]).body(vec![7u8; 1000])).await;
    assert_eq!(reply.status, 200, "exactly the limit fits: {}", reply.text());
    // Declared too large: refused before reading.
    let reply = server.send(server.request(Method::PUT, "upload", &[("id", &id)]).body(vec![8u8; 1001])).await;
    reply.assert_failure(413, "result", "fail");
    // Streamed without a length: refused when the limit is crossed.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..20).map(|_| Ok(vec![9u8; 100])).collect();
    let body = reqwest::Body::wrap_stream(futures::stream::iter(chunks));
    let reply = server.send(server.request(Method::PUT, "upload", &[("id", &id)]).body(body)).await;
    reply.assert_failure(413, "result", "fail");
    // A multipart body's file part counts alike.
    let mut multipart = b"--b\r\nContent-Disposition: form-data; name=\"f\"; filename=\"x\"\r\n\r\n".to_vec();
    multipart.extend(vec![1u8; 2000]);
    multipart.extend_from_slice(b"\r\n--b--\r\n");
    let request = server
        .request(Method::PUT, "upload", &[("id", &id)])
        .header("content-type", "multipart/form-data; boundary=b")
        .body(multipart);
    server.send(request).await.assert_failure(413, "result", "fail");
    let reply = server.send(server.request(Method::GET, "download", &[("id", &id)])).await;
    assert_eq!(reply.body, vec![7u8; 1000], "failed replacements left the content as it was");
    let tmp = server.served.dir.path().join("documents/.docbridge/tmp");
    let leftovers = std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0);
    assert_eq!(leftovers, 0, "no temporary file is left behind");
    eprintln!(
        "limits/upload-size: 3 oversized uploads (declared, streamed, multipart) answered 413; old content kept, 0 temporary files left"
    );
}

/// Waits until `count` uploads stream into temporary files in `tmp`; `what` names them.
async fn streaming_into(tmp: &std::path::Path, count: usize, what: &str) {
    eventually(what, || async { std::fs::read_dir(tmp).is_ok_and(|d| d.count() >= count).then_some(()) }).await
}

#[tokio::test]
async fn concurrent_uploads_over_the_limit_are_429_with_retry_after() {
    let server = Server::start(|settings, _| settings.max_concurrent_uploads = 2).await;
    let tmp = server.served.dir.path().join("documents/.docbridge/tmp");
    // Two uploads held open: their bodies come from channels that stay open.
    let mut held = Vec::new();
    for i in 0..2 {
        let id = server.upload_init(&format!("held-{i}.bin")).await;
        let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
        tx.unbounded_send(Ok(vec![i; 4096])).unwrap();
        let request = server.request(Method::PUT, "upload", &[("id", &id)]).body(reqwest::Body::wrap_stream(rx));
        held.push((id, tx, tokio::spawn(request.send())));
    }
    // Both hold their slot once both are streaming into temporary files.
    streaming_into(&tmp, 2, "both held uploads started").await;
    let third = server.upload_init("third.bin").await;
    let reply = server.send(server.request(Method::PUT, "upload", &[("id", &third)]).body("refused")).await;
    reply.assert_failure(429, "result", "fail");
    let wait = reply.retry_after();
    assert!(wait >= 1);
    // Other calls are not limited by uploads in progress.
    assert_eq!(server.send(server.request(Method::GET, "files", &[])).await.status, 200);

    // Finishing one frees its slot for the next upload.
    let (first_id, first_tx, first) = held.remove(0);
    first_tx.unbounded_send(Ok(vec![0; 4096])).unwrap();
    drop(first_tx);
    let response = first.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let reply = server.send(server.request(Method::PUT, "upload", &[("id", &third)]).body("now accepted")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let (second_id, second_tx, second) = held.remove(0);
    drop(second_tx);
    assert_eq!(second.await.unwrap().unwrap().status(), 200);
    let download = |id: &str| server.send(server.request(Method::GET, "download", &[("id", id)]));
    assert_eq!(download(&first_id).await.body.len(), 8192);
    assert_eq!(download(&second_id).await.body, vec![1u8; 4096]);
    assert_eq!(download(&third).await.body, b"now accepted");
    eprintln!(
        "limits/concurrent-uploads: the 3rd of 3 uploads with 2 slots answered 429 (Retry-After {wait}s); all 3 completed once a slot freed"
    );
}

#[tokio::test]
async fn failed_authentications_over_the_limit_are_429_with_retry_after() {
    let server = Server::start(|settings, _| settings.max_auth_failures_per_minute = 3).await;
    let other = setup::add_integration(
        &server.served.registry,
        &server.served.base,
        setup::AddIntegration {
            name: "Other".into(),
            slug: Some("other".into()),
            auth: docbridge_registry::AuthType::ApiKey,
            root: server.served.dir.path().join("other").display().to_string(),
            redirect_uris: Vec::new(),
            request_params: Vec::new(),
            default_role: docbridge_registry::DefaultRole::Editor,
            custom_actions: Vec::new(),
        },
    )
    .await
    .unwrap()
    .1;
    std::fs::create_dir_all(server.served.dir.path().join("other")).unwrap();
    let wrong = |slug: &str| {
        server
            .http
            .get(format!("{}/webhooks/{slug}/files", server.served.base))
            .header("apiKey", "wrong")
            .header("username", "x@example.com")
    };
    for _ in 0..3 {
        server.send(wrong("default")).await.assert_failure(403, "status", "error");
    }
    let reply = server.send(wrong("default")).await;
    reply.assert_failure(429, "status", "error");
    let wait = reply.retry_after();
    assert!(wait >= 1);
    // Locked out now even with the right key, for this integration only.
    let reply = server.send(server.request(Method::GET, "files", &[])).await;
    reply.assert_failure(429, "status", "error");
    let reply = server.send(server.request(Method::PUT, "rename", &[("id", "abc"), ("name", "x")])).await;
    reply.assert_failure(429, "status", "failure");
    let right_other = server
        .http
        .get(format!("{}/webhooks/other/files", server.served.base))
        .header("apiKey", other.api_key.unwrap())
        .header("username", "x@example.com");
    assert_eq!(server.send(right_other).await.status, 200, "another integration is not locked out");
    // serviceInfo needs no authentication and stays reachable.
    assert_eq!(
        server.send(server.http.get(format!("{}/webhooks/default/serviceInfo", server.served.base))).await.status,
        200
    );
    eprintln!(
        "limits/auth-failures: after 3 wrong keys the 4th call and the right key answered 429 (Retry-After {wait}s); another integration unaffected"
    );
}

/// A body that arrives only when the test says so: the server waits on it for as long as the
/// sender lives, which makes "slower than the timeout" a fact rather than a race.
fn held_body() -> (futures::channel::mpsc::UnboundedSender<Result<Vec<u8>, std::io::Error>>, reqwest::Body) {
    let (tx, rx) = futures::channel::mpsc::unbounded::<Result<Vec<u8>, std::io::Error>>();
    (tx, reqwest::Body::wrap_stream(rx))
}

#[tokio::test]
async fn calls_slower_than_the_timeout_are_408_but_uploads_are_not() {
    let server = Server::start(|settings, _| settings.request_timeout = Duration::from_millis(50)).await;
    let id = server.upload_init("slow.txt").await;
    // An upload whose bytes take longer than the timeout: started first, finished last.
    let (upload_tx, upload_body) = held_body();
    upload_tx.unbounded_send(Ok(b"first half, ".to_vec())).unwrap();
    let upload = tokio::spawn(server.request(Method::PUT, "upload", &[("id", &id)]).body(upload_body).send());
    let tmp = server.served.dir.path().join("documents/.docbridge/tmp");
    streaming_into(&tmp, 1, "the upload started").await;
    // Form bodies that never finish arriving: each call outlives the timeout, in its vocabulary.
    let calls: [(Method, &str, &str, &str); 5] = [
        (Method::POST, "uploadInit", "status", "error"),
        (Method::POST, "createFolder", "status", "error"),
        (Method::PUT, "rename", "status", "failure"),
        (Method::PUT, "delete", "status", "failure"),
        (Method::POST, "customAction", "status", "failure"),
    ];
    for (method, endpoint, key, value) in calls {
        let (tx, body) = held_body();
        tx.unbounded_send(Ok(b"parentId=%2F&na".to_vec())).unwrap();
        let request = server
            .request(method, endpoint, &[])
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        server.send(request).await.assert_failure(408, key, value);
        drop(tx);
    }
    // The upload outlived five timeouts and still completes.
    upload_tx.unbounded_send(Ok(b"second half".to_vec())).unwrap();
    drop(upload_tx);
    let response = upload.await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let reply = server.send(server.request(Method::GET, "download", &[("id", &id)])).await;
    assert_eq!(reply.body, b"first half, second half");
    eprintln!(
        "limits/timeout: 5 stalled form bodies answered 408 after 50 ms; an upload outliving them completed whole"
    );
}

/// A zero timeout is the harshest setting: every call answers 408 with its JSON body or, when it
/// finished before the timer's first tick, its normal answer; never a 5xx, never a hang.
#[tokio::test]
async fn with_a_zero_timeout_calls_answer_408_or_their_result() {
    let server = Server::start(|settings, _| settings.request_timeout = Duration::ZERO).await;
    // A file made without HTTP, since uploadInit itself may time out.
    let integration = server.served.registry.integration("default").await.unwrap().unwrap();
    let library = server.served.state.library(&integration).unwrap();
    let caller = Caller { username: "tester@example.com".into(), role: Role::Editor, folder: None, items_seen: None };
    let view = library.upload_init(&caller, &docbridge_protocol::ItemId::root(), "late.txt", None, None).await.unwrap();
    let id = view.record.id.to_string();
    let reply = server.send(server.request(Method::PUT, "upload", &[("id", &id)]).body("in time")).await;
    assert_eq!(reply.status, 200, "an upload is never cut by the timeout: {}", reply.text());
    let calls: [(Method, &str, &str, &str); 8] = [
        (Method::GET, "serviceInfo", "status", "error"),
        (Method::GET, "metadata", "status", "error"),
        (Method::GET, "files", "status", "error"),
        (Method::GET, "search", "status", "error"),
        (Method::GET, "download", "status", "error"),
        (Method::GET, "thumbnail", "status", "error"),
        (Method::POST, "createFolder", "status", "error"),
        (Method::GET, "customAction", "status", "failure"),
    ];
    let (mut timed_out, mut answered) = (0, 0);
    for round in 0..5 {
        for (method, endpoint, key, value) in &calls {
            let name = if *endpoint == "customAction" { "archive".to_owned() } else { format!("folder-{round}") };
            let query = [("id", id.as_str()), ("parentId", "/"), ("query", "late"), ("name", name.as_str())];
            let reply = server.send(server.request(method.clone(), endpoint, &query)).await;
            match reply.status {
                408 => {
                    reply.assert_failure(408, key, value);
                    timed_out += 1;
                }
                200 => answered += 1,
                other => panic!("{endpoint} answered {other}: {}", reply.text()),
            }
        }
    }
    eprintln!(
        "limits/zero-timeout: {} calls, {timed_out} answered 408, {answered} finished first, 0 answered 5xx",
        timed_out + answered
    );
    assert!(server.healthy().await);
}

#[tokio::test]
async fn search_terms_over_the_limit_are_400() {
    let server = Server::start(|_, _| {}).await;
    let terms = |n: usize| (0..n).map(|i| format!("t{i}")).collect::<Vec<_>>().join(" ");
    let search = |query: String| server.send(server.request(Method::GET, "search", &[("query", &query)]));
    assert_eq!(search(terms(16)).await.status, 200);
    search(terms(17)).await.assert_failure(400, "status", "error");
    assert_eq!(search("q".repeat(1000)).await.status, 200);
    search("q".repeat(1001)).await.assert_failure(400, "status", "error");
    // Characters, not bytes: 1000 two-byte characters are within the limit.
    assert_eq!(search("é".repeat(1000)).await.status, 200);
    search(" ".repeat(10)).await.assert_failure(400, "status", "error");
    eprintln!(
        "limits/search: 17 terms, 1001 characters and a blank query answered 400; 16 terms and 1000 characters (also two-byte ones) answered 200"
    );
}

/// How long a test waits for something the server's short timeouts (1-2 s here) must bring
/// about: far longer than they, so that only a server that never does it fails.
const PATIENCE: Duration = Duration::from_secs(20);

/// Timeouts of a second or two, and a minimum upload rate of 100 bytes/s over 2 s windows.
fn short_timeouts() -> docbridge_server::Timeouts {
    docbridge_server::Timeouts {
        header_read: Duration::from_secs(1),
        idle: Duration::from_secs(1),
        min_upload_rate: Some(docbridge_server::MinRate { bytes_per_sec: 100, window: Duration::from_secs(2) }),
    }
}

/// Reads until the server closes the connection: what it sent, or `None` when it was still open
/// after `PATIENCE`.
async fn read_until_closed(reader: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<Vec<u8>> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let read_all = async {
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read_all).await.ok()?;
    Some(received)
}

/// Reads one HTTP/1.1 answer (head and `content-length` body): its status and body, or `None`
/// when none came within `PATIENCE` or the connection closed first.
async fn read_answer(reader: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<(u16, Vec<u8>)> {
    let mut received = Vec::new();
    let mut chunk = [0u8; 4096];
    let read = async {
        loop {
            if let Some(end) = received.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&received[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse::<usize>().ok())
                    .unwrap_or(0);
                if received.len() >= end + 4 + length {
                    let status = head.strip_prefix("http/1.1 ")?.get(..3)?.parse().ok()?;
                    return Some((status, received[end + 4..end + 4 + length].to_vec()));
                }
            }
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(PATIENCE, read).await.ok().flatten()
}

#[tokio::test]
async fn silent_half_sent_and_idle_connections_are_closed() {
    let server = Server::start(|settings, _| settings.timeouts = short_timeouts()).await;
    let connect = || tokio::net::TcpStream::connect(server.addr);
    // Connects and sends nothing.
    let silent = async {
        let mut stream = connect().await.unwrap();
        read_until_closed(&mut stream).await
    };
    // Half a request head, then nothing.
    let half = async {
        let mut stream = connect().await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: ").await.unwrap();
        read_until_closed(&mut stream).await
    };
    // One whole request, answered, then an idle keep-alive connection.
    let idle = async {
        let mut stream = connect().await.unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        read_until_closed(&mut stream).await
    };
    let (silent, half, idle) = tokio::join!(silent, half, idle);
    assert_eq!(silent.as_deref(), Some(&b""[..]), "a silent connection is closed without an answer");
    assert_eq!(half.as_deref(), Some(&b""[..]), "a half-sent head is closed without an answer");
    let idle = String::from_utf8(idle.expect("an idle keep-alive connection is closed")).unwrap();
    assert!(idle.starts_with("HTTP/1.1 200 ") && idle.ends_with("\r\n\r\nok"), "{idle}");

    // A connection that keeps sending requests, each within the timeouts, is not cut in between.
    let mut stream = connect().await.unwrap();
    for _ in 0..3 {
        stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n").await.unwrap();
        assert_eq!(read_answer(&mut stream).await, Some((200, b"ok".to_vec())));
    }
    assert!(server.healthy().await);
    // Shutting down still ends cleanly with a connection open.
    let open = connect().await.unwrap();
    server.served.serving.stop().await;
    drop(open);
    eprintln!(
        "limits/connection-timeouts: a silent connection, a half-sent head and an idle keep-alive connection were closed (1 s timeouts)"
    );
}

#[tokio::test]
async fn uploads_slower_than_the_minimum_rate_are_408_and_free_their_slots() {
    let server = Server::start(|settings, _| {
        settings.timeouts = short_timeouts();
        settings.max_concurrent_uploads = 3;
    })
    .await;
    let tmp = server.served.dir.path().join("documents/.docbridge/tmp");
    // Three uploads trickling one byte a second, a hundredth of the minimum rate.
    let mut trickles = Vec::new();
    for i in 0..3 {
        let id = server.upload_init(&format!("trickle-{i}.bin")).await;
        let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
        let (mut reader, mut writer) = stream.into_split();
        let head = format!(
            "PUT /webhooks/default/upload?id={} HTTP/1.1\r\nHost: 127.0.0.1\r\napiKey: {}\r\nusername: tester@example.com\r\ncontent-length: 1000\r\n\r\n",
            url::form_urlencoded::byte_serialize(id.as_bytes()).collect::<String>(),
            server.served.key
        );
        writer.write_all(head.as_bytes()).await.unwrap();
        let trickle = tokio::spawn(async move {
            // Bounded: a server that never cuts it off fails the test, not hangs it.
            for _ in 0..PATIENCE.as_secs() {
                if writer.write_all(b"x").await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let answer = tokio::spawn(async move { read_answer(&mut reader).await });
        trickles.push((id, trickle, answer));
    }
    // All three slots are taken while they trickle.
    streaming_into(&tmp, 3, "the three trickling uploads started").await;
    let normal = server.upload_init("normal.bin").await;
    let upload = |body: &'static str| server.request(Method::PUT, "upload", &[("id", &normal)]).body(body);
    server.send(upload("refused")).await.assert_failure(429, "result", "fail");

    for (id, trickle, answer) in trickles {
        let (status, body) = answer.await.unwrap().expect("the trickling upload is answered");
        assert_eq!(status, 408, "{}", String::from_utf8_lossy(&body));
        let body: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["result"], "fail", "{body}");
        trickle.abort();
        let reply = server.send(server.request(Method::GET, "download", &[("id", &id)])).await;
        assert_eq!(reply.status, 404, "nothing was stored for {id}");
    }
    // Their slots are free again.
    let reply = server.send(upload("accepted")).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(server.send(server.request(Method::GET, "download", &[("id", &normal)])).await.body, b"accepted");
    assert_eq!(std::fs::read_dir(&tmp).map(|d| d.count()).unwrap_or(0), 0, "no temporary file is left behind");
    eprintln!(
        "limits/upload-rate: 3 uploads trickling 1 byte/s (minimum 100 bytes/s) held all 3 slots, then answered 408; the next upload answered 200"
    );
}

#[tokio::test]
async fn slow_uploads_above_the_minimum_rate_succeed() {
    let server = Server::start(|settings, _| settings.timeouts = short_timeouts()).await;
    let id = server.upload_init("slow-but-steady.bin").await;
    // 1 KiB every 300 ms (about 30 times the minimum) for 3 s: longer than a rate window and
    // than the header-read and idle timeouts, which do not apply to a request in progress.
    let chunks = futures::stream::unfold(0u8, |i| async move {
        if i == 10 {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        Some((Ok::<_, std::io::Error>(vec![i; 1024]), i + 1))
    });
    let request = server.request(Method::PUT, "upload", &[("id", &id)]).body(reqwest::Body::wrap_stream(chunks));
    let reply = server.send(request).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let download = server.send(server.request(Method::GET, "download", &[("id", &id)])).await;
    assert_eq!(download.body, (0..10u8).flat_map(|i| vec![i; 1024]).collect::<Vec<_>>());
    eprintln!("limits/upload-rate: an upload of 10 KiB over 3 s (minimum 100 bytes/s over 2 s) answered 200 whole");
}
