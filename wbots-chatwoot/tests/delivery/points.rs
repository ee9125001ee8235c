//! One test per behaviour of issue #13's Chatwoot list, against the faithful fake.

use wbots_core::{MessagingWindow, OutboundPart, SenderAction};
use wbots_fakes::chatwoot::FakeAuthor;

use crate::rig::{Endpoint, hours_ago_ms, now_ms, start, start_with};

/// #1: the echo of the bridge's own `failed` mark sends nothing; only the agent's retry does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_of_our_failed_mark_sends_nothing_only_the_retry_does() {
    let rig = start().await;
    let conv = rig.customer_writes("alice", "m1", "hello?", hours_ago_ms(30)).await;
    let (reply, status) = rig.chatwoot.agent_reply(conv, "Sorry for the wait", Vec::new()).await;
    assert_eq!(status, Some(200));
    rig.settle().await;
    let m = rig.chatwoot.message(reply).unwrap();
    assert_eq!(m.status, "failed");
    assert!(m.external_error.as_deref().unwrap().contains("24 hours"), "{m:?}");
    // The mark came back as message_updated with the error: no retry was made of it.
    assert!(
        rig.job_keys().await.iter().all(|k| !k.contains("/retry/")),
        "{:?}",
        rig.job_keys().await
    );
    // The customer writes again; nothing is sent by itself.
    rig.customer_writes("alice", "m2", "still there?", now_ms()).await;
    assert!(rig.sent_texts().is_empty(), "{:?}", rig.sent_texts());
    // The agent presses retry: sent once, though Chatwoot sends two message_updated.
    rig.chatwoot.agent_retry(reply).await;
    rig.settle().await;
    assert_eq!(rig.sent_texts(), vec!["Sorry for the wait".to_owned()]);
    assert_eq!(rig.chatwoot.message(reply).unwrap().status, "sent");
}

/// #2: a retry of a message Chatwoot never handed over is sent, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_of_a_message_the_bridge_never_received_is_sent_once() {
    let rig = start().await;
    let conv = rig.customer_writes("bob", "m1", "hi", now_ms()).await;
    rig.set_endpoint(Endpoint::Unavailable);
    let (reply, status) = rig.chatwoot.agent_reply(conv, "Here is your code", Vec::new()).await;
    assert_eq!(status, Some(503));
    rig.settle().await;
    let m = rig.chatwoot.message(reply).unwrap();
    assert_eq!(
        (m.status.as_str(), m.external_error.as_deref()),
        ("failed", Some("503 Service Unavailable"))
    );
    rig.set_endpoint(Endpoint::Up);
    let (one, two) = rig.chatwoot.agent_retry(reply).await;
    assert_eq!((one, two), (Some(200), Some(200)));
    rig.settle().await;
    assert_eq!(rig.sent_texts(), vec!["Here is your code".to_owned()]);
    // Pressing retry again changes nothing for the customer.
    rig.chatwoot.agent_retry(reply).await;
    rig.settle().await;
    assert_eq!(rig.sent_texts().len(), 1);
}

