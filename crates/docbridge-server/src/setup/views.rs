//! What the administration shows (the admin API's answers, the CLI's `--json`): integrations,
//! keys, actions, users and grants, with every secret reduced to a hint.

use docbridge_registry::{ActionKind, CustomActionSpec, DefaultRole};
use serde::Serialize;

/// An integration as the administration shows it: every field of Workfront's form (C22), with
/// secrets reduced to hints, plus what docbridge adds (slug, state, library, actions, times).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntegrationView {
    pub slug: String,
    pub name: String,
    pub enabled: bool,
    /// `ApiKey` or `OAuth2`.
    #[schema(schema_with = crate::openapi::auth_label)]
    pub auth: String,
    pub base_api_url: String,
    pub request_params: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub authentication_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub token_endpoint_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    pub redirect_uris: Vec<String>,
    /// The active ApiKeys, by the first characters of each (ApiKey integrations).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
    pub api_keys: Vec<KeyView>,
    pub storage_kind: String,
    pub root: String,
    #[schema(schema_with = crate::openapi::default_role)]
    pub default_role: DefaultRole,
    pub custom_actions: Vec<ActionView>,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::DateTime<chrono::Utc>,
    #[schema(value_type = String, format = DateTime)]
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// An active ApiKey, by its hint: enough to tell keys apart when revoking.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub hint: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A custom action without its secret.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActionView {
    pub name: String,
    pub display_name: String,
    #[schema(schema_with = crate::openapi::action_kind)]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub folder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub retries: Option<u32>,
}

impl From<&CustomActionSpec> for ActionView {
    fn from(action: &CustomActionSpec) -> Self {
        let mut view = ActionView {
            name: action.name.clone(),
            display_name: action.display_name.clone(),
            kind: action.kind.as_str(),
            folder: None,
            url: None,
            timeout_secs: None,
            retries: None,
        };
        match &action.kind {
            ActionKind::Move { folder } | ActionKind::Copy { folder } => view.folder = Some(folder.clone()),
            ActionKind::Lock => {}
            ActionKind::Webhook { url, timeout_secs, retries, .. } => {
                view.url = Some(url.clone());
                view.timeout_secs = Some(*timeout_secs);
                view.retries = Some(*retries);
            }
        }
        view
    }
}

/// A freshly issued secret, shown once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RotatedSecret {
    pub slug: String,
    /// The new ApiKey; the previous ones stay valid until revoked (C3).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub api_key: Option<String>,
    /// The new OAuth2 client secret; the previous one stops working at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
    /// ApiKeys now active (the new one included).
    pub active_keys: usize,
}

/// A user with their grants, as the administration shows them.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub username: String,
    #[schema(value_type = String, format = DateTime)]
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub grants: Vec<GrantView>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GrantView {
    pub username: String,
    pub integration: String,
    #[schema(schema_with = crate::openapi::role)]
    pub role: docbridge_registry::Role,
    /// The folder the user is confined to (their root), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub folder: Option<String>,
}

impl From<docbridge_registry::Grant> for GrantView {
    fn from(grant: docbridge_registry::Grant) -> Self {
        GrantView {
            username: grant.username,
            integration: grant.integration,
            role: grant.role,
            folder: grant.folder.map(|f| f.to_string()),
        }
    }
}
