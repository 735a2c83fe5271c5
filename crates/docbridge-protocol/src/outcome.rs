//! The three failure vocabularies of the protocol (§13.6) and their success forms (C14, C16–C20).

use serde::{Deserialize, Serialize};

/// `{"status":"error","error":"..."}`: the body of every failure outside upload, delete, rename
/// and customAction (C20).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ErrorBody {
    /// Always `error`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^error$", example = "error"))]
    pub status: String,
    /// What went wrong, for the person who reads Workfront's message.
    pub error: String,
}

impl ErrorBody {
    /// An error body with this message.
    pub fn new(message: impl Into<String>) -> Self {
        ErrorBody { status: "error".into(), error: message.into() }
    }
}

/// `{"status":"success"}` or `{"status":"failure","error":"..."}`: delete, rename, customAction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StatusOutcome {
    /// `success` or `failure`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(success|failure)$", example = "success"))]
    pub status: String,
    /// What went wrong, with `failure`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = false))]
    pub error: Option<String>,
}

impl StatusOutcome {
    /// `{"status":"success"}`.
    pub fn success() -> Self {
        StatusOutcome { status: "success".into(), error: None }
    }

    /// `{"status":"failure","error":message}`.
    pub fn failure(message: impl Into<String>) -> Self {
        StatusOutcome { status: "failure".into(), error: Some(message.into()) }
    }

    /// Whether the provider reported success (anything but `success` is a failure).
    pub fn is_success(&self) -> bool {
        self.status == "success"
    }
}

/// `{"result":"success"}` or `{"result":"fail","error":"..."}`: upload (C14).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UploadOutcome {
    /// `success` or `fail`.
    #[cfg_attr(feature = "openapi", schema(pattern = "^(success|fail)$", example = "success"))]
    pub result: String,
    /// What went wrong, with `fail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = String, required = false))]
    pub error: Option<String>,
}

impl UploadOutcome {
    /// `{"result":"success"}`.
    pub fn success() -> Self {
        UploadOutcome { result: "success".into(), error: None }
    }

    /// `{"result":"fail","error":message}`.
    pub fn fail(message: impl Into<String>) -> Self {
        UploadOutcome { result: "fail".into(), error: Some(message.into()) }
    }

    /// Whether the provider reported success (anything but `success` is a failure).
    pub fn is_success(&self) -> bool {
        self.result == "success"
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn exact_shapes() {
        assert_eq!(serde_json::to_value(ErrorBody::new("nope")).unwrap(), json!({"status":"error","error":"nope"}));
        assert_eq!(serde_json::to_value(StatusOutcome::success()).unwrap(), json!({"status":"success"}));
        assert_eq!(serde_json::to_value(StatusOutcome::failure("x")).unwrap(), json!({"status":"failure","error":"x"}));
        assert_eq!(serde_json::to_value(UploadOutcome::success()).unwrap(), json!({"result":"success"}));
        assert_eq!(serde_json::to_value(UploadOutcome::fail("x")).unwrap(), json!({"result":"fail","error":"x"}));
    }
}
