//! What Meta's webhook bodies and Graph error documents look like: typed, tolerant shapes
//! (meta-platform.md §2, §3.6). No policy lives here: what the bridge makes of them is in
//! [`crate::webhook`] and [`crate::errors`].
//!
//! Every shape reads any JSON: unknown fields are ignored, a value of another type than
//! expected reads as absent (see [`lenient`]), so a new field or a new kind from Meta never
//! turns a delivery into an error.

mod delivery;
mod events;
mod graph_error;
mod item;
mod lenient;
mod message;
mod tokens;

pub(crate) use delivery::Delivery;
pub(crate) use events::{Handover, PolicyEnforcement};
pub(crate) use graph_error::ErrorDocument;
pub(crate) use item::{Event, Item};
pub(crate) use message::{Attachment, Message, Postback, Referral};
pub(crate) use tokens::{DebugTokenAnswer, RefreshAnswer};
