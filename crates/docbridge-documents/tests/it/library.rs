//! The documents layer without HTTP: conflict policies, reservations surviving a crash between
//! commit and index, confinement, roles, copy, restore and fsck, on the in-memory adapter and a
//! SQLite registry.

use crate::support;

use std::sync::Arc;

use docbridge_documents::{
    ActionOutcome, ActionTarget, Caller, ConflictPolicy, DocumentsError, Library, LibrarySettings,
};
use docbridge_protocol::{ItemId, ItemKind};
use docbridge_registry::{ActionKind, CustomActionSpec, Integration, Registry, Role};
use docbridge_storage::{MemoryStorage, Storage, StoragePath, WriteMode};
use futures::TryStreamExt;
use support::{body, editor};

struct Fixture {
    _dir: tempfile::TempDir,
    registry: Registry,
    storage: Arc<MemoryStorage>,
    integration: Integration,
    library: Library,
}

async fn fixture(policy: ConflictPolicy) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let actions = vec![
        CustomActionSpec {
            name: "copy".into(),
            display_name: "Copy".into(),
            kind: ActionKind::Copy { folder: "Copies/Deep".into() },
        },
        CustomActionSpec { name: "lock".into(), display_name: "Lock".into(), kind: ActionKind::Lock },
    ];
    let (registry, integration) = support::registry_with_library(dir.path(), actions).await;
    let storage = Arc::new(MemoryStorage::new());
    let settings =
        LibrarySettings { conflict_policy: policy, cache_dir: dir.path().join("cache"), ..LibrarySettings::default() };
    let library = Library::new(integration.id, "Library", storage.clone(), registry.clone(), Arc::new(settings));
    Fixture { _dir: dir, registry, storage, integration, library }
}

async fn read_all(library: &Library, caller: &Caller, id: &ItemId) -> Vec<u8> {
    let download = library.download_target(caller, id).await.unwrap();
    download
        .bytes(None)
        .await
        .unwrap()
        .try_fold(Vec::new(), |mut all, chunk| async move {
            all.extend_from_slice(&chunk);
            Ok(all)
        })
        .await
        .unwrap()
}

async fn upload(library: &Library, name: &str, bytes: &'static [u8]) -> ItemId {
    let view = library.upload_init(&editor(), &ItemId::root(), name, Some("wf-doc"), Some("wf-v1")).await.unwrap();
    library.upload(&editor(), &view.record.id, body(bytes)).await.unwrap();
    view.record.id
}

async fn titles(library: &Library, caller: &Caller, parent: &ItemId) -> Vec<String> {
    library.list(caller, parent, None, None).await.unwrap().into_iter().map(|v| v.record.name).collect()
}

#[tokio::test]
async fn replace_policy_keeps_the_id_across_new_versions() {
    let f = fixture(ConflictPolicy::Replace).await;
    let first = upload(&f.library, "report.pdf", b"v1").await;
    for version in [b"v2" as &'static [u8], b"v3"] {
        let again = f
            .library
            .upload_init(&editor(), &ItemId::root(), "report.pdf", Some("wf-doc"), Some("wf-v2"))
            .await
            .unwrap();
        assert_eq!(again.record.id, first, "a new version of the same name keeps the item's ID");
        f.library.upload(&editor(), &again.record.id, body(version)).await.unwrap();
        assert_eq!(read_all(&f.library, &editor(), &first).await, version);
    }
    assert_eq!(titles(&f.library, &editor(), &ItemId::root()).await, vec!["report.pdf"]);
}

#[tokio::test]
async fn reject_and_rename_policies() {
    let f = fixture(ConflictPolicy::Reject).await;
    upload(&f.library, "a.txt", b"x").await;
    let err = f.library.upload_init(&editor(), &ItemId::root(), "a.txt", None, None).await.unwrap_err();
    assert!(matches!(err, DocumentsError::Conflict(_)), "{err:?}");

    let f = fixture(ConflictPolicy::Rename).await;
    upload(&f.library, "a.txt", b"x").await;
    // A pending reservation holds its name too.
    let pending = f.library.upload_init(&editor(), &ItemId::root(), "a.txt", None, None).await.unwrap();
    assert_eq!(pending.record.name, "a (1).txt");
    let next = f.library.upload_init(&editor(), &ItemId::root(), "a.txt", None, None).await.unwrap();
    assert_eq!(next.record.name, "a (2).txt");
}

