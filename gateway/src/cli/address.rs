//! Parsers of the `--rest` and `--ws` server addresses. Both accept a full URL or a bare
//! `HOST:PORT`, and return the normalized URL that the clients connect to.

use reqwest::Url;

/// Path of the WebSocket endpoint in the server's default configuration.
const DEFAULT_WS_PATH: &str = "/ws";

const REST_FORM: &str = "use http://HOST:PORT or HOST:PORT, such as 127.0.0.1:8081";
const WS_FORM: &str = "use ws://HOST:PORT/PATH or HOST:PORT, such as 127.0.0.1:8080/ws";

/// Parses `--rest`. A value without a scheme gets `http://`, and trailing slashes are
/// removed, so `127.0.0.1:8081` becomes `http://127.0.0.1:8081`.
///
/// # Errors
/// If the value is not an `http://` URL with a host, or has a query or fragment. The REST
/// client has no TLS, so `https://` is rejected too.
pub fn parse_rest_url(value: &str) -> Result<String, String> {
    let url = parse_with_default_scheme(value, "http", REST_FORM)?;
    match url.scheme() {
        "http" => {}
        "https" => {
            return Err(format!(
                "https is not supported, because this client has no TLS; {REST_FORM}"
            ))
        }
        other => return Err(format!("scheme {other}:// is not supported; {REST_FORM}")),
    }
    check_host_only(&url, REST_FORM)?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Parses `--ws`. A value without a scheme gets `ws://`, and a value without a path gets
/// `/ws`, so `127.0.0.1:8080` becomes `ws://127.0.0.1:8080/ws`.
///
/// # Errors
/// If the value is not a `ws://` URL with a host, or has a fragment. The WebSocket client
/// has no TLS, so `wss://` is rejected too.
pub fn parse_ws_url(value: &str) -> Result<String, String> {
    let mut url = parse_with_default_scheme(value, "ws", WS_FORM)?;
    match url.scheme() {
        "ws" => {}
        "wss" => {
            return Err(format!(
                "wss is not supported, because this client has no TLS; {WS_FORM}"
            ))
        }
        other => return Err(format!("scheme {other}:// is not supported; {WS_FORM}")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("the URL has no host; {WS_FORM}"));
    }
    if url.fragment().is_some() {
        return Err(format!(
            "a WebSocket URL cannot have a #fragment; {WS_FORM}"
        ));
    }
    if !has_explicit_path(value) {
        url.set_path(DEFAULT_WS_PATH);
    }
    Ok(url.into())
}

/// Parses `value` as a URL, putting `default_scheme://` in front when it has no scheme.
fn parse_with_default_scheme(value: &str, default_scheme: &str, form: &str) -> Result<Url, String> {
    if value.trim().is_empty() {
        return Err(format!("the address is empty; {form}"));
    }
    let text = if value.contains("://") {
        value.to_owned()
    } else {
        format!("{default_scheme}://{value}")
    };
    Url::parse(&text).map_err(|error| format!("{error}; {form}"))
}

/// Checks that a base URL has a host and neither a query nor a fragment, because request
/// paths are appended to it.
fn check_host_only(url: &Url, form: &str) -> Result<(), String> {
    if url.host_str().is_none_or(str::is_empty) {
        return Err(format!("the URL has no host; {form}"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "a base URL cannot have a ?query or #fragment; {form}"
        ));
    }
    Ok(())
}

/// Returns whether a `/` follows the host and port of `value`, with or without a scheme.
fn has_explicit_path(value: &str) -> bool {
    let after_scheme = value.split_once("://").map_or(value, |(_, rest)| rest);
    after_scheme
        .find(['/', '?', '#'])
        .is_some_and(|index| after_scheme[index..].starts_with('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rest_url_accepts_both_forms() {
        let cases = [
            ("127.0.0.1:18081", "http://127.0.0.1:18081"),
            ("http://127.0.0.1:18081", "http://127.0.0.1:18081"),
            ("http://127.0.0.1:18081/", "http://127.0.0.1:18081"),
            ("127.0.0.1:18081/", "http://127.0.0.1:18081"),
            ("localhost:8081", "http://localhost:8081"),
            ("[::1]:8081", "http://[::1]:8081"),
            ("http://127.0.0.1", "http://127.0.0.1"),
            ("http://127.0.0.1:8081/api", "http://127.0.0.1:8081/api"),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_rest_url(value).as_deref(), Ok(expected), "{value}");
        }
    }

    #[test]
    fn rest_url_rejects_https() {
        let error = parse_rest_url("https://127.0.0.1:8081").unwrap_err();
        assert!(error.contains("https is not supported"), "{error}");
        assert!(error.contains("http://HOST:PORT"), "{error}");
    }

    #[test]
    fn rest_url_rejects_invalid_values() {
        let cases = [
            ("", "empty"),
            ("  ", "empty"),
            ("ws://127.0.0.1:8081", "scheme ws://"),
            ("http://127.0.0.1:8081?x=1", "?query"),
            ("http://127.0.0.1:8081#top", "#fragment"),
            ("127.0.0.1:99999", "invalid port"),
            ("http://", "empty host"),
        ];
        for (value, expected) in cases {
            let error = parse_rest_url(value).expect_err(value);
            assert!(error.contains(expected), "{value}: {error}");
            assert!(error.contains("HOST:PORT"), "{value}: {error}");
        }
    }

    #[test]
    fn ws_url_accepts_both_forms() {
        let cases = [
            ("127.0.0.1:18080", "ws://127.0.0.1:18080/ws"),
            ("ws://127.0.0.1:18080", "ws://127.0.0.1:18080/ws"),
            ("ws://127.0.0.1:18080/ws", "ws://127.0.0.1:18080/ws"),
            ("127.0.0.1:18080/chat", "ws://127.0.0.1:18080/chat"),
            ("ws://127.0.0.1:18080/", "ws://127.0.0.1:18080/"),
            ("ws://127.0.0.1:18080?v=1", "ws://127.0.0.1:18080/ws?v=1"),
            ("[::1]:8080", "ws://[::1]:8080/ws"),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_ws_url(value).as_deref(), Ok(expected), "{value}");
        }
    }

    #[test]
    fn ws_url_rejects_invalid_values() {
        let cases = [
            ("", "empty"),
            ("wss://127.0.0.1:8080/ws", "wss is not supported"),
            ("http://127.0.0.1:8080/ws", "scheme http://"),
            ("ws://127.0.0.1:8080/ws#x", "#fragment"),
            ("ws://", "empty host"),
        ];
        for (value, expected) in cases {
            let error = parse_ws_url(value).expect_err(value);
            assert!(error.contains(expected), "{value}: {error}");
            assert!(error.contains("HOST:PORT"), "{value}: {error}");
        }
    }
}
