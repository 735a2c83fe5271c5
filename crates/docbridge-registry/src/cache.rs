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
//! Item records (what an item's ID resolves to, and whether a move of it is under way) are
//! cached the same way under a counter per integration, the *item generation*, that triggers
//! bump in every transaction that changes the integration's items or moves (migration
//! `m0007`). It is read in the same statement as the registry generation, and each request
//! carries the value it read ([`ItemsSeen`], through the documents crate's `Caller`): a cached
//! record is used only if it was loaded under that generation or a later one, so an item
//! renamed, moved or deleted by any process is seen as such by every request that starts after
//! the change committed. Only read-only lookups use it; changes always read the database.
//!
//! Reads of the generation are coalesced: requests that arrive while a read is in flight wait
//! for the next one, which starts after they arrived, and share its answer. Under load one
//! query serves dozens of requests; alone, a request costs one query as before. Correctness
//! holds because every answer comes from a read that *started* after the request asked for it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sea_orm::{ConnectionTrait, Statement};
use tokio::sync::oneshot;

use docbridge_protocol::ItemId;

use crate::records::{Access, Integration, ItemRecord};
use crate::{Registry, RegistryError, Result};

/// Entries kept per kind before the cache starts again (crude, but bounded: usernames come
/// from callers).
const MAX_ENTRIES: usize = 4096;

/// Folder children's records kept per integration before its listings start again (some
/// 300 bytes each).
const MAX_CHILDREN_RECORDS: usize = 16_384;

/// The statement that reads every generation: the registry's (no integration), then each
/// integration's item generation. An integration without a row has had no item change since
/// the counters were added: its generation is 0.
pub(crate) const GENERATIONS: &str = "SELECT CAST(NULL AS BIGINT) AS integration_id, value FROM registry_generation \
     WHERE id = 1 UNION ALL SELECT integration_id, value FROM item_generations";

/// What one read of [`GENERATIONS`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Generations {
    /// `None` when the registry generation row is missing: then nothing is cached.
    pub(crate) registry: Option<i64>,
    /// Each integration's item generation (integrations without a row are at 0).
    pub(crate) items: Arc<[(i64, i64)]>,
}

impl Generations {
    /// From the rows of [`GENERATIONS`].
    pub(crate) fn from_rows(rows: impl IntoIterator<Item = (Option<i64>, i64)>) -> Self {
        let mut registry = None;
        let mut items = Vec::new();
        for (integration_id, value) in rows {
            match integration_id {
                None => registry = Some(value),
                Some(id) => items.push((id, value)),
            }
        }
        Generations { registry, items: items.into() }
    }

    fn items_of(&self, integration_id: i64) -> i64 {
        self.items.iter().find(|(id, _)| *id == integration_id).map_or(0, |(_, value)| *value)
    }
}

/// The item generation of one integration as a request read it, at its start: read-only
/// lookups made for that request may answer from records cached under it or a later one
/// ([`Registry::item_noting_moves_seen`]). Made by [`AccessSnapshot::items_seen`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ItemsSeen {
    integration_id: i64,
    generation: i64,
}

/// One generation read, shared by every request that waited for it.
type Shared = std::result::Result<Generations, String>;

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
    /// Item lookups by integration, each under that integration's item generation.
    items: HashMap<i64, CachedItems>,
}

/// One integration's item lookups (by ID: the record and whether a move of it is under way, or
/// nothing: no live item has that ID) and folders' children (by the folder's ID), loaded under
/// `generation`.
struct CachedItems {
    generation: i64,
    lookups: HashMap<String, Option<(ItemRecord, bool)>>,
    children: HashMap<String, Arc<[ItemRecord]>>,
    /// How many records `children` holds: a folder may have thousands.
    children_records: usize,
}

impl Cached {
    /// Moves to newer generations, dropping everything loaded under older ones. Never moves
    /// back: a slow request that read older values must not bring old entries back.
    fn advance(&mut self, generations: &Generations) {
        let Some(generation) = generations.registry else { return };
        if self.generation.is_none_or(|current| generation > current) {
            *self = Cached { generation: Some(generation), ..Cached::default() };
        }
        for &(integration_id, generation) in generations.items.iter() {
            let items = self.items.entry(integration_id).or_insert_with(|| CachedItems::at(generation));
            if generation > items.generation {
                *items = CachedItems::at(generation);
            }
        }
    }
}

