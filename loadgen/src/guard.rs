//! Loopback guard: resolves a `HOST:PORT` target, or an `http://HOST:PORT` REST address, and
//! rejects every address outside the loopback range, so a load run can only reach servers on
//! this machine.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// Reasons a target is rejected before any connection is made.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TargetError {
    /// The target has no `:PORT` part or the port is not a number.
    #[error("target {target:?} is invalid; use HOST:PORT, for example 127.0.0.1:8080")]
    Invalid {
        /// The target as given.
        target: String,
    },
    /// The host is neither a loopback address nor `localhost`.
    #[error(
        "target {target:?} is not a loopback address; loadgen only connects to 127.0.0.0/8, \
         ::1 or localhost"
    )]
    NotLoopback {
        /// The target as given.
        target: String,
    },
    /// A REST address has a scheme other than `http://`.
    #[error(
        "REST address {target:?} uses {scheme}://, but loadgen sends plain HTTP without TLS; \
         use http://HOST:PORT or HOST:PORT, for example 127.0.0.1:8081"
    )]
    UnsupportedScheme {
        /// The address as given.
        target: String,
        /// The scheme as given, without `://`.
        scheme: String,
    },
    /// A REST address has a path, query or fragment after `HOST:PORT`.
    #[error(
        "REST address {target:?} has a path; loadgen sends its requests to /v1 at the server \
         root, so use http://HOST:PORT or HOST:PORT"
    )]
    HasPath {
        /// The address as given.
        target: String,
    },
    /// `localhost` resolved to no loopback address.
    #[error("target {target:?} did not resolve to a loopback address; use 127.0.0.1 instead")]
    Unresolved {
        /// The target as given.
        target: String,
    },
}

/// Resolves `target` (`HOST:PORT`, with `[::1]:PORT` for IPv6) to a loopback socket address.
///
/// Only literal loopback addresses and the name `localhost` are accepted, and a name is
/// accepted only when it resolves to a loopback address. IPv4 is preferred for `localhost`.
///
/// # Errors
/// [`TargetError`] naming the target when it is malformed or not loopback.
pub fn resolve_loopback(target: &str) -> Result<SocketAddr, TargetError> {
    resolve_host_port(target, target)
}

/// Resolves a REST server address to a loopback socket address. The address is `HOST:PORT`
/// or `http://HOST:PORT`, and may end in `/`.
///
/// # Errors
/// [`TargetError`] naming the address when it has a scheme other than `http`, has a path,
/// or fails [`resolve_loopback`].
pub fn resolve_loopback_http(address: &str) -> Result<SocketAddr, TargetError> {
    let host_port = match address.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => {
            return Err(TargetError::UnsupportedScheme {
                target: address.to_string(),
                scheme: scheme.to_string(),
            })
        }
        None => address,
    };
    let host_port = host_port.trim_end_matches('/');
    if host_port.contains(['/', '?', '#']) {
        return Err(TargetError::HasPath {
            target: address.to_string(),
        });
    }
    resolve_host_port(address, host_port)
}

/// Resolves `host_port` and names `target`, the value as the user gave it, in errors.
fn resolve_host_port(target: &str, host_port: &str) -> Result<SocketAddr, TargetError> {
    if let Ok(addr) = host_port.parse::<SocketAddr>() {
        return check_ip(target, addr);
    }
    let Some((host, port)) = host_port.rsplit_once(':') else {
        return Err(TargetError::Invalid {
            target: target.to_string(),
        });
    };
    let Ok(port) = port.parse::<u16>() else {
        return Err(TargetError::Invalid {
            target: target.to_string(),
        });
    };
    if !host.eq_ignore_ascii_case("localhost") {
        return Err(TargetError::NotLoopback {
            target: target.to_string(),
        });
    }
    resolve_localhost(target, port)
}

/// Checks whether `ip` is in 127.0.0.0/8 or is `::1`.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback(),
    }
}

fn check_ip(target: &str, addr: SocketAddr) -> Result<SocketAddr, TargetError> {
    if is_loopback(addr.ip()) {
        Ok(addr)
    } else {
        Err(TargetError::NotLoopback {
            target: target.to_string(),
        })
    }
}

