//! Paced spawning: starts one task per connection at a fixed rate and waits until every
//! one of them has finished.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::sync::Notify;

/// Spawns `open(k)` for `k` in `0..count`, the k-th at `k / rate_per_sec` seconds after the
/// start, and returns once every spawned future has completed. Each future must bound its
/// own run time, as the connect timeout does.
pub async fn ramp<F, Fut>(count: usize, rate_per_sec: f64, mut open: F)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = ()> + 'static,
{
    if count == 0 {
        return;
    }
    let start = Instant::now();
    let pending = Rc::new(Cell::new(count));
    let all_done = Rc::new(Notify::new());
    for k in 0..count {
        let due = start + Duration::from_secs_f64(k as f64 / rate_per_sec);
        if due > Instant::now() {
            monoio::time::sleep_until(due.into()).await;
        }
        let opening = open(k);
        let (pending, all_done) = (pending.clone(), all_done.clone());
        monoio::spawn(async move {
            opening.await;
            pending.set(pending.get() - 1);
            if pending.get() == 0 {
                all_done.notify_one();
            }
        });
    }
    all_done.notified().await;
}

/// Returns how many events are due `elapsed` after the start at `rate_per_sec`.
pub fn due_count(elapsed: Duration, rate_per_sec: f64) -> u64 {
    (elapsed.as_secs_f64() * rate_per_sec).floor() as u64
}

/// Returns the pause between pacing checks for `rate_per_sec`: one event interval, kept
/// between 1 ms and 100 ms.
pub fn pacing_interval(rate_per_sec: f64) -> Duration {
    Duration::from_secs_f64((1.0 / rate_per_sec).clamp(0.001, 0.1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_count_follows_rate() {
        assert_eq!(due_count(Duration::from_millis(999), 1.0), 0);
        assert_eq!(due_count(Duration::from_secs(1), 1.0), 1);
        assert_eq!(due_count(Duration::from_millis(2_500), 100.0), 250);
    }

    #[test]
    fn pacing_interval_clamped() {
        assert_eq!(pacing_interval(1e6), Duration::from_millis(1));
        assert_eq!(pacing_interval(0.5), Duration::from_millis(100));
        assert_eq!(pacing_interval(50.0), Duration::from_millis(20));
    }

    #[test]
    fn ramp_runs_every_task_at_rate() {
        let mut runtime = monoio::RuntimeBuilder::<monoio::FusionDriver>::new()
            .enable_timer()
            .build()
            .unwrap();
        let started = Instant::now();
        let finished = Rc::new(Cell::new(0));
        let counter = finished.clone();
        runtime.block_on(ramp(21, 100.0, move |_| {
            let counter = counter.clone();
            async move { counter.set(counter.get() + 1) }
        }));
        assert_eq!(finished.get(), 21);
        assert!(started.elapsed() >= Duration::from_millis(200));
    }
}
