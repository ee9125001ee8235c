//! The minimal fake Chatwoot and fake Graph API the load runs against: just enough of
//! each API for the bridge's inbound path, answered from memory with no logging.
//!
//! Unlike `wbots_fakes::chatwoot::FakeChatwoot` (stateful, fires webhooks back, checks
//! what it is sent) these keep no state but counters: the harness measures the bridge,
//! so the fakes must stay far below it in cost.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::{Method, StatusCode};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::http::{json, serve};
use crate::tracker::Tracker;

/// The Chatwoot account every load run uses.
pub const ACCOUNT: u64 = 1;
/// The API inbox every load run uses.
pub const INBOX: u64 = 1;

/// A fake Chatwoot Application API that records every message it is sent in the current
/// [`Tracker`].
#[derive(Debug)]
pub struct FakeChatwoot {
    addr: SocketAddr,
    tracker: Arc<RwLock<Arc<Tracker>>>,
    task: JoinHandle<()>,
}

impl FakeChatwoot {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let tracker = Arc::new(RwLock::new(Arc::new(Tracker::new(0))));
        let ids = Arc::new(AtomicU64::new(1));
        let state = tracker.clone();
        let task = serve(listener, move |method, path, body| {
            let (state, ids) = (state.clone(), ids.clone());
            async move {
                let next = || ids.fetch_add(1, Ordering::Relaxed);
                let (status, answer) = match (method, path.as_str()) {
                    (Method::POST, p) if p.ends_with("/messages") => {
                        let tracker = state.read().unwrap_or_else(|e| e.into_inner()).clone();
                        tracker.delivered(&body);
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
        Ok(Self { addr, tracker, task })
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

/// A fake Graph API: every profile is "Load Tester", every send succeeds.
#[derive(Debug)]
pub struct FakeGraph {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl FakeGraph {
    /// Listens on a free loopback port.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = serve(listener, |method, _path, _body: Bytes| async move {
            match method {
                Method::GET => {
                    json(StatusCode::OK, r#"{"first_name":"Load","last_name":"Tester"}"#)
                }
                _ => json(StatusCode::OK, r#"{"recipient_id":"1","message_id":"m_load"}"#),
            }
        });
        Ok(Self { addr, task })
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
