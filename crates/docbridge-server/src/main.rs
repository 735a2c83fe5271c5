//! The `docbridge` command: `serve` (the default) and the administration and client commands.

mod cli;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand};
use docbridge_server::config::{Config, LogFormat, Overrides};
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
    /// Writes the man pages and shell completions into a folder (for packages).
    #[command(hide = true)]
    GenerateAssets {
        /// The folder: `man/` and `completions/` are made in it.
        dir: PathBuf,
    },
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

/// Where `serve` loaded its configuration from, to load it again on SIGHUP.
#[derive(Debug)]
struct ReloadFrom {
    file: Option<PathBuf>,
    env: HashMap<String, String>,
    overrides: Overrides,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Before any thread exists: taking the sockets unsets LISTEN_FDS and LISTEN_PID.
    let activated = listenfd::ListenFd::from_env();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, activated)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, activated: listenfd::ListenFd) -> anyhow::Result<ExitCode> {
    let env: HashMap<String, String> = std::env::vars().collect();
    let overrides = match &cli.command {
        Some(Command::Serve(args)) => Overrides { listen: args.listen.clone(), public_url: args.public_url.clone() },
        _ => Overrides::default(),
    };
    let command = match cli.command {
        // Before loading the configuration: a broken one is doctor's first finding, not an exit.
        Some(Command::Doctor(args)) => return cli::doctor::run(&cli.data_dir, cli.config.as_deref(), &env, args).await,
        // Needs no configuration: it describes the command line itself.
        Some(Command::GenerateAssets { dir }) => {
            cli::assets::write(<Cli as clap::CommandFactory>::command(), &dir)?;
            return Ok(ExitCode::SUCCESS);
        }
        command => command,
    };
    let config = Config::load(cli.config.as_deref(), &env, &overrides)?;
    let reload = ReloadFrom { file: cli.config.clone(), env, overrides };
    match command {
        None | Some(Command::Serve(_)) => serve(&cli.data_dir, config, reload, activated).await,
        Some(Command::Integration(command)) => cli::integration::run(&cli.data_dir, &config, command).await,
        Some(Command::User(command)) => cli::user::run(&cli.data_dir, &config, command).await,
        Some(Command::Audit(command)) => cli::audit::run(&cli.data_dir, &config, command).await,
        Some(Command::Trash(command)) => cli::maintenance::run_trash(&cli.data_dir, &config, command).await,
        Some(Command::Fsck(args)) => cli::maintenance::run_fsck(&cli.data_dir, &config, args).await,
        Some(Command::Client(command)) => cli::client::run(&cli.data_dir, command).await,
        Some(Command::Token(command)) => cli::token::run(&cli.data_dir, &config, command).await,
        Some(Command::Doctor(_) | Command::GenerateAssets { .. }) => {
            unreachable!("doctor and generate-assets run before the configuration is loaded")
        }
    }
}

/// Swaps the log filter of the running subscriber.
type LogReload = tracing_subscriber::reload::Handle<tracing_subscriber::EnvFilter, tracing_subscriber::Registry>;

/// Starts the log: filter and format from `[log]` or, winning, `DOCBRIDGE_LOG` and
/// `DOCBRIDGE_LOG_FORMAT`; ANSI colours only when standard error is a terminal (a journal or a
/// log file would keep the escape codes as text) and `NO_COLOR` is unset.
fn init_logging(config: &Config, env: &HashMap<String, String>) -> anyhow::Result<LogReload> {
    use std::io::IsTerminal;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let (level, format) = config.log.effective(env)?;
    let (filter, reload) =
        tracing_subscriber::reload::Layer::new(tracing_subscriber::EnvFilter::builder().parse(&level)?);
    let ansi = std::io::stderr().is_terminal() && env.get("NO_COLOR").is_none_or(|v| v.is_empty());
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr).with_ansi(ansi);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Json => registry.with(layer.json()).try_init()?,
        LogFormat::Text => registry.with(layer).try_init()?,
    }
    Ok(reload)
}

