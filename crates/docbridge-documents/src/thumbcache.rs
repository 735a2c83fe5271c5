//! `/thumbnail` (C12): rendered once per item version and width, then served from a disk cache.

use std::path::PathBuf;

use docbridge_protocol::{ItemId, ItemKind};
use docbridge_registry::ItemRecord;

use crate::thumbnail::{JPEG, PNG, ThumbnailSource, render_thumbnail};
use crate::{Caller, DocumentsError, Library, Result};

/// A thumbnail ready to send.
#[derive(Debug, Clone)]
pub struct CachedThumbnail {
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    /// Changes with the item's content and the width: a strong validator.
    pub etag: String,
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

    /// The thumbnail of an item at `width` pixels.
    pub async fn thumbnail(&self, caller: &Caller, id: &ItemId, width: u32) -> Result<CachedThumbnail> {
        let view = self.metadata(caller, id).await?;
        let record = view.record;
        let etag = format!("\"{}-{}-{width}\"", record.id, record.version());
        let cache = self.cache_path(&record, width);
        for (ext, content_type) in [("png", PNG), ("jpg", JPEG)] {
            if let Ok(bytes) = tokio::fs::read(cache.with_extension(ext)).await {
                return Ok(CachedThumbnail { bytes, content_type, etag });
            }
        }
        let bytes = match record.kind {
            ItemKind::File if record.size <= self.settings.max_thumbnail_source_bytes => {
                self.read_head(&record, record.size).await?
            }
            _ => Vec::new(),
        };
        let (kind, name, mime) = (record.kind, record.name.clone(), view.mime_type.clone());
        let thumbnail = tokio::task::spawn_blocking(move || {
            let source = match kind {
                ItemKind::Folder => ThumbnailSource::Folder,
                ItemKind::File => ThumbnailSource::File { name: &name, mime: &mime, bytes: &bytes },
            };
            render_thumbnail(source, width)
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

async fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().ok_or_else(|| std::io::Error::other("cache path has no parent"))?;
    tokio::fs::create_dir_all(dir).await?;
    let tmp = dir.join(format!(".tmp-{}", docbridge_registry::random_id()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, path).await
}
