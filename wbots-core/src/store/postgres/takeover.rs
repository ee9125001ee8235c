//! When a claim also looks for expired leases to take over.
//!
//! Every claim is a walk of the queued heads; looking for expired leases is a second walk,
//! over the index entries of running jobs — and in PostgreSQL those include the entries of
//! every job run since the table was last vacuumed (an update leaves its old row version's
//! index entries behind, and a bitmap scan, the plan PostgreSQL picks for that walk, never
//! marks them dead). Measured in the load harness (two replicas, `auto_explain`): 16,051
//! entries read, 3.8 ms, by each claim 20 s into a run, growing with every job until
//! autovacuum came — while the heads' walk read a few dozen. A lease only expires when a
//! worker died or stalled, and a lease lasts many seconds (`EngineConfig::lease`), so a
//! process looks at most once every [`TAKEOVER_EVERY_MS`] per lane: a job whose worker died
//! is taken over within its lease plus that, and the cost no longer grows per claim.
//! (SQLite removes index entries as rows change, so its claim always looks.)

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::store::Lane;

/// How often, at most, a process's claims in one lane look for expired leases (ms of the
/// claims' `now`).
pub(super) const TAKEOVER_EVERY_MS: i64 = 1_000;

/// The last time each lane's claims looked (`[inbound, outbound]`), shared by the store's
/// clones. (A claim in any lane always looks: see `CLAIM_LANE_HEADS`.)
#[derive(Debug, Clone, Default)]
pub(super) struct Takeovers(Arc<[AtomicI64; 2]>);

impl Takeovers {
    /// Whether a claim at `now` (ms) in `lane` looks for expired leases; if so, it is the
    /// last look from now on. The first claim looks, and so does one whose `now` is before
    /// the last look (a clock set back).
    pub(super) fn due(&self, now: i64, lane: Lane) -> bool {
        let last = &self.0[match lane {
            Lane::Inbound => 0,
            Lane::Outbound => 1,
        }];
        let seen = last.load(Ordering::Relaxed);
        let due = seen == 0 || now < seen || now - seen >= TAKEOVER_EVERY_MS;
        // Two claims at once may both look: harmless (each walk is correct alone).
        if due {
            last.store(now, Ordering::Relaxed);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lane_looks_at_its_first_claim_then_once_a_period_and_after_a_clock_set_back() {
        let t = Takeovers::default();
        let inbound = Lane::Inbound;
        assert!(t.due(10_000, inbound), "the first claim looks");
        assert!(!t.due(10_001, inbound));
        assert!(!t.due(10_999, inbound));
        assert!(t.due(11_000, inbound), "a period later");
        assert!(!t.due(11_500, inbound));
        assert!(t.due(5_000, inbound), "the clock went back");
        // Each lane keeps its own time.
        assert!(t.due(11_500, Lane::Outbound));
        assert!(!t.due(11_600, Lane::Outbound));
    }
}
