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
use docbridge_protocol::ErrorBody;
use docbridge_registry::{AuthType, DefaultRole, IntegrationPatch, RegistryError};
use secrecy::ExposeSecret;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::ApiError;
use crate::openapi::{SlugParam, UsernameParam};
use crate::route_group::RouteGroup;
use crate::setup::{self, AddIntegration, Admin, IntegrationView, RevokeKeys};
use crate::state::AppState;

/// What the audit trail calls changes made through this API.
const ACTOR: &str = "admin-api";
/// Audit entries one call returns at most.
const MAX_AUDIT_ENTRIES: u64 = 10_000;

/// The routes and their OpenAPI description from one declaration: each handler's
/// `#[utoipa::path]` names its path, method and answer, `routes!` mounts it there, and
/// [`split`] adds what every call shares.
fn declared() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_integrations, add_integration))
        .routes(routes!(show_integration, edit_integration, delete_integration))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(rotate_key))
        .routes(routes!(revoke_keys))
        .routes(routes!(list_users, add_user))
        .routes(routes!(show_user, delete_user))
        .routes(routes!(set_password))
        .routes(routes!(grant, revoke))
        .routes(routes!(audit))
}

/// The routes and their description, every call with the admin token's security and [`Failures`].
fn split() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let group = RouteGroup { tag: "admin-api", id_prefix: "api", security: Some("adminToken") };
    let failures = <Failures as utoipa::IntoResponses>::responses();
    group.split(declared(), |_, operation| operation.responses.responses.extend(failures.clone()))
}

/// The routes, to merge into the main router.
pub fn routes() -> Router<AppState> {
    split().0
}

/// The routes' paths and the schemas they name, for `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    split().1
}

/// The failures every call may answer, each with the contract's error body (C20).
#[derive(utoipa::IntoResponses)]
// Never built: it only describes what `ApiError` answers, for the OpenAPI document.
#[allow(dead_code)]
enum Failures {
    #[response(status = 400, description = "Bad input: the message names the field at fault")]
    BadInput(ErrorBody),
    #[response(status = 403, description = "A missing or wrong admin token, or the API is disabled")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "No such integration or user")]
    NotFound(ErrorBody),
    #[response(status = 409, description = "The name is taken")]
    Conflict(ErrorBody),
    #[response(status = 429, description = "Too many wrong tokens from this client; see Retry-After")]
    RateLimited(ErrorBody),
    #[response(status = 500, description = "Internal error; the x-request-id header names the log entry")]
    Internal(ErrorBody),
}

/// What a delete or a password change answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct Done {
    /// `deleted`, `updated` or `revoked`.
    status: &'static str,
    /// The integration's slug, when the change was to an integration.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    slug: Option<String>,
    /// The user, when the change was to a user or a grant (lower case).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    username: Option<String>,
    /// The integration of a revoked grant.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    integration: Option<String>,
}

/// What `revoke-keys` answers.
#[derive(Debug, Serialize, utoipa::ToSchema)]
struct RevokedKeys {
    slug: String,
    /// How many keys were revoked.
    revoked: u64,
}

/// Proof that the request carried the admin token: handlers without a body take it, and
/// [`AdminJson`] checks it for those with one before reading the body.
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

/// `answer` as `201 Created`.
fn created(answer: Answer) -> Answer {
    answer.map(|mut response| {
        *response.status_mut() = StatusCode::CREATED;
        response
    })
}

fn invalid(field: &'static str, reason: impl Into<String>) -> ApiError {
    ApiError::from(RegistryError::InvalidInput { field, reason: reason.into() })
}

/// A request with the admin token ([`Authorized`], checked before the body is read) and a JSON
/// body read into `T`, whose refusal is the contract's 400 naming the field at fault (`name:
/// invalid type: ...`, `nmae: unknown field`, `body: not JSON: ...`). An empty body is `{}`, so
/// that bodies of optional fields may be left out.
struct AdminJson<T>(Admin, T);

