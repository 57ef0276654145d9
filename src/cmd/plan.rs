//! `trustfold plan "<query>"`: the planner's choice, calling nothing.

use std::process::ExitCode;

use anyhow::Result;

use crate::exit::bad_input;
use crate::planner::{self, Mode, Plan, PlanRequest};
use crate::source::ConnectorId;

/// Arguments shared by `plan` and `ingest`: what to ask and how much to spend.
#[derive(Debug, Clone, clap::Args)]
pub struct PlanArgs {
    /// The question, e.g. "powerleague portobello".
    pub query: String,
    /// Spending cap in US dollars (default 0.10).
    #[arg(long)]
    pub budget: Option<f64>,
    /// discover-many (default) or resolve-one.
    #[arg(long, default_value = "discover-many")]
    pub mode: String,
    /// Call only these connectors (comma-separated), e.g. `serper,openstreetmap`.
    #[arg(long, value_delimiter = ',')]
    pub connectors: Option<Vec<String>>,
}

impl PlanArgs {
    /// Runs the planner on these arguments; bad values are exit-2 errors.
    pub fn plan(&self) -> Result<Plan> {
        let mode: Mode = self
            .mode
            .parse()
            .map_err(|e| bad_input(format!("--mode: {e}")))?;
        let only = self
            .connectors
            .as_ref()
            .map(|names| {
                names
                    .iter()
                    .map(|n| n.trim().parse::<ConnectorId>())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| bad_input(format!("--connectors: {e}")))
            })
            .transpose()?;
        let req = PlanRequest {
            query: &self.query,
            mode,
            budget_usd: self.budget,
            only: only.as_deref(),
        };
        planner::plan(&req).map_err(|e| {
            // Echo enough of the query to recognise it, not a pasted document.
            let shown: String = self.query.chars().take(60).collect();
            let more = if self.query.chars().count() > 60 {
                "..."
            } else {
                ""
            };
            bad_input(format!("query {shown:?}{more}: {e}"))
        })
    }
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub plan: PlanArgs,
    /// One JSON document: {"query", "features", "selected": [...], "skipped": [...]}.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: Args) -> Result<ExitCode> {
    let plan = args.plan.plan()?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&plan)?);
    } else {
        print!("{}", plan.render_text());
    }
    Ok(ExitCode::SUCCESS)
}
