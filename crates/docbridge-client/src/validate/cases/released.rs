//! Cases of the released endpoints: core 1.0 (§9.1–9.7), the 1.1 upload parameters and 1.2's
//! `/createFolder` (§9.8).

use bytes::Bytes;
use docbridge_protocol::ItemKind;
use reqwest::Method;
use serde_json::Value;

use crate::validate::Level;
use crate::validate::context::{Abort, Ctx, Fixtures, Raw, Step};
use crate::validate::image::sniff;
use crate::validate::shape;

/// The IDs of a listing, for messages and comparisons.
pub(super) fn ids(items: &[Value]) -> Vec<String> {
    items.iter().filter_map(|item| item.get("id").and_then(Value::as_str)).map(str::to_owned).collect()
}

pub(super) fn find_by_id<'a>(items: &'a [Value], id: &str) -> Option<&'a Value> {
    items.iter().find(|item| item.get("id").and_then(Value::as_str) == Some(id))
}

pub(super) fn str_field<'a>(item: &'a Value, field: &str) -> Option<&'a str> {
    item.get(field).and_then(Value::as_str)
}

/// The `size` of an item however it was sent (number or numeric string).
pub(super) fn size_of(item: &Value) -> Option<u64> {
    match item.get("size")? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// Checks that a listed or fetched item is the file we uploaded: title, kind and size.
pub(super) fn check_file_item(ctx: &mut Ctx, what: &str, item: &Value, title: &str, length: usize) {
    if str_field(item, "title") != Some(title) {
        ctx.spec(format!("{what}: title is {:?}, uploaded as {title:?}", item.get("title")));
    }
    if str_field(item, "kind") != Some("file") {
        ctx.spec(format!("{what}: kind is {:?}, expected \"file\"", item.get("kind")));
    }
    if let Some(size) = size_of(item)
        && size != length as u64
    {
        ctx.spec(format!("{what}: size is {size}, but {length} bytes were uploaded"));
    }
}

/// Compares downloaded bytes with what was uploaded, naming the first difference.
pub(super) fn compare_bytes(ctx: &mut Ctx, what: &str, got: &[u8], want: &[u8]) {
    if got == want {
        return;
    }
    let first_difference = got.iter().zip(want).position(|(a, b)| a != b).unwrap_or(got.len().min(want.len()));
    ctx.spec(format!(
        "{what}: got {} bytes, {} were uploaded; they differ from byte {first_difference} on",
        got.len(),
        want.len()
    ));
}

/// `files?parentId=/`, shape of every item, the sandbox (or fixtures) listed; no `parentId` is the root too.
pub(super) async fn files_root(ctx: &mut Ctx) -> Step {
    let raw = ctx.call(Method::GET, "files", &[("parentId", "/")]).await?;
    let items = ctx.expect_listing(&raw)?;
    if ctx.sandbox_created {
        let sandbox = ctx.sandbox_id.clone();
        match find_by_id(&items, &sandbox) {
            Some(item) if str_field(item, "kind") != Some("folder") => {
                ctx.spec(format!("{}: the sandbox folder is listed with kind {:?}", raw.what, item.get("kind")));
            }
            Some(_) => {}
            None => ctx.spec(format!(
                "{}: the sandbox folder (id {sandbox}) created with createFolder is not listed",
                raw.what
            )),
        }
    } else if let Some(fixtures) = ctx.fixtures.clone()
        && find_by_id(&items, &fixtures.text.id).is_none()
    {
        ctx.spec(format!("{}: the uploaded file {:?} is not listed", raw.what, fixtures.text.title));
    }
    let without_parent = ctx.call(Method::GET, "files", &[]).await?;
    if without_parent.status.is_success() {
        let mut other = without_parent.json().and_then(|v| v.as_array().map(|a| ids(a))).unwrap_or_default();
        let mut expected = ids(&items);
        other.sort();
        expected.sort();
        if other != expected {
            ctx.contract(format!(
                "{}: does not list the root folder as parentId=/ does (C9, §13.2)",
                without_parent.what
            ));
        }
    } else {
        ctx.contract(format!(
            "{}: an absent parentId means the root (C9, §13.2), got {}",
            without_parent.what,
            without_parent.describe()
        ));
    }
    ctx.note(format!("{} item(s) in the root", items.len()));
    Ok(())
}

/// `files?parentId=<sandbox>` lists both fixtures with the right titles, kinds and sizes.
pub(super) async fn files_folder(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    let sandbox = ctx.sandbox_id.clone();
    let raw = ctx.call(Method::GET, "files", &[("parentId", &sandbox)]).await?;
    let items = ctx.expect_listing(&raw)?;
    for fixture in [&fixtures.text, &fixtures.image] {
        match find_by_id(&items, &fixture.id) {
            Some(item) => check_file_item(ctx, &raw.what, item, &fixture.title, fixture.bytes.len()),
            None => ctx
                .spec(format!("{}: the uploaded file {:?} (id {}) is not listed", raw.what, fixture.title, fixture.id)),
        }
    }
    Ok(())
}

/// `max` and `offset` count items (C9, §13.1).
pub(super) async fn files_pagination(ctx: &mut Ctx) -> Step {
    ctx.fixtures()?;
    let sandbox = ctx.sandbox_id.clone();
    let full = ctx.call(Method::GET, "files", &[("parentId", &sandbox)]).await?;
    let all = ids(&ctx.expect_listing(&full)?);
    if all.len() < 2 {
        return Err(Abort::Skip("needs at least two items in the sandbox".into()));
    }
    let first = ctx.call(Method::GET, "files", &[("parentId", &sandbox), ("max", "1")]).await?;
    let second = ctx.call(Method::GET, "files", &[("parentId", &sandbox), ("max", "1"), ("offset", "1")]).await?;
    for (raw, expected) in [(&first, &all[0..1]), (&second, &all[1..2])] {
        let got = raw.json().and_then(|v| v.as_array().map(|a| ids(a)));
        if got.as_deref() != Some(expected) {
            ctx.contract(format!(
                "{}: expected the item(s) {expected:?} of the full listing (max and offset count items, C9), got {}",
                raw.what,
                raw.describe()
            ));
        }
    }
    Ok(())
}

/// `metadata?id=/` is the root folder.
pub(super) async fn metadata_root(ctx: &mut Ctx) -> Step {
    let raw = ctx.call(Method::GET, "metadata", &[("id", "/")]).await?;
    let item = ctx.expect_metadata(&raw)?;
    if str_field(&item, "kind") != Some("folder") {
        ctx.spec(format!("{}: the root is not a folder: kind {:?}", raw.what, item.get("kind")));
    }
    if str_field(&item, "id") != Some("/") {
        ctx.contract(format!("{}: the root's id is {:?}; it is \"/\" (§1, C6)", raw.what, item.get("id")));
    }
    Ok(())
}

/// `metadata` of both fixtures: ID, title, kind, size, MIME type.
pub(super) async fn metadata_file(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    for (fixture, mime) in [(&fixtures.text, "text/plain"), (&fixtures.image, "image/png")] {
        let raw = ctx.call(Method::GET, "metadata", &[("id", &fixture.id)]).await?;
        let item = ctx.expect_metadata(&raw)?;
        if str_field(&item, "id") != Some(fixture.id.as_str()) {
            ctx.spec(format!("{}: id is {:?}, asked for {}", raw.what, item.get("id"), fixture.id));
        }
        check_file_item(ctx, &raw.what, &item, &fixture.title, fixture.bytes.len());
        if let Some(got) = str_field(&item, "mimeType")
            && !got.starts_with(mime)
        {
            ctx.contract(format!("{}: mimeType is {got:?}; C7 derives {mime} from the extension", raw.what));
        }
    }
    Ok(())
}

/// `metadata` of the sandbox folder.
pub(super) async fn metadata_folder(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_folder()?;
    let raw = ctx.call(Method::GET, "metadata", &[("id", &sandbox)]).await?;
    let item = ctx.expect_metadata(&raw)?;
    if str_field(&item, "kind") != Some("folder") {
        ctx.spec(format!("{}: kind is {:?}, expected \"folder\"", raw.what, item.get("kind")));
    }
    let name = ctx.name("sandbox");
    if str_field(&item, "title") != Some(name.as_str()) {
        ctx.spec(format!("{}: title is {:?}, created as {name:?}", raw.what, item.get("title")));
    }
    Ok(())
}

/// `search?query=<the run's token>`, whose results must hold both fixtures (their names hold
/// the token): the token, the call and its results.
pub(super) async fn search_for_token(ctx: &mut Ctx, fixtures: &Fixtures) -> Step<(String, Raw, Vec<Value>)> {
    let token = ctx.token.clone();
    let raw = ctx.call(Method::GET, "search", &[("query", &token)]).await?;
    let items = ctx.expect_listing(&raw)?;
    for fixture in [&fixtures.text, &fixtures.image] {
        if find_by_id(&items, &fixture.id).is_none() {
            ctx.spec(format!("{}: {:?}, whose name contains the query, is not found", raw.what, fixture.title));
        }
    }
    Ok((token, raw, items))
}

/// `search?query=<token>` finds the fixtures; a query that matches nothing gives `[]`.
pub(super) async fn search(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    let (token, _, _) = search_for_token(ctx, &fixtures).await?;
    let upper = token.to_uppercase();
    if upper != token {
        let raw = ctx.call(Method::GET, "search", &[("query", &upper)]).await?;
        let found = raw.json().and_then(|v| v.as_array().map(|a| ids(a))).unwrap_or_default();
        if !found.contains(&fixtures.text.id) {
            ctx.contract(format!(
                "{}: matching is case-insensitive (C10), but {:?} is not found",
                raw.what, fixtures.text.title
            ));
        }
    }
    let nothing = format!("zq{token}xj-nomatch");
    let raw = ctx.call(Method::GET, "search", &[("query", &nothing)]).await?;
    let items = ctx.expect_listing(&raw)?;
    if !items.is_empty() {
        ctx.spec(format!("{}: nothing matches, expected [], got {} item(s)", raw.what, items.len()));
    }
    Ok(())
}

/// `download` of the text fixture: the bytes, `Content-Length`, `Content-Type`.
pub(super) async fn download(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    let raw = ctx.call(Method::GET, "download", &[("id", &fixtures.text.id)]).await?;
    ctx.expect_ok(&raw, Level::Contract)?;
    compare_bytes(ctx, &raw.what, &raw.body, &fixtures.text.bytes);
    match raw.header("content-length").and_then(|v| v.parse::<usize>().ok()) {
        Some(length) if length != fixtures.text.bytes.len() => {
            ctx.spec(format!(
                "{}: Content-Length is {length}, the file has {} bytes",
                raw.what,
                fixtures.text.bytes.len()
            ));
        }
        Some(_) => {}
        None => ctx.contract(format!("{}: no Content-Length (C11)", raw.what)),
    }
    if !raw.header("content-type").is_some_and(|t| t.starts_with("text/plain")) {
        ctx.contract(format!(
            "{}: Content-Type is {:?}, expected the item's MIME type text/plain (C11)",
            raw.what,
            raw.header("content-type")
        ));
    }
    Ok(())
}

/// Requires image bytes in a thumbnail answer.
pub(super) fn expect_image(ctx: &mut Ctx, raw: &Raw, level: Level) {
    if !raw.status.is_success() {
        ctx.finding(level, format!("{}: expected image bytes, got {}", raw.what, raw.describe()));
        return;
    }
    if raw.status.as_u16() != 200 {
        ctx.contract(format!("{}: answered HTTP {} instead of 200", raw.what, raw.status.as_u16()));
    }
    match sniff(&raw.body) {
        Some(_) => {
            if !raw.header("content-type").is_some_and(|t| t.starts_with("image/")) {
                ctx.contract(format!(
                    "{}: Content-Type is {:?}, expected image/* (C12)",
                    raw.what,
                    raw.header("content-type")
                ));
            }
        }
        None => ctx.finding(
            level,
            format!("{}: the body is not a PNG, JPEG, GIF, WebP, BMP or TIFF image: {}", raw.what, raw.describe()),
        ),
    }
}

/// `thumbnail` of the image fixture (default size and `size=64`), and of the text file (C12).
pub(super) async fn thumbnail(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    let raw = ctx.call(Method::GET, "thumbnail", &[("id", &fixtures.image.id)]).await?;
    expect_image(ctx, &raw, Level::Spec);
    let raw = ctx.call(Method::GET, "thumbnail", &[("id", &fixtures.image.id), ("size", "64")]).await?;
    expect_image(ctx, &raw, Level::Spec);
    let raw = ctx.call(Method::GET, "thumbnail", &[("id", &fixtures.text.id)]).await?;
    expect_image(ctx, &raw, Level::Contract);
    Ok(())
}

/// 1.5 MiB of every byte value in a scrambled order: catches truncation, re-encoding and
/// text-mode conversions.
pub(super) fn binary_body(len: usize, seed: u32) -> Bytes {
    let mut state = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    let bytes: Vec<u8> = (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state >> 24) as u8
        })
        .collect();
    Bytes::from(bytes)
}

