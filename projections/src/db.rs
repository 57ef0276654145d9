//! The projections on disk: one SQLite database holding the `entities`,
//! `field_provenance`, `conflicts` and `runs` tables, its checkpoint (the last seq folded,
//! with that event's hash) and the policy it was built with.
//!
//! Layout under `<data-dir>/projections/`:
//! ```text
//! CURRENT              the name of the live database, e.g. "p-0190….sqlite3"
//! p-<uuid>.sqlite3     the databases (WAL mode; one live, older ones removed after a swap)
//! LOCK                 held (flock) by whoever writes: a catch-up or the swap of a rebuild
//! ```
//! A rebuild writes a fresh database under a new name and then replaces `CURRENT` by
//! rename, so a reader opens either the old database or the new one, never half of one.
//! Each database has its own name, so no WAL file of an old database can ever be applied
//! to a new one.
//!
//! I/O lives here, at the edge: this module loads the rows an event touches into a
//! [`State`], calls the pure [`apply`], merges the changed entities with the pure
//! [`merge_entity`] and writes the rows back. The rebuild calls the same `apply` and
//! `merge_entity` over the whole log.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use trustfold_events::{
    EventPayload, EventStore, MergeOutcome, RejectReason, SqliteEventStore, StoreError,
};

use crate::fields::Field;
use crate::files;
use crate::merge::{merge_entity, merge_values, LossReason, MergedEntity};
use crate::policy::{PolicyError, TrustPolicy};
use crate::state::{
    apply, Candidate, CandidateRow, EntityState, Observation, ProjectionEvent, ReviewRow, RunRow,
    State,
};

/// The directory of the projections inside a data dir.
pub const PROJECTIONS_DIR: &str = "projections";
/// The schema this build writes; a database of another version is rebuilt, not read.
pub const FORMAT_VERSION: i64 = 3;
/// How long a writer waits for another writer's lock on the projections.
pub const LOCK_WAIT_MS_MAX: u64 = 120_000;
/// How long a reader waits on SQLite's busy lock.
pub const BUSY_TIMEOUT_MS: u64 = 30_000;
/// Events folded between two progress reports.
pub const PROGRESS_EVENTS: u64 = 50_000;

/// Errors of the projections. Each says what to do.
#[derive(Debug, thiserror::Error)]
pub enum ProjectionError {
    #[error("sqlite error on {path}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {detail}; run `trustfold rebuild-projections`")]
    Corrupt { path: PathBuf, detail: String },
    #[error("the policy stored in {path} no longer parses; run `trustfold rebuild-projections`")]
    StoredPolicy {
        path: PathBuf,
        #[source]
        source: PolicyError,
    },
    #[error(
        "another process holds {path} for more than {waited_ms} ms; try again when it finishes"
    )]
    Locked { path: PathBuf, waited_ms: u64 },
}

impl ProjectionError {
    /// Whether the error is about a damaged file or bad input (exit 2) rather than a
    /// runtime failure.
    pub fn is_bad_input(&self) -> bool {
        match self {
            ProjectionError::Corrupt { .. } | ProjectionError::StoredPolicy { .. } => true,
            ProjectionError::Store(e) => e.is_bad_input(),
            _ => false,
        }
    }

    /// Whether the log was found altered while folding it (exit 3).
    pub fn is_integrity(&self) -> bool {
        matches!(self, ProjectionError::Store(e) if e.is_integrity())
    }

    /// Whether the projections only cannot be written now (read-only media, permissions,
    /// a full disk): a reader can still read what is there.
    pub fn is_not_writable(&self) -> bool {
        match self {
            ProjectionError::Store(e) => matches!(
                e,
                StoreError::NotWritable { .. }
                    | StoreError::DiskFull { .. }
                    | StoreError::Unavailable { .. }
            ),
            ProjectionError::Io { source, .. } => matches!(
                source.kind(),
                std::io::ErrorKind::PermissionDenied
                    | std::io::ErrorKind::ReadOnlyFilesystem
                    | std::io::ErrorKind::StorageFull
            ),
            ProjectionError::Sqlite {
                source: rusqlite::Error::SqliteFailure(e, _),
                ..
            } => matches!(
                e.code,
                rusqlite::ErrorCode::ReadOnly
                    | rusqlite::ErrorCode::CannotOpen
                    | rusqlite::ErrorCode::PermissionDenied
                    | rusqlite::ErrorCode::DiskFull
            ),
            _ => false,
        }
    }
}

type Result<T> = std::result::Result<T, ProjectionError>;

fn sql<T>(path: &Path, r: rusqlite::Result<T>) -> Result<T> {
    r.map_err(|source| ProjectionError::Sqlite {
        path: path.to_path_buf(),
        source,
    })
}

fn io<T>(path: &Path, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|source| ProjectionError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn to_json<T: Serialize>(v: &T) -> String {
    // Plain data structs of strings, numbers and maps always serialise.
    serde_json::to_string(v).expect("projection rows serialise")
}

fn from_json<T: for<'de> Deserialize<'de>>(path: &Path, what: &str, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| ProjectionError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("a stored {what} row does not decode: {e}"),
    })
}

