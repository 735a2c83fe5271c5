//! Named remotes kept in `{data_dir}/remotes.json`, and `REMOTE:PATH` / `REMOTE:id=ID`
//! addresses resolved against a provider by listing folder by folder.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use docbridge_protocol::{ItemKind, ItemMetadata};
use serde::{Deserialize, Serialize};

use crate::config::validate_remote_name;
use crate::oauth::{OAuthConfig, TokenSet};
use crate::{Auth, Client, ClientError, RemoteConfig};

/// The file name of the store inside the data directory.
pub const REMOTES_FILE: &str = "remotes.json";
/// Bumped if the file's layout ever changes incompatibly.
const FORMAT_VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct RemotesFile {
    version: u32,
    remotes: Vec<RemoteConfig>,
}

/// The remotes of one data directory. The file holds secrets, so it is written with mode 0600
/// and replaced atomically (write a temporary file, then rename).
#[derive(Debug)]
pub struct RemoteStore {
    path: PathBuf,
    remotes: Vec<RemoteConfig>,
}

impl RemoteStore {
    /// Loads `{data_dir}/remotes.json`; a missing file is an empty store.
    pub fn load(data_dir: &Path) -> Result<Self, ClientError> {
        let path = data_dir.join(REMOTES_FILE);
        let remotes = match std::fs::read(&path) {
            Ok(bytes) => {
                let file: RemotesFile = serde_json::from_slice(&bytes)
                    .map_err(|err| ClientError::Config(format!("{}: not a remotes file: {err}", path.display())))?;
                if file.version != FORMAT_VERSION {
                    return Err(ClientError::Config(format!(
                        "{}: format version {} is not supported (expected {FORMAT_VERSION})",
                        path.display(),
                        file.version
                    )));
                }
                file.remotes
            }
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(err) => return Err(ClientError::io(format!("reading {}", path.display()), err)),
        };
        Ok(RemoteStore { path, remotes })
    }

    /// The file the store reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every remote, in the order they were added.
    pub fn remotes(&self) -> &[RemoteConfig] {
        &self.remotes
    }

    /// The remote called `name`.
    pub fn get(&self, name: &str) -> Option<&RemoteConfig> {
        self.remotes.iter().find(|r| r.name == name)
    }

    /// The remote of that name, or an error that lists the known names.
    pub fn require(&self, name: &str) -> Result<&RemoteConfig, ClientError> {
        self.get(name).ok_or_else(|| {
            let known: Vec<&str> = self.remotes.iter().map(|r| r.name.as_str()).collect();
            let known = if known.is_empty() { "none; add one with `remote add`".to_owned() } else { known.join(", ") };
            ClientError::Config(format!("no remote named {name:?} (known remotes: {known})"))
        })
    }

    /// Adds a remote, or replaces the one of the same name when `replace` is set.
    pub fn add(&mut self, config: RemoteConfig, replace: bool) -> Result<(), ClientError> {
        config.validate()?;
        match self.remotes.iter_mut().find(|r| r.name == config.name) {
            Some(existing) if replace => *existing = config,
            Some(_) => {
                return Err(ClientError::Config(format!(
                    "a remote named {:?} already exists (remove it first, or replace it)",
                    config.name
                )));
            }
            None => self.remotes.push(config),
        }
        Ok(())
    }

    /// Removes a remote; errors if there is none of that name.
    pub fn remove(&mut self, name: &str) -> Result<RemoteConfig, ClientError> {
        let index = self.remotes.iter().position(|r| r.name == name);
        match index {
            Some(index) => Ok(self.remotes.remove(index)),
            None => Err(self.require(name).err().unwrap_or_else(|| ClientError::Config(format!("no remote {name:?}")))),
        }
    }