/// NFC and NFD spellings of one name (Workfront sends NFC, a Mac writes NFD) are one name:
/// new names are stored in NFC, and a name taken in either spelling is taken (issue #13).
#[tokio::test]
async fn nfc_and_nfd_spellings_are_one_name() {
    const NFD: &str = "cafe\u{0301}.txt";
    const NFC: &str = "caf\u{00E9}.txt";
    let f = fixture(ConflictPolicy::Reject).await;
    upload(&f.library, NFD, b"mac").await;
    assert_eq!(titles(&f.library, &editor(), &ItemId::root()).await, vec![NFC], "stored in NFC");
    let err = f.library.upload_init(&editor(), &ItemId::root(), NFC, None, None).await.unwrap_err();
    assert!(matches!(err, DocumentsError::Conflict(_)), "{err:?}");
    let err = f.library.create_folder(&editor(), &ItemId::root(), NFD).await.unwrap_err();
    assert!(matches!(err, DocumentsError::Conflict(_)), "{err:?}");

    // A file another program wrote in NFD keeps its spelling, and still takes the name.
    let f = fixture(ConflictPolicy::Rename).await;
    let path = StoragePath::root().join(NFD).unwrap();
    f.storage.write(&path, body(b"by hand"), WriteMode::CreateNew, None).await.unwrap();
    assert_eq!(titles(&f.library, &editor(), &ItemId::root()).await, vec![NFD]);
    let next = f.library.upload_init(&editor(), &ItemId::root(), NFC, None, None).await.unwrap();
    assert_eq!(next.record.name, "caf\u{00E9} (1).txt");
    let other = upload(&f.library, "other.txt", b"x").await;
    let err = f.library.rename(&editor(), &other, NFC).await.unwrap_err();
    assert!(matches!(err, DocumentsError::Conflict(_)), "{err:?}");
    let err = f.library.create_folder(&editor(), &ItemId::root(), NFC).await.unwrap_err();
    assert!(matches!(err, DocumentsError::Conflict(_)), "{err:?}");
}

/// Names that display as something they are not are refused (issue #13).
#[tokio::test]
async fn names_with_bidi_controls_or_zero_width_characters_are_refused() {
    let f = fixture(ConflictPolicy::Rename).await;
    let id = upload(&f.library, "plain.txt", b"x").await;
    for bad in ["invoice\u{202E}fdp.exe", "a\u{200B}b.txt", "\u{FEFF}bom.txt", "x\u{2066}y"] {
        let err = f.library.upload_init(&editor(), &ItemId::root(), bad, None, None).await.unwrap_err();
        assert!(matches!(err, DocumentsError::InvalidInput { .. }), "{bad:?}: {err:?}");
        let err = f.library.create_folder(&editor(), &ItemId::root(), bad).await.unwrap_err();
        assert!(matches!(err, DocumentsError::InvalidInput { .. }), "{bad:?}: {err:?}");
        let err = f.library.rename(&editor(), &id, bad).await.unwrap_err();
        assert!(matches!(err, DocumentsError::InvalidInput { .. }), "{bad:?}: {err:?}");
    }
    assert_eq!(titles(&f.library, &editor(), &ItemId::root()).await, vec!["plain.txt"]);
}

