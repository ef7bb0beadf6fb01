//! Opening handshake of RFC 6455 section 4.2: parses the client's HTTP/1.1 upgrade request
//! incrementally and builds the `101 Switching Protocols` response and HTTP error responses.
//!
//! The parser checks only what RFC 6455 requires of every upgrade request. Routing on the path,
//! authentication and the choice of subprotocol belong to the caller.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use sha1::{Digest, Sha1};

/// Maximum size of a request head (request line and headers). A larger head is rejected.
pub const MAX_REQUEST_HEAD_LEN: usize = 8 * 1024;

/// Maximum number of request headers. A request with more is rejected.
pub const MAX_REQUEST_HEADERS: usize = 32;

/// GUID that RFC 6455 section 1.3 appends to the client key to derive the accept key.
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// The only WebSocket protocol version this server speaks (RFC 6455).
pub const SUPPORTED_VERSION: &str = "13";

/// Length of a decoded `Sec-WebSocket-Key`.
const KEY_LEN: usize = 16;

/// Validated WebSocket upgrade request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpgradeRequest {
    /// Path of the request target, still percent-encoded.
    pub path: String,
    /// Query of the request target without the `?`, still percent-encoded.
    pub query: Option<String>,
    /// `Sec-WebSocket-Key`, checked to be base64 of 16 bytes.
    pub key: String,
    /// `Host` header.
    pub host: Option<String>,
    /// `Origin` header, which browsers send.
    pub origin: Option<String>,
    /// `Authorization` header, unparsed.
    pub authorization: Option<String>,
    /// Subprotocols from every `Sec-WebSocket-Protocol` header, in the client's order of
    /// preference.
    pub subprotocols: Vec<String>,
    /// Length of the request head in the parsed buffer. Bytes after it belong to the
    /// WebSocket stream.
    pub bytes_consumed: usize,
}

impl UpgradeRequest {
    /// Finds the first query parameter named `name` and returns its percent-decoded value.
    ///
    /// Decodes names and values as `application/x-www-form-urlencoded`, the way browsers'
    /// `URLSearchParams` encodes them: `+` becomes a space, `%XX` becomes a byte, and malformed
    /// escapes stay as they are. Invalid UTF-8 becomes U+FFFD. A parameter without `=` has an
    /// empty value.
    pub fn query_param(&self, name: &str) -> Option<String> {
        let query = self.query.as_deref()?;
        query
            .split('&')
            .filter(|pair| !pair.is_empty())
            .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
            .find(|(key, _)| percent_decode(key) == name)
            .map(|(_, value)| percent_decode(value))
    }
}

/// Reasons an upgrade request is rejected, each mapped to an HTTP status by
/// [`HandshakeError::status`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandshakeError {
    /// The request head exceeds [`MAX_REQUEST_HEAD_LEN`] bytes or [`MAX_REQUEST_HEADERS`]
    /// headers.
    #[error("request head has more than {max} {unit}")]
    RequestTooLarge {
        /// The limit that was exceeded.
        max: usize,
        /// Unit of `max`: "bytes" or "headers".
        unit: &'static str,
    },
    /// The bytes are not an HTTP/1.x request.
    #[error("malformed HTTP request: {0}")]
    Malformed(httparse::Error),
    /// The method is not GET.
    #[error("method {method} is not allowed, because a WebSocket upgrade uses GET")]
    MethodNotAllowed {
        /// The received method.
        method: String,
    },
    /// The request is HTTP/1.0.
    #[error("HTTP/1.{minor} is not supported, because a WebSocket upgrade needs HTTP/1.1")]
    UnsupportedHttpVersion {
        /// Minor version of the received HTTP/1.x request.
        minor: u8,
    },
    /// The request target is not an absolute path.
    #[error("request target {target:?} is not an absolute path")]
    InvalidTarget {
        /// The received request target.
        target: String,
    },
    /// A header value is not valid UTF-8.
    #[error("header {name} has a value that is not valid UTF-8")]
    InvalidHeaderValue {
        /// Name of the header.
        name: String,
    },
    /// A header that the handshake reads as a single value, such as `Sec-WebSocket-Key` or
    /// `Authorization`, appears more than once.
    #[error("header {name} appears more than once")]
    DuplicateHeader {
        /// Name of the header.
        name: &'static str,
    },
    /// No `Upgrade` header lists `websocket`.
    #[error("{}", describe_upgrade(.upgrade.as_deref()))]
    NotWebSocketUpgrade {
        /// The received `Upgrade` values joined by commas, or `None` without an `Upgrade`
        /// header.
        upgrade: Option<String>,
    },
    /// No `Connection` header lists `upgrade`.
    #[error("{}", describe_connection(.connection.as_deref()))]
    MissingConnectionUpgrade {
        /// The received `Connection` values joined by commas, or `None` without a
        /// `Connection` header.
        connection: Option<String>,
    },
    /// `Sec-WebSocket-Version` is missing or not 13.
    #[error("{}", describe_version(.version.as_deref()))]
    UnsupportedVersion {
        /// The received version, or `None` without a `Sec-WebSocket-Version` header.
        version: Option<String>,
    },
    /// `Sec-WebSocket-Key` is missing.
    #[error("Sec-WebSocket-Key header is missing; send the base64 of 16 random bytes")]
    MissingKey,
    /// `Sec-WebSocket-Key` is not base64 of 16 bytes.
    #[error("Sec-WebSocket-Key {key:?} is not base64 of 16 bytes")]
    InvalidKey {
        /// The received key.
        key: String,
    },
    /// A `Sec-WebSocket-Protocol` entry is not an HTTP token.
    #[error("Sec-WebSocket-Protocol entry {protocol:?} is not a valid token")]
    InvalidSubprotocol {
        /// The received entry.
        protocol: String,
    },
    /// The request announces a body, which would be mistaken for WebSocket frames.
    #[error("upgrade request announces a body with {header}")]
    UnexpectedBody {
        /// Header that announced the body.
        header: &'static str,
    },
}

