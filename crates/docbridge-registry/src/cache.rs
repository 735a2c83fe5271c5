//! A per-process cache of what decides who may call: integration records by slug, the hashes of
//! their active ApiKeys, and users' grants. Every provider call needs all three; reading them
//! from the database took three to four queries per request.
//!
//! The cache is never trusted without a check: every change to those tables, made by any
//! process (this one, another server sharing the database, the CLI, an older binary, a hand
//! typed `UPDATE`), bumps the *registry generation*, one counter row kept by database triggers
//! in the changing transaction (`migration.rs`). A request first reads the generation (one
//! query on one tiny row) and uses cached records only if they were loaded under that same
//! generation; otherwise it drops them and loads afresh. So a disabled integration, a revoked
//! key or a withdrawn grant takes effect at the next request that starts after the change
//! committed, in every process, exactly as without a cache.
//!
//! Reads of the generation are coalesced: requests that arrive while a read is in flight wait
//! for the next one, which starts after they arrived, and share its answer. Under load one
//! query serves dozens of requests; alone, a request costs one query as before. Correctness
//! holds because every answer comes from a read that *started* after the request asked for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, Statement};
use tokio::sync::oneshot;

use crate::records::{Access, Integration};
use crate::{Registry, RegistryError, Result};

/// Entries kept per kind before the cache starts again (crude, but bounded: usernames come
/// from callers).
const MAX_ENTRIES: usize = 4096;

/// One generation read, shared by every request that waited for it.
type Shared = std::result::Result<Option<i64>, String>;

#[derive(Default)]
pub(crate) struct AccessCache {
    reads: Mutex<Reads>,
    cached: Mutex<Cached>,
}

impl std::fmt::Debug for AccessCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let cached = self.cached.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("AccessCache").field("generation", &cached.generation).finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Reads {
    /// Whether a task is reading generations (it serves `waiting` once its current read ends).
    running: bool,
    /// Requests waiting for a read that has not started yet.
    waiting: Vec<oneshot::Sender<Shared>>,
}

#[derive(Default)]
struct Cached {
    /// The generation the entries below were loaded under.
    generation: Option<i64>,
    integrations: HashMap<String, Integration>,
    keys: HashMap<i64, Arc<[String]>>,
    access: HashMap<(i64, String), Option<Access>>,
}

impl Cached {
    /// Moves to a newer generation, dropping everything loaded under an older one. Never moves
    /// back: a slow request that read an older value must not bring old entries back.
    fn advance(&mut self, generation: i64) {
        if self.generation.is_none_or(|current| generation > current) {
            *self = Cached { generation: Some(generation), ..Cached::default() };
        }
    }
}

/// The registry's view of who may call, as of a moment after this was created: integration
/// records, ApiKey hashes and grants, from the cache when it is current, else from the
/// database. Take one per request ([`Registry::access_snapshot`]); do not keep it.
#[derive(Debug)]
pub struct AccessSnapshot<'a> {
    registry: &'a Registry,
    /// `None` when the database has no generation row: then nothing is cached.
    generation: Option<i64>,
}

