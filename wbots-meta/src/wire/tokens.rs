//! The answers of the token endpoints a connection's lifecycle uses (meta-login.md §1.5,
//! §5.5): typed and tolerant like every shape here — unknown keys ignored (a refresh may
//! carry `permissions`, C14), a value of another type read as absent.

use serde::Deserialize;

use super::lenient::{Flag, Int, Obj, Text};

/// `GET graph.instagram.com/refresh_access_token` →
/// `{"access_token","token_type":"bearer","expires_in":5183944}` (§5.5, S21).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct RefreshAnswer {
    pub(crate) access_token: Text,
    pub(crate) expires_in: Int,
}

/// `GET /debug_token` → `{"data": {…}}` (§1.5, S4).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct DebugTokenAnswer {
    pub(crate) data: Obj<TokenData>,
}

/// `debug_token`'s `data` (§1.5): the fields the bridge reads.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TokenData {
    pub(crate) is_valid: Flag,
    /// Seconds since the epoch; absent (or `0`) for a token without an expiry date — a
    /// Page token from a long-lived user token (§1.7, §3.5).
    pub(crate) expires_at: Int,
    pub(crate) app_id: Text,
    pub(crate) error: Obj<TokenDataError>,
}

/// `data.error` of a token Meta no longer honours, when it says why: the Graph error's
/// `code`/`subcode`/`message` (S4's field list; meta-login.md's sample shows a valid token
/// only, so it is read when present and not relied upon).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub(crate) struct TokenDataError {
    pub(crate) code: Int,
    pub(crate) subcode: Int,
    pub(crate) message: Text,
}
