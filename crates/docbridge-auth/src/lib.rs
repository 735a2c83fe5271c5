//! Authentication: ApiKey checks, the OAuth2 authorization server, issued secrets, signed links
//! and password hashing.
//!
//! Plain functions over the registry; no HTTP here (the server's extractors call these). Secrets
//! are 256 random bits shown once and stored as SHA-256; comparisons are constant-time.
//!
//! The default feature `registry` brings the parts that read and write docbridge's registry
//! (ApiKey lookup, the OAuth2 authorization server); without it, the crate is the signing,
//! secret and password-hashing functions alone, with no database in the build.

// The README (an overview and an example that runs as a doc test) follows these notes.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod apikey;
mod error;
mod links;
#[cfg(feature = "registry")]
mod oauth;
mod password;
mod secrets;

#[cfg(feature = "registry")]
pub use apikey::authenticate_api_key;
pub use apikey::{ApiKeyCaller, check_api_key};
pub use error::{AuthError, OAuthErrorCode};
pub use links::{LinkAction, LinkSigner, SignedLink};
#[cfg(feature = "registry")]
pub use oauth::{
    AuthorizeParams, AuthorizeTarget, BearerCaller, ClientCredentials, IssuedTokens, LoginCandidate, LoginSession,
    MAX_CODE_TTL, OAuthSettings, SESSION_KEY_SETTING, SessionSigner, TokenRequest, authenticate_bearer,
    basic_credentials, bearer_token, exchange_token, issue_code, login_candidate, resolve_authorize, session_signer,
    user_role,
};
pub use password::{hash_password, verify_password};
pub use secrets::{IssuedSecret, KeyHash, hash_secret, issue_secret, secrets_equal};

/// This crate's results: [`AuthError`] unless said otherwise.
pub type Result<T, E = AuthError> = std::result::Result<T, E>;
