//! `/metrics` in Prometheus text format (C25): requests by endpoint and status, latency
//! histograms, body bytes in and out, and uploads in progress.
//!
//! The recorder is process-wide (the `metrics` facade has one global recorder), installed by the
//! first router built; every router of the process reports into it. A program that embeds
//! docbridge and installed its own recorder first keeps it: docbridge's measurements then go
//! there, and `/metrics` answers 404 because it has nothing of its own to show.
//!
//! Who may read it: [`routes`] puts `/metrics` on the public router, where [`PublicMetrics`] (an
//! [`AppState`] setting) opens it to all (a program embedding docbridge decides for itself), to
//! a bearer token, or to nobody, which is what the `docbridge` binary does unless `[metrics]
//! token` is set: it serves [`router`] on a listener of its own (`[metrics] listen`, loopback by
//! default) instead, since request counts by endpoint and status are not for the internet.
//!
//! Labels are bounded on purpose: the endpoint is one of the twelve protocol names or a route
//! pattern, never a raw path, so that a scan of random URLs cannot grow the series without limit.

use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use docbridge_protocol::Endpoint;
use metrics::{Counter, counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::state::AppState;

pub const REQUESTS: &str = "docbridge_http_requests_total";
pub const DURATION: &str = "docbridge_http_request_duration_seconds";
pub const BYTES_IN: &str = "docbridge_http_request_body_bytes_total";
pub const BYTES_OUT: &str = "docbridge_http_response_body_bytes_total";
pub const UPLOADS: &str = "docbridge_uploads_in_progress";

/// Latency buckets in seconds: from a cached listing (milliseconds) to a large upload (minutes).
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0];

/// The label of requests that matched no route.
const UNMATCHED: &str = "unmatched";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// The handle of docbridge's recorder, installing it on first use; `None` when the process
/// already had another recorder.
fn handle() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = match PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), LATENCY_BUCKETS)
            {
                Ok(builder) => builder,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics: bad histogram buckets; /metrics is off");
                    return None;
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::info!("metrics: the process already has a recorder; /metrics is off");
                return None;
            }
            describe();
            Some(handle)
        })
        .as_ref()
}

fn describe() {
    metrics::describe_counter!(REQUESTS, "HTTP requests answered, by endpoint, method and status");
    metrics::describe_histogram!(DURATION, metrics::Unit::Seconds, "Time from request to response head, by endpoint");
    metrics::describe_counter!(BYTES_IN, metrics::Unit::Bytes, "Request body bytes received, by endpoint");
    metrics::describe_counter!(BYTES_OUT, metrics::Unit::Bytes, "Response body bytes sent, by endpoint");
    metrics::describe_gauge!(UPLOADS, "Uploads whose bytes are streaming in");
    crate::acme::describe_metrics();
    // Shown from the start, so that a dashboard sees 0 rather than no data.
    gauge!(UPLOADS).set(0.0);
}

/// Who may read `/metrics` on the public router.
#[derive(Clone, Default)]
pub enum PublicMetrics {
    /// Anyone (the library's default; the `docbridge` binary never uses it).
    #[default]
    Open,
    /// Requests with `Authorization: Bearer <token>`, compared in constant time.
    Token(Arc<secrecy::SecretString>),
    /// Nobody: 404, naming where metrics are served instead.
    Off,
}

impl std::fmt::Debug for PublicMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PublicMetrics::Open => "Open",
            PublicMetrics::Token(_) => "Token(<redacted>)",
            PublicMetrics::Off => "Off",
        })
    }
}

/// The `/metrics` route of the public router, guarded by the state's [`PublicMetrics`].
pub fn routes() -> Router<AppState> {
    // Installing here too: a router that is built but never called still exposes its metrics.
    handle();
    Router::new().route("/metrics", get(public))
}

/// A router that serves only `/metrics`, to anyone who reaches it: for a listener of its own
/// (`[metrics] listen`). Its own requests are not counted.
pub fn router() -> Router {
    handle();
    Router::new()
        .route("/metrics", get(render))
        .fallback(|| async { crate::ApiError::not_found("only /metrics is served here").into_response() })
}

