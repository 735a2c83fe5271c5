//! Thumbnails (contract C12): formats in and out, sizes, limits, PDF pages and icons.
//!
//! Every picture is generated here, so the tests need no fixtures; every assertion is on
//! decoded dimensions, formats or colours.

use std::io::{Cursor, Write};
use std::time::{Duration, Instant};

use docbridge_documents::mime::IconCategory;
use docbridge_documents::thumbnail::{
    DEFAULT_WIDTH, Icon, JPEG, MAX_WIDTH, MIN_WIDTH, PNG, Thumbnail, ThumbnailSource, clamp_width, render_icon,
    render_thumbnail, render_thumbnail_until,
};
use image::{DynamicImage, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

use crate::pdf::{pdf, pdf_of};
use crate::png_bomb::png_header;

const RED: [u8; 3] = [220, 30, 30];
const BLUE: [u8; 3] = [30, 60, 220];

fn file<'a>(name: &'a str, mime: &'a str, bytes: &'a [u8]) -> ThumbnailSource<'a> {
    ThumbnailSource::File { name, mime, bytes }
}

/// Decodes a thumbnail, checking that its bytes are in the format its content type says.
fn decode(thumbnail: &Thumbnail) -> DynamicImage {
    let format = image::guess_format(&thumbnail.bytes).expect("thumbnail format is recognisable");
    let expected = match thumbnail.content_type {
        PNG => ImageFormat::Png,
        JPEG => ImageFormat::Jpeg,
        other => panic!("unexpected content type {other}"),
    };
    assert_eq!(format, expected, "bytes match the content type");
    image::load_from_memory(&thumbnail.bytes).expect("thumbnail decodes")
}

fn encode(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut bytes = Vec::new();
    image.write_to(&mut Cursor::new(&mut bytes), format).expect("test image encodes");
    bytes
}

/// An opaque image: red on the left half, blue on the right.
fn two_tone(width: u32, height: u32) -> DynamicImage {
    DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, _| if x < width / 2 { Rgb(RED) } else { Rgb(BLUE) }))
}

fn close(actual: &[u8], expected: &[u8; 3], tolerance: u8) -> bool {
    actual.iter().zip(expected).all(|(a, e)| a.abs_diff(*e) <= tolerance)
}

fn assert_colour(image: &DynamicImage, x: u32, y: u32, expected: [u8; 3]) {
    let pixel = image.to_rgb8().get_pixel(x, y).0;
    assert!(close(&pixel, &expected, 40), "pixel ({x}, {y}) is {pixel:?}, expected about {expected:?}");
}

/// Scales `bytes` (named `name`) and checks it came out as an opaque, two-tone JPEG.
fn assert_two_tone_jpeg(name: &str, mime: &str, bytes: &[u8]) {
    let thumbnail = render_thumbnail(file(name, mime, bytes), 100);
    assert_eq!(thumbnail.content_type, JPEG, "{name}");
    let image = decode(&thumbnail);
    assert_eq!((image.width(), image.height()), (100, 50), "{name}");
    assert_colour(&image, 10, 25, RED);
    assert_colour(&image, 90, 25, BLUE);
}

#[test]
fn png_with_transparency_gives_png_of_requested_width_and_proportional_height() {
    // 300 × 150: opaque red on top, fully transparent below.
    let source = DynamicImage::ImageRgba8(RgbaImage::from_fn(300, 150, |_, y| {
        if y < 75 { Rgba([RED[0], RED[1], RED[2], 255]) } else { Rgba([0, 0, 0, 0]) }
    }));
    let bytes = encode(&source, ImageFormat::Png);
    let thumbnail = render_thumbnail(file("logo.png", "image/png", &bytes), 200);
    assert_eq!(thumbnail.content_type, PNG);
    let image = decode(&thumbnail).to_rgba8();
    assert_eq!(image.dimensions(), (200, 100));
    let top = image.get_pixel(100, 10).0;
    assert!(close(&top[..3], &RED, 2) && top[3] == 255, "top is {top:?}");
    assert_eq!(image.get_pixel(100, 90).0[3], 0, "bottom stays transparent");
}

