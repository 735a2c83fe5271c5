//! `docbridge remote login` end to end (C23, protocol §4): the real `docbridge` binary, with its
//! own data directory, adds an OAuth2 remote for a docbridge server on 127.0.0.1, signs in while
//! this test plays the browser (login page, consent page, redirect to the loopback listener),
//! lists files with the stored bearer token, and renews a revoked access token on its own,
//! writing the new tokens back to the remotes file.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use docbridge_auth::{OAuthSettings, hash_password, hash_secret};
use docbridge_registry::{AuthType, DefaultRole, OAuthRevocation, Registry};
use docbridge_server::setup::{self, AddIntegration};
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::support::{in_process, oauth_pages};

const USER: &str = "ann@example.com";
const PASSWORD: &str = "correct horse battery staple";
/// A safety net against a hung child, never an expectation about speed.
const CHILD_DEADLINE: Duration = Duration::from_secs(120);

/// A docbridge server on 127.0.0.1 with one OAuth2 integration `docs` (its folder holds
/// `hello.txt`), a user, and a client data directory for the `docbridge` command line.
struct Fixture {
    server_dir: TempDir,
    client_dir: TempDir,
    registry: Registry,
    base: String,
    client_id: String,
    client_secret: String,
    redirect_uri: String,
    http: reqwest::Client,
}

impl Fixture {
    async fn new(settings: OAuthSettings) -> Fixture {
        let server_dir = tempfile::tempdir().unwrap();
        // Where `docbridge --data-dir DIR` looks, so that `docbridge token` sees this registry.
        let url = format!("sqlite://{}?mode=rwc", server_dir.path().join("docbridge.db").display());
        let registry = Registry::connect(&url).await.unwrap();

        let base = in_process::serve_oauth(&registry, server_dir.path(), settings).await;

        // The redirect URI `remote login` will listen on: a port free now, registered as it is.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let redirect_uri = format!("http://127.0.0.1:{port}/callback");
        let root = server_dir.path().join("docs");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(root.join("hello.txt"), "hello").unwrap();
        let (_, credentials) = setup::add_integration(
            &registry,
            &base,
            AddIntegration {
                name: "Docs".into(),
                slug: Some("docs".into()),
                auth: AuthType::OAuth2,
                root: root.display().to_string(),
                redirect_uris: vec![redirect_uri.clone()],
                request_params: vec![],
                default_role: DefaultRole::Editor,
                custom_actions: vec![],
            },
        )
        .await
        .unwrap();
        registry.create_user(USER, &hash_password(PASSWORD).unwrap()).await.unwrap();
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Fixture {
            server_dir,
            client_dir: tempfile::tempdir().unwrap(),
            registry,
            base,
            client_id: credentials.client_id.unwrap(),
            client_secret: credentials.client_secret.unwrap(),
            redirect_uri,
            http,
        }
    }

    /// `docbridge --data-dir CLIENT_DIR ARGS...`, run to its end without blocking the server.
    async fn docbridge(&self, args: &[&str]) -> Output {
        run(self.client_dir.path(), args).await
    }

    /// `docbridge remote add wf` with the integration's OAuth2 fields, as Workfront's form has them.
    async fn add_remote(&self) {
        let authorization_url = format!("{}/oauth/authorize?client_id={}", self.base, self.client_id);
        let output = self
            .docbridge(&[
                "remote",
                "add",
                "wf",
                "--base-url",
                &format!("{}/webhooks/docs", self.base),
                "--oauth-authorization-url",
                &authorization_url,
                "--oauth-token-url",
                &format!("{}/oauth/token", self.base),
                "--client-id",
                &self.client_id,
                "--client-secret",
                &self.client_secret,
                "--redirect-uri",
                &self.redirect_uri,
            ])
            .await
            .success();
        assert!(output.contains(&format!("Register this redirect URI with the provider: {}", self.redirect_uri)));
        assert!(output.contains("docbridge remote login wf"), "{output}");
    }

