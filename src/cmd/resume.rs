//! `trustfold resume <run-id>`: continue a run whose process died (kill -9, a crash, a
//! power cut) before its terminal event.
//!
//! The log says how far the run got. Requests with a recorded response (or dead letter)
//! are not sent again; their payloads come back from the blob store and go through the
//! stages first, in their recorded order, then the answers of the requests still missing.
//! Every stage event has an id derived from what it says, so the stages re-derive the
//! facts of the first attempt and append only those that are missing: no duplicates.
//! Known limit: a next page that the first attempt had not asked for yet is not fetched.
//!
//! An import is finished by reading its stored payload again (`import::resume`). Any
//! interrupted run can instead be ended with `--abandon --reason R` (`RunCancelled`), so
//! no run has to stay interrupted for ever.

use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use tracing::{info, info_span};
use trustfold_events::{
    ConnectorFigures, EventFilter, EventPayload, RecordedEvent, RedactedRequest, RunCancelled,
    RunFigures, RunStarted,
};
use uuid::Uuid;

use crate::cmd::plan::PlanArgs;
use crate::connectors::fetch::FetchPolicy;
use crate::connectors::secrets::Secrets;
use crate::connectors::{connector, ConnectorRequest};
use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;
use crate::ingest::lifecycle::Shutdown;
use crate::ingest::{self, FetchedPayload, RunContext, RunRecorder};
use crate::project;
use crate::source::ConnectorId;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The run id (or a unique prefix, see `trustfold runs`).
    pub run_id: String,
    /// Answer the missing calls from the recorded fixtures.
    #[arg(long)]
    pub offline: bool,
    #[arg(long)]
    pub json: bool,
    /// End the run instead of continuing it: records `RunCancelled` with the reason.
    #[arg(long, requires = "reason")]
    pub abandon: bool,
    /// Why the run is abandoned (with --abandon).
    #[arg(long, requires = "abandon")]
    pub reason: Option<String>,
}

/// The identity of a request, as recorded (secrets removed).
fn key(r: &RedactedRequest) -> (String, String, Option<String>) {
    (r.method.clone(), r.url.clone(), r.body.clone())
}

