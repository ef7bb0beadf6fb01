//! Division of a run's connections among worker processes and threads. Pure logic.

/// Divides `total` items into `parts` contiguous ranges whose sizes differ by at most one.
/// Returns `(first, count)` per part, in order.
pub fn split_ranges(total: u64, parts: usize) -> Vec<(u64, u64)> {
    let parts_u64 = parts.max(1) as u64;
    let (base, extra) = (total / parts_u64, total % parts_u64);
    let mut first = 0;
    (0..parts_u64)
        .map(|part| {
            let count = base + u64::from(part < extra);
            let range = (first, count);
            first += count;
            range
        })
        .collect()
}

/// Returns the number of workers: `requested`, or enough that none has more than
/// `per_worker` connections, and never more than there are connections.
pub fn worker_count(connections: u64, per_worker: usize, requested: Option<usize>) -> usize {
    let needed = connections.div_ceil(per_worker.max(1) as u64).max(1) as usize;
    requested
        .unwrap_or(needed)
        .clamp(1, connections.max(1) as usize)
}

/// Returns the threads per worker: `requested`, or the CPU count, but no more than the
/// largest worker's connections.
pub fn thread_count(largest_worker: u64, requested: Option<usize>) -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    requested
        .unwrap_or(cores)
        .clamp(1, largest_worker.max(1) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_once() {
        assert_eq!(split_ranges(10, 3), vec![(0, 4), (4, 3), (7, 3)]);
        assert_eq!(split_ranges(2, 4), vec![(0, 1), (1, 1), (2, 0), (2, 0)]);
        let ranges = split_ranges(1_000_003, 7);
        assert_eq!(
            ranges.iter().map(|(_, count)| count).sum::<u64>(),
            1_000_003
        );
    }

    #[test]
    fn workers_sized_by_per_worker_limit() {
        assert_eq!(worker_count(30_000, 15_000, None), 2);
        assert_eq!(worker_count(30_001, 15_000, None), 3);
        assert_eq!(worker_count(5, 15_000, None), 1);
        assert_eq!(worker_count(5, 15_000, Some(9)), 5);
    }

    #[test]
    fn threads_capped_by_connections() {
        assert_eq!(thread_count(1, Some(8)), 1);
        assert_eq!(thread_count(100, Some(3)), 3);
        assert!(thread_count(100, None) >= 1);
    }
}
