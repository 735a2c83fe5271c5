//! Issuing and checking random secrets (ApiKeys, client secrets, tokens, codes).

use base64::Engine;
use rand::RngCore;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// What is stored of a secret: its hash and a short hint to tell keys apart in listings. With
/// the `registry` feature this is the registry's own type, which it stores as it is.
#[cfg(feature = "registry")]
pub use docbridge_registry::KeyHash;

/// What is stored of a secret: its hex SHA-256 and its first six characters, to tell keys apart
/// in listings. The same fields as the registry's `KeyHash`, which replaces this type when the
/// `registry` feature is on.
#[cfg(not(feature = "registry"))]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHash {
    /// Hex SHA-256 of the secret ([`hash_secret`]).
    pub hash: String,
    /// The secret's first six characters.
    pub hint: String,
}

/// A secret as issued: the plain value, to show once, and what to store.
#[derive(Clone)]
pub struct IssuedSecret {
    /// The secret itself: shown to its owner once, never stored.
    pub plain: String,
    /// Its hash and hint, to store.
    pub stored: KeyHash,
}

impl std::fmt::Debug for IssuedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedSecret").field("plain", &"[redacted]").field("hint", &self.stored.hint).finish()
    }
}

/// 256 random bits, base64url: long enough that a fast hash (SHA-256) is a safe way to store
/// it, unlike a human password.
pub fn issue_secret() -> IssuedSecret {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let plain = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let stored = KeyHash { hash: hash_secret(&plain), hint: plain.chars().take(6).collect() };
    IssuedSecret { plain, stored }
}

/// Hex SHA-256 of a secret: what the registry stores.
pub fn hash_secret(plain: &str) -> String {
    hex::encode(Sha256::digest(plain.as_bytes()))
}

/// Constant-time equality of two strings (of any lengths).
pub fn secrets_equal(a: &str, b: &str) -> bool {
    // Hash both first so that the comparison does not even leak the length.
    let (a, b) = (Sha256::digest(a.as_bytes()), Sha256::digest(b.as_bytes()));
    a.ct_eq(&b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_secrets_are_unique_and_verifiable() {
        let a = issue_secret();
        let b = issue_secret();
        assert_ne!(a.plain, b.plain);
        assert_eq!(a.plain.len(), 43);
        assert_eq!(hash_secret(&a.plain), a.stored.hash);
        assert!(a.plain.starts_with(&a.stored.hint));
        assert!(!format!("{a:?}").contains(&a.plain));
    }

    #[test]
    fn equality() {
        assert!(secrets_equal("abc", "abc"));
        assert!(!secrets_equal("abc", "abd"));
        assert!(!secrets_equal("abc", "abcd"));
    }
}
