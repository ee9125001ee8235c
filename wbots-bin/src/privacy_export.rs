//! `wbots privacy export`: everything held about a person, as one JSON document (or an
//! HTML page of it), each item saying where it came from — the bridge's store (links, jobs
//! of the person's scope) and Chatwoot through the bridge's inboxes (the contact, its
//! conversations there, their messages and the attachments listed).

use std::process::ExitCode;

use anyhow::Context as _;
use chrono::Utc;
use serde_json::{Value, json};
use wbots_core::store::PrivacyAction;

use crate::privacy::{Person, Privacy};

/// At most this many links and jobs are read per person: far beyond any conversation.
const MAX_ITEMS: usize = 100_000;

/// Builds the export, records it in the audit trail, prints it.
pub(crate) async fn run(
    cx: &Privacy<'_>,
    person: &Person,
    html: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<ExitCode> {
    let document = match document(cx, person).await {
        Ok(d) => d,
        Err(e) => {
            let outcome = format!("failed: {e:#}");
            cx.audit(
                PrivacyAction::Export,
                &person.requested_by,
                person.subject(cx.key.as_ref()),
                "nothing".into(),
                &outcome,
            )
            .await?;
            return Err(e);
        }
    };
    let counts = &document["summary"];
    cx.audit(
        PrivacyAction::Export,
        &person.requested_by,
        person.subject(cx.key.as_ref()),
        format!(
            "read {} link(s), {} job(s), {} Chatwoot conversation(s), {} message(s)",
            counts["bridge_links"],
            counts["bridge_jobs"],
            counts["chatwoot_conversations"],
            counts["chatwoot_messages"]
        ),
        "completed",
    )
    .await?;
    if html {
        out.write_all(render_html(&document).as_bytes())?;
    } else {
        writeln!(out, "{}", serde_json::to_string_pretty(&document)?)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The export document.
async fn document(cx: &Privacy<'_>, person: &Person) -> anyhow::Result<Value> {
    let store_source = "the bridge's store (store.url)";
    let (links, jobs) = match &person.scope {
        Some(scope) => (
            cx.trail()?.links_in_scope(scope, MAX_ITEMS).await.context("reading links")?,
            cx.trail()?.jobs_in_scope(scope, MAX_ITEMS).await.context("reading jobs")?,
        ),
        None => (Vec::new(), Vec::new()),
    };
    let links: Vec<Value> = links
        .iter()
        .map(|l| {
            json!({
                "kind": l.key.kind().as_str(),
                "key": l.key.as_str(),
                "value": l.value,
                "source": format!("{store_source}, links table"),
            })
        })
        .collect();
    let jobs: Vec<Value> = jobs
        .iter()
        .map(|j| {
            json!({
                "id": j.id.0,
                "state": j.state.as_str(),
                "created_at": j.created_at.to_rfc3339(),
                "attempts": j.attempts,
                "last_error": j.last_error,
                "payload": j.payload.as_deref().map(|p| serde_json::from_str::<Value>(p).unwrap_or_else(|_| Value::String(p.to_owned()))),
                "source": format!("{store_source}, job queue"),
            })
        })
        .collect();

    let inboxes = cx.bridge_inboxes().await?;
    let account = format!(
        "{}/api/v1/accounts/{}",
        person.chatwoot.config().url.as_str().trim_end_matches('/'),
        person.chatwoot.config().account_id
    );
    let mut chatwoot = json!({ "account": account, "bridge_inboxes": inboxes, "contact": null, "conversations": [] });
    let (mut conversation_count, mut message_count) = (0, 0);
    if let Some(contact) = &person.contact {
        let record = person
            .chatwoot
            .contact_record(contact)
            .await
            .context("reading the Chatwoot contact")?;
        chatwoot["contact"] = match record {
            Some(c) => json!({ "data": c, "source": format!("GET {account}/contacts/{contact}") }),
            None => Value::Null,
        };
        let mut conversations = Vec::new();
        let listed = person
            .chatwoot
            .contact_conversation_records(contact)
            .await
            .context("listing the contact's conversations")?;
        for conversation in listed {
            let inbox = conversation.get("inbox_id").and_then(Value::as_u64);
            if !inbox.is_some_and(|i| inboxes.contains(&i)) {
                // Another inbox's conversation: not the bridge's to show.
                continue;
            }
            let Some(id) = conversation.get("id").and_then(Value::as_u64) else { continue };
            let messages = person
                .chatwoot
                .conversation_message_records(id)
                .await
                .with_context(|| format!("listing the messages of conversation {id}"))?;
            message_count += messages.len();
            let messages: Vec<Value> = messages.into_iter().map(message).collect();
            conversations.push(json!({
                "data": conversation,
                "source": format!("GET {account}/contacts/{contact}/conversations"),
                "messages": messages,
                "messages_source": format!("GET {account}/conversations/{id}/messages"),
            }));
        }
        conversation_count = conversations.len();
        chatwoot["conversations"] = Value::Array(conversations);
    }
    Ok(json!({
        "generated_at": Utc::now().to_rfc3339(),
        "person": {
            "channel": person.address.to_string(),
            "platform_user_id": person.user,
            "chatwoot_contact_id": person.contact.as_ref().map(|c| c.as_str().to_owned()),
        },
        "summary": {
            "bridge_links": links.len(),
            "bridge_jobs": jobs.len(),
            "chatwoot_conversations": conversation_count,
            "chatwoot_messages": message_count,
        },
        "bridge": { "source": store_source, "links": links, "jobs": jobs },
        "chatwoot": chatwoot,
    }))
}

/// A message as the export lists it: who wrote, what, when, and its attachments.
fn message(m: Value) -> Value {
    let direction = match m.get("message_type").and_then(Value::as_u64) {
        Some(0) => "from the person (incoming)",
        Some(1) => "to the person (outgoing)",
        Some(2) => "activity",
        _ => "other",
    };
    let attachments: Vec<Value> = m
        .get("attachments")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            json!({
                "id": a.get("id"),
                "file_type": a.get("file_type"),
                "url": a.get("data_url"),
                "file_size": a.get("file_size"),
            })
        })
        .collect();
    json!({
        "id": m.get("id"),
        "direction": direction,
        "private_note": m.get("private"),
        "content": m.get("content"),
        "created_at": m.get("created_at"),
        "sender": m.get("sender").and_then(|s| s.get("name")),
        "attachments": attachments,
    })
}

/// HTML-escapes text (every character that could open markup or an attribute).
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A JSON value as text for a cell.
fn text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The export as a readable page: every value escaped.
pub(crate) fn render_html(doc: &Value) -> String {
    let mut h = String::from(
        "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>Data export</title>\n<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.2em .5em;vertical-align:top}</style></head><body>\n",
    );
    let person = &doc["person"];
    h += &format!(
        "<h1>Data held about a person</h1>\n<p>Generated {}. Channel {}, platform id {}, Chatwoot contact {}.</p>\n",
        escape(&text(&doc["generated_at"])),
        escape(&text(&person["channel"])),
        escape(&text(&person["platform_user_id"])),
        escape(&text(&person["chatwoot_contact_id"])),
    );
    h += &format!(
        "<h2>Kept by the bridge</h2>\n<p>Source: {}.</p>\n",
        escape(&text(&doc["bridge"]["source"]))
    );
    h += "<table><tr><th>Kind</th><th>Key</th><th>Value</th></tr>\n";
    for l in doc["bridge"]["links"].as_array().into_iter().flatten() {
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&text(&l["kind"])),
            escape(&text(&l["key"])),
            escape(&text(&l["value"]))
        );
    }
    h += "</table>\n<h3>Queued work</h3>\n<table><tr><th>Job</th><th>State</th><th>Created</th><th>Work</th></tr>\n";
    for j in doc["bridge"]["jobs"].as_array().into_iter().flatten() {
        h += &format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
            escape(&text(&j["id"])),
            escape(&text(&j["state"])),
            escape(&text(&j["created_at"])),
            escape(&text(&j["payload"]))
        );
    }
    let cw = &doc["chatwoot"];
    h += &format!(
        "</table>\n<h2>Held by Chatwoot (the bridge's inboxes)</h2>\n<p>Source: {}.</p>\n",
        escape(&text(&cw["account"]))
    );
    if let Some(contact) = cw["contact"].get("data") {
        h += &format!(
            "<p>Contact: {} (source: {})</p>\n",
            escape(&text(&contact["name"])),
            escape(&text(&cw["contact"]["source"]))
        );
    }
    for c in cw["conversations"].as_array().into_iter().flatten() {
        h += &format!(
            "<h3>Conversation {} (inbox {})</h3>\n<p>Source: {}.</p>\n<table><tr><th>When</th><th>Direction</th><th>Text</th><th>Attachments</th></tr>\n",
            escape(&text(&c["data"]["id"])),
            escape(&text(&c["data"]["inbox_id"])),
            escape(&text(&c["messages_source"]))
        );
        for m in c["messages"].as_array().into_iter().flatten() {
            let files: Vec<String> = m["attachments"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| format!("{} {}", escape(&text(&a["file_type"])), escape(&text(&a["url"]))))
                .collect();
            h += &format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
                escape(&text(&m["created_at"])),
                escape(&text(&m["direction"])),
                escape(&text(&m["content"])),
                files.join("<br>")
            );
        }
        h += "</table>\n";
    }
    h += "</body></html>\n";
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_escapes_what_people_wrote() {
        let doc = json!({
            "generated_at": "now",
            "person": {"channel": "messenger:1", "platform_user_id": "<b>u</b>"},
            "bridge": {"source": "store", "links": [{"kind": "contact", "key": "k", "value": "\"v\"&"}], "jobs": []},
            "chatwoot": {"account": "a", "contact": null, "conversations": [{
                "data": {"id": 1, "inbox_id": 2}, "messages_source": "m",
                "messages": [{"created_at": 1, "direction": "in", "content": "<script>alert(1)</script>",
                              "attachments": [{"file_type": "image", "url": "x\"><img src=y>"}]}]
            }]},
        });
        let page = render_html(&doc);
        assert!(!page.contains("<script>alert"), "{page}");
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("&lt;b&gt;u&lt;/b&gt;"));
        assert!(page.contains("&quot;v&quot;&amp;"));
        assert!(!page.contains("<img src=y>"));
    }
}
