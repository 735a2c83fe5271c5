//! `Client`: one async method per endpoint, calling a provider the way Workfront does (§1, C23):
//! `{base}/{endpoint}`, every parameter in the query string (also for POST and PUT), the
//! registered request parameters appended to every call, and the credentials in headers.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use docbridge_protocol::{Endpoint, ItemKind, ItemMetadata, ServiceInfo};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStream, TryStreamExt};
use reqwest::header::{self, HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use url::Url;

use crate::config::{Auth, RemoteConfig, RequestParam, parse_base_url};
use crate::error::provider_message;
use crate::oauth::{OAuthConfig, TokenSet};
use crate::{ClientError, disposition};

/// A stream of bytes coming from the provider.
pub type ByteStream = BoxStream<'static, Result<Bytes, ClientError>>;

/// How long connecting may take. There is no overall timeout by default: a download of several
/// gigabytes legitimately takes long. Pass your own `reqwest::Client` to change that.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// The most of an error body that is read to find the provider's message.
const MAX_ERROR_BODY: usize = 64 * 1024;
/// The most of a JSON answer that is read: listings can be long, but not unbounded.
const MAX_JSON_BODY: usize = 64 * 1024 * 1024;

/// A typed client for one provider. Cheap to clone: clones share the connection pool, and for
/// an OAuth2 remote the current tokens.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    request_params: Vec<RequestParam>,
    auth: Auth,
    oauth: Option<Arc<OAuthSession>>,
}

/// Called with the new tokens after every refresh, to store them (the command line writes
/// them to the remotes file). An error fails the call that needed the refresh.
pub type TokenSink = Arc<dyn Fn(&TokenSet) -> Result<(), ClientError> + Send + Sync>;

/// The OAuth2 state of a client: the integration's fields and the tokens in force, renewed on
/// a 403 (C23).
struct OAuthSession {
    /// The remote's name, for messages.
    remote: String,
    config: OAuthConfig,
    tokens: Mutex<TokenSet>,
    /// Held while refreshing, so that calls refused together refresh once.
    refreshing: tokio::sync::Mutex<()>,
    sink: Option<TokenSink>,
}

impl OAuthSession {
    fn new(remote: &str, config: OAuthConfig, tokens: TokenSet, sink: Option<TokenSink>) -> Arc<Self> {
        Arc::new(OAuthSession {
            remote: remote.to_owned(),
            config,
            tokens: Mutex::new(tokens),
            refreshing: tokio::sync::Mutex::new(()),
            sink,
        })
    }

    fn tokens(&self) -> TokenSet {
        self.tokens.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }

    /// A token to retry with after `refused` was refused: the one another call has refreshed
    /// to meanwhile, or a fresh one. `None` when there is no refresh token.
    async fn renew(&self, refused: Option<&str>) -> Result<Option<String>, ClientError> {
        let _refreshing = self.refreshing.lock().await;
        let current = self.tokens();
        if refused.is_some_and(|refused| refused != current.access_token) {
            return Ok(Some(current.access_token));
        }
        if current.refresh_token.is_none() {
            return Ok(None);
        }
        let renewed = crate::oauth::refresh(&self.config, &current)
            .await
            .map_err(|reason| ClientError::Refresh { remote: self.remote.clone(), reason })?;
        *self.tokens.lock().unwrap_or_else(PoisonError::into_inner) = renewed.clone();
        if let Some(sink) = &self.sink {
            sink(&renewed)?;
        }
        Ok(Some(renewed.access_token))
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base.as_str())
            .field("request_params", &self.request_params)
            .field("auth", &self.auth)
            .finish()
    }
}

/// Which part of a file `/download` should send: a `Range` header (an extension, C11).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadRange {
    /// `bytes=start-`: from `start` to the end, e.g. to resume.
    From(u64),
    /// `bytes=start-end`, both inclusive.
    Bounded {
        /// The first byte's offset.
        start: u64,
        /// The last byte's offset.
        end_inclusive: u64,
    },
    /// `bytes=-n`: the last `n` bytes.
    Last(u64),
}

