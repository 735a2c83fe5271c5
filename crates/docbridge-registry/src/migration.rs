//! Schema migrations, run at every start. One SQL text per dialect so that each database gets
//! its own best features: FTS5 with trigrams on SQLite, `pg_trgm` GIN indexes on PostgreSQL.

use sea_orm::{ConnectionTrait, DbBackend};
use sea_orm_migration::prelude::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(InitialSchema), Box::new(RegistryGeneration), Box::new(PendingMoves)]
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

impl MigrationName for RegistryGeneration {
    fn name(&self) -> &str {
        "m0002_registry_generation"
    }
}

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

/// Moves under way (issue #14): a rename, move, delete into the trash or restore records its
/// intent before it touches storage and clears it in the transaction that updates the index,
/// so that one interrupted in between (a killed process) is completed, ID kept, by whoever next
/// looks at the item's folder instead of the moved file coming back under a new ID.
struct PendingMoves;

impl MigrationName for PendingMoves {
    fn name(&self) -> &str {
        "m0003_pending_moves"
    }
}

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
