//! `trustfold migrate --to URL [--json]`: moves the data dir's log and payloads into a
//! PostgreSQL database, then builds the projections there.
//!
//! The events are copied verbatim (seq, id, times, payload bytes and hash:
//! `PgEventStore::copy_verbatim`), so the log on PostgreSQL is the same log: anchors kept
//! from `trustfold head` still hold, and `verify` passes on both sides. The data dir's log
//! is read checked against its chain, `MIGRATE_BATCH_EVENTS` events at a time; the payloads
//! a batch names are read from the data dir (re-hashed on read) and committed on the target
//! before the batch, which is then one transaction there. An interrupted copy therefore
//! leaves whole batches and every payload they name: running the command again continues
//! from the target's head, once the target's log is found to be the data dir's up to
//! there. A target holding anything else is refused before anything is written.
//!
//! Payloads that no event names are not copied. They are what a writer that died between
//! storing a payload and recording its event left behind; nothing reads them (a resumed
//! run finds its payloads through its events) and `verify` checks only the named ones on
//! either engine, so copying them would move bytes nobody can reach.

use std::collections::HashSet;
use std::path::Path;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use serde_json::json;
use trustfold_events::{
    is_postgres_url, verify, BlobHash, Blobs, EventPayload, EventStore, Head, PgBlobStore,
    PgEventStore, PgSessionLock, StoreError, StoreUrl, StoredEvent, VerifyReport,
};

use crate::datadir::{DataDir, Place};
use crate::exit::{bad_input, integrity_failure};
use crate::ingest::lifecycle::{catch_panic, failpoint, Cancelled, Shutdown};
use crate::project;

/// Events copied per transaction on the target. Large enough that a commit's cost is
/// spread over many rows, small enough that an interrupted copy loses little.
pub const MIGRATE_BATCH_EVENTS: usize = 5_000;

/// Payload bytes per batch: a batch closes early when its events hold this much, so memory
/// stays bounded whatever the events' sizes (each is at most `EVENT_BYTES_MAX`).
pub const MIGRATE_BATCH_BYTES_MAX: usize = 32 * 1024 * 1024;

/// Payload bytes committed together on the target: a group of payloads closes at this
/// size, so memory holds at most this plus one payload (`PAYLOAD_BYTES_MAX`), and a
/// commit's cost is spread over the many small payloads of a typical log.
pub const MIGRATE_BLOB_TX_BYTES_MAX: usize = 64 * 1024 * 1024;

/// The session advisory lock one migrate into a database holds, so two copying at once
/// do not race for the same seqs.
const MIGRATE_LOCK: i64 = 0x5446_4d49_4752;

#[derive(clap::Args)]
pub struct Args {
    /// The PostgreSQL database to copy into (postgres://user:password@host/database): an
    /// empty one, or the target of an earlier, interrupted migrate of this data dir.
    #[arg(long, value_name = "URL")]
    pub to: String,
    /// Print the figures as one JSON document.
    #[arg(long)]
    pub json: bool,
}

impl std::fmt::Debug for Args {
    // The URL may hold a password: never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Args")
            .field(
                "to",
                &StoreUrl::parse(&self.to).map(|u| u.redacted().to_string()),
            )
            .field("json", &self.json)
            .finish()
    }
}

/// What the copy did.
#[derive(Debug, Default)]
struct Copied {
    events: u64,
    event_bytes: u64,
    blobs: u64,
    blob_bytes: u64,
    elapsed_ms: u64,
}