impl CachedItems {
    fn at(generation: i64) -> Self {
        CachedItems { generation, lookups: HashMap::new(), children: HashMap::new(), children_records: 0 }
    }
}

/// The registry's view of who may call, as of a moment after this was created: integration
/// records, ApiKey hashes and grants, from the cache when it is current, else from the
/// database. Take one per request ([`Registry::access_snapshot`]); do not keep it.
#[derive(Debug)]
pub struct AccessSnapshot<'a> {
    registry: &'a Registry,
    /// What the request read; `registry` is `None` when the database has no generation row:
    /// then nothing is cached.
    generations: Generations,
}

impl Registry {
    /// Checks the registry generation (one coalesced query) and answers a snapshot through
    /// which the records that decide access are read, from the cache when it is current.
    pub async fn access_snapshot(&self) -> Result<AccessSnapshot<'_>> {
        // On a SQLite file the read takes microseconds on this thread (`direct.rs`): nothing to
        // coalesce. Otherwise, or if that read fails, one coalesced query.
        let direct = self.direct.as_ref().and_then(|direct| direct.generations());
        let generations = match direct {
            Some(generations) => generations,
            None => self.coalesced_generations().await?,
        };
        self.cache.cached.lock().unwrap_or_else(|e| e.into_inner()).advance(&generations);
        Ok(AccessSnapshot { registry: self, generations })
    }

    /// Every generation ([`GENERATIONS`]), read by the database now (uncoalesced).
    pub(crate) async fn generations(&self) -> Result<Generations> {
        let backend = self.db.get_database_backend();
        let rows = self.db.query_all_raw(Statement::from_string(backend, GENERATIONS)).await?;
        let rows = rows
            .iter()
            .map(|row| Ok((row.try_get::<Option<i64>>("", "integration_id")?, row.try_get::<i64>("", "value")?)))
            .collect::<Result<Vec<_>>>()?;
        Ok(Generations::from_rows(rows))
    }

    /// The registry generation, read by the database now (uncoalesced). `None` if the row is
    /// missing, which turns the cache off rather than trusting it.
    pub async fn registry_generation(&self) -> Result<Option<i64>> {
        Ok(self.generations().await?.registry)
    }

    /// A generations read that started after this call: joins the next read, starting one when
    /// none is running.
    async fn coalesced_generations(&self) -> Result<Generations> {
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
            Ok(Ok(generations)) => Ok(generations),
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
            let result = self.generations().await.map_err(|e| e.to_string());
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

    /// [`Registry::children`], from the item cache on the terms of
    /// [`Registry::item_noting_moves_seen`].
    pub async fn children_seen(
        &self,
        seen: Option<ItemsSeen>,
        integration_id: i64,
        parent_id: &ItemId,
    ) -> Result<Vec<ItemRecord>> {
        let Some(seen) = seen.filter(|seen| seen.integration_id == integration_id) else {
            return self.children(integration_id, parent_id).await;
        };
        if let Some(found) = self.recall_items(seen, |items| items.children.get(parent_id.as_str()).cloned()) {
            return Ok(found.to_vec());
        }
        let found = self.children(integration_id, parent_id).await?;
        let shared: Arc<[ItemRecord]> = found.as_slice().into();
        self.remember_items(seen, |items| {
            if items.children_records + shared.len() > MAX_CHILDREN_RECORDS {
                items.children.clear();
                items.children_records = 0;
            }
            items.children_records += shared.len();
            if let Some(replaced) = items.children.insert(parent_id.as_str().to_owned(), shared) {
                items.children_records -= replaced.len();
            }
        });
        Ok(found)
    }

    /// What `find` finds among the item cache's entries of `seen`'s integration, if they were
    /// loaded under `seen`'s generation or a later one.
    fn recall_items<T>(&self, seen: ItemsSeen, find: impl FnOnce(&CachedItems) -> Option<T>) -> Option<T> {
        let cached = self.cache.cached.lock().unwrap_or_else(|e| e.into_inner());
        let items = cached.items.get(&seen.integration_id).filter(|items| items.generation >= seen.generation);
        items.and_then(find)
    }

    /// Stores what was read after `seen` was: good for that generation, and only for it (a
    /// later one may have come and gone without this process hearing of it).
    fn remember_items(&self, seen: ItemsSeen, store: impl FnOnce(&mut CachedItems)) {
        let mut cached = self.cache.cached.lock().unwrap_or_else(|e| e.into_inner());
        let items = cached.items.entry(seen.integration_id).or_insert_with(|| CachedItems::at(seen.generation));
        if items.generation == seen.generation {
            store(items);
        }
    }

    /// [`Registry::item_noting_moves`], from the item cache when it holds the lookup under the
    /// generation `seen` or a later one (then the record is at least as new as the moment the
    /// request began). Without `seen`, or for another integration, the database answers.
    /// For read-only answers: a change must read the database under its lock.
    pub async fn item_noting_moves_seen(
        &self,
        seen: Option<ItemsSeen>,
        integration_id: i64,
        id: &ItemId,
    ) -> Result<Option<(ItemRecord, bool)>> {
        let Some(seen) = seen.filter(|seen| seen.integration_id == integration_id) else {
            return self.item_noting_moves(integration_id, id).await;
        };
        if let Some(found) = self.recall_items(seen, |items| items.lookups.get(id.as_str()).cloned()) {
            return Ok(found);
        }
        let found = self.item_noting_moves(integration_id, id).await?;
        self.remember_items(seen, |items| {
            if items.lookups.len() >= MAX_ENTRIES {
                items.lookups.clear();
            }
            items.lookups.insert(id.as_str().to_owned(), found.clone());
        });
        Ok(found)
    }
}

