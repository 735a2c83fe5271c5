//! The records the rest of docbridge reads and writes through the registry. Database rows
//! never leave the crate, and none of these types goes on the wire as it is.

use chrono::{DateTime, Utc};
use docbridge_protocol::{ItemId, ItemKind};
use serde::{Deserialize, Serialize};

/// How Workfront authenticates its calls to an integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthType {
    /// `apiKey` and `username` headers (§3.1).
    ApiKey,
    /// Bearer tokens from docbridge's OAuth2 authorization server (§3.2, §4).
    OAuth2,
}

impl AuthType {
    /// The stored and configured spelling: `apikey` or `oauth2`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthType::ApiKey => "apikey",
            AuthType::OAuth2 => "oauth2",
        }
    }

    /// Reads `apikey`, `oauth2` or `oauth`, in any case.
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
    /// May list, search and download.
    Reader,
    /// May also upload, create folders, rename, delete and run custom actions.
    Editor,
}

impl Role {
    /// `reader` or `editor`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Reader => "reader",
            Role::Editor => "editor",
        }
    }

    /// Reads `reader` or `editor`.
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
    /// Unknown users may read.
    Reader,
    /// Unknown users may read and write.
    Editor,
    /// Unknown users are refused.
    Deny,
}

impl DefaultRole {
    /// `reader`, `editor` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            DefaultRole::Reader => "reader",
            DefaultRole::Editor => "editor",
            DefaultRole::Deny => "deny",
        }
    }

    /// Reads `reader`, `editor` or `deny`.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "reader" => Some(DefaultRole::Reader),
            "editor" => Some(DefaultRole::Editor),
            "deny" => Some(DefaultRole::Deny),
            _ => None,
        }
    }

    /// The role unknown users get; `None` for `deny`.
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
    /// The name Workfront sends back on `/customAction`.
    pub name: String,
    /// The label of the menu entry.
    pub display_name: String,
    /// What the action does.
    #[serde(flatten)]
    pub kind: ActionKind,
}

/// What a custom action does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum ActionKind {
    /// Move the item into the folder at this path (created if missing), e.g. `Archive`.
    Move {
        /// The destination folder's path from the library root.
        folder: String,
    },
    /// Copy the item into the folder at this path (created if missing).
    Copy {
        /// The destination folder's path from the library root.
        folder: String,
    },
    /// Make the item read-only for everyone.
    Lock,
    /// POST the item's metadata, signed with HMAC-SHA256 over `secret`, to `url`.
    Webhook {
        /// The receiver's URL.
        url: String,
        /// The HMAC key the receiver checks signatures with.
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
    /// `move`, `copy`, `lock` or `webhook`.
    pub fn as_str(&self) -> &'static str {
        match self {
            ActionKind::Move { .. } => "move",
            ActionKind::Copy { .. } => "copy",
            ActionKind::Lock => "lock",
            ActionKind::Webhook { .. } => "webhook",
        }
    }
}

/// How long one webhook attempt may take when the action does not say, in seconds.
pub const DEFAULT_WEBHOOK_TIMEOUT_SECS: u64 = 10;
/// How many times a failed webhook call is retried when the action does not say.
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
    /// Wraps a key.
    pub fn new(secret: impl Into<String>) -> Self {
        ActionSecret(secret.into())
    }

    /// The key itself, to sign with.
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
    /// The database's ID of the integration.
    pub id: i64,
    /// The name in its URL (`/webhooks/{slug}/...`), unique.
    pub slug: String,
    /// The name Workfront users see (the root folder's title).
    pub name: String,
    /// How Workfront authenticates.
    pub auth_type: AuthType,
    /// The OAuth2 client ID, for OAuth2 integrations.
    pub client_id: Option<String>,
    /// The redirect URIs an authorize request may name (OAuth2).
    pub redirect_uris: Vec<String>,
    /// The *Request parameters* registered in Workfront, as `key=value`.
    pub request_params: Vec<String>,
    /// The storage adapter: `fs`, `memory`, `s3`, ...
    pub storage_kind: String,
    /// Where the library is in that storage: a folder, or a bucket prefix.
    pub storage_root: String,
    /// A disabled integration answers every call with 403.
    pub enabled: bool,
    /// The role of ApiKey callers who are not known users.
    pub default_role: DefaultRole,
    /// Its *Document Actions* menu.
    pub custom_actions: Vec<CustomActionSpec>,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it was last changed.
    pub updated_at: DateTime<Utc>,
}

