//! The fold: extractions and merge decisions from the log into a store's tables. The
//! catch-up and the rebuild both run it (the rebuild from seq 1 into a fresh store), so
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
//!
//! Events are folded a chunk at a time ([`FOLD_CHUNK_FACTS`]): the rows the chunk's
//! candidates have are read first, a few statements for the whole chunk, the events are
//! applied in order to those rows in memory, and the rows they changed are written back
//! at the chunk's end, again a few multi-row statements. On PostgreSQL every statement is
//! a round trip to the server, and a statement per event made a catch-up cost about a
//! millisecond per event; on SQLite it saves little but costs nothing.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::Path;

use trustfold_events::{
    CandidateExtracted, EventKind, EventPayload, EventStore, MergeOutcome, StoreError,
};
use trustfold_projections::db::sql::{params, Conn, Param};

use super::PROGRESS_EVENTS;
use super::{get_meta, in_chunks, in_statement, read_checkpoint, set_meta, values_statement};
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

/// Extractions and merge decisions folded per chunk (see the module doc): what a chunk
/// holds in memory (its events, its candidates' rows) is bounded by it.
pub const FOLD_CHUNK_FACTS: usize = 512;

#[cfg(test)]
thread_local! {
    /// Tests fold in chunks of other sizes (down to one fact), on the folding thread.
    pub(super) static CHUNK_FACTS: std::cell::Cell<usize> =
        const { std::cell::Cell::new(FOLD_CHUNK_FACTS) };
}

/// The chunk size ([`FOLD_CHUNK_FACTS`], but for tests).
fn chunk_facts() -> usize {
    #[cfg(test)]
    return CHUNK_FACTS.with(|c| c.get()).max(1);
    #[cfg(not(test))]
    FOLD_CHUNK_FACTS
}

const COUNTER_KEYS: [&str; 4] = [
    "n_with_coordinates",
    "n_cross_references",
    "n_cells",
    "next_idx",
];

