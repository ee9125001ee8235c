//! Cursor paging as Meta's Graph API answers lists ("Graph API › Paginated Results",
//! <https://developers.facebook.com/docs/graph-api/results>): `limit` sets the page size,
//! `after` names the cursor to continue from, and an answer carries
//! `paging.cursors.{before, after}` plus `paging.next` — "if not included, this is the last
//! page of data". Cursors are opaque to clients; the fake's read `cursor-{offset}`.

use std::collections::HashMap;

use serde_json::{Value, json};

/// One page of a list: which items, and the `paging` object to answer with.
pub(super) struct Window {
    pub(super) start: usize,
    pub(super) end: usize,
    pub(super) limit: usize,
}

impl Window {
    /// The page `query` asks for out of `len` items; `default_limit` when `limit` is absent.
    pub(super) fn of(query: &HashMap<String, String>, len: usize, default_limit: usize) -> Self {
        let limit = query
            .get("limit")
            .and_then(|l| l.parse::<usize>().ok())
            .filter(|l| *l > 0)
            .unwrap_or(default_limit);
        let start = query
            .get("after")
            .and_then(|a| a.strip_prefix("cursor-"))
            .and_then(|a| a.parse::<usize>().ok())
            .unwrap_or(0)
            .min(len);
        Self { start, end: (start + limit).min(len), limit }
    }

    /// Whether items remain after this page.
    pub(super) fn more(&self, len: usize) -> bool {
        self.end < len
    }

    /// `paging` with its cursors; `next` (the URL of the next page) only when there is one.
    pub(super) fn paging(&self, next: Option<url::Url>) -> Value {
        let mut paging = json!({"cursors": {
            "before": format!("cursor-{}", self.start),
            "after": self.after(),
        }});
        if let Some(next) = next {
            paging["next"] = json!(next.as_str());
        }
        paging
    }

    /// The cursor after this page.
    pub(super) fn after(&self) -> String {
        format!("cursor-{}", self.end)
    }
}
