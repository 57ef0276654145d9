//! A run's working index: the blocks its candidates' decisions can read, and the attached
//! candidates in them, read from the store.
//!
//! For each candidate of the run, `keys::lookups` lists every block a decision for it may
//! read. Each is read up to one member past its kind's read limit (`LIMIT max + 1`), so a
//! block that is "too common" is known as such without reading it. A name token's
//! city-wide list, when short enough to read, names every member and so gives its
//! (cell, token) blocks as well; only a token too common for that has its (cell, token)
//! blocks in the candidate's nine cells read one by one. The members found are loaded in
//! attach order from their stored matching forms, the blocks set from what was read, then
//! the counters: `decide` and `attach` then run on it as on the full index (see
//! `IdentityIndex::working`).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::Instant;

use trustfold_projections::db::sql::{self, params, Param};

use super::fold::read_counters;
use super::{in_chunks, in_statement, read_checkpoint, IdentityStoreError, Result, StoreDb};
use crate::resolve::form;
use crate::resolve::index::{has_own_id, Prepared};
use crate::resolve::keys::{self, cell_token_key, BlockKey, BlockKind, Lookups};
use crate::resolve::score::NO_ID;
use crate::resolve::{CandidateRef, IdentityIndex, MatchConfig};

/// A run's index, with what the store says about the run's candidates.
pub struct WorkingIndex {
    /// Decide and attach the run's candidates on this.
    pub index: IdentityIndex,
    /// The run's candidates whose last `MergeDecided` asks for a review: candidate id ->
    /// review id.
    pub in_review: HashMap<String, String>,
    /// The store's checkpoint the index reflects.
    pub checkpoint_seq: u64,
    /// Blocks read from the store.
    pub blocks_read: usize,
    /// Attached candidates loaded (read back from the log).
    pub candidates_loaded: usize,
    pub elapsed_ms: u64,
}

/// What one block read gave: its first members (global attach indices, ascending) or
/// that it has more than its kind's read limit.
struct Read {
    members: Vec<i64>,
    overflowed: bool,
}

