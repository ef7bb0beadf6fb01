//! The gateway against a real browser: headless Chromium opens a WebSocket with the token in
//! a `bearer.` subprotocol, reads `AuthOk` and gets a `Pong` for a `Ping`. The page reports
//! what it saw as the path of one HTTP request to a listener of the test.
//!
//! Needs `chromium` on PATH (Debian's package); `.ci/run` installs it. Without it the test
//! prints that it was skipped.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::TestServer;

const PAGE: &str = include_str!("browser/handshake.html");

/// Time the page has to connect, authenticate and report.
const REPORT_TIMEOUT: Duration = Duration::from_secs(60);

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .output()
            .map(|output| output.status.success())
            .unwrap_or(false)
    })
}

/// Accepts one request on `listener` and returns its decoded path.
fn receive_report(listener: &TcpListener) -> Option<String> {
    listener.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + REPORT_TIMEOUT;
    while Instant::now() < deadline {
        match listener.accept() {
            Ok((mut stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                let mut line = String::new();
                BufReader::new(&stream).read_line(&mut line).ok()?;
                let _ = stream.write_all(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
                let path = line.split_whitespace().nth(1)?;
                return Some(percent_decode(path.trim_start_matches('/')));
            }
            Err(error) if error.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(error) => panic!("report listener failed: {error}"),
        }
    }
    None
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' && index + 2 < bytes.len() {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).unwrap();
            decoded.push(u8::from_str_radix(hex, 16).unwrap());
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

#[test]
fn browser_handshake_and_ping() {
    let Some(browser) = chromium() else {
        eprintln!("browser_handshake_and_ping skipped: chromium is not installed");
        return;
    };
    let server = TestServer::start();
    let (_, token) = server.user("browser");
    let reports = TcpListener::bind("127.0.0.1:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    let html = PAGE
        .replace(
            "REPORT_PORT",
            &reports.local_addr().unwrap().port().to_string(),
        )
        .replace("PORT", &server.ws_addr.port().to_string())
        .replace("TOKEN", &token);
    std::fs::write(&page, html).unwrap();

    let mut chromium = Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromium");
    let report = receive_report(&reports);
    let _ = chromium.kill();
    let _ = chromium.wait();

    let report = report.expect("the page reported within 60 s");
    assert!(
        report.contains("open protocol=switchboard.v1"),
        "the server must select switchboard.v1, never the token: {report}"
    );
    assert!(
        report.contains("first frame AuthOk"),
        "AuthOk must come first: {report}"
    );
    assert!(
        report.contains("reply Pong for request 7"),
        "a Ping must get its Pong: {report}"
    );
}
