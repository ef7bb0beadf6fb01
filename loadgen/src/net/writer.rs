//! Writer task of a connection: every task that sends on a connection queues encoded frames
//! into its [`Outbox`], and one task writes them in order, batching what is queued.

use bytes::{Bytes, BytesMut};
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt};
use tokio::sync::mpsc;

/// Most bytes joined into one write.
const MAX_BATCH_BYTES: usize = 64 * 1024;

/// Sending side of a connection's write queue. Cloning it is cheap.
#[derive(Clone, Debug)]
pub struct Outbox {
    queue: mpsc::UnboundedSender<Bytes>,
}

impl Outbox {
    /// Queues encoded frames. Returns false when the writer has stopped.
    pub fn send(&self, frames: Bytes) -> bool {
        self.queue.send(frames).is_ok()
    }

    /// Checks whether the writer has stopped.
    pub fn is_closed(&self) -> bool {
        self.queue.is_closed()
    }
}

/// Spawns the writer task of `writer` on the current monoio runtime. The task ends when
/// every [`Outbox`] clone is dropped and the queue is empty, or on the first write error,
/// and then returns the number of bytes written.
pub fn spawn_writer<W: AsyncWriteRent + 'static>(
    writer: W,
) -> (Outbox, monoio::task::JoinHandle<u64>) {
    let (queue, frames) = mpsc::unbounded_channel();
    let task = monoio::spawn(write_queued(writer, frames));
    (Outbox { queue }, task)
}

async fn write_queued<W: AsyncWriteRent>(
    mut writer: W,
    mut frames: mpsc::UnboundedReceiver<Bytes>,
) -> u64 {
    let mut written = 0u64;
    while let Some(first) = frames.recv().await {
        let batch = join_queued(first, &mut frames);
        let len = batch.len() as u64;
        let (result, _) = writer.write_all(batch).await;
        if let Err(error) = result {
            tracing::debug!(%error, "write failed; writer stops");
            frames.close();
            return written;
        }
        written += len;
    }
    let _ = writer.shutdown().await;
    written
}

/// Joins `first` with frames already queued behind it, up to [`MAX_BATCH_BYTES`].
fn join_queued(first: Bytes, frames: &mut mpsc::UnboundedReceiver<Bytes>) -> Bytes {
    let Ok(second) = frames.try_recv() else {
        return first;
    };
    let mut batch = BytesMut::with_capacity(first.len() + second.len());
    batch.extend_from_slice(&first);
    batch.extend_from_slice(&second);
    while batch.len() < MAX_BATCH_BYTES {
        match frames.try_recv() {
            Ok(next) => batch.extend_from_slice(&next),
            Err(_) => break,
        }
    }
    batch.freeze()
}
