//! `/data-deletion`: the public data-deletion instructions page a Meta app's settings
//! point to (meta-login.md §6.1, §7.1 item 5) — what the bridge keeps, how to ask for
//! deletion, and a status lookup by confirmation code, which leads to the status page of
//! the data-deletion callback (`/meta/data-deletion/{code}`, `wbots_meta::callbacks`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use minijinja::context;
use url::Url;

use crate::render::{Pages, base};

#[derive(Clone)]
struct Public {
    pages: Arc<Pages>,
    privacy: Option<Url>,
}

pub(crate) fn router(privacy: Option<Url>) -> Router {
    Router::new()
        .route("/data-deletion", get(page))
        // No HSTS here: this router is not told the public URL. The admin pages, on the
        // same host, send it when that URL is HTTPS, and HSTS covers the whole host.
        .layer(axum::middleware::from_fn_with_state(
            Arc::new(crate::guard::PageHeaders { csp: crate::guard::csp(&[]), https: false }),
            crate::guard::security_headers,
        ))
        .with_state(Public { pages: Arc::new(Pages::new()), privacy })
}

/// A confirmation code as the callback makes them: hex, short. Anything else is refused
/// before it goes into a URL.
fn plausible(code: &str) -> bool {
    !code.is_empty() && code.len() <= 64 && code.chars().all(|c| c.is_ascii_alphanumeric())
}

async fn page(State(public): State<Public>, Query(q): Query<HashMap<String, String>>) -> Response {
    let b = base("/admin", public.privacy.as_ref(), None, None);
    match q.get("code").map(|c| c.trim()) {
        Some(code) if plausible(code) => Redirect::to(&format!("/meta/data-deletion/{code}")).into_response(),
        Some(_) => public.pages.render(
            StatusCode::BAD_REQUEST,
            "deletion.html",
            context! { base => b, error => "That is not a confirmation code: it is the letters and digits Meta showed you." },
        ),
        None => public.pages.render(StatusCode::OK, "deletion.html", context! { base => b }),
    }
}
