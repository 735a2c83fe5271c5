//! Limits that keep one caller from starving the others: concurrent uploads per integration,
//! failed authentications per client address (C20: 429 with `Retry-After`), and the slowest an
//! upload's bytes may arrive.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::connection::MinRate;
use crate::error::ApiError;

/// How long a client that hit a limit is told to wait before retrying uploads.
const UPLOAD_RETRY_AFTER_SECS: u64 = 5;

#[derive(Debug)]
pub struct Limits {
    max_uploads: usize,
    uploads: Mutex<HashMap<i64, Arc<Semaphore>>>,
    max_failures: u32,
    window: Duration,
    /// Keyed by address and integration: Workfront calls every customer's provider from shared
    /// addresses, so one tenant's wrong key must not lock out another's.
    failures: Mutex<HashMap<(IpAddr, i64), (Instant, u32)>>,
}

impl Limits {
    pub fn new(max_concurrent_uploads: usize, max_auth_failures: u32, window: Duration) -> Self {
        Limits {
            max_uploads: max_concurrent_uploads.max(1),
            uploads: Mutex::default(),
            max_failures: max_auth_failures.max(1),
            window,
            failures: Mutex::default(),
        }
    }

    /// A slot for one upload into an integration, held until the permit is dropped.
    pub fn upload_slot(&self, integration_id: i64) -> Result<OwnedSemaphorePermit, ApiError> {
        let semaphore = self
            .uploads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(integration_id)
            .or_insert_with(|| Arc::new(Semaphore::new(self.max_uploads)))
            .clone();
        semaphore.try_acquire_owned().map_err(|_| {
            ApiError::too_many_requests(
                format!(
                    "too many uploads in progress for this integration (at most {}); retry shortly",
                    self.max_uploads
                ),
                UPLOAD_RETRY_AFTER_SECS,
            )
        })
    }

    /// Refuses an address that has failed authentication to an integration too often within
    /// the window.
    pub fn check_address(&self, address: Option<IpAddr>, integration_id: i64) -> Result<(), ApiError> {
        let Some(address) = address else { return Ok(()) };
        let failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((start, count)) = failures.get(&(address, integration_id)) {
            let elapsed = start.elapsed();
            if elapsed < self.window && *count >= self.max_failures {
                let wait = (self.window - elapsed).as_secs().max(1);
                return Err(ApiError::too_many_requests(
                    "too many failed authentications from this address; retry later",
                    wait,
                ));
            }
        }
        Ok(())
    }

    /// Counts a failed authentication from an address to an integration.
    pub fn record_failure(&self, address: Option<IpAddr>, integration_id: i64) {
        let Some(address) = address else { return };
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Forget windows that have passed, so the map stays as small as the set of recent offenders.
        let window = self.window;
        failures.retain(|_, (start, _)| start.elapsed() < window);
        let entry = failures.entry((address, integration_id)).or_insert((Instant::now(), 0));
        entry.1 += 1;
    }
}

/// An upload's bytes, failing with `TimedOut` when a window of `rate.window` spent waiting for the
/// client brought fewer than `rate.bytes_per_window()` bytes, and saying so through the flag
/// handed to [`TooSlow::new`] (the storage layer turns any source error into one of its own).
///
/// Only time spent waiting for the client counts: while the storage is busy (an S3 part being
/// sent, a file synced) the stream is not polled, and the client is not to blame for that.
pub struct TooSlow<S> {
    inner: S,
    rate: MinRate,
    tripped: Arc<AtomicBool>,
    /// Bytes received in the current window.
    received: u64,
    /// Waiting time of the current window, not counting a wait still in progress.
    waited: Duration,
    /// When the wait in progress, if any, began.
    waiting_since: Option<tokio::time::Instant>,
    timer: Pin<Box<tokio::time::Sleep>>,
}

impl<S> TooSlow<S> {
    pub fn new(inner: S, rate: MinRate, tripped: Arc<AtomicBool>) -> Self {
        TooSlow {
            inner,
            rate,
            tripped,
            received: 0,
            waited: Duration::ZERO,
            waiting_since: None,
            timer: Box::pin(tokio::time::sleep(rate.window)),
        }
    }

    /// Ends the current window if it has lasted long enough: an error when it brought too little.
    fn check(&mut self, now: tokio::time::Instant) -> io::Result<()> {
        let waiting = self.waiting_since.map_or(Duration::ZERO, |since| now.saturating_duration_since(since));
        if self.waited + waiting < self.rate.window {
            return Ok(());
        }
        if self.received < self.rate.bytes_per_window() {
            self.tripped.store(true, Ordering::Relaxed);
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "the upload's bytes arrived slower than {} bytes per second over {} s",
                    self.rate.bytes_per_sec,
                    self.rate.window.as_secs_f64()
                ),
            ));
        }
        self.received = 0;
        self.waited = Duration::ZERO;
        self.waiting_since = self.waiting_since.map(|_| now);
        Ok(())
    }
}

