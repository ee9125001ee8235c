//! One error type per boundary: webhooks in, deliveries out, the store; and [`Error`] for
//! embedders who want one type.

use std::error::Error as StdError;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

/// Why a webhook request was refused. Each variant maps to one HTTP answer, so the HTTP
/// layer (and the platform retrying) gets the same answer for the same input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// Missing or wrong signature / token: 401, nothing parsed or stored.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// A handshake with the wrong verify token or mode: 403.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The body is larger than allowed: 413.
    #[error("payload too large: {0}")]
    PayloadTooLarge(String),
    /// Authentic, but not JSON or not the expected shape: 400 with this one-line reason.
    #[error("malformed: {0}")]
    Malformed(String),
    /// No channel or inbox handles this endpoint: 404.
    #[error("not found: {0}")]
    NotFound(String),
    /// The events could not be stored: 503, so the sender retries. Nothing was acknowledged.
    #[error("store unavailable: {0}")]
    Store(#[from] StoreError),
}

impl WebhookError {
    /// The HTTP status this error answers with.
    pub fn status(&self) -> http::StatusCode {
        use http::StatusCode as S;
        match self {
            Self::Unauthorized(_) => S::UNAUTHORIZED,
            Self::Forbidden(_) => S::FORBIDDEN,
            Self::PayloadTooLarge(_) => S::PAYLOAD_TOO_LARGE,
            Self::Malformed(_) => S::BAD_REQUEST,
            Self::NotFound(_) => S::NOT_FOUND,
            Self::Store(_) => S::SERVICE_UNAVAILABLE,
        }
    }

    /// A stable label for metrics (`unauthorized`, `malformed`, …).
    pub fn label(&self) -> &'static str {
        match self {
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::PayloadTooLarge(_) => "too_large",
            Self::Malformed(_) => "malformed",
            Self::NotFound(_) => "not_found",
            Self::Store(_) => "store_unavailable",
        }
    }
}

/// What went wrong with one attempt to deliver something to a platform or the inbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DeliveryErrorKind {
    /// The network failed (connect, timeout, reset).
    Network,
    /// The far side asked us to slow down (HTTP 429, Graph 4/17/32/613).
    RateLimited,
    /// The far side failed (5xx, Graph 1/2).
    Unavailable,
    /// The access token is invalid or expired (Graph 190, HTTP 401).
    Unauthorized,
    /// The token lacks a permission (Graph 10/200, HTTP 403).
    Forbidden,
    /// The messaging window has closed (Graph 10/2018278, 2534022).
    OutsideWindow,
    /// The customer cannot be messaged (Graph 551/1545041).
    RecipientUnavailable,
    /// The far side refused the request as invalid (Graph 100, HTTP 400/422).
    InvalidRequest,
    /// The target no longer exists (a deleted conversation: HTTP 404).
    NotFound,
    /// The payload is too large (a file over the platform's limit).
    TooLarge,
    /// The channel or inbox cannot do this at all.
    Unsupported,
    /// Anything else.
    Other,
}

impl DeliveryErrorKind {
    /// A stable label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            Self::Network => "network",
            Self::RateLimited => "rate_limited",
            Self::Unavailable => "unavailable",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::OutsideWindow => "outside_window",
            Self::RecipientUnavailable => "recipient_unavailable",
            Self::InvalidRequest => "invalid_request",
            Self::NotFound => "not_found",
            Self::TooLarge => "too_large",
            Self::Unsupported => "unsupported",
            Self::Other => "other",
        }
    }
}

/// Whether trying again can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Retryability {
    /// Try again later; no sooner than `after` when the far side said so.
    Temporary {
        /// The far side's `Retry-After`, when given.
        after: Option<Duration>,
    },
    /// Trying again cannot help: the job goes to the dead letter with the reason.
    Permanent,
}

