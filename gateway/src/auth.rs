//! Authentication of the gateway: issues and verifies the HS256 JSON Web Tokens that clients
//! present to the REST API and the WebSocket handshake, and hashes passwords with Argon2id.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, Salt, SaltString};
use argon2::Argon2;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

/// Minimum length of the HS256 secret in bytes. RFC 7518 section 3.2 requires an HMAC key at
/// least as long as the hash output, which is 256 bits for SHA-256.
pub const MIN_SECRET_LEN: usize = 32;

/// Clock skew in seconds that [`Auth::verify`] tolerates past a token's `exp`, so a token
/// issued by one gateway stays valid on another whose clock runs slightly ahead.
pub const EXP_LEEWAY_SECS: u64 = 5;

/// Errors of token handling and password hashing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// The token was valid once, but its `exp` lies in the past.
    #[error("token expired at {expired_at} (unix seconds); log in again for a new token")]
    Expired {
        /// The token's `exp` claim in unix seconds.
        expired_at: u64,
    },
    /// The token is malformed, forged or lacks a required claim.
    #[error("invalid token: {0}; log in again for a new token")]
    Invalid(String),
    /// The HS256 secret is too short to be safe.
    #[error("token secret has {len} bytes but needs at least {MIN_SECRET_LEN}; configure a longer random secret")]
    SecretTooShort {
        /// Length of the rejected secret in bytes.
        len: usize,
    },
    /// The token lifetime is below one second, the resolution of `exp`.
    #[error("token TTL {ttl:?} is below 1 s; configure a TTL of at least one second")]
    TtlTooShort {
        /// The rejected lifetime.
        ttl: Duration,
    },
    /// Signing a token failed.
    #[error("signing a token failed: {0}")]
    Signing(String),
    /// Hashing a password failed.
    #[error("hashing a password failed: {0}")]
    Hashing(String),
}

/// A freshly signed token and its expiry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The compact JWS string to send as `Authorization: Bearer <token>`.
    pub token: String,
    /// Expiry of the token in unix milliseconds (the `exp` claim times 1000).
    pub expires_at_ms: u64,
}

/// Verified identity carried by a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// User id from the `sub` claim.
    pub user_id: u64,
    /// Username from the `name` claim, as it was at login.
    pub username: String,
    /// Expiry in unix seconds (`exp`).
    pub exp: u64,
    /// Issue time in unix seconds (`iat`).
    pub iat: u64,
}

/// Claims as they appear in the token payload.
#[derive(Debug, Serialize, Deserialize)]
struct WireClaims {
    sub: String,
    name: String,
    exp: u64,
    iat: u64,
}

/// Issuer and verifier of HS256 tokens with one secret and one lifetime.
pub struct Auth {
    encoding_key: EncodingKey,
    decoding_key: DecodingKey,
    validation: Validation,
    ttl_secs: u64,
}

impl std::fmt::Debug for Auth {
    // Omits the keys, so debug output and logs never contain the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("ttl_secs", &self.ttl_secs)
            .finish_non_exhaustive()
    }
}

impl Auth {
    /// Creates an issuer and verifier from an HS256 `secret` and the lifetime of new tokens.
    ///
    /// # Errors
    /// [`AuthError::SecretTooShort`] below [`MIN_SECRET_LEN`] bytes, [`AuthError::TtlTooShort`]
    /// below one second. The TTL is truncated to whole seconds.
    pub fn new(secret: &[u8], ttl: Duration) -> Result<Self, AuthError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(AuthError::SecretTooShort { len: secret.len() });
        }
        if ttl.as_secs() == 0 {
            return Err(AuthError::TtlTooShort { ttl });
        }
        Ok(Self {
            encoding_key: EncodingKey::from_secret(secret),
            decoding_key: DecodingKey::from_secret(secret),
            validation: build_validation(),
            ttl_secs: ttl.as_secs(),
        })
    }

    /// Signs a token for `user_id` that expires one TTL from now.
    ///
    /// # Errors
    /// [`AuthError::Signing`] when the JWT library fails to sign.
    pub fn issue(&self, user_id: u64, username: &str) -> Result<IssuedToken, AuthError> {
        self.issue_at(user_id, username, unix_now_secs())
    }

    /// Signs a token as if issued at `iat` (unix seconds).
    fn issue_at(&self, user_id: u64, username: &str, iat: u64) -> Result<IssuedToken, AuthError> {
        let exp = iat.saturating_add(self.ttl_secs);
        let claims = WireClaims {
            sub: user_id.to_string(),
            name: username.to_owned(),
            exp,
            iat,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding_key)
                .map_err(|err| AuthError::Signing(err.to_string()))?;
        Ok(IssuedToken {
            token,
            expires_at_ms: exp.saturating_mul(1000),
        })
    }

    /// Verifies the signature and expiry of `token` and returns its claims.
    ///
    /// Computes one HMAC-SHA256 over the token and does no I/O, so async code may call it on a
    /// worker thread.
    ///
    /// # Errors
    /// [`AuthError::Expired`] when `exp` is more than [`EXP_LEEWAY_SECS`] in the past and the
    /// signature is valid, [`AuthError::Invalid`] for every other failure.
    pub fn verify(&self, token: &str) -> Result<Claims, AuthError> {
        let data = jsonwebtoken::decode::<WireClaims>(token, &self.decoding_key, &self.validation)
            .map_err(|err| map_decode_error(token, err.kind()))?;
        let wire = data.claims;
        let user_id = wire.sub.parse::<u64>().map_err(|_| {
            AuthError::Invalid(format!("sub claim {:?} is not a user id", wire.sub))
        })?;
        Ok(Claims {
            user_id,
            username: wire.name,
            exp: wire.exp,
            iat: wire.iat,
        })
    }
}

