//! When to try a failed job again.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with jitter, and the far side's `Retry-After` as a floor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The delay after the first failure, before jitter.
    pub base: Duration,
    /// The longest delay, before jitter.
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Self { base: Duration::from_secs(2), max: Duration::from_secs(600) }
    }
}

impl Backoff {
    /// The delay before attempt `failures + 1`: `min(max, base · 2^failures)`, jittered
    /// down to as little as half so that jobs failing together do not retry together, and
    /// never shorter than `retry_after`.
    pub fn delay(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let ceiling = self.base.saturating_mul(2u32.saturating_pow(failures.min(31))).min(self.max);
        let half = ceiling / 2;
        let jitter = if half.is_zero() {
            Duration::ZERO
        } else {
            Duration::from_nanos(rand::rng().random_range(0..=half.as_nanos() as u64))
        };
        (half + jitter).max(retry_after.unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_bounds_and_caps() {
        let b = Backoff { base: Duration::from_secs(1), max: Duration::from_secs(60) };
        for failures in 0..10 {
            let ceiling = Duration::from_secs(1 << failures).min(Duration::from_secs(60));
            for _ in 0..50 {
                let d = b.delay(failures, None);
                assert!(d >= ceiling / 2 && d <= ceiling, "{failures}: {d:?}");
            }
        }
    }

    #[test]
    fn retry_after_is_a_floor() {
        let b = Backoff { base: Duration::from_millis(10), max: Duration::from_secs(1) };
        assert_eq!(b.delay(0, Some(Duration::from_secs(30))), Duration::from_secs(30));
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let b = Backoff::default();
        assert!(b.delay(u32::MAX, None) <= b.max);
    }
}
