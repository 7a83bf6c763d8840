//! Deliveries whose process died mid-retry.
//!
//! A delivery lives in its tenant's partition, and the store is never queried
//! across partitions, so a delivery that is not done also leaves a *pending
//! delivery marker* in the system partition, holding what a resume needs (the
//! signed body's bytes, the event's id and type) and when its next attempt is
//! due. The process delivering it moves that time on before every wait and
//! drops the marker once the delivery is delivered or has failed for good.
//! A sweep ([`DeliveryWorker::recover`], beside the run recovery) takes a
//! marker whose attempt is overdue by `webhooks.stale_after` for dead, claims
//! it by a compare-and-set (of two sweepers one wins), and resumes the
//! delivery under the same delivery id, so a receiver that saw an attempt
//! before deduplicates it. Attempts already made count against
//! `webhooks.max_attempts`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use sync_core::{
    domain::{
        SYSTEM_PARTITION, TenantId, Webhook, time,
        webhook::{DeliveryStatus, WebhookDelivery},
    },
    ports::store::{Collection, Filter, Query, StoreError},
    repository::Document,
};

use crate::{DeliveryWorker, Pending};

const MARKER_KIND: &str = "pending-delivery";

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PendingDelivery {
    id: String,
    /// Always the system partition.
    tenant_id: TenantId,
    kind: String,
    delivery_tenant_id: TenantId,
    delivery_id: Uuid,
    webhook_id: Uuid,
    event_id: Uuid,
    event_type: String,
    /// The envelope as published (JSON text).
    body: String,
    #[serde(with = "sync_core::domain::time")]
    created_at: DateTime<Utc>,
    /// When the next attempt is over at the latest; overdue by `stale_after`,
    /// the delivery is taken for dead and resumed.
    #[serde(with = "sync_core::domain::time")]
    due_at: DateTime<Utc>,
}

impl Document for PendingDelivery {
    const COLLECTION: Collection = Collection::Leases;
    fn document_id(&self) -> String {
        self.id.clone()
    }
    fn partition(&self) -> TenantId {
        SYSTEM_PARTITION
    }
}

fn marker_id(tenant: TenantId, delivery_id: Uuid) -> String {
    format!("delivery-{tenant}-{delivery_id}")
}

impl PendingDelivery {
    fn of(delivery: &WebhookDelivery, body: &[u8], due_at: DateTime<Utc>) -> Self {
        PendingDelivery {
            id: marker_id(delivery.tenant_id, delivery.delivery_id),
            tenant_id: SYSTEM_PARTITION,
            kind: MARKER_KIND.into(),
            delivery_tenant_id: delivery.tenant_id,
            delivery_id: delivery.delivery_id,
            webhook_id: delivery.webhook_id,
            event_id: delivery.event_id,
            event_type: delivery.event_type.clone(),
            body: String::from_utf8_lossy(body).into_owned(),
            created_at: delivery.created_at,
            due_at,
        }
    }
}

