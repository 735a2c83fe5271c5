//! docbridge's OAuth2 authorization server over HTTP (C4): `GET /oauth/authorize` (login page,
//! then consent page), `POST /oauth/authorize` (the two forms) and `POST /oauth/token`.
//!
//! The work is in `docbridge_auth`'s OAuth functions; this module renders pages, reads forms and
//! cookies, and turns errors into pages, redirects or RFC 6749 §5.2 bodies. The settings come
//! from an `Extension<OAuthSettings>` that [`configure`] adds (defaults without it), so that the
//! router stays a plain function of the `AppState`. Failed logins are counted by the shared
//! limiter (`limits.rs`) per client and user, per client, and per user from anywhere (a bounded
//! back-off, never a lockout); in memory, per process: behind a load balancer each process
//! allows its own share.

use std::net::IpAddr;
use std::sync::Arc;

use askama::Template;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use axum::{Extension, Json, Router};
use docbridge_auth::{
    AuthError, AuthorizeParams, AuthorizeTarget, ClientCredentials, LoginSession, OAuthErrorCode, OAuthSettings,
    SessionSigner, TokenRequest,
};
use docbridge_protocol::{OAuthErrorBody, TokenResponse};

use crate::html::{self, Cookie, Csp};
use crate::limits::{Allowance, ClientAddress, FailureKey};
use crate::params::Params;
use crate::state::AppState;

/// The login session cookie (see `docbridge_auth::SessionSigner`), scoped to `/oauth`.
const COOKIE: Cookie = Cookie { name: "docbridge_oauth", path: "/oauth", same_site: "Lax" };

/// What the authorization server keeps per router: the session signing key, read from the
/// registry once.
#[derive(Default)]
struct Runtime {
    signer: tokio::sync::OnceCell<SessionSigner>,
}

impl Runtime {
    async fn signer(&self, state: &AppState) -> Result<&SessionSigner, AuthError> {
        self.signer.get_or_try_init(|| docbridge_auth::session_signer(&state.registry)).await
    }
}

/// The authorization server's routes, merged into [`crate::router`].
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/oauth/authorize", get(authorize_page).post(authorize_form))
        .route("/oauth/token", any(token))
        .layer(Extension(Arc::new(Runtime::default())))
}

/// Gives the authorization server its settings (the `[oauth]` configuration section). Without
/// it, [`OAuthSettings::default`] applies.
pub fn configure(router: Router, settings: OAuthSettings) -> Router {
    router.layer(Extension(Arc::new(settings)))
}

fn settings_of(settings: Option<Extension<Arc<OAuthSettings>>>) -> Arc<OAuthSettings> {
    settings.map(|Extension(s)| s).unwrap_or_default()
}

// ---- Pages ----

fn error_page(status: StatusCode, message: &str) -> Response {
    html::message_page(status, "Cannot sign in", message, Csp::OAuth { redirect_origin: None })
}

fn auth_error_page(error: &AuthError) -> Response {
    match error {
        AuthError::OAuth { description, .. } => error_page(StatusCode::BAD_REQUEST, description),
        other => server_error_page(other),
    }
}

fn server_error_page(error: &AuthError) -> Response {
    tracing::error!(error = %error, "OAuth2 authorize failed");
    error_page(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong on our side. Please try again later.")
}

fn origin_of(uri: &str) -> Option<String> {
    url::Url::parse(uri).ok().map(|u| u.origin().ascii_serialization()).filter(|o| o != "null")
}

/// The hidden fields of both forms: the original request, the CSRF token and the step.
fn hidden_fields(params: &AuthorizeParams, csrf: &str, step: &str) -> Vec<(String, String)> {
    params
        .pairs()
        .into_iter()
        .chain([("csrf", csrf), ("step", step)])
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect()
}

#[derive(Template)]
#[template(path = "oauth/login.html")]
struct LoginPage<'a> {
    integration: &'a str,
    notice: Option<&'a str>,
    fields: Vec<(String, String)>,
    username: &'a str,
}

#[derive(Template)]
#[template(path = "oauth/consent.html")]
struct ConsentPage<'a> {
    integration: &'a str,
    username: &'a str,
    destination: &'a str,
    fields: Vec<(String, String)>,
}

fn login_page(
    status: StatusCode,
    target: &AuthorizeTarget,
    params: &AuthorizeParams,
    csrf: &str,
    notice: Option<&str>,
    username: &str,
) -> Response {
    let body = html::fragment(&LoginPage {
        integration: &target.integration.name,
        notice,
        fields: hidden_fields(params, csrf, "login"),
        username,
    });
    html::page(status, &html::Page { title: "Sign in", body }, Csp::OAuth { redirect_origin: None })
}

