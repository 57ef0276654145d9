//! Folding the log into a database. There is one fold: load the rows the events touch,
//! `apply` them, write the rows that changed. The incremental catch-up runs it over the
//! events since the checkpoint; a full rebuild runs it over the whole log in slices of
//! [`REBUILD_SLICE_EVENTS`] into a fresh database, so its memory is one slice's rows
//! whatever the size of the log (ADR 0004), then merges every entity once. Entities are
//! merged through `merging.rs`.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use trustfold_events::{
    BlobHash, EventPayload, EventStore, MergeOutcome, RejectReason, StoreError, StoredEvent,
};

use super::merging::{merge_pass, Job};
use super::read::{candidate_by_id, candidate_from_row, ProjectionDb, CANDIDATE_COLUMNS};
use super::rows::EntityRow;
use super::sql::{all, params, Conn, Tx};
use super::{
    check_checkpoint, from_json, rate, text_by_key, to_json, FoldReport, Meta, Progress,
    ProjectionError, Result, PROGRESS_EVENTS,
};
use crate::policy::TrustPolicy;
use crate::state::{apply, Candidate, EntityState, ProjectionEvent, ReviewRow, RunRow, State};

// The stored JSON row of one review or run, by id.
pub(super) const REVIEW_ROW: &str = "SELECT row FROM reviews WHERE review_id = ?1";
pub(super) const RUN_ROW: &str = "SELECT row FROM runs WHERE run_id = ?1";

/// Events per chunk handed to the decoding thread.
pub const DECODE_CHUNK_EVENTS: usize = 512;

/// Entities per chunk of a merge pass: enough to keep a worker busy for a while, few
/// enough that a handful in flight stay small in memory.
pub const MERGE_CHUNK_ENTITIES: usize = 1024;

/// Events a rebuild folds in memory before writing their rows: what bounds its memory.
/// (At about 0.4 KB of rows per event folded, 100k events hold some 40 MB.)
pub const REBUILD_SLICE_EVENTS: u64 = 100_000;

fn decoder_gone() -> ProjectionError {
    ProjectionError::Store(StoreError::Integrity(
        "the decoding thread stopped early".into(),
    ))
}

/// Streams the events `from..=to` decoded for the projections to `each`, in order: the
/// store's reader thread steps SQLite, a decoding thread decodes chunks of events, and
/// the calling thread runs `each` (three stages at once on a multi-core machine).
fn for_each_decoded(
    store: &dyn EventStore,
    from: u64,
    to: u64,
    each: &mut dyn FnMut(ProjectionEvent, &StoredEvent) -> Result<()>,
) -> Result<()> {
    type Decoded = std::result::Result<Vec<(ProjectionEvent, StoredEvent)>, StoreError>;
    let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Vec<StoredEvent>>(4);
    let (dec_tx, dec_rx) = std::sync::mpsc::sync_channel::<Decoded>(4);
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(move || {
            for chunk in raw_rx {
                let decoded: Decoded = chunk
                    .into_iter()
                    .map(|mut ev| {
                        let pe = ProjectionEvent::from_stored(&ev).map_err(|source| {
                            StoreError::Decode {
                                seq: ev.seq,
                                source,
                            }
                        })?;
                        // Only the envelope is needed past decoding.
                        ev.payload = Vec::new();
                        Ok((pe, ev))
                    })
                    .collect();
                if dec_tx.send(decoded).is_err() {
                    return;
                }
            }
        });
        let mut apply_chunk = |chunk: Decoded| -> Result<()> {
            for (pe, ev) in chunk? {
                each(pe, &ev)?;
            }
            Ok(())
        };
        let mut in_flight = 0usize;
        let mut chunk = Vec::with_capacity(DECODE_CHUNK_EVENTS);
        // Checked as read: a tampered log stops the fold before it is folded.
        for ev in store.read_checked_from(from) {
            let ev = ev?;
            if ev.seq > to {
                break;
            }
            chunk.push(ev);
            if chunk.len() == DECODE_CHUNK_EVENTS {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(DECODE_CHUNK_EVENTS));
                // Keep the decoder a few chunks ahead; apply what it has finished.
                while in_flight >= 3 {
                    let done = dec_rx.recv().map_err(|_| decoder_gone())?;
                    in_flight -= 1;
                    apply_chunk(done)?;
                }
                raw_tx.send(full).map_err(|_| decoder_gone())?;
                in_flight += 1;
            }
        }
        if !chunk.is_empty() {
            raw_tx.send(chunk).map_err(|_| decoder_gone())?;
            in_flight += 1;
        }
        drop(raw_tx);
        while in_flight > 0 {
            let done = dec_rx.recv().map_err(|_| decoder_gone())?;
            in_flight -= 1;
            apply_chunk(done)?;
        }
        Ok(())
    })
}

