//! The typing job: an agent's typing indicator, shown to the customer while the window is
//! open. Worth nothing late: one attempt, never retried.

use tracing::info;

use super::plan::window;
use crate::agent::Author;
use crate::engine::context::Context;
use crate::engine::flags;
use crate::engine::job::{JobError, Target};
use crate::outbound::{OutboundPart, SendRequest, SenderAction};
use crate::store::LinkWrite;

pub(crate) async fn handle(
    cx: &Context,
    target: Target,
    on: bool,
) -> Result<Vec<LinkWrite>, JobError> {
    let Some(route) = cx.routes.get(&target.address) else { return Ok(Vec::new()) };
    let channel = route.channel.as_ref();
    let caps = channel.capabilities(&target.address);
    if !caps.sender_actions || flags::current(cx, &target.address).await?.is_some() {
        return Ok(Vec::new());
    }
    let last_inbound = cx.links().last_inbound(&target.address, &target.thread).await?;
    let Ok(window) = window(&caps, last_inbound, cx.now(), Author::Person) else {
        return Ok(Vec::new());
    };
    let action = if on { SenderAction::TypingOn } else { SenderAction::TypingOff };
    let request = SendRequest {
        address: target.address,
        thread: target.thread,
        part: OutboundPart::Action(action),
        window,
        reply_to: None,
        marker: None,
    };
    if let Err(e) = channel.send(&request).await {
        info!(error = %e, "typing indicator not sent");
    }
    Ok(Vec::new())
}
