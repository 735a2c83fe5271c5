//! Errors and input (C1, C20, C21): unknown endpoints and methods, ignored parameters, JSON
//! bodies on every failure, and request IDs.

use reqwest::{Method, StatusCode};

use crate::support::{Reply, TestServer, USER, assert_error, assert_failure, assert_upload_fail, id_of, send};

#[tokio::test]
async fn an_unknown_endpoint_is_a_json_404() {
    let server = TestServer::start().await;
    assert_error(&server.get("listFiles", &[]).await, 404);
    assert_error(&server.get("Files", &[]).await, 404);
    assert_error(&send(server.http.get(format!("{}/nothing/here", server.base))).await, 404);
    assert_error(&send(server.http.get(format!("{}/webhooks/default", server.base))).await, 404);
    assert_error(&server.get("files/extra", &[]).await, 404);
}

#[tokio::test]
async fn a_wrong_method_is_a_json_405_naming_the_allowed_ones() {
    let server = TestServer::start().await;
    let cases: [(Method, &str); 6] = [
        (Method::DELETE, "files"),
        (Method::POST, "metadata"),
        (Method::GET, "uploadInit"),
        (Method::PUT, "createFolder"),
        (Method::GET, "rename"),
        (Method::PUT, "customAction"),
    ];
    for (method, endpoint) in cases {
        let reply = send(server.call(method.clone(), endpoint, &[])).await;
        assert_error_like(&reply, 405, endpoint);
        assert!(reply.header("allow").is_some_and(|a| !a.is_empty()), "{method} {endpoint}: Allow header");
    }
    let reply = send(server.call(Method::GET, "upload", &[])).await;
    assert_upload_fail(&reply, 405);
    let reply = send(server.call(Method::GET, "delete", &[])).await;
    assert_failure(&reply, 405);
}

/// The failure body of an endpoint's vocabulary (C20; protocol §13.6).
fn assert_error_like(reply: &Reply, status: u16, endpoint: &str) {
    match endpoint {
        "upload" => assert_upload_fail(reply, status),
        "delete" | "rename" | "customAction" => assert_failure(reply, status),
        _ => assert_error(reply, status),
    }
}

/// An endpoint call: method, endpoint, query.
type Check<'a> = (Method, &'a str, Vec<(&'a str, &'a str)>);

#[tokio::test]
async fn workfront_parameters_are_ignored_everywhere() {
    let server = TestServer::start().await;
    let extra = [("access_type", "offline"), ("customerId", "42")];
    let with = |query: &[(&str, &str)]| -> Vec<(String, String)> {
        query.iter().chain(extra.iter()).map(|(k, v)| (k.to_string(), v.to_string())).collect()
    };
    let call = |method: Method, endpoint: &str, query: &[(&str, &str)]| {
        server
            .http
            .request(method, format!("{}/{endpoint}", server.api()))
            .query(&with(query))
            .header("apiKey", &server.key)
            .header("username", USER)
    };

    let folder = send(call(Method::POST, "createFolder", &[("parentId", "/"), ("name", "F")])).await;
    assert_eq!(folder.status, StatusCode::OK, "createFolder: {}", folder.text());
    let folder = folder.json();
    let init = send(call(
        Method::POST,
        "uploadInit",
        &[("parentId", id_of(&folder)), ("filename", "f.txt"), ("documentId", "d1"), ("documentVersionId", "v1")],
    ))
    .await
    .json();
    let id = id_of(&init);
    let checks: Vec<Check> = vec![
        (Method::GET, "serviceInfo", vec![]),
        (Method::PUT, "upload", vec![("id", id)]),
        (Method::GET, "metadata", vec![("id", id)]),
        (Method::GET, "files", vec![("parentId", id_of(&folder))]),
        (Method::GET, "search", vec![("query", "f.txt")]),
        (Method::GET, "download", vec![("id", id)]),
        (Method::GET, "thumbnail", vec![("id", id)]),
        (Method::PUT, "rename", vec![("id", id), ("name", "g.txt")]),
        (Method::GET, "customAction", vec![("name", "archive"), ("documentId", "d1"), ("documentVersionId", "v1")]),
        (Method::PUT, "delete", vec![("documentId", id)]),
    ];
    for (method, endpoint, query) in checks {
        let request = call(method, endpoint, &query);
        let request = if endpoint == "upload" { request.body("contents") } else { request };
        let reply = send(request).await;
        assert_eq!(reply.status, StatusCode::OK, "{endpoint} with Workfront's extra parameters: {}", reply.text());
    }
}

