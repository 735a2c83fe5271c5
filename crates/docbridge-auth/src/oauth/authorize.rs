//! The authorize request, the login and consent steps, and issuing codes (C4).

use std::sync::OnceLock;

use docbridge_registry::{AuthType, Integration, NewOAuthCode, Registry, Role};

use super::{OAuthErrorCode, OAuthSettings, oauth_error, present, required};
use crate::{AuthError, Result, hash_password, issue_secret, verify_password};

/// The parameters of an authorize request, as received (query string of the GET, hidden fields
/// of the login and consent forms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuthorizeParams {
    /// `client_id`: the integration's OAuth2 client ID.
    pub client_id: Option<String>,
    /// `redirect_uri`: must be one of the integration's registered URIs when present.
    pub redirect_uri: Option<String>,
    /// `state`: the client's value, sent back unchanged with the code or the error.
    pub state: Option<String>,
    /// `response_type`: only `code` is supported.
    pub response_type: Option<String>,
    /// `code_challenge` (PKCE, RFC 7636).
    pub code_challenge: Option<String>,
    /// `code_challenge_method`: `S256` or `plain`.
    pub code_challenge_method: Option<String>,
}

impl AuthorizeParams {
    /// The parameters as `(name, value)` pairs, only those present: what the login and consent
    /// forms carry along in hidden fields.
    pub fn pairs(&self) -> Vec<(&'static str, &str)> {
        [
            ("client_id", &self.client_id),
            ("redirect_uri", &self.redirect_uri),
            ("state", &self.state),
            ("response_type", &self.response_type),
            ("code_challenge", &self.code_challenge),
            ("code_challenge_method", &self.code_challenge_method),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.as_deref().map(|v| (name, v)))
        .collect()
    }
}

/// An authorize request with a known client, a redirect URI registered for it and a `state`:
/// from here on, errors can be sent back to the client rather than shown to the user.
#[derive(Debug, Clone)]
pub struct AuthorizeTarget {
    /// The integration whose client asked.
    pub integration: Integration,
    /// Where the browser goes back to: the `redirect_uri` sent, or the one registered.
    pub redirect_uri: String,
    /// The `redirect_uri` the request carried, if any: the token request must then repeat it.
    pub requested_redirect_uri: Option<String>,
    /// The client's `state`, sent back with the answer.
    pub state: String,
}

/// Finds the client and the redirect URI of an authorize request. Every error here is for an
/// error page: redirecting to an unchecked URI would make docbridge an open redirector, and
/// without `state` the client could not match the answer to its request.
pub async fn resolve_authorize(registry: &Registry, params: &AuthorizeParams) -> Result<AuthorizeTarget> {
    let client_id = required(params.client_id.as_deref(), "client_id")?;
    let Some((integration, _)) = registry.integration_by_client_id(client_id).await? else {
        return Err(oauth_error(OAuthErrorCode::InvalidClient, "no integration has this client_id"));
    };
    if integration.auth_type != AuthType::OAuth2 {
        return Err(oauth_error(
            OAuthErrorCode::UnauthorizedClient,
            format!("the integration {:?} does not use OAuth2", integration.name),
        ));
    }
    if !integration.enabled {
        return Err(oauth_error(
            OAuthErrorCode::UnauthorizedClient,
            format!("the integration {:?} is disabled", integration.name),
        ));
    }
    let requested = params.redirect_uri.as_deref().filter(|u| !u.is_empty());
    let redirect_uri = match requested {
        // Exact string comparison, as RFC 6749 §3.1.2.3 and the contract ask: no prefix or
        // pattern matching that an attacker could stretch.
        Some(uri) if integration.redirect_uris.iter().any(|r| r == uri) => uri.to_owned(),
        Some(_) => {
            return Err(oauth_error(
                OAuthErrorCode::InvalidRequest,
                "redirect_uri is not a Workfront Redirect URI registered for this integration",
            ));
        }
        None => match integration.redirect_uris.as_slice() {
            [only] => only.clone(),
            [] => {
                return Err(oauth_error(
                    OAuthErrorCode::InvalidRequest,
                    "the integration has no registered Workfront Redirect URI",
                ));
            }
            _ => {
                return Err(oauth_error(
                    OAuthErrorCode::InvalidRequest,
                    "redirect_uri is required: the integration has several registered",
                ));
            }
        },
    };
    // `state` is handed back exactly as received, so it is not trimmed; only absence is refused.
    let state = params
        .state
        .clone()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| oauth_error(OAuthErrorCode::InvalidRequest, "state is required"))?;
    Ok(AuthorizeTarget { integration, redirect_uri, requested_redirect_uri: requested.map(str::to_owned), state })
}