/// The one text column `query` (with `?1` bound to `key`) selects, if a row matches: the
/// point read every table here is loaded with.
fn text_by_key(conn: &Connection, path: &Path, query: &str, key: &str) -> Result<Option<String>> {
    sql(
        path,
        conn.prepare_cached(query)
            .and_then(|mut stmt| stmt.query_row([key], |r| r.get(0)).optional()),
    )
}

// The stored JSON row of one candidate, review or run, by id.
const CANDIDATE_ROW: &str = "SELECT row FROM candidates WHERE candidate_id = ?1";
const REVIEW_ROW: &str = "SELECT row FROM reviews WHERE review_id = ?1";
const RUN_ROW: &str = "SELECT row FROM runs WHERE run_id = ?1";

/// What a projection database says about itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Meta {
    pub checkpoint_seq: u64,
    /// Hash (hex) of the event at `checkpoint_seq`, to prove it is this log's event.
    pub checkpoint_hash: String,
    pub policy_hash: String,
    pub policy_origin: String,
    pub built_at: String,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    candidate_id TEXT PRIMARY KEY,
    entity_id TEXT,
    follows TEXT,
    row TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS entities (
    entity_id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    name TEXT,
    entity_class TEXT,
    locality TEXT,
    postcode TEXT,
    lat REAL,
    lon REAL,
    sources TEXT NOT NULL,
    n_sources INTEGER NOT NULL,
    completeness INTEGER NOT NULL,
    conflicts TEXT NOT NULL,
    founded_seq INTEGER NOT NULL,
    updated_seq INTEGER NOT NULL,
    search TEXT NOT NULL,
    merged TEXT NOT NULL,
    state TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    review_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    requested_seq INTEGER NOT NULL,
    row TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    status TEXT NOT NULL,
    row TEXT NOT NULL
);
";

/// Indexes, created after a rebuild's bulk load (faster than maintaining them row by row).
const INDEXES: &str = "
CREATE UNIQUE INDEX IF NOT EXISTS entities_slug ON entities(slug);
CREATE INDEX IF NOT EXISTS candidates_entity ON candidates(entity_id);
CREATE INDEX IF NOT EXISTS candidates_follows ON candidates(follows) WHERE follows IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_at);
";

/// The projections of one data dir.
#[derive(Clone, Debug)]
pub struct Projections {
    dir: PathBuf,
}

/// What a catch-up or rebuild did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct FoldReport {
    pub from_seq: u64,
    pub to_seq: u64,
    pub events: u64,
    pub entities_written: u64,
    pub elapsed_ms: u64,
    pub events_per_s: f64,
}

/// Progress callback: (events folded so far, events in total).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// An exclusive lock on the projections, released on drop.
struct WriteLock {
    _file: File,
}