    /// Stores the tokens of the OAuth2 remote `name`, provided it is still configured with
    /// `oauth` (a remote replaced or removed meanwhile is not brought back). Call [`save`]
    /// afterwards.
    ///
    /// [`save`]: RemoteStore::save
    pub fn set_tokens(&mut self, name: &str, oauth: &OAuthConfig, tokens: TokenSet) -> Result<(), ClientError> {
        let remote = self.remotes.iter_mut().find(|r| r.name == name).ok_or_else(|| {
            ClientError::Config(format!("remote {name:?} was removed meanwhile; the new tokens are not stored"))
        })?;
        match &mut remote.auth {
            Auth::OAuth2 { oauth: stored, tokens: slot } if stored == oauth => {
                *slot = Some(tokens);
                Ok(())
            }
            _ => Err(ClientError::Config(format!(
                "remote {name:?} was changed meanwhile; the new tokens are not stored (log in again)"
            ))),
        }
    }

    /// Writes the store back, creating the data directory if needed.
    pub fn save(&self) -> Result<(), ClientError> {
        let dir = self.path.parent().unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(dir).map_err(|err| ClientError::io(format!("creating {}", dir.display()), err))?;
        let file = RemotesFile { version: FORMAT_VERSION, remotes: self.remotes.clone() };
        let mut json = serde_json::to_vec_pretty(&file)
            .map_err(|err| ClientError::Config(format!("cannot serialise the remotes: {err}")))?;
        json.push(b'\n');
        let temp = self.path.with_extension(format!("json.tmp{}", std::process::id()));
        let written = write_private(&temp, &json).and_then(|()| std::fs::rename(&temp, &self.path));
        if let Err(err) = written {
            let _ = std::fs::remove_file(&temp);
            return Err(ClientError::io(format!("writing {}", self.path.display()), err));
        }
        Ok(())
    }
}

/// Creates `path` readable and writable by its owner only, before any secret is written to it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

/// A remote's listing entry, with the credentials masked: what `remote list` shows.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteSummary {
    /// The remote's name.
    pub name: String,
    /// Its *Base API URL*.
    pub base_url: String,
    /// Its request parameters, as `key=value`.
    pub request_params: Vec<String>,
    /// `none`, `apiKey`, `bearer` or `oauth2`.
    pub auth_type: &'static str,
    /// Never the secret itself: `***` when one is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<&'static str>,
    /// The `username` header, for ApiKey remotes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// `***` when a bearer token is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<&'static str>,
    /// OAuth2 remotes: the integration's fields, the secret masked, and the login's state.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<OAuthSummary>,
}

/// An OAuth2 remote's fields as `remote list` shows them: never a secret or a token.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OAuthSummary {
    /// The *Authentication URL*.
    pub authorization_url: String,
    /// The *Token Endpoint URL*.
    pub token_url: String,
    /// The client ID.
    pub client_id: String,
    /// `***` when a client secret is stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<&'static str>,
    /// The *Workfront Redirect URI*.
    pub redirect_uri: String,
    /// Whether `remote login` has stored tokens.
    pub logged_in: bool,
    /// Whether a refresh token is stored, to renew the access token when it is refused.
    pub refreshable: bool,
    /// When the access token expires, if the provider said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl From<&RemoteConfig> for RemoteSummary {
    fn from(config: &RemoteConfig) -> Self {
        let (auth_type, api_key, username, token, oauth2) = match &config.auth {
            Auth::None => ("none", None, None, None, None),
            Auth::ApiKey { username, .. } => ("apiKey", Some("***"), Some(username.clone()), None, None),
            Auth::Bearer { .. } => ("bearer", None, None, Some("***"), None),
            Auth::OAuth2 { oauth, tokens } => {
                let oauth2 = OAuthSummary {
                    authorization_url: oauth.authorization_url.clone(),
                    token_url: oauth.token_url.clone(),
                    client_id: oauth.client_id.clone(),
                    client_secret: oauth.client_secret.as_ref().map(|_| "***"),
                    redirect_uri: oauth.redirect_uri.clone(),
                    logged_in: tokens.is_some(),
                    refreshable: tokens.as_ref().is_some_and(|t| t.refresh_token.is_some()),
                    expires_at: tokens.as_ref().and_then(|t| t.expires_at).map(|at| at.to_rfc3339()),
                };
                ("oauth2", None, None, None, Some(oauth2))
            }
        };
        RemoteSummary {
            name: config.name.clone(),
            base_url: config.base_url.clone(),
            request_params: config.request_params.iter().map(ToString::to_string).collect(),
            auth_type,
            api_key,
            username,
            token,
            oauth2,
        }
    }
}

