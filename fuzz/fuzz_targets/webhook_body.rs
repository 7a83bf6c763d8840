//! Webhook bodies: a subscription created through the API (validation,
//! SSRF guard) and a provider's webhook notification arriving as
//! `integration.webhook.received`. Never a panic, never a 5xx for bad input.

#![no_main]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use libfuzzer_sys::fuzz_target;
use sync_core::{auth::TokenIssuer, inbound::consumes};
use tower::ServiceExt;

fuzz_target!(|data: &[u8]| {
    let h = common::harness();
    let Some((which, body)) = data.split_first() else {
        return;
    };
    if which % 2 == 0 {
        let token = TokenIssuer::new(&h.app.core.settings.jwt).user_token(
            "fuzz",
            Some(common::TENANT.parse().unwrap()),
            std::time::Duration::from_secs(600),
        );
        let request = axum::http::Request::post("/api/v1/webhooks")
            .header("authorization", format!("Bearer {token}"))
            .header("x-tenant-id", common::TENANT)
            .header("content-type", "application/json")
            .body(Body::from(body.to_vec()))
            .unwrap();
        let response = h.runtime.block_on(h.app.router().oneshot(request)).unwrap();
        assert!(
            !response.status().is_server_error(),
            "a webhook body got {}",
            response.status()
        );
    } else {
        let Ok(data) = serde_json::from_slice::<serde_json::Value>(body) else {
            return;
        };
        // A new event id each time, or every input after the first would be
        // a duplicate of it.
        static SEQUENCE: AtomicU64 = AtomicU64::new(0);
        let id = format!(
            "00000000-0000-4000-8000-{:012x}",
            SEQUENCE.fetch_add(1, Ordering::Relaxed)
        );
        let envelope = serde_json::json!({
            "id": id, "type": "integration.webhook.received",
            "version": "1.0", "timestamp": "2026-11-27T00:00:00.000Z", "tenantId": common::TENANT,
            "source": {"service": "integration-manager", "instance": "fuzz"}, "data": data,
        });
        let bytes = serde_json::to_vec(&envelope).unwrap();
        let _ = h
            .runtime
            .block_on(h.app.core.dispatcher.handle(&bytes, consumes::ALL));
    }
});
