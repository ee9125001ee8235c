//! Meta's ID matching: the ids a person has at the business's Pages and apps, from the
//! app-scoped id Meta sends in a data-deletion request.
//!
//! Meta's data-deletion callback names the person by their *app-scoped* id (meta-login.md
//! §6.1, S24), but customers who only ever messaged a Page are known to the bridge by
//! their *page-scoped* id. Meta's ID-matching edges on the user node translate, when the
//! app and the Pages belong to one business in Business Manager ("Messenger Platform › ID
//! Matching", <https://developers.facebook.com/docs/messenger-platform/psid-to-asid>):
//! `GET /{asid}/ids_for_pages` (with the app token) answers the page-scoped ids,
//! `{"data": [{"id": PSID, "page": {"id", "name"}}]}`; `GET /{asid}/ids_for_business`
//! ("User › Ids For Business", Graph API reference) answers the ids other apps of the
//! business know the person by, `{"data": [{"id", "app": {"id", "name"}}]}`. A person
//! Meta cannot match gets an empty list: the caller says so.

use std::fmt;
use std::time::Duration;

use serde_json::Value;
use wbots_core::{BuildError, DeliveryError, Secret};

use crate::config::MetaConfig;
use crate::graph_call::{call, endpoint};

/// Timeout of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// One id Meta matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MatchedId {
    /// The id (a page-scoped id, or another app's app-scoped id).
    pub id: String,
    /// The Page or app it is scoped to.
    pub scope: String,
}

/// The ID-matching calls of one Meta app (needs `meta.app_id`: they take the app token).
pub struct IdMatcher {
    config: MetaConfig,
    app_id: String,
    http: reqwest::Client,
}

impl fmt::Debug for IdMatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IdMatcher").field("app_id", &self.app_id).finish_non_exhaustive()
    }
}

impl IdMatcher {
    /// The app's matcher; `None` without `meta.app_id` (the app token needs it).
    pub fn new(config: MetaConfig) -> Result<Option<Self>, BuildError> {
        let Some(app_id) = config.app_id.clone().filter(|id| !id.is_empty()) else {
            return Ok(None);
        };
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                BuildError::new("http_client", "could not build the HTTP client").with_source(e)
            })?;
        Ok(Some(Self { config, app_id, http }))
    }

    /// The person's page-scoped ids at the business's Pages: `GET /{v}/{asid}/ids_for_pages`.
    pub async fn page_scoped_ids(&self, asid: &str) -> Result<Vec<MatchedId>, DeliveryError> {
        self.edge(asid, "ids_for_pages", "page").await
    }

    /// The ids the business's other apps know the person by: `GET /{v}/{asid}/
    /// ids_for_business`.
    pub async fn business_ids(&self, asid: &str) -> Result<Vec<MatchedId>, DeliveryError> {
        self.edge(asid, "ids_for_business", "app").await
    }

    async fn edge(
        &self,
        asid: &str,
        edge: &str,
        scoped_to: &str,
    ) -> Result<Vec<MatchedId>, DeliveryError> {
        let mut url = endpoint(&self.config.graph_url, &[&self.config.graph_version, asid, edge])?;
        let app_token = Secret::new(format!("{}|{}", self.app_id, self.config.app_secret.expose()));
        // The app token in the query as the reference shows it, with its `appsecret_proof`
        // for apps that require one (S34).
        url.query_pairs_mut()
            .append_pair("access_token", app_token.expose())
            .append_pair(
                "appsecret_proof",
                &crate::proof::appsecret_proof(&self.config.app_secret, app_token.expose()),
            )
            .append_pair("limit", "100");
        let answer = call(self.http.get(url)).await?;
        Ok(matched(&answer, scoped_to))
    }
}

/// The `data` of an answer: entries without an id or scope are skipped (nothing to match).
fn matched(answer: &Value, scoped_to: &str) -> Vec<MatchedId> {
    let Some(data) = answer.get("data").and_then(Value::as_array) else { return Vec::new() };
    data.iter()
        .filter_map(|entry| {
            let id = entry.get("id").and_then(Value::as_str)?;
            let scope = entry.get(scoped_to)?.get("id").and_then(Value::as_str)?;
            Some(MatchedId { id: id.to_owned(), scope: scope.to_owned() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_answer_reads_as_its_matched_ids() {
        let answer = json!({"data": [
            {"id": "psid-1", "page": {"name": "Shop", "id": "page-1"}},
            {"id": "no-page"},
            {"page": {"id": "page-2"}},
        ], "paging": {"cursors": {}}});
        assert_eq!(
            matched(&answer, "page"),
            [MatchedId { id: "psid-1".into(), scope: "page-1".into() }]
        );
        assert!(matched(&json!({"data": []}), "page").is_empty());
        assert!(matched(&json!("garbage"), "page").is_empty());
    }
}