fn consent_page(target: &AuthorizeTarget, params: &AuthorizeParams, csrf: &str, username: &str) -> Response {
    let origin = origin_of(&target.redirect_uri);
    let body = html::fragment(&ConsentPage {
        integration: &target.integration.name,
        username,
        destination: origin.as_deref().unwrap_or(&target.redirect_uri),
        fields: hidden_fields(params, csrf, "consent"),
    });
    let csp = Csp::OAuth { redirect_origin: origin.as_deref() };
    html::page(StatusCode::OK, &html::Page { title: "Allow access", body }, csp)
}

fn redirect(location: &str) -> Response {
    html::redirect(location)
}

/// The session cookie: `Lax`, as Workfront opens the login page from its own site.
fn set_cookie(response: &mut Response, state: &AppState, sealed: &str, max_age: i64) {
    COOKIE.set(response, &state.settings.public_url, sealed, max_age);
}

// ---- Handlers ----

fn authorize_params(params: &Params) -> AuthorizeParams {
    let get = |name: &str| params.get(name).map(str::to_owned);
    AuthorizeParams {
        client_id: get("client_id"),
        redirect_uri: get("redirect_uri"),
        state: get("state"),
        response_type: get("response_type"),
        code_challenge: get("code_challenge"),
        code_challenge_method: get("code_challenge_method"),
    }
}

/// What every step of an authorize request starts from: its parts, checked again (the forms'
/// hidden fields are as untrusted as the first query string), the PKCE challenge, and the
/// signer of the login session's cookie.
async fn resolve<'r>(
    state: &AppState,
    runtime: &'r Runtime,
    params: &AuthorizeParams,
) -> Result<(AuthorizeTarget, Option<String>, &'r SessionSigner), Response> {
    let target = docbridge_auth::resolve_authorize(&state.registry, params).await.map_err(|e| auth_error_page(&e))?;
    let challenge = match target.check(params) {
        Ok(challenge) => challenge,
        Err(error @ AuthError::OAuth { .. }) => return Err(redirect(&target.error_redirect(&error))),
        Err(other) => return Err(server_error_page(&other)),
    };
    let signer = runtime.signer(state).await.map_err(|e| server_error_page(&e))?;
    Ok((target, challenge, signer))
}

/// Whether the user may use the integration at all; refused users get a page, not a consent.
async fn check_access(state: &AppState, target: &AuthorizeTarget, username: &str) -> Result<(), Response> {
    match docbridge_auth::user_role(&state.registry, &target.integration, username).await {
        Ok(Some(_)) => Ok(()),
        Ok(None) => Err(error_page(
            StatusCode::FORBIDDEN,
            &format!("{username} has no access to {}. Ask an administrator for access.", target.integration.name),
        )),
        Err(e) => Err(server_error_page(&e)),
    }
}

/// `GET /oauth/authorize`: the login page, or the consent page for a browser already logged in.
async fn authorize_page(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    settings: Option<Extension<Arc<OAuthSettings>>>,
    request: Request,
) -> Result<Response, Response> {
    let settings = settings_of(settings);
    let params = match Params::from_query(request.uri().query()) {
        Ok(params) => authorize_params(&params),
        Err(_) => return Err(error_page(StatusCode::BAD_REQUEST, "The request's parameters are malformed.")),
    };
    let (target, _, signer) = resolve(&state, &runtime, &params).await?;
    let now = chrono::Utc::now();
    let existing = COOKIE.read(request.headers()).and_then(|c| signer.open(c, now));
    if let Some(session) = existing.as_ref()
        && let Some(username) = &session.username
    {
        check_access(&state, &target, username).await?;
        return Ok(consent_page(&target, &params, &signer.csrf_token(session), username));
    }
    let session = signer.start(settings.login_session_ttl, now);
    let mut response = login_page(StatusCode::OK, &target, &params, &signer.csrf_token(&session), None, "");
    set_cookie(&mut response, &state, &signer.seal(&session), settings.login_session_ttl.num_seconds());
    Ok(response)
}

/// `POST /oauth/authorize`: the login form (`step=login`) or the consent form (`step=consent`).
async fn authorize_form(
    State(state): State<AppState>,
    Extension(runtime): Extension<Arc<Runtime>>,
    settings: Option<Extension<Arc<OAuthSettings>>>,
    ClientAddress(address): ClientAddress,
    request: Request,
) -> Response {
    let settings = settings_of(settings);
    let (parts, body) = request.into_parts();
    // The form alone: the hidden fields carry the original request, the query string nothing.
    let mut form = Params::default();
    if form.add_form_body(&parts.headers, body).await.is_err() {
        return error_page(StatusCode::BAD_REQUEST, "The form could not be read.");
    }
    let params = authorize_params(&form);
    let (target, challenge, signer) = match resolve(&state, &runtime, &params).await {
        Ok(resolved) => resolved,
        Err(response) => return response,
    };
    let now = chrono::Utc::now();
    let session = COOKIE.read(&parts.headers).and_then(|c| signer.open(c, now));
    let csrf = form.get("csrf").unwrap_or("");
    let Some(session) = session.filter(|s| signer.check_csrf(s, csrf)) else {
        return error_page(
            StatusCode::FORBIDDEN,
            "This sign-in page has expired or was not opened here. Start again from Workfront.",
        );
    };
    match form.get("step") {
        Some("login") => login(&state, &settings, signer, &target, &params, &form, address).await,
        Some("consent") => {
            consent(&state, &settings, &target, &params, challenge, &session, form.get("decision")).await
        }
        _ => error_page(StatusCode::BAD_REQUEST, "The form is incomplete."),
    }
}