impl Registry {
    /// Checks the registry generation (one coalesced query) and answers a snapshot through
    /// which the records that decide access are read, from the cache when it is current.
    pub async fn access_snapshot(&self) -> Result<AccessSnapshot<'_>> {
        // On a SQLite file the read takes microseconds on this thread (`direct.rs`): nothing to
        // coalesce. Otherwise, or if that read fails, one coalesced query.
        let direct = self.direct.as_ref().and_then(|direct| direct.registry_generation());
        let generation = match direct {
            Some(generation) => generation,
            None => self.coalesced_generation().await?,
        };
        if let Some(generation) = generation {
            self.cache.cached.lock().unwrap_or_else(|e| e.into_inner()).advance(generation);
        }
        Ok(AccessSnapshot { registry: self, generation })
    }

    /// The registry generation, read by the database now (uncoalesced). `None` if the row is
    /// missing, which turns the cache off rather than trusting it.
    pub async fn registry_generation(&self) -> Result<Option<i64>> {
        let backend = self.db.get_database_backend();
        let sql = "SELECT value FROM registry_generation WHERE id = 1";
        let row = self.db.query_one_raw(Statement::from_string(backend, sql)).await?;
        match row {
            Some(row) => Ok(Some(row.try_get::<i64>("", "value")?)),
            None => Ok(None),
        }
    }

    /// A generation read that started after this call: joins the next read, starting one when
    /// none is running.
    async fn coalesced_generation(&self) -> Result<Option<i64>> {
        let (sender, receiver) = oneshot::channel();
        let start = {
            let mut reads = self.cache.reads.lock().unwrap_or_else(|e| e.into_inner());
            reads.waiting.push(sender);
            !std::mem::replace(&mut reads.running, true)
        };
        if start {
            // A task of its own, so that a request that gives up does not leave the others
            // waiting for a read nobody drives.
            let registry = self.clone();
            tokio::spawn(async move { registry.read_generations().await });
        }
        match receiver.await {
            Ok(Ok(generation)) => Ok(generation),
            Ok(Err(message)) => Err(RegistryError::Database(sea_orm::DbErr::Custom(message))),
            Err(_) => Err(RegistryError::Database(sea_orm::DbErr::Custom("the generation read was dropped".into()))),
        }
    }

    /// Reads the generation for every waiting request, then again for those that came while it
    /// read, until nobody waits.
    async fn read_generations(&self) {
        loop {
            let batch = {
                let mut reads = self.cache.reads.lock().unwrap_or_else(|e| e.into_inner());
                if reads.waiting.is_empty() {
                    reads.running = false;
                    return;
                }
                std::mem::take(&mut reads.waiting)
            };
            let result = self.registry_generation().await.map_err(|e| e.to_string());
            for waiter in batch {
                // A request that gave up no longer listens.
                let _ = waiter.send(result.clone());
            }
        }
    }

    /// Stores an entry loaded under `generation`, if the cache is still at that generation.
    fn remember(&self, generation: Option<i64>, store: impl FnOnce(&mut Cached)) {
        let Some(generation) = generation else { return };
        let mut cached = self.cache.cached.lock().unwrap_or_else(|e| e.into_inner());
        if cached.generation == Some(generation) {
            store(&mut cached);
        }
    }

    fn recall<T>(&self, generation: Option<i64>, find: impl FnOnce(&Cached) -> Option<T>) -> Option<T> {
        let generation = generation?;
        let cached = self.cache.cached.lock().unwrap_or_else(|e| e.into_inner());
        if cached.generation == Some(generation) { find(&cached) } else { None }
    }
}

impl AccessSnapshot<'_> {
    /// The integration with this slug. Only integrations that exist are remembered, so URLs
    /// with made-up slugs cannot fill the cache.
    pub async fn integration(&self, slug: &str) -> Result<Option<Integration>> {
        let registry = self.registry;
        if let Some(found) = registry.recall(self.generation, |c| c.integrations.get(slug).cloned()) {
            return Ok(Some(found));
        }
        let found = registry.integration(slug).await?;
        if let Some(integration) = &found {
            registry.remember(self.generation, |c| {
                if c.integrations.len() >= MAX_ENTRIES {
                    c.integrations.clear();
                }
                c.integrations.insert(slug.to_owned(), integration.clone());
            });
        }
        Ok(found)
    }

    /// The hashes of an integration's active (not revoked) ApiKeys.
    pub async fn api_key_hashes(&self, integration_id: i64) -> Result<Arc<[String]>> {
        let registry = self.registry;
        if let Some(found) = registry.recall(self.generation, |c| c.keys.get(&integration_id).cloned()) {
            return Ok(found);
        }
        let hashes: Arc<[String]> =
            registry.active_api_keys(integration_id).await?.into_iter().map(|k| k.hash).collect();
        registry.remember(self.generation, |c| {
            if c.keys.len() >= MAX_ENTRIES {
                c.keys.clear();
            }
            c.keys.insert(integration_id, hashes.clone());
        });
        Ok(hashes)
    }

    /// A user's grant in an integration, as [`Registry::access`].
    pub async fn access(&self, integration_id: i64, username: &str) -> Result<Option<Access>> {
        let registry = self.registry;
        let key = (integration_id, username.to_owned());
        if let Some(found) = registry.recall(self.generation, |c| c.access.get(&key).cloned()) {
            return Ok(found);
        }
        let found = registry.access(integration_id, username).await?;
        registry.remember(self.generation, |c| {
            if c.access.len() >= MAX_ENTRIES {
                c.access.clear();
            }
            c.access.insert(key, found.clone());
        });
        Ok(found)
    }
}

#[cfg(test)]
mod tests {
    use crate::test_support::{new_item, registries, sample_integration, unique};
    use crate::{DefaultRole, IntegrationPatch, KeyHash, Role};

