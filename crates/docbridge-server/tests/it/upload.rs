//! `/uploadInit` and `/upload` (C13, C14): reservations, name rules and conflicts, atomic
//! replacement, multipart bodies, size limits, and cut uploads that leave nothing behind.

use std::collections::BTreeSet;

use bytes::Bytes;
use docbridge_documents::ConflictPolicy;
use reqwest::{Method, StatusCode};

use crate::support::{
    Options, TestServer, assert_error, assert_metadata, assert_upload_fail, find, id_of, ids, send, titles,
    visible_files,
};

/// A body that yields `chunks` and then fails, as a connection cut in the middle would.
fn cut_body(chunks: Vec<&'static [u8]>) -> reqwest::Body {
    let mut items: Vec<Result<Bytes, std::io::Error>> = chunks.into_iter().map(|c| Ok(Bytes::from_static(c))).collect();
    items.push(Err(std::io::Error::other("connection cut")));
    reqwest::Body::wrap_stream(futures::stream::iter(items))
}

/// A body of `len` bytes streamed in chunks, without a Content-Length.
fn streamed(len: usize) -> reqwest::Body {
    let chunks: Vec<Result<Bytes, std::io::Error>> =
        (0..len).step_by(100).map(|start| Ok(Bytes::from(vec![b'z'; (len - start).min(100)]))).collect();
    reqwest::Body::wrap_stream(futures::stream::iter(chunks))
}

#[tokio::test]
async fn a_reservation_is_not_listed_until_its_bytes_arrive() {
    let server = TestServer::start().await;
    let init = server.upload_init("/", "pending.pdf").await;
    assert_metadata(&init, &server.base);
    assert_eq!(init["title"], "pending.pdf");
    assert_eq!(init["kind"], "file");
    assert_eq!(init["mimeType"], "application/pdf");
    assert!(server.list("/").await.is_empty(), "a reservation is not an item yet");
    assert!(server.search(&[("query", "pending")]).await.is_empty());
    assert!(visible_files(&server.docs()).is_empty());

    let reply = server.put_bytes(id_of(&init), "%PDF-1.4 body").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), serde_json::json!({"result": "success"}));
    let listing = server.list("/").await;
    assert_eq!(ids(&listing), [id_of(&init)], "the item keeps the reserved ID");
    assert_eq!(listing[0]["size"], 13);
    assert_eq!(std::fs::read(server.docs().join("pending.pdf")).unwrap(), b"%PDF-1.4 body");
}

#[tokio::test]
async fn bad_file_names_are_refused() {
    let server = TestServer::start().await;
    let long = "x".repeat(256);
    let long_unicode = "é".repeat(128);
    // Bidirectional overrides and zero-width characters make a name look like another one
    // (issue #13): `invoice\u{202E}fdp.exe` shows as `invoiceexe.pdf`.
    let disguised =
        ["invoice\u{202E}fdp.exe", "a\u{200B}b.txt", "\u{FEFF}bom.txt", "x\u{2067}y.txt", "\u{200F}rtl.txt"];
    for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", "/", "../escape.txt", "line\nbreak.txt", &long, &long_unicode]
        .into_iter()
        .chain(disguised)
    {
        let reply = send(server.call(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", bad)])).await;
        assert_error(&reply, 400);
    }
    let reply = send(server.call(Method::POST, "uploadInit", &[("parentId", "/")])).await;
    assert_error(&reply, 400);
    // 255 bytes is allowed.
    let longest = "y".repeat(251) + ".txt";
    server.upload("/", &longest, "ok").await;
    assert!(visible_files(&server.docs()).contains(&longest));
    assert_eq!(visible_files(&server.docs()).len(), 1, "nothing else was created");
}

#[tokio::test]
async fn a_taken_name_gets_a_free_one() {
    let server = TestServer::start().await;
    let first = server.upload("/", "report.pdf", "first").await;
    let second = server.upload("/", "report.pdf", "second").await;
    assert_eq!(second["title"], "report (1).pdf");
    assert_ne!(first["id"], second["id"]);
    // A name held by a reservation that awaits its bytes is taken too.
    let pending = server.upload_init("/", "report.pdf").await;
    assert_eq!(pending["title"], "report (2).pdf");
    let another = server.upload_init("/", "report.pdf").await;
    assert_eq!(another["title"], "report (3).pdf");
    // And a folder's name is taken as well.
    server.create_folder("/", "plans").await;
    assert_eq!(server.upload_init("/", "plans").await["title"], "plans (1)");

    assert_eq!(server.content(id_of(&first)).await, b"first");
    assert_eq!(server.content(id_of(&second)).await, b"second");
}

#[tokio::test]
async fn a_repeated_upload_replaces_the_content_under_the_same_id() {
    let server = TestServer::start().await;
    let file = server.upload("/", "versioned.txt", "version one").await;
    let reply = server.put_bytes(id_of(&file), "version two, longer").await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), serde_json::json!({"result": "success"}));
    let listing = server.list("/").await;
    assert_eq!(ids(&listing), [id_of(&file)]);
    assert_eq!(listing[0]["size"], 19);
    assert_eq!(server.content(id_of(&file)).await, b"version two, longer");
    assert_eq!(visible_files(&server.docs()), BTreeSet::from(["versioned.txt".to_owned()]));
}

