//! Merging entities in bulk: the pass a rebuild, a catch-up, a re-merge and a dry run
//! share.
//!
//! An entity's values depend on its members' latest observations and the policy; the
//! observations stay in the log. A pass hands chunks of entities (each with its member
//! rows, no observations) to worker threads; each worker reads its chunk's observations
//! back from the log on its own read-only connection (point reads in seq order), decodes
//! them, merges every entity with the pure `merge_values` and encodes its row. The
//! calling thread feeds the chunks in key order and takes the results back in the same
//! order, so rows are written (or compared) in key order while the workers merge ahead.
//! Memory holds a few chunks, never the whole table.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;
use std::sync::Mutex;
use std::time::Instant;

use serde::Serialize;
use serde_json::Value;
use trustfold_events::EventStore;

use super::fold::{jobs_from_db, put_entity, StoredRow, MERGE_CHUNK_ENTITIES};
use super::read::{observation_of, ProjectionDb};
use super::rows::{decode_merged, EntityColumns, EntityRow};
use super::sql::{all, one, params, Conn, Tx};
use super::{changed_sources, FoldReport, Progress, ProjectionError, Result};
use crate::fields::Field;
use crate::merge::{merge_values, MergedEntity};
use crate::policy::TrustPolicy;
use crate::state::{Candidate, EntityState, Observation};

/// Most worker threads a pass starts (more cores than this gain little: the writer is one
/// thread).
pub const MERGE_WORKERS_MAX: usize = 8;

/// Chunks handed out and not yet taken back, per worker.
const CHUNKS_IN_FLIGHT_PER_WORKER: usize = 2;

/// A pass this small is merged on the calling thread: starting workers would cost more.
const INLINE_PASS_ENTITIES: usize = 256;

/// One entity to merge: its fold state, its members (observations not loaded) and, for a
/// comparison, the values stored for it now.
pub(crate) struct Job {
    pub entity: EntityState,
    pub members: Vec<Candidate>,
    pub old: Option<StoredRow>,
}

/// One merged entity: its row and (when asked for) the merged values and the stored row.
pub(crate) struct Done {
    pub row: EntityRow,
    pub merged: Option<MergedEntity>,
    pub old: Option<StoredRow>,
}

impl Done {
    /// Whether merging again left the stored row as it was (the encoding is
    /// deterministic, so equal values give equal text).
    fn unchanged(&self) -> bool {
        self.old
            .as_ref()
            .is_some_and(|o| o.merged == self.row.merged && o.sources == self.row.sources)
    }

    /// The stored values, decoded.
    fn old_values(&self, path: &Path) -> Result<Option<MergedEntity>> {
        let Some(o) = &self.old else {
            return Ok(None);
        };
        let sources: Vec<String> = super::from_json(path, "entity sources", &o.sources)?;
        let e = &self.row;
        decode_merged(
            EntityColumns {
                entity_id: &e.entity_id,
                slug: &e.slug,
                founded_seq: e.founded_seq as u64,
                updated_seq: e.updated_seq as u64,
                sources,
                completeness: o.completeness,
            },
            &o.merged,
        )
        .map(Some)
        .map_err(|detail| ProjectionError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "the stored row of entity {} does not decode: {detail}",
                e.entity_id
            ),
        })
    }
}

/// Merges every job of a chunk, reading the members' observations with `reader`.
fn merge_chunk(
    reader: &dyn EventStore,
    policy: &TrustPolicy,
    jobs: Vec<Job>,
    keep_merged: bool,
) -> Result<Vec<Done>> {
    let mut seqs: Vec<u64> = jobs
        .iter()
        .flat_map(|j| j.members.iter().filter_map(|c| c.observed_seq))
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    let mut observed: HashMap<u64, Box<Observation>> = HashMap::with_capacity(seqs.len());
    for ev in reader.read_seqs(&seqs)? {
        observed.insert(ev.seq, Box::new(observation_of(&ev)?));
    }
    let mut out = Vec::with_capacity(jobs.len());
    for mut job in jobs {
        for c in &mut job.members {
            c.observation = c.observed_seq.and_then(|s| observed.remove(&s));
        }
        let refs: Vec<&Candidate> = job.members.iter().collect();
        let merged = merge_values(&job.entity, &refs, policy);
        out.push(Done {
            row: EntityRow::new(&merged, &job.entity),
            merged: keep_merged.then_some(merged),
            old: job.old,
        });
    }
    Ok(out)
}

