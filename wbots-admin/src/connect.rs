//! After a login: the person picks which Pages and Instagram accounts to connect and, for
//! each, the Chatwoot account and an API inbox (or a new one); the bridge subscribes them
//! to the app's webhooks, creates or points the inboxes, and stores the channels (sealed)
//! — the binary's channel source serves them from there. A reconnect replaces the token
//! of a stored channel instead.

use std::collections::HashMap;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use chrono::Utc;
use minijinja::context;
use wbots_core::store::{
    ChannelError, ChannelStatus, ChatwootTarget, ConnectedChannel, Credentials, LoginKind,
};
use wbots_core::{ChannelAddress, Secret};

use crate::Admin;
use crate::render::signed_in_base;
use crate::session::{Grant, Session, random_token};
use crate::signin::{check_csrf, confirmed_session, refused, session};

/// The account of the bridge's Chatwoot a channel's conversations go to; `None` for a
/// channel into another Chatwoot installation (`chatwoot.url` set, as `wbots channels add
/// --chatwoot-url` stores it): account ids are per installation — account 3 there is not
/// account 3 here — so the page, signed in to the bridge's Chatwoot, never manages it.
pub(crate) fn account_of(admin: &Admin, channel: &ConnectedChannel) -> Option<u64> {
    if channel.chatwoot.url.is_some() {
        return None;
    }
    Some(channel.chatwoot.account_id.unwrap_or(admin.config.bridge_account))
}

/// Whether the person administers the account `channel` goes to (never one of another
/// installation).
pub(crate) fn may_manage(admin: &Admin, s: &Session, channel: &ConnectedChannel) -> bool {
    account_of(admin, channel).is_some_and(|account| s.may_use(account))
}

/// `GET /connect`: what the last login granted, with a target select for each.
pub(crate) async fn pick(State(admin): State<Admin>, jar: PrivateCookieJar) -> Response {
    let (_, s) = match session(&admin, &jar) {
        Ok(found) => found,
        Err(to_sign_in) => return to_sign_in,
    };
    let mut targets = Vec::new();
    for account in &s.accounts {
        targets.push(context! { value => format!("{}:new", account.id), text => format!("{} — a new inbox", account.name) });
        match admin.services.people.inboxes(&s.person.access_token, account.id).await {
            Ok(inboxes) => targets.extend(inboxes.into_iter().filter(|i| i.channel_type == "Channel::Api").map(|i| {
                context! { value => format!("{}:{}", account.id, i.id), text => format!("{} — inbox {}", account.name, i.name) }
            })),
            Err(e) => tracing::warn!(account = account.id, error = %e, "could not list the account's inboxes"),
        }
    }
    let grants: Vec<_> = s
        .grants
        .iter()
        .map(|g| context! { key => g.key, label => g.label, blocked => g.blocked })
        .collect();
    let b = signed_in_base(&admin, &s);
    admin.pages.render(
        StatusCode::OK,
        "pick.html",
        context! { base => b, grants => grants, targets => targets },
    )
}

/// `account:new` or `account:inbox`.
fn target(value: &str) -> Option<(u64, Option<u64>)> {
    let (account, inbox) = value.split_once(':')?;
    let account = account.parse().ok()?;
    let inbox = if inbox == "new" { None } else { Some(inbox.parse().ok()?) };
    Some((account, inbox))
}

/// `POST /connect`: the ticked grants (`connect`, repeated) and each one's
/// `target:{key}`. Every target account must be one the person may use, or nothing is
/// done.
pub(crate) async fn submit(
    State(admin): State<Admin>,
    jar: PrivateCookieJar,
    Form(fields): Form<Vec<(String, String)>>,
) -> Response {
    let (id, s) = match confirmed_session(&admin, &jar).await {
        Ok(found) => found,
        Err(to_sign_in) => return to_sign_in,
    };
    let single: HashMap<String, String> = fields.iter().cloned().collect();
    if let Err(r) = check_csrf(&admin, &s, &single) {
        return r;
    }
    let mut chosen = Vec::new();
    for key in fields.iter().filter(|(k, _)| k == "connect").map(|(_, v)| v) {
        let Some(grant) = s.grants.iter().find(|g| &g.key == key) else { continue };
        if let Some(why) = &grant.blocked {
            return refused(&admin, Some(&s), why);
        }
        let Some((account, inbox)) = single.get(&format!("target:{key}")).and_then(|v| target(v))
        else {
            return refused(
                &admin,
                Some(&s),
                "Pick an account and an inbox for each account you tick.",
            );
        };
        if !s.may_use(account) {
            tracing::warn!(
                user = s.person.id,
                account,
                "connect refused: not an administrator of the account"
            );
            return refused(
                &admin,
                Some(&s),
                "You can connect only into Chatwoot accounts you administer.",
            );
        }
        chosen.push((grant.clone(), account, inbox));
    }
    let mut lines = Vec::new();
    let mut failed = false;
    for (grant, account, inbox) in chosen {
        match store(&admin, &s, &grant, account, inbox).await {
            Ok(()) => lines.push(format!("{}: connected.", grant.label)),
            Err(why) => {
                failed = true;
                lines.push(format!("{}: not connected — {why}", grant.label));
            }
        }
    }
    admin.sessions.update(&id, |s| s.grants.clear());
    if !failed {
        return Redirect::to(&format!("{}?done=connected", admin.config.mount)).into_response();
    }
    let b = signed_in_base(&admin, &s);
    admin.pages.message(
        StatusCode::BAD_GATEWAY,
        &b,
        "Some accounts were not connected",
        &lines.join(" "),
    )
}

