//! Signing in with a Chatwoot identity (chatwoot-signin-and-sweep.md §1-§2): a personal
//! access token checked with `/api/v1/profile`, or e-mail and password through Chatwoot's
//! `/auth/sign_in` with its MFA step. Only administrators of an allowed account get a
//! session. The sign-in forms carry a CSRF token bound to a private pre-session cookie
//! (so no one can sign a visitor into someone else's session); after signing in the page
//! always goes to the channel list: no `next=` is honoured, so no open redirect.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::{Form, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum_extra::extract::PrivateCookieJar;
use minijinja::context;
use wbots_chatwoot::people::{Person, SignIn};
use wbots_core::{DeliveryError, DeliveryErrorKind, Secret};

use crate::Admin;
use crate::limits::Attempt;
use crate::render::base;
use crate::session::{
    PRE_COOKIE, SESSION_COOKIE, Session, cookie, id_of, random_token, removal, same,
};

/// The cookie holding Chatwoot's MFA token between the two steps (private: the browser
/// cannot read it; 5 minutes, as the token, §1.5).
const MFA_COOKIE: &str = "wbots_admin_mfa";
const MFA_TTL: Duration = Duration::from_secs(300);
/// The pre-session cookie's life: long enough to fill in the form.
const PRE_TTL: Duration = Duration::from_secs(3600);

type Fields = Form<HashMap<String, String>>;

fn secure(admin: &Admin) -> bool {
    admin.config.public_url.scheme() == "https"
}

/// The signed-in session, or the answer that sends the visitor to sign in.
#[allow(clippy::result_large_err)]
pub(crate) fn session(
    admin: &Admin,
    jar: &PrivateCookieJar,
) -> Result<(String, Session), Response> {
    let found = id_of(jar).and_then(|id| admin.sessions.get(&id).map(|s| (id, s)));
    found.ok_or_else(|| Redirect::to(&format!("{}/sign-in", admin.config.mount)).into_response())
}

/// The session's CSRF token is the form's, or a 403 page.
#[allow(clippy::result_large_err)]
pub(crate) fn check_csrf(
    admin: &Admin,
    session: &Session,
    form: &HashMap<String, String>,
) -> Result<(), Response> {
    let given = form.get("csrf").map(String::as_str).unwrap_or_default();
    if same(&session.csrf, given) {
        return Ok(());
    }
    Err(refused(
        admin,
        Some(session),
        "This form has expired or did not come from this page. Go back, reload and try again.",
    ))
}

/// A 403 page.
pub(crate) fn refused(admin: &Admin, session: Option<&Session>, text: &str) -> Response {
    let b = base(
        &admin.config.mount,
        admin.config.privacy_policy_url.as_ref(),
        session.map(|s| s.person.email.as_str()),
        session.map(|s| s.csrf.as_str()),
    );
    admin.pages.message(StatusCode::FORBIDDEN, &b, "Not allowed", text)
}

fn form_page(
    admin: &Admin,
    jar: PrivateCookieJar,
    status: StatusCode,
    template: &str,
    error: Option<&str>,
) -> Response {
    let csrf = random_token();
    let jar =
        jar.add(cookie(PRE_COOKIE, csrf.clone(), &admin.config.mount, secure(admin), PRE_TTL));
    let b = base(&admin.config.mount, admin.config.privacy_policy_url.as_ref(), None, None);
    let page =
        admin.pages.render(status, template, context! { base => b, csrf => csrf, error => error });
    (jar, page).into_response()
}

/// `GET /sign-in`.
pub(crate) async fn page(State(admin): State<Admin>, jar: PrivateCookieJar) -> Response {
    if session(&admin, &jar).is_ok() {
        return Redirect::to(&admin.config.mount).into_response();
    }
    form_page(&admin, jar, StatusCode::OK, "signin.html", None)
}

fn pre_csrf_ok(jar: &PrivateCookieJar, form: &HashMap<String, String>) -> bool {
    let expected = jar.get(PRE_COOKIE).map(|c| c.value().to_owned());
    let given = form.get("csrf").map(String::as_str).unwrap_or_default();
    expected.is_some_and(|e| same(&e, given))
}

/// What a failed sign-in tells the person: never the password, never Chatwoot's token.
fn failure_text(e: &DeliveryError, what: &str) -> String {
    match e.kind() {
        DeliveryErrorKind::Unauthorized => format!("Chatwoot did not accept {what}."),
        DeliveryErrorKind::RateLimited => {
            "Chatwoot is limiting sign-ins from this service. Wait a few minutes, or sign in with your access token.".to_owned()
        }
        _ => "Chatwoot could not be reached. Try again in a moment.".to_owned(),
    }
}

const TOO_MANY: &str =
    "Too many sign-in attempts. Wait a few minutes, or sign in with your access token.";

