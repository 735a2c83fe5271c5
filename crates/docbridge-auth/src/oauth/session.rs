//! The login session behind the login and consent pages: a short-lived value the server signs
//! and keeps in a cookie, so that any docbridge process can check it (C24), and the CSRF tokens
//! the pages' forms carry, derived from it.
//!
//! Opening the authorize page starts an anonymous session; a successful login replaces it with a
//! new one naming the user (a fresh ID, so a session planted before login is worth nothing).
//! A form is accepted only with the CSRF token of the session in the cookie, which a page on
//! another site can neither read nor compute.

use base64::Engine;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use docbridge_registry::Registry;

use crate::{Result, issue_secret};

/// The registry setting that holds the signing key, shared by every process.
pub const SESSION_KEY_SETTING: &str = "oauth_session_key";

const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A login session: anonymous until the user has logged in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoginSession {
    /// Random, to bind the session's CSRF tokens to it.
    pub id: String,
    /// Who logged in, once they have.
    pub username: Option<String>,
    /// Unix seconds.
    pub expires: i64,
}

/// Signs and checks login sessions and their CSRF tokens.
#[derive(Clone)]
pub struct SessionSigner {
    key: Vec<u8>,
}

impl std::fmt::Debug for SessionSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SessionSigner([redacted])")
    }
}

/// The signer with the key stored in the registry, created on first use.
pub async fn session_signer(registry: &Registry) -> Result<SessionSigner> {
    let key = registry.setting_or_init(SESSION_KEY_SETTING, || issue_secret().plain).await?;
    Ok(SessionSigner::new(key.as_bytes()))
}

impl SessionSigner {
    /// A signer with this key (any length; docbridge uses 256 random bits).
    pub fn new(key: &[u8]) -> Self {
        SessionSigner { key: key.to_vec() }
    }

    fn mac(&self, purpose: &str, fields: &[&str]) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        // Length-prefixed, so that no two different tuples sign the same bytes; the purpose
        // keeps a session MAC from ever serving as a CSRF token and the other way round.
        for field in std::iter::once(purpose).chain(fields.iter().copied()) {
            mac.update(&(field.len() as u64).to_be_bytes());
            mac.update(field.as_bytes());
        }
        mac
    }

    /// A new anonymous session, valid for `ttl`.
    pub fn start(&self, ttl: chrono::Duration, now: DateTime<Utc>) -> LoginSession {
        LoginSession { id: issue_secret().plain, username: None, expires: (now + ttl).timestamp() }
    }

    /// A new session for a user who has just logged in.
    pub fn login(&self, username: &str, ttl: chrono::Duration, now: DateTime<Utc>) -> LoginSession {
        LoginSession { username: Some(username.to_owned()), ..self.start(ttl, now) }
    }

    /// The cookie value of a session: `id.expires.username.mac`, all base64url but `expires`.
    pub fn seal(&self, session: &LoginSession) -> String {
        let username = B64.encode(session.username.as_deref().unwrap_or(""));
        let expires = session.expires.to_string();
        let mac = B64.encode(self.mac("session", &[&session.id, &expires, &username]).finalize().into_bytes());
        format!("{}.{expires}.{username}.{mac}", session.id)
    }

    /// The session a cookie value holds, if its signature is ours and it has not expired.
    pub fn open(&self, sealed: &str, now: DateTime<Utc>) -> Option<LoginSession> {
        let mut parts = sealed.trim().split('.');
        let (id, expires_text, username, mac) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let mac = B64.decode(mac).ok()?;
        self.mac("session", &[id, expires_text, username]).verify_slice(&mac).ok()?;
        let expires: i64 = expires_text.parse().ok()?;
        if now.timestamp() >= expires {
            return None;
        }
        let username = String::from_utf8(B64.decode(username).ok()?).ok()?;
        Some(LoginSession { id: id.to_owned(), username: (!username.is_empty()).then_some(username), expires })
    }

    /// The CSRF token of a session's forms.
    pub fn csrf_token(&self, session: &LoginSession) -> String {
        B64.encode(self.mac("csrf", &[&session.id]).finalize().into_bytes())
    }

    /// Whether a form's CSRF token belongs to the session (constant-time).
    pub fn check_csrf(&self, session: &LoginSession, token: &str) -> bool {
        self.csrf_token(session).as_bytes().ct_eq(token.as_bytes()).into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_round_trip_and_resist_tampering() {
        let signer = SessionSigner::new(b"key");
        let now = Utc::now();
        let anonymous = signer.start(chrono::Duration::minutes(10), now);
        assert_eq!(signer.open(&signer.seal(&anonymous), now), Some(anonymous.clone()));
        let user = signer.login("ann@example.com", chrono::Duration::minutes(10), now);
        assert_ne!(user.id, anonymous.id, "logging in starts a new session");
        let sealed = signer.seal(&user);
        assert_eq!(signer.open(&sealed, now), Some(user.clone()));
        assert_eq!(signer.open(&sealed, now + chrono::Duration::minutes(10)), None, "expired");
        assert_eq!(SessionSigner::new(b"other").open(&sealed, now), None, "another key");
        let forged = sealed.replacen(&B64.encode("ann@example.com"), &B64.encode("admin"), 1);
        assert_eq!(signer.open(&forged, now), None);
        for junk in ["", "a.b.c", "a.b.c.d.e", "...."] {
            assert_eq!(signer.open(junk, now), None);
        }
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_session() {
        let signer = SessionSigner::new(b"key");
        let now = Utc::now();
        let a = signer.start(chrono::Duration::minutes(10), now);
        let b = signer.start(chrono::Duration::minutes(10), now);
        assert!(signer.check_csrf(&a, &signer.csrf_token(&a)));
        assert!(!signer.check_csrf(&a, &signer.csrf_token(&b)));
        assert!(!signer.check_csrf(&a, ""));
    }
}
