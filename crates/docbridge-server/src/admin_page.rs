//! The admin web page under `/admin` (C22, C25): integrations (add, edit, enable, disable,
//! delete, rotate a secret, the values for Workfront's form, a connection test), users and their
//! roles, and the audit trail. Server-rendered HTML; the only script is the copy buttons'.
//!
//! **Login.** The password is the admin token (`admin.token`, the one the admin JSON API takes):
//! one secret for the administrator, nothing more to provision. A good login sets the session
//! cookie `docbridge_admin` (`HttpOnly; SameSite=Strict; Path=/admin`, `Secure` under an https
//! public URL), signed with HMAC-SHA256 and expiring after [`SESSION_TTL`]. The signing key is
//! a random key shared through the registry (so every process behind a load balancer accepts
//! the cookie) combined with a hash of the admin token, so changing the token ends every session.
//! The session is also a row in the registry (the SHA-256 of its random ID, and its expiry),
//! read at every request: logging out deletes the row, which ends the session in every process
//! and for every copy of the cookie. Failed logins count against the client's address
//! (`limits::client_address`, through the trusted proxies), with the admin API's failures and
//! the allowance of provider calls.
//!
//! **CSRF.** Every form carries a token derived from the session (`docbridge_auth`'s
//! `SessionSigner`); a POST without the right one is refused. The login form itself has one, from
//! an anonymous session started when the form is shown.

//!
//! **Handlers** take an [`Admin`] (a logged-in session) or an [`AdminForm`] (a logged-in
//! session's form with its CSRF token) and answer `Result<Response, PageError>`: a registry error
//! caused by the administrator's input becomes the page again with the message, anything else
//! the error page, so they read as the happy path with `?`.

mod browse;
mod views;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Router};
use docbridge_auth::{LoginSession, SessionSigner, hash_secret, issue_secret, secrets_equal};
use docbridge_client::validate::{Group, Report, ValidateOptions};
use docbridge_client::{Auth, RemoteConfig, RequestParam};
use docbridge_registry::{
    AuditEntry, AuthType, DefaultRole, Integration, IntegrationPatch, NewOAuthToken, OAuthRevocation, OAuthTokenKind,
    RegistryError,
};
use secrecy::ExposeSecret;
use serde::Deserialize;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::html::{self, Cookie, Csp, Fragment};
use crate::limits::{ClientAddress, FailureKey};
use crate::openapi::SlugParam;
use crate::route_group::RouteGroup;
use crate::setup::{self, AddIntegration, RevokeKeys};
use crate::state::AppState;
use views::{IntegrationForm, KeyInfo, Nav, Notice};

/// The session cookie.
const COOKIE: Cookie = Cookie { name: "docbridge_admin", path: "/admin", same_site: "Strict" };
/// How long a login lasts.
const SESSION_TTL: chrono::Duration = chrono::Duration::hours(8);
/// How long the login form stays usable once shown.
const LOGIN_FORM_TTL: chrono::Duration = chrono::Duration::minutes(30);
/// The registry setting with the random half of the session signing key.
const SESSION_KEY_SETTING: &str = "admin_session_key";
/// Who the audit trail names for changes made here.
const ACTOR: &str = "admin-page";
/// How many audit entries the audit page shows.
const AUDIT_PAGE_ENTRIES: usize = 500;
/// The registry lists the trail oldest first; the page reads this many and shows the newest.
const AUDIT_READ_LIMIT: u64 = 100_000;
/// How long one request of the connection test may take.
const TEST_REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The temporary credential of a connection test expires by itself even if revoking it fails.
const TEST_TOKEN_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// What the page keeps per router: the random half of the session key, read from the registry once.
#[derive(Default)]
struct Runtime {
    session_key: tokio::sync::OnceCell<String>,
}

/// The page's routes behind the login and their OpenAPI description, declared together: each
/// handler's `#[utoipa::path]` names its path and method, `routes!` mounts it there, and
/// [`split`] adds what they share.
fn declared() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(home))
        .routes(routes!(logout))
        .routes(routes!(new_integration_page))
        .routes(routes!(add_integration))
        .routes(routes!(integration_page, edit_integration))
        .routes(routes!(enable))
        .routes(routes!(disable))
        .routes(routes!(delete))
        .routes(routes!(rotate))
        .routes(routes!(revoke_old_keys))
        .routes(routes!(connection_test))
        .routes(routes!(browse::browse))
        .routes(routes!(browse::browse_thumbnail))
        .routes(routes!(browse::browse_upload))
        .routes(routes!(browse::browse_folder))
        .routes(routes!(browse::browse_delete))
        .routes(routes!(users_page, add_user))
        .routes(routes!(delete_user))
        .routes(routes!(set_grant))
        .routes(routes!(revoke_grant))
        .routes(routes!(audit_page))
}

/// The routes open to anyone: the login form and the page's style sheet and script.
fn declared_public() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(login_page, login)).routes(routes!(static_file))
}

