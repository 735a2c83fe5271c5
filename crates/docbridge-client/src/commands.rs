//! The operations behind `docbridge ls|stat|get|put|mkdir|mv|rm|find|action` and `remote`,
//! kept here so that the command line is a thin layer and the logic is testable without it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use docbridge_protocol::{ItemKind, ItemMetadata, format_date};
use futures::TryStreamExt;
use serde::Serialize;
use tokio_util::io::ReaderStream;
use url::Url;

use crate::oauth::{self, OAuthConfig, TokenSet};
use crate::remotes::{Location, RemotePath, RemoteStore, RemoteSummary, Resolved, resolve};
use crate::{ActionTarget, Auth, Client, ClientError, RemoteConfig, TokenSink};

/// Progress of a transfer, drawn by the command line (a progress bar) or ignored.
pub trait Progress: Send + Sync {
    /// The transfer starts; `total` is its length when known.
    fn start(&self, total: Option<u64>);
    /// `bytes` more bytes went through.
    fn advance(&self, bytes: u64);
    /// The transfer ended (successfully or not).
    fn finish(&self);
}

/// Shows nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn start(&self, _total: Option<u64>) {}
    fn advance(&self, _bytes: u64) {}
    fn finish(&self) {}
}

/// Loads the store of `data_dir` and builds a client for the remote a `REMOTE:PATH` names.
pub fn open(data_dir: &Path, target: &RemotePath) -> Result<Client, ClientError> {
    open_remote(data_dir, &target.remote)
}

/// Builds a client for a stored remote. For an OAuth2 remote, the client sends the stored
/// access token, and tokens renewed on a 403 are written back to the store at once, so that the
/// next command uses them (and a rotated refresh token is never lost).
pub fn open_remote(data_dir: &Path, name: &str) -> Result<Client, ClientError> {
    let store = RemoteStore::load(data_dir)?;
    let config = store.require(name)?;
    let client = Client::new(config)?;
    Ok(match &config.auth {
        Auth::OAuth2 { oauth, .. } => client.on_token_refresh(token_saver(data_dir, name, oauth)),
        _ => client,
    })
}

/// Writes renewed tokens of remote `name` to the store of `data_dir`, reloaded first so that
/// changes made meanwhile to other remotes are kept.
fn token_saver(data_dir: &Path, name: &str, oauth: &OAuthConfig) -> TokenSink {
    let (data_dir, name, oauth) = (data_dir.to_owned(), name.to_owned(), oauth.clone());
    Arc::new(move |tokens: &TokenSet| {
        let mut store = RemoteStore::load(&data_dir)?;
        store.set_tokens(&name, &oauth, tokens.clone())?;
        store.save().map_err(|err| {
            ClientError::Config(format!(
                "the access token of remote {name:?} was renewed but could not be stored ({err}); if the next command is refused, run `docbridge remote login {name}`"
            ))
        })
    })
}

/// What `remote login` did.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginOutcome {
    /// The remote's name.
    pub remote: String,
    /// Where the tokens are stored.
    pub path: PathBuf,
    /// Whether a refresh token came too: without one, a refused access token needs a new login.
    pub refreshable: bool,
    /// When the access token expires, if the provider said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

