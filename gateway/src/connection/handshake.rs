//! Admission of a connection at the HTTP upgrade: check the path, protocol version and
//! token of the request, and pick the subprotocol to echo or the HTTP error to send.

use switchboard_protocol::version::{negotiate, token_from_subprotocols};

use crate::auth::AuthError;
use crate::shard::Shard;
use crate::ws::{self, UpgradeRequest};

/// Outcome of a successful upgrade.
pub(super) struct Admitted {
    /// User of a token presented at the handshake.
    pub user_id: Option<u64>,
    /// Negotiated protocol version.
    pub version: u32,
}

/// Checks path, version and token. Returns the admitted identity and the subprotocol to
/// echo, or the HTTP error response.
pub(super) fn admit(
    shard: &Shard,
    request: &UpgradeRequest,
) -> Result<(Admitted, Option<String>), Vec<u8>> {
    if request.path != shard.config().ws_path {
        let reason = format!(
            "no WebSocket endpoint at {}; connect to {}",
            request.path,
            shard.config().ws_path
        );
        return Err(ws::http_error(404, &reason, &[]));
    }

    let offered = request.subprotocols.iter().map(String::as_str);
    let negotiated =
        negotiate(offered).map_err(|error| ws::http_error(400, &error.to_string(), &[]))?;

    let user_id = match presented_token(request) {
        None => None,
        Some(token) => match shard.shared.auth.verify(&token) {
            Ok(claims) => Some(claims.user_id),
            Err(error) => return Err(unauthorized(&error)),
        },
    };
    let admitted = Admitted {
        user_id,
        version: negotiated.version,
    };
    Ok((admitted, negotiated.subprotocol))
}

/// Finds the token in the `Authorization` header, the `token` query parameter or a
/// `bearer.<token>` subprotocol, in that order.
fn presented_token(request: &UpgradeRequest) -> Option<String> {
    if let Some(header) = &request.authorization {
        let token = header
            .strip_prefix("Bearer ")
            .or_else(|| header.strip_prefix("bearer "))
            .unwrap_or(header);
        return Some(token.trim().to_string());
    }
    if let Some(token) = request.query_param("token") {
        return Some(token);
    }
    token_from_subprotocols(request.subprotocols.iter().map(String::as_str)).map(str::to_string)
}

fn unauthorized(error: &AuthError) -> Vec<u8> {
    let challenge = match error {
        AuthError::Expired { .. } => {
            "Bearer error=\"invalid_token\", error_description=\"token expired\""
        }
        _ => "Bearer error=\"invalid_token\"",
    };
    ws::http_error(401, &error.to_string(), &[("WWW-Authenticate", challenge)])
}
