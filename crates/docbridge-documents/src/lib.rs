//! What each Document Webhooks endpoint does, without HTTP.
//!
//! A [`Library`] is one integration's documents: a storage adapter plus the registry's index of
//! stable IDs. Its methods are the endpoints' behaviour (listing with IDs, search, thumbnails,
//! uploads, rename, delete into the trash, custom actions); the server only translates HTTP to
//! these calls and their results to the wire.

// The README (an overview and an example that runs as a doc test) follows these notes.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod actions;
mod browse;
mod change;
mod error;
mod indexer;
mod library;
pub mod mime;
mod thumbcache;
pub mod thumbnail;
mod transfer;

pub use actions::{ActionOutcome, ActionTarget};
pub use error::DocumentsError;
pub use indexer::{FsckReport, MaintenanceReport};
pub use library::{Caller, ConflictPolicy, Library, LibrarySettings, Resolved};
pub use thumbcache::{CachedThumbnail, ThumbnailLimits};
pub use transfer::{Download, UploadOutcome};

/// This crate's results: [`DocumentsError`] unless said otherwise.
pub type Result<T, E = DocumentsError> = std::result::Result<T, E>;

/// An item as an endpoint answers it: the index record plus what depends on the content and
/// on the caller. The server turns it into the wire's `ItemMetadata`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemView {
    /// The item as the index knows it.
    pub record: docbridge_registry::ItemRecord,
    /// Its MIME type, from its name and, failing that, its first bytes; empty for a folder.
    pub mime_type: String,
    /// Whether this caller may only read it (a reader, or a locked item).
    pub read_only: bool,
}
