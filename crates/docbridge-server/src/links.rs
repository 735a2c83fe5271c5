//! Signed `viewLink` and `downloadLink` URLs and the pages behind them (C8). A browser opens
//! them without credentials; the signature (item, action, user, expiry) is the credential.

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use docbridge_auth::{LinkAction, SignedLink};
use docbridge_documents::{Caller, Download, Library};
use docbridge_protocol::{ItemId, ItemKind};
use serde::Deserialize;

use crate::html::{self, Csp};
use crate::route_group::RouteGroup;
use crate::state::AppState;
use crate::webhooks::{caller_for, file_response};

/// The pages' routes and their description; both answer [`LinkFailures`] as well.
pub(crate) fn split() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let routes = utoipa_axum::router::OpenApiRouter::new()
        .routes(utoipa_axum::routes!(view))
        .routes(utoipa_axum::routes!(download));
    let failures = <LinkFailures as utoipa::IntoResponses>::responses();
    let group = RouteGroup { tag: "links", id_prefix: "link", security: None };
    group.split(routes, |_, operation| operation.responses.responses.extend(failures.clone()))
}

/// What a link that cannot be served answers (for the OpenAPI document; never built).
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
enum LinkFailures {
    #[response(status = 403, description = "A tampered or expired link", content_type = "text/html")]
    Refused(String),
    #[response(status = 404, description = "No such item", content_type = "text/html")]
    Missing(String),
}

/// Builds a signed, absolute link for a user.
pub fn signed_url(state: &AppState, slug: &str, item_id: &str, action: LinkAction, user: &str) -> String {
    let link = state.signer.sign(slug, item_id, action, user, chrono::Utc::now() + state.settings.link_ttl);
    link_url(&state.settings.public_url, &link)
}

/// The URL of a signed link. Written straight into one string: a listing signs two links per
/// item, and building the query with `serde_urlencoded` (byte by byte) was the largest single
/// cost of `/files`.
fn link_url(public_url: &str, link: &SignedLink) -> String {
    use std::fmt::Write;
    let mut url = String::with_capacity(
        public_url.len() + 96 + link.integration.len() + link.item_id.len() + 3 * link.user.len(),
    );
    let _ = write!(
        url,
        "{public_url}/links/{}?i={}&id={}&u={}&e={}&s={}",
        link.action.as_str(),
        query_value(&link.integration),
        query_value(&link.item_id),
        query_value(&link.user),
        link.expires,
        query_value(&link.signature),
    );
    url
}

/// Characters a query value keeps as they are (RFC 3986's unreserved set); everything else is
/// percent-encoded. IDs and signatures are base64url, so only usernames and slugs ever change.
const QUERY_VALUE: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

fn query_value(value: &str) -> percent_encoding::PercentEncode<'_> {
    percent_encoding::utf8_percent_encode(value, QUERY_VALUE)
}

/// A signed link's query. Every field is optional and kept as text: a missing or mangled value
/// is a refused link (a 403 page that says so), never a plain-text "malformed request" from the
/// extractor. The OpenAPI document says what a valid link carries.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// The integration's slug
    #[serde(default)]
    #[param(required = true)]
    i: String,
    /// The item's ID
    #[serde(default)]
    #[param(required = true)]
    id: String,
    /// The user the link was issued to
    #[serde(default)]
    #[param(required = true)]
    u: String,
    /// Expiry, seconds since the Unix epoch
    #[serde(default)]
    #[param(required = true, value_type = u64)]
    e: String,
    /// HMAC-SHA256 signature over item, action, user and expiry
    #[serde(default)]
    #[param(required = true)]
    s: String,
}

/// What `/links/download` takes besides the link.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DownloadOptions {
    /// 1 serves the bytes inline, for the view page's previews
    #[serde(default)]
    inline: Option<String>,
}

/// A page that says what went wrong, with the given status.
fn error_page(status: StatusCode, message: &str) -> Response {
    html::message_page(status, status.canonical_reason().unwrap_or("Error"), message, Csp::Link)
}

