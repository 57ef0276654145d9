//! One run from a query: what `trustfold ingest` and the server's `POST /api/runs` both
//! call, each with its own stop signal (signals on the command line, a person's cancel
//! in the server) and its own runtime (none on the command line, the server's own).

use std::collections::BTreeMap;

use anyhow::Result;
use trustfold_events::{Blobs, EventStore};
use uuid::Uuid;

use super::lifecycle::Shutdown;
use super::{calls_for_plan, run_plan_as, run_started, RunContext, RunReport};
use crate::connectors::fetch::FetchPolicy;
use crate::connectors::secrets::Secrets;
use crate::connectors::transport::Transport;
use crate::datadir::DataDir;
use crate::planner::Plan;
use crate::source::ConnectorId;

/// What a run needs besides its plan, checked before anything is recorded: a bad
/// environment (a malformed base URL, a bad retry setting) is refused up front.
pub struct Prepared {
    pub secrets: Secrets,
    pub policy: FetchPolicy,
    pub transports: BTreeMap<ConnectorId, Transport>,
    /// The region each connector's records are read in.
    pub regions: BTreeMap<ConnectorId, trustfold_normalize::phone::Region>,
}

/// Checks the environment for a run of `plan`; `trust` is the policy whose `region`s the
/// connectors' records are read in (`None`: each connector's own).
pub fn prepare(
    plan: &Plan,
    offline: bool,
    trust: Option<&trustfold_projections::TrustPolicy>,
) -> Result<Prepared> {
    let policy = FetchPolicy::from_env().map_err(super::transports::BadTransportSetting)?;
    let secrets = Secrets::from_env();
    let ids: Vec<_> = plan.selected.iter().map(|s| s.connector).collect();
    let transports = super::transports::choose(&ids, &secrets, offline)?;
    Ok(Prepared {
        secrets,
        policy,
        transports,
        regions: crate::source::connector_regions(trust),
    })
}

/// How one run is driven.
pub struct Driver {
    /// The run's id, chosen by the caller (the server has shown it already).
    pub run_id: Uuid,
    /// The stop request the run listens to.
    pub shutdown: Shutdown,
    /// Progress bars on stderr.
    pub progress: bool,
    /// The caller's tokio runtime, if it has one (see [`RunContext::runtime`]).
    pub runtime: Option<tokio::runtime::Handle>,
    /// Keep candidates that do not answer the query instead of rejecting them as
    /// off-topic (`--keep-off-topic`); recorded in `RunStarted`.
    pub keep_off_topic: bool,
}

/// Runs `plan` to its terminal event and returns the run's own report (the caller
/// catches the projections up and may build the full one from them).
pub fn run_query(
    dir: &DataDir,
    store: &dyn EventStore,
    blobs: &dyn Blobs,
    plan: &Plan,
    prepared: Prepared,
    driver: Driver,
) -> Result<RunReport> {
    let ctx = RunContext {
        store,
        blobs,
        secrets: &prepared.secrets,
        policy: prepared.policy,
        transports: prepared.transports,
        progress: driver.progress,
        match_config: dir.match_config()?,
        shutdown: driver.shutdown,
        dir,
        compact_reobservations: true,
        relevance: if driver.keep_off_topic {
            crate::relevance::Screening::Keep
        } else {
            crate::relevance::Screening::Reject
        },
        runtime: driver.runtime,
        regions: prepared.regions,
    };
    let calls = calls_for_plan(plan, &ctx.transports);
    let started = trustfold_events::RunStarted {
        keep_off_topic: driver.keep_off_topic,
        ..run_started(plan)
    };
    run_plan_as(&ctx, plan, calls, started, driver.run_id)
}
