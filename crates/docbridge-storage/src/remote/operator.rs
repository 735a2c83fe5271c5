//! The adapter over Apache OpenDAL: a library is a folder (WebDAV) or a key prefix (Azure Blob,
//! Google Cloud Storage) in a store that an [`opendal::Operator`] reaches.
//!
//! One adapter serves every OpenDAL kind; what differs between stores is read from the
//! operator's capability flags, never from the kind's name, so a new OpenDAL service needs a
//! [`RemoteConfig`] variant and nothing else.
//!
//! # Layout
//!
//! The file `a/b.txt` of a library at root `R` is `R/a/b.txt` in the store, spelled as the name
//! (other programs see the same tree). Folders are the store's folders (WebDAV collections) or, in object stores, prefixes, with the empty `a/` object OpenDAL writes for a
//! folder created empty. Bookkeeping lives under `R/.docbridge/` ([`INTERNAL_DIR`]): uploads
//! being committed go to `.docbridge/tmp/`, which is never listed.
//!
//! # What is guaranteed (`docs/storage.md` has the table per store)
//!
//! - **Writes** commit whole or not at all. Where the store has conditional writes (Azure Blob's
//!   `If-Match`/`If-None-Match: *`, GCS's generation preconditions), the bytes go straight to
//!   their name in one upload that the store shows only once complete, and the condition makes
//!   `CreateNew` atomic and `Replace` replace only the version it started from. Elsewhere
//!   (WebDAV) the bytes go to `.docbridge/tmp/` and are renamed into place after a check
//!   that the target is still what it was: a writer racing for the same name inside that window
//!   can be overwritten, and [`Storage::capabilities`] says `CreateNew` is not atomic.
//! - **Renames** never replace an item, by a check then a rename (a native no-replace copy on
//!   Azure). A file moves by the store's rename or, without one (Azure, GCS), by copy then
//!   delete. A folder moves item by item, then its old tree is removed: not atomic for readers.
//! - **Folder deletes** remove the tree below the folder; not atomic for readers either.
//! - **Time**: every store call is bounded by the configured timeout (OpenDAL's `TimeoutLayer`:
//!   the whole call for metadata operations, each chunk for reads and writes).

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::ops::Range;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use opendal::{Capability, ErrorKind, Metadata, Operator};

use super::{RemoteConfig, TEMP_DIR, invalid_config, library_base};
use crate::path::INTERNAL_DIR;
use crate::{ByteStream, Capabilities, Entry, EntryKind, Result, Storage, StorageError, StoragePath, WriteMode};

impl RemoteConfig {
    /// The operator for the store's root, each call bounded by `timeout`. Makes no request: a
    /// wrong address or credential shows at the first use (and in `/readyz`, `doctor`). The SFTP
    /// kind has no operator (it is not reached through OpenDAL).
    pub fn operator(&self, timeout: Duration) -> Result<Operator> {
        // Without OpenDAL's default features nothing installs its HTTP transport (reqwest);
        // installing is idempotent, the first install wins.
        opendal::install_default();
        let built = match self {
            #[cfg(feature = "webdav")]
            RemoteConfig::Webdav { endpoint, username, password } => {
                require("endpoint", endpoint)?;
                let mut builder = opendal::services::Webdav::default().endpoint(endpoint.trim_end_matches('/'));
                if !username.is_empty() {
                    builder = builder.username(username).password(password.expose());
                }
                Operator::new(builder)
            }
            #[cfg(feature = "azblob")]
            RemoteConfig::Azblob { endpoint, container, account_name, account_key } => {
                require("endpoint", endpoint)?;
                require("container", container)?;
                let mut builder =
                    opendal::services::Azblob::default().endpoint(endpoint.trim_end_matches('/')).container(container);
                if !account_name.is_empty() {
                    builder = builder.account_name(account_name).account_key(account_key.expose());
                }
                Operator::new(builder)
            }
            #[cfg(feature = "gcs")]
            RemoteConfig::Gcs { endpoint, bucket, credential_file } => {
                require("bucket", bucket)?;
                let mut builder = opendal::services::Gcs::default().bucket(bucket);
                if !endpoint.is_empty() {
                    builder = builder.endpoint(endpoint.trim_end_matches('/'));
                }
                builder = if credential_file.is_empty() {
                    // An emulator: no token, and no looking for one on a cloud VM's metadata server.
                    builder.skip_signature().disable_vm_metadata().disable_config_load()
                } else {
                    builder.credential_path(credential_file)
                };
                Operator::new(builder)
            }
            #[cfg(feature = "sftp")]
            RemoteConfig::Sftp { .. } => return Err(invalid_config("sftp is not reached through OpenDAL")),
        };
        // Errors OpenDAL marks temporary (a connection the server closed under a pooled
        // request, a 503) are retried a few times with backoff before they reach the caller.
        // The timeout is inside the retries: each attempt is bounded, and a store that never
        // answers fails after a few bounded attempts, never hangs a request.
        built
            .map(|op| {
                op.layer(opendal::layers::TimeoutLayer::new().with_timeout(timeout).with_io_timeout(timeout))
                    .layer(opendal::layers::RetryLayer::new())
            })
            .map_err(|e| invalid_config(&e.to_string()))
    }
}