/// What SIGHUP reloads, from the same file and environment as at start: the log filter and the
/// limits ([`docbridge_server::LiveLimits`]). (With HTTPS, `tls::reload_on_sighup` also reloads
/// the certificate on it.) A file that no longer loads keeps everything as it was and says why; the
/// signal never ends the process.
#[derive(Debug)]
struct Reload {
    file: Option<PathBuf>,
    env: HashMap<String, String>,
    overrides: Overrides,
    log: LogReload,
    /// Set once the server's state exists; a SIGHUP before that reloads the log level only.
    limits: Arc<OnceLock<Arc<docbridge_server::Limits>>>,
}

impl Reload {
    fn apply(&self) {
        let config = match Config::load(self.file.as_deref(), &self.env, &self.overrides) {
            Ok(config) => config,
            Err(e) => {
                tracing::error!("SIGHUP: {e}; nothing reloaded, fix the file and send SIGHUP again");
                return;
            }
        };
        if let Some(limits) = self.limits.get() {
            let live = config.http.live_limits(&config.documents);
            if live != limits.live() {
                limits.update(live);
                tracing::info!(
                    max_concurrent_uploads = live.max_concurrent_uploads,
                    max_auth_failures_per_minute = live.max_auth_failures_per_minute,
                    min_upload_bytes_per_sec = live.min_upload_rate.map_or(0, |rate| rate.bytes_per_sec),
                    "SIGHUP: limits applied"
                );
            }
        }
        let level = match config.log.effective(&self.env) {
            Ok((level, _)) => level,
            Err(e) => {
                tracing::error!("SIGHUP: {e}; the log level is unchanged");
                return;
            }
        };
        match tracing_subscriber::EnvFilter::builder().parse(&level) {
            Ok(filter) => match self.log.reload(filter) {
                Ok(()) => tracing::info!(%level, "SIGHUP: configuration read again, log level applied"),
                Err(e) => tracing::error!(error = %e, "SIGHUP: cannot change the log level"),
            },
            Err(e) => tracing::error!(error = %e, "SIGHUP: log level {level:?} is not a filter; unchanged"),
        }
    }
}

/// SIGHUP's default action ends a process; supervisors and log rotation send it meaning
/// "reload". Handled for as long as the process runs, with or without TLS.
fn reload_on_hangup(reload: Reload) {
    #[cfg(unix)]
    match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        Ok(mut hangup) => {
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    reload.apply();
                }
            });
        }
        Err(e) => tracing::warn!(error = %e, "cannot handle SIGHUP; it would stop the server"),
    }
    #[cfg(not(unix))]
    let _ = reload;
}

/// Tells systemd (`Type=notify`) how the service is doing; nothing when not started by it.
fn notify_systemd(state: sd_notify::NotifyState<'_>) {
    if let Err(e) = sd_notify::notify(&[state]) {
        tracing::debug!(error = %e, "sd_notify");
    }
}

/// The plain-HTTP listener of automatic HTTPS (`[http.acme] http_listen`), when configured. A
/// port that cannot be bound stops the start with challenge = "http-01", which cannot work
/// without it; with "tls-alpn-01" only the redirect to HTTPS is missing: one error line, and
/// the server starts.
async fn bind_acme_http(
    config: &docbridge_server::acme::AcmeConfig,
) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    let Some(address) = config.http_listen().map_err(anyhow::Error::msg)? else { return Ok(None) };
    match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => Ok(Some(listener)),
        Err(e) => {
            let line = docbridge_server::config::listen_error("[http.acme] http_listen", &address.to_string(), &e);
            if config.challenge == docbridge_server::acme::AcmeChallenge::Http01 {
                anyhow::bail!("{line} (challenge = \"http-01\" is answered there)");
            }
            tracing::error!(
                "{line}; docbridge serves HTTPS without it, but http:// addresses are not redirected to https://"
            );
            Ok(None)
        }
    }
}