/// The ID of the item that `uploadInit` or `createFolder` answered with `raw`, tracked for the
/// clean-up (without an ID the case cannot go on). It must be of `kind` and titled `title`, as
/// asked; another title is a `title_level` finding.
fn expect_created(ctx: &mut Ctx, raw: &Raw, kind: ItemKind, title: &str, title_level: Level) -> Step<String> {
    let item = ctx.expect_metadata(raw)?;
    let Some(id) = str_field(&item, "id").map(str::to_owned) else { return Err(Abort::Stop) };
    ctx.track(&id, kind, title);
    let kind_name = match kind {
        ItemKind::File => "file",
        ItemKind::Folder => "folder",
    };
    if str_field(&item, "kind") != Some(kind_name) {
        ctx.spec(format!("{}: kind is {:?}, expected {kind_name:?}", raw.what, item.get("kind")));
    }
    if str_field(&item, "title") != Some(title) {
        ctx.finding(title_level, format!("{}: title is {:?}, asked for {title:?}", raw.what, item.get("title")));
    }
    Ok(id)
}

/// `uploadInit` + `upload` of a binary body, read back through `download` and `metadata`;
/// a second `upload` to the same ID replaces the content (C14).
pub(super) async fn upload_round_trip(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_id.clone();
    let filename = ctx.name("round trip.bin");
    let raw = ctx.call(Method::POST, "uploadInit", &[("parentId", &sandbox), ("filename", &filename)]).await?;
    let id = expect_created(ctx, &raw, ItemKind::File, &filename, Level::Contract)?;
    let body = binary_body(1536 * 1024, 1);
    put_and_read_back(ctx, &id, &filename, body).await?;
    let replacement = binary_body(70_000, 2);
    let replaced = upload_raw(ctx, &id, replacement.clone()).await?;
    if replaced.status.is_success() {
        let raw = ctx.call(Method::GET, "download", &[("id", &id)]).await?;
        if raw.status.is_success() && raw.body != replacement {
            ctx.contract(format!("{}: a second upload to the same ID did not replace the content (C14)", raw.what));
        }
    } else {
        ctx.contract(format!(
            "{}: a second upload to the same ID is refused (C14: it replaces), {}",
            replaced.what,
            replaced.describe()
        ));
    }
    Ok(())
}

