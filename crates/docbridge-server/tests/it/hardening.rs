//! Issue #8, item 6, and issue #13, findings 1, 2 and 6, over real HTTP: failed
//! authentications are limited per client address (a second address, 127.0.0.2 on the loopback
//! interface, is not locked out by the first one's failures), also behind a real nginx that
//! forwards the client's address (`[http] trusted_proxies`); only wrong credentials count;
//! failed logins lock out one user from one address, not the user everywhere; and every HTML
//! page docbridge serves (signed-link pages and their error pages, the admin login page, the
//! OAuth2 login and error pages) carries the security headers.

use crate::support::in_process;
use crate::support::{oauth_pages, send};

use std::net::{IpAddr, Ipv4Addr};

use docbridge_registry::{AuthType, DefaultRole, NewOAuthToken, OAuthTokenKind, Role};
use docbridge_server::setup::{self, AddIntegration};
use in_process::InProcess;
use oauth_pages::{Browser, hidden_fields};
use reqwest::header::HeaderMap;
use serde_json::Value;

/// The in-process docbridge (`in_process.rs`) with its own limit on failed authentications.
struct Server(InProcess);

impl std::ops::Deref for Server {
    type Target = InProcess;

    fn deref(&self) -> &InProcess {
        &self.0
    }
}

impl Server {
    async fn start(max_auth_failures_per_minute: u32) -> Server {
        // On 127.0.0.1 only; clients may come from other loopback addresses (127.0.0.2).
        Server(
            InProcess::start("hardening", |settings| {
                settings.max_auth_failures_per_minute = max_auth_failures_per_minute;
            })
            .await,
        )
    }

    /// `GET /webhooks/default/files` from `client` with `key`; answers the status and the body.
    async fn files(&self, client: &reqwest::Client, key: &str) -> (u16, HeaderMap, Value) {
        let response = client
            .get(format!("{}/webhooks/default/files", self.base))
            .header("apiKey", key)
            .header("username", "tester@example.com")
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        (status, headers, response.json().await.unwrap_or(Value::Null))
    }
}

