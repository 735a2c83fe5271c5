//! Registering integrations and the first start (C2, C22): composing the registry (records)
//! and auth (issued secrets), shared by the CLI and, later, the admin API.

use std::path::{Path, PathBuf};

use docbridge_auth::{IssuedSecret, issue_secret};
use docbridge_registry::{
    ActionKind, AuthType, CustomActionSpec, DefaultRole, Integration, IntegrationPatch, NewIntegration, Registry,
    RegistryError,
};
use serde::Serialize;

/// What an administrator types into Workfront's *Add Custom Integration* form, shown once.
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationCredentials {
    pub slug: String,
    pub name: String,
    pub auth: String,
    pub base_api_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redirect_uris: Vec<String>,
    pub root: String,
}

/// A request to register an integration.
#[derive(Debug, Clone)]
pub struct AddIntegration {
    pub name: String,
    pub slug: Option<String>,
    pub auth: AuthType,
    pub root: String,
    pub redirect_uris: Vec<String>,
    pub request_params: Vec<String>,
    pub default_role: DefaultRole,
    pub custom_actions: Vec<CustomActionSpec>,
}

/// A slug from a display name: `Marketing Docs` → `marketing-docs`.
pub fn slug_from_name(name: &str) -> String {
    let mut slug = String::new();
    for c in name.trim().to_lowercase().chars() {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.ends_with('-') && !slug.is_empty() {
            slug.push('-');
        }
    }
    let slug = slug.trim_end_matches('-').chars().take(63).collect::<String>();
    if slug.is_empty() { "integration".to_owned() } else { slug }
}

/// The `archive` action that the default integration declares (C18).
pub fn archive_action() -> CustomActionSpec {
    CustomActionSpec {
        name: "archive".into(),
        display_name: "Archive".into(),
        kind: ActionKind::Move { folder: "Archive".into() },
    }
}

/// Registers an integration and issues its secret; the credentials are the only time the
/// secret is ever shown.
pub async fn add_integration(
    registry: &Registry,
    public_url: &str,
    request: AddIntegration,
) -> Result<(Integration, IntegrationCredentials), RegistryError> {
    add_integration_of_kind(registry, public_url, request, "fs").await
}

/// [`add_integration`] with a library of any storage kind: `fs` (the root, a folder, is made
/// absolute) or `s3` (the root is a prefix in the configured bucket, kept as given).
pub async fn add_integration_of_kind(
    registry: &Registry,
    public_url: &str,
    request: AddIntegration,
    storage_kind: &str,
) -> Result<(Integration, IntegrationCredentials), RegistryError> {
    let slug = request.slug.clone().unwrap_or_else(|| slug_from_name(&request.name));
    let root = if storage_kind == "fs" {
        std::path::absolute(&request.root).map(|p| p.display().to_string()).unwrap_or(request.root.clone())
    } else {
        request.root.clone()
    };
    let (api_key, client): (Option<IssuedSecret>, Option<(String, IssuedSecret)>) = match request.auth {
        AuthType::ApiKey => (Some(issue_secret()), None),
        AuthType::OAuth2 => (None, Some((docbridge_registry::random_id(), issue_secret()))),
    };
    let integration = registry
        .create_integration(NewIntegration {
            slug,
            name: request.name,
            auth_type: request.auth,
            redirect_uris: request.redirect_uris.clone(),
            request_params: request.request_params,
            storage_kind: storage_kind.into(),
            storage_root: root,
            default_role: request.default_role,
            custom_actions: request.custom_actions,
            api_key: api_key.as_ref().map(|k| k.stored.clone()),
            client: client.as_ref().map(|(id, secret)| (id.clone(), secret.stored.hash.clone())),
        })
        .await?;
    let credentials = credentials(public_url, &integration, api_key.map(|k| k.plain), client.map(|(_, s)| s.plain));
    Ok((integration, credentials))
}

/// The form values of an integration, with a freshly issued secret when there is one.
pub fn credentials(
    public_url: &str,
    integration: &Integration,
    api_key: Option<String>,
    client_secret: Option<String>,
) -> IntegrationCredentials {
    let oauth = integration.auth_type == AuthType::OAuth2;
    let client_id = integration.client_id.clone();
    IntegrationCredentials {
        slug: integration.slug.clone(),
        name: integration.name.clone(),
        auth: if oauth { "OAuth2".into() } else { "ApiKey".into() },
        base_api_url: format!("{public_url}/webhooks/{}", integration.slug),
        api_key,
        authentication_url: client_id
            .as_ref()
            .filter(|_| oauth)
            .map(|id| format!("{public_url}/oauth/authorize?client_id={id}")),
        token_endpoint_url: oauth.then(|| format!("{public_url}/oauth/token")),
        client_id: client_id.filter(|_| oauth),
        client_secret,
        redirect_uris: integration.redirect_uris.clone(),
        root: integration.storage_root.clone(),
    }
}

