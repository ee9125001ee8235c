#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod client;
mod config;
mod error;
mod inbox;
mod markdown;
mod media;
pub mod people;
mod records;
pub mod setup;
mod sweep;
mod transport;
mod webhook;
mod wire;

pub use client::Client;
pub use config::{ChatwootConfig, REQUEST_TIMEOUT, SIGNATURE_TOLERANCE};
pub use error::ChatwootFailures;
pub use inbox::{
    ChatwootInbox, ChatwootInboxBuilder, Clock, contact_identifier, contact_source_id,
    thread_of_identifier, thread_of_source_id,
};
pub use webhook::{MARKER, sign_webhook};
