//! The auth crate's one error type.

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Credentials missing, wrong, expired or revoked. The message is safe to show the caller
    /// and never contains the secret itself.
    #[error("{0}")]
    Forbidden(String),
    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error(transparent)]
    Registry(#[from] docbridge_registry::RegistryError),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    /// An OAuth2 protocol error (RFC 6749 §4.1.2.1, §5.2): `code` goes on the wire as `error`,
    /// `description` as `error_description`; neither ever contains a secret.
    #[error("{code}: {description}")]
    OAuth { code: crate::OAuthErrorCode, description: String },
}
