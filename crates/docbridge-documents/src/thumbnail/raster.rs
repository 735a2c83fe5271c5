//! Decoding and scaling of raster images (PNG, JPEG, GIF, WebP, BMP, TIFF) under limits.
//!
//! A few hundred bytes can claim billions of pixels ("pixel flood"), so the dimensions are
//! read from the header and checked before anything is decoded, and the decoder itself is
//! given [`image::Limits`]. Whole-image decodes are refused above [`MAX_DECODE_BYTES`]; large
//! non-interlaced PNGs (the common screenshot or scan of 10000 × 10000 pixels that compresses
//! to a few hundred KB) are instead scaled row by row as they are inflated, so they cost one
//! source row and the thumbnail, whatever their size. Row-by-row work stops at its deadline.

use std::fmt;
use std::io::Cursor;
use std::time::Instant;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageError, ImageFormat, ImageReader, Limits, RgbImage, RgbaImage};

use super::target_height;

/// Most pixels a source image may have: 100 megapixels, about 400 MB as RGBA.
pub(super) const MAX_PIXELS: u64 = 100_000_000;
/// Longest side a source image may have.
pub(super) const MAX_SIDE: u32 = 65_535;
/// Largest image decoded whole, in decoded bytes: a 53-megapixel RGB photo. Scaling can hold
/// a second copy (orientation), so one decode peaks at about twice this.
pub(super) const MAX_DECODE_BYTES: u64 = 160 * 1024 * 1024;
/// PNGs whose whole decode would exceed this many bytes are scaled row by row instead.
const STREAM_ABOVE_BYTES: u64 = 16 * 1024 * 1024;
/// Rows scaled between two looks at the clock.
const ROWS_PER_DEADLINE_CHECK: u32 = 64;

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
    /// The streaming PNG decoder refused the content.
    Png(png::DecodingError),
    /// Decoding would need more than [`MAX_DECODE_BYTES`] and cannot be done row by row.
    OverBudget { bytes: u64 },
    /// The deadline passed before the image was scaled.
    TimedOut,
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
            RasterError::Png(error) => write!(f, "PNG not decoded: {error}"),
            RasterError::OverBudget { bytes } => write!(f, "decoding would take {bytes} bytes, over the budget"),
            RasterError::TimedOut => f.write_str("image scaling overran its deadline"),
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
    limits.max_alloc = Some(MAX_DECODE_BYTES);
    limits
}

