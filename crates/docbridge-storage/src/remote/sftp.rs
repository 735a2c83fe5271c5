//! The SFTP adapter: a library is a folder on an SSH server, reached through the system's OpenSSH
//! client (`ssh`, started by the `openssh` crate) and an SFTP client over its `sftp` subsystem.
//!
//! # Why the system's `ssh`, and how the host is verified
//!
//! OpenSSH does the cryptography, the key exchange and, above all, the host key check, against
//! exactly the `known_hosts` file the configuration names: the adapter writes an `ssh_config` of
//! its own (`-F`, so neither `~/.ssh/config` nor `/etc/ssh/ssh_config` applies) with
//! `StrictHostKeyChecking yes`, that file as `UserKnownHostsFile` and no global one. A host that
//! is not in it, or whose key differs, fails the connection ("Host key verification failed").
//! Authentication is by key file only (`BatchMode`): `ssh` could take a password only from a
//! terminal or an askpass program.
//!
//! One `ssh` master connection per store serves every library in it; SFTP requests are
//! pipelined over one subsystem channel. A connection that fails (the server restarted, the
//! network dropped) is forgotten and the next call opens a new one.
//!
//! # What is guaranteed (`docs/storage.md` has the table)
//!
//! - **Writes** go to `.docbridge/tmp/` and are committed by one server-side operation: a
//!   `CreateNew` by a hard link (`hardlink@openssh.com`, which never replaces: atomic, the
//!   losers of a race get `AlreadyExists`), a `Replace` by `posix-rename@openssh.com` (atomic
//!   for readers) after a check that the target still has the size and modification time it had
//!   at the start (check-then-act: a window between the check and the rename).
//! - **Renames** never replace: a file by a hard link then the removal of the old name (for a
//!   moment the file is at both), a folder by one rename after a check.
//! - **Folder deletes** first move the folder into `.docbridge/tmp/` (one rename: atomic for
//!   readers), then empty it there.
//! - **Time**: every request is bounded by the configured timeout; the connection attempt too.

use std::fmt;
use std::io;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use openssh::{KnownHosts, SessionBuilder};
use openssh_sftp_client::error::SftpErrorKind;
use openssh_sftp_client::metadata::{MetaData, MetaDataBuilder};
use openssh_sftp_client::{Error as SftpError, Sftp, SftpOptions};

use super::{RemoteConfig, TEMP_DIR, invalid_config, library_base};
use crate::path::INTERNAL_DIR;
use crate::{ByteStream, Capabilities, Entry, EntryKind, Result, Storage, StorageError, StoragePath, WriteMode};

/// What every library of one SFTP store shares: where it is, how to sign in, the connection.
struct Shared {
    /// `ssh://HOST[:PORT]`, as `ssh` takes it.
    destination: String,
    /// The endpoint's folder: empty (the session's starting folder) or ending in `/`.
    folder: String,
    builder: SessionBuilder,
    known_hosts: String,
    key_file: String,
    timeout: Duration,
    /// The open connection, if any; `None` after a failure, so the next call reconnects.
    connection: tokio::sync::Mutex<Option<Arc<Sftp>>>,
    /// Holds the generated `ssh_config` and the control sockets; removed with the store.
    _dir: tempfile::TempDir,
}

/// A library in a folder of an SFTP server. Cheap to clone; clones share the connection.
#[derive(Clone)]
pub struct SftpStorage {
    shared: Arc<Shared>,
    /// The library's folder below the endpoint's: empty or `a/b/` (always ending in `/`).
    base: String,
}

impl fmt::Debug for SftpStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SftpStorage")
            .field("destination", &self.shared.destination)
            .field("folder", &self.shared.folder)
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// The metadata that a `Replace` compares, at its start and just before its commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Fingerprint {
    size: Option<u64>,
    modified: Option<u32>,
}

/// What is at a path.
enum Found {
    File(MetaData),
    Dir(MetaData),
    /// A symbolic link or a special file: never shown, never followed.
    Other,
}

