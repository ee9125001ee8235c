//! Meta's webhook bodies — the shared fixtures and one written from the reference for every
//! event kind — parse into exactly the expected events; forged bodies are refused.

use std::collections::HashSet;

use wbots_core::{
    AccountAction, AttachmentKind, InboundEnvelope, InboundEvent, MessageContext, ReactionAction,
    ReadUpTo, ReplyTo, Secret,
};
use wbots_meta::{sign_body, webhook};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR")))
        .unwrap()
}

fn parse(body: &str) -> Vec<InboundEnvelope> {
    parse_own(body, &[])
}

fn parse_own(body: &str, own: &[&str]) -> Vec<InboundEnvelope> {
    let own: HashSet<String> = own.iter().map(|s| s.to_string()).collect();
    webhook::parse(body.as_bytes(), &own).unwrap()
}

fn one(body: &str) -> InboundEnvelope {
    let mut events = parse(body);
    assert_eq!(events.len(), 1, "{events:?}");
    events.remove(0)
}

fn page(item: &str) -> String {
    format!(
        r#"{{"object":"page","entry":[{{"id":"PAGE","time":1458692752478,"messaging":[{item}]}}]}}"#
    )
}

fn instagram(item: &str) -> String {
    format!(
        r#"{{"object":"instagram","entry":[{{"id":"IGID","time":1569262486134,"messaging":[{item}]}}]}}"#
    )
}

#[test]
fn botbuilder_text_message() {
    let e = one(&fixture("botbuilder-dotnet-Payload.json"));
    assert_eq!(e.address.kind, wbots_meta::MESSENGER);
    let InboundEvent::Message(m) = e.event else { panic!("{e:?}") };
    assert_eq!((m.id.as_str(), m.text.as_deref()), ("AAAA-BBBB-CCCC", Some("text")));
    // Values below 10^11 are read as seconds (the dashboard's test form sends seconds).
    assert_eq!(m.sent_at.timestamp(), 2222222);
}

#[test]
fn botbuilder_postback_with_referral_keeps_both() {
    let mut events = parse(&fixture("botbuilder-dotnet-PayloadWithPostBack.json"));
    assert_eq!(events.len(), 2, "the referral, then the tap: {events:?}");
    let InboundEvent::Message(r) = events.remove(0).event else { panic!() };
    assert_eq!(
        r.context,
        Some(MessageContext::Referral {
            source: Some("SHORTLINK".into()),
            ref_param: Some("USER_DEFINED_REFERRAL_PARAM".into()),
            ad_id: None,
            detail: None
        })
    );
    let InboundEvent::Message(m) = events.remove(0).event else { panic!() };
    assert_eq!(m.id.as_str(), "m_1457764197618:41d102a3e1ae206a38");
    assert_eq!(
        m.context,
        Some(MessageContext::Postback {
            title: Some("title".into()),
            payload: Some("USER_DEFINED_PAYLOAD".into())
        })
    );
}

#[test]
fn botbuilder_referral() {
    let InboundEvent::Message(m) =
        one(&fixture("botbuilder-dotnet-PayloadWithReferral.json")).event
    else {
        panic!()
    };
    assert_eq!(
        m.context,
        Some(MessageContext::Referral {
            source: Some("SHORTLINK".into()),
            ref_param: Some("USER_DEFINED_REFERRAL_PARAM".into()),
            ad_id: None,
            detail: None
        })
    );
}