pub(super) async fn upload_raw(ctx: &mut Ctx, id: &str, body: Bytes) -> Step<Raw> {
    let request = ctx
        .client
        .request(Method::PUT, "upload", &[("id", id)])
        .header("content-type", "application/octet-stream")
        .body(body);
    ctx.send(format!("PUT upload?id={id}"), request).await
}

/// Uploads `body` to `id`, expects `{"result":"success"}`, then the same bytes from `download`
/// and the same size from `metadata`.
pub(super) async fn put_and_read_back(ctx: &mut Ctx, id: &str, filename: &str, body: Bytes) -> Step {
    let raw = upload_raw(ctx, id, body.clone()).await?;
    ctx.expect_ok(&raw, Level::Contract)?;
    let outcome = ctx.expect_json(&raw)?;
    ctx.record(&raw.what, shape::upload_success(&outcome));
    let raw = ctx.call(Method::GET, "download", &[("id", id)]).await?;
    ctx.expect_success(&raw)?;
    compare_bytes(ctx, &raw.what, &raw.body, &body);
    let raw = ctx.call(Method::GET, "metadata", &[("id", id)]).await?;
    let item = ctx.expect_metadata(&raw)?;
    check_file_item(ctx, &raw.what, &item, filename, body.len());
    Ok(())
}

