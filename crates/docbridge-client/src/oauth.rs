//! The calling side of OAuth2 (contract C23): what Workfront does with an OAuth2 integration,
//! done from the command line with the `oauth2` crate.
//!
//! [`login_flow`] opens the provider's authorization URL with a fresh `state` and a PKCE S256
//! challenge, receives the redirect on a loopback listener (127.0.0.1), checks `state`,
//! exchanges the code and returns a [`TokenSet`]. [`refresh`] renews it, and [`with_refresh`]
//! wraps a call so that a 403 leads to one refresh and one retry, as Workfront does (protocol
//! §3.2, §13.7).
//!
//! Token answers are read leniently (protocol §13.14): a missing `token_type` is taken as
//! Bearer, a string `expires_in` (or the docs' misspelt `expires_id`) as a number.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};
use oauth2::basic::{BasicClient, BasicErrorResponse, BasicTokenResponse};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, RedirectUrl, RefreshToken, RequestTokenError, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

use crate::ClientError;

/// The redirect URI of a remote added without one: a fixed port, so that it can be registered
/// with the provider once (docbridge and most providers compare redirect URIs exactly).
pub const DEFAULT_REDIRECT_URI: &str = "http://127.0.0.1:53691/callback";
/// How long [`login_flow`] waits for the browser to come back.
pub const LOGIN_TIMEOUT: Duration = Duration::from_secs(10 * 60);
/// How long one connection to the loopback listener may take to send its request.
const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest request head the loopback listener reads.
const MAX_REQUEST_HEAD: usize = 16 * 1024;
/// The largest token-endpoint answer read.
const MAX_TOKEN_BODY: usize = 1024 * 1024;
/// How long one token request may take.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The OAuth2 fields of an integration record (Workfront's *Add Custom Integration* form).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthConfig {
    /// The *Authentication URL*; it may carry parameters of its own (`?client_id=...`).
    pub authorization_url: String,
    /// The *Token Endpoint URL*.
    pub token_url: String,
    /// The client ID registered with the authorization server.
    pub client_id: String,
    /// The client secret, for confidential clients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The *Workfront Redirect URI*: for [`login_flow`], an `http://127.0.0.1:PORT/...` URL on
    /// this machine (without a port, any free one is used and sent).
    pub redirect_uri: String,
}

impl std::fmt::Debug for OAuthConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthConfig")
            .field("authorization_url", &self.authorization_url)
            .field("token_url", &self.token_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

impl OAuthConfig {
    /// Checks what would otherwise only fail at login: both URLs, the client ID, and that the
    /// redirect URI is one the loopback listener can receive (`http://127.0.0.1:PORT/...`).
    pub fn validate(&self) -> Result<(), OAuthError> {
        parse_url("authorization URL", &self.authorization_url)?;
        parse_url("token URL", &self.token_url)?;
        if self.client_id.trim().is_empty() {
            return Err(OAuthError::Config("the client ID is empty".into()));
        }
        loopback_redirect(self).map(drop)
    }
}

/// Tokens from the token endpoint.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenSet {
    /// The token calls carry as `Authorization: Bearer`.
    pub access_token: String,
    /// The token that gets a new access token, when the server issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires, if the provider said (`expires_in`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<DateTime<Utc>>,
}

impl std::fmt::Debug for TokenSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSet")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &self.refresh_token.as_ref().map(|_| "[redacted]"))
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// Why an OAuth2 step failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OAuthError {
    /// The integration's OAuth2 fields cannot be used (bad URL, redirect URI not on this machine).
    #[error("{0}")]
    Config(String),
    /// The loopback listener could not be opened or read.
    #[error("{context}: {source}")]
    Listener {
        /// What was being done (binding the address, reading the request).
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The redirect carried another `state` than the one sent: not the answer to our request.
    #[error("the redirect's state does not match the request's: refusing it (possible cross-site request forgery)")]
    StateMismatch,
    /// The authorization server redirected back with an error (`access_denied` when the user
    /// clicked Deny).
    #[error("the provider refused the authorization: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Denied {
        /// The RFC 6749 error code (`access_denied`, ...).
        error: String,
        /// The server's explanation, when it gave one.
        description: Option<String>,
    },
    /// The redirect carried neither a code nor an error.
    #[error("the redirect carries no authorization code")]
    MissingCode,
    /// Nobody came back to the loopback listener in time.
    #[error("no redirect arrived within {}", human_duration(*.0))]
    Timeout(Duration),
    /// The token endpoint answered with an RFC 6749 §5.2 error.
    #[error("the token endpoint refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Token {
        /// The RFC 6749 error code (`invalid_grant`, ...).
        error: String,
        /// The server's explanation, when it gave one.
        description: Option<String>,
    },
    /// The token request did not complete.
    #[error("token request failed: {0}")]
    Transport(String),
    /// The token endpoint's answer is not a token response, even read leniently.
    #[error("could not read the token endpoint's answer: {0}")]
    Decode(String),
    /// A refresh was needed but there is no refresh token.
    #[error("the access token was refused and there is no refresh token: log in again")]
    NoRefreshToken,
}

