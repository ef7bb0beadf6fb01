//! Bounded per-session send queue.
//!
//! Pushes never wait. A session whose client stops reading fills its queue, and the push that
//! would pass either bound fails. The caller then drops the session with close code 4001, so
//! one slow client cannot hold memory without limit. The client reconnects and syncs what it
//! missed.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::poll_fn;
use std::task::{Poll, Waker};

use bytes::Bytes;

/// Bounds of one session's send queue.
#[derive(Debug, Clone, Copy)]
pub struct QueueLimits {
    /// Most WebSocket messages queued.
    pub max_messages: usize,
    /// Most bytes queued.
    pub max_bytes: usize,
}

/// Reason a push was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushError {
    /// The queue is at one of its bounds.
    Full,
    /// The queue was closed.
    Closed,
}

/// Send queue of one session, shared by the tasks of one shard thread.
#[derive(Debug)]
pub struct Outbound {
    limits: QueueLimits,
    queue: RefCell<VecDeque<Bytes>>,
    queued_bytes: Cell<usize>,
    closed: Cell<bool>,
    waker: RefCell<Option<Waker>>,
}

impl Outbound {
    /// Creates an empty queue with the given bounds.
    pub fn new(limits: QueueLimits) -> Self {
        Self {
            limits,
            queue: RefCell::new(VecDeque::new()),
            queued_bytes: Cell::new(0),
            closed: Cell::new(false),
            waker: RefCell::new(None),
        }
    }

    /// Queues one encoded WebSocket message.
    ///
    /// # Errors
    /// [`PushError::Full`] when the message would pass a bound, [`PushError::Closed`] after
    /// [`Outbound::close`].
    pub fn push(&self, message: Bytes) -> Result<(), PushError> {
        if self.closed.get() {
            return Err(PushError::Closed);
        }
        let mut queue = self.queue.borrow_mut();
        let bytes = self.queued_bytes.get() + message.len();
        if queue.len() >= self.limits.max_messages || bytes > self.limits.max_bytes {
            return Err(PushError::Full);
        }

        self.queued_bytes.set(bytes);
        queue.push_back(message);
        self.wake();
        Ok(())
    }

    /// Queues a final message past the bounds, then closes the queue, so a close frame can
    /// always be sent. Messages queued before it are discarded when `discard_queued` is set.
    pub fn push_last(&self, message: Bytes, discard_queued: bool) {
        if self.closed.get() {
            return;
        }
        let mut queue = self.queue.borrow_mut();
        if discard_queued {
            queue.clear();
            self.queued_bytes.set(0);
        }
        self.queued_bytes
            .set(self.queued_bytes.get() + message.len());
        queue.push_back(message);
        self.closed.set(true);
        self.wake();
    }

    /// Closes the queue; what is queued is still handed out.
    pub fn close(&self) {
        self.closed.set(true);
        self.wake();
    }

    /// Checks whether the queue was closed.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Returns the number of queued messages.
    pub fn len(&self) -> usize {
        self.queue.borrow().len()
    }

    /// Checks whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits for queued messages and moves all of them into `batch`. Returns false once the
    /// queue is closed and empty.
    pub async fn pop_all(&self, batch: &mut Vec<Bytes>) -> bool {
        poll_fn(|context| {
            let mut queue = self.queue.borrow_mut();
            if !queue.is_empty() {
                batch.extend(queue.drain(..));
                self.queued_bytes.set(0);
                return Poll::Ready(true);
            }
            if self.closed.get() {
                return Poll::Ready(false);
            }
            *self.waker.borrow_mut() = Some(context.waker().clone());
            Poll::Pending
        })
        .await
    }

    fn wake(&self) {
        let waker = self.waker.borrow_mut().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(max_messages: usize, max_bytes: usize) -> QueueLimits {
        QueueLimits {
            max_messages,
            max_bytes,
        }
    }

    fn block_on<F: std::future::Future>(future: F) -> F::Output {
        futures::executor::block_on(future)
    }

    #[test]
    fn message_bound_rejects_push() {
        let outbound = Outbound::new(limits(2, 1024));
        assert_eq!(outbound.push(Bytes::from_static(b"a")), Ok(()));
        assert_eq!(outbound.push(Bytes::from_static(b"b")), Ok(()));
        assert_eq!(
            outbound.push(Bytes::from_static(b"c")),
            Err(PushError::Full)
        );
    }

    #[test]
    fn byte_bound_rejects_push() {
        let outbound = Outbound::new(limits(10, 4));
        assert_eq!(outbound.push(Bytes::from_static(b"abc")), Ok(()));
        assert_eq!(
            outbound.push(Bytes::from_static(b"de")),
            Err(PushError::Full)
        );
    }

    #[test]
    fn pop_all_frees_capacity() {
        let outbound = Outbound::new(limits(1, 1024));
        outbound.push(Bytes::from_static(b"a")).unwrap();
        let mut batch = Vec::new();
        assert!(block_on(outbound.pop_all(&mut batch)));
        assert_eq!(batch, vec![Bytes::from_static(b"a")]);
        assert_eq!(outbound.push(Bytes::from_static(b"b")), Ok(()));
    }

    #[test]
    fn last_message_passes_full_queue() {
        let outbound = Outbound::new(limits(1, 1024));
        outbound.push(Bytes::from_static(b"a")).unwrap();
        outbound.push_last(Bytes::from_static(b"close"), true);
        let mut batch = Vec::new();
        assert!(block_on(outbound.pop_all(&mut batch)));
        assert_eq!(batch, vec![Bytes::from_static(b"close")]);
        assert!(!block_on(outbound.pop_all(&mut batch)));
        assert_eq!(
            outbound.push(Bytes::from_static(b"x")),
            Err(PushError::Closed)
        );
    }
}
