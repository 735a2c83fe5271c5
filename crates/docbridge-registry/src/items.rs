//! The item index: a stable ID for every file and folder of every library (C6).
//!
//! Storage is the truth about content; the index is the truth about identity. Every change
//! docbridge makes goes to both; changes made behind docbridge's back (files copied into the
//! folder by hand) are folded in by `reconcile_children` whenever a folder is looked at.

use std::collections::HashMap;

use docbridge_protocol::{ItemId, ItemKind};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, DatabaseTransaction, DbBackend,
    EntityTrait, FromQueryResult, QueryFilter, Statement, TransactionTrait, Value,
};

use crate::db::statement;
use crate::entities::item;
use crate::records::{ItemRecord, ObservedItem};
use crate::{Registry, RegistryError, Result, from_millis, now_millis, random_id};

pub(crate) const READY: &str = "ready";
pub(crate) const TRASHED: &str = "trashed";

pub(crate) fn kind_str(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::File => "file",
        ItemKind::Folder => "folder",
    }
}

pub(crate) fn to_record(row: item::Model) -> ItemRecord {
    ItemRecord {
        id: ItemId::from_trusted(row.id),
        integration_id: row.integration_id,
        parent_id: ItemId::from_trusted(row.parent_id),
        path: row.path,
        name: row.name,
        kind: if row.kind == "folder" { ItemKind::Folder } else { ItemKind::File },
        size: u64::try_from(row.size).unwrap_or(0),
        modified: from_millis(row.modified),
        locked: row.locked,
        indexed_version: row.indexed_version,
    }
}

/// A new index entry.
#[derive(Debug, Clone)]
pub struct NewItem {
    /// The ID to give it; `None` draws a fresh random one.
    pub id: Option<ItemId>,
    /// The integration it belongs to.
    pub integration_id: i64,
    /// Its folder's ID.
    pub parent_id: ItemId,
    /// Its storage path, `/`-separated, relative to the library root.
    pub path: String,
    /// Its name.
    pub name: String,
    /// File or folder.
    pub kind: ItemKind,
    /// Its size in bytes; 0 for a folder.
    pub size: u64,
    /// Its last modification, as storage reports it.
    pub modified: chrono::DateTime<chrono::Utc>,
}

/// The item's columns, then whether a move intent names it (`moving`).
const ITEM_BY_ID: &str = "SELECT num, id, integration_id, parent_id, path, name, kind, size, modified, state, locked, \
     indexed_version, created_at, EXISTS (SELECT 1 FROM pending_moves p WHERE p.integration_id = items.integration_id \
     AND p.item_id = items.id) AS moving FROM items WHERE integration_id = ? AND id = ? AND state = ?";
const ITEM_BY_ID_POSTGRES: &str = "SELECT num, id, integration_id, parent_id, path, name, kind, size, modified, state, \
     locked, indexed_version, created_at, EXISTS (SELECT 1 FROM pending_moves p WHERE p.integration_id = \
     items.integration_id AND p.item_id = items.id) AS moving FROM items WHERE integration_id = $1 AND id = $2 \
     AND state = $3";

const CHILDREN: &str = "SELECT num, id, integration_id, parent_id, path, name, kind, size, modified, state, locked, \
     indexed_version, created_at FROM items WHERE integration_id = ? AND parent_id = ? AND state = ?";

/// `path = prefix OR path LIKE prefix/%`, written with `substr` so that `%` and `_` in names
/// need no escaping.
const SUBTREE: &str = "(path = ? OR substr(path, 1, ?) = ?)";

fn subtree_values(path: &str) -> Vec<Value> {
    let prefix = format!("{path}/");
    vec![path.into(), crate::db::char_len(&prefix).into(), prefix.into()]
}

impl Registry {
    /// A live (not trashed) item by ID.
    ///
    /// Every `/metadata` and `/download` runs this, so it is one fixed SQL text (prepared once
    /// per connection and reused) without `LIMIT ?`: the ORM's `.one()` binds the limit as a
    /// parameter, and SQLite (3.4x) then re-prepares the statement at every execution, because
    /// a bound `LIMIT` may change the plan. The ID is unique, so no limit is needed.
    pub async fn item(&self, integration_id: i64, id: &ItemId) -> Result<Option<ItemRecord>> {
        Ok(self.item_noting_moves(integration_id, id).await?.map(|(record, _)| record))
    }