/// One failed attempt to deliver something, classified for the job queue.
///
/// Adapters build these with [`DeliveryError::temporary`] or [`DeliveryError::permanent`];
/// the engine never retries inside a request, it schedules the retry in the job queue.
#[derive(Clone)]
pub struct DeliveryError {
    kind: DeliveryErrorKind,
    retry: Retryability,
    message: String,
    code: Option<String>,
    /// The error underneath (a network or decoding failure), for `source()`. Shared so the
    /// error stays `Clone`.
    source: Option<Arc<dyn StdError + Send + Sync + 'static>>,
    /// Not a failure: the request was never sent (see [`DeliveryError::budget_spent`]).
    budget_spent: bool,
}

impl DeliveryError {
    /// A failure worth retrying.
    pub fn temporary(kind: DeliveryErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            retry: Retryability::Temporary { after: None },
            message: message.into(),
            code: None,
            source: None,
            budget_spent: false,
        }
    }

    /// A failure that retrying cannot fix.
    pub fn permanent(kind: DeliveryErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            retry: Retryability::Permanent,
            message: message.into(),
            code: None,
            source: None,
            budget_spent: false,
        }
    }

    /// Not a failure: the request was never sent, because the client's request budget
    /// toward the far side ([`crate::rate_budget::Budget`]) is spent for now. The job waits
    /// `wait` in the queue **without counting an attempt**, so a long backlog drained at the
    /// budget never pushes a job toward the dead letter.
    pub fn budget_spent(wait: Duration) -> Self {
        Self {
            kind: DeliveryErrorKind::RateLimited,
            retry: Retryability::Temporary { after: Some(wait) },
            message: "the request budget toward this service is spent for now".to_owned(),
            code: None,
            source: None,
            budget_spent: true,
        }
    }

    /// Whether this is a [`DeliveryError::budget_spent`] wait rather than a failure.
    pub fn is_budget_spent(&self) -> bool {
        self.budget_spent
    }

    /// The operation is not supported by this adapter (permanent).
    pub fn unsupported(what: impl Into<String>) -> Self {
        Self::permanent(DeliveryErrorKind::Unsupported, what)
    }

    /// Sets the earliest retry time the far side asked for. No effect on permanent errors.
    pub fn with_retry_after(mut self, after: Duration) -> Self {
        if let Retryability::Temporary { .. } = self.retry {
            self.retry = Retryability::Temporary { after: Some(after) };
        }
        self
    }

    /// Attaches the far side's own error code (e.g. `"190"` or `"10/2018278"`).
    pub fn with_code(mut self, code: impl Into<String>) -> Self {
        self.code = Some(code.into());
        self
    }

    /// Keeps the error underneath as this one's `source()`. It must not carry a secret
    /// (a reqwest error: `without_url()` first, since a URL may hold a token or a proof).
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// What went wrong.
    pub fn kind(&self) -> DeliveryErrorKind {
        self.kind
    }

    /// Whether trying again can help, and when.
    pub fn retryability(&self) -> Retryability {
        self.retry
    }

    /// Whether trying again can help.
    pub fn is_temporary(&self) -> bool {
        matches!(self.retry, Retryability::Temporary { .. })
    }

    /// Whether trying again cannot help.
    pub fn is_permanent(&self) -> bool {
        !self.is_temporary()
    }

    /// The far side's `Retry-After`, when given.
    pub fn retry_after(&self) -> Option<Duration> {
        match self.retry {
            Retryability::Temporary { after } => after,
            Retryability::Permanent => None,
        }
    }

    /// The far side's error code, when known.
    pub fn code(&self) -> Option<&str> {
        self.code.as_deref()
    }

    /// The human-readable reason, fit to show an agent.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}", self.message, self.kind.label())?;
        if let Some(code) = &self.code {
            write!(f, ", code {code}")?;
        }
        match self.retry {
            Retryability::Permanent => f.write_str(", permanent)"),
            Retryability::Temporary { after: Some(a) } => {
                write!(f, ", retry after {}s)", a.as_secs())
            }
            Retryability::Temporary { after: None } => f.write_str(", temporary)"),
        }
    }
}

