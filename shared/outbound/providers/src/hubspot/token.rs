//! The page token of a HubSpot walk: which phase, which time window, where in
//! it, and which ids of the window's first timestamp were already returned.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use sync_core::{domain::ExternalRecord, ports::ProviderError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    Search,
    Archived,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PageToken {
    pub phase: Phase,
    /// Window start, epoch milliseconds (inclusive).
    pub since_ms: Option<i64>,
    pub after: Option<String>,
    /// Ids at exactly `since_ms` returned by the previous window.
    #[serde(default)]
    pub skip: Vec<String>,
    /// Where the archived phase starts filtering (the walk's original start).
    #[serde(default)]
    pub walk_since_ms: Option<i64>,
}

impl PageToken {
    pub fn start(since: Option<DateTime<Utc>>) -> Self {
        let since_ms = since.map(|s| s.timestamp_millis());
        PageToken {
            phase: Phase::Search,
            since_ms,
            after: None,
            skip: Vec::new(),
            walk_since_ms: since_ms,
        }
    }

    pub fn encode(&self) -> String {
        serde_json::to_string(self).expect("a page token serialises")
    }

    pub fn decode(text: &str) -> Result<Self, ProviderError> {
        serde_json::from_str(text)
            .map_err(|_| ProviderError::Unsupported("invalid HubSpot page token".into()))
    }

    /// The token after a search page: the same window's next page; a new window
    /// from the last timestamp when the next page would pass the result cap;
    /// or, when the search is done, the archived phase.
    pub fn after_search_page(
        &self,
        next: Option<String>,
        records: &[ExternalRecord],
        limit: u64,
        cap: u64,
    ) -> PageToken {
        let Some(next) = next else {
            return PageToken {
                phase: Phase::Archived,
                since_ms: self.walk_since_ms,
                after: None,
                skip: Vec::new(),
                walk_since_ms: self.walk_since_ms,
            };
        };
        let offset: u64 = next.parse().unwrap_or(0);
        if offset + limit <= cap {
            return PageToken {
                after: Some(next),
                ..self.clone()
            };
        }
        let Some(last) = records.last() else {
            return PageToken {
                after: Some(next),
                ..self.clone()
            };
        };
        let last_ms = last.modified_at.timestamp_millis();
        let mut skip: Vec<String> = records
            .iter()
            .filter(|r| r.modified_at.timestamp_millis() == last_ms)
            .map(|r| r.external_id.clone())
            .collect();
        if self.since_ms == Some(last_ms) {
            // The whole window shared one timestamp: keep what it skipped too.
            skip.extend(self.skip.iter().cloned());
        }
        PageToken {
            phase: Phase::Search,
            since_ms: Some(last_ms),
            after: None,
            skip,
            walk_since_ms: self.walk_since_ms,
        }
    }
}
