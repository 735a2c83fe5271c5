//! ApiKey authentication (C3): headers matched case-insensitively, every failure a 403 with
//! the error body, keys bound to one integration, rotation, disabled integrations, and the
//! lock-out of an address that keeps failing (C20's 429).

use docbridge_registry::{AuthType, DefaultRole};
use docbridge_server::setup::{self, AddIntegration};
use reqwest::{Method, StatusCode};

use crate::support::{
    Options, TestServer, USER, api_call, assert_error, assert_failure, assert_metadata, assert_upload_fail, id_of, send,
};

/// `/files` of the root with the given headers.
async fn files_with(server: &TestServer, headers: &[(&str, &str)]) -> crate::support::Reply {
    let mut request = server.anonymous(Method::GET, "files", &[("parentId", "/")]);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    send(request).await
}

#[tokio::test]
async fn valid_credentials_are_accepted() {
    let server = TestServer::start().await;
    let reply = files_with(&server, &[("apiKey", &server.key), ("username", USER)]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::json!([]));
}

#[tokio::test]
async fn header_names_match_in_any_case() {
    let server = TestServer::start().await;
    for (key_header, user_header) in [("APIKEY", "UserName"), ("apikey", "USERNAME"), ("ApiKey", "userName")] {
        let reply = files_with(&server, &[(key_header, &server.key), (user_header, USER)]).await;
        assert_eq!(reply.status, StatusCode::OK, "{key_header}/{user_header}: {}", reply.text());
    }
}

#[tokio::test]
async fn a_missing_key_is_refused() {
    let server = TestServer::start().await;
    assert_error(&files_with(&server, &[("username", USER)]).await, 403);
    assert_error(&files_with(&server, &[]).await, 403);
    assert_error(&files_with(&server, &[("apiKey", ""), ("username", USER)]).await, 403);
}

#[tokio::test]
async fn a_wrong_key_is_refused() {
    let server = TestServer::start().await;
    let wrong = format!("{}x", server.key);
    assert_error(&files_with(&server, &[("apiKey", &wrong), ("username", USER)]).await, 403);
    assert_error(&files_with(&server, &[("apiKey", "not-a-key"), ("username", USER)]).await, 403);
    // The key in the wrong header is no key at all.
    assert_error(
        &files_with(&server, &[("authorization", &format!("Bearer {}", server.key)), ("username", USER)]).await,
        403,
    );
}

#[tokio::test]
async fn an_empty_or_missing_username_is_refused() {
    let server = TestServer::start().await;
    assert_error(&files_with(&server, &[("apiKey", &server.key)]).await, 403);
    assert_error(&files_with(&server, &[("apiKey", &server.key), ("username", "")]).await, 403);
    assert_error(&files_with(&server, &[("apiKey", &server.key), ("username", "   ")]).await, 403);
}

#[tokio::test]
async fn every_authenticated_endpoint_checks_the_key() {
    let server = TestServer::start().await;
    let calls = [
        (Method::GET, "metadata"),
        (Method::GET, "files"),
        (Method::GET, "search"),
        (Method::GET, "download"),
        (Method::GET, "thumbnail"),
        (Method::POST, "uploadInit"),
        (Method::PUT, "upload"),
        (Method::POST, "createFolder"),
        (Method::PUT, "delete"),
        (Method::PUT, "rename"),
        (Method::GET, "customAction"),
    ];
    for (method, endpoint) in calls {
        let reply = send(
            server
                .anonymous(
                    method,
                    endpoint,
                    &[("id", "/"), ("parentId", "/"), ("name", "x"), ("filename", "x"), ("query", "x")],
                )
                .header("username", USER),
        )
        .await;
        assert_eq!(reply.status, StatusCode::FORBIDDEN, "{endpoint} without a key: {}", reply.text());
        let body = reply.json();
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{endpoint}: {body}");
    }
}

