//! Issue #8, item 6, over real HTTP: failed authentications are limited per client address (a
//! second address, 127.0.0.2 on the loopback interface, is not locked out by the first one's
//! failures), and every HTML page docbridge serves (signed-link pages and their error pages,
//! the admin login page, the OAuth2 login and error pages) carries the security headers.

mod in_process;

use std::net::{IpAddr, Ipv4Addr};

use docbridge_registry::{AuthType, DefaultRole};
use docbridge_server::setup::{self, AddIntegration};
use in_process::InProcess;
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
    reqwest::Client::builder().local_address(IpAddr::V4(address)).build().unwrap()
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
        let init: Value = api(reqwest::Method::POST, "uploadInit")
            .query(&[("parentId", "/"), ("filename", name)])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
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
