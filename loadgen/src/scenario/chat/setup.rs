//! Setup of the chat scenario over the REST API: registers users, gets their tokens
//! (minted locally when the secret is known, else by login) and creates the conversations,
//! with a bounded number of requests in flight.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use reqwest::blocking::Client;
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

use super::plan::PlannedConversation;
use crate::machine::unix_now_secs;
use crate::token::TokenMinter;

/// Time one REST request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// A registered user with a token.
#[derive(Debug, Clone)]
pub struct SetupUser {
    pub user_id: u64,
    pub username: String,
    pub token: String,
}

/// A created conversation.
#[derive(Debug, Clone)]
pub struct SetupConversation {
    pub conversation_id: u64,
    /// Member user ids, in the planned order.
    pub members: Vec<u64>,
}

#[derive(Deserialize)]
struct Registered {
    user_id: u64,
}

#[derive(Deserialize)]
struct LoggedIn {
    token: String,
}

#[derive(Deserialize)]
struct Created {
    conversation_id: u64,
}

/// REST client of the setup.
pub struct Rest {
    base_url: String,
    http: Client,
}

impl Rest {
    /// Creates a client for the REST server at `addr`.
    ///
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(addr: SocketAddr) -> Result<Self> {
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the HTTP client failed")?;
        Ok(Self {
            base_url: format!("http://{addr}"),
            http,
        })
    }

    fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        token: Option<&str>,
        body: serde_json::Value,
        action: &str,
    ) -> Result<T> {
        let mut request = self
            .http
            .post(format!("{}{path}", self.base_url))
            .json(&body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request
            .send()
            .with_context(|| format!("{action}: POST {}{path} failed", self.base_url))?;
        let status = response.status();
        let text = response.text().unwrap_or_default();
        if !status.is_success() {
            bail!("{action}: POST {path} returned HTTP {status}: {text}");
        }
        serde_json::from_str(&text)
            .with_context(|| format!("{action}: unexpected response body {text:?}"))
    }
}

/// Registers `count` users named `<prefix>u<index>` and returns them with tokens, in index
/// order. Tokens are minted with `minter` when given, else fetched by login.
///
/// # Errors
/// The first failed registration or login, naming the user.
pub fn register_users(
    rest: &Rest,
    count: usize,
    prefix: &str,
    minter: Option<&TokenMinter>,
    concurrency: usize,
) -> Result<Vec<SetupUser>> {
    let password = format!("{prefix}-password");
    run_concurrently(count, concurrency, "registered users", |index| {
        let username = format!("{prefix}u{index}");
        let credentials = json!({"username": username, "password": password});
        let action = format!("registering user {username}");
        let registered: Registered =
            rest.post("/v1/register", None, credentials.clone(), &action)?;
        let token = match minter {
            Some(minter) => minter.mint(registered.user_id, &username, unix_now_secs())?,
            None => {
                let action = format!("logging in as {username}");
                let login: LoggedIn = rest.post("/v1/login", None, credentials, &action)?;
                login.token
            }
        };
        Ok(SetupUser {
            user_id: registered.user_id,
            username,
            token,
        })
    })
}

/// Creates the planned conversations, each by its first member, and returns them in plan
/// order.
///
/// # Errors
/// The first failed creation, naming the conversation index and members.
pub fn create_conversations(
    rest: &Rest,
    users: &[SetupUser],
    planned: &[PlannedConversation],
    concurrency: usize,
) -> Result<Vec<SetupConversation>> {
    run_concurrently(
        planned.len(),
        concurrency,
        "created conversations",
        |index| {
            let conversation = &planned[index];
            let members: Vec<u64> = conversation
                .members
                .iter()
                .map(|&member| users[member].user_id)
                .collect();
            let creator = &users[conversation.members[0]];
            let body = json!({
                "kind": conversation.kind.as_str(),
                "members": members,
                "title": format!("loadgen {index}"),
            });
            let action = format!("creating conversation {index} with members {members:?}");
            let created: Created =
                rest.post("/v1/conversations", Some(&creator.token), body, &action)?;
            Ok(SetupConversation {
                conversation_id: created.conversation_id,
                members,
            })
        },
    )
}

/// Runs `task(index)` for every index in `0..count` on `concurrency` threads and returns
/// the results in index order. Stops handing out work after the first error.
fn run_concurrently<T: Send>(
    count: usize,
    concurrency: usize,
    label: &str,
    task: impl Fn(usize) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let next = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<T>>> = Mutex::new((0..count).map(|_| None).collect());
    let first_error: Mutex<Option<anyhow::Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..concurrency.clamp(1, count.max(1)) {
            scope.spawn(|| loop {
                if first_error.lock().expect("error lock").is_some() {
                    return;
                }
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    return;
                }
                match task(index) {
                    Ok(result) => {
                        results.lock().expect("results lock")[index] = Some(result);
                        log_progress(done.fetch_add(1, Ordering::Relaxed) + 1, count, label);
                    }
                    Err(error) => {
                        first_error.lock().expect("error lock").get_or_insert(error);
                        return;
                    }
                }
            });
        }
    });
    if let Some(error) = first_error.into_inner().expect("error lock") {
        return Err(error);
    }
    results
        .into_inner()
        .expect("results lock")
        .into_iter()
        .enumerate()
        .map(|(index, result)| {
            result.ok_or_else(|| anyhow!("setup task {index} produced no result"))
        })
        .collect()
}

fn log_progress(done: usize, count: usize, label: &str) {
    let step = (count / 10).max(1);
    if done.is_multiple_of(step) || done == count {
        tracing::info!("{label}: {done}/{count}");
    }
}
