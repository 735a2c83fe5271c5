//! The S3 adapter: a library is a key prefix in a bucket of any S3-compatible server (AWS,
//! MinIO, Ceph, rclone, ...), through `object_store`.
//!
//! # Layout
//!
//! A library lives under a prefix `P` (the configured prefix, then the integration's root). The
//! file `a/b.txt` is the object `P/a/b.txt`, its key spelled exactly as the name (UTF-8, nothing
//! escaped), so other S3 tools see the same tree. A folder is a key prefix. Every folder this
//! adapter creates holds an empty marker object, `P/a/.docbridge-folder` ([`FOLDER_MARKER`]),
//! so that an empty folder still exists: S3 has no folders, and the usual marker (an empty object
//! whose key ends in `/`) is refused by several servers, rclone's among them. The marker's name is
//! reserved: it is never listed, and a path that uses it is an [`StorageError::InvalidPath`].
//! Prefixes written by other tools, without a marker, are folders too (while anything is below
//! them; their modification time is the time of the listing, S3 keeping none for a prefix).
//!
//! Bookkeeping lives under `P/.docbridge/` ([`INTERNAL_DIR`]), hidden from the library:
//! `journal/` (folder moves and deletes in progress, below) and `tmp/` (uploads being committed,
//! probes). Modification times are whole seconds: S3 answers a listing in milliseconds and a
//! `HEAD` in seconds, and the documents layer compares them.
//!
//! # What is guaranteed
//!
//! - **Writes** are streamed: up to one part ([`S3Options::part_size`]) is gathered in memory; a
//!   file that fits is one `PUT`, a larger one a multipart upload. S3 shows neither until it is
//!   complete, so a reader sees the old content or the new, never a partial file. A failed write
//!   (stream error, limit, S3 error) aborts its multipart upload; so does a write whose caller
//!   stops polling it (the abort is spawned). Only a crash can leave an incomplete upload behind,
//!   invisible but billed: give the bucket a lifecycle rule that aborts incomplete multipart
//!   uploads after a day.
//! - **`CreateNew`** is atomic when the server supports conditional writes (`If-None-Match: *`,
//!   which the adapter probes once per library and process): a single-part file is a conditional
//!   `PUT`; a larger one is uploaded under `.docbridge/tmp` and copied to its name with a
//!   conditional copy, then the temporary object is removed (a server-side copy, paid only by new
//!   files larger than one part). A server without conditional writes gets a check then a write:
//!   two writers racing for one name can then both succeed, the later replacing the earlier
//!   ([`Storage::capabilities`] says so). docbridge itself never races for a name across
//!   processes: its database's unique index on paths decides first.
//! - **Renames** never replace an existing item, by a check then a copy (S3 cannot copy
//!   conditionally everywhere): a writer racing for the target name can be overwritten. A file
//!   moves by copy then delete; a folder by copying then deleting every object below it, a
//!   thousand at a time. **Folder deletes** remove every object below the folder, a thousand per
//!   request. Neither is atomic for readers: while it runs, part of a moved folder is at the old
//!   name and part at the new one (every object at one of them at least), and part of a deleted
//!   folder is still there.
//! - **Interrupted renames and deletes resume.** Each one first writes a journal entry
//!   (`.docbridge/journal/<uuid>.json`: the operation, its paths, for a file its ETag), refreshed
//!   while the operation runs and removed when it is done. An entry left by an operation that
//!   failed in this process is resumed at the next call; one left by a crashed process is resumed
//!   by the first call, in any process, after it has gone [`S3Options::journal_grace`] without a
//!   refresh (at the first call of a process, then once a minute). Resuming rolls forward: what is
//!   still under the old name moves to the new one (a file only if its ETag is unchanged); what is
//!   still under a deleted folder goes. Both are safe to repeat and to run in two processes at
//!   once. With [`S3Options::resume_on_its_own`] off (as docbridge runs it), ordinary calls
//!   resume nothing: the caller does, through `Storage::finish_interrupted_rename` and
//!   `Storage::resume_interrupted_operations`, serialised with its own changes.

mod journal;
mod upload;

