//! The connect page's flows over HTTP, as a browser without JavaScript drives them, against
//! the FakeGraph and the FakeChatwoot: sign in, connect a Page and its Instagram account
//! through Facebook Login, an Instagram account through Instagram Login, see them listed,
//! reconnect, disconnect.

mod support;

use support::{ADMIN_TOKEN, World};
use wbots_core::store::{ChannelStatus, LoginKind};

/// Connects through Facebook Login, ticking `keys`, each into `target`; the list page.
async fn connect_facebook(
    world: &World,
    browser: &mut support::Browser,
    keys: &[&str],
    target: &str,
) -> support::Page {
    let list = browser.get("/admin").await;
    let started = browser.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    assert_eq!(started.status, 303);
    let dialog = url::Url::parse(&started.location()).unwrap();
    let back = world.graph.consent(&dialog, None, true).await.unwrap();
    let picked = browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    assert_eq!(picked.location(), "/admin/connect", "{}", picked.body);
    let pick = browser.get("/admin/connect").await;
    let csrf = pick.field("csrf");
    let mut form: Vec<(String, String)> = vec![("csrf".into(), csrf)];
    for key in keys {
        form.push(("connect".into(), (*key).into()));
        form.push((format!("target:{key}"), target.into()));
    }
    let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let done = browser.post("/admin/connect", &form).await;
    assert_eq!(done.location(), "/admin?done=connected", "{}", done.body);
    browser.get(&done.location()).await
}

#[tokio::test]
async fn a_page_and_its_instagram_account_connect_through_facebook_login_into_a_new_inbox() {
    let world = World::start().await;
    let mut browser = world.browser();
    let list = browser.sign_in_with_token(ADMIN_TOKEN).await;
    assert!(list.body.contains("Connect with Facebook"), "{}", list.body);

    let list =
        connect_facebook(&world, &mut browser, &["page:111", "ig:17841400000000111"], "1:new")
            .await;
    assert!(list.body.contains("Connected."), "{}", list.body);
    assert!(
        list.body.contains("Messenger · 111")
            && list.body.contains("Instagram through Facebook · 17841400000000111"),
        "{}",
        list.body
    );

    let stored = world.stored().await;
    assert_eq!(stored.len(), 2);
    let page = stored.iter().find(|r| r.channel.address.to_string() == "messenger:111").unwrap();
    assert_eq!(page.credentials.access_token.expose(), "page-token-111");
    assert_eq!(page.channel.login, LoginKind::Facebook);
    assert_eq!(page.channel.connected_by, "jane@example.com");
    assert_eq!(page.channel.chatwoot.account_id, None, "the bridge's own account");
    assert!(page.credentials.chatwoot_token.is_none(), "served with the bridge's Chatwoot token");
    let ig = stored
        .iter()
        .find(|r| r.channel.address.to_string() == "instagram:17841400000000111")
        .unwrap();
    assert_eq!(ig.channel.page_id.as_deref(), Some("111"), "reached through its Page");
    assert!(
        world.graph.subscribed_fields("111").contains(&"messages".to_owned()),
        "the Page is subscribed"
    );
    // Each got its own new API inbox, pointed at the bridge.
    let inboxes = world.chatwoot.inboxes();
    assert_eq!(inboxes.len(), 2);
    assert!(inboxes.iter().all(|(_, i)| {
        i.webhook_url
            .as_deref()
            .is_some_and(|u| u.ends_with("/webhooks/chatwoot/bridge-path-token"))
    }));
    assert_ne!(page.channel.chatwoot.inbox_id, ig.channel.chatwoot.inbox_id);
}

/// The part of the list page about one channel.
fn channel_block<'a>(body: &'a str, address: &str) -> &'a str {
    let start = body.split(&format!("data-address=\"{address}\"")).nth(1).unwrap_or_default();
    start.split("class=\"channel\"").next().unwrap_or_default()
}

