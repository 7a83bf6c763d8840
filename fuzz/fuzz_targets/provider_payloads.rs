//! Answers of Salesforce and HubSpot (and the page tokens we hand ourselves
//! back), as the adapters first read them. The first byte picks the reader.

#![no_main]

use libfuzzer_sys::fuzz_target;
use providers::{hubspot, salesforce};

fuzz_target!(|data: &[u8]| {
    let Some((which, body)) = data.split_first() else {
        return;
    };
    match which % 3 {
        0 => {
            let _ = salesforce::parse_query_page("Opportunity", body);
        }
        1 => {
            let _ = hubspot::parse_search_answer("deals", body);
        }
        _ => {
            if let Ok(text) = std::str::from_utf8(body) {
                let _ = hubspot::PageToken::decode(text);
            }
        }
    }
});
