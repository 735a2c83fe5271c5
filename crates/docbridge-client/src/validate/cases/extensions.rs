//! Cases of what docbridge adds to `/download` and `/thumbnail` beyond the docs (C11, C12):
//! byte ranges, conditional requests and an RFC 6266 file name. All contract-level.

use reqwest::Method;

use crate::disposition::{decode_ext_value, parse_content_disposition};
use crate::validate::context::{Ctx, Raw, Step};

async fn download_with(ctx: &mut Ctx, id: &str, header: (&str, &str)) -> Step<Raw> {
    let request = ctx.client.request(Method::GET, "download", &[("id", id)]).header(header.0, header.1);
    ctx.send(format!("GET download?id={id} with {}: {}", header.0, header.1), request).await
}

/// `Range` gets 206 with `Content-Range` and exactly those bytes; past the end gets 416.
pub(super) async fn range(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    let bytes = fixtures.text.bytes.clone();
    let total = bytes.len();
    let full = ctx.call(Method::GET, "download", &[("id", &fixtures.text.id)]).await?;
    if full.header("accept-ranges") != Some("bytes") {
        ctx.contract(format!("{}: no Accept-Ranges: bytes (C11)", full.what));
    }
    let cases = [("bytes=0-9", 0, 9), ("bytes=-5", total - 5, total - 1), ("bytes=100-", 100, total - 1)];
    for (spec, start, end) in cases {
        let raw = download_with(ctx, &fixtures.text.id, ("range", spec)).await?;
        if raw.status.as_u16() != 206 {
            ctx.contract(format!("{}: expected 206 Partial Content (C11), got {}", raw.what, raw.describe()));
            continue;
        }
        let expected_range = format!("bytes {start}-{end}/{total}");
        if raw.header("content-range") != Some(expected_range.as_str()) {
            ctx.contract(format!(
                "{}: Content-Range is {:?}, expected {expected_range:?}",
                raw.what,
                raw.header("content-range")
            ));
        }
        if raw.body != bytes[start..=end] {
            ctx.contract(format!(
                "{}: the body is not bytes {start}..={end} of the file ({} bytes came)",
                raw.what,
                raw.body.len()
            ));
        }
    }
    let past_end = format!("bytes={}-", total + 10);
    let raw = download_with(ctx, &fixtures.text.id, ("range", &past_end)).await?;
    if raw.status.as_u16() != 416 {
        ctx.contract(format!("{}: a range past the end is 416 (C11), got {}", raw.what, raw.describe()));
    }
    Ok(())
}

/// `ETag` + `If-None-Match` and `Last-Modified` + `If-Modified-Since` give 304, on downloads and
/// thumbnails.
pub(super) async fn conditional(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    let full = ctx.call(Method::GET, "download", &[("id", &fixtures.text.id)]).await?;
    ctx.expect_success(&full)?;
    for (validator, name, condition) in
        [("etag", "ETag", "if-none-match"), ("last-modified", "Last-Modified", "if-modified-since")]
    {
        match full.header(validator).map(str::to_owned) {
            Some(value) => {
                let raw = download_with(ctx, &fixtures.text.id, (condition, &value)).await?;
                if raw.status.as_u16() != 304 {
                    ctx.contract(format!("{}: expected 304 Not Modified (C11), got {}", raw.what, raw.describe()));
                }
            }
            None => ctx.contract(format!("{}: no {name} (C11)", full.what)),
        }
    }
    let thumbnail = ctx.call(Method::GET, "thumbnail", &[("id", &fixtures.image.id)]).await?;
    match thumbnail.header("etag").map(str::to_owned) {
        Some(etag) if thumbnail.status.is_success() => {
            let request = ctx
                .client
                .request(Method::GET, "thumbnail", &[("id", &fixtures.image.id)])
                .header("if-none-match", &etag);
            let raw = ctx.send(format!("GET thumbnail?id={} with If-None-Match", fixtures.image.id), request).await?;
            if raw.status.as_u16() != 304 {
                ctx.contract(format!("{}: expected 304 Not Modified (C12), got {}", raw.what, raw.describe()));
            }
        }
        _ => ctx.contract(format!("{}: no ETag on a thumbnail (C12)", thumbnail.what)),
    }
    Ok(())
}

/// `Content-Disposition: attachment` whose `filename*` is the item's title (C11, RFC 6266).
pub(super) async fn content_disposition(ctx: &mut Ctx) -> Step {
    let fixtures = ctx.fixtures()?;
    let raw = ctx.call(Method::GET, "download", &[("id", &fixtures.text.id)]).await?;
    ctx.expect_success(&raw)?;
    let Some(header) = raw.header("content-disposition").map(str::to_owned) else {
        ctx.contract(format!("{}: no Content-Disposition (C11)", raw.what));
        return Ok(());
    };
    let (disposition, params) = parse_content_disposition(&header);
    if disposition != "attachment" {
        ctx.contract(format!("{}: Content-Disposition is {disposition:?}, expected attachment (C11)", raw.what));
    }
    let extended = params.iter().find(|(name, _)| name == "filename*").map(|(_, v)| v.clone());
    match extended.as_deref().map(decode_ext_value) {
        Some(Some(name)) if name == fixtures.text.title => {}
        Some(Some(name)) => {
            ctx.contract(format!(
                "{}: filename* decodes to {name:?}, the title is {:?}",
                raw.what, fixtures.text.title
            ));
        }
        Some(None) => ctx.contract(format!("{}: filename* in {header:?} is not a valid RFC 8187 value", raw.what)),
        None => {
            ctx.contract(format!("{}: {header:?} has no filename* for the non-ASCII title (C11, RFC 6266)", raw.what))
        }
    }
    if !params.iter().any(|(name, _)| name == "filename") {
        ctx.contract(format!("{}: {header:?} has no ASCII filename fallback", raw.what));
    }
    Ok(())
}
