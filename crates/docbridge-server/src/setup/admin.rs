//! The administration service under the CLI, the admin JSON API and the admin page, so that the
//! three validate, audit and answer alike (issue #3): every change, and every refused change, is
//! written to the audit trail under the actor's name (C25).

use docbridge_auth::issue_secret;
use docbridge_registry::{AuthType, Integration, IntegrationPatch, Registry, RegistryError};

use super::first_start::{
    AddIntegration, IntegrationCredentials, add_integration_of_kind, credentials, slug_from_name,
};
use super::views::{ActionView, GrantView, IntegrationView, KeyView, RotatedSecret, UserView};

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

/// Which ApiKeys `revoke-keys` keeps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RevokeKeys {
    /// Revoke every key but the newest: after a rotation, once Workfront has the new key.
    AllButNewest,
    /// Revoke the keys whose hint starts with this.
    Hint(String),
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
