//! The conformance test kit (feature `testkit`): the checks wbots runs on its own stores
//! and adapters, public so integrators run exactly the same ones on theirs; recording
//! doubles for engine tests.
//!
//! - [`channel_suite`] with [`ChannelHarness`] and [`crate::channel_conformance_tests!`]:
//!   a channel against a [`FakePlatform`] the harness owns;
//! - [`inbox_suite`] with [`InboxHarness`] and [`crate::inbox_conformance_tests!`];
//! - [`store_suite`] with `store_conformance_tests!`;
//! - [`privacy_store_suite`] with `privacy_store_conformance_tests!`.
//!
//! Each check passes, is skipped with its reason ([`CheckOutcome::Skipped`]), or fails
//! with a [`CheckFailure`] naming the check, the input and what was expected. The macros
//! expand to plain `#[test]` functions that start their own runtime.

pub mod channel_store_suite;
pub mod channel_suite;
mod check;
mod credentials;
mod doubles;
mod fake_platform;
mod faults;
pub mod inbox_suite;
#[cfg(feature = "postgres")]
mod postgres;
pub mod privacy_store_suite;
mod request;
pub mod store_suite;
mod switchable_store;

pub use channel_suite::{ChannelHarness, PlatformAnswers, PlatformFake, Signer};
#[doc(hidden)]
pub use check::{__block_on, __finish};
pub use check::{CheckFailure, CheckOutcome, CheckResult};
pub use doubles::{
    RecordingChannel, RecordingInbox, SIGNATURE_HEADER, StoredMessage, test_signature,
};
pub use fake_platform::{FakeAnswer, FakePlatform, ReceivedRequest};
pub use faults::{Fault, Faults};
pub use inbox_suite::InboxHarness;
#[cfg(feature = "postgres")]
pub use postgres::{fresh_postgres, fresh_postgres_database};
pub use request::OwnedRequest;
pub use switchable_store::SwitchableStore;
