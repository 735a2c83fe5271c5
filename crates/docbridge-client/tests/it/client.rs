//! The typed client and the command operations against the in-test provider and a server of
//! canned answers: decorations on every call, error mapping, lenient reading, streaming.

use crate::support;

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use bytes::Bytes;
use docbridge_client::{ActionTarget, Auth, Client, ClientError, DownloadRange, RemoteConfig};
use docbridge_protocol::{Endpoint, ItemKind};
use futures::StreamExt;
use support::{API_KEY, CheckedAuth, Options, Provider, TOKEN, USERNAME};

fn client_for(provider: &Provider) -> Client {
    Client::new(&provider.remote()).expect("client")
}

/// A deterministic body of `len` bytes.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) ^ (i >> 8)) as u8).collect()
}

#[tokio::test]
async fn request_parameters_and_api_key_headers_go_on_every_call() {
    let provider = Provider::start(Options::default()).await;
    let mut remote = provider.remote();
    remote.base_url.push('/'); // a trailing slash in the Base API URL changes nothing
    remote.request_params = vec!["access_type=offline".parse().expect("param"), "tenant=a b&c".parse().expect("param")];
    let client = Client::new(&remote).expect("client");

    let info = client.service_info().await.expect("serviceInfo");
    assert_eq!(info.webhook_version, "1.2");
    let folder = client.create_folder("/", "Reports").await.expect("createFolder");
    let reserved =
        client.upload_init(folder.id.as_str(), "a.txt", Some("wfdoc"), Some("wfver")).await.expect("uploadInit");
    let id = reserved.id.as_str().to_owned();
    client.upload_bytes(&id, "hello").await.expect("upload");
    client.metadata(&id).await.expect("metadata");
    client.files(folder.id.as_str(), Some(10), Some(0)).await.expect("files");
    client.search("a.txt", None, None, None).await.expect("search");
    client.download(&id, None).await.expect("download").into_bytes().await.expect("bytes");
    client.thumbnail(&id, Some(64)).await.expect("thumbnail").into_bytes().await.expect("bytes");
    client.rename(&id, "b.txt").await.expect("rename");
    let target = ActionTarget { item_id: Some(id.clone()), ..ActionTarget::default() };
    client.custom_action("archive", &target).await.expect("customAction");
    client.delete(&id, ItemKind::File).await.expect("delete");

    let seen = provider.seen();
    let endpoints: Vec<&str> = seen.iter().map(|s| s.endpoint.as_str()).collect();
    assert_eq!(
        endpoints,
        [
            "serviceInfo",
            "createFolder",
            "uploadInit",
            "upload",
            "metadata",
            "files",
            "search",
            "download",
            "thumbnail",
            "rename",
            "customAction",
            "delete"
        ]
    );
    for request in &seen {
        let has = |key: &str, value: &str| request.query.iter().any(|(k, v)| k == key && v == value);
        assert!(has("access_type", "offline") && has("tenant", "a b&c"), "{request:?}");
        assert_eq!(request.headers.get("apikey").and_then(|v| v.to_str().ok()), Some(API_KEY), "{request:?}");
        assert_eq!(request.headers.get("username").and_then(|v| v.to_str().ok()), Some(USERNAME));
    }
    // Parameters of POST and PUT travel in the query string too, Workfront style.
    let init = &seen[2];
    assert!(init.query.iter().any(|(k, v)| k == "documentVersionId" && v == "wfver"));
    let delete = &seen[11];
    assert_eq!(delete.method, axum::http::Method::PUT);
    assert!(delete.query.iter().any(|(k, v)| k == "documentId" && *v == id));
}

#[tokio::test]
async fn bearer_tokens_are_sent_and_wrong_credentials_keep_the_status() {
    let provider = Provider::start(Options { auth: CheckedAuth::Bearer, ..Options::default() }).await;
    let client = client_for(&provider);
    client.files("/", None, None).await.expect("files with the token");
    let header = provider.seen()[0].headers.get("authorization").cloned();
    assert_eq!(header.as_ref().and_then(|v| v.to_str().ok()), Some(format!("Bearer {TOKEN}").as_str()));

    let wrong = client.with_auth(Auth::Bearer { token: "nope".into() });
    let err = wrong.files("/", None, None).await.expect_err("wrong token");
    assert_eq!(err.status(), Some(403));
    assert_eq!(err.provider_message(), Some("missing or invalid credentials"));
}

