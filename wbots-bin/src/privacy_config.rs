//! `[privacy]`: how long the bridge keeps what it knows about a person, and the key of the
//! privacy audit trail's hashes.

use serde::Deserialize;
use wbots_core::{AuditKey, Secret};

/// `[privacy]`
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PrivacySection {
    /// Days the bridge keeps its own records about a person after their last message
    /// (`wbots privacy retention` deletes older ones). Unset: as long as the conversation
    /// exists.
    #[serde(default)]
    pub retention_days: Option<u64>,
    /// Days without activity after which `wbots privacy retention --chatwoot` deletes a
    /// conversation of the bridge's inboxes in Chatwoot (with its contact when that was
    /// their only conversation there). Unset: off.
    #[serde(default)]
    pub chatwoot_retention_days: Option<u64>,
    /// The key of the audit trail's keyed hashes. Unset: derived from the first key of
    /// `store.secret_key`.
    #[serde(default)]
    pub audit_secret: Option<Secret>,
}

impl PrivacySection {
    /// The audit trail's key: `audit_secret`, else derived from the first store key; `None`
    /// when neither is set (entries then name no one).
    pub(crate) fn audit_key(&self, store_keys: &[Secret]) -> Option<AuditKey> {
        match (&self.audit_secret, store_keys.first()) {
            (Some(own), _) if !own.is_empty() => Some(AuditKey::configured(own)),
            (_, Some(store_key)) => Some(AuditKey::derived_from_store_key(store_key)),
            _ => None,
        }
    }

    /// What types alone cannot check.
    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.chatwoot_retention_days == Some(0) {
            return Err("privacy.chatwoot_retention_days must be at least 1 (leave it out to keep conversations)".into());
        }
        // Meta redelivers for up to 36 hours: a person forgotten sooner would come back.
        if self.retention_days.is_some_and(|d| d < 2) {
            return Err(
                "privacy.retention_days must be at least 2 (leave it out to keep records)".into()
            );
        }
        Ok(())
    }

    /// `retention_days` as the engine takes it.
    pub(crate) fn person_retention(&self) -> Option<std::time::Duration> {
        self.retention_days.map(|d| std::time::Duration::from_secs(d.saturating_mul(86_400)))
    }
}
