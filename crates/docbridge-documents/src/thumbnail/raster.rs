//! Decoding and scaling of raster images (PNG, JPEG, GIF, WebP, BMP, TIFF) under limits.
//!
//! A few hundred bytes can claim billions of pixels ("pixel flood"), so the dimensions are
//! read from the header and checked before anything is decoded, and the decoder itself is
//! given [`image::Limits`] so that no allocation it makes can exceed [`MAX_ALLOC`].

use std::fmt;
use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage, RgbaImage};

use super::target_height;

/// Most pixels a source image may have: 100 megapixels, about 400 MB as RGBA.
pub(super) const MAX_PIXELS: u64 = 100_000_000;
/// Longest side a source image may have.
pub(super) const MAX_SIDE: u32 = 65_535;
/// Most memory the decoder may allocate at once.
pub(super) const MAX_ALLOC: u64 = 512 * 1024 * 1024;

/// The formats contract C12 says are scaled.
const SUPPORTED: &[ImageFormat] =
    &[ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::Gif, ImageFormat::WebP, ImageFormat::Bmp, ImageFormat::Tiff];

/// Why an image got no thumbnail.
#[derive(Debug)]
pub(super) enum RasterError {
    /// The content is not in one of the supported formats.
    Unsupported,
    /// The header claims more than [`MAX_PIXELS`] or a side over [`MAX_SIDE`].
    TooLarge { width: u32, height: u32 },
    /// The thumbnail would exceed [`super::MAX_OUTPUT_PIXELS`] (an absurdly tall image).
    OutputTooLarge { width: u32, height: u32 },
    /// The decoder refused the content (corrupt, truncated or over its limits).
    Decode(ImageError),
}

impl fmt::Display for RasterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RasterError::Unsupported => f.write_str("not a supported image format"),
            RasterError::TooLarge { width, height } => {
                write!(f, "image of {width}x{height} pixels is over the decoding limit")
            }
            RasterError::OutputTooLarge { width, height } => {
                write!(f, "image of {width}x{height} pixels is too tall to thumbnail")
            }
            RasterError::Decode(error) => write!(f, "image not decoded: {error}"),
        }
    }
}

impl From<ImageError> for RasterError {
    fn from(error: ImageError) -> Self {
        RasterError::Decode(error)
    }
}

/// A scaled image, ready to encode.
#[derive(Debug)]
pub(super) enum Scaled {
    /// The source has transparent pixels: served as PNG.
    Transparent(RgbaImage),
    /// The source is opaque: served as JPEG.
    Opaque(RgbImage),
}

/// Whether the content's magic bytes are those of a format that is scaled.
pub(super) fn is_supported(bytes: &[u8]) -> bool {
    image::guess_format(bytes).is_ok_and(|format| SUPPORTED.contains(&format))
}

/// The decoder limits: per-side and allocation caps, enforced by `image` itself.
fn limits() -> Limits {
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    limits
}

