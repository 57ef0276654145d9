//! `trustfold dlq list|replay`: connector calls that gave up, and retrying them.
//!
//! A dead letter is open until a later event names it as its cause: a `ConnectorResponded`
//! (the replay worked) or another `DeadLettered` (the replay failed again, and that one is
//! open instead).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde::Serialize;
use trustfold_events::{
    format_time, EventFilter, EventKind, EventPayload, EventStore, PlannedConnector, RunStarted,
};
use uuid::Uuid;

use crate::connectors::fetch::FetchPolicy;
use crate::connectors::secrets::Secrets;
use crate::connectors::ConnectorRequest;
use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;
use crate::ingest::{self, RunContext};
use crate::planner::{self, spec, Mode, Plan, Selected};
use crate::source::ConnectorId;

#[derive(Debug, clap::Subcommand)]
pub enum DlqCommand {
    /// The open dead letters.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Retry one dead letter (by id) or every open one, as a new run.
    Replay {
        /// A dead letter id from `dlq list`; all open ones when absent.
        id: Option<String>,
        /// Answer from the recorded fixtures.
        #[arg(long)]
        offline: bool,
        #[arg(long)]
        json: bool,
    },
}

/// One open dead letter.
#[derive(Clone, Debug, Serialize)]
pub struct OpenDeadLetter {
    pub dead_letter_id: String,
    pub event_id: Uuid,
    pub seq: u64,
    pub recorded_at: String,
    pub run_id: Option<Uuid>,
    pub connector: String,
    pub query: String,
    pub error_class: String,
    pub attempts: u32,
    pub last_message: String,
    #[serde(skip)]
    pub request: trustfold_events::RedactedRequest,
}

/// Scans the log for dead letters no later event answers.
pub fn open_dead_letters(store: &dyn EventStore) -> Result<Vec<OpenDeadLetter>> {
    let mut letters: BTreeMap<Uuid, OpenDeadLetter> = BTreeMap::new();
    let mut answered: HashSet<Uuid> = HashSet::new();
    for kind in [EventKind::DeadLettered, EventKind::ConnectorResponded] {
        let filter = EventFilter {
            kind: Some(kind.as_str().to_string()),
            ..EventFilter::default()
        };
        for ev in store.read_filtered(filter) {
            let ev = ev?.decode()?;
            if let Some(cause) = ev.causation_id {
                answered.insert(cause);
            }
            if let EventPayload::DeadLettered(d) = ev.payload {
                letters.insert(
                    ev.id,
                    OpenDeadLetter {
                        dead_letter_id: d.dead_letter_id,
                        event_id: ev.id,
                        seq: ev.seq,
                        recorded_at: format_time(&ev.recorded_at),
                        run_id: ev.run_id,
                        connector: d.connector,
                        query: d.query,
                        error_class: d.error_class.as_str().to_string(),
                        attempts: d.attempts,
                        last_message: d.last_message,
                        request: d.request,
                    },
                );
            }
        }
    }
    let mut open: Vec<_> = letters
        .into_values()
        .filter(|d| !answered.contains(&d.event_id))
        .collect();
    open.sort_by_key(|d| d.seq);
    Ok(open)
}

