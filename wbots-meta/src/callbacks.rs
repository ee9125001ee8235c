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
//! to the bridge by their page-scoped id. With ID matching ([`CallbackConfig::with_id_matching`],
//! needing `meta.app_id`), the request also removes what is stored under the page-scoped
//! ids Meta matches at the connected Pages (`ids_for_pages`) and the ids the business's
//! other apps know the person by (`ids_for_business`); where Meta cannot match, the status
//! page says so plainly (see [`crate::id_matching`] and the README's privacy section).
//! With an audit trail ([`CallbackConfig::with_audit`]) every request is recorded, the
//! person as a keyed hash. With the connected channels
//! ([`CallbackConfig::with_connected_channels`]) both callbacks also withdraw the grants of
//! the person who connected channels through Meta's login ([`crate::grants`]).
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
use wbots_core::store::{
    AuditEntry, ChannelStore, Link, LinkKey, LinkStore, PrivacyAction, SealedChannels,
};
use wbots_core::{
    AuditKey, Bridge, ChannelAddress, ContactId, DeliveryError, FlagOrigin, Secret, StoreError,
};

use crate::id_matching::IdMatcher;
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
    matcher: Option<Arc<IdMatcher>>,
    /// `Some` when requests are recorded in the audit trail; the key hashes the person
    /// (`None`: not configured, the person is not recorded).
    audit: Option<Option<AuditKey>>,
    /// The connected channels, whose grants a request withdraws ([`crate::grants`]).
    channels: Option<SealedChannels<Arc<dyn ChannelStore>>>,
}

impl std::fmt::Debug for CallbackConfig {
    // The secrets stay out of it, as everywhere.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallbackConfig")
            .field("secrets", &self.secrets.len())
            .field("public_url", &self.public_url)
            .field("deletes_contacts", &self.contacts.is_some())
            .field("id_matching", &self.matcher.is_some())
            .field("audited", &self.audit.is_some())
            .field("withdraws_grants", &self.channels.is_some())
            .finish_non_exhaustive()
    }
}

impl CallbackConfig {
    /// The bridge, and every app secret a `signed_request` may be signed with (the
    /// Facebook app's, and the Instagram app's when it has its own).
    pub fn new(bridge: Bridge, secrets: Vec<Secret>) -> Self {
        Self {
            bridge,
            secrets: Arc::new(secrets),
            public_url: None,
            contacts: None,
            matcher: None,
            audit: None,
            channels: None,
        }
    }