#[tokio::test]
async fn uploads_into_a_folder() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "Inbox").await;
    let file = server.upload(id_of(&folder), "mail.eml", "From: a").await;
    assert_eq!(ids(&server.list(id_of(&folder)).await), [id_of(&file)]);
    assert!(server.docs().join("Inbox/mail.eml").is_file());
    assert_error(
        &send(server.call(Method::POST, "uploadInit", &[("parentId", id_of(&file)), ("filename", "x.txt")])).await,
        400,
    );
    assert_error(
        &send(server.call(
            Method::POST,
            "uploadInit",
            &[("parentId", "AAAAAAAAAAAAAAAAAAAAAA"), ("filename", "x.txt")],
        ))
        .await,
        404,
    );
}

#[tokio::test]
async fn a_multipart_body_contributes_only_its_file_part() {
    let server = TestServer::start().await;
    let init = server.upload_init("/", "form.bin").await;
    let boundary = "----docbridgeTestBoundary7MA4YWxk";
    let content: &[u8] = b"\x00\x01binary\r\n--not-a-boundary\r\n\xff";
    let mut body = Vec::new();
    body.extend_from_slice(
        format!("--{boundary}\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\nignore me\r\n").as_bytes(),
    );
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"form.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let reply = send(
        server
            .call(Method::PUT, "upload", &[("id", id_of(&init))])
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(body),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(server.content(id_of(&init)).await, content);
}