fn describe_upgrade(upgrade: Option<&str>) -> String {
    match upgrade {
        None => "Upgrade header is missing; send \"Upgrade: websocket\"".to_owned(),
        Some(value) => format!("Upgrade header {value:?} does not list websocket"),
    }
}

fn describe_connection(connection: Option<&str>) -> String {
    match connection {
        None => "Connection header is missing; send \"Connection: Upgrade\"".to_owned(),
        Some(value) => format!("Connection header {value:?} does not list upgrade"),
    }
}

fn describe_version(version: Option<&str>) -> String {
    match version {
        None => format!("Sec-WebSocket-Version header is missing; send {SUPPORTED_VERSION}"),
        // A number reads best bare, but anything else is quoted so that empty or odd values
        // stay visible.
        Some(value) if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) => {
            format!("Sec-WebSocket-Version {value} is not supported; use {SUPPORTED_VERSION}")
        }
        Some(value) => {
            format!("Sec-WebSocket-Version {value:?} is not supported; use {SUPPORTED_VERSION}")
        }
    }
}

impl HandshakeError {
    /// Returns the HTTP status code of the error response.
    pub fn status(&self) -> u16 {
        match self {
            HandshakeError::RequestTooLarge { .. } => 431,
            HandshakeError::MethodNotAllowed { .. } => 405,
            HandshakeError::UnsupportedVersion { .. } => 426,
            _ => 400,
        }
    }

    /// Builds the full HTTP error response, with the headers the status requires.
    pub fn to_response(&self) -> Vec<u8> {
        let extra_headers: &[(&str, &str)] = match self {
            HandshakeError::MethodNotAllowed { .. } => &[("Allow", "GET")],
            HandshakeError::UnsupportedVersion { .. } => {
                &[("Sec-WebSocket-Version", SUPPORTED_VERSION)]
            }
            _ => &[],
        };
        http_error(self.status(), &self.to_string(), extra_headers)
    }
}

