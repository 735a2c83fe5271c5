//! `/customAction` (C18): the default integration's `archive`, reached by Workfront's document
//! IDs or by ours, and the failure bodies for unknown actions and documents.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestServer, assert_failure, find, id_of, ids, send, titles, visible_files};

/// Uploads a file the way Workfront does, recording its document and version IDs.
async fn upload_from_workfront(server: &TestServer, parent: &str, name: &str, document: &str, version: &str) -> Value {
    let init = server
        .ok_json(
            Method::POST,
            "uploadInit",
            &[("parentId", parent), ("filename", name), ("documentId", document), ("documentVersionId", version)],
        )
        .await;
    assert_eq!(server.put_bytes(id_of(&init), name.to_owned()).await.status, StatusCode::OK);
    init
}

async fn action(server: &TestServer, method: Method, query: &[(&str, &str)]) -> crate::support::Reply {
    send(server.call(method, "customAction", query)).await
}

/// The top-level `Archive` folder, which must exist.
async fn archive_folder(server: &TestServer) -> Value {
    let root = server.list("/").await;
    find(&root, "Archive").unwrap_or_else(|| panic!("no Archive folder in {:?}", titles(&root))).clone()
}

#[tokio::test]
async fn archive_by_workfront_ids_moves_the_item_and_keeps_its_id() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "Working").await;
    let file = upload_from_workfront(&server, id_of(&folder), "contract.pdf", "5f1a", "5f1b").await;
    let reply =
        action(&server, Method::GET, &[("name", "archive"), ("documentId", "5f1a"), ("documentVersionId", "5f1b")])
            .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json(), json!({"status": "success"}));

    let archive = archive_folder(&server).await;
    assert_eq!(archive["kind"], "folder");
    assert_eq!(ids(&server.list(id_of(&archive)).await), [id_of(&file)]);
    assert!(server.list(id_of(&folder)).await.is_empty());
    let meta = server.metadata(id_of(&file)).await.json();
    assert_eq!(meta["title"], "contract.pdf");
    assert_eq!(server.content(id_of(&file)).await, b"contract.pdf");
    assert!(server.docs().join("Archive/contract.pdf").is_file());
}

#[tokio::test]
async fn archive_by_our_id_with_post() {
    let server = TestServer::start().await;
    let file = server.upload("/", "mine.txt", "mine").await;
    let reply = action(&server, Method::POST, &[("name", "archive"), ("id", id_of(&file))]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json(), json!({"status": "success"}));
    let archive = archive_folder(&server).await;
    assert_eq!(ids(&server.list(id_of(&archive)).await), [id_of(&file)]);
    assert_eq!(titles(&server.list("/").await), ["Archive"]);
}

#[tokio::test]
async fn archive_by_document_id_alone() {
    let server = TestServer::start().await;
    let file = upload_from_workfront(&server, "/", "solo.txt", "doc-7", "ver-1").await;
    let reply = action(&server, Method::GET, &[("name", "archive"), ("documentId", "doc-7")]).await;
    assert_eq!(reply.json(), json!({"status": "success"}), "{}", reply.text());
    let archive = archive_folder(&server).await;
    assert_eq!(ids(&server.list(id_of(&archive)).await), [id_of(&file)]);
}

#[tokio::test]
async fn archiving_a_folder_keeps_every_id_below_it() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "Done").await;
    let file = server.upload(id_of(&folder), "finished.txt", "finished").await;
    let reply = action(&server, Method::GET, &[("name", "archive"), ("id", id_of(&folder))]).await;
    assert_eq!(reply.json(), json!({"status": "success"}), "{}", reply.text());
    let archive = archive_folder(&server).await;
    assert_eq!(ids(&server.list(id_of(&archive)).await), [id_of(&folder)]);
    assert_eq!(ids(&server.list(id_of(&folder)).await), [id_of(&file)]);
    assert_eq!(server.content(id_of(&file)).await, b"finished");
}

