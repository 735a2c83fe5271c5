//! Cases of the endpoints Workfront lists as not yet implemented: `/serviceInfo` (§9.10),
//! `/rename` (§9.11), `/delete` (§9.9) and `/customAction` (§9.12).

use bytes::Bytes;
use docbridge_protocol::{Endpoint, ItemKind};
use reqwest::Method;
use serde_json::Value;

use super::released::{WORKFRONT_DOCUMENT_ID, WORKFRONT_VERSION_ID, find_by_id, str_field};
use crate::validate::Level;
use crate::validate::context::{Ctx, Raw, Step};
use crate::validate::shape;

/// `/serviceInfo` answers without credentials, in the documented shape.
pub(super) async fn service_info(ctx: &mut Ctx) -> Step {
    if ctx.service_info_needed_auth {
        ctx.spec("serviceInfo answered only with credentials; it should not require authentication (§9.10, §3.4)");
    }
    let Some(value) = ctx.service_info.clone() else {
        return Err(ctx.stop(Level::Spec, "serviceInfo answered success, but not with a JSON object"));
    };
    ctx.record("GET serviceInfo", shape::service_info(&value));
    if let Some(version) = str_field(&value, "webhookVersion") {
        ctx.note(format!("webhookVersion {version}"));
    }
    Ok(())
}

/// Answers the outcome body of delete, rename and customAction and checks its shape.
fn expect_outcome(ctx: &mut Ctx, raw: &Raw, want_success: bool) -> Step<Value> {
    let value = ctx.expect_json(raw)?;
    ctx.record(&raw.what, shape::status_outcome(&value, Some(want_success)));
    Ok(value)
}

/// `rename` changes the title, keeps the ID (C6), and the listing shows only the new name.
pub(super) async fn rename(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_id.clone();
    let old_name = ctx.name("rename me.txt");
    let new_name = ctx.name("renamed.txt");
    let id = ctx.upload_file(&sandbox, &old_name, Bytes::from_static(b"rename me\n"), None).await?;
    let raw = ctx.call(Method::PUT, "rename", &[("id", &id), ("name", &new_name)]).await?;
    ctx.expect_ok(&raw, Level::Contract)?;
    expect_outcome(ctx, &raw, true)?;
    let listing = ctx.call(Method::GET, "files", &[("parentId", &sandbox)]).await?;
    let items = ctx.expect_listing(&listing)?;
    let titles: Vec<&str> = items.iter().filter_map(|item| str_field(item, "title")).collect();
    if !titles.contains(&new_name.as_str()) {
        ctx.spec(format!("{}: no item is named {new_name:?} after the rename", listing.what));
    }
    if titles.contains(&old_name.as_str()) {
        ctx.spec(format!("{}: an item is still named {old_name:?} after the rename", listing.what));
    }
    if find_by_id(&items, &id).is_none() {
        ctx.contract(format!(
            "{}: the renamed item no longer has its ID {id}; IDs are stable across renames (C6)",
            listing.what
        ));
    }
    Ok(())
}

/// `delete` of a file (`documentId`) and of a folder with contents (`folderId`).
pub(super) async fn delete(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_id.clone();
    let name = ctx.name("delete me.txt");
    let file_id = ctx.upload_file(&sandbox, &name, Bytes::from_static(b"delete me\n"), None).await?;
    let raw = ctx.call(Method::PUT, "delete", &[("documentId", &file_id)]).await?;
    ctx.expect_ok(&raw, Level::Contract)?;
    expect_outcome(ctx, &raw, true)?;
    expect_gone(ctx, &file_id, &name).await?;
    if ctx.has(Endpoint::CreateFolder) {
        let folder_name = ctx.name("delete folder");
        let folder_id = ctx.make_folder(&sandbox, &folder_name).await?;
        let child_id = ctx.upload_file(&folder_id, "inside.txt", Bytes::from_static(b"inside\n"), None).await?;
        let raw = ctx.call(Method::PUT, "delete", &[("folderId", &folder_id)]).await?;
        ctx.expect_ok(&raw, Level::Contract)?;
        expect_outcome(ctx, &raw, true)?;
        expect_gone(ctx, &folder_id, &folder_name).await?;
        expect_gone(ctx, &child_id, "inside.txt").await?;
    }
    let missing = format!("dbv{}missing", ctx.token);
    let raw = ctx.call(Method::PUT, "delete", &[("documentId", &missing)]).await?;
    if raw.status.is_success() && raw.json().is_some_and(|v| str_field(&v, "status") == Some("success")) {
        ctx.spec(format!("{}: deleting an unknown ID reports success", raw.what));
    } else {
        if raw.status.as_u16() != 404 {
            ctx.contract(format!("{}: expected 404 for an unknown ID (C16), got {}", raw.what, raw.describe()));
        }
        match raw.json() {
            Some(value) => ctx.record(&raw.what, shape::status_outcome(&value, Some(false))),
            None => {
                ctx.contract(format!("{}: expected {{\"status\":\"failure\",...}}, got {}", raw.what, raw.describe()))
            }
        }
    }
    Ok(())
}