/// Parses the upgrade request at the start of `buf`.
///
/// Returns `Ok(None)` until the whole request head has arrived. The parse starts over on each
/// call, which costs little because the head is capped at [`MAX_REQUEST_HEAD_LEN`] bytes.
///
/// # Errors
/// [`HandshakeError::RequestTooLarge`] once `buf` contains [`MAX_REQUEST_HEAD_LEN`] bytes without
/// a complete head, or the head has more than [`MAX_REQUEST_HEADERS`] headers. Any other
/// variant when the request is not a valid RFC 6455 upgrade request.
pub fn parse_upgrade_request(buf: &[u8]) -> Result<Option<UpgradeRequest>, HandshakeError> {
    let window = &buf[..buf.len().min(MAX_REQUEST_HEAD_LEN)];
    let mut header_slots = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut request = httparse::Request::new(&mut header_slots);
    let status = request.parse(window).map_err(|error| match error {
        httparse::Error::TooManyHeaders => HandshakeError::RequestTooLarge {
            max: MAX_REQUEST_HEADERS,
            unit: "headers",
        },
        other => HandshakeError::Malformed(other),
    })?;
    match status {
        httparse::Status::Complete(head_len) => validate_request(&request, head_len).map(Some),
        httparse::Status::Partial if buf.len() >= MAX_REQUEST_HEAD_LEN => {
            Err(HandshakeError::RequestTooLarge {
                max: MAX_REQUEST_HEAD_LEN,
                unit: "bytes",
            })
        }
        httparse::Status::Partial => Ok(None),
    }
}

fn validate_request(
    request: &httparse::Request<'_, '_>,
    head_len: usize,
) -> Result<UpgradeRequest, HandshakeError> {
    let method = request.method.unwrap_or_default();
    if method != "GET" {
        return Err(HandshakeError::MethodNotAllowed {
            method: method.to_owned(),
        });
    }
    let minor = request.version.unwrap_or_default();
    if minor != 1 {
        return Err(HandshakeError::UnsupportedHttpVersion { minor });
    }
    let (path, query) = split_target(request.path.unwrap_or_default())?;

    let headers = RequestHeaders::collect(request.headers)?;
    headers.check_upgrade()?;
    headers.check_version()?;
    let key = headers.checked_key()?;
    headers.check_no_body()?;
    let subprotocols = headers.subprotocols()?;

    Ok(UpgradeRequest {
        path,
        query,
        key: key.to_owned(),
        host: headers.host.map(str::to_owned),
        origin: headers.origin.map(str::to_owned),
        authorization: headers.authorization.map(str::to_owned),
        subprotocols,
        bytes_consumed: head_len,
    })
}

/// Splits an origin-form request target into its path and query.
fn split_target(target: &str) -> Result<(String, Option<String>), HandshakeError> {
    if !target.starts_with('/') {
        return Err(HandshakeError::InvalidTarget {
            target: target.to_owned(),
        });
    }
    Ok(match target.split_once('?') {
        Some((path, query)) => (path.to_owned(), Some(query.to_owned())),
        None => (target.to_owned(), None),
    })
}

/// Header values the handshake reads, borrowed from the request buffer.
#[derive(Default)]
struct RequestHeaders<'a> {
    upgrade: Vec<&'a str>,
    connection: Vec<&'a str>,
    version: Option<&'a str>,
    key: Option<&'a str>,
    host: Option<&'a str>,
    origin: Option<&'a str>,
    authorization: Option<&'a str>,
    protocols: Vec<&'a str>,
    content_length: Option<&'a str>,
    transfer_encoding: Option<&'a str>,
}

impl<'a> RequestHeaders<'a> {
    fn collect(headers: &[httparse::Header<'a>]) -> Result<Self, HandshakeError> {
        let mut collected = RequestHeaders::default();
        for header in headers {
            let value = std::str::from_utf8(header.value)
                .map_err(|_| HandshakeError::InvalidHeaderValue {
                    name: header.name.to_owned(),
                })?
                .trim_matches([' ', '\t']);
            collected.store(header.name, value)?;
        }
        Ok(collected)
    }

    fn store(&mut self, name: &str, value: &'a str) -> Result<(), HandshakeError> {
        let single = match name.to_ascii_lowercase().as_str() {
            "upgrade" => {
                self.upgrade.push(value);
                return Ok(());
            }
            "connection" => {
                self.connection.push(value);
                return Ok(());
            }
            "sec-websocket-protocol" => {
                self.protocols.push(value);
                return Ok(());
            }
            "sec-websocket-version" => (&mut self.version, "Sec-WebSocket-Version"),
            "sec-websocket-key" => (&mut self.key, "Sec-WebSocket-Key"),
            "host" => (&mut self.host, "Host"),
            "origin" => (&mut self.origin, "Origin"),
            "authorization" => (&mut self.authorization, "Authorization"),
            "content-length" => (&mut self.content_length, "Content-Length"),
            "transfer-encoding" => (&mut self.transfer_encoding, "Transfer-Encoding"),
            _ => return Ok(()),
        };
        let (slot, canonical_name) = single;
        if slot.replace(value).is_some() {
            return Err(HandshakeError::DuplicateHeader {
                name: canonical_name,
            });
        }
        Ok(())
    }

    fn check_upgrade(&self) -> Result<(), HandshakeError> {
        if !lists_token(&self.upgrade, "websocket") {
            return Err(HandshakeError::NotWebSocketUpgrade {
                upgrade: join_values(&self.upgrade),
            });
        }
        if !lists_token(&self.connection, "upgrade") {
            return Err(HandshakeError::MissingConnectionUpgrade {
                connection: join_values(&self.connection),
            });
        }
        Ok(())
    }

    fn check_version(&self) -> Result<(), HandshakeError> {
        if self.version == Some(SUPPORTED_VERSION) {
            return Ok(());
        }
        Err(HandshakeError::UnsupportedVersion {
            version: self.version.map(str::to_owned),
        })
    }

    fn checked_key(&self) -> Result<&'a str, HandshakeError> {
        let key = self.key.ok_or(HandshakeError::MissingKey)?;
        match BASE64.decode(key) {
            Ok(decoded) if decoded.len() == KEY_LEN => Ok(key),
            _ => Err(HandshakeError::InvalidKey {
                key: key.to_owned(),
            }),
        }
    }

