//! docbridge's OAuth2 authorization server (C4), as plain functions over the registry: the
//! server's handlers only translate HTTP to these calls.
//!
//! - [`resolve_authorize`] and [`AuthorizeTarget::check`]: the authorize request; errors from
//!   the first are shown on a page (never redirected), errors from the second go back to the
//!   client's redirect URI;
//! - [`login_candidate`], [`user_role`], [`issue_code`]: the login and consent steps;
//! - [`exchange_token`]: the token endpoint (`authorization_code` and `refresh_token` grants);
//! - [`authenticate_bearer`]: `Authorization: Bearer` on provider calls;
//! - [`SessionSigner`]: the short-lived signed login session and its CSRF tokens.
//!
//! Codes and tokens are 256 random bits stored as SHA-256; a replayed code or a reused rotated
//! refresh token revokes every token of its family (all tokens issued from one code carry that
//! code's hash).

mod authorize;
mod bearer;
mod session;
mod token;

pub use authorize::{
    AuthorizeParams, AuthorizeTarget, LoginCandidate, issue_code, login_candidate, resolve_authorize, user_role,
};
pub use bearer::{BearerCaller, authenticate_bearer, bearer_token};
pub use session::{LoginSession, SESSION_KEY_SETTING, SessionSigner, session_signer};
pub use token::{ClientCredentials, IssuedTokens, TokenRequest, basic_credentials, exchange_token};

use crate::{AuthError, OAuthErrorCode, Result};

/// The longest an authorization code may live: RFC 6749 §4.1.2 recommends 10 minutes at most.
pub const MAX_CODE_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// Lifetimes and policies of the authorization server (the `[oauth]` configuration section).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthSettings {
    /// How long an authorization code can be redeemed (at most [`MAX_CODE_TTL`]).
    pub code_ttl: chrono::Duration,
    /// How long an access token is accepted. Zero or negative: expired as soon as issued.
    pub access_token_ttl: chrono::Duration,
    /// How long a refresh token can be used, from its issue.
    pub refresh_token_ttl: chrono::Duration,
    /// Whether a refresh issues a new refresh token and revokes the old one; reusing a rotated
    /// token then revokes its whole family. Off by default: how Workfront handles a new refresh
    /// token is undocumented (protocol §13.14).
    pub rotate_refresh_tokens: bool,
    /// How long the login and consent pages stay valid once opened.
    pub login_session_ttl: chrono::Duration,
    /// Failed logins for one user from one client address within `login_failure_window`
    /// before that client gets 429 for that user. Other clients are not affected; past this
    /// many failures from anywhere, attempts for the user are slowed (`login_backoff_max`).
    pub max_login_failures: u32,
    /// Failed logins from one client address, whatever the usernames, within the window
    /// before that client gets 429.
    pub max_login_failures_per_address: u32,
    /// The window in which failed logins are counted.
    pub login_failure_window: std::time::Duration,
    /// The longest a login for a user who failed `max_login_failures` times (from any
    /// address) waits before its password is checked: the wait doubles from one second per
    /// further failure up to this, and a correct password then gets in.
    pub login_backoff_max: std::time::Duration,
}

impl Default for OAuthSettings {
    fn default() -> Self {
        OAuthSettings {
            code_ttl: chrono::Duration::seconds(60),
            access_token_ttl: chrono::Duration::hours(1),
            refresh_token_ttl: chrono::Duration::days(30),
            rotate_refresh_tokens: false,
            login_session_ttl: chrono::Duration::minutes(10),
            max_login_failures: 5,
            max_login_failures_per_address: 20,
            login_failure_window: std::time::Duration::from_secs(15 * 60),
            login_backoff_max: std::time::Duration::from_secs(5),
        }
    }
}

pub(crate) fn oauth_error(code: OAuthErrorCode, description: impl Into<String>) -> AuthError {
    AuthError::OAuth { code, description: description.into() }
}

/// A parameter that is present and not empty.
pub(crate) fn present(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A parameter that must be present and not empty; `invalid_request` naming it if not.
pub(crate) fn required<'a>(value: Option<&'a str>, name: &str) -> Result<&'a str> {
    present(value).ok_or_else(|| oauth_error(OAuthErrorCode::InvalidRequest, format!("{name} is required")))
}