/// The outcome of a call wrapped by [`with_refresh`].
#[derive(Debug, thiserror::Error)]
pub enum CallError<E: std::error::Error + 'static> {
    /// The call failed (after the retry, if there was one).
    #[error(transparent)]
    Call(E),
    /// The call was refused and refreshing the token failed.
    #[error(transparent)]
    Refresh(OAuthError),
}

/// `10 minutes`, `90 seconds`: for messages.
fn human_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        1 => "1 second".to_owned(),
        60 => "1 minute".to_owned(),
        s if s >= 120 && s % 60 == 0 => format!("{} minutes", s / 60),
        s => format!("{s} seconds"),
    }
}

/// An error that means "these credentials are refused": the trigger to refresh.
pub trait AuthRejection {
    /// Whether the error says the credentials were refused (and a refresh may help).
    fn is_auth_rejection(&self) -> bool;
}

/// 403, as Workfront reads it (protocol §3.2); 401 is not a refresh trigger there.
impl AuthRejection for ClientError {
    fn is_auth_rejection(&self) -> bool {
        self.status() == Some(403)
    }
}

// ---- The HTTP client under `oauth2` ----

/// The error of the HTTP adapter.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct HttpError(String);

/// The `oauth2` crate's HTTP client interface over reqwest 0.13 (its own adapter is for 0.12).
/// Redirects are not followed, which the `oauth2` crate asks of every adapter (SSRF).
fn http_client() -> Result<reqwest::Client, OAuthError> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(TOKEN_TIMEOUT)
        .build()
        .map_err(|e| OAuthError::Config(format!("cannot build the HTTP client: {e}")))
}

