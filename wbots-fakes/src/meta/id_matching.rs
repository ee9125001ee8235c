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

use super::routes::graph_error;
use super::{Shared, lock};

type Q = Query<HashMap<String, String>>;

/// Whether `query` carries the app token.
fn app_token_given(w: &super::World, query: &HashMap<String, String>) -> bool {
    let app_token = w.app.as_ref().map(|(id, secret)| format!("{id}|{}", secret.expose()));
    app_token.is_some() && query.get("access_token") == app_token.as_ref()
}

/// `GET /{v}/{asid}/ids_for_pages[?page=…]`.
pub(super) async fn ids_for_pages(
    State(world): State<Shared>,
    Path((_version, asid)): Path<(String, String)>,
    Query(query): Q,
) -> Response {
    let mut w = lock(&world);
    w.calls += 1;
    if !app_token_given(&w, &query) {
        return graph_error(400, 190, None, "Invalid OAuth access token signature.");
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
    if !app_token_given(&w, &query) {
        return graph_error(400, 190, None, "Invalid OAuth access token signature.");
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
