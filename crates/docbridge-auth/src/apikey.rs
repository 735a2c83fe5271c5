//! ApiKey authentication of provider calls (C3).

#[cfg(feature = "registry")]
use docbridge_registry::{Integration, Registry};

use crate::{AuthError, Result, hash_secret, secrets_equal};

/// Who an authenticated ApiKey call acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyCaller {
    /// The `username` header, trimmed: the user the call acts for.
    pub username: String,
}

/// Checks the `apiKey` and `username` headers of a call against the integration's active keys.
/// Every failure is `Forbidden`, with a message that says what was wrong but not the key.
#[cfg(feature = "registry")]
pub async fn authenticate_api_key(
    registry: &Registry,
    integration: &Integration,
    api_key: Option<&str>,
    username: Option<&str>,
) -> Result<ApiKeyCaller> {
    let (api_key, username) = presented(api_key, username)?;
    let keys = registry.active_api_keys(integration.id).await?;
    let hashes: Vec<String> = keys.into_iter().map(|k| k.hash).collect();
    check(&hashes, api_key, username)
}

/// As [`authenticate_api_key`], against the active key hashes of the integration as a
/// [`docbridge_registry::AccessSnapshot`] (the request's cached, generation-checked view of the
/// registry) has them.
pub fn check_api_key(active_hashes: &[String], api_key: Option<&str>, username: Option<&str>) -> Result<ApiKeyCaller> {
    let (api_key, username) = presented(api_key, username)?;
    check(active_hashes, api_key, username)
}

fn presented<'a>(api_key: Option<&'a str>, username: Option<&'a str>) -> Result<(&'a str, &'a str)> {
    let api_key = api_key
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .ok_or_else(|| AuthError::Forbidden("missing apiKey header".into()))?;
    let username = username
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| AuthError::Forbidden("missing or empty username header".into()))?;
    Ok((api_key, username))
}

fn check(active_hashes: &[String], api_key: &str, username: &str) -> Result<ApiKeyCaller> {
    let presented = hash_secret(api_key);
    // Compare against every key, without stopping at the first match, so that timing does not
    // tell how many keys exist or which one matched.
    let matched = active_hashes.iter().fold(false, |found, hash| found | secrets_equal(hash, &presented));
    if !matched {
        return Err(AuthError::WrongCredential("invalid apiKey".into()));
    }
    Ok(ApiKeyCaller { username: username.to_owned() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_against_every_active_hash() {
        let hashes = vec![hash_secret("old-key"), hash_secret("new-key")];
        assert_eq!(check_api_key(&hashes, Some("new-key"), Some(" ann ")).unwrap().username, "ann");
        assert!(check_api_key(&hashes, Some("old-key"), Some("ann")).is_ok());
        assert!(matches!(check_api_key(&hashes, Some("wrong"), Some("ann")), Err(AuthError::WrongCredential(_))));
        // Nothing presented is no guess: refused, but not counted against the client.
        for (key, user) in
            [(None, Some("ann")), (Some(" "), Some("ann")), (Some("new-key"), Some(" ")), (Some("new-key"), None)]
        {
            assert!(matches!(check_api_key(&hashes, key, user), Err(AuthError::Forbidden(_))), "{key:?} {user:?}");
        }
        assert!(check_api_key(&[], Some("new-key"), Some("ann")).is_err(), "no active key: nothing matches");
    }
}
