//! `docbridge doctor`: checks what an administrator gets wrong on the way to a working Workfront
//! integration (configuration, data directory, database, storage, the public address and its
//! certificate, the clock, the listening port), one line each with what to do about a failure.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::Path;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use docbridge_registry::Registry;
use docbridge_server::config::{Config, Overrides, public_url_warnings};
use docbridge_server::{BuiltinStorage, DOCTOR_NONCE, StorageFactory};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use serde::Serialize;

/// A certificate that expires sooner than this is worth a warning: renewals (ACME, certbot)
/// normally happen 30 days ahead, so 14 days left means renewal has been failing for a while.
const EXPIRY_WARNING_DAYS: i64 = 14;
/// Clock offsets above these make signed links and OAuth2 tokens, which are time-bound, fail.
const CLOCK_WARN_SECS: i64 = 60;
const CLOCK_FAIL_SECS: i64 = 300;
/// Where the server answers doctor's nonce (see `docbridge_server::router`).
const NONCE_PATH: &str = "/.well-known/docbridge-doctor/";

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Print the checks as JSON.
    #[arg(long)]
    json: bool,
    /// Seconds each network check may take before it counts as failed.
    #[arg(long, default_value_t = 5)]
    timeout: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Debug, Serialize)]
struct Check {
    status: Status,
    check: &'static str,
    detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
}

#[derive(Debug, Default)]
struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn ok(&mut self, check: &'static str, detail: impl Into<String>) {
        self.checks.push(Check { status: Status::Ok, check, detail: detail.into(), fix: None });
    }

    fn warn(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.checks.push(Check { status: Status::Warn, check, detail: detail.into(), fix: Some(fix.into()) });
    }

    fn fail(&mut self, check: &'static str, detail: impl Into<String>, fix: impl Into<String>) {
        self.checks.push(Check { status: Status::Fail, check, detail: detail.into(), fix: Some(fix.into()) });
    }

    fn failed(&self) -> bool {
        self.checks.iter().any(|c| c.status == Status::Fail)
    }

    fn print(&self, json: bool) -> anyhow::Result<()> {
        if json {
            let report = serde_json::json!({ "ok": !self.failed(), "checks": self.checks });
            super::print_json(&report)?;
            return Ok(());
        }
        for check in &self.checks {
            let status = match check.status {
                Status::Ok => "ok",
                Status::Warn => "warn",
                Status::Fail => "FAIL",
            };
            match &check.fix {
                Some(fix) => println!("{status:<4}  {}: {}. Fix: {fix}", check.check, check.detail),
                None => println!("{status:<4}  {}: {}", check.check, check.detail),
            }
        }
        let count = |status| self.checks.iter().filter(|c| c.status == status).count();
        println!("doctor: {} failed, {} warnings, {} ok", count(Status::Fail), count(Status::Warn), count(Status::Ok));
        Ok(())
    }
}

