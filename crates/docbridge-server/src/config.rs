//! Configuration: embedded defaults, then a file, then `DOCBRIDGE_*` environment variables,
//! then command-line flags. Unknown keys are errors, so a typo never goes unnoticed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use docbridge_documents::{ConflictPolicy, LibrarySettings};
use serde::Deserialize;

/// `DOCBRIDGE_*` variables that are read before the configuration exists (logging, and where
/// the configuration file and the data directory are), not keys.
const NOT_CONFIG_KEYS: &[&str] = &["DOCBRIDGE_LOG", "DOCBRIDGE_LOG_FORMAT", "DOCBRIDGE_CONFIG", "DOCBRIDGE_DATA_DIR"];

/// Secrets that may also come from a file named by `<VARIABLE>_FILE` (systemd credentials,
/// container secrets), so that they need not sit in the environment or the configuration file.
/// A fixed list rather than any `*_FILE` variable: keys such as a future `key_file` would
/// otherwise be ambiguous.
const SECRET_FILE_VARIABLES: &[&str] = &[
    "DOCBRIDGE_ADMIN__TOKEN",
    "DOCBRIDGE_STORAGE__S3__SECRET_ACCESS_KEY",
    "DOCBRIDGE_STORAGE__WEBDAV__PASSWORD",
    "DOCBRIDGE_STORAGE__AZBLOB__ACCOUNT_KEY",
    "DOCBRIDGE_DATABASE__URL",
    "DOCBRIDGE_METRICS__TOKEN",
];

/// Every storage kind an integration (and `[storage] kind`) may name: a folder, or a store
/// configured in its `[storage.KIND]` table.
pub const STORAGE_KINDS: &[&str] = &["fs", "s3", "webdav", "sftp", "azblob", "gcs"];

/// The kinds whose libraries are a folder or prefix in a store reached over the network
/// (`docbridge_storage::RemoteStorage`).
pub const REMOTE_KINDS: &[&str] = &["webdav", "sftp", "azblob", "gcs"];

/// The embedded defaults: the reference for every key.
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.toml");

/// What stops Workfront Cloud from calling a provider at `public_url`, one plain sentence each:
/// it calls only public `https://` addresses. Empty when nothing is wrong with the URL itself
/// (whether it resolves and reaches this process is another check).
pub fn public_url_warnings(public_url: &str) -> Vec<String> {
    let Ok(url) = url::Url::parse(public_url) else {
        return vec![format!("public_url {public_url:?} is not a URL: set it to the https:// address Workfront calls")];
    };
    let mut warnings = Vec::new();
    let loopback = match url.host() {
        Some(url::Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        Some(url::Host::Ipv4(ip)) => ip.is_loopback() || ip.is_unspecified(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback() || ip.is_unspecified(),
        None => true,
    };
    if loopback {
        warnings.push(format!(
            "public_url {public_url} is a loopback address that Workfront Cloud cannot reach: set public_url to this server's public https:// address"
        ));
    }
    if url.scheme() == "http" {
        warnings.push(format!(
            "public_url {public_url} is plain http, which Workfront does not call: serve HTTPS ([http] tls_cert and tls_key) or put a TLS-terminating proxy in front and set public_url to its https:// address"
        ));
    }
    warnings
}

/// The longest period a setting gives: a thousand years. Larger numbers of seconds or days are
/// "for ever" to whoever typed them; clamped rather than refused, and short enough that adding it
/// to a date never overflows (chrono panics beyond its range, and beyond i64 milliseconds).
const FOREVER_SECS: i64 = 1000 * 365 * 86_400;

/// `secs` seconds as a chrono duration, at most [`FOREVER_SECS`].
fn clamped_seconds(secs: u64) -> chrono::Duration {
    chrono::Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX).min(FOREVER_SECS))
}

/// Why the server cannot listen on `listen` (the setting `key`, e.g. `[http] listen`), and what
/// to do about it: one line.
pub fn listen_error(key: &str, listen: &str, error: &std::io::Error) -> String {
    let port = listen.parse::<SocketAddr>().map(|a| a.port()).unwrap_or_default();
    match error.kind() {
        std::io::ErrorKind::AddrInUse => format!(
            "cannot listen on {listen}: another program already uses that port (see `ss -ltnp 'sport = :{port}'`): stop it, or set {key} to another address"
        ),
        std::io::ErrorKind::PermissionDenied if port < 1024 => format!(
            "cannot listen on {listen}: ports below 1024 need root or the CAP_NET_BIND_SERVICE capability (systemd: AmbientCapabilities=CAP_NET_BIND_SERVICE; by hand: setcap cap_net_bind_service=+ep on the docbridge binary; docs/deploy.md)"
        ),
        _ => format!("cannot listen on {listen}: {error}"),
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub public_url: String,
    pub publisher: String,
    pub http: HttpConfig,
    pub database: DatabaseConfig,
    pub storage: StorageConfig,
    pub documents: DocumentsConfig,
    pub links: LinksConfig,
    pub admin: AdminConfig,
    pub oauth: OAuthConfig,
    pub metrics: MetricsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: String,
    pub request_timeout_secs: u64,
    /// Seconds a request's head (request line and headers) may take to arrive.
    pub header_read_timeout_secs: u64,
    /// Seconds a connection with no request in progress stays open.
    pub idle_timeout_secs: u64,
    /// The slowest upload accepted, averaged over `upload_rate_window_secs`; 0 accepts any.
    pub min_upload_bytes_per_sec: u64,
    pub upload_rate_window_secs: u64,
    pub shutdown_grace_secs: u64,
    /// Threads that accept and serve connections, each with a runtime of its own; 0 is one per
    /// core, or the shared runtime with the registry on PostgreSQL (`threads.rs`).
    pub threads: usize,
    pub max_auth_failures_per_minute: u32,
    /// Addresses and networks of the proxies whose forwarding header names the client.
    #[serde(deserialize_with = "string_list")]
    pub trusted_proxies: Vec<String>,
    /// The header those proxies write: `x-forwarded-for` or `forwarded`.
    pub forwarded_header: crate::limits::ForwardedHeader,
    /// PEM certificate chain for HTTPS; empty serves plain HTTP (C26).
    pub tls_cert: String,
    /// PEM private key of `tls_cert`.
    pub tls_key: String,
    /// Automatic HTTPS (`[http.acme]`): its own struct, in `acme.rs`.
    pub acme: crate::acme::AcmeConfig,
}

impl HttpConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let at_least_one = |key, value: u64| {
            if value == 0 {
                // Zero would close every connection before its first request could arrive.
                return Err(ConfigError::Invalid { key, reason: "must be at least 1".into() });
            }
            Ok(())
        };
        at_least_one("http.header_read_timeout_secs", self.header_read_timeout_secs)?;
        at_least_one("http.idle_timeout_secs", self.idle_timeout_secs)?;
        at_least_one("http.upload_rate_window_secs", self.upload_rate_window_secs)
    }

    /// The limits a running process takes again on SIGHUP; `[documents] max_concurrent_uploads`
    /// is among them.
    pub fn live_limits(&self, documents: &DocumentsConfig) -> crate::limits::LiveLimits {
        crate::limits::LiveLimits {
            max_concurrent_uploads: documents.max_concurrent_uploads,
            max_auth_failures_per_minute: self.max_auth_failures_per_minute,
            min_upload_rate: self.timeouts().min_upload_rate,
        }
    }

    /// The connection and upload timeouts these settings ask for.
    pub fn timeouts(&self) -> crate::Timeouts {
        use std::time::Duration;
        crate::Timeouts {
            header_read: Duration::from_secs(self.header_read_timeout_secs),
            idle: Duration::from_secs(self.idle_timeout_secs),
            min_upload_rate: (self.min_upload_bytes_per_sec > 0).then(|| crate::MinRate {
                bytes_per_sec: self.min_upload_bytes_per_sec,
                window: Duration::from_secs(self.upload_rate_window_secs),
            }),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    /// One of [`STORAGE_KINDS`]: what the default integration uses (C24).
    pub kind: String,
    pub root: String,
    /// When set, every folder library must be inside this folder (`roots.rs`).
    pub roots_under: String,
    /// Seconds one call to a remote store (each chunk of a read or write) may take.
    pub timeout_secs: u64,
    pub s3: S3Config,
    pub webdav: WebdavConfig,
    pub sftp: SftpConfig,
    pub azblob: AzblobConfig,
    pub gcs: GcsConfig,
}

/// The SSH server of `sftp` libraries (`[storage.sftp]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpConfig {
    pub endpoint: String,
    pub username: String,
    pub key_file: String,
    pub known_hosts: String,
    /// Refused when set (sign-in is by key); its `Debug` is redacted all the same.
    #[serde(deserialize_with = "secret_string")]
    pub password: secrecy::SecretString,
}

