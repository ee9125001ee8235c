//! The fake's login endpoints: Facebook Login's dialog, code exchange, long-lived exchange
//! and `/me/accounts`; Instagram Login's authorize, token and long-lived exchange. Each rule
//! cites shared/reference/meta-login.md (section, and its §9 F-number).
//!
//! The dialogs are consent pages a browser (or a test with plain HTTP) can answer: the
//! person's Pages (or Instagram account) listed with checkboxes, *Continue* and *Cancel*.
//! Which Pages the person may grant is a test device ([`FakeGraph::set_person_pages`]).
//!
//! [`FakeGraph::set_person_pages`]: super::FakeGraph::set_person_pages

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use serde_json::{Value, json};

use super::lifecycle::IG_TOKEN_SECONDS;
use super::routes::{authorize, graph_error};
use super::{IgToken, Shared, World, lock};

type Q = Query<HashMap<String, String>>;

/// A long-lived user token's `expires_in` (§1.6, S3 sample).
const USER_TOKEN_SECONDS: i64 = 5_183_944;
/// A short-lived Instagram-Login code is valid one hour (§5.2, S20); Facebook's code
/// lifetime is not determined (§1.2): the fake uses the same hour.
const CODE_MINUTES: i64 = 60;
/// `/me/accounts`' page size when `limit` is absent: not determined (§3.1); the fake uses
/// 25, the value of the reference's example, so paging shows with a few Pages.
const DEFAULT_LIMIT: usize = 25;

/// The login side of the fake's world.
#[derive(Debug, Default)]
pub(crate) struct LoginWorld {
    /// Meta app id and secret (Facebook Login).
    pub app: Option<(String, String)>,
    /// Instagram app id and secret (Instagram Login, §5: not the Meta app's).
    pub instagram_app: Option<(String, String)>,
    /// Valid OAuth redirect URIs (Facebook Login, §7.2 exact match).
    pub redirect_uris: Vec<String>,
    /// Instagram business-login redirect URIs (§5.1 exact match).
    pub instagram_redirect_uris: Vec<String>,
    /// The Pages the person who logs in may grant; `None`: every Page the fake knows.
    pub person_pages: Option<Vec<String>>,
    /// The Instagram professional account that logs in with Instagram Login: (user_id,
    /// username).
    pub instagram_account: Option<(String, String)>,
    /// Codes issued: code → grant.
    pub codes: HashMap<String, CodeGrant>,
    /// User tokens issued: token → the Pages granted with it and its expiry.
    pub user_tokens: HashMap<String, UserToken>,
    /// Instagram-Login tokens → the account they act for.
    pub instagram_token_accounts: HashMap<String, String>,
    /// Codes exchanged, in order (Facebook and Instagram).
    pub exchanged: Vec<String>,
}

#[derive(Clone, Debug)]
pub(crate) struct CodeGrant {
    redirect_uri: String,
    used: bool,
    issued_at: DateTime<Utc>,
    pages: Vec<String>,
    instagram: bool,
}

/// A Facebook user token: the Pages granted with it (§3.4: the person picks them).
#[derive(Clone, Debug)]
pub(crate) struct UserToken {
    pages: Vec<String>,
}

fn page(body: String) -> Response {
    Html(format!(
        "<!doctype html><html><head><meta charset=utf-8><title>Fake Meta login</title></head><body>{body}</body></html>"
    ))
    .into_response()
}

/// HTML-escapes text the fake puts in its consent page.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// "URL Blocked" (§7.2, C12; F1): the dialog does not redirect to an unlisted URI.
fn url_blocked() -> Response {
    let text = "URL Blocked: This redirect failed because the redirect URI is not whitelisted in the app's Client OAuth Settings. Make sure Client and Web OAuth Login are on and add all your app domains as Valid OAuth Redirect URIs.";
    (StatusCode::OK, page(format!("<h1>URL Blocked</h1><p id=error>{text}</p>"))).into_response()
}

fn new_code(w: &mut World) -> String {
    w.next += 1;
    format!("AQ{}{}", w.next, uuid::Uuid::new_v4().simple())
}

