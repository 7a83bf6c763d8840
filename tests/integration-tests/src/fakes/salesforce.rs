//! A fake Salesforce REST API: `queryAll` with `nextRecordsUrl` paging over
//! records that share `SystemModstamp`s across page boundaries, deletions,
//! PATCH with `If-Unmodified-Since`, and scripted faults (429, 5xx, expired
//! sessions). Every request is logged with the instant it arrived.

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex},
    time::Instant,
};

use axum::{
    Json, Router,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::get,
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use serde_json::{Map, Value, json};

#[derive(Debug, Clone)]
pub enum Fault {
    TooManyRequests { retry_after_secs: u64 },
    ServerError,
}

#[derive(Debug, Clone)]
struct Row {
    id: String,
    modstamp: DateTime<Utc>,
    deleted: bool,
    fields: Map<String, Value>,
}

#[derive(Default)]
struct SfState {
    valid_token: String,
    page_size: usize,
    objects: BTreeMap<String, Vec<Row>>,
    locators: HashMap<String, Vec<Value>>,
    faults: VecDeque<Fault>,
    requests: Vec<(Instant, String)>,
    /// (id, field, value): someone edits that row right after our next read of it.
    edit_after_read: Option<(String, String, Value)>,
    /// The body of every accepted PATCH, by row id.
    patches: Vec<(String, Map<String, Value>)>,
    /// How long each page of a query takes to answer.
    page_latency: std::time::Duration,
    /// (pages still answered on time, then how long the next one takes).
    stall: Option<(usize, std::time::Duration)>,
    /// `Sforce-Limit-Info` on every answer, e.g. `api-usage=4800/5000`.
    limit_info: Option<String>,
}

#[derive(Clone)]
pub struct FakeSalesforce {
    pub url: String,
    state: Arc<Mutex<SfState>>,
}

fn stamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string()
}

impl FakeSalesforce {
    /// Pages of `page_size` rows; only `valid_token` is accepted.
    pub async fn start(page_size: usize, valid_token: &str) -> Self {
        let state = Arc::new(Mutex::new(SfState {
            valid_token: valid_token.into(),
            page_size,
            ..Default::default()
        }));
        let router = Router::new()
            .route("/services/data/{version}/queryAll", get(query_all))
            .route("/services/data/{version}/query/{locator}", get(next_page))
            .route(
                "/services/data/{version}/sobjects/{object}/{id}",
                get(read_row).patch(patch_row),
            )
            .layer(axum::middleware::map_response_with_state(
                state.clone(),
                with_limit_info,
            ))
            .with_state(state.clone());
        FakeSalesforce {
            url: super::serve(router).await,
            state,
        }
    }

    /// `n` rows of `object`, `per_stamp` of them sharing each SystemModstamp.
    /// The fields of every accepted PATCH, by row id, in order.
    pub fn patches(&self) -> Vec<(String, Map<String, Value>)> {
        self.state.lock().unwrap().patches.clone()
    }

    pub fn add_rows(&self, object: &str, n: usize, per_stamp: usize) {
        let base = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut state = self.state.lock().unwrap();
        let rows = state.objects.entry(object.into()).or_default();
        for i in 0..n {
            let mut fields = Map::new();
            fields.insert("Name".into(), json!(format!("{object} {i}")));
            fields.insert("Amount".into(), json!(1000 + i));
            fields.insert("StageName".into(), json!("Prospecting"));
            rows.push(Row {
                id: format!("006{:015}", i),
                modstamp: base + Duration::seconds((i / per_stamp) as i64),
                deleted: false,
                fields,
            });
        }
    }

    pub fn edit(&self, object: &str, id: &str, field: &str, value: Value) {
        let mut state = self.state.lock().unwrap();
        let row = state
            .objects
            .get_mut(object)
            .unwrap()
            .iter_mut()
            .find(|r| r.id == id)
            .unwrap();
        row.fields.insert(field.into(), value);
        row.modstamp = Utc::now();
    }