#[test]
fn botbuilder_handovers_become_notes_and_standby_messages_are_kept() {
    for (file, kind, says) in [
        (
            "botbuilder-dotnet-PayloadWithPassThreadControl.json",
            "pass_thread_control",
            "Another app (1234567890) now holds this conversation",
        ),
        (
            "botbuilder-dotnet-PayloadWithTakeThreadControl.json",
            "take_thread_control",
            "Another app now holds this conversation",
        ),
        (
            "botbuilder-dotnet-PayloadWithRequestThreadControl.json",
            "request_thread_control",
            "Another app (1234567890) asks to take over this conversation.",
        ),
    ] {
        let InboundEvent::Notice(n) = one(&fixture(file)).event else { panic!("{file}") };
        assert_eq!(n.kind, kind);
        assert!(n.text.starts_with(says), "{file}: {}", n.text);
    }
    // Handed back to this app: the note says replies work again.
    let back = page(
        r#"{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458692752478,"pass_thread_control":{"previous_owner_app_id":"99","new_owner_app_id":1517776481860111}}"#,
    );
    let events =
        webhook::parse_for_app(back.as_bytes(), &HashSet::new(), Some("1517776481860111")).unwrap();
    let InboundEvent::Notice(n) = &events[0].event else { panic!("{events:?}") };
    assert!(n.text.contains("handed back to the bridge"), "{}", n.text);
    let events = parse(&fixture("botbuilder-dotnet-PayloadWithStandby.json"));
    assert_eq!(events.len(), 3, "two standby items and one message");
    let kinds: Vec<&str> = events.iter().map(|e| e.event.kind()).collect();
    assert_eq!(kinds, vec!["message", "unsupported", "unsupported"]);
}

#[test]
fn jovo_requests_including_a_multi_entry_batch() {
    let wrap = |entry: String| format!(r#"{{"object":"page","entry":[{entry}]}}"#);
    let InboundEvent::Message(m) = one(&wrap(fixture("jovo-IntentRequest.json"))).event else {
        panic!()
    };
    assert_eq!(m.text.as_deref(), Some("Test"));
    assert_eq!(m.thread.as_str(), "3135154219859294");
    let e = one(&wrap(fixture("jovo-LaunchRequest.json")));
    assert_eq!(e.address.account.as_str(), "113399660059468");
    let InboundEvent::Message(m) = e.event else { panic!() };
    assert_eq!(
        m.context,
        Some(MessageContext::Postback {
            title: Some("Get Started".into()),
            payload: Some("LAUNCH_TEST".into())
        })
    );
    let batch = parse(&fixture("jovo-MultipleEventRequest.json"));
    assert_eq!(batch.len(), 2);
    let keys: HashSet<String> = batch.iter().map(|e| e.idempotency_key()).collect();
    assert_eq!(keys.len(), 2, "two taps in the same millisecond are two events, not a redelivery");
}

#[test]
fn messenger_text_with_reply_and_quick_reply() {
    let body = page(
        r#"{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458692752478,
        "message":{"mid":"m_1","text":"Red","quick_reply":{"payload":"COLOR_RED"},"reply_to":{"mid":"m_0","is_self_reply":false}}}"#,
    );
    let e = one(&body);
    assert_eq!(e.address.to_string(), "messenger:PAGE");
    let InboundEvent::Message(m) = e.event else { panic!() };
    assert_eq!(m.context, Some(MessageContext::QuickReply { payload: "COLOR_RED".into() }));
    assert_eq!(m.reply_to, Some(ReplyTo::Message { id: "m_0".into() }));
}

