//! How the fake delivers webhooks: as Chatwoot does, not as we would like it to.
//!
//! - ONE attempt per event, with the installation's `WEBHOOK_TIMEOUT` (default 5 s) for
//!   connecting and for reading (`lib/webhooks/trigger.rb:41-52,118-123`,
//!   `config/installation_config.yml:82-86`). Only agent-bot webhooks are ever retried
//!   (`trigger.rb:3,26-32`); API-inbox webhooks never.
//! - On any failure (non-2xx, timeout, refused connection) the message of a
//!   `message_created` / `message_updated` is marked `failed` with the HTTP error's text as
//!   `content_attributes.external_error` (`trigger.rb:65-75,100-102`,
//!   `app/services/messages/status_update_service.rb:10-24`). That is a change of the
//!   message, so it fires `message_updated` itself (`app/models/message.rb:389-395`,
//!   `app/listeners/webhook_listener.rb:35-43`) — which, failing too with the same text,
//!   changes nothing and so fires nothing more.
//! - The texts are those of v4.14+ (SafeFetch), `chatwoot-signin-and-sweep.md` §5.3.

use std::time::Duration;

use serde_json::Value;
use wbots_chatwoot::sign_webhook;
use wbots_core::Secret;

use super::{Shared, lock};

/// The default `WEBHOOK_TIMEOUT` (`config/installation_config.yml:82-86`).
pub(super) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// The result of one webhook attempt: the HTTP status when there was an answer, and the
/// `external_error` text Chatwoot would store when it counts as a failure.
struct Attempt {
    status: Option<u16>,
    error: Option<String>,
}

/// `error.message` of the exception `Webhooks::Trigger` rescues, for each way a POST fails
/// (`chatwoot-signin-and-sweep.md` §5.3, v4.14.0 – v4.15.1).
fn failure_text(url: &str, e: &reqwest::Error) -> String {
    let (host, port) = url::Url::parse(url)
        .ok()
        .map(|u| (u.host_str().unwrap_or("").to_owned(), u.port_or_known_default().unwrap_or(80)))
        .unwrap_or_default();
    if e.is_connect() && e.is_timeout() {
        // net-http `connect` under `Timeout.timeout` (net-http `http.rb:1777-1795`).
        format!("Failed to open TCP connection to {host}:{port} (execution expired)")
    } else if e.is_connect() {
        // Errno::ECONNREFUSED re-raised by net-http `connect` (`http.rb:1676-1684`).
        format!(
            "Failed to open TCP connection to {host}:{port} (Connection refused - connect(2) for \"{host}\" port {port})"
        )
    } else if e.is_timeout() {
        // Net::ReadTimeout's message (net-protocol `protocol.rb:80-93,229`).
        "Net::ReadTimeout with #<TCPSocket:(closed)>".to_owned()
    } else {
        // EOFError passes through SafeFetch unchanged (`lib/safe_fetch.rb:26-36`).
        "end of file reached".to_owned()
    }
}

/// One POST of a webhook that marks nothing (typing events): its HTTP status, if any.
pub(super) async fn post_once(
    url: &str,
    body: &str,
    secret: Option<&Secret>,
    timeout: Duration,
) -> Option<u16> {
    attempt(url, body, secret, timeout).await.status
}

async fn attempt(url: &str, body: &str, secret: Option<&Secret>, timeout: Duration) -> Attempt {
    let http = match reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(h) => h,
        Err(e) => return Attempt { status: None, error: Some(e.to_string()) },
    };
    let mut req = http.post(url).header("content-type", "application/json");
    if let Some(secret) = secret {
        // `trigger.rb:54-63`: a new delivery id per attempt.
        let ts = chrono::Utc::now().timestamp();
        req = req
            .header("x-chatwoot-timestamp", ts.to_string())
            .header("x-chatwoot-signature", sign_webhook(secret, ts, body.as_bytes()))
            .header("x-chatwoot-delivery", uuid::Uuid::new_v4().to_string());
    }
    match req.body(body.to_owned()).send().await {
        Ok(r) if r.status().is_success() => {
            Attempt { status: Some(r.status().as_u16()), error: None }
        }
        // SafeFetch::HttpError "#{code} #{message}" (`lib/safe_fetch/fetcher.rb:9`).
        Ok(r) => Attempt {
            status: Some(r.status().as_u16()),
            error: Some(format!(
                "{} {}",
                r.status().as_u16(),
                r.status().canonical_reason().unwrap_or("")
            )),
        },
        Err(e) => Attempt { status: None, error: Some(failure_text(url, &e)) },
    }
}

/// Delivers `event` about `message` once, marking the message failed if that fails, and
/// delivers the `message_updated` such a mark fires, and so on until nothing changes.
/// Returns the first attempt's HTTP status (`None`: no webhook URL, or no answer).
pub(super) async fn dispatch(state: &Shared, event: &str, message: u64) -> Option<u16> {
    let mut event = event.to_owned();
    let mut first: Option<Option<u16>> = None;
    loop {
        let Some((url, body, secret, timeout)) = ({
            let s = lock(state);
            super::webhook_for(&s, &event, message).map(|(u, b, k)| (u, b, k, s.webhook_timeout))
        }) else {
            return first.flatten();
        };
        let outcome = attempt(&url, &body, secret.as_ref(), timeout).await;
        first.get_or_insert(outcome.status);
        let Some(error) = outcome.error else {
            lock(state).webhook_attempts += 1;
            return first.flatten();
        };
        let changed = {
            let mut s = lock(state);
            s.webhook_attempts += 1;
            s.webhook_failures += 1;
            match s.messages.iter_mut().find(|m| m.id == message) {
                Some(m) => super::set_status(m, "failed", Some(error)),
                None => false,
            }
        };
        if !changed {
            return first.flatten();
        }
        event = "message_updated".to_owned();
    }
}

/// Runs [`dispatch`] in the background, as Chatwoot's `WebhookJob` runs after the request
/// that caused it has been answered (`app/jobs/webhook_job.rb:1-7`).
pub(super) fn dispatch_later(state: &Shared, event: &'static str, message: u64) {
    let state = state.clone();
    tokio::spawn(async move {
        dispatch(&state, event, message).await;
    });
}

/// The `content_attributes` as Chatwoot keeps them: `external_error` is a store accessor
/// inside the hash (`app/models/message.rb:111-113`).
pub(super) fn content_attributes(attributes: &Value, external_error: Option<&str>) -> Value {
    let mut a = match attributes {
        Value::Object(o) => o.clone(),
        _ => serde_json::Map::new(),
    };
    if let Some(e) = external_error {
        a.insert("external_error".into(), Value::String(e.to_owned()));
    }
    Value::Object(a)
}
