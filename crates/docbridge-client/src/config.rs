//! How to reach one provider: the fields of Workfront's *Add Custom Integration* form that the
//! calling side needs (Base API URL, Request parameters, credentials), as contract C23 describes.

use std::fmt;
use std::str::FromStr;

use reqwest::header::HeaderValue;
use serde::{Deserialize, Serialize};
use url::Url;

use crate::ClientError;

/// One named provider. The name only matters to the remotes store and the command line
/// (`NAME:PATH`); the client itself uses the URL, the request parameters and the credentials.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteConfig {
    pub name: String,
    /// The registered *Base API URL*; endpoint names are appended to it (`{base}/files`).
    pub base_url: String,
    /// The registered *Request parameters*, appended to the query string of every call (§2).
    #[serde(default)]
    pub request_params: Vec<RequestParam>,
    #[serde(default)]
    pub auth: Auth,
}

impl RemoteConfig {
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

/// Redacts the credentials, so that a config can be logged or shown in an error.
impl fmt::Debug for RemoteConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteConfig")
            .field("name", &self.name)
            .field("base_url", &self.base_url)
            .field("request_params", &self.request_params)
            .field("auth", &self.auth)
            .finish()
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
    pub key: String,
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

/// The credentials sent on every call (§3). The enum is non-exhaustive because the OAuth2
/// authorization-code flow, with its token refresh on 403, will be added as another variant.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "camelCase", rename_all_fields = "camelCase")]
#[non_exhaustive]
pub enum Auth {
    /// No credentials: for providers that check none (e.g. the Java RI as shipped).
    #[default]
    None,
    /// Headers `apiKey` and `username` (§3.1).
    ApiKey { api_key: String, username: String },
    /// `Authorization: Bearer <token>` with a token obtained elsewhere (§3.2).
    Bearer { token: String },
}

impl Auth {
    /// A one-line description without secrets, for listings and reports.
    pub fn describe(&self) -> String {
        match self {
            Auth::None => "none".to_owned(),
            Auth::ApiKey { username, .. } => format!("apiKey (key ***, username {username:?})"),
            Auth::Bearer { .. } => "bearer (token ***)".to_owned(),
        }
    }

    /// Credentials travel in headers, so they must be valid header values.
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