pub(super) fn build(
    db: &StoreDb,
    candidates: &[CandidateRef<'_>],
    config: &MatchConfig,
) -> Result<WorkingIndex> {
    let started = Instant::now();
    let path = db.path.clone();
    let conn = &*db.conn;
    // One read transaction: every block and counter of one checkpoint, whatever another
    // process's catch-up commits meanwhile.
    let tx = db.begin_read()?;
    let checkpoint = read_checkpoint(conn)?;
    let common_max = config.common_token_max;

    let plans: Vec<Lookups> = candidates
        .iter()
        .map(|c| {
            let q = Prepared::new(c.fields, c.source, c.external_id, |_, _| NO_ID);
            keys::lookups(&q, has_own_id(c), config.cell_m)
        })
        .collect();

    let mut reads: BTreeMap<BlockKey, Read> = BTreeMap::new();
    {
        let read = |key: BlockKey, reads: &mut BTreeMap<BlockKey, Read>| -> Result<()> {
            if reads.contains_key(&key) {
                return Ok(());
            }
            let max = key.kind.read_max(common_max);
            // A record's block is read for its first member only; any other one past
            // its limit is "too common", which one more row tells.
            let limit = if key.kind == BlockKind::Record {
                1
            } else {
                max + 1
            };
            let members: Vec<i64> = sql::all(
                conn,
                "SELECT idx FROM postings WHERE kind = ?1 AND key = ?2 ORDER BY idx LIMIT ?3",
                params![i64::from(key.kind.code()), key.key as i64, limit as i64],
                |r| r.req_int(0),
            )?;
            let overflowed = key.kind != BlockKind::Record && members.len() > max;
            let members = if overflowed { Vec::new() } else { members };
            reads.insert(
                key,
                Read {
                    members,
                    overflowed,
                },
            );
            Ok(())
        };
        for plan in &plans {
            for &key in &plan.keys {
                read(key, &mut reads)?;
            }
        }
        // A token too common to read city-wide is read in the candidate's nine cells.
        for plan in &plans {
            for &token in &plan.cell_tokens {
                let overflowed = reads
                    .get(&BlockKey::new(BlockKind::Token, token))
                    .is_some_and(|r| r.overflowed);
                if overflowed {
                    for &cell in &plan.near {
                        read(
                            BlockKey::new(BlockKind::CellToken, cell_token_key(cell, token)),
                            &mut reads,
                        )?;
                    }
                }
            }
        }
    }

    // The run's own candidates: attached already (then loaded, so that the run sees
    // where they are), or waiting for a review.
    let mut own: Vec<i64> = Vec::new();
    let mut in_review = HashMap::new();
    {
        let names: BTreeSet<&str> = candidates.iter().map(|c| c.candidate_id).collect();
        let args: Vec<Param<'_>> = names.iter().map(|n| Param::Text(n)).collect();
        in_chunks(
            conn,
            &args,
            1,
            |n| {
                in_statement(
                    "SELECT idx FROM attached WHERE form IS NOT NULL AND candidate_id",
                    n,
                )
            },
            &mut |r| {
                own.push(r.req_int(0)?);
                Ok(())
            },
        )?;
        in_chunks(
            conn,
            &args,
            1,
            |n| {
                in_statement(
                    "SELECT candidate_id, review_id FROM in_review WHERE candidate_id",
                    n,
                )
            },
            &mut |r| {
                in_review.insert(r.req_text(0)?, r.req_text(1)?);
                Ok(())
            },
        )?;
    }

    // Every member of a block read whole, and the run's attached candidates, in attach
    // order: the working index keeps the full index's order.
    let needed: BTreeSet<i64> = reads
        .values()
        .flat_map(|r| r.members.iter().copied())
        .chain(own.iter().copied())
        .collect();
    let mut index = IdentityIndex::working(config.clone());
    // Global attach index -> (index here, cell hash).
    let mut local: HashMap<i64, (u32, u32)> = HashMap::with_capacity(needed.len());
    let corrupt = |detail: String| IdentityStoreError::Corrupt {
        path: path.clone(),
        detail,
    };
    let needed: Vec<Param<'_>> = needed.into_iter().map(Param::Int).collect();
    // Loaded several rows per statement, each statement's rows in attach order.
    let mut rows: Vec<(i64, String, String, Option<Vec<u8>>)> = Vec::with_capacity(needed.len());
    in_chunks(
        conn,
        &needed,
        1,
        |n| {
            format!(
                "{} ORDER BY idx",
                in_statement(
                    "SELECT idx, candidate_id, entity_id, form FROM attached WHERE idx",
                    n
                )
            )
        },
        &mut |r| {
            rows.push((r.req_int(0)?, r.req_text(1)?, r.req_text(2)?, r.blob(3)?));
            Ok(())
        },
    )?;
    let mut rows = rows.into_iter().peekable();
    for idx in needed.iter().map(|p| match p {
        Param::Int(i) => *i,
        _ => unreachable!("attach indices"),
    }) {
        let found = rows.next_if(|r| r.0 == idx);
        let Some((_, candidate_id, entity_id, Some(form))) = found else {
            return Err(corrupt(format!(
                "a block names attached candidate {idx}, which has no row with a matching form"
            )));
        };
        let (parts, _) = form::decode(&form)
            .map_err(|e| corrupt(format!("attached candidate {idx} ({candidate_id}): {e}")))?;
        local.insert(idx, index.add_unfiled(&candidate_id, &entity_id, parts));
    }

    let here = |idx: &i64| local[idx].0;
    for (key, read) in &reads {
        match key.kind {
            // Set below, from the keys' full forms the plans hold.
            BlockKind::Record | BlockKind::Token => {}
            _ => {
                let members: Vec<u32> = read.members.iter().map(here).collect();
                index.preset_block(*key, &members, read.overflowed);
            }
        }
    }
    let mut records_done = HashSet::new();
    let mut tokens_done = HashSet::new();
    for plan in &plans {
        for &record in &plan.records {
            if records_done.insert(record) {
                let first = reads
                    .get(&BlockKey::new(BlockKind::Record, record.0))
                    .and_then(|r| r.members.first())
                    .map(here);
                index.preset_record(record, first);
            }
        }
        for (text, hash) in &plan.tokens {
            if tokens_done.insert(*hash) {
                let Some(read) = reads.get(&BlockKey::new(BlockKind::Token, *hash)) else {
                    continue;
                };
                let members: Vec<(u32, u32)> = read.members.iter().map(|i| local[i]).collect();
                index.preset_token(text, &members, read.overflowed);
            }
        }
    }
    let counters = read_counters(conn)?;
    index.preset_counters(
        usize::try_from(counters.n_with_coordinates).unwrap_or(usize::MAX),
        usize::try_from(counters.n_cross_references).unwrap_or(usize::MAX),
        usize::try_from(counters.n_cells).unwrap_or(usize::MAX),
    );
    tx.commit()?;
    Ok(WorkingIndex {
        index,
        in_review,
        checkpoint_seq: checkpoint.seq,
        blocks_read: reads.len(),
        candidates_loaded: local.len(),
        elapsed_ms: started.elapsed().as_millis() as u64,
    })
}
