//! `/customAction` (C18): the actions an integration declares, run on an item that Workfront
//! names by its own document IDs (recorded at `/uploadInit`) or that a caller names by our ID.

use docbridge_protocol::{ItemId, ItemKind};
use docbridge_registry::{ActionKind, Integration, ItemRecord, NewItem};
use docbridge_storage::{StorageError, StoragePath, WriteMode};

use crate::{Caller, DocumentsError, Library, Resolved, Result};

/// How an action that ran turned out. Both answer 200; a failure carries the message Workfront
/// shows the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionOutcome {
    Success,
    Failure(String),
}

/// The item an action applies to.
#[derive(Debug, Clone, Copy)]
pub enum ActionTarget<'a> {
    Id(&'a ItemId),
    Workfront { document_id: &'a str, version_id: Option<&'a str> },
}

impl Library {
    /// Runs the named action. An unknown action is `InvalidInput`, an unresolvable item is
    /// `NotFound`; anything that goes wrong while the action runs is a `Failure` outcome.
    pub async fn custom_action(&self, caller: &Caller, integration: &Integration, name: &str, target: ActionTarget<'_>) -> Result<ActionOutcome> {
        let action = integration
            .custom_actions
            .iter()
            .find(|a| a.name == name)
            .ok_or_else(|| DocumentsError::invalid("name", format!("no custom action named {name:?}")))?;
        let id = match target {
            ActionTarget::Id(id) => id.clone(),
            ActionTarget::Workfront { document_id, version_id } => {
                let reservation = match self.registry.reservation_by_workfront_ids(self.integration_id, document_id, version_id).await? {
                    Some(r) => Some(r),
                    // Workfront may act on a later version of a document sent to us earlier.
                    None if version_id.is_some() => self.registry.reservation_by_workfront_ids(self.integration_id, document_id, None).await?,
                    None => None,
                };
                reservation.map(|r| r.id).ok_or_else(|| DocumentsError::NotFound(format!("no document sent from Workfront with documentId {document_id}")))?
            }
        };
        let record = match self.resolve(caller, &id).await? {
            Resolved::Item(record) if !id.is_root() => record,
            _ => return Err(DocumentsError::invalid("id", "actions do not apply to the root folder")),
        };
        if !caller.can_write() {
            return Ok(ActionOutcome::Failure(format!("{} may not change documents here", caller.username)));
        }
        let result = match &action.kind {
            ActionKind::Move { folder } => self.action_move(&record, folder).await,
            ActionKind::Copy { folder } => self.action_copy(&record, folder).await,
            ActionKind::Lock => self.registry.set_item_locked(&record, true).await.map_err(DocumentsError::from),
        };
        Ok(match result {
            Ok(()) => ActionOutcome::Success,
            Err(DocumentsError::Registry(e)) => return Err(DocumentsError::Registry(e)),
            Err(DocumentsError::Storage(e)) => return Err(DocumentsError::Storage(e)),
            Err(DocumentsError::Internal(e)) => return Err(DocumentsError::Internal(e)),
            Err(other) => ActionOutcome::Failure(other.to_string()),
        })
    }

    /// The folder at a `/`-separated path from the root, created (with its parents) if needed.
    async fn ensure_folder_path(&self, folder: &str) -> Result<ItemId> {
        let mut parent = ItemId::root();
        let mut resolved = Resolved::Root;
        for name in folder.split('/').filter(|n| !n.is_empty()) {
            let children = self.reconciled_children(&resolved, &parent).await?;
            let record = match children.into_iter().find(|c| c.name == name) {
                Some(c) if c.kind == ItemKind::Folder => c,
                Some(_) => return Err(DocumentsError::Conflict(format!("{name:?} exists and is not a folder"))),
                None => {
                    let (parent_path, _, parent_key) = Library::location(&resolved)?;
                    let path = parent_path.join(name).map_err(DocumentsError::from)?;
                    let entry = match self.storage.create_dir(&path).await {
                        Ok(entry) => entry,
                        Err(StorageError::AlreadyExists(_)) => self.storage.stat(&path).await?,
                        Err(e) => return Err(e.into()),
                    };
                    let new = NewItem {
                        id: None,
                        integration_id: self.integration_id,
                        parent_id: parent.clone(),
                        path: docbridge_registry::child_path(&parent_key, name),
                        name: name.to_owned(),
                        kind: ItemKind::Folder,
                        size: 0,
                        modified: entry.modified,
                    };
                    match self.registry.insert_item(new.clone()).await {
                        Ok(record) => record,
                        Err(docbridge_registry::RegistryError::Conflict(_)) => {
                            self.registry.item_by_path(self.integration_id, &new.path).await?.ok_or_else(|| DocumentsError::Conflict(format!("{name:?} vanished")))?
                        }
                        Err(e) => return Err(e.into()),
                    }
                }
            };
            parent = record.id.clone();
            resolved = Resolved::Item(record);
        }
        Ok(parent)
    }