impl SftpStorage {
    /// The store `config` (an [`RemoteConfig::Sftp`]) names, at the endpoint's folder. Makes no
    /// request; refuses an endpoint that is not `ssh://`, and a missing key or `known_hosts`
    /// file name.
    pub fn connect(config: &RemoteConfig, timeout: Duration) -> Result<Self> {
        #[allow(irrefutable_let_patterns)]
        let RemoteConfig::Sftp { endpoint, username, key_file, known_hosts } = config else {
            return Err(invalid_config("not an sftp store"));
        };
        let (destination, folder) = parse_endpoint(endpoint)?;
        if key_file.trim().is_empty() {
            return Err(invalid_config("key_file is empty: SFTP signs in with a private key file"));
        }
        if known_hosts.trim().is_empty() {
            return Err(invalid_config(
                "known_hosts is empty: name the file that holds the server's host key (ssh-keyscan -p PORT HOST)",
            ));
        }
        let dir = tempfile::Builder::new().prefix("docbridge-ssh-").tempdir().map_err(StorageError::Io)?;
        let config_file = dir.path().join("ssh_config");
        // Only what is written here applies: no user or system ssh_config, no global
        // known_hosts. Quoted, so paths with spaces stay one argument.
        let ssh_config = format!(
            "StrictHostKeyChecking yes\nUserKnownHostsFile \"{}\"\nGlobalKnownHostsFile /dev/null\n\
             UpdateHostKeys no\nBatchMode yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
             IdentitiesOnly yes\nServerAliveInterval 15\nServerAliveCountMax 3\n",
            escape(known_hosts)
        );
        std::fs::write(&config_file, ssh_config).map_err(StorageError::Io)?;
        let mut builder = SessionBuilder::default();
        builder
            .config_file(&config_file)
            .control_directory(dir.path())
            .known_hosts_check(KnownHosts::Strict)
            .keyfile(key_file)
            .connect_timeout(timeout.max(Duration::from_secs(1)));
        if !username.is_empty() {
            builder.user(username.clone());
        }
        Ok(SftpStorage {
            shared: Arc::new(Shared {
                destination,
                folder,
                builder,
                known_hosts: known_hosts.clone(),
                key_file: key_file.clone(),
                timeout,
                connection: tokio::sync::Mutex::new(None),
                _dir: dir,
            }),
            base: String::new(),
        })
    }

    /// Another library of the same store at `sub` below this one's folder.
    pub fn within(&self, sub: &str) -> Result<Self> {
        Ok(SftpStorage { shared: self.shared.clone(), base: library_base(&self.base, sub)? })
    }

    /// Creates the library's folder and those above it where missing.
    pub async fn create_root(&self) -> Result<()> {
        let full = format!("{}{}", self.shared.folder, self.base);
        let mut path = String::new();
        if full.starts_with('/') {
            path.push('/');
        }
        for part in full.split('/').filter(|p| !p.is_empty()) {
            path.push_str(part);
            // Folders above the library may exist and be unwritable (a chroot's root): only
            // the last one's state matters, checked below.
            let _ = self.call(&path, |s, p| async move { s.fs().create_dir(p).await }, path.clone()).await;
            path.push('/');
        }
        match self.find_key(&self.root_key()).await? {
            Some(Found::Dir(_)) => Ok(()),
            Some(_) => Err(StorageError::NotADirectory(self.root_key())),
            None => Err(StorageError::NotFound(self.root_key())),
        }
    }

    /// Removes the library's folder with everything in it; not the endpoint's folder.
    pub async fn remove_root(&self) -> Result<()> {
        if self.base.is_empty() {
            return Err(StorageError::InvalidPath("the store's folder cannot be removed".into()));
        }
        self.remove_tree(self.root_key()).await
    }