/// `GET /{v}/dialog/oauth?client_id&redirect_uri&state&scope|config_id` (§1.1, S1): the
/// consent page listing the person's Pages, each checked, with the linked Instagram
/// account named. Wrong app id or unlisted redirect URI: no redirect (F1).
pub(super) async fn facebook_dialog(
    State(world): State<Shared>,
    Path(_version): Path<String>,
    Query(q): Q,
) -> Response {
    let w = lock(&world);
    let app_ok = w.login.app.as_ref().is_some_and(|(id, _)| q.get("client_id") == Some(id));
    if !app_ok {
        return page("<h1>Error</h1><p id=error>Invalid App ID</p>".into());
    }
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    if !w.login.redirect_uris.contains(&redirect) {
        return url_blocked();
    }
    let mut ids: Vec<String> = match &w.login.person_pages {
        Some(ids) => ids.clone(),
        None => w.pages.keys().cloned().collect(),
    };
    ids.sort();
    let rows: String = ids
        .iter()
        .filter_map(|id| w.pages.get(id).map(|p| (id, p)))
        .map(|(id, p)| {
            let ig = p.instagram.as_deref().map(|i| format!(" (Instagram {})", esc(i))).unwrap_or_default();
            format!(
                "<li><label><input type=checkbox name=page value=\"{}\" checked> {}{ig}</label></li>",
                esc(id),
                esc(&p.name)
            )
        })
        .collect();
    let hidden = |k: &str| {
        format!(
            "<input type=hidden name={k} value=\"{}\">",
            esc(q.get(k).map_or("", String::as_str))
        )
    };
    page(format!(
        "<h1>Fake Facebook: choose the Pages wbots may use</h1><form method=post action=\"oauth/confirm\">{}{}<ul>{rows}</ul><button type=submit name=decision value=continue id=continue>Continue</button> <button type=submit name=decision value=cancel id=cancel>Cancel</button></form>",
        hidden("redirect_uri"),
        hidden("state"),
    ))
}

/// The consent page's answer (form body). *Continue*: a redirect with a fresh code, the
/// `state` unchanged and `#_=_` (§1.2, S1, C2; F2), granting the ticked Pages only.
/// *Cancel*: the denial redirect (§1.3, S1, C1, C2; F3).
pub(super) async fn facebook_confirm(
    State(world): State<Shared>,
    Path(_version): Path<String>,
    body: String,
) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let get =
        |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let redirect = get("redirect_uri");
    let state = get("state");
    let mut w = lock(&world);
    if !w.login.redirect_uris.contains(&redirect) {
        return url_blocked();
    }
    let Ok(mut target) = url::Url::parse(&redirect) else { return url_blocked() };
    if get("decision") == "cancel" {
        target
            .query_pairs_mut()
            .append_pair("error_code", "200")
            .append_pair("error", "access_denied")
            .append_pair("error_description", "Permissions error.")
            .append_pair("error_reason", "user_denied")
            .append_pair("state", &state);
    } else {
        let pages: Vec<String> =
            pairs.iter().filter(|(n, _)| n == "page").map(|(_, v)| v.clone()).collect();
        let code = new_code(&mut w);
        w.login.codes.insert(
            code.clone(),
            CodeGrant {
                redirect_uri: redirect.clone(),
                used: false,
                issued_at: Utc::now(),
                pages,
                instagram: false,
            },
        );
        target.query_pairs_mut().append_pair("code", &code).append_pair("state", &state);
    }
    target.set_fragment(Some("_=_"));
    Redirect::to(target.as_str()).into_response()
}

