//! `/thumbnail` (C12): rendered once per item version and width, then served from a disk cache.
//!
//! Rendering is the one thing here that can take much CPU and memory, so it is bounded across
//! the process by [`ThumbnailLimits`]: at most `max_concurrent` renders run at once (a request
//! waits `queue_wait` for a turn, then gets [`DocumentsError::Busy`]); concurrent requests for
//! the same item version and width share one render; and each render gives up at its deadline.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use docbridge_protocol::{ItemId, ItemKind};
use docbridge_registry::ItemRecord;
use tokio::sync::{OnceCell, Semaphore};

use crate::thumbnail::{JPEG, PNG, RENDER_DEADLINE, ThumbnailSource, render_thumbnail_until};
use crate::{Caller, DocumentsError, Library, Result};

/// A thumbnail ready to send.
#[derive(Debug, Clone)]
pub struct CachedThumbnail {
    /// The encoded image.
    pub bytes: Vec<u8>,
    /// `image/png` or `image/jpeg`.
    pub content_type: &'static str,
    /// Changes with the item's content and the width: a strong validator.
    pub etag: String,
}

/// What identifies one render: integration, item, version, width.
type FlightKey = (i64, String, String, u32);

/// One render that concurrent requests wait on together.
#[derive(Default)]
struct Flight {
    result: OnceCell<CachedThumbnail>,
}

/// The process-wide bounds on thumbnail rendering. Clones share them, so every library of a
/// process must be given clones of one value (as [`crate::LibrarySettings`] is shared).
#[derive(Clone)]
pub struct ThumbnailLimits {
    inner: Arc<LimitsInner>,
}

struct LimitsInner {
    slots: Arc<Semaphore>,
    max_concurrent: usize,
    queue_wait: Duration,
    deadline: Duration,
    flights: Mutex<HashMap<FlightKey, Arc<Flight>>>,
    /// Requests that missed the disk cache and are waiting for, or doing, a render.
    waiting: AtomicUsize,
    /// Renders started since the process began.
    renders: AtomicU64,
}

impl ThumbnailLimits {
    /// At most `max_concurrent` renders at once (0: one per core); a request waits at most
    /// `queue_wait` for one to end; a render gives up after `deadline`.
    pub fn new(max_concurrent: usize, queue_wait: Duration, deadline: Duration) -> Self {
        let max_concurrent = if max_concurrent == 0 {
            std::thread::available_parallelism().map_or(1, |cores| cores.get())
        } else {
            max_concurrent
        };
        ThumbnailLimits {
            inner: Arc::new(LimitsInner {
                slots: Arc::new(Semaphore::new(max_concurrent)),
                max_concurrent,
                queue_wait,
                deadline,
                flights: Mutex::new(HashMap::new()),
                waiting: AtomicUsize::new(0),
                renders: AtomicU64::new(0),
            }),
        }
    }

    /// Renders that may run at once.
    pub fn max_concurrent(&self) -> usize {
        self.inner.max_concurrent
    }

    /// Requests that found no cached thumbnail and are waiting for a render, theirs or one they
    /// share.
    pub fn waiting(&self) -> usize {
        self.inner.waiting.load(Ordering::Acquire)
    }

    /// Renders started so far (shared renders count once).
    pub fn renders(&self) -> u64 {
        self.inner.renders.load(Ordering::Acquire)
    }

    /// Joins the render of `key`, starting its record if none is in flight.
    fn join(&self, key: FlightKey) -> FlightGuard {
        let mut flights = self.inner.flights.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let flight = flights.entry(key.clone()).or_default().clone();
        self.inner.waiting.fetch_add(1, Ordering::AcqRel);
        FlightGuard { limits: self.clone(), key, flight }
    }
}

impl Default for ThumbnailLimits {
    fn default() -> Self {
        ThumbnailLimits::new(0, Duration::from_secs(10), RENDER_DEADLINE)
    }
}

impl std::fmt::Debug for ThumbnailLimits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThumbnailLimits")
            .field("max_concurrent", &self.inner.max_concurrent)
            .field("queue_wait", &self.inner.queue_wait)
            .field("deadline", &self.inner.deadline)
            .finish()
    }
}

/// A request's membership of a flight; the last member to leave removes it, so that a later
/// request (after the item changed, or after a failure) renders afresh.
struct FlightGuard {
    limits: ThumbnailLimits,
    key: FlightKey,
    flight: Arc<Flight>,
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        let inner = &self.limits.inner;
        inner.waiting.fetch_sub(1, Ordering::AcqRel);
        let mut flights = inner.flights.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        // Clones are made only under this lock: two owners are the map and this guard.
        if Arc::strong_count(&self.flight) == 2 {
            flights.remove(&self.key);
        }
    }
}