    /// The open connection, or a new one.
    async fn sftp(&self) -> Result<Arc<Sftp>> {
        let mut slot = self.shared.connection.lock().await;
        if let Some(sftp) = slot.as_ref() {
            return Ok(sftp.clone());
        }
        let shared = &self.shared;
        let connect = async {
            let session = shared.builder.connect(&shared.destination).await.map_err(|e| {
                // openssh's message is generic; ssh's own words are in its source.
                let mut said = e.to_string();
                let mut source = std::error::Error::source(&e);
                while let Some(cause) = source {
                    said = format!("{said}: {}", cause.to_string().trim());
                    source = cause.source();
                }
                let hint = if said.contains("Host key verification failed") {
                    format!(" (the host key is not the one {} holds for this host)", shared.known_hosts)
                } else if !Path::new(&shared.key_file).exists() {
                    format!(" (the key file {} does not exist)", shared.key_file)
                } else if !Path::new(&shared.known_hosts).exists() {
                    format!(" (the known_hosts file {} does not exist)", shared.known_hosts)
                } else {
                    String::new()
                };
                // ssh's ConnectTimeout (the TCP connection and the banner) is a timeout too.
                let kind =
                    if said.contains("timed out") { io::ErrorKind::TimedOut } else { io::ErrorKind::ConnectionRefused };
                StorageError::Io(io::Error::new(
                    kind,
                    format!("sftp: cannot connect to {}: {said}{hint}", shared.destination),
                ))
            })?;
            Sftp::from_session(session, SftpOptions::new()).await.map_err(|e| {
                StorageError::Io(io::Error::other(format!(
                    "sftp: {} took the connection but no SFTP session: {e}",
                    shared.destination
                )))
            })
        };
        // ssh's ConnectTimeout bounds the TCP connection only; this bounds the whole sign-in.
        let sftp = match tokio::time::timeout(shared.timeout + Duration::from_secs(1), connect).await {
            Ok(sftp) => Arc::new(sftp?),
            Err(_) => return Err(timed_out(&shared.destination, shared.timeout)),
        };
        *slot = Some(sftp.clone());
        Ok(sftp)
    }

    /// Forgets `sftp` if it is still the open connection: the next call opens another.
    async fn forget(&self, sftp: &Arc<Sftp>) {
        let mut slot = self.shared.connection.lock().await;
        if slot.as_ref().is_some_and(|open| Arc::ptr_eq(open, sftp)) {
            *slot = None;
        }
    }

    /// Runs one request, bounded by the timeout: the outer error is a connection that could
    /// not be had or a timeout, the inner one the server's answer, for the caller to read.
    async fn call<T, A, F, Fut>(&self, what: &str, op: F, arg: A) -> Result<Result<T, SftpError>>
    where
        F: FnOnce(Arc<Sftp>, A) -> Fut,
        Fut: Future<Output = Result<T, SftpError>>,
    {
        let sftp = self.sftp().await?;
        match tokio::time::timeout(self.shared.timeout, op(sftp.clone(), arg)).await {
            Ok(Ok(value)) => Ok(Ok(value)),
            Ok(Err(e)) => {
                if !matches!(e, SftpError::SftpError(..)) {
                    self.forget(&sftp).await;
                }
                Ok(Err(e))
            }
            Err(_) => {
                self.forget(&sftp).await;
                Err(timed_out(what, self.shared.timeout))
            }
        }
    }

    /// Runs one request whose every failure is an error.
    async fn run<T, A, F, Fut>(&self, what: &str, op: F, arg: A) -> Result<T>
    where
        F: FnOnce(Arc<Sftp>, A) -> Fut,
        Fut: Future<Output = Result<T, SftpError>>,
    {
        self.call(what, op, arg).await?.map_err(|e| convert(e, what))
    }

    /// The library's folder, as the server names it.
    fn root_key(&self) -> String {
        let key = format!("{}{}", self.shared.folder, self.base);
        match key.trim_end_matches('/') {
            "" if key.starts_with('/') => "/".to_owned(),
            "" => ".".to_owned(),
            trimmed => trimmed.to_owned(),
        }
    }

    fn key(&self, path: &StoragePath) -> String {
        if path.is_root() {
            self.root_key()
        } else {
            format!("{}{}{}", self.shared.folder, self.base, path.as_string())
        }
    }

    fn internal_key(&self, names: &[&str]) -> String {
        let mut key = format!("{}{}{INTERNAL_DIR}", self.shared.folder, self.base);
        for name in names {
            key.push('/');
            key.push_str(name);
        }
        key
    }

    /// What is at `key`, without following a symbolic link.
    async fn find_key(&self, key: &str) -> Result<Option<Found>> {
        match self.call(key, |s, k| async move { s.fs().symlink_metadata(k).await }, key.to_owned()).await? {
            Ok(meta) => Ok(Some(match meta.file_type() {
                Some(t) if t.is_file() => Found::File(meta),
                Some(t) if t.is_dir() => Found::Dir(meta),
                _ => Found::Other,
            })),
            Err(SftpError::SftpError(SftpErrorKind::NoSuchFile, _)) => Ok(None),
            Err(e) => Err(convert(e, key)),
        }
    }

