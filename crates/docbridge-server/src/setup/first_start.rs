//! Registering an integration and issuing its secret, and the first start (C2): the `default`
//! integration a registry with none gets, its credentials printed once.

use std::path::{Path, PathBuf};

use docbridge_auth::{IssuedSecret, issue_secret};
use docbridge_registry::{
    ActionKind, AuthType, CustomActionSpec, DefaultRole, Integration, NewIntegration, Registry, RegistryError,
};
use serde::Serialize;

/// What an administrator types into Workfront's *Add Custom Integration* form, shown once.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct IntegrationCredentials {
    pub slug: String,
    pub name: String,
    /// `ApiKey` or `OAuth2`.
    #[schema(schema_with = crate::openapi::auth_label)]
    pub auth: String,
    pub base_api_url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub api_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub client_secret: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub authentication_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub token_endpoint_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(required = false)]
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
    /// A folder or prefix in the store of a remote kind (`webdav`, `sftp`, `azblob`, `gcs`).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        for (name, slug) in
            [("Marketing Docs", "marketing-docs"), ("  Ünïcode -- Name! ", "n-code-name"), ("!!!", "integration")]
        {
            assert_eq!(slug_from_name(name), slug, "the slug of {name:?}");
        }
    }
}
