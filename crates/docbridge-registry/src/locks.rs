//! The change lock of a library, across every process that shares this database (issue #14).
//!
//! Changes (uploads' commits, renames, moves, deletes, restores) take it exclusively; listings
//! that repair the index and rescans take it shared, so that no listing in any process reads a
//! folder while another process has changed storage and not yet the index. Two levels, always in
//! this order: a per-process read-write lock (cheap, and the only one for an in-memory
//! database), then the database's own:
//!
//! - **PostgreSQL**: a session-level advisory lock keyed by the integration, taken on one
//!   connection per integration and process that is kept outside the pool (so that lock holders
//!   never compete with queries for pooled connections). Session-level advisory locks stack, so
//!   the process's shared holders each take and release one level on that connection, in order
//!   (one task owns the connection and serves requests first come, first served). PostgreSQL
//!   releases the locks of a connection that dies: a killed process never leaves one held.
//! - **A SQLite file**: `flock` on a lock file beside the database, one per integration, opened
//!   anew by every holder (flock locks belong to an open file, so two registries opened by one
//!   process exclude each other like two processes do). The kernel releases them on exit.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock, mpsc, oneshot};

use crate::{Registry, RegistryError, Result};

/// The first half of the advisory lock key of a library's change lock ("docb" in ASCII); the
/// second half is the integration's ID.
const CHANGE_LOCK_CLASS: i32 = 0x646f_6362;

/// How a change lock is held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Listings that repair the index, rescans: many at once, no change meanwhile.
    Shared,
    /// Changes: alone.
    Exclusive,
}

/// A held change lock; dropping it releases both levels.
#[must_use = "the lock is released when this is dropped"]
pub struct ChangeLock {
    // Fields drop in order: the database's level is released (or its release queued, in order)
    // before this process's, so that no later holder in this process can overtake the release.
    shared: Option<SharedLock>,
    _local: LocalGuard,
}

impl std::fmt::Debug for ChangeLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChangeLock").field("across_processes", &self.shared.is_some()).finish()
    }
}

