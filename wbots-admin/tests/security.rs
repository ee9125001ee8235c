//! The connect page against hostile visitors: markup in names stays text, a forged or
//! replayed `state` and a foreign session's CSRF token are refused, no `next=` redirects
//! off-site, non-administrators cannot connect into an account, sign-in attempts are
//! rate-limited, and every page carries the security headers.

mod support;

use support::{ADMIN_TOKEN, AGENT_TOKEN, World};

const SCRIPT: &str = "<script>alert(1)</script>";

async fn callback_of(world: &World, started: &support::Page) -> String {
    let back = world
        .graph
        .consent(&url::Url::parse(&started.location()).unwrap(), None, true)
        .await
        .unwrap();
    format!("{}?{}", back.path(), back.query().unwrap())
}

#[tokio::test]
async fn a_page_named_like_a_script_renders_as_text() {
    let world = World::start().await;
    world.graph.set_page_name("111", SCRIPT);
    let mut browser = world.browser();
    let list = browser.sign_in_with_token(ADMIN_TOKEN).await;
    let started = browser.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    browser.get(&callback_of(&world, &started).await).await;
    let pick = browser.get("/admin/connect").await;
    assert!(!pick.body.contains(SCRIPT), "{}", pick.body);
    assert!(
        pick.body.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;")
            || pick.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{}",
        pick.body
    );
    // Connected into a new inbox named after it: the list escapes the inbox name too.
    let done = browser
        .post(
            "/admin/connect",
            &[("csrf", &pick.field("csrf")), ("connect", "page:111"), ("target:page:111", "1:new")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    let list = browser.get("/admin").await;
    assert!(list.body.contains("alert(1)") && !list.body.contains(SCRIPT), "{}", list.body);
}

#[tokio::test]
async fn a_forged_replayed_or_foreign_state_is_refused() {
    let world = World::start().await;
    let mut jane = world.browser();
    let list = jane.sign_in_with_token(ADMIN_TOKEN).await;
    let started = jane.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    let callback = callback_of(&world, &started).await;

    // Forged: same code, another state.
    let code = callback.split("code=").nth(1).unwrap().split('&').next().unwrap().to_owned();
    let forged = jane.get(&format!("/admin/meta/callback?code={code}&state=forged")).await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    // A second person, signed in too, cannot use Jane's callback.
    let mut other = world.browser();
    other.sign_in_with_token(ADMIN_TOKEN).await;
    let foreign = other.get(&callback).await;
    assert_eq!(foreign.status, 403, "{}", foreign.body);

    // Jane's own, once; the replay is refused and exchanges no code.
    let first = jane.get(&callback).await;
    assert_eq!(first.location(), "/admin/connect", "{}", first.body);
    let exchanged = world.graph.codes_exchanged();
    let replay = jane.get(&callback).await;
    assert_eq!(replay.status, 403, "{}", replay.body);
    assert_eq!(world.graph.codes_exchanged(), exchanged);

    // Without a session, the callback only leads to sign-in.
    let anonymous = world.browser().get(&callback).await;
    assert_eq!((anonymous.status, anonymous.location().as_str()), (303, "/admin/sign-in"));
    assert!(world.stored().await.is_empty());
}

#[tokio::test]
async fn another_sessions_csrf_token_is_refused() {
    let world = World::start().await;
    let mut jane = world.browser();
    let janes = jane.sign_in_with_token(ADMIN_TOKEN).await.field("csrf");
    let mut other = world.browser();
    let others = other.sign_in_with_token(ADMIN_TOKEN).await.field("csrf");
    assert_ne!(janes, others);
    for path in [
        "/admin/meta/start",
        "/admin/instagram/start",
        "/admin/channels/disconnect",
        "/admin/sign-out",
        "/admin/connect",
    ] {
        let refused = other.post(path, &[("csrf", &janes), ("address", "messenger:111")]).await;
        assert_eq!(refused.status, 403, "{path}: {}", refused.body);
        let missing = other.post(path, &[("address", "messenger:111")]).await;
        assert_eq!(missing.status, 403, "{path} without a token");
    }
    // The sign-in form's token is bound to the visitor's own pre-session cookie.
    let mut visitor = world.browser();
    visitor.get("/admin/sign-in").await;
    let mut attacker = world.browser();
    let attackers = attacker.get("/admin/sign-in").await.field("csrf");
    let forced =
        visitor.post("/admin/sign-in", &[("csrf", &attackers), ("token", ADMIN_TOKEN)]).await;
    assert_eq!(forced.status, 403, "{}", forced.body);
}

#[tokio::test]
async fn no_next_parameter_leads_off_site() {
    let world = World::start().await;
    let mut browser = world.browser();
    let form = browser.get("/admin/sign-in?next=https://evil.example/").await;
    assert!(!form.body.contains("evil.example"));
    let done = browser
        .post(
            "/admin/sign-in?next=https://evil.example/",
            &[("csrf", &form.field("csrf")), ("token", ADMIN_TOKEN), ("next", "//evil.example")],
        )
        .await;
    assert_eq!((done.status, done.location().as_str()), (303, "/admin"));
    let again = browser.get("/admin/sign-in?next=//evil.example").await;
    assert_eq!(again.location(), "/admin", "a signed-in visitor goes to the list, nowhere else");
    let lookup = browser.get("/data-deletion?code=//evil.example").await;
    assert_eq!(lookup.status, 400);
    assert!(lookup.location().is_empty());
    let lookup = browser.get("/data-deletion?code=4f2a9c").await;
    assert_eq!(lookup.location(), "/meta/data-deletion/4f2a9c");
}

#[tokio::test]
async fn a_non_administrator_cannot_connect_into_an_account() {
    let world = World::start().await;
    // An agent gets no session at all.
    let mut agent = world.browser();
    let form = agent.get("/admin/sign-in").await;
    let refused = agent
        .post("/admin/sign-in", &[("csrf", &form.field("csrf")), ("token", AGENT_TOKEN)])
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    assert_eq!(agent.get("/admin").await.location(), "/admin/sign-in");

    // Jane administers account 1 and is an agent in account 2: connecting into 2 is refused.
    let mut jane = world.browser();
    let list = jane.sign_in_with_token(ADMIN_TOKEN).await;
    let started = jane.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    jane.get(&callback_of(&world, &started).await).await;
    let pick = jane.get("/admin/connect").await;
    let into_2 = jane
        .post(
            "/admin/connect",
            &[("csrf", &pick.field("csrf")), ("connect", "page:111"), ("target:page:111", "2:new")],
        )
        .await;
    assert_eq!(into_2.status, 403, "{}", into_2.body);
    assert!(world.stored().await.is_empty());
    assert!(world.chatwoot.inboxes().is_empty(), "no inbox was created");
    assert!(world.graph.subscribed_fields("111").is_empty(), "nothing was subscribed");
}

#[tokio::test]
async fn the_operator_may_restrict_accounts_and_people() {
    let world = World::start_with(|c| c.allowed_accounts = vec![7]).await;
    let mut jane = world.browser();
    let form = jane.get("/admin/sign-in").await;
    let refused =
        jane.post("/admin/sign-in", &[("csrf", &form.field("csrf")), ("token", ADMIN_TOKEN)]).await;
    assert_eq!(refused.status, 403, "account 1 is not among the allowed");

    let world = World::start_with(|c| c.allowed_emails = vec!["boss@example.com".into()]).await;
    let mut jane = world.browser();
    let form = jane.get("/admin/sign-in").await;
    let refused =
        jane.post("/admin/sign-in", &[("csrf", &form.field("csrf")), ("token", ADMIN_TOKEN)]).await;
    assert_eq!(refused.status, 403, "jane is not among the allowed people");
}

#[tokio::test]
async fn password_sign_ins_are_rate_limited_before_chatwoots_own_limit() {
    let world = World::start().await;
    let mut browser = world.browser();
    // Half-filled forms never reach Chatwoot and spend nothing.
    for _ in 0..6 {
        let form = browser.get("/admin/sign-in").await;
        let page = browser
            .post("/admin/sign-in", &[("csrf", &form.field("csrf")), ("password", "guess")])
            .await;
        assert_eq!(page.status, 401, "{}", page.body);
    }
    assert!(world.chatwoot.sign_in_requests().is_empty());
    // A burst of wrong passwords: 3 go to Chatwoot (then one every 150 s: never more than
    // Chatwoot's 5 in any 5 minutes), the rest are refused here.
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let form = browser.get("/admin/sign-in").await;
        let page = browser
            .post(
                "/admin/sign-in",
                &[
                    ("csrf", &form.field("csrf")),
                    ("email", "jane@example.com"),
                    ("password", "guess"),
                ],
            )
            .await;
        assert!(!page.body.contains("guess"), "the password is never echoed");
        statuses.push(page.status);
    }
    assert_eq!(statuses, [401, 401, 401, 429, 429, 429]);
    assert_eq!(world.chatwoot.sign_in_requests().len(), 3, "the refused never reached Chatwoot");
}

#[tokio::test]
async fn every_page_carries_the_security_headers() {
    let world = World::start().await;
    let mut browser = world.browser();
    let list = browser.sign_in_with_token(ADMIN_TOKEN).await;
    let mut pages =
        vec![list, browser.get("/data-deletion").await, browser.get("/admin/nowhere").await];
    pages.push(world.browser().get("/admin/sign-in").await);
    for page in pages {
        let h = |n: &str| {
            page.headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned()
        };
        assert!(h("content-security-policy").contains("frame-ancestors 'none'"), "{page:?}");
        assert_eq!(h("x-content-type-options"), "nosniff");
        assert_eq!(h("referrer-policy"), "no-referrer");
        assert_eq!(h("x-frame-options"), "DENY");
        assert_eq!(h("strict-transport-security"), "", "no HSTS from an http:// public URL");
    }
    // The session cookie is HttpOnly, SameSite and expiring.
    let mut b = world.browser();
    let form = b.get("/admin/sign-in").await;
    let r = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("{}/admin/sign-in", world.base))
        .header(
            "cookie",
            b.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; "),
        )
        .form(&[("csrf", form.field("csrf").as_str()), ("token", ADMIN_TOKEN)])
        .send()
        .await
        .unwrap();
    let set: Vec<String> =
        r.headers().get_all("set-cookie").iter().map(|v| v.to_str().unwrap().to_owned()).collect();
    let session = set.iter().find(|c| c.starts_with("wbots_admin=")).unwrap();
    assert!(
        session.contains("HttpOnly")
            && session.contains("SameSite=Lax")
            && session.contains("Max-Age=")
            && session.contains("Path=/admin"),
        "{session}"
    );
    assert!(!session.contains(ADMIN_TOKEN), "the cookie holds no token");
}

