//! Named endpoints over [wiremock] (feature `wiremock`), for the tests that check the exact
//! requests an adapter makes and how it reads each answer.
//!
//! A test says which endpoint, what the request must carry and what the far side answers,
//! in the far side's words; awaiting the [`Reply`] mounts it:
//!
//! ```no_run
//! # async fn demo(server: &wiremock::MockServer) {
//! use serde_json::json;
//! use wbots_fakes::wiremock::{ChatwootApi, GraphApi, accepted, retry_after};
//!
//! let graph = GraphApi::new(server);
//! graph.send("PAGE1").body(json!({"recipient": {"id": "PSID1"}})).answers(accepted("PSID1", "m_1")).once().await;
//! graph.send("PAGE2").answers(retry_after(429, 7)).await;
//! let chatwoot = ChatwootApi::new(server, 3);
//! chatwoot.create_conversation().json(200, json!({"id": 99, "status": "open"})).await;
//! # }
//! ```
//!
//! The stateful fakes ([`crate::meta`], [`crate::chatwoot`]) play whole conversations; these
//! helpers pin one request and one answer, and assert what was received on drop (`once`,
//! `times`, `never`), as wiremock does.

mod answers;
mod chatwoot;
mod graph;
mod route;

pub use answers::{file, json, redirect, retry_after, status, text};
pub use chatwoot::{ChatwootApi, refusal};
pub use graph::{GraphApi, accepted, action_accepted, graph_error};
pub use route::{Reply, Route};
