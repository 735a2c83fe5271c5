//! Moves under way (issue #14): the intent of a rename, move, delete into the trash or restore,
//! recorded before storage is touched and cleared in the transaction that updates the index.
//! A process killed in between leaves the intent behind; whoever next looks at the folder
//! completes it (storage moved: the index follows, IDs kept) or drops it (storage did not).

use docbridge_protocol::ItemId;
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult, TransactionTrait, Value};

use crate::db::statement;
use crate::{Registry, RegistryError, Result, from_millis, now_millis};

/// What a pending move does to the index once storage has moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveKind {
    /// A rename or a move between folders: the row (and its subtree) takes the new path.
    Move,
    /// A delete: the subtree goes to the trash, under the trash entry `trash_id`.
    Trash,
    /// A restore of the trash entry `trash_id` to `to_path`.
    Restore,
}

impl MoveKind {
    fn as_str(self) -> &'static str {
        match self {
            MoveKind::Move => "move",
            MoveKind::Trash => "trash",
            MoveKind::Restore => "restore",
        }
    }

    fn parse(raw: &str) -> Result<Self> {
        match raw {
            "move" => Ok(MoveKind::Move),
            "trash" => Ok(MoveKind::Trash),
            "restore" => Ok(MoveKind::Restore),
            other => Err(RegistryError::Corrupt(format!("pending move of unknown kind {other:?}"))),
        }
    }
}

/// A move to record before storage is touched.
#[derive(Debug, Clone)]
pub struct NewPendingMove {
    /// The integration whose library changes.
    pub integration_id: i64,
    /// The item that moves.
    pub item_id: ItemId,
    /// Rename or move, delete into the trash, or restore.
    pub kind: MoveKind,
    /// Its storage path before.
    pub from_path: String,
    /// Its storage path after.
    pub to_path: String,
    /// The new parent folder (`Move`, `Restore`); the root's ID for `Trash`.
    pub to_parent_id: ItemId,
    /// The new name (`Move`, `Restore`); the item's name for `Trash`.
    pub to_name: String,
    /// The trash entry (`Trash`: the one to create; `Restore`: the one restored).
    pub trash_id: Option<String>,
    /// Who deleted (`Trash`).
    pub deleted_by: Option<String>,
}

/// A recorded move.
#[derive(Debug, Clone)]
pub struct PendingMove {
    /// The record's ID.
    pub id: i64,
    /// When it was recorded: an old one belongs to a process that died mid-move.
    pub created: chrono::DateTime<chrono::Utc>,
    /// What was recorded.
    pub new: NewPendingMove,
}

#[derive(FromQueryResult)]
struct Row {
    id: i64,
    integration_id: i64,
    item_id: String,
    kind: String,
    from_path: String,
    to_path: String,
    to_parent_id: String,
    to_name: String,
    trash_id: Option<String>,
    deleted_by: Option<String>,
    created_at: i64,
}

impl Registry {
    /// Records a move before storage is touched.
    pub async fn record_pending_move(&self, new: NewPendingMove) -> Result<PendingMove> {
        let backend = self.db.get_database_backend();
        let created_at = now_millis();
        let values: Vec<Value> = vec![
            new.integration_id.into(),
            new.item_id.as_str().into(),
            new.kind.as_str().into(),
            new.from_path.clone().into(),
            new.to_path.clone().into(),
            new.to_parent_id.as_str().into(),
            new.to_name.clone().into(),
            new.trash_id.clone().into(),
            new.deleted_by.clone().into(),
            created_at.into(),
        ];
        let row = self
            .db
            .query_one_raw(statement(
                backend,
                "INSERT INTO pending_moves (integration_id, item_id, kind, from_path, to_path, to_parent_id, \
                 to_name, trash_id, deleted_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
                values,
            ))
            .await?
            .ok_or_else(|| RegistryError::Corrupt("INSERT ... RETURNING answered no row".into()))?;
        let id: i64 = row.try_get("", "id")?;
        Ok(PendingMove { id, created: from_millis(created_at), new })
    }

    /// Forgets a recorded move whose storage change did not happen (or was undone).
    pub async fn clear_pending_move(&self, pending: &PendingMove) -> Result<()> {
        let backend = self.db.get_database_backend();
        self.db
            .execute_raw(statement(backend, "DELETE FROM pending_moves WHERE id = ?", vec![pending.id.into()]))
            .await?;
        Ok(())
    }