/// `remote login`: runs the OAuth2 authorization-code flow of remote `name` (contract C23,
/// protocol §4): hands the authorization URL to `open_url`, waits at most `timeout` for the
/// redirect on the loopback listener its redirect URI names, checks `state`, exchanges the code
/// and stores the tokens in the remotes file.
pub async fn login(
    data_dir: &Path,
    name: &str,
    timeout: Duration,
    open_url: impl FnOnce(&Url),
) -> Result<LoginOutcome, ClientError> {
    let store = RemoteStore::load(data_dir)?;
    let oauth = match &store.require(name)?.auth {
        Auth::OAuth2 { oauth, .. } => oauth.clone(),
        other => {
            return Err(ClientError::Config(format!(
                "remote {name:?} is not an OAuth2 remote (its credentials: {}); `remote login` needs one added with --oauth-authorization-url, --oauth-token-url and --client-id",
                other.describe()
            )));
        }
    };
    drop(store);
    let tokens = oauth::login_flow_within(&oauth, timeout, open_url)
        .await
        .map_err(|reason| ClientError::Login { remote: name.to_owned(), reason })?;
    let outcome = LoginOutcome {
        remote: name.to_owned(),
        path: data_dir.join(crate::remotes::REMOTES_FILE),
        refreshable: tokens.refresh_token.is_some(),
        expires_at: tokens.expires_at.map(|at| at.to_rfc3339()),
    };
    // Reloaded: the login may have taken minutes, during which other commands ran.
    let mut store = RemoteStore::load(data_dir)?;
    store.set_tokens(name, &oauth, tokens)?;
    store.save()?;
    Ok(outcome)
}

/// The configuration `validate --remote NAME` runs with. An OAuth2 remote is validated with its
/// access token as a bearer token; a token the provider refuses is renewed first (and stored)
/// with one listing of the root.
pub async fn validation_remote(data_dir: &Path, name: &str) -> Result<RemoteConfig, ClientError> {
    let mut config = RemoteStore::load(data_dir)?.require(name)?.clone();
    if let Auth::OAuth2 { tokens, .. } = &config.auth {
        if tokens.is_none() {
            return Err(ClientError::NotLoggedIn { remote: name.to_owned() });
        }
        let client = open_remote(data_dir, name)?;
        // Renewing failed: validating with a dead token would only report 403s. Any other
        // failure is the validator's to find and report.
        if let Err(error @ ClientError::Refresh { .. }) = client.files("/", Some(1), None).await {
            return Err(error);
        }
        let token = client.tokens().map(|t| t.access_token).unwrap_or_default();
        config.auth = Auth::Bearer { token };
    }
    Ok(config)
}

/// `remote add`: stores a remote (validated first) and saves the file.
pub fn add_remote(data_dir: &Path, config: RemoteConfig, replace: bool) -> Result<(), ClientError> {
    let mut store = RemoteStore::load(data_dir)?;
    store.add(config, replace)?;
    store.save()
}

/// `remote remove`.
pub fn remove_remote(data_dir: &Path, name: &str) -> Result<(), ClientError> {
    let mut store = RemoteStore::load(data_dir)?;
    store.remove(name)?;
    store.save()
}

/// `remote list`: every remote, secrets masked.
pub fn list_remotes(data_dir: &Path) -> Result<Vec<RemoteSummary>, ClientError> {
    Ok(RemoteStore::load(data_dir)?.remotes().iter().map(RemoteSummary::from).collect())
}

/// `remote list` as text: one block per remote, secrets masked.
pub fn render_remotes(remotes: &[RemoteSummary]) -> String {
    if remotes.is_empty() {
        return "no remotes; add one with `docbridge remote add NAME --base-url URL ...`\n".to_owned();
    }
    let mut out = String::new();
    for remote in remotes {
        let mut auth = remote.auth_type.to_owned();
        if let Some(username) = &remote.username {
            auth.push_str(&format!(" (username {username}, key ***)"));
        } else if remote.token.is_some() {
            auth.push_str(" (token ***)");
        } else if let Some(oauth) = &remote.oauth2 {
            let secret = if oauth.client_secret.is_some() { ", secret ***" } else { "" };
            let state = match (oauth.logged_in, &oauth.expires_at) {
                (false, _) => format!("not logged in: run `docbridge remote login {}`", remote.name),
                (true, Some(at)) => format!("logged in, tokens ***, access token expires {at}"),
                (true, None) => "logged in, tokens ***".to_owned(),
            };
            auth.push_str(&format!(
                " (client id {}{secret}, redirect URI {}, {state})",
                oauth.client_id, oauth.redirect_uri
            ));
        }
        out.push_str(&format!("{}\t{}\t{}", remote.name, remote.base_url, auth));
        if !remote.request_params.is_empty() {
            out.push_str(&format!("\tparams: {}", remote.request_params.join("&")));
        }
        out.push('\n');
    }
    out
}