impl<T: DeserializeOwned> FromRequest<AppState> for AdminJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, ApiError> {
        let (mut parts, body) = request.into_parts();
        let Authorized(admin) = Authorized::from_request_parts(&mut parts, state).await?;
        let request = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(request, state).await.map_err(|e| invalid("body", e.body_text()))?;
        let text: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { &bytes };
        let mut deserializer = serde_json::Deserializer::from_slice(text);
        serde_path_to_error::deserialize(&mut deserializer).map(|body| AdminJson(admin, body)).map_err(|e| {
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

impl NewIntegrationRequest {
    /// The registration it asks for and its storage kind, each field checked by name; generated
    /// webhook secrets go to `secrets`, to be shown once.
    fn into_request(self, secrets: &mut BTreeMap<String, String>) -> Result<(AddIntegration, String), ApiError> {
        let name = required(self.name, "name")?;
        let auth = required(self.auth, "auth")?;
        let auth =
            AuthType::parse(&auth).ok_or_else(|| invalid("auth", format!("{auth:?} is not one of apikey, oauth2")))?;
        let root = required(self.root, "root")?;
        let storage_kind = self.storage_kind.unwrap_or_else(|| "fs".to_owned());
        if storage_kind != "memory" && !crate::config::STORAGE_KINDS.contains(&storage_kind.as_str()) {
            return Err(invalid(
                "storage_kind",
                format!("{storage_kind:?} is not one of {}, memory", crate::config::STORAGE_KINDS.join(", ")),
            ));
        }
        let default_role = self.default_role.map(|r| setup::parse_default_role(&r)).transpose()?;
        let request = AddIntegration {
            name,
            slug: self.slug,
            auth,
            root,
            redirect_uris: self.redirect_uris.unwrap_or_default(),
            request_params: self.request_params.unwrap_or_default(),
            default_role: default_role.unwrap_or(DefaultRole::Editor),
            custom_actions: actions(self.custom_actions, "custom_actions", secrets)?.unwrap_or_default(),
        };
        Ok((request, storage_kind))
    }
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

/// `POST .../revoke-keys`: `{"keep_newest": true}` or `{"hint": "abc123"}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RevokeKeysRequest {
    #[schema(nullable = false)]
    keep_newest: Option<bool>,
    #[schema(nullable = false)]
    hint: Option<String>,
}

/// `POST /admin/api/users`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewUserRequest {
    #[schema(required = true, nullable = false)]
    username: Option<String>,
    #[schema(required = true, nullable = false)]
    password: Option<String>,
}

/// `PUT /admin/api/users/{username}/password`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    #[schema(required = true, nullable = false)]
    password: Option<String>,
}

/// `PUT /admin/api/users/{username}/grants/{slug}`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct GrantRequest {
    /// `reader` or `editor`.
    #[schema(required = true, schema_with = crate::openapi::role)]
    role: Option<String>,
    /// A folder's item ID, confining the user to it.
    #[schema(nullable = false)]
    folder: Option<String>,
}

/// Every integration
#[utoipa::path(get, path = "/admin/api/integrations",
    responses((status = 200, description = "The integrations", body = [IntegrationView])))]
async fn list_integrations(Authorized(admin): Authorized) -> Answer {
    ok(admin.list().await?)
}

/// One integration
#[utoipa::path(get, path = "/admin/api/integrations/{slug}", params(SlugParam),
    responses((status = 200, description = "The integration", body = IntegrationView)))]
async fn show_integration(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    ok(admin.show(&slug).await?)
}

/// Registers an integration; the answer holds its secret, shown this once
#[utoipa::path(post, path = "/admin/api/integrations", request_body = NewIntegrationRequest,
    responses((status = 201, description = "Workfront's form values", body = crate::setup::IntegrationCredentials)))]
async fn add_integration(AdminJson(admin, body): AdminJson<NewIntegrationRequest>) -> Answer {
    let mut secrets = BTreeMap::new();
    let (request, storage_kind) = body.into_request(&mut secrets)?;
    // Before the folder is made: a refused root must not leave one behind (in /etc, say).
    let slug = request.slug.clone().unwrap_or_else(|| setup::slug_from_name(&request.name));
    let root = request.root.clone();
    admin.check_root(&slug, &storage_kind, &root).await?;
    if storage_kind == "fs" {
        crate::data_dir::create_private_dir(root.as_ref())
            .map_err(|e| invalid("root", format!("cannot create {root}: {e}")))?;
    }
    let (_, credentials) = admin.add(request, &storage_kind).await?;
    created(with_secrets(credentials, secrets))
}

/// Changes the fields sent, leaving the others
#[utoipa::path(patch, path = "/admin/api/integrations/{slug}", params(SlugParam), request_body = EditIntegrationRequest,
    responses((status = 200, description = "The integration", body = IntegrationView)))]
async fn edit_integration(
    Path(slug): Path<String>,
    AdminJson(admin, body): AdminJson<EditIntegrationRequest>,
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

/// Enables the integration
#[utoipa::path(post, path = "/admin/api/integrations/{slug}/enable", params(SlugParam),
    responses((status = 200, description = "The integration", body = IntegrationView)))]
async fn enable(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    ok(admin.set_enabled(&slug, true).await?)
}

/// Disables the integration: its calls answer 403
#[utoipa::path(post, path = "/admin/api/integrations/{slug}/disable", params(SlugParam),
    responses((status = 200, description = "The integration", body = IntegrationView)))]
async fn disable(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    ok(admin.set_enabled(&slug, false).await?)
}

/// Deletes the integration (its documents stay)
#[utoipa::path(delete, path = "/admin/api/integrations/{slug}", params(SlugParam),
    responses((status = 200, description = "Deleted", body = Done)))]
async fn delete_integration(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    admin.delete(&slug).await?;
    ok(Done { status: "deleted", slug: Some(slug), username: None, integration: None })
}

