//! Storage adapters: one trait over the places documents live (filesystem, memory, S3, WebDAV,
//! SFTP, Azure Blob, Google Cloud Storage).
//!
//! Adapters know nothing of IDs, users or HTTP. They address items by [`StoragePath`], a path
//! relative to the library root that cannot express `..`, an absolute path or a separator inside
//! a name, so no adapter can be asked to reach outside its root.
//!
//! Adapters: [`FsStorage`] (a folder on disk; Unix only), [`MemoryStorage`] and, with the
//! feature `s3`, `S3Storage` (a key prefix in an S3 bucket); with the features `webdav`,
//! `azblob`, `gcs` and `sftp`, `RemoteStorage` (a folder or prefix in those stores: over Apache
//! OpenDAL for the first three, over the system's OpenSSH client for SFTP). With the `test-kit` feature,
//! `suite` holds the conformance tests that every adapter must pass
//! (`storage_conformance_tests!`) and helpers for tests that use storage. (Not links: the
//! targets exist only with their features, and these docs build without them too.)

// The README (an overview and an example that runs as a doc test) follows these notes.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

#[cfg(unix)]
mod buffers;
#[cfg(unix)]
mod fs;
mod memory;
mod path;
#[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs", feature = "sftp"))]
pub mod remote;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "test-kit")]
pub mod suite;

#[cfg(unix)]
pub use fs::FsStorage;
pub use memory::MemoryStorage;
pub use path::{INTERNAL_DIR, StoragePath, TEMP_DIR, TEMP_GRACE};
#[cfg(any(feature = "webdav", feature = "azblob", feature = "gcs", feature = "sftp"))]
pub use remote::{DEFAULT_TIMEOUT, RemoteConfig, RemoteStorage, Secret};
#[cfg(feature = "s3")]
pub use s3::{S3Config, S3Options, S3Secret, S3Storage};

use std::io;
use std::ops::Range;
use std::pin::Pin;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::Stream;

/// A stream of file bytes. Reads and writes go through streams so that no file is ever held in
/// memory whole.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send + 'static>>;

/// File or folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntryKind {
    /// A file: bytes to read.
    File,
    /// A folder: entries to list.
    Dir,
}

/// What an adapter knows of one item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The last component of the path (the item's name); empty for the root.
    pub name: String,
    /// File or folder.
    pub kind: EntryKind,
    /// Bytes for files, 0 for folders.
    pub size: u64,
    /// When the content last changed, as the backend reports it.
    pub modified: DateTime<Utc>,
}

/// What [`Storage::open`] found: the item's entry and, where the adapter can, the file itself,
/// held open. Its bytes ([`Opened::read`]) are then those of the file the entry describes, even
/// if another writer replaces the file meanwhile, and are read without a second lookup of the
/// path (on the filesystem, each lookup opens every folder on the way).
#[derive(Debug)]
pub struct Opened {
    /// The item, as [`Storage::stat`] answers it.
    pub entry: Entry,
    path: StoragePath,
    /// The open file, for a file on the filesystem adapter; `None` reads by path.
    #[cfg(unix)]
    file: Option<std::fs::File>,
}

impl Opened {
    /// An item that is read by its path when its bytes are asked for: what adapters that cannot
    /// hold a file open answer.
    pub fn by_path(path: StoragePath, entry: Entry) -> Self {
        Opened {
            entry,
            path,
            #[cfg(unix)]
            file: None,
        }
    }

    /// Streams the file's bytes, or those of `range` (clamped to the length in [`Opened::entry`]
    /// for a file held open; to the length at the time of reading otherwise). `storage` must be
    /// the adapter that opened the item. A folder is [`StorageError::IsADirectory`].
    pub async fn read(self, storage: &dyn Storage, range: Option<Range<u64>>) -> Result<ByteStream> {
        #[cfg(unix)]
        if let Some(file) = self.file {
            return Ok(fs::read_open_file(file, self.entry.size, range));
        }
        storage.read(&self.path, range).await
    }
}

