//! `GET /metrics`: Prometheus text. The counters count what the log holds (every process's
//! appends, not only this server's): a tail reads the events appended since it last looked
//! and adds them, decoding only the kinds a counter needs. Because the log is append-only
//! the counters only grow, across restarts too. Gauges are read from the projections at
//! scrape time. Labels are bounded vocabularies (kinds, connectors, outcomes, statuses,
//! route templates): never an entity, run or review id.

use std::sync::Mutex;

use anyhow::Result;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use trustfold_events::{EventKind, EventPayload, EventStore, MergeOutcome};

use super::state::Stores;

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// Events the tail folds into the counters per call; a long backlog (a server started on a
/// big log) is taken in steps by the background task, so a scrape never waits for it all.
pub const TAIL_EVENTS_MAX: usize = 200_000;

/// Connector latency buckets, in seconds.
const LATENCY_BUCKETS_S: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
/// HTTP request duration buckets, in seconds.
const REQUEST_BUCKETS_S: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0,
];

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS_S)
}

fn request_histogram() -> Histogram {
    Histogram::new(REQUEST_BUCKETS_S)
}

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    events: Family<Labels, Counter>,
    connector_requests: Family<Labels, Counter>,
    connector_latency: HistogramFamily,
    merge_decisions: Family<Labels, Counter>,
    runs: Family<Labels, Counter>,
    http_requests: Family<Labels, Counter>,
    http_duration: HistogramFamily,
    open_reviews: Gauge,
    open_conflicts: Gauge,
    projection_lag: Gauge,
    head_seq: Gauge,
    tail_seq: Gauge,
    runs_active: Gauge,
    /// The next seq the tail reads.
    next_seq: Mutex<u64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::default();
        let events = Family::<Labels, Counter>::default();
        let connector_requests = Family::<Labels, Counter>::default();
        let connector_latency: HistogramFamily = Family::new_with_constructor(latency_histogram);
        let merge_decisions = Family::<Labels, Counter>::default();
        let runs = Family::<Labels, Counter>::default();
        let http_requests = Family::<Labels, Counter>::default();
        let http_duration: HistogramFamily = Family::new_with_constructor(request_histogram);
        let open_reviews = Gauge::default();
        let open_conflicts = Gauge::default();
        let projection_lag = Gauge::default();
        let head_seq = Gauge::default();
        let tail_seq = Gauge::default();
        let runs_active = Gauge::default();
        registry.register(
            "trustfold_events_appended",
            "Events in the log, by kind",
            events.clone(),
        );
        registry.register(
            "trustfold_connector_requests",
            "Connector calls recorded, by connector and outcome (ok, or the error class, or dead_lettered)",
            connector_requests.clone(),
        );
        registry.register(
            "trustfold_connector_latency_seconds",
            "Latency of recorded connector calls, by connector",
            connector_latency.clone(),
        );
        registry.register(
            "trustfold_merge_decisions",
            "Identity decisions, by outcome (new_entity, existing_entity, needs_review) and who decided (matcher, review)",
            merge_decisions.clone(),
        );
        registry.register(
            "trustfold_runs",
            "Runs that ended, by terminal status",
            runs.clone(),
        );
        registry.register(
            "trustfold_http_requests",
            "HTTP requests served, by route template and status",
            http_requests.clone(),
        );
        registry.register(
            "trustfold_http_request_duration_seconds",
            "HTTP request durations, by route template",
            http_duration.clone(),
        );
        registry.register(
            "trustfold_open_reviews",
            "Reviews waiting for a person",
            open_reviews.clone(),
        );
        registry.register(
            "trustfold_open_conflicts",
            "Conflicting fields (sources of near trust that disagree) over every entity",
            open_conflicts.clone(),
        );
        registry.register(
            "trustfold_projection_lag_events",
            "Events in the log not yet folded into the projections (head seq minus checkpoint)",
            projection_lag.clone(),
        );
        registry.register(
            "trustfold_log_head_seq",
            "The seq of the last event in the log",
            head_seq.clone(),
        );
        registry.register(
            "trustfold_metrics_tail_seq",
            "The last seq the counters include",
            tail_seq.clone(),
        );
        registry.register(
            "trustfold_runs_active",
            "Runs running in this server",
            runs_active.clone(),
        );
        Metrics {
            registry,
            events,
            connector_requests,
            connector_latency,
            merge_decisions,
            runs,
            http_requests,
            http_duration,
            open_reviews,
            open_conflicts,
            projection_lag,
            head_seq,
            tail_seq,
            runs_active,
            next_seq: Mutex::new(1),
        }
    }

    pub fn run_started(&self) {
        self.runs_active.inc();
    }

    pub fn run_ended(&self) {
        self.runs_active.dec();
    }

    /// One HTTP request: `route` is the matched route template (never a concrete path).
    pub fn request(&self, route: &str, status: u16, seconds: f64) {
        self.http_requests
            .get_or_create(&vec![
                ("route", route.to_string()),
                ("status", status.to_string()),
            ])
            .inc();
        self.http_duration
            .get_or_create(&vec![("route", route.to_string())])
            .observe(seconds);
    }

    /// Adds the events appended since the last call (at most [`TAIL_EVENTS_MAX`]) to the
    /// counters; returns how many were read.
    pub fn tail(&self, store: &dyn EventStore) -> Result<usize> {
        let mut next = self.next_seq.lock().unwrap_or_else(|p| p.into_inner());
        let mut n = 0usize;
        for ev in store.read_raw_from(*next) {
            let ev = ev?;
            n += 1;
            *next = ev.seq + 1;
            self.events
                .get_or_create(&vec![("kind", ev.kind.clone())])
                .inc();
            let kind: Option<EventKind> = ev.kind.parse().ok();
            let interesting = matches!(
                kind,
                Some(
                    EventKind::ConnectorResponded
                        | EventKind::ConnectorFailed
                        | EventKind::DeadLettered
                        | EventKind::MergeDecided
                        | EventKind::RunCompleted
                        | EventKind::RunFailed
                        | EventKind::RunCancelled
                )
            );
            if interesting {
                // An undecodable event is counted by kind above and skipped here: `verify`
                // is the place that reports it.
                if let Ok(decoded) = ev.decode() {
                    self.count(&decoded.payload);
                }
            }
            if n >= TAIL_EVENTS_MAX {
                break;
            }
        }
        self.tail_seq.set(next.saturating_sub(1) as i64);
        Ok(n)
    }

    fn count(&self, payload: &EventPayload) {
        match payload {
            EventPayload::ConnectorResponded(p) => {
                self.connector_requests
                    .get_or_create(&vec![
                        ("connector", p.connector.clone()),
                        ("outcome", "ok".into()),
                    ])
                    .inc();
                self.connector_latency
                    .get_or_create(&vec![("connector", p.connector.clone())])
                    .observe(p.latency_ms as f64 / 1000.0);
            }
            EventPayload::ConnectorFailed(p) => {
                self.connector_requests
                    .get_or_create(&vec![
                        ("connector", p.connector.clone()),
                        ("outcome", p.error_class.as_str().to_string()),
                    ])
                    .inc();
                self.connector_latency
                    .get_or_create(&vec![("connector", p.connector.clone())])
                    .observe(p.latency_ms as f64 / 1000.0);
            }
            EventPayload::DeadLettered(p) => {
                self.connector_requests
                    .get_or_create(&vec![
                        ("connector", p.connector.clone()),
                        ("outcome", "dead_lettered".into()),
                    ])
                    .inc();
            }
            EventPayload::MergeDecided(m) => {
                let outcome = match m.decision {
                    MergeOutcome::NewEntity { .. } => "new_entity",
                    MergeOutcome::ExistingEntity { .. } => "existing_entity",
                    MergeOutcome::NeedsReview { .. } => "needs_review",
                };
                let by = if m.decided_by.starts_with("review:") {
                    "review"
                } else {
                    "matcher"
                };
                self.merge_decisions
                    .get_or_create(&vec![
                        ("decision", outcome.to_string()),
                        ("decided_by", by.to_string()),
                    ])
                    .inc();
            }
            EventPayload::RunCompleted(_) => self.run_status("completed"),
            EventPayload::RunFailed(_) => self.run_status("failed"),
            EventPayload::RunCancelled(_) => self.run_status("cancelled"),
            _ => {}
        }
    }

    fn run_status(&self, status: &str) {
        self.runs
            .get_or_create(&vec![("status", status.to_string())])
            .inc();
    }

    /// The Prometheus text: the tail caught up (one step), the gauges read now.
    pub fn scrape(&self, stores: &Stores) -> Result<String> {
        if let Ok(store) = stores.read_log() {
            self.tail(&*store)?;
            let head = store.head()?.map_or(0, |h| h.seq);
            self.head_seq.set(head as i64);
            if let Ok(db) = stores.read_projections() {
                let checkpoint = db.meta()?.checkpoint_seq;
                self.projection_lag
                    .set(head.saturating_sub(checkpoint) as i64);
                let counts = db.entity_counts()?;
                self.open_reviews.set(counts.open_reviews as i64);
                self.open_conflicts.set(counts.conflicting_fields as i64);
            }
        }
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}
