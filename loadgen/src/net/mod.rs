//! Client side of a WebSocket connection on monoio: TCP connect from a chosen loopback
//! source address, the HTTP upgrade, masked client frames, a reader of server events and a
//! writer task fed through a channel.

pub mod reader;
pub mod socket;
pub mod upgrade;
pub mod wire;
pub mod writer;

pub use reader::{ReadError, WsReader};
pub use socket::{connect_from, SourcePool};
pub use upgrade::{upgrade, UpgradeError, UpgradeRequest};
pub use writer::{spawn_writer, Outbox};
