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

/// Bytes reserved for each read. Small, because an idle session keeps its buffer while a
/// read is pending; larger messages grow the buffer as they arrive.
const READ_RESERVE_BYTES: usize = 4 * 1024;

/// Appends what the next read returns to `buf`, without copying.
pub(crate) async fn read_more<R: AsyncReadRent>(
    reader: &mut R,
    mut buf: BytesMut,
) -> (io::Result<usize>, BytesMut) {
    buf.reserve(READ_RESERVE_BYTES);
    let (len, capacity) = (buf.len(), buf.capacity());
    let (read, slice) = reader.read(buf.slice_mut(len..capacity)).await;
    (read, slice.into_inner())
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
    loop {
        if let Some(ending) = decode_buffered(handler, &mut decoder, &mut buf) {
            return ending;
        }
        if entry.kill.is_raised() {
            return Ending::Ended;
        }

        let (read, returned) = match read_limit() {
            ReadLimit::Unlimited => monoio::select! {
                _ = entry.kill.wait() => return Ending::Ended,
                read = read_more(&mut reader, buf) => read,
            },
            ReadLimit::Within(timeout, timeout_ending) => {
                let read = monoio::select! {
                    _ = entry.kill.wait() => return Ending::Ended,
                    read = monoio::time::timeout(timeout, read_more(&mut reader, buf)) => read,
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
            Ok(_) => {}
            Err(error) => {
                debug!(session_id = handler.session_id(), %error, "read failed");
                return Ending::Disconnected;
            }
        }
    }
}