/// Subscribes the grant's account to the app's webhooks on its node.
async fn subscribe(admin: &Admin, grant: &Grant) -> Result<(), String> {
    let meta = &admin.services.meta;
    let done = match grant.login {
        LoginKind::Facebook => {
            let page = grant.page_id.as_deref().unwrap_or(grant.address.account.as_str());
            meta.subscribe_page(page, &grant.token).await
        }
        LoginKind::Instagram => meta.subscribe_instagram(&grant.token).await,
    };
    done.map_err(|e| format!("Meta refused the webhook subscription ({})", e.message()))
}

/// Connects one grant into `account` (`inbox`, or a new one).
async fn store(
    admin: &Admin,
    s: &Session,
    grant: &Grant,
    account: u64,
    inbox: Option<u64>,
) -> Result<(), String> {
    if admin.config.configured.contains(&grant.address) {
        return Err(
            "the bridge's configuration file serves it; its operator manages it there".into()
        );
    }
    let channels = &admin.services.channels;
    let existing = channels.get(&grant.address).await.map_err(|e| store_error(&e))?;
    if let Some(old) = &existing {
        if !may_manage(admin, s, &old.channel) {
            return Err("it is connected into another Chatwoot account; its administrators must disconnect it first".into());
        }
    }
    let own = account == admin.config.bridge_account;
    let people = &admin.services.people;
    let token = &s.person.access_token;
    let refused =
        |e: wbots_core::DeliveryError| format!("Chatwoot refused the inbox ({})", e.message());
    // An existing inbox must be an API inbox of the account: the form is the visitor's
    // and may name any inbox id; only an API inbox sends the bridge its webhooks.
    if let Some(id) = inbox {
        let api = people.inboxes(token, account).await.map_err(refused)?;
        if !api.iter().any(|i| i.id == id && i.channel_type == "Channel::Api") {
            return Err(format!("inbox {id} is not an API inbox of this account"));
        }
    }
    subscribe(admin, grant).await?;
    // The inbox first: its id names its webhook route. A new inbox in another account is
    // made with its own fresh path token from the start: its administrators can read the
    // URL, which must never carry the bridge's own token, not even until it is repointed
    // (the provisional route, inbox 0, does not exist: nothing is served there).
    let (inbox, fresh) = match inbox {
        Some(id) => (id, None),
        None => {
            let fresh = (!own).then(|| Secret::new(random_token()));
            let provisional = admin.config.webhook_urls.for_inbox(account, 0, fresh.as_ref());
            let made = people
                .create_inbox(token, account, &grant.label, &provisional)
                .await
                .map_err(refused)?;
            (made.id, fresh)
        }
    };
    let webhook_token = match (own, fresh) {
        (true, _) => None,
        (false, Some(fresh)) => Some(fresh),
        (false, None) => Some(inbox_token(admin, account, inbox, existing.as_ref()).await?),
    };
    let webhook_url = admin.config.webhook_urls.for_inbox(account, inbox, webhook_token.as_ref());
    let pointed = people.point_inbox(token, account, inbox, &webhook_url).await.map_err(refused)?;
    if let Some(hours) = admin.config.reply_window_hours {
        people.set_reply_window(token, account, &pointed, hours).await.map_err(refused)?;
    }
    let channel = ConnectedChannel {
        address: grant.address.clone(),
        page_id: grant.page_id.clone().filter(|p| p != grant.address.account.as_str()),
        login: grant.login,
        chatwoot: ChatwootTarget {
            url: None,
            account_id: (!own).then_some(account),
            inbox_id: inbox,
        },
        status: ChannelStatus::Active,
        token_expires_at: grant.expires_at,
        connected_by: s.person.email.clone(),
        connected_at: Utc::now(),
    };
    let credentials = Credentials {
        access_token: grant.token.clone(),
        // The bridge's own account is served with the bridge's token; another account with
        // the token of the administrator who connected it.
        chatwoot_token: (!own).then(|| token.clone()),
        chatwoot_webhook_token: webhook_token,
    };
    let written = match existing {
        Some(old) => channels.update(old.revision, &channel, &credentials).await,
        None => channels.add(&channel, &credentials).await,
    };
    written.map(drop).map_err(|e| store_error(&e))?;
    record_grant(admin, grant).await?;
    tracing::info!(channel = %grant.address, account, inbox, user = s.person.id, "channel connected from the admin page");
    Ok(())
}

