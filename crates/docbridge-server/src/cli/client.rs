//! `docbridge remote|ls|stat|get|put|mkdir|mv|rm|find|action|validate`: the client side of
//! docbridge on the command line, a thin clap layer over `docbridge_client` (contract C23).

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use docbridge_client::commands::{self, GetDestination, Progress, WorkfrontIds};
use docbridge_client::oauth::{self, DEFAULT_REDIRECT_URI, OAuthConfig};
use docbridge_client::remotes::RemotePath;
use docbridge_client::validate::{self, Group, ValidateOptions};
use docbridge_client::{Auth, Client, RemoteConfig, RequestParam};
use indicatif::{ProgressBar, ProgressStyle};

#[derive(clap::Subcommand, Debug)]
pub enum ClientCommand {
    /// Manage remotes: named providers that the file commands address as REMOTE:PATH.
    Remote {
        #[command(subcommand)]
        command: RemoteCommand,
    },
    /// List a folder (REMOTE:/path/to/folder, REMOTE:id=ID, REMOTE:/ for the root).
    Ls(LsArgs),
    /// Show an item's metadata.
    Stat(StatArgs),
    /// Download a file: `get REMOTE:PATH [LOCAL]` (LOCAL `-` is standard output).
    Get(GetArgs),
    /// Upload a file into a folder: `put LOCAL REMOTE:FOLDER [--name N]`.
    Put(PutArgs),
    /// Create a folder: `mkdir REMOTE:/parent/new`, or `mkdir REMOTE:PARENT --name NEW`.
    Mkdir(MkdirArgs),
    /// Rename an item in place: `mv REMOTE:PATH NEWNAME`.
    Mv(MvArgs),
    /// Delete an item (a folder with its contents needs --recursive).
    Rm(RmArgs),
    /// Search: `find REMOTE:[FOLDER] QUERY`.
    Find(FindArgs),
    /// Run a custom action on an item: `action REMOTE:PATH ACTION_NAME`.
    Action(ActionArgs),
    /// Check a provider against the Document Webhooks protocol and docbridge's contract.
    Validate(ValidateArgs),
}

#[derive(clap::Subcommand, Debug)]
pub enum RemoteCommand {
    /// Store a remote: `remote add NAME --base-url URL (--api-key K --username U | --bearer T |
    /// --oauth-authorization-url URL --oauth-token-url URL --client-id ID [--client-secret S])`.
    Add(Box<RemoteAddArgs>),
    /// Sign in to an OAuth2 remote: prints the URL to open in a browser, waits for the redirect
    /// on the loopback redirect URI, and stores the tokens in the remotes file.
    Login(RemoteLoginArgs),
    /// List the remotes (secrets are shown as ***).
    List {
        #[arg(long)]
        json: bool,
    },
    /// Forget a remote.
    Remove { name: String },
}

/// How to authenticate: ApiKey and username, a bearer token, or nothing.
#[derive(clap::Args, Debug, Default)]
pub struct CredentialArgs {
    /// The ApiKey sent in the `apiKey` header (with --username).
    #[arg(long, requires = "username", conflicts_with = "bearer", allow_hyphen_values = true)]
    api_key: Option<String>,
    /// The Workfront username sent in the `username` header (with --api-key).
    #[arg(long, requires = "api_key")]
    username: Option<String>,
    /// An OAuth2 access token sent as `Authorization: Bearer`.
    #[arg(long, allow_hyphen_values = true)]
    bearer: Option<String>,
}

impl CredentialArgs {
    fn into_auth(self) -> Auth {
        match (self.api_key, self.username, self.bearer) {
            (Some(api_key), Some(username), _) => Auth::ApiKey { api_key, username },
            (_, _, Some(token)) => Auth::Bearer { token },
            _ => Auth::None,
        }
    }
}