fn require(key: &str, value: &str) -> Result<()> {
    if value.trim().is_empty() { Err(invalid_config(&format!("{key} is empty"))) } else { Ok(()) }
}

/// The user-metadata key under which a conditional write leaves its token (a letter-and-
/// underscore name: Azure takes only C# identifiers).
const WRITE_TOKEN: &str = "docbridge_write";

/// How a write reaches its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Commit {
    /// Straight to the name, with a precondition: the store shows the object only once the
    /// upload completes, and refuses it if the precondition fails (Azure Blob, GCS).
    Conditional,
    /// To `.docbridge/tmp/`, then a check and a rename (WebDAV).
    Staged,
}

/// A library in a store reached through OpenDAL. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct OpendalStorage {
    op: Operator,
    kind: &'static str,
    /// The library's root in the store: empty or `a/b/` (always ending in `/`).
    base: String,
    capability: Capability,
    commit: Commit,
}

impl fmt::Debug for OpendalStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpendalStorage").field("kind", &self.kind).field("base", &self.base).finish_non_exhaustive()
    }
}

impl OpendalStorage {
    /// The store of `config`, at its root, each call bounded by `timeout`. Makes no request.
    pub fn connect(config: &RemoteConfig, timeout: Duration) -> Result<Self> {
        Ok(Self::from_operator(config.operator(timeout)?, config.kind()))
    }

    /// A library at the root of any operator (another OpenDAL service, or one with layers).
    pub fn from_operator(op: Operator, kind: &'static str) -> Self {
        let capability = op.info().capability();
        let conditional = capability.write_with_if_not_exists
            && (capability.write_with_if_match || capability.write_with_if_version_match);
        OpendalStorage {
            op,
            kind,
            base: String::new(),
            capability,
            commit: if conditional { Commit::Conditional } else { Commit::Staged },
        }
    }

    /// Another library of the same store at `sub` (a `/`-separated folder path) below this one's
    /// root, sharing its connection. `..`, empty segments inside and the internal folder are
    /// refused.
    pub fn within(&self, sub: &str) -> Result<Self> {
        Ok(OpendalStorage { base: library_base(&self.base, sub)?, ..self.clone() })
    }

    /// Creates the library's root folder (and those above it) if missing: a WebDAV server
    /// refuses to write into a folder that does not exist.
    pub async fn create_root(&self) -> Result<()> {
        if self.base.is_empty() {
            return Ok(());
        }
        self.op.create_dir(&self.base).await.map_err(|e| self.root_error(e))
    }

    /// An error about the library's root, where "not found" means the store itself is
    /// missing (a container or bucket that does not exist, an endpoint's folder on WebDAV):
    /// said so, since the administrator's fix is in the store, not in docbridge.
    fn root_error(&self, e: opendal::Error) -> StorageError {
        let root = if self.base.is_empty() { "the store's root".to_owned() } else { self.base.clone() };
        match e.kind() {
            ErrorKind::NotFound => StorageError::NotFound(format!(
                "{root} in the {} store: check that its container or bucket (Azure Blob, Google Cloud Storage) or the endpoint's folder (WebDAV) exists",
                self.kind
            )),
            _ => convert(e, &root),
        }
    }

