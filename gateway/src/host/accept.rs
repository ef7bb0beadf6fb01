//! The life of one shard thread: a monoio runtime that accepts connections on the shard's
//! listener until a drain is requested, then closes every session and waits for the writers
//! to flush their close frames.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use monoio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tracing::{info, warn};

use super::SessionHost;

/// Runs a shard on the current thread until a drain completes.
///
/// Every accepted connection gets its own task, `serve(host, stream, peer)`. `background`
/// builds one more task that runs beside the accept loop, such as the receiver of pushes
/// from other threads. The drain starts when `drain` changes or its sender is dropped.
///
/// # Errors
/// When the monoio runtime or the listener cannot be set up.
pub(crate) fn run_shard<H, B, S, F>(
    host: H,
    listener: std::net::TcpListener,
    drain: watch::Receiver<bool>,
    background: impl FnOnce(Rc<H>) -> B,
    serve: S,
) -> io::Result<()>
where
    H: SessionHost + 'static,
    B: Future<Output = ()> + 'static,
    S: Fn(Rc<H>, TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + 'static,
{
    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()?;
    runtime.block_on(async move {
        let listener = TcpListener::from_std(listener)?;
        let host = Rc::new(host);
        info!(
            shard = host.state().index,
            io_uring = monoio::utils::detect_uring(),
            "shard started"
        );

        monoio::spawn(background(host.clone()));
        accept_until_drain(&host, listener, drain, serve).await;
        finish_drain(&*host).await;
        info!(shard = host.state().index, "shard stopped");
        Ok(())
    })
}

/// Accepts connections until the drain flag changes or its sender is dropped.
async fn accept_until_drain<H, S, F>(
    host: &Rc<H>,
    listener: TcpListener,
    mut drain: watch::Receiver<bool>,
    serve: S,
) where
    H: SessionHost,
    S: Fn(Rc<H>, TcpStream, SocketAddr) -> F,
    F: Future<Output = ()> + 'static,
{
    loop {
        monoio::select! {
            _ = drain.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    monoio::spawn(serve(host.clone(), stream, peer));
                }
                Err(error) => {
                    // EMFILE and friends: back off instead of spinning on the error.
                    warn!(shard = host.state().index, %error, "accept failed; retrying in 10 ms");
                    monoio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        }
    }
}

/// Closes every session for the drain and waits up to the host's drain timeout for their
/// writers to finish.
async fn finish_drain<H: SessionHost>(host: &H) {
    info!(
        shard = host.state().index,
        sessions = host.state().sessions.len(),
        "draining sessions"
    );
    host.close_all_for_drain();
    let deadline = Instant::now() + host.state().drain_timeout;
    let open_writers = &host.state().open_writers;
    while open_writers.get() > 0 && Instant::now() < deadline {
        monoio::time::sleep(Duration::from_millis(10)).await;
    }
    if open_writers.get() > 0 {
        warn!(
            shard = host.state().index,
            writers = open_writers.get(),
            "drain timed out with sessions still flushing"
        );
    }
}