/// After a delete, `metadata` answers 404 (or, without metadata, the item is not listed).
async fn expect_gone(ctx: &mut Ctx, id: &str, title: &str) -> Step {
    let raw = ctx.call(Method::GET, "metadata", &[("id", id)]).await?;
    if raw.status.is_success() {
        ctx.spec(format!("{}: {title:?} was deleted but metadata still answers {}", raw.what, raw.describe()));
    } else if raw.status.as_u16() != 404 {
        ctx.spec(format!("{}: expected 404 for a deleted item, got {}", raw.what, raw.describe()));
    }
    Ok(())
}

/// `customAction` refuses an unknown action with a failure body, and runs a declared one on a
/// file uploaded with Workfront's IDs.
pub(super) async fn custom_action(ctx: &mut Ctx) -> Step {
    let unknown = format!("dbv{}noSuchAction", ctx.token);
    let params = [
        ("name", unknown.as_str()),
        ("documentId", WORKFRONT_DOCUMENT_ID),
        ("documentVersionId", WORKFRONT_VERSION_ID),
    ];
    let raw = ctx.call(Method::GET, "customAction", &params).await?;
    match raw.json() {
        Some(value) => ctx.record(&raw.what, shape::status_outcome(&value, Some(false))),
        None => {
            ctx.spec(format!("{}: expected {{\"status\":\"failure\",\"error\":...}}, got {}", raw.what, raw.describe()))
        }
    }
    if raw.status.as_u16() != 400 {
        ctx.contract(format!("{}: an unknown action is a 400 (C18), got HTTP {}", raw.what, raw.status.as_u16()));
    }
    let declared = ctx
        .service_info
        .as_ref()
        .and_then(|info| info.get("customActions"))
        .and_then(Value::as_array)
        .and_then(|actions| actions.first())
        .and_then(|action| str_field(action, "name"))
        .map(str::to_owned);
    let Some(action) = declared else {
        ctx.note("no custom action declared in serviceInfo; only the unknown-action answer was checked");
        return Ok(());
    };
    if !ctx.has(Endpoint::UploadInit) {
        ctx.note("no uploadInit to make a document to run the declared action on");
        return Ok(());
    }
    let sandbox = ctx.sandbox_id.clone();
    let name = ctx.name("action target.txt");
    let ids = Some((WORKFRONT_DOCUMENT_ID, WORKFRONT_VERSION_ID));
    let id = ctx.upload_file(&sandbox, &name, Bytes::from_static(b"custom action target\n"), ids).await?;
    // The action may move the item out of the sandbox (docbridge's `archive` does).
    ctx.track_always(&id, ItemKind::File, &name);
    let params = [
        ("name", action.as_str()),
        ("documentId", WORKFRONT_DOCUMENT_ID),
        ("documentVersionId", WORKFRONT_VERSION_ID),
        ("id", id.as_str()),
    ];
    let raw = ctx.call(Method::GET, "customAction", &params).await?;
    if !raw.status.is_success() {
        ctx.contract(format!("{}: a declared action that ran answers 200 (C18), got {}", raw.what, raw.describe()));
    }
    match raw.json() {
        Some(value) => {
            ctx.record(&raw.what, shape::status_outcome(&value, None));
            ctx.note(format!("ran {action:?}: {value}"));
        }
        None => ctx.spec(format!("{}: expected {{\"status\":...}}, got {}", raw.what, raw.describe())),
    }
    Ok(())
}
