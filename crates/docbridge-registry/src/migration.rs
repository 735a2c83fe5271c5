//! Schema migrations, run at every start. One SQL text per dialect so that each database gets
//! its own best features: FTS5 with trigrams on SQLite, `pg_trgm` GIN indexes on PostgreSQL.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

pub struct Migrator;

/// `MigrationName` for a migration of this file: the name recorded in the database's migration
/// table, which must never change once released.
macro_rules! named {
    ($migration:ident, $name:literal) => {
        impl MigrationName for $migration {
            fn name(&self) -> &str {
                $name
            }
        }
    };
}

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(InitialSchema),
            Box::new(RegistryGeneration),
            Box::new(BindTokensToUsers),
            Box::new(AdminSessions),
            Box::new(PendingMoves),
            Box::new(SearchWithoutPendingList),
            Box::new(ItemGenerations),
        ]
    }
}

#[derive(DeriveMigrationName)]
struct InitialSchema;

/// Tables in creation order. `{pk}` is an auto-increment 64-bit key, `{bool}` a boolean.
/// Timestamps are epoch milliseconds in BIGINT columns: one representation on both databases.
const TABLES: &[&str] = &[
    "CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE integrations (
        id {pk},
        slug TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL UNIQUE,
        auth_type TEXT NOT NULL,
        client_id TEXT UNIQUE,
        client_secret_hash TEXT,
        redirect_uris TEXT NOT NULL,
        request_params TEXT NOT NULL,
        storage_kind TEXT NOT NULL,
        storage_root TEXT NOT NULL,
        enabled {bool} NOT NULL,
        default_role TEXT NOT NULL,
        custom_actions TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        updated_at BIGINT NOT NULL)",
    "CREATE TABLE api_keys (
        id {pk},
        integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        key_hash TEXT NOT NULL UNIQUE,
        hint TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        revoked_at BIGINT)",
    "CREATE TABLE items (
        num {pk},
        id TEXT NOT NULL UNIQUE,
        integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        parent_id TEXT NOT NULL,
        path TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        size BIGINT NOT NULL,
        modified BIGINT NOT NULL,
        state TEXT NOT NULL,
        locked {bool} NOT NULL,
        indexed_version TEXT,
        created_at BIGINT NOT NULL)",
    "CREATE UNIQUE INDEX items_path ON items (integration_id, path)",
    "CREATE INDEX items_parent ON items (integration_id, parent_id)",
    "CREATE TABLE reservations (
        id TEXT PRIMARY KEY,
        integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        parent_id TEXT NOT NULL,
        name TEXT NOT NULL,
        replaces_existing {bool} NOT NULL,
        wf_document_id TEXT,
        wf_document_version_id TEXT,
        created_by TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        uploaded_at BIGINT)",
    "CREATE INDEX reservations_wf ON reservations (integration_id, wf_document_id)",
    "CREATE TABLE trash (
        id TEXT PRIMARY KEY,
        integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        item_id TEXT NOT NULL,
        name TEXT NOT NULL,
        kind TEXT NOT NULL,
        original_path TEXT NOT NULL,
        original_parent_id TEXT NOT NULL,
        trash_path TEXT NOT NULL,
        deleted_by TEXT,
        deleted_at BIGINT NOT NULL)",
    "CREATE TABLE users (
        id {pk},
        username TEXT NOT NULL UNIQUE,
        password_hash TEXT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE grants (
        id {pk},
        user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        role TEXT NOT NULL,
        folder_id TEXT,
        UNIQUE (user_id, integration_id))",
    "CREATE TABLE oauth_codes (
        code_hash TEXT PRIMARY KEY,
        integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        username TEXT NOT NULL,
        redirect_uri TEXT,
        code_challenge TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT)",
    "CREATE TABLE oauth_tokens (
        token_hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        username TEXT NOT NULL,
        origin_code_hash TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT)",
    "CREATE INDEX oauth_tokens_origin ON oauth_tokens (origin_code_hash)",
    "CREATE TABLE audit (
        id {pk},
        at BIGINT NOT NULL,
        actor TEXT NOT NULL,
        integration TEXT NOT NULL,
        operation TEXT NOT NULL,
        item_id TEXT,
        result TEXT NOT NULL,
        detail TEXT)",
    "CREATE INDEX audit_at ON audit (at)",
];

