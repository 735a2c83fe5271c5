//! Automatic HTTPS (`[http.acme]`, issue #15): docbridge obtains the certificate of its
//! `public_url` name from an ACME CA (Let's Encrypt unless told otherwise), answering the
//! TLS-ALPN-01 challenge on its own HTTPS listener or the HTTP-01 challenge on a plain-HTTP one
//! (port 80, `challenge` and `http_listen`), keeps it in a private cache folder, renews it
//! before it expires without a restart, and keeps serving the certificate it has when a renewal
//! fails. The plain-HTTP listener answers nothing but challenges: every other request is
//! redirected (308) to the same path on `public_url`, so `http://docs.example.com` typed into a
//! browser lands on HTTPS.
//!
//! The ACME protocol is `instant-acme`'s, over the reqwest client the server already has (so the
//! build has one HTTP client and aws-lc-rs signs, as for the rest of TLS). What is ours: when to renew
//! (once two thirds of the certificate's lifetime have passed, as Let's Encrypt advises), the
//! back-off after a failure (one minute, doubling, at most six hours: a CA's rate limits are never
//! hammered and an administrator sees one log line per attempt, saying what to fix), the cache,
//! and the certificate resolver that answers both ordinary handshakes and the CA's validation.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::BodyExt;
use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, BodyWrapper, BytesResponse, ChallengeType, HttpClient,
    Identifier, NewAccount, NewOrder, OrderStatus, RetryPolicy,
};
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use tokio::sync::{Notify, watch};

use crate::config::ConfigError;
use crate::tls::TlsError;

/// The ALPN protocol of the TLS-ALPN-01 challenge (RFC 8737).
pub const ACME_TLS_ALPN: &[u8] = b"acme-tls/1";
/// The first retry after a failure; each further failure doubles it, up to [`MAX_BACKOFF`].
pub const FIRST_BACKOFF: Duration = Duration::from_secs(60);
/// The longest wait between two attempts while failing.
pub const MAX_BACKOFF: Duration = Duration::from_secs(6 * 3600);
/// The longest single sleep: the loop looks at the clock again at least this often, so that a
/// suspended machine or a corrected clock does not push a renewal past its time.
const MAX_SLEEP: Duration = Duration::from_secs(3600);
/// How long the CA may take to validate and then to issue, per step.
const ORDER_TIMEOUT: Duration = Duration::from_secs(120);

/// Which ACME challenge proves to the CA that this server answers for the names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum AcmeChallenge {
    /// RFC 8737: a special certificate on the HTTPS listener (port 443); no other port needed.
    TlsAlpn01,
    /// RFC 8555 §8.3: a file under `/.well-known/acme-challenge/` on port 80 (`http_listen`), for
    /// when port 443 reaches docbridge only through something that terminates TLS, or a CA that
    /// offers no TLS-ALPN-01.
    Http01,
}

impl TryFrom<String> for AcmeChallenge {
    type Error = String;

    /// By hand rather than serde's variant names, so that a wrong value is told the right ones.
    fn try_from(value: String) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "tls-alpn-01" => Ok(AcmeChallenge::TlsAlpn01),
            "http-01" => Ok(AcmeChallenge::Http01),
            _ => Err(format!("{value:?} is not a challenge docbridge answers: \"tls-alpn-01\" or \"http-01\"")),
        }
    }
}

impl AcmeChallenge {
    fn name(self) -> &'static str {
        match self {
            AcmeChallenge::TlsAlpn01 => "tls-alpn-01",
            AcmeChallenge::Http01 => "http-01",
        }
    }

    fn kind(self) -> ChallengeType {
        match self {
            AcmeChallenge::TlsAlpn01 => ChallengeType::TlsAlpn01,
            AcmeChallenge::Http01 => ChallengeType::Http01,
        }
    }
}

/// `[http.acme]`: the settings of automatic HTTPS.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AcmeConfig {
    pub enabled: bool,
    /// The e-mail address the CA may write to about the certificates (expiry, revocation).
    pub contact: String,
    /// The CA's ACME directory.
    pub directory_url: String,
    /// Where the account key and certificates are kept; empty: `acme` in the data directory.
    pub cache_dir: String,
    /// Names besides `public_url`'s that the certificate also covers.
    #[serde(deserialize_with = "crate::config::string_list")]
    pub extra_domains: Vec<String>,
    /// A PEM file of CA certificates to trust for the directory's own HTTPS (a private or test
    /// CA); empty: the platform's roots.
    pub directory_ca_file: String,
    /// The challenge docbridge answers.
    pub challenge: AcmeChallenge,
    /// The plain-HTTP listener (HTTP-01 answers, and a redirect to HTTPS for everything else);
    /// empty: none, which only TLS-ALPN-01 allows.
    pub http_listen: String,
}