    /// A live item by ID, and whether a move of it was recorded and not yet finished (a pending
    /// move: its process may have died half-way, and storage may then show it at both names).
    /// The same statement as [`Registry::item`]: knowing costs no extra trip.
    pub async fn item_noting_moves(&self, integration_id: i64, id: &ItemId) -> Result<Option<(ItemRecord, bool)>> {
        let backend = self.db.get_database_backend();
        let sql = match backend {
            DbBackend::Postgres => ITEM_BY_ID_POSTGRES,
            _ => ITEM_BY_ID,
        };
        if let Some(direct) = &self.direct
            && let Some(row) = direct.item(ITEM_BY_ID, integration_id, id.as_str(), READY)
        {
            return Ok(row.map(|(model, moving)| (to_record(model), moving)));
        }
        let values: [Value; 3] = [integration_id.into(), id.as_str().into(), READY.into()];
        let Some(row) = self.db.query_one_raw(Statement::from_sql_and_values(backend, sql, values)).await? else {
            return Ok(None);
        };
        let model = item::Model::from_query_result(&row, "")?;
        let moving: bool = row.try_get("", "moving")?;
        Ok(Some((to_record(model), moving)))
    }

    /// A live item by storage path.
    pub async fn item_by_path(&self, integration_id: i64, path: &str) -> Result<Option<ItemRecord>> {
        Ok(item::Entity::find()
            .filter(item::Column::IntegrationId.eq(integration_id))
            .filter(item::Column::Path.eq(path))
            .filter(item::Column::State.eq(READY))
            .one(&self.db)
            .await?
            .map(to_record))
    }

    /// The indexed children of a folder, unordered.
    ///
    /// On a SQLite file the rows are read in one trip to the blocking pool (`direct.rs`): sqlx
    /// hands every row of a result across threads on its own, which for a folder of 1,000
    /// items was a thousand thread wake-ups and most of what a listing cost.
    pub async fn children(&self, integration_id: i64, parent_id: &ItemId) -> Result<Vec<ItemRecord>> {
        if let Some(direct) = &self.direct {
            use rusqlite::types::Value::{Integer, Text};
            let params = vec![Integer(integration_id), Text(parent_id.as_str().to_owned()), Text(READY.to_owned())];
            if let Some(rows) = direct.items(CHILDREN.to_owned(), params).await {
                return Ok(rows.into_iter().map(to_record).collect());
            }
        }
        self.ready_items(integration_id, Condition::all().add(item::Column::ParentId.eq(parent_id.as_str()))).await
    }

