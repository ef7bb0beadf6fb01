//! JSON REST API of the gateway: registration, login, conversations, membership, inbox and
//! message history over axum. Every error response has the body
//! `{"error": {"code", "message"}}`, built by [`error::ApiError`].

pub mod conversations;
pub mod error;
pub mod extract;
pub mod messages;
pub mod users;
pub mod views;

use std::sync::Arc;

use axum::http::{Method, Uri};
use axum::routing::{delete, get, post};
use axum::Router;
use switchboard_router::store::Store;

use crate::auth::Auth;
use error::ApiError;

/// Shared state of the REST handlers.
#[derive(Clone)]
pub struct RestState {
    /// Source of truth for users, conversations and messages.
    pub store: Arc<dyn Store>,
    /// Token issuer and verifier.
    pub auth: Arc<Auth>,
}

/// Builds the REST router with every `/v1` endpoint, `/healthz`, and JSON error responses
/// for unknown routes and methods.
pub fn router(state: RestState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/register", post(users::register))
        .route("/v1/login", post(users::login))
        .route(
            "/v1/conversations",
            post(conversations::create).get(messages::inbox),
        )
        .route("/v1/conversations/{id}", get(conversations::get))
        .route(
            "/v1/conversations/{id}/members",
            post(conversations::add_member),
        )
        .route(
            "/v1/conversations/{id}/members/{user_id}",
            delete(conversations::remove_member),
        )
        .route("/v1/conversations/{id}/messages", get(messages::history))
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}

async fn route_not_found(method: Method, uri: Uri) -> ApiError {
    ApiError::not_found(
        "not_found",
        format!(
            "no route for {method} {}; see the API paths under /v1",
            uri.path()
        ),
    )
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        axum::http::StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!(
            "method {method} is not allowed on {}; check the API method for this path",
            uri.path()
        ),
    )
}