/// Folds the whole log into a new, empty database: the catch-up, slice after slice,
/// with the entities' values left for one merge pass at the end (an entity touched in many
/// slices is merged once).
pub(super) fn build_fresh(
    mut db: ProjectionDb,
    store: &dyn EventStore,
    policy: &TrustPolicy,
    slice_events: u64,
    progress: Progress<'_>,
) -> Result<(ProjectionDb, FoldReport)> {
    let started = Instant::now();
    let total = store.head()?.map(|h| h.seq).unwrap_or(0);
    ProjectionDb::put_policy(&*db.conn, policy)?;
    let mut report = FoldReport {
        from_seq: 1,
        ..FoldReport::default()
    };
    while report.to_seq < total {
        let until = (report.to_seq + slice_events).min(total);
        let done = report.events;
        let slice = db.fold(store, policy, Some(until), false, &mut |n, _| {
            progress(done + n, total)
        })?;
        report.events += slice.events;
        report.to_seq = slice.to_seq;
        if slice.events == 0 {
            break;
        }
    }
    progress(report.events, total);
    report.entities_written = db.merge_all(store, policy)?;
    db.finish_bulk()?;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    report.events_per_s = rate(report.events, started.elapsed());
    Ok((db, report))
}

/// Merges the entities `ids` of `state` (members loaded, observations not needed) and
/// writes their rows, in the order given; with `merge` false, writes rows that hold the
/// entities' fold state only (a rebuild merges every entity once, at its end). Returns
/// how many were written.
fn write_entities(
    conn: &dyn Conn,
    store: &dyn EventStore,
    policy: &TrustPolicy,
    state: &State,
    ids: &[&String],
    merge: bool,
) -> Result<u64> {
    if !merge {
        for eid in ids {
            if let Some(es) = state.entities.get(*eid) {
                put_entity(conn, &EntityRow::unmerged(es))?;
            }
        }
        return Ok(ids.len() as u64);
    }
    let jobs = ids.chunks(MERGE_CHUNK_ENTITIES).map(|part| {
        Ok(part
            .iter()
            .filter_map(|eid| {
                let es = state.entities.get(*eid)?;
                let members = es
                    .members
                    .iter()
                    .filter_map(|c| state.candidates.get(c))
                    .map(|c| Candidate {
                        observation: None,
                        ..c.clone()
                    })
                    .collect();
                Some(Job {
                    entity: es.clone(),
                    members,
                    old: None,
                })
            })
            .collect())
    });
    let mut written = 0u64;
    merge_pass(store, policy, jobs, false, &mut |done| {
        for d in done {
            put_entity(conn, &d.row)?;
            written += 1;
        }
        Ok(())
    })?;
    Ok(written)
}

/// Writes one entity row (replacing the one of that id).
pub(super) fn put_entity(conn: &dyn Conn, r: &super::rows::EntityRow) -> Result<()> {
    conn.execute(
        "INSERT INTO entities(entity_id, slug, name, sort_name, entity_class, locality,
            postcode, lat, lon, sources, n_sources, completeness, conflicts, founded_seq,
            updated_seq, overrides, merged)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
         ON CONFLICT(entity_id) DO UPDATE SET slug = excluded.slug, name = excluded.name,
            sort_name = excluded.sort_name, entity_class = excluded.entity_class,
            locality = excluded.locality, postcode = excluded.postcode, lat = excluded.lat,
            lon = excluded.lon, sources = excluded.sources, n_sources = excluded.n_sources,
            completeness = excluded.completeness, conflicts = excluded.conflicts,
            founded_seq = excluded.founded_seq, updated_seq = excluded.updated_seq,
            overrides = excluded.overrides, merged = excluded.merged",
        params![
            &r.entity_id,
            &r.slug,
            &r.name,
            &r.sort_name,
            &r.entity_class,
            &r.locality,
            &r.postcode,
            r.lat,
            r.lon,
            &r.sources,
            r.n_sources,
            r.completeness,
            &r.conflicts,
            r.founded_seq,
            r.updated_seq,
            &r.overrides,
            &r.merged,
        ],
    )?;
    Ok(())
}

