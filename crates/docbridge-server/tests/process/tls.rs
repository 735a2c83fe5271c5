//! HTTPS (C26): every endpoint answers over TLS with a certificate the test issues, the
//! generated links use the `https` public URL, and a reload (in process, and by SIGHUP to the
//! real binary) serves the new certificate to new connections without dropping open ones.

use crate::support::in_process;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use docbridge_registry::Registry;
use docbridge_server::tls::ReloadableCert;
use docbridge_server::{AppState, BuiltinStorage, setup};
use in_process::Serving;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use reqwest::{Method, StatusCode};
use serde_json::Value;

/// A test CA and the leaf certificates it signs for `127.0.0.1` and `localhost`.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
}

/// One issued leaf: PEM files on disk and the DER the server must present.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Pki {
    fn new() -> Pki {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, "docbridge test CA");
        Pki { ca: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap() }
    }

    fn leaf(&self, name: &str) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        let cert = params.signed_by(&key, &self.ca).unwrap();
        Leaf { cert_pem: cert.pem(), key_pem: key.serialize_pem(), der: cert.der().to_vec() }
    }

    fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(self.ca.pem().as_bytes()).unwrap())
            .tls_info(true)
            .build()
            .unwrap()
    }
}

impl Leaf {
    fn write(&self, dir: &Path) -> (PathBuf, PathBuf) {
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        // Written aside and renamed, as a certificate renewal should: a reload never reads half a file.
        std::fs::write(dir.join("cert.pem.new"), &self.cert_pem).unwrap();
        std::fs::write(dir.join("key.pem.new"), &self.key_pem).unwrap();
        std::fs::rename(dir.join("cert.pem.new"), &cert).unwrap();
        std::fs::rename(dir.join("key.pem.new"), &key).unwrap();
        (cert, key)
    }
}

/// The certificate the server presented on the connection that carried `response`.
fn peer_certificate(response: &reqwest::Response) -> Vec<u8> {
    let info = response.extensions().get::<reqwest::tls::TlsInfo>().expect("TLS info is recorded");
    info.peer_certificate().expect("the server presents a certificate").to_vec()
}

/// An in-process docbridge serving HTTPS on 127.0.0.1.
struct TlsServer {
    base: String,
    key: String,
    cert: Arc<ReloadableCert>,
    dir: tempfile::TempDir,
    serving: Serving,
}

impl TlsServer {
    async fn start(leaf: &Leaf) -> TlsServer {
        TlsServer::start_with(leaf, docbridge_server::Timeouts::default()).await
    }

    async fn start_with(leaf: &Leaf, timeouts: docbridge_server::Timeouts) -> TlsServer {
        let dir = tempfile::tempdir().unwrap();
        let (cert_path, key_path) = leaf.write(dir.path());
        let cert = ReloadableCert::load(&cert_path, &key_path).expect("the issued certificate loads");
        let registry =
            Registry::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("db.sqlite").display())).await.unwrap();
        let docs = dir.path().join("documents");
        std::fs::create_dir_all(&docs).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("https://{}", listener.local_addr().unwrap());
        let credentials = setup::ensure_default_integration(&registry, &base, &docs).await.unwrap().unwrap();
        let settings = docbridge_server::ServerSettings {
            timeouts,
            ..in_process::settings(&base, dir.path(), "docbridge tls tests")
        };
        let state = AppState::new(registry, settings, Arc::new(BuiltinStorage::default())).await.unwrap();
        let router = docbridge_server::router(state);
        let served = cert.clone();
        let serving = Serving::spawn(move |stop| {
            docbridge_server::tls::serve_tls(listener, router, served, timeouts, async move {
                let _ = stop.await;
            })
        });
        TlsServer { base, key: credentials.api_key.unwrap(), cert, dir, serving }
    }

    fn call(
        &self,
        client: &reqwest::Client,
        method: Method,
        endpoint: &str,
        query: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        client
            .request(method, format!("{}/webhooks/default/{endpoint}", self.base))
            .query(query)
            .header("apiKey", &self.key)
            .header("username", "tls@example.com")
    }

    async fn json(&self, client: &reqwest::Client, method: Method, endpoint: &str, query: &[(&str, &str)]) -> Value {
        let response = self.call(client, method, endpoint, query).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{endpoint} over HTTPS");
        response.json().await.unwrap()
    }

    async fn stop(self) {
        self.serving.stop().await;
    }
}

