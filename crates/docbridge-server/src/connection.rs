//! Serving connections (HTTP/1.1, and HTTP/2 when TLS negotiates it) with the timeouts that keep
//! slow and silent clients from holding them: a request head must arrive whole within
//! `header_read`, and a connection with no request in progress is closed after `idle`.
//!
//! `axum::serve` sets no timer, so hyper applies neither; hyper's own `header_read_timeout`
//! would also bound the keep-alive wait between HTTP/1.1 requests (it starts as soon as the
//! previous answer is sent) and HTTP/2 has no idle timeout at all. So each connection has a
//! small watchdog instead: the socket reports the bytes it reads, the service reports requests
//! starting and their answers ending, and the watchdog closes the connection once the phase it
//! is in has lasted too long. A request in progress is never cut by these timeouts: its time is
//! bounded by `http.request_timeout_secs` and, for uploads, by the minimum upload rate.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, Version};
use axum::serve::Listener;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{Notify, mpsc, watch};
use tokio::time::Instant;
use tower::ServiceExt;

/// How long a client may keep a connection without making progress (`[http]` settings).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// From a connection's start, or the first byte of a further request on it, until the
    /// request's head (request line and headers) has arrived whole.
    pub header_read: Duration,
    /// How long a connection with no request in progress stays open.
    pub idle: Duration,
    /// The slowest an upload's bytes may arrive; `None` accepts any pace.
    pub min_upload_rate: Option<MinRate>,
}

impl Default for Timeouts {
    /// The defaults of `default-config.toml`.
    fn default() -> Self {
        Timeouts {
            header_read: Duration::from_secs(30),
            idle: Duration::from_secs(75),
            min_upload_rate: Some(MinRate { bytes_per_sec: 1024, window: Duration::from_secs(30) }),
        }
    }
}

/// A minimum rate: at least `bytes_per_sec` on average over every `window` spent waiting for
/// the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinRate {
    pub bytes_per_sec: u64,
    pub window: Duration,
}

impl MinRate {
    /// The bytes one window must bring.
    pub fn bytes_per_window(&self) -> u64 {
        u64::try_from(u128::from(self.bytes_per_sec) * self.window.as_millis() / 1000).unwrap_or(u64::MAX)
    }
}

/// Serves `app` on every connection `listener` accepts until `shutdown` resolves; then stops
/// accepting, lets requests in flight finish, closes idle connections, and returns once every
/// connection has ended.
pub(crate) async fn serve<L>(
    mut listener: L,
    app: Router,
    timeouts: Timeouts,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
{
    let (stop_tx, stop_rx) = watch::channel(());
    // Every connection task holds a sender: `recv` returns `None` once all have ended.
    let (open_tx, mut open_rx) = mpsc::channel::<()>(1);
    let mut shutdown = pin!(shutdown);
    loop {
        let (io, address) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        tokio::spawn(connection(io, address, app.clone(), timeouts, stop_rx.clone(), open_tx.clone()));
    }
    // New connections are refused from here on (the TLS listener also stops its handshakes).
    drop(listener);
    drop(stop_rx);
    drop(stop_tx);
    drop(open_tx);
    let _ = open_rx.recv().await;
    Ok(())
}

/// One connection, from accept to close.
async fn connection<I>(
    io: I,
    address: SocketAddr,
    app: Router,
    timeouts: Timeouts,
    mut stop: watch::Receiver<()>,
    _open: mpsc::Sender<()>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Arc::new(Activity::new(timeouts));
    let io = TokioIo::new(Watched { inner: io, activity: activity.clone() });
    let service = hyper::service::service_fn({
        let activity = activity.clone();
        move |mut request: Request<hyper::body::Incoming>| {
            // What axum's `into_make_service_with_connect_info` would add: the per-address
            // limits need the client's address.
            request.extensions_mut().insert(ConnectInfo(address));
            let busy = Activity::begin(&activity, request.version());
            let app = app.clone();
            async move {
                let response = app.oneshot(request.map(Body::new)).await?;
                // The request is in progress until its answer has been sent whole (or dropped).
                Ok::<_, Infallible>(response.map(|body| Body::new(Tracked { body, _busy: busy })))
            }
        }
    });
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // Explicitly none: the watchdog below does it, without cutting the keep-alive wait short.
    builder.http1().header_read_timeout(None);
    let mut conn = pin!(builder.serve_connection(io, service));
    let mut closing = false;
    loop {
        let deadline = activity.deadline();
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, %address, "connection ended with an error");
                }
                return;
            }
            changed = stop.changed(), if !closing => {
                // Shutting down (`changed` fails once the server drops the sender): idle
                // connections close now, busy ones after their answer.
                let _ = changed;
                conn.as_mut().graceful_shutdown();
                closing = true;
            }
            () = activity.changed.notified() => {}
            () = sleep_until(deadline) => match activity.expired(Instant::now()) {
                Some(Expired::Head) => {
                    tracing::debug!(%address, "closing a connection whose request head did not arrive in time");
                    return;
                }
                Some(Expired::Idle) if !closing => {
                    // An idle HTTP/1.1 connection closes at once; HTTP/2 sends GOAWAY and closes
                    // once the client has seen it, which gets one more idle period.
                    tracing::debug!(%address, "closing an idle connection");
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                    activity.rest();
                }
                // Still open an idle period after a graceful close began: the client had its chance.
                Some(Expired::Idle) => return,
                None => {}
            },
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// What one connection is doing, as the watchdog sees it.
struct Activity {
    timeouts: Timeouts,
    state: Mutex<State>,
    /// Wakes the watchdog when its deadline moves.
    changed: Notify,
}

