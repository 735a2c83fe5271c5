//! The in-memory adapter: a tree of folders and files behind one lock, for tests and for
//! programs that embed docbridge without a disk.
//!
//! It follows the filesystem adapter's semantics, error for error (the conformance suite in
//! [`crate::suite`] checks both): a write gathers its stream aside and swaps the content in only
//! once the stream has ended well within the limit, so readers never see a partial file and a
//! failed write changes nothing. The bookkeeping folder ([`INTERNAL_DIR`]) exists from the start,
//! as on disk, and is never listed or walked from the root.

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use futures::StreamExt;

use crate::path::INTERNAL_DIR;
use crate::{ByteStream, Entry, EntryKind, Result, Storage, StorageError, StoragePath, WriteMode, limited};

/// The serial of the next file written, across every `MemoryStorage` of the process.
static NEXT_SERIAL: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);

/// Bytes per chunk of a read stream, as on disk, so that consumers see realistic chunking.
const READ_CHUNK: usize = 256 * 1024;

/// A library held in memory. Everything is lost when it is dropped.
#[derive(Debug)]
pub struct MemoryStorage {
    root: RwLock<Node>,
}

#[derive(Debug)]
enum Node {
    /// `Bytes` makes a read a cheap, shared view: a reader keeps the content it started with
    /// even if the file is replaced meanwhile.
    File {
        data: Bytes,
        modified: DateTime<Utc>,
        /// Which write made this file (moves keep it): what a `Replace` checks at its commit.
        serial: u64,
    },
    Dir {
        children: BTreeMap<String, Node>,
        modified: DateTime<Utc>,
    },
}

impl Node {
    fn empty_dir() -> Self {
        Node::Dir { children: BTreeMap::new(), modified: Utc::now() }
    }

    fn entry(&self, name: &str) -> Entry {
        match self {
            Node::File { data, modified, .. } => {
                Entry { name: name.to_owned(), kind: EntryKind::File, size: data.len() as u64, modified: *modified }
            }
            Node::Dir { modified, .. } => {
                Entry { name: name.to_owned(), kind: EntryKind::Dir, size: 0, modified: *modified }
            }
        }
    }
}

impl Default for MemoryStorage {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStorage {
    /// An empty library (with only the bookkeeping folder, which listings never show).
    pub fn new() -> Self {
        let mut children = BTreeMap::new();
        children.insert(INTERNAL_DIR.to_owned(), Node::empty_dir());
        Self { root: RwLock::new(Node::Dir { children, modified: Utc::now() }) }
    }

    // Poisoning is ignored: every change below is prepared first and applied by steps that
    // cannot panic, so a panicking holder cannot have left the tree half-changed.
    fn tree(&self) -> RwLockReadGuard<'_, Node> {
        self.root.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn tree_mut(&self) -> RwLockWriteGuard<'_, Node> {
        self.root.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The node at `path`: `NotFound` for a missing name, `NotADirectory` when a file stands where
/// a folder is needed on the way.
fn lookup<'t>(root: &'t Node, path: &StoragePath) -> Result<&'t Node> {
    let mut node = root;
    for name in path.components() {
        node = match node {
            Node::Dir { children, .. } => children.get(name).ok_or_else(|| StorageError::NotFound(path.to_string()))?,
            Node::File { .. } => return Err(StorageError::NotADirectory(path.to_string())),
        };
    }
    Ok(node)
}

/// The children (and modification time) of the folder that holds `path`, which is not the root.
fn parent_mut<'t>(
    root: &'t mut Node,
    path: &StoragePath,
) -> Result<(&'t mut BTreeMap<String, Node>, &'t mut DateTime<Utc>)> {
    let Some((_, parents)) = path.components().split_last() else {
        return Err(StorageError::InvalidPath("the root has no parent".to_owned()));
    };
    let mut node = root;
    for name in parents {
        node = match node {
            Node::Dir { children, .. } => {
                children.get_mut(name).ok_or_else(|| StorageError::NotFound(path.to_string()))?
            }
            Node::File { .. } => return Err(StorageError::NotADirectory(path.to_string())),
        };
    }
    match node {
        Node::Dir { children, modified } => Ok((children, modified)),
        Node::File { .. } => Err(StorageError::NotADirectory(path.to_string())),
    }
}

/// The same check as on disk: a write needs its parent folder, and may not land on a folder
/// (nor on anything for `CreateNew`).
/// Answers the serial of the file a `Replace` would replace (`None` where the name is free).
fn check_write_target(root: &Node, path: &StoragePath, mode: WriteMode) -> Result<Option<u64>> {
    let Some(parent) = path.parent() else {
        return Err(StorageError::IsADirectory(path.to_string()));
    };
    let Node::Dir { children, .. } = lookup(root, &parent)? else {
        return Err(StorageError::NotADirectory(path.to_string()));
    };
    match (children.get(path.name()), mode) {
        (None, _) => Ok(None),
        (Some(Node::File { serial, .. }), WriteMode::Replace) => Ok(Some(*serial)),
        (Some(Node::Dir { .. }), WriteMode::Replace) => Err(StorageError::IsADirectory(path.to_string())),
        (Some(_), WriteMode::CreateNew) => Err(StorageError::AlreadyExists(path.to_string())),
    }
}

