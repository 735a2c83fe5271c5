//! The docbridge server: configuration, the axum router over any storage, and start-up.
//!
//! [`router`] is a plain function of an [`AppState`], so another program can serve its own
//! document store through docbridge by handing in its own [`StorageFactory`] (see
//! `examples/custom_store.rs`). The `docbridge` binary (`main.rs`) adds the command line.

pub mod acme;
mod admin_api;
mod admin_page;
pub mod config;
mod connection;
pub mod data_dir;
mod error;
mod html;
mod limits;
mod links;
mod metrics;
pub mod oauth;
pub mod openapi;
mod params;
pub mod roots;
mod route_group;
pub mod setup;
pub mod state;
pub mod threads;
pub mod tls;
mod webhooks;

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

pub use connection::{MinRate, Timeouts};
pub use error::{ApiError, Vocabulary, error_chain};
pub use limits::{ForwardedHeader, Limits, LiveLimits, TrustedProxies, UploadSlot};
pub use metrics::{PublicMetrics, router as metrics_router};
pub use state::{AppState, BuiltinStorage, ServerSettings, StorageFactory};

/// Every route docbridge serves.
pub fn router(state: AppState) -> Router {
    let request_id = axum::http::HeaderName::from_static("x-request-id");
    Router::new()
        .route("/webhooks/{slug}/{endpoint}", any(webhooks::dispatch))
        .merge(split().0)
        .merge(admin_api::routes())
        .fallback(|| async { ApiError::not_found("no such endpoint").into_response() })
        .method_not_allowed_fallback(|method: axum::http::Method| async move {
            ApiError::new(StatusCode::METHOD_NOT_ALLOWED, format!("{method} is not allowed here")).into_response()
        })
        .merge(admin_page::routes())
        .merge(metrics::routes())
        .merge(oauth::routes())
        .merge(openapi::routes())
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            ApiError::internal("a handler panicked").into_response()
        }))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &Request<_>| {
            let id = request.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("-");
            // Only the path: query strings carry signatures and IDs, not for logs.
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        }))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
        .with_state(state)
}

/// The signed links' and the operations endpoints' routes with their OpenAPI description,
/// declared together (utoipa-axum), as the admin API's and page's are.
fn split() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    use utoipa_axum::routes;
    let operations = utoipa_axum::router::OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(doctor_nonce));
    let group = route_group::RouteGroup { tag: "operations", id_prefix: "", security: None };
    let (router, mut api) = group.split(operations, |_, _| ());
    let (links, links_api) = links::split();
    api.merge(links_api);
    (router.merge(links), api)
}

/// The paths of [`split`], for `/openapi.json`.
pub(crate) fn declared_openapi() -> utoipa::openapi::OpenApi {
    split().1
}

/// The process answers
#[utoipa::path(get, path = "/healthz",
    responses((status = 200, description = "ok", content_type = "text/plain", body = String)))]
async fn healthz() -> &'static str {
    "ok"
}

