//! Configuration: embedded defaults, then a file, then `DOCBRIDGE_*` environment variables,
//! then command-line flags. Unknown keys are errors, so a typo never goes unnoticed.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use docbridge_documents::{ConflictPolicy, LibrarySettings};
use serde::Deserialize;

/// The embedded defaults: the reference for every key.
pub const DEFAULT_CONFIG: &str = include_str!("../default-config.toml");

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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    pub listen: String,
    pub request_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
    pub max_auth_failures_per_minute: u32,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseConfig {
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    pub root: String,
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
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinksConfig {
    pub ttl_secs: u64,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(#[from] config::ConfigError),
    #[error("configuration: {key}: {reason}")]
    Invalid { key: &'static str, reason: String },
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
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>, overrides: &Overrides) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(DEFAULT_CONFIG, config::FileFormat::Toml));
        if let Some(file) = file {
            builder = builder.add_source(config::File::from(file).format(config::FileFormat::Toml).required(true));
        }
        let ours: HashMap<String, String> = env.iter().filter(|(k, _)| k.starts_with("DOCBRIDGE_")).map(|(k, v)| (k.clone(), v.clone())).collect();
        builder = builder.add_source(
            config::Environment::with_prefix("DOCBRIDGE").prefix_separator("_").separator("__").try_parsing(true).source(Some(ours.into_iter().collect())),
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
        self.http.listen.parse::<SocketAddr>().map_err(|e| ConfigError::Invalid { key: "http.listen", reason: format!("{:?} is not an address:port ({e})", self.http.listen) })?;
        if !self.public_url.is_empty() {
            let url = url::Url::parse(&self.public_url).map_err(|e| ConfigError::Invalid { key: "public_url", reason: format!("{:?} is not an absolute URL ({e})", self.public_url) })?;
            if !matches!(url.scheme(), "http" | "https") {
                return Err(ConfigError::Invalid { key: "public_url", reason: "must be an http or https URL".into() });
            }
        }
        self.conflict_policy()?;
        Ok(())
    }

    pub fn conflict_policy(&self) -> Result<ConflictPolicy, ConfigError> {
        match self.documents.conflict_policy.as_str() {
            "rename" => Ok(ConflictPolicy::Rename),
            "reject" => Ok(ConflictPolicy::Reject),
            "replace" => Ok(ConflictPolicy::Replace),
            other => Err(ConfigError::Invalid { key: "documents.conflict_policy", reason: format!("{other:?} is not one of rename, reject, replace") }),
        }
    }

    pub fn database_url(&self, data_dir: &Path) -> String {
        if self.database.url.is_empty() { format!("sqlite://{}?mode=rwc", data_dir.join("docbridge.db").display()) } else { self.database.url.clone() }
    }

    pub fn storage_root(&self, data_dir: &Path) -> PathBuf {
        if self.storage.root.is_empty() { data_dir.join("documents") } else { PathBuf::from(&self.storage.root) }
    }

    pub fn library_settings(&self, data_dir: &Path) -> LibrarySettings {
        let cache_dir = if self.documents.cache_dir.is_empty() { data_dir.join("cache") } else { PathBuf::from(&self.documents.cache_dir) };
        LibrarySettings {
            max_upload_bytes: self.documents.max_upload_bytes,
            conflict_policy: self.conflict_policy().unwrap_or_default(),
            reservation_ttl: chrono::Duration::seconds(self.documents.reservation_ttl_secs as i64),
            trash_retention: chrono::Duration::days(self.documents.trash_retention_days as i64),
            cache_dir,
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
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("c.toml");
        std::fs::write(&file, "publisher = \"Acme\"\n[http]\nlisten = \"127.0.0.1:9000\"\n").unwrap();
        let e = env(&[("DOCBRIDGE_HTTP__LISTEN", "127.0.0.1:9100"), ("DOCBRIDGE_DOCUMENTS__CONFLICT_POLICY", "reject"), ("OTHER", "x")]);
        let config = Config::load(Some(&file), &e, &Overrides::default()).unwrap();
        assert_eq!(config.publisher, "Acme");
        assert_eq!(config.http.listen, "127.0.0.1:9100");
        assert_eq!(config.conflict_policy().unwrap(), ConflictPolicy::Reject);
        let config = Config::load(Some(&file), &e, &Overrides { listen: Some("127.0.0.1:9200".into()), public_url: None }).unwrap();
        assert_eq!(config.http.listen, "127.0.0.1:9200");
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
}
