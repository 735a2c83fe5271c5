//! Signed `viewLink` and `downloadLink` URLs (C8): opened without credentials, a preview page
//! and an attachment; tampered and expired links get a 403 page that says so.

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::{Options, Reply, TestServer, id_of, send};

async fn open(server: &TestServer, url: &str) -> Reply {
    send(server.http.get(url)).await
}

fn link(item: &Value, field: &str) -> String {
    item[field].as_str().unwrap_or_else(|| panic!("no {field} in {item}")).to_owned()
}

/// The link with one query parameter changed (or removed, for `None`).
fn with_param(url: &str, name: &str, value: Option<&str>) -> String {
    let mut parsed = url::Url::parse(url).expect("an absolute URL");
    let pairs: Vec<(String, String)> = parsed.query_pairs().map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    assert!(pairs.iter().any(|(k, _)| k == name), "{url} has no {name}");
    let mut query = parsed.query_pairs_mut();
    query.clear();
    for (key, original) in &pairs {
        match (key == name, value) {
            (false, _) => {
                query.append_pair(key, original);
            }
            (true, Some(value)) => {
                query.append_pair(key, value);
            }
            (true, None) => {}
        }
    }
    drop(query);
    parsed.to_string()
}

fn param(url: &str, name: &str) -> String {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("{url} has no {name}"))
}

/// Checks an HTML page of ours with this status.
fn assert_page(reply: &Reply, status: StatusCode) -> String {
    assert_eq!(reply.status, status, "{}", reply.text());
    assert!(reply.must("content-type").starts_with("text/html"), "{:?}", reply.header("content-type"));
    reply.text()
}

/// The `href` of the page's Download button, unescaped.
fn download_button(page: &str) -> String {
    let start = page.find("class=\"button\" href=\"").expect("a download button") + "class=\"button\" href=\"".len();
    let end = start + page[start..].find('"').expect("closing quote");
    page[start..end].replace("&#38;", "&")
}

#[tokio::test]
async fn a_view_link_opens_a_preview_page_without_credentials() {
    let server = TestServer::start().await;
    let file = server.upload("/", "notes.txt", "hello from the preview").await;
    let meta = server.metadata(id_of(&file)).await.json();
    let page = assert_page(&open(&server, &link(&meta, "viewLink")).await, StatusCode::OK);
    assert!(page.contains("notes.txt"), "{page}");
    assert!(page.contains("hello from the preview"), "{page}");
    assert!(page.contains("Download"), "{page}");
    let download = download_button(&page);
    assert!(download.starts_with(&format!("{}/links/download?", server.base)), "{download}");
    let reply = open(&server, &download).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], b"hello from the preview");
}

#[tokio::test]
async fn titles_are_escaped_on_the_page() {
    let server = TestServer::start().await;
    let file = server.upload("/", "a<b>&\"c\".txt", "<script>alert(1)</script>").await;
    let page = assert_page(&open(&server, &link(&file, "viewLink")).await, StatusCode::OK);
    assert!(page.contains("a&#60;b&#62;&#38;&#34;c&#34;.txt"), "{page}");
    assert!(!page.contains("<b>") && !page.contains("<script>"), "{page}");
}

