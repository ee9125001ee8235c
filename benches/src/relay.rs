//! The bare relay: the floor the bridge is compared against. It forwards each webhook body
//! to the fake Chatwoot and answers 200 once Chatwoot did, with no signature check, no
//! storage, no mapping and no retry: what a bridge costs at the very least on this
//! machine, through the same HTTP stack. The *durable* relay also appends each body to a
//! group-committed, fsync'd journal before forwarding it: the floor of what durability costs.

use bytes::Bytes;
use http::StatusCode;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::http::{client, json, post, serve};
use crate::journal::Journal;

/// Serves the relay on `listener`, forwarding to `to` (a messages URL of the fake Chatwoot);
/// with a `journal`, each body is in it, on disk, before it is forwarded and answered.
pub fn serve_relay(listener: TcpListener, to: String, journal: Option<Journal>) -> JoinHandle<()> {
    let http = client();
    serve(listener, move |_method, _path, body: Bytes| {
        let (http, to, journal) = (http.clone(), to.clone(), journal.clone());
        async move {
            if let Some(journal) = journal {
                if journal.append(body.clone()).await.is_err() {
                    return json(StatusCode::INTERNAL_SERVER_ERROR, "{}");
                }
            }
            match post(&http, &to, &[("content-type", "application/json")], body).await {
                Ok(status) if status.is_success() => json(StatusCode::OK, "{}"),
                _ => json(StatusCode::BAD_GATEWAY, "{}"),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::fakes::FakeChatwoot;
    use crate::tracker::{Tracker, text_of};

    #[tokio::test]
    async fn forwards_each_webhook_to_chatwoot_and_answers_after_it() {
        let chatwoot = FakeChatwoot::start().await.unwrap();
        let tracker = Arc::new(Tracker::new(10));
        chatwoot.track(tracker.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/webhooks/meta", listener.local_addr().unwrap());
        let _relay = serve_relay(listener, chatwoot.messages_url(), None);
        let http = client();
        for seq in 0..10 {
            tracker.sent(seq, Instant::now());
            let body = format!(r#"{{"object":"page","text":"{}"}}"#, text_of(seq));
            let status = post(&http, &url, &[], body.into()).await.unwrap();
            assert_eq!(status, StatusCode::OK);
        }
        // Answered after forwarding: every delivery is in before the last answer.
        assert_eq!(tracker.wait_for(0..10, Duration::ZERO).await, 10);
        assert_eq!(tracker.duplicates(), 0);
    }
}
