//! Protocol version negotiation through the WebSocket subprotocol header.
//!
//! A client offers `switchboard.v<N>` subprotocols; the server picks the highest one it
//! supports. A client that offers none gets version 1 and no subprotocol in the response.
//! Browsers, which cannot set headers, may also offer `bearer.<token>`; that entry carries the
//! token and is never selected.

/// Highest protocol version this build speaks.
pub const PROTOCOL_VERSION: u32 = 1;

/// Lowest protocol version this build speaks.
pub const MIN_PROTOCOL_VERSION: u32 = 1;

/// Prefix of the subprotocols that name a protocol version.
pub const SUBPROTOCOL_PREFIX: &str = "switchboard.v";

/// Prefix of the subprotocol that carries a bearer token.
pub const TOKEN_SUBPROTOCOL_PREFIX: &str = "bearer.";

/// Outcome of a successful negotiation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// Version the session speaks.
    pub version: u32,
    /// Subprotocol to echo in `Sec-WebSocket-Protocol`, if the client offered one.
    pub subprotocol: Option<String>,
}

/// Rejection of every offered version.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "none of the offered protocol versions {offered:?} is supported; offer {supported}",
    supported = supported_versions()
)]
pub struct VersionError {
    /// The versioned subprotocols the client offered.
    pub offered: Vec<String>,
}

/// Lists the versioned subprotocols this build accepts, for error messages.
fn supported_versions() -> String {
    (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION)
        .map(|version| format!("{SUBPROTOCOL_PREFIX}{version}"))
        .collect::<Vec<_>>()
        .join(" or ")
}

/// Picks the protocol version from the values of `Sec-WebSocket-Protocol`.
///
/// # Errors
/// [`VersionError`] when the client offered versioned subprotocols but none is supported.
pub fn negotiate<'a>(
    offered: impl IntoIterator<Item = &'a str>,
) -> Result<Negotiated, VersionError> {
    let versioned: Vec<&str> = offered
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|name| name.starts_with(SUBPROTOCOL_PREFIX))
        .collect();
    if versioned.is_empty() {
        return Ok(Negotiated {
            version: PROTOCOL_VERSION,
            subprotocol: None,
        });
    }

    let best = versioned
        .iter()
        .filter_map(|name| name[SUBPROTOCOL_PREFIX.len()..].parse::<u32>().ok())
        .filter(|version| (MIN_PROTOCOL_VERSION..=PROTOCOL_VERSION).contains(version))
        .max();
    match best {
        Some(version) => Ok(Negotiated {
            version,
            subprotocol: Some(format!("{SUBPROTOCOL_PREFIX}{version}")),
        }),
        None => Err(VersionError {
            offered: versioned.iter().map(|name| name.to_string()).collect(),
        }),
    }
}

/// Finds a bearer token offered as a `bearer.<token>` subprotocol.
pub fn token_from_subprotocols<'a>(offered: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    offered
        .into_iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .find_map(|name| name.strip_prefix(TOKEN_SUBPROTOCOL_PREFIX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_offer_defaults_to_current() {
        let negotiated = negotiate([]).unwrap();
        assert_eq!(negotiated.version, PROTOCOL_VERSION);
        assert_eq!(negotiated.subprotocol, None);
    }

    #[test]
    fn highest_supported_is_picked() {
        let negotiated = negotiate(["switchboard.v9, switchboard.v1", "bearer.abc"]).unwrap();
        assert_eq!(negotiated.version, 1);
        assert_eq!(negotiated.subprotocol.as_deref(), Some("switchboard.v1"));
    }

    #[test]
    fn unsupported_only_rejected() {
        let error = negotiate(["switchboard.v9"]).unwrap_err();
        assert_eq!(error.offered, vec!["switchboard.v9".to_string()]);
        assert!(
            error.to_string().ends_with("offer switchboard.v1"),
            "{error}"
        );
    }

    #[test]
    fn token_found_in_list() {
        let token = token_from_subprotocols(["switchboard.v1, bearer.a.b.c"]);
        assert_eq!(token, Some("a.b.c"));
    }
}
