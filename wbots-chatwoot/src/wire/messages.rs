//! Messages of a conversation (`chatwoot-api.md`, Messages).

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use wbots_core::{DeliveryError, DeliveryErrorKind, Media};

use super::{Listing, WireId};
use crate::client::Client;

/// A message as Chatwoot lists it.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Message {
    pub(crate) id: WireId,
    pub(crate) source_id: Option<String>,
}

/// `POST conversations/{id}/messages`.
#[derive(Debug, Serialize)]
pub(crate) struct NewMessage<'a> {
    /// The API requires content even when a message is only files.
    pub(crate) content: &'a str,
    pub(crate) message_type: &'static str,
    pub(crate) private: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) source_id: Option<&'a str>,
    pub(crate) content_attributes: Map<String, Value>,
}

/// `PATCH conversations/{id}/messages/{id}`: a delivery status.
#[derive(Debug, Serialize)]
pub(crate) struct StatusUpdate<'a> {
    pub(crate) status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) external_error: Option<&'a str>,
}

/// `POST conversations/{id}/messages`, as JSON, or as a multipart form when files go with
/// it. Returns the new message's id.
pub(crate) async fn create(
    client: &Client,
    conversation: &str,
    body: &NewMessage<'_>,
    media: &[Media],
    what: &str,
) -> Result<String, DeliveryError> {
    let req = client.request(Method::POST, &["conversations", conversation, "messages"])?;
    let req = if media.is_empty() { req.json(body) } else { req.multipart(form(body, media)?) };
    let created: Message = client.send(req, what).await?;
    created.id.required("a new message")
}

/// The multipart form of a message with files.
fn form(body: &NewMessage<'_>, media: &[Media]) -> Result<reqwest::multipart::Form, DeliveryError> {
    let mut form = reqwest::multipart::Form::new();
    let fields = serde_json::to_value(body).map_err(|e| {
        DeliveryError::permanent(DeliveryErrorKind::InvalidRequest, format!("message body: {e}"))
    })?;
    if let Value::Object(fields) = fields {
        for (k, v) in fields {
            let text = match v {
                Value::String(s) => s,
                Value::Null => continue,
                // Chatwoot parses JSON-encoded hashes in multipart fields.
                other => other.to_string(),
            };
            form = form.text(k, text);
        }
    }
    for m in media {
        let part = reqwest::multipart::Part::bytes(m.bytes.to_vec())
            .file_name(m.file_name.clone())
            .mime_str(&m.content_type)
            .map_err(|e| {
                DeliveryError::permanent(
                    DeliveryErrorKind::InvalidRequest,
                    format!("bad content type: {e}"),
                )
            })?;
        form = form.part("attachments[]", part);
    }
    Ok(form)
}

/// `GET conversations/{id}/messages`: a page of up to 20, the newest first or those before
/// the message `before`.
pub(crate) async fn page(
    client: &Client,
    conversation: &str,
    before: Option<&str>,
) -> Result<Vec<Message>, DeliveryError> {
    let mut req = client.request(Method::GET, &["conversations", conversation, "messages"])?;
    if let Some(b) = before {
        req = req.query(&[("before", b)]);
    }
    let page: Listing<Message> = client.send(req, "listing messages").await?;
    Ok(page.0)
}

/// `PATCH conversations/{id}/messages/{id}`.
pub(crate) async fn update_status(
    client: &Client,
    conversation: &str,
    message: &str,
    body: &StatusUpdate<'_>,
) -> Result<(), DeliveryError> {
    let req = client
        .request(Method::PATCH, &["conversations", conversation, "messages", message])?
        .json(body);
    client.send_raw(req, "updating a message status").await.map(|_| ())
}

/// `DELETE conversations/{id}/messages/{id}`.
pub(crate) async fn delete(
    client: &Client,
    conversation: &str,
    message: &str,
) -> Result<(), DeliveryError> {
    let req =
        client.request(Method::DELETE, &["conversations", conversation, "messages", message])?;
    client.send_raw(req, "deleting a message").await.map(|_| ())
}
