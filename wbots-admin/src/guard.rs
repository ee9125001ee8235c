//! Security headers on every page: no framing (CSP `frame-ancestors 'none'`, and
//! `X-Frame-Options` for old browsers), no script at all, no MIME sniffing, no referrer
//! leaking the callback's `code` or `state`, no caching of pages that show accounts, and,
//! when the pages are served over HTTPS, HSTS: a browser that saw them once never sends a
//! session cookie or a password over plain HTTP to this host again.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, REFERRER_POLICY, STRICT_TRANSPORT_SECURITY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::middleware::Next;
use axum::response::Response;

/// The pages' Content-Security-Policy: no script, inline styles only, no framing; forms
/// post to this site, which may redirect them to the login dialogs' hosts (`dialogs`,
/// origins: browsers check `form-action` on every redirect of a form's navigation). A
/// dialog on `www.{domain}` may itself redirect within its domain (Meta sends phones to
/// `m.facebook.com`), so `{domain}` and its subdomains are allowed with it.
pub(crate) fn csp(dialogs: &[&url::Url]) -> String {
    let mut origins: Vec<String> = Vec::new();
    for dialog in dialogs {
        origins.push(dialog.origin().ascii_serialization());
        let domain = dialog.host_str().and_then(|h| h.strip_prefix("www."));
        if let Some(domain) = domain {
            origins.push(format!("{}://{domain}", dialog.scheme()));
            origins.push(format!("{}://*.{domain}", dialog.scheme()));
        }
    }
    format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {}; frame-ancestors 'none'; base-uri 'none'",
        origins.join(" ")
    )
}

/// What [`security_headers`] adds to every page of a router besides the fixed headers.
pub(crate) struct PageHeaders {
    /// The Content-Security-Policy ([`csp`]).
    pub(crate) csp: String,
    /// Whether the pages are served over HTTPS (their public URL's scheme), so HSTS applies.
    pub(crate) https: bool,
}

/// HSTS for a year, this host only: the operator may serve other things on subdomains,
/// and asking for the browsers' preload list is the operator's decision, not the bridge's.
const HSTS: &str = "max-age=31536000";

pub(crate) async fn security_headers(
    State(page): State<Arc<PageHeaders>>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let h = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&page.csp) {
        h.insert("content-security-policy", value);
    }
    // Browsers ignore it over plain HTTP; sent only when the public URL says HTTPS, so an
    // operator testing on http://localhost pins nothing.
    if page.https {
        h.insert(STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    h.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

#[cfg(test)]
mod tests {
    use super::csp;

    #[test]
    fn forms_may_lead_to_the_dialogs_and_their_domains_only() {
        let facebook = url::Url::parse("https://www.facebook.com").unwrap();
        let fake = url::Url::parse("http://127.0.0.1:4000/").unwrap();
        let policy = csp(&[&facebook, &fake]);
        assert!(policy.contains(
            "form-action 'self' https://www.facebook.com https://facebook.com https://*.facebook.com http://127.0.0.1:4000;"
        ), "{policy}");
        assert!(
            policy.contains("frame-ancestors 'none'") && policy.starts_with("default-src 'none'")
        );
    }
}