/// `ls`: a folder's children, or the item itself when the location is a file.
pub async fn list(client: &Client, location: &Location) -> Result<Vec<ItemMetadata>, ClientError> {
    let resolved = resolve(client, location).await?;
    let metadata = match resolved.known_kind() {
        Some(ItemKind::Folder) => return client.files(&resolved.id, None, None).await,
        Some(ItemKind::File) => resolved.metadata(client).await,
        // Some providers cannot describe folders (the Java RI answers 404, §9.1): list then.
        None => match resolved.metadata(client).await {
            Ok(metadata) => Ok(metadata),
            Err(_) => return client.files(&resolved.id, None, None).await,
        },
    }?;
    match metadata.kind {
        ItemKind::Folder => client.files(&resolved.id, None, None).await,
        ItemKind::File => Ok(vec![metadata]),
    }
}

/// `stat`: one item's metadata.
pub async fn stat(client: &Client, location: &Location) -> Result<ItemMetadata, ClientError> {
    resolve(client, location).await?.metadata(client).await
}

/// Where `get` writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetDestination {
    /// The item's title in the current directory.
    CurrentDir,
    /// Standard output (`-`).
    Stdout,
    /// That file, or that directory joined with the item's title.
    Path(PathBuf),
}

/// What `get` did.
#[derive(Debug, Clone, Serialize)]
pub struct GetOutcome {
    /// The file's ID.
    pub id: String,
    /// The file's title.
    pub title: String,
    /// `None` when written to standard output.
    pub path: Option<PathBuf>,
    /// How many bytes were written.
    pub bytes: u64,
}

/// `get`: streams a file to disk or to standard output.
pub async fn get(
    client: &Client,
    location: &Location,
    destination: &GetDestination,
    progress: &dyn Progress,
) -> Result<GetOutcome, ClientError> {
    let resolved = resolve(client, location).await?;
    let metadata = resolved.metadata(client).await?;
    if metadata.kind == ItemKind::Folder {
        return Err(ClientError::Path { path: location.to_string(), message: "is a folder; get copies files".into() });
    }
    let download = client.download(&resolved.id, None).await?;
    let total = download.content_length().or(Some(metadata.size).filter(|size| *size > 0));
    let target = match destination {
        GetDestination::Stdout => None,
        GetDestination::CurrentDir => Some(PathBuf::from(local_file_name(&metadata))),
        GetDestination::Path(path) if path.is_dir() => Some(path.join(local_file_name(&metadata))),
        GetDestination::Path(path) => Some(path.clone()),
    };
    progress.start(total);
    let result = match &target {
        None => {
            let mut stdout = tokio::io::stdout();
            download.copy_to(&mut stdout, |n| progress.advance(n)).await
        }
        Some(path) => write_atomically(path, download, progress).await,
    };
    progress.finish();
    Ok(GetOutcome { id: resolved.id, title: metadata.title, path: target, bytes: result? })
}

/// A title is the provider's choice; as a local file name it must stay one plain component.
fn local_file_name(metadata: &ItemMetadata) -> String {
    let cleaned: String = metadata
        .title
        .chars()
        .map(|c| if matches!(c, '/' | '\\' | '\0') || c.is_control() { '_' } else { c })
        .collect();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        format!("download-{}", metadata.id.as_str().replace(['/', '\\'], "_"))
    } else {
        cleaned
    }
}

