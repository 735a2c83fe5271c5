//! `docbridge token ...`: listing and revoking the OAuth2 tokens docbridge has issued (C4).
//! Tokens are stored only as hashes, so a listing shows the first characters of each hash as
//! its name, never a token.

use std::collections::HashMap;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use docbridge_registry::{OAuthRevocation, OAuthToken, Registry};
use docbridge_server::config::Config;
use serde::Serialize;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// List tokens in force, newest first.
    List {
        /// Only the tokens of this integration (slug).
        #[arg(long)]
        integration: Option<String>,
        /// Also list revoked and expired tokens.
        #[arg(long)]
        include_inactive: bool,
        #[arg(long)]
        json: bool,
    },
    /// Revoke a user's tokens (in one integration, or in all), or every token of an
    /// integration. Workfront then gets 403 and asks the user to connect again.
    #[command(group(clap::ArgGroup::new("whose").required(true).args(["user", "all"])))]
    Revoke {
        /// The user whose tokens go.
        #[arg(long)]
        user: Option<String>,
        /// Every token of the integration given with --integration.
        #[arg(long, requires = "integration")]
        all: bool,
        /// The integration (slug).
        #[arg(long)]
        integration: Option<String>,
    },
}

/// One line of `token list --json`.
#[derive(Debug, Serialize)]
struct Listed<'a> {
    id: &'a str,
    integration: &'a str,
    username: &'a str,
    kind: &'a str,
    state: &'static str,
    created_at: String,
    expires_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    revoked_at: Option<String>,
}

fn state_of(token: &OAuthToken, now: chrono::DateTime<chrono::Utc>) -> &'static str {
    if token.revoked_at.is_some() {
        "revoked"
    } else if now >= token.expires_at {
        "expired"
    } else {
        "active"
    }
}

async fn integration_id(registry: &Registry, slug: &str) -> anyhow::Result<i64> {
    Ok(registry.integration(slug).await?.with_context(|| format!("integration: no integration {slug:?}"))?.id)
}

pub async fn run(data_dir: &Path, config: &Config, command: TokenCommand) -> anyhow::Result<ExitCode> {
    let registry = super::open_registry(data_dir, config).await?;
    match command {
        TokenCommand::List { integration, include_inactive, json } => {
            let filter = match &integration {
                Some(slug) => Some(integration_id(&registry, slug).await?),
                None => None,
            };
            let slugs: HashMap<i64, String> =
                registry.integrations().await?.into_iter().map(|i| (i.id, i.slug)).collect();
            let tokens = registry.oauth_tokens(filter, include_inactive).await?;
            let now = chrono::Utc::now();
            let rfc3339 = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
            let listed: Vec<Listed> = tokens
                .iter()
                .map(|t| Listed {
                    id: t.token_hash.get(..12).unwrap_or(&t.token_hash),
                    integration: slugs.get(&t.integration_id).map_or("?", String::as_str),
                    username: &t.username,
                    kind: t.kind.as_str(),
                    state: state_of(t, now),
                    created_at: rfc3339(t.created_at),
                    expires_at: rfc3339(t.expires_at),
                    revoked_at: t.revoked_at.map(rfc3339),
                })
                .collect();
            if json {
                super::print_json(&listed)?;
            } else if listed.is_empty() {
                println!("No tokens.");
            } else {
                println!("{:<12}  {:<20}  {:<30}  {:<7}  {:<7}  EXPIRES", "ID", "INTEGRATION", "USER", "KIND", "STATE");
                for t in &listed {
                    println!(
                        "{:<12}  {:<20}  {:<30}  {:<7}  {:<7}  {}",
                        t.id, t.integration, t.username, t.kind, t.state, t.expires_at
                    );
                }
            }
        }
        TokenCommand::Revoke { user, all, integration } => {
            let integration_id = match &integration {
                Some(slug) => Some(integration_id(&registry, slug).await?),
                None => None,
            };
            let (revoked, whose) = match (user, integration_id) {
                (Some(user), _) => {
                    let username = docbridge_registry::normalize_username(&user)?;
                    let revoked = registry
                        .revoke_oauth_tokens(OAuthRevocation::User { username: &username, integration_id })
                        .await?;
                    (revoked, format!("of {username}"))
                }
                (None, Some(id)) if all => (
                    registry.revoke_oauth_tokens(OAuthRevocation::Integration { integration_id: id }).await?,
                    "of every user".to_owned(),
                ),
                // clap requires --user, or --all with --integration.
                _ => anyhow::bail!("give --user USER, or --all with --integration SLUG"),
            };
            let place = integration.map_or_else(|| "in every integration".to_owned(), |slug| format!("in {slug}"));
            println!("Revoked {revoked} token(s) {whose} {place}.");
        }
    }
    Ok(ExitCode::SUCCESS)
}
