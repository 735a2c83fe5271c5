//! The admin JSON API under `/admin/api` (issue #3, C22): integrations, users and grants, and
//! the audit trail, over the same `setup::Admin` layer as the CLI.
//!
//! Every route needs `Authorization: Bearer <admin.token>`, compared in constant time. With no
//! token configured the whole API answers 403, so that a server started without thinking about
//! it exposes nothing. Failures use the contract's error body (C20): 400 names the field at
//! fault, 404 an unknown integration or user, 409 a taken name.

use std::collections::BTreeMap;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use docbridge_registry::{AuthType, DefaultRole, IntegrationPatch, RegistryError};
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::error::ApiError;
use crate::setup::{self, AddIntegration, Admin, RevokeKeys};
use crate::state::AppState;

/// What the audit trail calls changes made through this API.
const ACTOR: &str = "admin-api";
/// Audit entries one call returns at most.
const MAX_AUDIT_ENTRIES: u64 = 10_000;

/// The routes, to merge into the main router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/api/integrations", get(list_integrations).post(add_integration))
        .route(
            "/admin/api/integrations/{slug}",
            get(show_integration).patch(edit_integration).delete(delete_integration),
        )
        .route("/admin/api/integrations/{slug}/enable", post(enable_integration))
        .route("/admin/api/integrations/{slug}/disable", post(disable_integration))
        .route("/admin/api/integrations/{slug}/rotate-key", post(rotate_key))
        .route("/admin/api/integrations/{slug}/revoke-keys", post(revoke_keys))
        .route("/admin/api/users", get(list_users).post(add_user))
        .route("/admin/api/users/{username}", get(show_user).delete(delete_user))
        .route("/admin/api/users/{username}/password", put(set_password))
        .route("/admin/api/users/{username}/grants/{slug}", put(grant).delete(revoke))
        .route("/admin/api/audit", get(audit))
}

/// Proof that the request carried the admin token; handlers take it first.
struct Authorized(Admin);

impl FromRequestParts<AppState> for Authorized {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let expected = state.admin_token().expose_secret();
        if expected.is_empty() {
            return Err(ApiError::forbidden("admin API disabled: set admin.token"));
        }
        let key = crate::limits::client_address(state, &parts.extensions, &parts.headers)
            .map(|client| crate::limits::FailureKey::Admin { client });
        let allowance = state.limits.auth_allowance();
        if let Some(key) = &key {
            state.limits.check(key, allowance)?;
        }
        let presented = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .unwrap_or_default();
        if presented.is_empty() || !docbridge_auth::secrets_equal(presented, expected) {
            if let Some(key) = &key {
                state.limits.record_failure(key, allowance, "wrong admin token (API)");
            }
            return Err(ApiError::forbidden("missing or wrong admin token (Authorization: Bearer <admin.token>)"));
        }
        Ok(Authorized(
            Admin::new(state.registry.clone(), state.settings.public_url.clone(), ACTOR).with_roots(state.roots()),
        ))
    }
}

type Answer = Result<Response, ApiError>;

fn ok(value: impl serde::Serialize) -> Answer {
    Ok(Json(value).into_response())
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::from(RegistryError::InvalidInput { field, reason: reason.into() })
}

/// A JSON request body read into `T`, whose refusal is the contract's 400 naming the field at
/// fault (`name: invalid type: ...`, `nmae: unknown field`, `body: not JSON: ...`). An empty
/// body is `{}`, so that bodies of optional fields may be left out.
struct Body<T>(T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(request, state).await.map_err(|e| invalid("body", e.body_text()))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        serde_path_to_error::deserialize(&mut deserializer).map(Body).map_err(|e| {
            let path = e.path().to_string();
            let error = e.into_inner();
            let message = error.to_string();
            if error.is_syntax() || error.is_eof() {
                return invalid("body", format!("not JSON: {message}"));
            }
            // serde names an unknown field only inside its message: lead with it, as with any field.
            if let Some(rest) = message.strip_prefix("unknown field `")
                && let Some((field, expected)) = rest.split_once('`')
            {
                return ApiError::bad_request(format!("{field}: unknown field{expected}"));
            }
            match path.as_str() {
                "." => invalid("body", message),
                field => ApiError::bad_request(format!("{field}: {message}")),
            }
        })
    }
}

