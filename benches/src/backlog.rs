//! The backlog scenario: a large inbound backlog drains through a Chatwoot that throttles
//! (3,000 requests a minute by default) at the bridge's request budget, while agents reply
//! in other conversations. What it shows: how long an agent's reply takes to reach Meta
//! under that backlog, and how many 429s the bridge drew.

use std::fmt::Write as _;
use std::time::Duration;

use bytes::Bytes;

use crate::fakes::INBOX;
use crate::load::{PAGE, Webhook, customer_id};
use crate::report::Percentiles;
use crate::tracker::text_of;

/// Customer numbers of the conversations agents reply in, apart from the backlog's.
pub const AGENT_CUSTOMERS: u64 = 1_000_000;

/// Chatwoot's `message_created` for an agent's reply `seq` in `conversation`, whose contact
/// the bridge created for customer `customer` (`Message#webhook_data`,
/// `app/models/message.rb:180-198`, as `wbots_fakes::chatwoot` builds it: `message_type`
/// by name, the conversation with its contact inbox's `source_id`). Unsigned: the bridge
/// authenticates it by its path token (`chatwoot.webhook_token`).
pub fn agent_reply(seq: u64, conversation: u64, customer: u64) -> Webhook {
    let body = serde_json::json!({
        "event": "message_created",
        "id": 50_000_000 + seq,
        "content": text_of(seq),
        "content_type": "text",
        "content_attributes": {},
        "additional_attributes": {},
        "message_type": "outgoing",
        "private": false,
        "source_id": null,
        "sender": { "id": 1, "name": "Agent Smith", "type": "user" },
        "conversation": {
            "id": conversation,
            "inbox_id": INBOX,
            "status": "open",
            "contact_inbox": {
                "source_id": format!("wbots:messenger:{PAGE}:{}", customer_id(customer)),
            },
        },
        "inbox": { "id": INBOX, "name": "Load" },
        "account": { "id": 1, "name": "Load" },
    });
    Webhook { seq, body: Bytes::from(body.to_string()), signature: String::new() }
}

/// What one run of the scenario gave.
#[derive(Clone, Debug, Default)]
pub struct BacklogRow {
    /// `bridge (sqlite)` …
    pub target: String,
    /// The bridge's `chatwoot.max_requests_per_minute`.
    pub budget: u64,
    /// The fake Chatwoot's throttle, requests a minute.
    pub limit: u64,
    /// Inbound messages offered as the backlog.
    pub offered: u64,
    /// Of them, still queued when the window opened.
    pub queued: u64,
    /// Backlog conversations.
    pub conversations: u64,
    /// The measuring window.
    pub window: Duration,
    /// Backlog messages delivered to Chatwoot during the window.
    pub drained: u64,
    /// Agent replies sent during the window, and how many reached Meta.
    pub replies: u64,
    /// Agent replies that reached Meta.
    pub replied: u64,
    /// Agent webhook → the reply at Meta.
    pub reply: Percentiles,
    /// The slowest reply.
    pub reply_max: u64,
    /// 429s from Chatwoot over the whole scenario (queueing the backlog included).
    pub throttled: u64,
    /// Deliveries (backlog or replies) of a message already delivered.
    pub duplicates: u64,
}

fn ms(us: u64) -> String {
    format!("{:.1}", us as f64 / 1000.0)
}

/// The table, as Markdown.
pub fn table(rows: &[BacklogRow]) -> String {
    let mut out = String::from(
        "| target | budget /min | Chatwoot limit /min | backlog queued | backlog conversations | window s | backlog drained /min | replies reached Meta | reply p50 ms | reply p99 ms | reply max ms | 429s | duplicates |\n\
         |---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n",
    );
    for r in rows {
        let minutes = r.window.as_secs_f64() / 60.0;
        let drained = if minutes > 0.0 { r.drained as f64 / minutes } else { 0.0 };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} of {} | {} | {} | {:.0} | {}/{} | {} | {} | {} | {} | {} |",
            r.target,
            r.budget,
            r.limit,
            r.queued,
            r.offered,
            r.conversations,
            r.window.as_secs(),
            drained,
            r.replied,
            r.replies,
            ms(r.reply.p50),
            ms(r.reply.p99),
            ms(r.reply_max),
            r.throttled,
            r.duplicates,
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::find_seq;

    #[test]
    fn an_agent_reply_names_its_conversation_and_customer_and_carries_its_number() {
        let w = agent_reply(7, 42, AGENT_CUSTOMERS + 3);
        let v: serde_json::Value = serde_json::from_slice(&w.body).unwrap();
        assert_eq!(v["conversation"]["id"], 42);
        assert_eq!(v["message_type"], "outgoing");
        assert_eq!(
            v["conversation"]["contact_inbox"]["source_id"],
            format!("wbots:messenger:{PAGE}:{}", customer_id(AGENT_CUSTOMERS + 3))
        );
        assert_eq!(find_seq(&w.body), Some(7));
    }

    #[test]
    fn the_drain_rate_is_per_minute_of_window() {
        let row =
            BacklogRow { drained: 1500, window: Duration::from_secs(30), ..BacklogRow::default() };
        assert!(table(&[row]).contains("| 3000 |"));
    }
}
