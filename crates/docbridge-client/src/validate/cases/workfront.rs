//! The ten manual tests of §11, replayed as the calls Workfront makes for each UI action.

use bytes::Bytes;
use reqwest::Method;
use serde_json::Value;

use super::released::{
    check_file_item, compare_bytes, expect_image, find_by_id, search_for_token, str_field, upload_init_from_workfront,
};
use crate::Auth;
use crate::validate::Level;
use crate::validate::context::{Abort, Ctx, Raw, Step, error_chain};
use crate::validate::shape::is_absolute_url;

/// Test 1: the service can be added: an authenticated listing of the root works.
pub(super) async fn provision(ctx: &mut Ctx) -> Step {
    let raw = ctx.call(Method::GET, "files", &[("parentId", "/")]).await?;
    ctx.expect_listing(&raw)?;
    match ctx.client.auth() {
        Auth::Bearer { .. } => ctx.note("the token works; the OAuth2 handshake itself is not replayed"),
        Auth::None => ctx.note("no credentials configured; the provider accepts anonymous calls"),
        _ => ctx.note("the ApiKey and username are accepted"),
    }
    Ok(())
}

/// Test 2: browse from the root to the file, then link it (`/metadata` agrees with the listing).
pub(super) async fn link(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    let root = ctx.call(Method::GET, "files", &[("parentId", "/")]).await?;
    let root_items = ctx.expect_listing(&root)?;
    let folder = if ctx.sandbox_created {
        let sandbox = ctx.sandbox_id.clone();
        if find_by_id(&root_items, &sandbox).is_none() {
            return Err(
                ctx.stop(Level::Spec, format!("{}: the sandbox folder cannot be browsed to from the root", root.what))
            );
        }
        sandbox
    } else {
        "/".to_owned()
    };
    let listing = ctx.call(Method::GET, "files", &[("parentId", &folder)]).await?;
    let items = ctx.expect_listing(&listing)?;
    let Some(listed) =
        items.iter().find(|item| str_field(item, "title") == Some(fixtures.text.title.as_str())).cloned()
    else {
        return Err(ctx.stop(Level::Spec, format!("{}: {:?} is not listed", listing.what, fixtures.text.title)));
    };
    let Some(id) = str_field(&listed, "id").map(str::to_owned) else { return Err(Abort::Stop) };
    let raw = ctx.call(Method::GET, "metadata", &[("id", &id)]).await?;
    let linked = ctx.expect_metadata(&raw)?;
    for field in ["id", "title", "kind"] {
        if linked.get(field) != listed.get(field) {
            ctx.spec(format!(
                "{}: {field} is {:?} but the listing said {:?}",
                raw.what,
                linked.get(field),
                listed.get(field)
            ));
        }
    }
    Ok(())
}

/// The metadata of the text fixture, and one of its links, checked to be an absolute URL.
async fn fixture_link(ctx: &mut Ctx, field: &str) -> Step<(String, Bytes)> {
    let fixtures = ctx.fixtures()?;
    let raw = ctx.call(Method::GET, "metadata", &[("id", &fixtures.text.id)]).await?;
    let item: Value = ctx.expect_metadata(&raw)?;
    match str_field(&item, field) {
        Some(link) if is_absolute_url(link) => Ok((link.to_owned(), fixtures.text.bytes)),
        other => Err(ctx.stop(
            Level::Spec,
            format!("{}: {field} {other:?} is not an absolute URL a browser can open (§5)", raw.what),
        )),
    }
}

/// Opens a link like a browser: no provider credentials.
async fn open(ctx: &mut Ctx, link: &str, follow_redirects: bool) -> Step<Raw> {
    let browser = if follow_redirects { ctx.browser.clone() } else { ctx.browser_no_redirect.clone() };
    let what = format!("browser GET {link}");
    match browser.get(link).send().await {
        Ok(response) => {
            let (status, headers) = (response.status(), response.headers().clone());
            match response.bytes().await {
                Ok(body) => Ok(Raw { what, status, headers, body }),
                Err(err) => Err(ctx.stop(Level::Spec, format!("{what}: the answer broke off: {}", error_chain(&err)))),
            }
        }
        Err(err) => Err(ctx.stop(Level::Spec, format!("{what}: no answer: {}", error_chain(&err)))),
    }
}

/// Test 3: *Open* loads `viewLink` in a new tab (following redirects, e.g. to a login page).
pub(super) async fn open_document(ctx: &mut Ctx) -> Step {
    let (link, _) = fixture_link(ctx, "viewLink").await?;
    let raw = open(ctx, &link, true).await?;
    if !raw.status.is_success() {
        ctx.spec(format!("{}: the page does not load: {}", raw.what, raw.describe()));
    }
    Ok(())
}

