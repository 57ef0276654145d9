//! The fold: extractions and merge decisions from the log into a store's tables. The
//! catch-up and the rebuild both run it (the rebuild from seq 1 into a fresh file), so
//! one code path decides what the store holds.
//!
//! Per event:
//! * `CandidateExtracted` of candidate `c` at `seq`: `seen[c] = seq`. If `c` is attached
//!   and its blocks changed (a re-observation with another name, phone, point...), its old
//!   blocks (computed from its previous extraction, read back from the log) are removed
//!   and the new ones added, under the same index. The store then holds what a full scan
//!   of the log builds: every attached candidate filed under its latest extraction.
//! * `MergeDecided` attaching `c` (a new or an existing entity): out of review; if not yet
//!   attached, it takes the next index and is filed under the blocks of its latest
//!   extraction; if attached, it moves to the entity (a reviewer's answer) and keeps its
//!   index and blocks.
//! * `MergeDecided` asking for a review: `in_review[c] = review_id`.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use trustfold_events::{
    CandidateExtracted, EventKind, EventPayload, EventStore, MergeOutcome, StoreError,
};

use super::{read_checkpoint, set_meta, sql, PROGRESS_EVENTS};
use super::{Checkpoint, Counters, IdentityReport, IdentityStoreError, Progress, Result};
use crate::resolve::form;
use crate::resolve::index::Prepared;
use crate::resolve::keys::{filed_keys, BlockKey, BlockKind};
use crate::resolve::score::NO_ID;
use crate::resolve::vocab::fmix64;
use crate::resolve::MatchConfig;

/// Extractions whose blocks a fold keeps in memory, so that the `MergeDecided` following
/// an extraction (in the same run, a few events later) need not read it back from the
/// log. Past this many the cache starts over: memory stays bounded on any log, and a miss
/// only costs a point read.
pub const FOLD_CACHE_CANDIDATES_MAX: usize = 65_536;

/// Posting changes a fold collects before writing them, sorted, in one pass. The keys are
/// hashes, so changes written as they come land all over the postings B-tree (a page read
/// and written per change on a large store); sorted, neighbouring changes share pages.
/// About 40 bytes each.
pub const FOLD_PENDING_POSTINGS_MAX: usize = 500_000;

const COUNTER_KEYS: [&str; 4] = [
    "n_with_coordinates",
    "n_cross_references",
    "n_cells",
    "next_idx",
];

pub(super) fn read_counters(conn: &Connection, path: &Path) -> Result<Counters> {
    let mut values = [0u64; 4];
    for (value, key) in values.iter_mut().zip(COUNTER_KEYS) {
        let text: Option<String> = sql(
            path,
            conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")
                .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional()),
        )?;
        *value = match text {
            Some(t) => t.parse().map_err(|_| IdentityStoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("the stored counter {key} ({t:?}) is not a number"),
            })?,
            None => 0,
        };
    }
    Ok(Counters {
        n_with_coordinates: values[0],
        n_cross_references: values[1],
        n_cells: values[2],
        next_idx: values[3],
    })
}

pub(super) fn write_counters(conn: &Connection, path: &Path, c: &Counters) -> Result<()> {
    let values = [
        c.n_with_coordinates,
        c.n_cross_references,
        c.n_cells,
        c.next_idx,
    ];
    for (key, value) in COUNTER_KEYS.into_iter().zip(values) {
        set_meta(conn, path, key, &value.to_string())?;
    }
    Ok(())
}

/// What the store keeps of a candidate's extraction once it is attached: the blocks it
/// is filed under and its matching form (`form.rs`).
#[derive(Clone)]
pub(super) struct Filed {
    pub keys: Vec<BlockKey>,
    pub form: Vec<u8>,
}

/// [`Filed`] for this extraction.
pub(super) fn filed_of(c: &CandidateExtracted, cell_m: f64) -> Filed {
    let own_id = !c.external_id.trim().is_empty();
    let p = Prepared::new(&c.fields, &c.source, &c.external_id, |_, _| NO_ID);
    Filed {
        keys: filed_keys(&p, own_id, cell_m),
        form: form::encode(&p.parts(), own_id),
    }
}

/// The blocks of a stored matching form.
fn keys_of_form(bytes: &[u8], path: &Path, cell_m: f64) -> Result<Vec<BlockKey>> {
    let (parts, own_id) = form::decode(bytes).map_err(|detail| IdentityStoreError::Corrupt {
        path: path.to_path_buf(),
        detail,
    })?;
    let p = Prepared::from_parts(parts, |_, _| NO_ID);
    Ok(filed_keys(&p, own_id, cell_m))
}