const SQLITE_SEARCH: &[&str] = &[
    // rowid = items.num. Trigrams make every substring of three or more characters an index hit.
    "CREATE VIRTUAL TABLE item_search USING fts5(name, content, tokenize = 'trigram')",
];

const POSTGRES_SEARCH: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE TABLE item_search (rowid BIGINT PRIMARY KEY, name TEXT NOT NULL, content TEXT NOT NULL)",
    "CREATE INDEX item_search_name ON item_search USING gin (lower(name) gin_trgm_ops)",
    "CREATE INDEX item_search_content ON item_search USING gin (lower(content) gin_trgm_ops)",
];

#[async_trait::async_trait]
impl MigrationTrait for InitialSchema {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let db = manager.get_connection();
        let (pk, boolean, search) = match backend {
            DbBackend::Postgres => ("BIGSERIAL PRIMARY KEY", "BOOLEAN", POSTGRES_SEARCH),
            _ => ("INTEGER PRIMARY KEY AUTOINCREMENT", "BOOLEAN", SQLITE_SEARCH),
        };
        for sql in TABLES {
            db.execute_unprepared(&sql.replace("{pk}", pk).replace("{bool}", boolean)).await?;
        }
        for sql in search {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

/// The registry generation (see `cache.rs`): one counter that every change to the tables which
/// decide who may call (integrations, their keys, users, grants) bumps, by trigger, in the
/// changing transaction. Processes cache those tables and check the counter, one cheap read,
/// before trusting the cache; triggers rather than code, so that every writer bumps it: the CLI,
/// another server process, an older binary, or a hand-written `UPDATE`.
struct RegistryGeneration;

named!(RegistryGeneration, "m0002_registry_generation");

/// The tables whose changes bump the generation.
pub(crate) const GENERATION_TABLES: &[&str] = &["integrations", "api_keys", "users", "grants"];

#[async_trait::async_trait]
impl MigrationTrait for RegistryGeneration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared("CREATE TABLE registry_generation (id INTEGER PRIMARY KEY, value BIGINT NOT NULL)")
            .await?;
        db.execute_unprepared("INSERT INTO registry_generation (id, value) VALUES (1, 0)").await?;
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                // Statement-level: one bump per statement, however many rows it touched. The
                // row lock it takes is held to the end of the writing transaction, so readers
                // see the new value exactly when they can see the change.
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION docbridge_bump_registry_generation() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; RETURN NULL; END $$",
                )
                .await?;
                for table in GENERATION_TABLES {
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} \
                         FOR EACH STATEMENT EXECUTE FUNCTION docbridge_bump_registry_generation()"
                    ))
                    .await?;
                }
            }
            _ => {
                for table in GENERATION_TABLES {
                    for operation in ["INSERT", "UPDATE", "DELETE"] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_{}_generation AFTER {operation} ON {table} \
                             BEGIN UPDATE registry_generation SET value = value + 1 WHERE id = 1; END",
                            operation.to_lowercase()
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }
}

/// OAuth2 codes and tokens name their user by ID, not by username (issue #13, finding 4): a
/// username is reusable (delete `carl`, add a new `carl`), an ID never is (AUTOINCREMENT on
/// SQLite, a sequence on PostgreSQL). The foreign key's `ON DELETE CASCADE` removes a user's
/// codes and tokens with the user, whoever deletes it.
///
/// The tables are rebuilt (SQLite cannot add a `NOT NULL` foreign key column). An existing row
/// is bound to the user that holds its username now only if that user already existed when the
/// row was written; a row older than its namesake belonged to a deleted user of the same name
/// and is dropped, as is a row whose username no user holds. So Workfront keeps working across
/// the upgrade, and no new `carl` inherits an old `carl`'s tokens.
struct BindTokensToUsers;

named!(BindTokensToUsers, "m0003_bind_oauth_to_user_ids");

