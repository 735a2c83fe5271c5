//! OAuth2 end to end over real HTTP on 127.0.0.1 (C4, C23): the client crate's login flow
//! against docbridge's authorization server, with the login and consent pages driven as a
//! browser drives them, then every refusal with its exact error.
//!
//! Each test boots its own server(s) on a temporary SQLite registry, registers an OAuth2
//! integration whose Workfront Redirect URI points at a loopback listener, and creates a user.

use docbridge_auth::{OAuthSettings, hash_password, hash_secret};
use docbridge_client::oauth::{CallError, OAuthConfig, OAuthError, TokenSet, login_flow_on, refresh, with_refresh};
use docbridge_client::{Auth, Client, ClientError, RemoteConfig};
use docbridge_registry::{AuthType, DefaultRole, OAuthRevocation, Registry};
use docbridge_server::setup::{self, AddIntegration};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::net::TcpListener;

use crate::support::{in_process, oauth_pages};
use oauth_pages::hidden_fields;

const USER: &str = "ann@example.com";
const PASSWORD: &str = "correct horse battery staple";
/// A state with characters that need escaping, to see it handed back unchanged.
const STATE: &str = "st/ate?a=1&b=é +";
/// RFC 7636 appendix B.
const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// An OAuth2 integration `docs` on one server, its credentials, a user, and the loopback
/// listener its Redirect URI names.
struct Fixture {
    dir: TempDir,
    registry: Registry,
    base: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    callback: Option<TcpListener>,
    http: reqwest::Client,
}

impl Fixture {
    async fn new(settings: OAuthSettings) -> Fixture {
        Self::with_role(settings, DefaultRole::Editor).await
    }

    async fn with_role(settings: OAuthSettings, default_role: DefaultRole) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        // Where `docbridge --data-dir DIR` looks, so the command line sees the same registry.
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("docbridge.db").display());
        let registry = Registry::connect(&url).await.unwrap();
        let base = in_process::serve_oauth(&registry, dir.path(), settings).await;
        let callback = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let redirect_uri = format!("http://{}/callback", callback.local_addr().unwrap());
        let (client_id, client_secret) =
            Self::register(&registry, &base, &dir, "docs", &redirect_uri, default_role).await;
        registry.create_user(USER, &hash_password(PASSWORD).unwrap()).await.unwrap();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Fixture { dir, registry, base, client_id, client_secret, redirect_uri, callback: Some(callback), http }
    }

    async fn register(
        registry: &Registry,
        base: &str,
        dir: &TempDir,
        slug: &str,
        redirect_uri: &str,
        default_role: DefaultRole,
    ) -> (String, String) {
        let root = dir.path().join(slug);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("hello.txt"), "hello").unwrap();
        let (_, credentials) = setup::add_integration(
            registry,
            base,
            AddIntegration {
                name: format!("Docs {slug}"),
                slug: Some(slug.into()),
                auth: AuthType::OAuth2,
                root: root.display().to_string(),
                redirect_uris: vec![redirect_uri.to_owned()],
                request_params: vec![],
                default_role,
                custom_actions: vec![],
            },
        )
        .await
        .unwrap();
        assert_eq!(
            credentials.authentication_url.as_deref(),
            Some(format!("{base}/oauth/authorize?client_id={}", credentials.client_id.clone().unwrap()).as_str())
        );
        assert_eq!(credentials.token_endpoint_url.as_deref(), Some(format!("{base}/oauth/token").as_str()));
        (credentials.client_id.unwrap(), credentials.client_secret.unwrap())
    }

    fn client_config(&self, token_base: &str) -> OAuthConfig {
        OAuthConfig {
            authorization_url: format!("{}/oauth/authorize?client_id={}", self.base, self.client_id),
            token_url: format!("{token_base}/oauth/token"),
            client_id: self.client_id.clone(),
            client_secret: Some(self.client_secret.clone()),
            redirect_uri: self.redirect_uri.clone(),
        }
    }

    /// The authorize URL as Workfront builds it: the registered Authentication URL plus `state`.
    fn authorize_url(&self, extra: &[(&str, &str)]) -> String {
        let mut url = url::Url::parse(&format!("{}/oauth/authorize?client_id={}", self.base, self.client_id)).unwrap();
        url.query_pairs_mut().append_pair("state", STATE).extend_pairs(extra);
        url.into()
    }

    /// Opens `authorize_url`, logs in and answers the consent page, as a browser; returns the
    /// last answer (the redirect, or whatever page came instead of the next step).
    async fn browse_authorize(&self, authorize_url: &str, password: &str, decision: &str) -> Page {
        let mut browser = Browser::new(&self.http);
        let login = browser.get(authorize_url).await;
        if login.status != 200 || !login.body.contains("name=\"password\"") {
            return login;
        }
        let mut form = hidden_fields(&login.body);
        form.push(("username".into(), USER.into()));
        form.push(("password".into(), password.into()));
        let consent = browser.post(&format!("{}/oauth/authorize", self.base), &form).await;
        if consent.status != 200 || !consent.body.contains("name=\"decision\"") {
            return consent;
        }
        let mut form = hidden_fields(&consent.body);
        form.push(("decision".into(), decision.into()));
        browser.post(&format!("{}/oauth/authorize", self.base), &form).await
    }

    /// A code for `extra` authorize parameters, through the pages.
    async fn code(&self, extra: &[(&str, &str)]) -> String {
        let page = self.browse_authorize(&self.authorize_url(extra), PASSWORD, "allow").await;
        assert_eq!(page.status, 303, "{}", page.body);
        let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
        assert_eq!(query_value(&location, "state").as_deref(), Some(STATE), "state comes back unchanged");
        assert!(location.as_str().starts_with(&self.redirect_uri));
        query_value(&location, "code").unwrap()
    }

    /// Body parameters with the client's credentials.
    fn with_client<'a>(&'a self, params: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut all = params.to_vec();
        all.push(("client_id", &self.client_id));
        all.push(("client_secret", &self.client_secret));
        all
    }

    async fn token(&self, form: &[(&str, &str)]) -> TokenAnswer {
        TokenAnswer::of(self.http.post(format!("{}/oauth/token", self.base)).form(form).send().await.unwrap()).await
    }

    async fn exchange(&self, code: &str, extra: &[(&str, &str)]) -> TokenAnswer {
        let mut params = vec![("grant_type", "authorization_code"), ("code", code)];
        params.extend_from_slice(extra);
        self.token(&self.with_client(&params)).await
    }

    async fn refresh_with(&self, refresh_token: &str) -> TokenAnswer {
        self.token(&self.with_client(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])).await
    }

    /// `GET /files` of the root with a bearer token: status and body.
    async fn files(&self, base: &str, access_token: &str) -> (StatusCode, Value) {
        let response =
            self.http.get(format!("{base}/webhooks/docs/files")).bearer_auth(access_token).send().await.unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }
}

