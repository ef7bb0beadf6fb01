//! TCP connections from a pool of loopback source addresses.
//!
//! Linux allows about 28,000 ephemeral ports per (source address, target) pair, so a run
//! with more connections spreads them over 127.0.0.2, 127.0.0.3 and upwards. Each socket
//! sets `IP_BIND_ADDRESS_NO_PORT` before binding its source address, so the kernel picks the
//! port at connect time from the full 4-tuple instead of reserving one per bind.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::{AsRawFd, BorrowedFd};

use serde::{Deserialize, Serialize};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

/// First source address of the pool; 127.0.0.1 is left to other local clients.
const FIRST_SOURCE: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 2);

/// Loopback source addresses, assigned to connections round-robin by connection index.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourcePool {
    /// Number of addresses from 127.0.0.2 upwards; 0 leaves the choice to the kernel.
    pub count: u32,
}

impl SourcePool {
    /// Returns the source address of connection `index` for `target`, or `None` when the
    /// kernel should choose: an empty pool or an IPv6 target, whose loopback is only `::1`.
    pub fn address(&self, index: u64, target: SocketAddr) -> Option<IpAddr> {
        if self.count == 0 || target.is_ipv6() {
            return None;
        }
        let offset = (index % u64::from(self.count)) as u32;
        Some(IpAddr::V4(Ipv4Addr::from(u32::from(FIRST_SOURCE) + offset)))
    }
}

/// Opens a TCP connection to `target`, bound to `source` when given, and hands it to the
/// current monoio runtime once connected.
///
/// # Errors
/// The socket error of the failing step; the connect error (refused, no free port) comes
/// from `SO_ERROR` once the socket becomes writable.
pub async fn connect_from(
    target: SocketAddr,
    source: Option<IpAddr>,
) -> io::Result<monoio::net::TcpStream> {
    let socket = Socket::new(
        Domain::for_address(target),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_nodelay(true)?;
    if let Some(ip) = source {
        set_bind_address_no_port(&socket)?;
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(error) if error.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(error) => return Err(error),
    }

    let stream = monoio::net::TcpStream::from_std(socket.into())?;
    stream.writable(false).await?;
    // SAFETY: the descriptor belongs to `stream`, which outlives this borrow.
    let fd = unsafe { BorrowedFd::borrow_raw(stream.as_raw_fd()) };
    if let Some(error) = SockRef::from(&fd).take_error()? {
        return Err(error);
    }
    Ok(stream)
}

/// Sets `IP_BIND_ADDRESS_NO_PORT`, which socket2 0.5 does not wrap.
fn set_bind_address_no_port(socket: &Socket) -> io::Result<()> {
    let enable: libc::c_int = 1;
    // SAFETY: the option value is a live c_int and its size is passed alongside.
    let result = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            std::ptr::addr_of!(enable).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if result == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_cycles_from_second_loopback_address() {
        let pool = SourcePool { count: 3 };
        let target: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let addresses: Vec<_> = (0..4).map(|index| pool.address(index, target)).collect();
        let expected = ["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.2"];
        for (address, expected) in addresses.iter().zip(expected) {
            assert_eq!(address.unwrap().to_string(), expected);
        }
    }

    #[test]
    fn pool_crosses_octet_boundary() {
        let pool = SourcePool { count: 300 };
        let target: SocketAddr = "127.0.0.1:80".parse().unwrap();
        assert_eq!(pool.address(254, target).unwrap().to_string(), "127.0.1.0");
    }

    #[test]
    fn empty_pool_and_ipv6_leave_choice_to_kernel() {
        let v4: SocketAddr = "127.0.0.1:80".parse().unwrap();
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(SourcePool { count: 0 }.address(5, v4), None);
        assert_eq!(SourcePool { count: 8 }.address(5, v6), None);
    }

    #[test]
    fn connects_from_pool_address() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        let source = SourcePool { count: 4 }.address(2, target);
        let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        let local = runtime.block_on(async move {
            let stream = connect_from(target, source).await.unwrap();
            stream.local_addr().unwrap()
        });
        let (_, peer) = listener.accept().unwrap();
        assert_eq!(local.ip().to_string(), "127.0.0.4");
        assert_eq!(peer, local);
    }

    #[test]
    fn refused_connection_reported() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let target = listener.local_addr().unwrap();
        drop(listener);
        let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        let error = runtime
            .block_on(connect_from(target, None))
            .expect_err("nothing listens on the port");
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);
    }
}