    /// Removes the library's root folder or prefix with everything below it. The store's own
    /// root is never removed.
    pub async fn remove_root(&self) -> Result<()> {
        if self.base.is_empty() {
            return Err(StorageError::InvalidPath("the store's root cannot be removed".into()));
        }
        self.op.delete_with(&self.base).recursive(true).await.map_err(|e| convert(e, &self.base))
    }

    /// The operator underneath, for tools and tests that look at the store directly.
    pub fn operator(&self) -> &Operator {
        &self.op
    }

    fn file_key(&self, path: &StoragePath) -> String {
        format!("{}{}", self.base, path.as_string())
    }

    fn dir_key(&self, path: &StoragePath) -> String {
        if path.is_root() { self.base.clone() } else { format!("{}{}/", self.base, path.as_string()) }
    }

    fn dir_entry(path: &StoragePath, modified: Option<DateTime<Utc>>) -> Entry {
        Entry {
            name: path.name().to_owned(),
            kind: EntryKind::Dir,
            size: 0,
            modified: modified.unwrap_or_else(Utc::now),
        }
    }

    /// What is at `path`: a file's metadata, a folder, or nothing.
    async fn find(&self, path: &StoragePath) -> Result<Option<Found>> {
        if super::is_virtual_dir(path) {
            return Ok(Some(Found::Dir(None)));
        }
        match self.op.stat(&self.file_key(path)).await {
            Ok(meta) if meta.is_file() => return Ok(Some(Found::File(meta))),
            Ok(meta) if meta.is_dir() => return Ok(Some(Found::Dir(modified(&meta)))),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::IsADirectory | ErrorKind::NotADirectory) => {}
            Err(e) => return Err(convert(e, &path.as_string())),
        }
        let dir = self.dir_key(path);
        match self.op.stat(&dir).await {
            Ok(meta) if meta.is_dir() => return Ok(Some(Found::Dir(modified(&meta)))),
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {}
            Err(e) => return Err(convert(e, &path.as_string())),
        }
        // An object store's prefix that another program wrote objects under, without a marker.
        if !self.capability.create_dir || !self.capability.rename {
            let mut lister = self.op.lister_with(&dir).limit(2).await.map_err(|e| convert(e, &path.as_string()))?;
            if let Some(entry) = lister.next().await {
                // The folder's own marker counts too: some stores (fake-gcs-server) answer no
                // `stat` for a key ending in `/`.
                entry.map_err(|e| convert(e, &path.as_string()))?;
                return Ok(Some(Found::Dir(None)));
            }
        }
        Ok(None)
    }

    /// A folder that must exist for a write, create or rename into it.
    async fn require_dir(&self, dir: &StoragePath) -> Result<()> {
        match self.find(dir).await? {
            Some(Found::Dir(_)) => Ok(()),
            Some(Found::File(_)) => Err(StorageError::NotADirectory(dir.as_string())),
            None => match dir.parent() {
                // Below a file: say so, as a filesystem would.
                Some(parent) if !parent.is_root() => match self.find(&parent).await? {
                    Some(Found::File(_)) => Err(StorageError::NotADirectory(parent.as_string())),
                    _ => Err(StorageError::NotFound(dir.as_string())),
                },
                _ => Err(StorageError::NotFound(dir.as_string())),
            },
        }
    }

    /// The direct children of the folder at `dir`, as (name, metadata), internal ones hidden.
    async fn children(&self, dir: &StoragePath) -> Result<Vec<(String, Metadata)>> {
        let key = self.dir_key(dir);
        let listed = match self.op.list(&key).await {
            Ok(listed) => listed,
            Err(e) if e.kind() == ErrorKind::NotFound && super::is_virtual_dir(dir) => Vec::new(),
            Err(e) => return Err(convert(e, &dir.as_string())),
        };
        let mut out = Vec::with_capacity(listed.len());
        for entry in listed {
            let Some(rest) = entry.path().strip_prefix(key.as_str()) else { continue };
            let name = rest.trim_end_matches('/');
            if name.is_empty() || name.contains('/') {
                continue; // the folder itself
            }
            if dir.is_root() && name == INTERNAL_DIR {
                continue;
            }
            if dir.is_internal() && dir.components().len() == 1 && name == TEMP_DIR {
                continue;
            }
            out.push((name.to_owned(), entry.metadata().clone()));
        }
        Ok(out)
    }

    fn entry_of(name: String, meta: &Metadata) -> Entry {
        if meta.is_dir() {
            Entry { name, kind: EntryKind::Dir, size: 0, modified: modified(meta).unwrap_or_else(Utc::now) }
        } else {
            Entry {
                name,
                kind: EntryKind::File,
                size: meta.content_length(),
                modified: modified(meta).unwrap_or_else(Utc::now),
            }
        }
    }

    /// Streams `data` into `writer`, within `limit`; aborts the writer on any failure.
    async fn pump(
        &self,
        mut writer: opendal::Writer,
        mut data: ByteStream,
        limit: Option<u64>,
        what: &str,
    ) -> Result<Metadata> {
        let mut written = 0u64;
        // A store that takes an upload only in one request (OpenDAL's WebDAV service) gets the
        // whole file at once: held in memory, a limit of this adapter (docs/storage.md).
        let mut gathered: Option<Vec<bytes::Bytes>> = (!self.capability.write_can_multi).then(Vec::new);
        let failure = loop {
            match data.next().await {
                Some(Ok(chunk)) => {
                    written += chunk.len() as u64;
                    if let Some(limit) = limit.filter(|&limit| written > limit) {
                        break StorageError::TooLarge { limit };
                    }
                    if let Some(gathered) = gathered.as_mut() {
                        gathered.push(chunk);
                    } else if let Err(e) = writer.write(chunk).await {
                        break convert(e, what);
                    }
                }
                Some(Err(e)) => break StorageError::SourceFailed(e),
                None => match async {
                    if let Some(gathered) = gathered.take() {
                        writer.write(opendal::Buffer::from(gathered)).await?;
                    }
                    writer.close().await
                }
                .await
                {
                    Ok(meta) => return Ok(meta),
                    Err(e) => return Err(convert(e, what)),
                },
            }
        };
        if let Err(e) = writer.abort().await {
            tracing::debug!(store = self.kind, error = %e, "aborting a failed upload");
        }
        Err(failure)
    }

    async fn write_conditional(
        &self,
        path: &StoragePath,
        data: ByteStream,
        mode: WriteMode,
        limit: Option<u64>,
    ) -> Result<()> {
        let key = self.file_key(path);
        let what = path.as_string();
        // The write carries a token of its own, so that a precondition failure can be told
        // apart from a retry of this very write: when the store took the upload but its answer
        // was lost (a connection closed under the response), OpenDAL's RetryLayer sends it
        // again, and the store then refuses the copy because the first one landed.
        let token = uuid::Uuid::new_v4().to_string();
        let tagged = self.capability.write_with_user_metadata;
        let base = self.op.writer_with(&key);
        let base = if tagged { base.user_metadata([(WRITE_TOKEN.to_owned(), token.clone())]) } else { base };
        let writer = match mode {
            WriteMode::CreateNew => base.if_not_exists(true).await,
            WriteMode::Replace => match self.find(path).await? {
                Some(Found::Dir(_)) => return Err(StorageError::IsADirectory(what)),
                None => base.if_not_exists(true).await,
                Some(Found::File(meta)) => {
                    if let (true, Some(version)) = (self.capability.write_with_if_version_match, meta.version()) {
                        base.if_version_match(version).await
                    } else if let Some(etag) = meta.etag() {
                        base.if_match(etag).await
                    } else {
                        return Err(StorageError::Io(io::Error::other(format!(
                            "{}: the store gave no ETag or version for {what}",
                            self.kind
                        ))));
                    }
                }
            },
        }
        .map_err(|e| convert(e, &what))?;
        match self.pump(writer, data, limit, &what).await {
            Err(StorageError::Changed(_) | StorageError::AlreadyExists(_))
                if tagged && self.landed(&key, &token).await =>
            {
                Ok(())
            }
            Err(StorageError::Changed(_)) if mode == WriteMode::CreateNew => Err(StorageError::AlreadyExists(what)),
            Err(StorageError::AlreadyExists(_)) if mode == WriteMode::Replace => Err(StorageError::Changed(what)),
            other => other.map(|_| ()),
        }
    }

    /// The write token the object at `key` carries, if it can be read and has one.
    async fn write_token(&self, key: &str) -> Option<String> {
        let meta = self.op.stat(key).await.ok()?;
        meta.user_metadata()?.get(WRITE_TOKEN).map(str::to_owned)
    }

    /// Whether the object at `key` is the one a conditional write tagged with `token` put
    /// there (then a refusal of that write was the store refusing its own retry).
    async fn landed(&self, key: &str, token: &str) -> bool {
        let landed = self.write_token(key).await.is_some_and(|found| found == token);
        if landed {
            tracing::debug!(store = self.kind, key, "a retried conditional write had landed the first time");
        }
        landed
    }

    async fn write_staged(
        &self,
        path: &StoragePath,
        data: ByteStream,
        mode: WriteMode,
        limit: Option<u64>,
    ) -> Result<()> {
        let what = path.as_string();
        let before = match self.find(path).await? {
            Some(Found::Dir(_)) => return Err(StorageError::IsADirectory(what)),
            Some(Found::File(_)) if mode == WriteMode::CreateNew => return Err(StorageError::AlreadyExists(what)),
            Some(Found::File(meta)) => Some(Fingerprint::of(&meta)),
            None => None,
        };
        let temp = format!("{}{INTERNAL_DIR}/{TEMP_DIR}/{}", self.base, uuid::Uuid::new_v4());
        let writer = self.op.writer(&temp).await.map_err(|e| convert(e, &what))?;
        self.pump(writer, data, limit, &what).await?;
        let committed = async {
            let now = match self.find(path).await? {
                Some(Found::Dir(_)) => return Err(StorageError::IsADirectory(what.clone())),
                Some(Found::File(meta)) => Some(Fingerprint::of(&meta)),
                None => None,
            };
            match mode {
                WriteMode::CreateNew if now.is_some() => return Err(StorageError::AlreadyExists(what.clone())),
                WriteMode::Replace if now != before => return Err(StorageError::Changed(what.clone())),
                _ => {}
            }
            self.store_rename(&temp, &self.file_key(path), &what).await
        }
        .await;
        if committed.is_err() {
            let _ = self.op.delete(&temp).await;
        }
        committed
    }

    /// Moves the file `from` to `to` by the store's own rename (WebDAV's `MOVE`). A move whose
    /// answer was lost (the connection closed under it) is sent again by OpenDAL's RetryLayer,
    /// and the second one finds no source: when `from` is gone and `to` is a file, the first
    /// one did the move.
    async fn store_rename(&self, from: &str, to: &str, what: &str) -> Result<()> {
        match self.op.rename(from, to).await {
            Err(e) if e.kind() == ErrorKind::NotFound && self.moved(from, to).await => {
                tracing::debug!(store = self.kind, from, to, "a retried move had moved the file the first time");
                Ok(())
            }
            other => other.map_err(|e| convert(e, what)),
        }
    }

    async fn moved(&self, from: &str, to: &str) -> bool {
        matches!(self.op.exists(from).await, Ok(false)) && self.op.stat(to).await.is_ok_and(|meta| meta.is_file())
    }

    /// Moves one file; `to` is known to be free.
    async fn move_file(&self, from: &str, to: &str, what: &str) -> Result<()> {
        if self.capability.rename {
            return self.store_rename(from, to, what).await;
        }
        let copied = if self.capability.copy_with_if_not_exists {
            self.op.copy_with(from, to).if_not_exists(true).await
        } else {
            self.op.copy(from, to).await
        };
        match copied {
            // The copy keeps the source's metadata, so a copy that landed although its answer
            // was lost (then retried, and refused as "exists", or failed for good) is known by
            // the write token it carries: the source's own.
            Err(_) if self.same_write(from, to).await => {}
            Err(e) if e.kind() == ErrorKind::ConditionNotMatch => {
                return Err(StorageError::AlreadyExists(what.to_owned()));
            }
            other => {
                other.map_err(|e| convert(e, what))?;
            }
        };
        self.op.delete(from).await.map_err(|e| convert(e, what))
    }

    /// Whether `to` is a copy of `from`: both carry the same write token (a copy made by
    /// another process racing for the same move counts too: the file is where it should be).
    async fn same_write(&self, from: &str, to: &str) -> bool {
        let Some(source) = self.write_token(from).await else { return false };
        self.landed(to, &source).await
    }
}

