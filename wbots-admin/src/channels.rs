//! The channel list, per Chatwoot account the person administers: each channel's status
//! (active / needs reconnect with the reason / disconnected), *Reconnect* (the same login,
//! replacing the token) and *Disconnect* (unsubscribed from the app's webhooks, then no
//! longer served; kept in the list so it can be reconnected).

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use chrono::{DateTime, Utc};
use minijinja::context;
use wbots_core::store::{ChannelActivity, ChannelRecord, ChannelStatus, LoginKind};

use crate::connect::{account_of, may_manage};
use crate::render::{signed_in_base, unavailable_now};
use crate::session::Session;
use crate::signin::{check_csrf, confirmed_session, refused, session};
use crate::{Admin, facebook, instagram};

type Fields = Form<HashMap<String, String>>;

/// The notices a redirect may ask for: fixed texts, so nothing from the URL is shown.
fn notice(done: Option<&str>) -> Option<&'static str> {
    match done? {
        "connected" => Some("Connected. Messages flow within seconds."),
        "reconnected" => Some("Reconnected: the new access is in use."),
        "disconnected" => Some("Disconnected: the bridge no longer serves it."),
        _ => None,
    }
}

/// A last-message time as the list shows it.
fn shown(at: Option<DateTime<Utc>>) -> String {
    at.map_or_else(|| "none yet".to_owned(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

fn status_text(status: &ChannelStatus) -> &'static str {
    match status {
        ChannelStatus::Active => "active",
        ChannelStatus::Flagged { .. } => "needs reconnect",
        ChannelStatus::Disconnected => "disconnected",
    }
}

/// The stored channels the person may act on: those of the accounts they administer.
async fn visible(admin: &Admin, s: &Session) -> Result<Vec<ChannelRecord>, Response> {
    match admin.services.channels.list().await {
        Ok(all) => Ok(all.into_iter().filter(|r| may_manage(admin, s, &r.channel)).collect()),
        Err(e) => {
            tracing::error!(error = %e, "admin page: cannot list channels");
            Err(unavailable_now(
                admin,
                s,
                "The bridge cannot read its channels right now. Try again in a moment.",
            ))
        }
    }
}

/// `GET /`: the list.
pub(crate) async fn list(
    State(admin): State<Admin>,
    jar: PrivateCookieJar,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let (_, s) = match session(&admin, &jar) {
        Ok(found) => found,
        Err(to_sign_in) => return to_sign_in,
    };
    let records = match visible(&admin, &s).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let mut accounts = Vec::new();
    for account in &s.accounts {
        // Inbox names make the list readable; without them, ids.
        let names: HashMap<u64, String> = admin
            .services
            .people
            .inboxes(&s.person.access_token, account.id)
            .await
            .map(|list| list.into_iter().map(|i| (i.id, i.name)).collect())
            .unwrap_or_default();
        let mut channels = Vec::new();
        for r in records.iter().filter(|r| account_of(&admin, &r.channel) == Some(account.id)) {
            let c = &r.channel;
            let inbox = names.get(&c.chatwoot.inbox_id).map_or_else(
                || format!("#{}", c.chatwoot.inbox_id),
                |n| format!("{n} (#{})", c.chatwoot.inbox_id),
            );
            let how = match c.login {
                LoginKind::Facebook if c.address.kind.as_str() == "instagram" => {
                    "Instagram through Facebook"
                }
                LoginKind::Facebook => "Messenger",
                LoginKind::Instagram => "Instagram",
            };
            let (last_in, last_out) = match ChannelActivity::of(
                admin.services.links.as_ref(),
                &c.address,
            )
            .await
            {
                Ok(a) => (shown(a.last_in), shown(a.last_out)),
                Err(e) => {
                    tracing::warn!(channel = %c.address, error = %e, "admin page: cannot read the channel's activity");
                    ("unknown".to_owned(), "unknown".to_owned())
                }
            };
            channels.push(context! {
                address => c.address.to_string(),
                label => format!("{how} · {}", c.address.account),
                status => c.status.as_str(),
                status_text => status_text(&c.status),
                reason => c.status.reason(),
                inbox => inbox,
                connected_by => c.connected_by,
                connected_at => c.connected_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                expires => c.token_expires_at.map(|t| t.format("%Y-%m-%d").to_string()),
                last_in => last_in,
                last_out => last_out,
            });
        }
        accounts.push(context! { id => account.id, name => account.name, channels => channels });
    }
    let b = signed_in_base(&admin, &s);
    let ctx = context! {
        base => b,
        accounts => accounts,
        notice => notice(q.get("done").map(String::as_str)),
        instagram => admin.services.meta.instagram_enabled(),
    };
    admin.pages.render(StatusCode::OK, "channels.html", ctx)
}

/// The channel the form's `address` names, if the person may act on it.
async fn chosen(
    admin: &Admin,
    s: &Session,
    form: &HashMap<String, String>,
) -> Result<ChannelRecord, Response> {
    let address = form.get("address").map(String::as_str).unwrap_or_default();
    let records = visible(admin, s).await?;
    records.into_iter().find(|r| r.channel.address.to_string() == address).ok_or_else(|| {
        refused(admin, Some(s), "There is no such channel in the accounts you administer.")
    })
}

/// `POST /channels/disconnect`.
pub(crate) async fn disconnect(
    State(admin): State<Admin>,
    jar: PrivateCookieJar,
    Form(form): Fields,
) -> Response {
    let (_, s) = match confirmed_session(&admin, &jar).await {
        Ok(found) => found,
        Err(to_sign_in) => return to_sign_in,
    };
    if let Err(r) = check_csrf(&admin, &s, &form) {
        return r;
    }
    let record = match chosen(&admin, &s, &form).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let c = &record.channel;
    // Unsubscribed first (best effort: a token Meta no longer honours cannot unsubscribe,
    // and the channel must stop anyway), then no longer served.
    // An Instagram account through Facebook Login with no Page stored: its Page cannot be
    // told, so nothing is unsubscribed (the business removes the app in the Page's settings).
    let Some((node, login)) = wbots_meta::subscriptions::node_of(c) else {
        tracing::warn!(channel = %c.address, "no Page stored for this Instagram account: its Page stays subscribed");
        return finish_disconnect(&admin, &s, c).await;
    };
    // A Page's subscription also carries the other channels reached through it (its
    // Messenger and its Instagram account, stored or in the embedder's configuration):
    // kept while one of them is still served.
    let shared = match admin.services.channels.list().await {
        Ok(all) => all
            .iter()
            .find(|r| {
                r.channel.address != c.address
                    && r.channel.status != ChannelStatus::Disconnected
                    && wbots_meta::subscriptions::channel_reached_through(&r.channel, &node, login)
            })
            .map(|r| r.channel.address.to_string()),
        Err(e) => {
            tracing::warn!(error = %e, "admin page: cannot list channels; keeping the subscription");
            Some("(unknown: the channels cannot be read)".to_owned())
        }
    };
    let shared = shared.or_else(|| admin.config.other_channels.reached_through(&node, login));
    if let Some(other) = &shared {
        tracing::info!(channel = %c.address, %node, %other, "kept the webhook subscription: another channel is reached through it");
    }
    if shared.is_none() {
        let token = &record.credentials.access_token;
        if let Err(e) = admin.services.connections.unsubscribe(&node, login, token).await {
            tracing::warn!(channel = %c.address, error = %e, "could not unsubscribe the disconnected channel");
        }
    }
    finish_disconnect(&admin, &s, c).await
}

/// Stores `c` as disconnected (no longer served, credentials kept until removed) and goes
/// back to the list.
async fn finish_disconnect(
    admin: &Admin,
    s: &Session,
    c: &wbots_core::store::ConnectedChannel,
) -> Response {
    if let Err(e) =
        admin.services.channels.set_status(&c.address, ChannelStatus::Disconnected).await
    {
        tracing::error!(channel = %c.address, error = %e, "could not disconnect the channel");
        let b = signed_in_base(admin, s);
        return admin.pages.message(
            StatusCode::SERVICE_UNAVAILABLE,
            &b,
            "Not disconnected",
            "The bridge could not store the change. Try again.",
        );
    }
    tracing::info!(channel = %c.address, user = s.person.id, "channel disconnected from the admin page");
    Redirect::to(&format!("{}?done=disconnected", admin.config.mount)).into_response()
}

/// `POST /channels/reconnect`: the channel's login again, for this channel.
pub(crate) async fn reconnect(
    State(admin): State<Admin>,
    jar: PrivateCookieJar,
    Form(form): Fields,
) -> Response {
    let (id, s) = match confirmed_session(&admin, &jar).await {
        Ok(found) => found,
        Err(to_sign_in) => return to_sign_in,
    };
    if let Err(r) = check_csrf(&admin, &s, &form) {
        return r;
    }
    let record = match chosen(&admin, &s, &form).await {
        Ok(r) => r,
        Err(page) => return page,
    };
    let address = Some(record.channel.address.clone());
    match record.channel.login {
        LoginKind::Facebook => facebook::to_dialog(&admin, &id, &s, address, false),
        LoginKind::Instagram => instagram::to_dialog(&admin, &id, &s, address),
    }
}
