//! `/serviceInfo` (C1, C19): unauthenticated, the exact shape, every endpoint, the default
//! integration's `archive` action.

use std::collections::BTreeSet;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{PUBLISHER, TestServer, assert_error, endpoints, send};

#[tokio::test]
async fn answers_without_credentials_with_the_exact_shape() {
    let server = TestServer::start().await;
    let reply = send(server.anonymous(Method::GET, "serviceInfo", &[])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(reply.must("content-type").starts_with("application/json"));
    let info = reply.json();
    let mut keys: Vec<&str> = info.as_object().expect("an object").keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["availableEndpoints", "customActions", "publisher", "version", "webhookVersion"]);
    assert_eq!(info["webhookVersion"], "1.2");
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(info["publisher"], PUBLISHER);
    assert_eq!(info["customActions"], json!([{"name": "archive", "displayName": "Archive"}]));
}

#[tokio::test]
async fn lists_all_twelve_endpoints_once() {
    let server = TestServer::start().await;
    let info = server.ok_json(Method::GET, "serviceInfo", &[]).await;
    let listed: Vec<&str> = info["availableEndpoints"]
        .as_array()
        .expect("an array")
        .iter()
        .map(|e| e.as_str().expect("names are strings"))
        .collect();
    let unique: BTreeSet<&str> = listed.iter().copied().collect();
    assert_eq!(unique.len(), listed.len(), "no endpoint twice: {listed:?}");
    assert_eq!(unique, endpoints().collect::<BTreeSet<_>>());
}

#[tokio::test]
async fn every_listed_endpoint_is_routed() {
    let server = TestServer::start().await;
    // Every endpoint answers something other than "no such endpoint" (a 404 here would be an
    // item that is not found, which needs a valid endpoint first).
    for endpoint in endpoints() {
        let reply = send(server.call(Method::GET, endpoint, &[])).await;
        let text = reply.text();
        assert!(!text.contains("no endpoint named"), "{endpoint} is not routed: {text}");
    }
    let reply = send(server.call(Method::GET, "serviceinfo", &[])).await;
    assert_error(&reply, 404);
}

#[tokio::test]
async fn an_unknown_integration_is_a_404() {
    let server = TestServer::start().await;
    let reply = send(server.http.get(format!("{}/webhooks/nobody/serviceInfo", server.base))).await;
    assert_error(&reply, 404);
}

#[tokio::test]
async fn ignores_parameters_workfront_appends() {
    let server = TestServer::start().await;
    let reply =
        send(server.anonymous(Method::GET, "serviceInfo", &[("access_type", "offline"), ("anything", "x")])).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["webhookVersion"], "1.2");
}
