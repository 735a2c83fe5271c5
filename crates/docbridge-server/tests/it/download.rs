//! `/download` (C11): the bytes with their headers, single ranges, conditional requests, and
//! large files byte for byte.

use reqwest::{Method, StatusCode};

use crate::support::{TestServer, assert_error, id_of, pseudo_random, send};

const TEXT: &[u8] = b"0123456789abcdefghij";

async fn ranged(server: &TestServer, id: &str, range: &str) -> crate::support::Reply {
    send(server.call(Method::GET, "download", &[("id", id)]).header("range", range)).await
}

#[tokio::test]
async fn serves_the_bytes_with_every_header() {
    let server = TestServer::start().await;
    let file = server.upload("/", "résumé 2024.txt", TEXT).await;
    let reply = server.download(id_of(&file)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], TEXT);
    assert!(reply.must("content-type").starts_with("text/plain"), "{:?}", reply.header("content-type"));
    assert_eq!(reply.must("content-length"), TEXT.len().to_string());
    let disposition = reply.must("content-disposition");
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(disposition.contains("filename*=UTF-8''r%C3%A9sum%C3%A9%202024.txt"), "{disposition}");
    let etag = reply.must("etag");
    assert!(etag.starts_with('"') && etag.ends_with('"') && etag.len() > 2, "strong ETag: {etag}");
    httpdate::parse_http_date(reply.must("last-modified")).expect("Last-Modified is an HTTP date");
    assert_eq!(reply.must("accept-ranges"), "bytes");
}

#[tokio::test]
async fn the_type_follows_the_item() {
    let server = TestServer::start().await;
    let pdf = server.upload("/", "scan.pdf", "%PDF-1.7").await;
    let reply = server.download(id_of(&pdf)).await;
    assert_eq!(reply.must("content-type"), "application/pdf");
    let meta = server.metadata(id_of(&pdf)).await.json();
    assert_eq!(meta["mimeType"], "application/pdf");
}

#[tokio::test]
async fn a_single_range_gets_206() {
    let server = TestServer::start().await;
    let file = server.upload("/", "range.txt", TEXT).await;
    let id = id_of(&file);
    let cases: [(&str, &[u8], &str); 5] = [
        ("bytes=2-5", b"2345", "bytes 2-5/20"),
        ("bytes=15-", b"fghij", "bytes 15-19/20"),
        ("bytes=-3", b"hij", "bytes 17-19/20"),
        ("bytes=18-100", b"ij", "bytes 18-19/20"),
        ("bytes=-50", TEXT, "bytes 0-19/20"),
    ];
    for (range, body, content_range) in cases {
        let reply = ranged(&server, id, range).await;
        assert_eq!(reply.status, StatusCode::PARTIAL_CONTENT, "{range}");
        assert_eq!(&reply.body[..], body, "{range}");
        assert_eq!(reply.must("content-range"), content_range, "{range}");
        assert_eq!(reply.must("content-length"), body.len().to_string(), "{range}");
    }
}

#[tokio::test]
async fn an_unsatisfiable_range_gets_416() {
    let server = TestServer::start().await;
    let file = server.upload("/", "short.txt", TEXT).await;
    for range in ["bytes=20-", "bytes=100-200", "bytes=-0"] {
        let reply = ranged(&server, id_of(&file), range).await;
        assert_eq!(reply.status, StatusCode::RANGE_NOT_SATISFIABLE, "{range}");
        assert_eq!(reply.must("content-range"), "bytes */20", "{range}");
    }
}

#[tokio::test]
async fn a_malformed_range_gets_the_whole_file() {
    let server = TestServer::start().await;
    let file = server.upload("/", "whole.txt", TEXT).await;
    for range in ["bytes=5-2", "pages=1-2", "bytes=a-b", "bytes=0-1,4-5"] {
        let reply = ranged(&server, id_of(&file), range).await;
        assert_eq!(reply.status, StatusCode::OK, "{range}");
        assert_eq!(&reply.body[..], TEXT, "{range}");
    }
}

#[tokio::test]
async fn conditional_requests_get_304() {
    let server = TestServer::start().await;
    let file = server.upload("/", "cached.txt", TEXT).await;
    let first = server.download(id_of(&file)).await;
    let etag = first.must("etag").to_owned();
    let last_modified = first.must("last-modified").to_owned();

    let conditional = |name: &'static str, value: String| {
        send(server.call(Method::GET, "download", &[("id", id_of(&file))]).header(name, value))
    };
    let reply = conditional("if-none-match", etag.clone()).await;
    assert_eq!(reply.status, StatusCode::NOT_MODIFIED);
    assert!(reply.body.is_empty());
    assert_eq!(reply.must("etag"), etag);
    assert_eq!(conditional("if-none-match", format!("\"other\", {etag}")).await.status, StatusCode::NOT_MODIFIED);
    assert_eq!(conditional("if-none-match", "\"something-else\"".into()).await.status, StatusCode::OK);
    assert_eq!(conditional("if-modified-since", last_modified).await.status, StatusCode::NOT_MODIFIED);
    assert_eq!(conditional("if-modified-since", "Sat, 01 Jan 2000 00:00:00 GMT".into()).await.status, StatusCode::OK);

    // A range applies only while the representation is the one the client holds.
    let if_range = |validator: String| {
        send(
            server
                .call(Method::GET, "download", &[("id", id_of(&file))])
                .header("range", "bytes=0-1")
                .header("if-range", validator),
        )
    };
    assert_eq!(if_range(etag.clone()).await.status, StatusCode::PARTIAL_CONTENT);
    let stale = if_range("\"stale\"".into()).await;
    assert_eq!(stale.status, StatusCode::OK);
    assert_eq!(&stale.body[..], TEXT);

    // New content is a new representation.
    assert_eq!(server.put_bytes(id_of(&file), "changed").await.status, StatusCode::OK);
    let reply = conditional("if-none-match", etag.clone()).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], b"changed");
    assert_ne!(reply.must("etag"), etag);
}

#[tokio::test]
async fn folders_cannot_be_downloaded() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "box").await;
    assert_error(&server.download(id_of(&folder)).await, 400);
    assert_error(&server.download("/").await, 400);
    assert_error(&server.download("AAAAAAAAAAAAAAAAAAAAAA").await, 404);
    assert_error(&server.get("download", &[]).await, 400);
}

#[tokio::test]
async fn an_empty_file_downloads_empty() {
    let server = TestServer::start().await;
    let file = server.upload("/", "empty.txt", Vec::new()).await;
    let reply = server.download(id_of(&file)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.body.is_empty());
    assert_eq!(reply.must("content-length"), "0");
}

#[tokio::test]
async fn large_files_round_trip_byte_for_byte() {
    let server = TestServer::start().await;
    let bytes = pseudo_random(6 * 1024 * 1024 + 123, 7);
    let file = server.upload("/", "large.bin", bytes.clone()).await;
    let meta = server.metadata(id_of(&file)).await.json();
    assert_eq!(meta["size"], bytes.len());
    let reply = server.download(id_of(&file)).await;
    assert_eq!(reply.must("content-length"), bytes.len().to_string());
    assert!(reply.body[..] == bytes[..], "the download differs from the upload");
    let tail = ranged(&server, id_of(&file), "bytes=-1000").await;
    assert!(tail.body[..] == bytes[bytes.len() - 1000..]);
    let middle = ranged(&server, id_of(&file), "bytes=3000000-3000099").await;
    assert!(middle.body[..] == bytes[3_000_000..3_000_100]);
}
