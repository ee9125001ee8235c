//! The Graph API's error document: `{"error": {"message", "code", "error_subcode",
//! "is_transient", "fbtrace_id"}}` (meta-platform.md §3.6; S21, S22).

use serde::Deserialize;

use super::lenient::{Flag, Int, Keyed, Obj, Text};

/// A body that may carry Graph's error document.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorDocument {
    pub(crate) error: Keyed<Obj<ErrorFields>>,
}

/// `error`'s fields.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct ErrorFields {
    pub(crate) code: Int,
    pub(crate) error_subcode: Int,
    pub(crate) message: Text,
    pub(crate) is_transient: Flag,
    pub(crate) fbtrace_id: Text,
}