async fn send(http: reqwest::Client, request: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
    let request = reqwest::Request::try_from(request).map_err(|e| HttpError(e.to_string()))?;
    let mut response = http.execute(request).await.map_err(|e| HttpError(e.without_url().to_string()))?;
    let status = response.status();
    let headers = response.headers().clone();
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| HttpError(e.without_url().to_string()))? {
        if body.len() + chunk.len() > MAX_TOKEN_BODY {
            return Err(HttpError(format!("the answer is larger than {MAX_TOKEN_BODY} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    let mut builder = oauth2::http::Response::builder().status(status);
    for (name, value) in &headers {
        builder = builder.header(name, value);
    }
    let mut answer = builder.body(body).map_err(|e| HttpError(e.to_string()))?;
    lenient_token_body(&mut answer);
    Ok(answer)
}

/// Rewrites a JSON answer into the strict shape the `oauth2` crate parses: JSON content type
/// whatever was declared, `token_type` defaulting to Bearer, `expires_in` as a number.
fn lenient_token_body(response: &mut oauth2::HttpResponse) {
    let Ok(serde_json::Value::Object(mut object)) = serde_json::from_slice::<serde_json::Value>(response.body()) else {
        return;
    };
    response
        .headers_mut()
        .insert(oauth2::http::header::CONTENT_TYPE, oauth2::http::HeaderValue::from_static("application/json"));
    if response.status().is_success() {
        if !object.contains_key("expires_in")
            && let Some(value) = object.remove("expires_id")
        {
            object.insert("expires_in".into(), value);
        }
        match object.get("expires_in") {
            Some(serde_json::Value::String(text)) => match text.trim().parse::<u64>() {
                Ok(secs) => {
                    object.insert("expires_in".into(), secs.into());
                }
                Err(_) => {
                    object.remove("expires_in");
                }
            },
            Some(serde_json::Value::Null) => {
                object.remove("expires_in");
            }
            _ => {}
        }
        if !matches!(object.get("token_type"), Some(serde_json::Value::String(_))) {
            object.insert("token_type".into(), "Bearer".into());
        }
    }
    if let Ok(body) = serde_json::to_vec(&object) {
        *response.body_mut() = body;
    }
}

// ---- The flow ----

type ConfiguredClient = BasicClient<EndpointSet, EndpointNotSet, EndpointNotSet, EndpointNotSet, EndpointSet>;

fn parse_url(what: &str, raw: &str) -> Result<Url, OAuthError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| OAuthError::Config(format!("{what} {raw:?} is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(OAuthError::Config(format!("{what} {raw:?} must use http or https")));
    }
    Ok(url)
}

/// The `oauth2` client for a config. Client credentials go in the body, as Workfront sends them
/// (protocol §4.2), which every provider that follows Workfront's docs accepts.
fn oauth_client(config: &OAuthConfig, redirect: Option<&Url>) -> Result<ConfiguredClient, OAuthError> {
    let mut authorization = parse_url("authorization URL", &config.authorization_url)?;
    // The parameters `oauth2` adds itself; a registered Authentication URL often carries
    // `client_id` already (docbridge's does), and sending it twice is asking for trouble.
    let added = ["client_id", "response_type", "redirect_uri", "state", "code_challenge", "code_challenge_method"];
    let kept: Vec<(String, String)> = authorization
        .query_pairs()
        .filter(|(k, _)| !added.contains(&k.as_ref()))
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    authorization.set_query(None);
    if !kept.is_empty() {
        authorization.query_pairs_mut().extend_pairs(kept);
    }
    let token = parse_url("token URL", &config.token_url)?;
    let mut client = BasicClient::new(ClientId::new(config.client_id.clone()))
        .set_auth_uri(AuthUrl::from_url(authorization))
        .set_token_uri(TokenUrl::from_url(token))
        .set_auth_type(AuthType::RequestBody);
    if let Some(secret) = &config.client_secret {
        client = client.set_client_secret(ClientSecret::new(secret.clone()));
    }
    if let Some(redirect) = redirect {
        client = client.set_redirect_uri(RedirectUrl::from_url(redirect.clone()));
    }
    Ok(client)
}

fn token_set(response: &BasicTokenResponse, previous_refresh: Option<&str>) -> TokenSet {
    TokenSet {
        access_token: response.access_token().secret().clone(),
        // A provider that does not rotate may leave the refresh token out of a refresh answer.
        refresh_token: response
            .refresh_token()
            .map(|t| t.secret().clone())
            .or_else(|| previous_refresh.map(str::to_owned)),
        expires_at: response.expires_in().and_then(|d| chrono::Duration::from_std(d).ok()).map(|d| Utc::now() + d),
    }
}

fn token_error(error: RequestTokenError<HttpError, BasicErrorResponse>) -> OAuthError {
    match error {
        RequestTokenError::ServerResponse(body) => OAuthError::Token {
            error: body.error().as_ref().to_owned(),
            description: body.error_description().cloned(),
        },
        RequestTokenError::Request(e) => OAuthError::Transport(e.0),
        RequestTokenError::Parse(e, _) => OAuthError::Decode(e.to_string()),
        RequestTokenError::Other(message) => OAuthError::Decode(message),
    }
}

/// The redirect URI the listener serves, and the address to listen on: 127.0.0.1 and the URI's
/// port (0, any free port, when it names none).
fn loopback_redirect(config: &OAuthConfig) -> Result<(Url, u16), OAuthError> {
    let url = parse_url("redirect URI", &config.redirect_uri)?;
    let on_this_machine = matches!(url.host_str(), Some("127.0.0.1" | "localhost"));
    if url.scheme() != "http" || !on_this_machine {
        return Err(OAuthError::Config(format!(
            "redirect URI {:?}: the login flow receives the redirect itself, so it must be http://127.0.0.1:PORT/... (register that URI with the provider)",
            config.redirect_uri
        )));
    }
    Ok((url.clone(), url.port().unwrap_or(0)))
}

/// Runs the authorization-code flow: binds the loopback listener the redirect URI names, hands
/// the authorization URL to `open_url` (print it, or open a browser), waits for the redirect,
/// checks `state` and exchanges the code.
pub async fn login_flow(config: &OAuthConfig, open_url: impl FnOnce(&Url)) -> Result<TokenSet, OAuthError> {
    login_flow_within(config, LOGIN_TIMEOUT, open_url).await
}

/// [`login_flow`], waiting at most `timeout` for the browser to come back.
pub async fn login_flow_within(
    config: &OAuthConfig,
    timeout: Duration,
    open_url: impl FnOnce(&Url),
) -> Result<TokenSet, OAuthError> {
    let (_, port) = loopback_redirect(config)?;
    let listener = TcpListener::bind(("127.0.0.1", port)).await.map_err(|source| OAuthError::Listener {
        context: format!("cannot listen for the redirect on 127.0.0.1:{port}"),
        source,
    })?;
    login_flow_on_within(listener, config, timeout, open_url).await
}

/// [`login_flow`] on a listener the caller has bound already (on 127.0.0.1, at the redirect
/// URI's port), so that a caller can pick a free port first and register it.
pub async fn login_flow_on(
    listener: TcpListener,
    config: &OAuthConfig,
    open_url: impl FnOnce(&Url),
) -> Result<TokenSet, OAuthError> {
    login_flow_on_within(listener, config, LOGIN_TIMEOUT, open_url).await
}

/// [`login_flow_on`], waiting at most `timeout` for the browser to come back.
pub async fn login_flow_on_within(
    listener: TcpListener,
    config: &OAuthConfig,
    timeout: Duration,
    open_url: impl FnOnce(&Url),
) -> Result<TokenSet, OAuthError> {
    let (mut redirect, port) = loopback_redirect(config)?;
    let local = listener
        .local_addr()
        .map_err(|source| OAuthError::Listener { context: "the redirect listener has no address".into(), source })?;
    if port != 0 && port != local.port() {
        return Err(OAuthError::Config(format!("the redirect URI names port {port}, but the listener is on {local}")));
    }
    if port == 0 {
        // Any free port: the redirect URI sent is the one actually listened on.
        redirect
            .set_port(Some(local.port()))
            .map_err(|()| OAuthError::Config("cannot set the redirect URI's port".into()))?;
    }
    let client = oauth_client(config, Some(&redirect))?;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state) = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge).url();
    open_url(&url);
    let code = tokio::time::timeout(timeout, receive_redirect(&listener, redirect.path(), state.secret()))
        .await
        .map_err(|_| OAuthError::Timeout(timeout))??;
    let http = http_client()?;
    let response = client
        .exchange_code(AuthorizationCode::new(code))
        .set_pkce_verifier(verifier)
        .request_async(&|request| send(http.clone(), request))
        .await
        .map_err(token_error)?;
    Ok(token_set(&response, None))
}

/// Renews a token set with its refresh token. The answer's refresh token replaces the old one
/// when there is one (a rotating provider); otherwise the old one is kept.
pub async fn refresh(config: &OAuthConfig, tokens: &TokenSet) -> Result<TokenSet, OAuthError> {
    let refresh_token = tokens.refresh_token.as_deref().ok_or(OAuthError::NoRefreshToken)?;
    let client = oauth_client(config, None)?;
    let http = http_client()?;
    let token = RefreshToken::new(refresh_token.to_owned());
    let response = client
        .exchange_refresh_token(&token)
        .request_async(&|request| send(http.clone(), request))
        .await
        .map_err(token_error)?;
    Ok(token_set(&response, Some(refresh_token)))
}

/// Calls `call` with the access token; if it is refused ([`AuthRejection`]), refreshes `tokens`
/// once (updating them in place, for the caller to store) and calls once more, as Workfront
/// does (C23).
pub async fn with_refresh<T, E, F, Fut>(
    config: &OAuthConfig,
    tokens: &mut TokenSet,
    mut call: F,
) -> Result<T, CallError<E>>
where
    E: AuthRejection + std::error::Error + 'static,
    F: FnMut(String) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    match call(tokens.access_token.clone()).await {
        Err(error) if error.is_auth_rejection() => {
            if tokens.refresh_token.is_none() {
                return Err(CallError::Call(error));
            }
            *tokens = refresh(config, tokens).await.map_err(CallError::Refresh)?;
            call(tokens.access_token.clone()).await.map_err(CallError::Call)
        }
        other => other.map_err(CallError::Call),
    }
}

// ---- The loopback listener ----

/// Accepts connections until one requests `path`; answers it with a page saying how the login
/// went, and returns the code. Other paths (a browser's `/favicon.ico`) get a 404.
async fn receive_redirect(listener: &TcpListener, path: &str, expected_state: &str) -> Result<String, OAuthError> {
    loop {
        let (mut stream, _) = listener
            .accept()
            .await
            .map_err(|source| OAuthError::Listener { context: "accepting the redirect".into(), source })?;
        // A connection that sends nothing must not hold up the one that matters.
        let Ok(Ok(target)) = tokio::time::timeout(REQUEST_HEAD_TIMEOUT, read_request_target(&mut stream)).await else {
            continue;
        };
        let Ok(url) = Url::parse("http://127.0.0.1").and_then(|base| base.join(&target)) else {
            respond(&mut stream, "400 Bad Request", "This is not a request docbridge understands.").await;
            continue;
        };
        if url.path() != path {
            respond(&mut stream, "404 Not Found", "Nothing here.").await;
            continue;
        }
        let outcome = redirect_outcome(&url, expected_state);
        let message = match &outcome {
            Ok(_) => "Signed in. You can close this window and go back to docbridge.".to_owned(),
            Err(e) => format!("The sign-in did not work: {e}"),
        };
        respond(&mut stream, if outcome.is_ok() { "200 OK" } else { "400 Bad Request" }, &message).await;
        return outcome;
    }
}

/// What a redirect says: the code, if `state` is ours and there is no error.
fn redirect_outcome(url: &Url, expected_state: &str) -> Result<String, OAuthError> {
    let param = |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
    // `state` first: an error or a code without our state is not the answer to our request.
    if param("state").as_deref() != Some(expected_state) {
        return Err(OAuthError::StateMismatch);
    }
    if let Some(error) = param("error") {
        return Err(OAuthError::Denied { error, description: param("error_description") });
    }
    param("code").filter(|c| !c.is_empty()).ok_or(OAuthError::MissingCode)
}

/// The request target of an HTTP/1 request (`GET /callback?code=... HTTP/1.1`).
async fn read_request_target(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::new();
    let mut buffer = [0u8; 2048];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let read = stream.read(&mut buffer).await?;
        if read == 0 || head.len() + read > MAX_REQUEST_HEAD {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    let text = String::from_utf8_lossy(&head);
    let mut words = text.lines().next().unwrap_or("").split_whitespace();
    match (words.next(), words.next()) {
        (Some("GET"), Some(target)) => Ok(target.to_owned()),
        _ => Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "not a GET request")),
    }
}

