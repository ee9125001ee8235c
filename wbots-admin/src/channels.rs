//! The channel list, per Chatwoot account the person administers: each channel's status
//! (active / needs reconnect with the reason / disconnected), *Reconnect* (the same login,
//! replacing the token) and *Disconnect* (unsubscribed from the app's webhooks, then no
//! longer served; kept in the list so it can be reconnected).

use std::collections::HashMap;

use axum::extract::{Form, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use minijinja::context;
use wbots_core::store::{ChannelRecord, ChannelStatus, LoginKind};

use crate::connect::account_of;
use crate::render::base;
use crate::session::Session;
use crate::signin::{check_csrf, refused, session};
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
        Ok(all) => {
            Ok(all.into_iter().filter(|r| s.may_use(account_of(admin, &r.channel))).collect())
        }
        Err(e) => {
            tracing::error!(error = %e, "admin page: cannot list channels");
            let b = base(
                &admin.config.mount,
                admin.config.privacy_policy_url.as_ref(),
                Some(&s.person.email),
                Some(&s.csrf),
            );
            Err(admin.pages.message(
                StatusCode::SERVICE_UNAVAILABLE,
                &b,
                "Unavailable",
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
        let channels: Vec<_> = records
            .iter()
            .filter(|r| account_of(&admin, &r.channel) == account.id)
            .map(|r| {
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
                context! {
                    address => c.address.to_string(),
                    label => format!("{how} · {}", c.address.account),
                    status => c.status.as_str(),
                    status_text => status_text(&c.status),
                    reason => c.status.reason(),
                    inbox => inbox,
                    connected_by => c.connected_by,
                    connected_at => c.connected_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                    expires => c.token_expires_at.map(|t| t.format("%Y-%m-%d").to_string()),
                }
            })
            .collect();
        accounts.push(context! { id => account.id, name => account.name, channels => channels });
    }
    let b = base(
        &admin.config.mount,
        admin.config.privacy_policy_url.as_ref(),
        Some(&s.person.email),
        Some(&s.csrf),
    );
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

/// The node a channel's webhook subscription lives on, and on which Graph host: the Page
/// for Facebook Login (Instagram through it included, meta-login.md §4.3), the account
/// itself for Instagram Login (§5.7).
fn subscription_node(c: &wbots_core::store::ConnectedChannel) -> (String, wbots_meta::Login) {
    match c.login {
        LoginKind::Facebook => (
            c.page_id.clone().unwrap_or_else(|| c.address.account.as_str().to_owned()),
            wbots_meta::Login::Facebook,
        ),
        LoginKind::Instagram => {
            (c.address.account.as_str().to_owned(), wbots_meta::Login::Instagram)
        }
    }
}

/// `POST /channels/disconnect`.
pub(crate) async fn disconnect(
    State(admin): State<Admin>,
    jar: PrivateCookieJar,
    Form(form): Fields,
) -> Response {
    let (_, s) = match session(&admin, &jar) {
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
    let (node, login) = subscription_node(c);
    // A Page's subscription also carries the other channel reached through it (its Messenger
    // and its Instagram account): kept while that one is still served.
    let shared = match admin.services.channels.list().await {
        Ok(all) => all.iter().any(|r| {
            r.channel.address != c.address
                && r.channel.status != ChannelStatus::Disconnected
                && subscription_node(&r.channel) == (node.clone(), login)
        }),
        Err(e) => {
            tracing::warn!(error = %e, "admin page: cannot list channels; keeping the subscription");
            true
        }
    };
    if !shared {
        let token = &record.credentials.access_token;
        if let Err(e) = admin.services.connections.unsubscribe(&node, login, token).await {
            tracing::warn!(channel = %c.address, error = %e, "could not unsubscribe the disconnected channel");
        }
    }
    if let Err(e) =
        admin.services.channels.set_status(&c.address, ChannelStatus::Disconnected).await
    {
        tracing::error!(channel = %c.address, error = %e, "could not disconnect the channel");
        let b = base(
            &admin.config.mount,
            admin.config.privacy_policy_url.as_ref(),
            Some(&s.person.email),
            Some(&s.csrf),
        );
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
    let (id, s) = match session(&admin, &jar) {
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
