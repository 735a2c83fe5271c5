//! How to reach one provider: the fields of Workfront's *Add Custom Integration* form that the
//! calling side needs (Base API URL, Request parameters, credentials), as contract C23 describes.

use std::fmt;
use std::str::FromStr;

use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::ClientError;
use crate::oauth::{OAuthConfig, TokenSet};

/// One named provider. The name only matters to the remotes store and the command line
/// (`NAME:PATH`); the client itself uses the URL, the request parameters and the credentials.
///
/// Its `Debug` can be logged or shown in an error: [`Auth`]'s redacts the credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteConfig {
    /// What the remote is called in `REMOTE:PATH` arguments.
    pub name: String,
    /// The registered *Base API URL*; endpoint names are appended to it (`{base}/files`).
    pub base_url: String,
    /// The registered *Request parameters*, appended to the query string of every call (§2).
    #[serde(default)]
    pub request_params: Vec<RequestParam>,
    /// The credentials every call carries.
    #[serde(default)]
    pub auth: Auth,
}

impl RemoteConfig {
    /// A remote with no request parameters.
    pub fn new(name: impl Into<String>, base_url: impl Into<String>, auth: Auth) -> Self {
        RemoteConfig { name: name.into(), base_url: base_url.into(), request_params: Vec::new(), auth }
    }

    /// Checks everything that would otherwise only fail at the first call: the name, the URL
    /// and that the credentials can travel in HTTP headers.
    pub fn validate(&self) -> Result<(), ClientError> {
        validate_remote_name(&self.name)?;
        parse_base_url(&self.base_url)?;
        self.auth.validate()
    }
}

/// Remote names appear before the colon of `NAME:PATH`, so they are kept to characters that
/// cannot be confused with a path or an ID.
pub fn validate_remote_name(name: &str) -> Result<(), ClientError> {
    let well_formed = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if well_formed {
        Ok(())
    } else {
        Err(ClientError::Config(format!(
            "remote name {name:?}: use 1 to 64 letters, digits, '_', '.' or '-', not starting with '-'"
        )))
    }
}

/// Parses a Base API URL. A query or fragment is refused because endpoint names are appended to
/// the path, and registered request parameters have their own field.
pub fn parse_base_url(raw: &str) -> Result<Url, ClientError> {
    let url = Url::parse(raw.trim())
        .map_err(|err| ClientError::Config(format!("base URL {raw:?} is not an absolute URL: {err}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(ClientError::Config(format!("base URL {raw:?} must use http or https")));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(ClientError::Config(format!(
            "base URL {raw:?} must not have a query or fragment; use request parameters (key=value) instead"
        )));
    }
    Ok(url)
}

/// One registered request parameter, written `key=value` (the value may be empty or contain `=`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct RequestParam {
    /// The parameter's name.
    pub key: String,
    /// Its value, possibly empty.
    pub value: String,
}

impl FromStr for RequestParam {
    type Err = ClientError;

    fn from_str(raw: &str) -> Result<Self, ClientError> {
        match raw.split_once('=') {
            Some((key, value)) if !key.is_empty() => Ok(RequestParam { key: key.to_owned(), value: value.to_owned() }),
            _ => Err(ClientError::Config(format!("request parameter {raw:?} is not of the form key=value"))),
        }
    }
}

impl TryFrom<String> for RequestParam {
    type Error = ClientError;

    fn try_from(raw: String) -> Result<Self, ClientError> {
        raw.parse()
    }
}

impl From<RequestParam> for String {
    fn from(param: RequestParam) -> String {
        param.to_string()
    }
}

impl fmt::Display for RequestParam {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.key, self.value)
    }
}

/// The credentials sent on every call (§3).
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
#[non_exhaustive]
pub enum Auth {
    /// No credentials: for providers that check none (e.g. the Java RI as shipped).
    #[default]
    None,
    /// Headers `apiKey` and `username` (§3.1).
    ApiKey {
        /// The integration's ApiKey.
        api_key: String,
        /// The Workfront user the calls act for.
        username: String,
    },
    /// `Authorization: Bearer <token>` with a token obtained elsewhere (§3.2).
    Bearer {
        /// The access token.
        token: String,
    },
    /// The OAuth2 authorization-code flow (§4): the integration's OAuth2 fields, and the tokens
    /// `docbridge remote login` obtained (none before the first login). Calls carry
    /// `Authorization: Bearer <access token>`; a 403 leads to one refresh and one retry (C23).
    #[serde(rename = "oauth2")]
    OAuth2 {
        /// The integration's OAuth2 fields.
        #[serde(flatten)]
        oauth: OAuthConfig,
        /// The tokens of the last login or refresh; `None` before the first login.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tokens: Option<TokenSet>,
    },
}

