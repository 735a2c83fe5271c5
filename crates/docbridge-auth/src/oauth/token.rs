//! The token endpoint (C4, RFC 6749 §4.1.3, §6): client authentication, the
//! `authorization_code` and `refresh_token` grants, code replay and refresh-token reuse.

use base64::Engine;
use chrono::Utc;
use docbridge_registry::{Integration, NewOAuthToken, OAuthRevocation, OAuthTokenKind, Registry};
use sha2::{Digest, Sha256};

use super::authorize::is_pkce_value;
use super::{OAuthErrorCode, OAuthSettings, oauth_error, present, required};
use crate::{AuthError, Result, hash_secret, issue_secret, secrets_equal, user_role};

/// The client's credentials, from HTTP Basic or from the `client_id` and `client_secret`
/// parameters (the server decides which; using both at once is refused there).
#[derive(Clone, Default)]
pub struct ClientCredentials {
    /// The client ID, from Basic authentication or the `client_id` parameter.
    pub client_id: Option<String>,
    /// The client secret, from Basic authentication or the `client_secret` parameter.
    pub client_secret: Option<String>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

/// A token request's parameters.
#[derive(Clone, Default)]
pub struct TokenRequest {
    /// `grant_type`: `authorization_code` or `refresh_token`.
    pub grant_type: Option<String>,
    /// `code`: the authorization code (`authorization_code` grant).
    pub code: Option<String>,
    /// `redirect_uri`: must repeat the authorize request's, if that one carried it.
    pub redirect_uri: Option<String>,
    /// `code_verifier`: the PKCE verifier, when the code was issued with a challenge.
    pub code_verifier: Option<String>,
    /// `refresh_token` (`refresh_token` grant).
    pub refresh_token: Option<String>,
    /// Who the client says it is.
    pub client: ClientCredentials,
}

impl std::fmt::Debug for TokenRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: &Option<String>| v.as_ref().map(|_| "[redacted]");
        f.debug_struct("TokenRequest")
            .field("grant_type", &self.grant_type)
            .field("code", &redacted(&self.code))
            .field("redirect_uri", &self.redirect_uri)
            .field("code_verifier", &redacted(&self.code_verifier))
            .field("refresh_token", &redacted(&self.refresh_token))
            .field("client", &self.client)
            .finish()
    }
}

/// A successful answer's tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct IssuedTokens {
    /// The new access token.
    pub access_token: String,
    /// The refresh token: a new one when rotation is on, else the one presented or first issued.
    pub refresh_token: String,
    /// Seconds; 0 when access tokens are configured to expire at once.
    pub expires_in: u64,
}

impl std::fmt::Debug for IssuedTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedTokens")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish()
    }
}

