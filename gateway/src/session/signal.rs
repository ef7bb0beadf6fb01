//! One-shot signal that wakes every task of a session waiting on it.

use std::cell::{Cell, RefCell};
use std::future::poll_fn;
use std::task::{Poll, Waker};

/// A flag that, once raised, stays raised and wakes its waiters. Shard-local.
#[derive(Debug, Default)]
pub struct Signal {
    raised: Cell<bool>,
    waiters: RefCell<Vec<Waker>>,
}

impl Signal {
    /// Raises the signal and wakes every waiter.
    pub fn raise(&self) {
        self.raised.set(true);
        for waker in self.waiters.borrow_mut().drain(..) {
            waker.wake();
        }
    }

    /// Checks whether the signal was raised.
    pub fn is_raised(&self) -> bool {
        self.raised.get()
    }

    /// Waits until the signal is raised.
    pub async fn wait(&self) {
        poll_fn(|context| {
            if self.raised.get() {
                return Poll::Ready(());
            }
            let mut waiters = self.waiters.borrow_mut();
            if !waiters.iter().any(|known| known.will_wake(context.waker())) {
                waiters.push(context.waker().clone());
            }
            Poll::Pending
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raised_signal_completes_wait() {
        let signal = Signal::default();
        signal.raise();
        futures::executor::block_on(signal.wait());
        assert!(signal.is_raised());
    }
}
