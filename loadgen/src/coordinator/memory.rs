//! Server memory sampling: sums `VmRSS` and `VmHWM` over the `--server-pid` processes
//! before connecting, once every worker is connected, and through the measured phase.

use serde::Serialize;

use crate::machine::{process_memory, ProcError, ProcessMemory};

/// Memory of the server processes over a run, in bytes summed over the processes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MemoryReport {
    pub pids: Vec<u32>,
    /// Before the first connection, after any setup.
    pub before: ProcessMemory,
    /// Once every worker finished connecting.
    pub connected: Option<ProcessMemory>,
    /// Last sample of the measured phase, while every connection is held.
    pub hold: Option<ProcessMemory>,
    /// Highest `VmRSS` seen during the measured phase.
    pub peak_rss_bytes: Option<u64>,
    /// `(hold.rss - before.rss) / established connections`.
    pub rss_per_connection_bytes: Option<f64>,
}

/// Samples the memory of a fixed set of processes.
pub struct MemorySampler {
    pids: Vec<u32>,
    before: Option<ProcessMemory>,
    connected: Option<ProcessMemory>,
    hold: Option<ProcessMemory>,
    peak_rss: Option<u64>,
    warned: bool,
}

impl MemorySampler {
    /// Takes the first sample of `pids`; with no pids, every sample is a no-op.
    ///
    /// # Errors
    /// [`ProcError`] naming the first process that cannot be read.
    pub fn start(pids: &[u32]) -> Result<Self, ProcError> {
        let mut sampler = Self {
            pids: pids.to_vec(),
            before: None,
            connected: None,
            hold: None,
            peak_rss: None,
            warned: false,
        };
        if !pids.is_empty() {
            sampler.before = Some(sum_memory(pids)?);
        }
        Ok(sampler)
    }

    /// Takes the baseline sample again, after a setup that may have moved the server's
    /// memory, so the baseline is the last sample before the first connection.
    pub fn sample_before(&mut self) {
        if let Some(memory) = self.sample() {
            self.before = Some(memory);
        }
    }

    /// Samples once every worker is connected.
    pub fn sample_connected(&mut self) {
        self.connected = self.sample();
    }

    /// Samples during the measured phase, keeping the last value and the peak.
    pub fn sample_hold(&mut self) {
        if let Some(memory) = self.sample() {
            self.peak_rss = Some(self.peak_rss.unwrap_or(0).max(memory.rss_bytes));
            self.hold = Some(memory);
        }
    }

    fn sample(&mut self) -> Option<ProcessMemory> {
        if self.pids.is_empty() {
            return None;
        }
        match sum_memory(&self.pids) {
            Ok(memory) => Some(memory),
            Err(error) => {
                if !self.warned {
                    tracing::warn!(%error, "server memory sample failed; later failures are not logged");
                    self.warned = true;
                }
                None
            }
        }
    }

    /// Builds the report for `established` connections; `None` without pids.
    // NOTE: the per-connection figure assumes the connections are the only change between
    // the samples. In `chat`, memory freed after the setup's password hashing and the
    // stored messages move it too, so it can even come out negative.
    pub fn report(&self, established: u64) -> Option<MemoryReport> {
        let before = self.before?;
        let hold = self.hold.or(self.connected);
        let per_connection = match hold {
            Some(hold) if established > 0 => {
                Some((hold.rss_bytes as f64 - before.rss_bytes as f64) / established as f64)
            }
            _ => None,
        };
        Some(MemoryReport {
            pids: self.pids.clone(),
            before,
            connected: self.connected,
            hold: self.hold,
            peak_rss_bytes: self.peak_rss,
            rss_per_connection_bytes: per_connection,
        })
    }
}

fn sum_memory(pids: &[u32]) -> Result<ProcessMemory, ProcError> {
    let mut total = ProcessMemory {
        rss_bytes: 0,
        hwm_bytes: 0,
    };
    for &pid in pids {
        let memory = process_memory(pid)?;
        total.rss_bytes += memory.rss_bytes;
        total.hwm_bytes += memory.hwm_bytes;
    }
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_sampled_per_connection() {
        let mut sampler = MemorySampler::start(&[std::process::id()]).unwrap();
        let ballast = vec![1u8; 8 << 20];
        sampler.sample_connected();
        sampler.sample_hold();
        let report = sampler.report(1_000).unwrap();
        assert!(report.before.rss_bytes > 0);
        assert!(report.hold.unwrap().rss_bytes > 0);
        assert!(report.rss_per_connection_bytes.is_some());
        assert!(report.peak_rss_bytes.unwrap() >= report.hold.unwrap().rss_bytes);
        drop(ballast);
    }

    #[test]
    fn no_pids_no_report() {
        let mut sampler = MemorySampler::start(&[]).unwrap();
        sampler.sample_hold();
        assert_eq!(sampler.report(10), None);
    }

    #[test]
    fn missing_pid_rejected_at_start() {
        assert!(MemorySampler::start(&[u32::MAX]).is_err());
    }
}
