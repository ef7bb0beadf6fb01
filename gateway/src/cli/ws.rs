//! Blocking WebSocket session of the client on tungstenite: connects with a bearer token,
//! waits for `AuthOk`, then sends requests and reads replies and server events as
//! length-prefixed protobuf frames inside binary messages.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::BytesMut;
use switchboard_protocol::pb::{envelope::Kind, Envelope, Error as ErrorReply, ErrorCode};
use switchboard_protocol::{decode_frames, encode_frame};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::{ClientHandshake, Request};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;
use tungstenite::{HandshakeError, Message, WebSocket};

/// Time the client waits for the TCP connection, the upgrade, `AuthOk` and each reply.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// Port of a `ws://` URL without one.
const DEFAULT_WS_PORT: u16 = 80;

/// An authenticated WebSocket session.
pub struct Session {
    socket: WebSocket<TcpStream>,
    url: String,
    next_request_id: u64,
    /// Frames received but not consumed yet, oldest first.
    received: VecDeque<Envelope>,
    user_id: u64,
}

impl Session {
    /// Connects to `url` with `token` in the `Authorization` header and waits for `AuthOk`.
    pub fn connect(url: &str, token: &str) -> Result<Session> {
        let request = upgrade_request(url, token)?;
        let stream = open_tcp(url, &request)?;
        let (socket, _response) = tungstenite::client::client(request, stream)
            .map_err(|error| handshake_error(url, error))?;
        let mut session = Session {
            socket,
            url: url.to_string(),
            next_request_id: 1,
            received: VecDeque::new(),
            user_id: 0,
        };
        session.await_auth_ok()?;
        Ok(session)
    }

    /// Returns the id of the authenticated user.
    pub fn user_id(&self) -> u64 {
        self.user_id
    }

    /// Sends a request and waits up to [`REPLY_TIMEOUT`] for its reply. Frames that arrive
    /// first stay queued for [`Session::next_frame`].
    pub fn request(&mut self, kind: Kind) -> Result<Envelope> {
        let request_id = self.send_request(kind)?;
        let deadline = Instant::now() + REPLY_TIMEOUT;
        loop {
            if let Some(reply) = take_reply(&mut self.received, request_id) {
                return Ok(reply);
            }
            if !self.receive(Some(deadline))? {
                bail!(
                    "no reply to request {request_id} from {} within {} s; check the server logs",
                    self.url,
                    REPLY_TIMEOUT.as_secs()
                );
            }
        }
    }

    /// Sends a request without waiting for its reply. Returns its request id.
    pub fn send_request(&mut self, kind: Kind) -> Result<u64> {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        let mut payload = BytesMut::new();
        encode_frame(
            &Envelope {
                request_id,
                kind: Some(kind),
            },
            &mut payload,
        );
        self.socket
            .send(Message::Binary(payload.freeze()))
            .with_context(|| format!("sending request {request_id} to {} failed", self.url))?;
        Ok(request_id)
    }

    /// Returns the next received frame, waiting until `deadline` (forever with `None`).
    /// Returns `Ok(None)` when the deadline passes first.
    pub fn next_frame(&mut self, deadline: Option<Instant>) -> Result<Option<Envelope>> {
        loop {
            if let Some(frame) = self.received.pop_front() {
                return Ok(Some(frame));
            }
            if !self.receive(deadline)? {
                return Ok(None);
            }
        }
    }

    /// Closes the session with a normal close code. Failures are ignored because the
    /// command's work is done by then.
    pub fn close(mut self) {
        let frame = CloseFrame {
            code: CloseCode::Normal,
            reason: "client done".into(),
        };
        let _ = self.socket.close(Some(frame));
        let _ = self.socket.flush();
    }

    fn await_auth_ok(&mut self) -> Result<()> {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        let Some(first) = self.next_frame(Some(deadline))? else {
            bail!(
                "no AuthOk from {} within {} s after the upgrade; check the server logs",
                self.url,
                REPLY_TIMEOUT.as_secs()
            );
        };
        match first.kind {
            Some(Kind::AuthOk(ok)) => {
                self.user_id = ok.user_id;
                Ok(())
            }
            Some(Kind::Error(error)) => Err(reply_error("authentication", &error)),
            other => bail!(
                "expected AuthOk as the first frame from {}, got {other:?}",
                self.url
            ),
        }
    }

    /// Reads one WebSocket message and queues its frames. Returns false when `deadline`
    /// passes first.
    fn receive(&mut self, deadline: Option<Instant>) -> Result<bool> {
        loop {
            let timeout = match deadline {
                None => None,
                Some(deadline) => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(false);
                    }
                    Some(left)
                }
            };
            self.socket
                .get_mut()
                .set_read_timeout(timeout)
                .context("setting the socket read timeout failed")?;

            match self.socket.read() {
                Ok(Message::Binary(payload)) => {
                    let frames: Vec<Envelope> = decode_frames(&payload).with_context(|| {
                        format!("server {} sent an undecodable binary message", self.url)
                    })?;
                    self.received.extend(frames);
                    return Ok(true);
                }
                Ok(Message::Close(frame)) => return Err(closed_error(&self.url, frame)),
                // tungstenite replies to pings itself, and text and pong messages carry no frames.
                Ok(_) => continue,
                Err(tungstenite::Error::Io(error))
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return Ok(false);
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    bail!("server {} closed the connection", self.url)
                }
                Err(error) => {
                    return Err(error).with_context(|| format!("reading from {} failed", self.url))
                }
            }
        }
    }
}

