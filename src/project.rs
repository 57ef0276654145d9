//! The binary's side of the projections: which trust policy applies, catching the read
//! models up after a run, and opening them for the reading commands.

use std::io::{IsTerminal, Read};
use std::path::Path;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressStyle};
use trustfold_events::EventStore;
use trustfold_projections::policy::{POLICY_BYTES_MAX, SHIPPED_POLICY};
use trustfold_projections::{
    FoldReport, ProjectionDb, ProjectionStore, RemergeReport, TrustPolicy,
};

use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;
use crate::resolve::{IdentityReport, IdentityStore};
use crate::source::ConnectorId;

/// The name of the policy file looked for in the data dir.
pub const DATA_DIR_POLICY: &str = "trust.toml";

/// The sources a policy may name: the six connectors.
pub fn known_sources() -> Vec<&'static str> {
    ConnectorId::ALL.iter().map(|c| c.as_str()).collect()
}

/// The trust policy: `--trust FILE`, else `<data-dir>/trust.toml`, else the shipped one.
pub fn load_policy(trust: Option<&Path>, place: &Place) -> Result<TrustPolicy> {
    let in_dir = place.data_dir.join(DATA_DIR_POLICY);
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
pub(crate) fn fold_bar(enabled: bool, label: &str) -> ProgressBar {
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

/// Folds the log's new events into the projections (building them on first use), then
/// into the identity index, so that the next run finds it nearly current.
pub fn catch_up(
    dir: &DataDir,
    store: &dyn EventStore,
    policy: &TrustPolicy,
    show_progress: bool,
) -> Result<FoldReport> {
    let bar = fold_bar(show_progress, "projecting");
    let started = std::time::Instant::now();
    let report = dir
        .projections()
        .catch_up(store, policy, &known_sources(), &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .context("updating the projections")?;
    bar.finish_and_clear();
    tracing::debug!(
        events = report.events,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "projections caught up"
    );
    catch_up_identity(dir, store);
    Ok(report)
}

/// Catches the identity index up. Only runs read it, and each catches it up first and
/// reports what fails there; here a failure is a warning, so that reading commands work
/// whatever state it is in.
fn catch_up_identity(dir: &DataDir, store: &dyn EventStore) {
    let caught_up = dir.match_config().and_then(|config| {
        IdentityStore::of_log(store)
            .catch_up(store, &config)
            .context("updating the identity index")
    });
    match caught_up {
        Ok(report) => match &report.rebuilt {
            Some(why) => {
                tracing::info!(reason = %why, elapsed_ms = report.elapsed_ms, "identity index rebuilt")
            }
            None => tracing::debug!(
                events = report.events,
                elapsed_ms = report.elapsed_ms,
                "identity index caught up"
            ),
        },
        Err(e) => tracing::warn!("{e:#}"),
    }
}

/// Folds the whole log into a fresh identity index and swaps it in.
pub fn rebuild_identity(
    dir: &DataDir,
    store: &dyn EventStore,
    show_progress: bool,
) -> Result<IdentityReport> {
    let config = dir.match_config()?;
    let bar = fold_bar(show_progress, "identity index");
    let report = IdentityStore::of_log(store)
        .rebuild(store, &config, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
        })
        .context("rebuilding the identity index")?;
    bar.finish_and_clear();
    Ok(report)
}

/// The projections, caught up with their own policy, for a writer that wants to know what
/// the log already says about records (`stages::record_extractions`). `None` when there
/// are none yet or they cannot be used now: the writer then records every record in
/// full, which is always correct, only longer.
pub fn known_records(dir: &DataDir, store: &dyn EventStore) -> Option<ProjectionDb> {
    let projections = dir.projections();
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

/// Replays the whole log into fresh projections and swaps them in. A rebuild writes a
/// second database beside the live one until the swap: where the disk clearly cannot hold
/// one as large as the live one (plus the reserve the log keeps), it is refused before
/// it starts rather than run into the wall half way.
pub fn rebuild(
    dir: &DataDir,
    store: &dyn EventStore,
    policy: &TrustPolicy,
    show_progress: bool,
) -> Result<FoldReport> {
    let projections = dir.projections();
    // On PostgreSQL the server manages its own space (a full disk there fails the build's
    // transaction, which leaves the live schema as it was).
    if let (ProjectionStore::Embedded(embedded), Ok(Some(live)), Some(free)) = (
        &projections,
        match &projections {
            ProjectionStore::Embedded(p) => p.current_path(),
            ProjectionStore::Postgres(_) => Ok(None),
        },
        trustfold_events::blob::free_bytes(dir.root()),
    ) {
        let live_bytes: u64 = ["", "-wal"]
            .iter()
            .filter_map(|s| std::fs::metadata(format!("{}{s}", live.display())).ok())
            .map(|m| m.len())
            .sum();
        let needed = live_bytes + trustfold_events::limits::FREE_BYTES_RESERVED;
        if free < needed {
            use trustfold_events::blob::human_bytes;
            return Err(anyhow::Error::new(trustfold_events::StoreError::DiskFull {
                path: embedded.dir().to_path_buf(),
                detail: format!(
                    "a full rebuild writes a new database beside the live one ({}), and needs \
                     about {} free with the reserve the log keeps; {} is free, so nothing was \
                     started",
                    human_bytes(live_bytes),
                    human_bytes(needed),
                    human_bytes(free)
                ),
            }));
        }
    }
    let bar = fold_bar(show_progress, "rebuilding");
    let mut failpoint_due = true;
    let report = projections
        .rebuild(store, policy, &mut |done, total| {
            bar.set_length(total);
            bar.set_position(done);
            if failpoint_due && done == total {
                // For tests: a rebuild to kill while it holds its claimed database.
                failpoint_due = false;
                let _ = crate::ingest::lifecycle::failpoint(
                    "rebuild",
                    &crate::ingest::lifecycle::Shutdown::new(),
                );
            }
        })
        .context("rebuilding the projections")?;
    bar.finish_and_clear();
    Ok(report)
}

/// Re-merges the entities a policy change touches (or rebuilds in full when there are no
/// projections of this format) and records the policy.
pub fn remerge(
    dir: &DataDir,
    store: &dyn EventStore,
    policy: &TrustPolicy,
    show_progress: bool,
) -> Result<RemergeReport> {
    let bar = fold_bar(show_progress, "re-merging");
    let report = dir
        .projections()
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
pub fn log_for_reading(place: &Place) -> Result<Box<dyn EventStore>> {
    DataDir::existing(place)?.read_log()?.ok_or_else(|| {
        bad_input(format!(
            "no event log in {}: run `trustfold ingest \"<query>\"` first",
            place.describe()
        ))
    })
}

/// Whether an error only says that the data dir cannot be written now: read-only media,
/// an immutable file, permissions, a full disk. A reading command then reads what is there.
pub fn cannot_write(err: &anyhow::Error) -> bool {
    use trustfold_events::{BlobError, StoreError};
    use trustfold_projections::ProjectionError;
    let store = |e: &StoreError| {
        matches!(
            e,
            StoreError::NotWritable { .. }
                | StoreError::DiskFull { .. }
                | StoreError::Unavailable { .. }
        )
    };
    err.chain().any(|c| {
        if c.is::<crate::datadir::NotWritable>() {
            return true;
        }
        if let Some(e) = c.downcast_ref::<StoreError>() {
            return store(e);
        }
        if let Some(e) = c.downcast_ref::<BlobError>() {
            return matches!(e, BlobError::ReadOnly { .. } | BlobError::DiskFull { .. });
        }
        c.downcast_ref::<ProjectionError>()
            .is_some_and(ProjectionError::is_not_writable)
    })
}

/// The projections for a reading command: caught up first when the data dir can be
/// written, and with a warning on stderr when they were built with another policy. Where
/// it cannot be written (read-only media, a backup, a full disk), they are read as they
/// were last folded, with a note when the log has events they do not show.
pub fn open_for_reading(place: &Place, policy: &TrustPolicy) -> Result<ProjectionDb> {
    let log = log_for_reading(place)?;
    let caught_up = DataDir::writable(place).and_then(|writable| {
        let store = writable.write_log()?;
        catch_up(&writable, &*store, policy, true).map(|_| ())
    });
    let not_updated = match caught_up {
        Ok(()) => None,
        Err(e) if cannot_write(&e) => Some(e),
        Err(e) => return Err(e),
    };
    let db = DataDir::existing(place)?
        .projections()
        .open_read()?
        .ok_or_else(|| match &not_updated {
            Some(e) => anyhow::anyhow!(
                "no projections in {} and they cannot be built there ({e:#}); copy the data dir \
             to writable storage, or free some space",
                place.describe()
            ),
            None => bad_input("no projections yet: run `trustfold rebuild-projections --full`"),
        })?;
    let meta = db.meta()?;
    if let Some(e) = not_updated {
        let head = log.head()?.map_or(0, |h| h.seq);
        if meta.checkpoint_seq < head {
            eprintln!(
                "note: showing the projections as folded up to seq {} (the log goes on to seq \
                 {head}); they cannot be updated here: {e:#}",
                meta.checkpoint_seq
            );
        }
    }
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
    store: &dyn EventStore,
    policy: &TrustPolicy,
    fallback: crate::ingest::RunReport,
    json: bool,
) -> Result<()> {
    let report = match report_from_projection(dir, store, policy, &fallback.run_id) {
        Ok(Some(r)) => r,
        Ok(None) => fallback,
        // A tampered log is not folded, and the run does not end as if all were well.
        Err(e) if crate::exit::code_for(&e) == crate::exit::INTEGRITY_FAILURE => {
            return Err(e.context(
                "the run is recorded, but the projections were not updated: the log was \
                 altered outside trustfold",
            ));
        }
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
    store: &dyn EventStore,
    policy: &TrustPolicy,
    run_id: &str,
) -> Result<Option<crate::ingest::RunReport>> {
    catch_up(dir, store, policy, false)?;
    let Some(db) = dir.projections().open_read()? else {
        return Ok(None);
    };
    let Some(run) = db.run(run_id)? else {
        return Ok(None);
    };
    Ok(Some(crate::ingest::RunReport::from_projection(&run, &db)?))
}
