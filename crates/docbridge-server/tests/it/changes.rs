//! `/createFolder`, `/rename` and `/delete` (C15, C16, C17): parameters from the query or a
//! form, name rules, conflicts, stable IDs, and a trash that can give items back.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{
    Options, TestServer, assert_error, assert_failure, assert_metadata, id_of, ids, message, send, titles,
    visible_files,
};

async fn rename(server: &TestServer, method: Method, id: &str, name: &str) -> crate::support::Reply {
    send(server.call(method, "rename", &[("id", id), ("name", name)])).await
}

async fn delete(server: &TestServer, method: Method, param: &str, id: &str) -> crate::support::Reply {
    send(server.call(method, "delete", &[(param, id)])).await
}

/// A folder at the root holding a folder holding a file of `content`, named `[outer, inner,
/// file]`; their metadata.
async fn nested(server: &TestServer, [outer, inner, file]: [&str; 3], content: &'static str) -> (Value, Value, Value) {
    let outer = server.create_folder("/", outer).await;
    let inner = server.create_folder(id_of(&outer), inner).await;
    let file = server.upload(id_of(&inner), file, content).await;
    (outer, inner, file)
}

/// A file of `content` at the root, deleted: in the trash. Its metadata.
async fn trashed(server: &TestServer, name: &str, content: &'static str) -> Value {
    let file = server.upload("/", name, content).await;
    server.delete("id", id_of(&file)).await;
    file
}

#[tokio::test]
async fn create_folder_from_the_query_string() {
    let server = TestServer::start().await;
    let reply = send(server.call(Method::POST, "createFolder", &[("parentId", "/"), ("name", "Projects")])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let folder = reply.json();
    assert_metadata(&folder, &server.base);
    assert_eq!(folder["title"], "Projects");
    assert_eq!(folder["kind"], "folder");
    assert_eq!(ids(&server.list("/").await), [id_of(&folder)]);
    assert!(server.docs().join("Projects").is_dir());
}

#[tokio::test]
async fn create_folder_from_a_form_body() {
    let server = TestServer::start().await;
    let parent = server.create_folder("/", "Parent").await;
    let reply = server
        .send_form(Method::POST, "createFolder", &[("parentId", id_of(&parent)), ("name", "Child from form")])
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let child = reply.json();
    assert_eq!(child["title"], "Child from form");
    assert_eq!(ids(&server.list(id_of(&parent)).await), [id_of(&child)]);
    // Without parentId the folder goes to the root.
    let reply = server.send_form(Method::POST, "createFolder", &[("name", "At root")]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(titles(&server.list("/").await), ["At root", "Parent"]);
}

#[tokio::test]
async fn create_folder_refuses_taken_and_bad_names() {
    let server = TestServer::start().await;
    server.create_folder("/", "Taken").await;
    server.upload("/", "file.txt", "x").await;
    for name in ["Taken", "file.txt"] {
        let reply = send(server.call(Method::POST, "createFolder", &[("parentId", "/"), ("name", name)])).await;
        assert_error(&reply, 409);
    }
    let long = "n".repeat(256);
    for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", &long] {
        let reply = send(server.call(Method::POST, "createFolder", &[("parentId", "/"), ("name", bad)])).await;
        assert_error(&reply, 400);
    }
    let file = server.list("/").await.into_iter().find(|i| i["kind"] == "file").unwrap();
    assert_error(
        &send(server.call(Method::POST, "createFolder", &[("parentId", id_of(&file)), ("name", "x")])).await,
        400,
    );
    assert_error(
        &send(server.call(Method::POST, "createFolder", &[("parentId", "AAAAAAAAAAAAAAAAAAAAAA"), ("name", "x")]))
            .await,
        404,
    );
    assert_eq!(titles(&server.list("/").await), ["Taken", "file.txt"]);
}

#[tokio::test]
async fn rename_keeps_the_id() {
    let server = TestServer::start().await;
    let file = server.upload("/", "old name.txt", "content").await;
    let reply = rename(&server, Method::PUT, id_of(&file), "new name.txt").await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json(), json!({"status": "success"}));
    let meta = server.metadata(id_of(&file)).await.json();
    assert_eq!(meta["title"], "new name.txt");
    assert_eq!(ids(&server.list("/").await), [id_of(&file)]);
    assert_eq!(server.content(id_of(&file)).await, b"content");
    assert_eq!(titles(&server.search(&[("query", "new name")]).await), ["new name.txt"]);
    assert!(server.search(&[("query", "old")]).await.is_empty());
    // Uploading again after the rename replaces the renamed file.
    assert_eq!(server.put_bytes(id_of(&file), "again").await.status, StatusCode::OK);
    assert_eq!(server.content(id_of(&file)).await, b"again");
    assert_eq!(visible_files(&server.docs()).into_iter().collect::<Vec<_>>(), ["new name.txt"]);
}

