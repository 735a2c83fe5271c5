//! Cases of error handling (§7, C20) and authentication (§3, C3, C4): the answers to requests
//! that are wrong on purpose.

use bytes::Bytes;
use docbridge_protocol::{Endpoint, ItemKind};
use reqwest::Method;

use super::released::str_field;
use crate::validate::Level;
use crate::validate::context::{Abort, Ctx, Step};
use crate::{Auth, Client};

fn missing_id(ctx: &Ctx) -> String {
    format!("dbv{}missing", ctx.token)
}

/// An unknown ID is a 404 with `{"status":"error"}` on every endpoint that takes one; so is a
/// malformed one (C6: an ID is opaque to its caller, which cannot tell the two apart).
pub(super) async fn unknown_id(ctx: &mut Ctx) -> Step {
    let missing = missing_id(ctx);
    // Not `[A-Za-z0-9_-]`: no provider following C6 can have issued it. The docs say nothing
    // of malformed IDs, so a provider answering 400 breaks only the contract.
    let malformed = format!("../{missing}");
    let probes: [(&str, &str, Level); 4] = [
        ("metadata", "id", Level::Spec),
        ("files", "parentId", Level::Spec),
        ("download", "id", Level::Contract),
        ("thumbnail", "id", Level::Contract),
    ];
    for (endpoint, param, body_level) in probes {
        let raw = ctx.call(Method::GET, endpoint, &[(param, &missing)]).await?;
        // The docs do not say whether binary endpoints answer errors in JSON (§7).
        ctx.expect_error(&raw, 404, Level::Spec, body_level);
        let raw = ctx.call(Method::GET, endpoint, &[(param, &malformed)]).await?;
        ctx.expect_error(&raw, 404, Level::Contract, body_level);
    }
    Ok(())
}

/// A missing required parameter is a 400 with the error body (C20); the docs only say "error".
pub(super) async fn missing_params(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_id.clone();
    let no_params: &[(&str, &str)] = &[];
    let upload_params = [("parentId", sandbox.as_str())];
    let probes = [
        (Method::GET, "metadata", no_params),
        (Method::GET, "search", no_params),
        (Method::POST, "uploadInit", &upload_params[..]),
    ];
    for (method, endpoint, params) in probes {
        let raw = ctx.call(method, endpoint, params).await?;
        if raw.status.is_success() && endpoint == "uploadInit" {
            track_created(ctx, &raw.body, "(no filename)");
        }
        ctx.expect_error(&raw, 400, Level::Contract, Level::Spec);
    }
    Ok(())
}

/// Something the provider created though it should have refused: delete it at the end.
fn track_created(ctx: &mut Ctx, body: &Bytes, title: &str) {
    let created = serde_json::from_slice::<serde_json::Value>(body).ok();
    if let Some(id) = created.as_ref().and_then(|v| str_field(v, "id")) {
        let id = id.to_owned();
        ctx.track(&id, ItemKind::File, title);
    }
}

/// Names that cannot be one path component are a 400 (C13, C15).
pub(super) async fn bad_names(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_id.clone();
    for bad in ["", "..", "a/b", "a\\b"] {
        let raw = ctx.call(Method::POST, "uploadInit", &[("parentId", &sandbox), ("filename", bad)]).await?;
        if raw.status.is_success() {
            track_created(ctx, &raw.body, bad);
        }
        ctx.expect_error(&raw, 400, Level::Contract, Level::Spec);
    }
    if ctx.has(Endpoint::CreateFolder) {
        let raw = ctx.call(Method::POST, "createFolder", &[("parentId", &sandbox), ("name", "x/y")]).await?;
        if raw.status.is_success() {
            track_created(ctx, &raw.body, "x/y");
        }
        ctx.expect_error(&raw, 400, Level::Contract, Level::Spec);
    }
    Ok(())
}

/// A folder name already taken is a 409 (C15); so is a rename onto a taken name (C17).
pub(super) async fn name_conflict(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_id.clone();
    let name = ctx.name("twice");
    ctx.make_folder(&sandbox, &name).await?;
    let raw = ctx.call(Method::POST, "createFolder", &[("parentId", &sandbox), ("name", &name)]).await?;
    if raw.status.is_success() {
        track_created(ctx, &raw.body, &name);
        ctx.contract(format!("{}: a second folder of the same name is a 409 (C15), got {}", raw.what, raw.describe()));
    } else {
        ctx.expect_error(&raw, 409, Level::Contract, Level::Spec);
    }
    if ctx.has(Endpoint::Rename) {
        let other = ctx.name("other");
        let other_id = ctx.make_folder(&sandbox, &other).await?;
        let raw = ctx.call(Method::PUT, "rename", &[("id", &other_id), ("name", &name)]).await?;
        let body = raw.json();
        let reported_failure = body.as_ref().is_some_and(|v| str_field(v, "status") == Some("failure"));
        if raw.status.is_success() && !reported_failure {
            ctx.contract(format!(
                "{}: renaming onto a taken name is a 409 failure (C17), got {}",
                raw.what,
                raw.describe()
            ));
        } else {
            if raw.status.as_u16() != 409 {
                ctx.contract(format!("{}: expected HTTP 409 (C17), got {}", raw.what, raw.describe()));
            }
            if !reported_failure || !body.as_ref().is_some_and(|v| v.get("error").is_some_and(|e| e.is_string())) {
                ctx.spec(format!(
                    "{}: expected {{\"status\":\"failure\",\"error\":...}} (§9.11), got {}",
                    raw.what,
                    raw.describe()
                ));
            }
        }
    }
    Ok(())
}

