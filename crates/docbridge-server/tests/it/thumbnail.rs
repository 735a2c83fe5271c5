//! `/thumbnail` (C12): scaled pictures of the requested width with the aspect ratio kept, PNG
//! where the source is transparent and JPEG otherwise, icons for everything else, clamped
//! sizes, and a cache with ETags.

use std::io::Cursor;

use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};
use reqwest::{Method, StatusCode};

use crate::support::{Reply, TestServer, assert_error, id_of, send};

#[path = "../../../docbridge-documents/tests/it/pdf.rs"]
mod pdf;

fn encode(image: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).expect("encodes");
    bytes
}

/// A 400×300 PNG whose left half is transparent.
fn transparent_png() -> Vec<u8> {
    let image =
        RgbaImage::from_fn(
            400,
            300,
            |x, y| if x < 200 { Rgba([0, 0, 0, 0]) } else { Rgba([200, (y % 256) as u8, 40, 255]) },
        );
    encode(DynamicImage::ImageRgba8(image), ImageFormat::Png)
}

/// A 400×200 JPEG.
fn jpeg() -> Vec<u8> {
    let image = RgbImage::from_fn(400, 200, |x, y| Rgb([(x % 256) as u8, (y % 256) as u8, 128]));
    encode(DynamicImage::ImageRgb8(image), ImageFormat::Jpeg)
}

async fn thumbnail(server: &TestServer, id: &str, size: Option<&str>) -> Reply {
    let mut query = vec![("id", id)];
    if let Some(size) = size {
        query.push(("size", size));
    }
    let reply = server.get("thumbnail", &query).await;
    assert_eq!(reply.status, StatusCode::OK, "thumbnail of {id} at {size:?}: {}", reply.text());
    reply
}

/// Decodes a thumbnail, checking that it is what its Content-Type says; answers its size.
fn decoded(reply: &Reply) -> (u32, u32) {
    let format = match reply.must("content-type") {
        "image/png" => ImageFormat::Png,
        "image/jpeg" => ImageFormat::Jpeg,
        other => panic!("thumbnail of type {other}"),
    };
    let image =
        image::load_from_memory_with_format(&reply.body, format).expect("the thumbnail decodes as its declared type");
    (image.width(), image.height())
}

/// Pictures are scaled to the requested width with their aspect ratio kept: a transparent PNG
/// stays PNG, a JPEG or an opaque PNG becomes a JPEG.
#[tokio::test]
async fn pictures_keep_their_aspect_ratio_and_transparency() {
    let server = TestServer::start().await;
    let opaque =
        encode(DynamicImage::ImageRgba8(RgbaImage::from_pixel(300, 150, Rgba([10, 20, 30, 255]))), ImageFormat::Png);
    let cases = [
        ("logo.png", transparent_png(), "100", "image/png", (100, 75)),
        ("photo.jpg", jpeg(), "50", "image/jpeg", (50, 25)),
        ("opaque.png", opaque, "60", "image/jpeg", (60, 30)),
    ];
    for (name, bytes, width, content_type, size) in cases {
        let file = server.upload("/", name, bytes).await;
        let reply = thumbnail(&server, id_of(&file), Some(width)).await;
        assert_eq!(reply.must("content-type"), content_type, "{name}");
        assert_eq!(decoded(&reply), size, "{name}");
        // The only PNG answer is the transparent picture's, whose corners stay transparent.
        if content_type == "image/png" {
            let image = image::load_from_memory(&reply.body).unwrap().into_rgba8();
            assert_eq!(image.get_pixel(5, 5)[3], 0, "transparency is kept");
            assert_eq!(image.get_pixel(95, 70)[3], 255);
        }
    }
}

#[tokio::test]
async fn the_default_width_is_200() {
    let server = TestServer::start().await;
    let file = server.upload("/", "logo.png", transparent_png()).await;
    assert_eq!(decoded(&thumbnail(&server, id_of(&file), None).await), (200, 150));
    assert_eq!(decoded(&thumbnail(&server, id_of(&file), Some("")).await), (200, 150));
}

