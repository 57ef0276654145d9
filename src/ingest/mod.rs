//! One ingest run: plan, record the plan, call the chosen connectors concurrently, record
//! every response and failure as it happens, and always end with a terminal event.
//!
//! Ordering that the log relies on: a payload is flushed to the blob store before the
//! `ConnectorResponded` naming it is appended; `RunStarted` is the first event of the run's
//! stream and `RunCompleted`/`RunFailed` the last.

pub mod lifecycle;
pub mod query;
pub mod report;
pub mod stages;
pub mod transports;

use std::collections::BTreeMap;
use std::time::Instant;

use anyhow::{Context, Result};
use tokio::sync::mpsc;
use tracing::{info, info_span, warn, Instrument};
use trustfold_events::{
    derived_event_id, AppendBatch, Blobs, ConnectorFailed, ConnectorFigures, ConnectorResponded,
    DeadLettered, EventPayload, EventStore, ExpectedVersion, NewEvent, PlannedConnector,
    ReviewReason, ReviewRequested, RunCancelled, RunCompleted, RunFailed, RunFigures, RunStarted,
    SkippedConnector,
};
use uuid::Uuid;

use crate::connectors::fetch::{
    fetch_connector, Budget, ConnectorOutcome, FetchEvent, FetchPolicy,
};
use crate::connectors::secrets::Secrets;
use crate::connectors::transport::Transport;
use crate::connectors::{connector, ConnectorRequest, Query};
use crate::planner::Plan;
use crate::source::ConnectorId;
use lifecycle::{catch_panic, failpoint, Cancelled, Shutdown};

pub use report::{RunHeader, RunReport};

/// Events of one run, appended to `run/<id>` with a strict expected version: the run is
/// that stream's only writer, and the compare-and-swap proves it.
pub struct RunRecorder<'a> {
    store: &'a dyn EventStore,
    blobs: &'a dyn Blobs,
    pub run_id: Uuid,
    pub trace_id: String,
    /// The run's question, carried into dead letters so they can be replayed.
    pub query: String,
    stream: String,
    version: u64,
    started_event: Option<Uuid>,
    /// Figures of the connectors that finished, for a terminal event written early.
    pub connectors: Vec<ConnectorFigures>,
    /// Whether this run already asked a person about its budget.
    budget_review: bool,
}

impl<'a> RunRecorder<'a> {
    pub fn new(store: &'a dyn EventStore, blobs: &'a dyn Blobs, query: &str) -> Self {
        Self::with_run_id(store, blobs, query, Uuid::now_v7())
    }

    /// A recorder for a new run whose id was chosen before it started (a server answers
    /// with the id at once and runs the run after).
    pub fn with_run_id(
        store: &'a dyn EventStore,
        blobs: &'a dyn Blobs,
        query: &str,
        run_id: Uuid,
    ) -> Self {
        let trace_id = Uuid::new_v4().simple().to_string()[..16].to_string();
        RunRecorder {
            store,
            blobs,
            run_id,
            trace_id,
            query: query.to_string(),
            stream: format!("run/{run_id}"),
            version: 0,
            started_event: None,
            connectors: Vec::new(),
            budget_review: false,
        }
    }

    /// A recorder that continues an interrupted run's stream (see `trustfold resume`).
    pub fn resume(
        store: &'a dyn EventStore,
        blobs: &'a dyn Blobs,
        run_id: Uuid,
        trace_id: String,
        query: &str,
        started_event: Uuid,
    ) -> Result<Self> {
        let stream = format!("run/{run_id}");
        let version = store.stream_version(&stream)?;
        Ok(RunRecorder {
            store,
            blobs,
            run_id,
            trace_id,
            query: query.to_string(),
            stream,
            version,
            started_event: Some(started_event),
            connectors: Vec::new(),
            budget_review: false,
        })
    }

    /// Appends an event with a derived id unless the log already has it (a resumed run
    /// re-deriving a fact its first attempt recorded).
    pub fn record_once(
        &mut self,
        id: Uuid,
        payload: impl Into<EventPayload>,
        cause: Option<Uuid>,
    ) -> Result<Uuid> {
        if !self.store.existing_ids(&[id])?.is_empty() {
            return Ok(id);
        }
        self.record_with(payload, cause, Some(id))
    }