impl AcmeConfig {
    /// Checks the settings against `public_url` (the name the certificate is for).
    pub fn validate(&self, public_url: &str, http: &crate::config::HttpConfig) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        let invalid = |key, reason: String| ConfigError::Invalid { key, reason };
        if !http.tls_cert.trim().is_empty() || !http.tls_key.trim().is_empty() {
            return Err(invalid(
                "http.acme.enabled",
                "http.tls_cert/tls_key are set too: either docbridge obtains its certificate (ACME) or it reads yours; remove one".into(),
            ));
        }
        self.domains(public_url).map_err(|reason| invalid("public_url", reason))?;
        let contact = self.contact.trim();
        let contact = contact.strip_prefix("mailto:").unwrap_or(contact);
        let shaped = match contact.split_once('@') {
            Some((user, domain)) => {
                !user.is_empty()
                    && domain.contains('.')
                    && !domain.contains('@')
                    && !contact.contains(char::is_whitespace)
            }
            None => false,
        };
        if !shaped {
            return Err(invalid(
                "http.acme.contact",
                format!(
                    "{:?} is not an e-mail address: set it to the address the CA may write to about this certificate (expiry warnings)",
                    self.contact
                ),
            ));
        }
        match (self.challenge, self.http_listen()) {
            (_, Err(reason)) => return Err(invalid("http.acme.http_listen", reason)),
            (AcmeChallenge::Http01, Ok(None)) => {
                return Err(invalid(
                    "http.acme.http_listen",
                    "is empty, but challenge = \"http-01\" is answered there: set it to \"0.0.0.0:80\" (the CA connects to port 80), or use challenge = \"tls-alpn-01\"".into(),
                ));
            }
            (_, Ok(Some(address))) if http.listen.parse::<std::net::SocketAddr>().is_ok_and(|l| l == address) => {
                return Err(invalid(
                    "http.acme.http_listen",
                    format!(
                        "{address} is [http] listen too: the HTTPS listener and the plain-HTTP one need two ports (443 and 80)"
                    ),
                ));
            }
            _ => {}
        }
        match url::Url::parse(&self.directory_url) {
            Ok(url) if url.scheme() == "https" => {}
            _ => {
                return Err(invalid(
                    "http.acme.directory_url",
                    format!(
                        "{:?} is not an https:// URL: ACME directories are served over HTTPS (Let's Encrypt's is https://acme-v02.api.letsencrypt.org/directory)",
                        self.directory_url
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The names the certificate covers: `public_url`'s host, then `extra_domains`.
    pub fn domains(&self, public_url: &str) -> Result<Vec<String>, String> {
        let url = url::Url::parse(public_url).map_err(|_| {
            format!("{public_url:?} is not a URL: with [http.acme] enabled, set public_url to https://docs.example.com (this server's DNS name)")
        })?;
        if url.scheme() != "https" {
            return Err(format!(
                "{public_url} is not https: with [http.acme] enabled docbridge serves HTTPS itself, so public_url must be https://docs.example.com (this server's DNS name)"
            ));
        }
        let Some(url::Host::Domain(host)) = url.host() else {
            return Err(format!(
                "{public_url} has no DNS name: a CA issues certificates for names, so set public_url to https://docs.example.com (this server's DNS name)"
            ));
        };
        let mut domains = vec![host.trim_end_matches('.').to_ascii_lowercase()];
        for extra in &self.extra_domains {
            let name = extra.trim().trim_end_matches('.').to_ascii_lowercase();
            let valid = !name.is_empty()
                && name.contains('.')
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
            if !valid {
                return Err(format!("http.acme.extra_domains: {extra:?} is not a DNS name"));
            }
            if !domains.contains(&name) {
                domains.push(name);
            }
        }
        Ok(domains)
    }

    /// The plain-HTTP listener's address, `None` when there is none.
    pub fn http_listen(&self) -> Result<Option<std::net::SocketAddr>, String> {
        let listen = self.http_listen.trim();
        if listen.is_empty() {
            return Ok(None);
        }
        listen.parse().map(Some).map_err(|_| {
            format!("{listen:?} is not an address and port such as \"0.0.0.0:80\" (or \"\" for no plain-HTTP listener)")
        })
    }

    /// The cache folder: `cache_dir`, or `acme` in the data directory.
    pub fn cache_dir(&self, data_dir: &Path) -> PathBuf {
        if self.cache_dir.trim().is_empty() { data_dir.join("acme") } else { PathBuf::from(self.cache_dir.trim()) }
    }

    /// The cache file of the certificate for these settings (its key, then its chain, as PEM).
    pub fn certificate_file(&self, public_url: &str, data_dir: &Path) -> Result<PathBuf, String> {
        let domains = self.domains(public_url)?;
        Ok(self
            .cache_dir(data_dir)
            .join(format!("certificate-{}.pem", short_hash(&[self.directory_url.as_str(), &domains.join(",")]))))
    }
}

/// 16 hex digits of SHA-256 over `parts`: cache file names that change with what they depend on.
fn short_hash(parts: &[&str]) -> String {
    let mut hasher = sha2::Sha256::new();
    for part in parts {
        hasher.update(part.as_bytes());
        hasher.update([0]);
    }
    hasher.finalize()[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Why a certificate could not be obtained: each says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error(
        "ACME cache {path}: {reason}; docbridge needs to write its account and certificates there ([http.acme] cache_dir)"
    )]
    Cache { path: PathBuf, reason: String },
    #[error("[http.acme] directory_ca_file {path}: {reason}")]
    DirectoryCa { path: PathBuf, reason: String },
    #[error(
        "cannot reach the ACME directory {url} ({reason}): check [http.acme] directory_url and that this host can make outgoing HTTPS connections to it"
    )]
    Unreachable { url: String, reason: String },
    #[error(
        "the ACME CA refused the contact address {contact:?} ({detail}): set [http.acme] contact to a working e-mail address"
    )]
    Contact { contact: String, detail: String },
    #[error(
        "the ACME CA could not validate {domain} ({detail}): check that {domain} resolves to this server and that {port} there reaches docbridge's {listener}"
    )]
    Validation { domain: String, detail: String, port: &'static str, listener: &'static str },
    #[error(
        "the ACME CA offers no {challenge} challenge for {domain}: set [http.acme] challenge to the other one (\"tls-alpn-01\" or \"http-01\"), or use another CA"
    )]
    NoChallenge { challenge: &'static str, domain: String },
    #[error("the ACME CA refused the certificate order ({0})")]
    Refused(String),
}