/// The WebDAV server of `webdav` libraries (`[storage.webdav]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebdavConfig {
    pub endpoint: String,
    pub username: String,
    /// Its `Debug` is redacted.
    #[serde(deserialize_with = "secret_string")]
    pub password: secrecy::SecretString,
}

/// The Azure Blob container of `azblob` libraries (`[storage.azblob]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzblobConfig {
    pub endpoint: String,
    pub container: String,
    pub account_name: String,
    /// Its `Debug` is redacted.
    #[serde(deserialize_with = "secret_string")]
    pub account_key: secrecy::SecretString,
}

/// The Google Cloud Storage bucket of `gcs` libraries (`[storage.gcs]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GcsConfig {
    /// Empty: Google's.
    pub endpoint: String,
    pub bucket: String,
    /// A service account's JSON key; empty only for an emulator, which takes no credentials.
    pub credential_file: String,
}

/// The bucket of `s3` libraries (`[storage.s3]`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Config {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub prefix: String,
    pub access_key_id: String,
    /// Its `Debug` is redacted, so logging the configuration never shows it.
    #[serde(deserialize_with = "secret_string")]
    pub secret_access_key: secrecy::SecretString,
    pub allow_http: bool,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DocumentsConfig {
    pub max_upload_bytes: u64,
    pub conflict_policy: String,
    pub reservation_ttl_secs: u64,
    pub trash_retention_days: u64,
    pub rescan_interval_secs: u64,
    pub cache_dir: String,
    pub max_concurrent_uploads: usize,
    /// Thumbnails rendered at once in this process; 0: one per core.
    pub max_concurrent_thumbnails: usize,
    /// Seconds a `/thumbnail` request waits for a render slot before 503 with Retry-After.
    pub thumbnail_wait_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksConfig {
    pub ttl_secs: u64,
}

/// The admin JSON API (`/admin/api`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// The bearer token the API requires; empty disables the API. Its `Debug` is redacted, so
    /// logging the configuration never shows it.
    #[serde(deserialize_with = "secret_string")]
    pub token: secrecy::SecretString,
}

/// A list, or (from a `DOCBRIDGE_*` variable) one string of comma-separated items.
pub(crate) fn string_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        Many(Vec<String>),
        One(String),
    }
    Ok(match OneOrMany::deserialize(deserializer)? {
        OneOrMany::Many(items) => items,
        OneOrMany::One(text) => {
            text.split(',').map(str::trim).filter(|item| !item.is_empty()).map(str::to_owned).collect()
        }
    })
}

impl HttpConfig {
    /// `trusted_proxies` and `forwarded_header`, parsed.
    pub fn trusted_proxies(&self) -> Result<crate::limits::TrustedProxies, ConfigError> {
        crate::limits::TrustedProxies::parse(&self.trusted_proxies, self.forwarded_header)
            .map_err(|reason| ConfigError::Invalid { key: "http.trusted_proxies", reason })
    }
}

fn secret_string<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<secrecy::SecretString, D::Error> {
    Ok(secrecy::SecretString::from(String::deserialize(deserializer)?))
}

/// The OAuth2 authorization server (`[oauth]`, C4).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OAuthConfig {
    pub code_ttl_secs: u64,
    pub access_token_ttl_secs: u64,
    pub refresh_token_ttl_secs: u64,
    pub rotate_refresh_tokens: bool,
    pub login_session_ttl_secs: u64,
    pub max_login_failures: u32,
    pub max_login_failures_per_address: u32,
    pub login_failure_window_secs: u64,
    pub login_backoff_max_secs: u64,
}

