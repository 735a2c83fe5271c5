//! `docbridge doctor` (issue 15): a healthy setup passes every check that does not need the
//! internet, and each check fails, with its fix and a non-zero exit, on the mistake it is for.

use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use serde_json::Value;
use tokio::process::Child;

use crate::cli::{Served, docbridge, free_port, run};

/// Runs `docbridge doctor --json` with short network timeouts.
async fn doctor(data: &Path, env: &[(&str, &str)]) -> (Output, Vec<Value>) {
    let output = run(data, &["doctor", "--json", "--timeout", "2"], env).await;
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    assert_eq!(report["ok"], output.status.success(), "the exit code follows the report: {report}");
    (output, report["checks"].as_array().expect("checks").clone())
}

/// Environment pairs as `run` and `doctor` take them.
fn borrowed(pairs: &[(impl AsRef<str>, impl AsRef<str>)]) -> Vec<(&str, &str)> {
    pairs.iter().map(|(k, v)| (k.as_ref(), v.as_ref())).collect()
}

/// A plain-TCP server on loopback that answers every request with `answer(path)`, and its
/// address; abort the task to stop it.
async fn answering(answer: impl Fn(&str) -> String + Send + Sync + 'static) -> (String, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let listen = listener.local_addr().unwrap().to_string();
    let answer = std::sync::Arc::new(answer);
    let task = tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            let answer = answer.clone();
            // A task per connection: doctor holds its first one open while it probes.
            tokio::spawn(async move {
                let mut request = vec![0u8; 4096];
                let n = socket.read(&mut request).await.unwrap_or(0);
                let head = String::from_utf8_lossy(&request[..n]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let _ = socket.write_all(answer(&path).as_bytes()).await;
            });
        }
    });
    (listen, task)
}

/// Doctor on `data` with public_url at an [`answering`] server.
async fn doctor_with_public_url_answering(
    data: &Path,
    answer: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (Output, Vec<Value>) {
    let (listen, answering) = answering(answer).await;
    let result = doctor(data, &[("DOCBRIDGE_PUBLIC_URL", &format!("http://{listen}"))]).await;
    answering.abort();
    result
}

/// The lines of one check.
fn lines<'a>(checks: &'a [Value], check: &str) -> Vec<&'a Value> {
    checks.iter().filter(|c| c["check"] == check).collect()
}

/// Asserts that every line of `check` has `status`, and that there is at least one.
fn assert_all(checks: &[Value], check: &str, status: &str) {
    let found = lines(checks, check);
    assert!(!found.is_empty(), "no {check} line: {checks:#?}");
    assert!(found.iter().all(|c| c["status"] == status), "{check} should be {status}: {checks:#?}");
}

/// Asserts that doctor failed, with a FAIL line for `check` whose detail holds `detail` and whose
/// fix holds `fix`.
fn assert_fails(output: &Output, checks: &[Value], check: &str, detail: &str, fix: &str) {
    assert_eq!(output.status.code(), Some(1), "doctor exits 1 on a failure: {checks:#?}");
    let failed = lines(checks, check).into_iter().find(|c| {
        c["status"] == "fail"
            && c["detail"].as_str().unwrap_or("").contains(detail)
            && c["fix"].as_str().unwrap_or("").contains(fix)
    });
    assert!(failed.is_some(), "no failing {check} line saying {detail:?} with fix {fix:?}: {checks:#?}");
}

/// What serving leaves in a data directory, made private as the `files` change will make it.
fn make_private(data: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let set = |path: &Path| {
        let mode = if path.is_dir() { 0o700 } else { 0o600 };
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    set(data);
    for entry in std::fs::read_dir(data).unwrap() {
        set(&entry.unwrap().path());
    }
}

/// A temporary directory holding an empty, private data directory, as before the first start.
fn unstarted() -> (tempfile::TempDir, PathBuf) {
    let (dir, data) = crate::cli::data_dir();
    make_private(&data);
    (dir, data)
}

/// A temporary directory holding a data directory with a registry and one integration, as
/// `integration add` leaves it.
async fn prepared() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let data = prepared_in(dir.path()).await;
    (dir, data)
}

