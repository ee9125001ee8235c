//! The load generator: signed Meta webhooks, one customer message each, spread round-robin
//! over N conversations, offered as fast as the target answers or at a fixed rate.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::Semaphore;
use wbots_core::Secret;
use wbots_fakes::meta::payload;
use wbots_meta::sign_body;

use crate::http::{Client, post};
use crate::tracker::{Tracker, text_of};

/// The Page every load message is addressed to.
pub const PAGE: &str = "5550001";
/// The app secret the load is signed with.
pub const APP_SECRET: &str = "load-app-secret-0123";

/// How many times one webhook is offered before the generator gives up on it (Meta
/// retries for hours; a load run does not).
const ATTEMPTS: usize = 20;
/// The most webhooks in flight at a fixed rate, so a stalled target cannot make the
/// generator open connections without end.
const MAX_IN_FLIGHT: usize = 2048;

/// One signed webhook.
#[derive(Clone, Debug)]
pub struct Webhook {
    /// Its sequence number (in its text).
    pub seq: u64,
    /// The body, byte for byte as signed.
    pub body: Bytes,
    /// `x-hub-signature-256`.
    pub signature: String,
}

/// Webhooks for messages `seqs`, message `seq` from customer `seq % conversations`, with
/// message ids unique to `run`. Built before the clock starts, so signing is not timed.
pub fn webhooks(seqs: std::ops::Range<u64>, conversations: u64, run: &str) -> Vec<Webhook> {
    webhooks_from(seqs, run, |seq| seq % conversations.max(1))
}

/// The number of customer `n` (`customer_id`): the PSID the load's webhooks carry.
pub fn customer_id(n: u64) -> String {
    format!("{}", 7_000_000_000u64 + n)
}

/// Webhooks for messages `seqs`, message `seq` from customer `customer(seq)`.
pub fn webhooks_from(
    seqs: std::ops::Range<u64>,
    run: &str,
    customer: impl Fn(u64) -> u64,
) -> Vec<Webhook> {
    let secret = Secret::new(APP_SECRET);
    let now_ms = unix_now_ms();
    seqs.map(|seq| {
        let customer = customer_id(customer(seq));
        let body = payload::text(
            "page",
            PAGE,
            &customer,
            &format!("m_{run}_{seq}"),
            &text_of(seq),
            now_ms,
        );
        let signature = sign_body(&secret, body.as_bytes());
        Webhook { seq, body: Bytes::from(body), signature }
    })
    .collect()
}

fn unix_now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// How the webhooks are offered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Pace {
    /// Closed loop: `concurrency` senders, each sending the next webhook once the previous
    /// one was answered.
    Max {
        /// Senders.
        concurrency: usize,
    },
    /// Open loop: one webhook every `1/rate` seconds whatever the answers; latency is
    /// counted from when each was due, so a slow target cannot hide its queueing.
    Rate(f64),
}

/// What offering a batch of webhooks gave.
#[derive(Debug, Default)]
pub struct Offered {
    /// Answer latency of each accepted webhook, µs (from its first attempt).
    pub acks: Vec<u64>,
    /// Attempts answered with an error or not at all.
    pub failed_attempts: u64,
    /// Webhooks never accepted.
    pub abandoned: u64,
}

/// Offers `webhooks` to `urls` (in turn: the replicas of one target) at `pace`, recording
/// send times in `tracker`.
pub async fn offer(
    client: &Client,
    urls: &[String],
    webhooks: Vec<Webhook>,
    pace: Pace,
    tracker: &Arc<Tracker>,
) -> Offered {
    let webhooks = Arc::new(webhooks);
    let urls: Arc<Vec<String>> = Arc::new(urls.to_vec());
    let mut tasks = Vec::new();
    match pace {
        Pace::Max { concurrency } => {
            let next = Arc::new(AtomicUsize::new(0));
            for _ in 0..concurrency.max(1) {
                let (client, urls, webhooks, next, tracker) =
                    (client.clone(), urls.clone(), webhooks.clone(), next.clone(), tracker.clone());
                tasks.push(tokio::spawn(async move {
                    let mut out = Offered::default();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(w) = webhooks.get(i) else { break };
                        let Some(url) = urls.get(i % urls.len().max(1)) else { break };
                        let start = Instant::now();
                        tracker.sent(w.seq, start);
                        send(&client, url, w, start, &mut out).await;
                    }
                    out
                }));
            }
        }
        Pace::Rate(rate) => {
            let gate = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
            let start = Instant::now() + Duration::from_millis(20);
            for i in 0..webhooks.len() {
                let due = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(due.into()).await;
                let Ok(permit) = gate.clone().acquire_owned().await else { break };
                let (client, urls, webhooks, tracker) =
                    (client.clone(), urls.clone(), webhooks.clone(), tracker.clone());
                tasks.push(tokio::spawn(async move {
                    let _permit = permit;
                    let mut out = Offered::default();
                    let (Some(w), Some(url)) = (webhooks.get(i), urls.get(i % urls.len().max(1)))
                    else {
                        return out;
                    };
                    tracker.sent(w.seq, due);
                    send(&client, url, w, due, &mut out).await;
                    out
                }));
            }
        }
    }
    let mut all = Offered::default();
    for task in tasks {
        if let Ok(out) = task.await {
            all.acks.extend(out.acks);
            all.failed_attempts += out.failed_attempts;
            all.abandoned += out.abandoned;
        }
    }
    all
}

/// Sends one webhook until it is accepted, as Meta does; latency from `since`.
async fn send(client: &Client, url: &str, w: &Webhook, since: Instant, out: &mut Offered) {
    let mut headers = vec![("content-type", "application/json")];
    if !w.signature.is_empty() {
        headers.push(("x-hub-signature-256", &*w.signature));
    }
    for _ in 0..ATTEMPTS {
        match post(client, url, &headers, w.body.clone()).await {
            Ok(status) if status.is_success() => {
                out.acks.push(since.elapsed().as_micros() as u64);
                return;
            }
            _ => {
                out.failed_attempts += 1;
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    out.abandoned += 1;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tracker::find_seq;

    #[test]
    fn webhooks_are_signed_and_spread_over_the_conversations() {
        let hooks = webhooks(10..14, 2, "t");
        assert_eq!(hooks.len(), 4);
        for w in &hooks {
            assert_eq!(find_seq(&w.body), Some(w.seq));
            assert_eq!(w.signature, sign_body(&Secret::new(APP_SECRET), &w.body));
        }
        let customer = |w: &Webhook| -> String {
            let v: serde_json::Value = serde_json::from_slice(&w.body).unwrap();
            v["entry"][0]["messaging"][0]["sender"]["id"].as_str().unwrap().to_owned()
        };
        assert_eq!(customer(&hooks[0]), customer(&hooks[2]));
        assert_ne!(customer(&hooks[0]), customer(&hooks[1]));
    }
}
