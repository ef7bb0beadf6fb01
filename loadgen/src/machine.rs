//! Facts about this machine and the server processes: CPU count and memory from `/proc`,
//! resident memory of a process from `/proc/PID/status`, clocks and UTC dates.

use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// Errors of reading `/proc`.
#[derive(Debug, thiserror::Error)]
pub enum ProcError {
    /// The status file of a process cannot be read.
    #[error("cannot read {path}: {source}; check that --server-pid {pid} names a running process")]
    Unreadable {
        pid: u32,
        path: PathBuf,
        source: std::io::Error,
    },
    /// The status file lacks a field.
    #[error("{path} has no {field} line; the process may be a zombie or a kernel thread")]
    MissingField { path: PathBuf, field: &'static str },
}

/// Memory of one process in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessMemory {
    /// Resident set size (`VmRSS`).
    pub rss_bytes: u64,
    /// Peak resident set size (`VmHWM`).
    pub hwm_bytes: u64,
}

/// Reads `VmRSS` and `VmHWM` of process `pid`.
///
/// # Errors
/// [`ProcError`] naming the file when it cannot be read or lacks a field.
pub fn process_memory(pid: u32) -> Result<ProcessMemory, ProcError> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let text = std::fs::read_to_string(&path).map_err(|source| ProcError::Unreadable {
        pid,
        path: path.clone(),
        source,
    })?;
    let field = |name: &'static str| {
        kib_field(&text, name).ok_or_else(|| ProcError::MissingField {
            path: path.clone(),
            field: name,
        })
    };
    Ok(ProcessMemory {
        rss_bytes: field("VmRSS")? * 1024,
        hwm_bytes: field("VmHWM")? * 1024,
    })
}

/// Parses a `Name:   1234 kB` line of a `/proc` file, returning the number of KiB.
pub fn kib_field(text: &str, name: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(name)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// The machine a run executed on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Logical CPUs this process may use.
    pub cores: usize,
    /// `MemTotal` of `/proc/meminfo` in bytes; 0 when unreadable.
    pub memory_bytes: u64,
    /// `model name` of `/proc/cpuinfo`, when present.
    pub cpu_model: Option<String>,
    /// Kernel release from `/proc/sys/kernel/osrelease`, when readable.
    pub kernel: Option<String>,
}

/// Describes this machine.
pub fn describe_machine() -> Machine {
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu_model = cpuinfo.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (key.trim() == "model name").then(|| value.trim().to_string())
    });
    Machine {
        cores: std::thread::available_parallelism().map_or(1, |cores| cores.get()),
        memory_bytes: kib_field(&meminfo, "MemTotal").unwrap_or(0) * 1024,
        cpu_model,
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .ok()
            .map(|release| release.trim().to_string()),
    }
}

/// Returns the wall-clock time (CLOCK_REALTIME) in nanoseconds since the unix epoch. All
/// processes of a run share this clock, so timestamps in payloads compare across them.
pub fn unix_now_ns() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_nanos()).unwrap_or(u64::MAX)
}

/// Returns the wall-clock time in seconds since the unix epoch.
pub fn unix_now_secs() -> u64 {
    unix_now_ns() / 1_000_000_000
}

/// Formats unix seconds as an ISO 8601 UTC date, such as `2024-05-01T12:30:05Z`.
pub fn format_utc(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let secs_of_day = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs_of_day / 3600,
        secs_of_day % 3600 / 60,
        secs_of_day % 60
    )
}

/// Converts days since 1970-01-01 to a proleptic Gregorian (year, month, day), after
/// Howard Hinnant's `civil_from_days` algorithm.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = (day_of_year - (153 * month_index + 2) / 5 + 1) as u32;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    } as u32;
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates_formatted() {
        assert_eq!(format_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_utc(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn kib_fields_parsed() {
        let status = "Name:\tswitchboard\nVmHWM:\t   20480 kB\nVmRSS:\t   10240 kB\n";
        assert_eq!(kib_field(status, "VmRSS"), Some(10_240));
        assert_eq!(kib_field(status, "VmHWM"), Some(20_480));
        assert_eq!(kib_field(status, "VmSwap"), None);
    }

    #[test]
    fn own_memory_readable() {
        let memory = process_memory(std::process::id()).unwrap();
        assert!(memory.rss_bytes > 0);
        assert!(memory.hwm_bytes >= memory.rss_bytes);
    }

    #[test]
    fn missing_process_named() {
        let error = process_memory(u32::MAX).unwrap_err();
        assert!(error.to_string().contains(&u32::MAX.to_string()));
    }

    #[test]
    fn machine_described() {
        let machine = describe_machine();
        assert!(machine.cores >= 1);
        assert!(machine.memory_bytes > 0);
    }
}
