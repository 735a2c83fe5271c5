//! The filesystem adapter: a library is a folder on a local (or mounted) filesystem.
//!
//! # Symbolic links are never followed
//!
//! Other programs write into a library folder too, so it may hold symbolic links, and one of
//! them could point anywhere (`/etc`, another library). This adapter never follows one: a
//! symbolic link is invisible. It is not listed or walked, and any operation whose path goes
//! through one, as the item itself or as any folder on the way, answers
//! [`StorageError::NotFound`]. A name taken by a link still counts as taken: creating a file or
//! folder there, or moving something onto it, answers [`StorageError::AlreadyExists`], and a
//! [`WriteMode::Replace`] write refuses it in the same way instead of replacing the link.
//! Fifos, sockets and device nodes are invisible in the same way; only regular files and folders
//! are items. Names that are not UTF-8, or that [`StoragePath::join`] refuses (a `\`, a control
//! character), are skipped too, since no path could address them.
//!
//! This holds without races: a path is never handed to the kernel whole. The adapter opens the
//! root, then each folder on the way with `openat(O_DIRECTORY | O_NOFOLLOW)` relative to the
//! previous one, and acts on the last name with the `*at` calls (`statat(AT_SYMLINK_NOFOLLOW)`,
//! `renameat2`, `unlinkat`, ...), none of which follow a link in the last component. Swapping
//! a folder for a link half-way through an operation therefore gets a `NotFound`, never a read
//! outside the root. Only the root's own path is resolved normally: the administrator chose it.
//!
//! # Bookkeeping
//!
//! Everything the adapter keeps for itself lives in `root/.docbridge/tmp` ([`INTERNAL_DIR`],
//! [`TEMP_DIR`]), which is on the same filesystem as the library, so committing an upload is a
//! `rename`, atomic for readers. `.docbridge` never appears in a listing or walk of the root,
//! and `tmp` never appears in one of `.docbridge`; the documents layer keeps its trash beside it
//! (`StoragePath::internal(&["trash", ..])`).
//!
//! Temporary objects are named `<uuid>.upload` (a write in progress) or `<uuid>.deleting` (a
//! folder moved aside so that its deletion looks atomic). A crash can leave some behind; they are
//! invisible, and [`FsStorage::new`] (so every start, and `docbridge fsck`) removes them at once,
//! whatever their age, except the uploads that are still being written. Another process may be
//! serving the same root and writing one right now, so a writer holds an exclusive `flock` on its
//! temporary file for as long as the file exists: a file nobody holds is a dead process's, and
//! the kernel drops the lock when a process dies, however it dies. A `.deleting` folder is
//! removed whoever started removing it (two processes removing one folder do no harm). Any other
//! name in the folder (none is made by docbridge) goes once untouched for [`TEMP_GRACE`].
//! [`FsStorage::clean_temp`] does the same on demand.
//!
//! A folder inside the library that is a mount point of another filesystem cannot receive
//! uploads (`rename` across filesystems is impossible to do atomically): such writes fail with
//! an I/O error (`EXDEV`) and leave nothing behind.

use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use futures::StreamExt;
use rustix::fs::{AtFlags, Dir, FileType, FlockOperation, Mode, OFlags, Stat};
use rustix::io::Errno;
use tokio::io::{AsyncWriteExt, BufWriter};

use crate::path::{INTERNAL_DIR, TEMP_DIR, TEMP_GRACE};
use crate::{ByteStream, Entry, EntryKind, Result, Storage, StorageError, StoragePath, WriteMode, limited};

/// How many fresh names a writer tries when a sweep takes its temporary file between its
/// creation and its locking (a window of microseconds, so more than one retry is very rare).
const TEMP_ATTEMPTS: usize = 8;

// Bytes per chunk of a read stream (`buffers::READ_CHUNK`, 1 MiB). Large chunks mean few trips
// to the blocking pool and few `writev` calls per megabyte sent; with one chunk read ahead, a
// download holds at most two.
use crate::buffers::{self, READ_CHUNK};

/// Folders on a path up to which a `stat` or the opening of a file is done on the calling
/// thread rather than on the blocking pool. Each folder costs an `openat` and a `close` of an
/// inode the kernel has cached (about a microsecond each); below this depth the whole lookup
/// is cheaper than the hand-off to a pool thread and back, which was most of what `/metadata`
/// and small `/download` cost (`docs/benchmarks.md`). nginx does the same calls on its event
/// loop. Deeper paths, listings, walks, writes and everything that may take long stay on the pool.
const INLINE_DEPTH: usize = 8;

/// Files (or ranges) up to this many bytes are read whole on the calling thread, right after
/// they are opened: a `pread` from the page cache of up to 128 KiB takes a few microseconds.
/// Larger reads stream from the blocking pool (`read_stream`).
const INLINE_READ: u64 = 128 * 1024;

/// Bytes gathered before one write to the temporary file: few, large writes keep the number of
/// trips to the blocking thread pool low whatever the size of the incoming chunks.
const WRITE_BUFFER: usize = 1024 * 1024;

