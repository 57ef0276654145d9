//! The JSON API. Each `*_doc` function builds one document by calling the library
//! function the command line calls; the API handler returns it as JSON and the page
//! handler renders the same document as HTML.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{access, Access};
use super::error::{ApiError, Body, Params};
use super::identity::{MergeRequest, SplitRequest};
use super::runs::{self, StartRun};
use super::state::AppState;
use super::{blocking, PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX};
use crate::cmd;
use crate::cmd::provenance::Query as ProvenanceQuery;

/// A page size from the request: [`PAGE_SIZE_DEFAULT`] when absent, 1 to
/// [`PAGE_SIZE_MAX`] otherwise.
fn page_size(limit: Option<&str>) -> Result<usize, ApiError> {
    match limit.filter(|l| !l.is_empty()) {
        None => Ok(PAGE_SIZE_DEFAULT),
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=PAGE_SIZE_MAX).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!(
                "limit {:?}: give a number from 1 to PAGE_SIZE_MAX ({PAGE_SIZE_MAX})",
                l.chars().take(20).collect::<String>()
            ))),
        },
    }
}

/// `true`/`false` (or `1`/`0`, `yes`/`no`, `on`); empty means not given.
fn flag(name: &str, v: Option<&str>) -> Result<Option<bool>, ApiError> {
    match v.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok(None),
        Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
        Some("false" | "0" | "no" | "off") => Ok(Some(false)),
        Some(other) => Err(ApiError::bad_request(format!(
            "{name} {:?}: give true or false",
            other.chars().take(20).collect::<String>()
        ))),
    }
}

// ----------------------------------------------------------------------------------------
// Overview

/// `GET /api/overview` (the overview page): counts per source, entities, conflicts, open
/// reviews, the recent runs and how far the projections are behind the log.
pub(super) fn overview_doc(state: &AppState) -> anyhow::Result<Value> {
    let stores = state.stores();
    let store = stores.read_log()?;
    let head = trustfold_events::EventStore::head(&*store)?.map_or(0, |h| h.seq);
    let db = stores.read_projections()?;
    let meta = db.meta()?;
    let counts = db.entity_counts()?;
    let runs = db.runs()?;
    let recent: Vec<_> = runs.iter().rev().take(10).cloned().collect();
    let live: Vec<Value> = state.runs().live().iter().map(|r| r.to_json()).collect();
    Ok(json!({
        "counts": counts,
        "recent_runs": cmd::runs::runs_document(&stores.dir()?, &recent)?,
        "live_runs": live,
        "log": {
            "head_seq": head,
            "checkpoint_seq": meta.checkpoint_seq,
            "projection_lag": head.saturating_sub(meta.checkpoint_seq),
        },
        "policy": {
            "origin": meta.policy_origin,
            "hash": meta.policy_hash,
            "current_origin": state.policy().origin(),
            "current_hash": state.policy().hash(),
            "stale": meta.policy_hash != state.policy().hash(),
        },
        "read_only": state.config().read_only,
    }))
}

pub async fn overview(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(blocking(&state, overview_doc).await?))
}

// ----------------------------------------------------------------------------------------
// Entities

/// The parameters of `GET /api/entities` and of the entities page.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntitiesParams {
    pub search: Option<String>,
    pub source: Option<String>,
    pub class: Option<String>,
    /// `true` or `false`.
    pub conflicted: Option<String>,
    /// Minimum completeness, percent.
    pub completeness: Option<String>,
    pub limit: Option<String>,
    pub cursor: Option<String>,
}

pub(super) fn entities_doc(state: &AppState, p: &EntitiesParams) -> anyhow::Result<Value> {
    let limit = page_size(p.limit.as_deref()).map_err(|e| crate::exit::bad_input(e.message))?;
    let conflicted = flag("conflicted", p.conflicted.as_deref())
        .map_err(|e| crate::exit::bad_input(e.message))?;
    let completeness = match p.completeness.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(c) => Some(c.parse::<f64>().map_err(|_| {
            crate::exit::bad_input(format!(
                "completeness {:?}: give a percentage from 0 to 100",
                c.chars().take(20).collect::<String>()
            ))
        })?),
    };
    let filter = cmd::entities::entity_filter(
        p.search.as_deref(),
        p.source.as_deref(),
        p.class.as_deref(),
        conflicted,
        completeness,
    )?;
    let db = state.stores().read_projections()?;
    let mut doc = cmd::entities::entities_page_document(
        &db,
        &filter,
        p.search.as_deref(),
        p.cursor.as_deref(),
        limit,
    )?;
    // What the page's filter controls offer.
    doc["classes"] = json!(db.entity_classes()?);
    doc["sources"] = json!(crate::project::known_sources());
    Ok(doc)
}

