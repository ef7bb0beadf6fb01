//! State shared by the connection tasks of one worker thread: the target, the thread's
//! totals, the live counters the worker reports as progress, and the phase signal from the
//! coordinator.

use std::cell::{RefCell, RefMut};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use monoio::io::Splitable;
use monoio::net::tcp::TcpOwnedReadHalf;
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::machine::unix_now_ns;
use crate::net::{self, Outbox, SourcePool, UpgradeError, UpgradeRequest, WsReader};
use crate::stats::{self, Cause, Totals};

/// Phase of a run, set by the coordinator for all workers at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Phase {
    /// Opening connections.
    Connecting,
    /// Every worker is connected; the measured phase runs.
    Running,
    /// Every worker finished the measured phase; check results and close.
    Finishing,
}

/// Counters of a worker, shared by its threads and printed as progress.
#[derive(Debug, Default)]
pub struct LiveCounters {
    pub attempted: AtomicU64,
    pub established: AtomicU64,
    pub failed: AtomicU64,
    pub lost: AtomicU64,
    pub sent: AtomicU64,
    pub received: AtomicU64,
    pub errors: AtomicU64,
}

impl LiveCounters {
    /// Adds one to `counter`.
    pub fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Returns a copy of every counter.
    pub fn snapshot(&self) -> Progress {
        let read = |counter: &AtomicU64| counter.load(Ordering::Relaxed);
        Progress {
            attempted: read(&self.attempted),
            established: read(&self.established),
            failed: read(&self.failed),
            lost: read(&self.lost),
            sent: read(&self.sent),
            received: read(&self.received),
            errors: read(&self.errors),
        }
    }
}

/// Cumulative counters of one worker or of the whole run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub attempted: u64,
    pub established: u64,
    pub failed: u64,
    pub lost: u64,
    pub sent: u64,
    pub received: u64,
    pub errors: u64,
}

impl Progress {
    /// Adds another worker's counters.
    pub fn add(&mut self, other: &Progress) {
        self.attempted += other.attempted;
        self.established += other.established;
        self.failed += other.failed;
        self.lost += other.lost;
        self.sent += other.sent;
        self.received += other.received;
        self.errors += other.errors;
    }
}

/// Worker-wide signals shared by the threads of one worker.
#[derive(Debug, Clone)]
pub struct WorkerSignals {
    pub live: Arc<LiveCounters>,
    pub phase: watch::Receiver<Phase>,
    /// Threads that finished connecting.
    pub ready: Arc<AtomicUsize>,
    /// Threads that finished the measured phase.
    pub run_done: Arc<AtomicUsize>,
}

/// Address, path, source addresses and timeout for opening connections.
#[derive(Debug, Clone)]
pub struct Target {
    pub addr: SocketAddr,
    /// `Host` header value.
    pub host: String,
    pub path: String,
    pub sources: SourcePool,
    pub connect_timeout: Duration,
}

/// An open WebSocket connection, upgraded but not yet read from.
pub struct OpenConnection {
    pub reader: WsReader<TcpOwnedReadHalf>,
    pub outbox: Outbox,
    pub writer: monoio::task::JoinHandle<u64>,
}

/// Context of one worker thread, shared by its tasks through an `Rc`.
pub struct ThreadContext {
    pub target: Target,
    pub signals: WorkerSignals,
    totals: RefCell<Totals>,
}

impl ThreadContext {
    /// Creates the context of one thread.
    pub fn new(target: Target, signals: WorkerSignals) -> Rc<Self> {
        Rc::new(Self {
            target,
            signals,
            totals: RefCell::new(Totals::default()),
        })
    }

