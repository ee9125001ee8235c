//! [`Budget`]: a client's draw on a request budget kept by the store ([`RateBudgets`]), so
//! every worker, every adapter of one far side and every replica sharing the store stay
//! together under one rate (Chatwoot answers 429 past 3,000 requests a minute per client
//! address by default, with no `Retry-After`: `chatwoot-api.md`, rack-attack).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{DeliveryError, DeliveryErrorKind};
use crate::store::{BudgetRate, RateBudgets};

/// The longest a request waits for the budget while its job holds a worker. Under a steady
/// backlog a token comes every `1 / rate` (25 ms at 2,400 a minute), so with a few workers
/// per replica the usual wait is well under this; a longer one (other replicas took the
/// tokens, a burst just passed) hands the job back to the queue instead
/// ([`DeliveryError::budget_spent`], no attempt counted), so a worker is never held much
/// longer than one slow request would hold it, and far less than a lease (20 s).
pub const PACING_LIMIT: Duration = Duration::from_secs(2);

/// One far side's request budget, as a client draws on it: one token a request.
#[derive(Clone)]
pub struct Budget {
    budgets: Arc<dyn RateBudgets>,
    name: String,
    rate: BudgetRate,
    /// Whose turn it is to ask the store, among this process's waiting requests (clones
    /// share it): they queue here instead of each asking the store every few milliseconds
    /// — on PostgreSQL every ask is a commit on the budget's one row.
    turn: Arc<tokio::sync::Mutex<()>>,
}

impl fmt::Debug for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Budget").field("name", &self.name).field("rate", &self.rate).finish()
    }
}

impl Budget {
    /// The budget `name` (one per far side: every client naming it shares it) at `rate`,
    /// kept in `budgets` (the store).
    pub fn new(budgets: Arc<dyn RateBudgets>, name: impl Into<String>, rate: BudgetRate) -> Self {
        Self { budgets, name: name.into(), rate, turn: Arc::default() }
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its rate.
    pub fn rate(&self) -> BudgetRate {
        self.rate
    }

    /// Takes one request's token, waiting for it up to [`PACING_LIMIT`] in all; past that,
    /// [`DeliveryError::budget_spent`] (the job waits in the queue, no attempt counted).
    /// A store failure is a temporary failure of the request, which was not sent.
    pub async fn acquire(&self) -> Result<(), DeliveryError> {
        let started = tokio::time::Instant::now();
        let Ok(_turn) = tokio::time::timeout(PACING_LIMIT, self.turn.lock()).await else {
            // The requests ahead of this one in the process took the whole pacing time.
            metrics::counter!("wbots_rate_budget_waits_total", "outcome" => "requeued")
                .increment(1);
            return Err(DeliveryError::budget_spent(self.token_interval()));
        };
        let mut waited = started.elapsed();
        loop {
            let tokens = self
                .budgets
                .take_tokens(&self.name, chrono::Utc::now(), self.rate, 1)
                .await
                .map_err(|e| {
                    DeliveryError::temporary(
                        DeliveryErrorKind::Other,
                        "the request budget could not be read from the store",
                    )
                    .with_source(e)
                })?;
            if tokens.granted > 0 {
                return Ok(());
            }
            let wait = tokens.next_in.max(Duration::from_millis(1));
            if waited + wait > PACING_LIMIT {
                metrics::counter!("wbots_rate_budget_waits_total", "outcome" => "requeued")
                    .increment(1);
                return Err(DeliveryError::budget_spent(wait));
            }
            metrics::counter!("wbots_rate_budget_waits_total", "outcome" => "paced").increment(1);
            // Pacing, not a retry: the request has not been sent; see `PACING_LIMIT`.
            tokio::time::sleep(wait).await;
            waited += wait;
        }
    }
}

impl Budget {
    /// The time one token takes to come back at this budget's rate.
    fn token_interval(&self) -> Duration {
        Duration::from_secs(60) / self.rate.per_minute.max(1)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;
    use crate::store::MemoryStore;

    #[tokio::test]
    async fn a_spent_budget_paces_then_hands_the_job_back() {
        let store = Arc::new(MemoryStore::new());
        // One token a minute: the second request would wait a minute, past the limit.
        let budget = Budget::new(store, "slow", BudgetRate { per_minute: 1, burst: 1 });
        budget.acquire().await.unwrap();
        let spent = budget.acquire().await.unwrap_err();
        assert!(spent.is_budget_spent(), "{spent}");
        assert!(spent.retry_after().is_some_and(|w| w > PACING_LIMIT), "{spent}");
    }

    #[tokio::test]
    async fn waiting_requests_of_one_process_ask_the_store_one_at_a_time() {
        let store = Arc::new(CountingBudgets::default());
        // 10 a second, a burst of 1: 8 waiting requests are served one every 100 ms.
        let budget = Budget::new(store.clone(), "cw", BudgetRate { per_minute: 600, burst: 1 });
        let mut waiting = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let budget = budget.clone();
            waiting.spawn(async move { budget.acquire().await });
        }
        while let Some(done) = waiting.join_next().await {
            done.unwrap().unwrap();
        }
        assert_eq!(store.most_at_once.load(Relaxed), 1, "never two asks of one process at once");
    }

    /// The memory store's buckets, noting how many asks were under way at once.
    #[derive(Debug, Default)]
    struct CountingBudgets {
        inner: MemoryStore,
        now: AtomicUsize,
        most_at_once: AtomicUsize,
    }

    #[async_trait::async_trait]
    impl RateBudgets for CountingBudgets {
        async fn take_tokens(
            &self,
            name: &str,
            now: chrono::DateTime<chrono::Utc>,
            rate: BudgetRate,
            want: u32,
        ) -> Result<crate::store::Tokens, crate::error::StoreError> {
            let at_once = self.now.fetch_add(1, Relaxed) + 1;
            self.most_at_once.fetch_max(at_once, Relaxed);
            // A store's round trip: other tasks run meanwhile.
            tokio::task::yield_now().await;
            let tokens = self.inner.take_tokens(name, now, rate, want).await;
            self.now.fetch_sub(1, Relaxed);
            tokens
        }
    }
}