#[tokio::test]
async fn provider_errors_keep_status_and_message() {
    let provider = Provider::start(Options::default()).await;
    let client = client_for(&provider);
    let err = client.metadata("nothere").await.expect_err("unknown ID");
    assert!(matches!(&err, ClientError::Provider { endpoint: Endpoint::Metadata, status: 404, .. }), "{err:?}");
    assert_eq!(err.provider_message(), Some("no item with ID nothere"));
    assert_eq!(err.to_string(), "metadata: the provider answered HTTP 404: no item with ID nothere");
    let err = client.rename("nothere", "x").await.expect_err("rename of an unknown ID");
    assert_eq!((err.status(), err.provider_message()), (Some(404), Some("File not found")));
}

/// A server that answers each endpoint with a fixed status and body.
async fn canned(answers: &[(&str, u16, &str)]) -> String {
    let answers: HashMap<String, (u16, String)> =
        answers.iter().map(|(endpoint, status, body)| (endpoint.to_string(), (*status, body.to_string()))).collect();
    async fn answer(
        State(answers): State<Arc<HashMap<String, (u16, String)>>>,
        Path(endpoint): Path<String>,
    ) -> Response {
        match answers.get(&endpoint) {
            Some((status, body)) => {
                (StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR), body.clone())
                    .into_response()
            }
            None => StatusCode::NOT_FOUND.into_response(),
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}/api", listener.local_addr().expect("address"));
    let router = Router::new().route("/api/{endpoint}", any(answer)).with_state(Arc::new(answers));
    tokio::spawn(async move { axum::serve(listener, router).await.expect("serve") });
    base
}