async fn respond(stream: &mut TcpStream, status: &str, message: &str) {
    let escaped = message.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>docbridge</title></head><body><p>{escaped}</p></body></html>"
    );
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nCache-Control: no-store\r\nReferrer-Policy: no-referrer\r\nConnection: close\r\n\r\n",
        body.len()
    );
    // The browser may have gone; the outcome stands either way.
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(redirect: &str) -> OAuthConfig {
        OAuthConfig {
            authorization_url: "https://provider.example/oauth/authorize?client_id=abc&tenant=7".into(),
            token_url: "https://provider.example/oauth/token".into(),
            client_id: "abc".into(),
            client_secret: Some("s3cret".into()),
            redirect_uri: redirect.into(),
        }
    }

    #[test]
    fn the_authorization_url_has_each_parameter_once() {
        let config = config("http://127.0.0.1:8123/cb");
        let redirect = Url::parse(&config.redirect_uri).unwrap();
        let client = oauth_client(&config, Some(&redirect)).unwrap();
        let (challenge, _) = PkceCodeChallenge::new_random_sha256();
        let (url, state) = client.authorize_url(CsrfToken::new_random).set_pkce_challenge(challenge).url();
        let pairs: Vec<(String, String)> = url.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
        let count = |name: &str| pairs.iter().filter(|(k, _)| k == name).count();
        for name in
            ["client_id", "response_type", "state", "code_challenge", "code_challenge_method", "redirect_uri", "tenant"]
        {
            assert_eq!(count(name), 1, "{name} in {url}");
        }
        let value = |name: &str| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        assert_eq!(value("state"), Some(state.secret().as_str()));
        assert_eq!(value("code_challenge_method"), Some("S256"));
        assert_eq!(value("redirect_uri"), Some("http://127.0.0.1:8123/cb"));
        assert!(state.secret().len() >= 16, "state carries enough randomness");
    }

    #[test]
    fn redirects_are_checked_state_first() {
        let url = |q: &str| Url::parse(&format!("http://127.0.0.1/cb?{q}")).unwrap();
        assert_eq!(redirect_outcome(&url("code=c1&state=s1"), "s1").unwrap(), "c1");
        assert!(matches!(redirect_outcome(&url("code=c1&state=other"), "s1"), Err(OAuthError::StateMismatch)));
        assert!(matches!(redirect_outcome(&url("code=c1"), "s1"), Err(OAuthError::StateMismatch)));
        assert!(matches!(
            redirect_outcome(&url("error=access_denied&state=other"), "s1"),
            Err(OAuthError::StateMismatch)
        ));
        match redirect_outcome(&url("error=access_denied&error_description=no&state=s1"), "s1") {
            Err(OAuthError::Denied { error, description }) => {
                assert_eq!((error.as_str(), description.as_deref()), ("access_denied", Some("no")))
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(redirect_outcome(&url("state=s1"), "s1"), Err(OAuthError::MissingCode)));
    }

    #[test]
    fn redirect_uris_must_be_loopback() {
        assert_eq!(loopback_redirect(&config("http://127.0.0.1:8123/cb")).unwrap().1, 8123);
        assert_eq!(loopback_redirect(&config("http://localhost/cb")).unwrap().1, 0);
        for bad in ["https://127.0.0.1:8123/cb", "http://example.com/cb", "not a url"] {
            assert!(matches!(loopback_redirect(&config(bad)), Err(OAuthError::Config(_))), "{bad}");
        }
    }

    #[test]
    fn token_answers_are_read_leniently() {
        let answer = |body: &str| {
            let mut response = oauth2::http::Response::builder()
                .status(200)
                .header("content-type", "text/plain")
                .body(body.as_bytes().to_vec())
                .unwrap();
            lenient_token_body(&mut response);
            let parsed: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
            (response.headers()["content-type"].to_str().unwrap().to_owned(), parsed)
        };
        let (content_type, body) = answer(r#"{"access_token":"a","refresh_token":"r","expires_id":"3600"}"#);
        assert_eq!(content_type, "application/json");
        assert_eq!(
            body,
            serde_json::json!({"access_token":"a","refresh_token":"r","expires_in":3600,"token_type":"Bearer"})
        );
        let (_, body) = answer(r#"{"access_token":"a","token_type":"bearer","expires_in":null}"#);
        assert_eq!(body, serde_json::json!({"access_token":"a","token_type":"bearer"}));
        let parsed: BasicTokenResponse =
            serde_json::from_value(answer(r#"{"access_token":"a","expires_in":"60"}"#).1).unwrap();
        assert_eq!(parsed.expires_in(), Some(Duration::from_secs(60)));
    }

    #[test]
    fn timeouts_read_as_people_say_them() {
        let message = |secs| OAuthError::Timeout(Duration::from_secs(secs)).to_string();
        assert_eq!(message(600), "no redirect arrived within 10 minutes");
        assert_eq!(message(60), "no redirect arrived within 1 minute");
        assert_eq!(message(90), "no redirect arrived within 90 seconds");
        assert_eq!(message(1), "no redirect arrived within 1 second");
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let tokens =
            TokenSet { access_token: "acc355".into(), refresh_token: Some("r3fr35h".into()), expires_at: None };
        let text = format!("{tokens:?} {:?}", config("http://127.0.0.1/cb"));
        for secret in ["acc355", "r3fr35h", "s3cret"] {
            assert!(!text.contains(secret), "{text}");
        }
    }

    #[derive(Debug, thiserror::Error)]
    #[error("refused: {0}")]
    struct Refused(u16);

    impl AuthRejection for Refused {
        fn is_auth_rejection(&self) -> bool {
            self.0 == 403
        }
    }

    #[tokio::test]
    async fn without_a_refresh_token_a_rejection_is_returned_as_it_is() {
        let mut tokens = TokenSet { access_token: "a".into(), refresh_token: None, expires_at: None };
        let mut calls = 0;
        let result: Result<(), _> = with_refresh(&config("http://127.0.0.1/cb"), &mut tokens, |_| {
            calls += 1;
            async { Err(Refused(403)) }
        })
        .await;
        assert!(matches!(result, Err(CallError::Call(Refused(403)))));
        assert_eq!(calls, 1);
        let result: Result<(), _> =
            with_refresh(&config("http://127.0.0.1/cb"), &mut tokens, |_| async { Err(Refused(404)) }).await;
        assert!(matches!(result, Err(CallError::Call(Refused(404)))), "only 403 triggers a refresh");
    }
}