#[tokio::test]
async fn a_file_committed_but_never_indexed_gets_its_reserved_id() {
    let f = fixture(ConflictPolicy::Rename).await;
    let reserved = f.library.upload_init(&editor(), &ItemId::root(), "crash.bin", None, None).await.unwrap();
    // The upload's bytes reached storage, then the process died before the index was written.
    let path = StoragePath::root().join("crash.bin").unwrap();
    f.storage.write(&path, body(b"bytes"), WriteMode::CreateNew, None).await.unwrap();
    let listed = f.library.list(&editor(), &ItemId::root(), None, None).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].record.id, reserved.record.id, "the reserved ID, not a fresh one");
    // Repeating the upload (the client never got its answer) replaces the content, same ID.
    f.library.upload(&editor(), &reserved.record.id, body(b"bytes again")).await.unwrap();
    assert_eq!(read_all(&f.library, &editor(), &reserved.record.id).await, b"bytes again");
}

#[tokio::test]
async fn readers_read_and_cannot_write() {
    let f = fixture(ConflictPolicy::Rename).await;
    let id = upload(&f.library, "doc.txt", b"text").await;
    let reader = Caller { username: "r@example.com".into(), role: Role::Reader, folder: None, items_seen: None };
    let view = f.library.metadata(&reader, &id).await.unwrap();
    assert!(view.read_only);
    assert!(!f.library.metadata(&editor(), &id).await.unwrap().read_only);
    assert!(matches!(
        f.library.upload_init(&reader, &ItemId::root(), "x.txt", None, None).await,
        Err(DocumentsError::Forbidden(_))
    ));
    assert!(matches!(f.library.rename(&reader, &id, "y.txt").await, Err(DocumentsError::Forbidden(_))));
    assert!(matches!(f.library.delete(&reader, &id).await, Err(DocumentsError::Forbidden(_))));
    assert!(matches!(f.library.create_folder(&reader, &ItemId::root(), "F").await, Err(DocumentsError::Forbidden(_))));
}

#[tokio::test]
async fn a_confined_caller_sees_their_folder_as_root_and_nothing_outside() {
    let f = fixture(ConflictPolicy::Rename).await;
    let team = f.library.create_folder(&editor(), &ItemId::root(), "Team").await.unwrap().record.id;
    let inside = f.library.create_folder(&editor(), &team, "Inside").await.unwrap().record.id;
    let outside = upload(&f.library, "secret.txt", b"s").await;
    let confined =
        Caller { username: "c@example.com".into(), role: Role::Editor, folder: Some(team.clone()), items_seen: None };
    assert_eq!(titles(&f.library, &confined, &ItemId::root()).await, vec!["Inside"]);
    assert!(f.library.metadata(&confined, &inside).await.is_ok());
    assert!(matches!(f.library.metadata(&confined, &outside).await, Err(DocumentsError::NotFound(_))));
    assert!(matches!(f.library.download_target(&confined, &outside).await, Err(DocumentsError::NotFound(_))));
    let root = f.library.metadata(&confined, &ItemId::root()).await.unwrap();
    assert!(root.record.id.is_root(), "their root answers as /");
    assert!(f.library.search(&confined, "secret", None, None, None).await.unwrap().is_empty(), "search stays inside");
    assert!(f.library.delete(&confined, &ItemId::root()).await.is_err(), "their root cannot be deleted");
}

#[tokio::test]
async fn copy_and_lock_actions() {
    let f = fixture(ConflictPolicy::Rename).await;
    let id = upload(&f.library, "orig.txt", b"content").await;
    let outcome = f
        .library
        .custom_action(
            &editor(),
            &f.integration,
            "copy",
            ActionTarget::Workfront { document_id: "wf-doc", version_id: Some("wf-v1") },
        )
        .await
        .unwrap();
    assert_eq!(outcome, ActionOutcome::Success);
    let copies = f.library.search(&editor(), "orig.txt", None, None, None).await.unwrap();
    assert_eq!(copies.len(), 2, "the original and its copy under Copies/Deep");
    let copy = copies.iter().find(|c| c.record.id != id).unwrap();
    assert_eq!(copy.record.path, "Copies/Deep/orig.txt");
    assert_eq!(read_all(&f.library, &editor(), &copy.record.id).await, b"content");

    assert_eq!(
        f.library.custom_action(&editor(), &f.integration, "lock", ActionTarget::Id(&id)).await.unwrap(),
        ActionOutcome::Success
    );
    assert!(f.library.metadata(&editor(), &id).await.unwrap().read_only, "locked items are read-only");
    assert!(matches!(f.library.rename(&editor(), &id, "new.txt").await, Err(DocumentsError::Forbidden(_))));
    assert!(matches!(
        f.library.custom_action(&editor(), &f.integration, "explode", ActionTarget::Id(&id)).await,
        Err(DocumentsError::InvalidInput { .. })
    ));
}