/// An unknown endpoint is a 404 with the error body (C1).
pub(super) async fn unknown_endpoint(ctx: &mut Ctx) -> Step {
    let endpoint = format!("noSuchEndpoint{}", ctx.token);
    let raw = ctx.call(Method::GET, &endpoint, &[]).await?;
    ctx.expect_error(&raw, 404, Level::Contract, Level::Contract);
    Ok(())
}

/// `max` and `offset` that are not counts are a 400 (C9).
pub(super) async fn bad_counts(ctx: &mut Ctx) -> Step {
    for (param, value) in [("max", "-1"), ("max", "ten"), ("offset", "-5")] {
        let raw = ctx.call(Method::GET, "files", &[("parentId", "/"), (param, value)]).await?;
        ctx.expect_error(&raw, 400, Level::Contract, Level::Contract);
    }
    Ok(())
}

/// `download` of a folder is a 400 (C11).
pub(super) async fn download_folder(ctx: &mut Ctx) -> Step {
    let sandbox = ctx.sandbox_folder()?;
    let raw = ctx.call(Method::GET, "download", &[("id", &sandbox)]).await?;
    ctx.expect_error(&raw, 400, Level::Contract, Level::Contract);
    Ok(())
}

/// Sends a few ordinary requests with `other` credentials and expects 403 with the error body
/// from each (§7: "Request tokens are missing or invalid").
async fn expect_forbidden(ctx: &mut Ctx, other: &Client, level: Level, what: &str) -> Step {
    let mut probes: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("files", vec![("parentId", "/".to_owned())]),
        ("metadata", vec![("id", "/".to_owned())]),
        ("search", vec![("query", ctx.token.clone())]),
    ];
    if let Some(fixtures) = ctx.fixtures.clone() {
        probes.push(("download", vec![("id", fixtures.text.id)]));
    }
    for (endpoint, params) in probes {
        let params: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let mut raw = ctx.call_as(other, Method::GET, endpoint, &params).await?;
        raw.what = format!("{} {what}", raw.what);
        if raw.status.as_u16() == 401 && level == Level::Spec {
            ctx.spec(format!(
                "{}: answered 401; Workfront expects 403 (only 403 triggers its token refresh, §7, §13.7)",
                raw.what
            ));
            continue;
        }
        ctx.expect_error(&raw, 403, level, level);
    }
    Ok(())
}

/// What a case takes from the configured credentials, or the skip that names the kind it runs
/// with: the ApiKey and OAuth2 cases only mean something with their own kind.
fn credentials<T>(ctx: &Ctx, runs_with: &str, pick: impl FnOnce(&Auth) -> Option<T>) -> Step<T> {
    pick(ctx.client.auth()).ok_or_else(|| Abort::Skip(format!("runs only with {runs_with}")))
}

fn api_key_parts(ctx: &Ctx) -> Step<(String, String)> {
    credentials(ctx, "ApiKey credentials (--api-key and --username)", |auth| match auth {
        Auth::ApiKey { api_key, username } => Some((api_key.clone(), username.clone())),
        _ => None,
    })
}

pub(super) async fn apikey_missing(ctx: &mut Ctx) -> Step {
    api_key_parts(ctx)?;
    let other = ctx.client.with_auth(Auth::None);
    expect_forbidden(ctx, &other, Level::Spec, "without apiKey and username").await
}

pub(super) async fn apikey_wrong(ctx: &mut Ctx) -> Step {
    let (api_key, username) = api_key_parts(ctx)?;
    let other = ctx.client.with_auth(Auth::ApiKey { api_key: format!("{api_key}x-wrong"), username });
    expect_forbidden(ctx, &other, Level::Spec, "with a wrong apiKey").await
}

pub(super) async fn apikey_empty_username(ctx: &mut Ctx) -> Step {
    let (api_key, _) = api_key_parts(ctx)?;
    let other = ctx.client.with_auth(Auth::ApiKey { api_key, username: String::new() });
    expect_forbidden(ctx, &other, Level::Contract, "with an empty username").await
}

fn require_bearer(ctx: &Ctx) -> Step {
    credentials(ctx, "a bearer token (--bearer)", |auth| matches!(auth, Auth::Bearer { .. }).then_some(()))
}

pub(super) async fn oauth2_missing(ctx: &mut Ctx) -> Step {
    require_bearer(ctx)?;
    let other = ctx.client.with_auth(Auth::None);
    expect_forbidden(ctx, &other, Level::Spec, "without a token").await
}

pub(super) async fn oauth2_garbage(ctx: &mut Ctx) -> Step {
    require_bearer(ctx)?;
    let other = ctx.client.with_auth(Auth::Bearer { token: format!("dbv{}garbage", ctx.token) });
    expect_forbidden(ctx, &other, Level::Spec, "with a garbage token").await
}
