//! One integration's documents: its storage adapter, its slice of the index, and the rules that
//! resolve IDs for a caller.

use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use docbridge_protocol::{ItemId, ItemKind};
use docbridge_registry::{ChangeLock, ItemRecord, ItemsSeen, LockMode, Registry, Role};
use docbridge_storage::{Storage, StoragePath};

use crate::{DocumentsError, ItemView, Result};

/// What `/uploadInit` does when the file name is taken in the folder (C13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConflictPolicy {
    /// Give the new item a free name: `report (1).pdf`.
    #[default]
    Rename,
    /// Answer 409.
    Reject,
    /// The finished upload becomes the new content of the existing file, same ID.
    Replace,
}

/// Settings every library shares (from the server's configuration).
#[derive(Debug, Clone)]
pub struct LibrarySettings {
    /// The largest upload accepted, in bytes.
    pub max_upload_bytes: u64,
    /// What `/uploadInit` does when the name is taken.
    pub conflict_policy: ConflictPolicy,
    /// How long an `/uploadInit` waits for its bytes.
    pub reservation_ttl: chrono::Duration,
    /// How long deleted items stay in the trash.
    pub trash_retention: chrono::Duration,
    /// Where rendered thumbnails are cached (a cache: safe to delete).
    pub cache_dir: PathBuf,
    /// Files larger than this get their type icon as thumbnail rather than being decoded.
    pub max_thumbnail_source_bytes: u64,
    /// How many thumbnails render at once, how long a request waits for a turn, and the
    /// renders concurrent requests share: one value for every library of the process.
    pub thumbnails: crate::ThumbnailLimits,
    /// How much of a text-like file's beginning is indexed for full-text search.
    pub max_indexed_bytes: u64,
}

impl Default for LibrarySettings {
    fn default() -> Self {
        LibrarySettings {
            max_upload_bytes: 5 * 1024 * 1024 * 1024,
            conflict_policy: ConflictPolicy::Rename,
            reservation_ttl: chrono::Duration::hours(24),
            trash_retention: chrono::Duration::days(30),
            cache_dir: std::env::temp_dir().join("docbridge-cache"),
            max_thumbnail_source_bytes: 64 * 1024 * 1024,
            thumbnails: crate::ThumbnailLimits::default(),
            max_indexed_bytes: 1024 * 1024,
        }
    }
}

/// Who is calling, with their effective permission in this integration (C5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The Workfront username the call acts for.
    pub username: String,
    /// Their role in this integration.
    pub role: Role,
    /// When set, the caller sees only this folder, which is their root.
    pub folder: Option<ItemId>,
    /// The integration's item generation as the request read it at its start
    /// ([`docbridge_registry::AccessSnapshot::items_seen`]): when set, read-only lookups
    /// (`/metadata`, downloads, thumbnails, listings) may answer item records from the
    /// process's cache under it. `None`: every lookup reads the database.
    pub items_seen: Option<ItemsSeen>,
}

impl Caller {
    /// Whether the caller may change documents (an editor).
    pub fn can_write(&self) -> bool {
        self.role == Role::Editor
    }

    pub(crate) fn require_write(&self) -> Result<()> {
        if self.can_write() {
            Ok(())
        } else {
            Err(DocumentsError::Forbidden(format!("{} may not change documents here", self.username)))
        }
    }
}

/// An ID resolved for a caller.
#[derive(Debug, Clone)]
pub enum Resolved {
    /// The library root (the caller's root when not confined).
    Root,
    /// Any other item the caller may see.
    Item(ItemRecord),
}

/// One integration's documents.
pub struct Library {
    pub(crate) integration_id: i64,
    pub(crate) title: String,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) registry: Registry,
    pub(crate) settings: Arc<LibrarySettings>,
}

impl std::fmt::Debug for Library {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Library")
            .field("integration_id", &self.integration_id)
            .field("storage", &self.storage.kind())
            .finish()
    }
}

