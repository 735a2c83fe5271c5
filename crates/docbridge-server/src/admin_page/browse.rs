//! The document browser (`/admin/integrations/{slug}/browse`): an administrator picks a user
//! and sees an integration's documents as Workfront would show them to that user, before anyone
//! opens Workfront. Folders, search, metadata, thumbnails, downloads, uploads, new folders and
//! deletes all go through [`webhooks::call_as`], the provider endpoints' own path past
//! authentication: the same role and folder from the user's grant, the same refusals (a reader's
//! upload is a 403 here too, whatever the page shows), the same answers. Changes are in the
//! audit trail as `admin-page as USER`.

use askama::Template;
use axum::body::Body;
use axum::extract::{FromRequest, Path, Query, Request, State};
use axum::http::{Method, StatusCode, Uri};
use axum::response::Response;
use docbridge_protocol::{Endpoint, ErrorBody, ItemKind, ItemMetadata};
use docbridge_registry::Integration;
use serde::Deserialize;

use super::views::{Choice, Nav, Notice};
use super::{Admin, Answer, Form, PageError, SlugForm, admin_page, integration_named, notice_for};
use crate::html::{self, fragment};
use crate::openapi::SlugParam;
use crate::state::AppState;
use crate::webhooks;

/// The largest JSON answer read back from an endpoint (a listing of a few thousand items).
const MAX_ANSWER_BYTES: usize = 32 << 20;
/// Items one listing shows, as Workfront asks for a page of them.
const PAGE_ITEMS: &str = "200";

/// Where the browser is: whose view, which folder, which search, which item's details.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct Place {
    /// The Workfront username to browse as
    #[serde(default)]
    #[param(value_type = Option<String>)]
    user: String,
    /// The folder's ID; empty: the user's top folder
    #[serde(default)]
    #[param(value_type = Option<String>)]
    folder: String,
    /// A search in that folder
    #[serde(default)]
    #[param(value_type = Option<String>)]
    q: String,
    /// An item whose details to show
    #[serde(default)]
    #[param(value_type = Option<String>)]
    item: String,
    /// A message code after a change
    notice: Option<String>,
}

/// One row of the listing.
struct Row {
    item: ItemMetadata,
    folder: bool,
}

#[derive(Template)]
#[template(path = "admin/browse.html")]
struct BrowsePage<'a> {
    integration: &'a Integration,
    csrf: &'a str,
    users: Vec<Choice>,
    user: &'a str,
    /// The user's role here, as a word; empty before a user is chosen.
    role: String,
    /// Whether the page offers uploads, new folders and deletes (the server decides anyway).
    writer: bool,
    folder: &'a str,
    folder_title: String,
    query: &'a str,
    rows: Vec<Row>,
    detail: Option<ItemMetadata>,
}

impl BrowsePage<'_> {
    fn size(&self, row: &Row) -> String {
        if row.folder { String::new() } else { human_size(row.item.size) }
    }

    fn thumbnail_src(&self, row: &Row) -> String {
        let query =
            serde_urlencoded::to_string([("user", self.user), ("id", row.item.id.as_str())]).unwrap_or_default();
        format!("/admin/integrations/{}/browse/thumbnail?{query}", self.integration.slug)
    }

    fn link(&self, folder: &str, item: &str) -> String {
        let query =
            serde_urlencoded::to_string([("user", self.user), ("folder", folder), ("item", item)]).unwrap_or_default();
        format!("/admin/integrations/{}/browse?{query}", self.integration.slug)
    }
}

fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The provider endpoints of one integration, called as one user.
struct AsUser<'a> {
    state: &'a AppState,
    integration: &'a Integration,
    user: &'a str,
}

