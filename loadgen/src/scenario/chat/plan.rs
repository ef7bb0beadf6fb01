//! Layout of the chat scenario: which users share which conversations, and which users
//! connect a second device. Pure logic over user indexes, no IO.

use serde::{Deserialize, Serialize};

/// Kind of a planned conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConversationKind {
    Dm,
    Group,
}

impl ConversationKind {
    /// Returns the `kind` value of the REST API.
    pub fn as_str(self) -> &'static str {
        match self {
            ConversationKind::Dm => "dm",
            ConversationKind::Group => "group",
        }
    }
}

/// A conversation to create, with members as user indexes from 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedConversation {
    pub kind: ConversationKind,
    pub members: Vec<usize>,
}

/// Sizes of the layout.
#[derive(Debug, Clone, Copy)]
pub struct LayoutSizes {
    pub users: usize,
    pub dm_pairs: usize,
    pub groups: usize,
    pub group_size: usize,
    /// 0 for no large group.
    pub large_group_size: usize,
}

/// Lays out the conversations: DMs first, then groups, then the large group.
///
/// DM `i` pairs user `i mod N` with the user `1 + i div N` places after it, so every pair
/// is distinct while `dm_pairs <= N * ((N - 1) / 2)`. Group `g` takes `group_size`
/// consecutive users from `g * group_size mod N`. The large group takes the first users.
pub fn layout(sizes: LayoutSizes) -> Vec<PlannedConversation> {
    let users = sizes.users;
    let mut conversations = Vec::new();
    for pair in 0..sizes.dm_pairs {
        let first = pair % users;
        let offset = 1 + pair / users;
        conversations.push(PlannedConversation {
            kind: ConversationKind::Dm,
            members: vec![first, (first + offset) % users],
        });
    }
    for group in 0..sizes.groups {
        let start = group * sizes.group_size % users;
        conversations.push(PlannedConversation {
            kind: ConversationKind::Group,
            members: (start..start + sizes.group_size)
                .map(|user| user % users)
                .collect(),
        });
    }
    if sizes.large_group_size > 0 {
        conversations.push(PlannedConversation {
            kind: ConversationKind::Group,
            members: (0..sizes.large_group_size).collect(),
        });
    }
    conversations
}

/// Returns the conversation indexes of each user.
pub fn conversations_by_user(
    users: usize,
    conversations: &[PlannedConversation],
) -> Vec<Vec<usize>> {
    let mut by_user = vec![Vec::new(); users];
    for (index, conversation) in conversations.iter().enumerate() {
        for &member in &conversation.members {
            by_user[member].push(index);
        }
    }
    by_user
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn sizes(users: usize, dm_pairs: usize) -> LayoutSizes {
        LayoutSizes {
            users,
            dm_pairs,
            groups: 2,
            group_size: 3,
            large_group_size: 4,
        }
    }

    #[test]
    fn dm_pairs_distinct_up_to_limit() {
        for users in [2, 3, 4, 5, 12] {
            let max_pairs = users * ((users - 1) / 2);
            let layout = layout(sizes(users, max_pairs));
            let pairs: BTreeSet<(usize, usize)> = layout
                .iter()
                .filter(|c| c.kind == ConversationKind::Dm)
                .map(|c| {
                    (
                        c.members[0].min(c.members[1]),
                        c.members[0].max(c.members[1]),
                    )
                })
                .collect();
            assert_eq!(pairs.len(), max_pairs, "users {users}");
            assert!(pairs.iter().all(|(a, b)| a != b));
        }
    }

    #[test]
    fn order_is_dms_groups_large_group() {
        let layout = layout(sizes(6, 3));
        let kinds: Vec<_> = layout.iter().map(|c| c.kind).collect();
        use ConversationKind::{Dm, Group};
        assert_eq!(kinds, vec![Dm, Dm, Dm, Group, Group, Group]);
        assert_eq!(layout[3].members, vec![0, 1, 2]);
        assert_eq!(layout[4].members, vec![3, 4, 5]);
        assert_eq!(layout[5].members, vec![0, 1, 2, 3]);
    }

    #[test]
    fn groups_wrap_around() {
        let layout = layout(LayoutSizes {
            users: 5,
            dm_pairs: 0,
            groups: 2,
            group_size: 3,
            large_group_size: 0,
        });
        assert_eq!(layout[1].members, vec![3, 4, 0]);
    }

    #[test]
    fn users_map_to_their_conversations() {
        let layout = layout(sizes(6, 3));
        let by_user = conversations_by_user(6, &layout);
        assert_eq!(by_user[0], vec![0, 3, 5]);
        assert_eq!(by_user[5], vec![4]);
    }
}
