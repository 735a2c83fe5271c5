//! Thumbnails for `/thumbnail` (contract C12): scaled images, a PDF's first page, or an icon.
//!
//! [`render_thumbnail`] never fails: whatever cannot be decoded, is too large, takes too long
//! or is not a picture at all gets the icon of its type, so that a valid ID always has a
//! thumbnail. Rendering is CPU-bound and synchronous (it gives up at its deadline,
//! [`RENDER_DEADLINE`] by default); async callers should run it on a blocking thread, bound
//! how many run at once and cache the result per item version and width.
//!
//! Memory is bounded per render, whatever the input: large PNGs are scaled row by row, other
//! images are decoded whole only up to about 160 MB, and PDFs whose images exceed a pixel budget
//! get their icon (see the `raster` and `pdf` modules).
//!
//! Output sizes: the width is the requested one (see [`clamp_width`]); a scaled image or PDF
//! page keeps its aspect ratio (height = round(h × width / w), at least 1 pixel); icons are
//! square. A picture whose thumbnail would exceed [`MAX_OUTPUT_PIXELS`] (only absurdly tall
//! ones) gets its icon instead.

mod icon;
mod pdf;
mod raster;

use std::io::Cursor;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::{ExtendedColorType, ImageEncoder, RgbImage, RgbaImage};

pub use crate::mime::IconCategory;
use crate::mime::icon_category_for_file;
pub use pdf::{MAX_PDF_IMAGE_PIXELS, PDF_RENDER_DEADLINE};

/// How long [`render_thumbnail`] works on one picture before serving the icon instead.
pub const RENDER_DEADLINE: Duration = Duration::from_secs(10);

/// Width when the request names none.
pub const DEFAULT_WIDTH: u32 = 200;
/// Smallest width served; smaller requests are raised to it.
pub const MIN_WIDTH: u32 = 16;
/// Largest width served; larger requests are lowered to it.
pub const MAX_WIDTH: u32 = 2048;
/// Largest thumbnail, in pixels, that is rendered rather than replaced by an icon: the widest
/// thumbnail at a 1:4 aspect ratio.
pub const MAX_OUTPUT_PIXELS: u64 = MAX_WIDTH as u64 * 4 * MAX_WIDTH as u64;
/// JPEG quality: small files, artefacts invisible at thumbnail sizes.
const JPEG_QUALITY: u8 = 80;

/// Media type of PNG thumbnails.
pub const PNG: &str = "image/png";
/// Media type of JPEG thumbnails.
pub const JPEG: &str = "image/jpeg";

/// The width to render for the `size` query parameter: [`DEFAULT_WIDTH`] when absent,
/// otherwise clamped to [`MIN_WIDTH`]..=[`MAX_WIDTH`].
pub fn clamp_width(requested: Option<u64>) -> u32 {
    match requested {
        None => DEFAULT_WIDTH,
        Some(width) => u32::try_from(width.clamp(u64::from(MIN_WIDTH), u64::from(MAX_WIDTH))).unwrap_or(MAX_WIDTH),
    }
}

/// What to draw a thumbnail of.
#[derive(Debug, Clone, Copy)]
pub enum ThumbnailSource<'a> {
    /// A folder: always the folder icon.
    Folder,
    /// A file. `bytes` is its content as read by the caller, who bounds how much it reads;
    /// a file too large to read is passed with empty `bytes` and gets its type's icon.
    File {
        /// The file's name; its extension refines the icon (`.py` is code).
        name: &'a str,
        /// The file's media type, as [`crate::mime::detect_mime`] gives it.
        mime: &'a str,
        /// The whole content, or nothing.
        bytes: &'a [u8],
    },
}

/// An encoded thumbnail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    /// The PNG or JPEG file.
    pub bytes: Vec<u8>,
    /// [`PNG`] or [`JPEG`].
    pub content_type: &'static str,
}

/// The icons drawn for items without a picture of their own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Icon {
    /// A folder.
    Folder,
    /// A page marked with the colour and glyph of a file type.
    File(IconCategory),
}

/// The thumbnail of `source`, `width` pixels wide (clamped to [`MIN_WIDTH`]..=[`MAX_WIDTH`]).
///
/// PNG, JPEG, GIF (first frame), WebP, BMP and TIFF content is decoded, whatever the file is
/// called, with limits against decompression bombs, turned upright by its EXIF orientation
/// and scaled; a PDF's first page is rendered on white. The result is PNG when the picture
/// has transparent pixels and JPEG otherwise. Everything else, and every failure, gives
/// [`render_icon`] for the file's type (PNG). Work gives up after [`RENDER_DEADLINE`].
pub fn render_thumbnail(source: ThumbnailSource<'_>, width: u32) -> Thumbnail {
    render_thumbnail_until(source, width, Instant::now() + RENDER_DEADLINE)
}