    /// Appends one event of this run (durably) and returns its id. Its cause is the run's
    /// `RunStarted`.
    pub fn record(&mut self, payload: impl Into<EventPayload>) -> Result<Uuid> {
        self.record_caused(payload, None)
    }

    /// Appends one event caused by `cause` (or, without one, by the run's `RunStarted`).
    pub fn record_caused(
        &mut self,
        payload: impl Into<EventPayload>,
        cause: Option<Uuid>,
    ) -> Result<Uuid> {
        self.record_with(payload, cause, None)
    }

    fn record_with(
        &mut self,
        payload: impl Into<EventPayload>,
        cause: Option<Uuid>,
        id: Option<Uuid>,
    ) -> Result<Uuid> {
        let mut ev = NewEvent::new(&self.stream, payload).in_run(self.run_id, &self.trace_id);
        if let Some(id) = id {
            ev = ev.with_id(id);
        }
        if let Some(cause) = cause.or(self.started_event) {
            ev = ev.caused_by(cause);
        }
        let id = ev.id;
        let expected = if self.version == 0 {
            ExpectedVersion::NoStream
        } else {
            ExpectedVersion::Exact(self.version)
        };
        self.store
            .append(AppendBatch::for_stream(&self.stream, expected, vec![ev]))
            .with_context(|| format!("recording an event of run {}", self.run_id))?;
        self.version += 1;
        if self.started_event.is_none() {
            self.started_event = Some(id);
        }
        Ok(id)
    }

    /// Asks a person about the run (a `ReviewRequested` in its own stream, caused by the
    /// run's start). Its id derives from the run, so asking twice is one question.
    pub fn request_review(&mut self, reason: ReviewReason, detail: String) -> Result<String> {
        let tag = match reason {
            ReviewReason::BudgetOverrun => "budget",
            ReviewReason::AmbiguousMatch => "match",
            ReviewReason::FieldConflict => "conflict",
        };
        let review_id = format!("r_{tag}_{}", self.run_id.simple());
        let stream = format!("review/{review_id}");
        let mut ev = NewEvent::new(
            &stream,
            ReviewRequested {
                review_id: review_id.clone(),
                reason,
                candidate_id: None,
                entity_ids: Vec::new(),
                detail,
            },
        )
        .with_id(derived_event_id(&["ReviewRequested", &review_id]))
        .in_run(self.run_id, &self.trace_id);
        if let Some(cause) = self.started_event {
            ev = ev.caused_by(cause);
        }
        self.store
            .append(AppendBatch::for_stream(
                &stream,
                ExpectedVersion::NoStream,
                vec![ev],
            ))
            .with_context(|| format!("recording a review of run {}", self.run_id))?;
        Ok(review_id)
    }

    /// Stores raw bytes durably and returns their hash.
    pub fn store_payload(&self, bytes: &[u8]) -> Result<trustfold_events::BlobHash> {
        Ok(self.blobs.put(bytes)?)
    }
}

/// The figures of one connector, as the report and `RunCompleted` show them.
fn figures_for(id: ConnectorId, transport: &str, o: &ConnectorOutcome) -> ConnectorFigures {
    ConnectorFigures {
        connector: id.as_str().to_string(),
        status: if o.ok { "ok" } else { "failed" }.to_string(),
        latency_ms: o.latency_ms,
        candidates: o.records,
        cost_usd: o.cost_usd,
        attempts: o.attempts,
        transport: transport.to_string(),
        error: o.error.clone(),
    }
}

/// Everything a run needs besides the plan.
pub struct RunContext<'a> {
    pub store: &'a dyn EventStore,
    pub blobs: &'a dyn Blobs,
    pub secrets: &'a Secrets,
    pub policy: FetchPolicy,
    pub transports: BTreeMap<ConnectorId, Transport>,
    pub progress: bool,
    pub match_config: crate::resolve::MatchConfig,
    /// A stop request (signals), checked while fetching and between stages.
    pub shutdown: Shutdown,
    /// Where the run's data lives, and where a running run holds its lock.
    pub dir: &'a crate::datadir::DataDir,
    /// Record records seen again unchanged as `CandidatesSeenAgain` (not for a resumed
    /// run, which re-derives its first attempt's facts one by one).
    pub compact_reobservations: bool,
    /// What to do with candidates that do not answer the query (`--keep-off-topic`).
    pub relevance: crate::relevance::Screening,
    /// The tokio runtime the connector calls run on: the caller's (a server runs a run on
    /// one of its blocking threads and the calls on its own workers), or `None` for a
    /// runtime of the run's own (the command line, which has none).
    pub runtime: Option<tokio::runtime::Handle>,
    /// The region each connector's records are read in (`crate::source::connector_regions`:
    /// the trust policy's, else the connector's own).
    pub regions: BTreeMap<ConnectorId, trustfold_normalize::phone::Region>,
}