const BIND_TOKENS_TO_USERS: &[&str] = &[
    "CREATE TABLE oauth_codes_by_user (
        code_hash TEXT PRIMARY KEY,
        integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        redirect_uri TEXT,
        code_challenge TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        used_at BIGINT)",
    "INSERT INTO oauth_codes_by_user
        (code_hash, integration_id, user_id, redirect_uri, code_challenge, created_at, expires_at, used_at)
     SELECT c.code_hash, c.integration_id, u.id, c.redirect_uri, c.code_challenge, c.created_at, c.expires_at, c.used_at
     FROM oauth_codes c JOIN users u ON u.username = c.username AND u.created_at <= c.created_at",
    "DROP TABLE oauth_codes",
    "ALTER TABLE oauth_codes_by_user RENAME TO oauth_codes",
    "CREATE INDEX oauth_codes_user ON oauth_codes (user_id)",
    "CREATE TABLE oauth_tokens_by_user (
        token_hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
        user_id BIGINT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        origin_code_hash TEXT,
        created_at BIGINT NOT NULL,
        expires_at BIGINT NOT NULL,
        revoked_at BIGINT)",
    "INSERT INTO oauth_tokens_by_user
        (token_hash, kind, integration_id, user_id, origin_code_hash, created_at, expires_at, revoked_at)
     SELECT t.token_hash, t.kind, t.integration_id, u.id, t.origin_code_hash, t.created_at, t.expires_at, t.revoked_at
     FROM oauth_tokens t JOIN users u ON u.username = t.username AND u.created_at <= t.created_at",
    "DROP TABLE oauth_tokens",
    "ALTER TABLE oauth_tokens_by_user RENAME TO oauth_tokens",
    "CREATE INDEX oauth_tokens_origin ON oauth_tokens (origin_code_hash)",
    "CREATE INDEX oauth_tokens_user ON oauth_tokens (user_id)",
];

#[async_trait::async_trait]
impl MigrationTrait for BindTokensToUsers {
    /// One transaction on SQLite too: all the statements on one connection of the pool, and a
    /// crash half-way leaves the old tables as they were rather than one dropped.
    fn use_transaction(&self) -> Option<bool> {
        Some(true)
    }

    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        for sql in BIND_TOKENS_TO_USERS {
            db.execute_unprepared(sql).await?;
        }
        Ok(())
    }
}

/// Admin page sessions kept in the database (issue #13, finding 9), so that logging out ends
/// the session in every process: the cookie carries a random session ID, the table its SHA-256
/// (a copy of the database opens no session) and its expiry; logging out deletes the row.
struct AdminSessions;

named!(AdminSessions, "m0004_admin_sessions");

#[async_trait::async_trait]
impl MigrationTrait for AdminSessions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        db.execute_unprepared(
            "CREATE TABLE admin_sessions (id_hash TEXT PRIMARY KEY, created_at BIGINT NOT NULL, expires_at BIGINT NOT NULL)",
        )
        .await?;
        db.execute_unprepared("CREATE INDEX admin_sessions_expiry ON admin_sessions (expires_at)").await?;
        Ok(())
    }
}

/// Moves under way (issue #14): a rename, move, delete into the trash or restore records its
/// intent before it touches storage and clears it in the transaction that updates the index,
/// so that one interrupted in between (a killed process) is completed, ID kept, by whoever next
/// looks at the item's folder instead of the moved file coming back under a new ID.
struct PendingMoves;

named!(PendingMoves, "m0005_pending_moves");

#[async_trait::async_trait]
impl MigrationTrait for PendingMoves {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let pk = match manager.get_database_backend() {
            DbBackend::Postgres => "BIGSERIAL PRIMARY KEY",
            _ => "INTEGER PRIMARY KEY AUTOINCREMENT",
        };
        db.execute_unprepared(&format!(
            "CREATE TABLE pending_moves (
                id {pk},
                integration_id BIGINT NOT NULL REFERENCES integrations(id) ON DELETE CASCADE,
                item_id TEXT NOT NULL,
                kind TEXT NOT NULL,
                from_path TEXT NOT NULL,
                to_path TEXT NOT NULL,
                to_parent_id TEXT NOT NULL,
                to_name TEXT NOT NULL,
                trash_id TEXT,
                deleted_by TEXT,
                created_at BIGINT NOT NULL)"
        ))
        .await?;
        db.execute_unprepared("CREATE INDEX pending_moves_integration ON pending_moves (integration_id)").await?;
        Ok(())
    }
}

/// PostgreSQL's search indexes take each new name at once (issue #17). A GIN index by default
/// gathers new entries in a pending list that every query reads in full until a vacuum merges
/// it: after `fsck` indexed 100,000 items, `/search` took 146 ms at the median against 0.67 ms
/// on SQLite, and the planner, counting the list's pages, chose to scan the whole table. Without
/// the list, an insert costs some 40 µs more (100,000 names: 0.8 s → 4.0 s in one statement) and
/// a query 0.3 ms. The entries already pending are merged here. SQLite has nothing to change.
struct SearchWithoutPendingList;