/// Every route and its description. Behind the login, each needs the session; a page that names
/// no answers gives [`PageAnswers`], a form's action that names none [`ActionAnswers`], and a
/// form that names no body posts the [`CsrfForm`] (the [`AdminForm`] extractor checks it).
fn split() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa::openapi::path::HttpMethod;
    use utoipa::openapi::request_body::RequestBodyBuilder;
    use utoipa::openapi::{ContentBuilder, Ref, Required};
    use utoipa::{IntoResponses, PartialSchema, ToSchema};

    let form = RequestBodyBuilder::new()
        .description(Some("The form's fields"))
        .content(
            "application/x-www-form-urlencoded",
            ContentBuilder::new().schema(Some(Ref::from_schema_name(CsrfForm::name()))).build(),
        )
        .required(Some(Required::True))
        .build();
    let group = RouteGroup { tag: "admin-page", id_prefix: "admin", security: Some("adminSession") };
    let (router, mut api) = group.split(declared(), |method, operation| {
        if operation.responses.responses.is_empty() {
            operation.responses.responses =
                if method == HttpMethod::Get { PageAnswers::responses() } else { ActionAnswers::responses() };
        }
        if method == HttpMethod::Post && operation.request_body.is_none() {
            operation.request_body = Some(form.clone().into());
        }
    });
    api.components.get_or_insert_default().schemas.insert(CsrfForm::name().into_owned(), CsrfForm::schema());
    let public = RouteGroup { security: None, ..group };
    let (public_router, public_api) = public.split(declared_public(), |_, _| ());
    api.merge(public_api);
    (router.merge(public_router), api)
}

/// The page's routes, merged into [`crate::router`].
pub fn routes() -> Router<AppState> {
    split().0.layer(Extension(Arc::new(Runtime::default())))
}

/// The routes' paths, for `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    split().1
}

/// What a page answers (for the OpenAPI document; never built).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum PageAnswers {
    #[response(status = 200, description = "The page", content_type = "text/html")]
    Page(String),
    #[response(status = 303, description = "To the login page without a session")]
    ToLogin,
}

/// What a form's action answers (for the OpenAPI document; never built).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum ActionAnswers {
    #[response(status = 200, description = "The result page", content_type = "text/html")]
    Page(String),
    #[response(status = 303, description = "Back to the page it came from")]
    Back,
    #[response(status = 403, description = "A missing or wrong CSRF token", content_type = "text/html")]
    Stale(String),
}

/// Every form's field; the others are the form's own (for the OpenAPI document).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct CsrfForm {
    /// The page's CSRF token.
    csrf: String,
}

/// The login form (for the OpenAPI document).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct LoginForm {
    /// The admin token (`admin.token`).
    token: String,
    /// The form's CSRF token.
    csrf: String,
}

/// The configured admin token (`admin.token`, shared with the admin API), if any.
fn admin_token(state: &AppState) -> Option<String> {
    Some(state.admin_token().expose_secret().to_owned()).filter(|t| !t.is_empty())
}

/// The administration layer the CLI and the admin API use too, recording changes in the audit
/// trail under [`ACTOR`].
fn administration(state: &AppState) -> setup::Admin {
    setup::Admin::new(state.registry.clone(), state.settings.public_url.clone(), ACTOR).with_roots(state.roots())
}

// ---- responses ----

/// A page of the admin shell, with the admin page's headers.
fn page(status: StatusCode, layout: views::Layout<'_>) -> Response {
    html::page(status, &layout, Csp::Admin)
}

/// A logged-in page: the shell with the navigation and the log-out button.
fn admin_page(
    status: StatusCode,
    admin: &Admin,
    title: &str,
    nav: Nav,
    notice: Option<&Notice>,
    body: Fragment,
) -> Response {
    page(status, views::layout(title, nav, Some(&admin.csrf), notice, body))
}

type Answer = Result<Response, PageError>;

/// Why a page could not be shown as asked; it becomes a response of its own.
#[derive(Debug)]
enum PageError {
    /// No (valid) session: to the login page.
    LoggedOut,
    /// A form without the session's CSRF token.
    Stale,
    /// The administrator's input was refused: the page it came from shows this again, or, where
    /// there is none, the message alone.
    Input(StatusCode, String),
    /// Anything else: logged, and an error page that says to read the log.
    Internal(String),
}

impl From<RegistryError> for PageError {
    fn from(error: RegistryError) -> Self {
        match error {
            RegistryError::InvalidInput { .. } => PageError::Input(StatusCode::BAD_REQUEST, error.to_string()),
            RegistryError::Conflict(message) => PageError::Input(StatusCode::CONFLICT, message),
            RegistryError::NotFound(what) => PageError::Input(StatusCode::NOT_FOUND, format!("{what} not found")),
            other => PageError::Internal(other.to_string()),
        }
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let (status, title, notice, body) = match self {
            PageError::LoggedOut => return html::redirect("/admin/login"),
            PageError::Stale => (
                StatusCode::FORBIDDEN,
                "Refused",
                Notice::error(
                    "This form is stale or did not come from this page (CSRF check failed). Reload the page and try again.",
                ),
                views::back_link(),
            ),
            PageError::Input(status, message) => (status, "Refused", Notice::error(message), views::back_link()),
            PageError::Internal(detail) => {
                tracing::error!(error = %detail, "admin page");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Error",
                    Notice::error("Internal error; the log has the details."),
                    Fragment::default(),
                )
            }
        };
        page(status, views::layout(title, Nav::None, None, Some(&notice), body))
    }
}