/// A token-endpoint answer; every one must forbid caching (RFC 6749 §5.1).
struct TokenAnswer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl TokenAnswer {
    async fn of(response: reqwest::Response) -> TokenAnswer {
        let status = response.status();
        let headers = response.headers().clone();
        assert_eq!(headers.get("cache-control").map(|v| v.to_str().unwrap()), Some("no-store"), "{status}");
        assert_eq!(headers.get("pragma").map(|v| v.to_str().unwrap()), Some("no-cache"), "{status}");
        TokenAnswer { status, headers, body: response.json().await.unwrap() }
    }

    fn ok(self) -> (String, String) {
        assert_eq!(self.status, StatusCode::OK, "{}", self.body);
        assert_eq!(self.body["token_type"], "Bearer");
        (
            self.body["access_token"].as_str().unwrap().to_owned(),
            self.body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    fn refused(&self, status: StatusCode, error: &str, description: &str) {
        assert_eq!((self.status, &self.body), (status, &json!({"error": error, "error_description": description})));
    }
}

/// A page as a browser got it.
#[derive(Debug)]
struct Page {
    status: u16,
    location: Option<String>,
    headers: HeaderMap,
    body: String,
}

/// Just enough of a browser: no redirects followed, the `docbridge_oauth` cookie kept.
struct Browser<'a> {
    http: &'a reqwest::Client,
    cookie: Option<String>,
}

impl<'a> Browser<'a> {
    fn new(http: &'a reqwest::Client) -> Self {
        Browser { http, cookie: None }
    }

    async fn send(&mut self, request: reqwest::RequestBuilder) -> Page {
        let request = match &self.cookie {
            Some(cookie) => request.header("cookie", cookie),
            None => request,
        };
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Path=/oauth"), "{set}");
            self.cookie = set.split(';').next().map(str::to_owned);
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let location = headers.get("location").map(|v| v.to_str().unwrap().to_owned());
        Page { status, location, headers, body: response.text().await.unwrap() }
    }

    async fn get(&mut self, url: &str) -> Page {
        self.send(self.http.get(url)).await
    }