impl Projections {
    pub fn new(data_dir: &Path) -> Projections {
        Projections {
            dir: data_dir.join(PROJECTIONS_DIR),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn current_file(&self) -> PathBuf {
        self.dir.join("CURRENT")
    }

    /// The live database's path, if one was built.
    pub fn current_path(&self) -> Result<Option<PathBuf>> {
        let pointer = self.current_file();
        match fs::read_to_string(&pointer) {
            Ok(name) => {
                let name = name.trim();
                let valid = name.starts_with("p-")
                    && name.ends_with(".sqlite3")
                    && !name.contains(['/', '\\'])
                    && name.len() < 100;
                if !valid {
                    return Err(ProjectionError::Corrupt {
                        path: pointer,
                        detail: format!("does not name a projection database ({name:?})"),
                    });
                }
                let path = self.dir.join(name);
                if !path.is_file() {
                    return Err(ProjectionError::Corrupt {
                        path: pointer,
                        detail: format!("names {name}, which does not exist"),
                    });
                }
                Ok(Some(path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ProjectionError::Io {
                path: pointer,
                source: e,
            }),
        }
    }

    /// Opens the live database for reading, if one was built.
    pub fn open_read(&self) -> Result<Option<ProjectionDb>> {
        let Some(path) = self.current_path()? else {
            return Ok(None);
        };
        let db = ProjectionDb::open(&path, false)?;
        let version = db.format_version()?;
        if version != FORMAT_VERSION {
            return Err(ProjectionError::Corrupt {
                path,
                detail: format!(
                    "built in projection format {version}; this build reads format {FORMAT_VERSION}"
                ),
            });
        }
        Ok(Some(db))
    }

    fn lock(&self) -> Result<WriteLock> {
        io(&self.dir, fs::create_dir_all(&self.dir))?;
        let path = self.dir.join("LOCK");
        let file = io(
            &path,
            fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path),
        )?;
        let started = Instant::now();
        loop {
            match file.try_lock() {
                Ok(()) => return Ok(WriteLock { _file: file }),
                Err(fs::TryLockError::WouldBlock) => {
                    if started.elapsed() > Duration::from_millis(LOCK_WAIT_MS_MAX) {
                        return Err(ProjectionError::Locked {
                            path,
                            waited_ms: LOCK_WAIT_MS_MAX,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(ProjectionError::Io { path, source: e })
                }
            }
        }
    }

    /// Folds the events appended since the checkpoint into the live database (building
    /// one with `policy` if none exists). The stored policy is used for the new events,
    /// so the table stays the fold of one policy; a changed policy shows as stale.
    pub fn catch_up(
        &self,
        store: &SqliteEventStore,
        policy: &TrustPolicy,
        known_sources: &[&str],
        progress: Progress<'_>,
    ) -> Result<FoldReport> {
        let Some(path) = self.current_path()? else {
            return self.rebuild(store, policy, progress);
        };
        let _lock = self.lock()?;
        // A rebuild may have swapped the database while we waited for the lock.
        let path = self.current_path()?.unwrap_or(path);
        files::remove_orphans(&self.dir, Some(&path));
        let mut db = ProjectionDb::open(&path, true)?;
        if db.format_version()? != FORMAT_VERSION {
            drop(db);
            drop(_lock);
            return self.rebuild(store, policy, progress);
        }
        let stored = db.stored_policy(known_sources)?;
        db.catch_up(store, &stored, progress)
    }

    /// Replays the whole log into a fresh database with `policy` and swaps it in.
    pub fn rebuild(
        &self,
        store: &SqliteEventStore,
        policy: &TrustPolicy,
        progress: Progress<'_>,
    ) -> Result<FoldReport> {
        let started = Instant::now();
        io(&self.dir, fs::create_dir_all(&self.dir))?;
        // Dead rebuilds' files first: on a full disk they may be what is in the way.
        files::remove_orphans_if_unlocked(&self.dir, || self.current_path().ok().flatten());
        // Removed again if anything below fails: a failed rebuild leaves nothing behind.
        let building = files::Building::claim(&self.dir)?;
        let path = building.path().to_path_buf();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (mut db, mut report) = build_fresh(&path, store, policy, progress)?;
        // Events appended while we built are folded under the lock, then the swap.
        let lock = self.lock()?;
        let tail = db.catch_up(store, policy, &mut |_, _| {})?;
        report.events += tail.events;
        report.to_seq = report.to_seq.max(tail.to_seq);
        report.entities_written += tail.entities_written;
        drop(db);
        let old = self.current_path().ok().flatten();
        let pointer = self.current_file();
        let tmp = self.dir.join("CURRENT.tmp");
        {
            let mut f = io(&tmp, File::create(&tmp))?;
            io(&tmp, f.write_all(format!("{name}\n").as_bytes()))?;
            io(&tmp, f.sync_all())?;
        }
        io(&pointer, fs::rename(&tmp, &pointer))?;
        building.keep();
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        if let Some(old) = old.filter(|o| *o != path) {
            // Readers that still have the old database open keep reading it (unlinked).
            files::remove_database(&old);
        }
        files::remove_orphans(&self.dir, Some(&path));
        drop(lock);
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        report.events_per_s = rate(report.events, started.elapsed());
        Ok(report)
    }
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Events per chunk handed to the decoding thread.
pub const DECODE_CHUNK_EVENTS: usize = 512;

/// Folds the whole log in memory and writes every row into a new database at `path`.
///
/// Three stages run at once: the store's reader thread steps SQLite, a decoding thread
/// turns chunks of raw events into [`ProjectionEvent`]s (only the kinds a projection
/// reads are decoded), and this thread applies them in order.
fn build_fresh(
    path: &Path,
    store: &SqliteEventStore,
    policy: &TrustPolicy,
    progress: Progress<'_>,
) -> Result<(ProjectionDb, FoldReport)> {
    let started = Instant::now();
    let total = store.head()?.map(|h| h.seq).unwrap_or(0);
    let mut state = State {
        untracked: true,
        ..State::default()
    };
    let mut last_hash = String::new();
    let mut n = 0u64;
    type Decoded = std::result::Result<Vec<ProjectionEvent>, StoreError>;
    let (raw_tx, raw_rx) = std::sync::mpsc::sync_channel::<Vec<trustfold_events::StoredEvent>>(4);
    let (dec_tx, dec_rx) = std::sync::mpsc::sync_channel::<Decoded>(4);
    std::thread::scope(|scope| -> Result<()> {
        scope.spawn(move || {
            for chunk in raw_rx {
                let decoded: Decoded = chunk
                    .iter()
                    .map(|ev| {
                        ProjectionEvent::from_stored(ev).map_err(|source| StoreError::Decode {
                            seq: ev.seq,
                            source,
                        })
                    })
                    .collect();
                if dec_tx.send(decoded).is_err() {
                    return;
                }
            }
        });
        let mut apply_chunk = |chunk: Decoded, state: &mut State| -> Result<()> {
            for pe in chunk? {
                n += 1;
                apply(state, pe);
                if n.is_multiple_of(PROGRESS_EVENTS) {
                    progress(n, total);
                }
            }
            Ok(())
        };
        let mut in_flight = 0usize;
        let mut chunk = Vec::with_capacity(DECODE_CHUNK_EVENTS);
        // Checked as read: a tampered log stops the rebuild before it is folded.
        for ev in store.read_checked_from(1) {
            let ev = ev?;
            if ev.seq > total {
                break;
            }
            if ev.seq == total {
                last_hash = ev.hash.to_hex();
            }
            chunk.push(ev);
            if chunk.len() == DECODE_CHUNK_EVENTS {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(DECODE_CHUNK_EVENTS));
                // Keep the decoder a few chunks ahead; apply what it has finished.
                while in_flight >= 3 {
                    let done = dec_rx.recv().map_err(|_| decoder_gone())?;
                    in_flight -= 1;
                    apply_chunk(done, &mut state)?;
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
            apply_chunk(done, &mut state)?;
        }
        Ok(())
    })?;
    progress(n, total);
    let mut db = ProjectionDb::create(path)?;
    db.write_all(&state, policy)?;
    db.set_meta(&Meta {
        checkpoint_seq: state.last_seq,
        checkpoint_hash: last_hash,
        policy_hash: policy.hash().to_string(),
        policy_origin: policy.origin().to_string(),
        built_at: chrono::Utc::now().to_rfc3339(),
    })?;
    db.set_policy_text(policy.text())?;
    let report = FoldReport {
        from_seq: 1,
        to_seq: state.last_seq,
        events: n,
        entities_written: state.entities.len() as u64,
        elapsed_ms: 0,
        events_per_s: 0.0,
    };
    // Freeing millions of small allocations takes a while: it happens on another thread
    // while the indexes are built (and not at all if the process exits first).
    std::thread::spawn(move || drop(state));
    db.finish_bulk()?;
    let report = FoldReport {
        elapsed_ms: started.elapsed().as_millis() as u64,
        events_per_s: rate(n, started.elapsed()),
        ..report
    };
    Ok((db, report))
}

fn decoder_gone() -> ProjectionError {
    ProjectionError::Store(StoreError::Integrity(
        "the decoding thread stopped early".into(),
    ))
}

/// One projection database.
pub struct ProjectionDb {
    conn: Connection,
    path: PathBuf,
}

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

impl ProjectionDb {
    fn open(path: &Path, write: bool) -> Result<ProjectionDb> {
        let conn = if write {
            let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            sql(path, Connection::open_with_flags(path, flags))?
        } else {
            // Also on read-only media, where SQLite cannot create the WAL's `-shm` file.
            trustfold_events::sqlite::read_only_connection(path)?.0
        };
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

    fn create(path: &Path) -> Result<ProjectionDb> {
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
    fn finish_bulk(&mut self) -> Result<()> {
        let p = self.path.clone();
        sql(&p, self.conn.execute_batch(INDEXES))?;
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

    fn format_version(&self) -> Result<i64> {
        Ok(self
            .get_meta("format_version")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
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

    fn set_meta(&self, m: &Meta) -> Result<()> {
        for (k, v) in [
            ("checkpoint_seq", m.checkpoint_seq.to_string()),
            ("checkpoint_hash", m.checkpoint_hash.clone()),
            ("policy_hash", m.policy_hash.clone()),
            ("policy_origin", m.policy_origin.clone()),
            ("built_at", m.built_at.clone()),
        ] {
            sql(
                &self.path,
                self.conn.execute(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![k, v],
                ),
            )?;
        }
        Ok(())
    }

    fn set_policy_text(&self, text: &str) -> Result<()> {
        sql(
            &self.path,
            self.conn.execute(
                "INSERT INTO meta(key, value) VALUES ('policy_text', ?1)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                [text],
            ),
        )?;
        Ok(())
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

    /// Folds the events after the checkpoint, loading only the rows they touch.
    fn catch_up(
        &mut self,
        store: &SqliteEventStore,
        policy: &TrustPolicy,
        progress: Progress<'_>,
    ) -> Result<FoldReport> {
        let started = Instant::now();
        let meta = self.meta()?;
        let head = store.head()?;
        let head_seq = head.as_ref().map(|h| h.seq).unwrap_or(0);
        if meta.checkpoint_seq > 0 {
            let at = store
                .read_raw_from(meta.checkpoint_seq)
                .next()
                .transpose()?;
            let matches = at.as_ref().is_some_and(|e| {
                e.seq == meta.checkpoint_seq && e.hash.to_hex() == meta.checkpoint_hash
            });
            if !matches {
                return Err(ProjectionError::Corrupt {
                    path: self.path.clone(),
                    detail: format!(
                        "the projections were folded up to seq {} of a different log \
                         (the log's head is {head_seq})",
                        meta.checkpoint_seq
                    ),
                });
            }
        }
        let mut report = FoldReport {
            from_seq: meta.checkpoint_seq + 1,
            to_seq: meta.checkpoint_seq,
            ..FoldReport::default()
        };
        if head_seq <= meta.checkpoint_seq {
            return Ok(report);
        }
        let total = head_seq - meta.checkpoint_seq;
        let path = self.path.clone();
        let tx = sql(
            &path,
            self.conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate),
        )?;
        let mut loader = Loader {
            conn: &tx,
            path: &path,
            store,
            loaded: HashSet::new(),
        };
        let mut state = State {
            last_seq: meta.checkpoint_seq,
            ..State::default()
        };
        let mut last_hash = meta.checkpoint_hash.clone();
        // Checked as read, from the checkpoint's hash (compared with the log's above).
        for ev in store.read_checked_from(meta.checkpoint_seq + 1) {
            let ev = ev?;
            if ev.seq > head_seq {
                break;
            }
            let pe = ProjectionEvent::from_stored(&ev).map_err(|source| StoreError::Decode {
                seq: ev.seq,
                source,
            })?;
            loader.preload(&mut state, &pe)?;
            apply(&mut state, pe);
            last_hash = ev.hash.to_hex();
            report.events += 1;
            report.to_seq = ev.seq;
            if report.events.is_multiple_of(PROGRESS_EVENTS) {
                progress(report.events, total);
            }
        }
        progress(report.events, total);
        // Every member of a changed entity is needed to merge it.
        let dirty: Vec<String> = state.dirty_entities.iter().cloned().collect();
        for eid in &dirty {
            loader.load_members(&mut state, eid)?;
        }
        let rows = Rows {
            candidates: state.dirty_candidates.iter().collect(),
            runs: state.dirty_runs.iter().collect(),
            entities: state.dirty_entities.iter().collect(),
            reviews: state.dirty_reviews.iter().collect(),
        };
        report.entities_written = write_rows(&tx, &path, &state, &rows, policy)?;
        for (k, v) in [
            ("checkpoint_seq", report.to_seq.to_string()),
            ("checkpoint_hash", last_hash),
        ] {
            sql(
                &path,
                tx.execute(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![k, v],
                ),
            )?;
        }
        sql(&path, tx.commit())?;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        report.events_per_s = rate(report.events, started.elapsed());
        Ok(report)
    }

    /// Writes every row of a fully folded state (a rebuild).
    fn write_all<'s>(&mut self, state: &'s State, policy: &TrustPolicy) -> Result<()> {
        let path = self.path.clone();
        let tx = sql(&path, self.conn.transaction())?;
        // Sorted keys: rows land in key order, appended to the tables' B-trees rather
        // than inserted all over them (measured: about half the insert time).
        let sorted = |mut v: Vec<&'s String>| {
            v.sort_unstable();
            v
        };
        let rows = Rows {
            candidates: sorted(state.candidates.keys().collect()),
            runs: sorted(state.runs.keys().collect()),
            entities: sorted(state.entities.keys().collect()),
            reviews: sorted(state.reviews.keys().collect()),
        };
        write_rows(&tx, &path, state, &rows, policy)?;
        sql(&path, tx.commit())?;
        Ok(())
    }

    /// One entity with its provenance, by id, slug or a unique id prefix.
    pub fn entity(&self, key: &str) -> Result<Option<(MergedEntity, EntityState)>> {
        let row: Option<(String, String)> = sql(
            &self.path,
            self.conn
                .query_row(
                    "SELECT merged, state FROM entities WHERE entity_id = ?1 OR slug = ?1",
                    [key],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional(),
        )?;
        let row = match row {
            Some(r) => Some(r),
            None if key.len() >= 6 => {
                // A unique prefix of an id, as git does for commits.
                let mut stmt = sql(
                    &self.path,
                    self.conn.prepare(
                        "SELECT merged, state FROM entities
                         WHERE substr(entity_id, 1, length(?1)) = ?1 LIMIT 2",
                    ),
                )?;
                let rows: Vec<(String, String)> = sql(
                    &self.path,
                    stmt.query_map([key], |r| Ok((r.get(0)?, r.get(1)?)))
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
        let Some((merged, state)) = row else {
            return Ok(None);
        };
        let merged: MergedEntity = from_json(&self.path, "entity", &merged)?;
        let state: EntityState = from_json(&self.path, "entity state", &state)?;
        Ok(Some((merged, state)))
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
            if let Some(c) = self.candidate_observed(cid, store)? {
                members.push(c);
            }
        }
        let refs: Vec<&Candidate> = members.iter().collect();
        Ok(Some(merge_entity(&state, &refs, policy)))
    }

    /// A candidate with its latest observation read back from the log.
    pub fn candidate_observed(
        &self,
        candidate_id: &str,
        store: &SqliteEventStore,
    ) -> Result<Option<Candidate>> {
        let Some(mut c) = self.candidate(candidate_id)? else {
            return Ok(None);
        };
        c.observation = observation_at(store, c.observed_seq)?;
        Ok(Some(c))
    }

    /// Every entity (without provenance), by name; `search` filters on words of the name,
    /// slug, locality and postcode (all must match).
    pub fn entities(&self, search: Option<&str>) -> Result<Vec<MergedEntity>> {
        let mut stmt = sql(
            &self.path,
            self.conn
                .prepare("SELECT merged, search FROM entities ORDER BY name COLLATE NOCASE, slug"),
        )?;
        let words: Vec<String> = search.map(crate::values::fold_words).unwrap_or_default();
        let mut out = Vec::new();
        let rows = sql(
            &self.path,
            stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
        )?;
        for (merged, text) in rows {
            let hay: Vec<&str> = text.split(' ').collect();
            if words
                .iter()
                .all(|w| hay.iter().any(|h| h.starts_with(w.as_str())))
            {
                out.push(from_json(&self.path, "entity", &merged)?);
            }
        }
        Ok(out)
    }

    /// Every run, oldest first.
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

    /// One run by id or unique id prefix.
    pub fn run(&self, key: &str) -> Result<Option<RunRow>> {
        let exact = text_by_key(&self.conn, &self.path, RUN_ROW, key)?;
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
        row.map(|r| from_json(&self.path, "run", &r)).transpose()
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

    /// One candidate by id.
    pub fn candidate(&self, candidate_id: &str) -> Result<Option<Candidate>> {
        let row = text_by_key(&self.conn, &self.path, CANDIDATE_ROW, candidate_id)?;
        row.map(|r| from_json(&self.path, "candidate", &r))
            .transpose()
    }

    /// One review by id.
    pub fn review(&self, review_id: &str) -> Result<Option<ReviewRow>> {
        let row = text_by_key(&self.conn, &self.path, REVIEW_ROW, review_id)?;
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

/// The observation recorded by the `CandidateExtracted` at `seq`, read back from the log.
fn observation_at(store: &SqliteEventStore, seq: Option<u64>) -> Result<Option<Observation>> {
    let Some(seq) = seq else {
        return Ok(None);
    };
    let Some(ev) = store.read_at(seq)? else {
        return Err(ProjectionError::Store(StoreError::Integrity(format!(
            "a projected candidate names seq {seq}, which is not in the log"
        ))));
    };
    let pe =
        ProjectionEvent::from_stored(&ev).map_err(|source| StoreError::Decode { seq, source })?;
    match pe.payload {
        Some(EventPayload::CandidateExtracted(p)) => Ok(Some(Observation::from_event(
            p,
            seq,
            pe.recorded_at,
            pe.run_id,
            pe.trace_id,
        ))),
        _ => Err(ProjectionError::Store(StoreError::Integrity(format!(
            "a projected candidate names seq {seq}, which is a {} event, not CandidateExtracted",
            ev.kind
        )))),
    }
}

/// Loads, for the incremental path, the rows an event touches.
struct Loader<'c> {
    conn: &'c Connection,
    path: &'c Path,
    /// The log, where candidates' observations are read back from.
    store: &'c SqliteEventStore,
    /// Keys already looked up ("c:<id>", "e:<id>", "r:<id>", "s:<base>", "m:<entity>").
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
            EventPayload::CandidateExtracted(p) => self.load_candidate(state, &p.candidate_id)?,
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
                        self.load_entity(state, entity_id)?;
                        // The slug comes from the founding record's name.
                        if let Some(c) = state.candidates.get_mut(&p.candidate_id) {
                            if c.observation.is_none() {
                                c.observation = observation_at(self.store, c.observed_seq)?;
                            }
                        }
                        let base = state.founding_slug_base(&p.candidate_id, entity_id);
                        self.load_slugs(state, &base)?;
                    }
                    MergeOutcome::ExistingEntity { entity_id } => {
                        self.load_entity(state, entity_id)?
                    }
                    MergeOutcome::NeedsReview { .. } => {}
                }
            }
            EventPayload::FieldOverridden(p) => self.load_entity(state, &p.entity_id)?,
            EventPayload::ReviewRequested(p) => self.load_review(state, &p.review_id)?,
            EventPayload::ReviewResolved(p) => self.load_review(state, &p.review_id)?,
            _ => {}
        }
        Ok(())
    }

    fn load_review(&mut self, state: &mut State, review_id: &str) -> Result<()> {
        if state.reviews.contains_key(review_id) || !self.first_time(format!("v:{review_id}")) {
            return Ok(());
        }
        let row = text_by_key(self.conn, self.path, REVIEW_ROW, review_id)?;
        if let Some(row) = row {
            state
                .reviews
                .insert(review_id.to_string(), from_json(self.path, "review", &row)?);
        }
        Ok(())
    }

    fn first_time(&mut self, key: String) -> bool {
        self.loaded.insert(key)
    }

    fn load_run(&mut self, state: &mut State, run_id: &str) -> Result<()> {
        if state.runs.contains_key(run_id) || !self.first_time(format!("r:{run_id}")) {
            return Ok(());
        }
        let row = text_by_key(self.conn, self.path, RUN_ROW, run_id)?;
        if let Some(row) = row {
            state
                .runs
                .insert(run_id.to_string(), from_json(self.path, "run", &row)?);
        }
        Ok(())
    }

    /// Loads a candidate, the candidates that follow it (transitively) and its entity.
    fn load_candidate(&mut self, state: &mut State, cid: &str) -> Result<()> {
        let mut todo = vec![cid.to_string()];
        while let Some(c) = todo.pop() {
            if !self.first_time(format!("c:{c}")) {
                continue;
            }
            if !state.candidates.contains_key(&c) {
                let row = text_by_key(self.conn, self.path, CANDIDATE_ROW, &c)?;
                if let Some(row) = row {
                    let cand: Candidate = from_json(self.path, "candidate", &row)?;
                    if let Some(leader) = &cand.follows {
                        state
                            .followers
                            .entry(leader.clone())
                            .or_default()
                            .insert(c.clone());
                    }
                    if let Some(eid) = cand.entity_id.clone() {
                        state.candidates.insert(c.clone(), cand);
                        self.load_entity(state, &eid)?;
                    } else {
                        state.candidates.insert(c.clone(), cand);
                    }
                }
            }
            let mut stmt = sql(
                self.path,
                self.conn
                    .prepare_cached("SELECT candidate_id FROM candidates WHERE follows = ?1"),
            )?;
            let followers: Vec<String> = sql(
                self.path,
                stmt.query_map([&c], |r| r.get(0))
                    .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
            )?;
            for f in followers {
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
        let row = text_by_key(
            self.conn,
            self.path,
            "SELECT state FROM entities WHERE entity_id = ?1",
            eid,
        )?;
        if let Some(row) = row {
            let e: EntityState = from_json(self.path, "entity state", &row)?;
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
        let mut stmt = sql(
            self.path,
            self.conn
                .prepare_cached("SELECT candidate_id, row FROM candidates WHERE entity_id = ?1"),
        )?;
        let rows: Vec<(String, String)> = sql(
            self.path,
            stmt.query_map([eid], |r| Ok((r.get(0)?, r.get(1)?)))
                .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
        )?;
        for (cid, row) in rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = state.candidates.entry(cid) {
                slot.insert(from_json(self.path, "candidate", &row)?);
            }
        }
        let members: Vec<String> = state
            .entities
            .get(eid)
            .map(|e| e.members.iter().cloned().collect())
            .unwrap_or_default();
        for cid in members {
            if let Some(c) = state.candidates.get_mut(&cid) {
                if c.observation.is_none() {
                    c.observation = observation_at(self.store, c.observed_seq)?;
                }
            }
        }
        Ok(())
    }

    /// Loads the taken slugs `base` and `base-<n>`.
    fn load_slugs(&mut self, state: &mut State, base: &str) -> Result<()> {
        if !self.first_time(format!("s:{base}")) {
            return Ok(());
        }
        let mut stmt = sql(
            self.path,
            self.conn.prepare_cached(
                "SELECT slug FROM entities WHERE slug = ?1 OR (slug > ?1 || '-' AND slug < ?1 || '.')",
            ),
        )?;
        let slugs: Vec<String> = sql(
            self.path,
            stmt.query_map([base], |r| r.get(0))
                .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
        )?;
        state.slugs.extend(slugs);
        Ok(())
    }
}

/// The rows to write, by key.
struct Rows<'s> {
    candidates: Vec<&'s String>,
    runs: Vec<&'s String>,
    entities: Vec<&'s String>,
    reviews: Vec<&'s String>,
}

/// Writes the named rows, taking their content from `state` (entities merged under
/// `policy`). Returns the number of entities written.
fn write_rows(
    conn: &Connection,
    path: &Path,
    state: &State,
    rows: &Rows<'_>,
    policy: &TrustPolicy,
) -> Result<u64> {
    {
        let mut put = sql(
            path,
            conn.prepare_cached(
                "INSERT OR REPLACE INTO candidates(candidate_id, entity_id, follows, row)
                 VALUES (?1, ?2, ?3, ?4)",
            ),
        )?;
        for &cid in &rows.candidates {
            if let Some(c) = state.candidates.get(cid) {
                sql(
                    path,
                    put.execute(params![
                        cid,
                        c.entity_id,
                        c.follows,
                        to_json(&CandidateRow::from(c))
                    ]),
                )?;
            }
        }
    }
    {
        let mut put = sql(
            path,
            conn.prepare_cached(
                "INSERT OR REPLACE INTO runs(run_id, started_at, status, row) VALUES (?1, ?2, ?3, ?4)",
            ),
        )?;
        for &rid in &rows.runs {
            if let Some(r) = state.runs.get(rid) {
                sql(
                    path,
                    put.execute(params![
                        rid,
                        r.started_at.to_rfc3339(),
                        r.status.as_str(),
                        to_json(r)
                    ]),
                )?;
            }
        }
    }
    {
        let mut put = sql(
            path,
            conn.prepare_cached(
                "INSERT OR REPLACE INTO reviews(review_id, status, requested_seq, row)
                 VALUES (?1, ?2, ?3, ?4)",
            ),
        )?;
        for &rid in &rows.reviews {
            if let Some(r) = state.reviews.get(rid) {
                sql(
                    path,
                    put.execute(params![
                        rid,
                        review_status(r),
                        r.requested_seq as i64,
                        to_json(r)
                    ]),
                )?;
            }
        }
    }
    let mut put_entity = sql(
        path,
        conn.prepare_cached(
            "INSERT OR REPLACE INTO entities(entity_id, slug, name, entity_class, locality,
                postcode, lat, lon, sources, n_sources, completeness, conflicts, founded_seq,
                updated_seq, search, merged, state)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)",
        ),
    )?;
    // Merged (and serialised) in chunks on other threads while this one inserts the
    // previous chunk: memory stays bounded by a few chunks, and merging hides behind the
    // single-threaded inserts.
    let mut written = 0u64;
    std::thread::scope(|scope| -> Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<EntityRow>>(1);
        scope.spawn(move || {
            for ids in rows.entities.chunks(MERGE_CHUNK_ENTITIES) {
                if tx.send(merge_many(state, ids, policy)).is_err() {
                    return;
                }
            }
        });
        for chunk in rx {
            written += chunk.len() as u64;
            for r in chunk {
                sql(
                    path,
                    put_entity.execute(params![
                        r.entity_id,
                        r.slug,
                        r.name,
                        r.entity_class,
                        r.locality,
                        r.postcode,
                        r.lat,
                        r.lon,
                        r.sources,
                        r.n_sources,
                        r.completeness,
                        r.conflicts,
                        r.founded_seq,
                        r.updated_seq,
                        r.search,
                        r.merged,
                        r.state,
                    ]),
                )?;
            }
        }
        Ok(())
    })?;
    Ok(written)
}

/// An `entities` row, ready to bind.
struct EntityRow {
    entity_id: String,
    slug: String,
    name: Option<String>,
    entity_class: Option<String>,
    locality: Option<String>,
    postcode: Option<String>,
    lat: Option<f64>,
    lon: Option<f64>,
    sources: String,
    n_sources: i64,
    completeness: i64,
    conflicts: String,
    founded_seq: i64,
    updated_seq: i64,
    search: String,
    merged: String,
    state: String,
}

impl EntityRow {
    fn new(m: &MergedEntity, es: &EntityState) -> EntityRow {
        let (lat, lon) = m.coordinates().unzip();
        let text = |f: Field| m.text(f).map(str::to_string);
        let search = crate::values::fold_words(&format!(
            "{} {} {} {}",
            m.name().unwrap_or(""),
            m.slug,
            m.text(Field::Locality).unwrap_or(""),
            m.text(Field::Postcode).unwrap_or("")
        ))
        .join(" ");
        EntityRow {
            entity_id: m.entity_id.clone(),
            slug: m.slug.clone(),
            name: m.name().map(str::to_string),
            entity_class: text(Field::EntityClass),
            locality: text(Field::Locality),
            postcode: text(Field::Postcode),
            lat,
            lon,
            sources: to_json(&m.sources),
            n_sources: m.sources.len() as i64,
            completeness: m.completeness_present as i64,
            conflicts: to_json(&m.conflicts()),
            founded_seq: m.founded_seq as i64,
            updated_seq: m.updated_seq as i64,
            search,
            merged: to_json(m),
            state: to_json(es),
        }
    }
}

/// Entities merged at a time when writing.
pub const MERGE_CHUNK_ENTITIES: usize = 4096;

/// `open`, `approved` or `rejected`.
pub fn review_status(r: &ReviewRow) -> &'static str {
    match r.decision {
        None => "open",
        Some(trustfold_events::ReviewDecision::Approved) => "approved",
        Some(trustfold_events::ReviewDecision::Rejected) => "rejected",
    }
}

/// Merges entities into ready rows, on as many threads as pay (merging is pure and
/// independent).
fn merge_many(state: &State, ids: &[&String], policy: &TrustPolicy) -> Vec<EntityRow> {
    let one = |eid: &String| -> Option<EntityRow> {
        let es = state.entities.get(eid)?;
        let members: Vec<&Candidate> = es
            .members
            .iter()
            .filter_map(|c| state.candidates.get(c))
            .collect();
        Some(EntityRow::new(&merge_values(es, &members, policy), es))
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    if ids.len() < 512 || threads < 2 {
        return ids.iter().filter_map(|e| one(e)).collect();
    }
    let chunk = ids.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().filter_map(|e| one(e)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("merging is pure and does not panic"))
            .collect()
    })
}
