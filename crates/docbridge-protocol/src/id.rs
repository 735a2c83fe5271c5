//! Item IDs: opaque, URL-safe, at most 64 characters, `/` for the root (contract C6).

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ProtocolError;

/// An item ID as it travels on the wire. It never encodes a storage path: docbridge maps IDs
/// to items through its index, so a well-formed but unknown ID is simply not found.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ItemId(String);

impl ItemId {
    /// The longest ID docbridge issues or accepts.
    pub const MAX_LEN: usize = 64;
    const ROOT: &'static str = "/";

    /// The root folder's ID, `/`.
    pub fn root() -> Self {
        ItemId(Self::ROOT.to_owned())
    }

    /// Parses an ID received from a client. `/` is the root; anything else must be 1 to 64
    /// characters of `[A-Za-z0-9_-]`.
    pub fn parse(field: &'static str, raw: &str) -> Result<Self, ProtocolError> {
        if raw == Self::ROOT {
            return Ok(Self::root());
        }
        if raw.is_empty() {
            return Err(ProtocolError::invalid(field, "must not be empty"));
        }
        if raw.len() > Self::MAX_LEN {
            return Err(ProtocolError::invalid(field, format!("is longer than {} characters", Self::MAX_LEN)));
        }
        if !raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(ProtocolError::invalid(field, "is not a valid item ID"));
        }
        Ok(ItemId(raw.to_owned()))
    }

    /// Parses a parent-folder parameter: absent, empty and `/` all mean the root (C9).
    pub fn parse_parent(field: &'static str, raw: Option<&str>) -> Result<Self, ProtocolError> {
        match raw {
            None | Some("") => Ok(Self::root()),
            Some(raw) => Self::parse(field, raw),
        }
    }

    /// Wraps an ID that docbridge itself generated. Panics in debug builds if it is malformed,
    /// because that would be a bug in the generator, never input.
    pub fn from_trusted(raw: String) -> Self {
        debug_assert!(Self::parse("id", &raw).is_ok(), "generated a malformed ID: {raw:?}");
        ItemId(raw)
    }

    /// Whether this is the root folder's ID, `/`.
    pub fn is_root(&self) -> bool {
        self.0 == Self::ROOT
    }

    /// The ID as sent on the wire.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ItemId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ItemId({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn root_and_parent_defaults() {
        assert!(ItemId::parse("id", "/").unwrap().is_root());
        assert!(ItemId::parse_parent("parentId", None).unwrap().is_root());
        assert!(ItemId::parse_parent("parentId", Some("")).unwrap().is_root());
        assert!(!ItemId::parse_parent("parentId", Some("abc")).unwrap().is_root());
    }

    #[test]
    fn malicious_ids_are_refused() {
        for bad in ["", "..", "../etc/passwd", "/etc", "a/b", "a\\b", "a\0b", "%2e%2e", "a b", "é", &"x".repeat(65)] {
            assert!(ItemId::parse("id", bad).is_err(), "{bad:?} should be refused");
        }
    }

    proptest! {
        #[test]
        fn valid_ids_round_trip_through_json(raw in "[A-Za-z0-9_-]{1,64}") {
            let id = ItemId::parse("id", &raw).unwrap();
            let json = serde_json::to_string(&id).unwrap();
            let back: ItemId = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back, id);
        }

        #[test]
        fn anything_accepted_is_url_safe(raw in ".{0,80}") {
            if let Ok(id) = ItemId::parse("id", &raw) {
                prop_assert!(id.is_root() || (id.as_str().len() <= 64
                    && id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')));
            }
        }
    }
}
