//! The writer task of a session: drains the send queue into the socket, one write per batch.

use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use tracing::debug;

use crate::session::SessionEntry;
use crate::shard::Shard;

/// Time a writer may keep flushing after its session ended, so a close frame reaches a
/// client that is still reading, while a client that stopped reading cannot hold the socket.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

/// Runs [`write_queue`], then removes the writer from the shard's count of open writers, so
/// a drain stops waiting for it.
pub(super) async fn run<W: AsyncWriteRent>(shard: Rc<Shard>, entry: Rc<SessionEntry>, writer: W) {
    write_queue(&entry, writer).await;
    shard.open_writers.set(shard.open_writers.get() - 1);
}

/// Writes a session's send queue to `writer` until the queue is closed and empty, a write
/// fails, or the flush grace after the session ended runs out, then shuts `writer` down.
pub(crate) async fn write_queue<W: AsyncWriteRent>(entry: &SessionEntry, mut writer: W) {
    let deadline = async {
        entry.kill.wait().await;
        monoio::time::sleep(FLUSH_GRACE).await;
    };
    let mut deadline = std::pin::pin!(deadline);
    let mut batch = Vec::new();

    loop {
        let more = monoio::select! {
            _ = &mut deadline => false,
            more = entry.outbound.pop_all(&mut batch) => more,
        };
        if !more {
            break;
        }

        let buffer = coalesce(&mut batch);
        let written = monoio::select! {
            _ = &mut deadline => break,
            (written, _) = writer.write_all(buffer) => written,
        };
        if let Err(error) = written {
            debug!(%error, "write failed; session writer stopped");
            entry.outbound.close();
            entry.kill.raise();
            break;
        }
    }

    let _ = writer.shutdown().await;
}

/// Joins a batch into one buffer, so a burst of small messages costs one write.
fn coalesce(batch: &mut Vec<Bytes>) -> Bytes {
    if batch.len() == 1 {
        return batch.pop().expect("batch has one message");
    }
    let total = batch.iter().map(Bytes::len).sum();
    let mut joined = BytesMut::with_capacity(total);
    for message in batch.drain(..) {
        joined.extend_from_slice(&message);
    }
    joined.freeze()
}
