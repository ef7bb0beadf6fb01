//! Raw TCP client for tests that send bytes a WebSocket library does not let a client send:
//! hand-written upgrade requests, unmasked or malformed frames, and slow or silent handshakes.
//! Server frames are decoded with the gateway's own codec in the client role.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use switchboard_gateway::ws::{encode_masked_frame, MessageDecoder, OpCode, Role, WsEvent};
use switchboard_protocol::pb::Envelope;
use switchboard_protocol::{encode_frame, FrameDecoder};

/// Mask the raw client applies to every masked frame. Any value is valid.
pub const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

/// Largest server message or protocol frame the raw client accepts.
const MAX_SERVER_MESSAGE_BYTES: usize = 1 << 20;

/// Bytes requested per read.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// Builds an upgrade request for `target` with a fixed key, the given
/// `Sec-WebSocket-Version` and any extra headers.
pub fn upgrade_request(target: &str, version: &str, extra_headers: &[(&str, &str)]) -> String {
    let mut request = format!(
        "GET {target} HTTP/1.1\r\n\
         Host: 127.0.0.1\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Version: {version}\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    );
    for (name, value) in extra_headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request
}

/// A parsed HTTP response.
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl HttpResponse {
    /// Returns the value of the first header named `name`, ignoring ASCII case.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// What a read from an upgraded connection returned.
#[derive(Debug, PartialEq)]
pub enum ServerEvent {
    /// The protocol frames of one binary message.
    Frames(Vec<Envelope>),
    /// A close frame with its code and reason. The code is 1005 when the frame had no payload.
    Close(u16, String),
    /// The server closed TCP without a close frame.
    Eof,
    /// The server reset the connection.
    Reset,
    /// Nothing arrived in time.
    Timeout,
}

/// A TCP connection to the gateway driven byte by byte.
pub struct RawClient {
    stream: TcpStream,
    buf: BytesMut,
    decoder: MessageDecoder,
    next_request_id: u64,
}

impl RawClient {
    /// Opens a TCP connection.
    pub fn connect(addr: SocketAddr) -> RawClient {
        let stream = TcpStream::connect(addr).expect("TCP connect to the gateway");
        Self::from_stream(stream)
    }

    /// Opens a TCP connection whose receive buffer is set to `bytes` before connecting, so
    /// the kernel absorbs little of what the server sends while the client does not read.
    pub fn connect_with_receive_buffer(addr: SocketAddr, bytes: usize) -> RawClient {
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(addr),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )
        .expect("create a TCP socket");
        socket
            .set_recv_buffer_size(bytes)
            .expect("set SO_RCVBUF before connecting");
        socket
            .connect(&addr.into())
            .expect("TCP connect to the gateway");
        Self::from_stream(socket.into())
    }

    fn from_stream(stream: TcpStream) -> RawClient {
        stream.set_nodelay(true).expect("set TCP_NODELAY");
        RawClient {
            stream,
            buf: BytesMut::new(),
            decoder: MessageDecoder::new(Role::Client, MAX_SERVER_MESSAGE_BYTES),
            next_request_id: 1,
        }
    }

    /// Connects, sends an upgrade request and asserts the `101` response. Returns the client
    /// and the response.
    pub fn upgrade(addr: SocketAddr, request: &str) -> (RawClient, HttpResponse) {
        let mut client = Self::connect(addr);
        client
            .write(request.as_bytes())
            .expect("write the upgrade request");
        let response = client.read_http_response(Duration::from_secs(10));
        assert_eq!(
            response.status, 101,
            "upgrade rejected with {}: {}",
            response.status, response.body
        );
        (client, response)
    }

    /// Writes all of `bytes`. Returns the error when the server has closed the connection.
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends `payload` as one masked frame with the given opcode and FIN bit.
    pub fn send_masked(
        &mut self,
        fin: bool,
        opcode: OpCode,
        payload: &[u8],
    ) -> std::io::Result<()> {
        let mut out = BytesMut::new();
        encode_masked_frame(&mut out, fin, opcode, payload, MASK);
        self.write(&out)
    }

    /// Sends envelopes as the frames of one masked binary message.
    pub fn send_envelopes(&mut self, envelopes: &[Envelope]) {
        let mut payload = BytesMut::new();
        for envelope in envelopes {
            encode_frame(envelope, &mut payload);
        }
        self.send_masked(true, OpCode::Binary, &payload)
            .expect("send a binary message");
    }

    /// Sends one request and returns its reply, discarding frames that arrive before it.
    pub fn request(&mut self, kind: switchboard_protocol::pb::envelope::Kind) -> Envelope {
        let request_id = self.next_request_id;
        self.next_request_id += 1;
        self.send_envelopes(&[Envelope {
            request_id,
            kind: Some(kind),
        }]);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left) {
                ServerEvent::Frames(frames) => {
                    if let Some(reply) = frames.into_iter().find(|f| f.request_id == request_id) {
                        return reply;
                    }
                }
                other => panic!("no reply to request {request_id}: {other:?}"),
            }
        }
    }

    /// Reads an HTTP response head and its `Content-Length` body. Bytes after the response
    /// stay buffered for [`RawClient::next_event`].
    ///
    /// # Panics
    /// When no complete response arrives within `timeout`.
    pub fn read_http_response(&mut self, timeout: Duration) -> HttpResponse {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(response) = self.parse_http_response() {
                return response;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_some(left) {
                Ok(0) => panic!(
                    "connection closed inside an HTTP response; received {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
                Ok(_) => {}
                Err(error) => panic!(
                    "no complete HTTP response within {timeout:?} ({error}); received {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    fn parse_http_response(&mut self) -> Option<HttpResponse> {
        let mut header_slots = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut header_slots);
        let head_len = match response.parse(&self.buf).expect("valid HTTP response") {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial => return None,
        };
        let headers: Vec<(String, String)> = response
            .headers
            .iter()
            .map(|header| {
                let value = String::from_utf8_lossy(header.value).into_owned();
                (header.name.to_string(), value)
            })
            .collect();
        let status = response.code.expect("status code in a complete response");
        let body_len = headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .map(|(_, value)| value.parse::<usize>().expect("numeric Content-Length"))
            .unwrap_or(0);
        if self.buf.len() < head_len + body_len {
            return None;
        }

        let _ = self.buf.split_to(head_len);
        let body = self.buf.split_to(body_len);
        Some(HttpResponse {
            status,
            headers,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Reads until the server closes the connection or `timeout` passes. Returns whether the
    /// connection ended, by FIN or reset.
    pub fn wait_for_eof(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_some(left) {
                Ok(0) => return true,
                Ok(_) => self.buf.clear(),
                Err(error) if error.kind() == ErrorKind::ConnectionReset => return true,
                Err(_) => return false,
            }
        }
    }

    /// Returns the next binary message, close frame or end of the connection, waiting up to
    /// `timeout`. Pings and pongs are skipped.
    ///
    /// # Panics
    /// When the server sends an invalid WebSocket frame, a text message or a binary message
    /// that does not decode as protocol frames.
    pub fn next_event(&mut self, timeout: Duration) -> ServerEvent {
        let deadline = Instant::now() + timeout;
        loop {
            let decoded = self
                .decoder
                .decode(&mut self.buf)
                .unwrap_or_else(|error| panic!("server sent an invalid WebSocket frame: {error}"));
            match decoded {
                Some(WsEvent::Binary(payload)) => {
                    let frames = FrameDecoder::new(MAX_SERVER_MESSAGE_BYTES)
                        .decode_all(&payload)
                        .unwrap_or_else(|error| panic!("server frames do not decode: {error}"));
                    return ServerEvent::Frames(frames);
                }
                Some(WsEvent::Close(received)) => {
                    let (code, reason) = received.unwrap_or((1005, String::new()));
                    return ServerEvent::Close(code, reason);
                }
                Some(WsEvent::Text(text)) => panic!("server sent a text message: {text:?}"),
                Some(WsEvent::Ping(_) | WsEvent::Pong(_)) => continue,
                None => {}
            }

            let left = deadline.saturating_duration_since(Instant::now());
            match self.read_some(left) {
                Ok(0) => return ServerEvent::Eof,
                Ok(_) => {}
                Err(error) if error.kind() == ErrorKind::ConnectionReset => {
                    return ServerEvent::Reset
                }
                Err(error)
                    if matches!(error.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) =>
                {
                    return ServerEvent::Timeout
                }
                Err(error) => panic!("read from the gateway failed: {error}"),
            }
        }
    }

    /// Reads past binary messages until the connection ends. Returns the number of protocol
    /// frames read and the event that ended the stream, or [`ServerEvent::Timeout`].
    pub fn read_until_end(&mut self, timeout: Duration) -> (usize, ServerEvent) {
        let deadline = Instant::now() + timeout;
        let mut frames_read = 0;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_event(left) {
                ServerEvent::Frames(frames) => frames_read += frames.len(),
                end => return (frames_read, end),
            }
        }
    }

    /// Appends what one read returns to the buffer. A zero `timeout` reads as timed out.
    fn read_some(&mut self, timeout: Duration) -> std::io::Result<usize> {
        if timeout.is_zero() {
            return Err(ErrorKind::TimedOut.into());
        }
        self.stream.set_read_timeout(Some(timeout))?;
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        let read = self.stream.read(&mut chunk)?;
        self.buf.extend_from_slice(&chunk[..read]);
        Ok(read)
    }
}
