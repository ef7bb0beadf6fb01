//! End-to-end tests of the REST API: a real `FjallStore` in a temporary directory, the router
//! served by `axum::serve` on a loopback port, and reqwest as the client.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use switchboard_gateway::auth::Auth;
use switchboard_gateway::rest::{router, RestState};
use switchboard_router::store::fjall::FjallStore;
use switchboard_router::store::{Store, StoredMessage};
use tempfile::TempDir;

const SECRET: &[u8] = b"rest-api-test-secret-0123456789abcdef";
const PASSWORD: &str = "correct horse battery";
/// Upper bound on pages read by one paging loop, so a cursor bug fails instead of hanging.
const MAX_PAGES: usize = 100;

/// A REST server on a loopback port, with direct access to its store.
struct TestServer {
    base_url: String,
    client: reqwest::Client,
    store: Arc<FjallStore>,
    server: tokio::task::JoinHandle<()>,
    _dir: TempDir,
}

/// A registered and logged-in user.
struct TestUser {
    user_id: u64,
    token: String,
}

impl TestServer {
    async fn start() -> Self {
        let dir = TempDir::new().expect("create temp dir");
        let store = Arc::new(FjallStore::open(dir.path()).expect("open fjall store"));
        let auth = Auth::new(SECRET, Duration::from_secs(3600)).expect("valid auth config");
        let state = RestState {
            store: store.clone(),
            auth: Arc::new(auth),
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let address = listener.local_addr().expect("local address");
        let app = router(state);
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("serve REST API");
        });
        let client = reqwest::Client::builder()
            .no_proxy()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("build HTTP client");
        Self {
            base_url: format!("http://{address}"),
            client,
            store,
            server,
            _dir: dir,
        }
    }

    /// Sends a request and returns the status and the body parsed as JSON (Null when empty).
    async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("send request");
        read_json(response).await
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (StatusCode, Value) {
        self.send(Method::POST, path, token, Some(body)).await
    }

    async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(Method::GET, path, Some(token), None).await
    }

    async fn delete(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.send(Method::DELETE, path, Some(token), None).await
    }

    async fn register(&self, username: &str) -> u64 {
        let body = json!({"username": username, "password": PASSWORD});
        let (status, body) = self.post("/v1/register", None, body).await;
        assert_eq!(status, StatusCode::CREATED, "register {username}: {body}");
        body["user_id"].as_u64().expect("user_id")
    }

    async fn register_and_login(&self, username: &str) -> TestUser {
        let user_id = self.register(username).await;
        let body = json!({"username": username, "password": PASSWORD});
        let (status, body) = self.post("/v1/login", None, body).await;
        assert_eq!(status, StatusCode::OK, "login {username}: {body}");
        TestUser {
            user_id,
            token: body["token"].as_str().expect("token").to_owned(),
        }
    }

    async fn create_conversation(&self, owner: &TestUser, body: Value) -> Value {
        let (status, body) = self
            .post("/v1/conversations", Some(&owner.token), body)
            .await;
        assert_eq!(status, StatusCode::CREATED, "create conversation: {body}");
        body
    }

    /// Appends messages with seqs `first..=last` directly to the store.
    async fn append_messages(&self, conversation_id: u64, sender_id: u64, first: u64, last: u64) {
        let base_ms = now_ms();
        let batch: Vec<StoredMessage> = (first..=last)
            .map(|seq| StoredMessage {
                conversation_id,
                seq,
                message_id: format!("m-{conversation_id}-{seq}"),
                sender_id,
                content: format!("message {seq}"),
                message_type: 0,
                created_at_ms: base_ms + seq as i64,
            })
            .collect();
        self.store
            .append_messages(&batch)
            .await
            .expect("append messages");
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn read_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("read body");
    if text.is_empty() {
        return (status, Value::Null);
    }
    let body = serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("body {text:?} is not JSON: {err}"));
    (status, body)
}

