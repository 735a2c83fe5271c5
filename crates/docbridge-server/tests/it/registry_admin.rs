//! Issue #3 end to end: the `integration`, `user` and `audit` commands (the real binary) and the
//! admin JSON API (real HTTP on 127.0.0.1) over one data directory that a running server serves,
//! with roles, folder confinement, disabling mid-session, the webhook action and the audit trail.

use crate::support::in_process;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use docbridge_registry::Registry;
use docbridge_server::config::{Config, Overrides};
use docbridge_server::{AppState, BuiltinStorage};
use in_process::Serving;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tempfile::TempDir;
use tokio::io::AsyncWriteExt;
use tokio::process::Command;

const TOKEN: &str = "admin-token-for-tests-0123456789";

/// A docbridge serving a temporary data directory in-process, and the binary's commands on the
/// same directory (and so the same SQLite database), as an administrator would run them beside
/// a running server.
struct Env {
    _dir: TempDir,
    data: PathBuf,
    base: String,
    http: reqwest::Client,
    serving: Serving,
}

impl Env {
    async fn start(token: &str) -> Env {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).expect("data directory");
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).expect("default configuration");
        let registry = Registry::connect(&config.database_url(&data)).await.expect("registry opens");
        let (listener, base) = in_process::listen().await;
        let settings = in_process::settings(&base, dir.path(), "docbridge tests");
        // As `serve` does: libraries in forbidden places are refused (issue #13 finding 10).
        let refused = config.root_policy(&data).refused(&registry).await.expect("roots checked");
        let state = AppState::new(registry, settings, Arc::new(BuiltinStorage::default()))
            .await
            .expect("state")
            .with_admin_token(token.to_owned().into())
            .with_root_policy(config.root_policy(&data), refused);
        let serving = Serving::start(listener, state);
        Env { _dir: dir, data, base, http: reqwest::Client::new(), serving }
    }

    async fn stop(self) {
        self.serving.stop().await;
    }

    /// The binary with a clean environment, on this data directory, printing this server's URLs.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_docbridge"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("DOCBRIDGE_")) {
            command.env_remove(key);
        }
        command.env("DOCBRIDGE_PUBLIC_URL", &self.base).env("USER", "tester");
        command
            .current_dir(self.data.parent().expect("parent"))
            .arg("--data-dir")
            .arg(&self.data)
            .args(args)
            .kill_on_drop(true);
        command
    }

    async fn cli(&self, args: &[&str]) -> Output {
        self.cli_with_stdin(args, "").await
    }

    async fn cli_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let mut input = child.stdin.take().expect("stdin");
        input.write_all(stdin.as_bytes()).await.expect("write stdin");
        drop(input);
        tokio::time::timeout(Duration::from_secs(120), child.wait_with_output())
            .await
            .expect("the command finishes")
            .expect("output")
    }

    /// A command that must succeed and print JSON.
    async fn cli_json(&self, args: &[&str]) -> Value {
        json_of(&self.cli(args).await, args)
    }

    /// A command that must fail with a message containing `expected`.
    async fn cli_fails(&self, args: &[&str], expected: &str) {
        let output = self.cli(args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} was accepted: {}", String::from_utf8_lossy(&output.stdout));
        assert!(stderr.contains(expected), "{args:?}: the message names {expected:?}: {stderr}");
    }

    fn admin(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http.request(method, format!("{}/admin/api{path}", self.base)).bearer_auth(TOKEN)
    }

    /// An admin API call; answers the status and the JSON body.
    async fn api(&self, method: Method, path: &str, body: Option<Value>) -> (StatusCode, Value) {
        let mut request = self.admin(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        reply(request).await
    }

    /// A Document Webhooks call as Workfront makes it.
    async fn wf(
        &self,
        method: Method,
        slug: &str,
        key: &str,
        user: &str,
        endpoint: &str,
        query: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        reply(
            self.http
                .request(method, format!("{}/webhooks/{slug}/{endpoint}", self.base))
                .query(query)
                .header("apiKey", key)
                .header("username", user),
        )
        .await
    }

    /// `/uploadInit` then `/upload`; answers the item's ID.
    async fn upload(&self, slug: &str, key: &str, user: &str, parent: &str, name: &str, bytes: &'static str) -> String {
        self.upload_with(slug, key, user, &[("parentId", parent), ("filename", name)], bytes).await
    }

    /// [`Env::upload`] with `/uploadInit`'s parameters as given.
    async fn upload_with(
        &self,
        slug: &str,
        key: &str,
        user: &str,
        init: &[(&str, &str)],
        bytes: &'static str,
    ) -> String {
        let (status, init) = self.wf(Method::POST, slug, key, user, "uploadInit", init).await;
        assert_eq!(status, StatusCode::OK, "uploadInit: {init}");
        let id = init["id"].as_str().expect("an id").to_owned();
        let request = self
            .http
            .put(format!("{}/webhooks/{slug}/upload", self.base))
            .query(&[("id", &id)])
            .header("apiKey", key)
            .header("username", user)
            .body(bytes);
        let (status, body) = reply(request).await;
        assert_eq!(status, StatusCode::OK, "upload: {body}");
        id
    }

    /// Registers an ApiKey integration through the CLI; answers its key.
    async fn add_integration(&self, slug: &str, extra: &[&str]) -> String {
        let mut args = vec!["integration", "add", "--name", slug, "--slug", slug, "--auth", "apikey", "--json"];
        args.extend_from_slice(extra);
        let added = self.cli_json(&args).await;
        added["api_key"].as_str().expect("an api_key").to_owned()
    }

    async fn audit(&self, slug: &str) -> Vec<Value> {
        self.cli_json(&["audit", "list", "--integration", slug, "--json"]).await.as_array().expect("a list").clone()
    }
}