/// Formats an `Error` reply as `action rejected: CODE: reason`.
pub fn reply_error(action: &str, error: &ErrorReply) -> anyhow::Error {
    let retry = if error.retryable {
        " (retryable; try again later)"
    } else {
        ""
    };
    anyhow!(
        "{action} rejected: {}: {}{retry}",
        error_code_name(error.code),
        error.reason
    )
}

/// Returns the short name of an error code, such as `NOT_MEMBER`, or `code N` for a code
/// this client does not know.
pub fn error_code_name(code: i32) -> String {
    match ErrorCode::try_from(code) {
        Ok(code) => code
            .as_str_name()
            .trim_start_matches("ERROR_CODE_")
            .to_string(),
        Err(_) => format!("code {code}"),
    }
}

/// Builds the upgrade request for a plain `ws://` URL with the bearer token.
fn upgrade_request(url: &str, token: &str) -> Result<Request> {
    let mut request = url
        .into_client_request()
        .with_context(|| format!("WebSocket URL {url:?} is invalid; use ws://HOST:PORT/ws"))?;
    if request.uri().scheme_str() != Some("ws") {
        bail!("WebSocket URL {url:?} is not a ws:// URL; this client supports plain ws:// only");
    }
    let authorization = format!("Bearer {token}").parse().with_context(|| {
        "the token contains characters that cannot go in an HTTP header; log in again"
    })?;
    request.headers_mut().insert("Authorization", authorization);
    Ok(request)
}

/// Opens the TCP connection of `request`, trying each resolved address in turn.
fn open_tcp(url: &str, request: &Request) -> Result<TcpStream> {
    let uri = request.uri();
    let host = uri
        .host()
        .with_context(|| format!("WebSocket URL {url:?} has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = uri.port_u16().unwrap_or(DEFAULT_WS_PORT);
    let addresses: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .with_context(|| format!("resolving the host of {url} failed"))?
        .collect();

    let mut last_error = None;
    for address in addresses {
        match TcpStream::connect_timeout(&address, REPLY_TIMEOUT) {
            Ok(stream) => {
                stream
                    .set_nodelay(true)
                    .context("setting TCP_NODELAY failed")?;
                // Bounds the upgrade. Later reads set their own timeout.
                stream
                    .set_read_timeout(Some(REPLY_TIMEOUT))
                    .context("setting the socket read timeout failed")?;
                return Ok(stream);
            }
            Err(error) => last_error = Some(error),
        }
    }
    let Some(error) = last_error else {
        bail!("host of {url} resolved to no address");
    };
    Err(anyhow!(error).context(format!(
        "cannot reach switchboard at {url}; start it with `switchboard serve` \
         or pass the right address with --ws"
    )))
}

/// Describes a failed upgrade, with the server's HTTP status and body when it rejected it.
fn handshake_error(url: &str, error: HandshakeError<ClientHandshake<TcpStream>>) -> anyhow::Error {
    let error = match error {
        HandshakeError::Interrupted(_) => {
            return anyhow!(
                "WebSocket upgrade at {url} timed out after {} s; check the server logs",
                REPLY_TIMEOUT.as_secs()
            );
        }
        HandshakeError::Failure(error) => error,
    };
    let tungstenite::Error::Http(response) = error else {
        return anyhow!(error).context(format!("WebSocket upgrade at {url} failed"));
    };
    let status = response.status().as_u16();
    let body = response
        .body()
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    anyhow!(
        "WebSocket upgrade at {url} rejected with HTTP {status}: {}",
        body.trim()
    )
}

fn closed_error(url: &str, frame: Option<CloseFrame>) -> anyhow::Error {
    match frame {
        Some(frame) => anyhow!(
            "server {url} closed the session with code {}: {}",
            u16::from(frame.code),
            frame.reason
        ),
        None => anyhow!("server {url} closed the session without a close code"),
    }
}

/// Removes and returns the first queued frame that replies to `request_id`.
fn take_reply(received: &mut VecDeque<Envelope>, request_id: u64) -> Option<Envelope> {
    let index = received
        .iter()
        .position(|frame| frame.request_id == request_id)?;
    received.remove(index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_code_name_strips_prefix() {
        assert_eq!(error_code_name(ErrorCode::NotMember as i32), "NOT_MEMBER");
        assert_eq!(error_code_name(9999), "code 9999");
    }

    #[test]
    fn reply_error_names_code_and_reason() {
        let error = ErrorReply {
            code: ErrorCode::RateLimited as i32,
            reason: "slow down".to_string(),
            retryable: true,
        };

        let message = reply_error("send", &error).to_string();

        assert_eq!(
            message,
            "send rejected: RATE_LIMITED: slow down (retryable; try again later)"
        );
    }

    #[test]
    fn upgrade_request_rejects_wss() {
        let error = upgrade_request("wss://example.invalid/ws", "t").expect_err("wss");

        assert!(error.to_string().contains("plain ws://"), "{error}");
    }

    #[test]
    fn take_reply_keeps_other_frames() {
        let frame = |request_id| Envelope {
            request_id,
            kind: None,
        };
        let mut received = VecDeque::from([frame(0), frame(7), frame(0)]);

        let reply = take_reply(&mut received, 7);

        assert_eq!(reply.map(|f| f.request_id), Some(7));
        assert_eq!(received.len(), 2);
        assert!(take_reply(&mut received, 7).is_none());
    }
}