/// `/links/view` of a folder: its children, each with its own signed view link.
#[derive(Template)]
#[template(path = "links/folder.html")]
struct FolderView<'a> {
    name: &'a str,
    children: Vec<Child>,
}

struct Child {
    folder: bool,
    name: String,
    link: String,
}

/// `/links/view` of a file: what it is, a download button and a preview where one is possible.
#[derive(Template)]
#[template(path = "links/file.html")]
struct FileView<'a> {
    name: &'a str,
    mime: &'a str,
    size: u64,
    modified: String,
    download: String,
    inline: String,
    preview: Preview,
}

/// How a file is previewed in its view page.
enum Preview {
    Image,
    Pdf,
    Video,
    Audio,
    Text(String),
    None,
}

/// A query string that is not a link at all (a field given twice, bytes that are not text).
fn malformed_link() -> Response {
    error_page(StatusCode::FORBIDDEN, "this link is malformed; ask for a new link")
}

/// Checks a link and resolves what it points at, for the user it was issued to.
async fn open_link(
    state: &AppState,
    query: &LinkQuery,
    action: LinkAction,
) -> Result<(Library2, Caller, Download), Response> {
    let link = SignedLink {
        integration: query.i.clone(),
        item_id: query.id.clone(),
        action,
        user: query.u.clone(),
        expires: query.e.parse().unwrap_or(i64::MIN),
        signature: query.s.clone(),
    };
    if let Err(e) = state.signer.verify(&link, chrono::Utc::now()) {
        return Err(error_page(StatusCode::FORBIDDEN, &e.to_string()));
    }
    let snapshot = match state.registry.access_snapshot().await {
        Ok(snapshot) => snapshot,
        Err(e) => {
            tracing::error!(error = %e, "resolving a link");
            return Err(error_page(StatusCode::INTERNAL_SERVER_ERROR, "internal error"));
        }
    };
    let integration = match snapshot.integration(&query.i).await {
        Ok(Some(integration)) if integration.enabled => integration,
        Ok(_) => return Err(error_page(StatusCode::FORBIDDEN, "this integration is not available")),
        Err(e) => {
            tracing::error!(error = %e, "resolving a link");
            return Err(error_page(StatusCode::INTERNAL_SERVER_ERROR, "internal error"));
        }
    };
    let caller =
        caller_for(&snapshot, &integration, query.u.clone()).await.map_err(|e| error_page(e.status, &e.message))?;
    let library = state.library(&integration).map_err(|e| {
        tracing::error!(error = %e, "opening a library for a link");
        error_page(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
    })?;
    let id = ItemId::parse("id", &query.id).map_err(|_| error_page(StatusCode::NOT_FOUND, "no such document"))?;
    let item = library.open_item(&caller, &id).await.map_err(|e| {
        let e = crate::error::ApiError::from(e);
        error_page(e.status, &e.message)
    })?;
    Ok((Library2 { library, slug: integration.slug }, caller, item))
}

/// A library with the slug its links are signed for.
struct Library2 {
    library: std::sync::Arc<Library>,
    slug: String,
}

/// `GET /links/download`: the bytes, as an attachment (or inline for the view page's previews).
#[utoipa::path(
    get,
    path = "/links/download",
    summary = "A file's bytes as an attachment",
    params(LinkQuery, DownloadOptions),
    responses((status = 200, description = "The file", content_type = "application/octet-stream", body = Vec<u8>))
)]
pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LinkQuery>, QueryRejection>,
    options: Result<Query<DownloadOptions>, QueryRejection>,
) -> Response {
    let (Ok(Query(query)), Ok(Query(options))) = (query, options) else { return malformed_link() };
    let (_, _, item) = match open_link(&state, &query, LinkAction::Download).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if item.view.record.kind == ItemKind::Folder {
        return error_page(StatusCode::BAD_REQUEST, "a folder cannot be downloaded");
    }
    let disposition = if options.inline.as_deref() == Some("1") { "inline" } else { "attachment" };
    match file_response(&headers, item, disposition).await {
        Ok(mut response) => {
            response.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
            // Inline content is sandboxed so that an uploaded HTML or SVG file cannot run script
            // in docbridge's origin.
            response.headers_mut().insert(
                "content-security-policy",
                HeaderValue::from_static(
                    "sandbox; default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'",
                ),
            );
            response
        }
        Err(e) => error_page(e.status, &e.message),
    }
}

