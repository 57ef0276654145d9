//! `trustfold ingest "<query>"`: one run — plan, fetch, record — and its report.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cmd::plan::PlanArgs;
use crate::connectors::fetch::FetchPolicy;
use crate::connectors::secrets::Secrets;
use crate::datadir::DataDir;
use crate::exit::bad_input;
use crate::ingest::{self, calls_for_plan, run_started, RunContext};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// Answer every connector from the recorded fixtures, even where keys are set.
    #[arg(long)]
    pub offline: bool,
    /// Print the run report as one JSON document.
    #[arg(long)]
    pub json: bool,
    /// Keep candidates that do not answer the query (another sport, another place) instead
    /// of rejecting them as off_topic: for a directory that wants everything it is sent.
    #[arg(long)]
    pub keep_off_topic: bool,
}

pub fn run(data_dir: &Path, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let plan = args.plan.plan()?;
    // A bad policy is refused before anything is recorded.
    let trust_policy = crate::project::load_policy(trust, data_dir)?;
    let policy = FetchPolicy::from_env().map_err(bad_input)?;
    let secrets = Secrets::from_env();
    let ids: Vec<_> = plan.selected.iter().map(|s| s.connector).collect();
    let transports = ingest::transports::choose(&ids, &secrets, args.offline)?;
    let dir = DataDir::writable(data_dir)?;
    let shutdown = crate::ingest::lifecycle::Shutdown::new();
    shutdown.listen_for_signals()?;
    let store = dir.write_log()?;
    let blobs = dir.blobs()?;
    let ctx = RunContext {
        store: &store,
        blobs: &blobs,
        secrets: &secrets,
        policy,
        transports,
        progress: std::io::stderr().is_terminal() && !args.json,
        match_config: dir.match_config()?,
        shutdown: shutdown.clone(),
        data_dir: dir.root(),
        compact_reobservations: true,
        relevance: if args.keep_off_topic {
            crate::relevance::Screening::Keep
        } else {
            crate::relevance::Screening::Reject
        },
        trust: Some(&trust_policy),
    };
    let calls = calls_for_plan(&plan, &ctx.transports);
    let started = trustfold_events::RunStarted {
        keep_off_topic: args.keep_off_topic,
        ..run_started(&plan)
    };
    let report = ingest::run_plan(&ctx, &plan, calls, started)?;
    crate::project::print_run_report(&dir, &store, &trust_policy, report, args.json)?;
    Ok(ExitCode::SUCCESS)
}
