//! Test support for the wbots workspace: the services some tests need, with no set-up.
//!
//! `cargo test --workspace --all-features` must pass on a fresh clone with nothing set. Tests
//! that need a service ask this crate for it:
//!
//! - [`postgres_url`] — a PostgreSQL server: the one named by `WBOTS_TEST_POSTGRES_URL`, or
//!   else a throwaway server this crate starts itself from the PostgreSQL binaries on the
//!   machine (once per test binary, on a free loopback port, in a temporary directory that is
//!   removed when the test binary exits);
//! - [`chromedriver`] — a headless Chromium behind chromedriver (Debian's `chromium` and
//!   `chromium-driver`), for the connect page's browser test;
//!
//! When a service cannot be had (nothing installed), the test is skipped: the function returns
//! `None` and prints one line saying how to run it. Under CI (`CI=true`) a missing service
//! fails the test instead, so a broken CI set-up can never pass by skipping. Every service added
//! here follows the same rule.
//!
//! This is a test-only crate (`publish = false`): unlike the library crates, it reads the
//! environment and starts processes, which is its whole job.
//!
//! ```no_run
//! # async fn a_test() {
//! let Some(url) = wbots_test_services::postgres_url() else { return };
//! // … connect to `url` (a user that may CREATE DATABASE) …
//! # }
//! ```

mod browser;
mod need;
mod postgres;
mod programs;

pub use browser::{Chromedriver, chromedriver};
pub use postgres::postgres_url;
