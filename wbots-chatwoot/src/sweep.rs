//! Finding the agent messages Chatwoot could not hand to the bridge
//! (`chatwoot-signin-and-sweep.md` §8).
//!
//! Chatwoot marks such a message `failed` with its HTTP error; no endpoint filters by
//! status, so the sweep lists each bridged inbox's conversations by latest activity (every
//! conversation with a message since T has `last_activity_at ≥ T`, §4.2), newest first,
//! stops at the first one older than the lookback, and reads each one's messages newest
//! first, 20 a page, until it passes the lookback. Requires a user's token: bots may list
//! neither (§2.1).

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde_json::Value;
use wbots_core::{AgentEnvelope, AgentEvent, ConversationId, DeliveryError, InboxId};

use crate::client::Client;
use crate::inbox::thread_of_identifier;
use crate::webhook::swept_message;

/// A bound on the pages read per inbox and per conversation, so a huge or looping listing
/// cannot hold the sweep forever; the next sweep goes on where this one stopped mattering.
const MAX_PAGES: usize = 200;

fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// Conversations of `inbox` with activity since `since`, newest first.
async fn active_conversations(
    client: &Client,
    inbox: &InboxId,
    since: i64,
) -> Result<Vec<String>, DeliveryError> {
    let mut seen = HashSet::new();
    let mut ids = Vec::new();
    for page in 1..=MAX_PAGES {
        let req = client.request(Method::GET, &["conversations"])?.query(&[
            ("inbox_id", inbox.as_str()),
            ("status", "all"),
            ("assignee_type", "all"),
            ("sort_by", "last_activity_at_desc"),
            ("page", &page.to_string()),
        ]);
        let listed: Value = client.send(req, "listing conversations for the sweep").await?;
        let items = listed
            .pointer("/data/payload")
            .or_else(|| listed.get("payload"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if items.is_empty() {
            break;
        }
        let mut older = false;
        for item in &items {
            if as_i64(item.get("last_activity_at")).is_some_and(|t| t < since) {
                older = true;
                break;
            }
            let Some(id) = item.get("id").map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }) else {
                continue;
            };
            // Rows shift while paging: the same conversation may show up twice.
            if seen.insert(id.clone()) {
                ids.push(id);
            }
        }
        if older {
            break;
        }
    }
    Ok(ids)
}

/// The messages of one conversation since `since` that Chatwoot failed to deliver.
async fn failed_in(
    client: &Client,
    inbox: &InboxId,
    conversation: &str,
    since: i64,
) -> Result<Vec<AgentEnvelope>, DeliveryError> {
    let conversation_id = ConversationId::new(conversation);
    let mut found = Vec::new();
    let mut before: Option<i64> = None;
    for _ in 0..MAX_PAGES {
        let mut req = client.request(Method::GET, &["conversations", conversation, "messages"])?;
        if let Some(b) = before {
            req = req.query(&[("before", b.to_string())]);
        }
        let page: Value = client.send(req, "listing messages for the sweep").await?;
        let contact_thread = page
            .pointer("/meta/contact/identifier")
            .and_then(Value::as_str)
            .and_then(thread_of_identifier);
        let messages = page.get("payload").and_then(Value::as_array).cloned().unwrap_or_default();
        for m in &messages {
            if as_i64(m.get("created_at")).is_some_and(|t| t < since) {
                continue;
            }
            if let Some(message) = swept_message(m, &conversation_id) {
                found.push(AgentEnvelope {
                    inbox: inbox.clone(),
                    event: AgentEvent::Undelivered(message),
                    contact_thread: contact_thread.clone(),
                });
            }
        }
        let oldest_time = messages.iter().filter_map(|m| as_i64(m.get("created_at"))).min();
        let oldest_id = messages.iter().filter_map(|m| as_i64(m.get("id"))).min();
        match (oldest_time, oldest_id) {
            (Some(t), Some(id)) if t >= since && messages.len() >= 20 => before = Some(id),
            _ => break,
        }
    }
    // Oldest first, so they are enqueued (and sent) in the order the agents wrote them.
    found.sort_by_key(|e| match &e.event {
        AgentEvent::Undelivered(m) => (m.created_at, m.id.as_str().parse::<u64>().unwrap_or(0)),
        _ => (DateTime::<Utc>::MIN_UTC, 0),
    });
    Ok(found)
}

/// Every agent message of `inboxes` written since `since` that Chatwoot marked failed
/// because its webhook to the bridge failed.
pub(crate) async fn undelivered(
    client: &Client,
    inboxes: &[InboxId],
    since: DateTime<Utc>,
) -> Result<Vec<AgentEnvelope>, DeliveryError> {
    let since = since.timestamp();
    let mut found = Vec::new();
    for inbox in inboxes {
        for conversation in active_conversations(client, inbox, since).await? {
            found.extend(failed_in(client, inbox, &conversation, since).await?);
        }
    }
    Ok(found)
}
