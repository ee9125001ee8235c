//! How a conformance check ends: passed, skipped (and why), or failed with a message that
//! names the check, the input and what was expected — so the integrator knows what to fix.

use std::fmt;
use std::future::Future;

/// How a check ended when it did not fail.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Everything the check asks held.
    Passed,
    /// The check does not apply to this adapter or harness; the reason says why (an
    /// undeclared capability, no fake platform given).
    Skipped(String),
}

/// A failed check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckFailure {
    /// The check's name (the generated test's name).
    pub check: &'static str,
    /// What the check fed the adapter.
    pub input: String,
    /// What the contract expects, and how to get there.
    pub expected: String,
    /// What the adapter did instead.
    pub got: String,
}

impl CheckFailure {
    /// A failure of `check` on `input`.
    pub fn new(
        check: &'static str,
        input: impl Into<String>,
        expected: impl Into<String>,
        got: impl Into<String>,
    ) -> Self {
        Self { check, input: input.into(), expected: expected.into(), got: got.into() }
    }
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "conformance check `{}` failed\n  input:    {}\n  expected: {}\n  got:      {}",
            self.check, self.input, self.expected, self.got
        )
    }
}

impl std::error::Error for CheckFailure {}

/// What a check returns.
pub type CheckResult = Result<CheckOutcome, CheckFailure>;

/// A short, printable view of some bytes for a failure message.
/// A caught panic as a check failure's "got": its message, where it carried one.
pub(crate) fn panic_text(panic: Box<dyn std::any::Any + Send>) -> String {
    let text = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(a panic without a message)".to_owned());
    format!("a panic: {text}")
}

pub(crate) fn show(bytes: &[u8]) -> String {
    const MAX: usize = 80;
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX)]);
    if bytes.len() > MAX {
        format!("{text:?}… ({} bytes)", bytes.len())
    } else {
        format!("{text:?}")
    }
}

/// Runs a future to completion on a fresh current-thread runtime: what the suites' macros
/// expand to, so the integrator's test file needs no tokio macros.
#[doc(hidden)]
pub fn __block_on<F: Future>(future: F) -> F::Output {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(future),
        Err(e) => panic!("could not start a tokio runtime for the check: {e}"),
    }
}

/// Ends a generated test: prints a skip (visible with `--nocapture`) and panics with the
/// failure's message.
#[doc(hidden)]
pub fn __finish(result: CheckResult) {
    match result {
        Ok(CheckOutcome::Passed) => {}
        Ok(CheckOutcome::Skipped(why)) => eprintln!("skipped: {why}"),
        Err(failure) => panic!("{failure}"),
    }
}
