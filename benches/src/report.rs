//! Percentiles and the table the harness prints.

use std::fmt::Write as _;
use std::time::Duration;

/// Latency percentiles, microseconds (nearest rank).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Percentiles {
    /// Median.
    pub p50: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
}

impl Percentiles {
    /// Of `samples` (sorted here); all zero when there are none.
    pub fn of(mut samples: Vec<u64>) -> Self {
        samples.sort_unstable();
        let rank = |q: f64| -> u64 {
            if samples.is_empty() {
                return 0;
            }
            let i = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len()) - 1;
            samples[i]
        };
        Self { p50: rank(0.50), p99: rank(0.99), p999: rank(0.999) }
    }
}

/// One line of the table: one phase of load against one target.
#[derive(Clone, Debug, Default)]
pub struct Row {
    /// `bridge (sqlite)`, `bridge (postgres)` or `bare relay`.
    pub target: String,
    /// Conversations the load is spread over (all known to the bridge beforehand, except
    /// in the first-contact phase).
    pub conversations: u64,
    /// `max`, `1000/s` or `first contact`.
    pub load: String,
    /// Messages offered.
    pub messages: u64,
    /// Distinct messages that reached Chatwoot.
    pub delivered: u64,
    /// From the first send to the last delivery.
    pub span: Duration,
    /// Webhook answer latency.
    pub ack: Percentiles,
    /// Webhook sent → message in Chatwoot.
    pub end_to_end: Percentiles,
    /// RSS before the load, bytes.
    pub idle_rss: u64,
    /// Peak RSS of the process up to the end of this phase, bytes.
    pub peak_rss: u64,
    /// CPU time the target used during the phase.
    pub cpu: Duration,
    /// CPU time its PostgreSQL server used during the phase (a local server only).
    pub server_cpu: Option<Duration>,
    /// Deliveries of a message already delivered.
    pub duplicates: u64,
    /// Webhook attempts answered with an error (then retried, as Meta does).
    pub failed_acks: u64,
}

impl Row {
    /// Delivered messages per second, first send to last delivery.
    pub fn throughput(&self) -> f64 {
        let secs = self.span.as_secs_f64();
        if secs > 0.0 { self.delivered as f64 / secs } else { 0.0 }
    }

    /// Target CPU seconds per 1,000 delivered messages.
    pub fn cpu_per_thousand(&self) -> f64 {
        per_thousand(self.cpu, self.delivered)
    }

    /// The PostgreSQL server's CPU seconds per 1,000 delivered messages, when measured.
    pub fn server_cpu_per_thousand(&self) -> Option<f64> {
        Some(per_thousand(self.server_cpu?, self.delivered))
    }
}

fn per_thousand(cpu: Duration, delivered: u64) -> f64 {
    if delivered == 0 {
        return 0.0;
    }
    cpu.as_secs_f64() * 1000.0 / delivered as f64
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

fn mib(bytes: u64) -> String {
    format!("{:.1}", bytes as f64 / (1024.0 * 1024.0))
}

/// The table, as Markdown.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| target | conversations | load | delivered | msg/s | ack p50 ms | ack p99 ms | ack p999 ms | webhook→Chatwoot p50 ms | p99 ms | idle RSS MiB | peak RSS MiB | CPU s / 1k msgs | PostgreSQL server CPU s / 1k | duplicates | failed acks |\n\
         |---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for r in rows {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {}/{} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {:.3} | {} | {} | {} |",
            r.target,
            r.conversations,
            r.load,
            r.delivered,
            r.messages,
            r.throughput(),
            ms(r.ack.p50),
            ms(r.ack.p99),
            ms(r.ack.p999),
            ms(r.end_to_end.p50),
            ms(r.end_to_end.p99),
            mib(r.idle_rss),
            mib(r.peak_rss),
            r.cpu_per_thousand(),
            r.server_cpu_per_thousand().map_or("—".to_owned(), |c| format!("{c:.3}")),
            r.duplicates,
            r.failed_acks,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let p = Percentiles::of((1..=1000).rev().collect());
        assert_eq!(p, Percentiles { p50: 500, p99: 990, p999: 999 });
        assert_eq!(Percentiles::of(vec![7]), Percentiles { p50: 7, p99: 7, p999: 7 });
        assert_eq!(Percentiles::of(Vec::new()), Percentiles::default());
    }

    #[test]
    fn throughput_and_cost_come_from_deliveries() {
        let row = Row {
            delivered: 5000,
            span: Duration::from_secs(2),
            cpu: Duration::from_millis(1500),
            ..Row::default()
        };
        assert_eq!(row.throughput(), 2500.0);
        assert!((row.cpu_per_thousand() - 0.3).abs() < 1e-9);
        assert_eq!(row.server_cpu_per_thousand(), None);
        assert!(table(std::slice::from_ref(&row)).contains("| 2500 |"));
        let on_postgres = Row { server_cpu: Some(Duration::from_secs(4)), ..row };
        assert_eq!(on_postgres.server_cpu_per_thousand(), Some(0.8));
        assert!(table(&[on_postgres]).contains("| 0.300 | 0.800 |"));
    }
}