/// A client whose connections come from `address` (a loopback address other than 127.0.0.1).
fn client_from(address: Ipv4Addr) -> reqwest::Client {
    // Redirects are answers to check, not to follow.
    reqwest::Client::builder()
        .local_address(IpAddr::V4(address))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
async fn failed_authentications_lock_out_the_failing_address_only() {
    let server = Server::start(3).await;
    let mallory = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let alice = client_from(Ipv4Addr::LOCALHOST);

    for attempt in 1..=3 {
        let (status, _, body) = server.files(&mallory, "wrong-key").await;
        assert_eq!(status, 403, "wrong key {attempt} from 127.0.0.2: {body}");
    }
    let (status, headers, body) = server.files(&mallory, "wrong-key").await;
    assert_eq!(status, 429, "the 4th failure from 127.0.0.2: {body}");
    assert_eq!(body["status"], "error", "{body}");
    let wait: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!(wait >= 1);
    let (status, _, body) = server.files(&mallory, &server.key).await;
    assert_eq!(status, 429, "127.0.0.2 is locked out even with the right key: {body}");

    // Another address is not: its right key works, and its own failures count from zero.
    let (status, _, body) = server.files(&alice, &server.key).await;
    assert_eq!(status, 200, "127.0.0.1 with the right key: {body}");
    for attempt in 1..=3 {
        let (status, _, body) = server.files(&alice, "wrong-key").await;
        assert_eq!(status, 403, "wrong key {attempt} from 127.0.0.1 counts on its own: {body}");
    }
    let (status, _, _) = server.files(&alice, "wrong-key").await;
    assert_eq!(status, 429, "and 127.0.0.1 is limited alike");
    eprintln!(
        "hardening/auth-rate: 3 failures from 127.0.0.2 locked it out (429, Retry-After {wait}s, right key refused too); 127.0.0.1 served (200) and then limited on its own 3 failures"
    );
}

/// What every HTML page must carry: a Content-Security-Policy that allows nothing by default,
/// no scripts but our own, no framing; no referrer (signed URLs carry their signature); no
/// MIME sniffing.
fn assert_secured(what: &str, status: u16, headers: &HeaderMap) {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    assert!(get("content-type").starts_with("text/html"), "{what} ({status}) is a page: {headers:?}");
    let csp = get("content-security-policy");
    assert!(csp.contains("default-src 'none'"), "{what} ({status}): CSP {csp:?}");
    assert!(csp.contains("frame-ancestors 'none'"), "{what} ({status}): CSP {csp:?}");
    assert!(csp.contains("base-uri 'none'"), "{what} ({status}): CSP {csp:?}");
    assert!(!csp.contains("unsafe-eval"), "{what} ({status}): CSP {csp:?}");
    let scripts = csp.split(';').map(str::trim).find(|d| d.starts_with("script-src"));
    assert!(
        scripts.is_none_or(|d| d == "script-src 'self'"),
        "{what} ({status}): scripts only from docbridge: {csp:?}"
    );
    assert_eq!(get("referrer-policy"), "no-referrer", "{what} ({status})");
    assert_eq!(get("x-content-type-options"), "nosniff", "{what} ({status})");
    assert_eq!(get("x-frame-options"), "DENY", "{what} ({status})");
}

#[tokio::test]
async fn every_html_page_carries_the_security_headers() {
    let server = Server::start(10_000).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let api = |method: reqwest::Method, endpoint: &str| {
        http.request(method, format!("{}/webhooks/default/{endpoint}", server.base))
            .header("apiKey", &server.key)
            .header("username", "tester@example.com")
    };
    let upload = |name: &'static str| async move {
        let init =
            send(api(reqwest::Method::POST, "uploadInit").query(&[("parentId", "/"), ("filename", name)])).await.json();
        let id = init["id"].as_str().unwrap().to_owned();
        let response = api(reqwest::Method::PUT, "upload").query(&[("id", &id)]).body("hello").send().await.unwrap();
        assert_eq!(response.status(), 200);
        let meta: Value =
            api(reqwest::Method::GET, "metadata").query(&[("id", &id)]).send().await.unwrap().json().await.unwrap();
        (id, meta["viewLink"].as_str().unwrap().to_owned(), meta["downloadLink"].as_str().unwrap().to_owned())
    };
    let (_, view, download) = upload("page.txt").await;
    let (gone_id, gone_view, _) = upload("gone.txt").await;
    let response = api(reqwest::Method::PUT, "delete").query(&[("documentId", &gone_id)]).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let folder: Value =
        api(reqwest::Method::GET, "metadata").query(&[("id", "/")]).send().await.unwrap().json().await.unwrap();

    // An OAuth2 integration, for its login page.
    let redirect_uri = "https://workfront.example.com/callback";
    let (_, oauth) = setup::add_integration(
        &server.registry,
        &server.base,
        AddIntegration {
            name: "Docs".into(),
            slug: Some("docs".into()),
            auth: AuthType::OAuth2,
            root: server.dir.path().join("docs").display().to_string(),
            redirect_uris: vec![redirect_uri.to_owned()],
            request_params: Vec::new(),
            default_role: DefaultRole::Editor,
            custom_actions: Vec::new(),
        },
    )
    .await
    .unwrap();
    std::fs::create_dir_all(server.dir.path().join("docs")).unwrap();
    let client_id = oauth.client_id.unwrap();

    let tampered = format!("{view}x");
    let unsigned = view.split("&s=").next().unwrap().to_owned();
    let pages: Vec<(&str, String, u16)> = vec![
        ("a file's view page", view.clone(), 200),
        ("the root folder's view page", folder["viewLink"].as_str().unwrap().to_owned(), 200),
        ("a view link with a wrong signature", tampered, 403),
        ("a view link without its signature", unsigned, 403),
        ("a download link with a wrong signature", format!("{download}x"), 403),
        ("a view link to a deleted file", gone_view, 404),
        ("the admin login page", format!("{}/admin/login", server.base), 200),
        ("the OAuth2 login page", format!("{}/oauth/authorize?client_id={client_id}&state=s1", server.base), 200),
        (
            "the OAuth2 page for an unknown client",
            format!("{}/oauth/authorize?client_id=nobody&state=s1", server.base),
            400,
        ),
        ("the OAuth2 page for malformed parameters", format!("{}/oauth/authorize?client_id=%zz%FF", server.base), 400),
    ];
    let mut checked = 0;
    for (what, url, expected) in &pages {
        let response = http.get(url).send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.text().await.unwrap();
        // The status each page should have, loosely: success pages succeed, refusals are 4xx.
        if *expected == 200 {
            assert_eq!(status, 200, "{what}: {body}");
        } else {
            assert!((400..500).contains(&status), "{what} answered {status}: {body}");
        }
        assert_secured(what, status, &headers);
        assert!(!body.contains("<script>"), "{what}: no inline script");
        checked += 1;
    }
    eprintln!(
        "hardening/html-headers: {checked} HTML pages (link pages, their error pages, admin login, OAuth2 login and errors) all carry CSP, no-referrer, nosniff and DENY"
    );
}

