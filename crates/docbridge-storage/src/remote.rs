//! Stores reached over the network, one [`RemoteStorage`] for all of them: a library is a folder
//! (WebDAV, SFTP) or a key prefix (Azure Blob, Google Cloud Storage) in the store that a
//! [`RemoteConfig`] names.
//!
//! Two adapters sit behind it: [`OpendalStorage`] (`remote/operator.rs`), over an Apache OpenDAL
//! `Operator`, for WebDAV, Azure Blob and GCS; and [`SftpStorage`] (`remote/sftp.rs`), over the
//! system's OpenSSH client, for SFTP (OpenDAL's SFTP service cannot be told which `known_hosts`
//! file to trust: `docs/ARCHITECTURE.md`). Both lay a library out the same way: the file
//! `a/b.txt` of a library at root `R` is `R/a/b.txt` in the store, spelled as the name, and
//! bookkeeping lives under `R/.docbridge/` ([`INTERNAL_DIR`]), never listed. What each store
//! guarantees is in `docs/storage.md`.
//!
//! Every call to a store is bounded by a timeout ([`DEFAULT_TIMEOUT`] unless the caller gives
//! another): a store that hangs makes the call fail with an I/O error of kind `TimedOut`.

use std::fmt;
use std::io;
use std::ops::Range;
use std::time::Duration;

#[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs"))]
mod operator;
#[cfg(feature = "sftp")]
mod sftp;

#[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs"))]
pub use self::operator::OpendalStorage;
#[cfg(feature = "sftp")]
pub use self::sftp::SftpStorage;
#[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs"))]
pub use opendal;

use crate::path::{INTERNAL_DIR, TEMP_DIR, TEMP_GRACE};
use crate::{ByteStream, Capabilities, Entry, Result, Storage, StorageError, StoragePath, WriteMode};

/// How long one call to a remote store may take unless the caller says otherwise (reads and
/// writes: each chunk), as `[storage] timeout_secs` defaults to.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// A password or key that never shows in logs: its `Debug` is `[redacted]`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a password or key read from the configuration or the environment.
    pub fn new(secret: impl Into<String>) -> Self {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that authenticates with it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether no secret was given (a store that needs none, or a missing setting).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// Where a store is and how to sign in to it: one variant per kind (each behind its feature).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RemoteConfig {
    /// A WebDAV server; for Nextcloud, `https://host/remote.php/dav/files/USER`.
    #[cfg(feature = "webdav")]
    Webdav {
        /// The server's URL of the folder that holds the libraries.
        endpoint: String,
        /// The account to sign in with (HTTP Basic).
        username: String,
        /// Its password (for Nextcloud, an app password).
        password: Secret,
    },
    /// An Azure Blob Storage container (or Azurite).
    #[cfg(feature = "azblob")]
    Azblob {
        /// The Blob service URL (Azurite: `http://127.0.0.1:PORT/devstoreaccount1`).
        endpoint: String,
        /// The container that holds the libraries.
        container: String,
        /// The storage account's name.
        account_name: String,
        /// The storage account's shared key.
        account_key: Secret,
    },
    /// A Google Cloud Storage bucket; an empty endpoint is Google's.
    #[cfg(feature = "gcs")]
    Gcs {
        /// The JSON API's URL; empty: Google's.
        endpoint: String,
        /// The bucket that holds the libraries.
        bucket: String,
        /// A service account's JSON key file; empty: no authentication (an emulator).
        credential_file: String,
    },
    /// An SFTP server, reached with the system's `ssh` client and a private key.
    #[cfg(feature = "sftp")]
    Sftp {
        /// `ssh://HOST[:PORT][/FOLDER]`: the folder (absolute, as the server names it) holds
        /// the libraries; without one, the folder the server starts a session in.
        endpoint: String,
        /// The account to sign in as.
        username: String,
        /// The private key file (OpenSSH format, no passphrase unless an `ssh-agent` holds it).
        key_file: String,
        /// The `known_hosts` file whose entry for the host is the only key accepted; an
        /// unknown or different host key fails the connection.
        known_hosts: String,
    },
}

