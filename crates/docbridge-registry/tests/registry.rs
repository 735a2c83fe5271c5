//! The registry's public API on a real database file: integrations and their keys, the item
//! index, reconciliation, search, reservations, the trash, shared settings and the audit trail.
//!
//! Every case is an `async fn(String)` taking a database URL, so the same suite runs on any
//! backend: each case gets a fresh SQLite file, and runs on PostgreSQL as well when
//! `DOCBRIDGE_TEST_POSTGRES_URL` names a database. That database is shared by every case (and
//! every run), so cases name what they create with [`unique`] and never count rows they did not
//! make.

use std::collections::BTreeSet;
use std::future::Future;

use chrono::{DateTime, Duration, Utc};
use docbridge_protocol::{ItemId, ItemKind};
use docbridge_registry::{
    ActionKind, AuditEntry, AuthType, CustomActionSpec, DefaultRole, Integration, ItemRecord, KeyHash, NewIntegration,
    NewItem, NewReservation, ObservedItem, Registry, RegistryError,
};

/// Runs a case on a fresh SQLite file, then on PostgreSQL if one is configured.
async fn on_every_backend<F, Fut>(case: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()>,
{
    let dir = tempfile::tempdir().expect("temporary directory");
    case(format!("sqlite://{}?mode=rwc", dir.path().join("registry.db").display())).await;
    if let Ok(url) = std::env::var("DOCBRIDGE_TEST_POSTGRES_URL")
        && !url.is_empty()
    {
        case(url).await;
    }
}

/// One `#[tokio::test]` per case, each running it on every backend.
macro_rules! suite {
    ($($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                on_every_backend(cases::$case).await;
            }
        )*
    };
}

suite!(
    integrations_are_created_and_read_back,
    integration_input_is_validated_naming_the_field,
    duplicate_slugs_and_names_are_conflicts_naming_the_problem,
    integrations_are_enabled_and_disabled,
    integrations_are_updated_with_validation,
    api_keys_are_added_and_revoked,
    deleting_an_integration_removes_its_records,
    items_are_inserted_and_paths_are_unique,
    moving_a_folder_moves_its_descendants,
    removing_a_subtree_spares_its_look_alike_siblings,
    item_content_and_locks_are_updated,
    reconciling_inserts_updates_and_removes,
    reconciling_twice_changes_nothing,
    reconciling_gives_a_committed_upload_its_reserved_id,
    search_matches_names_and_content,
    search_treats_wildcards_literally,
    search_ignores_case_beyond_ascii,
    search_limits_to_a_subtree_and_skips_trashed_items,
    files_are_reindexed_when_their_content_changes,
    reservations_hold_names_until_uploaded,
    reservations_expire,
    reservations_are_found_by_workfront_ids,
    a_replacing_reservation_supersedes_the_earlier_one,
    trash_moves_restores_and_purges,
    restoring_onto_a_taken_path_is_a_conflict,
    concurrent_setting_inits_agree,
    audit_entries_filter_by_integration_and_time,
);

mod cases {
    use super::*;

    async fn connect(url: &str) -> Registry {
        Registry::connect(url).await.unwrap_or_else(|e| panic!("cannot open {url}: {e}"))
    }

    /// A name nobody else uses: lower case, usable as a slug.
    fn unique(prefix: &str) -> String {
        format!("{prefix}-{}", docbridge_registry::random_id().to_lowercase().replace('_', "x"))
    }

    fn new_integration(slug: &str) -> NewIntegration {
        NewIntegration {
            slug: slug.to_owned(),
            name: format!("Name of {slug}"),
            auth_type: AuthType::ApiKey,
            redirect_uris: Vec::new(),
            request_params: vec!["tenant=acme".into()],
            storage_kind: "memory".into(),
            storage_root: "/srv/docs".into(),
            default_role: DefaultRole::Editor,
            custom_actions: vec![CustomActionSpec {
                name: "archive".into(),
                display_name: "Archive".into(),
                kind: ActionKind::Move { folder: "Archive".into() },
            }],
            api_key: Some(KeyHash { hash: format!("hash-{slug}"), hint: "abcdef".into() }),
            client: None,
        }
    }

    fn oauth_integration(slug: &str) -> NewIntegration {
        NewIntegration {
            auth_type: AuthType::OAuth2,
            redirect_uris: vec!["https://acme.my.workfront.com/oauth2/callback".into()],
            api_key: None,
            client: Some((format!("client-{slug}"), format!("secret-hash-{slug}"))),
            ..new_integration(slug)
        }
    }

    async fn integration(registry: &Registry) -> Integration {
        registry.create_integration(new_integration(&unique("int"))).await.expect("an integration")
    }

    fn at(millis: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(millis).expect("a valid time")
    }

    fn root() -> ItemId {
        ItemId::root()
    }

    async fn insert(
        registry: &Registry,
        integration: &Integration,
        parent: &Parent<'_>,
        name: &str,
        kind: ItemKind,
    ) -> ItemRecord {
        let (parent_id, parent_path) = match parent {
            Root => (root(), String::new()),
            Item(record) => (record.id.clone(), record.path.clone()),
        };
        let new = NewItem {
            id: None,
            integration_id: integration.id,
            parent_id,
            path: docbridge_registry::child_path(&parent_path, name),
            name: name.to_owned(),
            kind,
            size: if kind == ItemKind::File { 10 } else { 0 },
            modified: at(1_700_000_000_000),
        };
        registry.insert_item(new).await.unwrap_or_else(|e| panic!("inserting {name}: {e}"))
    }

    /// Where to insert: at the root or under an item.
    enum Parent<'a> {
        Root,
        Item(&'a ItemRecord),
    }
    use Parent::{Item, Root};

    async fn fetch(registry: &Registry, record: &ItemRecord) -> Option<ItemRecord> {
        registry.item(record.integration_id, &record.id).await.expect("item lookup")
    }

