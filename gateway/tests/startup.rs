//! Start-up checks: a second server may not take over a port or a data folder in use.

mod common;

use std::process::Command;

use common::TestServer;

/// Runs `switchboard serve` with `args` and returns whether it succeeded and its stderr. A
/// server that starts instead of failing is stopped after 20 s, so a regression fails the
/// test rather than hanging it.
fn serve(args: &[&str]) -> (bool, String) {
    let output = Command::new("timeout")
        .arg("20")
        .arg(env!("CARGO_BIN_EXE_switchboard"))
        .arg("serve")
        .args(args)
        .env("RUST_LOG", "error")
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("run the switchboard binary");
    let stderr = String::from_utf8_lossy(&output.stderr).to_string();
    (output.status.success(), stderr)
}

#[test]
fn websocket_port_in_use_rejected() {
    let server = TestServer::start();
    let data = tempfile::tempdir().unwrap();
    let ws_addr = server.ws_addr.to_string();
    let (succeeded, stderr) = serve(&[
        "--ws-addr",
        &ws_addr,
        "--rest-addr",
        "127.0.0.1:0",
        "--data-dir",
        data.path().to_str().unwrap(),
    ]);
    assert!(!succeeded, "a second server must not share {ws_addr}");
    assert!(
        stderr.contains("already in use"),
        "the error must say the address is in use: {stderr}"
    );

    let (_, token) = server.user("alice");
    let client = server.connect(&token);
    assert!(client.user_id > 0, "the first server must keep serving");
}

#[test]
fn data_dir_in_use_rejected() {
    let data = tempfile::tempdir().unwrap();
    let dir = data.path().to_str().unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "serve",
            "--ws-addr",
            "127.0.0.1:0",
            "--rest-addr",
            "127.0.0.1:0",
        ])
        .args(["--data-dir", dir])
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the first server");
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(first.stdout.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("listening"), "first server output: {line}");

    let (succeeded, stderr) = serve(&[
        "--ws-addr",
        "127.0.0.1:0",
        "--rest-addr",
        "127.0.0.1:0",
        "--data-dir",
        dir,
    ]);
    let _ = first.kill();
    let _ = first.wait();
    assert!(!succeeded, "a second server must not open {dir}");
    assert!(
        stderr.contains("another switchboard"),
        "the error must point at the other process: {stderr}"
    );
}
