//! Reading endpoints: `/metadata`, `/files`, `/search` (C7, C9, C10).

use docbridge_protocol::{ItemId, ItemKind};
use docbridge_registry::{ItemRecord, ObservedItem};
use docbridge_storage::{EntryKind, Opened, StorageError, StoragePath};

use crate::library::not_found;
use crate::{Caller, DocumentsError, ItemView, Library, Resolved, Result};

/// `/search` answers at most this many items unless `max` says otherwise (C10).
pub const DEFAULT_SEARCH_MAX: u64 = 100;
const MAX_SEARCH_TERMS: usize = 16;
const MAX_QUERY_CHARS: usize = 1000;
/// Items of one answer whose views are worked out at once: enough to overlap the reads of the
/// few files whose type needs their first bytes, few enough not to flood the blocking pool.
const VIEW_CONCURRENCY: usize = 16;

/// The sort key of a listing: folders first, then names case-insensitively, then ID (C9).
/// Used with `sort_by_cached_key`, so each name is lower-cased once, not at every comparison.
pub(crate) fn listing_key(r: &ItemRecord) -> (u8, String, ItemId) {
    (if r.kind == ItemKind::Folder { 0 } else { 1 }, r.name.to_lowercase(), r.id.clone())
}

fn page<T>(items: Vec<T>, max: Option<u64>, offset: Option<u64>) -> Vec<T> {
    let offset = usize::try_from(offset.unwrap_or(0)).unwrap_or(usize::MAX);
    let max = max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
    items.into_iter().skip(offset).take(max).collect()
}

/// Names on which a folder's listing and index disagree, beyond which they are listed again
/// rather than looked at one by one (`reconciled_children`).
const RECHECKED_NAMES: usize = 64;

fn observed_item(e: docbridge_storage::Entry) -> ObservedItem {
    ObservedItem {
        kind: if e.kind == EntryKind::Dir { ItemKind::Folder } else { ItemKind::File },
        size: if e.kind == EntryKind::Dir { 0 } else { e.size },
        name: e.name,
        modified: e.modified,
    }
}

/// The names present on one side only, of another kind, or (files) of another size or date.
fn differing_names(known: &[ItemRecord], observed: &[ObservedItem]) -> std::collections::BTreeSet<String> {
    use std::collections::{BTreeSet, HashMap, HashSet};
    let indexed: HashMap<&str, &ItemRecord> = known.iter().map(|r| (r.name.as_str(), r)).collect();
    let seen_names: HashSet<&str> = observed.iter().map(|o| o.name.as_str()).collect();
    let mut differing: BTreeSet<String> =
        known.iter().filter(|r| !seen_names.contains(r.name.as_str())).map(|r| r.name.clone()).collect();
    for seen in observed {
        if !indexed.get(seen.name.as_str()).is_some_and(|record| seen.agrees_with(record)) {
            differing.insert(seen.name.clone());
        }
    }
    differing
}

impl Library {
    /// `/metadata`: one item, with size and date fresh from storage.
    pub async fn metadata(&self, caller: &Caller, id: &ItemId) -> Result<ItemView> {
        Ok(self.look_at(caller, id, false).await?.0)
    }