/// Runs every check and prints them. Takes the configuration's sources rather than a loaded
/// configuration: a configuration that does not load is the first thing doctor reports.
pub async fn run(
    data_dir: &Path,
    config_file: Option<&Path>,
    env: &HashMap<String, String>,
    args: DoctorArgs,
) -> anyhow::Result<ExitCode> {
    let timeout = Duration::from_secs(args.timeout.max(1));
    let mut report = Report::default();
    let config = check_config(&mut report, config_file, env);
    let data_dir_exists = check_data_dir(&mut report, data_dir);
    if let Some(config) = config {
        let registry = check_database(&mut report, data_dir, &config, data_dir_exists, timeout).await;
        if let Some(registry) = &registry {
            check_database_clock(&mut report, registry, timeout).await;
            check_storage(&mut report, registry, &config, timeout).await;
        }
        if let Some(tls) = check_tls_files(&mut report, &config) {
            tls_file_names(&mut report, &config, &tls);
        }
        check_acme_cache(&mut report, data_dir, &config);
        check_public_url(&mut report, &config, registry.as_ref(), timeout).await;
    }
    report.print(args.json)?;
    Ok(if report.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

fn check_config(report: &mut Report, file: Option<&Path>, env: &HashMap<String, String>) -> Option<Config> {
    let source = match file {
        Some(file) => file.display().to_string(),
        None => "the embedded defaults (no --config or DOCBRIDGE_CONFIG)".to_owned(),
    };
    match Config::load(file, env, &Overrides::default()) {
        Ok(config) => {
            report.ok("configuration", format!("loaded from {source}"));
            if let Some(file) = file {
                check_config_secrets(report, file);
            }
            Some(config)
        }
        Err(e) => {
            let message = e.to_string();
            let fix = if message.contains("unknown field") {
                "remove or correct that key (a typo, or a key of another version): every key is listed with its default in default-config.toml"
            } else {
                "correct that setting in the configuration file or the DOCBRIDGE_* variable that sets it; every key is documented with its default in default-config.toml"
            };
            report.fail("configuration", format!("{source}: {message}"), fix);
            None
        }
    }
}

/// A configuration file that holds secrets (the admin token, the S3 secret key, a database
/// password) must not be readable by every user of the machine.
fn check_config_secrets(report: &mut Report, file: &Path) {
    #[cfg(unix)]
    {
        use secrecy::ExposeSecret;
        use std::os::unix::fs::PermissionsExt;
        let Ok(metadata) = std::fs::metadata(file) else { return };
        let mode = metadata.permissions().mode() & 0o777;
        if mode & 0o004 == 0 {
            return;
        }
        // The file alone, without the environment: only the secrets written in it count.
        let Ok(from_file) = Config::load(Some(file), &HashMap::new(), &Overrides::default()) else { return };
        let mut secrets = Vec::new();
        if !from_file.admin.token.expose_secret().is_empty() {
            secrets.push("admin.token");
        }
        if !from_file.storage.s3.secret_access_key.expose_secret().is_empty() {
            secrets.push("storage.s3.secret_access_key");
        }
        if !from_file.storage.webdav.password.expose_secret().is_empty() {
            secrets.push("storage.webdav.password");
        }
        if !from_file.storage.azblob.account_key.expose_secret().is_empty() {
            secrets.push("storage.azblob.account_key");
        }
        if url::Url::parse(&from_file.database.url).is_ok_and(|u| u.password().is_some()) {
            secrets.push("the password in database.url");
        }
        if !secrets.is_empty() {
            report.fail(
                "configuration",
                format!("{} (mode {mode:04o}) is readable by every user and holds {}", file.display(), secrets.join(", ")),
                format!(
                    "chmod 640 {} and give it the service's group, or move the secrets to DOCBRIDGE_ADMIN__TOKEN_FILE, DOCBRIDGE_STORAGE__S3__SECRET_ACCESS_KEY_FILE, DOCBRIDGE_STORAGE__WEBDAV__PASSWORD_FILE, DOCBRIDGE_STORAGE__AZBLOB__ACCOUNT_KEY_FILE or DOCBRIDGE_DATABASE__URL_FILE (systemd credentials)",
                    file.display()
                ),
            );
        }
    }
    #[cfg(not(unix))]
    let _ = (report, file);
}

/// The data directory and what lives directly in it (the SQLite database and its journal, the
/// documents, caches, remotes) hold secrets and documents: nobody but the service user should
/// read them. Returns whether the directory exists.
fn check_data_dir(report: &mut Report, data_dir: &Path) -> bool {
    let shown = data_dir.display();
    let metadata = match std::fs::metadata(data_dir) {
        Ok(metadata) if metadata.is_dir() => metadata,
        Ok(_) => {
            report.fail(
                "data directory",
                format!("{shown} is not a directory"),
                "point --data-dir or DOCBRIDGE_DATA_DIR at docbridge's data directory",
            );
            return false;
        }
        Err(e) => {
            report.fail(
                "data directory",
                format!("{shown}: {e}"),
                "run doctor with the service's data directory (--data-dir or DOCBRIDGE_DATA_DIR; the package uses /var/lib/docbridge), or start docbridge once to create it",
            );
            return false;
        }
    };
    #[cfg(unix)]
    {
        use docbridge_server::data_dir::open_to_others;
        use std::os::unix::fs::MetadataExt;
        let mut open = Vec::new();
        if let Some(mode) = open_to_others(&metadata) {
            open.push((data_dir.to_owned(), mode));
        }
        if let Ok(entries) = std::fs::read_dir(data_dir) {
            for entry in entries.flatten() {
                // Not followed: a link's target is the administrator's choice, not ours to judge.
                if let Ok(meta) = entry.metadata()
                    && !meta.file_type().is_symlink()
                    && let Some(mode) = open_to_others(&meta)
                {
                    open.push((entry.path(), mode));
                }
            }
        }
        if !open.is_empty() {
            let listed: Vec<String> =
                open.iter().map(|(path, mode)| format!("{} (mode {mode:04o})", path.display())).collect();
            report.fail(
                "data directory",
                format!("other users can read or enter {}", listed.join(", ")),
                format!(
                    "chmod -R go-rwx {} (and keep the service's umask at 077: UMask=0077 in its systemd unit)",
                    data_dir.display()
                ),
            );
            return true;
        }
        let owner = metadata.uid();
        if let Some(me) = current_uid()
            && me != owner
        {
            report.warn(
                "data directory",
                format!("{shown} belongs to user {owner}, but doctor runs as user {me}"),
                "run doctor as the service user (for example `sudo -u docbridge docbridge doctor`) so that it sees what the service sees",
            );
            return true;
        }
    }
    #[cfg(not(unix))]
    let _ = metadata;
    report.ok("data directory", format!("{shown} is private to its owner"));
    true
}

/// The effective user ID, read from `/proc` (std does not expose `geteuid`, and this is not
/// worth a libc dependency): `None` where there is no `/proc`.
#[cfg(unix)]
fn current_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// The database URL without its password, for printing.
fn redacted(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

async fn check_database(
    report: &mut Report,
    data_dir: &Path,
    config: &Config,
    data_dir_exists: bool,
    timeout: Duration,
) -> Option<Registry> {
    let url = config.database_url(data_dir);
    let sqlite = url.starts_with("sqlite:");
    if sqlite && !data_dir_exists {
        // Opening it would create an empty database somewhere nobody looks.
        report.fail(
            "database",
            format!("not opened: {} lives in the data directory, which is missing", redacted(&url)),
            "see the data directory line",
        );
        return None;
    }
    if sqlite && config.database.url.is_empty() {
        let file = data_dir.join("docbridge.db");
        if !file.exists() {
            report.warn(
                "database",
                format!("{} does not exist yet", file.display()),
                "start docbridge once: it creates the database (doctor creates nothing)",
            );
            return None;
        }
    }
    #[cfg(unix)]
    if sqlite
        && let Some(me) = current_uid()
        && let Ok(metadata) = std::fs::metadata(data_dir)
        && std::os::unix::fs::MetadataExt::uid(&metadata) != me
    {
        // SQLite makes its -wal and -shm files as whoever opens the database: made by root,
        // they would lock the service user out of its own database.
        report.warn(
            "database",
            format!(
                "not opened: doctor runs as user {me}, and SQLite would leave files in the data directory that its owner (user {}) cannot write",
                std::os::unix::fs::MetadataExt::uid(&metadata)
            ),
            "run doctor as the service user, for example `sudo -u docbridge docbridge doctor`",
        );
        return None;
    }
    let fix = if sqlite {
        "check that the data directory and docbridge.db are writable by the user running docbridge"
    } else {
        "check [database] url (host, port, user, password, database name) and that the database server runs and accepts connections from this host"
    };
    match tokio::time::timeout(timeout, super::open_registry(data_dir, config)).await {
        Ok(Ok(registry)) => match registry.check().await {
            Ok(()) => {
                report.ok("database", format!("{} answers", redacted(&url)));
                Some(registry)
            }
            Err(e) => {
                report.fail("database", format!("{}: {e}", redacted(&url)), fix);
                None
            }
        },
        Ok(Err(e)) => {
            report.fail("database", format!("{}: {e:#}", redacted(&url)), fix);
            None
        }
        Err(_) => {
            report.fail("database", format!("{} did not answer within {}s", redacted(&url), timeout.as_secs()), fix);
            None
        }
    }
}

async fn check_storage(report: &mut Report, registry: &Registry, config: &Config, timeout: Duration) {
    let integrations = match registry.integrations().await {
        Ok(integrations) => integrations,
        Err(e) => {
            report.fail("storage", format!("cannot list the integrations: {e}"), "see the database line");
            return;
        }
    };
    let enabled: Vec<_> = integrations.into_iter().filter(|i| i.enabled).collect();
    if enabled.is_empty() {
        report.warn(
            "storage",
            "no enabled integration yet",
            "start docbridge once (it creates the default integration) or add one with `docbridge integration add`",
        );
        return;
    }
    let storage = match BuiltinStorage::for_config(config) {
        Ok(storage) => storage,
        Err(e) => {
            report.fail(
                "storage",
                format!("[storage]: {e}"),
                "correct the endpoint, bucket or container and credentials of the [storage.*] table named",
            );
            return;
        }
    };
    for integration in &enabled {
        let fix = match integration.storage_kind.as_str() {
            "s3" => "check [storage.s3] endpoint, bucket and credentials, and that the bucket exists".to_owned(),
            "webdav" => format!(
                "check [storage.webdav] endpoint, username and password, and that the folder {} exists there",
                integration.storage_root
            ),
            "sftp" => format!(
                "check [storage.sftp] endpoint, username, key_file and known_hosts (the host's key must be in it: ssh-keyscan), and that the folder {} exists there",
                integration.storage_root
            ),
            "azblob" => "check [storage.azblob] endpoint, account_name and account_key, and that the container exists"
                .to_owned(),
            "gcs" => "check [storage.gcs] endpoint and credential_file (a service account's JSON key with access to the bucket), and that the bucket exists"
                .to_owned(),
            _ => format!(
                "create the folder {} (owned by the user docbridge runs as), or move the documents back there",
                integration.storage_root
            ),
        };
        let at = format!("{} ({} {})", integration.slug, integration.storage_kind, integration.storage_root);
        if integration.storage_kind == "fs" {
            // Looked at, not opened: opening a folder library creates its root, and a library
            // whose disk is not mounted would then look like an empty one.
            let root = Path::new(&integration.storage_root);
            match std::fs::read_dir(root) {
                Ok(_) => report.ok("storage", format!("{at} is readable")),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    report.fail("storage", format!("{at} does not exist"), fix)
                }
                Err(e) => report.fail("storage", format!("{at}: {e}"), fix),
            }
            continue;
        }
        let checked = async {
            let opened = storage.open(integration)?;
            opened.check().await
        };
        match tokio::time::timeout(timeout, checked).await {
            Ok(Ok(())) => report.ok("storage", format!("{at} answers")),
            Ok(Err(e)) => report.fail("storage", format!("{at}: {e}"), fix),
            Err(_) => report.fail("storage", format!("{at} did not answer within {}s", timeout.as_secs()), fix),
        }
    }
}

/// `[http] tls_cert` and `tls_key`: readable, parse, and belong together (what `serve` loads
/// at start). Returns the chain when they do.
fn check_tls_files(report: &mut Report, config: &Config) -> Option<Vec<CertificateDer<'static>>> {
    let fix = "use the full chain (fullchain.pem) and its private key (privkey.pem), readable by the service user";
    match docbridge_server::tls::from_config(&config.http) {
        Ok(None) => None,
        Ok(Some(_)) => {
            let pem = std::fs::read(&config.http.tls_cert).ok()?;
            let chain: Vec<_> = CertificateDer::pem_slice_iter(&pem).filter_map(Result::ok).collect();
            report.ok("tls_cert", format!("{} loads and matches {}", config.http.tls_cert, config.http.tls_key));
            (!chain.is_empty()).then_some(chain)
        }
        Err(e) => {
            report.fail("tls_cert", e.to_string(), fix);
            None
        }
    }
}

/// `[http.acme]`: the certificate docbridge obtained, from its cache (no call to the CA: doctor
/// must not spend the CA's rate limits), and how long until it expires.
fn check_acme_cache(report: &mut Report, data_dir: &Path, config: &Config) {
    let acme = &config.http.acme;
    if !acme.enabled {
        return;
    }
    let Ok(file) = acme.certificate_file(&config.public_url, data_dir) else { return };
    if !file.exists() {
        report.warn(
            "acme",
            format!("no certificate in the cache ({}) yet", file.display()),
            "docbridge obtains one when it starts: start it, and if this stays, its log's `ACME:` line says what the CA refused",
        );
        return;
    }
    let fix =
        "see docbridge's log for the `ACME:` line saying why renewal fails (DNS, port 443, contact, directory_url)";
    match docbridge_server::acme::cached_expiry(&file) {
        Ok(not_after) => {
            let days = (not_after - chrono::Utc::now()).num_days();
            let detail = format!("certificate in the cache expires {} (in {days} days)", not_after.format("%Y-%m-%d"));
            if not_after <= chrono::Utc::now() {
                report.fail("acme", format!("certificate in the cache expired {}", not_after.format("%Y-%m-%d")), fix);
            } else if days < 14 {
                // Renewal starts with a third of the lifetime left (30 days of Let's Encrypt's 90).
                report.warn("acme", format!("{detail}: renewal should have replaced it by now"), fix);
            } else {
                report.ok("acme", detail);
            }
        }
        Err(e) => report.fail(
            "acme",
            format!("{}: {e}", file.display()),
            "remove the file; docbridge obtains a new certificate at its next start",
        ),
    }
}

/// The configured certificate judged as Workfront would judge it at `public_url`.
fn tls_file_names(report: &mut Report, config: &Config, chain: &[CertificateDer<'static>]) {
    let Ok(url) = url::Url::parse(&config.public_url) else { return };
    let Some(host) = url_host(&url) else { return };
    judge_certificate(report, "tls_cert", &host, chain);
}

/// The host of a URL as a TLS server name would spell it (no IPv6 brackets).
fn url_host(url: &url::Url) -> Option<String> {
    match url.host()? {
        url::Host::Domain(name) => Some(name.trim_end_matches('.').to_owned()),
        url::Host::Ipv4(ip) => Some(ip.to_string()),
        url::Host::Ipv6(ip) => Some(ip.to_string()),
    }
}

async fn check_public_url(report: &mut Report, config: &Config, registry: Option<&Registry>, timeout: Duration) {
    let effective = match registry {
        Some(registry) => super::cli_public_url(config, registry).await,
        None => super::public_url(config, None),
    };
    if config.public_url.is_empty() {
        report.fail(
            "public_url",
            format!("not set, so docbridge gives Workfront {effective}"),
            "set public_url to the https:// address Workfront calls, for example public_url = \"https://docs.example.com\"",
        );
    }
    let warnings = public_url_warnings(&effective);
    for warning in &warnings {
        let (detail, fix) = warning.split_once(": ").unwrap_or((warning.as_str(), "set public_url correctly"));
        report.fail("public_url", detail.to_owned(), fix.to_owned());
    }
    if !config.public_url.is_empty() && warnings.is_empty() {
        report.ok("public_url", format!("{effective} is a public https address"));
    }
    let Ok(url) = url::Url::parse(&effective) else { return };
    let Some(host) = url_host(&url) else { return };
    let port = url.port_or_known_default().unwrap_or(443);
    let resolved = check_resolution(report, &url, &host, port, timeout).await;
    let nonce = docbridge_auth::issue_secret().plain;
    let stored = match registry {
        Some(registry) => registry.set_setting(DOCTOR_NONCE, &nonce).await.is_ok(),
        None => false,
    };
    let client = match reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        // Trust is the TLS line's business: this one asks only whom the address reaches.
        .tls_danger_accept_invalid_certs(true)
        .build()
    {
        Ok(client) => client,
        Err(e) => {
            report.fail("reach", format!("cannot make an HTTP client: {e}"), "report this as a bug");
            return;
        }
    };
    if resolved {
        let answer = check_reach(report, &client, &effective, &nonce, stored, timeout).await;
        if let Some(date) = answer {
            check_clock(report, &effective, date);
        } else {
            report.warn(
                "clock",
                "not compared: no answer with a Date header from public_url",
                "make public_url reach docbridge (see above); links and tokens are time-bound, so keep the clock synchronised (systemd-timesyncd, chrony)",
            );
        }
        if url.scheme() == "https" {
            check_tls_remote(report, &host, port, timeout).await;
        }
    }
    check_port(report, config, &client, &nonce, stored, timeout).await;
    if let (Some(registry), true) = (registry, stored) {
        // A spent nonce should not keep answering 200.
        let _ = registry.set_setting(DOCTOR_NONCE, "").await;
    }
}

async fn check_resolution(report: &mut Report, url: &url::Url, host: &str, port: u16, timeout: Duration) -> bool {
    if !matches!(url.host(), Some(url::Host::Domain(_))) {
        report.ok("dns", format!("{host} is an IP address"));
        return true;
    }
    let fix = format!(
        "create a DNS A (or AAAA) record for {host} pointing at this server's public IP address, or correct public_url"
    );
    match tokio::time::timeout(timeout, tokio::net::lookup_host((host, port))).await {
        Ok(Ok(addresses)) => {
            let mut ips: Vec<IpAddr> = addresses.map(|a| a.ip()).collect();
            ips.dedup();
            if ips.is_empty() {
                report.fail("dns", format!("{host} resolves to no address"), fix);
                return false;
            }
            let listed = ips.iter().map(IpAddr::to_string).collect::<Vec<_>>().join(", ");
            if ips.iter().all(|ip| !is_public(ip)) {
                report.warn(
                    "dns",
                    format!("{host} resolves to {listed}, which Workfront Cloud cannot reach"),
                    format!("give {host} a public address in public DNS (a split-horizon DNS may answer this machine with a private one)"),
                );
            } else {
                report.ok("dns", format!("{host} resolves to {listed}"));
            }
            true
        }
        Ok(Err(e)) => {
            report.fail("dns", format!("{host} does not resolve ({e})"), fix);
            false
        }
        Err(_) => {
            report.fail("dns", format!("resolving {host} took more than {}s", timeout.as_secs()), fix);
            false
        }
    }
}

fn is_public(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(ip) => {
            !(ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified() || ip.is_broadcast())
        }
        IpAddr::V6(ip) => {
            let unique_local = (ip.segments()[0] & 0xfe00) == 0xfc00;
            let link_local = (ip.segments()[0] & 0xffc0) == 0xfe80;
            !(ip.is_loopback() || ip.is_unspecified() || unique_local || link_local)
        }
    }
}

/// Asks `public_url` for the nonce just stored in this registry. Returns the answer's `Date`
/// when there was an answer.
async fn check_reach(
    report: &mut Report,
    client: &reqwest::Client,
    public_url: &str,
    nonce: &str,
    stored: bool,
    timeout: Duration,
) -> Option<chrono::DateTime<chrono::Utc>> {
    let target = format!("{public_url}{NONCE_PATH}{nonce}");
    let answer = match client.get(&target).send().await {
        Ok(answer) => answer,
        Err(e) => {
            let detail = if e.is_timeout() {
                format!("{public_url} did not answer within {}s", timeout.as_secs())
            } else {
                format!("{public_url} does not answer ({})", docbridge_server::error_chain(&e))
            };
            report.fail(
                "reach",
                detail,
                "start docbridge (`systemctl start docbridge`), open the port in the firewall, and, behind a proxy, forward to docbridge's [http] listen address",
            );
            return None;
        }
    };
    let date = answer
        .headers()
        .get(reqwest::header::DATE)
        .and_then(|d| d.to_str().ok())
        .and_then(|d| httpdate::parse_http_date(d).ok())
        .map(chrono::DateTime::<chrono::Utc>::from);
    let status = answer.status();
    let body = answer.text().await.unwrap_or_default();
    if status.is_redirection() {
        report.fail(
            "reach",
            format!("{public_url} answers with a redirect ({status})"),
            "set public_url to the address the redirect leads to: Workfront does not follow redirects",
        );
    } else if status == reqwest::StatusCode::OK && body == "docbridge" && stored {
        report.ok("reach", format!("{public_url} reaches this docbridge"));
    } else if !stored {
        report.fail(
            "reach",
            format!("{public_url} answers ({status}), but doctor could not check it is this docbridge"),
            "see the database line",
        );
    } else {
        report.fail(
            "reach",
            format!("public_url reaches a server that is not this docbridge ({status})"),
            "point the DNS record or the proxy at this server's [http] listen address, or make that docbridge use this database ([database] url)",
        );
    }
    date
}

fn check_clock(report: &mut Report, public_url: &str, date: chrono::DateTime<chrono::Utc>) {
    // HTTP dates have whole seconds: a second of difference is the format, not the clock.
    let offset = (chrono::Utc::now() - date).num_seconds();
    judge_offset(report, &format!("the clock of {public_url}"), offset, "this machine and the one serving public_url");
}

/// On PostgreSQL, the database's clock: it stamps tokens and reservations that this machine
/// checks, and the other way round.
async fn check_database_clock(report: &mut Report, registry: &Registry, timeout: Duration) {
    match tokio::time::timeout(timeout, registry.database_time()).await {
        Ok(Ok(Some(time))) => {
            let offset = (chrono::Utc::now() - time).num_seconds();
            judge_offset(report, "the database server's clock", offset, "this machine and the database server");
        }
        // SQLite: the database's clock is this machine's.
        Ok(Ok(None)) => {}
        Ok(Err(e)) => report.warn("clock", format!("cannot read the database's clock: {e}"), "see the database line"),
        Err(_) => report.warn(
            "clock",
            format!("the database's clock did not answer within {}s", timeout.as_secs()),
            "see the database line",
        ),
    }
}

fn judge_offset(report: &mut Report, other: &str, offset: i64, machines: &str) {
    let fix = format!("synchronise the clocks of {machines} with NTP (systemd-timesyncd or chrony)");
    let detail = format!("this machine's clock and {other} differ by {}s", offset.abs());
    if offset.abs() > CLOCK_FAIL_SECS {
        report.fail("clock", format!("{detail}: signed links and tokens will be refused"), fix);
    } else if offset.abs() > CLOCK_WARN_SECS {
        report.warn("clock", detail, fix);
    } else {
        report.ok("clock", format!("this machine's clock is within {}s of {other}", offset.abs().max(1)));
    }
}

/// Records the chain the server presents without judging it: the handshake then completes
/// whatever is wrong with the certificate, and the certificate is judged afterwards, so that
/// doctor can say *what* is wrong (and still tell how long it is valid for).
#[derive(Debug)]
struct Recorder {
    algorithms: rustls::crypto::WebPkiSupportedAlgorithms,
    chain: Mutex<Vec<CertificateDer<'static>>>,
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let mut chain = vec![end_entity.clone().into_owned()];
        chain.extend(intermediates.iter().map(|c| c.clone().into_owned()));
        *self.chain.lock().unwrap_or_else(|e| e.into_inner()) = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

async fn check_tls_remote(report: &mut Report, host: &str, port: u16, timeout: Duration) {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let recorder =
        Arc::new(Recorder { algorithms: provider.signature_verification_algorithms, chain: Mutex::default() });
    let config = match rustls::ClientConfig::builder_with_provider(provider).with_safe_default_protocol_versions() {
        Ok(builder) => builder.dangerous().with_custom_certificate_verifier(recorder.clone()).with_no_client_auth(),
        Err(e) => {
            report.fail("tls", format!("cannot set up TLS: {e}"), "report this as a bug");
            return;
        }
    };
    let Ok(server_name) = ServerName::try_from(host.to_owned()) else {
        report.fail("tls", format!("{host} is not a name a certificate can be issued for"), "correct public_url");
        return;
    };
    let handshake = async {
        let tcp = tokio::net::TcpStream::connect((host, port)).await?;
        tokio_rustls::TlsConnector::from(Arc::new(config)).connect(server_name, tcp).await
    };
    let fix =
        "serve a certificate from a public CA (Let's Encrypt) for this name, with its full chain, over TLS 1.2 or 1.3";
    match tokio::time::timeout(timeout, handshake).await {
        Ok(Ok(_stream)) => {}
        Ok(Err(e)) => {
            report.fail(
                "tls",
                format!("TLS handshake with {host}:{port} failed ({e})"),
                format!("{fix}; if what answers there speaks plain HTTP, set [http] tls_cert and tls_key or put a TLS-terminating proxy in front"),
            );
            return;
        }
        Err(_) => {
            report.fail("tls", format!("TLS handshake with {host}:{port} took more than {}s", timeout.as_secs()), fix);
            return;
        }
    }
    let chain = std::mem::take(&mut *recorder.chain.lock().unwrap_or_else(|e| e.into_inner()));
    judge_certificate(report, "tls", host, &chain);
}

/// Trusted by this machine's roots, valid for `host`, and how long until it expires.
fn judge_certificate(report: &mut Report, check: &'static str, host: &str, chain: &[CertificateDer<'static>]) {
    let Some(leaf) = chain.first() else {
        report.fail(check, "no certificate presented", "configure a certificate");
        return;
    };
    let (names, not_after) = describe(leaf);
    let days_left = not_after.map(|t| (t - chrono::Utc::now()).num_days());
    let expiry = match (not_after, days_left) {
        (Some(t), Some(days)) => format!("expires {} (in {days} days)", t.format("%Y-%m-%d")),
        _ => "expiry unreadable".to_owned(),
    };
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if roots.is_empty() {
        report.fail(
            check,
            "this machine has no trusted root certificates to check against",
            "install the ca-certificates package",
        );
        return;
    }
    let verifier = match rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()
    {
        Ok(verifier) => verifier,
        Err(e) => {
            report.fail(check, format!("cannot check certificates: {e}"), "install the ca-certificates package");
            return;
        }
    };
    let Ok(server_name) = ServerName::try_from(host.to_owned()) else { return };
    let verified = verifier.verify_server_cert(leaf, &chain[1..], &server_name, &[], UnixTime::now());
    let renew = "renew the certificate (certbot renew, or let docbridge's ACME do it) and reload docbridge (SIGHUP) or the proxy";
    match verified {
        Ok(_) => match days_left {
            Some(days) if days < 0 => report.fail(check, format!("certificate for {host} {expiry}"), renew),
            Some(days) if days < EXPIRY_WARNING_DAYS => {
                report.warn(check, format!("certificate for {host} is trusted but {expiry}"), renew)
            }
            _ => report.ok(check, format!("certificate for {host} is trusted and {expiry}")),
        },
        Err(rustls::Error::InvalidCertificate(error)) => {
            let (detail, fix) = match error {
                CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
                    (format!("certificate for {host} has expired ({expiry})"), renew.to_owned())
                }
                CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => (
                    format!("certificate for {host} is not valid yet"),
                    "check this machine's clock (NTP), or wait until the certificate's start date".to_owned(),
                ),
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
                    format!("certificate is not valid for {host}: it names {}", names.join(", ")),
                    format!("get a certificate that names {host}, or set public_url to a name the certificate covers"),
                ),
                CertificateError::UnknownIssuer => (
                    format!(
                        "certificate for {host} is not trusted: its issuer is unknown (self-signed, or the intermediate certificates are missing); {expiry}"
                    ),
                    "serve a certificate from a public CA such as Let's Encrypt, with the full chain (fullchain.pem, not cert.pem)".to_owned(),
                ),
                // Whatever else stops the chain at a trusted root (webpki names what failed
                // on the last path it tried, such as a signature no root could check).
                other => (
                    format!(
                        "certificate for {host} is not trusted ({}); {expiry}",
                        rustls::Error::InvalidCertificate(other)
                    ),
                    "serve a certificate from a public CA such as Let's Encrypt, with the full chain (fullchain.pem, not cert.pem)".to_owned(),
                ),
            };
            report.fail(check, detail, fix);
        }
        Err(e) => report.fail(check, format!("certificate for {host} is not accepted: {e}"), renew),
    }
}

