//! The S3 adapter: the conformance suite and the S3-specific behaviour (multipart uploads and
//! their aborts, ranged reads, listings past a thousand keys, Unicode keys, folder markers, the
//! journal that resumes interrupted renames and deletes), on two backends:
//!
//! - `memory`: `object_store`'s in-memory store, always available; it honours conditional writes,
//!   so the atomic `CreateNew` paths run here;
//! - `real`: a real S3 server named by `DOCBRIDGE_TEST_S3_ENDPOINT`, `DOCBRIDGE_TEST_S3_BUCKET`,
//!   `DOCBRIDGE_TEST_S3_KEY` and `DOCBRIDGE_TEST_S3_SECRET` (`.ci/s3.sh start` runs one with
//!   rclone and writes them to a file). Without them, each test prints that it was skipped.
//!
//! Every test works under a prefix of its own, removed when it ends.

use std::collections::BTreeSet;
use std::fmt;
use std::io;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use docbridge_storage::s3::object_store::{
    self, CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore, ObjectStoreExt,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, UploadPart, memory::InMemory, path::Path as Key,
};
use docbridge_storage::suite::{chunked, content, internal, mkdir, names, path, pattern, put, read_to_vec, walked};
use docbridge_storage::{
    ByteStream, EntryKind, S3Config, S3Options, S3Secret, S3Storage, Storage, StorageError, StoragePath, WriteMode,
};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use tokio::sync::watch;

/// Parts of 64 KiB: a multipart upload of several parts costs little.
const PART: usize = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// Backends.

/// The real S3 server of the environment, if one is configured.
fn real_config() -> Option<S3Config> {
    let var = |name: &str| std::env::var(format!("DOCBRIDGE_TEST_S3_{name}")).ok().filter(|v| !v.is_empty());
    let endpoint = var("ENDPOINT")?;
    Some(S3Config {
        allow_http: endpoint.starts_with("http://"),
        endpoint,
        region: var("REGION").unwrap_or_else(|| "us-east-1".to_owned()),
        bucket: var("BUCKET")?,
        prefix: String::new(),
        access_key_id: var("KEY")?,
        secret_access_key: S3Secret::new(var("SECRET")?),
    })
}

/// A store for one test: its prefix and a recorder in front of the backend.
struct Backend {
    store: Arc<Recorder>,
    prefix: String,
    /// Removes the test's objects from a real bucket when the test ends.
    _cleanup: Option<Cleanup>,
}

impl Backend {
    fn memory() -> Backend {
        Backend { store: Recorder::over(Arc::new(InMemory::new())), prefix: unique_prefix(), _cleanup: None }
    }

    /// `None` (and a note on stderr) when no real server is configured.
    fn real(test: &str) -> Option<Backend> {
        let Some(config) = real_config() else {
            eprintln!("{test}: skipped: no S3 server (set DOCBRIDGE_TEST_S3_* or run .ci/s3.sh start)");
            return None;
        };
        let raw: Arc<dyn ObjectStore> = Arc::new(config.store().expect("S3 client"));
        let prefix = unique_prefix();
        let cleanup = Cleanup { store: raw.clone(), prefix: prefix.clone() };
        Some(Backend { store: Recorder::over(raw), prefix, _cleanup: Some(cleanup) })
    }

    fn storage(&self, options: S3Options) -> S3Storage {
        S3Storage::from_store(self.store.clone(), &self.prefix, options).expect("adapter")
    }

    /// The adapter as docbridge uses it, with small parts.
    fn adapter(&self) -> S3Storage {
        self.storage(S3Options { part_size: PART, ..S3Options::default() })
    }

    fn key(&self, rel: &str) -> Key {
        Key::parse(format!("{}/{rel}", self.prefix)).expect("key")
    }

    /// Every key under the test's prefix, relative to it.
    async fn keys(&self) -> Vec<String> {
        let prefix = Key::parse(&self.prefix).expect("prefix");
        let metas: Vec<ObjectMeta> = self.store.inner.list(Some(&prefix)).try_collect().await.expect("raw listing");
        let mut keys: Vec<String> = metas
            .iter()
            .map(|m| m.location.as_ref().strip_prefix(&format!("{}/", self.prefix)).unwrap_or_default().to_owned())
            .collect();
        keys.sort();
        keys
    }