    async fn post(&mut self, url: &str, form: &[(String, String)]) -> Page {
        self.send(self.http.post(url).form(form)).await
    }
}

fn query_value(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn names(listing: &Value) -> Vec<&str> {
    listing.as_array().unwrap().iter().map(|item| item["title"].as_str().unwrap()).collect()
}

/// Runs the client crate's login flow against the fixture, with a task playing the browser:
/// it gets the URL `login_flow` hands out, drives the pages, and follows the redirect to the
/// loopback listener, with `tamper` applied to it first. Returns the flow's outcome and the
/// status the loopback listener answered the browser with.
async fn client_login(
    fixture: &mut Fixture,
    config: &OAuthConfig,
    tamper: fn(url::Url) -> url::Url,
) -> (Result<TokenSet, OAuthError>, u16) {
    let (tx, rx) = tokio::sync::oneshot::channel::<url::Url>();
    let browser = {
        let http = fixture.http.clone();
        let base = fixture.base.clone();
        let fixture_view = BrowserView { http: http.clone(), base };
        tokio::spawn(async move {
            let url = rx.await.unwrap();
            let page = fixture_view.drive(url.as_str()).await;
            assert_eq!(page.status, 303, "{}", page.body);
            let back = tamper(url::Url::parse(page.location.as_deref().unwrap()).unwrap());
            http.get(back).send().await.unwrap().status().as_u16()
        })
    };
    let listener = fixture.callback.take().unwrap();
    let outcome = login_flow_on(listener, config, move |url| {
        tx.send(url.clone()).unwrap();
    })
    .await;
    (outcome, browser.await.unwrap())
}

/// What the browser task needs of a fixture.
struct BrowserView {
    http: reqwest::Client,
    base: String,
}

impl BrowserView {
    async fn drive(&self, url: &str) -> Page {
        let mut browser = Browser::new(&self.http);
        let login = browser.get(url).await;
        assert_eq!(login.status, 200, "{}", login.body);
        let mut form = hidden_fields(&login.body);
        assert!(form.iter().any(|(k, v)| k == "code_challenge_method" && v == "S256"), "the client sends PKCE S256");
        form.extend([("username".to_owned(), USER.to_owned()), ("password".to_owned(), PASSWORD.to_owned())]);
        let consent = browser.post(&format!("{}/oauth/authorize", self.base), &form).await;
        assert_eq!(consent.status, 200, "{}", consent.body);
        let mut form = hidden_fields(&consent.body);
        form.push(("decision".into(), "allow".into()));
        browser.post(&format!("{}/oauth/authorize", self.base), &form).await
    }
}

fn instant_expiry() -> OAuthSettings {
    OAuthSettings { access_token_ttl: chrono::Duration::zero(), ..OAuthSettings::default() }
}

#[tokio::test]
async fn login_browse_expire_refresh_and_browse_again() {
    // Process A issues access tokens that expire at once; process B, on the same registry,
    // issues normal ones: a code or refresh token from one is good at the other (C24).
    let mut fixture = Fixture::new(instant_expiry()).await;
    let other_process = in_process::serve_oauth(&fixture.registry, fixture.dir.path(), OAuthSettings::default()).await;
    let config = fixture.client_config(&fixture.base.clone());
    let (outcome, loopback_status) = client_login(&mut fixture, &config, |url| url).await;
    assert_eq!(loopback_status, 200);
    let mut tokens = outcome.unwrap();
    assert!(tokens.refresh_token.is_some());
    assert!(tokens.expires_at.is_some_and(|at| at <= chrono::Utc::now()), "expires_in 0");

    // Expired at once: 403, which is what makes Workfront refresh.
    let (status, body) = fixture.files(&fixture.base, &tokens.access_token).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"status": "error", "error": "expired bearer token"})));

    // Through the client crate, as Workfront does: 403, refresh once, retry once. Refreshing
    // at A gives another token that is expired at once, so the retry is refused too.
    let docs = Client::new(&RemoteConfig::new("docs", format!("{}/webhooks/docs", fixture.base), Auth::None)).unwrap();
    let list = |token: String| {
        let client = docs.with_auth(Auth::Bearer { token });
        async move { client.files("/", None, None).await }
    };
    let before = tokens.access_token.clone();
    match with_refresh(&config, &mut tokens, list).await {
        Err(CallError::Call(error @ ClientError::Provider { .. })) => assert_eq!(error.status(), Some(403)),
        other => panic!("{other:?}"),
    }
    assert_ne!(tokens.access_token, before, "the refresh happened");

    // Refreshing at B gives a token in force: the retry browses.
    let at_b = fixture.client_config(&other_process);
    let listing = with_refresh(&at_b, &mut tokens, list).await.unwrap();
    assert_eq!(listing.iter().map(|i| i.title.as_str()).collect::<Vec<_>>(), ["hello.txt"]);
    let (status, body) = fixture.files(&fixture.base, &tokens.access_token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(names(&body), ["hello.txt"]);
    // Without rotation the refresh token stays the same.
    assert_eq!(tokens.refresh_token, refresh(&at_b, &tokens).await.unwrap().refresh_token);
}