#[tokio::test]
async fn a_raw_body_is_stored_whatever_its_type() {
    let server = TestServer::start().await;
    let init = server.upload_init("/", "raw.json").await;
    let reply = send(
        server
            .call(Method::PUT, "upload", &[("id", id_of(&init))])
            .header("content-type", "application/x-www-form-urlencoded")
            .body("a=1&b=2"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(server.content(id_of(&init)).await, b"a=1&b=2");
}

#[tokio::test]
async fn post_is_accepted_for_upload() {
    let server = TestServer::start().await;
    let init = server.upload_init("/", "posted.txt").await;
    let reply = send(server.call(Method::POST, "upload", &[("id", id_of(&init))]).body("posted")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.json(), serde_json::json!({"result": "success"}));
    assert_eq!(server.content(id_of(&init)).await, b"posted");
}

#[tokio::test]
async fn uploading_to_an_unknown_id_fails() {
    let server = TestServer::start().await;
    assert_upload_fail(&server.put_bytes("AAAAAAAAAAAAAAAAAAAAAA", "bytes").await, 404);
    assert_upload_fail(&server.put_bytes("../../etc/passwd", "bytes").await, 404);
    assert_upload_fail(&send(server.call(Method::PUT, "upload", &[]).body("bytes")).await, 400);
    // An ID that names a folder was never reserved for an upload.
    let folder = server.create_folder("/", "folder").await;
    assert_upload_fail(&server.put_bytes(id_of(&folder), "bytes").await, 404);
    assert!(visible_files(&server.docs()).iter().all(|f| f == "folder"));
}

#[tokio::test]
async fn an_oversized_upload_is_refused_and_changes_nothing() {
    let server = TestServer::with_options(Options { max_upload_bytes: 1000, ..Options::default() }).await;
    let file = server.upload("/", "limited.txt", vec![b'a'; 600]).await;
    // Declared too large up front.
    assert_upload_fail(&server.put_bytes(id_of(&file), vec![b'b'; 1001]).await, 413);
    // Streamed without a length, found too large on the way.
    let reply = send(server.call(Method::PUT, "upload", &[("id", id_of(&file))]).body(streamed(5000))).await;
    assert_upload_fail(&reply, 413);
    assert_eq!(server.content(id_of(&file)).await, vec![b'a'; 600]);
    assert_eq!(server.metadata(id_of(&file)).await.json()["size"], 600);
    // Exactly the limit is fine.
    assert_eq!(server.put_bytes(id_of(&file), vec![b'c'; 1000]).await.status, StatusCode::OK);

    let fresh = server.upload_init("/", "never.txt").await;
    assert_upload_fail(
        &send(server.call(Method::PUT, "upload", &[("id", id_of(&fresh))]).body(streamed(3000))).await,
        413,
    );
    assert_eq!(titles(&server.list("/").await), ["limited.txt"]);
    assert_eq!(visible_files(&server.docs()), BTreeSet::from(["limited.txt".to_owned()]));
}

#[tokio::test]
async fn a_cut_upload_leaves_the_old_content_and_no_trace() {
    let server = TestServer::start().await;
    let file = server.upload("/", "keep.txt", "original content").await;
    let result = server
        .call(Method::PUT, "upload", &[("id", id_of(&file))])
        .body(cut_body(vec![b"partial ", b"new ", b"content"]))
        .send()
        .await;
    if let Ok(response) = result {
        assert_ne!(response.status(), StatusCode::OK, "a cut upload cannot succeed");
    }
    assert_eq!(server.content(id_of(&file)).await, b"original content");
    let listing = server.list("/").await;
    assert_eq!(titles(&listing), ["keep.txt"]);
    assert_eq!(listing[0]["size"], 16);
    assert_eq!(visible_files(&server.docs()), BTreeSet::from(["keep.txt".to_owned()]));

    // A cut first upload leaves no item at all, and the reservation can still be completed.
    let fresh = server.upload_init("/", "fresh.txt").await;
    let _ = server.call(Method::PUT, "upload", &[("id", id_of(&fresh))]).body(cut_body(vec![b"half"])).send().await;
    assert_eq!(titles(&server.list("/").await), ["keep.txt"]);
    assert_eq!(visible_files(&server.docs()), BTreeSet::from(["keep.txt".to_owned()]));
    assert_eq!(server.put_bytes(id_of(&fresh), "whole").await.status, StatusCode::OK);
    assert_eq!(server.content(id_of(&fresh)).await, b"whole");
}

#[tokio::test]
async fn workfront_ids_are_recorded() {
    let server = TestServer::start().await;
    let init = server
        .ok_json(
            Method::POST,
            "uploadInit",
            &[
                ("parentId", "/"),
                ("filename", "linked.docx"),
                ("documentId", "WF-DOC-1"),
                ("documentVersionId", "WF-VER-1"),
            ],
        )
        .await;
    assert_eq!(server.put_bytes(id_of(&init), "doc").await.status, StatusCode::OK);
    let reservation = server
        .registry
        .reservation(server.integration().await.id, &docbridge_protocol::ItemId::parse("id", id_of(&init)).unwrap())
        .await
        .unwrap()
        .expect("recorded");
    assert_eq!(reservation.wf_document_id.as_deref(), Some("WF-DOC-1"));
    assert_eq!(reservation.wf_document_version_id.as_deref(), Some("WF-VER-1"));
    assert!(reservation.uploaded_at.is_some());
}

#[tokio::test]
async fn upload_init_reads_a_form_body() {
    let server = TestServer::start().await;
    let reply = server.send_form(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "from form.txt")]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let init = reply.json();
    assert_eq!(init["title"], "from form.txt");
    assert_eq!(server.put_bytes(id_of(&init), "x").await.status, StatusCode::OK);
    assert!(find(&server.list("/").await, "from form.txt").is_some());
}

#[tokio::test]
async fn concurrent_reservations_of_one_name_all_get_their_own() {
    let server = TestServer::start().await;
    let inits = futures::future::join_all((0..6).map(|_| server.upload_init("/", "same.txt"))).await;
    let names: BTreeSet<&str> = inits.iter().map(|i| i["title"].as_str().unwrap()).collect();
    let expected: BTreeSet<&str> =
        ["same.txt", "same (1).txt", "same (2).txt", "same (3).txt", "same (4).txt", "same (5).txt"].into();
    assert_eq!(names, expected);
    let uploads =
        futures::future::join_all(inits.iter().map(|i| server.put_bytes(id_of(i), id_of(i).to_owned()))).await;
    assert!(uploads.iter().all(|r| r.status == StatusCode::OK));
    for init in &inits {
        assert_eq!(server.content(id_of(init)).await, id_of(init).as_bytes());
    }
    assert_eq!(server.list("/").await.len(), 6);
}

#[tokio::test]
async fn an_upload_to_a_deleted_item_does_not_bring_it_back() {
    let server = TestServer::start().await;
    let file = server.upload("/", "deleted.txt", "before").await;
    server.delete("id", id_of(&file)).await;
    assert_upload_fail(&server.put_bytes(id_of(&file), "after").await, 404);
    server.assert_empty().await;
}

#[tokio::test]
async fn an_expired_reservation_takes_no_bytes_and_holds_no_name() {
    let server =
        TestServer::with_options(Options { reservation_ttl: chrono::Duration::seconds(-1), ..Options::default() })
            .await;
    let stale = server.upload_init("/", "late.txt").await;
    assert_upload_fail(&server.put_bytes(id_of(&stale), "too late").await, 404);
    assert!(server.list("/").await.is_empty());
    let again = server.upload_init("/", "late.txt").await;
    assert_eq!(again["title"], "late.txt", "an expired reservation does not hold its name");
}

#[tokio::test]
async fn the_reject_policy_refuses_a_taken_name() {
    let server =
        TestServer::with_options(Options { conflict_policy: ConflictPolicy::Reject, ..Options::default() }).await;
    server.upload("/", "taken.pdf", "first").await;
    assert_error(
        &send(server.call(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "taken.pdf")])).await,
        409,
    );
    server.upload_init("/", "pending.pdf").await;
    assert_error(
        &send(server.call(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "pending.pdf")])).await,
        409,
    );
    assert_eq!(titles(&server.list("/").await), ["taken.pdf"]);
}

