//! The integration registry and the item index, on SQLite or PostgreSQL through sea-orm.
//!
//! This is the only crate that names `sea_orm` (see `docs/ARCHITECTURE.md`). Callers see plain
//! records (`records.rs`), never rows, and one error type. Everything docbridge must share
//! between processes lives here: integrations and their keys, the ID of every item, upload
//! reservations, the trash, users and grants, OAuth2 codes and tokens, settings, the audit trail.

mod audit;
mod db;
mod entities;
mod error;
mod integrations;
mod items;
mod migration;
mod records;
mod reservations;
mod search;
mod settings;
mod trash;

pub use db::Registry;
pub use error::RegistryError;
pub use items::{NewItem, child_path};
pub use records::*;

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