/// Runs a change whose refusal shows `again` with the message (the page the form was on).
async fn or_again<F>(outcome: Answer, again: impl FnOnce(StatusCode, Notice) -> F) -> Answer
where
    F: Future<Output = Answer>,
{
    match outcome {
        Err(PageError::Input(status, message)) => again(status, Notice::error(message)).await,
        other => other,
    }
}

/// Messages shown after a redirect, chosen by a fixed code so that no text travels in the URL.
fn notice_for(code: Option<&str>) -> Option<Notice> {
    let text = match code? {
        "saved" => "Saved.",
        "enabled" => "Enabled: Workfront's calls are answered again.",
        "disabled" => "Disabled: Workfront's calls now answer 403.",
        "deleted" => "The integration was deleted.",
        "revoked" => "Every key but the newest was revoked.",
        "user-added" => "User added.",
        "user-deleted" => "User deleted.",
        "grant-saved" => "Role saved.",
        "grant-revoked" => "Role revoked: the user falls back to the integration's default role.",
        "logged-out" => "Logged out.",
        "uploaded" => "Uploaded.",
        "folder-created" => "Folder created.",
        "item-deleted" => "Deleted: in the trash, as Workfront's delete does.",
        _ => return None,
    };
    Some(Notice::info(text))
}

#[derive(Debug, Default, Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

// ---- session ----

/// `Set-Cookie` for the session, scoped to `/admin` under the public URL's path.
fn set_cookie(response: &mut Response, state: &AppState, value: &str, max_age: i64) {
    COOKIE.set(response, &state.settings.public_url, value, max_age);
}

fn runtime(parts: &Parts) -> Result<Arc<Runtime>, PageError> {
    parts
        .extensions
        .get::<Arc<Runtime>>()
        .cloned()
        .ok_or_else(|| PageError::Internal("admin page runtime missing".into()))
}

async fn signer(state: &AppState, runtime: &Runtime, token: &str) -> Result<SessionSigner, PageError> {
    let key = runtime
        .session_key
        .get_or_try_init(|| state.registry.setting_or_init(SESSION_KEY_SETTING, || issue_secret().plain))
        .await?;
    // Bound to the token: a new admin token ends every session signed under the old one.
    Ok(SessionSigner::new(format!("{key}:{}", hash_secret(token)).as_bytes()))
}

/// A logged-in administrator: the request's session cookie is signed by us, not expired, and
/// still in the registry (logging out deletes it there, in every process at once). Read from the
/// database at every request, never cached: a copied cookie must stop working the moment its
/// session ends. Without one, the request goes to the login page.
struct Admin {
    csrf: String,
    /// The session's ID (the registry keeps its hash), for logging out.
    session_id: String,
    signer: SessionSigner,
    session: LoginSession,
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        let token = admin_token(state).ok_or(PageError::LoggedOut)?;
        let runtime = runtime(parts)?;
        let signer = signer(state, &runtime, &token).await?;
        let session = COOKIE
            .read(&parts.headers)
            .and_then(|c| signer.open(c, chrono::Utc::now()))
            .filter(|s| s.username.is_some())
            .ok_or(PageError::LoggedOut)?;
        if !state.registry.admin_session_active(&hash_secret(&session.id)).await? {
            return Err(PageError::LoggedOut);
        }
        Ok(Admin { csrf: signer.csrf_token(&session), session_id: session.id.clone(), signer, session })
    }
}

/// A form posted by a logged-in administrator with the session's CSRF token.
struct AdminForm(Admin, Form);

impl FromRequest<AppState> for AdminForm {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let admin = Admin::from_request_parts(&mut parts, state).await?;
        let body = Bytes::from_request(Request::from_parts(parts, body), state)
            .await
            .map_err(|e| PageError::Input(StatusCode::BAD_REQUEST, e.body_text()))?;
        let form = Form::parse(&body);
        if !admin.signer.check_csrf(&admin.session, form.get("csrf")) {
            return Err(PageError::Stale);
        }
        Ok(AdminForm(admin, form))
    }
}

/// A form posted from one integration's pages (`/admin/integrations/{slug}/...`): the
/// logged-in administrator's form with the slug it is about.
struct SlugForm {
    state: AppState,
    slug: String,
    admin: Admin,
    form: Form,
}

impl FromRequest<AppState> for SlugForm {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let Path(slug) = Path::<String>::from_request_parts(&mut parts, state)
            .await
            .map_err(|e| PageError::Input(StatusCode::BAD_REQUEST, e.body_text()))?;
        let AdminForm(admin, form) = AdminForm::from_request(Request::from_parts(parts, body), state).await?;
        Ok(SlugForm { state: state.clone(), slug, admin, form })
    }
}