#[tokio::test]
async fn a_revoked_access_token_is_refused_and_a_refresh_restores_access() {
    let mut fixture = Fixture::new(OAuthSettings::default()).await;
    let config = fixture.client_config(&fixture.base.clone());
    let (outcome, _) = client_login(&mut fixture, &config, |url| url).await;
    let tokens = outcome.unwrap();
    assert_eq!(fixture.files(&fixture.base, &tokens.access_token).await.0, StatusCode::OK);
    let revoked = fixture
        .registry
        .revoke_oauth_tokens(OAuthRevocation::Token { token_hash: &hash_secret(&tokens.access_token) })
        .await
        .unwrap();
    assert_eq!(revoked, 1);
    let (status, body) = fixture.files(&fixture.base, &tokens.access_token).await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"status": "error", "error": "invalid bearer token"})));
    let renewed = refresh(&config, &tokens).await.unwrap();
    assert_eq!(fixture.files(&fixture.base, &renewed.access_token).await.0, StatusCode::OK);

    // Revoking the user's tokens (what `docbridge token revoke --user` does) ends the refresh too.
    let integration = fixture.registry.integration("docs").await.unwrap().unwrap();
    fixture
        .registry
        .revoke_oauth_tokens(OAuthRevocation::User { username: USER, integration_id: Some(integration.id) })
        .await
        .unwrap();
    assert_eq!(fixture.files(&fixture.base, &renewed.access_token).await.0, StatusCode::FORBIDDEN);
    match refresh(&config, &renewed).await {
        Err(OAuthError::Token { error, description }) => assert_eq!(
            (error.as_str(), description.as_deref()),
            ("invalid_grant", Some("the refresh token has been revoked"))
        ),
        other => panic!("{other:?}"),
    }
    fixture.refresh_with(renewed.refresh_token.as_deref().unwrap()).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the refresh token has been revoked",
    );
}

#[tokio::test]
async fn unknown_and_garbage_bearer_tokens_are_forbidden() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let (status, body) = fixture.files(&fixture.base, "not-a-token").await;
    assert_eq!((status, body), (StatusCode::FORBIDDEN, json!({"status": "error", "error": "invalid bearer token"})));
    let response = fixture.http.get(format!("{}/webhooks/docs/files", fixture.base)).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"status": "error", "error": "missing bearer token (Authorization: Bearer ...)"})
    );
}

#[tokio::test]
async fn the_client_rejects_a_redirect_with_another_state() {
    let mut fixture = Fixture::new(OAuthSettings::default()).await;
    let config = fixture.client_config(&fixture.base.clone());
    let (outcome, loopback_status) = client_login(&mut fixture, &config, |mut url| {
        let pairs: Vec<(String, String)> = url
            .query_pairs()
            .map(|(k, v)| (k.to_string(), if k == "state" { "forged".to_owned() } else { v.into_owned() }))
            .collect();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url
    })
    .await;
    assert!(matches!(outcome, Err(OAuthError::StateMismatch)), "{outcome:?}");
    assert_eq!(loopback_status, 400);
}

#[tokio::test]
async fn bad_clients_and_redirect_uris_get_an_error_page_and_never_a_redirect() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let cases = [
        (
            fixture.authorize_url(&[("redirect_uri", "https://evil.example/callback")]),
            "redirect_uri is not a Workfront Redirect URI registered for this integration",
        ),
        // A prefix of the registered URI is not the registered URI.
        (
            fixture.authorize_url(&[("redirect_uri", &fixture.redirect_uri[..fixture.redirect_uri.len() - 1])]),
            "redirect_uri is not a Workfront Redirect URI registered for this integration",
        ),
        (format!("{}/oauth/authorize?client_id=nobody&state=s", fixture.base), "no integration has this client_id"),
        (format!("{}/oauth/authorize?state=s", fixture.base), "client_id is required"),
        (format!("{}/oauth/authorize?client_id={}", fixture.base, fixture.client_id), "state is required"),
    ];
    for (url, message) in cases {
        let page = Browser::new(&fixture.http).get(&url).await;
        assert_eq!((page.status, page.location.as_deref()), (400, None), "{url}");
        assert!(page.body.contains(message), "{url}: {}", page.body);
        assert_eq!(page.headers["cache-control"], "no-store");
    }
}

