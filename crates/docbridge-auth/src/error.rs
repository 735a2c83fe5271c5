//! The auth crate's one error type.

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
