//! The OpenAPI document: the committed `docs/openapi.json` is what the code generates (run
//! `cargo xtask codegen` after changing a route or a schema), every documented path and method
//! reaches a route of the real router, every route in the source is documented, and the schemas
//! describe what the protocol types serialise and what the endpoints answer.

use crate::support::in_process;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use docbridge_protocol::{
    CustomActionInfo, ErrorBody, ItemId, ItemKind, ItemMetadata, OAuthErrorBody, ServiceInfo, StatusOutcome,
    TokenResponse, UploadOutcome,
};
use docbridge_registry::Registry;
use docbridge_server::{AppState, BuiltinStorage, setup};
use serde_json::Value;
use tower::ServiceExt;

/// Set to rewrite `docs/openapi.json` instead of comparing (what `cargo xtask codegen` does).
const UPDATE_VAR: &str = "UPDATE_GENERATED";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn document() -> Value {
    serde_json::from_str(&docbridge_server::openapi::document_json().unwrap()).unwrap()
}

#[test]
fn the_committed_document_is_current() {
    let generated = docbridge_server::openapi::document_json().unwrap();
    let path = workspace_root().join("docs/openapi.json");
    if std::env::var_os(UPDATE_VAR).is_some() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == generated, "docs/openapi.json is stale: run `cargo xtask codegen` and commit the result");
}

#[test]
fn the_document_is_openapi_3_1_with_unique_operation_ids() {
    let doc = document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let mut ids = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let id = operation["operationId"].as_str().unwrap_or_else(|| panic!("{method} {path} has no operationId"));
            assert!(ids.insert(id.to_owned()), "operationId {id} is used twice");
            assert!(
                operation["responses"].as_object().is_some_and(|r| !r.is_empty()),
                "{method} {path} documents no response"
            );
            for reference in references(operation) {
                let name = reference.trim_start_matches("#/components/schemas/");
                assert!(
                    doc["components"]["schemas"].get(name).is_some(),
                    "{method} {path} refers to the unknown schema {name}"
                );
            }
        }
    }
}

/// Every `$ref` below a value.
fn references(value: &Value) -> Vec<String> {
    match value {
        Value::Object(map) => map
            .iter()
            .flat_map(
                |(k, v)| if k == "$ref" { vec![v.as_str().unwrap_or_default().to_owned()] } else { references(v) },
            )
            .collect(),
        Value::Array(items) => items.iter().flat_map(references).collect(),
        _ => Vec::new(),
    }
}

// ---- routes ----

/// `.route("...")` and `.nest("...", ...)` calls in the server's source, as full path patterns.
/// Routes are declared in code only through these two calls, so reading them finds every route;
/// the provider's `/webhooks/{slug}/{endpoint}` stands for the twelve endpoint names.
fn routes_in_source() -> BTreeSet<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_rust_files(&src, &mut files);
    let mut routes = BTreeSet::new();
    let mut nests: BTreeMap<String, String> = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let module = file.file_stem().unwrap().to_string_lossy().into_owned();
        for (call, prefix) in [(".route(", false), (".nest(", true)] {
            for (start, _) in text.match_indices(call) {
                // rustfmt may put the path on the next line: skip whitespace up to its quote.
                let Some(rest) = text[start + call.len()..].trim_start().strip_prefix('"') else { continue };
                let Some(end) = rest.find('"') else { continue };
                let path = rest[..end].to_owned();
                if prefix {
                    // `.nest("/prefix", module::routes())`: the nested module's routes get the prefix.
                    let target = rest[end..].split([':', ')']).next().unwrap_or_default();
                    let target = target.trim_start_matches(['"', ',', ' ', '\n']).to_owned();
                    nests.insert(target, path);
                } else {
                    routes.insert((module.clone(), path));
                }
            }
        }
        // Routes declared with their description: utoipa-axum's `routes!` mounts each handler at
        // the `path` of its `#[utoipa::path(...)]`.
        for (start, _) in text.match_indices("#[utoipa::path(") {
            let attribute = &text[start..text[start..].find(")]").map_or(text.len(), |end| start + end)];
            if let Some(rest) = attribute.split("path = \"").nth(1) {
                routes.insert((module.clone(), rest.split('"').next().unwrap_or_default().to_owned()));
            }
        }
    }
    routes
        .into_iter()
        .flat_map(|(module, path)| {
            let path = match nests.get(&module) {
                Some(prefix) => format!("{prefix}{}", if path == "/" { "" } else { path.as_str() }),
                None => path,
            };
            if path == "/webhooks/{slug}/{endpoint}" {
                docbridge_protocol::Endpoint::ALL
                    .iter()
                    .map(|e| format!("/webhooks/{{slug}}/{}", e.as_str()))
                    .collect::<Vec<_>>()
            } else {
                vec![path]
            }
        })
        .collect()
}

