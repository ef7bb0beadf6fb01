//! Registration and login: credential validation, password hashing off the async workers,
//! and token issue.

use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;

use super::error::ApiError;
use super::extract::ApiJson;
use super::RestState;
use crate::auth::{hash_password, verify_password};

/// Minimum username length in characters.
pub const MIN_USERNAME_LEN: usize = 3;
/// Maximum username length in characters.
pub const MAX_USERNAME_LEN: usize = 32;
/// Minimum password length in characters.
pub const MIN_PASSWORD_LEN: usize = 8;
/// Maximum password length in characters. It bounds the hashing work of one request.
pub const MAX_PASSWORD_LEN: usize = 1024;

/// Body of `POST /v1/register` and `POST /v1/login`.
#[derive(Deserialize)]
pub struct Credentials {
    username: String,
    password: String,
}

/// Body of a successful registration.
#[derive(Serialize)]
pub struct RegisteredUser {
    user_id: u64,
    username: String,
}

/// Body of a successful login.
#[derive(Serialize)]
pub struct LoginResponse {
    token: String,
    user_id: u64,
    expires_at_ms: u64,
}

/// Handles `POST /v1/register`: validates the credentials, hashes the password and creates
/// the user.
pub async fn register(
    State(state): State<RestState>,
    ApiJson(credentials): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<RegisteredUser>), ApiError> {
    validate_username(&credentials.username)?;
    validate_password(&credentials.password)?;

    let password = credentials.password;
    let password_hash = run_password_task(move || hash_password(&password))
        .await?
        .map_err(|err| {
            tracing::error!(error = %err, "password hashing failed");
            ApiError::internal("hashing the password failed; retry the request")
        })?;
    let user = state
        .store
        .create_user(&credentials.username, &password_hash)
        .await?;

    tracing::info!(user_id = user.user_id, username = %user.username, "user registered");
    let body = RegisteredUser {
        user_id: user.user_id,
        username: user.username,
    };
    Ok((StatusCode::CREATED, Json(body)))
}

/// Handles `POST /v1/login`: checks the password and issues a token. An unknown username and
/// a wrong password get the same response, and both cost one Argon2 verification, so neither
/// the body nor the timing reveals which usernames exist.
pub async fn login(
    State(state): State<RestState>,
    ApiJson(credentials): ApiJson<Credentials>,
) -> Result<Json<LoginResponse>, ApiError> {
    let user = state.store.user_by_name(&credentials.username).await?;
    let (user_id, stored_hash) = match user {
        Some(user) => (Some(user.user_id), user.password_hash),
        None => (None, dummy_password_hash().to_owned()),
    };

    let password = credentials.password;
    let password_matches =
        run_password_task(move || verify_password(&password, &stored_hash)).await?;
    let Some(user_id) = user_id.filter(|_| password_matches) else {
        tracing::debug!(username = %credentials.username, "login rejected");
        return Err(ApiError::unauthorized(
            "invalid_credentials",
            "username or password is wrong; check both and retry",
        ));
    };

    let issued = state
        .auth
        .issue(user_id, &credentials.username)
        .map_err(|err| {
            tracing::error!(error = %err, user_id, "token signing failed");
            ApiError::internal("signing the token failed; retry the login")
        })?;
    Ok(Json(LoginResponse {
        token: issued.token,
        user_id,
        expires_at_ms: issued.expires_at_ms,
    }))
}

/// Checks the username rules: 3 to 32 characters from `[A-Za-z0-9_.-]`.
pub fn validate_username(username: &str) -> Result<(), ApiError> {
    let length_ok = (MIN_USERNAME_LEN..=MAX_USERNAME_LEN).contains(&username.len());
    let charset_ok = username
        .bytes()
        .all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'.' | b'-'));
    if length_ok && charset_ok {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "invalid_username",
        format!(
            "username {username:?} is invalid; use {MIN_USERNAME_LEN} to {MAX_USERNAME_LEN} \
             characters from A-Z, a-z, 0-9, '_', '.' and '-'"
        ),
    ))
}

/// Checks the password length rules. The message never contains the password.
pub fn validate_password(password: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    if (MIN_PASSWORD_LEN..=MAX_PASSWORD_LEN).contains(&length) {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "invalid_password",
        format!("password has {length} characters; use {MIN_PASSWORD_LEN} to {MAX_PASSWORD_LEN}"),
    ))
}

/// Runs a password hash or verification on tokio's blocking pool, at most one per CPU at a
/// time, so a burst of requests queues instead of allocating 19 MiB of Argon2 memory each.
async fn run_password_task<R>(task: impl FnOnce() -> R + Send + 'static) -> Result<R, ApiError>
where
    R: Send + 'static,
{
    let permit = password_task_permits()
        .clone()
        .acquire_owned()
        .await
        .map_err(|err| {
            tracing::error!(error = %err, "password task semaphore is closed");
            ApiError::internal("the password hashing queue is closed; retry the request")
        })?;
    // The blocking task owns the permit, so it counts until the hash finishes even when the
    // client disconnects first.
    let result = tokio::task::spawn_blocking(move || {
        let output = task();
        drop(permit);
        output
    })
    .await?;
    Ok(result)
}

fn password_task_permits() -> &'static Arc<Semaphore> {
    static PERMITS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    PERMITS.get_or_init(|| {
        let cpus = std::thread::available_parallelism()
            .map(NonZeroUsize::get)
            .unwrap_or(1);
        Arc::new(Semaphore::new(cpus))
    })
}

/// Returns a valid Argon2id hash of a random password, so that a login for an unknown user
/// runs the same verification as one with a wrong password.
fn dummy_password_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let random_password = format!("{:032x}", rand::random::<u128>());
        match hash_password(&random_password) {
            Ok(hash) => hash,
            Err(err) => {
                // An empty hash fails to parse, so verification still returns false, only
                // faster. Logins stay correct.
                tracing::warn!(error = %err, "hashing the dummy password failed");
                String::new()
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn username_accepts_valid_names() {
        for name in ["abc", "Alice_01", "a.b-c", &"x".repeat(MAX_USERNAME_LEN)] {
            assert!(validate_username(name).is_ok(), "{name:?} should be valid");
        }
    }

    #[test]
    fn username_rejects_invalid_names() {
        let too_long = "x".repeat(MAX_USERNAME_LEN + 1);
        for name in [
            "",
            "ab",
            "has space",
            "émile",
            "semi;colon",
            too_long.as_str(),
        ] {
            let err = validate_username(name).expect_err("should be invalid");
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{name:?}");
            assert_eq!(err.code, "invalid_username", "{name:?}");
        }
    }

    #[test]
    fn password_length_bounds() {
        assert!(validate_password("12345678").is_ok());
        assert!(validate_password(&"p".repeat(MAX_PASSWORD_LEN)).is_ok());

        let short = validate_password("1234567").expect_err("7 chars");
        assert_eq!(short.code, "invalid_password");
        let long = validate_password(&"p".repeat(MAX_PASSWORD_LEN + 1)).expect_err("too long");
        assert_eq!(long.code, "invalid_password");
    }

    #[test]
    fn password_error_omits_password() {
        let err = validate_password("s3cr3t!").expect_err("short");

        assert!(!err.message.contains("s3cr3t!"), "{}", err.message);
    }

    #[test]
    fn dummy_hash_is_valid_argon2id() {
        let hash = dummy_password_hash();

        assert!(hash.starts_with("$argon2id$"), "{hash:?}");
        assert!(!verify_password("", hash));
    }
}
