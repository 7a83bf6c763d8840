//! The security matrix: every endpoint, every way to get authentication or
//! tenancy wrong, and every way to reach another tenant's resources.

use integration_tests::{SpawnOptions, TestApp, sandbox_integration, spawn_app, tokens};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

/// (method, path, body) of every authenticated endpoint, with ids that exist
/// for `owner`.
fn endpoints(task: &str, webhook: &str, integration: &str) -> Vec<(Method, String, Option<Value>)> {
    let webhook_body = json!({"integrationId": integration, "url": "https://hooks.example.com/x", "events": ["integration.sync.completed"]});
    vec![
        (
            Method::POST,
            "/api/v1/sync/trigger".into(),
            Some(json!({"integrationId": integration, "direction": "inbound"})),
        ),
        (Method::GET, "/api/v1/sync/tasks".into(), None),
        (Method::GET, format!("/api/v1/sync/tasks/{task}"), None),
        (
            Method::POST,
            format!("/api/v1/sync/tasks/{task}/cancel"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/sync/tasks/{task}/executions"),
            None,
        ),
        (Method::GET, "/api/v1/sync/conflicts".into(), None),
        (
            Method::GET,
            format!("/api/v1/sync/conflicts/{}", Uuid::new_v4()),
            None,
        ),
        (
            Method::POST,
            format!("/api/v1/sync/conflicts/{}/resolve", Uuid::new_v4()),
            Some(json!({"resolution": "source_wins"})),
        ),
        (Method::POST, "/api/v1/webhooks".into(), Some(webhook_body)),
        (Method::GET, format!("/api/v1/webhooks/{webhook}"), None),
        (
            Method::PUT,
            format!("/api/v1/webhooks/{webhook}"),
            Some(json!({"active": false})),
        ),
        (Method::DELETE, format!("/api/v1/webhooks/{webhook}"), None),
        (
            Method::GET,
            format!("/api/v1/integrations/{integration}/webhooks"),
            None,
        ),
        (
            Method::GET,
            format!("/api/v1/webhooks/{webhook}/deliveries"),
            None,
        ),
    ]
}

async fn fixture() -> (TestApp, Uuid, String, String, String) {
    let fixture = sandbox_integration(&["contact"], 5);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        ..Default::default()
    })
    .await;
    let task = app
        .trigger_inbound(fixture.tenant, &fixture.integration.id)
        .await;
    let webhook: Value = app
        .authed(Method::POST, "/api/v1/webhooks", fixture.tenant)
        .json(&json!({"integrationId": fixture.integration.id, "url": "https://hooks.example.com/a", "events": ["integration.sync.failed"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let webhook = webhook["webhookId"].as_str().unwrap().to_owned();
    (app, fixture.tenant, task, webhook, fixture.integration.id)
}

#[tokio::test]
async fn every_endpoint_refuses_bad_credentials_and_bad_tenancy() {
    let (app, tenant, task, webhook, integration) = fixture().await;
    let jwt = &app.settings.jwt;
    let header = tenant.to_string();
    let cases: Vec<(&str, Option<String>, Option<String>, StatusCode)> = vec![
        (
            "no token",
            None,
            Some(header.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "expired token",
            Some(tokens::expired(jwt, tenant)),
            Some(header.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "bad signature",
            Some(tokens::signed_with_another_secret(jwt, tenant)),
            Some(header.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "alg none",
            Some(tokens::unsigned(jwt, tenant)),
            Some(header.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "refresh token",
            Some(tokens::refresh_token(jwt, tenant)),
            Some(header.clone()),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "token of another tenant",
            Some(tokens::valid_for(&app, Uuid::new_v4())),
            Some(header.clone()),
            StatusCode::FORBIDDEN,
        ),
        (
            "missing tenant",
            Some(tokens::valid_for(&app, tenant)),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (
            "malformed tenant",
            Some(tokens::valid_for(&app, tenant)),
            Some("not-a-uuid".into()),
            StatusCode::FORBIDDEN,
        ),
    ];
    for (method, path, body) in endpoints(&task, &webhook, &integration) {
        for (case, token, tenant_header, expected) in &cases {
            let mut request = app.http.request(method.clone(), app.url(&path));
            if let Some(token) = token {
                request = request.bearer_auth(token);
            }
            if let Some(tenant_header) = tenant_header {
                request = request.header("X-Tenant-ID", tenant_header);
            }
            if let Some(body) = &body {
                request = request.json(body);
            }
            let response = request.send().await.unwrap();
            let status = response.status();
            let error: Value = response.json().await.unwrap_or(Value::Null);
            assert_eq!(status, *expected, "{method} {path} with {case}: {error}");
            assert!(
                error["error"]["code"].is_string(),
                "{method} {path} with {case}: error shape {error}"
            );
        }
    }
    app.cleanup().await;
}

#[tokio::test]
async fn another_tenants_resources_are_not_found_and_never_listed() {
    let (app, owner, task, webhook, integration) = fixture().await;
    let stranger = Uuid::new_v4();
    for (method, path, body) in endpoints(&task, &webhook, &integration) {
        if path.ends_with("/trigger") || method == Method::POST && path == "/api/v1/webhooks" {
            continue; // creating in one's own tenant is allowed; checked below
        }
        let mut request = app.authed(method.clone(), &path, stranger);
        if let Some(body) = &body {
            request = request.json(body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if path.ends_with("/tasks") || path.ends_with("/conflicts") || path.ends_with("/webhooks") {
            assert_eq!(status, StatusCode::OK, "{method} {path}");
            let items = body
                .get("items")
                .unwrap_or(&body)
                .as_array()
                .unwrap()
                .clone();
            assert!(
                items.is_empty(),
                "{method} {path} listed another tenant's items: {body}"
            );
        } else {
            assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}: {body}");
        }
    }
    // A trigger of the owner's integration from the stranger is a 404 too.
    let response = app
        .trigger(
            stranger,
            json!({"integrationId": integration, "direction": "inbound"}),
        )
        .await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    // And the owner's resources are untouched.
    let still_there = app
        .authed(Method::GET, &format!("/api/v1/webhooks/{webhook}"), owner)
        .send()
        .await
        .unwrap();
    let still_there: Value = still_there.json().await.unwrap();
    assert_eq!(still_there["active"], true);
    app.cleanup().await;
}