impl Library {
    fn cache_path(&self, record: &ItemRecord, width: u32) -> PathBuf {
        // IDs are URL-safe and versions are digits and dashes: safe as file names.
        self.settings.cache_dir.join("thumbnails").join(self.integration_id.to_string()).join(format!(
            "{}-{}-{width}",
            record.id,
            record.version()
        ))
    }

    /// The thumbnail of an item at `width` pixels. [`DocumentsError::Busy`] when no render slot
    /// came free within the configured wait.
    pub async fn thumbnail(&self, caller: &Caller, id: &ItemId, width: u32) -> Result<CachedThumbnail> {
        match self.thumbnail_at_resolved_path(caller, id, width).await {
            // The file was moved (a rename, a move action, another process) between resolving
            // its ID and reading it, which waiting for a render slot makes likelier: look it up
            // again, once, as `/metadata` does. An item that is really gone is a 404 again.
            Err(DocumentsError::NotFound(_)) => self.thumbnail_at_resolved_path(caller, id, width).await,
            other => other,
        }
    }

    async fn thumbnail_at_resolved_path(&self, caller: &Caller, id: &ItemId, width: u32) -> Result<CachedThumbnail> {
        let view = self.metadata(caller, id).await?;
        let record = view.record;
        let etag = format!("\"{}-{}-{width}\"", record.id, record.version());
        let cache = self.cache_path(&record, width);
        if let Some(cached) = read_cached(&cache, &etag).await {
            return Ok(cached);
        }
        let limits = &self.settings.thumbnails;
        let guard = limits.join((self.integration_id, record.id.to_string(), record.version(), width));
        let thumbnail = guard
            .flight
            .result
            .get_or_try_init(|| async {
                // A render that just ended for this key may have been cached by a request that
                // came before this flight existed.
                if let Some(cached) = read_cached(&cache, &etag).await {
                    return Ok(cached);
                }
                self.render(&record, &view.mime_type, width, &cache, etag.clone()).await
            })
            .await?
            .clone();
        drop(guard);
        Ok(thumbnail)
    }

    /// Renders and caches one thumbnail, in a render slot.
    async fn render(
        &self,
        record: &ItemRecord,
        mime: &str,
        width: u32,
        cache: &std::path::Path,
        etag: String,
    ) -> Result<CachedThumbnail> {
        let limits = &self.settings.thumbnails.inner;
        // Taken before reading the file: its bytes are part of what the slot bounds.
        let slot = tokio::time::timeout(limits.queue_wait, limits.slots.clone().acquire_owned())
            .await
            .map_err(|_| DocumentsError::Busy { retry_after_secs: limits.deadline.as_secs().max(1) })?
            .map_err(|_| DocumentsError::Internal("thumbnail slots closed".into()))?;
        limits.renders.fetch_add(1, Ordering::AcqRel);
        let deadline = Instant::now() + limits.deadline;
        let bytes = match record.kind {
            ItemKind::File if record.size <= self.settings.max_thumbnail_source_bytes => {
                self.read_head(record, record.size).await?
            }
            _ => Vec::new(),
        };
        let (kind, name, mime) = (record.kind, record.name.clone(), mime.to_owned());
        let thumbnail = tokio::task::spawn_blocking(move || {
            // The slot stays taken until the render really ends, even if the request is gone.
            let _slot = slot;
            let source = match kind {
                ItemKind::Folder => ThumbnailSource::Folder,
                ItemKind::File => ThumbnailSource::File { name: &name, mime: &mime, bytes: &bytes },
            };
            render_thumbnail_until(source, width, deadline)
        })
        .await
        .map_err(|e| DocumentsError::Internal(format!("thumbnail rendering panicked: {e}")))?;
        let ext = if thumbnail.content_type == PNG { "png" } else { "jpg" };
        if let Err(e) = write_atomically(&cache.with_extension(ext), &thumbnail.bytes).await {
            // A cache that cannot be written only costs speed.
            tracing::warn!(error = %e, "could not cache a thumbnail");
        }
        Ok(CachedThumbnail { bytes: thumbnail.bytes, content_type: thumbnail.content_type, etag })
    }
}

async fn read_cached(cache: &std::path::Path, etag: &str) -> Option<CachedThumbnail> {
    for (ext, content_type) in [("png", PNG), ("jpg", JPEG)] {
        if let Ok(bytes) = tokio::fs::read(cache.with_extension(ext)).await {
            return Some(CachedThumbnail { bytes, content_type, etag: etag.to_owned() });
        }
    }
    None
}

async fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("cache path has no parent"))?;
    tokio::fs::create_dir_all(dir).await?;
    let tmp = dir.join(format!(".tmp-{}", docbridge_registry::random_id()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}