impl SlugForm {
    /// Makes a change from the integration's page: a refusal shows that page again with the message.
    async fn on_integration(self, change: impl AsyncFnOnce(&SlugForm) -> Answer) -> Answer {
        let outcome = change(&self).await;
        or_again(outcome, |status, notice| show_integration(&self.state, &self.admin, &self.slug, status, Some(notice)))
            .await
    }
}

/// The integration `slug` names; a refusal (404) when there is none.
async fn integration_named(state: &AppState, slug: &str) -> Result<Integration, PageError> {
    state
        .registry
        .integration(slug)
        .await?
        .ok_or_else(|| PageError::Input(StatusCode::NOT_FOUND, format!("No integration {slug:?}.")))
}

/// An `application/x-www-form-urlencoded` body.
struct Form(Vec<(String, String)>);

impl Form {
    fn parse(body: &[u8]) -> Form {
        Form(serde_urlencoded::from_bytes(body).unwrap_or_default())
    }

    fn get(&self, name: &str) -> &str {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).unwrap_or("")
    }

    fn trimmed(&self, name: &str) -> &str {
        self.get(name).trim()
    }

    /// A textarea's non-empty lines.
    fn lines(&self, name: &str) -> Vec<String> {
        self.get(name).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    }
}

/// Writes the audit line of a connection test (changes go through `setup::Admin`, which writes its own).
async fn record(state: &AppState, integration: &str, operation: &str, result: &str, detail: Option<String>) {
    let entry = AuditEntry {
        at: chrono::Utc::now(),
        actor: ACTOR.to_owned(),
        integration: integration.to_owned(),
        operation: operation.to_owned(),
        item_id: None,
        result: result.to_owned(),
        detail,
    };
    if let Err(e) = state.registry.record_audit(&entry).await {
        tracing::error!(error = %e, "could not write the audit trail");
    }
}

// ---- login ----

/// The administrator login form
#[utoipa::path(get, path = "/admin/login",
    responses((status = 200, description = "The form", content_type = "text/html", body = String)))]
async fn login_page(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    admin: Result<Admin, PageError>,
    Query(query): Query<NoticeQuery>,
) -> Answer {
    let Some(secret) = admin_token(&state) else {
        return Ok(page(StatusCode::OK, views::layout("Log in", Nav::None, None, None, views::login("", false))));
    };
    if admin.is_ok() {
        return Ok(html::redirect("/admin"));
    }
    let signer = signer(&state, &runtime, &secret).await?;
    Ok(login_form(&state, &signer, StatusCode::OK, notice_for(query.notice.as_deref())))
}

/// The login form with a fresh anonymous session for its CSRF token.
fn login_form(state: &AppState, signer: &SessionSigner, status: StatusCode, notice: Option<Notice>) -> Response {
    let session: LoginSession = signer.start(LOGIN_FORM_TTL, chrono::Utc::now());
    let body = views::login(&signer.csrf_token(&session), true);
    let mut response = page(status, views::layout("Log in", Nav::None, None, notice.as_ref(), body));
    set_cookie(&mut response, state, &signer.seal(&session), LOGIN_FORM_TTL.num_seconds());
    response
}

/// Logs in with the admin token; sets the session cookie
#[utoipa::path(post, path = "/admin/login",
    request_body(
        content = LoginForm,
        content_type = "application/x-www-form-urlencoded",
        description = "The form's fields"
    ),
    responses(
        (status = 303, description = "To /admin, with the session cookie"),
        (status = 403, description = "Wrong token", content_type = "text/html", body = String),
        (status = 429, description = "Too many failed logins", content_type = "text/html", body = String)
    ))]
async fn login(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Answer {
    let Some(secret) = admin_token(&state) else { return Ok(html::redirect("/admin/login")) };
    let signer = signer(&state, &runtime, &secret).await?;
    let form = Form::parse(&body);
    let pending = COOKIE.read(&headers).and_then(|c| signer.open(c, chrono::Utc::now()));
    if !pending.as_ref().is_some_and(|session| signer.check_csrf(session, form.get("csrf"))) {
        let notice = Notice::error("The login form expired; please log in again.");
        return Ok(login_form(&state, &signer, StatusCode::FORBIDDEN, Some(notice)));
    }
    let key = address.map(|client| FailureKey::Admin { client });
    let allowance = state.limits.auth_allowance();
    if let Some(key) = &key
        && let Err(e) = state.limits.check(key, allowance)
    {
        let mut response = login_form(&state, &signer, StatusCode::TOO_MANY_REQUESTS, Some(Notice::error(e.message)));
        if let Some(wait) = state.limits.retry_after(key, allowance) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(wait.as_secs().max(1)));
        }
        return Ok(response);
    }
    if !secrets_equal(form.get("token"), &secret) {
        match &key {
            Some(key) => state.limits.record_failure(key, allowance, "wrong admin token (login page)"),
            None => tracing::warn!("failed admin login"),
        }
        return Ok(login_form(&state, &signer, StatusCode::FORBIDDEN, Some(Notice::error("Wrong admin token."))));
    }
    // A new session ID on login: a session planted before it is worth nothing.
    let now = chrono::Utc::now();
    let session = signer.login("admin", SESSION_TTL, now);
    // The session lives in the registry, so that logging out ends it for every process and for
    // every copy of the cookie; the cookie's signature alone would stay good until it expires.
    state.registry.create_admin_session(&hash_secret(&session.id), now + SESSION_TTL).await?;
    let mut response = html::redirect("/admin");
    set_cookie(&mut response, &state, &signer.seal(&session), SESSION_TTL.num_seconds());
    Ok(response)
}

