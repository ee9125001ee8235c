//! Sessions: who is signed in, their CSRF token, the OAuth `state` they wait for, and the
//! accounts Meta granted them. Kept in this process's memory (bounded), named by a random
//! id in a private cookie; tokens never leave the server.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum_extra::extract::PrivateCookieJar;
use axum_extra::extract::cookie::{Cookie, SameSite};
use base64::Engine as _;
use rand::RngCore as _;
use subtle::ConstantTimeEq as _;
use wbots_chatwoot::people::{AccountMembership, Person};
use wbots_core::store::LoginKind;
use wbots_core::{ChannelAddress, Secret};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "wbots_admin";
/// The cookie holding the sign-in form's CSRF token before there is a session.
pub const PRE_COOKIE: &str = "wbots_admin_pre";
/// At most this many sessions are kept; the oldest go first.
const MAX_SESSIONS: usize = 10_000;
/// How long an OAuth `state` waits for its callback.
const STATE_TTL: Duration = Duration::from_secs(15 * 60);

/// A random URL-safe token of 32 bytes.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Constant-time equality of two tokens.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// An account or Page the person may connect, from a login (held until they pick).
#[derive(Clone, Debug)]
pub struct Grant {
    /// The form key (`page:ID`, `ig:ID`, `igl:ID`).
    pub key: String,
    /// What the person sees (the Page name, `@username`): untrusted text.
    pub label: String,
    /// The channel it becomes.
    pub address: ChannelAddress,
    /// The Page it is reached through (and subscribed on), for Facebook Login.
    pub page_id: Option<String>,
    /// How it logged in.
    pub login: LoginKind,
    /// Its Meta token.
    pub token: Secret,
    /// When the token expires (Instagram Login).
    pub expires_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Why it cannot be connected, if so (missing Page tasks).
    pub blocked: Option<String>,
}

/// The OAuth round trip a session waits for.
#[derive(Clone, Debug)]
pub struct Pending {
    /// The `state` sent to Meta.
    pub state: String,
    /// Which login.
    pub login: LoginKind,
    /// The channel being reconnected, if this is a reconnect.
    pub reconnect: Option<ChannelAddress>,
    expires: Instant,
}

/// One signed-in person.
#[derive(Clone, Debug)]
pub struct Session {
    /// Their CSRF token.
    pub csrf: String,
    /// Who they are (their Chatwoot token inside, never shown).
    pub person: Person,
    /// The accounts they may connect into: administered and allowed.
    pub accounts: Vec<AccountMembership>,
    /// The OAuth round trip under way.
    pub pending: Option<Pending>,
    /// What the last login granted, until they pick.
    pub grants: Vec<Grant>,
    expires: Instant,
}

impl Session {
    /// Whether they may act in `account`.
    pub fn may_use(&self, account: u64) -> bool {
        self.accounts.iter().any(|a| a.id == account)
    }
}

/// The sessions of this process.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<HashMap<String, Session>>,
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Opens a session for `person`; its id.
    pub fn open(&self, person: Person, accounts: Vec<AccountMembership>, ttl: Duration) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut all = self.lock();
        all.retain(|_, s| s.expires > now);
        if all.len() >= MAX_SESSIONS {
            if let Some(oldest) = all.iter().min_by_key(|(_, s)| s.expires).map(|(k, _)| k.clone())
            {
                all.remove(&oldest);
            }
        }
        let session = Session {
            csrf: random_token(),
            person,
            accounts,
            pending: None,
            grants: Vec::new(),
            expires: now + ttl,
        };
        all.insert(id.clone(), session);
        id
    }

    /// The live session named `id`.
    pub fn get(&self, id: &str) -> Option<Session> {
        let mut all = self.lock();
        match all.get(id) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                all.remove(id);
                None
            }
            None => None,
        }
    }

    /// Changes the live session named `id`.
    pub fn update<T>(&self, id: &str, change: impl FnOnce(&mut Session) -> T) -> Option<T> {
        let mut all = self.lock();
        all.get_mut(id).filter(|s| s.expires > Instant::now()).map(change)
    }

    /// Ends a session.
    pub fn close(&self, id: &str) {
        self.lock().remove(id);
    }

    /// Starts an OAuth round trip: a fresh `state`, replacing any earlier one.
    pub fn begin(
        &self,
        id: &str,
        login: LoginKind,
        reconnect: Option<ChannelAddress>,
    ) -> Option<String> {
        let state = random_token();
        let pending =
            Pending { state: state.clone(), login, reconnect, expires: Instant::now() + STATE_TTL };
        self.update(id, |s| s.pending = Some(pending)).map(|()| state)
    }

    /// Ends the round trip `state` names, if it is this session's, of `login`, and not
    /// expired: once only (a replayed `state` finds nothing).
    pub fn finish(&self, id: &str, login: LoginKind, state: &str) -> Option<Pending> {
        self.update(id, |s| {
            let ok = s.pending.as_ref().is_some_and(|p| {
                same(&p.state, state) && p.login == login && p.expires > Instant::now()
            });
            if ok { s.pending.take() } else { None }
        })
        .flatten()
    }
}

/// The session cookie: HttpOnly, SameSite=Lax (Meta's callback is a top-level navigation
/// from another site, which Strict would strip), Secure over https, path-scoped, expiring.
pub fn cookie(
    name: &'static str,
    value: String,
    path: &str,
    secure: bool,
    ttl: Duration,
) -> Cookie<'static> {
    let mut c = Cookie::new(name, value);
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(secure);
    c.set_path(path.to_owned());
    c.set_max_age(cookie::time::Duration::seconds(
        i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
    ));
    c
}

/// What removes cookie `name` from the browser: the same name and path, emptied.
pub fn removal(name: &'static str, path: &str) -> Cookie<'static> {
    let mut c = Cookie::new(name, "");
    c.set_path(path.to_owned());
    c
}

/// The session id in `jar`, if any.
pub fn id_of(jar: &PrivateCookieJar) -> Option<String> {
    jar.get(SESSION_COOKIE).map(|c| c.value().to_owned())
}