    fn names(records: &[ItemRecord]) -> BTreeSet<String> {
        records.iter().map(|r| r.name.clone()).collect()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|n| n.to_string()).collect()
    }

    fn observed(name: &str, kind: ItemKind, size: u64, millis: i64) -> ObservedItem {
        ObservedItem { name: name.to_owned(), kind, size, modified: at(millis) }
    }

    /// Reconciles the library's root with what storage shows, `seen`, and checks that the index
    /// answers exactly those names.
    async fn reconcile_root(registry: &Registry, library: &Integration, seen: &[ObservedItem]) -> Vec<ItemRecord> {
        let records = registry.reconcile_children(library.id, &root(), "", seen).await.unwrap();
        assert_eq!(names(&records), seen.iter().map(|o| o.name.clone()).collect::<BTreeSet<_>>());
        records
    }

    fn field_of(error: RegistryError) -> &'static str {
        match error {
            RegistryError::InvalidInput { field, .. } => field,
            other => panic!("expected invalid input, got {other:?}"),
        }
    }

    async fn search(
        registry: &Registry,
        integration: &Integration,
        terms: &[&str],
        within: Option<&str>,
    ) -> BTreeSet<String> {
        let terms: Vec<String> = terms.iter().map(|t| t.to_string()).collect();
        names(&registry.search(integration.id, &terms, within).await.expect("search runs"))
    }

    fn reservation(
        integration: &Integration,
        parent: &ItemId,
        name: &str,
        expires_at: DateTime<Utc>,
    ) -> NewReservation {
        NewReservation {
            id: ItemId::parse("id", &docbridge_registry::random_id()).unwrap(),
            integration_id: integration.id,
            parent_id: parent.clone(),
            name: name.to_owned(),
            replaces_existing: false,
            wf_document_id: None,
            wf_document_version_id: None,
            created_by: Some("joe@example.com".into()),
            expires_at,
        }
    }

    // ---- integrations ----

    pub async fn integrations_are_created_and_read_back(url: String) {
        let registry = connect(&url).await;
        let slug = unique("create");
        let before = Utc::now() - Duration::seconds(5);
        let created = registry.create_integration(new_integration(&slug)).await.expect("created");
        assert_eq!(created.slug, slug);
        assert_eq!(created.name, format!("Name of {slug}"));
        assert_eq!(created.auth_type, AuthType::ApiKey);
        assert_eq!(created.request_params, ["tenant=acme"]);
        assert_eq!(created.custom_actions.len(), 1);
        assert_eq!(created.custom_actions[0].kind, ActionKind::Move { folder: "Archive".into() });
        assert!(created.enabled);
        assert!(created.created_at >= before && created.created_at <= Utc::now() + Duration::seconds(5));
        assert_eq!(registry.integration(&slug).await.unwrap().as_ref(), Some(&created));
        assert!(registry.integrations().await.unwrap().contains(&created));
        assert_eq!(registry.active_api_keys(created.id).await.unwrap().len(), 1);

        let oauth_slug = unique("oauth");
        let oauth = registry.create_integration(oauth_integration(&oauth_slug)).await.expect("OAuth2 integration");
        assert_eq!(oauth.client_id.as_deref(), Some(format!("client-{oauth_slug}").as_str()));
        let (found, secret_hash) = registry
            .integration_by_client_id(&format!("client-{oauth_slug}"))
            .await
            .unwrap()
            .expect("found by client ID");
        assert_eq!(found, oauth);
        assert_eq!(secret_hash, format!("secret-hash-{oauth_slug}"));
        assert!(registry.integration_by_client_id("no-such-client").await.unwrap().is_none());
        assert!(registry.integration(&unique("missing")).await.unwrap().is_none());
        // Names are stored trimmed.
        let padded = unique("padded");
        let record = registry
            .create_integration(NewIntegration { name: format!("  Padded {padded}  "), ..new_integration(&padded) })
            .await
            .unwrap();
        assert_eq!(record.name, format!("Padded {padded}"));
    }

    pub async fn integration_input_is_validated_naming_the_field(url: String) {
        let registry = connect(&url).await;
        let slug = unique("valid");
        let good = new_integration(&slug);
        let action = |name: &str, display: &str| CustomActionSpec {
            name: name.into(),
            display_name: display.into(),
            kind: ActionKind::Lock,
        };
        let cases: Vec<(NewIntegration, &str)> = vec![
            (NewIntegration { slug: String::new(), ..good.clone() }, "slug"),
            (NewIntegration { slug: "Upper".into(), ..good.clone() }, "slug"),
            (NewIntegration { slug: "-leading".into(), ..good.clone() }, "slug"),
            (NewIntegration { slug: "has space".into(), ..good.clone() }, "slug"),
            (NewIntegration { slug: "a/b".into(), ..good.clone() }, "slug"),
            (NewIntegration { slug: "café".into(), ..good.clone() }, "slug"),
            (NewIntegration { slug: "x".repeat(64), ..good.clone() }, "slug"),
            (NewIntegration { name: String::new(), ..good.clone() }, "name"),
            (NewIntegration { name: "   ".into(), ..good.clone() }, "name"),
            (NewIntegration { name: "line\nbreak".into(), ..good.clone() }, "name"),
            (NewIntegration { name: "n".repeat(201), ..good.clone() }, "name"),
            (NewIntegration { redirect_uris: Vec::new(), ..oauth_integration(&slug) }, "redirect_uri"),
            (
                NewIntegration { redirect_uris: vec!["/oauth2/callback".into()], ..oauth_integration(&slug) },
                "redirect_uri",
            ),
            (
                NewIntegration { redirect_uris: vec!["ftp://acme.example/cb".into()], ..oauth_integration(&slug) },
                "redirect_uri",
            ),
            (
                NewIntegration {
                    redirect_uris: vec!["https://acme.example/cb#fragment".into()],
                    ..oauth_integration(&slug)
                },
                "redirect_uri",
            ),
            (NewIntegration { request_params: vec!["novalue".into()], ..good.clone() }, "request_params"),
            (NewIntegration { request_params: vec!["=value".into()], ..good.clone() }, "request_params"),
            (NewIntegration { custom_actions: vec![action("has space", "X")], ..good.clone() }, "custom_actions"),
            (NewIntegration { custom_actions: vec![action("", "X")], ..good.clone() }, "custom_actions"),
            (NewIntegration { custom_actions: vec![action("lock", " ")], ..good.clone() }, "custom_actions"),
            (
                NewIntegration {
                    custom_actions: vec![action("lock", "Lock"), action("lock", "Lock again")],
                    ..good.clone()
                },
                "custom_actions",
            ),
            (NewIntegration { api_key: None, ..good.clone() }, "auth"),
            (NewIntegration { storage_root: String::new(), ..good.clone() }, "root"),
        ];
        for (new, field) in cases {
            let description = format!("slug {:?}, name {:?}, redirect {:?}", new.slug, new.name, new.redirect_uris);
            let error = registry.create_integration(new).await.expect_err(&description);
            let message = error.to_string();
            assert_eq!(field_of(error), field, "{description}");
            assert!(message.starts_with(field), "the message names the field: {message}");
        }
        assert!(registry.integration(&slug).await.unwrap().is_none(), "nothing was created");
        let longest = format!("{}{}", slug, "x".repeat(63 - slug.len()));
        registry
            .create_integration(NewIntegration { slug: longest, ..good })
            .await
            .expect("63 characters is a valid slug");
    }

    pub async fn duplicate_slugs_and_names_are_conflicts_naming_the_problem(url: String) {
        let registry = connect(&url).await;
        let slug = unique("dup");
        let first = registry.create_integration(new_integration(&slug)).await.unwrap();

        let other = unique("dup");
        let same_slug = registry
            .create_integration(NewIntegration { name: format!("Other {other}"), ..new_integration(&slug) })
            .await
            .unwrap_err();
        match same_slug {
            RegistryError::Conflict(message) => {
                assert!(message.contains("slug") && message.contains(&slug), "{message}")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let same_name = registry
            .create_integration(NewIntegration { name: first.name.clone(), ..new_integration(&other) })
            .await
            .unwrap_err();
        match same_name {
            RegistryError::Conflict(message) => {
                assert!(message.contains("name") && message.contains(&first.name), "{message}")
            }
            other => panic!("expected a conflict, got {other:?}"),
        }
        let padded_name = registry
            .create_integration(NewIntegration { name: format!("  {}  ", first.name), ..new_integration(&other) })
            .await
            .unwrap_err();
        assert!(matches!(padded_name, RegistryError::Conflict(_)), "{padded_name:?}");
        assert!(registry.integration(&other).await.unwrap().is_none());
    }

    pub async fn integrations_are_enabled_and_disabled(url: String) {
        let registry = connect(&url).await;
        let created = integration(&registry).await;
        let disabled = registry.set_integration_enabled(&created.slug, false).await.unwrap();
        assert!(!disabled.enabled);
        assert!(!registry.integration(&created.slug).await.unwrap().unwrap().enabled);
        let enabled = registry.set_integration_enabled(&created.slug, true).await.unwrap();
        assert!(enabled.enabled);
        assert!(registry.integration(&created.slug).await.unwrap().unwrap().enabled);
        let missing = registry.set_integration_enabled(&unique("missing"), false).await.unwrap_err();
        assert!(matches!(missing, RegistryError::NotFound(_)), "{missing:?}");
    }

    pub async fn integrations_are_updated_with_validation(url: String) {
        let registry = connect(&url).await;
        let oauth_slug = unique("upd");
        let created = registry.create_integration(oauth_integration(&oauth_slug)).await.unwrap();
        let neighbour = integration(&registry).await;
        let mut changed = created.clone();
        changed.name = format!("Renamed {oauth_slug}");
        changed.redirect_uris = vec!["https://other.example/callback".into()];
        changed.default_role = DefaultRole::Reader;
        let updated = registry.update_integration(&changed).await.expect("valid update");
        assert_eq!(updated.name, changed.name);
        assert_eq!(updated.redirect_uris, changed.redirect_uris);
        assert_eq!(updated.default_role, DefaultRole::Reader);
        assert_eq!(registry.integration(&oauth_slug).await.unwrap().unwrap(), updated);

        let mut relative = updated.clone();
        relative.redirect_uris = vec!["/callback".into()];
        assert_eq!(field_of(registry.update_integration(&relative).await.unwrap_err()), "redirect_uri");
        let mut none = updated.clone();
        none.redirect_uris = Vec::new();
        assert_eq!(field_of(registry.update_integration(&none).await.unwrap_err()), "redirect_uri");
        let mut taken = updated.clone();
        taken.name = neighbour.name.clone();
        assert!(matches!(registry.update_integration(&taken).await.unwrap_err(), RegistryError::Conflict(_)));
        assert_eq!(registry.integration(&oauth_slug).await.unwrap().unwrap(), updated, "failed updates change nothing");
    }

    pub async fn api_keys_are_added_and_revoked(url: String) {
        let registry = connect(&url).await;
        let created = integration(&registry).await;
        let second = KeyHash { hash: format!("second-{}", created.slug), hint: "second".into() };
        registry.add_api_key(&created.slug, &second).await.unwrap();
        let keys = registry.active_api_keys(created.id).await.unwrap();
        assert_eq!(
            keys.iter().map(|k| k.hash.clone()).collect::<BTreeSet<_>>(),
            BTreeSet::from([format!("hash-{}", created.slug), second.hash.clone()])
        );
        assert!(keys.iter().all(|k| k.revoked_at.is_none()));

        assert_eq!(registry.revoke_other_api_keys(&created.slug, &second.hash).await.unwrap(), 1);
        let keys = registry.active_api_keys(created.id).await.unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(keys[0].hash, second.hash);
        assert_eq!(keys[0].hint, "second");
        assert_eq!(registry.revoke_other_api_keys(&created.slug, &second.hash).await.unwrap(), 0);
        let missing = registry
            .add_api_key(&unique("missing"), &KeyHash { hash: unique("h"), hint: "h".into() })
            .await
            .unwrap_err();
        assert!(matches!(missing, RegistryError::NotFound(_)), "{missing:?}");
        // Another integration's keys are its own.
        let other = integration(&registry).await;
        assert_eq!(registry.active_api_keys(other.id).await.unwrap().len(), 1);
    }

    pub async fn deleting_an_integration_removes_its_records(url: String) {
        let registry = connect(&url).await;
        let doomed = integration(&registry).await;
        let kept = integration(&registry).await;
        let folder = insert(&registry, &doomed, &Root, "Folder", ItemKind::Folder).await;
        insert(&registry, &doomed, &Item(&folder), "file.txt", ItemKind::File).await;
        let survivor = insert(&registry, &kept, &Root, "Folder", ItemKind::Folder).await;
        registry.delete_integration(&doomed.slug).await.unwrap();
        assert!(registry.integration(&doomed.slug).await.unwrap().is_none());
        assert!(registry.all_items(doomed.id).await.unwrap().is_empty());
        assert!(registry.active_api_keys(doomed.id).await.unwrap().is_empty());
        assert!(registry.search(doomed.id, &["file".into()], None).await.unwrap().is_empty());
        assert_eq!(fetch(&registry, &survivor).await, Some(survivor.clone()));
        assert_eq!(search(&registry, &kept, &["folder"], None).await, set(&["Folder"]));
        assert!(matches!(registry.delete_integration(&doomed.slug).await.unwrap_err(), RegistryError::NotFound(_)));
    }

    // ---- the item index ----

    pub async fn items_are_inserted_and_paths_are_unique(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let other_library = integration(&registry).await;
        let docs = insert(&registry, &library, &Root, "Docs", ItemKind::Folder).await;
        let file = insert(&registry, &library, &Item(&docs), "a.txt", ItemKind::File).await;
        assert_eq!(docs.path, "Docs");
        assert_eq!(file.path, "Docs/a.txt");
        assert_eq!(file.parent_id, docs.id);
        assert!(docbridge_registry::random_id().len() == file.id.as_str().len(), "a random 22-character ID");
        assert_eq!(fetch(&registry, &file).await.as_ref(), Some(&file));
        assert_eq!(registry.item_by_path(library.id, "Docs/a.txt").await.unwrap().as_ref(), Some(&file));
        assert_eq!(names(&registry.children(library.id, &root()).await.unwrap()), set(&["Docs"]));
        assert_eq!(names(&registry.children(library.id, &docs.id).await.unwrap()), set(&["a.txt"]));

        let again = registry
            .insert_item(NewItem {
                id: None,
                integration_id: library.id,
                parent_id: docs.id.clone(),
                path: "Docs/a.txt".into(),
                name: "a.txt".into(),
                kind: ItemKind::File,
                size: 1,
                modified: at(0),
            })
            .await
            .unwrap_err();
        assert!(matches!(again, RegistryError::Conflict(_)), "{again:?}");
        insert(&registry, &library, &Root, "a.txt", ItemKind::File).await;
        insert(&registry, &other_library, &Root, "Docs", ItemKind::Folder).await;
        assert!(registry.item(other_library.id, &file.id).await.unwrap().is_none(), "IDs are per integration");

        let chosen = ItemId::parse("id", &docbridge_registry::random_id()).unwrap();
        let given = registry
            .insert_item(NewItem {
                id: Some(chosen.clone()),
                integration_id: library.id,
                parent_id: root(),
                path: "chosen.bin".into(),
                name: "chosen.bin".into(),
                kind: ItemKind::File,
                size: 3,
                modified: at(5),
            })
            .await
            .unwrap();
        assert_eq!(given.id, chosen);
        assert_eq!(given.size, 3);
        assert_eq!(given.modified, at(5));
    }

    pub async fn moving_a_folder_moves_its_descendants(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        for folder_name in ["A", "50%_off", "été"] {
            let folder = insert(&registry, &library, &Root, folder_name, ItemKind::Folder).await;
            let sub = insert(&registry, &library, &Item(&folder), "B", ItemKind::Folder).await;
            let leaf = insert(&registry, &library, &Item(&sub), "c.txt", ItemKind::File).await;
            let look_alike = insert(&registry, &library, &Root, &format!("{folder_name}B"), ItemKind::Folder).await;
            let look_alike_child = insert(&registry, &library, &Item(&look_alike), "d.txt", ItemKind::File).await;
            let target = insert(&registry, &library, &Root, &format!("Target {folder_name}"), ItemKind::Folder).await;

            let new_name = format!("{folder_name} moved ÉTÉ");
            let new_path = format!("{}/{new_name}", target.path);
            registry.move_item(&folder, &target.id, &new_path, &new_name).await.unwrap();
            let moved = fetch(&registry, &folder).await.expect("same ID after the move");
            assert_eq!(
                (moved.path.as_str(), moved.name.as_str(), &moved.parent_id),
                (new_path.as_str(), new_name.as_str(), &target.id)
            );
            assert_eq!(fetch(&registry, &sub).await.unwrap().path, format!("{new_path}/B"));
            assert_eq!(fetch(&registry, &leaf).await.unwrap().path, format!("{new_path}/B/c.txt"));
            assert_eq!(fetch(&registry, &sub).await.unwrap().parent_id, folder.id);
            assert_eq!(
                fetch(&registry, &look_alike).await.as_ref(),
                Some(&look_alike),
                "a sibling whose name starts alike stays"
            );
            assert_eq!(fetch(&registry, &look_alike_child).await.as_ref(), Some(&look_alike_child));
            assert!(registry.item_by_path(library.id, &format!("{folder_name}/B/c.txt")).await.unwrap().is_none());

            // Onto a taken path: a conflict, and nothing moves.
            let blocker = insert(&registry, &library, &Root, &format!("{folder_name} blocker"), ItemKind::File).await;
            let moved = fetch(&registry, &folder).await.unwrap();
            let error = registry.move_item(&moved, &root(), &blocker.path, &blocker.name).await.unwrap_err();
            assert!(matches!(error, RegistryError::Conflict(_)), "{error:?}");
            assert_eq!(fetch(&registry, &folder).await.unwrap().path, new_path);
            assert_eq!(fetch(&registry, &leaf).await.unwrap().path, format!("{new_path}/B/c.txt"));
        }
    }

    pub async fn removing_a_subtree_spares_its_look_alike_siblings(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        // Each folder with the name its wildcards would also match, if they were not literal.
        for (folder_name, wildcard_match) in [("A", "a"), ("a_b", "axb"), ("100%", "1000"), ("été", "ete")] {
            let folder = insert(&registry, &library, &Root, folder_name, ItemKind::Folder).await;
            let sub = insert(&registry, &library, &Item(&folder), "Sub", ItemKind::Folder).await;
            let leaf = insert(&registry, &library, &Item(&sub), "leaf.txt", ItemKind::File).await;
            let siblings = [
                insert(&registry, &library, &Root, &format!("{folder_name}B"), ItemKind::Folder).await,
                insert(&registry, &library, &Root, &format!("{folder_name} copy"), ItemKind::File).await,
                insert(&registry, &library, &Root, wildcard_match, ItemKind::Folder).await,
            ];
            let wildcard_child = insert(&registry, &library, &Item(&siblings[2]), "Sub", ItemKind::Folder).await;
            let inner_sibling = insert(&registry, &library, &Item(&siblings[0]), "Sub", ItemKind::Folder).await;
            registry.remove_subtree(&folder).await.unwrap();
            for gone in [&folder, &sub, &leaf] {
                assert!(fetch(&registry, gone).await.is_none(), "{} is gone", gone.path);
            }
            for kept in siblings.iter().chain([&inner_sibling, &wildcard_child]) {
                assert_eq!(fetch(&registry, kept).await.as_ref(), Some(kept), "{} stays", kept.path);
            }
            assert!(search(&registry, &library, &["leaf"], None).await.is_empty());
        }
    }

    pub async fn item_content_and_locks_are_updated(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let file = insert(&registry, &library, &Root, "doc.txt", ItemKind::File).await;
        registry.update_item_content(library.id, &file.id, 4242, at(1_800_000_000_123)).await.unwrap();
        let updated = fetch(&registry, &file).await.unwrap();
        assert_eq!((updated.size, updated.modified), (4242, at(1_800_000_000_123)));
        assert_eq!(updated.version(), "4242-1800000000123");
        assert!(!updated.locked);
        registry.set_item_locked(&updated, true).await.unwrap();
        assert!(fetch(&registry, &file).await.unwrap().locked);
        registry.set_item_locked(&updated, false).await.unwrap();
        assert!(!fetch(&registry, &file).await.unwrap().locked);
    }

    pub async fn reconciling_inserts_updates_and_removes(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let seen = [
            observed("a.txt", ItemKind::File, 1, 1000),
            observed("Folder", ItemKind::Folder, 0, 1000),
            observed("x", ItemKind::File, 5, 1000),
        ];
        let first = reconcile_root(&registry, &library, &seen).await;
        let by_name = |records: &[ItemRecord], name: &str| {
            records.iter().find(|r| r.name == name).cloned().unwrap_or_else(|| panic!("no {name}"))
        };
        let folder = by_name(&first, "Folder");
        assert_eq!((folder.kind, folder.path.as_str(), &folder.parent_id), (ItemKind::Folder, "Folder", &root()));
        let inner = registry
            .reconcile_children(library.id, &folder.id, "Folder", &[observed("inner.txt", ItemKind::File, 2, 1000)])
            .await
            .unwrap();
        assert_eq!(inner.len(), 1);
        assert_eq!(inner[0].path, "Folder/inner.txt");
        assert_eq!(inner[0].parent_id, folder.id);

        // a.txt changed, Folder vanished (with what was in it), x became a folder, new.txt appeared.
        let seen = [
            observed("a.txt", ItemKind::File, 99, 2000),
            observed("x", ItemKind::Folder, 0, 2000),
            observed("new.txt", ItemKind::File, 3, 2000),
        ];
        let second = reconcile_root(&registry, &library, &seen).await;
        let a = by_name(&second, "a.txt");
        assert_eq!(a.id, by_name(&first, "a.txt").id, "a changed file keeps its ID");
        assert_eq!((a.size, a.modified), (99, at(2000)));
        let x = by_name(&second, "x");
        assert_eq!(x.kind, ItemKind::Folder);
        assert_ne!(x.id, by_name(&first, "x").id, "a file replaced by a folder is a new item");
        assert!(fetch(&registry, &folder).await.is_none());
        assert!(fetch(&registry, &inner[0]).await.is_none(), "a vanished folder takes its contents out of the index");
        assert_eq!(registry.all_items(library.id).await.unwrap().len(), 3);
        assert_eq!(
            search(&registry, &library, &["new.txt"], None).await,
            set(&["new.txt"]),
            "new items are searchable by name"
        );
    }

    pub async fn reconciling_twice_changes_nothing(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let seen: Vec<ObservedItem> =
            (0..20).map(|i| observed(&format!("file {i}.txt"), ItemKind::File, i, 1000 + i as i64)).collect();
        let first = registry.reconcile_children(library.id, &root(), "", &seen).await.unwrap();
        let second = registry.reconcile_children(library.id, &root(), "", &seen).await.unwrap();
        let key = |records: &[ItemRecord]| {
            records.iter().map(|r| (r.name.clone(), r.id.clone(), r.size, r.modified)).collect::<BTreeSet<_>>()
        };
        assert_eq!(key(&first), key(&second));
        assert_eq!(registry.all_items(library.id).await.unwrap().len(), 20);
        // Two reconciliations racing agree on the IDs too.
        let other = Registry::connect(&url).await.unwrap();
        let more: Vec<ObservedItem> =
            seen.iter().cloned().chain([observed("late.txt", ItemKind::File, 1, 5000)]).collect();
        let top = root();
        let (one, two) = tokio::join!(
            registry.reconcile_children(library.id, &top, "", &more),
            other.reconcile_children(library.id, &top, "", &more)
        );
        assert_eq!(key(&one.unwrap()), key(&two.unwrap()));
        assert_eq!(registry.all_items(library.id).await.unwrap().len(), 21);
    }

    pub async fn reconciling_gives_a_committed_upload_its_reserved_id(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let reserved = registry
            .create_reservation(reservation(&library, &root(), "upload.pdf", Utc::now() + Duration::hours(1)))
            .await
            .unwrap();
        let children = registry
            .reconcile_children(library.id, &root(), "", &[observed("upload.pdf", ItemKind::File, 7, 1000)])
            .await
            .unwrap();
        assert_eq!(children.len(), 1);
        assert_eq!(children[0].id, reserved.id);
    }

    // ---- search ----

    pub async fn search_matches_names_and_content(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        insert(&registry, &library, &Root, "Quarterly Report.pdf", ItemKind::File).await;
        insert(&registry, &library, &Root, "Annual Budget.xlsx", ItemKind::File).await;
        let notes = insert(&registry, &library, &Root, "notes.txt", ItemKind::File).await;
        insert(&registry, &library, &Root, "Reports", ItemKind::Folder).await;
        registry.set_search_content(&notes, "The Zebra crossed the road", &notes.version()).await.unwrap();

        assert_eq!(search(&registry, &library, &["report"], None).await, set(&["Quarterly Report.pdf", "Reports"]));
        assert_eq!(search(&registry, &library, &["REPORT"], None).await, set(&["Quarterly Report.pdf", "Reports"]));
        assert_eq!(search(&registry, &library, &["quarterly", "report"], None).await, set(&["Quarterly Report.pdf"]));
        assert!(search(&registry, &library, &["quarterly", "budget"], None).await.is_empty());
        assert_eq!(search(&registry, &library, &["zebra"], None).await, set(&["notes.txt"]));
        assert_eq!(search(&registry, &library, &["notes", "road"], None).await, set(&["notes.txt"]));
        // Terms shorter than three characters take the other path.
        assert_eq!(search(&registry, &library, &["rt"], None).await, set(&["Quarterly Report.pdf", "Reports"]));
        assert_eq!(search(&registry, &library, &["Ze"], None).await, set(&["notes.txt"]));
        assert_eq!(search(&registry, &library, &["q", "pdf"], None).await, set(&["Quarterly Report.pdf"]));
        assert!(registry.search(library.id, &[], None).await.unwrap().is_empty());
        let other = integration(&registry).await;
        assert!(search(&registry, &other, &["report"], None).await.is_empty(), "search stays in its integration");
    }

    /// On PostgreSQL (migration `m0006`): new names go into the search index's GIN trees at once,
    /// not into a pending list that every search reads in full until a vacuum merges it.
    pub async fn search_index_keeps_no_pending_list(url: String) {
        use sea_orm::{ConnectionTrait, DbBackend, Statement};
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        for i in 0..20 {
            insert(&registry, &library, &Root, &format!("pending {i}.txt"), ItemKind::File).await;
        }
        let db = sea_orm::Database::connect(&url).await.unwrap();
        db.execute_unprepared("CREATE EXTENSION IF NOT EXISTS pgstattuple").await.unwrap();
        for index in ["item_search_name", "item_search_content"] {
            let sql = format!("SELECT pending_tuples FROM pgstatginindex('{index}')");
            let row = db.query_one_raw(Statement::from_string(DbBackend::Postgres, sql)).await.unwrap().unwrap();
            let pending: i64 = row.try_get_by_index(0).unwrap();
            assert_eq!(pending, 0, "{index} has a pending list");
        }
        assert_eq!(search(&registry, &library, &["pending 7"], None).await, set(&["pending 7.txt"]));
    }

    pub async fn search_treats_wildcards_literally(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        for name in [
            "100%.txt",
            "1000.txt",
            "a_b.txt",
            "axb.txt",
            "back\\slash.txt",
            "backxslash.txt",
            "quote\"d.txt",
            "star*.txt",
            "stars.txt",
        ] {
            insert(&registry, &library, &Root, name, ItemKind::File).await;
        }
        let cases: [(&str, &[&str]); 10] = [
            ("%", &["100%.txt"]),
            ("0%", &["100%.txt"]),
            ("00%", &["100%.txt"]),
            ("_", &["a_b.txt"]),
            ("a_b", &["a_b.txt"]),
            ("\\", &["back\\slash.txt"]),
            ("k\\s", &["back\\slash.txt"]),
            ("\"", &["quote\"d.txt"]),
            ("e\"d", &["quote\"d.txt"]),
            ("r*", &["star*.txt"]),
        ];
        for (term, expected) in cases {
            assert_eq!(search(&registry, &library, &[term], None).await, set(expected), "term {term:?}");
        }
        assert!(search(&registry, &library, &["a*b"], None).await.is_empty());
        assert!(search(&registry, &library, &["NEAR"], None).await.is_empty());
        assert!(search(&registry, &library, &["\"a\" OR \"b\""], None).await.is_empty());
    }

    pub async fn search_ignores_case_beyond_ascii(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let file = insert(&registry, &library, &Root, "Été à Paris.txt", ItemKind::File).await;
        registry.set_search_content(&file, "ÇA VA ÜBER", &file.version()).await.unwrap();
        for term in ["été", "ÉTÉ", "Été", "ét", "à", "À", "ça va", "über", "üb"] {
            let terms: Vec<&str> = term.split(' ').collect();
            assert_eq!(search(&registry, &library, &terms, None).await, set(&["Été à Paris.txt"]), "term {term:?}");
        }
    }

    pub async fn search_limits_to_a_subtree_and_skips_trashed_items(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let docs = insert(&registry, &library, &Root, "Docs", ItemKind::Folder).await;
        let deep = insert(&registry, &library, &Item(&docs), "Deep", ItemKind::Folder).await;
        insert(&registry, &library, &Item(&docs), "plan one.txt", ItemKind::File).await;
        insert(&registry, &library, &Item(&deep), "plan two.txt", ItemKind::File).await;
        let look_alike = insert(&registry, &library, &Root, "Docs2", ItemKind::Folder).await;
        insert(&registry, &library, &Item(&look_alike), "plan three.txt", ItemKind::File).await;
        insert(&registry, &library, &Root, "plan four.txt", ItemKind::File).await;

        assert_eq!(search(&registry, &library, &["plan"], None).await.len(), 4);
        assert_eq!(search(&registry, &library, &["plan"], Some("")).await.len(), 4);
        assert_eq!(search(&registry, &library, &["plan"], Some("Docs")).await, set(&["plan one.txt", "plan two.txt"]));
        assert_eq!(search(&registry, &library, &["pl"], Some("Docs")).await, set(&["plan one.txt", "plan two.txt"]));
        assert_eq!(search(&registry, &library, &["plan"], Some("Docs/Deep")).await, set(&["plan two.txt"]));
        assert!(
            search(&registry, &library, &["docs"], Some("Docs")).await.is_empty(),
            "the scope itself is not in its subtree"
        );

        registry
            .move_to_trash(&deep, &unique("trash"), &format!(".docbridge/trash/{}", unique("t")), None)
            .await
            .unwrap();
        assert_eq!(search(&registry, &library, &["plan"], Some("Docs")).await, set(&["plan one.txt"]));
        assert!(search(&registry, &library, &["deep"], None).await.is_empty());

        let file = registry.item_by_path(library.id, "plan four.txt").await.unwrap().unwrap();
        registry.move_item(&file, &root(), "renamed five.txt", "renamed five.txt").await.unwrap();
        assert_eq!(search(&registry, &library, &["five"], None).await, set(&["renamed five.txt"]));
        assert!(search(&registry, &library, &["four"], None).await.is_empty());
    }

    pub async fn files_are_reindexed_when_their_content_changes(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let folder = insert(&registry, &library, &Root, "Folder", ItemKind::Folder).await;
        let file = insert(&registry, &library, &Root, "doc.txt", ItemKind::File).await;
        let pending = |records: Vec<ItemRecord>| records.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            pending(registry.items_to_index(library.id, 100).await.unwrap()),
            std::slice::from_ref(&file.id),
            "files only, not folders ({})",
            folder.name
        );
        registry.set_search_content(&file, "first words", &file.version()).await.unwrap();
        assert!(registry.items_to_index(library.id, 100).await.unwrap().is_empty());
        assert_eq!(fetch(&registry, &file).await.unwrap().indexed_version, Some(file.version()));

        registry.update_item_content(library.id, &file.id, 77, at(1_900_000_000_000)).await.unwrap();
        assert_eq!(pending(registry.items_to_index(library.id, 100).await.unwrap()), std::slice::from_ref(&file.id));
        let changed = fetch(&registry, &file).await.unwrap();
        registry.set_search_content(&changed, "second words", &changed.version()).await.unwrap();
        assert!(registry.items_to_index(library.id, 100).await.unwrap().is_empty());
        assert_eq!(search(&registry, &library, &["second"], None).await, set(&["doc.txt"]));
        assert!(search(&registry, &library, &["first"], None).await.is_empty());
        for i in 0..5 {
            insert(&registry, &library, &Root, &format!("more {i}.txt"), ItemKind::File).await;
        }
        assert_eq!(registry.items_to_index(library.id, 3).await.unwrap().len(), 3, "the limit holds");
    }

    // ---- reservations ----

    pub async fn reservations_hold_names_until_uploaded(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let folder = insert(&registry, &library, &Root, "Inbox", ItemKind::Folder).await;
        let new = NewReservation {
            wf_document_id: Some("doc".into()),
            wf_document_version_id: Some("ver".into()),
            ..reservation(&library, &folder.id, "scan.pdf", Utc::now() + Duration::hours(24))
        };
        let created = registry.create_reservation(new.clone()).await.unwrap();
        assert_eq!(
            (created.id.clone(), created.parent_id.clone(), created.name.as_str()),
            (new.id.clone(), folder.id.clone(), "scan.pdf")
        );
        assert_eq!(created.created_by.as_deref(), Some("joe@example.com"));
        assert!(created.uploaded_at.is_none());
        assert_eq!(registry.reservation(library.id, &new.id).await.unwrap().as_ref(), Some(&created));
        let other = integration(&registry).await;
        assert!(registry.reservation(other.id, &new.id).await.unwrap().is_none(), "reservations are per integration");
        assert_eq!(
            registry.pending_reservations(library.id, &folder.id).await.unwrap(),
            [("scan.pdf".to_owned(), new.id.clone())]
        );
        assert!(registry.pending_reservations(library.id, &root()).await.unwrap().is_empty());

        let duplicate = registry.create_reservation(new.clone()).await.unwrap_err();
        assert!(matches!(duplicate, RegistryError::Conflict(_)), "{duplicate:?}");

        registry.mark_reservation_uploaded(&new.id).await.unwrap();
        assert!(registry.pending_reservations(library.id, &folder.id).await.unwrap().is_empty());
        let uploaded = registry.reservation(library.id, &new.id).await.unwrap().expect("kept after the upload");
        assert!(uploaded.uploaded_at.is_some());
    }

    pub async fn reservations_expire(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let expired = registry
            .create_reservation(reservation(&library, &root(), "late.pdf", Utc::now() - Duration::minutes(1)))
            .await
            .unwrap();
        let live = registry
            .create_reservation(reservation(&library, &root(), "live.pdf", Utc::now() + Duration::hours(1)))
            .await
            .unwrap();
        let done = registry
            .create_reservation(reservation(&library, &root(), "done.pdf", Utc::now() - Duration::minutes(1)))
            .await
            .unwrap();
        registry.mark_reservation_uploaded(&done.id).await.unwrap();
        let pending: Vec<String> = registry
            .pending_reservations(library.id, &root())
            .await
            .unwrap()
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(pending, ["live.pdf"], "an expired reservation holds no name");
        assert!(registry.expire_reservations().await.unwrap() >= 1);
        assert!(registry.reservation(library.id, &expired.id).await.unwrap().is_none());
        assert!(registry.reservation(library.id, &live.id).await.unwrap().is_some());
        assert!(
            registry.reservation(library.id, &done.id).await.unwrap().is_some(),
            "an uploaded reservation is history, not expired"
        );
    }

    pub async fn reservations_are_found_by_workfront_ids(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let document = unique("wfdoc");
        let expires = Utc::now() + Duration::hours(1);
        let reserve = |version: &str, name: &str| {
            registry.create_reservation(NewReservation {
                wf_document_id: Some(document.clone()),
                wf_document_version_id: Some(version.into()),
                ..reservation(&library, &root(), name, expires)
            })
        };
        let v1 = reserve("v1", "one.pdf").await.unwrap();
        let v2 = reserve("v2", "two.pdf").await.unwrap();
        let find =
            |version: Option<&'static str>| registry.reservation_by_workfront_ids(library.id, &document, version);
        let id = |found: docbridge_registry::Result<Option<docbridge_registry::Reservation>>| {
            found.expect("lookup").map(|r| r.id)
        };
        assert_eq!(id(find(Some("v1")).await), Some(v1.id.clone()));
        assert_eq!(id(find(Some("v2")).await), Some(v2.id.clone()));
        let any = id(find(None).await).expect("the document alone finds a reservation");
        assert!(any == v1.id || any == v2.id);
        assert_eq!(id(find(Some("v3")).await), None);
        assert!(registry.reservation_by_workfront_ids(library.id, &unique("nodoc"), None).await.unwrap().is_none());
        let other = integration(&registry).await;
        assert!(registry.reservation_by_workfront_ids(other.id, &document, None).await.unwrap().is_none());
    }

    pub async fn a_replacing_reservation_supersedes_the_earlier_one(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let expires = Utc::now() + Duration::hours(1);
        let first = registry
            .create_reservation(NewReservation {
                wf_document_id: Some("doc".into()),
                wf_document_version_id: Some("v1".into()),
                ..reservation(&library, &root(), "same.pdf", expires)
            })
            .await
            .unwrap();
        registry.mark_reservation_uploaded(&first.id).await.unwrap();
        let next = NewReservation {
            id: first.id.clone(),
            replaces_existing: true,
            wf_document_id: Some("doc".into()),
            wf_document_version_id: Some("v2".into()),
            ..reservation(&library, &root(), "same.pdf", expires)
        };
        let second = registry.create_reservation(next).await.expect("a new version of the same item may be reserved");
        assert!(second.replaces_existing);
        let stored = registry.reservation(library.id, &first.id).await.unwrap().unwrap();
        assert_eq!(stored.wf_document_version_id.as_deref(), Some("v2"));
        assert!(stored.uploaded_at.is_none());
        assert_eq!(
            registry.reservation_by_workfront_ids(library.id, "doc", Some("v2")).await.unwrap().map(|r| r.id),
            Some(first.id.clone())
        );
    }

    // ---- the trash ----

    pub async fn trash_moves_restores_and_purges(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let folder = insert(&registry, &library, &Root, "Project", ItemKind::Folder).await;
        let child = insert(&registry, &library, &Item(&folder), "plan.txt", ItemKind::File).await;
        let trash_id = unique("t");
        let trash_path = format!(".docbridge/trash/{trash_id}");
        let entry = registry.move_to_trash(&folder, &trash_id, &trash_path, Some("joe@example.com")).await.unwrap();
        assert_eq!(
            (entry.id.as_str(), &entry.item_id, entry.name.as_str(), entry.kind),
            (trash_id.as_str(), &folder.id, "Project", ItemKind::Folder)
        );
        assert_eq!(
            (entry.original_path.as_str(), &entry.original_parent_id, entry.trash_path.as_str()),
            ("Project", &root(), trash_path.as_str())
        );
        assert_eq!(entry.deleted_by.as_deref(), Some("joe@example.com"));
        assert!(fetch(&registry, &folder).await.is_none());
        assert!(fetch(&registry, &child).await.is_none());
        assert!(registry.children(library.id, &root()).await.unwrap().is_empty());
        assert!(registry.all_items(library.id).await.unwrap().is_empty());
        assert_eq!(registry.trash_entries(Some(library.id)).await.unwrap(), std::slice::from_ref(&entry));
        assert!(registry.trash_entries(None).await.unwrap().contains(&entry));
        assert_eq!(registry.trash_entry(&trash_id).await.unwrap().as_ref(), Some(&entry));
        let other = integration(&registry).await;
        assert!(registry.trash_entries(Some(other.id)).await.unwrap().is_empty());
        // A new item may take the name while the old one is in the trash.
        let newcomer = insert(&registry, &library, &Root, "Project", ItemKind::Folder).await;

        registry.restore_from_trash(&entry, &root(), "Project (1)", "Project (1)").await.unwrap();
        let restored = fetch(&registry, &folder).await.expect("back with its ID");
        assert_eq!((restored.path.as_str(), restored.name.as_str()), ("Project (1)", "Project (1)"));
        assert_eq!(fetch(&registry, &child).await.unwrap().path, "Project (1)/plan.txt");
        assert!(registry.trash_entry(&trash_id).await.unwrap().is_none());
        assert_eq!(search(&registry, &library, &["plan"], None).await, set(&["plan.txt"]));
        assert_eq!(fetch(&registry, &newcomer).await.as_ref(), Some(&newcomer));

        let again_id = unique("t");
        let again =
            registry.move_to_trash(&restored, &again_id, &format!(".docbridge/trash/{again_id}"), None).await.unwrap();
        registry.purge_trash_entry(&again).await.unwrap();
        assert!(registry.trash_entry(&again_id).await.unwrap().is_none());
        assert!(fetch(&registry, &folder).await.is_none());
        assert!(fetch(&registry, &child).await.is_none());
        assert!(search(&registry, &library, &["plan"], None).await.is_empty());
        assert_eq!(names(&registry.all_items(library.id).await.unwrap()), set(&["Project"]));
        // The purged IDs are free of any trace: restoring the purged entry finds nothing to restore.
        assert!(registry.trash_entries(Some(library.id)).await.unwrap().is_empty());
    }

    pub async fn restoring_onto_a_taken_path_is_a_conflict(url: String) {
        let registry = connect(&url).await;
        let library = integration(&registry).await;
        let file = insert(&registry, &library, &Root, "memo.txt", ItemKind::File).await;
        let trash_id = unique("t");
        let entry =
            registry.move_to_trash(&file, &trash_id, &format!(".docbridge/trash/{trash_id}"), None).await.unwrap();
        insert(&registry, &library, &Root, "memo.txt", ItemKind::File).await;
        let error = registry.restore_from_trash(&entry, &root(), "memo.txt", "memo.txt").await.unwrap_err();
        assert!(matches!(error, RegistryError::Conflict(_)), "{error:?}");
        assert!(registry.trash_entry(&trash_id).await.unwrap().is_some(), "a failed restore keeps the trash entry");
        assert!(fetch(&registry, &file).await.is_none());
        registry
            .restore_from_trash(&entry, &root(), "memo (1).txt", "memo (1).txt")
            .await
            .expect("a free name restores");
        assert_eq!(fetch(&registry, &file).await.unwrap().name, "memo (1).txt");
    }

    // ---- settings and audit ----

    pub async fn concurrent_setting_inits_agree(url: String) {
        let first = connect(&url).await;
        let second = connect(&url).await;
        let key = unique("signing-key");
        let tasks: Vec<_> = (0..8)
            .map(|n| {
                let registry = if n % 2 == 0 { first.clone() } else { second.clone() };
                let key = key.clone();
                tokio::spawn(async move {
                    registry.setting_or_init(&key, || format!("value from task {n}")).await.expect("setting_or_init")
                })
            })
            .collect();
        let mut values = BTreeSet::new();
        for task in tasks {
            values.insert(task.await.expect("task"));
        }
        assert_eq!(values.len(), 1, "every process agrees: {values:?}");
        let agreed = values.into_iter().next().unwrap();
        assert!(agreed.starts_with("value from task "));
        assert_eq!(first.setting(&key).await.unwrap(), Some(agreed.clone()));
        assert_eq!(
            second.setting_or_init(&key, || panic!("an existing setting is not made again")).await.unwrap(),
            agreed
        );

        first.set_setting(&key, "overridden").await.unwrap();
        assert_eq!(second.setting(&key).await.unwrap().as_deref(), Some("overridden"));
        assert!(first.setting(&unique("unset")).await.unwrap().is_none());
    }

    pub async fn audit_entries_filter_by_integration_and_time(url: String) {
        let registry = connect(&url).await;
        let (a, b) = (unique("audit-a"), unique("audit-b"));
        let entry = |integration: &str, operation: &str, millis: i64| AuditEntry {
            at: at(millis),
            actor: "joe@example.com".into(),
            integration: integration.to_owned(),
            operation: operation.to_owned(),
            item_id: Some("item1".into()),
            result: "200".into(),
            detail: None,
        };
        let t0 = 1_700_000_000_000;
        let t1 = t0 + 60_000;
        let entries = [entry(&a, "uploadInit", t0), entry(&a, "upload", t1), entry(&b, "delete", t1)];
        for e in &entries {
            registry.record_audit(e).await.unwrap();
        }
        assert_eq!(
            registry.audit_entries(Some(&a), None, 100).await.unwrap(),
            [entries[0].clone(), entries[1].clone()]
        );
        assert_eq!(registry.audit_entries(Some(&a), Some(at(t1)), 100).await.unwrap(), [entries[1].clone()]);
        assert!(registry.audit_entries(Some(&a), Some(at(t1 + 1)), 100).await.unwrap().is_empty());
        assert_eq!(registry.audit_entries(Some(&a), None, 1).await.unwrap(), [entries[0].clone()]);
        assert_eq!(registry.audit_entries(Some(&b), None, 100).await.unwrap(), [entries[2].clone()]);
        let all = registry.audit_entries(None, Some(at(t0)), 1_000_000).await.unwrap();
        assert!(entries.iter().all(|e| all.contains(e)));
    }
}