/// Serves `/metrics` on a listener of its own (`[metrics] listen`). A taken port is one error
/// line, not a failed start: metrics are not worth an outage, and a second docbridge on the same
/// machine would otherwise not start with the defaults.
async fn serve_metrics(config: &Config) -> anyhow::Result<Option<std::net::SocketAddr>> {
    let Some(address) = config.metrics.listen()? else { return Ok(None) };
    match tokio::net::TcpListener::bind(address).await {
        Ok(listener) => {
            let local = listener.local_addr()?;
            let timeouts = config.http.timeouts();
            tokio::spawn(async move {
                let serving = docbridge_server::serve_with(
                    listener,
                    docbridge_server::metrics_router(),
                    timeouts,
                    std::future::pending(),
                );
                if let Err(e) = serving.await {
                    tracing::error!(error = %e, "the metrics listener stopped");
                }
            });
            Ok(Some(local))
        }
        Err(e) => {
            tracing::error!(
                "cannot listen on {address} for /metrics ([metrics] listen): {e}; metrics are not served: free the port, set another address, or set it to \"\" to turn this listener off"
            );
            Ok(None)
        }
    }
}

/// The socket systemd passed (socket activation: `docbridge.socket`, `docs/deploy.md`), which
/// takes the place of `[http] listen`; `None` when started any other way.
fn activated_listener(mut activated: listenfd::ListenFd) -> anyhow::Result<Option<tokio::net::TcpListener>> {
    match activated.len() {
        0 => Ok(None),
        1 => {
            let listener = activated
                .take_tcp_listener(0)
                .context("the socket systemd passed (socket activation) is not a TCP socket: give docbridge.socket a ListenStream= of an address and port")?
                .context("the socket systemd passed was already taken")?;
            listener.set_nonblocking(true)?;
            Ok(Some(tokio::net::TcpListener::from_std(listener)?))
        }
        n => anyhow::bail!(
            "systemd passed {n} sockets (socket activation); docbridge takes one, for [http] listen: give docbridge.socket one ListenStream="
        ),
    }
}