/// What to call in a run: each connector with its requests.
pub type CallList = Vec<(ConnectorId, Vec<ConnectorRequest>)>;

/// Builds the requests of every selected connector.
pub fn calls_for_plan(plan: &Plan, transports: &BTreeMap<ConnectorId, Transport>) -> CallList {
    let query = Query {
        text: &plan.query,
        features: &plan.features,
        mode: plan.mode,
    };
    plan.selected
        .iter()
        .filter_map(|s| {
            let t = transports.get(&s.connector)?;
            Some((
                s.connector,
                connector(s.connector).requests(&t.base_url(s.connector), &query),
            ))
        })
        .collect()
}

/// The `RunStarted` of a plan.
pub fn run_started(plan: &Plan) -> RunStarted {
    RunStarted {
        query: plan.query.clone(),
        mode: plan.mode.as_str().to_string(),
        budget_usd: plan.budget_usd,
        features: serde_json::to_value(&plan.features).unwrap_or_default(),
        selected: plan
            .selected
            .iter()
            .map(|s| PlannedConnector {
                connector: s.connector.as_str().to_string(),
                phase: s.phase.as_str().to_string(),
                reason: s.reason.clone(),
                cost_usd: s.cost_usd,
                trust: s.trust,
            })
            .collect(),
        skipped: plan
            .skipped
            .iter()
            .map(|s| SkippedConnector {
                connector: s.connector.as_str().to_string(),
                reason: s.reason.clone(),
            })
            .collect(),
        keep_off_topic: false,
    }
}

/// A response body kept in memory for extraction after fetching.
pub struct FetchedPayload {
    pub connector: ConnectorId,
    pub response_event: Uuid,
    pub payload_hash: trustfold_events::BlobHash,
    pub url: String,
    pub body: Vec<u8>,
}

/// Runs the plan: records `RunStarted`, every connector outcome, the extraction,
/// acceptance and merge decisions, and the terminal event: `RunCompleted`, `RunFailed`
/// (an error, or a panic inside a stage) or `RunCancelled` (a stop request).
pub fn run_plan(
    ctx: &RunContext<'_>,
    plan: &Plan,
    calls: CallList,
    started: RunStarted,
) -> Result<RunReport> {
    run_plan_as(ctx, plan, calls, started, Uuid::now_v7())
}

/// [`run_plan`] for a run whose id the caller chose (and may already have shown).
pub fn run_plan_as(
    ctx: &RunContext<'_>,
    plan: &Plan,
    calls: CallList,
    started: RunStarted,
    run_id: Uuid,
) -> Result<RunReport> {
    let clock = Instant::now();
    let mut rec = RunRecorder::with_run_id(ctx.store, ctx.blobs, &plan.query, run_id);
    let span = info_span!("run", run_id = %rec.run_id, trace_id = %rec.trace_id);
    let _entered = span.enter();
    let _lock = ctx.dir.run_lock(&rec.run_id.to_string())?;
    rec.record(started)?;
    info!(query = %plan.query, connectors = calls.len(), "run started");
    drive(ctx, plan, calls, &mut rec, Vec::new(), clock, &span)
}