    /// Starts `docbridge remote login wf` and reads what it prints until the URL to open.
    async fn start_login(&self) -> Login {
        let mut child = Command::new(env!("CARGO_BIN_EXE_docbridge"))
            .arg("--data-dir")
            .arg(self.client_dir.path())
            .args(["remote", "login", "wf"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut printed = String::new();
        let url = loop {
            let mut line = String::new();
            let read = tokio::time::timeout(CHILD_DEADLINE, stdout.read_line(&mut line)).await.unwrap().unwrap();
            assert!(read > 0, "remote login ended before printing a URL: {printed}");
            printed.push_str(&line);
            if line.trim().starts_with("http") {
                break url::Url::parse(line.trim()).unwrap();
            }
        };
        // The rest of the instructions come before the wait starts.
        loop {
            let mut line = String::new();
            let read = stdout.read_line(&mut line).await.unwrap();
            printed.push_str(&line);
            if read == 0 || line.starts_with("Waiting") {
                break;
            }
        }
        Login { child, stdout, printed, url }
    }

    /// Plays the browser on the URL `remote login` printed: login page, consent page with
    /// `decision`; answers where the consent page redirects to.
    async fn authorize(&self, url: &url::Url, decision: &str) -> url::Url {
        let location = oauth_pages::consent(url.as_str(), &self.base, USER, PASSWORD, decision).await;
        assert!(location.as_str().starts_with(&format!("{}?", self.redirect_uri)), "{location}");
        location
    }

    /// The browser following the redirect to `remote login`'s loopback listener.
    async fn follow(&self, location: url::Url) -> (u16, String) {
        let response = self.http.get(location).send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    fn remotes_file(&self) -> std::path::PathBuf {
        self.client_dir.path().join("remotes.json")
    }

    /// The remote's stored `auth` object.
    fn stored_auth(&self) -> Value {
        let file: Value = serde_json::from_slice(&std::fs::read(self.remotes_file()).unwrap()).unwrap();
        let remote = file["remotes"].as_array().unwrap().iter().find(|r| r["name"] == "wf").unwrap();
        remote["auth"].clone()
    }

    /// The stored access and refresh tokens.
    fn stored_tokens(&self) -> (String, String) {
        let auth = self.stored_auth();
        let tokens = &auth["tokens"];
        (tokens["accessToken"].as_str().unwrap().to_owned(), tokens["refreshToken"].as_str().unwrap().to_owned())
    }

    /// `GET /files` of the root with a bearer token, directly: the status.
    async fn files_status(&self, access_token: &str) -> u16 {
        let url = format!("{}/webhooks/docs/files?parentId=/", self.base);
        self.http.get(url).bearer_auth(access_token).send().await.unwrap().status().as_u16()
    }
}

/// A running `docbridge remote login`.
struct Login {
    child: Child,
    stdout: BufReader<tokio::process::ChildStdout>,
    /// What it printed up to the wait.
    printed: String,
    url: url::Url,
}

impl Login {
    /// Waits for the command to end; its status, and the rest of stdout and stderr.
    async fn finish(mut self) -> (ExitStatus, String, String) {
        let mut stderr = self.child.stderr.take().unwrap();
        let ended = async {
            let (mut out, mut err) = (String::new(), String::new());
            self.stdout.read_to_string(&mut out).await.unwrap();
            stderr.read_to_string(&mut err).await.unwrap();
            (self.child.wait().await.unwrap(), out, err)
        };
        tokio::time::timeout(CHILD_DEADLINE, ended).await.expect("remote login ends once the browser is back")
    }
}

/// What a finished `docbridge` command did.
struct Output {
    args: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

impl Output {
    fn success(self) -> String {
        assert!(self.status.success(), "{}: {}\n{}", self.args, self.stderr, self.stdout);
        self.stdout
    }

    /// The command failed: its stderr.
    fn failure(self) -> String {
        assert!(!self.status.success(), "{} should fail: {}", self.args, self.stdout);
        self.stderr
    }
}

async fn run(data_dir: &Path, args: &[&str]) -> Output {
    let output = Command::new(env!("CARGO_BIN_EXE_docbridge"))
        .arg("--data-dir")
        .arg(data_dir)
        .args(args)
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(CHILD_DEADLINE, output).await.expect("docbridge ends").unwrap();
    Output {
        args: args.join(" "),
        status: output.status,
        stdout: String::from_utf8(output.stdout).unwrap(),
        stderr: String::from_utf8(output.stderr).unwrap(),
    }
}

#[cfg(unix)]
fn assert_private(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{} holds secrets", path.display());
}

#[cfg(not(unix))]
fn assert_private(_: &Path) {}

fn query_value(url: &url::Url, name: &str) -> Option<String> {
    url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn remote_login_then_ls_renews_a_revoked_token_and_stores_the_new_ones() {
    // Rotation on: a refresh also replaces the refresh token, so the file must keep up.
    let fixture = Fixture::new(OAuthSettings { rotate_refresh_tokens: true, ..OAuthSettings::default() }).await;
    fixture.add_remote().await;
    assert_private(&fixture.remotes_file());
    assert!(fixture.stored_auth().get("tokens").is_none(), "no tokens before the login");

    // `remote login`: the URL to open, and the redirect URI to register.
    let login = fixture.start_login().await;
    assert!(login.printed.contains("Open this URL in a browser"), "{}", login.printed);
    assert!(
        login.printed.contains(&format!("The provider sends the browser back to {}", fixture.redirect_uri)),
        "{}",
        login.printed
    );
    assert!(login.url.as_str().starts_with(&format!("{}/oauth/authorize?", fixture.base)), "{}", login.url);
    assert_eq!(query_value(&login.url, "client_id").as_deref(), Some(fixture.client_id.as_str()));
    assert_eq!(query_value(&login.url, "redirect_uri").as_deref(), Some(fixture.redirect_uri.as_str()));
    assert_eq!(query_value(&login.url, "code_challenge_method").as_deref(), Some("S256"));
    let state = query_value(&login.url, "state").unwrap();

    // The browser signs in, allows, and is sent back with a code and the same state.
    let location = fixture.authorize(&login.url, "allow").await;
    assert_eq!(query_value(&location, "state"), Some(state));
    assert!(query_value(&location, "code").is_some());
    let (status, page) = fixture.follow(location).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Signed in."), "{page}");
    let (status, stdout, stderr) = login.finish().await;
    assert!(status.success(), "{stderr}");
    assert!(stdout.contains("Logged in to remote \"wf\". Tokens saved in"), "{stdout}");
    assert!(stdout.contains("renewed automatically"), "{stdout}");

    // The tokens are in the remotes file, which stays private, and nowhere in a listing.
    assert_private(&fixture.remotes_file());
    let (access, refresh) = fixture.stored_tokens();
    assert_eq!(fixture.files_status(&access).await, 200, "the stored access token works");
    let listed = fixture.docbridge(&["remote", "list"]).await.success();
    let listed_json = fixture.docbridge(&["remote", "list", "--json"]).await.success();
    for secret in [&access, &refresh, &fixture.client_secret] {
        assert!(!listed.contains(secret.as_str()) && !listed_json.contains(secret.as_str()), "{listed}{listed_json}");
    }
    assert!(listed.contains("oauth2") && listed.contains("logged in"), "{listed}");

    // Every file command sends the bearer token.
    let ls = fixture.docbridge(&["ls", "wf:/"]).await.success();
    assert!(ls.contains("hello.txt"), "{ls}");
    assert_eq!(fixture.stored_tokens(), (access.clone(), refresh.clone()), "no refresh while the token works");

    // The provider revokes the access token (only it): 403, which makes the client refresh.
    let revoked = fixture
        .registry
        .revoke_oauth_tokens(OAuthRevocation::Token { token_hash: &hash_secret(&access) })
        .await
        .unwrap();
    assert_eq!(revoked, 1);
    assert_eq!(fixture.files_status(&access).await, 403);
    let ls = fixture.docbridge(&["ls", "wf:/"]).await.success();
    assert!(ls.contains("hello.txt"), "refreshed and retried: {ls}");
    let (renewed_access, renewed_refresh) = fixture.stored_tokens();
    assert_ne!(renewed_access, access, "the new access token is stored");
    assert_ne!(renewed_refresh, refresh, "the rotated refresh token is stored");
    assert_eq!(fixture.files_status(&renewed_access).await, 200);
    assert_private(&fixture.remotes_file());

    // The next command uses the stored tokens as they are.
    let stat = fixture.docbridge(&["stat", "wf:/hello.txt"]).await.success();
    assert!(stat.contains("hello.txt"), "{stat}");
    assert_eq!(fixture.stored_tokens(), (renewed_access.clone(), renewed_refresh.clone()));

    // `validate --remote` works with an OAuth2 remote (a refused token is renewed first).
    fixture
        .registry
        .revoke_oauth_tokens(OAuthRevocation::Token { token_hash: &hash_secret(&renewed_access) })
        .await
        .unwrap();
    let report = fixture.docbridge(&["validate", "--remote", "wf", "--group", "oauth2"]).await.success();
    for case in ["setup.sandbox", "oauth2.missing-token", "oauth2.garbage-token", "setup.cleanup"] {
        assert!(report.contains(&format!("PASS {case}")), "{report}");
    }
    assert!(report.contains(" 0 failed, 0 skipped"), "{report}");
    let (validated_access, _) = fixture.stored_tokens();
    assert_ne!(validated_access, renewed_access);
    assert_eq!(fixture.files_status(&validated_access).await, 200);

    // Revoking the user's tokens with `docbridge token revoke` ends the refresh too: the
    // command says to log in again, and fails.
    let server_dir = fixture.server_dir.path();
    let revoked = run(server_dir, &["token", "revoke", "--user", USER, "--integration", "docs"]).await.success();
    assert!(revoked.starts_with("Revoked"), "{revoked}");
    let stored_before = fixture.stored_tokens();
    let error = fixture.docbridge(&["ls", "wf:/"]).await.failure();
    assert!(error.contains("invalid_grant"), "{error}");
    assert!(error.contains("log in again with `docbridge remote login wf`"), "{error}");
    assert_eq!(fixture.stored_tokens(), stored_before, "nothing stored from a failed refresh");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_remote_never_logged_in_says_to_log_in() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    fixture.add_remote().await;
    let expected = "remote \"wf\" is not logged in yet: run `docbridge remote login wf` first";
    for args in [&["ls", "wf:/"][..], &["get", "wf:/hello.txt", "-"], &["validate", "--remote", "wf"]] {
        let output = fixture.docbridge(args).await;
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(output.stderr.trim(), format!("error: {expected}"), "{args:?}");
        assert!(output.stdout.is_empty(), "{args:?}: {}", output.stdout);
    }
    let listed = fixture.docbridge(&["remote", "list"]).await.success();
    assert!(listed.contains("not logged in: run `docbridge remote login wf`"), "{listed}");

    // `remote login` is for OAuth2 remotes only.
    let base = format!("{}/webhooks/docs", fixture.base);
    let args = ["remote", "add", "key", "--base-url", &base, "--api-key", "k", "--username", USER];
    fixture.docbridge(&args).await.success();
    let error = fixture.docbridge(&["remote", "login", "key"]).await.failure();
    assert!(error.contains("remote \"key\" is not an OAuth2 remote"), "{error}");
    let error = fixture.docbridge(&["remote", "login", "nope"]).await.failure();
    assert!(error.contains("no remote named \"nope\""), "{error}");

    // Random client IDs and secrets (base64url) may start with '-': they are values, not flags.
    let args = [
        "remote",
        "add",
        "dash",
        "--base-url",
        &base,
        "--oauth-authorization-url",
        "http://127.0.0.1:9/oauth/authorize",
        "--oauth-token-url",
        "http://127.0.0.1:9/oauth/token",
        "--client-id",
        "-UDULCCGo1SaRycCkRSmHg",
        "--client-secret",
        "-Mx5TqSRIet94",
    ];
    fixture.docbridge(&args).await.success();
    let listed = fixture.docbridge(&["remote", "list", "--json"]).await.success();
    assert!(listed.contains("\"clientId\": \"-UDULCCGo1SaRycCkRSmHg\""), "{listed}");
    assert!(listed.contains("\"redirectUri\": \"http://127.0.0.1:53691/callback\""), "the default: {listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_or_forged_redirect_fails_the_login_and_stores_nothing() {
    let fixture = Fixture::new(OAuthSettings::default()).await;
    fixture.add_remote().await;

    // Deny: the provider redirects with error=access_denied and the state.
    let login = fixture.start_login().await;
    let location = fixture.authorize(&login.url, "deny").await;
    assert_eq!(query_value(&location, "error").as_deref(), Some("access_denied"));
    let (status, page) = fixture.follow(location).await;
    assert_eq!(status, 400, "{page}");
    let (status, _, stderr) = login.finish().await;
    assert_eq!(status.code(), Some(1));
    assert_eq!(
        stderr.trim(),
        "error: remote \"wf\": login failed: the provider refused the authorization: access_denied (the user denied access)"
    );
    assert!(fixture.stored_auth().get("tokens").is_none());

    // A redirect with another state is not the answer to this login.
    let login = fixture.start_login().await;
    let mut location = fixture.authorize(&login.url, "allow").await;
    let pairs: Vec<(String, String)> = location
        .query_pairs()
        .map(|(k, v)| (k.to_string(), if k == "state" { "forged".to_owned() } else { v.into_owned() }))
        .collect();
    location.query_pairs_mut().clear().extend_pairs(pairs);
    let (status, _) = fixture.follow(location).await;
    assert_eq!(status, 400);
    let (status, _, stderr) = login.finish().await;
    assert_eq!(status.code(), Some(1));
    assert!(stderr.contains("login failed: the redirect's state does not match the request's"), "{stderr}");
    assert!(fixture.stored_auth().get("tokens").is_none());

    // Nobody comes back: the login gives up after --timeout.
    let error = fixture.docbridge(&["remote", "login", "wf", "--timeout", "1"]).await.failure();
    assert!(error.contains("login failed: no redirect arrived within 1 second"), "{error}");
}
