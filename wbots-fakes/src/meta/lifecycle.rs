//! The fake's endpoints of a connection's lifecycle, each modelled on
//! shared/reference/meta-login.md (section cited at each rule): unsubscribing (§4.2),
//! refreshing an Instagram-Login token (§5.5, §9 F11) and `debug_token` (§1.5, §9 F6).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use chrono::{Duration, Utc};
use serde_json::json;

use super::routes::{authorize, graph_error};
use super::{IgToken, Shared, lock};

type Q = Query<HashMap<String, String>>;

/// An Instagram-Login token's lifetime, and the `expires_in` Meta answers: §5.4/§5.5's
/// sample value (about 60 days).
pub const IG_TOKEN_SECONDS: i64 = 5_183_944;

/// `DELETE /{v}/{node}/subscribed_apps` with the node's token (§4.2, S17; Chatwoot does it
/// on inbox deletion, R4, and on graph.instagram.com for Instagram Login, §5.7 R9/R13).
/// Meta's answer body is not determined (§4.2); the fake answers as the POST does (§4.1,
/// `{"success": true}`). An Instagram account linked to a Page has no such edge (§4.3): it
/// is unsubscribed through its Page.
pub(super) async fn unsubscribe(
    State(world): State<Shared>,
    Path((_version, node)): Path<(String, String)>,
    Query(query): Q,
    headers: HeaderMap,
) -> Response {
    let mut w = lock(&world);
    if let Err(r) = authorize(&mut w, &headers, &query) {
        return r;
    }
    if w.is_linked_instagram(&node) {
        return graph_error(
            400,
            100,
            Some(33),
            &format!(
                "Unsupported delete request. Object with ID '{node}' does not exist, cannot be loaded due to missing permissions, or does not support this operation."
            ),
        );
    }
    w.subscriptions.remove(&node);
    w.unsubscribed.push(node);
    axum::Json(json!({ "success": true })).into_response()
}

/// `GET /refresh_access_token?grant_type=ig_refresh_token&access_token=…` on
/// graph.instagram.com (§5.5, S21): a new long-lived token and its `expires_in`. Refused
/// (S20, §9 F11): a token not at least 24 hours old, an expired one (190/463, S27's
/// "expired" subcode), an invalidated one (190/460), one the fake did not issue (190).
pub(super) async fn refresh_access_token(State(world): State<Shared>, Query(query): Q) -> Response {
    let mut w = lock(&world);
    w.calls += 1;
    if query.get("grant_type").map(String::as_str) != Some("ig_refresh_token") {
        return graph_error(400, 100, None, "Unsupported grant_type: expected ig_refresh_token");
    }
    let token = query.get("access_token").cloned().unwrap_or_default();
    if w.revoked.contains(&token) {
        return graph_error(
            400,
            190,
            Some(460),
            "Error validating access token: The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
        );
    }
    let Some(known) = w.instagram_tokens.get(&token).cloned() else {
        return graph_error(
            400,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        );
    };
    let now = Utc::now();
    if known.expires_at <= now {
        return graph_error(
            400,
            190,
            Some(463),
            &format!("Error validating access token: Session has expired on {}.", known.expires_at),
        );
    }
    if now - known.issued_at < Duration::hours(24) {
        // The rule is Meta's (S20: "at least 24 hours old"); the refusal's body is not
        // recorded in the reference: an invalid-parameter error (#100), not a refused token.
        return graph_error(
            400,
            100,
            None,
            "(#100) The access token must be at least 24 hours old to be refreshed",
        );
    }
    w.next += 1;
    let fresh = format!("{token}.r{}", w.next);
    let expires_at = now + Duration::seconds(IG_TOKEN_SECONDS);
    w.instagram_tokens.insert(fresh.clone(), IgToken { issued_at: now, expires_at });
    w.refreshed.push(token);
    // `permissions` as in the recorded live answer (C14): a key the client must ignore.
    axum::Json(json!({
        "access_token": fresh,
        "token_type": "bearer",
        "expires_in": IG_TOKEN_SECONDS,
        "permissions": "instagram_business_basic,instagram_business_manage_messages",
    }))
    .into_response()
}

/// `GET /{v}/debug_token?input_token=…&access_token={app-id}|{app-secret}` (§1.5, S4;
/// app token S2). The app token must be the app's ([`FakeGraph::set_app`]); the answer is
/// `{"data": {…}}` with `is_valid`, and `expires_at` only for a token that has an expiry
/// (a Page token from a long-lived user token has none, §3.5). A token Meta no longer
/// honours reads `is_valid: false` with `error {code, subcode, message}` (S4's field list):
/// 190/460 once invalidated, 190/463 once expired (S27).
///
/// [`FakeGraph::set_app`]: super::FakeGraph::set_app
pub(super) async fn debug_token(
    State(world): State<Shared>,
    Path(_version): Path<String>,
    Query(query): Q,
) -> Response {
    let mut w = lock(&world);
    w.calls += 1;
    let app_token = w.app.as_ref().map(|(id, secret)| format!("{id}|{}", secret.expose()));
    let given = query.get("access_token");
    if app_token.is_none() || given != app_token.as_ref() {
        return graph_error(400, 190, None, "Invalid OAuth access token signature.");
    }
    let app_id = w.app.as_ref().map(|(id, _)| id.clone()).unwrap_or_default();
    let token = query.get("input_token").cloned().unwrap_or_default();
    let page = w.page_of_token(&token).map(|(id, _)| id);
    let instagram = w.instagram_tokens.get(&token).cloned();
    let expires_at = w.expiries.get(&token).copied().or(instagram.map(|t| t.expires_at));
    let mut data = json!({
        "app_id": app_id,
        "type": if page.is_some() { "PAGE" } else { "USER" },
        "application": "wbots",
        "scopes": ["pages_messaging", "pages_manage_metadata", "pages_show_list"],
    });
    if let Some(page) = &page {
        data["profile_id"] = json!(page);
    }
    if let Some(at) = expires_at {
        data["expires_at"] = json!(at.timestamp());
    }
    let invalid = |code: i64, subcode: i64, message: &str| json!({ "code": code, "subcode": subcode, "message": message });
    if page.is_none() && instagram.is_none() {
        data["is_valid"] = json!(false);
        data["error"] = json!({ "code": 190, "message": "Invalid OAuth access token - Cannot parse access token" });
    } else if w.revoked.contains(&token) {
        data["is_valid"] = json!(false);
        data["error"] = invalid(
            190,
            460,
            "The session has been invalidated because the user changed their password or Facebook has changed the session for security reasons.",
        );
    } else if expires_at.is_some_and(|at| at <= Utc::now()) {
        data["is_valid"] = json!(false);
        data["error"] = invalid(190, 463, "Session has expired.");
    } else {
        data["is_valid"] = json!(true);
    }
    axum::Json(json!({ "data": data })).into_response()
}
