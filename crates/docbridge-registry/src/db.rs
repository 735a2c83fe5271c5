//! Connecting to the database and running migrations.

use std::time::Duration;

use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, TransactionTrait, Value,
};
use sea_orm_migration::MigratorTrait;

use crate::Result;
use crate::migration::Migrator;

/// The key of the PostgreSQL advisory lock held while migrating: any constant unique to
/// docbridge ("docbridg" in ASCII).
const MIGRATION_LOCK: i64 = 0x646f_6362_7269_6467;

/// A handle on the registry database. Cheap to clone: it wraps a connection pool.
#[derive(Clone, Debug)]
pub struct Registry {
    pub(crate) db: DatabaseConnection,
    /// Who may call, cached per process and checked against the registry generation
    /// (`cache.rs`). Shared by the clones of one `Registry`.
    pub(crate) cache: std::sync::Arc<crate::cache::AccessCache>,
    /// Reads on the calling thread for the per-request lookups, when the database is a SQLite
    /// file (`direct.rs`); `None` otherwise.
    pub(crate) direct: Option<std::sync::Arc<crate::direct::DirectReader>>,
    /// The libraries' change locks, in this process and across processes (`locks.rs`).
    pub(crate) locks: std::sync::Arc<crate::locks::Locks>,
}

impl Registry {
    /// Connects to `sqlite://PATH?mode=rwc`, `sqlite::memory:` or `postgres://...` and brings
    /// the schema up to date.
    pub async fn connect(url: &str) -> Result<Self> {
        let mut options = ConnectOptions::new(url.to_owned());
        options.sqlx_logging(false).connect_timeout(Duration::from_secs(10));
        if url.starts_with("sqlite:") {
            if url.contains(":memory:") || url.contains("mode=memory") {
                // Each pooled connection would otherwise get its own empty in-memory database.
                options.max_connections(1);
            } else {
                options.max_connections(8);
            }
            // A connection to a local file does not go stale: pinging it before every query
            // (sqlx's default) only doubled the round trips to SQLite's worker thread.
            options.test_before_acquire(false);
            options.map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            });
        } else {
            // Ping only connections idle long enough for a server or firewall to have dropped
            // them, not every connection at every query.
            options.max_connections(16).test_before_acquire_if_idle_for(Duration::from_secs(30));
        }
        let db = Database::connect(options).await?;
        if db.get_database_backend() == DbBackend::Postgres {
            // Several processes may start at once against one database (C24). Migrating inside
            // one transaction that holds an advisory lock makes the others wait, then find the
            // schema up to date; PostgreSQL's DDL is transactional, so a failure leaves nothing.
            let txn = db.begin().await?;
            txn.execute_unprepared(&format!("SELECT pg_advisory_xact_lock({MIGRATION_LOCK})")).await?;
            Migrator::up(&txn, None).await?;
            txn.commit().await?;
        } else {
            Migrator::up(&db, None).await?;
        }
        let direct = crate::direct::DirectReader::for_url(url).map(std::sync::Arc::new);
        let lock_backend = if db.get_database_backend() == DbBackend::Postgres {
            crate::locks::LockBackend::Postgres(db.get_postgres_connection_pool().clone())
        } else {
            match &direct {
                Some(reader) => crate::locks::LockBackend::Files(reader.path().to_path_buf()),
                None => crate::locks::LockBackend::ProcessOnly,
            }
        };
        let locks = std::sync::Arc::new(crate::locks::Locks::new(lock_backend));
        Ok(Registry { db, cache: std::sync::Arc::default(), direct, locks })
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn check(&self) -> Result<()> {
        self.db.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    /// Whether the per-request lookups (registry generation, item by ID) run on the calling
    /// thread rather than through sqlx's worker threads: true for a SQLite file.
    pub fn reads_on_calling_thread(&self) -> bool {
        self.direct.is_some()
    }

    /// Whether the database is PostgreSQL (else SQLite).
    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }

    /// The database server's clock, to compare with this machine's (`docbridge doctor`): time
    /// limits written by one and checked by the other go wrong when they disagree. `None` on
    /// SQLite, whose clock is this machine's.
    pub async fn database_time(&self) -> Result<Option<chrono::DateTime<chrono::Utc>>> {
        if !self.is_postgres() {
            return Ok(None);
        }
        let row = self.db.query_one_raw(Statement::from_string(DbBackend::Postgres, "SELECT now() AS now")).await?;
        match row {
            Some(row) => Ok(Some(row.try_get::<chrono::DateTime<chrono::Utc>>("", "now")?)),
            None => Ok(None),
        }
    }
}

/// The length of a text in characters, as an SQL `INTEGER` argument of `substr`. PostgreSQL
/// has `substr(text, integer, integer)` only: a BIGINT (Rust `i64`) argument finds no function.
pub(crate) fn char_len(text: &str) -> i32 {
    i32::try_from(text.chars().count()).unwrap_or(i32::MAX)
}

/// A raw statement with `?` placeholders, renumbered to `$n` for PostgreSQL.
pub(crate) fn statement(backend: DbBackend, sql: &str, values: Vec<Value>) -> Statement {
    if backend != DbBackend::Postgres {
        return Statement::from_sql_and_values(backend, sql, values);
    }
    let mut out = String::with_capacity(sql.len() + 8);
    let mut n = 0;
    for c in sql.chars() {
        if c == '?' {
            n += 1;
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(c);
        }
    }
    Statement::from_sql_and_values(backend, out, values)
}
