//! Every store keeps connected channels the same way (the channel store suite), and the
//! SQLite store's files never hold a token in clear.

mod memory {
    wbots_core::channel_store_conformance_tests!(async { wbots_core::store::MemoryStore::new() });
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use std::path::{Path, PathBuf};

    use wbots_core::store::{ChannelStatus, SealedChannels, SqliteStore, Store};
    use wbots_core::testkit::channel_store_suite::{channel, credentials};
    use wbots_core::{KeyRing, Secret};

    async fn open(db: &Path) -> SqliteStore {
        let store = SqliteStore::connect(&format!("sqlite://{}", db.display())).await.unwrap();
        store.migrate().await.unwrap();
        store
    }

    async fn fresh() -> SqliteStore {
        // Kept so the file outlives the store, under cargo's scratch directory.
        let dir = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap().keep();
        open(&dir.join("wbots.db")).await
    }

    wbots_core::channel_store_conformance_tests!(fresh());

    fn files(db: &Path) -> Vec<(PathBuf, Vec<u8>)> {
        ["", "-wal", "-shm"]
            .iter()
            .map(|suffix| PathBuf::from(format!("{}{suffix}", db.display())))
            .filter(|path| path.exists())
            .map(|path| {
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                (path, bytes)
            })
            .collect()
    }

    fn holds(bytes: &[u8], needle: &str) -> bool {
        bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
    }

    /// What an attacker holding the files sees: the channel (its ids are not secret), never
    /// a token — not in the database, not in its write-ahead log, before or after a rekey.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_token_is_in_the_database_files() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("wbots.db");
        let store = open(&db).await;
        let (old, new) = (KeyRing::generate_key(), KeyRing::generate_key());
        let keys = |k: &[&Secret]| std::sync::Arc::new(KeyRing::new(k.iter().copied()).unwrap());
        let vault = SealedChannels::new(store.clone(), keys(&[&old]));
        let ch = channel("messenger", "1234567890");
        let creds = credentials("on-disk");
        vault.add(&ch, &creds).await.unwrap();
        vault
            .set_status(&ch.address, ChannelStatus::Flagged { reason: "why".into() })
            .await
            .unwrap();
        SealedChannels::new(store.clone(), keys(&[&new, &old])).rekey().await.unwrap();

        let tokens =
            [creds.access_token.expose(), creds.chatwoot_token.as_ref().map_or("", Secret::expose)];
        let found = files(&db);
        assert!(
            found.iter().any(|(path, _)| path.to_string_lossy().ends_with("-wal")),
            "the write-ahead log is there to be searched"
        );
        assert!(
            found.iter().any(|(_, bytes)| holds(bytes, "1234567890")),
            "the search works: the channel's id is in the files"
        );
        for (path, bytes) in &found {
            for token in tokens {
                assert!(!holds(bytes, token), "{} holds a token in clear", path.display());
            }
            for key in [old.expose(), new.expose()] {
                assert!(!holds(bytes, key), "{} holds a key", path.display());
            }
        }
        store.close().await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    async fn fresh() -> Option<wbots_core::store::PostgresStore> {
        let url = wbots_test_services::postgres_url()?;
        Some(wbots_core::testkit::fresh_postgres(&url).await.unwrap())
    }

    wbots_core::channel_store_conformance_tests!(fresh());
}
