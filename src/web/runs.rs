//! Runs started over HTTP. A run runs in the server's own tokio runtime: its stages (SQLite,
//! extraction, matching: blocking work) on one of the runtime's blocking threads, its
//! connector calls on the runtime's workers (`RunContext::runtime`). Each run has its own
//! stop signal, so `DELETE /api/runs/{id}` cancels that run (`RunCancelled`) and no other.
//! At most [`RUNS_CONCURRENT_MAX`](super::RUNS_CONCURRENT_MAX) run at once.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use uuid::Uuid;

use super::error::ApiError;
use super::state::AppState;
use crate::cmd::plan::PlanArgs;
use crate::ingest::lifecycle::Shutdown;
use crate::ingest::query;

/// `POST /api/runs`: what `trustfold ingest` takes.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StartRun {
    pub query: String,
    /// Spending cap in US dollars (default 0.10).
    #[serde(default, deserialize_with = "lenient::number")]
    pub budget: Option<f64>,
    /// `discover-many` (default) or `resolve-one`.
    #[serde(default, deserialize_with = "lenient::text")]
    pub mode: Option<String>,
    /// Call only these connectors (a list, or a comma-separated text from a form).
    #[serde(default, deserialize_with = "lenient::list")]
    pub connectors: Option<Vec<String>>,
    /// Answer every connector from the recorded fixtures, even where keys are set.
    #[serde(default, deserialize_with = "lenient::flag")]
    pub offline: bool,
    /// Keep candidates that do not answer the query (`ingest --keep-off-topic`).
    #[serde(default, deserialize_with = "lenient::flag")]
    pub keep_off_topic: bool,
}

/// Fields as JSON sends them or as a page's form does (every value a text, an empty one
/// meaning "not given").
pub(super) mod lenient {
    use serde::de::Error;
    use serde::{Deserialize, Deserializer};
    use serde_json::Value;

    pub fn number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::Number(n) => Ok(n.as_f64()),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => s.trim().parse().map(Some).map_err(|_| {
                D::Error::custom(format!(
                    "{:?} is not a number",
                    s.chars().take(20).collect::<String>()
                ))
            }),
            other => Err(D::Error::custom(format!("expected a number, got {other}"))),
        }
    }

    pub fn text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Ok(Option::<String>::deserialize(d)?.filter(|s| !s.trim().is_empty()))
    }

    pub fn list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
        match Value::deserialize(d)? {
            Value::Null => Ok(None),
            Value::String(s) if s.trim().is_empty() => Ok(None),
            Value::String(s) => Ok(Some(s.split(',').map(|p| p.trim().to_string()).collect())),
            Value::Array(items) => items
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => Ok(s),
                    other => Err(D::Error::custom(format!("expected a name, got {other}"))),
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            other => Err(D::Error::custom(format!(
                "expected a list of names, got {other}"
            ))),
        }
    }

    pub fn flag<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
        Ok(match Value::deserialize(d)? {
            Value::Bool(b) => b,
            Value::String(s) => matches!(s.as_str(), "true" | "1" | "on" | "yes"),
            _ => false,
        })
    }
}

/// Where a run started here is.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LiveStatus {
    /// Accepted, waiting for its thread.
    Initiated,
    Running,
    /// A cancel was asked; the run records `RunCancelled` at its next check.
    Cancelling,
    /// Ended: the terminal status it recorded (`completed`, `failed`, `cancelled`).
    Ended {
        status: String,
    },
    /// Ended without a terminal event it could report (the error says why).
    Errored {
        error: String,
    },
}

/// A run this server started.
#[derive(Clone, Debug)]
pub struct LiveRun {
    pub run_id: Uuid,
    pub query: String,
    pub started_at: DateTime<Utc>,
    pub status: LiveStatus,
    started: Instant,
    shutdown: Shutdown,
}

impl LiveRun {
    /// The status word (`initiated`, `running`, `cancelling`, then the terminal one).
    pub fn status_word(&self) -> String {
        match &self.status {
            LiveStatus::Initiated => "initiated".into(),
            LiveStatus::Running => "running".into(),
            LiveStatus::Cancelling => "cancelling".into(),
            LiveStatus::Ended { status } => status.clone(),
            LiveStatus::Errored { .. } => "failed".into(),
        }
    }

    pub fn is_live(&self) -> bool {
        matches!(
            self.status,
            LiveStatus::Initiated | LiveStatus::Running | LiveStatus::Cancelling
        )
    }

    /// What `GET /api/runs/{id}` adds about a run of this server.
    pub fn to_json(&self) -> Value {
        json!({
            "run_id": self.run_id,
            "query": self.query,
            "status": self.status_word(),
            "live": self.is_live(),
            "started_at": trustfold_events::format_time(&self.started_at),
            "elapsed_ms": self.started.elapsed().as_millis() as u64,
            "error": match &self.status {
                LiveStatus::Errored { error } => Some(error.clone()),
                _ => None,
            },
        })
    }
}

/// The runs this server started, and the bound on how many run at once.
pub struct RunManager {
    permits: Arc<Semaphore>,
    runs: Mutex<BTreeMap<Uuid, LiveRun>>,
}

impl Default for RunManager {
    fn default() -> Self {
        Self::new()
    }
}