/// What automatic HTTPS is doing, for `/readyz`, `/metrics` and the tests.
#[derive(Debug, Clone, Default, Serialize)]
pub struct AcmeStatus {
    pub domains: Vec<String>,
    /// When the certificate being served expires; `None` before the first one.
    pub not_after: Option<DateTime<Utc>>,
    /// Certificates obtained from the CA by this process.
    pub obtained: u64,
    /// Failed attempts since the last success.
    pub consecutive_failures: u32,
    /// Why the last attempt failed, while failing.
    pub last_error: Option<String>,
    /// When the next attempt is planned.
    pub next_attempt: Option<DateTime<Utc>>,
}

impl AcmeStatus {
    /// One line for `/readyz`.
    pub fn describe(&self) -> String {
        let certificate = match self.not_after {
            Some(not_after) => {
                let days = (not_after - Utc::now()).num_days();
                format!(
                    "certificate for {} expires {} (in {days} days)",
                    self.domains.join(", "),
                    not_after.to_rfc3339()
                )
            }
            None => format!("no certificate for {} yet", self.domains.join(", ")),
        };
        match &self.last_error {
            Some(error) => format!(
                "{certificate}; {} attempt(s) failed, the last: {error}; next attempt {}",
                self.consecutive_failures,
                self.next_attempt.map(|at| at.to_rfc3339()).unwrap_or_default()
            ),
            None => certificate,
        }
    }
}

/// Obtains, renews and serves the certificate of `[http.acme]`.
pub struct Acme {
    domains: Vec<String>,
    contact: String,
    directory_url: String,
    cache: PathBuf,
    certificate_file: PathBuf,
    http: reqwest::Client,
    provider: Arc<CryptoProvider>,
    /// The certificate ordinary handshakes get.
    current: RwLock<Option<Arc<CertifiedKey>>>,
    /// The challenge answered.
    challenge: AcmeChallenge,
    /// TLS-ALPN-01 answers by domain, while an order is being validated.
    challenges: RwLock<HashMap<String, Arc<CertifiedKey>>>,
    /// HTTP-01 answers (key authorizations) by token, while an order is being validated.
    tokens: RwLock<HashMap<String, String>>,
    /// `public_url`'s scheme, host and port: where the plain-HTTP listener redirects to.
    origin: String,
    status: Mutex<AcmeStatus>,
    renew: Notify,
    /// Bumped after every attempt, whatever its outcome.
    attempts: watch::Sender<u64>,
}

impl fmt::Debug for Acme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acme").field("domains", &self.domains).field("cache", &self.cache).finish_non_exhaustive()
    }
}