/// OAuth2 credentials: the fields of Workfront's *Add Custom Integration* form. Tokens come
/// later, from `remote login`.
#[derive(clap::Args, Debug, Default)]
pub struct OAuthArgs {
    /// OAuth2: the provider's Authentication URL, where users sign in (with --oauth-token-url
    /// and --client-id).
    #[arg(
        long,
        value_name = "URL",
        requires_all = ["oauth_token_url", "client_id"],
        conflicts_with_all = ["api_key", "username", "bearer"]
    )]
    oauth_authorization_url: Option<String>,
    /// OAuth2: the provider's Token Endpoint URL.
    #[arg(long, value_name = "URL", requires = "oauth_authorization_url")]
    oauth_token_url: Option<String>,
    /// OAuth2: the Client ID registered with the provider (random IDs may start with '-').
    #[arg(long, value_name = "ID", requires = "oauth_authorization_url", allow_hyphen_values = true)]
    client_id: Option<String>,
    /// OAuth2: the Client Secret (stored in the remotes file, shown as ***).
    #[arg(long, value_name = "SECRET", requires = "oauth_authorization_url", allow_hyphen_values = true)]
    client_secret: Option<String>,
    /// OAuth2: where the provider sends the browser back; `remote login` listens there, so it
    /// must be http://127.0.0.1:PORT/PATH, registered with the provider as it is written
    /// [default: http://127.0.0.1:53691/callback].
    #[arg(long, value_name = "URL", requires = "oauth_authorization_url")]
    redirect_uri: Option<String>,
}

impl OAuthArgs {
    fn into_config(self) -> Option<OAuthConfig> {
        Some(OAuthConfig {
            authorization_url: self.oauth_authorization_url?,
            token_url: self.oauth_token_url.unwrap_or_default(),
            client_id: self.client_id.unwrap_or_default(),
            client_secret: self.client_secret,
            redirect_uri: self.redirect_uri.unwrap_or_else(|| DEFAULT_REDIRECT_URI.to_owned()),
        })
    }
}

#[derive(clap::Args, Debug)]
pub struct RemoteAddArgs {
    name: String,
    /// The provider's Base API URL; endpoint names are appended to it.
    #[arg(long)]
    base_url: String,
    #[command(flatten)]
    credentials: CredentialArgs,
    #[command(flatten)]
    oauth: OAuthArgs,
    /// A request parameter appended to every call, key=value (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<RequestParam>,
    /// Replace a remote of the same name.
    #[arg(long)]
    replace: bool,
}

