//! The worker processes of a run: spawns them with their specs, reads their event lines,
//! sends commands, and fails the run when one exits before reporting its result.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};

use crate::scenario::context::Progress;
use crate::stats::Totals;
use crate::worker::spec::{Command as WorkerCommand, WorkerEvent, WorkerSpec};

/// How often waiting loops wake up to refresh progress and check deadlines.
const TICK: Duration = Duration::from_millis(200);

/// A line read from a worker's stdout.
enum Line {
    Event(WorkerEvent),
    /// A line that is not a worker event, such as stray output.
    Other(String),
    /// Stdout closed: the worker exited.
    Closed,
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
    progress: Progress,
    ready: bool,
    run_done: bool,
    result: Option<Totals>,
    closed: bool,
}

/// Worker event that a wait is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Milestone {
    Ready,
    RunDone,
    Result,
}

impl Milestone {
    fn describe(self) -> &'static str {
        match self {
            Milestone::Ready => "finish connecting",
            Milestone::RunDone => "finish the measured phase",
            Milestone::Result => "report results",
        }
    }
}

/// The running workers of one run. Dropping it kills any worker still running.
pub struct Fleet {
    workers: Vec<Worker>,
    lines: mpsc::Receiver<(usize, Line)>,
}

impl Fleet {
    /// Starts one worker per spec from the executable `exe` and sends each its spec.
    ///
    /// # Errors
    /// When a worker cannot be started or its spec cannot be written.
    pub fn spawn(exe: &Path, specs: &[WorkerSpec]) -> Result<Fleet> {
        let (sender, lines) = mpsc::channel();
        let mut workers = Vec::with_capacity(specs.len());
        for spec in specs {
            let mut child = Command::new(exe)
                .args(["worker", "--spec", "-"])
                .env(
                    "RUST_LOG",
                    std::env::var("RUST_LOG").unwrap_or_else(|_| "warn".to_string()),
                )
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| {
                    format!(
                        "starting worker {} from {} failed",
                        spec.index,
                        exe.display()
                    )
                })?;
            let mut stdin = child.stdin.take().expect("stdin is piped");
            let stdout = child.stdout.take().expect("stdout is piped");
            let spec_line = serde_json::to_string(spec).expect("specs serialize to JSON");
            writeln!(stdin, "{spec_line}")
                .with_context(|| format!("sending the spec to worker {} failed", spec.index))?;
            spawn_line_reader(spec.index, stdout, sender.clone())?;
            tracing::debug!(worker = spec.index, pid = child.id(), "worker started");
            workers.push(Worker {
                child,
                stdin: Some(stdin),
                progress: Progress::default(),
                ready: false,
                run_done: false,
                result: None,
                closed: false,
            });
        }
        Ok(Fleet { workers, lines })
    }

    /// Returns the summed progress of all workers.
    pub fn progress(&self) -> Progress {
        let mut total = Progress::default();
        for worker in &self.workers {
            total.add(&worker.progress);
        }
        total
    }

    /// Sends `command` to every worker.
    ///
    /// # Errors
    /// When a worker's stdin is closed, which means it exited.
    pub fn command(&mut self, command: WorkerCommand) -> Result<()> {
        let line = serde_json::to_string(&command).expect("commands serialize to JSON");
        for (index, worker) in self.workers.iter_mut().enumerate() {
            let stdin = worker.stdin.as_mut().expect("stdin stays open until drop");
            writeln!(stdin, "{line}")
                .and_then(|()| stdin.flush())
                .with_context(|| {
                    format!("sending {command:?} to worker {index} failed; it exited")
                })?;
        }
        Ok(())
    }

    /// Waits until every worker reached `milestone`, calling `on_tick` with the summed
    /// progress at least every 200 ms.
    ///
    /// # Errors
    /// When a worker exits before reaching it, or `timeout` passes first.
    pub fn wait_for(
        &mut self,
        milestone: Milestone,
        timeout: Duration,
        mut on_tick: impl FnMut(&Progress),
    ) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.lines.recv_timeout(TICK) {
                Ok((index, line)) => self.apply(index, line),
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => {}
            }
            while let Ok((index, line)) = self.lines.try_recv() {
                self.apply(index, line);
            }
            on_tick(&self.progress());
            if self.workers.iter().all(|worker| reached(worker, milestone)) {
                return Ok(());
            }
            self.check_exits(milestone)?;
            if Instant::now() >= deadline {
                bail!(
                    "workers did not {} within {} s, so the run was stopped; check the server and \
                     the log lines above",
                    milestone.describe(),
                    timeout.as_secs()
                );
            }
        }
    }

    /// Returns every worker's totals, after waiting for them with [`Fleet::wait_for`].
    pub fn take_results(&mut self) -> Vec<Totals> {
        self.workers
            .iter_mut()
            .filter_map(|worker| worker.result.take())
            .collect()
    }

    fn apply(&mut self, index: usize, line: Line) {
        let worker = &mut self.workers[index];
        match line {
            Line::Event(WorkerEvent::Progress(progress)) => worker.progress = progress,
            Line::Event(WorkerEvent::Ready) => worker.ready = true,
            Line::Event(WorkerEvent::RunDone) => worker.run_done = true,
            Line::Event(WorkerEvent::Result(totals)) => worker.result = Some(*totals),
            Line::Other(text) => {
                tracing::warn!(worker = index, line = %text, "unexpected worker output")
            }
            Line::Closed => worker.closed = true,
        }
    }

    /// Fails when a worker closed its stdout before reaching `milestone`.
    fn check_exits(&mut self, milestone: Milestone) -> Result<()> {
        for (index, worker) in self.workers.iter_mut().enumerate() {
            if !worker.closed || reached(worker, milestone) {
                continue;
            }
            let pid = worker.child.id();
            let status = worker
                .child
                .wait()
                .map(|status| status.to_string())
                .unwrap_or_else(|error| format!("unknown status ({error})"));
            bail!(
                "worker {index} (pid {pid}) exited with {status} before it could {}; see its \
                 log lines above, if any",
                milestone.describe()
            );
        }
        Ok(())
    }
}

fn reached(worker: &Worker, milestone: Milestone) -> bool {
    match milestone {
        Milestone::Ready => worker.ready,
        Milestone::RunDone => worker.run_done,
        Milestone::Result => worker.result.is_some(),
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for worker in &mut self.workers {
            drop(worker.stdin.take());
            if let Ok(None) = worker.child.try_wait() {
                let _ = worker.child.kill();
            }
            let _ = worker.child.wait();
        }
    }
}

fn spawn_line_reader(
    index: usize,
    stdout: std::process::ChildStdout,
    sender: mpsc::Sender<(usize, Line)>,
) -> Result<()> {
    std::thread::Builder::new()
        .name(format!("worker-{index}-stdout"))
        .spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let parsed = match serde_json::from_str::<WorkerEvent>(&line) {
                    Ok(event) => Line::Event(event),
                    Err(_) => Line::Other(line),
                };
                if sender.send((index, parsed)).is_err() {
                    return;
                }
            }
            let _ = sender.send((index, Line::Closed));
        })
        .context("spawning a worker output reader failed")?;
    Ok(())
}
