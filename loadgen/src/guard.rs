//! Loopback guard: resolves a `HOST:PORT` target and rejects every address outside the
//! loopback range, so a load run can only reach servers on this machine.

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
    if let Ok(addr) = target.parse::<SocketAddr>() {
        return check_ip(target, addr);
    }
    let Some((host, port)) = target.rsplit_once(':') else {
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
