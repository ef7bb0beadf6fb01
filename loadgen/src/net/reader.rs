//! Reader of server events: reads into a growing buffer and decodes complete WebSocket
//! messages and control frames with the gateway's codec in the client role.

use std::io;

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;
use switchboard_gateway::ws::{MessageDecoder, Role, WsError, WsEvent};

/// Bytes reserved before each read.
const READ_RESERVE_BYTES: usize = 4 * 1024;

/// Largest server message accepted, in bytes.
pub const MAX_SERVER_MESSAGE_BYTES: usize = 16 << 20;

/// Reasons reading the next event fails.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The server closed TCP.
    #[error("server closed the connection without a close frame")]
    Eof,
    /// The socket failed.
    #[error("read failed: {0}")]
    Io(#[from] io::Error),
    /// The server broke RFC 6455.
    #[error("server violated the WebSocket protocol: {0}")]
    Protocol(#[from] WsError),
}

/// Appends what the next read returns to `buf`, without copying.
pub async fn read_more<R: AsyncReadRent>(
    reader: &mut R,
    mut buf: BytesMut,
) -> (io::Result<usize>, BytesMut) {
    buf.reserve(READ_RESERVE_BYTES);
    let (len, capacity) = (buf.len(), buf.capacity());
    let (read, slice) = reader.read(buf.slice_mut(len..capacity)).await;
    (read, slice.into_inner())
}

/// Decodes server events from one read half.
pub struct WsReader<R> {
    reader: R,
    buf: BytesMut,
    decoder: MessageDecoder,
    bytes_read: u64,
}

impl<R: AsyncReadRent> WsReader<R> {
    /// Creates a reader that first decodes `leftover`, the bytes read past the upgrade
    /// response.
    pub fn new(reader: R, leftover: BytesMut) -> Self {
        Self {
            reader,
            buf: leftover,
            decoder: MessageDecoder::new(Role::Client, MAX_SERVER_MESSAGE_BYTES),
            bytes_read: 0,
        }
    }

    /// Returns the next complete message or control frame.
    ///
    /// Not cancel safe: dropping the future may lose bytes of a read in progress, so call
    /// it from a task that only reads.
    ///
    /// # Errors
    /// [`ReadError`] on EOF, a socket error or a protocol violation.
    pub async fn next_event(&mut self) -> Result<WsEvent, ReadError> {
        loop {
            if let Some(event) = self.decoder.decode(&mut self.buf)? {
                return Ok(event);
            }
            let buf = std::mem::take(&mut self.buf);
            let (read, returned) = read_more(&mut self.reader, buf).await;
            self.buf = returned;
            match read? {
                0 => return Err(ReadError::Eof),
                read => self.bytes_read += read as u64,
            }
        }
    }

    /// Returns the number of bytes read from the socket so far.
    pub fn bytes_read(&self) -> u64 {
        self.bytes_read
    }
}