impl Acme {
    /// Prepares automatic HTTPS: creates the cache folder (0700) and loads the certificate
    /// cached there, if any, so that a restart serves at once. Nothing is asked of the CA yet:
    /// that is [`Acme::run`]'s work.
    pub fn new(config: &AcmeConfig, public_url: &str, data_dir: &Path) -> Result<Arc<Acme>, AcmeError> {
        let domains = config.domains(public_url).map_err(AcmeError::Refused)?;
        let cache = config.cache_dir(data_dir);
        crate::data_dir::create_private_dir(&cache)
            .map_err(|e| AcmeError::Cache { path: cache.clone(), reason: e.to_string() })?;
        let certificate_file = config.certificate_file(public_url, data_dir).map_err(AcmeError::Refused)?;
        let mut http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30))
            .user_agent(concat!("docbridge/", env!("CARGO_PKG_VERSION")));
        if !config.directory_ca_file.trim().is_empty() {
            let path = PathBuf::from(config.directory_ca_file.trim());
            let ca_error = |reason: String| AcmeError::DirectoryCa { path: path.clone(), reason };
            let pem = std::fs::read(&path).map_err(|e| ca_error(e.to_string()))?;
            for certificate in reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| ca_error(format!("not PEM certificates ({e})")))?
            {
                http = http.add_root_certificate(certificate);
            }
        }
        let http = http.build().map_err(|e| AcmeError::Refused(format!("HTTP client: {e}")))?;
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let acme = Acme {
            status: Mutex::new(AcmeStatus { domains: domains.clone(), ..AcmeStatus::default() }),
            domains,
            contact: config.contact.trim().trim_start_matches("mailto:").to_owned(),
            directory_url: config.directory_url.clone(),
            cache,
            certificate_file,
            http,
            provider,
            current: RwLock::new(None),
            challenge: config.challenge,
            challenges: RwLock::new(HashMap::new()),
            tokens: RwLock::new(HashMap::new()),
            origin: url::Url::parse(public_url)
                .map(|url| url.origin().ascii_serialization())
                .map_err(|e| AcmeError::Refused(format!("public_url: {e}")))?,
            renew: Notify::new(),
            attempts: watch::channel(0).0,
        };
        match acme.load_cached() {
            Ok(Some(not_after)) => {
                tracing::info!(domains = ?acme.domains, %not_after, file = %acme.certificate_file.display(), "serving the cached ACME certificate")
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(error = %e, "the cached ACME certificate is not usable; a new one will be obtained")
            }
        }
        Ok(Arc::new(acme))
    }

    /// What automatic HTTPS is doing.
    pub fn status(&self) -> AcmeStatus {
        self.status.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Changes after every attempt to obtain a certificate (tests and callers wait on it).
    pub fn attempts(&self) -> watch::Receiver<u64> {
        self.attempts.subscribe()
    }

    /// Asks for a new certificate now, whether or not one is due (an operator's forced renewal).
    pub fn renew_now(&self) {
        self.renew.notify_one();
    }

    /// The rustls configuration that serves the ACME certificate and answers TLS-ALPN-01.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        crate::tls::resolver_config(&self.provider, self.clone(), &[ACME_TLS_ALPN])
    }

    /// The plain-HTTP listener's service (`http_listen`, port 80): the HTTP-01 answers while an
    /// order is being validated, and a permanent redirect (308: method and body kept) of every
    /// other request to the same path and query at `public_url`'s origin. The redirect never
    /// takes its host from the request, so a forged `Host` cannot send a client elsewhere.
    pub fn http_router(self: &Arc<Self>) -> axum::Router {
        axum::Router::new()
            .route("/.well-known/acme-challenge/{token}", axum::routing::get(http01_answer))
            .fallback(to_https)
            .with_state(self.clone())
    }

    /// Obtains a certificate when there is none or it is due, renews it for as long as the
    /// process runs, and backs off after failures. Spawn it once.
    pub async fn run(self: Arc<Self>) {
        let mut failures: u32 = 0;
        let mut next = self.plan(failures);
        loop {
            let forced = loop {
                let left = (next - Utc::now()).to_std().unwrap_or(Duration::ZERO);
                if left.is_zero() {
                    break false;
                }
                tokio::select! {
                    () = tokio::time::sleep(left.min(MAX_SLEEP)) => {}
                    () = self.renew.notified() => break true,
                }
            };
            if forced {
                tracing::info!(domains = ?self.domains, "renewing the ACME certificate now, as asked");
            }
            match self.obtain().await {
                Ok(not_after) => {
                    failures = 0;
                    tracing::info!(domains = ?self.domains, %not_after, "ACME certificate obtained; new connections use it");
                    self.update(|status| {
                        status.obtained += 1;
                        status.consecutive_failures = 0;
                        status.last_error = None;
                    });
                    next = self.plan(failures);
                }
                Err(e) => {
                    failures = failures.saturating_add(1);
                    next = self.plan(failures);
                    let serving = match self.status().not_after {
                        Some(not_after) => format!("still serving the current certificate (expires {not_after})"),
                        None => "no certificate to serve yet: HTTPS handshakes fail until one is obtained".to_owned(),
                    };
                    tracing::error!("ACME: {e}. Next attempt at {next}; {serving}");
                    self.update(|status| {
                        status.consecutive_failures = failures;
                        status.last_error = Some(e.to_string());
                    });
                }
            }
            // Last, so that whoever waits on it sees the status of the attempt that just ended.
            self.attempts.send_modify(|n| *n += 1);
        }
    }

    /// When to try next after `failures` failures in a row (the renewal time when none), noted
    /// in the status.
    fn plan(&self, failures: u32) -> DateTime<Utc> {
        let next = match failures {
            0 => self.renewal_time(),
            n => Utc::now() + chrono::Duration::from_std(backoff(n)).unwrap_or_else(|_| chrono::Duration::hours(6)),
        };
        self.update(|status| status.next_attempt = Some(next));
        next
    }

    /// When the served certificate is due for renewal: once two thirds of its lifetime have
    /// passed; now when there is none.
    fn renewal_time(&self) -> DateTime<Utc> {
        let current = self.current.read().unwrap_or_else(|e| e.into_inner()).clone();
        let Some(validity) = current.as_ref().and_then(|key| validity(key.end_entity_cert().ok()?)) else {
            return Utc::now();
        };
        let (not_before, not_after) = validity;
        not_after - (not_after - not_before) / 3
    }

    fn update(&self, change: impl FnOnce(&mut AcmeStatus)) {
        let mut status = self.status.lock().unwrap_or_else(|e| e.into_inner());
        change(&mut status);
        let domain = self.domains[0].clone();
        if let Some(not_after) = status.not_after {
            metrics::gauge!(EXPIRY, "domain" => domain.clone()).set(not_after.timestamp() as f64);
        }
        metrics::gauge!(FAILURES, "domain" => domain).set(f64::from(status.consecutive_failures));
    }

    /// Loads the cached certificate into service; its expiry, or `None` when there is none.
    fn load_cached(&self) -> Result<Option<DateTime<Utc>>, AcmeError> {
        let pem = match std::fs::read(&self.certificate_file) {
            Ok(pem) => pem,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(self.cache_error(e.to_string())),
        };
        let not_after = self.install(&pem)?;
        Ok(Some(not_after))
    }

    fn cache_error(&self, reason: String) -> AcmeError {
        AcmeError::Cache { path: self.certificate_file.clone(), reason }
    }

    /// Serves the key and chain in `pem` to new connections from now on; their expiry.
    fn install(&self, pem: &[u8]) -> Result<DateTime<Utc>, AcmeError> {
        let chain = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| self.cache_error(format!("not a PEM certificate chain ({e})")))?;
        let Some((_, not_after)) = chain.first().and_then(validity) else {
            return Err(self.cache_error("holds no readable certificate".into()));
        };
        let key = PrivateKeyDer::from_pem_slice(pem).map_err(|e| self.cache_error(format!("no private key ({e})")))?;
        let key = CertifiedKey::from_der(chain, key, &self.provider).map_err(|e| self.cache_error(e.to_string()))?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(Arc::new(key));
        self.update(|status| status.not_after = Some(not_after));
        Ok(not_after)
    }

    /// One certificate order, start to end; on success the new certificate is cached and served.
    async fn obtain(&self) -> Result<DateTime<Utc>, AcmeError> {
        let account = self.account().await?;
        let identifiers: Vec<Identifier> = self.domains.iter().cloned().map(Identifier::Dns).collect();
        let mut order = account.new_order(&NewOrder::new(&identifiers)).await.map_err(|e| self.classify(e))?;
        let answered = self.answer_challenges(&mut order).await;
        let ready = match answered {
            // A problem now is the CA's verdict on a challenge: the name does not lead here.
            Ok(()) => order.poll_ready(&RetryPolicy::new().timeout(ORDER_TIMEOUT)).await.map_err(|e| match e {
                instant_acme::Error::Api(problem) => {
                    self.validation_error(self.domains.join(", "), problem_text(&problem))
                }
                other => self.classify(other),
            }),
            Err(e) => Err(e),
        };
        // The answers are only for this order's validation.
        self.challenges.write().unwrap_or_else(|e| e.into_inner()).clear();
        self.tokens.write().unwrap_or_else(|e| e.into_inner()).clear();
        if ready? != OrderStatus::Ready {
            return Err(self.validation_failure(&mut order).await);
        }
        let key_pem = order.finalize().await.map_err(|e| self.classify(e))?;
        let chain_pem =
            order.poll_certificate(&RetryPolicy::new().timeout(ORDER_TIMEOUT)).await.map_err(|e| self.classify(e))?;
        let pem = format!("{key_pem}{chain_pem}");
        // Checked before it replaces the cached one: a bad answer never costs the good file.
        let not_after = self.install(pem.as_bytes())?;
        write_private(&self.certificate_file, pem.as_bytes()).map_err(|e| self.cache_error(e.to_string()))?;
        Ok(not_after)
    }

    /// Sets up the answer (TLS-ALPN-01 or HTTP-01) of each pending authorization and tells the
    /// CA to check.
    async fn answer_challenges(&self, order: &mut instant_acme::Order) -> Result<(), AcmeError> {
        let mut authorizations = order.authorizations();
        while let Some(authorization) = authorizations.next().await {
            let mut authorization = authorization.map_err(|e| self.classify(e))?;
            match authorization.status {
                AuthorizationStatus::Pending => {}
                AuthorizationStatus::Valid => continue,
                other => {
                    return Err(AcmeError::Refused(format!(
                        "authorization for {} is {other:?}",
                        authorization.identifier()
                    )));
                }
            }
            let domain = authorization.identifier().to_string();
            let Some(mut challenge) = authorization.challenge(self.challenge.kind()) else {
                return Err(AcmeError::NoChallenge { challenge: self.challenge.name(), domain });
            };
            let key_authorization = challenge.key_authorization();
            match self.challenge {
                AcmeChallenge::TlsAlpn01 => {
                    let answer = challenge_certificate(&domain, key_authorization.digest().as_ref(), &self.provider)?;
                    self.challenges
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(domain.to_ascii_lowercase(), answer);
                }
                AcmeChallenge::Http01 => {
                    self.tokens
                        .write()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(challenge.token.clone(), key_authorization.as_str().to_owned());
                }
            }
            challenge.set_ready().await.map_err(|e| self.classify(e))?;
        }
        Ok(())
    }

    /// Why the order became invalid, from the first failed challenge the CA reports.
    async fn validation_failure(&self, order: &mut instant_acme::Order) -> AcmeError {
        let mut authorizations = order.authorizations();
        while let Some(Ok(mut authorization)) = authorizations.next().await {
            if let Ok(state) = authorization.refresh().await {
                let domain = state.identifier().to_string();
                for challenge in &state.challenges {
                    if let Some(problem) = &challenge.error {
                        return self.validation_error(domain, problem_text(problem));
                    }
                }
            }
        }
        self.validation_error(self.domains.join(", "), "the order became invalid".into())
    }

    /// A failed validation, naming the port and listener the CA had to reach.
    fn validation_error(&self, domain: String, detail: String) -> AcmeError {
        let (port, listener) = match self.challenge {
            AcmeChallenge::TlsAlpn01 => ("port 443", "[http] listen address"),
            AcmeChallenge::Http01 => ("port 80", "[http.acme] http_listen address"),
        };
        AcmeError::Validation { domain, detail, port, listener }
    }

    /// The ACME account for this directory and contact: from the cache, or created (and cached).
    async fn account(&self) -> Result<Account, AcmeError> {
        let file = self.cache.join(format!("account-{}.json", short_hash(&[&self.directory_url, &self.contact])));
        let client = || Account::builder_with_http(Box::new(ReqwestHttp(self.http.clone())));
        if let Ok(json) = std::fs::read(&file) {
            match serde_json::from_slice::<AccountCredentials>(&json) {
                Ok(credentials) => return client().from_credentials(credentials).await.map_err(|e| self.classify(e)),
                Err(e) => {
                    tracing::warn!(file = %file.display(), error = %e, "unreadable ACME account; creating another")
                }
            }
        }
        let contact = format!("mailto:{}", self.contact);
        let (account, credentials) = client()
            .create(
                &NewAccount { contact: &[&contact], terms_of_service_agreed: true, only_return_existing: false },
                self.directory_url.clone(),
                None,
            )
            .await
            .map_err(|e| self.classify(e))?;
        let json = serde_json::to_vec(&credentials).map_err(|e| self.cache_error(e.to_string()))?;
        write_private(&file, &json).map_err(|e| AcmeError::Cache { path: file.clone(), reason: e.to_string() })?;
        Ok(account)
    }

    /// Turns the ACME client's error into what the administrator should do about it.
    fn classify(&self, error: instant_acme::Error) -> AcmeError {
        match error {
            instant_acme::Error::Api(problem) => {
                let kind = problem.r#type.as_deref().unwrap_or_default();
                if kind.ends_with(":invalidContact") || kind.ends_with(":unsupportedContact") {
                    AcmeError::Contact { contact: self.contact.clone(), detail: problem_text(&problem) }
                } else {
                    AcmeError::Refused(problem_text(&problem))
                }
            }
            instant_acme::Error::Timeout(_) => {
                AcmeError::Refused("the CA did not finish the order in time; it is tried again later".into())
            }
            other => AcmeError::Unreachable { url: self.directory_url.clone(), reason: crate::error_chain(&other) },
        }
    }
}

