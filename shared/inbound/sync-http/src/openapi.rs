//! The OpenAPI document, generated from the handlers and types. The committed
//! `openapi.yaml` must equal [`yaml()`] (a test checks it); regenerate it with
//! `cargo run --bin integration-sync -- openapi > openapi.yaml`.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme},
};

use super::{error, pagination::Paged, routes};
use sync_core::{
    domain::{
        ConflictStrategy, Direction, RecordCounters, SyncConflict, SyncExecution, SyncTask,
        TaskStatus,
    },
    webhooks::{CreateWebhook, UpdateWebhook, WebhookView},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "integration-sync",
        description = "Sync tasks, conflicts and webhooks of the integration-sync service. \
                       Every /api/v1 call needs a Bearer JWT and X-Tenant-ID.",
    ),
    paths(
        routes::tasks::trigger,
        routes::tasks::list_tasks,
        routes::tasks::get_task,
        routes::tasks::cancel_task,
        routes::tasks::list_executions,
        routes::conflicts::list_conflicts,
        routes::conflicts::get_conflict,
        routes::conflicts::resolve_conflict,
        routes::webhooks::create_webhook,
        routes::webhooks::get_webhook,
        routes::webhooks::update_webhook,
        routes::webhooks::delete_webhook,
        routes::webhooks::list_integration_webhooks,
        routes::webhooks::list_deliveries,
        routes::health::health,
        routes::health::ready,
        routes::meta::metrics,
        routes::meta::openapi_yaml,
    ),
    components(schemas(
        SyncTask, SyncExecution, SyncConflict, TaskStatus, Direction, ConflictStrategy, RecordCounters,
        WebhookView, CreateWebhook, UpdateWebhook, error::ErrorBody, error::ErrorDetail,
        routes::tasks::TriggerSyncBody, routes::tasks::TriggerSyncResponse,
        routes::conflicts::ResolveConflictBody, sync_core::domain::merge::FieldConflict,
        Paged<SyncTask>, Paged<SyncExecution>, Paged<SyncConflict>,
        Paged<sync_core::domain::webhook::WebhookDelivery>, sync_core::domain::webhook::WebhookDelivery,
        sync_core::domain::webhook::DeliveryStatus,
    )),
    modifiers(&SecuritySchemes, &CommonErrors),
    tags(
        (name = "sync", description = "Sync tasks and their executions"),
        (name = "conflicts", description = "Conflicts found by bidirectional syncs"),
        (name = "webhooks", description = "Webhooks tenants register for this service's events"),
        (name = "health", description = "Liveness and readiness"),
        (name = "meta", description = "The service describing itself: metrics and this document"),
    )
)]
pub struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "tenant",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-Tenant-ID"))),
        );
    }
}

/// Answers every operation can give, documented once here: auth failures on
/// secured operations, body limits where there is a body, and 503 when a
/// dependency is down.
struct CommonErrors;

impl Modify for CommonErrors {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let error = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("ErrorBody")))
                        .build(),
                )
                .build()
        };
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
            ];
            for operation in operations.into_iter().flatten() {
                let secured = operation.security.as_ref().is_some_and(|s| !s.is_empty());
                let has_body = operation.request_body.is_some();
                let responses = &mut operation.responses.responses;
                let mut add = |status: &str, description: &str| {
                    responses
                        .entry(status.to_owned())
                        .or_insert_with(|| error(description).into());
                };
                if secured {
                    add(
                        "401",
                        "Missing, invalid or expired token, or missing X-Tenant-ID",
                    );
                    add(
                        "403",
                        "Malformed X-Tenant-ID, or a token for another tenant",
                    );
                }
                if has_body {
                    add("413", "Body larger than the service accepts");
                    add("415", "Body is not application/json");
                }
                if secured {
                    add(
                        "503",
                        "A dependency (store, event bus, directory) is unavailable",
                    );
                }
            }
        }
    }
}

pub fn yaml() -> String {
    ApiDoc::openapi()
        .to_yaml()
        .expect("the OpenAPI document serialises to YAML")
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_committed_openapi_yaml_matches_the_code() {
        let committed = include_str!("../../../../openapi.yaml");
        assert!(
            committed == super::yaml(),
            "openapi.yaml is out of date: run `cargo run --bin integration-sync -- openapi > openapi.yaml`"
        );
    }

    /// The routes `router()` registers, read from its source: the API's
    /// under `/api/v1`, the rest at the root. A route added without its
    /// `#[utoipa::path]` fails here.
    fn routes_of_the_router() -> Vec<String> {
        let source = include_str!("lib.rs");
        let body = &source[source.find("pub fn router(").expect("router()")..];
        let root = body
            .find("Router::new()\n        .route(\"/health\"")
            .expect("the root router");
        let mut routes = Vec::new();
        for (at, _) in body.match_indices(".route(") {
            let rest = &body[at..];
            let Some(start) = rest.find('"') else {
                continue;
            };
            let path: String = rest[start + 1..]
                .chars()
                .take_while(|c| *c != '"')
                .collect();
            let prefix = if at < root { "/api/v1" } else { "" };
            routes.push(format!("{prefix}{path}"));
        }
        routes
    }

    /// `{task_id}` and `{taskId}` alike: parameter names differ in case only.
    fn shape(path: &str) -> String {
        let mut shape = String::new();
        let mut in_param = false;
        for c in path.chars() {
            match c {
                '{' => {
                    in_param = true;
                    shape.push_str("{}");
                }
                '}' => in_param = false,
                c if !in_param => shape.push(c),
                _ => {}
            }
        }
        shape
    }

    #[test]
    fn every_route_of_the_router_is_documented_and_nothing_else() {
        use utoipa::OpenApi;
        let routes: std::collections::BTreeSet<String> =
            routes_of_the_router().iter().map(|r| shape(r)).collect();
        let documented: std::collections::BTreeSet<String> = super::ApiDoc::openapi()
            .paths
            .paths
            .keys()
            .map(|p| shape(p))
            .collect();
        assert!(routes.len() >= 16, "the router was read: {routes:?}");
        assert_eq!(routes, documented);
    }
}
