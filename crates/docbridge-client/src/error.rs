//! `ClientError`: the one error type of the client, keeping the provider's HTTP status and the
//! message from whichever of the protocol's three failure vocabularies it used (§7, §13.6).

use docbridge_protocol::Endpoint;

use crate::oauth::OAuthError;

/// Why a call to a provider, or a command built on such calls, failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The provider answered, and said no: an error status, or a 2xx whose body reports a
    /// failure (`{"status":"failure"}`, `{"result":"fail"}`). `status` is the HTTP status as sent.
    #[error("{endpoint}: the provider answered HTTP {status}: {message}")]
    Provider {
        /// The endpoint called.
        endpoint: Endpoint,
        /// The HTTP status, as sent.
        status: u16,
        /// The provider's message, from whichever failure vocabulary it used.
        message: String,
    },
    /// The request did not complete: connection refused, timeout, TLS, a body that broke off.
    #[error("{endpoint}: request failed")]
    Transport {
        /// The endpoint called.
        endpoint: Endpoint,
        /// What failed, from the HTTP client.
        #[source]
        source: reqwest::Error,
    },
    /// The provider answered with success but the body is not what the protocol describes,
    /// even read leniently.
    #[error("{endpoint}: could not read the answer: {message}")]
    Decode {
        /// The endpoint called.
        endpoint: Endpoint,
        /// What did not fit.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{context}")]
    Io {
        /// What was being done, with the file's path.
        context: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The configuration or an argument is unusable (bad URL, unknown remote, bad parameter).
    #[error("{0}")]
    Config(String),
    /// A `REMOTE:/path` does not lead to an item.
    #[error("{path}: {message}")]
    Path {
        /// The path as far as it was followed.
        path: String,
        /// Why it leads nowhere (missing, ambiguous, a file where a folder is needed).
        message: String,
    },
    /// An OAuth2 remote without tokens yet: the user has to log in first.
    #[error("remote {remote:?} is not logged in yet: run `docbridge remote login {remote}` first")]
    NotLoggedIn {
        /// The remote's name.
        remote: String,
    },
    /// `remote login` did not end with tokens: refused, wrong `state`, timeout, token endpoint.
    #[error("remote {remote:?}: login failed: {reason}")]
    Login {
        /// The remote's name.
        remote: String,
        /// Why the flow failed.
        reason: OAuthError,
    },
    /// The provider refused the access token (403) and renewing it failed: the refresh token is
    /// expired or revoked, or the token endpoint is unreachable.
    #[error(
        "remote {remote:?}: the access token was refused and renewing it failed: {reason}; log in again with `docbridge remote login {remote}`"
    )]
    Refresh {
        /// The remote's name.
        remote: String,
        /// Why the refresh failed.
        reason: OAuthError,
    },
}

impl ClientError {
    /// The HTTP status the provider answered with, when it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Provider { status, .. } => Some(*status),
            ClientError::Transport { source, .. } => source.status().map(|s| s.as_u16()),
            _ => None,
        }
    }

    /// The provider's own message, when it sent one.
    pub fn provider_message(&self) -> Option<&str> {
        match self {
            ClientError::Provider { message, .. } => Some(message),
            _ => None,
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ClientError::Io { context: context.into(), source }
    }
}

/// The longest slice of a non-JSON error body quoted in a message.
const MAX_QUOTED_BODY: usize = 300;

/// Extracts the provider's message from an error body: `error` of `{"status":"error"|"failure"}`
/// and `{"result":"fail"}`, else `message` (the Java RI) or `error_description` (OAuth), else the
/// body's text. Falls back to the status's reason phrase for an empty body.
pub fn provider_message(status: u16, body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(object)) = serde_json::from_slice::<serde_json::Value>(body) {
        for key in ["error", "message", "error_description"] {
            if let Some(serde_json::Value::String(text)) = object.get(key)
                && !text.trim().is_empty()
            {
                return text.trim().to_owned();
            }
        }
        if object.get("result").and_then(|v| v.as_str()) == Some("fail") {
            return "the provider reported {\"result\":\"fail\"} without a message".to_owned();
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        let reason = reqwest::StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason());
        return reason.unwrap_or("no message").to_owned();
    }
    let mut quoted: String = text.chars().take(MAX_QUOTED_BODY).collect();
    if quoted.len() < text.len() {
        quoted.push('…');
    }
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_from_every_vocabulary() {
        assert_eq!(provider_message(404, br#"{"status":"error","error":"No such item"}"#), "No such item");
        assert_eq!(provider_message(200, br#"{"status":"failure","error":"File not found"}"#), "File not found");
        assert_eq!(provider_message(500, br#"{"result":"fail","error":"disk full"}"#), "disk full");
        assert_eq!(provider_message(200, br#"{"result":"fail","message":"Upload Failed"}"#), "Upload Failed");
        assert!(provider_message(200, br#"{"result":"fail"}"#).contains("without a message"));
        assert_eq!(provider_message(400, br#"{"error":"invalid_grant"}"#), "invalid_grant");
        assert_eq!(provider_message(500, b"<html>boom</html>"), "<html>boom</html>");
        assert_eq!(provider_message(404, b""), "Not Found");
        assert!(provider_message(500, "x".repeat(1000).as_bytes()).ends_with('…'));
    }
}
