//! Keeping the index in step with storage: full-text content of text-like files, full rescans
//! of libraries that other programs also write to, and the periodic clean-ups (expired
//! reservations, trash past its retention).

use std::collections::HashMap;

use docbridge_protocol::{ItemId, ItemKind};
use docbridge_registry::ItemRecord;
use docbridge_storage::EntryKind;

use crate::{Library, Resolved, Result};

/// What one maintenance pass did, for logs and tests.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct MaintenanceReport {
    /// Folders whose listing was reconciled with the index.
    pub folders_scanned: usize,
    /// Files whose content was (re)indexed for search.
    pub contents_indexed: usize,
    /// Upload reservations past their expiry, dropped.
    pub reservations_expired: u64,
    /// Trash entries past the retention period, purged.
    pub trash_purged: usize,
    /// Operations that storage left interrupted (the S3 journal), rolled forward.
    pub operations_resumed: usize,
}

impl Library {
    /// Indexes a file's text for search if its type is text-like; records the version either
    /// way so that it is not looked at again until it changes. Failures are logged, not fatal:
    /// the file stays findable by name.
    pub(crate) async fn index_content(&self, record: &ItemRecord) {
        if record.kind != ItemKind::File {
            return;
        }
        let mime = crate::mime::detect_mime(&record.name, &[]);
        let text = if crate::mime::is_text_like(&mime) {
            match self.read_head(record, self.settings.max_indexed_bytes).await {
                Ok(bytes) => String::from_utf8_lossy(&bytes).replace('\0', " "),
                Err(e) => {
                    tracing::warn!(error = %e, item = %record.id, "could not read a file to index it");
                    return;
                }
            }
        } else {
            String::new()
        };
        if let Err(e) = self.registry.set_search_content(record, &text, &record.version()).await {
            tracing::warn!(error = %e, item = %record.id, "could not store a file's search text");
        }
    }

    /// Indexes the content of files not yet indexed at their current version (files found by
    /// a rescan or a listing). Returns how many it indexed.
    pub async fn index_pending_contents(&self, batch: u64) -> Result<usize> {
        let mut done = 0;
        loop {
            let pending = self.registry.items_to_index(self.integration_id, batch).await?;
            if pending.is_empty() {
                return Ok(done);
            }
            for record in &pending {
                self.index_content(record).await;
            }
            done += pending.len();
        }
    }

    /// Walks the whole library and reconciles every folder with the index, so that search
    /// finds files that were added behind docbridge's back. Returns the folders scanned.
    pub async fn rescan(&self) -> Result<usize> {
        self.rescan_folders(true).await
    }

    /// [`Library::rescan`]; with `lock`, each folder is reconciled holding `changes` shared, as
    /// a listing does (taken and released folder by folder, so that changes are not held up for
    /// a whole walk, and listings not at all); without, the caller holds it.
    async fn rescan_folders(&self, lock: bool) -> Result<usize> {
        let tree = self.storage.walk(&docbridge_storage::StoragePath::root()).await?;
        let mut folders: Vec<String> = vec![String::new()];
        folders.extend(tree.iter().filter(|(_, e)| e.kind == EntryKind::Dir).map(|(p, _)| p.as_string()));
        // Parents first, so that every folder has its ID before its children are reconciled.
        folders.sort_by_key(|p| if p.is_empty() { 0 } else { p.matches('/').count() + 1 });
        let mut ids: HashMap<String, ItemId> = HashMap::from([(String::new(), ItemId::root())]);
        let mut scanned = 0;
        for folder in folders {
            let Some(id) = ids.get(&folder).cloned() else { continue };
            let _guard = if lock { Some(self.lock(docbridge_registry::LockMode::Shared).await?) } else { None };
            let resolved = if id.is_root() {
                Resolved::Root
            } else {
                match self.registry.item(self.integration_id, &id).await? {
                    Some(record) => Resolved::Item(record),
                    None => continue,
                }
            };
            let reconciled = if lock {
                self.reconciled_children_shared(&resolved, &id).await
            } else {
                self.reconciled_children(&resolved, &id).await.map(Some)
            };
            let children = match reconciled {
                Ok(Some(children)) => children,
                // A move left unfinished: the next listing or change settles it, under the
                // exclusive lock that a rescan does not take; its subfolders wait until then.
                Ok(None) => continue,
                // Removed while we walked: nothing to index there any more.
                Err(crate::DocumentsError::NotFound(_)) => continue,
                Err(e) => return Err(e),
            };
            scanned += 1;
            for child in children.into_iter().filter(|c| c.kind == ItemKind::Folder) {
                ids.insert(child.path, child.id);
            }
        }
        Ok(scanned)
    }

