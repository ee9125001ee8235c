//! Echoes: the platform's copies of messages the business account sent. The bridge's own
//! sends are recognised and dropped (recording a part a crashed worker sent); messages sent
//! from elsewhere (Meta Business Suite, the Instagram app) are shown to the team as
//! outgoing.

use tracing::debug;

use super::Inbound;
use super::posting::{Post, posted};
use super::render::Incoming;
use crate::engine::job::JobError;
use crate::engine::links::user_scope;
use crate::engine::outbound::marker::Marker;
use crate::event::EchoMessage;
use crate::ids::ChannelAddress;
use crate::inbox::Direction;
use crate::store::{Link, LinkKey, LinkWrite};

impl Inbound<'_> {
    pub(super) async fn echo(&self, e: EchoMessage) -> Result<Vec<LinkWrite>, JobError> {
        let address = self.address;
        if self.links().platform_message(address, &e.id).await?.is_some() {
            debug!(mid = %e.id, "echo of a message the bridge sent or posted; dropped");
            return Ok(Vec::new());
        }
        // Recognises the echo of a part the bridge sent by the marker it set, and records the
        // part if the worker that sent it died before recording it — so a retry of that job
        // resumes after the part instead of sending it twice.
        if let Some(part) = own_echo_part(address, &e) {
            debug!(mid = %e.id, "echo of the bridge's own send (by marker); dropped");
            return Ok(vec![LinkWrite::Insert(part)]);
        }
        if e.app_id.is_some() && e.app_id == self.cx.config.own_app_id {
            debug!(mid = %e.id, "echo of the bridge's own app; dropped");
            return Ok(Vec::new());
        }
        // Sent from elsewhere (Meta Business Suite, the Instagram app): show it to the team.
        let route = self.route()?;
        let incoming = Incoming {
            text: e.text.as_deref(),
            attachments: &e.attachments,
            sent_at: e.sent_at,
            context: None,
            reply_to: None,
        };
        let rendered = self.render(route.channel.as_ref(), &incoming).await?;
        let (conversation, message) = self
            .post_once(Post {
                thread: &e.thread,
                id: &e.id,
                direction: Direction::Outgoing,
                sent_at: e.sent_at,
                rendered,
                reply_to: None,
            })
            .await?;
        let inbox = &route.binding.inbox;
        let mut writes =
            posted(address, inbox, &e.thread, &e.id, conversation, message, e.sent_at).to_vec();
        writes.extend(self.cx.activity.went_out(address, e.sent_at));
        Ok(writes)
    }
}

/// The record of the part an echo of the bridge's own send (by its marker) proves sent.
/// Also written at ingest: the echo's job queues behind the very send job that needs it.
pub(crate) fn own_echo_part(address: &ChannelAddress, e: &EchoMessage) -> Option<Link> {
    let marker = Marker::parse(e.metadata.as_deref()?)?;
    let scope = user_scope(address, e.thread.as_str());
    Some(
        Link::new(
            LinkKey::outbound_part(&marker.inbox, &marker.message, marker.part),
            e.id.as_str(),
        )
        .scoped(scope),
    )
}
