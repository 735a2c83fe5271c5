//! Set-up and clean-up: learn what the provider declares, make the sandbox folder and the
//! fixture files, and remove everything at the end.

use std::collections::HashSet;

use bytes::Bytes;
use docbridge_protocol::{Endpoint, ItemKind};
use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::Auth;
use crate::validate::Level;
use crate::validate::context::{Abort, Ctx, Fixture, Fixtures, Step, error_chain};
use crate::validate::image::FIXTURE_PNG;

/// `/serviceInfo`, asked without credentials first as Workfront would (§9.10).
pub(super) async fn service_info(ctx: &mut Ctx) -> Step {
    let anonymous = ctx.client.with_auth(Auth::None);
    let mut raw = ctx.call_as(&anonymous, Method::GET, "serviceInfo", &[]).await?;
    if matches!(raw.status, StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN) && *ctx.client.auth() != Auth::None {
        raw = ctx.call(Method::GET, "serviceInfo", &[]).await?;
        ctx.service_info_needed_auth = raw.status.is_success();
    }
    if !raw.status.is_success() {
        ctx.note(format!("no /serviceInfo ({}): assuming the core 1.0 endpoints", raw.describe()));
        return Ok(());
    }
    let Some(value) = raw.json() else {
        ctx.note(format!("/serviceInfo is not JSON ({}): assuming the core 1.0 endpoints", raw.describe()));
        ctx.declare_endpoints(ctx.available_endpoints().into_iter().collect());
        return Ok(());
    };
    ctx.service_info = Some(value.clone());
    let declared: Option<HashSet<String>> = value
        .get("availableEndpoints")
        .and_then(Value::as_array)
        .map(|names| names.iter().filter_map(Value::as_str).map(str::to_owned).collect());
    match declared {
        Some(declared) => {
            let mut names: Vec<&String> = declared.iter().collect();
            names.sort();
            let listed = names.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            ctx.note(format!("declared endpoints: {listed}"));
            ctx.declare_endpoints(declared);
        }
        None => {
            ctx.note("/serviceInfo has no availableEndpoints array: assuming the core 1.0 endpoints");
            ctx.declare_endpoints(ctx.available_endpoints().into_iter().collect());
        }
    }
    Ok(())
}

/// The sandbox folder, in the root, named after this run.
pub(super) async fn sandbox(ctx: &mut Ctx) -> Step {
    if !ctx.has(Endpoint::CreateFolder) {
        ctx.note(format!("no createFolder: working in the root folder with names starting {}", ctx.name("")));
        return Ok(());
    }
    let name = ctx.name("sandbox");
    let id = ctx.make_folder("/", &name).await?;
    ctx.sandbox_id = id.clone();
    ctx.sandbox_created = true;
    ctx.note(format!("sandbox folder {name:?} (id {id})"));
    Ok(())
}

/// The text and image files most cases read.
pub(super) async fn fixtures(ctx: &mut Ctx) -> Step {
    if !ctx.has(Endpoint::UploadInit) || !ctx.has(Endpoint::Upload) {
        ctx.fixtures_problem = Some("the provider declares no uploadInit/upload".into());
        return Err(Abort::Skip("the provider declares no uploadInit/upload, so there are no fixture files".into()));
    }
    let sandbox = ctx.sandbox_id.clone();
    let text_title = ctx.name("notes café.txt");
    let text_bytes = Bytes::from(fixture_text(&ctx.token));
    let image_title = ctx.name("pixel.png");
    let uploaded = async {
        let text_id = ctx.upload_file(&sandbox, &text_title, text_bytes.clone(), None).await?;
        let image_id = ctx.upload_file(&sandbox, &image_title, Bytes::from_static(FIXTURE_PNG), None).await?;
        Ok::<_, Abort>((text_id, image_id))
    }
    .await;
    match uploaded {
        Ok((text_id, image_id)) => {
            ctx.fixtures = Some(Fixtures {
                text: Fixture { id: text_id, title: text_title, bytes: text_bytes },
                image: Fixture { id: image_id, title: image_title, bytes: Bytes::from_static(FIXTURE_PNG) },
            });
            Ok(())
        }
        Err(abort) => {
            ctx.fixtures_problem = Some("uploadInit or upload failed; see setup.fixtures".into());
            Err(abort)
        }
    }
}

/// About 40 KiB of text that names the run's token, so that content search finds it too.
fn fixture_text(token: &str) -> String {
    let mut text = format!("docbridge validate fixture {token}\n");
    for line in 0..800 {
        text.push_str(&format!("line {line:04}: the quick brown fox jumps over the lazy dog ({token})\n"));
    }
    text
}

/// Deletes what the run created: the items outside the sandbox, then the sandbox.
pub(super) async fn cleanup(ctx: &mut Ctx) -> Step {
    let mut leftovers = std::mem::take(&mut ctx.leftovers);
    if ctx.sandbox_created {
        leftovers.push(crate::validate::context::Leftover {
            id: ctx.sandbox_id.clone(),
            kind: ItemKind::Folder,
            title: ctx.name("sandbox"),
        });
    }
    if leftovers.is_empty() {
        ctx.note("nothing to remove");
        return Ok(());
    }
    if !ctx.has(Endpoint::Delete) {
        let names: Vec<String> = leftovers.iter().map(|l| format!("{:?} (id {})", l.title, l.id)).collect();
        return Err(Abort::Skip(format!("no delete endpoint; left behind: {}", names.join(", "))));
    }
    let count = leftovers.len();
    for leftover in leftovers.iter().rev() {
        if let Err(err) = ctx.client.delete(&leftover.id, leftover.kind).await {
            // Already gone (a case deleted it) is fine; anything else is worth a warning.
            if err.status() != Some(404) {
                ctx.finding(
                    Level::Contract,
                    format!("could not delete {:?} (id {}): {}", leftover.title, leftover.id, error_chain(&err)),
                );
            }
        }
    }
    ctx.note(format!("removed {count} item(s)"));
    Ok(())
}
