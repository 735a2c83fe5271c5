//! Streamed writes: one `PUT` for a file that fits in a part, a multipart upload otherwise, and
//! nothing visible until the upload is complete.

use std::collections::VecDeque;

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path as Key;
use object_store::{MultipartUpload, ObjectStoreExt, PutMode, PutPayload};
use tokio::task::JoinHandle;

use super::{Found, Inner, MAX_PARTS, Started, TEMP_DIR, backend, is_internal_root, seconds};
use crate::path::INTERNAL_DIR;
use crate::{ByteStream, Entry, EntryKind, Result, StorageError, StoragePath, WriteMode};

/// Writes `data` at `path` (see [`crate::Storage::write`]).
pub(super) async fn write(
    inner: &Inner,
    started: &Started,
    path: &StoragePath,
    data: ByteStream,
    mode: WriteMode,
    limit: Option<u64>,
) -> Result<Entry> {
    if path.is_root() || is_internal_root(path) {
        return Err(StorageError::IsADirectory(path.to_string()));
    }
    let key = inner.key(path)?;
    // Before the upload is read, so that a doomed write fails before its bytes travel; checked
    // again at the commit when the server cannot do it atomically.
    let replaced = check_target(inner, path, &key, mode).await?;

    let mut source = Gather::new(data, limit, part_size(inner.options.part_size, limit));
    source.fill().await?;
    let size = if source.ended {
        put_whole(inner, started, path, &key, source.take_all(), mode, &replaced).await?
    } else {
        put_parts(inner, started, path, &key, &mut source, mode, &replaced).await?
    };
    // The stored time, so that this entry agrees with later listings.
    let modified = inner.head(&key).await?.map_or_else(super::now, |meta| seconds(meta.last_modified));
    Ok(Entry { name: path.name().to_owned(), kind: EntryKind::File, size, modified })
}

/// A part size that keeps a file of `limit` bytes within S3's 10,000 parts.
fn part_size(configured: usize, limit: Option<u64>) -> usize {
    let needed = limit.map_or(0, |limit| limit.div_ceil(MAX_PARTS));
    usize::try_from(needed).unwrap_or(usize::MAX).max(configured)
}

/// The same refusals as the other adapters: the parent must be a folder; a folder at the path
/// is never replaced; `CreateNew` wants the name free. Answers what a `Replace` is to replace:
/// the object's ETag, `None` where there is none.
async fn check_target(inner: &Inner, path: &StoragePath, key: &Key, mode: WriteMode) -> Result<Replaced> {
    inner.require_folder(&path.parent().unwrap_or_default(), path).await?;
    if let Some(meta) = inner.head(key).await? {
        return match mode {
            WriteMode::CreateNew => Err(StorageError::AlreadyExists(path.to_string())),
            WriteMode::Replace => Ok(Replaced(Some(meta.e_tag.unwrap_or_default()))),
        };
    }
    // A folder: anything below the name, its marker included.
    if inner.any_under(key).await?.is_some() {
        return Err(match mode {
            WriteMode::CreateNew => StorageError::AlreadyExists(path.to_string()),
            WriteMode::Replace => StorageError::IsADirectory(path.to_string()),
        });
    }
    Ok(Replaced(None))
}

/// The object a `Replace` started from, by ETag (`None`: the name was free).
struct Replaced(Option<String>);

/// `Replace` replaces only the object it started from (`WriteMode::Replace`): checked just
/// before the commit. A single-part file's `PUT` then carries `If-Match` where the server has
/// conditional writes, which closes the moment between this check and the commit; S3 offers no
/// conditional completion of a multipart upload through `object_store` (0.14), so for a larger
/// file (and on a server without conditional writes) a change in that moment goes unnoticed.
async fn recheck_replaced(inner: &Inner, path: &StoragePath, key: &Key, replaced: &Replaced) -> Result<()> {
    let now = inner.head(key).await?.map(|meta| meta.e_tag.unwrap_or_default());
    if now != replaced.0 {
        return Err(StorageError::Changed(path.to_string()));
    }
    Ok(())
}

/// `CreateNew` without conditional writes: the name must still be free just before the commit.
async fn recheck_free(inner: &Inner, path: &StoragePath) -> Result<()> {
    match inner.find(path).await? {
        Found::Nothing => Ok(()),
        _ => Err(StorageError::AlreadyExists(path.to_string())),
    }
}