    fn check_no_body(&self) -> Result<(), HandshakeError> {
        if self.transfer_encoding.is_some() {
            return Err(HandshakeError::UnexpectedBody {
                header: "Transfer-Encoding",
            });
        }
        match self.content_length {
            None | Some("0") => Ok(()),
            Some(_) => Err(HandshakeError::UnexpectedBody {
                header: "Content-Length",
            }),
        }
    }

    fn subprotocols(&self) -> Result<Vec<String>, HandshakeError> {
        let mut subprotocols = Vec::new();
        for protocol in self.protocols.iter().flat_map(|value| list_items(value)) {
            if !is_token(protocol) {
                return Err(HandshakeError::InvalidSubprotocol {
                    protocol: protocol.to_owned(),
                });
            }
            subprotocols.push(protocol.to_owned());
        }
        Ok(subprotocols)
    }
}

/// Splits a comma-separated header value into trimmed, non-empty items.
fn list_items(value: &str) -> impl Iterator<Item = &str> {
    value
        .split(',')
        .map(|item| item.trim_matches([' ', '\t']))
        .filter(|item| !item.is_empty())
}

fn lists_token(values: &[&str], token: &str) -> bool {
    values
        .iter()
        .flat_map(|value| list_items(value))
        .any(|item| item.eq_ignore_ascii_case(token))
}

fn join_values(values: &[&str]) -> Option<String> {
    (!values.is_empty()).then(|| values.join(", "))
}

/// Checks for an HTTP token (RFC 9110 section 5.6.2), the syntax of subprotocol names.
fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|byte| byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte))
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => decoded.push(b' '),
            b'%' => {
                if let Some(byte) = bytes.get(i + 1..i + 3).and_then(decode_hex_pair) {
                    decoded.push(byte);
                    i += 3;
                    continue;
                }
                decoded.push(b'%');
            }
            other => decoded.push(other),
        }
        i += 1;
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

fn decode_hex_pair(pair: &[u8]) -> Option<u8> {
    let high = char::from(pair[0]).to_digit(16)?;
    let low = char::from(pair[1]).to_digit(16)?;
    Some((high * 16 + low) as u8)
}

/// Derives `Sec-WebSocket-Accept` from the client's key: base64 of the SHA-1 of the key
/// followed by [`WEBSOCKET_GUID`].
pub fn accept_key(key: &str) -> String {
    let mut sha1 = Sha1::new();
    sha1.update(key.as_bytes());
    sha1.update(WEBSOCKET_GUID.as_bytes());
    BASE64.encode(sha1.finalize())
}

/// Builds the `101 Switching Protocols` response for a request with `key`, selecting
/// `subprotocol` if given.
///
/// # Panics
/// If `subprotocol` is not an HTTP token. Every entry of [`UpgradeRequest::subprotocols`] is.
pub fn switching_protocols_response(key: &str, subprotocol: Option<&str>) -> Vec<u8> {
    let mut response = format!(
        "HTTP/1.1 101 Switching Protocols\r\n\
         Upgrade: websocket\r\n\
         Connection: Upgrade\r\n\
         Sec-WebSocket-Accept: {}\r\n",
        accept_key(key)
    );
    if let Some(protocol) = subprotocol {
        assert!(
            is_token(protocol),
            "subprotocol {protocol:?} is not a token"
        );
        response.push_str(&format!("Sec-WebSocket-Protocol: {protocol}\r\n"));
    }
    response.push_str("\r\n");
    response.into_bytes()
}