impl OAuthConfig {
    fn validate(&self) -> Result<(), ConfigError> {
        let max = docbridge_auth::MAX_CODE_TTL.num_seconds().unsigned_abs();
        if self.code_ttl_secs > max {
            return Err(ConfigError::Invalid {
                key: "oauth.code_ttl_secs",
                reason: format!("{} is more than {max} (10 minutes, RFC 6749 §4.1.2)", self.code_ttl_secs),
            });
        }
        if self.max_login_failures == 0 {
            return Err(ConfigError::Invalid { key: "oauth.max_login_failures", reason: "must be at least 1".into() });
        }
        if self.max_login_failures_per_address == 0 {
            return Err(ConfigError::Invalid {
                key: "oauth.max_login_failures_per_address",
                reason: "must be at least 1".into(),
            });
        }
        Ok(())
    }

    /// The settings the authorization server runs with (see `docbridge_server::oauth::configure`).
    pub fn settings(&self) -> docbridge_auth::OAuthSettings {
        let secs = clamped_seconds;
        docbridge_auth::OAuthSettings {
            code_ttl: secs(self.code_ttl_secs),
            access_token_ttl: secs(self.access_token_ttl_secs),
            refresh_token_ttl: secs(self.refresh_token_ttl_secs),
            rotate_refresh_tokens: self.rotate_refresh_tokens,
            login_session_ttl: secs(self.login_session_ttl_secs),
            max_login_failures: self.max_login_failures,
            max_login_failures_per_address: self.max_login_failures_per_address,
            login_failure_window: std::time::Duration::from_secs(self.login_failure_window_secs),
            login_backoff_max: std::time::Duration::from_secs(self.login_backoff_max_secs),
        }
    }
}

/// Where `/metrics` is served (`[metrics]`): not on the public listener unless a token says so.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsConfig {
    /// A listener of its own that serves only `/metrics`, without credentials (so: loopback or
    /// a private network); empty: none.
    pub listen: String,
    /// A bearer token that opens `/metrics` on the public listener too; empty: not served there.
    /// Its `Debug` is redacted.
    #[serde(deserialize_with = "secret_string")]
    pub token: secrecy::SecretString,
}

impl MetricsConfig {
    /// The metrics listener's address, `None` when `listen` is empty.
    pub fn listen(&self) -> Result<Option<SocketAddr>, ConfigError> {
        if self.listen.trim().is_empty() {
            return Ok(None);
        }
        self.listen.trim().parse().map(Some).map_err(|e| ConfigError::Invalid {
            key: "metrics.listen",
            reason: format!("{:?} is not an address:port ({e}); empty turns the listener off", self.listen),
        })
    }
}

/// The server's log (`[log]`). `DOCBRIDGE_LOG` and `DOCBRIDGE_LOG_FORMAT`, when set, win.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter: a level (`info`) or directives (`info,docbridge_documents=debug`).
    pub level: String,
    pub format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event (coloured only on a terminal).
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl LogConfig {
    /// The filter and format in effect: `DOCBRIDGE_LOG` and `DOCBRIDGE_LOG_FORMAT` from `env`
    /// when set (so that a one-off `DOCBRIDGE_LOG=debug docbridge` needs no edit), else the file's.
    pub fn effective(&self, env: &HashMap<String, String>) -> Result<(String, LogFormat), ConfigError> {
        let level = match env.get("DOCBRIDGE_LOG") {
            Some(level) => {
                check_log_filter("DOCBRIDGE_LOG", level)?;
                level.clone()
            }
            None => self.level.clone(),
        };
        let format = match env.get("DOCBRIDGE_LOG_FORMAT").map(String::as_str) {
            None => self.format,
            Some("json") => LogFormat::Json,
            Some("text") => LogFormat::Text,
            Some(other) => {
                return Err(ConfigError::Invalid {
                    key: "DOCBRIDGE_LOG_FORMAT",
                    reason: format!("{other:?} is not one of text, json"),
                });
            }
        };
        Ok((level, format))
    }
}

/// Refuses a filter that tracing would not parse, rather than logging less than asked.
fn check_log_filter(key: &'static str, filter: &str) -> Result<(), ConfigError> {
    tracing_subscriber::EnvFilter::builder()
        .parse(filter)
        .map(drop)
        .map_err(|e| ConfigError::Invalid { key, reason: format!("{filter:?} is not a log filter ({e})") })
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

/// Replaces each `<SECRET>_FILE` variable of [`SECRET_FILE_VARIABLES`] with `<SECRET>` holding
/// the file's content (less one trailing line break, which editors and `echo` add).
fn read_secret_files(env: &mut HashMap<String, String>) -> Result<(), ConfigError> {
    for &variable in SECRET_FILE_VARIABLES {
        let file_variable = format!("{variable}_FILE");
        let Some(path) = env.remove(&file_variable) else { continue };
        let key = variable_key(variable);
        if env.contains_key(variable) {
            return Err(ConfigError::Invalid {
                key,
                reason: format!("both {variable} and {file_variable} are set: keep one"),
            });
        }
        let mut secret = std::fs::read_to_string(&path)
            .map_err(|e| ConfigError::Invalid { key, reason: format!("cannot read {file_variable}={path}: {e}") })?;
        if secret.ends_with('\n') {
            secret.pop();
            if secret.ends_with('\r') {
                secret.pop();
            }
        }
        env.insert(variable.to_owned(), secret);
    }
    Ok(())
}

/// The configuration key a `DOCBRIDGE_*` secret variable sets, for error messages.
fn variable_key(variable: &str) -> &'static str {
    match variable {
        "DOCBRIDGE_ADMIN__TOKEN" => "admin.token",
        "DOCBRIDGE_STORAGE__S3__SECRET_ACCESS_KEY" => "storage.s3.secret_access_key",
        "DOCBRIDGE_METRICS__TOKEN" => "metrics.token",
        "DOCBRIDGE_STORAGE__WEBDAV__PASSWORD" => "storage.webdav.password",
        "DOCBRIDGE_STORAGE__AZBLOB__ACCOUNT_KEY" => "storage.azblob.account_key",
        _ => "database.url",
    }
}

/// Command-line values that override everything else.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub listen: Option<String>,
    pub public_url: Option<String>,
}