#[test]
fn transparent_edges_keep_their_colour() {
    // A red disc on transparent black: averaging without premultiplied alpha would darken
    // the disc's anti-aliased rim towards black.
    let source = RgbaImage::from_fn(400, 400, |x, y| {
        let (dx, dy) = (x as f32 - 200.0, y as f32 - 200.0);
        if dx.hypot(dy) < 150.0 { Rgba([255, 0, 0, 255]) } else { Rgba([0, 0, 0, 0]) }
    });
    let bytes = encode(&DynamicImage::ImageRgba8(source), ImageFormat::Png);
    let image = decode(&render_thumbnail(file("disc.png", "image/png", &bytes), 37)).to_rgba8();
    let rim: Vec<_> = image.pixels().filter(|p| p.0[3] > 20 && p.0[3] < 235).collect();
    assert!(!rim.is_empty(), "downscaling leaves a partly transparent rim");
    for pixel in rim {
        assert!(pixel.0[0] > 200, "rim pixel {pixel:?} lost its colour");
    }
}

#[test]
fn opaque_png_with_alpha_channel_gives_jpeg() {
    let source = DynamicImage::ImageRgba8(two_tone(400, 200).to_rgba8());
    assert_two_tone_jpeg("opaque.png", "image/png", &encode(&source, ImageFormat::Png));
}

#[test]
fn jpeg_gives_jpeg() {
    assert_two_tone_jpeg("photo.jpg", "image/jpeg", &encode(&two_tone(640, 320), ImageFormat::Jpeg));
}

#[test]
fn gif_webp_bmp_and_tiff_are_decoded_and_scaled() {
    let source = two_tone(240, 120);
    for (name, mime, format) in [
        ("anim.gif", "image/gif", ImageFormat::Gif),
        ("pic.webp", "image/webp", ImageFormat::WebP),
        ("pic.bmp", "image/bmp", ImageFormat::Bmp),
        ("scan.tiff", "image/tiff", ImageFormat::Tiff),
    ] {
        let source = match format {
            // The GIF and WebP encoders take RGBA.
            ImageFormat::Gif | ImageFormat::WebP => DynamicImage::ImageRgba8(source.to_rgba8()),
            _ => source.clone(),
        };
        assert_two_tone_jpeg(name, mime, &encode(&source, format));
    }
}

#[test]
fn images_are_recognised_by_content_whatever_their_name() {
    let bytes = encode(&two_tone(200, 100), ImageFormat::Png);
    assert_two_tone_jpeg("upload.bin", "application/octet-stream", &bytes);
}

/// A one-pixel image is scaled up to a square; a very wide one is at least one pixel high.
#[test]
fn extreme_proportions_still_give_a_plain_thumbnail() {
    for (name, (source_width, source_height), colour, width, expected) in
        [("dot.png", (1, 1), BLUE, 64, (64, 64)), ("banner.png", (5000, 10), RED, 200, (200, 1))]
    {
        let source = DynamicImage::ImageRgb8(RgbImage::from_pixel(source_width, source_height, Rgb(colour)));
        let bytes = encode(&source, ImageFormat::Png);
        let image = decode(&render_thumbnail(file(name, "image/png", &bytes), width));
        assert_eq!((image.width(), image.height()), expected, "{name}");
        assert_colour(&image, expected.0 / 2, expected.1 / 2, colour);
    }
}

#[test]
fn exif_orientation_is_applied() {
    // A TIFF tagged "rotate 90° clockwise" (orientation 6): stored 200 × 100, shown 100 × 200.
    let mut bytes = encode(&two_tone(200, 100), ImageFormat::Tiff);
    set_tiff_orientation(&mut bytes, 6);
    let image = decode(&render_thumbnail(file("scan.tif", "image/tiff", &bytes), 50));
    assert_eq!((image.width(), image.height()), (50, 100));
    // Turned clockwise, the stored left (red) half is now on top.
    assert_colour(&image, 25, 10, RED);
    assert_colour(&image, 25, 90, BLUE);
}

