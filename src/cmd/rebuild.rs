//! `trustfold rebuild-projections [--dry-run | --full] [--json]`: bring the projections in
//! line with the current trust policy.
//!
//! Identity never depends on the policy, so a policy change re-merges the entities whose
//! records come from sources whose rules changed, from their stored memberships; nothing
//! is re-folded. `--dry-run` shows what that would change and touches nothing; `--full`
//! replays the whole log into a fresh database (also what happens when there is none, or
//! it is of another format).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, Result};
use trustfold_projections::{ChangeSink, DryRunSummary, Field, FieldChange, Projections};

use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;
use crate::project::{self, short};

/// Changes the text form of `--dry-run` shows per field (the JSON form has them all).
pub const DRY_RUN_SHOWN_PER_FIELD: usize = 5;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Show what the current policy would change (every field whose value or winning
    /// source moves), without writing anything.
    #[arg(long, conflicts_with = "full")]
    pub dry_run: bool,
    /// Re-fold the whole log into fresh projections instead of re-merging the entities
    /// the policy change touches; also rebuilds the identity index (matching never
    /// depends on the trust policy, so it is rebuilt only when asked).
    #[arg(long)]
    pub full: bool,
    /// Print the figures as one JSON document (with `--dry-run`: every change in
    /// `changes`).
    #[arg(long)]
    pub json: bool,
}