pub async fn entities(
    State(state): State<AppState>,
    Params(p): Params<EntitiesParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(blocking(&state, move |s| entities_doc(s, &p)).await?))
}

/// The parameters of `GET /api/entities/{key}` and of the entity page.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EntityParams {
    /// A seq, an RFC 3339 time or a date.
    pub as_of: Option<String>,
    /// Only this field.
    pub field: Option<String>,
}

/// `GET /api/entities/{key}`: the `provenance --json` document.
pub(super) async fn entity_doc(
    state: &AppState,
    key: String,
    p: EntityParams,
) -> Result<Value, ApiError> {
    let as_of = p.as_of.filter(|a| !a.trim().is_empty());
    let field = p.field.filter(|f| !f.trim().is_empty());
    let query = ProvenanceQuery::parse(&key, field.as_deref(), as_of.as_deref())?;
    // An as-of view folds the log from its start: a few at a time.
    let _permit = match query.as_of {
        Some(_) => Some(
            state
                .as_of_permits()
                .clone()
                .try_acquire_owned()
                .map_err(|_| {
                    ApiError::unavailable(format!(
                "{} as-of views are being folded (AS_OF_CONCURRENT_MAX); try again in a moment",
                super::AS_OF_CONCURRENT_MAX
            ))
                })?,
        ),
        None => None,
    };
    blocking(state, move |s| {
        let stores = s.stores();
        let db = stores.read_projections()?;
        let store = stores.read_log()?;
        let p = cmd::provenance::provenance(&db, &*store, &query)?;
        Ok(cmd::provenance::provenance_document(&p))
    })
    .await
}

pub async fn entity(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Params(p): Params<EntityParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(entity_doc(&state, key, p).await?))
}

// ----------------------------------------------------------------------------------------
// Events

/// The parameters of `GET /api/events` and of the events page (those of `events`).
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventsParams {
    pub run: Option<String>,
    pub stream: Option<String>,
    pub kind: Option<String>,
    pub grep: Option<String>,
    /// Start at this seq.
    pub from: Option<String>,
    /// The `next_cursor` of the previous page (a seq); wins over `from`.
    pub cursor: Option<String>,
    pub limit: Option<String>,
}

pub(super) fn events_doc(state: &AppState, p: &EventsParams) -> anyhow::Result<Value> {
    let limit = page_size(p.limit.as_deref()).map_err(|e| crate::exit::bad_input(e.message))?;
    let start = p
        .cursor
        .as_deref()
        .filter(|c| !c.is_empty())
        .or(p.from.as_deref().filter(|f| !f.is_empty()));
    let from = match start {
        None => 1,
        Some(s) => s.parse::<u64>().map_err(|_| {
            crate::exit::bad_input(format!(
                "from/cursor {:?}: give a seq (a whole number)",
                s.chars().take(20).collect::<String>()
            ))
        })?,
    };
    let query = cmd::events::event_query(
        p.run.as_deref(),
        p.stream.as_deref(),
        p.kind.as_deref(),
        p.grep.as_deref(),
        from,
    )?;
    let store = state.stores().read_log()?;
    cmd::events::events_page_document(&*store, &query, limit)
}

pub async fn events(
    State(state): State<AppState>,
    Params(p): Params<EventsParams>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(blocking(&state, move |s| events_doc(s, &p)).await?))
}

/// A seq from a path; not a number is 400.
pub(super) fn parse_seq(text: &str) -> Result<u64, ApiError> {
    text.parse::<u64>().map_err(|_| {
        ApiError::bad_request(format!(
            "{:?} is not an event seq (a whole number)",
            text.chars().take(40).collect::<String>()
        ))
    })
}

/// `GET /api/events/{seq}`: one event with its payload, cause, effects and what it touched.
pub(super) fn event_doc(state: &AppState, seq: u64) -> anyhow::Result<Value> {
    let stores = state.stores();
    let store = stores.read_log()?;
    let db = stores.read_projections().ok();
    cmd::events::event_document(&*store, || stores.blobs(), db.as_deref(), seq)
}

pub async fn event(
    State(state): State<AppState>,
    Path(seq): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let seq = parse_seq(&seq)?;
    Ok(Json(blocking(&state, move |s| event_doc(s, seq)).await?))
}

// ----------------------------------------------------------------------------------------
// Conflicts and reviews

