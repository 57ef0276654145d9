//! The run report (seed 000 Appendix C) and live progress.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Serialize;
use trustfold_events::RunFigures;
use trustfold_projections::merge::COMPLETENESS_FIELDS_TOTAL;
use trustfold_projections::{ProjectionDb, RunRow};

use super::{CallList, RunRecorder};
use crate::connectors::fetch::{ConnectorOutcome, FetchEvent};
use crate::planner::Plan;
use crate::source::ConnectorId;

/// What `ingest` and `report` print (and `--json` serialises): seed 000 Appendix C.
#[derive(Clone, Debug, Serialize)]
pub struct RunReport {
    pub run_id: String,
    pub trace_id: String,
    pub query: String,
    pub mode: String,
    pub status: String,
    /// The error of a failed run, or why a run was cancelled.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub budget_usd: f64,
    pub estimated_cost_usd: f64,
    pub figures: RunFigures,
    pub skipped: Vec<(String, String)>,
    /// Records the extractors left out.
    pub skipped_records: u64,
    pub rejected_invalid: u64,
    /// Repeats of a record within the run or within its source.
    pub duplicates_removed: u64,
    /// Candidates that did not answer the query: rejected as `off_topic`, or kept with
    /// `--keep-off-topic` (the run's own count; the projection counts only rejections).
    pub off_topic: u64,
    /// Whether `--keep-off-topic` was given.
    pub keep_off_topic: bool,
    /// What the answer could not cover (an area outside the offline world, a query that is
    /// not for a place), from the plan.
    pub notes: Vec<String>,
    /// Entities this run created or added to, as the projection now has them.
    pub entities: Vec<ReportEntity>,
    /// The hash of the trust policy the entities were merged with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy_hash: Option<String>,
}

