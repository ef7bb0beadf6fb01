//! The reader loop of a session: reads with the idle and authentication deadlines, decodes
//! WebSocket messages and hands binary messages to the request handler.

use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;
use switchboard_protocol::CloseCode;
use tracing::debug;

use super::requests::{self, Flow};
use crate::session::{RateLimiter, SessionEntry};
use crate::shard::Shard;
use crate::ws::{self, MessageDecoder, Role, WsEvent};

/// Bytes reserved for each read. Small, because an idle session keeps its buffer while a
/// read is pending; larger messages grow the buffer as they arrive.
const READ_RESERVE_BYTES: usize = 4 * 1024;

/// Reason a reader loop ended.
pub(super) enum Ending {
    /// The server closes the session with this code and reason.
    Close(CloseCode, String),
    /// The peer sent a close frame, with its code and reason if any.
    PeerClosed(Option<(u16, String)>),
    /// The connection failed or the peer closed TCP without a close frame.
    Disconnected,
    /// The shard ended the session (slow consumer or drain) and queued its close frame.
    Ended,
}

/// Appends what the next read returns to `buf`, without copying.
pub(crate) async fn read_more<R: AsyncReadRent>(
    reader: &mut R,
    mut buf: BytesMut,
) -> (io::Result<usize>, BytesMut) {
    buf.reserve(READ_RESERVE_BYTES);
    let (len, capacity) = (buf.len(), buf.capacity());
    let (read, slice) = reader.read(buf.slice_mut(len..capacity)).await;
    (read, slice.into_inner())
}

/// Runs until the session ends.
pub(super) async fn run<R: AsyncReadRent>(
    shard: &Shard,
    session_id: u64,
    entry: &SessionEntry,
    version: u32,
    mut reader: R,
    mut buf: BytesMut,
) -> Ending {
    let config = shard.config();
    let mut decoder = MessageDecoder::new(Role::Server, config.max_message_bytes);
    let mut limiter = RateLimiter::new(
        config.rate_limit_per_second,
        config.rate_limit_burst,
        Instant::now(),
    );
    let idle = Duration::from_millis(config.idle_timeout_ms);
    let auth_deadline = Instant::now() + Duration::from_millis(config.auth_timeout_ms);
    let mut session = requests::Session {
        shard,
        session_id,
        entry,
        version,
        limiter: &mut limiter,
    };

    loop {
        if let Some(ending) = decode_buffered(&mut session, &mut decoder, &mut buf) {
            return ending;
        }
        if entry.kill.is_raised() {
            return Ending::Ended;
        }
        if entry.user_id.get().is_none() && Instant::now() >= auth_deadline {
            return auth_timeout();
        }

        let (timeout, timeout_ending) = next_deadline(entry, idle, auth_deadline);
        let read = monoio::select! {
            _ = entry.kill.wait() => return Ending::Ended,
            read = monoio::time::timeout(timeout, read_more(&mut reader, buf)) => read,
        };
        let Ok((read, returned)) = read else {
            return timeout_ending;
        };
        buf = returned;
        match read {
            Ok(0) => return Ending::Disconnected,
            Ok(_) => {}
            Err(error) => {
                debug!(session_id, %error, "read failed");
                return Ending::Disconnected;
            }
        }
    }
}

/// Returns how long the next read may wait and what ends the session when it does not
/// finish in time.
fn next_deadline(
    entry: &SessionEntry,
    idle: Duration,
    auth_deadline: Instant,
) -> (Duration, Ending) {
    let idle_ending = || {
        let reason = format!("no data received for {} ms; reconnect", idle.as_millis());
        Ending::Close(CloseCode::IdleTimeout, reason)
    };
    if entry.user_id.get().is_some() {
        return (idle, idle_ending());
    }
    let until_auth = auth_deadline.saturating_duration_since(Instant::now());
    if until_auth < idle {
        (until_auth, auth_timeout())
    } else {
        (idle, idle_ending())
    }
}

fn auth_timeout() -> Ending {
    let reason = "authentication timed out; send an authenticate frame after connecting";
    Ending::Close(CloseCode::PolicyViolation, reason.to_string())
}

/// Decodes and handles every complete message in `buf`. Returns how the session ends, if it
/// does.
fn decode_buffered(
    session: &mut requests::Session<'_>,
    decoder: &mut MessageDecoder,
    buf: &mut BytesMut,
) -> Option<Ending> {
    loop {
        let event = match decoder.decode(buf) {
            Ok(Some(event)) => event,
            Ok(None) => return None,
            Err(error) => {
                debug!(session_id = session.session_id, %error, "WebSocket protocol error");
                return Some(Ending::Close(error.close_code(), error.to_string()));
            }
        };

        let flow = match event {
            WsEvent::Binary(payload) => session.handle_message(&payload),
            WsEvent::Text(_) => {
                let reason =
                    "text messages are not supported; send protocol frames in binary messages";
                Flow::End(Ending::Close(
                    CloseCode::UnsupportedData,
                    reason.to_string(),
                ))
            }
            WsEvent::Ping(payload) => session.send(ws::encode_pong(&payload)),
            WsEvent::Pong(_) => Flow::Continue,
            WsEvent::Close(received) => Flow::End(Ending::PeerClosed(received)),
        };
        if let Flow::End(ending) = flow {
            return Some(ending);
        }
    }
}
