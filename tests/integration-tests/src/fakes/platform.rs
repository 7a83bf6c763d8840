//! integration-manager, shard-manager and secret-management, shaped as the
//! platform's own source defines them (castiel2 commit 105c784f; each route
//! names its file), behind the platform's `authenticateRequest` +
//! `tenantEnforcementMiddleware` (`containers/shared/src/middleware/`), so a
//! token this service mints that the platform would refuse fails here too.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, Request, State},
    http::{HeaderMap, StatusCode},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use secrecy::ExposeSecret;
use serde_json::{Value, json};
use sync_core::domain::Integration;

#[derive(Default)]
struct PlatformState {
    /// Documents as integration-manager stores them (integration.types.ts).
    integrations: Vec<Value>,
    secrets: HashMap<String, Value>,
    /// Secret name -> access token the next refresh rotates to.
    rotations: HashMap<String, String>,
    refresh_calls: usize,
    /// Connections whose refresh fails (the provider revoked the grant).
    broken_connections: Vec<String>,
    /// Records integration-manager's own adapter returns from `fetch`, as
    /// JSON text: an answer is their concatenation, so serving them costs
    /// the bench's machine next to nothing.
    fetchable: Vec<String>,
    /// The adapter ignores `offset` (as GoogleWorkspaceAdapter's callers do).
    ignores_offset: bool,
    /// The `limit` of every fetch, in order (`None`: not given).
    fetch_limits: Vec<Option<u64>>,
    shards: HashMap<String, Value>,
    /// Routes that answer `{}` (the platform's bare-`object` response schema).
    empty_answers: bool,
    /// Every token a request carried, decoded.
    tokens_seen: Vec<Value>,
    /// The platform's JWT secret (the tests' configuration's).
    jwt_secret: Vec<u8>,
    /// Serves the first implementation as well (the side-by-side bench).
    first_implementation: bool,
}

#[derive(Clone)]
pub struct FakePlatform {
    pub url: String,
    state: Arc<Mutex<PlatformState>>,
}

impl FakePlatform {
    pub async fn start(integrations: Vec<Integration>) -> Self {
        let documents = integrations
            .iter()
            .map(|i| serde_json::to_value(i).expect("integrations serialise"))
            .collect();
        Self::start_with_documents(documents).await
    }

    /// integration-manager serving these documents as they are.
    pub async fn start_with_documents(integrations: Vec<Value>) -> Self {
        let jwt = crate::spawn::test_settings().jwt;
        let state = Arc::new(Mutex::new(PlatformState {
            integrations,
            jwt_secret: jwt.secret.expose_secret().as_bytes().to_vec(),
            ..Default::default()
        }));
        let router = Router::new()
            // integration-manager src/routes/index.ts
            .route("/api/v1/integrations/{id}", get(integration))
            .route(
                "/api/v1/integrations/{id}/connections/{connection}/refresh",
                post(refresh),
            )
            .route("/api/v1/integrations/{id}/fetch", post(fetch))
            // shard-manager src/routes/index.ts
            .route("/api/v1/shards/{id}", get(shard))
            // secret-management src/server.ts mounts secretRoutes at /api/secrets
            .route("/api/secrets/{id}/value", get(secret))
            .layer(middleware::from_fn_with_state(state.clone(), authenticate))
            .with_state(state.clone());
        FakePlatform {
            url: super::serve(router).await,
            state,
        }
    }

    /// integration-manager now answers `integration` for its id (a tenant
    /// changed its settings).
    pub fn set_integration(&self, integration: &Integration) {
        let document = serde_json::to_value(integration).expect("integrations serialise");
        let mut state = self.state.lock().unwrap();
        state.integrations.retain(|i| i["id"] != document["id"]);
        state.integrations.push(document);
    }

    pub fn set_secret(&self, name: &str, value: Value) {
        self.state
            .lock()
            .unwrap()
            .secrets
            .insert(name.into(), value);
    }

    /// The next refresh of `name` rotates its access token to `token`.
    pub fn rotate_on_refresh(&self, name: &str, token: &str) {
        self.state
            .lock()
            .unwrap()
            .rotations
            .insert(name.into(), token.into());
    }