/// Appends an Orientation tag to the first IFD of a little-endian TIFF written by `image`,
/// by rewriting the IFD at the end of the file with one more entry.
fn set_tiff_orientation(bytes: &mut Vec<u8>, orientation: u16) {
    assert_eq!(&bytes[..4], b"II*\0", "little-endian TIFF");
    let read_u16 = |b: &[u8], at: usize| u16::from_le_bytes([b[at], b[at + 1]]);
    let read_u32 = |b: &[u8], at: usize| u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]]);
    let ifd = read_u32(bytes, 4) as usize;
    let count = read_u16(bytes, ifd) as usize;
    let mut entries: Vec<[u8; 12]> = (0..count)
        .map(|i| {
            let at = ifd + 2 + i * 12;
            bytes[at..at + 12].try_into().expect("12-byte entry")
        })
        .collect();
    let mut entry = [0u8; 12];
    entry[..2].copy_from_slice(&274u16.to_le_bytes()); // Orientation
    entry[2..4].copy_from_slice(&3u16.to_le_bytes()); // SHORT
    entry[4..8].copy_from_slice(&1u32.to_le_bytes());
    entry[8..10].copy_from_slice(&orientation.to_le_bytes());
    entries.push(entry);
    entries.sort_by_key(|e| u16::from_le_bytes([e[0], e[1]]));
    if bytes.len() % 2 == 1 {
        bytes.push(0);
    }
    let new_ifd = bytes.len();
    bytes.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for entry in &entries {
        bytes.extend_from_slice(entry);
    }
    bytes.extend_from_slice(&0u32.to_le_bytes());
    bytes[4..8].copy_from_slice(&(new_ifd as u32).to_le_bytes());
}

#[test]
fn pixel_flood_gets_the_image_icon() {
    let image_icon = render_icon(Icon::File(IconCategory::Image), 200);
    for (width, height) in [(100_000, 100_000), (20_000, 20_000)] {
        let bytes = png_header(width, height);
        let thumbnail = render_thumbnail(file("bomb.png", "image/png", &bytes), 200);
        assert_eq!(thumbnail, image_icon, "{width}x{height}");
    }
}

#[test]
fn garbage_named_png_gets_the_image_icon() {
    let thumbnail = render_thumbnail(file("broken.png", "image/png", b"not an image at all"), 120);
    assert_eq!(thumbnail, render_icon(Icon::File(IconCategory::Image), 120));
    // A valid header with truncated data is refused too.
    let mut truncated = encode(&two_tone(64, 64), ImageFormat::Png);
    truncated.truncate(60);
    let thumbnail = render_thumbnail(file("cut.png", "image/png", &truncated), 120);
    assert_eq!(thumbnail, render_icon(Icon::File(IconCategory::Image), 120));
}

/// Checks `thumbnail` is a square PNG with a transparent corner, as icons are.
fn assert_icon_shape(thumbnail: &Thumbnail, width: u32) {
    assert_eq!(thumbnail.content_type, PNG);
    let image = decode(thumbnail).to_rgba8();
    assert_eq!(image.dimensions(), (width, width));
    assert_eq!(image.get_pixel(0, 0).0[3], 0, "icon corners are transparent");
}

#[test]
fn folder_gets_the_folder_icon() {
    let thumbnail = render_thumbnail(ThumbnailSource::Folder, 96);
    assert_eq!(thumbnail, render_icon(Icon::Folder, 96));
    assert_icon_shape(&thumbnail, 96);
    let image = decode(&thumbnail).to_rgba8();
    let centre = image.get_pixel(48, 58).0;
    assert!(centre[0] > 200 && centre[1] > 120 && centre[2] < 60, "folder is amber: {centre:?}");
}

#[test]
fn unknown_binary_gets_the_generic_icon() {
    let bytes = [0u8, 159, 146, 150, 1, 2, 3, 255, 254, 0, 7];
    let thumbnail = render_thumbnail(file("data.xyz", "application/octet-stream", &bytes), 200);
    assert_eq!(thumbnail, render_icon(Icon::File(IconCategory::Generic), 200));
    assert_icon_shape(&thumbnail, 200);
}

