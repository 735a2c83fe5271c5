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

mod views;

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
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

use crate::limits::{ClientAddress, FailureKey};
use crate::setup::{self, AddIntegration, RevokeKeys};
use crate::state::AppState;
use views::{IntegrationForm, KeyInfo, Nav, Notice};

/// The session cookie.
const COOKIE: &str = "docbridge_admin";
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

/// The page's routes, merged into [`crate::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin", get(home))
        .route("/admin/login", get(login_page).post(login))
        .route("/admin/logout", post(logout))
        .route("/admin/integrations/new", get(new_integration_page))
        .route("/admin/integrations", post(add_integration))
        .route("/admin/integrations/{slug}", get(integration_page).post(edit_integration))
        .route("/admin/integrations/{slug}/enable", post(enable))
        .route("/admin/integrations/{slug}/disable", post(disable))
        .route("/admin/integrations/{slug}/delete", post(delete))
        .route("/admin/integrations/{slug}/rotate", post(rotate))
        .route("/admin/integrations/{slug}/revoke-old-keys", post(revoke_old_keys))
        .route("/admin/integrations/{slug}/test", post(connection_test))
        .route("/admin/users", get(users_page).post(add_user))
        .route("/admin/users/delete", post(delete_user))
        .route("/admin/grants", post(set_grant))
        .route("/admin/grants/revoke", post(revoke_grant))
        .route("/admin/audit", get(audit_page))
        .route("/admin/static/{file}", get(static_file))
        .layer(Extension(Arc::new(Runtime::default())))
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

/// The headers of every admin page: scripts and styles only from our own files, no framing,
/// no referrer, never cached (pages show secrets and CSRF tokens).
fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let mut set = |name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        "content-security-policy",
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'none'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    );
    set("x-content-type-options", "nosniff");
    set("referrer-policy", "no-referrer");
    set("x-frame-options", "DENY");
    set("cache-control", "no-store");
    response
}

fn page(status: StatusCode, html: String) -> Response {
    secured((status, Html(html)).into_response())
}

fn redirect(location: &str) -> Response {
    let mut response = StatusCode::SEE_OTHER.into_response();
    if let Ok(value) = HeaderValue::from_str(location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    secured(response)
}

/// A page for a failure that is not the user's input: the detail goes to the log.
fn server_error(error: impl std::fmt::Display) -> Response {
    tracing::error!(error = %error, "admin page");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        views::layout("Error", Nav::None, None, Some(&Notice::error("Internal error; the log has the details.")), ""),
    )
}

/// The status and message of a registry error caused by the administrator's input.
fn input_error(error: &RegistryError) -> Option<(StatusCode, String)> {
    match error {
        RegistryError::InvalidInput { .. } => Some((StatusCode::BAD_REQUEST, error.to_string())),
        RegistryError::Conflict(message) => Some((StatusCode::CONFLICT, message.clone())),
        RegistryError::NotFound(what) => Some((StatusCode::NOT_FOUND, format!("{what} not found"))),
        _ => None,
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
        _ => return None,
    };
    Some(Notice::info(text))
}

#[derive(Debug, Default, Deserialize)]
struct NoticeQuery {
    notice: Option<String>,
}

// ---- session ----

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(name)?.strip_prefix('='))
}

