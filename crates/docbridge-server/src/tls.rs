//! HTTPS served by docbridge itself (C26): rustls with the certificate and key from
//! `http.tls_cert` and `http.tls_key`, reloaded on SIGHUP.
//!
//! A reload swaps the certificate that the resolver hands to *new* handshakes; connections
//! already established keep theirs and are never dropped. A reload that fails (a missing file,
//! a key that does not match the certificate) keeps the certificate in use and logs why, so a
//! half-copied renewal cannot take the server down.
//!
//! Handshakes run in their own tasks, off the accept loop, so one slow or silent client cannot
//! hold up the others; the finished TLS streams are then served as TCP ones are, with the same
//! timeouts and graceful shutdown.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use axum::Router;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::TcpListen;

/// How long a client may take to complete the TLS handshake before its connection is closed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Finished handshakes waiting for the server to take them. Small: the server takes them at
/// once; this only smooths bursts.
const READY_QUEUE: usize = 64;

/// Why a certificate or key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: PathBuf, reason: String },
    #[error("the key in {key} does not belong to the certificate in {cert}: {reason}")]
    Mismatch { cert: PathBuf, key: PathBuf, reason: String },
    #[error("TLS configuration: {0}")]
    Config(String),
}

/// The server's certificate, replaceable while serving.
pub struct ReloadableCert {
    cert_path: PathBuf,
    key_path: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for ReloadableCert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReloadableCert")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .finish_non_exhaustive()
    }
}

impl ReloadableCert {
    /// Loads the PEM certificate chain and private key (PKCS#8, PKCS#1 or SEC1).
    pub fn load(cert_path: &Path, key_path: &Path) -> Result<Arc<Self>, TlsError> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let key = read_certified_key(cert_path, key_path, &provider)?;
        Ok(Arc::new(ReloadableCert {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            provider,
            current: RwLock::new(Arc::new(key)),
        }))
    }

    /// Reads the files again; on success new handshakes use the new certificate, on failure
    /// the current one stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        let key = read_certified_key(&self.cert_path, &self.key_path, &self.provider)?;
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(key);
        Ok(())
    }

    /// The rustls configuration that serves this certificate: HTTP/2 and HTTP/1.1 by ALPN.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        resolver_config(&self.provider, self.clone(), &[])
    }
}

/// A rustls server configuration whose certificates come from `resolver`, offering HTTP/2 and
/// HTTP/1.1 by ALPN, then `extra_alpn` (ACME's challenge protocol: last, so that a client that
/// offers it alongside HTTP gets HTTP).
pub(crate) fn resolver_config(
    provider: &Arc<CryptoProvider>,
    resolver: Arc<dyn ResolvesServerCert>,
    extra_alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = [b"h2".as_slice(), b"http/1.1"].iter().chain(extra_alpn).map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}

impl ResolvesServerCert for ReloadableCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(|e| e.into_inner()).clone())
    }
}

fn read_certified_key(cert_path: &Path, key_path: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let file_error = |path: &Path, reason: String| TlsError::File { path: path.to_owned(), reason };
    let cert_pem = std::fs::read(cert_path).map_err(|e| file_error(cert_path, e.to_string()))?;
    let chain = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(cert_path, format!("not a PEM certificate chain ({e})")))?;
    if chain.is_empty() {
        return Err(file_error(cert_path, "holds no certificate".into()));
    }
    let key_pem = std::fs::read(key_path).map_err(|e| file_error(key_path, e.to_string()))?;
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| file_error(key_path, format!("not a PEM private key ({e})")))?;
    CertifiedKey::from_der(chain, key, provider).map_err(|e| TlsError::Mismatch {
        cert: cert_path.to_owned(),
        key: key_path.to_owned(),
        reason: e.to_string(),
    })
}