use std::collections::HashSet;
use std::fmt;
use std::io;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use bytes::Bytes;
use chrono::{DateTime, SubsecRound, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::list::{PaginatedListOptions, PaginatedListStore};
use object_store::path::Path as Key;
use object_store::{GetOptions, GetRange, ObjectMeta, ObjectStore, ObjectStoreExt, PutMode, PutPayload};

pub use object_store;

use crate::path::{INTERNAL_DIR, TEMP_DIR, TEMP_GRACE};
use crate::{ByteStream, Capabilities, Entry, EntryKind, Result, Storage, StorageError, StoragePath, WriteMode};

/// The empty object that marks a folder this adapter created: `<folder>/.docbridge-folder`.
pub const FOLDER_MARKER: &str = ".docbridge-folder";

/// The folder inside [`INTERNAL_DIR`] that belongs to the adapter and is never listed there
/// (besides [`TEMP_DIR`]).
const JOURNAL_DIR: &str = "journal";

/// Bytes per chunk of a read stream at most: a backend that answers in one piece (the in-memory
/// store) is cut up so that consumers see the same chunking as from the network.
const READ_CHUNK: usize = 256 * 1024;

/// S3 accepts at most this many parts per upload; the part size grows to fit a large limit.
const MAX_PARTS: u64 = 10_000;

/// Concurrent requests for per-object work (folder times in a listing, copies in a move).
const CONCURRENCY: usize = 16;

/// How often a process looks for journal entries that crashed processes left behind.
const JOURNAL_SCAN_INTERVAL: Duration = Duration::from_secs(60);

/// A secret (the S3 secret access key) that never shows in logs: its `Debug` is `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct S3Secret(String);

impl S3Secret {
    /// Wraps a secret access key.
    pub fn new(secret: impl Into<String>) -> Self {
        S3Secret(secret.into())
    }

    /// The secret itself, for the one place that signs requests with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no key was given (credentials then come from the environment).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for S3Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where the bucket is and how to sign requests to it.
#[derive(Debug, Clone, Default)]
pub struct S3Config {
    /// `https://host[:port]` of an S3-compatible server; empty for AWS (found from the region).
    pub endpoint: String,
    /// The signing region; S3-compatible servers mostly accept any (`us-east-1`).
    pub region: String,
    /// The bucket's name.
    pub bucket: String,
    /// Key prefix of every library (`docbridge/prod`); empty for the bucket's root.
    pub prefix: String,
    /// Empty: credentials from the environment (`AWS_ACCESS_KEY_ID`, ...), or else the
    /// instance's role (EC2, ECS, EKS web identity).
    pub access_key_id: String,
    /// The secret paired with `access_key_id`.
    pub secret_access_key: S3Secret,
    /// Allows an `http://` endpoint (a server on a private network, tests).
    pub allow_http: bool,
}

impl S3Config {
    /// The `object_store` client of the bucket (no request is made), for tools and tests that
    /// want to look at the bucket directly.
    pub fn store(&self) -> Result<object_store::aws::AmazonS3> {
        use object_store::aws::{AmazonS3Builder, S3ConditionalPut, S3CopyIfNotExists};
        if self.bucket.trim().is_empty() {
            return Err(invalid_config("the bucket name is empty"));
        }
        let mut builder = if self.access_key_id.is_empty() {
            // Environment credentials or the instance's role, as every AWS tool does.
            AmazonS3Builder::from_env()
        } else {
            AmazonS3Builder::new()
                .with_access_key_id(&self.access_key_id)
                .with_secret_access_key(self.secret_access_key.expose())
        };
        builder = builder
            .with_bucket_name(self.bucket.trim())
            .with_region(if self.region.is_empty() { "us-east-1" } else { self.region.as_str() })
            .with_allow_http(self.allow_http)
            .with_conditional_put(S3ConditionalPut::ETagMatch)
            // A conditional copy is a one-part multipart copy completed with If-None-Match,
            // which AWS and MinIO honour; the adapter's probe finds out for other servers.
            .with_copy_if_not_exists(S3CopyIfNotExists::Multipart);
        if !self.endpoint.is_empty() {
            builder = builder.with_endpoint(self.endpoint.trim_end_matches('/'));
        }
        builder.build().map_err(|e| invalid_config(&e.to_string()))
    }
}

/// How the adapter behaves, whatever the bucket.
#[derive(Debug, Clone)]
pub struct S3Options {
    /// Bytes gathered before a write becomes a multipart upload, and the size of each part. S3
    /// wants at least 5 MiB for every part but the last; smaller values suit test servers only.
    pub part_size: usize,
    /// Whether the server honours `If-None-Match: *` on writes and copies; `None` probes it.
    pub conditional_writes: Option<bool>,
    /// How long a journal entry must go without a refresh before another process takes it for
    /// a crash's leftover and resumes it. Refreshes come every fifth of it.
    pub journal_grace: Duration,
    /// Whether ordinary calls resume interrupted operations (this process's failed ones at
    /// once, crashed processes' ones past the grace period). `false` leaves that to the caller,
    /// through [`Storage::resume_interrupted_operations`] and
    /// [`Storage::finish_interrupted_rename`], so that it can serialise it with its own changes:
    /// docbridge does so under a library's change lock, since a roll-forward running beside the
    /// settling of the same move, and a later rename of the moved folder, could bring a folder
    /// marker back behind the index.
    pub resume_on_its_own: bool,
}

impl Default for S3Options {
    fn default() -> Self {
        S3Options {
            part_size: 8 * 1024 * 1024,
            conditional_writes: None,
            journal_grace: Duration::from_secs(5 * 60),
            resume_on_its_own: true,
        }
    }
}

/// A library stored under a prefix of an S3 bucket. Cheap to clone; clones share everything.
#[derive(Clone)]
pub struct S3Storage {
    inner: Arc<Inner>,
}

impl fmt::Debug for S3Storage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("S3Storage")
            .field("store", &self.inner.store.to_string())
            .field("prefix", &self.inner.base)
            .finish()
    }
}

pub(crate) struct Inner {
    store: Arc<dyn ObjectStore>,
    /// The same store when it can list one key at a time (real S3): existence checks then cost
    /// one key, not a page of a thousand.
    pager: Option<Arc<dyn PaginatedListStore>>,
    /// The library's prefix, without slashes at either end; empty for the bucket's root.
    base: String,
    options: S3Options,
    /// What the first call learnt (probe results); computed once, under `starting`, which
    /// concurrent first calls wait for.
    started: std::sync::OnceLock<Started>,
    starting: tokio::sync::Mutex<()>,
    last_scan: Mutex<Instant>,
    scanning: tokio::sync::Mutex<()>,
    /// Journal keys that operations of this process left when they failed half-way: nobody is
    /// working on them, so the next call resumes them without waiting for the grace period.
    failed: Mutex<HashSet<String>>,
}

/// What the adapter learns about the server at its first call.
#[derive(Debug, Clone, Copy)]
struct Started {
    conditional_put: bool,
    conditional_copy: bool,
    /// The server's clock minus ours, so that journal ages are measured on the server's clock.
    skew: chrono::Duration,
}

/// What is at a path.
enum Found {
    File(ObjectMeta),
    Dir(DateTime<Utc>),
    Nothing,
}

impl S3Storage {
    /// Connects to the bucket the configuration names; the library is at `config.prefix`. No
    /// request is made until the first call.
    pub fn connect(config: &S3Config, options: S3Options) -> Result<Self> {
        let s3 = Arc::new(config.store()?);
        let pager: Arc<dyn PaginatedListStore> = s3.clone();
        Self::build(s3, Some(pager), &config.prefix, options)
    }