/// A data directory in `dir` with a registry and one integration, as `integration add` leaves it.
async fn prepared_in(dir: &Path) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    let added = run(&data, &["integration", "add", "--name", "Docs", "--auth", "apikey", "--json"], &[]).await;
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    make_private(&data);
    data
}

#[tokio::test]
async fn a_healthy_setup_passes_and_reaches_this_docbridge() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Served::start(&data).await;
    make_private(&data);
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let config = dir.path().join("docbridge.toml");
    std::fs::write(&config, format!("public_url = \"{}\"\n[http]\nlisten = \"127.0.0.1:{port}\"\n", server.base))
        .unwrap();
    let (output, checks) = doctor(&data, &[("DOCBRIDGE_CONFIG", config.to_str().unwrap())]).await;
    for check in ["configuration", "data directory", "database", "storage", "dns", "reach", "clock", "listen"] {
        assert_all(&checks, check, "ok");
    }
    assert!(lines(&checks, "reach")[0]["detail"].as_str().unwrap().contains("reaches this docbridge"));
    assert!(lines(&checks, "listen")[0]["detail"].as_str().unwrap().contains("this docbridge is serving"));
    // A test server is on loopback over plain http, which Workfront Cloud never calls.
    assert_fails(&output, &checks, "public_url", "loopback", "public https:// address");
    assert_fails(&output, &checks, "public_url", "plain http", "https://");
    server.stop().await;

    // The plain report: one line per check, FAIL lines with their fix.
    let plain = run(&data, &["doctor", "--timeout", "2"], &[("DOCBRIDGE_CONFIG", config.to_str().unwrap())]).await;
    assert_eq!(plain.status.code(), Some(1));
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(text.lines().any(|l| l.starts_with("ok    database: ")), "{text}");
    assert!(text.lines().any(|l| l.starts_with("FAIL  public_url: ") && l.contains(". Fix: ")), "{text}");
}

#[tokio::test]
async fn an_unknown_configuration_key_is_reported_not_a_crash() {
    let (dir, data) = prepared().await;
    let config = dir.path().join("docbridge.toml");
    std::fs::write(&config, "[http]\nlisten_port = 8443\n").unwrap();
    let (output, checks) = doctor(&data, &[("DOCBRIDGE_CONFIG", config.to_str().unwrap())]).await;
    assert_fails(&output, &checks, "configuration", "listen_port", "remove or correct that key");
    // The checks that need no configuration still run.
    assert_all(&checks, "data directory", "ok");
}

#[tokio::test]
async fn a_data_directory_others_can_read_fails() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, data) = prepared().await;
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(data.join("docbridge.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let (output, checks) = doctor(&data, &[]).await;
    assert_fails(
        &output,
        &checks,
        "data directory",
        "data (mode 0755)",
        &format!("chmod -R go-rwx {}", data.display()),
    );
    assert_fails(&output, &checks, "data directory", "docbridge.db (mode 0644)", "chmod -R go-rwx");

    let missing = dir.path().join("elsewhere");
    let (output, checks) = doctor(&missing, &[]).await;
    assert_fails(&output, &checks, "data directory", "elsewhere", "DOCBRIDGE_DATA_DIR");
    assert!(!missing.exists(), "doctor creates nothing");
}

#[tokio::test]
async fn an_unreachable_database_fails() {
    let (_dir, data) = prepared().await;
    // Nothing listens on port 1: the connection is refused.
    let env = [("DOCBRIDGE_DATABASE__URL", "postgres://docbridge:secret@127.0.0.1:1/docbridge")];
    let (output, checks) = doctor(&data, &env).await;
    assert_fails(&output, &checks, "database", "127.0.0.1:1", "[database] url");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("secret"), "the password is never printed");
}

