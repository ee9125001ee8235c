//! What Chatwoot's Application API looks like: typed request and answer bodies and one
//! function per endpoint (`chatwoot-api.md`). No policy lives here: what the bridge does with
//! these calls is in [`crate::inbox`], [`crate::sweep`] and [`crate::setup`].
//!
//! Answers are read tolerantly: unknown fields are ignored, missing optional fields default,
//! and an id may come as a number or a string (Chatwoot's serializers differ by version).

pub(crate) mod contacts;
pub(crate) mod conversations;
mod id;
mod listing;
pub(crate) mod messages;
mod refusal;

pub(crate) use id::{WireId, numeric_id};
pub(crate) use listing::Listing;
pub(crate) use refusal::Refusal;