/// Where in a remote an argument points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// `REMOTE:`, `REMOTE:/`: the root folder, ID `/`.
    Root,
    /// `REMOTE:id=ABC`: an item by its provider ID.
    Id(String),
    /// `REMOTE:/Folder/sub/file.txt`: item titles from the root down.
    Path(Vec<String>),
}

impl Location {
    /// The parent location and the last name of a path: what `mkdir REMOTE:/a/new` needs.
    pub fn split_last(&self) -> Option<(Location, &str)> {
        let Location::Path(segments) = self else { return None };
        let (last, parents) = segments.split_last()?;
        let parent = if parents.is_empty() { Location::Root } else { Location::Path(parents.to_vec()) };
        Some((parent, last))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Root => f.write_str("/"),
            Location::Id(id) => write!(f, "id={id}"),
            Location::Path(segments) => write!(f, "/{}", segments.join("/")),
        }
    }
}

/// A `REMOTE:PATH-or-ID` argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemotePath {
    /// The remote's name.
    pub remote: String,
    /// The item on it: the root, a path or an ID.
    pub location: Location,
}

impl FromStr for RemotePath {
    type Err = ClientError;

    fn from_str(raw: &str) -> Result<Self, ClientError> {
        let Some((remote, rest)) = raw.split_once(':') else {
            return Err(ClientError::Config(format!(
                "{raw:?} is not of the form REMOTE:PATH (e.g. myremote:/Folder/file.txt or myremote:id=ABC)"
            )));
        };
        validate_remote_name(remote)?;
        let location = if let Some(id) = rest.strip_prefix("id=") {
            if id.is_empty() {
                return Err(ClientError::Config(format!("{raw:?}: the ID after id= is empty")));
            }
            Location::Id(id.to_owned())
        } else {
            let segments: Vec<String> = rest.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
            if segments.is_empty() { Location::Root } else { Location::Path(segments) }
        };
        Ok(RemotePath { remote: remote.to_owned(), location })
    }
}

impl fmt::Display for RemotePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.remote, self.location)
    }
}

/// An item found for a location: its ID always, its metadata when the resolution saw it.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The item's ID.
    pub id: String,
    /// Its metadata, when resolving a path listed it (resolving by ID does not fetch it).
    pub metadata: Option<ItemMetadata>,
}

impl Resolved {
    /// The item's metadata, asking `/metadata` if the resolution did not already see it.
    pub async fn metadata(&self, client: &Client) -> Result<ItemMetadata, ClientError> {
        match &self.metadata {
            Some(metadata) => Ok(metadata.clone()),
            None => client.metadata(&self.id).await,
        }
    }

    /// The item's kind when known without another call; the root is a folder.
    pub fn known_kind(&self) -> Option<ItemKind> {
        if self.id == "/" { Some(ItemKind::Folder) } else { self.metadata.as_ref().map(|m| m.kind) }
    }
}