impl ResolvesServerCert for Acme {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let validating = hello.alpn().is_some_and(|mut protocols| protocols.any(|p| p == ACME_TLS_ALPN));
        if validating {
            let name = hello.server_name()?.to_ascii_lowercase();
            return self.challenges.read().unwrap_or_else(|e| e.into_inner()).get(&name).cloned();
        }
        self.current.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// `GET /.well-known/acme-challenge/{token}` on the plain-HTTP listener: the key authorization
/// of a challenge being validated; 404 for any other token.
async fn http01_answer(
    axum::extract::State(acme): axum::extract::State<Arc<Acme>>,
    axum::extract::Path(token): axum::extract::Path<String>,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    match acme.tokens.read().unwrap_or_else(|e| e.into_inner()).get(&token).cloned() {
        Some(answer) => ([(http::header::CONTENT_TYPE, "text/plain")], answer).into_response(),
        None => http::StatusCode::NOT_FOUND.into_response(),
    }
}

/// Anything else on the plain-HTTP listener: the same path on HTTPS.
async fn to_https(
    axum::extract::State(acme): axum::extract::State<Arc<Acme>>,
    uri: http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse as _;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    axum::response::Redirect::permanent(&format!("{}{path}", acme.origin)).into_response()
}

const EXPIRY: &str = "docbridge_tls_certificate_expiry_timestamp_seconds";
const FAILURES: &str = "docbridge_acme_renewal_failures";

/// Describes the metrics this module sets (called with the others').
pub(crate) fn describe_metrics() {
    metrics::describe_gauge!(
        EXPIRY,
        metrics::Unit::Seconds,
        "When the ACME certificate being served expires (Unix time), by domain"
    );
    metrics::describe_gauge!(
        FAILURES,
        "Failed attempts to obtain or renew the ACME certificate since the last success, by domain"
    );
}

/// The wait after `failures` failed attempts in a row.
pub fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    FIRST_BACKOFF.saturating_mul(1 << doublings).min(MAX_BACKOFF)
}