    /// Rolls forward what was left interrupted and is nobody's any more, holding the change lock
    /// exclusively, so that no change or settling of a move in any process runs beside it: first
    /// the moves whose intent is recorded (each finishing its own storage journal entry and the
    /// index), then what storage's journal still holds (a trash purge's folder delete, say).
    /// Answers how many journal entries storage completed.
    pub async fn resume_interrupted(&self) -> Result<usize> {
        let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        self.resume_interrupted_locked().await
    }

    /// [`Library::resume_interrupted`] for a caller that holds the change lock exclusively.
    async fn resume_interrupted_locked(&self) -> Result<usize> {
        self.settle_pending_moves().await?;
        Ok(self.storage.resume_interrupted_operations().await?)
    }

    /// One pass of everything a library needs now and then.
    pub async fn maintain(&self, rescan: bool) -> Result<MaintenanceReport> {
        let mut report =
            MaintenanceReport { operations_resumed: self.resume_interrupted().await?, ..Default::default() };
        if rescan {
            report.folders_scanned = self.rescan().await?;
        }
        report.contents_indexed = self.index_pending_contents(200).await?;
        report.reservations_expired = self.registry.expire_reservations().await?;
        report.trash_purged = self.purge_expired_trash().await?;
        Ok(report)
    }
}

/// What `fsck` found and repaired.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FsckReport {
    /// Items in storage that the index did not know: given IDs.
    pub indexed: Vec<String>,
    /// Index entries whose item is gone from storage: dropped.
    pub dropped: Vec<String>,
    /// Index entries whose size or date disagreed with storage: updated.
    pub updated: Vec<String>,
    /// Trash entries whose bytes are gone from storage: dropped.
    pub trash_entries_dropped: Vec<String>,
    /// Folders in the trash area with no trash entry (a crash between moving and recording a
    /// delete). Reported, not removed: they may still be wanted.
    pub trash_orphans: Vec<String>,
    /// Upload reservations past their expiry: dropped.
    pub reservations_expired: u64,
}

impl FsckReport {
    /// Whether the check found nothing to repair or report.
    pub fn is_clean(&self) -> bool {
        [&self.indexed, &self.dropped, &self.updated, &self.trash_entries_dropped, &self.trash_orphans]
            .iter()
            .all(|found| found.is_empty())
    }
}

impl Library {
    /// Checks that the index and storage agree, repairs what disagrees, and reports it.
    pub async fn fsck(&self) -> Result<FsckReport> {
        let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        // What crashed processes left half done is finished first, as the next change would.
        self.resume_interrupted_locked().await?;
        let describe = |r: &ItemRecord| format!("{} /{}", r.id, r.path);
        let before: HashMap<ItemId, ItemRecord> =
            self.registry.all_items(self.integration_id).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
        self.rescan_folders(false).await?;
        let after: HashMap<ItemId, ItemRecord> =
            self.registry.all_items(self.integration_id).await?.into_iter().map(|r| (r.id.clone(), r)).collect();
        let mut report = FsckReport::default();
        for (id, record) in &after {
            match before.get(id) {
                None => report.indexed.push(describe(record)),
                Some(old) if old.size != record.size || old.modified != record.modified => {
                    report.updated.push(describe(record))
                }
                Some(_) => {}
            }
        }
        report.dropped = before.iter().filter(|(id, _)| !after.contains_key(*id)).map(|(_, r)| describe(r)).collect();
        let entries = self.registry.trash_entries(Some(self.integration_id)).await?;
        let mut known = std::collections::HashSet::new();
        for entry in &entries {
            let path =
                docbridge_storage::StoragePath::internal(&["trash", &entry.id]).map_err(crate::DocumentsError::from)?;
            match self.storage.stat(&path).await {
                Ok(_) => {
                    known.insert(entry.id.clone());
                }
                Err(docbridge_storage::StorageError::NotFound(_)) => {
                    self.registry.purge_trash_entry(entry).await?;
                    report.trash_entries_dropped.push(format!("{} ({})", entry.id, entry.original_path));
                }
                Err(e) => return Err(e.into()),
            }
        }
        let trash_dir = docbridge_storage::StoragePath::internal(&["trash"]).map_err(crate::DocumentsError::from)?;
        match self.storage.list(&trash_dir).await {
            Ok(children) => {
                report.trash_orphans = children.into_iter().map(|c| c.name).filter(|n| !known.contains(n)).collect()
            }
            Err(docbridge_storage::StorageError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
        report.reservations_expired = self.registry.expire_reservations().await?;
        for list in [
            &mut report.indexed,
            &mut report.dropped,
            &mut report.updated,
            &mut report.trash_entries_dropped,
            &mut report.trash_orphans,
        ] {
            list.sort();
        }
        Ok(report)
    }
}
