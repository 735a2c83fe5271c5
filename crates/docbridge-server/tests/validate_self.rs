//! `docbridge validate`, every group, strict, against docbridge itself over real HTTP (issue
//! #5): an ApiKey integration and an OAuth2 integration with a bearer token obtained through the
//! login and consent pages. Both reports must be free of failures and warnings, and skip only
//! what the credentials given cannot run.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

mod oauth_pages;

/// A `docbridge` command on `data_dir`, with no configuration inherited from the environment.
fn docbridge(data_dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_docbridge"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("DOCBRIDGE_")) {
        command.env_remove(key);
    }
    command.env("DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS", "0");
    command.args(["--data-dir", data_dir.to_str().expect("UTF-8 path")]);
    command
}

struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

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
    let mut child = docbridge(dir.path())
        .args(["serve", "--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("docbridge starts");
    let stdout = child.stdout.take().expect("piped stdout");
    let _server = Killed(child);
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let mut field = |name: &str| {
        lines
            .find_map(|line| line.trim().strip_prefix(name).map(|v| v.trim().to_owned()))
            .unwrap_or_else(|| panic!("the first start prints {name}"))
    };
    let base_api_url = field("Base API URL:");
    let api_key = field("ApiKey:");
    let base = base_api_url.strip_suffix("/webhooks/default").expect("the default integration").to_owned();
    // Serving, once /healthz answers.
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http.get(format!("{base}/healthz")).send().await.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }

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