    /// A library under `prefix` of any object store (the in-memory one in tests, a wrapper that
    /// injects faults, ...).
    pub fn from_store(store: Arc<dyn ObjectStore>, prefix: &str, options: S3Options) -> Result<Self> {
        Self::build(store, None, prefix, options)
    }

    /// Another library in the same bucket, sharing its connection, at `sub` below this one's
    /// prefix (an integration's root). It has its own journal and probes.
    pub fn within(&self, sub: &str) -> Result<Self> {
        let prefix = join_prefix(&self.inner.base, sub)?;
        Self::build(self.inner.store.clone(), self.inner.pager.clone(), &prefix, self.inner.options.clone())
    }

    fn build(
        store: Arc<dyn ObjectStore>,
        pager: Option<Arc<dyn PaginatedListStore>>,
        prefix: &str,
        options: S3Options,
    ) -> Result<Self> {
        let base = join_prefix("", prefix)?;
        if base.split('/').any(|part| part == INTERNAL_DIR || part == FOLDER_MARKER) {
            return Err(invalid_config(&format!("the prefix {prefix:?} uses a reserved name")));
        }
        if options.part_size < 1024 {
            return Err(invalid_config("the part size must be at least 1 KiB"));
        }
        Ok(S3Storage {
            inner: Arc::new(Inner {
                store,
                pager,
                base,
                options,
                started: std::sync::OnceLock::new(),
                starting: tokio::sync::Mutex::new(()),
                // Due at once: the first call after the start-up scan looks again only later.
                last_scan: Mutex::new(Instant::now()),
                scanning: tokio::sync::Mutex::new(()),
                failed: Mutex::default(),
            }),
        })
    }

    /// The library's key prefix (no slashes at the ends; empty for the bucket's root).
    pub fn prefix(&self) -> &str {
        &self.inner.base
    }

    /// Resumes every interrupted rename or delete whose journal entry has gone `older_than`
    /// without a refresh, and answers how many were completed. The adapter does this by itself
    /// (see the module's documentation); this is for tools and tests that want it now.
    pub async fn resume_interrupted(&self, older_than: Duration) -> Result<usize> {
        let started = self.inner.ready().await?;
        self.inner.replay(&started, Some(older_than)).await
    }
}

impl Inner {
    // -----------------------------------------------------------------------------------------
    // Keys.

    /// The key of `rel` (a `/`-joined path relative to the library).
    fn key_of(&self, rel: &str) -> Result<Key> {
        let raw = match (self.base.is_empty(), rel.is_empty()) {
            (_, true) => self.base.clone(),
            (true, false) => rel.to_owned(),
            (false, false) => format!("{}/{rel}", self.base),
        };
        // `parse`, not `from`: the key is the name as is, never percent-encoded.
        Key::parse(&raw).map_err(|e| StorageError::InvalidPath(e.to_string()))
    }

    fn key(&self, path: &StoragePath) -> Result<Key> {
        self.key_of(&path.as_string())
    }

    /// The key of `name` inside the folder whose key is `dir`.
    fn child(&self, dir: &Key, name: &str) -> Result<Key> {
        let raw = if dir.as_ref().is_empty() { name.to_owned() } else { format!("{dir}/{name}") };
        Key::parse(&raw).map_err(|e| StorageError::InvalidPath(e.to_string()))
    }

    fn marker(&self, dir: &Key) -> Result<Key> {
        self.child(dir, FOLDER_MARKER)
    }

    // -----------------------------------------------------------------------------------------
    // Requests.

    async fn head(&self, key: &Key) -> Result<Option<ObjectMeta>> {
        match self.store.head(key).await {
            Ok(meta) => Ok(Some(meta)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(backend(e)),
        }
    }

    /// The first object below the folder `dir`, if any: whether the prefix is a folder.
    async fn any_under(&self, dir: &Key) -> Result<Option<ObjectMeta>> {
        if let Some(pager) = &self.pager {
            let prefix = if dir.as_ref().is_empty() { None } else { Some(format!("{dir}/")) };
            let options = PaginatedListOptions { max_keys: Some(1), ..PaginatedListOptions::default() };
            let page = pager.list_paginated(prefix.as_deref(), options).await.map_err(backend)?;
            return Ok(page.result.objects.into_iter().next());
        }
        let mut listing = self.store.list(Some(dir));
        listing.try_next().await.map_err(backend)
    }

    /// What is at `path`: a file (`HEAD`), a folder (its marker, else anything below it), or
    /// nothing. The root and the bookkeeping folder always exist.
    async fn find(&self, path: &StoragePath) -> Result<Found> {
        if path.is_root() || is_internal_root(path) {
            return Ok(Found::Dir(now()));
        }
        let key = self.key(path)?;
        if let Some(meta) = self.head(&key).await? {
            return Ok(Found::File(meta));
        }
        self.find_folder(&key).await
    }

    /// Whether the key `key` (known not to be a file) is a folder.
    async fn find_folder(&self, key: &Key) -> Result<Found> {
        if let Some(marker) = self.head(&self.marker(key)?).await? {
            return Ok(Found::Dir(seconds(marker.last_modified)));
        }
        Ok(if self.any_under(key).await?.is_some() { Found::Dir(now()) } else { Found::Nothing })
    }

    /// Checks that `dir` is a folder, answering as the other adapters do about `full` (a path
    /// inside it): `NotFound` if it is missing, `NotADirectory` if it is a file. The marker is
    /// looked for first: the common case, one request.
    async fn require_folder(&self, dir: &StoragePath, full: &StoragePath) -> Result<()> {
        if dir.is_root() || is_internal_root(dir) {
            return Ok(());
        }
        let key = self.key(dir)?;
        if self.head(&self.marker(&key)?).await?.is_some() {
            return Ok(());
        }
        if self.head(&key).await?.is_some() {
            return Err(StorageError::NotADirectory(full.to_string()));
        }
        match self.any_under(&key).await? {
            Some(_) => Ok(()),
            None => Err(StorageError::NotFound(full.to_string())),
        }
    }

    /// Puts an empty object, conditionally when the server can. `AlreadyExists` if it was there.
    async fn put_empty(&self, key: &Key, create: bool) -> Result<()> {
        let mode = if create { PutMode::Create } else { PutMode::Overwrite };
        match self.store.put_opts(key, PutPayload::default(), mode.into()).await {
            Ok(_) => Ok(()),
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                Err(StorageError::AlreadyExists(key.to_string()))
            }
            Err(e) => Err(backend(e)),
        }
    }

