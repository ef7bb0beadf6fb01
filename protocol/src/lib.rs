//! Wire protocol of switchboard: the protobuf schema, the length-prefixed frame codec, the
//! error-code and WebSocket close-code tables and protocol version negotiation. No IO.

pub mod close;
pub mod envelope;
pub mod frame;
pub mod version;

/// Types generated from `proto/switchboard.proto`.
#[allow(missing_docs, clippy::all)]
pub mod pb {
    include!(concat!(env!("OUT_DIR"), "/switchboard.v1.rs"));
}

pub use close::CloseCode;
pub use frame::{decode_frames, encode_frame, FrameDecoder, FrameError, LENGTH_PREFIX_BYTES};
pub use version::{negotiate, Negotiated, VersionError, PROTOCOL_VERSION};