fn now_ms() -> i64 {
    let elapsed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970");
    i64::try_from(elapsed.as_millis()).expect("time fits i64")
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error code>")
}

fn assert_error(status: StatusCode, body: &Value, expected_status: StatusCode, code: &str) {
    assert_eq!(status, expected_status, "body {body}");
    assert_eq!(error_code(body), code, "body {body}");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(!message.is_empty(), "error without message: {body}");
}

fn member_ids(conversation: &Value) -> BTreeSet<u64> {
    conversation["members"]
        .as_array()
        .expect("members array")
        .iter()
        .map(|member| member["user_id"].as_u64().expect("member user_id"))
        .collect()
}

fn message_seqs(page: &Value) -> Vec<u64> {
    page["messages"]
        .as_array()
        .expect("messages array")
        .iter()
        .map(|message| message["seq"].as_u64().expect("message seq"))
        .collect()
}

#[tokio::test]
async fn register_validates_and_rejects_duplicates() {
    let server = TestServer::start().await;

    let body = json!({"username": "alice", "password": PASSWORD});
    let (status, created) = server.post("/v1/register", None, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["username"], "alice");
    assert!(created["user_id"].as_u64().is_some(), "{created}");

    let (status, body) = server.post("/v1/register", None, body).await;
    assert_error(status, &body, StatusCode::CONFLICT, "username_taken");

    for username in ["al", "has space", "x".repeat(33).as_str(), "émile"] {
        let request = json!({"username": username, "password": PASSWORD});
        let (status, body) = server.post("/v1/register", None, request).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_username");
    }

    let request = json!({"username": "bob", "password": "short"});
    let (status, body) = server.post("/v1/register", None, request).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_password");
}

#[tokio::test]
async fn login_issues_verifiable_token() {
    let server = TestServer::start().await;
    let user_id = server.register("alice").await;

    let request = json!({"username": "alice", "password": PASSWORD});
    let (status, body) = server.post("/v1/login", None, request).await;

    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["user_id"].as_u64(), Some(user_id));
    let expires_at_ms = body["expires_at_ms"].as_i64().expect("expires_at_ms");
    assert!(expires_at_ms > now_ms() + 3_500_000, "{body}");
    let auth = Auth::new(SECRET, Duration::from_secs(3600)).expect("valid auth config");
    let claims = auth
        .verify(body["token"].as_str().expect("token"))
        .expect("token verifies");
    assert_eq!(claims.user_id, user_id);
    assert_eq!(claims.username, "alice");
}

