//! The binary's side of the projections: which trust policy applies, catching the read
//! models up after a run, and opening them for the reading commands.

use std::io::{IsTerminal, Read};
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use trustfold_events::SqliteEventStore;
use trustfold_projections::policy::{POLICY_BYTES_MAX, SHIPPED_POLICY};
use trustfold_projections::{FoldReport, ProjectionDb, Projections, RemergeReport, TrustPolicy};

use crate::datadir::DataDir;
use crate::exit::bad_input;
use crate::planner::ConnectorId;

/// The name of the policy file looked for in the data dir.
pub const DATA_DIR_POLICY: &str = "trust.toml";

/// The sources a policy may name: the six connectors.
pub fn known_sources() -> Vec<&'static str> {
    ConnectorId::ALL.iter().map(|c| c.as_str()).collect()
}

/// The trust policy: `--trust FILE`, else `<data-dir>/trust.toml`, else the shipped one.
pub fn load_policy(trust: Option<&Path>, data_dir: &Path) -> Result<TrustPolicy> {
    let in_dir = data_dir.join(DATA_DIR_POLICY);
    let path = match trust {
        Some(p) => Some(p.to_path_buf()),
        None if in_dir.is_file() => Some(in_dir),
        None => None,
    };
    let Some(path) = path else {
        return TrustPolicy::parse(
            SHIPPED_POLICY,
            "fixtures/trust.toml (built in)",
            &known_sources(),
        )
        .map_err(|e| bad_input(e.to_string()));
    };
    let file = std::fs::File::open(&path)
        .map_err(|e| bad_input(format!("trust policy {}: {e}", path.display())))?;
    let mut bytes = Vec::new();
    file.take(POLICY_BYTES_MAX as u64 + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad_input(format!("trust policy {}: {e}", path.display())))?;
    if bytes.len() > POLICY_BYTES_MAX {
        return Err(bad_input(format!(
            "trust policy {}: larger than POLICY_BYTES_MAX ({POLICY_BYTES_MAX} bytes)",
            path.display()
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        bad_input(format!(
            "trust policy {}: not UTF-8 text (invalid byte at offset {})",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    TrustPolicy::parse(&text, &path.display().to_string(), &known_sources())
        .map_err(|e| bad_input(e.to_string()))
}

/// A progress bar on a terminal for folding `total` events; hidden otherwise.
fn fold_bar(enabled: bool, label: &str) -> ProgressBar {
    if !enabled || !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{label} [{{bar:30}}] {{pos}}/{{len}} events ({{per_sec}}, eta {{eta}})"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// Folds the log's new events into the projections (building them on first use).
pub fn catch_up(
    dir: &DataDir,
    store: &SqliteEventStore,
    policy: &TrustPolicy,
    show_progress: bool,
) -> Result<FoldReport> {
    let bar = fold_bar(show_progress, "projecting");
    let report = Projections::new(dir.root())
        .catch_up(store, policy, &known_sources(), &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .context("updating the projections")?;
    bar.finish_and_clear();
    Ok(report)
}

/// The projections, caught up with their own policy, for a writer that wants to know what
/// the log already says about records (`stages::record_extractions`). `None` when there
/// are none yet or they cannot be used now: the writer then records every record in
/// full, which is always correct, only longer.
pub fn known_records(data_dir: &Path, store: &SqliteEventStore) -> Option<ProjectionDb> {
    let projections = Projections::new(data_dir);
    let stored = match projections.open_read() {
        Ok(Some(db)) => db.stored_policy(&known_sources()),
        Ok(None) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "projections unusable: recording every record in full");
            return None;
        }
    };
    let caught_up = stored.map_err(anyhow::Error::from).and_then(|policy| {
        projections
            .catch_up(store, &policy, &known_sources(), &mut |_, _| {})
            .map_err(anyhow::Error::from)
    });
    if let Err(e) = caught_up {
        tracing::warn!(error = %e, "projections unusable: recording every record in full");
        return None;
    }
    projections.open_read().ok().flatten()
}

/// Replays the whole log into fresh projections and swaps them in.
pub fn rebuild(
    dir: &DataDir,
    store: &SqliteEventStore,
    policy: &TrustPolicy,
    show_progress: bool,
) -> Result<FoldReport> {
    let bar = fold_bar(show_progress, "rebuilding");
    let report = Projections::new(dir.root())
        .rebuild(store, policy, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .context("rebuilding the projections")?;
    bar.finish_and_clear();
    Ok(report)
}

/// Re-merges the entities a policy change touches (or rebuilds in full when there are no
/// projections of this format) and records the policy.
pub fn remerge(
    dir: &DataDir,
    store: &SqliteEventStore,
    policy: &TrustPolicy,
    show_progress: bool,
) -> Result<RemergeReport> {
    let bar = fold_bar(show_progress, "re-merging");
    let report = Projections::new(dir.root())
        .remerge(store, policy, &known_sources(), &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .context("re-merging the projections")?;
    bar.finish_and_clear();
    Ok(report)
}

/// The policy a projection database was built with, parsed once per policy for the
/// process (a server asks for it on every entity page).
pub fn stored_policy(db: &ProjectionDb) -> Result<TrustPolicy> {
    use std::sync::{Mutex, OnceLock};
    static CACHE: OnceLock<Mutex<Option<(String, TrustPolicy)>>> = OnceLock::new();
    let hash = db.meta()?.policy_hash;
    let cache = CACHE.get_or_init(|| Mutex::new(None));
    if let Some((h, p)) = cache.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        if *h == hash {
            return Ok(p.clone());
        }
    }
    let policy = db.stored_policy(&known_sources())?;
    *cache.lock().unwrap_or_else(|p| p.into_inner()) = Some((hash, policy.clone()));
    Ok(policy)
}

/// The log, opened for reading; a data dir without one is bad input.
pub fn log_for_reading(data_dir: &Path) -> Result<SqliteEventStore> {
    DataDir::existing(data_dir)?.read_log()?.ok_or_else(|| {
        bad_input(format!(
            "no event log in {}: run `trustfold ingest \"<query>\"` first",
            data_dir.display()
        ))
    })
}

/// The projections for a reading command: caught up first when the data dir can be
/// written, and with a warning on stderr when they were built with another policy.
pub fn open_for_reading(data_dir: &Path, policy: &TrustPolicy) -> Result<ProjectionDb> {
    drop(log_for_reading(data_dir)?);
    if let Ok(writable) = DataDir::writable(data_dir) {
        let store = writable.write_log()?;
        catch_up(&writable, &store, policy, true)?;
    }
    let db = Projections::new(data_dir).open_read()?.ok_or_else(|| {
        bad_input("no projections yet: run `trustfold rebuild-projections --full`")
    })?;
    let meta = db.meta()?;
    if meta.policy_hash != policy.hash() {
        eprintln!(
            "stale: run rebuild-projections (the projections were built with the policy from \
             {} ({}), the current one is {} ({}))",
            meta.policy_origin,
            short(&meta.policy_hash),
            policy.origin(),
            short(policy.hash())
        );
    }
    Ok(db)
}

/// The first 12 characters of a hash, for messages.
pub fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}

/// Catches the projections up after a run and prints the run's report from them. If the
/// projections cannot be updated, the run's own figures are printed with a warning: the
/// run is recorded either way, and `rebuild-projections` can fold it later.
pub fn print_run_report(
    dir: &DataDir,
    store: &SqliteEventStore,
    policy: &TrustPolicy,
    fallback: crate::ingest::RunReport,
    json: bool,
) -> Result<()> {
    let report = match report_from_projection(dir, store, policy, &fallback.run_id) {
        Ok(Some(r)) => r,
        Ok(None) => fallback,
        Err(e) => {
            eprintln!("warning: the run is recorded, but the projections were not updated: {e:#}");
            fallback
        }
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.render());
    }
    Ok(())
}

fn report_from_projection(
    dir: &DataDir,
    store: &SqliteEventStore,
    policy: &TrustPolicy,
    run_id: &str,
) -> Result<Option<crate::ingest::RunReport>> {
    catch_up(dir, store, policy, false)?;
    let Some(db) = Projections::new(dir.root()).open_read()? else {
        return Ok(None);
    };
    let Some(run) = db.run(run_id)? else {
        return Ok(None);
    };
    Ok(Some(crate::ingest::RunReport::from_projection(&run, &db)?))
}
