//! `docbridge validate`, every group, strict, against docbridge itself over real HTTP (issue
//! #5): an ApiKey integration and an OAuth2 integration with a bearer token obtained through the
//! login and consent pages. Both reports must be free of failures and warnings, and skip only
//! what the credentials given cannot run. Then the same, strict, against an integration on each
//! remote store whose test server the environment names (`.ci/webdav.sh`, `.ci/sftp.sh`,
//! `.ci/azurite.sh`, `.ci/gcs.sh`), through the real server (issue #16).

use std::io::Write;
use std::path::Path;
use std::process::Stdio;

use serde_json::Value;

use crate::support::first_start;
use crate::support::oauth_pages;

use first_start::{FirstStart, docbridge};

/// Runs `docbridge validate --strict --format json` with `credentials`; answers the report.
fn validate(data_dir: &Path, base_api_url: &str, credentials: &[&str]) -> Value {
    let output = docbridge(data_dir)
        .args(["validate", "--base-url", base_api_url, "--strict", "--format", "json"])
        .args(credentials)
        .output()
        .expect("docbridge validate runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("validate --format json: {e}: {stdout}"));
    let findings: Vec<String> = report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] != "pass" && r["status"] != "skip")
        .map(|r| format!("{} {}: {}", r["status"], r["id"], r["detail"]))
        .collect();
    assert!(findings.is_empty(), "docbridge fails its own validator:\n{}", findings.join("\n"));
    assert!(output.status.success(), "validate exited with {}: {stdout}", output.status);
    report
}

