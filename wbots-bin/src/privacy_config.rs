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

#[cfg(test)]
mod tests {
    use crate::config::tests::{MINIMAL, load};

    #[test]
    fn privacy_keys_load_and_are_checked() {
        let off = load(MINIMAL, &[]).unwrap();
        assert_eq!(off.privacy.retention_days, None, "off by default");
        assert_eq!(off.privacy.person_retention(), None);
        assert!(off.privacy.audit_key(&off.store.secret_key).is_none(), "no key, no hashes");

        let on = load(
            &format!("{MINIMAL}\n[privacy]\nretention_days = 90\nchatwoot_retention_days = 30\n"),
            &[("WBOTS_PRIVACY__AUDIT_SECRET", "0123-audit-secret")],
        )
        .unwrap();
        assert_eq!(
            on.privacy.person_retention(),
            Some(std::time::Duration::from_secs(90 * 86_400))
        );
        assert_eq!(on.privacy.chatwoot_retention_days, Some(30));
        assert_eq!(
            on.privacy.audit_secret.as_ref().map(|s| s.expose().to_owned()).as_deref(),
            Some("0123-audit-secret"),
            "a secret from the environment is taken verbatim"
        );
        assert!(on.privacy.audit_key(&[]).is_some());

        for bad in ["retention_days = 1", "chatwoot_retention_days = 0", "retention_day = 3"] {
            let err = load(&format!("{MINIMAL}\n[privacy]\n{bad}\n"), &[]).unwrap_err();
            assert!(
                err.to_string().contains("privacy") || err.to_string().contains("retention_day"),
                "{bad}: {err}"
            );
        }
    }
}