fn walk_into(node: &Node, dir: &StoragePath, out: &mut Vec<(StoragePath, Entry)>) -> Result<()> {
    let Node::Dir { children, .. } = node else {
        return Err(StorageError::NotADirectory(dir.to_string()));
    };
    for (name, child) in children {
        if dir.is_root() && name == INTERNAL_DIR {
            continue;
        }
        let path = dir.join(name)?;
        out.push((path.clone(), child.entry(name)));
        if matches!(child, Node::Dir { .. }) {
            walk_into(child, &path, out)?;
        }
    }
    Ok(())
}

#[async_trait::async_trait]
impl Storage for MemoryStorage {
    fn kind(&self) -> &'static str {
        "memory"
    }

    async fn stat(&self, path: &StoragePath) -> Result<Entry> {
        Ok(lookup(&self.tree(), path)?.entry(path.name()))
    }

    async fn list(&self, dir: &StoragePath) -> Result<Vec<Entry>> {
        let tree = self.tree();
        let Node::Dir { children, .. } = lookup(&tree, dir)? else {
            return Err(StorageError::NotADirectory(dir.to_string()));
        };
        Ok(children
            .iter()
            .filter(|(name, _)| !(dir.is_root() && *name == INTERNAL_DIR))
            .map(|(name, node)| node.entry(name))
            .collect())
    }

    async fn walk(&self, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>> {
        let tree = self.tree();
        let mut out = Vec::new();
        walk_into(lookup(&tree, dir)?, dir, &mut out)?;
        Ok(out)
    }

    async fn read(&self, path: &StoragePath, range: Option<Range<u64>>) -> Result<ByteStream> {
        let data = match lookup(&self.tree(), path)? {
            Node::File { data, .. } => data.clone(),
            Node::Dir { .. } => return Err(StorageError::IsADirectory(path.to_string())),
        };
        let size = data.len() as u64;
        let (start, end) = match range {
            Some(r) => (r.start.min(size), r.end.min(size).max(r.start.min(size))),
            None => (0, size),
        };
        // Both bounds are at most `data.len()`, so they fit in `usize`.
        let data = data.slice(usize::try_from(start).unwrap_or(0)..usize::try_from(end).unwrap_or(0));
        let chunks: Vec<std::io::Result<Bytes>> =
            (0..data.len()).step_by(READ_CHUNK).map(|at| Ok(data.slice(at..data.len().min(at + READ_CHUNK)))).collect();
        Ok(Box::pin(futures::stream::iter(chunks)))
    }

    async fn write(&self, path: &StoragePath, data: ByteStream, mode: WriteMode, limit: Option<u64>) -> Result<Entry> {
        // Fail before reading the upload when the write is doomed anyway; checked again below.
        let replaced = check_write_target(&self.tree(), path, mode)?;
        let mut data = limited(data, limit);
        let mut buffer = BytesMut::new();
        while let Some(chunk) = data.next().await {
            buffer.extend_from_slice(&chunk?);
        }
        let now = Utc::now();
        let serial = NEXT_SERIAL.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let node = Node::File { data: buffer.freeze(), modified: now, serial };
        let entry = node.entry(path.name());

        let mut tree = self.tree_mut();
        // A `Replace` replaces only the file it started from (see `WriteMode::Replace`).
        if check_write_target(&tree, path, mode)? != replaced {
            return Err(StorageError::Changed(path.to_string()));
        }
        let (children, modified) = parent_mut(&mut tree, path)?;
        children.insert(path.name().to_owned(), node);
        *modified = now;
        Ok(entry)
    }

    async fn create_dir(&self, path: &StoragePath) -> Result<Entry> {
        if path.is_root() {
            return Err(StorageError::AlreadyExists(path.to_string()));
        }
        let mut tree = self.tree_mut();
        let (children, modified) = parent_mut(&mut tree, path)?;
        if children.contains_key(path.name()) {
            return Err(StorageError::AlreadyExists(path.to_string()));
        }
        let node = Node::empty_dir();
        let entry = node.entry(path.name());
        *modified = Utc::now();
        children.insert(path.name().to_owned(), node);
        Ok(entry)
    }

    async fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        let internal_root = StoragePath::internal(&[])?;
        for path in [from, to] {
            if path.is_root() || *path == internal_root {
                return Err(StorageError::InvalidPath(format!("{path} cannot be moved or replaced")));
            }
        }
        let mut tree = self.tree_mut();
        // The same order of checks as on disk, so both adapters give the same error.
        lookup(&tree, from)?;
        if to == from {
            return Err(StorageError::AlreadyExists(to.to_string()));
        }
        if to.starts_with(from) {
            return Err(StorageError::InvalidPath(format!("cannot move {from} into itself ({to})")));
        }
        let (children, _) = parent_mut(&mut tree, to)?;
        if children.contains_key(to.name()) {
            return Err(StorageError::AlreadyExists(to.to_string()));
        }
        let now = Utc::now();
        let (children, modified) = parent_mut(&mut tree, from)?;
        let node = children.remove(from.name()).ok_or_else(|| StorageError::NotFound(from.to_string()))?;
        *modified = now;
        // Cannot fail: `to`'s parent was found above and is not below `from`, so removing
        // `from` left it in place.
        let (children, modified) = parent_mut(&mut tree, to)?;
        children.insert(to.name().to_owned(), node);
        *modified = now;
        Ok(())
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        if path.is_root() || *path == StoragePath::internal(&[])? {
            return Err(StorageError::InvalidPath(format!("{path} cannot be deleted")));
        }
        let mut tree = self.tree_mut();
        let (children, modified) = parent_mut(&mut tree, path)?;
        children.remove(path.name()).ok_or_else(|| StorageError::NotFound(path.to_string()))?;
        *modified = Utc::now();
        Ok(())
    }
}
