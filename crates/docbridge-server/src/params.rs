//! Request parameters from the query string or a form body (C21), and the request headers the
//! protocol uses. Unknown parameters are ignored: Workfront appends its own to every call.

use std::collections::HashMap;

use axum::body::Body;
use axum::http::{HeaderMap, header};
use docbridge_protocol::{ItemId, ProtocolError, parse_count};

use crate::error::ApiError;

/// Form bodies are small by nature; anything bigger is not a parameter block.
const MAX_FORM_BYTES: usize = 64 * 1024;

/// Parameters of one call. The query string wins over the body when both name a parameter.
#[derive(Debug, Default, Clone)]
pub struct Params {
    values: HashMap<String, String>,
}

impl Params {
    pub fn from_query(query: Option<&str>) -> Result<Self, ApiError> {
        let mut params = Params::default();
        params.merge(query.unwrap_or(""))?;
        Ok(params)
    }

    fn merge(&mut self, encoded: &str) -> Result<(), ApiError> {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(encoded)
            .map_err(|e| ApiError::bad_request(format!("malformed parameters: {e}")))?;
        for (key, value) in pairs {
            self.values.entry(key).or_insert(value);
        }
        Ok(())
    }

    /// Adds the parameters of an `application/x-www-form-urlencoded` body, if that is what
    /// the body is.
    pub async fn add_form_body(&mut self, headers: &HeaderMap, body: Body) -> Result<(), ApiError> {
        let is_form = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.trim().to_ascii_lowercase().starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Ok(());
        }
        let bytes = axum::body::to_bytes(body, MAX_FORM_BYTES)
            .await
            .map_err(|_| ApiError::new(axum::http::StatusCode::PAYLOAD_TOO_LARGE, "the form body is too large"))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| ApiError::bad_request("the form body is not UTF-8"))?;
        self.merge(text)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    /// A required parameter: absent or empty is a 400 naming it.
    pub fn required(&self, name: &'static str) -> Result<&str, ApiError> {
        self.get(name).filter(|v| !v.is_empty()).ok_or_else(|| ApiError::bad_request(format!("{name}: is required")))
    }

    pub fn id(&self, name: &'static str) -> Result<ItemId, ApiError> {
        parse_id(name, self.required(name)?)
    }

    /// `parentId`: absent, empty and `/` mean the root (C9).
    pub fn parent(&self) -> Result<ItemId, ApiError> {
        match self.get("parentId") {
            None | Some("") => Ok(ItemId::root()),
            Some(raw) => parse_id("parentId", raw),
        }
    }

    pub fn count(&self, name: &'static str) -> Result<Option<u64>, ProtocolError> {
        parse_count(name, self.get(name))
    }
}

/// An item ID from a client. An ID is opaque to its caller, so one that docbridge could never
/// have issued is simply an ID of no item: 404, like an unknown one (C6). The answer does not
/// repeat the ID, which may be anything up to the header size limit.
pub fn parse_id(field: &'static str, raw: &str) -> Result<ItemId, ApiError> {
    ItemId::parse(field, raw).map_err(|_| ApiError::not_found(format!("{field}: no item with that ID")))
}

/// The longest `username` header accepted: an e-mail address is at most 320 bytes (RFC 3696
/// erratum 1690: 64 for the local part, `@`, 255 for the domain). The name is copied into
/// every signed link and audit line, so a longer one is refused rather than carried.
pub const MAX_USERNAME_BYTES: usize = 320;

/// The `username` header of an ApiKey call: absent stays absent (the auth layer says what is
/// missing); over [`MAX_USERNAME_BYTES`] is a 400.
pub fn username_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    match header_text(headers, "username") {
        Some(name) if name.len() > MAX_USERNAME_BYTES => Err(ApiError::bad_request(format!(
            "username: is longer than {MAX_USERNAME_BYTES} bytes ({} bytes)",
            name.len()
        ))),
        other => Ok(other),
    }
}

/// A header's value as text, matched case-insensitively by name (HTTP already does that).
/// UTF-8 is accepted: Workfront usernames are e-mail addresses, which may be internationalised.
pub fn header_text<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| std::str::from_utf8(v.as_bytes()).ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn query_parsing() {
        let p = Params::from_query(Some("parentId=%2F&max=10&access_type=offline&name=a%20b&name=second")).unwrap();
        assert!(p.parent().unwrap().is_root());
        assert_eq!(p.count("max").unwrap(), Some(10));
        assert_eq!(p.get("name"), Some("a b"));
        assert!(p.required("query").is_err());
        assert!(Params::from_query(Some("max=-1")).unwrap().count("max").is_err());
        assert!(Params::from_query(Some("id=..%2Fetc")).unwrap().id("id").is_err());
    }

    #[test]
    fn malformed_ids_are_not_found_and_missing_ones_are_bad_requests() {
        for raw in ["id=..%2Fetc", "id=a%20b", "id=%C3%A9", &format!("id={}", "x".repeat(65))] {
            let err = Params::from_query(Some(raw)).unwrap().id("id").unwrap_err();
            assert_eq!(err.status, axum::http::StatusCode::NOT_FOUND, "{raw}");
            assert!(!err.message.contains(".."), "{}", err.message);
        }
        let err = Params::from_query(Some("parentId=..")).unwrap().parent().unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::NOT_FOUND);
        let err = Params::from_query(Some("")).unwrap().id("id").unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn usernames_are_bounded() {
        let mut headers = HeaderMap::new();
        assert_eq!(username_header(&headers).unwrap(), None);
        headers.insert("username", "x".repeat(MAX_USERNAME_BYTES).parse().unwrap());
        assert!(username_header(&headers).unwrap().is_some());
        headers.insert("username", "x".repeat(MAX_USERNAME_BYTES + 1).parse().unwrap());
        let err = username_header(&headers).unwrap_err();
        assert_eq!(err.status, axum::http::StatusCode::BAD_REQUEST);
        assert!(err.message.starts_with("username:"), "{}", err.message);
    }

    proptest! {
        #[test]
        fn never_panics_on_any_query(query in "\\PC{0,80}") {
            if let Ok(p) = Params::from_query(Some(&query)) {
                let _ = p.id("id");
                let _ = p.parent();
                let _ = p.count("max");
            }
        }
    }
}
