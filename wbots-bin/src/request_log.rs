//! Request logging that keeps secrets and attacker-chosen strings out of the logs.
//!
//! tower-http's default span records the whole URI, which holds the Chatwoot path token
//! (`/webhooks/chatwoot/{token}`) and Meta's `hub.verify_token` query. The span here records
//! the method, the request id and the path with those parts replaced; the query is never
//! recorded, and every path segment is cut short, so a made-up name cannot flood the logs.

use axum::Router;
use axum::http::Request;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;

/// What replaces a secret path segment.
const REDACTED: &str = "<redacted>";

/// The longest path segment logged as is.
const SEGMENT_CHARS: usize = 32;

/// The most path segments logged.
const MAX_SEGMENTS: usize = 4;

/// Adds request ids (`x-request-id`, set if missing and echoed back) and one redacted
/// tracing span per request.
pub(crate) fn layer(router: Router) -> Router {
    router
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(span::<axum::body::Body>))
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
}

fn span<B>(request: &Request<B>) -> Span {
    let request_id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(|id| cut(id, 64))
        .unwrap_or_default();
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %redacted_path(request.uri().path()),
        request_id = %request_id,
    )
}

/// `path` as it may be logged: `/webhooks/{name}/{token}` loses the token, long segments
/// are cut, and at most [`MAX_SEGMENTS`] segments are kept.
pub(crate) fn redacted_path(path: &str) -> String {
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut out = String::new();
    for (i, segment) in segments.iter().enumerate().take(MAX_SEGMENTS) {
        out.push('/');
        // The third segment of a webhook path is the Chatwoot path token.
        if i >= 2 && segments[0] == "webhooks" {
            out.push_str(REDACTED);
        } else {
            out.push_str(&cut(segment, SEGMENT_CHARS));
        }
    }
    if segments.len() > MAX_SEGMENTS {
        out.push_str("/…");
    }
    out
}

/// The first `max` characters, control characters escaped, `…` if cut.
fn cut(text: &str, max: usize) -> String {
    let mut out: String = text.chars().take(max).flat_map(char::escape_default).collect();
    if text.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::redacted_path;

    #[test]
    fn path_tokens_and_long_names_never_reach_the_log() {
        assert_eq!(redacted_path("/webhooks/meta"), "/webhooks/meta");
        assert_eq!(
            redacted_path("/webhooks/chatwoot/the-path-token-0123"),
            "/webhooks/chatwoot/<redacted>"
        );
        assert_eq!(
            redacted_path("/webhooks/chatwoot/a/b/c/d"),
            "/webhooks/chatwoot/<redacted>/<redacted>/…"
        );
        let long = format!("/webhooks/{}", "x".repeat(5000));
        let logged = redacted_path(&long);
        assert!(logged.len() < 60, "{logged}");
        assert_eq!(redacted_path("/healthz"), "/healthz");
        assert_eq!(redacted_path("/meta/data-deletion/abc"), "/meta/data-deletion/abc");
    }
}