impl Config {
    /// Loads the layers. `env` is the process environment, passed in so that tests never touch
    /// the real one; only `DOCBRIDGE_*` variables are read.
    pub fn load(
        file: Option<&Path>,
        env: &HashMap<String, String>,
        overrides: &Overrides,
    ) -> Result<Config, ConfigError> {
        let mut builder =
            config::Config::builder().add_source(config::File::from_str(DEFAULT_CONFIG, config::FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml).required(true));
        }
        // `DOCBRIDGE_TEST_*` belong to the test suites (which servers they may use), not to us.
        let mut ours: HashMap<String, String> = env
            .iter()
            .filter(|(k, _)| {
                k.starts_with("DOCBRIDGE_")
                    && !k.starts_with("DOCBRIDGE_TEST_")
                    && !NOT_CONFIG_KEYS.contains(&k.as_str())
            })
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        read_secret_files(&mut ours)?;
        builder = builder.add_source(
            config::Environment::with_prefix("DOCBRIDGE")
                .prefix_separator("_")
                .separator("__")
                .try_parsing(true)
                .source(Some(ours.into_iter().collect())),
        );
        if let Some(listen) = &overrides.listen {
            builder = builder.set_override("http.listen", listen.clone())?;
        }
        if let Some(url) = &overrides.public_url {
            builder = builder.set_override("public_url", url.clone())?;
        }
        let config: Config = builder.build()?.try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    fn validate(&self) -> Result<(), ConfigError> {
        self.http.listen.parse::<SocketAddr>().map_err(|e| ConfigError::Invalid {
            key: "http.listen",
            reason: format!("{:?} is not an address:port ({e})", self.http.listen),
        })?;
        if !self.public_url.is_empty() {
            let url = url::Url::parse(&self.public_url).map_err(|e| ConfigError::Invalid {
                key: "public_url",
                reason: format!("{:?} is not an absolute URL ({e})", self.public_url),
            })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::Invalid { key: "public_url", reason: "must be an http or https URL".into() });
            }
        }
        self.conflict_policy()?;
        self.http.trusted_proxies()?;
        self.oauth.validate()?;
        self.http.validate()?;
        self.http.acme.validate(&self.public_url, &self.http)?;
        check_log_filter("log.level", &self.log.level)?;
        if let Some(metrics) = self.metrics.listen()?
            && self.http.listen.parse::<SocketAddr>().is_ok_and(|http| http == metrics && http.port() != 0)
        {
            return Err(ConfigError::Invalid {
                key: "metrics.listen",
                reason: format!("{metrics} is http.listen too: give /metrics another port"),
            });
        }
        match self.storage.kind.as_str() {
            "fs" => {}
            "s3" if self.storage.s3.bucket.trim().is_empty() => {
                return Err(ConfigError::Invalid {
                    key: "storage.s3.bucket",
                    reason: "is required when storage.kind is \"s3\"".into(),
                });
            }
            "s3" => {}
            kind if REMOTE_KINDS.contains(&kind) => {
                if self.remote(kind).is_none() {
                    let (key, what) = match kind {
                        "webdav" => ("storage.webdav.endpoint", "an endpoint"),
                        "sftp" => ("storage.sftp.endpoint", "an endpoint"),
                        "gcs" => ("storage.gcs.bucket", "a bucket"),
                        _ => ("storage.azblob.container", "a container"),
                    };
                    return Err(ConfigError::Invalid {
                        key,
                        reason: format!("is required when storage.kind is {kind:?} (it needs {what})"),
                    });
                }
            }
            other => {
                return Err(ConfigError::Invalid {
                    key: "storage.kind",
                    reason: format!("{other:?} is not one of {}", STORAGE_KINDS.join(", ")),
                });
            }
        }
        for (key, endpoint) in [
            ("storage.webdav.endpoint", &self.storage.webdav.endpoint),
            ("storage.azblob.endpoint", &self.storage.azblob.endpoint),
            ("storage.gcs.endpoint", &self.storage.gcs.endpoint),
        ] {
            if !endpoint.is_empty()
                && url::Url::parse(endpoint).map_or(true, |u| !matches!(u.scheme(), "http" | "https"))
            {
                return Err(ConfigError::Invalid { key, reason: format!("{endpoint:?} is not an http or https URL") });
            }
        }
        self.validate_sftp()?;
        let gcs = &self.storage.gcs;
        if !gcs.bucket.trim().is_empty() && gcs.endpoint.is_empty() && gcs.credential_file.trim().is_empty() {
            // Without a key the adapter would call Google anonymously: reads of a public
            // bucket at best, every write refused.
            return Err(ConfigError::Invalid {
                key: "storage.gcs.credential_file",
                reason: "is required for Google Cloud Storage (a service account's JSON key file); only an emulator's endpoint goes without".into(),
            });
        }
        if self.storage.timeout_secs == 0 {
            return Err(ConfigError::Invalid {
                key: "storage.timeout_secs",
                reason: "must be at least 1: a store that hangs would otherwise hold requests forever".into(),
            });
        }
        if !self.storage.s3.endpoint.is_empty() {
            let url = url::Url::parse(&self.storage.s3.endpoint).map_err(|e| ConfigError::Invalid {
                key: "storage.s3.endpoint",
                reason: format!("{:?} is not an absolute URL ({e})", self.storage.s3.endpoint),
            })?;
            match url.scheme() {
                "https" => {}
                "http" if self.storage.s3.allow_http => {}
                "http" => {
                    return Err(ConfigError::Invalid {
                        key: "storage.s3.endpoint",
                        reason: "is http:// but storage.s3.allow_http is false".into(),
                    });
                }
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "storage.s3.endpoint",
                        reason: "must be an http or https URL".into(),
                    });
                }
            }
        }
        Ok(())
    }

    pub fn conflict_policy(&self) -> Result<ConflictPolicy, ConfigError> {
        match self.documents.conflict_policy.as_str() {
            "rename" => Ok(ConflictPolicy::Rename),
            "reject" => Ok(ConflictPolicy::Reject),
            "replace" => Ok(ConflictPolicy::Replace),
            other => Err(ConfigError::Invalid {
                key: "documents.conflict_policy",
                reason: format!("{other:?} is not one of rename, reject, replace"),
            }),
        }
    }

    pub fn database_url(&self, data_dir: &Path) -> String {
        if self.database.url.is_empty() {
            format!("sqlite://{}?mode=rwc", data_dir.join("docbridge.db").display())
        } else {
            self.database.url.clone()
        }
    }

    /// Where folder libraries may be (issue #13 finding 10).
    pub fn root_policy(&self, data_dir: &Path) -> crate::roots::RootPolicy {
        crate::roots::RootPolicy::new(data_dir, &self.storage_root(data_dir), &self.storage.roots_under)
    }

    pub fn storage_root(&self, data_dir: &Path) -> PathBuf {
        if self.storage.root.is_empty() { data_dir.join("documents") } else { PathBuf::from(&self.storage.root) }
    }

    /// The default integration's library prefix when `storage.kind` is `s3`.
    pub fn s3_root(&self) -> String {
        let root = self.storage.root.trim_matches('/');
        if root.is_empty() { "documents".to_owned() } else { root.to_owned() }
    }

    /// The default integration's root (folder or prefix) when `storage.kind` is a remote kind.
    pub fn remote_root(&self) -> String {
        self.s3_root()
    }

    /// `[storage.sftp]`'s rules: an `ssh://` endpoint, a key file and a known_hosts file, and no
    /// password (the system's ssh client cannot be given one without a terminal).
    fn validate_sftp(&self) -> Result<(), ConfigError> {
        use secrecy::ExposeSecret;
        let sftp = &self.storage.sftp;
        if !sftp.password.expose_secret().is_empty() {
            return Err(ConfigError::Invalid {
                key: "storage.sftp.password",
                reason: "password sign-in is not supported: docbridge signs in to SFTP with a key file (set storage.sftp.key_file, and leave password empty)".into(),
            });
        }
        if sftp.endpoint.trim().is_empty() {
            return Ok(());
        }
        if !sftp.endpoint.starts_with("ssh://") {
            return Err(ConfigError::Invalid {
                key: "storage.sftp.endpoint",
                reason: format!("{:?} is not ssh://HOST[:PORT][/FOLDER]", sftp.endpoint),
            });
        }
        for (key, value, what) in [
            ("storage.sftp.key_file", &sftp.key_file, "the private key file to sign in with"),
            ("storage.sftp.known_hosts", &sftp.known_hosts, "the known_hosts file that holds the server's host key"),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError::Invalid { key, reason: format!("is required with an sftp endpoint: {what}") });
            }
        }
        Ok(())
    }

    /// How long one call to a remote store may take (`[storage] timeout_secs`).
    pub fn storage_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.storage.timeout_secs.max(1))
    }

    /// The adapter's view of `[storage.KIND]` for a remote kind ([`REMOTE_KINDS`]); `None` when
    /// that store is not configured (no endpoint, container or bucket) or the kind is unknown.
    pub fn remote(&self, kind: &str) -> Option<docbridge_storage::RemoteConfig> {
        use docbridge_storage::{RemoteConfig, Secret};
        use secrecy::ExposeSecret;
        let storage = &self.storage;
        match kind {
            "webdav" if !storage.webdav.endpoint.trim().is_empty() => Some(RemoteConfig::Webdav {
                endpoint: storage.webdav.endpoint.clone(),
                username: storage.webdav.username.clone(),
                password: Secret::new(storage.webdav.password.expose_secret()),
            }),
            "sftp" if !storage.sftp.endpoint.trim().is_empty() => Some(RemoteConfig::Sftp {
                endpoint: storage.sftp.endpoint.clone(),
                username: storage.sftp.username.clone(),
                key_file: storage.sftp.key_file.clone(),
                known_hosts: storage.sftp.known_hosts.clone(),
            }),
            "azblob" if !storage.azblob.container.trim().is_empty() => Some(RemoteConfig::Azblob {
                endpoint: if storage.azblob.endpoint.is_empty() {
                    format!("https://{}.blob.core.windows.net", storage.azblob.account_name)
                } else {
                    storage.azblob.endpoint.clone()
                },
                container: storage.azblob.container.clone(),
                account_name: storage.azblob.account_name.clone(),
                account_key: Secret::new(storage.azblob.account_key.expose_secret()),
            }),
            "gcs" if !storage.gcs.bucket.trim().is_empty() => Some(RemoteConfig::Gcs {
                endpoint: storage.gcs.endpoint.clone(),
                bucket: storage.gcs.bucket.clone(),
                credential_file: storage.gcs.credential_file.clone(),
            }),
            _ => None,
        }
    }

    /// The adapter's view of `[storage.s3]`; `None` when no bucket is configured.
    pub fn s3(&self) -> Option<docbridge_storage::S3Config> {
        use secrecy::ExposeSecret;
        let s3 = &self.storage.s3;
        (!s3.bucket.trim().is_empty()).then(|| docbridge_storage::S3Config {
            endpoint: s3.endpoint.clone(),
            region: s3.region.clone(),
            bucket: s3.bucket.clone(),
            prefix: s3.prefix.clone(),
            access_key_id: s3.access_key_id.clone(),
            secret_access_key: docbridge_storage::S3Secret::new(s3.secret_access_key.expose_secret()),
            allow_http: s3.allow_http,
        })
    }

    pub fn library_settings(&self, data_dir: &Path) -> LibrarySettings {
        let cache_dir = if self.documents.cache_dir.is_empty() {
            data_dir.join("cache")
        } else {
            PathBuf::from(&self.documents.cache_dir)
        };
        LibrarySettings {
            max_upload_bytes: self.documents.max_upload_bytes,
            conflict_policy: self.conflict_policy().unwrap_or_default(),
            reservation_ttl: clamped_seconds(self.documents.reservation_ttl_secs),
            trash_retention: clamped_seconds(self.documents.trash_retention_days.saturating_mul(86_400)),
            cache_dir,
            thumbnails: docbridge_documents::ThumbnailLimits::new(
                self.documents.max_concurrent_thumbnails,
                std::time::Duration::from_secs(self.documents.thumbnail_wait_secs),
                docbridge_documents::thumbnail::RENDER_DEADLINE,
            ),
            ..LibrarySettings::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn defaults_load() {
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:8080");
        assert_eq!(config.documents.max_upload_bytes, 5 * 1024 * 1024 * 1024);
        assert_eq!(config.conflict_policy().unwrap(), ConflictPolicy::Rename);
    }

    #[test]
    fn enormous_periods_mean_for_ever_and_never_panic() {
        // Found by fuzz_replay's generated configuration files: chrono panicked on these.
        for value in ["18446744073709551615", "9223372036854775807", "10000000000000000"] {
            let e = env(&[
                ("DOCBRIDGE_DOCUMENTS__RESERVATION_TTL_SECS", value),
                ("DOCBRIDGE_DOCUMENTS__TRASH_RETENTION_DAYS", value),
                ("DOCBRIDGE_OAUTH__ACCESS_TOKEN_TTL_SECS", value),
            ]);
            let config = Config::load(None, &e, &Overrides::default()).unwrap();
            let library = config.library_settings(Path::new("/data"));
            let forever = chrono::Duration::seconds(FOREVER_SECS);
            assert_eq!((library.reservation_ttl, library.trash_retention), (forever, forever), "{value}");
            assert_eq!(config.oauth.settings().access_token_ttl, forever, "{value}");
            // And it can be added to a date, as expiry times are computed.
            assert!(chrono::Utc::now().checked_add_signed(forever).is_some());
        }
        let e = env(&[("DOCBRIDGE_DOCUMENTS__TRASH_RETENTION_DAYS", "30")]);
        let config = Config::load(None, &e, &Overrides::default()).unwrap();
        assert_eq!(config.library_settings(Path::new("/data")).trash_retention, chrono::Duration::days(30));
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "publisher = \"Acme\"\n[http]\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let e = env(&[
            ("DOCBRIDGE_HTTP__LISTEN", "127.0.0.1:9100"),
            ("DOCBRIDGE_DOCUMENTS__CONFLICT_POLICY", "reject"),
            ("OTHER", "x"),
            ("DOCBRIDGE_LOG", "debug"),
            ("DOCBRIDGE_LOG_FORMAT", "json"),
        ]);
        let config = Config::load(Some(&file), &e, &Overrides::default()).unwrap();
        assert_eq!(config.publisher, "Acme");
        assert_eq!(config.http.listen, "127.0.0.1:9100");
        assert_eq!(config.conflict_policy().unwrap(), ConflictPolicy::Reject);
        let config =
            Config::load(Some(&file), &e, &Overrides { listen: Some("127.0.0.1:9200".into()), public_url: None })
                .unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:9200");
    }

    #[test]
    fn admin_token_is_read_but_never_printed() {
        use secrecy::ExposeSecret;
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).unwrap();
        assert!(config.admin.token.expose_secret().is_empty());
        let e = env(&[("DOCBRIDGE_ADMIN__TOKEN", "s3cret-token-value")]);
        let config = Config::load(None, &e, &Overrides::default()).unwrap();
        assert_eq!(config.admin.token.expose_secret(), "s3cret-token-value");
        assert!(!format!("{config:?}").contains("s3cret-token-value"));
    }

    #[test]
    fn sftp_needs_a_key_and_known_hosts_and_refuses_a_password() {
        let base = [
            ("DOCBRIDGE_STORAGE__KIND", "sftp"),
            ("DOCBRIDGE_STORAGE__SFTP__ENDPOINT", "ssh://nas.example:2222/srv/docs"),
            ("DOCBRIDGE_STORAGE__SFTP__USERNAME", "docbridge"),
            ("DOCBRIDGE_STORAGE__SFTP__KEY_FILE", "/etc/docbridge/id_ed25519"),
            ("DOCBRIDGE_STORAGE__SFTP__KNOWN_HOSTS", "/etc/docbridge/known_hosts"),
        ];
        let config = Config::load(None, &env(&base), &Overrides::default()).unwrap();
        match config.remote("sftp") {
            Some(docbridge_storage::RemoteConfig::Sftp { endpoint, known_hosts, .. }) => {
                assert_eq!(endpoint, "ssh://nas.example:2222/srv/docs");
                assert_eq!(known_hosts, "/etc/docbridge/known_hosts");
            }
            other => panic!("sftp store: {other:?}"),
        }
        let refused = |extra: &[(&'static str, &'static str)], key: &str| {
            let mut pairs = base.to_vec();
            pairs.retain(|(k, _)| !extra.iter().any(|(e, _)| e == k));
            pairs.extend_from_slice(extra);
            let err = Config::load(None, &env(&pairs), &Overrides::default()).unwrap_err().to_string();
            assert!(err.contains(key), "{extra:?}: {err}");
            err
        };
        let err = refused(&[("DOCBRIDGE_STORAGE__SFTP__PASSWORD", "hunter2")], "storage.sftp.password");
        assert!(err.contains("key file") && !err.contains("hunter2"), "{err}");
        refused(&[("DOCBRIDGE_STORAGE__SFTP__KNOWN_HOSTS", "")], "storage.sftp.known_hosts");
        refused(&[("DOCBRIDGE_STORAGE__SFTP__KEY_FILE", "")], "storage.sftp.key_file");
        refused(&[("DOCBRIDGE_STORAGE__SFTP__ENDPOINT", "sftp://nas.example")], "storage.sftp.endpoint");
        refused(&[("DOCBRIDGE_STORAGE__SFTP__ENDPOINT", "")], "storage.sftp.endpoint");
        refused(&[("DOCBRIDGE_STORAGE__TIMEOUT_SECS", "0")], "storage.timeout_secs");
    }

    #[test]
    fn gcs_needs_a_bucket_and_a_key_unless_an_emulator() {
        let google = [
            ("DOCBRIDGE_STORAGE__KIND", "gcs"),
            ("DOCBRIDGE_STORAGE__GCS__BUCKET", "docs"),
            ("DOCBRIDGE_STORAGE__GCS__CREDENTIAL_FILE", "/etc/docbridge/gcs.json"),
        ];
        let config = Config::load(None, &env(&google), &Overrides::default()).unwrap();
        match config.remote("gcs") {
            Some(docbridge_storage::RemoteConfig::Gcs { endpoint, bucket, credential_file }) => {
                assert_eq!((endpoint.as_str(), bucket.as_str()), ("", "docs"));
                assert_eq!(credential_file, "/etc/docbridge/gcs.json");
            }
            other => panic!("gcs store: {other:?}"),
        }
        // An emulator takes no credentials.
        let emulator = [
            ("DOCBRIDGE_STORAGE__KIND", "gcs"),
            ("DOCBRIDGE_STORAGE__GCS__BUCKET", "docs"),
            ("DOCBRIDGE_STORAGE__GCS__ENDPOINT", "http://127.0.0.1:4443"),
        ];
        assert!(Config::load(None, &env(&emulator), &Overrides::default()).unwrap().remote("gcs").is_some());
        for (pairs, key) in [
            (&[("DOCBRIDGE_STORAGE__KIND", "gcs")][..], "storage.gcs.bucket"),
            (&google[..2], "storage.gcs.credential_file"),
            (&[("DOCBRIDGE_STORAGE__GCS__ENDPOINT", "gs://docs")][..], "storage.gcs.endpoint"),
        ] {
            let err = Config::load(None, &env(pairs), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains(key), "{pairs:?}: {err}");
        }
    }

    #[test]
    fn s3_storage_is_configured_and_its_secret_never_printed() {
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(config.storage.kind, "fs");
        assert!(config.s3().is_none());
        let e = env(&[
            ("DOCBRIDGE_STORAGE__KIND", "s3"),
            ("DOCBRIDGE_STORAGE__S3__ENDPOINT", "http://127.0.0.1:9000"),
            ("DOCBRIDGE_STORAGE__S3__ALLOW_HTTP", "true"),
            ("DOCBRIDGE_STORAGE__S3__BUCKET", "docs"),
            ("DOCBRIDGE_STORAGE__S3__ACCESS_KEY_ID", "AKIAEXAMPLE"),
            ("DOCBRIDGE_STORAGE__S3__SECRET_ACCESS_KEY", "wJalrXUtnFEMI-secret"),
            // The test suites' own variables are not configuration.
            ("DOCBRIDGE_TEST_S3_BUCKET", "ignored"),
        ]);
        let config = Config::load(None, &e, &Overrides::default()).unwrap();
        let s3 = config.s3().unwrap();
        assert_eq!((s3.bucket.as_str(), s3.endpoint.as_str(), s3.allow_http), ("docs", "http://127.0.0.1:9000", true));
        assert_eq!(s3.secret_access_key.expose(), "wJalrXUtnFEMI-secret");
        assert_eq!(config.s3_root(), "documents");
        assert!(!format!("{config:?}").contains("wJalrXUtnFEMI"), "{config:?}");
        assert!(!format!("{s3:?}").contains("wJalrXUtnFEMI"), "{s3:?}");

        for (pairs, key) in [
            (vec![("DOCBRIDGE_STORAGE__KIND", "s3")], "storage.s3.bucket"),
            (vec![("DOCBRIDGE_STORAGE__KIND", "nfs")], "storage.kind"),
            (vec![("DOCBRIDGE_STORAGE__S3__ENDPOINT", "http://10.0.0.1:9000")], "storage.s3.endpoint"),
        ] {
            let err = Config::load(None, &env(&pairs), &Overrides::default()).unwrap_err();
            assert!(err.to_string().contains(key), "{err}");
        }
    }

    #[test]
    fn trusted_proxies_come_from_a_file_or_a_variable_and_are_checked() {
        let header = |peer: &str, config: &Config| {
            let mut headers = axum::http::HeaderMap::new();
            headers.insert("x-forwarded-for", axum::http::HeaderValue::from_static("198.51.100.1"));
            config.http.trusted_proxies().unwrap().client(peer.parse().unwrap(), &headers).to_string()
        };
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(header("127.0.0.1", &config), "127.0.0.1", "nobody is trusted by default");
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[http]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n").unwrap();
        let config = Config::load(Some(&file), &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(header("10.1.2.3", &config), "198.51.100.1");
        assert_eq!(header("192.0.2.1", &config), "192.0.2.1");
        let e = env(&[("DOCBRIDGE_HTTP__TRUSTED_PROXIES", "192.0.2.0/24, ::1")]);
        let config = Config::load(None, &e, &Overrides::default()).unwrap();
        assert_eq!(header("192.0.2.1", &config), "198.51.100.1");
        assert_eq!(header("10.1.2.3", &config), "10.1.2.3");
        let e = env(&[("DOCBRIDGE_HTTP__TRUSTED_PROXIES", "10.0.0.0/33")]);
        let error = Config::load(None, &e, &Overrides::default()).unwrap_err().to_string();
        assert!(error.contains("http.trusted_proxies") && error.contains("10.0.0.0/33"), "{error}");
        let e = env(&[("DOCBRIDGE_HTTP__FORWARDED_HEADER", "x-real-ip")]);
        assert!(Config::load(None, &e, &Overrides::default()).is_err());
        let e = env(&[("DOCBRIDGE_HTTP__FORWARDED_HEADER", "forwarded")]);
        let config = Config::load(None, &e, &Overrides::default()).unwrap();
        assert_eq!(config.http.forwarded_header, crate::limits::ForwardedHeader::Forwarded);
    }

    #[test]
    fn the_production_example_loads() {
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/examples/production.toml");
        let config = Config::load(Some(&file), &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(config.storage.kind, "s3");
        assert!(config.database_url(Path::new("/unused")).starts_with("postgres://"));
        assert_eq!(config.s3().map(|s3| s3.bucket), Some("example-docbridge".to_owned()));
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[http]\nlisten = \"127.0.0.1:9000\"\nlisten_typo = 1\n").unwrap();
        assert!(Config::load(Some(&file), &HashMap::new(), &Overrides::default()).is_err());
        let e = env(&[("DOCBRIDGE_DOCUMENTS__CONFLICT_POLICY", "merge")]);
        let err = Config::load(None, &e, &Overrides::default()).unwrap_err();
        assert!(err.to_string().contains("documents.conflict_policy"), "{err}");
        let e = env(&[("DOCBRIDGE_PUBLIC_URL", "not a url")]);
        assert!(Config::load(None, &e, &Overrides::default()).unwrap_err().to_string().contains("public_url"));
    }

    #[test]
    fn http_timeouts() {
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(config.http.timeouts(), crate::Timeouts::default(), "the file's defaults are the code's");
        let e = env(&[("DOCBRIDGE_HTTP__MIN_UPLOAD_BYTES_PER_SEC", "0"), ("DOCBRIDGE_HTTP__IDLE_TIMEOUT_SECS", "5")]);
        let timeouts = Config::load(None, &e, &Overrides::default()).unwrap().http.timeouts();
        assert_eq!((timeouts.min_upload_rate, timeouts.idle), (None, std::time::Duration::from_secs(5)));
        for key in ["HEADER_READ_TIMEOUT_SECS", "IDLE_TIMEOUT_SECS", "UPLOAD_RATE_WINDOW_SECS"] {
            let e = env(&[(&format!("DOCBRIDGE_HTTP__{key}"), "0")]);
            let error = Config::load(None, &e, &Overrides::default()).unwrap_err().to_string();
            assert!(error.contains(&format!("http.{}", key.to_lowercase())), "{error}");
        }
    }

    #[test]
    fn oauth_section() {
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(
            config.oauth.settings(),
            docbridge_auth::OAuthSettings::default(),
            "the file's defaults are the code's"
        );
        let e = env(&[("DOCBRIDGE_OAUTH__CODE_TTL_SECS", "601")]);
        assert!(Config::load(None, &e, &Overrides::default()).unwrap_err().to_string().contains("oauth.code_ttl_secs"));
        let e =
            env(&[("DOCBRIDGE_OAUTH__ACCESS_TOKEN_TTL_SECS", "0"), ("DOCBRIDGE_OAUTH__ROTATE_REFRESH_TOKENS", "true")]);
        let settings = Config::load(None, &e, &Overrides::default()).unwrap().oauth.settings();
        assert_eq!((settings.access_token_ttl, settings.rotate_refresh_tokens), (chrono::Duration::zero(), true));
    }

    #[test]
    fn public_urls_workfront_cannot_call_are_named() {
        assert!(public_url_warnings("https://docs.example.com").is_empty());
        assert!(public_url_warnings("https://docs.example.com:8443/base").is_empty());
        for loopback in ["https://127.0.0.1:8080", "https://localhost", "https://[::1]:443", "https://0.0.0.0"] {
            let warnings = public_url_warnings(loopback);
            assert_eq!(warnings.len(), 1, "{loopback}: {warnings:?}");
            assert!(warnings[0].contains("loopback"), "{loopback}: {warnings:?}");
        }
        let plain = public_url_warnings("http://docs.example.com");
        assert_eq!(plain.len(), 1);
        assert!(plain[0].contains("plain http"), "{plain:?}");
        assert_eq!(public_url_warnings("http://127.0.0.1:8080").len(), 2, "the first start's default has both faults");
        assert!(public_url_warnings("not a url")[0].contains("not a URL"));
    }

    #[test]
    fn the_config_file_and_data_dir_variables_are_not_keys() {
        let e =
            env(&[("DOCBRIDGE_CONFIG", "/etc/docbridge/docbridge.toml"), ("DOCBRIDGE_DATA_DIR", "/var/lib/docbridge")]);
        assert!(Config::load(None, &e, &Overrides::default()).is_ok());
    }

    #[test]
    fn secrets_can_come_from_files() {
        use secrecy::ExposeSecret;
        let dir = tempfile::tempdir().unwrap();
        let token = dir.path().join("admin-token");
        std::fs::write(&token, "from-a-file\n").unwrap();
        let e = env(&[("DOCBRIDGE_ADMIN__TOKEN_FILE", token.to_str().unwrap())]);
        let config = Config::load(None, &e, &Overrides::default()).unwrap();
        assert_eq!(config.admin.token.expose_secret(), "from-a-file", "the trailing line break is not part of it");

        let both = env(&[("DOCBRIDGE_ADMIN__TOKEN_FILE", token.to_str().unwrap()), ("DOCBRIDGE_ADMIN__TOKEN", "x")]);
        let error = Config::load(None, &both, &Overrides::default()).unwrap_err().to_string();
        assert!(error.contains("both") && error.contains("admin.token"), "{error}");

        let missing = env(&[("DOCBRIDGE_STORAGE__S3__SECRET_ACCESS_KEY_FILE", "/nonexistent/secret")]);
        let error = Config::load(None, &missing, &Overrides::default()).unwrap_err().to_string();
        assert!(error.contains("/nonexistent/secret") && error.contains("storage.s3.secret_access_key"), "{error}");

        // Only the listed secrets: any other `_FILE` variable is still an unknown key.
        let other = env(&[("DOCBRIDGE_PUBLISHER_FILE", token.to_str().unwrap())]);
        assert!(Config::load(None, &other, &Overrides::default()).is_err());
    }

    #[test]
    fn metrics_are_off_the_public_listener_by_default() {
        use secrecy::ExposeSecret;
        let config = Config::load(None, &HashMap::new(), &Overrides::default()).unwrap();
        let listen = config.metrics.listen().unwrap().expect("a metrics listener by default");
        assert!(listen.ip().is_loopback(), "{listen}");
        assert!(config.metrics.token.expose_secret().is_empty());
        let e = env(&[("DOCBRIDGE_METRICS__LISTEN", ""), ("DOCBRIDGE_METRICS__TOKEN", "t0ken-value")]);
        let config = Config::load(None, &e, &Overrides::default()).unwrap();
        assert_eq!(config.metrics.listen().unwrap(), None);
        assert_eq!(config.metrics.token.expose_secret(), "t0ken-value");
        assert!(!format!("{config:?}").contains("t0ken-value"));
        for (listen, error) in [("9464", "not an address"), ("127.0.0.1:8080", "http.listen too")] {
            let e = env(&[("DOCBRIDGE_METRICS__LISTEN", listen)]);
            let message = Config::load(None, &e, &Overrides::default()).unwrap_err().to_string();
            assert!(message.contains("metrics.listen") && message.contains(error), "{message}");
        }
    }

    #[test]
    fn the_log_comes_from_the_file_and_the_environment_wins() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "[log]\nlevel = \"debug\"\nformat = \"json\"\n").unwrap();
        let config = Config::load(Some(&file), &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(config.log.effective(&HashMap::new()).unwrap(), ("debug".to_owned(), LogFormat::Json));
        let e = env(&[("DOCBRIDGE_LOG", "warn,docbridge_server=info"), ("DOCBRIDGE_LOG_FORMAT", "text")]);
        assert_eq!(config.log.effective(&e).unwrap(), ("warn,docbridge_server=info".to_owned(), LogFormat::Text));
        for (key, value) in [("DOCBRIDGE_LOG_FORMAT", "pretty"), ("DOCBRIDGE_LOG", "info,docbridge=loud")] {
            let message = config.log.effective(&env(&[(key, value)])).unwrap_err().to_string();
            assert!(message.contains(key) && message.contains(value), "{message}");
        }
        let defaults = Config::load(None, &HashMap::new(), &Overrides::default()).unwrap();
        assert_eq!(defaults.log.effective(&HashMap::new()).unwrap().1, LogFormat::Text);
        for (key, value) in [("DOCBRIDGE_LOG__LEVEL", "docbridge=loud"), ("DOCBRIDGE_LOG__FORMAT", "xml")] {
            let message = Config::load(None, &env(&[(key, value)]), &Overrides::default()).unwrap_err().to_string();
            assert!(message.contains("log.") || message.contains("format"), "{key}: {message}");
        }
    }
}
