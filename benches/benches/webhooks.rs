//! Webhook verification and parsing, as the engine calls them on every request: Meta's
//! signature check and parse (one message; a 50-entry batch), Chatwoot's.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use http::{HeaderMap, HeaderValue, Method};
use wbots_chatwoot::{ChatwootConfig, ChatwootInbox, sign_webhook};
use wbots_core::{Channel, Inbox, RawRequest, Secret};
use wbots_fakes::meta::payload;
use wbots_meta::{MetaAccount, MetaChannel, MetaConfig, sign_body};

const PAGE: &str = "5550001";
const APP_SECRET: &str = "bench-app-secret";

fn meta() -> MetaChannel {
    MetaChannel::builder(MetaConfig::new(Secret::new(APP_SECRET), Secret::new("verify")))
        .account(MetaAccount::messenger(PAGE, Secret::new("page-token")))
        .build()
        .expect("a valid Meta configuration")
}

fn single() -> String {
    payload::text(
        "page",
        PAGE,
        "7000000001",
        "m_bench_1",
        "Hello, is my order on its way?",
        1_764_000_000_000,
    )
}

/// Meta batches up to 1,000 events in one request; 50 entries is a busy Page's burst.
fn batch_of_50() -> String {
    let items: Vec<_> = (0..50)
        .map(|i| {
            let item = payload::customer_item(
                PAGE,
                &format!("70000000{i:02}"),
                1_764_000_000_000 + i,
                "message",
                serde_json::json!({ "mid": format!("m_bench_{i}"), "text": "Hello, is my order on its way?" }),
            );
            (PAGE, vec![item])
        })
        .collect();
    payload::body("page", &items)
}

fn signed(body: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let signature = sign_body(&Secret::new(APP_SECRET), body.as_bytes());
    headers.insert("x-hub-signature-256", HeaderValue::from_str(&signature).expect("ASCII"));
    headers
}

fn meta_benches(c: &mut Criterion) {
    let channel = meta();
    let method = Method::POST;
    for (name, body) in [("single", single()), ("batch_50", batch_of_50())] {
        let headers = signed(&body);
        let request = RawRequest::new(&method, &headers, body.as_bytes());
        channel.verify(&request).expect("the bench body is signed");
        assert_eq!(
            channel.parse(&request).expect("parses").len(),
            if name == "single" { 1 } else { 50 }
        );

        let mut group = c.benchmark_group("meta");
        group.throughput(Throughput::Bytes(body.len() as u64));
        group.bench_function(format!("verify_signature/{name}"), |b| {
            b.iter(|| channel.verify(black_box(&request)))
        });
        group.bench_function(format!("parse/{name}"), |b| {
            b.iter(|| channel.parse(black_box(&request)))
        });
        group.finish();
    }
}

fn chatwoot_benches(c: &mut Criterion) {
    let secret = Secret::new("bench-webhook-secret");
    let config = ChatwootConfig::new(
        url::Url::parse("http://chatwoot.invalid").expect("a URL"),
        Secret::new("token"),
        1,
    )
    .with_webhook_secret(secret.clone());
    let now = chrono::Utc::now();
    let inbox = ChatwootInbox::builder(config)
        .with_clock(std::sync::Arc::new(move || now))
        .build()
        .expect("a valid Chatwoot configuration");
    let body = include_str!("../../wbots-chatwoot/tests/fixtures/message_created_agent.json");
    let mut headers = HeaderMap::new();
    let ts = now.timestamp();
    headers.insert(
        "x-chatwoot-signature",
        HeaderValue::from_str(&sign_webhook(&secret, ts, body.as_bytes())).expect("ASCII"),
    );
    headers.insert("x-chatwoot-timestamp", HeaderValue::from(ts));
    let method = Method::POST;
    let request = RawRequest::new(&method, &headers, body.as_bytes());
    inbox.verify(&request).expect("the bench body is signed");
    assert_eq!(inbox.parse(&request).expect("parses").len(), 1);

    let mut group = c.benchmark_group("chatwoot");
    group.throughput(Throughput::Bytes(body.len() as u64));
    group.bench_function("verify_signature/message_created", |b| {
        b.iter(|| inbox.verify(black_box(&request)))
    });
    group.bench_function("parse/message_created", |b| b.iter(|| inbox.parse(black_box(&request))));
    group.finish();
}

criterion_group!(benches, meta_benches, chatwoot_benches);
criterion_main!(benches);