/// Workfront's 32-hex document and version IDs, as 1.1 sends them.
pub(super) const WORKFRONT_DOCUMENT_ID: &str = "5502082c003a4f30ddec2fb2b739cb7c";
pub(super) const WORKFRONT_VERSION_ID: &str = "54b598a700e2342d6971597a5df1a8d3";

/// `uploadInit` of `filename` into `parent_id` with Workfront's document and version IDs, as
/// 1.1 sends them: the reserved ID, tracked for the clean-up.
pub(super) async fn upload_init_from_workfront(ctx: &mut Ctx, parent_id: &str, filename: &str) -> Step<String> {
    let params = [
        ("parentId", parent_id),
        ("filename", filename),
        ("documentId", WORKFRONT_DOCUMENT_ID),
        ("documentVersionId", WORKFRONT_VERSION_ID),
    ];
    let raw = ctx.call(Method::POST, "uploadInit", &params).await?;
    let reserved = ctx.expect_metadata(&raw)?;
    let Some(id) = str_field(&reserved, "id").map(str::to_owned) else { return Err(Abort::Stop) };
    ctx.track(&id, ItemKind::File, filename);
    Ok(id)
}

/// `uploadInit` with `documentId` and `documentVersionId` is accepted (§9.6, §8).
pub(super) async fn document_ids(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_id.clone();
    let filename = ctx.name("from workfront.txt");
    let id = upload_init_from_workfront(ctx, &sandbox, &filename).await?;
    put_and_read_back(ctx, &id, &filename, Bytes::from_static(b"sent from Workfront 1.1\n")).await
}

