//! Answers of Salesforce and HubSpot (and the page tokens we hand ourselves
//! back), as the adapters first read them, and integration-manager's fetch
//! answer as the proxy reads it. The first byte picks the reader.

#![no_main]

use libfuzzer_sys::fuzz_target;
use providers::{hubspot, salesforce};
use serde_json::value::RawValue;

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            let _ = salesforce::parse_query_page("Opportunity", body);
        }
        1 => {
            let _ = hubspot::parse_search_answer("deals", body);
        }
        2 => {
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = hubspot::PageToken::decode(text);
            }
        }
        _ => {
            if let Ok(rows) = serde_json::from_slice::<Vec<Box<RawValue>>>(body) {
                let _ = platform::proxy::records("deals", rows);
            }
        }
    }
});