#[tokio::test]
async fn several_registered_redirect_uris_need_one_named() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let mut integration = fixture.registry.integration("docs").await.unwrap().unwrap();
    integration.redirect_uris.push("https://wf.example/other".into());
    fixture.registry.update_integration(&integration).await.unwrap();
    let page = Browser::new(&fixture.http).get(&fixture.authorize_url(&[])).await;
    assert_eq!((page.status, page.location.as_deref()), (400, None));
    assert!(page.body.contains("redirect_uri is required: the integration has several registered"), "{}", page.body);
    // Naming one works, and the token request must then repeat it.
    let code = fixture.code(&[("redirect_uri", &fixture.redirect_uri.clone())]).await;
    fixture.exchange(&code, &[]).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "redirect_uri is required: the authorization request carried one",
    );
    fixture.exchange(&code, &[("redirect_uri", "https://wf.example/other")]).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "redirect_uri does not match the authorization request's",
    );
    fixture.exchange(&code, &[("redirect_uri", &fixture.redirect_uri)]).await.ok();
}

#[tokio::test]
async fn a_reused_code_is_refused_and_revokes_what_it_gave() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let code = fixture.code(&[]).await;
    let (access, refresh_token) = fixture.exchange(&code, &[]).await.ok();
    assert_eq!(fixture.files(&fixture.base, &access).await.0, StatusCode::OK);
    // A token issued by refresh belongs to the same family and goes too.
    let (refreshed_access, _) = fixture.refresh_with(&refresh_token).await.ok();

    fixture.exchange(&code, &[]).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the authorization code has already been used; the tokens issued from it are revoked",
    );
    for token in [&access, &refreshed_access] {
        let (status, body) = fixture.files(&fixture.base, token).await;
        assert_eq!(
            (status, body),
            (StatusCode::FORBIDDEN, json!({"status": "error", "error": "invalid bearer token"}))
        );
    }
    fixture.refresh_with(&refresh_token).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the refresh token has been revoked",
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let fixture = Fixture::new(OAuthSettings { code_ttl: chrono::Duration::zero(), ..OAuthSettings::default() }).await;
    let code = fixture.code(&[]).await;
    fixture.exchange(&code, &[]).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the authorization code has expired",
    );
}

#[tokio::test]
async fn a_wrong_client_secret_is_invalid_client() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let code = fixture.code(&[]).await;
    for (client_id, secret) in [(fixture.client_id.as_str(), "wrong"), ("nobody", fixture.client_secret.as_str())] {
        let answer = fixture
            .token(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("client_id", client_id),
                ("client_secret", secret),
            ])
            .await;
        answer.refused(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
        assert_eq!(answer.headers["www-authenticate"], "Basic realm=\"docbridge\", charset=\"UTF-8\"");
    }
    let answer = fixture.token(&[("grant_type", "authorization_code"), ("code", &code)]).await;
    answer.refused(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication is required (client_id and client_secret, or HTTP Basic)",
    );
    // The failed attempts did not burn the code.
    fixture.exchange(&code, &[]).await.ok();
}

#[tokio::test]
async fn a_code_issued_to_another_client_is_refused() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let (other_id, other_secret) = Fixture::register(
        &fixture.registry,
        &fixture.base,
        &fixture.dir,
        "other",
        "https://wf.example/other",
        DefaultRole::Editor,
    )
    .await;
    // A grant presented with the other client's credentials.
    let as_other = |grant: &'static str, name: &'static str, value: String| {
        let (other_id, other_secret) = (other_id.clone(), other_secret.clone());
        let fixture = &fixture;
        async move {
            fixture
                .token(&[
                    ("grant_type", grant),
                    (name, &value),
                    ("client_id", &other_id),
                    ("client_secret", &other_secret),
                ])
                .await
        }
    };
    let code = fixture.code(&[]).await;
    let answer = as_other("authorization_code", "code", code.clone()).await;
    answer.refused(StatusCode::BAD_REQUEST, "invalid_grant", "the authorization code was issued to another client");
    // ... and that other client could neither burn nor revoke it.
    let (_, refresh_token) = fixture.exchange(&code, &[]).await.ok();
    let answer = as_other("refresh_token", "refresh_token", refresh_token).await;
    answer.refused(StatusCode::BAD_REQUEST, "invalid_grant", "the refresh token was issued to another client");
}

