//! The trash (C16): deleted items keep their IDs and rows, marked trashed, with their paths
//! rewritten to where the storage adapter moved them, until restored or purged.

use docbridge_protocol::{ItemId, ItemKind};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    TransactionTrait,
};

use crate::db::statement;
use crate::entities::trash;
use crate::items::{READY, TRASHED, kind_str, remove_subtree_in};
use crate::records::{ItemRecord, TrashEntry};
use crate::{Registry, RegistryError, Result, from_millis, now_millis};

fn to_record(row: trash::Model) -> TrashEntry {
    TrashEntry {
        id: row.id,
        integration_id: row.integration_id,
        item_id: ItemId::from_trusted(row.item_id),
        name: row.name,
        kind: if row.kind == "folder" { ItemKind::Folder } else { ItemKind::File },
        original_path: row.original_path,
        original_parent_id: ItemId::from_trusted(row.original_parent_id),
        trash_path: row.trash_path,
        deleted_by: row.deleted_by,
        deleted_at: from_millis(row.deleted_at),
    }
}

/// Rewrites the prefix `from` of every path in a subtree to `to`, and sets the state.
async fn relocate_subtree(
    txn: &sea_orm::DatabaseTransaction,
    integration_id: i64,
    from: &str,
    to: &str,
    state: &str,
) -> Result<()> {
    let backend = txn.get_database_backend();
    let prefix = format!("{from}/");
    let len = crate::db::char_len(&prefix);
    txn.execute_raw(statement(
        backend,
        "UPDATE items SET path = ? || substr(path, ?), state = ? WHERE integration_id = ? AND (path = ? OR substr(path, 1, ?) = ?)",
        vec![to.into(), crate::db::char_len(from).saturating_add(1).into(), state.into(), integration_id.into(), from.into(), len.into(), prefix.into()],
    ))
    .await?;
    Ok(())
}

impl Registry {
    /// Records that `item` (and its subtree) now lives at `trash_path` in storage.
    pub async fn move_to_trash(
        &self,
        item: &ItemRecord,
        trash_id: &str,
        trash_path: &str,
        deleted_by: Option<&str>,
    ) -> Result<TrashEntry> {
        let txn = self.db.begin().await?;
        let entry = move_to_trash_in(&txn, item, trash_id, trash_path, deleted_by).await?;
        txn.commit().await?;
        Ok(entry)
    }

    /// The trash of one integration, or of all, oldest first.
    pub async fn trash_entries(&self, integration_id: Option<i64>) -> Result<Vec<TrashEntry>> {
        let mut query = trash::Entity::find();
        if let Some(id) = integration_id {
            query = query.filter(trash::Column::IntegrationId.eq(id));
        }
        Ok(query.order_by_asc(trash::Column::DeletedAt).all(&self.db).await?.into_iter().map(to_record).collect())
    }

    /// One trash entry, by its ID.
    pub async fn trash_entry(&self, trash_id: &str) -> Result<Option<TrashEntry>> {
        Ok(trash::Entity::find_by_id(trash_id.to_owned()).one(&self.db).await?.map(to_record))
    }

    /// Records that a trashed subtree is back at `restored_path` (its original path unless that
    /// was taken), under `parent_id`. IDs are unchanged.
    pub async fn restore_from_trash(
        &self,
        entry: &TrashEntry,
        parent_id: &ItemId,
        restored_path: &str,
        restored_name: &str,
    ) -> Result<()> {
        let txn = self.db.begin().await?;
        restore_in(&txn, entry, parent_id, restored_path, restored_name).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Forgets a trashed subtree for good (its storage must already be gone).
    pub async fn purge_trash_entry(&self, entry: &TrashEntry) -> Result<()> {
        let txn = self.db.begin().await?;
        remove_subtree_in(&txn, entry.integration_id, &entry.trash_path).await?;
        trash::Entity::delete_by_id(entry.id.clone()).exec(&txn).await?;
        txn.commit().await?;
        Ok(())
    }
}

pub(crate) async fn move_to_trash_in(
    txn: &sea_orm::DatabaseTransaction,
    item: &ItemRecord,
    trash_id: &str,
    trash_path: &str,
    deleted_by: Option<&str>,
) -> Result<TrashEntry> {
    relocate_subtree(txn, item.integration_id, &item.path, trash_path, TRASHED).await?;
    let row = trash::ActiveModel {
        id: Set(trash_id.to_owned()),
        integration_id: Set(item.integration_id),
        item_id: Set(item.id.as_str().to_owned()),
        name: Set(item.name.clone()),
        kind: Set(kind_str(item.kind).to_owned()),
        original_path: Set(item.path.clone()),
        original_parent_id: Set(item.parent_id.as_str().to_owned()),
        trash_path: Set(trash_path.to_owned()),
        deleted_by: Set(deleted_by.map(str::to_owned)),
        deleted_at: Set(now_millis()),
    }
    .insert(txn)
    .await?;
    Ok(to_record(row))
}

pub(crate) async fn trash_entry_in(txn: &sea_orm::DatabaseTransaction, trash_id: &str) -> Result<Option<TrashEntry>> {
    Ok(trash::Entity::find_by_id(trash_id.to_owned()).one(txn).await?.map(to_record))
}

pub(crate) async fn restore_in(
    txn: &sea_orm::DatabaseTransaction,
    entry: &TrashEntry,
    parent_id: &ItemId,
    restored_path: &str,
    restored_name: &str,
) -> Result<()> {
    relocate_subtree(txn, entry.integration_id, &entry.trash_path, restored_path, READY).await.map_err(
        |e| match e {
            RegistryError::Database(db) => {
                RegistryError::conflict_on_unique(db, || format!("{restored_path:?} is taken"))
            }
            other => other,
        },
    )?;
    crate::entities::item::Entity::update_many()
        .col_expr(crate::entities::item::Column::ParentId, sea_orm::sea_query::Expr::value(parent_id.as_str()))
        .col_expr(crate::entities::item::Column::Name, sea_orm::sea_query::Expr::value(restored_name))
        .filter(crate::entities::item::Column::IntegrationId.eq(entry.integration_id))
        .filter(crate::entities::item::Column::Id.eq(entry.item_id.as_str()))
        .exec(txn)
        .await?;
    trash::Entity::delete_by_id(entry.id.clone()).exec(txn).await?;
    Ok(())
}