impl<S: Stream<Item = io::Result<Bytes>> + Unpin> Stream for TooSlow<S> {
    type Item = io::Result<Bytes>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_next(cx) {
            Poll::Ready(item) => {
                let now = tokio::time::Instant::now();
                if let Some(since) = this.waiting_since.take() {
                    this.waited += now.saturating_duration_since(since);
                }
                if let Some(Ok(chunk)) = &item {
                    this.received = this.received.saturating_add(chunk.len() as u64);
                    if let Err(e) = this.check(now) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                Poll::Ready(item)
            }
            Poll::Pending => loop {
                let now = tokio::time::Instant::now();
                let since = *this.waiting_since.get_or_insert(now);
                if let Err(e) = this.check(now) {
                    return Poll::Ready(Some(Err(e)));
                }
                // `check` may have started a new window: read the wait's start again.
                let since = this.waiting_since.unwrap_or(since);
                let deadline = since + this.rate.window.saturating_sub(this.waited);
                this.timer.as_mut().reset(deadline);
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::response::IntoResponse;

    #[test]
    fn upload_slots_are_bounded_and_released() {
        let limits = Limits::new(2, 5, Duration::from_secs(60));
        let a = limits.upload_slot(1).unwrap();
        let _b = limits.upload_slot(1).unwrap();
        let refused = limits.upload_slot(1).unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(limits.upload_slot(2).is_ok(), "another integration has its own slots");
        drop(a);
        assert!(limits.upload_slot(1).is_ok());
    }

    fn slow_stream(
        rate: MinRate,
    ) -> (
        futures::channel::mpsc::UnboundedSender<io::Result<Bytes>>,
        TooSlow<impl Stream<Item = io::Result<Bytes>> + Unpin>,
        Arc<AtomicBool>,
    ) {
        let (tx, rx) = futures::channel::mpsc::unbounded();
        let tripped = Arc::new(AtomicBool::new(false));
        (tx, TooSlow::new(rx, rate, tripped.clone()), tripped)
    }

    #[tokio::test]
    async fn uploads_slower_than_the_minimum_rate_fail() {
        use futures::StreamExt;
        let rate = MinRate { bytes_per_sec: 10, window: Duration::from_secs(1) };
        // One byte, then nothing: the window of 1 s brings 1 byte of the 10 it needs.
        let (tx, mut slow, tripped) = slow_stream(rate);
        tx.unbounded_send(Ok(Bytes::from_static(b"a"))).unwrap();
        assert_eq!(slow.next().await.unwrap().unwrap(), "a");
        let error = slow.next().await.unwrap().unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::TimedOut);
        assert!(tripped.load(Ordering::Relaxed));

        // A sender that says nothing at all fails as well: the timer, not a chunk, ends the window.
        let (_tx, mut silent, tripped) = slow_stream(rate);
        assert_eq!(silent.next().await.unwrap().unwrap_err().kind(), io::ErrorKind::TimedOut);
        assert!(tripped.load(Ordering::Relaxed));
    }

    #[tokio::test]
    async fn uploads_above_the_minimum_rate_pass_whole() {
        use futures::StreamExt;
        let rate = MinRate { bytes_per_sec: 10, window: Duration::from_secs(1) };
        let (tx, mut steady, tripped) = slow_stream(rate);
        let sender = tokio::spawn(async move {
            // 10 bytes every 50 ms, twenty times the minimum, for more than a window.
            for _ in 0..30 {
                tokio::time::sleep(Duration::from_millis(50)).await;
                tx.unbounded_send(Ok(Bytes::from(vec![b'x'; 10]))).unwrap();
            }
        });
        let mut total = 0;
        while let Some(chunk) = steady.next().await {
            total += chunk.unwrap().len();
        }
        sender.await.unwrap();
        assert_eq!(total, 300);
        assert!(!tripped.load(Ordering::Relaxed));
    }

    #[test]
    fn failures_lock_out_one_address_only() {
        let limits = Limits::new(1, 3, Duration::from_secs(60));
        let bad: IpAddr = "127.0.0.2".parse().unwrap();
        let good: IpAddr = "127.0.0.3".parse().unwrap();
        for _ in 0..3 {
            assert!(limits.check_address(Some(bad), 1).is_ok());
            limits.record_failure(Some(bad), 1);
        }
        let refused = limits.check_address(Some(bad), 1).unwrap_err();
        assert_eq!(refused.status, axum::http::StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.into_response().headers().contains_key("retry-after"));
        assert!(
            limits.check_address(Some(bad), 2).is_ok(),
            "another integration from the same address is not locked out"
        );
        assert!(limits.check_address(Some(good), 1).is_ok());
        assert!(limits.check_address(None, 1).is_ok());
    }
}
