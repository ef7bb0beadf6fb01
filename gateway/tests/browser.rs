//! The gateway against a real browser: headless Chromium opens a WebSocket with the token in
//! a `bearer.` subprotocol, reads `AuthOk` and gets a `Pong` for a `Ping`.
//!
//! Needs `chromium` on PATH (Debian's package); `.ci/run` installs it. Without it the test
//! prints that it was skipped.

mod common;

use std::process::Command;
use std::time::Duration;

use common::TestServer;

const PAGE: &str = include_str!("browser/handshake.html");

fn chromium() -> Option<&'static str> {
    ["chromium", "chromium-browser"].into_iter().find(|name| {
        Command::new(name)
            .arg("--version")
            .output()
            .map(|output| output.status.success())
            .unwrap_or(false)
    })
}

#[test]
fn browser_handshake_and_ping() {
    let Some(browser) = chromium() else {
        eprintln!("browser_handshake_and_ping skipped: chromium is not installed");
        return;
    };
    let server = TestServer::start();
    let (_, token) = server.user("browser");
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("page.html");
    let html = PAGE
        .replace("PORT", &server.ws_addr.port().to_string())
        .replace("TOKEN", &token);
    std::fs::write(&page, html).unwrap();

    let output = Command::new("timeout")
        .arg(Duration::from_secs(60).as_secs().to_string())
        .arg(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!(
            "--user-data-dir={}",
            dir.path().join("profile").display()
        ))
        .arg(format!("file://{}", page.display()))
        .output()
        .expect("run chromium");
    let dom = String::from_utf8_lossy(&output.stdout);

    assert!(
        dom.contains("open protocol=switchboard.v1"),
        "the server must select switchboard.v1, never the token: {dom}"
    );
    assert!(
        dom.contains("first frame AuthOk"),
        "AuthOk must come first: {dom}"
    );
    assert!(
        dom.contains("reply Pong for request 7"),
        "a Ping must get its Pong: {dom}"
    );
}
