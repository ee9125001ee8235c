//! Meta's data-deletion and deauthorize callbacks, as a router an embedder mounts next to
//! the bridge's own (feature `axum`).
//!
//! `POST /meta/data-deletion` verifies the `signed_request` with every configured app
//! secret, removes what the bridge keeps about that user (links, profile link, queued
//! jobs), and answers `{url, confirmation_code}`; `GET /meta/data-deletion/{code}` shows the
//! request's status. `POST /meta/deauthorize` does the same for a user, and flags a Page
//! that removed the app. The same request again (Meta calling back after a failure) gets
//! the same code and leaves the one status record as it was.
//!
//! Meta sends the user's *app-scoped* id; customers who only ever messaged a Page are known
//! to the bridge by their page-scoped id, so a request matches the data stored under the id
//! Meta sent (see the README's privacy section).
//!
//! ```no_run
//! # fn demo(bridge: wbots_core::Bridge, secret: wbots_core::Secret) -> axum::Router {
//! use wbots_meta::callbacks::{self, CallbackConfig};
//!
//! // Merged next to the bridge's own routes (`wbots_core::router::router`).
//! callbacks::router(CallbackConfig::new(bridge, vec![secret]))
//! # }
//! ```

use std::sync::Arc;

use axum::Router;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::Utc;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use url::Url;
use wbots_core::store::{Link, LinkKey};
use wbots_core::{
    Bridge, ChannelAddress, ContactId, DeliveryError, FlagOrigin, Secret, StoreError,
};

use crate::signed_request::{self, SignedRequest};

/// Deletes a customer's contact in the inbox (Chatwoot, say) when Meta asks for their data
/// to be deleted. A contact already gone counts as deleted.
#[async_trait::async_trait]
pub trait ContactEraser: Send + Sync {
    /// Deletes the contact.
    async fn delete_contact(&self, contact: &ContactId) -> Result<(), DeliveryError>;
}

/// What the routes need.
#[derive(Clone)]
pub struct CallbackConfig {
    bridge: Bridge,
    secrets: Arc<Vec<Secret>>,
    public_url: Option<Url>,
    contacts: Option<Arc<dyn ContactEraser>>,
}

impl std::fmt::Debug for CallbackConfig {
    // The secrets stay out of it, as everywhere.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackConfig")
            .field("secrets", &self.secrets.len())
            .field("public_url", &self.public_url)
            .field("deletes_contacts", &self.contacts.is_some())
            .finish_non_exhaustive()
    }
}

impl CallbackConfig {
    /// The bridge, and every app secret a `signed_request` may be signed with (the
    /// Facebook app's, and the Instagram app's when it has its own).
    pub fn new(bridge: Bridge, secrets: Vec<Secret>) -> Self {
        Self { bridge, secrets: Arc::new(secrets), public_url: None, contacts: None }
    }

    /// Where the status pages are served from (the `url` in the answer to Meta); without
    /// it the answer holds a path.
    pub fn with_public_url(mut self, url: Option<Url>) -> Self {
        self.public_url = url;
        self
    }

    /// Deletes the customer's inbox contact too.
    pub fn with_contact_eraser(mut self, eraser: Arc<dyn ContactEraser>) -> Self {
        self.contacts = Some(eraser);
        self
    }
}

use CallbackConfig as DeletionState;

/// The routes: `POST /meta/data-deletion`, `GET /meta/data-deletion/{code}`,
/// `POST /meta/deauthorize`.
pub fn router(state: CallbackConfig) -> Router {
    Router::new()
        .route("/meta/data-deletion", post(request_deletion))
        .route("/meta/data-deletion/{code}", get(status))
        .route("/meta/deauthorize", post(deauthorize))
        .with_state(state)
}

#[derive(Deserialize)]
struct Callback {
    signed_request: String,
}

/// The status kept under the confirmation code. No user id is kept: the record of a
/// deletion must not itself hold the deleted person's identifier.
#[derive(Debug, Serialize, Deserialize)]
struct DeletionStatus {
    status: String,
    requested_at: String,
    completed_at: Option<String>,
    records_removed: u64,
}

