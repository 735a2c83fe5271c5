//! Recognising image bytes by their magic numbers, for the thumbnail checks (§9.5, C12).

/// The image format of `bytes`, if they start like one of the formats browsers display.
pub(crate) fn sniff(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("PNG")
    } else if starts(b"\xff\xd8\xff") {
        Some("JPEG")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("GIF")
    } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("WebP")
    } else if starts(b"BM") {
        Some("BMP")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("TIFF")
    } else if starts(b"<svg") || starts(b"<?xml") {
        Some("SVG")
    } else {
        None
    }
}

/// A 16×16 PNG (two-colour checkerboard) uploaded as the image fixture.
pub(crate) const FIXTURE_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x10, 0x00, 0x00, 0x00, 0x10, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x91, 0x68, 0x36, 0x00, 0x00, 0x00, 0x24, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0xb0, 0x40, 0x01, 0x8e, 0x14, 0x12, 0x0e, 0xc0, 0x11, 0x2e, 0x71, 0x86,
    0x41, 0xa8, 0x81, 0x18, 0x45, 0xc8, 0xe2, 0x83, 0x51, 0xc3, 0x68, 0x3c, 0x0c, 0x0a, 0x0d, 0x00, 0xfc, 0xc1, 0x78,
    0x10, 0x75, 0xd4, 0xe1, 0xe6, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_formats() {
        assert_eq!(sniff(FIXTURE_PNG), Some("PNG"));
        assert_eq!(sniff(b"\xff\xd8\xff\xe0rest"), Some("JPEG"));
        assert_eq!(sniff(b"RIFF\0\0\0\0WEBPVP8 "), Some("WebP"));
        assert_eq!(sniff(b"hello"), None);
        assert_eq!(sniff(b""), None);
    }
}