impl DownloadRange {
    /// The `Range` header's value (`bytes=...`).
    pub fn header_value(&self) -> String {
        match self {
            DownloadRange::From(start) => format!("bytes={start}-"),
            DownloadRange::Bounded { start, end_inclusive } => format!("bytes={start}-{end_inclusive}"),
            DownloadRange::Last(n) => format!("bytes=-{n}"),
        }
    }
}

/// What `/customAction` is told about the document (§9.12, C18). Workfront sends its own
/// document and version IDs; docbridge also accepts the provider's item ID as `id`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionTarget {
    /// Workfront's document ID (`documentId`).
    pub document_id: Option<String>,
    /// Workfront's document version ID (`documentVersionId`).
    pub document_version_id: Option<String>,
    /// The provider's own item ID (`id`, a docbridge extension).
    pub item_id: Option<String>,
}

/// A successful `/download` or `/thumbnail`: the status (200, or 206 for a range), the headers
/// and the body as a stream, so that no file is ever held in memory whole.
pub struct Download {
    /// 200, or 206 for a range.
    pub status: StatusCode,
    /// The response headers (`Content-Type`, `Content-Length`, `Content-Disposition`, ...).
    pub headers: HeaderMap,
    /// The bytes, as they arrive.
    pub body: ByteStream,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download").field("status", &self.status).field("headers", &self.headers).finish()
    }
}

impl Download {
    /// `Content-Length`, when the provider sent one.
    pub fn content_length(&self) -> Option<u64> {
        self.header(header::CONTENT_LENGTH).and_then(|v| v.trim().parse().ok())
    }

    /// `Content-Type`, when the provider sent one.
    pub fn content_type(&self) -> Option<&str> {
        self.header(header::CONTENT_TYPE)
    }

    /// The file name from `Content-Disposition` (`filename*` preferred over `filename`).
    pub fn filename(&self) -> Option<String> {
        self.header(header::CONTENT_DISPOSITION).and_then(disposition::filename_from_content_disposition)
    }