pub(super) fn read_counters(conn: &dyn Conn) -> Result<Counters> {
    let mut values = [0u64; 4];
    for (value, key) in values.iter_mut().zip(COUNTER_KEYS) {
        *value = match get_meta(conn, key)? {
            Some(t) => t.parse().map_err(|_| IdentityStoreError::Corrupt {
                path: conn.location().to_path_buf(),
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

pub(super) fn write_counters(conn: &dyn Conn, c: &Counters) -> Result<()> {
    let values = [
        c.n_with_coordinates,
        c.n_cross_references,
        c.n_cells,
        c.next_idx,
    ];
    for (key, value) in COUNTER_KEYS.into_iter().zip(values) {
        set_meta(conn, key, &value.to_string())?;
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
#[derive(Clone)]
struct AttachedRow {
    idx: i64,
    entity_id: String,
    /// The seq of its latest extraction, `None` while it was never extracted.
    seq: Option<i64>,
    keys_hash: i64,
    /// Its matching form, `None` while it was never extracted.
    form: Option<Vec<u8>>,
}

/// One event the fold acts on.
enum Fact {
    Extracted(Box<CandidateExtracted>),
    Attached {
        candidate_id: String,
        entity_id: String,
    },
    Review {
        candidate_id: String,
        review_id: String,
    },
}

impl Fact {
    fn candidate_id(&self) -> &str {
        match self {
            Fact::Extracted(c) => &c.candidate_id,
            Fact::Attached { candidate_id, .. } | Fact::Review { candidate_id, .. } => candidate_id,
        }
    }
}

struct Folder<'t> {
    conn: &'t dyn Conn,
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
    /// The current chunk's candidates' rows: `None` for one not attached.
    rows: HashMap<String, Option<AttachedRow>>,
    /// Of those, the ones the chunk changed.
    rows_changed: HashSet<String>,
    /// The latest extraction's seq of the candidates the chunk attaches or extracts
    /// (`None`: never extracted), and which of them the chunk changed.
    seen: HashMap<String, Option<u64>>,
    seen_changed: HashSet<String>,
    /// Review changes of the chunk: candidate id -> its review, or `None` when out of
    /// review.
    reviews: BTreeMap<String, Option<String>>,
    /// Extractions at hand for the chunk's attachments, by seq: the chunk's own, and
    /// those read back from the log ahead of them.
    at_hand: HashMap<u64, CandidateExtracted>,
}

/// Folds the events after the store's checkpoint, up to the log's head (or `to_seq`),
/// inside the write transaction open on `conn`, and moves the checkpoint in it.
///
/// `eager`: keep every extraction's blocks and form in the cache as it is folded, for the
/// decision that attaches it a few events later (a rebuild, which folds whole runs).
/// Otherwise only an attached candidate's extraction is worked on when it is folded: a
/// catch-up before a run folds that run's extractions and none of their decisions, and
/// the catch-up after it reads back only the candidates it attached.
pub(super) fn fold(
    conn: &dyn Conn,
    log: &dyn EventStore,
    config: &MatchConfig,
    to_seq: Option<u64>,
    eager: bool,
    progress: Progress<'_>,
) -> Result<IdentityReport> {
    let path = conn.location();
    let checkpoint = read_checkpoint(conn)?;
    let head = log.head()?.map_or(0, |h| h.seq);
    let end = to_seq.map_or(head, |t| t.min(head));
    let mut report = IdentityReport {
        from_seq: checkpoint.seq + 1,
        to_seq: checkpoint.seq,
        ..IdentityReport::default()
    };
    let mut folder = Folder {
        conn,
        path,
        log,
        cell_m: config.cell_m,
        counters: read_counters(conn)?,
        cache: HashMap::new(),
        pending: Vec::new(),
        eager,
        rows: HashMap::new(),
        rows_changed: HashSet::new(),
        seen: HashMap::new(),
        seen_changed: HashSet::new(),
        reviews: BTreeMap::new(),
        at_hand: HashMap::new(),
    };
    if end > checkpoint.seq {
        let total = end - checkpoint.seq;
        let mut last = checkpoint.clone();
        let chunk_max = chunk_facts();
        let mut chunk: Vec<(u64, Fact)> = Vec::with_capacity(chunk_max);
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
                let fact = match payload {
                    EventPayload::CandidateExtracted(c) => Some(Fact::Extracted(Box::new(c))),
                    EventPayload::MergeDecided(m) => Some(match m.decision {
                        MergeOutcome::NewEntity { entity_id }
                        | MergeOutcome::ExistingEntity { entity_id } => Fact::Attached {
                            candidate_id: m.candidate_id,
                            entity_id,
                        },
                        MergeOutcome::NeedsReview { review_id, .. } => Fact::Review {
                            candidate_id: m.candidate_id,
                            review_id,
                        },
                    }),
                    _ => None,
                };
                if let Some(fact) = fact {
                    chunk.push((ev.seq, fact));
                }
                if chunk.len() >= chunk_max {
                    folder.chunk(std::mem::take(&mut chunk))?;
                    if folder.pending.len() >= FOLD_PENDING_POSTINGS_MAX {
                        folder.flush()?;
                    }
                }
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
        folder.chunk(chunk)?;
        progress(report.events, total);
        folder.flush()?;
        report.to_seq = last.seq;
        write_counters(conn, &folder.counters)?;
        set_meta(conn, "checkpoint_seq", &last.seq.to_string())?;
        set_meta(conn, "checkpoint_hash", &last.hash)?;
    }
    report.attached = folder.counters.next_idx;
    Ok(report)
}

impl Folder<'_> {
    /// Folds one chunk of facts: its rows read, the facts applied in order, the changed
    /// rows written.
    fn chunk(&mut self, chunk: Vec<(u64, Fact)>) -> Result<()> {
        if chunk.is_empty() {
            return Ok(());
        }
        self.load(&chunk)?;
        for (seq, fact) in chunk {
            match fact {
                Fact::Extracted(c) => self.extracted(seq, *c)?,
                Fact::Attached {
                    candidate_id,
                    entity_id,
                } => self.attached_to(&candidate_id, &entity_id)?,
                Fact::Review {
                    candidate_id,
                    review_id,
                } => {
                    self.reviews.insert(candidate_id, Some(review_id));
                }
            }
        }
        self.write()
    }

    /// Reads what the chunk's facts need: the rows of every candidate they name, the
    /// latest extraction of every candidate they attach, and those extractions from the
    /// log where neither the cache nor the chunk has them.
    fn load(&mut self, chunk: &[(u64, Fact)]) -> Result<()> {
        let names: BTreeSet<&str> = chunk.iter().map(|(_, f)| f.candidate_id()).collect();
        let attaching: BTreeSet<&str> = chunk
            .iter()
            .filter(|(_, f)| matches!(f, Fact::Attached { .. }))
            .map(|(_, f)| f.candidate_id())
            .collect();
        for name in &names {
            self.rows.insert(name.to_string(), None);
        }
        let args: Vec<Param<'_>> = names.iter().map(|n| Param::Text(n)).collect();
        let rows = &mut self.rows;
        in_chunks(
            self.conn,
            &args,
            1,
            |n| {
                in_statement(
                    "SELECT candidate_id, idx, entity_id, seq, keys_hash, form FROM attached \
                     WHERE candidate_id",
                    n,
                )
            },
            &mut |r| {
                rows.insert(
                    r.req_text(0)?,
                    Some(AttachedRow {
                        idx: r.req_int(1)?,
                        entity_id: r.req_text(2)?,
                        seq: r.int(3)?,
                        keys_hash: r.req_int(4)?,
                        form: r.blob(5)?,
                    }),
                );
                Ok(())
            },
        )?;
        for name in &attaching {
            self.seen.insert(name.to_string(), None);
        }
        let args: Vec<Param<'_>> = attaching.iter().map(|n| Param::Text(n)).collect();
        let seen = &mut self.seen;
        in_chunks(
            self.conn,
            &args,
            1,
            |n| in_statement("SELECT candidate_id, seq FROM seen WHERE candidate_id", n),
            &mut |r| {
                seen.insert(r.req_text(0)?, Some(r.req_int(1)? as u64));
                Ok(())
            },
        )?;

        // The extractions the chunk's first attachments of unattached candidates will
        // be filed under, when extracted before the chunk and not in the cache: read
        // back together. (One the log cannot give is read again, alone, when needed, for
        // a precise error.)
        let mut extracted_here: HashSet<&str> = HashSet::new();
        let mut wanted: BTreeSet<u64> = BTreeSet::new();
        for (_, fact) in chunk {
            match fact {
                Fact::Extracted(c) => {
                    extracted_here.insert(&c.candidate_id);
                }
                Fact::Attached { candidate_id, .. } => {
                    let id = candidate_id.as_str();
                    if extracted_here.contains(id) || matches!(self.rows.get(id), Some(Some(_))) {
                        continue;
                    }
                    if let Some(Some(seq)) = self.seen.get(id) {
                        let cached = self.cache.get(id).is_some_and(|(s, _)| s == seq);
                        if !cached {
                            wanted.insert(*seq);
                        }
                    }
                }
                Fact::Review { .. } => {}
            }
        }
        if !wanted.is_empty() {
            let seqs: Vec<u64> = wanted.into_iter().collect();
            if let Ok(events) = self.log.read_seqs(&seqs) {
                for ev in events {
                    let decoded = EventPayload::decode(&ev.kind, ev.schema_version, &ev.payload);
                    if let Ok(EventPayload::CandidateExtracted(c)) = decoded {
                        self.at_hand.insert(ev.seq, c);
                    }
                }
            }
        }
        Ok(())
    }

    /// Writes the rows the chunk changed and forgets the chunk.
    fn write(&mut self) -> Result<()> {
        let conn = self.conn;
        let mut seen: Vec<(&String, i64)> = self
            .seen_changed
            .iter()
            .filter_map(|c| Some((c, self.seen.get(c).copied().flatten()? as i64)))
            .collect();
        seen.sort();
        let args: Vec<Param<'_>> = seen
            .iter()
            .flat_map(|(c, seq)| [Param::Text(c), Param::Int(*seq)])
            .collect();
        in_chunks(
            conn,
            &args,
            2,
            |n| {
                values_statement(
                    "INSERT INTO seen(candidate_id, seq)",
                    "ON CONFLICT(candidate_id) DO UPDATE SET seq = excluded.seq",
                    n,
                    2,
                )
            },
            &mut |_| Ok(()),
        )?;

        let mut rows: Vec<(&String, &AttachedRow)> = self
            .rows_changed
            .iter()
            .filter_map(|c| Some((c, self.rows.get(c)?.as_ref()?)))
            .collect();
        rows.sort_by_key(|(_, r)| r.idx);
        let args: Vec<Param<'_>> = rows
            .iter()
            .flat_map(|(c, r)| {
                [
                    Param::Int(r.idx),
                    Param::Text(c),
                    Param::Text(&r.entity_id),
                    Param::from(r.seq),
                    Param::Int(r.keys_hash),
                    Param::from(r.form.as_deref()),
                ]
            })
            .collect();
        in_chunks(
            conn,
            &args,
            6,
            |n| {
                values_statement(
                    "INSERT INTO attached(idx, candidate_id, entity_id, seq, keys_hash, form)",
                    "ON CONFLICT(idx) DO UPDATE SET entity_id = excluded.entity_id, \
                     seq = excluded.seq, keys_hash = excluded.keys_hash, form = excluded.form",
                    n,
                    6,
                )
            },
            &mut |_| Ok(()),
        )?;

        let out: Vec<Param<'_>> = self
            .reviews
            .iter()
            .filter(|(_, r)| r.is_none())
            .map(|(c, _)| Param::Text(c))
            .collect();
        in_chunks(
            conn,
            &out,
            1,
            |n| in_statement("DELETE FROM in_review WHERE candidate_id", n),
            &mut |_| Ok(()),
        )?;
        let args: Vec<Param<'_>> = self
            .reviews
            .iter()
            .filter_map(|(c, r)| Some([Param::Text(c), Param::Text(r.as_deref()?)]))
            .flatten()
            .collect();
        in_chunks(
            conn,
            &args,
            2,
            |n| {
                values_statement(
                    "INSERT INTO in_review(candidate_id, review_id)",
                    "ON CONFLICT(candidate_id) DO UPDATE SET review_id = excluded.review_id",
                    n,
                    2,
                )
            },
            &mut |_| Ok(()),
        )?;

        self.rows.clear();
        self.rows_changed.clear();
        self.seen.clear();
        self.seen_changed.clear();
        self.reviews.clear();
        self.at_hand.clear();
        Ok(())
    }

    fn remember(&mut self, candidate_id: &str, seq: u64, filed: Filed) {
        if self.cache.len() >= FOLD_CACHE_CANDIDATES_MAX {
            self.cache.clear();
        }
        self.cache.insert(candidate_id.to_string(), (seq, filed));
    }

    /// What the extraction at `seq` of `candidate_id` is filed as: from the cache, the
    /// extractions at hand, or read back from the log.
    fn filed_at(&mut self, candidate_id: &str, seq: u64) -> Result<Filed> {
        if let Some((s, filed)) = self.cache.get(candidate_id) {
            if *s == seq {
                return Ok(filed.clone());
            }
        }
        let filed = match self.at_hand.get(&seq) {
            Some(c) if c.candidate_id == candidate_id => filed_of(c, self.cell_m),
            _ => filed_of(&extraction_at(self.log, self.path, seq)?, self.cell_m),
        };
        self.remember(candidate_id, seq, filed.clone());
        Ok(filed)
    }

    fn extracted(&mut self, seq: u64, c: CandidateExtracted) -> Result<()> {
        self.seen.insert(c.candidate_id.clone(), Some(seq));
        self.seen_changed.insert(c.candidate_id.clone());
        // Only an attached candidate's blocks change now; one attached later has them
        // computed then (from the cache when eager, else from the extraction at hand or
        // read back from the log).
        let Some(Some(row)) = self.rows.get(&c.candidate_id) else {
            if self.eager {
                let filed = filed_of(&c, self.cell_m);
                self.remember(&c.candidate_id, seq, filed);
            } else {
                self.at_hand.insert(seq, c);
            }
            return Ok(());
        };
        let (idx, old_hash, old_form) = (row.idx, row.keys_hash, row.form.clone());
        let filed = filed_of(&c, self.cell_m);
        let hash = keys_hash(&filed.keys);
        match &old_form {
            // Attached before it was ever extracted: filed now.
            None => self.add_keys(idx, &filed.keys),
            Some(_) if hash == old_hash => {}
            Some(old) => {
                let old = keys_of_form(old, self.path, self.cell_m)?;
                self.remove_keys(idx, &old);
                self.add_keys(idx, &filed.keys);
            }
        }
        if let Some(Some(row)) = self.rows.get_mut(&c.candidate_id) {
            row.seq = Some(seq as i64);
            row.keys_hash = hash;
            row.form = Some(filed.form);
        }
        self.rows_changed.insert(c.candidate_id);
        Ok(())
    }

    fn attached_to(&mut self, candidate_id: &str, entity_id: &str) -> Result<()> {
        self.reviews.insert(candidate_id.to_string(), None);
        self.rows_changed.insert(candidate_id.to_string());
        if let Some(Some(row)) = self.rows.get_mut(candidate_id) {
            // A move (a reviewer's answer): same index, same blocks.
            row.entity_id = entity_id.to_string();
            return Ok(());
        }
        let seq = self.seen.get(candidate_id).copied().flatten();
        let filed = match seq {
            Some(seq) => Some(self.filed_at(candidate_id, seq)?),
            None => None,
        };
        let keys: &[BlockKey] = filed.as_ref().map_or(&[], |f| &f.keys);
        let idx = self.counters.next_idx as i64;
        self.counters.next_idx += 1;
        self.add_keys(idx, keys);
        let row = AttachedRow {
            idx,
            entity_id: entity_id.to_string(),
            seq: seq.map(|s| s as i64),
            keys_hash: keys_hash(keys),
            form: filed.map(|f| f.form),
        };
        self.rows.insert(candidate_id.to_string(), Some(row));
        Ok(())
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

    /// How many of `cells` hold a posting.
    fn occupied(&self, cells: &[u64]) -> Result<u64> {
        let mut args: Vec<Param<'_>> = Vec::with_capacity(cells.len());
        args.extend(cells.iter().map(|&c| Param::Int(c as i64)));
        let mut n = 0u64;
        in_chunks(
            self.conn,
            &args,
            1,
            |rows| {
                // One index probe per cell: `DISTINCT key … IN (…)` read every posting of
                // each cell, and a dense cell holds thousands (a rebuild of a 1M-event
                // log on PostgreSQL spent minutes here). VALUES columns are `column1` on
                // both engines; the cast gives PostgreSQL the parameters' type. The cell
                // kind is spliced in: a constant.
                let values: Vec<String> = (1..=rows)
                    .map(|i| format!("(CAST(?{i} AS BIGINT))"))
                    .collect();
                format!(
                    "SELECT t.column1 FROM (VALUES {}) AS t WHERE EXISTS \
                     (SELECT 1 FROM postings WHERE kind = {} AND key = t.column1)",
                    values.join(", "),
                    BlockKind::Cell.code()
                )
            },
            &mut |_| {
                n += 1;
                Ok(())
            },
        )?;
        Ok(n)
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
        let cells: Vec<u64> = pending
            .iter()
            .filter(|((kind, _, _), _)| *kind == BlockKind::Cell.code())
            .map(|&((_, key, _), _)| key)
            .collect::<BTreeSet<u64>>()
            .into_iter()
            .collect();
        let occupied_before = self.occupied(&cells)?;
        // Removals one by one (a re-observation moving blocks: few), then the additions
        // in multi-row statements.
        let mut added: Vec<Param<'_>> = Vec::new();
        for ((kind, key, idx), present) in pending {
            if present {
                added.extend([
                    Param::Int(i64::from(kind)),
                    Param::Int(key as i64),
                    Param::Int(idx),
                ]);
            } else {
                self.conn.execute(
                    "DELETE FROM postings WHERE kind = ?1 AND key = ?2 AND idx = ?3",
                    params![i64::from(kind), key as i64, idx],
                )?;
            }
        }
        in_chunks(
            self.conn,
            &added,
            3,
            |n| {
                values_statement(
                    "INSERT INTO postings(kind, key, idx)",
                    "ON CONFLICT DO NOTHING",
                    n,
                    3,
                )
            },
            &mut |_| Ok(()),
        )?;
        let occupied_after = self.occupied(&cells)?;
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
