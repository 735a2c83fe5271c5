//! The twelve Document Webhooks endpoints under `/webhooks/{slug}/` (C1, C9–C21): HTTP in,
//! `docbridge_documents` calls, the contract's shapes out.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use docbridge_documents::{ActionOutcome, ActionTarget, Caller, ItemView, Library};
use docbridge_protocol::{
    CustomActionInfo, Endpoint, ItemMetadata, RangeRequest, ServiceInfo, StatusOutcome, UploadOutcome, WEBHOOK_VERSION,
    content_disposition, parse_range,
};
use docbridge_registry::{AccessSnapshot, AuditEntry, AuthType, Integration};
use futures::{StreamExt, TryStreamExt};

use crate::error::{ApiError, Vocabulary};
use crate::limits::{FailureKey, client_address};
use crate::links::signed_url;
use crate::params::{Params, header_text, parse_id, username_header};
use crate::state::AppState;

fn vocabulary(endpoint: Endpoint) -> Vocabulary {
    match endpoint {
        Endpoint::Upload => Vocabulary::Upload,
        Endpoint::Delete | Endpoint::Rename | Endpoint::CustomAction => Vocabulary::Failure,
        _ => Vocabulary::Error,
    }
}

/// The methods each endpoint answers: the documented one first, plus the lenient extras the
/// contract accepts.
fn allowed_methods(endpoint: Endpoint) -> &'static [Method] {
    match endpoint {
        Endpoint::ServiceInfo
        | Endpoint::Metadata
        | Endpoint::Files
        | Endpoint::Search
        | Endpoint::Download
        | Endpoint::Thumbnail => &[Method::GET, Method::HEAD],
        Endpoint::UploadInit | Endpoint::CreateFolder => &[Method::POST],
        Endpoint::Upload => &[Method::PUT, Method::POST],
        Endpoint::Delete => &[Method::PUT, Method::DELETE, Method::POST],
        Endpoint::Rename => &[Method::PUT, Method::POST],
        Endpoint::CustomAction => &[Method::GET, Method::POST],
    }
}

/// The endpoints that change documents: audited (C25), and run to their end once started.
fn changes_documents(endpoint: Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::UploadInit
            | Endpoint::Upload
            | Endpoint::CreateFolder
            | Endpoint::Delete
            | Endpoint::Rename
            | Endpoint::CustomAction
    )
}

/// Entry point of every provider call.
pub async fn dispatch(
    State(state): State<AppState>,
    Path((slug, name)): Path<(String, String)>,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    extensions: axum::http::Extensions,
    body: Body,
) -> Response {
    let Ok(endpoint) = name.parse::<Endpoint>() else {
        return ApiError::not_found(format!("no endpoint named {name:?}")).into_response();
    };
    let vocabulary = vocabulary(endpoint);
    if !allowed_methods(endpoint).contains(&method) {
        let allow = allowed_methods(endpoint).iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
        let mut response =
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{endpoint} does not accept {method}"))
                .speaking(vocabulary)
                .into_response();
        if let Ok(value) = HeaderValue::from_str(&allow) {
            response.headers_mut().insert(header::ALLOW, value);
        }
        return response;
    }
    let address = client_address(&state, &extensions, &headers);
    run_call(Call { state, endpoint, method, headers, uri, address, acting_for: None }, slug, body).await
}