/// Ends the session
#[utoipa::path(post, path = "/admin/logout")]
async fn logout(State(state): State<AppState>, AdminForm(admin, _): AdminForm) -> Answer {
    state.registry.delete_admin_session(&hash_secret(&admin.session_id)).await?;
    let mut response = html::redirect("/admin/login?notice=logged-out");
    set_cookie(&mut response, &state, "", 0);
    Ok(response)
}

// ---- integrations ----

/// Integrations and their state
#[utoipa::path(get, path = "/admin")]
async fn home(State(state): State<AppState>, admin: Admin, Query(query): Query<NoticeQuery>) -> Answer {
    let rows: Vec<(Integration, String)> = state
        .registry
        .integrations()
        .await?
        .into_iter()
        .map(|i| {
            let url = state.base_api_url(&i.slug);
            (i, url)
        })
        .collect();
    let notice = notice_for(query.notice.as_deref());
    let body = views::home(&rows, &admin.csrf);
    Ok(admin_page(StatusCode::OK, &admin, "Integrations", Nav::Integrations, notice.as_ref(), body))
}

/// Where a new integration's library goes when the form leaves it empty: beside the default
/// integration's, as `docbridge integration add` does; `None` when there is no default to follow.
async fn default_library(state: &AppState, slug: &str) -> Result<Option<(String, String)>, RegistryError> {
    let default = state.registry.integration("default").await?;
    Ok(default.map(|d| match d.storage_kind.as_str() {
        // Beside the default library, never inside it (nested, the default integration's
        // callers would see this one's documents): `<data-dir>/libraries/<slug>` by default,
        // where `docbridge integration add` puts them too.
        "fs" => {
            let default_root = std::path::Path::new(&d.storage_root);
            let beside = default_root.parent().unwrap_or(default_root).join(crate::roots::LIBRARIES_DIR);
            ("fs".to_owned(), beside.join(slug).display().to_string())
        }
        kind => (kind.to_owned(), slug.to_owned()),
    }))
}

/// The form to add an integration
#[utoipa::path(get, path = "/admin/integrations/new", operation_id = "adminNewIntegration")]
async fn new_integration_page(State(state): State<AppState>, admin: Admin) -> Answer {
    let hint = match default_library(&state, "SLUG").await? {
        Some((_, root)) => root,
        None => "required".to_owned(),
    };
    let form = IntegrationForm { auth: "apikey".into(), default_role: "editor".into(), ..Default::default() };
    let body = views::new_integration(&admin.csrf, &form, &hint);
    Ok(admin_page(StatusCode::OK, &admin, "Add an integration", Nav::Integrations, None, body))
}

/// Adds an integration and shows its secret once
#[utoipa::path(post, path = "/admin/integrations")]
async fn add_integration(State(state): State<AppState>, AdminForm(admin, form): AdminForm) -> Answer {
    let values = IntegrationForm {
        name: form.trimmed("name").to_owned(),
        slug: form.trimmed("slug").to_owned(),
        auth: form.trimmed("auth").to_owned(),
        root: form.trimmed("root").to_owned(),
        storage: form.trimmed("storage").to_owned(),
        redirect_uris: form.get("redirect_uris").to_owned(),
        request_params: form.get("request_params").to_owned(),
        default_role: form.trimmed("default_role").to_owned(),
    };
    let outcome = add_integration_from(&state, &admin, &form, &values).await;
    or_again(outcome, |status, notice| async move {
        let body = views::new_integration(&admin.csrf, &values, "beside the default integration's folder");
        Ok(admin_page(status, &admin, "Add an integration", Nav::Integrations, Some(&notice), body))
    })
    .await
}

