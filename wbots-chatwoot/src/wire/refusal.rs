//! Chatwoot's refusal bodies.

use serde::Deserialize;

/// The body of a refusal. A failed validation answers 422
/// `{"message": "Identifier has already been taken, …", "attributes": ["identifier", …]}`
/// (`render_record_invalid` in Chatwoot's `request_exception_handler.rb`): `message` joins
/// the record's full error messages with ", ".
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct Refusal {
    message: Option<String>,
}

impl Refusal {
    /// Reads a refusal body; a body of another shape reads as a refusal saying nothing.
    pub(crate) fn read(body: &[u8]) -> Refusal {
        serde_json::from_slice(body).unwrap_or_default()
    }

    /// Whether the refusal says the value of `attribute` (its human name, as Rails'
    /// `full_messages` spell it: `Identifier`, `Source`) is already taken.
    pub(crate) fn taken(&self, attribute: &str) -> bool {
        let Some(message) = &self.message else { return false };
        let wanted = format!("{attribute} has already been taken");
        message.split(", ").any(|m| m == wanted)
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
    }
}