/// #3: what Chatwoot could not deliver — bridge down, 503, slower than the timeout — is
/// found by the sweep, sent once, its status corrected; late webhooks and retries add nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_sends_what_chatwoot_could_not_deliver_once() {
    let rig = start().await;
    rig.chatwoot.set_webhook_timeout(std::time::Duration::from_millis(300));
    let conv = rig.customer_writes("carol", "m1", "hi", now_ms()).await;

    rig.bridge_down();
    let (down, _) = rig.chatwoot.agent_reply(conv, "written while down", Vec::new()).await;
    rig.bridge_up();
    rig.set_endpoint(Endpoint::Unavailable);
    let (unavailable, _) = rig.chatwoot.agent_reply(conv, "written during a 503", Vec::new()).await;
    rig.set_endpoint(Endpoint::Slow);
    let (slow, _) = rig.chatwoot.agent_reply(conv, "written while slow", Vec::new()).await;
    rig.set_endpoint(Endpoint::Up);
    let old = {
        rig.bridge_down();
        let (old, _) = rig.chatwoot.agent_reply(conv, "two days old", Vec::new()).await;
        rig.bridge_up();
        rig.chatwoot.backdate(old, 48 * 3600);
        old
    };
    let texts = |rig: &crate::rig::Rig| {
        let mut t = rig.sent_texts();
        t.sort();
        t
    };
    for id in [down, unavailable, slow, old] {
        let m = rig.chatwoot.message(id).unwrap();
        assert_eq!(m.status, "failed", "{m:?}");
    }
    assert!(
        rig.chatwoot
            .message(down)
            .unwrap()
            .external_error
            .unwrap()
            .starts_with("Failed to open TCP connection to 127.0.0.1:9")
    );
    assert!(
        rig.chatwoot.message(slow).unwrap().external_error.unwrap().starts_with("Net::ReadTimeout")
    );

    rig.sweep().await;
    assert_eq!(
        texts(&rig),
        vec!["written during a 503", "written while down", "written while slow"]
    );
    for id in [down, unavailable, slow] {
        assert_eq!(rig.chatwoot.message(id).unwrap().status, "sent", "{id}");
    }
    assert_eq!(rig.chatwoot.message(old).unwrap().status, "failed", "beyond the lookback");

    // A second sweep, an agent's retry and a repeated webhook send nothing more.
    rig.sweep().await;
    rig.chatwoot.agent_retry(down).await;
    rig.settle().await;
    assert_eq!(texts(&rig).len(), 3, "{:?}", texts(&rig));
}

/// #4: greetings, out-of-office and survey messages (`template`) reach the customer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn template_messages_reach_the_customer() {
    let rig = start().await;
    let conv = rig.customer_writes("dan", "m1", "hello", now_ms()).await;
    let survey = "Please rate the conversation: https://chatwoot.example/survey/responses/abc";
    rig.chatwoot.write(conv, FakeAuthor::Template, survey, Vec::new()).await;
    rig.settle().await;
    assert_eq!(rig.sent_texts(), vec![survey.to_owned()]);
}

/// #5: a conversation an agent opens for a known contact is routed through its contact
/// inbox; one the bridge cannot route is marked failed with a reason.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_opened_conversations_are_routed_or_marked_failed() {
    let rig = start().await;
    let first = rig.customer_writes("erin", "m1", "hello", now_ms()).await;
    let contact =
        rig.chatwoot.conversations().into_iter().find(|c| c.id == first).unwrap().contact_id;
    let opened = rig.chatwoot.agent_opens_conversation(contact, rig.inbox).unwrap();
    rig.chatwoot.agent_reply(opened, "A new topic", Vec::new()).await;
    rig.settle().await;
    let sent = rig.channel.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!((sent[0].thread.as_str(), sent[0].address.clone()), ("erin", crate::rig::page()));

    let stranger = rig.chatwoot.add_contact("Walk-in", rig.inbox, "9f1c0c5e-some-uuid");
    let nowhere = rig.chatwoot.agent_opens_conversation(stranger, rig.inbox).unwrap();
    let (id, _) = rig.chatwoot.agent_reply(nowhere, "Hello?", Vec::new()).await;
    rig.settle().await;
    let m = rig.chatwoot.message(id).unwrap();
    assert_eq!(m.status, "failed");
    assert!(m.external_error.unwrap().contains("has no Messenger identity known to the bridge"));
    assert_eq!(rig.channel.sent().len(), 1);
}

/// #6: typing in the private-note editor is not forwarded; typing a reply is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typing_a_private_note_is_not_forwarded() {
    let rig = start().await;
    let conv = rig.customer_writes("fay", "m1", "hello", now_ms()).await;
    assert_eq!(rig.chatwoot.agent_typing(conv, true, true).await, Some(200));
    rig.settle().await;
    assert!(rig.channel.sent().is_empty());
    rig.chatwoot.agent_typing(conv, true, false).await;
    rig.settle().await;
    let sent = rig.channel.sent();
    assert_eq!(sent.len(), 1);
    assert!(matches!(sent[0].part, OutboundPart::Action(SenderAction::TypingOn)));
}

