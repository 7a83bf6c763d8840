//! The data of the events this service publishes. Payloads borrow from the
//! records they describe (`&RawValue`), so an event is serialised straight
//! from the provider's bytes, once.

use serde::Serialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::domain::{RecordCounters, TenantId, merge::FieldChange};

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncStarted<'a> {
    pub task_id: Uuid,
    pub execution_id: Uuid,
    pub integration_id: &'a str,
    pub direction: &'a str,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncCompleted<'a> {
    pub task_id: Uuid,
    pub integration_id: &'a str,
    pub execution_id: Uuid,
    #[serde(flatten)]
    pub counters: RecordCounters,
    pub entity_types: &'a [String],
    pub cursors: &'a std::collections::BTreeMap<String, String>,
    pub more_remaining: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncCancelled<'a> {
    pub task_id: Uuid,
    pub integration_id: &'a str,
    pub execution_id: Uuid,
    #[serde(flatten)]
    pub counters: RecordCounters,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncFailed<'a> {
    pub task_id: Uuid,
    pub integration_id: &'a str,
    pub execution_id: Uuid,
    pub error: &'a str,
}

/// `integration.sync.run_requested`: the task a function that owns runs is
/// to take up, first (`continuation` 0, handed over by a trigger) or again
/// (a run that stopped at its invocation's deadline).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncRunRequested<'a> {
    pub task_id: Uuid,
    pub integration_id: &'a str,
    pub continuation: u32,
}

/// Metadata carried inside data events, for processors that trace a record.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordMetadata<'a> {
    pub execution_id: Uuid,
    pub provider: &'a str,
    pub direction: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub modified_at: Option<String>,
    /// `created` or `updated` (relative to what this integration last synced).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<&'static str>,
}

/// A record the provider deleted; its state is now a tombstone.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataDeleted<'a> {
    pub integration_id: &'a str,
    pub tenant_id: TenantId,
    pub entity_type: &'a str,
    pub external_id: &'a str,
    pub deleted_at: String,
    pub sync_task_id: Uuid,
    pub idempotency_key: String,
    pub correlation_id: String,
    pub metadata: RecordMetadata<'a>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataRaw<'a> {
    pub integration_id: &'a str,
    pub tenant_id: TenantId,
    pub entity_type: &'a str,
    pub raw_data: &'a RawValue,
    pub external_id: &'a str,
    pub sync_task_id: Uuid,
    pub idempotency_key: String,
    pub correlation_id: String,
    pub metadata: RecordMetadata<'a>,
    /// For updates: what changed since the last sync.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<&'a [FieldChange]>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecord<'a> {
    pub raw_data: &'a RawValue,
    pub external_id: &'a str,
    pub idempotency_key: String,
    pub change: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub changes: Option<&'a [FieldChange]>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataRawBatch<'a> {
    pub integration_id: &'a str,
    pub tenant_id: TenantId,
    pub entity_type: &'a str,
    pub records: Vec<BatchRecord<'a>>,
    pub batch_size: usize,
    pub sync_task_id: Uuid,
    pub correlation_id: String,
    pub metadata: RecordMetadata<'a>,
}

/// `integration.data.synced`: a change went out to the external system.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSynced<'a> {
    pub shard_id: &'a str,
    pub direction: &'static str,
    pub integration_id: &'a str,
    pub external_id: &'a str,
    pub entity_type: &'a str,
    pub changes: Vec<FieldChange>,
}

/// `integration.conflict.detected`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ConflictDetected<'a> {
    pub conflict_id: Uuid,
    pub task_id: Uuid,
    pub entity_id: &'a str,
    pub entity_type: &'a str,
    pub strategy: &'a str,
    pub integration_id: &'a str,
    pub fields: Vec<&'a str>,
}

/// `integration.sync.check_due`: the scheduler's tick; integration-manager
/// answers with `integration.sync.scheduled` for each integration due.
#[derive(Debug, Serialize)]
pub struct CheckDue {
    pub timestamp: String,
}

/// `integration.token.check_expiring`: the token timer's tick.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckExpiring {
    pub timestamp: String,
    pub threshold_time: String,
}

/// `integration.token.refreshed`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRefreshed<'a> {
    pub connection_id: &'a str,
    pub integration_id: &'a str,
    pub refreshed_at: String,
}

/// `integration.token.refresh_failed`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenRefreshFailed<'a> {
    pub connection_id: &'a str,
    pub integration_id: &'a str,
    pub error: &'a str,
    pub failed_at: String,
}

/// `integration.data.raw` for a record a bidirectional merge changed: the
/// merged record, so integration-processors updates the shard. It belongs to
/// no sync task, so it carries none.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformUpdate<'a> {
    pub integration_id: &'a str,
    pub tenant_id: TenantId,
    pub entity_type: &'a str,
    pub raw_data: &'a serde_json::Value,
    pub external_id: &'a str,
    pub idempotency_key: String,
    pub correlation_id: Uuid,
    pub metadata: PlatformUpdateMetadata,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PlatformUpdateMetadata {
    pub direction: &'static str,
    pub change: &'static str,
    pub changes: Vec<FieldChange>,
}