    pub fn delete(&self, object: &str, id: &str) {
        let mut state = self.state.lock().unwrap();
        let row = state
            .objects
            .get_mut(object)
            .unwrap()
            .iter_mut()
            .find(|r| r.id == id)
            .unwrap();
        row.deleted = true;
        row.modstamp = Utc::now();
    }

    pub fn field(&self, object: &str, id: &str, field: &str) -> Value {
        let state = self.state.lock().unwrap();
        let row = state.objects[object].iter().find(|r| r.id == id).unwrap();
        row.fields.get(field).cloned().unwrap_or(Value::Null)
    }

    /// Right after the next read of row `id`, another user sets `field`:
    /// a write conditional on what was read must then fail.
    pub fn edit_after_next_read(&self, id: &str, field: &str, value: Value) {
        self.state.lock().unwrap().edit_after_read = Some((id.into(), field.into(), value));
    }

    /// Every page of a query (first or next) answers after `latency`.
    pub fn set_page_latency(&self, latency: std::time::Duration) {
        self.state.lock().unwrap().page_latency = latency;
    }

    /// After `pages` more pages of queries, the next one takes `latency`
    /// (once): a provider hanging in the middle of a sync.
    pub fn stall_page(&self, pages: usize, latency: std::time::Duration) {
        self.state.lock().unwrap().stall = Some((pages, latency));
    }

    /// Answers carry `Sforce-Limit-Info: <info>` (none: no header).
    pub fn set_limit_info(&self, info: Option<&str>) {
        self.state.lock().unwrap().limit_info = info.map(str::to_owned);
    }

    pub fn inject(&self, faults: Vec<Fault>) {
        self.state.lock().unwrap().faults.extend(faults);
    }

    /// (arrival, path) of every request, in order.
    pub fn requests(&self) -> Vec<(Instant, String)> {
        self.state.lock().unwrap().requests.clone()
    }
}

type Shared = State<Arc<Mutex<SfState>>>;

/// Salesforce reports the org's API usage on every answer.
async fn with_limit_info(State(state): Shared, mut response: Response) -> Response {
    if let Some(info) = state.lock().unwrap().limit_info.clone()
        && let Ok(value) = header::HeaderValue::from_str(&info)
    {
        response.headers_mut().insert("sforce-limit-info", value);
    }
    response
}

fn json_row(object: &str, row: &Row) -> Value {
    let mut value = row.fields.clone();
    value.insert("attributes".into(), json!({"type": object, "url": format!("/services/data/v60.0/sobjects/{object}/{}", row.id)}));
    value.insert("Id".into(), json!(row.id));
    value.insert("IsDeleted".into(), json!(row.deleted));
    value.insert("SystemModstamp".into(), json!(stamp(&row.modstamp)));
    Value::Object(value)
}

/// Checks the session and applies the next scripted fault, logging the request.
fn gate(
    state: &mut SfState,
    headers: &HeaderMap,
    path: String,
    faultable: bool,
) -> Option<Response> {
    state.requests.push((Instant::now(), path));
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if bearer != format!("Bearer {}", state.valid_token) {
        let body =
            json!([{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]);
        return Some((StatusCode::UNAUTHORIZED, Json(body)).into_response());
    }
    if !faultable {
        return None;
    }
    match state.faults.pop_front()? {
        Fault::TooManyRequests { retry_after_secs } => Some(
            (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after_secs.to_string())],
                Json(json!([{"errorCode": "REQUEST_LIMIT_EXCEEDED"}])),
            )
                .into_response(),
        ),
        Fault::ServerError => {
            Some((StatusCode::SERVICE_UNAVAILABLE, "unavailable").into_response())
        }
    }
}

fn page(state: &mut SfState, mut rows: Vec<Value>) -> Value {
    let total = rows.len();
    let rest = rows.split_off(rows.len().min(state.page_size));
    let next = if rest.is_empty() {
        None
    } else {
        let locator = format!("01g{}", uuid::Uuid::new_v4().simple());
        state.locators.insert(locator.clone(), rest);
        Some(format!("/services/data/v60.0/query/{locator}"))
    };
    json!({"totalSize": total, "done": next.is_none(), "nextRecordsUrl": next, "records": rows})
}