/// Merges the chunks of `jobs` (in order) and hands each chunk's results to `sink` in the
/// same order. See the module docs.
pub(crate) fn merge_pass<I>(
    store: &dyn EventStore,
    policy: &TrustPolicy,
    jobs: I,
    keep_merged: bool,
    sink: &mut dyn FnMut(Vec<Done>) -> Result<()>,
) -> Result<()>
where
    I: Iterator<Item = Result<Vec<Job>>>,
{
    let mut jobs = jobs.peekable();
    let first = match jobs.next() {
        None => return Ok(()),
        Some(first) => first?,
    };
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(MERGE_WORKERS_MAX);
    if workers < 2 || (jobs.peek().is_none() && first.len() <= INLINE_PASS_ENTITIES) {
        sink(merge_chunk(store, policy, first, keep_merged)?)?;
        for chunk in jobs {
            sink(merge_chunk(store, policy, chunk?, keep_merged)?)?;
        }
        return Ok(());
    }
    let in_flight_max = workers * CHUNKS_IN_FLIGHT_PER_WORKER;
    let (job_tx, job_rx) = std::sync::mpsc::sync_channel::<(usize, Vec<Job>)>(in_flight_max);
    let job_rx = Mutex::new(job_rx);
    let (done_tx, done_rx) =
        std::sync::mpsc::sync_channel::<(usize, Result<Vec<Done>>)>(in_flight_max);
    std::thread::scope(|scope| -> Result<()> {
        for _ in 0..workers {
            let done_tx = done_tx.clone();
            let job_rx = &job_rx;
            scope.spawn(move || {
                let reader = store.reader();
                loop {
                    // The lock is held only while taking a chunk, not while merging it.
                    let next = job_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok((i, chunk)) = next else {
                        return;
                    };
                    let result = match &reader {
                        Ok(reader) => {
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                merge_chunk(&**reader, policy, chunk, keep_merged)
                            }))
                            .unwrap_or_else(|_| {
                                Err(ProjectionError::Worker("merging a chunk panicked".into()))
                            })
                        }
                        Err(e) => Err(ProjectionError::Worker(format!(
                            "opening the log for reading: {e}"
                        ))),
                    };
                    if done_tx.send((i, result)).is_err() {
                        return;
                    }
                }
            });
        }
        drop(done_tx);
        let mut sent = 0usize;
        let mut flushed = 0usize;
        let mut pending: BTreeMap<usize, Result<Vec<Done>>> = BTreeMap::new();
        let mut next_chunk = Some(Ok(first));
        loop {
            while sent - flushed < in_flight_max {
                let Some(chunk) = next_chunk.take().or_else(|| jobs.next()) else {
                    break;
                };
                let chunk = chunk?;
                job_tx
                    .send((sent, chunk))
                    .map_err(|_| ProjectionError::Worker("every merge worker stopped".into()))?;
                sent += 1;
            }
            if sent == flushed {
                break;
            }
            let (i, result) = done_rx
                .recv()
                .map_err(|_| ProjectionError::Worker("every merge worker stopped".into()))?;
            pending.insert(i, result);
            while let Some(result) = pending.remove(&flushed) {
                sink(result?)?;
                flushed += 1;
            }
        }
        drop(job_tx);
        Ok(())
    })
}

/// What a re-merge did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct RemergeReport {
    /// `remerge`, `unchanged` (nothing to do) or `full` (a full rebuild ran instead).
    pub mode: String,
    /// Why these entities (or why a full rebuild).
    pub reason: String,
    /// Sources present in the projections whose rules changed.
    pub changed_sources: Vec<String>,
    pub entities_total: u64,
    pub entities_remerged: u64,
    /// Rows whose stored values changed.
    pub entities_changed: u64,
    pub elapsed_ms: u64,
    /// The full rebuild's figures, when one ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub full: Option<FoldReport>,
}