/// [`render_thumbnail`], giving up at `deadline`: row-by-row scaling stops there and a PDF
/// render is waited for until then (its thread, which `hayro` cannot interrupt, is bounded
/// in memory by the PDF's image budget instead).
pub fn render_thumbnail_until(source: ThumbnailSource<'_>, width: u32, deadline: Instant) -> Thumbnail {
    let width = width.clamp(MIN_WIDTH, MAX_WIDTH);
    let ThumbnailSource::File { name, mime, bytes } = source else {
        return render_icon(Icon::Folder, width);
    };
    let category = icon_category_for_file(name, mime);
    // The decoders are fuzzed but not proven panic-free; a panic on hostile content must
    // cost the picture, not the request.
    match catch_unwind(AssertUnwindSafe(|| render_content(category, bytes, width, deadline))) {
        Ok(Some(thumbnail)) => thumbnail,
        Ok(None) => render_icon(Icon::File(category), width),
        Err(_) => {
            tracing::warn!(file = name, "thumbnail decoder panicked; serving the type icon");
            render_icon(Icon::File(category), width)
        }
    }
}

/// The picture of a file's content, or `None` when it must get an icon.
fn render_content(category: IconCategory, bytes: &[u8], width: u32, deadline: Instant) -> Option<Thumbnail> {
    if bytes.is_empty() {
        return None;
    }
    if raster::is_supported(bytes) {
        return match raster::scale(bytes, width, deadline) {
            Ok(raster::Scaled::Transparent(image)) => encode_png(&image),
            Ok(raster::Scaled::Opaque(image)) => encode_jpeg(&image),
            Err(error) => {
                tracing::debug!(%error, "image not thumbnailed");
                None
            }
        };
    }
    if category == IconCategory::Pdf || pdf::looks_like_pdf(bytes) {
        return match pdf::render_first_page(bytes, width, deadline) {
            // Pages are rendered on white, so they never have transparency.
            Ok(page) => encode_jpeg(&page),
            Err(error) => {
                tracing::debug!(%error, "PDF not thumbnailed");
                None
            }
        };
    }
    None
}

/// The icon for `icon`, `width` × `width` pixels (clamped like thumbnails), PNG with a
/// transparent background.
pub fn render_icon(icon: Icon, width: u32) -> Thumbnail {
    let image = icon::draw(icon, width.clamp(MIN_WIDTH, MAX_WIDTH));
    encode_png(&image).unwrap_or_else(|| Thumbnail { bytes: FALLBACK_PNG.to_vec(), content_type: PNG })
}

/// A 1×1 transparent PNG, served only if encoding an icon ever failed, which writing to
/// memory cannot really do; it keeps the "never fails" promise without a panic.
const FALLBACK_PNG: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4, 0x89, 0x00, 0x00, 0x00, 0x0B, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xDA, 0x63, 0x60, 0x00, 0x02, 0x00, 0x00, 0x05, 0x00, 0x01, 0xE9, 0xFA, 0xDC, 0xD8, 0x00,
    0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

fn encode_png(image: &RgbaImage) -> Option<Thumbnail> {
    encode_with(PNG, |bytes| {
        PngEncoder::new(Cursor::new(bytes)).write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgba8,
        )
    })
}

fn encode_jpeg(image: &RgbImage) -> Option<Thumbnail> {
    encode_with(JPEG, |bytes| {
        JpegEncoder::new_with_quality(Cursor::new(bytes), JPEG_QUALITY).write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            ExtendedColorType::Rgb8,
        )
    })
}

/// A thumbnail of `content_type` holding what `write` encodes; an encoding error is logged and
/// gives none, and the caller falls back (a file to its type icon, an icon to a fixed PNG).
fn encode_with(
    content_type: &'static str,
    write: impl FnOnce(&mut Vec<u8>) -> image::ImageResult<()>,
) -> Option<Thumbnail> {
    let mut bytes = Vec::new();
    match write(&mut bytes) {
        Ok(()) => Some(Thumbnail { bytes, content_type }),
        Err(error) => {
            tracing::warn!(%error, "{content_type} encoding failed");
            None
        }
    }
}

/// The height of a `width`-wide thumbnail of a `source_width` × `source_height` picture:
/// round(h × width / w), at least 1; `None` when the sizes are not positive and finite or the
/// thumbnail would exceed [`MAX_OUTPUT_PIXELS`].
fn target_height(source_width: f64, source_height: f64, width: u32) -> Option<u32> {
    if !(source_width.is_finite() && source_height.is_finite() && source_width > 0.0 && source_height > 0.0) {
        return None;
    }
    let height = (source_height * f64::from(width) / source_width).round().max(1.0);
    if height * f64::from(width) > MAX_OUTPUT_PIXELS as f64 {
        return None;
    }
    // Bounded by MAX_OUTPUT_PIXELS above, so the conversion is exact.
    Some(height as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fallback_png_decodes() {
        let image = image::load_from_memory(FALLBACK_PNG).expect("fallback PNG is valid");
        assert_eq!((image.width(), image.height()), (1, 1));
    }

    #[test]
    fn target_heights() {
        assert_eq!(target_height(400.0, 300.0, 200), Some(150));
        assert_eq!(target_height(1.0, 1.0, 16), Some(16));
        // Rounds to nearest, never below one pixel.
        assert_eq!(target_height(3.0, 2.0, 200), Some(133));
        assert_eq!(target_height(100_000.0, 1.0, 200), Some(1));
        assert_eq!(target_height(0.0, 10.0, 200), None);
        assert_eq!(target_height(f64::NAN, 10.0, 200), None);
        // 1:4 is served at the largest width; anything taller is not.
        assert_eq!(target_height(1.0, 4.0, MAX_WIDTH), Some(4 * MAX_WIDTH));
        assert_eq!(target_height(1.0, 5.0, MAX_WIDTH), None);
    }
}
