//! [`BuildError`]: a builder refused its configuration.

use std::error::Error as StdError;

/// A builder refused its configuration. Names the configuration key at fault (`key`), says
/// what is wrong with it, and keeps the underlying error (`source()`) when there is one —
/// as opendal's `ConfigInvalid` errors carry their key and source.
#[derive(Debug, thiserror::Error)]
#[error("{key}: {problem}")]
pub struct BuildError {
    key: String,
    problem: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl BuildError {
    /// `key` is refused because of `problem`.
    pub fn new(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self { key: key.into(), problem: problem.into(), source: None }
    }

    /// The error that made `key` unusable.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The configuration key at fault (`meta.app_secret`, `chatwoot.url`).
    pub fn key(&self) -> &str {
        &self.key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_the_key_and_keeps_the_source() {
        let cause = std::io::Error::other("no TLS backend");
        let e = BuildError::new("chatwoot.url", "cannot be used").with_source(cause);
        assert_eq!(e.key(), "chatwoot.url");
        assert_eq!(e.to_string(), "chatwoot.url: cannot be used");
        assert_eq!(e.source().map(ToString::to_string).as_deref(), Some("no TLS backend"));
        assert!(BuildError::new("meta.app_secret", "must not be empty").source().is_none());
    }
}
