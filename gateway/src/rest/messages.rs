//! Reading side of messages: the caller's inbox and cursor-paged conversation history.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use switchboard_router::store::{Direction, Seq};

use super::conversations::load_as_member;
use super::error::ApiError;
use super::extract::{ApiPath, ApiQuery, Caller};
use super::views::{InboxEntryView, MessageView};
use super::RestState;

/// Page size of a history request without `limit`.
pub const DEFAULT_PAGE_LIMIT: usize = 50;
/// Maximum page size of a history request.
pub const MAX_PAGE_LIMIT: usize = 200;

/// Reading order as named in the query string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueryDirection {
    Forward,
    Backward,
}

/// Query of `GET /v1/conversations/{id}/messages`.
#[derive(Debug, Default, Deserialize)]
pub struct HistoryQuery {
    /// Forward cursor: return messages with seq above it, oldest first.
    after: Option<Seq>,
    /// Backward cursor: return messages with seq below it, newest first. 0 starts at the newest.
    before: Option<Seq>,
    limit: Option<usize>,
    direction: Option<QueryDirection>,
}

/// A validated history request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    pub cursor: Seq,
    pub direction: Direction,
    pub limit: usize,
}

/// Body of a history response.
#[derive(Serialize)]
pub struct HistoryPage {
    messages: Vec<MessageView>,
    /// Cursor for the next page in the same direction, to pass as `after` or `before`. Null
    /// when this page reached the end.
    next_cursor: Option<Seq>,
    has_more: bool,
}

/// Handles `GET /v1/conversations`: returns the caller's inbox, most recent activity first.
pub async fn inbox(
    State(state): State<RestState>,
    caller: Caller,
) -> Result<Json<Vec<InboxEntryView>>, ApiError> {
    let entries = state.store.inbox(caller.user_id()).await?;
    Ok(Json(
        entries.into_iter().map(InboxEntryView::from).collect(),
    ))
}

/// Handles `GET /v1/conversations/{id}/messages`: returns one page of history for a member.
pub async fn history(
    State(state): State<RestState>,
    caller: Caller,
    ApiPath(conversation_id): ApiPath<u64>,
    ApiQuery(query): ApiQuery<HistoryQuery>,
) -> Result<Json<HistoryPage>, ApiError> {
    let page = parse_page_request(&query)?;
    load_as_member(&state, conversation_id, caller.user_id()).await?;

    // One extra row shows whether another page exists without a second query.
    let mut messages = state
        .store
        .messages(conversation_id, page.cursor, page.limit + 1, page.direction)
        .await?;
    let has_more = messages.len() > page.limit;
    messages.truncate(page.limit);
    let next_cursor = if has_more {
        messages.last().map(|message| message.seq)
    } else {
        None
    };

    Ok(Json(HistoryPage {
        messages: messages.into_iter().map(MessageView::from).collect(),
        next_cursor,
        has_more,
    }))
}

/// Validates the history query: one cursor at most, a direction that agrees with it, and a
/// limit from 1 to [`MAX_PAGE_LIMIT`].
pub fn parse_page_request(query: &HistoryQuery) -> Result<PageRequest, ApiError> {
    let limit = parse_limit(query.limit)?;
    let (cursor, direction) = match (query.after, query.before, query.direction) {
        (Some(after), Some(before), _) => {
            return Err(ApiError::bad_request(
                "invalid_cursor",
                format!("both after={after} and before={before} are set; send only one"),
            ));
        }
        (Some(after), None, Some(QueryDirection::Backward)) => {
            return Err(ApiError::bad_request(
                "invalid_cursor",
                format!("after={after} reads forward but direction=backward; use before instead"),
            ));
        }
        (None, Some(before), Some(QueryDirection::Forward)) => {
            return Err(ApiError::bad_request(
                "invalid_cursor",
                format!("before={before} reads backward but direction=forward; use after instead"),
            ));
        }
        (None, Some(before), _) => (before, Direction::Backward),
        (None, None, Some(QueryDirection::Backward)) => (0, Direction::Backward),
        (after, None, _) => (after.unwrap_or(0), Direction::Forward),
    };
    Ok(PageRequest {
        cursor,
        direction,
        limit,
    })
}

fn parse_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let Some(limit) = limit else {
        return Ok(DEFAULT_PAGE_LIMIT);
    };
    if (1..=MAX_PAGE_LIMIT).contains(&limit) {
        return Ok(limit);
    }
    Err(ApiError::bad_request(
        "invalid_limit",
        format!("limit={limit} is out of range; use 1 to {MAX_PAGE_LIMIT}"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(
        after: Option<Seq>,
        before: Option<Seq>,
        limit: Option<usize>,
        direction: Option<QueryDirection>,
    ) -> HistoryQuery {
        HistoryQuery {
            after,
            before,
            limit,
            direction,
        }
    }

    fn page(cursor: Seq, direction: Direction, limit: usize) -> PageRequest {
        PageRequest {
            cursor,
            direction,
            limit,
        }
    }

    #[test]
    fn page_defaults_forward_from_start() {
        let parsed = parse_page_request(&HistoryQuery::default()).expect("valid");

        assert_eq!(parsed, page(0, Direction::Forward, DEFAULT_PAGE_LIMIT));
    }

    #[test]
    fn page_cursor_selects_direction() {
        let cases = [
            (
                query(Some(7), None, None, None),
                page(7, Direction::Forward, 50),
            ),
            (
                query(None, Some(9), None, None),
                page(9, Direction::Backward, 50),
            ),
            (
                query(None, Some(0), Some(3), None),
                page(0, Direction::Backward, 3),
            ),
            (
                query(None, None, None, Some(QueryDirection::Backward)),
                page(0, Direction::Backward, 50),
            ),
            (
                query(Some(4), None, None, Some(QueryDirection::Forward)),
                page(4, Direction::Forward, 50),
            ),
            (
                query(None, Some(4), None, Some(QueryDirection::Backward)),
                page(4, Direction::Backward, 50),
            ),
        ];
        for (input, expected) in cases {
            let parsed = parse_page_request(&input).expect("valid");
            assert_eq!(parsed, expected, "{input:?}");
        }
    }

    #[test]
    fn page_rejects_conflicting_cursors() {
        let cases = [
            query(Some(1), Some(2), None, None),
            query(Some(1), None, None, Some(QueryDirection::Backward)),
            query(None, Some(1), None, Some(QueryDirection::Forward)),
        ];
        for input in cases {
            let err = parse_page_request(&input).expect_err("conflicting");
            assert_eq!(err.code, "invalid_cursor", "{input:?}");
        }
    }

    #[test]
    fn page_limit_bounds() {
        for limit in [1, MAX_PAGE_LIMIT] {
            let parsed = parse_page_request(&query(None, None, Some(limit), None)).expect("valid");
            assert_eq!(parsed.limit, limit);
        }
        for limit in [0, MAX_PAGE_LIMIT + 1] {
            let err = parse_page_request(&query(None, None, Some(limit), None)).expect_err("bad");
            assert_eq!(err.code, "invalid_limit", "limit {limit}");
        }
    }
}