#[tokio::test]
async fn login_rejects_bad_credentials_alike() {
    let server = TestServer::start().await;
    server.register("alice").await;

    let wrong_password = json!({"username": "alice", "password": "wrong password"});
    let (status, wrong) = server.post("/v1/login", None, wrong_password).await;
    assert_error(
        status,
        &wrong,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    let unknown_user = json!({"username": "nobody", "password": PASSWORD});
    let (status, unknown) = server.post("/v1/login", None, unknown_user).await;
    assert_error(
        status,
        &unknown,
        StatusCode::UNAUTHORIZED,
        "invalid_credentials",
    );

    assert_eq!(wrong, unknown);
}

#[tokio::test]
async fn invalid_json_body_is_400() {
    let server = TestServer::start().await;

    let response = server
        .client
        .post(format!("{}/v1/register", server.base_url))
        .header("content-type", "application/json")
        .body("{\"username\": \"alice\",")
        .send()
        .await
        .expect("send request");
    let (status, body) = read_json(response).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_json");

    let missing_field = json!({"username": "alice"});
    let (status, body) = server.post("/v1/register", None, missing_field).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");

    let wrong_type = json!({"username": 5, "password": PASSWORD});
    let (status, body) = server.post("/v1/register", None, wrong_type).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
}

#[tokio::test]
async fn token_missing_invalid_or_expired_is_401() {
    let server = TestServer::start().await;
    let alice = server.register_and_login("alice").await;

    let response = server
        .client
        .get(format!("{}/v1/conversations", server.base_url))
        .send()
        .await
        .expect("send request");
    let challenge = response.headers().get("www-authenticate").cloned();
    let (status, body) = read_json(response).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "missing_token");
    assert_eq!(
        challenge.as_ref().map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );

    let (status, body) = server.get("/v1/conversations", "not-a-jwt").await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");

    let foreign = Auth::new(&[7u8; 32], Duration::from_secs(60)).expect("valid auth config");
    let forged = foreign.issue(alice.user_id, "alice").expect("issue");
    let (status, body) = server.get("/v1/conversations", &forged.token).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");

    let response = server
        .client
        .get(format!("{}/v1/conversations", server.base_url))
        .header("authorization", format!("Basic {}", alice.token))
        .send()
        .await
        .expect("send request");
    let (status, body) = read_json(response).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "invalid_token");

    let expired = expired_token(alice.user_id, "alice");
    let (status, body) = server.get("/v1/conversations", &expired).await;
    assert_error(status, &body, StatusCode::UNAUTHORIZED, "token_expired");

    let (status, body) = server.get("/v1/conversations", &alice.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Signs a token with the server's secret whose `exp` lies one hour in the past.
fn expired_token(user_id: u64, username: &str) -> String {
    let now_secs = now_ms() as u64 / 1000;
    let claims = json!({
        "sub": user_id.to_string(),
        "name": username,
        "iat": now_secs - 7200,
        "exp": now_secs - 3600,
    });
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .expect("sign expired token")
}

#[tokio::test]
async fn dm_creation_rules() {
    let server = TestServer::start().await;
    let alice = server.register_and_login("alice").await;
    let bob = server.register_and_login("bob").await;

    let dm = server
        .create_conversation(&alice, json!({"kind": "dm", "members": [bob.user_id]}))
        .await;
    assert_eq!(dm["kind"], "dm");
    assert_eq!(dm["created_by"].as_u64(), Some(alice.user_id));
    assert_eq!(dm["last_seq"].as_u64(), Some(0));
    assert_eq!(dm["title"], Value::Null);
    assert_eq!(
        member_ids(&dm),
        BTreeSet::from([alice.user_id, bob.user_id])
    );

    let invalid_members = [json!([]), json!([alice.user_id]), json!([bob.user_id, 999])];
    for members in invalid_members {
        let request = json!({"kind": "dm", "members": members});
        let (status, body) = server
            .post("/v1/conversations", Some(&alice.token), request)
            .await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_members");
    }

    let unknown = json!({"kind": "dm", "members": [999_999]});
    let (status, body) = server
        .post("/v1/conversations", Some(&alice.token), unknown)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "user_not_found");

    let bad_kind = json!({"kind": "channel", "members": [bob.user_id]});
    let (status, body) = server
        .post("/v1/conversations", Some(&alice.token), bad_kind)
        .await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_body");
}

#[tokio::test]
async fn dm_membership_is_fixed() {
    let server = TestServer::start().await;
    let alice = server.register_and_login("alice").await;
    let bob = server.register_and_login("bob").await;
    let carol = server.register_and_login("carol").await;
    let dm = server
        .create_conversation(&alice, json!({"kind": "dm", "members": [bob.user_id]}))
        .await;
    let dm_id = dm["conversation_id"].as_u64().expect("conversation_id");

    let add = json!({"user_id": carol.user_id});
    let path = format!("/v1/conversations/{dm_id}/members");
    let (status, body) = server.post(&path, Some(&alice.token), add).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "dm_membership_fixed",
    );

    let path = format!("/v1/conversations/{dm_id}/members/{}", bob.user_id);
    let (status, body) = server.delete(&path, &alice.token).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "dm_membership_fixed",
    );

    let path = format!("/v1/conversations/{dm_id}/members/{}", alice.user_id);
    let (status, body) = server.delete(&path, &alice.token).await;
    assert_error(
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "dm_membership_fixed",
    );
}