#[tokio::test]
async fn deny_redirects_with_access_denied_and_the_state() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let page = fixture.browse_authorize(&fixture.authorize_url(&[]), PASSWORD, "deny").await;
    assert_eq!(page.status, 303, "{}", page.body);
    let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
    assert!(location.as_str().starts_with(&format!("{}?", fixture.redirect_uri)), "{location}");
    let pairs: Vec<(String, String)> = location.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let expected = [("error", "access_denied"), ("error_description", "the user denied access"), ("state", STATE)]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
    assert_eq!(pairs, expected);
}

#[tokio::test]
async fn pkce_is_enforced() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let pkce = [("code_challenge", CHALLENGE), ("code_challenge_method", "S256")];

    let code = fixture.code(&pkce).await;
    fixture.exchange(&code, &[]).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "code_verifier is required: the authorization request had a code_challenge",
    );
    let wrong = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx";
    fixture.exchange(&code, &[("code_verifier", wrong)]).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "code_verifier does not match the code_challenge",
    );
    fixture.exchange(&code, &[("code_verifier", VERIFIER)]).await.ok();

    // A verifier for a code issued without a challenge: a downgrade.
    let code = fixture.code(&[]).await;
    fixture.exchange(&code, &[("code_verifier", VERIFIER)]).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "code_verifier sent, but the authorization request had no code_challenge",
    );

    // `plain`, explicit or by default, goes back to the client before any login.
    for method in [Some("plain"), None] {
        let mut extra = vec![("code_challenge", VERIFIER)];
        extra.extend(method.map(|m| ("code_challenge_method", m)));
        let page = Browser::new(&fixture.http).get(&fixture.authorize_url(&extra)).await;
        assert_eq!(page.status, 303);
        let location = url::Url::parse(page.location.as_deref().unwrap()).unwrap();
        assert_eq!(query_value(&location, "error").as_deref(), Some("invalid_request"));
        assert_eq!(
            query_value(&location, "error_description").as_deref(),
            Some("code_challenge_method must be S256 (plain is not accepted)")
        );
        assert_eq!(query_value(&location, "state").as_deref(), Some(STATE));
    }
}

#[tokio::test]
async fn http_basic_client_authentication_and_query_string_parameters() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let token_url = format!("{}/oauth/token", fixture.base);
    let code = fixture.code(&[]).await;
    let response = fixture
        .http
        .post(&token_url)
        .basic_auth(&fixture.client_id, Some(&fixture.client_secret))
        .form(&[("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await
        .unwrap();
    let (access, refresh_token) = TokenAnswer::of(response).await.ok();
    assert_eq!(fixture.files(&fixture.base, &access).await.0, StatusCode::OK);

    // Everything in the query string, nothing in the body (protocol §4.2 "Query Parameters").
    let response = fixture
        .http
        .post(&token_url)
        .query(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("client_id", &fixture.client_id),
            ("client_secret", &fixture.client_secret),
        ])
        .send()
        .await
        .unwrap();
    let answer = TokenAnswer::of(response).await;
    assert_eq!(answer.body["expires_in"], 3600);
    let (access, _) = answer.ok();
    assert_eq!(fixture.files(&fixture.base, &access).await.0, StatusCode::OK);

    let response = fixture
        .http
        .post(&token_url)
        .basic_auth(&fixture.client_id, Some("wrong"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", &refresh_token)])
        .send()
        .await
        .unwrap();
    let answer = TokenAnswer::of(response).await;
    answer.refused(StatusCode::UNAUTHORIZED, "invalid_client", "client authentication failed");
    assert_eq!(answer.headers["www-authenticate"], "Basic realm=\"docbridge\", charset=\"UTF-8\"");

    let response = fixture
        .http
        .post(&token_url)
        .basic_auth(&fixture.client_id, Some(&fixture.client_secret))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token.as_str()),
            ("client_secret", &fixture.client_secret),
        ])
        .send()
        .await
        .unwrap();
    TokenAnswer::of(response).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "send the client credentials either with HTTP Basic or as parameters, not both",
    );
}