#[test]
fn every_attachment_kind() {
    let types = [
        "image",
        "video",
        "audio",
        "file",
        "fallback",
        "share",
        "story_mention",
        "reel",
        "ig_reel",
        "post",
        "ig_post",
        "template",
        "appointment_booking",
    ];
    let attachments: Vec<String> = types
        .iter()
        .map(|t| format!(r#"{{"type":"{t}","payload":{{"url":"https://cdn.example/{t}"}}}}"#))
        .collect();
    let body = instagram(&format!(
        r#"{{"sender":{{"id":"IGSID"}},"recipient":{{"id":"IGID"}},"timestamp":1569262485349,"message":{{"mid":"m_att","attachments":[{}]}}}}"#,
        attachments.join(",")
    ));
    let InboundEvent::Message(m) = one(&body).event else { panic!() };
    let kinds: Vec<AttachmentKind> = m.attachments.iter().map(|a| a.kind.clone()).collect();
    use AttachmentKind::*;
    assert_eq!(
        kinds,
        vec![
            Image,
            Video,
            Audio,
            File,
            Fallback,
            Share,
            StoryMention,
            Reel,
            Reel,
            Post,
            Post,
            Template,
            Other("appointment_booking".into())
        ]
    );
    assert_eq!(m.attachments[0].url.as_ref().unwrap().as_str(), "https://cdn.example/image");
}

#[test]
fn a_sticker_during_metas_transition_is_one_sticker() {
    let body = page(
        r#"{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458692752478,"message":{"mid":"m_st","sticker_id":369239263222822,
        "attachments":[{"type":"image","payload":{"url":"https://cdn.example/like.png","sticker_id":369239263222822}},{"type":"sticker","payload":{"url":"https://cdn.example/like.png","sticker_id":369239263222822}}]}}"#,
    );
    let InboundEvent::Message(m) = one(&body).event else { panic!() };
    assert_eq!(m.attachments.len(), 1);
    assert_eq!(m.attachments[0].kind, AttachmentKind::Sticker);
    assert_eq!(m.attachments[0].platform_id.as_deref(), Some("369239263222822"));
}

#[test]
fn a_legacy_sticker_keeps_its_image() {
    // Before the `sticker` type: one `image` attachment carrying `sticker_id` (§9).
    let body = page(
        r#"{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458692752478,"message":{"mid":"m_old","sticker_id":369239263222822,
        "attachments":[{"type":"image","payload":{"url":"https://cdn.example/like.png","sticker_id":369239263222822}}]}}"#,
    );
    let InboundEvent::Message(m) = one(&body).event else { panic!() };
    assert_eq!(m.attachments.len(), 1, "{m:?}");
    assert_eq!(m.attachments[0].kind, AttachmentKind::Image);
    assert_eq!(m.attachments[0].url.as_ref().unwrap().as_str(), "https://cdn.example/like.png");
}

#[test]
fn instagram_story_reply_unsend_and_unsupported() {
    let story = instagram(
        r#"{"sender":{"id":"IGSID"},"recipient":{"id":"IGID"},"timestamp":1569262485349,
        "message":{"mid":"m_s","text":"nice!","reply_to":{"story":{"url":"https://cdn.example/story","id":"ST1"}}}}"#,
    );
    let e = one(&story);
    assert_eq!(e.address.to_string(), "instagram:IGID");
    let InboundEvent::Message(m) = e.event else { panic!() };
    assert_eq!(
        m.reply_to,
        Some(ReplyTo::Story {
            id: Some("ST1".into()),
            url: Some("https://cdn.example/story".parse().unwrap())
        })
    );

    let unsend = instagram(
        r#"{"sender":{"id":"IGSID"},"recipient":{"id":"IGID"},"timestamp":1569262485349,"message":{"mid":"m_gone","is_deleted":true}}"#,
    );
    let InboundEvent::Delete(d) = one(&unsend).event else { panic!() };
    assert_eq!(d.id.as_str(), "m_gone");

    let gif = instagram(
        r#"{"sender":{"id":"IGSID"},"recipient":{"id":"IGID"},"timestamp":1569262485349,"message":{"mid":"m_gif","is_unsupported":true}}"#,
    );
    let InboundEvent::Message(m) = one(&gif).event else { panic!() };
    assert!(
        matches!(&m.attachments[0].kind, AttachmentKind::Other(l) if l.starts_with("unsupported"))
    );
}

