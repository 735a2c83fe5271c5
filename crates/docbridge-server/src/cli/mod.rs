//! Command-line subcommands other than `serve`.

pub mod assets;
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
/// A fresh data directory and database are private to the owner; wider existing ones get a
/// warning (`docbridge_server::data_dir`).
pub async fn open_registry(data_dir: &Path, config: &Config) -> anyhow::Result<Registry> {
    docbridge_server::data_dir::create_private_dir(data_dir)
        .with_context(|| format!("cannot create the data directory {}", data_dir.display()))?;
    let url = config.database_url(data_dir);
    let file = docbridge_server::data_dir::sqlite_file(&url);
    if let Some(file) = &file {
        docbridge_server::data_dir::create_private_database(file)
            .with_context(|| format!("cannot create the database {}", file.display()))?;
    }
    let registry = Registry::connect(&url).await.context("cannot open the database")?;
    docbridge_server::data_dir::warn_loose(data_dir, file.as_deref());
    Ok(registry)
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

/// Prints `value` as the pretty JSON of `--json`.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints `rows` as one JSON array with `--json`, else one `line` each.
pub fn print_rows<T: serde::Serialize>(json: bool, rows: &[T], line: impl Fn(&T) -> String) -> anyhow::Result<()> {
    if json {
        return print_json(&rows);
    }
    for row in rows {
        println!("{}", line(row));
    }
    Ok(())
}

/// One subcommand's arguments, parsed as the command line parses them: for tests of the
/// argument rules (IDs that start with `-`, flags in any order).
#[cfg(test)]
pub fn parse<C: clap::Subcommand + std::fmt::Debug>(args: &[&str]) -> C {
    #[derive(Debug, clap::Parser)]
    struct Line<C: clap::Subcommand + std::fmt::Debug> {
        #[command(subcommand)]
        command: C,
    }
    <Line<C> as clap::Parser>::try_parse_from(args).unwrap_or_else(|e| panic!("{args:?}: {e}")).command
}