fn skipped(report: &Value) -> Vec<String> {
    report["results"]
        .as_array()
        .expect("results")
        .iter()
        .filter(|r| r["status"] == "skip")
        .map(|r| r["id"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn passed(report: &Value) -> usize {
    report["results"].as_array().expect("results").iter().filter(|r| r["status"] == "pass").count()
}

#[tokio::test]
async fn docbridge_passes_every_group_of_its_own_validator() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut server = FirstStart::spawn(dir.path());
    server.wait_healthy().await;
    let (base, base_api_url, api_key) = (server.base.clone(), server.base_api_url.clone(), server.api_key.clone());

    // ApiKey: everything runs but the cases that need a bearer token or an OAuth2 remote.
    let report = validate(dir.path(), &base_api_url, &["--api-key", &api_key, "--username", "tester@example.com"]);
    let mut skips = skipped(&report);
    skips.sort();
    assert_eq!(skips, ["oauth2.garbage-token", "oauth2.missing-token", "workfront.10-token-refresh"], "{report}");
    assert!(passed(&report) >= 40, "{report}");

    // OAuth2: an integration registered from the CLI, a user, and a token through the pages.
    let redirect_uri = "https://wf.example.com/oauth/callback";
    let output = docbridge(dir.path())
        .args(["integration", "add", "--name", "Bearer", "--auth", "oauth2", "--redirect-uri", redirect_uri, "--json"])
        .output()
        .expect("integration add runs");
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let added: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let (client_id, client_secret) =
        (added["client_id"].as_str().expect("client_id"), added["client_secret"].as_str().expect("client_secret"));
    let password = "correct horse battery staple";
    let mut user_add = docbridge(dir.path())
        .args(["user", "add", "ann@example.com", "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .expect("user add runs");
    writeln!(user_add.stdin.take().expect("stdin"), "{password}").expect("the password is written");
    assert!(user_add.wait().expect("user add finishes").success());
    let code = oauth_pages::authorization_code(&base, client_id, redirect_uri, "ann@example.com", password).await;
    let token = oauth_pages::access_token(&base, &code, redirect_uri, client_id, client_secret).await;

    let bearer_url = added["base_api_url"].as_str().expect("base_api_url");
    let report = validate(dir.path(), bearer_url, &["--bearer", &token]);
    let skips = skipped(&report);
    assert!(!skips.iter().any(|s| s.starts_with("oauth2.")), "the OAuth2 cases run with a token: {report}");
    assert!(skips.iter().all(|s| s.starts_with("apikey.") || s == "workfront.10-token-refresh"), "{skips:?}");
}

/// `DOCBRIDGE_TEST_<NAME>`, if set and not empty.
fn test_var(name: &str) -> Option<String> {
    std::env::var(format!("DOCBRIDGE_TEST_{name}")).ok().filter(|v| !v.is_empty())
}

/// The `[storage.KIND]` settings, as `DOCBRIDGE_*` variables, of each remote store whose test
/// server the environment names.
fn remote_stores() -> Vec<(&'static str, Vec<(String, String)>)> {
    // Each store's settings besides its endpoint, each from `DOCBRIDGE_TEST_{KIND}_{KEY}`.
    let stores: [(&str, &str, &[&str]); 4] = [
        ("webdav", "WEBDAV", &["USERNAME", "PASSWORD"]),
        ("sftp", "SFTP", &["USERNAME", "KEY_FILE", "KNOWN_HOSTS"]),
        ("azblob", "AZBLOB", &["CONTAINER", "ACCOUNT_NAME", "ACCOUNT_KEY"]),
        ("gcs", "GCS", &["BUCKET"]),
    ];
    let setting = |kind: &str, key: &str, value: String| (format!("DOCBRIDGE_STORAGE__{kind}__{key}"), value);
    let mut remote = Vec::new();
    for (name, kind, keys) in stores {
        let Some(mut endpoint) = test_var(&format!("{kind}_ENDPOINT")) else { continue };
        if kind == "SFTP" {
            // The SFTP test server's folder is part of the endpoint's URL.
            endpoint.push_str(&test_var("SFTP_ROOT").unwrap_or_default());
        }
        let mut settings = vec![setting(kind, "ENDPOINT", endpoint)];
        for key in keys {
            settings.push(setting(kind, key, test_var(&format!("{kind}_{key}")).unwrap_or_default()));
        }
        remote.push((name, settings));
    }
    remote
}

/// `validate --strict`, every group, against an ApiKey integration on each remote store that
/// the environment names, registered with `integration add --storage KIND` beside a running
/// server that has every one of those stores configured.
#[tokio::test]
async fn docbridge_passes_its_validator_on_every_remote_store() {
    let stores = remote_stores();
    if stores.is_empty() {
        eprintln!("skipped: no DOCBRIDGE_TEST_{{WEBDAV,SFTP,AZBLOB,GCS}}_ENDPOINT names a test server");
        return;
    }
    let env: Vec<(String, String)> = stores.iter().flat_map(|(_, settings)| settings.clone()).collect();
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut server = FirstStart::spawn_with(dir.path(), &env);
    server.wait_healthy().await;
    let run = format!(
        "{}-{}",
        std::process::id(),
        std::time::SystemTime::UNIX_EPOCH.elapsed().unwrap_or_default().as_nanos()
    );
    for (kind, _) in &stores {
        let root = format!("validate-{kind}-{run}");
        let output = docbridge(dir.path())
            .envs(env.iter().map(|(k, v)| (k, v)))
            .args(["integration", "add", "--name", &format!("On {kind}"), "--slug", &format!("on-{kind}")])
            .args(["--auth", "apikey", "--storage", kind, "--root", &root, "--json"])
            .output()
            .expect("integration add runs");
        assert!(output.status.success(), "{kind}: {}", String::from_utf8_lossy(&output.stderr));
        let added: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let base_api_url = added["base_api_url"].as_str().expect("base_api_url");
        let api_key = added["api_key"].as_str().unwrap_or_else(|| panic!("{kind}: an ApiKey in {added}"));
        let report = validate(dir.path(), base_api_url, &["--api-key", api_key, "--username", "tester@example.com"]);
        let mut skips = skipped(&report);
        skips.sort();
        assert_eq!(
            skips,
            ["oauth2.garbage-token", "oauth2.missing-token", "workfront.10-token-refresh"],
            "{kind}: {report}"
        );
        assert!(passed(&report) >= 40, "{kind}: {report}");
    }
}