/// The add form's work; a refusal is shown with the form again by [`add_integration`].
async fn add_integration_from(state: &AppState, admin: &Admin, form: &Form, values: &IntegrationForm) -> Answer {
    let refused = |message: &str| PageError::Input(StatusCode::BAD_REQUEST, message.to_owned());
    let auth = AuthType::parse(&values.auth).ok_or_else(|| refused("auth: choose ApiKey or OAuth2"))?;
    let default_role = DefaultRole::parse(&values.default_role)
        .ok_or_else(|| refused("default_role: choose editor, reader or deny"))?;
    let slug = if values.slug.is_empty() { setup::slug_from_name(&values.name) } else { values.slug.clone() };
    if !values.storage.is_empty() && !crate::config::STORAGE_KINDS.contains(&values.storage.as_str()) {
        return Err(refused(&format!("storage: {:?} is not a storage kind", values.storage)));
    }
    let default = default_library(state, &slug).await?;
    let kind = match (&default, values.storage.as_str()) {
        (_, chosen) if !chosen.is_empty() => chosen.to_owned(),
        (Some((kind, _)), _) => kind.clone(),
        (None, _) => "fs".to_owned(),
    };
    let (kind, root) = match (values.root.is_empty(), default) {
        (false, _) => (kind, values.root.clone()),
        (true, Some((default_kind, root))) if default_kind == kind => (kind, root),
        // A store's folder or prefix is named after the slug, as the CLI does.
        (true, _) if kind != "fs" => (kind, slug.clone()),
        (true, _) => return Err(refused("root: the documents folder is required")),
    };
    docbridge_registry::validate_slug(&slug)?;
    // Before the folder is made: a refused root must not leave one behind.
    administration(state).check_root(&slug, &kind, &root).await?;
    if kind == "fs" {
        crate::data_dir::create_private_dir(root.as_ref())
            .map_err(|e| refused(&format!("root: cannot create {root}: {e}")))?;
    }
    let request = AddIntegration {
        name: values.name.clone(),
        slug: Some(slug),
        auth,
        root,
        redirect_uris: form.lines("redirect_uris"),
        request_params: form.lines("request_params"),
        default_role,
        custom_actions: Vec::new(),
    };
    let (integration, credentials) = administration(state).add(request, &kind).await?;
    let what = if auth == AuthType::ApiKey { "ApiKey" } else { "Client Secret" };
    let notice = Notice::info("Integration added.");
    let body = views::issued(&credentials, what);
    Ok(admin_page(StatusCode::OK, admin, &integration.name, Nav::Integrations, Some(&notice), body))
}