/// A field the request must carry, not blank.
fn required(value: Option<String>, field: &'static str) -> Result<String, ApiError> {
    value.filter(|s| !s.trim().is_empty()).ok_or_else(|| invalid(field, "is required"))
}

/// `custom_actions`-like fields: a list of action objects, with generated webhook secrets.
fn actions(
    value: Option<Value>,
    field: &'static str,
    secrets: &mut BTreeMap<String, String>,
) -> Result<Option<Vec<docbridge_registry::CustomActionSpec>>, ApiError> {
    let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(None) };
    let parsed = setup::parse_actions_json(&value).map_err(|e| match e {
        RegistryError::InvalidInput { reason, .. } => invalid(field, reason),
        other => other.into(),
    })?;
    secrets.extend(parsed.generated_secrets);
    Ok(Some(parsed.actions))
}

/// A serialised answer with the webhook secrets generated by this call, shown this once.
fn with_secrets(value: impl serde::Serialize, secrets: BTreeMap<String, String>) -> Answer {
    let mut value = serde_json::to_value(value).map_err(|e| ApiError::internal(e.to_string()))?;
    if !secrets.is_empty()
        && let Some(object) = value.as_object_mut()
    {
        object.insert("webhook_secrets".into(), json!(secrets));
    }
    ok(value)
}

/// `POST /admin/api/integrations`. Every field is optional to serde, so that a missing one is
/// refused by name (`required` below); the OpenAPI document marks the required ones.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AddIntegrationRequest)]
struct NewIntegrationRequest {
    #[schema(required = true, nullable = false)]
    name: Option<String>,
    /// `apikey` or `oauth2`.
    #[schema(required = true, schema_with = crate::openapi::auth_input)]
    auth: Option<String>,
    /// The library's folder (fs), prefix (s3) or folder or prefix in the store (remote kinds).
    #[schema(required = true, nullable = false)]
    root: Option<String>,
    #[schema(nullable = false)]
    slug: Option<String>,
    /// One of [`crate::config::STORAGE_KINDS`] or `memory`; `fs` when left out.
    #[schema(schema_with = crate::openapi::storage_kind)]
    storage_kind: Option<String>,
    #[schema(nullable = false)]
    redirect_uris: Option<Vec<String>>,
    #[schema(nullable = false)]
    request_params: Option<Vec<String>>,
    #[schema(schema_with = crate::openapi::default_role)]
    default_role: Option<String>,
    /// Action objects (`setup::parse_action_json`).
    #[schema(schema_with = crate::openapi::custom_actions)]
    custom_actions: Option<Value>,
}

/// `PATCH /admin/api/integrations/{slug}`: what is sent changes, what is left out stays.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct EditIntegrationRequest {
    #[schema(nullable = false)]
    name: Option<String>,
    #[schema(nullable = false)]
    redirect_uris: Option<Vec<String>>,
    #[schema(nullable = false)]
    request_params: Option<Vec<String>>,
    #[schema(nullable = false)]
    root: Option<String>,
    #[schema(schema_with = crate::openapi::default_role)]
    default_role: Option<String>,
    #[schema(nullable = false)]
    enabled: Option<bool>,
    /// Replaces every action.
    #[schema(schema_with = crate::openapi::custom_actions)]
    custom_actions: Option<Value>,
    /// Adds or replaces actions by name.
    #[schema(schema_with = crate::openapi::custom_actions)]
    upsert_actions: Option<Value>,
    /// Removes actions by name.
    #[schema(nullable = false)]
    remove_actions: Option<Vec<String>>,
}

/// The request bodies' schemas, for the OpenAPI document.
pub(crate) fn request_schemas(components: utoipa::openapi::ComponentsBuilder) -> utoipa::openapi::ComponentsBuilder {
    components.schema_from::<NewIntegrationRequest>().schema_from::<EditIntegrationRequest>()
}