    /// Deletes keys, a thousand per request where the server allows; missing keys are fine.
    async fn delete_keys(&self, keys: Vec<Key>) -> Result<()> {
        let stream = futures::stream::iter(keys.into_iter().map(Ok)).boxed();
        let mut results = self.store.delete_stream(stream);
        while let Some(result) = results.next().await {
            match result {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(backend(e)),
            }
        }
        Ok(())
    }

    /// Copies `from` to `to`, replacing `to`. A source gone meanwhile (another process resuming
    /// the same move) is not an error: `false`.
    async fn copy(&self, from: &Key, to: &Key) -> Result<bool> {
        match self.store.copy(from, to).await {
            Ok(()) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(backend(e)),
        }
    }

    // -----------------------------------------------------------------------------------------
    // Start-up: probes, crash leftovers.

    /// Probes the server once, resumes what crashed processes left, sweeps old temporary
    /// objects. Every call awaits this; a failure (an unreachable server) is retried by the next.
    async fn ready(&self) -> Result<Started> {
        let started = match self.started.get() {
            Some(started) => *started,
            None => self.start_once().await?,
        };
        if !self.options.resume_on_its_own {
            return Ok(started);
        }
        let own = self.failed_keys();
        let due = {
            let mut last = self.last_scan.lock().unwrap_or_else(PoisonError::into_inner);
            let due = last.elapsed() >= JOURNAL_SCAN_INTERVAL;
            if due {
                *last = Instant::now();
            }
            due
        };
        if own.is_empty() && !due {
            return Ok(started);
        }
        // One scan at a time; a call that finds one running goes on without waiting.
        if let Ok(_scanning) = self.scanning.try_lock() {
            // Ours first, at once: nobody else is working on them.
            for key in own {
                if let Err(e) = self.resume_own(&key).await {
                    tracing::warn!(prefix = %self.base, journal = %key, error = %e, "cannot resume a failed operation yet");
                }
            }
            if due && let Err(e) = self.replay(&started, None).await {
                tracing::warn!(prefix = %self.base, error = %e, "cannot look for interrupted operations");
            }
        }
        Ok(started)
    }

    /// The journal keys this process's failed operations left (see `failed`), as they are now.
    fn failed_keys(&self) -> Vec<String> {
        self.failed.lock().unwrap_or_else(PoisonError::into_inner).iter().cloned().collect()
    }

    async fn start_once(&self) -> Result<Started> {
        let _starting = self.starting.lock().await;
        if let Some(started) = self.started.get() {
            return Ok(*started);
        }
        let started = self.start().await?;
        // Cannot be set already: only holders of `starting` set it.
        let _ = self.started.set(started);
        Ok(started)
    }

    async fn start(&self) -> Result<Started> {
        let started = self.probe().await?;
        let _scanning = self.scanning.lock().await;
        if self.options.resume_on_its_own
            && let Err(e) = self.replay(&started, None).await
        {
            tracing::warn!(prefix = %self.base, error = %e, "cannot resume interrupted operations");
        }
        if let Err(e) = self.sweep_temp(&started).await {
            tracing::warn!(prefix = %self.base, error = %e, "cannot sweep temporary objects");
        }
        Ok(started)
    }

    /// Finds out whether the server honours conditional writes and copies (a server that does
    /// not may ignore the header and overwrite, so asking twice is the only way to know), and
    /// how far its clock is from ours.
    async fn probe(&self) -> Result<Started> {
        let id = uuid::Uuid::new_v4();
        let first = self.key_of(&format!("{INTERNAL_DIR}/{TEMP_DIR}/probe-{id}"))?;
        let second = self.key_of(&format!("{INTERNAL_DIR}/{TEMP_DIR}/probe-{id}-copy"))?;
        let result = self.probe_with(&first, &second).await;
        if let Err(e) = self.delete_keys(vec![first, second]).await {
            tracing::warn!(prefix = %self.base, error = %e, "cannot remove the probe objects; they are swept later");
        }
        let started = result?;
        if !started.conditional_put || !started.conditional_copy {
            tracing::info!(
                prefix = %self.base,
                conditional_put = started.conditional_put,
                conditional_copy = started.conditional_copy,
                "the S3 server lacks conditional writes: CreateNew and renames check, then write"
            );
        }
        Ok(started)
    }