#[tokio::test]
async fn a_disabled_integration_refuses_calls_but_still_describes_itself() {
    let server = TestServer::start().await;
    server.registry.set_integration_enabled("default", false).await.expect("disable");
    assert_error(&server.get("files", &[("parentId", "/")]).await, 403);
    assert_error(&server.get("metadata", &[("id", "/")]).await, 403);
    let info = send(server.anonymous(Method::GET, "serviceInfo", &[])).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.text());
    assert_eq!(info.json()["webhookVersion"], "1.2");

    server.registry.set_integration_enabled("default", true).await.expect("enable");
    assert_eq!(server.get("files", &[("parentId", "/")]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_key_belongs_to_one_integration() {
    let server = TestServer::start().await;
    let root = server.data_dir().join("second");
    std::fs::create_dir_all(&root).unwrap();
    let request = AddIntegration {
        name: "Second".into(),
        slug: Some("second".into()),
        auth: AuthType::ApiKey,
        root: root.display().to_string(),
        redirect_uris: Vec::new(),
        request_params: Vec::new(),
        default_role: DefaultRole::Editor,
        custom_actions: Vec::new(),
    };
    let (_, credentials) =
        setup::add_integration(&server.registry, &server.base, request).await.expect("second integration");
    let second_key = credentials.api_key.expect("an ApiKey");
    assert_eq!(credentials.base_api_url, format!("{}/webhooks/second", server.base));

    let call = |slug: &str, key: &str| {
        let api = format!("{}/webhooks/{slug}", server.base);
        send(api_call(&server.http, (&api, key, USER), Method::GET, "files", &[]))
    };
    assert_eq!(call("second", &second_key).await.status, StatusCode::OK);
    assert_error(&call("second", &server.key).await, 403);
    assert_error(&call("default", &second_key).await, 403);

    // The second library is its own: what one holds the other does not list.
    server.upload("/", "only-in-default.txt", "x").await;
    let listing = call("second", &second_key).await.json();
    assert_eq!(listing, serde_json::json!([]));
    let info = send(server.http.get(format!("{}/webhooks/second/serviceInfo", server.base))).await.json();
    assert_eq!(info["customActions"], serde_json::json!([]));

    // IDs of one integration mean nothing in another.
    let init = server.upload_init("/", "tenant-a.txt").await;
    let second_api = &credentials.base_api_url;
    let second = |method: Method, endpoint: &str, id: &str| {
        send(api_call(&server.http, (second_api, &second_key, USER), method, endpoint, &[("id", id)]))
    };
    assert_upload_fail(&second(Method::PUT, "upload", id_of(&init)).await, 404);
    assert_eq!(server.put_bytes(id_of(&init), "mine").await.status, StatusCode::OK);
    assert_error(&second(Method::GET, "metadata", id_of(&init)).await, 404);
    assert_error(&second(Method::GET, "download", id_of(&init)).await, 404);
    assert_failure(&second(Method::PUT, "delete", id_of(&init)).await, 404);
    assert_eq!(server.content(id_of(&init)).await, b"mine");
}

#[tokio::test]
async fn a_rotated_key_keeps_the_old_one_valid_until_revoked() {
    let server = TestServer::start().await;
    let new = docbridge_auth::issue_secret();
    server.registry.add_api_key("default", &new.stored).await.expect("add a key");
    for key in [&server.key, &new.plain] {
        assert_eq!(files_with(&server, &[("apiKey", key), ("username", USER)]).await.status, StatusCode::OK);
    }
    let revoked = server.registry.revoke_other_api_keys("default", &new.stored.hash).await.expect("revoke");
    assert_eq!(revoked, 1);
    assert_error(&files_with(&server, &[("apiKey", &server.key), ("username", USER)]).await, 403);
    assert_eq!(files_with(&server, &[("apiKey", &new.plain), ("username", USER)]).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_reader_sees_read_only_items_and_cannot_write() {
    let server = TestServer::start().await;
    server.upload("/", "shared.txt", "hello").await;
    let mut integration = server.integration().await;
    integration.default_role = DefaultRole::Reader;
    server.registry.update_integration(&integration).await.expect("update");

    let listing = server.list("/").await;
    assert_eq!(listing.len(), 1);
    assert_metadata(&listing[0], &server.base);
    assert_eq!(listing[0]["readOnly"], true);
    assert_error(&send(server.call(Method::POST, "createFolder", &[("parentId", "/"), ("name", "new")])).await, 403);
    assert_error(
        &send(server.call(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "new.txt")])).await,
        403,
    );

    integration.default_role = DefaultRole::Deny;
    server.registry.update_integration(&integration).await.expect("update");
    assert_error(&server.get("files", &[]).await, 403);
}

#[tokio::test]
async fn an_address_that_keeps_failing_is_told_to_wait() {
    let server = TestServer::with_options(Options { max_auth_failures_per_minute: 3, ..Options::default() }).await;
    for _ in 0..3 {
        assert_error(&files_with(&server, &[("apiKey", "wrong"), ("username", USER)]).await, 403);
    }
    let reply = files_with(&server, &[("apiKey", &server.key), ("username", USER)]).await;
    assert_error(&reply, 429);
    let wait: u64 = reply.must("retry-after").parse().expect("Retry-After is a number of seconds");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    // serviceInfo needs no credentials and is not locked out.
    assert_eq!(send(server.anonymous(Method::GET, "serviceInfo", &[])).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_non_ascii_username_is_accepted() {
    let server = TestServer::start().await;
    let username = reqwest::header::HeaderValue::from_bytes("josé@exämple.com".as_bytes())
        .expect("obs-text is a valid header value");
    let reply =
        send(server.anonymous(Method::GET, "files", &[]).header("apiKey", &server.key).header("username", username))
            .await;
    assert_eq!(reply.status, StatusCode::OK, "a username is any non-empty text: {}", reply.text());
}

/// The `username` header is copied into every signed link and audit line: an e-mail address
/// fits in 320 bytes, anything longer is refused (issue #13: a 60 KB one was carried along).
#[tokio::test]
async fn an_overlong_username_is_refused() {
    let server = TestServer::start().await;
    let longest = format!("{}@example.com", "u".repeat(320 - "@example.com".len()));
    let reply = files_with(&server, &[("apiKey", &server.key), ("username", &longest)]).await;
    assert_eq!(reply.status, StatusCode::OK, "320 bytes is an e-mail address: {}", reply.text());
    for long in [format!("u{longest}"), "x".repeat(60 * 1024)] {
        let reply = files_with(&server, &[("apiKey", &server.key), ("username", &long)]).await;
        assert_error(&reply, 400);
        assert!(reply.text().contains("username: is longer than 320 bytes"), "{}", reply.text());
        assert!(!reply.text().contains("xxxxxxxx"), "the name is not echoed back");
    }
}