/// `POST .../revoke-keys`: `{"keep_newest": true}` or `{"hint": "abc123"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RevokeKeysRequest {
    keep_newest: Option<bool>,
    hint: Option<String>,
}

/// `POST /admin/api/users`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUserRequest {
    username: Option<String>,
    password: Option<String>,
}

/// `PUT /admin/api/users/{username}/password`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    password: Option<String>,
}

/// `PUT /admin/api/users/{username}/grants/{slug}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    /// `reader` or `editor`.
    role: Option<String>,
    /// A folder's ID, confining the user to it.
    folder: Option<String>,
}

async fn list_integrations(Authorized(admin): Authorized) -> Answer {
    ok(admin.list().await?)
}

async fn show_integration(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    ok(admin.show(&slug).await?)
}

/// `POST /admin/api/integrations`: [`NewIntegrationRequest`].
async fn add_integration(Authorized(admin): Authorized, Body(body): Body<NewIntegrationRequest>) -> Answer {
    let name = required(body.name, "name")?;
    let auth = required(body.auth, "auth")?;
    let auth =
        AuthType::parse(&auth).ok_or_else(|| invalid("auth", format!("{auth:?} is not one of apikey, oauth2")))?;
    let root = required(body.root, "root")?;
    let storage_kind = body.storage_kind.unwrap_or_else(|| "fs".to_owned());
    if storage_kind != "memory" && !crate::config::STORAGE_KINDS.contains(&storage_kind.as_str()) {
        return Err(invalid(
            "storage_kind",
            format!("{storage_kind:?} is not one of {}, memory", crate::config::STORAGE_KINDS.join(", ")),
        ));
    }
    let default_role = match body.default_role {
        Some(role) => setup::parse_default_role(&role)?,
        None => DefaultRole::Editor,
    };
    let mut secrets = BTreeMap::new();
    let request = AddIntegration {
        name,
        slug: body.slug,
        auth,
        root: root.clone(),
        redirect_uris: body.redirect_uris.unwrap_or_default(),
        request_params: body.request_params.unwrap_or_default(),
        default_role,
        custom_actions: actions(body.custom_actions, "custom_actions", &mut secrets)?.unwrap_or_default(),
    };
    // Before the folder is made: a refused root must not leave one behind (in /etc, say).
    let slug = request.slug.clone().unwrap_or_else(|| setup::slug_from_name(&request.name));
    admin.check_root(&slug, &storage_kind, &root).await?;
    if storage_kind == "fs" {
        crate::data_dir::create_private_dir(root.as_ref())
            .map_err(|e| invalid("root", format!("cannot create {root}: {e}")))?;
    }
    let (_, credentials) = admin.add(request, &storage_kind).await?;
    let mut response = with_secrets(credentials, secrets)?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `PATCH /admin/api/integrations/{slug}`: [`EditIntegrationRequest`].
async fn edit_integration(
    Authorized(admin): Authorized,
    Path(slug): Path<String>,
    Body(body): Body<EditIntegrationRequest>,
) -> Answer {
    let mut secrets = BTreeMap::new();
    let patch = IntegrationPatch {
        name: body.name,
        redirect_uris: body.redirect_uris,
        request_params: body.request_params,
        storage_root: body.root,
        default_role: body.default_role.map(|r| setup::parse_default_role(&r)).transpose()?,
        enabled: body.enabled,
        custom_actions: actions(body.custom_actions, "custom_actions", &mut secrets)?,
        upsert_actions: actions(body.upsert_actions, "upsert_actions", &mut secrets)?.unwrap_or_default(),
        remove_actions: body.remove_actions.unwrap_or_default(),
    };
    with_secrets(admin.edit(&slug, &patch).await?, secrets)
}

async fn enable_integration(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    ok(admin.set_enabled(&slug, true).await?)
}

async fn disable_integration(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    ok(admin.set_enabled(&slug, false).await?)
}

async fn delete_integration(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    admin.delete(&slug).await?;
    ok(json!({"status": "deleted", "slug": slug}))
}

async fn rotate_key(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    ok(admin.rotate_key(&slug).await?)
}

/// `POST .../revoke-keys`: [`RevokeKeysRequest`].
async fn revoke_keys(
    Authorized(admin): Authorized,
    Path(slug): Path<String>,
    Body(body): Body<RevokeKeysRequest>,
) -> Answer {
    let which = match (body.keep_newest, body.hint) {
        (Some(true), None) => RevokeKeys::AllButNewest,
        (None | Some(false), Some(hint)) => RevokeKeys::Hint(hint),
        _ => return Err(invalid("keep_newest", "send either {\"keep_newest\": true} or {\"hint\": \"...\"}")),
    };
    let revoked = admin.revoke_keys(&slug, &which).await?;
    ok(json!({"slug": slug, "revoked": revoked}))
}

async fn list_users(Authorized(admin): Authorized) -> Answer {
    ok(admin.users().await?)
}

async fn show_user(Authorized(admin): Authorized, Path(username): Path<String>) -> Answer {
    ok(admin.user(&username).await?)
}

/// `POST /admin/api/users`: [`NewUserRequest`].
async fn add_user(Authorized(admin): Authorized, Body(body): Body<NewUserRequest>) -> Answer {
    let username = required(body.username, "username")?;
    let password = required(body.password, "password")?;
    let mut response = ok(admin.add_user(&username, &password).await?)?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `PUT /admin/api/users/{username}/password`: [`PasswordRequest`].
async fn set_password(
    Authorized(admin): Authorized,
    Path(username): Path<String>,
    Body(body): Body<PasswordRequest>,
) -> Answer {
    admin.set_password(&username, &required(body.password, "password")?).await?;
    ok(json!({"status": "updated", "username": username.trim().to_lowercase()}))
}

async fn delete_user(Authorized(admin): Authorized, Path(username): Path<String>) -> Answer {
    admin.delete_user(&username).await?;
    ok(json!({"status": "deleted", "username": username.trim().to_lowercase()}))
}

/// `PUT /admin/api/users/{username}/grants/{slug}`: [`GrantRequest`].
async fn grant(
    Authorized(admin): Authorized,
    Path((username, slug)): Path<(String, String)>,
    Body(body): Body<GrantRequest>,
) -> Answer {
    let role = setup::parse_role(&required(body.role, "role")?)?;
    ok(admin.grant(&username, &slug, role, body.folder.as_deref()).await?)
}

async fn revoke(Authorized(admin): Authorized, Path((username, slug)): Path<(String, String)>) -> Answer {
    admin.revoke(&username, &slug).await?;
    ok(json!({"status": "revoked", "username": username.trim().to_lowercase(), "integration": slug}))
}

#[derive(Debug, serde::Deserialize)]
struct AuditQuery {
    integration: Option<String>,
    since: Option<String>,
    limit: Option<String>,
}

/// `GET /admin/api/audit?integration=SLUG&since=RFC3339&limit=N`, oldest first.
async fn audit(
    Authorized(admin): Authorized,
    query: Result<Query<AuditQuery>, axum::extract::rejection::QueryRejection>,
) -> Answer {
    let Query(query) = query.map_err(|e| invalid("query", e.body_text()))?;
    let since = query
        .since
        .filter(|s| !s.is_empty())
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(&s)
                .map(|d| d.with_timezone(&chrono::Utc))
                .map_err(|e| invalid("since", format!("{s:?} is not an RFC 3339 time ({e})")))
        })
        .transpose()?;
    let limit = match query.limit.filter(|l| !l.is_empty()) {
        Some(raw) => raw
            .parse::<u64>()
            .ok()
            .filter(|n| (1..=MAX_AUDIT_ENTRIES).contains(n))
            .ok_or_else(|| invalid("limit", format!("must be a number from 1 to {MAX_AUDIT_ENTRIES}")))?,
        None => 1000,
    };
    let integration = query.integration.filter(|i| !i.is_empty());
    ok(admin.audit_entries(integration.as_deref(), since, limit).await?)
}
