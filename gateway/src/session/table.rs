//! Shard-local table of live sessions. Only its shard's thread touches it, so it needs no
//! lock.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::rc::Rc;

use super::{session_id, Outbound, Signal};

/// One live session.
#[derive(Debug)]
pub struct SessionEntry {
    /// Authenticated user; `None` until the session authenticates.
    pub user_id: Cell<Option<u64>>,
    /// Messages waiting for the session's writer.
    pub outbound: Outbound,
    /// Raised to stop the session's tasks at once.
    pub kill: Signal,
}

/// Live sessions of one shard by session id.
#[derive(Debug)]
pub struct SessionTable {
    shard: usize,
    next_sequence: Cell<u64>,
    sessions: RefCell<HashMap<u64, Rc<SessionEntry>>>,
}

impl SessionTable {
    /// Creates an empty table for shard `shard`.
    pub fn new(shard: usize) -> Self {
        Self {
            shard,
            next_sequence: Cell::new(1),
            sessions: RefCell::new(HashMap::new()),
        }
    }

    /// Inserts a session under a fresh id and returns the id.
    pub fn insert(&self, entry: Rc<SessionEntry>) -> u64 {
        let sequence = self.next_sequence.get();
        self.next_sequence.set(sequence + 1);
        let id = session_id(self.shard, sequence);
        self.sessions.borrow_mut().insert(id, entry);
        id
    }

    /// Looks a session up.
    pub fn get(&self, session_id: u64) -> Option<Rc<SessionEntry>> {
        self.sessions.borrow().get(&session_id).cloned()
    }

    /// Removes a session; returns it if it was present.
    pub fn remove(&self, session_id: u64) -> Option<Rc<SessionEntry>> {
        self.sessions.borrow_mut().remove(&session_id)
    }

    /// Returns the number of live sessions.
    pub fn len(&self) -> usize {
        self.sessions.borrow().len()
    }

    /// Checks whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns every live session.
    pub fn all(&self) -> Vec<(u64, Rc<SessionEntry>)> {
        self.sessions
            .borrow()
            .iter()
            .map(|(id, entry)| (*id, entry.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{shard_of, QueueLimits};

    fn entry() -> Rc<SessionEntry> {
        Rc::new(SessionEntry {
            user_id: Cell::new(Some(1)),
            outbound: Outbound::new(QueueLimits {
                max_messages: 4,
                max_bytes: 64,
            }),
            kill: Signal::default(),
        })
    }

    #[test]
    fn insert_lookup_remove() {
        let table = SessionTable::new(3);
        let first = table.insert(entry());
        let second = table.insert(entry());
        assert_ne!(first, second);
        assert_eq!(shard_of(first), 3);
        assert!(table.get(first).is_some());
        assert!(table.remove(first).is_some());
        assert!(table.get(first).is_none());
        assert_eq!(table.len(), 1);
    }
}
