//! The engine with the Meta channel against the FakeGraph (and the recording inbox): the
//! channel flag (token refused, policy block) and how a new token clears it; handover notes;
//! a removed reaction that does not reopen the window; Instagram files through the Page;
//! size limits before anything is sent; a postback's referral.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::json;
use wbots_core::store::{JobState, MemoryStore, Store};
use wbots_core::testkit::{OwnedRequest, RecordingInbox, StoredMessage};
use wbots_core::{
    AgentAttachment, AgentEnvelope, AgentEvent, AttachmentKind, Backoff, Binding, Bridge,
    ChannelAddress, ChannelKind, DeliveryStatus, EngineConfig, InboxId, MessageChange,
    ReopenPolicy, Secret,
};
use wbots_fakes::meta::{FakeGraph, payload};
use wbots_meta::{Login, MetaAccount, MetaChannel, MetaConfig, sign_body};

const APP_SECRET: &str = "app-secret";

fn messenger() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::Messenger, "PAGE1")
}

fn instagram() -> ChannelAddress {
    ChannelAddress::new(ChannelKind::Instagram, "IG2")
}

fn inbox_id() -> InboxId {
    InboxId::new("7")
}

struct Rig {
    bridge: Bridge,
    inbox: Arc<RecordingInbox>,
    store: Arc<dyn Store>,
}

/// A bridge over `store` and `inbox` whose Page token is `token`.
fn rig(graph: &FakeGraph, token: &str, store: Arc<dyn Store>, inbox: Arc<RecordingInbox>) -> Rig {
    let config = MetaConfig::new(Secret::new(APP_SECRET), Secret::new("verify"))
        .with_graph_urls(graph.url().clone());
    let channel = MetaChannel::builder(config)
        .account(MetaAccount::messenger("PAGE1", Secret::new(token)))
        .account(
            MetaAccount::instagram("IG2", Secret::new("page-token-2"), Login::Facebook)
                .with_page_id(Some("PAGE2".into())),
        )
        .build()
        .unwrap();
    let engine = EngineConfig::default()
        .with_max_attempts(3)
        .with_own_app_id("1517776481860111")
        .with_backoff(Backoff { base: Duration::from_millis(1), max: Duration::from_millis(5) });
    let mut builder = Bridge::builder(store.clone(), inbox.clone())
        .with_channel(Arc::new(channel))
        .with_config(engine);
    for address in [messenger(), instagram()] {
        builder = builder.with_binding(Binding {
            address,
            inbox: inbox_id(),
            reopen: ReopenPolicy::Reopen,
        });
    }
    Rig { bridge: builder.build().unwrap(), inbox, store }
}

async fn start() -> (FakeGraph, Rig) {
    let graph = FakeGraph::start().await.unwrap();
    graph.add_page("PAGE1", "page-token", None);
    graph.add_page("PAGE2", "page-token-2", Some("IG2"));
    graph.add_instagram_user("IGSID1");
    let r =
        rig(&graph, "page-token", Arc::new(MemoryStore::new()), Arc::new(RecordingInbox::new()));
    (graph, r)
}

impl Rig {
    /// Delivers a webhook body as Meta would (signed) and runs the jobs it made.
    async fn meta(&self, body: String) {
        let req = OwnedRequest::post(body.clone().into_bytes())
            .header("x-hub-signature-256", &sign_body(&Secret::new(APP_SECRET), body.as_bytes()));
        self.bridge.ingest_channel("meta", &req.as_raw()).await.unwrap();
        self.bridge.run_until_idle().await;
    }

    async fn customer_writes(
        &self,
        address: &ChannelAddress,
        customer: &str,
        mid: &str,
        at_ms: i64,
    ) {
        let object = if address.kind == ChannelKind::Instagram { "instagram" } else { "page" };
        self.meta(payload::text(object, address.account.as_str(), customer, mid, "hello", at_ms))
            .await;
    }

    /// An agent writes into the customer's conversation; returns the message id.
    async fn agent_writes(
        &self,
        address: &ChannelAddress,
        customer: &str,
        text: &str,
        files: Vec<AgentAttachment>,
    ) -> String {
        let conversation = self.inbox.conversation_of(address, customer).unwrap();
        let mut envelope = self.inbox.agent_message(&inbox_id(), &conversation, text);
        let AgentEvent::Message(m) = &mut envelope.event else { unreachable!() };
        m.attachments = files;
        let id = m.id.to_string();
        self.bridge.ingest_inbox(&self.inbox.request(&[envelope]).as_raw()).await.unwrap();
        self.bridge.run_until_idle().await;
        id
    }

    fn message(&self, id: &str) -> StoredMessage {
        self.inbox.messages().into_iter().find(|m| m.id.as_str() == id).unwrap()
    }