async fn take_page_time(state: &Arc<Mutex<SfState>>) {
    let latency = {
        let mut state = state.lock().unwrap();
        match state.stall {
            Some((0, stalled)) => {
                state.stall = None;
                stalled
            }
            Some((pages, stalled)) => {
                state.stall = Some((pages - 1, stalled));
                state.page_latency
            }
            None => state.page_latency,
        }
    };
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

async fn query_all(
    State(state): Shared,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
) -> Response {
    take_page_time(&state).await;
    let mut state = state.lock().unwrap();
    if let Some(refused) = gate(&mut state, &headers, "queryAll".into(), true) {
        return refused;
    }
    let q = params.get("q").cloned().unwrap_or_default();
    let object = q
        .split(" FROM ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .unwrap_or("")
        .to_owned();
    let since = q
        .split("SystemModstamp >= ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let mut rows: Vec<&Row> = state
        .objects
        .get(&object)
        .map(|rows| {
            rows.iter()
                .filter(|r| since.is_none_or(|s| r.modstamp >= s))
                .collect()
        })
        .unwrap_or_default();
    rows.sort_by(|a, b| (a.modstamp, &a.id).cmp(&(b.modstamp, &b.id)));
    let rows: Vec<Value> = rows.into_iter().map(|r| json_row(&object, r)).collect();
    Json(page(&mut state, rows)).into_response()
}

async fn next_page(
    State(state): Shared,
    headers: HeaderMap,
    Path((_v, locator)): Path<(String, String)>,
) -> Response {
    take_page_time(&state).await;
    let mut state = state.lock().unwrap();
    if let Some(refused) = gate(&mut state, &headers, format!("query/{locator}"), true) {
        return refused;
    }
    match state.locators.remove(&locator) {
        Some(rows) => Json(page(&mut state, rows)).into_response(),
        None => (StatusCode::BAD_REQUEST, "INVALID_QUERY_LOCATOR").into_response(),
    }
}

async fn read_row(
    State(state): Shared,
    headers: HeaderMap,
    Path((_v, object, id)): Path<(String, String, String)>,
) -> Response {
    let mut state = state.lock().unwrap();
    let state = &mut *state;
    if let Some(refused) = gate(state, &headers, format!("get {id}"), false) {
        return refused;
    }
    let edit = state
        .edit_after_read
        .take_if(|(target, _, _)| *target == id);
    let Some(row) = state
        .objects
        .get_mut(&object)
        .and_then(|rows| rows.iter_mut().find(|r| r.id == id))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let answer = Json(json_row(&object, row)).into_response();
    if let Some((_, field, value)) = edit {
        // Someone else saves the record right after our read.
        row.fields.insert(field, value);
        row.modstamp += Duration::seconds(2);
    }
    answer
}

async fn patch_row(
    State(state): Shared,
    headers: HeaderMap,
    Path((_v, object, id)): Path<(String, String, String)>,
    Json(fields): Json<Map<String, Value>>,
) -> Response {
    let mut state = state.lock().unwrap();
    if let Some(refused) = gate(&mut state, &headers, format!("patch {id}"), false) {
        return refused;
    }
    let since = headers
        .get(header::IF_UNMODIFIED_SINCE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| httpdate::parse_http_date(v).ok())
        .map(DateTime::<Utc>::from);
    let Some(row) = state
        .objects
        .get_mut(&object)
        .and_then(|rows| rows.iter_mut().find(|r| r.id == id))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // HTTP dates have whole seconds: compare at that precision.
    if let Some(since) = since
        && row.modstamp.timestamp() > since.timestamp()
    {
        return (
            StatusCode::PRECONDITION_FAILED,
            Json(json!([{"errorCode": "PRECONDITION_FAILED"}])),
        )
            .into_response();
    }
    row.fields.extend(fields.clone());
    row.modstamp = Utc::now();
    state.patches.push((id, fields));
    StatusCode::NO_CONTENT.into_response()
}
