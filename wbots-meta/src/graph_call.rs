//! One Graph API request: its URL and its answer. Shared by the channel (sends, profiles,
//! subscriptions) and the connection lifecycle (unsubscribe, token refresh and checks).

use serde_json::Value;
use url::Url;
use wbots_core::{DeliveryError, DeliveryErrorKind, HttpFailures};

use crate::errors::GraphFailures;

/// `base` with `segments` appended, each escaped: an id holding `/`, `..` or `?` stays one
/// segment instead of naming another Graph node.
pub(crate) fn endpoint(base: &Url, segments: &[&str]) -> Result<Url, DeliveryError> {
    let mut url = base.clone();
    url.path_segments_mut()
        .map_err(|()| {
            DeliveryError::permanent(
                DeliveryErrorKind::InvalidRequest,
                "bad Graph URL: it cannot have a path",
            )
        })?
        .pop_if_empty()
        .extend(segments);
    Ok(url)
}

/// Sends a Graph request: its JSON answer, or the failure as [`GraphFailures`] reads it (an
/// error document in a 200 is a failure too).
pub(crate) async fn call(request: reqwest::RequestBuilder) -> Result<Value, DeliveryError> {
    let response = request.send().await.map_err(|e| GraphFailures.unreachable(e))?;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.map_err(|e| GraphFailures.unreachable(e))?;
    if status.is_success() {
        // An unreadable success reads as an empty answer: for a send it was accepted
        // (`Channel::send`'s contract), and each caller says what a missing field means.
        let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        if value.get("error").is_none() {
            return Ok(value);
        }
    }
    Err(GraphFailures.refused(status, &headers, &body))
}