/// `GET /links/view`: an HTML page that previews a file or lists a folder, with a download
/// button.
#[utoipa::path(
    get,
    path = "/links/view",
    summary = "A page that previews a file or lists a folder",
    params(LinkQuery),
    responses((status = 200, description = "The page", content_type = "text/html", body = String))
)]
pub async fn view(State(state): State<AppState>, query: Result<Query<LinkQuery>, QueryRejection>) -> Response {
    let Ok(Query(query)) = query else { return malformed_link() };
    let (lib, caller, item) = match open_link(&state, &query, LinkAction::View).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let view = item.view.clone();
    let title = view.record.name.clone();
    let body = if view.record.kind == ItemKind::Folder {
        let children = match lib.library.list(&caller, &view.record.id, Some(1000), None).await {
            Ok(children) => children,
            Err(e) => {
                let e = crate::error::ApiError::from(e);
                return error_page(e.status, &e.message);
            }
        };
        let children = children
            .iter()
            .map(|child| Child {
                folder: child.record.kind == ItemKind::Folder,
                name: child.record.name.clone(),
                link: signed_url(&state, &lib.slug, child.record.id.as_str(), LinkAction::View, &caller.username),
            })
            .collect();
        html::fragment(&FolderView { name: &title, children })
    } else {
        let download = signed_url(&state, &lib.slug, view.record.id.as_str(), LinkAction::Download, &caller.username);
        let mime = view.mime_type.as_str();
        let preview = if mime.starts_with("image/") {
            Preview::Image
        } else if mime == "application/pdf" {
            Preview::Pdf
        } else if mime.starts_with("video/") {
            Preview::Video
        } else if mime.starts_with("audio/") {
            Preview::Audio
        } else if docbridge_documents::mime::is_text_like(mime) {
            Preview::Text(text_preview(item).await)
        } else {
            Preview::None
        };
        html::fragment(&FileView {
            name: &title,
            mime,
            size: view.record.size,
            modified: docbridge_protocol::format_date(&view.record.modified),
            inline: format!("{download}&inline=1"),
            download,
            preview,
        })
    };
    html::page(StatusCode::OK, &html::Page { title: &title, body }, Csp::Link)
}

/// The first 64 KiB of a text file, for the preview.
async fn text_preview(item: Download) -> String {
    use futures::TryStreamExt;
    const LIMIT: u64 = 64 * 1024;
    let size = item.view.record.size;
    let Ok(mut stream) = item.bytes(Some(0..LIMIT)).await else { return String::new() };
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = stream.try_next().await {
        bytes.extend_from_slice(&chunk);
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if size > LIMIT {
        text.push_str("\n…");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whatever a username or slug holds comes back unchanged from the link's query, the way
    /// the link handlers read it.
    #[test]
    fn link_urls_carry_every_value_unchanged() {
        for user in ["ann@example.com", "a+b c&d=e%f", "zoë/日本?#", "~-._"] {
            let link = SignedLink {
                integration: "my-slug".into(),
                item_id: "AbC-_09xyzAbC-_09xyz12".into(),
                action: LinkAction::Download,
                user: user.into(),
                expires: 1_795_467_721,
                signature: "EA4tyQtycf6qI27K4N3bfppdQIFnRq-4O04po5Qam_g".into(),
            };
            let url = link_url("https://docs.example.com:8443/base", &link);
            let (base, query) = url.split_once('?').unwrap();
            assert_eq!(base, "https://docs.example.com:8443/base/links/download");
            assert!(!query.contains(' ') && query.matches('&').count() == 4, "{query}");
            let parsed: LinkQuery = serde_urlencoded::from_str(query).unwrap();
            assert_eq!(
                (parsed.i.as_str(), parsed.id.as_str(), parsed.u.as_str(), parsed.s.as_str()),
                (link.integration.as_str(), link.item_id.as_str(), user, link.signature.as_str())
            );
            assert_eq!(parsed.e, "1795467721");
        }
    }
}