impl RunManager {
    pub fn new() -> RunManager {
        RunManager {
            permits: Arc::new(Semaphore::new(super::RUNS_CONCURRENT_MAX)),
            runs: Mutex::new(BTreeMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<Uuid, LiveRun>> {
        self.runs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A run this server started, if it remembers it.
    pub fn get(&self, run_id: &str) -> Option<LiveRun> {
        let id = Uuid::parse_str(run_id).ok()?;
        self.lock().get(&id).cloned()
    }

    /// The runs still running here.
    pub fn live(&self) -> Vec<LiveRun> {
        self.lock()
            .values()
            .filter(|r| r.is_live())
            .cloned()
            .collect()
    }

    fn set(&self, run_id: Uuid, status: LiveStatus) {
        if let Some(r) = self.lock().get_mut(&run_id) {
            // A cancel asked while the run starts stays visible until the run ends.
            if !(r.status == LiveStatus::Cancelling && status == LiveStatus::Running) {
                r.status = status;
            }
        }
    }

    /// Forgets the oldest ended runs beyond [`RUN_HISTORY_MAX`](super::RUN_HISTORY_MAX)
    /// (the projections keep every run; this is only what the server itself saw).
    fn trim(map: &mut BTreeMap<Uuid, LiveRun>) {
        while map.len() > super::RUN_HISTORY_MAX {
            let Some(oldest_ended) = map.iter().find(|(_, r)| !r.is_live()).map(|(id, _)| *id)
            else {
                return;
            };
            map.remove(&oldest_ended);
        }
    }

    /// Cancels every live run (the server is stopping).
    pub fn cancel_all(&self, reason: &str) {
        for r in self.lock().values_mut().filter(|r| r.is_live()) {
            r.shutdown.cancel(reason);
            r.status = LiveStatus::Cancelling;
        }
    }
}

/// Plans and starts a run; answers at once with its id. Bad arguments are 400 (nothing is
/// recorded); more than `RUNS_CONCURRENT_MAX` live runs is 429.
pub fn start(state: &AppState, req: StartRun) -> Result<Uuid, ApiError> {
    let plan_args = PlanArgs {
        query: req.query.clone(),
        budget: req.budget,
        mode: req.mode.clone().unwrap_or_else(|| "discover-many".into()),
        connectors: req.connectors.clone(),
    };
    let plan = plan_args.plan()?;
    let prepared = query::prepare(&plan, req.offline, Some(state.policy()))?;
    let manager = state.runs();
    let permit = manager.permits.clone().try_acquire_owned().map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::TOO_MANY_REQUESTS,
            format!(
                "{} runs are running in this server (RUNS_CONCURRENT_MAX); start this one when \
                 one of them ends",
                super::RUNS_CONCURRENT_MAX
            ),
        )
    })?;
    let run_id = Uuid::now_v7();
    let shutdown = Shutdown::new();
    {
        let mut runs = manager.lock();
        runs.insert(
            run_id,
            LiveRun {
                run_id,
                query: plan.query.clone(),
                started_at: Utc::now(),
                status: LiveStatus::Initiated,
                started: Instant::now(),
                shutdown: shutdown.clone(),
            },
        );
        RunManager::trim(&mut runs);
    }
    let runtime = tokio::runtime::Handle::current();
    let state = state.clone();
    state.metrics().run_started();
    tokio::task::spawn_blocking(move || {
        let _permit = permit;
        state.runs().set(run_id, LiveStatus::Running);
        let outcome = (|| -> anyhow::Result<String> {
            let stores = state.stores();
            let (dir, store) = stores.write_log()?;
            let blobs = stores.blobs()?;
            let driver = query::Driver {
                run_id,
                shutdown,
                progress: false,
                runtime: Some(runtime),
                keep_off_topic: req.keep_off_topic,
            };
            let report = query::run_query(&dir, &*store, &*blobs, &plan, prepared, driver);
            drop(blobs);
            // The projections include the run whatever its end; a failed catch-up leaves
            // them to the next one (the run is recorded either way).
            if let Err(e) = stores.catch_up(state.policy()) {
                tracing::warn!(error = %format!("{e:#}"), "catching the projections up after a run");
            }
            match report {
                Ok(r) => Ok(r.status),
                Err(e)
                    if crate::exit::code_for(&e)
                        == crate::ingest::lifecycle::CANCELLED_EXIT_CODE =>
                {
                    Ok("cancelled".into())
                }
                Err(e) => Err(e),
            }
        })();
        let status = match outcome {
            Ok(status) => LiveStatus::Ended { status },
            Err(e) => {
                let error = format!("{e:#}");
                tracing::warn!(%run_id, %error, "run over HTTP failed");
                LiveStatus::Errored { error }
            }
        };
        state.runs().set(run_id, status);
        state.metrics().run_ended();
    });
    Ok(run_id)
}

/// Asks a run of this server to stop. Unknown here: 404 when the projections do not know
/// it either, 409 when it is not running in this server; ended: 409.
pub fn cancel(state: &AppState, run_id: &str, by: &str) -> Result<LiveRun, ApiError> {
    let Some(id) = Uuid::parse_str(run_id).ok() else {
        return Err(ApiError::not_found(format!(
            "no run {:?}: give a run id (a UUID)",
            run_id.chars().take(60).collect::<String>()
        )));
    };
    let mut runs = state.runs().lock();
    let Some(run) = runs.get_mut(&id) else {
        return Err(ApiError::conflict(format!(
            "run {id} was not started by this server; a run started on the command line is \
             stopped there (Ctrl-C)"
        )));
    };
    if !run.is_live() {
        return Err(ApiError::conflict(format!(
            "run {id} already ended ({})",
            run.status_word()
        )));
    }
    run.shutdown.cancel(format!("cancelled over HTTP by {by}"));
    run.status = LiveStatus::Cancelling;
    Ok(run.clone())
}
