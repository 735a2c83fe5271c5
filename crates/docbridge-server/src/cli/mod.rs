//! Command-line subcommands other than `serve`.

pub mod client;
pub mod audit;
pub mod integration;
pub mod maintenance;
pub mod user;
pub mod token;

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use docbridge_registry::Registry;
use docbridge_server::config::Config;

/// Opens (and migrates) the registry the configuration names.
pub async fn open_registry(data_dir: &Path, config: &Config) -> anyhow::Result<Registry> {
    std::fs::create_dir_all(data_dir).with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let url = config.database_url(data_dir);
    Registry::connect(&url).await.context("cannot open the database")
}

/// The configured public URL, or `http://<listen address>`, without a trailing slash.
pub fn public_url(config: &Config, bound: Option<SocketAddr>) -> String {
    if !config.public_url.is_empty() {
        return config.public_url.trim_end_matches('/').to_owned();
    }
    match bound {
        Some(addr) => format!("http://{addr}"),
        None => format!("http://{}", config.http.listen),
    }
}