    /// Borrows the thread's totals. Never hold the borrow across an await.
    pub fn totals(&self) -> RefMut<'_, Totals> {
        self.totals.borrow_mut()
    }

    /// Returns the thread's totals, leaving empty ones behind.
    pub fn take_totals(&self) -> Totals {
        std::mem::take(&mut *self.totals.borrow_mut())
    }

    /// Returns the live counters of the worker.
    pub fn live(&self) -> &LiveCounters {
        &self.signals.live
    }

    /// Opens connection `index` (numbered across the run, which picks its source address)
    /// and upgrades it, within the connect timeout. Counts the attempt.
    ///
    /// # Errors
    /// The [`Cause`] of the failure.
    pub async fn open(&self, index: u64, bearer: Option<&str>) -> Result<OpenConnection, Cause> {
        self.count_attempt();
        let target = &self.target;
        let source = target.sources.address(index, target.addr);
        let opening = async {
            let mut stream = net::connect_from(target.addr, source)
                .await
                .map_err(|error| Cause::from_io(&error))?;
            let request = UpgradeRequest {
                host: &target.host,
                path: &target.path,
                bearer,
            };
            let leftover = net::upgrade(&mut stream, &request)
                .await
                .map_err(upgrade_cause)?;
            Ok::<_, Cause>((stream, leftover))
        };
        let (stream, leftover) = match monoio::time::timeout(target.connect_timeout, opening).await
        {
            Ok(result) => result?,
            Err(_) => return Err(Cause::Timeout),
        };
        Ok(split(stream, leftover))
    }

    /// Counts one connection attempt and stamps the first one.
    fn count_attempt(&self) {
        LiveCounters::bump(&self.live().attempted);
        let mut totals = self.totals();
        totals.connections.attempted += 1;
        totals
            .timing
            .connect_start_ns
            .get_or_insert_with(unix_now_ns);
    }

    /// Counts an established connection and records its handshake latency.
    pub fn count_established(&self, started: Instant) {
        LiveCounters::bump(&self.live().established);
        let mut totals = self.totals();
        totals.connections.established += 1;
        totals.histogram(stats::HANDSHAKE).record(started.elapsed());
        totals.timing.connect_end_ns = Some(unix_now_ns());
    }

    /// Counts a failed open by cause.
    pub fn count_failed(&self, cause: &Cause) {
        LiveCounters::bump(&self.live().failed);
        tracing::debug!(%cause, "connection failed to open");
        stats::count_cause(&mut self.totals().connections.failed, cause);
    }

    /// Counts an established connection that ended before the tool closed it.
    pub fn count_lost(&self, cause: &Cause) {
        LiveCounters::bump(&self.live().lost);
        tracing::debug!(%cause, "open connection lost");
        stats::count_cause(&mut self.totals().connections.lost, cause);
    }

    /// Reports that this thread finished connecting, then waits for the measured phase.
    pub async fn ready_then_wait_for_run(&self) {
        self.signals.ready.fetch_add(1, Ordering::SeqCst);
        self.wait_for(Phase::Running).await;
    }

    /// Reports that this thread finished the measured phase, then waits for the final one.
    pub async fn run_done_then_wait_for_finish(&self) {
        self.signals.run_done.fetch_add(1, Ordering::SeqCst);
        self.wait_for(Phase::Finishing).await;
    }

    /// Waits until the coordinator's phase reaches `phase`. Returns at once if the worker's
    /// control channel closed, so a lost coordinator ends the run.
    pub async fn wait_for(&self, phase: Phase) {
        let mut receiver = self.signals.phase.clone();
        let _ = receiver.wait_for(|current| *current >= phase).await;
    }

    /// Checks whether the coordinator's phase has reached `phase`.
    pub fn phase_reached(&self, phase: Phase) -> bool {
        *self.signals.phase.borrow() >= phase
    }
}

fn split(stream: monoio::net::TcpStream, leftover: BytesMut) -> OpenConnection {
    let (read_half, write_half) = stream.into_split();
    let (outbox, writer) = net::spawn_writer(write_half);
    OpenConnection {
        reader: WsReader::new(read_half, leftover),
        outbox,
        writer,
    }
}

fn upgrade_cause(error: UpgradeError) -> Cause {
    match error {
        UpgradeError::Io(error) => Cause::from_io(&error),
        UpgradeError::Eof => Cause::Eof,
        UpgradeError::Status(status) => Cause::HttpStatus(status),
        UpgradeError::Invalid(reason) => {
            tracing::debug!(%reason, "invalid upgrade response");
            Cause::Protocol
        }
    }
}