#[tokio::test]
async fn rename_accepts_post_and_a_form_body() {
    let server = TestServer::start().await;
    let file = server.upload("/", "a.txt", "a").await;
    assert_eq!(rename(&server, Method::POST, id_of(&file), "b.txt").await.json(), json!({"status": "success"}));
    let reply = server.send_form(Method::PUT, "rename", &[("id", id_of(&file)), ("name", "c.txt")]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(server.metadata(id_of(&file)).await.json()["title"], "c.txt");
}

#[tokio::test]
async fn renaming_a_folder_keeps_every_id_below_it() {
    let server = TestServer::start().await;
    let (folder, sub, deep) = nested(&server, ["Before", "Sub", "deep.txt"], "deep").await;
    assert_eq!(rename(&server, Method::PUT, id_of(&folder), "After").await.status, StatusCode::OK);
    assert_eq!(server.metadata(id_of(&folder)).await.json()["title"], "After");
    assert_eq!(ids(&server.list(id_of(&folder)).await), [id_of(&sub)]);
    assert_eq!(ids(&server.list(id_of(&sub)).await), [id_of(&deep)]);
    assert_eq!(server.content(id_of(&deep)).await, b"deep");
    assert!(server.docs().join("After/Sub/deep.txt").is_file());
    let found = server.search(&[("query", "deep")]).await;
    assert_eq!(ids(&found), [id_of(&deep)]);
}

#[tokio::test]
async fn rename_refuses_a_taken_name() {
    let server = TestServer::start().await;
    let a = server.upload("/", "a.txt", "a").await;
    server.upload("/", "b.txt", "b").await;
    let reply = rename(&server, Method::PUT, id_of(&a), "b.txt").await;
    assert_failure(&reply, 409);
    assert!(message(&reply).contains("already exists"), "{}", reply.text());
    assert_eq!(server.content(id_of(&a)).await, b"a");
    assert_eq!(titles(&server.list("/").await), ["a.txt", "b.txt"]);
    // Renaming to its own name changes nothing and succeeds.
    assert_eq!(rename(&server, Method::PUT, id_of(&a), "a.txt").await.status, StatusCode::OK);
}

#[tokio::test]
async fn rename_refuses_bad_input_in_its_own_vocabulary() {
    let server = TestServer::start().await;
    let file = server.upload("/", "a.txt", "a").await;
    assert_failure(&rename(&server, Method::PUT, "/", "new root").await, 400);
    assert_failure(&rename(&server, Method::PUT, "AAAAAAAAAAAAAAAAAAAAAA", "x").await, 404);
    for bad in ["", "..", "a/b", "a\\b"] {
        assert_failure(&rename(&server, Method::PUT, id_of(&file), bad).await, 400);
    }
    assert_failure(&send(server.call(Method::PUT, "rename", &[("id", id_of(&file))])).await, 400);
    assert_eq!(titles(&server.list("/").await), ["a.txt"]);
}

#[tokio::test]
async fn delete_takes_document_id_folder_id_or_id() {
    let server = TestServer::start().await;
    let one = server.upload("/", "one.txt", "1").await;
    let two = server.upload("/", "two.txt", "2").await;
    let folder = server.create_folder("/", "three").await;
    let four = server.upload("/", "four.txt", "4").await;
    for (param, item, method) in [
        ("documentId", &one, Method::PUT),
        ("id", &two, Method::PUT),
        ("folderId", &folder, Method::PUT),
        ("documentId", &four, Method::DELETE),
    ] {
        let reply = delete(&server, method.clone(), param, id_of(item)).await;
        assert_eq!(reply.status, StatusCode::OK, "{param} with {method}: {}", reply.text());
        assert_eq!(reply.json(), json!({"status": "success"}));
        assert_error(&server.metadata(id_of(item)).await, 404);
    }
    server.assert_empty().await;
}

#[tokio::test]
async fn delete_takes_a_folder_with_its_contents() {
    let server = TestServer::start().await;
    let (folder, inner, file) = nested(&server, ["Full", "Inner", "needle.txt"], "needle").await;
    server.delete("folderId", id_of(&folder)).await;
    for id in [id_of(&folder), id_of(&inner), id_of(&file)] {
        assert_error(&server.metadata(id).await, 404);
    }
    assert!(server.list("/").await.is_empty());
    assert!(server.search(&[("query", "needle")]).await.is_empty());
    assert!(server.search(&[("query", "inner")]).await.is_empty());
    assert!(visible_files(&server.docs()).is_empty());
}

#[tokio::test]
async fn delete_failures_speak_failure() {
    let server = TestServer::start().await;
    let a = server.upload("/", "a.txt", "a").await;
    let b = server.upload("/", "b.txt", "b").await;
    assert_failure(&delete(&server, Method::PUT, "id", "AAAAAAAAAAAAAAAAAAAAAA").await, 404);
    assert_failure(&delete(&server, Method::PUT, "id", "/").await, 400);
    // A malformed ID is an ID of no item (C6).
    assert_failure(&delete(&server, Method::PUT, "documentId", "../a.txt").await, 404);
    assert_failure(&send(server.call(Method::PUT, "delete", &[])).await, 400);
    // Two parameters naming different items are refused rather than guessed at.
    assert_failure(
        &send(server.call(Method::PUT, "delete", &[("documentId", id_of(&a)), ("id", id_of(&b))])).await,
        400,
    );
    assert_eq!(titles(&server.list("/").await), ["a.txt", "b.txt"]);
    // Deleting twice: the second finds nothing.
    server.delete("id", id_of(&a)).await;
    assert_failure(&delete(&server, Method::PUT, "id", id_of(&a)).await, 404);
}

#[tokio::test]
async fn deleted_items_go_to_the_trash_and_come_back_with_their_ids() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "Project").await;
    let file = server.upload(id_of(&folder), "plan.txt", "the plan").await;
    server.delete("folderId", id_of(&folder)).await;

    let entries = server.trash().await;
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!(entry.item_id.as_str(), id_of(&folder));
    assert_eq!(entry.name, "Project");
    assert_eq!(entry.original_path, "Project");
    assert_eq!(entry.deleted_by.as_deref(), Some(crate::support::USER));
    let trashed = server.docs().join(&entry.trash_path).join("plan.txt");
    assert_eq!(std::fs::read(&trashed).expect("the bytes are kept in the trash"), b"the plan");

    let restored = server.library().await.restore(entry).await.expect("restores");
    assert_eq!(restored, "Project");
    assert_eq!(ids(&server.list("/").await), [id_of(&folder)]);
    assert_eq!(ids(&server.list(id_of(&folder)).await), [id_of(&file)]);
    assert_eq!(server.content(id_of(&file)).await, b"the plan");
    assert_eq!(ids(&server.search(&[("query", "plan")]).await), [id_of(&file)]);
    assert!(server.trash().await.is_empty());
}

