//! Baseline for benchmarks: the smallest idiomatic WebSocket echo and broadcast server on a
//! multi-threaded tokio runtime with tokio-tungstenite, with default settings throughout.
//!
//! - `--mode echo` sends every text or binary message back to its sender.
//! - `--mode broadcast` sends every text or binary message to every connection, the sender
//!   included, through one `tokio::sync::broadcast` channel of [`BROADCAST_CAPACITY`]
//!   messages. Each connection's task encodes and writes its own copy of the frame.
//!
//! Lag policy: a connection that falls more than [`BROADCAST_CAPACITY`] messages behind
//! the channel is closed with code 4001, the code that switchboard's gateway uses for a
//! slow consumer. tokio's broadcast channel would otherwise skip the missed messages.

use std::net::SocketAddr;

use anyhow::Context as _;
use clap::{Parser, ValueEnum};
use futures::{future, SinkExt as _, StreamExt as _, TryStreamExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Messages the broadcast channel keeps for its slowest receiver; the same bound as the
/// gateway's default per-session send queue.
const BROADCAST_CAPACITY: usize = 1024;

/// Close code sent to a connection that lags behind the broadcast channel.
const SLOW_CONSUMER_CODE: u16 = 4001;

/// Plain WebSocket echo and broadcast server on tokio-tungstenite, for comparison with
/// switchboard's gateway.
#[derive(Parser)]
struct Args {
    /// Action on each message: send it back (echo) or to every connection (broadcast).
    #[arg(long, value_enum)]
    mode: Mode,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9002")]
    addr: SocketAddr,
}

/// Action the server takes on each message.
#[derive(Clone, Copy, ValueEnum)]
enum Mode {
    Echo,
    Broadcast,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let listener = TcpListener::bind(args.addr)
        .await
        .with_context(|| format!("failed to bind {}", args.addr))?;
    println!(
        "baseline-tokio-ws listening ws://{}/",
        listener.local_addr()?
    );

    let (broadcast_tx, _) = broadcast::channel(BROADCAST_CAPACITY);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => accepted.context("failed to accept a connection")?,
            _ = tokio::signal::ctrl_c() => return Ok(()),
        };
        let broadcast_tx = broadcast_tx.clone();
        tokio::spawn(async move {
            if let Err(error) = serve(stream, args.mode, broadcast_tx).await {
                eprintln!("connection from {peer} failed: {error}");
            }
        });
    }
}

/// Runs the handshake, then one connection in the selected mode.
async fn serve(
    stream: TcpStream,
    mode: Mode,
    broadcast_tx: broadcast::Sender<Message>,
) -> anyhow::Result<()> {
    let socket = tokio_tungstenite::accept_async(stream).await?;
    match mode {
        Mode::Echo => echo(socket).await,
        Mode::Broadcast => relay(socket, broadcast_tx).await,
    }
}

/// Sends every data message back, as tokio-tungstenite's echo-server example does.
async fn echo(socket: WebSocketStream<TcpStream>) -> anyhow::Result<()> {
    let (write, read) = socket.split();
    read.try_filter(|message| future::ready(message.is_text() || message.is_binary()))
        .forward(write)
        .await?;
    Ok(())
}

/// Publishes every data message to the broadcast channel and writes every message of the
/// channel to the socket, until either side ends.
async fn relay(
    socket: WebSocketStream<TcpStream>,
    broadcast_tx: broadcast::Sender<Message>,
) -> anyhow::Result<()> {
    let (mut write, mut read) = socket.split();
    let mut broadcast_rx = broadcast_tx.subscribe();

    let publish = async {
        while let Some(message) = read.try_next().await? {
            if message.is_text() || message.is_binary() {
                // Fails only when no receiver exists, which cannot happen while this
                // connection is subscribed.
                let _ = broadcast_tx.send(message);
            } else if message.is_close() {
                break;
            }
        }
        anyhow::Ok(())
    };
    let deliver = async {
        loop {
            match broadcast_rx.recv().await {
                Ok(message) => write.send(message).await?,
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    let reason = format!("lagged {missed} messages behind the broadcast");
                    let frame = CloseFrame {
                        code: CloseCode::from(SLOW_CONSUMER_CODE),
                        reason: reason.into(),
                    };
                    write.send(Message::Close(Some(frame))).await?;
                    return anyhow::Ok(());
                }
                Err(broadcast::error::RecvError::Closed) => return anyhow::Ok(()),
            }
        }
    };

    tokio::select! {
        published = publish => published,
        delivered = deliver => delivered,
    }
}