    /// Refreshing `connection` fails, as integration-manager answers a
    /// refused grant: `500 {error: {code: 'TOKEN_REFRESH_FAILED', message}}`.
    pub fn break_connection(&self, connection: &str) {
        self.state
            .lock()
            .unwrap()
            .broken_connections
            .push(connection.into());
    }

    pub fn refresh_calls(&self) -> usize {
        self.state.lock().unwrap().refresh_calls
    }

    pub fn set_fetchable(&self, records: Vec<Value>) {
        self.state.lock().unwrap().fetchable = records.iter().map(Value::to_string).collect();
    }

    /// integration-manager's adapter answers every fetch from the start.
    pub fn ignore_offset(&self) {
        self.state.lock().unwrap().ignores_offset = true;
    }

    pub fn fetch_calls(&self) -> usize {
        self.state.lock().unwrap().fetch_limits.len()
    }

    /// The `limit` each fetch asked for, in order.
    pub fn fetch_limits(&self) -> Vec<Option<u64>> {
        self.state.lock().unwrap().fetch_limits.clone()
    }

    /// shard-manager's copy of a shard (a `Shard` document).
    pub fn set_shard(&self, id: &str, shard: Value) {
        self.state.lock().unwrap().shards.insert(id.into(), shard);
    }

    /// `GET /integrations/{id}` and `GET /shards/{id}` answer `{}`, as the
    /// platform's routes do at that commit (their response schema is a bare
    /// `object`, which fastify serialises as an empty object).
    pub fn answer_empty_documents(&self) {
        self.state.lock().unwrap().empty_answers = true;
    }

    /// Also serves the platform's first implementation of this service, which
    /// the real integration-manager would not: its service tokens carry
    /// neither `type` nor a user (accepted here), and it fetches with no
    /// `limit` and reads the records from `.data` of the answer, so a fetch
    /// without `limit` is answered `{data: [every record]}` (the real route
    /// answers a bare array of at most 1,000). The side-by-side bench uses
    /// this; see PLATFORM.md.
    pub fn serve_the_first_implementation(&self) {
        self.state.lock().unwrap().first_implementation = true;
    }

    /// The claims of every token this fake accepted or refused.
    pub fn tokens_seen(&self) -> Vec<Value> {
        self.state.lock().unwrap().tokens_seen.clone()
    }
}

type Shared = State<Arc<Mutex<PlatformState>>>;

/// 401 with fastify's error body, as `UnauthorizedError` is answered.
fn unauthorized(message: &str) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        Json(json!({"statusCode": 401, "error": "Unauthorized", "message": message})),
    )
        .into_response()
}

/// `authenticateRequest()` then `tenantEnforcementMiddleware()`: an HS256
/// token with the platform's secret, `type: 'access'`, a `tenantId` that the
/// `X-Tenant-ID` header (a uuid) matches.
async fn authenticate(State(state): Shared, request: Request, next: Next) -> Response {
    let headers: &HeaderMap = request.headers();
    let Some(token) = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return unauthorized("Missing authorization header");
    };
    let (secret, lenient) = {
        let state = state.lock().unwrap();
        (state.jwt_secret.clone(), state.first_implementation)
    };
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.validate_aud = false;
    let claims = match jsonwebtoken::decode::<Value>(
        token,
        &jsonwebtoken::DecodingKey::from_secret(&secret),
        &validation,
    ) {
        Ok(data) => data.claims,
        Err(e) => return unauthorized(&format!("Token verification failed: {e}")),
    };
    state.lock().unwrap().tokens_seen.push(claims.clone());
    if claims["type"] != "access" && !lenient {
        return unauthorized(&format!(
            "Invalid token type: expected 'access', got '{}'",
            claims["type"].as_str().unwrap_or("undefined")
        ));
    }
    let Some(tenant) = claims["tenantId"].as_str().filter(|t| !t.is_empty()) else {
        return unauthorized("Token missing tenantId");
    };
    let header = headers.get("x-tenant-id").and_then(|v| v.to_str().ok());
    if header.is_some_and(|h| h != tenant) {
        return unauthorized("Token tenant does not match X-Tenant-ID header");
    }
    match header {
        None => return unauthorized("Tenant ID is required"),
        Some(h) if uuid::Uuid::parse_str(h).is_err() => {
            return (
                StatusCode::FORBIDDEN,
                Json(json!({"statusCode": 403, "error": "Forbidden", "message": "Invalid tenant ID format"})),
            )
                .into_response();
        }
        Some(_) => {}
    }
    if claims["userId"]
        .as_str()
        .or(claims["sub"].as_str())
        .is_none()
        && !lenient
    {
        return unauthorized("Token carries no user");
    }
    next.run(request).await
}

