//! Chatwoot's refusal bodies.

use serde::Deserialize;
use serde_json::Value;

/// The body of a refusal, as Chatwoot's controllers render them:
/// - a failed validation answers 422 `{"message": "Identifier has already been taken, …",
///   "attributes": ["identifier", …]}` (`render_record_invalid` in
///   `request_exception_handler.rb`): `message` joins the record's full error messages
///   with ", ";
/// - a failure while creating answers 422 `{"error": "<the exception's message>"}`
///   (`render_could_not_create_error`; `chatwoot-signin-and-sweep.md` §6.1), an
///   `ActiveRecord::RecordInvalid` reading "Validation failed: " and the same messages;
/// - a refused token answers 401 `{"error": "…"}` (agent-bot tokens: "Access to this
///   endpoint is not authorized for bots", `chatwoot-api.md`).
///
/// Fields are kept as JSON so a refusal of any shape still reads (and still shows).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Refusal {
    message: Option<Value>,
    error: Option<Value>,
    errors: Option<Value>,
}

/// Rails' `RecordInvalid` message prefix.
const VALIDATION_FAILED: &str = "Validation failed: ";

impl Refusal {
    /// Reads a refusal body; a body of another shape reads as a refusal saying nothing.
    pub(crate) fn read(body: &[u8]) -> Refusal {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// Whether the refusal says the value of `attribute` (its human name, as Rails'
    /// `full_messages` spell it: `Identifier`, `Source`) is already taken.
    pub(crate) fn taken(&self, attribute: &str) -> bool {
        let Some(message) = self.message.as_ref().and_then(Value::as_str) else { return false };
        let wanted = format!("{attribute} has already been taken");
        message.split(", ").any(|m| m == wanted)
    }

    /// Whether this is Chatwoot's flood guard: "Too many messages", a validation of
    /// `app/models/message.rb` (200 messages a minute in one conversation).
    pub(crate) fn flood_guard(&self) -> bool {
        let validation = |text: &str| text.split(", ").any(|m| m == "Too many messages");
        let error = self.error.as_ref().and_then(Value::as_str);
        error.and_then(|e| e.strip_prefix(VALIDATION_FAILED)).is_some_and(validation)
            || self.message.as_ref().and_then(Value::as_str).is_some_and(validation)
    }

    /// Whether Chatwoot refused an agent-bot token on an endpoint bots may not call.
    pub(crate) fn bot_token(&self) -> bool {
        self.error.as_ref().and_then(Value::as_str)
            == Some("Access to this endpoint is not authorized for bots")
    }

    /// What the refusal says, for the error's message: `message`, else `error`, else
    /// `errors` (as JSON when not a string), at most 200 characters.
    pub(crate) fn summary(&self) -> Option<String> {
        let said = [&self.message, &self.error, &self.errors].into_iter().flatten().next()?;
        let text = match said {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        Some(text.chars().take(200).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(body: &str) -> Refusal {
        Refusal::read(body.as_bytes())
    }

    #[test]
    fn taken_is_read_from_the_message_field() {
        assert!(read(r#"{"message":"Source has already been taken"}"#).taken("Source"));
        let both = read(
            r#"{"message":"Email is invalid, Identifier has already been taken","attributes":["email","identifier"]}"#,
        );
        assert!(both.taken("Identifier"));
        assert!(!both.taken("Source"));
        // The words anywhere else do not count.
        assert!(!read(r#"{"error":"Source has already been taken"}"#).taken("Source"));
        assert!(!read("Source has already been taken").taken("Source"));
        assert!(!read(r#"{"message":"Name Source has already been taken x"}"#).taken("Source"));
        // A field of another type than Chatwoot's is no refusal of this kind, and no panic.
        assert!(!read(r#"{"message":["Source has already been taken"]}"#).taken("Source"));
    }

    #[test]
    fn a_bot_token_is_read_from_the_error_field() {
        assert!(
            read(r#"{"error":"Access to this endpoint is not authorized for bots"}"#).bot_token()
        );
        assert!(!read(r#"{"error":"Invalid Access Token"}"#).bot_token());
        assert!(!read("Access to this endpoint is not authorized for bots").bot_token());
    }

    #[test]
    fn the_summary_is_the_first_field_chatwoot_set() {
        assert_eq!(read(r#"{"error":"e","errors":["x"]}"#).summary().as_deref(), Some("e"));
        assert_eq!(read(r#"{"errors":["x","y"]}"#).summary().as_deref(), Some(r#"["x","y"]"#));
        assert_eq!(read("<html>").summary(), None);
        assert_eq!(
            read(&format!(r#"{{"message":"{}"}}"#, "a".repeat(300))).summary().unwrap().len(),
            200
        );
    }
}
