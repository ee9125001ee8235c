//! Security headers on every page: no framing (CSP `frame-ancestors 'none'`, and
//! `X-Frame-Options` for old browsers), no script at all, no MIME sniffing, no referrer
//! leaking the callback's `code` or `state`, and no caching of pages that show accounts.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{CACHE_CONTROL, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS, X_FRAME_OPTIONS};
use axum::middleware::Next;
use axum::response::Response;

/// The pages' Content-Security-Policy: no script, inline styles only, no framing; forms
/// post to this site, which may redirect them to the login dialogs' hosts (`dialogs`,
/// origins: browsers check `form-action` on a form's redirects too).
pub(crate) fn csp(dialogs: &[&url::Url]) -> String {
    let origins: Vec<String> = dialogs.iter().map(|u| u.origin().ascii_serialization()).collect();
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'",
        origins.join(" ")
    )
}

pub(crate) async fn security_headers(
    State(csp): State<Arc<str>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&csp) {
        h.insert("content-security-policy", value);
    }
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
