//! Command-line client for trying a running server from a terminal: account and
//! conversation commands over the REST API, and sending, receiving and read markers over a
//! WebSocket session. Results go to stdout in a form scripts can capture, and notes go to
//! stderr.

mod address;
mod listen;
mod output;
mod rest;
mod ws;

use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, Context, Result};
use clap::{Args, Subcommand};
use switchboard_protocol::pb::{envelope::Kind, Envelope, MarkRead, MessageType, SendMessage};

pub use listen::ListenArgs;
use output::MessageFields;
use rest::RestClient;
use ws::Session;

/// Server addresses and credentials of the client subcommands. `serve` ignores them.
#[derive(Debug, Args)]
#[command(next_help_heading = "Client options (all commands but serve)")]
pub struct ClientOptions {
    /// Base URL of the REST API: http://HOST:PORT, or HOST:PORT, which implies http://.
    #[arg(
        long = "rest",
        value_name = "URL",
        env = "SWITCHBOARD_REST_URL",
        default_value = "http://127.0.0.1:8081",
        value_parser = address::parse_rest_url,
        global = true
    )]
    pub rest_url: String,
    /// URL of the WebSocket endpoint: ws://HOST:PORT/PATH, or HOST:PORT, which implies ws://
    /// and the path /ws.
    #[arg(
        long = "ws",
        value_name = "URL",
        env = "SWITCHBOARD_WS_URL",
        default_value = "ws://127.0.0.1:8080/ws",
        value_parser = address::parse_ws_url,
        global = true
    )]
    pub ws_url: String,
    /// Access token printed by `switchboard login`; every client command but register and
    /// login needs one.
    #[arg(
        long,
        value_name = "TOKEN",
        env = "SWITCHBOARD_TOKEN",
        hide_env_values = true,
        global = true
    )]
    pub token: Option<String>,
}

/// Client subcommands. Passwords given as arguments are visible in the process list and the
/// shell history, so use them only with test accounts.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Create a user and print its user id.
    Register {
        /// 3 to 32 characters from A-Z, a-z, 0-9, '_', '.' and '-'.
        username: String,
        /// 8 to 1024 characters.
        password: String,
    },
    /// Log in and print the access token alone on stdout.
    ///
    /// `export SWITCHBOARD_TOKEN=$(switchboard login NAME PASSWORD)` stores it for the other
    /// commands; the user id and the expiry go to stderr.
    Login { username: String, password: String },
    /// Create a direct conversation with another user and print its conversation id.
    CreateDm {
        /// User id of the other member.
        user_id: u64,
    },
    /// Create a group conversation and print its conversation id.
    CreateGroup {
        /// Title of the group; it must contain more than whitespace.
        #[arg(value_parser = parse_group_title)]
        title: String,
        /// User ids of the other members; the caller joins too.
        #[arg(required = true)]
        user_ids: Vec<u64>,
    },
    /// Print the caller's conversations, most recent activity first.
    Inbox,
    /// Send a text message over WebSocket and print its seq.
    Send { conversation_id: u64, text: String },
    /// Print messages, read markers, typing notices and server notices as they arrive.
    Listen(ListenArgs),
    /// Print one page of a conversation's messages over REST, oldest first.
    History {
        conversation_id: u64,
        /// Print only messages with a seq above this one.
        #[arg(long, value_name = "SEQ", default_value_t = 0)]
        after: u64,
        /// Maximum number of messages, 1 to 200 [default: 50, chosen by the server].
        #[arg(long, value_name = "N")]
        limit: Option<u32>,
    },
    /// Mark a conversation read up to a seq over WebSocket and print the unread count.
    Read { conversation_id: u64, seq: u64 },
}

/// Runs one client subcommand against the server named by `options`.
pub fn run(command: ClientCommand, options: &ClientOptions) -> Result<()> {
    match command {
        ClientCommand::Register { username, password } => register(options, &username, &password),
        ClientCommand::Login { username, password } => login(options, &username, &password),
        ClientCommand::CreateDm { user_id } => create_conversation(options, "dm", &[user_id], None),
        ClientCommand::CreateGroup { title, user_ids } => {
            create_conversation(options, "group", &user_ids, Some(&title))
        }
        ClientCommand::Inbox => inbox(options),
        ClientCommand::Send {
            conversation_id,
            text,
        } => send(options, conversation_id, &text),
        ClientCommand::Listen(args) => listen::run(options, &args),
        ClientCommand::History {
            conversation_id,
            after,
            limit,
        } => history(options, conversation_id, after, limit),
        ClientCommand::Read {
            conversation_id,
            seq,
        } => mark_read(options, conversation_id, seq),
    }
}

fn register(options: &ClientOptions, username: &str, password: &str) -> Result<()> {
    let user = RestClient::new(&options.rest_url)?.register(username, password)?;
    println!("{}", user.user_id);
    Ok(())
}

fn login(options: &ClientOptions, username: &str, password: &str) -> Result<()> {
    let login = RestClient::new(&options.rest_url)?.login(username, password)?;
    println!("{}", login.token);
    let minutes_left = login.expires_at_ms.saturating_sub(unix_now_ms()) / 60_000;
    eprintln!(
        "logged in as {username} (user {}); the token expires in {minutes_left} minutes",
        login.user_id
    );
    Ok(())
}

fn create_conversation(
    options: &ClientOptions,
    kind: &str,
    members: &[u64],
    title: Option<&str>,
) -> Result<()> {
    let token = require_token(options)?;
    let conversation =
        RestClient::new(&options.rest_url)?.create_conversation(token, kind, members, title)?;
    println!("{}", conversation.conversation_id);
    Ok(())
}