#[tokio::test]
async fn a_restored_item_whose_name_was_taken_gets_a_free_one() {
    let server = TestServer::start().await;
    let file = trashed(&server, "memo.txt", "old memo").await;
    let replacement = server.upload("/", "memo.txt", "new memo").await;
    let entry = server.trash().await.pop().unwrap();
    let restored = server.library().await.restore(&entry).await.expect("restores");
    assert_eq!(restored, "memo (1).txt");
    assert_eq!(server.metadata(id_of(&file)).await.json()["title"], "memo (1).txt");
    assert_eq!(server.content(id_of(&file)).await, b"old memo");
    assert_eq!(server.content(id_of(&replacement)).await, b"new memo");
}

#[tokio::test]
async fn concurrent_folders_of_one_name_make_one_folder() {
    let server = TestServer::start().await;
    let replies = futures::future::join_all(
        (0..5).map(|_| send(server.call(Method::POST, "createFolder", &[("parentId", "/"), ("name", "Race")]))),
    )
    .await;
    let created = replies.iter().filter(|r| r.status == StatusCode::OK).count();
    assert_eq!(created, 1, "{:?}", replies.iter().map(|r| r.status).collect::<Vec<_>>());
    for reply in replies.iter().filter(|r| r.status != StatusCode::OK) {
        assert_error(reply, 409);
    }
    assert_eq!(titles(&server.list("/").await), ["Race"]);
}

#[tokio::test]
async fn the_bookkeeping_name_cannot_be_taken() {
    let server = TestServer::start().await;
    let file = trashed(&server, "keep.txt", "keep").await;
    let kept = server.upload("/", "other.txt", "other").await;
    let replies = [
        send(server.call(Method::POST, "createFolder", &[("parentId", "/"), ("name", ".docbridge")])).await,
        rename(&server, Method::PUT, id_of(&kept), ".docbridge").await,
    ];
    for reply in &replies {
        assert!(matches!(reply.status.as_u16(), 400 | 409), "{} {}", reply.status, reply.text());
    }
    let init = send(server.call(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", ".docbridge")])).await;
    if init.status == StatusCode::OK {
        let reply = server.put_bytes(id_of(&init.json()), "sneaky").await;
        assert!(matches!(reply.status.as_u16(), 400 | 409), "{} {}", reply.status, reply.text());
    } else {
        assert_error(&init, init.status.as_u16());
    }
    assert_eq!(titles(&server.list("/").await), ["other.txt"]);
    let entry = server.trash().await.pop().expect("still in the trash");
    assert_eq!(server.library().await.restore(&entry).await.expect("the trash still works"), "keep.txt");
    assert_eq!(server.content(id_of(&file)).await, b"keep");
}

#[tokio::test]
async fn the_trash_is_emptied_after_its_retention_period() {
    let server =
        TestServer::with_options(Options { trash_retention: chrono::Duration::seconds(-1), ..Options::default() })
            .await;
    let kept = server.upload("/", "kept.txt", "kept").await;
    trashed(&server, "old.txt", "old").await;
    let entry = server.trash().await.pop().unwrap();
    assert!(server.docs().join(&entry.trash_path).exists());
    let report = server.library().await.maintain(false).await.expect("maintenance runs");
    assert_eq!(report.trash_purged, 1);
    assert!(server.trash().await.is_empty());
    assert!(!server.docs().join(&entry.trash_path).exists(), "the bytes are gone for good");
    assert_eq!(server.content(id_of(&kept)).await, b"kept");
}
