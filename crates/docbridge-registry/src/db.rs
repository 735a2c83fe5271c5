//! Connecting to the database and running migrations.

use std::time::Duration;

use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement, Value};
use sea_orm_migration::MigratorTrait;

use crate::Result;
use crate::migration::Migrator;

/// A handle on the registry database. Cheap to clone: it wraps a connection pool.
#[derive(Clone, Debug)]
pub struct Registry {
    pub(crate) db: DatabaseConnection,
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
            options.map_sqlx_sqlite_opts(|opts| {
                opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                    .synchronous(sea_orm::sqlx::sqlite::SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(30))
                    .foreign_keys(true)
            });
        } else {
            options.max_connections(16);
        }
        let db = Database::connect(options).await?;
        Migrator::up(&db, None).await?;
        Ok(Registry { db })
    }

    /// Whether the database answers (for `/readyz`).
    pub async fn check(&self) -> Result<()> {
        self.db.execute_unprepared("SELECT 1").await?;
        Ok(())
    }

    pub fn is_postgres(&self) -> bool {
        self.db.get_database_backend() == DbBackend::Postgres
    }
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