#[tokio::test]
async fn restore_brings_back_the_same_id_under_a_free_name() {
    let f = fixture(ConflictPolicy::Rename).await;
    let folder = f.library.create_folder(&editor(), &ItemId::root(), "Folder").await.unwrap().record.id;
    let child = f.library.upload_init(&editor(), &folder, "child.txt", None, None).await.unwrap().record.id;
    f.library.upload(&editor(), &child, body(b"kid")).await.unwrap();
    let entry = f.library.delete(&editor(), &folder).await.unwrap();
    assert!(matches!(f.library.metadata(&editor(), &child).await, Err(DocumentsError::NotFound(_))));
    assert!(
        f.library.search(&editor(), "child", None, None, None).await.unwrap().is_empty(),
        "trashed items are not found"
    );
    f.library.create_folder(&editor(), &ItemId::root(), "Folder").await.unwrap();
    let name = f.library.restore(&entry).await.unwrap();
    assert_eq!(name, "Folder (1)");
    assert_eq!(f.library.metadata(&editor(), &folder).await.unwrap().record.name, "Folder (1)");
    assert_eq!(read_all(&f.library, &editor(), &child).await, b"kid");
    assert!(f.registry.trash_entries(Some(f.integration.id)).await.unwrap().is_empty());
}

/// The folder a trashed item came from keeps its ID when it is renamed (or moved): the item is
/// restored into it, not to the root (found by `cargo xtask chaos` once restores ran).
#[tokio::test]
async fn restore_follows_its_folder_when_that_was_renamed_since() {
    let f = fixture(ConflictPolicy::Rename).await;
    let folder = f.library.create_folder(&editor(), &ItemId::root(), "Before").await.unwrap().record.id;
    let mut entries = Vec::new();
    for name in ["one.txt", "two.txt"] {
        let child = f.library.upload_init(&editor(), &folder, name, None, None).await.unwrap().record.id;
        f.library.upload(&editor(), &child, body(b"kid")).await.unwrap();
        entries.push((child.clone(), f.library.delete(&editor(), &child).await.unwrap()));
    }
    f.library.rename(&editor(), &folder, "After").await.unwrap();
    assert_eq!(f.library.restore(&entries[0].1).await.unwrap(), "one.txt");
    let restored = f.library.metadata(&editor(), &entries[0].0).await.unwrap().record;
    assert_eq!((restored.parent_id, restored.path.as_str()), (folder.clone(), "After/one.txt"));
    f.library.rename(&editor(), &folder, "Later").await.unwrap();
    f.library.restore(&entries[1].1).await.unwrap();
    let restored = f.library.metadata(&editor(), &entries[1].0).await.unwrap().record;
    assert_eq!((restored.parent_id, restored.path.as_str()), (folder.clone(), "Later/two.txt"));
    let listed = f.library.list(&editor(), &folder, None, None).await.unwrap();
    assert_eq!(listed.len(), 2, "both are listed in their folder");
    // A folder that is itself in the trash is no place to restore into: the root is.
    let gone = f.library.create_folder(&editor(), &ItemId::root(), "Gone").await.unwrap().record.id;
    let child = f.library.upload_init(&editor(), &gone, "three.txt", None, None).await.unwrap().record.id;
    f.library.upload(&editor(), &child, body(b"kid")).await.unwrap();
    let entry = f.library.delete(&editor(), &child).await.unwrap();
    f.library.delete(&editor(), &gone).await.unwrap();
    f.library.restore(&entry).await.unwrap();
    let restored = f.library.metadata(&editor(), &child).await.unwrap().record;
    assert_eq!((restored.parent_id, restored.path.as_str()), (ItemId::root(), "three.txt"));
}

