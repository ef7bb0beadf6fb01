//! The HS256 token secret: from the configuration, or generated once and kept in the data
//! directory so tokens stay valid across restarts.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;

use anyhow::Context;
use base64::Engine;
use rand::RngCore;
use tracing::info;

use crate::config::Config;

/// File in the data directory that keeps a generated secret.
const SECRET_FILE: &str = "jwt-secret";

/// Returns the configured secret, or the one in the data directory, creating it if needed.
///
/// # Errors
/// When the secret file cannot be read or written.
pub fn load_or_create(config: &Config) -> anyhow::Result<Vec<u8>> {
    if let Some(secret) = &config.auth.jwt_secret {
        return Ok(secret.as_bytes().to_vec());
    }

    let path = config.data_dir.join(SECRET_FILE);
    if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("failed to read the token secret {}", path.display()))?;
        return Ok(text.trim().as_bytes().to_vec());
    }

    let mut raw = [0u8; 32];
    rand::rng().fill_bytes(&mut raw);
    let secret = base64::engine::general_purpose::STANDARD_NO_PAD.encode(raw);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .with_context(|| format!("failed to create the token secret {}", path.display()))?;
    file.write_all(secret.as_bytes())?;
    file.sync_all()?;
    info!(path = %path.display(), "generated a new token secret");
    Ok(secret.into_bytes())
}