/// How every folder on a path is opened: never through a link (`NOFOLLOW`), only a folder
/// (`DIRECTORY`), and without blocking should a fifo sit where a folder is expected.
const DIR_FLAGS: OFlags =
    OFlags::RDONLY.union(OFlags::DIRECTORY).union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC).union(OFlags::NONBLOCK);

/// How a file is opened for reading. `NONBLOCK` keeps a fifo from hanging the open (it is then
/// refused after `fstat`); it changes nothing for regular files.
const READ_FLAGS: OFlags =
    OFlags::RDONLY.union(OFlags::NOFOLLOW).union(OFlags::CLOEXEC).union(OFlags::NONBLOCK).union(OFlags::NOCTTY);

/// Permissions of created files and folders, before the process umask.
const FILE_MODE: Mode = Mode::from_bits_truncate(0o644);
const DIR_MODE: Mode = Mode::from_bits_truncate(0o755);

/// A library stored in a folder of the local filesystem. Cheap to clone; clones share nothing
/// but the root's path.
#[derive(Debug, Clone)]
pub struct FsStorage {
    fs: Arc<Fs>,
}

impl FsStorage {
    /// Opens the library at `root`, creating the folder (and its parents) if missing, and the
    /// bookkeeping folder inside it. Removes the temporary objects that a crashed process left
    /// behind (see the module's documentation: uploads no live writer holds, folders being
    /// deleted, and unknown entries untouched for [`TEMP_GRACE`]).
    ///
    /// Blocks while it does so: meant for start-up, or `spawn_blocking` from async code.
    pub fn new(root: impl Into<PathBuf>) -> Result<Self> {
        let root = std::path::absolute(root.into())?;
        std::fs::create_dir_all(&root)?;
        let fs = Fs { root };
        fs.temp_dir()?;
        fs.clean_temp(TEMP_GRACE)?;
        Ok(Self { fs: Arc::new(fs) })
    }

    /// The library's folder, as an absolute path.
    pub fn root(&self) -> &Path {
        &self.fs.root
    }

    /// Removes the temporary objects a dead process left (uploads no writer holds, folders being
    /// deleted) and the unknown entries not modified for `older_than` (what [`FsStorage::new`]
    /// does with [`TEMP_GRACE`]), and answers how many went. Uploads in progress, in this process
    /// or another one sharing the root, are left alone.
    pub async fn clean_temp(&self, older_than: Duration) -> Result<usize> {
        let fs = self.fs.clone();
        blocking(move || fs.clean_temp(older_than)).await
    }
}

impl FsStorage {
    /// Runs `work`, a lookup of `path` that walks its folders, on this thread up to
    /// [`INLINE_DEPTH`] folders deep and on the blocking pool beyond.
    async fn look_up<T: Send + 'static>(
        &self,
        path: &StoragePath,
        work: fn(&Fs, &StoragePath) -> Result<T>,
    ) -> Result<T> {
        if path.components().len() <= INLINE_DEPTH {
            return work(&self.fs, path);
        }
        let (fs, path) = (self.fs.clone(), path.clone());
        blocking(move || work(&fs, &path)).await
    }
}

#[async_trait::async_trait]
impl Storage for FsStorage {
    fn kind(&self) -> &'static str {
        "fs"
    }

    async fn stat(&self, path: &StoragePath) -> Result<Entry> {
        self.look_up(path, Fs::stat).await
    }

    async fn list(&self, dir: &StoragePath) -> Result<Vec<Entry>> {
        let (fs, dir) = (self.fs.clone(), dir.clone());
        blocking(move || {
            let fd = fs.open_dir(&dir)?;
            Ok(read_entries(&fd, &dir)?.into_iter().map(|(_, entry)| entry).collect())
        })
        .await
    }

    async fn walk(&self, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>> {
        let (fs, dir) = (self.fs.clone(), dir.clone());
        blocking(move || {
            let fd = fs.open_dir(&dir)?;
            let mut out = Vec::new();
            walk_into(&fd, &dir, &mut out)?;
            Ok(out)
        })
        .await
    }

    async fn open(&self, path: &StoragePath) -> Result<crate::Opened> {
        self.look_up(path, Fs::open).await
    }

    async fn read(&self, path: &StoragePath, range: Option<Range<u64>>) -> Result<ByteStream> {
        let (file, size) = self.look_up(path, Fs::open_for_read).await?;
        Ok(read_open_file(file, size, range))
    }

    async fn write(&self, path: &StoragePath, data: ByteStream, mode: WriteMode, limit: Option<u64>) -> Result<Entry> {
        if path.is_root() {
            return Err(StorageError::IsADirectory(path.to_string()));
        }
        let (fs, target) = (self.fs.clone(), path.clone());
        // Checked before the upload is read so that a doomed write fails before its bytes travel;
        // checked again at commit, which is what counts.
        let (temp, file, replaced) = blocking(move || fs.start_write(&target, mode)).await?;

        let mut writer = BufWriter::with_capacity(WRITE_BUFFER, tokio::fs::File::from_std(file));
        let mut written: u64 = 0;
        let mut writeback_started: u64 = 0;
        let mut data = limited(data, limit);
        while let Some(chunk) = data.next().await {
            let chunk = chunk?;
            written = written.saturating_add(chunk.len() as u64);
            writer.write_all(&chunk).await?;
            // What has surely reached the file (the writer holds at most its buffer, and one
            // write may be in flight) is handed to the disk now rather than all at the `fsync`
            // below: the disk then writes while the rest of the upload arrives.
            let settled = written.saturating_sub(2 * WRITE_BUFFER as u64);
            if settled >= writeback_started + WRITEBACK_STEP {
                start_writeback(writer.get_ref(), writeback_started, settled - writeback_started);
                writeback_started = settled;
            }
        }
        writer.flush().await?;
        let file = writer.into_inner();
        file.sync_all().await?;
        let file = file.into_std().await;
        // Any early return above drops `temp`, which removes the temporary file.

        let (fs, target) = (self.fs.clone(), path.clone());
        blocking(move || fs.commit_write(&target, mode, replaced, temp, &file)).await
    }

    async fn create_dir(&self, path: &StoragePath) -> Result<Entry> {
        let (fs, path) = (self.fs.clone(), path.clone());
        blocking(move || fs.create_dir(&path)).await
    }

    async fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        let (fs, from, to) = (self.fs.clone(), from.clone(), to.clone());
        blocking(move || fs.rename(&from, &to)).await
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        let (fs, path) = (self.fs.clone(), path.clone());
        blocking(move || fs.delete(&path)).await
    }
}