fn collect_rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_route_in_the_source_is_documented() {
    let doc = document();
    let documented: BTreeSet<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    let mut routes = routes_in_source();
    // The plain-HTTP listener of automatic HTTPS (`acme.rs`, `[http.acme] http_listen`, port 80)
    // is not at public_url: it answers the CA's HTTP-01 validation and redirects everything
    // else there. The OpenAPI document describes public_url.
    assert!(routes.remove("/.well-known/acme-challenge/{token}"), "the HTTP-01 route is found: {routes:?}");
    assert!(
        routes.contains("/webhooks/{slug}/files") && routes.contains("/readyz"),
        "the source scan finds the router's routes: {routes:?}"
    );
    let missing: Vec<_> = routes.difference(&documented).collect();
    assert!(missing.is_empty(), "routes missing from the OpenAPI document: {missing:?}");
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(extra.is_empty(), "documented paths that no route declares: {extra:?}");
}

async fn state() -> (AppState, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let registry = Registry::connect("sqlite::memory:").await.unwrap();
    let docs = dir.path().join("documents");
    std::fs::create_dir_all(&docs).unwrap();
    let base = "http://docbridge.test".to_owned();
    let credentials = setup::ensure_default_integration(&registry, &base, &docs).await.unwrap().unwrap();
    let settings = in_process::settings(&base, dir.path(), "docbridge openapi tests");
    let state = AppState::new(registry, settings, Arc::new(BuiltinStorage::default())).await.unwrap();
    (state, credentials.api_key.unwrap(), dir)
}

/// Sends one request through the real router.
async fn send(state: &AppState, method: Method, uri: &str, key: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(key) = key {
        request = request.header("apiKey", key).header("username", "openapi@example.com");
    }
    let response = docbridge_server::router(state.clone()).oneshot(request.body(Body::empty()).unwrap()).await.unwrap();
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 24).await.unwrap().to_vec();
    (status, bytes)
}

#[tokio::test]
async fn every_documented_path_and_method_reaches_a_route() {
    let (state, _key, _dir) = state().await;
    let doc = document();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        let uri = path
            .replace("{slug}", "default")
            .replace("{file}", "admin.css")
            .replace("{username}", "nobody@example.com");
        for method in item.as_object().unwrap().keys() {
            let method = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let (status, body) = send(&state, method.clone(), &uri, None).await;
            let text = String::from_utf8_lossy(&body);
            // The fallback's answer, or axum's for a path routed under other methods only.
            let unrouted = (status == StatusCode::NOT_FOUND && text.contains("no such endpoint"))
                || status == StatusCode::METHOD_NOT_ALLOWED;
            assert!(!unrouted, "{method} {uri} is documented but not routed ({status}: {text})");
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} operations checked");
}