named!(SearchWithoutPendingList, "m0006_search_without_pending_list");

#[async_trait::async_trait]
impl MigrationTrait for SearchWithoutPendingList {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        for index in ["item_search_name", "item_search_content"] {
            db.execute_unprepared(&format!("ALTER INDEX {index} SET (fastupdate = off)")).await?;
            db.execute_unprepared(&format!("SELECT gin_clean_pending_list('{index}'::regclass)")).await?;
        }
        Ok(())
    }
}

/// A counter per integration that every change to its items, or to its moves under way, bumps
/// by trigger in the changing transaction (issue #17): processes cache item records and check
/// the counters (read in the statement that reads the registry generation) before trusting them,
/// as they do for access (`cache.rs`). Triggers rather than code, so that every writer bumps
/// them: another process, the CLI, an older binary, a hand-written `UPDATE`.
///
/// On PostgreSQL the bump is a deferred constraint trigger: it runs at commit, after every
/// statement of the transaction, so the counter row is the last lock a writer takes and two
/// writers can never wait for each other in a cycle (an immediate trigger would lock the
/// counter at the first changed row, and a writer holding it could then wait for a row that
/// another writer, waiting for the counter, holds). A transaction bumps once, however many rows
/// it changed (`xact` remembers which transaction bumped last).
struct ItemGenerations;

named!(ItemGenerations, "m0007_item_generations");

/// The tables whose rows make up what an item lookup answers.
pub(crate) const ITEM_GENERATION_TABLES: &[&str] = &["items", "pending_moves"];