/// Streams an open file's bytes, or those of `range`, clamped to `size`, the length seen when it
/// was opened: a file growing meanwhile (another program appending) cannot make the stream
/// disagree with the announced range. Small reads are done at once, on this thread.
pub(crate) fn read_open_file(file: File, size: u64, range: Option<Range<u64>>) -> ByteStream {
    let (start, end) = match range {
        Some(r) => (r.start.min(size), r.end.min(size)),
        None => (0, size),
    };
    if end.saturating_sub(start) <= INLINE_READ {
        // Ends short if the file shrank since it was opened, as `read_stream` does.
        return Box::pin(futures::stream::iter(match read_chunk(&file, start, end) {
            Ok(chunk) if chunk.is_empty() => None,
            result => Some(result),
        }));
    }
    read_stream(file, start, end)
}

/// Streams `file[start..end]` in chunks of up to [`READ_CHUNK`] bytes, each read with `pread`
/// on the blocking pool straight into the buffer that is sent (no intermediate copy, no
/// zeroing). The next chunk is read while the caller sends the previous one, so disk and
/// socket work overlap.
fn read_stream(file: File, start: u64, end: u64) -> ByteStream {
    let file = Arc::new(file);
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if end - start > READ_CHUNK as u64 {
        // A hint for a long sequential read (larger kernel read-ahead); failure changes nothing.
        let _ =
            rustix::fs::fadvise(&*file, start, std::num::NonZeroU64::new(end - start), rustix::fs::Advice::Sequential);
    }
    let first = (start < end).then(|| spawn_read_chunk(file.clone(), start, end));
    let state = ReadState { file, position: start, end, pending: first };
    Box::pin(futures::stream::unfold(state, |mut state| async move {
        let pending = state.pending.take()?;
        let chunk = match pending.await {
            Ok(Ok(chunk)) => chunk,
            Ok(Err(e)) => return Some((Err(e), state)),
            Err(e) => {
                let e = io::Error::other(format!("filesystem read task failed: {e}"));
                return Some((Err(e), state));
            }
        };
        if chunk.is_empty() {
            // The file shrank since it was opened: the stream ends short, as a read past the
            // end of a file does, and the caller's length check reports it.
            return None;
        }
        state.position += chunk.len() as u64;
        if state.position < state.end {
            state.pending = Some(spawn_read_chunk(state.file.clone(), state.position, state.end));
        }
        Some((Ok(chunk), state))
    }))
}

/// Where a [`read_stream`] is: the chunk being read ahead, if any.
struct ReadState {
    file: Arc<File>,
    position: u64,
    end: u64,
    pending: Option<tokio::task::JoinHandle<io::Result<bytes::Bytes>>>,
}

/// Reads up to [`READ_CHUNK`] bytes at `position` (never past `end`) on the blocking pool; an
/// empty chunk means the file ended early.
fn spawn_read_chunk(file: Arc<File>, position: u64, end: u64) -> tokio::task::JoinHandle<io::Result<bytes::Bytes>> {
    tokio::task::spawn_blocking(move || read_chunk(&file, position, end))
}

/// Reads up to [`READ_CHUNK`] bytes at `position` (never past `end`) with `pread`, straight into
/// the buffer that becomes the chunk; shorter if the file ends first. Blocks.
fn read_chunk(file: &File, position: u64, end: u64) -> io::Result<bytes::Bytes> {
    let want = usize::try_from(end.saturating_sub(position)).map_or(READ_CHUNK, |left| left.min(READ_CHUNK));
    if want == READ_CHUNK {
        // Whole chunks (large files) are read into pooled buffers (`buffers.rs`).
        let mut buffer = buffers::take()?;
        pread_full(position, want, |offset| {
            let read = rustix::io::pread(file, buffer.spare(), offset)?;
            buffer.filled(read);
            Ok(read)
        })?;
        return Ok(buffers::chunk(buffer));
    }
    // A short read gets a buffer of its size, filled without being zeroed first.
    let mut buffer: Vec<u8> = Vec::with_capacity(want);
    pread_full(position, want, |offset| rustix::io::pread(file, rustix::buffer::spare_capacity(&mut buffer), offset))?;
    // The allocator may have given more capacity than asked for, and `pread` fills it all.
    buffer.truncate(want);
    Ok(bytes::Bytes::from(buffer))
}

