//! The channel store conformance suite: the [`ChannelStore`] contract, and sealed
//! credentials ([`SealedChannels`]) over it, checked the same way on every backend.
//!
//! ```no_run
//! wbots_core::channel_store_conformance_tests!(async { wbots_core::store::MemoryStore::new() });
//! # fn main() {}
//! ```
//! The argument is a future of a fresh, migrated, empty store (or `Option` of one, `None`
//! where its server is missing); it is awaited once per check. Every store error is
//! returned from the check and fails the test.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use url::Url;

use crate::store::{
    ChannelChange, ChannelError, ChannelStatus, ChannelStore, ChatwootTarget, ConnectedChannel,
    Credentials, LoginKind, Revision, SealedChannels, SealedCredentials,
};
use crate::{ChannelAddress, KeyRing, SealError, Secret};

/// The store under test, as every check takes it.
pub type Shared = Arc<dyn ChannelStore>;

/// A Messenger channel with every optional field set.
pub fn channel(kind: &str, account: &str) -> ConnectedChannel {
    ConnectedChannel {
        address: ChannelAddress::new(kind, account),
        page_id: Some(format!("page-of-{account}")),
        login: LoginKind::Instagram,
        chatwoot: ChatwootTarget {
            url: Url::parse("https://chat.example.com/").ok(),
            account_id: Some(7),
            inbox_id: 42,
        },
        status: ChannelStatus::Active,
        token_expires_at: Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).single(),
        connected_by: "ops@example.com".to_owned(),
        connected_at: Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).single().unwrap_or_else(Utc::now),
    }
}

/// Credentials whose tokens are easy to search for in bytes.
pub fn credentials(tag: &str) -> Credentials {
    Credentials {
        access_token: Secret::new(format!("EAAB-meta-token-{tag}-0123456789")),
        chatwoot_token: Some(Secret::new(format!("cw-token-{tag}-0123456789"))),
        chatwoot_webhook_token: Some(Secret::new(format!("cw-hook-{tag}-0123456789"))),
    }
}

fn ring(keys: &[&Secret]) -> Arc<KeyRing> {
    match KeyRing::new(keys.iter().copied()) {
        Ok(ring) => Arc::new(ring),
        Err(e) => panic!("a generated key was refused: {e}"),
    }
}

