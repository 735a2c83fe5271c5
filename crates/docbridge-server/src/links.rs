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