    /// Puts objects directly, as another S3 tool would, many at once.
    async fn put_raw(&self, keys: Vec<String>) {
        futures::stream::iter(keys)
            .map(|rel| async move {
                let key = self.key(&rel);
                self.store.inner.put(&key, PutPayload::from(Bytes::from(rel.clone().into_bytes()))).await
            })
            .buffer_unordered(32)
            .try_collect::<Vec<_>>()
            .await
            .expect("raw puts");
    }
}

fn unique_prefix() -> String {
    format!("docbridge-tests/{}", uuid::Uuid::new_v4())
}

/// Deletes a test's prefix from a real bucket. `Drop` cannot await, so the work runs on a thread
/// with a runtime of its own, joined before the test ends.
struct Cleanup {
    store: Arc<dyn ObjectStore>,
    prefix: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let (store, prefix) = (self.store.clone(), self.prefix.clone());
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("cleanup runtime");
            runtime.block_on(async move {
                let prefix = Key::parse(&prefix).expect("prefix");
                let keys = store.list(Some(&prefix)).map_ok(|m| m.location).boxed();
                let deleted: Vec<_> = store.delete_stream(keys).collect().await;
                if let Some(Err(e)) = deleted.into_iter().find(Result::is_err) {
                    eprintln!("cleanup of {prefix}: {e}");
                }
            });
        });
        if thread.join().is_err() {
            eprintln!("cleanup of {} panicked", self.prefix);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The recorder: counts multipart calls and injects faults, in front of any store.

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Counts {
    parts: usize,
    completes: usize,
    aborts: usize,
    copies: usize,
}

#[derive(Debug)]
struct Recorder {
    inner: Arc<dyn ObjectStore>,
    counts: watch::Sender<Counts>,
    /// Copies left before one fails (negative: never).
    copies_before_failure: AtomicI64,
    /// Delete requests left before one fails (negative: never).
    deletes_before_failure: AtomicI64,
    /// A write that another writer slips in just before the next `PUT` to its key that is not a
    /// create: what a change between a `Replace`'s last check and its commit looks like.
    sneak: std::sync::Mutex<Option<(Key, Bytes)>>,
}

impl Recorder {
    fn over(inner: Arc<dyn ObjectStore>) -> Arc<Recorder> {
        Arc::new(Recorder {
            inner,
            counts: watch::Sender::new(Counts::default()),
            copies_before_failure: AtomicI64::new(-1),
            deletes_before_failure: AtomicI64::new(-1),
            sneak: std::sync::Mutex::new(None),
        })
    }

    fn counts(&self) -> Counts {
        *self.counts.borrow()
    }

    /// Waits (at most a minute) until the counts satisfy `done`.
    async fn wait_for(&self, what: &str, done: impl Fn(&Counts) -> bool) {
        let mut receiver = self.counts.subscribe();
        let waited = tokio::time::timeout(Duration::from_secs(60), receiver.wait_for(|c| done(c))).await;
        assert!(matches!(waited, Ok(Ok(_))), "waited in vain for {what}: {:?}", self.counts());
    }

    fn fail_copy_after(&self, n: i64) {
        self.copies_before_failure.store(n, Ordering::SeqCst);
    }

    fn fail_delete_after(&self, n: i64) {
        self.deletes_before_failure.store(n, Ordering::SeqCst);
    }

    /// Whether the armed fault of `counter` fires now.
    fn fires(counter: &AtomicI64) -> bool {
        counter
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| (left >= 0).then_some(left - 1))
            .is_ok_and(|left| left == 0)
    }
}

fn injected() -> object_store::Error {
    object_store::Error::Generic { store: "recorder", source: "injected fault".into() }
}

impl fmt::Display for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Recorder({})", self.inner)
    }
}

#[async_trait::async_trait]
impl ObjectStore for Recorder {
    async fn put_opts(&self, location: &Key, payload: PutPayload, opts: PutOptions) -> object_store::Result<PutResult> {
        let sneak = {
            let mut sneak = self.sneak.lock().unwrap();
            let due = sneak.as_ref().is_some_and(|(key, _)| key == location)
                && !matches!(opts.mode, object_store::PutMode::Create);
            if due { sneak.take() } else { None }
        };
        if let Some((key, bytes)) = sneak {
            self.inner.put(&key, PutPayload::from_bytes(bytes)).await?;
        }
        self.inner.put_opts(location, payload, opts).await
    }

