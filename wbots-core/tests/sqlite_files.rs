//! The SQLite store's files as an operator or an attacker sees them on disk: who may read
//! them, which process owns them, and whether a forgotten person's id is still in them.
#![cfg(feature = "sqlite")]

use std::path::{Path, PathBuf};
use std::time::Duration;

use wbots_core::StoreError;
use wbots_core::store::{JobQueue, Link, LinkKey, LinkWrite, NewJob, SqliteStore, Store};
use wbots_core::testkit::store_suite::{job, t0};
use wbots_core::{ChannelAddress, ChannelKind};

fn url(db: &Path) -> String {
    format!("sqlite://{}", db.display())
}

fn with_suffix(db: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", db.display()))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_database_and_its_journal_files_are_the_owners_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wbots.db");
    let store = SqliteStore::connect_exclusive(&url(&db)).await.unwrap();
    store.migrate().await.unwrap();
    store.enqueue(&[job("a", "k")]).await.unwrap();
    for file in
        [db.clone(), with_suffix(&db, "-wal"), with_suffix(&db, "-shm"), with_suffix(&db, ".lock")]
    {
        assert_eq!(mode(&file), 0o600, "{}", file.display());
    }
}

#[cfg(unix)]
#[tokio::test]
async fn files_an_older_version_left_readable_are_tightened() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("old.db");
    {
        let store = SqliteStore::connect(&url(&db)).await.unwrap();
        store.migrate().await.unwrap();
        store.enqueue(&[job("a", "k")]).await.unwrap();
        // Kept open, so its -wal and -shm stay, as after a crash.
        for file in [db.clone(), with_suffix(&db, "-wal"), with_suffix(&db, "-shm")] {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        let reopened = SqliteStore::connect(&url(&db)).await.unwrap();
        reopened.ping().await.unwrap();
        for file in [db.clone(), with_suffix(&db, "-wal"), with_suffix(&db, "-shm")] {
            assert_eq!(mode(&file), 0o600, "{}", file.display());
        }
    }
}

#[tokio::test]
async fn a_second_serving_process_is_refused_until_the_first_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wbots.db");
    let first = SqliteStore::connect_exclusive(&url(&db)).await.unwrap();
    first.migrate().await.unwrap();
    first.enqueue(&[job("a", "k")]).await.unwrap();
    let held = first.claim(t0(), Duration::from_secs(3600), 1).await.unwrap();
    assert_eq!(held.len(), 1);

    let refused = SqliteStore::connect_exclusive(&url(&db)).await;
    match refused {
        Err(StoreError::InUse(why)) => {
            assert!(why.contains("wbots.db.lock"), "names the lock file: {why}");
            assert!(why.contains("one"), "says why: {why}");
        }
        other => panic!("a second serving store must be refused: {other:?}"),
    }
    // Operators' tools read and write beside the serving process.
    let tool = SqliteStore::connect(&url(&db)).await.unwrap();
    assert_eq!(tool.stats().await.unwrap().running, 1);

    // The first process dies holding a job for an hour; the next one takes it over at once.
    first.close().await;
    drop(first);
    let next = SqliteStore::connect_exclusive(&url(&db)).await.unwrap();
    assert_eq!(next.release_all_leases().await.unwrap(), 1);
    let taken =
        next.claim(t0() + chrono::Duration::seconds(1), Duration::from_secs(20), 1).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert!(taken[0].may_have_run_before());
}

/// Every occurrence of `needle` in the store's files.
fn found_in_files(db: &Path, needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for file in [db.to_owned(), with_suffix(db, "-wal"), with_suffix(db, "-shm")] {
        // A journal file not created holds nothing; any other read failure would hide the id.
        let bytes = match std::fs::read(&file) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => panic!("cannot read {}: {e}", file.display()),
        };
        let hits = bytes.windows(needle.len()).filter(|w| *w == needle.as_bytes()).count();
        if hits > 0 {
            found.push(format!("{} ×{hits}", file.display()));
        }
    }
    found
}

#[tokio::test]
async fn a_forgotten_persons_id_is_in_none_of_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("wbots.db");
    let store = SqliteStore::connect_exclusive(&url(&db)).await.unwrap();
    store.migrate().await.unwrap();
    let page = ChannelAddress::new(ChannelKind::new("messenger"), "page");
    let person = |who: &str, n: usize| NewJob {
        scope: Some(format!("messenger:page/{who}")),
        payload: format!(r#"{{"job":"inbound","from":"{who}","text":"message {n} from {who}"}}"#),
        ..job(&format!("in/{who}/{n}"), &format!("messenger:page/{who}"))
    };
    for round in 0..3 {
        let batch: Vec<NewJob> = (0..4)
            .flat_map(|n| {
                [
                    person("psid-ada-8675309", round * 4 + n),
                    person("psid-bob-5551234", round * 4 + n),
                ]
            })
            .collect();
        store.enqueue(&batch).await.unwrap();
        // Each conversation's jobs run one at a time: complete them all, with the links a
        // job writes.
        loop {
            let claimed =
                store.claim(chrono::Utc::now(), Duration::from_secs(60), 10).await.unwrap();
            if claimed.is_empty() {
                break;
            }
            for j in claimed {
                let who = j.ordering_key.rsplit('/').next().unwrap_or_default().to_owned();
                let scope = j.scope.clone().unwrap_or_default();
                let writes = [
                    LinkWrite::Set(
                        Link::new(
                            LinkKey::contact(&page, &who.as_str().into()),
                            format!("contact of {who}"),
                        )
                        .scoped(scope.clone()),
                    ),
                    LinkWrite::Insert(
                        Link::new(
                            LinkKey::platform_message(
                                &page,
                                &format!("{}/m", j.idempotency_key).into(),
                            ),
                            format!(r#"{{"thread":"{who}"}}"#),
                        )
                        .scoped(scope),
                    ),
                ];
                if j.idempotency_key.ends_with("/11") {
                    store.wedge(&j.lease, &format!("refused for {who}")).await.unwrap();
                } else {
                    store.complete(&j.lease, &writes).await.unwrap();
                }
            }
        }
    }
    store.enqueue(&[person("psid-ada-8675309", 99), person("psid-bob-5551234", 99)]).await.unwrap();
    assert!(!found_in_files(&db, "psid-ada-8675309").is_empty(), "the search finds stored ids");

    let gone = store.forget_scope("messenger:page/psid-ada-8675309").await.unwrap();
    assert_eq!(gone.jobs, 13);
    assert_eq!(found_in_files(&db, "psid-ada-8675309"), Vec::<String>::new());
    assert!(
        !found_in_files(&db, "psid-bob-5551234").is_empty(),
        "another person's data is untouched and still found"
    );
    assert_eq!(store.stats().await.unwrap().done, 11);
}