/// Where the default integration's library lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DefaultLibrary {
    /// A folder on this machine's disk.
    Fs(PathBuf),
    /// A prefix in the configured bucket (below `[storage.s3] prefix`).
    S3(String),
    /// A folder or prefix in the store of a remote kind (`webdav`, `azblob`, `gcs`).
    Store { kind: &'static str, root: String },
}

/// On a registry with no integration at all, registers `default` over the folder `root` (C2)
/// and returns its credentials, to be printed once.
pub async fn ensure_default_integration(
    registry: &Registry,
    public_url: &str,
    root: &Path,
) -> Result<Option<IntegrationCredentials>, RegistryError> {
    ensure_default_library(registry, public_url, &DefaultLibrary::Fs(root.to_path_buf())).await
}

/// [`ensure_default_integration`] over a library of the configured kind (C24: with S3, the
/// processes behind a load balancer keep nothing on their disks).
pub async fn ensure_default_library(
    registry: &Registry,
    public_url: &str,
    library: &DefaultLibrary,
) -> Result<Option<IntegrationCredentials>, RegistryError> {
    if !registry.integrations().await?.is_empty() {
        return Ok(None);
    }
    let (kind, root) = match library {
        DefaultLibrary::Fs(folder) => ("fs", folder.display().to_string()),
        DefaultLibrary::S3(prefix) => ("s3", prefix.clone()),
        DefaultLibrary::Store { kind, root } => (*kind, root.clone()),
    };
    let request = AddIntegration {
        name: "Default".into(),
        slug: Some("default".into()),
        auth: AuthType::ApiKey,
        root,
        redirect_uris: Vec::new(),
        request_params: Vec::new(),
        default_role: DefaultRole::Editor,
        custom_actions: vec![archive_action()],
    };
    match add_integration_of_kind(registry, public_url, request, kind).await {
        Ok((_, credentials)) => Ok(Some(credentials)),
        // Another process created it first.
        Err(RegistryError::Conflict(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

// ---------------------------------------------------------------------------------------------
// Administration (issue #3): one layer under the CLI, the admin JSON API and the admin page, so
// that the three validate, audit and answer alike.

/// Who makes administrative changes: `cli:<os user>`, `admin-api`, `admin-page:<user>`. Every
/// change (and every refused change) is written to the audit trail under this name (C25).
#[derive(Debug, Clone)]
pub struct Admin {
    registry: Registry,
    public_url: String,
    actor: String,
    /// Where libraries may be; `None` checks nothing (embedders, tests).
    roots: Option<std::sync::Arc<crate::roots::RootPolicy>>,
}

/// An integration as the administration shows it: every field of Workfront's form (C22), with
/// secrets reduced to hints, plus what docbridge adds (slug, state, library, actions, times).
#[derive(Debug, Clone, Serialize)]
pub struct IntegrationView {
    pub slug: String,
    pub name: String,
    pub enabled: bool,
    /// `ApiKey` or `OAuth2`.
    pub auth: String,
    pub base_api_url: String,
    pub request_params: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
    pub redirect_uris: Vec<String>,
    /// The active ApiKeys, by the first characters of each (ApiKey integrations).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<KeyView>,
    pub storage_kind: String,
    pub root: String,
    pub default_role: DefaultRole,
    pub custom_actions: Vec<ActionView>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

/// An active ApiKey, by its hint: enough to tell keys apart when revoking.
#[derive(Debug, Clone, Serialize)]
pub struct KeyView {
    pub hint: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// A custom action without its secret.
#[derive(Debug, Clone, Serialize)]
pub struct ActionView {
    pub name: String,
    pub display_name: String,
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub folder: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
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
#[derive(Debug, Clone, Serialize)]
pub struct RotatedSecret {
    pub slug: String,
    /// The new ApiKey; the previous ones stay valid until revoked (C3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// The new OAuth2 client secret; the previous one stops working at once.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// ApiKeys now active (the new one included).
    pub active_keys: usize,
}

/// Which ApiKeys `revoke-keys` keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeKeys {
    /// Revoke every key but the newest: after a rotation, once Workfront has the new key.
    AllButNewest,
    /// Revoke the keys whose hint starts with this.
    Hint(String),
}

/// A user with their grants, as the administration shows them.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    pub username: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub grants: Vec<GrantView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    pub username: String,
    pub integration: String,
    pub role: docbridge_registry::Role,
    /// The folder the user is confined to (their root), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
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

/// Custom actions parsed from administrator input, with the webhook secrets docbridge made up
/// (to be shown once, like any issued secret).
#[derive(Debug, Clone, Default)]
pub struct ParsedActions {
    pub actions: Vec<CustomActionSpec>,
    /// Action name → generated secret.
    pub generated_secrets: std::collections::BTreeMap<String, String>,
}

/// Parses `name=archive,display=Archive,kind=move,folder=Archive` (the CLI's `--action`).
/// Keys: `name`, `display` (default: the name), `kind` (`move`, `copy`, `lock`, `webhook`),
/// `folder` (move, copy), `url`, `secret` (default: generated), `timeout`, `retries` (webhook).
/// A comma inside a value is kept when what follows it is not `key=`.
pub fn parse_action_spec(spec: &str) -> Result<(CustomActionSpec, Option<String>), RegistryError> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    for part in spec.split(',') {
        match part.split_once('=') {
            Some((key, value)) if ACTION_KEYS.contains(&key.trim()) => {
                pairs.push((key.trim().to_owned(), value.to_owned()))
            }
            _ => match pairs.last_mut() {
                Some((_, value)) => {
                    value.push(',');
                    value.push_str(part);
                }
                None => {
                    return Err(invalid_action(format!(
                        "{part:?} is not key=value (keys: {})",
                        ACTION_KEYS.join(", ")
                    )));
                }
            },
        }
    }
    let mut object = serde_json::Map::new();
    for (key, value) in pairs {
        let key = if key == "display" {
            "display_name".to_owned()
        } else if key == "timeout" {
            "timeout_secs".to_owned()
        } else {
            key
        };
        let value = match key.as_str() {
            "timeout_secs" | "retries" => serde_json::Value::from(
                value
                    .trim()
                    .parse::<u64>()
                    .map_err(|_| invalid_action(format!("{key} must be a number, not {value:?}")))?,
            ),
            _ => serde_json::Value::String(value),
        };
        if object.insert(key.clone(), value).is_some() {
            return Err(invalid_action(format!("{key} is given twice")));
        }
    }
    parse_action_json(&serde_json::Value::Object(object))
}

const ACTION_KEYS: &[&str] =
    &["name", "display", "display_name", "kind", "folder", "url", "secret", "timeout", "timeout_secs", "retries"];

fn invalid_action(reason: String) -> RegistryError {
    RegistryError::InvalidInput { field: "action", reason }
}

/// Parses one action from JSON: `{"name", "display_name", "kind", "folder" | "url", "secret",
/// "timeout_secs", "retries"}` (the admin API's and `--actions-file`'s form). A webhook without
/// a secret gets a generated one, returned beside the action.
pub fn parse_action_json(value: &serde_json::Value) -> Result<(CustomActionSpec, Option<String>), RegistryError> {
    let object = value.as_object().ok_or_else(|| invalid_action("must be an object".into()))?;
    for key in object.keys() {
        if !["name", "display_name", "kind", "folder", "url", "secret", "timeout_secs", "retries"]
            .contains(&key.as_str())
        {
            return Err(invalid_action(format!("unknown key {key:?}")));
        }
    }
    let text = |key: &str| -> Result<Option<String>, RegistryError> {
        match object.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(invalid_action(format!("{key} must be a string, not {other}"))),
        }
    };
    let number = |key: &str| -> Result<Option<u64>, RegistryError> {
        match object.get(key) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(value) => value
                .as_u64()
                .map(Some)
                .ok_or_else(|| invalid_action(format!("{key} must be a whole number, not {value}"))),
        }
    };
    let name =
        text("name")?.filter(|n| !n.trim().is_empty()).ok_or_else(|| invalid_action("name is required".into()))?;
    let display_name = text("display_name")?.filter(|d| !d.trim().is_empty()).unwrap_or_else(|| name.clone());
    let kind = text("kind")?
        .ok_or_else(|| invalid_action(format!("{name}: kind is required (move, copy, lock or webhook)")))?;
    let folder =
        || text("folder")?.ok_or_else(|| invalid_action(format!("{name}: folder is required for kind {kind}")));
    let mut generated = None;
    let kind = match kind.as_str() {
        "move" => ActionKind::Move { folder: folder()? },
        "copy" => ActionKind::Copy { folder: folder()? },
        "lock" => ActionKind::Lock,
        "webhook" => {
            let url =
                text("url")?.ok_or_else(|| invalid_action(format!("{name}: url is required for kind webhook")))?;
            let secret = match text("secret")? {
                Some(secret) => secret,
                None => {
                    let secret = issue_secret().plain;
                    generated = Some(secret.clone());
                    secret
                }
            };
            let timeout_secs = number("timeout_secs")?.unwrap_or(docbridge_registry::DEFAULT_WEBHOOK_TIMEOUT_SECS);
            let retries = number("retries")?.map_or(Ok(docbridge_registry::DEFAULT_WEBHOOK_RETRIES), |r| {
                u32::try_from(r).map_err(|_| invalid_action("retries is too large".into()))
            })?;
            ActionKind::Webhook { url, secret: docbridge_registry::ActionSecret::new(secret), timeout_secs, retries }
        }
        other => return Err(invalid_action(format!("{name}: kind {other:?} is not one of move, copy, lock, webhook"))),
    };
    let action = CustomActionSpec { name, display_name, kind };
    // The registry's checks (name alphabet, folder names, URL, limits), reported as `action`.
    docbridge_registry::apply_patch(
        placeholder_integration(),
        &IntegrationPatch { upsert_actions: vec![action.clone()], ..IntegrationPatch::default() },
    )
    .map_err(|e| match e {
        RegistryError::InvalidInput { reason, .. } => invalid_action(reason),
        other => other,
    })?;
    Ok((action, generated))
}

/// A throwaway record to run the registry's action checks on, without a database.
fn placeholder_integration() -> Integration {
    let now = chrono::Utc::now();
    Integration {
        id: 0,
        slug: "check".into(),
        name: "check".into(),
        auth_type: AuthType::ApiKey,
        client_id: None,
        redirect_uris: Vec::new(),
        request_params: Vec::new(),
        storage_kind: "fs".into(),
        storage_root: "/".into(),
        enabled: true,
        default_role: DefaultRole::Editor,
        custom_actions: Vec::new(),
        created_at: now,
        updated_at: now,
    }
}

/// Parses a JSON array of actions (the `--actions-file` form and the admin API's
/// `custom_actions`).
pub fn parse_actions_json(value: &serde_json::Value) -> Result<ParsedActions, RegistryError> {
    let items = value.as_array().ok_or_else(|| RegistryError::InvalidInput {
        field: "custom_actions",
        reason: "must be a JSON array of actions".into(),
    })?;
    let mut parsed = ParsedActions::default();
    for item in items {
        let (action, secret) = parse_action_json(item)?;
        if let Some(secret) = secret {
            parsed.generated_secrets.insert(action.name.clone(), secret);
        }
        parsed.actions.push(action);
    }
    Ok(parsed)
}

/// The default role of unknown ApiKey callers, from its name.
pub fn parse_default_role(raw: &str) -> Result<DefaultRole, RegistryError> {
    DefaultRole::parse(raw).ok_or_else(|| RegistryError::InvalidInput {
        field: "default_role",
        reason: format!("{raw:?} is not one of reader, editor, deny"),
    })
}

/// A role from its name.
pub fn parse_role(raw: &str) -> Result<docbridge_registry::Role, RegistryError> {
    docbridge_registry::Role::parse(raw).ok_or_else(|| RegistryError::InvalidInput {
        field: "role",
        reason: format!("{raw:?} is not one of reader, editor"),
    })
}

/// The fields a patch changes, for the audit trail's detail.
fn patch_fields(patch: &IntegrationPatch) -> String {
    let mut fields = Vec::new();
    let mut add = |set: bool, name: &str| {
        if set {
            fields.push(name.to_owned());
        }
    };
    add(patch.name.is_some(), "name");
    add(patch.redirect_uris.is_some(), "redirect_uris");
    add(patch.request_params.is_some(), "request_params");
    add(patch.storage_root.is_some(), "root");
    add(patch.default_role.is_some(), "default_role");
    add(patch.enabled.is_some(), "enabled");
    add(patch.custom_actions.is_some(), "custom_actions");
    for action in &patch.upsert_actions {
        fields.push(format!("+action:{}", action.name));
    }
    for name in &patch.remove_actions {
        fields.push(format!("-action:{name}"));
    }
    fields.join(",")
}

impl Admin {
    pub fn new(registry: Registry, public_url: impl Into<String>, actor: impl Into<String>) -> Self {
        Admin {
            registry,
            public_url: public_url.into().trim_end_matches('/').to_owned(),
            actor: actor.into(),
            roots: None,
        }
    }

    /// Checks new and edited library roots against `roots` (`roots.rs`).
    pub fn with_roots(mut self, roots: Option<std::sync::Arc<crate::roots::RootPolicy>>) -> Self {
        self.roots = roots;
        self
    }

    /// Whether `root` may be the library of `slug` (new, or edited): called before a folder is
    /// created for it, and again by `add` and `edit`.
    pub async fn check_root(&self, slug: &str, storage_kind: &str, root: &str) -> Result<(), RegistryError> {
        let Some(policy) = &self.roots else { return Ok(()) };
        let root = if storage_kind == "fs" {
            std::path::absolute(root).map(|p| p.display().to_string()).unwrap_or(root.to_owned())
        } else {
            root.to_owned()
        };
        policy.check_new(&self.registry, slug, storage_kind, &root).await
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    /// Writes one line of the audit trail; a failure to write it is logged, not fatal: the
    /// change itself has happened (or not) already.
    async fn audit<T>(
        &self,
        integration: &str,
        operation: &str,
        item: Option<String>,
        detail: Option<String>,
        result: &Result<T, RegistryError>,
    ) {
        let entry = docbridge_registry::AuditEntry {
            at: chrono::Utc::now(),
            actor: self.actor.clone(),
            integration: integration.to_owned(),
            operation: operation.to_owned(),
            item_id: item,
            result: match result {
                Ok(_) => "ok".to_owned(),
                Err(e) => format!("error: {e}"),
            },
            detail,
        };
        if let Err(e) = self.registry.record_audit(&entry).await {
            tracing::error!(error = %e, operation, "could not write the audit trail");
        }
    }

    pub async fn view(&self, integration: &Integration) -> Result<IntegrationView, RegistryError> {
        let keys = if integration.auth_type == AuthType::ApiKey {
            self.registry.active_api_keys(integration.id).await?
        } else {
            Vec::new()
        };
        let form = credentials(&self.public_url, integration, None, None);
        Ok(IntegrationView {
            slug: integration.slug.clone(),
            name: integration.name.clone(),
            enabled: integration.enabled,
            auth: form.auth,
            base_api_url: form.base_api_url,
            request_params: integration.request_params.clone(),
            authentication_url: form.authentication_url,
            token_endpoint_url: form.token_endpoint_url,
            client_id: form.client_id,
            redirect_uris: integration.redirect_uris.clone(),
            api_keys: keys.into_iter().map(|k| KeyView { hint: k.hint, created_at: k.created_at }).collect(),
            storage_kind: integration.storage_kind.clone(),
            root: integration.storage_root.clone(),
            default_role: integration.default_role,
            custom_actions: integration.custom_actions.iter().map(ActionView::from).collect(),
            created_at: integration.created_at,
            updated_at: integration.updated_at,
        })
    }

    pub async fn list(&self) -> Result<Vec<IntegrationView>, RegistryError> {
        let mut views = Vec::new();
        for integration in self.registry.integrations().await? {
            views.push(self.view(&integration).await?);
        }
        Ok(views)
    }

    pub async fn show(&self, slug: &str) -> Result<IntegrationView, RegistryError> {
        let integration = self.integration(slug).await?;
        self.view(&integration).await
    }

    async fn integration(&self, slug: &str) -> Result<Integration, RegistryError> {
        self.registry.integration(slug).await?.ok_or_else(|| RegistryError::NotFound(format!("integration {slug:?}")))
    }

    /// Registers an integration over a library of `storage_kind` (see [`add_integration_of_kind`]).
    pub async fn add(
        &self,
        request: AddIntegration,
        storage_kind: &str,
    ) -> Result<(Integration, IntegrationCredentials), RegistryError> {
        let slug = request.slug.clone().unwrap_or_else(|| slug_from_name(&request.name));
        let detail = format!("name={:?} auth={} root={}", request.name, request.auth.as_str(), request.root);
        let result = match self.check_root(&slug, storage_kind, &request.root).await {
            Ok(()) => add_integration_of_kind(&self.registry, &self.public_url, request, storage_kind).await,
            Err(e) => Err(e),
        };
        self.audit(&slug, "integration.add", None, Some(detail), &result).await;
        result
    }

    pub async fn edit(&self, slug: &str, patch: &IntegrationPatch) -> Result<IntegrationView, RegistryError> {
        let result = if patch.is_empty() {
            Err(RegistryError::InvalidInput { field: "edit", reason: "nothing to change".into() })
        } else {
            match self.check_edited_root(slug, patch).await {
                Ok(()) => self.registry.edit_integration(slug, patch).await,
                Err(e) => Err(e),
            }
        };
        self.audit(slug, "integration.edit", None, Some(patch_fields(patch)), &result).await;
        self.view(&result?).await
    }

    /// A changed root is checked; an unchanged one is not, so that an integration registered
    /// before the rules can still be renamed or disabled.
    async fn check_edited_root(&self, slug: &str, patch: &IntegrationPatch) -> Result<(), RegistryError> {
        let Some(root) = &patch.storage_root else { return Ok(()) };
        let current = self.integration(slug).await?;
        if *root == current.storage_root {
            return Ok(());
        }
        self.check_root(slug, &current.storage_kind, root).await
    }

    /// Enables or disables an integration; the server sees it on the next request.
    pub async fn set_enabled(&self, slug: &str, enabled: bool) -> Result<IntegrationView, RegistryError> {
        let result = self.registry.set_integration_enabled(slug, enabled).await;
        self.audit(slug, if enabled { "integration.enable" } else { "integration.disable" }, None, None, &result).await;
        self.view(&result?).await
    }

    /// Deletes an integration's record (its documents stay on disk).
    pub async fn delete(&self, slug: &str) -> Result<(), RegistryError> {
        let result = self.registry.delete_integration(slug).await;
        self.audit(slug, "integration.delete", None, None, &result).await;
        result
    }

    /// Issues a new secret: an extra ApiKey (the old ones keep working until revoked, C3) or a
    /// new OAuth2 client secret (the old one stops at once: Workfront stores only one).
    pub async fn rotate_key(&self, slug: &str) -> Result<RotatedSecret, RegistryError> {
        let result = self.rotate_key_inner(slug).await;
        self.audit(slug, "integration.rotate-key", None, None, &result).await;
        result
    }

    async fn rotate_key_inner(&self, slug: &str) -> Result<RotatedSecret, RegistryError> {
        let integration = self.integration(slug).await?;
        let secret = issue_secret();
        match integration.auth_type {
            AuthType::ApiKey => {
                self.registry.add_api_key(slug, &secret.stored).await?;
                let active_keys = self.registry.active_api_keys(integration.id).await?.len();
                Ok(RotatedSecret {
                    slug: slug.to_owned(),
                    api_key: Some(secret.plain),
                    client_secret: None,
                    active_keys,
                })
            }
            AuthType::OAuth2 => {
                self.registry.set_client_secret_hash(slug, &secret.stored.hash).await?;
                Ok(RotatedSecret {
                    slug: slug.to_owned(),
                    api_key: None,
                    client_secret: Some(secret.plain),
                    active_keys: 0,
                })
            }
        }
    }

    /// Revokes ApiKeys; returns how many.
    pub async fn revoke_keys(&self, slug: &str, which: &RevokeKeys) -> Result<u64, RegistryError> {
        let result = match which {
            RevokeKeys::AllButNewest => self.registry.revoke_api_keys_except_newest(slug).await,
            RevokeKeys::Hint(hint) => self.registry.revoke_api_keys_by_hint(slug, hint).await,
        };
        let detail = match (which, &result) {
            (RevokeKeys::AllButNewest, Ok(n)) => format!("kept the newest, revoked {n}"),
            (RevokeKeys::Hint(hint), Ok(n)) => format!("hint={hint} revoked {n}"),
            (_, Err(_)) => String::new(),
        };
        self.audit(slug, "integration.revoke-keys", None, Some(detail).filter(|d| !d.is_empty()), &result).await;
        result
    }

    pub async fn users(&self) -> Result<Vec<UserView>, RegistryError> {
        let grants = self.registry.grants(None, None).await?;
        Ok(self
            .registry
            .users()
            .await?
            .into_iter()
            .map(|user| UserView {
                grants: grants.iter().filter(|g| g.username == user.username).cloned().map(GrantView::from).collect(),
                username: user.username,
                created_at: user.created_at,
            })
            .collect())
    }

    pub async fn user(&self, username: &str) -> Result<UserView, RegistryError> {
        let user = self
            .registry
            .user(username)
            .await?
            .ok_or_else(|| RegistryError::NotFound(format!("user {:?}", username.trim())))?;
        let grants = self.registry.grants(Some(&user.username), None).await?;
        Ok(UserView {
            username: user.username,
            created_at: user.created_at,
            grants: grants.into_iter().map(GrantView::from).collect(),
        })
    }

    /// Registers a local user with a password (argon2id, hashed off the async threads).
    pub async fn add_user(&self, username: &str, password: &str) -> Result<UserView, RegistryError> {
        let result = async {
            let normalized = docbridge_registry::normalize_username(username)?;
            let hash = hash_password(password).await?;
            self.registry.create_user(&normalized, &hash).await
        }
        .await;
        self.audit("", "user.add", None, Some(format!("username={}", username.trim())), &result).await;
        let user = result?;
        Ok(UserView { username: user.username, created_at: user.created_at, grants: Vec::new() })
    }

    pub async fn set_password(&self, username: &str, password: &str) -> Result<(), RegistryError> {
        let result = async {
            let hash = hash_password(password).await?;
            self.registry.set_user_password_hash(username, &hash).await
        }
        .await;
        self.audit("", "user.passwd", None, Some(format!("username={}", username.trim())), &result).await;
        result
    }

    pub async fn delete_user(&self, username: &str) -> Result<(), RegistryError> {
        let result = self.registry.delete_user(username).await;
        self.audit("", "user.delete", None, Some(format!("username={}", username.trim())), &result).await;
        result
    }

    /// Gives a user a role in an integration, optionally confined to a folder (by item ID; the
    /// root or an empty string means the whole library).
    pub async fn grant(
        &self,
        username: &str,
        slug: &str,
        role: docbridge_registry::Role,
        folder: Option<&str>,
    ) -> Result<GrantView, RegistryError> {
        let result = async {
            let folder = folder
                .filter(|f| !f.is_empty())
                .map(|f| {
                    docbridge_protocol::ItemId::parse("folder", f)
                        .map_err(|e| RegistryError::InvalidInput { field: "folder", reason: e.to_string() })
                })
                .transpose()?;
            self.registry.grant(username, slug, role, folder.as_ref()).await
        }
        .await;
        let detail = format!("username={} role={}", username.trim(), role.as_str());
        self.audit(slug, "user.grant", folder.map(str::to_owned), Some(detail), &result).await;
        result.map(GrantView::from)
    }

    pub async fn revoke(&self, username: &str, slug: &str) -> Result<(), RegistryError> {
        let result = self.registry.revoke(username, slug).await;
        self.audit(slug, "user.revoke", None, Some(format!("username={}", username.trim())), &result).await;
        result
    }

    /// The audit trail, oldest first.
    pub async fn audit_entries(
        &self,
        integration: Option<&str>,
        since: Option<chrono::DateTime<chrono::Utc>>,
        limit: u64,
    ) -> Result<Vec<docbridge_registry::AuditEntry>, RegistryError> {
        self.registry.audit_entries(integration, since, limit).await
    }
}

/// argon2id on a blocking thread: it takes tens of milliseconds on purpose.
async fn hash_password(password: &str) -> Result<String, RegistryError> {
    if password.is_empty() {
        return Err(RegistryError::InvalidInput { field: "password", reason: "must not be empty".into() });
    }
    let password = password.to_owned();
    tokio::task::spawn_blocking(move || docbridge_auth::hash_password(&password))
        .await
        .map_err(|e| RegistryError::Corrupt(format!("hashing a password: {e}")))?
        .map_err(|e| match e {
            docbridge_auth::AuthError::InvalidInput { field, reason } => RegistryError::InvalidInput { field, reason },
            other => RegistryError::Corrupt(format!("hashing a password: {other}")),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slug_from_name("Marketing Docs"), "marketing-docs");
        assert_eq!(slug_from_name("  Ünïcode -- Name! "), "n-code-name");
        assert_eq!(slug_from_name("!!!"), "integration");
    }
}