    /// The moves recorded for a library and not yet completed or cleared, oldest first.
    pub async fn pending_moves(&self, integration_id: i64) -> Result<Vec<PendingMove>> {
        let backend = self.db.get_database_backend();
        let rows = Row::find_by_statement(statement(
            backend,
            "SELECT id, integration_id, item_id, kind, from_path, to_path, to_parent_id, to_name, trash_id, \
             deleted_by, created_at FROM pending_moves WHERE integration_id = ? ORDER BY id",
            vec![integration_id.into()],
        ))
        .all(&self.db)
        .await?;
        rows.into_iter()
            .map(|row| {
                Ok(PendingMove {
                    id: row.id,
                    created: from_millis(row.created_at),
                    new: NewPendingMove {
                        integration_id: row.integration_id,
                        item_id: ItemId::from_trusted(row.item_id),
                        kind: MoveKind::parse(&row.kind)?,
                        from_path: row.from_path,
                        to_path: row.to_path,
                        to_parent_id: ItemId::from_trusted(row.to_parent_id),
                        to_name: row.to_name,
                        trash_id: row.trash_id,
                        deleted_by: row.deleted_by,
                    },
                })
            })
            .collect()
    }

    /// Brings the index in line with a move that storage has made, and clears its record, in
    /// one transaction (see [`MoveCompletion`]). A record already gone means another process
    /// settled the move while this one was inside it, which only a lost change lock allows (a
    /// PostgreSQL restart ends advisory locks while their holders go on): the index then
    /// follows the move here if it still has the item where the move started, and otherwise is
    /// left as that process made it.
    pub async fn complete_pending_move(&self, pending: &PendingMove) -> Result<MoveCompletion> {
        let txn = self.db.begin().await?;
        let backend = txn.get_database_backend();
        let cleared = txn
            .execute_raw(statement(backend, "DELETE FROM pending_moves WHERE id = ?", vec![pending.id.into()]))
            .await?;
        let ours = cleared.rows_affected() == 1;
        let applied = apply_in(&txn, &pending.new).await?;
        txn.commit().await?;
        Ok(match (applied, ours) {
            (true, _) => MoveCompletion::Applied,
            (false, true) => MoveCompletion::Refused,
            (false, false) => MoveCompletion::SettledElsewhere,
        })
    }
}

/// What [`Registry::complete_pending_move`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MoveCompletion {
    /// The index follows the move; its record is cleared.
    Applied,
    /// The index no longer has the item where the move started (it has moved on since): the
    /// record is cleared, nothing else changed (the caller undoes storage's side).
    Refused,
    /// Another process had already settled the move and cleared its record, and the index has
    /// moved on: nothing changed, and storage's side must not be undone, since the index may
    /// already follow it.
    SettledElsewhere,
}

/// The index side of a move, inside `txn`.
async fn apply_in(txn: &DatabaseTransaction, new: &NewPendingMove) -> Result<bool> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    let state = if new.kind == MoveKind::Restore { crate::items::TRASHED } else { crate::items::READY };
    let Some(row) = crate::entities::item::Entity::find()
        .filter(crate::entities::item::Column::IntegrationId.eq(new.integration_id))
        .filter(crate::entities::item::Column::Id.eq(new.item_id.as_str()))
        .filter(crate::entities::item::Column::State.eq(state))
        .one(txn)
        .await?
    else {
        return Ok(false);
    };
    if row.path != new.from_path {
        return Ok(false);
    }
    let record = crate::items::to_record(row);
    match new.kind {
        MoveKind::Move => crate::items::move_in(txn, &record, &new.to_parent_id, &new.to_path, &new.to_name).await?,
        MoveKind::Trash => {
            let trash_id =
                new.trash_id.as_deref().ok_or_else(|| RegistryError::Corrupt("trash move without ID".into()))?;
            crate::trash::move_to_trash_in(txn, &record, trash_id, &new.to_path, new.deleted_by.as_deref()).await?;
        }
        MoveKind::Restore => {
            let trash_id =
                new.trash_id.as_deref().ok_or_else(|| RegistryError::Corrupt("restore without ID".into()))?;
            let Some(entry) = crate::trash::trash_entry_in(txn, trash_id).await? else { return Ok(false) };
            crate::trash::restore_in(txn, &entry, &new.to_parent_id, &new.to_path, &new.to_name).await?;
        }
    }
    Ok(true)
}
