//! The native providers, registered under the keys integrations name them by
//! (`providerName`), sharing one HTTP client, request budget and credentials.

use std::sync::Arc;

use sync_core::{
    config::ProviderSettings,
    ports::{CredentialSource, ProviderRegistry, RequestBudget},
};

use crate::{
    http::{HttpPolicy, ProviderHttp},
    hubspot::HubSpotProvider,
    salesforce::SalesforceProvider,
};

/// `registry` with every native provider added.
pub fn register(
    registry: ProviderRegistry,
    settings: &ProviderSettings,
    credentials: Arc<dyn CredentialSource>,
    budget: Arc<dyn RequestBudget>,
) -> anyhow::Result<ProviderRegistry> {
    let http = ProviderHttp::new(HttpPolicy::from(settings), credentials, budget)?;
    let hubspot = &settings.hubspot;
    Ok(registry
        .with(
            "salesforce",
            Arc::new(SalesforceProvider::new(
                http.clone(),
                &settings.salesforce.api_version,
            )),
        )
        .with(
            "hubspot",
            Arc::new(HubSpotProvider::new(
                http,
                &hubspot.base_url,
                hubspot.search_result_cap,
            )),
        ))
}