#[tokio::test]
async fn the_document_is_served() {
    let (state, _key, _dir) = state().await;
    let (status, body) = send(&state, Method::GET, "/openapi.json", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(String::from_utf8(body).unwrap(), docbridge_server::openapi::document_json().unwrap());
}

// ---- schemas ----

/// A small structural check of a JSON value against a schema of the document: types, required
/// and known properties, enums, array items and references. Enough to catch a schema that
/// drifted from the code; not a general JSON Schema validator.
fn conforms(doc: &Value, schema: &Value, value: &Value, at: &str) -> Result<(), String> {
    if let Some(reference) = schema.get("$ref").and_then(Value::as_str) {
        let name = reference.trim_start_matches("#/components/schemas/");
        return conforms(doc, &doc["components"]["schemas"][name], value, at);
    }
    if let Some(allowed) = schema.get("enum").and_then(Value::as_array)
        && !allowed.contains(value)
    {
        return Err(format!("{at}: {value} is not one of {allowed:?}"));
    }
    // `type` is a name or, in OpenAPI 3.1, a list of names (["string", "null"]).
    let kinds: Vec<&str> = match schema.get("type") {
        Some(Value::String(kind)) => vec![kind.as_str()],
        Some(Value::Array(kinds)) => kinds.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let ok = kinds.is_empty()
        || kinds.iter().any(|kind| match *kind {
            "object" => value.is_object(),
            "array" => value.is_array(),
            "string" => value.is_string(),
            "integer" => value.is_u64() || value.is_i64(),
            "boolean" => value.is_boolean(),
            "null" => value.is_null(),
            _ => true,
        });
    if !ok {
        return Err(format!("{at}: {value} is not {kinds:?}"));
    }
    if let (Some(properties), Some(object)) = (schema.get("properties").and_then(Value::as_object), value.as_object()) {
        for required in schema.get("required").and_then(Value::as_array).into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !object.contains_key(name) {
                return Err(format!("{at}: the required field {name} is missing"));
            }
        }
        let extra = schema.get("additionalProperties");
        for (name, field) in object {
            match (properties.get(name), extra) {
                (Some(field_schema), _) => conforms(doc, field_schema, field, &format!("{at}.{name}"))?,
                (None, Some(extra)) if extra.is_object() => conforms(doc, extra, field, &format!("{at}.{name}"))?,
                (None, _) => return Err(format!("{at}: the field {name} is not in the schema")),
            }
        }
    }
    if let (Some(items), Some(array)) = (schema.get("items"), value.as_array()) {
        for (i, item) in array.iter().enumerate() {
            conforms(doc, items, item, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// Every property of the schema appears in at least one of the samples: a field the type lost
/// (or never had) fails here, a field the schema lacks fails in `conforms`.
fn covers(doc: &Value, name: &str, samples: &[Value]) {
    let schema = &doc["components"]["schemas"][name];
    for sample in samples {
        conforms(doc, schema, sample, name).unwrap_or_else(|e| panic!("{e}"));
    }
    for property in schema["properties"].as_object().unwrap().keys() {
        assert!(
            samples.iter().any(|s| s.get(property).is_some()),
            "{name}.{property} is in the schema but the type never serialises it"
        );
    }
}

#[test]
fn schemas_describe_the_protocol_types() {
    let doc = document();
    let item = ItemMetadata {
        id: ItemId::parse("id", "abc_DEF-123").unwrap(),
        title: "report.pdf".into(),
        kind: ItemKind::File,
        date_modified: chrono::Utc::now(),
        size: 42,
        mime_type: "application/pdf".into(),
        view_link: "http://x/links/view".into(),
        download_link: "http://x/links/download".into(),
        read_only: false,
    };
    covers(&doc, "ItemMetadata", &[serde_json::to_value(&item).unwrap()]);
    let action = CustomActionInfo { name: "archive".into(), display_name: "Archive".into() };
    covers(&doc, "CustomActionInfo", &[serde_json::to_value(&action).unwrap()]);
    let info = ServiceInfo {
        webhook_version: "1.2".into(),
        version: "0.1.0".into(),
        publisher: "p".into(),
        available_endpoints: vec!["files".into()],
        custom_actions: vec![action],
    };
    covers(&doc, "ServiceInfo", &[serde_json::to_value(&info).unwrap()]);
    covers(&doc, "ErrorBody", &[serde_json::to_value(ErrorBody::new("x")).unwrap()]);
    covers(
        &doc,
        "StatusOutcome",
        &[
            serde_json::to_value(StatusOutcome::success()).unwrap(),
            serde_json::to_value(StatusOutcome::failure("x")).unwrap(),
        ],
    );
    covers(
        &doc,
        "UploadOutcome",
        &[
            serde_json::to_value(UploadOutcome::success()).unwrap(),
            serde_json::to_value(UploadOutcome::fail("x")).unwrap(),
        ],
    );
    let token = TokenResponse {
        access_token: "a".into(),
        token_type: "Bearer".into(),
        expires_in: 3600,
        refresh_token: Some("r".into()),
    };
    covers(&doc, "TokenResponse", &[serde_json::to_value(&token).unwrap()]);
    let oauth_error = OAuthErrorBody { error: "invalid_grant".into(), error_description: Some("expired".into()) };
    covers(&doc, "OAuthErrorBody", &[serde_json::to_value(&oauth_error).unwrap()]);
}

#[tokio::test]
async fn endpoint_answers_conform_to_their_documented_responses() {
    let (state, key, dir) = state().await;
    std::fs::write(dir.path().join("documents/notes.txt"), "hello").unwrap();
    let doc = document();
    let check = |path: &str, method: &str, status: StatusCode, body: &[u8]| {
        let response = &doc["paths"][path][method]["responses"][status.as_str()];
        assert!(response.is_object(), "{method} {path} answered {status}, which is not documented");
        let schema = &response["content"]["application/json"]["schema"];
        let value: Value = serde_json::from_slice(body).unwrap_or_else(|_| panic!("{method} {path}: not JSON"));
        conforms(&doc, schema, &value, path).unwrap_or_else(|e| panic!("{e}"));
        value
    };
    let (status, body) = send(&state, Method::GET, "/webhooks/default/serviceInfo", None).await;
    check("/webhooks/{slug}/serviceInfo", "get", status, &body);
    let (status, body) = send(&state, Method::GET, "/webhooks/default/files?parentId=/", Some(&key)).await;
    let listing = check("/webhooks/{slug}/files", "get", status, &body);
    assert!(!listing.as_array().unwrap().is_empty());
    let (status, body) = send(&state, Method::GET, "/webhooks/default/metadata?id=/", Some(&key)).await;
    check("/webhooks/{slug}/metadata", "get", status, &body);
    let (status, body) = send(&state, Method::GET, "/webhooks/default/metadata?id=unknown", Some(&key)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    check("/webhooks/{slug}/metadata", "get", status, &body);
    let (status, body) = send(&state, Method::GET, "/webhooks/default/files", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    check("/webhooks/{slug}/files", "get", status, &body);
    let (status, body) = send(&state, Method::PUT, "/webhooks/default/rename?id=unknown&name=x", Some(&key)).await;
    check("/webhooks/{slug}/rename", "put", status, &body);
    let (status, body) = send(&state, Method::PUT, "/webhooks/default/upload?id=unknown", Some(&key)).await;
    check("/webhooks/{slug}/upload", "put", status, &body);
}

#[test]
fn schemas_describe_the_admin_api_types() {
    use docbridge_registry::{AuditEntry, DefaultRole, Role};
    use docbridge_server::setup::{
        ActionView, GrantView, IntegrationCredentials, IntegrationView, KeyView, RotatedSecret, UserView,
    };
    let doc = document();
    let now = chrono::Utc::now();
    let to = |value: &dyn erased::Serialize| value.to_json();
    let full_credentials = IntegrationCredentials {
        slug: "s".into(),
        name: "n".into(),
        auth: "OAuth2".into(),
        base_api_url: "http://x/webhooks/s".into(),
        api_key: Some("k".into()),
        client_id: Some("c".into()),
        client_secret: Some("cs".into()),
        authentication_url: Some("http://x/oauth/authorize?client_id=c".into()),
        token_endpoint_url: Some("http://x/oauth/token".into()),
        redirect_uris: vec!["https://wf/callback".into()],
        root: "/srv".into(),
    };
    let mut with_secrets = to(&full_credentials);
    with_secrets["webhook_secrets"] = serde_json::json!({"notify": "generated-secret"});
    covers(&doc, "IntegrationCredentials", &[to(&full_credentials), with_secrets]);
    let key = KeyView { hint: "abc123".into(), created_at: now };
    covers(&doc, "KeyView", &[to(&key)]);
    let moved = ActionView {
        name: "archive".into(),
        display_name: "Archive".into(),
        kind: "move",
        folder: Some("Archive".into()),
        url: None,
        timeout_secs: None,
        retries: None,
    };
    let hook = ActionView {
        name: "notify".into(),
        display_name: "Notify".into(),
        kind: "webhook",
        folder: None,
        url: Some("https://h".into()),
        timeout_secs: Some(10),
        retries: Some(3),
    };
    covers(&doc, "ActionView", &[to(&moved), to(&hook)]);
    let view = IntegrationView {
        slug: "s".into(),
        name: "n".into(),
        enabled: true,
        auth: "OAuth2".into(),
        base_api_url: "http://x/webhooks/s".into(),
        request_params: vec!["a=b".into()],
        authentication_url: Some("http://x/oauth/authorize?client_id=c".into()),
        token_endpoint_url: Some("http://x/oauth/token".into()),
        client_id: Some("c".into()),
        redirect_uris: vec!["https://wf/callback".into()],
        api_keys: vec![key],
        storage_kind: "fs".into(),
        root: "/srv".into(),
        default_role: DefaultRole::Editor,
        custom_actions: vec![moved],
        created_at: now,
        updated_at: now,
    };
    let mut edited = to(&view);
    edited["webhook_secrets"] = serde_json::json!({"notify": "generated-secret"});
    covers(&doc, "IntegrationView", &[to(&view), edited]);
    covers(
        &doc,
        "RotatedSecret",
        &[to(&RotatedSecret {
            slug: "s".into(),
            api_key: Some("k".into()),
            client_secret: Some("c".into()),
            active_keys: 2,
        })],
    );
    let grant = GrantView {
        username: "ann@example.com".into(),
        integration: "s".into(),
        role: Role::Reader,
        folder: Some("abc".into()),
    };
    covers(&doc, "GrantView", &[to(&grant)]);
    covers(
        &doc,
        "UserView",
        &[to(&UserView { username: "ann@example.com".into(), created_at: now, grants: vec![grant] })],
    );
    let entry = AuditEntry {
        at: now,
        actor: "a".into(),
        integration: "s".into(),
        operation: "integration.add".into(),
        item_id: Some("i".into()),
        result: "ok".into(),
        detail: Some("d".into()),
    };
    let bare = AuditEntry { item_id: None, detail: None, ..entry.clone() };
    covers(&doc, "AuditEntry", &[to(&entry), to(&bare)]);
}

/// `serde_json::to_value` through a trait object, so one closure serves every type.
mod erased {
    pub trait Serialize {
        fn to_json(&self) -> serde_json::Value;
    }

    impl<T: serde::Serialize> Serialize for T {
        fn to_json(&self) -> serde_json::Value {
            serde_json::to_value(self).unwrap()
        }
    }
}