    async fn probe_with(&self, first: &Key, second: &Key) -> Result<Started> {
        let before = Utc::now();
        // A failure here is the server's answer to any write: unreachable, wrong keys, no bucket.
        self.put_empty(first, false).await?;
        let skew = match self.head(first).await? {
            Some(meta) => meta.last_modified - before.trunc_subsecs(0),
            None => chrono::Duration::zero(),
        };
        let (conditional_put, conditional_copy) = match self.options.conditional_writes {
            Some(known) => (known, known),
            None => {
                let put = matches!(self.put_empty(first, true).await, Err(StorageError::AlreadyExists(_)));
                let copy = match self.store.copy_if_not_exists(first, second).await {
                    Ok(()) => matches!(
                        self.store.copy_if_not_exists(first, second).await,
                        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. })
                    ),
                    Err(_) => false,
                };
                (put, copy)
            }
        };
        Ok(Started { conditional_put, conditional_copy, skew })
    }

    /// Removes temporary objects older than [`TEMP_GRACE`] (uploads a crash interrupted).
    async fn sweep_temp(&self, started: &Started) -> Result<()> {
        let prefix = self.key_of(&format!("{INTERNAL_DIR}/{TEMP_DIR}"))?;
        let cutoff = Utc::now() + started.skew - chrono::Duration::from_std(TEMP_GRACE).unwrap_or_default();
        let old: Vec<Key> = self
            .store
            .list(Some(&prefix))
            .try_filter(|meta| futures::future::ready(meta.last_modified < cutoff))
            .map_ok(|meta| meta.location)
            .try_collect()
            .await
            .map_err(backend)?;
        if !old.is_empty() {
            tracing::info!(prefix = %self.base, count = old.len(), "removing temporary objects left by a crash");
            self.delete_keys(old).await?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------------
    // Trait operations, once `ready`.

    async fn list(&self, dir: &StoragePath) -> Result<Vec<Entry>> {
        let key = self.key(dir)?;
        let listing = self.store.list_with_delimiter(prefix_of(&key)).await.map_err(backend)?;
        if listing.objects.is_empty() && listing.common_prefixes.is_empty() && !(dir.is_root() || is_internal_root(dir))
        {
            return Err(match self.head(&key).await? {
                Some(_) => StorageError::NotADirectory(dir.to_string()),
                None => StorageError::NotFound(dir.to_string()),
            });
        }
        let mut entries = Vec::new();
        for meta in listing.objects {
            if let Some(name) = meta.location.filename().filter(|name| visible(dir, name)) {
                entries.push(Entry {
                    name: name.to_owned(),
                    kind: EntryKind::File,
                    size: meta.size,
                    modified: seconds(meta.last_modified),
                });
            }
        }
        let folders: Vec<(String, Key)> = listing
            .common_prefixes
            .into_iter()
            .filter_map(|prefix| {
                let name = prefix.filename().filter(|name| visible(dir, name))?.to_owned();
                Some((name, prefix))
            })
            .collect();
        // A prefix keeps no time; its marker does, one HEAD each, several at once.
        for batch in folders.chunks(CONCURRENCY) {
            let dated =
                futures::future::try_join_all(batch.iter().map(|(name, prefix)| self.folder_entry(name, prefix)))
                    .await?;
            entries.extend(dated);
        }
        Ok(entries)
    }

    /// The entry of a listed folder, dated by its marker (or now, without one).
    async fn folder_entry(&self, name: &str, prefix: &Key) -> Result<Entry> {
        let modified = match self.head(&self.marker(prefix)?).await? {
            Some(marker) => seconds(marker.last_modified),
            None => now(),
        };
        Ok(Entry { name: name.to_owned(), kind: EntryKind::Dir, size: 0, modified })
    }

    async fn walk(&self, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>> {
        let key = self.key(dir)?;
        let dir_key = key.as_ref().to_owned();
        let mut tree: std::collections::BTreeMap<Vec<String>, Entry> = std::collections::BTreeMap::new();
        let hidden = |first: &str| {
            (dir.is_root() && first == INTERNAL_DIR)
                || (is_internal_root(dir) && (first == JOURNAL_DIR || first == TEMP_DIR))
        };
        let mut listing = self.store.list(prefix_of(&key));
        let mut any = false;
        while let Some(meta) = listing.try_next().await.map_err(backend)? {
            any = true;
            let Some(rel) = below(&dir_key, meta.location.as_ref()) else { continue };
            let parts: Vec<&str> = rel.split('/').collect();
            let Some((last, folders)) = parts.split_last() else { continue };
            if parts.first().is_some_and(|first| hidden(first)) {
                continue;
            }
            // Every folder on the way must be a name a path can hold, and never the marker.
            if folders.iter().any(|name| *name == FOLDER_MARKER || dir.join(name).is_err()) {
                continue;
            }
            for depth in 1..=folders.len() {
                let names: Vec<String> = folders[..depth].iter().map(|s| (*s).to_owned()).collect();
                tree.entry(names).or_insert_with(|| Entry {
                    name: folders[depth - 1].to_owned(),
                    kind: EntryKind::Dir,
                    size: 0,
                    modified: now(),
                });
            }
            if *last == FOLDER_MARKER {
                // The folder's own time (the marker of `dir` itself has no entry to date).
                let names: Vec<String> = folders.iter().map(|s| (*s).to_owned()).collect();
                if let Some(entry) = tree.get_mut(&names) {
                    entry.modified = seconds(meta.last_modified);
                }
            } else if dir.join(last).is_ok() {
                let names: Vec<String> = parts.iter().map(|s| (*s).to_owned()).collect();
                tree.insert(
                    names,
                    Entry {
                        name: (*last).to_owned(),
                        kind: EntryKind::File,
                        size: meta.size,
                        modified: seconds(meta.last_modified),
                    },
                );
            }
        }
        if !(any || dir.is_root() || is_internal_root(dir)) {
            return Err(match self.head(&key).await? {
                Some(_) => StorageError::NotADirectory(dir.to_string()),
                None => StorageError::NotFound(dir.to_string()),
            });
        }
        // The map's order (by components) is depth first: every folder before its contents.
        let mut out = Vec::with_capacity(tree.len());
        for (names, entry) in tree {
            let mut path = dir.clone();
            for name in &names {
                path = path.join(name)?;
            }
            out.push((path, entry));
        }
        Ok(out)
    }

    async fn read(&self, path: &StoragePath, range: Option<Range<u64>>) -> Result<ByteStream> {
        if path.is_root() || is_internal_root(path) {
            return Err(StorageError::IsADirectory(path.to_string()));
        }
        let key = self.key(path)?;
        if let Some(range) = &range
            && range.start >= range.end
        {
            // Nothing to read, but the file must exist.
            return match self.find(path).await? {
                Found::File(_) => Ok(empty_stream()),
                Found::Dir(_) => Err(StorageError::IsADirectory(path.to_string())),
                Found::Nothing => Err(StorageError::NotFound(path.to_string())),
            };
        }
        let options = GetOptions { range: range.clone().map(GetRange::Bounded), ..GetOptions::default() };
        match self.store.get_opts(&key, options).await {
            Ok(result) => Ok(rechunk(result.into_stream())),
            Err(object_store::Error::NotFound { .. }) => Err(match self.find_folder(&key).await? {
                Found::Dir(_) => StorageError::IsADirectory(path.to_string()),
                _ => StorageError::NotFound(path.to_string()),
            }),
            Err(e) => match range {
                // A range that starts at or past the end is refused (416), and some servers
                // (rclone's) answer a range with 200 instead of 206, which object_store refuses:
                // both read the whole object instead, the range cut out of it here.
                Some(range) => self.read_cut(path, &key, range, e).await,
                None => Err(backend(e)),
            },
        }
    }

    /// A ranged read the server would not answer as asked: the whole object, cut to `range`
    /// (empty when it starts at or past the end). `first` is the ranged read's error, returned
    /// if the object cannot be read at all.
    async fn read_cut(
        &self,
        path: &StoragePath,
        key: &Key,
        range: Range<u64>,
        first: object_store::Error,
    ) -> Result<ByteStream> {
        let result = match self.store.get_opts(key, GetOptions::default()).await {
            Ok(result) => result,
            Err(object_store::Error::NotFound { .. }) => return Err(StorageError::NotFound(path.to_string())),
            Err(_) => return Err(backend(first)),
        };
        if range.start >= result.meta.size {
            return Ok(empty_stream());
        }
        tracing::debug!(path = %path, error = %first, "ranged read refused; reading the whole object");
        let (skip, take) = (range.start, range.end.min(result.meta.size) - range.start);
        let cut = rechunk(result.into_stream()).scan((skip, take), |(skip, take), chunk| {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => return futures::future::ready(Some(Err(e))),
            };
            if *take == 0 {
                return futures::future::ready(None);
            }
            let len = chunk.len() as u64;
            let from = (*skip).min(len);
            *skip -= from;
            let to = from + (len - from).min(*take);
            *take -= to - from;
            // Both bounds are at most the chunk's length, which fits in `usize`.
            let piece = chunk.slice(usize::try_from(from).unwrap_or(0)..usize::try_from(to).unwrap_or(0));
            futures::future::ready(Some(Ok(piece)))
        });
        Ok(Box::pin(cut.try_filter(|piece| futures::future::ready(!piece.is_empty()))))
    }

    async fn create_dir(&self, path: &StoragePath, started: &Started) -> Result<Entry> {
        if path.is_root() || is_internal_root(path) {
            return Err(StorageError::AlreadyExists(path.to_string()));
        }
        let parent = path.parent().unwrap_or_default();
        self.require_folder(&parent, path).await?;
        if !matches!(self.find(path).await?, Found::Nothing) {
            return Err(StorageError::AlreadyExists(path.to_string()));
        }
        let marker = self.marker(&self.key(path)?)?;
        self.put_empty(&marker, started.conditional_put).await.map_err(|e| match e {
            StorageError::AlreadyExists(_) => StorageError::AlreadyExists(path.to_string()),
            other => other,
        })?;
        let modified = self.head(&marker).await?.map_or_else(now, |meta| seconds(meta.last_modified));
        Ok(Entry { name: path.name().to_owned(), kind: EntryKind::Dir, size: 0, modified })
    }

    async fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        for path in [from, to] {
            if path.is_root() || is_internal_root(path) {
                return Err(StorageError::InvalidPath(format!("{path} cannot be moved or replaced")));
            }
        }
        // The same order of checks as the other adapters, so that all give the same error.
        let found = self.find(from).await?;
        if matches!(found, Found::Nothing) {
            return Err(StorageError::NotFound(from.to_string()));
        }
        if to == from {
            return Err(StorageError::AlreadyExists(to.to_string()));
        }
        if to.starts_with(from) {
            return Err(StorageError::InvalidPath(format!("cannot move {from} into itself ({to})")));
        }
        let to_parent = to.parent().unwrap_or_default();
        self.require_folder(&to_parent, to).await?;
        if !matches!(self.find(to).await?, Found::Nothing) {
            return Err(StorageError::AlreadyExists(to.to_string()));
        }
        let operation = match found {
            Found::File(meta) => {
                journal::Operation::RenameFile { from: from.as_string(), to: to.as_string(), etag: meta.e_tag }
            }
            _ => journal::Operation::RenameFolder { from: from.as_string(), to: to.as_string() },
        };
        self.journaled(operation).await
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        if path.is_root() || is_internal_root(path) {
            return Err(StorageError::InvalidPath(format!("{path} cannot be deleted")));
        }
        match self.find(path).await? {
            Found::Nothing => Err(StorageError::NotFound(path.to_string())),
            // One request, atomic by itself: no journal needed.
            Found::File(meta) => match self.store.delete(&meta.location).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(backend(e)),
            },
            Found::Dir(_) => self.journaled(journal::Operation::DeleteFolder { path: path.as_string() }).await,
        }
    }

    /// Moves everything below the folder `from` to the folder `to` (keys relative to the
    /// library), a page at a time, each object copied before it is deleted.
    async fn move_tree(&self, from: &str, to: &str) -> Result<()> {
        let from_key = self.key_of(from)?;
        let to_key = self.key_of(to)?;
        let source = format!("{from_key}/");
        let mut previous: HashSet<String> = HashSet::new();
        let mut first = true;
        loop {
            // Always the first page: what was moved is gone, so each pass sees what is left,
            // whatever the server's pagination does with keys deleted under it.
            let page: Vec<ObjectMeta> =
                self.store.list(Some(&from_key)).take(1000).try_collect().await.map_err(backend)?;
            if page.is_empty() {
                return Ok(());
            }
            if std::mem::take(&mut first) {
                // The new folder exists before anything leaves the old one, and stays a folder
                // even if the old one had no marker. Only while something is left to move: an
                // entry resumed after its move was complete must not bring back a folder that
                // has since been renamed or deleted (found by `cargo xtask chaos`).
                self.put_empty(&self.marker(&to_key)?, false).await?;
            }
            stuck(&page, &mut previous)?;
            for batch in page.chunks(CONCURRENCY) {
                futures::future::try_join_all(
                    batch.iter().map(|meta| self.copy_below(&meta.location, &source, &to_key)),
                )
                .await?;
            }
            self.delete_keys(page.into_iter().map(|meta| meta.location).collect()).await?;
        }
    }

    /// Copies `key`, which starts with `source`, to the same place below the folder `to`.
    async fn copy_below(&self, key: &Key, source: &str, to: &Key) -> Result<bool> {
        let rest = key.as_ref().strip_prefix(source).unwrap_or_default();
        self.copy(key, &self.child(to, rest)?).await
    }

    /// Deletes everything below the folder `path` (relative to the library), a page at a time.
    async fn delete_tree(&self, path: &str) -> Result<()> {
        let key = self.key_of(path)?;
        let mut previous: HashSet<String> = HashSet::new();
        loop {
            let page: Vec<ObjectMeta> = self.store.list(Some(&key)).take(1000).try_collect().await.map_err(backend)?;
            if page.is_empty() {
                return Ok(());
            }
            stuck(&page, &mut previous)?;
            self.delete_keys(page.into_iter().map(|meta| meta.location).collect()).await?;
        }
    }

    /// Moves a file: copy, then delete the source if it is still the version that was copied.
    async fn move_file(&self, from: &str, to: &str, etag: Option<&str>) -> Result<()> {
        let from_key = self.key_of(from)?;
        let to_key = self.key_of(to)?;
        let Some(meta) = self.head(&from_key).await? else { return Ok(()) };
        if etag.is_some() && meta.e_tag.as_deref() != etag {
            // Replaced since the move began (a new file under the old name): not ours to move.
            tracing::warn!(from, to, "the file changed since its move began; it stays where it is");
            return Ok(());
        }
        if self.copy(&from_key, &to_key).await? {
            self.delete_keys(vec![from_key]).await?;
        }
        Ok(())
    }
}

