//! Changing endpoints: `/createFolder`, `/rename`, `/delete`, and the trash behind delete (C15,
//! C16, C17).

use docbridge_protocol::{ItemId, ItemKind, same_name};
use docbridge_registry::{ItemRecord, MoveCompletion, MoveKind, NewItem, NewPendingMove, PendingMove, TrashEntry};
use docbridge_storage::{StorageError, StoragePath};

use crate::{Caller, DocumentsError, ItemView, Library, Resolved, Result};

const TRASH_DIR: &str = "trash";

/// How long an unfinished move whose storage side is not (or not only) at its target is kept
/// for a storage journal to roll forward (the S3 adapter's grace period is minutes); after
/// that, storage is taken as it is.
const PENDING_MOVE_EXPIRY: chrono::Duration = chrono::Duration::hours(1);

/// The storage paths of a move's two ends; the trash's are internal paths.
fn pending_paths(pending: &PendingMove) -> Result<(StoragePath, StoragePath)> {
    let trashed = |id: &Option<String>| {
        let id = id.as_deref().ok_or_else(|| DocumentsError::Internal("a trash move without its entry".into()))?;
        StoragePath::internal(&[TRASH_DIR, id]).map_err(DocumentsError::from)
    };
    let parse = |raw: &str| StoragePath::parse(raw).map_err(DocumentsError::from);
    let new = &pending.new;
    Ok(match new.kind {
        MoveKind::Move => (parse(&new.from_path)?, parse(&new.to_path)?),
        MoveKind::Trash => (parse(&new.from_path)?, trashed(&new.trash_id)?),
        MoveKind::Restore => (trashed(&new.trash_id)?, parse(&new.to_path)?),
    })
}

impl Library {
    /// `/createFolder`: a new, empty folder; a taken name is a 409.
    pub async fn create_folder(&self, caller: &Caller, parent: &ItemId, name: &str) -> Result<ItemView> {
        caller.require_write()?;
        let name = &crate::library::validate_new_name("name", name)?;
        let resolved = self.resolve_folder(caller, "parentId", parent).await?;
        let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        let children = self.reconciled_children(&resolved, parent).await?;
        let (folder_path, folder_id, folder_key) = Library::location(&resolved)?;
        if children.iter().any(|c| same_name(&c.name, name)) || self.name_is_reserved(&folder_id, name).await? {
            return Err(DocumentsError::Conflict(format!("an item named {name:?} already exists in this folder")));
        }
        let path = folder_path.join(name).map_err(DocumentsError::from)?;
        let entry = self.storage.create_dir(&path).await?;
        let record = self
            .registry
            .insert_item(NewItem {
                id: None,
                integration_id: self.integration_id,
                parent_id: folder_id,
                path: docbridge_registry::child_path(&folder_key, name),
                name: name.to_owned(),
                kind: ItemKind::Folder,
                size: 0,
                modified: entry.modified,
            })
            .await?;
        Ok(self.view(caller, record).await)
    }

    /// The item an ID names, for a change, at the change's first look (before the change lock):
    /// an upload of that ID interrupted between storage and index is completed first.
    async fn changeable(&self, caller: &Caller, field: &'static str, id: &ItemId, verb: &str) -> Result<ItemRecord> {
        caller.require_write()?;
        Self::check_changeable(self.resolve_completing(caller, id).await?, field, id, verb)
    }

    /// The item an ID names, looked up again under the change lock.
    async fn still_changeable(
        &self,
        caller: &Caller,
        field: &'static str,
        id: &ItemId,
        verb: &str,
    ) -> Result<ItemRecord> {
        Self::check_changeable(self.resolve(caller, id).await?, field, id, verb)
    }

    /// The root and locked items cannot be changed.
    fn check_changeable(resolved: Resolved, field: &'static str, id: &ItemId, verb: &str) -> Result<ItemRecord> {
        match resolved {
            Resolved::Root => Err(DocumentsError::invalid(field, format!("the root folder cannot be {verb}"))),
            Resolved::Item(record) if id.is_root() => Err(DocumentsError::invalid(
                field,
                format!("{:?} is your root folder and cannot be {verb}", record.name),
            )),
            Resolved::Item(record) if record.locked => {
                Err(DocumentsError::Forbidden(format!("{:?} is locked", record.name)))
            }
            Resolved::Item(record) => Ok(record),
        }
    }