#[test]
fn other_files_get_their_type_icon() {
    let cases = [
        ("notes.txt", "text/plain", IconCategory::Text),
        ("main.py", "text/plain", IconCategory::Code),
        ("song.mp3", "audio/mpeg", IconCategory::Audio),
        ("bundle.zip", "application/zip", IconCategory::Archive),
        ("budget.xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", IconCategory::Spreadsheet),
    ];
    for (name, mime, category) in cases {
        let thumbnail = render_thumbnail(file(name, mime, b"some content"), 64);
        assert_eq!(thumbnail, render_icon(Icon::File(category), 64), "{name}");
    }
    // Different types look different.
    assert_ne!(render_icon(Icon::File(IconCategory::Text), 64), render_icon(Icon::File(IconCategory::Code), 64));
}

#[test]
fn unread_content_gets_the_type_icon() {
    // The caller passes no bytes for a file too large to read.
    let thumbnail = render_thumbnail(file("huge.pdf", "application/pdf", &[]), 200);
    assert_eq!(thumbnail, render_icon(Icon::File(IconCategory::Pdf), 200));
    let thumbnail = render_thumbnail(file("huge.jpg", "image/jpeg", &[]), 200);
    assert_eq!(thumbnail, render_icon(Icon::File(IconCategory::Image), 200));
}

#[test]
fn width_is_clamped() {
    assert_eq!(clamp_width(None), DEFAULT_WIDTH);
    assert_eq!(DEFAULT_WIDTH, 200);
    assert_eq!(clamp_width(Some(0)), MIN_WIDTH);
    assert_eq!(clamp_width(Some(15)), 16);
    assert_eq!(clamp_width(Some(16)), 16);
    assert_eq!(clamp_width(Some(640)), 640);
    assert_eq!(clamp_width(Some(2048)), 2048);
    assert_eq!(clamp_width(Some(2049)), MAX_WIDTH);
    assert_eq!(clamp_width(Some(u64::MAX)), 2048);

    // render_thumbnail clamps too, for callers that pass a raw number.
    let bytes = encode(&two_tone(100, 100), ImageFormat::Png);
    let small = decode(&render_thumbnail(file("a.png", "image/png", &bytes), 1));
    assert_eq!((small.width(), small.height()), (16, 16));
    let large = decode(&render_thumbnail(file("a.png", "image/png", &bytes), 100_000));
    assert_eq!((large.width(), large.height()), (2048, 2048));
    assert_icon_shape(&render_icon(Icon::Folder, 3), 16);
}

/// Red on the left half, blue on the top-right quarter, the bottom-right quarter left white,
/// on a 200 × 100 point page (PDF's y axis points up).
const PAGE_CONTENT: &str = "0.863 0.118 0.118 rg 0 0 100 100 re f 0.118 0.235 0.863 rg 100 50 100 50 re f";

#[test]
fn pdf_shows_its_first_page() {
    let bytes = pdf(200, 100, "", PAGE_CONTENT);
    let thumbnail = render_thumbnail(file("report.pdf", "application/pdf", &bytes), 300);
    assert_ne!(thumbnail, render_icon(Icon::File(IconCategory::Pdf), 300));
    assert_eq!(thumbnail.content_type, JPEG);
    let image = decode(&thumbnail);
    assert_eq!((image.width(), image.height()), (300, 150));
    assert_colour(&image, 75, 75, RED);
    assert_colour(&image, 225, 37, BLUE);
    assert_colour(&image, 225, 112, [255, 255, 255]);
}

#[test]
fn pdf_page_rotation_is_honoured() {
    // Rotated 90° clockwise, the 200 × 100 page is shown 100 × 200, its left half on top.
    let bytes = pdf(200, 100, "/Rotate 90", PAGE_CONTENT);
    let image = decode(&render_thumbnail(file("turned.pdf", "application/pdf", &bytes), 100));
    assert_eq!((image.width(), image.height()), (100, 200));
    assert_colour(&image, 50, 50, RED);
}

#[test]
fn pdf_is_recognised_by_content() {
    let bytes = pdf(200, 100, "", PAGE_CONTENT);
    let thumbnail = render_thumbnail(file("scan", "application/octet-stream", &bytes), 100);
    let image = decode(&thumbnail);
    assert_eq!((image.width(), image.height()), (100, 50));
    assert_colour(&image, 25, 25, RED);
}

