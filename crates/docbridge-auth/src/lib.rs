//! Authentication: ApiKey checks, the OAuth2 authorization server, issued secrets, signed links
//! and password hashing.
//!
//! Plain functions over the registry; no HTTP here (the server's extractors call these). Secrets
//! are 256 random bits shown once and stored as SHA-256; comparisons are constant-time.

mod apikey;
mod error;
mod links;
mod oauth;
mod password;
mod secrets;

pub use apikey::{ApiKeyCaller, authenticate_api_key, check_api_key};
pub use error::AuthError;
pub use links::{LinkAction, LinkSigner, SignedLink};
pub use oauth::{
    AuthorizeParams, AuthorizeTarget, BearerCaller, ClientCredentials, IssuedTokens, LoginCandidate, LoginSession,
    MAX_CODE_TTL, OAuthErrorCode, OAuthSettings, SESSION_KEY_SETTING, SessionSigner, TokenRequest, authenticate_bearer,
    basic_credentials, bearer_token, exchange_token, issue_code, login_candidate, resolve_authorize, session_signer,
    user_role,
};
pub use password::{hash_password, verify_password};
pub use secrets::{IssuedSecret, hash_secret, issue_secret, secrets_equal};

pub type Result<T, E = AuthError> = std::result::Result<T, E>;