/// Decodes `bytes` (first frame of animations), turns it upright and scales it to `width`
/// pixels wide, keeping the aspect ratio.
pub(super) fn scale(bytes: &[u8], width: u32) -> Result<Scaled, RasterError> {
    let format = image::guess_format(bytes).map_err(|_| RasterError::Unsupported)?;
    if !SUPPORTED.contains(&format) {
        return Err(RasterError::Unsupported);
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    reader.limits(limits());
    // Creating the decoder reads only the header; the limits apply from here on.
    let mut decoder = reader.into_decoder()?;
    let (source_width, source_height) = decoder.dimensions();
    check_dimensions(source_width, source_height)?;

    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    let (upright_width, upright_height) = match orientation {
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH => {
            (source_height, source_width)
        }
        _ => (source_width, source_height),
    };
    // Checked before decoding so that an absurd shape costs nothing.
    let height = target_height(f64::from(upright_width), f64::from(upright_height), width)
        .ok_or(RasterError::OutputTooLarge { width: upright_width, height: upright_height })?;

    let mut image = DynamicImage::from_decoder(decoder)?;
    image.apply_orientation(orientation);

    if has_transparency(&image) {
        Ok(Scaled::Transparent(scale_with_alpha(image, width, height)))
    } else {
        Ok(Scaled::Opaque(image.thumbnail_exact(width, height).into_rgb8()))
    }
}

/// Rejects headers claiming more pixels than [`MAX_PIXELS`] or a side over [`MAX_SIDE`].
pub(super) fn check_dimensions(width: u32, height: u32) -> Result<(), RasterError> {
    if width == 0
        || height == 0
        || width > MAX_SIDE
        || height > MAX_SIDE
        || u64::from(width) * u64::from(height) > MAX_PIXELS
    {
        return Err(RasterError::TooLarge { width, height });
    }
    Ok(())
}

/// Whether any pixel is less than fully opaque. An alpha channel alone does not count: many
/// RGBA files are opaque throughout, and those are better served as JPEG.
fn has_transparency(image: &DynamicImage) -> bool {
    match image {
        DynamicImage::ImageLumaA8(buffer) => buffer.pixels().any(|p| p.0[1] < u8::MAX),
        DynamicImage::ImageRgba8(buffer) => buffer.pixels().any(|p| p.0[3] < u8::MAX),
        DynamicImage::ImageLumaA16(buffer) => buffer.pixels().any(|p| p.0[1] < u16::MAX),
        DynamicImage::ImageRgba16(buffer) => buffer.pixels().any(|p| p.0[3] < u16::MAX),
        DynamicImage::ImageRgba32F(buffer) => buffer.pixels().any(|p| p.0[3] < 1.0),
        _ => false,
    }
}

/// Scales an image with transparency. Colours are premultiplied by alpha while averaging, or
/// the (often black) colour of invisible pixels would bleed into the edges of visible ones.
fn scale_with_alpha(image: DynamicImage, width: u32, height: u32) -> RgbaImage {
    let mut rgba = image.into_rgba8();
    for pixel in rgba.pixels_mut() {
        let alpha = u16::from(pixel.0[3]);
        for channel in &mut pixel.0[..3] {
            // Exact rounding of channel * alpha / 255; at most 255, so the cast is lossless.
            *channel = ((u16::from(*channel) * alpha + 127) / 255) as u8;
        }
    }
    let mut scaled = DynamicImage::ImageRgba8(rgba).thumbnail_exact(width, height).into_rgba8();
    for pixel in scaled.pixels_mut() {
        let alpha = u32::from(pixel.0[3]);
        if alpha == 0 {
            continue;
        }
        for channel in &mut pixel.0[..3] {
            // A premultiplied channel never exceeds alpha, but averaging may round past it.
            *channel = ((u32::from(*channel) * 255 + alpha / 2) / alpha).min(255) as u8;
        }
    }
    scaled
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG claiming `width` × `height` RGBA pixels whose data is a tiny, empty zlib stream:
    /// what a pixel-flood bomb looks like until its data is inflated.
    fn png_header(width: u32, height: u32) -> Vec<u8> {
        let mut header = width.to_be_bytes().to_vec();
        header.extend_from_slice(&height.to_be_bytes());
        header.extend_from_slice(&[8, 6, 0, 0, 0]);
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        push_chunk(&mut png, b"IHDR", &header);
        push_chunk(&mut png, b"IDAT", &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01]);
        push_chunk(&mut png, b"IEND", &[]);
        png
    }

    fn push_chunk(png: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        let length = u32::try_from(data.len()).expect("small chunk");
        png.extend_from_slice(&length.to_be_bytes());
        let mut body = kind.to_vec();
        body.extend_from_slice(data);
        png.extend_from_slice(&body);
        png.extend_from_slice(&crc32(&body).to_be_bytes());
    }

    fn crc32(data: &[u8]) -> u32 {
        let mut crc = !0u32;
        for &byte in data {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn pixel_flood_is_refused_from_the_header() {
        // Under the per-side cap, so only the pixel-count check can stop it: 400 megapixels.
        let result = scale(&png_header(20_000, 20_000), 200);
        assert!(matches!(result, Err(RasterError::TooLarge { width: 20_000, height: 20_000 })), "{result:?}");
        // Over the per-side cap: `image`'s own limits refuse it as the decoder is created.
        let result = scale(&png_header(100_000, 100_000), 200);
        assert!(
            matches!(result, Err(RasterError::Decode(ImageError::Limits(_))) | Err(RasterError::TooLarge { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn dimension_checks() {
        assert!(check_dimensions(10_000, 10_000).is_ok());
        assert!(check_dimensions(10_000, 10_001).is_err());
        assert!(check_dimensions(MAX_SIDE, 1).is_ok());
        assert!(check_dimensions(MAX_SIDE + 1, 1).is_err());
        assert!(check_dimensions(0, 1).is_err());
    }

    #[test]
    fn absurdly_tall_images_are_refused_before_decoding() {
        // 1 × 60000 would be 200 × 12 000 000 at the default width.
        let result = scale(&png_header(1, 60_000), 200);
        assert!(matches!(result, Err(RasterError::OutputTooLarge { .. })), "{result:?}");
    }

    #[test]
    fn supported_formats_are_recognised_by_content() {
        assert!(is_supported(&png_header(1, 1)));
        assert!(is_supported(b"GIF89a\x01\x00\x01\x00"));
        assert!(!is_supported(b"%PDF-1.7"));
        assert!(!is_supported(b""));
    }
}
