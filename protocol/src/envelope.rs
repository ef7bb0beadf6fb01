//! Helpers to build and classify envelopes.

use crate::pb::{envelope::Kind, Envelope, Error, ErrorCode};

/// Builds an error reply to request `request_id`.
pub fn error(request_id: u64, code: ErrorCode, reason: impl Into<String>) -> Envelope {
    let retryable = matches!(
        code,
        ErrorCode::Internal | ErrorCode::Unavailable | ErrorCode::RateLimited
    );
    Envelope {
        request_id,
        kind: Some(Kind::Error(Error {
            code: code as i32,
            reason: reason.into(),
            retryable,
        })),
    }
}

/// Builds a reply or event envelope.
pub fn reply(request_id: u64, kind: Kind) -> Envelope {
    Envelope {
        request_id,
        kind: Some(kind),
    }
}

/// Checks whether `kind` is a frame a client may send.
pub fn is_request(kind: &Kind) -> bool {
    matches!(
        kind,
        Kind::Authenticate(_)
            | Kind::SendMessage(_)
            | Kind::Sync(_)
            | Kind::History(_)
            | Kind::MarkRead(_)
            | Kind::Ping(_)
            | Kind::Typing(_)
    )
}

/// Returns the snake_case name of a frame kind, for logs and error reasons.
pub fn kind_name(kind: &Kind) -> &'static str {
    match kind {
        Kind::Authenticate(_) => "authenticate",
        Kind::SendMessage(_) => "send_message",
        Kind::Sync(_) => "sync",
        Kind::History(_) => "history",
        Kind::MarkRead(_) => "mark_read",
        Kind::Ping(_) => "ping",
        Kind::Typing(_) => "typing",
        Kind::AuthOk(_) => "auth_ok",
        Kind::SendAck(_) => "send_ack",
        Kind::SyncResult(_) => "sync_result",
        Kind::HistoryPage(_) => "history_page",
        Kind::MarkReadAck(_) => "mark_read_ack",
        Kind::Pong(_) => "pong",
        Kind::Error(_) => "error",
        Kind::TypingAck(_) => "typing_ack",
        Kind::Message(_) => "message",
        Kind::ReadMarker(_) => "read_marker",
        Kind::TypingEvent(_) => "typing_event",
        Kind::GoAway(_) => "go_away",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pb::{Ping, Pong};

    #[test]
    fn internal_error_retryable() {
        let Some(Kind::Error(body)) = error(3, ErrorCode::Internal, "x").kind else {
            panic!("expected an error kind");
        };
        assert!(body.retryable);
        assert_eq!(body.code, ErrorCode::Internal as i32);
    }

    #[test]
    fn not_member_not_retryable() {
        let Some(Kind::Error(body)) = error(3, ErrorCode::NotMember, "x").kind else {
            panic!("expected an error kind");
        };
        assert!(!body.retryable);
    }

    #[test]
    fn requests_classified() {
        assert!(is_request(&Kind::Ping(Ping::default())));
        assert!(!is_request(&Kind::Pong(Pong::default())));
    }
}
