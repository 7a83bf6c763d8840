//! Remembering which events were handled, so a redelivery does nothing twice.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    domain::{TenantId, time},
    ports::store::{Collection, StoreError},
    repository::{Document, Repository},
};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProcessedEvent {
    id: String,
    tenant_id: TenantId,
    event_type: String,
    outcome: String,
    #[serde(with = "crate::domain::time")]
    processed_at: DateTime<Utc>,
    #[serde(with = "crate::domain::time")]
    expires_at: DateTime<Utc>,
    /// Cosmos DB item TTL in seconds (the container's default TTL must be on).
    ttl: u64,
}

impl Document for ProcessedEvent {
    const COLLECTION: Collection = Collection::ProcessedEvents;
    fn document_id(&self) -> String {
        self.id.clone()
    }
    fn partition(&self) -> TenantId {
        self.tenant_id
    }
}

#[derive(Clone)]
pub struct ProcessedEvents {
    repo: Repository,
    ttl: Duration,
}

impl ProcessedEvents {
    pub fn new(repo: Repository, ttl: Duration) -> Self {
        ProcessedEvents { repo, ttl }
    }

    pub async fn seen(&self, tenant: TenantId, event_id: &str) -> Result<bool, StoreError> {
        let marker = self.repo.get::<ProcessedEvent>(tenant, event_id).await?;
        // Expiry is checked here too: not every store enforces TTL.
        Ok(marker.is_some_and(|m| m.doc.expires_at > time::now()))
    }

    pub async fn remember(
        &self,
        tenant: TenantId,
        event_id: &str,
        event_type: &str,
        outcome: &str,
    ) -> Result<(), StoreError> {
        let now = time::now();
        let marker = ProcessedEvent {
            id: event_id.to_owned(),
            tenant_id: tenant,
            event_type: event_type.to_owned(),
            outcome: outcome.to_owned(),
            processed_at: now,
            expires_at: now
                + chrono::Duration::from_std(self.ttl).unwrap_or(chrono::Duration::days(1)),
            ttl: self.ttl.as_secs().max(1),
        };
        self.repo.upsert(&marker).await.map(|_| ())
    }
}
