//! The `docbridge` command: `serve` (the default) and the administration and client commands.

mod cli;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use docbridge_server::config::{Config, Overrides};
use docbridge_server::{AppState, BuiltinStorage, ServerSettings, setup};

#[derive(Debug, Parser)]
#[command(name = "docbridge", version, about = "A Document Webhooks provider for Adobe Workfront")]
struct Cli {
    /// Where docbridge keeps its database, documents and caches.
    #[arg(long, env = "DOCBRIDGE_DATA_DIR", default_value = "./data")]
    data_dir: PathBuf,
    /// A configuration file (TOML) over the embedded defaults.
    #[arg(long, env = "DOCBRIDGE_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (what plain `docbridge` does).
    Serve(ServeArgs),
    /// Manage integrations (Workfront's Custom Integrations).
    #[command(subcommand)]
    Integration(cli::integration::IntegrationCommand),
    /// Local users and their roles per integration.
    #[command(subcommand)]
    User(cli::user::UserCommand),
    /// The audit trail of changes.
    #[command(subcommand)]
    Audit(cli::audit::AuditCommand),
    /// Deleted items: list, restore, purge.
    #[command(subcommand)]
    Trash(cli::maintenance::TrashCommand),
    /// Check that the index and storage agree, repair what does not, and report it.
    Fsck(cli::maintenance::FsckArgs),
    /// Calling any Document Webhooks provider as Workfront does.
    #[command(flatten)]
    Client(cli::client::ClientCommand),
    /// OAuth2 tokens issued to Workfront: list, revoke.
    #[command(subcommand)]
    Token(cli::token::TokenCommand),
    /// Check the setup for what keeps Workfront from using it, each failure with its fix.
    Doctor(cli::doctor::DoctorArgs),
}

/// Prints a line of the server's own output. Unlike `println!`, it does not panic when nobody
/// reads standard output any more (a supervisor that closed the pipe): the server serves on.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

