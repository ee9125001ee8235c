//! Signing people in with their Chatwoot identity (`people::People`) against the
//! FakeChatwoot, which keeps Chatwoot's rules (chatwoot-signin-and-sweep.md §1-§3, §7), and
//! the exact requests against wiremock.

use wbots_chatwoot::people::{People, SignIn};
use wbots_core::{DeliveryErrorKind, Secret};
use wbots_fakes::chatwoot::{FakeChatwoot, FakeUser};
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn user(email: &str, token: &str, otp: Option<&str>, role: &str) -> FakeUser {
    FakeUser {
        email: email.into(),
        password: "S3cret!pass".into(),
        access_token: token.into(),
        name: "Jane Doe".into(),
        otp_code: otp.map(str::to_owned),
        accounts: vec![
            (1, "Acme Support".into(), role.into()),
            (2, "Acme Sales".into(), "agent".into()),
        ],
    }
}

async fn chatwoot() -> (FakeChatwoot, People) {
    let fake = FakeChatwoot::start("service-token", 1).await.unwrap();
    fake.add_user(user("jane@example.com", "jane-token", None, "administrator"));
    fake.add_user(user("mfa@example.com", "mfa-token", Some("123456"), "administrator"));
    fake.add_user(user("agent@example.com", "agent-token", None, "agent"));
    let people = People::new(fake.url().clone()).unwrap();
    (fake, people)
}

#[tokio::test]
async fn a_password_sign_in_gives_the_person_their_roles_and_closes_its_session() {
    let (fake, people) = chatwoot().await;
    let SignIn::Done(jane) =
        people.sign_in(" Jane@Example.com", &Secret::new("S3cret!pass")).await.unwrap()
    else {
        panic!("no MFA for Jane")
    };
    assert_eq!(jane.access_token.expose(), "jane-token");
    let admin: Vec<u64> =
        jane.accounts.iter().filter(|a| a.is_administrator()).map(|a| a.id).collect();
    assert_eq!(admin, [1], "administrator of account 1 only");
    assert_eq!(fake.open_sessions(), 0, "the devise session is signed out at once");

    let e = people.sign_in("jane@example.com", &Secret::new("wrong")).await.unwrap_err();
    assert_eq!((e.kind(), e.is_permanent()), (DeliveryErrorKind::Unauthorized, true));
    assert!(!e.to_string().contains("wrong"), "{e}");
}

#[tokio::test]
async fn mfa_takes_a_second_step_with_the_code() {
    let (_fake, people) = chatwoot().await;
    let first = people.sign_in("mfa@example.com", &Secret::new("S3cret!pass")).await.unwrap();
    let SignIn::MfaRequired { mfa_token } = first else { panic!("MFA expected") };
    let e = people.verify_mfa(&mfa_token, "000000").await.unwrap_err();
    assert!(e.is_permanent(), "{e}");
    let person = people.verify_mfa(&mfa_token, "123456").await.unwrap();
    assert_eq!(person.access_token.expose(), "mfa-token");
    let e = people.verify_mfa(&Secret::new("forged"), "123456").await.unwrap_err();
    assert_eq!(e.kind(), DeliveryErrorKind::Unauthorized);
}

#[tokio::test]
async fn the_profile_names_the_token_holder_and_only_administrators_create_inboxes() {
    let (fake, people) = chatwoot().await;
    let agent = people.profile(&Secret::new("agent-token")).await.unwrap();
    assert!(agent.accounts.iter().all(|a| !a.is_administrator()));
    let e = people.profile(&Secret::new("nobody")).await.unwrap_err();
    assert_eq!(e.kind(), DeliveryErrorKind::Unauthorized);

    let e = people
        .create_inbox(&Secret::new("agent-token"), 1, "Shop", "https://b/w")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), DeliveryErrorKind::Unauthorized);
    let made =
        people.create_inbox(&Secret::new("jane-token"), 1, "Shop", "https://b/w").await.unwrap();
    assert_eq!(fake.webhook_url(made.id).as_deref(), Some("https://b/w"));
    let pointed =
        people.point_inbox(&Secret::new("jane-token"), 1, made.id, "https://b/x").await.unwrap();
    assert_eq!(pointed.webhook_url.as_deref(), Some("https://b/x"));
    let listed = people.inboxes(&Secret::new("jane-token"), 1).await.unwrap();
    assert!(listed.iter().any(|i| i.id == made.id && i.name == "Shop"));
}

#[tokio::test]
async fn rack_attack_throttling_reads_as_a_temporary_rate_limit() {
    let (fake, people) = chatwoot().await;
    fake.throttle_sign_ins(true);
    for _ in 0..5 {
        people.sign_in("jane@example.com", &Secret::new("S3cret!pass")).await.unwrap();
    }
    let e = people.sign_in("jane@example.com", &Secret::new("S3cret!pass")).await.unwrap_err();
    assert_eq!((e.kind(), e.is_temporary()), (DeliveryErrorKind::RateLimited, true));
}

#[tokio::test]
async fn sign_in_posts_json_and_the_mfa_step_a_form() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/auth/sign_in"))
        .and(header("content-type", "application/json"))
        .and(body_string(r#"{"email":"a@b.c","password":"pw"}"#))
        .respond_with(
            ResponseTemplate::new(206)
                .set_body_string(r#"{"mfa_required":true,"mfa_token":"jwt"}"#),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/auth/sign_in"))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(body_string("mfa_token=jwt&otp_code=123456"))
        .respond_with(ResponseTemplate::new(200).set_body_string(
            r#"{"data":{"id":5,"name":"A","email":"a@b.c","access_token":"t","accounts":[{"id":1,"name":"X","role":"administrator"}]}}"#,
        ))
        .expect(1)
        .mount(&server)
        .await;
    let people = People::new(server.uri().parse().unwrap()).unwrap();
    let SignIn::MfaRequired { mfa_token } =
        people.sign_in("a@b.c", &Secret::new("pw")).await.unwrap()
    else {
        panic!("206 is the MFA step")
    };
    let person = people.verify_mfa(&mfa_token, "123456").await.unwrap();
    assert!(person.accounts[0].is_administrator(), "no status reads as active");
}