#[tokio::test]
async fn the_replace_policy_keeps_the_existing_id() {
    let server =
        TestServer::with_options(Options { conflict_policy: ConflictPolicy::Replace, ..Options::default() }).await;
    let first = server.upload("/", "report.pdf", "first").await;
    let second = server.upload("/", "report.pdf", "second version").await;
    assert_eq!(second["id"], first["id"]);
    assert_eq!(second["title"], "report.pdf");
    let listing = server.list("/").await;
    assert_eq!(ids(&listing), [id_of(&first)]);
    assert_eq!(server.content(id_of(&first)).await, b"second version");
    server.create_folder("/", "folder").await;
    assert_error(
        &send(server.call(Method::POST, "uploadInit", &[("parentId", "/"), ("filename", "folder")])).await,
        409,
    );
}

#[tokio::test]
async fn a_reservation_follows_its_folder_when_renamed() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "Before").await;
    let init = server.upload_init(id_of(&folder), "inside.txt").await;
    let reply = send(server.call(Method::PUT, "rename", &[("id", id_of(&folder)), ("name", "After")])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(server.put_bytes(id_of(&init), "inside").await.status, StatusCode::OK);
    assert_eq!(ids(&server.list(id_of(&folder)).await), [id_of(&init)]);
    assert_eq!(std::fs::read(server.docs().join("After/inside.txt")).unwrap(), b"inside");
}

