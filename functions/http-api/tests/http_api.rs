//! `http-api` under an emulated Runtime API, fed API Gateway requests.

use integration_tests::lambda::{RunningFunction, RuntimeApi, deployment, response};
use serde_json::json;

#[tokio::test]
async fn http_api_answers_api_gateway_requests_with_the_same_router() {
    let deployment = deployment(&[], &[]).await;
    let api = RuntimeApi::start().await;
    let _function = RunningFunction::start(env!("CARGO_BIN_EXE_http-api"), &api, &deployment.env);
    let request = |path: &str| {
        json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
            "headers": {"host": "api.example.com", "accept": "application/json"},
            "requestContext": {
                "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com", "domainPrefix": "api",
                "http": {"method": "GET", "path": path, "protocol": "HTTP/1.1", "sourceIp": "203.0.113.1", "userAgent": "test"},
                "requestId": "r-1", "routeKey": "$default", "stage": "$default", "time": "27/Nov/2026:00:00:00 +0000", "timeEpoch": 1795737600000u64
            },
            "isBase64Encoded": false
        })
    };

    let health = response(api.invoke(request("/health")).await);
    assert_eq!(health["statusCode"], 200);
    assert!(health["body"].as_str().unwrap().contains("\"ok\""));
    let refused = response(api.invoke(request("/api/v1/sync/tasks")).await);
    assert_eq!(refused["statusCode"], 401);
    assert!(refused["body"].as_str().unwrap().contains("unauthorized"));
}