impl RemergeReport {
    pub(crate) fn full(fold: FoldReport, reason: &str) -> RemergeReport {
        RemergeReport {
            mode: "full".into(),
            reason: reason.into(),
            entities_total: fold.entities_written,
            entities_remerged: fold.entities_written,
            entities_changed: fold.entities_written,
            elapsed_ms: fold.elapsed_ms,
            full: Some(fold),
            ..RemergeReport::default()
        }
    }
}

/// One field of one entity whose winning value or winning source a policy would change.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct FieldChange {
    pub entity_id: String,
    pub slug: String,
    pub field: Field,
    pub before: Option<Value>,
    pub after: Option<Value>,
    pub before_source: Option<String>,
    pub after_source: Option<String>,
}

/// Where a dry run puts each change as it finds it.
pub trait ChangeSink {
    fn change(&mut self, change: &FieldChange) -> std::io::Result<()>;
}

/// Winners that move, for one field.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FieldMoves {
    pub changed: u64,
    /// Winning source before -> number of winners it loses.
    pub from: BTreeMap<String, u64>,
    /// Winning source after -> number of winners it gains.
    pub to: BTreeMap<String, u64>,
}

/// What a dry run found.
#[derive(Clone, Debug, Default, Serialize)]
pub struct DryRunSummary {
    pub policy_before: String,
    pub policy_after: String,
    pub changed_sources: Vec<String>,
    /// Why these entities were examined.
    pub reason: String,
    pub entities_total: u64,
    pub entities_examined: u64,
    pub entities_changed: u64,
    pub changes: u64,
    pub by_field: BTreeMap<Field, FieldMoves>,
    pub conflicts_added: u64,
    pub conflicts_cleared: u64,
    pub elapsed_ms: u64,
}

/// The entities a change from `old` to `new` can touch, with the reason; and the changed
/// sources.
fn affected(
    conn: &dyn Conn,
    old: &TrustPolicy,
    new: &TrustPolicy,
) -> Result<(Vec<String>, Vec<String>, String, u64)> {
    let total =
        one(conn, "SELECT count(*) FROM entities", &[], |r| r.req_int(0))?.unwrap_or(0) as u64;
    let present = all(
        conn,
        "SELECT DISTINCT source FROM candidates WHERE source IS NOT NULL ORDER BY source",
        &[],
        |r| r.req_text(0),
    )?;
    if old.hash() == new.hash() {
        return Ok((vec![], vec![], "the policy is unchanged".into(), total));
    }
    match changed_sources(old, new, &present) {
        None => {
            let ids = all(
                conn,
                "SELECT entity_id FROM entities ORDER BY entity_id",
                &[],
                |r| r.req_text(0),
            )?;
            Ok((
                ids,
                present,
                "conflict_trust_gap_max changed: it applies to every entity".into(),
                total,
            ))
        }
        Some(changed) if changed.is_empty() => Ok((
            vec![],
            vec![],
            "no source the projections hold records of has different rules".into(),
            total,
        )),
        Some(changed) => {
            let changed: Vec<String> = changed.into_iter().collect();
            let mut ids = BTreeSet::new();
            for s in &changed {
                ids.extend(all(
                    conn,
                    "SELECT DISTINCT entity_id FROM candidates
                     WHERE source = ?1 AND entity_id IS NOT NULL",
                    params![s],
                    |r| r.req_text(0),
                )?);
            }
            let reason = format!(
                "entities with records from {} (their rules changed)",
                changed.join(", ")
            );
            Ok((ids.into_iter().collect(), changed, reason, total))
        }
    }
}