fn sealed(store: &Shared, keys: &[&Secret]) -> SealedChannels<Shared> {
    SealedChannels::new(store.clone(), ring(keys))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

/// A channel comes back as stored, every field and both tokens; the store holds the
/// credentials sealed (neither token in its bytes), and nothing prints a token.
pub async fn a_channel_round_trips_with_its_credentials_sealed(
    store: Shared,
) -> Result<(), ChannelError> {
    let vault = sealed(&store, &[&KeyRing::generate_key()]);
    let full = channel("messenger", "1001");
    let bare = ConnectedChannel {
        page_id: None,
        login: LoginKind::Facebook,
        chatwoot: ChatwootTarget { url: None, account_id: None, inbox_id: 3 },
        token_expires_at: None,
        ..channel("instagram", "2002")
    };
    let creds = credentials("full");
    let bare_creds =
        Credentials { chatwoot_token: None, chatwoot_webhook_token: None, ..credentials("bare") };
    let first = vault.add(&full, &creds).await?;
    let second = vault.add(&bare, &bare_creds).await?;
    assert!(second > first, "revisions increase: {first} then {second}");

    let Some(got) = vault.get(&full.address).await? else { panic!("the channel is gone") };
    assert_eq!((got.channel, got.credentials, got.revision), (full.clone(), creds.clone(), first));
    let Some(got) = vault.get(&bare.address).await? else { panic!("the bare channel is gone") };
    assert_eq!((got.channel, got.credentials), (bare, bare_creds));

    let Some(raw) = store.channel(&full.address).await? else { panic!("not in the store") };
    let bytes = raw.credentials.as_bytes();
    assert!(!contains(bytes, creds.access_token.expose()), "the Meta token is stored sealed");
    let chatwoot = creds.chatwoot_token.as_ref().map_or("", Secret::expose);
    assert!(!contains(bytes, chatwoot), "the Chatwoot token is stored sealed");
    let printed = format!("{raw:?} {:?}", vault.list().await?);
    assert!(!printed.contains("meta-token") && !printed.contains("cw-token"), "{printed}");
    Ok(())
}

/// An update needs the revision it was based on: the first writer wins, a stale one is
/// refused and changes nothing; an unknown channel is `NotFound`, a second insert `Exists`.
pub async fn updates_need_the_revision_they_read(store: Shared) -> Result<(), ChannelError> {
    let vault = sealed(&store, &[&KeyRing::generate_key()]);
    let mut ch = channel("messenger", "1");
    let read = vault.add(&ch, &credentials("a")).await?;
    ch.chatwoot.inbox_id = 99;
    ch.page_id = None;
    let updated = vault.update(read, &ch, &credentials("b")).await?;
    assert!(updated > read);

    let mut stale = ch.clone();
    stale.chatwoot.inbox_id = 1;
    let refused = vault.update(read, &stale, &credentials("c")).await;
    assert!(matches!(refused, Err(ChannelError::Stale(_))), "{refused:?}");
    let Some(now) = vault.get(&ch.address).await? else { panic!("gone") };
    assert_eq!(
        (now.channel, now.credentials, now.revision),
        (ch.clone(), credentials("b"), updated)
    );

    let unknown = vault.update(updated, &channel("messenger", "404"), &credentials("x")).await;
    assert!(matches!(unknown, Err(ChannelError::NotFound(_))), "{unknown:?}");
    let again = vault.add(&ch, &credentials("d")).await;
    assert!(matches!(again, Err(ChannelError::Exists(_))), "{again:?}");
    Ok(())
}

/// A channel is flagged with its reason, disconnected and made active again; nothing else
/// changes, and no key is needed to do it.
pub async fn status_changes_keep_everything_else(store: Shared) -> Result<(), ChannelError> {
    let key = KeyRing::generate_key();
    let vault = sealed(&store, &[&key]);
    let ch = channel("instagram", "17841");
    vault.add(&ch, &credentials("s")).await?;
    // Another key's ring: status changes never open the credentials.
    let other = sealed(&store, &[&KeyRing::generate_key()]);
    for status in [
        ChannelStatus::Flagged { reason: "token refused (190)".to_owned() },
        ChannelStatus::Disconnected,
        ChannelStatus::Active,
    ] {
        let revision = other.set_status(&ch.address, status.clone()).await?;
        let Some(now) = vault.get(&ch.address).await? else { panic!("gone") };
        assert_eq!(now.channel, ConnectedChannel { status, ..ch.clone() });
        assert_eq!((now.credentials, now.revision), (credentials("s"), revision));
    }
    let missing = vault.set_status(&channel("messenger", "0").address, ChannelStatus::Active).await;
    assert!(matches!(missing, Err(ChannelError::NotFound(_))), "{missing:?}");
    Ok(())
}

/// Racing writers: of eight inserts of one address one wins; of eight updates based on the
/// same revision one wins and seven are `Stale`; eight status changes all land, each with
/// its own revision. Every racer's outcome counts — an error or a panic fails the check.
pub async fn concurrent_writers_get_one_winner_per_revision(
    store: Shared,
) -> Result<(), ChannelError> {
    let vault = Arc::new(sealed(&store, &[&KeyRing::generate_key()]));
    let ch = channel("messenger", "race");
    let mut inserts = Vec::new();
    for i in 0..8 {
        let (vault, ch) = (vault.clone(), ch.clone());
        inserts
            .push(tokio::spawn(async move { vault.add(&ch, &credentials(&i.to_string())).await }));
    }
    let (mut won, mut exists) = (Vec::new(), 0);
    for task in inserts {
        match joined(task).await {
            Ok(revision) => won.push(revision),
            Err(ChannelError::Exists(_)) => exists += 1,
            Err(e) => return Err(e),
        }
    }
    assert_eq!((won.len(), exists), (1, 7), "one insert wins");

    let read = won[0];
    let mut updates = Vec::new();
    for i in 0..8u64 {
        let (vault, mut ch) = (vault.clone(), ch.clone());
        ch.chatwoot.inbox_id = 100 + i;
        updates.push(tokio::spawn(async move { vault.update(read, &ch, &credentials("u")).await }));
    }
    let (mut won, mut stale) = (0, 0);
    for task in updates {
        match joined(task).await {
            Ok(_) => won += 1,
            Err(ChannelError::Stale(_)) => stale += 1,
            Err(e) => return Err(e),
        }
    }
    assert_eq!((won, stale), (1, 7), "one update per revision");

    let mut flags = Vec::new();
    for i in 0..8 {
        let (vault, address) = (vault.clone(), ch.address.clone());
        let status = ChannelStatus::Flagged { reason: format!("flag {i}") };
        flags.push(tokio::spawn(async move { vault.set_status(&address, status).await }));
    }
    let mut revisions = HashSet::new();
    for task in flags {
        revisions.insert(joined(task).await?);
    }
    assert_eq!(revisions.len(), 8, "every status change lands with its own revision");
    let Some(now) = vault.get(&ch.address).await? else { panic!("gone") };
    assert_eq!(
        Some(now.revision),
        revisions.iter().max().copied(),
        "the last change is what is stored"
    );
    assert!(now.channel.status.reason().is_some_and(|r| r.starts_with("flag ")));
    Ok(())
}

async fn joined<T>(task: tokio::task::JoinHandle<T>) -> T {
    match task.await {
        Ok(out) => out,
        Err(e) => std::panic::resume_unwind(e.into_panic()),
    }
}

/// Channels are listed by kind, then account id in byte order; removed ones are not.
pub async fn listing_is_by_address_and_skips_removed(store: Shared) -> Result<(), ChannelError> {
    let vault = sealed(&store, &[&KeyRing::generate_key()]);
    for (kind, account) in
        [("messenger", "2"), ("messenger", "10"), ("instagram", "9"), ("messenger", "1")]
    {
        vault.add(&channel(kind, account), &credentials(account)).await?;
    }
    vault.remove(&ChannelAddress::new("messenger", "2")).await?;
    let listed: Vec<String> =
        vault.list().await?.iter().map(|r| r.channel.address.to_string()).collect();
    assert_eq!(listed, ["instagram:9", "messenger:1", "messenger:10"]);
    assert_eq!(store.channels().await?.len(), 3);
    Ok(())
}

/// A poller asking "what changed since the revision I saw" gets every channel that changed,
/// once, as it is now (a removal as `Removed`), in revision order, and where to ask from
/// next.
pub async fn changes_since_tell_a_poller_everything(store: Shared) -> Result<(), ChannelError> {
    let vault = sealed(&store, &[&KeyRing::generate_key()]);
    let start = vault.changes_since(Revision(0)).await?;
    assert!(start.changes.is_empty(), "a fresh store has no changes: {:?}", start.changes);
    let (a, b) = (channel("messenger", "a"), channel("messenger", "b"));
    let ra = vault.add(&a, &credentials("a")).await?;
    let rb = vault.add(&b, &credentials("b")).await?;
    let seen = vault.changes_since(start.revision).await?;
    let got: Vec<(String, Revision)> = seen
        .changes
        .iter()
        .map(|c| match c {
            ChannelChange::Stored(r) => (r.channel.address.to_string(), r.revision),
            ChannelChange::Removed { address, revision } => (format!("-{address}"), *revision),
        })
        .collect();
    assert_eq!(got, [("messenger:a".to_owned(), ra), ("messenger:b".to_owned(), rb)]);
    assert_eq!(seen.revision, rb);

    let flagged = vault
        .set_status(&a.address, ChannelStatus::Flagged { reason: "expired".to_owned() })
        .await?;
    let ra2 = vault.update(flagged, &a, &credentials("a2")).await?;
    assert!(vault.remove(&b.address).await?);
    let next = vault.changes_since(seen.revision).await?;
    assert_eq!(next.changes.len(), 2, "a once, as it is now, and b's removal: {:?}", next.changes);
    match &next.changes[0] {
        ChannelChange::Stored(r) => {
            assert_eq!((&r.channel, &r.credentials, r.revision), (&a, &credentials("a2"), ra2));
        }
        other => panic!("expected a as stored, got {other:?}"),
    }
    let ChannelChange::Removed { address, revision } = &next.changes[1] else {
        panic!("expected b removed, got {:?}", next.changes[1]);
    };
    assert_eq!(address, &b.address);
    assert!(*revision > ra2);
    assert_eq!(next.revision, *revision);
    let none = vault.changes_since(next.revision).await?;
    assert!(none.changes.is_empty());
    assert_eq!(none.revision, next.revision, "nothing new: ask from the same revision");
    Ok(())
}

/// Removing a channel forgets it and its credentials; its address can be connected again.
pub async fn removal_forgets_and_frees_the_address(store: Shared) -> Result<(), ChannelError> {
    let vault = sealed(&store, &[&KeyRing::generate_key()]);
    let ch = channel("instagram", "gone");
    let first = vault.add(&ch, &credentials("1")).await?;
    assert!(vault.remove(&ch.address).await?, "it was stored");
    assert!(!vault.remove(&ch.address).await?, "it is gone");
    assert!(vault.get(&ch.address).await?.is_none());
    assert!(store.channel(&ch.address).await?.is_none());
    let stale = vault.update(first, &ch, &credentials("2")).await;
    assert!(matches!(stale, Err(ChannelError::NotFound(_))), "{stale:?}");
    let again = vault.add(&ch, &credentials("3")).await?;
    assert!(again > first);
    let Some(back) = vault.get(&ch.address).await? else { panic!("not connected again") };
    assert_eq!(back.credentials, credentials("3"));
    Ok(())
}

/// Key rotation: with the new key first and the old one kept, old credentials open;
/// `rekey` reseals them with the new key; then the old key can go. A ring without the key
/// that sealed them is a clear error.
pub async fn keys_rotate_with_rekey(store: Shared) -> Result<(), ChannelError> {
    let (old, new) = (KeyRing::generate_key(), KeyRing::generate_key());
    let before = sealed(&store, &[&old]);
    let ch = channel("messenger", "rotating");
    before.add(&ch, &credentials("r")).await?;
    before.add(&channel("messenger", "other"), &credentials("o")).await?;

    let both = sealed(&store, &[&new, &old]);
    assert_eq!(both.get(&ch.address).await?.map(|r| r.credentials), Some(credentials("r")));
    let done = both.rekey().await?;
    assert_eq!((done.resealed, done.current), (2, 0));
    let again = both.rekey().await?;
    assert_eq!((again.resealed, again.current), (0, 2), "a second rekey has nothing to do");

    let after = sealed(&store, &[&new]);
    assert_eq!(after.get(&ch.address).await?.map(|r| r.credentials), Some(credentials("r")));
    let lost = before.get(&ch.address).await;
    assert!(
        matches!(lost, Err(ChannelError::Credentials { source: SealError::UnknownKey(_), .. })),
        "{lost:?}"
    );
    Ok(())
}

/// The wrong key is a clear error that names the channel and the key id, never a key or a
/// token.
pub async fn a_wrong_key_is_a_clear_error(store: Shared) -> Result<(), ChannelError> {
    let (right, wrong) = (KeyRing::generate_key(), KeyRing::generate_key());
    let ch = channel("messenger", "locked");
    sealed(&store, &[&right]).add(&ch, &credentials("w")).await?;
    let Err(e) = sealed(&store, &[&wrong]).list().await else {
        panic!("opened with the wrong key");
    };
    let text = format!("{e} / {e:?}");
    assert!(
        text.contains("messenger:locked") && text.contains("not among the configured keys"),
        "{text}"
    );
    for secret in [right.expose(), wrong.expose(), "meta-token", "cw-token"] {
        assert!(!text.contains(secret), "the error shows a secret: {text}");
    }
    // Listed one by one, the channel the key cannot open does not hide one it can.
    let open = channel("messenger", "open");
    sealed(&store, &[&wrong]).add(&open, &credentials("o")).await?;
    let each = sealed(&store, &[&wrong]).list_each().await?;
    let opened: Vec<String> =
        each.iter().flatten().map(|r| r.channel.address.to_string()).collect();
    assert_eq!(opened, ["messenger:open"], "{each:?}");
    assert_eq!(each.iter().filter(|r| r.is_err()).count(), 1, "{each:?}");
    Ok(())
}

/// Sealed credentials that were altered, or copied from another channel, are refused.
pub async fn altered_credentials_are_refused(store: Shared) -> Result<(), ChannelError> {
    let vault = sealed(&store, &[&KeyRing::generate_key()]);
    let (a, b) = (channel("messenger", "a"), channel("messenger", "b"));
    vault.add(&a, &credentials("a")).await?;
    vault.add(&b, &credentials("b")).await?;
    let (Some(raw_a), Some(raw_b)) =
        (store.channel(&a.address).await?, store.channel(&b.address).await?)
    else {
        panic!("stored channels are missing");
    };
    let mut flipped = raw_a.credentials.as_bytes().to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x40;
    let altered = SealedCredentials::from_bytes(flipped);
    let revision = store.update_channel(raw_a.revision, &a, &altered).await?;
    let refused = vault.get(&a.address).await;
    assert!(
        matches!(refused, Err(ChannelError::Credentials { source: SealError::Rejected(_), .. })),
        "altered: {refused:?}"
    );
    store.update_channel(revision, &a, &raw_b.credentials).await?;
    let refused = vault.get(&a.address).await;
    assert!(
        matches!(refused, Err(ChannelError::Credentials { source: SealError::Rejected(_), .. })),
        "b's credentials on a: {refused:?}"
    );
    Ok(())
}

/// Runs a check on a runtime with two worker threads, so racing writers really race.
#[doc(hidden)]
pub fn __run<F: std::future::Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => panic!("could not start a tokio runtime for the check: {e}"),
    }
}

