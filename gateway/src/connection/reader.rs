//! The reader loop of a gateway session: the shared reader of [`crate::host`] with the idle
//! and authentication deadlines, handing binary messages to the request handler.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::io::AsyncReadRent;
use switchboard_protocol::CloseCode;

use super::requests;
use crate::host::{self, Ending, ReadLimit};
use crate::session::{RateLimiter, SessionEntry};
use crate::shard::Shard;

/// Runs until the session ends.
pub(super) async fn run<R: AsyncReadRent>(
    shard: &Shard,
    session_id: u64,
    entry: &SessionEntry,
    version: u32,
    reader: R,
    buf: BytesMut,
) -> Ending {
    let config = shard.config();
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

    let read_limit = || next_read_limit(entry, idle, auth_deadline);
    let max_message_bytes = config.max_message_bytes;
    host::read_until_end(
        &mut session,
        entry,
        max_message_bytes,
        read_limit,
        reader,
        buf,
    )
    .await
}

/// Returns how long the next read may wait and what ends the session when it does not
/// finish in time. A session that has not authenticated by `auth_deadline` ends at once.
fn next_read_limit(entry: &SessionEntry, idle: Duration, auth_deadline: Instant) -> ReadLimit {
    if entry.user_id.get().is_none() && Instant::now() >= auth_deadline {
        return ReadLimit::Expired(auth_timeout());
    }
    let (timeout, timeout_ending) = next_deadline(entry, idle, auth_deadline);
    ReadLimit::Within(timeout, timeout_ending)
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
