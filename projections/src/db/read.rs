//! One projection database: opening and creating it, its meta rows, and what the reading
//! commands ask of it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::DateTime;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use serde_json::Value;
use trustfold_events::{BlobHash, EventPayload, Hash32, SqliteEventStore, StoreError};

use super::rows::{decode_merged, search_words, EntityColumns};
use super::{
    from_json, sql, text_by_key, Meta, ProjectionError, Result, BUSY_TIMEOUT_MS, FORMAT_VERSION,
    SCHEMA,
};
use crate::merge::{merge_entity, LossReason, MergedEntity};
use crate::policy::TrustPolicy;
use crate::state::{Candidate, EntityState, Observation, ProjectionEvent, ReviewRow, RunRow, Seen};

/// One conflicting pair of values, as `trustfold conflicts` lists it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConflictRow {
    pub entity_id: String,
    pub slug: String,
    pub name: Option<String>,
    pub field: String,
    pub winner_source: String,
    pub winner_value: Value,
    pub winner_trust: f64,
    pub other_source: String,
    pub other_value: Value,
    pub other_trust: f64,
    pub other_candidate: String,
}

/// One projection database.
pub struct ProjectionDb {
    pub(super) conn: Connection,
    pub(super) path: PathBuf,
}

/// The columns of `candidates`, in the order [`candidate_from_row`] reads them.
pub(super) const CANDIDATE_COLUMNS: &str = "candidate_id, entity_id, follows, observed_seq, \
     source, name, payload_hash, record_hash, decided_by, seen_seq, seen_at_us, seen_run";

fn hash_column(row: &rusqlite::Row<'_>, idx: usize) -> rusqlite::Result<Option<Hash32>> {
    let bytes: Option<Vec<u8>> = row.get(idx)?;
    Ok(bytes.and_then(|b| Hash32::from_slice(&b)))
}

/// A candidate from a row of [`CANDIDATE_COLUMNS`] (without its observation).
pub(super) fn candidate_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Candidate> {
    let seen_seq: Option<i64> = row.get(9)?;
    let seen_at: Option<i64> = row.get(10)?;
    let seen = match (seen_seq, seen_at.and_then(DateTime::from_timestamp_micros)) {
        (Some(seq), Some(recorded_at)) => Some(Seen {
            seq: seq as u64,
            recorded_at,
            run_id: row.get(11)?,
        }),
        _ => None,
    };
    Ok(Candidate {
        candidate_id: row.get(0)?,
        entity_id: row.get(1)?,
        follows: row.get(2)?,
        observed_seq: row.get::<_, Option<i64>>(3)?.map(|s| s as u64),
        observation: None,
        source: row.get(4)?,
        name: row.get(5)?,
        payload_hash: hash_column(row, 6)?,
        record_hash: hash_column(row, 7)?,
        decided_by: row.get(8)?,
        seen,
    })
}

/// The columns of `entities` that [`entity_from_row`] reads.
pub(super) const ENTITY_COLUMNS: &str = "entity_id, slug, founded_seq, updated_seq, sources, \
     completeness, overrides, merged";

/// An entity's merged values and its fold state (members not yet filled in).
pub(super) fn entity_from_row(
    path: &Path,
    row: &rusqlite::Row<'_>,
) -> rusqlite::Result<Result<(MergedEntity, EntityState)>> {
    let entity_id: String = row.get(0)?;
    let slug: String = row.get(1)?;
    let founded_seq = row.get::<_, i64>(2)? as u64;
    let updated_seq = row.get::<_, i64>(3)? as u64;
    let sources: String = row.get(4)?;
    let completeness = row.get::<_, i64>(5)? as u32;
    let overrides: Option<String> = row.get(6)?;
    let merged: String = row.get(7)?;
    Ok((|| {
        let sources: Vec<String> = from_json(path, "entity sources", &sources)?;
        let m = decode_merged(
            EntityColumns {
                entity_id: &entity_id,
                slug: &slug,
                founded_seq,
                updated_seq,
                sources,
                completeness,
            },
            &merged,
        )
        .map_err(|detail| ProjectionError::Corrupt {
            path: path.to_path_buf(),
            detail: format!("the stored row of entity {entity_id} does not decode: {detail}"),
        })?;
        let overrides = match overrides {
            Some(text) => from_json(path, "entity overrides", &text)?,
            None => Default::default(),
        };
        let state = EntityState {
            entity_id,
            slug,
            founded_seq,
            members: BTreeSet::new(),
            overrides,
            updated_seq,
        };
        Ok((m, state))
    })())
}

