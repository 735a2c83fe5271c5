//! The documents layer's one error type: what went wrong, in terms an endpoint can answer.

use docbridge_registry::RegistryError;
use docbridge_storage::StorageError;

#[derive(Debug, thiserror::Error)]
pub enum DocumentsError {
    #[error("{field}: {reason}")]
    InvalidInput { field: &'static str, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the upload exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the upload did not complete: {0}")]
    UploadInterrupted(String),
    #[error(transparent)]
    Registry(RegistryError),
    #[error(transparent)]
    Storage(StorageError),
    /// Every thumbnail render slot stayed taken for as long as a request may wait.
    #[error("too many thumbnails are being rendered; retry in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
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