#[test]
fn echoes_with_app_id_metadata_and_instagram_self_sends() {
    let echo = page(
        r#"{"sender":{"id":"PAGE"},"recipient":{"id":"PSID"},"timestamp":1457764197627,
        "message":{"is_echo":true,"app_id":1517776481860111,"metadata":"wbots:7:42:0","mid":"mid.1457764197618:41d","text":"hello"}}"#,
    );
    let e = one(&echo);
    assert_eq!(e.address.to_string(), "messenger:PAGE");
    let InboundEvent::Echo(m) = e.event else { panic!() };
    assert_eq!(
        (m.thread.as_str(), m.app_id.as_deref(), m.metadata.as_deref()),
        ("PSID", Some("1517776481860111"), Some("wbots:7:42:0"))
    );
    // Instagram may deliver the business's own message without is_echo.
    let own = instagram(
        r#"{"sender":{"id":"IGID"},"recipient":{"id":"IGSID"},"timestamp":1569262485349,"message":{"mid":"m_app","text":"sent from the app"}}"#,
    );
    let events = parse_own(&own, &["IGID"]);
    let InboundEvent::Echo(m) = &events[0].event else { panic!("{events:?}") };
    assert_eq!(m.thread.as_str(), "IGSID");
}

#[test]
fn reads_deliveries_reactions_and_edits() {
    let read = page(
        r#"{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458668856463,"read":{"watermark":1458668856253}}"#,
    );
    let InboundEvent::Read(r) = one(&read).event else { panic!() };
    assert_eq!(
        r.upto,
        ReadUpTo::Watermark(chrono::DateTime::from_timestamp_millis(1458668856253).unwrap())
    );
    let seen = instagram(
        r#"{"sender":{"id":"IGSID"},"recipient":{"id":"IGID"},"timestamp":1569262485349,"read":{"mid":"m_seen"}}"#,
    );
    let InboundEvent::Read(r) = one(&seen).event else { panic!() };
    assert_eq!(r.upto, ReadUpTo::Message("m_seen".into()));

    let delivery = page(
        r#"{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"delivery":{"mids":["mid.1458668856218:ed81099e15d3f4f233"],"watermark":1458668856253}}"#,
    );
    let InboundEvent::Delivery(d) = one(&delivery).event else { panic!() };
    assert_eq!(d.mids.len(), 1);
    assert_eq!(d.watermark.unwrap().timestamp_millis(), 1458668856253);

    let react = page(
        r#"{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458668856463,"reaction":{"reaction":"love","emoji":"\u2764\uFE0F","action":"react","mid":"m_target"}}"#,
    );
    let InboundEvent::Reaction(r) = one(&react).event else { panic!() };
    assert_eq!(
        (r.target.as_str(), r.emoji.as_deref(), r.action),
        ("m_target", Some("\u{2764}\u{FE0F}"), ReactionAction::React)
    );
    let unreact = page(
        r#"{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458668856464,"reaction":{"action":"unreact","mid":"m_target"}}"#,
    );
    let InboundEvent::Reaction(r) = one(&unreact).event else { panic!() };
    assert_eq!((r.action, r.emoji), (ReactionAction::Unreact, None));

    let edit = page(
        r#"{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458668856463,"message_edit":{"mid":"m_e","text":"fixed typo","num_edit":"1"}}"#,
    );
    let InboundEvent::Edit(e) = one(&edit).event else { panic!() };
    assert_eq!((e.id.as_str(), e.text.as_str()), ("m_e", "fixed typo"));
}

#[test]
fn ads_referral_and_policy_enforcement() {
    let ad = page(
        r#"{"sender":{"id":"PSID"},"recipient":{"id":"PAGE"},"timestamp":1458692752478,"referral":{"ref":"spring","source":"ADS","type":"OPEN_THREAD","ad_id":"6045","ads_context_data":{"ad_title":"Spring sale"}}}"#,
    );
    let InboundEvent::Message(m) = one(&ad).event else { panic!() };
    assert_eq!(
        m.context,
        Some(MessageContext::Referral {
            source: Some("ADS".into()),
            ref_param: Some("spring".into()),
            ad_id: Some("6045".into()),
            detail: Some("Spring sale".into())
        })
    );
    let policy = page(
        r#"{"recipient":{"id":"PAGE"},"timestamp":1458692752478,"policy_enforcement":{"action":"block","reason":"spam"}}"#,
    );
    let e = one(&policy);
    assert_eq!(e.address.to_string(), "messenger:PAGE");
    let InboundEvent::AccountStatus(s) = e.event else { panic!() };
    assert_eq!(s.action, AccountAction::Blocked);
    assert_eq!(s.reason.as_deref(), Some("spam"));
}