#[tokio::test]
async fn every_endpoint_answers_over_https() {
    let pki = Pki::new();
    let leaf = pki.leaf("docbridge one");
    let server = TlsServer::start(&leaf).await;
    let client = pki.client();

    let info = server.json(&client, Method::GET, "serviceInfo", &[]).await;
    assert_eq!(info["webhookVersion"], "1.2");
    let folder = server.json(&client, Method::POST, "createFolder", &[("parentId", "/"), ("name", "Secure")]).await;
    let folder_id = folder["id"].as_str().unwrap().to_owned();
    let init =
        server.json(&client, Method::POST, "uploadInit", &[("parentId", &folder_id), ("filename", "hello.txt")]).await;
    let id = init["id"].as_str().unwrap().to_owned();
    let upload =
        server.call(&client, Method::PUT, "upload", &[("id", &id)]).body("hello over TLS").send().await.unwrap();
    assert_eq!(upload.status(), StatusCode::OK);
    let meta = server.json(&client, Method::GET, "metadata", &[("id", &id)]).await;
    assert_eq!(meta["size"], 14);
    let view_link = meta["viewLink"].as_str().unwrap().to_owned();
    let download_link = meta["downloadLink"].as_str().unwrap().to_owned();
    assert!(view_link.starts_with("https://127.0.0.1:"), "links use the https public URL: {view_link}");
    let listing = server.json(&client, Method::GET, "files", &[("parentId", &folder_id)]).await;
    assert_eq!(listing.as_array().unwrap().len(), 1);
    let found = server.json(&client, Method::GET, "search", &[("query", "hello")]).await;
    assert!(found.as_array().unwrap().iter().any(|item| item["id"] == id.as_str()));
    let download = server.call(&client, Method::GET, "download", &[("id", &id)]).send().await.unwrap();
    assert_eq!(download.status(), StatusCode::OK);
    assert_eq!(download.text().await.unwrap(), "hello over TLS");
    let thumbnail = server.call(&client, Method::GET, "thumbnail", &[("id", &id)]).send().await.unwrap();
    assert_eq!(thumbnail.status(), StatusCode::OK);
    assert!(thumbnail.headers()["content-type"].to_str().unwrap().starts_with("image/"));
    let renamed = server.json(&client, Method::PUT, "rename", &[("id", &id), ("name", "renamed.txt")]).await;
    assert_eq!(renamed["status"], "success");
    let archived = server.json(&client, Method::GET, "customAction", &[("name", "archive"), ("id", &id)]).await;
    assert_eq!(archived["status"], "success");
    let deleted = server.json(&client, Method::PUT, "delete", &[("id", &folder_id)]).await;
    assert_eq!(deleted["status"], "success");

    let view = client.get(&view_link).send().await.unwrap();
    assert_eq!(view.status(), StatusCode::OK);
    assert!(view.text().await.unwrap().contains("renamed.txt"));
    let bytes = client.get(&download_link).send().await.unwrap();
    assert_eq!(bytes.status(), StatusCode::OK);
    assert_eq!(bytes.text().await.unwrap(), "hello over TLS");
    for path in ["/healthz", "/readyz", "/metrics", "/openapi.json"] {
        let response = client.get(format!("{}{path}", server.base)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path} over HTTPS");
        assert_eq!(peer_certificate(&response), leaf.der);
    }
    let unknown = client.get(format!("{}/webhooks/default/nothing", server.base)).send().await.unwrap();
    assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
    assert!(unknown.headers().contains_key("x-request-id"));

    // Plain HTTP on the TLS port gets no answer: a request must not leak in clear text.
    let plain =
        reqwest::Client::new().get(format!("{}/healthz", server.base.replacen("https", "http", 1))).send().await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    server.stop().await;
}

#[tokio::test]
async fn a_reload_serves_new_connections_and_keeps_open_ones() {
    let pki = Pki::new();
    let (first, second) = (pki.leaf("docbridge first"), pki.leaf("docbridge second"));
    let server = TlsServer::start(&first).await;
    let dir = tempfile::tempdir().unwrap();

    let kept = pki.client();
    let before = kept.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(peer_certificate(&before), first.der);
    before.bytes().await.unwrap();

    // A broken renewal changes nothing.
    std::fs::write(dir.path().join("junk.pem"), "not a certificate").unwrap();
    let broken = ReloadableCert::load(&dir.path().join("junk.pem"), &dir.path().join("junk.pem"));
    assert!(broken.is_err());
    let (cert_path, key_path) = second.write(dir.path());
    std::fs::write(&key_path, pki.leaf("unrelated").key_pem).unwrap();
    assert!(
        ReloadableCert::load(&cert_path, &key_path).is_err(),
        "a key that does not match the certificate is refused"
    );

    // The real renewal: the server's own files are replaced, then reloaded.
    let server_dir = server.dir.path();
    second.write(server_dir);
    server.cert.reload().expect("the new certificate loads");

    let fresh = pki.client().get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(fresh.status(), StatusCode::OK);
    assert_eq!(peer_certificate(&fresh), second.der, "a new connection gets the new certificate");
    let after = kept.get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(after.status(), StatusCode::OK);
    assert_eq!(
        peer_certificate(&after),
        first.der,
        "the open connection was kept, with the certificate it was opened with"
    );

    // A reload from files that went bad keeps serving the current certificate.
    std::fs::write(server_dir.join("cert.pem"), "garbage").unwrap();
    assert!(server.cert.reload().is_err());
    let still = pki.client().get(format!("{}/healthz", server.base)).send().await.unwrap();
    assert_eq!(peer_certificate(&still), second.der);
    server.stop().await;
}