/// Builds the validation rules: HS256 only, `exp` and `sub` required, small `exp` leeway.
fn build_validation() -> Validation {
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = EXP_LEEWAY_SECS;
    validation.set_required_spec_claims(&["exp", "sub"]);
    validation
}

/// Translates a JWT library failure into [`AuthError`].
fn map_decode_error(token: &str, kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired {
            expired_at: read_exp_unverified(token).unwrap_or(0),
        },
        ErrorKind::InvalidSignature => AuthError::Invalid("signature does not match".to_owned()),
        ErrorKind::InvalidAlgorithm => AuthError::Invalid("algorithm is not HS256".to_owned()),
        ErrorKind::MissingRequiredClaim(claim) => {
            AuthError::Invalid(format!("required claim {claim:?} is missing"))
        }
        ErrorKind::InvalidClaimFormat(claim) => {
            AuthError::Invalid(format!("claim {claim:?} has an invalid format"))
        }
        ErrorKind::Json(_) => AuthError::Invalid("claims are not the expected JSON".to_owned()),
        _ => AuthError::Invalid("token is not a well-formed JWT".to_owned()),
    }
}

/// Reads `exp` from a token whose signature the caller has already checked.
fn read_exp_unverified(token: &str) -> Option<u64> {
    jsonwebtoken::dangerous::insecure_decode::<WireClaims>(token)
        .ok()
        .map(|data| data.claims.exp)
}

/// Returns the current time in unix seconds. A clock set before 1970 reads as 0.
fn unix_now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

/// Hashes `password` with Argon2id (default parameters of the `argon2` crate 0.5: 19 MiB,
/// 2 passes, 1 lane) and a random 16-byte salt, and returns the PHC string.
///
/// Fills 19 MiB of memory twice, so async callers should run it on a blocking thread.
///
/// # Errors
/// [`AuthError::Hashing`] when the Argon2 implementation fails.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    let salt_bytes: [u8; Salt::RECOMMENDED_LENGTH] = rand::random();
    let salt =
        SaltString::encode_b64(&salt_bytes).map_err(|err| AuthError::Hashing(err.to_string()))?;
    let hash = Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map_err(|err| AuthError::Hashing(err.to_string()))?;
    Ok(hash.to_string())
}

