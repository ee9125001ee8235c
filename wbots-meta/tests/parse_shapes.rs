//! Shapes a typed reading of Meta's webhooks could get wrong: ids and times given as
//! strings or numbers (Meta, and its dashboard's test form, send both), optional fields
//! left out, values of an unexpected type, objects the bridge does not serve. None of them
//! may turn an authentic delivery into a 400 (Meta would retry it for an hour).

use std::collections::HashSet;

use wbots_core::{
    AttachmentKind, InboundEnvelope, InboundEvent, MessageContext, ReactionAction, ReadUpTo,
    WebhookError,
};
use wbots_meta::webhook;

fn parse(body: &str) -> Result<Vec<InboundEnvelope>, WebhookError> {
    webhook::parse(body.as_bytes(), &HashSet::from(["PAGE".to_owned()]))
}

fn one(body: &str) -> InboundEvent {
    let mut events = parse(body).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    events.remove(0).event
}

fn page(item: &str) -> String {
    format!(
        r#"{{"object":"page","entry":[{{"id":"PAGE","time":1458692752478,"messaging":[{item}]}}]}}"#
    )
}

fn unsupported_kind(event: InboundEvent) -> String {
    let InboundEvent::Unsupported(u) = event else { panic!("{event:?}") };
    u.kind
}

#[test]
fn ids_as_numbers_read_as_their_digits() {
    let body = r#"{"object":"page","entry":[{"id":1122,"messaging":[
        {"sender":{"id":5550001},"recipient":{"id":1122},"timestamp":1458692752478,
         "message":{"mid":777,"text":"hi","referral":{"ad_id":6045246247433,"source":"ADS"}}}]}]}"#;
    let events = parse(body).unwrap();
    assert_eq!(events[0].address.account.as_str(), "1122");
    let InboundEvent::Message(m) = &events[0].event else { panic!("{events:?}") };
    assert_eq!(
        (m.id.as_str(), m.sender.as_str(), m.thread.as_str()),
        ("777", "5550001", "5550001")
    );
    let Some(MessageContext::Referral { ad_id, .. }) = &m.context else { panic!("{m:?}") };
    assert_eq!(ad_id.as_deref(), Some("6045246247433"));

    let InboundEvent::Delivery(d) = one(&page(
        r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"delivery":{"mids":["m1",2,null,""]}}"#,
    )) else {
        panic!()
    };
    let mids: Vec<&str> = d.mids.iter().map(|m| m.as_str()).collect();
    assert_eq!(mids, ["m1", "2"], "ids that are not ids are left out, the rest kept");
}

#[test]
fn times_as_strings_seconds_or_ms_read_alike() {
    for timestamp in ["1458692752478", "\"1458692752478\"", "1458692752", "\"1458692752\""] {
        let body = page(&format!(
            r#"{{"sender":{{"id":"U"}},"recipient":{{"id":"PAGE"}},"timestamp":{timestamp},"message":{{"mid":"m1","text":"hi"}}}}"#
        ));
        let InboundEvent::Message(m) = one(&body) else { panic!() };
        assert_eq!(m.sent_at.timestamp(), 1458692752, "{timestamp}");
    }
    let read = one(&page(
        r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"read":{"watermark":"1458668856253"}}"#,
    ));
    let InboundEvent::Read(r) = read else { panic!() };
    let ReadUpTo::Watermark(w) = r.upto else { panic!("{r:?}") };
    assert_eq!(w.timestamp_millis(), 1458668856253);
}

