#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod backlog;
pub mod fakes;
pub mod http;
pub mod journal;
pub mod load;
pub mod process;
pub mod relay;
pub mod report;
pub mod server_cpu;
pub mod tracker;