/// `createFolder` answers the new folder, which is listed and empty (§9.8, C15).
pub(super) async fn create_folder(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_id.clone();
    let name = ctx.name("sub folder");
    let raw = ctx.call(Method::POST, "createFolder", &[("parentId", &sandbox), ("name", &name)]).await?;
    let id = expect_created(ctx, &raw, ItemKind::Folder, &name, Level::Spec)?;
    let listing = ctx.call(Method::GET, "files", &[("parentId", &sandbox)]).await?;
    let items = ctx.expect_listing(&listing)?;
    if find_by_id(&items, &id).is_none() {
        ctx.spec(format!("{}: the new folder (id {id}) is not listed", listing.what));
    }
    let inside = ctx.call(Method::GET, "files", &[("parentId", &id)]).await?;
    let children = ctx.expect_listing(&inside)?;
    if !children.is_empty() {
        ctx.spec(format!("{}: a new folder should be empty, got {} item(s)", inside.what, children.len()));
    }
    ctx.subfolder_id = Some(id);
    Ok(())
}

/// `createFolder` with its parameters in a form body, as the docs' example shows (§13.10, C21).
pub(super) async fn create_folder_form(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_id.clone();
    let name = ctx.name("form folder");
    let request =
        ctx.client.request(Method::POST, "createFolder", &[]).form(&[("parentId", &sandbox), ("name", &name)]);
    let raw = ctx.send("POST createFolder (form body)".into(), request).await?;
    if !raw.status.is_success() {
        return Err(ctx.stop(
            Level::Contract,
            format!("{}: parameters in a form body are accepted (C21), got {}", raw.what, raw.describe()),
        ));
    }
    let folder = raw.json().unwrap_or_default();
    if let Some(id) = str_field(&folder, "id") {
        let id = id.to_owned();
        ctx.track(&id, ItemKind::Folder, &name);
    }
    if str_field(&folder, "title") != Some(name.as_str()) {
        ctx.contract(format!("{}: title is {:?}, sent {name:?} in the body", raw.what, folder.get("title")));
    }
    Ok(())
}
