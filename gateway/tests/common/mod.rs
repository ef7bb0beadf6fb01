//! Test harness: runs the `switchboard` binary on loopback ports in a temporary data folder,
//! and speaks to it with independent clients (reqwest for REST, tungstenite for WebSocket).
#![allow(dead_code)]

pub mod client;
pub mod raw;

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tempfile::TempDir;

pub use client::WsClient;

/// Secret the test servers sign tokens with, so tests can mint their own.
pub const TEST_SECRET: &str = "test-secret-of-at-least-thirty-two-bytes!";

/// Limits small enough for tests to reach quickly.
const TEST_CONFIG: &str = r#"
[gateway]
handshake_timeout_ms = 500
auth_timeout_ms = 1000
idle_timeout_ms = 30000
send_queue_messages = 64
send_queue_bytes = 65536
max_message_bytes = 131072
max_frame_bytes = 65536
max_frames_per_message = 32
rate_limit_per_second = 10000
rate_limit_burst = 10000
drain_timeout_ms = 1000
"#;

/// Two users and the DM between them.
pub struct DmPair {
    pub alice: u64,
    pub alice_token: String,
    pub bob: u64,
    pub bob_token: String,
    pub dm: u64,
}

/// A running server process and its data folder.
pub struct TestServer {
    data: TempDir,
    child: Option<Child>,
    pub ws_addr: SocketAddr,
    pub rest_addr: SocketAddr,
    http: reqwest::blocking::Client,
}

impl TestServer {
    /// Starts a server on fresh ports with a fresh data folder.
    pub fn start() -> TestServer {
        let data = tempfile::tempdir().expect("create a data folder");
        std::fs::write(data.path().join("config.toml"), TEST_CONFIG).expect("write the config");
        let (child, ws_addr, rest_addr) = spawn(data.path());
        TestServer {
            data,
            child: Some(child),
            ws_addr,
            rest_addr,
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .expect("build the HTTP client"),
        }
    }

    /// Kills the process with SIGKILL and starts it again on the same data folder.
    pub fn kill_and_restart(&mut self) {
        self.kill();
        let (child, ws_addr, rest_addr) = spawn(self.data.path());
        self.child = Some(child);
        self.ws_addr = ws_addr;
        self.rest_addr = rest_addr;
    }

    /// Kills the process with SIGKILL.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the process with SIGTERM and waits for it to exit. Returns whether it exited
    /// successfully within `timeout`.
    pub fn terminate(&mut self, timeout: Duration) -> bool {
        let Some(mut child) = self.child.take() else {
            return false;
        };
        let pid = child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// Returns the URL of a REST path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.rest_addr, path)
    }

    /// Sends a REST request and returns the status and the JSON body (`Null` when empty).
    pub fn rest(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("valid method");
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().expect("REST request");
        let status = response.status().as_u16();
        let text = response.text().expect("REST body");
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        (status, value)
    }

    /// Registers and logs a user in; returns its id and token.
    pub fn user(&self, username: &str) -> (u64, String) {
        let credentials = json!({"username": username, "password": "correct-horse"});
        let (status, body) = self.rest("POST", "/v1/register", None, Some(credentials.clone()));
        assert_eq!(status, 201, "register {username}: {body}");
        let (status, body) = self.rest("POST", "/v1/login", None, Some(credentials));
        assert_eq!(status, 200, "login {username}: {body}");
        let user_id = body["user_id"].as_u64().expect("user_id");
        let token = body["token"].as_str().expect("token").to_string();
        (user_id, token)
    }

    /// Creates a conversation as `token`'s user and returns its id.
    pub fn conversation(&self, token: &str, kind: &str, members: &[u64]) -> u64 {
        let body = json!({"kind": kind, "members": members, "title": "test"});
        let (status, body) = self.rest("POST", "/v1/conversations", Some(token), Some(body));
        assert_eq!(status, 201, "create conversation: {body}");
        body["conversation_id"].as_u64().expect("conversation_id")
    }

    /// Registers alice and bob and opens a DM between them, created by alice.
    pub fn dm_pair(&self) -> DmPair {
        let (alice, alice_token) = self.user("alice");
        let (bob, bob_token) = self.user("bob");
        let dm = self.conversation(&alice_token, "dm", &[bob]);
        DmPair {
            alice,
            alice_token,
            bob,
            bob_token,
            dm,
        }
    }

    /// Opens an authenticated WebSocket session.
    pub fn connect(&self, token: &str) -> WsClient {
        WsClient::connect(self.ws_addr, Some(token))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn spawn(data_dir: &Path) -> (Child, SocketAddr, SocketAddr) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args([
            "serve",
            "--ws-addr",
            "127.0.0.1:0",
            "--rest-addr",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data_dir)
        .arg("--config")
        .arg(data_dir.join("config.toml"))
        .env("SWITCHBOARD_JWT_SECRET", TEST_SECRET)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the switchboard binary");

    let stdout = child.stdout.take().expect("piped stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("read the listening line");
    let (ws_addr, rest_addr) = parse_listening(&line);
    (child, ws_addr, rest_addr)
}

/// Parses `switchboard listening websocket=ws://A/ws rest=http://B ...`.
fn parse_listening(line: &str) -> (SocketAddr, SocketAddr) {
    let field = |name: &str, scheme: &str| -> SocketAddr {
        let value = line
            .split_whitespace()
            .find_map(|part| part.strip_prefix(name))
            .unwrap_or_else(|| panic!("no {name} in listening line {line:?}"));
        let host = value.trim_start_matches(scheme).split('/').next().unwrap();
        host.parse().expect("socket address")
    };
    (field("websocket=", "ws://"), field("rest=", "http://"))
}

/// Mints a token signed with the test secret for `user_id`, expiring at `exp_unix_secs`.
pub fn mint_token(user_id: u64, exp_unix_secs: u64) -> String {
    let claims = json!({
        "sub": user_id.to_string(),
        "name": format!("user{user_id}"),
        "iat": exp_unix_secs.saturating_sub(3600),
        "exp": exp_unix_secs,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(TEST_SECRET.as_bytes()),
    )
    .expect("sign a test token")
}

/// Returns the current unix time in seconds.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
}