pub fn run(data_dir: &Place, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let policy = project::load_policy(trust, data_dir)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    let Some(row) = db.run(&args.run_id)? else {
        return Err(bad_input(format!(
            "no run {:?} (see `trustfold runs`)",
            args.run_id.chars().take(60).collect::<String>()
        )));
    };
    drop(db);
    if row.status.is_terminal() {
        return Err(bad_input(format!(
            "run {} is {}: it ended with its terminal event; nothing to resume",
            row.run_id, row.status
        )));
    }
    let run_id: Uuid = row
        .run_id
        .parse()
        .map_err(|e| bad_input(format!("run id {}: {e}", row.run_id)))?;
    let dir = DataDir::writable(data_dir)?;
    let _lock = dir.run_lock(&row.run_id)?;
    let store = dir.write_log()?;
    let blobs = dir.blobs()?;
    let events: Vec<RecordedEvent> = store
        .read_filtered(EventFilter {
            run_id: Some(run_id),
            ..EventFilter::default()
        })
        .map(|r| {
            r.and_then(|e| {
                let seq = e.seq;
                e.into_recorded()
                    .map_err(|source| trustfold_events::StoreError::Decode { seq, source })
            })
        })
        .collect::<Result<_, _>>()?;
    // Another process may have finished it between the projection read and the lock.
    if let Some(done) = events
        .iter()
        .find_map(|e| e.payload.run_status().filter(|s| s.is_terminal()))
    {
        return Err(bad_input(format!(
            "run {run_id} is {done}: nothing to resume"
        )));
    }
    let Some((started_event, started, trace_id)) = events.iter().find_map(|e| match &e.payload {
        EventPayload::RunStarted(p) => Some((e.id, p.clone(), e.trace_id.clone())),
        _ => None,
    }) else {
        return Err(bad_input(format!(
            "run {run_id} has no RunStarted: nothing to resume"
        )));
    };
    if args.abandon {
        let reason = crate::cmd::overrides::reason(args.reason.as_deref().unwrap_or_default())?;
        let trace_id = trace_id.unwrap_or_else(|| run_id.simple().to_string()[..16].to_string());
        let mut rec = RunRecorder::resume(
            &*store,
            &*blobs,
            run_id,
            trace_id,
            &started.query,
            started_event,
        )?;
        let cost_usd = events
            .iter()
            .filter_map(|e| match &e.payload {
                EventPayload::ConnectorResponded(p) => Some(p.cost_usd),
                _ => None,
            })
            .sum();
        rec.record(RunCancelled {
            reason: format!("abandoned: {reason}"),
            figures: RunFigures {
                cost_usd,
                ..RunFigures::default()
            },
        })?;
        if let Err(e) = project::catch_up(&dir, &*store, &policy, false) {
            eprintln!("warning: the run is closed, but the projections were not updated: {e:#}");
        }
        println!("run {run_id} abandoned: RunCancelled recorded ({reason})");
        return Ok(ExitCode::SUCCESS);
    }
    if started.mode == "import" {
        let trace_id = trace_id.unwrap_or_else(|| run_id.simple().to_string()[..16].to_string());
        return crate::cmd::import::resume(
            &dir,
            &*store,
            &*blobs,
            &policy,
            crate::cmd::import::Interrupted {
                run_id,
                trace_id,
                started_event,
                started: &started,
                events: &events,
            },
            args.json,
        );
    }
    if started.mode == "replay" {
        return Err(bad_input(format!(
            "run {run_id} is a dlq replay; run `trustfold dlq replay` again (its facts are \
             idempotent), or end this one with `trustfold resume {run_id} --abandon --reason R`"
        )));
    }
    let plan = replan(&started)?;
    let secrets = Secrets::from_env();
    let ids: Vec<ConnectorId> = plan.selected.iter().map(|s| s.connector).collect();
    let transports = ingest::transports::choose(&ids, &secrets, args.offline)?;
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals()?;
    let ctx = RunContext {
        store: &*store,
        blobs: &*blobs,
        secrets: &secrets,
        policy: FetchPolicy::from_env().map_err(bad_input)?,
        transports,
        progress: false,
        match_config: dir.match_config()?,
        shutdown,
        dir: &dir,
        compact_reobservations: false,
        relevance: if started.keep_off_topic {
            crate::relevance::Screening::Keep
        } else {
            crate::relevance::Screening::Reject
        },
        runtime: None,
        regions: crate::source::connector_regions(Some(&policy)),
    };

    // What the first attempt recorded: answered requests, their payloads, the figures.
    let mut done = std::collections::HashSet::new();
    let mut recorded = Vec::new();
    let mut prior: std::collections::BTreeMap<String, ConnectorFigures> = Default::default();
    for e in &events {
        match &e.payload {
            EventPayload::ConnectorResponded(p) => {
                done.insert(key(&p.request));
                let Ok(id) = p.connector.parse::<ConnectorId>() else {
                    continue;
                };
                let body = blobs.get(&p.payload_hash)?;
                let records = ConnectorRequest::from_recorded(id, &p.request)
                    .and_then(|req| {
                        connector(id)
                            .inspect(&req, p.content_type.as_deref(), &body)
                            .ok()
                    })
                    .map_or(0, |i| i.records);
                let f = prior
                    .entry(p.connector.clone())
                    .or_insert_with(|| ConnectorFigures {
                        connector: p.connector.clone(),
                        status: "ok".into(),
                        transport: p.transport.clone(),
                        ..ConnectorFigures::default()
                    });
                f.attempts += 1;
                f.latency_ms += p.latency_ms;
                f.cost_usd += p.cost_usd;
                f.candidates += records;
                recorded.push(FetchedPayload {
                    connector: id,
                    response_event: e.id,
                    payload_hash: p.payload_hash,
                    url: p.request.url.clone(),
                    body,
                });
            }
            EventPayload::DeadLettered(p) => {
                done.insert(key(&p.request));
                let f = prior.entry(p.connector.clone()).or_default();
                f.connector = p.connector.clone();
                f.status = "failed".into();
                f.error = Some(format!("{}: {}", p.error_class.as_str(), p.last_message));
            }
            EventPayload::ConnectorFailed(p) => {
                let f = prior.entry(p.connector.clone()).or_default();
                f.connector = p.connector.clone();
                f.attempts += 1;
            }
            _ => {}
        }
    }
    let calls: ingest::CallList = ingest::calls_for_plan(&plan, &ctx.transports)
        .into_iter()
        .map(|(id, reqs)| {
            let missing: Vec<ConnectorRequest> = reqs
                .into_iter()
                .filter(|r| !done.contains(&key(&r.redacted(&secrets))))
                .collect();
            (id, missing)
        })
        .filter(|(_, reqs)| !reqs.is_empty())
        .collect();
    let trace_id = trace_id.unwrap_or_else(|| run_id.simple().to_string()[..16].to_string());
    let mut rec = RunRecorder::resume(
        &*store,
        &*blobs,
        run_id,
        trace_id.clone(),
        &started.query,
        started_event,
    )?;
    rec.connectors = prior
        .into_values()
        .filter(|f| !f.connector.is_empty())
        .collect();
    let span = info_span!("run", run_id = %run_id, trace_id = %trace_id);
    let _entered = span.enter();
    info!(
        recorded = recorded.len(),
        missing = calls.iter().map(|(_, r)| r.len()).sum::<usize>(),
        "run resumed"
    );
    eprintln!(
        "resuming run {run_id}: {} recorded responses reused, {} requests still to send",
        recorded.len(),
        calls.iter().map(|(_, r)| r.len()).sum::<usize>()
    );
    let report = ingest::drive(
        &ctx,
        &plan,
        calls,
        &mut rec,
        recorded,
        Instant::now(),
        &span,
    )?;
    project::print_run_report(&dir, &*store, &policy, report, args.json)?;
    Ok(ExitCode::SUCCESS)
}

/// The plan of the original run, from its `RunStarted`: the same query, mode, budget and
/// connectors, planned again by the same (deterministic) planner.
fn replan(started: &RunStarted) -> Result<crate::planner::Plan> {
    let args = PlanArgs {
        query: started.query.clone(),
        budget: Some(started.budget_usd),
        mode: started.mode.clone(),
        connectors: Some(
            started
                .selected
                .iter()
                .map(|s| s.connector.clone())
                .collect(),
        ),
    };
    args.plan()
}
