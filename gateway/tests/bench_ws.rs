//! The plain WebSocket benchmark server, run in-process on loopback and driven by tungstenite
//! clients: echo, broadcast across shards, text rejection and slow-consumer drops.

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use switchboard_gateway::bench_ws::{run_until, BenchMode, BenchWsOptions};
use switchboard_gateway::session::QueueLimits;
use tungstenite::protocol::CloseFrame;
use tungstenite::{Message, WebSocket};

/// Maximum time a client waits for one read or write before the test fails.
const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A server running on its own thread until [`Server::stop`].
struct Server {
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Server {
    fn start(options: BenchWsOptions) -> Server {
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let on_listening = move |addr| addr_tx.send(addr).expect("test waits for the address");
            run_until(options, on_listening, async {
                let _ = stop_rx.await;
            })
        });
        let addr = addr_rx
            .recv_timeout(IO_TIMEOUT)
            .expect("bench-ws server did not report its address in time");
        Server {
            addr,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// Stops the server and checks that it shut down cleanly.
    fn stop(mut self) {
        let _ = self.stop.take().expect("server is running").send(());
        let thread = self.thread.take().expect("server is running");
        let result = thread.join().expect("server thread panicked");
        assert!(result.is_ok(), "server failed: {result:?}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // Reached without `stop` only when a test panics; the thread is left to exit.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn options(mode: BenchMode, shards: usize) -> BenchWsOptions {
    let mut options = BenchWsOptions::new(mode, SocketAddr::from(([127, 0, 0, 1], 0)));
    options.shards = shards;
    options.drain_timeout = Duration::from_secs(1);
    options
}

fn connect(addr: SocketAddr) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("connect to bench-ws");
    handshake(addr, stream)
}

fn handshake(addr: SocketAddr, stream: TcpStream) -> WebSocket<TcpStream> {
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    let (socket, response) =
        tungstenite::client(format!("ws://{addr}/"), stream).expect("WebSocket handshake");
    assert_eq!(response.status(), 101);
    socket
}

/// Sends a ping and waits for its pong. A pong proves that the server's reader runs, so the
/// session is in the shard's table and receives broadcasts.
fn wait_ready(socket: &mut WebSocket<TcpStream>) {
    socket
        .send(Message::Ping(b"ready".to_vec().into()))
        .unwrap();
    for _ in 0..1000 {
        match socket.read().expect("read the pong") {
            Message::Pong(payload) => {
                assert_eq!(&payload[..], b"ready");
                return;
            }
            Message::Ping(_) => {}
            other => panic!("expected a pong, got {other:?}"),
        }
    }
    panic!("no pong among 1000 messages");
}

/// Reads the next binary message, skipping control messages.
fn read_binary(socket: &mut WebSocket<TcpStream>) -> Vec<u8> {
    for _ in 0..1000 {
        match socket.read().expect("read a binary message") {
            Message::Binary(payload) => return payload.to_vec(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a binary message, got {other:?}"),
        }
    }
    panic!("no binary message among 1000 control messages");
}

/// Reads until the server's close frame and returns it, skipping data messages.
fn read_close(socket: &mut WebSocket<TcpStream>, max_messages: usize) -> Option<CloseFrame> {
    for _ in 0..max_messages {
        if let Message::Close(frame) = socket.read().expect("read until the close frame") {
            return frame;
        }
    }
    panic!("no close frame among {max_messages} messages");
}

fn payload(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[test]
fn echo_returns_same_bytes() {
    let server = Server::start(options(BenchMode::Echo, 2));
    let mut socket = connect(server.addr);

    for (seed, len) in [0, 1, 125, 126, 65_535, 65_536, 200_000]
        .into_iter()
        .enumerate()
    {
        let sent = payload(len, seed as u8);
        socket.send(Message::Binary(sent.clone().into())).unwrap();
        let received = read_binary(&mut socket);
        assert_eq!(received.len(), len, "echo of a {len}-byte message");
        assert_eq!(received, sent, "echo of a {len}-byte message");
    }

    socket.close(None).unwrap();
    server.stop();
}

#[test]
fn broadcast_reaches_every_client() {
    // With 4 shards and 8 clients, SO_REUSEPORT puts all clients on one shard with
    // probability 4 / 4^8, so the messages almost always cross shards.
    const CLIENTS: usize = 8;
    let server = Server::start(options(BenchMode::Broadcast, 4));
    let mut sockets: Vec<_> = (0..CLIENTS).map(|_| connect(server.addr)).collect();
    for socket in &mut sockets {
        wait_ready(socket);
    }

    let sent: BTreeSet<Vec<u8>> = (0..CLIENTS)
        .map(|client| format!("message from client {client}").into_bytes())
        .collect();
    for (socket, message) in sockets.iter_mut().zip(&sent) {
        socket
            .send(Message::Binary(message.clone().into()))
            .unwrap();
    }

    for (client, socket) in sockets.iter_mut().enumerate() {
        let received: BTreeSet<Vec<u8>> = (0..CLIENTS).map(|_| read_binary(socket)).collect();
        assert_eq!(received, sent, "messages received by client {client}");
    }
    server.stop();
}

#[test]
fn text_message_closes_with_1003() {
    let server = Server::start(options(BenchMode::Echo, 1));
    let mut socket = connect(server.addr);

    socket.send(Message::text("hello")).unwrap();
    let frame = read_close(&mut socket, 10).expect("close frame with a code");
    assert_eq!(u16::from(frame.code), 1003);
    server.stop();
}

#[test]
fn slow_consumer_closes_with_4001() {
    const MESSAGE_BYTES: usize = 64 * 1024;
    const MESSAGES: usize = 160;
    let mut options = options(BenchMode::Broadcast, 1);
    options.queue = QueueLimits {
        max_messages: 16,
        max_bytes: 4 * MESSAGE_BYTES,
    };
    let server = Server::start(options);

    // A small receive buffer keeps the bytes that the kernel holds for the slow client far
    // below the MESSAGES * MESSAGE_BYTES that the fast client sends.
    let slow_stream = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
        .expect("create a socket");
    slow_stream.set_recv_buffer_size(16 * 1024).unwrap();
    slow_stream
        .connect_timeout(&server.addr.into(), IO_TIMEOUT)
        .expect("connect to bench-ws");
    let mut slow = handshake(server.addr, slow_stream.into());
    wait_ready(&mut slow);
    let mut fast = connect(server.addr);
    wait_ready(&mut fast);

    let started = Instant::now();
    let message = payload(MESSAGE_BYTES, 7);
    for _ in 0..MESSAGES {
        fast.send(Message::Binary(message.clone().into())).unwrap();
        assert_eq!(read_binary(&mut fast).len(), MESSAGE_BYTES);
    }
    // The server drops the slow client's queued messages and writes its close frame for at
    // most 2 s after the drop, so the fast client must be done well within that.
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "sending took {:?}",
        started.elapsed()
    );

    let frame = read_close(&mut slow, MESSAGES + 1).expect("close frame with a code");
    assert_eq!(u16::from(frame.code), 4001);
    server.stop();
}