/// An integration on `server`'s registry, its library folder created; answers its credentials.
async fn add_integration(
    server: &InProcess,
    slug: &str,
    auth: AuthType,
    default_role: DefaultRole,
) -> setup::IntegrationCredentials {
    let root = server.dir.path().join(slug);
    std::fs::create_dir_all(&root).unwrap();
    setup::add_integration(
        &server.registry,
        &server.base,
        AddIntegration {
            name: format!("Docs {slug}"),
            slug: Some(slug.into()),
            auth,
            root: root.display().to_string(),
            redirect_uris: vec![REDIRECT_URI.to_owned()],
            request_params: Vec::new(),
            default_role,
            custom_actions: Vec::new(),
        },
    )
    .await
    .unwrap()
    .1
}

const REDIRECT_URI: &str = "https://workfront.example.com/callback";

/// `GET {base}/webhooks/{slug}/files` from `client` with `headers`; answers the status and body.
async fn files_with(client: &reqwest::Client, base: &str, slug: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = client.get(format!("{base}/webhooks/{slug}/files"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

/// A bearer token for `username` at `integration`, stored as the authorization server stores
/// them, expiring at `expires_at`.
async fn bearer_token(
    server: &InProcess,
    slug: &str,
    username: &str,
    expires_at: chrono::DateTime<chrono::Utc>,
) -> String {
    let integration = server.registry.integration(slug).await.unwrap().unwrap();
    let user = server.registry.user(username).await.unwrap().unwrap();
    let token = format!("token-{}-{}", username, expires_at.timestamp_micros());
    server
        .registry
        .create_oauth_tokens(&[NewOAuthToken {
            token_hash: docbridge_auth::hash_secret(&token),
            kind: OAuthTokenKind::Access,
            integration_id: integration.id,
            user_id: user.id,
            origin_code_hash: None,
            expires_at,
        }])
        .await
        .unwrap();
    token
}

#[tokio::test]
async fn only_wrong_credentials_count_toward_the_lockout() {
    let server = Server::start(3).await;
    let client = reqwest::Client::new();
    // An ApiKey integration that refuses users without a grant; ann has one.
    let keyed = add_integration(&server, "keyed", AuthType::ApiKey, DefaultRole::Deny).await;
    let key = keyed.api_key.unwrap();
    server.registry.create_user("ann@example.com", &docbridge_auth::hash_password("pw").unwrap()).await.unwrap();
    server.registry.grant("ann@example.com", "keyed", Role::Editor, None).await.unwrap();
    for attempt in 1..=6 {
        let (status, body) =
            files_with(&client, &server.base, "keyed", &[("apiKey", &key), ("username", "nobody@example.com")]).await;
        assert_eq!(status, 403, "right key, user without a grant, attempt {attempt}: {body}");
        assert!(body["error"].as_str().unwrap().contains("has no access"), "{body}");
    }
    let (status, body) =
        files_with(&client, &server.base, "keyed", &[("apiKey", &key), ("username", "ann@example.com")]).await;
    assert_eq!(status, 200, "6 refusals of an ungranted user did not lock the address out: {body}");

    // An OAuth2 integration: expired and revoked tokens are refused, and do not count either.
    add_integration(&server, "docs", AuthType::OAuth2, DefaultRole::Editor).await;
    let expired =
        bearer_token(&server, "docs", "ann@example.com", chrono::Utc::now() - chrono::Duration::hours(1)).await;
    for attempt in 1..=6 {
        let bearer = format!("Bearer {expired}");
        let (status, body) = files_with(&client, &server.base, "docs", &[("authorization", &bearer)]).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (403, Some("expired bearer token")),
            "attempt {attempt}: Workfront learns to refresh"
        );
    }
    let fresh = bearer_token(&server, "docs", "ann@example.com", chrono::Utc::now() + chrono::Duration::hours(1)).await;
    let (status, body) =
        files_with(&client, &server.base, "docs", &[("authorization", &format!("Bearer {fresh}"))]).await;
    assert_eq!(status, 200, "6 expired tokens did not lock the address out: {body}");

    // Wrong credentials still do.
    for _ in 0..3 {
        let (status, _) = files_with(&client, &server.base, "docs", &[("authorization", "Bearer made-up-token")]).await;
        assert_eq!(status, 403);
    }
    let (status, body) =
        files_with(&client, &server.base, "docs", &[("authorization", &format!("Bearer {fresh}"))]).await;
    assert_eq!(status, 429, "3 made-up tokens lock this address out of docs: {body}");
    let (status, _) =
        files_with(&client, &server.base, "keyed", &[("apiKey", &key), ("username", "ann@example.com")]).await;
    assert_eq!(status, 200, "and of docs only");
    eprintln!(
        "hardening/what-counts: 6 ungranted users and 6 expired tokens (403 each) left the address served; 3 made-up tokens locked it out of that integration"
    );
}

/// The OAuth2 authorize URL of `client_id`, as Workfront sends a browser to it.
fn authorize_url(base: &str, client_id: &str) -> String {
    let mut url = url::Url::parse(&format!("{base}/oauth/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("state", "s1")
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", REDIRECT_URI);
    url.to_string()
}

/// Opens the OAuth2 login page from `http` and signs in; answers the status and the page.
async fn oauth_login(http: &reqwest::Client, base: &str, client_id: &str, user: &str, password: &str) -> (u16, String) {
    let mut browser = Browser::with_client(http.clone());
    let (status, _, page) = browser.send(http.get(authorize_url(base, client_id))).await;
    assert_eq!(status, 200, "the login page: {page}");
    let mut form = hidden_fields(&page);
    form.extend([("username".to_owned(), user.to_owned()), ("password".to_owned(), password.to_owned())]);
    let (status, _, page) = browser.send(http.post(format!("{base}/oauth/authorize")).form(&form)).await;
    (status, page)
}

/// Opens the admin login page from `http` and logs in with `token`; answers the status.
async fn admin_login(http: &reqwest::Client, base: &str, token: &str) -> u16 {
    let mut browser = Browser::with_client(http.clone());
    let (status, _, page) = browser.send(http.get(format!("{base}/admin/login"))).await;
    assert_eq!(status, 200, "the admin login page: {page}");
    let mut form = hidden_fields(&page);
    form.push(("token".to_owned(), token.to_owned()));
    browser.send(http.post(format!("{base}/admin/login")).form(&form)).await.0
}

#[tokio::test]
async fn wrong_passwords_lock_out_one_user_from_one_address() {
    let server = Server::start(10_000).await;
    let docs = add_integration(&server, "docs", AuthType::OAuth2, DefaultRole::Editor).await;
    let client_id = docs.client_id.unwrap();
    for user in ["bob@example.com", "ann@example.com"] {
        server.registry.create_user(user, &docbridge_auth::hash_password("right").unwrap()).await.unwrap();
    }
    let a = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let b = client_from(Ipv4Addr::new(127, 0, 0, 3));
    let base = &server.base;

    for attempt in 1..=5 {
        let (status, page) = oauth_login(&a, base, &client_id, "bob@example.com", "wrong").await;
        assert_eq!(status, 401, "wrong password {attempt} for bob from A: {page}");
    }
    let (status, page) = oauth_login(&a, base, &client_id, "bob@example.com", "right").await;
    assert_eq!(status, 429, "bob from A is locked out: {page}");
    assert!(page.contains("Too many failed sign-ins."), "{page}");
    // Not bob everywhere: from B, after at most a short back-off, the right password works.
    let (status, page) = oauth_login(&b, base, &client_id, "bob@example.com", "right").await;
    assert_eq!(status, 200, "bob from B signs in: {page}");
    assert!(page.contains("Allow access?"), "{page}");
    // Nor everyone at A.
    let (status, page) = oauth_login(&a, base, &client_id, "ann@example.com", "right").await;
    assert_eq!(status, 200, "ann from A signs in: {page}");

    // Made-up usernames from A: past 20 failures from A, A is locked out whoever signs in.
    for attempt in 6..=20 {
        let (status, page) = oauth_login(&a, base, &client_id, &format!("guess{attempt}@example.com"), "x").await;
        assert_eq!(status, 401, "failure {attempt} from A: {page}");
    }
    let (status, _) = oauth_login(&a, base, &client_id, "ann@example.com", "right").await;
    assert_eq!(status, 429, "A is locked out for everyone");
    let (status, page) = oauth_login(&b, base, &client_id, "ann@example.com", "right").await;
    assert_eq!(status, 200, "B is not: {page}");
    eprintln!(
        "hardening/login-lockout: 5 wrong passwords for bob from 127.0.0.2 locked bob out there only (bob from 127.0.0.3 and ann from 127.0.0.2 signed in); 20 failures locked 127.0.0.2 out for everyone, 127.0.0.3 unaffected"
    );
}

// ---- Behind a real nginx ----

/// Debian's nginx, started on a free loopback port in front of `upstream` with the
/// configuration docs/deploy.md shows, its pid, logs and temporary files in a directory of its
/// own; stopped by its PID when dropped, also when the test panics.
struct Nginx {
    child: std::process::Child,
    dir: tempfile::TempDir,
    base: String,
}

impl Nginx {
    /// `None` when nginx is not installed (`DOCBRIDGE_TEST_NGINX`, else `/usr/sbin/nginx`).
    fn start(upstream: &str) -> Option<Nginx> {
        let binary = std::env::var_os("DOCBRIDGE_TEST_NGINX")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| "/usr/sbin/nginx".into());
        if !binary.exists() {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let upstream = upstream.trim_start_matches("http://");
        let d = dir.path().display();
        // One process (`master_process off`): killing it by its PID stops nginx entirely.
        let conf = format!(
            "master_process off;\n\
             worker_processes 1;\n\
             pid {d}/nginx.pid;\n\
             error_log {d}/error.log;\n\
             events {{ worker_connections 64; }}\n\
             http {{\n\
               access_log {d}/access.log;\n\
               client_body_temp_path {d}/client_body;\n\
               proxy_temp_path {d}/proxy;\n\
               fastcgi_temp_path {d}/fastcgi;\n\
               uwsgi_temp_path {d}/uwsgi;\n\
               scgi_temp_path {d}/scgi;\n\
               server {{\n\
                 listen 127.0.0.1:{port};\n\
                 location / {{\n\
                   proxy_pass http://{upstream};\n\
                   proxy_set_header Host $http_host;\n\
                   proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n\
                   proxy_set_header X-Forwarded-Proto $scheme;\n\
                 }}\n\
               }}\n\
             }}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = std::process::Command::new(&binary)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .args(["-e", "stderr", "-g", "daemon off;"])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("stderr.log")).unwrap())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let mut nginx = Nginx { child, dir, base: format!("http://127.0.0.1:{port}") };
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            let exited = nginx.child.try_wait().unwrap();
            if exited.is_some() || std::time::Instant::now() > deadline {
                panic!("nginx did not start ({exited:?}): {}", nginx.log());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        Some(nginx)
    }

    fn log(&self) -> String {
        ["stderr.log", "error.log"]
            .iter()
            .map(|name| std::fs::read_to_string(self.dir.path().join(name)).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        crate::support::first_start::stop(&mut self.child);
    }
}

#[tokio::test]
async fn behind_nginx_one_client_cannot_lock_the_others_out() {
    const ADMIN_TOKEN: &str = "the-admin-token-of-this-test";
    let server = InProcess::start_with(
        "hardening",
        |settings| {
            settings.max_auth_failures_per_minute = 30;
            settings.trusted_proxies = docbridge_server::TrustedProxies::parse(
                &["127.0.0.1".to_owned()],
                docbridge_server::ForwardedHeader::XForwardedFor,
            )
            .unwrap();
        },
        |state| state.with_admin_token(ADMIN_TOKEN.to_owned().into()),
    )
    .await;
    let Some(nginx) = Nginx::start(&server.base) else {
        eprintln!("skipped: nginx not installed");
        return;
    };
    let base = nginx.base.clone();
    let mallory = client_from(Ipv4Addr::new(127, 0, 0, 2));
    let workfront = client_from(Ipv4Addr::new(127, 0, 0, 3));
    let files = |client: &reqwest::Client, key: &str, forged: Option<&str>| {
        let mut request = client
            .get(format!("{base}/webhooks/default/files"))
            .header("apiKey", key)
            .header("username", "tester@example.com");
        if let Some(forged) = forged {
            request = request.header("x-forwarded-for", forged);
        }
        async move { request.send().await.unwrap().status().as_u16() }
    };

    // ApiKey: 30 guesses from 127.0.0.2, then it is locked out, even with the right key and a
    // forged X-Forwarded-For (nginx appends the real address; docbridge takes the rightmost).
    assert_eq!(files(&workfront, &server.key, None).await, 200, "through nginx: {}", nginx.log());
    for attempt in 1..=30 {
        assert_eq!(files(&mallory, &format!("guess-{attempt}"), None).await, 403, "guess {attempt}");
    }
    assert_eq!(files(&mallory, "guess-31", None).await, 429);
    assert_eq!(files(&mallory, &server.key, None).await, 429, "127.0.0.2 is locked out");
    assert_eq!(files(&mallory, &server.key, Some("127.0.0.9")).await, 429, "a forged header changes nothing");
    assert_eq!(files(&workfront, &server.key, None).await, 200, "127.0.0.3, Workfront, is not locked out");

    // The OAuth2 login page.
    let docs = add_integration(&server, "docs", AuthType::OAuth2, DefaultRole::Editor).await;
    let client_id = docs.client_id.unwrap();
    server.registry.create_user("ann@example.com", &docbridge_auth::hash_password("right").unwrap()).await.unwrap();
    for attempt in 1..=5 {
        let (status, page) = oauth_login(&mallory, &base, &client_id, "ann@example.com", "wrong").await;
        assert_eq!(status, 401, "wrong password {attempt}: {page}");
    }
    let (status, _) = oauth_login(&mallory, &base, &client_id, "ann@example.com", "right").await;
    assert_eq!(status, 429, "ann from 127.0.0.2 is locked out");
    let (status, page) = oauth_login(&workfront, &base, &client_id, "ann@example.com", "right").await;
    assert_eq!(status, 200, "ann from 127.0.0.3 signs in: {page}");

    // The admin login page.
    for attempt in 1..=30 {
        assert_eq!(admin_login(&mallory, &base, "wrong").await, 403, "wrong admin token {attempt}");
    }
    assert_eq!(admin_login(&mallory, &base, ADMIN_TOKEN).await, 429, "127.0.0.2 is locked out of the admin page");
    assert_eq!(admin_login(&workfront, &base, ADMIN_TOKEN).await, 303, "127.0.0.3 logs in");

    let forwarded = std::fs::read_to_string(nginx.dir.path().join("access.log")).unwrap_or_default().lines().count();
    drop(nginx);
    eprintln!(
        "hardening/behind-nginx: through Debian's nginx ({forwarded} requests), 127.0.0.2 was locked out of the ApiKey integration, the OAuth2 login and the admin login after its failures while 127.0.0.3 was served each time"
    );
}
