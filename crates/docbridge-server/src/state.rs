//! What every request handler shares: the registry, one `Library` per integration, the link
//! signer and the settings.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use docbridge_auth::LinkSigner;
use docbridge_documents::{Library, LibrarySettings};
use docbridge_registry::{Integration, Registry};
use docbridge_storage::{
    FsStorage, MemoryStorage, RemoteConfig, RemoteStorage, S3Config, S3Options, S3Storage, Storage, StorageError,
};

/// Opens the storage an integration's record names. docbridge's own opens `fs` (a folder)
/// and `memory` libraries; a program that embeds docbridge passes its own to serve any store.
pub trait StorageFactory: Send + Sync + 'static {
    fn open(&self, integration: &Integration) -> Result<Arc<dyn Storage>, StorageError>;
}

/// The built-in adapters: `fs` with `storage_root` as folder, `memory` (kept for the process's
/// life, one per integration), and `s3` with `storage_root` as prefix in the configured bucket
/// (below `[storage.s3] prefix`), once [`BuiltinStorage::with_s3`] has named the bucket, and
/// `webdav`, `sftp`, `azblob` and `gcs` with `storage_root` as folder or prefix in the store that
/// [`BuiltinStorage::with_remote`] configured.
#[derive(Default)]
pub struct BuiltinStorage {
    memory: RwLock<HashMap<i64, Arc<MemoryStorage>>>,
    /// The bucket, at the configured prefix: every `s3` library is a prefix below it, sharing
    /// its connection pool.
    s3: Option<S3Storage>,
    /// The stores of the remote kinds, at their roots, by kind: each library is a folder or
    /// prefix below one, sharing its connections.
    remotes: HashMap<&'static str, RemoteStorage>,
}

impl BuiltinStorage {
    /// The adapters a configuration asks for: with `[storage.s3]` naming a bucket, `s3`
    /// libraries open in it. The server and the maintenance commands both start here, so that
    /// they see the same libraries.
    pub fn for_config(config: &crate::config::Config) -> Result<Self, StorageError> {
        let mut storage = match config.s3() {
            Some(s3) => Self::with_s3(&s3)?,
            None => Self::default(),
        };
        for kind in crate::config::REMOTE_KINDS {
            if let Some(remote) = config.remote(kind) {
                storage = storage.with_remote_timeout(&remote, config.storage_timeout())?;
            }
        }
        Ok(storage)
    }

    /// These adapters, and `remote.kind()` libraries in the store `remote` names. Makes no
    /// request.
    pub fn with_remote(self, remote: &RemoteConfig) -> Result<Self, StorageError> {
        self.with_remote_timeout(remote, docbridge_storage::DEFAULT_TIMEOUT)
    }

    /// As [`BuiltinStorage::with_remote`], each call to the store bounded by `timeout`.
    pub fn with_remote_timeout(
        mut self,
        remote: &RemoteConfig,
        timeout: std::time::Duration,
    ) -> Result<Self, StorageError> {
        self.remotes.insert(remote.kind(), RemoteStorage::connect_with_timeout(remote, timeout)?);
        Ok(self)
    }

    /// Built-in adapters that also open `s3` libraries in the bucket `config` names. Makes no
    /// request: a wrong endpoint or key shows at the first use (and in `/readyz`).
    pub fn with_s3(config: &S3Config) -> Result<Self, StorageError> {
        // Interrupted S3 operations are rolled forward by the libraries, under their change
        // lock (`Library::resume_interrupted`, in every maintenance pass, and by fsck), never by
        // an ordinary storage call beside a change in another process.
        let options = S3Options { resume_on_its_own: false, ..S3Options::default() };
        Ok(BuiltinStorage { s3: Some(S3Storage::connect(config, options)?), ..Self::default() })
    }
}

