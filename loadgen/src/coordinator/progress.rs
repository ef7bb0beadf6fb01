//! The live progress line on stderr: summed worker counters with rates since the previous
//! update. On a terminal the line is rewritten in place; otherwise a plain line is printed
//! every few seconds.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::scenario::context::Progress;

/// Interval between updates on a terminal.
const TERMINAL_INTERVAL: Duration = Duration::from_millis(500);

/// Interval between plain lines.
const PLAIN_INTERVAL: Duration = Duration::from_secs(5);

/// Display mode of the progress line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgressStyle {
    /// A terminal line when stderr is a terminal, plain lines otherwise.
    Auto,
    /// Plain lines every few seconds.
    Plain,
    /// Nothing.
    Quiet,
}

/// Renders one progress line. Rates are per second over `interval`.
pub fn render_line(
    phase: &str,
    elapsed: Duration,
    now: &Progress,
    previous: &Progress,
    interval: Duration,
    target_connections: u64,
) -> String {
    let secs = interval.as_secs_f64().max(1e-3);
    let rate = |now: u64, before: u64| now.saturating_sub(before) as f64 / secs;
    format!(
        "[{:7.1}s] {phase:<10} conns {}/{target_connections} (+{:.0}/s) failed {} lost {} | \
         sent {} (+{:.0}/s) recv {} (+{:.0}/s) errors {}",
        elapsed.as_secs_f64(),
        now.established,
        rate(now.established, previous.established),
        now.failed,
        now.lost,
        now.sent,
        rate(now.sent, previous.sent),
        now.received,
        rate(now.received, previous.received),
        now.errors,
    )
}

/// The progress display of one run.
pub struct ProgressDisplay {
    terminal: bool,
    quiet: bool,
    started: Instant,
    last_shown: Option<(Instant, Progress)>,
    target_connections: u64,
}

impl ProgressDisplay {
    /// Creates the display for a run of `target_connections` connections.
    pub fn new(style: ProgressStyle, target_connections: u64) -> Self {
        let terminal = style == ProgressStyle::Auto && std::io::stderr().is_terminal();
        Self {
            terminal,
            quiet: style == ProgressStyle::Quiet,
            started: Instant::now(),
            last_shown: None,
            target_connections,
        }
    }

    /// Shows `progress` if the update interval has passed since the last line.
    pub fn update(&mut self, phase: &str, progress: &Progress) {
        if self.quiet {
            return;
        }
        let now = Instant::now();
        let interval = if self.terminal {
            TERMINAL_INTERVAL
        } else {
            PLAIN_INTERVAL
        };
        let (since, previous) = self
            .last_shown
            .unwrap_or((self.started, Progress::default()));
        if now.duration_since(since) < interval {
            return;
        }
        let line = render_line(
            phase,
            now.duration_since(self.started),
            progress,
            &previous,
            now.duration_since(since),
            self.target_connections,
        );
        let mut stderr = std::io::stderr().lock();
        if self.terminal {
            let _ = write!(stderr, "\r{line}\x1b[K");
        } else {
            let _ = writeln!(stderr, "{line}");
        }
        let _ = stderr.flush();
        self.last_shown = Some((now, *progress));
    }

    /// Ends the terminal line so later output starts on a fresh line.
    pub fn finish(&mut self) {
        if self.terminal && self.last_shown.is_some() {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_counts_and_rates() {
        let previous = Progress {
            established: 100,
            sent: 10,
            ..Progress::default()
        };
        let now = Progress {
            established: 300,
            failed: 2,
            sent: 60,
            received: 40,
            ..Progress::default()
        };
        let line = render_line(
            "connecting",
            Duration::from_secs(3),
            &now,
            &previous,
            Duration::from_secs(2),
            1_000,
        );
        assert!(line.contains("conns 300/1000 (+100/s)"), "{line}");
        assert!(line.contains("failed 2"), "{line}");
        assert!(line.contains("sent 60 (+25/s)"), "{line}");
        assert!(line.contains("recv 40 (+20/s)"), "{line}");
        assert!(!line.contains('\n'));
    }
}
