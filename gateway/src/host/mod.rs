//! Hosting of WebSocket sessions on a monoio shard, shared by the gateway's shards and the
//! benchmark server of [`crate::bench_ws`]. It contains the shard runtime and accept loop,
//! the HTTP upgrade, the session table with slow-consumer drops and drains, and each
//! session's reader and writer tasks.
//!
//! What differs between the two servers comes in through generic parameters, so the frame
//! path has no dynamic dispatch. [`SessionHost`] supplies a shard's [`HostState`], close
//! reasons and what happens when a session leaves the table. [`MessageHandler`] supplies
//! what a session's messages mean.

mod accept;
mod events;
mod read;
mod sessions;
mod upgrade;
mod write;

pub(crate) use accept::run_shard;
pub(crate) use events::{Ending, Flow, MessageHandler, ReadLimit};
pub(crate) use read::read_until_end;
pub(crate) use sessions::{HostState, SessionHost};
pub(crate) use upgrade::upgrade;
pub(crate) use write::open_session;
