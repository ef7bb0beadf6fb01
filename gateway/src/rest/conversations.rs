//! Conversations and their membership: creation of DMs and groups, lookup, and the rules for
//! adding and removing members.

use std::collections::BTreeSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use switchboard_router::store::{
    Conversation, ConversationKind, Member, NewConversation, Role, UserId,
};

use super::error::ApiError;
use super::extract::{ApiJson, ApiPath, Caller};
use super::views::{ConversationView, MemberView};
use super::RestState;

/// Maximum title length in characters.
pub const MAX_TITLE_LEN: usize = 200;
/// Maximum number of members one create request may list, which bounds the work of one
/// request. Members added later do not count against it.
pub const MAX_INITIAL_MEMBERS: usize = 1000;

/// Body of `POST /v1/conversations`.
#[derive(Deserialize)]
pub struct CreateConversation {
    kind: ConversationKind,
    members: Vec<UserId>,
    #[serde(default)]
    title: Option<String>,
}

/// Body of `POST /v1/conversations/{id}/members`.
#[derive(Deserialize)]
pub struct AddMember {
    user_id: UserId,
}

/// Handles `POST /v1/conversations`: creates a DM or group with the caller as a member.
pub async fn create(
    State(state): State<RestState>,
    caller: Caller,
    ApiJson(request): ApiJson<CreateConversation>,
) -> Result<(StatusCode, Json<ConversationView>), ApiError> {
    let new = build_new_conversation(caller.user_id(), request)?;
    let conversation = state.store.create_conversation(new).await?;
    let members = state.store.members(conversation.conversation_id).await?;

    tracing::info!(
        conversation_id = conversation.conversation_id,
        created_by = conversation.created_by,
        kind = ?conversation.kind,
        members = members.len(),
        "conversation created"
    );
    let view = ConversationView::new(conversation, members);
    Ok((StatusCode::CREATED, Json(view)))
}

/// Handles `GET /v1/conversations/{id}`: returns the conversation with its members.
pub async fn get(
    State(state): State<RestState>,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<u64>,
) -> Result<Json<ConversationView>, ApiError> {
    let (conversation, _) = load_as_member(&state, conversation_id, caller.user_id()).await?;
    let members = state.store.members(conversation_id).await?;
    Ok(Json(ConversationView::new(conversation, members)))
}

/// Handles `POST /v1/conversations/{id}/members`: lets a member add a user to a group.
pub async fn add_member(
    State(state): State<RestState>,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<u64>,
    ApiJson(request): ApiJson<AddMember>,
) -> Result<Json<MemberView>, ApiError> {
    let (conversation, _) = load_as_member(&state, conversation_id, caller.user_id()).await?;
    reject_dm_membership_change(&conversation)?;

    let member = state
        .store
        .add_member(conversation_id, request.user_id, Role::Member)
        .await?;
    tracing::info!(
        conversation_id,
        user_id = request.user_id,
        added_by = caller.user_id(),
        "member added"
    );
    Ok(Json(MemberView::from(member)))
}

/// Handles `DELETE /v1/conversations/{id}/members/{user_id}`: a member may leave a group, and
/// an owner may remove anyone.
pub async fn remove_member(
    State(state): State<RestState>,
    caller: Caller,
    ApiPath((conversation_id, user_id)): ApiPath<(u64, u64)>,
) -> Result<StatusCode, ApiError> {
    let (conversation, caller_member) =
        load_as_member(&state, conversation_id, caller.user_id()).await?;
    reject_dm_membership_change(&conversation)?;
    if user_id != caller.user_id() && caller_member.role != Role::Owner {
        return Err(ApiError::forbidden(
            "not_owner",
            format!(
                "only an owner of conversation {conversation_id} may remove user {user_id}; \
                 members may only remove themselves"
            ),
        ));
    }

    let was_member = state.store.remove_member(conversation_id, user_id).await?;
    if !was_member {
        return Err(ApiError::not_found(
            "member_not_found",
            format!("user {user_id} is not a member of conversation {conversation_id}"),
        ));
    }
    tracing::info!(
        conversation_id,
        user_id,
        removed_by = caller.user_id(),
        "member removed"
    );
    Ok(StatusCode::NO_CONTENT)
}

