//! The admin web page over real HTTP, as a browser without JavaScript would use it: login with
//! the admin token, the session cookie's attributes, CSRF on every form, integrations (add, edit,
//! enable, disable, rotate, delete), the connection test, users and roles, the audit trail, and
//! the headers that keep the pages safe. `tests/browser/admin.spec.mjs` drives the same pages in
//! Chromium.

use crate::support::in_process;
use crate::support::oauth_pages;

use std::sync::Arc;

use docbridge_registry::Registry;
use docbridge_server::{AppState, BuiltinStorage, setup};
use reqwest::{Method, StatusCode};

const TOKEN: &str = "admin-token-for-tests-0123456789";

struct Server {
    base: String,
    /// The default integration's ApiKey.
    key: String,
    registry: Registry,
    dir: tempfile::TempDir,
}

impl Server {
    async fn start(token: &str) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let registry =
            Registry::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("db.sqlite").display())).await.unwrap();
        Self::start_on(dir, registry, token).await
    }

    async fn start_on(dir: tempfile::TempDir, registry: Registry, token: &str) -> Server {
        let docs = dir.path().join("documents");
        std::fs::create_dir_all(&docs).unwrap();
        let (listener, base) = in_process::listen().await;
        let key = setup::ensure_default_integration(&registry, &base, &docs)
            .await
            .unwrap()
            .and_then(|c| c.api_key)
            .unwrap_or_default();
        let settings = in_process::settings(&base, dir.path(), "docbridge admin page tests");
        let state = AppState::new(registry.clone(), settings, Arc::new(BuiltinStorage::default()))
            .await
            .unwrap()
            .with_admin_token(secrecy::SecretString::from(token.to_owned()));
        tokio::spawn(docbridge_server::serve(listener, docbridge_server::router(state), std::future::pending()));
        Server { base, key, registry, dir }
    }

    /// A server whose admin token is [`TOKEN`], and a browser signed in with it.
    async fn start_signed_in() -> (Server, Browser) {
        let server = Self::start(TOKEN).await;
        let browser = server.signed_in().await;
        (server, browser)
    }

    /// A browser signed in with the admin token.
    async fn signed_in(&self) -> Browser {
        let mut browser = self.browser();
        browser.login(TOKEN).await;
        browser
    }

    fn browser(&self) -> Browser {
        Browser {
            http: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            base: self.base.clone(),
            cookie: None,
        }
    }

    /// How many ApiKeys of the default integration are in force.
    async fn default_key_count(&self) -> usize {
        let default = self.registry.integration("default").await.unwrap().unwrap();
        self.registry.active_api_keys(default.id).await.unwrap().len()
    }

    async fn provider_status(&self, slug: &str, key: &str) -> StatusCode {
        reqwest::Client::new()
            .get(format!("{}/webhooks/{slug}/files", self.base))
            .header("apiKey", key)
            .header("username", "ann@example.com")
            .send()
            .await
            .unwrap()
            .status()
    }
}

/// What a browser keeps: the session cookie.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: Option<String>,
}

/// One answer: status, headers, body.
struct Page {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

impl Page {
    fn location(&self) -> &str {
        self.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
    }

    /// The CSRF token of the page's forms.
    fn csrf(&self) -> String {
        let start = self.body.find("name=\"csrf\" value=\"").expect("the page has a form with a CSRF token")
            + "name=\"csrf\" value=\"".len();
        self.body[start..].split('"').next().unwrap().to_owned()
    }

    /// The value of the read-only input with this ID (the values shown with copy buttons).
    fn value_of(&self, id: &str) -> Option<String> {
        let marker = format!("id=\"{id}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        Some(self.body[start..].split('"').next()?.replace("&#38;", "&"))
    }
}

impl Browser {
    async fn send(&mut self, method: Method, path: &str, form: &[(&str, &str)]) -> Page {
        let mut request = self.http.request(method.clone(), format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header("cookie", cookie);
        }
        if method == Method::POST {
            request = request
                .header("content-type", "application/x-www-form-urlencoded")
                .body(serde_urlencoded::to_string(form).unwrap());
        }
        let response = request.send().await.unwrap();
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap().trim();
            self.cookie = if pair.ends_with('=') { None } else { Some(pair.to_owned()) };
        }
        Page { status: response.status(), headers: response.headers().clone(), body: response.text().await.unwrap() }
    }