/// `GET /{v}/oauth/access_token`: the code exchange (§1.4, S1; F4) or, with
/// `grant_type=fb_exchange_token`, the long-lived exchange (§1.6, S3; F5).
pub(super) async fn facebook_token(
    State(world): State<Shared>,
    Path(_version): Path<String>,
    Query(q): Q,
) -> Response {
    let mut w = lock(&world);
    w.calls += 1;
    let app_ok = w.login.app.as_ref().is_some_and(|(id, secret)| {
        q.get("client_id") == Some(id) && q.get("client_secret") == Some(secret)
    });
    if !app_ok {
        // A wrong secret is refused; its exact body is not determined (§9 F4).
        return graph_error(400, 1, None, "Error validating client secret.");
    }
    if q.get("grant_type").map(String::as_str) == Some("fb_exchange_token") {
        let given = q.get("fb_exchange_token").cloned().unwrap_or_default();
        let Some(known) = w.login.user_tokens.get(&given).cloned() else {
            return graph_error(
                400,
                190,
                None,
                "Invalid OAuth access token - Cannot parse access token",
            );
        };
        if w.revoked.contains(&given) {
            // An expired/invalidated token cannot be exchanged (S3); 190/463 is S27's
            // generic "expired" (exact code not determined, F5).
            return graph_error(
                400,
                190,
                Some(463),
                "Error validating access token: Session has expired.",
            );
        }
        w.next += 1;
        let token = format!("EAALong{}{}", w.next, uuid::Uuid::new_v4().simple());
        w.login.user_tokens.insert(token.clone(), UserToken { pages: known.pages });
        return axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": USER_TOKEN_SECONDS}))
            .into_response();
    }
    let code = q.get("code").cloned().unwrap_or_default();
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    let Some(grant) = w.login.codes.get(&code).cloned().filter(|g| !g.instagram) else {
        return graph_error(400, 100, None, "Invalid verification code format.");
    };
    if grant.used {
        return graph_error(400, 100, Some(36009), "This authorization code has been used.");
    }
    if Utc::now() - grant.issued_at > Duration::minutes(CODE_MINUTES) {
        return graph_error(400, 100, Some(36007), "This authorization code has expired.");
    }
    if grant.redirect_uri != redirect {
        return graph_error(
            400,
            100,
            Some(36008),
            "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
        );
    }
    if let Some(g) = w.login.codes.get_mut(&code) {
        g.used = true;
    }
    w.login.exchanged.push(code);
    w.next += 1;
    let token = format!("EAAShort{}{}", w.next, uuid::Uuid::new_v4().simple());
    w.login.user_tokens.insert(token.clone(), UserToken { pages: grant.pages });
    // `expires_in` optional (§1.4); the short-lived token's "an hour or two" (S2).
    axum::Json(json!({"access_token": token, "token_type": "bearer", "expires_in": 3600}))
        .into_response()
}

/// `GET /{v}/{user}/accounts` with a user token (§3.1, S11; F7): the Pages granted with it
/// (others omitted), each with its Page token and `tasks`, the linked Instagram account
/// when `fields` asks for `instagram_business_account` (field expansion, S13/S15), paged
/// with `limit` and an `after` cursor, `next` absent on the last page (§3.2, S13).
pub(super) async fn accounts(
    State(world): State<Shared>,
    Path((version, _user)): Path<(String, String)>,
    Query(q): Q,
    headers: HeaderMap,
) -> Response {
    let mut w = lock(&world);
    let token = match authorize(&mut w, &headers, &q) {
        Ok(t) => t,
        Err(r) => return r,
    };
    let Some(user) = w.login.user_tokens.get(&token).cloned() else {
        return graph_error(
            400,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        );
    };
    let fields = q.get("fields").cloned().unwrap_or_default();
    let mut ids = user.pages.clone();
    ids.sort();
    let limit = q
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        .unwrap_or(DEFAULT_LIMIT);
    let start = q
        .get("after")
        .and_then(|a| a.strip_prefix("cursor-"))
        .and_then(|a| a.parse::<usize>().ok())
        .unwrap_or(0);
    let end = (start + limit).min(ids.len());
    let data: Vec<Value> = ids
        .get(start..end)
        .unwrap_or_default()
        .iter()
        .filter_map(|id| w.pages.get(id).map(|p| (id, p)))
        .map(|(id, p)| {
            let mut v =
                json!({"id": id, "name": p.name, "access_token": p.token, "tasks": p.tasks});
            if fields.contains("instagram_business_account") {
                if let Some(ig) = &p.instagram {
                    let username =
                        w.instagram_usernames.get(ig).cloned().unwrap_or_else(|| format!("ig{ig}"));
                    v["instagram_business_account"] = json!({"id": ig, "username": username});
                }
            }
            v
        })
        .collect();
    let mut paging =
        json!({"cursors": {"before": format!("cursor-{start}"), "after": format!("cursor-{end}")}});
    let next = url::Url::parse(&format!("{}/{version}/me/accounts", w.base));
    if let (true, Ok(mut next)) = (end < ids.len(), next) {
        next.query_pairs_mut()
            .append_pair("access_token", &token)
            .append_pair("fields", &fields)
            .append_pair("limit", &limit.to_string())
            .append_pair("after", &format!("cursor-{end}"));
        paging["next"] = json!(next.as_str());
    }
    axum::Json(json!({"data": data, "paging": paging})).into_response()
}

