//! What every provider adapter shares: an HTTP client with timeouts, retries
//! (429 honouring Retry-After; 5xx and timeouts with exponential backoff and
//! jitter), one credential refresh on 401, and the request budget per tenant
//! and provider (shared by every instance, paused when the provider's own
//! limit signals say it is nearly spent) so one tenant cannot starve the
//! others nor overrun its CRM's limits.

mod client;
mod limits;

pub use client::{HttpPolicy, ProviderHttp};
pub use sync_core::ports::{CredentialSource, Credentials};