#[tokio::test]
async fn an_upload_into_a_folder_deleted_meanwhile_fails_cleanly() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "Doomed").await;
    let init = server.upload_init(id_of(&folder), "orphan.txt").await;
    server.delete("folderId", id_of(&folder)).await;
    let reply = server.put_bytes(id_of(&init), "orphan").await;
    assert!(matches!(reply.status.as_u16(), 404 | 409), "{} {}", reply.status, reply.text());
    assert_upload_fail(&reply, reply.status.as_u16());
    server.assert_empty().await;
}

#[tokio::test]
async fn a_reserved_name_is_not_given_to_a_folder_or_a_rename() {
    let server = TestServer::start().await;
    let init = server.upload_init("/", "reserved.pdf").await;
    let other = server.upload("/", "other.pdf", "other").await;
    let folder = send(server.call(Method::POST, "createFolder", &[("parentId", "/"), ("name", "reserved.pdf")])).await;
    assert_error(&folder, 409);
    let rename = send(server.call(Method::PUT, "rename", &[("id", id_of(&other)), ("name", "reserved.pdf")])).await;
    assert_eq!(rename.status, StatusCode::CONFLICT, "{}", rename.text());
    let reply = server.put_bytes(id_of(&init), "%PDF").await;
    assert_eq!(reply.status, StatusCode::OK, "the reservation holds its name: {}", reply.text());
    assert_eq!(titles(&server.list("/").await), ["other.pdf", "reserved.pdf"]);
}

/// A multipart body with one file part.
fn multipart(boundary: &str, filename: &str, content: &[u8]) -> Vec<u8> {
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{filename}\"\r\nContent-Type: application/octet-stream\r\n\r\n").into_bytes();
    body.extend_from_slice(content);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    body
}

#[tokio::test]
async fn the_limit_counts_the_file_not_its_multipart_wrapping() {
    let server = TestServer::with_options(Options { max_upload_bytes: 1000, ..Options::default() }).await;
    let init = server.upload_init("/", "exact.bin").await;
    let boundary = "XyZboundary";
    let content = vec![b'q'; 1000];
    let reply = send(
        server
            .call(Method::PUT, "upload", &[("id", id_of(&init))])
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(multipart(boundary, "exact.bin", &content)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "a 1000-byte file under a 1000-byte limit: {}", reply.text());
    assert_eq!(server.content(id_of(&init)).await, content);
    let reply = send(
        server
            .call(Method::PUT, "upload", &[("id", id_of(&init))])
            .header("content-type", format!("multipart/form-data; boundary={boundary}"))
            .body(multipart(boundary, "exact.bin", &[b'r'; 1001])),
    )
    .await;
    assert_upload_fail(&reply, 413);
    assert_eq!(server.content(id_of(&init)).await, content);
}

#[tokio::test]
async fn readers_never_see_an_upload_in_progress() {
    let server = TestServer::start().await;
    let file = server.upload("/", "live.txt", "old content").await;
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(1);
    let body = reqwest::Body::wrap_stream(futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    }));
    let upload = tokio::spawn(server.call(Method::PUT, "upload", &[("id", id_of(&file))]).body(body).send());
    tx.send(Ok(Bytes::from_static(b"new content, first half; "))).await.unwrap();
    assert_eq!(server.content(id_of(&file)).await, b"old content");
    assert_eq!(server.metadata(id_of(&file)).await.json()["size"], 11);
    assert_eq!(titles(&server.list("/").await), ["live.txt"]);
    assert_eq!(visible_files(&server.docs()), BTreeSet::from(["live.txt".to_owned()]));
    tx.send(Ok(Bytes::from_static(b"second half"))).await.unwrap();
    drop(tx);
    let response = upload.await.unwrap().expect("the upload completes");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(server.content(id_of(&file)).await, b"new content, first half; second half");
}