async fn reply(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
    let response = request.send().await.expect("the server answers");
    let status = response.status();
    let text = response.text().await.expect("a body");
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn json_of(output: &Output, args: &[&str]) -> Value {
    crate::support::output_json(output, &format!("{args:?}"))
}

fn operations(entries: &[Value]) -> Vec<String> {
    entries.iter().map(|e| e["operation"].as_str().unwrap_or_default().to_owned()).collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[tokio::test]
async fn cli_manages_integrations_while_the_server_runs() {
    let env = Env::start(TOKEN).await;
    let key = env.add_integration("sales", &[]).await;
    let user = "someone@example.com";
    assert_eq!(env.wf(Method::GET, "sales", &key, user, "files", &[]).await.0, StatusCode::OK);

    let shown = env.cli_json(&["integration", "show", "sales", "--json"]).await;
    assert_eq!(shown["base_api_url"], format!("{}/webhooks/sales", env.base));
    assert_eq!(shown["auth"], "ApiKey");
    assert_eq!(shown["enabled"], true);
    assert_eq!(shown["api_keys"].as_array().unwrap().len(), 1);
    assert!(key.starts_with(shown["api_keys"][0]["hint"].as_str().unwrap()));
    assert!(!shown.to_string().contains(&key), "show never prints the key");

    let edited = env
        .cli_json(&[
            "integration",
            "edit",
            "sales",
            "--name",
            "Sales Team",
            "--param",
            "team=42",
            "--default-role",
            "reader",
            "--action",
            "name=archive,display=Archive,kind=move,folder=Archive",
            "--action",
            "name=freeze,display=Freeze,kind=lock",
            "--json",
        ])
        .await;
    assert_eq!(edited["name"], "Sales Team");
    assert_eq!(edited["request_params"], json!(["team=42"]));
    assert_eq!(edited["default_role"], "reader");
    assert_eq!(
        edited["custom_actions"][0],
        json!({"name": "archive", "display_name": "Archive", "kind": "move", "folder": "Archive"})
    );
    // The server sees the change at its next request: serviceInfo lists the actions.
    let (_, info) = env.wf(Method::GET, "sales", "", "", "serviceInfo", &[]).await;
    assert_eq!(
        info["customActions"],
        json!([{"name": "archive", "displayName": "Archive"}, {"name": "freeze", "displayName": "Freeze"}])
    );
    let edited = env
        .cli_json(&["integration", "edit", "sales", "--remove-action", "freeze", "--default-role", "editor", "--json"])
        .await;
    assert_eq!(edited["custom_actions"].as_array().unwrap().len(), 1);

    // Rotation: both keys work until the old one is revoked (C3).
    let rotated = env.cli_json(&["integration", "rotate-key", "sales", "--json"]).await;
    let new_key = rotated["api_key"].as_str().expect("a new key").to_owned();
    assert_ne!(new_key, key);
    assert_eq!(rotated["active_keys"], 2);
    assert_eq!(env.wf(Method::GET, "sales", &key, user, "files", &[]).await.0, StatusCode::OK);
    assert_eq!(env.wf(Method::GET, "sales", &new_key, user, "files", &[]).await.0, StatusCode::OK);
    let revoked = env.cli_json(&["integration", "revoke-keys", "sales", "--keep-newest", "--json"]).await;
    assert_eq!(revoked["revoked"], 1);
    assert_eq!(env.wf(Method::GET, "sales", &key, user, "files", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(env.wf(Method::GET, "sales", &new_key, user, "files", &[]).await.0, StatusCode::OK);

    // Disable and enable: at once, no restart.
    assert_eq!(env.cli_json(&["integration", "disable", "sales", "--json"]).await["enabled"], false);
    let (status, body) = env.wf(Method::GET, "sales", &new_key, user, "files", &[]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["status"], "error");
    assert_eq!(env.wf(Method::GET, "sales", "", "", "serviceInfo", &[]).await.0, StatusCode::OK);
    assert_eq!(env.cli_json(&["integration", "enable", "sales", "--json"]).await["enabled"], true);
    assert_eq!(env.wf(Method::GET, "sales", &new_key, user, "files", &[]).await.0, StatusCode::OK);

    let listed = env.cli_json(&["integration", "list", "--json"]).await;
    assert!(listed.as_array().unwrap().iter().any(|i| i["slug"] == "sales"));
    assert!(!listed.to_string().contains(&new_key));

    // OAuth2: rotation prints a new client secret.
    let added = env
        .cli_json(&[
            "integration",
            "add",
            "--name",
            "Partner",
            "--auth",
            "oauth2",
            "--redirect-uri",
            "https://wf.example.com/cb",
            "--json",
        ])
        .await;
    assert!(added["client_secret"].is_string());
    let rotated = env.cli_json(&["integration", "rotate-key", "partner", "--json"]).await;
    assert!(
        rotated["client_secret"].as_str().is_some_and(|s| s.len() >= 32 && Some(s) != added["client_secret"].as_str())
    );
    assert!(rotated.get("api_key").is_none());

    assert_eq!(env.cli_json(&["integration", "delete", "sales", "--json"]).await["status"], "deleted");
    assert_eq!(env.wf(Method::GET, "sales", &new_key, user, "files", &[]).await.0, StatusCode::NOT_FOUND);
    env.cli_fails(&["integration", "show", "sales", "--json"], "not found").await;

    let trail = env.audit("sales").await;
    assert_eq!(
        operations(&trail),
        [
            "integration.add",
            "integration.edit",
            "integration.edit",
            "integration.rotate-key",
            "integration.revoke-keys",
            "integration.disable",
            "integration.enable",
            "integration.delete"
        ]
    );
    assert!(trail.iter().all(|e| e["actor"] == "cli:tester" && e["result"] == "ok"), "{trail:?}");
    env.stop().await;
}

#[tokio::test]
async fn cli_refuses_bad_input_naming_the_field() {
    let env = Env::start(TOKEN).await;
    env.add_integration("crm", &[]).await;
    let cases: &[(&[&str], &str)] = &[
        (&["integration", "edit", "crm", "--name", " "], "name:"),
        (&["integration", "edit", "crm", "--redirect-uri", "/relative"], "redirect_uri:"),
        (&["integration", "edit", "crm", "--param", "novalue"], "request_params:"),
        (&["integration", "edit", "crm", "--default-role", "owner"], "default_role:"),
        (&["integration", "edit", "crm", "--root", ""], "root:"),
        (&["integration", "edit", "crm"], "nothing to change"),
        (&["integration", "edit", "crm", "--action", "name=x,kind=teleport"], "action:"),
        (&["integration", "edit", "crm", "--action", "name=bad name,kind=lock"], "action:"),
        (&["integration", "edit", "crm", "--action", "name=hook,kind=webhook,url=ftp://example.com/x"], "action:"),
        (&["integration", "edit", "crm", "--action", "name=hook,kind=webhook"], "url is required"),
        (&["integration", "edit", "crm", "--action", "name=mv,kind=move,folder=../up"], "action:"),
        (&["integration", "edit", "crm", "--action", "nonsense"], "action:"),
        (&["integration", "edit", "crm", "--remove-action", "ghost"], "custom_actions:"),
        (&["integration", "edit", "nosuch", "--name", "X"], "not found"),
        (&["integration", "add", "--name", "X", "--slug", "Bad Slug", "--auth", "apikey"], "slug:"),
        (&["integration", "add", "--name", "crm", "--slug", "crm2", "--auth", "apikey"], "name:"),
        (&["integration", "add", "--name", "Other", "--slug", "crm", "--auth", "apikey"], "slug:"),
        (&["integration", "add", "--name", "O", "--auth", "oauth2"], "redirect_uri:"),
        (&["integration", "add", "--name", "S", "--auth", "apikey", "--storage", "s3"], "storage: s3 needs a bucket"),
        (&["integration", "revoke-keys", "crm", "--hint", "zzzzzz"], "not found"),
        (&["integration", "rotate-key", "nosuch"], "not found"),
        (&["user", "add", "someone@example.com"], "password:"),
        (&["user", "grant", "nobody@example.com", "--integration", "crm", "--role", "owner"], "role:"),
        (&["user", "grant", "nobody@example.com", "--integration", "crm", "--role", "reader"], "not found"),
        (&["user", "revoke", "nobody@example.com", "--integration", "crm"], "not found"),
        (&["audit", "list", "--since", "yesterday"], "since:"),
    ];
    for (args, expected) in cases {
        env.cli_fails(args, expected).await;
    }
    let output = env.cli_with_stdin(&["user", "add", " ", "--password-stdin"], "pw\n").await;
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("username:"));
    let output = env.cli_with_stdin(&["user", "add", "x@example.com", "--password-stdin"], "\n").await;
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("password:"));
    let added = json_of(
        &env.cli_with_stdin(&["user", "add", "x@example.com", "--password-stdin", "--json"], "pw\n").await,
        &["user", "add"],
    );
    assert_eq!(added["username"], "x@example.com");
    let output = env.cli_with_stdin(&["user", "add", "X@Example.com", "--password-stdin"], "pw\n").await;
    assert!(!output.status.success() && String::from_utf8_lossy(&output.stderr).contains("already exists"));
    env.cli_fails(
        &["user", "grant", "x@example.com", "--integration", "crm", "--role", "reader", "--folder", "nosuchfolder"],
        "folder:",
    )
    .await;

    // Nothing was changed by the refusals; each is in the audit trail with its error.
    let shown = env.cli_json(&["integration", "show", "crm", "--json"]).await;
    assert_eq!(shown["name"], "crm");
    assert!(shown["custom_actions"].as_array().unwrap().is_empty());
    let trail = env.audit("crm").await;
    assert!(
        trail
            .iter()
            .any(|e| e["operation"] == "integration.edit" && e["result"].as_str().unwrap().starts_with("error: name:")),
        "{trail:?}"
    );
    env.stop().await;
}

#[tokio::test]
async fn admin_api_is_disabled_without_a_token() {
    let env = Env::start("").await;
    let (status, body) = env.api(Method::GET, "/integrations", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body, json!({"status": "error", "error": "admin API disabled: set admin.token"}));
    env.stop().await;
}

#[tokio::test]
async fn admin_api_manages_integrations_users_and_grants() {
    let env = Env::start(TOKEN).await;
    let root = env.data.join("libraries").join("api");
    let root = root.to_str().unwrap();

    // The token is required and compared exactly.
    let (status, _) = reply(env.http.get(format!("{}/admin/api/integrations", env.base))).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = reply(
        env.http.get(format!("{}/admin/api/integrations", env.base)).bearer_auth("admin-token-for-tests-012345678"),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body["error"].as_str().unwrap().contains("admin token"));

    // Bad input, one field at a time: 400 with the field named in the error body.
    let valid = json!({"name": "Api Docs", "slug": "api", "auth": "apikey", "root": root});
    let with = |key: &str, value: Value| {
        let mut body = valid.clone();
        body[key] = value;
        body
    };
    let cases: Vec<(Value, &str)> = vec![
        (json!({"auth": "apikey", "root": root}), "name: is required"),
        (with("auth", json!("basic")), "auth:"),
        (json!({"name": "Api Docs", "auth": "apikey"}), "root: is required"),
        (with("slug", json!("Bad Slug")), "slug:"),
        (with("name", json!(42)), "name: invalid type: integer `42`, expected a string"),
        (with("redirect_uris", json!(["relative/cb"])), "redirect_uri:"),
        (with("auth", json!("oauth2")), "redirect_uri:"),
        (with("request_params", json!(["novalue"])), "request_params:"),
        (with("request_params", json!("a=b")), "request_params: invalid type: string \"a=b\", expected a sequence"),
        (with("default_role", json!("owner")), "default_role:"),
        (with("storage_kind", json!("floppy")), "storage_kind:"),
        (with("custom_actions", json!([{"name": "a", "kind": "teleport"}])), "custom_actions:"),
        (
            with(
                "custom_actions",
                json!([{"name": "h", "kind": "webhook", "url": "http://127.0.0.1:1/x", "secret": "short"}]),
            ),
            "custom_actions:",
        ),
        (with("nmae", json!("typo")), "nmae: unknown field"),
    ];
    for (body, expected) in cases {
        let (status, answer) = env.api(Method::POST, "/integrations", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert_eq!(answer["status"], "error");
        assert!(answer["error"].as_str().unwrap().contains(expected), "{body}: {answer} should say {expected:?}");
    }
    let (status, answer) = reply(env.admin(Method::POST, "/integrations").body("{not json")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().starts_with("body:"), "{answer}");

    let (status, created) = env.api(Method::POST, "/integrations", Some(valid.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let key = created["api_key"].as_str().expect("the key, shown once").to_owned();
    assert_eq!(created["base_api_url"], format!("{}/webhooks/api", env.base));
    assert_eq!(env.wf(Method::GET, "api", &key, "u@example.com", "files", &[]).await.0, StatusCode::OK);
    let (status, conflict) = env.api(Method::POST, "/integrations", Some(valid.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(conflict["error"].as_str().unwrap().starts_with("slug:"), "{conflict}");
    // A library of its own (the same one would overlap "api"'s), but a taken name.
    let mut same_name = with("slug", json!("api-2"));
    same_name["root"] = json!(env.data.join("libraries").join("api-2"));
    let (status, conflict) = env.api(Method::POST, "/integrations", Some(same_name)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(conflict["error"].as_str().unwrap().starts_with("name:"), "{conflict}");

    let (status, listed) = env.api(Method::GET, "/integrations", None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(!listed.to_string().contains(&key));
    assert_eq!(env.api(Method::GET, "/integrations/api", None).await.1["name"], "Api Docs");
    let (status, missing) = env.api(Method::GET, "/integrations/nosuch", None).await;
    assert_eq!((status, missing["status"].as_str()), (StatusCode::NOT_FOUND, Some("error")));

    // Edits.
    let (status, edited) = env
        .api(Method::PATCH, "/integrations/api", Some(json!({"name": "API", "upsert_actions": [{"name": "notify", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}]})))
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["name"], "API");
    assert!(
        edited["webhook_secrets"]["notify"].as_str().is_some_and(|s| s.len() >= 32),
        "a generated secret, shown once: {edited}"
    );
    assert!(
        !env.api(Method::GET, "/integrations/api", None)
            .await
            .1
            .to_string()
            .contains(edited["webhook_secrets"]["notify"].as_str().unwrap())
    );
    for (body, expected) in [
        (json!({"enabled": "yes"}), "enabled:"),
        // Typed requests refuse what they do not know, naming it and what they take.
        (json!({"name": "API", "enabld": false}), "enabld: unknown field, expected one of `name`"),
        (json!({}), "edit: nothing to change"),
        (json!({"remove_actions": ["ghost"]}), "custom_actions:"),
        (json!({"redirect_uris": ["ftp://x"]}), "redirect_uri:"),
    ] {
        let (status, answer) = env.api(Method::PATCH, "/integrations/api", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        assert!(answer["error"].as_str().unwrap().starts_with(expected), "{body}: {answer}");
    }

    // Keys.
    let (status, rotated) = env.api(Method::POST, "/integrations/api/rotate-key", None).await;
    assert_eq!(status, StatusCode::OK);
    let new_key = rotated["api_key"].as_str().unwrap().to_owned();
    let (status, bad) = env.api(Method::POST, "/integrations/api/revoke-keys", Some(json!({}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
    let (_, revoked) = env.api(Method::POST, "/integrations/api/revoke-keys", Some(json!({"keep_newest": true}))).await;
    assert_eq!(revoked["revoked"], 1);
    assert_eq!(env.wf(Method::GET, "api", &key, "u@example.com", "files", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(env.wf(Method::GET, "api", &new_key, "u@example.com", "files", &[]).await.0, StatusCode::OK);

    // Users and grants.
    let (status, user) =
        env.api(Method::POST, "/users", Some(json!({"username": "Ann@Example.com", "password": "pw"}))).await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    assert_eq!(user["username"], "ann@example.com");
    assert_eq!(
        env.api(Method::POST, "/users", Some(json!({"username": "ann@example.com", "password": "pw"}))).await.0,
        StatusCode::CONFLICT
    );
    let (status, answer) = env
        .api(Method::POST, "/users", Some(json!({"username": "bob@example.com", "password": "pw", "role": "editor"})))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    assert!(answer["error"].as_str().unwrap().starts_with("role: unknown field"), "{answer}");
    let (status, answer) = env.api(Method::POST, "/users", Some(json!({"username": "bob@example.com"}))).await;
    assert_eq!((status, answer["error"].as_str()), (StatusCode::BAD_REQUEST, Some("password: is required")));
    let (status, grant) =
        env.api(Method::PUT, "/users/ann@example.com/grants/api", Some(json!({"role": "reader"}))).await;
    assert_eq!(status, StatusCode::OK, "{grant}");
    assert_eq!(grant, json!({"username": "ann@example.com", "integration": "api", "role": "reader"}));
    let (status, answer) =
        env.api(Method::PUT, "/users/ann@example.com/grants/api", Some(json!({"role": "owner"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().starts_with("role:"));
    assert_eq!(
        env.api(Method::PUT, "/users/ann@example.com/grants/nosuch", Some(json!({"role": "reader"}))).await.0,
        StatusCode::NOT_FOUND
    );
    let (_, users) = env.api(Method::GET, "/users", None).await;
    assert_eq!(users[0]["grants"][0]["role"], "reader");
    assert_eq!(
        env.api(Method::PUT, "/users/ann@example.com/password", Some(json!({"password": "new"}))).await.0,
        StatusCode::OK
    );
    assert_eq!(env.api(Method::DELETE, "/users/ann@example.com/grants/api", None).await.0, StatusCode::OK);
    assert_eq!(env.api(Method::DELETE, "/users/ann@example.com/grants/api", None).await.0, StatusCode::NOT_FOUND);
    assert_eq!(env.api(Method::DELETE, "/users/ann@example.com", None).await.0, StatusCode::OK);
    assert_eq!(env.api(Method::GET, "/users/ann@example.com", None).await.0, StatusCode::NOT_FOUND);

    // State and deletion.
    assert_eq!(env.api(Method::POST, "/integrations/api/disable", None).await.1["enabled"], false);
    assert_eq!(env.wf(Method::GET, "api", &new_key, "u@example.com", "files", &[]).await.0, StatusCode::FORBIDDEN);
    assert_eq!(env.api(Method::POST, "/integrations/api/enable", None).await.1["enabled"], true);
    assert_eq!(env.api(Method::DELETE, "/integrations/api", None).await.0, StatusCode::OK);
    assert_eq!(env.api(Method::DELETE, "/integrations/api", None).await.0, StatusCode::NOT_FOUND);

    // The audit trail, through the API: every change, refused ones included, by `admin-api`.
    let (status, trail) = env.api(Method::GET, "/audit?integration=api", None).await;
    assert_eq!(status, StatusCode::OK);
    let trail = trail.as_array().unwrap();
    for operation in [
        "integration.add",
        "integration.edit",
        "integration.rotate-key",
        "integration.revoke-keys",
        "user.grant",
        "user.revoke",
        "integration.disable",
        "integration.enable",
        "integration.delete",
    ] {
        assert!(
            trail.iter().any(|e| e["operation"] == operation && e["result"] == "ok" && e["actor"] == "admin-api"),
            "{operation} missing from {trail:?}"
        );
    }
    assert!(trail.iter().any(|e| e["result"].as_str().unwrap().starts_with("error:")), "refusals are audited too");
    let (status, answer) = env.api(Method::GET, "/audit?since=yesterday", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer["error"].as_str().unwrap().starts_with("since:"));
    let (_, none) = env.api(Method::GET, "/audit?integration=api&since=2999-01-01T00:00:00Z", None).await;
    assert_eq!(none, json!([]));
    env.stop().await;
}

#[tokio::test]
async fn concurrent_edits_from_cli_and_api_all_land() {
    let env = Env::start(TOKEN).await;
    env.add_integration("busy", &[]).await;
    let cli_edits = (0..4).map(|n| {
        let spec = format!("name=cli{n},kind=lock");
        let command = env.command(&["integration", "edit", "busy", "--action", &spec, "--json"]).output();
        async move { command.await.expect("the binary runs") }
    });
    let api_edits = (0..4).map(|n| {
        env.api(
            Method::PATCH,
            "/integrations/busy",
            Some(json!({"upsert_actions": [{"name": format!("api{n}"), "kind": "lock"}]})),
        )
    });
    let (cli, api) = tokio::join!(futures::future::join_all(cli_edits), futures::future::join_all(api_edits));
    for output in cli {
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    for (status, body) in api {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let shown = env.cli_json(&["integration", "show", "busy", "--json"]).await;
    let mut names: Vec<&str> =
        shown["custom_actions"].as_array().unwrap().iter().map(|a| a["name"].as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["api0", "api1", "api2", "api3", "cli0", "cli1", "cli2", "cli3"]);
    assert_eq!(operations(&env.audit("busy").await).iter().filter(|o| *o == "integration.edit").count(), 8);
    env.stop().await;
}

#[tokio::test]
async fn roles_and_folder_confinement() {
    let env = Env::start(TOKEN).await;
    let key = env.add_integration("team", &[]).await;
    let (admin, reader, confined, stranger) =
        ("boss@example.com", "reader@example.com", "intern@example.com", "stranger@example.com");
    // Unknown users get the default role, editor: the administrator builds the tree.
    let outside = env.upload("team", &key, admin, "/", "budget.txt", "top secret").await;
    let (status, folder) =
        env.wf(Method::POST, "team", &key, admin, "createFolder", &[("parentId", "/"), ("name", "Interns")]).await;
    assert_eq!(status, StatusCode::OK, "{folder}");
    let folder_id = folder["id"].as_str().unwrap().to_owned();
    let inside = env.upload("team", &key, admin, &folder_id, "welcome.txt", "hello").await;

    for user in [reader, confined] {
        let output =
            env.cli_with_stdin(&["user", "add", user, "--password-stdin", "--json"], "secret password\n").await;
        json_of(&output, &["user", "add", user]);
    }
    env.cli_json(&["user", "grant", reader, "--integration", "team", "--role", "reader", "--json"]).await;
    let grant = env
        .cli_json(&[
            "user",
            "grant",
            confined,
            "--integration",
            "team",
            "--role",
            "editor",
            "--folder",
            &folder_id,
            "--json",
        ])
        .await;
    assert_eq!(grant["folder"], folder_id.as_str());
    let users = env.cli_json(&["user", "list", "--json"]).await;
    assert_eq!(users.as_array().unwrap().len(), 2);
    assert!(!users.to_string().contains("secret password") && !users.to_string().contains("argon2"));

    // A reader browses, reads readOnly, and cannot write.
    let (status, listed) = env.wf(Method::GET, "team", &key, reader, "files", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(listed.as_array().unwrap().iter().all(|i| i["readOnly"] == true), "{listed}");
    assert_eq!(env.wf(Method::GET, "team", &key, reader, "metadata", &[("id", &outside)]).await.1["readOnly"], true);
    for (method, endpoint, query) in [
        (Method::POST, "uploadInit", vec![("parentId", "/"), ("filename", "x.txt")]),
        (Method::POST, "createFolder", vec![("parentId", "/"), ("name", "New")]),
        (Method::PUT, "rename", vec![("id", outside.as_str()), ("name", "renamed.txt")]),
        (Method::PUT, "delete", vec![("documentId", outside.as_str())]),
    ] {
        let (status, body) = env.wf(method, "team", &key, reader, endpoint, &query).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{endpoint}: {body}");
    }
    // An editor (by default role) sees readOnly false.
    assert_eq!(env.wf(Method::GET, "team", &key, stranger, "metadata", &[("id", &outside)]).await.1["readOnly"], false);

    // A confined user sees their folder as the root, and nothing outside it.
    let (status, root_listing) = env.wf(Method::GET, "team", &key, confined, "files", &[("parentId", "/")]).await;
    assert_eq!(status, StatusCode::OK);
    let titles: Vec<&str> = root_listing.as_array().unwrap().iter().map(|i| i["title"].as_str().unwrap()).collect();
    assert_eq!(titles, ["welcome.txt"]);
    assert_eq!(env.wf(Method::GET, "team", &key, confined, "metadata", &[("id", &inside)]).await.0, StatusCode::OK);
    assert_eq!(
        env.wf(Method::GET, "team", &key, confined, "metadata", &[("id", &outside)]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.wf(Method::GET, "team", &key, confined, "download", &[("id", &outside)]).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        env.wf(Method::PUT, "team", &key, confined, "delete", &[("documentId", &outside)]).await.0,
        StatusCode::NOT_FOUND
    );
    let uploaded = env.upload("team", &key, confined, "/", "notes.txt", "mine").await;
    let (_, listed) = env.wf(Method::GET, "team", &key, admin, "files", &[("parentId", &folder_id)]).await;
    assert!(
        listed.as_array().unwrap().iter().any(|i| i["id"] == uploaded.as_str()),
        "the upload landed in the confined folder: {listed}"
    );

    // The default role for unknown users: deny is a 403, reader is read-only, at once.
    env.cli_json(&["integration", "edit", "team", "--default-role", "deny", "--json"]).await;
    let (status, body) = env.wf(Method::GET, "team", &key, stranger, "files", &[]).await;
    assert_eq!((status, body["status"].as_str()), (StatusCode::FORBIDDEN, Some("error")));
    assert_eq!(
        env.wf(Method::GET, "team", &key, reader, "files", &[]).await.0,
        StatusCode::OK,
        "granted users are not affected"
    );
    env.cli_json(&["integration", "edit", "team", "--default-role", "reader", "--json"]).await;
    assert_eq!(env.wf(Method::GET, "team", &key, stranger, "metadata", &[("id", &outside)]).await.1["readOnly"], true);
    assert_eq!(
        env.wf(Method::POST, "team", &key, stranger, "uploadInit", &[("filename", "x.txt")]).await.0,
        StatusCode::FORBIDDEN
    );

    // Revoking a grant falls back to the default role.
    env.cli_json(&["user", "revoke", confined, "--integration", "team", "--json"]).await;
    assert_eq!(env.wf(Method::GET, "team", &key, confined, "metadata", &[("id", &outside)]).await.1["readOnly"], true);

    let trail = env.audit("team").await;
    let ops = operations(&trail);
    for expected in
        ["integration.add", "uploadInit", "upload", "createFolder", "user.grant", "integration.edit", "user.revoke"]
    {
        assert!(ops.iter().any(|o| o == expected), "{expected} missing from {ops:?}");
    }
    assert!(
        trail.iter().any(|e| e["operation"] == "uploadInit"
            && e["actor"] == reader
            && e["result"].as_str().unwrap().starts_with("403")),
        "refused writes are audited: {trail:?}"
    );
    assert!(trail.iter().any(|e| e["operation"] == "user.grant" && e["item_id"] == folder_id.as_str()));
    env.stop().await;
}

#[tokio::test]
async fn disabling_takes_effect_mid_session() {
    let env = Env::start(TOKEN).await;
    let key = env.add_integration("live", &[]).await;
    let user = "worker@example.com";
    let (status, init) = env.wf(Method::POST, "live", &key, user, "uploadInit", &[("filename", "draft.txt")]).await;
    assert_eq!(status, StatusCode::OK);
    let id = init["id"].as_str().unwrap().to_owned();

    assert_eq!(env.api(Method::POST, "/integrations/live/disable", None).await.0, StatusCode::OK);
    let put = || {
        env.http
            .put(format!("{}/webhooks/live/upload", env.base))
            .query(&[("id", &id)])
            .header("apiKey", &key)
            .header("username", user)
            .body("draft")
    };
    let (status, body) = reply(put()).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(body["result"], "fail");
    for endpoint in ["files", "metadata", "search", "download", "thumbnail", "customAction"] {
        assert_eq!(
            env.wf(Method::GET, "live", &key, user, endpoint, &[("id", &id), ("query", "x"), ("name", "a")]).await.0,
            StatusCode::FORBIDDEN,
            "{endpoint}"
        );
    }
    assert_eq!(env.wf(Method::GET, "live", "", "", "serviceInfo", &[]).await.0, StatusCode::OK);

    assert_eq!(env.api(Method::POST, "/integrations/live/enable", None).await.0, StatusCode::OK);
    let (status, body) = reply(put()).await;
    assert_eq!(status, StatusCode::OK, "the session goes on where it stopped: {body}");
    env.stop().await;
}

/// What the webhook receiver saw.
#[derive(Debug, Clone)]
struct Delivery {
    signature: String,
    delivery: String,
    body: Vec<u8>,
}

/// A receiver on 127.0.0.1 that answers `statuses` in turn (200 after them) and reports each
/// request.
async fn receiver(statuses: Vec<u16>) -> (String, tokio::sync::mpsc::UnboundedReceiver<Delivery>) {
    use axum::http::HeaderMap;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let statuses = Arc::new(std::sync::Mutex::new(statuses.into_iter()));
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
            let tx = tx.clone();
            let statuses = statuses.clone();
            async move {
                let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
                let _ = tx.send(Delivery {
                    signature: text("x-docbridge-signature"),
                    delivery: text("x-docbridge-delivery"),
                    body: body.to_vec(),
                });
                let status = statuses.lock().unwrap().next().unwrap_or(200);
                axum::http::StatusCode::from_u16(status).unwrap()
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, rx)
}

fn signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

#[tokio::test]
async fn webhook_action_posts_signed_metadata() {
    let env = Env::start(TOKEN).await;
    let (url, mut deliveries) = receiver(vec![503]).await;
    let key = env.add_integration("hooks", &[]).await;
    let spec = format!("name=notify,display=Notify CRM,kind=webhook,url={url},retries=2");
    let edited = env.cli_json(&["integration", "edit", "hooks", "--action", &spec, "--json"]).await;
    let secret = edited["webhook_secrets"]["notify"].as_str().expect("the generated secret, shown once").to_owned();
    assert_eq!(edited["custom_actions"][0]["url"], url.as_str());
    assert!(!env.cli_json(&["integration", "show", "hooks", "--json"]).await.to_string().contains(&secret));
    let (_, info) = env.wf(Method::GET, "hooks", "", "", "serviceInfo", &[]).await;
    assert_eq!(info["customActions"], json!([{"name": "notify", "displayName": "Notify CRM"}]));

    // Workfront sends a document, then runs the action on it by its own IDs.
    let user = "ann@example.com";
    let init = [("filename", "deal.txt"), ("documentId", "wf-doc-1"), ("documentVersionId", "wf-ver-1")];
    let id = env.upload_with("hooks", &key, user, &init, "signed").await;
    let (status, outcome) = env
        .wf(
            Method::GET,
            "hooks",
            &key,
            user,
            "customAction",
            &[("name", "notify"), ("documentId", "wf-doc-1"), ("documentVersionId", "wf-ver-1")],
        )
        .await;
    assert_eq!((status, outcome), (StatusCode::OK, json!({"status": "success"})));

    // The first attempt got a 503; the retry carried the same delivery, signed.
    let first = deliveries.recv().await.unwrap();
    let second = deliveries.recv().await.unwrap();
    assert_eq!(first.delivery, second.delivery);
    assert_eq!(first.body, second.body);
    assert_eq!(second.signature, signature(&secret, &second.body));
    let event: Value = serde_json::from_slice(&second.body).unwrap();
    assert_eq!(event["event"], "customAction");
    assert_eq!(event["action"], "notify");
    assert_eq!(event["integration"], "hooks");
    assert_eq!(event["user"], user);
    assert_eq!(event["documentId"], "wf-doc-1");
    assert_eq!(event["documentVersionId"], "wf-ver-1");
    assert_eq!(event["item"]["id"], id.as_str());
    assert_eq!(event["item"]["title"], "deal.txt");
    assert_eq!(event["item"]["size"], 6);
    assert_eq!(event["item"]["mimeType"], "text/plain");

    // A receiver that is gone: the action ran and failed, which Workfront shows its user.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let gone = format!("http://{}/hook", closed.local_addr().unwrap());
    drop(closed);
    let spec = format!("name=notify,display=Notify CRM,kind=webhook,url={gone},retries=0,secret=0123456789abcdef0123");
    env.cli_json(&["integration", "edit", "hooks", "--action", &spec, "--json"]).await;
    let (status, outcome) =
        env.wf(Method::GET, "hooks", &key, user, "customAction", &[("name", "notify"), ("id", &id)]).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outcome["status"], "failure");
    assert!(outcome["error"].as_str().unwrap().contains("could not be reached"), "{outcome}");

    let trail = env.audit("hooks").await;
    let actions: Vec<&Value> = trail.iter().filter(|e| e["operation"] == "customAction").collect();
    assert_eq!(actions.len(), 2, "{trail:?}");
    assert!(actions.iter().all(|e| e["actor"] == user && e["detail"] == "notify"));
    env.stop().await;
}

#[tokio::test]
async fn actions_file_replaces_every_action() {
    let env = Env::start(TOKEN).await;
    env.add_integration("files", &["--action", "name=old,kind=lock"]).await;
    let file = env.data.parent().unwrap().join("actions.json");
    std::fs::write(
        &file,
        json!([
            {"name": "archive", "display_name": "Archive", "kind": "move", "folder": "Archive"},
            {"name": "ping", "display_name": "Ping", "kind": "webhook", "url": "http://127.0.0.1:9/ping", "secret": "0123456789abcdef0123", "timeout_secs": 3, "retries": 1}
        ])
        .to_string(),
    )
    .unwrap();
    let edited =
        env.cli_json(&["integration", "edit", "files", "--actions-file", file.to_str().unwrap(), "--json"]).await;
    assert_eq!(
        edited["custom_actions"],
        json!([
            {"name": "archive", "display_name": "Archive", "kind": "move", "folder": "Archive"},
            {"name": "ping", "display_name": "Ping", "kind": "webhook", "url": "http://127.0.0.1:9/ping", "timeout_secs": 3, "retries": 1}
        ])
    );
    assert!(edited.get("webhook_secrets").is_none(), "a given secret is not echoed");
    std::fs::write(&file, "[{\"name\": \"x\"}]").unwrap();
    env.cli_fails(&["integration", "edit", "files", "--actions-file", file.to_str().unwrap()], "actions-file:").await;
    assert!(Path::new(&file).exists());
    env.stop().await;
}

/// A library's root can be nowhere that serves docbridge's own files or another library's
/// (issue #13 finding 10: one integration served `docbridge.db`). Links are resolved first.
#[tokio::test]
async fn library_roots_never_hold_the_data_directory_or_another_library() {
    let env = Env::start(TOKEN).await;
    let base = env.data.parent().expect("parent").to_path_buf();
    let data = env.data.to_str().unwrap().to_owned();
    env.add_integration("one", &[]).await;
    let one = env.data.join("libraries/one");
    std::os::unix::fs::symlink(&env.data, base.join("innocent")).unwrap();
    std::os::unix::fs::symlink(&one, base.join("alias")).unwrap();
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    // (root, what the refusal says, whether moving "one" there is refused too)
    let refused = [
        (data.clone(), "data directory", true),
        (path(&base), "data directory", true),
        (path(&base.join("innocent")), "data directory", true),
        (path(&env.data.join("cache")), "inside the data directory", true),
        (path(&one), "overlaps", false),
        (path(&one.join("sub")), "overlaps", false),
        (path(&base.join("alias/sub")), "overlaps", false),
        (path(&env.data.join("libraries")), "overlaps", false),
    ];
    for (root, why, edit) in &refused {
        env.cli_fails(
            &["integration", "add", "--name", "two", "--slug", "two", "--auth", "apikey", "--root", root],
            why,
        )
        .await;
        let (status, body) = env
            .api(
                Method::POST,
                "/integrations",
                Some(json!({"name": "three", "slug": "three", "auth": "apikey", "root": root})),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{root}: {body}");
        assert!(body["error"].as_str().unwrap().starts_with("root:"), "{body}");
        if *edit {
            env.cli_fails(&["integration", "edit", "one", "--root", root], why).await;
            let (status, body) = env.api(Method::PATCH, "/integrations/one", Some(json!({"root": root}))).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{root}: {body}");
        }
    }
    assert!(!env.data.join("cache").exists() && !one.join("sub").exists(), "no folder made for a refused root");
    // Beside each other is fine, and `[storage] roots_under` confines roots when set.
    env.add_integration("two", &["--root", &path(&base.join("two"))]).await;
    let confined = env
        .command(&["integration", "add", "--name", "etc", "--auth", "apikey", "--root", &path(&base.join("etc"))])
        .env("DOCBRIDGE_STORAGE__ROOTS_UNDER", base.join("srv"))
        .output()
        .await
        .unwrap();
    assert!(!confined.status.success());
    assert!(String::from_utf8_lossy(&confined.stderr).contains("roots_under"), "{confined:?}");
    assert!(!base.join("etc").exists());
    env.stop().await;
}

/// An integration registered before the rules (or by hand) whose library holds the data
/// directory is not served at all: never `docbridge.db`. The others are.
#[tokio::test]
async fn an_integration_already_serving_the_data_directory_is_refused_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("documents")).unwrap();
    let config = Config::load(None, &HashMap::new(), &Overrides::default()).expect("default configuration");
    let registry = Registry::connect(&config.database_url(&data)).await.expect("registry opens");
    let (listener, base) = in_process::listen().await;
    let default = docbridge_server::setup::ensure_default_integration(&registry, &base, &data.join("documents"))
        .await
        .unwrap()
        .unwrap();
    let request = |name: &str, root: &Path| docbridge_server::setup::AddIntegration {
        name: name.into(),
        slug: Some(name.into()),
        auth: docbridge_registry::AuthType::ApiKey,
        root: root.display().to_string(),
        redirect_uris: Vec::new(),
        request_params: Vec::new(),
        default_role: docbridge_registry::DefaultRole::Editor,
        custom_actions: Vec::new(),
    };
    let (_, leaky) = docbridge_server::setup::add_integration(&registry, &base, request("leaky", &data)).await.unwrap();
    let refused = config.root_policy(&data).refused(&registry).await.unwrap();
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused.values().all(|r| r.contains("\"leaky\"") && r.contains("data directory")), "{refused:?}");
    let settings = in_process::settings(&base, dir.path(), "docbridge tests");
    let state = AppState::new(registry, settings, Arc::new(BuiltinStorage::default()))
        .await
        .unwrap()
        .with_root_policy(config.root_policy(&data), refused);
    let serving = Serving::start(listener, state);
    let http = reqwest::Client::new();
    let list = |slug: &'static str, key: String| {
        http.get(format!("{base}/webhooks/{slug}/files")).header("apiKey", key).header("username", "a@example.com")
    };
    let (status, body) = reply(list("leaky", leaky.api_key.unwrap())).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{body}");
    assert!(!body.to_string().contains("docbridge.db"), "{body}");
    let (status, body) = reply(list("default", default.api_key.unwrap())).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serving.stop().await;
}
