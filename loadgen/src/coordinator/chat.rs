//! Preparation of the chat scenario: REST setup of users and conversations, the devices to
//! connect, and the drop hook resolved to a device and conversation.

use std::net::SocketAddr;

use anyhow::{bail, Context as _, Result};

use super::outcome::{ChatLayout, ConversationInfo};
use crate::guard::resolve_loopback_http;
use crate::options::{ChatOptions, DropHook};
use crate::scenario::chat::plan::{self, LayoutSizes};
use crate::scenario::chat::setup::{self, Rest, SetupConversation, SetupUser};
use crate::scenario::chat::DeviceSpec;
use crate::scenario::session::{DropRule, Identity};
use crate::token::TokenMinter;

/// Users, conversations and devices of a chat run.
pub struct PreparedChat {
    /// Every device in connection-index order: first devices, then second devices.
    pub devices: Vec<DeviceSpec>,
    pub layout: ChatLayout,
}

/// Registers users and creates conversations over REST, then lists the devices.
///
/// # Errors
/// When the REST target is not loopback, the secret is unusable, a REST call fails, or the
/// drop hook names a conversation or member that does not exist.
pub fn prepare(options: &ChatOptions) -> Result<PreparedChat> {
    let rest_addr: SocketAddr = resolve_loopback_http(&options.rest)?;
    let minter = options
        .jwt_secret
        .as_deref()
        .map(TokenMinter::new)
        .transpose()?;
    let sizes = LayoutSizes {
        users: options.users as usize,
        dm_pairs: options.dm_pairs() as usize,
        groups: options.groups as usize,
        group_size: options.group_size() as usize,
        large_group_size: options.large_group_size() as usize,
    };
    let planned = plan::layout(sizes);
    let rest = Rest::new(rest_addr)?;
    let prefix = run_prefix();
    tracing::info!(
        users = sizes.users,
        conversations = planned.len(),
        %rest_addr,
        prefix,
        "chat setup starting"
    );

    let users = setup::register_users(
        &rest,
        sizes.users,
        &prefix,
        minter.as_ref(),
        options.setup_concurrency,
    )
    .context("registering users failed")?;
    let conversations =
        setup::create_conversations(&rest, &users, &planned, options.setup_concurrency)
            .context("creating conversations failed")?;
    let drop_rule = options
        .drop_hook
        .map(|hook| resolve_drop_hook(hook, &conversations))
        .transpose()?;
    let by_user = plan::conversations_by_user(sizes.users, &planned);
    let devices = list_devices(options, &users, &conversations, &by_user, drop_rule);
    let layout = ChatLayout {
        users: users.len(),
        devices: devices.len() as u64,
        conversations: conversations
            .iter()
            .map(|conversation| ConversationInfo {
                conversation_id: conversation.conversation_id,
                members: conversation.members.clone(),
            })
            .collect(),
    };
    Ok(PreparedChat { devices, layout })
}

/// Returns a username prefix unique to this run: `lg`, then the unix time and process id
/// in base 36.
fn run_prefix() -> String {
    let seed = crate::machine::unix_now_secs() * 100_000 + u64::from(std::process::id() % 100_000);
    format!("lg{}", to_base36(seed))
}

fn to_base36(mut value: u64) -> String {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut text = Vec::new();
    loop {
        text.push(DIGITS[(value % 36) as usize]);
        value /= 36;
        if value == 0 {
            break;
        }
    }
    text.reverse();
    String::from_utf8(text).expect("base-36 digits are ASCII")
}

/// Resolves the hook to the user and conversation of the device that drops.
fn resolve_drop_hook(
    hook: DropHook,
    conversations: &[SetupConversation],
) -> Result<(u64, DropRule)> {
    let Some(conversation) = conversations.get(hook.conversation_index) else {
        bail!(
            "drop hook names conversation index {} but the setup created {}",
            hook.conversation_index,
            conversations.len()
        );
    };
    let Some(&user_id) = conversation.members.get(hook.member_index) else {
        bail!(
            "drop hook names member index {} but conversation {} has {} members",
            hook.member_index,
            conversation.conversation_id,
            conversation.members.len()
        );
    };
    let rule = DropRule {
        conversation_id: conversation.conversation_id,
        nth_push: hook.nth_push,
    };
    Ok((user_id, rule))
}

fn list_devices(
    options: &ChatOptions,
    users: &[SetupUser],
    conversations: &[SetupConversation],
    by_user: &[Vec<usize>],
    drop_rule: Option<(u64, DropRule)>,
) -> Vec<DeviceSpec> {
    let second_devices = options.second_devices() as usize;
    let first = users
        .iter()
        .enumerate()
        .map(|(index, user)| (index, user, 0u8));
    let second = users
        .iter()
        .enumerate()
        .take(second_devices)
        .map(|(index, user)| (index, user, 1u8));
    first
        .chain(second)
        .enumerate()
        .map(|(connection, (user_index, user, device))| DeviceSpec {
            index: connection as u64,
            identity: Identity {
                user_id: user.user_id,
                device,
            },
            token: user.token.clone(),
            conversations: by_user[user_index]
                .iter()
                .map(|&planned| conversations[planned].conversation_id)
                .collect(),
            drop_rule: drop_rule
                .filter(|(user_id, _)| device == 0 && *user_id == user.user_id)
                .map(|(_, rule)| rule),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base36_digits() {
        assert_eq!(to_base36(0), "0");
        assert_eq!(to_base36(35), "z");
        assert_eq!(to_base36(36), "10");
        assert!(run_prefix().len() <= 16);
    }

    #[test]
    fn drop_hook_resolves_member() {
        let conversations = vec![SetupConversation {
            conversation_id: 40,
            members: vec![7, 8, 9],
        }];
        let hook = DropHook {
            conversation_index: 0,
            member_index: 2,
            nth_push: 3,
        };
        let (user_id, rule) = resolve_drop_hook(hook, &conversations).unwrap();
        assert_eq!(user_id, 9);
        assert_eq!(
            rule,
            DropRule {
                conversation_id: 40,
                nth_push: 3
            }
        );
        let missing = DropHook {
            conversation_index: 1,
            ..hook
        };
        assert!(resolve_drop_hook(missing, &conversations).is_err());
    }
}
