//! The listings the sweep reads, paged as Chatwoot pages them
//! (`chatwoot-signin-and-sweep.md` §4.1, §5.1).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{
    FakeMessage, Shared, api_message_json, conversation_json, last_activity, lock, not_found,
};

/// `CONVERSATION_RESULTS_PER_PAGE`'s default (`app/finders/conversation_finder.rb:206-208,225`).
const CONVERSATIONS_PER_PAGE: usize = 25;

/// `GET …/conversations` (`app/finders/conversation_finder.rb`): `inbox_id`, `status`
/// (default `open`; `all` for every status), `page` (1-based, 25 a page), sorted by
/// `last_activity_at` newest first; `{data: {meta, payload}}`.
pub(super) async fn list_conversations(
    State(state): State<Shared>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = lock(&state);
    let inbox = q.get("inbox_id").and_then(|i| i.parse::<u64>().ok());
    let status = q.get("status").map(String::as_str).unwrap_or("open");
    let page = q.get("page").and_then(|p| p.parse::<usize>().ok()).unwrap_or(1).max(1);
    let mut list: Vec<_> = s
        .conversations
        .iter()
        .filter(|c| inbox.is_none_or(|i| c.inbox_id == i))
        .filter(|c| status == "all" || c.status == status)
        .collect();
    let count = list.len();
    list.sort_by_key(|c| std::cmp::Reverse((last_activity(&s, c), c.id)));
    let payload: Vec<Value> = list
        .into_iter()
        .skip((page - 1) * CONVERSATIONS_PER_PAGE)
        .take(CONVERSATIONS_PER_PAGE)
        .map(|c| {
            let mut item = conversation_json(&s, c);
            // Only the last message, as `push_event_data` (`message.rb:146-171`).
            let last: Vec<Value> = s
                .messages
                .iter()
                .filter(|m| m.conversation_id == c.id)
                .max_by_key(|m| (m.created_at, m.id))
                .map(|m| api_message_json(&s, m))
                .into_iter()
                .collect();
            item["messages"] = json!(last);
            item
        })
        .collect();
    axum::Json(json!({
        "data": {
            "meta": { "mine_count": 0, "assigned_count": 0, "unassigned_count": count, "all_count": count },
            "payload": payload,
        }
    }))
    .into_response()
}

/// `GET …/conversations/{id}/messages` (`app/finders/message_finder.rb:1-52`): the newest
/// 20, or the 20 below `before=<id>`, or up to 100 above `after=<id>`; always ascending.
/// `meta.contact` is the conversation's contact (`index.json.jbuilder:1-14`).
pub(super) async fn list_messages(
    State(state): State<Shared>,
    Path((_, id)): Path<(String, u64)>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let s = lock(&state);
    let Some(conversation) = s.conversations.iter().find(|c| c.id == id) else {
        return not_found();
    };
    let before = q.get("before").and_then(|b| b.parse::<u64>().ok());
    let after = q.get("after").and_then(|b| b.parse::<u64>().ok());
    let mut page: Vec<&FakeMessage> = s
        .messages
        .iter()
        .filter(|m| m.conversation_id == id)
        .filter(|m| before.is_none_or(|b| m.id < b))
        .filter(|m| after.is_none_or(|a| m.id > a))
        .collect();
    page.sort_by_key(|m| (m.created_at, m.id));
    match (after, before) {
        (Some(_), Some(_)) => page.truncate(1000),
        (Some(_), None) => page.truncate(100),
        _ => {
            let skip = page.len().saturating_sub(20);
            page.drain(..skip);
        }
    }
    let contact = s.contacts.iter().find(|c| c.id == conversation.contact_id).map(
        |c| json!({ "id": c.id, "name": c.name, "identifier": c.identifier, "type": "contact" }),
    );
    let payload: Vec<Value> = page.iter().map(|m| api_message_json(&s, m)).collect();
    axum::Json(json!({ "meta": { "contact": contact, "labels": [] }, "payload": payload }))
        .into_response()
}