    fn notes(&self) -> Vec<String> {
        self.inbox
            .messages()
            .into_iter()
            .filter(|m| m.direction.is_none())
            .filter_map(|m| m.text)
            .collect()
    }
}

fn failure(m: &StoredMessage) -> Option<String> {
    m.changes.iter().rev().find_map(|c| match c {
        MessageChange::Status { status: DeliveryStatus::Failed, error } => error.clone(),
        _ => None,
    })
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn texts(graph: &FakeGraph) -> Vec<String> {
    graph.sent().into_iter().filter_map(|s| s.text).collect()
}

#[tokio::test]
async fn a_refused_token_flags_the_channel_until_a_new_token_and_a_retry() {
    let (graph, r) = start().await;
    r.customer_writes(&messenger(), "PSID1", "m_1", now_ms()).await;
    graph.revoke_token("page-token");

    let first = r.agent_writes(&messenger(), "PSID1", "one", Vec::new()).await;
    assert!(failure(&r.message(&first)).unwrap().contains("access token"));
    let flag = r.bridge.channel_flag(&messenger()).await.unwrap().expect("flagged");
    assert!(flag.contains("access token"), "{flag}");
    assert_eq!(r.notes().len(), 1, "agents are told once: {:?}", r.notes());

    // Flagged: the next message fails at once, without calling Meta, with the reason.
    let calls = graph.calls();
    let second = r.agent_writes(&messenger(), "PSID1", "two", Vec::new()).await;
    let shown = failure(&r.message(&second)).unwrap();
    assert!(shown.starts_with("reconnect required: "), "{shown}");
    assert_eq!(graph.calls(), calls, "no call to Meta");
    assert_eq!(r.notes().len(), 1, "no second note");
    // Nor for typing indicators.
    let typing = AgentEnvelope {
        inbox: inbox_id(),
        event: AgentEvent::Typing {
            conversation: r.inbox.conversation_of(&messenger(), "PSID1").unwrap(),
            on: true,
        },
        contact_thread: None,
    };
    r.bridge.ingest_inbox(&r.inbox.request(&[typing]).as_raw()).await.unwrap();
    r.bridge.run_until_idle().await;
    assert_eq!(graph.calls(), calls, "no typing call to Meta");
    // The other channel is not affected.
    assert!(r.bridge.channel_flag(&instagram()).await.unwrap().is_none());

    // A new token in the configuration (a restart on the same store) clears the flag, and
    // retrying the dead letters (`wbots jobs retry --all`) sends both, once.
    graph.add_page("PAGE1", "new-page-token", None);
    let r = rig(&graph, "new-page-token", r.store.clone(), r.inbox.clone());
    r.bridge.refresh_channel_flags().await;
    assert!(r.bridge.channel_flag(&messenger()).await.unwrap().is_none());
    let dead = r.store.jobs(JobState::Dead, 100).await.unwrap();
    assert_eq!(dead.len(), 2);
    for job in dead {
        r.store.requeue(job.id, Utc::now()).await.unwrap();
    }
    r.bridge.run_until_idle().await;
    assert_eq!(texts(&graph), vec!["one", "two"]);
    for id in [&first, &second] {
        let last = r.message(id).changes.last().cloned();
        assert_eq!(last, Some(MessageChange::Status { status: DeliveryStatus::Sent, error: None }));
    }
}

#[tokio::test]
async fn a_policy_block_flags_the_channel_and_an_unblock_lifts_it() {
    let (graph, r) = start().await;
    r.customer_writes(&messenger(), "PSID1", "m_1", now_ms()).await;
    let policy = |action: &str| {
        let item = json!({"recipient": {"id": "PAGE1"}, "timestamp": now_ms(),
            "policy_enforcement": {"action": action, "reason": "The bot violated our Platform Policies"}});
        payload::body("page", &[("PAGE1", vec![item])])
    };
    r.meta(policy("block")).await;
    let flag = r.bridge.channel_flag(&messenger()).await.unwrap().expect("flagged");
    assert!(flag.contains("policy violation (The bot violated our Platform Policies)"), "{flag}");

    let calls = graph.calls();
    let id = r.agent_writes(&messenger(), "PSID1", "blocked?", Vec::new()).await;
    let shown = failure(&r.message(&id)).unwrap();
    assert!(shown.starts_with("reconnect required: the platform blocked the account"), "{shown}");
    assert_eq!(graph.calls(), calls);

    r.meta(policy("unblock")).await;
    assert!(r.bridge.channel_flag(&messenger()).await.unwrap().is_none());
    r.agent_writes(&messenger(), "PSID1", "unblocked", Vec::new()).await;
    assert_eq!(texts(&graph), vec!["unblocked"]);
}

#[tokio::test]
async fn another_app_taking_the_conversation_is_shown_as_a_note() {
    let (_graph, r) = start().await;
    r.customer_writes(&messenger(), "PSID1", "m_1", now_ms()).await;
    let item = payload::customer_item(
        "PAGE1",
        "PSID1",
        now_ms(),
        "pass_thread_control",
        json!({"previous_owner_app_id": "1517776481860111", "new_owner_app_id": 263902037430900u64, "metadata": "to the bot"}),
    );
    r.meta(payload::body("page", &[("PAGE1", vec![item])])).await;
    let notes = r.notes();
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].starts_with("Another app (263902037430900) now holds this conversation"));
    // Standby messages (the other app holds the thread) still reach the inbox.
    let standby = json!({"object": "page", "entry": [{"id": "PAGE1", "time": now_ms(), "standby": [
        {"sender": {"id": "PSID1"}, "recipient": {"id": "PAGE1"}, "timestamp": now_ms(), "message": {"mid": "m_sb", "text": "to the bot"}}]}]});
    r.meta(standby.to_string()).await;
    assert!(r.inbox.messages().iter().any(|m| m.text.as_deref() == Some("to the bot")));
}