#[test]
fn the_dashboards_test_form_in_changes_with_string_seconds() {
    let body = r#"{"object":"instagram","entry":[{"id":"0","time":1527459824,"changes":[{"field":"messages","value":
        {"sender":{"id":"12334"},"recipient":{"id":"23245"},"timestamp":"1527459824","message":{"mid":"random_mid","text":"random_text"}}}]}]}"#;
    let e = one(body);
    assert_eq!(e.address.to_string(), "instagram:23245");
    let InboundEvent::Message(m) = e.event else { panic!() };
    assert_eq!(m.sent_at.timestamp(), 1527459824, "seconds, not ms");
    let comments = r#"{"object":"instagram","entry":[{"id":"IGID","time":1,"changes":[{"field":"comments","value":{"id":"c1","text":"hi"}}]}]}"#;
    let InboundEvent::Unsupported(u) = one(comments).event else { panic!() };
    assert_eq!(u.kind, "comments");
}

#[test]
fn unknown_objects_and_kinds_are_unsupported_and_shape_errors_malformed() {
    let InboundEvent::Unsupported(u) =
        one(r#"{"object":"whatsapp_business_account","entry":[{"id":"1","changes":[]}]}"#).event
    else {
        panic!()
    };
    assert_eq!(u.kind, "object:whatsapp_business_account");
    let InboundEvent::Unsupported(u) = one(&page(
        r#"{"sender":{"id":"P"},"recipient":{"id":"PAGE"},"timestamp":1,"brand_new_event":{}}"#,
    ))
    .event
    else {
        panic!()
    };
    assert_eq!(u.kind, "unknown");
    for bad in ["", "[]", "{}", r#"{"object":"page"}"#, r#"{"object":"page","entry":{}}"#] {
        assert!(webhook::parse(bad.as_bytes(), &HashSet::new()).is_err(), "{bad:?}");
    }
}

#[test]
fn signatures_refuse_tampering_wrong_secrets_and_missing_headers() {
    use wbots_core::Channel;
    use wbots_core::testkit::OwnedRequest;
    use wbots_meta::{MetaAccount, MetaChannel, MetaConfig};
    let mut config = MetaConfig::new(Secret::new("app-secret"), Secret::new("verify"));
    config.instagram_app_secret = Some(Secret::new("ig-secret"));
    let ch = MetaChannel::builder(config)
        .account(MetaAccount::messenger("PAGE", Secret::new("tok")))
        .build()
        .unwrap();
    let body = fixture("botbuilder-dotnet-Payload.json");
    let req = |sig: Option<String>, body: &str| {
        let r = OwnedRequest::post(body.as_bytes().to_vec());
        match sig {
            Some(s) => r.header("x-hub-signature-256", &s),
            None => r,
        }
    };
    assert!(
        ch.verify(
            &req(Some(sign_body(&Secret::new("app-secret"), body.as_bytes())), &body).as_raw()
        )
        .is_ok()
    );
    assert!(
        ch.verify(
            &req(Some(sign_body(&Secret::new("ig-secret"), body.as_bytes())), &body).as_raw()
        )
        .is_ok(),
        "the Instagram app secret is a candidate too"
    );
    assert!(
        ch.verify(&req(Some(sign_body(&Secret::new("wrong"), body.as_bytes())), &body).as_raw())
            .is_err()
    );
    let tampered = body.replace("text", "texT");
    assert!(
        ch.verify(
            &req(Some(sign_body(&Secret::new("app-secret"), body.as_bytes())), &tampered).as_raw()
        )
        .is_err()
    );
    assert!(ch.verify(&req(None, &body).as_raw()).is_err());
    assert!(ch.verify(&req(Some("sha1=abc".into()), &body).as_raw()).is_err());
}
