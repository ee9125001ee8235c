//! The Meta and Chatwoot signature checks: never panic on any header or body, and never
//! accept a body under a signature computed for different bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wbots_core::{Channel, Inbox, RawRequest, Secret};

fuzz_target!(|input: (&[u8], &[u8], &[u8])| {
    let (body, header, other) = input;
    let secret = Secret::new("fuzz-secret");
    let meta = wbots_meta::MetaChannel::builder(wbots_meta::MetaConfig::new(secret.clone(), Secret::new("v"))).build().unwrap();
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(header) {
        headers.insert("x-hub-signature-256", v.clone());
        headers.insert("x-chatwoot-signature", v);
        headers.insert("x-chatwoot-timestamp", http::HeaderValue::from_static("1700000000"));
    }
    let _ = meta.verify(&RawRequest::new(&http::Method::POST, &headers, body));
    let config = wbots_chatwoot::ChatwootConfig::new("http://127.0.0.1:1".parse().unwrap(), Secret::new("t"), 1).with_webhook_secret(secret.clone());
    let inbox = wbots_chatwoot::ChatwootInbox::builder(config).build().unwrap();
    let _ = inbox.verify(&RawRequest::new(&http::Method::POST, &headers, body));
    // A genuine signature over `other` must not authenticate `body`.
    if other != body {
        let mut signed = http::HeaderMap::new();
        signed.insert("x-hub-signature-256", http::HeaderValue::from_str(&wbots_meta::sign_body(&secret, other)).unwrap());
        assert!(meta.verify(&RawRequest::new(&http::Method::POST, &signed, body)).is_err());
    }
});
