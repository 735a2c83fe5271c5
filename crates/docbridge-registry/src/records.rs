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
    /// POST the item's metadata, signed with HMAC-SHA256 over `secret`, to `url`.
    Webhook {
        url: String,
        secret: ActionSecret,
        /// Seconds one attempt may take.
        #[serde(default = "default_webhook_timeout")]
        timeout_secs: u64,
        /// Further attempts after a failed one (connection error, 5xx, 429), with backoff.
        #[serde(default = "default_webhook_retries")]
        retries: u32,
    },
}

impl ActionKind {
    pub fn as_str(&self) -> &'static str {
        match self {
            ActionKind::Move { .. } => "move",
            ActionKind::Copy { .. } => "copy",
            ActionKind::Lock => "lock",
            ActionKind::Webhook { .. } => "webhook",
        }
    }
}

pub const DEFAULT_WEBHOOK_TIMEOUT_SECS: u64 = 10;
pub const DEFAULT_WEBHOOK_RETRIES: u32 = 3;

fn default_webhook_timeout() -> u64 {
    DEFAULT_WEBHOOK_TIMEOUT_SECS
}

fn default_webhook_retries() -> u32 {
    DEFAULT_WEBHOOK_RETRIES
}

/// The key a webhook action signs with. Unlike ApiKeys it cannot be stored hashed: docbridge
/// needs the key itself to sign every call. It never shows in `Debug` output, and the CLI and
/// admin API print it only when it is set or generated.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ActionSecret(String);

impl ActionSecret {
    pub fn new(secret: impl Into<String>) -> Self {
        ActionSecret(secret.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for ActionSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[redacted]")
    }
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

/// A change to an integration's editable fields: `None` leaves a field as it is. Applied as one
/// compare-and-swap, so that two administrators editing at once never lose each other's change.
#[derive(Debug, Clone, Default)]
pub struct IntegrationPatch {
    pub name: Option<String>,
    pub redirect_uris: Option<Vec<String>>,
    pub request_params: Option<Vec<String>>,
    pub storage_root: Option<String>,
    pub default_role: Option<DefaultRole>,
    pub enabled: Option<bool>,
    /// Replaces every custom action (applied before `upsert_actions` and `remove_actions`).
    pub custom_actions: Option<Vec<CustomActionSpec>>,
    /// Adds these actions, or replaces those of the same name.
    pub upsert_actions: Vec<CustomActionSpec>,
    /// Removes the actions with these names; an unknown name is an error.
    pub remove_actions: Vec<String>,
}

impl IntegrationPatch {
    pub fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.redirect_uris.is_none()
            && self.request_params.is_none()
            && self.storage_root.is_none()
            && self.default_role.is_none()
            && self.enabled.is_none()
            && self.custom_actions.is_none()
            && self.upsert_actions.is_empty()
            && self.remove_actions.is_empty()
    }
}

/// A local user (C5). The password hash stays in the registry; see `Registry::user_password_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub id: i64,
    pub username: String,
    pub created_at: DateTime<Utc>,
}

/// A user's role in one integration, optionally confined to a folder (C5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub username: String,
    /// The integration's slug.
    pub integration: String,
    pub role: Role,
    /// When set, the user sees only this folder, as their root.
    pub folder: Option<ItemId>,
}

/// What a user may do in an integration, from their grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    pub role: Role,
    pub folder: Option<ItemId>,
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

impl ObservedItem {
    /// Whether the index entry `record` (of the same name) says what storage shows: the same
    /// kind and, for a file, the same size and date (to the millisecond the index keeps).
    pub fn agrees_with(&self, record: &ItemRecord) -> bool {
        record.kind == self.kind
            && (self.kind == ItemKind::Folder
                || (record.size == self.size && record.modified.timestamp_millis() == self.modified.timestamp_millis()))
    }
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

// ---- OAuth2 authorization server (C4) ----

/// An authorization code to store. Only its hash is kept, so a copy of the database cannot be
/// replayed against the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOAuthCode {
    pub code_hash: String,
    pub integration_id: i64,
    /// The user's ID ([`User::id`]), never reused: a code outlives neither its user nor a
    /// deletion and re-creation under the same name.
    pub user_id: i64,
    /// The `redirect_uri` of the authorize request when it carried one: the token request must
    /// then repeat it (RFC 6749 §4.1.3).
    pub redirect_uri: Option<String>,
    /// The PKCE S256 challenge, when the client sent one.
    pub code_challenge: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// A stored authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthCode {
    pub code_hash: String,
    pub integration_id: i64,
    pub user_id: i64,
    /// The user's username now.
    pub username: String,
    pub redirect_uri: Option<String>,
    pub code_challenge: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Set when the code was redeemed: a second redemption is an attack or a bug.
    pub used_at: Option<DateTime<Utc>>,
}

/// Access or refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OAuthTokenKind {
    Access,
    Refresh,
}

impl OAuthTokenKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthTokenKind::Access => "access",
            OAuthTokenKind::Refresh => "refresh",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "access" => Some(OAuthTokenKind::Access),
            "refresh" => Some(OAuthTokenKind::Refresh),
            _ => None,
        }
    }
}

/// A token to store, by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOAuthToken {
    pub token_hash: String,
    pub kind: OAuthTokenKind,
    pub integration_id: i64,
    /// The user's ID ([`User::id`]), never reused: see [`NewOAuthCode::user_id`].
    pub user_id: i64,
    /// The code the token family started from: every token issued from that code, directly or
    /// by refresh, carries it, so that the whole family can be revoked at once.
    pub origin_code_hash: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// A stored token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthToken {
    pub token_hash: String,
    pub kind: OAuthTokenKind,
    pub integration_id: i64,
    pub user_id: i64,
    /// The user's username now.
    pub username: String,
    pub origin_code_hash: Option<String>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl OAuthToken {
    /// Neither revoked nor expired at `now`.
    pub fn is_active(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && now < self.expires_at
    }
}

/// Which tokens a revocation applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthRevocation<'a> {
    /// Every token of a user, in one integration or in all of them.
    User { username: &'a str, integration_id: Option<i64> },
    /// Every token of an integration.
    Integration { integration_id: i64 },
    /// Every token issued from one authorization code, directly or by refresh.
    Family { origin_code_hash: &'a str },
    /// One token.
    Token { token_hash: &'a str },
}