/// Reads from `position` until `want` bytes are in or the file ends. `pread_at(offset)` is one
/// `pread` at `offset` into the buffer's room after what is already in it, answering how many
/// bytes it read; interrupted reads are tried again.
fn pread_full(
    position: u64,
    want: usize,
    mut pread_at: impl FnMut(u64) -> rustix::io::Result<usize>,
) -> io::Result<()> {
    let mut have = 0;
    while have < want {
        match pread_at(position + have as u64) {
            Ok(0) => break,
            Ok(read) => have += read,
            Err(Errno::INTR | Errno::AGAIN) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Bytes of an upload gathered before their writing to disk is started (`start_writeback`).
const WRITEBACK_STEP: u64 = 8 * 1024 * 1024;

/// Starts writing a range of a file's cached pages to disk without waiting for it, and lets the
/// kernel drop them once written (an upload is not read back soon; the page cache is better
/// left to files that are). Linux starts the writeback for `POSIX_FADV_DONTNEED`; elsewhere, or
/// if it fails, the final `fsync` does all the work as before.
fn start_writeback(file: &impl AsFd, offset: u64, len: u64) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        let _ = rustix::fs::fadvise(file, offset, std::num::NonZeroU64::new(len), rustix::fs::Advice::DontNeed);
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (file, offset, len);
}

/// Runs blocking filesystem work on tokio's blocking pool.
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StorageError::Io(io::Error::other(format!("filesystem task failed: {e}"))))?
}

/// The synchronous half of the adapter: every method here blocks and runs on the blocking pool.
#[derive(Debug)]
struct Fs {
    root: PathBuf,
}

/// What an item on disk is, as far as the adapter cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    /// Symbolic links, fifos, sockets, devices: invisible.
    Other,
}

impl Fs {
    /// Opens the root. Opened anew for every operation so that a root that disappears (an
    /// unmounted volume) is noticed by the next call, `check` included.
    fn open_root(&self) -> Result<OwnedFd> {
        rustix::fs::open(&self.root, DIR_FLAGS.difference(OFlags::NOFOLLOW), Mode::empty()).map_err(|e| {
            StorageError::Io(io::Error::new(
                io::Error::from(e).kind(),
                format!("cannot open the library root {}: {e}", self.root.display()),
            ))
        })
    }

    /// Opens the folder at `dir`, one component at a time, never through a link.
    fn open_dir(&self, dir: &StoragePath) -> Result<OwnedFd> {
        self.open_components(dir.components(), dir)
    }