/// The names a certificate covers and its expiry date.
fn describe(der: &CertificateDer<'_>) -> (Vec<String>, Option<chrono::DateTime<chrono::Utc>>) {
    use x509_parser::extensions::GeneralName;
    let Ok((_, cert)) = x509_parser::parse_x509_certificate(der.as_ref()) else { return (Vec::new(), None) };
    let not_after = chrono::DateTime::from_timestamp(cert.validity().not_after.timestamp(), 0);
    let mut names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                GeneralName::IPAddress(bytes) => match bytes.len() {
                    4 => names.push(IpAddr::from(<[u8; 4]>::try_from(*bytes).unwrap_or_default()).to_string()),
                    16 => names.push(IpAddr::from(<[u8; 16]>::try_from(*bytes).unwrap_or_default()).to_string()),
                    _ => {}
                },
                _ => {}
            }
        }
    }
    if names.is_empty() {
        names.push("no name".to_owned());
    }
    (names, not_after)
}

/// `[http] listen`, and with automatic HTTPS `[http.acme] http_listen` (port 80): this docbridge
/// serves there, or the port is free for it; anything else there keeps docbridge from starting
/// (or, on port 80, from answering HTTP-01 and redirecting to HTTPS).
async fn check_port(
    report: &mut Report,
    config: &Config,
    client: &reqwest::Client,
    nonce: &str,
    stored: bool,
    timeout: Duration,
) {
    if let Ok(listen) = config.http.listen.parse::<SocketAddr>() {
        let tls = !config.http.tls_cert.trim().is_empty() || config.http.acme.enabled;
        let listener = Listener { check: "listen", setting: "[http] listen", address: listen, tls };
        let this = |answer: &reqwest::Response| stored && answer.status() == reqwest::StatusCode::OK;
        check_listener(report, &listener, client, nonce, timeout, this, "serving").await;
    }
    // Automatic HTTPS's plain-HTTP listener (port 80): the HTTP-01 answers and the redirect to
    // HTTPS. This docbridge's sends the probe on to the same path at public_url.
    if !config.http.acme.enabled {
        return;
    }
    let Ok(Some(listen)) = config.http.acme.http_listen() else { return };
    let listener = Listener { check: "http_listen", setting: "[http.acme] http_listen", address: listen, tls: false };
    let origin = url::Url::parse(&config.public_url).map(|url| url.origin().ascii_serialization()).unwrap_or_default();
    let expected = format!("{origin}{NONCE_PATH}{nonce}");
    let this = |answer: &reqwest::Response| {
        answer.status() == reqwest::StatusCode::PERMANENT_REDIRECT
            && answer.headers().get(reqwest::header::LOCATION).is_some_and(|to| to.as_bytes() == expected.as_bytes())
    };
    check_listener(report, &listener, client, nonce, timeout, this, "redirecting plain HTTP to public_url").await;
}

