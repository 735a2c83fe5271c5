//! The per-process cache of integrations, ApiKeys and grants (registry `cache.rs`) never
//! outlives a change: a running server sees a change made by *another process* on the same
//! database (the `docbridge` CLI, a second connection pool standing for another server) at its
//! very next request, with nothing to wait for. No timing is asserted: the next request after
//! the change must already answer differently.

use crate::support::in_process;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Output;
use std::sync::Arc;
use std::time::Duration;

use docbridge_registry::{Registry, Role};
use docbridge_server::config::{Config, Overrides};
use docbridge_server::{AppState, BuiltinStorage, setup};
use in_process::Serving;
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;
use tokio::process::Command;

/// A docbridge serving a temporary data directory in-process; the binary's commands and a
/// second registry connection change the same SQLite database behind its back.
struct Env {
    _dir: TempDir,
    data: PathBuf,
    database_url: String,
    base: String,
    http: reqwest::Client,
    key: String,
    serving: Serving,
}

impl Env {
    async fn start() -> Env {
        let dir = tempfile::tempdir().expect("temporary directory");
        let data = dir.path().join("data");
        let documents = data.join("documents");
        std::fs::create_dir_all(&documents).expect("documents folder");
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).expect("default configuration");
        let database_url = config.database_url(&data);
        let registry = Registry::connect(&database_url).await.expect("registry opens");
        let (listener, base) = in_process::listen().await;
        let credentials = setup::ensure_default_integration(&registry, &base, &documents)
            .await
            .expect("default integration")
            .expect("a fresh registry");
        let key = credentials.api_key.expect("an ApiKey integration");
        let settings = in_process::settings(&base, dir.path(), "docbridge tests");
        let state = AppState::new(registry, settings, Arc::new(BuiltinStorage::default())).await.expect("state");
        let serving = Serving::start(listener, state);
        Env { _dir: dir, data, database_url, base, http: reqwest::Client::new(), key, serving }
    }

    async fn stop(self) {
        self.serving.stop().await;
    }

    /// A `docbridge` command on the server's data directory: another process.
    async fn cli(&self, args: &[&str]) -> Value {
        let mut command = Command::new(env!("CARGO_BIN_EXE_docbridge"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("DOCBRIDGE_")) {
            command.env_remove(key);
        }
        command.env("DOCBRIDGE_PUBLIC_URL", &self.base).env("USER", "tester");
        command.arg("--data-dir").arg(&self.data).args(args).kill_on_drop(true);
        let output: Output = tokio::time::timeout(Duration::from_secs(120), command.output())
            .await
            .expect("the command finishes")
            .expect("the binary runs");
        assert!(
            output.status.success(),
            "{args:?} failed: {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    }

    /// `/metadata` of the root as `user` with `key`: the status and the body.
    async fn metadata(&self, key: &str, user: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(format!("{}/webhooks/default/metadata", self.base))
            .query(&[("id", "/")])
            .header("apiKey", key)
            .header("username", user)
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    /// `n` calls at once, all answered from the cache when it is current; every status.
    async fn burst(&self, key: &str, n: usize) -> Vec<StatusCode> {
        let calls = (0..n).map(|_| self.metadata(key, "burst@example.com"));
        futures::future::join_all(calls).await.into_iter().map(|(status, _)| status).collect()
    }
}

const USER: &str = "ann@example.com";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_by_other_processes_apply_to_the_next_request() {
    let env = Env::start().await;
    let key = env.key.clone();

    // Warm the cache, with many requests at once too.
    for _ in 0..3 {
        let (status, body) = env.metadata(&key, USER).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["readOnly"], false, "the default role is editor");
    }
    assert!(env.burst(&key, 32).await.iter().all(|s| *s == StatusCode::OK));

    // Disabled by the CLI, another process: the very next request is refused.
    env.cli(&["integration", "disable", "default", "--json"]).await;
    let (status, body) = env.metadata(&key, USER).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(body["error"].as_str().is_some_and(|e| e.contains("disabled")), "{body}");
    assert!(env.burst(&key, 32).await.iter().all(|s| *s == StatusCode::FORBIDDEN));
    env.cli(&["integration", "enable", "default", "--json"]).await;
    assert_eq!(env.metadata(&key, USER).await.0, StatusCode::OK);

    // A rotation keeps the old key until it is revoked; then the old key is refused at once.
    let rotated = env.cli(&["integration", "rotate-key", "default", "--json"]).await;
    let new_key = rotated["api_key"].as_str().expect("a new key").to_owned();
    assert_eq!(env.metadata(&new_key, USER).await.0, StatusCode::OK);
    assert_eq!(env.metadata(&key, USER).await.0, StatusCode::OK);
    env.cli(&["integration", "revoke-keys", "default", "--keep-newest", "--json"]).await;
    assert_eq!(env.metadata(&key, USER).await.0, StatusCode::FORBIDDEN);
    assert!(env.burst(&key, 16).await.iter().all(|s| *s == StatusCode::FORBIDDEN));
    assert_eq!(env.metadata(&new_key, USER).await.0, StatusCode::OK);

    // Grants written through another connection pool (another server process, for the cache).
    let other = Registry::connect(&env.database_url).await.expect("a second connection");
    other.create_user(USER, "$argon2id$not-used-here").await.expect("user");
    other.grant(USER, "default", Role::Reader, None).await.expect("grant");
    let (status, body) = env.metadata(&new_key, USER).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["readOnly"], true, "the reader grant applies at once: {body}");
    other.revoke(USER, "default").await.expect("revoke");
    assert_eq!(env.metadata(&new_key, USER).await.1["readOnly"], false);

    // The default role, edited by the CLI: unknown users are denied at once.
    env.cli(&["integration", "edit", "default", "--default-role", "deny", "--json"]).await;
    assert_eq!(env.metadata(&new_key, "stranger@example.com").await.0, StatusCode::FORBIDDEN);

    // Deleted: the slug is unknown at once.
    other.delete_integration("default").await.expect("delete");
    assert_eq!(env.metadata(&new_key, USER).await.0, StatusCode::NOT_FOUND);
    env.stop().await;
}
