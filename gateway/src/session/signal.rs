//! One-shot signal that wakes every task of a session waiting on it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

/// A flag that, once raised, stays raised and wakes its waiters. Shard-local.
///
/// Each pending [`Signal::wait`] future owns one waiter slot and frees it when dropped, so
/// a task that waits in a loop (inside `select!`) keeps one slot, not one per poll.
#[derive(Debug, Default)]
pub struct Signal {
    raised: Cell<bool>,
    slots: RefCell<Vec<Option<Waker>>>,
}

impl Signal {
    /// Raises the signal and wakes every waiter.
    pub fn raise(&self) {
        self.raised.set(true);
        let wakers: Vec<Waker> = self
            .slots
            .borrow_mut()
            .iter_mut()
            .filter_map(Option::take)
            .collect();
        for waker in wakers {
            waker.wake();
        }
    }

    /// Checks whether the signal was raised.
    pub fn is_raised(&self) -> bool {
        self.raised.get()
    }

    /// Waits until the signal is raised.
    pub fn wait(&self) -> Wait<'_> {
        Wait {
            signal: self,
            slot: None,
        }
    }

    fn register(&self, slot: &mut Option<usize>, waker: &Waker) {
        let mut slots = self.slots.borrow_mut();
        let index = match *slot {
            Some(index) => index,
            None => {
                let index = slots.iter().position(Option::is_none).unwrap_or_else(|| {
                    slots.push(None);
                    slots.len() - 1
                });
                *slot = Some(index);
                index
            }
        };
        match &mut slots[index] {
            Some(known) if known.will_wake(waker) => {}
            entry => *entry = Some(waker.clone()),
        }
    }

    /// Returns the number of registered waiters.
    #[cfg(test)]
    fn waiters(&self) -> usize {
        self.slots
            .borrow()
            .iter()
            .filter(|slot| slot.is_some())
            .count()
    }
}

/// Future of [`Signal::wait`].
#[derive(Debug)]
pub struct Wait<'a> {
    signal: &'a Signal,
    slot: Option<usize>,
}

impl Future for Wait<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.signal.raised.get() {
            return Poll::Ready(());
        }
        this.signal.register(&mut this.slot, context.waker());
        Poll::Pending
    }
}

impl Drop for Wait<'_> {
    fn drop(&mut self) {
        if let Some(index) = self.slot {
            if let Some(entry) = self.signal.slots.borrow_mut().get_mut(index) {
                *entry = None;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::task::noop_waker;

    #[test]
    fn raised_signal_completes_wait() {
        let signal = Signal::default();
        signal.raise();
        futures::executor::block_on(signal.wait());
        assert!(signal.is_raised());
    }

    #[test]
    fn repeated_waits_reuse_one_slot() {
        let signal = Signal::default();
        let waker = noop_waker();
        let mut context = Context::from_waker(&waker);
        for _ in 0..100 {
            let mut wait = signal.wait();
            assert!(Pin::new(&mut wait).poll(&mut context).is_pending());
            assert!(Pin::new(&mut wait).poll(&mut context).is_pending());
        }
        assert_eq!(signal.waiters(), 0, "dropped waits must free their slots");
        assert!(signal.slots.borrow().len() <= 1, "slots must be reused");
    }

    #[test]
    fn raise_wakes_pending_wait() {
        let signal = Signal::default();
        let waker = noop_waker();
        let mut context = Context::from_waker(&waker);
        let mut wait = signal.wait();
        assert!(Pin::new(&mut wait).poll(&mut context).is_pending());
        assert_eq!(signal.waiters(), 1);
        signal.raise();
        assert!(Pin::new(&mut wait).poll(&mut context).is_ready());
    }
}