/// An HTTP/2 frame: type, flags, stream and payload (RFC 9113 §4.1).
struct Frame {
    kind: u8,
    stream: u32,
}

/// The frames in `bytes`, as far as they are whole.
fn frames(mut bytes: &[u8]) -> Vec<Frame> {
    let mut frames = Vec::new();
    while bytes.len() >= 9 {
        let length = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        let stream = u32::from_be_bytes([bytes[5], bytes[6], bytes[7], bytes[8]]) & 0x7fff_ffff;
        frames.push(Frame { kind: bytes[3], stream });
        bytes = &bytes[(9 + length).min(bytes.len())..];
    }
    frames
}

/// A TLS connection to `server` that negotiated HTTP/2 by ALPN, its preface and SETTINGS sent.
async fn h2_connection(pki: &Pki, server: &TlsServer) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    use tokio::io::AsyncWriteExt;
    let mut roots = rustls::RootCertStore::empty();
    roots.add(CertificateDer::from_pem_slice(pki.ca.pem().as_bytes()).unwrap()).unwrap();
    let mut config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let address = server.base.trim_start_matches("https://");
    let tcp = tokio::net::TcpStream::connect(address).await.unwrap();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config)).connect(name, tcp).await.unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "the server speaks HTTP/2");
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await.unwrap();
    // An empty SETTINGS frame.
    tls.write_all(&[0, 0, 0, 4, 0, 0, 0, 0, 0]).await.unwrap();
    tls
}