/// A hash of a (sorted) key list: equal lists, equal hashes; a re-observation with the
/// same blocks changes nothing but the seq.
pub(super) fn keys_hash(keys: &[BlockKey]) -> i64 {
    let mut h: u64 = 0x6a09_e667_f3bc_c908 ^ keys.len() as u64;
    for k in keys {
        h = fmix64(h ^ fmix64(k.key ^ (u64::from(k.kind.code()) << 57)));
    }
    h as i64
}

/// An attached candidate's row.
struct AttachedRow {
    idx: i64,
    /// Its matching form, `None` while it was never extracted.
    form: Option<Vec<u8>>,
    keys_hash: i64,
}

struct Folder<'t> {
    tx: &'t Transaction<'t>,
    path: &'t Path,
    log: &'t dyn EventStore,
    cell_m: f64,
    counters: Counters,
    /// Candidate id -> (seq of an extraction, what it is filed as).
    cache: HashMap<String, (u64, Filed)>,
    /// Posting changes in the order they were made: ((kind, key, idx), whether the
    /// posting is there afterwards). The last change of a posting wins.
    pending: Vec<((u8, u64, i64), bool)>,
    /// Whether every extraction is kept in the cache as it is folded (see [`fold`]).
    eager: bool,
}

/// Folds the events after the store's checkpoint, up to the log's head (or `to_seq`),
/// into `tx`, and moves the checkpoint.
///
/// `eager`: keep every extraction's blocks and form in the cache as it is folded, for the
/// decision that attaches it a few events later (a rebuild, which folds whole runs).
/// Otherwise only an attached candidate's extraction is worked on when it is folded: a
/// catch-up before a run folds that run's extractions and none of their decisions, and
/// the catch-up after it reads back only the candidates it attached.
pub(super) fn fold(
    tx: &Transaction<'_>,
    path: &Path,
    log: &dyn EventStore,
    config: &MatchConfig,
    to_seq: Option<u64>,
    eager: bool,
    progress: Progress<'_>,
) -> Result<IdentityReport> {
    let checkpoint = read_checkpoint(tx, path)?;
    let head = log.head()?.map_or(0, |h| h.seq);
    let end = to_seq.map_or(head, |t| t.min(head));
    let mut report = IdentityReport {
        from_seq: checkpoint.seq + 1,
        to_seq: checkpoint.seq,
        ..IdentityReport::default()
    };
    let mut folder = Folder {
        tx,
        path,
        log,
        cell_m: config.cell_m,
        counters: read_counters(tx, path)?,
        cache: HashMap::new(),
        pending: Vec::new(),
        eager,
    };
    if end > checkpoint.seq {
        let total = end - checkpoint.seq;
        let mut last = checkpoint.clone();
        for ev in log.read_raw_from(checkpoint.seq + 1) {
            let ev = ev?;
            if ev.seq > end {
                break;
            }
            if ev.seq != last.seq + 1 {
                return Err(StoreError::Integrity(format!(
                    "the log jumps from seq {} to {} while folding the identity index",
                    last.seq, ev.seq
                ))
                .into());
            }
            let kind = ev.kind.as_str();
            if kind == EventKind::CandidateExtracted.as_str()
                || kind == EventKind::MergeDecided.as_str()
            {
                let payload = EventPayload::decode(kind, ev.schema_version, &ev.payload).map_err(
                    |source| StoreError::Decode {
                        seq: ev.seq,
                        source,
                    },
                )?;
                match payload {
                    EventPayload::CandidateExtracted(c) => folder.extracted(ev.seq, c)?,
                    EventPayload::MergeDecided(m) => match m.decision {
                        MergeOutcome::NewEntity { entity_id }
                        | MergeOutcome::ExistingEntity { entity_id } => {
                            folder.attached_to(&m.candidate_id, &entity_id)?
                        }
                        MergeOutcome::NeedsReview { review_id, .. } => {
                            folder.in_review(&m.candidate_id, &review_id)?
                        }
                    },
                    _ => {}
                }
            }
            if folder.pending.len() >= FOLD_PENDING_POSTINGS_MAX {
                folder.flush()?;
            }
            last = Checkpoint {
                seq: ev.seq,
                hash: ev.hash.to_hex(),
            };
            report.events += 1;
            if report.events.is_multiple_of(PROGRESS_EVENTS) {
                progress(report.events, total);
            }
        }
        progress(report.events, total);
        folder.flush()?;
        report.to_seq = last.seq;
        write_counters(tx, path, &folder.counters)?;
        set_meta(tx, path, "checkpoint_seq", &last.seq.to_string())?;
        set_meta(tx, path, "checkpoint_hash", &last.hash)?;
    }
    report.attached = folder.counters.next_idx;
    Ok(report)
}

