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
        Self { budgets, name: name.into(), rate }
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
        let mut waited = Duration::ZERO;
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

#[cfg(test)]
mod tests {
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
}