/// What [`Storage::write`] does when the target already exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Fail with [`StorageError::AlreadyExists`] if anything is at the path, atomically (no
    /// window in which two writers both succeed) unless [`Storage::capabilities`] says otherwise
    /// (an S3 server without conditional writes, WebDAV: a check then a write).
    CreateNew,
    /// Atomically replace the file at the path (or create it), but only the file that was
    /// there when the write started: if by the commit it has been moved, removed or replaced
    /// by another writer (or, where nothing was, something has been created), the write fails
    /// with [`StorageError::Changed`] and nothing changes. An upload of a new version then
    /// never lands under a name its document has left, nor over someone else's file.
    ///
    /// How exact that is depends on the store (`docs/storage.md`): memory, Azure Blob and S3
    /// with conditional writes (up to one part) compare and swap in one step; elsewhere the
    /// target is compared just before the commit (the filesystem: a window of microseconds; S3
    /// multipart or without conditional writes, WebDAV, SFTP: a request's time), and a change
    /// that another program makes in that window goes unseen.
    Replace,
}

/// Errors an adapter reports. Callers act on all but the last two, which are faults.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// Nothing is at the path (or a folder on the way is missing).
    #[error("no such file or folder: {0}")]
    NotFound(String),
    /// Something is already at the path ([`WriteMode::CreateNew`], folders, renames).
    #[error("already exists: {0}")]
    AlreadyExists(String),
    /// A folder was expected (listing, a parent) and a file is there.
    #[error("not a folder: {0}")]
    NotADirectory(String),
    /// A file was expected (reading, writing) and a folder is there.
    #[error("is a folder: {0}")]
    IsADirectory(String),
    /// A path or name that no adapter accepts (`..`, a separator, an internal name).
    #[error("invalid path: {0}")]
    InvalidPath(String),
    /// A write's content grew past its limit; nothing was committed.
    #[error("content exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit the write was given, in bytes.
        limit: u64,
    },
    /// The target of a [`WriteMode::Replace`] changed between the start and the commit.
    #[error("changed while it was being written: {0}")]
    Changed(String),
    /// The stream being written failed (the client hung up); nothing was committed.
    #[error("the upload stream failed: {0}")]
    SourceFailed(io::Error),
    /// The backend failed: a fault, not an answer.
    #[error("storage I/O error: {0}")]
    Io(#[from] io::Error),
}

/// This crate's results: [`StorageError`] unless said otherwise.
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The upload `data` as the adapters that read it themselves consume it: a failing source is
/// [`StorageError::SourceFailed`], and the chunk that takes it past `limit` ends it with
/// [`StorageError::TooLarge`], so that every such adapter refuses the same uploads.
pub(crate) fn limited(data: ByteStream, limit: Option<u64>) -> impl Stream<Item = Result<Bytes>> + Send + Unpin {
    use futures::StreamExt;
    let mut received: u64 = 0;
    data.map(move |chunk| {
        let chunk = chunk.map_err(StorageError::SourceFailed)?;
        received = received.saturating_add(chunk.len() as u64);
        match limit {
            Some(limit) if received > limit => Err(StorageError::TooLarge { limit }),
            _ => Ok(chunk),
        }
    })
}

/// Guarantees that an adapter may lack, and says so through [`Storage::capabilities`]; the
/// conformance suite skips the cases that need one. Every field is `true` in
/// [`Capabilities::ALL`], what the filesystem and memory adapters give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// [`WriteMode::CreateNew`] has no window in which two writers, in any process, both
    /// succeed. Without it a `CreateNew` is a check then a write (an S3 server without
    /// conditional writes), and concurrent creators of one name can both succeed.
    pub atomic_create_new: bool,
}

impl Capabilities {
    /// Every guarantee: what the filesystem and in-memory adapters give.
    pub const ALL: Capabilities = Capabilities { atomic_create_new: true };
}

impl Default for Capabilities {
    fn default() -> Self {
        Self::ALL
    }
}

