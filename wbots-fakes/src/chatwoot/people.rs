//! The people of the fake installation and how they sign in: `POST /auth/sign_in` with its
//! MFA step, `DELETE /auth/sign_out`, `GET /api/v1/profile` for a person's token, and who
//! may do what in an account. Each rule cites shared/reference/chatwoot-signin-and-sweep.md
//! (section) and the Chatwoot file it reads.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{Shared, World, lock};

/// `login/ip`: 5 password sign-ins per 5 minutes per IP (§1.9,
/// `config/initializers/rack_attack.rb:93-98`).
const SIGN_INS_PER_WINDOW: usize = 5;
const SIGN_IN_WINDOW: Duration = Duration::from_secs(300);
/// The MFA token's lifetime (§1.5, `app/services/mfa/token_service.rb:4,22-27`).
const MFA_TOKEN_LIFETIME: Duration = Duration::from_secs(300);

/// A person of the installation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FakeUser {
    /// Their e-mail (`uid`).
    pub email: String,
    /// Their password.
    pub password: String,
    /// Their personal API access token (`access_token` of the profile, §1.4: permanent).
    pub access_token: String,
    /// Their name.
    pub name: String,
    /// The one-time code MFA expects, when MFA is on for them (§1.5).
    pub otp_code: Option<String>,
    /// Their accounts: (id, name, role `administrator` | `agent`).
    pub accounts: Vec<(u64, String, String)>,
}

/// Sign-in state: MFA tokens issued, sessions open, the throttle.
#[derive(Debug, Default)]
pub(super) struct People {
    pub users: Vec<FakeUser>,
    /// MFA token → (user e-mail, expiry).
    mfa_tokens: HashMap<String, (String, Instant)>,
    /// Devise tokens open: access-token header → user e-mail.
    pub sessions: HashMap<String, String>,
    /// Password sign-ins counted by the `login/ip` rule, when on.
    throttle: Option<Vec<Instant>>,
    /// Every sign-in request's body keys, in order (so a test can assert what was sent).
    pub sign_in_keys: Vec<Vec<String>>,
}

impl People {
    pub(super) fn by_token(&self, token: &str) -> Option<&FakeUser> {
        self.users.iter().find(|u| u.access_token == token)
    }

    /// Counts a password sign-in under `login/ip`; false when over the limit.
    pub(super) fn throttle_on(&mut self, on: bool) {
        self.throttle = on.then(Vec::new);
    }
}

/// The user JSON of `app/views/api/v1/models/_user.json.jbuilder:1-36` (§1.4): one
/// `accounts[]` entry per account with `role`, `permissions` and `status`; the top-level
/// `role`/`account_id` belong to one account only (§1.4: never use them).
pub(super) fn user_json(u: &FakeUser) -> Value {
    let accounts: Vec<Value> = u
        .accounts
        .iter()
        .map(|(id, name, role)| {
            json!({"id": id, "name": name, "status": "active", "role": role, "permissions": [role]})
        })
        .collect();
    let first = u.accounts.first();
    json!({
        "access_token": u.access_token,
        "account_id": first.map(|a| a.0),
        "available_name": u.name,
        "email": u.email,
        "id": 5,
        "name": u.name,
        "provider": "email",
        "role": first.map(|a| a.2.clone()),
        "uid": u.email,
        "accounts": accounts,
    })
}

fn json_error(status: StatusCode, body: Value) -> Response {
    (status, axum::Json(body)).into_response()
}

fn bad_credentials() -> Response {
    // DTA `sessions_controller.rb:39-42,113-115` (§1.8).
    json_error(
        StatusCode::UNAUTHORIZED,
        json!({"success": false, "errors": ["Invalid login credentials. Please try again."]}),
    )
}

/// A session opened: DTA's headers (§1.4, `set_user_by_token.rb:102-117`) and the user in
/// `data`.
fn signed_in(p: &mut People, user: &FakeUser) -> Response {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let client = uuid::Uuid::new_v4().simple().to_string();
    p.sessions.insert(token.clone(), user.email.clone());
    let headers = [
        ("access-token", token),
        ("token-type", "Bearer".to_owned()),
        ("client", client),
        ("uid", user.email.clone()),
    ];
    (StatusCode::OK, headers, axum::Json(json!({"data": user_json(user)}))).into_response()
}