/// Finds the item a location names. Paths are walked from the root with `/files`, matching
/// titles exactly; a name that several items share is refused rather than guessed.
pub async fn resolve(client: &Client, location: &Location) -> Result<Resolved, ClientError> {
    let segments = match location {
        Location::Root => return Ok(Resolved { id: "/".to_owned(), metadata: None }),
        Location::Id(id) => return Ok(Resolved { id: id.clone(), metadata: None }),
        Location::Path(segments) => segments,
    };
    let mut parent_id = "/".to_owned();
    let mut walked = String::new();
    let mut found = None;
    for (index, name) in segments.iter().enumerate() {
        let is_last = index + 1 == segments.len();
        let children = client.files(&parent_id, None, None).await?;
        let parent_display = if walked.is_empty() { "/".to_owned() } else { walked.clone() };
        walked = format!("{walked}/{name}");
        let mut matches: Vec<ItemMetadata> = children.into_iter().filter(|item| item.title == *name).collect();
        let item = match matches.len() {
            0 => {
                return Err(ClientError::Path {
                    path: walked,
                    message: format!("no item named {name:?} in {parent_display}"),
                });
            }
            1 => matches.remove(0),
            n => {
                let ids: Vec<&str> = matches.iter().map(|m| m.id.as_str()).collect();
                return Err(ClientError::Path {
                    path: walked,
                    message: format!("{n} items share this name; address one with id= ({})", ids.join(", ")),
                });
            }
        };
        if !is_last && item.kind != ItemKind::Folder {
            return Err(ClientError::Path { path: walked, message: "is a file, not a folder".to_owned() });
        }
        parent_id = item.id.as_str().to_owned();
        found = Some(item);
    }
    Ok(Resolved { id: parent_id, metadata: found })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Auth;

    #[test]
    fn parses_remote_paths() {
        let parse = |raw: &str| raw.parse::<RemotePath>().unwrap();
        assert_eq!(parse("r:/").location, Location::Root);
        assert_eq!(parse("r:").location, Location::Root);
        assert_eq!(parse("r:id=AB/C=").location, Location::Id("AB/C=".into()));
        assert_eq!(parse("r:/A/b c/f.txt").location, Location::Path(vec!["A".into(), "b c".into(), "f.txt".into()]));
        assert_eq!(parse("r:A//b/").location, Location::Path(vec!["A".into(), "b".into()]));
        assert_eq!(parse("r:/id=x").location, Location::Path(vec!["id=x".into()]));
        assert_eq!(parse("my.remote-1:/x:y").remote, "my.remote-1");
        assert!("noremote".parse::<RemotePath>().is_err());
        assert!("r:id=".parse::<RemotePath>().is_err());
        assert!("bad name:/x".parse::<RemotePath>().is_err());
        assert_eq!(parse("r:/A/b").to_string(), "r:/A/b");
    }

    #[test]
    fn split_last_gives_parent_and_name() {
        let location = Location::Path(vec!["A".into(), "new".into()]);
        let (parent, name) = location.split_last().unwrap();
        assert_eq!((parent, name), (Location::Path(vec!["A".into()]), "new"));
        let (parent, _) = Location::Path(vec!["new".into()]).split_last().unwrap();
        assert_eq!(parent, Location::Root);
        assert!(Location::Root.split_last().is_none());
    }

    #[test]
    fn store_round_trip_with_private_permissions() {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("nested");
        let mut store = RemoteStore::load(&data_dir).unwrap();
        assert!(store.remotes().is_empty());
        let config = RemoteConfig::new("acme", "http://127.0.0.1:9/api", Auth::Bearer { token: "t0k".into() });
        store.add(config.clone(), false).unwrap();
        assert!(store.add(config.clone(), false).is_err(), "duplicate names are refused");
        store.add(config.clone(), true).unwrap();
        store.save().unwrap();

        let reloaded = RemoteStore::load(&data_dir).unwrap();
        assert_eq!(reloaded.remotes(), std::slice::from_ref(&config));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(reloaded.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let mut reloaded = reloaded;
        reloaded.remove("acme").unwrap();
        assert!(reloaded.remove("acme").is_err());
        assert!(reloaded.require("acme").unwrap_err().to_string().contains("remote add"));
    }

    fn oauth_config() -> OAuthConfig {
        OAuthConfig {
            authorization_url: "http://127.0.0.1:9/oauth/authorize?client_id=cid".into(),
            token_url: "http://127.0.0.1:9/oauth/token".into(),
            client_id: "cid".into(),
            client_secret: Some("cl13nt-s3cret".into()),
            redirect_uri: "http://127.0.0.1:53691/callback".into(),
        }
    }

    fn tokens(n: u32) -> TokenSet {
        TokenSet { access_token: format!("acc3ss-{n}"), refresh_token: Some(format!("r3fresh-{n}")), expires_at: None }
    }

    #[test]
    fn tokens_are_stored_privately_and_only_for_the_same_oauth2_remote() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = RemoteStore::load(dir.path()).unwrap();
        let oauth = oauth_config();
        store
            .add(
                RemoteConfig::new("wf", "http://127.0.0.1:9/api", Auth::OAuth2 { oauth: oauth.clone(), tokens: None }),
                false,
            )
            .unwrap();
        store
            .add(
                RemoteConfig::new(
                    "key",
                    "http://127.0.0.1:9/api",
                    Auth::ApiKey { api_key: "k".into(), username: "u".into() },
                ),
                false,
            )
            .unwrap();
        store.save().unwrap();

        let mut store = RemoteStore::load(dir.path()).unwrap();
        store.set_tokens("wf", &oauth, tokens(1)).unwrap();
        store.save().unwrap();
        let text = std::fs::read_to_string(store.path()).unwrap();
        assert!(text.contains("acc3ss-1") && text.contains("r3fresh-1"), "{text}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(store.path()).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "the file holds tokens");
        }
        let reloaded = RemoteStore::load(dir.path()).unwrap();
        assert_eq!(
            reloaded.require("wf").unwrap().auth,
            Auth::OAuth2 { oauth: oauth.clone(), tokens: Some(tokens(1)) }
        );

        // A remote removed, replaced by another kind or re-added with other fields meanwhile
        // does not get tokens meant for the old one.
        let mut store = reloaded;
        assert!(store.set_tokens("key", &oauth, tokens(2)).unwrap_err().to_string().contains("changed meanwhile"));
        let mut other = oauth.clone();
        other.client_id = "other".into();
        assert!(store.set_tokens("wf", &other, tokens(2)).is_err());
        assert!(store.set_tokens("gone", &oauth, tokens(2)).unwrap_err().to_string().contains("removed meanwhile"));
        assert_eq!(store.require("wf").unwrap().auth, Auth::OAuth2 { oauth, tokens: Some(tokens(1)) });
    }

    #[cfg(feature = "cli")]
    #[test]
    fn oauth2_summaries_mask_the_secret_and_the_tokens() {
        let logged_in =
            RemoteConfig::new("wf", "http://h/api", Auth::OAuth2 { oauth: oauth_config(), tokens: Some(tokens(7)) });
        let summary = RemoteSummary::from(&logged_in);
        let json = serde_json::to_value(&summary).unwrap();
        assert_eq!(json["authType"], "oauth2");
        assert_eq!(json["oauth2"]["clientId"], "cid");
        assert_eq!(json["oauth2"]["clientSecret"], "***");
        assert_eq!(json["oauth2"]["loggedIn"], true);
        assert_eq!(json["oauth2"]["refreshable"], true);
        let text = format!("{json} {}", crate::commands::render_remotes(&[summary]));
        for secret in ["cl13nt-s3cret", "acc3ss-7", "r3fresh-7"] {
            assert!(!text.contains(secret), "{text}");
        }
        let fresh = RemoteConfig::new("wf", "http://h/api", Auth::OAuth2 { oauth: oauth_config(), tokens: None });
        let rendered = crate::commands::render_remotes(&[RemoteSummary::from(&fresh)]);
        assert!(rendered.contains("not logged in: run `docbridge remote login wf`"), "{rendered}");
    }

    #[test]
    fn summaries_mask_secrets() {
        let config =
            RemoteConfig::new("a", "http://h", Auth::ApiKey { api_key: "s3cret".into(), username: "bob".into() });
        let json = serde_json::to_string(&RemoteSummary::from(&config)).unwrap();
        assert!(!json.contains("s3cret"));
        assert!(json.contains("***") && json.contains("bob"));
    }
}