/// What a run does after `RunStarted`: fetch, extract, resolve, and the terminal event.
/// `recorded` are payloads an interrupted attempt of the run already recorded; they go
/// through the stages first, in their recorded order, followed by the new ones.
pub fn drive(
    ctx: &RunContext<'_>,
    plan: &Plan,
    calls: CallList,
    rec: &mut RunRecorder<'_>,
    recorded: Vec<FetchedPayload>,
    clock: Instant,
    span: &tracing::Span,
) -> Result<RunReport> {
    let spent_usd: f64 = rec.connectors.iter().map(|c| c.cost_usd).sum();
    let budget = std::sync::Arc::new(Budget::with_spent(plan.budget_usd, spent_usd));
    let progress = report::Progress::new(ctx.progress, &calls);
    let mut stage = "fetch";
    let fetched = catch_panic(stage, || {
        let payloads = fetch_all(ctx, rec, calls, &progress, &budget, span)?;
        failpoint("fetch", &ctx.shutdown)?;
        Ok(payloads)
    });
    progress.finish();
    let outcome = fetched.and_then(|new| {
        let mut payloads = recorded;
        payloads.extend(new);
        // Responses arrive in whatever order the network gives; the candidates are decided
        // in an order of their own, so that the same responses found the same entities
        // (an entity's id derives from its founding record), whichever answered first, on
        // either store, and a resumed run decides as an uninterrupted one would have.
        payloads.sort_by(|a, b| {
            (a.connector, &a.url, a.payload_hash).cmp(&(b.connector, &b.url, b.payload_hash))
        });
        ctx.shutdown.check()?;
        stage = "extract";
        let extracted = catch_panic(stage, || {
            failpoint("extract", &ctx.shutdown)?;
            extract_payloads(rec, ctx.secrets, payloads, &ctx.shutdown, &ctx.regions)
        })?;
        ctx.shutdown.check()?;
        stage = "resolve";
        let stages = catch_panic(stage, || {
            failpoint("resolve", &ctx.shutdown)?;
            let known = ctx
                .compact_reobservations
                .then(|| crate::project::known_records(ctx.dir, ctx.store))
                .flatten();
            process_payloads(
                ctx.store,
                rec,
                extracted,
                &ctx.match_config,
                known.as_ref(),
                Some((&plan.features, ctx.relevance)),
                &ctx.shutdown,
            )
        })?;
        Ok((rec.connectors.clone(), stages))
    });
    finish_run(rec, &RunHeader::from(plan), clock, stage, outcome)
}

/// Records the terminal event of a run and builds its report.
pub fn finish_run(
    rec: &mut RunRecorder<'_>,
    header: &RunHeader,
    clock: Instant,
    stage: &str,
    outcome: Result<(Vec<ConnectorFigures>, stages::StageFigures)>,
) -> Result<RunReport> {
    let duration_ms = clock.elapsed().as_millis() as u64;
    match outcome {
        Ok((connectors, st)) => {
            let figures = RunFigures {
                duration_ms,
                cost_usd: connectors.iter().map(|c| c.cost_usd).sum(),
                candidates_found: st.extracted,
                accepted: st.accepted,
                rejected: st.rejected,
                entities_created: st.entities_created,
                entities_updated: st.entities_updated,
                reviews_requested: st.reviews_requested,
                seen_unchanged: st.seen_unchanged,
                connectors,
            };
            rec.record(RunCompleted {
                figures: figures.clone(),
            })?;
            info!(duration_ms, "run completed");
            Ok(RunReport::new(header, rec, "completed", figures, &st))
        }
        Err(err) => {
            // What the run did before it stopped: the connectors that finished.
            let figures = RunFigures {
                duration_ms,
                cost_usd: rec.connectors.iter().map(|c| c.cost_usd).sum(),
                connectors: rec.connectors.clone(),
                ..RunFigures::default()
            };
            // The terminal event is written even when recording failed part way; if the
            // store itself is what failed, this attempt fails too and the error says so.
            let recorded = match err.downcast_ref::<Cancelled>() {
                Some(Cancelled(reason)) => {
                    warn!(reason = %reason, stage, "run cancelled");
                    rec.record(RunCancelled {
                        reason: format!("{reason} during {stage}"),
                        figures,
                    })
                }
                None => {
                    let error = format!("{err:#}");
                    warn!(%error, stage, "run failed");
                    rec.record(RunFailed {
                        stage: stage.into(),
                        error,
                        figures,
                    })
                }
            };
            if let Err(e) = recorded {
                return Err(err.context(format!(
                    "and recording the run's terminal event also failed: {e:#}"
                )));
            }
            Err(err)
        }
    }
}