impl ProjectionDb {
    pub(super) fn open(path: &Path, write: bool) -> Result<ProjectionDb> {
        let flags = if write {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = sql(path, Connection::open_with_flags(path, flags))?;
        sql(
            path,
            conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS)),
        )?;
        let db = ProjectionDb {
            conn,
            path: path.to_path_buf(),
        };
        // Reading the meta table proves the file is a projection database.
        db.meta().map_err(|e| match e {
            ProjectionError::Sqlite { source, .. } => ProjectionError::Corrupt {
                path: path.to_path_buf(),
                detail: format!("not a projection database ({source})"),
            },
            other => other,
        })?;
        Ok(db)
    }

    pub(super) fn create(path: &Path) -> Result<ProjectionDb> {
        let conn = sql(path, Connection::open(path))?;
        // The file is unreferenced until the swap: nothing reads it while it is built, and
        // a crash leaves an orphan, not a torn table. So no journal while bulk loading.
        sql(
            path,
            conn.execute_batch(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;",
            ),
        )?;
        sql(path, conn.execute_batch(SCHEMA))?;
        sql(
            path,
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('format_version', ?1)",
                [FORMAT_VERSION.to_string()],
            ),
        )?;
        Ok(ProjectionDb {
            conn,
            path: path.to_path_buf(),
        })
    }

    /// Indexes, WAL mode and a durable file: the state in which a database is swapped in.
    pub(super) fn finish_bulk(&mut self) -> Result<()> {
        let p = self.path.clone();
        sql(&p, self.conn.execute_batch(super::INDEXES))?;
        sql(
            &p,
            self.conn
                .execute_batch("PRAGMA synchronous=FULL; PRAGMA journal_mode=WAL;"),
        )?;
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn get_meta(&self, key: &str) -> Result<Option<String>> {
        text_by_key(
            &self.conn,
            &self.path,
            "SELECT value FROM meta WHERE key = ?1",
            key,
        )
    }

    pub(super) fn format_version(&self) -> Result<i64> {
        Ok(self
            .get_meta("format_version")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// A database of another format is not read: it must be rebuilt.
    pub(super) fn check_format(&self) -> Result<()> {
        let version = self.format_version()?;
        if version != FORMAT_VERSION {
            return Err(ProjectionError::Corrupt {
                path: self.path.clone(),
                detail: format!(
                    "built in projection format {version}; this build reads format {FORMAT_VERSION}"
                ),
            });
        }
        Ok(())
    }

    pub fn meta(&self) -> Result<Meta> {
        let get = |k: &str| -> Result<String> { Ok(self.get_meta(k)?.unwrap_or_default()) };
        Ok(Meta {
            checkpoint_seq: get("checkpoint_seq")?.parse().unwrap_or(0),
            checkpoint_hash: get("checkpoint_hash")?,
            policy_hash: get("policy_hash")?,
            policy_origin: get("policy_origin")?,
            built_at: get("built_at")?,
        })
    }

    /// Writes meta rows on `conn` (the database's connection or a transaction on it).
    pub(super) fn put_meta(conn: &Connection, path: &Path, pairs: &[(&str, &str)]) -> Result<()> {
        for (k, v) in pairs {
            sql(
                path,
                conn.execute(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![k, v],
                ),
            )?;
        }
        Ok(())
    }

    /// Records `policy` as the one this database's values were merged with.
    pub(super) fn put_policy(conn: &Connection, path: &Path, policy: &TrustPolicy) -> Result<()> {
        Self::put_meta(
            conn,
            path,
            &[
                ("policy_hash", policy.hash()),
                ("policy_origin", policy.origin()),
                ("policy_text", policy.text()),
                ("built_at", &chrono::Utc::now().to_rfc3339()),
            ],
        )
    }

    /// The policy this database was built with.
    pub fn stored_policy(&self, known_sources: &[&str]) -> Result<TrustPolicy> {
        let text = self.get_meta("policy_text")?.unwrap_or_default();
        let origin = self.get_meta("policy_origin")?.unwrap_or_default();
        TrustPolicy::parse(&text, &origin, known_sources).map_err(|source| {
            ProjectionError::StoredPolicy {
                path: self.path.clone(),
                source,
            }
        })
    }

    /// The ids of an entity's members (candidates whose `entity_id` it is).
    pub(super) fn member_ids(
        conn: &Connection,
        path: &Path,
        eid: &str,
    ) -> Result<BTreeSet<String>> {
        let mut stmt = sql(
            path,
            conn.prepare_cached("SELECT candidate_id FROM candidates WHERE entity_id = ?1"),
        )?;
        sql(
            path,
            stmt.query_map([eid], |r| r.get(0))
                .and_then(|it| it.collect::<rusqlite::Result<BTreeSet<String>>>()),
        )
    }

    /// One entity by exact id, with its members.
    pub(super) fn entity_by_id(
        conn: &Connection,
        path: &Path,
        eid: &str,
    ) -> Result<Option<(MergedEntity, EntityState)>> {
        let mut stmt = sql(
            path,
            conn.prepare_cached(&format!(
                "SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_id = ?1"
            )),
        )?;
        let found = sql(
            path,
            stmt.query_row([eid], |r| entity_from_row(path, r))
                .optional(),
        )?;
        let Some(found) = found else {
            return Ok(None);
        };
        let (m, mut state) = found?;
        state.members = Self::member_ids(conn, path, eid)?;
        Ok(Some((m, state)))
    }

    /// One entity with its provenance left out, by id, slug or a unique id prefix.
    pub fn entity(&self, key: &str) -> Result<Option<(MergedEntity, EntityState)>> {
        let by_slug: Option<String> = text_by_key(
            &self.conn,
            &self.path,
            "SELECT entity_id FROM entities WHERE entity_id = ?1 OR slug = ?1",
            key,
        )?;
        let eid = match by_slug {
            Some(e) => Some(e),
            None if key.len() >= 6 => {
                // A unique prefix of an id, as git does for commits.
                let mut stmt = sql(
                    &self.path,
                    self.conn.prepare(
                        "SELECT entity_id FROM entities
                         WHERE substr(entity_id, 1, length(?1)) = ?1 LIMIT 2",
                    ),
                )?;
                let rows: Vec<String> = sql(
                    &self.path,
                    stmt.query_map([key], |r| r.get(0))
                        .and_then(|it| it.collect()),
                )?;
                if rows.len() == 1 {
                    rows.into_iter().next()
                } else {
                    None
                }
            }
            None => None,
        };
        match eid {
            Some(eid) => Self::entity_by_id(&self.conn, &self.path, &eid),
            None => Ok(None),
        }
    }

    /// One entity merged again with every provenance row: its members' observations are
    /// read back from the log and merged under `policy` (the projection's own, for the
    /// same values as the table).
    pub fn entity_with_provenance(
        &self,
        key: &str,
        store: &SqliteEventStore,
        policy: &TrustPolicy,
    ) -> Result<Option<MergedEntity>> {
        let Some((_, state)) = self.entity(key)? else {
            return Ok(None);
        };
        let mut members = Vec::with_capacity(state.members.len());
        for cid in &state.members {
            if let Some(c) = self.candidate(cid)? {
                members.push(c);
            }
        }
        observe_all(store, &mut members)?;
        let refs: Vec<&Candidate> = members.iter().collect();
        Ok(Some(merge_entity(&state, &refs, policy)))
    }

    /// A candidate with its latest observation read back from the log.
    pub fn candidate_observed(
        &self,
        candidate_id: &str,
        store: &SqliteEventStore,
    ) -> Result<Option<Candidate>> {
        let Some(c) = self.candidate(candidate_id)? else {
            return Ok(None);
        };
        let mut one = vec![c];
        observe_all(store, &mut one)?;
        Ok(one.pop())
    }

    /// Every entity (without provenance), by name; `search` filters on words of the name,
    /// slug, locality and postcode (all must match, each as a word prefix).
    pub fn entities(&self, search: Option<&str>) -> Result<Vec<MergedEntity>> {
        let mut stmt = sql(
            &self.path,
            self.conn.prepare(&format!(
                "SELECT {ENTITY_COLUMNS}, name, locality, postcode FROM entities
                 ORDER BY name COLLATE NOCASE, slug"
            )),
        )?;
        let words: Vec<String> = search.map(crate::values::fold_words).unwrap_or_default();
        let path = self.path.clone();
        let mut out = Vec::new();
        let mut rows = sql(&path, stmt.query([]))?;
        while let Some(row) = sql(&path, rows.next())? {
            if !words.is_empty() {
                let slug: String = sql(&path, row.get(1))?;
                let name: Option<String> = sql(&path, row.get(8))?;
                let locality: Option<String> = sql(&path, row.get(9))?;
                let postcode: Option<String> = sql(&path, row.get(10))?;
                let hay = search_words(
                    name.as_deref(),
                    &slug,
                    locality.as_deref(),
                    postcode.as_deref(),
                );
                if !words
                    .iter()
                    .all(|w| hay.iter().any(|h| h.starts_with(w.as_str())))
                {
                    continue;
                }
            }
            let (m, _) = sql(&path, entity_from_row(&path, row))??;
            out.push(m);
        }
        Ok(out)
    }

    /// Every run, oldest first (without the entities each touched: see [`Self::run`]).
    pub fn runs(&self) -> Result<Vec<RunRow>> {
        let mut stmt = sql(
            &self.path,
            self.conn
                .prepare("SELECT row FROM runs ORDER BY started_at, run_id"),
        )?;
        let rows = sql(
            &self.path,
            stmt.query_map([], |r| r.get::<_, String>(0))
                .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
        )?;
        rows.iter()
            .map(|r| from_json(&self.path, "run", r))
            .collect()
    }

    /// One run by id or unique id prefix, with the entities it created or added to.
    pub fn run(&self, key: &str) -> Result<Option<RunRow>> {
        let exact = text_by_key(&self.conn, &self.path, super::fold::RUN_ROW, key)?;
        let row = match exact {
            Some(r) => Some(r),
            None if !key.is_empty() => {
                // A unique prefix, as git accepts for commits.
                let mut stmt = sql(
                    &self.path,
                    self.conn.prepare(
                        "SELECT row FROM runs WHERE substr(run_id, 1, length(?1)) = ?1 LIMIT 2",
                    ),
                )?;
                let rows: Vec<String> = sql(
                    &self.path,
                    stmt.query_map([key], |r| r.get(0))
                        .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
                )?;
                (rows.len() == 1).then(|| rows.into_iter().next()).flatten()
            }
            None => None,
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let mut run: RunRow = from_json(&self.path, "run", &row)?;
        let mut stmt = sql(
            &self.path,
            self.conn
                .prepare_cached("SELECT entity_id, created FROM run_entities WHERE run_id = ?1"),
        )?;
        run.entities = sql(
            &self.path,
            stmt.query_map([&run.run_id], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? != 0))
            })
            .and_then(|it| it.collect()),
        )?;
        Ok(Some(run))
    }

    /// Reviews, oldest first; only the open ones unless `all`.
    pub fn reviews(&self, all: bool) -> Result<Vec<ReviewRow>> {
        let mut stmt = sql(
            &self.path,
            self.conn.prepare(
                "SELECT row FROM reviews WHERE ?1 OR status = 'open' ORDER BY requested_seq",
            ),
        )?;
        let rows = sql(
            &self.path,
            stmt.query_map([all], |r| r.get::<_, String>(0))
                .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
        )?;
        rows.iter()
            .map(|r| from_json(&self.path, "review", r))
            .collect()
    }

    /// One candidate by id (without its observation).
    pub fn candidate(&self, candidate_id: &str) -> Result<Option<Candidate>> {
        candidate_by_id(&self.conn, &self.path, candidate_id)
    }

    /// Candidates by id (those the projections know), for a writer that compares new
    /// records with their latest observations (record hash, payload, identity).
    pub fn candidates(&self, ids: &[&str]) -> Result<Vec<Candidate>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(c) = self.candidate(id)? {
                out.push(c);
            }
        }
        Ok(out)
    }

    /// The candidates whose latest observation came from `payload`.
    pub fn candidates_of_payload(&self, payload: &BlobHash) -> Result<Vec<String>> {
        let mut stmt = sql(
            &self.path,
            self.conn
                .prepare_cached("SELECT candidate_id FROM candidates WHERE payload_hash = ?1"),
        )?;
        sql(
            &self.path,
            stmt.query_map([payload.0.as_slice()], |r| r.get(0))
                .and_then(|it| it.collect()),
        )
    }

    /// One review by id.
    pub fn review(&self, review_id: &str) -> Result<Option<ReviewRow>> {
        let row = text_by_key(&self.conn, &self.path, super::fold::REVIEW_ROW, review_id)?;
        row.map(|r| from_json(&self.path, "review", &r)).transpose()
    }

    /// Every conflict, by entity name then field: the entities flagged in the table are
    /// merged again with provenance to name the values that disagree.
    pub fn conflicts(
        &self,
        store: &SqliteEventStore,
        policy: &TrustPolicy,
    ) -> Result<Vec<ConflictRow>> {
        let mut stmt = sql(
            &self.path,
            self.conn.prepare(
                "SELECT entity_id FROM entities WHERE conflicts != '[]'
                 ORDER BY name COLLATE NOCASE, slug",
            ),
        )?;
        let ids: Vec<String> = sql(
            &self.path,
            stmt.query_map([], |r| r.get(0))
                .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
        )?;
        let gap_max = policy.conflict_trust_gap_max();
        let mut out = Vec::new();
        for eid in ids {
            let Some(m) = self.entity_with_provenance(&eid, store, policy)? else {
                continue;
            };
            for field in m.conflicts() {
                let Some(win) = m.values.get(&field) else {
                    continue;
                };
                let mut seen_sources = std::collections::BTreeSet::new();
                for r in m.provenance.iter().filter(|r| {
                    r.field == field
                        && !r.winner
                        && !r.agrees
                        && matches!(
                            r.loss,
                            Some(l) if !matches!(l, LossReason::Excluded | LossReason::Placeholder)
                        )
                        && (win.trust - r.trust).abs() <= gap_max + 1e-9
                }) {
                    // One row per disagreeing source and value.
                    if !seen_sources.insert((r.source.clone(), r.value.to_string())) {
                        continue;
                    }
                    out.push(ConflictRow {
                        entity_id: m.entity_id.clone(),
                        slug: m.slug.clone(),
                        name: m.name().map(str::to_string),
                        field: field.as_str().to_string(),
                        winner_source: win.source.clone(),
                        winner_value: win.value.clone(),
                        winner_trust: win.trust,
                        other_source: r.source.clone(),
                        other_value: r.value.clone(),
                        other_trust: r.trust,
                        other_candidate: r.candidate_id.clone(),
                    });
                }
            }
        }
        Ok(out)
    }

    /// Every table's rows as text, in a fixed order: for comparing two databases.
    pub fn dump(&self) -> Result<String> {
        let mut out = String::new();
        for (table, order) in [
            ("candidates", "candidate_id"),
            ("entities", "entity_id"),
            ("runs", "run_id"),
            ("run_entities", "run_id, entity_id"),
            ("reviews", "review_id"),
        ] {
            let mut stmt = sql(
                &self.path,
                self.conn
                    .prepare(&format!("SELECT * FROM {table} ORDER BY {order}")),
            )?;
            let n = stmt.column_count();
            let rows = sql(
                &self.path,
                stmt.query_map([], |r| {
                    let mut line = String::new();
                    for i in 0..n {
                        let v: rusqlite::types::Value = r.get(i)?;
                        line.push_str(&format!("{v:?}|"));
                    }
                    Ok(line)
                })
                .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
            )?;
            out.push_str(&format!("## {table}\n"));
            for r in rows {
                out.push_str(&r);
                out.push('\n');
            }
        }
        Ok(out)
    }
}

