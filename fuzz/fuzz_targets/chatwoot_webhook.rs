//! Chatwoot's webhook parser behind the adapter: any bytes parse or are Malformed, never a
//! panic; a message marked as the bridge's own is never an agent message to send.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
use wbots_core::{AgentEvent, Inbox, RawRequest, Secret};

fuzz_target!(|data: &[u8]| {
    let config = ChatwootConfig::new("http://127.0.0.1:1".parse().unwrap(), Secret::new("t"), 1);
    let inbox = ChatwootInbox::builder(config).build().unwrap();
    let headers = http::HeaderMap::new();
    let request = RawRequest::new(&http::Method::POST, &headers, data);
    if let Ok(events) = inbox.parse(&request) {
        let marked = std::str::from_utf8(data).is_ok_and(|s| s.contains("\"source_id\":\"") && !s.contains("\"source_id\":\"\""));
        for e in events {
            if let AgentEvent::Message(_) = e.event {
                // A body with a non-empty source_id string may still carry it elsewhere than
                // the top level; only assert on the simple top-level case.
                if marked && serde_json_top_level_source_id(data) {
                    panic!("a message with a source_id became an agent message");
                }
            }
        }
    }
});

fn serde_json_top_level_source_id(data: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(data) else { return false };
    v.get("source_id").and_then(|s| s.as_str()).is_some_and(|s| !s.is_empty())
}
