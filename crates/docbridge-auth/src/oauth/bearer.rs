//! `Authorization: Bearer` on provider calls (C4): an access token of this integration, in
//! force, for a user who still exists. Every failure is `Forbidden`, the 403 that makes
//! Workfront refresh (protocol §13.7).

use chrono::Utc;
use docbridge_registry::{Integration, OAuthTokenKind, Registry};

use crate::{AuthError, Result, hash_secret};

/// Who an authenticated bearer call acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BearerCaller {
    /// The user the token was issued to, by their current username.
    pub username: String,
}

/// The token of the first `Bearer` credential among `Authorization` header values. Workfront
/// may add an administrator-configured `Authorization` header of its own (protocol §13.15), so
/// other schemes are skipped rather than refused.
pub fn bearer_token<'a>(authorization: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    authorization.into_iter().find_map(|value| {
        let (scheme, token) = value.trim().split_once(' ')?;
        let token = token.trim();
        (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
    })
}

/// Checks a bearer token against the integration.
pub async fn authenticate_bearer(
    registry: &Registry,
    integration: &Integration,
    token: Option<&str>,
) -> Result<BearerCaller> {
    let token = token.ok_or_else(|| AuthError::Forbidden("missing bearer token (Authorization: Bearer ...)".into()))?;
    let invalid = || AuthError::Forbidden("invalid bearer token".into());
    // Only a token that matches no access token of this integration is a guess; a revoked or
    // expired one was really issued, and its holder is told to sign in or refresh again.
    let wrong = || AuthError::WrongCredential("invalid bearer token".into());
    // Looked up by hash: the index does the comparison, and the hash of a guess reveals nothing.
    // A token names its user by ID, and is not found once that user is gone: a deleted user's
    // tokens die with the user, and a new user who takes the name gets none of them.
    let stored = registry.oauth_token(&hash_secret(token)).await?.ok_or_else(wrong)?;
    if stored.kind != OAuthTokenKind::Access || stored.integration_id != integration.id {
        return Err(wrong());
    }
    if stored.revoked_at.is_some() {
        return Err(invalid());
    }
    if Utc::now() >= stored.expires_at {
        return Err(AuthError::Forbidden("expired bearer token".into()));
    }
    Ok(BearerCaller { username: stored.username })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_bearer_credential() {
        assert_eq!(bearer_token(["Bearer abc"]), Some("abc"));
        assert_eq!(bearer_token(["bearer   abc  "]), Some("abc"));
        assert_eq!(bearer_token(["Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==", "Bearer abc"]), Some("abc"));
        assert_eq!(bearer_token(["Bearer "]), None);
        assert_eq!(bearer_token(["Bearer"]), None);
        assert_eq!(bearer_token(["Token abc"]), None);
        assert_eq!(bearer_token([]), None);
    }
}