#[allow(clippy::too_many_arguments)]
async fn login(
    state: &AppState,
    settings: &OAuthSettings,
    signer: &SessionSigner,
    target: &AuthorizeTarget,
    params: &AuthorizeParams,
    form: &Params,
    address: Option<IpAddr>,
) -> Response {
    let typed = form.get("username").unwrap_or("").trim().to_owned();
    let password = form.get("password").unwrap_or("").to_owned();
    let candidate = match docbridge_auth::login_candidate(&state.registry, &typed).await {
        Ok(candidate) => candidate,
        Err(e) => return server_error_page(&e),
    };
    let limits = &state.limits;
    let window = settings.login_failure_window;
    // Per client only: a guesser elsewhere must not lock this user, or this client, out.
    let keys: Vec<(FailureKey, Allowance)> = address
        .map(|client| {
            vec![
                (
                    FailureKey::LoginUser { username: candidate.username.clone(), client },
                    Allowance { max: settings.max_login_failures, window },
                ),
                (
                    FailureKey::LoginClient { client },
                    Allowance { max: settings.max_login_failures_per_address, window },
                ),
            ]
        })
        .unwrap_or_default();
    if let Some(wait) = keys.iter().filter_map(|(key, allowance)| limits.retry_after(key, *allowance)).max() {
        let secs = wait.as_secs().max(1);
        let mut response = error_page(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("Too many failed sign-ins. Try again in {} minutes.", secs.div_ceil(60)),
        );
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        return response;
    }
    // Many failures for this user from anywhere slow every attempt for it, by a bounded delay
    // after which even the right password is checked as usual.
    let delay = limits.backoff(&candidate.username, settings.max_login_failures, window, settings.login_backoff_max);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let username_typed = candidate.username.clone();
    // argon2id takes tens of milliseconds of CPU: not on the async executor.
    let verified = tokio::task::spawn_blocking(move || candidate.verify(&password).then_some(candidate.username))
        .await
        .ok()
        .flatten();
    let Some(username) = verified else {
        for (key, allowance) in &keys {
            limits.record_failure(key, *allowance, &format!("wrong OAuth2 password for {}", target.integration.slug));
        }
        limits.record_backoff_failure(&username_typed, window);
        tracing::debug!(client = %target.integration.slug, address = ?address, "OAuth2 login failed");
        let session = signer.start(settings.login_session_ttl, chrono::Utc::now());
        let mut response = login_page(
            StatusCode::UNAUTHORIZED,
            target,
            params,
            &signer.csrf_token(&session),
            Some("Wrong username or password."),
            &typed,
        );
        set_cookie(&mut response, state, &signer.seal(&session), settings.login_session_ttl.num_seconds());
        return response;
    };
    // This client's failures for this user only: other clients' counts stay.
    if let Some(client) = address {
        limits.forget(&FailureKey::LoginUser { username: username.clone(), client });
    }
    if let Err(response) = check_access(state, target, &username).await {
        return response;
    }
    // A new session on login: an identifier planted before it is worth nothing after.
    let session = signer.login(&username, settings.login_session_ttl, chrono::Utc::now());
    let mut response = consent_page(target, params, &signer.csrf_token(&session), &username);
    set_cookie(&mut response, state, &signer.seal(&session), settings.login_session_ttl.num_seconds());
    response
}

async fn consent(
    state: &AppState,
    settings: &OAuthSettings,
    target: &AuthorizeTarget,
    params: &AuthorizeParams,
    challenge: Option<String>,
    session: &LoginSession,
    decision: Option<&str>,
) -> Response {
    let Some(username) = &session.username else {
        return error_page(StatusCode::FORBIDDEN, "Sign in first. Start again from Workfront.");
    };
    match decision {
        Some("deny") => {
            tracing::info!(client = %target.integration.slug, "OAuth2 consent denied");
            redirect(&target.error_redirect(&AuthError::OAuth {
                code: OAuthErrorCode::AccessDenied,
                description: "the user denied access".into(),
            }))
        }
        Some("allow") => match docbridge_auth::issue_code(&state.registry, settings, target, username, challenge).await
        {
            Ok(code) => {
                tracing::info!(client = %target.integration.slug, pkce = params.code_challenge.is_some(), "OAuth2 code issued");
                redirect(&target.redirect_with(&[("code", &code)]))
            }
            Err(error @ AuthError::OAuth { .. }) => redirect(&target.error_redirect(&error)),
            Err(other) => server_error_page(&other),
        },
        _ => error_page(StatusCode::BAD_REQUEST, "Choose Allow or Deny."),
    }
}