/// `Set-Cookie` for the session, scoped to `/admin` under the public URL's path.
fn set_cookie(response: &mut Response, state: &AppState, value: &str, max_age: i64) {
    let public = url::Url::parse(&state.settings.public_url).ok();
    let prefix = public.as_ref().map(|u| u.path().trim_end_matches('/').to_owned()).unwrap_or_default();
    let secure = if public.is_some_and(|u| u.scheme() == "https") { "; Secure" } else { "" };
    let cookie =
        format!("{COOKIE}={value}; Path={prefix}/admin; Max-Age={}; HttpOnly; SameSite=Strict{secure}", max_age.max(0));
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

async fn signer(state: &AppState, runtime: &Runtime, token: &str) -> Result<SessionSigner, Response> {
    let key = runtime
        .session_key
        .get_or_try_init(|| state.registry.setting_or_init(SESSION_KEY_SETTING, || issue_secret().plain))
        .await
        .map_err(server_error)?;
    // Bound to the token: a new admin token ends every session signed under the old one.
    Ok(SessionSigner::new(format!("{key}:{}", hash_secret(token)).as_bytes()))
}

/// A logged-in administrator.
struct Admin {
    csrf: String,
    /// The session's ID (the registry keeps its hash), for logging out.
    session_id: String,
}

/// The logged-in session of a request's cookie: signed by us, not expired, and still in the
/// registry (logging out deletes it there, in every process at once). Read from the database
/// at every request, never cached: a copied cookie must stop working the moment its session ends.
async fn logged_in(
    state: &AppState,
    signer: &SessionSigner,
    headers: &HeaderMap,
) -> Result<Option<LoginSession>, Response> {
    let Some(session) =
        cookie_value(headers, COOKIE).and_then(|c| signer.open(c, chrono::Utc::now())).filter(|s| s.username.is_some())
    else {
        return Ok(None);
    };
    let active = state.registry.admin_session_active(&hash_secret(&session.id)).await.map_err(server_error)?;
    Ok(active.then_some(session))
}

/// The administrator of a request, or the response that sends them to the login page.
async fn admin(state: &AppState, runtime: &Runtime, headers: &HeaderMap) -> Result<Admin, Response> {
    let Some(token) = admin_token(state) else { return Err(redirect("/admin/login")) };
    let signer = signer(state, runtime, &token).await?;
    match logged_in(state, &signer, headers).await? {
        Some(session) => Ok(Admin { csrf: signer.csrf_token(&session), session_id: session.id }),
        None => Err(redirect("/admin/login")),
    }
}

/// A form posted by a logged-in administrator with the session's CSRF token.
async fn admin_form(
    state: &AppState,
    runtime: &Runtime,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<(Admin, Form), Response> {
    let Some(token) = admin_token(state) else { return Err(redirect("/admin/login")) };
    let signer = signer(state, runtime, &token).await?;
    let form = Form::parse(body);
    let Some(session) = logged_in(state, &signer, headers).await? else {
        return Err(redirect("/admin/login"));
    };
    if !signer.check_csrf(&session, form.get("csrf")) {
        let notice = Notice::error(
            "This form is stale or did not come from this page (CSRF check failed). Reload the page and try again.",
        );
        return Err(page(
            StatusCode::FORBIDDEN,
            views::layout(
                "Refused",
                Nav::None,
                None,
                Some(&notice),
                "<p><a href=\"/admin\">Back to the admin page</a></p>",
            ),
        ));
    }
    Ok((Admin { csrf: signer.csrf_token(&session), session_id: session.id }, form))
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

async fn login_page(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let Some(secret) = admin_token(&state) else {
        return page(StatusCode::OK, views::layout("Log in", Nav::None, None, None, &views::login("", false)));
    };
    if admin(&state, &runtime, &headers).await.is_ok() {
        return redirect("/admin");
    }
    let signer = match signer(&state, &runtime, &secret).await {
        Ok(signer) => signer,
        Err(response) => return response,
    };
    login_form(&state, &signer, StatusCode::OK, notice_for(query.notice.as_deref()))
}

/// The login form with a fresh anonymous session for its CSRF token.
fn login_form(state: &AppState, signer: &SessionSigner, status: StatusCode, notice: Option<Notice>) -> Response {
    let session: LoginSession = signer.start(LOGIN_FORM_TTL, chrono::Utc::now());
    let mut response = page(
        status,
        views::layout("Log in", Nav::None, None, notice.as_ref(), &views::login(&signer.csrf_token(&session), true)),
    );
    set_cookie(&mut response, state, &signer.seal(&session), LOGIN_FORM_TTL.num_seconds());
    response
}

async fn login(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    ClientAddress(address): ClientAddress,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let Some(secret) = admin_token(&state) else { return redirect("/admin/login") };
    let signer = match signer(&state, &runtime, &secret).await {
        Ok(signer) => signer,
        Err(response) => return response,
    };
    let form = Form::parse(&body);
    let pending = cookie_value(&headers, COOKIE).and_then(|c| signer.open(c, chrono::Utc::now()));
    if !pending.as_ref().is_some_and(|session| signer.check_csrf(session, form.get("csrf"))) {
        return login_form(
            &state,
            &signer,
            StatusCode::FORBIDDEN,
            Some(Notice::error("The login form expired; please log in again.")),
        );
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
        return response;
    }
    if !secrets_equal(form.get("token"), &secret) {
        match &key {
            Some(key) => state.limits.record_failure(key, allowance, "wrong admin token (login page)"),
            None => tracing::warn!("failed admin login"),
        }
        return login_form(&state, &signer, StatusCode::FORBIDDEN, Some(Notice::error("Wrong admin token.")));
    }
    // A new session ID on login: a session planted before it is worth nothing.
    let now = chrono::Utc::now();
    let session = signer.login("admin", SESSION_TTL, now);
    // The session lives in the registry, so that logging out ends it for every process and for
    // every copy of the cookie; the cookie's signature alone would stay good until it expires.
    if let Err(e) = state.registry.create_admin_session(&hash_secret(&session.id), now + SESSION_TTL).await {
        return server_error(e);
    }
    let mut response = redirect("/admin");
    set_cookie(&mut response, &state, &signer.seal(&session), SESSION_TTL.num_seconds());
    response
}

async fn logout(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let admin = match admin_form(&state, &runtime, &headers, &body).await {
        Ok((admin, _)) => admin,
        Err(response) => return response,
    };
    if let Err(e) = state.registry.delete_admin_session(&hash_secret(&admin.session_id)).await {
        return server_error(e);
    }
    let mut response = redirect("/admin/login?notice=logged-out");
    set_cookie(&mut response, &state, "", 0);
    response
}

// ---- integrations ----

async fn home(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Query(query): Query<NoticeQuery>,
) -> Response {
    let admin = match admin(&state, &runtime, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let integrations = match state.registry.integrations().await {
        Ok(integrations) => integrations,
        Err(e) => return server_error(e),
    };
    let rows: Vec<(Integration, String)> = integrations
        .into_iter()
        .map(|i| {
            let url = state.base_api_url(&i.slug);
            (i, url)
        })
        .collect();
    page(
        StatusCode::OK,
        views::layout(
            "Integrations",
            Nav::Integrations,
            Some(&admin.csrf),
            notice_for(query.notice.as_deref()).as_ref(),
            &views::home(&rows, &admin.csrf),
        ),
    )
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

async fn new_integration_page(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
) -> Response {
    let admin = match admin(&state, &runtime, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let hint = match default_library(&state, "SLUG").await {
        Ok(Some((_, root))) => root,
        Ok(None) => "required".to_owned(),
        Err(e) => return server_error(e),
    };
    let form = IntegrationForm { auth: "apikey".into(), default_role: "editor".into(), ..Default::default() };
    page(
        StatusCode::OK,
        views::layout(
            "Add an integration",
            Nav::Integrations,
            Some(&admin.csrf),
            None,
            &views::new_integration(&admin.csrf, &form, &hint),
        ),
    )
}

async fn add_integration(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (admin, form) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
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
    let again = |status: StatusCode, message: String| {
        let hint = "beside the default integration's folder";
        page(
            status,
            views::layout(
                "Add an integration",
                Nav::Integrations,
                Some(&admin.csrf),
                Some(&Notice::error(message)),
                &views::new_integration(&admin.csrf, &values, hint),
            ),
        )
    };
    let Some(auth) = AuthType::parse(&values.auth) else {
        return again(StatusCode::BAD_REQUEST, "auth: choose ApiKey or OAuth2".into());
    };
    let Some(default_role) = DefaultRole::parse(&values.default_role) else {
        return again(StatusCode::BAD_REQUEST, "default_role: choose editor, reader or deny".into());
    };
    let slug = if values.slug.is_empty() { setup::slug_from_name(&values.name) } else { values.slug.clone() };
    if !values.storage.is_empty() && !crate::config::STORAGE_KINDS.contains(&values.storage.as_str()) {
        return again(StatusCode::BAD_REQUEST, format!("storage: {:?} is not a storage kind", values.storage));
    }
    let (kind, root) = match default_library(&state, &slug).await {
        Err(e) => return server_error(e),
        Ok(default) => {
            let kind = match (&default, values.storage.as_str()) {
                (_, chosen) if !chosen.is_empty() => chosen.to_owned(),
                (Some((kind, _)), _) => kind.clone(),
                (None, _) => "fs".to_owned(),
            };
            match (values.root.is_empty(), default) {
                (false, _) => (kind, values.root.clone()),
                (true, Some((default_kind, root))) if default_kind == kind => (kind, root),
                // A store's folder or prefix is named after the slug, as the CLI does.
                (true, _) if kind != "fs" => (kind, slug.clone()),
                (true, _) => return again(StatusCode::BAD_REQUEST, "root: the documents folder is required".into()),
            }
        }
    };
    if let Err(e) = docbridge_registry::validate_slug(&slug) {
        return again(StatusCode::BAD_REQUEST, e.to_string());
    }
    // Before the folder is made: a refused root must not leave one behind.
    if let Err(e) = administration(&state).check_root(&slug, &kind, &root).await {
        return match input_error(&e) {
            Some((status, message)) => again(status, message),
            None => server_error(e),
        };
    }
    if kind == "fs"
        && let Err(e) = crate::data_dir::create_private_dir(root.as_ref())
    {
        return again(StatusCode::BAD_REQUEST, format!("root: cannot create {root}: {e}"));
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
    match administration(&state).add(request, &kind).await {
        Ok((integration, credentials)) => {
            let what = if auth == AuthType::ApiKey { "ApiKey" } else { "Client Secret" };
            page(
                StatusCode::OK,
                views::layout(
                    &integration.name,
                    Nav::Integrations,
                    Some(&admin.csrf),
                    Some(&Notice::info("Integration added.")),
                    &views::issued(&credentials, what),
                ),
            )
        }
        Err(e) => match input_error(&e) {
            Some((status, message)) => again(status, message),
            None => server_error(e),
        },
    }
}

/// The integration page, with a notice and a status (an edit that failed shows it again).
async fn show_integration(
    state: &AppState,
    admin: &Admin,
    slug: &str,
    status: StatusCode,
    notice: Option<Notice>,
) -> Response {
    let integration = match state.registry.integration(slug).await {
        Ok(Some(integration)) => integration,
        Ok(None) => {
            return page(
                StatusCode::NOT_FOUND,
                views::layout(
                    "Not found",
                    Nav::Integrations,
                    Some(&admin.csrf),
                    Some(&Notice::error(format!("No integration {slug:?}."))),
                    "",
                ),
            );
        }
        Err(e) => return server_error(e),
    };
    let keys = match state.registry.active_api_keys(integration.id).await {
        Ok(keys) => keys
            .into_iter()
            .map(|k| KeyInfo { hint: k.hint, created: k.created_at.format("%Y-%m-%d %H:%M UTC").to_string() })
            .collect::<Vec<_>>(),
        Err(e) => return server_error(e),
    };
    let credentials = setup::credentials(&state.settings.public_url, &integration, None, None);
    let body = views::integration(&integration, &credentials, &keys, &admin.csrf);
    page(status, views::layout(&integration.name, Nav::Integrations, Some(&admin.csrf), notice.as_ref(), &body))
}

async fn integration_page(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    Query(query): Query<NoticeQuery>,
) -> Response {
    match admin(&state, &runtime, &headers).await {
        Ok(admin) => show_integration(&state, &admin, &slug, StatusCode::OK, notice_for(query.notice.as_deref())).await,
        Err(response) => response,
    }
}

async fn edit_integration(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: Bytes,
) -> Response {
    let (admin, form) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let Some(default_role) = DefaultRole::parse(form.trimmed("default_role")) else {
        return show_integration(
            &state,
            &admin,
            &slug,
            StatusCode::BAD_REQUEST,
            Some(Notice::error("default_role: choose editor, reader or deny")),
        )
        .await;
    };
    let patch = IntegrationPatch {
        name: Some(form.trimmed("name").to_owned()),
        redirect_uris: Some(form.lines("redirect_uris")),
        request_params: Some(form.lines("request_params")),
        storage_root: Some(form.trimmed("root").to_owned()),
        default_role: Some(default_role),
        ..IntegrationPatch::default()
    };
    match administration(&state).edit(&slug, &patch).await {
        Ok(_) => redirect(&format!("/admin/integrations/{slug}?notice=saved")),
        Err(e) => match input_error(&e) {
            Some((status, message)) => {
                show_integration(&state, &admin, &slug, status, Some(Notice::error(message))).await
            }
            None => server_error(e),
        },
    }
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

async fn set_enabled(
    state: AppState,
    runtime: Arc<Runtime>,
    headers: HeaderMap,
    slug: String,
    body: Bytes,
    enabled: bool,
) -> Response {
    let (admin, form) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match administration(&state).set_enabled(&slug, enabled).await {
        Ok(_) => {
            let back = back_to(&form, format!("/admin/integrations/{slug}"));
            let separator = if back.contains('?') { '&' } else { '?' };
            redirect(&format!("{back}{separator}notice={}", if enabled { "enabled" } else { "disabled" }))
        }
        Err(e) => match input_error(&e) {
            Some((status, message)) => {
                show_integration(&state, &admin, &slug, status, Some(Notice::error(message))).await
            }
            None => server_error(e),
        },
    }
}

async fn enable(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: Bytes,
) -> Response {
    set_enabled(state, runtime, headers, slug, body, true).await
}

async fn disable(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: Bytes,
) -> Response {
    set_enabled(state, runtime, headers, slug, body, false).await
}

async fn delete(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: Bytes,
) -> Response {
    let (admin, form) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    if form.get("confirm") != "yes" {
        return show_integration(
            &state,
            &admin,
            &slug,
            StatusCode::BAD_REQUEST,
            Some(Notice::error("Tick “I understand” to delete the integration.")),
        )
        .await;
    }
    match administration(&state).delete(&slug).await {
        Ok(()) => redirect("/admin?notice=deleted"),
        Err(e) => match input_error(&e) {
            Some((status, message)) => {
                show_integration(&state, &admin, &slug, status, Some(Notice::error(message))).await
            }
            None => server_error(e),
        },
    }
}

async fn rotate(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: Bytes,
) -> Response {
    let (admin, _) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let rotated = match administration(&state).rotate_key(&slug).await {
        Ok(rotated) => rotated,
        Err(e) => {
            return match input_error(&e) {
                Some((status, message)) => {
                    show_integration(&state, &admin, &slug, status, Some(Notice::error(message))).await
                }
                None => server_error(e),
            };
        }
    };
    let integration = match state.registry.integration(&slug).await {
        Ok(Some(integration)) => integration,
        Ok(None) => return show_integration(&state, &admin, &slug, StatusCode::NOT_FOUND, None).await,
        Err(e) => return server_error(e),
    };
    let what = if rotated.api_key.is_some() { "new ApiKey" } else { "new Client Secret" };
    let credentials =
        setup::credentials(&state.settings.public_url, &integration, rotated.api_key, rotated.client_secret);
    page(
        StatusCode::OK,
        views::layout(
            &integration.name,
            Nav::Integrations,
            Some(&admin.csrf),
            None,
            &views::issued(&credentials, what),
        ),
    )
}

async fn revoke_old_keys(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: Bytes,
) -> Response {
    let (admin, _) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    match administration(&state).revoke_keys(&slug, &RevokeKeys::AllButNewest).await {
        Ok(_) => redirect(&format!("/admin/integrations/{slug}?notice=revoked")),
        Err(e) => match input_error(&e) {
            Some((status, message)) => {
                show_integration(&state, &admin, &slug, status, Some(Notice::error(message))).await
            }
            None => server_error(e),
        },
    }
}

async fn connection_test(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Path(slug): Path<String>,
    body: Bytes,
) -> Response {
    let (admin, form) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let integration = match state.registry.integration(&slug).await {
        Ok(Some(integration)) => integration,
        Ok(None) => return show_integration(&state, &admin, &slug, StatusCode::NOT_FOUND, None).await,
        Err(e) => return server_error(e),
    };
    let username = match form.trimmed("username") {
        "" => "docbridge-connection-test",
        name => name,
    };
    match run_connection_test(&state, &integration, username).await {
        Ok(report) => {
            let result = if report.has_failures() { "failed" } else { "passed" };
            record(
                &state,
                &slug,
                "integration.test",
                result,
                Some(format!("passed={} failed={}", report.summary.passed, report.summary.failed)),
            )
            .await;
            page(
                StatusCode::OK,
                views::layout(
                    "Connection test",
                    Nav::Integrations,
                    Some(&admin.csrf),
                    None,
                    &views::test_report(&integration, &report),
                ),
            )
        }
        Err(TestError::Input(message)) => {
            show_integration(&state, &admin, &slug, StatusCode::BAD_REQUEST, Some(Notice::error(message))).await
        }
        Err(TestError::Registry(e)) => server_error(e),
    }
}

enum TestError {
    Input(String),
    Registry(RegistryError),
}

/// Runs the validator's core group against the integration's Base API URL, as Workfront calls
/// it (request parameters included), with a credential that exists only for the test: a
/// temporary ApiKey, or an access token for an existing user. Either is revoked afterwards and
/// would expire or stay unknown to anyone anyway.
async fn run_connection_test(state: &AppState, integration: &Integration, username: &str) -> Result<Report, TestError> {
    let registry = &state.registry;
    let secret = issue_secret();
    let auth = match integration.auth_type {
        AuthType::ApiKey => {
            registry.add_api_key(&integration.slug, &secret.stored).await.map_err(TestError::Registry)?;
            Auth::ApiKey { api_key: secret.plain.clone(), username: username.to_owned() }
        }
        AuthType::OAuth2 => {
            let Some(user) = registry.user(username).await.map_err(TestError::Registry)? else {
                return Err(TestError::Input(format!(
                    "An OAuth2 connection test acts as a registered user, and {username:?} is not one: add the user on the Users page, or name another."
                )));
            };
            let token = NewOAuthToken {
                token_hash: secret.stored.hash.clone(),
                kind: OAuthTokenKind::Access,
                integration_id: integration.id,
                user_id: user.id,
                origin_code_hash: None,
                expires_at: chrono::Utc::now() + TEST_TOKEN_TTL,
            };
            registry.create_oauth_tokens(&[token]).await.map_err(TestError::Registry)?;
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

async fn show_users(state: &AppState, admin: &Admin, status: StatusCode, notice: Option<Notice>) -> Response {
    let (users, grants, integrations) = match tokio::try_join!(
        state.registry.users(),
        state.registry.grants(None, None),
        state.registry.integrations()
    ) {
        Ok(found) => found,
        Err(e) => return server_error(e),
    };
    page(
        status,
        views::layout(
            "Users",
            Nav::Users,
            Some(&admin.csrf),
            notice.as_ref(),
            &views::users(&users, &grants, &integrations, &admin.csrf),
        ),
    )
}

async fn users_page(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Query(query): Query<NoticeQuery>,
) -> Response {
    match admin(&state, &runtime, &headers).await {
        Ok(admin) => show_users(&state, &admin, StatusCode::OK, notice_for(query.notice.as_deref())).await,
        Err(response) => response,
    }
}

/// Runs a users-page change: on success back to the page with `notice`, on bad input the page
/// again with the message.
async fn users_change(state: &AppState, admin: &Admin, result: Result<(), RegistryError>, notice: &str) -> Response {
    match result {
        Ok(()) => redirect(&format!("/admin/users?notice={notice}")),
        Err(e) => match input_error(&e) {
            Some((status, message)) => show_users(state, admin, status, Some(Notice::error(message))).await,
            None => server_error(e),
        },
    }
}

async fn add_user(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (admin, form) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let result = administration(&state).add_user(form.trimmed("username"), form.get("password")).await.map(drop);
    users_change(&state, &admin, result, "user-added").await
}

async fn delete_user(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (admin, form) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let result = administration(&state).delete_user(form.trimmed("username")).await;
    users_change(&state, &admin, result, "user-deleted").await
}

async fn set_grant(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (admin, form) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let result = match setup::parse_role(form.trimmed("role")) {
        Ok(role) => administration(&state)
            .grant(form.trimmed("username"), form.trimmed("integration"), role, Some(form.trimmed("folder")))
            .await
            .map(drop),
        Err(e) => Err(e),
    };
    users_change(&state, &admin, result, "grant-saved").await
}

async fn revoke_grant(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let (admin, form) = match admin_form(&state, &runtime, &headers, &body).await {
        Ok(found) => found,
        Err(response) => return response,
    };
    let result = administration(&state).revoke(form.trimmed("username"), form.trimmed("integration")).await;
    users_change(&state, &admin, result, "grant-revoked").await
}

// ---- audit ----

#[derive(Debug, Default, Deserialize)]
struct AuditQuery {
    integration: Option<String>,
}

async fn audit_page(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    headers: HeaderMap,
    Query(query): Query<AuditQuery>,
) -> Response {
    let admin = match admin(&state, &runtime, &headers).await {
        Ok(admin) => admin,
        Err(response) => return response,
    };
    let filter = query.integration.as_deref().filter(|s| !s.is_empty());
    let (entries, integrations) = match tokio::try_join!(
        state.registry.audit_entries(filter, None, AUDIT_READ_LIMIT),
        state.registry.integrations()
    ) {
        Ok(found) => found,
        Err(e) => return server_error(e),
    };
    let newest: Vec<AuditEntry> = entries.into_iter().rev().take(AUDIT_PAGE_ENTRIES).collect();
    page(
        StatusCode::OK,
        views::layout(
            "Audit trail",
            Nav::Audit,
            Some(&admin.csrf),
            None,
            &views::audit(&newest, &integrations, filter, AUDIT_PAGE_ENTRIES),
        ),
    )
}

// ---- static files ----

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