#[tokio::test]
async fn a_missing_storage_root_fails() {
    let (_dir, data) = prepared().await;
    let root = data.join("libraries").join("docs");
    assert!(root.is_dir(), "integration add made its folder");
    std::fs::remove_dir(&root).unwrap();
    let (output, checks) = doctor(&data, &[]).await;
    assert_fails(&output, &checks, "storage", "docs (fs", &format!("create the folder {}", root.display()));
}

#[tokio::test]
async fn a_name_that_does_not_resolve_fails() {
    let (_dir, data) = prepared().await;
    let (output, checks) = doctor(&data, &[("DOCBRIDGE_PUBLIC_URL", "https://docbridge.invalid")]).await;
    assert_fails(&output, &checks, "dns", "docbridge.invalid does not resolve", "DNS A");
    assert_all(&checks, "public_url", "ok");
}

#[tokio::test]
async fn a_public_url_reaching_another_docbridge_fails() {
    let (dir, data) = prepared().await;
    // Another docbridge, on another database, where this one's public_url and port point.
    let other = Served::start(&dir.path().join("other")).await;
    let listen = other.base.trim_start_matches("http://").to_owned();
    let env = [("DOCBRIDGE_PUBLIC_URL", other.base.as_str()), ("DOCBRIDGE_HTTP__LISTEN", listen.as_str())];
    let (output, checks) = doctor(&data, &env).await;
    assert_fails(&output, &checks, "reach", "public_url reaches a server that is not this docbridge", "proxy");
    assert_fails(&output, &checks, "listen", "in use by another program", "ss -ltnp");
    other.stop().await;
}

#[tokio::test]
async fn a_port_taken_by_another_program_fails() {
    let (_dir, data) = prepared().await;
    // Accepts connections (the kernel's backlog) but never answers HTTP.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let (output, checks) = doctor(&data, &[("DOCBRIDGE_HTTP__LISTEN", listen.as_str())]).await;
    assert_fails(&output, &checks, "listen", &format!("{listen} is in use by another program"), "set [http] listen");
    drop(taken);
}

/// With automatic HTTPS, the plain-HTTP listener (port 80) is checked as `[http] listen` is:
/// another program there fails, naming `[http.acme] http_listen`; a listener that redirects the
/// probe to the same path at public_url, as docbridge's own does, passes.
#[tokio::test]
async fn the_acme_plain_http_listener_is_checked() {
    let (_dir, data) = prepared().await;
    let acme = |http_listen: String| {
        [
            ("DOCBRIDGE_PUBLIC_URL", "https://docs.docbridge-doctor.example.com".to_owned()),
            ("DOCBRIDGE_HTTP__ACME__ENABLED", "true".to_owned()),
            ("DOCBRIDGE_HTTP__ACME__CONTACT", "ops@docbridge-doctor.example.com".to_owned()),
            ("DOCBRIDGE_HTTP__ACME__CHALLENGE", "http-01".to_owned()),
            ("DOCBRIDGE_HTTP__ACME__HTTP_LISTEN", http_listen),
        ]
    };

    // Accepts connections (the kernel's backlog) but never answers HTTP.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let listen = taken.local_addr().unwrap().to_string();
    let (output, checks) = doctor(&data, &borrowed(&acme(listen.clone()))).await;
    assert_fails(
        &output,
        &checks,
        "http_listen",
        &format!("{listen} is in use by another program"),
        "set [http.acme] http_listen",
    );
    drop(taken);

    // Redirects every request to the same path at public_url's origin, as docbridge's does.
    let (listen, answering) = answering(|path| {
        format!(
            "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://docs.docbridge-doctor.example.com{path}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
    })
    .await;
    let (_, checks) = doctor(&data, &borrowed(&acme(listen.clone()))).await;
    answering.abort();
    assert_all(&checks, "http_listen", "ok");
    let detail = lines(&checks, "http_listen")[0]["detail"].as_str().unwrap().to_owned();
    assert!(detail.contains("redirecting plain HTTP to public_url") && detail.contains(&listen), "{detail}");
}

/// A certificate authority for the TLS cases, trusted by doctor through `SSL_CERT_FILE`.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    ca_file: PathBuf,
}