#[test]
fn broken_or_absurd_pdfs_get_the_pdf_icon() {
    let pdf_icon = render_icon(Icon::File(IconCategory::Pdf), 200);
    let broken = b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\nendobj\ntrailer\n<< >>\n%%EOF";
    assert_eq!(render_thumbnail(file("broken.pdf", "application/pdf", broken), 200), pdf_icon);
    // A 1 × 10 000 point page would be 200 × 2 000 000 pixels.
    let tall = pdf(1, 10_000, "", PAGE_CONTENT);
    assert_eq!(render_thumbnail(file("tall.pdf", "application/pdf", &tall), 200), pdf_icon);
}

/// A `width` × `height` opaque RGBA PNG, white with a red left half, written row by row so
/// that even 10 000 × 10 000 pixels (400 MB decoded) cost one row to make; uniform rows
/// compress to a few hundred KB.
fn big_png(width: u32, height: u32) -> Vec<u8> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().expect("PNG header");
    let mut stream = writer.stream_writer().expect("PNG stream");
    let row: Vec<u8> = (0..width)
        .flat_map(|x| if x < width / 2 { [RED[0], RED[1], RED[2], 255] } else { [255, 255, 255, 255] })
        .collect();
    for _ in 0..height {
        stream.write_all(&row).expect("PNG row");
    }
    stream.finish().expect("PNG end");
    drop(writer);
    bytes
}

/// A one-page PDF whose page draws a `side` × `side` one-bit grey image (a Flate stream of
/// zeros: a few hundred KB for 40 000 × 40 000 pixels, 1.6 gigapixels decoded).
fn pdf_with_image(side: u32) -> Vec<u8> {
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let zeros = vec![0u8; side.div_ceil(8) as usize];
    for _ in 0..side {
        deflate.write_all(&zeros).expect("deflate");
    }
    let data = deflate.finish().expect("deflate");
    let content = "q 200 0 0 200 0 0 cm /Im1 Do Q";
    let objects: Vec<Vec<u8>> = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 200 200] /Resources << /XObject << /Im1 5 0 R >> >> \
          /Contents 4 0 R >>"
            .to_vec(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()).into_bytes(),
        [
            format!(
                "<< /Type /XObject /Subtype /Image /Width {side} /Height {side} /ColorSpace /DeviceGray \
                 /BitsPerComponent 1 /Filter /FlateDecode /Length {} >>\nstream\n",
                data.len()
            )
            .as_bytes(),
            &data,
            b"\nendstream",
        ]
        .concat(),
    ];
    pdf_of(&objects)
}

#[test]
fn large_pngs_are_scaled_row_by_row_with_their_colours_and_transparency() {
    // 2500 × 2000 RGBA is 20 MB decoded: over the threshold for row-by-row scaling.
    let opaque = big_png(2500, 2000);
    let image = decode(&render_thumbnail(file("big.png", "image/png", &opaque), 250));
    assert_eq!((image.width(), image.height()), (250, 200));
    assert_colour(&image, 20, 100, RED);
    assert_colour(&image, 230, 100, [255, 255, 255]);

    let source =
        RgbaImage::from_fn(2500, 2000, |x, _| if x < 1250 { Rgba([255, 0, 0, 255]) } else { Rgba([0, 0, 0, 0]) });
    let bytes = encode(&DynamicImage::ImageRgba8(source), ImageFormat::Png);
    let thumbnail = render_thumbnail(file("half.png", "image/png", &bytes), 100);
    assert_eq!(thumbnail.content_type, PNG);
    let image = decode(&thumbnail).to_rgba8();
    assert_eq!(image.dimensions(), (100, 80));
    assert_eq!(image.get_pixel(10, 40).0, [255, 0, 0, 255]);
    assert_eq!(image.get_pixel(90, 40).0[3], 0, "the right half stays transparent");
}