#[tokio::test]
async fn a_new_inbox_in_another_account_never_shows_the_bridges_webhook_token() {
    // The bridge's own account is 5; Jane administers account 1 (the fake's one account),
    // another business's.
    let world = World::start_with(|c| c.bridge_account = 5).await;
    let mut jane = world.browser();
    let list = jane.sign_in_with_token(ADMIN_TOKEN).await;
    let started = jane.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    jane.get(&callback_of(&world, &started).await).await;
    let pick = jane.get("/admin/connect").await;
    let done = jane
        .post(
            "/admin/connect",
            &[("csrf", &pick.field("csrf")), ("connect", "page:111"), ("target:page:111", "1:new")],
        )
        .await;
    assert_eq!(done.status, 303, "{}", done.body);
    // Account 1's administrators can read every URL the inbox was ever given: none of them
    // carries the token of the bridge's own account, not even the one it was created with.
    let given = world.chatwoot.webhook_urls_given();
    assert!(!given.is_empty());
    for (_, url) in &given {
        assert!(!url.contains("bridge-path-token"), "{given:?}");
    }
    let stored = world.stored().await;
    let inbox = stored[0].channel.chatwoot.inbox_id;
    let own = stored[0].credentials.chatwoot_webhook_token.as_ref().unwrap().expose().to_owned();
    assert_eq!(
        world.chatwoot.webhook_url(inbox).unwrap(),
        format!("{}/webhooks/a1.i{inbox}/{own}", world.base)
    );
}

