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
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Json, Response};
use axum::routing::{get, post, put};
use docbridge_registry::{AuthType, DefaultRole, IntegrationPatch, RegistryError};
use secrecy::ExposeSecret;
use serde_json::{Map, Value, json};

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

/// A request body as a JSON object whose keys are all in `allowed`.
fn object(body: &Bytes, allowed: &[&str]) -> Result<Map<String, Value>, ApiError> {
    let value: Value = if body.is_empty() {
        Value::Object(Map::new())
    } else {
        serde_json::from_slice(body).map_err(|e| invalid("body", format!("not JSON: {e}")))?
    };
    let Value::Object(map) = value else {
        return Err(invalid("body", "must be a JSON object"));
    };
    if let Some(key) = map.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(ApiError::bad_request(format!("{key}: unknown field (expected one of {})", allowed.join(", "))));
    }
    Ok(map)
}

fn string(map: &Map<String, Value>, field: &'static str) -> Result<Option<String>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(invalid(field, format!("must be a string, not {other}"))),
    }
}

fn required(map: &Map<String, Value>, field: &'static str) -> Result<String, ApiError> {
    string(map, field)?.filter(|s| !s.trim().is_empty()).ok_or_else(|| invalid(field, "is required"))
}

fn strings(map: &Map<String, Value>, field: &'static str) -> Result<Option<Vec<String>>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| invalid(field, format!("must be a list of strings, not {v}")))
            })
            .collect::<Result<_, _>>()
            .map(Some),
        Some(other) => Err(invalid(field, format!("must be a list of strings, not {other}"))),
    }
}

fn boolean(map: &Map<String, Value>, field: &'static str) -> Result<Option<bool>, ApiError> {
    match map.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(other) => Err(invalid(field, format!("must be true or false, not {other}"))),
    }
}

/// `custom_actions`-like fields: a list of action objects, with generated webhook secrets.
fn actions(
    map: &Map<String, Value>,
    field: &'static str,
    secrets: &mut BTreeMap<String, String>,
) -> Result<Option<Vec<docbridge_registry::CustomActionSpec>>, ApiError> {
    let Some(value) = map.get(field).filter(|v| !v.is_null()) else { return Ok(None) };
    let parsed = setup::parse_actions_json(value).map_err(|e| match e {
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

async fn list_integrations(Authorized(admin): Authorized) -> Answer {
    ok(admin.list().await?)
}

async fn show_integration(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    ok(admin.show(&slug).await?)
}

/// `POST /admin/api/integrations`: `{"name", "auth": "apikey"|"oauth2", "root", "slug"?,
/// "storage_kind"?, "redirect_uris"?, "request_params"?, "default_role"?, "custom_actions"?}`.
async fn add_integration(Authorized(admin): Authorized, body: Bytes) -> Answer {
    let map = object(
        &body,
        &[
            "name",
            "slug",
            "auth",
            "root",
            "storage_kind",
            "redirect_uris",
            "request_params",
            "default_role",
            "custom_actions",
        ],
    )?;
    let name = required(&map, "name")?;
    let auth = required(&map, "auth")?;
    let auth =
        AuthType::parse(&auth).ok_or_else(|| invalid("auth", format!("{auth:?} is not one of apikey, oauth2")))?;
    let root = required(&map, "root")?;
    let storage_kind = string(&map, "storage_kind")?.unwrap_or_else(|| "fs".to_owned());
    if storage_kind != "memory" && !crate::config::STORAGE_KINDS.contains(&storage_kind.as_str()) {
        return Err(invalid(
            "storage_kind",
            format!("{storage_kind:?} is not one of {}, memory", crate::config::STORAGE_KINDS.join(", ")),
        ));
    }
    let default_role = match string(&map, "default_role")? {
        Some(role) => setup::parse_default_role(&role)?,
        None => DefaultRole::Editor,
    };
    let mut secrets = BTreeMap::new();
    let request = AddIntegration {
        name,
        slug: string(&map, "slug")?,
        auth,
        root: root.clone(),
        redirect_uris: strings(&map, "redirect_uris")?.unwrap_or_default(),
        request_params: strings(&map, "request_params")?.unwrap_or_default(),
        default_role,
        custom_actions: actions(&map, "custom_actions", &mut secrets)?.unwrap_or_default(),
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

/// `PATCH /admin/api/integrations/{slug}`: any of `name`, `redirect_uris`, `request_params`,
/// `root`, `default_role`, `enabled`, `custom_actions` (replaces all), `upsert_actions`,
/// `remove_actions` (names).
async fn edit_integration(Authorized(admin): Authorized, Path(slug): Path<String>, body: Bytes) -> Answer {
    let map = object(
        &body,
        &[
            "name",
            "redirect_uris",
            "request_params",
            "root",
            "default_role",
            "enabled",
            "custom_actions",
            "upsert_actions",
            "remove_actions",
        ],
    )?;
    let mut secrets = BTreeMap::new();
    let patch = IntegrationPatch {
        name: string(&map, "name")?,
        redirect_uris: strings(&map, "redirect_uris")?,
        request_params: strings(&map, "request_params")?,
        storage_root: string(&map, "root")?,
        default_role: string(&map, "default_role")?.map(|r| setup::parse_default_role(&r)).transpose()?,
        enabled: boolean(&map, "enabled")?,
        custom_actions: actions(&map, "custom_actions", &mut secrets)?,
        upsert_actions: actions(&map, "upsert_actions", &mut secrets)?.unwrap_or_default(),
        remove_actions: strings(&map, "remove_actions")?.unwrap_or_default(),
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

/// `POST .../revoke-keys`: `{"keep_newest": true}` or `{"hint": "abc123"}`.
async fn revoke_keys(Authorized(admin): Authorized, Path(slug): Path<String>, body: Bytes) -> Answer {
    let map = object(&body, &["keep_newest", "hint"])?;
    let which = match (boolean(&map, "keep_newest")?, string(&map, "hint")?) {
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

/// `POST /admin/api/users`: `{"username", "password"}`.
async fn add_user(Authorized(admin): Authorized, body: Bytes) -> Answer {
    let map = object(&body, &["username", "password"])?;
    let username = required(&map, "username")?;
    let password = required(&map, "password")?;
    let mut response = ok(admin.add_user(&username, &password).await?)?;
    *response.status_mut() = StatusCode::CREATED;
    Ok(response)
}

/// `PUT /admin/api/users/{username}/password`: `{"password"}`.
async fn set_password(Authorized(admin): Authorized, Path(username): Path<String>, body: Bytes) -> Answer {
    let map = object(&body, &["password"])?;
    admin.set_password(&username, &required(&map, "password")?).await?;
    ok(json!({"status": "updated", "username": username.trim().to_lowercase()}))
}

async fn delete_user(Authorized(admin): Authorized, Path(username): Path<String>) -> Answer {
    admin.delete_user(&username).await?;
    ok(json!({"status": "deleted", "username": username.trim().to_lowercase()}))
}

/// `PUT /admin/api/users/{username}/grants/{slug}`: `{"role": "reader"|"editor", "folder"?}`.
async fn grant(Authorized(admin): Authorized, Path((username, slug)): Path<(String, String)>, body: Bytes) -> Answer {
    let map = object(&body, &["role", "folder"])?;
    let role = setup::parse_role(&required(&map, "role")?)?;
    let folder = string(&map, "folder")?;
    ok(admin.grant(&username, &slug, role, folder.as_deref()).await?)
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