#[tokio::test]
async fn failures_are_never_html_or_empty() {
    let server = TestServer::start().await;
    let file = server.upload("/", "f.txt", "f").await;
    let failing: Vec<Reply> = vec![
        server.get("metadata", &[]).await,
        server.get("metadata", &[("id", "AAAAAAAAAAAAAAAAAAAAAA")]).await,
        server.get("files", &[("max", "x")]).await,
        server.get("search", &[]).await,
        server.get("download", &[("id", "..")]).await,
        server.get("thumbnail", &[("id", "")]).await,
        send(server.call(Method::POST, "uploadInit", &[("filename", "..")])).await,
        send(server.call(Method::PUT, "upload", &[("id", "AAAAAAAAAAAAAAAAAAAAAA")]).body("x")).await,
        send(server.call(Method::POST, "createFolder", &[])).await,
        send(server.call(Method::PUT, "delete", &[])).await,
        send(server.call(Method::PUT, "rename", &[("id", id_of(&file))])).await,
        send(server.call(Method::GET, "customAction", &[("name", "nope"), ("id", id_of(&file))])).await,
        send(server.anonymous(Method::GET, "files", &[])).await,
        server.send_form(Method::POST, "uploadInit", &[("parentId", "/")]).await,
        send(server.http.get(format!("{}/webhooks/nobody/files", server.base))).await,
    ];
    for reply in failing {
        assert!(reply.status.is_client_error(), "{} {}", reply.status, reply.text());
        let content_type = reply.header("content-type").unwrap_or_default();
        assert!(content_type.starts_with("application/json"), "{content_type}: {}", reply.text());
        let body = reply.json();
        assert!(body["error"].as_str().is_some_and(|e| !e.is_empty()), "{body}");
        assert!(!reply.text().to_lowercase().contains("<html"), "{}", reply.text());
    }
}

#[tokio::test]
async fn a_malformed_form_body_is_a_400() {
    let server = TestServer::start().await;
    let reply = send(
        server
            .call(Method::POST, "createFolder", &[])
            .header("content-type", "application/x-www-form-urlencoded")
            .body(vec![b'n', b'a', b'm', b'e', b'=', 0xff, 0xfe]),
    )
    .await;
    assert_error(&reply, 400);
    assert!(server.list("/").await.is_empty());
}

#[tokio::test]
async fn the_query_string_wins_over_the_form_body() {
    let server = TestServer::start().await;
    let reply =
        send(server.call(Method::POST, "createFolder", &[("name", "from query")]).form(&[("name", "from body")])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json()["title"], "from query");
}

#[tokio::test]
async fn responses_carry_a_request_id() {
    let server = TestServer::start().await;
    let ok = server.get("files", &[]).await;
    let failed = server.get("metadata", &[]).await;
    let anonymous = send(server.anonymous(Method::GET, "serviceInfo", &[])).await;
    let unrouted = send(server.http.get(format!("{}/nowhere", server.base))).await;
    let mut seen = std::collections::BTreeSet::new();
    for reply in [&ok, &failed, &anonymous, &unrouted] {
        let id = reply.must("x-request-id");
        assert!(!id.is_empty());
        assert!(seen.insert(id.to_owned()), "request IDs are unique: {id} twice");
    }
    // A request ID the caller sends is the one the response carries.
    let traced = send(server.call(Method::GET, "files", &[]).header("x-request-id", "trace-me-123")).await;
    assert_eq!(traced.must("x-request-id"), "trace-me-123");
}

#[tokio::test]
async fn health_answers_without_credentials() {
    let server = TestServer::start().await;
    let health = send(server.http.get(format!("{}/healthz", server.base))).await;
    assert_eq!(health.status, StatusCode::OK);
    let ready = send(server.http.get(format!("{}/readyz", server.base))).await;
    assert_eq!(ready.status, StatusCode::OK, "{}", ready.text());
}

#[tokio::test]
async fn head_is_answered_like_get_without_a_body() {
    let server = TestServer::start().await;
    let file = server.upload("/", "head.txt", "twelve bytes").await;
    let reply = send(server.call(Method::HEAD, "download", &[("id", id_of(&file))])).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.is_empty());
    assert_eq!(reply.must("content-length"), "12");
    for endpoint in ["metadata", "files"] {
        let reply = send(server.call(Method::HEAD, endpoint, &[("id", id_of(&file))])).await;
        assert_eq!(reply.status, StatusCode::OK, "{endpoint}");
    }
}

#[tokio::test]
async fn a_wrong_method_outside_the_webhooks_is_never_an_empty_answer() {
    let server = TestServer::start().await;
    for path in ["/healthz", "/readyz", "/links/view", "/links/download"] {
        let reply = send(server.http.post(format!("{}{path}", server.base))).await;
        assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED, "POST {path}");
        assert!(!reply.body.is_empty(), "POST {path} answered an empty body");
        let content_type = reply.header("content-type").unwrap_or_default();
        assert!(
            content_type.starts_with("application/json") || content_type.starts_with("text/html"),
            "POST {path}: {content_type:?}"
        );
    }
}

#[tokio::test]
async fn an_oversized_form_body_is_a_413() {
    let server = TestServer::start().await;
    let padding = "x".repeat(100 * 1024);
    let reply = server.send_form(Method::POST, "createFolder", &[("name", "big"), ("padding", &padding)]).await;
    assert_error(&reply, 413);
    assert!(server.list("/").await.is_empty());
}

#[tokio::test]
async fn an_internal_failure_is_a_generic_500_with_a_request_id() {
    let server = TestServer::start().await;
    server.upload("/", "x.txt", "x").await;
    std::fs::remove_dir_all(server.docs()).unwrap();
    std::fs::write(server.docs(), "the library folder is now a file").unwrap();
    let reply = server.get("files", &[("parentId", "/")]).await;
    assert_error(&reply, 500);
    let message = crate::support::message(&reply);
    let data_dir = server.data_dir().display().to_string();
    assert!(!message.contains(&data_dir) && !message.contains("documents"), "no detail leaks: {message}");
    assert!(!reply.must("x-request-id").is_empty());
}
