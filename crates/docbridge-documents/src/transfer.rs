//! Byte-moving endpoints: `/download` and the two-step upload `/uploadInit` + `/upload` (C11,
//! C13, C14).

use std::collections::HashSet;
use std::ops::Range;
use std::sync::Arc;

use chrono::Utc;
use docbridge_protocol::{ItemId, ItemKind, name_key, same_name};
use docbridge_registry::{ItemRecord, NewReservation, Reservation};
use docbridge_storage::{ByteStream, Opened, Storage, StoragePath, WriteMode};

use crate::library::not_found;
use crate::{Caller, ConflictPolicy, DocumentsError, ItemView, Library, Resolved, Result};

/// A file about to be streamed: its fresh metadata and, on the filesystem, the file itself, held
/// open, so that the bytes sent are those that the metadata (length, `ETag`) describes even if
/// the file is replaced meanwhile, and so that its path is looked up once, not twice.
pub struct Download {
    /// The file, as `/metadata` would answer it.
    pub view: ItemView,
    opened: Opened,
    storage: Arc<dyn Storage>,
}

impl Download {
    /// Streams the file's bytes, or those of `range` (clamped to the file's length).
    pub async fn bytes(self, range: Option<Range<u64>>) -> Result<ByteStream> {
        Ok(self.opened.read(&*self.storage, range).await?)
    }
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("view", &self.view).field("opened", &self.opened).finish_non_exhaustive()
    }
}

/// What a finished `/upload` did.
#[derive(Debug, Clone)]
pub struct UploadOutcome {
    /// The file, as it now is.
    pub view: ItemView,
    /// Whether an earlier content of the same ID was replaced.
    pub replaced: bool,
}

/// The first free name in `taken`: `name`, then `stem (1).ext`, `stem (2).ext`, ...
pub(crate) fn free_name(name: &str, taken: &HashSet<String>) -> String {
    if !taken.contains(name) {
        return name.to_owned();
    }
    // A leading dot is a hidden file's name, not an extension: `.profile` becomes `.profile (1)`.
    let (stem, ext) = match name.rfind('.') {
        Some(dot) if dot > 0 => (&name[..dot], &name[dot..]),
        _ => (name, ""),
    };
    (1u64..)
        .map(|n| {
            // Shorten the stem (at a character boundary) so that the suffix fits in 255 bytes.
            let suffix = format!(" ({n}){ext}");
            let room = docbridge_protocol::MAX_NAME_BYTES.saturating_sub(suffix.len());
            let mut cut = stem.len().min(room);
            while !stem.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}{suffix}", &stem[..cut])
        })
        .find(|candidate| !taken.contains(candidate) && candidate.len() <= docbridge_protocol::MAX_NAME_BYTES)
        .unwrap_or_else(|| unreachable!("an unbounded sequence always has a free name"))
}

impl Library {
    /// The file behind a `/download`, opened (fresh metadata; a folder is a 400).
    pub async fn download_target(&self, caller: &Caller, id: &ItemId) -> Result<Download> {
        let download = self.open_item(caller, id).await?;
        if download.view.record.kind == ItemKind::Folder {
            return Err(DocumentsError::invalid("id", "is a folder; only files can be downloaded"));
        }
        Ok(download)
    }

    /// One item as `/metadata` answers it, and, for a file, the file opened for reading
    /// ([`Download::bytes`]). A folder opens too; reading it is an error.
    pub async fn open_item(&self, caller: &Caller, id: &ItemId) -> Result<Download> {
        let (view, opened) = self.look_at(caller, id, true).await?;
        Ok(Download { view, opened, storage: self.storage.clone() })
    }