impl Library {
    /// `title` is what the root folder is called (the integration's name).
    pub fn new(
        integration_id: i64,
        title: impl Into<String>,
        storage: Arc<dyn Storage>,
        registry: Registry,
        settings: Arc<LibrarySettings>,
    ) -> Self {
        Library { integration_id, title: title.into(), storage, registry, settings }
    }

    /// The library's change lock, in every process sharing the registry (`Registry::change_lock`):
    /// exclusive for changes (their name checks, storage, then the index), shared for listings'
    /// and rescans' reconciles, which must not see a change half done in any process.
    pub(crate) async fn lock(&self, mode: LockMode) -> Result<ChangeLock> {
        Ok(self.registry.change_lock(self.integration_id, mode).await?)
    }

    /// The storage adapter the library lives on.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The settings the library was opened with.
    pub fn settings(&self) -> &LibrarySettings {
        &self.settings
    }

    /// Resolves an ID for a caller: unknown IDs, and IDs outside a confined caller's folder, are
    /// not found (never "forbidden", which would confirm they exist).
    pub async fn resolve(&self, caller: &Caller, id: &ItemId) -> Result<Resolved> {
        Ok(self.resolve_noting_moves(caller, id).await?.0)
    }

    /// [`Library::resolve`], and whether a move of the item was recorded and not finished (see
    /// `Registry::item_noting_moves`), from the same lookup.
    pub(crate) async fn resolve_noting_moves(&self, caller: &Caller, id: &ItemId) -> Result<(Resolved, bool)> {
        self.resolve_seen(caller, id, None).await
    }

    /// [`Library::resolve_noting_moves`] for an answer that changes nothing: records may come
    /// from the process's item cache, current as of the caller's `items_seen` (the start of
    /// the request). A change must resolve afresh, under its lock.
    pub(crate) async fn resolve_for_reading(&self, caller: &Caller, id: &ItemId) -> Result<(Resolved, bool)> {
        self.resolve_seen(caller, id, caller.items_seen).await
    }

    async fn resolve_seen(&self, caller: &Caller, id: &ItemId, seen: Option<ItemsSeen>) -> Result<(Resolved, bool)> {
        let lookup = |id: &ItemId| {
            let id = id.clone();
            async move {
                let found = self.registry.item_noting_moves_seen(seen, self.integration_id, &id).await?;
                found.ok_or_else(|| not_found(&id))
            }
        };
        let confinement = match &caller.folder {
            Some(folder) => Some(lookup(folder).await?.0),
            None => None,
        };
        if id.is_root() {
            return Ok((confinement.map_or(Resolved::Root, Resolved::Item), false));
        }
        let (record, moving) = lookup(id).await?;
        if let Some(folder) = &confinement {
            let inside = record.path == folder.path || record.path.starts_with(&format!("{}/", folder.path));
            if !inside {
                return Err(not_found(id));
            }
        }
        Ok((Resolved::Item(record), moving))
    }

    /// Resolves an ID that must be a folder (`parentId`): a file's ID is a 400 (C9).
    pub async fn resolve_folder(&self, caller: &Caller, field: &'static str, id: &ItemId) -> Result<Resolved> {
        let resolved = self.resolve(caller, id).await?;
        if let Resolved::Item(record) = &resolved
            && record.kind != ItemKind::Folder
        {
            return Err(DocumentsError::invalid(field, format!("{id} is a file, not a folder")));
        }
        Ok(resolved)
    }

    /// The storage path and index ID of a resolved item.
    pub(crate) fn location(resolved: &Resolved) -> Result<(StoragePath, ItemId, String)> {
        match resolved {
            Resolved::Root => Ok((StoragePath::root(), ItemId::root(), String::new())),
            Resolved::Item(record) => {
                let path = StoragePath::parse(&record.path)
                    .map_err(|e| DocumentsError::Internal(format!("indexed path {:?}: {e}", record.path)))?;
                Ok((path, record.id.clone(), record.path.clone()))
            }
        }
    }

