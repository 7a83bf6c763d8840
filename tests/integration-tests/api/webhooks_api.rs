//! Webhook registration: CRUD, write-only secrets, URL and event validation.

use integration_tests::{SpawnOptions, spawn_app};
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn a_webhook_is_created_read_changed_listed_and_deleted() {
    let app = spawn_app(SpawnOptions::default()).await;
    let tenant = Uuid::new_v4();
    let secret = "s3cr3t-value-that-must-stay-hidden";
    let response = app
        .authed(Method::POST, "/api/v1/webhooks", tenant)
        .json(&json!({"integrationId": "int-7", "url": "https://hooks.example.com/in", "events": ["integration.sync.completed", "integration.sync.completed"], "secret": secret}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let text = response.text().await.unwrap();
    assert!(
        !text.contains(secret),
        "the secret must never be echoed: {text}"
    );
    let created: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(created["hasSecret"], true);
    assert_eq!(created["active"], true);
    assert_eq!(created["events"], json!(["integration.sync.completed"]));
    let id = created["webhookId"].as_str().unwrap();

    let read: Value = app
        .authed(Method::GET, &format!("/api/v1/webhooks/{id}"), tenant)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["url"], "https://hooks.example.com/in");
    assert!(read.get("secret").is_none());

    let updated: Value = app
        .authed(Method::PUT, &format!("/api/v1/webhooks/{id}"), tenant)
        .json(&json!({"events": ["integration.sync.failed"], "active": false, "secret": ""}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["active"], false);
    assert_eq!(updated["hasSecret"], false);
    assert_eq!(updated["events"], json!(["integration.sync.failed"]));

    let listed: Value = app
        .authed(Method::GET, "/api/v1/integrations/int-7/webhooks", tenant)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1);
    let other: Value = app
        .authed(Method::GET, "/api/v1/integrations/int-8/webhooks", tenant)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(other.as_array().unwrap().is_empty());

    let deleted = app
        .authed(Method::DELETE, &format!("/api/v1/webhooks/{id}"), tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let gone = app
        .authed(Method::GET, &format!("/api/v1/webhooks/{id}"), tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), 404);
    let again = app
        .authed(Method::DELETE, &format!("/api/v1/webhooks/{id}"), tenant)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 404);
    app.cleanup().await;
}

#[tokio::test]
async fn unsafe_urls_unknown_events_and_weak_secrets_are_refused_naming_the_field() {
    let app = spawn_app(SpawnOptions::default()).await;
    let tenant = Uuid::new_v4();
    let base = json!({"integrationId": "int-1", "url": "https://hooks.example.com/x", "events": ["integration.sync.completed"]});
    let with = |key: &str, value: Value| {
        let mut body = base.clone();
        body[key] = value;
        body
    };
    let cases = [
        (with("url", json!("http://hooks.example.com/x")), "url"),
        (with("url", json!("https://127.0.0.1/x")), "url"),
        (with("url", json!("https://169.254.169.254/latest")), "url"),
        (with("url", json!("https://[::1]/x")), "url"),
        (with("url", json!("https://localhost/x")), "url"),
        (with("url", json!("https://10.0.0.8/x")), "url"),
        (with("url", json!("not a url")), "url"),
        (with("events", json!([])), "events"),
        (with("events", json!(["integration.everything"])), "events"),
        (with("secret", json!("short")), "secret"),
        (with("unexpected", json!(1)), "unexpected"),
        (with("integrationId", json!("")), "integrationId"),
    ];
    for (body, field) in cases {
        let response = app
            .authed(Method::POST, "/api/v1/webhooks", tenant)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let error: Value = response.json().await.unwrap();
        assert_eq!(status, 400, "{body}: {error}");
        assert!(
            error["error"]["message"].as_str().unwrap().contains(field),
            "{body}: {error}"
        );
    }
    app.cleanup().await;
}

#[tokio::test]
async fn an_allowlisted_local_receiver_may_be_registered_over_http() {
    let tweak: fn(&mut sync_core::config::Settings) =
        |s| s.webhooks.allowed_hosts = vec!["127.0.0.1".into()];
    let app = spawn_app(SpawnOptions {
        tweak: Some(tweak),
        ..Default::default()
    })
    .await;
    let tenant = Uuid::new_v4();
    let response = app
        .authed(Method::POST, "/api/v1/webhooks", tenant)
        .json(&json!({"integrationId": "int-1", "url": "http://127.0.0.1:9/hook", "events": ["integration.sync.completed"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let still_refused = app
        .authed(Method::POST, "/api/v1/webhooks", tenant)
        .json(&json!({"integrationId": "int-1", "url": "https://192.168.0.1/hook", "events": ["integration.sync.completed"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(still_refused.status(), 400);
    app.cleanup().await;
}
