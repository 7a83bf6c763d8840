//! Configuration text: parsing, `${VAR:-default}` expansion and validation
//! must reject bad input with an error naming the key, never panic.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = sync_core::config::load_from_str(text);
    }
});