impl RemoteConfig {
    /// The storage kind's name, as integrations record it.
    pub fn kind(&self) -> &'static str {
        match *self {
            #[cfg(feature = "webdav")]
            RemoteConfig::Webdav { .. } => "webdav",
            #[cfg(feature = "azblob")]
            RemoteConfig::Azblob { .. } => "azblob",
            #[cfg(feature = "gcs")]
            RemoteConfig::Gcs { .. } => "gcs",
            #[cfg(feature = "sftp")]
            RemoteConfig::Sftp { .. } => "sftp",
        }
    }
}

/// The root and `.docbridge` itself: the remote adapters list them but never move or delete
/// them.
#[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs", feature = "sftp"))]
pub(crate) fn is_virtual_dir(path: &StoragePath) -> bool {
    path.is_root() || (path.is_internal() && path.components().len() == 1)
}

/// The folder a rename to `to` moves into, once the rename is none of what the remote adapters
/// refuse before asking the store: onto itself (`AlreadyExists`, as a taken name), of or onto
/// the root or `.docbridge`, or into itself.
#[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs", feature = "sftp"))]
pub(crate) fn rename_target_parent(from: &StoragePath, to: &StoragePath) -> Result<StoragePath> {
    if from == to {
        return Err(StorageError::AlreadyExists(to.as_string()));
    }
    if is_virtual_dir(from) || is_virtual_dir(to) || to.starts_with(from) {
        return Err(StorageError::InvalidPath(format!("cannot move {from} to {to}")));
    }
    to.parent().ok_or_else(|| StorageError::InvalidPath(to.as_string()))
}

/// The folder a new folder at `path` goes into. The root and the internal folders always
/// exist, so creating one is "already exists", as on a filesystem.
pub(crate) fn new_dir_parent(path: &StoragePath) -> Result<StoragePath> {
    if is_virtual_dir(path) {
        return Err(StorageError::AlreadyExists(path.as_string()));
    }
    path.parent().ok_or_else(|| StorageError::AlreadyExists(path.as_string()))
}

pub(crate) fn invalid_config(why: &str) -> StorageError {
    StorageError::Io(io::Error::new(io::ErrorKind::InvalidInput, why.to_owned()))
}

/// `base` (empty or ending in `/`) with the folder path `sub` below it, ending in `/`: `..`,
/// `.`, backslashes and the internal folder are refused.
pub(crate) fn library_base(base: &str, sub: &str) -> Result<String> {
    let mut base = base.to_owned();
    for part in sub.split('/').filter(|p| !p.is_empty()) {
        if part == "." || part == ".." || part == INTERNAL_DIR || part.contains('\\') {
            return Err(StorageError::InvalidPath(format!("{sub:?} is not a library root")));
        }
        base.push_str(part);
        base.push('/');
    }
    Ok(base)
}

/// A library in a remote store, whichever adapter reaches it. Cheap to clone; clones share
/// the connection.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum RemoteStorage {
    /// WebDAV, Azure Blob or GCS, through OpenDAL (boxed: an operator's capabilities are
    /// large beside an SFTP handle).
    #[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs"))]
    Opendal(Box<OpendalStorage>),
    /// SFTP, through the system's OpenSSH client.
    #[cfg(feature = "sftp")]
    Sftp(SftpStorage),
}

/// Calls `$call` on whichever adapter `$self` holds.
macro_rules! dispatch {
    ($self:expr, $inner:ident => $call:expr) => {
        match $self {
            #[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs"))]
            RemoteStorage::Opendal($inner) => $call,
            #[cfg(feature = "sftp")]
            RemoteStorage::Sftp($inner) => $call,
        }
    };
}

impl RemoteStorage {
    /// The store of `config`, at its root, with [`DEFAULT_TIMEOUT`]. Makes no request.
    pub fn connect(config: &RemoteConfig) -> Result<Self> {
        Self::connect_with_timeout(config, DEFAULT_TIMEOUT)
    }

    /// The store of `config`, at its root, each call to it bounded by `timeout`. Makes no
    /// request: a wrong address, credential or host key shows at the first use (and in
    /// `/readyz`, `doctor`).
    pub fn connect_with_timeout(config: &RemoteConfig, timeout: Duration) -> Result<Self> {
        match config {
            #[cfg(feature = "sftp")]
            RemoteConfig::Sftp { .. } => Ok(RemoteStorage::Sftp(SftpStorage::connect(config, timeout)?)),
            #[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs"))]
            _ => Ok(OpendalStorage::connect(config, timeout)?.into()),
        }
    }

