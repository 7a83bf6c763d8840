//! Authentication and tenant isolation on the API.

use integration_tests::{SpawnOptions, TestApp, sandbox_integration, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

async fn error_code(response: reqwest::Response) -> (StatusCode, String) {
    let status = response.status();
    let body: Value = response.json().await.expect("errors are JSON");
    let code = body["error"]["code"]
        .as_str()
        .expect("error.code")
        .to_owned();
    assert!(
        body["error"]["message"].is_string(),
        "error.message in {body}"
    );
    (status, code)
}

fn trigger_body(app_integration: &str) -> Value {
    json!({"integrationId": app_integration, "direction": "inbound"})
}

async fn app_with_one_integration() -> (TestApp, Uuid, String) {
    let fixture = sandbox_integration(&["contact"], 5);
    let app = spawn_app(SpawnOptions {
        integrations: vec![fixture.integration.clone()],
        ..Default::default()
    })
    .await;
    (app, fixture.tenant, fixture.integration.id)
}

#[tokio::test]
async fn missing_or_bad_credentials_are_refused_with_the_right_status() {
    let (app, tenant, integration) = app_with_one_integration().await;
    let url = app.url("/api/v1/sync/trigger");
    let token = app.token_for(tenant);
    let other_tenant_token = app.token_for(Uuid::new_v4());
    let no_tenant_token = integration_tests::tokens::without_tenant(&app.settings.jwt);
    let expired = integration_tests::tokens::expired(&app.settings.jwt, tenant);
    let refresh = integration_tests::tokens::refresh_token(&app.settings.jwt, tenant);
    let tenant_header = tenant.to_string();
    // (case, bearer token, X-Tenant-ID, expected status, expected code)
    type Case<'a> = (&'a str, Option<&'a str>, Option<&'a str>, u16, &'a str);
    let cases: Vec<Case> = vec![
        ("no token", None, Some(&tenant_header), 401, "unauthorized"),
        (
            "garbage token",
            Some("not-a-jwt"),
            Some(&tenant_header),
            401,
            "invalid_token",
        ),
        (
            "expired token",
            Some(&expired),
            Some(&tenant_header),
            401,
            "token_expired",
        ),
        (
            "no tenant header",
            Some(&token),
            None,
            401,
            "missing_tenant",
        ),
        (
            "malformed tenant",
            Some(&token),
            Some("tenant-1"),
            403,
            "invalid_tenant",
        ),
        (
            "token of another tenant",
            Some(&other_tenant_token),
            Some(&tenant_header),
            403,
            "tenant_mismatch",
        ),
        (
            "token without tenant",
            Some(&no_tenant_token),
            Some(&tenant_header),
            401,
            "invalid_token",
        ),
        (
            "refresh token",
            Some(&refresh),
            Some(&tenant_header),
            401,
            "invalid_token",
        ),
    ];
    for (name, bearer, tenant_id, status, code) in cases {
        let mut request = app.http.post(&url).json(&trigger_body(&integration));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
        if let Some(tenant_id) = tenant_id {
            request = request.header("X-Tenant-ID", tenant_id);
        }
        let (got_status, got_code) = error_code(request.send().await.unwrap()).await;
        assert_eq!(
            (got_status.as_u16(), got_code.as_str()),
            (status, code),
            "case: {name}"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn another_tenants_task_is_not_found() {
    let (app, tenant, integration) = app_with_one_integration().await;
    let task_id = app.trigger_inbound(tenant, &integration).await;
    let stranger = Uuid::new_v4();
    let response = app
        .authed(
            Method::GET,
            &format!("/api/v1/sync/tasks/{task_id}"),
            stranger,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(response).await,
        (StatusCode::NOT_FOUND, "not_found".into())
    );
    // Nor can the stranger start a sync of the integration.
    let response = app.trigger(stranger, trigger_body(&integration)).await;
    assert_eq!(response.status(), 404);
    app.cleanup().await;
}

#[tokio::test]
async fn invalid_bodies_get_400_naming_the_field() {
    let (app, tenant, integration) = app_with_one_integration().await;
    let cases = [
        (json!({"direction": "inbound"}), "integrationId"),
        (
            json!({"integrationId": integration, "direction": "sideways"}),
            "direction",
        ),
        (
            json!({"integrationId": 42, "direction": "inbound"}),
            "integrationId",
        ),
        (
            json!({"integrationId": "", "direction": "inbound"}),
            "integrationId",
        ),
        (
            json!({"integrationId": integration, "direction": "inbound", "filters": [1]}),
            "filters",
        ),
        (
            json!({"integrationId": integration, "direction": "inbound", "entityType": "a b"}),
            "entityType",
        ),
    ];
    for (body, field) in cases {
        let response = app.trigger(tenant, body.clone()).await;
        let status = response.status();
        let error: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{body}");
        assert_eq!(error["error"]["code"], "validation_error");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(field),
            "{body} -> {error}"
        );
    }
    let not_json = app
        .authed(Method::POST, "/api/v1/sync/trigger", tenant)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(not_json).await.0, StatusCode::BAD_REQUEST);
    let bad_task_id = app
        .authed(Method::GET, "/api/v1/sync/tasks/not-a-uuid", tenant)
        .send()
        .await
        .unwrap();
    let (status, _) = error_code(bad_task_id).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let missing = app
        .authed(
            Method::GET,
            &format!("/api/v1/sync/tasks/{}", Uuid::new_v4()),
            tenant,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(missing).await.0, StatusCode::NOT_FOUND);
    let too_large = app
        .authed(Method::POST, "/api/v1/sync/trigger", tenant)
        .header("content-type", "application/json")
        .body(format!(
            r#"{{"integrationId":"{}","direction":"inbound","filters":{{"x":"{}"}}}}"#,
            integration,
            "a".repeat(2 << 20)
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(too_large).await,
        (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large".into())
    );
    app.cleanup().await;
}