/// What the factory of [`channel_store_conformance_tests!`](crate::channel_store_conformance_tests)
/// may give: a store, or `None` where its server is missing (each check then returns at
/// once).
pub trait FreshChannelStore {
    /// The store under test.
    type Store: ChannelStore + 'static;
    /// The store, if there is one.
    fn into_store(self) -> Option<Self::Store>;
}

impl<S: ChannelStore + 'static> FreshChannelStore for S {
    type Store = S;
    fn into_store(self) -> Option<S> {
        Some(self)
    }
}

impl<S: ChannelStore + 'static> FreshChannelStore for Option<S> {
    type Store = S;
    fn into_store(self) -> Option<S> {
        self
    }
}

/// Expands to one test per channel store check; the argument is evaluated once per test.
#[macro_export]
macro_rules! channel_store_conformance_tests {
    ($fresh:expr) => {
        $crate::__channel_store_check!($fresh, a_channel_round_trips_with_its_credentials_sealed);
        $crate::__channel_store_check!($fresh, updates_need_the_revision_they_read);
        $crate::__channel_store_check!($fresh, status_changes_keep_everything_else);
        $crate::__channel_store_check!($fresh, concurrent_writers_get_one_winner_per_revision);
        $crate::__channel_store_check!($fresh, listing_is_by_address_and_skips_removed);
        $crate::__channel_store_check!($fresh, changes_since_tell_a_poller_everything);
        $crate::__channel_store_check!($fresh, removal_forgets_and_frees_the_address);
        $crate::__channel_store_check!($fresh, keys_rotate_with_rekey);
        $crate::__channel_store_check!($fresh, a_wrong_key_is_a_clear_error);
        $crate::__channel_store_check!($fresh, altered_credentials_are_refused);
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __channel_store_check {
    ($fresh:expr, $check:ident) => {
        #[test]
        fn $check() {
            $crate::testkit::channel_store_suite::__run(async {
                let Some(store) =
                    $crate::testkit::channel_store_suite::FreshChannelStore::into_store(
                        $fresh.await,
                    )
                else {
                    return;
                };
                let store: $crate::testkit::channel_store_suite::Shared =
                    ::std::sync::Arc::new(store);
                if let Err(e) = $crate::testkit::channel_store_suite::$check(store).await {
                    panic!("{}: the store failed: {e:?}", stringify!($check));
                }
            });
        }
    };
}
