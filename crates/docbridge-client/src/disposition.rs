//! Reading the file name out of a `Content-Disposition` header (RFC 6266, RFC 8187): the
//! receiving side of what `docbridge_protocol::content_disposition` builds.

use percent_encoding::percent_decode_str;

/// The disposition type and parameters of a header value, parameter names lower-cased and
/// quoted strings unescaped.
pub fn parse_content_disposition(value: &str) -> (String, Vec<(String, String)>) {
    let mut parts = split_outside_quotes(value).into_iter();
    let disposition = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let params = parts
        .filter_map(|part| {
            let (name, raw) = part.split_once('=')?;
            Some((name.trim().to_ascii_lowercase(), unquote(raw.trim())))
        })
        .collect();
    (disposition, params)
}

/// The file name a header announces: `filename*` when present and decodable, else `filename`.
pub fn filename_from_content_disposition(value: &str) -> Option<String> {
    let (_, params) = parse_content_disposition(value);
    let extended = params.iter().find(|(name, _)| name == "filename*").and_then(|(_, v)| decode_ext_value(v));
    extended.or_else(|| params.into_iter().find(|(name, _)| name == "filename").map(|(_, v)| v))
}

/// Decodes an RFC 8187 `charset'language'percent-encoded` value (UTF-8 or ISO-8859-1).
pub fn decode_ext_value(raw: &str) -> Option<String> {
    let mut pieces = raw.splitn(3, '\'');
    let (charset, _language, encoded) = (pieces.next()?, pieces.next()?, pieces.next()?);
    let bytes: Vec<u8> = percent_decode_str(encoded).collect();
    if charset.eq_ignore_ascii_case("utf-8") {
        String::from_utf8(bytes).ok()
    } else if charset.eq_ignore_ascii_case("iso-8859-1") {
        Some(bytes.into_iter().map(char::from).collect())
    } else {
        None
    }
}

fn split_outside_quotes(value: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let (mut quoted, mut escaped) = (false, false);
    for c in value.chars() {
        if !quoted && c == ';' {
            parts.push(String::new());
            continue;
        }
        if quoted && escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        }
        if let Some(current) = parts.last_mut() {
            current.push(c);
        }
    }
    parts
}

fn unquote(raw: &str) -> String {
    let Some(inner) = raw.strip_prefix('"').and_then(|r| r.strip_suffix('"')) else {
        return raw.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            out.extend(chars.next());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use docbridge_protocol::content_disposition;

    #[test]
    fn reads_what_the_protocol_crate_writes() {
        for name in ["a b.pdf", "résumé \"final\"; v2.txt", "日本語.png", "plain"] {
            let header = content_disposition("attachment", name);
            assert_eq!(filename_from_content_disposition(&header).as_deref(), Some(name), "{header}");
            assert_eq!(parse_content_disposition(&header).0, "attachment");
        }
    }

    #[test]
    fn falls_back_to_the_plain_filename() {
        assert_eq!(
            filename_from_content_disposition("attachment; filename=\"a\\\"b.txt\"").as_deref(),
            Some("a\"b.txt")
        );
        assert_eq!(filename_from_content_disposition("inline; filename=x.txt").as_deref(), Some("x.txt"));
        assert_eq!(filename_from_content_disposition("attachment"), None);
        assert_eq!(
            filename_from_content_disposition("attachment; filename*=iso-8859-1''caf%E9").as_deref(),
            Some("café")
        );
    }
}