/// Reads until the server closes the connection; `None` when it was still open after 20 s, far
/// longer than the timeouts these tests configure.
async fn read_until_closed(reader: &mut (impl tokio::io::AsyncRead + Unpin)) -> Option<Vec<u8>> {
    use tokio::io::AsyncReadExt;
    let mut received = Vec::new();
    let read = async {
        let mut chunk = [0u8; 4096];
        loop {
            match reader.read(&mut chunk).await {
                Ok(0) | Err(_) => break,
                Ok(n) => received.extend_from_slice(&chunk[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read).await.ok()?;
    Some(received)
}

#[tokio::test]
async fn idle_and_silent_http2_connections_are_closed() {
    use tokio::io::AsyncWriteExt;
    const HEADERS: u8 = 0x1;
    const GOAWAY: u8 = 0x7;
    let pki = Pki::new();
    let timeouts = docbridge_server::Timeouts {
        header_read: Duration::from_secs(1),
        idle: Duration::from_secs(1),
        ..docbridge_server::Timeouts::default()
    };
    let server = TlsServer::start_with(&pki.leaf("docbridge h2"), timeouts).await;

    // Connected over TLS and HTTP/2, and no request: closed.
    let mut silent = h2_connection(&pki, &server).await;
    let received = read_until_closed(&mut silent).await.expect("a connection without a request is closed");
    assert!(frames(&received).iter().all(|f| f.kind != HEADERS), "and nothing was answered");

    // One request, answered; then nothing: closed after a GOAWAY.
    let mut idle = h2_connection(&pki, &server).await;
    // HPACK (RFC 7541): :method GET, :scheme https (static table 2 and 7), :path /healthz and
    // :authority 127.0.0.1 as literals with the static table's names 4 and 1.
    let mut block = vec![0x82, 0x87, 0x04, 8];
    block.extend_from_slice(b"/healthz");
    block.extend_from_slice(&[0x01, 9]);
    block.extend_from_slice(b"127.0.0.1");
    // HEADERS with END_STREAM and END_HEADERS, stream 1.
    let length = u8::try_from(block.len()).unwrap();
    idle.write_all(&[0, 0, length, HEADERS, 0x5, 0, 0, 0, 1]).await.unwrap();
    idle.write_all(&block).await.unwrap();
    let received = read_until_closed(&mut idle).await.expect("an idle HTTP/2 connection is closed");
    let frames = frames(&received);
    assert!(frames.iter().any(|f| f.kind == HEADERS && f.stream == 1), "the request was answered");
    assert!(frames.iter().any(|f| f.kind == GOAWAY), "the client was told with a GOAWAY");
    server.stop().await;
}

/// The real binary, configured with a certificate through the environment.
struct Process {
    child: Child,
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn sighup_reloads_the_certificate_of_the_running_binary() {
    let pki = Pki::new();
    let (first, second) = (pki.leaf("binary first"), pki.leaf("binary second"));
    let dir = tempfile::tempdir().unwrap();
    let tls_dir = dir.path().join("tls");
    std::fs::create_dir_all(&tls_dir).unwrap();
    let (cert, key) = first.write(&tls_dir);
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(env!("CARGO_BIN_EXE_docbridge"))
        .args([
            "--data-dir",
            dir.path().join("data").to_str().unwrap(),
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
        ])
        .env("DOCBRIDGE_HTTP__TLS_CERT", &cert)
        .env("DOCBRIDGE_HTTP__TLS_KEY", &key)
        .env("DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS", "0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("docbridge starts");
    let mut process = Process { child };
    let base = format!("https://127.0.0.1:{port}");
    let served = |expected: Vec<u8>| {
        let (pki, base) = (&pki, base.clone());
        async move {
            for _ in 0..600 {
                if let Ok(response) = pki.client().get(format!("{base}/healthz")).send().await
                    && peer_certificate(&response) == expected
                {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            false
        }
    };
    assert!(served(first.der.clone()).await, "the binary serves HTTPS with the configured certificate");
    // The first start prints the values for Workfront with the https URL.
    let mut printed = String::new();
    use std::io::BufRead;
    let stdout = process.child.stdout.take().unwrap();
    for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
        printed.push_str(&line);
        if line.contains("Keep the ApiKey") {
            break;
        }
    }
    assert!(printed.contains(&format!("Base API URL:        https://127.0.0.1:{port}/webhooks/default")), "{printed}");

    second.write(&tls_dir);
    let status = Command::new("kill").args(["-HUP", &process.child.id().to_string()]).status().unwrap();
    assert!(status.success());
    assert!(served(second.der.clone()).await, "after SIGHUP new connections get the new certificate");
    assert!(process.child.try_wait().unwrap().is_none(), "SIGHUP does not stop the server");
}

#[test]
fn both_or_neither_of_the_tls_settings() {
    let env = |pairs: &[(&str, &str)]| pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let load = |pairs: &[(&str, &str)]| {
        docbridge_server::config::Config::load(None, &env(pairs), &Default::default()).unwrap()
    };
    assert!(docbridge_server::tls::from_config(&load(&[]).http).unwrap().is_none());
    let half = load(&[("DOCBRIDGE_HTTP__TLS_CERT", "/nonexistent/cert.pem")]);
    assert!(docbridge_server::tls::from_config(&half.http).unwrap_err().to_string().contains("together"));
    let missing = load(&[
        ("DOCBRIDGE_HTTP__TLS_CERT", "/nonexistent/cert.pem"),
        ("DOCBRIDGE_HTTP__TLS_KEY", "/nonexistent/key.pem"),
    ]);
    assert!(
        docbridge_server::tls::from_config(&missing.http).unwrap_err().to_string().contains("/nonexistent/cert.pem")
    );
}

/// Automatic HTTPS (`[http.acme]`, issue #15): an in-process docbridge whose certificate comes
/// from an ACME CA, with the `Acme` handle the tests drive.
mod acme {
    use super::*;
    use docbridge_server::acme::{Acme, AcmeChallenge, AcmeConfig};

    /// The name the tests' certificates are for; every client resolves it to 127.0.0.1.
    const DOMAIN: &str = "docs.docbridge-acme.example.com";
    /// The contact address of the tests' ACME accounts.
    const CONTACT: &str = "ops@docbridge-acme.example.com";

    pub(super) struct AcmeServer {
        pub(super) acme: Arc<Acme>,
        pub(super) base: String,
        pub(super) address: std::net::SocketAddr,
        pub(super) config: AcmeConfig,
        pub(super) dir: tempfile::TempDir,
        /// Subscribed before the renewal loop starts, so that no attempt goes unseen.
        attempts: tokio::sync::watch::Receiver<u64>,
        serving: Serving,
        /// The plain-HTTP listener (`http_listen`), when the configuration has one.
        http: Option<(std::net::SocketAddr, Serving)>,
        renewing: tokio::task::JoinHandle<()>,
    }

    pub(super) fn config(directory_url: &str, contact: &str, directory_ca_file: &str) -> AcmeConfig {
        AcmeConfig {
            enabled: true,
            contact: contact.to_owned(),
            directory_url: directory_url.to_owned(),
            cache_dir: String::new(),
            extra_domains: Vec::new(),
            directory_ca_file: directory_ca_file.to_owned(),
            challenge: AcmeChallenge::TlsAlpn01,
            http_listen: String::new(),
        }
    }

    impl AcmeServer {
        /// Serves on `listen` with automatic HTTPS under `config`, in the data directory `dir`
        /// (whose cache may already hold a certificate).
        pub(super) async fn start(
            listen: &str,
            domain: &str,
            config: AcmeConfig,
            dir: tempfile::TempDir,
        ) -> AcmeServer {
            let listener = tokio::net::TcpListener::bind(listen).await.expect("the challenge port is free");
            let address = listener.local_addr().unwrap();
            let base = format!("https://{domain}:{}", address.port());
            let acme = Acme::new(&config, &base, dir.path()).expect("ACME starts");
            let registry = Registry::connect(&format!("sqlite://{}?mode=rwc", dir.path().join("db.sqlite").display()))
                .await
                .unwrap();
            let settings = in_process::settings(&base, dir.path(), "docbridge acme tests");
            let state = AppState::new(registry, settings, Arc::new(BuiltinStorage::default())).await.unwrap();
            let router = docbridge_server::router(state.with_acme(acme.clone()));
            let served = acme.clone();
            let serving = Serving::spawn(move |stop| {
                docbridge_server::tls::serve_acme(listener, router, served, Default::default(), async move {
                    let _ = stop.await;
                })
            });
            let http = match config.http_listen().unwrap() {
                Some(http_listen) => {
                    let listener = tokio::net::TcpListener::bind(http_listen).await.expect("the HTTP-01 port is free");
                    let address = listener.local_addr().unwrap();
                    let router = acme.http_router();
                    let serving = Serving::spawn(move |stop| {
                        docbridge_server::serve_with(listener, router, Default::default(), async move {
                            let _ = stop.await;
                        })
                    });
                    Some((address, serving))
                }
                None => None,
            };
            let attempts = acme.attempts();
            let renewing = tokio::spawn(acme.clone().run());
            AcmeServer { acme, base, address, config, dir, attempts, serving, http, renewing }
        }

        /// [`AcmeServer::start`] in a new data directory, with no certificate yet.
        pub(super) async fn start_fresh(listen: &str, domain: &str, config: AcmeConfig) -> AcmeServer {
            Self::start(listen, domain, config, tempfile::tempdir().unwrap()).await
        }

        /// Waits for the next attempt to obtain a certificate to end.
        pub(super) async fn next_attempt(&mut self) {
            // A bound, not a timing assertion: a CA that never answers fails the test instead
            // of hanging it.
            tokio::time::timeout(Duration::from_secs(180), self.attempts.changed())
                .await
                .expect("an attempt ended within 3 minutes")
                .unwrap();
        }

        /// Waits for the next attempt, which must obtain the `count`-th certificate.
        pub(super) async fn obtains(&mut self, count: u64) {
            self.next_attempt().await;
            let status = self.acme.status();
            assert_eq!((status.obtained, status.last_error.as_deref()), (count, None), "{status:?}");
        }

        /// From a fresh start without a certificate, waits for the first one; then `/readyz`,
        /// asked over HTTPS by a client that trusts `root` (PEM), must report it. The client and
        /// the certificate it was served. Call it with no await since the server started: its
        /// first check is that a fresh start has no certificate, and one may come at any await.
        pub(super) async fn first_certificate(&mut self, domain: &str, root: &str) -> (reqwest::Client, Vec<u8>) {
            assert!(self.acme.status().not_after.is_none(), "a fresh start has no certificate");
            self.obtains(1).await;
            let client = self.client(domain, root);
            let ready =
                client.get(format!("{}/readyz", self.base)).send().await.expect("HTTPS with the CA's certificate");
            assert_eq!(ready.status(), StatusCode::OK);
            let served = peer_certificate(&ready);
            let body = ready.text().await.unwrap();
            assert!(body.starts_with(&format!("ready\nacme: certificate for {domain} expires")), "{body}");
            (client, served)
        }

        /// Waits for the next attempt, which must fail, the `failures`-th in a row, with an error
        /// holding each of `says`, and put the one after off for more than `wait`.
        pub(super) async fn fails(&mut self, failures: u32, says: &[&str], wait: chrono::Duration) {
            self.next_attempt().await;
            let status = self.acme.status();
            let error = status.last_error.clone().unwrap_or_default();
            assert!(says.iter().all(|said| error.contains(said)), "{says:?}: {status:?}");
            assert_eq!(status.consecutive_failures, failures, "{status:?}");
            assert!(status.next_attempt.is_some_and(|at| at > chrono::Utc::now() + wait), "{status:?}");
        }

        /// A client that resolves the test name to this server and trusts `root` (PEM).
        pub(super) fn client(&self, domain: &str, root: &str) -> reqwest::Client {
            reqwest::Client::builder()
                .resolve(domain, self.address)
                .add_root_certificate(reqwest::Certificate::from_pem(root.as_bytes()).unwrap())
                .tls_info(true)
                .http1_only()
                .build()
                .unwrap()
        }

        pub(super) async fn stop(self) -> tempfile::TempDir {
            self.renewing.abort();
            self.serving.stop().await;
            if let Some((_, http)) = self.http {
                http.stop().await;
            }
            self.dir
        }
    }

    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// Pebble (`.ci/pebble.sh`), when `.ci/run` started one.
    struct Pebble {
        directory: String,
        ca_file: String,
        management: String,
        tls_port: u16,
        http_port: u16,
    }

    impl Pebble {
        /// Pebble's settings, or `None` after saying that the calling test is skipped.
        fn from_env() -> Option<Pebble> {
            let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
            let found = (|| {
                Some(Pebble {
                    directory: var("DOCBRIDGE_TEST_PEBBLE_DIRECTORY")?,
                    ca_file: var("DOCBRIDGE_TEST_PEBBLE_CA")?,
                    management: var("DOCBRIDGE_TEST_PEBBLE_MANAGEMENT")?,
                    tls_port: var("DOCBRIDGE_TEST_PEBBLE_TLS_PORT")?.parse().ok()?,
                    http_port: var("DOCBRIDGE_TEST_PEBBLE_HTTP_PORT")?.parse().ok()?,
                })
            })();
            if found.is_none() {
                // A test's thread is named after the test.
                let test = std::thread::current().name().unwrap_or("this test").to_owned();
                eprintln!("skipping {test}: no Pebble (DOCBRIDGE_TEST_PEBBLE_* unset; .ci/pebble.sh start sets them)");
            }
            found
        }

        /// Automatic HTTPS from this Pebble for `contact`, over TLS-ALPN-01.
        fn config(&self, contact: &str) -> AcmeConfig {
            config(&self.directory, contact, &self.ca_file)
        }

        /// A server for `domain` with automatic HTTPS from this Pebble over HTTP-01, its
        /// plain-HTTP listener on `http_listen` and HTTPS on any port (the CA never looks there
        /// with HTTP-01).
        async fn serve_http_01(&self, domain: &str, http_listen: String) -> AcmeServer {
            let config = AcmeConfig { challenge: AcmeChallenge::Http01, http_listen, ..self.config(CONTACT) };
            AcmeServer::start_fresh("127.0.0.1:0", domain, config).await
        }

        /// The root Pebble issues under: made at its start, served by its management interface.
        async fn root(&self) -> String {
            let ca = std::fs::read(&self.ca_file).unwrap();
            let client = reqwest::Client::builder()
                .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
                .build()
                .unwrap();
            let response = client.get(format!("{}/roots/0", self.management)).send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
            response.text().await.unwrap()
        }
    }

    #[tokio::test]
    async fn a_certificate_is_obtained_served_renewed_and_cached() {
        let Some(pebble) = Pebble::from_env() else { return };
        let config = pebble.config(CONTACT);
        let listen = format!("127.0.0.1:{}", pebble.tls_port);
        // A client that trusts Pebble's root reaches the public name over HTTPS. Asked before
        // the server starts: once it runs, its first certificate may come at any await.
        let root = pebble.root().await;
        let mut server = AcmeServer::start_fresh(&listen, DOMAIN, config).await;
        let (kept, first_der) = server.first_certificate(DOMAIN, &root).await;

        // A forced renewal swaps the certificate for new connections; the open one stays.
        server.acme.renew_now();
        server.obtains(2).await;
        let fresh = server.client(DOMAIN, &root).get(format!("{}/healthz", server.base)).send().await.unwrap();
        assert_eq!(fresh.status(), StatusCode::OK);
        assert_ne!(peer_certificate(&fresh), first_der, "a new connection gets the renewed certificate");
        let again = kept.get(format!("{}/healthz", server.base)).send().await.unwrap();
        assert_eq!(again.status(), StatusCode::OK);
        assert_eq!(peer_certificate(&again), first_der, "the open connection was kept, with its certificate");
        let renewed_der = peer_certificate(&fresh);

        // The certificate and account are cached privately, and a restart serves the cached
        // certificate at once without asking the CA (it is not due).
        let public_url = server.base.clone();
        let config = server.config.clone();
        let dir = server.stop().await;
        let cache = config.cache_dir(dir.path());
        assert_eq!(mode(&cache), 0o700);
        let file = config.certificate_file(&public_url, dir.path()).unwrap();
        assert_eq!(mode(&file), 0o600);
        for entry in std::fs::read_dir(&cache).unwrap() {
            assert_eq!(mode(&entry.unwrap().path()), 0o600, "every cached file is private");
        }
        let restarted = AcmeServer::start(&listen, DOMAIN, config, dir).await;
        let status = restarted.acme.status();
        assert!(status.not_after.is_some(), "{status:?}");
        let served = restarted.client(DOMAIN, &root).get(format!("{}/healthz", restarted.base)).send().await.unwrap();
        assert_eq!(peer_certificate(&served), renewed_der, "the cached certificate is served after a restart");
        assert!(status.next_attempt.is_none_or(|at| at > chrono::Utc::now() + chrono::Duration::days(1)), "{status:?}");
        restarted.stop().await;
    }

    #[tokio::test]
    async fn http_01_obtains_a_certificate_and_plain_http_redirects_to_https() {
        let Some(pebble) = Pebble::from_env() else { return };
        // Its own name: Pebble validates it on the HTTP-01 port only, whatever the other tests do.
        let domain = "http01.docbridge-acme.example.com";
        let root = pebble.root().await;
        let mut server = pebble.serve_http_01(domain, format!("127.0.0.1:{}", pebble.http_port)).await;
        server.first_certificate(domain, &root).await;

        // Plain HTTP: every request goes to the same path and query on public_url, whatever
        // Host it names, with its method kept (308); unknown challenge tokens are not found.
        let (http_address, _) = server.http.as_ref().expect("the plain-HTTP listener runs");
        let plain = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
        let http_base = format!("http://{http_address}");
        for (method, path) in [
            (Method::GET, "/"),
            (Method::GET, "/webhooks/default/metadata?id=%2F&x=1"),
            (Method::POST, "/webhooks/default/uploadInit?parentId=%2F"),
        ] {
            let response = plain
                .request(method.clone(), format!("{http_base}{path}"))
                .header("host", "evil.example.net")
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT, "{method} {path}");
            let location = response.headers()["location"].to_str().unwrap().to_owned();
            assert_eq!(location, format!("{}{path}", server.base), "{method} {path}");
        }
        let unknown = plain.get(format!("{http_base}/.well-known/acme-challenge/not-a-token")).send().await.unwrap();
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        server.stop().await;
    }

    #[tokio::test]
    async fn a_name_that_does_not_lead_here_is_reported_with_what_to_check() {
        let Some(pebble) = Pebble::from_env() else { return };
        // Pebble checks port http_port of the name's address; this server's plain-HTTP listener
        // is elsewhere, as when port 80 of the name reaches another machine.
        let domain = "elsewhere.docbridge-acme.example.com";
        let mut server = pebble.serve_http_01(domain, "127.0.0.1:0".into()).await;
        server.next_attempt().await;
        let status = server.acme.status();
        let error = status.last_error.clone().unwrap_or_default();
        assert!(
            error.starts_with(&format!("the ACME CA could not validate {domain}"))
                && error.contains(&format!("check that {domain} resolves to this server and that port 80 there reaches docbridge's [http.acme] http_listen address")),
            "{status:?}"
        );
        assert_eq!((status.consecutive_failures, status.not_after), (1, None), "{status:?}");
        server.stop().await;
    }

    #[tokio::test]
    async fn a_contact_the_ca_refuses_is_reported_and_retried_later() {
        let Some(pebble) = Pebble::from_env() else { return };
        // Shaped like an address, so the configuration accepts it; the CA does not (Pebble, like
        // Let's Encrypt, refuses addresses that are not ASCII).
        let config = pebble.config("opś@docbridge-acme.example.com");
        // Any port: the CA refuses the account before it would validate anything.
        let mut server = AcmeServer::start_fresh("127.0.0.1:0", DOMAIN, config).await;
        let refused = ["refused the contact address", "set [http.acme] contact"];
        server.fails(1, &refused, chrono::Duration::seconds(30)).await;
        server.stop().await;
    }

    /// The binary with automatic HTTPS on (the CA unreachable: nothing here gets that far),
    /// HTTPS on `listen` and the plain-HTTP listener on `http_listen`, standard error piped.
    fn acme_binary(dir: &Path, listen: &str, challenge: &str, http_listen: &str) -> Process {
        let child = Command::new(env!("CARGO_BIN_EXE_docbridge"))
            .args(["--data-dir", dir.to_str().unwrap(), "serve", "--listen", listen])
            .env("DOCBRIDGE_PUBLIC_URL", format!("https://{DOMAIN}"))
            .env("DOCBRIDGE_HTTP__ACME__ENABLED", "true")
            .env("DOCBRIDGE_HTTP__ACME__CONTACT", "ops@docbridge-acme.example.com")
            .env("DOCBRIDGE_HTTP__ACME__DIRECTORY_URL", "https://127.0.0.1:1/directory")
            .env("DOCBRIDGE_HTTP__ACME__CHALLENGE", challenge)
            .env("DOCBRIDGE_HTTP__ACME__HTTP_LISTEN", http_listen)
            .env("DOCBRIDGE_METRICS__LISTEN", "")
            .env("DOCBRIDGE_DOCUMENTS__RESCAN_INTERVAL_SECS", "0")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("docbridge starts");
        Process { child }
    }

    /// Standard error's lines until one contains `until` or the stream ends (the process
    /// exited), read on a thread and bounded: a process that neither logs it nor exits fails
    /// the test instead of hanging it.
    fn stderr_until(process: &mut Process, until: &'static str) -> Vec<String> {
        use std::io::BufRead;
        let stderr = process.child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            for line in std::io::BufReader::new(stderr).lines().map_while(Result::ok) {
                let done = line.contains(until);
                lines.push(line);
                if done {
                    break;
                }
            }
            let _ = tx.send(lines);
        });
        rx.recv_timeout(Duration::from_secs(120)).expect("docbridge logged or exited within 2 minutes")
    }

    #[tokio::test]
    async fn a_taken_port_is_one_clear_line() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let taken = taken.local_addr().unwrap().to_string();
        let free = || std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().to_string();

        // HTTP-01 cannot work without its port: no start, one line naming the setting.
        let dir = tempfile::tempdir().unwrap();
        let mut process = acme_binary(dir.path(), &free(), "http-01", &taken);
        let lines = stderr_until(&mut process, "never logged");
        let status = process.child.wait().unwrap();
        assert!(!status.success());
        let errors: Vec<&String> = lines.iter().filter(|l| l.contains("cannot listen")).collect();
        assert_eq!(errors.len(), 1, "{lines:#?}");
        assert!(
            errors[0].starts_with(&format!("error: cannot listen on {taken}: another program already uses that port"))
                && errors[0].contains("set [http.acme] http_listen to another address"),
            "{lines:#?}"
        );
        assert!(!lines.iter().any(|l| l.contains("panicked")), "{lines:#?}");

        // The HTTPS listener's port taken: the same, naming [http] listen.
        let mut process = acme_binary(dir.path(), &taken, "http-01", &free());
        let lines = stderr_until(&mut process, "never logged");
        assert!(!process.child.wait().unwrap().success());
        let errors: Vec<&String> = lines.iter().filter(|l| l.contains("cannot listen")).collect();
        assert_eq!(errors.len(), 1, "{lines:#?}");
        assert!(errors[0].contains("set [http] listen to another address"), "{lines:#?}");

        // TLS-ALPN-01 needs no port 80: one error line, and docbridge serves on.
        let mut process = acme_binary(dir.path(), &free(), "tls-alpn-01", &taken);
        let lines = stderr_until(&mut process, "docbridge listening");
        assert!(lines.last().is_some_and(|l| l.contains("docbridge listening")), "{lines:#?}");
        let errors: Vec<&String> = lines.iter().filter(|l| l.contains("cannot listen")).collect();
        assert_eq!(errors.len(), 1, "{lines:#?}");
        assert!(
            errors[0].contains("set [http.acme] http_listen to another address")
                && errors[0].contains("http:// addresses are not redirected"),
            "{lines:#?}"
        );
        assert!(process.child.try_wait().unwrap().is_none(), "docbridge still runs");
    }

    /// A certificate for `domain` signed by the test CA, valid from `days_ago` days ago for
    /// `days_left` more days, as the PEM the ACME cache holds (key, then chain).
    fn cached_pem(pki: &Pki, domain: &str, days_ago: i64, days_left: i64) -> (String, Vec<u8>) {
        use chrono::Datelike;
        let date = |d: chrono::DateTime<chrono::Utc>| rcgen::date_time_ymd(d.year(), d.month() as u8, d.day() as u8);
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![domain.to_owned()]).unwrap();
        params.not_before = date(chrono::Utc::now() - chrono::Duration::days(days_ago));
        params.not_after = date(chrono::Utc::now() + chrono::Duration::days(days_left));
        let cert = params.signed_by(&key, &pki.ca).unwrap();
        (format!("{}{}", key.serialize_pem(), cert.pem()), cert.der().to_vec())
    }

    #[tokio::test]
    async fn an_unreachable_ca_keeps_the_cached_certificate_served_and_backs_off() {
        let pki = Pki::new();
        // A name of its own: the metrics are one registry per process, shared with the other
        // tests of this binary, and one of them sets the shared name's failure gauge to 0.
        let domain = "cached.docbridge-acme.example.com";
        // Port 1 on loopback: nobody listens, the connection is refused.
        let config = config("https://127.0.0.1:1/directory", CONTACT, "");
        let dir = tempfile::tempdir().unwrap();
        // A certificate well into its last third: due for renewal at start.
        let (pem, der) = cached_pem(&pki, domain, 60, 10);
        // The port is only known once bound, and the cache file does not depend on it.
        let file = config.certificate_file(&format!("https://{domain}"), dir.path()).unwrap();
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(&file, &pem).unwrap();

        let mut server = AcmeServer::start("127.0.0.1:0", domain, config, dir).await;
        let unreachable =
            ["cannot reach the ACME directory https://127.0.0.1:1/directory", "check [http.acme] directory_url"];
        server.fails(1, &unreachable, chrono::Duration::seconds(30)).await;

        // Still serving the certificate it had, and saying why it is not renewed.
        let ca_pem = pki.ca.pem();
        let client = server.client(domain, &ca_pem);
        let ready = client.get(format!("{}/readyz", server.base)).send().await.unwrap();
        assert_eq!(ready.status(), StatusCode::OK);
        assert_eq!(peer_certificate(&ready), der);
        let body = ready.text().await.unwrap();
        assert!(body.contains("1 attempt(s) failed") && body.contains("cannot reach the ACME directory"), "{body}");
        let metrics = client.get(format!("{}/metrics", server.base)).send().await.unwrap().text().await.unwrap();
        assert!(metrics.contains(&format!("docbridge_acme_renewal_failures{{domain=\"{domain}\"}} 1")), "{metrics}");
        assert!(
            metrics.contains(&format!("docbridge_tls_certificate_expiry_timestamp_seconds{{domain=\"{domain}\"}}")),
            "{metrics}"
        );

        // A forced attempt fails alike, and the wait doubles.
        server.acme.renew_now();
        server.fails(2, &[], chrono::Duration::seconds(90)).await;
        let still = client.get(format!("{}/healthz", server.base)).send().await.unwrap();
        assert_eq!(peer_certificate(&still), der);
        server.stop().await;
    }
}
