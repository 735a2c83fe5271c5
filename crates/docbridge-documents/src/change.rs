//! Changing endpoints: `/createFolder`, `/rename`, `/delete`, and the trash behind delete (C15,
//! C16, C17).

use docbridge_protocol::{ItemId, ItemKind, same_name};
use docbridge_registry::{ItemRecord, NewItem, TrashEntry};
use docbridge_storage::{StorageError, StoragePath};

use crate::{Caller, DocumentsError, ItemView, Library, Resolved, Result};

const TRASH_DIR: &str = "trash";

impl Library {
    /// `/createFolder`: a new, empty folder; a taken name is a 409.
    pub async fn create_folder(&self, caller: &Caller, parent: &ItemId, name: &str) -> Result<ItemView> {
        caller.require_write()?;
        let name = &crate::library::validate_new_name("name", name)?;
        let resolved = self.resolve_folder(caller, "parentId", parent).await?;
        let _guard = self.changes.write().await;
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

    /// The item an ID names, for a change: the root and locked items cannot be changed.
    async fn changeable(&self, caller: &Caller, field: &'static str, id: &ItemId, verb: &str) -> Result<ItemRecord> {
        caller.require_write()?;
        match self.resolve(caller, id).await? {
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
        let record = self.changeable(caller, "id", id, "renamed").await?;
        if record.name == *name {
            return Ok(());
        }
        let _guard = self.changes.write().await;
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
        match self.storage.rename(&from, &to).await {
            Ok(()) => {}
            Err(StorageError::AlreadyExists(_)) => {
                return Err(DocumentsError::Conflict(format!("an item named {name:?} already exists in that folder")));
            }
            Err(StorageError::InvalidPath(reason)) => return Err(DocumentsError::invalid("folder", reason)),
            Err(e) => return Err(e.into()),
        }
        if let Err(e) = self.registry.move_item(record, parent_id, &new_key, name).await {
            // Put storage back so that index and storage keep agreeing.
            if let Err(undo) = self.storage.rename(&to, &from).await {
                tracing::error!(error = %undo, item = %record.id, "could not undo a move after the index refused it");
            }
            return Err(e.into());
        }
        Ok(())
    }

    /// `/delete`: moves a file or folder (with its contents) to the trash (C16).
    pub async fn delete(&self, caller: &Caller, id: &ItemId) -> Result<TrashEntry> {
        let record = self.changeable(caller, "id", id, "deleted").await?;
        let _guard = self.changes.write().await;
        self.ensure_internal_dir(&[TRASH_DIR]).await?;
        let trash_id = docbridge_registry::random_id();
        let from = StoragePath::parse(&record.path).map_err(DocumentsError::from)?;
        let to = StoragePath::internal(&[TRASH_DIR, &trash_id]).map_err(DocumentsError::from)?;
        self.storage.rename(&from, &to).await?;
        match self.registry.move_to_trash(&record, &trash_id, &to.as_string(), Some(&caller.username)).await {
            Ok(entry) => Ok(entry),
            Err(e) => {
                if let Err(undo) = self.storage.rename(&to, &from).await {
                    tracing::error!(error = %undo, item = %record.id, "could not undo a delete after the index refused it");
                }
                Err(e.into())
            }
        }
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
    /// name; if its folder is gone, at the root). IDs are unchanged. Returns the restored name.
    pub async fn restore(&self, entry: &TrashEntry) -> Result<String> {
        let _guard = self.changes.write().await;
        let parent_path = entry.original_path.rsplit_once('/').map_or(String::new(), |(p, _)| p.to_owned());
        let parent = if entry.original_parent_id.is_root() {
            Some(ItemId::root())
        } else {
            self.registry
                .item(self.integration_id, &entry.original_parent_id)
                .await?
                .filter(|p| p.path == parent_path)
                .map(|p| p.id)
        };
        let (parent_id, parent_path) = match parent {
            Some(id) => (id, parent_path),
            None => (ItemId::root(), String::new()),
        };
        let resolved = if parent_id.is_root() {
            Resolved::Root
        } else {
            Resolved::Item(
                self.registry
                    .item(self.integration_id, &parent_id)
                    .await?
                    .ok_or_else(|| DocumentsError::NotFound("folder".into()))?,
            )
        };
        let taken = self.reconciled_children(&resolved, &parent_id).await?.into_iter().map(|c| c.name).collect();
        let name = crate::transfer::free_name(&entry.name, &taken);
        let key = docbridge_registry::child_path(&parent_path, &name);
        let from = StoragePath::internal(&[TRASH_DIR, &entry.id]).map_err(DocumentsError::from)?;
        let to = StoragePath::parse(&key).map_err(DocumentsError::from)?;
        self.storage.rename(&from, &to).await?;
        self.registry.restore_from_trash(entry, &parent_id, &key, &name).await?;
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
