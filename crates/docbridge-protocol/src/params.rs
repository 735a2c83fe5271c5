//! Parsing of numeric query parameters (`max`, `offset`, `size`).

use crate::ProtocolError;

/// Parses an optional non-negative count. Absent or empty is `None`; anything that is not a
/// plain decimal number (negative, fractional, words) is refused (C9).
pub fn parse_count(field: &'static str, raw: Option<&str>) -> Result<Option<u64>, ProtocolError> {
    match raw.map(str::trim) {
        None | Some("") => Ok(None),
        Some(raw) if raw.bytes().all(|b| b.is_ascii_digit()) => {
            raw.parse::<u64>().map(Some).map_err(|_| ProtocolError::invalid(field, "is too large"))
        }
        Some(_) => Err(ProtocolError::invalid(field, "must be a non-negative whole number")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(parse_count("max", None), Ok(None));
        assert_eq!(parse_count("max", Some("")), Ok(None));
        assert_eq!(parse_count("max", Some("10")), Ok(Some(10)));
        for bad in ["-1", "1.5", "ten", "1e3", "99999999999999999999999"] {
            assert!(parse_count("max", Some(bad)).is_err(), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn numbers_round_trip(n in any::<u64>()) {
            prop_assert_eq!(parse_count("max", Some(&n.to_string())), Ok(Some(n)));
        }
    }
}