/// The self-signed certificate that proves control of `domain` to the CA (RFC 8737 §3): the
/// name, and the critical acmeIdentifier extension holding the key authorization's digest.
fn challenge_certificate(
    domain: &str,
    digest: &[u8],
    provider: &CryptoProvider,
) -> Result<Arc<CertifiedKey>, AcmeError> {
    let failed = |e: rcgen::Error| AcmeError::Refused(format!("cannot build the TLS-ALPN-01 answer for {domain}: {e}"));
    let key = rcgen::KeyPair::generate().map_err(failed)?;
    let mut params = rcgen::CertificateParams::new(vec![domain.to_owned()]).map_err(failed)?;
    params.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let cert = params.self_signed(&key).map_err(failed)?;
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    // Not `CertifiedKey::from_der`: its consistency check parses the certificate with webpki,
    // which refuses the critical acmeIdentifier extension the answer must carry.
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| AcmeError::Refused(format!("cannot build the TLS-ALPN-01 answer for {domain}: {e}")))?;
    Ok(Arc::new(CertifiedKey::new(vec![cert.der().clone()], signing)))
}

/// A certificate's validity period.
fn validity(der: &CertificateDer<'_>) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
    let validity = cert.validity();
    Some((
        DateTime::from_timestamp(validity.not_before.timestamp(), 0)?,
        DateTime::from_timestamp(validity.not_after.timestamp(), 0)?,
    ))
}