#[tokio::test]
async fn group_membership_rules() {
    let server = TestServer::start().await;
    let alice = server.register_and_login("alice").await;
    let bob = server.register_and_login("bob").await;
    let carol = server.register_and_login("carol").await;
    let group = server
        .create_conversation(
            &alice,
            json!({"kind": "group", "members": [bob.user_id], "title": "team"}),
        )
        .await;
    let group_id = group["conversation_id"].as_u64().expect("conversation_id");
    assert_eq!(group["title"], "team");
    assert_eq!(
        member_ids(&group),
        BTreeSet::from([alice.user_id, bob.user_id])
    );
    let roles: Vec<(u64, String)> = group["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| {
            (
                m["user_id"].as_u64().unwrap(),
                m["role"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert!(
        roles.contains(&(alice.user_id, "owner".to_owned())),
        "{roles:?}"
    );
    assert!(
        roles.contains(&(bob.user_id, "member".to_owned())),
        "{roles:?}"
    );

    let members_path = format!("/v1/conversations/{group_id}/members");

    // A non-member may neither read nor add.
    let (status, body) = server
        .get(&format!("/v1/conversations/{group_id}"), &carol.token)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_a_member");
    let add_self = json!({"user_id": carol.user_id});
    let (status, body) = server
        .post(&members_path, Some(&carol.token), add_self)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_a_member");

    // A plain member may add others.
    let add_carol = json!({"user_id": carol.user_id});
    let (status, member) = server
        .post(&members_path, Some(&bob.token), add_carol)
        .await;
    assert_eq!(status, StatusCode::OK, "{member}");
    assert_eq!(member["user_id"].as_u64(), Some(carol.user_id));
    assert_eq!(member["role"], "member");

    let (status, body) = server
        .get(&format!("/v1/conversations/{group_id}"), &carol.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        member_ids(&body),
        BTreeSet::from([alice.user_id, bob.user_id, carol.user_id])
    );

    let add_unknown = json!({"user_id": 999_999});
    let (status, body) = server
        .post(&members_path, Some(&bob.token), add_unknown)
        .await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "user_not_found");

    // A plain member may not remove others, but may leave.
    let carol_path = format!("{members_path}/{}", carol.user_id);
    let (status, body) = server.delete(&carol_path, &bob.token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_owner");
    let (status, body) = server.delete(&carol_path, &carol.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = server
        .get(&format!("/v1/conversations/{group_id}"), &carol.token)
        .await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_a_member");

    // The owner may remove others, and removing a non-member is 404.
    let bob_path = format!("{members_path}/{}", bob.user_id);
    let (status, body) = server.delete(&bob_path, &alice.token).await;
    assert_eq!(status, StatusCode::NO_CONTENT, "{body}");
    let (status, body) = server.delete(&carol_path, &alice.token).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "member_not_found");

    let (status, body) = server
        .get(&format!("/v1/conversations/{group_id}"), &alice.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(member_ids(&body), BTreeSet::from([alice.user_id]));
}

#[tokio::test]
async fn unknown_conversation_is_404() {
    let server = TestServer::start().await;
    let alice = server.register_and_login("alice").await;

    let (status, body) = server.get("/v1/conversations/424242", &alice.token).await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "conversation_not_found",
    );

    let add = json!({"user_id": alice.user_id});
    let (status, body) = server
        .post("/v1/conversations/424242/members", Some(&alice.token), add)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "conversation_not_found",
    );

    let (status, body) = server
        .get("/v1/conversations/424242/messages", &alice.token)
        .await;
    assert_error(
        status,
        &body,
        StatusCode::NOT_FOUND,
        "conversation_not_found",
    );

    let (status, body) = server.get("/v1/conversations/abc", &alice.token).await;
    assert_error(status, &body, StatusCode::BAD_REQUEST, "invalid_path");
}

#[tokio::test]
async fn inbox_lists_recent_activity_first() {
    let server = TestServer::start().await;
    let alice = server.register_and_login("alice").await;
    let bob = server.register_and_login("bob").await;
    let group = server
        .create_conversation(&bob, json!({"kind": "group", "members": [alice.user_id]}))
        .await;
    let dm = server
        .create_conversation(&alice, json!({"kind": "dm", "members": [bob.user_id]}))
        .await;
    // The group is older, so only its messages can move it to the top.
    let dm_id = dm["conversation_id"].as_u64().expect("dm id");
    let group_id = group["conversation_id"].as_u64().expect("group id");
    server.append_messages(group_id, bob.user_id, 1, 3).await;

    let (status, inbox) = server.get("/v1/conversations", &alice.token).await;

    assert_eq!(status, StatusCode::OK, "{inbox}");
    let entries = inbox.as_array().expect("inbox array");
    assert_eq!(entries.len(), 2, "{inbox}");
    let newest = &entries[0];
    assert_eq!(newest["conversation_id"].as_u64(), Some(group_id));
    assert_eq!(newest["kind"], "group");
    assert_eq!(newest["title"], Value::Null);
    assert_eq!(newest["last_seq"].as_u64(), Some(3));
    assert_eq!(newest["last_read_seq"].as_u64(), Some(0));
    assert_eq!(newest["unread"].as_u64(), Some(3));
    assert!(newest["last_activity_ms"].as_i64().is_some(), "{newest}");
    let preview = &newest["last_message"];
    assert_eq!(preview["seq"].as_u64(), Some(3));
    assert_eq!(preview["message_id"], format!("m-{group_id}-3"));
    assert_eq!(preview["sender_id"].as_u64(), Some(bob.user_id));
    assert_eq!(preview["content"], "message 3");
    assert!(preview["created_at_ms"].as_i64().is_some(), "{preview}");

    let older = &entries[1];
    assert_eq!(older["conversation_id"].as_u64(), Some(dm_id));
    assert_eq!(older["kind"], "dm");
    assert_eq!(older["unread"].as_u64(), Some(0));
    assert_eq!(older["last_message"], Value::Null);
}

#[tokio::test]
async fn history_requires_membership() {
    let server = TestServer::start().await;
    let alice = server.register_and_login("alice").await;
    let bob = server.register_and_login("bob").await;
    let carol = server.register_and_login("carol").await;
    let dm = server
        .create_conversation(&alice, json!({"kind": "dm", "members": [bob.user_id]}))
        .await;
    let dm_id = dm["conversation_id"].as_u64().expect("conversation_id");
    server.append_messages(dm_id, alice.user_id, 1, 2).await;

    let path = format!("/v1/conversations/{dm_id}/messages");
    let (status, body) = server.get(&path, &carol.token).await;
    assert_error(status, &body, StatusCode::FORBIDDEN, "not_a_member");

    let (status, body) = server.get(&path, &bob.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(message_seqs(&body), vec![1, 2]);
    assert_eq!(body["has_more"], false);
    assert_eq!(body["next_cursor"], Value::Null);
    let first = &body["messages"][0];
    assert_eq!(first["conversation_id"].as_u64(), Some(dm_id));
    assert_eq!(first["sender_id"].as_u64(), Some(alice.user_id));
    assert_eq!(first["message_id"], format!("m-{dm_id}-1"));
    assert_eq!(first["content"], "message 1");
}

#[tokio::test]
async fn history_pages_forward_and_backward() {
    let server = TestServer::start().await;
    let alice = server.register_and_login("alice").await;
    let group = server
        .create_conversation(&alice, json!({"kind": "group", "members": []}))
        .await;
    let group_id = group["conversation_id"].as_u64().expect("conversation_id");
    let total = 23;
    server
        .append_messages(group_id, alice.user_id, 1, total)
        .await;
    let path = format!("/v1/conversations/{group_id}/messages");

    let forward = read_all_pages(&server, &alice, &path, "after", 5).await;
    assert_eq!(forward, (1..=total).collect::<Vec<_>>());

    let backward = read_all_pages(&server, &alice, &path, "before", 7).await;
    assert_eq!(backward, (1..=total).rev().collect::<Vec<_>>());

    let (status, newest) = server
        .get(&format!("{path}?direction=backward&limit=2"), &alice.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{newest}");
    assert_eq!(message_seqs(&newest), vec![total, total - 1]);
    assert_eq!(newest["next_cursor"].as_u64(), Some(total - 1));
    assert_eq!(newest["has_more"], true);

    let (status, exact) = server
        .get(&format!("{path}?after=20&limit=3"), &alice.token)
        .await;
    assert_eq!(status, StatusCode::OK, "{exact}");
    assert_eq!(message_seqs(&exact), vec![21, 22, 23]);
    assert_eq!(exact["has_more"], false);
    assert_eq!(exact["next_cursor"], Value::Null);

    let (status, default_page) = server.get(&path, &alice.token).await;
    assert_eq!(status, StatusCode::OK, "{default_page}");
    assert_eq!(message_seqs(&default_page).len(), total as usize);
}

/// Follows `next_cursor` with the given cursor parameter until `has_more` is false, checking
/// that each page respects `limit` and that pages do not overlap, and returns all seqs read.
async fn read_all_pages(
    server: &TestServer,
    user: &TestUser,
    path: &str,
    cursor_param: &str,
    limit: usize,
) -> Vec<u64> {
    let mut seqs = Vec::new();
    let mut cursor = 0;
    for _ in 0..MAX_PAGES {
        let url = format!("{path}?{cursor_param}={cursor}&limit={limit}");
        let (status, page) = server.get(&url, &user.token).await;
        assert_eq!(status, StatusCode::OK, "{url}: {page}");
        let page_seqs = message_seqs(&page);
        assert!(page_seqs.len() <= limit, "{url}: {page}");
        for seq in &page_seqs {
            assert!(!seqs.contains(seq), "{url}: seq {seq} already read");
        }
        seqs.extend(&page_seqs);

        if page["has_more"] == false {
            assert_eq!(page["next_cursor"], Value::Null, "{url}: {page}");
            return seqs;
        }
        assert_eq!(page_seqs.len(), limit, "{url}: short page with has_more");
        let next = page["next_cursor"].as_u64().expect("next_cursor");
        assert_eq!(Some(&next), page_seqs.last(), "{url}: {page}");
        cursor = next;
    }
    panic!("paging {path} by {cursor_param} did not end within {MAX_PAGES} pages");
}

#[tokio::test]
async fn history_rejects_bad_query() {
    let server = TestServer::start().await;
    let alice = server.register_and_login("alice").await;
    let group = server
        .create_conversation(&alice, json!({"kind": "group", "members": []}))
        .await;
    let group_id = group["conversation_id"].as_u64().expect("conversation_id");
    let path = format!("/v1/conversations/{group_id}/messages");

    let cases = [
        ("limit=0", "invalid_limit"),
        ("limit=201", "invalid_limit"),
        ("limit=abc", "invalid_query"),
        ("after=1&before=5", "invalid_cursor"),
        ("after=1&direction=backward", "invalid_cursor"),
        ("direction=sideways", "invalid_query"),
    ];
    for (query, code) in cases {
        let (status, body) = server.get(&format!("{path}?{query}"), &alice.token).await;
        assert_error(status, &body, StatusCode::BAD_REQUEST, code);
    }

    let (status, body) = server.get(&format!("{path}?limit=200"), &alice.token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn unknown_routes_answer_json() {
    let server = TestServer::start().await;

    let (status, body) = server.send(Method::GET, "/v1/nope", None, None).await;
    assert_error(status, &body, StatusCode::NOT_FOUND, "not_found");

    let (status, body) = server.send(Method::GET, "/v1/register", None, None).await;
    assert_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );

    let response = server
        .client
        .get(format!("{}/healthz", server.base_url))
        .send()
        .await
        .expect("send request");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.text().await.expect("read body"), "ok");
}