impl AsUser<'_> {
    /// An endpoint's answer to `query` and `body`.
    async fn call(&self, endpoint: Endpoint, method: Method, query: &[(&str, &str)], body: Body) -> Answer {
        let query = serde_urlencoded::to_string(query).map_err(|e| PageError::Internal(e.to_string()))?;
        let uri: Uri = format!("/webhooks/{}/{endpoint}?{query}", self.integration.slug)
            .parse()
            .map_err(|e: axum::http::uri::InvalidUri| PageError::Internal(e.to_string()))?;
        let (slug, user) = (self.integration.slug.clone(), self.user.to_owned());
        Ok(webhooks::call_as(self.state.clone(), slug, (super::ACTOR, user), endpoint, method, uri, body).await)
    }

    /// An endpoint's JSON answer; a refusal becomes the page's error with the endpoint's
    /// message, the words Workfront's user would get.
    async fn json<T: serde::de::DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        method: Method,
        query: &[(&str, &str)],
        body: Body,
    ) -> Result<T, PageError> {
        let response = self.call(endpoint, method, query, body).await?;
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), MAX_ANSWER_BYTES)
            .await
            .map_err(|e| PageError::Internal(format!("reading the {endpoint} answer: {e}")))?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| v.get("message").or(v.get("error")).and_then(|m| m.as_str()).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
            return Err(PageError::Input(status, format!("{endpoint} as {}: {message}", self.user)));
        }
        serde_json::from_slice(&bytes).map_err(|e| PageError::Internal(format!("the {endpoint} answer: {e}")))
    }
}

/// The document browser: the integration's documents as a user sees them through Workfront
#[utoipa::path(get, path = "/admin/integrations/{slug}/browse", params(SlugParam, Place))]
pub(super) async fn browse(
    State(state): State<AppState>,
    admin: Admin,
    Path(slug): Path<String>,
    Query(place): Query<Place>,
) -> Answer {
    let integration = integration_named(&state, &slug).await?;
    let notice = notice_for(place.notice.as_deref());
    show(&state, &admin, &integration, &place, StatusCode::OK, notice).await
}

/// The browser at `place`; a refused call shows the page with its message instead of the rows.
async fn show(
    state: &AppState,
    admin: &Admin,
    integration: &Integration,
    place: &Place,
    status: StatusCode,
    notice: Option<Notice>,
) -> Answer {
    let mut users: Vec<Choice> = state
        .registry
        .grants(None, Some(&integration.slug))
        .await?
        .into_iter()
        .map(|g| Choice {
            selected: g.username == place.user,
            label: format!("{} ({})", g.username, g.role.as_str()),
            value: g.username,
        })
        .collect();
    users.dedup_by(|a, b| a.value == b.value);
    let mut view = BrowsePage {
        integration,
        csrf: &admin.csrf,
        users,
        user: place.user.trim(),
        role: String::new(),
        writer: false,
        folder: &place.folder,
        folder_title: String::new(),
        query: &place.q,
        rows: Vec::new(),
        detail: None,
    };
    let (status, notice) = match fill(state, integration, place, &mut view).await {
        Ok(()) => (status, notice),
        Err(PageError::Input(code, message)) => (code, Some(Notice::error(message))),
        Err(other) => return Err(other),
    };
    let title = format!("Documents of {}", integration.name);
    Ok(admin_page(status, admin, &title, Nav::Integrations, notice.as_ref(), fragment(&view)))
}

async fn fill(
    state: &AppState,
    integration: &Integration,
    place: &Place,
    view: &mut BrowsePage<'_>,
) -> Result<(), PageError> {
    let user = view.user;
    if user.is_empty() {
        return Ok(());
    }
    let snapshot = state.registry.access_snapshot().await?;
    let caller = webhooks::caller_for(&snapshot, integration, user.to_owned())
        .await
        .map_err(|e| PageError::Input(e.status, format!("{user}: {}", e.message)))?;
    view.role = caller.role.as_str().to_owned();
    view.writer = caller.can_write();
    let who = AsUser { state, integration, user };
    if !place.folder.is_empty() {
        let folder: ItemMetadata =
            who.json(Endpoint::Metadata, Method::GET, &[("id", &place.folder)], Body::empty()).await?;
        view.folder_title = folder.title;
    }
    if !place.item.is_empty() {
        view.detail = Some(who.json(Endpoint::Metadata, Method::GET, &[("id", &place.item)], Body::empty()).await?);
    }
    let items: Vec<ItemMetadata> = if place.q.trim().is_empty() {
        let query = [("parentId", place.folder.as_str()), ("max", PAGE_ITEMS)];
        who.json(Endpoint::Files, Method::GET, &query, Body::empty()).await?
    } else {
        let query = [("query", place.q.trim()), ("parentId", place.folder.as_str()), ("max", PAGE_ITEMS)];
        who.json(Endpoint::Search, Method::GET, &query, Body::empty()).await?
    };
    view.rows = items.into_iter().map(|item| Row { folder: item.kind == ItemKind::Folder, item }).collect();
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ThumbnailOf {
    /// The Workfront username
    user: String,
    /// The item's ID
    id: String,
}

/// An item's thumbnail as the user would get it (`/thumbnail`), for the listing's images.
#[utoipa::path(get, path = "/admin/integrations/{slug}/browse/thumbnail", params(SlugParam, ThumbnailOf),
    summary = "An item's thumbnail as the user gets it from /thumbnail",
    responses(
        (status = 200, description = "The image", content_type = "image/png", body = Vec<u8>),
        (status = 403, description = "The user has no access", content_type = "application/json", body = ErrorBody)
    ))]
