//! Request extractors of the REST API: JSON body, path and query wrappers that reject with the
//! JSON error body instead of axum's plain text, and the bearer-token caller identity.

use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;
use axum::Json;
use serde::de::DeserializeOwned;

use super::error::ApiError;
use super::RestState;
use crate::auth::{AuthError, Claims};

/// JSON request body; a malformed body becomes a 400 [`ApiError`].
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let Json(value) = Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}

/// Path parameters; a value of the wrong type becomes a 400 [`ApiError`].
pub struct ApiPath<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiPath<T>
where
    S: Send + Sync,
    T: DeserializeOwned + Send,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Path(value) = Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Query parameters; an unparsable query becomes a 400 [`ApiError`].
pub struct ApiQuery<T>(pub T);

impl<S, T> FromRequestParts<S> for ApiQuery<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// Identity of the caller, verified from `Authorization: Bearer <token>`.
#[derive(Debug, Clone)]
pub struct Caller(pub Claims);

impl Caller {
    /// Returns the caller's user id.
    pub fn user_id(&self) -> u64 {
        self.0.user_id
    }
}

impl FromRequestParts<RestState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &RestState,
    ) -> Result<Self, Self::Rejection> {
        let token = bearer_token(parts)?;
        let claims = state.auth.verify(token).map_err(map_auth_error)?;
        Ok(Self(claims))
    }
}

/// Extracts the token from the `Authorization` header. The scheme name is case-insensitive
/// (RFC 7235 section 2.1).
fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let Some(value) = parts.headers.get(AUTHORIZATION) else {
        return Err(ApiError::unauthorized(
            "missing_token",
            "the Authorization header is missing; send Authorization: Bearer <token> from /v1/login",
        ));
    };
    let malformed = || {
        ApiError::unauthorized(
            "invalid_token",
            "the Authorization header is not of the form Bearer <token>; send the token from /v1/login",
        )
    };
    let value = value.to_str().map_err(|_| malformed())?;
    let (scheme, token) = value.split_once(' ').ok_or_else(malformed)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(malformed());
    }
    Ok(token)
}

fn map_auth_error(err: AuthError) -> ApiError {
    match err {
        AuthError::Expired { .. } => ApiError::unauthorized("token_expired", err.to_string()),
        other => ApiError::unauthorized("invalid_token", other.to_string()),
    }
}