/// What a Replace compares to know that its target is still the file it started from.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fingerprint {
    etag: Option<String>,
    version: Option<String>,
    size: u64,
    modified: Option<DateTime<Utc>>,
}

impl Fingerprint {
    fn of(meta: &Metadata) -> Self {
        Fingerprint {
            etag: meta.etag().map(str::to_owned),
            version: meta.version().map(str::to_owned),
            size: meta.content_length(),
            modified: modified(meta),
        }
    }
}

enum Found {
    File(Metadata),
    Dir(Option<DateTime<Utc>>),
}

fn modified(meta: &Metadata) -> Option<DateTime<Utc>> {
    let at = meta.last_modified()?.into_inner();
    DateTime::from_timestamp(at.as_second(), at.subsec_nanosecond().max(0) as u32)
}

/// OpenDAL's error as the trait's; `what` names the item in the message.
fn convert(e: opendal::Error, what: &str) -> StorageError {
    let what = what.to_owned();
    match e.kind() {
        ErrorKind::NotFound => StorageError::NotFound(what),
        ErrorKind::AlreadyExists => StorageError::AlreadyExists(what),
        ErrorKind::IsADirectory => StorageError::IsADirectory(what),
        ErrorKind::NotADirectory => StorageError::NotADirectory(what),
        ErrorKind::ConditionNotMatch => StorageError::Changed(what),
        ErrorKind::PermissionDenied => {
            StorageError::Io(io::Error::new(io::ErrorKind::PermissionDenied, format!("{what}: {e}")))
        }
        // TimeoutLayer's errors carry no kind of their own, only this message.
        _ if e.to_string().contains("timeout reached") => {
            StorageError::Io(io::Error::new(io::ErrorKind::TimedOut, format!("{what}: {e}")))
        }
        _ => StorageError::Io(io::Error::other(format!("{what}: {e}"))),
    }
}