impl ProjectionDb {
    /// Re-merges, under `new`, the entities whose members come from sources whose rules
    /// differ from `old` (the stored policy), and stores `new` — in one transaction.
    pub(super) fn remerge(
        &mut self,
        store: &dyn EventStore,
        old: &TrustPolicy,
        new: &TrustPolicy,
        progress: Progress<'_>,
    ) -> Result<RemergeReport> {
        let conn = &*self.conn;
        let tx = Tx::begin(conn, true)?;
        let (ids, changed, reason, total) = affected(conn, old, new)?;
        let mut report = RemergeReport {
            mode: if old.hash() == new.hash() {
                "unchanged".into()
            } else {
                "remerge".into()
            },
            reason,
            changed_sources: changed,
            entities_total: total,
            ..RemergeReport::default()
        };
        {
            let n_ids = ids.len() as u64;
            let jobs = ids
                .chunks(MERGE_CHUNK_ENTITIES)
                .map(|part| jobs_from_db(conn, part, true));
            let mut done_n = 0u64;
            let mut changed_n = 0u64;
            merge_pass(store, new, jobs, false, &mut |done| {
                for d in done {
                    done_n += 1;
                    // Only rows whose values moved are written again.
                    if !d.unchanged() {
                        put_entity(conn, &d.row)?;
                        changed_n += 1;
                    }
                }
                progress(done_n, n_ids);
                Ok(())
            })?;
            report.entities_remerged = done_n;
            report.entities_changed = changed_n;
        }
        ProjectionDb::put_policy(conn, new)?;
        tx.commit()?;
        Ok(report)
    }

    /// Compares, entity by entity and field by field, what `new` would give with what is
    /// stored (merged under `old`). Writes nothing.
    pub(super) fn dry_run(
        &mut self,
        store: &dyn EventStore,
        old: &TrustPolicy,
        new: &TrustPolicy,
        sink: &mut dyn ChangeSink,
    ) -> Result<DryRunSummary> {
        let started = Instant::now();
        let path = self.path.clone();
        let conn = &*self.conn;
        // One read transaction: the comparison sees one state of the table.
        let tx = Tx::begin(conn, false)?;
        let (ids, changed, reason, total) = affected(conn, old, new)?;
        let mut summary = DryRunSummary {
            policy_before: old.hash().to_string(),
            policy_after: new.hash().to_string(),
            changed_sources: changed,
            reason,
            entities_total: total,
            ..DryRunSummary::default()
        };
        let jobs = ids
            .chunks(MERGE_CHUNK_ENTITIES)
            .map(|part| jobs_from_db(conn, part, true));
        let stdout = Path::new("(output)");
        merge_pass(store, new, jobs, true, &mut |done| {
            for d in done {
                summary.entities_examined += 1;
                if d.unchanged() {
                    continue;
                }
                let old = d.old_values(&path)?;
                let (Some(old), Some(new)) = (old.as_ref(), d.merged.as_ref()) else {
                    continue;
                };
                let mut entity_changed = false;
                let fields: BTreeSet<Field> = old
                    .values
                    .keys()
                    .chain(new.values.keys())
                    .copied()
                    .collect();
                for field in fields {
                    let (b, a) = (old.values.get(&field), new.values.get(&field));
                    let was_conflict = b.is_some_and(|v| v.conflict);
                    let is_conflict = a.is_some_and(|v| v.conflict);
                    if is_conflict && !was_conflict {
                        summary.conflicts_added += 1;
                    }
                    if was_conflict && !is_conflict {
                        summary.conflicts_cleared += 1;
                    }
                    let moved = match (b, a) {
                        (Some(b), Some(a)) => b.value != a.value || b.source != a.source,
                        (None, None) => false,
                        _ => true,
                    };
                    if !moved {
                        continue;
                    }
                    entity_changed = true;
                    summary.changes += 1;
                    let moves = summary.by_field.entry(field).or_default();
                    moves.changed += 1;
                    if let Some(b) = b {
                        *moves.from.entry(b.source.clone()).or_default() += 1;
                    }
                    if let Some(a) = a {
                        *moves.to.entry(a.source.clone()).or_default() += 1;
                    }
                    let change = FieldChange {
                        entity_id: new.entity_id.clone(),
                        slug: new.slug.clone(),
                        field,
                        before: b.map(|v| v.value.clone()),
                        after: a.map(|v| v.value.clone()),
                        before_source: b.map(|v| v.source.clone()),
                        after_source: a.map(|v| v.source.clone()),
                    };
                    sink.change(&change).map_err(|source| ProjectionError::Io {
                        path: stdout.to_path_buf(),
                        source,
                    })?;
                }
                if entity_changed {
                    summary.entities_changed += 1;
                }
            }
            Ok(())
        })?;
        drop(tx);
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }
}
