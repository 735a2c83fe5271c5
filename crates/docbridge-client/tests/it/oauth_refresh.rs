//! OAuth2 remotes in the file commands (C23): the stored access token goes out as a bearer
//! token, a 403 leads to one refresh and one retry, and the renewed tokens are written back to
//! the remotes file. Against a small provider on 127.0.0.1 whose token endpoint rotates tokens.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use docbridge_client::commands;
use docbridge_client::oauth::{OAuthConfig, TokenSet};
use docbridge_client::remotes::{Location, RemoteStore};
use docbridge_client::{Auth, ClientError, RemoteConfig};
use serde_json::json;

/// What the provider knows: the one access token it accepts, the one refresh token it honours,
/// and what it was asked.
#[derive(Default)]
struct Provider {
    access: String,
    refresh: String,
    refreshes: u32,
    /// The bearer token of every `/files` and `/upload` call, in order.
    seen: Vec<String>,
}

type Shared = Arc<Mutex<Provider>>;

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_owned()
}

/// Records the call's token; answers whether it is the one in force.
fn accepted(state: &Shared, headers: &HeaderMap) -> bool {
    let mut provider = state.lock().unwrap();
    let token = bearer(headers);
    provider.seen.push(token.clone());
    token == provider.access
}

fn refused() -> Response {
    (StatusCode::FORBIDDEN, axum::Json(json!({"status": "error", "error": "expired bearer token"}))).into_response()
}

async fn files(State(state): State<Shared>, headers: HeaderMap) -> Response {
    if accepted(&state, &headers) { axum::Json(json!([])).into_response() } else { refused() }
}

async fn upload(State(state): State<Shared>, headers: HeaderMap, _body: Bytes) -> Response {
    if accepted(&state, &headers) { axum::Json(json!({"result": "success"})).into_response() } else { refused() }
}

/// `grant_type=refresh_token`: a new access token and a new refresh token (rotation).
async fn token(State(state): State<Shared>, body: Bytes) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let mut provider = state.lock().unwrap();
    let known = form.get("grant_type").map(String::as_str) == Some("refresh_token")
        && form.get("client_id").map(String::as_str) == Some("cid")
        && form.get("refresh_token") == Some(&provider.refresh);
    if !known {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": "the refresh token has been revoked"})),
        )
            .into_response();
    }
    provider.refreshes += 1;
    provider.access = format!("access-{}", provider.refreshes);
    provider.refresh = format!("refresh-{}", provider.refreshes);
    axum::Json(json!({
        "access_token": provider.access,
        "refresh_token": provider.refresh,
        "token_type": "Bearer",
        "expires_in": 3600
    }))
    .into_response()
}

/// The provider, with `access-0` and `refresh-0` in force: its state, its base URL, and an empty
/// data folder for the client's remotes.
async fn start() -> (Shared, String, tempfile::TempDir) {
    let state = Shared::default();
    {
        let mut provider = state.lock().unwrap();
        provider.access = "access-0".into();
        provider.refresh = "refresh-0".into();
    }
    let app = Router::new()
        .route("/api/files", get(files))
        .route("/api/upload", put(upload))
        .route("/token", post(token))
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (state, base, tempfile::tempdir().unwrap())
}

fn oauth(base: &str) -> OAuthConfig {
    OAuthConfig {
        authorization_url: format!("{base}/authorize"),
        token_url: format!("{base}/token"),
        client_id: "cid".into(),
        client_secret: Some("secret".into()),
        redirect_uri: "http://127.0.0.1:53691/callback".into(),
    }
}

fn tokens(access: &str, refresh: Option<&str>) -> TokenSet {
    TokenSet { access_token: access.into(), refresh_token: refresh.map(str::to_owned), expires_at: None }
}

/// Stores remote `wf` with these tokens in `data_dir`.
fn store_remote(data_dir: &Path, base: &str, tokens: Option<TokenSet>) {
    let auth = Auth::OAuth2 { oauth: oauth(base), tokens };
    commands::add_remote(data_dir, RemoteConfig::new("wf", format!("{base}/api"), auth), true).unwrap();
}

