//! The conformance test kit (feature `testkit`): the checks wbots runs on its own stores
//! and adapters, public so integrators run exactly the same ones on theirs; recording
//! doubles for engine tests.

mod doubles;
mod faults;
mod request;
mod switchable_store;

pub use doubles::{RecordingChannel, RecordingInbox, SIGNATURE_HEADER, StoredMessage};
pub use faults::{Fault, Faults};
pub use request::OwnedRequest;
pub use switchable_store::SwitchableStore;