/// Each channel shows when its last customer message came in and its last agent message
/// went out (the engine's `channel_last_in` / `channel_last_out` links), or that it has
/// had none yet.
#[tokio::test]
async fn each_channel_shows_its_last_message_in_and_out() {
    use wbots_core::ChannelAddress;
    use wbots_core::store::{Link, LinkKey, LinkStore};

    let world = World::start().await;
    let mut browser = world.browser();
    browser.sign_in_with_token(ADMIN_TOKEN).await;
    let list =
        connect_facebook(&world, &mut browser, &["page:111", "ig:17841400000000111"], "1:new")
            .await;
    for address in ["messenger:111", "instagram:17841400000000111"] {
        let block = channel_block(&list.body, address);
        assert!(
            block.contains("Last message in: <span class=\"last-in\">none yet</span>")
                && block.contains("last message out: <span class=\"last-out\">none yet</span>"),
            "{block}"
        );
    }

    let page = ChannelAddress::new("messenger", "111");
    let at = |hh: u32, mm: u32| {
        chrono::NaiveDate::from_ymd_opt(2026, 3, 1)
            .and_then(|d| d.and_hms_opt(hh, mm, 0))
            .map(|t| t.and_utc().timestamp_millis().to_string())
            .unwrap()
    };
    world.links.put_link(&Link::new(LinkKey::channel_last_in(&page), at(9, 30))).await.unwrap();
    world.links.put_link(&Link::new(LinkKey::channel_last_out(&page), at(9, 41))).await.unwrap();

    let list = browser.get("/admin").await;
    let block = channel_block(&list.body, "messenger:111");
    assert!(block.contains("<span class=\"last-in\">2026-03-01 09:30 UTC</span>"), "{block}");
    assert!(block.contains("<span class=\"last-out\">2026-03-01 09:41 UTC</span>"), "{block}");
    let other = channel_block(&list.body, "instagram:17841400000000111");
    assert!(other.contains("<span class=\"last-in\">none yet</span>"), "{other}");
}

