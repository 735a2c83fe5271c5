//! Serving your own document store through docbridge: a `StorageFactory` that hands every
//! integration an in-memory library pre-filled by the program, then the stock router.
//!
//! Run with `cargo run -p docbridge-server --example custom_store`, then call
//! `http://127.0.0.1:8090/webhooks/catalogue/files` with the printed ApiKey.

use std::sync::Arc;

use docbridge_registry::{AuthType, DefaultRole, Integration, Registry};
use docbridge_server::setup::{AddIntegration, add_integration};
use docbridge_server::{AppState, ServerSettings, StorageFactory};
use docbridge_storage::{MemoryStorage, Storage, StorageError, StoragePath, WriteMode};

/// Every integration gets the same store: a stand-in for a database, an archive, an API...
struct Catalogue(Arc<MemoryStorage>);

impl StorageFactory for Catalogue {
    fn open(&self, _integration: &Integration) -> Result<Arc<dyn Storage>, StorageError> {
        Ok(self.0.clone())
    }
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(MemoryStorage::new());
    let path = StoragePath::root().join("price-list.csv")?;
    let bytes = futures::stream::iter([Ok(bytes::Bytes::from_static(b"item,price\nwidget,3\n"))]);
    store.write(&path, Box::pin(bytes), WriteMode::CreateNew, None).await?;

    let registry = Registry::connect("sqlite::memory:").await?;
    let public_url = "http://127.0.0.1:8090".to_owned();
    let request = AddIntegration {
        name: "Catalogue".into(),
        slug: Some("catalogue".into()),
        auth: AuthType::ApiKey,
        root: "unused".into(),
        redirect_uris: Vec::new(),
        request_params: Vec::new(),
        default_role: DefaultRole::Reader,
        custom_actions: Vec::new(),
    };
    let (_, credentials) = add_integration(&registry, &public_url, request).await?;
    println!("Base API URL: {}\nApiKey: {}", credentials.base_api_url, credentials.api_key.unwrap_or_default());

    let settings = ServerSettings {
        public_url,
        publisher: "Catalogue Inc.".into(),
        link_ttl: chrono::Duration::hours(1),
        library: Arc::new(docbridge_documents::LibrarySettings::default()),
        request_timeout: std::time::Duration::from_secs(60),
        max_concurrent_uploads: 16,
        max_auth_failures_per_minute: 30,
        trusted_proxies: Default::default(),
        timeouts: docbridge_server::Timeouts::default(),
    };
    let state = AppState::new(registry, settings, Arc::new(Catalogue(store))).await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:8090").await?;
    docbridge_server::serve(listener, docbridge_server::router(state), async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    Ok(())
}
