//! The minimal fake Chatwoot and fake Graph API the load runs against: just enough of
//! each API for the bridge's inbound path, answered from memory with no logging.
//!
//! Unlike `wbots_fakes::chatwoot::FakeChatwoot` (stateful, fires webhooks back, checks
//! what it is sent) these keep no state but counters: the harness measures the bridge,
//! so the fakes must stay far below it in cost.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Method, StatusCode};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::http::{json, serve};
use crate::tracker::{Tracker, find_seq};

/// The Chatwoot account every load run uses.
pub const ACCOUNT: u64 = 1;
/// The API inbox every load run uses.
pub const INBOX: u64 = 1;

/// A fake Chatwoot Application API that records every message it is sent in the current
/// [`Tracker`], and throttles like real Chatwoot when told to ([`FakeChatwoot::limit`]).
#[derive(Debug)]
pub struct FakeChatwoot {
    addr: SocketAddr,
    tracker: Arc<RwLock<Arc<Tracker>>>,
    throttle: Arc<Throttle>,
    conversations: Arc<Mutex<HashMap<u64, u64>>>,
    task: JoinHandle<()>,
}

/// Chatwoot's rack-attack throttle (`config/initializers/rack_attack.rb`:
/// `throttle('req/ip', limit: RACK_ATTACK_LIMIT (3000), period: 1.minute)`;
/// `/work/shared/reference/chatwoot-api.md`, "Rate limits"): one counter per fixed minute
/// aligned on the epoch (rack-attack's `Cache#count` keys on `now / period`), incremented by
/// every request, throttled ones included; past the limit the answer is 429 `Retry later`
/// with no `Retry-After`. The same model as `wbots_fakes::chatwoot::FakeChatwoot`'s.
#[derive(Debug, Default)]
struct Throttle {
    /// Requests a minute; 0: none.
    limit: AtomicU64,
    /// (minute since the epoch, requests counted in it).
    window: Mutex<(u64, u64)>,
    throttled: AtomicU64,
}

impl Throttle {
    /// Counts one request; whether it is over the limit.
    fn over(&self) -> bool {
        let limit = self.limit.load(Ordering::Relaxed);
        if limit == 0 {
            return false;
        }
        let minute = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() / 60);
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        if w.0 != minute {
            *w = (minute, 0);
        }
        w.1 += 1;
        let over = w.1 > limit;
        if over {
            self.throttled.fetch_add(1, Ordering::Relaxed);
        }
        over
    }
}

/// The conversation id in a `…/conversations/{id}/messages` path.
fn conversation_in(path: &str) -> Option<u64> {
    path.strip_suffix("/messages")?.rsplit('/').next()?.parse().ok()
}

