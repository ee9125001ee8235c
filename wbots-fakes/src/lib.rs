#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod chatwoot;
pub mod meta;
#[cfg(feature = "wiremock")]
pub mod wiremock;
