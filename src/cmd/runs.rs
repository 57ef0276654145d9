//! `trustfold runs` and `trustfold report <run-id>`: the runs projection.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use trustfold_events::format_time;

use crate::exit::bad_input;
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

pub fn run(data_dir: &Path, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let policy = project::load_policy(trust, data_dir)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    let runs = db.runs()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&runs)?);
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
            r.status.as_str(),
            r.mode,
            r.counts.extracted,
            r.counts.new_entities,
            format!("${:.4}", r.counts.spent_usd),
            r.query.chars().take(60).collect::<String>()
        );
    }
    Ok(ExitCode::SUCCESS)
}

pub fn report(data_dir: &Path, trust: Option<&Path>, args: ReportArgs) -> Result<ExitCode> {
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