pub async fn conflicts(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let doc = blocking(&state, |s| {
        let stores = s.stores();
        let db = stores.read_projections()?;
        let store = stores.read_log()?;
        Ok(serde_json::to_value(cmd::entities::conflict_rows(
            &db, &*store,
        )?)?)
    })
    .await?;
    Ok(Json(doc))
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewsParams {
    /// Answered reviews too.
    pub all: Option<String>,
}

/// `GET /api/reviews`: `review list --json` (open ones, or `?all=true`).
pub(super) fn reviews_doc(state: &AppState, all: bool) -> anyhow::Result<Value> {
    let db = state.stores().read_projections()?;
    Ok(serde_json::to_value(db.reviews(all)?)?)
}

pub async fn reviews(
    State(state): State<AppState>,
    Params(p): Params<ReviewsParams>,
) -> Result<Json<Value>, ApiError> {
    let all = flag("all", p.all.as_deref())?.unwrap_or(false);
    Ok(Json(blocking(&state, move |s| reviews_doc(s, all)).await?))
}

/// `GET /api/reviews/{id}`: `review show --json`.
pub(super) fn review_doc(state: &AppState, id: &str) -> anyhow::Result<Value> {
    let stores = state.stores();
    let db = stores.read_projections()?;
    let store = stores.read_log()?;
    Ok(cmd::review::review_document(&cmd::review::review_view(
        &db, &*store, id,
    )?))
}

pub async fn review(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(blocking(&state, move |s| review_doc(s, &id)).await?))
}

/// The body of `POST /api/reviews/{id}/approve|reject`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerBody {
    pub reason: String,
    pub by: String,
    /// For an approval: which candidate entity the record joins (default: the first).
    #[serde(default)]
    pub entity: Option<String>,
}

async fn answer_review(
    state: AppState,
    id: String,
    body: AnswerBody,
    decision: trustfold_events::ReviewDecision,
) -> Result<Json<Value>, ApiError> {
    let doc = blocking(&state, move |s| {
        let stores = s.stores();
        let db = stores.read_projections()?;
        let (_, store) = stores.write_log()?;
        let answered = cmd::review::answer(
            &db,
            &*store,
            &cmd::review::Answer {
                review_id: id,
                decision,
                reason: body.reason,
                by: body.by,
                entity: body.entity.filter(|e| !e.is_empty()),
            },
        )?;
        drop(db);
        stores.catch_up(s.policy())?;
        Ok(serde_json::to_value(answered)?)
    })
    .await?;
    Ok(Json(doc))
}

pub async fn approve(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<AnswerBody>,
) -> Result<Json<Value>, ApiError> {
    answer_review(state, id, body, trustfold_events::ReviewDecision::Approved).await
}

pub async fn reject(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Body(body): Body<AnswerBody>,
) -> Result<Json<Value>, ApiError> {
    answer_review(state, id, body, trustfold_events::ReviewDecision::Rejected).await
}

// ----------------------------------------------------------------------------------------
// Overrides, splits, merges

/// The body of `POST /api/overrides`: `value` as `override` takes it (text; a number or an
/// object is taken as its JSON text), or `"clear": true` to remove the override.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OverrideBody {
    pub entity: String,
    pub field: String,
    #[serde(default)]
    pub value: Option<Value>,
    #[serde(default, deserialize_with = "super::runs::lenient::flag")]
    pub clear: bool,
    pub reason: String,
    pub by: String,
}

pub async fn override_field(
    State(state): State<AppState>,
    Body(body): Body<OverrideBody>,
) -> Result<Json<Value>, ApiError> {
    let value = match (&body.value, body.clear) {
        (Some(Value::Null) | None, true) => None,
        (Some(Value::String(s)), true) if s.is_empty() => None,
        (Some(_), true) => {
            return Err(ApiError::bad_request(
                "give either a value or \"clear\": true, not both",
            ))
        }
        (None | Some(Value::Null), false) => {
            return Err(ApiError::bad_request(
                "give the value to set, or \"clear\": true to remove the override",
            ))
        }
        (Some(Value::String(s)), false) => Some(s.clone()),
        (Some(other), false) => Some(other.to_string()),
    };
    let doc = blocking(&state, move |s| {
        let stores = s.stores();
        let db = stores.read_projections()?;
        let (_, store) = stores.write_log()?;
        let done = cmd::overrides::record_override(
            &db,
            &*store,
            &cmd::overrides::OverrideRequest {
                entity: body.entity,
                field: body.field,
                value,
                reason: body.reason,
                by: body.by,
            },
        )?;
        drop(db);
        stores.catch_up(s.policy())?;
        cmd::overrides::override_document(&*stores.read_projections()?, &done)
    })
    .await?;
    Ok(Json(doc))
}

/// Checks the reason and the name of an identity correction as the commands do.
fn check_who(reason: &str, by: &str) -> Result<(), ApiError> {
    cmd::overrides::reason(reason)?;
    cmd::overrides::actor(Some(by))?;
    Ok(())
}

