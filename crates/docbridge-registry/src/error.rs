//! The registry's one error type.

/// What went wrong in the registry. `InvalidInput` names the field at fault so that the CLI, the
/// admin API and the admin page can all say what to fix.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// A value that cannot be stored (a bad slug, an empty password hash, an unknown role).
    #[error("{field}: {reason}")]
    InvalidInput {
        /// The field at fault, as the CLI and the admin API name it.
        field: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// What the operation names does not exist (an integration, a user, a trash entry).
    #[error("{0} not found")]
    NotFound(String),
    /// The change collides with another (a taken slug, a concurrent edit).
    #[error("{0}")]
    Conflict(String),
    /// The database failed: a fault, not an answer.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// A stored value cannot be read back: a bug, or a hand-edited database.
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

impl RegistryError {
    pub(crate) fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        RegistryError::InvalidInput { field, reason: reason.into() }
    }

    /// Maps a unique-constraint violation to a `Conflict` with the given message.
    pub(crate) fn conflict_on_unique(err: sea_orm::DbErr, message: impl FnOnce() -> String) -> Self {
        let text = err.to_string().to_lowercase();
        if text.contains("unique") || text.contains("duplicate key") {
            RegistryError::Conflict(message())
        } else {
            RegistryError::Database(err)
        }
    }
}
