//! Validation of file and folder names received from clients (contract C13, C15, C17).

use crate::ProtocolError;

/// Names are limited to what every common filesystem accepts in one path component.
pub const MAX_NAME_BYTES: usize = 255;

/// Checks a new item name: not empty, not `.` or `..`, no `/`, `\` or NUL, at most 255 bytes.
/// Control characters are refused too: they cannot be typed in Workfront and only serve to
/// confuse logs and terminals.
pub fn validate_name(field: &'static str, name: &str) -> Result<(), ProtocolError> {
    let reason = if name.is_empty() {
        "must not be empty"
    } else if name == "." || name == ".." {
        "must not be \".\" or \"..\""
    } else if name.contains(['/', '\\']) {
        "must not contain \"/\" or \"\\\""
    } else if name.contains('\0') {
        "must not contain a NUL character"
    } else if name.chars().any(char::is_control) {
        "must not contain control characters"
    } else if name.len() > MAX_NAME_BYTES {
        "is longer than 255 bytes"
    } else {
        return Ok(());
    };
    Err(ProtocolError::invalid(field, reason))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn contract_examples() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b", "tab\there", &"é".repeat(128)] {
            assert!(validate_name("name", bad).is_err(), "{bad:?} should be refused");
        }
        for good in ["report.pdf", "report (1).pdf", "...", ".hidden", "日本語.txt", &"x".repeat(255)] {
            assert!(validate_name("name", good).is_ok(), "{good:?} should be accepted");
        }
    }

    #[test]
    fn error_names_the_field() {
        let err = validate_name("filename", "").unwrap_err();
        assert!(err.to_string().starts_with("filename:"), "{err}");
    }

    proptest! {
        #[test]
        fn accepted_names_are_single_safe_components(name in "\\PC{0,300}") {
            if validate_name("name", &name).is_ok() {
                prop_assert!(!name.is_empty() && name != "." && name != "..");
                prop_assert!(!name.contains('/') && !name.contains('\\') && !name.contains('\0'));
                prop_assert!(name.len() <= MAX_NAME_BYTES);
            }
        }
    }
}
