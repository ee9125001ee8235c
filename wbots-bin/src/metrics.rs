//! Prometheus metrics: the recorder the libraries' `metrics` calls report to, and the
//! `/metrics` route.
//!
//! | metric | labels | what |
//! |---|---|---|
//! | `wbots_webhooks_total` | source, outcome | webhook deliveries by answer (accepted, unauthorized, malformed…) |
//! | `wbots_jobs_total` | kind, outcome | jobs finished: done, retry, dead |
//! | `wbots_jobs` | state | jobs in the queue by state, read from the store at scrape time |
//! | `wbots_delivery_seconds` | kind | webhook receipt → far side accepted (histogram) |
//! | `wbots_delivery_errors_total` | kind, error | failed attempts by error kind |
//! | `wbots_events_skipped_total` | reason | unsupported or unrouted events |
//! | `wbots_jobs_enqueued_total`, `wbots_jobs_duplicate_total` | | new and redelivered events |
//! | `wbots_channel_flagged` | channel | 1 while a channel needs reconnecting (read from the store at scrape time) |

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use wbots_core::Secret;
use wbots_core::store::{LinkKind, LinkPrefix, Store};

/// Installs the process-wide recorder. Call once, from `main`.
pub(crate) fn install() -> Result<PrometheusHandle, String> {
    PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full("wbots_delivery_seconds".into()),
            &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0],
        )
        .map_err(|e| e.to_string())?
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))
}

#[derive(Clone)]
struct MetricsState {
    handle: PrometheusHandle,
    store: Arc<dyn Store>,
    token: Option<Secret>,
}

/// The `/metrics` route; with `token`, only for `Authorization: Bearer <token>`.
pub(crate) fn router(
    handle: PrometheusHandle,
    store: Arc<dyn Store>,
    token: Option<Secret>,
) -> Router {
    Router::new().route("/metrics", get(render)).with_state(MetricsState { handle, store, token })
}

/// Whether the request carries the bearer token (compared in constant time).
fn authorized(token: &Secret, headers: &HeaderMap) -> bool {
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
        .unwrap_or_default();
    token.matches(presented)
}

async fn render(State(state): State<MetricsState>, headers: HeaderMap) -> Response {
    if let Some(token) = &state.token {
        if !authorized(token, &headers) {
            return (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                "unauthorized: /metrics needs Authorization: Bearer <server.metrics_token>\n",
            )
                .into_response();
        }
    }
    // Queue depth is a property of the shared store, not of this process, so it is read at
    // scrape time rather than counted.
    match state.store.stats().await {
        Ok(stats) => {
            for (label, value) in [
                ("queued", stats.queued),
                ("running", stats.running),
                ("done", stats.done),
                ("dead", stats.dead),
            ] {
                metrics::gauge!("wbots_jobs", "state" => label).set(value as f64);
            }
        }
        Err(e) => tracing::warn!(error = %e, "queue stats unavailable for /metrics"),
    }
    flagged_channels(state.store.as_ref()).await;
    (StatusCode::OK, [("content-type", "text/plain; version=0.0.4")], state.handle.render())
        .into_response()
}

/// `wbots_channel_flagged{channel}`: 1 for each flagged channel, 0 for one flagged earlier
/// in this process and cleared since (by another replica too, as it is read from the store).
async fn flagged_channels(store: &dyn Store) {
    static SEEN: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    let all = LinkPrefix::all(LinkKind::ChannelFlag);
    let flags = match store.links_with_prefix(&all, 10_000).await {
        Ok(links) => links
            .iter()
            .filter_map(|l| l.key.flagged_channel().map(str::to_owned))
            .collect::<Vec<_>>(),
        Err(e) => {
            tracing::warn!(error = %e, "channel flags unavailable for /metrics");
            return;
        }
    };
    let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
    for channel in seen.iter().filter(|c| !flags.contains(c)) {
        metrics::gauge!("wbots_channel_flagged", "channel" => channel.clone()).set(0.0);
    }
    for channel in &flags {
        metrics::gauge!("wbots_channel_flagged", "channel" => channel.clone()).set(1.0);
        if !seen.contains(channel) {
            seen.push(channel.clone());
        }
    }
}
