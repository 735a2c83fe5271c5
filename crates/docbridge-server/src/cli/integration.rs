//! `docbridge integration ...`: registering and listing integrations.

use std::path::Path;
use std::process::ExitCode;

use clap::Subcommand;
use docbridge_registry::{AuthType, DefaultRole};
use docbridge_server::config::Config;
use docbridge_server::setup::{self, AddIntegration};

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Register an integration and print the values to type into Workfront.
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["apikey", "oauth2"])]
        auth: String,
        /// The slug in the Base API URL (default: from the name).
        #[arg(long)]
        slug: Option<String>,
        /// The folder this integration serves (default: <data-dir>/documents/<slug>).
        #[arg(long)]
        root: Option<String>,
        /// Workfront's Redirect URI (OAuth2; repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A request parameter Workfront appends to every call, key=value (repeatable).
        #[arg(long = "param")]
        request_params: Vec<String>,
        /// Role of ApiKey callers who are not registered users.
        #[arg(long, default_value = "editor", value_parser = ["reader", "editor", "deny"])]
        default_role: String,
        #[arg(long)]
        json: bool,
    },
    /// List integrations.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(data_dir: &Path, config: &Config, command: IntegrationCommand) -> anyhow::Result<ExitCode> {
    let registry = super::open_registry(data_dir, config).await?;
    let public_url = super::public_url(config, None);
    match command {
        IntegrationCommand::Add { name, auth, slug, root, redirect_uris, request_params, default_role, json } => {
            let auth = AuthType::parse(&auth).unwrap_or(AuthType::ApiKey);
            let slug = slug.unwrap_or_else(|| setup::slug_from_name(&name));
            let root = root.unwrap_or_else(|| config.storage_root(data_dir).join(&slug).display().to_string());
            std::fs::create_dir_all(&root).map_err(|e| anyhow::anyhow!("root: cannot create {root}: {e}"))?;
            let request = AddIntegration {
                name,
                slug: Some(slug),
                auth,
                root,
                redirect_uris,
                request_params,
                default_role: DefaultRole::parse(&default_role).unwrap_or(DefaultRole::Editor),
                custom_actions: Vec::new(),
            };
            let (_, credentials) = setup::add_integration(&registry, &public_url, request).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&credentials)?);
            } else {
                println!("Integration {:?} registered. Type these into Workfront:", credentials.name);
                println!("  Base API URL:         {}", credentials.base_api_url);
                if let Some(key) = &credentials.api_key {
                    println!("  ApiKey:               {key}");
                }
                if let Some(id) = &credentials.client_id {
                    println!("  Authentication URL:   {}", credentials.authentication_url.clone().unwrap_or_default());
                    println!("  Token Endpoint URL:   {}", credentials.token_endpoint_url.clone().unwrap_or_default());
                    println!("  Client ID:            {id}");
                    println!("  Client Secret:        {}", credentials.client_secret.clone().unwrap_or_default());
                }
                println!("The secret is shown only now.");
            }
        }
        IntegrationCommand::List { json } => {
            let integrations = registry.integrations().await?;
            let rows: Vec<_> = integrations.iter().map(|i| setup::credentials(&public_url, i, None, None)).collect();
            if json {
                let listed: Vec<serde_json::Value> = integrations
                    .iter()
                    .zip(&rows)
                    .map(|(i, c)| {
                        let mut value = serde_json::to_value(c).unwrap_or_default();
                        value["enabled"] = serde_json::Value::Bool(i.enabled);
                        value
                    })
                    .collect();
                println!("{}", serde_json::to_string_pretty(&listed)?);
            } else {
                for (integration, row) in integrations.iter().zip(&rows) {
                    let state = if integration.enabled { "enabled" } else { "disabled" };
                    println!("{:<20} {:<8} {:<9} {}", row.slug, row.auth, state, row.base_api_url);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