enum LocalGuard {
    Shared(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    Exclusive(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

enum SharedLock {
    /// The open lock file; closing it releases the flock.
    File(#[allow(dead_code)] std::fs::File),
    /// `connection` says which of the actor's successive connections holds the level.
    Postgres { mode: LockMode, connection: u64, actor: mpsc::UnboundedSender<Command> },
}

impl Drop for SharedLock {
    fn drop(&mut self) {
        if let SharedLock::Postgres { mode, connection, actor } = self {
            // If the actor is gone, so is its connection, and PostgreSQL has released the lock.
            let _ = actor.send(Command::Release(*mode, *connection));
        }
    }
}

/// The lock state a registry's clones share.
#[derive(Default)]
pub(crate) struct Locks {
    local: Mutex<HashMap<i64, Arc<RwLock<()>>>>,
    backend: LockBackend,
    actors: Mutex<HashMap<i64, mpsc::UnboundedSender<Command>>>,
}

impl std::fmt::Debug for Locks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Locks").field("backend", &self.backend).finish()
    }
}

#[derive(Debug, Default)]
pub(crate) enum LockBackend {
    /// An in-memory database: one process by construction.
    #[default]
    ProcessOnly,
    /// Lock files are `<database>.changes-<integration>.lock`.
    Files(PathBuf),
    Postgres(sea_orm::sqlx::PgPool),
}

impl Locks {
    pub(crate) fn new(backend: LockBackend) -> Self {
        Locks { backend, ..Locks::default() }
    }
}

enum Command {
    /// Answered with the number of the connection that holds the level.
    Acquire(LockMode, oneshot::Sender<Result<u64>>),
    /// A level taken on the connection of that number: ignored if that connection has gone
    /// (it would otherwise release a level a later holder took on the next connection).
    Release(LockMode, u64),
}

impl Registry {
    /// Takes the change lock of an integration's library in `mode`, in this process and in
    /// every other process sharing the database. Waits as long as it takes: holders are bounded
    /// by the requests they serve.
    pub async fn change_lock(&self, integration_id: i64, mode: LockMode) -> Result<ChangeLock> {
        let locks = &self.locks;
        let local =
            locks.local.lock().unwrap_or_else(PoisonError::into_inner).entry(integration_id).or_default().clone();
        let local = match mode {
            LockMode::Shared => LocalGuard::Shared(local.read_owned().await),
            LockMode::Exclusive => LocalGuard::Exclusive(local.write_owned().await),
        };
        let shared = match &locks.backend {
            LockBackend::ProcessOnly => None,
            LockBackend::Files(database) => Some(SharedLock::File(lock_file(database, integration_id, mode).await?)),
            LockBackend::Postgres(pool) => {
                let actor = self.lock_actor(pool, integration_id);
                let (reply, answer) = oneshot::channel();
                actor.send(Command::Acquire(mode, reply)).map_err(|_| actor_gone())?;
                let connection = answer.await.map_err(|_| actor_gone())??;
                Some(SharedLock::Postgres { mode, connection, actor })
            }
        };
        Ok(ChangeLock { shared, _local: local })
    }

    /// The task that owns this integration's lock connection, started when first needed (and
    /// again if the runtime that ran it has gone).
    fn lock_actor(&self, pool: &sea_orm::sqlx::PgPool, integration_id: i64) -> mpsc::UnboundedSender<Command> {
        let mut actors = self.locks.actors.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(actor) = actors.get(&integration_id).filter(|a| !a.is_closed()) {
            return actor.clone();
        }
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(run_actor(pool.clone(), integration_id, receiver));
        actors.insert(integration_id, sender.clone());
        sender
    }
}

fn actor_gone() -> RegistryError {
    RegistryError::Database(sea_orm::DbErr::Custom("the change lock's connection task has stopped".into()))
}

/// Opens the integration's lock file and flocks it; a lock another process holds is waited for
/// on the blocking pool.
async fn lock_file(database: &std::path::Path, integration_id: i64, mode: LockMode) -> Result<std::fs::File> {
    let mut name = database.as_os_str().to_owned();
    name.push(format!(".changes-{integration_id}.lock"));
    let io = |e: std::io::Error| {
        RegistryError::Database(sea_orm::DbErr::Custom(format!(
            "change lock file {}: {e}",
            PathBuf::from(&name).display()
        )))
    };
    let mut options = std::fs::OpenOptions::new();
    options.create(true).truncate(false).write(true);
    // Beside the database, in the data directory, where every file is the service user's alone
    // (and `docbridge doctor` fails a data directory holding anything wider).
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options.open(&name).map_err(io)?;
    let tried = match mode {
        LockMode::Shared => file.try_lock_shared(),
        LockMode::Exclusive => file.try_lock(),
    };
    match tried {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => tokio::task::spawn_blocking(move || {
            match mode {
                LockMode::Shared => file.lock_shared(),
                LockMode::Exclusive => file.lock(),
            }
            .map(|()| file)
        })
        .await
        .map_err(|e| io(std::io::Error::other(e)))?
        .map_err(io),
        Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
    }
}

/// Serves one integration's lock requests on one connection, in order. A failed statement
/// drops the connection (and with it whatever it held: PostgreSQL releases it), and the next
/// request opens another.
async fn run_actor(pool: sea_orm::sqlx::PgPool, integration_id: i64, mut commands: mpsc::UnboundedReceiver<Command>) {
    use sea_orm::sqlx::Connection;
    let key = i32::try_from(integration_id).unwrap_or((integration_id & 0x7fff_ffff) as i32);
    let mut connection: Option<sea_orm::sqlx::PgConnection> = None;
    let mut number = 0u64;
    while let Some(command) = commands.recv().await {
        let (sql, reply) = match command {
            Command::Acquire(LockMode::Shared, reply) => ("SELECT pg_advisory_lock_shared($1, $2)", Some(reply)),
            Command::Acquire(LockMode::Exclusive, reply) => ("SELECT pg_advisory_lock($1, $2)", Some(reply)),
            Command::Release(_, held_on) if held_on != number || connection.is_none() => continue,
            Command::Release(LockMode::Shared, _) => ("SELECT pg_advisory_unlock_shared($1, $2)", None),
            Command::Release(LockMode::Exclusive, _) => ("SELECT pg_advisory_unlock($1, $2)", None),
        };
        if connection.is_none() {
            match pool.acquire().await {
                Ok(pooled) => {
                    connection = Some(pooled.detach());
                    number += 1;
                }
                Err(e) => {
                    if let Some(reply) = reply {
                        let _ = reply.send(Err(database_error(e)));
                    }
                    continue;
                }
            }
        }
        let Some(conn) = connection.as_mut() else { continue };
        let done = sea_orm::sqlx::query(sql).bind(CHANGE_LOCK_CLASS).bind(key).execute(&mut *conn).await;
        if let Err(e) = &done {
            tracing::warn!(error = %e, integration_id, "change lock statement failed; its connection is closed");
            if let Some(conn) = connection.take() {
                let _ = conn.close().await;
            }
        }
        let Some(reply) = reply else { continue };
        let answer = done.map(|_| number).map_err(database_error);
        let granted = answer.is_ok();
        if reply.send(answer).is_err() && granted {
            // The requester stopped waiting (its future was dropped): give the level back.
            let unlock = if sql.contains("shared") {
                "SELECT pg_advisory_unlock_shared($1, $2)"
            } else {
                "SELECT pg_advisory_unlock($1, $2)"
            };
            if let Some(conn) = connection.as_mut()
                && sea_orm::sqlx::query(unlock).bind(CHANGE_LOCK_CLASS).bind(key).execute(&mut *conn).await.is_err()
            {
                connection = None;
            }
        }
    }
}

fn database_error(e: sea_orm::sqlx::Error) -> RegistryError {
    RegistryError::Database(sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(Arc::new(e))))
}
