//! The documents layer's one error type: what went wrong, in terms an endpoint can answer.

use docbridge_registry::RegistryError;
use docbridge_storage::StorageError;

/// What went wrong in an endpoint's work; the server maps each variant to the contract's status.
#[derive(Debug, thiserror::Error)]
pub enum DocumentsError {
    /// A parameter is malformed (an ID, a name, a count).
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The parameter at fault, as the protocol names it.
        field: &'static str,
        /// What is wrong with it, safe to show the caller.
        reason: String,
    },
    /// No such item for this caller (unknown, or outside their folder).
    #[error("{0}")]
    NotFound(String),
    /// The change collides with the library's state (a taken name, a folder that is not empty).
    #[error("{0}")]
    Conflict(String),
    /// The caller's role does not allow it, or the item is locked.
    #[error("{0}")]
    Forbidden(String),
    /// An upload grew past the configured limit; nothing was kept.
    #[error("the upload exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit, in bytes.
        limit: u64,
    },
    /// The upload's body stopped before its end; nothing was kept.
    #[error("the upload did not complete: {0}")]
    UploadInterrupted(String),
    /// The registry failed.
    #[error(transparent)]
    Registry(RegistryError),
    /// The storage adapter failed.
    #[error(transparent)]
    Storage(StorageError),
    /// Every thumbnail render slot stayed taken for as long as a request may wait.
    #[error("too many thumbnails are being rendered; retry in {retry_after_secs} s")]
    Busy {
        /// When to try again, for the `Retry-After` header.
        retry_after_secs: u64,
    },
    /// Anything else that is docbridge's fault; the detail is logged, not sent.
    #[error("{0}")]
    Internal(String),
}

impl DocumentsError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        DocumentsError::InvalidInput { field, reason: reason.into() }
    }
}

impl From<docbridge_protocol::ProtocolError> for DocumentsError {
    fn from(err: docbridge_protocol::ProtocolError) -> Self {
        let docbridge_protocol::ProtocolError::InvalidInput { field, reason } = err;
        DocumentsError::InvalidInput { field, reason }
    }
}

impl From<RegistryError> for DocumentsError {
    fn from(err: RegistryError) -> Self {
        match err {
            RegistryError::NotFound(what) => DocumentsError::NotFound(format!("{what} not found")),
            RegistryError::Conflict(what) => DocumentsError::Conflict(what),
            RegistryError::InvalidInput { field, reason } => DocumentsError::InvalidInput { field, reason },
            other => DocumentsError::Registry(other),
        }
    }
}

impl From<StorageError> for DocumentsError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::NotFound(_) => DocumentsError::NotFound("no such file or folder".into()),
            StorageError::AlreadyExists(_) => DocumentsError::Conflict("an item with that name already exists".into()),
            StorageError::Changed(_) => DocumentsError::Conflict(
                "the file was renamed, deleted or replaced while this upload was written; nothing was changed: \
                 upload again"
                    .into(),
            ),
            StorageError::TooLarge { limit } => DocumentsError::TooLarge { limit },
            StorageError::SourceFailed(e) => DocumentsError::UploadInterrupted(e.to_string()),
            StorageError::InvalidPath(reason) => DocumentsError::invalid("name", reason),
            other => DocumentsError::Storage(other),
        }
    }
}