/// `open`, `approved` or `rejected`.
pub fn review_status(r: &ReviewRow) -> &'static str {
    match r.decision {
        None => "open",
        Some(trustfold_events::ReviewDecision::Approved) => "approved",
        Some(trustfold_events::ReviewDecision::Rejected) => "rejected",
    }
}

/// One candidate row by id, on any connection (the database's or a transaction's).
pub(super) fn candidate_by_id(
    conn: &Connection,
    path: &Path,
    candidate_id: &str,
) -> Result<Option<Candidate>> {
    let mut stmt = sql(
        path,
        conn.prepare_cached(&format!(
            "SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE candidate_id = ?1"
        )),
    )?;
    sql(
        path,
        stmt.query_row([candidate_id], candidate_from_row)
            .optional(),
    )
}

/// Reads the latest observation of each candidate back from the log (by its
/// `observed_seq`, in ascending order); candidates without one are left as they are.
pub(super) fn observe_all(store: &SqliteEventStore, members: &mut [Candidate]) -> Result<()> {
    let mut seqs: Vec<u64> = members.iter().filter_map(|c| c.observed_seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let events = store.read_seqs(&seqs)?;
    let mut by_seq: std::collections::HashMap<u64, Observation> =
        std::collections::HashMap::with_capacity(events.len());
    for ev in &events {
        by_seq.insert(ev.seq, observation_of(ev)?);
    }
    for c in members.iter_mut() {
        if let Some(seq) = c.observed_seq {
            c.observation = by_seq.remove(&seq);
        }
    }
    Ok(())
}

/// The observation a stored `CandidateExtracted` records.
pub(super) fn observation_of(ev: &trustfold_events::StoredEvent) -> Result<Observation> {
    let seq = ev.seq;
    let pe =
        ProjectionEvent::from_stored(ev).map_err(|source| StoreError::Decode { seq, source })?;
    match pe.payload {
        Some(EventPayload::CandidateExtracted(p)) => Ok(Observation::from_event(
            p,
            seq,
            pe.recorded_at,
            pe.run_id,
            pe.trace_id,
        )),
        _ => Err(ProjectionError::Store(StoreError::Integrity(format!(
            "a projected candidate names seq {seq}, which is a {} event, not CandidateExtracted",
            ev.kind
        )))),
    }
}
