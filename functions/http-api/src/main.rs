//! `http-api`: the service's HTTP API behind API Gateway (HTTP API), the same
//! axum router the container serves on port 3052. A trigger is handed to the
//! function that owns runs (`on-schedule`, via `integration.sync.run_requested`)
//! before the 202: Lambda freezes this sandbox once it has answered.

use sync_core::{
    assembly::Core,
    repository::Repository,
    webhooks::{WebhookService, url_guard::HostAllowlist},
};
use sync_http::AppState;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    let settings = function_runtime::settings()?;
    let store = function_runtime::store(&settings).await?;
    let bus = function_runtime::bus(&settings)?;
    let syncing = sync_adapters::syncing(&settings, store.clone(), bus)?;
    let allowlist = HostAllowlist::new(settings.webhooks.allowed_hosts.clone());
    let core = Core::assemble_handing_off(settings, syncing.adapters);
    let deliveries = syncing.deliveries;
    let invalidate = deliveries.clone();
    let webhooks = WebhookService::new(Repository::new(store), allowlist)
        .on_change(move |tenant| invalidate.invalidate(tenant));
    // Lambda freezes the sandbox once it has answered: what a request
    // published (a resolved conflict's data.synced) reaches webhooks first.
    let router = sync_http::router(AppState::new(&core, webhooks)).layer(
        axum::middleware::from_fn(move |request, next: axum::middleware::Next| {
            let deliveries = deliveries.clone();
            async move {
                let response = next.run(request).await;
                deliveries.idle().await;
                response
            }
        }),
    );
    lambda_http::run(router).await
}
