//! The integration registry and the item index, on SQLite or PostgreSQL through sea-orm.
//!
//! This is the only crate that names `sea_orm` (see `docs/ARCHITECTURE.md`). Callers see plain
//! records (`records.rs`), never rows, and one error type. Everything docbridge must share
//! between processes lives here: integrations and their keys, the ID of every item, upload
//! reservations, the trash, users and grants, OAuth2 codes and tokens, settings, the audit trail.

// The README (an overview and an example that runs as a doc test) follows these notes.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod admin_sessions;
mod audit;
mod cache;
mod db;
mod direct;
mod entities;
mod error;
mod integrations;
mod items;
mod locks;
mod migration;
mod oauth;
mod pending;
mod records;
mod reservations;
mod search;
mod settings;
mod trash;
mod users;

pub use cache::{AccessSnapshot, ItemsSeen};
pub use db::Registry;
pub use error::RegistryError;
pub use integrations::{apply_patch, validate_slug};
pub use items::{NewItem, child_path};
pub use locks::{ChangeLock, LockMode};
pub use pending::{MoveCompletion, MoveKind, NewPendingMove, PendingMove};
pub use records::*;
pub use users::{MAX_USERNAME_CHARS, normalize_username};

/// This crate's results: [`RegistryError`] unless said otherwise.
pub type Result<T, E = RegistryError> = std::result::Result<T, E>;

/// Milliseconds since the Unix epoch: the one timestamp representation in the database.
pub(crate) fn now_millis() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn from_millis(millis: i64) -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

/// A fresh random identifier: 128 bits, base64url without padding (22 characters), which fits
/// the contract's ID alphabet and cannot be guessed or forged.
pub fn random_id() -> String {
    use base64::Engine;
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Registries for unit tests: in-memory SQLite always, and PostgreSQL too when
/// `DOCBRIDGE_TEST_POSTGRES_URL` names one (`.ci/postgres.sh start`). Tests share that database,
/// so they name what they create with `unique`.
#[cfg(test)]
pub(crate) mod test_support {
    use docbridge_protocol::{ItemId, ItemKind};

    use crate::{AuthType, DefaultRole, KeyHash, NewIntegration, NewItem, Registry};

    pub async fn registries() -> Vec<Registry> {
        let mut registries = vec![Registry::connect("sqlite::memory:").await.expect("in-memory SQLite")];
        if let Ok(url) = std::env::var("DOCBRIDGE_TEST_POSTGRES_URL")
            && !url.is_empty()
        {
            registries.push(Registry::connect(&url).await.expect("DOCBRIDGE_TEST_POSTGRES_URL"));
        }
        registries
    }

    /// A name no other test (or earlier run on the same database) uses.
    pub fn unique(prefix: &str) -> String {
        format!("{prefix}-{}", crate::random_id().to_lowercase().replace('_', "x"))
    }

    /// An item `name` in the root folder of the integration (a file of `size` bytes, or a folder
    /// when `size` is `None`), with a fresh ID.
    pub fn new_item(integration_id: i64, name: &str, size: Option<u64>) -> NewItem {
        NewItem {
            id: None,
            integration_id,
            parent_id: ItemId::root(),
            path: name.into(),
            name: name.into(),
            kind: if size.is_some() { ItemKind::File } else { ItemKind::Folder },
            size: size.unwrap_or(0),
            modified: chrono::Utc::now(),
        }
    }

    pub fn sample_integration(slug: &str) -> NewIntegration {
        NewIntegration {
            slug: slug.to_owned(),
            name: format!("Name of {slug}"),
            auth_type: AuthType::ApiKey,
            redirect_uris: Vec::new(),
            request_params: Vec::new(),
            storage_kind: "memory".into(),
            storage_root: "/srv/docs".into(),
            default_role: DefaultRole::Editor,
            custom_actions: Vec::new(),
            api_key: Some(KeyHash { hash: format!("hash-{slug}"), hint: "abcdef".into() }),
            client: None,
        }
    }
}