/// Loads a conversation and the caller's membership of it.
///
/// # Errors
/// 404 `conversation_not_found` when it does not exist, 403 `not_a_member` when the caller is
/// not a member.
pub async fn load_as_member(
    state: &RestState,
    conversation_id: u64,
    user_id: UserId,
) -> Result<(Conversation, Member), ApiError> {
    let Some(conversation) = state.store.conversation(conversation_id).await? else {
        return Err(ApiError::not_found(
            "conversation_not_found",
            format!("conversation {conversation_id} not found; check the conversation id"),
        ));
    };
    let Some(member) = state.store.member(conversation_id, user_id).await? else {
        return Err(ApiError::forbidden(
            "not_a_member",
            format!(
                "user {user_id} is not a member of conversation {conversation_id}; \
                 ask a member to add you"
            ),
        ));
    };
    Ok((conversation, member))
}

/// Validates a create request and turns it into the store's input, with the caller added.
fn build_new_conversation(
    caller_id: UserId,
    request: CreateConversation,
) -> Result<NewConversation, ApiError> {
    let title = request.title.unwrap_or_default();
    validate_title(&title)?;
    if request.members.len() > MAX_INITIAL_MEMBERS {
        return Err(ApiError::bad_request(
            "too_many_members",
            format!(
                "members lists {} users; list at most {MAX_INITIAL_MEMBERS} and add the rest later",
                request.members.len()
            ),
        ));
    }

    let others: BTreeSet<UserId> = request
        .members
        .into_iter()
        .filter(|&user_id| user_id != caller_id)
        .collect();
    if request.kind == ConversationKind::Dm && others.len() != 1 {
        return Err(ApiError::bad_request(
            "invalid_members",
            format!(
                "a DM needs exactly one other user, but members lists {} users besides the \
                 caller {caller_id}",
                others.len()
            ),
        ));
    }

    let mut members = vec![caller_id];
    members.extend(others);
    Ok(NewConversation {
        kind: request.kind,
        title,
        created_by: caller_id,
        members,
    })
}

fn validate_title(title: &str) -> Result<(), ApiError> {
    let length = title.chars().count();
    if length <= MAX_TITLE_LEN {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "invalid_title",
        format!("title has {length} characters; use at most {MAX_TITLE_LEN}"),
    ))
}

fn reject_dm_membership_change(conversation: &Conversation) -> Result<(), ApiError> {
    if conversation.kind != ConversationKind::Dm {
        return Ok(());
    }
    Err(ApiError::bad_request(
        "dm_membership_fixed",
        format!(
            "conversation {} is a DM, whose two members cannot change; create a group instead",
            conversation.conversation_id
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(kind: ConversationKind, members: Vec<UserId>) -> CreateConversation {
        CreateConversation {
            kind,
            members,
            title: None,
        }
    }

    #[test]
    fn dm_needs_one_other_user() {
        let cases: [(&str, Vec<UserId>); 4] = [
            ("empty", vec![]),
            ("only caller", vec![1]),
            ("two others", vec![2, 3]),
            ("caller and two others", vec![1, 2, 3]),
        ];
        for (name, members) in cases {
            let err =
                build_new_conversation(1, request(ConversationKind::Dm, members)).expect_err(name);
            assert_eq!(err.code, "invalid_members", "{name}");
        }
    }

    #[test]
    fn dm_tolerates_caller_and_duplicates() {
        let new = build_new_conversation(1, request(ConversationKind::Dm, vec![1, 2, 2]))
            .expect("valid dm");

        assert_eq!(new.members, vec![1, 2]);
        assert_eq!(new.created_by, 1);
    }

    #[test]
    fn group_always_includes_caller() {
        let new = build_new_conversation(5, request(ConversationKind::Group, vec![3, 9, 3]))
            .expect("valid group");

        assert_eq!(new.members, vec![5, 3, 9]);
        assert_eq!(new.title, "");
    }

    #[test]
    fn group_rejects_long_title() {
        let mut long = request(ConversationKind::Group, vec![]);
        long.title = Some("t".repeat(MAX_TITLE_LEN + 1));

        let err = build_new_conversation(1, long).expect_err("long title");

        assert_eq!(err.code, "invalid_title");
    }

    #[test]
    fn group_rejects_too_many_members() {
        let members = (2..=MAX_INITIAL_MEMBERS as u64 + 2).collect();

        let err = build_new_conversation(1, request(ConversationKind::Group, members))
            .expect_err("too many");

        assert_eq!(err.code, "too_many_members");
    }
}