    /// `/uploadInit`: reserves a name in a folder and answers the new item's metadata. The item
    /// appears in listings once its bytes have arrived.
    pub async fn upload_init(
        &self,
        caller: &Caller,
        parent: &ItemId,
        filename: &str,
        wf_document_id: Option<&str>,
        wf_document_version_id: Option<&str>,
    ) -> Result<ItemView> {
        caller.require_write()?;
        let filename = &crate::library::validate_new_name("filename", filename)?;
        let resolved = self.resolve_folder(caller, "parentId", parent).await?;
        let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        let (_, folder_id, folder_path) = Library::location(&resolved)?;
        let children = self.reconciled_children(&resolved, parent).await?;
        let pending = self.registry.pending_reservations(self.integration_id, &folder_id).await?;
        // Taken names by their NFC form: a name spelled otherwise (NFD, from a Mac) is taken too.
        let mut taken: HashSet<String> = children.iter().map(|c| name_key(&c.name)).collect();
        taken.extend(pending.into_iter().map(|(name, _)| name_key(&name)));

        let existing = children.iter().find(|c| same_name(&c.name, filename));
        let (id, name, replaces_existing) = match (existing, self.settings.conflict_policy) {
            (None, _) if !taken.contains(filename) => {
                (ItemId::from_trusted(docbridge_registry::random_id()), filename.to_owned(), false)
            }
            (Some(existing), ConflictPolicy::Replace) if existing.kind == ItemKind::File => {
                if existing.locked {
                    return Err(DocumentsError::Forbidden(format!("{filename:?} is locked")));
                }
                // The existing file keeps its spelling of the name.
                (existing.id.clone(), existing.name.clone(), true)
            }
            (_, ConflictPolicy::Reject | ConflictPolicy::Replace) => {
                return Err(DocumentsError::Conflict(format!(
                    "an item named {filename:?} already exists in this folder"
                )));
            }
            (_, ConflictPolicy::Rename) => {
                (ItemId::from_trusted(docbridge_registry::random_id()), free_name(filename, &taken), false)
            }
        };
        let reservation = self
            .registry
            .create_reservation(NewReservation {
                id: id.clone(),
                integration_id: self.integration_id,
                parent_id: folder_id.clone(),
                name: name.clone(),
                replaces_existing,
                wf_document_id: wf_document_id.filter(|s| !s.is_empty()).map(str::to_owned),
                wf_document_version_id: wf_document_version_id.filter(|s| !s.is_empty()).map(str::to_owned),
                created_by: Some(caller.username.clone()),
                expires_at: Utc::now() + self.settings.reservation_ttl,
            })
            .await?;
        let record = match existing.filter(|_| replaces_existing) {
            Some(existing) => existing.clone(),
            None => ItemRecord {
                id,
                integration_id: self.integration_id,
                parent_id: folder_id,
                path: docbridge_registry::child_path(&folder_path, &name),
                name,
                kind: ItemKind::File,
                size: 0,
                modified: reservation.created_at,
                locked: false,
                indexed_version: None,
            },
        };
        Ok(self.view(caller, record).await)
    }

