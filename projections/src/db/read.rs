//! One projection database: its meta rows, and what the reading commands ask of it. The
//! queries run on any [`Conn`]; opening and creating the SQLite file is at the end.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::DateTime;
use serde::Serialize;
use serde_json::Value;
use trustfold_events::{BlobHash, EventPayload, EventStore, Hash32, StoreError};

use super::rows::{decode_merged, search_words, EntityColumns};
use super::sql::{all, one, params, sqlite::SqliteConn, Conn, Row};
use super::{
    from_json, text_by_key, Meta, ProjectionError, Result, BUSY_TIMEOUT_MS, FORMAT_VERSION,
};
use crate::merge::{merge_entity, LossReason, MergedEntity};
use crate::policy::TrustPolicy;
use crate::state::{
    Candidate, EntityState, MergedAway, Observation, ProjectionEvent, ReviewRow, RunRow, Seen,
};

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

/// One projection database, on either engine.
pub struct ProjectionDb {
    pub(super) conn: Box<dyn Conn>,
    /// Where it is, for messages (the SQLite file, or the PostgreSQL schema).
    pub(super) path: PathBuf,
}

/// The columns of `candidates`, in the order [`candidate_from_row`] reads them.
pub(super) const CANDIDATE_COLUMNS: &str = "candidate_id, entity_id, follows, observed_seq, \
     source, name, payload_hash, record_hash, decided_by, seen_seq, seen_at_us, seen_run";

fn hash_column(row: &dyn Row, idx: usize) -> Result<Option<Hash32>> {
    Ok(row.blob(idx)?.and_then(|b| Hash32::from_slice(&b)))
}

/// A candidate from a row of [`CANDIDATE_COLUMNS`] (without its observation).
pub(super) fn candidate_from_row(row: &dyn Row) -> Result<Candidate> {
    let seen_seq = row.int(9)?;
    let seen_at = row.int(10)?;
    let seen = match (seen_seq, seen_at.and_then(DateTime::from_timestamp_micros)) {
        (Some(seq), Some(recorded_at)) => Some(Seen {
            seq: seq as u64,
            recorded_at,
            run_id: row.text(11)?,
        }),
        _ => None,
    };
    Ok(Candidate {
        candidate_id: row.req_text(0)?,
        entity_id: row.text(1)?,
        follows: row.text(2)?,
        observed_seq: row.int(3)?.map(|s| s as u64),
        observation: None,
        source: row.text(4)?,
        name: row.text(5)?,
        payload_hash: hash_column(row, 6)?,
        record_hash: hash_column(row, 7)?,
        decided_by: row.text(8)?,
        seen,
    })
}

/// The columns of `entities` that [`entity_from_row`] reads.
pub(super) const ENTITY_COLUMNS: &str = "entity_id, slug, founded_seq, updated_seq, sources, \
     completeness, overrides, merged";

/// An entity's merged values and its fold state (members not yet filled in).
pub(super) fn entity_from_row(path: &Path, row: &dyn Row) -> Result<(MergedEntity, EntityState)> {
    let entity_id = row.req_text(0)?;
    let slug = row.req_text(1)?;
    let founded_seq = row.req_int(2)? as u64;
    let updated_seq = row.req_int(3)? as u64;
    let sources = row.req_text(4)?;
    let completeness = row.req_int(5)? as u32;
    let overrides = row.text(6)?;
    let merged = row.req_text(7)?;
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
}

impl ProjectionDb {
    /// A projection database on an open connection (its schema selected), checked to be
    /// one by reading its meta table.
    pub(super) fn from_conn(conn: Box<dyn Conn>, location: PathBuf) -> Result<ProjectionDb> {
        let db = ProjectionDb {
            conn,
            path: location,
        };
        db.meta().map_err(|e| match e {
            ProjectionError::Postgres { detail, path, .. } => ProjectionError::Corrupt {
                path,
                detail: format!("not a projection schema ({detail})"),
            },
            other => other,
        })?;
        Ok(db)
    }

