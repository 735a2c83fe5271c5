//! An in-memory Document Webhooks provider for the tests: an axum server on 127.0.0.1 that
//! follows the protocol and docbridge's contract, with switches that each break one behaviour.
// Each test module uses a different part of this module (some only with their feature); and the handlers return a refusal as
// the response itself, which is large but only ever built on a test server's error path.
#![allow(dead_code, clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use bytes::Bytes;
use docbridge_client::{Auth, RemoteConfig};
use docbridge_protocol::{RangeRequest, content_disposition, parse_count, parse_range, validate_name};
use futures::TryStreamExt;
use serde_json::{Value, json};

/// A 16×16 PNG served as every thumbnail.
pub const ICON_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52, 0x00, 0x00, 0x00,
    0x10, 0x00, 0x00, 0x00, 0x10, 0x08, 0x02, 0x00, 0x00, 0x00, 0x90, 0x91, 0x68, 0x36, 0x00, 0x00, 0x00, 0x24, 0x49,
    0x44, 0x41, 0x54, 0x78, 0xda, 0x63, 0xf8, 0xb0, 0x40, 0x01, 0x8e, 0x14, 0x12, 0x0e, 0xc0, 0x11, 0x2e, 0x71, 0x86,
    0x41, 0xa8, 0x81, 0x18, 0x45, 0xc8, 0xe2, 0x83, 0x51, 0xc3, 0x68, 0x3c, 0x0c, 0x0a, 0x0d, 0x00, 0xfc, 0xc1, 0x78,
    0x10, 0x75, 0xd4, 0xe1, 0xe6, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

pub const API_KEY: &str = "test-api-key";
pub const USERNAME: &str = "alice@example.com";
pub const TOKEN: &str = "test-bearer-token";

/// Which credentials the provider checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckedAuth {
    ApiKey,
    Bearer,
    None,
}

/// Each switch breaks one behaviour.
#[derive(Debug, Clone, Default)]
pub struct Broken {
    pub size_as_string: bool,
    pub omit_read_only: bool,
    pub epoch_dates: bool,
    pub extra_field: bool,
    pub relative_view_link: bool,
    pub ok_for_unknown_id: bool,
    pub bad_request_for_malformed_id: bool,
    pub plain_text_errors: bool,
    pub server_error_for_missing_params: bool,
    pub accept_any_credentials: bool,
    pub lose_upload_bytes: bool,
    pub ignore_range: bool,
    pub no_etag: bool,
    pub accept_bad_names: bool,
    pub duplicate_folders: bool,
    pub service_info_needs_auth: bool,
    pub search_finds_nothing: bool,
    pub thumbnail_not_image: bool,
    pub rename_is_noop: bool,
    pub delete_is_noop: bool,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub auth: CheckedAuth,
    /// Serve `/serviceInfo` (and so declare every endpoint); without it, 404.
    pub service_info: bool,
    pub broken: Broken,
}

impl Default for Options {
    fn default() -> Self {
        Options { auth: CheckedAuth::ApiKey, service_info: true, broken: Broken::default() }
    }
}

/// A request as the provider saw it, for the client tests.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: Method,
    pub endpoint: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
}

#[derive(Debug, Clone)]
struct Item {
    id: String,
    parent: String,
    title: String,
    folder: bool,
    bytes: Bytes,
    /// Reserved by uploadInit, listed once its bytes arrived (C13).
    committed: bool,
    version: u64,
    document_id: Option<String>,
}

#[derive(Default)]
struct Store {
    items: HashMap<String, Item>,
    next_id: u64,
}

struct App {
    options: Options,
    origin: String,
    store: Mutex<Store>,
    seen: Mutex<Vec<Seen>>,
}

pub struct Provider {
    pub origin: String,
    app: Arc<App>,
}

impl Provider {
    /// Binds 127.0.0.1:0 first, so the server is reachable as soon as this returns.
    pub async fn start(options: Options) -> Provider {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind the test provider");
        let origin = format!("http://{}", listener.local_addr().expect("local address"));
        let app = Arc::new(App { options, origin: origin.clone(), store: Mutex::default(), seen: Mutex::default() });
        let router = Router::new()
            .route("/api/{endpoint}", any(dispatch))
            .route("/links/view/{id}", get(view_link))
            .route("/links/download/{id}", get(download_link))
            .with_state(Arc::clone(&app));
        tokio::spawn(async move { axum::serve(listener, router).await.expect("serve the test provider") });
        Provider { origin, app }
    }

