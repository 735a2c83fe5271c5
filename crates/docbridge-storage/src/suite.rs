//! The conformance suite every [`Storage`] adapter must pass, and helpers for tests that use
//! storage (feature `test-kit`).
//!
//! Each case is a public async function taking the adapter under test; the
//! [`storage_conformance_tests!`](crate::storage_conformance_tests) macro turns every case into
//! its own `#[tokio::test]`, so a failure names the case. Cases panic on failure, with the
//! adapter's answer in the message.
//!
//! ```text
//! // tests/conformance.rs of an adapter crate (needs `tokio` with `macros` and
//! // `rt-multi-thread` among its dev-dependencies):
//! docbridge_storage::storage_conformance_tests!(async {
//!     let bucket = TestBucket::create().await; // dropped (and cleaned) when the test ends
//!     (S3Storage::new(bucket.config()), bucket)
//! });
//! ```
//!
//! The cases only use the trait: nothing here knows about disks, so an adapter over an object
//! store can run them unchanged.

use std::collections::BTreeSet;
use std::io;
use std::ops::Range;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;

use crate::{ByteStream, Entry, EntryKind, Result, Storage, StorageError, StoragePath, WriteMode};

/// Runs the whole conformance suite against an adapter, one `#[tokio::test]` per case.
///
/// The argument is an expression, evaluated afresh in every test, whose value is a future
/// resolving to `(adapter, guard)`: the adapter under test (any `impl Storage`) and a value kept
/// alive until the test ends (a temporary folder, a test bucket; `()` if nothing). Each test
/// therefore gets an empty library of its own.
///
/// ```no_run
/// mod fs {
///     docbridge_storage::storage_conformance_tests!(async {
///         let dir = tempfile::tempdir().expect("temp dir");
///         (docbridge_storage::FsStorage::new(dir.path()).expect("fs storage"), dir)
///     });
/// }
/// mod memory {
///     docbridge_storage::storage_conformance_tests!(async { (docbridge_storage::MemoryStorage::new(), ()) });
/// }
/// ```
///
/// The future may instead resolve to an `Option<(adapter, guard)>`: `None` (a server the test
/// needs is not configured) makes every case print that it was skipped, and pass. A case that
/// needs a guarantee the adapter's [`Storage::capabilities`] denies is skipped the same way
/// ([`skip_reason`]).
///
/// The calling crate needs `tokio` (features `macros`, `rt-multi-thread`). Tests run on a
/// two-thread runtime so that the concurrency cases really overlap.
#[macro_export]
macro_rules! storage_conformance_tests {
    ($make:expr) => {
        $crate::storage_conformance_tests!(@cases $make;
            root_is_a_folder,
            create_dir_list_stat,
            create_dir_conflict,
            create_new_twice_keeps_the_first,
            replace_swaps_content,
            replace_refuses_a_target_changed_meanwhile,
            failed_stream_changes_nothing,
            over_limit_is_too_large,
            write_needs_a_parent_folder,
            read_whole_and_ranges,
            read_folder_is_refused,
            open_describes_and_reads,
            rename_file,
            rename_folder_moves_children,
            rename_onto_taken_name_is_refused,
            rename_into_itself_is_refused,
            delete_file,
            delete_folder_recursively,
            delete_root_is_refused,
            delete_missing_is_not_found,
            internal_paths_work_but_stay_hidden,
            walk_lists_nested_items,
            unicode_names,
            large_file_round_trip,
            concurrent_create_new_has_one_winner,
            concurrent_writes_of_different_names_all_land,
        );
    };
    (@cases $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let Some((storage, _guard)) = $crate::suite::ConformanceSetup::into_setup($make.await) else {
                    eprintln!("{}: skipped: the storage under test is not available here", stringify!($case));
                    return;
                };
                if let Some(reason) = $crate::suite::skip_reason(stringify!($case), &storage).await {
                    eprintln!("{}: skipped: {reason}", stringify!($case));
                    return;
                }
                $crate::suite::$case(&storage).await;
            }
        )*
    };
}

/// What the argument of [`storage_conformance_tests!`](crate::storage_conformance_tests)
/// resolves to: `(adapter, guard)`, or `Option` of it when the adapter may be unavailable.
pub trait ConformanceSetup {
    /// The adapter under test.
    type Storage: Storage;
    /// What keeps its backing alive for the test (a temporary folder, a server's bucket).
    type Guard;
    /// The adapter and its guard, or `None` when the adapter is unavailable (no server given).
    fn into_setup(self) -> Option<(Self::Storage, Self::Guard)>;
}

impl<S: Storage, G> ConformanceSetup for (S, G) {
    type Storage = S;
    type Guard = G;
    fn into_setup(self) -> Option<(S, G)> {
        Some(self)
    }
}

impl<S: Storage, G> ConformanceSetup for Option<(S, G)> {
    type Storage = S;
    type Guard = G;
    fn into_setup(self) -> Option<(S, G)> {
        self
    }
}

