//! [`RouteRefresh`]: how the engine asks whoever builds its routes to look again, when a
//! platform delivers events for an account it does not route.
//!
//! Routes change while the bridge runs ([`Bridge::replace_routes`](super::Bridge::replace_routes)),
//! typically from a store several processes write to and each polls. Between a business
//! connecting an account (another process, another replica) and this process's next poll,
//! the platform may already deliver that account's first message: without a refresh it
//! would be skipped as unrouted and answered 200, so never delivered again. With one, the
//! delivery waits for one look at the store and is routed.

use async_trait::async_trait;

/// Brings the bridge's routes up to date on request.
///
/// # Contract
/// `refresh` returns once the routes reflect every account connected before it was called
/// (replacing them through [`Bridge::replace_routes`](super::Bridge::replace_routes)), and
/// says whether they changed. It is called only for authenticated deliveries naming an
/// account the routes lack, so it may cost a query; it must not call back into the
/// bridge's ingestion. A refresh that fails returns `false`: the events stay unrouted, as
/// without a refresher.
#[async_trait]
pub trait RouteRefresh: Send + Sync + 'static {
    /// Looks for route changes now; whether the routes changed.
    async fn refresh(&self) -> bool;
}