#[tokio::test]
async fn a_channel_into_another_chatwoot_installation_is_not_managed_here() {
    use wbots_core::store::{ChannelStatus, ChatwootTarget, ConnectedChannel, Credentials};
    let world = World::start().await;
    // Stored by `wbots channels add --chatwoot-url … --chatwoot-account 1`: account 1 of
    // another installation, which Jane (administrator of account 1 here) has nothing to do
    // with.
    let channel = ConnectedChannel {
        address: wbots_core::ChannelAddress::new("messenger", "222"),
        page_id: None,
        login: wbots_core::store::LoginKind::Facebook,
        chatwoot: ChatwootTarget {
            url: Some(url::Url::parse("https://other-chatwoot.example/").unwrap()),
            account_id: Some(1),
            inbox_id: 7,
        },
        status: ChannelStatus::Active,
        token_expires_at: None,
        connected_by: "operator".into(),
        connected_at: chrono::Utc::now(),
    };
    let credentials = Credentials {
        access_token: wbots_core::Secret::new("page-token-222"),
        chatwoot_token: Some(wbots_core::Secret::new("other-installation-token")),
        chatwoot_webhook_token: None,
    };
    world.channels.add(&channel, &credentials).await.unwrap();

    let mut jane = world.browser();
    let list = jane.sign_in_with_token(ADMIN_TOKEN).await;
    assert!(!list.body.contains("messenger:222"), "{}", list.body);
    let refused = jane
        .post(
            "/admin/channels/disconnect",
            &[("csrf", &list.field("csrf")), ("address", "messenger:222")],
        )
        .await;
    assert_eq!(refused.status, 403, "{}", refused.body);
    let stored = world.stored().await;
    assert_eq!(stored[0].channel.status, ChannelStatus::Active);
    assert_eq!(stored[0].credentials.access_token.expose(), "page-token-222");
}

