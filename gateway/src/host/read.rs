//! The reader loop of a session: reads into one buffer, decodes WebSocket messages and hands
//! them to a [`MessageHandler`] until the session ends.

use std::io;

use bytes::BytesMut;
use monoio::buf::IoBufMut;
use monoio::io::AsyncReadRent;
use tracing::debug;

use super::events::decode_buffered;
use super::{Ending, MessageHandler, ReadLimit};
use crate::session::SessionEntry;
use crate::ws::{MessageDecoder, Role};

/// Minimum bytes reserved for a read. An idle session keeps this much in its pending read, so
/// it sets most of the memory of an idle connection.
const MIN_READ_BYTES: usize = 512;

/// Most bytes reserved for a read; larger messages take several reads.
const MAX_READ_BYTES: usize = 64 * 1024;

/// Bytes reserved for the handshake request.
const HANDSHAKE_READ_BYTES: usize = 1024;

/// Read size that adapts to the traffic: it doubles after a read that filled the space it had
/// and halves after a read that used under a quarter of it, between [`MIN_READ_BYTES`] and
/// [`MAX_READ_BYTES`].
#[derive(Debug)]
pub(crate) struct ReadSize {
    next: usize,
}

impl Default for ReadSize {
    fn default() -> Self {
        Self {
            next: MIN_READ_BYTES,
        }
    }
}

impl ReadSize {
    /// Returns the bytes to reserve for the next read.
    pub(crate) fn next(&self) -> usize {
        self.next
    }

    /// Adjusts the next size after a read of `read` bytes into `available` bytes of space.
    pub(crate) fn record(&mut self, read: usize, available: usize) {
        if read >= available {
            self.next = (self.next * 2).min(MAX_READ_BYTES);
        } else if read < available / 4 {
            self.next = (self.next / 2).max(MIN_READ_BYTES);
        }
    }
}

/// Appends what the next read returns to `buf`, reserving at least `reserve` bytes, without
/// copying. Returns the read's result, the buffer and the space the read had.
pub(crate) async fn read_more<R: AsyncReadRent>(
    reader: &mut R,
    mut buf: BytesMut,
    reserve: usize,
) -> (io::Result<usize>, BytesMut, usize) {
    if buf.is_empty() && buf.capacity() > reserve * 4 {
        // Release a buffer that grew for a burst, so an idle session keeps only `reserve`.
        buf = BytesMut::new();
    }
    buf.reserve(reserve);
    let (len, capacity) = (buf.len(), buf.capacity());
    let (read, slice) = reader.read(buf.slice_mut(len..capacity)).await;
    (read, slice.into_inner(), capacity - len)
}

/// Reads the handshake request into `buf`.
pub(crate) async fn read_request_bytes<R: AsyncReadRent>(
    reader: &mut R,
    buf: BytesMut,
) -> (io::Result<usize>, BytesMut) {
    let (read, buf, _) = read_more(reader, buf, HANDSHAKE_READ_BYTES).await;
    (read, buf)
}

/// Decodes messages of at most `max_message_bytes` from `buf` and then from `reader`, and
/// hands them to `handler` until the session ends. `read_limit` is asked before every read
/// how long that read may wait. Raising `entry.kill` stops the loop with [`Ending::Ended`].
pub(crate) async fn read_until_end<H, R>(
    handler: &mut H,
    entry: &SessionEntry,
    max_message_bytes: usize,
    mut read_limit: impl FnMut() -> ReadLimit,
    mut reader: R,
    mut buf: BytesMut,
) -> Ending
where
    H: MessageHandler,
    R: AsyncReadRent,
{
    let mut decoder = MessageDecoder::new(Role::Server, max_message_bytes);
    let mut size = ReadSize::default();
    loop {
        if let Some(ending) = decode_buffered(handler, &mut decoder, &mut buf) {
            return ending;
        }
        if entry.kill.is_raised() {
            return Ending::Ended;
        }

        let (read, returned, available) = match read_limit() {
            ReadLimit::Unlimited => monoio::select! {
                _ = entry.kill.wait() => return Ending::Ended,
                read = read_more(&mut reader, buf, size.next()) => read,
            },
            ReadLimit::Within(timeout, timeout_ending) => {
                let read = monoio::select! {
                    _ = entry.kill.wait() => return Ending::Ended,
                    read = monoio::time::timeout(timeout, read_more(&mut reader, buf, size.next())) => read,
                };
                let Ok(read) = read else {
                    return timeout_ending;
                };
                read
            }
            ReadLimit::Expired(ending) => return ending,
        };
        buf = returned;
        match read {
            Ok(0) => return Ending::Disconnected,
            Ok(count) => size.record(count, available),
            Err(error) => {
                debug!(session_id = handler.session_id(), %error, "read failed");
                return Ending::Disconnected;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn full_reads_grow_to_max() {
        let mut size = ReadSize::default();
        for _ in 0..20 {
            let available = size.next();
            size.record(available, available);
        }
        assert_eq!(size.next(), MAX_READ_BYTES);
    }

    #[test]
    fn small_reads_shrink_to_min() {
        let mut size = ReadSize {
            next: MAX_READ_BYTES,
        };
        for _ in 0..20 {
            size.record(10, size.next());
        }
        assert_eq!(size.next(), MIN_READ_BYTES);
    }

    #[test]
    fn moderate_reads_keep_size() {
        let mut size = ReadSize { next: 4096 };
        size.record(2048, 4096);
        assert_eq!(size.next(), 4096);
    }
}
