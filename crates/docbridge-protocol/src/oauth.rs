//! OAuth2 token-endpoint bodies (protocol §4, contract C4, RFC 6749 §5).

use serde::{Deserialize, Serialize};

/// A successful token response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct TokenResponse {
    /// The token to send as `Authorization: Bearer` on provider calls.
    pub access_token: String,
    /// Always `Bearer`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^Bearer$", example = "Bearer"))]
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// A token for the `refresh_token` grant, when the server issues one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = false))]
    pub refresh_token: Option<String>,
}

/// An RFC 6749 §5.2 error: `{"error":"invalid_grant","error_description":"..."}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct OAuthErrorBody {
    /// The RFC 6749 error code (`invalid_grant`, `invalid_client`, ...).
    #[cfg_attr(feature = "openapi", schema(example = "invalid_grant"))]
    pub error: String,
    /// A human-readable explanation; never contains a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = false))]
    pub error_description: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn token_round_trips(access in "[A-Za-z0-9_-]{1,60}", refresh in proptest::option::of("[A-Za-z0-9_-]{1,60}"), expires in 1u64..100_000) {
            let token = TokenResponse { access_token: access, token_type: "Bearer".into(), expires_in: expires, refresh_token: refresh };
            let back: TokenResponse = serde_json::from_str(&serde_json::to_string(&token).unwrap()).unwrap();
            prop_assert_eq!(back, token);
        }
    }
}