#[async_trait::async_trait]
impl MigrationTrait for ItemGenerations {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                db.execute_unprepared(
                    "CREATE TABLE item_generations (integration_id BIGINT PRIMARY KEY, value BIGINT NOT NULL, \
                     xact BIGINT NOT NULL)",
                )
                .await?;
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION docbridge_bump_item_generation() RETURNS trigger LANGUAGE plpgsql AS $$ \
                     DECLARE target BIGINT; \
                     BEGIN \
                       IF TG_OP = 'DELETE' THEN target := OLD.integration_id; ELSE target := NEW.integration_id; END IF; \
                       INSERT INTO item_generations AS g (integration_id, value, xact) VALUES (target, 1, txid_current()) \
                         ON CONFLICT (integration_id) DO UPDATE SET value = g.value + 1, xact = txid_current() \
                         WHERE g.xact <> txid_current(); \
                       RETURN NULL; \
                     END $$",
                )
                .await?;
                // A TRUNCATE names no rows: every counter moves.
                db.execute_unprepared(
                    "CREATE OR REPLACE FUNCTION docbridge_bump_all_item_generations() RETURNS trigger LANGUAGE plpgsql \
                     AS $$ BEGIN UPDATE item_generations SET value = value + 1; RETURN NULL; END $$",
                )
                .await?;
                for table in ITEM_GENERATION_TABLES {
                    db.execute_unprepared(&format!(
                        "CREATE CONSTRAINT TRIGGER {table}_item_generation AFTER INSERT OR UPDATE OR DELETE ON {table} \
                         DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION docbridge_bump_item_generation()"
                    ))
                    .await?;
                    db.execute_unprepared(&format!(
                        "CREATE TRIGGER {table}_truncate_item_generation AFTER TRUNCATE ON {table} \
                         FOR EACH STATEMENT EXECUTE FUNCTION docbridge_bump_all_item_generations()"
                    ))
                    .await?;
                }
            }
            _ => {
                // One writer at a time on SQLite: an immediate bump per row cannot deadlock.
                db.execute_unprepared(
                    "CREATE TABLE item_generations (integration_id INTEGER PRIMARY KEY, value BIGINT NOT NULL)",
                )
                .await?;
                for table in ITEM_GENERATION_TABLES {
                    for (operation, row) in [("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD")] {
                        db.execute_unprepared(&format!(
                            "CREATE TRIGGER {table}_{}_item_generation AFTER {operation} ON {table} BEGIN \
                             INSERT OR IGNORE INTO item_generations (integration_id, value) \
                             VALUES ({row}.integration_id, 0); \
                             UPDATE item_generations SET value = value + 1 WHERE integration_id = {row}.integration_id; \
                             END",
                            operation.to_lowercase()
                        ))
                        .await?;
                    }
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnectOptions, ConnectionTrait, Database, DatabaseConnection};
    use sea_orm_migration::MigratorTrait;

    use super::Migrator;

    /// Fresh, empty databases: in-memory SQLite, and a new database on the PostgreSQL server of
    /// `DOCBRIDGE_TEST_POSTGRES_URL` when set (dropped by the caller through the returned name).
    async fn empty_databases() -> Vec<(DatabaseConnection, Option<(DatabaseConnection, String)>)> {
        let mut options = ConnectOptions::new("sqlite::memory:");
        options.max_connections(1).sqlx_logging(false);
        let sqlite = Database::connect(options).await.unwrap();
        sqlite.execute_unprepared("PRAGMA foreign_keys = ON").await.unwrap();
        let mut databases = vec![(sqlite, None)];
        if let Ok(url) = std::env::var("DOCBRIDGE_TEST_POSTGRES_URL")
            && !url.is_empty()
        {
            let server = Database::connect(url.as_str()).await.unwrap();
            let name = crate::test_support::unique("upgrade").replace('-', "_");
            server.execute_unprepared(&format!("CREATE DATABASE {name}")).await.unwrap();
            let mut fresh = url::Url::parse(&url).unwrap();
            fresh.set_path(&name);
            let db = Database::connect(fresh.as_str()).await.unwrap();
            databases.push((db, Some((server, name))));
        }
        databases
    }

    /// An existing database's codes and tokens, keyed by username, are bound to the user who
    /// held that name when they were issued; those of a deleted namesake are dropped.
    #[tokio::test]
    async fn upgrade_binds_tokens_to_the_user_who_held_the_name() {
        for (db, server) in empty_databases().await {
            Migrator::up(&db, Some(2)).await.unwrap();
            for sql in [
                "INSERT INTO integrations (id, slug, name, auth_type, redirect_uris, request_params, storage_kind, \
                 storage_root, enabled, default_role, custom_actions, created_at, updated_at) \
                 VALUES (1, 's', 's', 'oauth2', '[]', '[]', 'memory', 'm', TRUE, 'editor', '[]', 0, 0)",
                // ann has been there all along; carl was deleted and re-created at t=500.
                "INSERT INTO users (id, username, password_hash, created_at) VALUES (7, 'ann', 'h', 10), (9, 'carl', 'h', 500)",
                "INSERT INTO oauth_tokens (token_hash, kind, integration_id, username, created_at, expires_at) VALUES \
                 ('ann-token', 'refresh', 1, 'ann', 100, 9999999999999), \
                 ('old-carl-token', 'refresh', 1, 'carl', 100, 9999999999999), \
                 ('new-carl-token', 'access', 1, 'carl', 600, 9999999999999), \
                 ('nobody-token', 'access', 1, 'nobody', 600, 9999999999999)",
                "INSERT INTO oauth_codes (code_hash, integration_id, username, created_at, expires_at) VALUES \
                 ('ann-code', 1, 'ann', 100, 9999999999999), ('old-carl-code', 1, 'carl', 100, 9999999999999)",
            ] {
                db.execute_unprepared(sql).await.unwrap();
            }
            Migrator::up(&db, None).await.unwrap();
            let rows = |sql: &'static str| {
                let db = &db;
                async move {
                    db.query_all_raw(sea_orm::Statement::from_string(db.get_database_backend(), sql))
                        .await
                        .unwrap()
                        .into_iter()
                        .map(|r| (r.try_get_by_index::<String>(0).unwrap(), r.try_get_by_index::<i64>(1).unwrap()))
                        .collect::<Vec<_>>()
                }
            };
            assert_eq!(
                rows("SELECT token_hash, user_id FROM oauth_tokens ORDER BY token_hash").await,
                [("ann-token".to_owned(), 7), ("new-carl-token".to_owned(), 9)]
            );
            assert_eq!(rows("SELECT code_hash, user_id FROM oauth_codes").await, [("ann-code".to_owned(), 7)]);
            // And the foreign key now takes a user's tokens with the user.
            db.execute_unprepared("DELETE FROM users WHERE id = 9").await.unwrap();
            assert_eq!(rows("SELECT token_hash, user_id FROM oauth_tokens").await, [("ann-token".to_owned(), 7)]);
            db.close().await.unwrap();
            if let Some((server, name)) = server {
                server.execute_unprepared(&format!("DROP DATABASE {name}")).await.unwrap();
            }
        }
    }
}