fn inbox(options: &ClientOptions) -> Result<()> {
    let token = require_token(options)?;
    let entries = RestClient::new(&options.rest_url)?.inbox(token)?;
    if entries.is_empty() {
        eprintln!("no conversations yet; create one with `switchboard create-dm USER_ID`");
        return Ok(());
    }
    print!("{}", output::inbox_table(&entries));
    Ok(())
}

fn history(
    options: &ClientOptions,
    conversation_id: u64,
    after: u64,
    limit: Option<u32>,
) -> Result<()> {
    let token = require_token(options)?;
    let page = RestClient::new(&options.rest_url)?.history(token, conversation_id, after, limit)?;
    if page.messages.is_empty() {
        eprintln!("no messages after seq {after} in conversation {conversation_id}");
    }
    for message in &page.messages {
        println!("{}", output::message_line(&MessageFields::from(message)));
    }
    if let Some(next) = page.next_cursor {
        eprintln!("more messages follow; run again with --after {next}");
    }
    Ok(())
}

fn send(options: &ClientOptions, conversation_id: u64, text: &str) -> Result<()> {
    let mut session = connect(options)?;
    // A fresh idempotency key per command, so two sends of the same text are two messages.
    let client_message_id = format!("{:032x}", rand::random::<u128>());
    let reply = session.request(Kind::SendMessage(SendMessage {
        conversation_id,
        client_message_id,
        content: text.to_string(),
        r#type: MessageType::Text as i32,
    }))?;
    session.close();

    let action = format!("sending to conversation {conversation_id}");
    match reply.kind {
        Some(Kind::SendAck(ack)) => {
            println!("sent seq={}", ack.seq);
            Ok(())
        }
        Some(Kind::Error(error)) => Err(ws::reply_error(&action, &error)),
        _ => Err(unexpected_reply(&action, &reply)),
    }
}

fn mark_read(options: &ClientOptions, conversation_id: u64, seq: u64) -> Result<()> {
    let mut session = connect(options)?;
    let reply = session.request(Kind::MarkRead(MarkRead {
        conversation_id,
        seq,
    }))?;
    session.close();

    let action = format!("marking conversation {conversation_id} read up to seq {seq}");
    match reply.kind {
        Some(Kind::MarkReadAck(ack)) => {
            println!("read seq={} unread={}", ack.last_read_seq, ack.unread);
            Ok(())
        }
        Some(Kind::Error(error)) => Err(ws::reply_error(&action, &error)),
        _ => Err(unexpected_reply(&action, &reply)),
    }
}

/// Opens an authenticated WebSocket session with the configured token.
fn connect(options: &ClientOptions) -> Result<Session> {
    let token = require_token(options)?;
    Session::connect(&options.ws_url, token)
}

fn require_token(options: &ClientOptions) -> Result<&str> {
    options
        .token
        .as_deref()
        .filter(|token| !token.is_empty())
        .context(
            "missing access token; run `export SWITCHBOARD_TOKEN=$(switchboard login USERNAME \
             PASSWORD)` or pass --token",
        )
}

/// Rejects an empty or blank group title, which the inbox would show as an untitled group.
fn parse_group_title(title: &str) -> Result<String, String> {
    if title.trim().is_empty() {
        return Err("the group title is empty; pass a title such as \"Project chat\"".to_string());
    }
    Ok(title.to_string())
}

fn unexpected_reply(action: &str, reply: &Envelope) -> anyhow::Error {
    anyhow!("{action} got an unexpected reply from the server: {reply:?}")
}

fn unix_now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// The client part of the `switchboard` command line.
    #[derive(Debug, Parser)]
    struct ClientCli {
        #[command(flatten)]
        options: ClientOptions,
        #[command(subcommand)]
        command: ClientCommand,
    }

    fn parse(args: &[&str]) -> Result<ClientCli, clap::Error> {
        ClientCli::try_parse_from(["switchboard"].iter().chain(args))
    }

    #[test]
    fn addresses_without_scheme_normalized() {
        let cli = parse(&[
            "--rest",
            "127.0.0.1:18081",
            "--ws",
            "127.0.0.1:18080",
            "inbox",
        ])
        .expect("valid addresses");

        assert_eq!(cli.options.rest_url, "http://127.0.0.1:18081");
        assert_eq!(cli.options.ws_url, "ws://127.0.0.1:18080/ws");
    }

    #[test]
    fn default_addresses_parse() {
        let cli = parse(&["inbox"]).expect("defaults");

        assert_eq!(cli.options.rest_url, "http://127.0.0.1:8081");
        assert_eq!(cli.options.ws_url, "ws://127.0.0.1:8080/ws");
    }

    #[test]
    fn https_rest_rejected() {
        let error = parse(&["--rest", "https://127.0.0.1:8081", "inbox"]).unwrap_err();
        let message = error.to_string();

        assert!(message.contains("https://127.0.0.1:8081"), "{message}");
        assert!(message.contains("no TLS"), "{message}");
    }

    #[test]
    fn empty_group_title_rejected() {
        for title in ["", "   "] {
            let error = parse(&["create-group", title, "2"]).unwrap_err();
            let message = error.to_string();

            assert!(message.contains("group title is empty"), "{message}");
        }
        let cli = parse(&["create-group", "team", "2"]).expect("valid title");
        assert!(
            matches!(cli.command, ClientCommand::CreateGroup { ref title, .. } if title == "team")
        );
    }

    #[test]
    fn listen_count_zero_rejected() {
        let error = parse(&["listen", "--count", "0"]).unwrap_err();
        let message = error.to_string();

        assert!(message.contains("at least 1"), "{message}");
        assert!(parse(&["listen", "--count", "x"]).is_err());
        assert!(parse(&["listen", "--count", "1"]).is_ok());
    }
}
