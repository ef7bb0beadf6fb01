//! Protocol frames of one session: decodes the frames of a binary message, replies to what the
//! gateway serves itself (authenticate, ping, errors) and forwards the rest to the router.

use std::time::Instant;

use bytes::Bytes;
use switchboard_protocol::pb::{
    envelope::Kind, internal_frame, Envelope, ErrorCode, InternalFrame, Pong, RouterRequest,
};
use switchboard_protocol::{envelope, CloseCode, FrameDecoder, FrameError};
use switchboard_router::RouterSendError;
use tracing::{debug, warn};

use super::{authenticate, envelope_message};
use crate::host::{Ending, Flow, MessageHandler, SessionHost};
use crate::session::{RateLimiter, SessionEntry};
use crate::shard::Shard;

/// Session state that the request handler uses.
pub(super) struct Session<'a> {
    pub shard: &'a Shard,
    pub session_id: u64,
    pub entry: &'a SessionEntry,
    pub version: u32,
    pub limiter: &'a mut RateLimiter,
}

impl MessageHandler for Session<'_> {
    const TEXT_REJECTION: &'static str =
        "text messages are not supported; send protocol frames in binary messages";

    fn session_id(&self) -> u64 {
        self.session_id
    }

    fn handle_binary(&mut self, payload: &[u8]) -> Flow {
        self.handle_message(payload)
    }

    fn send(&self, message: Bytes) -> Flow {
        Flow::after_push(self.shard.push(self.session_id, self.entry, message))
    }
}

impl Session<'_> {
    fn reply(&self, envelope: &Envelope) -> Flow {
        self.send(envelope_message(envelope))
    }

    fn reject(&self, request_id: u64, code: ErrorCode, reason: impl Into<String>) -> Flow {
        self.reply(&envelope::error(request_id, code, reason))
    }

    /// Handles every frame of one binary message. A bad frame gets an error reply and ends
    /// the message, but not the session: the next message is decoded afresh.
    fn handle_message(&mut self, payload: &[u8]) -> Flow {
        let config = self.shard.config();
        let decoder = FrameDecoder::new(config.max_frame_bytes);
        let (mut frames, error) = decoder.decode_prefix::<Envelope>(payload);
        let excess = frames.len().saturating_sub(config.max_frames_per_message);
        frames.truncate(config.max_frames_per_message);
        for frame in frames {
            if let Flow::End(ending) = self.handle_frame(frame) {
                return Flow::End(ending);
            }
        }

        if excess > 0 {
            let reason = format!(
                "message carries {} frames, above the maximum of {}; the last {excess} were \
                 dropped, send them in another message",
                config.max_frames_per_message + excess,
                config.max_frames_per_message
            );
            return self.reject(0, ErrorCode::InvalidArgument, reason);
        }
        match error {
            None => Flow::Continue,
            Some(error) => self.reject_frame(error),
        }
    }

    fn reject_frame(&self, error: FrameError) -> Flow {
        debug!(session_id = self.session_id, %error, "bad frame rejected");
        let code = match error {
            FrameError::TooLarge { .. } => ErrorCode::FrameTooLarge,
            FrameError::Truncated { .. } | FrameError::Malformed(_) => ErrorCode::MalformedFrame,
        };
        self.reject(0, code, error.to_string())
    }

    fn handle_frame(&mut self, frame: Envelope) -> Flow {
        let request_id = frame.request_id;
        let Some(kind) = &frame.kind else {
            let reason =
                "frame has no kind or a kind unknown to this server; check the protocol version";
            return self.reject(request_id, ErrorCode::UnknownKind, reason);
        };
        if !envelope::is_request(kind) {
            let reason = format!(
                "{} is a server frame; clients may not send it",
                envelope::kind_name(kind)
            );
            return self.reject(request_id, ErrorCode::NotARequest, reason);
        }

        if !self.limiter.try_acquire(Instant::now()) {
            let config = self.shard.config();
            let reason = format!(
                "more than {} requests per second (burst {}); slow down and retry",
                config.rate_limit_per_second, config.rate_limit_burst
            );
            return self.reject(request_id, ErrorCode::RateLimited, reason);
        }

        match kind {
            Kind::Authenticate(auth) => self.authenticate(request_id, &auth.token),
            Kind::Ping(ping) => {
                let pong = Pong {
                    client_time_ms: ping.client_time_ms,
                    server_time_ms: now_ms(),
                };
                self.reply(&envelope::reply(request_id, Kind::Pong(pong)))
            }
            _ => self.forward(frame),
        }
    }

    fn authenticate(&self, request_id: u64, token: &str) -> Flow {
        if self.entry.user_id.get().is_some() {
            let reason = "session is already authenticated; open a new connection to switch users";
            return self.reject(request_id, ErrorCode::AlreadyAuthenticated, reason);
        }
        match self.shard.shared.auth.verify(token) {
            Ok(claims) => {
                authenticate(
                    self.shard,
                    self.session_id,
                    self.entry,
                    claims.user_id,
                    request_id,
                    self.version,
                );
                Flow::Continue
            }
            Err(error) => {
                let reason = error.to_string();
                self.reject(request_id, ErrorCode::Unauthenticated, reason.clone());
                Flow::End(Ending::Close(CloseCode::PolicyViolation, reason))
            }
        }
    }

    fn forward(&self, frame: Envelope) -> Flow {
        let request_id = frame.request_id;
        let Some(user_id) = self.entry.user_id.get() else {
            let reason =
                "session is not authenticated; send an authenticate frame with a token first";
            return self.reject(request_id, ErrorCode::Unauthenticated, reason);
        };

        let request = RouterRequest {
            gateway_id: self.shard.config().gateway_id,
            session_id: self.session_id,
            user_id,
            envelope: Some(frame),
        };
        let internal = InternalFrame {
            kind: Some(internal_frame::Kind::Request(request)),
        };
        match self.shard.shared.router.try_send(internal) {
            Ok(()) => Flow::Continue,
            Err(error) => {
                if error == RouterSendError::Closed {
                    warn!(
                        session_id = self.session_id,
                        "router stopped; request rejected"
                    );
                }
                self.reject(request_id, ErrorCode::Unavailable, format!("{error}"))
            }
        }
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as i64)
        .unwrap_or_default()
}
