//! What Meta's webhook bodies look like: typed, tolerant shapes (meta-platform.md §2). No
//! policy lives here: what the bridge makes of them is in [`crate::webhook`].
//!
//! Every shape reads any JSON: unknown fields are ignored, a value of another type than
//! expected reads as absent (see [`lenient`]), so a new field or a new kind from Meta never
//! turns a delivery into an error.

mod delivery;
mod events;
mod item;
mod lenient;
mod message;

pub(crate) use delivery::Delivery;
pub(crate) use events::{Handover, PolicyEnforcement};
pub(crate) use item::{Event, Item};
pub(crate) use message::{Attachment, Message, Postback, Referral};