impl PendingDelivery {
    fn as_new_delivery(&self) -> WebhookDelivery {
        WebhookDelivery {
            delivery_id: self.delivery_id,
            webhook_id: self.webhook_id,
            tenant_id: self.delivery_tenant_id,
            event_id: self.event_id,
            event_type: self.event_type.clone(),
            status: DeliveryStatus::Pending,
            attempts: 0,
            last_status_code: None,
            last_error: None,
            created_at: self.created_at,
            updated_at: self.created_at,
            delivered_at: None,
        }
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeliveryRecovery {
    /// Deliveries taken up again in this process.
    pub resumed: usize,
    /// Markers of deliveries that had ended (or whose webhook is gone) removed.
    pub settled: usize,
}

impl DeliveryWorker {
    /// Records (or moves on) the marker of a delivery whose next attempt
    /// starts after `wait`. A failure only means this delivery would not be
    /// resumed after a crash.
    pub(crate) async fn mark_pending(
        &self,
        delivery: &WebhookDelivery,
        body: &[u8],
        wait: std::time::Duration,
    ) {
        let due_at = time::now()
            + chrono::Duration::from_std(wait).unwrap_or_default()
            + self.attempt_span();
        let marker = PendingDelivery::of(delivery, body, due_at);
        if let Err(e) = self.inner.repo.upsert(&marker).await {
            tracing::warn!(error = %e, delivery_id = %delivery.delivery_id, "cannot record a pending delivery; it is not resumed if this process dies");
        }
    }

    pub(crate) async fn settle(&self, delivery: &WebhookDelivery) {
        self.drop_marker(&marker_id(delivery.tenant_id, delivery.delivery_id))
            .await;
    }

    /// One sweep over the pending-delivery markers: overdue ones are claimed
    /// and resumed in this process (in the background: [`Self::idle`] waits
    /// for them).
    pub async fn recover(&self) -> Result<DeliveryRecovery, StoreError> {
        let query = Query {
            filters: vec![Filter::eq("kind", MARKER_KIND)],
            order_by: "createdAt",
            descending: false,
        };
        let mut report = DeliveryRecovery::default();
        let mut continuation = None;
        loop {
            let page = self
                .inner
                .repo
                .query::<PendingDelivery>(SYSTEM_PARTITION, &query, 100, continuation.as_deref())
                .await?;
            for marker in page.items {
                if let Err(e) = self.recover_one(marker, &mut report).await {
                    tracing::warn!(error = %e, "cannot resume a webhook delivery now; the next sweep retries");
                }
            }
            continuation = page.continuation;
            if continuation.is_none() {
                break;
            }
        }
        if report != DeliveryRecovery::default() {
            tracing::info!(?report, "webhook delivery sweep");
        }
        Ok(report)
    }

    async fn recover_one(
        &self,
        marker: PendingDelivery,
        report: &mut DeliveryRecovery,
    ) -> Result<(), StoreError> {
        let stale_after =
            chrono::Duration::from_std(self.inner.settings.stale_after).unwrap_or_default();
        let now = time::now();
        if now - marker.due_at < stale_after {
            return Ok(()); // Its process may still be at it.
        }
        // Claim: of two sweepers, the one whose conditional write lands resumes it.
        let Some(current) = self
            .inner
            .repo
            .get::<PendingDelivery>(SYSTEM_PARTITION, &marker.id)
            .await?
        else {
            return Ok(());
        };
        if now - current.doc.due_at < stale_after {
            return Ok(());
        }
        let mut claimed = current.doc.clone();
        claimed.due_at = now + self.attempt_span();
        match self.inner.repo.replace(&claimed, &current.etag).await {
            Ok(_) => {}
            Err(StoreError::PreconditionFailed | StoreError::NotFound) => return Ok(()),
            Err(e) => return Err(e),
        }
        let tenant = claimed.delivery_tenant_id;
        let delivery = self
            .inner
            .repo
            .get::<WebhookDelivery>(tenant, &claimed.delivery_id.to_string())
            .await?
            .map(|v| v.doc);
        let webhook = self
            .inner
            .repo
            .get::<Webhook>(tenant, &claimed.webhook_id.to_string())
            .await?
            .map(|v| v.doc);
        // Never recorded: the process died between the marker and the record.
        let delivery = delivery.unwrap_or_else(|| claimed.as_new_delivery());
        if delivery.status != DeliveryStatus::Pending {
            // It ended after its last marker write.
            self.drop_marker(&claimed.id).await;
            report.settled += 1;
            return Ok(());
        }
        let mut delivery = delivery;
        let Some(webhook) = webhook.filter(|w| w.active) else {
            delivery.status = DeliveryStatus::Failed;
            delivery.last_error = Some("the webhook was removed or deactivated".into());
            delivery.updated_at = time::now();
            self.record(&delivery).await;
            self.drop_marker(&claimed.id).await;
            report.settled += 1;
            return Ok(());
        };
        tracing::info!(delivery_id = %delivery.delivery_id, attempts = delivery.attempts, "resuming a webhook delivery whose process died");
        let pending = Pending {
            delivery,
            body: bytes::Bytes::from(claimed.body.into_bytes()),
        };
        self.spawn_attempts(webhook, pending);
        report.resumed += 1;
        Ok(())
    }

    async fn drop_marker(&self, id: &str) {
        let dropped = self
            .inner
            .repo
            .store()
            .delete(Collection::Leases, SYSTEM_PARTITION, id, None)
            .await;
        match dropped {
            Ok(()) | Err(StoreError::NotFound) => {}
            Err(e) => {
                tracing::warn!(error = %e, "cannot drop a pending-delivery marker; the next sweep will")
            }
        }
    }

    /// How long one attempt may take: its timeout, and as long again for
    /// recording it.
    pub(crate) fn attempt_span(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.inner.settings.timeout * 2).unwrap_or_default()
    }
}