#[async_trait::async_trait]
impl Storage for S3Storage {
    fn kind(&self) -> &'static str {
        "s3"
    }

    async fn stat(&self, path: &StoragePath) -> Result<Entry> {
        let inner = &self.inner;
        inner.ready().await?;
        reserved(path)?;
        match inner.find(path).await? {
            Found::File(meta) => Ok(Entry {
                name: path.name().to_owned(),
                kind: EntryKind::File,
                size: meta.size,
                modified: seconds(meta.last_modified),
            }),
            Found::Dir(modified) => Ok(Entry { name: path.name().to_owned(), kind: EntryKind::Dir, size: 0, modified }),
            Found::Nothing => Err(StorageError::NotFound(path.to_string())),
        }
    }

    async fn list(&self, dir: &StoragePath) -> Result<Vec<Entry>> {
        self.inner.ready().await?;
        reserved(dir)?;
        self.inner.list(dir).await
    }

    async fn walk(&self, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>> {
        self.inner.ready().await?;
        reserved(dir)?;
        self.inner.walk(dir).await
    }

    async fn read(&self, path: &StoragePath, range: Option<Range<u64>>) -> Result<ByteStream> {
        self.inner.ready().await?;
        reserved(path)?;
        self.inner.read(path, range).await
    }

    async fn write(&self, path: &StoragePath, data: ByteStream, mode: WriteMode, limit: Option<u64>) -> Result<Entry> {
        let started = self.inner.ready().await?;
        reserved(path)?;
        upload::write(&self.inner, &started, path, data, mode, limit).await
    }

    async fn create_dir(&self, path: &StoragePath) -> Result<Entry> {
        let started = self.inner.ready().await?;
        reserved(path)?;
        self.inner.create_dir(path, &started).await
    }

    async fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        self.inner.ready().await?;
        reserved(from)?;
        reserved(to)?;
        self.inner.rename(from, to).await
    }

    async fn finish_interrupted_rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        self.inner.ready().await?;
        self.inner.finish_renames(&from.as_string(), &to.as_string()).await
    }

    async fn resume_interrupted_operations(&self) -> Result<usize> {
        let started = self.inner.ready().await?;
        let _scanning = self.inner.scanning.lock().await;
        let own = self.inner.failed_keys();
        let mut done = 0;
        for key in own {
            self.inner.resume_own(&key).await?;
            done += 1;
        }
        Ok(done + self.inner.replay(&started, None).await?)
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        self.inner.ready().await?;
        reserved(path)?;
        self.inner.delete(path).await
    }

    /// Reachable, probed, and the library's prefix can be listed.
    async fn check(&self) -> Result<()> {
        self.inner.ready().await?;
        let root = self.inner.key_of("")?;
        self.inner.any_under(&root).await.map(|_| ())
    }

    async fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::ALL;
        capabilities.atomic_create_new =
            self.inner.ready().await.is_ok_and(|started| started.conditional_put && started.conditional_copy);
        capabilities
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers.