impl StorageFactory for BuiltinStorage {
    fn open(&self, integration: &Integration) -> Result<Arc<dyn Storage>, StorageError> {
        match integration.storage_kind.as_str() {
            "fs" => Ok(Arc::new(FsStorage::new(&integration.storage_root)?)),
            "s3" => match &self.s3 {
                Some(bucket) => Ok(Arc::new(bucket.within(&integration.storage_root)?)),
                None => Err(StorageError::Io(std::io::Error::other(format!(
                    "integration {} is stored in S3 but no bucket is configured ([storage.s3] bucket)",
                    integration.slug
                )))),
            },
            kind if crate::config::REMOTE_KINDS.contains(&kind) => match self.remotes.get(kind) {
                Some(store) => Ok(Arc::new(store.within(&integration.storage_root)?)),
                None => Err(StorageError::Io(std::io::Error::other(format!(
                    "integration {} is stored in {kind} but no {kind} store is configured ([storage.{kind}])",
                    integration.slug
                )))),
            },
            "memory" => {
                let mut memory = self.memory.write().unwrap_or_else(|e| e.into_inner());
                Ok(memory.entry(integration.id).or_insert_with(|| Arc::new(MemoryStorage::new())).clone())
            }
            other => Err(StorageError::InvalidPath(format!("unknown storage kind {other:?}"))),
        }
    }
}

/// Server-wide settings derived from the configuration.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    /// No trailing slash.
    pub public_url: String,
    pub publisher: String,
    pub link_ttl: chrono::Duration,
    pub library: Arc<LibrarySettings>,
    /// How long a request may take to produce its answer (uploads excepted).
    pub request_timeout: std::time::Duration,
    pub max_concurrent_uploads: usize,
    pub max_auth_failures_per_minute: u32,
    /// Whose forwarding headers name the client (`[http] trusted_proxies`): what every
    /// per-client limit and log line goes by.
    pub trusted_proxies: crate::limits::TrustedProxies,
    /// Header-read and idle timeouts (applied by `serve_with` / `tls::serve_tls`, which are
    /// handed them) and the minimum upload rate (applied by `/upload`).
    pub timeouts: crate::Timeouts,
}

/// Shared state of the router. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub registry: Registry,
    pub settings: Arc<ServerSettings>,
    pub signer: LinkSigner,
    pub limits: Arc<crate::limits::Limits>,
    storage: Arc<dyn StorageFactory>,
    libraries: Arc<Libraries>,
    /// The admin API's bearer token (`admin.token`); empty keeps the API disabled.
    admin_token: Arc<secrecy::SecretString>,
    /// Where libraries may be (`roots.rs`); `None` checks nothing.
    roots: Option<Arc<crate::roots::RootPolicy>>,
    /// Integrations not served because of where their library is, with why (found at start).
    refused_roots: Arc<HashMap<i64, String>>,
    /// Automatic HTTPS, when on: `/readyz` reports its certificate and renewal state.
    acme: Option<Arc<crate::acme::Acme>>,
    /// Who may read `/metrics` on this router.
    public_metrics: crate::PublicMetrics,
}

/// Each integration's `Library`, with what it was built from.
type Libraries = RwLock<HashMap<i64, (LibraryKey, Arc<Library>)>>;

/// What a cached `Library` was built from: when the record changes, the library is rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
struct LibraryKey {
    name: String,
    storage_kind: String,
    storage_root: String,
}

impl AppState {
    /// Builds the state; the link-signing key is shared through the registry so that every
    /// process signs alike (C24).
    pub async fn new(
        registry: Registry,
        settings: ServerSettings,
        storage: Arc<dyn StorageFactory>,
    ) -> Result<Self, docbridge_registry::RegistryError> {
        let key = registry.setting_or_init("link_signing_key", docbridge_registry::random_id).await?;
        let limits = crate::limits::Limits::new(
            crate::limits::LiveLimits {
                max_concurrent_uploads: settings.max_concurrent_uploads,
                max_auth_failures_per_minute: settings.max_auth_failures_per_minute,
                min_upload_rate: settings.timeouts.min_upload_rate,
            },
            std::time::Duration::from_secs(60),
        );
        Ok(AppState {
            registry,
            settings: Arc::new(settings),
            signer: LinkSigner::new(key.as_bytes()),
            limits: Arc::new(limits),
            storage,
            libraries: Arc::default(),
            admin_token: Arc::new(secrecy::SecretString::from(String::new())),
            roots: None,
            refused_roots: Arc::default(),
            acme: None,
            public_metrics: crate::PublicMetrics::default(),
        })
    }