/// #8: Markdown from Chatwoot's editor arrives as plain text; file names are decoded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markdown_becomes_plain_text_and_file_names_are_decoded() {
    let rig = start().await;
    let conv = rig.customer_writes("gus", "m1", "hello", now_ms()).await;
    rig.chatwoot
        .agent_reply(
            conv,
            "**Good news**: see [the tracking page](https://t.example/1).",
            vec![("résumé 2.pdf".into(), "application/pdf".into(), b"%PDF".to_vec())],
        )
        .await;
    rig.settle().await;
    assert_eq!(
        rig.sent_texts(),
        vec!["Good news: see the tracking page (https://t.example/1).".to_owned()]
    );
    let file = rig.channel.sent().into_iter().find_map(|s| match s.part {
        OutboundPart::Media(m) => Some(m.file_name),
        _ => None,
    });
    assert_eq!(file.as_deref(), Some("résumé 2.pdf"));
}

/// #12: only a person's message uses the human-agent window; a bot's past 24 h fails at
/// once, without a call to Meta.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_a_person_may_write_after_24_hours() {
    let rig = start_with(|mut c| {
        c.human_agent_window_hours = Some(168);
        c
    })
    .await;
    let conv = rig.customer_writes("hal", "m1", "hello", hours_ago_ms(30)).await;
    let (bot, _) = rig.chatwoot.write(conv, FakeAuthor::Bot, "Our bot says hi", Vec::new()).await;
    let (greeting, _) =
        rig.chatwoot.write(conv, FakeAuthor::Template, "We are away", Vec::new()).await;
    rig.settle().await;
    assert!(rig.channel.sent().is_empty(), "nothing reached Meta");
    for id in [bot, greeting] {
        let m = rig.chatwoot.message(id).unwrap();
        assert_eq!(m.status, "failed");
        assert!(m.external_error.unwrap().contains("only messages a person wrote"));
    }
    rig.chatwoot.agent_reply(conv, "A person answers", Vec::new()).await;
    rig.settle().await;
    let sent = rig.channel.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].window, MessagingWindow::HumanAgent);
}

/// #8: the contact gets exactly the bridge's contact inbox (no stray one), a message sent
/// from Meta's own apps carries `external_echo`, and Chatwoot's flood guard is temporary.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contact_inboxes_echoes_and_the_flood_guard() {
    use std::sync::Arc;

    use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
    use wbots_core::{
        DeliveryErrorKind, Direction, EchoMessage, InboundEnvelope, InboundEvent, Inbox,
        PostMessage, Secret,
    };

    let rig = start().await;
    let conv = rig.customer_writes("ivy", "m1", "hello", now_ms()).await;
    let contact =
        rig.chatwoot.conversations().into_iter().find(|c| c.id == conv).unwrap().contact_id;
    let links: Vec<_> =
        rig.chatwoot.contact_inboxes().into_iter().filter(|(c, _, _)| *c == contact).collect();
    assert_eq!(links, vec![(contact, rig.inbox, "wbots:messenger:5550001:ivy".to_owned())]);

    let echo = InboundEnvelope::new(
        crate::rig::page(),
        InboundEvent::Echo(EchoMessage {
            id: "m_app_1".into(),
            thread: "ivy".into(),
            sent_at: chrono::Utc::now(),
            text: Some("Sent from the Meta Business Suite".into()),
            attachments: Vec::new(),
            app_id: None,
            metadata: None,
        }),
    );
    rig.bridge.ingest_channel("fake", &rig.channel.request(&[echo]).as_raw()).await.unwrap();
    rig.settle().await;
    let mirrored = rig
        .chatwoot
        .messages()
        .into_iter()
        .find(|m| m.source_id.as_deref() == Some("m_app_1"))
        .unwrap();
    assert_eq!(mirrored.message_type, "outgoing");
    assert_eq!(mirrored.content_attributes["external_echo"], serde_json::json!(true));
    assert!(rig.sent_texts().is_empty(), "the mirror is not sent back to the customer");

    let adapter = Arc::new(
        ChatwootInbox::builder(ChatwootConfig::new(
            rig.chatwoot.url().clone(),
            Secret::new("user-token"),
            1,
        ))
        .build()
        .unwrap(),
    );
    rig.chatwoot.flood(conv, true);
    let post = PostMessage {
        inbox: rig.inbox.to_string().into(),
        conversation: conv.to_string().into(),
        direction: Direction::Incoming,
        text: Some("one too many".into()),
        media: Vec::new(),
        source_id: "m_flood".into(),
        reply_to: None,
        attributes: Default::default(),
        sent_at: chrono::Utc::now(),
    };
    let err = adapter.post_message(&post).await.unwrap_err();
    assert!(err.is_temporary(), "{err:?}");
    assert_eq!(err.kind(), DeliveryErrorKind::RateLimited);
    rig.chatwoot.flood(conv, false);
    assert!(adapter.post_message(&post).await.is_ok());
}

