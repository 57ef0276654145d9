//! `trustfold runs` and `trustfold report <run-id>`: the runs projection.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use trustfold_events::format_time;

use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;
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
        let docs: Vec<serde_json::Value> = runs
            .iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                v["interrupted"] = serde_json::json!(interrupted(r));
                v
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&docs)?);
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
    let Some(run) = db.run(&args.run_id)? else {
        return Err(bad_input(format!(
            "no run {:?} (see `trustfold runs`)",
            args.run_id.chars().take(60).collect::<String>()
        )));
    };
    let report = RunReport::from_projection(&run, &db)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(ExitCode::SUCCESS)
}