/// The ArcGIS service a council request asked (its features' ids are per service).
fn arcgis_service(url: &str) -> Option<String> {
    let path = url.split('?').next()?;
    let mut parts = path.split('/');
    parts.by_ref().find(|p| *p == "services")?;
    parts.next().map(str::to_string)
}

/// Runs each payload's extractor. A payload its extractor cannot read is recorded as a
/// `ConnectorFailed{decode}` and contributes no candidates. A stop request is honoured
/// between payloads.
pub fn extract_payloads(
    rec: &mut RunRecorder<'_>,
    secrets: &Secrets,
    payloads: Vec<FetchedPayload>,
    shutdown: &Shutdown,
    regions: &BTreeMap<ConnectorId, trustfold_normalize::phone::Region>,
) -> Result<Vec<stages::ExtractedPayload>> {
    let mut out = Vec::new();
    for p in payloads {
        shutdown.check()?;
        let source = p.connector.as_str();
        let Some(extractor) = crate::extract::extractor_for(source) else {
            continue;
        };
        let region = Some(
            regions
                .get(&p.connector)
                .copied()
                .unwrap_or(p.connector.region()),
        );
        match extractor.extract(&p.body, region) {
            Ok(mut extraction) => {
                if p.connector == ConnectorId::EdinburghCouncil {
                    let service = arcgis_service(&p.url).unwrap_or_else(|| "layer".into());
                    for r in &mut extraction.records {
                        if let Some(n) = r.external_id.strip_prefix("objectid/") {
                            r.external_id =
                                crate::extract::edinburgh_council::arcgis_external_id(&service, n);
                        }
                    }
                }
                out.push(stages::ExtractedPayload {
                    source: source.to_string(),
                    response_event: p.response_event,
                    payload_hash: p.payload_hash,
                    extractor: extractor.source().to_string(),
                    extractor_version: extractor.version(),
                    extraction,
                });
            }
            Err(e) => {
                let message = secrets.scrub(&format!(
                    "extractor {} v{}: {e}",
                    extractor.source(),
                    extractor.version()
                ));
                let id =
                    derived_event_id(&["ConnectorFailed", "decode", &p.response_event.to_string()]);
                rec.record_once(
                    id,
                    ConnectorFailed {
                        connector: source.to_string(),
                        request: trustfold_events::RedactedRequest {
                            method: "EXTRACT".into(),
                            url: secrets.scrub(&p.url),
                            ..Default::default()
                        },
                        error_class: trustfold_events::ErrorClass::Decode,
                        http_status: None,
                        fingerprint: crate::connectors::fetch::fingerprint(
                            p.connector,
                            trustfold_events::ErrorClass::Decode,
                            None,
                            &message,
                        ),
                        message,
                        attempt: 1,
                        latency_ms: 0,
                        will_retry: false,
                        retry_after_ms: None,
                        payload_hash: Some(p.payload_hash),
                    },
                    Some(p.response_event),
                )?;
            }
        }
    }
    Ok(out)
}

/// Extraction events, then relevance (for a query's run), then acceptance and identity,
/// for already-extracted payloads.
///
/// `known` is what the log already says about records (the projections, caught up): with
/// it, records seen again unchanged (and on topic) are recorded compactly; without it (a
/// resumed run, or no projections yet), every record is recorded in full.
///
/// A stop request is honoured at each safe point: before the extraction events, between
/// them and the relevance batch, between that and the acceptance and identity batch, and
/// after it (each stage's events are one atomic batch, so a stop never leaves half a
/// stage). The run then ends with `RunCancelled`; a stop that arrives after the last
/// stage still cancels it, since the run has not ended yet.
pub fn process_payloads(
    store: &dyn EventStore,
    rec: &RunRecorder<'_>,
    payloads: Vec<stages::ExtractedPayload>,
    config: &crate::resolve::MatchConfig,
    known: Option<&trustfold_projections::ProjectionDb>,
    relevance: Option<(&crate::planner::QueryFeatures, crate::relevance::Screening)>,
    shutdown: &Shutdown,
) -> Result<stages::StageFigures> {
    let ids = stages::RunIds {
        run_id: rec.run_id,
        trace_id: &rec.trace_id,
    };
    let mut figures = stages::StageFigures::default();
    shutdown.check()?;
    // Records that are off topic for this query are recorded in full, so the relevance
    // stage can reject them: only on-topic records are seen again compactly.
    let on_topic = |fields: &trustfold_events::CandidateFields| match relevance {
        Some((features, crate::relevance::Screening::Reject)) => {
            crate::relevance::judge(features, fields).on_topic
        }
        _ => true,
    };
    let candidates =
        stages::record_extractions(store, &ids, payloads, known, &on_topic, &mut figures)?;
    info!(
        candidates = figures.extracted,
        seen_unchanged = figures.seen_unchanged,
        skipped_records = figures.skipped_records,
        "candidates extracted"
    );
    shutdown.check()?;
    let candidates = match relevance {
        Some((features, screening)) => {
            let kept = stages::screen_relevance(
                store,
                &ids,
                candidates,
                features,
                screening,
                &mut figures,
            )?;
            info!(off_topic = figures.off_topic, "relevance judged");
            kept
        }
        None => candidates,
    };
    shutdown.check()?;
    failpoint("identity", shutdown)?;
    shutdown.check()?;
    stages::accept_and_resolve(store, &ids, &candidates, config, &mut figures)?;
    shutdown.check()?;
    info!(
        accepted = figures.accepted,
        rejected = figures.rejected,
        new_entities = figures.entities_created,
        existing_entities = figures.entities_updated,
        reviews = figures.reviews_requested,
        "identity decided"
    );
    Ok(figures)
}