impl Folder<'_> {
    fn sql<T>(&self, r: rusqlite::Result<T>) -> Result<T> {
        sql(self.path, r)
    }

    fn remember(&mut self, candidate_id: &str, seq: u64, filed: Filed) {
        if self.cache.len() >= FOLD_CACHE_CANDIDATES_MAX {
            self.cache.clear();
        }
        self.cache.insert(candidate_id.to_string(), (seq, filed));
    }

    /// What the extraction at `seq` of `candidate_id` is filed as: from the cache, or read
    /// back from the log.
    fn filed_at(&mut self, candidate_id: &str, seq: u64) -> Result<Filed> {
        if let Some((s, filed)) = self.cache.get(candidate_id) {
            if *s == seq {
                return Ok(filed.clone());
            }
        }
        let c = extraction_at(self.log, self.path, seq)?;
        let filed = filed_of(&c, self.cell_m);
        self.remember(candidate_id, seq, filed.clone());
        Ok(filed)
    }

    fn attached_row(&self, candidate_id: &str) -> Result<Option<AttachedRow>> {
        self.sql(
            self.tx
                .prepare_cached("SELECT idx, form, keys_hash FROM attached WHERE candidate_id = ?1")
                .and_then(|mut s| {
                    s.query_row([candidate_id], |r| {
                        Ok(AttachedRow {
                            idx: r.get(0)?,
                            form: r.get(1)?,
                            keys_hash: r.get(2)?,
                        })
                    })
                    .optional()
                }),
        )
    }

    fn extracted(&mut self, seq: u64, c: CandidateExtracted) -> Result<()> {
        self.sql(
            self.tx
                .prepare_cached(
                    "INSERT INTO seen(candidate_id, seq) VALUES (?1, ?2)
                     ON CONFLICT(candidate_id) DO UPDATE SET seq = excluded.seq",
                )
                .and_then(|mut s| s.execute(params![c.candidate_id, seq as i64])),
        )?;
        // Only an attached candidate's blocks change now; one attached later has them
        // computed then (from the cache when eager, else read back from the log).
        let Some(row) = self.attached_row(&c.candidate_id)? else {
            if self.eager {
                let filed = filed_of(&c, self.cell_m);
                self.remember(&c.candidate_id, seq, filed);
            }
            return Ok(());
        };
        let filed = filed_of(&c, self.cell_m);
        let hash = keys_hash(&filed.keys);
        match &row.form {
            // Attached before it was ever extracted: filed now.
            None => self.add_keys(row.idx, &filed.keys),
            Some(_) if hash == row.keys_hash => {}
            Some(old) => {
                let old = keys_of_form(old, self.path, self.cell_m)?;
                self.remove_keys(row.idx, &old);
                self.add_keys(row.idx, &filed.keys);
            }
        }
        self.sql(
            self.tx
                .prepare_cached(
                    "UPDATE attached SET seq = ?2, keys_hash = ?3, form = ?4 WHERE idx = ?1",
                )
                .and_then(|mut s| s.execute(params![row.idx, seq as i64, hash, filed.form])),
        )?;
        Ok(())
    }

    fn attached_to(&mut self, candidate_id: &str, entity_id: &str) -> Result<()> {
        self.sql(
            self.tx
                .prepare_cached("DELETE FROM in_review WHERE candidate_id = ?1")
                .and_then(|mut s| s.execute([candidate_id])),
        )?;
        if let Some(row) = self.attached_row(candidate_id)? {
            // A move (a reviewer's answer): same index, same blocks.
            self.sql(
                self.tx
                    .prepare_cached("UPDATE attached SET entity_id = ?2 WHERE idx = ?1")
                    .and_then(|mut s| s.execute(params![row.idx, entity_id])),
            )?;
            return Ok(());
        }
        let seq: Option<u64> = self
            .sql(
                self.tx
                    .prepare_cached("SELECT seq FROM seen WHERE candidate_id = ?1")
                    .and_then(|mut s| {
                        s.query_row([candidate_id], |r| r.get::<_, i64>(0))
                            .optional()
                    }),
            )?
            .map(|s| s as u64);
        let filed = match seq {
            Some(seq) => Some(self.filed_at(candidate_id, seq)?),
            None => None,
        };
        let keys: &[BlockKey] = filed.as_ref().map_or(&[], |f| &f.keys);
        let idx = self.counters.next_idx as i64;
        self.counters.next_idx += 1;
        self.sql(
            self.tx
                .prepare_cached(
                    "INSERT INTO attached(idx, candidate_id, entity_id, seq, keys_hash, form)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )
                .and_then(|mut s| {
                    s.execute(params![
                        idx,
                        candidate_id,
                        entity_id,
                        seq.map(|s| s as i64),
                        keys_hash(keys),
                        filed.as_ref().map(|f| &f.form)
                    ])
                }),
        )?;
        self.add_keys(idx, keys);
        Ok(())
    }

    fn in_review(&mut self, candidate_id: &str, review_id: &str) -> Result<()> {
        self.sql(
            self.tx
                .prepare_cached(
                    "INSERT INTO in_review(candidate_id, review_id) VALUES (?1, ?2)
                     ON CONFLICT(candidate_id) DO UPDATE SET review_id = excluded.review_id",
                )
                .and_then(|mut s| s.execute(params![candidate_id, review_id])),
        )?;
        Ok(())
    }

    fn cell_occupied(&self, key: u64) -> Result<bool> {
        self.sql(
            self.tx
                .prepare_cached("SELECT 1 FROM postings WHERE kind = ?1 AND key = ?2 LIMIT 1")
                .and_then(|mut s| s.exists(params![BlockKind::Cell.code(), key as i64])),
        )
    }

    fn add_keys(&mut self, idx: i64, keys: &[BlockKey]) {
        for k in keys {
            self.pending.push(((k.kind.code(), k.key, idx), true));
        }
        if keys.iter().any(|k| k.kind == BlockKind::Cell) {
            self.counters.n_with_coordinates += 1;
        }
        if keys.iter().any(|k| k.kind == BlockKind::Id) {
            self.counters.n_cross_references += 1;
        }
    }

    fn remove_keys(&mut self, idx: i64, keys: &[BlockKey]) {
        for k in keys {
            self.pending.push(((k.kind.code(), k.key, idx), false));
        }
        if keys.iter().any(|k| k.kind == BlockKind::Cell) {
            self.counters.n_with_coordinates = self.counters.n_with_coordinates.saturating_sub(1);
        }
        if keys.iter().any(|k| k.kind == BlockKind::Id) {
            self.counters.n_cross_references = self.counters.n_cross_references.saturating_sub(1);
        }
    }

    /// Writes the collected posting changes in key order, counting the cells they occupy
    /// or empty.
    fn flush(&mut self) -> Result<()> {
        let mut pending = std::mem::take(&mut self.pending);
        // Stable: a posting's changes stay in order, and its last one is kept.
        pending.sort_by_key(|(posting, _)| *posting);
        pending.reverse();
        pending.dedup_by_key(|(posting, _)| *posting);
        pending.reverse();
        let cells: BTreeSet<u64> = pending
            .iter()
            .filter(|((kind, _, _), _)| *kind == BlockKind::Cell.code())
            .map(|&((_, key, _), _)| key)
            .collect();
        let mut occupied_before = 0u64;
        for &cell in &cells {
            occupied_before += u64::from(self.cell_occupied(cell)?);
        }
        {
            let mut insert = self.sql(self.tx.prepare_cached(
                "INSERT OR IGNORE INTO postings(kind, key, idx) VALUES (?1, ?2, ?3)",
            ))?;
            let mut delete = self.sql(self.tx.prepare_cached(
                "DELETE FROM postings WHERE kind = ?1 AND key = ?2 AND idx = ?3",
            ))?;
            for ((kind, key, idx), present) in pending {
                let args = params![kind, key as i64, idx];
                if present {
                    self.sql(insert.execute(args))?;
                } else {
                    self.sql(delete.execute(args))?;
                }
            }
        }
        let mut occupied_after = 0u64;
        for &cell in &cells {
            occupied_after += u64::from(self.cell_occupied(cell)?);
        }
        self.counters.n_cells =
            (self.counters.n_cells + occupied_after).saturating_sub(occupied_before);
        Ok(())
    }
}

/// The `CandidateExtracted` at `seq`, which a store row names.
pub(super) fn extraction_at(
    log: &dyn EventStore,
    path: &Path,
    seq: u64,
) -> Result<CandidateExtracted> {
    let Some(ev) = log.read_at(seq)? else {
        return Err(IdentityStoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("it names seq {seq}, which is not in the log"),
        });
    };
    match EventPayload::decode(&ev.kind, ev.schema_version, &ev.payload)
        .map_err(|source| StoreError::Decode { seq, source })?
    {
        EventPayload::CandidateExtracted(c) => Ok(c),
        _ => Err(IdentityStoreError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "it names seq {seq}, which is a {} event, not CandidateExtracted",
                ev.kind
            ),
        }),
    }
}
