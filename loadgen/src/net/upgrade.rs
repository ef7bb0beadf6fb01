//! Client side of the HTTP/1.1 upgrade: sends the request with a random key, reads the
//! response head and checks the status and `Sec-WebSocket-Accept`.

use base64::Engine as _;
use bytes::BytesMut;
use monoio::io::{AsyncReadRent, AsyncWriteRent, AsyncWriteRentExt};
use switchboard_gateway::ws::accept_key;

use super::reader::read_more;

/// Largest response head accepted, in bytes.
const MAX_RESPONSE_HEAD_BYTES: usize = 16 * 1024;

/// Most response headers parsed.
const MAX_RESPONSE_HEADERS: usize = 32;

/// Header values of the upgrade request.
#[derive(Debug, Clone)]
pub struct UpgradeRequest<'a> {
    /// Value of the `Host` header.
    pub host: &'a str,
    /// Request path, with any query.
    pub path: &'a str,
    /// Token sent as `Authorization: Bearer`.
    pub bearer: Option<&'a str>,
}

/// Reasons an upgrade fails.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    /// Reading or writing the socket failed.
    #[error("upgrade IO failed: {0}")]
    Io(#[from] std::io::Error),
    /// The server closed the connection before the response head was complete.
    #[error("server closed the connection during the upgrade")]
    Eof,
    /// The server responded with a status other than 101.
    #[error("server responded to the upgrade with HTTP {0}")]
    Status(u16),
    /// The response is not valid HTTP or lacks the right `Sec-WebSocket-Accept`.
    #[error("invalid upgrade response: {0}")]
    Invalid(String),
}

/// Performs the upgrade on `stream`. Returns the bytes read past the response head, which
/// are already WebSocket frames.
///
/// # Errors
/// [`UpgradeError`] for IO errors, an early close, a non-101 status or a bad response.
pub async fn upgrade<S: AsyncReadRent + AsyncWriteRent>(
    stream: &mut S,
    request: &UpgradeRequest<'_>,
) -> Result<BytesMut, UpgradeError> {
    let key = base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; 16]>());
    let (written, _) = stream
        .write_all(request_text(request, &key).into_bytes())
        .await;
    written?;

    let mut buf = BytesMut::with_capacity(1024);
    loop {
        if let Some(head_len) = parse_response(&buf, &key)? {
            let _ = buf.split_to(head_len);
            return Ok(buf);
        }
        if buf.len() > MAX_RESPONSE_HEAD_BYTES {
            return Err(UpgradeError::Invalid(format!(
                "response head exceeds {MAX_RESPONSE_HEAD_BYTES} bytes"
            )));
        }
        let (read, returned) = read_more(stream, buf).await;
        buf = returned;
        if read? == 0 {
            return Err(UpgradeError::Eof);
        }
    }
}

fn request_text(request: &UpgradeRequest<'_>, key: &str) -> String {
    let mut text = format!(
        "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n",
        request.path, request.host
    );
    if let Some(token) = request.bearer {
        text.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    text.push_str("\r\n");
    text
}

/// Parses the response head in `buf`. Returns its length once complete, `None` while
/// incomplete.
fn parse_response(buf: &[u8], key: &str) -> Result<Option<usize>, UpgradeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_RESPONSE_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(error) => return Err(UpgradeError::Invalid(error.to_string())),
    };
    let status = response.code.unwrap_or(0);
    if status != 101 {
        return Err(UpgradeError::Status(status));
    }
    let accept = response
        .headers
        .iter()
        .find(|header| header.name.eq_ignore_ascii_case("sec-websocket-accept"))
        .map(|header| header.value);
    if accept != Some(accept_key(key).as_bytes()) {
        return Err(UpgradeError::Invalid(
            "Sec-WebSocket-Accept is missing or does not match the key".to_string(),
        ));
    }
    Ok(Some(head_len))
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

    #[test]
    fn switching_protocols_accepted_with_leftover() {
        let mut response = switchboard_gateway::ws::switching_protocols_response(KEY, None);
        let head_len = response.len();
        response.extend_from_slice(b"\x82\x00");
        assert_eq!(parse_response(&response, KEY).unwrap(), Some(head_len));
    }

    #[test]
    fn partial_head_waits() {
        let response = switchboard_gateway::ws::switching_protocols_response(KEY, None);
        let partial = &response[..response.len() - 3];
        assert_eq!(parse_response(partial, KEY).unwrap(), None);
    }

    #[test]
    fn error_status_reported() {
        let response = switchboard_gateway::ws::http_error(401, "invalid token", &[]);
        let error = parse_response(&response, KEY).unwrap_err();
        assert!(matches!(error, UpgradeError::Status(401)), "{error:?}");
    }

    #[test]
    fn wrong_accept_rejected() {
        let response = switchboard_gateway::ws::switching_protocols_response("other", None);
        let error = parse_response(&response, KEY).unwrap_err();
        assert!(matches!(error, UpgradeError::Invalid(_)), "{error:?}");
    }

    #[test]
    fn request_carries_bearer() {
        let request = UpgradeRequest {
            host: "127.0.0.1:8080",
            path: "/ws",
            bearer: Some("abc"),
        };
        let text = request_text(&request, KEY);
        assert!(text.starts_with("GET /ws HTTP/1.1\r\n"));
        assert!(text.contains("Authorization: Bearer abc\r\n"));
        assert!(text.ends_with("\r\n\r\n"));
        let parsed = switchboard_gateway::ws::parse_upgrade_request(text.as_bytes())
            .unwrap()
            .unwrap();
        assert_eq!(parsed.key, KEY);
    }
}