/// #7: Chatwoot refuses an agent bot's token where the bridge needs it, and says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bot_token_is_recognised_and_refused_where_the_bridge_needs_a_user() {
    use wbots_chatwoot::setup::TokenKind;
    use wbots_chatwoot::{ChatwootConfig, ChatwootInbox};
    use wbots_core::{DeliveryErrorKind, Inbox, Secret};

    let rig = start().await;
    let conv = rig.customer_writes("jo", "m1", "hello", now_ms()).await;
    rig.chatwoot.add_bot_token("bot-token");
    let adapter = |token: &str| {
        ChatwootInbox::builder(ChatwootConfig::new(
            rig.chatwoot.url().clone(),
            Secret::new(token),
            1,
        ))
        .build()
        .unwrap()
    };
    let bot = adapter("bot-token");
    assert_eq!(bot.token_kind().await.unwrap(), TokenKind::Bot);
    let user = adapter("user-token");
    assert!(matches!(user.token_kind().await.unwrap(), TokenKind::User { .. }));
    // A bot may post a message but not read the list the bridge checks before reposting,
    // nor change a status, nor run the sweep.
    let list = bot.find_message(&conv.to_string().into(), &"m1".into()).await.unwrap_err();
    assert_eq!(list.kind(), DeliveryErrorKind::Unauthorized);
    let sweep = bot
        .undelivered(
            &[rig.inbox.to_string().into()],
            chrono::Utc::now() - chrono::Duration::hours(1),
        )
        .await
        .unwrap_err();
    assert_eq!(sweep.kind(), DeliveryErrorKind::Unauthorized);
}

/// #3, at scale: the sweep pages through more than one page of conversations (25) and more
/// than one page of messages (20), and routes a conversation an agent opened while the
/// bridge was down through the contact's identity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_pages_through_conversations_and_messages() {
    let rig = start().await;
    let mut conversations = Vec::new();
    for c in 0..27 {
        conversations
            .push(rig.customer_writes(&format!("u{c}"), &format!("m{c}"), "hi", now_ms()).await);
    }
    let contact = rig
        .chatwoot
        .conversations()
        .into_iter()
        .find(|c| c.id == conversations[0])
        .unwrap()
        .contact_id;
    rig.bridge_down();
    let mut expected = Vec::new();
    for conv in &conversations {
        let text = format!("to {conv}");
        rig.chatwoot.agent_reply(*conv, &text, Vec::new()).await;
        expected.push(text);
    }
    let busy = conversations[3];
    for n in 0..23 {
        let text = format!("burst {n}");
        rig.chatwoot.agent_reply(busy, &text, Vec::new()).await;
        expected.push(text);
    }
    let opened = rig.chatwoot.agent_opens_conversation(contact, rig.inbox).unwrap();
    rig.chatwoot.agent_reply(opened, "in a conversation the agent opened", Vec::new()).await;
    expected.push("in a conversation the agent opened".into());
    rig.bridge_up();
    assert!(rig.sent_texts().is_empty());

    rig.sweep().await;
    let mut sent = rig.sent_texts();
    sent.sort();
    expected.sort();
    assert_eq!(sent, expected);
    let burst: Vec<String> =
        rig.sent_texts().into_iter().filter(|t| t.starts_with("burst ")).collect();
    let in_order: Vec<String> = (0..23).map(|n| format!("burst {n}")).collect();
    assert_eq!(burst, in_order, "recovered in the order the agent wrote them");
    let to_opened =
        rig.channel.sent().into_iter().find(|s| {
            crate::rig::text_of(s).as_deref() == Some("in a conversation the agent opened")
        });
    assert_eq!(to_opened.unwrap().thread.as_str(), "u0");
    assert!(rig.chatwoot.messages().iter().all(|m| m.status != "failed"));
}
