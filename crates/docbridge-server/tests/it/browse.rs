//! `/metadata` and `/files` (C6, C7, C9): the root's aliases, the exact metadata object,
//! ordering, paging, bad input, hostile IDs, and stable IDs for files copied in by hand.

use reqwest::{Method, StatusCode};

use crate::support::{TestServer, assert_error, assert_metadata, find, id_of, ids, is_wire_id, send, titles};

/// A PNG's first bytes: enough for type detection by content.
const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

#[tokio::test]
async fn absent_empty_and_slash_parent_all_mean_the_root() {
    let server = TestServer::start().await;
    server.create_folder("/", "folder").await;
    server.upload("/", "file.txt", "abc").await;
    let slash = server.list("/").await;
    assert_eq!(titles(&slash), ["folder", "file.txt"]);
    let absent = server.ok_json(Method::GET, "files", &[]).await;
    let empty = server.ok_json(Method::GET, "files", &[("parentId", "")]).await;
    for other in [absent, empty] {
        let other = other.as_array().expect("an array").clone();
        assert_eq!(ids(&other), ids(&slash));
    }
}

#[tokio::test]
async fn the_root_has_metadata() {
    let server = TestServer::start().await;
    let root = server.metadata("/").await;
    assert_eq!(root.status, StatusCode::OK, "{}", root.text());
    let root = root.json();
    assert_metadata(&root, &server.base);
    assert_eq!(root["id"], "/");
    assert_eq!(root["kind"], "folder");
    assert_eq!(root["title"], "Default");
}

#[tokio::test]
async fn metadata_carries_exactly_the_nine_fields() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "Reports").await;
    let file = server.upload(id_of(&folder), "notes.txt", "twelve bytes").await;

    let file_meta = server.metadata(id_of(&file)).await.json();
    assert_metadata(&file_meta, &server.base);
    assert_eq!(file_meta["id"], file["id"]);
    assert_eq!(file_meta["title"], "notes.txt");
    assert_eq!(file_meta["kind"], "file");
    assert_eq!(file_meta["size"], 12);
    assert_eq!(file_meta["mimeType"], "text/plain");
    assert_eq!(file_meta["readOnly"], false);

    let folder_meta = server.metadata(id_of(&folder)).await.json();
    assert_metadata(&folder_meta, &server.base);
    assert_eq!(folder_meta["kind"], "folder");
    assert_eq!(folder_meta["title"], "Reports");
    assert_eq!(folder_meta["size"], 0);
    assert_eq!(folder_meta["mimeType"], "");
    assert_eq!(folder_meta["downloadLink"], "");

    // The listing shows the same item the same way.
    let listed = server.list(id_of(&folder)).await;
    assert_eq!(listed.len(), 1);
    assert_metadata(&listed[0], &server.base);
    for field in ["id", "title", "kind", "size", "mimeType", "readOnly", "dateModified"] {
        assert_eq!(listed[0][field], file_meta[field], "{field}");
    }
}

#[tokio::test]
async fn mime_types_come_from_the_name_then_the_content() {
    let server = TestServer::start().await;
    let pdf = server.upload("/", "report.PDF", "%PDF-1.4 not really").await;
    let sniffed = server.upload("/", "picture", PNG_MAGIC).await;
    let unknown = server.upload("/", "blob.zzzunknown", "plain bytes").await;
    assert_eq!(mime_of(&server, &pdf).await, "application/pdf");
    assert_eq!(mime_of(&server, &sniffed).await, "image/png");
    assert_eq!(mime_of(&server, &unknown).await, "application/octet-stream");
}

