//! What a test does when a service it needs is missing: skipped with one line, or failed
//! under CI.

use std::collections::HashSet;
use std::io::Write;
use std::sync::Mutex;

/// True when the `CI` variable says so (`.ci/run` runs with `CI=true`).
pub(crate) fn under_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A service is not installed: under CI the test fails with `why` and `how`; elsewhere the
/// test is skipped and one line per service and test binary says how to run it.
pub(crate) fn unavailable(service: &str, why: &str, how: &str) {
    if under_ci() {
        panic!("CI needs {service}: {why}. {how}");
    }
    static SAID: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut said = SAID.lock().unwrap_or_else(|e| e.into_inner());
    if said.get_or_insert_with(HashSet::new).insert(service.to_owned()) {
        // Straight to the process's stderr, not `eprintln!`: the test harness captures the
        // macros' output of passing tests, and a skip nobody sees is a silent pass.
        let _ = writeln!(std::io::stderr(), "skipped: tests that need {service} ({why}). {how}");
    }
}
