//! Webhook bodies as Meta sends them: the envelope `{object, entry: [{id, time, messaging}]}`
//! and the `messaging` items of shared/reference/meta-platform.md §2.0–2.2 (from Meta's
//! Webhooks and Messenger webhook-events pages, S1–S9 there).

use serde_json::{Value, json};

/// One `messaging` item from a customer.
pub fn customer_item(account: &str, customer: &str, ts_ms: i64, key: &str, value: Value) -> Value {
    let mut item =
        json!({ "sender": { "id": customer }, "recipient": { "id": account }, "timestamp": ts_ms });
    item[key] = value;
    item
}

/// A whole webhook body: `object` (`page` / `instagram`) with one entry per
/// (account, items).
pub fn body(object: &str, entries: &[(&str, Vec<Value>)]) -> String {
    let entry: Vec<Value> = entries
        .iter()
        .map(|(account, items)| json!({ "id": account, "time": chrono::Utc::now().timestamp_millis(), "messaging": items }))
        .collect();
    json!({ "object": object, "entry": entry }).to_string()
}

/// A customer's text message.
pub fn text(
    object: &str,
    account: &str,
    customer: &str,
    mid: &str,
    text: &str,
    ts_ms: i64,
) -> String {
    body(
        object,
        &[(
            account,
            vec![customer_item(
                account,
                customer,
                ts_ms,
                "message",
                json!({ "mid": mid, "text": text }),
            )],
        )],
    )
}

/// A customer's image (or other attachment `kind`) served at `url`.
pub fn attachment(
    object: &str,
    account: &str,
    customer: &str,
    mid: &str,
    kind: &str,
    url: &str,
    ts_ms: i64,
) -> String {
    let message =
        json!({ "mid": mid, "attachments": [{ "type": kind, "payload": { "url": url } }] });
    body(object, &[(account, vec![customer_item(account, customer, ts_ms, "message", message)])])
}

/// An echo of a message the business account sent.
#[allow(clippy::too_many_arguments)]
pub fn echo(
    object: &str,
    account: &str,
    customer: &str,
    mid: &str,
    text: Option<&str>,
    metadata: Option<&str>,
    app_id: Option<&str>,
    ts_ms: i64,
) -> String {
    let mut message = json!({ "mid": mid, "is_echo": true });
    if let Some(t) = text {
        message["text"] = json!(t);
    }
    if let Some(m) = metadata {
        message["metadata"] = json!(m);
    }
    if let Some(a) = app_id {
        message["app_id"] = a.parse::<u64>().map(Value::from).unwrap_or_else(|_| json!(a));
    }
    let item = json!({ "sender": { "id": account }, "recipient": { "id": customer }, "timestamp": ts_ms, "message": message });
    body(object, &[(account, vec![item])])
}

/// A delivery receipt (Messenger).
pub fn delivery(account: &str, customer: &str, mids: &[&str], watermark_ms: i64) -> String {
    let item = customer_item(
        account,
        customer,
        watermark_ms,
        "delivery",
        json!({ "mids": mids, "watermark": watermark_ms }),
    );
    body("page", &[(account, vec![item])])
}

/// A read receipt (Messenger's watermark form).
pub fn read(account: &str, customer: &str, watermark_ms: i64) -> String {
    body(
        "page",
        &[(
            account,
            vec![customer_item(
                account,
                customer,
                watermark_ms,
                "read",
                json!({ "watermark": watermark_ms }),
            )],
        )],
    )
}

/// A reaction (`react` / `unreact`).
pub fn reaction(
    object: &str,
    account: &str,
    customer: &str,
    target: &str,
    emoji: Option<&str>,
    action: &str,
    ts_ms: i64,
) -> String {
    let mut r = json!({ "mid": target, "action": action });
    if let Some(e) = emoji {
        r["emoji"] = json!(e);
        r["reaction"] = json!("love");
    }
    body(object, &[(account, vec![customer_item(account, customer, ts_ms, "reaction", r)])])
}