#[tokio::test]
async fn an_oversized_form_is_refused_before_it_is_read() {
    let world = World::start().await;
    let mut browser = world.browser();
    let form = browser.get("/admin/sign-in").await;
    let huge = "x".repeat(100 * 1024);
    let refused = browser
        .post(
            "/admin/sign-in",
            &[("csrf", &form.field("csrf")), ("email", &huge), ("password", "p")],
        )
        .await;
    assert_eq!(refused.status, 413, "{}", refused.body);
    assert!(world.chatwoot.sign_in_requests().is_empty());
}

#[tokio::test]
async fn a_page_from_the_configuration_or_a_forged_inbox_is_not_connected() {
    let world = World::start().await;
    // Page 900 is served from the bridge's `[[channels]]` (see `support`).
    world.graph.add_page("900", "page-token-900", None);
    world.graph.set_page_name("900", "Configured Shop");
    let mut jane = world.browser();
    let list = jane.sign_in_with_token(ADMIN_TOKEN).await;
    let started = jane.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    jane.get(&callback_of(&world, &started).await).await;
    let pick = jane.get("/admin/connect").await;
    let configured = jane
        .post(
            "/admin/connect",
            &[("csrf", &pick.field("csrf")), ("connect", "page:900"), ("target:page:900", "1:new")],
        )
        .await;
    assert!(configured.body.contains("configuration file serves it"), "{}", configured.body);

    let started = jane.post("/admin/meta/start", &[("csrf", &list.field("csrf"))]).await;
    jane.get(&callback_of(&world, &started).await).await;
    let pick = jane.get("/admin/connect").await;
    // No inbox 999 in account 1 (the pick page offers only the account's API inboxes).
    let forged = jane
        .post(
            "/admin/connect",
            &[("csrf", &pick.field("csrf")), ("connect", "page:111"), ("target:page:111", "1:999")],
        )
        .await;
    assert!(forged.body.contains("inbox 999 is not an API inbox"), "{}", forged.body);
    assert!(world.stored().await.is_empty());
    assert!(world.chatwoot.inboxes().is_empty(), "no inbox was created");
    assert!(world.graph.subscribed_fields("900").is_empty());
    assert!(world.graph.subscribed_fields("111").is_empty(), "nothing was subscribed");
}

#[tokio::test]
async fn pages_served_over_https_tell_browsers_to_keep_to_https() {
    // The public URL is what the operator's proxy serves (TLS ends there): HTTPS here.
    let world =
        World::start_with(|c| c.public_url = url::Url::parse("https://bridge.example/").unwrap())
            .await;
    for path in ["/admin/sign-in", "/admin/nowhere"] {
        let page = world.browser().get(path).await;
        let hsts = page.headers.get("strict-transport-security").and_then(|v| v.to_str().ok());
        assert_eq!(hsts, Some("max-age=31536000"), "{path}: {page:?}");
    }
}
