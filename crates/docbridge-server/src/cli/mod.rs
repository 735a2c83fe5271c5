//! Command-line subcommands other than `serve`.

pub mod audit;
pub mod client;
pub mod doctor;
pub mod integration;
pub mod maintenance;
pub mod token;
pub mod user;

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;
use docbridge_registry::Registry;
use docbridge_server::config::Config;

/// Opens (and migrates) the registry the configuration names.
pub async fn open_registry(data_dir: &Path, config: &Config) -> anyhow::Result<Registry> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let url = config.database_url(data_dir);
    Registry::connect(&url).await.context("cannot open the database")
}

/// The configured public URL, or `http://<listen address>`, without a trailing slash.
/// The registry setting where `serve` records the public URL it serves at.
pub const SERVED_PUBLIC_URL: &str = "server.public_url";

/// The public URL for commands that print Base API URLs: the configured one, else the one the
/// last `serve` on this registry recorded, else the default listen address.
pub async fn cli_public_url(config: &Config, registry: &docbridge_registry::Registry) -> String {
    if config.public_url.is_empty()
        && let Ok(Some(served)) = registry.setting(SERVED_PUBLIC_URL).await
    {
        return served;
    }
    public_url(config, None)
}

pub fn public_url(config: &Config, bound: Option<SocketAddr>) -> String {
    if !config.public_url.is_empty() {
        return config.public_url.trim_end_matches('/').to_owned();
    }
    match bound {
        Some(addr) => format!("http://{addr}"),
        None => format!("http://{}", config.http.listen),
    }
}