fn stored_tokens(data_dir: &Path) -> Option<TokenSet> {
    match &RemoteStore::load(data_dir).unwrap().require("wf").unwrap().auth {
        Auth::OAuth2 { tokens, .. } => tokens.clone(),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_refused_token_is_refreshed_once_retried_once_and_stored() {
    let (state, base, dir) = start().await;
    store_remote(dir.path(), &base, Some(tokens("access-0", Some("refresh-0"))));

    // In force: sent as it is, nothing refreshed.
    let client = commands::open_remote(dir.path(), "wf").unwrap();
    assert!(commands::list(&client, &Location::Root).await.unwrap().is_empty());
    assert_eq!(state.lock().unwrap().refreshes, 0);

    // The provider moves on (expiry, revocation): the next command refreshes and retries.
    state.lock().unwrap().access = "access-elsewhere".into();
    let client = commands::open_remote(dir.path(), "wf").unwrap();
    assert!(commands::list(&client, &Location::Root).await.unwrap().is_empty());
    {
        let provider = state.lock().unwrap();
        assert_eq!(provider.refreshes, 1);
        assert_eq!(provider.seen, ["access-0", "access-0", "access-1"], "one retry, with the new token");
    }
    let stored = stored_tokens(dir.path()).unwrap();
    assert_eq!((stored.access_token.as_str(), stored.refresh_token.as_deref()), ("access-1", Some("refresh-1")));
    assert!(stored.expires_at.is_some(), "expires_in 3600 gives an expiry");
    assert_eq!(client.tokens(), Some(stored));

    // The next command starts from the stored tokens: no refresh needed.
    let client = commands::open_remote(dir.path(), "wf").unwrap();
    commands::list(&client, &Location::Root).await.unwrap();
    assert_eq!(state.lock().unwrap().refreshes, 1);
    assert_eq!(state.lock().unwrap().seen.last().unwrap(), "access-1");
}

#[tokio::test]
async fn calls_refused_together_refresh_once() {
    let (state, base, dir) = start().await;
    store_remote(dir.path(), &base, Some(tokens("stale", Some("refresh-0"))));
    let client = commands::open_remote(dir.path(), "wf").unwrap();
    let (a, b, c) =
        tokio::join!(client.files("/", None, None), client.files("/", None, None), client.files("/", None, None));
    for outcome in [a, b, c] {
        outcome.unwrap();
    }
    // With rotation, a second refresh with the old refresh token would have failed.
    assert_eq!(state.lock().unwrap().refreshes, 1);
    assert_eq!(stored_tokens(dir.path()).unwrap().refresh_token.as_deref(), Some("refresh-1"));
}

#[tokio::test]
async fn without_a_refresh_token_or_with_a_revoked_one_the_error_says_to_log_in() {
    let (state, base, dir) = start().await;

    store_remote(dir.path(), &base, None);
    let error = commands::open_remote(dir.path(), "wf").unwrap_err();
    assert!(matches!(&error, ClientError::NotLoggedIn { remote } if remote == "wf"), "{error:?}");
    assert_eq!(error.to_string(), "remote \"wf\" is not logged in yet: run `docbridge remote login wf` first");

    store_remote(dir.path(), &base, Some(tokens("stale", None)));
    let client = commands::open_remote(dir.path(), "wf").unwrap();
    let error = commands::list(&client, &Location::Root).await.unwrap_err();
    assert_eq!(error.status(), Some(403));
    assert!(error.to_string().contains("expired bearer token"), "{error}");
    assert!(error.to_string().contains("log in again with `docbridge remote login wf`"), "{error}");

    store_remote(dir.path(), &base, Some(tokens("stale", Some("revoked"))));
    let client = commands::open_remote(dir.path(), "wf").unwrap();
    let error = commands::list(&client, &Location::Root).await.unwrap_err();
    assert!(matches!(error, ClientError::Refresh { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        "remote \"wf\": the access token was refused and renewing it failed: the token endpoint refused: \
         invalid_grant (the refresh token has been revoked); log in again with `docbridge remote login wf`"
    );
    assert_eq!(stored_tokens(dir.path()).unwrap(), tokens("stale", Some("revoked")), "nothing stored");
    assert_eq!(state.lock().unwrap().seen, ["stale", "stale"], "no retry without new tokens");
}

#[tokio::test]
async fn a_streamed_upload_is_not_sent_twice_but_the_tokens_are_renewed() {
    let (state, base, dir) = start().await;
    store_remote(dir.path(), &base, Some(tokens("stale", Some("refresh-0"))));
    let client = commands::open_remote(dir.path(), "wf").unwrap();
    let body = futures::stream::iter([Ok::<_, std::io::Error>(Bytes::from_static(b"hello"))]);
    let error = client.upload("item", body, Some(5)).await.unwrap_err();
    assert_eq!(error.status(), Some(403));
    assert!(error.to_string().contains("run the command again"), "{error}");
    assert_eq!(state.lock().unwrap().seen, ["stale"]);
    assert_eq!(stored_tokens(dir.path()).unwrap().access_token, "access-1");
    // A body in memory is sent again.
    state.lock().unwrap().access = "moved-on".into();
    client.upload_bytes("item", &b"hello"[..]).await.unwrap();
    assert_eq!(state.lock().unwrap().seen[1..], ["access-1", "access-2"]);
}