async fn mime_of(server: &TestServer, item: &serde_json::Value) -> String {
    server.metadata(id_of(item)).await.json()["mimeType"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn listings_put_folders_first_then_names_case_insensitively_then_ids() {
    let server = TestServer::start().await;
    for name in ["beta", "Alpha", "gamma"] {
        server.create_folder("/", name).await;
    }
    for name in ["c.txt", "B.txt", "a.txt", "A.txt", "_first.txt"] {
        server.upload("/", name, name).await;
    }
    let listing = server.list("/").await;
    let names = titles(&listing);
    assert_eq!(&names[..4], ["Alpha", "beta", "gamma", "_first.txt"]);
    assert_eq!(&names[6..], ["B.txt", "c.txt"]);
    // `a.txt` and `A.txt` compare equal without case: the ID decides.
    let tie: Vec<&str> = listing[4..6].iter().map(id_of).collect();
    let mut sorted = tie.clone();
    sorted.sort_unstable();
    assert_eq!(tie, sorted, "equal names are ordered by ID");
    let mut pair = names[4..6].to_vec();
    pair.sort_unstable();
    assert_eq!(pair, ["A.txt", "a.txt"]);
}

#[tokio::test]
async fn max_and_offset_page_through_a_folder() {
    let server = TestServer::start().await;
    for i in 0..7 {
        server.create_folder("/", &format!("folder {i}")).await;
    }
    let all = server.list("/").await;
    assert_eq!(all.len(), 7, "without max the whole folder comes back");
    assert_eq!(ids(&page(&server, &[("max", "3"), ("offset", "0")]).await), ids(&all[0..3]));
    assert_eq!(ids(&page(&server, &[("max", "3"), ("offset", "3")]).await), ids(&all[3..6]));
    assert_eq!(ids(&page(&server, &[("max", "3"), ("offset", "6")]).await), ids(&all[6..7]));
    assert!(page(&server, &[("max", "3"), ("offset", "7")]).await.is_empty());
    assert!(page(&server, &[("max", "0")]).await.is_empty());
    assert_eq!(ids(&page(&server, &[("max", "100"), ("offset", "2")]).await), ids(&all[2..]));
    assert_eq!(ids(&page(&server, &[("offset", "5")]).await), ids(&all[5..]));
    assert_eq!(ids(&page(&server, &[("max", ""), ("offset", "")]).await), ids(&all));
}

async fn page(server: &TestServer, paging: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let mut query = vec![("parentId", "/")];
    query.extend_from_slice(paging);
    crate::support::array(server.ok_json(Method::GET, "files", &query).await)
}

#[tokio::test]
async fn bad_max_or_offset_is_a_400() {
    let server = TestServer::start().await;
    for param in ["max", "offset"] {
        for bad in ["abc", "-1", "1.5", "1e3", "0x10", "99999999999999999999999"] {
            let reply = server.get("files", &[("parentId", "/"), (param, bad)]).await;
            assert_error(&reply, 400);
            assert!(
                reply.json()["error"].as_str().unwrap().contains(param),
                "the message names {param}: {}",
                reply.text()
            );
        }
    }
}

#[tokio::test]
async fn a_file_as_parent_is_a_400_and_an_unknown_id_a_404() {
    let server = TestServer::start().await;
    let file = server.upload("/", "a.txt", "a").await;
    assert_error(&server.get("files", &[("parentId", id_of(&file))]).await, 400);
    assert_error(&server.get("files", &[("parentId", "AAAAAAAAAAAAAAAAAAAAAA")]).await, 404);
    assert_error(&server.metadata("AAAAAAAAAAAAAAAAAAAAAA").await, 404);
    assert_error(&server.metadata(&"x".repeat(64)).await, 404);
    assert_error(&server.get("metadata", &[]).await, 400);
}

#[tokio::test]
async fn hostile_ids_are_refused_cleanly() {
    let server = TestServer::start().await;
    std::fs::write(server.data_dir().join("secret.txt"), "outside the library").unwrap();
    let long = "x".repeat(65);
    let hostile = [
        "..",
        "../etc/passwd",
        "../secret.txt",
        "%2e%2e",
        "%2e%2e%2fsecret.txt",
        "/etc",
        "/etc/passwd",
        "a\0b",
        &long,
        "é",
        "日本",
        "a b",
        ".",
        "./",
        "\\..\\",
    ];
    let endpoints: [(&str, &str); 5] =
        [("metadata", "id"), ("files", "parentId"), ("download", "id"), ("thumbnail", "id"), ("search", "parentId")];
    for (endpoint, param) in endpoints {
        for bad in hostile {
            let reply = server.get(endpoint, &[(param, bad), ("query", "secret")]).await;
            // An ID is opaque to its caller: a malformed one is an ID of no item (C6).
            assert_eq!(reply.status.as_u16(), 404, "{endpoint}?{param}={bad:?} answered {}", reply.text());
            assert_error(&reply, 404);
            assert!(!reply.text().contains("outside the library"));
        }
    }
    // The same, percent-encoded by hand rather than by the client.
    for raw in ["id=%2e%2e", "id=..%2f..%2fetc%2fpasswd", "id=%00", "id=%ff%fe", "id=%c3%a9"] {
        let reply = send(
            server
                .http
                .get(format!("{}/metadata?{raw}", server.api()))
                .header("apiKey", &server.key)
                .header("username", crate::support::USER),
        )
        .await;
        assert!(
            matches!(reply.status.as_u16(), 400 | 404),
            "metadata?{raw} answered {} {}",
            reply.status,
            reply.text()
        );
        assert_error(&reply, reply.status.as_u16());
    }
}

#[tokio::test]
async fn files_copied_in_by_hand_get_stable_ids() {
    let server = TestServer::start().await;
    std::fs::write(server.docs().join("copied.txt"), "copied by hand").unwrap();
    std::fs::create_dir_all(server.docs().join("Imported/Deeper")).unwrap();
    std::fs::write(server.docs().join("Imported/Deeper/inner.csv"), "a,b\n1,2\n").unwrap();

    let first = server.list("/").await;
    assert_eq!(titles(&first), ["Imported", "copied.txt"]);
    for item in &first {
        assert_metadata(item, &server.base);
        assert!(is_wire_id(id_of(item)));
    }
    let copied = find(&first, "copied.txt").unwrap().clone();
    assert_eq!(copied["size"], 14);
    assert_eq!(server.content(id_of(&copied)).await, b"copied by hand");
    let imported = find(&first, "Imported").unwrap().clone();
    let deeper = server.list(id_of(&imported)).await;
    assert_eq!(titles(&deeper), ["Deeper"]);
    let inner = server.list(id_of(&deeper[0])).await;
    assert_eq!(titles(&inner), ["inner.csv"]);

    let again = server.list("/").await;
    assert_eq!(ids(&again), ids(&first), "a second listing keeps the IDs");

    let server = server.restart().await;
    let after_restart = server.list("/").await;
    assert_eq!(ids(&after_restart), ids(&first), "a restart keeps the IDs");
    assert_eq!(ids(&server.list(id_of(&deeper[0])).await), ids(&inner));
    assert_eq!(server.metadata(id_of(&copied)).await.json()["title"], "copied.txt");
}

#[tokio::test]
async fn ids_survive_a_restart() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "kept").await;
    let file = server.upload(id_of(&folder), "kept.bin", vec![1u8, 2, 3]).await;
    let server = server.restart().await;
    let listing = server.list(id_of(&folder)).await;
    assert_eq!(ids(&listing), [id_of(&file)]);
    assert_eq!(server.content(id_of(&file)).await, [1, 2, 3]);
}

