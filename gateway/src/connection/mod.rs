//! One client connection: the HTTP upgrade, then a reader loop that decodes WebSocket
//! messages and protocol frames, and a writer task that drains the session's send queue.

mod handshake;
mod reader;
mod requests;
mod writer;

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;

use bytes::{Bytes, BytesMut};
use monoio::io::Splitable;
use monoio::net::TcpStream;
use prost::Message as _;
use switchboard_protocol::envelope;
use switchboard_protocol::pb::{envelope::Kind, AuthOk, Envelope, GoAway};
use switchboard_protocol::{encode_frame, CloseCode};
use tracing::debug;

use crate::session::{Outbound, SessionEntry, Signal};
use crate::shard::Shard;
use crate::ws;

use handshake::Admitted;
use reader::Ending;

pub(crate) use handshake::{read_request, reply_and_close};
pub(crate) use reader::read_more;
pub(crate) use writer::write_queue;

/// Serves one accepted connection to its end.
pub async fn serve(shard: Rc<Shard>, stream: TcpStream, peer: SocketAddr) {
    if let Err(error) = stream.set_nodelay(true) {
        debug!(%peer, %error, "failed to set TCP_NODELAY");
    }
    let Some((stream, admitted, leftover)) = handshake::upgrade(&shard, stream, peer).await else {
        return;
    };
    run_session(shard, stream, admitted, leftover).await;
}

async fn run_session(shard: Rc<Shard>, stream: TcpStream, admitted: Admitted, leftover: BytesMut) {
    let entry = Rc::new(SessionEntry {
        user_id: Cell::new(None),
        outbound: Outbound::new(shard.queue_limits()),
        kill: Signal::default(),
    });
    let session_id = shard.sessions.insert(entry.clone());
    if let Some(user_id) = admitted.user_id {
        authenticate(&shard, session_id, &entry, user_id, 0, admitted.version);
    }
    debug!(session_id, user_id = ?admitted.user_id, version = admitted.version, "session opened");

    let (read_half, write_half) = stream.into_split();
    shard.open_writers.set(shard.open_writers.get() + 1);
    monoio::spawn(writer::run(shard.clone(), entry.clone(), write_half));

    let ending = reader::run(
        &shard,
        session_id,
        &entry,
        admitted.version,
        read_half,
        leftover,
    )
    .await;
    finish(&shard, session_id, &entry, ending);
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

fn finish(shard: &Shard, session_id: u64, entry: &SessionEntry, ending: Ending) {
    match ending {
        Ending::Close(code, reason) => {
            debug!(session_id, code = code.code(), %reason, "closing session");
            shard.end_session(session_id, entry, code, &reason, false);
        }
        Ending::PeerClosed(received) => {
            if shard.sessions.remove(session_id).is_some() {
                if let Some(user_id) = entry.user_id.get() {
                    shard.announce(session_id, user_id, false);
                }
            }
            entry
                .outbound
                .push_last(ws::close_reply(received.as_ref()), false);
            entry.kill.raise();
        }
        Ending::Disconnected | Ending::Ended => {
            shard.end_session(session_id, entry, CloseCode::Normal, "", true);
        }
    }
    debug!(session_id, user_id = ?entry.user_id.get(), "session closed");
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