    pub fn base_url(&self) -> String {
        format!("{}/api", self.origin)
    }

    /// A remote with the credentials this provider accepts.
    pub fn remote(&self) -> RemoteConfig {
        let auth = match self.app.options.auth {
            CheckedAuth::ApiKey => Auth::ApiKey { api_key: API_KEY.into(), username: USERNAME.into() },
            CheckedAuth::Bearer => Auth::Bearer { token: TOKEN.into() },
            CheckedAuth::None => Auth::None,
        };
        RemoteConfig::new("test", self.base_url(), auth)
    }

    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.app.seen).clone()
    }

    /// The stored bytes of an item.
    pub fn bytes_of(&self, id: &str) -> Option<Bytes> {
        lock(&self.app.store).items.get(id).map(|item| item.bytes.clone())
    }

    /// Adds a committed file directly, bypassing the API.
    pub fn add_file(&self, parent: &str, title: &str, bytes: impl Into<Bytes>) -> String {
        self.add(parent, title, false, bytes.into())
    }

    pub fn add_folder(&self, parent: &str, title: &str) -> String {
        self.add(parent, title, true, Bytes::new())
    }

    fn add(&self, parent: &str, title: &str, folder: bool, bytes: Bytes) -> String {
        let mut store = lock(&self.app.store);
        let id = new_id(&mut store);
        let item = Item {
            id: id.clone(),
            parent: parent.into(),
            title: title.into(),
            folder,
            bytes,
            committed: true,
            version: 1,
            document_id: None,
        };
        store.items.insert(id.clone(), item);
        id
    }

    /// How many items the store holds (committed or not), to check clean-up.
    pub fn item_count(&self) -> usize {
        lock(&self.app.store).items.len()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn new_id(store: &mut Store) -> String {
    store.next_id += 1;
    format!("item{:04}", store.next_id)
}

type Params = HashMap<String, String>;

fn error(app: &App, status: StatusCode, message: &str) -> Response {
    if app.options.broken.plain_text_errors {
        return (status, message.to_owned()).into_response();
    }
    (status, axum::Json(json!({"status": "error", "error": message}))).into_response()
}

fn failure(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(json!({"status": "failure", "error": message}))).into_response()
}

fn success() -> Response {
    axum::Json(json!({"status": "success"})).into_response()
}

async fn dispatch(
    State(app): State<Arc<App>>,
    Path(endpoint): Path<String>,
    method: Method,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let query_pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    lock(&app.seen).push(Seen {
        method: method.clone(),
        endpoint: endpoint.clone(),
        query: query_pairs.clone(),
        headers: headers.clone(),
    });
    let mut params: Params = query_pairs.into_iter().collect();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    let mut body = Some(body);
    if is_form && endpoint != "upload" {
        let bytes = axum::body::to_bytes(body.take().unwrap_or_default(), 1 << 20).await.unwrap_or_default();
        params.extend(url::form_urlencoded::parse(&bytes).into_owned());
    }
    let needs_auth = endpoint != "serviceInfo" || app.options.broken.service_info_needs_auth;
    if needs_auth && !authorised(&app, &headers) {
        return error(&app, StatusCode::FORBIDDEN, "missing or invalid credentials");
    }
    let body = body.unwrap_or_default();
    match (endpoint.as_str(), method) {
        ("serviceInfo", Method::GET) if app.options.service_info => service_info(),
        ("metadata", Method::GET) => metadata(&app, &params),
        ("files", Method::GET) => files(&app, &params),
        ("search", Method::GET) => search(&app, &params),
        ("download", Method::GET) => download(&app, &params, &headers),
        ("thumbnail", Method::GET) => thumbnail(&app, &params, &headers),
        ("uploadInit", Method::POST) => upload_init(&app, &params),
        ("upload", Method::PUT) => upload(&app, &params, body).await,
        ("createFolder", Method::POST) => create_folder(&app, &params),
        ("delete", Method::PUT | Method::DELETE) => delete(&app, &params),
        ("rename", Method::PUT | Method::POST) => rename(&app, &params),
        ("customAction", Method::GET | Method::POST) => custom_action(&app, &params),
        _ => error(&app, StatusCode::NOT_FOUND, &format!("no endpoint {endpoint}")),
    }
}

