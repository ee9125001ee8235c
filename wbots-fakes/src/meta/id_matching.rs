//! The fake's ID-matching edges on the user node, modelled on Meta's "Messenger Platform ›
//! ID Matching" (<https://developers.facebook.com/docs/messenger-platform/psid-to-asid>):
//! `GET /{user-asid}/ids_for_pages?page={page-id}&access_token={app token}&appsecret_proof=…`
//! answers the person's page-scoped ids for the Pages of the app's business, `{"data":
//! [{"id": PSID, "page": {"name", "id"}}]}`; and Meta's Graph reference "User › Ids For
//! Business" (<https://developers.facebook.com/docs/graph-api/reference/user/ids_for_business/>):
//! `GET /{user-id}/ids_for_business` answers "the IDs that apps owned by the business know
//! the user as", `{"data": [{"id": ASID, "app": {"name", "id"}}]}`. Both take the app token
//! (`{app-id}|{app-secret}`, as `debug_token` does). A person Meta cannot match (the app
//! and Page not in one business, or no such person) gets an empty `data`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use wbots_meta::appsecret_proof;

use super::routes::graph_error;
use super::{Shared, lock};

type Q = Query<HashMap<String, String>>;

/// The refusal of a request without the app token, or — when the app requires it, as for
/// every call (`routes.rs`, S34) — without the token's `appsecret_proof`.
fn refusal(w: &super::World, query: &HashMap<String, String>) -> Option<Response> {
    let app_token = w.app.as_ref().map(|(id, secret)| format!("{id}|{}", secret.expose()));
    let Some(token) = app_token.filter(|t| query.get("access_token") == Some(t)) else {
        return Some(graph_error(400, 190, None, "Invalid OAuth access token signature."));
    };
    let secret = w.require_proof.as_ref()?;
    (query.get("appsecret_proof") != Some(&appsecret_proof(secret, &token))).then(|| {
        graph_error(400, 100, None, "Invalid appsecret_proof provided in the API argument")
    })
}

/// `GET /{v}/{asid}/ids_for_pages[?page=…]`.
pub(super) async fn ids_for_pages(
    State(world): State<Shared>,
    Path((_version, asid)): Path<(String, String)>,
    Query(query): Q,
) -> Response {
    let mut w = lock(&world);
    w.calls += 1;
    if let Some(refused) = refusal(&w, &query) {
        return refused;
    }
    let only = query.get("page");
    let data: Vec<_> = w
        .page_ids
        .get(&asid)
        .into_iter()
        .flatten()
        .filter(|(page, _)| only.is_none_or(|p| p == page))
        .map(|(page, psid)| {
            let name = w.pages.get(page).map(|p| p.name.clone()).unwrap_or_default();
            json!({ "id": psid, "page": { "name": name, "id": page } })
        })
        .collect();
    axum::Json(json!({ "data": data })).into_response()
}

/// `GET /{v}/{asid}/ids_for_business`.
pub(super) async fn ids_for_business(
    State(world): State<Shared>,
    Path((_version, asid)): Path<(String, String)>,
    Query(query): Q,
) -> Response {
    let mut w = lock(&world);
    w.calls += 1;
    if let Some(refused) = refusal(&w, &query) {
        return refused;
    }
    let data: Vec<_> = w
        .business_ids
        .get(&asid)
        .into_iter()
        .flatten()
        .map(|(app, id)| json!({ "id": id, "app": { "name": format!("App {app}"), "id": app } }))
        .collect();
    axum::Json(json!({ "data": data })).into_response()
}
