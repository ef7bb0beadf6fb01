//! One client connection of the gateway: admission at the HTTP upgrade, then protocol frames
//! with the authentication and idle deadlines. The upgrade, the reader and writer tasks and
//! the session bookkeeping are the shared ones of [`crate::host`].

mod handshake;
mod reader;
mod requests;

use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use monoio::net::TcpStream;
use prost::Message as _;
use switchboard_protocol::encode_frame;
use switchboard_protocol::envelope;
use switchboard_protocol::pb::{envelope::Kind, AuthOk, Envelope, GoAway};
use tracing::debug;

use crate::host::{self, SessionHost};
use crate::session::SessionEntry;
use crate::shard::Shard;
use crate::ws;

/// Serves one accepted connection to its end.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream, peer: SocketAddr) {
    let timeout = Duration::from_millis(shard.config().handshake_timeout_ms);
    let admit = |request: &_| handshake::admit(&shard, request);
    let Some((stream, admitted, leftover)) = host::upgrade(stream, peer, timeout, admit).await
    else {
        return;
    };

    let (session_id, entry, read_half) = host::open_session(&shard, stream);
    if let Some(user_id) = admitted.user_id {
        authenticate(&shard, session_id, &entry, user_id, 0, admitted.version);
    }
    debug!(session_id, user_id = ?admitted.user_id, version = admitted.version, "session opened");

    let ending = reader::run(
        &shard,
        session_id,
        &entry,
        admitted.version,
        read_half,
        leftover,
    )
    .await;
    shard.close_session(session_id, &entry, ending);
}

/// Marks a session as authenticated, announces it and sends `AuthOk`.
fn authenticate(
    shard: &Shard,
    session_id: u64,
    entry: &SessionEntry,
    user_id: u64,
    request_id: u64,
    version: u32,
) {
    entry.user_id.set(Some(user_id));
    shard.announce(session_id, user_id, true);
    let auth_ok = AuthOk {
        user_id,
        session_id,
        protocol_version: version,
    };
    let reply = envelope::reply(request_id, Kind::AuthOk(auth_ok));
    shard.push(session_id, entry, envelope_message(&reply));
}

/// Encodes one envelope as a WebSocket binary message.
pub(crate) fn envelope_message(envelope: &Envelope) -> Bytes {
    let mut frames = BytesMut::with_capacity(envelope.encoded_len() + 4);
    encode_frame(envelope, &mut frames);
    ws::encode_binary(&frames)
}

/// Encodes the goaway notice sent before a drain closes a session.
pub(crate) fn goaway_message(reconnect_after_ms: u64) -> Bytes {
    let goaway = GoAway {
        reason: "server is draining; reconnect".to_string(),
        reconnect_after_ms: reconnect_after_ms.min(u64::from(u32::MAX)) as u32,
    };
    envelope_message(&envelope::reply(0, Kind::GoAway(goaway)))
}
