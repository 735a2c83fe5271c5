//! The one error type of the protocol crate: input that does not fit the protocol.

/// Why a value received on the wire was refused. Every variant names the parameter at fault so
/// that the server can answer a 400 whose message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtocolError {
    /// A value does not fit the protocol: a malformed ID, a name with a separator, a bad count.
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The parameter at fault, as the protocol names it.
        field: &'static str,
        /// What is wrong with it, safe to show the caller.
        reason: String,
    },
}

impl ProtocolError {
    /// An [`ProtocolError::InvalidInput`] for this parameter.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        ProtocolError::InvalidInput { field, reason: reason.into() }
    }
}