/// The expiry of the certificate cached in `file` (for `docbridge doctor`).
pub fn cached_expiry(file: &Path) -> Result<DateTime<Utc>, String> {
    let pem = std::fs::read(file).map_err(|e| e.to_string())?;
    let first = CertificateDer::pem_slice_iter(&pem)
        .next()
        .ok_or("holds no certificate")?
        .map_err(|e| format!("not PEM ({e})"))?;
    validity(&first).map(|(_, not_after)| not_after).ok_or_else(|| "unreadable certificate".to_owned())
}

fn problem_text(problem: &instant_acme::Problem) -> String {
    let mut text = problem.detail.clone().unwrap_or_else(|| problem.r#type.clone().unwrap_or_default());
    for sub in &problem.subproblems {
        if let Some(detail) = &sub.detail {
            text.push_str("; ");
            text.push_str(detail);
        }
    }
    text
}

/// Writes `bytes` to `path` as a 0600 file, aside and then renamed: a crash never leaves half a
/// key or certificate where the next start reads it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let aside = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&aside)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&aside, path)
}

/// instant-acme's HTTP client trait over the server's reqwest.
struct ReqwestHttp(reqwest::Client);

impl HttpClient for ReqwestHttp {
    fn request(
        &self,
        request: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, instant_acme::Error>> + Send>> {
        let client = self.0.clone();
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let body = match body.collect().await {
                Ok(collected) => collected.to_bytes(),
                Err(never) => match never {},
            };
            let response = client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await
                .map_err(|e| instant_acme::Error::Other(Box::new(e)))?;
            Ok(BytesResponse::from(http::Response::<reqwest::Body>::from(response)))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn back_off_doubles_from_a_minute_to_six_hours() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(120));
        assert_eq!(backoff(5), Duration::from_secs(960));
        assert_eq!(backoff(9), Duration::from_secs(15360));
        assert_eq!(backoff(10), MAX_BACKOFF);
        assert_eq!(backoff(u32::MAX), MAX_BACKOFF);
    }

    fn config(contact: &str) -> AcmeConfig {
        AcmeConfig {
            enabled: true,
            contact: contact.into(),
            directory_url: "https://acme.example/dir".into(),
            cache_dir: String::new(),
            extra_domains: vec!["www.docs.example.com".into(), "DOCS.example.com.".into()],
            directory_ca_file: String::new(),
            challenge: AcmeChallenge::TlsAlpn01,
            http_listen: "0.0.0.0:80".into(),
        }
    }

    #[test]
    fn domains_come_from_public_url_then_the_extra_ones() {
        let domains = config("ops@example.com").domains("https://Docs.Example.com:8443/base").unwrap();
        assert_eq!(domains, ["docs.example.com", "www.docs.example.com"]);
        for (url, why) in
            [("http://docs.example.com", "not https"), ("https://127.0.0.1", "no DNS name"), ("not a url", "not a URL")]
        {
            let error = config("ops@example.com").domains(url).unwrap_err();
            assert!(error.contains(why), "{url}: {error}");
        }
        let mut bad = config("ops@example.com");
        bad.extra_domains = vec!["two words".into()];
        assert!(bad.domains("https://docs.example.com").unwrap_err().contains("extra_domains"));
    }

    #[test]
    fn the_cache_file_changes_with_the_names_and_the_ca() {
        let data = Path::new("/var/lib/docbridge");
        let a = config("ops@example.com");
        let file = a.certificate_file("https://docs.example.com", data).unwrap();
        assert!(file.starts_with("/var/lib/docbridge/acme"), "{file:?}");
        assert_ne!(file, a.certificate_file("https://other.example.com", data).unwrap());
        let mut b = a.clone();
        b.directory_url = "https://acme-staging.example/dir".into();
        assert_ne!(file, b.certificate_file("https://docs.example.com", data).unwrap());
    }

    fn load(pairs: &[(&str, &str)]) -> Result<crate::config::Config, ConfigError> {
        let env = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        crate::config::Config::load(None, &env, &crate::config::Overrides::default())
    }

    const ON: [(&str, &str); 3] = [
        ("DOCBRIDGE_HTTP__ACME__ENABLED", "true"),
        ("DOCBRIDGE_HTTP__ACME__CONTACT", "ops@example.com"),
        ("DOCBRIDGE_PUBLIC_URL", "https://docs.example.com"),
    ];