pub fn run(data_dir: &Place, trust: Option<&Path>, cmd: DlqCommand) -> Result<ExitCode> {
    match cmd {
        DlqCommand::List { json } => {
            let dir = DataDir::existing(data_dir)?;
            let open = match dir.read_log()? {
                Some(store) => open_dead_letters(&*store)?,
                None => Vec::new(),
            };
            if json {
                println!("{}", serde_json::to_string_pretty(&open)?);
            } else if open.is_empty() {
                println!("no open dead letters");
            } else {
                println!(
                    "{:<13} {:>6}  {:<18} {:<13} {:>8}  {:<24} LAST ERROR",
                    "ID", "SEQ", "CONNECTOR", "CLASS", "ATTEMPTS", "QUERY"
                );
                for d in &open {
                    println!(
                        "{:<13} {:>6}  {:<18} {:<13} {:>8}  {:<24} {}",
                        d.dead_letter_id,
                        d.seq,
                        d.connector,
                        d.error_class,
                        d.attempts,
                        d.query.chars().take(24).collect::<String>(),
                        d.last_message.chars().take(100).collect::<String>()
                    );
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        DlqCommand::Replay { id, offline, json } => {
            let trust_policy = crate::project::load_policy(trust, data_dir)?;
            replay(data_dir, &trust_policy, id, offline, json)
        }
    }
}

fn replay(
    data_dir: &Place,
    trust_policy: &trustfold_projections::TrustPolicy,
    id: Option<String>,
    offline: bool,
    json: bool,
) -> Result<ExitCode> {
    let dir = DataDir::writable(data_dir)?;
    let store = dir.write_log()?;
    let mut open = open_dead_letters(&*store)?;
    if let Some(id) = &id {
        open.retain(|d| &d.dead_letter_id == id || d.event_id.to_string() == *id);
        if open.is_empty() {
            return Err(bad_input(format!(
                "no open dead letter {id:?} (see `trustfold dlq list`)"
            )));
        }
    }
    if open.is_empty() {
        println!("no open dead letters to replay");
        return Ok(ExitCode::SUCCESS);
    }
    let blobs = dir.blobs()?;
    let secrets = Secrets::from_env();
    let mut calls: BTreeMap<ConnectorId, Vec<ConnectorRequest>> = BTreeMap::new();
    for d in &open {
        let cid: ConnectorId = d
            .connector
            .parse()
            .map_err(|e| anyhow::anyhow!("dead letter {}: {e}", d.dead_letter_id))?;
        let mut req = ConnectorRequest::from_recorded(cid, &d.request).ok_or_else(|| {
            anyhow::anyhow!("dead letter {} has an unreadable request", d.dead_letter_id)
        })?;
        req.cause = Some(d.event_id);
        calls.entry(cid).or_default().push(req);
    }
    let ids: Vec<ConnectorId> = calls.keys().copied().collect();
    let transports = ingest::transports::choose(&ids, &secrets, offline)?;
    // The recorded URLs point at the base the original run used; re-target them at the
    // base chosen now (e.g. the real API again after a local override went away).
    for (cid, reqs) in calls.iter_mut() {
        let base = transports[cid].base_url(*cid);
        for r in reqs.iter_mut() {
            r.url = rebase(&r.url, &base);
        }
    }
    let query = open
        .iter()
        .map(|d| d.query.as_str())
        .find(|q| !q.is_empty())
        .unwrap_or("dead letter replay");
    let features = planner::extract_features(query);
    let plan = Plan {
        query: query.to_string(),
        mode: Mode::DiscoverMany,
        budget_usd: planner::DEFAULT_BUDGET_USD,
        estimated_cost_usd: ids.iter().map(|i| spec(*i).cost_usd).sum(),
        features,
        selected: ids
            .iter()
            .map(|i| Selected {
                connector: *i,
                phase: spec(*i).phase,
                reason: "replay of dead letters".into(),
                cost_usd: spec(*i).cost_usd,
                trust: spec(*i).trust,
                value: spec(*i).value(),
                latency_ms: spec(*i).latency_ms,
            })
            .collect(),
        skipped: vec![],
        notes: Vec::new(),
    };
    let started = RunStarted {
        mode: "replay".into(),
        selected: open
            .iter()
            .map(|d| PlannedConnector {
                connector: d.connector.clone(),
                phase: "replay".into(),
                reason: format!("replay of dead letter {} (seq {})", d.dead_letter_id, d.seq),
                cost_usd: d.connector.parse().map(|c| spec(c).cost_usd).unwrap_or(0.0),
                trust: d.connector.parse().map(|c| spec(c).trust).unwrap_or(0.0),
            })
            .collect(),
        skipped: vec![],
        ..ingest::run_started(&plan)
    };
    let shutdown = crate::ingest::lifecycle::Shutdown::new();
    shutdown.listen_for_signals()?;
    let ctx = RunContext {
        store: &*store,
        blobs: &*blobs,
        secrets: &secrets,
        policy: FetchPolicy::from_env().map_err(bad_input)?,
        transports,
        progress: false,
        match_config: dir.match_config()?,
        shutdown: shutdown.clone(),
        dir: &dir,
        compact_reobservations: true,
        relevance: crate::relevance::Screening::Reject,
        runtime: None,
        regions: crate::source::connector_regions(Some(trust_policy)),
    };
    let report = ingest::run_plan(&ctx, &plan, calls.into_iter().collect(), started)?;
    crate::project::print_run_report(&dir, &*store, trust_policy, report, json)?;
    Ok(ExitCode::SUCCESS)
}

/// `url` with its scheme, host and port (and base path) replaced by `base`'s.
fn rebase(url: &str, base: &str) -> String {
    match (url::Url::parse(url), url::Url::parse(base)) {
        (Ok(u), Ok(b)) => {
            let path = u.path();
            let query = u.query().map(|q| format!("?{q}")).unwrap_or_default();
            format!("{}{path}{query}", b.as_str().trim_end_matches('/'))
        }
        _ => url.to_string(),
    }
}
