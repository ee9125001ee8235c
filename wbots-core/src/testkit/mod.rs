//! The conformance test kit (feature `testkit`): the checks wbots runs on its own stores
//! and adapters, public so integrators run exactly the same ones on theirs; recording
//! doubles for engine tests.

pub mod channel_suite;
mod doubles;
mod faults;
pub mod inbox_suite;
#[cfg(feature = "postgres")]
mod postgres;
mod request;
pub mod store_suite;
mod switchable_store;

pub use channel_suite::{ChannelHarness, Signer};
pub use doubles::{
    RecordingChannel, RecordingInbox, SIGNATURE_HEADER, StoredMessage, test_signature,
};
pub use faults::{Fault, Faults};
pub use inbox_suite::InboxHarness;
#[cfg(feature = "postgres")]
pub use postgres::{fresh_postgres, fresh_postgres_database};
pub use request::OwnedRequest;
pub use switchable_store::SwitchableStore;