    async fn get(&mut self, path: &str) -> Page {
        self.send(Method::GET, path, &[]).await
    }

    async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Page {
        self.send(Method::POST, path, form).await
    }

    /// Posts a form the way the page would: with the CSRF token of the page it is on.
    async fn submit(&mut self, from: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(from).await.csrf();
        let mut form = vec![("csrf", csrf.as_str())];
        form.extend_from_slice(fields);
        self.post(action, &form).await
    }

    async fn add_user(&mut self, username: &str, password: &str) -> Page {
        self.submit("/admin/users", "/admin/users", &[("username", username), ("password", password)]).await
    }

    /// Gives `username` `role` on the whole of `integration` from the users page.
    async fn grant(&mut self, username: &str, integration: &str, role: &str) -> Page {
        let form = [("username", username), ("integration", integration), ("role", role), ("folder", "")];
        self.submit("/admin/users", "/admin/grants", &form).await
    }

    /// Submits a form the server must refuse as a bad request with a page that `says` why.
    async fn refused(&mut self, from: &str, action: &str, fields: &[(&str, &str)], says: &str) {
        let page = self.submit(from, action, fields).await;
        assert_eq!(page.status, StatusCode::BAD_REQUEST, "{action}: {}", page.body);
        assert!(page.body.contains(says), "{action} says {says:?}: {}", page.body);
    }

    async fn login(&mut self, token: &str) -> Page {
        let form = self.get("/admin/login").await;
        assert_eq!(form.status, StatusCode::OK);
        let csrf = form.csrf();
        self.post("/admin/login", &[("csrf", &csrf), ("token", token)]).await
    }
}

/// `raw` as the pages write it: askama's numeric character references.
fn escape(raw: &str) -> String {
    raw.replace('&', "&#38;").replace('<', "&#60;").replace('>', "&#62;").replace('"', "&#34;").replace('\'', "&#39;")
}

#[tokio::test]
async fn login_sets_a_strict_session_cookie_and_refuses_wrong_tokens() {
    let server = Server::start(TOKEN).await;
    let mut browser = server.browser();
    let anonymous = browser.get("/admin").await;
    assert_eq!(anonymous.status, StatusCode::SEE_OTHER);
    assert_eq!(anonymous.location(), "/admin/login");

    let form = browser.get("/admin/login").await;
    assert!(form.body.contains("type=\"password\""));
    let pre_login_cookie = browser.cookie.clone().expect("the login form starts a session for its CSRF token");
    let wrong = browser.post("/admin/login", &[("csrf", &form.csrf()), ("token", "not-the-token")]).await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(wrong.body.contains("Wrong admin token"));
    let no_csrf = browser.post("/admin/login", &[("token", TOKEN)]).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN, "the login form needs its CSRF token too");

