//! What both logins' callbacks check before they touch a token: the person's session (its
//! rights confirmed with Chatwoot), the `state` this session waits for — once, of this
//! login, not expired — and an answer that carries a code rather than an error.

use std::collections::HashMap;

use axum::response::Response;
use axum_extra::extract::PrivateCookieJar;
use wbots_core::store::LoginKind;

use crate::Admin;
use crate::facebook::unavailable;
use crate::session::{Pending, Session};
use crate::signin::{confirmed_session, refused};

/// A callback that may go on to exchange its code.
pub(crate) struct Answer {
    /// The session's id.
    pub id: String,
    /// The signed-in person's session.
    pub session: Session,
    /// The round trip the `state` named.
    pub pending: Pending,
    /// The authorization code.
    pub code: String,
}

/// The callback's answer from `login`'s dialog, or the page that ends it.
pub(crate) async fn answer(
    admin: &Admin,
    jar: &PrivateCookieJar,
    q: &HashMap<String, String>,
    login: LoginKind,
) -> Result<Answer, Response> {
    let (id, s) = confirmed_session(admin, jar).await?;
    let name = match login {
        LoginKind::Facebook => "Facebook",
        LoginKind::Instagram => "Instagram",
    };
    let state = q.get("state").map(String::as_str).unwrap_or_default();
    let Some(pending) = admin.sessions.finish(&id, login, state) else {
        tracing::warn!(
            user = s.person.id,
            login = name,
            "login callback with a state this session does not wait for"
        );
        return Err(refused(
            admin,
            Some(&s),
            &format!(
                "This answer from {name} does not belong to a connection you started here, or was used already. Start again from your channels."
            ),
        ));
    };
    if q.contains_key("error") {
        return Err(unavailable(
            admin,
            &s,
            &format!("You cancelled in {name}'s dialog, or {name} refused. Nothing was connected."),
        ));
    }
    let Some(code) = q.get("code").filter(|c| !c.is_empty()).cloned() else {
        return Err(unavailable(
            admin,
            &s,
            &format!("{name} answered without a code. Start again."),
        ));
    };
    Ok(Answer { id, session: s, pending, code })
}