pub fn run(place: &Place, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let started = Instant::now();
    let target = target_url(&args.to)?;
    if let Some(store) = &place.store {
        if store.redacted() != target.redacted() {
            return Err(bad_input(format!(
                "migrate copies the data dir (--data-dir) into --to; --store (or \
                 TRUSTFOLD_STORE) names another database ({}): leave it out",
                store.redacted()
            )));
        }
    }
    // The settings first: a bad policy or matching file stops the command before it writes.
    let policy = project::load_policy(trust, place)?;
    let source_dir = DataDir::existing(&Place::embedded(&place.data_dir))?;
    let target_dir = DataDir::existing(&Place {
        data_dir: place.data_dir.clone(),
        store: Some(target.clone()),
    })?;
    target_dir.match_config()?;
    let source = source_dir.read_log()?.ok_or_else(|| {
        bad_input(format!(
            "no event log in {}: nothing to migrate",
            source_dir.describe()
        ))
    })?;
    let source_head = source
        .check_tail()
        .context("checking the data dir's log")?
        .ok_or_else(|| {
            bad_input(format!(
                "the log in {} is empty: nothing to migrate",
                source_dir.describe()
            ))
        })?;
    let source_blobs = source_dir.existing_blobs()?;

    let _lock = PgSessionLock::try_lock(&target, MIGRATE_LOCK)
        .context("cannot migrate")?
        .ok_or_else(|| {
            anyhow::anyhow!(
                "another `trustfold migrate` is copying into {}: wait for it to end",
                target.redacted()
            )
        })?;
    let resumed_from = copied_so_far(&target, &*source, source_head)?;
    let store = PgEventStore::open(&target, true)?;
    let blobs = PgBlobStore::open(&target, true)?;

    let show_progress = !args.json;
    // A stop request (SIGINT, SIGTERM) is honoured after the batch being written and
    // between the steps after the copy; a second one ends the process at once (a
    // projection build killed half way is abandoned whole).
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals()?;
    let copied = if resumed_from < source_head.seq {
        copy(
            &*source,
            source_blobs.as_deref(),
            (&store, &blobs),
            (resumed_from, source_head),
            show_progress,
            &shutdown,
        )?
    } else {
        Copied::default()
    };

    stop_between_steps(&shutdown, "verifying both sides", &target)?;
    let verify_started = Instant::now();
    let source_report = verify(&*source, source_blobs.as_deref())?;
    let target_report = verify(&store, Some(&blobs))?;
    let verify_ms = verify_started.elapsed().as_millis() as u64;
    for (side, report) in [
        ("the data dir", &source_report),
        (target.redacted(), &target_report),
    ] {
        if let Some(problem) = report.first_problem() {
            return Err(integrity_failure(format!(
                "`verify` of {side} fails after the migration: {problem} (`trustfold verify` \
                 lists every problem)"
            )));
        }
    }
    if target_report.head != Some(source_head) {
        return Err(integrity_failure(format!(
            "after the migration, {} does not end at the data dir's event at seq {}",
            target.redacted(),
            source_head.seq
        )));
    }

    stop_between_steps(&shutdown, "building the projections", &target)?;
    let projections_started = Instant::now();
    let projections =
        project::rebuild(&target_dir, &store, &policy, show_progress).with_context(|| {
            format!(
                "the log is copied; building the projections on {}",
                target.redacted()
            )
        })?;
    let projections_ms = projections_started.elapsed().as_millis() as u64;
    let identity = catch_panic("identity", || {
        project::rebuild_identity(&target_dir, &store, show_progress)
    });

    let events_per_s = if copied.elapsed_ms > 0 {
        copied.events as f64 * 1000.0 / copied.elapsed_ms as f64
    } else {
        0.0
    };
    if args.json {
        let doc = json!({
            "target": target.redacted(),
            "source": source_dir.describe(),
            "already_migrated": resumed_from == source_head.seq,
            "resumed_from": resumed_from,
            "head_seq": source_head.seq,
            "head_hash": source_head.hash.to_hex(),
            "events_copied": copied.events,
            "event_bytes": copied.event_bytes,
            "blobs_copied": copied.blobs,
            "blob_bytes": copied.blob_bytes,
            "copy_ms": copied.elapsed_ms,
            "events_per_s": events_per_s.round(),
            "verify": {
                "ms": verify_ms,
                "source": verify_json(&source_report),
                "target": verify_json(&target_report),
            },
            "projections": projections,
            "projections_ms": projections_ms,
            "identity": match &identity {
                Ok(report) => json!(report),
                Err(e) => json!({"error": format!("{e:#}")}),
            },
            "elapsed_ms": started.elapsed().as_millis() as u64,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        if resumed_from == source_head.seq {
            println!(
                "already migrated: {} holds the data dir's log up to seq {} ({})",
                target.redacted(),
                source_head.seq,
                source_head.hash
            );
        } else {
            let resumed = if resumed_from > 0 {
                format!(", resuming after seq {resumed_from}")
            } else {
                String::new()
            };
            println!(
                "copied {} events (seq {}..={}) and {} payloads ({}) into {} in {} ms: {:.0} \
                 events/s{resumed}",
                copied.events,
                resumed_from + 1,
                source_head.seq,
                copied.blobs,
                trustfold_events::blob::human_bytes(copied.event_bytes + copied.blob_bytes),
                target.redacted(),
                copied.elapsed_ms,
                events_per_s
            );
        }
        println!(
            "verified in {verify_ms} ms: the data dir and {} are intact, {} events and {} \
             payloads each, head seq {} {}",
            target.redacted(),
            target_report.n_events,
            target_report.n_blobs_checked,
            source_head.seq,
            source_head.hash
        );
        println!(
            "built the projections from {} events in {projections_ms} ms: {} entities",
            projections.events, projections.entities_written
        );
        if let Ok(report) = &identity {
            println!(
                "built the identity index from {} events in {} ms: {} attached candidates",
                report.events, report.elapsed_ms, report.attached
            );
        }
    }
    if let Err(e) = &identity {
        // The identity index is a cache of the log that a run builds when it finds none:
        // the migration stands without it.
        eprintln!(
            "warning: the identity index was not built on {} ({e:#}); the first run there \
             builds it",
            target.redacted()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Ends the command at a stop request between two steps after the copy, saying what is
/// left to do.
fn stop_between_steps(shutdown: &Shutdown, next: &str, target: &StoreUrl) -> Result<()> {
    match shutdown.reason() {
        None => Ok(()),
        Some(why) => Err(
            anyhow::Error::new(Cancelled(why.to_string())).context(format!(
                "migration stopped before {next}: the copy is complete; run `trustfold migrate \
             --to {}` again to finish",
                target.redacted()
            )),
        ),
    }
}

/// `--to`, parsed; the error never repeats the URL (it may hold a password).
fn target_url(to: &str) -> Result<StoreUrl> {
    if !is_postgres_url(to.trim()) {
        return Err(bad_input(
            "--to must be a PostgreSQL URL: postgres://user:password@host:port/database",
        ));
    }
    StoreUrl::parse(to.trim()).map_err(|e| match e {
        StoreError::Open { detail, .. } => bad_input(format!("--to: {detail}")),
        other => anyhow::Error::new(other),
    })
}

/// How far an earlier migrate got: the target's head seq (0 for a database without a log
/// or with an empty one), once its log is found to be the data dir's up to there. A target
/// with another log, or more events than the data dir, is refused; nothing is written.
fn copied_so_far(target: &StoreUrl, source: &dyn EventStore, source_head: Head) -> Result<u64> {
    let Some(existing) = PgEventStore::open_if_present(target).context("cannot migrate")? else {
        return Ok(0);
    };
    let Some(head) = existing
        .check_tail()
        .context("cannot migrate: the log already there is altered")?
    else {
        return Ok(0);
    };
    let different = |why: String| {
        bad_input(format!(
            "{} holds a different log: {why}; nothing was written (migrate into an empty \
             database)",
            target.redacted()
        ))
    };
    if head.seq > source_head.seq {
        return Err(different(format!(
            "it has {} events, the data dir {} (another log, or the data dir is behind it)",
            head.seq, source_head.seq
        )));
    }
    // The hashes chain: the same event at the target's head means the same log up to it
    // (`verify` afterwards checks every link on both sides). The first event is compared
    // too, as cheap and plain evidence.
    let hash_at = |log: &dyn EventStore, seq: u64| -> Result<Option<trustfold_events::Hash32>> {
        Ok(log.read_at(seq)?.map(|e| e.hash))
    };
    if hash_at(source, head.seq)? != Some(head.hash) {
        return Err(different(format!(
            "its event at seq {} is not the data dir's",
            head.seq
        )));
    }
    if hash_at(source, 1)? != hash_at(&existing, 1)? {
        return Err(different("its first event is not the data dir's".into()));
    }
    Ok(head.seq)
}

/// Copies the events after `from` up to `to`, a batch at a time, each batch's payloads
/// first. Stops at a stop request (SIGINT, SIGTERM) after the batch being written.
fn copy(
    source: &dyn EventStore,
    source_blobs: Option<&dyn Blobs>,
    (target, target_blobs): (&PgEventStore, &PgBlobStore),
    (from, to): (u64, Head),
    show_progress: bool,
    shutdown: &Shutdown,
) -> Result<Copied> {
    let started = Instant::now();
    let bar = project::fold_bar(show_progress, "migrating");
    bar.set_length(to.seq);
    bar.set_position(from);
    let mut copied = Copied::default();
    // Payloads known to be on the target: one entry per distinct payload, as `verify` keeps.
    let mut present: HashSet<BlobHash> = HashSet::new();
    let mut batch: Vec<StoredEvent> = Vec::with_capacity(MIGRATE_BATCH_EVENTS);
    let mut batch_bytes = 0usize;
    let mut head = from;
    for ev in source.read_checked_from(from + 1) {
        let ev = ev.context("reading the data dir's log")?;
        if ev.seq > to.seq {
            break;
        }
        batch_bytes += ev.payload.len();
        let last = ev.seq == to.seq;
        batch.push(ev);
        if !(last || batch.len() >= MIGRATE_BATCH_EVENTS || batch_bytes >= MIGRATE_BATCH_BYTES_MAX)
        {
            continue;
        }
        copy_payloads(
            &batch,
            source_blobs,
            target_blobs,
            &mut present,
            &mut copied,
        )?;
        head = target.copy_verbatim(&batch)?.seq;
        copied.events += batch.len() as u64;
        copied.event_bytes += batch_bytes as u64;
        bar.set_position(head);
        batch.clear();
        batch_bytes = 0;
        // For tests: a window, between two batches, to interrupt the copy in.
        failpoint("migrate", shutdown)?;
        if let Some(why) = shutdown.reason() {
            bar.abandon();
            return Err(
                anyhow::Error::new(Cancelled(why.to_string())).context(format!(
                    "migration stopped after seq {head} of {}: run `trustfold migrate --to {}` \
                 again to continue",
                    to.seq,
                    target.url().redacted()
                )),
            );
        }
        if last {
            break;
        }
    }
    bar.finish_and_clear();
    if head != to.seq {
        return Err(integrity_failure(format!(
            "the data dir's log ended at seq {head} while it was copied, but it had seq {} \
             when the copy started",
            to.seq
        )));
    }
    copied.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(copied)
}

/// Puts on the target every payload the batch names that is not there yet, each read from
/// the data dir's store (which re-hashes it: an altered payload stops the copy), committed
/// a group at a time (`MIGRATE_BLOB_TX_BYTES_MAX`).
fn copy_payloads(
    batch: &[StoredEvent],
    source_blobs: Option<&dyn Blobs>,
    target_blobs: &PgBlobStore,
    present: &mut HashSet<BlobHash>,
    copied: &mut Copied,
) -> Result<()> {
    // Each payload not known to be there, with the first seq naming it (for messages).
    let mut wanted: Vec<(BlobHash, u64)> = Vec::new();
    let mut seen: HashSet<BlobHash> = HashSet::new();
    for ev in batch {
        let payload =
            EventPayload::decode(&ev.kind, ev.schema_version, &ev.payload).map_err(|source| {
                StoreError::Decode {
                    seq: ev.seq,
                    source,
                }
            })?;
        for hash in payload.blob_refs() {
            if !present.contains(&hash) && seen.insert(hash) {
                wanted.push((hash, ev.seq));
            }
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let hashes: Vec<BlobHash> = wanted.iter().map(|(h, _)| *h).collect();
    let there = target_blobs.present(&hashes)?;
    let mut pending: Vec<Vec<u8>> = Vec::new();
    let mut pending_bytes = 0usize;
    for (hash, seq) in wanted.iter().filter(|(h, _)| !there.contains(h)) {
        let Some(source_blobs) = source_blobs else {
            return Err(integrity_failure(format!(
                "seq {seq}: payload blob {hash} is missing: the data dir has no blob store"
            )));
        };
        let bytes = source_blobs
            .get(hash)
            .with_context(|| format!("seq {seq}: reading its payload from the data dir"))?;
        copied.blobs += 1;
        copied.blob_bytes += bytes.len() as u64;
        pending_bytes += bytes.len();
        pending.push(bytes);
        if pending_bytes >= MIGRATE_BLOB_TX_BYTES_MAX {
            target_blobs.put_all(&pending)?;
            pending.clear();
            pending_bytes = 0;
        }
    }
    if !pending.is_empty() {
        target_blobs.put_all(&pending)?;
    }
    present.extend(hashes);
    Ok(())
}

fn verify_json(report: &VerifyReport) -> serde_json::Value {
    json!({
        "intact": report.is_intact(),
        "events": report.n_events,
        "blobs_checked": report.n_blobs_checked,
        "head_seq": report.head.map(|h| h.seq),
        "head_hash": report.head.map(|h| h.hash.to_hex()),
    })
}