/// `POST /auth/sign_in` (§1.2-§1.5, `app/controllers/devise_overrides/sessions_controller.rb`):
/// JSON or form body. With `mfa_token`: the second MFA step (401 for a bad or expired
/// token, 400 for a wrong code). Otherwise e-mail (case-insensitive, stripped) and
/// password: 401 when wrong, 206 `{mfa_required, mfa_token}` for an MFA user, else 200.
/// When the throttle is on, the sixth password sign-in within 5 minutes answers 429
/// `Retry later` as text, without `Retry-After` (§1.8, §1.9).
pub(super) async fn sign_in(
    State(state): State<Shared>,
    headers: HeaderMap,
    body: String,
) -> Response {
    let json_body = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let fields: HashMap<String, String> = if json_body {
        serde_json::from_str::<HashMap<String, Value>>(&body)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|(k, v)| v.as_str().map(|s| (k, s.to_owned())))
            .collect()
    } else {
        url::form_urlencoded::parse(body.as_bytes()).into_owned().collect()
    };
    let mut s = lock(&state);
    let p = &mut s.people;
    let mut keys: Vec<String> = fields.keys().cloned().collect();
    keys.sort();
    p.sign_in_keys.push(keys);
    if let Some(mfa) = fields.get("mfa_token") {
        let now = Instant::now();
        let Some((email, _)) = p.mfa_tokens.get(mfa).filter(|(_, exp)| *exp > now).cloned() else {
            return json_error(
                StatusCode::UNAUTHORIZED,
                json!({"error": "Invalid or expired MFA token"}),
            );
        };
        let Some(user) = p.users.iter().find(|u| u.email == email).cloned() else {
            return json_error(
                StatusCode::UNAUTHORIZED,
                json!({"error": "Invalid or expired MFA token"}),
            );
        };
        if user.otp_code.is_none() || fields.get("otp_code") != user.otp_code.as_ref() {
            return json_error(
                StatusCode::BAD_REQUEST,
                json!({"error": "Invalid verification code"}),
            );
        }
        return signed_in(p, &user);
    }
    if let Some(counted) = p.throttle.as_mut() {
        let now = Instant::now();
        counted.retain(|t| now.duration_since(*t) < SIGN_IN_WINDOW);
        if counted.len() >= SIGN_INS_PER_WINDOW {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::CONTENT_TYPE, "text/plain")],
                "Retry later\n",
            )
                .into_response();
        }
        counted.push(now);
    }
    let email = fields.get("email").map(|e| e.trim().to_lowercase()).unwrap_or_default();
    let Some(user) = p.users.iter().find(|u| u.email.to_lowercase() == email).cloned() else {
        return bad_credentials();
    };
    if fields.get("password") != Some(&user.password) {
        return bad_credentials();
    }
    if user.otp_code.is_some() {
        let token = format!("mfa.{}", uuid::Uuid::new_v4().simple());
        p.mfa_tokens
            .insert(token.clone(), (user.email.clone(), Instant::now() + MFA_TOKEN_LIFETIME));
        return json_error(
            StatusCode::PARTIAL_CONTENT,
            json!({"mfa_required": true, "mfa_token": token}),
        );
    }
    signed_in(p, &user)
}

/// `DELETE /auth/sign_out` with the session's headers (§3.1): 200 `{"success": true}`, or
/// 404 for an unknown token.
pub(super) async fn sign_out(State(state): State<Shared>, headers: HeaderMap) -> Response {
    let token = headers.get("access-token").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let mut s = lock(&state);
    if s.people.sessions.remove(token).is_some() {
        return axum::Json(json!({"success": true})).into_response();
    }
    json_error(
        StatusCode::NOT_FOUND,
        json!({"success": false, "errors": ["User was not found or was not logged in."]}),
    )
}

/// What a person's token may do (the gate's part for people): `Ok(())`, or the refusal.
/// Account-scoped calls need the account among theirs (`ensure_current_account_helper.rb:21-25`);
/// creating or changing inboxes needs `administrator` there (`app/policies/inbox_policy.rb:41-47`,
/// §7.1).
#[allow(clippy::result_large_err)]
pub(super) fn person_may(
    s: &World,
    user: &FakeUser,
    method: &Method,
    path: &str,
) -> Result<(), Response> {
    let Some(rest) = path.strip_prefix("/api/v1/accounts/") else { return Ok(()) };
    let mut parts = rest.split('/');
    let account = parts.next().unwrap_or_default();
    let role =
        user.accounts.iter().find(|(id, _, _)| id.to_string() == account).map(|a| a.2.as_str());
    let Some(role) = role.filter(|_| account == s.account_id.to_string()) else {
        return Err(json_error(
            StatusCode::UNAUTHORIZED,
            json!({"error": "You are not authorized to access this account"}),
        ));
    };
    let inboxes = parts.next() == Some("inboxes");
    if inboxes && (method == Method::POST || method == Method::PATCH) && role != "administrator" {
        return Err(json_error(
            StatusCode::UNAUTHORIZED,
            json!({"error": "You are not authorized to do this action"}),
        ));
    }
    Ok(())
}
