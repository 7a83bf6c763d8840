//! A fake HubSpot CRM v3: objects search on `hs_lastmodifieddate` with `after`
//! paging and a total-result cap (a search past it fails, as HubSpot's does),
//! ties returned in an order unrelated to ids, archived objects, PATCH.

use std::{
    collections::BTreeMap,
    sync::{Arc, Mutex},
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::{get, post},
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
struct Row {
    id: String,
    modified: DateTime<Utc>,
    archived_at: Option<DateTime<Utc>>,
    properties: Map<String, Value>,
}

#[derive(Default)]
struct HsState {
    valid_token: String,
    cap: usize,
    objects: BTreeMap<String, Vec<Row>>,
    searches: usize,
}

#[derive(Clone)]
pub struct FakeHubSpot {
    pub url: String,
    state: Arc<Mutex<HsState>>,
}

impl FakeHubSpot {
    pub async fn start(cap: usize, valid_token: &str) -> Self {
        let state = Arc::new(Mutex::new(HsState {
            valid_token: valid_token.into(),
            cap,
            ..Default::default()
        }));
        let router = Router::new()
            .route("/crm/v3/objects/{object}/search", post(search))
            .route("/crm/v3/objects/{object}", get(list_archived))
            .route("/crm/v3/objects/{object}/{id}", get(read).patch(patch))
            .with_state(state.clone());
        FakeHubSpot {
            url: super::serve(router).await,
            state,
        }
    }

    /// `n` objects, `per_stamp` of them sharing each modification millisecond.
    pub fn add_objects(&self, object: &str, n: usize, per_stamp: usize) {
        let base = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        let mut state = self.state.lock().unwrap();
        let rows = state.objects.entry(object.into()).or_default();
        for i in 0..n {
            let mut properties = Map::new();
            properties.insert("dealname".into(), json!(format!("Deal {i}")));
            properties.insert("amount".into(), json!((1000 + i).to_string()));
            rows.push(Row {
                id: (1000 + i).to_string(),
                modified: base + Duration::seconds((i / per_stamp) as i64),
                archived_at: None,
                properties,
            });
        }
    }

    pub fn edit(&self, object: &str, id: &str, property: &str, value: &str) {
        let mut state = self.state.lock().unwrap();
        let row = state
            .objects
            .get_mut(object)
            .unwrap()
            .iter_mut()
            .find(|r| r.id == id)
            .unwrap();
        row.properties.insert(property.into(), json!(value));
        row.modified = Utc::now();
    }

    pub fn archive(&self, object: &str, id: &str) {
        let mut state = self.state.lock().unwrap();
        let row = state
            .objects
            .get_mut(object)
            .unwrap()
            .iter_mut()
            .find(|r| r.id == id)
            .unwrap();
        row.archived_at = Some(Utc::now());
    }

    pub fn property(&self, object: &str, id: &str, property: &str) -> Value {
        let state = self.state.lock().unwrap();
        state.objects[object]
            .iter()
            .find(|r| r.id == id)
            .unwrap()
            .properties
            .get(property)
            .cloned()
            .unwrap_or(Value::Null)
    }

    pub fn searches(&self) -> usize {
        self.state.lock().unwrap().searches
    }
}

type Shared = State<Arc<Mutex<HsState>>>;

fn authorised(state: &HsState, headers: &HeaderMap) -> bool {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {}", state.valid_token))
}

fn object_json(row: &Row) -> Value {
    let mut properties = row.properties.clone();
    properties.insert(
        "hs_lastmodifieddate".into(),
        json!(
            row.modified
                .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
        ),
    );
    properties.insert("hs_object_id".into(), json!(row.id));
    let mut object = json!({
        "id": row.id,
        "properties": properties,
        "createdAt": "2025-01-01T00:00:00.000Z",
        "updatedAt": row.modified.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        "archived": row.archived_at.is_some(),
    });
    if let Some(at) = row.archived_at {
        object["archivedAt"] = json!(at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    object
}

async fn search(
    State(state): Shared,
    headers: HeaderMap,
    Path(object): Path<String>,
    Json(body): Json<Value>,
) -> Response {
    let mut state = state.lock().unwrap();
    if !authorised(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    state.searches += 1;
    let since: Option<i64> = body["filterGroups"][0]["filters"][0]["value"]
        .as_str()
        .and_then(|v| v.parse().ok());
    let limit = body["limit"].as_u64().unwrap_or(10) as usize;
    let offset: usize = body["after"]
        .as_str()
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    if offset >= state.cap {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"status": "error", "message": "results past the search cap"})),
        )
            .into_response();
    }
    let mut rows: Vec<&Row> = state
        .objects
        .get(&object)
        .map(|rows| {
            rows.iter()
                .filter(|r| {
                    r.archived_at.is_none()
                        && since.is_none_or(|s| r.modified.timestamp_millis() >= s)
                })
                .collect()
        })
        .unwrap_or_default();
    // Ties in an order unrelated to ids, as HubSpot's search gives them.
    rows.sort_by(|a, b| a.modified.cmp(&b.modified).then(b.id.cmp(&a.id)));
    let total = rows.len();
    let page: Vec<Value> = rows
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| object_json(r))
        .collect();
    let next = offset + limit;
    let paging = if next < total {
        json!({"next": {"after": next.to_string()}})
    } else {
        Value::Null
    };
    Json(json!({"total": total, "results": page, "paging": paging})).into_response()
}

async fn list_archived(
    State(state): Shared,
    headers: HeaderMap,
    Path(object): Path<String>,
    Query(params): Query<BTreeMap<String, String>>,
) -> Response {
    let state = state.lock().unwrap();
    if !authorised(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let limit: usize = params
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10);
    let offset: usize = params
        .get("after")
        .and_then(|a| a.parse().ok())
        .unwrap_or(0);
    let archived: Vec<&Row> = state
        .objects
        .get(&object)
        .map(|rows| rows.iter().filter(|r| r.archived_at.is_some()).collect())
        .unwrap_or_default();
    let page: Vec<Value> = archived
        .iter()
        .skip(offset)
        .take(limit)
        .map(|r| object_json(r))
        .collect();
    let paging = if offset + limit < archived.len() {
        json!({"next": {"after": (offset + limit).to_string()}})
    } else {
        Value::Null
    };
    Json(json!({"results": page, "paging": paging})).into_response()
}

async fn read(
    State(state): Shared,
    headers: HeaderMap,
    Path((object, id)): Path<(String, String)>,
) -> Response {
    let state = state.lock().unwrap();
    if !authorised(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    match state
        .objects
        .get(&object)
        .and_then(|rows| rows.iter().find(|r| r.id == id))
    {
        Some(row) => Json(object_json(row)).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn patch(
    State(state): Shared,
    headers: HeaderMap,
    Path((object, id)): Path<(String, String)>,
    Json(body): Json<Value>,
) -> Response {
    let mut state = state.lock().unwrap();
    if !authorised(&state, &headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    let Some(row) = state
        .objects
        .get_mut(&object)
        .and_then(|rows| rows.iter_mut().find(|r| r.id == id))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if let Some(properties) = body["properties"].as_object() {
        row.properties.extend(properties.clone());
    }
    row.modified = Utc::now();
    Json(object_json(row)).into_response()
}