    /// What is at `path`; a symbolic link or special file counts as nothing (as in `FsStorage`).
    async fn find(&self, path: &StoragePath) -> Result<Option<Found>> {
        match self.find_key(&self.key(path)).await? {
            Some(Found::Other) => Ok(None),
            None if super::is_virtual_dir(path) => Ok(Some(Found::Dir(MetaDataBuilder::default().create()))),
            found => Ok(found),
        }
    }

    /// A folder that must exist for a write, create or rename into it. The internal folder is
    /// made here when missing.
    async fn require_dir(&self, dir: &StoragePath) -> Result<()> {
        if dir.is_internal() && dir.components().len() == 1 {
            return self.make_internal(&[]).await;
        }
        match self.find(dir).await? {
            Some(Found::Dir(_)) => Ok(()),
            Some(_) => Err(StorageError::NotADirectory(dir.as_string())),
            None => match dir.parent() {
                // Below a file: say so, as a filesystem would.
                Some(parent) if !parent.is_root() => match self.find(&parent).await? {
                    Some(Found::File(_)) => Err(StorageError::NotADirectory(parent.as_string())),
                    _ => Err(StorageError::NotFound(dir.as_string())),
                },
                _ => Err(StorageError::NotFound(dir.as_string())),
            },
        }
    }

    /// Makes the internal folder and `names` below it, where missing.
    async fn make_internal(&self, names: &[&str]) -> Result<()> {
        for depth in 0..=names.len() {
            let key = self.internal_key(&names[..depth]);
            match self.call(&key, |s, k| async move { s.fs().create_dir(k).await }, key.clone()).await? {
                Ok(()) => {}
                // Most likely there already: checked.
                Err(SftpError::SftpError(..)) => match self.find_key(&key).await? {
                    Some(Found::Dir(_)) => {}
                    _ => return Err(StorageError::NotADirectory(key)),
                },
                Err(e) => return Err(convert(e, &key)),
            }
        }
        Ok(())
    }

    /// The entries of the folder at `key`: (name, metadata) of files and folders, internal
    /// ones hidden.
    async fn children(&self, dir: &StoragePath) -> Result<Vec<(String, EntryKind, MetaData)>> {
        let key = self.key(dir);
        let listed = self
            .call(
                &key,
                |s, k| async move { s.fs().open_dir(k).await?.read_dir().try_collect::<Vec<_>>().await },
                key.clone(),
            )
            .await?;
        let listed = match listed {
            Ok(listed) => listed,
            Err(SftpError::SftpError(SftpErrorKind::NoSuchFile, _)) if super::is_virtual_dir(dir) => Vec::new(),
            Err(e) => return Err(convert(e, &dir.as_string())),
        };
        let mut out = Vec::with_capacity(listed.len());
        for entry in listed {
            let Some(name) = entry.filename().to_str() else { continue };
            if name == "." || name == ".." || dir.join(name).is_err() {
                continue;
            }
            if dir.is_root() && name == INTERNAL_DIR {
                continue;
            }
            if dir.is_internal() && dir.components().len() == 1 && name == TEMP_DIR {
                continue;
            }
            let meta = entry.metadata();
            let kind = match meta.file_type() {
                Some(t) if t.is_file() => EntryKind::File,
                Some(t) if t.is_dir() => EntryKind::Dir,
                // Symbolic links and special files are never shown.
                _ => continue,
            };
            out.push((name.to_owned(), kind, meta));
        }
        Ok(out)
    }

    fn entry_of(name: String, kind: EntryKind, meta: &MetaData) -> Entry {
        Entry {
            name,
            kind,
            size: if kind == EntryKind::File { meta.len().unwrap_or(0) } else { 0 },
            modified: modified(meta).unwrap_or_else(Utc::now),
        }
    }

    async fn remove_file(&self, key: String) -> Result<()> {
        self.run(&key.clone(), |s, k| async move { s.fs().remove_file(k).await }, key).await
    }

