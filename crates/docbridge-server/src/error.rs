//! The one place where errors become HTTP (C20): every failure gets the contract's status and
//! the JSON body of its endpoint's vocabulary. The detail of a 500 goes to the log, with the
//! request ID that the response carries in `x-request-id`.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use docbridge_auth::AuthError;
use docbridge_documents::DocumentsError;
use docbridge_protocol::{ErrorBody, ProtocolError, StatusOutcome, UploadOutcome};
use docbridge_registry::RegistryError;

/// Which failure body an endpoint speaks (protocol §13.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Vocabulary {
    /// `{"status":"error","error":...}`
    #[default]
    Error,
    /// `{"status":"failure","error":...}`: delete, rename, customAction.
    Failure,
    /// `{"result":"fail","error":...}`: upload.
    Upload,
}

/// An error on its way to becoming a response.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// What the caller is told. For 500s a generic text; the detail is in `detail`.
    pub message: String,
    detail: Option<String>,
    vocabulary: Vocabulary,
    retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), detail: None, vocabulary: Vocabulary::Error, retry_after: None }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    pub fn internal(detail: impl Into<String>) -> Self {
        ApiError { detail: Some(detail.into()), ..Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error") }
    }

    pub fn too_many_requests(message: impl Into<String>, retry_after_secs: u64) -> Self {
        ApiError { retry_after: Some(retry_after_secs), ..Self::new(StatusCode::TOO_MANY_REQUESTS, message) }
    }

    /// 503 with `Retry-After`: the server is busy, not the caller too demanding.
    pub fn unavailable(message: impl Into<String>, retry_after_secs: u64) -> Self {
        ApiError { retry_after: Some(retry_after_secs), ..Self::new(StatusCode::SERVICE_UNAVAILABLE, message) }
    }

    /// Answers in another endpoint's vocabulary.
    pub fn speaking(mut self, vocabulary: Vocabulary) -> Self {
        self.vocabulary = vocabulary;
        self
    }

    pub fn vocabulary(&self) -> Vocabulary {
        self.vocabulary
    }
}

impl From<ProtocolError> for ApiError {
    fn from(err: ProtocolError) -> Self {
        ApiError::bad_request(err.to_string())
    }
}

impl From<DocumentsError> for ApiError {
    fn from(err: DocumentsError) -> Self {
        match err {
            DocumentsError::InvalidInput { .. } => ApiError::bad_request(err.to_string()),
            DocumentsError::NotFound(m) => ApiError::not_found(m),
            DocumentsError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            DocumentsError::Forbidden(m) => ApiError::forbidden(m),
            DocumentsError::TooLarge { .. } => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, err.to_string()),
            DocumentsError::UploadInterrupted(_) => ApiError::bad_request(err.to_string()),
            DocumentsError::Registry(e) => e.into(),
            // A store that did not answer within `[storage] timeout_secs`: the caller may try
            // again later, and is told so plainly (the detail, with the item, goes to the log).
            DocumentsError::Storage(docbridge_storage::StorageError::Io(e))
                if e.kind() == std::io::ErrorKind::TimedOut =>
            {
                tracing::warn!(error = %e, "the document store timed out");
                ApiError::unavailable("the document store did not answer in time", 30)
            }
            DocumentsError::Storage(e) => ApiError::internal(e.to_string()),
            DocumentsError::Busy { retry_after_secs } => ApiError::unavailable(err.to_string(), retry_after_secs),
            DocumentsError::Internal(m) => ApiError::internal(m),
        }
    }
}

impl From<RegistryError> for ApiError {
    fn from(err: RegistryError) -> Self {
        match err {
            RegistryError::InvalidInput { .. } => ApiError::bad_request(err.to_string()),
            RegistryError::NotFound(what) => ApiError::not_found(format!("{what} not found")),
            RegistryError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, m),
            RegistryError::Database(_) | RegistryError::Corrupt(_) => ApiError::internal(err.to_string()),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Forbidden(m) | AuthError::WrongCredential(m) => ApiError::forbidden(m),
            AuthError::InvalidInput { .. } => ApiError::bad_request(err.to_string()),
            AuthError::Registry(e) => e.into(),
            AuthError::Hashing(m) => ApiError::internal(m),
            AuthError::OAuth { .. } => ApiError::bad_request(err.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Some(detail) = &self.detail {
            // The request ID is attached by the trace span this runs in.
            tracing::error!(status = self.status.as_u16(), %detail, "request failed");
        }
        let mut response = match self.vocabulary {
            Vocabulary::Error => (self.status, Json(ErrorBody::new(self.message))).into_response(),
            Vocabulary::Failure => (self.status, Json(StatusOutcome::failure(self.message))).into_response(),
            Vocabulary::Upload => (self.status, Json(UploadOutcome::fail(self.message))).into_response(),
        };
        if let Some(secs) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

/// An error and its causes on one line, each cause once: a client's own message alone often says
/// only "error sending request", and many errors already repeat their source's text.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body_of(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn mapping_table() {
        let cases: Vec<(ApiError, u16, &str)> = vec![
            (DocumentsError::NotFound("no item".into()).into(), 404, "no item"),
            (DocumentsError::Conflict("taken".into()).into(), 409, "taken"),
            (DocumentsError::Forbidden("no".into()).into(), 403, "no"),
            (DocumentsError::TooLarge { limit: 5 }.into(), 413, "the upload exceeds the limit of 5 bytes"),
            (ProtocolError::invalid("max", "bad").into(), 400, "max: bad"),
            (AuthError::Forbidden("expired bearer token".into()).into(), 403, "expired bearer token"),
            (AuthError::WrongCredential("invalid apiKey".into()).into(), 403, "invalid apiKey"),
            (RegistryError::Conflict("dup".into()).into(), 409, "dup"),
            (DocumentsError::Internal("disk on fire at /secret/path".into()).into(), 500, "internal error"),
            (
                DocumentsError::Storage(docbridge_storage::StorageError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "sftp: no answer within 60 s for /srv/docs/a.txt",
                )))
                .into(),
                503,
                "the document store did not answer in time",
            ),
        ];
        for (error, status, message) in cases {
            let (got_status, body) = body_of(error).await;
            assert_eq!(got_status.as_u16(), status);
            assert_eq!(body, serde_json::json!({"status": "error", "error": message}));
        }
    }

    #[tokio::test]
    async fn vocabularies() {
        let (_, body) = body_of(ApiError::not_found("gone").speaking(Vocabulary::Failure)).await;
        assert_eq!(body, serde_json::json!({"status": "failure", "error": "gone"}));
        let (_, body) = body_of(ApiError::bad_request("cut").speaking(Vocabulary::Upload)).await;
        assert_eq!(body, serde_json::json!({"result": "fail", "error": "cut"}));
        let response = ApiError::too_many_requests("slow down", 7).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "7");
        // No thumbnail render slot came free: 503, and when to come back.
        let response = ApiError::from(DocumentsError::Busy { retry_after_secs: 10 }).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], "10");
    }
}