/// One `PUT` of a file that fits in a part; answers its size.
async fn put_whole(
    inner: &Inner,
    started: &Started,
    path: &StoragePath,
    key: &Key,
    payload: PutPayload,
    mode: WriteMode,
    replaced: &Replaced,
) -> Result<u64> {
    let size = payload.content_length() as u64;
    let put_mode = match mode {
        WriteMode::CreateNew if started.conditional_put => PutMode::Create,
        WriteMode::CreateNew => {
            recheck_free(inner, path).await?;
            PutMode::Overwrite
        }
        WriteMode::Replace => {
            recheck_replaced(inner, path, key, replaced).await?;
            match &replaced.0 {
                // `If-Match` on the PUT itself (issue #14): a change between the recheck and the
                // write (another process's replacement, or a rename's copy-then-delete) makes
                // the server refuse it, where the recheck alone let it replace that change.
                Some(etag) if started.conditional_put && !etag.is_empty() => {
                    PutMode::Update(object_store::UpdateVersion { e_tag: Some(etag.clone()), version: None })
                }
                _ => PutMode::Overwrite,
            }
        }
    };
    let conditional_update = matches!(put_mode, PutMode::Update(_));
    match inner.store.put_opts(key, payload.clone(), put_mode.into()).await {
        Ok(_) => Ok(size),
        Err(object_store::Error::Precondition { .. }) if conditional_update => {
            Err(StorageError::Changed(path.to_string()))
        }
        Err(object_store::Error::NotImplemented { .. }) if conditional_update => {
            // A server that has `If-None-Match` but not `If-Match`: the recheck is all there is.
            recheck_replaced(inner, path, key, replaced).await?;
            inner.store.put_opts(key, payload, PutMode::Overwrite.into()).await.map_err(backend)?;
            Ok(size)
        }
        Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
            Err(StorageError::AlreadyExists(path.to_string()))
        }
        Err(e) => Err(backend(e)),
    }
}

/// A multipart upload of a file larger than a part; answers its size. A conditional `CreateNew`
/// uploads under `.docbridge/tmp` and copies to the name with a conditional copy (S3 cannot
/// complete a multipart upload conditionally through `object_store`).
async fn put_parts(
    inner: &Inner,
    started: &Started,
    path: &StoragePath,
    key: &Key,
    source: &mut Gather,
    mode: WriteMode,
    replaced: &Replaced,
) -> Result<u64> {
    let atomic_create = mode == WriteMode::CreateNew && started.conditional_put && started.conditional_copy;
    let target = if atomic_create {
        inner.key_of(&format!("{INTERNAL_DIR}/{TEMP_DIR}/{}.upload", uuid::Uuid::new_v4()))?
    } else {
        key.clone()
    };
    let upload = inner.store.put_multipart(&target).await.map_err(backend)?;
    let mut pending = PendingUpload { upload: Some(upload), in_flight: None };
    let streamed = async {
        loop {
            if source.ended {
                pending.put_part(source.take_all()).await?;
                return Ok(());
            }
            pending.put_part(source.take(source.part_size)).await?;
            source.fill().await?;
        }
    }
    .await;
    if let Err(e) = streamed {
        pending.abort().await;
        return Err(e);
    }
    let recheck = match mode {
        WriteMode::CreateNew if !atomic_create => recheck_free(inner, path).await,
        WriteMode::CreateNew => Ok(()),
        WriteMode::Replace => recheck_replaced(inner, path, key, replaced).await,
    };
    if let Err(e) = recheck {
        pending.abort().await;
        return Err(e);
    }
    pending.complete().await?;
    if atomic_create {
        let copied = inner.store.copy_if_not_exists(&target, key).await;
        if let Err(e) = inner.delete_keys(vec![target]).await {
            tracing::warn!(path = %path, error = %e, "cannot remove a temporary upload; it is swept later");
        }
        match copied {
            Ok(()) => {}
            Err(object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. }) => {
                return Err(StorageError::AlreadyExists(path.to_string()));
            }
            Err(e) => return Err(backend(e)),
        }
    }
    Ok(source.total)
}

/// Reads the upload stream into parts of exactly `part_size` bytes (the last one shorter),
/// enforcing the limit.
struct Gather {
    data: ByteStream,
    limit: Option<u64>,
    part_size: usize,
    pending: VecDeque<Bytes>,
    pending_len: usize,
    total: u64,
    ended: bool,
}

impl Gather {
    fn new(data: ByteStream, limit: Option<u64>, part_size: usize) -> Self {
        Gather { data, limit, part_size, pending: VecDeque::new(), pending_len: 0, total: 0, ended: false }
    }

    /// Reads until more than a part is gathered or the stream has ended: a full part is then
    /// known not to be the last (S3 wants every part but the last of the full size).
    async fn fill(&mut self) -> Result<()> {
        while !self.ended && self.pending_len <= self.part_size {
            match self.data.next().await {
                None => self.ended = true,
                Some(Err(e)) => return Err(StorageError::SourceFailed(e)),
                Some(Ok(chunk)) => {
                    self.total = self.total.saturating_add(chunk.len() as u64);
                    if let Some(limit) = self.limit
                        && self.total > limit
                    {
                        return Err(StorageError::TooLarge { limit });
                    }
                    if !chunk.is_empty() {
                        self.pending_len += chunk.len();
                        self.pending.push_back(chunk);
                    }
                }
            }
        }
        Ok(())
    }