#[async_trait::async_trait]
impl Storage for OpendalStorage {
    fn kind(&self) -> &'static str {
        self.kind
    }

    async fn stat(&self, path: &StoragePath) -> Result<Entry> {
        match self.find(path).await? {
            Some(Found::File(meta)) => Ok(Self::entry_of(path.name().to_owned(), &meta)),
            Some(Found::Dir(at)) => Ok(Self::dir_entry(path, at)),
            None => Err(StorageError::NotFound(path.as_string())),
        }
    }

    async fn list(&self, dir: &StoragePath) -> Result<Vec<Entry>> {
        self.require_dir(dir).await?;
        Ok(self.children(dir).await?.into_iter().map(|(name, meta)| Self::entry_of(name, &meta)).collect())
    }

    async fn walk(&self, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>> {
        self.require_dir(dir).await?;
        let mut out = Vec::new();
        let mut pending = VecDeque::from([dir.clone()]);
        while let Some(folder) = pending.pop_front() {
            for (name, meta) in self.children(&folder).await? {
                let Ok(child) = folder.join(&name) else { continue };
                let entry = Self::entry_of(name, &meta);
                if entry.kind == EntryKind::Dir {
                    pending.push_back(child.clone());
                }
                out.push((child, entry));
            }
        }
        Ok(out)
    }

    async fn read(&self, path: &StoragePath, range: Option<Range<u64>>) -> Result<ByteStream> {
        let size = match self.find(path).await? {
            Some(Found::File(meta)) => meta.content_length(),
            Some(Found::Dir(_)) => return Err(StorageError::IsADirectory(path.as_string())),
            None => return Err(StorageError::NotFound(path.as_string())),
        };
        let range = match range {
            Some(r) => r.start.min(size)..r.end.min(size),
            None => 0..size,
        };
        if range.start >= range.end {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let what = path.as_string();
        let reader = self.op.reader(&self.file_key(path)).await.map_err(|e| convert(e, &what))?;
        let stream = reader.into_bytes_stream(range).await.map_err(|e| convert(e, &what))?;
        Ok(Box::pin(stream))
    }

    async fn write(&self, path: &StoragePath, data: ByteStream, mode: WriteMode, limit: Option<u64>) -> Result<Entry> {
        let parent = path.parent().ok_or_else(|| StorageError::IsADirectory(path.as_string()))?;
        self.require_dir(&parent).await?;
        if mode == WriteMode::CreateNew && matches!(self.find(path).await?, Some(Found::Dir(_))) {
            // A conditional write does not see a folder (a prefix) of the same name.
            return Err(StorageError::AlreadyExists(path.as_string()));
        }
        match self.commit {
            Commit::Conditional => self.write_conditional(path, data, mode, limit).await?,
            Commit::Staged => self.write_staged(path, data, mode, limit).await?,
        }
        self.stat(path).await
    }

    async fn create_dir(&self, path: &StoragePath) -> Result<Entry> {
        self.require_dir(&super::new_dir_parent(path)?).await?;
        if self.find(path).await?.is_some() {
            return Err(StorageError::AlreadyExists(path.as_string()));
        }
        self.op.create_dir(&self.dir_key(path)).await.map_err(|e| convert(e, &path.as_string()))?;
        self.stat(path).await
    }

    async fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        let parent = super::rename_target_parent(from, to)?;
        let found = self.find(from).await?.ok_or_else(|| StorageError::NotFound(from.as_string()))?;
        self.require_dir(&parent).await?;
        if self.find(to).await?.is_some() {
            return Err(StorageError::AlreadyExists(to.as_string()));
        }
        match found {
            Found::File(_) => self.move_file(&self.file_key(from), &self.file_key(to), &to.as_string()).await,
            Found::Dir(_) => {
                // Item by item, folders before their contents, then the old tree goes.
                let what = to.as_string();
                self.op.create_dir(&self.dir_key(to)).await.map_err(|e| convert(e, &what))?;
                for (child, entry) in self.walk(from).await? {
                    let rest = &child.components()[from.components().len()..];
                    let mut target = to.clone();
                    for part in rest {
                        target = target.join(part)?;
                    }
                    match entry.kind {
                        EntryKind::Dir => {
                            self.op.create_dir(&self.dir_key(&target)).await.map_err(|e| convert(e, &what))?
                        }
                        EntryKind::File => {
                            self.move_file(&self.file_key(&child), &self.file_key(&target), &what).await?
                        }
                    }
                }
                self.op
                    .delete_with(&self.dir_key(from))
                    .recursive(true)
                    .await
                    .map_err(|e| convert(e, &from.as_string()))
            }
        }
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        if super::is_virtual_dir(path) {
            return Err(StorageError::InvalidPath(format!("cannot delete {path}")));
        }
        match self.find(path).await? {
            None => Err(StorageError::NotFound(path.as_string())),
            Some(Found::File(_)) => {
                self.op.delete(&self.file_key(path)).await.map_err(|e| convert(e, &path.as_string()))
            }
            Some(Found::Dir(_)) => self
                .op
                .delete_with(&self.dir_key(path))
                .recursive(true)
                .await
                .map_err(|e| convert(e, &path.as_string())),
        }
    }

    async fn check(&self) -> Result<()> {
        // One listing of the root: answers only if the store is up, the credentials are good
        // and the container, bucket or folder exists.
        let mut lister = self.op.lister_with(&self.base).limit(1).await.map_err(|e| self.root_error(e))?;
        match lister.next().await {
            Some(Err(e)) => Err(self.root_error(e)),
            _ => Ok(()),
        }
    }

    async fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::ALL;
        capabilities.atomic_create_new = self.commit == Commit::Conditional;
        capabilities
    }
}
