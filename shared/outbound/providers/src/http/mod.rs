//! What every provider adapter shares: an HTTP client with timeouts, retries
//! (429 honouring Retry-After; 5xx and timeouts with exponential backoff and
//! jitter), one credential refresh on 401, and a request budget per tenant and
//! provider so one tenant cannot starve the others.

mod client;

pub use client::{HttpPolicy, ProviderHttp};
pub use sync_core::ports::{CredentialSource, Credentials};