    /// The first `n` gathered bytes (views of the chunks, not copies).
    fn take(&mut self, n: usize) -> PutPayload {
        let mut parts = Vec::new();
        let mut wanted = n.min(self.pending_len);
        while wanted > 0 {
            let Some(mut chunk) = self.pending.pop_front() else { break };
            if chunk.len() > wanted {
                self.pending.push_front(chunk.split_off(wanted));
            }
            wanted -= chunk.len();
            self.pending_len -= chunk.len();
            parts.push(chunk);
        }
        parts.into_iter().collect()
    }

    fn take_all(&mut self) -> PutPayload {
        self.take(self.pending_len)
    }
}

/// A multipart upload that is aborted unless completed: on an error, and, when its writer stops
/// polling the write, from a spawned task.
struct PendingUpload {
    upload: Option<Box<dyn MultipartUpload>>,
    /// The part being sent while the next one is read from the client.
    in_flight: Option<JoinHandle<object_store::Result<()>>>,
}

impl PendingUpload {
    async fn put_part(&mut self, payload: PutPayload) -> Result<()> {
        self.wait().await?;
        let upload =
            self.upload.as_mut().ok_or_else(|| StorageError::Io(std::io::Error::other("upload already ended")))?;
        self.in_flight = Some(tokio::spawn(upload.put_part(payload)));
        Ok(())
    }

    async fn wait(&mut self) -> Result<()> {
        if let Some(part) = self.in_flight.take() {
            part.await.map_err(|e| StorageError::Io(std::io::Error::other(e)))?.map_err(backend)?;
        }
        Ok(())
    }

    async fn complete(&mut self) -> Result<()> {
        if let Err(e) = self.wait().await {
            self.abort().await;
            return Err(e);
        }
        let Some(upload) = self.upload.as_mut() else { return Ok(()) };
        match upload.complete().await {
            Ok(_) => {
                self.upload = None;
                Ok(())
            }
            Err(e) => {
                self.abort().await;
                Err(backend(e))
            }
        }
    }

    async fn abort(&mut self) {
        if let Some(part) = self.in_flight.take() {
            part.abort();
            // Its outcome no longer matters; waited for so that no part lands after the abort.
            let _ = part.await;
        }
        if let Some(mut upload) = self.upload.take()
            && let Err(e) = upload.abort().await
        {
            tracing::warn!(error = %e, "cannot abort a multipart upload; the bucket's lifecycle rule removes it");
        }
    }
}

impl Drop for PendingUpload {
    fn drop(&mut self) {
        if let Some(part) = self.in_flight.take() {
            part.abort();
        }
        let Some(mut upload) = self.upload.take() else { return };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    if let Err(e) = upload.abort().await {
                        tracing::warn!(error = %e, "cannot abort an abandoned multipart upload");
                    }
                });
            }
            Err(_) => {
                tracing::warn!("a multipart upload was abandoned outside a runtime; the lifecycle rule removes it")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gather(chunks: &[&'static [u8]], part: usize) -> Gather {
        let items: Vec<std::io::Result<Bytes>> = chunks.iter().map(|c| Ok(Bytes::from_static(c))).collect();
        Gather::new(Box::pin(futures::stream::iter(items)), None, part)
    }

    #[tokio::test]
    async fn parts_are_exactly_the_part_size() {
        let mut g = gather(&[b"abc", b"defgh", b"ij"], 4);
        g.fill().await.unwrap();
        assert!(!g.ended);
        assert_eq!(g.take(4).content_length(), 4);
        g.fill().await.unwrap();
        assert_eq!(g.take(4).content_length(), 4);
        g.fill().await.unwrap();
        assert!(g.ended);
        let last: Vec<u8> = g.take_all().iter().flat_map(|b| b.to_vec()).collect();
        assert_eq!(last, b"ij");
        assert_eq!(g.total, 10);
    }

    #[tokio::test]
    async fn exactly_one_part_is_a_single_put() {
        let mut g = gather(&[b"ab", b"cd"], 4);
        g.fill().await.unwrap();
        assert!(g.ended, "4 bytes with parts of 4 fit in one request");
    }

    #[test]
    fn part_size_grows_with_the_limit() {
        assert_eq!(part_size(8 << 20, Some(5 << 30)), 8 << 20);
        assert_eq!(part_size(8 << 20, Some(200 << 30)), (200u64 << 30).div_ceil(10_000) as usize);
        assert_eq!(part_size(1024, None), 1024);
    }
}
