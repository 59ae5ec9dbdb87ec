//! API errors as JSON `{"error": "..."}` with the status that says what went wrong.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::nodes::NodeError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, message)
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = %self.status, error = %self.message, "request failed");
        }
        let mut response = (self.status, Json(serde_json::json!({ "error": self.message }))).into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert("www-authenticate", "Bearer".parse().expect("static header"));
        }
        response
    }
}

impl From<NodeError> for ApiError {
    fn from(err: NodeError) -> Self {
        let status = match &err {
            NodeError::NotFound(_) => StatusCode::NOT_FOUND,
            NodeError::MacTaken(_) | NodeError::Transition { .. } => StatusCode::CONFLICT,
            NodeError::Unauthorized => StatusCode::UNAUTHORIZED,
            NodeError::NotSeenBooting(_) => StatusCode::FORBIDDEN,
            NodeError::EnrolmentFull { .. } => StatusCode::SERVICE_UNAVAILABLE,
            NodeError::Invalid(_) => StatusCode::BAD_REQUEST,
            NodeError::NoBmc(_) => StatusCode::CONFLICT,
            // The BMC, not this service, failed: a gateway's error.
            NodeError::Power(_) => StatusCode::BAD_GATEWAY,
            NodeError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, err.to_string())
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, format!("request handler failed: {err}"))
    }
}
