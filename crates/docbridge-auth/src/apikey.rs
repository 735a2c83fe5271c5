//! ApiKey authentication of provider calls (C3).

use docbridge_registry::{Integration, Registry};

use crate::{AuthError, Result, hash_secret, secrets_equal};

/// Who an authenticated ApiKey call acts as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyCaller {
    pub username: String,
}

/// Checks the `apiKey` and `username` headers of a call against the integration's active keys.
/// Every failure is `Forbidden`, with a message that says what was wrong but not the key.
pub async fn authenticate_api_key(
    registry: &Registry,
    integration: &Integration,
    api_key: Option<&str>,
    username: Option<&str>,
) -> Result<ApiKeyCaller> {
    let api_key = api_key.map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| AuthError::Forbidden("missing apiKey header".into()))?;
    let username = username.map(str::trim).filter(|u| !u.is_empty()).ok_or_else(|| AuthError::Forbidden("missing or empty username header".into()))?;
    let presented = hash_secret(api_key);
    let keys = registry.active_api_keys(integration.id).await?;
    // Compare against every key, without stopping at the first match, so that timing does not
    // tell how many keys exist or which one matched.
    let matched = keys.iter().fold(false, |found, key| found | secrets_equal(&key.hash, &presented));
    if !matched {
        return Err(AuthError::Forbidden("invalid apiKey".into()));
    }
    Ok(ApiKeyCaller { username: username.to_owned() })
}
