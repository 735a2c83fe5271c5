//! The journal of renames and folder deletes: what lets an operation that touches many objects
//! resume after a crash or a failure half-way (see the adapter's documentation for the rules).
//!
//! An entry is one JSON object, `.docbridge/journal/<uuid>.json` under the library's prefix, with
//! the operation and its paths relative to the library (so that a library moved to another
//! prefix keeps a meaningful journal). It is written before the operation's first change,
//! rewritten every fifth of the grace period while the operation runs (its modification time
//! says the operation is alive), and removed once the operation is complete.

use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::TryStreamExt;
use object_store::path::Path as Key;
use object_store::{ObjectMeta, ObjectStore, ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{Inner, JOURNAL_DIR, Started, backend};
use crate::path::INTERNAL_DIR;
use crate::{Result, StorageError};

/// The format of an entry; an entry of another version is left alone.
const VERSION: u32 = 1;

/// What an entry asks for. Every operation rolls forward and is safe to repeat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub(super) enum Operation {
    /// Copy the file `from` to `to`, then delete `from`; only while `from` still has `etag` (when
    /// the server gives ETags), so that a new file under the old name is never moved.
    RenameFile { from: String, to: String, etag: Option<String> },
    /// Move everything below `from` to the same place below `to`.
    RenameFolder { from: String, to: String },
    /// Delete everything below `path`.
    DeleteFolder { path: String },
}

#[derive(Debug, Serialize, Deserialize)]
struct Record {
    version: u32,
    started: DateTime<Utc>,
    #[serde(flatten)]
    operation: Operation,
}

impl Inner {
    /// Runs `operation` under a journal entry. If it fails, or its caller stops polling it, the
    /// entry stays and the next call of this process resumes it.
    pub(super) async fn journaled(&self, operation: Operation) -> Result<()> {
        let key = self.key_of(&format!("{INTERNAL_DIR}/{JOURNAL_DIR}/{}.json", uuid::Uuid::new_v4()))?;
        let record = Record { version: VERSION, started: Utc::now(), operation };
        let body = Bytes::from(serde_json::to_vec(&record).map_err(|e| StorageError::Io(e.into()))?);
        self.store.put(&key, PutPayload::from(body.clone())).await.map_err(backend)?;
        let period = (self.options.journal_grace / 5).max(Duration::from_secs(1));
        let mut guard = Entry {
            inner: self,
            key: key.clone(),
            heartbeat: Some(Heartbeat::start(self.store.clone(), key, body, period)),
        };
        let result = self.execute(&record.operation).await;
        guard.finish(result).await
    }

    async fn execute(&self, operation: &Operation) -> Result<()> {
        match operation {
            Operation::RenameFile { from, to, etag } => self.move_file(from, to, etag.as_deref()).await,
            Operation::RenameFolder { from, to } => self.move_tree(from, to).await,
            Operation::DeleteFolder { path } => self.delete_tree(path).await,
        }
    }

    /// Resumes the entries older than `older_than` (default: the grace period) by the server's
    /// clock, and answers how many were completed. A failure to resume one is logged; the entry
    /// stays for the next scan.
    pub(super) async fn replay(&self, started: &Started, older_than: Option<Duration>) -> Result<usize> {
        let prefix = self.key_of(&format!("{INTERNAL_DIR}/{JOURNAL_DIR}"))?;
        let entries: Vec<ObjectMeta> = self.store.list(Some(&prefix)).try_collect().await.map_err(backend)?;
        let grace = chrono::Duration::from_std(older_than.unwrap_or(self.options.journal_grace)).unwrap_or_default();
        let server_now = Utc::now() + started.skew;
        let mut done = 0;
        for entry in entries {
            if server_now - entry.last_modified < grace {
                continue;
            }
            match self.resume(&entry.location).await {
                Ok(()) => done += 1,
                Err(e) => {
                    tracing::warn!(journal = %entry.location, error = %e, "cannot resume an interrupted operation")
                }
            }
        }
        Ok(done)
    }

    /// Completes now every entry renaming `from` to `to`, live-looking or not: the caller knows
    /// that no process is running that rename any more (see `Storage::finish_interrupted_rename`).
    pub(super) async fn finish_renames(&self, from: &str, to: &str) -> Result<()> {
        let prefix = self.key_of(&format!("{INTERNAL_DIR}/{JOURNAL_DIR}"))?;
        let entries: Vec<ObjectMeta> = self.store.list(Some(&prefix)).try_collect().await.map_err(backend)?;
        for entry in entries {
            let body = match self.store.get(&entry.location).await {
                Ok(result) => result.bytes().await.map_err(backend)?,
                Err(object_store::Error::NotFound { .. }) => continue,
                Err(e) => return Err(backend(e)),
            };
            // Entries that cannot be read are `resume`'s to report; they are not this rename.
            let Ok(record) = serde_json::from_slice::<Record>(&body) else { continue };
            let matches = match &record.operation {
                Operation::RenameFile { from: f, to: t, .. } | Operation::RenameFolder { from: f, to: t } => {
                    f == from && t == to
                }
                Operation::DeleteFolder { .. } => false,
            };
            if matches {
                self.resume(&entry.location).await?;
                self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(entry.location.as_ref());
            }
        }
        Ok(())
    }

