//! `wbots privacy log`: the audit trail of exports, deletions and retention runs, newest
//! first. People appear as keyed hashes only.

use std::process::ExitCode;

use serde_json::json;

use crate::privacy::Privacy;

/// Prints up to `limit` entries, as text or one JSON document.
pub(crate) async fn run(
    cx: &Privacy<'_>,
    limit: usize,
    as_json: bool,
    out: &mut dyn std::io::Write,
) -> anyhow::Result<ExitCode> {
    let entries = cx.trail()?.audit_log(None, limit).await?;
    if as_json {
        let list: Vec<_> = entries
            .iter()
            .map(|r| {
                json!({
                    "id": r.id,
                    "at": r.entry.at.to_rfc3339(),
                    "action": r.entry.action.as_str(),
                    "requested_by": r.entry.requested_by,
                    "subject": r.entry.subject,
                    "removed": r.entry.removed,
                    "outcome": r.entry.outcome,
                })
            })
            .collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&json!({ "entries": list }))?)?;
        return Ok(ExitCode::SUCCESS);
    }
    if entries.is_empty() {
        writeln!(out, "no privacy actions recorded")?;
    }
    for r in &entries {
        let e = &r.entry;
        writeln!(
            out,
            "#{} {} {} by {:?}, person {}: {} — {}",
            r.id,
            e.at.to_rfc3339(),
            e.action,
            e.requested_by,
            e.subject
                .as_deref()
                .map(|s| s.chars().take(16).collect::<String>())
                .as_deref()
                .unwrap_or("-"),
            e.removed,
            e.outcome
        )?;
    }
    Ok(ExitCode::SUCCESS)
}
