//! The HTTP upgrade of a connection: read the request within the handshake timeout, check
//! the path, protocol version and token, and reply 101 or an HTTP error.

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::BytesMut;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use switchboard_protocol::version::{negotiate, token_from_subprotocols};
use tracing::{debug, info};

use super::reader::read_more;
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

/// Performs the upgrade. Returns the stream, the admitted identity and any bytes read past
/// the request, or `None` when the connection was rejected and closed.
pub(super) async fn upgrade(
    shard: &Rc<Shard>,
    mut stream: TcpStream,
    peer: SocketAddr,
) -> Option<(TcpStream, Admitted, BytesMut)> {
    let timeout = Duration::from_millis(shard.config().handshake_timeout_ms);
    let (request, mut buf) = match monoio::time::timeout(timeout, read_request(&mut stream)).await {
        Ok(Ok(read)) => read,
        Ok(Err(Some(response))) => {
            reply_and_close(stream, response).await;
            return None;
        }
        Ok(Err(None)) => return None,
        Err(_) => {
            debug!(%peer, timeout_ms = timeout.as_millis() as u64, "handshake timed out; connection closed");
            let response = ws::http_error(408, "handshake timed out", &[]);
            reply_and_close(stream, response).await;
            return None;
        }
    };

    let (admitted, subprotocol) = match admit(shard, &request) {
        Ok(admitted) => admitted,
        Err(response) => {
            info!(%peer, path = %request.path, "upgrade rejected");
            reply_and_close(stream, response).await;
            return None;
        }
    };
    let response = ws::switching_protocols_response(&request.key, subprotocol.as_deref());
    let (written, _) = stream.write_all(response).await;
    if let Err(error) = written {
        debug!(%peer, %error, "failed to write the upgrade response");
        return None;
    }

    let _ = buf.split_to(request.bytes_consumed);
    Some((stream, admitted, buf))
}

/// Reads until the request headers are complete. `Err(Some(response))` is an HTTP error to
/// send; `Err(None)` means the peer went away.
pub(crate) async fn read_request(
    stream: &mut TcpStream,
) -> Result<(UpgradeRequest, BytesMut), Option<Vec<u8>>> {
    let mut buf = BytesMut::new();
    loop {
        match ws::parse_upgrade_request(&buf) {
            Ok(Some(request)) => return Ok((request, buf)),
            Ok(None) => {}
            Err(error) => return Err(Some(error.to_response())),
        }
        let (read, returned) = read_more(stream, buf).await;
        buf = returned;
        match read {
            Ok(0) | Err(_) => return Err(None),
            Ok(_) => {}
        }
    }
}

/// Checks path, version and token. Returns the admitted identity and the subprotocol to
/// echo, or the HTTP error response.
fn admit(shard: &Shard, request: &UpgradeRequest) -> Result<(Admitted, Option<String>), Vec<u8>> {
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

/// Writes an HTTP response, then shuts the connection down.
pub(crate) async fn reply_and_close(mut stream: TcpStream, response: Vec<u8>) {
    let (written, _) = stream.write_all(response).await;
    if let Err(error) = written {
        debug!(%error, "failed to write an HTTP error response");
    }
    let _ = stream.shutdown().await;
}