/// A listening address doctor checks: whether this docbridge serves there, another program
/// holds it, or docbridge could bind it.
struct Listener {
    check: &'static str,
    setting: &'static str,
    address: SocketAddr,
    tls: bool,
}

/// Checks one listener: connects to it and asks for the nonce, whose answer `is_this` tells
/// this docbridge from another program; with nothing listening, binds it to see whether
/// docbridge could.
async fn check_listener(
    report: &mut Report,
    listener: &Listener,
    client: &reqwest::Client,
    nonce: &str,
    timeout: Duration,
    is_this: impl Fn(&reqwest::Response) -> bool,
    doing: &str,
) {
    let Listener { check, setting, address: listen, tls } = *listener;
    let target = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), listen.port()),
        IpAddr::V6(ip) if ip.is_unspecified() => SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), listen.port()),
        _ => listen,
    };
    let other = format!(
        "stop the program on port {} (`ss -ltnp 'sport = :{}'` names it) or set {setting} to a free port",
        listen.port(),
        listen.port()
    );
    if listen.port() == 0 {
        report.ok(check, format!("{listen}: docbridge picks a free port at start"));
        return;
    }
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(target)).await {
        Ok(Ok(_)) => {
            let scheme = if tls { "https" } else { "http" };
            let probe = client.get(format!("{scheme}://{target}{NONCE_PATH}{nonce}")).send().await;
            match probe {
                Ok(answer) if is_this(&answer) => {
                    report.ok(check, format!("this docbridge is {doing} on {listen}"));
                }
                Ok(answer) => report.fail(
                    check,
                    format!("{listen} is in use by another program (it answers {}, not as this docbridge)", answer.status()),
                    other,
                ),
                Err(e) => report.fail(
                    check,
                    format!("{listen} is in use by another program (it accepts connections but {})", if e.is_timeout() { format!("does not answer HTTP within {}s", timeout.as_secs()) } else { docbridge_server::error_chain(&e) }),
                    other,
                ),
            }
        }
        _ => match tokio::net::TcpListener::bind(listen).await {
            Ok(_) => report.warn(
                check,
                format!("nothing listens on {listen}: docbridge is not running"),
                "start it (`systemctl start docbridge` or `docbridge serve`)",
            ),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                report.fail(check, format!("{listen} is in use by another program"), other);
            }
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => report.fail(
                check,
                format!("binding {listen} is not permitted ({e})"),
                "ports below 1024 need CAP_NET_BIND_SERVICE (the package's systemd unit grants it): run as that unit, or listen on a port above 1023 behind a proxy",
            ),
            Err(e) => report.fail(
                check,
                format!("cannot bind {listen} ({e})"),
                format!("set {setting} to an address of this machine"),
            ),
        },
    }
}
