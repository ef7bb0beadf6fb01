//! Sessions of one shard: ids, the shard-local session table, send queues and the signal
//! that stops a session's tasks.

mod outbound;
mod rate;
mod signal;
mod table;

pub use outbound::{Outbound, PushError, QueueLimits};
pub use rate::RateLimiter;
pub use signal::Signal;
pub use table::{SessionEntry, SessionTable};

/// Bits of a session id below the shard index. A session id is `shard << SHARD_SHIFT | n`,
/// so a gateway routes a push to the owning shard without a lookup.
pub const SHARD_SHIFT: u32 = 48;

/// Returns the shard index encoded in a session id.
pub fn shard_of(session_id: u64) -> usize {
    (session_id >> SHARD_SHIFT) as usize
}

/// Builds the `sequence`-th session id of shard `shard`.
pub fn session_id(shard: usize, sequence: u64) -> u64 {
    ((shard as u64) << SHARD_SHIFT) | (sequence & ((1 << SHARD_SHIFT) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_round_trips_through_id() {
        for shard in [0, 1, 7, 255] {
            assert_eq!(shard_of(session_id(shard, 12345)), shard);
        }
    }
}