/// Writes through `{name}.docbridge-part` beside the target and renames it at the end, so that
/// an interrupted download never leaves a truncated file under the final name.
async fn write_atomically(path: &Path, download: crate::Download, progress: &dyn Progress) -> Result<u64, ClientError> {
    let mut temp_name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    temp_name.push(".docbridge-part");
    let temp = path.with_file_name(temp_name);
    let context = |what: &str| format!("{what} {}", temp.display());
    let result = async {
        let mut file = tokio::fs::File::create(&temp).await.map_err(|err| ClientError::io(context("creating"), err))?;
        let written = download.copy_to(&mut file, |n| progress.advance(n)).await?;
        file.sync_all().await.map_err(|err| ClientError::io(context("writing"), err))?;
        drop(file);
        tokio::fs::rename(&temp, path)
            .await
            .map_err(|err| ClientError::io(format!("renaming {} to {}", temp.display(), path.display()), err))?;
        Ok(written)
    }
    .await;
    if result.is_err() {
        let _ = tokio::fs::remove_file(&temp).await;
    }
    result
}

/// Identifiers Workfront would send with `/uploadInit` (1.1) and `/customAction`.
#[derive(Debug, Clone, Default)]
pub struct WorkfrontIds {
    /// Workfront's document ID (`documentId`).
    pub document_id: Option<String>,
    /// Workfront's document version ID (`documentVersionId`).
    pub document_version_id: Option<String>,
}

/// `put`: `/uploadInit` in the folder, then `/upload` streaming the local file. Answers the new
/// item's metadata as the provider reports it after the upload.
pub async fn put(
    client: &Client,
    local: &Path,
    folder: &Location,
    name: Option<&str>,
    ids: &WorkfrontIds,
    progress: Arc<dyn Progress>,
) -> Result<ItemMetadata, ClientError> {
    let file = tokio::fs::File::open(local)
        .await
        .map_err(|err| ClientError::io(format!("opening {}", local.display()), err))?;
    let length =
        file.metadata().await.map_err(|err| ClientError::io(format!("reading {}", local.display()), err))?.len();
    let filename = match name {
        Some(name) => name.to_owned(),
        None => local
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| ClientError::Config(format!("{} has no file name; pass --name", local.display())))?,
    };
    let parent = require_folder(client, folder).await?;
    let reserved = client
        .upload_init(&parent.id, &filename, ids.document_id.as_deref(), ids.document_version_id.as_deref())
        .await?;
    progress.start(Some(length));
    let counted = Arc::clone(&progress);
    let body = ReaderStream::new(file).inspect_ok(move |chunk: &Bytes| counted.advance(chunk.len() as u64));
    let uploaded = client.upload(reserved.id.as_str(), body, Some(length)).await;
    progress.finish();
    uploaded?;
    // The metadata from uploadInit predates the bytes (size, MIME type); ask again, but a
    // provider that cannot answer yet does not make the upload a failure.
    match client.metadata(reserved.id.as_str()).await {
        Ok(metadata) => Ok(metadata),
        Err(_) => Ok(ItemMetadata { size: length, ..reserved }),
    }
}

async fn require_folder(client: &Client, location: &Location) -> Result<Resolved, ClientError> {
    let resolved = resolve(client, location).await?;
    if let Some(ItemKind::File) = resolved.known_kind() {
        return Err(ClientError::Path { path: location.to_string(), message: "is a file, not a folder".into() });
    }
    Ok(resolved)
}

/// `mkdir`: with `name`, creates it inside `location`; without, `location` must be a path whose
/// last segment is the new folder's name.
pub async fn mkdir(client: &Client, location: &Location, name: Option<&str>) -> Result<ItemMetadata, ClientError> {
    let (parent, name) = match name {
        Some(name) => (location.clone(), name),
        None => location.split_last().ok_or_else(|| {
            ClientError::Config(format!(
                "{location}: give the new folder as a path (REMOTE:/parent/new) or pass --name with a parent"
            ))
        })?,
    };
    let parent = require_folder(client, &parent).await?;
    client.create_folder(&parent.id, name).await
}

/// What `mv` and `rm` did.
#[derive(Debug, Clone, Serialize)]
pub struct ChangeOutcome {
    /// The provider's answer: `success` (a failure is an error instead).
    pub status: &'static str,
    /// The item's ID.
    pub id: String,
    /// The item's title, when the command resolved it by path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
}