    async fn put_multipart_opts(
        &self,
        location: &Key,
        opts: PutMultipartOptions,
    ) -> object_store::Result<Box<dyn MultipartUpload>> {
        let upload = self.inner.put_multipart_opts(location, opts).await?;
        Ok(Box::new(RecordedUpload { upload, counts: self.counts.clone() }))
    }

    async fn get_opts(&self, location: &Key, options: GetOptions) -> object_store::Result<GetResult> {
        self.inner.get_opts(location, options).await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, object_store::Result<Key>>,
    ) -> BoxStream<'static, object_store::Result<Key>> {
        if Recorder::fires(&self.deletes_before_failure) {
            return futures::stream::once(async { Err(injected()) }).boxed();
        }
        self.inner.delete_stream(locations)
    }

    fn list(&self, prefix: Option<&Key>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
        self.inner.list(prefix)
    }

    async fn list_with_delimiter(&self, prefix: Option<&Key>) -> object_store::Result<ListResult> {
        self.inner.list_with_delimiter(prefix).await
    }

    async fn copy_opts(&self, from: &Key, to: &Key, options: CopyOptions) -> object_store::Result<()> {
        if Recorder::fires(&self.copies_before_failure) {
            return Err(injected());
        }
        self.inner.copy_opts(from, to, options).await?;
        self.counts.send_modify(|c| c.copies += 1);
        Ok(())
    }
}

#[derive(Debug)]
struct RecordedUpload {
    upload: Box<dyn MultipartUpload>,
    counts: watch::Sender<Counts>,
}

#[async_trait::async_trait]
impl MultipartUpload for RecordedUpload {
    fn put_part(&mut self, data: PutPayload) -> UploadPart {
        let part = self.upload.put_part(data);
        let counts = self.counts.clone();
        Box::pin(async move {
            part.await?;
            counts.send_modify(|c| c.parts += 1);
            Ok(())
        })
    }

    async fn complete(&mut self) -> object_store::Result<PutResult> {
        let result = self.upload.complete().await?;
        self.counts.send_modify(|c| c.completes += 1);
        Ok(result)
    }

    async fn abort(&mut self) -> object_store::Result<()> {
        let result = self.upload.abort().await;
        self.counts.send_modify(|c| c.aborts += 1);
        result
    }
}

// ---------------------------------------------------------------------------------------------
// The conformance suite.

mod memory_suite {
    docbridge_storage::storage_conformance_tests!(async {
        let backend = super::Backend::memory();
        (backend.adapter(), backend)
    });
}

mod real_suite {
    docbridge_storage::storage_conformance_tests!(async {
        super::Backend::real("conformance").map(|backend| (backend.adapter(), backend))
    });
}

/// Each S3-specific case, once on the in-memory store and once on the real server.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    super::$case(&super::Backend::memory()).await;
                }
            )*
        }
        mod real {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    if let Some(backend) = super::Backend::real(stringify!($case)) {
                        super::$case(&backend).await;
                    }
                }
            )*
        }
    };
}

on_both_backends!(
    ranged_reads,
    multipart_upload_of_several_parts,
    failed_multipart_upload_is_aborted,
    over_limit_multipart_upload_is_aborted,
    abandoned_multipart_upload_is_aborted,
    create_new_of_a_large_file,
    listings_past_a_thousand_keys,
    unicode_keys_are_stored_as_they_are,
    folders_have_markers_and_foreign_prefixes_are_folders,
    failed_rename_resumes_at_the_next_call,
    interrupted_rename_resumes_in_another_process,
    interrupted_delete_resumes_in_another_process,
    journal_entries_of_live_operations_are_left_alone,
    a_file_replaced_since_its_move_began_stays,
    a_resumed_entry_of_a_finished_folder_move_brings_nothing_back,
    an_interrupted_rename_is_finished_when_asked,
    an_adapter_that_leaves_resuming_to_its_caller_moves_nothing_by_itself,
);

// ---------------------------------------------------------------------------------------------
// The cases.