    /// Enables the admin API (`/admin/api`) with this bearer token; an empty one leaves it
    /// disabled, which is also the default.
    pub fn with_admin_token(mut self, token: secrecy::SecretString) -> Self {
        self.admin_token = Arc::new(token);
        self
    }

    /// Reports `acme`'s certificate and renewal state in `/readyz`.
    pub fn with_acme(mut self, acme: Arc<crate::acme::Acme>) -> Self {
        self.acme = Some(acme);
        self
    }

    pub(crate) fn acme(&self) -> Option<&Arc<crate::acme::Acme>> {
        self.acme.as_ref()
    }

    /// Who may read `/metrics` on this router: anyone by default (an embedding program's
    /// choice); the `docbridge` binary closes it or requires `[metrics] token`.
    pub fn with_public_metrics(mut self, access: crate::PublicMetrics) -> Self {
        self.public_metrics = access;
        self
    }

    pub(crate) fn public_metrics(&self) -> crate::PublicMetrics {
        self.public_metrics.clone()
    }

    pub(crate) fn admin_token(&self) -> &secrecy::SecretString {
        &self.admin_token
    }

    /// Checks library roots against `policy`: those of the integrations in `refused` (from
    /// [`RootPolicy::refused`](crate::roots::RootPolicy::refused) at start) are not served,
    /// a folder root that a later edit puts somewhere forbidden is not served either, and the
    /// admin API and page check new roots.
    pub fn with_root_policy(mut self, policy: crate::roots::RootPolicy, refused: HashMap<i64, String>) -> Self {
        self.roots = Some(Arc::new(policy));
        self.refused_roots = Arc::new(refused);
        self
    }

    pub(crate) fn roots(&self) -> Option<Arc<crate::roots::RootPolicy>> {
        self.roots.clone()
    }

    /// The library of an integration, built on first use and rebuilt when its record changes.
    pub fn library(&self, integration: &Integration) -> Result<Arc<Library>, StorageError> {
        let key = LibraryKey {
            name: integration.name.clone(),
            storage_kind: integration.storage_kind.clone(),
            storage_root: integration.storage_root.clone(),
        };
        if let Some((cached_key, library)) =
            self.libraries.read().unwrap_or_else(|e| e.into_inner()).get(&integration.id)
            && *cached_key == key
        {
            return Ok(library.clone());
        }
        if let Some(reason) = self.refused_roots.get(&integration.id) {
            return Err(StorageError::InvalidPath(format!("not served: {reason}")));
        }
        if integration.storage_kind == "fs"
            && let Some(policy) = &self.roots
        {
            policy
                .check_placement(std::path::Path::new(&integration.storage_root))
                .map_err(|reason| StorageError::InvalidPath(format!("not served: {reason}")))?;
        }
        let storage = self.storage.open(integration)?;
        let library = Arc::new(Library::new(
            integration.id,
            integration.name.clone(),
            storage,
            self.registry.clone(),
            self.settings.library.clone(),
        ));
        self.libraries.write().unwrap_or_else(|e| e.into_inner()).insert(integration.id, (key, library.clone()));
        Ok(library)
    }

    /// The Base API URL of an integration (C1).
    pub fn base_api_url(&self, slug: &str) -> String {
        format!("{}/webhooks/{slug}", self.settings.public_url)
    }
}
