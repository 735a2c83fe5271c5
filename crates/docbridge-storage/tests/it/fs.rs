//! Filesystem-only behaviour of `FsStorage`: symbolic links, files put there by other programs,
//! temporary files, modification times; and a property test that no parsed path escapes a root.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use docbridge_storage::suite::{content, failing_after, internal, names, path, put, stream_of, temp_fs, walked};
use docbridge_storage::{FsStorage, INTERNAL_DIR, Storage, StorageError, StoragePath, TEMP_DIR, WriteMode};
use proptest::prelude::*;

fn temp_dir_of(root: &Path) -> PathBuf {
    root.join(INTERNAL_DIR).join(TEMP_DIR)
}

fn temp_entries(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(temp_dir_of(root))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// A folder outside the library holding a secret file.
fn outside_secret() -> (tempfile::TempDir, PathBuf) {
    let outside = tempfile::tempdir().unwrap();
    let secret = outside.path().join("secret.txt");
    fs::write(&secret, "TOP SECRET").unwrap();
    (outside, secret)
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(result: Result<T, StorageError>, what: &str) {
    match result {
        Err(StorageError::NotFound(_)) => {}
        other => panic!("{what}: expected NotFound, got {other:?}"),
    }
}

#[track_caller]
fn assert_already_exists<T: std::fmt::Debug>(result: Result<T, StorageError>, what: &str) {
    match result {
        Err(StorageError::AlreadyExists(_)) => {}
        other => panic!("{what}: expected AlreadyExists, got {other:?}"),
    }
}

#[tokio::test]
async fn symlink_to_an_outside_folder_is_invisible() {
    let (outside, secret) = outside_secret();
    let (s, root) = temp_fs();
    symlink(outside.path(), root.path().join("link")).unwrap();
    put(&s, "visible.txt", b"v").await;

    assert_eq!(names(&s, &StoragePath::root()).await, ["visible.txt"]);
    assert_eq!(walked(&s, &StoragePath::root()).await, ["visible.txt"]);
    assert_not_found(s.stat(&path("link")).await, "stat of the link");
    assert_not_found(s.stat(&path("link/secret.txt")).await, "stat through the link");
    assert_not_found(s.read(&path("link/secret.txt"), None).await.map(|_| ()), "read through the link");
    assert_not_found(s.list(&path("link")).await, "list of the link");
    assert_not_found(s.walk(&path("link")).await, "walk of the link");
    for mode in [WriteMode::CreateNew, WriteMode::Replace] {
        assert_not_found(s.write(&path("link/new.txt"), stream_of("x"), mode, None).await, "write through the link");
        assert_not_found(
            s.write(&path("link/secret.txt"), stream_of("x"), mode, None).await,
            "overwrite through the link",
        );
    }
    assert_not_found(s.create_dir(&path("link/x")).await, "create_dir through the link");
    assert_not_found(s.rename(&path("link/secret.txt"), &path("stolen.txt")).await, "rename through the link");
    assert_not_found(s.rename(&path("link"), &path("moved")).await, "rename of the link");
    assert_not_found(s.delete(&path("link/secret.txt")).await, "delete through the link");
    assert_not_found(s.delete(&path("link")).await, "delete of the link");

    assert_eq!(fs::read_to_string(&secret).unwrap(), "TOP SECRET", "the secret must be untouched");
    let outside_names: Vec<_> = fs::read_dir(outside.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(outside_names, ["secret.txt"], "nothing may be created outside");
    assert!(fs::symlink_metadata(root.path().join("link")).unwrap().file_type().is_symlink(), "the link stays");
}

#[tokio::test]
async fn symlink_to_an_outside_file_is_invisible() {
    let (_outside, secret) = outside_secret();
    let (s, root) = temp_fs();
    symlink(&secret, root.path().join("secret.txt")).unwrap();
    symlink("/etc/passwd", root.path().join("passwd")).unwrap();

    assert!(names(&s, &StoragePath::root()).await.is_empty());
    assert!(walked(&s, &StoragePath::root()).await.is_empty());
    for name in ["secret.txt", "passwd"] {
        assert_not_found(s.stat(&path(name)).await, "stat of a file link");
        assert_not_found(s.read(&path(name), None).await.map(|_| ()), "read of a file link");
        assert_not_found(s.read(&path(name), Some(0..4)).await.map(|_| ()), "ranged read of a file link");
    }
    assert_eq!(fs::read_to_string(&secret).unwrap(), "TOP SECRET");
}

#[tokio::test]
async fn a_symlinked_folder_component_inside_the_root_is_not_followed() {
    let (s, root) = temp_fs();
    fs::create_dir(root.path().join("real")).unwrap();
    fs::write(root.path().join("real/file.txt"), "inside").unwrap();
    symlink("real", root.path().join("alias")).unwrap();
    fs::create_dir(root.path().join("real/sub")).unwrap();
    symlink("../real", root.path().join("real/sub/loop")).unwrap();

    assert_eq!(walked(&s, &StoragePath::root()).await, ["real", "real/file.txt", "real/sub"]);
    assert_not_found(s.stat(&path("alias/file.txt")).await, "stat through an inner link");
    assert_not_found(s.read(&path("alias/file.txt"), None).await.map(|_| ()), "read through an inner link");
    assert_not_found(s.list(&path("alias")).await, "list of an inner link");
    assert_not_found(s.stat(&path("real/sub/loop/file.txt")).await, "stat through a looping link");
    assert_eq!(content(&s, "real/file.txt").await, b"inside", "the real path still works");
}

#[tokio::test]
async fn a_name_taken_by_a_symlink_is_taken() {
    let (_outside, secret) = outside_secret();
    let (s, root) = temp_fs();
    let link = root.path().join("link.txt");
    symlink(&secret, &link).unwrap();
    put(&s, "visible.txt", b"v").await;

    assert_already_exists(s.write(&path("link.txt"), stream_of("x"), WriteMode::CreateNew, None).await, "CreateNew");
    assert_already_exists(s.write(&path("link.txt"), stream_of("x"), WriteMode::Replace, None).await, "Replace");
    assert_already_exists(s.create_dir(&path("link.txt")).await, "create_dir");
    assert_already_exists(s.rename(&path("visible.txt"), &path("link.txt")).await, "rename onto the link");

    assert_eq!(fs::read_to_string(&secret).unwrap(), "TOP SECRET");
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(content(&s, "visible.txt").await, b"v");
    assert!(temp_entries(root.path()).is_empty(), "refused writes must leave no temporary file");
}

#[tokio::test]
async fn deleting_a_folder_removes_links_in_it_not_their_targets() {
    let (outside, secret) = outside_secret();
    let (s, root) = temp_fs();
    fs::create_dir(root.path().join("d")).unwrap();
    symlink(outside.path(), root.path().join("d/dir-link")).unwrap();
    symlink(&secret, root.path().join("d/file-link")).unwrap();
    fs::write(root.path().join("d/own.txt"), "own").unwrap();

    s.delete(&path("d")).await.unwrap();
    assert!(!root.path().join("d").exists());
    assert_eq!(fs::read_to_string(&secret).unwrap(), "TOP SECRET");
    assert!(temp_entries(root.path()).is_empty(), "the deleted folder must not linger in tmp");
}

#[tokio::test]
async fn fifos_and_unaddressable_names_are_invisible() {
    let (s, root) = temp_fs();
    let root_fd = rustix::fs::open(root.path(), rustix::fs::OFlags::DIRECTORY, rustix::fs::Mode::empty()).unwrap();
    rustix::fs::mknodat(&root_fd, "pipe", rustix::fs::FileType::Fifo, rustix::fs::Mode::from_bits_truncate(0o644), 0)
        .unwrap();
    fs::write(root.path().join("back\\slash"), "x").unwrap();
    fs::write(root.path().join("tab\there"), "x").unwrap();
    fs::write(root.path().join("ok.txt"), "ok").unwrap();

    assert_eq!(names(&s, &StoragePath::root()).await, ["ok.txt"]);
    assert_eq!(walked(&s, &StoragePath::root()).await, ["ok.txt"]);
    // A fifo with no writer would block an ordinary open forever.
    assert_not_found(s.read(&path("pipe"), None).await.map(|_| ()), "read of a fifo");
    assert_not_found(s.stat(&path("pipe")).await, "stat of a fifo");
}

#[tokio::test]
async fn files_put_there_by_other_programs_are_listed_and_walked() {
    let (s, root) = temp_fs();
    fs::write(root.path().join("copied.pdf"), b"%PDF-1.7").unwrap();
    fs::create_dir_all(root.path().join("a/b")).unwrap();
    fs::write(root.path().join("a/b/deep.txt"), "deep").unwrap();

    assert_eq!(names(&s, &StoragePath::root()).await, ["a", "copied.pdf"]);
    assert_eq!(walked(&s, &StoragePath::root()).await, ["a", "a/b", "a/b/deep.txt", "copied.pdf"]);
    assert_eq!(s.stat(&path("copied.pdf")).await.unwrap().size, 8);
    assert_eq!(content(&s, "a/b/deep.txt").await, b"deep");
}

#[tokio::test]
async fn written_files_land_where_other_programs_see_them() {
    let (s, root) = temp_fs();
    s.create_dir(&path("d")).await.unwrap();
    put(&s, "d/out.txt", b"written").await;
    assert_eq!(fs::read(root.path().join("d/out.txt")).unwrap(), b"written");
    s.create_dir(&internal(&["trash"])).await.unwrap();
    s.rename(&path("d"), &internal(&["trash", "d"])).await.unwrap();
    assert_eq!(fs::read(root.path().join(INTERNAL_DIR).join("trash/d/out.txt")).unwrap(), b"written");
}

#[tokio::test]
async fn modified_time_comes_from_mtime() {
    let (s, root) = temp_fs();
    put(&s, "a.txt", b"a").await;
    let when: DateTime<Utc> = "2020-01-02T03:04:05.500Z".parse().unwrap();
    let file = fs::File::options().write(true).open(root.path().join("a.txt")).unwrap();
    file.set_modified(SystemTime::from(when)).unwrap();

    assert_eq!(s.stat(&path("a.txt")).await.unwrap().modified, when);
    assert_eq!(s.list(&StoragePath::root()).await.unwrap()[0].modified, when);
    assert_eq!(s.walk(&StoragePath::root()).await.unwrap()[0].1.modified, when);
}

#[tokio::test]
async fn leftover_temp_files_are_invisible_and_swept_at_start() {
    let (s, root) = temp_fs();
    let tmp = temp_dir_of(root.path());
    let long_ago = SystemTime::now() - Duration::from_secs(2 * 24 * 3600);

    // What a kill -9 leaves, just now (issue #13 finding 11: 177 MB stayed for an hour): a
    // half-written upload and a half-deleted folder...
    fs::write(tmp.join("crashed.upload"), vec![0u8; 1000]).unwrap();
    fs::create_dir_all(tmp.join("gone.deleting/sub")).unwrap();
    fs::write(tmp.join("gone.deleting/sub/f"), "f").unwrap();
    // ...something docbridge did not name, recent and old...
    fs::write(tmp.join("unknown-recent"), "?").unwrap();
    fs::write(tmp.join("unknown-old"), "?").unwrap();
    fs::File::options().write(true).open(tmp.join("unknown-old")).unwrap().set_modified(long_ago).unwrap();
    // ...and an upload another process sharing the root is writing right now (its writer holds
    // the temporary file's lock while the bytes trickle in).
    let (feed, body) = futures::channel::mpsc::unbounded::<std::io::Result<bytes::Bytes>>();
    let writer = s.clone();
    let running =
        tokio::spawn(
            async move { writer.write(&path("running.txt"), Box::pin(body), WriteMode::CreateNew, None).await },
        );
    feed.unbounded_send(Ok(bytes::Bytes::from_static(b"first half, "))).unwrap();
    // Wait until the writer holds its file's lock, not merely until the file exists: a sweep
    // that comes between the two takes that name, and the writer moves on to another.
    while !temp_entries(root.path()).iter().any(|n| {
        n.ends_with(".upload") && n != "crashed.upload" && {
            let file = fs::File::open(tmp.join(n));
            file.is_ok_and(|f| matches!(f.try_lock(), Err(fs::TryLockError::WouldBlock)))
        }
    }) {
        tokio::task::yield_now().await;
    }

    assert!(names(&s, &StoragePath::root()).await.is_empty());
    assert!(walked(&s, &StoragePath::root()).await.is_empty());
    assert!(names(&s, &internal(&[])).await.is_empty(), "tmp must not show inside the internal folder");
    assert!(walked(&s, &internal(&[])).await.is_empty());

    // A start (or `docbridge fsck`) reclaims every dead leftover at once, whatever its age.
    let reopened = FsStorage::new(root.path()).unwrap();
    let left = temp_entries(root.path());
    assert_eq!(left.len(), 2, "{left:?}");
    assert!(left.contains(&"unknown-recent".to_owned()), "{left:?}");
    assert!(left.iter().any(|n| n.ends_with(".upload") && n != "crashed.upload"), "the live upload stays: {left:?}");
    assert_eq!(reopened.clean_temp(Duration::ZERO).await.unwrap(), 1, "the unknown entry, never the live upload");

    // The live upload finishes as if nothing happened.
    feed.unbounded_send(Ok(bytes::Bytes::from_static(b"second half"))).unwrap();
    drop(feed);
    running.await.unwrap().unwrap();
    assert_eq!(content(&s, "running.txt").await, b"first half, second half");
    assert!(temp_entries(root.path()).is_empty());
}

#[tokio::test]
async fn failed_writes_leave_no_temp_file() {
    let (s, root) = temp_fs();
    put(&s, "a.txt", b"original").await;
    let failed = s.write(&path("a.txt"), failing_after(vec![1u8; 3 << 20]), WriteMode::Replace, None).await;
    assert!(matches!(failed, Err(StorageError::SourceFailed(_))), "{failed:?}");
    let too_large = s.write(&path("b.txt"), stream_of(vec![1u8; 100]), WriteMode::CreateNew, Some(10)).await;
    assert!(matches!(too_large, Err(StorageError::TooLarge { limit: 10 })), "{too_large:?}");
    let taken = s.write(&path("a.txt"), stream_of("x"), WriteMode::CreateNew, None).await;
    assert!(matches!(taken, Err(StorageError::AlreadyExists(_))), "{taken:?}");
    assert!(temp_entries(root.path()).is_empty(), "left: {:?}", temp_entries(root.path()));
    assert_eq!(fs::read(root.path().join("a.txt")).unwrap(), b"original");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_write_removes_its_temp_file() {
    let (s, root) = temp_fs();
    let s = std::sync::Arc::new(s);
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    // The stream is first polled once the temporary file exists; it then never ends, like a
    // client that stalls mid-upload.
    let first = futures::stream::once(async move {
        let _ = started_tx.send(());
        Ok(bytes::Bytes::from_static(b"first chunk"))
    });
    let stream: docbridge_storage::ByteStream = Box::pin(futures::StreamExt::chain(first, futures::stream::pending()));
    let writer = {
        let s = s.clone();
        tokio::spawn(async move { s.write(&path("stalled.bin"), stream, WriteMode::CreateNew, None).await })
    };
    started_rx.await.unwrap();
    assert_eq!(temp_entries(root.path()).len(), 1, "the upload must be writing to a temporary file");

    writer.abort();
    assert!(writer.await.unwrap_err().is_cancelled());
    assert!(temp_entries(root.path()).is_empty(), "the abandoned upload left {:?}", temp_entries(root.path()));
    assert_not_found(s.stat(&path("stalled.bin")).await, "the abandoned target");
}

#[test]
fn new_creates_a_missing_root_and_refuses_a_file() {
    let base = tempfile::tempdir().unwrap();
    let root = base.path().join("x/y/library");
    let storage = FsStorage::new(&root).unwrap();
    assert!(root.is_dir() && temp_dir_of(&root).is_dir());
    assert_eq!(storage.root(), root);

    fs::write(base.path().join("file"), "x").unwrap();
    assert!(FsStorage::new(base.path().join("file")).is_err());
}

#[tokio::test]
async fn a_vanished_root_fails_check() {
    let (s, root) = temp_fs();
    s.check().await.unwrap();
    fs::remove_dir_all(root.path()).unwrap();
    assert!(matches!(s.check().await, Err(StorageError::Io(_))));
}

/// Joins a path to a root the way the adapter addresses it, one component at a time.
fn joined(root: &Path, p: &StoragePath) -> PathBuf {
    p.components().iter().fold(root.to_path_buf(), |acc, c| acc.join(c))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parsed_paths_never_escape_the_root(raw in prop_oneof![
        "[a./\\\\\u{0}\u{7f} é]{0,24}",
        "(\\.{1,3}|[a-z]{1,3}|\\.docbridge|)(/(\\.{1,3}|[a-z]{1,3}|\\.docbridge|)){0,6}",
        "\\PC{0,64}",
        any::<String>(),
    ]) {
        let root = Path::new("/srv/library");
        if let Ok(p) = StoragePath::parse(&raw) {
            prop_assert!(!p.is_internal());
            for c in p.components() {
                prop_assert!(!c.is_empty() && c != "." && c != "..", "component {c:?} of {raw:?}");
                prop_assert!(!c.contains(['/', '\\', '\0']), "component {c:?} of {raw:?}");
            }
            let full = joined(root, &p);
            prop_assert!(full.starts_with(root), "{full:?} escapes {root:?}");
            let extra: Vec<Component> = full.components().skip(root.components().count()).collect();
            prop_assert_eq!(extra.len(), p.components().len());
            prop_assert!(extra.iter().all(|c| matches!(c, Component::Normal(_))), "{full:?}");
            prop_assert_eq!(StoragePath::parse(&p.as_string()).ok(), Some(p));
        }
    }
}

/// Shallow paths are looked up and small files read on the calling thread, deep paths and
/// large reads on the blocking pool (`INLINE_DEPTH`, `INLINE_READ` in `fs.rs`): both sides of
/// each limit give the same answers, and a link is refused on both.
#[tokio::test]
async fn inline_and_pooled_lookups_and_reads_agree() {
    let (outside, _secret) = outside_secret();
    let (s, root) = temp_fs();
    let shallow = "a/b";
    let deep = "a/b/c/d/e/f/g/h/i/j/k"; // 11 folders: past the inline depth
    fs::create_dir_all(root.path().join(deep)).unwrap();
    let sizes = [0usize, 1, 128 * 1024 - 1, 128 * 1024, 128 * 1024 + 1, 3 * 1024 * 1024 + 7];
    for folder in [shallow, deep] {
        for size in sizes {
            let data = docbridge_storage::suite::pattern(size, size as u64);
            let name = format!("{folder}/f{size}.bin");
            fs::write(root.path().join(&name), &data).unwrap();
            assert_eq!(s.stat(&path(&name)).await.unwrap().size, size as u64, "{name}");
            assert!(content(&s, &name).await == data, "{name}: whole read");
            let (start, end) = (size as u64 / 3, size as u64 / 3 * 2 + 1);
            let ranged = docbridge_storage::suite::read_to_vec(&s, &path(&name), Some(start..end)).await.unwrap();
            let expected = &data[(start as usize).min(size)..(end as usize).min(size)];
            assert!(ranged == expected, "{name}: range {start}..{end}");
        }
        symlink(outside.path(), root.path().join(folder).join("link")).unwrap();
        assert_not_found(s.stat(&path(&format!("{folder}/link"))).await, "stat of a link");
        assert_not_found(
            s.read(&path(&format!("{folder}/link/secret.txt")), None).await.map(|_| ()),
            "read via a link",
        );
    }
    // A folder on the way swapped for a link: refused on both sides of the depth limit.
    fs::rename(root.path().join("a/b"), root.path().join("moved")).unwrap();
    symlink(root.path().join("moved"), root.path().join("a/b")).unwrap();
    for folder in [shallow, deep] {
        let name = format!("{folder}/f1.bin");
        assert_not_found(s.stat(&path(&name)).await, "stat through a swapped-in link");
        assert_not_found(s.read(&path(&name), None).await.map(|_| ()), "read through a swapped-in link");
    }
}

/// An opened file is read as it was when opened, whatever happens to its name meanwhile: a
/// download's `ETag` and length (from the open) then always describe the bytes it sends.
#[tokio::test]
async fn an_opened_file_reads_what_was_opened() {
    let (s, root) = temp_fs();
    for (name, size) in [("small.bin", 1000usize), ("large.bin", 3 * 1024 * 1024)] {
        let old = docbridge_storage::suite::pattern(size, 1);
        put(&s, name, &old).await;
        let opened = s.open(&path(name)).await.unwrap();
        assert_eq!(opened.entry.size, size as u64);
        // Replaced by another program (a new file renamed over it), then removed.
        fs::write(root.path().join("new"), b"new content").unwrap();
        fs::rename(root.path().join("new"), root.path().join(name)).unwrap();
        fs::remove_file(root.path().join(name)).unwrap();
        let read = docbridge_storage::suite::collect(opened.read(&s, None).await.unwrap()).await.unwrap();
        assert!(read == old, "{name}: the opened file's bytes");
    }
    let dir = s.open(&StoragePath::root()).await.unwrap();
    assert_eq!(dir.entry.kind, docbridge_storage::EntryKind::Dir);
}

/// A write long enough for its writeback to be started while it runs (`start_writeback` in
/// `fs.rs`, every 8 MiB) lands byte for byte, and stays readable after its pages were dropped
/// from the cache.
#[tokio::test]
async fn a_long_write_with_early_writeback_lands_whole() {
    let (s, root) = temp_fs();
    let data = docbridge_storage::suite::pattern(40 * 1024 * 1024 + 12_345, 11);
    let stream = docbridge_storage::suite::chunked(data.clone(), 1_000_003);
    let entry = s.write(&path("long.bin"), stream, WriteMode::CreateNew, None).await.unwrap();
    assert_eq!(entry.size, data.len() as u64);
    assert!(fs::read(root.path().join("long.bin")).unwrap() == data, "read back by another program");
    assert!(content(&s, "long.bin").await == data, "read back through the adapter");
    assert!(temp_entries(root.path()).is_empty(), "no temporary file left");
}