fn authorised(app: &App, headers: &HeaderMap) -> bool {
    if app.options.broken.accept_any_credentials {
        return true;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    match app.options.auth {
        CheckedAuth::None => true,
        CheckedAuth::ApiKey => header("apikey") == API_KEY && !header("username").is_empty(),
        CheckedAuth::Bearer => header("authorization") == format!("Bearer {TOKEN}"),
    }
}

fn service_info() -> Response {
    axum::Json(json!({
        "webhookVersion": "1.2",
        "version": "0.0.1-test",
        "publisher": "docbridge tests",
        "availableEndpoints": docbridge_protocol::Endpoint::ALL.iter().map(|e| e.as_str()).collect::<Vec<_>>(),
        "customActions": [{"name": "archive", "displayName": "Archive"}],
    }))
    .into_response()
}

fn mime_type(title: &str) -> &'static str {
    match title.rsplit_once('.').map(|(_, ext)| ext.to_ascii_lowercase()).as_deref() {
        Some("txt") => "text/plain",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn item_json(app: &App, item: &Item) -> Value {
    let broken = &app.options.broken;
    let date = if broken.epoch_dates { json!(1_401_990_000_000u64) } else { json!("2014-06-05T17:39:45.251Z") };
    let view_link = if broken.relative_view_link {
        format!("/links/view/{}", item.id)
    } else {
        format!("{}/links/view/{}", app.origin, item.id.replace('/', "root"))
    };
    let size = item.bytes.len();
    let mut value = json!({
        "id": item.id,
        "title": item.title,
        "kind": if item.folder { "folder" } else { "file" },
        "dateModified": date,
        "size": if broken.size_as_string { json!(size.to_string()) } else { json!(size) },
        "mimeType": if item.folder { "" } else { mime_type(&item.title) },
        "viewLink": view_link,
        "downloadLink": if item.folder { String::new() } else { format!("{}/links/download/{}", app.origin, item.id) },
        "readOnly": false,
    });
    if let Some(object) = value.as_object_mut() {
        if broken.omit_read_only {
            object.remove("readOnly");
        }
        if broken.extra_field {
            object.insert("location".into(), json!(format!("/srv/files/{}", item.title)));
        }
    }
    value
}

fn root_item() -> Item {
    Item {
        id: "/".into(),
        parent: String::new(),
        title: String::new(),
        folder: true,
        bytes: Bytes::new(),
        committed: true,
        version: 1,
        document_id: None,
    }
}

fn missing_param(app: &App, name: &str) -> Response {
    let status = if app.options.broken.server_error_for_missing_params {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::BAD_REQUEST
    };
    error(app, status, &format!("{name}: is required"))
}

/// Looks an item up; the root is `/`. An unknown ID is the answer to give.
fn find(app: &App, id: &str) -> Result<Item, Response> {
    if id == "/" {
        return Ok(root_item());
    }
    let well_formed = id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !well_formed && app.options.broken.bad_request_for_malformed_id {
        return Err(error(app, StatusCode::BAD_REQUEST, "id: is not a valid item ID"));
    }
    let store = lock(&app.store);
    match store.items.get(id) {
        Some(item) => Ok(item.clone()),
        None if app.options.broken.ok_for_unknown_id => Err(axum::Json(json!({})).into_response()),
        None => Err(error(app, StatusCode::NOT_FOUND, &format!("no item with ID {id}"))),
    }
}

fn metadata(app: &App, params: &Params) -> Response {
    let Some(id) = params.get("id") else { return missing_param(app, "id") };
    match find(app, id) {
        Ok(item) => axum::Json(item_json(app, &item)).into_response(),
        Err(response) => response,
    }
}

fn sorted_children(app: &App, parent: &str) -> Vec<Item> {
    let store = lock(&app.store);
    let mut children: Vec<Item> =
        store.items.values().filter(|item| item.parent == parent && item.committed).cloned().collect();
    children
        .sort_by(|a, b| (!a.folder, a.title.to_lowercase(), &a.id).cmp(&(!b.folder, b.title.to_lowercase(), &b.id)));
    children
}

fn counts(app: &App, params: &Params) -> Result<(Option<u64>, u64), Response> {
    let max = parse_count("max", params.get("max").map(String::as_str));
    let offset = parse_count("offset", params.get("offset").map(String::as_str));
    match (max, offset) {
        (Ok(max), Ok(offset)) => Ok((max, offset.unwrap_or(0))),
        (Err(err), _) | (_, Err(err)) => Err(error(app, StatusCode::BAD_REQUEST, &err.to_string())),
    }
}

fn page(app: &App, items: Vec<Item>, max: Option<u64>, offset: u64) -> Response {
    let skip = usize::try_from(offset).unwrap_or(usize::MAX);
    let take = max.map_or(usize::MAX, |m| usize::try_from(m).unwrap_or(usize::MAX));
    let values: Vec<Value> = items.iter().skip(skip).take(take).map(|item| item_json(app, item)).collect();
    axum::Json(Value::Array(values)).into_response()
}

fn files(app: &App, params: &Params) -> Response {
    let parent = params.get("parentId").filter(|p| !p.is_empty()).cloned().unwrap_or_else(|| "/".into());
    let (max, offset) = match counts(app, params) {
        Ok(counts) => counts,
        Err(response) => return response,
    };
    match find(app, &parent) {
        Ok(item) if !item.folder => error(app, StatusCode::BAD_REQUEST, "parentId: is a file"),
        Ok(_) => page(app, sorted_children(app, &parent), max, offset),
        Err(response) => response,
    }
}

fn search(app: &App, params: &Params) -> Response {
    let Some(query) = params.get("query").filter(|q| !q.trim().is_empty()) else { return missing_param(app, "query") };
    let (max, offset) = match counts(app, params) {
        Ok(counts) => counts,
        Err(response) => return response,
    };
    if app.options.broken.search_finds_nothing {
        return axum::Json(json!([])).into_response();
    }
    let terms: Vec<String> = query.split_whitespace().map(str::to_lowercase).collect();
    let store = lock(&app.store);
    let mut found: Vec<Item> = store
        .items
        .values()
        .filter(|item| item.committed)
        .filter(|item| {
            let title = item.title.to_lowercase();
            let content = if mime_type(&item.title).starts_with("text/") {
                String::from_utf8_lossy(&item.bytes).to_lowercase()
            } else {
                String::new()
            };
            terms.iter().all(|term| title.contains(term) || content.contains(term))
        })
        .cloned()
        .collect();
    drop(store);
    found.sort_by(|a, b| (a.title.to_lowercase(), &a.id).cmp(&(b.title.to_lowercase(), &b.id)));
    page(app, found, Some(max.unwrap_or(100)), offset)
}

fn etag(item: &Item) -> String {
    format!("\"v{}-{}\"", item.version, item.id)
}

const LAST_MODIFIED: &str = "Thu, 05 Jun 2014 17:39:45 GMT";

fn not_modified(app: &App, item: &Item, headers: &HeaderMap) -> bool {
    if app.options.broken.no_etag {
        return false;
    }
    let header = |name| headers.get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
    header(header::IF_NONE_MATCH) == Some(etag(item).as_str())
        || header(header::IF_MODIFIED_SINCE) == Some(LAST_MODIFIED)
}

fn download(app: &App, params: &Params, headers: &HeaderMap) -> Response {
    let Some(id) = params.get("id") else { return missing_param(app, "id") };
    let item = match find(app, id) {
        Ok(item) if item.folder => return error(app, StatusCode::BAD_REQUEST, "id: is a folder"),
        Ok(item) => item,
        Err(response) => return response,
    };
    if not_modified(app, &item, headers) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let total = item.bytes.len() as u64;
    let mut response_headers = vec![
        (header::CONTENT_TYPE, mime_type(&item.title).to_owned()),
        (header::CONTENT_DISPOSITION, content_disposition("attachment", &item.title)),
        (header::ACCEPT_RANGES, "bytes".to_owned()),
        (header::LAST_MODIFIED, LAST_MODIFIED.to_owned()),
    ];
    if !app.options.broken.no_etag {
        response_headers.push((header::ETAG, etag(&item)));
    }
    let range_header =
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()).filter(|_| !app.options.broken.ignore_range);
    let (status, body) = match parse_range(range_header, total) {
        RangeRequest::Full => (StatusCode::OK, item.bytes.clone()),
        RangeRequest::Partial(range) => {
            response_headers.push((header::CONTENT_RANGE, range.content_range(total)));
            let (start, end) = (range.start as usize, range.end_inclusive as usize);
            (StatusCode::PARTIAL_CONTENT, item.bytes.slice(start..=end))
        }
        RangeRequest::Unsatisfiable => {
            response_headers.push((header::CONTENT_RANGE, format!("bytes */{total}")));
            return with_headers(StatusCode::RANGE_NOT_SATISFIABLE.into_response(), response_headers);
        }
    };
    with_headers((status, body).into_response(), response_headers)
}

/// Sets headers on a response, replacing the defaults the body brought (`Content-Type`).
fn with_headers(mut response: Response, headers: Vec<(header::HeaderName, String)>) -> Response {
    for (name, value) in headers {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

fn thumbnail(app: &App, params: &Params, headers: &HeaderMap) -> Response {
    let Some(id) = params.get("id") else { return missing_param(app, "id") };
    let item = match find(app, id) {
        Ok(item) => item,
        Err(response) => return response,
    };
    if app.options.broken.thumbnail_not_image {
        return (StatusCode::OK, "not an image").into_response();
    }
    if not_modified(app, &item, headers) {
        return StatusCode::NOT_MODIFIED.into_response();
    }
    let mut response_headers = vec![(header::CONTENT_TYPE, "image/png".to_owned())];
    if !app.options.broken.no_etag {
        response_headers.push((header::ETAG, etag(&item)));
    }
    with_headers(Bytes::from_static(ICON_PNG).into_response(), response_headers)
}

fn check_name(app: &App, field: &'static str, name: &str) -> Result<(), Response> {
    if app.options.broken.accept_bad_names {
        return Ok(());
    }
    validate_name(field, name).map_err(|err| error(app, StatusCode::BAD_REQUEST, &err.to_string()))
}

fn require_folder(app: &App, id: &str) -> Result<(), Response> {
    match find(app, id) {
        Ok(item) if item.folder => Ok(()),
        Ok(_) => Err(error(app, StatusCode::BAD_REQUEST, "parentId: is a file")),
        Err(response) => Err(response),
    }
}

fn name_taken(store: &Store, parent: &str, name: &str, except: &str) -> bool {
    store.items.values().any(|item| item.parent == parent && item.title == name && item.id != except)
}

fn upload_init(app: &App, params: &Params) -> Response {
    let parent = params.get("parentId").filter(|p| !p.is_empty()).cloned().unwrap_or_else(|| "/".into());
    let Some(filename) = params.get("filename") else { return missing_param(app, "filename") };
    if let Err(response) = check_name(app, "filename", filename).and_then(|()| require_folder(app, &parent)) {
        return response;
    }
    let mut store = lock(&app.store);
    // C13's default policy: a taken name gets a free one.
    let mut title = filename.clone();
    let mut counter = 1;
    while name_taken(&store, &parent, &title, "") {
        title = match filename.rsplit_once('.') {
            Some((stem, ext)) => format!("{stem} ({counter}).{ext}"),
            None => format!("{filename} ({counter})"),
        };
        counter += 1;
    }
    let id = new_id(&mut store);
    let item = Item {
        id: id.clone(),
        parent,
        title,
        folder: false,
        bytes: Bytes::new(),
        committed: false,
        version: 0,
        document_id: params.get("documentId").cloned(),
    };
    store.items.insert(id, item.clone());
    drop(store);
    axum::Json(item_json(app, &item)).into_response()
}

async fn upload(app: &App, params: &Params, body: Body) -> Response {
    let Some(id) = params.get("id").cloned() else { return missing_param(app, "id") };
    if let Err(response) = find(app, &id) {
        return response;
    }
    let chunks: Result<Vec<Bytes>, _> = body.into_data_stream().try_collect().await;
    let Ok(chunks) = chunks else {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"result": "fail", "error": "the body broke off"})))
            .into_response();
    };
    let mut bytes = chunks.concat();
    if app.options.broken.lose_upload_bytes {
        bytes.truncate(bytes.len() / 2);
    }
    let mut store = lock(&app.store);
    if let Some(item) = store.items.get_mut(&id) {
        item.bytes = bytes.into();
        item.committed = true;
        item.version += 1;
    }
    axum::Json(json!({"result": "success"})).into_response()
}

