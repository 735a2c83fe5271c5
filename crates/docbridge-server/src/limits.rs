//! Limits that keep one caller from starving the others: concurrent uploads per integration and
//! failed authentications per client address (C20: 429 with `Retry-After`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

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