async fn ranged_reads(b: &Backend) {
    let s = b.adapter();
    let data = pattern(3 * PART + 123, 11);
    put(&s, "r.bin", &data).await;
    let read = |range: Range<u64>| {
        let s = &s;
        async move { read_to_vec(s, &path("r.bin"), Some(range.clone())).await.unwrap_or_else(|e| panic!("{range:?}: {e}")) }
    };
    let size = data.len() as u64;
    assert_eq!(read(0..1).await, &data[..1]);
    assert!(read(1000..150_000).await == data[1000..150_000], "a middle range");
    assert_eq!(read(size - 1..size).await, &data[data.len() - 1..]);
    assert!(read(size - 10..size + 1000).await == data[data.len() - 10..], "clamped at the end");
    assert!(read(size..size + 5).await.is_empty(), "starting at the end");
    assert!(read(size + 100..size + 200).await.is_empty(), "starting past the end");
    assert!(read(7..7).await.is_empty(), "an empty range");
    assert!(matches!(s.read(&path("missing"), Some(0..1)).await, Err(StorageError::NotFound(_))));
    assert!(matches!(s.read(&path("missing"), Some(5..5)).await, Err(StorageError::NotFound(_))));
    mkdir(&s, "d").await;
    assert!(matches!(s.read(&path("d"), Some(0..1)).await, Err(StorageError::IsADirectory(_))));
    // An empty file has no byte to range over.
    put(&s, "empty", b"").await;
    assert!(read_to_vec(&s, &path("empty"), Some(0..10)).await.expect("empty file").is_empty());
}

async fn multipart_upload_of_several_parts(b: &Backend) {
    let s = b.adapter();
    // Four parts (the last one short), from chunks that never line up with a part.
    let data = pattern(3 * PART + 5000, 21);
    let entry = s
        .write(&path("big.bin"), chunked(data.clone(), 10_007), WriteMode::Replace, None)
        .await
        .expect("multipart write");
    assert_eq!(entry.size, data.len() as u64);
    let counts = b.store.counts();
    assert_eq!((counts.parts, counts.completes, counts.aborts), (4, 1, 0), "{counts:?}");
    assert!(content(&s, "big.bin").await == data, "content read back");
    assert_eq!(s.stat(&path("big.bin")).await.map(|e| e.size).ok(), Some(data.len() as u64));

    // Replacing with another multipart upload swaps the content at once.
    let other = pattern(3 * PART, 22);
    s.write(&path("big.bin"), chunked(other.clone(), 4096), WriteMode::Replace, None).await.expect("replace");
    assert!(content(&s, "big.bin").await == other, "replaced content");
    // Exactly three parts' worth is three parts, none empty.
    assert_eq!(b.store.counts().parts, 4 + 3);
    assert_eq!(b.keys().await, ["big.bin"], "nothing else in the bucket");
}

