//! integration-manager and secret-management, as far as this service uses them.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, State},
    http::StatusCode,
    routing::{get, post},
};
use serde_json::{Value, json};
use sync_core::domain::Integration;

#[derive(Default)]
struct PlatformState {
    integrations: Vec<Integration>,
    secrets: HashMap<String, Value>,
    /// Secret name -> access token the next refresh rotates to.
    rotations: HashMap<String, String>,
    refresh_calls: usize,
    /// Records integration-manager's own adapter returns from `fetch`.
    fetchable: Vec<Value>,
    pushes: Vec<Value>,
    shards: HashMap<String, Value>,
}

#[derive(Clone)]
pub struct FakePlatform {
    pub url: String,
    state: Arc<Mutex<PlatformState>>,
}

impl FakePlatform {
    pub async fn start(integrations: Vec<Integration>) -> Self {
        let state = Arc::new(Mutex::new(PlatformState {
            integrations,
            ..Default::default()
        }));
        let router = Router::new()
            .route("/api/v1/integrations/{id}", get(integration))
            .route(
                "/api/v1/integrations/{id}/connections/{connection}/refresh",
                post(refresh),
            )
            .route("/api/v1/integrations/{id}/fetch", post(fetch))
            .route("/api/v1/integrations/{id}/push", post(push))
            .route("/api/v1/secrets/{name}/value", get(secret))
            .route("/api/v1/shards/{id}", get(shard))
            .with_state(state.clone());
        FakePlatform {
            url: super::serve(router).await,
            state,
        }
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

    pub fn refresh_calls(&self) -> usize {
        self.state.lock().unwrap().refresh_calls
    }

    pub fn set_fetchable(&self, records: Vec<Value>) {
        self.state.lock().unwrap().fetchable = records;
    }

    /// shard-manager's copy of a shard.
    pub fn set_shard(&self, id: &str, shard: Value) {
        self.state.lock().unwrap().shards.insert(id.into(), shard);
    }

    pub fn pushes(&self) -> Vec<Value> {
        self.state.lock().unwrap().pushes.clone()
    }
}

type Shared = State<Arc<Mutex<PlatformState>>>;

async fn integration(
    State(state): Shared,
    Path(id): Path<String>,
) -> Result<Json<Value>, StatusCode> {
    let state = state.lock().unwrap();
    let found = state
        .integrations
        .iter()
        .find(|i| i.id == id)
        .ok_or(StatusCode::NOT_FOUND)?;
    Ok(Json(json!({"success": true, "data": found})))
}

async fn shard(State(state): Shared, Path(id): Path<String>) -> Result<Json<Value>, StatusCode> {
    let state = state.lock().unwrap();
    state
        .shards
        .get(&id)
        .cloned()
        .map(|s| Json(json!({"data": s})))
        .ok_or(StatusCode::NOT_FOUND)
}

async fn secret(State(state): Shared, Path(name): Path<String>) -> Result<Json<Value>, StatusCode> {
    let state = state.lock().unwrap();
    let value = state.secrets.get(&name).ok_or(StatusCode::NOT_FOUND)?;
    Ok(Json(json!({"name": name, "value": value})))
}

async fn refresh(
    State(state): Shared,
    Path((_id, _connection)): Path<(String, String)>,
) -> Json<Value> {
    let mut state = state.lock().unwrap();
    state.refresh_calls += 1;
    let rotations: Vec<(String, String)> = state.rotations.drain().collect();
    for (name, token) in rotations {
        if let Some(secret) = state.secrets.get_mut(&name) {
            secret["accessToken"] = json!(token);
        }
    }
    Json(json!({"success": true}))
}

async fn fetch(
    State(state): Shared,
    Path(_id): Path<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let state = state.lock().unwrap();
    let offset = body["offset"].as_u64().unwrap_or(0) as usize;
    let limit = body["limit"].as_u64().unwrap_or(100) as usize;
    let page: Vec<Value> = state
        .fetchable
        .iter()
        .skip(offset)
        .take(limit)
        .cloned()
        .collect();
    Json(json!(page))
}

async fn push(
    State(state): Shared,
    Path(_id): Path<String>,
    Json(body): Json<Value>,
) -> Json<Value> {
    state.lock().unwrap().pushes.push(body);
    Json(json!({"success": true}))
}