/// `GET /oauth/authorize` (www.instagram.com, §5.1, S20): the consent page of the
/// Instagram account set with [`super::FakeGraph::set_instagram_login_account`]. Wrong app id
/// or unlisted redirect URI: no redirect (F9).
pub(super) async fn instagram_authorize(State(world): State<Shared>, Query(q): Q) -> Response {
    let w = lock(&world);
    let app_ok =
        w.login.instagram_app.as_ref().is_some_and(|(id, _)| q.get("client_id") == Some(id));
    if !app_ok {
        return page("<h1>Error</h1><p id=error>Invalid app ID</p>".into());
    }
    let redirect = q.get("redirect_uri").cloned().unwrap_or_default();
    if !w.login.instagram_redirect_uris.contains(&redirect) {
        return page("<h1>Error</h1><p id=error>Invalid redirect_uri</p>".into());
    }
    let who = w.login.instagram_account.as_ref().map(|(_, u)| esc(u)).unwrap_or_default();
    let hidden = |k: &str| {
        format!(
            "<input type=hidden name={k} value=\"{}\">",
            esc(q.get(k).map_or("", String::as_str))
        )
    };
    page(format!(
        "<h1>Fake Instagram: allow wbots to manage messages of @{who}</h1><form method=post action=\"authorize/confirm\">{}{}<button type=submit name=decision value=allow id=allow>Allow</button> <button type=submit name=decision value=cancel id=cancel>Cancel</button></form>",
        hidden("redirect_uri"),
        hidden("state")
    ))
}

/// The Instagram consent page's answer: `…?code=…&state=…#_` (§5.2, S20) or the denial
/// `error=access_denied&error_reason=user_denied&error_description=The+user+denied+your+request`
/// (S20; F9); `state` is echoed on the denial as Chatwoot's handler expects (R7).
pub(super) async fn instagram_confirm(State(world): State<Shared>, body: String) -> Response {
    let pairs: Vec<(String, String)> =
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let get =
        |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()).unwrap_or_default();
    let redirect = get("redirect_uri");
    let mut w = lock(&world);
    if !w.login.instagram_redirect_uris.contains(&redirect) {
        return page("<h1>Error</h1><p id=error>Invalid redirect_uri</p>".into());
    }
    let Ok(mut target) = url::Url::parse(&redirect) else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    if get("decision") == "cancel" {
        target
            .query_pairs_mut()
            .append_pair("error", "access_denied")
            .append_pair("error_reason", "user_denied")
            .append_pair("error_description", "The user denied your request")
            .append_pair("state", &get("state"));
    } else {
        let code = new_code(&mut w);
        w.login.codes.insert(
            code.clone(),
            CodeGrant {
                redirect_uri: redirect.clone(),
                used: false,
                issued_at: Utc::now(),
                pages: vec![],
                instagram: true,
            },
        );
        target.query_pairs_mut().append_pair("code", &code).append_pair("state", &get("state"));
        target.set_fragment(Some("_"));
    }
    Redirect::to(target.as_str()).into_response()
}

/// Instagram's flat error envelope for api.instagram.com (§5.3, S20; F13).
fn instagram_error(message: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({"error_type": "OAuthException", "code": 400, "error_message": message})),
    )
        .into_response()
}