// ---- Token endpoint ----

/// An RFC 6749 §5.2 answer. Every token-endpoint answer is `no-store` (§5.1).
fn token_error(code: OAuthErrorCode, description: &str, basic_challenge: bool) -> Response {
    let status = if code == OAuthErrorCode::InvalidClient { StatusCode::UNAUTHORIZED } else { StatusCode::BAD_REQUEST };
    let body = OAuthErrorBody { error: code.as_str().to_owned(), error_description: Some(description.to_owned()) };
    let mut response = (status, Json(body)).into_response();
    // A 401 must name a scheme the client can use (RFC 9110 §15.5.2); Basic is what we take.
    if status == StatusCode::UNAUTHORIZED || basic_challenge {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Basic realm=\"docbridge\", charset=\"UTF-8\""));
    }
    response
}

fn no_store(mut response: Response) -> Response {
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response.headers_mut().insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// `POST /oauth/token`: parameters from the form body or the query string (protocol §4.2).
async fn token(
    State(state): State<AppState>,
    settings: Option<Extension<Arc<OAuthSettings>>>,
    request: Request,
) -> Response {
    let settings = settings_of(settings);
    no_store(token_answer(&state, &settings, request).await)
}

async fn token_answer(state: &AppState, settings: &OAuthSettings, request: Request) -> Response {
    if request.method() != Method::POST {
        let mut response = token_error(OAuthErrorCode::InvalidRequest, "the token endpoint takes POST", false);
        *response.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
        response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let (parts, body) = request.into_parts();
    let mut params = match Params::from_query(parts.uri.query()) {
        Ok(params) => params,
        Err(_) => return token_error(OAuthErrorCode::InvalidRequest, "the query string is malformed", false),
    };
    if params.add_form_body(&parts.headers, body).await.is_err() {
        return token_error(OAuthErrorCode::InvalidRequest, "the form body is malformed or too large", false);
    }
    let authorization = parts.headers.get_all(header::AUTHORIZATION).iter().filter_map(|v| v.to_str().ok());
    let basic = match docbridge_auth::basic_credentials(authorization) {
        Ok(basic) => basic,
        Err(AuthError::OAuth { code, description }) => return token_error(code, &description, true),
        Err(other) => return token_error(OAuthErrorCode::InvalidClient, &other.to_string(), true),
    };
    let get = |name: &str| params.get(name).map(str::to_owned);
    let client = match basic {
        Some(basic) => {
            // One authentication method per request (RFC 6749 §2.3).
            if params.get("client_secret").is_some() {
                return token_error(
                    OAuthErrorCode::InvalidRequest,
                    "send the client credentials either with HTTP Basic or as parameters, not both",
                    true,
                );
            }
            if params.get("client_id").is_some_and(|given| Some(given) != basic.client_id.as_deref()) {
                return token_error(OAuthErrorCode::InvalidRequest, "client_id differs from the HTTP Basic user", true);
            }
            basic
        }
        None => ClientCredentials { client_id: get("client_id"), client_secret: get("client_secret") },
    };
    let used_basic = client.client_secret.is_some() && params.get("client_secret").is_none();
    let request = TokenRequest {
        grant_type: get("grant_type"),
        code: get("code"),
        redirect_uri: get("redirect_uri"),
        code_verifier: get("code_verifier"),
        refresh_token: get("refresh_token"),
        client,
    };
    match docbridge_auth::exchange_token(&state.registry, settings, &request).await {
        Ok(tokens) => {
            tracing::info!(grant_type = request.grant_type.as_deref().unwrap_or(""), "OAuth2 tokens issued");
            let body = TokenResponse {
                access_token: tokens.access_token,
                token_type: "Bearer".to_owned(),
                expires_in: tokens.expires_in,
                refresh_token: Some(tokens.refresh_token),
            };
            Json(body).into_response()
        }
        Err(AuthError::OAuth { code, description }) => {
            // The description names what was wrong, never a secret: safe for the log.
            tracing::info!(error = code.as_str(), %description, client_id = request.client.client_id.as_deref().unwrap_or(""), "OAuth2 token request refused");
            token_error(code, &description, used_basic)
        }
        Err(other) => {
            tracing::error!(error = %other, "OAuth2 token request failed");
            let mut response = token_error(OAuthErrorCode::ServerError, "internal error", false);
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
            response
        }
    }
}
