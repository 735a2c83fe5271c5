//! Checks the checker: adapters with one deliberate bug each must fail the conformance case
//! that guards against that bug. A suite that passes everything proves nothing.

use std::ops::Range;
use std::panic::AssertUnwindSafe;
use std::sync::Once;

use bytes::BytesMut;
use docbridge_storage::{
    ByteStream, Entry, INTERNAL_DIR, MemoryStorage, Result, Storage, StorageError, StoragePath, WriteMode, suite,
};
use futures::future::LocalBoxFuture;
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

/// A conformance case by name, boxed so that the cases can stand in a table.
type Case = (&'static str, for<'s> fn(&'s dyn Storage) -> LocalBoxFuture<'s, ()>);

/// The [`Case`]s of these `suite` functions.
macro_rules! cases {
    ($($case:ident),+ $(,)?) => {
        vec![$(case(stringify!($case), |s| suite::$case(s).boxed_local())),+]
    };
}

/// Gives the closures of [`cases!`] the fn-pointer type they must coerce to.
fn case(name: &'static str, run: for<'s> fn(&'s dyn Storage) -> LocalBoxFuture<'s, ()>) -> Case {
    (name, run)
}

/// Each injected bug with the cases that guard against it.
fn guarded_by() -> Vec<(Bug, Vec<Case>)> {
    vec![
        (Bug::CreateNewReplaces, cases![create_new_twice_keeps_the_first, concurrent_create_new_has_one_winner]),
        (Bug::ListsInternalDir, cases![root_is_a_folder, internal_paths_work_but_stay_hidden]),
        (Bug::CommitsPartialUploads, cases![failed_stream_changes_nothing]),
        (Bug::IgnoresLimit, cases![over_limit_is_too_large]),
        (Bug::IgnoresRange, cases![read_whole_and_ranges, large_file_round_trip]),
        (Bug::RenameReplaces, cases![rename_onto_taken_name_is_refused]),
        (Bug::DeleteRootSucceeds, cases![delete_root_is_refused]),
        (Bug::ShallowWalk, cases![walk_lists_nested_items, rename_folder_moves_children]),
    ]
}

/// Runs `case` against an adapter with `bug` and asserts that the case fails.
async fn must_fail(bug: Bug, (name, run): Case) {
    quiet_expected_panics();
    let storage = Broken { inner: MemoryStorage::new(), bug };
    let outcome = AssertUnwindSafe(run(&storage)).catch_unwind().await;
    assert!(outcome.is_err(), "the suite's {name} did not notice {bug:?}");
}

#[tokio::test]
async fn a_correct_adapter_passes_the_cases_used_below() {
    // The same cases against the unbroken adapter: a failure below is then the injected bug.
    for (_, cases) in guarded_by() {
        for (_, run) in cases {
            run(&MemoryStorage::new()).await;
        }
    }
}

#[tokio::test]
async fn every_injected_bug_is_caught() {
    for (bug, cases) in guarded_by() {
        for case in cases {
            must_fail(bug, case).await;
        }
    }
}

#[tokio::test]
async fn broken_errors_are_reported_as_such() {
    // The wrapper itself forwards errors untouched.
    let storage = Broken { inner: MemoryStorage::new(), bug: Bug::ShallowWalk };
    assert!(matches!(storage.stat(&suite::path("missing")).await, Err(StorageError::NotFound(_))));
}
