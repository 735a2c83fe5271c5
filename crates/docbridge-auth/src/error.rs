//! The auth crate's one error type.

/// Everything that can go wrong in this crate. Every variant but `Registry` and `Hashing` is an
/// answer for the caller; the server maps each to its HTTP status.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Credentials missing, expired or revoked, or a caller refused for another reason. The
    /// message is safe to show the caller and never contains the secret itself.
    #[error("{0}")]
    Forbidden(String),
    /// A credential was presented and matches none: a guess, or a typo. Answered like
    /// `Forbidden`, but the only refusal that counts toward a client's lockout: an expired
    /// token (how Workfront learns to refresh) or a missing grant is not an attack.
    #[error("{0}")]
    WrongCredential(String),
    /// A request parameter is malformed (a bad link signature format, an unusable setting).
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The parameter, as the caller named it.
        field: &'static str,
        /// What is wrong with it, safe to show the caller.
        reason: String,
    },
    /// The registry failed (feature `registry`). A variant behind a feature: match `AuthError`
    /// with a wildcard arm in code that may be built both with and without it.
    #[cfg(feature = "registry")]
    #[error(transparent)]
    Registry(#[from] docbridge_registry::RegistryError),
    /// argon2 could not hash or parse a password hash (a corrupt stored hash, exhausted memory).
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// An OAuth2 protocol error (RFC 6749 §4.1.2.1, §5.2): `code` goes on the wire as `error`,
    /// `description` as `error_description`; neither ever contains a secret.
    #[error("{code}: {description}")]
    OAuth {
        /// The RFC 6749 error code.
        code: OAuthErrorCode,
        /// A human-readable explanation (`error_description`).
        description: String,
    },
}

/// The `error` codes of RFC 6749 §4.1.2.1 and §5.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OAuthErrorCode {
    /// A parameter is missing, repeated or malformed.
    InvalidRequest,
    /// The client failed to authenticate (unknown client ID, wrong secret).
    InvalidClient,
    /// The code or refresh token is unknown, expired, revoked, already used, or was issued to
    /// another client or redirect URI; or the PKCE verifier does not match.
    InvalidGrant,
    /// The client may not use this grant or response type.
    UnauthorizedClient,
    /// A `grant_type` other than `authorization_code` and `refresh_token`.
    UnsupportedGrantType,
    /// A `response_type` other than `code`.
    UnsupportedResponseType,
    /// The user or the server refused the request (no grant, consent denied).
    AccessDenied,
    /// Something failed on the server's side; the detail is logged, never sent.
    ServerError,
}

impl OAuthErrorCode {
    /// The code as it goes on the wire (`invalid_grant`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            OAuthErrorCode::InvalidRequest => "invalid_request",
            OAuthErrorCode::InvalidClient => "invalid_client",
            OAuthErrorCode::InvalidGrant => "invalid_grant",
            OAuthErrorCode::UnauthorizedClient => "unauthorized_client",
            OAuthErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            OAuthErrorCode::UnsupportedResponseType => "unsupported_response_type",
            OAuthErrorCode::AccessDenied => "access_denied",
            OAuthErrorCode::ServerError => "server_error",
        }
    }
}

impl std::fmt::Display for OAuthErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
