//! Terminal output of the client: one line per message or event, and the inbox table.

use switchboard_protocol::pb::{envelope::Kind, Message, MessageType};

use super::rest::{HistoryMessage, InboxEntry};

/// Characters of the last message shown in an inbox row.
const PREVIEW_CHARS: usize = 40;

/// Fields of a message, from a WebSocket event or a REST history page.
pub struct MessageFields<'a> {
    pub conversation_id: u64,
    pub seq: u64,
    pub sender_id: u64,
    pub content: &'a str,
    /// `MessageType` of the wire protocol, as its number.
    pub message_type: i32,
}

impl<'a> From<&'a Message> for MessageFields<'a> {
    fn from(message: &'a Message) -> Self {
        Self {
            conversation_id: message.conversation_id,
            seq: message.seq,
            sender_id: message.sender_id,
            content: &message.content,
            message_type: message.r#type,
        }
    }
}

impl<'a> From<&'a HistoryMessage> for MessageFields<'a> {
    fn from(message: &'a HistoryMessage) -> Self {
        Self {
            conversation_id: message.conversation_id,
            seq: message.seq,
            sender_id: message.sender_id,
            content: &message.content,
            message_type: message.message_type,
        }
    }
}

/// Formats a message as `[conv 3 seq 7] user 1: hello`. Messages that are not text get
/// their type in brackets before the content, and control characters are escaped so that
/// each message takes one line.
pub fn message_line(message: &MessageFields<'_>) -> String {
    let type_tag = match MessageType::try_from(message.message_type) {
        Ok(MessageType::Text) => String::new(),
        Ok(MessageType::Image) => "[image] ".to_string(),
        Ok(MessageType::File) => "[file] ".to_string(),
        Ok(MessageType::System) => "[system] ".to_string(),
        Err(_) => format!("[type {}] ", message.message_type),
    };
    format!(
        "[conv {} seq {}] user {}: {type_tag}{}",
        message.conversation_id,
        message.seq,
        message.sender_id,
        escape_controls(message.content)
    )
}

/// Formats a server event as one line. Returns `None` for replies and other frames that are
/// not events.
pub fn event_line(kind: &Kind) -> Option<String> {
    let line = match kind {
        Kind::Message(message) => message_line(&MessageFields::from(message)),
        Kind::ReadMarker(marker) => format!(
            "[conv {}] user {} read up to seq {}",
            marker.conversation_id, marker.user_id, marker.last_read_seq
        ),
        Kind::TypingEvent(typing) => {
            let state = if typing.typing {
                "is typing"
            } else {
                "stopped typing"
            };
            format!(
                "[conv {}] user {} {state}",
                typing.conversation_id, typing.user_id
            )
        }
        Kind::GoAway(goaway) => format!(
            "[server] going away: {}; reconnect after {} ms",
            escape_controls(&goaway.reason),
            goaway.reconnect_after_ms
        ),
        _ => return None,
    };
    Some(line)
}

/// Formats the inbox as a table with a header row and columns aligned by padding.
pub fn inbox_table(entries: &[InboxEntry]) -> String {
    let header = ["ID", "KIND", "TITLE", "LAST SEQ", "UNREAD", "LAST MESSAGE"];
    let rows: Vec<[String; 6]> = entries.iter().map(inbox_row).collect();

    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }

    let mut table = String::new();
    push_row(&mut table, &header.map(str::to_string), &widths);
    for row in &rows {
        push_row(&mut table, row, &widths);
    }
    table
}

fn inbox_row(entry: &InboxEntry) -> [String; 6] {
    let title = entry
        .title
        .as_deref()
        .map(escape_controls)
        .unwrap_or_else(|| "-".to_string());
    let last_message = match &entry.last_message {
        Some(message) => format!(
            "user {}: {}",
            message.sender_id,
            truncate_chars(&escape_controls(&message.content), PREVIEW_CHARS)
        ),
        None => "-".to_string(),
    };
    [
        entry.conversation_id.to_string(),
        entry.kind.clone(),
        title,
        entry.last_seq.to_string(),
        entry.unread.to_string(),
        last_message,
    ]
}