/// `POST /oauth/access_token` (api.instagram.com, §5.3, S20/S21; F10): form body with the
/// Instagram app's id and secret, `grant_type=authorization_code`, the identical
/// `redirect_uri` and a code valid one hour and once. Answers the flat form with a numeric
/// `user_id` (the default §5.3 chooses).
pub(super) async fn instagram_token(
    State(world): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !form {
        return instagram_error("Missing required parameter: client_id");
    }
    let pairs: HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect();
    let mut w = lock(&world);
    w.calls += 1;
    let app_ok = w.login.instagram_app.as_ref().is_some_and(|(id, secret)| {
        pairs.get("client_id") == Some(id) && pairs.get("client_secret") == Some(secret)
    });
    if !app_ok {
        return instagram_error("Invalid client_secret");
    }
    if pairs.get("grant_type").map(String::as_str) != Some("authorization_code") {
        return instagram_error("Invalid grant_type");
    }
    let code = pairs.get("code").cloned().unwrap_or_default();
    let usable = w.login.codes.get(&code).filter(|g| g.instagram && !g.used).cloned();
    let Some(grant) =
        usable.filter(|g| Utc::now() - g.issued_at <= Duration::minutes(CODE_MINUTES))
    else {
        return instagram_error("Matching code was not found or was already used");
    };
    if pairs.get("redirect_uri") != Some(&grant.redirect_uri) {
        return instagram_error(
            "Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request",
        );
    }
    if let Some(g) = w.login.codes.get_mut(&code) {
        g.used = true;
    }
    w.login.exchanged.push(code);
    let Some((user_id, _)) = w.login.instagram_account.clone() else {
        return instagram_error("No Instagram account");
    };
    w.next += 1;
    let token = format!("IGShort{}{}", w.next, uuid::Uuid::new_v4().simple());
    w.login.instagram_token_accounts.insert(token.clone(), user_id.clone());
    let numeric: Value = user_id.parse::<u64>().map(Value::from).unwrap_or(Value::String(user_id));
    axum::Json(json!({"access_token": token, "user_id": numeric})).into_response()
}

/// `GET /access_token?grant_type=ig_exchange_token&client_secret&access_token` on
/// graph.instagram.com (§5.4, S20/S21; F11): a 60-day token, which
/// `refresh_access_token` then knows.
pub(super) async fn instagram_exchange(State(world): State<Shared>, Query(q): Q) -> Response {
    let mut w = lock(&world);
    w.calls += 1;
    if q.get("grant_type").map(String::as_str) != Some("ig_exchange_token") {
        return graph_error(400, 100, None, "Unsupported grant_type: expected ig_exchange_token");
    }
    let secret_ok =
        w.login.instagram_app.as_ref().is_some_and(|(_, s)| q.get("client_secret") == Some(s));
    if !secret_ok {
        return graph_error(
            400,
            101,
            None,
            "Error validating application. Invalid application secret.",
        );
    }
    let short = q.get("access_token").cloned().unwrap_or_default();
    let Some(account) = w.login.instagram_token_accounts.get(&short).cloned() else {
        return graph_error(
            400,
            190,
            None,
            "Invalid OAuth access token - Cannot parse access token",
        );
    };
    w.next += 1;
    let token = format!("IGLong{}{}", w.next, uuid::Uuid::new_v4().simple());
    let now = Utc::now();
    w.instagram_tokens.insert(
        token.clone(),
        IgToken { issued_at: now, expires_at: now + Duration::seconds(IG_TOKEN_SECONDS) },
    );
    w.login.instagram_token_accounts.insert(token.clone(), account);
    axum::Json(
        json!({"access_token": token, "token_type": "bearer", "expires_in": IG_TOKEN_SECONDS}),
    )
    .into_response()
}

/// `/me` with an Instagram-Login token (§5.6, S22): the flat form Chatwoot reads (R7).
pub(super) fn instagram_me(w: &World, token: &str) -> Option<Value> {
    let account = w.login.instagram_token_accounts.get(token)?;
    let username =
        w.instagram_usernames.get(account).cloned().unwrap_or_else(|| format!("ig{account}"));
    Some(json!({
        "id": format!("70{account}"),
        "user_id": account,
        "username": username,
        "name": username,
        "account_type": "Business",
    }))
}
