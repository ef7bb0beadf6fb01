//! HS256 tokens minted locally with the server's secret, in the claim layout the gateway
//! verifies: `sub` is the user id as a string, plus `name`, `iat` and `exp`.

use serde::Serialize;

/// Lifetime of minted tokens in seconds: a day, longer than any run.
pub const TOKEN_TTL_SECS: u64 = 24 * 3600;

/// Shortest secret the gateway accepts, in bytes.
pub const MIN_SECRET_BYTES: usize = 32;

/// Errors of token minting.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The secret is shorter than the gateway allows.
    #[error(
        "JWT secret has {len} bytes but the server requires at least {MIN_SECRET_BYTES}; pass \
         the secret the server runs with (SWITCHBOARD_JWT_SECRET)"
    )]
    SecretTooShort {
        /// Length of the given secret.
        len: usize,
    },
    /// Signing failed.
    #[error("signing a token for user {user_id} failed: {source}")]
    Signing {
        user_id: u64,
        source: jsonwebtoken::errors::Error,
    },
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: String,
    name: &'a str,
    iat: u64,
    exp: u64,
}

/// Signs tokens with one HS256 secret.
pub struct TokenMinter {
    key: jsonwebtoken::EncodingKey,
    header: jsonwebtoken::Header,
}

impl TokenMinter {
    /// Creates a minter for `secret`.
    ///
    /// # Errors
    /// [`TokenError::SecretTooShort`] below [`MIN_SECRET_BYTES`].
    pub fn new(secret: &str) -> Result<Self, TokenError> {
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TokenError::SecretTooShort { len: secret.len() });
        }
        Ok(Self {
            key: jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
            header: jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        })
    }

    /// Mints a token for `user_id` named `name`, issued at `now_unix_secs`.
    ///
    /// # Errors
    /// [`TokenError::Signing`] when the signature cannot be computed.
    pub fn mint(&self, user_id: u64, name: &str, now_unix_secs: u64) -> Result<String, TokenError> {
        let claims = Claims {
            sub: user_id.to_string(),
            name,
            iat: now_unix_secs,
            exp: now_unix_secs + TOKEN_TTL_SECS,
        };
        jsonwebtoken::encode(&self.header, &claims, &self.key)
            .map_err(|source| TokenError::Signing { user_id, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use switchboard_gateway::auth::Auth;

    const SECRET: &str = "a-test-secret-that-is-long-enough-0123";

    #[test]
    fn minted_token_verifies_at_gateway() {
        let now = crate::machine::unix_now_secs();
        let token = TokenMinter::new(SECRET)
            .unwrap()
            .mint(42, "u42", now)
            .unwrap();
        let auth = Auth::new(SECRET.as_bytes(), Duration::from_secs(60)).unwrap();
        let claims = auth.verify(&token).unwrap();
        assert_eq!(claims.user_id, 42);
        assert_eq!(claims.username, "u42");
        assert_eq!(claims.exp, now + TOKEN_TTL_SECS);
    }

    #[test]
    fn other_secret_rejected_at_gateway() {
        let now = crate::machine::unix_now_secs();
        let token = TokenMinter::new(SECRET)
            .unwrap()
            .mint(1, "u1", now)
            .unwrap();
        let other = "another-secret-that-is-long-enough-4567";
        let auth = Auth::new(other.as_bytes(), Duration::from_secs(60)).unwrap();
        assert!(auth.verify(&token).is_err());
    }

    #[test]
    fn short_secret_rejected() {
        let error = TokenMinter::new("short").err().unwrap();
        assert!(error.to_string().contains("5 bytes"));
    }
}