#[tokio::test]
async fn removing_a_reaction_does_not_reopen_the_window() {
    let (graph, r) = start().await;
    let day_and_a_half = 36 * 3600 * 1000;
    r.customer_writes(&messenger(), "PSID1", "m_old", now_ms() - day_and_a_half).await;
    r.meta(payload::reaction("page", "PAGE1", "PSID1", "m_old", None, "unreact", now_ms())).await;
    let id = r.agent_writes(&messenger(), "PSID1", "too late", Vec::new()).await;
    assert!(failure(&r.message(&id)).unwrap().contains("24 hours"));
    assert!(graph.sent().is_empty());
    // Reacting does (Meta lists it among the actions that open the window, S17).
    r.meta(payload::reaction("page", "PAGE1", "PSID1", "m_old", Some("❤️"), "react", now_ms()))
        .await;
    r.agent_writes(&messenger(), "PSID1", "thanks for the heart", Vec::new()).await;
    assert_eq!(texts(&graph), vec!["thanks for the heart"]);
}

#[tokio::test]
async fn instagram_files_go_through_the_page_and_big_ones_fail_before_sending() {
    let (graph, r) = start().await;
    r.customer_writes(&instagram(), "IGSID1", "m_ig", now_ms()).await;
    let photo = graph.host_media("photo.jpg", "image/jpeg", vec![1; 2048]);
    let file = |size: u64| AgentAttachment {
        kind: AttachmentKind::Image,
        url: photo.clone(),
        file_name: Some("photo.jpg".into()),
        size: Some(size),
    };
    r.agent_writes(&instagram(), "IGSID1", "here it is", vec![file(2048)]).await;
    let uploads = graph.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].platform.as_deref(), Some("instagram"));
    assert_eq!(uploads[0].url.as_deref(), Some(photo.as_str()), "Meta fetched the inbox's URL");
    let sent = graph.sent();
    assert_eq!(sent.len(), 2, "the text, then the file");
    assert_eq!(sent[1].attachment_id.as_deref(), Some(uploads[0].attachment_id.as_str()));
    assert!(sent.iter().all(|s| s.upload.is_none() && s.metadata.is_none()));

    // Over Meta's 8 MB for images: failed with the reason, nothing sent, not even the text.
    let id = r.agent_writes(&instagram(), "IGSID1", "and a big one", vec![file(9 << 20)]).await;
    assert_eq!(
        failure(&r.message(&id)).as_deref(),
        Some("photo.jpg is 9.0 MB; the platform takes images of at most 8.0 MB")
    );
    assert_eq!(graph.sent().len(), 2);
}

#[tokio::test]
async fn a_postbacks_referral_is_kept() {
    let (_graph, r) = start().await;
    let item = payload::customer_item(
        "PAGE1",
        "PSID1",
        now_ms(),
        "postback",
        json!({"mid": "m_pb", "title": "Get Started", "payload": "START",
            "referral": {"ref": "spring-sale", "source": "SHORTLINK", "type": "OPEN_THREAD"}}),
    );
    r.meta(payload::body("page", &[("PAGE1", vec![item])])).await;
    let texts: Vec<String> = r.inbox.messages().into_iter().filter_map(|m| m.text).collect();
    assert!(
        texts.iter().any(|t| t.contains("[arrived via SHORTLINK, ref spring-sale]")),
        "{texts:?}"
    );
    assert!(texts.iter().any(|t| t.contains("[button] Get Started")), "{texts:?}");
}