    /// The record that stands for the root folder in answers.
    pub(crate) fn root_record(&self, modified: DateTime<Utc>) -> ItemRecord {
        ItemRecord {
            id: ItemId::root(),
            integration_id: self.integration_id,
            parent_id: ItemId::root(),
            path: String::new(),
            name: self.title.clone(),
            kind: ItemKind::Folder,
            size: 0,
            modified,
            locked: false,
            indexed_version: None,
        }
    }

    /// The answer for one record: MIME type from the name, or from the first bytes when the
    /// extension says nothing (C7), and the caller's effective permission.
    pub(crate) async fn view(&self, caller: &Caller, record: ItemRecord) -> ItemView {
        let mime_type = match record.kind {
            ItemKind::Folder => String::new(),
            ItemKind::File => {
                let by_name = crate::mime::detect_mime(&record.name, &[]);
                if by_name == crate::mime::OCTET_STREAM && record.size > 0 {
                    // Sniffing costs a file open and read; listings show the same files again
                    // and again, so the answer is remembered for this content version.
                    let key = (self.integration_id, record.id.clone(), record.version());
                    let known = sniffed_types().lock().unwrap_or_else(|e| e.into_inner()).get(&key).cloned();
                    match known {
                        Some(mime) => mime,
                        None => {
                            let head = self.read_head(&record, 8192).await.unwrap_or_default();
                            let mime = crate::mime::detect_mime(&record.name, &head);
                            let mut cache = sniffed_types().lock().unwrap_or_else(|e| e.into_inner());
                            if cache.len() >= SNIFFED_TYPES_CAPACITY {
                                // Crude but bounded: start again rather than track recency.
                                cache.clear();
                            }
                            cache.insert(key, mime.clone());
                            mime
                        }
                    }
                } else {
                    by_name
                }
            }
        };
        let read_only = !caller.can_write() || record.locked;
        ItemView { record, mime_type, read_only }
    }

    /// Up to `limit` bytes from the start of a file.
    pub(crate) async fn read_head(&self, record: &ItemRecord, limit: u64) -> Result<Vec<u8>> {
        use futures::TryStreamExt;
        let path = StoragePath::parse(&record.path).map_err(DocumentsError::from)?;
        let mut stream = self.storage.read(&path, Some(0..limit)).await?;
        let mut head = Vec::new();
        while let Some(chunk) = stream.try_next().await.map_err(|e| DocumentsError::Storage(e.into()))? {
            head.extend_from_slice(&chunk);
            if head.len() as u64 >= limit {
                break;
            }
        }
        head.truncate(limit as usize);
        Ok(head)
    }
}

/// How many sniffed types [`Library::view`] remembers (some 100 bytes each).
const SNIFFED_TYPES_CAPACITY: usize = 16 * 1024;

/// Sniffed MIME types by integration, item ID and content version.
type SniffedTypes = std::sync::Mutex<std::collections::HashMap<(i64, ItemId, String), String>>;

/// Types found from files' first bytes, by integration, item and content version (a new
/// version is a new key, so nothing stale is ever answered). Process-wide rather than a field
/// of `Library`, so that a library rebuilt after its integration changed keeps what was found.
fn sniffed_types() -> &'static SniffedTypes {
    static CACHE: std::sync::OnceLock<SniffedTypes> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

pub(crate) fn not_found(id: &ItemId) -> DocumentsError {
    DocumentsError::NotFound(format!("no item with ID {id}"))
}

/// Checks a new item name and returns the spelling to use (NFC): the protocol's rules
/// (`docbridge_protocol::new_name`), and never the name of docbridge's own bookkeeping folder
/// (which storage keeps at the root of every library).
pub(crate) fn validate_new_name(field: &'static str, name: &str) -> Result<String> {
    let name = docbridge_protocol::new_name(field, name)?;
    if name == docbridge_storage::INTERNAL_DIR {
        return Err(DocumentsError::invalid(field, format!("{name:?} is reserved")));
    }
    Ok(name)
}