    /// Withdraws the grants of the person a request names from the connected channels
    /// their login connected: the Meta token obtained through it and their id are deleted,
    /// each channel is flagged as needing a reconnect and its agents are told
    /// ([`crate::grants::withdraw`]).
    pub fn with_connected_channels(
        mut self,
        channels: SealedChannels<Arc<dyn ChannelStore>>,
    ) -> Self {
        self.channels = Some(channels);
        self
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

    /// Resolves Meta's app-scoped id to the ids the bridge knows the person by, with Meta's
    /// ID matching.
    pub fn with_id_matching(mut self, matcher: Arc<IdMatcher>) -> Self {
        self.matcher = Some(matcher);
        self
    }

    /// Records every deletion request in the store's privacy audit trail
    /// ([`Store::privacy`](wbots_core::Store::privacy)), the person as a keyed hash under
    /// `key` (without a key the entry names no one).
    pub fn with_audit(mut self, key: Option<AuditKey>) -> Self {
        self.audit = Some(key);
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
    /// What Meta's ID matching found, in words for the person reading the status page
    /// (absent in records made before it existed).
    #[serde(default)]
    matching: Option<String>,
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
    store: &dyn LinkStore,
    code: &str,
    record: &DeletionStatus,
) -> Result<bool, StoreError> {
    let link =
        Link::new(LinkKey::data_deletion(code), serde_json::to_string(record).unwrap_or_default());
    let stored = store.put_link(&link).await?;
    Ok(stored == link.value)
}

/// Records a deletion done on request elsewhere (`wbots privacy forget`) under `code`, so
/// the same status page (`GET /meta/data-deletion/{code}`) shows it; the code must be
/// letters and digits. A code already recorded keeps its first record: true when this call
/// recorded it.
pub async fn record_completed_deletion(
    store: &dyn LinkStore,
    code: &str,
    requested_at: chrono::DateTime<Utc>,
    records_removed: u64,
    note: &str,
) -> Result<bool, StoreError> {
    let record = DeletionStatus {
        status: "completed".into(),
        requested_at: requested_at.to_rfc3339(),
        completed_at: Some(Utc::now().to_rfc3339()),
        records_removed,
        matching: Some(note.to_owned()),
    };
    record_status(store, code, &record).await
}

/// The status page of `code`, under `public_url` when given (else a path).
pub fn status_url(public_url: Option<&Url>, code: &str) -> String {
    let base = public_url.map(|u| u.as_str().trim_end_matches('/').to_owned()).unwrap_or_default();
    format!("{base}/meta/data-deletion/{code}")
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

/// What one request removed, and what Meta's ID matching found.
struct Forgot {
    removed: u64,
    matching: String,
}

/// Why matching found nothing, said plainly on the status page.
const NO_MATCHING: &str = "ID matching is not set up on this bridge (meta.app_id is not \
    configured): only data stored under the id Meta sent was looked for. A Messenger \
    customer is known by another id; the operator can remove their data with \
    `wbots privacy forget`.";

/// The ids to forget for Meta's app-scoped `user`: the id itself, the page-scoped ids and
/// other apps' ids Meta matches, and the words for the status page. A temporary failure
/// of the matching is a refusal (Meta calls again); a permanent one is said on the page.
async fn ids_to_forget(
    state: &DeletionState,
    user: &str,
) -> Result<(Vec<String>, String), Refusal> {
    let mut ids = vec![user.to_owned()];
    let Some(matcher) = &state.matcher else { return Ok((ids, NO_MATCHING.to_owned())) };
    let answers = [matcher.page_scoped_ids(user).await, matcher.business_ids(user).await];
    let mut matched = 0;
    let mut failed = None;
    for answer in answers {
        match answer {
            Ok(found) => {
                matched += found.len();
                ids.extend(found.into_iter().map(|m| m.id));
            }
            Err(e) if e.is_temporary() => {
                tracing::warn!(error = %e, "Meta's ID matching is unavailable; Meta will call again");
                return Err((
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Meta's ID matching is unavailable\n".to_owned(),
                ));
            }
            Err(e) => failed = Some(e),
        }
    }
    ids.sort();
    ids.dedup();
    let words = match (matched, failed) {
        (0, Some(e)) => {
            // The reason goes to the log: the status page is public.
            tracing::warn!(error = %e, "Meta refused the ID matching");
            "Meta refused to match this person to the connected Pages: only data stored \
             under the id Meta sent was looked for."
                .to_owned()
        }
        (0, None) => "Meta could not match this person to any connected Page (the app and \
            the Pages must belong to one business in Meta Business Manager, and the person \
            must have written to a Page): only data stored under the id Meta sent was \
            looked for."
            .to_owned(),
        (n, _) => format!(
            "Meta matched this person to {n} id(s) at the business's Pages and apps; data \
             stored under each was looked for."
        ),
    };
    Ok((ids, words))
}

async fn forget(
    state: &DeletionState,
    request: &SignedRequest,
    requested_by: &str,
) -> Result<Forgot, Refusal> {
    let Some(user) = request.user_id.as_deref() else {
        return Ok(Forgot { removed: 0, matching: "The request named no person.".into() });
    };
    let asked = request.issued_at.and_then(|t| chrono::DateTime::from_timestamp(t, 0));
    let withdrawn = withdraw_grants(state, user, asked).await?;
    let (ids, mut matching) = ids_to_forget(state, user).await?;
    let mut removed = withdrawn;
    for id in &ids {
        removed += forget_one(state, id).await?;
    }
    if withdrawn > 0 {
        matching.push_str(&format!(
            " The access this person had granted to {withdrawn} connected channel(s) was deleted; those channels must be connected again."
        ));
    }
    audit(state, requested_by, user, removed, &matching).await;
    Ok(Forgot { removed, matching })
}

/// Records the request in the audit trail, if there is one. A failure to record is
/// logged, not refused: the deletion itself is done.
async fn audit(
    state: &DeletionState,
    requested_by: &str,
    user: &str,
    removed: u64,
    matching: &str,
) {
    let Some(key) = &state.audit else { return };
    let store = state.bridge.store();
    let Some(trail) = store.privacy() else {
        tracing::warn!("the store keeps no audit trail: the data deletion is not recorded");
        return;
    };
    let entry = AuditEntry {
        at: Utc::now(),
        action: PrivacyAction::DataDeletion,
        requested_by: requested_by.to_owned(),
        subject: key.as_ref().map(|k| k.subject(&format!("meta-app-user:{user}"))),
        removed: format!("{removed} record(s). {matching}"),
        outcome: if removed > 0 { "completed" } else { "nothing found" }.into(),
    };
    if let Err(e) = trail.record_audit(&entry).await {
        tracing::error!(error = %e, "could not record the data deletion in the audit trail");
    }
}

/// Withdraws the person's grants of connected channels, if the bridge keeps channels;
/// how many. A store failure is a refusal: Meta calls again and the withdrawal resumes.
async fn withdraw_grants(
    state: &DeletionState,
    user: &str,
    asked: Option<chrono::DateTime<Utc>>,
) -> Result<u64, Refusal> {
    let Some(channels) = &state.channels else { return Ok(0) };
    match crate::grants::withdraw(&state.bridge, channels, user, asked).await {
        Ok(withdrawn) => Ok(withdrawn.len() as u64),
        Err(e) => {
            tracing::error!(error = %e, "could not withdraw the person's grants; Meta will call again");
            Err((StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n".to_owned()))
        }
    }
}

async fn forget_one(state: &DeletionState, user: &str) -> Result<u64, Refusal> {
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
    let forgot = match forget(&state, &request, "Meta data-deletion callback").await {
        Ok(f) => f,
        Err(refusal) => return refusal.into_response(),
    };
    let removed = forgot.removed;
    let code = confirmation_code(&form.signed_request);
    let record = DeletionStatus {
        status: "completed".into(),
        requested_at,
        completed_at: Some(Utc::now().to_rfc3339()),
        records_removed: removed,
        matching: Some(forgot.matching),
    };
    let first = match record_status(state.bridge.store().as_ref(), &code, &record).await {
        Ok(first) => first,
        Err(e) => {
            tracing::error!(error = %e, "could not record the data-deletion status");
            return (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response();
        }
    };
    tracing::info!(%code, removed, repeated = !first, "data-deletion request completed");
    let body = serde_json::json!({
        "url": status_url(state.public_url.as_ref(), &code),
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
                    "Data deletion request {code}\nStatus: {}\nRequested: {}\nCompleted: {}\nRecords removed: {}\nHow the person was found: {}\n",
                    s.status,
                    s.requested_at,
                    s.completed_at.as_deref().unwrap_or("-"),
                    s.records_removed,
                    s.matching.as_deref().unwrap_or("not recorded for this request"),
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
    match forget(&state, &request, "Meta deauthorize callback").await {
        Ok(_) => (StatusCode::OK, "ok\n").into_response(),
        Err(refusal) => refusal.into_response(),
    }
}
