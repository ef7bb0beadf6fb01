//! A worker process: runs one monoio runtime per thread over its share of the connections,
//! follows the coordinator's commands on stdin and reports progress and totals as JSON
//! lines on stdout.

pub mod spec;

use std::io::{BufRead, Write};
use std::rc::Rc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use tokio::sync::watch;

use crate::scenario::context::{LiveCounters, Phase, Target, ThreadContext, WorkerSignals};
use crate::scenario::{self, Job};
use crate::stats::Totals;
use spec::{Command, WorkerEvent, WorkerSpec};

/// File descriptors a worker keeps for itself besides its connections: runtimes, pipes,
/// logs.
const RESERVED_FDS: u64 = 200;

/// How often the worker checks its threads.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Runs a worker to the end and prints its result. The spec comes from `spec_text`, or
/// from the first line of stdin when it is `-`; the following stdin lines are commands.
///
/// # Errors
/// When the spec is invalid, the file descriptor limit is too low, or a thread fails.
pub fn run(spec_text: &str) -> Result<()> {
    stop_with_parent();
    let mut stdin = std::io::stdin().lock();
    let spec_line = if spec_text == "-" {
        let mut line = String::new();
        stdin
            .read_line(&mut line)
            .context("reading the worker spec from stdin failed")?;
        line
    } else {
        spec_text.to_string()
    };
    drop(stdin);
    let spec: WorkerSpec =
        serde_json::from_str(&spec_line).context("the worker spec is not valid JSON")?;
    raise_fd_limit(spec.job.connections())?;
    run_spec(spec)
}

fn run_spec(spec: WorkerSpec) -> Result<()> {
    let (phase_tx, phase_rx) = watch::channel(Phase::Connecting);
    let signals = WorkerSignals {
        live: Arc::new(LiveCounters::default()),
        phase: phase_rx,
        ready: Arc::new(AtomicUsize::new(0)),
        run_done: Arc::new(AtomicUsize::new(0)),
    };
    std::thread::Builder::new()
        .name("commands".into())
        .spawn(move || follow_commands(phase_tx))
        .context("spawning the command reader failed")?;

    let threads = spawn_threads(&spec, &signals)?;
    report_until_done(&spec, &signals, &threads);

    let mut totals = Totals::default();
    for thread in threads {
        let thread_totals = match thread.join() {
            Ok(result) => result?,
            Err(_) => bail!("a worker thread panicked; see the message above"),
        };
        totals.merge(&thread_totals)?;
    }
    print_event(&WorkerEvent::Result(Box::new(totals)));
    Ok(())
}

fn spawn_threads(
    spec: &WorkerSpec,
    signals: &WorkerSignals,
) -> Result<Vec<JoinHandle<Result<Totals>>>> {
    let target = Target {
        addr: spec.target,
        host: spec.host.clone(),
        path: spec.path.clone(),
        sources: spec.sources,
        connect_timeout: Duration::from_millis(spec.connect_timeout_ms),
    };
    let mut threads = Vec::with_capacity(spec.threads);
    for thread in 0..spec.threads {
        let (target, signals, job) = (target.clone(), signals.clone(), spec.job.clone());
        let count = spec.threads;
        let handle = std::thread::Builder::new()
            .name(format!("loadgen-{thread}"))
            .spawn(move || run_thread(target, signals, job, thread, count))
            .context("spawning a worker thread failed")?;
        threads.push(handle);
    }
    Ok(threads)
}

fn run_thread(
    target: Target,
    signals: WorkerSignals,
    job: Job,
    thread: usize,
    threads: usize,
) -> Result<Totals> {
    let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
        .enable_timer()
        .build()
        .context("building the monoio runtime failed")?;
    runtime.block_on(async move {
        let ctx = ThreadContext::new(target, signals);
        scenario::run_thread(ctx.clone(), Rc::new(job), thread, threads).await?;
        Ok(ctx.take_totals())
    })
}

/// Prints progress every interval and the phase events once all threads reach them,
/// until every thread has ended.
fn report_until_done(
    spec: &WorkerSpec,
    signals: &WorkerSignals,
    threads: &[JoinHandle<Result<Totals>>],
) {
    let interval = Duration::from_millis(spec.progress_interval_ms.max(100));
    let mut next_progress = Instant::now();
    let (mut ready_sent, mut run_done_sent) = (false, false);
    loop {
        let finished = threads.iter().all(|thread| thread.is_finished());
        if !ready_sent && (signals.ready.load(Ordering::SeqCst) == spec.threads || finished) {
            print_event(&WorkerEvent::Ready);
            ready_sent = true;
        }
        if !run_done_sent && (signals.run_done.load(Ordering::SeqCst) == spec.threads || finished) {
            print_event(&WorkerEvent::RunDone);
            run_done_sent = true;
        }
        if Instant::now() >= next_progress || finished {
            print_event(&WorkerEvent::Progress(signals.live.snapshot()));
            next_progress += interval;
        }
        if finished {
            return;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}

/// Applies the coordinator's commands to the phase. When stdin closes, the coordinator is
/// gone, so the phase jumps to the end and the worker winds down.
fn follow_commands(phase: watch::Sender<Phase>) {
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        match serde_json::from_str::<Command>(&line) {
            Ok(Command::Start) => phase.send_replace(Phase::Running),
            Ok(Command::Finish) => phase.send_replace(Phase::Finishing),
            Err(error) => {
                tracing::warn!(%error, line, "ignoring an unknown command");
                continue;
            }
        };
    }
    tracing::debug!("command stream closed; finishing");
    phase.send_replace(Phase::Finishing);
}

fn print_event(event: &WorkerEvent) {
    let line = serde_json::to_string(event).expect("worker events serialize to JSON");
    let mut stdout = std::io::stdout().lock();
    // A closed stdout means the coordinator is gone; the parent-death signal ends us.
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

/// Asks the kernel to kill this process when its parent, the coordinator, exits, so no
/// worker outlives its run.
fn stop_with_parent() {
    // SAFETY: prctl with PR_SET_PDEATHSIG takes a signal number and no pointers.
    let result = unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) };
    if result != 0 {
        tracing::warn!(
            error = %std::io::Error::last_os_error(),
            "cannot set the parent-death signal; the worker ends when stdin closes"
        );
    }
}

/// Raises the soft open-file limit to the hard limit and checks that `connections` fit.
fn raise_fd_limit(connections: u64) -> Result<()> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the one rlimit struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            return Err(std::io::Error::last_os_error()).context("getrlimit(RLIMIT_NOFILE) failed");
        }
        if limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error())
                    .context("raising the open-file limit to its hard limit failed");
            }
        }
    }
    let available = limit.rlim_cur.saturating_sub(RESERVED_FDS);
    if connections > available {
        bail!(
            "this worker must hold {connections} connections but may open only {} files \
             ({RESERVED_FDS} reserved); lower --connections-per-worker to {available} or less",
            limit.rlim_cur
        );
    }
    Ok(())
}