/// Appends one row, padding every cell but the last to its column width.
fn push_row(table: &mut String, cells: &[String; 6], widths: &[usize; 6]) {
    let last = cells.len() - 1;
    for (index, (cell, width)) in cells.iter().zip(widths).enumerate() {
        if index == last {
            table.push_str(cell);
        } else {
            let padding = width - cell.chars().count();
            table.push_str(cell);
            table.push_str(&" ".repeat(padding + 2));
        }
    }
    table.push('\n');
}

/// Replaces newlines, tabs and other control characters with their escapes, such as `\n`.
fn escape_controls(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            escaped.extend(c.escape_default());
        } else {
            escaped.push(c);
        }
    }
    escaped
}

/// Cuts `text` to `max_chars` characters, marking a cut with `...`.
fn truncate_chars(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let kept: String = text.chars().take(max_chars.saturating_sub(3)).collect();
    format!("{kept}...")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::rest::MessagePreview;
    use switchboard_protocol::pb::{GoAway, ReadMarker, TypingEvent};

    fn fields(content: &str, message_type: i32) -> MessageFields<'_> {
        MessageFields {
            conversation_id: 3,
            seq: 7,
            sender_id: 1,
            content,
            message_type,
        }
    }

    #[test]
    fn message_line_format() {
        assert_eq!(
            message_line(&fields("hello", 0)),
            "[conv 3 seq 7] user 1: hello"
        );
    }

    #[test]
    fn message_line_escapes_newlines() {
        assert_eq!(
            message_line(&fields("one\ntwo\tthree", 0)),
            "[conv 3 seq 7] user 1: one\\ntwo\\tthree"
        );
    }

    #[test]
    fn message_line_tags_non_text() {
        let image = message_line(&fields("cat.png", MessageType::Image as i32));
        let unknown = message_line(&fields("x", 42));

        assert_eq!(image, "[conv 3 seq 7] user 1: [image] cat.png");
        assert_eq!(unknown, "[conv 3 seq 7] user 1: [type 42] x");
    }

    #[test]
    fn event_lines_for_each_event() {
        let message = Kind::Message(Message {
            conversation_id: 3,
            seq: 7,
            sender_id: 1,
            content: "hello".to_string(),
            ..Message::default()
        });
        let marker = Kind::ReadMarker(ReadMarker {
            conversation_id: 3,
            user_id: 2,
            last_read_seq: 7,
        });
        let typing = Kind::TypingEvent(TypingEvent {
            conversation_id: 3,
            user_id: 2,
            typing: true,
        });
        let goaway = Kind::GoAway(GoAway {
            reason: "draining".to_string(),
            reconnect_after_ms: 500,
        });

        assert_eq!(
            event_line(&message).as_deref(),
            Some("[conv 3 seq 7] user 1: hello")
        );
        assert_eq!(
            event_line(&marker).as_deref(),
            Some("[conv 3] user 2 read up to seq 7")
        );
        assert_eq!(
            event_line(&typing).as_deref(),
            Some("[conv 3] user 2 is typing")
        );
        assert_eq!(
            event_line(&goaway).as_deref(),
            Some("[server] going away: draining; reconnect after 500 ms")
        );
    }

    #[test]
    fn event_line_skips_replies() {
        let pong = Kind::Pong(Default::default());

        assert_eq!(event_line(&pong), None);
    }

    #[test]
    fn inbox_table_aligns_columns() {
        let entries = [
            InboxEntry {
                conversation_id: 12,
                kind: "group".to_string(),
                title: Some("team".to_string()),
                last_seq: 4,
                unread: 1,
                last_message: Some(MessagePreview {
                    sender_id: 2,
                    content: "x".repeat(50),
                }),
            },
            InboxEntry {
                conversation_id: 3,
                kind: "dm".to_string(),
                title: None,
                last_seq: 0,
                unread: 0,
                last_message: None,
            },
        ];

        let table = inbox_table(&entries);

        let expected = format!(
            "ID  KIND   TITLE  LAST SEQ  UNREAD  LAST MESSAGE\n\
             12  group  team   4         1       user 2: {}...\n\
             3   dm     -      0         0       -\n",
            "x".repeat(PREVIEW_CHARS - 3)
        );
        assert_eq!(table, expected);
    }
}