#[tokio::test]
async fn an_existing_inbox_can_be_chosen_and_is_pointed_at_the_bridge() {
    let world = World::start().await;
    let inbox = world.chatwoot.add_api_inbox("Support", Some("https://elsewhere.example/hook"));
    // An attribute the inbox's administrators set, which connecting must keep.
    let patched = reqwest::Client::new()
        .patch(format!("{}api/v1/accounts/1/inboxes/{inbox}", world.chatwoot.url()))
        .header("api_access_token", ADMIN_TOKEN)
        .json(&serde_json::json!({"channel": {"additional_attributes": {"greeting": "kept"}}}))
        .send()
        .await
        .unwrap();
    assert!(patched.status().is_success(), "{patched:?}");
    let mut browser = world.browser();
    browser.sign_in_with_token(ADMIN_TOKEN).await;
    let list = browser.get("/admin").await;
    let started = browser.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    let back = world
        .graph
        .consent(&url::Url::parse(&started.location()).unwrap(), None, true)
        .await
        .unwrap();
    browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    let pick = browser.get("/admin/connect").await;
    let options = pick.options("target:page:111");
    assert!(
        options.contains(&"1:new".to_owned()) && options.contains(&format!("1:{inbox}")),
        "{options:?}"
    );
    assert!(
        !options.iter().any(|o| o.starts_with("2:")),
        "account 2 is not administered: {options:?}"
    );

    let target = format!("1:{inbox}");
    let done = browser
        .post(
            "/admin/connect",
            &[("csrf", &pick.field("csrf")), ("connect", "page:111"), ("target:page:111", &target)],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    assert_eq!(world.stored().await[0].channel.chatwoot.inbox_id, inbox);
    assert!(
        world
            .chatwoot
            .webhook_url(inbox)
            .unwrap()
            .ends_with("/webhooks/chatwoot/bridge-path-token")
    );
    // Chatwoot stops agents where Meta would refuse the reply: 24 hours (the test's
    // setting), the other attribute kept.
    assert_eq!(
        world.chatwoot.inbox(inbox).unwrap().additional_attributes,
        serde_json::json!({"greeting": "kept", "agent_reply_time_window": 24})
    );
}

#[tokio::test]
async fn an_instagram_account_connects_through_instagram_login_with_its_expiry() {
    let world = World::start().await;
    let mut browser = world.browser();
    let list = browser.sign_in_with_token(ADMIN_TOKEN).await;
    let started = browser.post("/admin/instagram/start", &[("csrf", &list.field("csrf"))]).await;
    assert_eq!(started.status, 303, "{}", started.body);
    let back = world
        .graph
        .consent(&url::Url::parse(&started.location()).unwrap(), None, true)
        .await
        .unwrap();
    let picked = browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    assert_eq!(picked.location(), "/admin/connect", "{}", picked.body);
    let pick = browser.get("/admin/connect").await;
    assert!(pick.body.contains("Instagram @acme.direct"), "{}", pick.body);
    let done = browser
        .post(
            "/admin/connect",
            &[
                ("csrf", &pick.field("csrf")),
                ("connect", "igl:17841400000000999"),
                ("target:igl:17841400000000999", "1:new"),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let stored = world.stored().await;
    let ig = &stored[0];
    assert_eq!(ig.channel.address.to_string(), "instagram:17841400000000999");
    assert_eq!(ig.channel.login, LoginKind::Instagram);
    assert!(ig.channel.token_expires_at.is_some(), "a 60-day token");
    assert!(
        world.graph.instagram_token_valid(ig.credentials.access_token.expose()),
        "the long-lived token is stored"
    );
    assert!(world.graph.subscribed_fields("17841400000000999").contains(&"messages".to_owned()));
    // Who granted it: the app-scoped id Instagram's `/me` gives (`id`), for Meta's
    // data-deletion and deauthorize callbacks.
    assert_eq!(
        grant_of(&world, "instagram:17841400000000999").await.as_deref(),
        Some("7017841400000000999")
    );
}

/// The app-scoped Meta user id recorded as having granted `address`'s access.
async fn grant_of(world: &World, address: &str) -> Option<String> {
    use wbots_core::store::{LinkKey, LinkStore};
    let (kind, account) = address.split_once(':').unwrap();
    let address = wbots_core::ChannelAddress::new(kind, account);
    let value = world.links.get_link(&LinkKey::channel_grant(&address)).await.unwrap()?;
    // `{person} {ms}`: who granted it, and when.
    let (person, at) = value.split_once(' ').unwrap();
    assert!(at.parse::<i64>().is_ok(), "{value}");
    Some(person.to_owned())
}

#[tokio::test]
async fn a_flagged_channel_shows_its_reason_and_reconnecting_replaces_the_token() {
    let world = World::start().await;
    let mut browser = world.browser();
    browser.sign_in_with_token(ADMIN_TOKEN).await;
    world.graph.set_person_id("asid-jane-01");
    connect_facebook(&world, &mut browser, &["page:111"], "1:new").await;
    assert_eq!(grant_of(&world, "messenger:111").await.as_deref(), Some("asid-jane-01"));
    let address = world.stored().await[0].channel.address.clone();
    let reason = "Meta refused the token: the password was changed (190/460)";
    world
        .channels
        .set_status(&address, ChannelStatus::Flagged { reason: reason.into() })
        .await
        .unwrap();
    let list = browser.get("/admin").await;
    assert!(
        list.body.contains("needs reconnect") && list.body.contains("the password was changed"),
        "{}",
        list.body
    );

    // Meta gives the Page a new token; someone else of the business reconnects: the grant
    // is theirs now.
    world.graph.add_page("111", "page-token-111-new", Some("17841400000000111"));
    world.graph.set_person_id("asid-joe-02");
    let started = browser
        .post(
            "/admin/channels/reconnect",
            &[("csrf", &list.field("csrf")), ("address", "messenger:111")],
        )
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    let back = world
        .graph
        .consent(&url::Url::parse(&started.location()).unwrap(), None, true)
        .await
        .unwrap();
    let done = browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    assert_eq!(done.location(), "/admin?done=reconnected", "{}", done.body);
    let record = &world.stored().await[0];
    assert_eq!(record.channel.status, ChannelStatus::Active);
    assert_eq!(grant_of(&world, "messenger:111").await.as_deref(), Some("asid-joe-02"));
    assert_eq!(record.credentials.access_token.expose(), "page-token-111-new");
}

#[tokio::test]
async fn disconnecting_unsubscribes_and_stops_serving_the_channel() {
    let world = World::start().await;
    let mut browser = world.browser();
    browser.sign_in_with_token(ADMIN_TOKEN).await;
    let list = connect_facebook(&world, &mut browser, &["page:111"], "1:new").await;
    let done = browser
        .post(
            "/admin/channels/disconnect",
            &[("csrf", &list.field("csrf")), ("address", "messenger:111")],
        )
        .await;
    assert_eq!(done.location(), "/admin?done=disconnected", "{}", done.body);
    assert_eq!(world.stored().await[0].channel.status, ChannelStatus::Disconnected);
    assert_eq!(world.graph.unsubscribed(), ["111"]);
    let list = browser.get("/admin").await;
    assert!(list.body.contains(">disconnected<"), "{}", list.body);
}

#[tokio::test]
async fn password_sign_in_with_mfa_reaches_the_channel_list() {
    let world = World::start().await;
    let mut mfa = support::user("mfa@example.com", "mfa-token", &[(1, "administrator")]);
    mfa.otp_code = Some("123456".into());
    world.chatwoot.add_user(mfa);
    let mut browser = world.browser();
    let form = browser.get("/admin/sign-in").await;
    let csrf = form.field("csrf");
    let step = browser
        .post(
            "/admin/sign-in",
            &[("csrf", &csrf), ("email", "mfa@example.com"), ("password", "S3cret!pass")],
        )
        .await;
    assert_eq!(step.status, 200);
    assert!(step.body.contains("two-factor code"), "{}", step.body);
    assert!(!step.body.contains("S3cret!pass"));
    let wrong = browser
        .post("/admin/sign-in/mfa", &[("csrf", &step.field("csrf")), ("code", "000000")])
        .await;
    assert_eq!(wrong.status, 401);
    let done = browser
        .post("/admin/sign-in/mfa", &[("csrf", &wrong.field("csrf")), ("code", "123456")])
        .await;
    assert_eq!(done.location(), "/admin", "{}", done.body);
    let list = browser.get("/admin").await;
    assert!(list.body.contains("mfa@example.com"), "{}", list.body);
    assert_eq!(world.chatwoot.open_sessions(), 0, "Chatwoot's devise session was closed");
}

#[tokio::test]
async fn into_another_account_the_channel_keeps_the_administrators_token_and_its_inbox_one_webhook()
{
    // The bridge's own account is 9: account 1 is another business's.
    let world = World::start_with(|c| c.bridge_account = 9).await;
    let inbox = world.chatwoot.add_api_inbox("Shop", None);
    let mut browser = world.browser();
    let list = browser.sign_in_with_token(ADMIN_TOKEN).await;
    let started = browser.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    let back = world
        .graph
        .consent(&url::Url::parse(&started.location()).unwrap(), None, true)
        .await
        .unwrap();
    browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    let pick = browser.get("/admin/connect").await;
    let target = format!("1:{inbox}");
    let done = browser
        .post(
            "/admin/connect",
            &[
                ("csrf", pick.field("csrf").as_str()),
                ("connect", "page:111"),
                ("target:page:111", &target),
                ("connect", "ig:17841400000000111"),
                ("target:ig:17841400000000111", &target),
            ],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let stored = world.stored().await;
    assert_eq!(stored.len(), 2);
    for record in &stored {
        assert_eq!(record.channel.chatwoot.account_id, Some(1));
        assert_eq!(
            record.credentials.chatwoot_token.as_ref().map(|t| t.expose()),
            Some(ADMIN_TOKEN)
        );
    }
    let tokens: Vec<_> =
        stored.iter().map(|r| r.credentials.chatwoot_webhook_token.clone().unwrap()).collect();
    assert_eq!(tokens[0], tokens[1], "one inbox, one webhook token");
    let hook = world.chatwoot.webhook_url(inbox).unwrap();
    assert_eq!(hook, format!("{}/webhooks/a1.i{inbox}/{}", world.base, tokens[0].expose()));
}

#[tokio::test]
async fn a_page_without_messaging_access_is_shown_but_cannot_be_ticked() {
    let world = World::start().await;
    world.graph.add_page("222", "page-token-222", None);
    world.graph.set_page_name("222", "Acme Outlet");
    world.graph.set_page_tasks("222", &["ANALYZE", "ADVERTISE"]);
    let mut browser = world.browser();
    let list = browser.sign_in_with_token(ADMIN_TOKEN).await;
    let started = browser.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    let back = world
        .graph
        .consent(&url::Url::parse(&started.location()).unwrap(), None, true)
        .await
        .unwrap();
    browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    let pick = browser.get("/admin/connect").await;
    assert!(
        pick.body.contains("Acme Outlet") && pick.body.contains("MESSAGING and MODERATE"),
        "{}",
        pick.body
    );
    assert!(!pick.body.contains("value=\"page:222\""), "no checkbox for it: {}", pick.body);
    // Forcing it through the form is refused.
    let done = browser
        .post(
            "/admin/connect",
            &[("csrf", &pick.field("csrf")), ("connect", "page:222"), ("target:page:222", "1:new")],
        )
        .await;
    assert_eq!(done.status, 403, "{}", done.body);
    assert!(world.stored().await.is_empty());
}

#[tokio::test]
async fn choosing_other_pages_asks_meta_again_for_what_was_declined() {
    let world = World::start().await;
    let mut browser = world.browser();
    let list = browser.sign_in_with_token(ADMIN_TOKEN).await;
    let started = browser.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    assert!(!started.location().contains("auth_type"), "{}", started.location());
    let back = world
        .graph
        .consent(&url::Url::parse(&started.location()).unwrap(), Some(&[]), true)
        .await
        .unwrap();
    browser.get(&format!("{}?{}", back.path(), back.query().unwrap())).await;
    let pick = browser.get("/admin/connect").await;
    assert!(pick.body.contains("Meta gave no Page"), "{}", pick.body);
    let again = browser
        .post("/admin/meta/start", &[("csrf", &pick.field("csrf")), ("rerequest", "1")])
        .await;
    assert!(again.location().contains("auth_type=rerequest"), "{}", again.location());
}

#[tokio::test]
async fn a_pages_subscription_stays_while_the_other_channel_through_it_is_served() {
    let world = World::start().await;
    let mut browser = world.browser();
    browser.sign_in_with_token(ADMIN_TOKEN).await;
    let list =
        connect_facebook(&world, &mut browser, &["page:111", "ig:17841400000000111"], "1:new")
            .await;
    let csrf = list.field("csrf");
    let ig = browser
        .post(
            "/admin/channels/disconnect",
            &[("csrf", &csrf), ("address", "instagram:17841400000000111")],
        )
        .await;
    assert_eq!(ig.status, 303, "{}", ig.body);
    assert!(world.graph.unsubscribed().is_empty(), "Messenger still needs the Page's subscription");
    assert!(!world.graph.subscribed_fields("111").is_empty());
    browser
        .post("/admin/channels/disconnect", &[("csrf", &csrf), ("address", "messenger:111")])
        .await;
    assert_eq!(world.graph.unsubscribed(), ["111"], "the last channel through the Page is gone");
}

/// A Page's subscription also serves the channels the embedder serves outside the store
/// (the binary's `[[channels]]`): disconnecting the stored Instagram account behind Page 111
/// keeps it while the configured Messenger channel of that Page is served.
#[tokio::test]
async fn a_pages_subscription_stays_while_a_configured_channel_is_reached_through_it() {
    let world = World::start_with(|c| {
        c.other_channels = std::sync::Arc::new(support::Configured(vec![(
            "111".into(),
            wbots_meta::Login::Facebook,
            "messenger:111".into(),
        )]));
    })
    .await;
    let mut browser = world.browser();
    browser.sign_in_with_token(ADMIN_TOKEN).await;
    let list = connect_facebook(&world, &mut browser, &["ig:17841400000000111"], "1:new").await;
    let done = browser
        .post(
            "/admin/channels/disconnect",
            &[("csrf", &list.field("csrf")), ("address", "instagram:17841400000000111")],
        )
        .await;
    assert_eq!(done.location(), "/admin?done=disconnected", "{}", done.body);
    assert_eq!(world.stored().await[0].channel.status, ChannelStatus::Disconnected);
    assert!(world.graph.unsubscribed().is_empty(), "the configured Messenger channel needs it");
    assert!(!world.graph.subscribed_fields("111").is_empty());
}

#[tokio::test]
async fn a_person_demoted_in_chatwoot_loses_the_page_at_their_next_action() {
    let world = World::start().await;
    let mut browser = world.browser();
    browser.sign_in_with_token(ADMIN_TOKEN).await;
    let list = connect_facebook(&world, &mut browser, &["page:111"], "1:new").await;
    // An administrator of account 1 makes Jane an agent; her session is hours from expiring.
    world.chatwoot.set_role("jane@example.com", 1, "agent");
    let refused = browser
        .post(
            "/admin/channels/disconnect",
            &[("csrf", &list.field("csrf")), ("address", "messenger:111")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(world.stored().await[0].channel.status, ChannelStatus::Active);
    assert!(world.graph.unsubscribed().is_empty());
    assert_eq!(browser.get("/admin").await.location(), "/admin/sign-in", "signed out");
}