/// The integration page, with a notice and a status (an edit that failed shows it again).
async fn show_integration(
    state: &AppState,
    admin: &Admin,
    slug: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> Answer {
    let Some(integration) = state.registry.integration(slug).await? else {
        let notice = Notice::error(format!("No integration {slug:?}."));
        return Ok(admin_page(
            StatusCode::NOT_FOUND,
            admin,
            "Not found",
            Nav::Integrations,
            Some(&notice),
            Fragment::default(),
        ));
    };
    let keys: Vec<KeyInfo> = state
        .registry
        .active_api_keys(integration.id)
        .await?
        .into_iter()
        .map(|k| KeyInfo { hint: k.hint, created: k.created_at.format("%Y-%m-%d %H:%M UTC").to_string() })
        .collect();
    let credentials = setup::credentials(&state.settings.public_url, &integration, None, None);
    let body = views::integration(&integration, &credentials, &keys, &admin.csrf);
    Ok(admin_page(status, admin, &integration.name, Nav::Integrations, notice.as_ref(), body))
}

/// An integration: Workfront's form values, edit form, key rotation, connection test
#[utoipa::path(get, path = "/admin/integrations/{slug}", operation_id = "adminIntegration", params(SlugParam))]
async fn integration_page(
    State(state): State<AppState>,
    admin: Admin,
    Path(slug): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Answer {
    show_integration(&state, &admin, &slug, StatusCode::OK, notice_for(query.notice.as_deref())).await
}

/// Saves the edit form
#[utoipa::path(post, path = "/admin/integrations/{slug}", params(SlugParam))]
async fn edit_integration(change: SlugForm) -> Answer {
    change
        .on_integration(async |SlugForm { state, slug, form, .. }| {
            let default_role = DefaultRole::parse(form.trimmed("default_role")).ok_or_else(|| {
                PageError::Input(StatusCode::BAD_REQUEST, "default_role: choose editor, reader or deny".into())
            })?;
            let patch = IntegrationPatch {
                name: Some(form.trimmed("name").to_owned()),
                redirect_uris: Some(form.lines("redirect_uris")),
                request_params: Some(form.lines("request_params")),
                storage_root: Some(form.trimmed("root").to_owned()),
                default_role: Some(default_role),
                ..IntegrationPatch::default()
            };
            administration(state).edit(slug, &patch).await?;
            Ok(html::redirect(&format!("/admin/integrations/{slug}?notice=saved")))
        })
        .await
}

/// Where a button asks to go back to: only pages of this admin page, never another site.
fn back_to(form: &Form, fallback: String) -> String {
    let back = form.get("back");
    if back == "/admin" || (back.starts_with("/admin/") && !back.contains("//") && !back.contains('\\')) {
        back.to_owned()
    } else {
        fallback
    }
}

async fn set_enabled(change: SlugForm, enabled: bool) -> Answer {
    change
        .on_integration(async |SlugForm { state, slug, form, .. }| {
            administration(state).set_enabled(slug, enabled).await?;
            let back = back_to(form, format!("/admin/integrations/{slug}"));
            let separator = if back.contains('?') { '&' } else { '?' };
            Ok(html::redirect(&format!("{back}{separator}notice={}", if enabled { "enabled" } else { "disabled" })))
        })
        .await
}

/// Enables the integration
#[utoipa::path(post, path = "/admin/integrations/{slug}/enable", params(SlugParam))]
async fn enable(change: SlugForm) -> Answer {
    set_enabled(change, true).await
}

/// Disables the integration: its calls answer 403
#[utoipa::path(post, path = "/admin/integrations/{slug}/disable", params(SlugParam))]
async fn disable(change: SlugForm) -> Answer {
    set_enabled(change, false).await
}

/// Deletes the integration (its documents stay on disk)
#[utoipa::path(post, path = "/admin/integrations/{slug}/delete", params(SlugParam))]
async fn delete(change: SlugForm) -> Answer {
    change
        .on_integration(async |SlugForm { state, slug, form, .. }| {
            if form.get("confirm") != "yes" {
                let message = "Tick “I understand” to delete the integration.";
                return Err(PageError::Input(StatusCode::BAD_REQUEST, message.into()));
            }
            administration(state).delete(slug).await?;
            Ok(html::redirect("/admin?notice=deleted"))
        })
        .await
}

/// Issues a new ApiKey or client secret and shows it once
#[utoipa::path(post, path = "/admin/integrations/{slug}/rotate", params(SlugParam))]
async fn rotate(change: SlugForm) -> Answer {
    change
        .on_integration(async |SlugForm { state, slug, admin, .. }| {
            let rotated = administration(state).rotate_key(slug).await?;
            let integration = integration_named(state, slug).await?;
            let what = if rotated.api_key.is_some() { "new ApiKey" } else { "new Client Secret" };
            let credentials =
                setup::credentials(&state.settings.public_url, &integration, rotated.api_key, rotated.client_secret);
            let body = views::issued(&credentials, what);
            Ok(admin_page(StatusCode::OK, admin, &integration.name, Nav::Integrations, None, body))
        })
        .await
}

/// Revokes every ApiKey but the newest
#[utoipa::path(post, path = "/admin/integrations/{slug}/revoke-old-keys", params(SlugParam))]
async fn revoke_old_keys(change: SlugForm) -> Answer {
    change
        .on_integration(async |SlugForm { state, slug, .. }| {
            administration(state).revoke_keys(slug, &RevokeKeys::AllButNewest).await?;
            Ok(html::redirect(&format!("/admin/integrations/{slug}?notice=revoked")))
        })
        .await
}

/// Runs the conformance validator's core group against the integration
#[utoipa::path(post, path = "/admin/integrations/{slug}/test", params(SlugParam))]
async fn connection_test(change: SlugForm) -> Answer {
    change
        .on_integration(async |SlugForm { state, slug, admin, form }| {
            let integration = integration_named(state, slug).await?;
            let username = match form.trimmed("username") {
                "" => "docbridge-connection-test",
                name => name,
            };
            let report = run_connection_test(state, &integration, username).await?;
            let result = if report.has_failures() { "failed" } else { "passed" };
            let detail = format!("passed={} failed={}", report.summary.passed, report.summary.failed);
            record(state, slug, "integration.test", result, Some(detail)).await;
            let body = views::test_report(&integration, &report);
            Ok(admin_page(StatusCode::OK, admin, "Connection test", Nav::Integrations, None, body))
        })
        .await
}

/// Runs the validator's core group against the integration's Base API URL, as Workfront calls
/// it (request parameters included), with a credential that exists only for the test: a
/// temporary ApiKey, or an access token for an existing user. Either is revoked afterwards and
/// would expire or stay unknown to anyone anyway.
async fn run_connection_test(state: &AppState, integration: &Integration, username: &str) -> Result<Report, PageError> {
    let registry = &state.registry;
    let secret = issue_secret();
    let auth = match integration.auth_type {
        AuthType::ApiKey => {
            registry.add_api_key(&integration.slug, &secret.stored).await?;
            Auth::ApiKey { api_key: secret.plain.clone(), username: username.to_owned() }
        }
        AuthType::OAuth2 => {
            let Some(user) = registry.user(username).await? else {
                return Err(PageError::Input(
                    StatusCode::BAD_REQUEST,
                    format!(
                        "An OAuth2 connection test acts as a registered user, and {username:?} is not one: add the user on the Users page, or name another."
                    ),
                ));
            };
            let token = NewOAuthToken {
                token_hash: secret.stored.hash.clone(),
                kind: OAuthTokenKind::Access,
                integration_id: integration.id,
                user_id: user.id,
                origin_code_hash: None,
                expires_at: chrono::Utc::now() + TEST_TOKEN_TTL,
            };
            registry.create_oauth_tokens(&[token]).await?;
            Auth::Bearer { token: secret.plain.clone() }
        }
    };
    let mut remote = RemoteConfig::new("connection-test", state.base_api_url(&integration.slug), auth);
    remote.request_params = integration.request_params.iter().filter_map(|p| p.parse::<RequestParam>().ok()).collect();
    let options =
        ValidateOptions { remote, groups: vec![Group::Core], strict: false, request_timeout: TEST_REQUEST_TIMEOUT };
    let report = docbridge_client::validate::run(&options).await;
    let revoked = match integration.auth_type {
        AuthType::ApiKey => registry.revoke_api_keys_by_hint(&integration.slug, &secret.stored.hint).await.map(drop),
        AuthType::OAuth2 => {
            registry.revoke_oauth_tokens(OAuthRevocation::Token { token_hash: &secret.stored.hash }).await.map(drop)
        }
    };
    if let Err(e) = revoked {
        tracing::warn!(error = %e, integration = %integration.slug, "could not revoke the connection test's credential");
    }
    Ok(report)
}

// ---- users ----

async fn show_users(state: &AppState, admin: &Admin, status: StatusCode, notice: Option<Notice>) -> Answer {
    let (users, grants, integrations) =
        tokio::try_join!(state.registry.users(), state.registry.grants(None, None), state.registry.integrations())?;
    let body = views::users(&users, &grants, &integrations, &admin.csrf);
    Ok(admin_page(status, admin, "Users", Nav::Users, notice.as_ref(), body))
}

/// Users and their roles per integration
#[utoipa::path(get, path = "/admin/users", operation_id = "adminUsers")]
async fn users_page(State(state): State<AppState>, admin: Admin, Query(query): Query<NoticeQuery>) -> Answer {
    show_users(&state, &admin, StatusCode::OK, notice_for(query.notice.as_deref())).await
}

/// Runs a users-page change: on success back to the page with `notice`, on bad input the page
/// again with the message.
async fn users_change(state: &AppState, admin: &Admin, result: Result<(), RegistryError>, notice: &str) -> Answer {
    let outcome = result.map(|()| html::redirect(&format!("/admin/users?notice={notice}"))).map_err(PageError::from);
    or_again(outcome, |status, notice| show_users(state, admin, status, Some(notice))).await
}

/// Adds a user with a password
#[utoipa::path(post, path = "/admin/users")]
async fn add_user(State(state): State<AppState>, AdminForm(admin, form): AdminForm) -> Answer {
    let result = administration(&state).add_user(form.trimmed("username"), form.get("password")).await.map(drop);
    users_change(&state, &admin, result, "user-added").await
}

/// Deletes a user and their roles
#[utoipa::path(post, path = "/admin/users/delete")]
async fn delete_user(State(state): State<AppState>, AdminForm(admin, form): AdminForm) -> Answer {
    let result = administration(&state).delete_user(form.trimmed("username")).await;
    users_change(&state, &admin, result, "user-deleted").await
}

/// Gives a user a role in an integration
#[utoipa::path(post, path = "/admin/grants")]
async fn set_grant(State(state): State<AppState>, AdminForm(admin, form): AdminForm) -> Answer {
    let result = match setup::parse_role(form.trimmed("role")) {
        Ok(role) => administration(&state)
            .grant(form.trimmed("username"), form.trimmed("integration"), role, Some(form.trimmed("folder")))
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    users_change(&state, &admin, result, "grant-saved").await
}

/// Takes a user's role in an integration away
#[utoipa::path(post, path = "/admin/grants/revoke")]
async fn revoke_grant(State(state): State<AppState>, AdminForm(admin, form): AdminForm) -> Answer {
    let result = administration(&state).revoke(form.trimmed("username"), form.trimmed("integration")).await;
    users_change(&state, &admin, result, "grant-revoked").await
}

// ---- audit ----

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct AuditQuery {
    /// Only this integration's entries
    integration: Option<String>,
}

/// The audit trail, newest first
#[utoipa::path(get, path = "/admin/audit", operation_id = "adminAudit", params(AuditQuery))]
async fn audit_page(State(state): State<AppState>, admin: Admin, Query(query): Query<AuditQuery>) -> Answer {
    let filter = query.integration.as_deref().filter(|s| !s.is_empty());
    let (entries, integrations) =
        tokio::try_join!(state.registry.audit_entries(filter, None, AUDIT_READ_LIMIT), state.registry.integrations())?;
    let newest: Vec<AuditEntry> = entries.into_iter().rev().take(AUDIT_PAGE_ENTRIES).collect();
    let body = views::audit(&newest, &integrations, filter, AUDIT_PAGE_ENTRIES);
    Ok(admin_page(StatusCode::OK, &admin, "Audit trail", Nav::Audit, None, body))
}

// ---- static files ----

/// The page's style sheet and script
#[utoipa::path(get, path = "/admin/static/{file}", operation_id = "adminStatic",
    params(("file" = String, Path, description = "admin.css or admin.js")),
    responses(
        (status = 200, description = "The file", content_type = "text/plain", body = String),
        (status = 404, description = "No such file", content_type = "text/plain", body = String)
    ))]
async fn static_file(Path(file): Path<String>) -> Response {
    let (content_type, body) = match file.as_str() {
        "admin.css" => ("text/css; charset=utf-8", include_str!("admin_page/admin.css")),
        "admin.js" => ("text/javascript; charset=utf-8", include_str!("admin_page/admin.js")),
        _ => return (StatusCode::NOT_FOUND, "no such file").into_response(),
    };
    let mut response = ([(header::CONTENT_TYPE, content_type)], body).into_response();
    response.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    // Versioned by the binary: an hour of caching is safe across an upgrade that changes them.
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=3600"));
    response
}