impl StdError for DeliveryError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source.as_deref().map(|e| e as &(dyn StdError + 'static))
    }
}

impl fmt::Debug for DeliveryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeliveryError({self})")
    }
}

/// What caused a store failure (the database driver's or the file system's error), kept so
/// `source()` reaches it.
pub(crate) type StoreCause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store cannot be reached or is busy; the operation may succeed later.
    #[error("store unavailable: {message}")]
    Unavailable {
        /// What failed.
        message: String,
        /// The error that caused it, if any.
        #[source]
        source: Option<StoreCause>,
    },
    /// The job's lease expired and another worker holds it now; the caller must drop the
    /// job without touching it further.
    #[error("lease lost for job {0}")]
    LeaseLost(crate::JobId),
    /// No such job.
    #[error("no job {0}")]
    NoSuchJob(crate::JobId),
    /// Stored data could not be read back (schema drift, corruption).
    #[error("corrupt store data: {message}")]
    Corrupt {
        /// What could not be read.
        message: String,
        /// The error that caused it, if any.
        #[source]
        source: Option<StoreCause>,
    },
    /// Migrations could not be applied.
    #[error("migration failed: {message}")]
    Migration {
        /// What failed.
        message: String,
        /// The error that caused it, if any.
        #[source]
        source: Option<StoreCause>,
    },
    /// Another process holds the store's exclusive lock (a SQLite store serves one process).
    #[error("store in use: {0}")]
    InUse(String),
}

impl StoreError {
    /// [`StoreError::Unavailable`] without an underlying error.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::Unavailable { message: message.into(), source: None }
    }

    /// [`StoreError::Corrupt`] without an underlying error.
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::Corrupt { message: message.into(), source: None }
    }

    /// [`StoreError::Migration`] without an underlying error.
    pub fn migration(message: impl Into<String>) -> Self {
        Self::Migration { message: message.into(), source: None }
    }

    /// Attaches the underlying error to an `Unavailable`, `Corrupt` or `Migration` error
    /// (others are returned unchanged), so `source()` reaches it.
    pub fn caused_by(mut self, cause: impl Into<StoreCause>) -> Self {
        if let Self::Unavailable { source, .. }
        | Self::Corrupt { source, .. }
        | Self::Migration { source, .. } = &mut self
        {
            *source = Some(cause.into());
        }
        self
    }

    /// Whether the operation may succeed if tried again.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable { .. })
    }
}

/// Any wbots error, for embedders who want one type.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A webhook was refused.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
    /// A delivery failed.
    #[error(transparent)]
    Delivery(#[from] DeliveryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bridge is configured wrongly.
    #[error("configuration: {0}")]
    Config(String),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_applies_only_to_temporary_errors() {
        let t = DeliveryError::temporary(DeliveryErrorKind::RateLimited, "slow down")
            .with_retry_after(Duration::from_secs(30));
        assert_eq!(t.retry_after(), Some(Duration::from_secs(30)));
        let p = DeliveryError::permanent(DeliveryErrorKind::Unauthorized, "bad token")
            .with_retry_after(Duration::from_secs(30));
        assert!(p.is_permanent());
        assert_eq!(p.retry_after(), None);
    }

    #[test]
    fn display_names_kind_code_and_retryability() {
        let e = DeliveryError::permanent(DeliveryErrorKind::OutsideWindow, "window closed")
            .with_code("10/2018278");
        assert_eq!(e.to_string(), "window closed (outside_window, code 10/2018278, permanent)");
    }

    #[test]
    fn webhook_errors_map_to_their_http_answers() {
        assert_eq!(WebhookError::Unauthorized("x".into()).status(), 401);
        assert_eq!(WebhookError::Forbidden("x".into()).status(), 403);
        assert_eq!(WebhookError::PayloadTooLarge("x".into()).status(), 413);
        assert_eq!(WebhookError::Malformed("x".into()).status(), 400);
        assert_eq!(WebhookError::Store(StoreError::unavailable("x")).status(), 503);
    }
}