    /// Removes the folder at `key` and everything below it, deepest first.
    async fn remove_tree(&self, key: String) -> Result<()> {
        let mut folders = vec![key.clone()];
        let mut pending = vec![key];
        while let Some(folder) = pending.pop() {
            let listed = self
                .run(
                    &folder.clone(),
                    |s, k| async move { s.fs().open_dir(k).await?.read_dir().try_collect::<Vec<_>>().await },
                    folder.clone(),
                )
                .await?;
            for entry in listed {
                let Some(name) = entry.filename().to_str().map(str::to_owned) else { continue };
                if name == "." || name == ".." {
                    continue;
                }
                let child = format!("{folder}/{name}");
                if entry.file_type().is_some_and(|t| t.is_dir()) {
                    folders.push(child.clone());
                    pending.push(child);
                } else {
                    self.remove_file(child).await?;
                }
            }
        }
        for folder in folders.into_iter().rev() {
            self.run(&folder.clone(), |s, k| async move { s.fs().remove_dir(k).await }, folder).await?;
        }
        Ok(())
    }

    /// A hard link `to` → `from`'s file, which fails if `to` exists: the no-replace commit.
    /// `Ok(false)` when `to` was taken.
    async fn link(&self, from: &str, to: &str) -> Result<bool> {
        let linked = self
            .call(to, |s, (f, t)| async move { s.fs().hard_link(f, t).await }, (from.to_owned(), to.to_owned()))
            .await?;
        match linked {
            Ok(()) => Ok(true),
            Err(e) => match self.find_key(to).await? {
                Some(_) => Ok(false),
                None => Err(convert(e, to)),
            },
        }
    }

    /// Moves the file at `from` to the free name `to`, never replacing: `Ok(false)` if `to` was
    /// taken meanwhile.
    async fn move_file_no_replace(&self, from: &str, to: &str) -> Result<bool> {
        if self.sftp().await?.support_hardlink() {
            if !self.link(from, to).await? {
                return Ok(false);
            }
            self.remove_file(from.to_owned()).await?;
            return Ok(true);
        }
        // Without hard links, a check then a rename (check-then-act; `capabilities` says so).
        if self.find_key(to).await?.is_some() {
            return Ok(false);
        }
        self.rename_key(from, to).await.map(|()| true)
    }

    /// The server's rename (`posix-rename@openssh.com` where offered: replaces atomically).
    async fn rename_key(&self, from: &str, to: &str) -> Result<()> {
        self.run(to, |s, (f, t)| async move { s.fs().rename(f, t).await }, (from.to_owned(), to.to_owned())).await
    }

    /// Writes `data` to the new file `temp`, within `limit`.
    async fn upload(&self, temp: &str, mut data: ByteStream, limit: Option<u64>) -> Result<()> {
        let timeout = self.shared.timeout;
        let mut file = self
            .run(temp, |s, t| async move { s.options().write(true).create_new(true).open(t).await }, temp.to_owned())
            .await?;
        let mut written = 0u64;
        let outcome = loop {
            match data.next().await {
                Some(Ok(chunk)) => {
                    written += chunk.len() as u64;
                    if let Some(limit) = limit.filter(|&limit| written > limit) {
                        break Err(StorageError::TooLarge { limit });
                    }
                    match tokio::time::timeout(timeout, file.write_all(&chunk)).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => break Err(convert(e, temp)),
                        Err(_) => break Err(timed_out(temp, timeout)),
                    }
                }
                Some(Err(e)) => break Err(StorageError::SourceFailed(e)),
                None => break Ok(()),
            }
        };
        let closed = tokio::time::timeout(timeout, file.close()).await;
        outcome?;
        match closed {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(convert(e, temp)),
            Err(_) => Err(timed_out(temp, timeout)),
        }
    }

    /// Puts the uploaded `temp` at `path`, as `mode` asks, if the target is still as `before`.
    async fn commit(&self, temp: &str, path: &StoragePath, mode: WriteMode, before: Option<Fingerprint>) -> Result<()> {
        let what = path.as_string();
        let key = self.key(path);
        let now = match self.find(path).await? {
            Some(Found::Dir(_)) => return Err(StorageError::IsADirectory(what)),
            Some(Found::File(meta)) => Some(Fingerprint::of(&meta)),
            _ => None,
        };
        match mode {
            WriteMode::CreateNew if now.is_some() => return Err(StorageError::AlreadyExists(what)),
            WriteMode::Replace if now != before => return Err(StorageError::Changed(what)),
            _ => {}
        }
        if now.is_none() {
            // Nothing there: the no-replace commit, so a file that appears meanwhile wins.
            return match self.move_file_no_replace(temp, &key).await? {
                true => Ok(()),
                false if mode == WriteMode::CreateNew => Err(StorageError::AlreadyExists(what)),
                false => Err(StorageError::Changed(what)),
            };
        }
        if !self.sftp().await?.support_posix_rename() {
            // A plain SFTP rename never replaces: the old file goes first, so for a moment
            // there is none (docs/storage.md).
            self.remove_file(key.clone()).await?;
        }
        self.rename_key(temp, &key).await
    }
}