/// Client credentials from `Authorization: Basic` among `Authorization` header values, each
/// part form-encoded as RFC 6749 §2.3.1 asks. `None` without a Basic credential;
/// `invalid_client` for one that cannot be decoded.
pub fn basic_credentials<'a>(authorization: impl IntoIterator<Item = &'a str>) -> Result<Option<ClientCredentials>> {
    let Some(encoded) = authorization.into_iter().find_map(|value| {
        let (scheme, rest) = value.trim().split_once(' ')?;
        scheme.eq_ignore_ascii_case("basic").then(|| rest.trim())
    }) else {
        return Ok(None);
    };
    let malformed = || oauth_error(OAuthErrorCode::InvalidClient, "the HTTP Basic credentials cannot be decoded");
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded).map_err(|_| malformed())?;
    let decoded = String::from_utf8(decoded).map_err(|_| malformed())?;
    let (id, secret) = decoded.split_once(':').ok_or_else(malformed)?;
    let unescape = |part: &str| {
        url::form_urlencoded::parse(format!("v={part}").as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    Ok(Some(ClientCredentials { client_id: Some(unescape(id)), client_secret: Some(unescape(secret)) }))
}

fn invalid_grant(description: impl Into<String>) -> AuthError {
    oauth_error(OAuthErrorCode::InvalidGrant, description)
}

/// A grant issues nothing once the user has lost access, even from a code or token issued
/// while they still had it.
async fn still_has_access(registry: &Registry, integration: &Integration, username: &str) -> Result<()> {
    match user_role(registry, integration, username).await? {
        Some(_) => Ok(()),
        None => Err(invalid_grant("the user no longer has access to this integration")),
    }
}

/// Answers a token request.
pub async fn exchange_token(
    registry: &Registry,
    settings: &OAuthSettings,
    request: &TokenRequest,
) -> Result<IssuedTokens> {
    let grant_type = required(request.grant_type.as_deref(), "grant_type")?;
    // The client first: an unauthenticated caller learns nothing about codes or tokens.
    let integration = authenticate_client(registry, &request.client).await?;
    match grant_type {
        "authorization_code" => authorization_code(registry, settings, &integration, request).await,
        "refresh_token" => refresh(registry, settings, &integration, request).await,
        other => Err(oauth_error(
            OAuthErrorCode::UnsupportedGrantType,
            format!("grant_type {other:?} is not supported (authorization_code, refresh_token)"),
        )),
    }
}

/// The integration whose client credentials these are. Every failure is `invalid_client`,
/// without saying whether the ID or the secret was wrong.
async fn authenticate_client(registry: &Registry, client: &ClientCredentials) -> Result<Integration> {
    let refused = || oauth_error(OAuthErrorCode::InvalidClient, "client authentication failed");
    let (Some(client_id), Some(secret)) = (present(client.client_id.as_deref()), client.client_secret.as_deref())
    else {
        return Err(oauth_error(
            OAuthErrorCode::InvalidClient,
            "client authentication is required (client_id and client_secret, or HTTP Basic)",
        ));
    };
    let Some((integration, secret_hash)) = registry.integration_by_client_id(client_id).await? else {
        // Compare anyway, so that timing does not tell known client IDs from unknown ones.
        let _ = secrets_equal(&hash_secret(secret), "");
        return Err(refused());
    };
    if secret_hash.is_empty() || !secrets_equal(&hash_secret(secret), &secret_hash) {
        return Err(refused());
    }
    if !integration.enabled {
        return Err(oauth_error(OAuthErrorCode::UnauthorizedClient, "the integration is disabled"));
    }
    Ok(integration)
}

/// A fresh token of `kind` for the family of `origin`, and its plain value. Bound to the user's
/// ID, never reused, rather than to a name that a new user could take.
fn new_token(
    kind: OAuthTokenKind,
    integration: &Integration,
    user_id: i64,
    origin: Option<&str>,
    ttl: chrono::Duration,
) -> (String, NewOAuthToken) {
    let secret = issue_secret();
    let token = NewOAuthToken {
        token_hash: secret.stored.hash,
        kind,
        integration_id: integration.id,
        user_id,
        origin_code_hash: origin.map(str::to_owned),
        expires_at: Utc::now() + ttl,
    };
    (secret.plain, token)
}

fn expires_in(settings: &OAuthSettings) -> u64 {
    u64::try_from(settings.access_token_ttl.num_seconds()).unwrap_or(0)
}

/// Revokes what was issued from a code, after a replay or a reuse: whoever holds a copy of the
/// code or of a rotated refresh token must lose what it gave (RFC 6749 §4.1.2, §10.4). The
/// server logs the `invalid_grant` that follows, whose description says so.
async fn revoke_family(registry: &Registry, origin: Option<&str>) -> Result<()> {
    if let Some(origin) = origin {
        registry.revoke_oauth_tokens(OAuthRevocation::Family { origin_code_hash: origin }).await?;
    }
    Ok(())
}

fn check_pkce(challenge: Option<&str>, verifier: Option<&str>) -> Result<()> {
    match (challenge, present(verifier)) {
        (None, None) => Ok(()),
        // A verifier for a code issued without a challenge is a downgrade attempt: the code
        // may have been obtained by someone who stripped the challenge.
        (None, Some(_)) => {
            Err(invalid_grant("code_verifier sent, but the authorization request had no code_challenge"))
        }
        (Some(_), None) => {
            Err(invalid_grant("code_verifier is required: the authorization request had a code_challenge"))
        }
        (Some(challenge), Some(verifier)) => {
            let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
            if is_pkce_value(verifier) && secrets_equal(&computed, challenge) {
                Ok(())
            } else {
                Err(invalid_grant("code_verifier does not match the code_challenge"))
            }
        }
    }
}

async fn authorization_code(
    registry: &Registry,
    settings: &OAuthSettings,
    integration: &Integration,
    request: &TokenRequest,
) -> Result<IssuedTokens> {
    let code_hash = hash_secret(required(request.code.as_deref(), "code")?);
    let Some(stored) = registry.oauth_code(&code_hash).await? else {
        return Err(invalid_grant("the authorization code is unknown"));
    };
    // Before anything else: another client must not be able to burn or revoke this one's code.
    if stored.integration_id != integration.id {
        return Err(invalid_grant("the authorization code was issued to another client"));
    }
    if stored.used_at.is_some() {
        revoke_family(registry, Some(&code_hash)).await?;
        return Err(invalid_grant(
            "the authorization code has already been used; the tokens issued from it are revoked",
        ));
    }
    if Utc::now() >= stored.expires_at {
        return Err(invalid_grant("the authorization code has expired"));
    }
    let given_redirect = request.redirect_uri.as_deref().filter(|u| !u.is_empty());
    match (stored.redirect_uri.as_deref(), given_redirect) {
        (Some(expected), Some(given)) if expected == given => {}
        (Some(_), Some(_)) => return Err(invalid_grant("redirect_uri does not match the authorization request's")),
        (Some(_), None) => {
            return Err(oauth_error(
                OAuthErrorCode::InvalidRequest,
                "redirect_uri is required: the authorization request carried one",
            ));
        }
        (None, Some(given)) if !integration.redirect_uris.iter().any(|r| r == given) => {
            return Err(invalid_grant("redirect_uri is not registered for this client"));
        }
        (None, _) => {}
    }
    check_pkce(stored.code_challenge.as_deref(), request.code_verifier.as_deref())?;
    still_has_access(registry, integration, &stored.username).await?;
    let (access, access_row) =
        new_token(OAuthTokenKind::Access, integration, stored.user_id, Some(&code_hash), settings.access_token_ttl);
    let (refresh, refresh_row) =
        new_token(OAuthTokenKind::Refresh, integration, stored.user_id, Some(&code_hash), settings.refresh_token_ttl);
    if !registry.redeem_oauth_code(&code_hash, &[access_row, refresh_row]).await? {
        // A concurrent redemption won: this one is the replay.
        revoke_family(registry, Some(&code_hash)).await?;
        return Err(invalid_grant(
            "the authorization code has already been used; the tokens issued from it are revoked",
        ));
    }
    Ok(IssuedTokens { access_token: access, refresh_token: refresh, expires_in: expires_in(settings) })
}

async fn refresh(
    registry: &Registry,
    settings: &OAuthSettings,
    integration: &Integration,
    request: &TokenRequest,
) -> Result<IssuedTokens> {
    let presented = required(request.refresh_token.as_deref(), "refresh_token")?;
    let hash = hash_secret(presented);
    let Some(stored) = registry.oauth_token(&hash).await?.filter(|t| t.kind == OAuthTokenKind::Refresh) else {
        return Err(invalid_grant("the refresh token is unknown"));
    };
    if stored.integration_id != integration.id {
        return Err(invalid_grant("the refresh token was issued to another client"));
    }
    if stored.revoked_at.is_some() {
        // With rotation, a revoked refresh token coming back is a copy in the wrong hands;
        // without, it was revoked on purpose. Either way its family goes.
        revoke_family(registry, stored.origin_code_hash.as_deref()).await?;
        return Err(invalid_grant("the refresh token has been revoked"));
    }
    if Utc::now() >= stored.expires_at {
        return Err(invalid_grant("the refresh token has expired"));
    }
    still_has_access(registry, integration, &stored.username).await?;
    let origin = stored.origin_code_hash.as_deref();
    let (access, access_row) =
        new_token(OAuthTokenKind::Access, integration, stored.user_id, origin, settings.access_token_ttl);
    if !settings.rotate_refresh_tokens {
        registry.create_oauth_tokens(&[access_row]).await?;
        // The same refresh token again: a client that replaces its stored token with the
        // answer's and one that keeps the old one both end up right.
        return Ok(IssuedTokens {
            access_token: access,
            refresh_token: presented.to_owned(),
            expires_in: expires_in(settings),
        });
    }
    let (refresh, refresh_row) =
        new_token(OAuthTokenKind::Refresh, integration, stored.user_id, origin, settings.refresh_token_ttl);
    if !registry.rotate_refresh_token(&hash, &[access_row, refresh_row]).await? {
        revoke_family(registry, origin).await?;
        return Err(invalid_grant("the refresh token has been revoked"));
    }
    Ok(IssuedTokens { access_token: access, refresh_token: refresh, expires_in: expires_in(settings) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_rules() {
        // RFC 7636 appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert!(check_pkce(Some(challenge), Some(verifier)).is_ok());
        assert!(check_pkce(None, None).is_ok());
        for (c, v) in [
            (Some(challenge), None),
            (Some(challenge), Some("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXx")),
            (None, Some(verifier)),
            (Some(challenge), Some(challenge)),
        ] {
            assert!(
                matches!(check_pkce(c, v), Err(AuthError::OAuth { code: OAuthErrorCode::InvalidGrant, .. })),
                "{c:?} {v:?}"
            );
        }
    }

    #[test]
    fn basic_credentials_are_decoded() {
        assert!(basic_credentials([]).unwrap().is_none());
        assert!(basic_credentials(["Bearer abc"]).unwrap().is_none());
        // "a+b:c%3Ad": id "a b", secret "c:d" (each part form-encoded).
        let encoded = base64::engine::general_purpose::STANDARD.encode("a+b:c%3Ad");
        let header = format!("Basic {encoded}");
        let client = basic_credentials([header.as_str()]).unwrap().unwrap();
        assert_eq!((client.client_id.as_deref(), client.client_secret.as_deref()), (Some("a b"), Some("c:d")));
        for bad in ["Basic !!!", "basic bm9jb2xvbg=="] {
            assert!(
                matches!(basic_credentials([bad]), Err(AuthError::OAuth { code: OAuthErrorCode::InvalidClient, .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn debug_output_has_no_secrets() {
        let request = TokenRequest {
            code: Some("the-code".into()),
            refresh_token: Some("the-refresh".into()),
            code_verifier: Some("the-verifier".into()),
            client: ClientCredentials { client_id: Some("id".into()), client_secret: Some("the-secret".into()) },
            ..Default::default()
        };
        let text = format!("{request:?}");
        for secret in ["the-code", "the-refresh", "the-verifier", "the-secret"] {
            assert!(!text.contains(secret), "{text}");
        }
        let tokens = IssuedTokens { access_token: "aaa".into(), refresh_token: "rrr".into(), expires_in: 1 };
        assert!(!format!("{tokens:?}").contains("aaa"));
    }
}