pub async fn split(
    State(state): State<AppState>,
    Body(body): Body<SplitRequest>,
) -> Result<Json<Value>, ApiError> {
    check_who(&body.reason, &body.by)?;
    let doc = blocking(&state, move |s| {
        let stores = s.stores();
        let db = stores.read_projections()?;
        let (_, store) = stores.write_log()?;
        let doc = s.identity().split(&db, &*store, &body)?;
        drop(db);
        stores.catch_up(s.policy())?;
        Ok(doc)
    })
    .await?;
    Ok(Json(doc))
}

pub async fn merge(
    State(state): State<AppState>,
    Body(body): Body<MergeRequest>,
) -> Result<Json<Value>, ApiError> {
    check_who(&body.reason, &body.by)?;
    let doc = blocking(&state, move |s| {
        let stores = s.stores();
        let db = stores.read_projections()?;
        let (_, store) = stores.write_log()?;
        let doc = s.identity().merge(&db, &*store, &body)?;
        drop(db);
        stores.catch_up(s.policy())?;
        Ok(doc)
    })
    .await?;
    Ok(Json(doc))
}

// ----------------------------------------------------------------------------------------
// Runs

/// `GET /api/runs`: `runs --json`.
pub(super) fn runs_doc(state: &AppState) -> anyhow::Result<Value> {
    let stores = state.stores();
    let db = stores.read_projections()?;
    cmd::runs::runs_document(&stores.dir()?, &db.runs()?)
}

pub async fn runs(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(blocking(&state, runs_doc).await?))
}

/// `POST /api/runs`: plans and starts a run in this server; 202 with its id at once.
pub async fn start_run(
    State(state): State<AppState>,
    Body(body): Body<StartRun>,
) -> Result<Response, ApiError> {
    let run_id = runs::start(&state, body)?;
    let location = format!("/api/runs/{run_id}");
    let mut response = (
        StatusCode::ACCEPTED,
        Json(json!({
            "run_id": run_id,
            "status": "initiated",
            "links": {"run": location, "page": format!("/runs/{run_id}")},
        })),
    )
        .into_response();
    if let Ok(v) = header::HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    Ok(response)
}

/// `GET /api/runs/{id}`: the `report --json` document with `status`; for a run of this
/// server, also `live` (and before the projections have it, what the server knows).
pub(super) fn run_doc(state: &AppState, id: &str) -> anyhow::Result<Value> {
    let stores = state.stores();
    let live = state.runs().get(id);
    let db = stores.read_projections()?;
    let report = cmd::runs::report_document(&db, &stores.dir()?, id);
    match (report, live) {
        (Ok(mut doc), Some(live)) => {
            // The server's own word is fresher than the projections' while it runs.
            if live.is_live() || doc["status"] == json!("running") {
                doc["status"] = json!(live.status_word());
            }
            doc["live"] = json!(live.is_live());
            Ok(doc)
        }
        (Ok(mut doc), None) => {
            doc["live"] = json!(false);
            Ok(doc)
        }
        (Err(_), Some(live)) => Ok(live.to_json()),
        (Err(e), None) => Err(e),
    }
}

pub async fn run(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(blocking(&state, move |s| run_doc(s, &id)).await?))
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CancelParams {
    /// Who asks (kept in the run's `RunCancelled`).
    pub by: Option<String>,
}

/// `DELETE /api/runs/{id}`: asks a run of this server to stop; 202, and the run records
/// `RunCancelled` at its next check (a run past its last check completes instead).
pub async fn cancel_run(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Params(p): Params<CancelParams>,
) -> Result<Response, ApiError> {
    let by = cmd::overrides::actor(Some(p.by.as_deref().unwrap_or("api")))?;
    if state.runs().get(&id).is_none() {
        // Not ours: say whether it exists at all.
        let key = id.clone();
        let known = blocking(&state, move |s| {
            Ok(s.stores().read_projections()?.run(&key)?.is_some())
        })
        .await?;
        if !known {
            return Err(ApiError::not_found(format!(
                "no run {:?} (see GET /api/runs)",
                id.chars().take(60).collect::<String>()
            )));
        }
    }
    let run = runs::cancel(&state, &id, &by)?;
    Ok((StatusCode::ACCEPTED, Json(run.to_json())).into_response())
}

// ----------------------------------------------------------------------------------------
// Metrics

pub async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = blocking(&state, |s| s.metrics().scrape(s.stores())).await?;
    Ok((
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Whether a page may show its forms as live.
pub(super) fn page_access(state: &AppState, headers: &HeaderMap) -> Access {
    access(state, headers)
}
