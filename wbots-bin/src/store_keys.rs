//! `store.secret_key`: the keys that seal connected channels' credentials in the store.
//!
//! One base64 key (32 bytes; `wbots keygen` prints one) or several for rotation, the first
//! sealing and all opening: a TOML list, or one string with the keys separated by commas
//! or spaces — the form `WBOTS_STORE__SECRET_KEY` takes, since secrets come from the
//! environment verbatim. Never printed: each is a `Secret`, and errors name a key by its
//! position.

use std::sync::Arc;

use serde::{Deserialize, Deserializer};
use wbots_core::{KeyError, KeyRing, Secret};

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(Secret),
    Many(Vec<Secret>),
}

/// `store.secret_key` as given: a string (split on commas and white space) or a list.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Secret>, D::Error> {
    let given = match OneOrMany::deserialize(d)? {
        OneOrMany::One(text) => vec![text],
        OneOrMany::Many(keys) => keys,
    };
    // Base64's alphabet has neither commas nor spaces, so splitting never cuts a key.
    Ok(given
        .iter()
        .flat_map(|text| {
            text.expose()
                .split(|c: char| c == ',' || c.is_whitespace())
                .filter(|k| !k.is_empty())
                .map(Secret::from)
                .collect::<Vec<_>>()
        })
        .collect())
}

/// The key ring of `store.secret_key`, or `None` when no key is set.
pub(crate) fn key_ring(keys: &[Secret]) -> Result<Option<Arc<KeyRing>>, KeyError> {
    if keys.is_empty() {
        return Ok(None);
    }
    KeyRing::new(keys).map(|ring| Some(Arc::new(ring)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Config, ConfigError};

    /// The minimal configuration with a `[store]` table (or nothing) in front.
    #[allow(clippy::result_large_err)] // figment's Jail dictates the error type
    fn load(store: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        crate::config::tests::load(&format!("{store}\n{}", crate::config::tests::MINIMAL), env)
    }

    fn ids(config: &Config) -> Vec<String> {
        match key_ring(&config.store.secret_key) {
            Ok(Some(ring)) => ring.key_ids().iter().map(ToString::to_string).collect(),
            Ok(None) => Vec::new(),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn one_key_a_list_or_the_environment() {
        let (a, b) = (KeyRing::generate_key(), KeyRing::generate_key());
        let (a, b) = (a.expose(), b.expose());
        assert!(ids(&load("", &[]).unwrap()).is_empty(), "no key unless set");
        let one = ids(&load(&format!("[store]\nsecret_key = \"{a}\""), &[]).unwrap());
        assert_eq!(one.len(), 1);
        let list = ids(&load(&format!("[store]\nsecret_key = [\"{b}\", \"{a}\"]"), &[]).unwrap());
        assert_eq!((list.len(), &list[1]), (2, &one[0]), "the first seals, the second is a");
        let env = load("", &[("WBOTS_STORE__SECRET_KEY", &format!("{b}, {a}"))]).unwrap();
        assert_eq!(ids(&env), list, "WBOTS_STORE__SECRET_KEY takes a list as one string");
    }

    #[test]
    fn a_bad_key_names_the_key_never_its_value() {
        let short = "c2hvcnQta2V5LW9ubHktMTYtYnk="; // 20 bytes
        for store in [
            format!("[store]\nsecret_key = \"{short}\""),
            format!(
                "[store]\nsecret_key = [\"{}\", \"{short}\"]",
                KeyRing::generate_key().expose()
            ),
        ] {
            let err = load(&store, &[]).unwrap_err().to_string();
            assert!(err.starts_with("store.secret_key: key"), "{err}");
            assert!(err.contains("not 32"), "{err}");
            assert!(!err.contains(short), "{err}");
        }
        let err = load("", &[("WBOTS_STORE__SECRET_KEY", "not-base64!")]).unwrap_err().to_string();
        assert!(err.starts_with("store.secret_key: key 1 is not base64"), "{err}");
        assert!(!err.contains("not-base64!"), "{err}");
    }
}