impl AccessSnapshot<'_> {
    /// The item generation of an integration that this snapshot read, for the request's
    /// read-only item lookups; `None` when nothing is cached (no registry generation row).
    pub fn items_seen(&self, integration_id: i64) -> Option<ItemsSeen> {
        self.generations.registry?;
        Some(ItemsSeen { integration_id, generation: self.generations.items_of(integration_id) })
    }

    /// The integration with this slug. Only integrations that exist are remembered, so URLs
    /// with made-up slugs cannot fill the cache.
    pub async fn integration(&self, slug: &str) -> Result<Option<Integration>> {
        let registry = self.registry;
        if let Some(found) = registry.recall(self.generations.registry, |c| c.integrations.get(slug).cloned()) {
            return Ok(Some(found));
        }
        let found = registry.integration(slug).await?;
        if let Some(integration) = &found {
            registry.remember(self.generations.registry, |c| {
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
        if let Some(found) = registry.recall(self.generations.registry, |c| c.keys.get(&integration_id).cloned()) {
            return Ok(found);
        }
        let hashes: Arc<[String]> =
            registry.active_api_keys(integration_id).await?.into_iter().map(|k| k.hash).collect();
        registry.remember(self.generations.registry, |c| {
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
        if let Some(found) = registry.recall(self.generations.registry, |c| c.access.get(&key).cloned()) {
            return Ok(found);
        }
        let found = registry.access(integration_id, username).await?;
        registry.remember(self.generations.registry, |c| {
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
    use docbridge_protocol::ItemId;

    use crate::test_support::{new_item, registries, sample_integration, unique};
    use crate::{DefaultRole, IntegrationPatch, KeyHash, Role};

    /// Every kind of change to the tables behind the cache moves the generation; changes to
    /// items do not (they are frequent, and move the item generation of their integration).
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

    /// A pending move of `record` to `b.txt` in the root.
    fn pending_move(record: &crate::ItemRecord) -> crate::NewPendingMove {
        crate::NewPendingMove {
            integration_id: record.integration_id,
            item_id: record.id.clone(),
            kind: crate::MoveKind::Move,
            from_path: record.path.clone(),
            to_path: "b.txt".into(),
            to_parent_id: ItemId::root(),
            to_name: "b.txt".into(),
            trash_id: None,
            deleted_by: None,
        }
    }

    /// Every change to an integration's items, or to its moves under way, moves that
    /// integration's item generation (and not another's): what the item cache relies on.
    #[tokio::test]
    async fn every_item_change_bumps_its_integrations_item_generation() {
        for registry in registries().await {
            let ours = registry.create_integration(sample_integration(&unique("items"))).await.unwrap();
            let other = registry.create_integration(sample_integration(&unique("other"))).await.unwrap();
            let items_of = async |id: i64| registry.generations().await.unwrap().items_of(id);
            let other_before = items_of(other.id).await;
            let mut last = items_of(ours.id).await;
            let mut moved = async |what: &str| {
                let now = items_of(ours.id).await;
                assert!(now > last, "{what} did not move the item generation ({last} -> {now})");
                last = now;
            };
            let record = registry.insert_item(new_item(ours.id, "a.txt", Some(1))).await.unwrap();
            moved("insert_item").await;
            registry.update_item_content(ours.id, &record.id, 2, chrono::Utc::now()).await.unwrap();
            moved("update_item_content").await;
            registry.set_item_locked(&record, true).await.unwrap();
            moved("set_item_locked").await;
            let pending = registry.record_pending_move(pending_move(&record)).await.unwrap();
            moved("record_pending_move").await;
            registry.clear_pending_move(&pending).await.unwrap();
            moved("clear_pending_move").await;
            registry.move_item(&record, &ItemId::root(), "b.txt", "b.txt").await.unwrap();
            moved("move_item").await;
            let record = registry.item(ours.id, &record.id).await.unwrap().unwrap();
            registry.remove_subtree(&record).await.unwrap();
            moved("remove_subtree").await;
            assert_eq!(items_of(other.id).await, other_before, "changes to another integration's items");
        }
    }

    /// Two pools on one database (two processes, for the cache): SQLite file, and PostgreSQL
    /// when the environment names one.
    async fn two_processes(dir: &std::path::Path) -> Vec<(crate::Registry, crate::Registry)> {
        let mut urls = vec![format!("sqlite://{}?mode=rwc", dir.join("r.db").display())];
        if let Ok(url) = std::env::var("DOCBRIDGE_TEST_POSTGRES_URL")
            && !url.is_empty()
        {
            urls.push(url);
        }
        let mut pairs = Vec::new();
        for url in urls {
            pairs.push((crate::Registry::connect(&url).await.unwrap(), crate::Registry::connect(&url).await.unwrap()));
        }
        pairs
    }

    /// An item looked up (and so cached) in one process, then renamed, marked as moving and
    /// removed by another: each change is seen by the first process's next request, whose
    /// snapshot reads the new item generation.
    #[tokio::test]
    async fn a_cached_item_changed_by_another_process_is_seen_by_the_next_request() {
        let dir = tempfile::tempdir().unwrap();
        for (ours, theirs) in two_processes(dir.path()).await {
            let integration = ours.create_integration(sample_integration(&unique("cached"))).await.unwrap();
            let record = theirs.insert_item(new_item(integration.id, "a.txt", Some(1))).await.unwrap();
            // What one request of ours answers: its snapshot, then the item through the cache.
            let request = async || {
                let snapshot = ours.access_snapshot().await.unwrap();
                let seen = snapshot.items_seen(integration.id);
                let found = ours.item_noting_moves_seen(seen, integration.id, &record.id).await.unwrap();
                found.map(|(record, moving)| (record.name, moving))
            };
            let is_cached = || {
                let cached = ours.cache.cached.lock().unwrap();
                cached.items.get(&integration.id).is_some_and(|items| items.lookups.contains_key(record.id.as_str()))
            };
            assert_eq!(request().await, Some(("a.txt".to_owned(), false)));
            assert!(is_cached(), "the lookup was not cached: the test would test nothing");
            assert_eq!(request().await, Some(("a.txt".to_owned(), false)), "from the cache");

            let listing = async || {
                let snapshot = ours.access_snapshot().await.unwrap();
                let seen = snapshot.items_seen(integration.id);
                let children = ours.children_seen(seen, integration.id, &ItemId::root()).await.unwrap();
                children.into_iter().map(|record| record.name).collect::<Vec<_>>()
            };
            assert_eq!(listing().await, ["a.txt"]);
            assert_eq!(listing().await, ["a.txt"], "from the cache");
            let children_cached = ours.cache.cached.lock().unwrap().items[&integration.id].children.len();
            assert_eq!(children_cached, 1, "the listing was not cached: the test would test nothing");

            theirs.move_item(&record, &ItemId::root(), "b.txt", "b.txt").await.unwrap();
            assert_eq!(request().await, Some(("b.txt".to_owned(), false)), "renamed elsewhere");
            assert_eq!(listing().await, ["b.txt"], "listed after a rename elsewhere");
            assert!(is_cached());
            let moved = theirs.item(integration.id, &record.id).await.unwrap().unwrap();
            let pending = theirs.record_pending_move(pending_move(&moved)).await.unwrap();
            assert_eq!(request().await, Some(("b.txt".to_owned(), true)), "a move under way elsewhere");
            theirs.clear_pending_move(&pending).await.unwrap();
            theirs.remove_subtree(&moved).await.unwrap();
            assert_eq!(request().await, None, "removed elsewhere");
            assert!(listing().await.is_empty(), "listed after a removal elsewhere");
        }
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