impl Fingerprint {
    fn of(meta: &MetaData) -> Self {
        Fingerprint { size: meta.len(), modified: meta.modified().map(|t| t.into_raw()) }
    }
}

/// `ssh://HOST[:PORT][/FOLDER]` as (`ssh://HOST[:PORT]`, `/FOLDER/` or empty).
fn parse_endpoint(endpoint: &str) -> Result<(String, String)> {
    let Some(rest) = endpoint.trim().strip_prefix("ssh://") else {
        return Err(invalid_config(&format!("endpoint {endpoint:?} is not ssh://HOST[:PORT][/FOLDER]")));
    };
    let (authority, folder) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') || authority.chars().any(char::is_whitespace) {
        return Err(invalid_config(&format!(
            "endpoint {endpoint:?} is not ssh://HOST[:PORT][/FOLDER] (the user goes in username)"
        )));
    }
    let folder = folder.trim_end_matches('/');
    let folder = if folder.is_empty() { String::new() } else { format!("{folder}/") };
    if folder.split('/').any(|part| part == "..") {
        return Err(invalid_config(&format!("endpoint {endpoint:?}: the folder may not contain ..")));
    }
    Ok((format!("ssh://{authority}"), folder))
}

/// A value inside double quotes in an `ssh_config`.
fn escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

fn modified(meta: &MetaData) -> Option<DateTime<Utc>> {
    let at = meta.modified()?;
    DateTime::from_timestamp(i64::from(at.into_raw()), 0)
}

fn timed_out(what: &str, timeout: Duration) -> StorageError {
    StorageError::Io(io::Error::new(
        io::ErrorKind::TimedOut,
        format!("sftp: no answer within {} s for {what}", timeout.as_secs_f32()),
    ))
}

/// The SFTP client's error as the trait's; `what` names the item in the message.
fn convert(e: SftpError, what: &str) -> StorageError {
    let what = what.to_owned();
    match &e {
        SftpError::SftpError(SftpErrorKind::NoSuchFile, _) => StorageError::NotFound(what),
        SftpError::SftpError(SftpErrorKind::PermDenied, _) => {
            StorageError::Io(io::Error::new(io::ErrorKind::PermissionDenied, format!("sftp: {what}: {e}")))
        }
        _ => StorageError::Io(io::Error::other(format!("sftp: {what}: {e}"))),
    }
}

