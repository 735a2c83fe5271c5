//! A change whose caller stops waiting (the request timeout answers 408, or the client hangs
//! up) still runs to its end: cancelled between its storage step and its index step, a rename
//! left the file renamed on disk and the index at the old name, and the next look at the item
//! lost its ID. The storage here holds a rename after the file has moved, until the test has
//! seen the 408; the rename must then finish, index included, and what it logs meanwhile still
//! carries the request's ID.

use crate::support::in_process;

use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use docbridge_registry::{Integration, Registry};
use docbridge_server::{AppState, ServerSettings, StorageFactory, setup};
use docbridge_storage::{ByteStream, Entry, FsStorage, Result, Storage, StorageError, StoragePath, WriteMode};
use in_process::Serving;
use reqwest::StatusCode;
use serde_json::Value;
use tokio::sync::oneshot;

/// Armed by the test: the next rename says "moved" on the sender, then waits for the receiver.
type Hold = Arc<Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>>;

/// The filesystem adapter, whose next `rename` waits after moving the file until let go.
struct Held {
    inner: FsStorage,
    hold: Hold,
}

#[async_trait::async_trait]
impl Storage for Held {
    fn kind(&self) -> &'static str {
        "held-fs"
    }
    async fn stat(&self, path: &StoragePath) -> Result<Entry> {
        self.inner.stat(path).await
    }
    async fn list(&self, dir: &StoragePath) -> Result<Vec<Entry>> {
        self.inner.list(dir).await
    }
    async fn walk(&self, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>> {
        self.inner.walk(dir).await
    }
    async fn read(&self, path: &StoragePath, range: Option<Range<u64>>) -> Result<ByteStream> {
        self.inner.read(path, range).await
    }
    async fn write(&self, path: &StoragePath, data: ByteStream, mode: WriteMode, limit: Option<u64>) -> Result<Entry> {
        self.inner.write(path, data, mode, limit).await
    }
    async fn create_dir(&self, path: &StoragePath) -> Result<Entry> {
        self.inner.create_dir(path).await
    }
    async fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        self.inner.rename(from, to).await?;
        tracing::info!(%from, "held rename moved the file");
        let hold = self.hold.lock().unwrap().take();
        if let Some((moved, release)) = hold {
            let _ = moved.send(());
            let _ = release.await;
        }
        Ok(())
    }
    async fn delete(&self, path: &StoragePath) -> Result<()> {
        self.inner.delete(path).await
    }
}

struct HeldFactory {
    hold: Hold,
}

impl StorageFactory for HeldFactory {
    fn open(&self, integration: &Integration) -> Result<Arc<dyn Storage>, StorageError> {
        Ok(Arc::new(Held { inner: FsStorage::new(&integration.storage_root)?, hold: self.hold.clone() }))
    }
}

/// Log lines written as JSON into memory: the only subscriber of this test binary.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Captured {
        self.clone()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rename_that_timed_out_still_finishes_with_its_index() {
    let logs = Captured::default();
    let subscriber =
        tracing_subscriber::fmt().json().with_writer(logs.clone()).with_max_level(tracing::Level::INFO).finish();
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    let dir = tempfile::tempdir().unwrap();
    let registry =
        Registry::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("db.sqlite").display())).await.unwrap();
    let documents = dir.path().join("documents");
    std::fs::create_dir_all(&documents).unwrap();
    std::fs::write(documents.join("a.txt"), "alpha").unwrap();
    let (listener, base) = in_process::listen().await;
    let key = setup::ensure_default_integration(&registry, &base, &documents).await.unwrap().unwrap().api_key.unwrap();
    let hold = Arc::new(Mutex::new(None));
    // Long enough for every call but the held rename, which waits for the test.
    let settings = ServerSettings {
        request_timeout: Duration::from_secs(2),
        ..in_process::settings(&base, dir.path(), "docbridge cancellation tests")
    };
    let state = AppState::new(registry.clone(), settings, Arc::new(HeldFactory { hold: hold.clone() })).await.unwrap();
    let serving = Serving::start(listener, state.clone());

    let http = reqwest::Client::new();
    let call = |method: reqwest::Method, endpoint: &str, query: &[(&str, &str)]| {
        http.request(method, format!("{base}/webhooks/default/{endpoint}"))
            .query(query)
            .header("apiKey", &key)
            .header("username", "tester@example.com")
    };
    let listing: Value =
        call(reqwest::Method::GET, "files", &[("parentId", "/")]).send().await.unwrap().json().await.unwrap();
    let id = listing[0]["id"].as_str().unwrap().to_owned();

    let (moved_tx, moved) = oneshot::channel();
    let (release, release_rx) = oneshot::channel();
    *hold.lock().unwrap() = Some((moved_tx, release_rx));
    let renamed = call(reqwest::Method::PUT, "rename", &[("id", &id), ("name", "b.txt")]).send().await.unwrap();
    assert_eq!(renamed.status(), StatusCode::REQUEST_TIMEOUT, "the held rename answers 408");
    let request_id = renamed.headers()["x-request-id"].to_str().unwrap().to_owned();
    moved.await.expect("the file was moved before the timeout");
    release.send(()).expect("the rename is still running after its caller stopped waiting");

    // fsck waits for the change lock the rename holds, then finds index and storage agreeing.
    let integration = registry.integration("default").await.unwrap().unwrap();
    let report = state.library(&integration).unwrap().fsck().await.unwrap();
    assert!(report.is_clean(), "the rename finished in storage and index alike: {report:?}");
    let metadata: Value =
        call(reqwest::Method::GET, "metadata", &[("id", &id)]).send().await.unwrap().json().await.unwrap();
    assert_eq!(metadata["title"], "b.txt", "same ID, new name");
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = text.lines().find(|l| l.contains("held rename moved the file")).expect("the rename logged");
    let logged: Value = serde_json::from_str(line).unwrap();
    assert_eq!(logged["span"]["request_id"], request_id.as_str(), "the change logs in its request's span: {line}");
    serving.stop().await;
}