/// Test 4: logged out of the provider, `viewLink` still answers a page or a redirect to one.
pub(super) async fn open_logged_out(ctx: &mut Ctx) -> Step {
    let (link, _) = fixture_link(ctx, "viewLink").await?;
    let raw = open(ctx, &link, false).await?;
    if !(raw.status.is_success() || raw.status.is_redirection()) {
        ctx.spec(format!(
            "{}: a browser without a session gets {} instead of a page or a login redirect",
            raw.what,
            raw.describe()
        ));
    }
    Ok(())
}

/// Test 5: *Download* opens `downloadLink`, which serves the file's bytes.
pub(super) async fn download_link(ctx: &mut Ctx) -> Step {
    let (link, bytes) = fixture_link(ctx, "downloadLink").await?;
    let raw = open(ctx, &link, true).await?;
    if !raw.status.is_success() {
        return Err(ctx.stop(Level::Spec, format!("{}: no download starts: {}", raw.what, raw.describe())));
    }
    if raw.body != bytes {
        ctx.contract(format!(
            "{}: does not serve the file's bytes directly ({} bytes came, the file has {}; C8 signs the link instead of asking for a login)",
            raw.what,
            raw.body.len(),
            bytes.len()
        ));
    }
    Ok(())
}

/// Test 6: search in the *Add Documents* modal gives the right results.
pub(super) async fn search(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    let (token, raw, items) = search_for_token(ctx, &fixtures).await?;
    for item in &items {
        let title = str_field(item, "title").unwrap_or_default();
        if !title.contains(&token) {
            ctx.contract(format!(
                "{}: {title:?} matches neither the name nor the content of anything with {token:?}",
                raw.what
            ));
        }
    }
    Ok(())
}

/// Test 7: *Send To… <provider>*: pick a folder by browsing, `uploadInit` with Workfront's IDs,
/// `upload`, and the file shows in that folder.
pub(super) async fn send_to_provider(ctx: &mut Ctx) -> Step {
    let folder = ctx.subfolder_id.clone().unwrap_or_else(|| ctx.sandbox_id.clone());
    let browse = ctx.call(Method::GET, "files", &[("parentId", &folder)]).await?;
    ctx.expect_listing(&browse)?;
    let filename = ctx.name("sent to provider.txt");
    let body = Bytes::from(format!("sent from Workfront by {}\n", ctx.token));
    let id = upload_init_from_workfront(ctx, &folder, &filename).await?;
    let raw = super::released::upload_raw(ctx, &id, body.clone()).await?;
    ctx.expect_success(&raw)?;
    if raw.json().is_none_or(|v| str_field(&v, "result") != Some("success")) {
        ctx.spec(format!("{}: expected {{\"result\":\"success\"}}, got {}", raw.what, raw.describe()));
    }
    let listing = ctx.call(Method::GET, "files", &[("parentId", &folder)]).await?;
    let items = ctx.expect_listing(&listing)?;
    match find_by_id(&items, &id) {
        Some(item) => check_file_item(ctx, &listing.what, item, &filename, body.len()),
        None => ctx.spec(format!("{}: the sent file (id {id}) does not appear in the chosen folder", listing.what)),
    }
    Ok(())
}

/// Test 8: selecting a linked image shows its thumbnail.
pub(super) async fn thumbnails(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    let raw = ctx.call(Method::GET, "metadata", &[("id", &fixtures.image.id)]).await?;
    ctx.expect_metadata(&raw)?;
    let raw = ctx.call(Method::GET, "thumbnail", &[("id", &fixtures.image.id)]).await?;
    expect_image(ctx, &raw, Level::Spec);
    Ok(())
}

/// Test 9: *Send To… Workfront* copies the bytes through `/download`.
pub(super) async fn content_bytes(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    for fixture in [&fixtures.text, &fixtures.image] {
        let raw = ctx.call(Method::GET, "download", &[("id", &fixture.id)]).await?;
        ctx.expect_success(&raw)?;
        compare_bytes(ctx, &raw.what, &raw.body, &fixture.bytes);
    }
    Ok(())
}

/// Test 10: token refresh, which needs the OAuth2 flow.
pub(super) async fn token_refresh(ctx: &mut Ctx) -> Step {
    match ctx.client.auth() {
        Auth::Bearer { .. } => Err(Abort::Skip(
            "needs the OAuth2 flow (token endpoint and refresh token); a fixed bearer token cannot be refreshed".into(),
        )),
        _ => Err(Abort::Skip("not an OAuth2 provider configuration".into())),
    }
}
