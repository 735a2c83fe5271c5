//! Wire types of Workfront's Document Webhooks protocol, as docbridge sends and accepts them.
//!
//! This crate is the only place that defines what goes on the wire (see `docs/ARCHITECTURE.md`).
//! It depends on nothing of docbridge and on no runtime, so any Rust program that calls or
//! implements the protocol can use it. Serialisation is strict (exactly the contract's shapes);
//! deserialisation is lenient where real providers are known to differ (`document-webhooks.md` §13).

// The README (an overview and an example that runs as a doc test) follows these notes.
#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod action_event;
mod disposition;
mod endpoint;
mod error;
mod id;
mod metadata;
mod name;
mod oauth;
mod outcome;
mod params;
mod range;
mod service_info;

pub use action_event::{
    ActionEvent, ActionEventItem, CUSTOM_ACTION_EVENT, DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER,
};
pub use disposition::content_disposition;
pub use endpoint::Endpoint;
pub use error::ProtocolError;
pub use id::ItemId;
pub use metadata::{ItemKind, ItemMetadata, format_date, parse_date_lenient};
pub use name::{MAX_NAME_BYTES, name_key, new_name, same_name, validate_name};
pub use oauth::{OAuthErrorBody, TokenResponse};
pub use outcome::{ErrorBody, StatusOutcome, UploadOutcome};
pub use params::parse_count;
pub use range::{ByteRange, RangeRequest, parse_range};
pub use service_info::{CustomActionInfo, ServiceInfo, WEBHOOK_VERSION};
