//! Authentication: ApiKey checks, issued secrets, signed links and password hashing.
//!
//! Plain functions over the registry; no HTTP here (the server's extractors call these). Secrets
//! are 256 random bits shown once and stored as SHA-256; comparisons are constant-time.

mod apikey;
mod error;
mod links;
mod password;
mod secrets;

pub use apikey::{ApiKeyCaller, authenticate_api_key};
pub use error::AuthError;
pub use links::{LinkAction, LinkSigner, SignedLink};
pub use password::{hash_password, verify_password};
pub use secrets::{IssuedSecret, hash_secret, issue_secret, secrets_equal};

pub type Result<T, E = AuthError> = std::result::Result<T, E>;