#[async_trait::async_trait]
impl Storage for SftpStorage {
    fn kind(&self) -> &'static str {
        "sftp"
    }

    async fn stat(&self, path: &StoragePath) -> Result<Entry> {
        match self.find(path).await? {
            Some(Found::File(meta)) => Ok(Self::entry_of(path.name().to_owned(), EntryKind::File, &meta)),
            Some(Found::Dir(meta)) => Ok(Self::entry_of(path.name().to_owned(), EntryKind::Dir, &meta)),
            _ => Err(StorageError::NotFound(path.as_string())),
        }
    }

    async fn list(&self, dir: &StoragePath) -> Result<Vec<Entry>> {
        match self.find(dir).await? {
            Some(Found::Dir(_)) => {}
            Some(_) => return Err(StorageError::NotADirectory(dir.as_string())),
            None => return Err(StorageError::NotFound(dir.as_string())),
        }
        Ok(self.children(dir).await?.into_iter().map(|(name, kind, meta)| Self::entry_of(name, kind, &meta)).collect())
    }

    async fn walk(&self, dir: &StoragePath) -> Result<Vec<(StoragePath, Entry)>> {
        match self.find(dir).await? {
            Some(Found::Dir(_)) => {}
            Some(_) => return Err(StorageError::NotADirectory(dir.as_string())),
            None => return Err(StorageError::NotFound(dir.as_string())),
        }
        // Depth first, each folder before its contents.
        let mut out = Vec::new();
        let mut pending = vec![dir.clone()];
        while let Some(folder) = pending.pop() {
            let mut children = self.children(&folder).await?;
            children.sort_by(|a, b| b.0.cmp(&a.0));
            for (name, kind, meta) in children {
                let Ok(child) = folder.join(&name) else { continue };
                if kind == EntryKind::Dir {
                    pending.push(child.clone());
                }
                out.push((child, Self::entry_of(name, kind, &meta)));
            }
        }
        Ok(out)
    }

    async fn read(&self, path: &StoragePath, range: Option<Range<u64>>) -> Result<ByteStream> {
        let what = path.as_string();
        let size = match self.find(path).await? {
            Some(Found::File(meta)) => meta.len().unwrap_or(0),
            Some(Found::Dir(_)) => return Err(StorageError::IsADirectory(what)),
            _ => return Err(StorageError::NotFound(what)),
        };
        let range = match range {
            Some(r) => r.start.min(size)..r.end.min(size),
            None => 0..size,
        };
        if range.start >= range.end {
            return Ok(Box::pin(futures::stream::empty()));
        }
        let mut file = self.run(&what, |s, k| async move { s.open(k).await }, self.key(path)).await?;
        {
            use tokio::io::AsyncSeekExt;
            file.seek(io::SeekFrom::Start(range.start)).await.map_err(StorageError::Io)?;
        }
        let timeout = self.shared.timeout;
        // The client splits a longer request into the server's maximum itself.
        const CHUNK: u64 = 256 * 1024;
        let state = (file, range.start, range.end, what);
        let stream = futures::stream::try_unfold(state, move |(mut file, at, end, what)| async move {
            if at >= end {
                let _ = file.close().await;
                return Ok(None);
            }
            let want = (end - at).min(CHUNK) as u32;
            let read = tokio::time::timeout(timeout, file.read(want, BytesMut::with_capacity(want as usize)))
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("sftp: no answer within {} s reading {what}", timeout.as_secs_f32()),
                    )
                })?
                .map_err(|e| io::Error::other(format!("sftp: reading {what}: {e}")))?;
            match read {
                Some(bytes) if !bytes.is_empty() => {
                    let got = (bytes.len() as u64).min(end - at);
                    if got < u64::from(want) {
                        // The client moves its offset by what was asked, not by what came.
                        use tokio::io::AsyncSeekExt;
                        file.seek(io::SeekFrom::Start(at + got)).await?;
                    }
                    Ok(Some((bytes.freeze().slice(..got as usize), (file, at + got, end, what))))
                }
                // The file shrank under the read.
                _ => Err(io::Error::new(io::ErrorKind::UnexpectedEof, format!("sftp: {what} ended early"))),
            }
        });
        Ok(Box::pin(stream))
    }

    async fn write(&self, path: &StoragePath, data: ByteStream, mode: WriteMode, limit: Option<u64>) -> Result<Entry> {
        let what = path.as_string();
        let parent = path.parent().ok_or_else(|| StorageError::IsADirectory(what.clone()))?;
        self.require_dir(&parent).await?;
        let before = match self.find(path).await? {
            Some(Found::Dir(_)) if mode == WriteMode::CreateNew => return Err(StorageError::AlreadyExists(what)),
            Some(Found::Dir(_)) => return Err(StorageError::IsADirectory(what)),
            Some(Found::File(_)) if mode == WriteMode::CreateNew => return Err(StorageError::AlreadyExists(what)),
            Some(Found::File(meta)) => Some(Fingerprint::of(&meta)),
            _ => None,
        };
        self.make_internal(&[TEMP_DIR]).await?;
        let temp = self.internal_key(&[TEMP_DIR, &format!("{}.upload", uuid::Uuid::new_v4())]);
        let mut done = self.upload(&temp, data, limit).await;
        if done.is_ok() {
            done = self.commit(&temp, path, mode, before).await;
        }
        // After a hard link the temporary name is left over; after a failure, the upload.
        if let Ok(Some(_)) = self.find_key(&temp).await {
            let _ = self.remove_file(temp).await;
        }
        done?;
        self.stat(path).await
    }

    async fn create_dir(&self, path: &StoragePath) -> Result<Entry> {
        self.require_dir(&super::new_dir_parent(path)?).await?;
        let key = self.key(path);
        // mkdir never replaces: a name taken meanwhile fails it.
        if let Err(e) = self.call(&key, |s, k| async move { s.fs().create_dir(k).await }, key.clone()).await? {
            return Err(match self.find_key(&key).await? {
                Some(_) => StorageError::AlreadyExists(path.as_string()),
                None => convert(e, &path.as_string()),
            });
        }
        self.stat(path).await
    }

    async fn rename(&self, from: &StoragePath, to: &StoragePath) -> Result<()> {
        let parent = super::rename_target_parent(from, to)?;
        let found = self.find(from).await?.ok_or_else(|| StorageError::NotFound(from.as_string()))?;
        self.require_dir(&parent).await?;
        let target = self.key(to);
        if self.find_key(&target).await?.is_some() {
            return Err(StorageError::AlreadyExists(to.as_string()));
        }
        match found {
            Found::File(_) => match self.move_file_no_replace(&self.key(from), &target).await? {
                true => Ok(()),
                false => Err(StorageError::AlreadyExists(to.as_string())),
            },
            // One rename, after the check above (check-then-act for folders).
            _ => self.rename_key(&self.key(from), &target).await,
        }
    }

    async fn delete(&self, path: &StoragePath) -> Result<()> {
        if super::is_virtual_dir(path) {
            return Err(StorageError::InvalidPath(format!("cannot delete {path}")));
        }
        match self.find(path).await? {
            None | Some(Found::Other) => Err(StorageError::NotFound(path.as_string())),
            Some(Found::File(_)) => self.remove_file(self.key(path)).await,
            Some(Found::Dir(_)) => {
                // Out of sight in one rename, then emptied where no listing looks.
                self.make_internal(&[TEMP_DIR]).await?;
                let aside = self.internal_key(&[TEMP_DIR, &format!("{}.deleted", uuid::Uuid::new_v4())]);
                match self.rename_key(&self.key(path), &aside).await {
                    Ok(()) => self.remove_tree(aside).await,
                    Err(StorageError::NotFound(_)) => Err(StorageError::NotFound(path.as_string())),
                    // A server that cannot move it (another filesystem): removed in place.
                    Err(_) => self.remove_tree(self.key(path)).await,
                }
            }
        }
    }

    async fn check(&self) -> Result<()> {
        match self.find_key(&self.root_key()).await? {
            Some(Found::Dir(_)) => Ok(()),
            Some(_) => Err(StorageError::NotADirectory(format!("the library's folder {}", self.root_key()))),
            None => Err(StorageError::NotFound(format!("the library's folder {}", self.root_key()))),
        }
    }

    async fn capabilities(&self) -> Capabilities {
        let mut capabilities = Capabilities::ALL;
        // Without hard links a CreateNew is a check then a rename.
        capabilities.atomic_create_new = self.sftp().await.is_ok_and(|s| s.support_hardlink());
        capabilities
    }
}

#[cfg(test)]
mod tests {
    use super::parse_endpoint;

    #[test]
    fn endpoints_split_into_destination_and_folder() {
        let parsed = parse_endpoint("ssh://files.example:2222/srv/docs/").expect("valid");
        assert_eq!(parsed, ("ssh://files.example:2222".to_owned(), "/srv/docs/".to_owned()));
        assert_eq!(parse_endpoint("ssh://h").expect("valid"), ("ssh://h".to_owned(), String::new()));
        assert_eq!(parse_endpoint("ssh://[::1]:22/").expect("valid"), ("ssh://[::1]:22".to_owned(), String::new()));
        for bad in ["sftp://h", "h:22", "ssh://", "ssh://alice@h", "ssh://h/a/../b", "ssh://h x"] {
            assert!(parse_endpoint(bad).is_err(), "{bad} accepted");
        }
    }
}