/// Checks `password` against a PHC string made by [`hash_password`], using the parameters
/// stored in the hash. Returns false on mismatch and on an unparsable hash.
pub fn verify_password(password: &str, password_hash: &str) -> bool {
    let parsed = match PasswordHash::new(password_hash) {
        Ok(parsed) => parsed,
        Err(err) => {
            tracing::warn!(error = %err, "stored password hash is not a valid PHC string");
            return false;
        }
    };
    Argon2::default()
        .verify_password(password.as_bytes(), &parsed)
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn auth() -> Auth {
        Auth::new(SECRET, Duration::from_secs(3600)).expect("valid auth config")
    }

    #[test]
    fn issue_then_verify_roundtrip() {
        let auth = auth();
        let issued = auth.issue(42, "alice").expect("issue");
        let claims = auth.verify(&issued.token).expect("verify");

        assert_eq!(claims.user_id, 42);
        assert_eq!(claims.username, "alice");
        assert_eq!(claims.exp, claims.iat + 3600);
        assert_eq!(issued.expires_at_ms, claims.exp * 1000);
    }

    #[test]
    fn expires_at_tracks_ttl() {
        let auth = Auth::new(SECRET, Duration::from_secs(90)).expect("valid auth config");
        let before_ms = unix_now_secs() * 1000;
        let issued = auth.issue(1, "bob").expect("issue");
        let after_ms = (unix_now_secs() + 1) * 1000;

        assert!(issued.expires_at_ms >= before_ms + 90_000);
        assert!(issued.expires_at_ms <= after_ms + 90_000);
    }

    #[test]
    fn verify_rejects_expired_token() {
        let auth = auth();
        let iat = unix_now_secs() - 3600 - EXP_LEEWAY_SECS - 10;
        let issued = auth.issue_at(7, "carol", iat).expect("issue");

        let err = auth
            .verify(&issued.token)
            .expect_err("expired token must fail");

        assert_eq!(
            err,
            AuthError::Expired {
                expired_at: iat + 3600
            }
        );
    }

    #[test]
    fn verify_accepts_exp_within_leeway() {
        let auth = auth();
        let iat = unix_now_secs() - 3600 - 1;
        let issued = auth.issue_at(7, "carol", iat).expect("issue");

        assert!(auth.verify(&issued.token).is_ok());
    }

    #[test]
    fn verify_rejects_other_secret() {
        let other = Auth::new(b"ffffffffffffffffffffffffffffffff", Duration::from_secs(60))
            .expect("valid auth config");
        let issued = other.issue(1, "mallory").expect("issue");

        let err = auth()
            .verify(&issued.token)
            .expect_err("foreign token must fail");

        assert_eq!(
            err,
            AuthError::Invalid("signature does not match".to_owned())
        );
    }

    #[test]
    fn verify_forged_expired_is_invalid() {
        let other = Auth::new(b"ffffffffffffffffffffffffffffffff", Duration::from_secs(60))
            .expect("valid auth config");
        let issued = other.issue_at(1, "mallory", 1_000).expect("issue");

        let err = auth()
            .verify(&issued.token)
            .expect_err("foreign token must fail");

        assert!(matches!(err, AuthError::Invalid(_)), "got {err:?}");
    }

    #[test]
    fn verify_rejects_garbage() {
        let auth = auth();

        for token in ["", "abc", "a.b.c", "a.b"] {
            let err = auth.verify(token).expect_err("garbage must fail");
            assert!(
                matches!(err, AuthError::Invalid(_)),
                "{token:?} gave {err:?}"
            );
        }
    }

    #[test]
    fn verify_rejects_tampered_payload() {
        let auth = auth();
        let issued = auth.issue(1, "alice").expect("issue");
        let forged_claims = WireClaims {
            sub: "2".to_owned(),
            name: "alice".to_owned(),
            exp: unix_now_secs() + 60,
            iat: unix_now_secs(),
        };
        let forged_payload = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &forged_claims,
            &EncodingKey::from_secret(b"other"),
        )
        .expect("encode");
        let mut parts: Vec<&str> = issued.token.split('.').collect();
        let forged_middle = forged_payload.split('.').nth(1).expect("payload part");
        parts[1] = forged_middle;
        let tampered = parts.join(".");

        let err = auth
            .verify(&tampered)
            .expect_err("tampered token must fail");

        assert_eq!(
            err,
            AuthError::Invalid("signature does not match".to_owned())
        );
    }

    #[test]
    fn verify_rejects_non_numeric_sub() {
        let auth = auth();
        let claims = WireClaims {
            sub: "alice".to_owned(),
            name: "alice".to_owned(),
            exp: unix_now_secs() + 60,
            iat: unix_now_secs(),
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &auth.encoding_key)
                .expect("encode");

        let err = auth.verify(&token).expect_err("non-numeric sub must fail");

        assert!(matches!(err, AuthError::Invalid(_)), "got {err:?}");
    }

    #[test]
    fn verify_rejects_other_algorithm() {
        let auth = auth();
        let claims = WireClaims {
            sub: "1".to_owned(),
            name: "alice".to_owned(),
            exp: unix_now_secs() + 60,
            iat: unix_now_secs(),
        };
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &claims,
            &EncodingKey::from_secret(SECRET),
        )
        .expect("encode");

        let err = auth.verify(&token).expect_err("HS512 token must fail");

        assert_eq!(err, AuthError::Invalid("algorithm is not HS256".to_owned()));
    }

    #[test]
    fn new_rejects_short_secret() {
        let err = Auth::new(b"short", Duration::from_secs(60)).expect_err("short secret");

        assert_eq!(err, AuthError::SecretTooShort { len: 5 });
    }

    #[test]
    fn new_rejects_subsecond_ttl() {
        let ttl = Duration::from_millis(500);
        let err = Auth::new(SECRET, ttl).expect_err("sub-second ttl");

        assert_eq!(err, AuthError::TtlTooShort { ttl });
    }

    #[test]
    fn password_hash_roundtrip() {
        let hash = hash_password("correct horse").expect("hash");

        assert!(hash.starts_with("$argon2id$"), "hash {hash:?}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
    }

    #[test]
    fn password_hash_salts_differ() {
        let first = hash_password("same password").expect("hash");
        let second = hash_password("same password").expect("hash");

        assert_ne!(first, second);
    }

    #[test]
    fn verify_password_rejects_malformed_hash() {
        assert!(!verify_password("anything", "not a phc string"));
        assert!(!verify_password("anything", ""));
    }
}
