//! The coordinator: checks the options and the loopback rule, prepares the run, starts the
//! worker processes, moves them through the phases together (connect, run, finish) while
//! showing progress and sampling server memory, and merges their totals.

pub mod chat;
pub mod fleet;
pub mod jobs;
pub mod memory;
pub mod outcome;
pub mod progress;
pub mod split;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};

use crate::guard::resolve_loopback;
use crate::machine::unix_now_secs;
use crate::options::Scenario;
use crate::stats::Totals;
use crate::worker::spec::Command;
use fleet::{Fleet, Milestone};
use memory::MemorySampler;
pub use outcome::Outcome;
use progress::{ProgressDisplay, ProgressStyle};

/// Slack added to every phase deadline for process start, syncs and closes.
const DEADLINE_SLACK: Duration = Duration::from_secs(60);

/// Time a chat thread waits for outstanding acks, plus the echo and broadcast drains.
const RUN_TAIL: Duration = Duration::from_secs(15);

/// Worker executable and progress display of a run.
#[derive(Debug, Clone)]
pub struct RunEnv {
    /// Executable started as `EXE worker --spec -` for each worker: the `loadgen` binary.
    pub worker_exe: PathBuf,
    pub progress: ProgressStyle,
}

/// Runs `scenario` to the end and returns its outcome. A run whose checks fail still
/// returns `Ok`, with the reasons in [`Outcome::problems`].
///
/// # Errors
/// When an option is out of range, a target is not loopback, the setup fails, a worker
/// exits early, or a phase misses its deadline.
pub fn run(scenario: &Scenario, env: &RunEnv) -> Result<Outcome> {
    scenario.validate()?;
    let target = resolve_loopback(scenario.target())?;
    let run_options = scenario.run_options();
    let mut memory = MemorySampler::start(&run_options.server_pids)?;
    let started_unix_secs = unix_now_secs();

    let plan = jobs::plan_run(scenario, target)?;
    tracing::info!(
        scenario = scenario.name(),
        %target,
        workers = plan.specs.len(),
        threads = plan.threads,
        connections = scenario.connections(),
        "starting workers"
    );
    memory.sample_before();
    let deadlines = Deadlines::of(scenario);
    let mut fleet = Fleet::spawn(&env.worker_exe, &plan.specs)?;
    let mut display = ProgressDisplay::new(env.progress, scenario.connections());

    fleet.wait_for(Milestone::Ready, deadlines.connect, |progress| {
        display.update("connecting", progress);
    })?;
    memory.sample_connected();
    fleet.command(Command::Start)?;
    fleet.wait_for(Milestone::RunDone, deadlines.run, |progress| {
        display.update("running", progress);
        memory.sample_hold();
    })?;
    fleet.command(Command::Finish)?;
    fleet.wait_for(Milestone::Result, deadlines.finish, |progress| {
        display.update("finishing", progress);
    })?;
    display.finish();

    let mut totals = Totals::default();
    for worker_totals in fleet.take_results() {
        totals
            .merge(&worker_totals)
            .context("merging worker results failed")?;
    }
    drop(fleet);
    let problems = outcome::judge(scenario, target, &totals);
    Ok(Outcome {
        scenario: scenario.name(),
        target,
        workers: plan.specs.len(),
        threads_per_worker: plan.threads,
        started_unix_secs,
        finished_unix_secs: unix_now_secs(),
        memory: memory.report(totals.connections.established),
        totals,
        chat: plan.chat,
        problems,
    })
}

/// Maximum time of each phase before the run is stopped.
struct Deadlines {
    connect: Duration,
    run: Duration,
    finish: Duration,
}

impl Deadlines {
    fn of(scenario: &Scenario) -> Deadlines {
        let run = scenario.run_options();
        let connect_timeout = Duration::from_millis(run.connect_timeout_ms);
        let (rate, duration_secs, drain_secs) = match scenario {
            Scenario::Connect(options) => (options.connect_rate, options.duration_secs, 0),
            Scenario::Chat(options) => (
                options.connect_rate,
                options.duration_secs,
                options.drain_secs,
            ),
            Scenario::Echo(options) => (options.plain.connect_rate, options.plain.duration_secs, 0),
            Scenario::Broadcast(options) => (
                options.plain.connect_rate,
                options.plain.duration_secs,
                options.drain_secs,
            ),
        };
        let ramp = Duration::from_secs_f64(scenario.connections() as f64 / rate);
        Deadlines {
            connect: ramp + connect_timeout + DEADLINE_SLACK,
            run: Duration::from_secs(duration_secs + drain_secs) + RUN_TAIL + DEADLINE_SLACK,
            finish: Duration::from_secs(drain_secs) + DEADLINE_SLACK,
        }
    }
}
