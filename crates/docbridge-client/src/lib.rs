//! Calling any Document Webhooks provider as Workfront does (contract C23): a typed async
//! [`Client`] and the OAuth2 client flow ([`oauth`]); with features, the store of named remotes
//! behind `docbridge remote` and `REMOTE:PATH` arguments (`remotes`), the operations of the file
//! commands (`cli`), and the conformance validator (`validate`).
//!
//! Reading is lenient (the protocol crate's `ItemMetadata` accepts what real providers send);
//! the validator, in contrast, checks the raw JSON strictly and reports every deviation.

// The README (an overview and an example that runs as a doc test) follows these notes.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod client;
#[cfg(feature = "cli")]
pub mod commands;
mod config;
mod disposition;
mod error;
pub mod oauth;
#[cfg(feature = "remotes")]
pub mod remotes;
#[cfg(feature = "validate")]
pub mod validate;

pub use client::{ActionTarget, ByteStream, Client, Download, DownloadRange, TokenSink};
pub use config::{Auth, RemoteConfig, RequestParam, parse_base_url, validate_remote_name};
pub use disposition::{decode_ext_value, filename_from_content_disposition, parse_content_disposition};
pub use error::{ClientError, provider_message};