/// Calls every connector concurrently and records what comes back, in arrival order.
/// Each connector's figures land in `rec.connectors` as it finishes. A stop request ends
/// the fetching at once (in-flight calls are dropped) and returns [`Cancelled`].
fn fetch_all(
    ctx: &RunContext<'_>,
    rec: &mut RunRecorder<'_>,
    calls: CallList,
    progress: &report::Progress,
    budget: &std::sync::Arc<Budget>,
    span: &tracing::Span,
) -> Result<Vec<FetchedPayload>> {
    // The caller's runtime when it has one (block_on from one of its blocking threads);
    // otherwise one of the run's own, dropped when fetching ends.
    let own_runtime;
    let runtime = match &ctx.runtime {
        Some(handle) => handle.clone(),
        None => {
            own_runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .context("starting the async runtime")?;
            own_runtime.handle().clone()
        }
    };
    runtime.block_on(async {
        let (sink, mut events) = mpsc::channel::<FetchEvent>(64);
        let mut tasks = tokio::task::JoinSet::new();
        let mut pending: Vec<(ConnectorId, &'static str)> = Vec::new();
        for (id, requests) in calls {
            let transport = ctx
                .transports
                .get(&id)
                .cloned()
                .context("no transport chosen")?;
            let secrets = ctx.secrets.clone();
            let policy = ctx.policy.clone();
            let sink = sink.clone();
            let budget = budget.clone();
            pending.push((id, transport.name()));
            // The task runs in the run's span, so its log lines carry the trace id.
            tasks.spawn(
                async move {
                    let o =
                        fetch_connector(&transport, &secrets, &policy, &budget, requests, &sink)
                            .await;
                    (id, transport.name(), o)
                }
                .instrument(span.clone()),
            );
        }
        drop(sink);
        let mut payloads = Vec::new();
        let mut cancelled = false;
        loop {
            tokio::select! {
                ev = events.recv() => match ev {
                    Some(ev) => {
                        progress.on_event(&ev);
                        // Recording is blocking I/O (and a PostgreSQL client runs a
                        // runtime of its own, which must not start on a runtime thread).
                        let recorded = tokio::task::block_in_place(|| {
                            record_fetch_event(rec, ctx.secrets, ev, ctx)
                        })?;
                        if let Some(p) = recorded {
                            payloads.push(p);
                        }
                    }
                    None => break,
                },
                _ = ctx.shutdown.requested() => {
                    cancelled = true;
                    break;
                }
            }
        }
        if cancelled {
            tasks.abort_all();
        }
        while let Some(done) = tasks.join_next().await {
            match done {
                Ok((id, transport, outcome)) => {
                    progress.on_done(id, &outcome);
                    rec.connectors.push(figures_for(id, transport, &outcome));
                }
                Err(e) if e.is_cancelled() => {}
                Err(e) => return Err(anyhow::anyhow!("a connector task panicked: {e}")),
            }
        }
        for (id, transport) in pending {
            if !rec.connectors.iter().any(|c| c.connector == id.as_str()) {
                rec.connectors.push(ConnectorFigures {
                    connector: id.as_str().to_string(),
                    status: "cancelled".into(),
                    transport: transport.to_string(),
                    ..ConnectorFigures::default()
                });
            }
        }
        rec.connectors.sort_by_key(|f| {
            ConnectorId::ALL
                .iter()
                .position(|c| c.as_str() == f.connector)
        });
        ctx.shutdown.check()?;
        Ok(payloads)
    })
}

fn record_fetch_event(
    rec: &mut RunRecorder<'_>,
    secrets: &Secrets,
    ev: FetchEvent,
    ctx: &RunContext<'_>,
) -> Result<Option<FetchedPayload>> {
    let transport_name = |id: ConnectorId| {
        ctx.transports
            .get(&id)
            .map_or("http", |t| t.name())
            .to_string()
    };
    match ev {
        FetchEvent::Responded {
            request,
            status,
            latency_ms,
            attempt,
            content_type,
            body,
            records: _,
            cost_usd,
        } => {
            info!(
                connector = request.connector.as_str(),
                status,
                latency_ms,
                attempt,
                bytes = body.len(),
                "connector responded"
            );
            let hash = rec.store_payload(&body)?;
            let cause = request.cause;
            let response_event = rec.record_caused(
                ConnectorResponded {
                    connector: request.connector.as_str().to_string(),
                    request: request.redacted(secrets),
                    http_status: status,
                    latency_ms,
                    cost_usd,
                    attempt,
                    payload_hash: hash,
                    payload_bytes: body.len() as u64,
                    content_type,
                    transport: transport_name(request.connector),
                },
                cause,
            )?;
            return Ok(Some(FetchedPayload {
                connector: request.connector,
                response_event,
                payload_hash: hash,
                url: request.url,
                body,
            }));
        }
        FetchEvent::Failed {
            request,
            class,
            status,
            message,
            fingerprint,
            attempt,
            latency_ms,
            will_retry,
            retry_after_ms,
            body,
        } => {
            warn!(
                connector = request.connector.as_str(),
                class = class.as_str(),
                attempt,
                will_retry,
                "connector call failed"
            );
            let payload_hash = match &body {
                Some(b) => Some(rec.store_payload(b)?),
                None => None,
            };
            let cause = request.cause;
            rec.record_caused(
                ConnectorFailed {
                    connector: request.connector.as_str().to_string(),
                    request: request.redacted(secrets),
                    error_class: class,
                    http_status: status,
                    message: secrets.scrub(&message),
                    fingerprint,
                    attempt,
                    latency_ms,
                    will_retry,
                    retry_after_ms,
                    payload_hash,
                },
                cause,
            )?;
        }
        FetchEvent::BudgetDenied {
            request,
            cost_usd,
            spent_usd,
            budget_usd,
        } => {
            warn!(
                connector = request.connector.as_str(),
                cost_usd, spent_usd, budget_usd, "paid call refused: over budget"
            );
            if !rec.budget_review {
                rec.budget_review = true;
                rec.request_review(
                    ReviewReason::BudgetOverrun,
                    format!(
                        "the next {} call (${cost_usd:.4}) would bring the run to ${:.4}, over \
                         its budget of ${budget_usd:.4}; no further paid calls were made and the \
                         run completed with what it had. Approve to acknowledge.",
                        request.connector.as_str(),
                        spent_usd + cost_usd
                    ),
                )?;
            }
        }
        FetchEvent::DeadLettered {
            request,
            class,
            fingerprint,
            attempts,
            last_message,
        } => {
            warn!(
                connector = request.connector.as_str(),
                class = class.as_str(),
                attempts,
                "connector gave up: dead-lettered"
            );
            let cause = request.cause;
            rec.record_caused(
                DeadLettered {
                    dead_letter_id: Uuid::new_v4().simple().to_string()[..12].to_string(),
                    connector: request.connector.as_str().to_string(),
                    query: rec.query.clone(),
                    request: request.redacted(secrets),
                    error_class: class,
                    fingerprint,
                    attempts,
                    last_message: secrets.scrub(&last_message),
                },
                cause,
            )?;
        }
    }
    Ok(None)
}