/// Writes the named candidate, run (with the entities each touched) and review rows,
/// taking their content from `state`.
fn write_plain_rows(
    conn: &dyn Conn,
    state: &State,
    candidates: &[&String],
    runs: &[&String],
    reviews: &[&String],
) -> Result<()> {
    for &cid in candidates {
        let Some(c) = state.candidates.get(cid) else {
            continue;
        };
        let payload = c.payload_hash.map(|h| h.0);
        let record = c.record_hash.map(|h| h.0);
        conn.execute(
            &format!(
                "INSERT INTO candidates({CANDIDATE_COLUMNS})
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                 ON CONFLICT(candidate_id) DO UPDATE SET entity_id = excluded.entity_id,
                    follows = excluded.follows, observed_seq = excluded.observed_seq,
                    source = excluded.source, name = excluded.name,
                    payload_hash = excluded.payload_hash, record_hash = excluded.record_hash,
                    decided_by = excluded.decided_by, seen_seq = excluded.seen_seq,
                    seen_at_us = excluded.seen_at_us, seen_run = excluded.seen_run"
            ),
            params![
                cid,
                &c.entity_id,
                &c.follows,
                c.observed_seq,
                &c.source,
                &c.name,
                payload.as_ref().map(|h| &h[..]),
                record.as_ref().map(|h| &h[..]),
                &c.decided_by,
                c.seen.as_ref().map(|s| s.seq),
                c.seen.as_ref().map(|s| s.recorded_at.timestamp_micros()),
                c.seen.as_ref().and_then(|s| s.run_id.as_ref()),
            ],
        )?;
    }
    for &rid in runs {
        let Some(r) = state.runs.get(rid) else {
            continue;
        };
        conn.execute(
            "INSERT INTO runs(run_id, started_at, status, row) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(run_id) DO UPDATE SET started_at = excluded.started_at,
                status = excluded.status, row = excluded.row",
            params![
                rid,
                r.started_at.to_rfc3339().as_str(),
                r.status.as_str(),
                to_json(r).as_str()
            ],
        )?;
        // `created` only ever goes from 0 to 1: a run that founded an entity and saw it
        // again still founded it, whichever slice of the log each fact was folded in.
        for (eid, created) in &r.entities {
            conn.execute(
                "INSERT INTO run_entities(run_id, entity_id, created) VALUES (?1, ?2, ?3)
                 ON CONFLICT(run_id, entity_id) DO UPDATE SET created =
                    CASE WHEN excluded.created > run_entities.created
                         THEN excluded.created ELSE run_entities.created END",
                params![rid, eid, *created],
            )?;
        }
    }
    for &rid in reviews {
        if let Some(r) = state.reviews.get(rid) {
            conn.execute(
                "INSERT INTO reviews(review_id, status, requested_seq, row) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(review_id) DO UPDATE SET status = excluded.status,
                    requested_seq = excluded.requested_seq, row = excluded.row",
                params![
                    rid,
                    super::read::review_status(r),
                    r.requested_seq,
                    to_json(r).as_str()
                ],
            )?;
        }
    }
    Ok(())
}