/// A change to an integration's editable fields: `None` leaves a field as it is. Applied as one
/// compare-and-swap, so that two administrators editing at once never lose each other's change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IntegrationPatch {
    /// A new display name.
    pub name: Option<String>,
    /// New redirect URIs.
    pub redirect_uris: Option<Vec<String>>,
    /// New request parameters.
    pub request_params: Option<Vec<String>>,
    /// A new library location.
    pub storage_root: Option<String>,
    /// A new default role.
    pub default_role: Option<DefaultRole>,
    /// Enables or disables the integration.
    pub enabled: Option<bool>,
    /// Replaces every custom action (applied before `upsert_actions` and `remove_actions`).
    pub custom_actions: Option<Vec<CustomActionSpec>>,
    /// Adds these actions, or replaces those of the same name.
    pub upsert_actions: Vec<CustomActionSpec>,
    /// Removes the actions with these names; an unknown name is an error.
    pub remove_actions: Vec<String>,
}

impl IntegrationPatch {
    /// Whether the patch changes nothing: the default patch, field by field, so that a field
    /// added later cannot be left out of the comparison.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// A local user (C5). The password hash stays in the registry; see `Registry::user_password_hash`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    /// The user's ID, never reused.
    pub id: i64,
    /// The login name, normalised (trimmed, lower case).
    pub username: String,
    /// When the user was created.
    pub created_at: DateTime<Utc>,
}

/// A user's role in one integration, optionally confined to a folder (C5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// The user's username.
    pub username: String,
    /// The integration's slug.
    pub integration: String,
    /// The role granted.
    pub role: Role,
    /// When set, the user sees only this folder, as their root.
    pub folder: Option<ItemId>,
}

/// What a user may do in an integration, from their grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Access {
    /// The role granted.
    pub role: Role,
    /// When set, the user sees only this folder, as their root.
    pub folder: Option<ItemId>,
}

/// What is needed to register an integration. Secret hashes come from the auth crate.
#[derive(Debug, Clone)]
pub struct NewIntegration {
    /// The name in its URL, unique: lower-case letters, digits and dashes.
    pub slug: String,
    /// The name Workfront users see.
    pub name: String,
    /// How Workfront authenticates.
    pub auth_type: AuthType,
    /// The redirect URIs an authorize request may name (OAuth2).
    pub redirect_uris: Vec<String>,
    /// The *Request parameters*, as `key=value`.
    pub request_params: Vec<String>,
    /// The storage adapter's kind.
    pub storage_kind: String,
    /// Where the library is in that storage.
    pub storage_root: String,
    /// The role of ApiKey callers who are not known users.
    pub default_role: DefaultRole,
    /// The *Document Actions* menu.
    pub custom_actions: Vec<CustomActionSpec>,
    /// For ApiKey integrations: the hash of the issued key and a short hint to recognise it.
    pub api_key: Option<KeyHash>,
    /// For OAuth2 integrations: the client ID and the hash of the client secret.
    pub client: Option<(String, String)>,
}

/// The stored form of an issued secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHash {
    /// Hex SHA-256 of the secret.
    pub hash: String,
    /// The secret's first characters, to tell keys apart in listings.
    pub hint: String,
}

