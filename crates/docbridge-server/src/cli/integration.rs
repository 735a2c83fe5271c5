//! `docbridge integration ...`: registering, showing, editing, enabling, disabling, deleting
//! integrations and rotating their keys. Every subcommand takes `--json` for scripts, goes
//! through `setup::Admin` (the same code as the admin API) and is written to the audit trail.
//! A running server on the same data directory or database sees each change at its next request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Args, Subcommand};
use docbridge_registry::{AuthType, CustomActionSpec, IntegrationPatch};
use docbridge_server::config::Config;
use docbridge_server::setup::{self, AddIntegration, Admin, IntegrationView, RevokeKeys};

use super::print_json;

/// How to declare custom actions (C18), for `--help`.
const ACTIONS_HELP: &str = "\
CUSTOM ACTIONS (Workfront's Document Actions menu, /customAction):
  --action 'name=archive,display=Archive,kind=move,folder=Archive'
  --action 'name=backup,display=Back up,kind=copy,folder=Backups/2024'
  --action 'name=freeze,display=Freeze,kind=lock'
  --action 'name=notify,display=Notify CRM,kind=webhook,url=https://crm.example.com/hook[,secret=S][,timeout=10][,retries=3]'
    kind=move|copy: move or copy the item into that folder (created if missing).
    kind=lock: make the item read-only for everyone.
    kind=webhook: POST the item's metadata as JSON, signed with HMAC-SHA256 of the body under
      the secret in the header X-Docbridge-Signature: sha256=<hex>; retried with backoff on
      connection errors, timeouts, 408, 429 and 5xx. Without secret=, one is generated and
      printed once.
  In `edit`, --action adds the action or replaces the one of the same name; --remove-action
  NAME removes one; --actions-file FILE (a JSON array of {\"name\", \"display_name\", \"kind\",
  \"folder\" | \"url\", \"secret\", \"timeout_secs\", \"retries\"}; - reads stdin) replaces them all.";

#[derive(Debug, Subcommand)]
pub enum IntegrationCommand {
    /// Register an integration and print the values to type into Workfront.
    #[command(after_help = ACTIONS_HELP)]
    Add {
        #[arg(long)]
        name: String,
        #[arg(long, value_parser = ["apikey", "oauth2"])]
        auth: String,
        /// The slug in the Base API URL (default: from the name).
        #[arg(long)]
        slug: Option<String>,
        /// The folder this integration serves (default: DATA_DIR/libraries/SLUG); with
        /// `--storage s3`, its key prefix below `[storage.s3] prefix`; with `webdav`, `sftp`,
        /// `azblob` or `gcs`, its folder or prefix in that store (default: the slug).
        #[arg(long)]
        root: Option<String>,
        /// Where its documents live: `fs` (a folder), `s3` (the bucket of `[storage.s3]`),
        /// `webdav`, `sftp`, `azblob` or `gcs` (the store of `[storage.webdav]`,
        /// `[storage.sftp]`, `[storage.azblob]`, `[storage.gcs]`).
        /// Default: `[storage] kind`.
        #[arg(long, value_parser = docbridge_server::config::STORAGE_KINDS.to_vec())]
        storage: Option<String>,
        /// Workfront's Redirect URI (OAuth2; repeatable).
        #[arg(long = "redirect-uri")]
        redirect_uris: Vec<String>,
        /// A request parameter Workfront appends to every call, key=value (repeatable).
        #[arg(long = "param")]
        request_params: Vec<String>,
        /// Role of ApiKey callers who are not registered users: reader, editor or deny.
        #[arg(long, default_value = "editor")]
        default_role: String,
        /// A custom action, e.g. 'name=archive,display=Archive,kind=move,folder=Archive' (repeatable).
        #[arg(long = "action")]
        actions: Vec<String>,
        /// Custom actions from a JSON file (- for stdin), after any --action.
        #[arg(long)]
        actions_file: Option<PathBuf>,
        #[arg(long)]
        json: bool,
    },
    /// List integrations (never their secrets).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Show one integration: every field of Workfront's form, key hints, actions.
    Show {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Change an integration's fields; what is not given stays as it is.
    #[command(after_help = ACTIONS_HELP)]
    Edit(EditArgs),
    /// Enable an integration: it answers again at once.
    Enable {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Disable an integration: every endpoint but serviceInfo answers 403 at once.
    Disable {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete an integration's record, keys, index and grants (its documents stay on disk).
    Delete {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Issue a new ApiKey (the old ones keep working until `revoke-keys`) or a new OAuth2 client
    /// secret (the old one stops at once), and print it once.
    RotateKey {
        slug: String,
        #[arg(long)]
        json: bool,
    },
    /// Revoke ApiKeys: every key but the newest (after a rotation, once Workfront has the new
    /// key), or the keys with a given hint (see `show`).
    RevokeKeys {
        slug: String,
        /// Revoke every active key except the newest.
        #[arg(long, conflicts_with = "hint", required_unless_present = "hint")]
        keep_newest: bool,
        /// Revoke the active keys whose hint starts with this.
        #[arg(long)]
        hint: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Args)]
pub struct EditArgs {
    slug: String,
    #[arg(long)]
    name: Option<String>,
    /// Workfront's Redirect URI (repeatable; replaces the list).
    #[arg(long = "redirect-uri")]
    redirect_uris: Vec<String>,
    /// Remove every Redirect URI.
    #[arg(long, conflicts_with = "redirect_uris")]
    clear_redirect_uris: bool,
    /// A request parameter key=value (repeatable; replaces the list).
    #[arg(long = "param")]
    request_params: Vec<String>,
    /// Remove every request parameter.
    #[arg(long, conflicts_with = "request_params")]
    clear_params: bool,
    /// The folder the integration serves.
    #[arg(long)]
    root: Option<String>,
    /// Role of ApiKey callers who are not registered users: reader, editor or deny.
    #[arg(long)]
    default_role: Option<String>,
    /// Add a custom action, or replace the one of the same name (repeatable).
    #[arg(long = "action")]
    actions: Vec<String>,
    /// Remove the custom action with this name (repeatable).
    #[arg(long = "remove-action")]
    remove_actions: Vec<String>,
    /// Replace every custom action with those of this JSON file (- for stdin).
    #[arg(long)]
    actions_file: Option<PathBuf>,
    #[arg(long)]
    json: bool,
}

/// Who the audit trail says made a change from the command line.
pub fn actor() -> String {
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_default();
    if user.is_empty() { "cli".to_owned() } else { format!("cli:{user}") }
}

/// Parses `--action` values and an actions file, collecting the generated webhook secrets.
fn parse_actions(
    specs: &[String],
    file: Option<&Path>,
    secrets: &mut BTreeMap<String, String>,
) -> anyhow::Result<(Vec<CustomActionSpec>, Option<Vec<CustomActionSpec>>)> {
    let mut actions = Vec::new();
    for spec in specs {
        let (action, secret) = setup::parse_action_spec(spec)?;
        if let Some(secret) = secret {
            secrets.insert(action.name.clone(), secret);
        }
        actions.push(action);
    }
    let from_file = match file {
        Some(path) => {
            let text = if path == Path::new("-") {
                std::io::read_to_string(std::io::stdin()).context("actions-file: reading stdin")?
            } else {
                std::fs::read_to_string(path)
                    .with_context(|| format!("actions-file: cannot read {}", path.display()))?
            };
            let value: serde_json::Value =
                serde_json::from_str(&text).map_err(|e| anyhow::anyhow!("actions-file: not JSON: {e}"))?;
            let parsed = setup::parse_actions_json(&value).map_err(|e| anyhow::anyhow!("actions-file: {e}"))?;
            secrets.extend(parsed.generated_secrets);
            Some(parsed.actions)
        }
        None => None,
    };
    Ok((actions, from_file))
}

/// A value with the webhook secrets generated by this command added, shown this once.
fn with_secrets(
    value: &impl serde::Serialize,
    secrets: &BTreeMap<String, String>,
) -> anyhow::Result<serde_json::Value> {
    let mut value = serde_json::to_value(value)?;
    if !secrets.is_empty()
        && let Some(object) = value.as_object_mut()
    {
        object.insert("webhook_secrets".into(), serde_json::json!(secrets));
    }
    Ok(value)
}

fn print_secrets(secrets: &BTreeMap<String, String>) {
    for (name, secret) in secrets {
        println!("  Webhook secret of {name}: {secret}  (shown only now)");
    }
}

fn print_view(view: &IntegrationView) {
    let state = if view.enabled { "enabled" } else { "disabled" };
    println!("{} ({}, {state})", view.name, view.slug);
    println!("  Base API URL:         {}", view.base_api_url);
    println!("  Authentication Type:  {}", view.auth);
    if let Some(url) = &view.authentication_url {
        println!("  Authentication URL:   {url}");
    }
    if let Some(url) = &view.token_endpoint_url {
        println!("  Token Endpoint URL:   {url}");
    }
    if let Some(id) = &view.client_id {
        println!("  Client ID:            {id}");
    }
    for uri in &view.redirect_uris {
        println!("  Redirect URI:         {uri}");
    }
    for param in &view.request_params {
        println!("  Request parameter:    {param}");
    }
    for key in &view.api_keys {
        println!(
            "  ApiKey:               {}… (issued {})",
            key.hint,
            key.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        );
    }
    println!("  Library:              {} {}", view.storage_kind, view.root);
    println!("  Default role:         {}", view.default_role.as_str());
    for action in &view.custom_actions {
        let target = action.folder.clone().or_else(|| action.url.clone()).unwrap_or_default();
        println!("  Action:               {} ({:?}, {} {target})", action.name, action.display_name, action.kind);
    }
}

pub async fn run(data_dir: &Path, config: &Config, command: IntegrationCommand) -> anyhow::Result<ExitCode> {
    let registry = super::open_registry(data_dir, config).await?;
    let public_url = super::cli_public_url(config, &registry).await;
    let admin = Admin::new(registry, public_url, actor()).with_roots(Some(Arc::new(config.root_policy(data_dir))));
    match command {
        IntegrationCommand::Add {
            name,
            auth,
            slug,
            root,
            storage,
            redirect_uris,
            request_params,
            default_role,
            actions,
            actions_file,
            json,
        } => {
            let storage = storage.unwrap_or_else(|| config.storage.kind.clone());
            if storage == "s3" && config.s3().is_none() {
                anyhow::bail!(
                    "storage: s3 needs a bucket: set [storage.s3] bucket (and its endpoint and credentials) in the configuration"
                );
            }
            let remote = docbridge_server::config::REMOTE_KINDS.contains(&storage.as_str());
            if remote && config.remote(&storage).is_none() {
                anyhow::bail!(
                    "storage: {storage} needs its store: set [storage.{storage}] (endpoint, container or bucket, and credentials) in the configuration"
                );
            }
            let auth = AuthType::parse(&auth).unwrap_or(AuthType::ApiKey);
            let default_role = setup::parse_default_role(&default_role)?;
            let mut secrets = BTreeMap::new();
            let (mut custom_actions, from_file) = parse_actions(&actions, actions_file.as_deref(), &mut secrets)?;
            custom_actions.extend(from_file.unwrap_or_default());
            let slug = slug.unwrap_or_else(|| setup::slug_from_name(&name));
            docbridge_registry::validate_slug(&slug)?;
            // A folder of its own beside the default library, never inside it: nested, the
            // default integration's callers would see this one's documents.
            let root = match storage.as_str() {
                "fs" => root.unwrap_or_else(|| data_dir.join("libraries").join(&slug).display().to_string()),
                _ => root.unwrap_or_else(|| slug.clone()),
            };
            let request = AddIntegration {
                name,
                slug: Some(slug),
                auth,
                root: root.clone(),
                redirect_uris,
                request_params,
                default_role,
                custom_actions,
            };
            // An S3 library is a key prefix: nothing to create before the first upload.
            let local = storage == "fs";
            // Before the folder is made: a refused root must not leave one behind.
            admin.check_root(request.slug.as_deref().unwrap_or_default(), &storage, &root).await?;
            let created = local && std::fs::exists(&root).is_ok_and(|e| !e);
            if local {
                docbridge_server::data_dir::create_private_dir(root.as_ref())
                    .map_err(|e| anyhow::anyhow!("root: cannot create {root}: {e}"))?;
            }
            if let Some(remote) = config.remote(&storage) {
                // A WebDAV server writes only into folders that exist; this also checks, before
                // anything is registered, that the store answers and takes the credentials.
                let store = docbridge_storage::RemoteStorage::connect_with_timeout(&remote, config.storage_timeout())
                    .and_then(|store| store.within(&root))
                    .map_err(|e| anyhow::anyhow!("storage: {storage}: {e}"))?;
                store
                    .create_root()
                    .await
                    .map_err(|e| anyhow::anyhow!("root: cannot create {root} in {storage}: {e}"))?;
            }
            let credentials = match admin.add(request, &storage).await {
                Ok((_, credentials)) => credentials,
                Err(e) => {
                    // Leave no empty folder behind a refused registration.
                    if created {
                        let _ = std::fs::remove_dir(&root);
                    }
                    return Err(e.into());
                }
            };
            if json {
                print_json(&with_secrets(&credentials, &secrets)?)?;
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
                print_secrets(&secrets);
                println!("The secret is shown only now.");
            }
        }
        IntegrationCommand::List { json } => {
            let views = admin.list().await?;
            if json {
                print_json(&views)?;
            } else {
                for view in &views {
                    let state = if view.enabled { "enabled" } else { "disabled" };
                    println!("{:<20} {:<8} {:<9} {}", view.slug, view.auth, state, view.base_api_url);
                }
            }
        }
        IntegrationCommand::Show { slug, json } => {
            let view = admin.show(&slug).await?;
            if json { print_json(&view)? } else { print_view(&view) }
        }
        IntegrationCommand::Edit(args) => {
            let mut secrets = BTreeMap::new();
            let (upsert_actions, custom_actions) =
                parse_actions(&args.actions, args.actions_file.as_deref(), &mut secrets)?;
            let list = |values: Vec<String>, clear: bool| {
                if clear { Some(Vec::new()) } else { Some(values).filter(|v| !v.is_empty()) }
            };
            let patch = IntegrationPatch {
                name: args.name,
                redirect_uris: list(args.redirect_uris, args.clear_redirect_uris),
                request_params: list(args.request_params, args.clear_params),
                storage_root: args.root,
                default_role: args.default_role.as_deref().map(setup::parse_default_role).transpose()?,
                enabled: None,
                custom_actions,
                upsert_actions,
                remove_actions: args.remove_actions,
            };
            let view = admin.edit(&args.slug, &patch).await?;
            if args.json {
                print_json(&with_secrets(&view, &secrets)?)?;
            } else {
                print_view(&view);
                print_secrets(&secrets);
            }
        }
        IntegrationCommand::Enable { slug, json } => state_change(&admin, &slug, true, json).await?,
        IntegrationCommand::Disable { slug, json } => state_change(&admin, &slug, false, json).await?,
        IntegrationCommand::Delete { slug, json } => {
            admin.delete(&slug).await?;
            if json {
                print_json(&serde_json::json!({"status": "deleted", "slug": slug}))?;
            } else {
                println!("Integration {slug:?} deleted (its documents are still in its folder).");
            }
        }
        IntegrationCommand::RotateKey { slug, json } => {
            let rotated = admin.rotate_key(&slug).await?;
            if json {
                print_json(&rotated)?;
            } else if let Some(key) = &rotated.api_key {
                println!("New ApiKey for {slug:?}: {key}");
                println!(
                    "Shown only now. The {} older key(s) keep working until `docbridge integration revoke-keys {slug} --keep-newest`.",
                    rotated.active_keys.saturating_sub(1)
                );
            } else if let Some(secret) = &rotated.client_secret {
                println!("New Client Secret for {slug:?}: {secret}");
                println!("Shown only now. The previous secret no longer works: update Workfront's form.");
            }
        }
        IntegrationCommand::RevokeKeys { slug, keep_newest, hint, json } => {
            let which = match hint {
                Some(hint) if !keep_newest => RevokeKeys::Hint(hint),
                _ => RevokeKeys::AllButNewest,
            };
            let revoked = admin.revoke_keys(&slug, &which).await?;
            if json {
                print_json(&serde_json::json!({"slug": slug, "revoked": revoked}))?;
            } else {
                println!("Revoked {revoked} key(s) of {slug:?}.");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn state_change(admin: &Admin, slug: &str, enabled: bool, json: bool) -> anyhow::Result<()> {
    let view = admin.set_enabled(slug, enabled).await?;
    if json {
        print_json(&view)?;
    } else {
        println!(
            "Integration {slug:?} {}.",
            if enabled { "enabled" } else { "disabled: every endpoint but serviceInfo answers 403" }
        );
    }
    Ok(())
}