#[tokio::test]
async fn fsck_reports_what_changed_behind_our_back() {
    let f = fixture(ConflictPolicy::Rename).await;
    let kept = upload(&f.library, "kept.txt", b"kept").await;
    let gone = upload(&f.library, "gone.txt", b"gone").await;
    assert!(f.library.fsck().await.unwrap().is_clean(), "a fresh library is consistent");
    f.storage.delete(&StoragePath::root().join("gone.txt").unwrap()).await.unwrap();
    f.storage
        .write(&StoragePath::root().join("new.txt").unwrap(), body(b"new"), WriteMode::CreateNew, None)
        .await
        .unwrap();
    let report = f.library.fsck().await.unwrap();
    assert_eq!(report.dropped, vec![format!("{gone} /gone.txt")]);
    assert_eq!(report.indexed.len(), 1);
    assert!(report.indexed[0].ends_with("/new.txt"));
    assert!(f.library.metadata(&editor(), &kept).await.is_ok());
    assert!(f.library.fsck().await.unwrap().is_clean(), "repairs stick");
    let found = f.library.search(&editor(), "new", None, None, None).await.unwrap();
    assert_eq!(found.len(), 1, "fsck also indexes what it finds");
}

#[tokio::test]
async fn search_matches_content_of_text_files_only() {
    let f = fixture(ConflictPolicy::Rename).await;
    upload(&f.library, "notes.txt", b"the quarterly figures are in").await;
    upload(&f.library, "blob.bin", b"quarterly figures hidden in a binary").await;
    let found = f.library.search(&editor(), "QUARTERLY figures", None, None, None).await.unwrap();
    assert_eq!(found.iter().map(|v| v.record.name.as_str()).collect::<Vec<_>>(), vec!["notes.txt"]);
    assert!(
        f.library.search(&editor(), "quarterly nowhere", None, None, None).await.unwrap().is_empty(),
        "every term must match"
    );
    assert!(
        f.library.search(&editor(), "no.es", None, None, None).await.unwrap().is_empty(),
        "never a regular expression"
    );
    assert_eq!(f.library.search(&editor(), "tx", None, None, None).await.unwrap().len(), 1, "short terms work too");
    let kind = f.library.search(&editor(), "notes", None, None, None).await.unwrap()[0].record.kind;
    assert_eq!(kind, ItemKind::File);
}

/// A folder whose listing and index differ on many names (files copied in by hand) is read
/// again in one listing rather than name by name: every file is indexed once, and keeps its ID.
#[tokio::test]
async fn many_files_copied_in_are_indexed_by_one_listing() {
    let f = fixture(ConflictPolicy::Rename).await;
    f.storage.create_dir(&StoragePath::parse("bulk").unwrap()).await.unwrap();
    for n in 0..150 {
        let path = StoragePath::parse(&format!("bulk/file-{n:03}.txt")).unwrap();
        f.storage.write(&path, body(b"copied"), WriteMode::CreateNew, None).await.unwrap();
    }
    let root = f.library.list(&editor(), &ItemId::root(), None, None).await.unwrap();
    let bulk = root.iter().find(|v| v.record.name == "bulk").expect("the folder is listed").record.id.clone();
    let first = f.library.list(&editor(), &bulk, None, None).await.unwrap();
    assert_eq!(first.len(), 150);
    assert_eq!(first[0].record.name, "file-000.txt");
    let again = f.library.list(&editor(), &bulk, None, None).await.unwrap();
    let ids = |views: &[docbridge_documents::ItemView]| views.iter().map(|v| v.record.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&first), ids(&again), "the same IDs at the next listing");
    assert!(f.library.fsck().await.unwrap().is_clean());
}