pub(super) async fn browse_thumbnail(
    State(state): State<AppState>,
    _admin: Admin,
    Path(slug): Path<String>,
    Query(of): Query<ThumbnailOf>,
) -> Result<Response, PageError> {
    let integration = integration_named(&state, &slug).await?;
    let query = [("id", of.id.as_str()), ("size", "64")];
    let who = AsUser { state: &state, integration: &integration, user: &of.user };
    who.call(Endpoint::Thumbnail, Method::GET, &query, Body::empty()).await
}

/// After a change: back to the folder with `notice`, or the browser with the refusal.
async fn changed(
    state: &AppState,
    admin: &Admin,
    integration: &Integration,
    place: Place,
    outcome: Result<(), PageError>,
    notice: &str,
) -> Answer {
    match outcome {
        Ok(()) => {
            let query = serde_urlencoded::to_string([
                ("user", place.user.as_str()),
                ("folder", &place.folder),
                ("notice", notice),
            ])
            .unwrap_or_default();
            Ok(html::redirect(&format!("/admin/integrations/{}/browse?{query}", integration.slug)))
        }
        Err(PageError::Input(status, message)) => {
            show(state, admin, integration, &place, status, Some(Notice::error(message))).await
        }
        Err(other) => Err(other),
    }
}

fn place_of(form: &Form) -> Place {
    Place { user: form.trimmed("user").to_owned(), folder: form.trimmed("folder").to_owned(), ..Place::default() }
}

/// A form's change made as the user: one endpoint, its query from the form's fields
/// (`(parameter, field)`), then back to the folder with `notice`.
async fn form_change(
    change: SlugForm,
    (endpoint, method): (Endpoint, Method),
    fields: &[(&str, &str)],
    notice: &str,
) -> Answer {
    let SlugForm { state, slug, admin, form } = change;
    let integration = integration_named(&state, &slug).await?;
    let place = place_of(&form);
    let query: Vec<(&str, &str)> = fields.iter().map(|(parameter, field)| (*parameter, form.trimmed(field))).collect();
    let who = AsUser { state: &state, integration: &integration, user: &place.user };
    let outcome = who.json(endpoint, method, &query, Body::empty()).await.and_then(refused_outcome);
    changed(&state, &admin, &integration, place, outcome, notice).await
}

/// Creates a folder as the user (user, folder, name)
#[utoipa::path(post, path = "/admin/integrations/{slug}/browse/folder", params(SlugParam))]
pub(super) async fn browse_folder(change: SlugForm) -> Answer {
    let fields = [("parentId", "folder"), ("name", "name")];
    form_change(change, (Endpoint::CreateFolder, Method::POST), &fields, "folder-created").await
}

/// Deletes an item as the user (user, folder, id)
#[utoipa::path(post, path = "/admin/integrations/{slug}/browse/delete", params(SlugParam))]
pub(super) async fn browse_delete(change: SlugForm) -> Answer {
    form_change(change, (Endpoint::Delete, Method::DELETE), &[("id", "id")], "item-deleted").await
}

