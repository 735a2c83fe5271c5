//! An in-process docbridge for the HTTP test files: the settings such a server runs with, serving
//! an `AppState` on 127.0.0.1 until stopped, and the usual whole: a temporary data directory
//! (`db.sqlite`, `documents/`, `cache/`) with the default ApiKey integration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use docbridge_documents::LibrarySettings;
use docbridge_registry::Registry;
use docbridge_server::{AppState, BuiltinStorage, ServerSettings, setup};
use tempfile::TempDir;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The settings of a test server at `base` that caches under `dir/cache`: generous limits, so
/// that only the test that is about a limit meets it (it sets its own with `..settings(...)`).
pub fn settings(base: &str, dir: &Path, publisher: &str) -> ServerSettings {
    ServerSettings {
        public_url: base.to_owned(),
        publisher: publisher.to_owned(),
        link_ttl: chrono::Duration::hours(1),
        library: Arc::new(LibrarySettings { cache_dir: dir.join("cache"), ..LibrarySettings::default() }),
        request_timeout: Duration::from_secs(120),
        max_concurrent_uploads: 16,
        max_auth_failures_per_minute: 10_000,
        trusted_proxies: Default::default(),
        timeouts: docbridge_server::Timeouts::default(),
    }
}

/// The registry of a test data directory: `dir/db.sqlite`, created if missing.
pub async fn registry(dir: &Path) -> Registry {
    Registry::connect(&format!("sqlite://{}?mode=rwc", dir.join("db.sqlite").display())).await.expect("registry opens")
}

/// A listener on 127.0.0.1 at a free port, and its `http://` URL.
pub async fn listen() -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("a free port");
    let base = format!("http://{}", listener.local_addr().expect("bound"));
    (listener, base)
}

/// A docbridge with the OAuth2 authorization server (`oauth`) over `registry`, caching under
/// `dir/cache`, served on 127.0.0.1 until the test ends; answers its `http://` URL.
pub async fn serve_oauth(registry: &Registry, dir: &Path, oauth: docbridge_auth::OAuthSettings) -> String {
    let (listener, base) = listen().await;
    let state =
        AppState::new(registry.clone(), settings(&base, dir, "docbridge tests"), Arc::new(BuiltinStorage::default()))
            .await
            .expect("state");
    let app = docbridge_server::oauth::configure(docbridge_server::router(state), oauth);
    tokio::spawn(docbridge_server::serve(listener, app, std::future::pending()));
    base
}

/// A server running in this process until [`Serving::stop`] (or until the test ends).
pub struct Serving {
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<std::io::Result<()>>>,
}

impl Serving {
    /// Serves `state` on `listener` with the real router and the state's timeouts.
    pub fn start(listener: tokio::net::TcpListener, state: AppState) -> Serving {
        let timeouts = state.settings.timeouts;
        Serving::spawn(|stop| {
            docbridge_server::serve_with(listener, docbridge_server::router(state), timeouts, async move {
                let _ = stop.await;
            })
        })
    }

    /// Any server task, shut down by [`Serving::stop`] through the future handed to it.
    pub fn spawn<F>(serve: impl FnOnce(oneshot::Receiver<()>) -> F) -> Serving
    where
        F: Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel::<()>();
        Serving { shutdown: Some(tx), task: Some(tokio::spawn(serve(rx))) }
    }

    /// Stops accepting, lets requests in flight finish, and checks the server ended cleanly.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task").expect("server stops cleanly");
        }
    }
}

/// A docbridge serving the `default` integration from `dir/documents`, with its registry in
/// `dir/db.sqlite`.
pub struct InProcess {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The default integration's Base API URL.
    pub api: String,
    /// The default integration's ApiKey.
    pub key: String,
    pub dir: TempDir,
    pub registry: Registry,
    pub state: AppState,
    pub serving: Serving,
}

impl InProcess {
    /// Starts a server whose settings are [`settings`] changed by `adjust`.
    pub async fn start(publisher: &str, adjust: impl FnOnce(&mut ServerSettings)) -> InProcess {
        InProcess::start_with(publisher, adjust, |state| state).await
    }

    /// As [`InProcess::start`], with the state changed by `adjust_state` before it is served
    /// (e.g. `AppState::with_admin_token`).
    pub async fn start_with(
        publisher: &str,
        adjust: impl FnOnce(&mut ServerSettings),
        adjust_state: impl FnOnce(AppState) -> AppState,
    ) -> InProcess {
        let dir = tempfile::tempdir().expect("temporary directory");
        let registry = registry(dir.path()).await;
        let documents = dir.path().join("documents");
        std::fs::create_dir_all(&documents).expect("documents folder");
        let (listener, base) = listen().await;
        let credentials = setup::ensure_default_integration(&registry, &base, &documents)
            .await
            .expect("default integration")
            .expect("a fresh registry");
        let mut settings = settings(&base, dir.path(), publisher);
        adjust(&mut settings);
        let state = adjust_state(
            AppState::new(registry.clone(), settings, Arc::new(BuiltinStorage::default())).await.expect("state"),
        );
        let serving = Serving::start(listener, state.clone());
        InProcess {
            api: format!("{base}/webhooks/default"),
            base,
            key: credentials.api_key.expect("an ApiKey integration"),
            dir,
            registry,
            state,
            serving,
        }
    }

    /// The default integration's documents folder.
    pub fn documents(&self) -> PathBuf {
        self.dir.path().join("documents")
    }
}