#[test]
fn optional_fields_left_out_keep_the_event() {
    // A tap without mid or title gets an id derived from what a redelivery repeats.
    let body = page(
        r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"timestamp":1458692752478,"postback":{"payload":"GO"}}"#,
    );
    let InboundEvent::Message(first) = one(&body) else { panic!() };
    let InboundEvent::Message(again) = one(&body) else { panic!() };
    assert_eq!(first.id, again.id);
    assert_eq!(first.id.as_str(), "postback:U:1458692752478:GO");
    assert_eq!(
        first.context,
        Some(MessageContext::Postback { title: None, payload: Some("GO".into()) })
    );

    let InboundEvent::Reaction(r) =
        one(&page(r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"reaction":{"mid":"m1"}}"#))
    else {
        panic!()
    };
    assert_eq!((r.action, r.emoji), (ReactionAction::React, None));

    let InboundEvent::Edit(e) = one(&page(
        r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"message_edit":{"mid":"m1"}}"#,
    )) else {
        panic!()
    };
    assert_eq!(e.text, "");

    // Without what identifies them, events are recorded as unsupported, never refused.
    let read = one(&page(r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"read":{}}"#));
    assert_eq!(unsupported_kind(read), "read");
    let bare =
        one(&page(r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"message":{"text":"x"}}"#));
    assert_eq!(unsupported_kind(bare), "message_without_mid");
    let nobody = one(&page(r#"{"recipient":{"id":"PAGE"},"message":{"mid":"m1"}}"#));
    assert_eq!(unsupported_kind(nobody), "no_customer_id");
}

#[test]
fn values_of_an_unexpected_type_read_as_absent() {
    let body = page(
        r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"timestamp":{"at":1},
            "message":{"mid":"m1","text":5,"is_echo":"true","attachments":{"type":"image"},
                       "reply_to":["m0"],"quick_reply":"QR","brand_new_field":[1,{"x":2}]}}"#,
    );
    let InboundEvent::Message(m) = one(&body) else {
        panic!("an `is_echo` that is not a boolean is not an echo")
    };
    assert_eq!(m.id.as_str(), "m1");
    assert_eq!((m.text, m.attachments.len(), m.reply_to, m.context), (None, 0, None, None));

    // An attachment that is not an object still counts, as one of unknown type.
    let body = page(
        r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"message":{"mid":"m1","attachments":[7,{"type":"hologram","payload":{"url":"https://x.example/h"}}]}}"#,
    );
    let InboundEvent::Message(m) = one(&body) else { panic!() };
    let kinds: Vec<AttachmentKind> = m.attachments.iter().map(|a| a.kind.clone()).collect();
    assert_eq!(
        kinds,
        [AttachmentKind::Other("unknown".into()), AttachmentKind::Other("hologram".into())]
    );
    assert_eq!(m.attachments[1].url.as_ref().map(|u| u.as_str()), Some("https://x.example/h"));

    // An event key whose value is not an object still names the event.
    assert_eq!(
        unsupported_kind(one(&page(
            r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"message":null}"#
        ))),
        "message_without_mid"
    );
    // An item that is not an object, or an array read positionally, names no customer.
    assert_eq!(
        unsupported_kind(one(&page(r#"[{"id":"U"},{"id":"PAGE"},1458692752478,{"mid":"m1"}]"#))),
        "no_customer_id"
    );
    // A time out of range is no time, not a panic.
    let body = page(
        r#"{"sender":{"id":"U"},"recipient":{"id":"PAGE"},"timestamp":-9223372036854775808,"message":{"mid":"m1"}}"#,
    );
    assert!(matches!(one(&body), InboundEvent::Message(_)));
}

#[test]
fn objects_the_bridge_does_not_serve_are_recorded_per_entry() {
    let events =
        parse(r#"{"object":"user","entry":[{"id":42,"changes":[{"field":"email"}]},{"id":"43"}]}"#)
            .unwrap();
    let seen: Vec<(String, String, String)> = events
        .into_iter()
        .map(|e| {
            (e.address.kind.to_string(), e.address.account.to_string(), unsupported_kind(e.event))
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("user".into(), "42".into(), "object:user".into()),
            ("user".into(), "43".into(), "object:user".into())
        ]
    );
    // A change the bridge does not read is recorded under its field.
    let events = parse(
        r#"{"object":"instagram","entry":[{"id":"IG","changes":[{"field":"comments","value":{"id":"c1","text":"nice"}}]}]}"#,
    )
    .unwrap();
    assert_eq!(unsupported_kind(events.into_iter().next().unwrap().event), "comments");
}

#[test]
fn only_a_body_without_object_or_entry_is_refused() {
    for body in ["[]", "\"page\"", "{}", r#"{"object":5,"entry":[]}"#, r#"["page",[]]"#] {
        let e = parse(body).unwrap_err();
        assert!(
            matches!(&e, WebhookError::Malformed(m) if m.contains("\"object\"")),
            "{body}: {e:?}"
        );
    }
    for body in [r#"{"object":"page"}"#, r#"{"object":"page","entry":{"id":"PAGE"}}"#] {
        let e = parse(body).unwrap_err();
        assert!(
            matches!(&e, WebhookError::Malformed(m) if m.contains("\"entry\"")),
            "{body}: {e:?}"
        );
    }
    assert!(matches!(parse("{\"object\":"), Err(WebhookError::Malformed(_))));
    // A key given twice keeps its last value, as JSON readers do.
    let events =
        parse(r#"{"object":"user","object":"page","entry":[{"id":"PAGE","messaging":[]}]}"#)
            .unwrap();
    assert!(events.is_empty(), "{events:?}");
}