    /// Resumes an entry that an operation of this process left, and forgets it once done.
    pub(super) async fn resume_own(&self, key: &str) -> Result<()> {
        let parsed = Key::parse(key).map_err(|e| StorageError::InvalidPath(e.to_string()))?;
        self.resume(&parsed).await?;
        self.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).remove(key);
        Ok(())
    }

    /// Completes the operation of one entry, then removes the entry. An entry already gone was
    /// completed by someone else.
    async fn resume(&self, key: &Key) -> Result<()> {
        let body = match self.store.get(key).await {
            Ok(result) => result.bytes().await.map_err(backend)?,
            Err(object_store::Error::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(backend(e)),
        };
        let record: Record = serde_json::from_slice(&body)
            .map_err(|e| StorageError::Io(std::io::Error::other(format!("unreadable journal entry {key}: {e}"))))?;
        if record.version != VERSION {
            return Err(StorageError::Io(std::io::Error::other(format!(
                "journal entry {key} has version {}, not {VERSION}",
                record.version
            ))));
        }
        self.check_paths(&record.operation)?;
        tracing::info!(journal = %key, operation = ?record.operation, started = %record.started, "resuming an interrupted operation");
        self.execute(&record.operation).await?;
        self.delete_keys(vec![key.clone()]).await
    }

    /// An entry's paths must be paths of this library, never its bookkeeping: a damaged or
    /// forged entry cannot make the adapter move or delete the journal itself or leave the prefix.
    fn check_paths(&self, operation: &Operation) -> Result<()> {
        let paths: Vec<&str> = match operation {
            Operation::RenameFile { from, to, .. } | Operation::RenameFolder { from, to } => vec![from, to],
            Operation::DeleteFolder { path } => vec![path],
        };
        for path in paths {
            let mut parts = path.split('/');
            let first = parts.next().unwrap_or_default();
            let second = parts.next();
            let bookkeeping = first == INTERNAL_DIR && (second.is_none() || second == Some(JOURNAL_DIR));
            if path.is_empty() || bookkeeping {
                return Err(StorageError::InvalidPath(format!("journal entry names {path:?}")));
            }
            self.key_of(path)?;
        }
        Ok(())
    }
}

/// A journal entry of an operation in progress.
struct Entry<'a> {
    inner: &'a Inner,
    key: Key,
    heartbeat: Option<Heartbeat>,
}

impl Entry<'_> {
    async fn finish(&mut self, result: Result<()>) -> Result<()> {
        if let Some(heartbeat) = self.heartbeat.take() {
            // Waited for, so that no refresh can land after the entry is removed and revive it.
            heartbeat.stop().await;
        }
        match result {
            Ok(()) => {
                if let Err(e) = self.inner.delete_keys(vec![self.key.clone()]).await {
                    // Harmless: resuming a completed operation finds nothing left to do.
                    tracing::warn!(journal = %self.key, error = %e, "cannot remove a journal entry");
                }
                Ok(())
            }
            Err(e) => {
                self.remember();
                Err(e)
            }
        }
    }

    fn remember(&self) {
        self.inner.failed.lock().unwrap_or_else(std::sync::PoisonError::into_inner).insert(self.key.to_string());
    }
}

impl Drop for Entry<'_> {
    /// Dropped before `finish`: the caller stopped polling the operation half-way.
    fn drop(&mut self) {
        if self.heartbeat.take().is_some() {
            // Dropping the heartbeat stops it; the entry is resumed by the next call.
            self.remember();
        }
    }
}

/// Rewrites a journal entry now and then, so that other processes see its operation alive.
struct Heartbeat {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Heartbeat {
    fn start(store: std::sync::Arc<dyn ObjectStore>, key: Key, body: Bytes, period: Duration) -> Self {
        let (stop, mut stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut ticks = tokio::time::interval(period);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            // The first tick is immediate, and the entry was just written.
            ticks.tick().await;
            loop {
                tokio::select! {
                    _ = &mut stopped => return,
                    _ = ticks.tick() => {}
                }
                // Not raced against `stopped`: a rewrite, once sent, is waited for.
                if let Err(e) = store.put(&key, PutPayload::from(body.clone())).await {
                    tracing::warn!(journal = %key, error = %e, "cannot refresh a journal entry");
                }
            }
        });
        Heartbeat { stop: Some(stop), task }
    }

    async fn stop(mut self) {
        self.stop.take();
        if let Err(e) = (&mut self.task).await {
            tracing::warn!(error = %e, "the journal heartbeat task failed");
        }
    }
}

impl Drop for Heartbeat {
    fn drop(&mut self) {
        // Ends the task at its next tick (a rewrite in flight completes first).
        self.stop.take();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_round_trip_as_json() {
        let record = Record {
            version: VERSION,
            started: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
            operation: Operation::RenameFolder { from: "a/日本".into(), to: ".docbridge/trash/x".into() },
        };
        let json = serde_json::to_string(&record).unwrap();
        assert!(json.contains(r#""op":"rename_folder""#), "{json}");
        let back: Record = serde_json::from_str(&json).unwrap();
        assert_eq!(back.operation, record.operation);
    }
}