    /// One item with size and date fresh from storage, and the means to read its bytes: with
    /// `open`, a file is opened ([`Storage::open`](docbridge_storage::Storage::open)) so that
    /// what is read is the file that was described; otherwise it is only `stat`ed.
    pub(crate) async fn look_at(&self, caller: &Caller, id: &ItemId, open: bool) -> Result<(ItemView, Opened)> {
        let probe = async |path: &StoragePath| {
            if open {
                self.storage.open(path).await
            } else {
                Ok(Opened::by_path(path.clone(), self.storage.stat(path).await?))
            }
        };
        let mut resolved = self.resolve_completing_for_reading(caller, id).await?;
        let (path, _, _) = Library::location(&resolved)?;
        let opened = match probe(&path).await {
            Ok(opened) => opened,
            Err(StorageError::NotFound(_)) => {
                // Renamed, moved or deleted by a change since it was resolved, or removed
                // behind our back: look again while no change is under way.
                let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
                // Or moved by a process that died before telling the index: complete that first.
                self.settle_pending_moves().await?;
                resolved = self.resolve(caller, id).await?;
                let (path, _, _) = Library::location(&resolved)?;
                match probe(&path).await {
                    Ok(opened) => opened,
                    Err(StorageError::NotFound(_)) => return Err(self.forget(&resolved, id, true).await),
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        };
        let entry = &opened.entry;
        let record = match resolved {
            Resolved::Root => self.root_record(entry.modified),
            Resolved::Item(mut record) => {
                if record.kind == ItemKind::File
                    && (record.size != entry.size
                        || record.modified.timestamp_millis() != entry.modified.timestamp_millis())
                {
                    self.registry
                        .update_item_content(self.integration_id, &record.id, entry.size, entry.modified)
                        .await?;
                    record.size = entry.size;
                    record.modified = entry.modified;
                }
                if id.is_root() {
                    // A confined caller's root is their folder, but it answers as `/`.
                    record.id = ItemId::root();
                }
                record
            }
        };
        Ok((self.view(caller, record).await, opened))
    }

    /// `/files`: a folder's children, reconciled with storage so that files copied in by other
    /// means appear with IDs of their own.
    pub async fn list(
        &self,
        caller: &Caller,
        parent: &ItemId,
        max: Option<u64>,
        offset: Option<u64>,
    ) -> Result<Vec<ItemView>> {
        if let Some(mut children) = self.agreeing_children(caller, parent).await? {
            children.sort_by_cached_key(listing_key);
            return Ok(self.views(caller, page(children, max, offset)).await);
        }
        // Reconciling under `changes` (shared with other listings, exclusive of changes): a
        // rename, delete or upload between reading storage and reading the index would
        // otherwise make the index drop the item (its file then comes back under a new ID).
        // Listings do not wait for each other: concurrent reconciles of one folder were always
        // safe (unique paths in the index).
        let guard = self.lock(docbridge_registry::LockMode::Shared).await?;
        let shared = match self.resolve_folder(caller, "parentId", parent).await {
            Ok(resolved) => self.reconciled_children_shared(&resolved, parent).await,
            Err(e) => Err(e),
        };
        drop(guard);
        let retry = match &shared {
            Ok(None) => true,
            Err(DocumentsError::NotFound(_)) => !self.registry.pending_moves(self.integration_id).await?.is_empty(),
            _ => false,
        };
        let mut children = if retry {
            // A move was left unfinished (a process died inside it, or storage failed it):
            // settling it may change storage, which only the exclusive lock allows (several
            // listings rolling one S3 move forward at once left traces that were listed as a
            // folder under a new ID; found by `cargo xtask chaos`).
            let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
            self.settle_pending_moves().await?;
            let resolved = self.resolve_folder(caller, "parentId", parent).await?;
            self.reconciled_children(&resolved, parent).await?
        } else {
            shared?.unwrap_or_default()
        };
        children.sort_by_cached_key(listing_key);
        Ok(self.views(caller, page(children, max, offset)).await)
    }

    /// A folder's children when the index already agrees with storage, read without the change
    /// lock (on PostgreSQL that lock is two more statements on one connection per process,
    /// which every listing queued for); `None` when anything needs a look under the lock: a
    /// difference, a folder storage does not have, a move of the folder left unfinished, any
    /// error (the locked path answers it). Nothing is written here, and a change in progress
    /// cannot hide in the answer: changes write storage first, then the index, and storage is
    /// read first here, so a change between the two reads shows as a difference.
    async fn agreeing_children(&self, caller: &Caller, parent: &ItemId) -> Result<Option<Vec<ItemRecord>>> {
        let resolved = match self.resolve_for_reading(caller, parent).await {
            Ok((resolved, false)) => resolved,
            _ => return Ok(None),
        };
        if matches!(&resolved, Resolved::Item(record) if record.kind != ItemKind::Folder) {
            return Ok(None);
        }
        let (path, folder_id, _) = Library::location(&resolved)?;
        let Ok(entries) = self.storage.list(&path).await else { return Ok(None) };
        let observed: Vec<ObservedItem> = entries.into_iter().map(observed_item).collect();
        let known = self.registry.children_seen(caller.items_seen, self.integration_id, &folder_id).await?;
        Ok(differing_names(&known, &observed).is_empty().then_some(known))
    }

    /// Views of many records, in order. The few that need their first bytes read (no telling
    /// extension) are read concurrently rather than one after the other.
    async fn views(&self, caller: &Caller, records: Vec<ItemRecord>) -> Vec<ItemView> {
        use futures::StreamExt;
        futures::stream::iter(records)
            .map(|record| self.view(caller, record))
            .buffered(VIEW_CONCURRENCY)
            .collect()
            .await
    }

    /// The children of a resolved folder, with the index brought up to date first. The caller
    /// holds `changes` exclusively: reconciling while a change of this process is half done
    /// (storage moved, index not yet) would undo that change in the index, and settling an
    /// unfinished move may change storage.
    pub(crate) async fn reconciled_children(&self, resolved: &Resolved, requested: &ItemId) -> Result<Vec<ItemRecord>> {
        let children = self.reconcile(resolved, requested, true).await?;
        Ok(children.unwrap_or_default())
    }

    /// [`Library::reconciled_children`] for a caller holding `changes` shared (listings, the
    /// rescan), which must not change storage: `None` when the folder differs from the index and
    /// a move is left unfinished, to be settled under the exclusive lock first.
    pub(crate) async fn reconciled_children_shared(
        &self,
        resolved: &Resolved,
        requested: &ItemId,
    ) -> Result<Option<Vec<ItemRecord>>> {
        self.reconcile(resolved, requested, false).await
    }

    async fn reconcile(
        &self,
        resolved: &Resolved,
        requested: &ItemId,
        exclusive: bool,
    ) -> Result<Option<Vec<ItemRecord>>> {
        let (path, folder_id, folder_path) = Library::location(resolved)?;
        let mut observed = self.observe(&path, resolved, requested, exclusive).await?;
        // The usual case: the index already agrees, and one query answers.
        let known = self.registry.children(self.integration_id, &folder_id).await?;
        let differing = differing_names(&known, &observed);
        if differing.is_empty() {
            return Ok(Some(known));
        }
        // A move whose process died between storage and index shows here as a difference:
        // complete it first, so that its file keeps its ID instead of being indexed anew.
        let held = if exclusive {
            self.settle_pending_moves().await?
        } else if self.registry.pending_moves(self.integration_id).await?.is_empty() {
            std::collections::HashSet::new()
        } else {
            return Ok(None);
        };
        // Storage may have changed since it was listed, by another process sharing the library
        // (which this process's lock does not hold back): a change there writes storage first,
        // then the index. Each name on which the listing and the index disagree is looked at
        // again, after the index was read, so that a stale listing neither drops an entry that
        // other process has just indexed (its ID would be lost) nor indexes a name that has
        // just left. Many differences (a first listing, a bulk copy) are read again in one
        // listing instead, to spare object stores a request per name.
        if differing.len() > RECHECKED_NAMES {
            observed = self.observe(&path, resolved, requested, exclusive).await?;
        } else {
            observed.retain(|o| !differing.contains(o.name.as_str()));
            for name in differing {
                let child = path.join(&name).map_err(DocumentsError::from)?;
                match self.storage.stat(&child).await {
                    Ok(entry) => observed.push(observed_item(entry)),
                    Err(StorageError::NotFound(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        if !held.is_empty() {
            observed.retain(|o| !held.contains(&docbridge_registry::child_path(&folder_path, &o.name)));
        }
        Ok(Some(self.registry.reconcile_children(self.integration_id, &folder_id, &folder_path, &observed).await?))
    }

    /// What storage holds in the folder at `path`; a folder gone from storage is forgotten.
    async fn observe(
        &self,
        path: &StoragePath,
        resolved: &Resolved,
        requested: &ItemId,
        exclusive: bool,
    ) -> Result<Vec<ObservedItem>> {
        match self.storage.list(path).await {
            Ok(entries) => Ok(entries.into_iter().map(observed_item).collect()),
            Err(StorageError::NotFound(_)) => Err(self.forget(resolved, requested, exclusive).await),
            Err(StorageError::NotADirectory(_)) => Err(DocumentsError::invalid("parentId", "is a file, not a folder")),
            Err(e) => Err(e.into()),
        }
    }

    /// An indexed item that storage no longer has was removed behind our back: drop it from the
    /// index and answer 404. The caller holds `changes` (`exclusive`: exclusively); the item is
    /// dropped only if the index still has it where it was resolved (a change may have moved it
    /// since, and another item may have taken its old path). Under the shared lock, with a move
    /// left unfinished, nothing is dropped: that move may have taken it, and only the exclusive
    /// lock may settle it (the caller looks again under it).
    async fn forget(&self, resolved: &Resolved, id: &ItemId, exclusive: bool) -> DocumentsError {
        if let Resolved::Item(record) = resolved {
            // Moved by a process that died before telling the index: complete that instead.
            if exclusive {
                if let Err(e) = self.settle_pending_moves().await {
                    tracing::warn!(error = %e, "could not settle unfinished moves");
                }
            } else if !self.registry.pending_moves(self.integration_id).await.is_ok_and(|p| p.is_empty()) {
                return not_found(id);
            }
            let dropped = match self.registry.item(self.integration_id, &record.id).await {
                Ok(Some(current)) if current.path == record.path => self.registry.remove_subtree(&current).await,
                Ok(_) => Ok(()),
                Err(e) => Err(e),
            };
            if let Err(e) = dropped {
                tracing::warn!(error = %e, item = %record.id, "could not drop a vanished item from the index");
            }
        }
        match resolved {
            Resolved::Root => DocumentsError::Internal("the library root is missing from storage".into()),
            Resolved::Item(_) => not_found(id),
        }
    }

    /// `/search`: every whitespace-separated term must occur in the name or, for text-like
    /// files, the content; case-insensitive; never a regular expression (C10).
    pub async fn search(
        &self,
        caller: &Caller,
        query: &str,
        parent: Option<&ItemId>,
        max: Option<u64>,
        offset: Option<u64>,
    ) -> Result<Vec<ItemView>> {
        if query.chars().count() > MAX_QUERY_CHARS {
            return Err(DocumentsError::invalid("query", format!("is longer than {MAX_QUERY_CHARS} characters")));
        }
        if query.chars().any(|c| c.is_control() && !c.is_whitespace()) {
            return Err(DocumentsError::invalid("query", "must not contain control characters"));
        }
        let terms: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
        if terms.is_empty() {
            return Err(DocumentsError::invalid("query", "must not be empty"));
        }
        if terms.len() > MAX_SEARCH_TERMS {
            return Err(DocumentsError::invalid("query", format!("has more than {MAX_SEARCH_TERMS} terms")));
        }
        let scope = self.resolve_folder(caller, "parentId", parent.unwrap_or(&ItemId::root())).await?;
        let within = match &scope {
            Resolved::Root => None,
            Resolved::Item(record) => Some(record.path.as_str()),
        };
        let mut found = self.registry.search(self.integration_id, &terms, within).await?;
        let phrase = terms.join(" ");
        let score = |r: &ItemRecord| {
            let name = r.name.to_lowercase();
            let stem = name.rsplit_once('.').map_or(name.as_str(), |(stem, _)| stem);
            if name == phrase || stem == phrase {
                0
            } else if name.starts_with(&phrase) {
                1
            } else if terms.iter().all(|t| name.contains(t.as_str())) {
                2
            } else {
                3
            }
        };
        // Score and lower-cased name computed once per item, not at every comparison.
        found.sort_by_cached_key(|r| (score(r), r.name.to_lowercase(), r.id.clone()));
        Ok(self.views(caller, page(found, Some(max.unwrap_or(DEFAULT_SEARCH_MAX)), offset)).await)
    }
}