/// Paths this adapter keeps for itself: a name equal to the folder marker anywhere, and the
/// journal and temporary folders.
fn reserved(path: &StoragePath) -> Result<()> {
    let components = path.components();
    let own = path.is_internal() && components.get(1).is_some_and(|c| c == JOURNAL_DIR || c == TEMP_DIR);
    if own || components.iter().any(|c| c == FOLDER_MARKER) {
        return Err(StorageError::InvalidPath(format!("{path} is reserved")));
    }
    Ok(())
}

fn is_internal_root(path: &StoragePath) -> bool {
    path.components().len() == 1 && path.is_internal()
}

/// Whether a child named `name` of `dir` shows in a listing.
fn visible(dir: &StoragePath, name: &str) -> bool {
    name != FOLDER_MARKER
        && !(dir.is_root() && name == INTERNAL_DIR)
        && !(is_internal_root(dir) && (name == JOURNAL_DIR || name == TEMP_DIR))
        // A name no path can hold (a `\`, a control character) could never be read or renamed.
        && dir.join(name).is_ok()
}

/// `key` relative to the folder `dir` (both keys); `None` if it is not below it.
fn below<'k>(dir: &str, key: &'k str) -> Option<&'k str> {
    if dir.is_empty() { Some(key) } else { key.strip_prefix(dir)?.strip_prefix('/') }
}

