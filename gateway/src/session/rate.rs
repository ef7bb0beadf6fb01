//! Token-bucket rate limit of one session's requests.

use std::time::Instant;

/// Token bucket: `rate_per_second` tokens refill per second up to `burst`.
#[derive(Debug)]
pub struct RateLimiter {
    rate_per_second: f64,
    burst: f64,
    tokens: f64,
    refilled_at: Instant,
}

impl RateLimiter {
    /// Creates a full bucket.
    pub fn new(rate_per_second: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate_per_second: f64::from(rate_per_second),
            burst,
            tokens: burst,
            refilled_at: now,
        }
    }

    /// Takes one token if there is one. Returns false when the request exceeds the rate.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        let elapsed = now
            .saturating_duration_since(self.refilled_at)
            .as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate_per_second).min(self.burst);
        self.refilled_at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn burst_then_refill() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(10, 3, start);
        assert!(limiter.try_acquire(start));
        assert!(limiter.try_acquire(start));
        assert!(limiter.try_acquire(start));
        assert!(!limiter.try_acquire(start));
        assert!(limiter.try_acquire(start + Duration::from_millis(100)));
        assert!(!limiter.try_acquire(start + Duration::from_millis(100)));
    }
}