#[tokio::test]
async fn token_endpoint_refusals() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    fixture.token(&fixture.with_client(&[])).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "grant_type is required",
    );
    fixture.token(&fixture.with_client(&[("grant_type", "password")])).await.refused(
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
        "grant_type \"password\" is not supported (authorization_code, refresh_token)",
    );
    fixture.token(&fixture.with_client(&[("grant_type", "authorization_code")])).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        "code is required",
    );
    fixture.exchange("made-up", &[]).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the authorization code is unknown",
    );
    fixture.refresh_with("made-up").await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the refresh token is unknown",
    );
    let response = fixture.http.get(format!("{}/oauth/token", fixture.base)).send().await.unwrap();
    let answer = TokenAnswer::of(response).await;
    answer.refused(StatusCode::METHOD_NOT_ALLOWED, "invalid_request", "the token endpoint takes POST");

    fixture.registry.set_integration_enabled("docs", false).await.unwrap();
    fixture.exchange("made-up", &[]).await.refused(
        StatusCode::BAD_REQUEST,
        "unauthorized_client",
        "the integration is disabled",
    );
}

#[tokio::test]
async fn rotation_issues_new_refresh_tokens_and_reuse_revokes_the_family() {
    let fixture = Fixture::new(OAuthSettings { rotate_refresh_tokens: true, ..OAuthSettings::default() }).await;
    let code = fixture.code(&[]).await;
    let (_, first) = fixture.exchange(&code, &[]).await.ok();
    let (access, second) = fixture.refresh_with(&first).await.ok();
    assert_ne!(first, second);
    assert_eq!(fixture.files(&fixture.base, &access).await.0, StatusCode::OK);
    // The rotated token comes back: someone holds a copy. Everything from that login goes.
    fixture.refresh_with(&first).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the refresh token has been revoked",
    );
    assert_eq!(fixture.files(&fixture.base, &access).await.0, StatusCode::FORBIDDEN);
    fixture.refresh_with(&second).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the refresh token has been revoked",
    );
}

#[tokio::test]
async fn failed_logins_are_rate_limited() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    for _ in 0..5 {
        let page = fixture.browse_authorize(&fixture.authorize_url(&[]), "wrong password", "allow").await;
        assert_eq!(page.status, 401);
        assert!(page.body.contains("Wrong username or password."), "{}", page.body);
    }
    // Now even the right password is refused until the window has passed.
    let page = fixture.browse_authorize(&fixture.authorize_url(&[]), PASSWORD, "allow").await;
    assert_eq!(page.status, 429, "{}", page.body);
    assert!(page.body.contains("Too many failed sign-ins."), "{}", page.body);
    let retry_after: u64 = page.headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=900).contains(&retry_after), "{retry_after}");
}

#[tokio::test]
async fn forms_need_the_session_they_were_served_with() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let mut browser = Browser::new(&fixture.http);
    let login = browser.get(&fixture.authorize_url(&[])).await;
    let mut form = hidden_fields(&login.body);
    form.extend([("username".to_owned(), USER.to_owned()), ("password".to_owned(), PASSWORD.to_owned())]);
    // Another site's form post: the fields, but not the cookie.
    let page = Browser::new(&fixture.http).post(&format!("{}/oauth/authorize", fixture.base), &form).await;
    assert_eq!(page.status, 403);
    assert!(page.body.contains("This sign-in page has expired or was not opened here."), "{}", page.body);
    // The cookie, but not the CSRF token.
    let forged: Vec<(String, String)> =
        form.iter().map(|(k, v)| (k.clone(), if k == "csrf" { "forged".to_owned() } else { v.clone() })).collect();
    assert_eq!(browser.post(&format!("{}/oauth/authorize", fixture.base), &forged).await.status, 403);
    // Consent without having logged in.
    let mut consent: Vec<(String, String)> = form.iter().filter(|(k, _)| k != "step").cloned().collect();
    consent.extend([("step".to_owned(), "consent".to_owned()), ("decision".to_owned(), "allow".to_owned())]);
    let page = browser.post(&format!("{}/oauth/authorize", fixture.base), &consent).await;
    assert_eq!((page.status, page.location), (403, None));
}

#[tokio::test]
async fn a_user_without_access_gets_no_code() {
    let fixture = Fixture::with_role(OAuthSettings::default(), DefaultRole::Deny).await;
    let page = fixture.browse_authorize(&fixture.authorize_url(&[]), PASSWORD, "allow").await;
    assert_eq!((page.status, page.location.as_deref()), (403, None));
    assert!(
        page.body.contains("ann@example.com has no access to Docs docs. Ask an administrator for access."),
        "{}",
        page.body
    );
}

