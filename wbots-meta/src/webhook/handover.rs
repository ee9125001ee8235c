//! The notes agents see when a conversation changes hands (Messenger handover protocol,
//! meta-platform.md §2.9, S13).

use crate::wire::Handover;

/// The note for `event` (`pass_thread_control`, `take_thread_control` or
/// `request_thread_control`), knowing the bridge's own app id.
pub(super) fn note(event: &str, h: &Handover, app_id: Option<&str>) -> String {
    if event == "request_thread_control" {
        let who = h.requested_owner_app_id.cloned().unwrap_or_else(|| "?".to_owned());
        return format!("Another app ({who}) asks to take over this conversation.");
    }
    let new_owner = h.new_owner_app_id.cloned();
    if new_owner.is_some() && new_owner.as_deref() == app_id {
        return "This conversation was handed back to the bridge: replies from here reach the customer again.".to_owned();
    }
    let who = match new_owner {
        Some(id) => format!("Another app ({id})"),
        None => "Another app".to_owned(),
    };
    format!(
        "{who} now holds this conversation (Messenger handover): the customer's messages still show here, but replies sent from here may fail until it hands the conversation back."
    )
}