#[tokio::test]
async fn a_download_link_serves_an_attachment() {
    let server = TestServer::start().await;
    let file = server.upload("/", "report.pdf", "%PDF-1.4 bytes").await;
    let meta = server.metadata(id_of(&file)).await.json();
    let reply = open(&server, &link(&meta, "downloadLink")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(&reply.body[..], b"%PDF-1.4 bytes");
    assert_eq!(reply.must("content-type"), "application/pdf");
    let disposition = reply.must("content-disposition");
    assert!(disposition.starts_with("attachment") && disposition.contains("report.pdf"), "{disposition}");
}

#[tokio::test]
async fn tampered_links_are_refused_with_a_page_that_says_so() {
    let server = TestServer::start().await;
    let file = server.upload("/", "secret.txt", "secret").await;
    let other = server.upload("/", "other.txt", "other").await;
    let meta = server.metadata(id_of(&file)).await.json();
    for field in ["viewLink", "downloadLink"] {
        let url = link(&meta, field);
        let signature = param(&url, "s");
        let flipped = if signature.ends_with('A') {
            format!("{}B", &signature[..signature.len() - 1])
        } else {
            format!("{}A", &signature[..signature.len() - 1])
        };
        let expires: i64 = param(&url, "e").parse().unwrap();
        let tampered = [
            with_param(&url, "s", Some(&flipped)),
            with_param(&url, "id", Some(id_of(&other))),
            with_param(&url, "e", Some(&(expires + 86_400).to_string())),
            with_param(&url, "u", Some("someone-else@example.com")),
            with_param(&url, "i", Some("other-integration")),
        ];
        for bad in tampered {
            let page = assert_page(&open(&server, &bad).await, StatusCode::FORBIDDEN);
            assert!(page.contains("tampered"), "{bad}: {page}");
        }
    }
    // A view link is not a download link.
    let swapped = link(&meta, "viewLink").replace("/links/view?", "/links/download?");
    assert_page(&open(&server, &swapped).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn mangled_links_are_refused_with_a_page_too() {
    let server = TestServer::start().await;
    let file = server.upload("/", "secret.txt", "secret").await;
    let url = link(&file, "downloadLink");
    for bad in [
        with_param(&url, "e", Some("soon")),
        with_param(&url, "s", None),
        with_param(&url, "e", None),
        with_param(&url, "s", Some("!!not base64!!")),
        // A field given twice is not a link the server signed either.
        format!("{url}&id=other"),
        format!("{}?", url.split('?').next().unwrap_or_default()),
    ] {
        let page = assert_page(&open(&server, &bad).await, StatusCode::FORBIDDEN);
        assert!(page.contains("link"), "{bad}: {page}");
    }
}

#[tokio::test]
async fn expired_links_are_refused_with_a_page_that_says_so() {
    let server =
        TestServer::with_options(Options { link_ttl: chrono::Duration::hours(-1), ..Options::default() }).await;
    let file = server.upload("/", "old.txt", "old").await;
    let meta = server.metadata(id_of(&file)).await.json();
    for field in ["viewLink", "downloadLink"] {
        let page = assert_page(&open(&server, &link(&meta, field)).await, StatusCode::FORBIDDEN);
        assert!(page.contains("expired"), "{page}");
    }
}

#[tokio::test]
async fn a_folder_view_link_lists_its_children() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "Shared").await;
    server.upload(id_of(&folder), "child a.txt", "a").await;
    server.create_folder(id_of(&folder), "Nested").await;
    let page = assert_page(&open(&server, &link(&folder, "viewLink")).await, StatusCode::OK);
    assert!(page.contains("Shared") && page.contains("child a.txt") && page.contains("Nested"), "{page}");
    let child_link = page
        .split("href=\"")
        .skip(1)
        .map(|rest| rest[..rest.find('"').unwrap()].replace("&#38;", "&"))
        .find(|href| href.contains("/links/view?"))
        .expect("children are linked");
    assert_page(&open(&server, &child_link).await, StatusCode::OK);

    let root = server.metadata("/").await.json();
    let page = assert_page(&open(&server, &link(&root, "viewLink")).await, StatusCode::OK);
    assert!(page.contains("Shared"), "{page}");
}

#[tokio::test]
async fn links_to_deleted_items_or_disabled_integrations_do_not_open() {
    let server = TestServer::start().await;
    let gone = server.upload("/", "gone.txt", "gone").await;
    let kept = server.upload("/", "kept.txt", "kept").await;
    let reply = send(server.call(reqwest::Method::PUT, "delete", &[("id", id_of(&gone))])).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_page(&open(&server, &link(&gone, "viewLink")).await, StatusCode::NOT_FOUND);
    assert_page(&open(&server, &link(&gone, "downloadLink")).await, StatusCode::NOT_FOUND);

    server.registry.set_integration_enabled("default", false).await.unwrap();
    assert_page(&open(&server, &link(&kept, "viewLink")).await, StatusCode::FORBIDDEN);
    assert_page(&open(&server, &link(&kept, "downloadLink")).await, StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_image_page_previews_inline_in_a_sandbox() {
    let server = TestServer::start().await;
    let file = server.upload("/", "dot.png", PNG_1X1).await;
    let page = assert_page(&open(&server, &link(&file, "viewLink")).await, StatusCode::OK);
    let start = page.find("<img").expect("an image preview");
    let src_at = start + page[start..].find("src=\"").unwrap() + 5;
    let src = page[src_at..src_at + page[src_at..].find('"').unwrap()].replace("&#38;", "&");
    assert!(src.contains("inline=1"), "{src}");
    let reply = open(&server, &src).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(&reply.body[..], PNG_1X1);
    assert!(reply.must("content-disposition").starts_with("inline"));
    assert!(reply.must("content-security-policy").contains("sandbox"));
    assert_eq!(reply.must("x-content-type-options"), "nosniff");
}

/// A 1×1 transparent PNG.
const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0B, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0xE9, 0xFA, 0xDC, 0xD8, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

#[tokio::test]
async fn links_survive_a_restart() {
    let server = TestServer::start().await;
    let file = server.upload("/", "durable.txt", "durable").await;
    let download = link(&file, "downloadLink");
    let path_and_query = &download[server.base.len()..];
    let server = server.restart().await;
    // The port changed with the restart; the signature did not.
    let reply = open(&server, &format!("{}{path_and_query}", server.base)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(&reply.body[..], b"durable");
}