    /// Whether an upload in progress holds `name` in a folder.
    async fn name_is_reserved(&self, folder_id: &ItemId, name: &str) -> Result<bool> {
        Ok(self
            .registry
            .pending_reservations(self.integration_id, folder_id)
            .await?
            .iter()
            .any(|(n, _)| same_name(n, name)))
    }

    /// `/rename`: a new name in the same folder; the ID does not change.
    pub async fn rename(&self, caller: &Caller, id: &ItemId, name: &str) -> Result<()> {
        let name = &crate::library::validate_new_name("name", name)?;
        self.changeable(caller, "id", id, "renamed").await?;
        let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        // Again under the lock: another process may have moved the item since.
        let record = self.still_changeable(caller, "id", id, "renamed").await?;
        if record.name == *name {
            return Ok(());
        }
        self.move_record(&record, &record.parent_id, name).await
    }

    /// Moves an item into `parent_id` (a folder of the same library) under `name`: storage
    /// first (atomic, never replacing), then the index. A taken name is a 409.
    pub(crate) async fn move_record(&self, record: &ItemRecord, parent_id: &ItemId, name: &str) -> Result<()> {
        let parent_path = if parent_id.is_root() {
            String::new()
        } else {
            self.registry
                .item(self.integration_id, parent_id)
                .await?
                .ok_or_else(|| DocumentsError::NotFound(format!("no folder with ID {parent_id}")))?
                .path
        };
        let new_key = docbridge_registry::child_path(&parent_path, name);
        // Another spelling of the same name (NFC and NFD) is taken too; the item itself is
        // not, so that a rename can change a name's spelling.
        let taken = self
            .registry
            .children(self.integration_id, parent_id)
            .await?
            .iter()
            .any(|c| c.id != record.id && same_name(&c.name, name));
        if taken
            || self.registry.item_by_path(self.integration_id, &new_key).await?.is_some()
            || self.name_is_reserved(parent_id, name).await?
        {
            return Err(DocumentsError::Conflict(format!("an item named {name:?} already exists in that folder")));
        }
        let from = StoragePath::parse(&record.path).map_err(DocumentsError::from)?;
        let to = StoragePath::parse(&new_key).map_err(DocumentsError::from)?;
        let intent = NewPendingMove {
            integration_id: self.integration_id,
            item_id: record.id.clone(),
            kind: MoveKind::Move,
            from_path: record.path.clone(),
            to_path: new_key.clone(),
            to_parent_id: parent_id.clone(),
            to_name: name.to_owned(),
            trash_id: None,
            deleted_by: None,
        };
        self.move_in_storage_then_index(intent, &from, &to).await.map_err(|e| match e {
            DocumentsError::Storage(StorageError::AlreadyExists(_)) => {
                DocumentsError::Conflict(format!("an item named {name:?} already exists in that folder"))
            }
            DocumentsError::Storage(StorageError::InvalidPath(reason)) => DocumentsError::invalid("folder", reason),
            other => other,
        })
    }

    /// A move's two halves, with its intent recorded first (so that a process killed between
    /// them leaves something for the next reader to complete, rather than a lost ID): storage,
    /// then the index and the intent's clearing in one transaction. A failure in either half
    /// puts storage back and clears the intent. The caller holds the change lock exclusively.
    async fn move_in_storage_then_index(
        &self,
        intent: NewPendingMove,
        from: &StoragePath,
        to: &StoragePath,
    ) -> Result<()> {
        let pending = self.registry.record_pending_move(intent).await?;
        if let Err(e) = self.storage.rename(from, to).await {
            // An answer (a name taken, a path refused) moved nothing. A fault may have moved
            // part of it, and the S3 adapter rolls such a rename forward later: the intent stays
            // for the next reader, which finishes the rename and then follows what storage shows
            // (clearing the intent here gave the moved item a new ID; found by `cargo xtask
            // chaos`).
            if !may_have_moved(&e) {
                self.clear_intent(&pending).await;
            }
            return Err(e.into());
        }
        let failure = match self.registry.complete_pending_move(&pending).await {
            Ok(MoveCompletion::Applied) => return Ok(()),
            // Settled by another process while this one had lost the change lock (PostgreSQL
            // restarted): that process followed storage, so putting storage back now would part
            // the two (the item then came back under a new ID).
            Ok(MoveCompletion::SettledElsewhere) => {
                tracing::warn!(item = %pending.new.item_id, "a move was settled by another process meanwhile");
                return Ok(());
            }
            Ok(MoveCompletion::Refused) => {
                DocumentsError::Internal(format!("the index no longer has {} at {from}", pending.new.item_id))
            }
            Err(e) => e.into(),
        };
        // Put storage back so that index and storage keep agreeing.
        if let Err(undo) = self.storage.rename(to, from).await {
            tracing::error!(error = %undo, item = %pending.new.item_id, "could not undo a move after the index refused it");
        }
        self.clear_intent(&pending).await;
        Err(failure)
    }

