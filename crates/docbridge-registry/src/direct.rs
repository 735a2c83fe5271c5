//! Reads on the calling thread, for the few queries every provider call makes, when the registry
//! is a SQLite file.
//!
//! sqlx runs each SQLite connection on a worker thread of its own and hands every query to it
//! and back through a channel. For a lookup by primary key that takes a few microseconds in
//! SQLite, the two thread hand-offs (a `futex` wake and two context switches each way) cost
//! more than the query: under load they were most of what `/metadata` and small `/download`
//! spent (`docs/benchmarks.md`). These reads go straight to SQLite instead, on the thread that
//! asks, through a small pool of read-only connections to the same file.
//!
//! Why it is safe to do on an async worker thread: the database is in WAL mode, where a reader
//! never waits for a writer, and the connections have no busy timeout. In the rare cases where
//! SQLite would make a reader wait (recovering the WAL after a crash, a checkpoint in `RESTART`
//! mode), the read fails at once with `SQLITE_BUSY` and the caller falls back to the sqlx pool,
//! which waits on its own thread. Every read starts its own transaction, so it sees every
//! commit made before it started, by this process or any other: the freshness the access cache
//! relies on (`cache.rs`) holds as with sqlx.
//!
//! In-memory databases are not shared between connections, so they keep the sqlx path only.

use std::path::PathBuf;
use std::sync::Mutex;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::entities::item;

/// Connections kept open between reads. More readers than this at one moment open extra
/// connections, which close when done; the async runtime has one worker per core, so this is
/// rarely reached.
const KEPT_CONNECTIONS: usize = 8;

/// Prepared statements cached per connection (rusqlite's LRU cache).
const STATEMENT_CACHE: usize = 16;

/// A pool of read-only connections to the registry's SQLite file.
#[derive(Debug)]
pub(crate) struct DirectReader {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl DirectReader {
    /// A reader for a `sqlite:` URL naming a file; `None` for an in-memory database or any other
    /// URL (those use sqlx only).
    pub(crate) fn for_url(url: &str) -> Option<Self> {
        use std::str::FromStr;
        if !url.starts_with("sqlite:") || url.contains(":memory:") || url.contains("mode=memory") {
            return None;
        }
        let options = sea_orm::sqlx::sqlite::SqliteConnectOptions::from_str(url).ok()?;
        let path = options.get_filename().to_path_buf();
        Some(DirectReader { path, idle: Mutex::new(Vec::new()) })
    }

    /// The database file.
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }

    /// Runs `read` on a pooled connection, on this thread. Any failure (including `SQLITE_BUSY`,
    /// as there is no busy timeout) is answered as `None` after a debug log line: the caller
    /// then asks the sqlx pool, which reports real errors and waits where waiting is needed.
    fn with<T>(&self, what: &str, read: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Option<T> {
        let pooled = self.idle.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let connection = match pooled {
            Some(connection) => connection,
            None => match self.open() {
                Ok(connection) => connection,
                Err(e) => {
                    tracing::debug!(error = %e, path = %self.path.display(), "opening a direct SQLite reader");
                    return None;
                }
            },
        };
        let result = read(&connection);
        match result {
            Ok(value) => {
                let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
                if idle.len() < KEPT_CONNECTIONS {
                    idle.push(connection);
                }
                Some(value)
            }
            Err(e) => {
                // The connection is dropped: whatever went wrong does not stay in the pool.
                tracing::debug!(error = %e, what, "direct SQLite read failed; asking the sqlx pool");
                None
            }
        }
    }

    fn open(&self) -> rusqlite::Result<Connection> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let connection = Connection::open_with_flags(&self.path, flags)?;
        // No waiting on this thread, ever: a busy database is the sqlx pool's business.
        connection.busy_timeout(std::time::Duration::ZERO)?;
        connection.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
        Ok(connection)
    }

    /// Every generation ([`crate::cache::GENERATIONS`]).
    pub(crate) fn generations(&self) -> Option<crate::cache::Generations> {
        self.with("generations", |c| {
            let mut statement = c.prepare_cached(crate::cache::GENERATIONS)?;
            let rows = statement.query_map([], |row| Ok((row.get::<_, Option<i64>>(0)?, row.get::<_, i64>(1)?)))?;
            Ok(crate::cache::Generations::from_rows(rows.collect::<rusqlite::Result<Vec<_>>>()?))
        })
    }

    /// The item row for `sql` (the same text the sqlx path runs, with the columns of
    /// [`item::Model`] in declaration order, then a flag: whether a move intent names the item)
    /// and its three parameters.
    pub(crate) fn item(
        &self,
        sql: &str,
        integration_id: i64,
        id: &str,
        state: &str,
    ) -> Option<Option<(item::Model, bool)>> {
        self.with("item by ID", |c| {
            c.prepare_cached(sql)?
                .query_row(rusqlite::params![integration_id, id, state], |row| Ok((item_row(row)?, row.get(13)?)))
                .optional()
        })
    }

    /// Every item row for `sql` (same columns as [`Self::item`]) and its parameters, read in
    /// one trip to the blocking pool: a folder may have thousands of children. `None` when the
    /// read could not be made (the caller then asks sqlx).
    pub(crate) async fn items(
        self: &std::sync::Arc<Self>,
        sql: String,
        params: Vec<rusqlite::types::Value>,
    ) -> Option<Vec<item::Model>> {
        let reader = self.clone();
        tokio::task::spawn_blocking(move || {
            reader.with("items", |c| {
                c.prepare_cached(&sql)?.query_map(rusqlite::params_from_iter(params), item_row)?.collect()
            })
        })
        .await
        .ok()
        .flatten()
    }
}