    /// Brings the index of one folder in line with what storage holds: new entries get IDs,
    /// vanished ones (and everything below them) leave the index, changed ones are updated.
    /// Returns the folder's children. When nothing changed, it costs one query.
    pub async fn reconcile_children(
        &self,
        integration_id: i64,
        parent_id: &ItemId,
        parent_path: &str,
        observed: &[ObservedItem],
    ) -> Result<Vec<ItemRecord>> {
        let known = self.children(integration_id, parent_id).await?;
        let mut by_name: HashMap<&str, &ItemRecord> = known.iter().map(|r| (r.name.as_str(), r)).collect();
        let mut inserts = Vec::new();
        let mut updates = Vec::new();
        let mut removals = Vec::new();
        for seen in observed {
            match by_name.remove(seen.name.as_str()) {
                Some(record) if record.kind == seen.kind => {
                    if !seen.agrees_with(record) {
                        updates.push((record.id.clone(), seen));
                    }
                }
                Some(record) => {
                    removals.push(record.clone());
                    inserts.push(seen);
                }
                None => inserts.push(seen),
            }
        }
        removals.extend(by_name.into_values().cloned());
        if inserts.is_empty() && updates.is_empty() && removals.is_empty() {
            return Ok(known);
        }
        // A file that an upload committed but whose index entry was never written (a crash in
        // between) takes the ID its reservation promised, not a random one.
        let mut reserved: HashMap<String, ItemId> = HashMap::new();
        if !inserts.is_empty() {
            for (name, id) in self.pending_reservations(integration_id, parent_id).await? {
                // A reservation for a new version carries its document's ID, which is taken:
                // a file found at that name (written there by another program, or left by the
                // document's rename) is another item and gets an ID of its own.
                if self.item(integration_id, &id).await?.is_none() {
                    reserved.insert(name, id);
                }
            }
        }
        let txn = self.db.begin().await?;
        for record in &removals {
            remove_subtree_in(&txn, integration_id, &record.path).await?;
        }
        for (id, seen) in updates {
            item::Entity::update_many()
                .col_expr(item::Column::Size, sea_orm::sea_query::Expr::value(seen.size as i64))
                .col_expr(item::Column::Modified, sea_orm::sea_query::Expr::value(seen.modified.timestamp_millis()))
                .filter(item::Column::IntegrationId.eq(integration_id))
                .filter(item::Column::Id.eq(id.as_str()))
                .exec(&txn)
                .await?;
        }
        for seen in inserts {
            let path = child_path(parent_path, &seen.name);
            let new = NewItem {
                id: if seen.kind == ItemKind::File { reserved.get(&seen.name).cloned() } else { None },
                integration_id,
                parent_id: parent_id.clone(),
                path,
                name: seen.name.clone(),
                kind: seen.kind,
                size: seen.size,
                modified: seen.modified,
            };
            match insert_in(&txn, new).await {
                // Another request reconciled the same folder first: its ID stands.
                Ok(_) | Err(RegistryError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
        }
        txn.commit().await?;
        self.children(integration_id, parent_id).await
    }

    /// Adds one item to the index. A taken path is a `Conflict`.
    pub async fn insert_item(&self, new: NewItem) -> Result<ItemRecord> {
        let txn = self.db.begin().await?;
        let record = insert_in(&txn, new).await?;
        txn.commit().await?;
        Ok(record)
    }

    /// Records new content of a file (after an upload).
    pub async fn update_item_content(
        &self,
        integration_id: i64,
        id: &ItemId,
        size: u64,
        modified: chrono::DateTime<chrono::Utc>,
    ) -> Result<()> {
        item::Entity::update_many()
            .col_expr(item::Column::Size, sea_orm::sea_query::Expr::value(size as i64))
            .col_expr(item::Column::Modified, sea_orm::sea_query::Expr::value(modified.timestamp_millis()))
            .filter(item::Column::IntegrationId.eq(integration_id))
            .filter(item::Column::Id.eq(id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Renames or moves an item; everything below a folder follows. IDs do not change.
    pub async fn move_item(
        &self,
        item: &ItemRecord,
        new_parent_id: &ItemId,
        new_path: &str,
        new_name: &str,
    ) -> Result<()> {
        let txn = self.db.begin().await?;
        move_in(&txn, item, new_parent_id, new_path, new_name).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Removes an item and everything below it from the index.
    pub async fn remove_subtree(&self, item: &ItemRecord) -> Result<()> {
        let txn = self.db.begin().await?;
        remove_subtree_in(&txn, item.integration_id, &item.path).await?;
        txn.commit().await?;
        Ok(())
    }

    /// Makes an item read-only for everyone (the `lock` action) or writable again.
    pub async fn set_item_locked(&self, item: &ItemRecord, locked: bool) -> Result<()> {
        item::Entity::update_many()
            .col_expr(item::Column::Locked, sea_orm::sea_query::Expr::value(locked))
            .filter(item::Column::IntegrationId.eq(item.integration_id))
            .filter(item::Column::Id.eq(item.id.as_str()))
            .exec(&self.db)
            .await?;
        Ok(())
    }

    /// Files whose content has not been indexed for search at its current version.
    pub async fn items_to_index(&self, integration_id: i64, limit: u64) -> Result<Vec<ItemRecord>> {
        use sea_orm::QuerySelect;
        let rows = item::Entity::find()
            .filter(item::Column::IntegrationId.eq(integration_id))
            .filter(item::Column::State.eq(READY))
            .filter(item::Column::Kind.eq("file"))
            .filter(sea_orm::Condition::any().add(item::Column::IndexedVersion.is_null()).add(
                sea_orm::sea_query::Expr::cust(
                    "indexed_version <> (CAST(size AS TEXT) || '-' || CAST(modified AS TEXT))",
                ),
            ))
            .limit(limit)
            .all(&self.db)
            .await?;
        Ok(rows.into_iter().map(to_record).collect())
    }

    /// Every live item of an integration (for `fsck`-style checks and full rescans).
    pub async fn all_items(&self, integration_id: i64) -> Result<Vec<ItemRecord>> {
        self.ready_items(integration_id, Condition::all()).await
    }

    /// The live items of an integration that `condition` keeps.
    async fn ready_items(&self, integration_id: i64, condition: Condition) -> Result<Vec<ItemRecord>> {
        let live = Condition::all()
            .add(item::Column::IntegrationId.eq(integration_id))
            .add(item::Column::State.eq(READY))
            .add(condition);
        Ok(item::Entity::find().filter(live).all(&self.db).await?.into_iter().map(to_record).collect())
    }
}

/// The storage path of a child: `name` at the root, `parent/name` below.
pub fn child_path(parent_path: &str, name: &str) -> String {
    if parent_path.is_empty() { name.to_owned() } else { format!("{parent_path}/{name}") }
}

pub(crate) async fn insert_in(txn: &DatabaseTransaction, new: NewItem) -> Result<ItemRecord> {
    let id = new.id.map(|id| id.as_str().to_owned()).unwrap_or_else(random_id);
    let path = new.path.clone();
    let row = item::ActiveModel {
        id: Set(id),
        integration_id: Set(new.integration_id),
        parent_id: Set(new.parent_id.as_str().to_owned()),
        path: Set(new.path),
        name: Set(new.name.clone()),
        kind: Set(kind_str(new.kind).to_owned()),
        size: Set(new.size as i64),
        modified: Set(new.modified.timestamp_millis()),
        state: Set(READY.to_owned()),
        locked: Set(false),
        indexed_version: Set(None),
        created_at: Set(now_millis()),
        ..Default::default()
    };
    // A savepoint, so that a conflict leaves the surrounding transaction usable (PostgreSQL
    // aborts the whole transaction on any error otherwise).
    let savepoint = txn.begin().await?;
    let row = match row.insert(&savepoint).await {
        Ok(row) => row,
        Err(e) => {
            savepoint.rollback().await?;
            return Err(RegistryError::conflict_on_unique(e, || format!("{path:?} already exists")));
        }
    };
    savepoint.commit().await?;
    crate::search::insert_search_row(txn, row.num, &new.name).await?;
    Ok(to_record(row))
}

pub(crate) async fn remove_subtree_in(txn: &DatabaseTransaction, integration_id: i64, path: &str) -> Result<()> {
    let backend = txn.get_database_backend();
    let mut values = vec![integration_id.into()];
    values.extend(subtree_values(path));
    txn.execute_raw(statement(
        backend,
        &format!(
            "DELETE FROM item_search WHERE rowid IN (SELECT num FROM items WHERE integration_id = ? AND {SUBTREE})"
        ),
        values.clone(),
    ))
    .await?;
    txn.execute_raw(statement(backend, &format!("DELETE FROM items WHERE integration_id = ? AND {SUBTREE}"), values))
        .await?;
    Ok(())
}

/// Moves an item row and rewrites the paths of everything below it.
pub(crate) async fn move_in(
    txn: &DatabaseTransaction,
    item: &ItemRecord,
    new_parent_id: &ItemId,
    new_path: &str,
    new_name: &str,
) -> Result<()> {
    let backend = txn.get_database_backend();
    let updated = item::Entity::update_many()
        .col_expr(item::Column::ParentId, sea_orm::sea_query::Expr::value(new_parent_id.as_str()))
        .col_expr(item::Column::Path, sea_orm::sea_query::Expr::value(new_path))
        .col_expr(item::Column::Name, sea_orm::sea_query::Expr::value(new_name))
        .filter(item::Column::IntegrationId.eq(item.integration_id))
        .filter(item::Column::Id.eq(item.id.as_str()))
        .exec(txn)
        .await
        .map_err(|e| {
            RegistryError::conflict_on_unique(e, || format!("an item named {new_name:?} already exists there"))
        })?;
    if updated.rows_affected == 0 {
        return Err(RegistryError::NotFound(format!("item {}", item.id)));
    }
    if item.kind == ItemKind::Folder {
        let old_prefix = format!("{}/", item.path);
        let new_prefix = format!("{new_path}/");
        let old_len = crate::db::char_len(&old_prefix);
        txn.execute_raw(statement(
            backend,
            "UPDATE items SET path = ? || substr(path, ?) WHERE integration_id = ? AND substr(path, 1, ?) = ?",
            vec![
                new_prefix.into(),
                old_len.saturating_add(1).into(),
                item.integration_id.into(),
                old_len.into(),
                old_prefix.into(),
            ],
        ))
        .await
        .map_err(|e| {
            RegistryError::conflict_on_unique(e, || format!("an item named {new_name:?} already exists there"))
        })?;
    }
    crate::search::rename_search_row(txn, item.integration_id, &item.id, new_name).await?;
    Ok(())
}