/// A stream that yields `data` in chunks and then fails.
fn failing(data: Vec<u8>, chunk: usize) -> ByteStream {
    let fail = futures::stream::once(async { Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away")) });
    Box::pin(chunked(data, chunk).chain(fail))
}

async fn failed_multipart_upload_is_aborted(b: &Backend) {
    let s = b.adapter();
    put(&s, "keep.bin", b"original").await;
    let result = s.write(&path("keep.bin"), failing(pattern(3 * PART, 3), 8192), WriteMode::Replace, None).await;
    assert!(matches!(result, Err(StorageError::SourceFailed(_))), "{result:?}");
    let counts = b.store.counts();
    assert_eq!((counts.completes, counts.aborts), (0, 1), "{counts:?}");
    assert!(counts.parts >= 1, "parts were sent before the failure: {counts:?}");
    assert_eq!(content(&s, "keep.bin").await, b"original");
    let created = s.write(&path("new.bin"), failing(pattern(3 * PART, 4), 8192), WriteMode::CreateNew, None).await;
    assert!(matches!(created, Err(StorageError::SourceFailed(_))), "{created:?}");
    assert_eq!(b.store.counts().aborts, 2);
    assert_eq!(b.keys().await, ["keep.bin"], "nothing partial, no temporary object");
}

async fn over_limit_multipart_upload_is_aborted(b: &Backend) {
    let s = b.adapter();
    let limit = (2 * PART + 10) as u64;
    let result =
        s.write(&path("big.bin"), chunked(pattern(4 * PART, 5), 8192), WriteMode::CreateNew, Some(limit)).await;
    assert!(matches!(result, Err(StorageError::TooLarge { limit: l }) if l == limit), "{result:?}");
    let counts = b.store.counts();
    assert_eq!((counts.completes, counts.aborts), (0, 1), "{counts:?}");
    assert!(b.keys().await.is_empty(), "nothing left: {:?}", b.keys().await);
}

async fn abandoned_multipart_upload_is_aborted(b: &Backend) {
    let s = b.adapter();
    // Three parts' worth, then a client that goes silent for ever.
    let stalled = Box::pin(chunked(pattern(3 * PART + 10, 6), 8192).chain(futures::stream::pending()));
    let task = {
        let s = s.clone();
        tokio::spawn(async move { s.write(&path("stalled.bin"), stalled, WriteMode::Replace, None).await })
    };
    b.store.wait_for("two parts sent", |c| c.parts >= 2).await;
    task.abort();
    assert!(task.await.is_err_and(|e| e.is_cancelled()), "the write was cancelled");
    b.store.wait_for("the abandoned upload's abort", |c| c.aborts == 1).await;
    assert_eq!(b.store.counts().completes, 0);
    assert!(matches!(s.stat(&path("stalled.bin")).await, Err(StorageError::NotFound(_))));
}

async fn create_new_of_a_large_file(b: &Backend) {
    let s = b.adapter();
    let first = pattern(2 * PART + 7, 31);
    s.write(&path("n.bin"), chunked(first.clone(), 9000), WriteMode::CreateNew, None).await.expect("first CreateNew");
    let again = s.write(&path("n.bin"), chunked(pattern(2 * PART + 7, 32), 9000), WriteMode::CreateNew, None).await;
    assert!(matches!(again, Err(StorageError::AlreadyExists(_))), "{again:?}");
    assert!(content(&s, "n.bin").await == first, "the first content stays");
    assert_eq!(b.keys().await, ["n.bin"], "no temporary object left");
    let atomic = s.capabilities().await.atomic_create_new;
    eprintln!("create_new_of_a_large_file: atomic CreateNew on this server: {atomic}");
}

async fn listings_past_a_thousand_keys(b: &Backend) {
    let s = b.adapter();
    mkdir(&s, "many").await;
    // 1,050 files and 1,010 folders (as other tools make them: no markers), raw.
    let mut keys: Vec<String> = (0..1050).map(|i| format!("many/file-{i:04}.txt")).collect();
    keys.extend((0..1010).map(|i| format!("many/dir-{i:04}/inner.txt")));
    b.put_raw(keys).await;
    let listed = s.list(&path("many")).await.expect("listing");
    let files = listed.iter().filter(|e| e.kind == EntryKind::File).count();
    let folders = listed.iter().filter(|e| e.kind == EntryKind::Dir).count();
    assert_eq!((files, folders), (1050, 1010), "every page of the listing");
    let listed_names: BTreeSet<String> = listed.into_iter().map(|e| e.name).collect();
    assert!(listed_names.contains("file-1049.txt") && listed_names.contains("dir-1009"));
    assert_eq!(walked(&s, &path("many")).await.len(), 1050 + 2 * 1010, "every page of the walk");

    // Moving and deleting go page by page too.
    s.rename(&path("many"), &path("moved")).await.expect("rename of 3,071 objects");
    assert!(matches!(s.stat(&path("many")).await, Err(StorageError::NotFound(_))));
    assert_eq!(s.list(&path("moved")).await.expect("moved listing").len(), 2060);
    assert_eq!(content(&s, "moved/dir-0500/inner.txt").await, b"many/dir-0500/inner.txt");
    s.delete(&path("moved")).await.expect("delete of 3,071 objects");
    assert!(b.keys().await.is_empty(), "everything deleted, journal included: {} keys left", b.keys().await.len());
}

async fn unicode_keys_are_stored_as_they_are(b: &Backend) {
    let s = b.adapter();
    let folder = "日本語 ñ";
    let file = "日本語 ñ/😀 100% #1?&.txt";
    mkdir(&s, folder).await;
    put(&s, file, "こんにちは".as_bytes()).await;
    // The key is the name itself: other S3 tools see the same tree.
    assert_eq!(b.keys().await, [format!("{folder}/.docbridge-folder"), file.to_owned()]);
    let raw = b.store.inner.get(&b.key(file)).await.expect("raw get").bytes().await.expect("raw bytes");
    assert_eq!(&raw[..], "こんにちは".as_bytes());

    // And a key another tool wrote is a file with that name.
    b.put_raw(vec!["Ünïcödé — “quotes”/ﬁ ligature ‘x’.md".to_owned()]).await;
    assert_eq!(names(&s, &path("Ünïcödé — “quotes”")).await, ["ﬁ ligature ‘x’.md"]);
    assert_eq!(
        content(&s, "Ünïcödé — “quotes”/ﬁ ligature ‘x’.md").await,
        "Ünïcödé — “quotes”/ﬁ ligature ‘x’.md".as_bytes()
    );
    s.rename(&path(file), &path("🚀.txt")).await.expect("unicode rename");
    assert_eq!(content(&s, "🚀.txt").await, "こんにちは".as_bytes());
}

async fn folders_have_markers_and_foreign_prefixes_are_folders(b: &Backend) {
    let s = b.adapter();
    mkdir(&s, "empty").await;
    assert_eq!(b.keys().await, ["empty/.docbridge-folder"], "an empty folder is its marker");
    assert_eq!(names(&s, &StoragePath::root()).await, ["empty"]);
    assert!(names(&s, &path("empty")).await.is_empty(), "the marker is never listed");

    b.put_raw(vec!["x/y/z.txt".to_owned()]).await;
    assert_eq!(s.stat(&path("x")).await.map(|e| e.kind).ok(), Some(EntryKind::Dir));
    assert_eq!(walked(&s, &path("x")).await, ["x/y", "x/y/z.txt"]);
    put(&s, "x/y/new.txt", b"n").await;
    mkdir(&s, "x/y/sub").await;

    for reserved in ["empty/.docbridge-folder", ".docbridge-folder"] {
        let written = s.write(&path(reserved), chunked(b"x".to_vec(), 1), WriteMode::Replace, None).await;
        assert!(matches!(written, Err(StorageError::InvalidPath(_))), "{reserved}: {written:?}");
    }
    assert!(matches!(s.create_dir(&path("x/.docbridge-folder")).await, Err(StorageError::InvalidPath(_))));
    assert!(matches!(s.list(&internal(&["journal"])).await, Err(StorageError::InvalidPath(_))));
}

/// A folder of `n` files under `name`.
async fn folder_of(s: &S3Storage, name: &str, n: usize) {
    mkdir(s, name).await;
    mkdir(s, &format!("{name}/sub")).await;
    for i in 0..n {
        put(s, &format!("{name}/sub/f{i:02}"), format!("file {i}").as_bytes()).await;
    }
}

async fn assert_moved(s: &S3Storage, from: &str, to: &str, n: usize) {
    assert!(matches!(s.stat(&path(from)).await, Err(StorageError::NotFound(_))), "{from} is gone");
    let mut expected = vec![format!("{to}/sub")];
    expected.extend((0..n).map(|i| format!("{to}/sub/f{i:02}")));
    assert_eq!(walked(s, &path(to)).await, expected);
    assert_eq!(content(s, &format!("{to}/sub/f07")).await, b"file 7");
}

fn journal_keys(keys: &[String]) -> Vec<&String> {
    keys.iter().filter(|k| k.starts_with(".docbridge/journal/")).collect()
}

async fn failed_rename_resumes_at_the_next_call(b: &Backend) {
    let s = b.adapter();
    folder_of(&s, "a", 20).await;
    b.store.fail_copy_after(10);
    let failed = s.rename(&path("a"), &path("b")).await;
    assert!(failed.is_err(), "the injected fault fails the rename");
    assert_eq!(journal_keys(&b.keys().await).len(), 1, "the journal keeps the rename");
    // The next call, whatever it is, completes the move first.
    assert_eq!(names(&s, &StoragePath::root()).await, ["b"]);
    assert_moved(&s, "a", "b", 20).await;
    assert!(journal_keys(&b.keys().await).is_empty(), "the journal entry is gone");
}

async fn interrupted_rename_resumes_in_another_process(b: &Backend) {
    let first = b.adapter();
    folder_of(&first, "a", 20).await;
    put(&first, "file.txt", b"moved file").await;
    b.store.fail_copy_after(5);
    assert!(first.rename(&path("a"), &path("t")).await.is_err());
    // `first` crashes here (its next call would resume the rename), and so does another process
    // after failing a file's rename. Neither entry is refreshed any more.
    drop(first);
    let crashed = b.adapter();
    // Its first call probes the server (with a copy), so the fault is armed after it.
    assert_eq!(names(&crashed, &StoragePath::root()).await, ["a", "file.txt", "t"]);
    b.store.fail_copy_after(0);
    assert!(crashed.rename(&path("file.txt"), &path("moved.txt")).await.is_err());
    drop(crashed);
    // A third process, which takes entries without a refresh for the grace period (zero here)
    // for a crash's leftovers, resumes both at its first call.
    let second = b.storage(S3Options { part_size: PART, journal_grace: Duration::ZERO, ..S3Options::default() });
    let root = names(&second, &StoragePath::root()).await;
    assert_eq!(root, ["moved.txt", "t"]);
    assert_moved(&second, "a", "t", 20).await;
    assert_eq!(content(&second, "moved.txt").await, b"moved file");
    assert!(journal_keys(&b.keys().await).is_empty());
}

async fn interrupted_delete_resumes_in_another_process(b: &Backend) {
    let first = b.adapter();
    folder_of(&first, "doomed", 12).await;
    put(&first, "keep.txt", b"k").await;
    // The first delete request fails: nothing was removed yet, but the journal has it.
    b.store.fail_delete_after(0);
    assert!(first.delete(&path("doomed")).await.is_err());
    drop(first);
    let second = b.storage(S3Options { part_size: PART, journal_grace: Duration::ZERO, ..S3Options::default() });
    assert_eq!(walked(&second, &StoragePath::root()).await, ["keep.txt"]);
    assert_eq!(b.keys().await, ["keep.txt"], "the folder and the journal entry are gone");
}

/// Writes a journal entry as a process would have left it, bypassing the adapter.
async fn put_journal_entry(b: &Backend, name: &str, entry: &str) {
    b.store
        .inner
        .put(&b.key(&format!(".docbridge/journal/{name}.json")), PutPayload::from(entry.as_bytes().to_vec()))
        .await
        .expect("entry");
}

async fn journal_entries_of_live_operations_are_left_alone(b: &Backend) {
    let s = b.adapter();
    folder_of(&s, "a", 3).await;
    // An entry as a process working right now would have written it.
    let entry = r#"{"version":1,"started":"2024-01-01T00:00:00Z","op":"rename_folder","from":"a","to":"c"}"#;
    put_journal_entry(b, "live", entry).await;
    let other = b.adapter();
    assert_eq!(names(&other, &StoragePath::root()).await, ["a"], "a fresh entry belongs to a live process");
    assert_eq!(other.resume_interrupted(Duration::from_secs(3600)).await.expect("scan"), 0);
    // Once it has gone without a refresh for long enough, it is resumed.
    assert_eq!(other.resume_interrupted(Duration::ZERO).await.expect("resume"), 1);
    assert_eq!(names(&other, &StoragePath::root()).await, ["c"]);
    assert!(journal_keys(&b.keys().await).is_empty());

    // A damaged or forged entry moves nothing, and is kept for a human to look at.
    let forged = r#"{"version":1,"started":"2024-01-01T00:00:00Z","op":"delete_folder","path":".docbridge/journal"}"#;
    put_journal_entry(b, "forged", forged).await;
    assert_eq!(other.resume_interrupted(Duration::ZERO).await.expect("scan"), 0);
    assert_eq!(journal_keys(&b.keys().await).len(), 1);
}

/// With `resume_on_its_own: false` (as docbridge runs it), neither a crashed process's entry
/// past its grace nor this process's own failed rename is rolled forward by ordinary calls: only
/// by `resume_interrupted_operations`, which docbridge calls under the library's change lock.
async fn an_adapter_that_leaves_resuming_to_its_caller_moves_nothing_by_itself(b: &Backend) {
    let options =
        S3Options { part_size: PART, journal_grace: Duration::ZERO, resume_on_its_own: false, ..S3Options::default() };
    let s = b.storage(options);
    folder_of(&s, "a", 3).await;
    folder_of(&s, "d", 20).await;
    let entry = r#"{"version":1,"started":"2024-01-01T00:00:00Z","op":"rename_folder","from":"a","to":"c"}"#;
    put_journal_entry(b, "crashed", entry).await;
    b.store.fail_copy_after(10);
    assert!(s.rename(&path("d"), &path("e")).await.is_err(), "the injected fault fails the rename");
    for _ in 0..2 {
        assert_eq!(names(&s, &StoragePath::root()).await, ["a", "d", "e"], "ordinary calls leave both");
    }
    assert_eq!(journal_keys(&b.keys().await).len(), 2);
    assert_eq!(s.resume_interrupted_operations().await.expect("resume"), 2);
    assert_eq!(names(&s, &StoragePath::root()).await, ["c", "e"]);
    assert_moved(&s, "d", "e", 20).await;
    assert!(journal_keys(&b.keys().await).is_empty());
    assert_eq!(s.resume_interrupted_operations().await.expect("nothing left"), 0);
}

/// A process moved a folder `a` to `c` completely and died before removing its journal entry;
/// the folder has since been renamed to `b`. Resuming the entry must not bring `c` back (it put
/// the new folder's marker first, whatever was left to move: an empty folder appeared under a new
/// ID minutes later, found by `cargo xtask chaos`).
async fn a_resumed_entry_of_a_finished_folder_move_brings_nothing_back(b: &Backend) {
    let s = b.adapter();
    folder_of(&s, "b", 2).await;
    let entry = r#"{"version":1,"started":"2024-01-01T00:00:00Z","op":"rename_folder","from":"a","to":"c"}"#;
    put_journal_entry(b, "done", entry).await;
    assert_eq!(s.resume_interrupted(Duration::ZERO).await.expect("resume"), 1);
    assert_eq!(names(&s, &StoragePath::root()).await, ["b"]);
    assert!(journal_keys(&b.keys().await).is_empty(), "the entry is done with");
}

/// `finish_interrupted_rename` rolls forward at once an entry that still looks alive (the caller
/// knows its process is gone), and only the entry of that rename.
async fn an_interrupted_rename_is_finished_when_asked(b: &Backend) {
    let s = b.adapter();
    folder_of(&s, "a", 10).await;
    folder_of(&s, "x", 1).await;
    b.store.fail_copy_after(4);
    assert!(s.rename(&path("a"), &path("c")).await.is_err(), "the injected fault stops the move half-way");
    let other_entry = r#"{"version":1,"started":"2024-01-01T00:00:00Z","op":"rename_folder","from":"x","to":"y"}"#;
    put_journal_entry(b, "other", other_entry).await;
    // Another process (its grace period is long: both entries look alive to it) is told that
    // nobody runs the move of `a` any more.
    let other = b.adapter();
    other.finish_interrupted_rename(&path("a"), &path("c")).await.expect("finish");
    assert_moved(&other, "a", "c", 10).await;
    assert!(other.stat(&path("x")).await.is_ok(), "another rename's entry is left alone");
    let left = b.keys().await;
    assert_eq!(journal_keys(&left), [".docbridge/journal/other.json"]);
}

async fn a_file_replaced_since_its_move_began_stays(b: &Backend) {
    let s = b.adapter();
    put(&s, "f.txt", b"old").await;
    b.store.fail_copy_after(0);
    assert!(s.rename(&path("f.txt"), &path("g.txt")).await.is_err());
    // Before the rename resumes, someone replaces f.txt: the new file is not the one that was
    // being moved, and stays.
    b.store.inner.put(&b.key("f.txt"), PutPayload::from(b"new".to_vec())).await.expect("replace");
    assert_eq!(names(&s, &StoragePath::root()).await, ["f.txt"]);
    assert_eq!(content(&s, "f.txt").await, b"new");
    assert!(journal_keys(&b.keys().await).is_empty(), "the entry is done with");
}

/// A `Replace` of a single-part file whose target another writer replaces in the moment between
/// the adapter's last check and its `PUT` (issue #14): the `PUT` carries `If-Match`, so the
/// other writer's content stands and the replacement fails with `Changed` (it used to replace
/// that content). On the in-memory store only: it honours `If-Match`, and only a store in
/// front of the server can slip a write into that moment.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replace_does_not_overwrite_a_change_made_just_before_its_commit() {
    let b = Backend::memory();
    let s = b.adapter();
    put(&s, "a.txt", b"old").await;
    *b.store.sneak.lock().unwrap() = Some((b.key("a.txt"), Bytes::from_static(b"the other writer's")));
    let replaced = s.write(&path("a.txt"), docbridge_storage::suite::stream_of("new"), WriteMode::Replace, None).await;
    assert!(matches!(replaced, Err(StorageError::Changed(_))), "{replaced:?}");
    assert_eq!(content(&s, "a.txt").await, b"the other writer's");
    assert!(b.store.sneak.lock().unwrap().is_none(), "the other write was slipped in");
    s.write(&path("a.txt"), docbridge_storage::suite::stream_of("new"), WriteMode::Replace, None).await.unwrap();
    assert_eq!(content(&s, "a.txt").await, b"new");
}
