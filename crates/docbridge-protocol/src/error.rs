//! The one error type of the protocol crate: input that does not fit the protocol.

/// Why a value received on the wire was refused. Every variant names the parameter at fault so
/// that the server can answer a 400 whose message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
}

impl ProtocolError {
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ProtocolError::InvalidInput { field, reason: reason.into() }
    }
}