    /// Another library of the same store at `sub` (a `/`-separated folder path) below this
    /// one's root, sharing its connection. `..`, empty segments inside and the internal folder
    /// are refused.
    pub fn within(&self, sub: &str) -> Result<Self> {
        Ok(dispatch!(self, inner => inner.within(sub)?.into()))
    }

    /// Creates the library's root folder (and those above it) if missing: WebDAV and SFTP
    /// servers refuse to write into a folder that does not exist.
    pub async fn create_root(&self) -> Result<()> {
        dispatch!(self, inner => inner.create_root().await)
    }

    /// Removes the library's root folder with everything in it (tests clean up with it).
    pub async fn remove_root(&self) -> Result<()> {
        dispatch!(self, inner => inner.remove_root().await)
    }

    /// Removes what interrupted uploads left in `.docbridge/tmp/` (a staged WebDAV upload
    /// between its `PUT` and its `MOVE`, an SFTP upload or a file set aside for a delete, when
    /// the process died) once older than `grace` by the store's clock, and answers how many.
    /// [`Storage::resume_interrupted_operations`] does it with [`TEMP_GRACE`].
    pub async fn sweep_temp(&self, grace: Duration) -> Result<usize> {
        let temp = StoragePath::internal(&[TEMP_DIR])?;
        let entries = match self.list(&temp).await {
            Ok(entries) => entries,
            // Nothing was ever staged in this library.
            Err(StorageError::NotFound(_)) => return Ok(0),
            Err(e) => return Err(e),
        };
        let cutoff = chrono::Utc::now() - chrono::Duration::from_std(grace).unwrap_or(chrono::Duration::MAX);
        let mut removed = 0;
        for entry in entries.into_iter().filter(|entry| entry.modified < cutoff) {
            match self.delete(&temp.join(&entry.name)?).await {
                // Another process swept it first.
                Ok(()) | Err(StorageError::NotFound(_)) => removed += 1,
                Err(e) => return Err(e),
            }
        }
        if removed > 0 {
            tracing::info!(store = self.kind(), removed, "removed temporary files left by interrupted uploads");
        }
        Ok(removed)
    }
}

#[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs"))]
impl From<OpendalStorage> for RemoteStorage {
    fn from(inner: OpendalStorage) -> Self {
        RemoteStorage::Opendal(Box::new(inner))
    }
}

#[cfg(feature = "sftp")]
impl From<SftpStorage> for RemoteStorage {
    fn from(inner: SftpStorage) -> Self {
        RemoteStorage::Sftp(inner)
    }
}

#[async_trait::async_trait]
impl Storage for RemoteStorage {
    fn kind(&self) -> &'static str {
        dispatch!(self, inner => inner.kind())
    }

    async fn stat(&self, path: &StoragePath) -> Result<Entry> {
        dispatch!(self, inner => inner.stat(path).await)
    }

    async fn list(&self, dir: &StoragePath) -> Result<Vec<Entry>> {
        dispatch!(self, inner => inner.list(dir).await)
    }

    async fn walk(&self, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>> {
        dispatch!(self, inner => inner.walk(dir).await)
    }

    async fn read(&self, path: &StoragePath, range: Option<Range<u64>>) -> Result<ByteStream> {
        dispatch!(self, inner => inner.read(path, range).await)
    }

    async fn write(&self, path: &StoragePath, data: ByteStream, mode: WriteMode, limit: Option<u64>) -> Result<Entry> {
        dispatch!(self, inner => inner.write(path, data, mode, limit).await)
    }

    async fn create_dir(&self, path: &StoragePath) -> Result<Entry> {
        dispatch!(self, inner => inner.create_dir(path).await)
    }

    async fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        dispatch!(self, inner => inner.rename(from, to).await)
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        dispatch!(self, inner => inner.delete(path).await)
    }

    async fn check(&self) -> Result<()> {
        dispatch!(self, inner => inner.check().await)
    }

    async fn capabilities(&self) -> Capabilities {
        dispatch!(self, inner => inner.capabilities().await)
    }

    /// Nothing to roll forward (renames are single calls or item by item, with no journal),
    /// but the leftovers of interrupted uploads are swept, as the other adapters do.
    async fn resume_interrupted_operations(&self) -> Result<usize> {
        self.sweep_temp(TEMP_GRACE).await?;
        Ok(0)
    }
}