    /// Completes or drops the moves that processes recorded and did not finish (killed between
    /// storage and index, or failed on a fault), by what storage shows once it has finished what
    /// it had begun: moved (nothing at the old path, something at the new one), the index
    /// follows and the ID is kept; not moved, the intent is dropped. Answers the paths of moves
    /// still open whose target exists (both paths hold something): those must not be given new
    /// IDs.
    /// The caller holds the change lock, shared at least: no live process is inside a move.
    pub(crate) async fn settle_pending_moves(&self) -> Result<std::collections::HashSet<String>> {
        let mut held = std::collections::HashSet::new();
        for pending in self.registry.pending_moves(self.integration_id).await? {
            let (from, to) = match pending_paths(&pending) {
                Ok(paths) => paths,
                Err(e) => {
                    tracing::warn!(error = %e, item = %pending.new.item_id, "dropping an unreadable move intent");
                    self.clear_intent(&pending).await;
                    continue;
                }
            };
            // Nobody is inside this move (the lock), so a rename that storage would roll forward
            // later (an S3 journal entry) is rolled forward now: storage is then final, and a
            // late roll-forward can never move or bring back a folder behind the index's back
            // (found by `cargo xtask chaos`: a folder reappeared under a new ID minutes after
            // the index had followed its half-done move).
            self.storage.finish_interrupted_rename(&from, &to).await?;
            let from_exists = self.exists(&from).await?;
            let to_exists = self.exists(&to).await?;
            let expired = chrono::Utc::now() - pending.created > PENDING_MOVE_EXPIRY;
            if to_exists && !from_exists {
                if self.registry.complete_pending_move(&pending).await? == MoveCompletion::Applied {
                    tracing::info!(item = %pending.new.item_id, from = %pending.new.from_path, to = %pending.new.to_path,
                        "completed a move that its process did not finish");
                }
            } else if expired || !to_exists {
                self.clear_intent(&pending).await;
            } else {
                held.insert(pending.new.to_path.clone());
            }
        }
        Ok(held)
    }