    let ok = browser.login(TOKEN).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER);
    assert_eq!(ok.location(), "/admin");
    let cookie = ok.headers["set-cookie"].to_str().unwrap();
    for attribute in ["docbridge_admin=", "HttpOnly", "SameSite=Strict", "Path=/admin", "Max-Age=28800"] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain http: a Secure cookie would never come back");
    assert_ne!(browser.cookie.as_deref(), Some(pre_login_cookie.as_str()), "logging in starts a new session");

    let home = browser.get("/admin").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("data-slug=\"default\""));
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'")
            && csp.contains("default-src 'none'")
            && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(home.headers["cache-control"], "no-store");
    assert_eq!(home.headers["x-frame-options"], "DENY");
    assert!(!home.body.contains("<script>") && !home.body.contains(" style=\""), "no inline script or style");
    for file in ["admin.css", "admin.js"] {
        let asset = browser.get(&format!("/admin/static/{file}")).await;
        assert_eq!(asset.status, StatusCode::OK, "{file}");
    }

    // A tampered cookie is no session.
    let mut forged = server.browser();
    forged.cookie = browser.cookie.clone().map(|c| c.replacen("admin", "admim", 1));
    assert_eq!(forged.get("/admin").await.status, StatusCode::SEE_OTHER);

    let out = browser.submit("/admin", "/admin/logout", &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.headers["set-cookie"].to_str().unwrap().contains("Max-Age=0"));
    assert_eq!(browser.get("/admin").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn a_new_admin_token_ends_old_sessions_and_no_token_turns_the_page_off() {
    let (server, mut browser) = Server::start_signed_in().await;
    assert_eq!(browser.get("/admin").await.status, StatusCode::OK);
    let cookie = browser.cookie.clone();
    let (dir, registry) = (server.dir, server.registry);

    let rotated = Server::start_on(dir, registry, "a-completely-different-token-987").await;
    let mut old = rotated.browser();
    old.cookie = cookie;
    assert_eq!(old.get("/admin").await.status, StatusCode::SEE_OTHER, "a session signed under the old token is void");

    let off = Server::start("").await;
    let mut browser = off.browser();
    let page = browser.get("/admin/login").await;
    assert!(page.body.contains("admin.token"), "the page says how to turn it on");
    assert!(!page.body.contains("type=\"password\""));
    assert_eq!(browser.get("/admin").await.status, StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn every_form_needs_the_sessions_csrf_token() {
    let (server, mut browser) = Server::start_signed_in().await;
    let mut other = server.signed_in().await;
    let foreign = other.get("/admin").await.csrf();
    for action in
        ["/admin/integrations/default/disable", "/admin/integrations/default/delete", "/admin/users", "/admin/logout"]
    {
        let missing =
            browser.post(action, &[("confirm", "yes"), ("username", "x@example.com"), ("password", "p")]).await;
        assert_eq!(missing.status, StatusCode::FORBIDDEN, "{action} without a token");
        let wrong = browser.post(action, &[("csrf", &foreign), ("confirm", "yes")]).await;
        assert_eq!(wrong.status, StatusCode::FORBIDDEN, "{action} with another session's token");
    }
    assert_eq!(server.provider_status("default", &server.key).await, StatusCode::OK, "nothing was disabled");
    assert!(server.registry.integration("default").await.unwrap().is_some(), "nothing was deleted");
}

#[tokio::test]
async fn integrations_are_managed_from_the_page() {
    let (server, mut browser) = Server::start_signed_in().await;

    // Disable and enable from the list.
    let disabled = browser.submit("/admin", "/admin/integrations/default/disable", &[("back", "/admin")]).await;
    assert_eq!(disabled.location(), "/admin?notice=disabled");
    assert!(browser.get(disabled.location()).await.body.contains("badge off"));
    assert_eq!(server.provider_status("default", &server.key).await, StatusCode::FORBIDDEN);
    browser.submit("/admin", "/admin/integrations/default/enable", &[("back", "https://evil.example/")]).await;
    assert_eq!(server.provider_status("default", &server.key).await, StatusCode::OK);

    // Add an ApiKey integration: its key is shown once, with the values for Workfront.
    let root = server.dir.path().join("marketing");
    let added = browser
        .submit(
            "/admin/integrations/new",
            "/admin/integrations",
            &[
                ("name", "Marketing <Docs>"),
                ("slug", ""),
                ("auth", "apikey"),
                ("root", root.to_str().unwrap()),
                ("default_role", "editor"),
                ("request_params", "tenant=acme\n"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::OK, "{}", added.body);
    assert!(
        added.body.contains("Marketing &#60;Docs&#62;") && !added.body.contains("Marketing <Docs>"),
        "names are escaped"
    );
    let key = added.value_of("wf-api-key").expect("the new ApiKey is shown");
    assert_eq!(added.value_of("wf-base-url").unwrap(), format!("{}/webhooks/marketing-docs", server.base));
    assert!(added.body.contains("data-copy=\"wf-api-key\""), "with a copy button");
    assert_eq!(server.provider_status("marketing-docs", &key).await, StatusCode::OK);
    let detail = browser.get("/admin/integrations/marketing-docs").await;
    assert!(!detail.body.contains(&key), "the key is never shown again");
    assert!(detail.body.contains(&key[..6]), "but its first characters are");

    // Edit.
    let saved = browser
        .submit(
            "/admin/integrations/marketing-docs",
            "/admin/integrations/marketing-docs",
            &[
                ("name", "Marketing"),
                ("root", root.to_str().unwrap()),
                ("redirect_uris", ""),
                ("request_params", "tenant=acme"),
                ("default_role", "reader"),
            ],
        )
        .await;
    assert_eq!(saved.location(), "/admin/integrations/marketing-docs?notice=saved");
    let record = server.registry.integration("marketing-docs").await.unwrap().unwrap();
    assert_eq!(record.name, "Marketing");
    assert_eq!(record.default_role.as_str(), "reader");
    // The message names the field.
    let bad = [("name", ""), ("root", "x"), ("default_role", "reader")];
    browser.refused("/admin/integrations/marketing-docs", "/admin/integrations/marketing-docs", &bad, "name:").await;

    // Rotate: the new key works at once, the old one until revoked.
    let rotated =
        browser.submit("/admin/integrations/marketing-docs", "/admin/integrations/marketing-docs/rotate", &[]).await;
    let new_key = rotated.value_of("wf-api-key").expect("the rotated key is shown once");
    assert_eq!(server.provider_status("marketing-docs", &new_key).await, StatusCode::OK);
    assert_eq!(server.provider_status("marketing-docs", &key).await, StatusCode::OK);
    browser
        .submit("/admin/integrations/marketing-docs", "/admin/integrations/marketing-docs/revoke-old-keys", &[])
        .await;
    assert_eq!(server.provider_status("marketing-docs", &key).await, StatusCode::FORBIDDEN);
    assert_eq!(server.provider_status("marketing-docs", &new_key).await, StatusCode::OK);

    // OAuth2: the redirect URI is required, and the form names it.
    let no_redirect = [("name", "Sales"), ("auth", "oauth2"), ("default_role", "editor")];
    browser.refused("/admin/integrations/new", "/admin/integrations", &no_redirect, "redirect_uri").await;
    let oauth = browser
        .submit(
            "/admin/integrations/new",
            "/admin/integrations",
            &[
                ("name", "Sales"),
                ("auth", "oauth2"),
                ("default_role", "editor"),
                ("redirect_uris", "https://wf.example/oauth2/callback"),
            ],
        )
        .await;
    assert_eq!(oauth.status, StatusCode::OK);
    let client_id = oauth.value_of("wf-client-id").unwrap();
    assert_eq!(
        oauth.value_of("wf-auth-url").unwrap(),
        format!("{}/oauth/authorize?client_id={client_id}", server.base)
    );
    assert_eq!(oauth.value_of("wf-token-url").unwrap(), format!("{}/oauth/token", server.base));
    assert!(oauth.value_of("wf-client-secret").is_some());
    assert_eq!(oauth.value_of("wf-redirect-uri").unwrap(), "https://wf.example/oauth2/callback");

    // Delete needs the confirmation box.
    browser.refused("/admin/integrations/sales", "/admin/integrations/sales/delete", &[], "I understand").await;
    let deleted =
        browser.submit("/admin/integrations/sales", "/admin/integrations/sales/delete", &[("confirm", "yes")]).await;
    assert_eq!(deleted.location(), "/admin?notice=deleted");
    assert!(server.registry.integration("sales").await.unwrap().is_none());

    // Every change is in the audit trail, newest first, with who made it.
    let audit = browser.get("/admin/audit").await;
    let delete_at = audit.body.find("integration.delete").expect("the delete is listed");
    let add_at = audit.body.find("integration.add").expect("the add is listed");
    assert!(delete_at < add_at, "newest first");
    assert!(audit.body.contains("admin-page"));
    let filtered = browser.get("/admin/audit?integration=default").await;
    assert!(filtered.body.contains("integration.disable") && !filtered.body.contains("integration.rotate-key"));
}

#[tokio::test]
async fn the_connection_test_runs_the_validator_with_a_temporary_key() {
    let (server, mut browser) = Server::start_signed_in().await;
    let before = server.default_key_count().await;
    let report =
        browser.submit("/admin/integrations/default", "/admin/integrations/default/test", &[("username", "")]).await;
    assert_eq!(report.status, StatusCode::OK);
    assert!(report.body.contains("The connection test passed"), "{}", report.body);
    assert!(report.body.contains("core.files") || report.body.contains("files"), "the cases are listed");
    let after = server.default_key_count().await;
    assert_eq!(before, after, "the temporary key is revoked");

    browser.submit("/admin", "/admin/integrations/default/disable", &[]).await;
    let failing = browser.submit("/admin/integrations/default", "/admin/integrations/default/test", &[]).await;
    assert!(failing.body.contains("found problems"), "a disabled integration fails the test");
}

#[tokio::test]
async fn users_and_roles_are_managed_from_the_page() {
    let (server, mut browser) = Server::start_signed_in().await;
    let added = browser.add_user("Ann@Example.com", "correct horse battery").await;
    assert_eq!(added.location(), "/admin/users?notice=user-added");
    let duplicate = browser.add_user("ann@example.com", "x").await;
    assert_eq!(duplicate.status, StatusCode::CONFLICT);
    let granted = browser.grant("ann@example.com", "default", "reader").await;
    assert_eq!(granted.location(), "/admin/users?notice=grant-saved");
    let page = browser.get("/admin/users").await;
    assert!(
        page.body.contains("ann@example.com") && page.body.contains("<code>default</code>: reader"),
        "{}",
        page.body
    );
    // The role applies to ApiKey calls that name the user: a reader cannot create a folder.
    let write = reqwest::Client::new()
        .post(format!("{}/webhooks/default/createFolder?parentId=/&name=Nope", server.base))
        .header("apiKey", &server.key)
        .header("username", "ann@example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    browser
        .submit("/admin/users", "/admin/grants/revoke", &[("username", "ann@example.com"), ("integration", "default")])
        .await;
    assert!(server.registry.grants(Some("ann@example.com"), None).await.unwrap().is_empty());
    browser.submit("/admin/users", "/admin/users/delete", &[("username", "ann@example.com")]).await;
    assert!(server.registry.user("ann@example.com").await.unwrap().is_none());
    let audit = browser.get("/admin/audit").await;
    assert!(audit.body.contains("user.add") && audit.body.contains("user.grant") && audit.body.contains("user.delete"));
}

/// Issue #13, finding 9: logging out only cleared the browser's cookie, and a copy of it went on
/// working until it expired. The session is a row in the registry now, which logging out deletes.
#[tokio::test]
async fn logging_out_ends_the_session_for_every_copy_of_the_cookie() {
    let (server, mut browser) = Server::start_signed_in().await;
    assert_eq!(browser.get("/admin").await.status, StatusCode::OK);
    let mut copy = server.browser();
    copy.cookie = browser.cookie.clone();
    let stolen_csrf = copy.get("/admin").await.csrf();

    let out = browser.submit("/admin", "/admin/logout", &[]).await;
    assert_eq!(out.location(), "/admin/login?notice=logged-out");
    let page = copy.get("/admin").await;
    assert_eq!((page.status, page.location()), (StatusCode::SEE_OTHER, "/admin/login"), "the copied cookie is void");
    let post = copy.post("/admin/integrations/default/disable", &[("csrf", &stolen_csrf)]).await;
    assert_eq!((post.status, post.location()), (StatusCode::SEE_OTHER, "/admin/login"));
    assert_eq!(server.provider_status("default", &server.key).await, StatusCode::OK, "nothing was disabled");

    // Another process on the same database sees the logout too: nothing is kept in memory.
    let mut again = server.signed_in().await;
    let second = Server::start_on(tempfile::tempdir().unwrap(), server.registry.clone(), TOKEN).await;
    let mut elsewhere = second.browser();
    elsewhere.cookie = again.cookie.clone();
    assert_eq!(elsewhere.get("/admin").await.status, StatusCode::OK, "one session, every process");
    again.submit("/admin", "/admin/logout", &[]).await;
    assert_eq!(elsewhere.get("/admin").await.status, StatusCode::SEE_OTHER);
}

/// Issue #13, finding 7: the `<select>` options of the users and audit pages showed usernames
/// and integration names unescaped. Every page that shows them must escape them.
#[tokio::test]
async fn usernames_and_integration_names_are_escaped_on_every_page() {
    const NAME: &str = "<script>alert(1)</script> \"><img src=x onerror=alert(2)>";
    const USERNAME: &str = "x\"><img src=x onerror=alert(3)><script>alert(4)</script>";
    let (_server, mut browser) = Server::start_signed_in().await;
    let added = browser
        .submit(
            "/admin",
            "/admin/integrations",
            &[("name", NAME), ("slug", "evil"), ("auth", "apikey"), ("root", ""), ("default_role", "editor")],
        )
        .await;
    assert!(added.status.is_success() || added.status.is_redirection(), "{}", added.body);
    let user = browser.add_user(USERNAME, "pw").await;
    assert_eq!(user.location(), "/admin/users?notice=user-added");
    let granted = browser.grant(USERNAME, "evil", "reader").await;
    assert_eq!(granted.location(), "/admin/users?notice=grant-saved");

    let pages = [
        ("/admin", vec![NAME]),
        ("/admin/integrations/evil", vec![NAME]),
        ("/admin/users", vec![NAME, USERNAME]),
        ("/admin/audit", vec![NAME]),
        ("/admin/audit?integration=evil", vec![NAME]),
    ];
    for (path, shown) in pages {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        for raw in shown {
            assert!(page.body.contains(&escape(raw)), "{path} shows {raw:?} escaped: {}", page.body);
        }
        for raw in ["<script>alert", "<img src=x", "\"><img"] {
            assert!(!page.body.contains(raw), "{path} contains raw {raw:?}: {}", page.body);
        }
    }
}

/// Issue #18: every page escapes the names it shows, wherever they were stored: an integration's
/// name (admin pages, the OAuth2 login page), a username (users page, OAuth2 consent page), a
/// custom action's label (integration page) and a file's name (signed-link pages of the file
/// and of its folder).
#[tokio::test]
async fn stored_script_bearing_names_are_escaped_on_every_page() {
    const NAME: &str = "Docs <script>alert(1)</script>";
    const USERNAME: &str = "eve\"><script>alert(2)</script>@example.com";
    const LABEL: &str = "Go <script>alert(3)</script>";
    const FILE: &str = "<img src=x onerror=alert(4)>.txt";
    let server = Server::start(TOKEN).await;
    let redirect_uri = "https://workfront.example.com/callback";
    let root = server.dir.path().join("docs-oauth");
    std::fs::create_dir_all(&root).unwrap();
    let admin = setup::Admin::new(server.registry.clone(), server.base.clone(), "test");
    let (_, oauth) = admin
        .add(
            setup::AddIntegration {
                name: NAME.into(),
                slug: Some("evil".into()),
                auth: docbridge_registry::AuthType::OAuth2,
                root: root.display().to_string(),
                redirect_uris: vec![redirect_uri.into()],
                request_params: Vec::new(),
                default_role: docbridge_registry::DefaultRole::Editor,
                custom_actions: vec![docbridge_registry::CustomActionSpec {
                    name: "probe".into(),
                    display_name: LABEL.into(),
                    kind: docbridge_registry::ActionKind::Lock,
                }],
            },
            "fs",
        )
        .await
        .unwrap();
    admin.add_user(USERNAME, "pw").await.unwrap();
    std::fs::write(server.dir.path().join("documents").join(FILE), "<script>alert(5)</script>").unwrap();

    let mut browser = server.signed_in().await;
    let mut pages: Vec<(String, String)> = Vec::new();
    for path in ["/admin", "/admin/integrations/evil", "/admin/users", "/admin/audit"] {
        let page = browser.get(path).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        pages.push((path.to_owned(), page.body));
    }
    // The OAuth2 login page, then the consent page for the user.
    let mut oauth_browser = oauth_pages::Browser::default();
    let authorize = format!(
        "{}/oauth/authorize?client_id={}&state=s&redirect_uri={redirect_uri}",
        server.base,
        oauth.client_id.unwrap()
    );
    let (status, _, login) = oauth_browser.send(oauth_browser.http.get(&authorize)).await;
    assert_eq!(status, 200, "{login}");
    let mut form = oauth_pages::hidden_fields(&login);
    form.extend([("username".to_owned(), USERNAME.to_owned()), ("password".to_owned(), "pw".to_owned())]);
    let (status, _, consent) =
        oauth_browser.send(oauth_browser.http.post(format!("{}/oauth/authorize", server.base)).form(&form)).await;
    assert_eq!(status, 200, "{consent}");
    pages.push(("the OAuth2 login page".into(), login));
    pages.push(("the OAuth2 consent page".into(), consent));
    // The signed-link pages of the file and of the folder that lists it.
    let http = reqwest::Client::new();
    let provider = |endpoint: &'static str| {
        let request = http
            .get(format!("{}/webhooks/default/{endpoint}", server.base))
            .header("apiKey", &server.key)
            .header("username", "ann@example.com");
        async move { request.send().await.unwrap().json::<serde_json::Value>().await.unwrap() }
    };
    let listing = provider("files").await;
    let file = listing.as_array().unwrap().iter().find(|item| item["title"] == FILE).expect("the file is listed");
    let root_view = provider("metadata?id=/").await;
    for (what, link) in
        [("the file's view page", &file["viewLink"]), ("the folder's view page", &root_view["viewLink"])]
    {
        let page = http.get(link.as_str().unwrap()).send().await.unwrap().text().await.unwrap();
        pages.push((what.into(), page));
    }
    // The document browser, as the user whose name is a script, listing the file whose name is
    // one.
    let as_eve =
        format!("/admin/integrations/default/browse?{}", serde_urlencoded::to_string([("user", USERNAME)]).unwrap());
    let page = browser.get(&as_eve).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    pages.push(("the document browser".into(), page.body));

    let expected: [(&str, &[&str]); 9] = [
        ("/admin", &[NAME]),
        ("/admin/integrations/evil", &[NAME, LABEL]),
        ("/admin/users", &[USERNAME]),
        ("/admin/audit", &[NAME]),
        ("the OAuth2 login page", &[NAME]),
        ("the OAuth2 consent page", &[NAME, USERNAME]),
        ("the file's view page", &[FILE]),
        ("the folder's view page", &[FILE]),
        ("the document browser", &[FILE, USERNAME]),
    ];
    for ((what, body), (expected_what, shown)) in pages.iter().zip(expected) {
        assert_eq!(what, expected_what);
        for raw in shown {
            assert!(body.contains(&escape(raw)), "{what} shows {raw:?} escaped: {body}");
        }
        for raw in ["<script>alert", "<img src=x"] {
            assert!(!body.contains(raw), "{what} contains raw {raw:?}: {body}");
        }
    }
}

impl Browser {
    /// Posts the default integration's document browser upload form (`multipart/form-data`) with
    /// the CSRF token of `from`: `file` into the root folder, as `user`.
    async fn upload(&mut self, from: &str, user: &str, file: (&str, &[u8])) -> Page {
        let csrf = self.get(from).await.csrf();
        let boundary = "docbridge-test-boundary";
        let mut body = Vec::new();
        for (name, value) in [("csrf", csrf.as_str()), ("user", user), ("folder", "")] {
            body.extend(
                format!("--{boundary}\r\ncontent-disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").bytes(),
            );
        }
        body.extend(
            format!("--{boundary}\r\ncontent-disposition: form-data; name=\"file\"; filename=\"{}\"\r\ncontent-type: application/octet-stream\r\n\r\n", file.0)
                .bytes(),
        );
        body.extend_from_slice(file.1);
        body.extend(format!("\r\n--{boundary}--\r\n").bytes());
        let response = self
            .http
            .post(format!("{}/admin/integrations/default/browse/upload", self.base))
            .header("cookie", self.cookie.clone().unwrap_or_default())
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body)
            .send()
            .await
            .unwrap();
        Page { status: response.status(), headers: response.headers().clone(), body: response.text().await.unwrap() }
    }
}

/// Issue #18: the document browser shows an integration's documents as a chosen user sees them
/// through Workfront, by the provider endpoints' own path. A reader lists, opens, gets
/// thumbnails and downloads, is offered no upload, folder or delete control, and is refused one
/// anyway; an editor uploads, creates a folder and deletes; the audit trail names the admin page
/// and the user.
#[tokio::test]
async fn the_document_browser_acts_as_the_chosen_user() {
    let server = Server::start(TOKEN).await;
    let docs = server.dir.path().join("documents");
    std::fs::write(docs.join("report.txt"), "quarterly numbers").unwrap();
    let mut browser = server.signed_in().await;
    for (user, role) in [("ann@example.com", "reader"), ("bob@example.com", "editor")] {
        browser.add_user(user, "correct horse battery").await;
        let granted = browser.grant(user, "default", role).await;
        assert_eq!(granted.location(), "/admin/users?notice=grant-saved");
    }
    let as_ann = "/admin/integrations/default/browse?user=ann%40example.com";
    let page = browser.get(as_ann).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert!(page.body.contains("report.txt") && page.body.contains("<strong>reader</strong>"), "{}", page.body);
    assert!(!page.body.contains("browse/upload") && !page.body.contains("browse/delete"), "no controls for a reader");
    // The listing's links are the ones Workfront gets: the download link serves the file.
    let link = page.body.split("href=\"").filter_map(|s| s.split('"').next()).find(|l| l.contains("/links/")).unwrap();
    let downloaded = reqwest::get(link.replace("&#38;", "&")).await.unwrap();
    assert_eq!(downloaded.text().await.unwrap(), "quarterly numbers");
    let thumb = page.body.split("src=\"").filter_map(|s| s.split('"').next()).find(|s| s.contains("browse/thumbnail"));
    let thumb = thumb.expect("a thumbnail in the listing").replace("&#38;", "&");
    let thumb = browser.get(&thumb).await;
    assert!(thumb.headers["content-type"].to_str().unwrap().starts_with("image/"), "{:?}", thumb.headers);
    let found = browser.get(&format!("{as_ann}&q=report")).await;
    assert!(found.body.contains("report.txt"), "search finds it: {}", found.body);
    // The page hides the controls; the server refuses them all the same.
    let refused = browser.upload(as_ann, "ann@example.com", ("x.txt", b"x")).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    assert!(!docs.join("x.txt").exists());

    let as_bob = "/admin/integrations/default/browse?user=bob%40example.com";
    assert!(browser.get(as_bob).await.body.contains("browse/upload"), "an editor gets the controls");
    let created = browser
        .submit(
            as_bob,
            "/admin/integrations/default/browse/folder",
            &[("user", "bob@example.com"), ("folder", ""), ("name", "Plans")],
        )
        .await;
    assert!(created.location().contains("notice=folder-created"), "{} {}", created.status, created.body);
    assert!(docs.join("Plans").is_dir());
    let uploaded = browser.upload(as_bob, "bob@example.com", ("notes.txt", b"draft")).await;
    assert!(uploaded.location().contains("notice=uploaded"), "{} {}", uploaded.status, uploaded.body);
    assert_eq!(std::fs::read_to_string(docs.join("notes.txt")).unwrap(), "draft");
    // Larger than any form limit: the bytes stream through to /upload whole.
    let big: Vec<u8> = (0..3 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let uploaded = browser.upload(as_bob, "bob@example.com", ("big.bin", &big)).await;
    assert!(uploaded.location().contains("notice=uploaded"), "{} {}", uploaded.status, uploaded.body);
    assert!(std::fs::read(docs.join("big.bin")).unwrap() == big, "the big upload arrived whole");
    let listing = browser.get(as_bob).await;
    let id = listing.body.split("name=\"id\" value=\"").nth(1).and_then(|s| s.split('"').next()).unwrap().to_owned();
    let deleted = browser
        .submit(
            as_bob,
            "/admin/integrations/default/browse/delete",
            &[("user", "bob@example.com"), ("folder", ""), ("id", &id)],
        )
        .await;
    assert!(deleted.location().contains("notice=item-deleted"), "{} {}", deleted.status, deleted.body);
    let audit = browser.get("/admin/audit").await;
    assert!(audit.body.contains("admin-page as bob@example.com"), "{}", audit.body);
}