impl Auth {
    /// A one-line description without secrets, for listings and reports.
    pub fn describe(&self) -> String {
        match self {
            Auth::None => "none".to_owned(),
            Auth::ApiKey { username, .. } => format!("apiKey (key ***, username {username:?})"),
            Auth::Bearer { .. } => "bearer (token ***)".to_owned(),
            Auth::OAuth2 { oauth, tokens } => {
                let secret = if oauth.client_secret.is_some() { ", secret ***" } else { "" };
                let state = if tokens.is_some() { "logged in, tokens ***" } else { "not logged in" };
                format!("oauth2 (client id {:?}{secret}, {state})", oauth.client_id)
            }
        }
    }

    /// Credentials travel in headers, so they must be valid header values; OAuth2 URLs must be
    /// usable, and the redirect URI must be one `docbridge remote login` can listen on.
    pub fn validate(&self) -> Result<(), ClientError> {
        let check = |what: &str, value: &str| {
            HeaderValue::from_str(value)
                .map(drop)
                .map_err(|_| ClientError::Config(format!("{what} contains characters that cannot be sent in a header")))
        };
        match self {
            Auth::None => Ok(()),
            Auth::ApiKey { api_key, username } => {
                check("the API key", api_key)?;
                check("the username", username)
            }
            Auth::Bearer { token } => check("the bearer token", token),
            Auth::OAuth2 { oauth, tokens } => {
                oauth.validate().map_err(|err| ClientError::Config(err.to_string()))?;
                match tokens {
                    Some(tokens) => check("the access token", &tokens.access_token),
                    None => Ok(()),
                }
            }
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.describe())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_params_parse_and_print() {
        let param: RequestParam = "access_type=offline".parse().unwrap();
        assert_eq!((param.key.as_str(), param.value.as_str()), ("access_type", "offline"));
        let with_equals: RequestParam = "sig=a=b".parse().unwrap();
        assert_eq!(with_equals.value, "a=b");
        assert_eq!(with_equals.to_string(), "sig=a=b");
        assert!("novalue".parse::<RequestParam>().is_err());
        assert!("=x".parse::<RequestParam>().is_err());
    }

    #[test]
    fn config_serialises_with_tagged_auth_and_params_as_strings() {
        let mut config = RemoteConfig::new(
            "acme",
            "https://acme.example/api",
            Auth::ApiKey { api_key: "k".into(), username: "u@x".into() },
        );
        config.request_params.push("a=1".parse().unwrap());
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["auth"]["type"], "apiKey");
        assert_eq!(json["auth"]["apiKey"], "k");
        assert_eq!(json["requestParams"][0], "a=1");
        let back: RemoteConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);
    }

    #[test]
    fn debug_never_shows_secrets() {
        let config = RemoteConfig::new("a", "http://h", Auth::Bearer { token: "s3cret".into() });
        assert!(!format!("{config:?}").contains("s3cret"));
        let config =
            RemoteConfig::new("a", "http://h", Auth::ApiKey { api_key: "s3cret".into(), username: "u".into() });
        assert!(!format!("{config:?}").contains("s3cret"));
    }

    fn oauth(tokens: Option<TokenSet>) -> Auth {
        Auth::OAuth2 {
            oauth: OAuthConfig {
                authorization_url: "https://p.example/oauth/authorize?client_id=cid".into(),
                token_url: "https://p.example/oauth/token".into(),
                client_id: "cid".into(),
                client_secret: Some("cl13nt-s3cret".into()),
                redirect_uri: "http://127.0.0.1:53691/callback".into(),
            },
            tokens,
        }
    }

    fn tokens() -> TokenSet {
        TokenSet {
            access_token: "acc3ss-t0ken".into(),
            refresh_token: Some("r3fresh-t0ken".into()),
            expires_at: Some("2030-01-02T03:04:05Z".parse().unwrap()),
        }
    }

    #[test]
    fn oauth2_remotes_are_stored_flat_with_their_tokens() {
        let config = RemoteConfig::new("wf", "https://p.example/webhooks/docs", oauth(Some(tokens())));
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(
            json["auth"],
            serde_json::json!({
                "type": "oauth2",
                "authorizationUrl": "https://p.example/oauth/authorize?client_id=cid",
                "tokenUrl": "https://p.example/oauth/token",
                "clientId": "cid",
                "clientSecret": "cl13nt-s3cret",
                "redirectUri": "http://127.0.0.1:53691/callback",
                "tokens": {
                    "accessToken": "acc3ss-t0ken",
                    "refreshToken": "r3fresh-t0ken",
                    "expiresAt": "2030-01-02T03:04:05Z"
                }
            })
        );
        let back: RemoteConfig = serde_json::from_value(json).unwrap();
        assert_eq!(back, config);

        // Before the first login there are no tokens, and no `tokens` key; no secret, no key.
        let mut config = RemoteConfig::new("wf", "https://p.example/webhooks/docs", oauth(None));
        if let Auth::OAuth2 { oauth, .. } = &mut config.auth {
            oauth.client_secret = None;
        }
        let json = serde_json::to_value(&config).unwrap();
        let keys: Vec<&str> = json["auth"].as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(keys, ["authorizationUrl", "clientId", "redirectUri", "tokenUrl", "type"]);
        assert_eq!(serde_json::from_value::<RemoteConfig>(json).unwrap(), config);
        // A refresh token and an expiry are optional in what a provider gives.
        let stored = serde_json::json!({"name": "wf", "baseUrl": "https://p.example/x", "auth": {
            "type": "oauth2", "authorizationUrl": "https://p.example/a", "tokenUrl": "https://p.example/t",
            "clientId": "c", "redirectUri": "http://127.0.0.1:1/cb", "tokens": {"accessToken": "a"}}});
        let config: RemoteConfig = serde_json::from_value(stored).unwrap();
        assert!(matches!(&config.auth, Auth::OAuth2 { tokens: Some(t), .. } if t.refresh_token.is_none()));
    }

    #[test]
    fn oauth2_debug_and_descriptions_never_show_secrets() {
        for auth in [oauth(Some(tokens())), oauth(None)] {
            let config = RemoteConfig::new("wf", "https://p.example/webhooks/docs", auth);
            let shown = format!("{config:?} {:?} {}", config.auth, config.auth.describe());
            for secret in ["cl13nt-s3cret", "acc3ss-t0ken", "r3fresh-t0ken"] {
                assert!(!shown.contains(secret), "{shown}");
            }
            assert!(shown.contains("cid"), "the client ID is not a secret: {shown}");
        }
        assert!(oauth(None).describe().contains("not logged in"));
        assert!(oauth(Some(tokens())).describe().contains("logged in, tokens ***"));
    }

    #[test]
    fn oauth2_fields_are_validated_when_added() {
        let config = |change: fn(&mut OAuthConfig)| {
            let mut auth = oauth(None);
            if let Auth::OAuth2 { oauth, .. } = &mut auth {
                change(oauth);
            }
            auth
        };
        assert!(config(|_| {}).validate().is_ok());
        assert!(config(|o| o.redirect_uri = "http://localhost/cb".into()).validate().is_ok());
        for bad in [
            config(|o| o.authorization_url = "not a url".into()),
            config(|o| o.token_url = "ftp://p.example/token".into()),
            config(|o| o.client_id = " ".into()),
            config(|o| o.redirect_uri = "https://workfront.example/oauth/callback".into()),
        ] {
            assert!(matches!(bad.validate(), Err(ClientError::Config(_))), "{bad:?}");
        }
        let mut broken = tokens();
        broken.access_token = "a\nb".into();
        assert!(oauth(Some(broken)).validate().is_err());
    }

    #[test]
    fn validation() {
        assert!(validate_remote_name("my-remote_1.x").is_ok());
        for bad in ["", "a:b", "a/b", "-x", "é"] {
            assert!(validate_remote_name(bad).is_err(), "{bad:?}");
        }
        assert!(parse_base_url("http://h/api/").is_ok());
        assert!(parse_base_url("ftp://h/api").is_err());
        assert!(parse_base_url("/relative").is_err());
        assert!(parse_base_url("http://h/api?x=1").is_err());
        assert!(Auth::Bearer { token: "a\nb".into() }.validate().is_err());
    }
}