/// An `items` row in the column order of [`item::Model`].
fn item_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<item::Model> {
    Ok(item::Model {
        num: row.get(0)?,
        id: row.get(1)?,
        integration_id: row.get(2)?,
        parent_id: row.get(3)?,
        path: row.get(4)?,
        name: row.get(5)?,
        kind: row.get(6)?,
        size: row.get(7)?,
        modified: row.get(8)?,
        state: row.get(9)?,
        locked: row.get(10)?,
        indexed_version: row.get(11)?,
        created_at: row.get(12)?,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use docbridge_protocol::{ItemId, ItemKind};

    use super::DirectReader;
    use crate::test_support::{new_item, sample_integration, unique};
    use crate::{NewItem, Registry};

    /// The same registry without its direct reader: every read goes through sqlx.
    fn through_sqlx(registry: &Registry) -> Registry {
        Registry { direct: None, ..registry.clone() }
    }

    fn new_file(integration_id: i64, name: &str) -> NewItem {
        new_item(integration_id, name, Some(7))
    }

    #[tokio::test]
    async fn only_a_sqlite_file_is_read_on_the_calling_thread() {
        let dir = tempfile::tempdir().unwrap();
        let file =
            Registry::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display())).await.unwrap();
        assert!(file.reads_on_calling_thread());
        assert!(!Registry::connect("sqlite::memory:").await.unwrap().reads_on_calling_thread());
        assert!(DirectReader::for_url("postgres://u@localhost/db").is_none());
    }

    /// Direct reads answer what sqlx answers, and see a change committed by another connection
    /// pool (another process) at the next read: renamed, then trashed.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn direct_reads_agree_with_sqlx_and_see_other_writers_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
        let ours = Registry::connect(&url).await.unwrap();
        let theirs = Registry::connect(&url).await.unwrap();
        let integration = theirs.create_integration(sample_integration(&unique("direct"))).await.unwrap();
        let record = theirs.insert_item(new_file(integration.id, "a.txt")).await.unwrap();

        let direct = ours.item(integration.id, &record.id).await.unwrap().expect("the item, read directly");
        assert_eq!(Some(&direct), through_sqlx(&ours).item(integration.id, &record.id).await.unwrap().as_ref());
        assert_eq!((direct.path.as_str(), direct.size, direct.kind), ("a.txt", 7, ItemKind::File));
        assert_eq!(ours.item(integration.id + 1, &record.id).await.unwrap(), None, "another integration's ID");

        let second = theirs.insert_item(new_file(integration.id, "z.txt")).await.unwrap();
        let sorted = |mut records: Vec<crate::ItemRecord>| {
            records.sort_by(|a, b| a.name.cmp(&b.name));
            records
        };
        let children = sorted(ours.children(integration.id, &ItemId::root()).await.unwrap());
        assert_eq!(children, vec![direct.clone(), second.clone()]);
        assert_eq!(children, sorted(through_sqlx(&ours).children(integration.id, &ItemId::root()).await.unwrap()));

        theirs.move_item(&record, &ItemId::root(), "b.txt", "b.txt").await.unwrap();
        let names: Vec<String> =
            sorted(ours.children(integration.id, &ItemId::root()).await.unwrap()).into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["b.txt", "z.txt"], "a rename by another pool is listed at once");
        for terms in [vec!["b.t".to_owned()], vec!["txt".to_owned()], vec!["z".to_owned()]] {
            let found = sorted(ours.search(integration.id, &terms, None).await.unwrap());
            let expected = sorted(through_sqlx(&ours).search(integration.id, &terms, None).await.unwrap());
            assert!(!found.is_empty(), "{terms:?} finds something");
            assert_eq!(found, expected, "search {terms:?}");
        }
        assert_eq!(ours.item(integration.id, &record.id).await.unwrap().unwrap().path, "b.txt");

        let before = ours.direct.as_ref().unwrap().generations().unwrap().registry.unwrap();
        theirs.set_integration_enabled(&integration.slug, false).await.unwrap();
        let after = ours.direct.as_ref().unwrap().generations().unwrap().registry.unwrap();
        assert!(after > before, "a disable by another pool is seen at once ({before} -> {after})");
        assert_eq!(Some(after), through_sqlx(&ours).registry_generation().await.unwrap());

        let moved = theirs.item(integration.id, &record.id).await.unwrap().unwrap();
        theirs.move_to_trash(&moved, "t1", ".docbridge/trash/t1", None).await.unwrap();
        assert_eq!(ours.item(integration.id, &record.id).await.unwrap(), None, "a trashed item is not live");
    }

    /// When the direct read cannot be made, the answer comes from sqlx, the same.
    #[tokio::test]
    async fn a_failed_direct_read_falls_back_to_sqlx() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
        let working = Registry::connect(&url).await.unwrap();
        let broken_url = format!("sqlite://{}?mode=rwc", dir.path().join("missing/none.db").display());
        let broken =
            Registry { direct: Some(Arc::new(DirectReader::for_url(&broken_url).unwrap())), ..working.clone() };
        assert_eq!(broken.direct.as_ref().unwrap().generations(), None, "the direct read fails");
        let integration = working.create_integration(sample_integration(&unique("fallback"))).await.unwrap();
        let record = working.insert_item(new_file(integration.id, "c.txt")).await.unwrap();
        assert_eq!(broken.item(integration.id, &record.id).await.unwrap(), Some(record));
        let snapshot = broken.access_snapshot().await.unwrap();
        assert!(snapshot.integration(&integration.slug).await.unwrap().is_some());
    }
}