fn create_folder(app: &App, params: &Params) -> Response {
    let Some(parent) = params.get("parentId").cloned() else { return missing_param(app, "parentId") };
    let Some(name) = params.get("name").cloned() else { return missing_param(app, "name") };
    if let Err(response) = check_name(app, "name", &name).and_then(|()| require_folder(app, &parent)) {
        return response;
    }
    let mut store = lock(&app.store);
    if name_taken(&store, &parent, &name, "") && !app.options.broken.duplicate_folders {
        drop(store);
        return error(app, StatusCode::CONFLICT, &format!("{name} already exists"));
    }
    let id = new_id(&mut store);
    let item = Item {
        id: id.clone(),
        parent,
        title: name,
        folder: true,
        bytes: Bytes::new(),
        committed: true,
        version: 1,
        document_id: None,
    };
    store.items.insert(id, item.clone());
    drop(store);
    axum::Json(item_json(app, &item)).into_response()
}

fn delete(app: &App, params: &Params) -> Response {
    let Some(id) = ["documentId", "folderId", "id"].iter().find_map(|key| params.get(*key)).cloned() else {
        return failure(StatusCode::BAD_REQUEST, "documentId or folderId: is required");
    };
    if id == "/" {
        return failure(StatusCode::BAD_REQUEST, "the root folder cannot be deleted");
    }
    let mut store = lock(&app.store);
    if !store.items.contains_key(&id) {
        return failure(StatusCode::NOT_FOUND, "File not found");
    }
    if !app.options.broken.delete_is_noop {
        let mut doomed = vec![id];
        while let Some(next) = doomed.pop() {
            store.items.remove(&next);
            doomed.extend(store.items.values().filter(|item| item.parent == next).map(|item| item.id.clone()));
        }
    }
    success()
}