    /// Opens the folder that holds `path` (not the root) and answers it with the item's name.
    fn open_parent<'p>(&self, path: &'p StoragePath) -> Result<(OwnedFd, &'p str)> {
        let (name, parents) = path
            .components()
            .split_last()
            .ok_or_else(|| StorageError::InvalidPath("the root has no parent".to_owned()))?;
        Ok((self.open_components(parents, path)?, name.as_str()))
    }

    fn open_components(&self, components: &[String], full: &StoragePath) -> Result<OwnedFd> {
        let mut fd = self.open_root()?;
        for name in components {
            fd = match rustix::fs::openat(&fd, name.as_str(), DIR_FLAGS, Mode::empty()) {
                Ok(next) => next,
                Err(e) => return Err(dir_open_error(&fd, name, e, full)),
            };
        }
        Ok(fd)
    }

    /// Opens (creating as needed) `.docbridge/tmp`. Re-created if someone removed it.
    fn temp_dir(&self) -> Result<OwnedFd> {
        let root = self.open_root()?;
        let internal = ensure_dir(&root, INTERNAL_DIR)?;
        ensure_dir(&internal, TEMP_DIR)
    }

    fn stat(&self, path: &StoragePath) -> Result<Entry> {
        if path.is_root() {
            let st = rustix::fs::fstat(self.open_root()?).map_err(io_error)?;
            return Ok(entry_from("", &st));
        }
        let (parent, name) = self.open_parent(path)?;
        match stat_at(&parent, name)? {
            Some(st) if kind_of(&st) != Kind::Other => Ok(entry_from(name, &st)),
            _ => Err(not_found(path)),
        }
    }

    /// Looks an item up for [`Storage::open`]: a regular file is opened and kept open, and its
    /// entry comes from that descriptor (`fstat`), so one `openat` replaces the `statat` of a
    /// `stat`. A folder is answered by path.
    fn open(&self, path: &StoragePath) -> Result<crate::Opened> {
        if path.is_root() {
            return Ok(crate::Opened::by_path(path.clone(), self.stat(path)?));
        }
        let (parent, name) = self.open_parent(path)?;
        let fd = match rustix::fs::openat(&parent, name, READ_FLAGS, Mode::empty()) {
            Ok(fd) => fd,
            // ELOOP: the last component is a link; ENXIO: a socket or a fifo-like node.
            Err(Errno::NOENT | Errno::LOOP | Errno::NXIO) => return Err(not_found(path)),
            Err(e) => return Err(io_error(e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(io_error)?;
        let entry = entry_from(name, &st);
        match kind_of(&st) {
            Kind::File => Ok(crate::Opened { entry, path: path.clone(), file: Some(File::from(fd)) }),
            Kind::Dir => Ok(crate::Opened::by_path(path.clone(), entry)),
            Kind::Other => Err(not_found(path)),
        }
    }

    /// Opens a regular file for reading and answers it with its size.
    fn open_for_read(&self, path: &StoragePath) -> Result<(File, u64)> {
        if path.is_root() {
            return Err(StorageError::IsADirectory(path.to_string()));
        }
        let opened = self.open(path)?;
        match opened.file {
            Some(file) => Ok((file, opened.entry.size)),
            None => Err(StorageError::IsADirectory(path.to_string())),
        }
    }

    /// Checks the target of a write and creates its temporary file.
    /// Also answers the identity of the file a `Replace` is to replace (`None`: nothing there).
    fn start_write(&self, path: &StoragePath, mode: WriteMode) -> Result<(TempFile, File, Option<FileId>)> {
        let (parent, name) = self.open_parent(path)?;
        let replaced = check_write_target(&parent, name, mode, path)?;
        let dir = self.temp_dir()?;
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        for _ in 0..TEMP_ATTEMPTS {
            let name = format!("{}.upload", uuid::Uuid::new_v4());
            let fd = rustix::fs::openat(&dir, name.as_str(), flags, FILE_MODE).map_err(io_error)?;
            // The lock tells a sweep (`clean_temp`, maybe in another process) that this file is
            // alive. A sweep may have come between the creation and the lock: then it holds
            // the lock, or has already unlinked the file; either way this name is lost, and
            // the next one is tried (the sweep removes this one).
            match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(Errno::WOULDBLOCK) => continue,
                Err(e) => return Err(io_error(e)),
            }
            if rustix::fs::fstat(&fd).map_err(io_error)?.st_nlink == 0 {
                continue;
            }
            return Ok((TempFile { dir, name, armed: true }, File::from(fd), replaced));
        }
        Err(StorageError::Io(io::Error::other("could not create a temporary file: each one was swept at once")))
    }

    /// Moves a finished temporary file to `path`; `temp` removes the file if this fails.
    fn commit_write(
        &self,
        path: &StoragePath,
        mode: WriteMode,
        replaced: Option<FileId>,
        mut temp: TempFile,
        file: &File,
    ) -> Result<Entry> {
        // Resolved again rather than kept from `start_write`: the path is what the caller named,
        // and a folder renamed meanwhile must not receive the file under its new name.
        let (parent, name) = self.open_parent(path)?;
        let committed = match mode {
            WriteMode::CreateNew => rename_no_replace(&temp.dir, &temp.name, &parent, name, false),
            WriteMode::Replace => {
                // Only the file seen at the start (a rename keeps a file's identity, a new
                // version or another file does not). The check and the rename are two calls:
                // a change in the microseconds between them goes unnoticed.
                if check_write_target(&parent, name, mode, path)? != replaced {
                    return Err(StorageError::Changed(path.to_string()));
                }
                rustix::fs::renameat(&temp.dir, temp.name.as_str(), &parent, name).map_err(io::Error::from)
            }
        };
        match committed {
            Ok(()) => temp.armed = false,
            Err(e) => {
                return Err(match e.raw_os_error().map(Errno::from_raw_os_error) {
                    Some(Errno::EXIST | Errno::NOTEMPTY) => StorageError::AlreadyExists(path.to_string()),
                    Some(Errno::ISDIR) => StorageError::IsADirectory(path.to_string()),
                    Some(Errno::NOENT) => not_found(path),
                    _ => StorageError::Io(e),
                });
            }
        }
        sync_dir(&parent);
        let st = rustix::fs::fstat(file).map_err(io_error)?;
        Ok(entry_from(name, &st))
    }

    fn create_dir(&self, path: &StoragePath) -> Result<Entry> {
        if path.is_root() {
            return Err(StorageError::AlreadyExists(path.to_string()));
        }
        let (parent, name) = self.open_parent(path)?;
        match rustix::fs::mkdirat(&parent, name, DIR_MODE) {
            Ok(()) => {}
            Err(Errno::EXIST) => return Err(StorageError::AlreadyExists(path.to_string())),
            Err(Errno::NOENT) => return Err(not_found(path)),
            Err(e) => return Err(io_error(e)),
        }
        sync_dir(&parent);
        match stat_at(&parent, name)? {
            Some(st) => Ok(entry_from(name, &st)),
            None => Err(not_found(path)),
        }
    }

    fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        let internal_root = StoragePath::internal(&[])?;
        for path in [from, to] {
            if path.is_root() || *path == internal_root {
                return Err(StorageError::InvalidPath(format!("{path} cannot be moved or replaced")));
            }
        }
        let (from_parent, from_name) = self.open_parent(from)?;
        let kind = match stat_at(&from_parent, from_name)? {
            Some(st) => kind_of(&st),
            None => return Err(not_found(from)),
        };
        if kind == Kind::Other {
            return Err(not_found(from));
        }
        if to == from {
            return Err(StorageError::AlreadyExists(to.to_string()));
        }
        if to.starts_with(from) {
            return Err(StorageError::InvalidPath(format!("cannot move {from} into itself ({to})")));
        }
        let (to_parent, to_name) = self.open_parent(to)?;
        if let Err(e) = rename_no_replace(&from_parent, from_name, &to_parent, to_name, kind == Kind::Dir) {
            return Err(match e.raw_os_error().map(Errno::from_raw_os_error) {
                Some(Errno::EXIST | Errno::NOTEMPTY) => StorageError::AlreadyExists(to.to_string()),
                Some(Errno::NOENT) => not_found(from),
                // The kernel's own refusal to move a folder below itself (a bind mount could hide
                // the relation from the path check above).
                Some(Errno::INVAL) => StorageError::InvalidPath(format!("cannot move {from} into {to}")),
                _ => StorageError::Io(e),
            });
        }
        sync_dir(&to_parent);
        sync_dir(&from_parent);
        Ok(())
    }

    fn delete(&self, path: &StoragePath) -> Result<()> {
        if path.is_root() || *path == StoragePath::internal(&[])? {
            return Err(StorageError::InvalidPath(format!("{path} cannot be deleted")));
        }
        let (parent, name) = self.open_parent(path)?;
        let kind = stat_at(&parent, name)?.map(|st| kind_of(&st));
        match kind {
            None | Some(Kind::Other) => return Err(not_found(path)),
            Some(Kind::File) => match rustix::fs::unlinkat(&parent, name, AtFlags::empty()) {
                Ok(()) => {}
                Err(Errno::NOENT) => return Err(not_found(path)),
                Err(e) => return Err(io_error(e)),
            },
            Some(Kind::Dir) => self.delete_dir(&parent, name, path)?,
        }
        sync_dir(&parent);
        Ok(())
    }

    /// Removes a folder so that readers see it vanish at once: it is first moved into the
    /// temporary folder, then emptied there. Leftovers of a failure half-way stay invisible and
    /// are swept with the other temporary objects.
    fn delete_dir(&self, parent: &OwnedFd, name: &str, path: &StoragePath) -> Result<()> {
        let temp = self.temp_dir()?;
        let grave = format!("{}.deleting", uuid::Uuid::new_v4());
        match rustix::fs::renameat(parent, name, &temp, grave.as_str()) {
            Ok(()) => {
                if let Err(e) = remove_any(&temp, &grave) {
                    tracing::warn!(path = %path, error = %e, "deleted folder only partly removed; the rest is swept later");
                }
                Ok(())
            }
            Err(Errno::NOENT) => Err(not_found(path)),
            // EXDEV: the folder is a mount point or on another filesystem; EINVAL: it is the
            // temporary folder or holds it. Both are removed in place instead.
            Err(Errno::XDEV | Errno::INVAL) => remove_any(parent, name).map_err(StorageError::Io),
            Err(e) => Err(io_error(e)),
        }
    }

    /// Removes uploads no writer holds, folders being deleted, and other entries whose
    /// modification time is older than `older_than`.
    fn clean_temp(&self, older_than: Duration) -> Result<usize> {
        let dir = self.temp_dir()?;
        let cutoff = SystemTime::now().checked_sub(older_than).unwrap_or(UNIX_EPOCH);
        let mut removed = 0;
        for name in dir_names(&dir).map_err(StorageError::Io)? {
            let Some(st) = stat_at(&dir, &name)? else {
                continue;
            };
            if name.ends_with(".upload") && kind_of(&st) == Kind::File {
                match remove_unheld(&dir, &name) {
                    Ok(true) => removed += 1,
                    Ok(false) => {}
                    Err(e) => tracing::warn!(name = %name, error = %e, "cannot remove a dead upload's temporary file"),
                }
                continue;
            }
            let dead = name.ends_with(".deleting") && kind_of(&st) == Kind::Dir;
            if !dead && stat_mtime(&st) >= DateTime::<Utc>::from(cutoff) {
                continue;
            }
            match remove_any(&dir, &name) {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(name = %name, error = %e, "cannot remove a stale temporary object")
                }
            }
        }
        Ok(removed)
    }
}

