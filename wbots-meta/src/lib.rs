#![doc = include_str!("../README.md")]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

pub mod account_checks;
#[cfg(feature = "axum")]
pub mod callbacks;
mod channel;
mod config;
pub mod errors;
pub mod grants;
mod graph_call;
pub mod id_matching;
pub mod lifecycle;
pub mod login;
mod media;
mod platform;
mod proof;
pub mod rate_limit;
mod send_api;
mod signature;
pub mod signed_request;
pub mod subscriptions;
pub mod webhook;
mod wire;

pub use channel::{MetaChannel, MetaChannelBuilder};
pub use config::{Login, MetaAccount, MetaConfig};
pub use lifecycle::{MetaConnections, RefreshedToken, TokenState};
pub use login::{GrantedPage, InstagramAccount, LoginUrls, MetaLogin, UserToken};
pub use platform::{INSTAGRAM, MESSENGER, Platform};
pub use proof::appsecret_proof;
pub use signature::sign_body;
