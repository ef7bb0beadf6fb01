//! Blocking HTTP client for the `/v1` REST API. Every failed request becomes an error that
//! names the request and carries the server's `{"error": {"code", "message"}}` body.

use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use reqwest::blocking::{Client, RequestBuilder};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::json;

/// Time one REST request may take, connection included.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Characters of an unparsable error body kept in the error message.
const MAX_RAW_ERROR_CHARS: usize = 300;

/// Body of a successful registration.
#[derive(Debug, Deserialize)]
pub struct RegisteredUser {
    pub user_id: u64,
}

/// Body of a successful login.
#[derive(Debug, Deserialize)]
pub struct LoginResponse {
    pub token: String,
    pub user_id: u64,
    pub expires_at_ms: u64,
}

/// The fields of a created conversation that the client prints.
#[derive(Debug, Deserialize)]
pub struct CreatedConversation {
    pub conversation_id: u64,
}

/// One row of the inbox.
#[derive(Debug, Deserialize)]
pub struct InboxEntry {
    pub conversation_id: u64,
    /// `dm` or `group`.
    pub kind: String,
    pub title: Option<String>,
    pub last_seq: u64,
    pub unread: u64,
    pub last_message: Option<MessagePreview>,
}

/// The newest message of a conversation, as the inbox returns it.
#[derive(Debug, Deserialize)]
pub struct MessagePreview {
    pub sender_id: u64,
    pub content: String,
}

/// One message of a history page.
#[derive(Debug, Deserialize)]
pub struct HistoryMessage {
    pub conversation_id: u64,
    pub seq: u64,
    pub sender_id: u64,
    pub content: String,
    /// `MessageType` of the wire protocol, as its number.
    pub message_type: i32,
}

/// Body of a history response.
#[derive(Debug, Deserialize)]
pub struct HistoryPage {
    pub messages: Vec<HistoryMessage>,
    /// Seq to pass as `after` for the next page; null when this page reached the end.
    pub next_cursor: Option<u64>,
}

/// Error body of every failed REST request.
#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Deserialize)]
struct ErrorDetail {
    code: String,
    message: String,
}

/// REST API client bound to one server.
pub struct RestClient {
    base_url: String,
    http: Client,
}

impl RestClient {
    /// Creates a client for the server at `base_url`, such as `http://127.0.0.1:8081`.
    pub fn new(base_url: &str) -> Result<Self> {
        let http = Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .context("building the HTTP client failed")?;
        Ok(Self {
            base_url: base_url.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// Creates a user with `POST /v1/register`.
    pub fn register(&self, username: &str, password: &str) -> Result<RegisteredUser> {
        let body = json!({"username": username, "password": password});
        let request = self.http.post(self.url("/v1/register")).json(&body);
        self.execute(request, &format!("registering user {username:?}"))
    }

    /// Exchanges a username and password for a token with `POST /v1/login`.
    pub fn login(&self, username: &str, password: &str) -> Result<LoginResponse> {
        let body = json!({"username": username, "password": password});
        let request = self.http.post(self.url("/v1/login")).json(&body);
        self.execute(request, &format!("logging in as {username:?}"))
    }

    /// Creates a conversation of `kind` (`dm` or `group`) with `POST /v1/conversations`.
    pub fn create_conversation(
        &self,
        token: &str,
        kind: &str,
        members: &[u64],
        title: Option<&str>,
    ) -> Result<CreatedConversation> {
        let body = json!({"kind": kind, "members": members, "title": title});
        let request = self
            .http
            .post(self.url("/v1/conversations"))
            .bearer_auth(token)
            .json(&body);
        self.execute(
            request,
            &format!("creating a {kind} with users {members:?}"),
        )
    }

    /// Reads the caller's inbox with `GET /v1/conversations`, most recent activity first.
    pub fn inbox(&self, token: &str) -> Result<Vec<InboxEntry>> {
        let request = self
            .http
            .get(self.url("/v1/conversations"))
            .bearer_auth(token);
        self.execute(request, "reading the inbox")
    }

    /// Reads one page of messages with seq above `after`, oldest first, with
    /// `GET /v1/conversations/{id}/messages`. Without `limit` the server picks the page size.
    pub fn history(
        &self,
        token: &str,
        conversation_id: u64,
        after: u64,
        limit: Option<u32>,
    ) -> Result<HistoryPage> {
        let path = format!("/v1/conversations/{conversation_id}/messages");
        let mut request = self
            .http
            .get(self.url(&path))
            .bearer_auth(token)
            .query(&[("after", after)]);
        if let Some(limit) = limit {
            request = request.query(&[("limit", limit)]);
        }
        self.execute(
            request,
            &format!("reading the history of conversation {conversation_id}"),
        )
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// Sends `request` and decodes a successful JSON body. `action` describes the request in
    /// error messages.
    fn execute<T: DeserializeOwned>(&self, request: RequestBuilder, action: &str) -> Result<T> {
        let response = request
            .send()
            .map_err(|error| self.transport_error(error, action))?;
        let status = response.status();
        let text = response
            .text()
            .with_context(|| format!("{action} failed: reading the HTTP {status} body failed"))?;
        if !status.is_success() {
            return Err(anyhow!(
                "{action} failed with HTTP {}: {}",
                status.as_u16(),
                describe_error_body(&text)
            ));
        }
        serde_json::from_str(&text).with_context(|| {
            format!(
                "{action} returned an unexpected body; check that {} is a switchboard REST API: {}",
                self.base_url,
                truncate(&text)
            )
        })
    }

    /// Turns a failure to get any response into advice on what to check.
    fn transport_error(&self, error: reqwest::Error, action: &str) -> anyhow::Error {
        let base_url = &self.base_url;
        if error.is_connect() {
            anyhow!(error).context(format!(
                "cannot reach switchboard at {base_url}; start it with `switchboard serve` \
                 or pass the right address with --rest"
            ))
        } else if error.is_timeout() {
            anyhow!(error).context(format!(
                "{action} failed: no response from {base_url} within {} s; check that the \
                 server is healthy",
                REQUEST_TIMEOUT.as_secs()
            ))
        } else {
            anyhow!(error).context(format!(
                "{action} failed: HTTP request to {base_url} failed"
            ))
        }
    }
}

/// Formats an error body as `code: message`, or its raw text when it is not the API's shape.
fn describe_error_body(text: &str) -> String {
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => format!("{}: {}", body.error.code, body.error.message),
        Err(_) if text.is_empty() => "empty body".to_string(),
        Err(_) => truncate(text),
    }
}

fn truncate(text: &str) -> String {
    if text.chars().count() <= MAX_RAW_ERROR_CHARS {
        return text.to_string();
    }
    let kept: String = text.chars().take(MAX_RAW_ERROR_CHARS).collect();
    format!("{kept}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_body_shows_code_and_message() {
        let text =
            r#"{"error":{"code":"invalid_credentials","message":"username or password is wrong"}}"#;

        let described = describe_error_body(text);

        assert_eq!(
            described,
            "invalid_credentials: username or password is wrong"
        );
    }

    #[test]
    fn error_body_falls_back_to_raw_text() {
        assert_eq!(describe_error_body("bad gateway"), "bad gateway");
        assert_eq!(describe_error_body(""), "empty body");
    }

    #[test]
    fn long_error_body_truncated() {
        let text = "x".repeat(MAX_RAW_ERROR_CHARS + 10);

        let described = describe_error_body(&text);

        assert_eq!(described.len(), MAX_RAW_ERROR_CHARS + 3);
        assert!(described.ends_with("..."));
    }
}
