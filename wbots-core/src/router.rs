//! The bridge's HTTP routes as an axum [`Router`] (feature `axum`), so the binary and
//! embedders serve exactly the same endpoints.
//!
//! | route | what |
//! |---|---|
//! | `GET /webhooks/{channel}` | the channel's subscription handshake |
//! | `POST /webhooks/{channel}` | platform events |
//! | `POST /webhooks/{inbox}` and `/webhooks/{inbox}/{token}` | agent events, for the inbox adapter named `inbox` (one per Chatwoot account): only that adapter's secret or token is checked |
//! | `GET /healthz` | the process is up |
//! | `GET /readyz` | the store is reachable and migrated |
//!
//! Bodies are read as raw bytes (signatures cover the exact bytes) and capped at
//! `max_body_bytes`, answering 413 beyond. A webhook is answered 200 only after its events
//! are stored; a store failure answers 503 so the sender retries.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

use crate::engine::{Bridge, IngestReport};
use crate::error::WebhookError;
use crate::request::RawRequest;

/// Options of [`router`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterOptions {
    /// The largest accepted request body, in bytes; default 1 MiB (Meta batches stay far
    /// below it).
    pub max_body_bytes: usize,
}

impl Default for RouterOptions {
    fn default() -> Self {
        Self { max_body_bytes: 1024 * 1024 }
    }
}

impl RouterOptions {
    /// Sets the body limit.
    pub fn with_max_body_bytes(mut self, bytes: usize) -> Self {
        self.max_body_bytes = bytes;
        self
    }
}

/// The bridge's routes. Mount them where you like (`Router::nest`); they carry their own
/// state.
pub fn router(bridge: Bridge, options: RouterOptions) -> Router {
    Router::new()
        .route("/webhooks/{name}", get(handshake).post(webhook))
        .route("/webhooks/{name}/{token}", axum::routing::post(webhook_with_token))
        .route("/healthz", get(|| async { "ok" }))
        .route("/readyz", get(readyz))
        .layer(DefaultBodyLimit::max(options.max_body_bytes))
        .with_state(bridge)
}

impl IntoResponse for WebhookError {
    fn into_response(self) -> Response {
        let status = self.status();
        // One line: the reason, never the body (it may hold personal data).
        (status, format!("{self}\n")).into_response()
    }
}

fn accepted(report: IngestReport) -> Response {
    let body = format!(
        "{{\"accepted\":{},\"duplicates\":{},\"skipped\":{}}}",
        report.accepted,
        report.duplicates,
        report.unsupported + report.unrouted
    );
    (StatusCode::OK, [(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// The metrics label of every webhook name the bridge does not serve: one fixed series, so
/// made-up names cannot grow `/metrics` (or the recorder's memory) without bound.
const UNKNOWN_SOURCE: &str = "unknown";

/// How much of an unknown name is logged: enough to spot a typo in a webhook URL, too
/// little to fill the logs.
const LOGGED_NAME_CHARS: usize = 32;

/// What a webhook name is. Decided before anything about the request is logged or
/// counted: anything else is an arbitrary string from the internet.
enum Served {
    Channel,
    /// An inbox adapter: the request is verified by that adapter alone.
    Inbox,
    Nothing,
}

/// What `name` names among the routes served now.
fn serves(bridge: &Bridge, name: &str) -> Served {
    if bridge.inboxes().iter().any(|i| i.name() == name) {
        Served::Inbox
    } else if bridge.channel(name).is_some() {
        Served::Channel
    } else {
        Served::Nothing
    }
}

/// The answer to a name the bridge does not serve: 404 that does not echo the name, one
/// fixed metrics label, a truncated name in a debug line.
fn unknown_name(name: &str) -> Response {
    metrics::counter!("wbots_webhooks_total", "source" => UNKNOWN_SOURCE, "outcome" => "not_found")
        .increment(1);
    tracing::debug!(name = %truncated(name), "webhook for a name the bridge does not serve");
    (StatusCode::NOT_FOUND, "not found: no such webhook\n").into_response()
}

/// The first [`LOGGED_NAME_CHARS`] characters, control characters escaped, `…` if cut.
fn truncated(name: &str) -> String {
    let mut out: String =
        name.chars().take(LOGGED_NAME_CHARS).flat_map(char::escape_default).collect();
    if name.chars().nth(LOGGED_NAME_CHARS).is_some() {
        out.push('…');
    }
    out
}

fn record(source: &str, outcome: &Result<IngestReport, WebhookError>) {
    let label = match outcome {
        Ok(_) => "accepted",
        Err(e) => e.label(),
    };
    metrics::counter!("wbots_webhooks_total", "source" => source.to_owned(), "outcome" => label)
        .increment(1);
    if let Err(e) = outcome {
        match e {
            WebhookError::Store(_) => tracing::error!(source, error = %e, "webhook not stored"),
            _ => tracing::warn!(source, error = %e, "webhook refused"),
        }
    }
}

async fn handshake(
    State(bridge): State<Bridge>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    if matches!(serves(&bridge, &name), Served::Nothing) {
        return unknown_name(&name);
    }
    let query = query.unwrap_or_default();
    let request = RawRequest {
        method: &Method::GET,
        query: &query,
        headers: &headers,
        body: &[],
        path_token: None,
    };
    match bridge.handshake(&name, &request) {
        Ok(challenge) => (StatusCode::OK, challenge).into_response(),
        Err(e) => {
            tracing::warn!(channel = %name, error = %e, "handshake refused");
            e.into_response()
        }
    }
}

async fn webhook(
    State(bridge): State<Bridge>,
    Path(name): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    ingest(&bridge, &name, query.as_deref().unwrap_or(""), &headers, &body, None).await
}

async fn webhook_with_token(
    State(bridge): State<Bridge>,
    Path((name, token)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    ingest(&bridge, &name, query.as_deref().unwrap_or(""), &headers, &body, Some(&token)).await
}

async fn ingest(
    bridge: &Bridge,
    name: &str,
    query: &str,
    headers: &HeaderMap,
    body: &[u8],
    token: Option<&str>,
) -> Response {
    let served = serves(bridge, name);
    if matches!(served, Served::Nothing) {
        return unknown_name(name);
    }
    let request = RawRequest { method: &Method::POST, query, headers, body, path_token: token };
    let outcome = match served {
        // The routes may have changed since `serves`: then this answers 404 too.
        Served::Inbox => bridge.ingest_inbox_named(name, &request).await,
        // Path tokens are the inboxes' fallback authentication only.
        Served::Channel if token.is_some() => {
            Err(WebhookError::NotFound(format!("no inbox {name:?}")))
        }
        _ => bridge.ingest_channel(name, &request).await,
    };
    record(name, &outcome);
    match outcome {
        Ok(report) => accepted(report),
        Err(e) => e.into_response(),
    }
}

async fn readyz(State(bridge): State<Bridge>) -> Response {
    match bridge.store().ping().await {
        Ok(()) => (StatusCode::OK, "ready\n").into_response(),
        Err(e) => {
            (StatusCode::SERVICE_UNAVAILABLE, format!("store not ready: {e}\n")).into_response()
        }
    }
}