/// A stored ApiKey, for the auth crate to compare against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    /// The database's ID of the key.
    pub id: i64,
    /// Hex SHA-256 of the key.
    pub hash: String,
    /// The key's first characters.
    pub hint: String,
    /// When the key was issued.
    pub created_at: DateTime<Utc>,
    /// When it was revoked; revoked keys are refused.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One file or folder known to the index, with the ID Workfront stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemRecord {
    /// The item's stable ID.
    pub id: ItemId,
    /// The integration it belongs to.
    pub integration_id: i64,
    /// Its folder's ID (`/` for the root).
    pub parent_id: ItemId,
    /// The item's storage path, `/`-separated, relative to the library root.
    pub path: String,
    /// Its name.
    pub name: String,
    /// File or folder.
    pub kind: ItemKind,
    /// Its size in bytes when last seen; 0 for a folder.
    pub size: u64,
    /// When its content last changed, when last seen.
    pub modified: DateTime<Utc>,
    /// Set by the `lock` action: read-only for everyone.
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
    /// The name in its folder.
    pub name: String,
    /// File or folder.
    pub kind: ItemKind,
    /// Size in bytes; 0 for a folder.
    pub size: u64,
    /// Last modification, as storage reports it.
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
    /// The ID the item will have (or has, for a new version).
    pub id: ItemId,
    /// The integration it belongs to.
    pub integration_id: i64,
    /// The folder the file goes into.
    pub parent_id: ItemId,
    /// The file's name.
    pub name: String,
    /// Whether the upload becomes the new content of the existing item with this ID.
    pub replaces_existing: bool,
    /// Workfront's document ID, when `/uploadInit` carried one.
    pub wf_document_id: Option<String>,
    /// Workfront's document version ID, when `/uploadInit` carried one.
    pub wf_document_version_id: Option<String>,
    /// Who reserved it.
    pub created_by: Option<String>,
    /// When it was reserved.
    pub created_at: DateTime<Utc>,
    /// When an upload that has not arrived is given up.
    pub expires_at: DateTime<Utc>,
    /// When its bytes were committed; a repeated `/upload` then answers success again.
    pub uploaded_at: Option<DateTime<Utc>>,
}

/// A reservation to store: a [`Reservation`] before the database dates it.
#[derive(Debug, Clone)]
pub struct NewReservation {
    /// The ID the item will have.
    pub id: ItemId,
    /// The integration it belongs to.
    pub integration_id: i64,
    /// The folder the file goes into.
    pub parent_id: ItemId,
    /// The file's name.
    pub name: String,
    /// Whether the upload replaces the content of the existing item with this ID.
    pub replaces_existing: bool,
    /// Workfront's document ID.
    pub wf_document_id: Option<String>,
    /// Workfront's document version ID.
    pub wf_document_version_id: Option<String>,
    /// Who reserved it.
    pub created_by: Option<String>,
    /// When an upload that has not arrived is given up.
    pub expires_at: DateTime<Utc>,
}

/// An item in the trash (C16).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrashEntry {
    /// The trash entry's own ID (to restore or purge it).
    pub id: String,
    /// The integration it belongs to.
    pub integration_id: i64,
    /// The ID the item had, and gets back on restore.
    pub item_id: ItemId,
    /// Its name.
    pub name: String,
    /// File or folder.
    pub kind: ItemKind,
    /// Where it was, relative to the library root.
    pub original_path: String,
    /// The folder it was in.
    pub original_parent_id: ItemId,
    /// Where it is kept now, under the library's internal trash folder.
    pub trash_path: String,
    /// Who deleted it.
    pub deleted_by: Option<String>,
    /// When; the trash is purged after the retention period.
    pub deleted_at: DateTime<Utc>,
}

/// One line of the audit trail (C25): who, where, what, on which item, with which result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEntry {
    /// When it happened.
    #[cfg_attr(feature = "openapi", schema(value_type = String, format = DateTime))]
    pub at: DateTime<Utc>,
    /// Who did it: a Workfront username, `admin-api`, `admin-page`, `admin-page as USERNAME` (the
    /// admin page's document browser), or `cli` / `cli:USER` (the command line).
    pub actor: String,
    /// The integration's slug.
    pub integration: String,
    /// What was done (`upload`, `delete`, `rename`, ...).
    pub operation: String,
    /// The item concerned, if any (`null` otherwise).
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub item_id: Option<String>,
    /// `ok` or the error's kind.
    pub result: String,
    /// Anything else worth keeping (a new name, an error message); `null` otherwise.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub detail: Option<String>,
}

