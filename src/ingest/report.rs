//! The run report (seed 000 Appendix C, connector metrics part) and live progress.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use trustfold_events::RunFigures;

use super::{CallList, RunRecorder};
use crate::connectors::fetch::{ConnectorOutcome, FetchEvent};
use crate::planner::{ConnectorId, Plan};

/// What `ingest` prints (and `--json` serialises).
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub trace_id: String,
    pub query: String,
    pub mode: String,
    pub status: String,
    pub budget_usd: f64,
    pub estimated_cost_usd: f64,
    pub figures: RunFigures,
    pub skipped: Vec<(String, String)>,
    /// Records the extractors left out.
    pub skipped_records: u64,
    /// Entities this run created or added to: (entity id, name, sources this run).
    pub entities: Vec<(String, String, Vec<String>)>,
}

/// What a report says about a run besides its figures.
#[derive(Clone, Debug)]
pub struct RunHeader {
    pub query: String,
    pub mode: String,
    pub budget_usd: f64,
    pub estimated_cost_usd: f64,
    pub skipped: Vec<(String, String)>,
}

impl From<&Plan> for RunHeader {
    fn from(plan: &Plan) -> Self {
        RunHeader {
            query: plan.query.clone(),
            mode: plan.mode.as_str().to_string(),
            budget_usd: plan.budget_usd,
            estimated_cost_usd: plan.estimated_cost_usd,
            skipped: plan
                .skipped
                .iter()
                .map(|s| (s.connector.as_str().to_string(), s.reason.clone()))
                .collect(),
        }
    }
}

impl RunReport {
    pub fn new(
        header: &RunHeader,
        rec: &RunRecorder<'_>,
        status: &str,
        figures: RunFigures,
        stages: &super::stages::StageFigures,
    ) -> Self {
        RunReport {
            run_id: rec.run_id.to_string(),
            trace_id: rec.trace_id.clone(),
            query: header.query.clone(),
            mode: header.mode.clone(),
            status: status.to_string(),
            budget_usd: header.budget_usd,
            estimated_cost_usd: header.estimated_cost_usd,
            figures,
            skipped: header.skipped.clone(),
            skipped_records: stages.skipped_records,
            entities: stages
                .entities
                .iter()
                .map(|(id, (name, sources))| (id.clone(), name.clone(), sources.clone()))
                .collect(),
        }
    }

