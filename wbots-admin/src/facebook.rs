//! Facebook Login's round trip (meta-login.md §1, §3): start → Meta's dialog → callback
//! with `code` and `state` → user token → long-lived token → the person's Pages, with
//! their Page tokens and linked Instagram accounts. The `state` is bound to the session,
//! single use and expiring; a callback without the session's `state` does nothing.

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use wbots_core::ChannelAddress;
use wbots_core::store::LoginKind;
use wbots_meta::{GrantedPage, INSTAGRAM, MESSENGER};

use crate::Admin;
use crate::connect::after_login;
use crate::render::base;
use crate::session::{Grant, Session};
use crate::signin::{check_csrf, refused, session};

pub(crate) const CALLBACK: &str = "/meta/callback";

/// Sends the browser to Meta's dialog for a new `state` of this session.
pub(crate) fn to_dialog(
    admin: &Admin,
    id: &str,
    s: &Session,
    reconnect: Option<ChannelAddress>,
    rerequest: bool,
) -> Response {
    let Some(state) = admin.sessions.begin(id, LoginKind::Facebook, reconnect) else {
        return refused(admin, Some(s), "Your session ended. Sign in again.");
    };
    match admin.services.meta.facebook_dialog_url(
        &admin.config.absolute(CALLBACK),
        &state,
        rerequest,
    ) {
        Ok(url) => Redirect::to(url.as_str()).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "cannot build the Facebook Login dialog URL");
            unavailable(admin, s, "Facebook Login is not configured on this bridge (meta.app_id).")
        }
    }
}

pub(crate) fn unavailable(admin: &Admin, s: &Session, text: &str) -> Response {
    let b = base(
        &admin.config.mount,
        admin.config.privacy_policy_url.as_ref(),
        Some(&s.person.email),
        Some(&s.csrf),
    );
    admin.pages.message(StatusCode::BAD_GATEWAY, &b, "Could not connect", text)
}

/// `POST /meta/start` (`rerequest=1`: Meta's dialog asks again for declined Pages and
/// permissions).
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
    // "Choose other Pages" asks again for what was declined (`auth_type=rerequest`, §3.4).
    let rerequest = form.get("rerequest").is_some_and(|v| v == "1");
    to_dialog(&admin, &id, &s, None, rerequest)
}

/// The grants of the person's Pages: each Page (Messenger) and its linked Instagram
/// account (Instagram through Facebook Login, subscribed on the Page, §4.3).
fn grants_of(pages: Vec<GrantedPage>) -> Vec<Grant> {
    let mut grants = Vec::new();
    for page in pages {
        let blocked = (!page.can_connect()).then(|| {
            "You lack messaging access to this Page (the MESSAGING and MODERATE tasks): ask a Page admin to give it to you.".to_owned()
        });
        let name =
            if page.name.is_empty() { format!("Page {}", page.id) } else { page.name.clone() };
        grants.push(Grant {
            key: format!("page:{}", page.id),
            label: format!("Messenger: {name}"),
            address: ChannelAddress::new(MESSENGER, page.id.as_str()),
            page_id: Some(page.id.clone()),
            login: LoginKind::Facebook,
            token: page.access_token.clone(),
            expires_at: None,
            blocked: blocked.clone(),
        });
        if let Some(ig) = page.instagram {
            let who = ig.username.map(|u| format!("@{u}")).unwrap_or_else(|| ig.id.clone());
            grants.push(Grant {
                key: format!("ig:{}", ig.id),
                label: format!("Instagram {who} (through {name})"),
                address: ChannelAddress::new(INSTAGRAM, ig.id.as_str()),
                page_id: Some(page.id.clone()),
                login: LoginKind::Facebook,
                token: page.access_token,
                expires_at: None,
                blocked,
            });
        }
    }
    grants
}

/// `GET /meta/callback?code&state` (or `error…&state`, §1.3).
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
    let Some(pending) = admin.sessions.finish(&id, LoginKind::Facebook, state) else {
        tracing::warn!(
            user = s.person.id,
            "Facebook Login callback with a state this session does not wait for"
        );
        return refused(
            &admin,
            Some(&s),
            "This answer from Facebook does not belong to a connection you started here, or was used already. Start again from your channels.",
        );
    };
    if q.contains_key("error") {
        return unavailable(
            &admin,
            &s,
            "You cancelled in Facebook's dialog, or Facebook refused. Nothing was connected.",
        );
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()) else {
        return unavailable(&admin, &s, "Facebook answered without a code. Start again.");
    };
    let meta = &admin.services.meta;
    let pages = async {
        let short = meta.exchange_code(code, &admin.config.absolute(CALLBACK)).await?;
        let long = meta.long_lived(&short.access_token).await?;
        meta.pages(&long.access_token).await
    }
    .await;
    match pages {
        Ok(pages) => after_login(&admin, &id, &s, pending.reconnect, grants_of(pages)).await,
        Err(e) => {
            tracing::warn!(error = %e, "Facebook Login failed after the callback");
            unavailable(&admin, &s, &format!("Facebook did not give access: {}", e.message()))
        }
    }
}