/// Issues a new ApiKey (old ones stay valid until revoked) or client secret
#[utoipa::path(post, path = "/admin/api/integrations/{slug}/rotate-key", params(SlugParam),
    responses((status = 200, description = "The new secret, shown once", body = crate::setup::RotatedSecret)))]
async fn rotate_key(Authorized(admin): Authorized, Path(slug): Path<String>) -> Answer {
    ok(admin.rotate_key(&slug).await?)
}

/// Revokes every ApiKey but the newest, or those with a hint
#[utoipa::path(post, path = "/admin/api/integrations/{slug}/revoke-keys", params(SlugParam),
    request_body = RevokeKeysRequest,
    responses((status = 200, description = "How many were revoked", body = RevokedKeys)))]
async fn revoke_keys(Path(slug): Path<String>, AdminJson(admin, body): AdminJson<RevokeKeysRequest>) -> Answer {
    let which = match (body.keep_newest, body.hint) {
        (Some(true), None) => RevokeKeys::AllButNewest,
        (None | Some(false), Some(hint)) => RevokeKeys::Hint(hint),
        _ => return Err(invalid("keep_newest", "send either {\"keep_newest\": true} or {\"hint\": \"...\"}")),
    };
    let revoked = admin.revoke_keys(&slug, &which).await?;
    ok(RevokedKeys { slug, revoked })
}

/// Every user with their roles
#[utoipa::path(get, path = "/admin/api/users",
    responses((status = 200, description = "The users", body = [crate::setup::UserView])))]
async fn list_users(Authorized(admin): Authorized) -> Answer {
    ok(admin.users().await?)
}

/// One user with their roles
#[utoipa::path(get, path = "/admin/api/users/{username}", params(UsernameParam),
    responses((status = 200, description = "The user", body = crate::setup::UserView)))]
async fn show_user(Authorized(admin): Authorized, Path(username): Path<String>) -> Answer {
    ok(admin.user(&username).await?)
}

/// Registers a user with a password
#[utoipa::path(post, path = "/admin/api/users", request_body = NewUserRequest,
    responses((status = 201, description = "The user", body = crate::setup::UserView)))]
async fn add_user(AdminJson(admin, body): AdminJson<NewUserRequest>) -> Answer {
    let username = required(body.username, "username")?;
    let password = required(body.password, "password")?;
    created(ok(admin.add_user(&username, &password).await?))
}

/// Sets a user's password
#[utoipa::path(put, path = "/admin/api/users/{username}/password", params(UsernameParam),
    request_body = PasswordRequest, responses((status = 200, description = "Updated", body = Done)))]
async fn set_password(Path(username): Path<String>, AdminJson(admin, body): AdminJson<PasswordRequest>) -> Answer {
    admin.set_password(&username, &required(body.password, "password")?).await?;
    ok(Done { status: "updated", slug: None, username: Some(username.trim().to_lowercase()), integration: None })
}

/// Deletes a user
#[utoipa::path(delete, path = "/admin/api/users/{username}", params(UsernameParam),
    responses((status = 200, description = "Deleted", body = Done)))]
async fn delete_user(Authorized(admin): Authorized, Path(username): Path<String>) -> Answer {
    admin.delete_user(&username).await?;
    ok(Done { status: "deleted", slug: None, username: Some(username.trim().to_lowercase()), integration: None })
}

/// Gives a user a role in an integration, optionally confined to a folder
#[utoipa::path(put, path = "/admin/api/users/{username}/grants/{slug}", params(UsernameParam, SlugParam),
    request_body = GrantRequest, responses((status = 200, description = "The grant", body = crate::setup::GrantView)))]
async fn grant(
    Path((username, slug)): Path<(String, String)>,
    AdminJson(admin, body): AdminJson<GrantRequest>,
) -> Answer {
    let role = setup::parse_role(&required(body.role, "role")?)?;
    ok(admin.grant(&username, &slug, role, body.folder.as_deref()).await?)
}

/// Takes the role away: the user falls back to the default role
#[utoipa::path(delete, path = "/admin/api/users/{username}/grants/{slug}", params(UsernameParam, SlugParam),
    responses((status = 200, description = "Revoked", body = Done)))]
async fn revoke(Authorized(admin): Authorized, Path((username, slug)): Path<(String, String)>) -> Answer {
    admin.revoke(&username, &slug).await?;
    ok(Done { status: "revoked", slug: None, username: Some(username.trim().to_lowercase()), integration: Some(slug) })
}

/// Kept as text and checked by the handler, so that a bad value is a 400 naming it.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only this integration's entries
    integration: Option<String>,
    /// Only entries from this RFC 3339 time on
    since: Option<String>,
    /// At most this many entries, 1 to 10000 (default 1000)
    #[param(value_type = Option<u64>)]
    limit: Option<String>,
}

/// The audit trail, oldest first
#[utoipa::path(get, path = "/admin/api/audit", params(AuditQuery),
    responses((status = 200, description = "The entries", body = [docbridge_registry::AuditEntry])))]
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