#[derive(clap::Args, Debug)]
pub struct RemoteLoginArgs {
    /// The OAuth2 remote to sign in to.
    name: String,
    /// How long to wait for the browser to come back, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = oauth::LOGIN_TIMEOUT.as_secs())]
    timeout: u64,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct LsArgs {
    target: RemotePath,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct StatArgs {
    target: RemotePath,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct GetArgs {
    target: RemotePath,
    /// A file or directory (default: the item's name in the current directory); `-` for stdout.
    local: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct PutArgs {
    local: PathBuf,
    /// The destination folder.
    target: RemotePath,
    /// The name in the provider (default: the local file's name).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    workfront: WorkfrontIdArgs,
    /// No progress bar.
    #[arg(long, short)]
    quiet: bool,
    #[arg(long)]
    json: bool,
}

/// Workfront's own IDs of a document, as Workfront sends them (§9.6, §9.12).
#[derive(clap::Args, Debug, Default)]
pub struct WorkfrontIdArgs {
    /// Workfront's document ID.
    #[arg(long)]
    document_id: Option<String>,
    /// Workfront's document-version ID.
    #[arg(long)]
    document_version_id: Option<String>,
}

impl From<WorkfrontIdArgs> for WorkfrontIds {
    fn from(args: WorkfrontIdArgs) -> Self {
        WorkfrontIds { document_id: args.document_id, document_version_id: args.document_version_id }
    }
}

#[derive(clap::Args, Debug)]
pub struct MkdirArgs {
    /// The new folder as a path, or its parent when --name is given.
    target: RemotePath,
    #[arg(long)]
    name: Option<String>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct MvArgs {
    target: RemotePath,
    new_name: String,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct RmArgs {
    target: RemotePath,
    /// Required to delete a folder, which takes its contents with it.
    #[arg(long, short)]
    recursive: bool,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct FindArgs {
    /// Where to search: REMOTE: or REMOTE:/ for everywhere, or a folder.
    target: RemotePath,
    query: String,
    /// At most this many results.
    #[arg(long)]
    max: Option<u64>,
    #[arg(long)]
    json: bool,
}

#[derive(clap::Args, Debug)]
pub struct ActionArgs {
    target: RemotePath,
    /// The action's name, as declared in the provider's serviceInfo.
    action: String,
    #[command(flatten)]
    workfront: WorkfrontIdArgs,
    #[arg(long)]
    json: bool,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy, Default)]
pub enum ReportFormat {
    #[default]
    Text,
    Json,
    Junit,
}

#[derive(clap::Args, Debug)]
pub struct ValidateArgs {
    /// The provider's Base API URL.
    #[arg(long, required_unless_present = "remote")]
    base_url: Option<String>,
    #[command(flatten)]
    credentials: CredentialArgs,
    /// A request parameter appended to every call, key=value (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<RequestParam>,
    /// Use a stored remote's URL, parameters and credentials instead.
    #[arg(long, conflicts_with_all = ["base_url", "api_key", "username", "bearer", "params"])]
    remote: Option<String>,
    /// Run only this group (repeatable): core-1.0, upload-1.1, create-folder-1.2, unreleased,
    /// errors, apikey, oauth2, extensions, workfront-manual.
    #[arg(long = "group", value_name = "GROUP")]
    groups: Vec<Group>,
    #[arg(long, value_enum, default_value_t)]
    format: ReportFormat,
    /// Fail on deviations from docbridge's contract too, not only from Workfront's spec.
    #[arg(long)]
    strict: bool,
    /// Write the report to this file instead of standard output.
    #[arg(long)]
    output: Option<PathBuf>,
    /// The longest any single request may take, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60)]
    timeout: u64,
}

/// Runs one client command. Failures are returned as errors carrying the provider's message;
/// `validate` answers a failing exit code when any case failed.
pub async fn run(data_dir: &Path, command: ClientCommand) -> anyhow::Result<ExitCode> {
    match command {
        ClientCommand::Remote { command } => remote(data_dir, command).await,
        ClientCommand::Ls(args) => {
            let client = commands::open(data_dir, &args.target)?;
            let items = commands::list(&client, &args.target.location).await?;
            print(args.json, &items, || commands::render_items(&items))
        }
        ClientCommand::Stat(args) => {
            let client = commands::open(data_dir, &args.target)?;
            let item = commands::stat(&client, &args.target.location).await?;
            print(args.json, &item, || commands::render_item(&item))
        }
        ClientCommand::Get(args) => get(data_dir, args).await,
        ClientCommand::Put(args) => put(data_dir, args).await,
        ClientCommand::Mkdir(args) => {
            let client = commands::open(data_dir, &args.target)?;
            let folder = commands::mkdir(&client, &args.target.location, args.name.as_deref()).await?;
            print(args.json, &folder, || format!("created {} [id={}]\n", folder.title, folder.id))
        }
        ClientCommand::Mv(args) => {
            let client = commands::open(data_dir, &args.target)?;
            let outcome = commands::rename(&client, &args.target.location, &args.new_name).await?;
            print(args.json, &outcome, || format!("renamed {} to {} [id={}]\n", args.target, args.new_name, outcome.id))
        }
        ClientCommand::Rm(args) => {
            let client = commands::open(data_dir, &args.target)?;
            let outcome = commands::remove(&client, &args.target.location, args.recursive).await?;
            print(args.json, &outcome, || format!("deleted {} [id={}]\n", args.target, outcome.id))
        }
        ClientCommand::Find(args) => {
            let client = commands::open(data_dir, &args.target)?;
            let items = commands::find(&client, &args.target.location, &args.query, args.max).await?;
            print(args.json, &items, || commands::render_items(&items))
        }
        ClientCommand::Action(args) => {
            let client = commands::open(data_dir, &args.target)?;
            let ids = WorkfrontIds::from(args.workfront);
            let outcome = commands::action(&client, &args.target.location, &args.action, &ids).await?;
            print(args.json, &outcome, || format!("{} ran on {}\n", args.action, args.target))
        }
        ClientCommand::Validate(args) => run_validate(data_dir, args).await,
    }
}

async fn remote(data_dir: &Path, command: RemoteCommand) -> anyhow::Result<ExitCode> {
    match command {
        RemoteCommand::Add(args) => {
            let auth = match args.oauth.into_config() {
                Some(oauth) => Auth::OAuth2 { oauth, tokens: None },
                None => args.credentials.into_auth(),
            };
            let config =
                RemoteConfig { name: args.name.clone(), base_url: args.base_url, request_params: args.params, auth };
            let redirect_uri = match &config.auth {
                Auth::OAuth2 { oauth, .. } => Some(oauth.redirect_uri.clone()),
                _ => None,
            };
            commands::add_remote(data_dir, config, args.replace)?;
            println!(
                "remote {:?} saved in {}",
                args.name,
                data_dir.join(docbridge_client::remotes::REMOTES_FILE).display()
            );
            if let Some(redirect_uri) = redirect_uri {
                println!("Register this redirect URI with the provider: {redirect_uri}");
                println!("Then sign in with: docbridge remote login {}", args.name);
            }
            Ok(ExitCode::SUCCESS)
        }
        RemoteCommand::Login(args) => login(data_dir, args).await,
        RemoteCommand::List { json } => {
            let remotes = commands::list_remotes(data_dir)?;
            print(json, &remotes, || commands::render_remotes(&remotes))
        }
        RemoteCommand::Remove { name } => {
            commands::remove_remote(data_dir, &name)?;
            println!("remote {name:?} removed");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `remote login NAME`: the URL and the redirect URI go out at once (a script can read them
/// while the command waits), on stdout, or on stderr with --json; then the outcome.
async fn login(data_dir: &Path, args: RemoteLoginArgs) -> anyhow::Result<ExitCode> {
    let timeout = std::time::Duration::from_secs(args.timeout);
    let show_url = |url: &url::Url| {
        let redirect_uri =
            url.query_pairs().find(|(k, _)| k == "redirect_uri").map(|(_, v)| v.into_owned()).unwrap_or_default();
        let text = format!(
            "Open this URL in a browser to sign in to remote {:?}:\n\n    {url}\n\n\
             The provider sends the browser back to {redirect_uri}\n\
             (that redirect URI must be registered with the provider exactly as written).\n\
             Waiting up to {} seconds for the redirect; Ctrl-C gives up.\n",
            args.name,
            timeout.as_secs()
        );
        // Shown while the command waits, so written and flushed at once.
        let written = if args.json {
            let mut stderr = std::io::stderr().lock();
            stderr.write_all(text.as_bytes()).and_then(|()| stderr.flush())
        } else {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush())
        };
        if let Err(err) = written {
            eprintln!("cannot show the sign-in URL: {err}");
        }
    };
    let outcome = commands::login(data_dir, &args.name, timeout, show_url).await?;
    print(args.json, &outcome, || {
        let expiry = match &outcome.expires_at {
            Some(at) => format!("; the access token expires {at}"),
            None => String::new(),
        };
        let refresh = if outcome.refreshable {
            "it is renewed automatically when refused"
        } else {
            "no refresh token was issued: log in again when it is refused"
        };
        format!(
            "Logged in to remote {:?}. Tokens saved in {}{expiry}; {refresh}.\n",
            outcome.remote,
            outcome.path.display()
        )
    })
}

/// Prints JSON or the text rendering on stdout.
fn print<T: serde::Serialize + ?Sized>(
    json: bool,
    value: &T,
    text: impl FnOnce() -> String,
) -> anyhow::Result<ExitCode> {
    let rendered = if json { commands::to_json(value)? } else { text() };
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(rendered.as_bytes()).context("cannot write to standard output")?;
    stdout.flush().context("cannot write to standard output")?;
    Ok(ExitCode::SUCCESS)
}

/// An indicatif bar on stderr, hidden when stderr is not a terminal or with --quiet.
struct Bar(ProgressBar);

impl Bar {
    fn new(quiet: bool, label: String) -> Bar {
        let bar = if quiet || !std::io::stderr().is_terminal() { ProgressBar::hidden() } else { ProgressBar::new(0) };
        bar.set_message(label);
        Bar(bar)
    }
}

impl Progress for Bar {
    fn start(&self, total: Option<u64>) {
        let template = match total {
            Some(_) => "{msg} {wide_bar} {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            None => "{msg} {spinner} {bytes} {bytes_per_sec}",
        };
        if let Ok(style) = ProgressStyle::with_template(template) {
            self.0.set_style(style);
        }
        if let Some(total) = total {
            self.0.set_length(total);
        }
    }

    fn advance(&self, bytes: u64) {
        self.0.inc(bytes);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

async fn get(data_dir: &Path, args: GetArgs) -> anyhow::Result<ExitCode> {
    let client = commands::open(data_dir, &args.target)?;
    let destination = match &args.local {
        None => GetDestination::CurrentDir,
        Some(path) if path.as_os_str() == "-" => GetDestination::Stdout,
        Some(path) => GetDestination::Path(path.clone()),
    };
    let bar = Bar::new(args.quiet, args.target.to_string());
    let outcome = commands::get(&client, &args.target.location, &destination, &bar).await?;
    match &outcome.path {
        // The bytes went to stdout: say nothing there.
        None => Ok(ExitCode::SUCCESS),
        Some(path) => {
            print(args.json, &outcome, || format!("{} -> {} ({} bytes)\n", args.target, path.display(), outcome.bytes))
        }
    }
}

async fn put(data_dir: &Path, args: PutArgs) -> anyhow::Result<ExitCode> {
    let client = commands::open(data_dir, &args.target)?;
    let bar: Arc<dyn Progress> = Arc::new(Bar::new(args.quiet, args.local.display().to_string()));
    let ids = WorkfrontIds::from(args.workfront);
    let item = commands::put(&client, &args.local, &args.target.location, args.name.as_deref(), &ids, bar).await?;
    print(args.json, &item, || {
        format!("{} -> {} ({} bytes) [id={}]\n", args.local.display(), args.target, item.size, item.id)
    })
}

async fn run_validate(data_dir: &Path, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let remote = match (&args.remote, args.base_url) {
        (Some(name), _) => commands::validation_remote(data_dir, name).await?,
        (None, Some(base_url)) => RemoteConfig {
            name: "validate".into(),
            base_url,
            request_params: args.params,
            auth: args.credentials.into_auth(),
        },
        (None, None) => anyhow::bail!("give --base-url (with credentials) or --remote NAME"),
    };
    // Refuse an unusable URL or credentials before running anything.
    Client::new(&remote)?;
    let mut options = ValidateOptions::new(remote);
    options.groups = args.groups;
    options.strict = args.strict;
    options.request_timeout = std::time::Duration::from_secs(args.timeout);
    let report = validate::run(&options).await;
    let rendered = match args.format {
        ReportFormat::Text => report.render_text(),
        ReportFormat::Json => report.render_json(),
        ReportFormat::Junit => report.render_junit(),
    };
    match &args.output {
        Some(path) => {
            std::fs::write(path, rendered).with_context(|| format!("cannot write the report to {}", path.display()))?;
            let summary = report.summary;
            eprintln!(
                "validate: {} passed, {} failed, {} skipped, {} warned; report in {}",
                summary.passed,
                summary.failed,
                summary.skipped,
                summary.warned,
                path.display()
            );
        }
        None => {
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(rendered.as_bytes()).context("cannot write to standard output")?;
            stdout.flush().context("cannot write to standard output")?;
        }
    }
    Ok(if report.has_failures() { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
