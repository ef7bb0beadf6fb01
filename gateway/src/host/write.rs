//! The writer task of a session: drains the send queue into the socket, one write per batch.
//! A session starts here too, because registering it spawns that task.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use monoio::io::{AsyncWriteRent, AsyncWriteRentExt, Splitable};
use monoio::net::tcp::TcpOwnedReadHalf;
use monoio::net::TcpStream;
use tracing::debug;

use super::SessionHost;
use crate::session::{Outbound, SessionEntry, Signal};

/// Time a writer may keep flushing after its session ended, so a close frame reaches a
/// client that is still reading, while a client that stopped reading cannot hold the socket.
const FLUSH_GRACE: Duration = Duration::from_secs(2);

/// Inserts a new session into the host's table and spawns its writer task on the write half
/// of `stream`. Returns the session id, its entry and the read half.
pub(crate) fn open_session<H: SessionHost + 'static>(
    host: &Rc<H>,
    stream: TcpStream,
) -> (u64, Rc<SessionEntry>, TcpOwnedReadHalf) {
    let entry = Rc::new(SessionEntry {
        user_id: Cell::new(None),
        outbound: Outbound::new(host.state().queue_limits),
        kill: Signal::default(),
    });
    let session_id = host.state().sessions.insert(entry.clone());
    let (read_half, write_half) = stream.into_split();
    let open_writers = &host.state().open_writers;
    open_writers.set(open_writers.get() + 1);
    monoio::spawn(run_writer(host.clone(), entry.clone(), write_half));
    (session_id, entry, read_half)
}

/// Runs [`write_queue`], then removes the writer from the host's count of open writers, so
/// a drain stops waiting for it.
async fn run_writer<H: SessionHost, W: AsyncWriteRent>(
    host: Rc<H>,
    entry: Rc<SessionEntry>,
    writer: W,
) {
    write_queue(&entry, writer).await;
    let open_writers = &host.state().open_writers;
    open_writers.set(open_writers.get() - 1);
}

/// Writes a session's send queue to `writer` until the queue is closed and empty, a write
/// fails, or the flush grace after the session ended runs out, then shuts `writer` down.
async fn write_queue<W: AsyncWriteRent>(entry: &SessionEntry, mut writer: W) {
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
