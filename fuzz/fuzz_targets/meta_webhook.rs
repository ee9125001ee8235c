//! Meta's webhook parser: any bytes parse to events or to a Malformed error, never a panic;
//! parsing is deterministic (redeliveries must deduplicate).
#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let own: HashSet<String> = ["PAGE".to_owned(), "IGID".to_owned()].into();
    let first = wbots_meta::webhook::parse(data, &own);
    let second = wbots_meta::webhook::parse(data, &own);
    match (first, second) {
        (Ok(a), Ok(b)) => {
            let ka: Vec<String> = a.iter().map(|e| e.idempotency_key()).collect();
            let kb: Vec<String> = b.iter().map(|e| e.idempotency_key()).collect();
            assert_eq!(ka, kb);
        }
        (Err(_), Err(_)) => {}
        _ => panic!("parsing is not deterministic"),
    }
});