/// `/delete` and `/upload` answer 200 with `{"result": "fail", ...}` for some refusals (C14);
/// other answers (an item's metadata) are a success.
fn refused_outcome(answer: serde_json::Value) -> Result<(), PageError> {
    match answer.get("result").and_then(|r| r.as_str()) {
        Some("fail") | Some("failure") => {
            let message = answer.get("message").and_then(|m| m.as_str()).unwrap_or("refused");
            Err(PageError::Input(StatusCode::CONFLICT, message.to_owned()))
        }
        _ => Ok(()),
    }
}

/// The upload form (for the OpenAPI document).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
struct UploadForm {
    /// The page's CSRF token.
    csrf: String,
    /// The Workfront username the upload is made as.
    user: String,
    /// The folder's ID; empty: the user's top folder.
    folder: String,
    /// The file; its name is the new item's.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
}

/// An upload form (`multipart/form-data`) posted by a logged-in administrator: its fields up to
/// the file, checked against the session's CSRF token, and the file's part, not yet read. The
/// page's form puts the file last, so the bytes stream on into `/upload` without being held here.
pub(super) struct AdminUpload {
    admin: Admin,
    fields: Form,
    file: Option<multer::Field<'static>>,
}

impl FromRequest<AppState> for AdminUpload {
    type Rejection = PageError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, PageError> {
        let (mut parts, body) = request.into_parts();
        let admin = <Admin as axum::extract::FromRequestParts<AppState>>::from_request_parts(&mut parts, state).await?;
        let boundary = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| multer::parse_boundary(v).ok())
            .ok_or_else(|| {
                PageError::Input(StatusCode::BAD_REQUEST, "an upload is a multipart/form-data form".into())
            })?;
        let mut multipart = multer::Multipart::new(body.into_data_stream(), boundary);
        let mut fields = Vec::new();
        let mut file = None;
        while let Some(field) = multipart.next_field().await.map_err(bad_form)? {
            if field.name() == Some("file") {
                file = Some(field);
                break;
            }
            let name = field.name().unwrap_or_default().to_owned();
            fields.push((name, field.text().await.map_err(bad_form)?));
        }
        let fields = Form(fields);
        if !admin.signer.check_csrf(&admin.session, fields.get("csrf")) {
            return Err(PageError::Stale);
        }
        Ok(AdminUpload { admin, fields, file })
    }
}

fn bad_form(e: multer::Error) -> PageError {
    PageError::Input(StatusCode::BAD_REQUEST, format!("the upload form: {e}"))
}

/// An upload as the user: `/uploadInit` in the folder, then `/upload` of the bytes, as
/// Workfront does it. The bytes stream from the form into the endpoint, within its limits.
#[utoipa::path(post, path = "/admin/integrations/{slug}/browse/upload", params(SlugParam),
    summary = "Uploads a file as the user",
    request_body(content = UploadForm, content_type = "multipart/form-data",
        description = "The fields in this order, the file last"))]
pub(super) async fn browse_upload(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    upload: AdminUpload,
) -> Answer {
    let AdminUpload { admin, fields, file } = upload;
    let integration = integration_named(&state, &slug).await?;
    let place = place_of(&fields);
    let who = AsUser { state: &state, integration: &integration, user: &place.user };
    let outcome = async {
        let file = file.filter(|f| f.file_name().is_some_and(|n| !n.trim().is_empty()));
        let Some(file) = file else {
            return Err(PageError::Input(StatusCode::BAD_REQUEST, "choose a file to upload".into()));
        };
        let filename = file.file_name().unwrap_or_default().trim().to_owned();
        let query = [("parentId", place.folder.as_str()), ("filename", filename.as_str())];
        let created: ItemMetadata = who.json(Endpoint::UploadInit, Method::POST, &query, Body::empty()).await?;
        let query = [("id", created.id.as_str())];
        let body = Body::from_stream(file);
        let answer: serde_json::Value = who.json(Endpoint::Upload, Method::PUT, &query, body).await?;
        refused_outcome(answer)
    }
    .await;
    changed(&state, &admin, &integration, place, outcome, "uploaded").await
}