pub fn run(data_dir: &Place, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let policy = project::load_policy(trust, data_dir)?;
    DataDir::existing(data_dir)?;
    let dir = DataDir::writable(data_dir)?;
    if dir.read_log()?.is_none() {
        return Err(bad_input(format!(
            "no event log in {}: nothing to rebuild; run `trustfold ingest \"<query>\"` first",
            data_dir.describe()
        )));
    }
    let store = dir.write_log()?;
    if args.dry_run {
        return dry_run(&dir, &*store, &policy, args.json);
    }
    if args.full {
        // The identity index is a fold of its own: it is rebuilt beside the projections,
        // on the other core, rather than after them.
        let (report, identity) = std::thread::scope(|scope| {
            let identity = scope.spawn(|| project::rebuild_identity(&dir, &*store, false));
            let report = project::rebuild(&dir, &*store, &policy, !args.json);
            let identity = identity
                .join()
                .unwrap_or_else(|_| Err(anyhow::anyhow!("rebuilding the identity index panicked")));
            (report, identity)
        });
        let (report, identity) = (report?, identity?);
        if args.json {
            let doc = serde_json::json!({
                "mode": "full",
                "report": report,
                "identity": identity,
                "policy_origin": policy.origin(),
                "policy_hash": policy.hash(),
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            println!(
                "rebuilt the projections from {} events (seq {}..={}) in {} ms: {:.0} events/s; \
                 {} entities; trust policy {} ({})",
                report.events,
                report.from_seq,
                report.to_seq,
                report.elapsed_ms,
                report.events_per_s,
                report.entities_written,
                policy.origin(),
                short(policy.hash())
            );
            println!(
                "rebuilt the identity index from {} events in {} ms: {} attached candidates",
                identity.events, identity.elapsed_ms, identity.attached
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let report = project::remerge(&dir, &*store, &policy, !args.json)?;
    if args.json {
        let doc = serde_json::json!({
            "mode": report.mode,
            "report": report,
            "policy_origin": policy.origin(),
            "policy_hash": policy.hash(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    match report.mode.as_str() {
        "unchanged" => println!(
            "nothing to re-merge: the projections were built with this trust policy ({} ({})); \
             `--full` re-folds the whole log",
            policy.origin(),
            short(policy.hash())
        ),
        "full" => println!(
            "rebuilt the projections from the whole log ({}) in {} ms: {} entities; trust policy \
             {} ({})",
            report.reason,
            report.elapsed_ms,
            report.entities_total,
            policy.origin(),
            short(policy.hash())
        ),
        _ => println!(
            "re-merged {} of {} entities in {} ms ({}); {} changed; trust policy {} ({})",
            report.entities_remerged,
            report.entities_total,
            report.elapsed_ms,
            report.reason,
            report.entities_changed,
            policy.origin(),
            short(policy.hash())
        ),
    }
    Ok(ExitCode::SUCCESS)
}

/// Streams every change as an element of the JSON `changes` array.
struct JsonChanges<W: std::io::Write> {
    out: W,
    n: u64,
}

impl<W: std::io::Write> ChangeSink for JsonChanges<W> {
    fn change(&mut self, change: &FieldChange) -> std::io::Result<()> {
        let sep = if self.n == 0 { "\n    " } else { ",\n    " };
        self.n += 1;
        write!(self.out, "{sep}{}", serde_json::to_string(change)?)
    }
}

/// Keeps the first changes of each field for the text form.
#[derive(Default)]
struct FirstChanges {
    by_field: BTreeMap<Field, Vec<FieldChange>>,
}

impl ChangeSink for FirstChanges {
    fn change(&mut self, change: &FieldChange) -> std::io::Result<()> {
        let list = self.by_field.entry(change.field).or_default();
        if list.len() < DRY_RUN_SHOWN_PER_FIELD {
            list.push(change.clone());
        }
        Ok(())
    }
}

fn dry_run(
    dir: &DataDir,
    store: &dyn trustfold_events::EventStore,
    policy: &trustfold_projections::TrustPolicy,
    json: bool,
) -> Result<ExitCode> {
    let projections = Projections::new(dir.root());
    if projections.open_read()?.is_none() {
        return Err(bad_input(
            "no projections to compare against yet: run `trustfold rebuild-projections --full`",
        ));
    }
    let sources = project::known_sources();
    if json {
        let stdout = std::io::stdout();
        let mut out = std::io::BufWriter::new(stdout.lock());
        write!(out, "{{\n  \"changes\": [")?;
        let mut sink = JsonChanges { out, n: 0 };
        let summary = projections
            .dry_run(store, policy, &sources, &mut sink)
            .context("comparing the policy with the projections")?;
        let mut out = sink.out;
        let summary_json = serde_json::to_string_pretty(&summary)?.replace('\n', "\n  ");
        write!(
            out,
            "{}],\n  \"summary\": {summary_json}\n}}\n",
            if sink.n > 0 { "\n  " } else { "" }
        )?;
        out.flush()?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut sink = FirstChanges::default();
    let summary = projections
        .dry_run(store, policy, &sources, &mut sink)
        .context("comparing the policy with the projections")?;
    print!("{}", render(&summary, &sink, policy));
    Ok(ExitCode::SUCCESS)
}

fn render(
    s: &DryRunSummary,
    first: &FirstChanges,
    policy: &trustfold_projections::TrustPolicy,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "dry run: trust policy {} ({}) against the projections' ({}); nothing was written",
        policy.origin(),
        short(&s.policy_after),
        short(&s.policy_before)
    );
    let _ = writeln!(
        out,
        "examined {} of {} entities ({}) in {} ms: {} would change, {} field values move; \
         conflicts +{} -{}",
        s.entities_examined,
        s.entities_total,
        s.reason,
        s.elapsed_ms,
        s.entities_changed,
        s.changes,
        s.conflicts_added,
        s.conflicts_cleared
    );
    let fmt_counts = |m: &BTreeMap<String, u64>| {
        m.iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (field, moves) in &s.by_field {
        let _ = writeln!(
            out,
            "\n{field}: {} winners move (from: {}; to: {})",
            moves.changed,
            fmt_counts(&moves.from),
            fmt_counts(&moves.to)
        );
        for c in first.by_field.get(field).into_iter().flatten() {
            let show = |v: &Option<serde_json::Value>, src: &Option<String>| match (v, src) {
                (Some(v), Some(src)) => format!("{} ({src})", clip(&v.to_string())),
                _ => "(none)".to_string(),
            };
            let _ = writeln!(
                out,
                "  {}: {} -> {}",
                c.slug,
                show(&c.before, &c.before_source),
                show(&c.after, &c.after_source)
            );
        }
        if moves.changed as usize > DRY_RUN_SHOWN_PER_FIELD {
            let _ = writeln!(
                out,
                "  … and {} more (`--json` lists every change)",
                moves.changed as usize - DRY_RUN_SHOWN_PER_FIELD
            );
        }
    }
    out
}

/// At most 60 characters of a value, for one line.
fn clip(s: &str) -> String {
    if s.chars().count() <= 60 {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(59).collect::<String>())
    }
}