/// PKCE code challenges and verifiers: 43 to 128 unreserved characters (RFC 7636 §4.1, §4.2).
pub(crate) fn is_pkce_value(value: &str) -> bool {
    (43..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl AuthorizeTarget {
    /// Checks what remains of the request; errors go back to the client. Returns the PKCE
    /// challenge to bind to the code, if one was sent.
    pub fn check(&self, params: &AuthorizeParams) -> Result<Option<String>> {
        match present(params.response_type.as_deref()) {
            None | Some("code") => {}
            Some(_) => {
                return Err(oauth_error(
                    OAuthErrorCode::UnsupportedResponseType,
                    "only response_type=code is supported",
                ));
            }
        }
        let method = present(params.code_challenge_method.as_deref());
        match present(params.code_challenge.as_deref()) {
            None if method.is_some() => {
                Err(oauth_error(OAuthErrorCode::InvalidRequest, "code_challenge_method without code_challenge"))
            }
            None => Ok(None),
            // An absent method means `plain` (RFC 7636 §4.3), which is refused like an explicit
            // one: it protects nothing once the authorize URL has been seen.
            Some(_) if method != Some("S256") => Err(oauth_error(
                OAuthErrorCode::InvalidRequest,
                "code_challenge_method must be S256 (plain is not accepted)",
            )),
            Some(challenge) if !is_pkce_value(challenge) => {
                Err(oauth_error(OAuthErrorCode::InvalidRequest, "code_challenge is malformed"))
            }
            Some(challenge) => Ok(Some(challenge.to_owned())),
        }
    }

    /// The redirect URI with `pairs` added to its query, and `state`.
    pub fn redirect_with(&self, pairs: &[(&str, &str)]) -> String {
        match url::Url::parse(&self.redirect_uri) {
            Ok(mut url) => {
                {
                    let mut query = url.query_pairs_mut();
                    for (name, value) in pairs {
                        query.append_pair(name, value);
                    }
                    query.append_pair("state", &self.state);
                }
                url.into()
            }
            // Registered URIs are validated as absolute URLs; this cannot happen, and if it did
            // the browser would at least land on the registered address.
            Err(_) => self.redirect_uri.clone(),
        }
    }

    /// Where an error goes back to the client (RFC 6749 §4.1.2.1).
    pub fn error_redirect(&self, error: &AuthError) -> String {
        match error {
            AuthError::OAuth { code, description } => {
                self.redirect_with(&[("error", code.as_str()), ("error_description", description)])
            }
            _ => self.redirect_with(&[("error", OAuthErrorCode::ServerError.as_str())]),
        }
    }
}

/// A login attempt's user, looked up before the (slow) password check, which the caller runs
/// off the async executor.
#[derive(Debug, Clone)]
pub struct LoginCandidate {
    /// The username as stored (trimmed, lower-cased), or as typed when it is no valid username.
    pub username: String,
    password_hash: Option<String>,
}

/// A valid argon2id hash that no password matches in practice, so that an unknown username
/// costs as much time as a wrong password and timing does not tell which usernames exist.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_password(&issue_secret().plain).unwrap_or_default())
}

/// Looks up the user a login form names.
pub async fn login_candidate(registry: &Registry, username: &str) -> Result<LoginCandidate> {
    match docbridge_registry::normalize_username(username) {
        Ok(username) => {
            let password_hash = registry.user_password_hash(&username).await?;
            Ok(LoginCandidate { username, password_hash })
        }
        Err(_) => Ok(LoginCandidate { username: username.trim().to_owned(), password_hash: None }),
    }
}

impl LoginCandidate {
    /// Checks the password (argon2id: CPU-heavy, run it on a blocking thread). Always does the
    /// work, even for an unknown user.
    pub fn verify(&self, password: &str) -> bool {
        match &self.password_hash {
            Some(hash) => verify_password(password, hash),
            None => {
                let _ = verify_password(password, dummy_hash());
                false
            }
        }
    }
}

/// The role a user has in an integration: their grant, else the integration's default role
/// (`None` when that is `deny`).
pub async fn user_role(registry: &Registry, integration: &Integration, username: &str) -> Result<Option<Role>> {
    if let Some(access) = registry.access(integration.id, username).await? {
        return Ok(Some(access.role));
    }
    Ok(integration.default_role.role())
}

/// Issues an authorization code for a user who consented, bound to the client, the redirect URI
/// of the request, the user and the PKCE challenge. Returns the code, shown only in the redirect.
pub async fn issue_code(
    registry: &Registry,
    settings: &OAuthSettings,
    target: &AuthorizeTarget,
    username: &str,
    code_challenge: Option<String>,
) -> Result<String> {
    let denied = || oauth_error(OAuthErrorCode::AccessDenied, format!("{username} has no access to this integration"));
    // The user as they are now: the code carries their ID, which a user deleted since the login
    // and re-created under the same name does not have.
    let Some(user) = registry.user(username).await? else { return Err(denied()) };
    if user_role(registry, &target.integration, &user.username).await?.is_none() {
        return Err(denied());
    }
    let code = issue_secret();
    registry
        .create_oauth_code(&NewOAuthCode {
            code_hash: code.stored.hash,
            integration_id: target.integration.id,
            user_id: user.id,
            redirect_uri: target.requested_redirect_uri.clone(),
            code_challenge,
            expires_at: chrono::Utc::now() + settings.code_ttl.min(super::MAX_CODE_TTL),
        })
        .await?;
    Ok(code.plain)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> AuthorizeTarget {
        AuthorizeTarget {
            integration: Integration {
                id: 1,
                slug: "s".into(),
                name: "S".into(),
                auth_type: AuthType::OAuth2,
                client_id: Some("c".into()),
                redirect_uris: vec!["https://wf.example/cb?x=1".into()],
                request_params: vec![],
                storage_kind: "memory".into(),
                storage_root: "m".into(),
                enabled: true,
                default_role: docbridge_registry::DefaultRole::Editor,
                custom_actions: vec![],
                created_at: chrono::Utc::now(),
                updated_at: chrono::Utc::now(),
            },
            redirect_uri: "https://wf.example/cb?x=1".into(),
            requested_redirect_uri: None,
            state: "a b&c".into(),
        }
    }

    #[test]
    fn checks_response_type_and_pkce() {
        let target = target();
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".to_owned();
        let ok = |params: AuthorizeParams| target.check(&params);
        assert_eq!(ok(AuthorizeParams::default()).unwrap(), None);
        assert_eq!(ok(AuthorizeParams { response_type: Some("code".into()), ..Default::default() }).unwrap(), None);
        assert_eq!(
            ok(AuthorizeParams {
                code_challenge: Some(challenge.clone()),
                code_challenge_method: Some("S256".into()),
                ..Default::default()
            })
            .unwrap(),
            Some(challenge.clone())
        );
        let code_of = |params: AuthorizeParams| match target.check(&params) {
            Err(AuthError::OAuth { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code_of(AuthorizeParams { response_type: Some("token".into()), ..Default::default() }),
            OAuthErrorCode::UnsupportedResponseType
        );
        assert_eq!(
            code_of(AuthorizeParams {
                code_challenge: Some(challenge.clone()),
                code_challenge_method: Some("plain".into()),
                ..Default::default()
            }),
            OAuthErrorCode::InvalidRequest
        );
        assert_eq!(
            code_of(AuthorizeParams { code_challenge: Some(challenge), ..Default::default() }),
            OAuthErrorCode::InvalidRequest,
            "absent method means plain"
        );
        assert_eq!(
            code_of(AuthorizeParams {
                code_challenge: Some("short".into()),
                code_challenge_method: Some("S256".into()),
                ..Default::default()
            }),
            OAuthErrorCode::InvalidRequest
        );
        assert_eq!(
            code_of(AuthorizeParams { code_challenge_method: Some("S256".into()), ..Default::default() }),
            OAuthErrorCode::InvalidRequest
        );
    }

    #[test]
    fn redirects_keep_the_registered_query_and_the_state() {
        let target = target();
        assert_eq!(target.redirect_with(&[("code", "xyz")]), "https://wf.example/cb?x=1&code=xyz&state=a+b%26c");
        let error = oauth_error(OAuthErrorCode::AccessDenied, "no");
        assert_eq!(
            target.error_redirect(&error),
            "https://wf.example/cb?x=1&error=access_denied&error_description=no&state=a+b%26c"
        );
    }

    #[test]
    fn unknown_users_never_verify() {
        let candidate = LoginCandidate { username: "x".into(), password_hash: None };
        assert!(!candidate.verify(""));
        assert!(!candidate.verify("anything"));
        let hash = hash_password("right").unwrap();
        let candidate = LoginCandidate { username: "x".into(), password_hash: Some(hash) };
        assert!(candidate.verify("right"));
        assert!(!candidate.verify("wrong"));
    }

    #[test]
    fn params_round_trip_as_pairs() {
        let params = AuthorizeParams { client_id: Some("c".into()), state: Some("s".into()), ..Default::default() };
        assert_eq!(params.pairs(), vec![("client_id", "c"), ("state", "s")]);
    }
}