struct State {
    requests: usize,
    phase: Phase,
    /// HTTP/2: its control frames (pings, window updates, settings) arrive between requests, so
    /// bytes read while idle do not start a request head there.
    multiplexed: bool,
}

#[derive(Debug, Clone, Copy)]
enum Phase {
    /// Waiting for a request head whose wait started then.
    Head(Instant),
    /// No request in progress since then, and nothing read since.
    Idle(Instant),
    /// At least one request in progress.
    Busy,
}

enum Expired {
    Head,
    Idle,
}

impl Activity {
    fn new(timeouts: Timeouts) -> Self {
        Activity {
            timeouts,
            state: Mutex::new(State { requests: 0, phase: Phase::Head(Instant::now()), multiplexed: false }),
            changed: Notify::new(),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Bytes arrived: on an idle HTTP/1.1 connection they are the start of the next head.
    fn read(&self) {
        let mut state = self.state();
        if matches!(state.phase, Phase::Idle(_)) && !state.multiplexed {
            state.phase = Phase::Head(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// A request's head has arrived; it is in progress until the returned guard drops.
    fn begin(this: &Arc<Self>, version: Version) -> Busy {
        let mut state = this.state();
        state.requests += 1;
        state.phase = Phase::Busy;
        state.multiplexed |= version == Version::HTTP_2;
        drop(state);
        this.changed.notify_one();
        Busy(this.clone())
    }

    fn end(&self) {
        let mut state = self.state();
        state.requests = state.requests.saturating_sub(1);
        if state.requests == 0 {
            state.phase = Phase::Idle(Instant::now());
            drop(state);
            self.changed.notify_one();
        }
    }

    /// Starts the idle period again, if idle.
    fn rest(&self) {
        let mut state = self.state();
        if matches!(state.phase, Phase::Idle(_)) {
            state.phase = Phase::Idle(Instant::now());
        }
    }

    fn deadline(&self) -> Option<Instant> {
        match self.state().phase {
            Phase::Head(since) => Some(since + self.timeouts.header_read),
            Phase::Idle(since) => Some(since + self.timeouts.idle),
            Phase::Busy => None,
        }
    }

    fn expired(&self, now: Instant) -> Option<Expired> {
        match self.state().phase {
            Phase::Head(since) if now >= since + self.timeouts.header_read => Some(Expired::Head),
            Phase::Idle(since) if now >= since + self.timeouts.idle => Some(Expired::Idle),
            _ => None,
        }
    }
}

/// A request in progress, until dropped.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.end();
    }
}

/// An answer's body that keeps its request in progress until it has been sent or dropped.
struct Tracked {
    body: Body,
    _busy: Busy,
}

impl http_body::Body for Tracked {
    type Data = bytes::Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The socket, reporting the bytes it reads to the watchdog.
struct Watched<I> {
    inner: I,
    activity: Arc<Activity>,
}

impl<I: AsyncRead + Unpin> AsyncRead for Watched<I> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.read();
        }
        polled
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for Watched<I> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_needs_its_share_of_bytes() {
        let rate = MinRate { bytes_per_sec: 1024, window: Duration::from_secs(30) };
        assert_eq!(rate.bytes_per_window(), 30 * 1024);
        let rate = MinRate { bytes_per_sec: 100, window: Duration::from_millis(1500) };
        assert_eq!(rate.bytes_per_window(), 150);
        let rate = MinRate { bytes_per_sec: u64::MAX, window: Duration::from_secs(u64::MAX / 1000) };
        assert_eq!(rate.bytes_per_window(), u64::MAX);
    }
}
