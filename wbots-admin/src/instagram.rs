//! Instagram Login's round trip (meta-login.md §5): start → Instagram's authorize page →
//! callback with `code` and `state` → short-lived token → 60-day token → `/me` — one
//! Instagram professional account, no Facebook Page. Its token expires: the stored
//! channel carries the date, and the bridge's token upkeep refreshes it.

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use chrono::Utc;
use wbots_core::ChannelAddress;
use wbots_core::store::LoginKind;
use wbots_meta::INSTAGRAM;

use crate::Admin;
use crate::connect::after_login;
use crate::facebook::unavailable;
use crate::session::{Grant, Session};
use crate::signin::{check_csrf, refused, session};

pub(crate) const CALLBACK: &str = "/instagram/callback";

/// Sends the browser to Instagram's authorize page for a new `state` of this session.
pub(crate) fn to_dialog(
    admin: &Admin,
    id: &str,
    s: &Session,
    reconnect: Option<ChannelAddress>,
) -> Response {
    let Some(state) = admin.sessions.begin(id, LoginKind::Instagram, reconnect) else {
        return refused(admin, Some(s), "Your session ended. Sign in again.");
    };
    match admin.services.meta.instagram_authorize_url(&admin.config.absolute(CALLBACK), &state) {
        Ok(url) => Redirect::to(url.as_str()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the Instagram Login URL");
            unavailable(admin, s, "Instagram Login is not configured on this bridge.")
        }
    }
}

/// `POST /instagram/start`.
pub(crate) async fn start(
    State(admin): State<Admin>,
    jar: PrivateCookieJar,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (id, s) = match session(&admin, &jar) {
        Ok(found) => found,
        Err(to_sign_in) => return to_sign_in,
    };
    if let Err(r) = check_csrf(&admin, &s, &form) {
        return r;
    }
    to_dialog(&admin, &id, &s, None)
}

/// `GET /instagram/callback?code&state` (or `error…`, §5.2).
pub(crate) async fn callback(
    State(admin): State<Admin>,
    jar: PrivateCookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (id, s) = match session(&admin, &jar) {
        Ok(found) => found,
        Err(to_sign_in) => return to_sign_in,
    };
    let state = q.get("state").map(String::as_str).unwrap_or_default();
    let Some(pending) = admin.sessions.finish(&id, LoginKind::Instagram, state) else {
        tracing::warn!(
            user = s.person.id,
            "Instagram Login callback with a state this session does not wait for"
        );
        return refused(
            &admin,
            Some(&s),
            "This answer from Instagram does not belong to a connection you started here, or was used already. Start again from your channels.",
        );
    };
    if q.contains_key("error") {
        return unavailable(
            &admin,
            &s,
            "You cancelled on Instagram, or Instagram refused. Nothing was connected.",
        );
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return unavailable(&admin, &s, "Instagram answered without a code. Start again.");
    };
    let meta = &admin.services.meta;
    let account = async {
        let short = meta.instagram_exchange_code(code, &admin.config.absolute(CALLBACK)).await?;
        let long = meta.instagram_long_lived(&short.access_token).await?;
        let me = meta.instagram_me(&long.access_token).await?;
        Ok::<_, wbots_core::DeliveryError>((long, me))
    }
    .await;
    match account {
        Ok((token, me)) => {
            let expires_at = token
                .expires_in
                .and_then(|d| chrono::Duration::from_std(d).ok())
                .and_then(|d| Utc::now().checked_add_signed(d));
            let grant = Grant {
                key: format!("igl:{}", me.user_id),
                label: format!("Instagram @{}", me.username),
                address: ChannelAddress::new(INSTAGRAM, me.user_id.as_str()),
                page_id: None,
                login: LoginKind::Instagram,
                token: token.access_token,
                expires_at,
                blocked: None,
            };
            after_login(&admin, &id, &s, pending.reconnect, vec![grant]).await
        }
        Err(e) => {
            tracing::warn!(error = %e, "Instagram Login failed after the callback");
            unavailable(&admin, &s, &format!("Instagram did not give access: {}", e.message()))
        }
    }
}