/// `POST /sign-in`: a token, or e-mail and password.
pub(crate) async fn submit(
    State(admin): State<Admin>,
    jar: PrivateCookieJar,
    Form(mut form): Fields,
) -> Response {
    if !pre_csrf_ok(&jar, &form) {
        return form_page(
            &admin,
            jar,
            StatusCode::FORBIDDEN,
            "signin.html",
            Some("The form expired. Please try again."),
        );
    }
    // Out of the form at once: the password lives only in this `Secret` until Chatwoot
    // has it.
    let password = form.remove("password").filter(|p| !p.is_empty()).map(Secret::new);
    let token = form
        .remove("token")
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
        .map(Secret::new);
    let email = form.get("email").map(|e| e.trim().to_owned()).unwrap_or_default();
    let attempt = if token.is_some() { Attempt::Token } else { Attempt::Password };
    if !admin.limits.allow(attempt) {
        return form_page(
            &admin,
            jar,
            StatusCode::TOO_MANY_REQUESTS,
            "signin.html",
            Some(TOO_MANY),
        );
    }
    let people = &admin.services.people;
    let outcome = match (token, password) {
        (Some(token), _) => people
            .profile(&token)
            .await
            .map(SignIn::Done)
            .map_err(|e| failure_text(&e, "this access token")),
        (None, Some(password)) if !email.is_empty() => people
            .sign_in(&email, &password)
            .await
            .map_err(|e| failure_text(&e, "this e-mail and password")),
        _ => Err("Enter your e-mail and password, or your access token.".to_owned()),
    };
    match outcome {
        Ok(SignIn::Done(person)) => admit(&admin, jar, person),
        Ok(SignIn::MfaRequired { mfa_token }) => {
            let jar = jar.add(cookie(
                MFA_COOKIE,
                mfa_token.expose().to_owned(),
                &admin.config.mount,
                secure(&admin),
                MFA_TTL,
            ));
            form_page(&admin, jar, StatusCode::OK, "mfa.html", None)
        }
        Err(text) => form_page(&admin, jar, StatusCode::UNAUTHORIZED, "signin.html", Some(&text)),
    }
}

/// `POST /sign-in/mfa`: the code for the MFA token kept in its private cookie.
pub(crate) async fn mfa(
    State(admin): State<Admin>,
    jar: PrivateCookieJar,
    Form(form): Fields,
) -> Response {
    if !pre_csrf_ok(&jar, &form) {
        return form_page(
            &admin,
            jar,
            StatusCode::FORBIDDEN,
            "signin.html",
            Some("The form expired. Please try again."),
        );
    }
    let Some(mfa_token) = jar.get(MFA_COOKIE).map(|c| Secret::new(c.value())) else {
        return form_page(
            &admin,
            jar,
            StatusCode::UNAUTHORIZED,
            "signin.html",
            Some("The two-factor step expired. Sign in again."),
        );
    };
    if !admin.limits.allow(Attempt::Mfa) {
        return form_page(&admin, jar, StatusCode::TOO_MANY_REQUESTS, "mfa.html", Some(TOO_MANY));
    }
    let code = form.get("code").map(|c| c.trim().to_owned()).unwrap_or_default();
    match admin.services.people.verify_mfa(&mfa_token, &code).await {
        Ok(person) => admit(&admin, jar.remove(removal(MFA_COOKIE, &admin.config.mount)), person),
        // 401: the MFA token expired (§1.5); 400: a wrong code.
        Err(e) if e.kind() == DeliveryErrorKind::Unauthorized => {
            let jar = jar.remove(removal(MFA_COOKIE, &admin.config.mount));
            form_page(
                &admin,
                jar,
                StatusCode::UNAUTHORIZED,
                "signin.html",
                Some("The two-factor step expired. Sign in again."),
            )
        }
        Err(e) if e.is_permanent() => form_page(
            &admin,
            jar,
            StatusCode::UNAUTHORIZED,
            "mfa.html",
            Some("That code is not right. Try the current one."),
        ),
        Err(e) => {
            let text = failure_text(&e, "this code");
            form_page(&admin, jar, StatusCode::UNAUTHORIZED, "mfa.html", Some(&text))
        }
    }
}

/// A session for `person` if they administer an allowed account and the operator allows
/// them; else a refusal.
fn admit(admin: &Admin, jar: PrivateCookieJar, person: Person) -> Response {
    let config = &admin.config;
    let email_ok = config.allowed_emails.is_empty()
        || config.allowed_emails.iter().any(|e| e.trim().eq_ignore_ascii_case(person.email.trim()));
    let accounts: Vec<_> = person
        .accounts
        .iter()
        .filter(|a| a.is_administrator())
        .filter(|a| config.allowed_accounts.is_empty() || config.allowed_accounts.contains(&a.id))
        .cloned()
        .collect();
    if !email_ok || accounts.is_empty() {
        tracing::info!(
            user = person.id,
            "admin sign-in refused: not an administrator of an allowed account"
        );
        let text = "You can connect channels only into Chatwoot accounts you administer and this bridge serves. Ask an administrator of your account.";
        return (jar, refused(admin, None, text)).into_response();
    }
    tracing::info!(user = person.id, accounts = accounts.len(), "admin signed in");
    let id = admin.sessions.open(person, accounts, config.session_ttl);
    let jar = jar.remove(removal(PRE_COOKIE, &config.mount)).add(cookie(
        SESSION_COOKIE,
        id,
        &config.mount,
        secure(admin),
        config.session_ttl,
    ));
    (jar, Redirect::to(&config.mount)).into_response()
}

/// `POST /sign-out`.
pub(crate) async fn sign_out(
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
    admin.sessions.close(&id);
    (
        jar.remove(removal(SESSION_COOKIE, &admin.config.mount)),
        Redirect::to(&format!("{}/sign-in", admin.config.mount)),
    )
        .into_response()
}