    async fn action_move(&self, record: &ItemRecord, folder: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        let target = self.ensure_folder_path(folder).await?;
        if record.parent_id == target {
            return Ok(());
        }
        if target == record.id || self.registry.item(self.integration_id, &target).await?.is_some_and(|t| t.path.starts_with(&format!("{}/", record.path))) {
            return Err(DocumentsError::invalid("name", format!("{:?} cannot be moved into itself", record.name)));
        }
        let taken = self.registry.children(self.integration_id, &target).await?.into_iter().map(|c| c.name).collect();
        let name = crate::transfer::free_name(&record.name, &taken);
        self.move_record(record, &target, &name).await
    }

    async fn action_copy(&self, record: &ItemRecord, folder: &str) -> Result<()> {
        let _guard = self.changes.lock().await;
        let target = self.ensure_folder_path(folder).await?;
        let target_path = if target.is_root() { String::new() } else { self.registry.item(self.integration_id, &target).await?.map(|t| t.path).unwrap_or_default() };
        if target_path == record.path || target_path.starts_with(&format!("{}/", record.path)) {
            return Err(DocumentsError::invalid("name", format!("{:?} cannot be copied into itself", record.name)));
        }
        let taken = self.registry.children(self.integration_id, &target).await?.into_iter().map(|c| c.name).collect();
        let name = crate::transfer::free_name(&record.name, &taken);
        let from = StoragePath::parse(&record.path).map_err(DocumentsError::from)?;
        let to = StoragePath::parse(&docbridge_registry::child_path(&target_path, &name)).map_err(DocumentsError::from)?;
        self.copy_tree(&from, &to).await?;
        // The copy's items get IDs when the index next looks at the destination folder.
        let resolved = if target.is_root() { Resolved::Root } else { self.resolve_unconfined(&target).await? };
        self.reconciled_children(&resolved, &target).await?;
        Ok(())
    }

    async fn resolve_unconfined(&self, id: &ItemId) -> Result<Resolved> {
        Ok(Resolved::Item(self.registry.item(self.integration_id, id).await?.ok_or_else(|| DocumentsError::NotFound(format!("no item with ID {id}")))?))
    }

    /// Copies a file, or a folder with everything in it, streaming every file.
    async fn copy_tree(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        let entry = self.storage.stat(from).await?;
        if entry.kind == docbridge_storage::EntryKind::File {
            let bytes = self.storage.read(from, None).await?;
            self.storage.write(to, bytes, WriteMode::CreateNew, None).await?;
            return Ok(());
        }
        self.storage.create_dir(to).await?;
        let mut tree = self.storage.walk(from).await?;
        // Parents before their children, whatever order the adapter walks in.
        tree.sort_by_key(|(path, _)| path.components().len());
        for (path, entry) in tree {
            let relative = &path.components()[from.components().len()..];
            let mut dest = to.clone();
            for name in relative {
                dest = dest.join(name).map_err(DocumentsError::from)?;
            }
            if entry.kind == docbridge_storage::EntryKind::Dir {
                self.storage.create_dir(&dest).await?;
            } else {
                let bytes = self.storage.read(&path, None).await?;
                self.storage.write(&dest, bytes, WriteMode::CreateNew, None).await?;
            }
        }
        Ok(())
    }
}