    /// A response header as text; `None` when absent or not visible ASCII.
    pub fn header(&self, name: header::HeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Writes the body to `writer` chunk by chunk, reporting each chunk's length to `on_chunk`.
    /// Returns the number of bytes written.
    pub async fn copy_to<W: AsyncWrite + Unpin>(
        mut self,
        writer: &mut W,
        mut on_chunk: impl FnMut(u64),
    ) -> Result<u64, ClientError> {
        let mut written = 0u64;
        while let Some(chunk) = self.body.try_next().await? {
            writer.write_all(&chunk).await.map_err(|err| ClientError::io("writing the download", err))?;
            written += chunk.len() as u64;
            on_chunk(chunk.len() as u64);
        }
        writer.flush().await.map_err(|err| ClientError::io("writing the download", err))?;
        Ok(written)
    }

    /// Collects the whole body; meant for small bodies such as thumbnails.
    pub async fn into_bytes(self) -> Result<Bytes, ClientError> {
        let chunks: Vec<Bytes> = self.body.try_collect().await?;
        Ok(chunks.concat().into())
    }
}

impl Client {
    /// A client with a default HTTP client (connect timeout, no overall timeout).
    pub fn new(config: &RemoteConfig) -> Result<Self, ClientError> {
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("docbridge-client/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|err| ClientError::Config(format!("cannot build the HTTP client: {err}")))?;
        Self::with_http_client(config, http)
    }

    /// A client that sends through the given HTTP client (timeouts, proxies, TLS settings).
    pub fn with_http_client(config: &RemoteConfig, http: reqwest::Client) -> Result<Self, ClientError> {
        let mut base = parse_base_url(&config.base_url)?;
        if base.path_segments_mut().is_err() {
            return Err(ClientError::Config(format!("base URL {:?} cannot take a path", config.base_url)));
        }
        // `{base}/{endpoint}` whether or not the registered URL ends with a slash.
        if let Ok(mut segments) = base.path_segments_mut() {
            segments.pop_if_empty();
        }
        config.auth.validate()?;
        let oauth = match &config.auth {
            Auth::OAuth2 { oauth, tokens: Some(tokens) } => {
                Some(OAuthSession::new(&config.name, oauth.clone(), tokens.clone(), None))
            }
            Auth::OAuth2 { tokens: None, .. } => {
                return Err(ClientError::NotLoggedIn { remote: config.name.clone() });
            }
            _ => None,
        };
        Ok(Client { http, base, request_params: config.request_params.clone(), auth: config.auth.clone(), oauth })
    }

    /// The same provider with other credentials (the validator sends wrong ones on purpose).
    /// An OAuth2 `auth` starts from its own tokens, refreshed in memory only.
    pub fn with_auth(&self, auth: Auth) -> Client {
        let oauth = match &auth {
            Auth::OAuth2 { oauth, tokens: Some(tokens) } => {
                let remote = self.oauth.as_ref().map(|s| s.remote.as_str()).unwrap_or("remote");
                Some(OAuthSession::new(remote, oauth.clone(), tokens.clone(), None))
            }
            _ => None,
        };
        Client { auth, oauth, ..self.clone() }
    }

    /// For an OAuth2 remote: has `sink` called with the new tokens after every refresh, so that
    /// they outlive this client (a rotating provider revokes the old refresh token).
    pub fn on_token_refresh(mut self, sink: TokenSink) -> Client {
        if let Some(session) = &self.oauth {
            let tokens = session.tokens();
            self.oauth = Some(OAuthSession::new(&session.remote, session.config.clone(), tokens, Some(sink)));
        }
        self
    }

    /// For an OAuth2 remote: the tokens in force, refreshed ones included.
    pub fn tokens(&self) -> Option<TokenSet> {
        self.oauth.as_ref().map(|session| session.tokens())
    }

    /// The credentials calls carry.
    pub fn auth(&self) -> &Auth {
        &self.auth
    }

    /// The *Base API URL* endpoint names are appended to.
    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// The underlying HTTP client, e.g. to open a `viewLink` the way a browser would, without
    /// the provider's credentials.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// `{base}/{endpoint}?{params}&{request parameters}`. `endpoint` is a string rather than an
    /// [`Endpoint`] so that unknown endpoints can be probed too.
    pub fn url(&self, endpoint: &str, params: &[(&str, &str)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.push(endpoint);
        }
        if !params.is_empty() || !self.request_params.is_empty() {
            let mut query = url.query_pairs_mut();
            for (key, value) in params {
                query.append_pair(key, value);
            }
            for param in &self.request_params {
                query.append_pair(&param.key, &param.value);
            }
        }
        url
    }

    /// A request to `endpoint` with the parameters, the request parameters and the credentials
    /// in place; send it yourself to see the raw answer.
    pub fn request(&self, method: Method, endpoint: &str, params: &[(&str, &str)]) -> RequestBuilder {
        self.authenticate(self.http.request(method, self.url(endpoint, params)))
    }

    /// Adds the credentials to any request.
    pub fn authenticate(&self, builder: RequestBuilder) -> RequestBuilder {
        match &self.auth {
            Auth::None => builder,
            // Header names are case-insensitive (§3.1); HTTP/1 clients send them lower-case.
            Auth::ApiKey { api_key, username } => builder.header("apikey", api_key).header("username", username),
            Auth::Bearer { token } => builder.bearer_auth(token),
            Auth::OAuth2 { tokens, .. } => match (&self.oauth, tokens) {
                (Some(session), _) => builder.bearer_auth(session.tokens().access_token),
                (None, Some(tokens)) => builder.bearer_auth(&tokens.access_token),
                (None, None) => builder,
            },
        }
    }

    /// `GET /serviceInfo` (§9.10): what the provider implements.
    pub async fn service_info(&self) -> Result<ServiceInfo, ClientError> {
        let endpoint = Endpoint::ServiceInfo;
        let response = self.send(endpoint, self.request(Method::GET, endpoint.as_str(), &[])).await?;
        read_json(endpoint, response).await
    }

    /// `GET /metadata?id=` (§9.1). `/` is the root folder.
    pub async fn metadata(&self, id: &str) -> Result<ItemMetadata, ClientError> {
        let endpoint = Endpoint::Metadata;
        let response = self.send(endpoint, self.request(Method::GET, endpoint.as_str(), &[("id", id)])).await?;
        read_json(endpoint, response).await
    }

    /// `GET /files?parentId=[&max&offset]` (§9.2): the children of a folder.
    pub async fn files(
        &self,
        parent_id: &str,
        max: Option<u64>,
        offset: Option<u64>,
    ) -> Result<Vec<ItemMetadata>, ClientError> {
        self.page(Endpoint::Files, &[("parentId", parent_id)], max, offset).await
    }

    /// `GET /search?query=[&parentId&max&offset]` (§9.3).
    pub async fn search(
        &self,
        query: &str,
        parent_id: Option<&str>,
        max: Option<u64>,
        offset: Option<u64>,
    ) -> Result<Vec<ItemMetadata>, ClientError> {
        let mut params = vec![("query", query)];
        push_optional(&mut params, "parentId", parent_id);
        self.page(Endpoint::Search, &params, max, offset).await
    }

    /// One page of a listing endpoint (`/files`, `/search`): `params`, then `max` and `offset`
    /// when given.
    async fn page(
        &self,
        endpoint: Endpoint,
        params: &[(&str, &str)],
        max: Option<u64>,
        offset: Option<u64>,
    ) -> Result<Vec<ItemMetadata>, ClientError> {
        let (max, offset) = (max.map(|n| n.to_string()), offset.map(|n| n.to_string()));
        let mut params = params.to_vec();
        push_optional(&mut params, "max", max.as_deref());
        push_optional(&mut params, "offset", offset.as_deref());
        let response = self.send(endpoint, self.request(Method::GET, endpoint.as_str(), &params)).await?;
        read_json(endpoint, response).await
    }

    /// `GET /download?id=` (§9.4), optionally for a byte range. The body is streamed.
    pub async fn download(&self, id: &str, range: Option<DownloadRange>) -> Result<Download, ClientError> {
        let endpoint = Endpoint::Download;
        let mut request = self.request(Method::GET, endpoint.as_str(), &[("id", id)]);
        if let Some(range) = range {
            request = request.header(header::RANGE, range.header_value());
        }
        let response = self.send(endpoint, request).await?;
        Ok(into_download(endpoint, response))
    }

    /// `GET /thumbnail?id=[&size=]` (§9.5): image bytes, `size` being the width in pixels.
    pub async fn thumbnail(&self, id: &str, size: Option<u32>) -> Result<Download, ClientError> {
        let endpoint = Endpoint::Thumbnail;
        let size = size.map(|n| n.to_string());
        let mut params = vec![("id", id)];
        push_optional(&mut params, "size", size.as_deref());
        let response = self.send(endpoint, self.request(Method::GET, endpoint.as_str(), &params)).await?;
        Ok(into_download(endpoint, response))
    }

    /// `POST /uploadInit?parentId&filename[&documentId&documentVersionId]` (§9.6): reserves the
    /// new file and answers its metadata, whose `id` then goes to [`Client::upload`].
    pub async fn upload_init(
        &self,
        parent_id: &str,
        filename: &str,
        document_id: Option<&str>,
        document_version_id: Option<&str>,
    ) -> Result<ItemMetadata, ClientError> {
        let endpoint = Endpoint::UploadInit;
        let mut params = vec![("parentId", parent_id), ("filename", filename)];
        push_optional(&mut params, "documentId", document_id);
        push_optional(&mut params, "documentVersionId", document_version_id);
        let response = self.send(endpoint, self.request(Method::POST, endpoint.as_str(), &params)).await?;
        read_json(endpoint, response).await
    }

    /// `PUT /upload?id=` (§9.7) with the raw bytes streamed as the body. Give `length` when
    /// known so that the request carries a `Content-Length` instead of chunked encoding.
    pub async fn upload<S>(&self, id: &str, body: S, length: Option<u64>) -> Result<(), ClientError>
    where
        S: TryStream + Send + 'static,
        S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
        Bytes: From<S::Ok>,
    {
        self.upload_body(id, reqwest::Body::wrap_stream(body), length).await
    }

    /// `PUT /upload?id=` with a body already in memory.
    pub async fn upload_bytes(&self, id: &str, bytes: impl Into<Bytes>) -> Result<(), ClientError> {
        let bytes: Bytes = bytes.into();
        let length = bytes.len() as u64;
        self.upload_body(id, reqwest::Body::from(bytes), Some(length)).await
    }

    async fn upload_body(&self, id: &str, body: reqwest::Body, length: Option<u64>) -> Result<(), ClientError> {
        let endpoint = Endpoint::Upload;
        let mut request = self
            .request(Method::PUT, endpoint.as_str(), &[("id", id)])
            .header(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"))
            .body(body);
        if let Some(length) = length {
            request = request.header(header::CONTENT_LENGTH, length);
        }
        let response = self.send(endpoint, request).await?;
        read_outcome(endpoint, response).await
    }

    /// `POST /createFolder?parentId&name` (§9.8): answers the new folder's metadata.
    pub async fn create_folder(&self, parent_id: &str, name: &str) -> Result<ItemMetadata, ClientError> {
        let endpoint = Endpoint::CreateFolder;
        let params = [("parentId", parent_id), ("name", name)];
        let response = self.send(endpoint, self.request(Method::POST, endpoint.as_str(), &params)).await?;
        read_json(endpoint, response).await
    }

    /// `PUT /delete?documentId=` or `?folderId=` (§9.9), chosen by the item's kind; a folder goes
    /// with its contents.
    pub async fn delete(&self, id: &str, kind: ItemKind) -> Result<(), ClientError> {
        let endpoint = Endpoint::Delete;
        let key = match kind {
            ItemKind::File => "documentId",
            ItemKind::Folder => "folderId",
        };
        let response = self.send(endpoint, self.request(Method::PUT, endpoint.as_str(), &[(key, id)])).await?;
        read_outcome(endpoint, response).await
    }

    /// `PUT /rename?id&name` (§9.11).
    pub async fn rename(&self, id: &str, name: &str) -> Result<(), ClientError> {
        let endpoint = Endpoint::Rename;
        let params = [("id", id), ("name", name)];
        let response = self.send(endpoint, self.request(Method::PUT, endpoint.as_str(), &params)).await?;
        read_outcome(endpoint, response).await
    }

    /// `GET /customAction?name&documentId&documentVersionId[&id]` (§9.12). A `{"status":"failure"}`
    /// answer, even with 200, is an error carrying the provider's message (shown to the user).
    pub async fn custom_action(&self, name: &str, target: &ActionTarget) -> Result<(), ClientError> {
        let endpoint = Endpoint::CustomAction;
        let mut params = vec![("name", name)];
        push_optional(&mut params, "documentId", target.document_id.as_deref());
        push_optional(&mut params, "documentVersionId", target.document_version_id.as_deref());
        push_optional(&mut params, "id", target.item_id.as_deref());
        let response = self.send(endpoint, self.request(Method::GET, endpoint.as_str(), &params)).await?;
        read_outcome(endpoint, response).await
    }

    /// Sends, and turns every non-2xx answer into [`ClientError::Provider`] with its message.
    /// This is the one place every typed call goes through: for an OAuth2 remote, a 403 leads
    /// to one refresh of the tokens and one retry with the new access token, as Workfront does
    /// (§3.2, C23).
    async fn send(&self, endpoint: Endpoint, request: RequestBuilder) -> Result<Response, ClientError> {
        let (_, request) = request.build_split();
        let request = request.map_err(|source| ClientError::Transport { endpoint, source })?;
        // A streamed body cannot be sent twice; everything else can be replayed.
        let replay = self.oauth.as_ref().and_then(|_| request.try_clone());
        let sent_token = bearer_token(&request).map(str::to_owned);
        let mut response =
            self.http.execute(request).await.map_err(|source| ClientError::Transport { endpoint, source })?;
        let mut hint = None;
        if response.status() == StatusCode::FORBIDDEN
            && let Some(session) = &self.oauth
        {
            match (session.renew(sent_token.as_deref()).await?, replay) {
                (Some(token), Some(mut replay)) => {
                    let mut value = HeaderValue::from_str(&format!("Bearer {token}"))
                        .map_err(|_| ClientError::Config("the new access token cannot be sent in a header".into()))?;
                    value.set_sensitive(true);
                    replay.headers_mut().insert(header::AUTHORIZATION, value);
                    response = self
                        .http
                        .execute(replay)
                        .await
                        .map_err(|source| ClientError::Transport { endpoint, source })?;
                }
                (Some(_), None) => {
                    hint = Some("the access token has been renewed, but a streamed body cannot be sent twice: run the command again".to_owned());
                }
                (None, _) => {
                    hint = Some(format!(
                        "there is no refresh token to renew the access token; log in again with `docbridge remote login {}`",
                        session.remote
                    ));
                }
            }
        }
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        // The message is a courtesy: a body that breaks off still leaves the status to report.
        let body = read_body(endpoint, response, MAX_ERROR_BODY).await.unwrap_or_default();
        let mut message = provider_message(status.as_u16(), &body);
        if let Some(hint) = hint {
            message = format!("{message} ({hint})");
        }
        Err(ClientError::Provider { endpoint, status: status.as_u16(), message })
    }
}

/// The token of a request's `Authorization: Bearer` header.
fn bearer_token(request: &reqwest::Request) -> Option<&str> {
    let value = request.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then_some(token.trim())
}

fn push_optional<'a>(params: &mut Vec<(&'a str, &'a str)>, key: &'a str, value: Option<&'a str>) {
    if let Some(value) = value {
        params.push((key, value));
    }
}

fn into_download(endpoint: Endpoint, response: Response) -> Download {
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes_stream().map_err(move |source| ClientError::Transport { endpoint, source }).boxed();
    Download { status, headers, body }
}

/// Reads at most `limit` bytes of a body; longer bodies are an error rather than a silent cut.
async fn read_body(endpoint: Endpoint, mut response: Response, limit: usize) -> Result<Vec<u8>, ClientError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|source| ClientError::Transport { endpoint, source })? {
        if body.len() + chunk.len() > limit {
            return Err(ClientError::Decode { endpoint, message: format!("the answer is larger than {limit} bytes") });
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// Whether a JSON body uses one of the failure vocabularies (§13.6), whatever the status.
pub(crate) fn reports_failure(value: &serde_json::Value) -> bool {
    let field = |key: &str| value.get(key).and_then(serde_json::Value::as_str);
    matches!(field("status"), Some("error" | "failure")) || field("result") == Some("fail")
}

/// Parses a JSON answer leniently into `T`; a failure body sent with a 2xx status is an error.
async fn read_json<T: DeserializeOwned>(endpoint: Endpoint, response: Response) -> Result<T, ClientError> {
    let status = response.status().as_u16();
    let body = read_body(endpoint, response, MAX_JSON_BODY).await?;
    let value: serde_json::Value = serde_json::from_slice(&body).map_err(|err| ClientError::Decode {
        endpoint,
        message: format!("not JSON ({err}): {}", provider_message(status, &body)),
    })?;
    if reports_failure(&value) {
        return Err(ClientError::Provider { endpoint, status, message: provider_message(status, &body) });
    }
    serde_json::from_value(value).map_err(|err| ClientError::Decode { endpoint, message: err.to_string() })
}

/// Reads the outcome of upload, delete, rename and customAction. Only an explicit failure body
/// fails: an empty or unexpected 2xx body counts as success, as Workfront cannot do better.
async fn read_outcome(endpoint: Endpoint, response: Response) -> Result<(), ClientError> {
    let status = response.status().as_u16();
    let body = read_body(endpoint, response, MAX_ERROR_BODY).await?;
    match serde_json::from_slice::<serde_json::Value>(&body) {
        Ok(value) if reports_failure(&value) => {
            Err(ClientError::Provider { endpoint, status, message: provider_message(status, &body) })
        }
        _ => Ok(()),
    }
}
