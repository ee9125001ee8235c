//! The example runs and tells the story it promises.

use std::process::Command;

#[test]
fn the_example_walks_the_whole_flow() {
    let out = Command::new(env!("CARGO_BIN_EXE_example-memory-bridge")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let expected = [
        "webhook: 1 event stored, answering 200",
        "got \"Hi! Is my order on its way?\"",
        "channel: sent \"Yes, it ships today!\" to customer-42",
        "echo:    dropped (0 outgoing copies in the inbox)",
    ];
    for line in expected {
        assert!(stdout.contains(line), "missing {line:?} in:\n{stdout}");
    }
}
