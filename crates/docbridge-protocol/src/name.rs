//! Validation of file and folder names received from clients (contract C13, C15, C17).

use unicode_normalization::UnicodeNormalization;

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

/// Characters that change how a name is displayed without being visible themselves: the
/// bidirectional embeddings, overrides and isolates (U+202A–U+202E, U+2066–U+2069), the
/// left-to-right and right-to-left marks (U+200E, U+200F), and the zero-width space, joiners,
/// word joiner and byte-order mark (U+200B–U+200D, U+2060, U+FEFF). `invoice\u{202E}fdp.exe`
/// shows as `invoiceexe.pdf`; `a\u{200B}b` looks like `ab` but is another file.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{200B}'..='\u{200D}' | '\u{2060}' | '\u{FEFF}')
}

/// Checks a name a client wants to give a new or renamed item, and returns the name to use:
/// [`validate_name`]'s rules, no invisible formatting characters (bidirectional controls,
/// zero-width characters), and the Unicode NFC form, so that `é` typed on a Mac (NFD: `e` and a
/// combining accent) and `é` sent by Workfront (NFC) name the same item. Names that other
/// programs put in storage are not held to this: they keep their spelling, and
/// [`same_name`] is how a new name is compared with them.
pub fn new_name(field: &'static str, name: &str) -> Result<String, ProtocolError> {
    if name.chars().any(is_invisible) {
        return Err(ProtocolError::invalid(field, "must not contain bidirectional controls or zero-width characters"));
    }
    let normalized: String = name.nfc().collect();
    validate_name(field, &normalized)?;
    Ok(normalized)
}

/// Whether two names are the same name to a person: equal once both are in NFC. A new name
/// that is the same as an existing item's is taken, however either is spelled.
pub fn same_name(a: &str, b: &str) -> bool {
    a == b || a.nfc().eq(b.nfc())
}

/// The form of a name under which [`same_name`] names are equal, for sets of taken names.
pub fn name_key(name: &str) -> String {
    name.nfc().collect()
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

    #[test]
    fn invisible_characters_are_refused_in_new_names() {
        for bad in [
            "invoice\u{202E}fdp.exe",
            "\u{202A}a",
            "a\u{2066}b",
            "a\u{2069}",
            "\u{200E}x",
            "x\u{200F}",
            "a\u{200B}b",
            "a\u{200C}b",
            "a\u{200D}b",
            "a\u{2060}b",
            "\u{FEFF}bom.txt",
        ] {
            let err = new_name("name", bad).unwrap_err();
            assert!(err.to_string().contains("zero-width"), "{bad:?}: {err}");
        }
        // The component rules still apply.
        assert!(new_name("name", "a/b").is_err());
        assert!(new_name("name", "").is_err());
    }

    #[test]
    fn new_names_are_nfc_and_compare_equal_to_their_nfd_spelling() {
        let nfd = "cafe\u{0301}.txt";
        let nfc = "caf\u{00E9}.txt";
        assert_eq!(new_name("name", nfd).unwrap(), nfc);
        assert_eq!(new_name("name", nfc).unwrap(), nfc);
        assert!(same_name(nfd, nfc));
        assert!(!same_name("cafe.txt", nfc));
        assert_eq!(name_key(nfd), name_key(nfc));
        // Hangul and Arabic text is not touched beyond NFC.
        assert_eq!(new_name("name", "日本語.txt").unwrap(), "日本語.txt");
    }

    proptest! {
        #[test]
        fn new_names_are_valid_and_stable(name in "\\PC{0,100}") {
            if let Ok(accepted) = new_name("name", &name) {
                prop_assert!(validate_name("name", &accepted).is_ok());
                prop_assert_eq!(new_name("name", &accepted).unwrap(), accepted.clone());
                prop_assert!(same_name(&name, &accepted));
            }
        }

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
