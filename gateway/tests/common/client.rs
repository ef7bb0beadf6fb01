//! WebSocket client for the tests, on tungstenite: an independent RFC 6455 implementation
//! speaking the protobuf protocol.

use std::collections::VecDeque;
use std::io::ErrorKind;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use switchboard_protocol::pb::{envelope::Kind, Envelope, SendMessage, SyncRequest};
use switchboard_protocol::{decode_frames, encode_frame};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::frame::coding::CloseCode as WsCloseCode;
use tungstenite::{Message, WebSocket};

/// Time a test waits for a reply before it fails.
pub const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A connected client session.
pub struct WsClient {
    socket: WebSocket<TcpStream>,
    next_request_id: u64,
    /// Frames received while waiting for something else, oldest first.
    buffered: VecDeque<Envelope>,
    /// Close frame received from the server, if any.
    pub closed: Option<(u16, String)>,
    pub user_id: u64,
    pub session_id: u64,
}

impl WsClient {
    /// Connects with `token` in the Authorization header and waits for `AuthOk`.
    pub fn connect(addr: SocketAddr, token: Option<&str>) -> WsClient {
        let mut request = format!("ws://{addr}/ws").into_client_request().unwrap();
        if let Some(token) = token {
            let value = format!("Bearer {token}").parse().unwrap();
            request.headers_mut().insert("Authorization", value);
        }
        let mut client = Self::handshake(addr, request).expect("WebSocket handshake");
        if token.is_some() {
            let auth = client
                .next_frame(REPLY_TIMEOUT)
                .expect("AuthOk after connect");
            let Some(Kind::AuthOk(ok)) = auth.kind else {
                panic!("expected AuthOk first, got {auth:?}");
            };
            client.user_id = ok.user_id;
            client.session_id = ok.session_id;
        }
        client
    }

    /// Performs the upgrade with a prepared request, returning tungstenite's error (which
    /// carries the HTTP response) on rejection.
    pub fn handshake(
        addr: SocketAddr,
        request: tungstenite::handshake::client::Request,
    ) -> Result<WsClient, Box<tungstenite::Error>> {
        let stream = TcpStream::connect(addr).expect("TCP connect");
        stream.set_nodelay(true).unwrap();
        let (socket, _response) =
            tungstenite::client::client(request, stream).map_err(|error| match error {
                tungstenite::HandshakeError::Failure(error) => Box::new(error),
                tungstenite::HandshakeError::Interrupted(_) => {
                    panic!("blocking handshake interrupted")
                }
            })?;
        Ok(WsClient {
            socket,
            next_request_id: 1,
            buffered: VecDeque::new(),
            closed: None,
            user_id: 0,
            session_id: 0,
        })
    }

    /// Sends envelopes as the frames of one binary message.
    pub fn send_frames(&mut self, envelopes: &[Envelope]) {
        let mut payload = BytesMut::new();
        for envelope in envelopes {
            encode_frame(envelope, &mut payload);
        }
        self.send_binary(payload.to_vec());
    }

    /// Sends raw bytes as one binary message.
    pub fn send_binary(&mut self, payload: Vec<u8>) {
        self.socket
            .send(Message::Binary(payload.into()))
            .expect("send a binary message");
    }

    /// Sends any WebSocket message.
    pub fn send_message_raw(&mut self, message: Message) {
        self.socket.send(message).expect("send a message");
    }

    /// Sends a request and returns its reply; events that arrive first are kept.
    pub fn request(&mut self, kind: Kind) -> Envelope {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.send_frames(&[Envelope {
            request_id,
            kind: Some(kind),
        }]);
        self.reply_to(request_id)
    }

    /// Waits for the reply to `request_id`, buffering other frames.
    pub fn reply_to(&mut self, request_id: u64) -> Envelope {
        let deadline = Instant::now() + REPLY_TIMEOUT;
        if let Some(index) = self
            .buffered
            .iter()
            .position(|f| f.request_id == request_id)
        {
            return self.buffered.remove(index).unwrap();
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let frames = self.read_message(left).unwrap_or_else(|| {
                panic!(
                    "no reply to request {request_id} (closed: {:?})",
                    self.closed
                )
            });
            let mut reply = None;
            for frame in frames {
                if frame.request_id == request_id && reply.is_none() {
                    reply = Some(frame);
                } else {
                    self.buffered.push_back(frame);
                }
            }
            if let Some(reply) = reply {
                return reply;
            }
        }
    }

    /// Returns the next received frame, waiting up to `timeout`.
    pub fn next_frame(&mut self, timeout: Duration) -> Option<Envelope> {
        let deadline = Instant::now() + timeout;
        while self.buffered.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            let frames = self.read_message(left)?;
            self.buffered.extend(frames);
        }
        self.buffered.pop_front()
    }

    /// Returns the next server event (request id 0), waiting up to `timeout`.
    pub fn next_event(&mut self, timeout: Duration) -> Option<Envelope> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(index) = self.buffered.iter().position(|f| f.request_id == 0) {
                return self.buffered.remove(index);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let frames = self.read_message(left)?;
            self.buffered.extend(frames);
        }
    }

    /// Reads one binary message and decodes its frames. Returns `None` on timeout or close;
    /// a close frame is recorded in `closed`.
    pub fn read_message(&mut self, timeout: Duration) -> Option<Vec<Envelope>> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || self.closed.is_some() {
                return None;
            }
            self.socket.get_mut().set_read_timeout(Some(left)).unwrap();
            match self.socket.read() {
                Ok(Message::Binary(payload)) => {
                    return Some(decode_frames(&payload).expect("server frames decode"));
                }
                Ok(Message::Close(frame)) => {
                    self.closed = Some(
                        frame
                            .map(|f| (u16::from(f.code), f.reason.to_string()))
                            .unwrap_or((1005, String::new())),
                    );
                    return None;
                }
                Ok(_) => continue,
                Err(tungstenite::Error::Io(error))
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return None
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    self.closed.get_or_insert((1006, String::new()));
                    return None;
                }
                Err(error) => {
                    self.closed.get_or_insert((1006, error.to_string()));
                    return None;
                }
            }
        }
    }

    /// Reads until the server closes, discarding frames; returns the close code and reason.
    pub fn expect_close(&mut self, timeout: Duration) -> (u16, String) {
        let deadline = Instant::now() + timeout;
        while self.closed.is_none() && Instant::now() < deadline {
            let left = deadline.saturating_duration_since(Instant::now());
            if let Some(frames) = self.read_message(left) {
                self.buffered.extend(frames);
            }
        }
        self.closed
            .clone()
            .expect("server closed the session in time")
    }

    /// Closes the session with a normal close code.
    pub fn close(mut self) {
        let frame = tungstenite::protocol::CloseFrame {
            code: WsCloseCode::Normal,
            reason: "bye".into(),
        };
        let _ = self.socket.close(Some(frame));
        let _ = self.socket.flush();
    }

    /// Sends a message and returns the reply envelope.
    pub fn send_text(&mut self, conversation_id: u64, message_id: &str, content: &str) -> Envelope {
        self.request(Kind::SendMessage(SendMessage {
            conversation_id,
            client_message_id: message_id.to_string(),
            content: content.to_string(),
            r#type: 0,
        }))
    }

    /// Syncs a conversation after `after_seq` and returns the reply envelope.
    pub fn sync(&mut self, conversation_id: u64, after_seq: u64) -> Envelope {
        self.request(Kind::Sync(SyncRequest {
            conversation_id,
            after_seq,
            limit: 0,
        }))
    }
}