/// A provider call made for `username` without their credentials, by `via` (the admin page's
/// document browser, which shows an administrator what that user would see). Past
/// authentication it is [`dispatch`]'s path: the user's role and folder from their grant (or
/// the default role), the same checks, the same answer, and changes in the audit trail, whose
/// actor is `VIA as USERNAME`.
pub(crate) async fn call_as(
    state: AppState,
    slug: String,
    (via, username): (&'static str, String),
    endpoint: Endpoint,
    method: Method,
    uri: Uri,
    body: Body,
) -> Response {
    let call = Call {
        state,
        endpoint,
        method,
        headers: HeaderMap::new(),
        uri,
        address: None,
        acting_for: Some((via, username)),
    };
    run_call(call, slug, body).await
}

/// Runs a call within the request timeout; a change runs to its end in a task of its own.
async fn run_call(call: Call, slug: String, body: Body) -> Response {
    let (endpoint, vocabulary) = (call.endpoint, vocabulary(call.endpoint));
    let timeout = call.state.settings.request_timeout;
    let work = async move { call.run(&slug, body).await };
    let too_long = |_| Err(ApiError::new(StatusCode::REQUEST_TIMEOUT, "the request took too long"));
    let result = if changes_documents(endpoint) {
        // A change runs to its end in a task of its own, even when its caller stops waiting
        // (the timeout below, or a client that hangs up, which drops this handler): cancelled
        // between its storage step and its index step, it would leave the two disagreeing, and
        // the item's ID could be lost.
        // In the request's span, so that its log lines keep the request ID.
        let task = tokio::spawn(tracing::Instrument::instrument(work, tracing::Span::current()));
        let finished =
            async { task.await.unwrap_or_else(|e| Err(ApiError::internal(format!("a {endpoint} task failed: {e}")))) };
        // An upload takes as long as its bytes take; everything else must answer in time.
        if endpoint == Endpoint::Upload {
            finished.await
        } else {
            tokio::time::timeout(timeout, finished).await.unwrap_or_else(too_long)
        }
    } else {
        tokio::time::timeout(timeout, work).await.unwrap_or_else(too_long)
    };
    match result {
        Ok(response) => response,
        Err(error) => error.speaking(vocabulary).into_response(),
    }
}

struct Call {
    state: AppState,
    endpoint: Endpoint,
    method: Method,
    headers: HeaderMap,
    uri: Uri,
    address: Option<std::net::IpAddr>,
    /// Set by [`call_as`]: who acts (`admin-page`) and for which user, instead of the
    /// request's credentials.
    acting_for: Option<(&'static str, String)>,
}

impl Call {
    async fn run(&self, slug: &str, body: Body) -> Result<Response, ApiError> {
        // One generation check, then the integration, its keys and the caller's grant come
        // from the process's cache when nothing changed since they were read (registry
        // `cache.rs`): a disable or a revocation by any process applies to the next request.
        let snapshot = self.state.registry.access_snapshot().await?;
        let integration =
            snapshot.integration(slug).await?.ok_or_else(|| ApiError::not_found(format!("no integration {slug:?}")))?;
        if self.endpoint == Endpoint::ServiceInfo {
            return Ok(Json(self.service_info(&integration)).into_response());
        }
        let caller = match &self.acting_for {
            Some((_, username)) => {
                refuse_disabled(&integration)?;
                caller_for(&snapshot, &integration, username.clone()).await?
            }
            None => self.authenticated(&snapshot, &integration).await?,
        };
        let mut params = Params::from_query(self.uri.query())?;
        if self.endpoint != Endpoint::Upload && matches!(self.method, Method::POST | Method::PUT | Method::DELETE) {
            params.add_form_body(&self.headers, body).await?;
            return self.audited(&integration, &caller, &params, Body::empty()).await;
        }
        self.audited(&integration, &caller, &params, body).await
    }

    /// The caller the request's credentials name; wrong ones count against the client.
    async fn authenticated(
        &self,
        snapshot: &AccessSnapshot<'_>,
        integration: &Integration,
    ) -> Result<Caller, ApiError> {
        let limits = &self.state.limits;
        let key = self.address.map(|client| FailureKey::Integration { slug: integration.slug.clone(), client });
        if let Some(key) = &key {
            limits.check(key, limits.auth_allowance())?;
        }
        match authenticate(&self.state, snapshot, integration, &self.headers).await {
            Ok(caller) => Ok(caller),
            Err(Refusal { error, wrong_credential }) => {
                // Only a wrong credential counts: an expired token (how Workfront learns to
                // refresh) or a user without a grant is no guess.
                if wrong_credential && let Some(key) = &key {
                    limits.record_failure(key, limits.auth_allowance(), &error.message);
                }
                Err(error)
            }
        }
    }

    /// Runs the endpoint; changes are written to the audit trail with their outcome (C25).
    async fn audited(
        &self,
        integration: &Integration,
        caller: &Caller,
        params: &Params,
        body: Body,
    ) -> Result<Response, ApiError> {
        let library = self
            .state
            .library(integration)
            .map_err(|e| ApiError::internal(format!("opening the library of {:?}: {e}", integration.slug)))?;
        let result = self.endpoint(integration, &library, caller, params, body).await;
        if changes_documents(self.endpoint) {
            let (outcome, item) = match &result {
                Ok((response, item)) => (response.status().as_u16().to_string(), item.clone()),
                Err(e) => (format!("{} {}", e.status.as_u16(), e.message), None),
            };
            let item = item.or_else(|| {
                ["id", "documentId", "folderId", "parentId"].iter().find_map(|p| params.get(p)).map(str::to_owned)
            });
            let actor = match &self.acting_for {
                Some((via, username)) => format!("{via} as {username}"),
                None => caller.username.clone(),
            };
            let entry = AuditEntry {
                at: chrono::Utc::now(),
                actor,
                integration: integration.slug.clone(),
                operation: self.endpoint.as_str().to_owned(),
                item_id: item,
                result: outcome,
                detail: params.get("name").or(params.get("filename")).map(str::to_owned),
            };
            if let Err(e) = self.state.registry.record_audit(&entry).await {
                tracing::error!(error = %e, "could not write the audit trail");
            }
        }
        result.map(|(response, _)| response)
    }

    fn service_info(&self, integration: &Integration) -> ServiceInfo {
        ServiceInfo {
            webhook_version: WEBHOOK_VERSION.to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            publisher: self.state.settings.publisher.clone(),
            available_endpoints: Endpoint::ALL.iter().map(|e| e.as_str().to_owned()).collect(),
            custom_actions: integration
                .custom_actions
                .iter()
                .map(|a| CustomActionInfo { name: a.name.clone(), display_name: a.display_name.clone() })
                .collect(),
        }
    }

    /// One endpoint's work; returns the response and, for changes, the item it concerned.
    async fn endpoint(
        &self,
        integration: &Integration,
        library: &Library,
        caller: &Caller,
        params: &Params,
        body: Body,
    ) -> Result<(Response, Option<String>), ApiError> {
        let meta = |view: ItemView| to_wire(&self.state, integration, caller, view);
        match self.endpoint {
            Endpoint::ServiceInfo => Ok((Json(self.service_info(integration)).into_response(), None)),
            Endpoint::Metadata => {
                let view = library.metadata(caller, &params.id("id")?).await?;
                Ok((Json(meta(view)).into_response(), None))
            }
            Endpoint::Files => {
                let (max, offset) = (params.count("max")?, params.count("offset")?);
                let views = library.list(caller, &params.parent()?, max, offset).await?;
                Ok((Json(views.into_iter().map(meta).collect::<Vec<_>>()).into_response(), None))
            }
            Endpoint::Search => {
                let (max, offset) = (params.count("max")?, params.count("offset")?);
                let query = params.required("query")?;
                let parent = params.parent()?;
                let views = library.search(caller, query, Some(&parent), max, offset).await?;
                Ok((Json(views.into_iter().map(meta).collect::<Vec<_>>()).into_response(), None))
            }
            Endpoint::Download => Ok((self.download(library, caller, &params.id("id")?).await?, None)),
            Endpoint::Thumbnail => {
                let width = docbridge_documents::thumbnail::clamp_width(params.count("size")?);
                let thumb = library.thumbnail(caller, &params.id("id")?, width).await?;
                if if_none_match(&self.headers, &thumb.etag) {
                    return Ok((not_modified(&thumb.etag), None));
                }
                let headers = [
                    (header::CONTENT_TYPE, thumb.content_type.to_owned()),
                    (header::ETAG, thumb.etag),
                    (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
                ];
                Ok(((headers, thumb.bytes).into_response(), None))
            }
            Endpoint::UploadInit => {
                let view = library
                    .upload_init(
                        caller,
                        &params.parent()?,
                        params.required("filename")?,
                        params.get("documentId"),
                        params.get("documentVersionId"),
                    )
                    .await?;
                let id = view.record.id.to_string();
                Ok((Json(meta(view)).into_response(), Some(id)))
            }
            Endpoint::Upload => {
                let id = params.id("id")?;
                let _slot = self.state.limits.upload_slot(integration.id)?;
                let too_slow = Arc::new(AtomicBool::new(false));
                let stream = self.upload_stream(library, body, &too_slow)?;
                match library.upload(caller, &id, stream).await {
                    Ok(_) => Ok((Json(UploadOutcome::success()).into_response(), Some(id.to_string()))),
                    // Nothing was changed, and the slot is free again as this returns.
                    Err(_) if too_slow.load(Ordering::Relaxed) => Err(ApiError::new(
                        StatusCode::REQUEST_TIMEOUT,
                        "the upload's bytes arrived too slowly; nothing was changed",
                    )),
                    Err(e) => Err(e.into()),
                }
            }
            Endpoint::CreateFolder => {
                let view = library.create_folder(caller, &params.parent()?, params.required("name")?).await?;
                let id = view.record.id.to_string();
                Ok((Json(meta(view)).into_response(), Some(id)))
            }
            Endpoint::Delete => {
                let id = delete_target(params)?;
                library.delete(caller, &id).await?;
                Ok((Json(StatusOutcome::success()).into_response(), Some(id.to_string())))
            }
            Endpoint::Rename => {
                let id = params.id("id")?;
                library.rename(caller, &id, params.required("name")?).await?;
                Ok((Json(StatusOutcome::success()).into_response(), Some(id.to_string())))
            }
            Endpoint::CustomAction => {
                let name = params.required("name")?;
                let own_id = params.get("id").filter(|v| !v.is_empty()).map(|_| params.id("id")).transpose()?;
                let target = match &own_id {
                    Some(id) => ActionTarget::Id(id),
                    None => ActionTarget::Workfront {
                        document_id: params.required("documentId")?,
                        version_id: params.get("documentVersionId").filter(|v| !v.is_empty()),
                    },
                };
                let outcome = match library.custom_action(caller, integration, name, target).await? {
                    ActionOutcome::Success => StatusOutcome::success(),
                    ActionOutcome::Failure(message) => StatusOutcome::failure(message),
                };
                Ok((Json(outcome).into_response(), own_id.map(|id| id.to_string())))
            }
        }
    }

    /// `/download` (C11): streamed, with validators, conditional requests and single ranges.
    async fn download(
        &self,
        library: &Library,
        caller: &Caller,
        id: &docbridge_protocol::ItemId,
    ) -> Result<Response, ApiError> {
        let download = library.download_target(caller, id).await?;
        file_response(&self.headers, download, "attachment").await
    }

    /// The bytes of an upload: the raw body, or the first file part of a multipart body (C14).
    /// Bytes slower than `[http] min_upload_bytes_per_sec` end it, setting `too_slow`.
    fn upload_stream(
        &self,
        library: &Library,
        body: Body,
        too_slow: &Arc<AtomicBool>,
    ) -> Result<docbridge_storage::ByteStream, ApiError> {
        let limit = library.settings().max_upload_bytes;
        let declared = header_text(&self.headers, "content-length").and_then(|v| v.parse::<u64>().ok());
        let boundary = header_text(&self.headers, "content-type").and_then(|ct| multer::parse_boundary(ct).ok());
        // A declared length over the limit is refused before a byte is read. A multipart body
        // also carries its boundaries and part headers, which do not count against the file
        // (the storage layer counts the file's own bytes); they get a generous allowance here.
        let framing_allowance = if boundary.is_some() { MULTIPART_FRAMING_ALLOWANCE } else { 0 };
        if declared.is_some_and(|len| len > limit.saturating_add(framing_allowance)) {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the upload exceeds the limit of {limit} bytes"),
            ));
        }
        let raw = body.into_data_stream().map_err(io::Error::other);
        let raw: docbridge_storage::ByteStream = match self.state.limits.min_upload_rate() {
            Some(rate) => Box::pin(crate::limits::TooSlow::new(raw, rate, too_slow.clone())),
            None => Box::pin(raw),
        };
        let Some(boundary) = boundary else {
            return Ok(raw);
        };
        let multipart = multer::Multipart::new(raw, boundary);
        let stream = futures::stream::try_unfold(
            (multipart, None::<multer::Field<'static>>),
            |(mut multipart, mut field)| async move {
                if field.is_none() {
                    loop {
                        match multipart.next_field().await.map_err(io::Error::other)? {
                            Some(f) if f.file_name().is_some() => {
                                field = Some(f);
                                break;
                            }
                            Some(_) => continue,
                            None => return Err(io::Error::other("the multipart body has no file part")),
                        }
                    }
                }
                let Some(current) = field.as_mut() else { return Ok(None) };
                match current.chunk().await.map_err(io::Error::other)? {
                    Some(bytes) => Ok(Some((bytes, (multipart, field)))),
                    None => Ok(None),
                }
            },
        );
        Ok(Box::pin(stream))
    }
}

/// Bytes of boundaries, part headers and small non-file fields a multipart upload may carry
/// beyond the file itself before its declared length alone is refused.
const MULTIPART_FRAMING_ALLOWANCE: u64 = 64 * 1024;

/// The item of a `/delete`: `documentId`, `folderId` or `id` (C16); two that disagree are a 400.
fn delete_target(params: &Params) -> Result<docbridge_protocol::ItemId, ApiError> {
    let given: Vec<(&'static str, &str)> = ["documentId", "folderId", "id"]
        .into_iter()
        .filter_map(|p| params.get(p).filter(|v| !v.is_empty()).map(|v| (p, v)))
        .collect();
    match given.as_slice() {
        [] => Err(ApiError::bad_request("documentId: is required (or folderId, or id)")),
        [(name, first), rest @ ..] => {
            if rest.iter().any(|(_, v)| v != first) {
                return Err(ApiError::bad_request("documentId, folderId and id name different items"));
            }
            parse_id(name, first)
        }
    }
}

/// Why a caller was refused, and whether it presented a credential that matches nothing: the
/// only refusal that counts toward the client's lockout.
pub struct Refusal {
    pub error: ApiError,
    pub wrong_credential: bool,
}

impl From<ApiError> for Refusal {
    fn from(error: ApiError) -> Self {
        Refusal { error, wrong_credential: false }
    }
}

impl From<docbridge_registry::RegistryError> for Refusal {
    fn from(error: docbridge_registry::RegistryError) -> Self {
        ApiError::from(error).into()
    }
}

/// Checks the caller's credentials for an integration (C3, C4) and works out their role (C5).
pub async fn authenticate(
    state: &AppState,
    snapshot: &AccessSnapshot<'_>,
    integration: &Integration,
    headers: &HeaderMap,
) -> Result<Caller, Refusal> {
    let wrong = |error: docbridge_auth::AuthError| Refusal {
        wrong_credential: matches!(error, docbridge_auth::AuthError::WrongCredential(_)),
        error: error.into(),
    };
    refuse_disabled(integration)?;
    let username = match integration.auth_type {
        AuthType::ApiKey => {
            let hashes = snapshot.api_key_hashes(integration.id).await?;
            docbridge_auth::check_api_key(&hashes, header_text(headers, "apikey"), username_header(headers)?)
                .map_err(wrong)?
                .username
        }
        AuthType::OAuth2 => {
            // Every `Authorization` value is looked at: Workfront may send an administrator's
            // own (e.g. Basic) beside the Bearer one. Any failure is a 403, which is what makes
            // Workfront refresh its token (protocol §13.7).
            let authorization = headers.get_all(header::AUTHORIZATION).iter().filter_map(|v| v.to_str().ok());
            let token = docbridge_auth::bearer_token(authorization);
            docbridge_auth::authenticate_bearer(&state.registry, integration, token).await.map_err(wrong)?.username
        }
    };
    Ok(caller_for(snapshot, integration, username).await?)
}

fn refuse_disabled(integration: &Integration) -> Result<(), ApiError> {
    if integration.enabled {
        Ok(())
    } else {
        Err(ApiError::forbidden(format!("the integration {:?} is disabled", integration.slug)))
    }
}

/// The role of a user in an integration (C5): their grant's role and folder when they have
/// one there; otherwise (an unknown user, or a user granted only elsewhere) the integration's
/// default role, where `deny` is a 403. Checked against the registry generation on every
/// request, so a grant, a revocation or a changed default takes effect at once, in every
/// process.
pub async fn caller_for(
    snapshot: &AccessSnapshot<'_>,
    integration: &Integration,
    username: String,
) -> Result<Caller, ApiError> {
    let items_seen = snapshot.items_seen(integration.id);
    if let Some(access) = snapshot.access(integration.id, &username).await? {
        return Ok(Caller { username, role: access.role, folder: access.folder, items_seen });
    }
    let role = integration
        .default_role
        .role()
        .ok_or_else(|| ApiError::forbidden(format!("{username} has no access to this integration")))?;
    Ok(Caller { username, role, folder: None, items_seen })
}

/// The wire form of an item, with signed links for the caller (C7, C8).
pub fn to_wire(state: &AppState, integration: &Integration, caller: &Caller, view: ItemView) -> ItemMetadata {
    let is_file = view.record.kind == docbridge_protocol::ItemKind::File;
    let id = view.record.id.to_string();
    ItemMetadata {
        view_link: signed_url(state, &integration.slug, &id, docbridge_auth::LinkAction::View, &caller.username),
        download_link: if is_file {
            signed_url(state, &integration.slug, &id, docbridge_auth::LinkAction::Download, &caller.username)
        } else {
            String::new()
        },
        id: view.record.id,
        title: view.record.name,
        kind: view.record.kind,
        date_modified: view.record.modified,
        size: if is_file { view.record.size } else { 0 },
        mime_type: view.mime_type,
        read_only: view.read_only,
    }
}

pub(crate) fn if_none_match(headers: &HeaderMap, etag: &str) -> bool {
    header_text(headers, "if-none-match")
        .is_some_and(|v| v.trim() == "*" || v.split(',').any(|t| t.trim().trim_start_matches("W/") == etag))
}

fn not_modified(etag: &str) -> Response {
    let mut response = StatusCode::NOT_MODIFIED.into_response();
    if let Ok(value) = HeaderValue::from_str(etag) {
        response.headers_mut().insert(header::ETAG, value);
    }
    response
}

/// `Last-Modified` for a file date. HTTP dates start at the epoch and have four-digit years
/// (RFC 9110 §5.6.7); a file dated outside that (by hand, or a broken clock) gets the nearest
/// date HTTP can say rather than a panic.
fn http_date(modified: chrono::DateTime<chrono::Utc>) -> String {
    let latest = chrono::DateTime::<chrono::Utc>::from_timestamp(253_402_300_799, 0).unwrap_or_default(); // 9999-12-31T23:59:59Z
    let clamped = modified.clamp(chrono::DateTime::UNIX_EPOCH, latest);
    httpdate::fmt_http_date(std::time::SystemTime::from(clamped))
}

/// A file's bytes with `Content-Type`, `Content-Length`, `Content-Disposition`, `ETag`,
/// `Last-Modified` and `Accept-Ranges`; 304 for a matching conditional request; 206 or 416 for
/// a single range.
pub(crate) async fn file_response(
    headers: &HeaderMap,
    download: docbridge_documents::Download,
    disposition: &str,
) -> Result<Response, ApiError> {
    let view = &download.view;
    let record = &view.record;
    let etag = format!("\"{}-{}\"", record.id, record.version());
    let last_modified = http_date(record.modified);
    let modified_secs = record.modified.timestamp();
    let unmodified_since = header_text(headers, "if-modified-since")
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .is_some_and(|since| chrono::DateTime::<chrono::Utc>::from(since).timestamp() >= modified_secs);
    let has_if_none_match = headers.contains_key(header::IF_NONE_MATCH);
    if if_none_match(headers, &etag) || (!has_if_none_match && unmodified_since) {
        return Ok(not_modified(&etag));
    }
    // If-Range: a range applies only while the representation is the one the client has.
    let range_applies = header_text(headers, "if-range").is_none_or(|v| v.trim() == etag || v.trim() == last_modified);
    let range =
        if range_applies { parse_range(header_text(headers, "range"), record.size) } else { RangeRequest::Full };
    let mut response = Response::builder()
        .header(
            header::CONTENT_TYPE,
            if view.mime_type.is_empty() { "application/octet-stream" } else { view.mime_type.as_str() },
        )
        .header(header::CONTENT_DISPOSITION, content_disposition(disposition, &record.name))
        .header(header::ETAG, &etag)
        .header(header::LAST_MODIFIED, &last_modified)
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::CACHE_CONTROL, "private, no-cache");
    let (size, path) = (record.size, record.path.clone());
    let (status, length, stream) = match range {
        RangeRequest::Unsatisfiable => {
            let body =
                serde_json::to_vec(&docbridge_protocol::ErrorBody::new("the requested range is not satisfiable"))
                    .unwrap_or_default();
            return Ok(Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{}", record.size))
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(body))
                .unwrap_or_else(|_| StatusCode::RANGE_NOT_SATISFIABLE.into_response()));
        }
        RangeRequest::Partial(r) => {
            response = response.header(header::CONTENT_RANGE, r.content_range(size));
            (StatusCode::PARTIAL_CONTENT, r.len(), download.bytes(Some(r.start..r.end_inclusive + 1)).await?)
        }
        RangeRequest::Full => (StatusCode::OK, size, download.bytes(None).await?),
    };
    // A small answer is read whole first: hyper then sends head and body in one write, instead
    // of flushing the head alone while the first chunk is read on the blocking pool. (The
    // storage adapter reads such a file in one chunk anyway.)
    const WHOLE_BODY_LIMIT: u64 = 256 * 1024;
    let body = if length <= WHOLE_BODY_LIMIT {
        let mut stream = stream;
        let mut chunks = Vec::new();
        while let Some(chunk) =
            stream.try_next().await.map_err(|e| ApiError::internal(format!("reading {}: {e}", path)))?
        {
            chunks.push(chunk);
        }
        if chunks.iter().map(|c| c.len() as u64).sum::<u64>() != length {
            return Err(ApiError::internal(format!("{} changed while it was read", path)));
        }
        // One chunk (the usual case) is sent as it is, without a copy.
        match <[_; 1]>::try_from(chunks) {
            Ok([chunk]) => Body::from(chunk),
            Err(chunks) => Body::from(chunks.concat()),
        }
    } else {
        Body::from_stream(stream.map(|chunk| chunk.map_err(io::Error::other)))
    };
    response
        .status(status)
        .header(header::CONTENT_LENGTH, length)
        .body(body)
        .map_err(|e| ApiError::internal(format!("building a download response: {e}")))
}