fn tenant_of(headers: &HeaderMap) -> String {
    headers
        .get("x-tenant-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}

fn not_found(what: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": {"code": "NOT_FOUND", "message": format!("{what} not found")}})),
    )
        .into_response()
}

/// `GET /api/v1/integrations/:id`: `reply.send(integration)`, the document itself.
async fn integration(State(state): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let state = state.lock().unwrap();
    let tenant = tenant_of(&headers);
    let found = state
        .integrations
        .iter()
        .find(|i| i["id"] == id.as_str() && i["tenantId"] == tenant.as_str());
    match found {
        Some(_) if state.empty_answers => Json(json!({})).into_response(),
        Some(document) => Json(document.clone()).into_response(),
        None => not_found("Integration"),
    }
}

/// `GET /api/v1/shards/:id`: `reply.send(shard)`, the Shard itself.
async fn shard(State(state): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    let state = state.lock().unwrap();
    let tenant = tenant_of(&headers);
    match state.shards.get(&id) {
        Some(shard) if shard["tenantId"] == tenant.as_str() => {
            if state.empty_answers {
                Json(json!({})).into_response()
            } else {
                Json(shard.clone()).into_response()
            }
        }
        _ => not_found("Shard"),
    }
}

/// `GET /api/secrets/:id/value`: `reply.send({ value })`.
async fn secret(State(state): Shared, Path(name): Path<String>) -> Response {
    let state = state.lock().unwrap();
    match state.secrets.get(&name) {
        Some(value) => Json(json!({"value": value})).into_response(),
        None => not_found("Secret"),
    }
}

/// `POST .../connections/:connectionId/refresh`: `reply.send({ success })`,
/// or the route's error answer.
async fn refresh(
    State(state): Shared,
    Path((_id, connection)): Path<(String, String)>,
) -> Response {
    let mut state = state.lock().unwrap();
    state.refresh_calls += 1;
    if state.broken_connections.contains(&connection) {
        let error = json!({"error": {"code": "TOKEN_REFRESH_FAILED", "message": "the refresh token was revoked"}});
        return (StatusCode::INTERNAL_SERVER_ERROR, Json(error)).into_response();
    }
    let rotations: Vec<(String, String)> = state.rotations.drain().collect();
    for (name, token) in rotations {
        if let Some(secret) = state.secrets.get_mut(&name) {
            secret["accessToken"] = json!(token);
        }
    }
    Json(json!({"success": true})).into_response()
}

/// `POST /api/v1/integrations/:integrationId/fetch` (IntegrationFetchHandler.ts):
/// `limit ?? 1000`, `offset ?? 0`, a bare array.
async fn fetch(State(state): Shared, Path(_id): Path<String>, Json(body): Json<Value>) -> Response {
    let mut state = state.lock().unwrap();
    state.fetch_limits.push(body["limit"].as_u64());
    let json_array = |records: &[String]| format!("[{}]", records.join(","));
    let answer = if state.first_implementation && body.get("limit").is_none() {
        format!("{{\"data\":{}}}", json_array(&state.fetchable))
    } else {
        let offset = if state.ignores_offset {
            0
        } else {
            body["offset"].as_u64().unwrap_or(0) as usize
        };
        let limit = body["limit"].as_u64().unwrap_or(1000) as usize;
        let end = offset.saturating_add(limit).min(state.fetchable.len());
        json_array(
            state
                .fetchable
                .get(offset.min(end)..end)
                .unwrap_or_default(),
        )
    };
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        answer,
    )
        .into_response()
}