    /// Opens the SQLite database file at `path`.
    pub(super) fn open(path: &Path, write: bool) -> Result<ProjectionDb> {
        let sqlite_err = |source| ProjectionError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = if write {
            let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE
                | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX;
            rusqlite::Connection::open_with_flags(path, flags).map_err(sqlite_err)?
        } else {
            // Also on read-only media, where SQLite cannot create the WAL's `-shm` file.
            trustfold_events::sqlite::read_only_connection(path)?.0
        };
        conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(sqlite_err)?;
        let db = ProjectionDb {
            conn: Box::new(SqliteConn {
                conn,
                path: path.to_path_buf(),
            }),
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

    /// Creates a new SQLite database file at `path`, with its schema.
    pub(super) fn create(path: &Path) -> Result<ProjectionDb> {
        let conn = rusqlite::Connection::open(path).map_err(|source| ProjectionError::Sqlite {
            path: path.to_path_buf(),
            source,
        })?;
        let db = ProjectionDb {
            conn: Box::new(SqliteConn {
                conn,
                path: path.to_path_buf(),
            }),
            path: path.to_path_buf(),
        };
        // The file is unreferenced until the swap: nothing reads it while it is built, and
        // a crash leaves an orphan, not a torn table. So no journal while bulk loading.
        db.conn
            .batch("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-65536;")?;
        db.conn.batch(super::schema::SQLITE_TABLES)?;
        // The fold reads by these while it builds (the loader's lookups).
        db.conn.batch(super::schema::INDEXES)?;
        db.conn.execute(
            "INSERT INTO meta(key, value) VALUES ('format_version', ?1)",
            params![FORMAT_VERSION.to_string().as_str()],
        )?;
        Ok(db)
    }

    /// WAL mode and a durable file: the state in which a SQLite database is swapped in
    /// (a PostgreSQL schema is durable as it is).
    pub(super) fn finish_bulk(&mut self) -> Result<()> {
        match self.conn.engine() {
            super::sql::Engine::Sqlite => self
                .conn
                .batch("PRAGMA synchronous=FULL; PRAGMA journal_mode=WAL;"),
            super::sql::Engine::Postgres => Ok(()),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn get_meta(&self, key: &str) -> Result<Option<String>> {
        text_by_key(&*self.conn, "SELECT value FROM meta WHERE key = ?1", key)
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

    /// Writes meta rows on `conn` (in the caller's transaction, if any).
    pub(super) fn put_meta(conn: &dyn Conn, pairs: &[(&str, &str)]) -> Result<()> {
        for (k, v) in pairs {
            conn.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![*k, *v],
            )?;
        }
        Ok(())
    }

    /// Records `policy` as the one this database's values were merged with.
    pub(super) fn put_policy(conn: &dyn Conn, policy: &TrustPolicy) -> Result<()> {
        Self::put_meta(
            conn,
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
    pub(super) fn member_ids(conn: &dyn Conn, eid: &str) -> Result<BTreeSet<String>> {
        Ok(all(
            conn,
            "SELECT candidate_id FROM candidates WHERE entity_id = ?1",
            params![eid],
            |r| r.req_text(0),
        )?
        .into_iter()
        .collect())
    }

    /// One entity by exact id, with its members.
    pub(super) fn entity_by_id(
        conn: &dyn Conn,
        eid: &str,
    ) -> Result<Option<(MergedEntity, EntityState)>> {
        let path = conn.location().to_path_buf();
        let found = one(
            conn,
            &format!("SELECT {ENTITY_COLUMNS} FROM entities WHERE entity_id = ?1"),
            params![eid],
            |r| entity_from_row(&path, r),
        )?;
        let Some((m, mut state)) = found else {
            return Ok(None);
        };
        state.members = Self::member_ids(conn, eid)?;
        Ok(Some((m, state)))
    }

    /// The alias `key` is, if it is the id or slug of an entity merged into another (its
    /// `into` is the survivor). `None` for a live entity's key or an unknown one.
    pub fn alias(&self, key: &str) -> Result<Option<MergedAway>> {
        let exact = text_by_key(
            &*self.conn,
            "SELECT entity_id FROM entities WHERE entity_id = ?1 OR slug = ?1",
            key,
        )?;
        if exact.is_some() {
            return Ok(None);
        }
        let row = text_by_key(
            &*self.conn,
            "SELECT row FROM merged_entities WHERE entity_id = ?1 OR slug = ?1",
            key,
        )?;
        row.map(|r| from_json(&self.path, "merged entity", &r))
            .transpose()
    }

    /// One entity with its provenance left out, by id, slug or a unique id prefix; the id
    /// or slug of an entity merged away names its survivor (see [`ProjectionDb::alias`]).
    pub fn entity(&self, key: &str) -> Result<Option<(MergedEntity, EntityState)>> {
        let exact = text_by_key(
            &*self.conn,
            "SELECT entity_id FROM entities WHERE entity_id = ?1 OR slug = ?1",
            key,
        )?;
        let eid = match exact {
            Some(e) => Some(e),
            None if self.alias(key)?.is_some() => self.alias(key)?.map(|m| m.into),
            None if key.len() >= 6 => {
                // A unique prefix of an id, as git does for commits.
                let rows = all(
                    &*self.conn,
                    "SELECT entity_id FROM entities
                     WHERE substr(entity_id, 1, length(?1)) = ?1 LIMIT 2",
                    params![key],
                    |r| r.req_text(0),
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
            Some(eid) => Self::entity_by_id(&*self.conn, &eid),
            None => Ok(None),
        }
    }

    /// One entity merged again with every provenance row: its members' observations are
    /// read back from the log and merged under `policy` (the projection's own, for the
    /// same values as the table).
    pub fn entity_with_provenance(
        &self,
        key: &str,
        store: &dyn EventStore,
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
        store: &dyn EventStore,
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
        let words: Vec<String> = search.map(crate::values::fold_words).unwrap_or_default();
        let path = self.path.clone();
        let mut out = Vec::new();
        self.conn.each(
            &format!(
                "SELECT {ENTITY_COLUMNS}, name, locality, postcode FROM entities
                 ORDER BY sort_name, slug"
            ),
            &[],
            &mut |row| {
                if !words.is_empty() {
                    let name = row.text(8)?;
                    let locality = row.text(9)?;
                    let postcode = row.text(10)?;
                    let hay = search_words(
                        name.as_deref(),
                        &row.req_text(1)?,
                        locality.as_deref(),
                        postcode.as_deref(),
                    );
                    if !words
                        .iter()
                        .all(|w| hay.iter().any(|h| h.starts_with(w.as_str())))
                    {
                        return Ok(());
                    }
                }
                out.push(entity_from_row(&path, row)?.0);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Every run, oldest first (without the entities each touched: see [`Self::run`]).
    pub fn runs(&self) -> Result<Vec<RunRow>> {
        all(
            &*self.conn,
            "SELECT row FROM runs ORDER BY started_at, run_id",
            &[],
            |r| from_json(&self.path, "run", &r.req_text(0)?),
        )
    }

    /// One run by id or unique id prefix, with the entities it created or added to.
    pub fn run(&self, key: &str) -> Result<Option<RunRow>> {
        let exact = text_by_key(&*self.conn, super::fold::RUN_ROW, key)?;
        let row = match exact {
            Some(r) => Some(r),
            None if !key.is_empty() => {
                // A unique prefix, as git accepts for commits.
                let rows = all(
                    &*self.conn,
                    "SELECT row FROM runs WHERE substr(run_id, 1, length(?1)) = ?1 LIMIT 2",
                    params![key],
                    |r| r.req_text(0),
                )?;
                (rows.len() == 1).then(|| rows.into_iter().next()).flatten()
            }
            None => None,
        };
        let Some(row) = row else {
            return Ok(None);
        };
        let mut run: RunRow = from_json(&self.path, "run", &row)?;
        run.entities = all(
            &*self.conn,
            "SELECT entity_id, created FROM run_entities WHERE run_id = ?1",
            params![&run.run_id],
            |r| Ok((r.req_text(0)?, r.req_int(1)? != 0)),
        )?
        .into_iter()
        .collect();
        Ok(Some(run))
    }

    /// Reviews, oldest first; only the open ones unless `all`.
    pub fn reviews(&self, all_reviews: bool) -> Result<Vec<ReviewRow>> {
        all(
            &*self.conn,
            "SELECT row FROM reviews WHERE ?1 = 1 OR status = 'open' ORDER BY requested_seq",
            params![all_reviews],
            |r| from_json(&self.path, "review", &r.req_text(0)?),
        )
    }

    /// One candidate by id (without its observation).
    pub fn candidate(&self, candidate_id: &str) -> Result<Option<Candidate>> {
        candidate_by_id(&*self.conn, candidate_id)
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
        all(
            &*self.conn,
            "SELECT candidate_id FROM candidates WHERE payload_hash = ?1",
            params![payload.0.as_slice()],
            |r| r.req_text(0),
        )
    }

    /// One review by id.
    pub fn review(&self, review_id: &str) -> Result<Option<ReviewRow>> {
        let row = text_by_key(&*self.conn, super::fold::REVIEW_ROW, review_id)?;
        row.map(|r| from_json(&self.path, "review", &r)).transpose()
    }

    /// Every conflict, by entity name then field: the entities flagged in the table are
    /// merged again with provenance to name the values that disagree.
    pub fn conflicts(
        &self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
    ) -> Result<Vec<ConflictRow>> {
        let ids = all(
            &*self.conn,
            "SELECT entity_id FROM entities WHERE conflicts != '[]' ORDER BY sort_name, slug",
            &[],
            |r| r.req_text(0),
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

    /// Every table's rows as text, in a fixed order: for comparing two databases (also
    /// of two engines: each column is written by its declared type).
    pub fn dump(&self) -> Result<String> {
        let mut out = String::new();
        for (table, columns, order) in super::schema::DUMP {
            let names: Vec<&str> = columns.iter().map(|(n, _)| *n).collect();
            out.push_str(&format!("## {table}\n"));
            self.conn.each(
                &format!("SELECT {} FROM {table} ORDER BY {order}", names.join(", ")),
                &[],
                &mut |r| {
                    for (i, (_, kind)) in columns.iter().enumerate() {
                        let cell = match kind {
                            super::schema::Kind::Int => r.int(i)?.map(|v| v.to_string()),
                            super::schema::Kind::Real => r.real(i)?.map(|v| format!("{v:?}")),
                            super::schema::Kind::Text => r.text(i)?.map(|v| format!("{v:?}")),
                            super::schema::Kind::Blob => r
                                .blob(i)?
                                .map(|v| v.iter().map(|b| format!("{b:02x}")).collect::<String>()),
                        };
                        out.push_str(cell.as_deref().unwrap_or("NULL"));
                        out.push('|');
                    }
                    out.push('\n');
                    Ok(())
                },
            )?;
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

/// One candidate row by id, on any connection.
/// The alias row of an entity merged away, by its id.
pub(super) fn merged_by_id(conn: &dyn Conn, eid: &str) -> Result<Option<MergedAway>> {
    let row = text_by_key(
        conn,
        "SELECT row FROM merged_entities WHERE entity_id = ?1",
        eid,
    )?;
    row.map(|r| from_json(conn.location(), "merged entity", &r))
        .transpose()
}

/// The aliases whose survivor is `eid`.
pub(super) fn merged_into(conn: &dyn Conn, eid: &str) -> Result<Vec<MergedAway>> {
    let rows = all(
        conn,
        "SELECT row FROM merged_entities WHERE into_id = ?1",
        params![eid],
        |r| r.req_text(0),
    )?;
    rows.iter()
        .map(|r| from_json(conn.location(), "merged entity", r))
        .collect()
}

pub(super) fn candidate_by_id(conn: &dyn Conn, candidate_id: &str) -> Result<Option<Candidate>> {
    one(
        conn,
        &format!("SELECT {CANDIDATE_COLUMNS} FROM candidates WHERE candidate_id = ?1"),
        params![candidate_id],
        candidate_from_row,
    )
}

/// Reads the latest observation of each candidate back from the log (by its
/// `observed_seq`, in ascending order); candidates without one are left as they are.
pub(super) fn observe_all(store: &dyn EventStore, members: &mut [Candidate]) -> Result<()> {
    let mut seqs: Vec<u64> = members.iter().filter_map(|c| c.observed_seq).collect();
    seqs.sort_unstable();
    seqs.dedup();
    let events = store.read_seqs(&seqs)?;
    let mut by_seq: std::collections::HashMap<u64, Box<Observation>> =
        std::collections::HashMap::with_capacity(events.len());
    for ev in &events {
        by_seq.insert(ev.seq, Box::new(observation_of(ev)?));
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