    /// Every kind of change to the tables behind the cache moves the generation; changes to
    /// items do not (they are not cached, and they are frequent).
    #[tokio::test]
    async fn every_access_change_bumps_the_generation() {
        for (index, registry) in registries().await.into_iter().enumerate() {
            // The first registry is a private in-memory SQLite; the PostgreSQL one is shared with
            // tests running at the same time, whose access changes move its generation too.
            let private = index == 0;
            let generation = || async { registry.registry_generation().await.unwrap().expect("the generation row") };
            let mut last = generation().await;
            let mut moved = async |what: &str| {
                let now = generation().await;
                assert!(now > last, "{what} did not move the generation ({last} -> {now})");
                last = now;
            };
            let slug = unique("gen");
            let integration = registry.create_integration(sample_integration(&slug)).await.unwrap();
            moved("create_integration").await;
            registry.set_integration_enabled(&slug, false).await.unwrap();
            moved("disable").await;
            registry
                .edit_integration(
                    &slug,
                    &IntegrationPatch { default_role: Some(DefaultRole::Reader), ..Default::default() },
                )
                .await
                .unwrap();
            moved("edit").await;
            registry.add_api_key(&slug, &KeyHash { hash: unique("second"), hint: "second".into() }).await.unwrap();
            moved("add_api_key").await;
            registry.revoke_api_keys_except_newest(&slug).await.unwrap();
            moved("revoke").await;
            let name = format!("{}@example.com", unique("gen"));
            registry.create_user(&name, "$argon2id$x").await.unwrap();
            moved("create_user").await;
            registry.grant(&name, &slug, Role::Editor, None).await.unwrap();
            moved("grant").await;
            registry.revoke(&name, &slug).await.unwrap();
            moved("revoke grant").await;
            registry.delete_user(&name).await.unwrap();
            moved("delete_user").await;

            let before = generation().await;
            registry.insert_item(new_item(integration.id, "a.txt", Some(1))).await.unwrap();
            if private {
                assert_eq!(generation().await, before, "an item change must not invalidate the access cache");
            }
            registry.delete_integration(&slug).await.unwrap();
            moved("delete_integration").await;
        }
    }

    /// A change through another connection pool (another process, for the cache) is seen by
    /// the next snapshot: no delay, no restart.
    #[tokio::test]
    async fn a_change_by_another_connection_is_seen_by_the_next_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("r.db").display());
        let ours = crate::Registry::connect(&url).await.unwrap();
        let theirs = crate::Registry::connect(&url).await.unwrap();
        let slug = unique("other");
        let integration = ours.create_integration(sample_integration(&slug)).await.unwrap();

        // Warm the cache.
        for _ in 0..2 {
            let snapshot = ours.access_snapshot().await.unwrap();
            assert!(snapshot.integration(&slug).await.unwrap().unwrap().enabled);
            assert_eq!(snapshot.api_key_hashes(integration.id).await.unwrap().len(), 1);
            assert_eq!(snapshot.access(integration.id, "ann@example.com").await.unwrap(), None);
        }

        theirs.set_integration_enabled(&slug, false).await.unwrap();
        let snapshot = ours.access_snapshot().await.unwrap();
        assert!(!snapshot.integration(&slug).await.unwrap().unwrap().enabled);

        theirs.add_api_key(&slug, &KeyHash { hash: unique("new"), hint: "newkey".into() }).await.unwrap();
        theirs.revoke_api_keys_except_newest(&slug).await.unwrap();
        let snapshot = ours.access_snapshot().await.unwrap();
        let hashes = snapshot.api_key_hashes(integration.id).await.unwrap();
        assert_eq!(hashes.len(), 1);
        assert!(hashes[0].starts_with("new-"), "{hashes:?}");

        theirs.create_user("ann@example.com", "$argon2id$x").await.unwrap();
        theirs.grant("ann@example.com", &slug, Role::Reader, None).await.unwrap();
        let snapshot = ours.access_snapshot().await.unwrap();
        assert_eq!(snapshot.access(integration.id, "ann@example.com").await.unwrap().unwrap().role, Role::Reader);

        theirs.delete_integration(&slug).await.unwrap();
        assert_eq!(ours.access_snapshot().await.unwrap().integration(&slug).await.unwrap(), None);
    }

    /// Many requests at once share generation reads and all get an answer.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_snapshots_all_answer() {
        let registry = registries().await.remove(0);
        let slug = unique("many");
        registry.create_integration(sample_integration(&slug)).await.unwrap();
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let registry = registry.clone();
                let slug = slug.clone();
                tokio::spawn(async move {
                    let snapshot = registry.access_snapshot().await.unwrap();
                    snapshot.integration(&slug).await.unwrap().is_some()
                })
            })
            .collect();
        for task in tasks {
            assert!(task.await.unwrap());
        }
    }
}