#[tokio::test]
async fn changes_made_by_hand_show_in_metadata() {
    let server = TestServer::start().await;
    let file = server.upload("/", "edited.txt", "short").await;
    std::fs::write(server.docs().join("edited.txt"), "a good deal longer now").unwrap();
    let meta = server.metadata(id_of(&file)).await.json();
    assert_eq!(meta["size"], 22);
    assert_eq!(server.content(id_of(&file)).await, b"a good deal longer now");

    std::fs::remove_file(server.docs().join("edited.txt")).unwrap();
    assert_error(&server.metadata(id_of(&file)).await, 404);
    assert!(server.list("/").await.is_empty());
}

#[tokio::test]
async fn the_bookkeeping_folder_is_never_listed() {
    let server = TestServer::start().await;
    let file = server.upload("/", "gone.txt", "x").await;
    let reply = send(server.call(Method::PUT, "delete", &[("id", id_of(&file))])).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert!(server.docs().join(".docbridge").exists(), "the trash lives in .docbridge");
    assert!(server.list("/").await.is_empty());
    assert!(server.search(&[("query", "docbridge")]).await.is_empty());
    assert!(server.search(&[("query", "trash")]).await.is_empty());
}

#[tokio::test]
async fn symbolic_links_lead_nowhere() {
    let server = TestServer::start().await;
    let outside = server.data_dir().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::fs::write(outside.join("private.txt"), "private").unwrap();
    std::os::unix::fs::symlink(&outside, server.docs().join("linked folder")).unwrap();
    std::os::unix::fs::symlink(outside.join("private.txt"), server.docs().join("linked.txt")).unwrap();
    server.upload("/", "real.txt", "real").await;
    assert_eq!(titles(&server.list("/").await), ["real.txt"]);
    server.library().await.maintain(true).await.expect("maintenance runs");
    assert!(server.search(&[("query", "private")]).await.is_empty());
    assert!(server.search(&[("query", "linked")]).await.is_empty());
}
