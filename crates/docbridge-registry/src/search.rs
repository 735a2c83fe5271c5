//! The search index (C10): item names and the text of text-like files, kept up to date by
//! every change to the item index rather than by walking the tree per query.
//!
//! SQLite uses an FTS5 table with the trigram tokenizer, which answers substring queries of
//! three or more characters from the index; PostgreSQL uses `pg_trgm` GIN indexes on the same
//! columns. Shorter terms fall back to a scan of the names, which is still one query. Text is
//! stored lower-cased (Unicode-aware, in Rust), because neither SQLite's `lower()` nor FTS5's
//! trigram folding handle every script, and queries are lower-cased the same way.

use docbridge_protocol::ItemId;
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, FromQueryResult, Value};

use crate::db::statement;
use crate::entities::item;
use crate::items::{READY, to_record};
use crate::records::ItemRecord;
use crate::{Registry, Result};

pub(crate) async fn insert_search_row(txn: &DatabaseTransaction, num: i64, name: &str) -> Result<()> {
    let backend = txn.get_database_backend();
    txn.execute_raw(statement(
        backend,
        "INSERT INTO item_search (rowid, name, content) VALUES (?, ?, '')",
        vec![num.into(), name.to_lowercase().into()],
    ))
    .await?;
    Ok(())
}

pub(crate) async fn rename_search_row(
    txn: &DatabaseTransaction,
    integration_id: i64,
    id: &ItemId,
    name: &str,
) -> Result<()> {
    let backend = txn.get_database_backend();
    txn.execute_raw(statement(
        backend,
        "UPDATE item_search SET name = ? WHERE rowid = (SELECT num FROM items WHERE integration_id = ? AND id = ?)",
        vec![name.to_lowercase().into(), integration_id.into(), id.as_str().into()],
    ))
    .await?;
    Ok(())
}

pub(crate) async fn delete_integration_search_rows(txn: &DatabaseTransaction, integration_id: i64) -> Result<()> {
    let backend = txn.get_database_backend();
    txn.execute_raw(statement(
        backend,
        "DELETE FROM item_search WHERE rowid IN (SELECT num FROM items WHERE integration_id = ?)",
        vec![integration_id.into()],
    ))
    .await?;
    Ok(())
}

/// Escapes `%`, `_` and `\` for a `LIKE ... ESCAPE '\'` pattern.
fn like_pattern(term: &str) -> String {
    let mut out = String::with_capacity(term.len() + 2);
    out.push('%');
    for c in term.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

/// An FTS5 phrase: the term in double quotes, inner quotes doubled, so that no query syntax
/// (`AND`, `*`, `:`) typed by a user is ever interpreted.
fn fts_phrase(term: &str) -> String {
    format!("\"{}\"", term.replace('"', "\"\""))
}

impl Registry {
    /// Stores the searchable text of a file at a content version (`ItemRecord::version`).
    pub async fn set_search_content(&self, item: &ItemRecord, content: &str, version: &str) -> Result<()> {
        use sea_orm::TransactionTrait;
        let txn = self.db.begin().await?;
        let backend = txn.get_database_backend();
        txn.execute_raw(statement(
            backend,
            "UPDATE item_search SET content = ? WHERE rowid = (SELECT num FROM items WHERE integration_id = ? AND id = ?)",
            vec![content.to_lowercase().into(), item.integration_id.into(), item.id.as_str().into()],
        ))
        .await?;
        txn.execute_raw(statement(
            backend,
            "UPDATE items SET indexed_version = ? WHERE integration_id = ? AND id = ?",
            vec![version.into(), item.integration_id.into(), item.id.as_str().into()],
        ))
        .await?;
        txn.commit().await?;
        Ok(())
    }

    /// Items whose name or indexed content contains every term (case-insensitively), within
    /// the subtree at `within_path` when given. Unordered: ranking is the caller's.
    pub async fn search(
        &self,
        integration_id: i64,
        terms: &[String],
        within_path: Option<&str>,
    ) -> Result<Vec<ItemRecord>> {
        if terms.is_empty() {
            return Ok(Vec::new());
        }
        let backend = self.db.get_database_backend();
        // `CROSS JOIN` with the search table first: SQLite then runs the full-text query once and
        // looks each hit up by primary key. With a plain join it prefers to walk every item of
        // the integration and run the MATCH once per item (38 s over 100,000 items, against
        // milliseconds). PostgreSQL plans a `CROSS JOIN` with a `WHERE` like any join.
        let mut sql = format!(
            "SELECT {ITEM_COLUMNS} FROM item_search CROSS JOIN items WHERE item_search.rowid = items.num AND items.integration_id = ? AND items.state = ?"
        );
        let mut values: Vec<Param> = vec![Param::Int(integration_id), Param::Text(READY.to_owned())];
        let indexable = terms.iter().all(|t| t.chars().count() >= 3);
        if backend == DbBackend::Sqlite && indexable {
            sql.push_str(" AND item_search MATCH ?");
            let query: Vec<String> = terms.iter().map(|t| fts_phrase(t)).collect();
            values.push(Param::Text(query.join(" AND ")));
        } else {
            for term in terms {
                sql.push_str(" AND (lower(item_search.name) LIKE ? ESCAPE '\\' OR lower(item_search.content) LIKE ? ESCAPE '\\')");
                let pattern = like_pattern(&term.to_lowercase());
                values.push(Param::Text(pattern.clone()));
                values.push(Param::Text(pattern));
            }
        }
        if let Some(path) = within_path.filter(|p| !p.is_empty()) {
            let prefix = format!("{path}/");
            sql.push_str(" AND substr(items.path, 1, ?) = ?");
            values.push(Param::Length(crate::db::char_len(&prefix)));
            values.push(Param::Text(prefix));
        }
        // On a SQLite file, in one trip to the blocking pool rather than one thread hand-off
        // per row (`direct.rs`).
        if let Some(direct) = &self.direct
            && let Some(rows) = direct.items(sql.clone(), values.iter().map(Param::to_sqlite).collect()).await
        {
            return Ok(rows.into_iter().map(to_record).collect());
        }
        let values = values.into_iter().map(Param::into_value).collect();
        let rows = item::Model::find_by_statement(statement(backend, &sql, values)).all(&self.db).await?;
        Ok(rows.into_iter().map(to_record).collect())
    }
}

/// The columns of `items` in the order of [`item::Model`] (which the direct reader relies on).
const ITEM_COLUMNS: &str = "items.num, items.id, items.integration_id, items.parent_id, items.path, items.name, \
     items.kind, items.size, items.modified, items.state, items.locked, items.indexed_version, items.created_at";

/// A query parameter, for either driver.
enum Param {
    Int(i64),
    /// `substr`'s length: PostgreSQL has `substr(text, integer, integer)` only (`db::char_len`).
    Length(i32),
    Text(String),
}

impl Param {
    fn into_value(self) -> Value {
        match self {
            Param::Int(n) => n.into(),
            Param::Length(n) => n.into(),
            Param::Text(t) => t.into(),
        }
    }

    fn to_sqlite(&self) -> rusqlite::types::Value {
        match self {
            Param::Int(n) => rusqlite::types::Value::Integer(*n),
            Param::Length(n) => rusqlite::types::Value::Integer(i64::from(*n)),
            Param::Text(t) => rusqlite::types::Value::Text(t.clone()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_escape_wildcards() {
        assert_eq!(like_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
        assert_eq!(fts_phrase("say \"hi\" AND"), "\"say \"\"hi\"\" AND\"");
    }
}