fn rename(app: &App, params: &Params) -> Response {
    let (Some(id), Some(name)) = (params.get("id"), params.get("name")) else {
        return failure(StatusCode::BAD_REQUEST, "id and name: are required");
    };
    if let Err(err) = validate_name("name", name) {
        return failure(StatusCode::BAD_REQUEST, &err.to_string());
    }
    let mut store = lock(&app.store);
    let Some(parent) = store.items.get(id).map(|item| item.parent.clone()) else {
        return failure(StatusCode::NOT_FOUND, "File not found");
    };
    if name_taken(&store, &parent, name, id) {
        return failure(StatusCode::CONFLICT, "an item with that name already exists");
    }
    if !app.options.broken.rename_is_noop
        && let Some(item) = store.items.get_mut(id)
    {
        item.title = name.clone();
    }
    success()
}

fn custom_action(app: &App, params: &Params) -> Response {
    if params.get("name").map(String::as_str) != Some("archive") {
        return failure(StatusCode::BAD_REQUEST, "unknown action");
    }
    let mut store = lock(&app.store);
    let target = match params.get("id") {
        Some(id) => store.items.get(id).map(|item| item.id.clone()),
        None => {
            let document = params.get("documentId");
            store.items.values().find(|item| item.document_id.as_ref() == document).map(|item| item.id.clone())
        }
    };
    let Some(target) = target else { return failure(StatusCode::NOT_FOUND, "no such document") };
    let archive = match store.items.values().find(|item| item.parent == "/" && item.title == "Archive") {
        Some(folder) => folder.id.clone(),
        None => {
            let id = new_id(&mut store);
            let folder = Item {
                id: id.clone(),
                parent: "/".into(),
                title: "Archive".into(),
                folder: true,
                bytes: Bytes::new(),
                committed: true,
                version: 1,
                document_id: None,
            };
            store.items.insert(id.clone(), folder);
            id
        }
    };
    if let Some(item) = store.items.get_mut(&target) {
        item.parent = archive;
    }
    success()
}

async fn view_link(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    let title = lock(&app.store).items.get(&id).map(|item| item.title.clone()).unwrap_or_else(|| "root".into());
    axum::response::Html(format!("<!doctype html><title>{title}</title><p>{title}</p>")).into_response()
}

async fn download_link(State(app): State<Arc<App>>, Path(id): Path<String>) -> Response {
    match lock(&app.store).items.get(&id) {
        Some(item) => item.bytes.clone().into_response(),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}