fn resolve_localhost(target: &str, port: u16) -> Result<SocketAddr, TargetError> {
    let unresolved = || TargetError::Unresolved {
        target: target.to_string(),
    };
    let addrs: Vec<SocketAddr> = ("localhost", port)
        .to_socket_addrs()
        .map_err(|_| unresolved())?
        .filter(|addr| is_loopback(addr.ip()))
        .collect();
    addrs
        .iter()
        .find(|addr| addr.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(unresolved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_v4_accepted() {
        let addr = resolve_loopback("127.0.0.1:8080").unwrap();
        assert_eq!(addr, "127.0.0.1:8080".parse().unwrap());
        let addr = resolve_loopback("127.12.0.9:1").unwrap();
        assert_eq!(addr.ip().to_string(), "127.12.0.9");
    }

    #[test]
    fn loopback_v6_accepted() {
        let addr = resolve_loopback("[::1]:9000").unwrap();
        assert!(addr.is_ipv6());
        assert_eq!(addr.port(), 9000);
    }

    #[test]
    fn localhost_resolves_to_loopback() {
        let addr = resolve_loopback("localhost:8080").unwrap();
        assert!(is_loopback(addr.ip()));
        assert_eq!(addr.port(), 8080);
    }

    #[test]
    fn remote_addresses_rejected() {
        for target in [
            "10.0.0.1:80",
            "192.168.1.1:8080",
            "0.0.0.0:8080",
            "8.8.8.8:53",
            "[::]:80",
            "[2001:db8::1]:80",
            "169.254.169.254:80",
            "example.com:80",
        ] {
            let error = resolve_loopback(target).unwrap_err();
            assert_eq!(
                error,
                TargetError::NotLoopback {
                    target: target.to_string()
                },
                "{target}"
            );
            assert!(error.to_string().contains(target));
        }
    }

    #[test]
    fn http_address_forms_accepted() {
        let expected: SocketAddr = "127.0.0.1:18151".parse().unwrap();
        for address in [
            "127.0.0.1:18151",
            "127.0.0.1:18151/",
            "http://127.0.0.1:18151",
            "http://127.0.0.1:18151/",
            "HTTP://127.0.0.1:18151",
        ] {
            assert_eq!(resolve_loopback_http(address), Ok(expected), "{address}");
        }
        let addr = resolve_loopback_http("http://[::1]:8081/").unwrap();
        assert!(addr.is_ipv6());
        let addr = resolve_loopback_http("http://localhost:8081").unwrap();
        assert!(is_loopback(addr.ip()));
    }

    #[test]
    fn http_address_rejects_https() {
        let error = resolve_loopback_http("https://127.0.0.1:8081").unwrap_err();
        assert_eq!(
            error,
            TargetError::UnsupportedScheme {
                target: "https://127.0.0.1:8081".into(),
                scheme: "https".into()
            }
        );
        let message = error.to_string();
        assert!(message.contains("without TLS"), "{message}");
        assert!(message.contains("http://HOST:PORT"), "{message}");

        let error = resolve_loopback_http("ws://127.0.0.1:8081").unwrap_err();
        assert!(matches!(error, TargetError::UnsupportedScheme { .. }));
    }

    #[test]
    fn http_address_rejects_path() {
        for address in [
            "http://127.0.0.1:8081/api",
            "127.0.0.1:8081/v1",
            "127.0.0.1:8081?x",
        ] {
            let error = resolve_loopback_http(address).unwrap_err();
            assert_eq!(
                error,
                TargetError::HasPath {
                    target: address.into()
                },
                "{address}"
            );
        }
    }

    #[test]
    fn http_address_still_loopback_only() {
        for address in [
            "http://10.0.0.1:8081",
            "http://169.254.169.254:80/",
            "example.com:80",
        ] {
            let error = resolve_loopback_http(address).unwrap_err();
            assert_eq!(
                error,
                TargetError::NotLoopback {
                    target: address.into()
                },
                "{address}"
            );
        }
        let error = resolve_loopback_http("http://127.0.0.1").unwrap_err();
        assert_eq!(
            error,
            TargetError::Invalid {
                target: "http://127.0.0.1".into()
            }
        );
    }

    #[test]
    fn malformed_targets_rejected() {
        for target in ["127.0.0.1", "localhost:http", "localhost:70000", ""] {
            let error = resolve_loopback(target).unwrap_err();
            assert!(
                matches!(error, TargetError::Invalid { .. }),
                "{target}: {error:?}"
            );
        }
    }
}
