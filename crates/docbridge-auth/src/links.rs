//! Signed `viewLink`/`downloadLink` URLs (C8): HMAC-SHA256 over integration, item, action,
//! user and expiry, so a browser without credentials can open them and nobody can forge one.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::{AuthError, Result};

/// What a link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkAction {
    /// Open the item's view page.
    View,
    /// Download the file's bytes.
    Download,
}

impl LinkAction {
    /// The action as it appears in the link's query string.
    pub fn as_str(self) -> &'static str {
        match self {
            LinkAction::View => "view",
            LinkAction::Download => "download",
        }
    }
}

/// The signed parameters of a link, as they travel in its query string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedLink {
    /// The integration's slug.
    pub integration: String,
    /// The item's ID.
    pub item_id: String,
    /// What the link allows.
    pub action: LinkAction,
    /// The user the link was made for: the file is served with that user's permissions.
    pub user: String,
    /// When the link stops working, in seconds since the Unix epoch.
    pub expires: i64,
    /// HMAC-SHA256 of the fields above, base64url without padding.
    pub signature: String,
}

/// Signs and checks links with one key shared by every process (stored in the registry).
#[derive(Clone)]
pub struct LinkSigner {
    /// The MAC with the key already absorbed: cloning it skips hashing the padded key again for
    /// every link (two of the six SHA-256 blocks a link costs).
    keyed: Hmac<Sha256>,
}

impl std::fmt::Debug for LinkSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LinkSigner([redacted])")
    }
}

impl LinkSigner {
    /// A signer with this key (any length; docbridge uses 256 random bits).
    pub fn new(key: &[u8]) -> Self {
        // Hmac accepts keys of any length.
        let keyed =
            <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        LinkSigner { keyed }
    }

    fn mac(&self, integration: &str, item_id: &str, action: LinkAction, user: &str, expires: i64) -> Hmac<Sha256> {
        let mut mac = self.keyed.clone();
        // Length-prefixed fields, so that no two different tuples sign the same bytes.
        for field in [integration, item_id, action.as_str(), user, &expires.to_string()] {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac
    }

    /// Signs a link to `item_id` of `integration` for `user`, valid until `expires`.
    pub fn sign(
        &self,
        integration: &str,
        item_id: &str,
        action: LinkAction,
        user: &str,
        expires: DateTime<Utc>,
    ) -> SignedLink {
        let expires = expires.timestamp();
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(self.mac(integration, item_id, action, user, expires).finalize().into_bytes());
        SignedLink {
            integration: integration.to_owned(),
            item_id: item_id.to_owned(),
            action,
            user: user.to_owned(),
            expires,
            signature,
        }
    }

    /// Checks a link's signature (constant-time) and expiry.
    pub fn verify(&self, link: &SignedLink, now: DateTime<Utc>) -> Result<()> {
        let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&link.signature)
            .map_err(|_| AuthError::Forbidden("this link has been tampered with".into()))?;
        self.mac(&link.integration, &link.item_id, link.action, &link.user, link.expires)
            .verify_slice(&signature)
            .map_err(|_| AuthError::Forbidden("this link has been tampered with".into()))?;
        if now.timestamp() > link.expires {
            return Err(AuthError::Forbidden("this link has expired".into()));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    #[test]
    fn signed_links_verify_and_tampering_is_caught() {
        let signer = LinkSigner::new(b"key");
        let now = Utc::now();
        let link = signer.sign("default", "abc", LinkAction::View, "joe", now + Duration::hours(1));
        assert!(signer.verify(&link, now).is_ok());
        let mut other = link.clone();
        other.item_id = "abd".into();
        assert!(signer.verify(&other, now).is_err());
        let mut other = link.clone();
        other.action = LinkAction::Download;
        assert!(signer.verify(&other, now).is_err());
        let mut other = link.clone();
        other.expires += 3600;
        assert!(signer.verify(&other, now).is_err());
        assert!(LinkSigner::new(b"other").verify(&link, now).is_err());
        let err = signer.verify(&link, now + Duration::hours(2)).unwrap_err();
        assert!(err.to_string().contains("expired"));
    }

    /// A signature made before the key was absorbed once (a fresh MAC per link) still verifies:
    /// links handed out by older processes sharing the key keep working.
    #[test]
    fn signatures_match_a_fresh_mac() {
        let signer = LinkSigner::new(b"shared key");
        let expires = 1_700_000_000;
        let mut fresh = <Hmac<Sha256> as Mac>::new_from_slice(b"shared key").unwrap();
        for field in ["default", "abc", "view", "joe", &expires.to_string()] {
            fresh.update(&(field.len() as u64).to_be_bytes());
            fresh.update(field.as_bytes());
        }
        let expected = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(fresh.finalize().into_bytes());
        let link =
            signer.sign("default", "abc", LinkAction::View, "joe", DateTime::from_timestamp(expires, 0).unwrap());
        assert_eq!(link.signature, expected);
    }
}