impl FakeChatwoot {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tracker = Arc::new(RwLock::new(Arc::new(Tracker::new(0))));
        let throttle = Arc::new(Throttle::default());
        let conversations = Arc::new(Mutex::new(HashMap::new()));
        let ids = Arc::new(AtomicU64::new(1));
        let (state, limit, seen) = (tracker.clone(), throttle.clone(), conversations.clone());
        let task = serve(listener, move |method, path, body| {
            let (state, ids, limit, seen) =
                (state.clone(), ids.clone(), limit.clone(), seen.clone());
            async move {
                if limit.over() {
                    let mut answer = json(StatusCode::TOO_MANY_REQUESTS, "Retry later\n");
                    answer.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        http::HeaderValue::from_static("text/plain"),
                    );
                    return answer;
                }
                let next = || ids.fetch_add(1, Ordering::Relaxed);
                let (status, answer) = match (method, path.as_str()) {
                    (Method::POST, p) if p.ends_with("/messages") => {
                        let tracker = state.read().unwrap_or_else(|e| e.into_inner()).clone();
                        tracker.delivered(&body);
                        if let (Some(seq), Some(conversation)) =
                            (find_seq(&body), conversation_in(p))
                        {
                            seen.lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .insert(seq, conversation);
                        }
                        (StatusCode::OK, format!(r#"{{"id":{}}}"#, next()))
                    }
                    (Method::POST, p) if p.ends_with("/contacts/filter") => {
                        (StatusCode::OK, r#"{"meta":{"count":0},"payload":[]}"#.to_owned())
                    }
                    (Method::POST, p) if p.ends_with("/contact_inboxes") => {
                        (StatusCode::OK, r#"{"source_id":"load"}"#.to_owned())
                    }
                    (Method::POST, p) if p.ends_with("/contacts") => (
                        StatusCode::OK,
                        format!(r#"{{"payload":{{"contact":{{"id":{}}}}}}}"#, next()),
                    ),
                    (Method::GET, p) if p.ends_with("/conversations") => {
                        (StatusCode::OK, r#"{"payload":[]}"#.to_owned())
                    }
                    (Method::POST, p) if p.ends_with("/conversations") => (
                        StatusCode::OK,
                        format!(r#"{{"id":{},"inbox_id":{INBOX},"status":"open"}}"#, next()),
                    ),
                    (Method::GET, p) if p.ends_with("/inboxes") => (
                        StatusCode::OK,
                        format!(
                            r#"{{"payload":[{{"id":{INBOX},"channel_type":"Channel::Api"}}]}}"#
                        ),
                    ),
                    _ => (StatusCode::OK, "{}".to_owned()),
                };
                json(status, answer)
            }
        });
        Ok(Self { addr, tracker, throttle, conversations, task })
    }

    /// Throttles to `per_minute` requests a minute from now on, as Chatwoot's rack-attack
    /// does (0: no throttle, the default).
    pub fn limit(&self, per_minute: u64) {
        self.throttle.limit.store(per_minute, Ordering::Relaxed);
    }

    /// Requests answered 429 so far.
    pub fn throttled(&self) -> u64 {
        self.throttle.throttled.load(Ordering::Relaxed)
    }

    /// The conversation load message `seq` was posted into, once it was.
    pub fn conversation_of(&self, seq: u64) -> Option<u64> {
        self.conversations.lock().unwrap_or_else(|e| e.into_inner()).get(&seq).copied()
    }

    /// The base URL (`chatwoot.url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The URL the relay forwards to: one conversation's messages.
    pub fn messages_url(&self) -> String {
        format!("{}/api/v1/accounts/{ACCOUNT}/conversations/1/messages", self.url())
    }

    /// Records deliveries in `tracker` from now on.
    pub fn track(&self, tracker: Arc<Tracker>) {
        *self.tracker.write().unwrap_or_else(|e| e.into_inner()) = tracker;
    }
}

impl Drop for FakeChatwoot {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A fake Graph API: every profile is "Load Tester", every send succeeds and is recorded
/// in the current [`Tracker`] (the agent replies of the backlog scenario).
#[derive(Debug)]
pub struct FakeGraph {
    addr: SocketAddr,
    tracker: Arc<RwLock<Arc<Tracker>>>,
    task: JoinHandle<()>,
}

impl FakeGraph {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tracker = Arc::new(RwLock::new(Arc::new(Tracker::new(0))));
        let state = tracker.clone();
        let ids = Arc::new(AtomicU64::new(1));
        let task = serve(listener, move |method, _path, body: Bytes| {
            let (state, ids) = (state.clone(), ids.clone());
            async move {
                match method {
                    Method::GET => {
                        json(StatusCode::OK, r#"{"first_name":"Load","last_name":"Tester"}"#)
                    }
                    _ => {
                        if find_seq(&body).is_some() {
                            state.read().unwrap_or_else(|e| e.into_inner()).delivered(&body);
                        }
                        // Each send its own id, as Meta's Send API answers.
                        let id = ids.fetch_add(1, Ordering::Relaxed);
                        json(
                            StatusCode::OK,
                            format!(r#"{{"recipient_id":"1","message_id":"m_load_{id}"}}"#),
                        )
                    }
                }
            }
        });
        Ok(Self { addr, tracker, task })
    }

    /// Records sends in `tracker` from now on.
    pub fn track(&self, tracker: Arc<Tracker>) {
        *self.tracker.write().unwrap_or_else(|e| e.into_inner()) = tracker;
    }

    /// The base URL (`meta.graph_url`).
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

impl Drop for FakeGraph {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::{client, post};

    #[tokio::test]
    async fn throttles_past_the_limit_of_the_minute_and_counts_the_429s() {
        let chatwoot = FakeChatwoot::start().await.unwrap();
        let http = client();
        let url = format!("{}/api/v1/accounts/{ACCOUNT}/conversations/9/messages", chatwoot.url());
        let body = || Bytes::from(r#"{"content":"load #1;"}"#);
        assert_eq!(post(&http, &url, &[], body()).await.unwrap(), StatusCode::OK);
        assert_eq!(chatwoot.conversation_of(1), Some(9));
        chatwoot.limit(1);
        // The minute may turn between two requests and let one more through; three cannot
        // all pass a limit of one.
        let mut statuses = Vec::new();
        for _ in 0..3 {
            statuses.push(post(&http, &url, &[], body()).await.unwrap());
        }
        assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "{statuses:?}");
        assert!(chatwoot.throttled() >= 1);
        chatwoot.limit(0);
        assert_eq!(post(&http, &url, &[], body()).await.unwrap(), StatusCode::OK);
    }

    #[tokio::test]
    async fn the_graph_records_the_sends_that_carry_a_load_number() {
        let graph = FakeGraph::start().await.unwrap();
        let tracker = Arc::new(Tracker::new(5));
        graph.track(tracker.clone());
        let http = client();
        let url = format!("{}/v21.0/me/messages", graph.url());
        let send = r#"{"message":{"text":"load #3;"}}"#;
        assert_eq!(post(&http, &url, &[], Bytes::from(send)).await.unwrap(), StatusCode::OK);
        let typing = r#"{"sender_action":"typing_on"}"#;
        assert_eq!(post(&http, &url, &[], Bytes::from(typing)).await.unwrap(), StatusCode::OK);
        assert_eq!(tracker.delivered_in(0..5), 1);
        assert_eq!(tracker.strays(), 0);
    }
}
