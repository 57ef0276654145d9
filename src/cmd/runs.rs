//! `trustfold runs` and `trustfold report <run-id>`: the runs projection.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use trustfold_events::format_time;
use trustfold_projections::{ProjectionDb, RunRow};

use crate::datadir::{DataDir, Place};
use crate::ingest::lifecycle::RunLock;
use crate::ingest::RunReport;
use crate::project;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print the runs as one JSON document.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The run id (or a unique prefix of it).
    pub run_id: String,
    /// Print the report as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// Whether a run without a terminal event was interrupted: a run is live while its
/// process holds its lock; otherwise the process died, and `resume` can continue it.
pub fn interrupted(dir: &DataDir, r: &RunRow) -> Result<bool> {
    Ok(!r.status.is_terminal() && !RunLock::is_held(dir, &r.run_id)?)
}

/// The `runs --json` document (also `GET /api/runs`): every run, oldest first, with
/// whether it was interrupted.
pub fn runs_document(dir: &DataDir, runs: &[RunRow]) -> Result<Value> {
    let mut out = Vec::with_capacity(runs.len());
    for r in runs {
        let mut v = serde_json::to_value(r)?;
        v["interrupted"] = json!(interrupted(dir, r)?);
        out.push(v);
    }
    Ok(Value::Array(out))
}

/// The `report --json` document (also `GET /api/runs/{id}`): the run's Appendix C report
/// from the projections; an unknown run is [`NotFound`](crate::exit::NotFound).
pub fn report_document(db: &ProjectionDb, dir: &DataDir, key: &str) -> Result<Value> {
    let Some(run) = db.run(key)? else {
        return Err(crate::exit::not_found(format!(
            "no run {:?} (see `trustfold runs`)",
            key.chars().take(60).collect::<String>()
        )));
    };
    let report = RunReport::from_projection(&run, db)?;
    let mut doc = serde_json::to_value(&report)?;
    doc["interrupted"] = json!(interrupted(dir, &run)?);
    doc["started_at"] = json!(trustfold_events::format_time(&run.started_at));
    doc["ended_at"] = json!(run.ended_at.as_ref().map(trustfold_events::format_time));
    Ok(doc)
}

pub fn run(data_dir: &Place, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let policy = project::load_policy(trust, data_dir)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    let runs = db.runs()?;
    // A run with no terminal event is live while its process holds its lock; otherwise
    // the process died: the run was interrupted, and `resume` can continue it.
    let dir = DataDir::existing(data_dir)?;
    let mut live = std::collections::HashMap::new();
    for r in runs.iter().filter(|r| !r.status.is_terminal()) {
        live.insert(r.run_id.clone(), RunLock::is_held(&dir, &r.run_id)?);
    }
    let interrupted = |r: &trustfold_projections::RunRow| {
        !r.status.is_terminal() && !live.get(&r.run_id).copied().unwrap_or(false)
    };
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&runs_document(&dir, &runs)?)?
        );
        return Ok(ExitCode::SUCCESS);
    }
    if runs.is_empty() {
        println!("no runs yet");
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36}  {:<20}  {:<10}  {:<15}  {:>10}  {:>5}  {:>9}  QUERY",
        "RUN", "STARTED", "STATUS", "MODE", "CANDIDATES", "NEW", "SPENT"
    );
    for r in &runs {
        println!(
            "{:<36}  {:<20}  {:<10}  {:<15}  {:>10}  {:>5}  {:>9}  {}",
            r.run_id,
            format_time(&r.started_at)
                .chars()
                .take(19)
                .collect::<String>(),
            if interrupted(r) {
                "interrupted"
            } else {
                r.status.as_str()
            },
            r.mode,
            r.counts.extracted,
            r.counts.new_entities,
            format!("${:.4}", r.counts.spent_usd),
            r.query.chars().take(60).collect::<String>()
        );
    }
    let stopped: Vec<&str> = runs
        .iter()
        .filter(|r| interrupted(r))
        .map(|r| r.run_id.as_str())
        .collect();
    if let Some(first) = stopped.first() {
        println!(
            "{} interrupted run{} (the process died before the run's terminal event): \
             continue with `trustfold resume {first}`, or end it with \
             `trustfold resume {first} --abandon --reason R`",
            stopped.len(),
            if stopped.len() == 1 { "" } else { "s" }
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn report(data_dir: &Place, trust: Option<&Path>, args: ReportArgs) -> Result<ExitCode> {
    let policy = project::load_policy(trust, data_dir)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    if args.json {
        let doc = report_document(&db, &DataDir::existing(data_dir)?, &args.run_id)?;
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let Some(run) = db.run(&args.run_id)? else {
        return Err(crate::exit::not_found(format!(
            "no run {:?} (see `trustfold runs`)",
            args.run_id.chars().take(60).collect::<String>()
        )));
    };
    print!("{}", RunReport::from_projection(&run, &db)?.render());
    Ok(ExitCode::SUCCESS)
}
