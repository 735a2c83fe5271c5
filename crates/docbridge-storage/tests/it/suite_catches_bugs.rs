//! Checks the checker: adapters with one deliberate bug each must fail the conformance case
//! that guards against that bug. A suite that passes everything proves nothing.

use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Once;

use bytes::BytesMut;
use docbridge_storage::{
    ByteStream, Entry, INTERNAL_DIR, MemoryStorage, Result, Storage, StorageError, StoragePath, WriteMode, suite,
};
use futures::{FutureExt, StreamExt};

/// The one thing a [`Broken`] adapter gets wrong.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bug {
    /// `CreateNew` replaces whatever is there.
    CreateNewReplaces,
    /// The bookkeeping folder shows in listings of the root.
    ListsInternalDir,
    /// A failing upload stream commits what arrived before the failure.
    CommitsPartialUploads,
    /// The size limit is ignored.
    IgnoresLimit,
    /// Ranges are ignored: every read returns the whole file.
    IgnoresRange,
    /// `rename` replaces an existing target.
    RenameReplaces,
    /// Deleting the root answers success.
    DeleteRootSucceeds,
    /// `walk` returns only the direct children.
    ShallowWalk,
}

/// A correct in-memory adapter with one bug injected.
struct Broken {
    inner: MemoryStorage,
    bug: Bug,
}

#[async_trait::async_trait]
impl Storage for Broken {
    fn kind(&self) -> &'static str {
        "broken"
    }

    async fn stat(&self, path: &StoragePath) -> Result<Entry> {
        self.inner.stat(path).await
    }

    async fn list(&self, dir: &StoragePath) -> Result<Vec<Entry>> {
        let mut entries = self.inner.list(dir).await?;
        if self.bug == Bug::ListsInternalDir && dir.is_root() {
            let mut internal = self.inner.stat(&StoragePath::internal(&[])?).await?;
            internal.name = INTERNAL_DIR.to_owned();
            entries.push(internal);
        }
        Ok(entries)
    }

    async fn walk(&self, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>> {
        let all = self.inner.walk(dir).await?;
        if self.bug == Bug::ShallowWalk {
            let depth = dir.components().len() + 1;
            return Ok(all.into_iter().filter(|(p, _)| p.components().len() == depth).collect());
        }
        Ok(all)
    }

    async fn read(&self, path: &StoragePath, range: Option<Range<u64>>) -> Result<ByteStream> {
        let range = if self.bug == Bug::IgnoresRange { None } else { range };
        self.inner.read(path, range).await
    }

    async fn write(
        &self,
        path: &StoragePath,
        mut data: ByteStream,
        mode: WriteMode,
        limit: Option<u64>,
    ) -> Result<Entry> {
        match self.bug {
            Bug::CreateNewReplaces => self.inner.write(path, data, WriteMode::Replace, limit).await,
            Bug::IgnoresLimit => self.inner.write(path, data, mode, None).await,
            Bug::CommitsPartialUploads => {
                let mut received = BytesMut::new();
                while let Some(Ok(chunk)) = data.next().await {
                    received.extend_from_slice(&chunk);
                }
                self.inner.write(path, suite::stream_of(received.freeze()), mode, limit).await
            }
            _ => self.inner.write(path, data, mode, limit).await,
        }
    }

    async fn create_dir(&self, path: &StoragePath) -> Result<Entry> {
        self.inner.create_dir(path).await
    }

    async fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        if self.bug == Bug::RenameReplaces && from != to && self.inner.stat(to).await.is_ok() {
            self.inner.delete(to).await?;
        }
        self.inner.rename(from, to).await
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        if self.bug == Bug::DeleteRootSucceeds && path.is_root() {
            return Ok(());
        }
        self.inner.delete(path).await
    }
}

/// The suite's panics are the expected outcome here: keep them out of the test output, but let
/// any other panic (a failing assertion below) print as usual.
fn quiet_expected_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied())
                .unwrap_or("");
            if !message.starts_with("[broken]") {
                default(info);
            }
        }));
    });
}

/// Runs `case` against an adapter with `bug` and asserts that the case fails.
async fn must_fail<F>(bug: Bug, case: F)
where
    F: for<'s> AsyncFnOnce(&'s dyn Storage),
{
    quiet_expected_panics();
    let storage = Broken { inner: MemoryStorage::new(), bug };
    let outcome = AssertUnwindSafe(case(&storage)).catch_unwind().await;
    assert!(outcome.is_err(), "the suite did not notice {bug:?}");
}

#[tokio::test]
async fn a_correct_adapter_passes_the_cases_used_below() {
    // The same cases against the unbroken adapter: a failure below is then the injected bug.
    suite::create_new_twice_keeps_the_first(&MemoryStorage::new()).await;
    suite::root_is_a_folder(&MemoryStorage::new()).await;
    suite::failed_stream_changes_nothing(&MemoryStorage::new()).await;
    suite::over_limit_is_too_large(&MemoryStorage::new()).await;
    suite::read_whole_and_ranges(&MemoryStorage::new()).await;
    suite::rename_onto_taken_name_is_refused(&MemoryStorage::new()).await;
    suite::delete_root_is_refused(&MemoryStorage::new()).await;
    suite::walk_lists_nested_items(&MemoryStorage::new()).await;
    suite::concurrent_create_new_has_one_winner(&MemoryStorage::new()).await;
    suite::internal_paths_work_but_stay_hidden(&MemoryStorage::new()).await;
    suite::large_file_round_trip(&MemoryStorage::new()).await;
    suite::rename_folder_moves_children(&MemoryStorage::new()).await;
}

#[tokio::test]
async fn create_new_that_replaces_is_caught() {
    must_fail(Bug::CreateNewReplaces, suite::create_new_twice_keeps_the_first).await;
    must_fail(Bug::CreateNewReplaces, suite::concurrent_create_new_has_one_winner).await;
}

#[tokio::test]
async fn a_listed_internal_folder_is_caught() {
    must_fail(Bug::ListsInternalDir, suite::root_is_a_folder).await;
    must_fail(Bug::ListsInternalDir, suite::internal_paths_work_but_stay_hidden).await;
}

#[tokio::test]
async fn a_committed_partial_upload_is_caught() {
    must_fail(Bug::CommitsPartialUploads, suite::failed_stream_changes_nothing).await;
}

#[tokio::test]
async fn an_ignored_limit_is_caught() {
    must_fail(Bug::IgnoresLimit, suite::over_limit_is_too_large).await;
}

#[tokio::test]
async fn an_ignored_range_is_caught() {
    must_fail(Bug::IgnoresRange, suite::read_whole_and_ranges).await;
    must_fail(Bug::IgnoresRange, suite::large_file_round_trip).await;
}

#[tokio::test]
async fn a_replacing_rename_is_caught() {
    must_fail(Bug::RenameReplaces, suite::rename_onto_taken_name_is_refused).await;
}

#[tokio::test]
async fn a_deletable_root_is_caught() {
    must_fail(Bug::DeleteRootSucceeds, suite::delete_root_is_refused).await;
}

#[tokio::test]
async fn a_shallow_walk_is_caught() {
    must_fail(Bug::ShallowWalk, suite::walk_lists_nested_items).await;
    must_fail(Bug::ShallowWalk, suite::rename_folder_moves_children).await;
}

#[tokio::test]
async fn broken_errors_are_reported_as_such() {
    // The wrapper itself forwards errors untouched.
    let storage = Broken { inner: MemoryStorage::new(), bug: Bug::ShallowWalk };
    assert!(matches!(storage.stat(&suite::path("missing")).await, Err(StorageError::NotFound(_))));
}
