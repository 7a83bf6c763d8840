//! Typed configuration, loaded once at start from `config/default.yaml`.
//!
//! Every component receives the section it needs; nothing reads the environment
//! after start-up. Loading and validation live in `load` and `validate`.

mod load;
mod validate;

pub use load::{ConfigError, load_from_file, load_from_str};

use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};

#[derive(Debug, Clone, Deserialize)]
pub struct Settings {
    pub server: ServerSettings,
    /// Identifies this process in event envelopes; a random id when empty.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub instance_id: Option<String>,
    pub log: LogSettings,
    pub cosmos_db: CosmosSettings,
    pub storage: StorageSettings,
    pub jwt: JwtSettings,
    pub services: ServicesSettings,
    pub rabbitmq: RabbitMqSettings,
    pub sync_scheduler: SchedulerSettings,
    pub token_refresh: TokenRefreshSettings,
    pub sync_limits: SyncLimits,
    pub mapping: MappingSettings,
    pub webhooks: WebhookSettings,
    pub providers: ProviderSettings,
    pub recovery: RecoverySettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RecoverySettings {
    /// Sweep for runs whose process died and for unpublished outbox events.
    pub enabled: bool,
    #[serde(rename = "interval_ms", deserialize_with = "millis")]
    pub interval: Duration,
    /// A store or broker outage is waited out this long, with backoff, before
    /// the operation that met it fails.
    #[serde(rename = "outage_tolerance_ms", deserialize_with = "millis")]
    pub outage_tolerance: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ProviderSettings {
    #[serde(rename = "request_timeout_ms", deserialize_with = "millis")]
    pub request_timeout: Duration,
    pub max_attempts: u32,
    #[serde(rename = "backoff_min_ms", deserialize_with = "millis")]
    pub backoff_min: Duration,
    #[serde(rename = "backoff_max_ms", deserialize_with = "millis")]
    pub backoff_max: Duration,
    #[serde(rename = "max_retry_after_ms", deserialize_with = "millis")]
    pub max_retry_after: Duration,
    pub requests_per_second: u32,
    pub burst: u32,
    /// A provider reporting this share of its daily limit used pauses the
    /// tenant's requests to it for `limit_pause`.
    pub limit_threshold: f64,
    #[serde(rename = "limit_pause_ms", deserialize_with = "millis")]
    pub limit_pause: Duration,
    pub salesforce: SalesforceSettings,
    pub hubspot: HubSpotSettings,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SalesforceSettings {
    pub api_version: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct HubSpotSettings {
    pub base_url: String,
    pub search_result_cap: u64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct WebhookSettings {
    /// Hosts webhooks may target although they are local (and over http),
    /// e.g. `localhost` for development receivers. Empty in production.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    #[serde(rename = "timeout_ms", deserialize_with = "millis")]
    pub timeout: Duration,
    pub max_attempts: u32,
    #[serde(rename = "backoff_min_ms", deserialize_with = "millis")]
    pub backoff_min: Duration,
    #[serde(rename = "backoff_max_ms", deserialize_with = "millis")]
    pub backoff_max: Duration,
    pub unhealthy_after: u32,
    pub deactivate_after: u32,
    pub max_response_bytes: usize,
    pub concurrency: usize,
    /// A pending delivery whose next attempt is this late is taken for dead
    /// (its process died) and resumed by the recovery sweep.
    #[serde(rename = "stale_after_ms", deserialize_with = "millis")]
    pub stale_after: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    pub body_limit_bytes: usize,
    #[serde(rename = "shutdown_grace_ms", deserialize_with = "millis")]
    pub shutdown_grace: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
    Auto,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogSettings {
    pub format: LogFormat,
    pub filter: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CosmosSettings {
    /// Empty selects the embedded SQLite store.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub endpoint: Option<String>,
    #[serde(default, deserialize_with = "empty_secret_as_none")]
    pub key: Option<SecretString>,
    pub database_id: String,
    pub create_containers: bool,
    pub region: String,
    pub allow_http2: bool,
    pub containers: CosmosContainers,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CosmosContainers {
    pub sync_tasks: String,
    pub executions: String,
    pub conflicts: String,
    pub webhooks: String,
    pub leases: String,
    pub sync_state: String,
    pub processed_events: String,
    pub deliveries: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct StorageSettings {
    pub data_dir: String,
    pub integrations_file: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct JwtSettings {
    pub secret: SecretString,
    /// When set, incoming tokens must carry it as `iss`, and minted ones do.
    /// The platform's tokens carry none in practice, so it is unset by default.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub issuer: Option<String>,
    /// When set, incoming tokens must carry it as `aud`, and minted ones do.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub audience: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServicesSettings {
    pub integration_manager: ServiceEndpoint,
    pub secret_management: ServiceEndpoint,
    pub shard_manager: ServiceEndpoint,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ServiceEndpoint {
    #[serde(default, deserialize_with = "empty_as_none")]
    pub url: Option<String>,
    #[serde(rename = "timeout_ms", deserialize_with = "millis")]
    pub timeout: Duration,
    /// Where the neighbour mounts its routes under `url` (secret-management:
    /// `/api/secrets`; behind the gateway, `/api/v1/secrets`).
    #[serde(default)]
    pub path: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct RabbitMqSettings {
    /// Empty selects the in-process event bus.
    #[serde(default, deserialize_with = "empty_as_none")]
    pub url: Option<String>,
    pub exchange: String,
    pub queue: String,
    pub dead_letter_exchange: String,
    pub dead_letter_queue: String,
    /// 0: the queue never expires.
    #[serde(rename = "queue_expires_ms", deserialize_with = "millis")]
    pub queue_expires: Duration,
    pub bindings: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SchedulerSettings {
    pub enabled: bool,
    #[serde(rename = "interval_ms", deserialize_with = "millis")]
    pub interval: Duration,
    /// Accepted because the first implementation's configuration has it; it
    /// read it nowhere either. integration-manager decides which integrations
    /// are due (`checkAndScheduleDueIntegrations`), unbatched, so no setting
    /// of this service can map onto it.
    pub batch_size: usize,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TokenRefreshSettings {
    pub enabled: bool,
    #[serde(rename = "interval_ms", deserialize_with = "millis")]
    pub interval: Duration,
    #[serde(rename = "expiration_threshold_ms", deserialize_with = "millis")]
    pub expiration_threshold: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SyncLimits {
    pub max_records_per_sync: u64,
    #[serde(rename = "min_interval_minutes", deserialize_with = "minutes")]
    pub min_interval: Duration,
    pub max_concurrent_syncs_per_tenant: u32,
    /// How long a running sync's concurrency slot survives without a heartbeat.
    #[serde(rename = "lease_ttl_ms", deserialize_with = "millis")]
    pub lease_ttl: Duration,
    pub page_size: usize,
    /// Records asked of integration-manager's fetch route per page (the
    /// provider for CRMs without a native adapter here). It answers from its
    /// own adapters, not from a CRM API this service budgets, so its pages
    /// are larger: the walk waits on a page's round trip, not on its size.
    pub integration_manager_page_size: usize,
    #[serde(rename = "cursor_overlap_ms", deserialize_with = "millis")]
    pub cursor_overlap: Duration,
    pub mass_delete_share: f64,
    pub mass_delete_min: u64,
    /// A run with a deadline (a function's invocation) stops at the last page
    /// boundary that leaves this much time, plus twice its slowest page, to
    /// record where it stopped and hand the task on.
    #[serde(rename = "deadline_margin_ms", deserialize_with = "millis")]
    pub deadline_margin: Duration,
}

#[derive(Debug, Clone, Deserialize)]
pub struct MappingSettings {
    /// Publish `integration.data.raw` batches for large syncs (off: one event
    /// per record, which is what the platform consumes today).
    pub batch_events: bool,
    /// The routing key of batch events: the seed's `integration.data.raw.batch`
    /// for a platform whose rule accepts it, else a conforming one it binds.
    pub batch_event_type: String,
    pub batch_size: usize,
    pub batch_threshold: usize,
    pub retry_attempts: u32,
    #[serde(rename = "retry_backoff_ms", deserialize_with = "millis")]
    pub retry_backoff: Duration,
    pub prefetch: u16,
    /// Seconds in the file.
    #[serde(deserialize_with = "seconds")]
    pub idempotency_ttl: Duration,
}

fn empty_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Option::<String>::deserialize(d)?;
    Ok(value.filter(|v| !v.trim().is_empty()))
}

fn empty_secret_as_none<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SecretString>, D::Error> {
    Ok(empty_as_none(d)?.map(SecretString::from))
}

/// Durations are written in the file in the unit their key names (`*_ms`,
/// `*_minutes`, seconds for `idempotency_ttl`) and typed as `Duration` here.
fn millis<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_millis)
}

fn minutes<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(|m| Duration::from_secs(m * 60))
}

fn seconds<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    u64::deserialize(d).map(Duration::from_secs)
}