async fn serve(
    data_dir: &std::path::Path,
    config: Config,
    reload: ReloadFrom,
    activated: listenfd::ListenFd,
) -> anyhow::Result<ExitCode> {
    let log = init_logging(&config, &reload.env)?;
    let live_limits = Arc::new(OnceLock::new());
    reload_on_hangup(Reload {
        file: reload.file,
        env: reload.env,
        overrides: reload.overrides,
        log,
        limits: live_limits.clone(),
    });
    let registry = cli::open_registry(data_dir, &config).await?;
    // On PostgreSQL every request waits on a pooled database connection: `threads.rs`.
    let serve_on = docbridge_server::threads::serving(config.http.threads, registry.is_postgres());
    // Before listening: a bad certificate is a start-up error, not a failed first handshake.
    let tls = docbridge_server::tls::from_config(&config.http)?;
    // Automatic HTTPS: the cached certificate (if any) is served from the first connection on.
    let acme = if config.http.acme.enabled {
        Some(docbridge_server::acme::Acme::new(&config.http.acme, &config.public_url, data_dir)?)
    } else {
        None
    };
    let listener = match activated_listener(activated)? {
        Some(listener) => {
            tracing::info!(local = %listener.local_addr()?, "socket activation: serving on the socket systemd passed, not [http] listen");
            listener
        }
        None => tokio::net::TcpListener::bind(&config.http.listen).await.map_err(|e| {
            anyhow::anyhow!(docbridge_server::config::listen_error("[http] listen", &config.http.listen, &e))
        })?,
    };
    let local = listener.local_addr()?;
    // Bound now, before anything is asked of the CA, so that an HTTP-01 validation finds it.
    let acme_http = match &acme {
        Some(_) => bind_acme_http(&config.http.acme).await?,
        None => None,
    };
    let public_url = cli::public_url(&config, Some(local));
    let public_url = if (tls.is_some() || acme.is_some()) && config.public_url.is_empty() {
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
        docbridge_storage::RemoteStorage::connect_with_timeout(&remote, config.storage_timeout())
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
    let public_metrics = {
        use secrecy::ExposeSecret;
        if config.metrics.token.expose_secret().is_empty() {
            docbridge_server::PublicMetrics::Off
        } else {
            docbridge_server::PublicMetrics::Token(Arc::new(config.metrics.token.clone()))
        }
    };
    let state = AppState::new(registry, settings, Arc::new(storage))
        .await?
        .with_admin_token(config.admin.token.clone())
        .with_public_metrics(public_metrics)
        .with_root_policy(roots, refused);
    let state = match &acme {
        Some(acme) => state.with_acme(acme.clone()),
        None => state,
    };
    let _ = live_limits.set(state.limits.clone());
    if config.documents.rescan_interval_secs > 0 {
        docbridge_server::spawn_maintenance(state.clone(), Duration::from_secs(config.documents.rescan_interval_secs));
    }
    let metrics = serve_metrics(&config).await?;
    if let (Some(acme), Some(listener)) = (&acme, acme_http) {
        let address = listener.local_addr()?;
        let serving =
            docbridge_server::serve_with(listener, acme.http_router(), config.http.timeouts(), std::future::pending());
        tokio::spawn(async move {
            if let Err(e) = serving.await {
                tracing::error!(error = %e, "the plain-HTTP listener ([http.acme] http_listen) stopped");
            }
        });
        tracing::info!(%address, "plain HTTP: ACME HTTP-01 answers, every other request redirected to public_url");
    }
    match metrics {
        Some(metrics) => tracing::info!(%local, %public_url, %metrics, "docbridge listening (/metrics on {metrics})"),
        None => tracing::info!(%local, %public_url, "docbridge listening"),
    }
    notify_systemd(sd_notify::NotifyState::Ready);
    // Stop accepting on SIGTERM, let requests in flight finish, but not for ever.
    let (stopping_tx, stopping_rx) = tokio::sync::oneshot::channel::<()>();
    let grace = Duration::from_secs(config.http.shutdown_grace_secs);
    let shutdown = async move {
        shutdown_signal().await;
        let _ = stopping_tx.send(());
    };
    // The authorization server's `[oauth]` settings travel as a request extension (C4).
    let app = docbridge_server::oauth::configure(docbridge_server::router(state), config.oauth.settings());
    // Thread-per-core serving (`threads.rs`): every serving thread serves the same app, over TLS with
    // the certificate of `[http] tls_cert` or `[http.acme]`, or plain.
    let timeouts = config.http.timeouts();
    let serve_one: Arc<docbridge_server::threads::ServeOne> = match (&acme, tls) {
        (Some(acme), _) => {
            let acme = acme.clone();
            Arc::new(move |listener, stop| {
                Box::pin(docbridge_server::tls::serve_acme(listener, app.clone(), acme.clone(), timeouts, stop))
            })
        }
        (None, Some(cert)) => {
            // Once for the process: a SIGHUP reloads the certificate every thread serves.
            #[cfg(unix)]
            docbridge_server::tls::reload_on_sighup(cert.clone())?;
            Arc::new(move |listener, stop| {
                Box::pin(docbridge_server::tls::serve_tls(listener, app.clone(), cert.clone(), timeouts, stop))
            })
        }
        (None, None) => Arc::new(move |listener, stop| {
            Box::pin(docbridge_server::serve_with(listener, app.clone(), timeouts, stop))
        }),
    };
    if let Some(acme) = &acme {
        tokio::spawn(acme.clone().run());
    }
    tracing::debug!(?serve_on, "serving");
    let server = docbridge_server::threads::serve(listener, serve_on, serve_one, shutdown);
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
    notify_systemd(sd_notify::NotifyState::Stopping);
    tracing::info!("shutting down: finishing requests in flight");
}