/// `/readyz`: 200 when the database and the default library's storage answer (C25). With
/// automatic HTTPS, a second line tells the certificate's expiry and any failing renewal (still
/// 200 while a certificate is served: the process is ready, the line is for the operator).
#[utoipa::path(
    get,
    path = "/readyz",
    summary = "The database and every enabled integration's storage answer",
    responses(
        (status = 200, description = "ready", content_type = "text/plain", body = String),
        (status = 503, description = "What is not ready", content_type = "text/plain", body = String)
    )
)]
async fn readyz(State(state): State<AppState>) -> Response {
    if let Err(e) = state.registry.check().await {
        tracing::warn!(error = %e, "database not ready");
        return (StatusCode::SERVICE_UNAVAILABLE, "database unavailable").into_response();
    }
    match state.registry.integrations().await {
        Ok(integrations) => {
            for integration in integrations.iter().filter(|i| i.enabled) {
                let ready = match state.library(integration) {
                    Ok(library) => library.storage().check().await.is_ok(),
                    Err(_) => false,
                };
                if !ready {
                    return (StatusCode::SERVICE_UNAVAILABLE, format!("storage of {} unavailable", integration.slug))
                        .into_response();
                }
            }
            match state.acme() {
                Some(acme) => format!("ready\nacme: {}\n", acme.status().describe()).into_response(),
                None => "ready".into_response(),
            }
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// The registry setting holding the nonce `docbridge doctor` last sent through the public URL.
pub const DOCTOR_NONCE: &str = "doctor.nonce";

/// 200 only for the nonce `docbridge doctor` has just stored in this process's registry, so that
/// doctor knows its request through the public URL reached a docbridge on its own database (not
/// another one, nor a proxy pointing elsewhere). It compares with that one value in constant time
/// and answers nothing else: there is nothing to probe. Anything not shaped like a nonce (43
/// base64url characters) is turned away before the database is asked.
#[utoipa::path(
    get,
    path = "/.well-known/docbridge-doctor/{nonce}",
    summary = "Whether the nonce is the one `docbridge doctor` just stored in this server's database",
    params(("nonce" = String, Path, description = "The nonce doctor sent through the public URL")),
    responses(
        (status = 200, description = "docbridge", content_type = "text/plain", body = String),
        (status = 404, description = "Not the current nonce", content_type = "text/plain", body = String)
    )
)]
async fn doctor_nonce(
    State(state): State<AppState>,
    axum::extract::Path(nonce): axum::extract::Path<String>,
) -> Response {
    let shaped = nonce.len() == 43 && nonce.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !shaped {
        return (StatusCode::NOT_FOUND, "unknown nonce").into_response();
    }
    match state.registry.setting(DOCTOR_NONCE).await {
        Ok(Some(expected)) if docbridge_auth::secrets_equal(&expected, &nonce) => "docbridge".into_response(),
        Ok(_) => (StatusCode::NOT_FOUND, "unknown nonce").into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// Serves `app` on `listener` until `shutdown` resolves, then finishes requests in flight, with
/// the default [`Timeouts`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    serve_with(listener, app, Timeouts::default(), shutdown).await
}

/// [`serve`] with the given header-read and idle timeouts (`timeouts.min_upload_rate` is the
/// router's business: `ServerSettings::timeouts`). Accepted sockets get `TCP_NODELAY`: without
/// it small answers stall on delayed ACKs.
pub async fn serve_with(
    listener: impl TcpListen,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::warn!(error = %e, "could not set TCP_NODELAY");
        }
    });
    connection::serve(listener, app, timeouts, shutdown).await
}

/// What the serving functions accept connections from: a [`tokio::net::TcpListener`], or a
/// serving thread's share of one ([`threads::Handoff`]).
pub trait TcpListen: axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr> {}

impl<L: axum::serve::Listener<Io = tokio::net::TcpStream, Addr = std::net::SocketAddr>> TcpListen for L {}

/// Runs each library's upkeep (rescan, content indexing, expired reservations and trash)
/// every `interval`, starting at once so that a library copied in before the first start is
/// searchable.
pub fn spawn_maintenance(state: AppState, interval: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval.max(Duration::from_secs(1)));
        loop {
            ticker.tick().await;
            let integrations = match state.registry.integrations().await {
                Ok(integrations) => integrations,
                Err(e) => {
                    tracing::warn!(error = %e, "maintenance: listing integrations");
                    continue;
                }
            };
            for integration in integrations {
                let library = match state.library(&integration) {
                    Ok(library) => library,
                    Err(e) => {
                        tracing::warn!(error = %e, integration = %integration.slug, "maintenance: opening library");
                        continue;
                    }
                };
                match library.maintain(true).await {
                    Ok(report) => tracing::debug!(integration = %integration.slug, ?report, "maintenance done"),
                    Err(e) => tracing::warn!(error = %e, integration = %integration.slug, "maintenance failed"),
                }
            }
        }
    })
}
