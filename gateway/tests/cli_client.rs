//! The `switchboard` command-line client against a running server: account and conversation
//! commands, live delivery to `listen`, the inbox, history, read markers and rejected sends.

mod common;

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::TestServer;

/// Time one client command may take before the test kills it and fails.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);

/// Time a background `listen` gets to connect and print its ready line on stderr.
const READY_TIMEOUT: Duration = Duration::from_secs(15);

/// Builds a client command aimed at `server`, with `token` as `SWITCHBOARD_TOKEN`.
fn client(server: &TestServer, token: Option<&str>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    command
        .env(
            "SWITCHBOARD_REST_URL",
            format!("http://{}", server.rest_addr),
        )
        .env("SWITCHBOARD_WS_URL", format!("ws://{}/ws", server.ws_addr))
        .env("RUST_LOG", "warn")
        .env_remove("SWITCHBOARD_TOKEN");
    if let Some(token) = token {
        command.env("SWITCHBOARD_TOKEN", token);
    }
    command
}

/// Runs a command to completion, killing it after [`COMMAND_TIMEOUT`].
fn run(mut command: Command) -> Output {
    let child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the switchboard client");
    wait_bounded(child, COMMAND_TIMEOUT)
}

/// Waits for `child` to exit, killing it and failing the test after `timeout`.
fn wait_bounded(mut child: Child, timeout: Duration) -> Output {
    let deadline = Instant::now() + timeout;
    while child.try_wait().expect("poll the client").is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let output = child.wait_with_output().expect("collect the killed client");
            panic!(
                "client still running after {timeout:?}; stderr: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("collect the client output")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).trim().to_string()
}

/// Runs a client command that must succeed and returns its trimmed stdout.
fn run_ok(server: &TestServer, token: Option<&str>, args: &[&str]) -> String {
    let mut command = client(server, token);
    command.args(args);
    let output = run(command);
    assert!(
        output.status.success(),
        "switchboard {args:?} failed with {}: {}",
        output.status,
        stderr(&output)
    );
    stdout(&output)
}

/// Registers and logs in a user with the client; returns its id and token.
fn cli_user(server: &TestServer, username: &str) -> (u64, String) {
    let registered = run_ok(server, None, &["register", username, "correct-horse"]);
    let user_id = registered.parse().expect("register prints the user id");
    let token = run_ok(server, None, &["login", username, "correct-horse"]);
    (user_id, token)
}

/// Starts `listen` in the background and waits for its ready line on stderr.
fn start_listen(server: &TestServer, token: &str, args: &[&str]) -> Child {
    let mut command = client(server, Some(token));
    command
        .arg("listen")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().expect("start the listen client");

    let stderr = child.stderr.take().expect("piped stderr");
    let (lines_tx, lines_rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + READY_TIMEOUT;
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|line: &String| line.starts_with("listening as user"))
    {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines_rx.recv_timeout(left) {
            Ok(line) => seen.push(line),
            Err(_) => {
                let _ = child.kill();
                panic!("listen printed no ready line within {READY_TIMEOUT:?}; stderr: {seen:?}");
            }
        }
    }
    child
}

/// Returns the cells of the inbox row for `conversation_id`.
fn inbox_row(table: &str, conversation_id: u64) -> Vec<String> {
    let id = conversation_id.to_string();
    table
        .lines()
        .map(|line| {
            line.split_whitespace()
                .map(str::to_string)
                .collect::<Vec<_>>()
        })
        .find(|cells| cells.first() == Some(&id))
        .unwrap_or_else(|| panic!("no inbox row for conversation {id} in:\n{table}"))
}

#[test]
fn listen_prints_sent_message() {
    let server = TestServer::start();
    let (alice, alice_token) = cli_user(&server, "alice");
    let (bob, bob_token) = cli_user(&server, "bob");
    assert_ne!(alice, bob);
    assert!(
        !alice_token.contains(char::is_whitespace),
        "{alice_token:?}"
    );
    let dm: u64 = run_ok(
        &server,
        Some(&alice_token),
        &["create-dm", &bob.to_string()],
    )
    .parse()
    .expect("create-dm prints the conversation id");

    let listener = start_listen(
        &server,
        &bob_token,
        &["--count", "1", "--timeout-secs", "10"],
    );
    let sent = run_ok(
        &server,
        Some(&alice_token),
        &["send", &dm.to_string(), "hello from the terminal"],
    );
    let listened = wait_bounded(listener, Duration::from_secs(20));

    assert_eq!(sent, "sent seq=1");
    assert!(
        listened.status.success(),
        "listen failed with {}: {}",
        listened.status,
        stderr(&listened)
    );
    assert_eq!(
        stdout(&listened),
        format!("[conv {dm} seq 1] user {alice}: hello from the terminal")
    );

    let inbox = run_ok(&server, Some(&bob_token), &["inbox"]);
    assert!(inbox.starts_with("ID"), "inbox has no header:\n{inbox}");
    let row = inbox_row(&inbox, dm);
    assert_eq!(row[1], "dm", "kind column of {row:?}");
    assert_eq!(row[3], "1", "last seq column of {row:?}");
    assert_eq!(row[4], "1", "unread column of {row:?}");
    assert!(
        inbox.contains(&format!("user {alice}: hello from the terminal")),
        "inbox has no preview:\n{inbox}"
    );
}

#[test]
fn send_outside_conversation_fails() {
    let server = TestServer::start();
    let (_alice, alice_token) = server.user("alice");
    let (bob, _bob_token) = server.user("bob");
    let (_carol, carol_token) = server.user("carol");
    let dm = server.conversation(&alice_token, "dm", &[bob]);

    let mut command = client(&server, Some(&carol_token));
    command.args(["send", &dm.to_string(), "let me in"]);
    let output = run(command);

    assert!(!output.status.success(), "send by a non-member succeeded");
    assert_eq!(stdout(&output), "", "nothing goes to stdout on failure");
    let message = stderr(&output);
    assert!(message.contains("NOT_MEMBER"), "{message}");
    assert!(message.contains(&format!("conversation {dm}")), "{message}");
}

#[test]
fn history_and_read_after_sends() {
    let server = TestServer::start();
    let (alice, alice_token) = server.user("alice");
    let (bob, bob_token) = server.user("bob");
    let title = "weekend plans";
    let group: u64 = run_ok(
        &server,
        Some(&alice_token),
        &["create-group", title, &bob.to_string()],
    )
    .parse()
    .expect("create-group prints the conversation id");
    let group_arg = group.to_string();
    for (seq, text) in ["first", "second\nline", "third"].iter().enumerate() {
        let sent = run_ok(&server, Some(&alice_token), &["send", &group_arg, text]);
        assert_eq!(sent, format!("sent seq={}", seq + 1));
    }

    let history = run_ok(
        &server,
        Some(&bob_token),
        &["history", &group_arg, "--after", "1", "--limit", "1"],
    );
    let read = run_ok(&server, Some(&bob_token), &["read", &group_arg, "2"]);
    let inbox = run_ok(&server, Some(&bob_token), &["inbox"]);

    assert_eq!(
        history,
        format!("[conv {group} seq 2] user {alice}: second\\nline")
    );
    assert_eq!(read, "read seq=2 unread=1");
    assert!(inbox.contains(title), "inbox has no title:\n{inbox}");
    let row = inbox_row(&inbox, group);
    assert_eq!(row[1], "group", "kind column of {row:?}");
}

#[test]
fn listen_syncs_then_times_out() {
    let server = TestServer::start();
    let (alice, alice_token) = server.user("alice");
    let (bob, bob_token) = server.user("bob");
    let dm = server.conversation(&alice_token, "dm", &[bob]);
    run_ok(
        &server,
        Some(&alice_token),
        &["send", &dm.to_string(), "earlier"],
    );

    let started = Instant::now();
    let synced = run_ok(
        &server,
        Some(&bob_token),
        &[
            "listen",
            "--after",
            &format!("{dm}:0"),
            "--timeout-secs",
            "1",
        ],
    );

    assert_eq!(synced, format!("[conv {dm} seq 1] user {alice}: earlier"));
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "listen ran {:?} with a 1 s limit",
        started.elapsed()
    );
}

#[test]
fn missing_token_explains_login() {
    let server = TestServer::start();

    let mut command = client(&server, None);
    command.arg("inbox");
    let output = run(command);

    assert!(!output.status.success(), "inbox without a token succeeded");
    assert!(
        stderr(&output).contains("switchboard login"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unreachable_server_named_in_error() {
    // A port that was just free on loopback, so the connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("reserve a loopback port")
        .port();
    let rest_url = format!("http://127.0.0.1:{port}");
    let ws_url = format!("ws://127.0.0.1:{port}/ws");

    let mut inbox = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    inbox.args(["--rest", &rest_url, "--token", "unused", "inbox"]);
    let inbox = run(inbox);
    let mut send = Command::new(env!("CARGO_BIN_EXE_switchboard"));
    send.args(["--ws", &ws_url, "--token", "unused", "send", "1", "x"]);
    let send = run(send);

    assert!(!inbox.status.success());
    assert!(
        stderr(&inbox).contains(&format!("cannot reach switchboard at {rest_url}")),
        "{}",
        stderr(&inbox)
    );
    assert!(!send.status.success());
    assert!(
        stderr(&send).contains(&format!("cannot reach switchboard at {ws_url}")),
        "{}",
        stderr(&send)
    );
}
