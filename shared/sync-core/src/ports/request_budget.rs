//! How many requests a tenant may send a provider, across every instance of
//! the service, and what the provider itself says about its limits.

use async_trait::async_trait;

use crate::domain::TenantId;

/// What a provider reported about its own limit in an answer's headers
/// (Salesforce `Sforce-Limit-Info`, HubSpot `X-HubSpot-RateLimit-*`).
#[derive(Debug, Clone, PartialEq)]
pub struct LimitReport {
    /// What the limit counts, for people: "daily API requests".
    pub what: &'static str,
    pub used: u64,
    pub limit: u64,
    /// When the provider says the count starts again (a short interval
    /// limit); `None` for a rolling daily limit.
    pub resets_in: Option<std::time::Duration>,
}

impl LimitReport {
    pub fn share_used(&self) -> f64 {
        if self.limit == 0 {
            return 1.0;
        }
        self.used as f64 / self.limit as f64
    }
}

#[derive(Debug, thiserror::Error)]
#[error("the request budget could not be read: {0}")]
pub struct BudgetError(pub String);

#[async_trait]
pub trait RequestBudget: Send + Sync {
    /// Waits until one more request of `tenant` to `provider` fits the
    /// budget shared by every instance (and no pause the provider asked for
    /// is on).
    async fn acquire(&self, tenant: TenantId, provider: &'static str) -> Result<(), BudgetError>;

    /// Takes in what the provider said about its limits: near one, requests
    /// of the tenant to it wait (every instance), instead of failing later.
    async fn report(&self, tenant: TenantId, provider: &'static str, report: LimitReport);

    /// Why requests of `tenant` to `provider` wait now, when they do.
    fn waiting(&self, tenant: TenantId, provider: &str) -> Option<String>;
}