impl ProjectionDb {
    /// Folds the events after the checkpoint (up to `until`, or the head), loading only
    /// the rows they touch, and merges the entities they changed unless `merge` is false.
    pub(super) fn fold(
        &mut self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
        until: Option<u64>,
        merge: bool,
        progress: Progress<'_>,
    ) -> Result<FoldReport> {
        let started = Instant::now();
        let meta: Meta = self.meta()?;
        check_checkpoint(&self.path, &meta, store)?;
        let head_seq = store.head()?.map_or(0, |h| h.seq);
        let last = until.map_or(head_seq, |u| u.min(head_seq));
        let mut report = FoldReport {
            from_seq: meta.checkpoint_seq + 1,
            to_seq: meta.checkpoint_seq,
            ..FoldReport::default()
        };
        if last <= meta.checkpoint_seq {
            return Ok(report);
        }
        let total = last - meta.checkpoint_seq;
        let conn = &*self.conn;
        let tx = Tx::begin(conn, true)?;
        let mut loader = Loader {
            conn,
            loaded: HashSet::new(),
        };
        // No observations are kept: entities are merged from observations read back
        // from the log.
        let mut state = State {
            last_seq: meta.checkpoint_seq,
            light: true,
            ..State::default()
        };
        let mut last_hash = meta.checkpoint_hash.clone();
        for_each_decoded(store, meta.checkpoint_seq + 1, last, &mut |pe, ev| {
            loader.preload(&mut state, &pe)?;
            apply(&mut state, pe);
            last_hash = ev.hash.to_hex();
            report.events += 1;
            report.to_seq = ev.seq;
            if report.events.is_multiple_of(PROGRESS_EVENTS) {
                progress(report.events, total);
            }
            Ok(())
        })?;
        progress(report.events, total);
        // Every member of a changed entity is needed to merge it.
        let dirty: Vec<String> = state.dirty_entities.iter().cloned().collect();
        if merge {
            for eid in &dirty {
                loader.load_members(&mut state, eid)?;
            }
        }
        write_plain_rows(
            conn,
            &state,
            &state.dirty_candidates.iter().collect::<Vec<_>>(),
            &state.dirty_runs.iter().collect::<Vec<_>>(),
            &state.dirty_reviews.iter().collect::<Vec<_>>(),
        )?;
        let ids: Vec<&String> = state.dirty_entities.iter().collect();
        write_merged(
            conn,
            &state,
            &state.dirty_merged.iter().collect::<Vec<_>>(),
            &ids,
        )?;
        report.entities_written = write_entities(conn, store, policy, &state, &ids, merge)?;
        ProjectionDb::put_meta(
            conn,
            &[
                ("checkpoint_seq", &report.to_seq.to_string()),
                ("checkpoint_hash", &last_hash),
            ],
        )?;
        tx.commit()?;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        report.events_per_s = rate(report.events, started.elapsed());
        Ok(report)
    }

    /// Folds the events after the checkpoint and merges the entities they changed.
    pub(super) fn catch_up(
        &mut self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
        progress: Progress<'_>,
    ) -> Result<FoldReport> {
        self.fold(store, policy, None, true, progress)
    }

    /// Merges every entity of the database under `policy` and writes its row (the end of
    /// a rebuild). Returns how many.
    fn merge_all(&mut self, store: &dyn EventStore, policy: &TrustPolicy) -> Result<u64> {
        let conn = &*self.conn;
        let tx = Tx::begin(conn, true)?;
        let ids = all(
            conn,
            "SELECT entity_id FROM entities ORDER BY entity_id",
            &[],
            |r| r.req_text(0),
        )?;
        let jobs = ids
            .chunks(MERGE_CHUNK_ENTITIES)
            .map(|part| jobs_from_db(conn, part, false));
        let mut written = 0u64;
        merge_pass(store, policy, jobs, false, &mut |done| {
            for d in done {
                put_entity(conn, &d.row)?;
                written += 1;
            }
            Ok(())
        })?;
        tx.commit()?;
        Ok(written)
    }
}

/// Loads, for the incremental path, the rows an event touches.
struct Loader<'c> {
    conn: &'c dyn Conn,
    /// Keys already looked up ("c:<id>", "e:<id>", "r:<id>", "s:<base>", "m:<entity>",
    /// "p:<payload>").
    loaded: HashSet<String>,
}