#[derive(Debug, Default, clap::Args)]
struct ServeArgs {
    /// Address to listen on, e.g. 127.0.0.1:8080 (port 0 picks a free one).
    #[arg(long)]
    listen: Option<String>,
    /// The URL Workfront uses to reach this server.
    #[arg(long)]
    public_url: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let overrides = match &cli.command {
        Some(Command::Serve(args)) => Overrides { listen: args.listen.clone(), public_url: args.public_url.clone() },
        _ => Overrides::default(),
    };
    let command = match cli.command {
        // Before loading the configuration: a broken one is doctor's first finding, not an exit.
        Some(Command::Doctor(args)) => return cli::doctor::run(&cli.data_dir, cli.config.as_deref(), &env, args).await,
        command => command,
    };
    let config = Config::load(cli.config.as_deref(), &env, &overrides)?;
    match command {
        None => serve(&cli.data_dir, config).await,
        Some(Command::Serve(_)) => serve(&cli.data_dir, config).await,
        Some(Command::Integration(command)) => cli::integration::run(&cli.data_dir, &config, command).await,
        Some(Command::User(command)) => cli::user::run(&cli.data_dir, &config, command).await,
        Some(Command::Audit(command)) => cli::audit::run(&cli.data_dir, &config, command).await,
        Some(Command::Trash(command)) => cli::maintenance::run_trash(&cli.data_dir, &config, command).await,
        Some(Command::Fsck(args)) => cli::maintenance::run_fsck(&cli.data_dir, &config, args).await,
        Some(Command::Client(command)) => cli::client::run(&cli.data_dir, command).await,
        Some(Command::Token(command)) => cli::token::run(&cli.data_dir, &config, command).await,
        Some(Command::Doctor(_)) => unreachable!("doctor runs before the configuration is loaded"),
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter =
        EnvFilter::try_from_env("DOCBRIDGE_LOG").unwrap_or_else(|_| EnvFilter::new("info,sea_orm=warn,sqlx=warn"));
    let json = std::env::var("DOCBRIDGE_LOG_FORMAT").is_ok_and(|f| f == "json");
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    if json { builder.json().init() } else { builder.init() }
}

async fn serve(data_dir: &std::path::Path, config: Config) -> anyhow::Result<ExitCode> {
    init_logging();
    let registry = cli::open_registry(data_dir, &config).await?;
    // Before listening: a bad certificate is a start-up error, not a failed first handshake.
    let tls = docbridge_server::tls::from_config(&config.http)?;
    let listener = tokio::net::TcpListener::bind(&config.http.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.http.listen))?;
    let local = listener.local_addr()?;
    let public_url = cli::public_url(&config, Some(local));
    let public_url = if tls.is_some() && config.public_url.is_empty() {
        // Serving TLS itself, docbridge's own address is an https URL.
        public_url.replacen("http://", "https://", 1)
    } else {
        public_url
    };
    // With S3 nothing is made on this disk: the library is a prefix in the bucket (C24).
    let default_library = if config.storage.kind == "s3" {
        setup::DefaultLibrary::S3(config.s3_root())
    } else if let Some(remote) = config.remote(&config.storage.kind) {
        // A store's folder or prefix; a WebDAV server writes only into folders that exist.
        let root = config.remote_root();
        docbridge_storage::RemoteStorage::connect(&remote)
            .and_then(|store| store.within(&root))
            .context("cannot configure the store of [storage] kind")?
            .create_root()
            .await
            .with_context(|| format!("cannot create the library {root} in {}", config.storage.kind))?;
        setup::DefaultLibrary::Store { kind: remote.kind(), root }
    } else {
        let root = config.storage_root(data_dir);
        docbridge_server::data_dir::create_private_dir(&root)
            .with_context(|| format!("cannot create {}", root.display()))?;
        setup::DefaultLibrary::Fs(root)
    };
    // The command line, run beside the server without a configured public URL, prints Base API
    // URLs with the address the server actually serves on rather than the default one.
    registry.set_setting(cli::SERVED_PUBLIC_URL, &public_url).await.context("cannot record the public URL")?;
    if let Some(credentials) = setup::ensure_default_library(&registry, &public_url, &default_library).await? {
        // Printed once, on the first start; the key is stored only as a hash.
        say!("docbridge is ready for Workfront (Setup > Documents > Custom Integrations > Add Integration):");
        say!("  Name:                {}", credentials.name);
        say!("  Authentication Type: ApiKey");
        say!("  Base API URL:        {}", credentials.base_api_url);
        say!("  ApiKey:              {}", credentials.api_key.unwrap_or_default());
        match &default_library {
            setup::DefaultLibrary::Fs(_) => say!("  Documents folder:    {}", credentials.root),
            setup::DefaultLibrary::Store { kind, root } => say!("  Documents:           {root} in the {kind} store"),
            setup::DefaultLibrary::S3(_) => {
                let prefix = config.storage.s3.prefix.trim_matches('/');
                let at =
                    if prefix.is_empty() { credentials.root.clone() } else { format!("{prefix}/{}", credentials.root) };
                say!("  Documents:           s3://{}/{at}", config.storage.s3.bucket);
            }
        }
        say!("Keep the ApiKey: it is not shown again (rotate it with `docbridge integration rotate-key default`).");
        for warning in docbridge_server::config::public_url_warnings(&public_url) {
            say!("Warning: {warning}.");
        }
    }
    for warning in docbridge_server::config::public_url_warnings(&public_url) {
        tracing::warn!("{warning}");
    }
    let library_settings = config.library_settings(data_dir);
    // Thumbnails of private documents: as private as the data directory.
    docbridge_server::data_dir::create_private_dir(&library_settings.cache_dir)
        .with_context(|| format!("cannot create {}", library_settings.cache_dir.display()))?;
    let settings = ServerSettings {
        public_url: public_url.clone(),
        publisher: config.publisher.clone(),
        link_ttl: chrono::Duration::seconds(config.links.ttl_secs as i64),
        library: Arc::new(library_settings),
        request_timeout: Duration::from_secs(config.http.request_timeout_secs),
        max_concurrent_uploads: config.documents.max_concurrent_uploads,
        max_auth_failures_per_minute: config.http.max_auth_failures_per_minute,
        trusted_proxies: config.http.trusted_proxies()?,
        timeouts: config.http.timeouts(),
    };
    let storage = BuiltinStorage::for_config(&config).context("cannot configure the stores of [storage]")?;
    // Libraries in forbidden places (the data directory, another library; issue #13 finding 10)
    // registered before these rules, or by hand, are not served; the others are.
    let roots = config.root_policy(data_dir);
    let refused = roots.refused(&registry).await.context("cannot check the integrations' libraries")?;
    for (id, reason) in &refused {
        tracing::error!(integration_id = id, %reason, "this integration's library is not served until its root is moved");
    }
    let state = AppState::new(registry, settings, Arc::new(storage))
        .await?
        .with_admin_token(config.admin.token.clone())
        .with_root_policy(roots, refused);
    if config.documents.rescan_interval_secs > 0 {
        docbridge_server::spawn_maintenance(state.clone(), Duration::from_secs(config.documents.rescan_interval_secs));
    }
    tracing::info!(%local, %public_url, "docbridge listening");
    ignore_hangup_without_tls(tls.is_some());
    // Stop accepting on SIGTERM, let requests in flight finish, but not for ever.
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stopping_tx.send(());
    };
    // The authorization server's `[oauth]` settings travel as a request extension (C4).
    let app = docbridge_server::oauth::configure(docbridge_server::router(state), config.oauth.settings());
    let server = docbridge_server::tls::serve(listener, app, tls, config.http.timeouts(), shutdown);
    let deadline = async move {
        if stopping_rx.await.is_ok() {
            tokio::time::sleep(grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        result = server => result?,
        () = deadline => tracing::warn!(grace_secs = grace.as_secs(), "requests still in flight after the grace period; exiting"),
    }
    tracing::info!("docbridge stopped");
    Ok(ExitCode::SUCCESS)
}

/// SIGHUP's default action ends a process, and supervisors and log rotation send it meaning
/// "reload": with TLS, `tls::serve` reloads the certificate on it; without, there is nothing to
/// reload yet, but the server must not die of it.
fn ignore_hangup_without_tls(tls: bool) {
    #[cfg(unix)]
    if !tls {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
            Ok(mut hangup) => {
                tokio::spawn(async move {
                    while hangup.recv().await.is_some() {
                        tracing::info!("SIGHUP: nothing to reload when serving plain HTTP");
                    }
                });
            }
            Err(e) => tracing::warn!(error = %e, "cannot handle SIGHUP; it would stop the server"),
        }
    }
    #[cfg(not(unix))]
    let _ = tls;
}

/// Resolves on SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing requests in flight");
}