#[tokio::test]
async fn archiving_a_second_item_of_the_same_name_keeps_both() {
    let server = TestServer::start().await;
    let first = server.upload("/", "same.txt", "first").await;
    assert_eq!(
        action(&server, Method::GET, &[("name", "archive"), ("id", id_of(&first))]).await.status,
        StatusCode::OK
    );
    let second = server.upload("/", "same.txt", "second").await;
    assert_eq!(
        action(&server, Method::GET, &[("name", "archive"), ("id", id_of(&second))]).await.json(),
        json!({"status": "success"})
    );
    let archive = archive_folder(&server).await;
    let archived = server.list(id_of(&archive)).await;
    assert_eq!(titles(&archived), ["same (1).txt", "same.txt"]);
    assert_eq!(server.content(id_of(&first)).await, b"first");
    assert_eq!(server.content(id_of(&second)).await, b"second");
    // Archiving what is already archived is a success that changes nothing.
    assert_eq!(
        action(&server, Method::GET, &[("name", "archive"), ("id", id_of(&first))]).await.json(),
        json!({"status": "success"})
    );
    assert_eq!(ids(&server.list(id_of(&archive)).await), ids(&archived));
}

#[tokio::test]
async fn an_action_that_cannot_run_answers_200_with_a_failure() {
    let server = TestServer::start().await;
    let file = server.upload("/", "x.txt", "x").await;
    assert_eq!(action(&server, Method::GET, &[("name", "archive"), ("id", id_of(&file))]).await.status, StatusCode::OK);
    let archive = archive_folder(&server).await;
    // The Archive folder cannot be moved into itself.
    let reply = action(&server, Method::GET, &[("name", "archive"), ("id", id_of(&archive))]).await;
    assert_failure(&reply, 200);
    assert_eq!(titles(&server.list("/").await), ["Archive"]);
}

#[tokio::test]
async fn a_file_named_archive_blocks_the_action_with_a_message() {
    let server = TestServer::start().await;
    server.upload("/", "Archive", "not a folder").await;
    let file = server.upload("/", "y.txt", "y").await;
    let reply = action(&server, Method::GET, &[("name", "archive"), ("id", id_of(&file))]).await;
    assert_failure(&reply, 200);
    assert_eq!(titles(&server.list("/").await), ["Archive", "y.txt"]);
}

#[tokio::test]
async fn unknown_actions_and_documents_fail_with_the_failure_body() {
    let server = TestServer::start().await;
    let file = upload_from_workfront(&server, "/", "kept.txt", "doc-1", "ver-1").await;
    assert_failure(
        &action(&server, Method::GET, &[("name", "shred"), ("documentId", "doc-1"), ("documentVersionId", "ver-1")])
            .await,
        400,
    );
    assert_failure(&action(&server, Method::GET, &[("documentId", "doc-1")]).await, 400);
    assert_failure(
        &action(
            &server,
            Method::GET,
            &[("name", "archive"), ("documentId", "no-such-doc"), ("documentVersionId", "v")],
        )
        .await,
        404,
    );
    assert_failure(&action(&server, Method::GET, &[("name", "archive"), ("id", "AAAAAAAAAAAAAAAAAAAAAA")]).await, 404);
    assert_failure(&action(&server, Method::GET, &[("name", "archive"), ("id", "../x")]).await, 404);
    assert_failure(&action(&server, Method::GET, &[("name", "archive"), ("id", "/")]).await, 400);
    assert_failure(&action(&server, Method::GET, &[("name", "archive")]).await, 400);
    assert_eq!(ids(&server.list("/").await), [id_of(&file)]);
    assert_eq!(visible_files(&server.docs()).into_iter().collect::<Vec<_>>(), ["kept.txt"]);
}

#[tokio::test]
async fn a_deleted_document_cannot_be_acted_on() {
    let server = TestServer::start().await;
    let file = upload_from_workfront(&server, "/", "gone.txt", "doc-9", "ver-9").await;
    server.delete("id", id_of(&file)).await;
    let reply =
        action(&server, Method::GET, &[("name", "archive"), ("documentId", "doc-9"), ("documentVersionId", "ver-9")])
            .await;
    assert_failure(&reply, 404);
    assert!(server.list("/").await.is_empty(), "no Archive folder for nothing");
}