impl Pki {
    fn new(dir: &Path) -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "docbridge doctor test CA");
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let ca_file = dir.join("ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Pki { ca, ca_file }
    }

    /// A leaf for `localhost`, signed by this CA or by itself, valid until `not_after`.
    fn leaf(&self, dir: &Path, self_signed: bool, not_after: (i32, u8, u8)) -> (PathBuf, PathBuf) {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "localhost");
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
        let cert =
            if self_signed { params.self_signed(&key).unwrap() } else { params.signed_by(&key, &self.ca).unwrap() };
        let (cert_file, key_file) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_file, cert.pem()).unwrap();
        std::fs::write(&key_file, key.serialize_pem()).unwrap();
        (cert_file, key_file)
    }
}

/// `docbridge serve` over HTTPS on `data` with `cert`, at `https://{host}:PORT`.
async fn serve_tls(data: &Path, host: &str, cert: &Path, key: &Path) -> (Child, Vec<(String, String)>) {
    let port = free_port();
    let env = vec![
        ("DOCBRIDGE_PUBLIC_URL".to_owned(), format!("https://{host}:{port}")),
        ("DOCBRIDGE_HTTP__LISTEN".to_owned(), format!("127.0.0.1:{port}")),
        ("DOCBRIDGE_HTTP__TLS_CERT".to_owned(), cert.display().to_string()),
        ("DOCBRIDGE_HTTP__TLS_KEY".to_owned(), key.display().to_string()),
    ];
    let mut child = docbridge(data)
        .arg("serve")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docbridge starts");
    let http = reqwest::Client::builder().tls_danger_accept_invalid_certs(true).build().unwrap();
    for _ in 0..1200 {
        assert!(child.try_wait().unwrap().is_none(), "docbridge exited");
        if http.get(format!("https://127.0.0.1:{port}/healthz")).send().await.is_ok() {
            return (child, env);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("docbridge did not answer over HTTPS");
}

/// Doctor on a prepared data directory against a TLS server at `https://{host}:PORT` with the
/// leaf a fresh [`Pki`] makes (for `localhost`), trusting that CA.
async fn doctor_tls(host: &str, self_signed: bool, not_after: (i32, u8, u8)) -> (Output, Vec<Value>) {
    let dir = tempfile::tempdir().unwrap();
    let pki = Pki::new(dir.path());
    let data = prepared_in(dir.path()).await;
    let (cert, key) = pki.leaf(dir.path(), self_signed, not_after);
    let (mut child, env) = serve_tls(&data, host, &cert, &key).await;
    let mut env = borrowed(&env);
    env.push(("SSL_CERT_FILE", pki.ca_file.to_str().unwrap()));
    let result = doctor(&data, &env).await;
    child.kill().await.unwrap();
    result
}

#[tokio::test]
async fn a_certificate_from_a_trusted_ca_passes_and_tells_its_expiry() {
    let (_, checks) = doctor_tls("localhost", false, (2100, 1, 1)).await;
    assert_all(&checks, "tls", "ok");
    assert_all(&checks, "tls_cert", "ok");
    let tls = lines(&checks, "tls")[0]["detail"].as_str().unwrap().to_owned();
    assert!(tls.contains("trusted") && tls.contains("expires 2100-01-01"), "{tls}");
    assert_all(&checks, "reach", "ok");
}

#[tokio::test]
async fn a_self_signed_certificate_fails() {
    let (output, checks) = doctor_tls("localhost", true, (2100, 1, 1)).await;
    assert_fails(&output, &checks, "tls", "not trusted", "public CA");
    // Untrusted, but still this docbridge: the reach check is about whom the address reaches.
    assert_all(&checks, "reach", "ok");
}

#[tokio::test]
async fn an_expired_certificate_fails() {
    let (output, checks) = doctor_tls("localhost", false, (2021, 1, 1)).await;
    assert_fails(&output, &checks, "tls", "has expired", "renew the certificate");
    assert_fails(&output, &checks, "tls_cert", "has expired", "renew the certificate");
}

#[tokio::test]
async fn a_certificate_expiring_within_two_weeks_warns() {
    use chrono::Datelike;
    let soon = chrono::Utc::now() + chrono::Duration::days(7);
    let (_, checks) = doctor_tls("localhost", false, (soon.year(), soon.month() as u8, soon.day() as u8)).await;
    let tls = lines(&checks, "tls");
    assert!(
        tls.iter().any(|c| c["status"] == "warn"
            && c["detail"].as_str().unwrap().contains("is trusted but expires")
            && c["fix"].as_str().unwrap().contains("renew")),
        "{checks:#?}"
    );
}

#[tokio::test]
async fn plain_http_where_public_url_says_https_fails() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Served::start(&data).await;
    let https = server.base.replace("http://", "https://");
    let (output, checks) = doctor(&data, &[("DOCBRIDGE_PUBLIC_URL", https.as_str())]).await;
    assert_fails(&output, &checks, "tls", "TLS handshake", "speaks plain HTTP");
    server.stop().await;
}

#[tokio::test]
async fn a_certificate_for_another_name_fails() {
    // The certificate names `localhost`; public_url names the address.
    let (output, checks) = doctor_tls("127.0.0.1", false, (2100, 1, 1)).await;
    assert_fails(
        &output,
        &checks,
        "tls",
        "not valid for 127.0.0.1: it names localhost",
        "get a certificate that names 127.0.0.1",
    );
    assert_fails(
        &output,
        &checks,
        "tls_cert",
        "not valid for 127.0.0.1",
        "set public_url to a name the certificate covers",
    );
}

#[tokio::test]
async fn an_unset_or_redirecting_public_url_fails() {
    let (_dir, data) = prepared().await;
    // Unset: docbridge would give Workfront its own loopback address.
    let (output, checks) = doctor(&data, &[]).await;
    assert_fails(
        &output,
        &checks,
        "public_url",
        "not set, so docbridge gives Workfront http://",
        "public_url = \"https://",
    );

    // A public_url whose server redirects (a plain-HTTP listener sending everyone to HTTPS, as
    // docbridge's own port 80 with ACME does): Workfront does not follow redirects.
    let (output, checks) = doctor_with_public_url_answering(&data, |_| {
        "HTTP/1.1 308 Permanent Redirect\r\nLocation: https://docs.example.com/\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
    })
    .await;
    assert_fails(&output, &checks, "reach", "answers with a redirect (308", "Workfront does not follow redirects");
}

#[tokio::test]
async fn a_certificate_file_that_does_not_load_fails() {
    let (dir, data) = prepared().await;
    let key = dir.path().join("key.pem");
    std::fs::write(&key, "not a key").unwrap();
    let env = [
        ("DOCBRIDGE_HTTP__TLS_CERT", "/nonexistent/fullchain.pem"),
        ("DOCBRIDGE_HTTP__TLS_KEY", key.to_str().unwrap()),
    ];
    let (output, checks) = doctor(&data, &env).await;
    assert_fails(&output, &checks, "tls_cert", "/nonexistent/fullchain.pem", "fullchain.pem");
}

#[tokio::test]
async fn a_clock_ten_minutes_off_fails() {
    let (_dir, data) = prepared().await;
    // A server whose clock is ten minutes behind this machine's: all it tells is its Date.
    let (output, checks) = doctor_with_public_url_answering(&data, |_| {
        let date = httpdate::fmt_http_date(std::time::SystemTime::now() - Duration::from_secs(600));
        format!("HTTP/1.1 404 Not Found\r\nDate: {date}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    })
    .await;
    assert_fails(&output, &checks, "clock", "differ by 60", "NTP");
}

#[tokio::test]
async fn on_postgresql_the_database_and_its_clock_are_checked() {
    let Some(url) = std::env::var("DOCBRIDGE_TEST_POSTGRES_URL").ok().filter(|u| !u.is_empty()) else {
        eprintln!("skipped: DOCBRIDGE_TEST_POSTGRES_URL is not set (.ci/postgres.sh)");
        return;
    };
    let (_dir, data) = unstarted();
    let (_, checks) = doctor(&data, &[("DOCBRIDGE_DATABASE__URL", url.as_str())]).await;
    assert_all(&checks, "database", "ok");
    let clock = lines(&checks, "clock");
    assert!(
        clock.iter().any(|c| c["status"] == "ok" && c["detail"].as_str().unwrap().contains("database server's clock")),
        "the database's clock is compared: {checks:#?}"
    );
}

#[tokio::test]
async fn secrets_in_a_configuration_file_everyone_can_read_fail() {
    use std::os::unix::fs::PermissionsExt;
    let (dir, data) = prepared().await;
    let config = dir.path().join("docbridge.toml");
    std::fs::write(&config, "[admin]\ntoken = \"an-admin-token-for-the-doctor-test\"\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let env = [("DOCBRIDGE_CONFIG", config.to_str().unwrap())];
    let (output, checks) = doctor(&data, &env).await;
    assert_fails(&output, &checks, "configuration", "readable by every user and holds admin.token", "chmod 640");
    assert!(!String::from_utf8_lossy(&output.stdout).contains("an-admin-token"), "the secret is never printed");

    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (_, checks) = doctor(&data, &env).await;
    assert_all(&checks, "configuration", "ok");
}

#[tokio::test]
async fn run_as_another_user_doctor_leaves_the_database_alone() {
    use std::os::unix::fs::MetadataExt;
    let (dir, data) = prepared().await;
    let me = std::fs::metadata(dir.path()).unwrap().uid();
    if me != 0 {
        eprintln!("skipped: giving the data directory to another user needs root");
        return;
    }
    // The service user's data directory, as a freshly stopped service leaves it: no journal.
    for journal in ["docbridge.db-wal", "docbridge.db-shm"] {
        let _ = std::fs::remove_file(data.join(journal));
    }
    let service_user = 65534;
    let give = |path: &Path| std::os::unix::fs::chown(path, Some(service_user), Some(service_user)).unwrap();
    give(&data);
    for entry in std::fs::read_dir(&data).unwrap() {
        give(&entry.unwrap().path());
    }
    let (_, checks) = doctor(&data, &[]).await;
    let owned = lines(&checks, "data directory");
    assert!(
        owned.iter().any(|c| c["status"] == "warn" && c["fix"].as_str().unwrap().contains("sudo -u docbridge")),
        "{checks:#?}"
    );
    assert!(lines(&checks, "database").iter().any(|c| c["detail"].as_str().unwrap().starts_with("not opened")));
    for entry in std::fs::read_dir(&data).unwrap() {
        let entry = entry.unwrap();
        assert_eq!(entry.metadata().unwrap().uid(), service_user, "doctor made {:?} as root", entry.path());
    }
}

#[tokio::test]
async fn before_the_first_start_doctor_creates_no_database() {
    let (_dir, data) = unstarted();
    let (_, checks) = doctor(&data, &[]).await;
    assert_all(&checks, "database", "warn");
    assert!(!data.join("docbridge.db").exists(), "doctor creates nothing");
}

#[tokio::test]
async fn s3_storage_is_reached_through_its_adapter() {
    let var = |name: &str| std::env::var(format!("DOCBRIDGE_TEST_S3_{name}")).ok().filter(|v| !v.is_empty());
    let (Some(endpoint), Some(bucket), Some(key), Some(secret)) =
        (var("ENDPOINT"), var("BUCKET"), var("KEY"), var("SECRET"))
    else {
        eprintln!("skipped: no S3 server (set DOCBRIDGE_TEST_S3_* or run .ci/s3.sh start)");
        return;
    };
    let region = var("REGION").unwrap_or_else(|| "us-east-1".to_owned());
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // A prefix of its own, so that runs never share a library.
    let prefix = format!("doctor-{}", dir.path().file_name().unwrap().to_string_lossy());
    let s3 = |secret: &str| {
        vec![
            ("DOCBRIDGE_STORAGE__S3__ENDPOINT".to_owned(), endpoint.clone()),
            ("DOCBRIDGE_STORAGE__S3__BUCKET".to_owned(), bucket.clone()),
            ("DOCBRIDGE_STORAGE__S3__PREFIX".to_owned(), prefix.clone()),
            ("DOCBRIDGE_STORAGE__S3__REGION".to_owned(), region.clone()),
            ("DOCBRIDGE_STORAGE__S3__ACCESS_KEY_ID".to_owned(), key.clone()),
            ("DOCBRIDGE_STORAGE__S3__SECRET_ACCESS_KEY".to_owned(), secret.to_owned()),
            ("DOCBRIDGE_STORAGE__S3__ALLOW_HTTP".to_owned(), "true".to_owned()),
        ]
    };
    let right = s3(&secret);
    let right = borrowed(&right);
    let added =
        run(&data, &["integration", "add", "--name", "Cloud", "--auth", "apikey", "--storage", "s3", "--json"], &right)
            .await;
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    make_private(&data);
    let (_, checks) = doctor(&data, &right).await;
    assert_all(&checks, "storage", "ok");

    let (output, checks) = doctor(&data, &borrowed(&s3("not-the-secret"))).await;
    assert_fails(&output, &checks, "storage", "cloud (s3", "[storage.s3] endpoint, bucket and credentials");
}

#[tokio::test]
async fn the_acme_certificate_in_the_cache_is_reported_with_its_expiry() {
    let (dir, data) = prepared().await;
    let config = dir.path().join("docbridge.toml");
    std::fs::write(
        &config,
        "public_url = \"https://docs.doctor-acme.example.com\"\n[http.acme]\nenabled = true\ncontact = \"ops@example.com\"\n",
    )
    .unwrap();
    let env = [("DOCBRIDGE_CONFIG", config.to_str().unwrap())];
    let (_, checks) = doctor(&data, &env).await;
    assert_all(&checks, "acme", "warn");
    assert!(
        lines(&checks, "acme")[0]["detail"].as_str().unwrap().contains("no certificate in the cache"),
        "{checks:#?}"
    );

    // What docbridge would have cached, but expired.
    let acme: docbridge_server::acme::AcmeConfig = toml_acme();
    let file = acme.certificate_file("https://docs.doctor-acme.example.com", &data).unwrap();
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(vec!["docs.doctor-acme.example.com".to_owned()]).unwrap();
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(&file, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    let (output, checks) = doctor(&data, &env).await;
    assert_fails(&output, &checks, "acme", "expired 2021-01-01", "ACME:");

    params.not_after = rcgen::date_time_ymd(2100, 1, 1);
    let cert = params.self_signed(&key).unwrap();
    std::fs::write(&file, format!("{}{}", key.serialize_pem(), cert.pem())).unwrap();
    let (_, checks) = doctor(&data, &env).await;
    assert_all(&checks, "acme", "ok");
    assert!(lines(&checks, "acme")[0]["detail"].as_str().unwrap().contains("expires 2100-01-01"), "{checks:#?}");
}

/// The `[http.acme]` settings of the test above, as the configuration loads them.
fn toml_acme() -> docbridge_server::acme::AcmeConfig {
    let env = [
        ("DOCBRIDGE_PUBLIC_URL", "https://docs.doctor-acme.example.com"),
        ("DOCBRIDGE_HTTP__ACME__ENABLED", "true"),
        ("DOCBRIDGE_HTTP__ACME__CONTACT", "ops@example.com"),
    ];
    let env = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    docbridge_server::config::Config::load(None, &env, &Default::default()).unwrap().http.acme
}
