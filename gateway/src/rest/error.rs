//! Error responses of the REST API: the `{"error": {"code", "message"}}` body, and the mapping
//! of store failures and axum extractor rejections onto it.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;
use switchboard_router::store::StoreError;

/// An error returned to a REST client: an HTTP status, a stable snake_case code for programs
/// and a message for people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status of the response.
    pub status: StatusCode,
    /// Stable machine-readable code, e.g. `username_taken`.
    pub code: &'static str,
    /// Human-readable message naming the failing value and what to do.
    pub message: String,
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl ApiError {
    /// Creates an error with any status.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    /// Creates a 400 Bad Request error.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// Creates a 401 Unauthorized error.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// Creates a 403 Forbidden error.
    pub fn forbidden(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, code, message)
    }

    /// Creates a 404 Not Found error.
    pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, code, message)
    }

    /// Creates a 500 error for a failure the client cannot fix, such as a panicked task.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: &self.message,
            },
        };
        let mut response = (self.status, Json(body)).into_response();
        // RFC 7235 requires a challenge on every 401, and RFC 6750 names the Bearer scheme.
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<StoreError> for ApiError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::UsernameTaken(username) => Self::new(
                StatusCode::CONFLICT,
                "username_taken",
                format!("username {username:?} is already taken; choose another"),
            ),
            StoreError::UserNotFound(user_id) => Self::not_found(
                "user_not_found",
                format!("user {user_id} not found; check the user id"),
            ),
            StoreError::ConversationNotFound(conversation_id) => Self::not_found(
                "conversation_not_found",
                format!("conversation {conversation_id} not found; check the conversation id"),
            ),
            StoreError::SeqConflict { .. } | StoreError::Backend(_) => {
                tracing::error!(error = %err, "store operation failed");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "store_unavailable",
                    "the message store failed to complete the request; retry later",
                )
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let detail = rejection.body_text();
        match rejection {
            JsonRejection::JsonSyntaxError(_) => Self::bad_request(
                "invalid_json",
                format!("{detail}; send a valid JSON document"),
            ),
            JsonRejection::JsonDataError(_) => Self::bad_request(
                "invalid_body",
                format!("{detail}; check the field names and types"),
            ),
            JsonRejection::MissingJsonContentType(_) => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "request body needs the header Content-Type: application/json",
            ),
            other => Self::new(
                other.status(),
                "invalid_body",
                format!("{detail}; resend the request body"),
            ),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        Self::bad_request(
            "invalid_path",
            format!(
                "{}; path ids must be unsigned integers",
                rejection.body_text()
            ),
        )
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::bad_request(
            "invalid_query",
            format!(
                "{}; check the query parameter names and values",
                rejection.body_text()
            ),
        )
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(err: tokio::task::JoinError) -> Self {
        tracing::error!(error = %err, "blocking task failed");
        Self::internal("a password hashing task failed; retry the request")
    }
}