/// A library's change lock, taken through two registries opened on one database (two
/// processes): exclusive keeps the other's shared out and shared ones coexist; a request given
/// up while it waited (its future dropped, as when a request is cancelled or a process dies)
/// leaves nothing held, so that an exclusive lock can be taken afterwards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn change_locks_exclude_across_connections() {
    use docbridge_registry::LockMode::{Exclusive, Shared};
    use std::time::Duration;
    on_every_backend(|url| async move {
        let first = Registry::connect(&url).await.unwrap();
        let second = Registry::connect(&url).await.unwrap();
        // A key no other test (or run on the same PostgreSQL) uses at the same time.
        let library = 1_000_000 + i64::from(rand_u16());
        let held = first.change_lock(library, Exclusive).await.unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(300), second.change_lock(library, Shared)).await;
        assert!(waited.is_err(), "{url}: a shared lock was granted while another process held it exclusively");
        drop(held);
        let one = second.change_lock(library, Shared).await.unwrap();
        let other = tokio::time::timeout(Duration::from_secs(60), first.change_lock(library, Shared))
            .await
            .unwrap_or_else(|_| panic!("{url}: shared locks exclude each other"))
            .unwrap();
        drop((one, other));
        let again = tokio::time::timeout(Duration::from_secs(60), first.change_lock(library, Exclusive))
            .await
            .unwrap_or_else(|_| panic!("{url}: a lock is still held after its holders and waiters are gone"))
            .unwrap();
        let blocked = tokio::time::timeout(Duration::from_millis(300), second.change_lock(library, Exclusive)).await;
        assert!(blocked.is_err(), "{url}: two exclusive holders");
        drop(again);
        let last = tokio::time::timeout(Duration::from_secs(60), second.change_lock(library, Exclusive))
            .await
            .unwrap_or_else(|_| panic!("{url}: released exclusive lock"))
            .unwrap();
        drop(last);
    })
    .await;
}

#[cfg(unix)]
#[tokio::test]
async fn change_lock_files_are_private_to_the_service_user() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("docbridge.db");
    let registry = Registry::connect(&format!("sqlite://{}?mode=rwc", database.display())).await.unwrap();
    let held = registry.change_lock(7, docbridge_registry::LockMode::Shared).await.unwrap();
    let lock_file = dir.path().join("docbridge.db.changes-7.lock");
    let mode = std::fs::metadata(&lock_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "{} is {mode:o}", lock_file.display());
    drop(held);
}

/// PostgreSQL only: SQLite's FTS5 index has no pending list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn search_index_keeps_no_pending_list_on_postgres() {
    match std::env::var("DOCBRIDGE_TEST_POSTGRES_URL") {
        Ok(url) if !url.is_empty() => cases::search_index_keeps_no_pending_list(url).await,
        _ => eprintln!("skipped: DOCBRIDGE_TEST_POSTGRES_URL is not set (.ci/postgres.sh start)"),
    }
}

fn rand_u16() -> u16 {
    let id = docbridge_registry::random_id();
    id.bytes().fold(0u16, |acc, b| acc.wrapping_mul(31).wrapping_add(u16::from(b)))
}