/// The listing prefix of a folder key; `None` lists the whole bucket.
fn prefix_of(key: &Key) -> Option<&Key> {
    (!key.as_ref().is_empty()).then_some(key)
}

/// Joins key prefixes, dropping empty segments; `.` and `..` are refused.
fn join_prefix(base: &str, sub: &str) -> Result<String> {
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in sub.split('/').filter(|p| !p.is_empty()) {
        object_store::path::PathPart::parse(part)
            .map_err(|e| invalid_config(&format!("the prefix {sub:?} is not a key prefix: {e}")))?;
        parts.push(part);
    }
    Ok(parts.join("/"))
}

/// Refuses to loop for ever when deleted keys keep being listed (a server that acknowledges
/// deletes it does not make).
fn stuck(page: &[ObjectMeta], previous: &mut HashSet<String>) -> Result<()> {
    if page.iter().all(|meta| previous.contains(meta.location.as_ref())) {
        return Err(StorageError::Io(io::Error::other("deleted objects are still listed; giving up")));
    }
    *previous = page.iter().map(|meta| meta.location.as_ref().to_owned()).collect();
    Ok(())
}

/// Times in whole seconds, as S3 gives them in `HEAD` answers.
fn seconds(time: DateTime<Utc>) -> DateTime<Utc> {
    time.trunc_subsecs(0)
}

fn now() -> DateTime<Utc> {
    seconds(Utc::now())
}

fn empty_stream() -> ByteStream {
    Box::pin(futures::stream::empty())
}

/// Cuts chunks larger than [`READ_CHUNK`] (views, not copies) and turns errors into `io::Error`.
fn rechunk(stream: futures::stream::BoxStream<'static, object_store::Result<Bytes>>) -> ByteStream {
    Box::pin(
        stream
            .map(|chunk| match chunk {
                Ok(bytes) => {
                    let pieces: Vec<io::Result<Bytes>> = (0..bytes.len())
                        .step_by(READ_CHUNK)
                        .map(|at| Ok(bytes.slice(at..bytes.len().min(at + READ_CHUNK))))
                        .collect();
                    futures::stream::iter(pieces)
                }
                Err(e) => futures::stream::iter(vec![Err(io::Error::other(e))]),
            })
            .flatten(),
    )
}

fn backend(e: object_store::Error) -> StorageError {
    StorageError::Io(io::Error::other(e))
}

fn invalid_config(reason: &str) -> StorageError {
    StorageError::Io(io::Error::new(io::ErrorKind::InvalidInput, format!("S3 configuration: {reason}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug() {
        let config = S3Config { secret_access_key: S3Secret::new("wJalrXUtnFEMI"), ..S3Config::default() };
        let shown = format!("{config:?}");
        assert!(!shown.contains("wJalrXUtnFEMI"), "{shown}");
        assert!(shown.contains("[redacted]"), "{shown}");
    }

    #[test]
    fn prefixes_are_normalised_and_checked() {
        assert_eq!(join_prefix("", "/a//b/").unwrap(), "a/b");
        assert_eq!(join_prefix("a/b", "c").unwrap(), "a/b/c");
        assert_eq!(join_prefix("", "").unwrap(), "");
        assert!(join_prefix("a", "../b").is_err());
        assert!(join_prefix("a", "b/./c").is_err());
    }

    #[test]
    fn reserved_paths() {
        let marker = StoragePath::root().join("d").and_then(|p| p.join(FOLDER_MARKER)).unwrap();
        assert!(reserved(&marker).is_err());
        assert!(reserved(&StoragePath::internal(&[JOURNAL_DIR, "x"]).unwrap()).is_err());
        assert!(reserved(&StoragePath::internal(&[TEMP_DIR]).unwrap()).is_err());
        assert!(reserved(&StoragePath::internal(&["trash", "x"]).unwrap()).is_ok());
        assert!(reserved(&StoragePath::parse("a/b.txt").unwrap()).is_ok());
    }

    #[test]
    fn keys_are_the_names_unescaped() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let storage = S3Storage::from_store(store, "lib/x", S3Options::default()).unwrap();
        let path = StoragePath::parse("日本語 ñ/100% #1?.txt").unwrap();
        assert_eq!(storage.inner.key(&path).unwrap().as_ref(), "lib/x/日本語 ñ/100% #1?.txt");
    }

    #[test]
    fn tiny_parts_are_refused() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let options = S3Options { part_size: 10, ..S3Options::default() };
        assert!(S3Storage::from_store(store, "", options).is_err());
    }
}