// ---- OAuth2 authorization server (C4) ----

/// An authorization code to store. Only its hash is kept, so a copy of the database cannot be
/// replayed against the token endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewOAuthCode {
    /// Hex SHA-256 of the code.
    pub code_hash: String,
    /// The integration whose client asked.
    pub integration_id: i64,
    /// The user's ID ([`User::id`]), never reused: a code outlives neither its user nor a
    /// deletion and re-creation under the same name.
    pub user_id: i64,
    /// The `redirect_uri` of the authorize request when it carried one: the token request must
    /// then repeat it (RFC 6749 §4.1.3).
    pub redirect_uri: Option<String>,
    /// The PKCE S256 challenge, when the client sent one.
    pub code_challenge: Option<String>,
    /// When the code can no longer be redeemed.
    pub expires_at: DateTime<Utc>,
}

/// A stored authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthCode {
    /// Hex SHA-256 of the code.
    pub code_hash: String,
    /// The integration whose client asked.
    pub integration_id: i64,
    /// The user who consented ([`User::id`]).
    pub user_id: i64,
    /// The user's username now.
    pub username: String,
    /// The `redirect_uri` of the authorize request, when it carried one.
    pub redirect_uri: Option<String>,
    /// The PKCE S256 challenge, when the client sent one.
    pub code_challenge: Option<String>,
    /// When the code was issued.
    pub created_at: DateTime<Utc>,
    /// When it can no longer be redeemed.
    pub expires_at: DateTime<Utc>,
    /// Set when the code was redeemed: a second redemption is an attack or a bug.
    pub used_at: Option<DateTime<Utc>>,
}

/// Access or refresh token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OAuthTokenKind {
    /// Sent as `Authorization: Bearer` on provider calls.
    Access,
    /// Exchanged at the token endpoint for a new access token.
    Refresh,
}

impl OAuthTokenKind {
    /// `access` or `refresh`.
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthTokenKind::Access => "access",
            OAuthTokenKind::Refresh => "refresh",
        }
    }

    /// Reads `access` or `refresh`.
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
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Access or refresh.
    pub kind: OAuthTokenKind,
    /// The integration whose client it was issued to.
    pub integration_id: i64,
    /// The user's ID ([`User::id`]), never reused: see [`NewOAuthCode::user_id`].
    pub user_id: i64,
    /// The code the token family started from: every token issued from that code, directly or
    /// by refresh, carries it, so that the whole family can be revoked at once.
    pub origin_code_hash: Option<String>,
    /// When the token stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// A stored token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OAuthToken {
    /// Hex SHA-256 of the token.
    pub token_hash: String,
    /// Access or refresh.
    pub kind: OAuthTokenKind,
    /// The integration whose client it was issued to.
    pub integration_id: i64,
    /// The user it acts for ([`User::id`]).
    pub user_id: i64,
    /// The user's username now.
    pub username: String,
    /// The code the token family started from.
    pub origin_code_hash: Option<String>,
    /// When it was issued.
    pub created_at: DateTime<Utc>,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
    /// When it was revoked, if it was.
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
    User {
        /// The user's username.
        username: &'a str,
        /// The integration; `None` for all of them.
        integration_id: Option<i64>,
    },
    /// Every token of an integration.
    Integration {
        /// The integration's ID.
        integration_id: i64,
    },
    /// Every token issued from one authorization code, directly or by refresh.
    Family {
        /// Hex SHA-256 of the code the family started from.
        origin_code_hash: &'a str,
    },
    /// One token.
    Token {
        /// Hex SHA-256 of the token.
        token_hash: &'a str,
    },
}

#[cfg(test)]
mod tests {
    use super::IntegrationPatch;

    #[test]
    fn a_patch_is_empty_until_it_sets_a_field() {
        assert!(IntegrationPatch::default().is_empty());
        assert!(!IntegrationPatch { enabled: Some(false), ..IntegrationPatch::default() }.is_empty());
        assert!(!IntegrationPatch { remove_actions: vec!["x".to_owned()], ..IntegrationPatch::default() }.is_empty());
    }
}