/// The certificate the configuration names, if any (`http.tls_cert` and `http.tls_key`).
pub fn from_config(http: &crate::config::HttpConfig) -> Result<Option<Arc<ReloadableCert>>, TlsError> {
    match (http.tls_cert.trim(), http.tls_key.trim()) {
        ("", "") => Ok(None),
        ("", _) | (_, "") => Err(TlsError::Config("http.tls_cert and http.tls_key must be set together".into())),
        (cert, key) => ReloadableCert::load(Path::new(cert), Path::new(key)).map(Some),
    }
}

/// Reloads the certificate whenever the process gets SIGHUP, for as long as the process runs.
#[cfg(unix)]
pub fn reload_on_sighup(cert: Arc<ReloadableCert>) -> std::io::Result<()> {
    let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
    tokio::spawn(async move {
        while hangup.recv().await.is_some() {
            match cert.reload() {
                Ok(()) => tracing::info!(cert = %cert.cert_path.display(), "TLS certificate reloaded"),
                Err(e) => tracing::error!(error = %e, "TLS certificate not reloaded; still serving the previous one"),
            }
        }
    });
    Ok(())
}

/// Serves `app` over TLS on `listener` until `shutdown` resolves, then finishes requests in
/// flight: `crate::serve_with` with a TLS handshake in front.
pub async fn serve_tls(
    listener: impl TcpListen,
    app: Router,
    cert: Arc<ReloadableCert>,
    timeouts: crate::Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_config(listener, app, cert.server_config(), timeouts, shutdown).await
}

/// Serves `app` over TLS with the certificate that `acme` obtains and renews (`[http.acme]`),
/// answering the CA's TLS-ALPN-01 validation on the same listener. `acme`'s renewal loop is the
/// caller's to spawn ([`crate::acme::Acme::run`]).
pub async fn serve_acme(
    listener: impl TcpListen,
    app: Router,
    acme: Arc<crate::acme::Acme>,
    timeouts: crate::Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with_config(listener, app, acme.server_config(), timeouts, shutdown).await
}

async fn serve_with_config(
    listener: impl TcpListen,
    app: Router,
    config: Result<Arc<ServerConfig>, TlsError>,
    timeouts: crate::Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = config.map_err(std::io::Error::other)?;
    let listener = TlsListener::new(listener, TlsAcceptor::from(config))?;
    crate::connection::serve(listener, app, timeouts, shutdown).await
}

/// Hands the server the TLS streams whose handshake has completed.
struct TlsListener {
    ready: mpsc::Receiver<(TlsStream<TcpStream>, SocketAddr)>,
    local: SocketAddr,
    accepting: tokio::task::JoinHandle<()>,
}

impl TlsListener {
    fn new(listener: impl TcpListen, acceptor: TlsAcceptor) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        let accepting = tokio::spawn(accept_loop(listener, acceptor, tx));
        Ok(TlsListener { ready, local, accepting })
    }
}

impl Drop for TlsListener {
    /// The server drops the listener when shutdown begins: stop accepting, so new connections are
    /// refused while the ones in flight finish.
    fn drop(&mut self) {
        self.accepting.abort();
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(ready) => ready,
            // The accept loop only ends when this listener is dropped; until then, wait.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    mut listener: impl TcpListen,
    acceptor: TlsAcceptor,
    ready: mpsc::Sender<(TlsStream<TcpStream>, SocketAddr)>,
) {
    loop {
        // axum's `Listener` backs off on errors (out of file descriptors and the like).
        let (tcp, address) = listener.accept().await;
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
        let acceptor = acceptor.clone();
        let ready = ready.clone();
        tokio::spawn(async move {
            match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) if stream.get_ref().1.alpn_protocol() == Some(crate::acme::ACME_TLS_ALPN) => {
                    // A CA validating TLS-ALPN-01: the handshake was the answer; there is no HTTP.
                    tracing::debug!(%address, "TLS-ALPN-01 validation handshake answered");
                }
                Ok(Ok(stream)) => {
                    // The server is shutting down when nobody receives any more.
                    let _ = ready.send((stream, address)).await;
                }
                Ok(Err(e)) => tracing::debug!(error = %e, %address, "TLS handshake failed"),
                Err(_) => tracing::debug!(%address, "TLS handshake timed out"),
            }
        });
    }
}
