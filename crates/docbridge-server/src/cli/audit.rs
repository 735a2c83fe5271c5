//! `docbridge audit list`: the audit trail (C25) of changes made through the Document Webhooks
//! API, the admin API and this command line.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use docbridge_server::config::Config;

#[derive(Debug, Subcommand)]
pub enum AuditCommand {
    /// Audit entries, oldest first.
    List {
        /// Only this integration's entries (by slug).
        #[arg(long)]
        integration: Option<String>,
        /// Only entries from this time on (RFC 3339, e.g. 2024-05-01T00:00:00Z).
        #[arg(long)]
        since: Option<String>,
        /// At most this many entries.
        #[arg(long, default_value_t = 1000)]
        limit: u64,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(data_dir: &Path, config: &Config, command: AuditCommand) -> anyhow::Result<ExitCode> {
    let AuditCommand::List { integration, since, limit, json } = command;
    let since = since
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(&s)
                .map(|d| d.with_timezone(&chrono::Utc))
                .map_err(|e| anyhow::anyhow!("since: {s:?} is not an RFC 3339 time ({e})"))
        })
        .transpose()?;
    if limit == 0 {
        anyhow::bail!("limit: must be at least 1");
    }
    let registry = super::open_registry(data_dir, config).await?;
    let entries = registry.audit_entries(integration.as_deref(), since, limit).await?;
    super::print_rows(json, &entries, |entry| {
        format!(
            "{} {:<16} {:<16} {:<24} {:<24} {} {}",
            entry.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            entry.actor,
            if entry.integration.is_empty() { "-" } else { &entry.integration },
            entry.operation,
            entry.item_id.as_deref().unwrap_or("-"),
            entry.result,
            entry.detail.as_deref().unwrap_or(""),
        )
    })?;
    Ok(ExitCode::SUCCESS)
}