#[tokio::test]
async fn sizes_are_clamped() {
    let server = TestServer::start().await;
    let file = server.upload("/", "photo.jpg", jpeg()).await;
    assert_eq!(decoded(&thumbnail(&server, id_of(&file), Some("1")).await), (16, 8));
    assert_eq!(decoded(&thumbnail(&server, id_of(&file), Some("0")).await), (16, 8));
    assert_eq!(decoded(&thumbnail(&server, id_of(&file), Some("99999")).await), (2048, 1024));
    let folder = server.create_folder("/", "f").await;
    assert_eq!(decoded(&thumbnail(&server, id_of(&folder), Some("1")).await).0, 16);
    assert_eq!(decoded(&thumbnail(&server, id_of(&folder), Some("99999")).await).0, 2048);
}

#[tokio::test]
async fn folders_and_other_files_get_icons() {
    let server = TestServer::start().await;
    let folder = server.create_folder("/", "Pictures").await;
    let text = server.upload("/", "readme.txt", "just text").await;
    let broken = server.upload("/", "broken.png", "not a png at all").await;
    let empty = server.upload("/", "empty.jpg", Vec::new()).await;
    for id in [id_of(&folder), id_of(&text), id_of(&broken), id_of(&empty), "/"] {
        let reply = thumbnail(&server, id, Some("64")).await;
        let (width, height) = decoded(&reply);
        assert_eq!(width, 64, "{id}");
        assert!(height > 0, "{id}");
    }
}

#[tokio::test]
async fn thumbnails_are_cached_with_an_etag() {
    let server = TestServer::start().await;
    let file = server.upload("/", "logo.png", transparent_png()).await;
    let first = thumbnail(&server, id_of(&file), Some("80")).await;
    let etag = first.must("etag").to_owned();
    let second = thumbnail(&server, id_of(&file), Some("80")).await;
    assert_eq!(second.body, first.body);
    assert_eq!(second.must("etag"), etag);
    let revalidated = send(
        server.call(Method::GET, "thumbnail", &[("id", id_of(&file)), ("size", "80")]).header("if-none-match", &etag),
    )
    .await;
    assert_eq!(revalidated.status, StatusCode::NOT_MODIFIED);
    assert!(revalidated.body.is_empty());

    // Another width is another picture; new content is another picture.
    let other_width = thumbnail(&server, id_of(&file), Some("81")).await;
    assert_ne!(other_width.must("etag"), etag);
    assert_eq!(server.put_bytes(id_of(&file), jpeg()).await.status, StatusCode::OK);
    let after = send(
        server.call(Method::GET, "thumbnail", &[("id", id_of(&file)), ("size", "80")]).header("if-none-match", &etag),
    )
    .await;
    assert_eq!(after.status, StatusCode::OK, "new content must not be answered from the old validator");
    assert_eq!(after.must("content-type"), "image/jpeg");
    assert_eq!(decoded(&after), (80, 40));
}

#[tokio::test]
async fn bad_requests_answer_json() {
    let server = TestServer::start().await;
    let file = server.upload("/", "photo.jpg", jpeg()).await;
    assert_error(&server.get("thumbnail", &[("id", id_of(&file)), ("size", "big")]).await, 400);
    assert_error(&server.get("thumbnail", &[("id", id_of(&file)), ("size", "-1")]).await, 400);
    assert_error(&server.get("thumbnail", &[("id", "AAAAAAAAAAAAAAAAAAAAAA")]).await, 404);
    assert_error(&server.get("thumbnail", &[]).await, 400);
}

#[tokio::test]
async fn a_pdf_shows_its_first_page() {
    let server = TestServer::start().await;
    // A 400×200 point page whose left half is filled red.
    let file = server.upload("/", "page.pdf", pdf::pdf(400, 200, "", "1 0 0 rg 0 0 200 200 re f")).await;
    let reply = thumbnail(&server, id_of(&file), Some("100")).await;
    assert_eq!(reply.must("content-type"), "image/jpeg", "a rendered page, not an icon");
    assert_eq!(decoded(&reply), (100, 50));
    let page = image::load_from_memory(&reply.body).unwrap().into_rgb8();
    let (left, right) = (page.get_pixel(20, 25), page.get_pixel(80, 25));
    assert!(left[0] > 200 && left[1] < 60 && left[2] < 60, "the red half: {left:?}");
    assert!(right.0.iter().all(|c| *c > 230), "the white half: {right:?}");
}