    #[test]
    fn the_configuration_loads_acme_settings() {
        let config = load(&[]).unwrap();
        assert!(!config.http.acme.enabled, "off by default");
        let mut pairs = ON.to_vec();
        pairs.push(("DOCBRIDGE_HTTP__ACME__EXTRA_DOMAINS", "www.docs.example.com, docs2.example.com"));
        let config = load(&pairs).unwrap();
        assert_eq!(config.http.acme.directory_url, "https://acme-v02.api.letsencrypt.org/directory");
        assert_eq!(
            config.http.acme.domains(&config.public_url).unwrap(),
            ["docs.example.com", "www.docs.example.com", "docs2.example.com"]
        );
        assert_eq!(config.http.acme.cache_dir(Path::new("/data")), Path::new("/data/acme"));
        assert_eq!(config.http.acme.challenge, AcmeChallenge::TlsAlpn01);
        assert_eq!(config.http.acme.http_listen().unwrap(), Some("0.0.0.0:80".parse().unwrap()));
    }

    #[test]
    fn the_configuration_refuses_what_acme_cannot_work_with() {
        for (variable, value, key, words) in [
            ("DOCBRIDGE_PUBLIC_URL", "http://docs.example.com", "public_url", "not https"),
            ("DOCBRIDGE_PUBLIC_URL", "https://203.0.113.5", "public_url", "no DNS name"),
            ("DOCBRIDGE_PUBLIC_URL", "", "public_url", "set public_url to https://"),
            ("DOCBRIDGE_HTTP__ACME__CONTACT", "", "http.acme.contact", "not an e-mail address"),
            ("DOCBRIDGE_HTTP__ACME__CONTACT", "ops at example.com", "http.acme.contact", "not an e-mail address"),
            ("DOCBRIDGE_HTTP__ACME__CONTACT", "ops@localhost", "http.acme.contact", "not an e-mail address"),
            ("DOCBRIDGE_HTTP__ACME__DIRECTORY_URL", "http://acme.example/dir", "http.acme.directory_url", "https://"),
            ("DOCBRIDGE_HTTP__TLS_CERT", "/etc/ssl/cert.pem", "http.acme.enabled", "remove one"),
            ("DOCBRIDGE_HTTP__ACME__EXTRA_DOMAINS", "not a name", "public_url", "extra_domains"),
            ("DOCBRIDGE_HTTP__ACME__HTTP_LISTEN", "port 80", "http.acme.http_listen", "not an address"),
            ("DOCBRIDGE_HTTP__ACME__HTTP_LISTEN", "127.0.0.1:8080", "http.acme.http_listen", "need two ports"),
            ("DOCBRIDGE_HTTP__ACME__CHALLENGE", "dns-01", "http.acme.challenge", "\"tls-alpn-01\" or \"http-01\""),
        ] {
            let mut pairs: Vec<_> = ON.iter().copied().filter(|(k, _)| *k != variable).collect();
            pairs.push((variable, value));
            let error = load(&pairs).unwrap_err().to_string();
            assert!(error.contains(key) && error.contains(words), "{variable}={value:?}: {error}");
        }
        let mailto: Vec<_> =
            ON.iter().copied().chain([("DOCBRIDGE_HTTP__ACME__CONTACT", "mailto:ops@example.com")]).collect();
        assert!(load(&mailto).is_ok(), "a mailto: URI is an address too");
        let http01 = |listen| {
            let mut pairs = ON.to_vec();
            pairs.extend([
                ("DOCBRIDGE_HTTP__ACME__CHALLENGE", "http-01"),
                ("DOCBRIDGE_HTTP__ACME__HTTP_LISTEN", listen),
            ]);
            load(&pairs)
        };
        let error = http01("").unwrap_err().to_string();
        assert!(error.contains("http.acme.http_listen") && error.contains("challenge = \"http-01\""), "{error}");
        let config = http01("0.0.0.0:80").unwrap();
        assert_eq!(config.http.acme.challenge, AcmeChallenge::Http01);
        let mut tls_alpn_only = ON.to_vec();
        tls_alpn_only.push(("DOCBRIDGE_HTTP__ACME__HTTP_LISTEN", ""));
        assert_eq!(
            load(&tls_alpn_only).unwrap().http.acme.http_listen().unwrap(),
            None,
            "TLS-ALPN-01 needs no port 80"
        );
    }

    #[tokio::test]
    async fn a_port_that_cannot_be_bound_is_explained_in_one_line() {
        let taken = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = taken.local_addr().unwrap().to_string();
        let error = tokio::net::TcpListener::bind(&listen).await.unwrap_err();
        let line = crate::config::listen_error("[http] listen", &listen, &error);
        assert!(line.contains("another program already uses that port") && line.contains("[http] listen"), "{line}");
        let denied = std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let line = crate::config::listen_error("[http] listen", "0.0.0.0:443", &denied);
        assert!(line.contains("CAP_NET_BIND_SERVICE") && line.contains("setcap"), "{line}");
        assert!(!line.contains('\n'));
    }
}