/// The confirmation code of a request, derived from the signed request itself, so the same
/// request again gets the same code. It hashes Meta's signature with the payload: without
/// the app secret no one can recompute it from a guessed user id, so the public status URL
/// names no one.
fn confirmation_code(signed_request: &str) -> String {
    let digest = Sha256::digest(format!("wbots data deletion\n{signed_request}"));
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

// The status records, kept in the bridge's store: the only two places that touch it.

/// Records the status under its code unless the code is known: a repeated request keeps the
/// first record. True when this call recorded it.
async fn record_status(
    bridge: &Bridge,
    code: &str,
    record: &DeletionStatus,
) -> Result<bool, StoreError> {
    let link =
        Link::new(LinkKey::data_deletion(code), serde_json::to_string(record).unwrap_or_default());
    let stored = bridge.store().put_link(&link).await?;
    Ok(stored == link.value)
}

/// The raw status recorded under a code.
async fn read_status(bridge: &Bridge, code: &str) -> Result<Option<String>, StoreError> {
    bridge.store().get_link(&LinkKey::data_deletion(code)).await
}

/// A refusal: its status and one-line reason.
type Refusal = (StatusCode, String);

fn verify(state: &DeletionState, form: &Callback) -> Result<SignedRequest, Refusal> {
    let secrets: Vec<&Secret> = state.secrets.iter().collect();
    signed_request::decode(&form.signed_request, &secrets).map_err(|e| {
        metrics::counter!("wbots_webhooks_total", "source" => "meta-data-deletion", "outcome" => "unauthorized").increment(1);
        tracing::warn!(error = %e, "data-deletion callback refused");
        let status = match e {
            signed_request::SignedRequestError::BadSignature => StatusCode::UNAUTHORIZED,
            _ => StatusCode::BAD_REQUEST,
        };
        (status, format!("{e}\n"))
    })
}

async fn forget(state: &DeletionState, request: &SignedRequest) -> Result<u64, Refusal> {
    let Some(user) = request.user_id.as_deref() else { return Ok(0) };
    match state.bridge.forget_customer(&user.into()).await {
        Ok(report) => {
            let mut removed = report.removed.links + report.removed.jobs;
            if let Some(contacts) = &state.contacts {
                for contact in &report.contacts {
                    // The bridge's own data is gone already; a Chatwoot failure is retried
                    // by Meta calling again (it finds the contact by its identifier no more,
                    // so an operator deletes it by hand then: the log says which).
                    match contacts.delete_contact(contact).await {
                        Ok(()) => removed += 1,
                        Err(e) => {
                            tracing::error!(%contact, error = %e, "could not delete the Chatwoot contact")
                        }
                    }
                }
            }
            Ok(removed)
        }
        Err(e) => {
            tracing::error!(error = %e, "data deletion failed; Meta will call again");
            Err((StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n".to_owned()))
        }
    }
}

async fn request_deletion(
    State(state): State<DeletionState>,
    Form(form): Form<Callback>,
) -> Response {
    let request = match verify(&state, &form) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    let requested_at = Utc::now().to_rfc3339();
    let removed = match forget(&state, &request).await {
        Ok(n) => n,
        Err(refusal) => return refusal.into_response(),
    };
    let code = confirmation_code(&form.signed_request);
    let record = DeletionStatus {
        status: "completed".into(),
        requested_at,
        completed_at: Some(Utc::now().to_rfc3339()),
        records_removed: removed,
    };
    let first = match record_status(&state.bridge, &code, &record).await {
        Ok(first) => first,
        Err(e) => {
            tracing::error!(error = %e, "could not record the data-deletion status");
            return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response();
        }
    };
    tracing::info!(%code, removed, repeated = !first, "data-deletion request completed");
    let base = state
        .public_url
        .as_ref()
        .map(|u| u.as_str().trim_end_matches('/').to_owned())
        .unwrap_or_default();
    let body = serde_json::json!({
        "url": format!("{base}/meta/data-deletion/{code}"),
        "confirmation_code": code,
    });
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn status(State(state): State<DeletionState>, Path(code): Path<String>) -> Response {
    if code.len() > 64 || !code.chars().all(|c| c.is_ascii_alphanumeric()) {
        return (StatusCode::NOT_FOUND, "no such request\n").into_response();
    }
    match read_status(&state.bridge, &code).await {
        Ok(Some(raw)) => match serde_json::from_str::<DeletionStatus>(&raw) {
            Ok(s) => (
                StatusCode::OK,
                format!(
                    "Data deletion request {code}\nStatus: {}\nRequested: {}\nCompleted: {}\nRecords removed: {}\n",
                    s.status,
                    s.requested_at,
                    s.completed_at.as_deref().unwrap_or("-"),
                    s.records_removed
                ),
            )
                .into_response(),
            Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, "unreadable status\n").into_response(),
        },
        Ok(None) => (StatusCode::NOT_FOUND, "no such request\n").into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response(),
    }
}

async fn deauthorize(State(state): State<DeletionState>, Form(form): Form<Callback>) -> Response {
    let request = match verify(&state, &form) {
        Ok(r) => r,
        Err(refusal) => return refusal.into_response(),
    };
    if let Some(page) = request.profile_id.as_deref() {
        // The Page itself, and the Instagram accounts reached through it (Facebook Login):
        // removing the app from the Page cuts them off too.
        let mut flagged: Vec<ChannelAddress> = state
            .bridge
            .bindings()
            .into_iter()
            .filter(|b| b.address.account.as_str() == page)
            .map(|b| b.address.clone())
            .collect();
        for name in state.bridge.channel_names() {
            if let Some(channel) = state.bridge.channel(&name) {
                flagged.extend(channel.accounts_behind(page));
            }
        }
        for address in flagged {
            let reason = "the Page removed the app (deauthorize callback)";
            if let Err(e) =
                state.bridge.flag_channel(&address, FlagOrigin::AppRemoved, reason).await
            {
                tracing::error!(error = %e, "could not flag the channel");
                return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response();
            }
        }
    }
    match forget(&state, &request).await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(refusal) => refusal.into_response(),
    }
}