/// One entity of a run's report.
#[derive(Clone, Debug, Serialize)]
pub struct ReportEntity {
    pub entity_id: String,
    pub slug: Option<String>,
    pub name: String,
    /// Whether this run founded it.
    pub created: bool,
    pub sources: Vec<String>,
    /// Key fields present, of [`COMPLETENESS_FIELDS_TOTAL`].
    pub completeness_present: Option<u32>,
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
    /// The report from what the run itself counted (used when the projections cannot be
    /// read; [`RunReport::from_projection`] is the full one).
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
            error: None,
            budget_usd: header.budget_usd,
            estimated_cost_usd: header.estimated_cost_usd,
            rejected_invalid: 0,
            duplicates_removed: figures.rejected.saturating_sub(stages.off_topic),
            off_topic: stages.off_topic,
            keep_off_topic: false,
            notes: Vec::new(),
            figures,
            skipped: header.skipped.clone(),
            skipped_records: stages.skipped_records,
            entities: stages
                .entities
                .iter()
                .map(|(id, (name, sources))| ReportEntity {
                    entity_id: id.clone(),
                    slug: None,
                    name: name.clone(),
                    created: false,
                    sources: sources.clone(),
                    completeness_present: None,
                })
                .collect(),
            policy_hash: None,
        }
    }

    /// The report of a run as the `runs` and `entities` projections have it.
    pub fn from_projection(
        run: &RunRow,
        db: &ProjectionDb,
    ) -> Result<RunReport, trustfold_projections::ProjectionError> {
        let c = &run.counts;
        let figures = run.figures.clone().unwrap_or_else(|| RunFigures {
            duration_ms: 0,
            cost_usd: c.spent_usd,
            connectors: Vec::new(),
            candidates_found: c.extracted,
            accepted: c.accepted,
            rejected: c.rejected_invalid
                + c.rejected_duplicate_in_run
                + c.rejected_duplicate_in_source
                + c.rejected_off_topic,
            entities_created: c.new_entities,
            entities_updated: c.existing_entities,
            reviews_requested: c.reviews,
            seen_unchanged: c.seen_again,
        });
        let notes = run_notes(run, &figures);
        let mut entities = Vec::new();
        for (eid, created) in &run.entities {
            // An entity merged away since is reported as its survivor, once.
            let Some((m, _)) = db.entity(eid)? else {
                continue;
            };
            if let Some(seen) = entities
                .iter_mut()
                .find(|e: &&mut ReportEntity| e.entity_id == m.entity_id)
            {
                seen.created |= *created;
                continue;
            }
            entities.push(ReportEntity {
                entity_id: m.entity_id.clone(),
                slug: Some(m.slug.clone()),
                name: m.name().unwrap_or("(no name)").to_string(),
                created: *created,
                sources: m.sources.clone(),
                completeness_present: Some(m.completeness_present),
            });
        }
        // Most complete first, as Appendix C lists them; then by name.
        entities.sort_by(|a, b| {
            b.sources
                .len()
                .cmp(&a.sources.len())
                .then(b.completeness_present.cmp(&a.completeness_present))
                .then_with(|| a.name.cmp(&b.name))
        });
        Ok(RunReport {
            run_id: run.run_id.clone(),
            trace_id: run.trace_id.clone().unwrap_or_default(),
            query: run.query.clone(),
            mode: run.mode.clone(),
            status: run.status.as_str().to_string(),
            error: run.error.clone(),
            budget_usd: run.budget_usd,
            estimated_cost_usd: run.estimated_cost_usd,
            figures,
            skipped: run.skipped.clone(),
            skipped_records: c.skipped_records,
            rejected_invalid: c.rejected_invalid,
            duplicates_removed: c.rejected_duplicate_in_run + c.rejected_duplicate_in_source,
            off_topic: c.rejected_off_topic,
            keep_off_topic: run.keep_off_topic,
            notes,
            entities,
            policy_hash: Some(db.meta()?.policy_hash),
        })
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
        if let Some(e) = &self.error {
            let _ = writeln!(out, "Error:    {e}");
        }
        let offline = !self.figures.connectors.is_empty()
            && self
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
                "  (offline fixture world, nothing billed)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "Duration: {} ms\n", self.figures.duration_ms);

        let f = &self.figures;
        let _ = writeln!(out, "Summary:");
        let _ = writeln!(out, "  Candidates Found:    {}", f.candidates_found);
        let _ = writeln!(out, "  Accepted:            {}", f.accepted);
        let _ = writeln!(out, "  Duplicates Removed:  {}", self.duplicates_removed);
        let _ = writeln!(out, "  Invalid:             {}", self.rejected_invalid);
        let _ = writeln!(
            out,
            "  Off Topic:           {}{}",
            self.off_topic,
            if self.keep_off_topic {
                " (kept: --keep-off-topic)"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "  Entities Created:    {}", f.entities_created);
        let _ = writeln!(out, "  Entities Updated:    {}", f.entities_updated);
        let _ = writeln!(out, "  Reviews Requested:   {}", f.reviews_requested);

        let _ = writeln!(out, "\nConnector Metrics:\n{thin}");
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

        let _ = writeln!(out, "\nPipeline Stages:\n{thin}");
        let attempts: u64 = f.connectors.iter().map(|c| c.attempts as u64).sum();
        let mark = |ok: bool| if ok { "✓" } else { "✗" };
        let fetched_ok = f.connectors.iter().any(|c| c.status == "ok");
        let _ = writeln!(
            out,
            "Fetch:       {} {attempts} attempts, raw payloads in the blob store",
            mark(fetched_ok || f.connectors.is_empty())
        );
        let _ = writeln!(
            out,
            "Extraction:  ✓ {} candidates ({} records skipped with a reason)",
            f.candidates_found, self.skipped_records
        );
        let _ = writeln!(
            out,
            "Relevance:   ✓ {} off topic{}",
            self.off_topic,
            if self.keep_off_topic {
                ", kept (--keep-off-topic)"
            } else {
                ", rejected and founding nothing"
            }
        );
        let _ = writeln!(
            out,
            "Acceptance:  ✓ {} accepted, {} duplicates removed, {} invalid",
            f.accepted, self.duplicates_removed, self.rejected_invalid
        );
        let _ = writeln!(
            out,
            "Identity:    ✓ {} new, {} existing, {} to review",
            f.entities_created, f.entities_updated, f.reviews_requested
        );
        match &self.policy_hash {
            Some(h) => {
                let _ = writeln!(
                    out,
                    "Projection:  ✓ {} entities merged field by field (trust policy {})",
                    self.entities.len(),
                    &h[..h.len().min(12)]
                );
            }
            None => {
                let _ = writeln!(out, "Projection:  ✗ not updated (see the warning above)");
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(out, "\nCoverage:");
            for n in &self.notes {
                let _ = writeln!(out, "  {n}");
            }
        }
        if offline {
            let _ = writeln!(
                out,
                "\nOffline answers come from the fixture world: the OpenStreetMap, register and \
                 Open Charge Map\nrecords are real captures; the Google, Serper and council \
                 answers are synthesised from them\n(fixtures/ATTRIBUTION.md)."
            );
        }
        if !self.entities.is_empty() {
            let _ = writeln!(out, "\nFinal Entities:");
            for (i, e) in self.entities.iter().enumerate() {
                let id = match &e.slug {
                    Some(slug) => format!("{slug}, {}", e.entity_id),
                    None => e.entity_id.clone(),
                };
                let _ = writeln!(
                    out,
                    "  {:>2}. {} ({id}){}",
                    i + 1,
                    e.name,
                    if e.created { "  [new]" } else { "" }
                );
                let _ = writeln!(out, "      Sources: {}", e.sources.join(", "));
                if let Some(n) = e.completeness_present {
                    let _ = writeln!(
                        out,
                        "      Completeness: {:.0}% ({n}/{COMPLETENESS_FIELDS_TOTAL} fields)",
                        100.0 * n as f64 / COMPLETENESS_FIELDS_TOTAL as f64
                    );
                }
            }
        }
        let _ = writeln!(
            out,
            "\nInspect: trustfold events --run {}   trustfold provenance <slug>\n{rule}",
            self.run_id
        );
        out
    }
}

/// The notes of a run's plan, as its report shows them: the offline-coverage note only
/// when a connector answered from the fixture world.
fn plan_notes(features: &crate::planner::QueryFeatures, fixture: bool) -> Vec<String> {
    let mut notes = Vec::new();
    let area = features.area_or_home();
    if fixture {
        notes.extend(crate::planner::offline_coverage_note(&area));
    }
    notes.extend(
        crate::planner::notes(features)
            .into_iter()
            .filter(|n| !n.starts_with("no offline coverage")),
    );
    notes
}

/// The notes of a recorded run, from the features its `RunStarted` recorded.
fn run_notes(run: &RunRow, figures: &RunFigures) -> Vec<String> {
    let Ok(features) =
        serde_json::from_value::<crate::planner::QueryFeatures>(run.features.clone())
    else {
        return Vec::new();
    };
    // Features recorded before areas were have none: nothing to say about coverage.
    if features.area.is_none() {
        return Vec::new();
    }
    let fixture = figures.connectors.iter().any(|c| c.transport == "fixture");
    plan_notes(&features, fixture)
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
            FetchEvent::BudgetDenied { request, .. } => {
                (request.connector, "stopped: over budget".to_string())
            }
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
