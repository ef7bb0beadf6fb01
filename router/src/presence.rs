//! In-process presence: which sessions of which users are online, and on which gateway.
//! Owned by the router's event loop, so it needs no lock.

use std::collections::{BTreeMap, HashMap};

use crate::link::SessionAddr;
use crate::store::UserId;

/// Online sessions per user.
#[derive(Debug, Default)]
pub struct Presence {
    sessions_by_user: HashMap<UserId, Vec<SessionAddr>>,
}

impl Presence {
    /// Records that `session` of `user_id` is online. Repeats are ignored.
    pub fn online(&mut self, user_id: UserId, session: SessionAddr) {
        let sessions = self.sessions_by_user.entry(user_id).or_default();
        if !sessions.contains(&session) {
            sessions.push(session);
        }
    }

    /// Records that `session` of `user_id` went offline.
    pub fn offline(&mut self, user_id: UserId, session: SessionAddr) {
        if let Some(sessions) = self.sessions_by_user.get_mut(&user_id) {
            sessions.retain(|known| *known != session);
            if sessions.is_empty() {
                self.sessions_by_user.remove(&user_id);
            }
        }
    }

    /// Returns the online sessions of `user_id`.
    pub fn sessions(&self, user_id: UserId) -> &[SessionAddr] {
        self.sessions_by_user
            .get(&user_id)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// Groups the online sessions of `users` by gateway, leaving out `except`, so one push per
    /// gateway carries every local recipient.
    pub fn recipients_by_gateway(
        &self,
        users: &[UserId],
        except: Option<SessionAddr>,
    ) -> BTreeMap<u32, Vec<u64>> {
        let mut by_gateway: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
        for user_id in users {
            for session in self.sessions(*user_id) {
                if Some(*session) != except {
                    by_gateway
                        .entry(session.gateway_id)
                        .or_default()
                        .push(session.session_id);
                }
            }
        }
        by_gateway
    }

    /// Returns the number of users with at least one online session.
    pub fn online_users(&self) -> usize {
        self.sessions_by_user.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(gateway_id: u32, session_id: u64) -> SessionAddr {
        SessionAddr {
            gateway_id,
            session_id,
        }
    }

    #[test]
    fn devices_grouped_by_gateway() {
        let mut presence = Presence::default();
        presence.online(1, addr(1, 10));
        presence.online(1, addr(2, 11));
        presence.online(2, addr(1, 12));
        let groups = presence.recipients_by_gateway(&[1, 2, 3], None);
        assert_eq!(groups[&1], vec![10, 12]);
        assert_eq!(groups[&2], vec![11]);
        assert_eq!(groups.len(), 2);
    }

    #[test]
    fn sender_session_excluded() {
        let mut presence = Presence::default();
        presence.online(1, addr(1, 10));
        presence.online(1, addr(1, 11));
        let groups = presence.recipients_by_gateway(&[1], Some(addr(1, 10)));
        assert_eq!(groups[&1], vec![11]);
    }

    #[test]
    fn offline_removes_only_that_session() {
        let mut presence = Presence::default();
        presence.online(1, addr(1, 10));
        presence.online(1, addr(1, 10));
        presence.online(1, addr(1, 11));
        presence.offline(1, addr(1, 10));
        assert_eq!(presence.sessions(1), &[addr(1, 11)]);
        presence.offline(1, addr(1, 11));
        assert_eq!(presence.online_users(), 0);
    }
}