/// A temporary file that is removed when dropped unless disarmed: any failure, or a caller that
/// stops polling a write half-way (a client that hangs up), cleans up after itself.
/// (The unlink runs wherever the drop happens, an async worker included: one quick syscall.)
struct TempFile {
    dir: OwnedFd,
    name: String,
    armed: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        match rustix::fs::unlinkat(&self.dir, self.name.as_str(), AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => {
                tracing::warn!(name = %self.name, error = %e, "cannot remove a temporary upload; it is swept later")
            }
        }
    }
}

/// Refuses a write whose target is taken by something it must not touch: anything for
/// `CreateNew`, a folder or an invisible item (a link) for `Replace`.
/// Refuses what a write may not land on, and answers the identity of the file a `Replace`
/// would replace (`None` where the name is free).
fn check_write_target(parent: &OwnedFd, name: &str, mode: WriteMode, path: &StoragePath) -> Result<Option<FileId>> {
    let Some(st) = stat_at(parent, name)? else {
        return Ok(None);
    };
    match (kind_of(&st), mode) {
        (Kind::Dir, WriteMode::Replace) => Err(StorageError::IsADirectory(path.to_string())),
        (Kind::File, WriteMode::Replace) => Ok(Some(FileId::of(&st))),
        _ => Err(StorageError::AlreadyExists(path.to_string())),
    }
}