#[tokio::test]
async fn every_failure_vocabulary_maps_to_a_provider_error() {
    let base = canned(&[
        ("customAction", 200, r#"{"status":"failure","error":"Archive is full"}"#),
        ("upload", 200, r#"{"result":"fail","message":"Upload Failed"}"#),
        ("delete", 500, r#"{"status":"failure","error":"disk on fire"}"#),
        ("metadata", 500, "<html><body>Internal Server Error</body></html>"),
        ("files", 200, r#"{"status":"error","error":"listing is broken"}"#),
        ("search", 200, "this is not JSON"),
        ("rename", 200, ""),
    ])
    .await;
    let client = Client::new(&RemoteConfig::new("canned", base, Auth::None)).expect("client");
    let check = |err: ClientError, status: u16, message: &str| {
        assert_eq!(err.status(), Some(status), "{err:?}");
        assert!(err.provider_message().is_some_and(|m| m.contains(message)), "{err:?}");
    };
    check(
        client.custom_action("archive", &ActionTarget::default()).await.expect_err("failure"),
        200,
        "Archive is full",
    );
    check(client.upload_bytes("x", "data").await.expect_err("fail"), 200, "Upload Failed");
    check(client.delete("x", ItemKind::Folder).await.expect_err("500"), 500, "disk on fire");
    check(client.metadata("x").await.expect_err("html"), 500, "Internal Server Error");
    check(client.files("/", None, None).await.expect_err("error body with 200"), 200, "listing is broken");
    assert!(matches!(
        client.search("q", None, None, None).await,
        Err(ClientError::Decode { endpoint: Endpoint::Search, .. })
    ));
    // An empty 2xx outcome is success: only an explicit failure body fails.
    client.rename("x", "y").await.expect("empty success");
    let err = client.thumbnail("x", None).await.expect_err("404 without body");
    assert_eq!((err.status(), err.provider_message()), (Some(404), Some("Not Found")));
}

#[tokio::test]
async fn transport_failures_are_their_own_variant() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let address = listener.local_addr().expect("address");
    drop(listener);
    let client = Client::new(&RemoteConfig::new("gone", format!("http://{address}"), Auth::None)).expect("client");
    let err = client.metadata("/").await.expect_err("nobody listens");
    assert!(matches!(err, ClientError::Transport { endpoint: Endpoint::Metadata, .. }), "{err:?}");
    assert_eq!(err.status(), None);
}

#[tokio::test]
async fn what_real_providers_send_is_read_leniently() {
    let docs_listing = r#"[
        {"title":"Folder A","kind":"folder","id":"2lj23lkj","viewLink":"https://www.acme.com/v",
         "downloadLink":"https://www.acme.com/d","mimeType":"","dateModified":"2014-06-05T17:39:45.251Z","size":""},
        {"title":"My Document","kind":"file","id":"da8cj234","viewLink":"https://www.acme.com/v",
         "downloadLink":"https://www.acme.com/d","mimeType":"image/png","dateModified":"20140605T17:39:45.251Z","size":"32554694"},
        {"id":"a+b/c=","title":"ri.txt","kind":"file","dateModified":1401990000000,"size":3,
         "mimeType":null,"viewLink":null,"downloadLink":null,"location":"/home/x"}
    ]"#;
    let base = canned(&[("files", 200, docs_listing)]).await;
    let client = Client::new(&RemoteConfig::new("docs", base, Auth::None)).expect("client");
    let items = client.files("/", None, None).await.expect("lenient listing");
    assert_eq!(items.len(), 3);
    assert_eq!((items[0].kind, items[0].size), (ItemKind::Folder, 0));
    assert_eq!(items[1].size, 32_554_694);
    assert_eq!(items[1].date_modified, items[0].date_modified);
    assert_eq!(items[2].id.as_str(), "a+b/c=");
    assert_eq!(items[2].date_modified.timestamp_millis(), 1_401_990_000_000);
    assert_eq!(items[2].mime_type, "");
}

#[tokio::test]
async fn multi_megabyte_bodies_stream_both_ways() {
    const LEN: usize = 8 * 1024 * 1024;
    const CHUNK: usize = 64 * 1024;
    let provider = Provider::start(Options::default()).await;
    let client = client_for(&provider);
    let expected = Bytes::from(pattern(LEN));

    // Upload: the body is produced chunk by chunk as the request goes out.
    let reserved = client.upload_init("/", "big.bin", None, None).await.expect("uploadInit");
    let source = expected.clone();
    let body = futures::stream::iter(0..LEN / CHUNK)
        .map(move |index| Ok::<_, std::io::Error>(source.slice(index * CHUNK..(index + 1) * CHUNK)));
    client.upload(reserved.id.as_str(), body, Some(LEN as u64)).await.expect("upload");
    assert!(provider.bytes_of(reserved.id.as_str()) == Some(expected.clone()), "stored bytes differ");
    let upload = provider.seen().into_iter().find(|s| s.endpoint == "upload").expect("upload seen");
    assert_eq!(upload.headers.get("content-length").and_then(|v| v.to_str().ok()), Some(LEN.to_string().as_str()));

    // Download: the body arrives as a stream of many chunks, never as one buffer.
    let download = client.download(reserved.id.as_str(), None).await.expect("download");
    assert_eq!(download.content_length(), Some(LEN as u64));
    assert_eq!(download.filename().as_deref(), Some("big.bin"));
    let mut chunks = 0usize;
    let mut received = Vec::with_capacity(LEN);
    let written = download.copy_to(&mut received, |_| chunks += 1).await.expect("copy");
    assert_eq!(written, LEN as u64);
    assert!(chunks > 1, "the body came in {chunks} chunk(s)");
    assert!(received == expected, "downloaded bytes differ");

    let partial = client
        .download(reserved.id.as_str(), Some(DownloadRange::Bounded { start: 10, end_inclusive: 19 }))
        .await
        .expect("range");
    assert_eq!(partial.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(partial.into_bytes().await.expect("bytes"), expected.slice(10..20));
}

/// The file commands behind the CLI (feature `cli`; `cargo test --workspace` has it, as the
/// server enables it).
#[cfg(feature = "cli")]
mod file_commands {
    use super::*;
    use docbridge_client::commands::{self, GetDestination, NoProgress, Progress, WorkfrontIds};
    use docbridge_client::remotes::{Location, RemotePath};

    /// Counts what a command reports, to check that progress is driven.
    #[derive(Default)]
    struct CountingProgress {
        total: std::sync::Mutex<Option<u64>>,
        advanced: std::sync::atomic::AtomicU64,
    }

    impl Progress for CountingProgress {
        fn start(&self, total: Option<u64>) {
            *self.total.lock().expect("lock") = total;
        }
        fn advance(&self, bytes: u64) {
            self.advanced.fetch_add(bytes, std::sync::atomic::Ordering::Relaxed);
        }
        fn finish(&self) {}
    }

    #[tokio::test]
    async fn file_commands_work_on_paths_and_ids() {
        let provider = Provider::start(Options::default()).await;
        let data_dir = tempfile::tempdir().expect("tempdir");
        let mut remote = provider.remote();
        remote.name = "acme".into();
        commands::add_remote(data_dir.path(), remote, false).expect("remote add");
        let listed = commands::list_remotes(data_dir.path()).expect("remote list");
        assert_eq!(listed.len(), 1);
        assert!(!commands::render_remotes(&listed).contains(API_KEY), "secrets are masked");

        let target = |raw: &str| raw.parse::<RemotePath>().expect("remote path");
        let client = commands::open(data_dir.path(), &target("acme:/")).expect("open");
        let projects = provider.add_folder("/", "Projects");
        provider.add_file(&projects, "notes.txt", "the quick brown fox");
        provider.add_file("/", "Projects-dup", "x");

        let folder = commands::mkdir(&client, &target("acme:/Projects/2024").location, None).await.expect("mkdir");
        assert_eq!(folder.title, "2024");
        let in_projects = commands::list(&client, &target("acme:/Projects").location).await.expect("ls");
        let titles: Vec<&str> = in_projects.iter().map(|i| i.title.as_str()).collect();
        assert_eq!(titles, ["2024", "notes.txt"], "folders first");
        let rendered = commands::render_items(&in_projects);
        assert!(rendered.lines().next().is_some_and(|l| l.starts_with('d')), "{rendered}");

        let stat = commands::stat(&client, &target("acme:/Projects/notes.txt").location).await.expect("stat");
        assert_eq!(stat.size, 19);
        assert!(commands::render_item(&stat).contains("size          19"));
        let by_id = commands::list(&client, &Location::Id(stat.id.to_string())).await.expect("ls of a file");
        assert_eq!(by_id.len(), 1);

        // put then get round trip, with progress.
        let local = data_dir.path().join("upload me.bin");
        let body = pattern(300_000);
        std::fs::write(&local, &body).expect("write");
        let progress = Arc::new(CountingProgress::default());
        let ids = WorkfrontIds::default();
        let put = commands::put(&client, &local, &target("acme:/Projects/2024").location, None, &ids, progress.clone())
            .await
            .expect("put");
        assert_eq!((put.title.as_str(), put.size), ("upload me.bin", 300_000));
        assert_eq!(*progress.total.lock().expect("lock"), Some(300_000));
        assert_eq!(progress.advanced.load(std::sync::atomic::Ordering::Relaxed), 300_000);

        let out_dir = data_dir.path().join("out");
        std::fs::create_dir(&out_dir).expect("mkdir out");
        let get = commands::get(
            &client,
            &target("acme:/Projects/2024/upload me.bin").location,
            &GetDestination::Path(out_dir.clone()),
            &NoProgress,
        )
        .await
        .expect("get");
        assert_eq!(get.bytes, 300_000);
        assert_eq!(std::fs::read(out_dir.join("upload me.bin")).expect("read"), body);
        assert!(!out_dir.join("upload me.bin.docbridge-part").exists());

        let found = commands::find(&client, &target("acme:/Projects").location, "quick", None).await.expect("find");
        assert_eq!(found.iter().map(|i| i.title.as_str()).collect::<Vec<_>>(), ["notes.txt"]);

        commands::rename(&client, &target("acme:/Projects/notes.txt").location, "renamed.txt").await.expect("mv");
        let err =
            commands::stat(&client, &target("acme:/Projects/notes.txt").location).await.expect_err("old name gone");
        assert!(
            matches!(err, ClientError::Path { .. }) && err.to_string().contains("no item named \"notes.txt\""),
            "{err}"
        );

        commands::action(&client, &target("acme:/Projects/renamed.txt").location, "archive", &ids)
            .await
            .expect("action");
        let err = commands::action(&client, &target("acme:/Projects/2024").location, "explode", &ids)
            .await
            .expect_err("unknown action");
        assert_eq!((err.status(), err.provider_message()), (Some(400), Some("unknown action")));

        let err =
            commands::remove(&client, &target("acme:/Projects").location, false).await.expect_err("folder without -r");
        assert!(err.to_string().contains("--recursive"), "{err}");
        commands::remove(&client, &target("acme:/Projects").location, true).await.expect("rm -r");
        assert!(commands::stat(&client, &Location::Id(projects)).await.is_err());
        assert!(commands::remove(&client, &Location::Root, true).await.is_err(), "the root cannot be deleted");

        let err = commands::get(&client, &target("acme:/Archive").location, &GetDestination::Stdout, &NoProgress)
            .await
            .expect_err("a folder");
        assert!(err.to_string().contains("is a folder"), "{err}");
        commands::remove_remote(data_dir.path(), "acme").expect("remote remove");
        assert!(commands::open(data_dir.path(), &target("acme:/")).is_err());
    }

    #[tokio::test]
    async fn ambiguous_and_hostile_titles_are_handled() {
        let provider = Provider::start(Options::default()).await;
        let client = client_for(&provider);
        provider.add_file("/", "twin.txt", "1");
        provider.add_file("/", "twin.txt", "2");
        let err = commands::stat(&client, &Location::Path(vec!["twin.txt".into()])).await.expect_err("ambiguous");
        assert!(err.to_string().contains("2 items share this name"), "{err}");

        // A title that tries to climb out of the target directory is written inside it.
        let id = provider.add_file("/", "../escape.txt", "caught");
        let dir = tempfile::tempdir().expect("tempdir");
        let outcome =
            commands::get(&client, &Location::Id(id), &GetDestination::Path(dir.path().to_path_buf()), &NoProgress)
                .await
                .expect("get");
        let path = outcome.path.expect("a file was written");
        assert_eq!(path.parent(), Some(dir.path()));
        assert_eq!(std::fs::read_to_string(path).expect("read"), "caught");
    }
}
