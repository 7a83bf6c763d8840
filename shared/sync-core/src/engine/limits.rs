//! Limits that hold across every instance and function: they live in the store,
//! not in process memory.
//!
//! - **Concurrency**: a tenant has `max_concurrent_syncs_per_tenant` slot
//!   documents. A run claims a free (or expired) slot with a conditional write
//!   and keeps it alive with a heartbeat; a crashed holder's slot frees itself
//!   when its lease expires.
//! - **Interval**: one mark per integration records when its last sync started;
//!   a trigger within `min_interval_minutes` of it is refused with the time left.
//!
//! Every claim is a create or an If-Match replace, so two instances racing for
//! the same slot or mark cannot both win.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    domain::{TenantId, task::RunLease},
    ports::store::{Collection, StoreError},
    repository::{Document, Repository, Versioned},
};

#[derive(Debug, Clone)]
pub struct LimitSettings {
    pub max_concurrent_per_tenant: u32,
    pub min_interval: Duration,
    /// How long a slot stays claimed without a heartbeat.
    pub lease_ttl: Duration,
}

/// Why a sync may not start now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitRejection {
    #[error("the tenant already runs {limit} syncs, the most allowed at once")]
    TooManyConcurrent { limit: u32 },
    #[error(
        "integration {integration_id} synced less than {min_interval:?} ago; retry in {retry_after:?}"
    )]
    TooSoon {
        integration_id: String,
        min_interval: Duration,
        retry_after: Duration,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error(transparent)]
    Rejected(#[from] LimitRejection),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A claimed concurrency slot.
#[derive(Debug, Clone)]
pub struct SlotLease {
    pub tenant_id: TenantId,
    pub slot_id: String,
    pub holder: Uuid,
}

impl SlotLease {
    /// How a task records the run holding it.
    pub fn run_lease(&self) -> RunLease {
        RunLease {
            slot_id: self.slot_id.clone(),
            holder: self.holder,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SlotDocument {
    id: String,
    tenant_id: TenantId,
    kind: String,
    holder: Option<Uuid>,
    expires_at: DateTime<Utc>,
}

impl Document for SlotDocument {
    const COLLECTION: Collection = Collection::Leases;
    fn document_id(&self) -> String {
        self.id.clone()
    }
    fn partition(&self) -> TenantId {
        self.tenant_id
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct IntervalMark {
    id: String,
    tenant_id: TenantId,
    kind: String,
    last_started_at: DateTime<Utc>,
    task_id: Uuid,
}

impl Document for IntervalMark {
    const COLLECTION: Collection = Collection::Leases;
    fn document_id(&self) -> String {
        self.id.clone()
    }
    fn partition(&self) -> TenantId {
        self.tenant_id
    }
}

#[derive(Clone)]
pub struct SyncLimiter {
    repo: Repository,
    settings: LimitSettings,
}

impl SyncLimiter {
    pub fn new(repo: Repository, settings: LimitSettings) -> Self {
        SyncLimiter { repo, settings }
    }

    pub fn settings(&self) -> &LimitSettings {
        &self.settings
    }

    /// Claims a slot for `holder`, then the integration's interval mark. A
    /// refused interval gives the slot back.
    pub async fn acquire(
        &self,
        tenant: TenantId,
        integration_id: &str,
        holder: Uuid,
        now: DateTime<Utc>,
    ) -> Result<SlotLease, LimitError> {
        let lease = self.claim_slot(tenant, holder, now).await?;
        if let Err(e) = self
            .claim_interval(tenant, integration_id, holder, now)
            .await
        {
            self.release(&lease).await;
            return Err(e);
        }
        Ok(lease)
    }

    /// Claims a concurrency slot only (a resumed run: its interval was
    /// claimed when it was first triggered).
    pub async fn claim_slot(
        &self,
        tenant: TenantId,
        holder: Uuid,
        now: DateTime<Utc>,
    ) -> Result<SlotLease, LimitError> {
        let expires_at = now + ttl(self.settings.lease_ttl);
        for n in 0..self.settings.max_concurrent_per_tenant {
            let slot_id = format!("slot-{n}");
            let claimed = SlotDocument {
                id: slot_id.clone(),
                tenant_id: tenant,
                kind: "slot".into(),
                holder: Some(holder),
                expires_at,
            };
            let won = match self.repo.get::<SlotDocument>(tenant, &slot_id).await? {
                None => self.repo.create(&claimed).await.map(|_| true),
                Some(Versioned { doc, etag }) if doc.holder.is_none() || doc.expires_at <= now => {
                    self.repo.replace(&claimed, &etag).await.map(|_| true)
                }
                Some(_) => Ok(false),
            };
            match won {
                Ok(true) => {
                    return Ok(SlotLease {
                        tenant_id: tenant,
                        slot_id,
                        holder,
                    });
                }
                Ok(false) | Err(StoreError::AlreadyExists | StoreError::PreconditionFailed) => {
                    continue;
                }
                Err(other) => return Err(other.into()),
            }
        }
        Err(LimitRejection::TooManyConcurrent {
            limit: self.settings.max_concurrent_per_tenant,
        }
        .into())
    }

    async fn claim_interval(
        &self,
        tenant: TenantId,
        integration_id: &str,
        holder: Uuid,
        now: DateTime<Utc>,
    ) -> Result<(), LimitError> {
        let min_interval = self.settings.min_interval;
        let id = format!("interval-{integration_id}");
        let mark = IntervalMark {
            id: id.clone(),
            tenant_id: tenant,
            kind: "interval".into(),
            last_started_at: now,
            task_id: holder,
        };
        let too_soon = |since: DateTime<Utc>| LimitRejection::TooSoon {
            integration_id: integration_id.to_owned(),
            min_interval,
            retry_after: (since + ttl(min_interval) - now)
                .to_std()
                .unwrap_or(Duration::from_secs(1)),
        };
        let written = match self.repo.get::<IntervalMark>(tenant, &id).await? {
            None => self.repo.create(&mark).await.map(|_| ()),
            Some(current) if now - current.doc.last_started_at < ttl(min_interval) => {
                return Err(too_soon(current.doc.last_started_at).into());
            }
            Some(current) => self.repo.replace(&mark, &current.etag).await.map(|_| ()),
        };
        match written {
            Ok(()) => Ok(()),
            // Another instance started this integration in the same instant.
            Err(StoreError::AlreadyExists | StoreError::PreconditionFailed) => {
                Err(too_soon(now).into())
            }
            Err(other) => Err(other.into()),
        }
    }

    /// Whether `lease` is still held: its slot names the same holder and has
    /// not expired. A run whose lease is not held is dead or cut off.
    pub async fn holds(
        &self,
        tenant: TenantId,
        lease: &RunLease,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        Ok(self
            .repo
            .get::<SlotDocument>(tenant, &lease.slot_id)
            .await?
            .is_some_and(|slot| slot.doc.holder == Some(lease.holder) && slot.doc.expires_at > now))
    }

    /// Extends the lease; `false` when it was lost (expired and claimed by
    /// another run), in which case the holder must stop.
    pub async fn renew(&self, lease: &SlotLease, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let expires_at = now + ttl(self.settings.lease_ttl);
        let holder = lease.holder;
        let mut still_ours = true;
        let result = self
            .repo
            .update::<SlotDocument, _>(lease.tenant_id, &lease.slot_id, |slot| {
                still_ours = slot.holder == Some(holder);
                if still_ours {
                    slot.expires_at = expires_at;
                }
                still_ours
            })
            .await;
        match result {
            Ok(_) => Ok(still_ours),
            Err(StoreError::NotFound) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Moves a slot handed over with its task (`lease`) to `holder`, renewed,
    /// if it was not lost meanwhile (lapsed and claimed by another run).
    pub async fn transfer(
        &self,
        tenant: TenantId,
        lease: &RunLease,
        holder: Uuid,
        now: DateTime<Utc>,
    ) -> Result<Option<SlotLease>, StoreError> {
        let expires_at = now + ttl(self.settings.lease_ttl);
        let mut moved = false;
        let result = self
            .repo
            .update::<SlotDocument, _>(tenant, &lease.slot_id, |slot| {
                moved = slot.holder == Some(lease.holder);
                if moved {
                    slot.holder = Some(holder);
                    slot.expires_at = expires_at;
                }
                moved
            })
            .await;
        match result {
            Ok(_) if moved => Ok(Some(SlotLease {
                tenant_id: tenant,
                slot_id: lease.slot_id.clone(),
                holder,
            })),
            Ok(_) | Err(StoreError::NotFound) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Frees the slot if this holder still has it. Failures are logged: the
    /// lease then frees itself by expiry.
    pub async fn release(&self, lease: &SlotLease) {
        let holder = lease.holder;
        let result = self
            .repo
            .update::<SlotDocument, _>(lease.tenant_id, &lease.slot_id, |slot| {
                if slot.holder != Some(holder) {
                    return false;
                }
                slot.holder = None;
                true
            })
            .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, slot = %lease.slot_id, "cannot release a sync slot; it frees itself at expiry");
        }
    }
}

fn ttl(duration: Duration) -> chrono::Duration {
    chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX)
}

#[cfg(test)]
mod tests;
