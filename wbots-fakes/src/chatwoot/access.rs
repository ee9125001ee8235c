//! Which endpoints an agent bot's token may call: Chatwoot's `BOT_ACCESSIBLE_ENDPOINTS`
//! (`app/controllers/concerns/access_token_auth_helper.rb:2-7,30-39`). Everything else
//! answers 401 "Access to this endpoint is not authorized for bots" — contacts, message
//! lists and updates, inboxes, the profile — so a bot token cannot run a bridge.

use axum::http::Method;

/// Whether a bot token may call `method path` (`/api/v1/accounts/{id}/…`).
pub(super) fn bot_may(method: &Method, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/v1/accounts/") else { return false };
    let parts: Vec<&str> = rest.split('/').skip(1).collect();
    match (method, parts.as_slice()) {
        // conversations#create, show, update
        (&Method::POST, ["conversations"]) => true,
        (&Method::GET, ["conversations", _]) => true,
        (&Method::PATCH | &Method::PUT, ["conversations", _]) => true,
        // toggle_status, toggle_typing_status, toggle_priority, custom_attributes
        (
            &Method::POST,
            [
                "conversations",
                _,
                "toggle_status" | "toggle_typing_status" | "toggle_priority" | "custom_attributes",
            ],
        ) => true,
        // conversations/messages#create (not index, update, destroy, retry)
        (&Method::POST, ["conversations", _, "messages"]) => true,
        // conversations/assignments#create
        (&Method::POST, ["conversations", _, "assignments"]) => true,
        // conversations/labels#index, create
        (&Method::GET | &Method::POST, ["conversations", _, "labels"]) => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bots_get_only_their_short_list() {
        let p = |s: &str| format!("/api/v1/accounts/1/{s}");
        assert!(bot_may(&Method::POST, &p("conversations/9/messages")));
        assert!(bot_may(&Method::GET, &p("conversations/9")));
        assert!(!bot_may(&Method::GET, &p("conversations/9/messages")));
        assert!(!bot_may(&Method::PATCH, &p("conversations/9/messages/3")));
        assert!(!bot_may(&Method::GET, &p("inboxes")));
        assert!(!bot_may(&Method::POST, &p("contacts")));
        assert!(!bot_may(&Method::POST, &p("contacts/filter")));
        assert!(!bot_may(&Method::GET, &p("conversations")));
        assert!(!bot_may(&Method::GET, "/api/v1/profile"));
    }
}
