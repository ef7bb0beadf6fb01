//! The HTTP upgrade of an accepted connection: read the request within the handshake timeout,
//! let the caller admit or reject it, and reply 101 or an HTTP error.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use monoio::net::TcpStream;
use tracing::{debug, info};

use super::read::read_request_bytes;
use crate::ws::{self, UpgradeRequest};

/// Sets TCP_NODELAY, then completes the HTTP upgrade within `timeout`.
///
/// `admit` checks the request and returns what the caller keeps of it together with the
/// subprotocol to echo, or the HTTP error response to send. Returns the stream, the admitted
/// value and any bytes read past the request, or `None` when the connection was rejected or
/// failed and is closed.
pub(crate) async fn upgrade<A>(
    mut stream: TcpStream,
    peer: SocketAddr,
    timeout: Duration,
    admit: impl FnOnce(&UpgradeRequest) -> Result<(A, Option<String>), Vec<u8>>,
) -> Option<(TcpStream, A, BytesMut)> {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%peer, %error, "failed to set TCP_NODELAY");
    }
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

    let (admitted, subprotocol) = match admit(&request) {
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
async fn read_request(
    stream: &mut TcpStream,
) -> Result<(UpgradeRequest, BytesMut), Option<Vec<u8>>> {
    let mut buf = BytesMut::new();
    loop {
        match ws::parse_upgrade_request(&buf) {
            Ok(Some(request)) => return Ok((request, buf)),
            Ok(None) => {}
            Err(error) => return Err(Some(error.to_response())),
        }
        let (read, returned) = read_request_bytes(stream, buf).await;
        buf = returned;
        match read {
            Ok(0) | Err(_) => return Err(None),
            Ok(_) => {}
        }
    }
}

/// Writes an HTTP response, then shuts the connection down.
async fn reply_and_close(mut stream: TcpStream, response: Vec<u8>) {
    let (written, _) = stream.write_all(response).await;
    if let Err(error) = written {
        debug!(%error, "failed to write an HTTP error response");
    }
    let _ = stream.shutdown().await;
}