/// Builds an HTTP/1.1 error response that closes the connection.
///
/// The status line carries the standard reason phrase for `status`, and `message` becomes a
/// plain-text body. `extra_headers` follow the standard headers.
///
/// # Panics
/// If `status` is outside 100..=599, an extra header name is not a token, or a header value
/// contains CR, LF or another control character other than tab, since each would corrupt the
/// response.
pub fn http_error(status: u16, message: &str, extra_headers: &[(&str, &str)]) -> Vec<u8> {
    assert!(
        (100..=599).contains(&status),
        "HTTP status {status} is outside 100..=599"
    );
    let body = format!("{message}\n");
    let mut response = format!(
        "HTTP/1.1 {status} {}\r\n\
         Content-Type: text/plain; charset=utf-8\r\n\
         Content-Length: {}\r\n\
         Connection: close\r\n",
        reason_phrase(status),
        body.len()
    );
    for (name, value) in extra_headers {
        assert!(is_token(name), "header name {name:?} is not a token");
        assert!(
            !value.chars().any(|c| c.is_control() && c != '\t'),
            "header {name} value {value:?} contains a control character"
        );
        response.push_str(&format!("{name}: {value}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&body);
    response.into_bytes()
}

/// Returns the RFC 9110 reason phrase for `status`.
///
/// Statuses outside the table get a phrase for their class, such as "Client Error", so the
/// status line never ends in a bare space.
fn reason_phrase(status: u16) -> &'static str {
    let phrase = match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        413 => "Content Too Large",
        414 => "URI Too Long",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "",
    };
    if !phrase.is_empty() {
        return phrase;
    }
    match status / 100 {
        1 => "Informational",
        2 => "Success",
        3 => "Redirection",
        4 => "Client Error",
        _ => "Server Error",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Example key from RFC 6455 section 1.3.
    const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    fn request_with(lines: &[&str]) -> Vec<u8> {
        let mut request = String::from("GET /ws?token=a%2Bb&room=x+y HTTP/1.1\r\n");
        for line in lines {
            request.push_str(line);
            request.push_str("\r\n");
        }
        request.push_str("\r\n");
        request.into_bytes()
    }

    fn valid_lines() -> Vec<&'static str> {
        vec![
            "Host: chat.example",
            "Upgrade: websocket",
            "Connection: Upgrade",
            "Sec-WebSocket-Version: 13",
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        ]
    }

    fn valid_with(extra: &[&str]) -> Vec<u8> {
        let mut lines: Vec<&str> = valid_lines();
        lines.extend_from_slice(extra);
        request_with(&lines)
    }

    fn without(header: &str) -> Vec<u8> {
        let lines: Vec<&str> = valid_lines()
            .into_iter()
            .filter(|line| !line.starts_with(header))
            .collect();
        request_with(&lines)
    }

    fn replaced(header: &str, line: &str) -> Vec<u8> {
        let mut lines: Vec<&str> = valid_lines()
            .into_iter()
            .filter(|l| !l.starts_with(header))
            .collect();
        lines.push(line);
        request_with(&lines)
    }

    fn parse_err(bytes: &[u8]) -> HandshakeError {
        parse_upgrade_request(bytes).expect_err("request must be rejected")
    }

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(accept_key(RFC_KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }

    #[test]
    fn parse_valid_request_fields() {
        let bytes = valid_with(&[
            "Origin: https://chat.example",
            "Authorization: Bearer t0k",
            "Sec-WebSocket-Protocol: sb.v1, sb.v2",
            "Sec-WebSocket-Protocol: sb.v3",
        ]);
        let request = parse_upgrade_request(&bytes).unwrap().unwrap();
        assert_eq!(request.path, "/ws");
        assert_eq!(request.query.as_deref(), Some("token=a%2Bb&room=x+y"));
        assert_eq!(request.key, RFC_KEY);
        assert_eq!(request.host.as_deref(), Some("chat.example"));
        assert_eq!(request.origin.as_deref(), Some("https://chat.example"));
        assert_eq!(request.authorization.as_deref(), Some("Bearer t0k"));
        assert_eq!(request.subprotocols, ["sb.v1", "sb.v2", "sb.v3"]);
        assert_eq!(request.bytes_consumed, bytes.len());
    }

    #[test]
    fn parse_returns_none_until_complete() {
        let bytes = valid_with(&[]);
        for end in 0..bytes.len() {
            let parsed = parse_upgrade_request(&bytes[..end]);
            assert_eq!(parsed, Ok(None), "prefix of {end} bytes");
        }
        assert!(parse_upgrade_request(&bytes).unwrap().is_some());
    }

    #[test]
    fn parse_leaves_trailing_frame_bytes() {
        let mut bytes = valid_with(&[]);
        let head_len = bytes.len();
        bytes.extend_from_slice(&[0x82, 0x80, 1, 2, 3, 4]);
        let request = parse_upgrade_request(&bytes).unwrap().unwrap();
        assert_eq!(request.bytes_consumed, head_len);
    }

    #[test]
    fn parse_header_tokens_case_insensitive() {
        let bytes = request_with(&[
            "upgrade: WebSocket",
            "CONNECTION: keep-alive, UPGRADE",
            "sec-websocket-version: 13",
            "sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==",
        ]);
        let request = parse_upgrade_request(&bytes).unwrap().unwrap();
        assert_eq!(request.key, RFC_KEY);
        assert_eq!(request.host, None);
    }

    #[test]
    fn parse_rejects_wrong_method() {
        let bytes = valid_with(&[]);
        let post = [b"POST".as_slice(), &bytes[3..]].concat();
        let error = parse_err(&post);
        assert_eq!(
            error,
            HandshakeError::MethodNotAllowed {
                method: "POST".into()
            }
        );
        assert_eq!(error.status(), 405);
        let response = String::from_utf8(error.to_response()).unwrap();
        assert!(response.contains("\r\nAllow: GET\r\n"), "{response}");
    }

    #[test]
    fn parse_rejects_http_1_0() {
        let bytes = String::from_utf8(valid_with(&[]))
            .unwrap()
            .replacen("HTTP/1.1", "HTTP/1.0", 1);
        let error = parse_err(bytes.as_bytes());
        assert_eq!(error, HandshakeError::UnsupportedHttpVersion { minor: 0 });
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn parse_rejects_non_path_target() {
        let bytes = String::from_utf8(valid_with(&[])).unwrap().replacen(
            "/ws?token=a%2Bb&room=x+y",
            "ws://host/ws",
            1,
        );
        let error = parse_err(bytes.as_bytes());
        assert_eq!(
            error,
            HandshakeError::InvalidTarget {
                target: "ws://host/ws".into()
            }
        );
    }

    #[test]
    fn parse_rejects_missing_upgrade() {
        let error = parse_err(&without("Upgrade"));
        assert_eq!(error, HandshakeError::NotWebSocketUpgrade { upgrade: None });
        assert_eq!(error.status(), 400);
        assert_eq!(
            error.to_string(),
            "Upgrade header is missing; send \"Upgrade: websocket\""
        );

        let error = parse_err(&replaced("Upgrade", "Upgrade: h2c"));
        assert_eq!(
            error,
            HandshakeError::NotWebSocketUpgrade {
                upgrade: Some("h2c".into())
            }
        );
        assert_eq!(
            error.to_string(),
            "Upgrade header \"h2c\" does not list websocket"
        );
    }

    #[test]
    fn parse_rejects_connection_without_upgrade() {
        let error = parse_err(&replaced("Connection", "Connection: keep-alive"));
        assert_eq!(
            error,
            HandshakeError::MissingConnectionUpgrade {
                connection: Some("keep-alive".into())
            }
        );
        assert_eq!(error.status(), 400);
        assert_eq!(
            error.to_string(),
            "Connection header \"keep-alive\" does not list upgrade"
        );

        let missing = parse_err(&without("Connection"));
        assert_eq!(
            missing,
            HandshakeError::MissingConnectionUpgrade { connection: None }
        );
        assert_eq!(
            missing.to_string(),
            "Connection header is missing; send \"Connection: Upgrade\""
        );
    }

    #[test]
    fn parse_rejects_unsupported_version() {
        let error = parse_err(&replaced(
            "Sec-WebSocket-Version",
            "Sec-WebSocket-Version: 8",
        ));
        assert_eq!(
            error,
            HandshakeError::UnsupportedVersion {
                version: Some("8".into())
            }
        );
        assert_eq!(error.status(), 426);
        let response = String::from_utf8(error.to_response()).unwrap();
        assert!(response.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(response.contains("\r\nSec-WebSocket-Version: 13\r\n"));
        assert!(
            response.ends_with("\r\n\r\nSec-WebSocket-Version 8 is not supported; use 13\n"),
            "{response}"
        );

        let missing = parse_err(&without("Sec-WebSocket-Version"));
        assert_eq!(
            missing,
            HandshakeError::UnsupportedVersion { version: None }
        );
        assert_eq!(
            missing.to_string(),
            "Sec-WebSocket-Version header is missing; send 13"
        );

        let empty = parse_err(&replaced("Sec-WebSocket-Version", "Sec-WebSocket-Version:"));
        assert_eq!(
            empty.to_string(),
            "Sec-WebSocket-Version \"\" is not supported; use 13"
        );
    }

    #[test]
    fn error_messages_omit_debug_formatting() {
        let errors = [
            HandshakeError::NotWebSocketUpgrade { upgrade: None },
            HandshakeError::MissingConnectionUpgrade { connection: None },
            HandshakeError::UnsupportedVersion { version: None },
            HandshakeError::UnsupportedVersion {
                version: Some("8".into()),
            },
            HandshakeError::MissingKey,
        ];
        for error in errors {
            let message = error.to_string();
            assert!(!message.contains("Some("), "{message}");
            assert!(!message.contains("None"), "{message}");
        }
    }

    #[test]
    fn parse_rejects_missing_key() {
        let error = parse_err(&without("Sec-WebSocket-Key"));
        assert_eq!(error, HandshakeError::MissingKey);
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn parse_rejects_invalid_keys() {
        // 15 bytes, 17 bytes, and text that is not base64.
        for key in [
            "AAAAAAAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAAAAAAAAAA=",
            "not base64 at all!!!!!==",
        ] {
            let line = format!("Sec-WebSocket-Key: {key}");
            let error = parse_err(&replaced("Sec-WebSocket-Key", &line));
            assert_eq!(
                error,
                HandshakeError::InvalidKey { key: key.into() },
                "{key}"
            );
        }
    }

    #[test]
    fn parse_rejects_duplicate_key() {
        let error = parse_err(&valid_with(&[
            "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==",
        ]));
        assert_eq!(
            error,
            HandshakeError::DuplicateHeader {
                name: "Sec-WebSocket-Key"
            }
        );
    }

    #[test]
    fn parse_rejects_request_body() {
        let error = parse_err(&valid_with(&["Content-Length: 5"]));
        assert_eq!(
            error,
            HandshakeError::UnexpectedBody {
                header: "Content-Length"
            }
        );
        let error = parse_err(&valid_with(&["Transfer-Encoding: chunked"]));
        assert_eq!(
            error,
            HandshakeError::UnexpectedBody {
                header: "Transfer-Encoding"
            }
        );
        assert!(parse_upgrade_request(&valid_with(&["Content-Length: 0"])).is_ok());
    }

    #[test]
    fn parse_rejects_invalid_subprotocol() {
        let error = parse_err(&valid_with(&["Sec-WebSocket-Protocol: a b"]));
        assert_eq!(
            error,
            HandshakeError::InvalidSubprotocol {
                protocol: "a b".into()
            }
        );
    }

    #[test]
    fn parse_rejects_non_utf8_header() {
        let mut bytes = valid_with(&[]);
        let end = bytes.len() - 2;
        bytes.splice(end..end, b"X-Name: \xff\xfe\r\n".iter().copied());
        let error = parse_err(&bytes);
        assert_eq!(
            error,
            HandshakeError::InvalidHeaderValue {
                name: "X-Name".into()
            }
        );
    }

    #[test]
    fn parse_rejects_garbage() {
        let error = parse_err(b"\x16\x03\x01\x02\x00 TLS hello\r\n\r\n");
        assert!(matches!(error, HandshakeError::Malformed(_)), "{error:?}");
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn parse_rejects_oversized_head() {
        let filler = format!("X-Filler: {}", "a".repeat(MAX_REQUEST_HEAD_LEN));
        let bytes = valid_with(&[&filler]);
        let expected = HandshakeError::RequestTooLarge {
            max: MAX_REQUEST_HEAD_LEN,
            unit: "bytes",
        };
        assert_eq!(parse_err(&bytes), expected);
        // The limit also applies while the head is still incomplete.
        assert_eq!(parse_err(&bytes[..MAX_REQUEST_HEAD_LEN]), expected);
        assert_eq!(expected.status(), 431);
    }

    #[test]
    fn parse_rejects_too_many_headers() {
        let extra: Vec<String> = (0..MAX_REQUEST_HEADERS)
            .map(|i| format!("X-Extra-{i}: 1"))
            .collect();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let error = parse_err(&valid_with(&extra));
        assert_eq!(
            error,
            HandshakeError::RequestTooLarge {
                max: MAX_REQUEST_HEADERS,
                unit: "headers"
            }
        );
    }

    #[test]
    fn query_param_decodes_values() {
        let bytes = valid_with(&[]);
        let mut request = parse_upgrade_request(&bytes).unwrap().unwrap();
        assert_eq!(request.query_param("token").as_deref(), Some("a+b"));
        assert_eq!(request.query_param("room").as_deref(), Some("x y"));
        assert_eq!(request.query_param("missing"), None);

        request.query = Some("flag&bad=%zz%4&name%3D=%E2%82%AC&dup=1&dup=2".into());
        assert_eq!(request.query_param("flag").as_deref(), Some(""));
        assert_eq!(request.query_param("bad").as_deref(), Some("%zz%4"));
        assert_eq!(request.query_param("name=").as_deref(), Some("€"));
        assert_eq!(request.query_param("dup").as_deref(), Some("1"));

        request.query = None;
        assert_eq!(request.query_param("token"), None);
    }

    #[test]
    fn switching_protocols_with_subprotocol() {
        let response = String::from_utf8(switching_protocols_response(RFC_KEY, Some("sb.v1")));
        let expected = "HTTP/1.1 101 Switching Protocols\r\n\
                        Upgrade: websocket\r\n\
                        Connection: Upgrade\r\n\
                        Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\
                        Sec-WebSocket-Protocol: sb.v1\r\n\r\n";
        assert_eq!(response.unwrap(), expected);
    }

    #[test]
    fn switching_protocols_without_subprotocol() {
        let response = String::from_utf8(switching_protocols_response(RFC_KEY, None)).unwrap();
        assert!(!response.contains("Sec-WebSocket-Protocol"));
        assert!(response.ends_with("\r\n\r\n"));
    }

    #[test]
    fn http_error_layout() {
        let response = http_error(404, "no such path /x", &[("X-Reason", "path")]);
        let expected = "HTTP/1.1 404 Not Found\r\n\
                        Content-Type: text/plain; charset=utf-8\r\n\
                        Content-Length: 16\r\n\
                        Connection: close\r\n\
                        X-Reason: path\r\n\
                        \r\n\
                        no such path /x\n";
        assert_eq!(String::from_utf8(response).unwrap(), expected);
    }

    #[test]
    fn http_error_reason_phrases() {
        let cases = [
            (400, "Bad Request"),
            (401, "Unauthorized"),
            (403, "Forbidden"),
            (404, "Not Found"),
            (405, "Method Not Allowed"),
            (408, "Request Timeout"),
            (426, "Upgrade Required"),
            (429, "Too Many Requests"),
            (431, "Request Header Fields Too Large"),
            (500, "Internal Server Error"),
            (503, "Service Unavailable"),
            (418, "Client Error"),
            (599, "Server Error"),
        ];
        for (status, phrase) in cases {
            let response = String::from_utf8(http_error(status, "x", &[])).unwrap();
            let status_line = response.split("\r\n").next().unwrap();
            assert_eq!(status_line, format!("HTTP/1.1 {status} {phrase}"));
        }
    }

    #[test]
    fn reason_phrase_never_empty() {
        for status in 100..=599 {
            assert!(!reason_phrase(status).is_empty(), "status {status}");
        }
    }

    #[test]
    #[should_panic(expected = "outside 100..=599")]
    fn http_error_rejects_invalid_status() {
        http_error(42, "bad", &[]);
    }

    #[test]
    #[should_panic(expected = "control character")]
    fn http_error_rejects_header_injection() {
        http_error(400, "bad", &[("X-A", "1\r\nSet-Cookie: x")]);
    }
}
