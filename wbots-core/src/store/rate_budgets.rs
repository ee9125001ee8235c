//! [`RateBudgets`]: token buckets kept by the store, so every worker, every adapter and every
//! replica sharing the store draw from one request budget per far side.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::error::StoreError;

/// One token in a bucket's units: a token per minute refills one unit a millisecond, so a
/// bucket is plain integers in every store (no floats to round differently).
pub(crate) const UNITS_PER_TOKEN: i64 = 60_000;

/// A budget's rate: `per_minute` tokens a minute, at most `burst` kept unused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BudgetRate {
    /// Tokens refilled each minute.
    pub per_minute: u32,
    /// The most tokens a bucket holds: how many requests may go at once after a quiet time.
    pub burst: u32,
}

impl BudgetRate {
    /// `per_minute` with a burst of one second's worth (at least one): a far side counting
    /// requests in fixed windows of a minute (Chatwoot's rack-attack) sees at most
    /// `per_minute + per_minute / 60` in any of them.
    pub fn per_minute(per_minute: u32) -> Self {
        Self { per_minute: per_minute.max(1), burst: (per_minute / 60).max(1) }
    }

    fn capacity(self) -> i64 {
        i64::from(self.burst.max(1)) * UNITS_PER_TOKEN
    }
}

/// What a [`RateBudgets::take_tokens`] call got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tokens {
    /// Tokens taken (0 to the number asked for).
    pub granted: u32,
    /// When none was granted: how long until the bucket holds one again.
    pub next_in: Duration,
}

/// Request budgets kept by the store, one token bucket per name.
///
/// # Contract
/// `take_tokens` refills the bucket `name` for the time since its last use (at `rate`, up to
/// its burst; a bucket used for the first time is full), then takes up to `want` tokens,
/// atomically: callers sharing the store (threads, processes, replicas) never take a token
/// twice. Time only moves forward: a `now` earlier than the bucket's last use refills
/// nothing — unless that last use is more than [`CLOCK_SKEW_MS`] ahead of `now` (a clock
/// that ran ahead, then was corrected, or another replica's): the bucket's time is then
/// taken back to `now`, so a skewed clock stalls a budget for a minute at most, not for as
/// long as it was ahead. A store serving one process may keep its buckets in memory.
#[async_trait]
pub trait RateBudgets: Send + Sync + std::fmt::Debug + 'static {
    /// Takes up to `want` tokens from `name`; see the trait docs.
    async fn take_tokens(
        &self,
        name: &str,
        now: DateTime<Utc>,
        rate: BudgetRate,
        want: u32,
    ) -> Result<Tokens, StoreError>;
}

/// How far ahead of a caller's clock a bucket's last use may be before it is taken as the
/// caller's now (see [`RateBudgets`]).
pub const CLOCK_SKEW_MS: i64 = 60_000;

/// One bucket in memory (the memory and SQLite stores'); the PostgreSQL store runs the same
/// arithmetic in one `UPDATE` (`postgres.rs`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct TokenBucket {
    units: i64,
    at_ms: i64,
}

impl TokenBucket {
    /// A full bucket.
    pub(crate) fn full(rate: BudgetRate, now_ms: i64) -> Self {
        Self { units: rate.capacity(), at_ms: now_ms }
    }

    /// Refills, then takes up to `want` tokens.
    pub(crate) fn take(&mut self, now_ms: i64, rate: BudgetRate, want: u32) -> Tokens {
        if self.at_ms > now_ms.saturating_add(CLOCK_SKEW_MS) {
            self.at_ms = now_ms;
        }
        let elapsed = now_ms.saturating_sub(self.at_ms).max(0);
        let refill = elapsed.saturating_mul(i64::from(rate.per_minute));
        self.units = self.units.saturating_add(refill).min(rate.capacity());
        self.at_ms = self.at_ms.max(now_ms);
        tokens_after(&mut self.units, rate, want)
    }
}

/// The buckets of a store serving one process (memory, SQLite: `connect_exclusive`), in
/// memory: no write a request, and nothing to share with another process.
#[derive(Debug, Default)]
pub(crate) struct MemoryBuckets(std::sync::Mutex<std::collections::HashMap<String, TokenBucket>>);

impl MemoryBuckets {
    pub(crate) fn take(
        &self,
        name: &str,
        now: DateTime<Utc>,
        rate: BudgetRate,
        want: u32,
    ) -> Tokens {
        let now_ms = now.timestamp_millis();
        let mut buckets = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let bucket =
            buckets.entry(name.to_owned()).or_insert_with(|| TokenBucket::full(rate, now_ms));
        bucket.take(now_ms, rate, want)
    }
}

/// Takes up to `want` whole tokens from `units` (already refilled).
pub(crate) fn tokens_after(units: &mut i64, rate: BudgetRate, want: u32) -> Tokens {
    let whole = (*units / UNITS_PER_TOKEN).clamp(0, i64::from(want));
    *units -= whole * UNITS_PER_TOKEN;
    Tokens { granted: whole as u32, next_in: next_in(*units, rate, whole) }
}

/// How long until `units` make a token again, when none was granted.
pub(crate) fn next_in(units: i64, rate: BudgetRate, granted: i64) -> Duration {
    if granted > 0 {
        return Duration::ZERO;
    }
    let missing = (UNITS_PER_TOKEN - units).max(0);
    let per_ms = i64::from(rate.per_minute.max(1));
    Duration::from_millis(((missing + per_ms - 1) / per_ms) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_refills_at_its_rate_up_to_its_burst() {
        let rate = BudgetRate::per_minute(600); // 10 a second, burst 10
        let mut b = TokenBucket::full(rate, 0);
        assert_eq!(b.take(0, rate, 25).granted, 10);
        let empty = b.take(0, rate, 1);
        assert_eq!((empty.granted, empty.next_in), (0, Duration::from_millis(100)));
        assert_eq!(b.take(250, rate, 5).granted, 2, "a quarter second: 2.5 tokens");
        assert_eq!(b.take(100, rate, 5).granted, 0, "time going back refills nothing");
        assert_eq!(b.take(60_000, rate, 100).granted, 10, "never more than the burst");
    }
}