/// Decodes `bytes` (first frame of animations), turns it upright and scales it to `width`
/// pixels wide, keeping the aspect ratio. Row-by-row scaling gives up at `deadline`.
pub(super) fn scale(bytes: &[u8], width: u32, deadline: Instant) -> Result<Scaled, RasterError> {
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

    let decoded_bytes = decoder.total_bytes();
    if decoded_bytes > STREAM_ABOVE_BYTES && format == ImageFormat::Png {
        let (stored_width, stored_height) =
            if upright_width == source_width { (width, height) } else { (height, width) };
        // Only downscaling can be done in one pass; anything this large is downscaled.
        if stored_width <= source_width
            && stored_height <= source_height
            && let Some(scaled) = stream_png(bytes, stored_width, stored_height, deadline)?
        {
            return Ok(orient(scaled, orientation));
        }
    }
    // `image` enforces `max_alloc` for some decoders only, so the budget is checked here.
    if decoded_bytes > MAX_DECODE_BYTES {
        return Err(RasterError::OverBudget { bytes: decoded_bytes });
    }
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

/// Turns a scaled image upright (it is small: the copy costs nothing).
fn orient(scaled: Scaled, orientation: Orientation) -> Scaled {
    if orientation == Orientation::NoTransforms {
        return scaled;
    }
    match scaled {
        Scaled::Transparent(image) => {
            let mut image = DynamicImage::ImageRgba8(image);
            image.apply_orientation(orientation);
            Scaled::Transparent(image.into_rgba8())
        }
        Scaled::Opaque(image) => {
            let mut image = DynamicImage::ImageRgb8(image);
            image.apply_orientation(orientation);
            Scaled::Opaque(image.into_rgb8())
        }
    }
}

/// Scales a PNG to `width` × `height` (no larger than the source) while it is inflated, one
/// row at a time: each thumbnail pixel is the average of the source pixels it covers, with
/// colours weighted by alpha (as [`scale_with_alpha`] does). `None` for interlaced files,
/// whose rows arrive in passes.
fn stream_png(bytes: &[u8], width: u32, height: u32, deadline: Instant) -> Result<Option<Scaled>, RasterError> {
    let mut decoder = png::Decoder::new(Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(RasterError::Png)?;
    let (source_width, source_height, interlaced) = {
        let info = reader.info();
        (info.width, info.height, info.interlaced)
    };
    if interlaced {
        return Ok(None);
    }
    let channels = reader.output_color_type().0.samples();
    // Which thumbnail column each source column falls in.
    let columns: Vec<usize> =
        (0..u64::from(source_width)).map(|x| (x * u64::from(width) / u64::from(source_width)) as usize).collect();
    let out_width = width as usize;
    // Per thumbnail column of the current thumbnail row: alpha-weighted R, G, B, alpha, count.
    let mut sums = vec![[0u64; 5]; out_width];
    let mut out = RgbaImage::new(width, height);
    let mut transparent = false;
    let mut current_row = 0u32;
    let mut y = 0u32;
    while let Some(row) = reader.next_row().map_err(RasterError::Png)? {
        if y.is_multiple_of(ROWS_PER_DEADLINE_CHECK) && Instant::now() > deadline {
            return Err(RasterError::TimedOut);
        }
        let target_row = (u64::from(y) * u64::from(height) / u64::from(source_height)) as u32;
        if target_row != current_row {
            flush_row(&mut sums, &mut out, current_row);
            current_row = target_row;
        }
        for (pixel, &column) in row.data().chunks_exact(channels).zip(&columns) {
            let (r, g, b, a) = match *pixel {
                [l] => (l, l, l, u8::MAX),
                [l, a] => (l, l, l, a),
                [r, g, b] => (r, g, b, u8::MAX),
                [r, g, b, a] => (r, g, b, a),
                _ => return Err(RasterError::Unsupported),
            };
            transparent |= a < u8::MAX;
            let (a64, sum) = (u64::from(a), &mut sums[column]);
            sum[0] += u64::from(r) * a64;
            sum[1] += u64::from(g) * a64;
            sum[2] += u64::from(b) * a64;
            sum[3] += a64;
            sum[4] += 1;
        }
        y += 1;
    }
    if y != source_height {
        return Err(RasterError::Unsupported);
    }
    flush_row(&mut sums, &mut out, current_row);
    Ok(Some(if transparent {
        Scaled::Transparent(out)
    } else {
        Scaled::Opaque(DynamicImage::ImageRgba8(out).into_rgb8())
    }))
}

/// Writes the averages gathered in `sums` to row `row` of `out` and clears them.
fn flush_row(sums: &mut [[u64; 5]], out: &mut RgbaImage, row: u32) {
    for (x, sum) in sums.iter_mut().enumerate() {
        let [r, g, b, alpha, count] = std::mem::take(sum);
        if count == 0 || row >= out.height() {
            continue;
        }
        // Averages of u8 values: each fits in a u8.
        let channel = |c: u64| (c + alpha / 2).checked_div(alpha).unwrap_or(0) as u8;
        let pixel = image::Rgba([channel(r), channel(g), channel(b), ((alpha + count / 2) / count) as u8]);
        out.put_pixel(x as u32, row, pixel);
    }
}

#[cfg(test)]
#[path = "../../tests/it/png_bomb.rs"]
mod png_bomb;

#[cfg(test)]
mod tests {
    use super::png_bomb::png_header;
    use super::*;

    fn far() -> Instant {
        Instant::now() + std::time::Duration::from_secs(600)
    }

    #[test]
    fn pixel_flood_is_refused_from_the_header() {
        // Under the per-side cap, so only the pixel-count check can stop it: 400 megapixels.
        let result = scale(&png_header(20_000, 20_000), 200, far());
        assert!(matches!(result, Err(RasterError::TooLarge { width: 20_000, height: 20_000 })), "{result:?}");
        // Over the per-side cap: `image`'s own limits refuse it as the decoder is created.
        let result = scale(&png_header(100_000, 100_000), 200, far());
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
        let result = scale(&png_header(1, 60_000), 200, far());
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
