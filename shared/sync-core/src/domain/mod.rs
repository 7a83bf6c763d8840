//! The domain: what integration-sync talks about, serialised exactly as the
//! platform's CONTRACT.md describes (camelCase JSON, ISO 8601 UTC timestamps).

pub mod conflict;
pub mod events;
pub mod execution;
pub mod field_mapping;
pub mod integration;
pub mod merge;
pub mod record;
pub mod shard;
pub mod sync_state;
pub mod task;
pub mod time;
pub mod webhook;

pub use conflict::{ConflictStrategy, SyncConflict};
pub use execution::SyncExecution;
pub use integration::{ConflictResolution, EntityMapping, Integration, SyncConfig};
pub use record::ExternalRecord;
pub use task::{Direction, RecordCounters, SyncTask, TaskStatus};
pub use webhook::Webhook;

/// Tenants are identified by UUID everywhere (header, token, partition key).
pub type TenantId = uuid::Uuid;

/// The partition that holds service-wide documents (markers the recovery
/// sweeps walk); no tenant has the nil id.
pub const SYSTEM_PARTITION: TenantId = uuid::Uuid::nil();
