//! `trustfold ingest "<query>"`: one run — plan, fetch, record — and its report.

use std::io::IsTerminal;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;

use crate::cmd::plan::PlanArgs;
use crate::datadir::{DataDir, Place};
use crate::ingest::lifecycle::Shutdown;
use crate::ingest::query;

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

pub fn run(data_dir: &Place, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let plan = args.plan.plan()?;
    // A bad policy is refused before anything is recorded.
    let trust_policy = crate::project::load_policy(trust, data_dir)?;
    let prepared = query::prepare(&plan, args.offline, Some(&trust_policy))?;
    let dir = DataDir::writable(data_dir)?;
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals()?;
    let store = dir.write_log()?;
    let blobs = dir.blobs()?;
    let driver = query::Driver {
        run_id: uuid::Uuid::now_v7(),
        shutdown,
        progress: std::io::stderr().is_terminal() && !args.json,
        runtime: None,
        keep_off_topic: args.keep_off_topic,
    };
    let report = query::run_query(&dir, &*store, &*blobs, &plan, prepared, driver)?;
    crate::project::print_run_report(&dir, &*store, &trust_policy, report, args.json)?;
    Ok(ExitCode::SUCCESS)
}