#[test]
fn pdf_with_an_image_over_the_pixel_budget_gets_the_pdf_icon() {
    // 6000 × 6000 is 36 megapixels: over the budget, yet only about 4 KB of PDF.
    let bytes = pdf_with_image(6000);
    assert_eq!(
        render_thumbnail(file("scan.pdf", "application/pdf", &bytes), 120),
        render_icon(Icon::File(IconCategory::Pdf), 120)
    );
    // The same page with a small image is rendered.
    let small = pdf_with_image(100);
    let image = decode(&render_thumbnail(file("small.pdf", "application/pdf", &small), 120));
    assert_eq!((image.width(), image.height()), (120, 120));
    assert_colour(&image, 60, 60, [0, 0, 0]);
}

/// Set in the child process of [`huge_pictures_are_thumbnailed_in_bounded_memory`]: which
/// input it thumbnails.
const MEMORY_CHILD: &str = "DOCBRIDGE_TEST_THUMBNAIL_MEMORY_CHILD";
/// What the child prints: its peak resident set, in KiB.
const PEAK_PREFIX: &str = "peak-rss-kib=";

/// Issue #13: eight concurrent thumbnails (widths 100 to 107) of a 10 000 × 10 000 PNG peaked
/// at 2.4 GB, a PDF drawing a 40 000 × 40 000 image at 4.8 GB. Each runs in a child process
/// (this test binary again), whose peak resident set (`VmHWM`) must stay under 512 MiB. The
/// child's address space is capped at 4 GiB so that an unbounded decode fails fast instead of
/// taking the machine's memory.
#[test]
fn huge_pictures_are_thumbnailed_in_bounded_memory() {
    if let Ok(input) = std::env::var(MEMORY_CHILD) {
        thumbnail_in_child(&input);
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    for input in ["png", "pdf"] {
        let output = std::process::Command::new("sh")
            .args(["-c", "ulimit -v 4194304 && exec \"$0\" \"$@\""])
            .arg(&exe)
            .args([
                "--exact",
                "thumbnail::huge_pictures_are_thumbnailed_in_bounded_memory",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(MEMORY_CHILD, input)
            .output()
            .expect("child runs");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{input}: child failed ({}):\n{stdout}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let peak_kib: u64 = stdout
            .lines()
            // libtest may print the test's name on the same line first.
            .find_map(|line| line.split(PEAK_PREFIX).nth(1))
            .and_then(|value| value.split_whitespace().next()?.parse().ok())
            .unwrap_or_else(|| panic!("{input}: child reported no peak:\n{stdout}"));
        assert!(peak_kib < 512 * 1024, "{input}: peak RSS {peak_kib} KiB, over 512 MiB");
    }
}

/// The child's work: the input named by `input`, thumbnailed as the issue did it.
fn thumbnail_in_child(input: &str) {
    // Generous, so that the real thumbnail (not the icon a timeout gives) is what is measured.
    let deadline = Instant::now() + Duration::from_secs(600);
    match input {
        "png" => {
            let bytes = big_png(10_000, 10_000);
            std::thread::scope(|scope| {
                let renders: Vec<_> = (100..108)
                    .map(|width| {
                        let bytes = &bytes;
                        scope.spawn(move || {
                            (width, render_thumbnail_until(file("huge.png", "image/png", bytes), width, deadline))
                        })
                    })
                    .collect();
                for render in renders {
                    let (width, thumbnail) = render.join().expect("render thread");
                    assert_eq!(thumbnail.content_type, JPEG, "width {width}: a picture, not the icon");
                    let image = decode(&thumbnail);
                    assert_eq!((image.width(), image.height()), (width, width));
                    assert_colour(&image, 5, width / 2, RED);
                }
            });
        }
        "pdf" => {
            let bytes = pdf_with_image(40_000);
            let thumbnail = render_thumbnail_until(file("huge.pdf", "application/pdf", &bytes), 200, deadline);
            assert_eq!(thumbnail, render_icon(Icon::File(IconCategory::Pdf), 200));
        }
        other => panic!("unknown input {other}"),
    }
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let peak = status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .expect("VmHWM in /proc/self/status");
    println!("{PEAK_PREFIX}{peak}");
}