    pub(crate) async fn exists(&self, path: &StoragePath) -> Result<bool> {
        match self.storage.stat(path).await {
            Ok(_) => Ok(true),
            Err(StorageError::NotFound(_)) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    async fn clear_intent(&self, pending: &PendingMove) {
        if let Err(e) = self.registry.clear_pending_move(pending).await {
            // Harmless: the next reader of the folder finds storage unmoved and drops it.
            tracing::warn!(error = %e, item = %pending.new.item_id, "could not clear a move's intent");
        }
    }

    /// `/delete`: moves a file or folder (with its contents) to the trash (C16).
    pub async fn delete(&self, caller: &Caller, id: &ItemId) -> Result<TrashEntry> {
        self.changeable(caller, "id", id, "deleted").await?;
        let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        // Again under the lock: another process may have moved the item since.
        let record = self.still_changeable(caller, "id", id, "deleted").await?;
        self.ensure_internal_dir(&[TRASH_DIR]).await?;
        let trash_id = docbridge_registry::random_id();
        let from = StoragePath::parse(&record.path).map_err(DocumentsError::from)?;
        let to = StoragePath::internal(&[TRASH_DIR, &trash_id]).map_err(DocumentsError::from)?;
        let intent = NewPendingMove {
            integration_id: self.integration_id,
            item_id: record.id.clone(),
            kind: MoveKind::Trash,
            from_path: record.path.clone(),
            to_path: to.as_string(),
            to_parent_id: ItemId::root(),
            to_name: record.name.clone(),
            trash_id: Some(trash_id.clone()),
            deleted_by: Some(caller.username.clone()),
        };
        self.move_in_storage_then_index(intent, &from, &to).await?;
        self.registry
            .trash_entry(&trash_id)
            .await?
            .ok_or_else(|| DocumentsError::Internal(format!("trash entry {trash_id} vanished")))
    }

    /// Creates `.docbridge/<names...>` folders as needed.
    async fn ensure_internal_dir(&self, names: &[&str]) -> Result<()> {
        for depth in 0..=names.len() {
            let path = StoragePath::internal(&names[..depth]).map_err(DocumentsError::from)?;
            match self.storage.create_dir(&path).await {
                Ok(_) | Err(StorageError::AlreadyExists(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Puts a trashed item back where it was (or, if that name is taken now, under a free
    /// name; if its folder is gone or in the trash, at the root). IDs are unchanged. Returns the
    /// restored name.
    pub async fn restore(&self, entry: &TrashEntry) -> Result<String> {
        let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        // Again under the lock: another process may have restored or purged it since.
        let entry = &self
            .registry
            .trash_entry(&entry.id)
            .await?
            .ok_or_else(|| DocumentsError::NotFound(format!("no trash entry {}", entry.id)))?;
        // The folder is found by its ID, not by the path it had: renamed or moved since, it is
        // still where the item belongs. Only a live folder is found (one in the trash is not).
        let parent = if entry.original_parent_id.is_root() {
            None
        } else {
            self.registry
                .item(self.integration_id, &entry.original_parent_id)
                .await?
                .filter(|p| p.kind == ItemKind::Folder)
        };
        let (parent_id, parent_path, resolved) = match parent {
            Some(folder) => (folder.id.clone(), folder.path.clone(), Resolved::Item(folder)),
            None => (ItemId::root(), String::new(), Resolved::Root),
        };
        let mut taken: std::collections::HashSet<String> =
            self.reconciled_children(&resolved, &parent_id).await?.into_iter().map(|c| c.name).collect();
        // An upload under way holds its name too: restored there, the item would make the
        // upload's commit fail, or (on a store without atomic creation) be overwritten by it.
        taken.extend(
            self.registry.pending_reservations(self.integration_id, &parent_id).await?.into_iter().map(|(n, _)| n),
        );
        let name = crate::transfer::free_name(&entry.name, &taken);
        let key = docbridge_registry::child_path(&parent_path, &name);
        let from = StoragePath::internal(&[TRASH_DIR, &entry.id]).map_err(DocumentsError::from)?;
        let to = StoragePath::parse(&key).map_err(DocumentsError::from)?;
        let intent = NewPendingMove {
            integration_id: self.integration_id,
            item_id: entry.item_id.clone(),
            kind: MoveKind::Restore,
            from_path: entry.trash_path.clone(),
            to_path: key,
            to_parent_id: parent_id,
            to_name: name.clone(),
            trash_id: Some(entry.id.clone()),
            deleted_by: None,
        };
        self.move_in_storage_then_index(intent, &from, &to).await?;
        Ok(name)
    }

    /// Deletes a trashed item for good.
    pub async fn purge(&self, entry: &TrashEntry) -> Result<()> {
        let path = StoragePath::internal(&[TRASH_DIR, &entry.id]).map_err(DocumentsError::from)?;
        match self.storage.delete(&path).await {
            Ok(()) | Err(StorageError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.registry.purge_trash_entry(entry).await?;
        Ok(())
    }

    /// Purges trash entries older than the retention period; returns how many.
    pub async fn purge_expired_trash(&self) -> Result<usize> {
        let cutoff = chrono::Utc::now() - self.settings.trash_retention;
        let mut purged = 0;
        for entry in self.registry.trash_entries(Some(self.integration_id)).await? {
            if entry.deleted_at < cutoff {
                self.purge(&entry).await?;
                purged += 1;
            }
        }
        Ok(purged)
    }
}

/// Whether a failed storage rename may have moved anything: not when storage answered (a name
/// taken, a path refused, nothing to move), only on a fault.
fn may_have_moved(error: &StorageError) -> bool {
    !matches!(
        error,
        StorageError::NotFound(_)
            | StorageError::AlreadyExists(_)
            | StorageError::NotADirectory(_)
            | StorageError::IsADirectory(_)
            | StorageError::InvalidPath(_)
    )
}