/// Why `case` cannot run on `storage`, if it cannot: it needs a guarantee that the adapter's
/// [`Storage::capabilities`] denies. Every other case runs on every adapter.
pub async fn skip_reason(case: &str, storage: &dyn Storage) -> Option<&'static str> {
    let capabilities = storage.capabilities().await;
    match case {
        "concurrent_create_new_has_one_winner" if !capabilities.atomic_create_new => {
            Some("the adapter declares that CreateNew is not atomic against concurrent writers")
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers, public for other crates' tests.

/// A path from its `/`-joined form; panics on an invalid one (test input is trusted).
pub fn path(raw: &str) -> StoragePath {
    StoragePath::parse(raw).unwrap_or_else(|e| panic!("bad test path {raw:?}: {e}"))
}

/// `names` inside the internal bookkeeping folder.
pub fn internal(names: &[&str]) -> StoragePath {
    StoragePath::internal(names).unwrap_or_else(|e| panic!("bad internal path {names:?}: {e}"))
}

/// A stream of one chunk.
pub fn stream_of(data: impl Into<Bytes>) -> ByteStream {
    let data: Bytes = data.into();
    Box::pin(futures::stream::iter([Ok(data)]))
}

/// A stream of `data` cut into chunks of `chunk` bytes (the last one shorter).
pub fn chunked(data: impl Into<Bytes>, chunk: usize) -> ByteStream {
    let data: Bytes = data.into();
    let chunk = chunk.max(1);
    let chunks: Vec<io::Result<Bytes>> =
        (0..data.len()).step_by(chunk).map(|at| Ok(data.slice(at..data.len().min(at + chunk)))).collect();
    Box::pin(futures::stream::iter(chunks))
}

/// A stream that yields `data` and then fails, like an upload cut half-way.
pub fn failing_after(data: impl Into<Bytes>) -> ByteStream {
    let data: Bytes = data.into();
    Box::pin(futures::stream::iter([Ok(data), Err(io::Error::new(io::ErrorKind::ConnectionReset, "client went away"))]))
}

/// `len` bytes of a fixed pseudo-random sequence (the same for a given `seed`), so that any
/// misplaced, lost or repeated chunk shows.
pub fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            // xorshift64
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Reads a file (or a range of it) whole.
pub async fn read_to_vec(storage: &dyn Storage, path: &StoragePath, range: Option<Range<u64>>) -> Result<Vec<u8>> {
    Ok(collect(storage.read(path, range).await?).await?)
}

/// Every byte of `stream`, in one buffer.
pub async fn collect(stream: ByteStream) -> io::Result<Vec<u8>> {
    let chunks: Vec<Bytes> = stream.try_collect().await?;
    Ok(chunks.concat())
}

/// Writes `data` at `raw` as a new file, panicking on failure.
pub async fn put(storage: &dyn Storage, raw: &str, data: &[u8]) -> Entry {
    storage
        .write(&path(raw), stream_of(data.to_vec()), WriteMode::CreateNew, None)
        .await
        .unwrap_or_else(|e| panic!("[{}] writing {raw}: {e}", storage.kind()))
}

/// Creates the folder `raw`, panicking on failure.
pub async fn mkdir(storage: &dyn Storage, raw: &str) -> Entry {
    storage.create_dir(&path(raw)).await.unwrap_or_else(|e| panic!("[{}] creating folder {raw}: {e}", storage.kind()))
}

/// The content of the file `raw`, panicking if it cannot be read.
pub async fn content(storage: &dyn Storage, raw: &str) -> Vec<u8> {
    read_to_vec(storage, &path(raw), None).await.unwrap_or_else(|e| panic!("[{}] reading {raw}: {e}", storage.kind()))
}

/// The sorted names listed in `dir`.
pub async fn names(storage: &dyn Storage, dir: &StoragePath) -> Vec<String> {
    let entries = storage.list(dir).await.unwrap_or_else(|e| panic!("[{}] listing {dir}: {e}", storage.kind()));
    let mut names: Vec<String> = entries.into_iter().map(|e| e.name).collect();
    names.sort();
    names
}

/// The `/`-joined paths below `dir`, sorted.
pub async fn walked(storage: &dyn Storage, dir: &StoragePath) -> Vec<String> {
    let entries = storage.walk(dir).await.unwrap_or_else(|e| panic!("[{}] walking {dir}: {e}", storage.kind()));
    let mut paths: Vec<String> = entries.into_iter().map(|(p, _)| p.as_string()).collect();
    paths.sort();
    paths
}

/// A filesystem adapter in a fresh temporary folder, removed when the guard drops.
#[cfg(unix)]
pub fn temp_fs() -> (crate::FsStorage, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("cannot create a temporary folder: {e}"));
    let storage = crate::FsStorage::new(dir.path()).unwrap_or_else(|e| panic!("cannot open FsStorage: {e}"));
    (storage, dir)
}

fn sorted(items: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = items.iter().map(|s| (*s).to_owned()).collect();
    v.sort();
    v
}

/// Asserts that `$result` is `Err` of the given variant, printing what came instead.
macro_rules! assert_err {
    ($storage:expr, $result:expr, $pattern:pat, $what:expr) => {{
        match $result {
            Err($pattern) => {}
            Err(other) => panic!("[{}] {}: expected {}, got {other:?}", $storage.kind(), $what, stringify!($pattern)),
            Ok(_) => panic!("[{}] {}: expected {}, got success", $storage.kind(), $what, stringify!($pattern)),
        }
    }};
}

/// A sanity bound: a modification time that is not "some time after 2001" was not converted.
fn plausible(time: DateTime<Utc>) -> bool {
    time.timestamp() > 1_000_000_000
}

/// The entry that `call` (`create_dir`, `write`) answered: its name, kind and size, and a
/// modification time that was converted.
fn assert_answered_entry(s: &dyn Storage, call: &str, entry: &Entry, expected: (&str, EntryKind, u64)) {
    assert_eq!((entry.name.as_str(), entry.kind, entry.size), expected, "[{}] {call}'s entry", s.kind());
    assert!(plausible(entry.modified), "[{}] {call}'s modification time {}", s.kind(), entry.modified);
}

// ---------------------------------------------------------------------------------------------
// The cases.

/// The root is a folder with an empty name, and a fresh library lists nothing (not even the
/// bookkeeping folder).
pub async fn root_is_a_folder(s: &dyn Storage) {
    let root = s.stat(&StoragePath::root()).await.unwrap_or_else(|e| panic!("[{}] stat of the root: {e}", s.kind()));
    assert_eq!(root.kind, EntryKind::Dir, "[{}] the root must be a folder", s.kind());
    assert_eq!(root.name, "", "[{}] the root's name must be empty", s.kind());
    assert_eq!(root.size, 0, "[{}] a folder's size must be 0", s.kind());
    assert!(names(s, &StoragePath::root()).await.is_empty(), "[{}] a fresh library must list nothing", s.kind());
    assert!(walked(s, &StoragePath::root()).await.is_empty(), "[{}] a fresh library must walk nothing", s.kind());
    assert!(s.check().await.is_ok(), "[{}] check() must succeed", s.kind());
}

/// Folders are created, listed and stated; files show with their size.
pub async fn create_dir_list_stat(s: &dyn Storage) {
    let made = mkdir(s, "docs").await;
    assert_answered_entry(s, "create_dir", &made, ("docs", EntryKind::Dir, 0));

    let stat = s.stat(&path("docs")).await.unwrap_or_else(|e| panic!("[{}] stat docs: {e}", s.kind()));
    assert_eq!((stat.name.as_str(), stat.kind), ("docs", EntryKind::Dir), "[{}] stat of a folder", s.kind());
    assert_eq!(names(s, &StoragePath::root()).await, ["docs"], "[{}] listing the root", s.kind());

    mkdir(s, "docs/sub").await;
    put(s, "docs/a.txt", b"hello").await;
    assert_eq!(names(s, &path("docs")).await, ["a.txt", "sub"], "[{}] listing docs", s.kind());
    assert!(names(s, &path("docs/sub")).await.is_empty(), "[{}] a new folder must be empty", s.kind());

    let listed = s.list(&path("docs")).await.unwrap_or_else(|e| panic!("[{}] listing docs: {e}", s.kind()));
    let file = listed.iter().find(|e| e.name == "a.txt").unwrap_or_else(|| panic!("[{}] a.txt not listed", s.kind()));
    assert_eq!((file.kind, file.size), (EntryKind::File, 5), "[{}] listed file entry", s.kind());
    assert!(plausible(file.modified), "[{}] listed modification time {}", s.kind(), file.modified);

    let stat = s.stat(&path("docs/a.txt")).await.unwrap_or_else(|e| panic!("[{}] stat docs/a.txt: {e}", s.kind()));
    assert_eq!(
        (stat.name.as_str(), stat.kind, stat.size),
        ("a.txt", EntryKind::File, 5),
        "[{}] stat of a file",
        s.kind()
    );

    assert_err!(s, s.stat(&path("docs/missing")).await, StorageError::NotFound(_), "stat of a missing item");
    assert_err!(s, s.list(&path("missing")).await, StorageError::NotFound(_), "listing a missing folder");
    assert_err!(s, s.list(&path("docs/a.txt")).await, StorageError::NotADirectory(_), "listing a file");
}

/// A taken name, a missing parent or a file parent is refused, and nothing changes.
pub async fn create_dir_conflict(s: &dyn Storage) {
    mkdir(s, "docs").await;
    put(s, "f.txt", b"file").await;
    assert_err!(s, s.create_dir(&path("docs")).await, StorageError::AlreadyExists(_), "creating a taken folder name");
    assert_err!(
        s,
        s.create_dir(&path("f.txt")).await,
        StorageError::AlreadyExists(_),
        "creating a folder on a file's name"
    );
    assert_err!(s, s.create_dir(&StoragePath::root()).await, StorageError::AlreadyExists(_), "creating the root");
    assert_err!(s, s.create_dir(&path("missing/x")).await, StorageError::NotFound(_), "creating in a missing folder");
    assert_err!(s, s.create_dir(&path("f.txt/x")).await, StorageError::NotADirectory(_), "creating below a file");
    assert_eq!(content(s, "f.txt").await, b"file", "[{}] the file must be untouched", s.kind());
    assert_eq!(walked(s, &StoragePath::root()).await, ["docs", "f.txt"], "[{}] nothing else created", s.kind());
}

/// `CreateNew` never replaces: the second writer gets `AlreadyExists` and the first content stays.
pub async fn create_new_twice_keeps_the_first(s: &dyn Storage) {
    let entry = put(s, "a.txt", b"first").await;
    assert_answered_entry(s, "write", &entry, ("a.txt", EntryKind::File, 5));
    let again = s.write(&path("a.txt"), stream_of("second"), WriteMode::CreateNew, None).await;
    assert_err!(s, again, StorageError::AlreadyExists(_), "a second CreateNew");
    assert_eq!(content(s, "a.txt").await, b"first", "[{}] content after a refused CreateNew", s.kind());

    mkdir(s, "d").await;
    let onto_dir = s.write(&path("d"), stream_of("x"), WriteMode::CreateNew, None).await;
    assert_err!(s, onto_dir, StorageError::AlreadyExists(_), "CreateNew on a folder's name");
    assert_eq!(walked(s, &StoragePath::root()).await, ["a.txt", "d"], "[{}] nothing else created", s.kind());
}

/// `Replace` swaps the content (or creates the file) but never replaces a folder.
pub async fn replace_swaps_content(s: &dyn Storage) {
    put(s, "a.txt", b"old content").await;
    let entry = s
        .write(&path("a.txt"), stream_of("new"), WriteMode::Replace, None)
        .await
        .unwrap_or_else(|e| panic!("[{}] Replace: {e}", s.kind()));
    assert_eq!((entry.name.as_str(), entry.size), ("a.txt", 3), "[{}] Replace's entry", s.kind());
    assert_eq!(content(s, "a.txt").await, b"new", "[{}] content after Replace", s.kind());
    let stat = s.stat(&path("a.txt")).await.unwrap_or_else(|e| panic!("[{}] stat: {e}", s.kind()));
    assert_eq!(stat.size, 3, "[{}] size after Replace", s.kind());

    s.write(&path("b.txt"), stream_of("created"), WriteMode::Replace, None)
        .await
        .unwrap_or_else(|e| panic!("[{}] Replace of a missing file: {e}", s.kind()));
    assert_eq!(content(s, "b.txt").await, b"created", "[{}] Replace creates", s.kind());

    mkdir(s, "d").await;
    put(s, "d/inner", b"keep").await;
    let onto_dir = s.write(&path("d"), stream_of("x"), WriteMode::Replace, None).await;
    assert_err!(s, onto_dir, StorageError::IsADirectory(_), "Replace onto a folder");
    assert_eq!(content(s, "d/inner").await, b"keep", "[{}] the folder must be untouched", s.kind());
}

/// A stream that yields `first`, then waits for the returned gate to open (or be dropped)
/// before it yields `rest` and ends. The returned receiver hears when `first` has been taken:
/// the write has started and checked its target.
pub fn gated(
    first: impl Into<Bytes>,
    rest: impl Into<Bytes>,
) -> (ByteStream, futures::channel::oneshot::Receiver<()>, futures::channel::oneshot::Sender<()>) {
    use futures::StreamExt;
    let (first, rest) = (first.into(), rest.into());
    let (started_tx, started_rx) = futures::channel::oneshot::channel::<()>();
    let (gate_tx, gate_rx) = futures::channel::oneshot::channel::<()>();
    let stream = futures::stream::once(async move {
        let _ = started_tx.send(());
        Ok(first)
    })
    .chain(futures::stream::once(async move {
        let _ = gate_rx.await;
        Ok(rest)
    }));
    (Box::pin(stream), started_rx, gate_tx)
}

/// A `Replace` replaces only the file it started from: one moved away, replaced by another
/// write or created where nothing was, while the bytes were arriving, makes it fail with
/// `Changed` and leaves everything as the other change left it.
pub async fn replace_refuses_a_target_changed_meanwhile(s: &dyn Storage) {
    /// Runs a `Replace` of `target` with "new content", doing `meanwhile` after the write has
    /// started and before its stream ends.
    async fn replace_while<F: std::future::Future<Output = ()>>(
        s: &dyn Storage,
        target: &str,
        meanwhile: F,
    ) -> Result<Entry> {
        let (stream, started, gate) = gated("new ", "content");
        let target = path(target);
        let write = s.write(&target, stream, WriteMode::Replace, None);
        let other = async {
            let _ = started.await;
            meanwhile.await;
            let _ = gate.send(());
        };
        let (written, ()) = futures::join!(write, other);
        written
    }

    put(s, "moved.txt", b"old").await;
    let result = replace_while(s, "moved.txt", async {
        s.rename(&path("moved.txt"), &path("renamed.txt")).await.expect("rename meanwhile");
    })
    .await;
    assert_err!(s, result, StorageError::Changed(_), "Replace of a file renamed meanwhile");
    assert_eq!(content(s, "renamed.txt").await, b"old", "[{}] the renamed file keeps its content", s.kind());
    assert_err!(s, s.stat(&path("moved.txt")).await, StorageError::NotFound(_), "the name the file left");

    put(s, "raced.txt", b"old").await;
    let result = replace_while(s, "raced.txt", async {
        s.write(&path("raced.txt"), stream_of("the other writer's"), WriteMode::Replace, None)
            .await
            .expect("the other Replace");
    })
    .await;
    assert_err!(s, result, StorageError::Changed(_), "Replace of a file replaced meanwhile");
    assert_eq!(content(s, "raced.txt").await, b"the other writer's", "[{}] the first commit stands", s.kind());

    let result = replace_while(s, "born.txt", async {
        put(s, "born.txt", b"someone else's").await;
    })
    .await;
    assert_err!(s, result, StorageError::Changed(_), "Replace onto a name taken meanwhile");
    assert_eq!(content(s, "born.txt").await, b"someone else's", "[{}] the new file is untouched", s.kind());

    put(s, "calm.txt", b"old").await;
    replace_while(s, "calm.txt", async {}).await.unwrap_or_else(|e| panic!("[{}] undisturbed Replace: {e}", s.kind()));
    assert_eq!(content(s, "calm.txt").await, b"new content", "[{}] undisturbed Replace", s.kind());
    let mut names = names(s, &StoragePath::root()).await;
    names.sort();
    assert_eq!(names, ["born.txt", "calm.txt", "raced.txt", "renamed.txt"], "[{}] nothing else", s.kind());
}

/// A stream that fails half-way gives `SourceFailed`, leaves the old content, and leaves no
/// temporary object anywhere a listing or walk could show it.
pub async fn failed_stream_changes_nothing(s: &dyn Storage) {
    put(s, "a.txt", b"original").await;
    let replaced = s.write(&path("a.txt"), failing_after(vec![b'x'; 100_000]), WriteMode::Replace, None).await;
    assert_err!(s, replaced, StorageError::SourceFailed(_), "Replace with a failing stream");
    assert_eq!(content(s, "a.txt").await, b"original", "[{}] content after a failed Replace", s.kind());

    let created = s.write(&path("b.txt"), failing_after("partial"), WriteMode::CreateNew, None).await;
    assert_err!(s, created, StorageError::SourceFailed(_), "CreateNew with a failing stream");
    assert_err!(s, s.stat(&path("b.txt")).await, StorageError::NotFound(_), "stat after a failed CreateNew");

    assert_eq!(names(s, &StoragePath::root()).await, ["a.txt"], "[{}] root listing after failed writes", s.kind());
    assert_eq!(walked(s, &StoragePath::root()).await, ["a.txt"], "[{}] root walk after failed writes", s.kind());
    assert!(walked(s, &internal(&[])).await.is_empty(), "[{}] the internal folder shows leftovers", s.kind());
}

/// Over the limit is `TooLarge` with the old content kept; exactly the limit is fine.
pub async fn over_limit_is_too_large(s: &dyn Storage) {
    put(s, "a.txt", b"original").await;
    let one_chunk = s.write(&path("a.txt"), stream_of(vec![b'x'; 10]), WriteMode::Replace, Some(9)).await;
    assert_err!(s, one_chunk, StorageError::TooLarge { limit: 9 }, "10 bytes with a limit of 9");
    assert_eq!(content(s, "a.txt").await, b"original", "[{}] content after TooLarge", s.kind());

    let many_chunks =
        s.write(&path("a.txt"), chunked(vec![b'y'; 1 << 20], 4096), WriteMode::Replace, Some(100_000)).await;
    assert_err!(s, many_chunks, StorageError::TooLarge { limit: 100_000 }, "1 MiB in chunks with a limit of 100000");
    assert_eq!(content(s, "a.txt").await, b"original", "[{}] content after a chunked TooLarge", s.kind());

    let created = s.write(&path("big.bin"), stream_of(vec![0u8; 11]), WriteMode::CreateNew, Some(10)).await;
    assert_err!(s, created, StorageError::TooLarge { limit: 10 }, "CreateNew over the limit");
    assert_err!(s, s.stat(&path("big.bin")).await, StorageError::NotFound(_), "stat after a refused CreateNew");

    let exact = s.write(&path("exact.bin"), chunked(vec![1u8; 10], 3), WriteMode::CreateNew, Some(10)).await;
    assert!(exact.is_ok(), "[{}] exactly the limit must be accepted: {exact:?}", s.kind());
    assert_eq!(walked(s, &StoragePath::root()).await, ["a.txt", "exact.bin"], "[{}] walk after TooLarge", s.kind());
    assert!(walked(s, &internal(&[])).await.is_empty(), "[{}] the internal folder shows leftovers", s.kind());
}

/// A write needs an existing parent folder; the root itself cannot be written.
pub async fn write_needs_a_parent_folder(s: &dyn Storage) {
    let missing = s.write(&path("nope/a.txt"), stream_of("x"), WriteMode::CreateNew, None).await;
    assert_err!(s, missing, StorageError::NotFound(_), "a write into a missing folder");
    let replace = s.write(&path("nope/a.txt"), stream_of("x"), WriteMode::Replace, None).await;
    assert_err!(s, replace, StorageError::NotFound(_), "a Replace into a missing folder");
    put(s, "f.txt", b"file").await;
    let below_file = s.write(&path("f.txt/a.txt"), stream_of("x"), WriteMode::CreateNew, None).await;
    assert_err!(s, below_file, StorageError::NotADirectory(_), "a write below a file");
    let root = s.write(&StoragePath::root(), stream_of("x"), WriteMode::Replace, None).await;
    assert_err!(s, root, StorageError::IsADirectory(_), "a write to the root");
    assert_eq!(walked(s, &StoragePath::root()).await, ["f.txt"], "[{}] nothing else created", s.kind());
}

/// Whole and ranged reads; ranges are clamped to the file's length.
pub async fn read_whole_and_ranges(s: &dyn Storage) {
    let data = pattern(300_000, 1);
    put(s, "data.bin", &data).await;
    let p = path("data.bin");
    let read = |range: Option<Range<u64>>| async move {
        read_to_vec(s, &path("data.bin"), range.clone())
            .await
            .unwrap_or_else(|e| panic!("[{}] reading {range:?}: {e}", s.kind()))
    };
    assert!(read(None).await == data, "[{}] whole read differs", s.kind());
    assert_eq!(read(Some(0..1)).await, &data[..1], "[{}] first byte", s.kind());
    assert!(read(Some(1000..270_001)).await == data[1000..270_001], "[{}] middle range differs", s.kind());
    assert!(
        read(Some(299_000..1_000_000)).await == data[299_000..],
        "[{}] range past the end must be clamped",
        s.kind()
    );
    assert!(read(Some(400_000..500_000)).await.is_empty(), "[{}] range beyond the end must be empty", s.kind());
    assert!(read(Some(10..10)).await.is_empty(), "[{}] empty range", s.kind());
    assert_eq!(read(Some(299_999..300_000)).await, &data[299_999..], "[{}] last byte", s.kind());

    put(s, "empty", b"").await;
    assert!(content(s, "empty").await.is_empty(), "[{}] an empty file", s.kind());
    assert_err!(s, s.read(&path("missing"), None).await, StorageError::NotFound(_), "reading a missing file");
    assert_eq!(s.stat(&p).await.map(|e| e.size).ok(), Some(300_000), "[{}] size of data.bin", s.kind());
}

/// Reading a folder (or the root) is `IsADirectory`.
pub async fn read_folder_is_refused(s: &dyn Storage) {
    mkdir(s, "d").await;
    assert_err!(s, s.read(&path("d"), None).await, StorageError::IsADirectory(_), "reading a folder");
    assert_err!(s, s.read(&StoragePath::root(), None).await, StorageError::IsADirectory(_), "reading the root");
    assert_err!(s, s.read(&path("d"), Some(0..1)).await, StorageError::IsADirectory(_), "a ranged read of a folder");
}

/// `open` answers what `stat` answers, and its bytes are the file's, whole or in ranges; a folder
/// opens (its entry says so) but does not read; a missing item is `NotFound`.
pub async fn open_describes_and_reads(s: &dyn Storage) {
    let data = pattern(200_000, 7);
    mkdir(s, "d").await;
    put(s, "d/data.bin", &data).await;
    let p = path("d/data.bin");
    let open =
        |p: StoragePath| async move { s.open(&p).await.unwrap_or_else(|e| panic!("[{}] open {p}: {e}", s.kind())) };
    let stat = s.stat(&p).await.unwrap_or_else(|e| panic!("[{}] stat: {e}", s.kind()));
    assert_eq!(open(p.clone()).await.entry, stat, "[{}] open and stat of a file", s.kind());
    for range in [None, Some(0..1), Some(1000..150_001), Some(199_000..1_000_000), Some(300_000..300_010)] {
        let stream = open(p.clone()).await.read(s, range.clone()).await;
        let stream = stream.unwrap_or_else(|e| panic!("[{}] reading {range:?} of an opened file: {e}", s.kind()));
        let got =
            collect(stream).await.unwrap_or_else(|e| panic!("[{}] reading {range:?} of an opened file: {e}", s.kind()));
        let (start, end) = range.clone().map_or((0, data.len()), |r| (r.start as usize, r.end as usize));
        let expected = &data[start.min(data.len())..end.min(data.len())];
        assert!(got == expected, "[{}] bytes of {range:?} of an opened file", s.kind());
    }
    for folder in [path("d"), StoragePath::root()] {
        let opened = open(folder.clone()).await;
        assert_eq!(opened.entry.kind, EntryKind::Dir, "[{}] open of the folder {folder}", s.kind());
        assert_err!(s, opened.read(s, None).await, StorageError::IsADirectory(_), "reading an opened folder");
    }
    assert_err!(s, s.open(&path("d/missing")).await, StorageError::NotFound(_), "opening a missing file");
    assert_err!(s, s.open(&path("missing/x")).await, StorageError::NotFound(_), "opening below a missing folder");
}

/// A file is renamed in place and moved to another folder.
pub async fn rename_file(s: &dyn Storage) {
    put(s, "a.txt", b"A").await;
    mkdir(s, "d").await;
    s.rename(&path("a.txt"), &path("b.txt")).await.unwrap_or_else(|e| panic!("[{}] rename: {e}", s.kind()));
    assert_err!(s, s.stat(&path("a.txt")).await, StorageError::NotFound(_), "the old name after a rename");
    assert_eq!(content(s, "b.txt").await, b"A", "[{}] content under the new name", s.kind());

    s.rename(&path("b.txt"), &path("d/c.txt")).await.unwrap_or_else(|e| panic!("[{}] move: {e}", s.kind()));
    assert_eq!(content(s, "d/c.txt").await, b"A", "[{}] content after a move", s.kind());
    assert_eq!(walked(s, &StoragePath::root()).await, ["d", "d/c.txt"], "[{}] walk after a move", s.kind());

    assert_err!(s, s.rename(&path("missing"), &path("x")).await, StorageError::NotFound(_), "renaming a missing item");
    let to_missing_parent = s.rename(&path("d/c.txt"), &path("nope/c.txt")).await;
    assert_err!(s, to_missing_parent, StorageError::NotFound(_), "moving into a missing folder");
    assert_eq!(content(s, "d/c.txt").await, b"A", "[{}] content after a refused move", s.kind());
}

/// A folder moves with everything in it.
pub async fn rename_folder_moves_children(s: &dyn Storage) {
    mkdir(s, "d").await;
    mkdir(s, "d/sub").await;
    put(s, "d/x.txt", b"X").await;
    put(s, "d/sub/y.txt", b"Y").await;
    s.rename(&path("d"), &path("e")).await.unwrap_or_else(|e| panic!("[{}] renaming a folder: {e}", s.kind()));
    assert_eq!(
        walked(s, &StoragePath::root()).await,
        ["e", "e/sub", "e/sub/y.txt", "e/x.txt"],
        "[{}] after rename",
        s.kind()
    );
    assert_err!(s, s.stat(&path("d/x.txt")).await, StorageError::NotFound(_), "a child under the old name");
    assert_eq!(content(s, "e/sub/y.txt").await, b"Y", "[{}] a moved child's content", s.kind());

    mkdir(s, "f").await;
    s.rename(&path("e"), &path("f/e")).await.unwrap_or_else(|e| panic!("[{}] moving a folder: {e}", s.kind()));
    assert_eq!(
        walked(s, &StoragePath::root()).await,
        ["f", "f/e", "f/e/sub", "f/e/sub/y.txt", "f/e/x.txt"],
        "[{}] after a move",
        s.kind()
    );
    assert_eq!(content(s, "f/e/x.txt").await, b"X", "[{}] a moved child's content", s.kind());
}

/// Renaming never replaces: both sides stay as they were.
pub async fn rename_onto_taken_name_is_refused(s: &dyn Storage) {
    put(s, "a.txt", b"A").await;
    put(s, "b.txt", b"B").await;
    mkdir(s, "d1").await;
    put(s, "d1/in1", b"1").await;
    mkdir(s, "d2").await;
    put(s, "d2/in2", b"2").await;

    assert_err!(s, s.rename(&path("a.txt"), &path("b.txt")).await, StorageError::AlreadyExists(_), "file onto a file");
    assert_err!(s, s.rename(&path("a.txt"), &path("d1")).await, StorageError::AlreadyExists(_), "file onto a folder");
    assert_err!(s, s.rename(&path("d1"), &path("d2")).await, StorageError::AlreadyExists(_), "folder onto a folder");
    assert_err!(s, s.rename(&path("d1"), &path("a.txt")).await, StorageError::AlreadyExists(_), "folder onto a file");
    assert_err!(s, s.rename(&path("a.txt"), &path("a.txt")).await, StorageError::AlreadyExists(_), "onto itself");

    assert_eq!(content(s, "a.txt").await, b"A", "[{}] source after refused renames", s.kind());
    assert_eq!(content(s, "b.txt").await, b"B", "[{}] target after refused renames", s.kind());
    assert_eq!(
        walked(s, &StoragePath::root()).await,
        ["a.txt", "b.txt", "d1", "d1/in1", "d2", "d2/in2"],
        "[{}] tree after refused renames",
        s.kind()
    );
}

/// A folder cannot move into itself or below itself; the root and the internal folder cannot
/// move at all.
pub async fn rename_into_itself_is_refused(s: &dyn Storage) {
    mkdir(s, "d").await;
    mkdir(s, "d/sub").await;
    put(s, "d/sub/f", b"f").await;
    assert_err!(s, s.rename(&path("d"), &path("d/x")).await, StorageError::InvalidPath(_), "a folder into itself");
    assert_err!(s, s.rename(&path("d"), &path("d/sub/d")).await, StorageError::InvalidPath(_), "a folder below itself");
    assert_err!(s, s.rename(&StoragePath::root(), &path("x")).await, StorageError::InvalidPath(_), "moving the root");
    assert_err!(s, s.rename(&path("d"), &StoragePath::root()).await, StorageError::InvalidPath(_), "onto the root");
    assert_eq!(walked(s, &StoragePath::root()).await, ["d", "d/sub", "d/sub/f"], "[{}] tree after refusals", s.kind());
}

/// A deleted file is gone.
pub async fn delete_file(s: &dyn Storage) {
    put(s, "a.txt", b"A").await;
    put(s, "b.txt", b"B").await;
    s.delete(&path("a.txt")).await.unwrap_or_else(|e| panic!("[{}] delete: {e}", s.kind()));
    assert_err!(s, s.stat(&path("a.txt")).await, StorageError::NotFound(_), "stat after delete");
    assert_err!(s, s.read(&path("a.txt"), None).await, StorageError::NotFound(_), "read after delete");
    assert_eq!(names(s, &StoragePath::root()).await, ["b.txt"], "[{}] listing after delete", s.kind());
}

/// A deleted folder goes with everything below it.
pub async fn delete_folder_recursively(s: &dyn Storage) {
    mkdir(s, "d").await;
    mkdir(s, "d/sub").await;
    put(s, "d/x", b"x").await;
    put(s, "d/sub/y", b"y").await;
    put(s, "keep", b"k").await;
    s.delete(&path("d")).await.unwrap_or_else(|e| panic!("[{}] deleting a folder: {e}", s.kind()));
    assert_err!(s, s.stat(&path("d")).await, StorageError::NotFound(_), "the deleted folder");
    assert_err!(s, s.stat(&path("d/sub/y")).await, StorageError::NotFound(_), "a deleted folder's child");
    assert_eq!(walked(s, &StoragePath::root()).await, ["keep"], "[{}] walk after deleting a folder", s.kind());
    assert!(walked(s, &internal(&[])).await.is_empty(), "[{}] the internal folder shows leftovers", s.kind());
}

/// The root (and the internal folder itself) cannot be deleted.
pub async fn delete_root_is_refused(s: &dyn Storage) {
    put(s, "a.txt", b"A").await;
    assert_err!(s, s.delete(&StoragePath::root()).await, StorageError::InvalidPath(_), "deleting the root");
    assert_err!(s, s.delete(&internal(&[])).await, StorageError::InvalidPath(_), "deleting the internal folder");
    assert_eq!(content(s, "a.txt").await, b"A", "[{}] content after a refused delete", s.kind());
    let root = s.stat(&StoragePath::root()).await.map(|e| e.kind).ok();
    assert_eq!(root, Some(EntryKind::Dir), "[{}] the root after a refused delete", s.kind());
}

/// Deleting what is not there is `NotFound`.
pub async fn delete_missing_is_not_found(s: &dyn Storage) {
    assert_err!(s, s.delete(&path("missing")).await, StorageError::NotFound(_), "deleting a missing file");
    assert_err!(s, s.delete(&path("missing/x")).await, StorageError::NotFound(_), "deleting in a missing folder");
    put(s, "a.txt", b"A").await;
    s.delete(&path("a.txt")).await.unwrap_or_else(|e| panic!("[{}] delete: {e}", s.kind()));
    assert_err!(s, s.delete(&path("a.txt")).await, StorageError::NotFound(_), "deleting twice");
}

/// Internal paths (the documents layer's trash) take every operation but never show from the
/// root.
pub async fn internal_paths_work_but_stay_hidden(s: &dyn Storage) {
    let trash = internal(&["trash"]);
    let item = internal(&["trash", "x"]);
    let internal_root = s.stat(&internal(&[])).await.map(|e| e.kind).ok();
    assert_eq!(internal_root, Some(EntryKind::Dir), "[{}] the internal folder must exist", s.kind());

    s.create_dir(&trash).await.unwrap_or_else(|e| panic!("[{}] creating the trash: {e}", s.kind()));
    s.write(&item, stream_of("secret"), WriteMode::CreateNew, None)
        .await
        .unwrap_or_else(|e| panic!("[{}] writing into the trash: {e}", s.kind()));
    assert_eq!(read_to_vec(s, &item, None).await.ok().as_deref(), Some(&b"secret"[..]), "[{}] trash read", s.kind());
    assert_eq!(names(s, &trash).await, ["x"], "[{}] listing the trash", s.kind());
    let stat = s.stat(&item).await.map(|e| (e.name, e.size)).ok();
    assert_eq!(stat, Some(("x".to_owned(), 6)), "[{}] stat in the trash", s.kind());

    put(s, "visible.txt", b"v").await;
    assert_eq!(names(s, &StoragePath::root()).await, ["visible.txt"], "[{}] the root lists internals", s.kind());
    assert_eq!(walked(s, &StoragePath::root()).await, ["visible.txt"], "[{}] the root walks internals", s.kind());

    // To the trash and back, as a delete and a restore do.
    let trashed = internal(&["trash", "v"]);
    s.rename(&path("visible.txt"), &trashed)
        .await
        .unwrap_or_else(|e| panic!("[{}] moving to the trash: {e}", s.kind()));
    assert!(names(s, &StoragePath::root()).await.is_empty(), "[{}] a trashed file is still listed", s.kind());
    assert!(walked(s, &StoragePath::root()).await.is_empty(), "[{}] a trashed file is still walked", s.kind());
    let walked_trash: BTreeSet<String> = walked(s, &trash).await.into_iter().collect();
    let expected: BTreeSet<String> = [item.as_string(), trashed.as_string()].into_iter().collect();
    assert_eq!(walked_trash, expected, "[{}] walking the trash", s.kind());
    s.rename(&trashed, &path("visible.txt")).await.unwrap_or_else(|e| panic!("[{}] restoring: {e}", s.kind()));
    assert_eq!(content(s, "visible.txt").await, b"v", "[{}] restored content", s.kind());

    s.delete(&item).await.unwrap_or_else(|e| panic!("[{}] deleting in the trash: {e}", s.kind()));
    s.delete(&trash).await.unwrap_or_else(|e| panic!("[{}] deleting the trash: {e}", s.kind()));
    assert_err!(s, s.stat(&trash).await, StorageError::NotFound(_), "the deleted trash");
}

/// `walk` returns every descendant (not the folder itself), each folder before its contents.
pub async fn walk_lists_nested_items(s: &dyn Storage) {
    mkdir(s, "a").await;
    mkdir(s, "a/b").await;
    mkdir(s, "a/b/c").await;
    put(s, "a/b/c/deep.txt", b"deep").await;
    put(s, "a/d.txt", b"d").await;
    put(s, "e.txt", b"e").await;
    let all = s.walk(&StoragePath::root()).await.unwrap_or_else(|e| panic!("[{}] walk: {e}", s.kind()));
    let mut paths: Vec<String> = all.iter().map(|(p, _)| p.as_string()).collect();
    paths.sort();
    assert_eq!(paths, ["a", "a/b", "a/b/c", "a/b/c/deep.txt", "a/d.txt", "e.txt"], "[{}] walk of the root", s.kind());
    for (p, entry) in &all {
        assert_eq!(entry.name, p.name(), "[{}] walked entry's name", s.kind());
        let expected = if p.name().ends_with(".txt") { EntryKind::File } else { EntryKind::Dir };
        assert_eq!(entry.kind, expected, "[{}] walked kind of {p}", s.kind());
        if let Some(parent) = p.parent().filter(|parent| !parent.is_root()) {
            let before = all.iter().position(|(q, _)| *q == parent);
            let at = all.iter().position(|(q, _)| q == p);
            assert!(before < at, "[{}] {parent} must come before {p}", s.kind());
        }
    }
    let deep = all.iter().find(|(p, _)| p.name() == "deep.txt").map(|(_, e)| e.size);
    assert_eq!(deep, Some(4), "[{}] walked size", s.kind());
    assert_eq!(walked(s, &path("a/b")).await, ["a/b/c", "a/b/c/deep.txt"], "[{}] walk of a subfolder", s.kind());
    assert_err!(s, s.walk(&path("e.txt")).await, StorageError::NotADirectory(_), "walking a file");
    assert_err!(s, s.walk(&path("missing")).await, StorageError::NotFound(_), "walking a missing folder");
}

/// Names in any script, emoji included, round-trip through every operation.
pub async fn unicode_names(s: &dyn Storage) {
    let folder = "日本語 ñ";
    let file = "日本語 ñ/日本語 ñ.txt";
    let emoji = "😀 emoji 🎉.md";
    let quoted = "Ünïcödé — “quotes” & ‘more’.txt";
    mkdir(s, folder).await;
    put(s, file, "こんにちは".as_bytes()).await;
    put(s, emoji, b"emoji").await;
    put(s, quoted, b"q").await;
    assert_eq!(
        names(s, &StoragePath::root()).await,
        sorted(&[folder, emoji, quoted]),
        "[{}] unicode listing",
        s.kind()
    );
    assert_eq!(names(s, &path(folder)).await, ["日本語 ñ.txt"], "[{}] unicode folder listing", s.kind());
    assert_eq!(content(s, file).await, "こんにちは".as_bytes(), "[{}] unicode content", s.kind());
    let stat = s.stat(&path(emoji)).await.map(|e| e.name).ok();
    assert_eq!(stat.as_deref(), Some(emoji), "[{}] unicode stat", s.kind());
    assert_eq!(
        walked(s, &StoragePath::root()).await,
        sorted(&[folder, file, emoji, quoted]),
        "[{}] unicode walk",
        s.kind()
    );
    s.rename(&path(emoji), &path("🚀 ünïcode.md"))
        .await
        .unwrap_or_else(|e| panic!("[{}] unicode rename: {e}", s.kind()));
    assert_eq!(content(s, "🚀 ünïcode.md").await, b"emoji", "[{}] unicode rename content", s.kind());
}

/// 5 MiB streamed in many uneven chunks reads back byte for byte.
pub async fn large_file_round_trip(s: &dyn Storage) {
    let data = pattern(5 * 1024 * 1024, 7);
    // 65_537: chunks that never line up with any power-of-two buffer.
    let entry = s
        .write(&path("big.bin"), chunked(data.clone(), 65_537), WriteMode::CreateNew, Some(5 * 1024 * 1024))
        .await
        .unwrap_or_else(|e| panic!("[{}] writing 5 MiB: {e}", s.kind()));
    assert_eq!(entry.size, data.len() as u64, "[{}] size of the written entry", s.kind());
    let stream = s.read(&path("big.bin"), None).await.unwrap_or_else(|e| panic!("[{}] reading 5 MiB: {e}", s.kind()));
    let chunks: Vec<Bytes> =
        stream.try_collect().await.unwrap_or_else(|e: io::Error| panic!("[{}] read stream: {e}", s.kind()));
    assert!(chunks.len() > 1, "[{}] 5 MiB must be streamed in several chunks, got {}", s.kind(), chunks.len());
    assert!(chunks.concat() == data, "[{}] 5 MiB read back differs", s.kind());
    let window = read_to_vec(s, &path("big.bin"), Some(3_000_000..3_300_000))
        .await
        .unwrap_or_else(|e| panic!("[{}] ranged read: {e}", s.kind()));
    assert!(window == data[3_000_000..3_300_000], "[{}] a window of 5 MiB differs", s.kind());
}

/// Sixteen concurrent `CreateNew` of one path: exactly one wins, and the content is the winner's.
pub async fn concurrent_create_new_has_one_winner(s: &dyn Storage) {
    let p = path("race.bin");
    let contents: Vec<Vec<u8>> = (0..16u64).map(|i| pattern(200_000, 100 + i)).collect();
    let writes = contents.iter().map(|c| s.write(&p, chunked(c.clone(), 16_384), WriteMode::CreateNew, None));
    let results = futures::future::join_all(writes).await;
    let winners: Vec<usize> = results.iter().enumerate().filter(|(_, r)| r.is_ok()).map(|(i, _)| i).collect();
    assert_eq!(winners.len(), 1, "[{}] exactly one CreateNew must win: {results:?}", s.kind());
    for result in &results {
        if let Err(e) = result {
            assert!(matches!(e, StorageError::AlreadyExists(_)), "[{}] a losing CreateNew: {e:?}", s.kind());
        }
    }
    assert!(content(s, "race.bin").await == contents[winners[0]], "[{}] content is not the winner's", s.kind());
    assert_eq!(walked(s, &StoragePath::root()).await, ["race.bin"], "[{}] walk after the race", s.kind());
    assert!(walked(s, &internal(&[])).await.is_empty(), "[{}] losers left temporary objects", s.kind());
}

/// Concurrent writes of different names in one folder all land, each with its own content.
pub async fn concurrent_writes_of_different_names_all_land(s: &dyn Storage) {
    mkdir(s, "d").await;
    let contents: Vec<Vec<u8>> = (0..16u64).map(|i| pattern(100_000, 200 + i)).collect();
    let paths: Vec<StoragePath> = (0..16).map(|i| path(&format!("d/file-{i:02}"))).collect();
    let writes =
        paths.iter().zip(&contents).map(|(p, c)| s.write(p, chunked(c.clone(), 8192), WriteMode::CreateNew, None));
    for result in futures::future::join_all(writes).await {
        assert!(result.is_ok(), "[{}] a concurrent write failed: {result:?}", s.kind());
    }
    let expected: Vec<String> = (0..16).map(|i| format!("file-{i:02}")).collect();
    assert_eq!(names(s, &path("d")).await, expected, "[{}] listing after concurrent writes", s.kind());
    for (p, c) in paths.iter().zip(&contents) {
        let got = read_to_vec(s, p, None).await.unwrap_or_else(|e| panic!("[{}] reading {p}: {e}", s.kind()));
        assert!(got == *c, "[{}] content of {p} differs", s.kind());
    }
}