/// The webhook path token of an inbox served with its own Chatwoot token: the one other
/// channels into the same inbox already have (one adapter, one webhook per inbox), the
/// channel's own when reconnected, else a fresh one.
async fn inbox_token(
    admin: &Admin,
    account: u64,
    inbox: u64,
    existing: Option<&wbots_core::store::ChannelRecord>,
) -> Result<Secret, String> {
    let all = admin.services.channels.list().await.map_err(|e| store_error(&e))?;
    let shared = all.into_iter().find_map(|r| {
        let same = r.channel.chatwoot.url.is_none()
            && r.channel.chatwoot.account_id == Some(account)
            && r.channel.chatwoot.inbox_id == inbox
            && r.credentials.chatwoot_token.is_some();
        same.then_some(r.credentials.chatwoot_webhook_token).flatten()
    });
    Ok(shared
        .or_else(|| existing.and_then(|r| r.credentials.chatwoot_webhook_token.clone()))
        .unwrap_or_else(|| Secret::new(random_token())))
}

/// Keeps who granted the channel's new token (replacing the previous grant's record).
async fn record_grant(admin: &Admin, grant: &Grant) -> Result<(), String> {
    let links = admin.services.links.as_ref();
    wbots_meta::grants::record(links, &grant.address, &grant.granted_by, Utc::now()).await.map_err(|e| {
        tracing::error!(channel = %grant.address, error = %e, "admin page: cannot record who granted the channel");
        "it is connected, but the bridge could not record who granted it (for Meta's data-deletion requests): connect it again".to_owned()
    })
}

fn store_error(e: &ChannelError) -> String {
    tracing::error!(error = %e, "admin page: channel store");
    match e {
        ChannelError::Stale(_) => "it changed meanwhile; try again".into(),
        _ => "the bridge could not store it; try again later".into(),
    }
}

/// Replaces the token of the stored channel `address` with the grant's, subscribes it
/// again and marks it active: a reconnect. The grant must be for that very channel.
pub(crate) async fn reconnect(
    admin: &Admin,
    s: &Session,
    address: &ChannelAddress,
    grants: &[Grant],
) -> Result<(), String> {
    let Some(grant) = grants.iter().find(|g| &g.address == address) else {
        return Err("Meta did not grant this account in the dialog: start again and tick it".into());
    };
    if let Some(blocked) = &grant.blocked {
        return Err(blocked.clone());
    }
    let channels = &admin.services.channels;
    let Some(old) = channels.get(address).await.map_err(|e| store_error(&e))? else {
        return Err("this channel is not stored any more".into());
    };
    if !may_manage(admin, s, &old.channel) {
        return Err("it is connected into an account you do not administer".into());
    }
    subscribe(admin, grant).await?;
    let mut channel = old.channel.clone();
    channel.status = ChannelStatus::Active;
    channel.token_expires_at = grant.expires_at;
    let credentials = Credentials { access_token: grant.token.clone(), ..old.credentials.clone() };
    channels.update(old.revision, &channel, &credentials).await.map_err(|e| store_error(&e))?;
    record_grant(admin, grant).await?;
    tracing::info!(channel = %address, user = s.person.id, "channel reconnected from the admin page");
    Ok(())
}

/// After a login's callback: a reconnect, or the pick page.
pub(crate) async fn after_login(
    admin: &Admin,
    id: &str,
    s: &Session,
    reconnect_address: Option<ChannelAddress>,
    grants: Vec<Grant>,
) -> Response {
    if let Some(address) = reconnect_address {
        return match reconnect(admin, s, &address, &grants).await {
            Ok(()) => {
                Redirect::to(&format!("{}?done=reconnected", admin.config.mount)).into_response()
            }
            Err(why) => {
                let b = signed_in_base(admin, s);
                admin.pages.message(StatusCode::BAD_GATEWAY, &b, "Not reconnected", &why)
            }
        };
    }
    admin.sessions.update(id, |s| s.grants = grants);
    Redirect::to(&format!("{}/connect", admin.config.mount)).into_response()
}
