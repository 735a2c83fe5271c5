//! `docbridge trash ...` and `docbridge fsck`: the trash (C16) and index/storage agreement.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use docbridge_documents::{Library, LibrarySettings};
use docbridge_registry::{Integration, Registry};
use docbridge_server::config::Config;
use docbridge_server::{BuiltinStorage, StorageFactory};

#[derive(Debug, Subcommand)]
pub enum TrashCommand {
    /// List deleted items.
    List {
        #[arg(long)]
        integration: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Put a deleted item back where it was (same ID).
    Restore {
        /// The trash ID (from `trash list`); it may start with `-`.
        #[arg(allow_hyphen_values = true)]
        trash_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete trashed items for good: one, those past the retention period, or all of an
    /// integration's.
    Purge {
        /// One trash ID (from `trash list`); it may start with `-`.
        #[arg(allow_hyphen_values = true)]
        trash_id: Option<String>,
        #[arg(long, conflicts_with = "trash_id")]
        expired: bool,
        #[arg(long, conflicts_with_all = ["trash_id", "expired"], requires = "integration")]
        all: bool,
        #[arg(long)]
        integration: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct FsckArgs {
    /// Check one integration (default: all).
    #[arg(long)]
    integration: Option<String>,
    #[arg(long)]
    json: bool,
}

/// What the maintenance commands open libraries with: the same storage the server uses (an
/// integration kept in S3 is checked in S3, not in an empty local folder, which would make fsck
/// report and repair every item as missing), made once per command.
struct Libraries {
    registry: Registry,
    storage: BuiltinStorage,
    settings: Arc<LibrarySettings>,
}

impl Libraries {
    fn new(registry: &Registry, config: &Config, data_dir: &Path) -> anyhow::Result<Self> {
        Ok(Libraries {
            registry: registry.clone(),
            storage: BuiltinStorage::for_config(config).context("cannot configure the stores of [storage]")?,
            settings: Arc::new(config.library_settings(data_dir)),
        })
    }

    fn library(&self, integration: &Integration) -> anyhow::Result<Library> {
        let storage =
            self.storage.open(integration).with_context(|| format!("opening the library of {}", integration.slug))?;
        Ok(Library::new(
            integration.id,
            integration.name.clone(),
            storage,
            self.registry.clone(),
            self.settings.clone(),
        ))
    }
}

async fn integrations(registry: &Registry, slug: Option<&str>) -> anyhow::Result<Vec<Integration>> {
    match slug {
        Some(slug) => Ok(vec![
            registry.integration(slug).await?.ok_or_else(|| anyhow::anyhow!("integration: no integration {slug:?}"))?,
        ]),
        None => Ok(registry.integrations().await?),
    }
}

pub async fn run_trash(data_dir: &Path, config: &Config, command: TrashCommand) -> anyhow::Result<ExitCode> {
    let registry = super::open_registry(data_dir, config).await?;
    let libraries = Libraries::new(&registry, config, data_dir)?;
    match command {
        TrashCommand::List { integration, json } => {
            let mut rows = Vec::new();
            for integration in integrations(&registry, integration.as_deref()).await? {
                for entry in registry.trash_entries(Some(integration.id)).await? {
                    rows.push(serde_json::json!({
                        "trash_id": entry.id,
                        "integration": integration.slug,
                        "item_id": entry.item_id.as_str(),
                        "name": entry.name,
                        "kind": if entry.kind == docbridge_protocol::ItemKind::Folder { "folder" } else { "file" },
                        "original_path": entry.original_path,
                        "deleted_by": entry.deleted_by,
                        "deleted_at": docbridge_protocol::format_date(&entry.deleted_at),
                    }));
                }
            }
            super::print_rows(json, &rows, |row| {
                format!(
                    "{}  {}  /{}  deleted {} by {}",
                    row["trash_id"].as_str().unwrap_or(""),
                    row["integration"].as_str().unwrap_or(""),
                    row["original_path"].as_str().unwrap_or(""),
                    row["deleted_at"].as_str().unwrap_or(""),
                    row["deleted_by"].as_str().unwrap_or("-")
                )
            })?;
        }
        TrashCommand::Restore { trash_id, json } => {
            let entry = registry
                .trash_entry(&trash_id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("trash_id: nothing in the trash with ID {trash_id:?}"))?;
            let integration = integrations(&registry, None)
                .await?
                .into_iter()
                .find(|i| i.id == entry.integration_id)
                .ok_or_else(|| anyhow::anyhow!("the trashed item's integration no longer exists"))?;
            let name = libraries.library(&integration)?.restore(&entry).await?;
            if json {
                println!(
                    "{}",
                    serde_json::json!({"restored": entry.item_id.as_str(), "name": name, "integration": integration.slug})
                );
            } else {
                println!("restored {} as {name:?} in {}", entry.item_id, integration.slug);
            }
        }
        TrashCommand::Purge { trash_id, expired, all, integration, json } => {
            let mut purged = Vec::new();
            for integration in integrations(&registry, integration.as_deref()).await? {
                let library = libraries.library(&integration)?;
                let cutoff = chrono::Utc::now() - library.settings().trash_retention;
                for entry in registry.trash_entries(Some(integration.id)).await? {
                    let chosen = match &trash_id {
                        Some(id) => &entry.id == id,
                        None => all || (expired && entry.deleted_at < cutoff),
                    };
                    if chosen {
                        library.purge(&entry).await?;
                        purged.push(entry.id);
                    }
                }
            }
            if let Some(id) = &trash_id
                && purged.is_empty()
            {
                anyhow::bail!("trash_id: nothing in the trash with ID {id:?}");
            }
            if trash_id.is_none() && !expired && !all {
                anyhow::bail!("say what to purge: a trash ID, --expired, or --all --integration SLUG");
            }
            if json {
                println!("{}", serde_json::json!({ "purged": purged }));
            } else {
                println!("purged {} item(s)", purged.len());
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub async fn run_fsck(data_dir: &Path, config: &Config, args: FsckArgs) -> anyhow::Result<ExitCode> {
    let registry = super::open_registry(data_dir, config).await?;
    let libraries = Libraries::new(&registry, config, data_dir)?;
    let mut reports = serde_json::Map::new();
    for integration in integrations(&registry, args.integration.as_deref()).await? {
        let report = libraries.library(&integration)?.fsck().await?;
        if !args.json {
            if report.is_clean() {
                println!("{}: index and storage agree", integration.slug);
            } else {
                println!("{}: repaired", integration.slug);
                for (what, list) in [
                    ("indexed", &report.indexed),
                    ("dropped", &report.dropped),
                    ("updated", &report.updated),
                    ("trash entry dropped", &report.trash_entries_dropped),
                    ("trash orphan (kept)", &report.trash_orphans),
                ] {
                    for line in list {
                        println!("  {what}: {line}");
                    }
                }
            }
            if report.reservations_expired > 0 {
                println!("  {} expired upload reservation(s) dropped", report.reservations_expired);
            }
        }
        reports.insert(integration.slug.clone(), serde_json::to_value(&report)?);
    }
    if args.json {
        super::print_json(&reports)?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::TrashCommand;
    use crate::cli::parse;

    /// Trash IDs are base64url: one in 64 starts with `-`, and must still be taken as a value,
    /// while the flags keep working.
    #[test]
    fn trash_ids_may_start_with_a_hyphen() {
        for args in [["trash", "restore", "-Ab_c", "--json"], ["trash", "restore", "--json", "-Ab_c"]] {
            match parse::<TrashCommand>(&args) {
                TrashCommand::Restore { trash_id, json } => assert_eq!((trash_id.as_str(), json), ("-Ab_c", true)),
                other => panic!("{other:?}"),
            }
        }
        match parse::<TrashCommand>(&["trash", "purge", "--expired"]) {
            TrashCommand::Purge { trash_id, expired, .. } => assert_eq!((trash_id, expired), (None, true)),
            other => panic!("{other:?}"),
        }
        for args in [
            &["trash", "purge", "-Ab_c"][..],
            &["trash", "purge", "--", "-Ab_c"],
            &["trash", "purge", "-Ab_c", "--json"],
        ] {
            match parse::<TrashCommand>(args) {
                TrashCommand::Purge { trash_id, .. } => assert_eq!(trash_id.as_deref(), Some("-Ab_c"), "{args:?}"),
                other => panic!("{other:?}"),
            }
        }
        match parse::<TrashCommand>(&["trash", "purge", "--all", "--integration", "team"]) {
            TrashCommand::Purge { trash_id, all, integration, .. } => {
                assert_eq!((trash_id, all, integration.as_deref()), (None, true, Some("team")));
            }
            other => panic!("{other:?}"),
        }
    }
}