async fn public(State(state): State<AppState>, headers: HeaderMap) -> Response {
    match state.public_metrics() {
        PublicMetrics::Open => render().await,
        PublicMetrics::Off => crate::ApiError::not_found(
            "metrics are not served on this listener: scrape the metrics listener ([metrics] listen) or set [metrics] token",
        )
        .into_response(),
        PublicMetrics::Token(token) => {
            use secrecy::ExposeSecret;
            let given = headers
                .get(header::AUTHORIZATION)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")));
            match given {
                Some(given) if docbridge_auth::secrets_equal(given.trim(), token.expose_secret()) => render().await,
                _ => {
                    let mut response = crate::ApiError::new(
                        StatusCode::UNAUTHORIZED,
                        "missing or wrong metrics token (Authorization: Bearer <metrics.token>)",
                    )
                    .into_response();
                    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                    response
                }
            }
        }
    }
}

async fn render() -> Response {
    let Some(handle) = handle() else {
        return crate::ApiError::not_found("metrics are recorded by the embedding program's recorder").into_response();
    };
    // Drains histogram samples into their buckets so memory stays bounded between scrapes.
    handle.run_upkeep();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8"), (header::CACHE_CONTROL, "no-store")],
        handle.render(),
    )
        .into_response()
}

/// The middleware that measures every request (a `from_fn` layer in `router()`).
pub async fn track(request: Request, next: Next) -> Response {
    let endpoint = endpoint_label(&request);
    let method = method_label(request.method());
    let _upload = (endpoint == Endpoint::Upload.as_str()).then(UploadInProgress::start);
    let started = Instant::now();
    let bytes_in = counter!(BYTES_IN, "endpoint" => endpoint);
    let request = request.map(|body| Body::new(Counting { inner: body, bytes: bytes_in }));
    let response = next.run(request).await;
    // The response head is ready; for an upload that means its bytes have all arrived.
    histogram!(DURATION, "endpoint" => endpoint).record(started.elapsed().as_secs_f64());
    counter!(REQUESTS, "endpoint" => endpoint, "method" => method, "status" => response.status().as_u16().to_string())
        .increment(1);
    let bytes_out = counter!(BYTES_OUT, "endpoint" => endpoint);
    response.map(|body| Body::new(Counting { inner: body, bytes: bytes_out }))
}

/// One of the twelve protocol endpoint names for provider calls, else the route pattern.
fn endpoint_label(request: &Request) -> &'static str {
    let Some(matched) = request.extensions().get::<MatchedPath>() else { return UNMATCHED };
    if matched.as_str() == "/webhooks/{slug}/{endpoint}" {
        let name = request.uri().path().rsplit('/').next().unwrap_or_default();
        return name.parse::<Endpoint>().map_or("unknown", Endpoint::as_str);
    }
    intern(matched.as_str())
}

/// Route patterns as `'static` labels. The set is the router's routes, so it stays small.
fn intern(pattern: &str) -> &'static str {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static PATTERNS: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut patterns = PATTERNS.get_or_init(Mutex::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(known) = patterns.get(pattern) {
        return known;
    }
    let leaked: &'static str = Box::leak(pattern.to_owned().into_boxed_str());
    patterns.insert(leaked);
    leaked
}

fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// Counts an upload from its first byte to its answer; dropped when the request is cut, too.
struct UploadInProgress;

impl UploadInProgress {
    fn start() -> Self {
        gauge!(UPLOADS).increment(1.0);
        UploadInProgress
    }
}

impl Drop for UploadInProgress {
    fn drop(&mut self) {
        gauge!(UPLOADS).decrement(1.0);
    }
}

/// A body that adds the length of every data frame to a counter as it passes, keeping the
/// inner body's size hint (so `Content-Length` answers stay `Content-Length` answers).
struct Counting {
    inner: Body,
    bytes: Counter,
}

impl http_body::Body for Counting {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, axum::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
        {
            self.bytes.increment(data.len() as u64);
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::from_bytes(b"PROPFIND").unwrap()), "other");
    }

    #[test]
    fn unrouted_requests_share_one_label() {
        let request = Request::builder().uri("/anything/random").body(Body::empty()).unwrap();
        assert_eq!(endpoint_label(&request), UNMATCHED);
    }
}
