//! `Content-Disposition` values with RFC 6266 / RFC 8187 filenames (C11).

/// Builds `attachment; filename="ascii fallback"; filename*=UTF-8''percent-encoded` (or
/// `inline; ...`). The quoted fallback keeps only printable ASCII, without quotes and
/// backslashes, so that old clients get a usable name and no header injection is possible.
pub fn content_disposition(disposition: &str, filename: &str) -> String {
    let fallback: String = filename
        .chars()
        .map(|c| if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' { c } else { '_' })
        .collect();
    let mut encoded = String::with_capacity(filename.len() * 3);
    for byte in filename.bytes() {
        // RFC 8187 attr-char: ALPHA / DIGIT / "!" / "#" / "$" / "&" / "+" / "-" / "." / "^" / "_" / "`" / "|" / "~"
        if byte.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&byte) {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    format!("{disposition}; filename=\"{fallback}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(
            content_disposition("attachment", "a b.pdf"),
            "attachment; filename=\"a b.pdf\"; filename*=UTF-8''a%20b.pdf"
        );
        assert_eq!(
            content_disposition("attachment", "ré\"sumé.txt"),
            "attachment; filename=\"r__sum_.txt\"; filename*=UTF-8''r%C3%A9%22sum%C3%A9.txt"
        );
    }

    proptest! {
        #[test]
        fn always_a_valid_header_value(name in "\\PC{0,60}") {
            let value = content_disposition("attachment", &name);
            prop_assert!(value.bytes().all(|b| (0x20..0x7f).contains(&b)));
        }
    }
}