#[tokio::test]
async fn the_command_line_lists_and_revokes_tokens() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let code = fixture.code(&[]).await;
    let (access, _) = fixture.exchange(&code, &[]).await.ok();
    let docbridge = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_docbridge"))
            .arg("--data-dir")
            .arg(fixture.dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    let listed: Value =
        serde_json::from_str(&docbridge(&["token", "list", "--integration", "docs", "--json"])).unwrap();
    let listed = listed.as_array().unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed.iter().all(|t| t["integration"] == "docs" && t["username"] == USER && t["state"] == "active"));
    let mut kinds: Vec<&str> = listed.iter().map(|t| t["kind"].as_str().unwrap()).collect();
    kinds.sort_unstable();
    assert_eq!(kinds, ["access", "refresh"]);
    let text = docbridge(&["token", "list"]);
    assert!(!text.contains(&access), "tokens are never shown");

    assert_eq!(
        docbridge(&["token", "revoke", "--user", "Ann@Example.com", "--integration", "docs"]).trim(),
        "Revoked 2 token(s) of ann@example.com in docs."
    );
    assert_eq!(fixture.files(&fixture.base, &access).await.0, StatusCode::FORBIDDEN);
    assert_eq!(docbridge(&["token", "list", "--json"]).trim(), "[]");
    assert_eq!(
        docbridge(&["token", "revoke", "--all", "--integration", "docs"]).trim(),
        "Revoked 0 token(s) of every user in docs."
    );
}

/// Issue #13, finding 4: after `user delete`, the user's refresh and access tokens went on
/// working, and a new user of the same name inherited them. Now they are refused with the
/// contract's answers for an invalid token: `invalid_grant` at the token endpoint, 403
/// "invalid bearer token" on provider calls.
#[tokio::test]
async fn a_deleted_users_tokens_are_refused_even_after_the_name_is_reused() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    let admin = setup::Admin::new(fixture.registry.clone(), fixture.base.clone(), "cli");
    let code = fixture.code(&[]).await;
    let (access, refresh_token) = fixture.exchange(&code, &[]).await.ok();
    assert_eq!(fixture.files(&fixture.base, &access).await.0, StatusCode::OK);

    let invalid_bearer = (StatusCode::FORBIDDEN, json!({"status": "error", "error": "invalid bearer token"}));
    admin.delete_user(USER).await.unwrap();
    assert_eq!(fixture.files(&fixture.base, &access).await, invalid_bearer);
    fixture.refresh_with(&refresh_token).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the refresh token is unknown",
    );

    admin.add_user(USER, PASSWORD).await.unwrap();
    assert_eq!(fixture.files(&fixture.base, &access).await, invalid_bearer, "a new user of the same name");
    fixture.refresh_with(&refresh_token).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the refresh token is unknown",
    );
    // The new user's own login works.
    let code = fixture.code(&[]).await;
    let (access, _) = fixture.exchange(&code, &[]).await.ok();
    assert_eq!(fixture.files(&fixture.base, &access).await.0, StatusCode::OK);
}

/// A new password and a revoked grant end the tokens issued before them, and the codes not yet
/// redeemed.
#[tokio::test]
async fn a_new_password_or_a_revoked_grant_revokes_tokens_and_codes() {
    let fixture = Fixture::with_role(OAuthSettings::default(), DefaultRole::Editor).await;
    let admin = setup::Admin::new(fixture.registry.clone(), fixture.base.clone(), "cli");
    let revoked = |answer: TokenAnswer| {
        answer.refused(StatusCode::BAD_REQUEST, "invalid_grant", "the refresh token has been revoked")
    };

    let (access, refresh_token) = fixture.exchange(&fixture.code(&[]).await, &[]).await.ok();
    let pending = fixture.code(&[]).await;
    admin.set_password(USER, PASSWORD).await.unwrap();
    assert_eq!(fixture.files(&fixture.base, &access).await.0, StatusCode::FORBIDDEN);
    revoked(fixture.refresh_with(&refresh_token).await);
    fixture.exchange(&pending, &[]).await.refused(
        StatusCode::BAD_REQUEST,
        "invalid_grant",
        "the authorization code has already been used; the tokens issued from it are revoked",
    );

    admin.grant(USER, "docs", docbridge_registry::Role::Editor, None).await.unwrap();
    let (access, refresh_token) = fixture.exchange(&fixture.code(&[]).await, &[]).await.ok();
    let pending = fixture.code(&[]).await;
    admin.revoke(USER, "docs").await.unwrap();
    assert_eq!(fixture.files(&fixture.base, &access).await.0, StatusCode::FORBIDDEN);
    revoked(fixture.refresh_with(&refresh_token).await);
    assert_eq!(fixture.exchange(&pending, &[]).await.status, StatusCode::BAD_REQUEST);
}