/// Which file a name stands for: device and inode, which a rename keeps and a new file (every
/// committed write is one) does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileId {
    device: u64,
    inode: u64,
}

impl FileId {
    fn of(st: &Stat) -> FileId {
        #[allow(clippy::useless_conversion)] // the field types differ between platforms
        FileId { device: u64::from(st.st_dev), inode: u64::from(st.st_ino) }
    }
}

/// Moves `from_name` to `to_name` only if `to_name` is free, atomically where the system allows.
///
/// `renameat2(RENAME_NOREPLACE)` first. Where the kernel or the filesystem lacks it, a file is
/// hard-linked to the new name (which fails if taken, atomically) and its old name removed; a
/// folder, which cannot be hard-linked, gets a check then a plain rename, the one place with a
/// window in which a racing creator could be replaced.
fn rename_no_replace(
    from_dir: &OwnedFd,
    from_name: &str,
    to_dir: &OwnedFd,
    to_name: &str,
    is_dir: bool,
) -> io::Result<()> {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    match rustix::fs::renameat_with(from_dir, from_name, to_dir, to_name, rustix::fs::RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(()),
        // Unsupported by this kernel or filesystem. EINVAL can also mean "a folder into itself";
        // the fallbacks then fail the same way.
        Err(e) if e == Errno::NOSYS || e == Errno::INVAL || unsupported(e) => {}
        Err(e) => return Err(e.into()),
    }
    if !is_dir {
        match rustix::fs::linkat(from_dir, from_name, to_dir, to_name, AtFlags::empty()) {
            Ok(()) => {
                return match rustix::fs::unlinkat(from_dir, from_name, AtFlags::empty()) {
                    Ok(()) | Err(Errno::NOENT) => Ok(()),
                    Err(e) => Err(e.into()),
                };
            }
            // No hard links on this filesystem (FAT, some FUSE): fall through.
            Err(e) if e == Errno::PERM || e == Errno::MLINK || unsupported(e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match rustix::fs::statat(to_dir, to_name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(_) => Err(Errno::EXIST.into()),
        Err(Errno::NOENT) => Ok(rustix::fs::renameat(from_dir, from_name, to_dir, to_name)?),
        Err(e) => Err(e.into()),
    }
}

/// Opens (creating if missing) a bookkeeping folder, refusing a link in its place.
fn ensure_dir(parent: &OwnedFd, name: &str) -> Result<OwnedFd> {
    match rustix::fs::mkdirat(parent, name, DIR_MODE) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(io_error(e)),
    }
    rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()).map_err(|e| {
        StorageError::Io(io::Error::new(
            io::Error::from(e).kind(),
            format!("the bookkeeping folder {name:?} cannot be opened as a folder: {e}"),
        ))
    })
}

/// Removes a file, a link, or a folder with everything in it, without following links.
fn remove_any(parent: &OwnedFd, name: &str) -> io::Result<()> {
    let dir = match rustix::fs::openat(parent, name, DIR_FLAGS, Mode::empty()) {
        Ok(dir) => dir,
        // Not a folder (or a link to one): the name itself goes.
        Err(Errno::NOTDIR | Errno::LOOP) => {
            return match rustix::fs::unlinkat(parent, name, AtFlags::empty()) {
                Ok(()) | Err(Errno::NOENT) => Ok(()),
                Err(e) => Err(e.into()),
            };
        }
        Err(Errno::NOENT) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    // Names are gathered before anything is removed: removing entries while reading a folder
    // may make the reading skip some.
    for child in dir_names(&dir)? {
        remove_any(&dir, &child)?;
    }
    match rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Removes a temporary upload unless a writer holds its lock; answers whether it went. The lock
/// is held while the name is unlinked, so a writer that created the file just now and has not
/// locked it yet finds it unlinked (or locked) and takes another name.
fn remove_unheld(dir: &OwnedFd, name: &str) -> io::Result<bool> {
    let fd = match rustix::fs::openat(dir, name, READ_FLAGS, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::NOENT) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(false),
        Err(e) => return Err(e.into()),
    }
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => Ok(true),
        Err(Errno::NOENT) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// The names in a folder, but `.` and `..` and names that are not UTF-8 (which no path can
/// address; `remove_any` leaves them, and their folder, in place).
fn dir_names(dir: &OwnedFd) -> io::Result<Vec<String>> {
    let mut names = Vec::new();
    for entry in Dir::read_from(dir)? {
        let entry = entry?;
        let Ok(name) = entry.file_name().to_str() else {
            continue;
        };
        if name != "." && name != ".." {
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// The visible children of the folder `fd` (which is at `dir`), with their paths.
fn read_entries(fd: &OwnedFd, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>> {
    let hidden = if dir.is_root() {
        Some(INTERNAL_DIR)
    } else if dir.components().len() == 1 && dir.is_internal() {
        Some(TEMP_DIR)
    } else {
        None
    };
    let mut out = Vec::new();
    for name in dir_names(fd).map_err(StorageError::Io)? {
        if hidden == Some(name.as_str()) {
            continue;
        }
        // A name no path can hold (a `\`, a control character) could never be read or renamed.
        let Ok(path) = dir.join(&name) else { continue };
        // Gone since the folder was read: skipped, as if read a moment later.
        let Some(st) = stat_at(fd, &name)? else {
            continue;
        };
        if kind_of(&st) != Kind::Other {
            out.push((path, entry_from(&name, &st)));
        }
    }
    Ok(out)
}

/// Appends every visible item below the folder `fd` (at `dir`), depth first.
fn walk_into(fd: &OwnedFd, dir: &StoragePath, out: &mut Vec<(StoragePath, Entry)>) -> Result<()> {
    for (path, entry) in read_entries(fd, dir)? {
        let is_dir = entry.kind == EntryKind::Dir;
        let name = entry.name.clone();
        out.push((path.clone(), entry));
        if is_dir {
            match rustix::fs::openat(fd, name.as_str(), DIR_FLAGS, Mode::empty()) {
                Ok(child) => walk_into(&child, &path, out)?,
                // Removed or replaced by a link since it was listed.
                Err(Errno::NOENT | Errno::NOTDIR | Errno::LOOP) => {}
                Err(e) => return Err(io_error(e)),
            }
        }
    }
    Ok(())
}

/// `lstat` of one name in a folder; `None` if there is nothing by that name.
fn stat_at(dir: &OwnedFd, name: &str) -> Result<Option<Stat>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(io_error(e)),
    }
}

/// Why the folder `name` in `parent` could not be opened, in the adapter's terms: a link or a
/// missing name is `NotFound`, a file is `NotADirectory`.
fn dir_open_error(parent: &OwnedFd, name: &str, e: Errno, full: &StoragePath) -> StorageError {
    match e {
        Errno::NOENT | Errno::LOOP => not_found(full),
        // With O_NOFOLLOW | O_DIRECTORY Linux answers ENOTDIR for a link too: look closer.
        Errno::NOTDIR => match rustix::fs::statat(parent, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if kind_of(&st) == Kind::File => StorageError::NotADirectory(full.to_string()),
            _ => not_found(full),
        },
        e => io_error(e),
    }
}

/// Flushes a folder's entries (a created, renamed or removed name) to disk. A failure is logged,
/// not returned: the change is already visible, and reporting it as failed would make callers
/// believe the opposite of what readers see.
fn sync_dir(dir: &impl AsFd) {
    match rustix::fs::fsync(dir) {
        // Some filesystems do not sync folders at all.
        Ok(()) => {}
        Err(e) if e == Errno::INVAL || unsupported(e) => {}
        Err(e) => tracing::warn!(error = %e, "cannot sync a folder after a change"),
    }
}

/// `ENOTSUP` or `EOPNOTSUPP`: one value on Linux, two elsewhere.
fn unsupported(e: Errno) -> bool {
    e == Errno::NOTSUP || e == Errno::OPNOTSUPP
}

fn kind_of(st: &Stat) -> Kind {
    match FileType::from_raw_mode(stat_mode(st)) {
        FileType::RegularFile => Kind::File,
        FileType::Directory => Kind::Dir,
        _ => Kind::Other,
    }
}

fn entry_from(name: &str, st: &Stat) -> Entry {
    let kind = kind_of(st);
    Entry {
        name: name.to_owned(),
        kind: if kind == Kind::Dir { EntryKind::Dir } else { EntryKind::File },
        size: if kind == Kind::File { stat_size(st) } else { 0 },
        modified: stat_mtime(st),
    }
}

// The field types of `struct stat` differ between architectures (`c_long` here, `i64` there),
// so these casts are needed on some targets and no-ops on others.
#[allow(clippy::unnecessary_cast, reason = "stat field types vary by architecture")]
fn stat_mode(st: &Stat) -> rustix::fs::RawMode {
    st.st_mode as rustix::fs::RawMode
}

#[allow(clippy::unnecessary_cast, reason = "stat field types vary by architecture")]
fn stat_size(st: &Stat) -> u64 {
    u64::try_from(st.st_size as i64).unwrap_or(0)
}

#[allow(clippy::unnecessary_cast, reason = "stat field types vary by architecture")]
fn stat_mtime(st: &Stat) -> DateTime<Utc> {
    let nanos = u32::try_from(st.st_mtime_nsec as i64).unwrap_or(0);
    DateTime::from_timestamp(st.st_mtime as i64, nanos).unwrap_or(DateTime::UNIX_EPOCH)
}

fn not_found(path: &StoragePath) -> StorageError {
    StorageError::NotFound(path.to_string())
}

fn io_error(e: Errno) -> StorageError {
    StorageError::Io(e.into())
}