/// One library of documents. Every method is safe to call concurrently. Every write is atomic
/// as seen by readers (a reader sees the old content or the new, never a mix or a partial file).
/// Renames and deletes are atomic for readers only where the store allows: on the filesystem,
/// in memory and on SFTP; a folder renamed or deleted on S3, WebDAV, Azure Blob or GCS goes item
/// by item, and a file renamed on S3, Azure Blob or GCS is copied then deleted (`docs/storage.md`
/// has the table).
#[async_trait::async_trait]
pub trait Storage: Send + Sync + 'static {
    /// A short name for logs and errors: `fs`, `memory`, `s3`.
    fn kind(&self) -> &'static str;

    /// Metadata of one item; the root (`StoragePath::root()`) is a folder.
    async fn stat(&self, path: &StoragePath) -> Result<Entry>;

    /// The direct children of a folder, in no particular order. Internal bookkeeping (see
    /// [`StoragePath::is_internal`]) is never listed; neither are symbolic links.
    async fn list(&self, dir: &StoragePath) -> Result<Vec<Entry>>;

    /// Every file and folder below `dir` (not `dir` itself), depth first, as paths with their
    /// entries. Used to (re)build the index of a library that other programs also write to.
    async fn walk(&self, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>>;

    /// Streams a file's bytes, or the bytes of `range` (clamped to the file's length).
    async fn read(&self, path: &StoragePath, range: Option<Range<u64>>) -> Result<ByteStream>;

    /// Metadata of one item, as [`Storage::stat`], together with the means to read it
    /// ([`Opened::read`]). The filesystem adapter holds a file open, so that what is read is the
    /// file that was described; the others read by path later, and this is a `stat`.
    async fn open(&self, path: &StoragePath) -> Result<Opened> {
        Ok(Opened::by_path(path.clone(), self.stat(path).await?))
    }

    /// Streams `data` into a temporary object and commits it at `path` only once the stream has
    /// ended without error and within `limit` bytes. On any failure nothing at `path` changes
    /// and the temporary object is removed. The parent folder must exist.
    async fn write(&self, path: &StoragePath, data: ByteStream, mode: WriteMode, limit: Option<u64>) -> Result<Entry>;

    /// Creates one folder (the parent must exist); `AlreadyExists` if the name is taken.
    async fn create_dir(&self, path: &StoragePath) -> Result<Entry>;

    /// Moves a file or a whole folder, never replacing anything: `AlreadyExists` if `to` is taken.
    /// Where the store has no no-replace move (S3, WebDAV, GCS, and folders on SFTP) this is a check
    /// then the move, and something another program puts at `to` in between can be replaced.
    /// Moving a folder into itself is an `InvalidPath`.
    async fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()>;

    /// Removes a file, or a folder with everything in it. The root cannot be removed.
    async fn delete(&self, path: &StoragePath) -> Result<()>;

    /// Brings to its end, now, a rename of `from` to `to` that was interrupted (its process died,
    /// or the rename failed half-way) and that this adapter would otherwise roll forward later
    /// (on its own, or at [`Storage::resume_interrupted_operations`]): the S3 adapter's journal.
    /// Afterwards storage shows the rename done or never begun, and nothing will move it later. The caller must know that no live rename of these
    /// paths is running (docbridge holds the library's change lock). Adapters whose renames are
    /// atomic have nothing to finish.
    async fn finish_interrupted_rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        let _ = (from, to);
        Ok(())
    }

    /// Rolls forward the operations that were interrupted and are nobody's any more (the S3
    /// adapter's journal entries that this process failed, and those of crashed processes past
    /// their grace period), and answers how many. For an adapter made not to do this on its own
    /// (`S3Options::resume_on_its_own`); docbridge calls it under the library's change lock.
    /// Adapters with nothing to roll forward answer 0.
    async fn resume_interrupted_operations(&self) -> Result<usize> {
        Ok(0)
    }

    /// Whether the backing store answers at all (for `/readyz`).
    async fn check(&self) -> Result<()> {
        self.stat(&StoragePath::root()).await.map(|_| ())
    }

    /// The guarantees this adapter gives (all of them unless it says otherwise). Async because an
    /// adapter may have to ask its backend: the S3 adapter probes the server.
    async fn capabilities(&self) -> Capabilities {
        Capabilities::ALL
    }
}