    /// `/upload`: streams the bytes for a reserved ID into a temporary object and commits them
    /// atomically. Repeating it replaces the content atomically; any failure leaves what was
    /// there before untouched (C14).
    pub async fn upload(&self, caller: &Caller, id: &ItemId, body: ByteStream) -> Result<UploadOutcome> {
        caller.require_write()?;
        let reservation = self.registry.reservation(self.integration_id, id).await?.ok_or_else(|| {
            DocumentsError::NotFound(format!("no upload was started with ID {id} (call /uploadInit first)"))
        })?;
        if reservation.uploaded_at.is_none() && reservation.expires_at <= Utc::now() {
            return Err(DocumentsError::NotFound(format!("the upload reservation {id} has expired")));
        }
        let mut existing = self.registry.item(self.integration_id, id).await?;
        // Sent again after a first sending whose process died between committing the file and
        // indexing it: that file is this ID's (its listing says so), and is replaced.
        if existing.is_none() && self.complete_interrupted_upload(caller, &reservation).await? {
            existing = self.registry.item(self.integration_id, id).await?;
        }
        let limit = Some(self.settings.max_upload_bytes);
        let (path, replaced) = match &existing {
            Some(record) => {
                if record.locked {
                    return Err(DocumentsError::Forbidden(format!("{:?} is locked", record.name)));
                }
                (StoragePath::parse(&record.path).map_err(DocumentsError::from)?, true)
            }
            None if reservation.uploaded_at.is_some() || reservation.replaces_existing => {
                // Uploaded before, then deleted or moved out of reach: nothing to replace.
                return Err(not_found(id));
            }
            None => (self.reserved_path(caller, &reservation).await?, false),
        };
        let mode = if replaced { WriteMode::Replace } else { WriteMode::CreateNew };
        let entry = self.storage.write(&path, body, mode, limit).await.map_err(|e| match e {
            docbridge_storage::StorageError::AlreadyExists(_) => DocumentsError::Conflict(format!(
                "{:?} was created by someone else meanwhile; start a new upload",
                reservation.name
            )),
            // Its folder was renamed, moved or deleted while the bytes arrived (in another
            // process, which this one's lock does not hold back for the length of an upload).
            // The reservation stands: sent again, the file lands where its folder is now.
            docbridge_storage::StorageError::NotFound(_) if !replaced => DocumentsError::Conflict(format!(
                "the folder of {:?} was renamed, moved or deleted meanwhile; send the file again",
                reservation.name
            )),
            other => other.into(),
        })?;
        // Indexing under `changes` (the bytes were streamed without it): a listing that read the
        // folder before the commit and reconciled after the index entry was written would drop
        // the entry, and the file would come back under a new ID.
        let guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        let path = if replaced { path } else { self.landed_path(caller, &reservation, path).await? };
        let record = match existing {
            Some(mut record) => {
                self.registry.update_item_content(self.integration_id, &record.id, entry.size, entry.modified).await?;
                record.size = entry.size;
                record.modified = entry.modified;
                record
            }
            None => {
                let new = docbridge_registry::NewItem {
                    id: Some(reservation.id.clone()),
                    integration_id: self.integration_id,
                    parent_id: reservation.parent_id.clone(),
                    path: path.as_string(),
                    name: reservation.name.clone(),
                    kind: ItemKind::File,
                    size: entry.size,
                    modified: entry.modified,
                };
                match self.registry.insert_item(new).await {
                    Ok(record) => record,
                    // A listing in between already indexed the file under its reserved ID.
                    Err(docbridge_registry::RegistryError::Conflict(_)) => {
                        self.registry.item(self.integration_id, id).await?.ok_or_else(|| {
                            DocumentsError::Conflict(format!("{:?} is indexed under another ID", reservation.name))
                        })?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        self.registry.mark_reservation_uploaded(&reservation.id).await?;
        drop(guard);
        self.index_content(&record).await;
        Ok(UploadOutcome { view: self.view(caller, record).await, replaced })
    }

    /// An upload whose process died after committing its file and before indexing it (or one
    /// still between the two in another process) is indexed now, under the ID `/uploadInit`
    /// promised, as the next listing of its folder would index it: whichever endpoint looks
    /// first, the ID then names the file (a `/metadata` that answered 404 while the listing
    /// showed the file under that ID was issue #14's F3). Answers whether the ID is indexed.
    /// Costs one storage `stat` unless a file is at the reserved name; takes the change lock
    /// only then, so the caller must not hold it.
    pub(crate) async fn complete_interrupted_upload(&self, caller: &Caller, reservation: &Reservation) -> Result<bool> {
        if reservation.uploaded_at.is_some() || reservation.replaces_existing || reservation.expires_at <= Utc::now() {
            // Only a pending reservation gives a found file its ID (`reconcile_children`).
            return Ok(false);
        }
        let Ok(path) = self.reserved_path(caller, reservation).await else { return Ok(false) };
        if !self.exists(&path).await? {
            return Ok(false);
        }
        let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
        if self.registry.item(self.integration_id, &reservation.id).await?.is_none() {
            // Again under the lock: the folder may have moved since.
            let parent = match self.resolve_folder(caller, "parentId", &reservation.parent_id).await {
                Ok(parent) => parent,
                Err(DocumentsError::NotFound(_)) => return Ok(false),
                Err(e) => return Err(e),
            };
            self.reconciled_children(&parent, &reservation.parent_id).await?;
            if self.registry.item(self.integration_id, &reservation.id).await?.is_none() {
                return Ok(false);
            }
            tracing::info!(item = %reservation.id, name = %reservation.name, "indexed an upload that its process did not finish");
        }
        self.registry.mark_reservation_uploaded(&reservation.id).await?;
        Ok(true)
    }

    /// [`Library::resolve`], with an ID that the index does not have but a pending upload
    /// reservation does completed first ([`Library::complete_interrupted_upload`]), and an item
    /// whose move was recorded and not finished settled first. For the first look of an
    /// endpoint, never under the change lock.
    pub(crate) async fn resolve_completing(&self, caller: &Caller, id: &ItemId) -> Result<Resolved> {
        self.resolve_completing_from(self.resolve_noting_moves(caller, id).await, caller, id).await
    }

    /// [`Library::resolve_completing`] for an answer that changes nothing (see
    /// [`Library::resolve_for_reading`]).
    pub(crate) async fn resolve_completing_for_reading(&self, caller: &Caller, id: &ItemId) -> Result<Resolved> {
        self.resolve_completing_from(self.resolve_for_reading(caller, id).await, caller, id).await
    }

    async fn resolve_completing_from(
        &self,
        looked_up: Result<(Resolved, bool)>,
        caller: &Caller,
        id: &ItemId,
    ) -> Result<Resolved> {
        match looked_up {
            Ok((resolved, false)) => Ok(resolved),
            Ok((_, true)) => {
                // A move of this item was recorded and not finished: a live process is inside it
                // (the lock waits for it), or one died half-way and storage may show the item at
                // both names (S3), where this look would answer the old one and the next
                // listing, which settles the move, the new one. Settled first, so that every
                // look agrees (issue #14, F6).
                let _guard = self.lock(docbridge_registry::LockMode::Exclusive).await?;
                self.settle_pending_moves().await?;
                self.resolve(caller, id).await
            }
            Err(DocumentsError::NotFound(message)) if !id.is_root() => {
                let completed = match self.registry.reservation(self.integration_id, id).await? {
                    Some(reservation) => self.complete_interrupted_upload(caller, &reservation).await?,
                    None => false,
                };
                if completed { self.resolve(caller, id).await } else { Err(DocumentsError::NotFound(message)) }
            }
            Err(e) => Err(e),
        }
    }

    /// Where a new upload is now that the change lock is held: its folder may have been renamed
    /// or moved since the bytes were written (by a change that took the lock first). The file
    /// went along with its folder, or (on S3, where a folder is a key prefix and a write into a
    /// moved one recreates it) was left under the old name, and is then moved to the new one. It
    /// used to be indexed under the path it was written to, which no longer held it: its next
    /// download answered 404 and dropped its ID.
    async fn landed_path(
        &self,
        caller: &Caller,
        reservation: &Reservation,
        written: StoragePath,
    ) -> Result<StoragePath> {
        let now = self.reserved_path(caller, reservation).await?;
        if now == written || self.exists(&now).await? {
            return Ok(now);
        }
        if let Err(e) = self.storage.rename(&written, &now).await {
            if let Err(e) = self.storage.delete(&written).await {
                tracing::warn!(error = %e, path = %written, "could not remove an upload left in a moved folder");
            }
            return Err(DocumentsError::Conflict(format!(
                "the folder of {:?} was moved meanwhile and the file could not follow it ({e}); send it again",
                reservation.name
            )));
        }
        Ok(now)
    }

    /// Where a new upload lands: its reserved name in its reserved folder, which must still exist.
    async fn reserved_path(&self, caller: &Caller, reservation: &Reservation) -> Result<StoragePath> {
        let parent = match self.resolve_folder(caller, "parentId", &reservation.parent_id).await {
            Ok(parent) => parent,
            Err(DocumentsError::NotFound(_)) => {
                return Err(DocumentsError::Conflict("the destination folder no longer exists".into()));
            }
            Err(e) => return Err(e),
        };
        let (folder, _, _) = Library::location(&parent)?;
        folder.join(&reservation.name).map_err(DocumentsError::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_names() {
        let taken: HashSet<String> =
            ["report.pdf", "report (1).pdf", ".profile", "README"].iter().map(|s| s.to_string()).collect();
        assert_eq!(free_name("new.pdf", &taken), "new.pdf");
        assert_eq!(free_name("report.pdf", &taken), "report (2).pdf");
        assert_eq!(free_name(".profile", &taken), ".profile (1)");
        assert_eq!(free_name("README", &taken), "README (1)");
        let long = format!("{}.pdf", "é".repeat(125));
        let taken: HashSet<String> = [long.clone()].into_iter().collect();
        let free = free_name(&long, &taken);
        assert!(free.len() <= 255 && free.ends_with(" (1).pdf"), "{free}");
    }
}