impl Loader<'_> {
    fn preload(&mut self, state: &mut State, ev: &ProjectionEvent) -> Result<()> {
        if let Some(run) = &ev.run_id {
            self.load_run(state, run)?;
        }
        let Some(payload) = &ev.payload else {
            return Ok(());
        };
        match payload {
            EventPayload::CandidateExtracted(p) => {
                self.load_candidate(state, &p.candidate_id)?;
                // Its old payload's set must be loaded for the move to be recorded in it.
                let old = state
                    .candidates
                    .get(&p.candidate_id)
                    .and_then(|c| c.payload_hash);
                if let Some(old) = old {
                    self.load_payload(state, &old)?;
                }
                self.load_payload(state, &p.payload_hash)?;
            }
            EventPayload::CandidateAccepted(p) => self.load_candidate(state, &p.candidate_id)?,
            EventPayload::CandidatesSeenAgain(p) => {
                for h in &p.earlier_payloads {
                    self.load_payload(state, h)?;
                }
            }
            EventPayload::CandidateRejected(p) if p.reason == RejectReason::DuplicateInSource => {
                self.load_candidate(state, &p.candidate_id)?;
                if let Some(leader) = &p.duplicate_of {
                    self.load_candidate(state, leader)?;
                }
            }
            EventPayload::MergeDecided(p) => {
                self.load_candidate(state, &p.candidate_id)?;
                match &p.decision {
                    MergeOutcome::NewEntity { entity_id } => {
                        self.load_merged(state, entity_id)?;
                        if let Some(into) = state.merged.get(entity_id).map(|m| m.into.clone()) {
                            self.load_entity(state, &into)?;
                        }
                        self.load_entity(state, entity_id)?;
                        // The slug comes from the founding record's name.
                        let base = state.founding_slug_base(&p.candidate_id, entity_id);
                        self.load_slugs(state, &base)?;
                    }
                    MergeOutcome::ExistingEntity { entity_id } => {
                        self.load_merged(state, entity_id)?;
                        match state.merged.get(entity_id).map(|m| m.into.clone()) {
                            Some(into) => self.load_entity(state, &into)?,
                            None => self.load_entity(state, entity_id)?,
                        }
                    }
                    MergeOutcome::NeedsReview { .. } => {}
                }
            }
            EventPayload::FieldOverridden(p) => self.load_entity(state, &p.entity_id)?,
            EventPayload::EntitySplit(p) => self.load_entity(state, &p.entity_id)?,
            EventPayload::EntitiesMerged(p) => {
                self.load_merged(state, &p.entity_id)?;
                let into = state
                    .merged
                    .get(&p.entity_id)
                    .map_or(p.entity_id.clone(), |m| m.into.clone());
                self.load_entity(state, &into)?;
                self.load_entity(state, &p.merged_entity_id)?;
                // Its members with the records that repeat them: any left join the
                // survivor, their repeats with them.
                let members: Vec<String> = state
                    .entities
                    .get(&p.merged_entity_id)
                    .map(|e| e.members.iter().cloned().collect())
                    .unwrap_or_default();
                for cid in members {
                    self.load_candidate(state, &cid)?;
                }
                self.load_aliases_of(state, &p.merged_entity_id)?;
            }
            EventPayload::ReviewRequested(p) => self.load_review(state, &p.review_id)?,
            EventPayload::ReviewResolved(p) => self.load_review(state, &p.review_id)?,
            _ => {}
        }
        Ok(())
    }

    fn first_time(&mut self, key: String) -> bool {
        self.loaded.insert(key)
    }

    fn load_review(&mut self, state: &mut State, review_id: &str) -> Result<()> {
        if state.reviews.contains_key(review_id) || !self.first_time(format!("v:{review_id}")) {
            return Ok(());
        }
        let row = text_by_key(self.conn, REVIEW_ROW, review_id)?;
        if let Some(row) = row {
            let r: ReviewRow = from_json(self.conn.location(), "review", &row)?;
            state.reviews.insert(review_id.to_string(), r);
        }
        Ok(())
    }

    fn load_run(&mut self, state: &mut State, run_id: &str) -> Result<()> {
        if state.runs.contains_key(run_id) || !self.first_time(format!("r:{run_id}")) {
            return Ok(());
        }
        let row = text_by_key(self.conn, RUN_ROW, run_id)?;
        if let Some(row) = row {
            // The run's entities stay in `run_entities`: only the ones this slice adds
            // are written, merged in with an upsert.
            let r: RunRow = from_json(self.conn.location(), "run", &row)?;
            state.runs.insert(run_id.to_string(), r);
        }
        Ok(())
    }

    /// Puts a candidate row into the state (unless already there).
    fn insert_row(&mut self, state: &mut State, c: Candidate) {
        if let Some(leader) = &c.follows {
            state
                .followers
                .entry(leader.clone())
                .or_default()
                .insert(c.candidate_id.clone());
        }
        state.candidates.insert(c.candidate_id.clone(), c);
    }

    /// Loads a candidate, the candidates that follow it (transitively) and its entity.
    fn load_candidate(&mut self, state: &mut State, cid: &str) -> Result<()> {
        let mut todo = vec![cid.to_string()];
        while let Some(c) = todo.pop() {
            if !self.first_time(format!("c:{c}")) {
                continue;
            }
            if !state.candidates.contains_key(&c) {
                if let Some(cand) = candidate_by_id(self.conn, &c)? {
                    self.insert_row(state, cand);
                }
            }
            // (Also for a row a payload brought in, which came without its entity.)
            let entity = state.candidates.get(&c).and_then(|k| k.entity_id.clone());
            if let Some(eid) = entity {
                self.load_entity(state, &eid)?;
            }
            let followers = all(
                self.conn,
                "SELECT candidate_id FROM candidates WHERE follows = ?1",
                params![&c],
                |r| r.req_text(0),
            )?;
            for f in followers {
                // A follower this slice already pointed at another record follows that one
                // now (its row in the database is older than the state's).
                let moved = state
                    .candidates
                    .get(&f)
                    .is_some_and(|k| k.follows.as_deref() != Some(c.as_str()));
                if moved {
                    continue;
                }
                state
                    .followers
                    .entry(c.clone())
                    .or_default()
                    .insert(f.clone());
                todo.push(f);
            }
        }
        Ok(())
    }

    fn load_entity(&mut self, state: &mut State, eid: &str) -> Result<()> {
        if state.entities.contains_key(eid) || !self.first_time(format!("e:{eid}")) {
            return Ok(());
        }
        if let Some((_, mut e)) = ProjectionDb::entity_by_id(self.conn, eid)? {
            // A member this slice already moved elsewhere is no longer a member.
            e.members.retain(|c| {
                state
                    .candidates
                    .get(c)
                    .is_none_or(|cand| cand.entity_id.as_deref() == Some(eid))
            });
            state.slugs.insert(e.slug.clone());
            state.entities.insert(eid.to_string(), e);
        }
        Ok(())
    }

    /// Loads every member candidate of an entity (needed to merge it).
    fn load_members(&mut self, state: &mut State, eid: &str) -> Result<()> {
        if !self.first_time(format!("m:{eid}")) {
            return Ok(());
        }
        let members: Vec<String> = state
            .entities
            .get(eid)
            .map(|e| e.members.iter().cloned().collect())
            .unwrap_or_default();
        for cid in members {
            if !state.candidates.contains_key(&cid) {
                if let Some(c) = candidate_by_id(self.conn, &cid)? {
                    self.insert_row(state, c);
                }
            }
        }
        Ok(())
    }

    /// Loads the candidates whose latest observation came from `payload` (as the stored
    /// rows have it; a candidate this slice already changed keeps its state).
    fn load_payload(&mut self, state: &mut State, payload: &BlobHash) -> Result<()> {
        if !self.first_time(format!("p:{}", payload.to_hex())) {
            return Ok(());
        }
        let rows = all(
            self.conn,
            &format!("SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE payload_hash = ?1"),
            params![payload.0.as_slice()],
            candidate_from_row,
        )?;
        let mut members = BTreeSet::new();
        for c in rows {
            let cid = c.candidate_id.clone();
            match state.candidates.get(&cid) {
                Some(known) if known.payload_hash != Some(*payload) => continue,
                Some(_) => {}
                None => {
                    // Its followers and entity are not needed to mark it seen again; an
                    // event that needs them still loads them (`load_candidate`).
                    self.insert_row(state, c);
                }
            }
            members.insert(cid);
        }
        state
            .by_payload
            .entry(*payload)
            .or_default()
            .extend(members);
        Ok(())
    }

    /// Loads the taken slugs `base` and `base-<n>`.
    fn load_slugs(&mut self, state: &mut State, base: &str) -> Result<()> {
        if !self.first_time(format!("s:{base}")) {
            return Ok(());
        }
        let slugs = all(
            self.conn,
            "SELECT slug FROM entities WHERE slug = ?1 OR (slug > ?1 || '-' AND slug < ?1 || '.')
             UNION ALL
             SELECT slug FROM merged_entities
             WHERE slug = ?1 OR (slug > ?1 || '-' AND slug < ?1 || '.')",
            params![base],
            |r| r.req_text(0),
        )?;
        state.slugs.extend(slugs);
        Ok(())
    }

    /// Loads the alias row of `eid`, if it was merged away.
    fn load_merged(&mut self, state: &mut State, eid: &str) -> Result<()> {
        if state.merged.contains_key(eid) || !self.first_time(format!("a:{eid}")) {
            return Ok(());
        }
        if let Some(m) = super::read::merged_by_id(self.conn, eid)? {
            state.merged.insert(eid.to_string(), m);
        }
        Ok(())
    }

    /// Loads the aliases that name `eid` as their survivor (a merge of `eid` moves them).
    fn load_aliases_of(&mut self, state: &mut State, eid: &str) -> Result<()> {
        if !self.first_time(format!("i:{eid}")) {
            return Ok(());
        }
        for m in super::read::merged_into(self.conn, eid)? {
            state.merged.entry(m.entity_id.clone()).or_insert(m);
        }
        Ok(())
    }
}

