//! Signed `viewLink` and `downloadLink` URLs and the pages behind them (C8). A browser opens
//! them without credentials; the signature (item, action, user, expiry) is the credential.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use docbridge_auth::{LinkAction, SignedLink};
use docbridge_documents::{Caller, ItemView, Library};
use docbridge_protocol::{ItemId, ItemKind};
use serde::Deserialize;

use crate::state::AppState;
use crate::webhooks::{caller_for, file_response};

/// Builds a signed, absolute link for a user.
pub fn signed_url(state: &AppState, slug: &str, item_id: &str, action: LinkAction, user: &str) -> String {
    let link = state.signer.sign(slug, item_id, action, user, chrono::Utc::now() + state.settings.link_ttl);
    let query = serde_urlencoded::to_string([
        ("i", link.integration.as_str()),
        ("id", link.item_id.as_str()),
        ("u", link.user.as_str()),
        ("e", &link.expires.to_string()),
        ("s", link.signature.as_str()),
    ])
    .unwrap_or_default();
    format!("{}/links/{}?{query}", state.settings.public_url, action.as_str())
}

/// Every field is optional and kept as text: a missing or mangled value is a refused link (a
/// 403 page that says so), never a plain-text "malformed request" from the extractor.
#[derive(Debug, Deserialize)]
pub struct LinkQuery {
    #[serde(default)]
    i: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    u: String,
    #[serde(default)]
    e: String,
    #[serde(default)]
    s: String,
    /// `1` serves a download inline, for previews inside the view page.
    #[serde(default)]
    inline: Option<String>,
}

/// A page that says what went wrong, with the given status.
fn error_page(status: StatusCode, message: &str) -> Response {
    let body = page(
        "docbridge",
        &format!("<h1>{}</h1><p>{}</p>", status.canonical_reason().unwrap_or("Error"), escape(message)),
    );
    with_security_headers((status, Html(body)).into_response())
}

/// Adds the headers every HTML page of ours carries: no scripts, no framing, no referrer (the
/// page's own URL holds a signature).
pub fn with_security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = |headers: &mut HeaderMap, name: &'static str, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(
        headers,
        "content-security-policy",
        "default-src 'none'; img-src 'self'; media-src 'self'; frame-src 'self'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    );
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "x-frame-options", "DENY");
    set(headers, "cache-control", "no-store");
    response
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#39;")
}

pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{}</title>\
         <style>body{{font-family:system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}}\
         a.button{{display:inline-block;padding:.5rem 1rem;background:#0b5fff;color:#fff;border-radius:4px;text-decoration:none}}\
         img,iframe,video{{max-width:100%}}iframe{{width:100%;height:75vh;border:1px solid #ccc}}pre{{background:#f6f6f6;padding:1rem;overflow:auto;white-space:pre-wrap}}\
         ul{{line-height:1.8}}</style></head><body>{}</body></html>",
        escape(title),
        body
    )
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
) -> Result<(Library2, Caller, ItemView), Response> {
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
    let view = library.metadata(&caller, &id).await.map_err(|e| {
        let e = crate::error::ApiError::from(e);
        error_page(e.status, &e.message)
    })?;
    Ok((Library2 { library, slug: integration.slug }, caller, view))
}

/// A library with the slug its links are signed for.
struct Library2 {
    library: std::sync::Arc<Library>,
    slug: String,
}

/// `GET /links/download`: the bytes, as an attachment (or inline for the view page's previews).
pub async fn download(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<LinkQuery>, QueryRejection>,
) -> Response {
    let Ok(Query(query)) = query else { return malformed_link() };
    let (lib, _, view) = match open_link(&state, &query, LinkAction::Download).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    if view.record.kind == ItemKind::Folder {
        return error_page(StatusCode::BAD_REQUEST, "a folder cannot be downloaded");
    }
    let disposition = if query.inline.as_deref() == Some("1") { "inline" } else { "attachment" };
    match file_response(&lib.library, &headers, &view, disposition).await {
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
pub async fn view(State(state): State<AppState>, query: Result<Query<LinkQuery>, QueryRejection>) -> Response {
    let Ok(Query(query)) = query else { return malformed_link() };
    let (lib, caller, view) = match open_link(&state, &query, LinkAction::View).await {
        Ok(found) => found,
        Err(page) => return page,
    };
    let title = view.record.name.clone();
    let body = if view.record.kind == ItemKind::Folder {
        let children = match lib.library.list(&caller, &view.record.id, Some(1000), None).await {
            Ok(children) => children,
            Err(e) => {
                let e = crate::error::ApiError::from(e);
                return error_page(e.status, &e.message);
            }
        };
        let items: String = children
            .iter()
            .map(|child| {
                let link = signed_url(&state, &lib.slug, child.record.id.as_str(), LinkAction::View, &caller.username);
                let icon = if child.record.kind == ItemKind::Folder { "📁" } else { "📄" };
                format!("<li>{icon} <a href=\"{}\">{}</a></li>", escape(&link), escape(&child.record.name))
            })
            .collect();
        let empty = if children.is_empty() { "<p>This folder is empty.</p>" } else { "" };
        format!("<h1>📁 {}</h1>{empty}<ul>{items}</ul>", escape(&title))
    } else {
        let download = signed_url(&state, &lib.slug, view.record.id.as_str(), LinkAction::Download, &caller.username);
        let inline = format!("{download}&inline=1");
        let mime = view.mime_type.as_str();
        let preview = if mime.starts_with("image/") {
            format!("<p><img alt=\"{}\" src=\"{}\"></p>", escape(&title), escape(&inline))
        } else if mime == "application/pdf" {
            format!("<iframe title=\"{}\" src=\"{}\"></iframe>", escape(&title), escape(&inline))
        } else if mime.starts_with("video/") {
            format!("<video controls src=\"{}\"></video>", escape(&inline))
        } else if mime.starts_with("audio/") {
            format!("<audio controls src=\"{}\"></audio>", escape(&inline))
        } else if docbridge_documents::mime::is_text_like(mime) {
            let text = text_preview(&lib.library, &view).await;
            format!("<pre>{}</pre>", escape(&text))
        } else {
            "<p>No preview is available for this type of file.</p>".to_owned()
        };
        format!(
            "<h1>{}</h1><p>{} · {} bytes · modified {}</p><p><a class=\"button\" href=\"{}\">Download</a></p>{preview}",
            escape(&title),
            escape(if mime.is_empty() { "file" } else { mime }),
            view.record.size,
            docbridge_protocol::format_date(&view.record.modified),
            escape(&download)
        )
    };
    with_security_headers(Html(page(&title, &body)).into_response())
}

/// The first 64 KiB of a text file, for the preview.
async fn text_preview(library: &Library, view: &ItemView) -> String {
    use futures::TryStreamExt;
    const LIMIT: u64 = 64 * 1024;
    let Ok(mut stream) = library.open_bytes(&view.record, Some(0..LIMIT)).await else { return String::new() };
    let mut bytes = Vec::new();
    while let Ok(Some(chunk)) = stream.try_next().await {
        bytes.extend_from_slice(&chunk);
    }
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if view.record.size > LIMIT {
        text.push_str("\n…");
    }
    text
}