    /// The report as text, in the shape of seed 000 Appendix C.
    pub fn render(&self) -> String {
        let rule = "=".repeat(80);
        let thin = "-".repeat(80);
        let mut out = String::new();
        let _ = writeln!(out, "{rule}\nTRUSTFOLD INGEST REPORT\n{rule}\n");
        let _ = writeln!(out, "Query:    {}", self.query);
        let _ = writeln!(out, "Run:      {}  (trace {})", self.run_id, self.trace_id);
        let _ = writeln!(out, "Mode:     {}", self.mode);
        let _ = writeln!(out, "Status:   {}", self.status);
        let offline = self
            .figures
            .connectors
            .iter()
            .all(|c| c.transport == "fixture");
        let _ = writeln!(
            out,
            "Budget:   ${:.3}   estimated ${:.4}   spent ${:.4}{}",
            self.budget_usd,
            self.estimated_cost_usd,
            self.figures.cost_usd,
            if offline {
                "  (offline: recorded fixtures, nothing billed)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "Duration: {} ms\n", self.figures.duration_ms);
        let _ = writeln!(out, "Connector Metrics:\n{thin}");
        let _ = writeln!(
            out,
            "{:<20} {:<15} {:>10} {:>11} {:>11}  {:<9} Attempts",
            "Connector", "Status", "Time (ms)", "Candidates", "Cost (USD)", "Transport"
        );
        let _ = writeln!(out, "{thin}");
        for c in &self.figures.connectors {
            let status = if c.status == "ok" {
                "✓ SUCCESS".to_string()
            } else {
                format!(
                    "✗ {}",
                    c.error
                        .as_deref()
                        .and_then(|e| e.split(':').next())
                        .unwrap_or("FAILED")
                        .to_uppercase()
                )
            };
            let _ = writeln!(
                out,
                "{:<20} {:<15} {:>10} {:>11} {:>11.4}  {:<9} {}",
                c.connector,
                status,
                c.latency_ms,
                c.candidates,
                c.cost_usd,
                c.transport,
                c.attempts
            );
        }
        for c in self.figures.connectors.iter().filter(|c| c.error.is_some()) {
            let _ = writeln!(
                out,
                "  {}: {}",
                c.connector,
                c.error.as_deref().unwrap_or("")
            );
        }
        if !self.skipped.is_empty() {
            let _ = writeln!(out, "\nSkipped:");
            for (c, why) in &self.skipped {
                let _ = writeln!(out, "  {c:<18} {why}");
            }
        }
        let f = &self.figures;
        let _ = writeln!(out, "\nSummary:");
        let _ = writeln!(out, "  Candidates Found:    {}", f.candidates_found);
        let _ = writeln!(out, "  Accepted:            {}", f.accepted);
        let _ = writeln!(
            out,
            "  Rejected:            {} (invalid or duplicate in this run)",
            f.rejected
        );
        let _ = writeln!(out, "  Entities Created:    {}", f.entities_created);
        let _ = writeln!(out, "  Entities Updated:    {}", f.entities_updated);
        let _ = writeln!(out, "  Reviews Requested:   {}", f.reviews_requested);
        let _ = writeln!(out, "\nPipeline Stages:\n{thin}");
        let responses: u64 = f.connectors.iter().map(|c| c.attempts as u64).sum();
        let _ = writeln!(
            out,
            "Fetch:       {responses} attempts, raw payloads in the blob store"
        );
        let _ = writeln!(
            out,
            "Extraction:  {} candidates ({} records skipped with a reason)",
            f.candidates_found, self.skipped_records
        );
        let _ = writeln!(
            out,
            "Acceptance:  {} accepted, {} rejected",
            f.accepted, f.rejected
        );
        let _ = writeln!(
            out,
            "Identity:    {} new, {} existing, {} to review",
            f.entities_created, f.entities_updated, f.reviews_requested
        );
        if !self.entities.is_empty() {
            let _ = writeln!(out, "\nEntities touched by this run:");
            for (i, (id, name, sources)) in self.entities.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "  {:>2}. {name} ({id})\n      Sources: {}",
                    i + 1,
                    sources.join(", ")
                );
            }
        }
        let _ = writeln!(
            out,
            "Inspect: trustfold events --run {}\n{rule}",
            self.run_id
        );
        out
    }
}

/// Per-connector spinners on a terminal; nothing otherwise.
pub struct Progress {
    bars: BTreeMap<ConnectorId, ProgressBar>,
    _multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new(enabled: bool, calls: &CallList) -> Progress {
        // stderr() hides itself when stderr is not a terminal (pipes, CI, tests).
        if !enabled {
            return Progress {
                bars: BTreeMap::new(),
                _multi: None,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template("{spinner} {prefix:<18} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner());
        let mut bars = BTreeMap::new();
        for (id, requests) in calls {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(style.clone());
            bar.set_prefix(id.as_str());
            bar.set_message(format!(
                "calling ({} request{})",
                requests.len(),
                if requests.len() == 1 { "" } else { "s" }
            ));
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            bars.insert(*id, bar);
        }
        Progress {
            bars,
            _multi: Some(multi),
        }
    }

    pub fn on_event(&self, ev: &FetchEvent) {
        let (id, msg) = match ev {
            FetchEvent::Responded {
                request,
                status,
                records,
                ..
            } => (
                request.connector,
                format!("HTTP {status}, {records} records"),
            ),
            FetchEvent::Failed {
                request,
                class,
                attempt,
                will_retry,
                ..
            } => (
                request.connector,
                format!(
                    "attempt {attempt} failed ({}){}",
                    class.as_str(),
                    if *will_retry { ", retrying" } else { "" }
                ),
            ),
            FetchEvent::DeadLettered { request, .. } => {
                (request.connector, "gave up (dead-lettered)".to_string())
            }
        };
        if let Some(bar) = self.bars.get(&id) {
            bar.set_message(msg);
        }
    }

    pub fn on_done(&self, id: ConnectorId, o: &ConnectorOutcome) {
        if let Some(bar) = self.bars.get(&id) {
            let msg = if o.ok {
                format!("done: {} records", o.records)
            } else {
                "failed".to_string()
            };
            bar.finish_with_message(msg);
        }
    }

    pub fn finish(&self) {
        for bar in self.bars.values() {
            if !bar.is_finished() {
                bar.finish();
            }
        }
    }
}
