//! Meta's `signed_request` decoder must refuse or decode any input, never panic; and a
//! request it accepts must have been signed with the secret.
#![no_main]

use libfuzzer_sys::fuzz_target;
use wbots_core::Secret;
use wbots_meta::signed_request::decode;

fuzz_target!(|data: &[u8]| {
    let Ok(raw) = std::str::from_utf8(data) else { return };
    let secret = Secret::new("fuzz-secret");
    if let Ok(req) = decode(raw, &[&secret]) {
        assert!(req.algorithm.eq_ignore_ascii_case("HMAC-SHA256"));
    }
});
