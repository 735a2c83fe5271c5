//! The records the rest of docbridge reads and writes through the registry. Database rows
//! never leave the crate, and none of these types goes on the wire as it is.

use chrono::{DateTime, Utc};
use docbridge_protocol::{ItemId, ItemKind};
use serde::{Deserialize, Serialize};

/// How Workfront authenticates its calls to an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    ApiKey,
    OAuth2,
}

impl AuthType {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::ApiKey => "apikey",
            AuthType::OAuth2 => "oauth2",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw.to_ascii_lowercase().as_str() {
            "apikey" => Some(AuthType::ApiKey),
            "oauth2" | "oauth" => Some(AuthType::OAuth2),
            _ => None,
        }
    }
}

/// What a user may do in one integration (C5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Reader,
    Editor,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Editor => "editor",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "reader" => Some(Role::Reader),
            "editor" => Some(Role::Editor),
            _ => None,
        }
    }
}

/// The role of an ApiKey caller whose `username` is not a known user (C5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultRole {
    Reader,
    Editor,
    Deny,
}

impl DefaultRole {
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultRole::Reader => "reader",
            DefaultRole::Editor => "editor",
            DefaultRole::Deny => "deny",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "reader" => Some(DefaultRole::Reader),
            "editor" => Some(DefaultRole::Editor),
            "deny" => Some(DefaultRole::Deny),
            _ => None,
        }
    }

    pub fn role(self) -> Option<Role> {
        match self {
            DefaultRole::Reader => Some(Role::Reader),
            DefaultRole::Editor => Some(Role::Editor),
            DefaultRole::Deny => None,
        }
    }
}

/// A custom action an integration offers in Workfront's *Document Actions* menu (C18).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomActionSpec {
    pub name: String,
    pub display_name: String,
    #[serde(flatten)]
    pub kind: ActionKind,
}

/// What a custom action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ActionKind {
    /// Move the item into the folder at this path (created if missing), e.g. `Archive`.
    Move { folder: String },
    /// Copy the item into the folder at this path (created if missing).
    Copy { folder: String },
    /// Make the item read-only for everyone.
    Lock,
}

/// One registered integration (C22). Secrets are not here: only their hashes are stored, and
/// they are shown once, when issued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Integration {
    pub id: i64,
    pub slug: String,
    pub name: String,
    pub auth_type: AuthType,
    pub client_id: Option<String>,
    pub redirect_uris: Vec<String>,
    pub request_params: Vec<String>,
    pub storage_kind: String,
    pub storage_root: String,
    pub enabled: bool,
    pub default_role: DefaultRole,
    pub custom_actions: Vec<CustomActionSpec>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What is needed to register an integration. Secret hashes come from the auth crate.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    pub slug: String,
    pub name: String,
    pub auth_type: AuthType,
    pub redirect_uris: Vec<String>,
    pub request_params: Vec<String>,
    pub storage_kind: String,
    pub storage_root: String,
    pub default_role: DefaultRole,
    pub custom_actions: Vec<CustomActionSpec>,
    /// For ApiKey integrations: the hash of the issued key and a short hint to recognise it.
    pub api_key: Option<KeyHash>,
    /// For OAuth2 integrations: the client ID and the hash of the client secret.
    pub client: Option<(String, String)>,
}

/// The stored form of an issued secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHash {
    pub hash: String,
    pub hint: String,
}

/// A stored ApiKey, for the auth crate to compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: i64,
    pub hash: String,
    pub hint: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One file or folder known to the index, with the ID Workfront stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    pub id: ItemId,
    pub integration_id: i64,
    pub parent_id: ItemId,
    /// The item's storage path, `/`-separated, relative to the library root.
    pub path: String,
    pub name: String,
    pub kind: ItemKind,
    pub size: u64,
    pub modified: DateTime<Utc>,
    pub locked: bool,
    /// The content version last indexed for search, if any.
    pub indexed_version: Option<String>,
}

impl ItemRecord {
    /// A string that changes whenever the content does: the key of caches and ETags.
    pub fn version(&self) -> String {
        format!("{}-{}", self.size, self.modified.timestamp_millis())
    }
}

/// An item as the storage adapter saw it, for reconciling the index with the library.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedItem {
    pub name: String,
    pub kind: ItemKind,
    pub size: u64,
    pub modified: DateTime<Utc>,
}

/// An `/uploadInit` that awaits its bytes (C13).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    pub id: ItemId,
    pub integration_id: i64,
    pub parent_id: ItemId,
    pub name: String,
    /// Whether the upload becomes the new content of the existing item with this ID.
    pub replaces_existing: bool,
    pub wf_document_id: Option<String>,
    pub wf_document_version_id: Option<String>,
    pub created_by: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub uploaded_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone)]
pub struct NewReservation {
    pub id: ItemId,
    pub integration_id: i64,
    pub parent_id: ItemId,
    pub name: String,
    pub replaces_existing: bool,
    pub wf_document_id: Option<String>,
    pub wf_document_version_id: Option<String>,
    pub created_by: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// An item in the trash (C16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashEntry {
    pub id: String,
    pub integration_id: i64,
    pub item_id: ItemId,
    pub name: String,
    pub kind: ItemKind,
    pub original_path: String,
    pub original_parent_id: ItemId,
    pub trash_path: String,
    pub deleted_by: Option<String>,
    pub deleted_at: DateTime<Utc>,
}

/// One line of the audit trail (C25).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub at: DateTime<Utc>,
    pub actor: String,
    pub integration: String,
    pub operation: String,
    pub item_id: Option<String>,
    pub result: String,
    pub detail: Option<String>,
}