/// Writes the named aliases, and deletes the rows of the entities among `entities` that
/// were merged away (dirty and no longer entities).
fn write_merged(
    conn: &dyn Conn,
    state: &State,
    merged: &[&String],
    entities: &[&String],
) -> Result<()> {
    for &eid in merged {
        let Some(m) = state.merged.get(eid) else {
            continue;
        };
        conn.execute(
            "INSERT INTO merged_entities(entity_id, slug, into_id, merged_seq, row)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(entity_id) DO UPDATE SET slug = excluded.slug,
                into_id = excluded.into_id, merged_seq = excluded.merged_seq,
                row = excluded.row",
            params![eid, &m.slug, &m.into, m.seq, to_json(m).as_str()],
        )?;
    }
    for &eid in entities {
        if !state.entities.contains_key(eid) && state.merged.contains_key(eid) {
            conn.execute("DELETE FROM entities WHERE entity_id = ?1", params![eid])?;
        }
    }
    Ok(())
}

/// The stored row of an entity as text, for telling whether merging again changed it
/// (and decoding it only then).
pub(crate) struct StoredRow {
    pub sources: String,
    pub completeness: u32,
    pub merged: String,
}

/// The entity states and members (without observations) of `ids` (sorted), read from the
/// database with two range reads over the chunk's span of ids: the input of a re-merge or
/// a dry run. With `with_old`, each job carries its stored row.
pub(super) fn jobs_from_db(conn: &dyn Conn, ids: &[String], with_old: bool) -> Result<Vec<Job>> {
    let (Some(first), Some(last)) = (ids.first(), ids.last()) else {
        return Ok(Vec::new());
    };
    let path = conn.location().to_path_buf();
    let wanted = |eid: &str| ids.binary_search_by(|i| i.as_str().cmp(eid)).is_ok();
    let mut members: std::collections::HashMap<String, Vec<Candidate>> =
        std::collections::HashMap::with_capacity(ids.len());
    conn.each(
        &format!(
            "SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE entity_id >= ?1 AND entity_id <= ?2"
        ),
        params![first, last],
        &mut |row| {
            let c = candidate_from_row(row)?;
            if let Some(eid) = c.entity_id.as_deref().filter(|e| wanted(e)) {
                members.entry(eid.to_string()).or_default().push(c);
            }
            Ok(())
        },
    )?;
    let mut out = Vec::with_capacity(ids.len());
    conn.each(
        "SELECT entity_id, slug, founded_seq, updated_seq, overrides, sources, completeness,
                merged
         FROM entities WHERE entity_id >= ?1 AND entity_id <= ?2 ORDER BY entity_id",
        params![first, last],
        &mut |row| {
            let eid = row.req_text(0)?;
            if !wanted(&eid) {
                return Ok(());
            }
            let overrides = match row.text(4)? {
                Some(text) => from_json(&path, "entity overrides", &text)?,
                None => Default::default(),
            };
            let members = members.remove(&eid).unwrap_or_default();
            let entity = EntityState {
                entity_id: eid,
                slug: row.req_text(1)?,
                founded_seq: row.req_int(2)? as u64,
                members: members.iter().map(|c| c.candidate_id.clone()).collect(),
                overrides,
                updated_seq: row.req_int(3)? as u64,
            };
            let old = if with_old {
                Some(StoredRow {
                    sources: row.req_text(5)?,
                    completeness: row.req_int(6)? as u32,
                    merged: row.req_text(7)?,
                })
            } else {
                None
            };
            out.push(Job {
                entity,
                members,
                old,
            });
            Ok(())
        },
    )?;
    Ok(out)
}