/// `mv`: renames in place (the protocol has no move).
pub async fn rename(client: &Client, location: &Location, new_name: &str) -> Result<ChangeOutcome, ClientError> {
    let resolved = resolve(client, location).await?;
    if resolved.id == "/" {
        return Err(ClientError::Config("the root folder cannot be renamed".into()));
    }
    client.rename(&resolved.id, new_name).await?;
    Ok(ChangeOutcome { status: "renamed", id: resolved.id, title: Some(new_name.to_owned()) })
}

/// `rm`: deletes a file, or a folder with its contents when `recursive` is set.
pub async fn remove(client: &Client, location: &Location, recursive: bool) -> Result<ChangeOutcome, ClientError> {
    let resolved = resolve(client, location).await?;
    if resolved.id == "/" {
        return Err(ClientError::Config("the root folder cannot be deleted".into()));
    }
    let metadata = resolved.metadata(client).await?;
    if metadata.kind == ItemKind::Folder && !recursive {
        return Err(ClientError::Path {
            path: location.to_string(),
            message: "is a folder; deleting it deletes its contents too, so pass --recursive".into(),
        });
    }
    client.delete(&resolved.id, metadata.kind).await?;
    Ok(ChangeOutcome { status: "deleted", id: resolved.id, title: Some(metadata.title) })
}

/// `find`: `/search`, limited to a folder unless the location is the root.
pub async fn find(
    client: &Client,
    folder: &Location,
    query: &str,
    max: Option<u64>,
) -> Result<Vec<ItemMetadata>, ClientError> {
    let parent = match folder {
        Location::Root => None,
        other => Some(require_folder(client, other).await?.id),
    };
    client.search(query, parent.as_deref(), max, None).await
}

/// `action`: runs a custom action on an item, passing its provider ID as `id` (docbridge
/// accepts it, C18) and Workfront's IDs when given.
pub async fn action(
    client: &Client,
    location: &Location,
    name: &str,
    ids: &WorkfrontIds,
) -> Result<ChangeOutcome, ClientError> {
    let resolved = resolve(client, location).await?;
    let target = ActionTarget {
        document_id: ids.document_id.clone(),
        document_version_id: ids.document_version_id.clone(),
        item_id: Some(resolved.id.clone()),
    };
    client.custom_action(name, &target).await?;
    Ok(ChangeOutcome { status: "success", id: resolved.id, title: None })
}

/// One line per item, like `ls -l`: kind, size, modification time, title, ID.
pub fn render_items(items: &[ItemMetadata]) -> String {
    let mut out = String::new();
    for item in items {
        let (kind, size) = match item.kind {
            ItemKind::Folder => ('d', "-".to_owned()),
            ItemKind::File => ('-', item.size.to_string()),
        };
        let date = item.date_modified.format("%Y-%m-%d %H:%M");
        out.push_str(&format!("{kind} {size:>12}  {date}  {}  [id={}]\n", item.title, item.id));
    }
    out
}

/// Every field of one item, one per line.
pub fn render_item(item: &ItemMetadata) -> String {
    let kind = match item.kind {
        ItemKind::File => "file",
        ItemKind::Folder => "folder",
    };
    let rows = [
        ("id", item.id.to_string()),
        ("title", item.title.clone()),
        ("kind", kind.to_owned()),
        ("size", item.size.to_string()),
        ("mimeType", item.mime_type.clone()),
        ("dateModified", format_date(&item.date_modified)),
        ("readOnly", item.read_only.to_string()),
        ("viewLink", item.view_link.clone()),
        ("downloadLink", item.download_link.clone()),
    ];
    rows.iter().map(|(key, value)| format!("{key:<13} {value}\n")).collect()
}

/// Pretty JSON for `--json`; serialising our own types cannot fail, but an error is still an
/// error rather than a panic.
pub fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String, ClientError> {
    serde_json::to_string_pretty(value)
        .map(|mut json| {
            json.push('\n');
            json
        })
        .map_err(|err| ClientError::Config(format!("cannot render JSON: {err}")))
}
