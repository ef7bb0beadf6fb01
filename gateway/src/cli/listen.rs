//! The `listen` subcommand: syncs conversations from given seqs, then prints live server
//! events until a message count or a time limit is reached.

use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::Result;
use clap::Args;
use switchboard_protocol::pb::{envelope::Kind, Envelope, Ping, SyncRequest};

use super::output::{self, MessageFields};
use super::ws::{self, Session};
use super::{require_token, unexpected_reply, unix_now_ms, ClientOptions};

/// Interval between keepalive pings, well below the server's default idle timeout of 90 s.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// Maximum sync pages read per conversation, which bounds the startup of `listen` when a
/// conversation has a long backlog.
const MAX_SYNC_PAGES: usize = 1000;

/// Arguments of `switchboard listen`.
#[derive(Debug, Args)]
pub struct ListenArgs {
    /// Before listening, print the messages of conversation CONV with a seq above SEQ.
    /// Repeat it for more conversations.
    #[arg(long = "after", value_name = "CONV:SEQ")]
    after: Vec<SyncPoint>,
    /// Exit after this many live messages, at least 1; messages printed by --after do not
    /// count. Without it, listen runs until --timeout-secs or Ctrl-C.
    #[arg(long, value_name = "N", value_parser = parse_count)]
    count: Option<u64>,
    /// Exit after this many seconds, counted from the start of the command.
    #[arg(long, value_name = "S")]
    timeout_secs: Option<u64>,
}

/// A conversation and the seq after which to sync it, written `CONV:SEQ`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncPoint {
    conversation_id: u64,
    after_seq: u64,
}

impl FromStr for SyncPoint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("{text:?} is not CONV:SEQ with two integers, such as 3:0");
        let (conversation, seq) = text.split_once(':').ok_or_else(invalid)?;
        let conversation_id = conversation.trim().parse().map_err(|_| invalid())?;
        let after_seq = seq.trim().parse().map_err(|_| invalid())?;
        Ok(SyncPoint {
            conversation_id,
            after_seq,
        })
    }
}

/// Parses `--count`, which must be at least 1 because a count of 0 would stop before the
/// first message.
fn parse_count(text: &str) -> Result<u64, String> {
    let count: u64 = text
        .parse()
        .map_err(|_| "the count is not a whole number; pass N >= 1".to_string())?;
    if count == 0 {
        return Err(
            "the count must be at least 1; omit --count to listen until --timeout-secs or \
             Ctrl-C"
                .to_string(),
        );
    }
    Ok(count)
}

/// Runs `switchboard listen`. Returns `Ok` when the count or the time limit is reached, and
/// an error when the server closes the session.
pub fn run(options: &ClientOptions, args: &ListenArgs) -> Result<()> {
    let deadline = args
        .timeout_secs
        .map(|secs| Instant::now() + Duration::from_secs(secs));
    let mut session = Session::connect(&options.ws_url, require_token(options)?)?;
    for point in &args.after {
        sync_conversation(&mut session, point)?;
    }

    // Scripts wait for this line before they send, so it comes after the sync.
    eprintln!(
        "listening as user {} on {}; {}",
        session.user_id(),
        options.ws_url,
        stop_condition(args)
    );
    print_events(&mut session, args.count, deadline)?;
    session.close();
    Ok(())
}

fn stop_condition(args: &ListenArgs) -> String {
    match (args.count, args.timeout_secs) {
        (Some(count), Some(secs)) => {
            format!("stopping after {count} messages or {secs} s, whichever comes first")
        }
        (Some(count), None) => format!("stopping after {count} messages"),
        (None, Some(secs)) => format!("stopping after {secs} s"),
        (None, None) => "stop with Ctrl-C".to_string(),
    }
}

/// Prints the messages of one conversation after the given seq, page by page.
fn sync_conversation(session: &mut Session, point: &SyncPoint) -> Result<()> {
    let conversation_id = point.conversation_id;
    let mut after_seq = point.after_seq;
    for _ in 0..MAX_SYNC_PAGES {
        let reply = session.request(Kind::Sync(SyncRequest {
            conversation_id,
            after_seq,
            limit: 0,
        }))?;
        let action = format!("syncing conversation {conversation_id} after seq {after_seq}");
        let result = match reply.kind {
            Some(Kind::SyncResult(result)) => result,
            Some(Kind::Error(error)) => return Err(ws::reply_error(&action, &error)),
            _ => return Err(unexpected_reply(&action, &reply)),
        };

        for message in &result.messages {
            println!("{}", output::message_line(&MessageFields::from(message)));
            after_seq = message.seq;
        }
        if !result.has_more || result.messages.is_empty() {
            return Ok(());
        }
    }
    eprintln!(
        "stopped syncing conversation {conversation_id} after {MAX_SYNC_PAGES} pages; \
         continue with --after {conversation_id}:{after_seq}"
    );
    Ok(())
}

/// Prints server events until `count` messages arrived or `deadline` passed, pinging the
/// server while the session is quiet.
fn print_events(
    session: &mut Session,
    count: Option<u64>,
    deadline: Option<Instant>,
) -> Result<()> {
    let mut messages = 0;
    let mut next_ping = Instant::now() + KEEPALIVE_INTERVAL;
    while count.is_none_or(|count| messages < count) {
        let wake_at = deadline.map_or(next_ping, |deadline| deadline.min(next_ping));
        match session.next_frame(Some(wake_at))? {
            Some(frame) => {
                if print_frame(&frame) {
                    messages += 1;
                }
            }
            None if deadline.is_some_and(|deadline| Instant::now() >= deadline) => break,
            None => {
                let ping = Ping {
                    client_time_ms: unix_now_ms() as i64,
                };
                session.send_request(Kind::Ping(ping))?;
                next_ping = Instant::now() + KEEPALIVE_INTERVAL;
            }
        }
    }
    Ok(())
}

/// Prints an event on stdout or an error reply on stderr, and ignores pongs. Returns whether
/// the frame was a message.
fn print_frame(frame: &Envelope) -> bool {
    let Some(kind) = &frame.kind else {
        return false;
    };
    if let Kind::Error(error) = kind {
        // Only keepalive pings are in flight here; an error without a request id concerns
        // the whole session.
        let action = if frame.request_id == 0 {
            "session"
        } else {
            "keepalive ping"
        };
        eprintln!("{}", ws::reply_error(action, error));
        return false;
    }
    if frame.request_id != 0 {
        return false;
    }
    match output::event_line(kind) {
        Some(line) => {
            println!("{line}");
            matches!(kind, Kind::Message(_))
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_point_parses() {
        let point: SyncPoint = "3:17".parse().expect("valid");

        assert_eq!(
            point,
            SyncPoint {
                conversation_id: 3,
                after_seq: 17
            }
        );
    }

    #[test]
    fn sync_point_rejects_bad_input() {
        for text in ["3", "3:", ":4", "a:1", "3:-1", "3:4:5"] {
            let error = text.parse::<SyncPoint>().expect_err(text);
            assert!(error.contains("CONV:SEQ"), "{text}: {error}");
        }
    }
}
