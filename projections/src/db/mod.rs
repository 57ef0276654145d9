//! The projections on disk: one SQLite database holding the `candidates`, `entities`,
//! `runs`, `run_entities` and `reviews` tables, its checkpoint (the last seq folded, with
//! that event's hash) and the policy it was built with.
//!
//! Layout under `<data-dir>/projections/`:
//! ```text
//! CURRENT              the name of the live database, e.g. "p-0190….sqlite3"
//! p-<uuid>.sqlite3     the databases (WAL mode; one live, older ones removed after a swap)
//! LOCK                 held (flock) by whoever writes: a catch-up, a re-merge, a swap
//! ```
//! A full rebuild writes a fresh database under a new name and then replaces `CURRENT` by
//! rename, so a reader opens either the old database or the new one, never half of one.
//! A re-merge (the policy changed, identity did not) rewrites the affected entity rows of
//! the live database in one transaction, which readers also see whole or not at all.
//!
//! I/O lives here, at the edge: `fold.rs` loads the rows an event touches into a
//! [`State`], calls the pure [`apply`](crate::state::apply) and writes the rows back;
//! `merging.rs` merges entities with the pure [`merge_values`](crate::merge::merge_values)
//! on worker threads, reading their members' observations back from the log; `read.rs`
//! answers the reading commands; `rows.rs` is the stored form.

mod fold;
mod merging;
mod page;
mod read;
mod rows;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OptionalExtension};
use serde::{Deserialize, Serialize};
use trustfold_events::{EventStore, SqliteEventStore, StoreError};

use crate::policy::{PolicyError, TrustPolicy};

pub use merging::{ChangeSink, DryRunSummary, FieldChange, RemergeReport};
pub use page::{EntityCounts, EntityCursor, EntityFilter, EntityPage, SourceCount};
pub use read::{review_status, ConflictRow, ProjectionDb};

/// The directory of the projections inside a data dir.
pub const PROJECTIONS_DIR: &str = "projections";
/// The schema this build writes; a database of another version is rebuilt, not read.
/// 4: candidates as columns, compact entity rows, `run_entities`, records seen again.
pub const FORMAT_VERSION: i64 = 4;
/// How long a writer waits for another writer's lock on the projections.
pub const LOCK_WAIT_MS_MAX: u64 = 120_000;
/// How long a reader waits on SQLite's busy lock.
pub const BUSY_TIMEOUT_MS: u64 = 30_000;
/// A database file that is not current and unmodified for this long is an orphan of an
/// interrupted rebuild (a rebuild in progress writes its file continuously).
pub const ORPHAN_AGE_MS: u64 = 10 * 60 * 1000;
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
    #[error("{path}: {detail}; run `trustfold rebuild-projections --full`")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "the policy stored in {path} no longer parses; run `trustfold rebuild-projections --full`"
    )]
    StoredPolicy {
        path: PathBuf,
        #[source]
        source: PolicyError,
    },
    #[error(
        "another process holds {path} for more than {waited_ms} ms; try again when it finishes"
    )]
    Locked { path: PathBuf, waited_ms: u64 },
    /// A worker thread of a merge pass stopped without an answer (it panicked).
    #[error("a merge worker stopped unexpectedly: {0}")]
    Worker(String),
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
/// point read most tables here are loaded with.
fn text_by_key(conn: &Connection, path: &Path, query: &str, key: &str) -> Result<Option<String>> {
    sql(
        path,
        conn.prepare_cached(query)
            .and_then(|mut stmt| stmt.query_row([key], |r| r.get(0)).optional()),
    )
}

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
    observed_seq INTEGER,
    source TEXT,
    name TEXT,
    payload_hash BLOB,
    record_hash BLOB,
    decided_by TEXT,
    seen_seq INTEGER,
    seen_at_us INTEGER,
    seen_run TEXT
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
    overrides TEXT,
    merged TEXT NOT NULL
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
CREATE TABLE IF NOT EXISTS run_entities (
    run_id TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (run_id, entity_id)
) WITHOUT ROWID;
";

/// Indexes, created after a rebuild's bulk load (faster than maintaining them row by row).
const INDEXES: &str = "
CREATE UNIQUE INDEX IF NOT EXISTS entities_slug ON entities(slug);
CREATE INDEX IF NOT EXISTS candidates_entity ON candidates(entity_id) WHERE entity_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS candidates_follows ON candidates(follows) WHERE follows IS NOT NULL;
CREATE INDEX IF NOT EXISTS candidates_payload ON candidates(payload_hash) WHERE payload_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS candidates_source ON candidates(source, entity_id) WHERE entity_id IS NOT NULL;
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

/// The sources whose rules differ between two policies, among `present` (the sources
/// the projections hold records of); `None` when a rule that applies to every entity
/// changed (the conflict gap), so every entity must be merged again.
pub fn changed_sources(
    old: &TrustPolicy,
    new: &TrustPolicy,
    present: &[String],
) -> Option<BTreeSet<String>> {
    if old.conflict_trust_gap_max() != new.conflict_trust_gap_max() {
        return None;
    }
    Some(
        present
            .iter()
            .filter(|s| old.source(s) != new.source(s))
            .cloned()
            .collect(),
    )
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
        db.check_format()?;
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

    /// Opens the live database for writing under the lock, if one exists in this build's
    /// format. `None` means a full rebuild is due (none yet, or another format).
    fn open_write(&self) -> Result<Option<(ProjectionDb, WriteLock)>> {
        if self.current_path()?.is_none() {
            return Ok(None);
        }
        let lock = self.lock()?;
        // A rebuild may have swapped the database while we waited for the lock.
        let Some(path) = self.current_path()? else {
            return Ok(None);
        };
        let db = ProjectionDb::open(&path, true)?;
        if db.format_version()? != FORMAT_VERSION {
            return Ok(None);
        }
        Ok(Some((db, lock)))
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
        let Some((mut db, _lock)) = self.open_write()? else {
            return self.rebuild(store, policy, progress);
        };
        let stored = db.stored_policy(known_sources)?;
        db.catch_up(store, &stored, progress)
    }

    /// Replays the whole log into a fresh database with `policy` and swaps it in (the
    /// `--full` rebuild; also what runs when there is no database or it is of another
    /// format). Memory stays bounded by the light fold (no observations) and a few
    /// chunks of entities being merged.
    pub fn rebuild(
        &self,
        store: &SqliteEventStore,
        policy: &TrustPolicy,
        progress: Progress<'_>,
    ) -> Result<FoldReport> {
        let started = Instant::now();
        io(&self.dir, fs::create_dir_all(&self.dir))?;
        let name = format!("p-{}.sqlite3", uuid::Uuid::now_v7().simple());
        let path = self.dir.join(&name);
        let built = fold::build_fresh(&path, store, policy, progress);
        let (mut db, mut report) = match built {
            Ok(b) => b,
            Err(e) => {
                // A failed rebuild (a full disk, say) leaves nothing behind.
                remove_database(&path);
                return Err(e);
            }
        };
        // Events appended while we built are folded under the lock, then the swap.
        let lock = self.lock()?;
        let tail = db.catch_up(store, policy, &mut |_, _| {})?;
        report.events += tail.events;
        report.to_seq = report.to_seq.max(tail.to_seq);
        report.entities_written += tail.entities_written;
        drop(db);
        let old = self.current_path().ok().flatten();
        self.point_to(&name)?;
        drop(lock);
        if let Some(old) = old.filter(|o| *o != path) {
            // Readers that still have the old database open keep reading it (unlinked).
            remove_database(&old);
        }
        self.remove_orphans(&path);
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        report.events_per_s = rate(report.events, started.elapsed());
        Ok(report)
    }

    /// Replaces `CURRENT` by rename, durably.
    fn point_to(&self, name: &str) -> Result<()> {
        let pointer = self.current_file();
        let tmp = self.dir.join("CURRENT.tmp");
        {
            let mut f = io(&tmp, File::create(&tmp))?;
            io(&tmp, f.write_all(format!("{name}\n").as_bytes()))?;
            io(&tmp, f.sync_all())?;
        }
        io(&pointer, fs::rename(&tmp, &pointer))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// After a policy change: catches the live database up (with its own policy), then
    /// merges again, under `policy`, only the entities with a member from a source whose
    /// rules changed, and records `policy` as the database's policy — all in one
    /// transaction. Identity never depends on the policy, so nothing is re-folded.
    /// Without a database of this format, this is a full rebuild.
    pub fn remerge(
        &self,
        store: &SqliteEventStore,
        policy: &TrustPolicy,
        known_sources: &[&str],
        progress: Progress<'_>,
    ) -> Result<RemergeReport> {
        let started = Instant::now();
        // A database that cannot be used (damaged, of another log, with a policy that no
        // longer parses) is replaced by a full rebuild rather than left in the way.
        let attempt = (|| -> Result<Option<RemergeReport>> {
            let Some((mut db, _lock)) = self.open_write()? else {
                return Ok(None);
            };
            let stored = db.stored_policy(known_sources)?;
            db.catch_up(store, &stored, &mut |_, _| {})?;
            db.remerge(store, &stored, policy, &mut *progress).map(Some)
        })();
        let reason = match attempt {
            Ok(Some(mut report)) => {
                report.elapsed_ms = started.elapsed().as_millis() as u64;
                return Ok(report);
            }
            Ok(None) => "no projection database of this format yet".to_string(),
            Err(e) if e.is_bad_input() => format!("the projection database is unusable: {e}"),
            Err(e) => return Err(e),
        };
        let fold = self.rebuild(store, policy, progress)?;
        Ok(RemergeReport::full(fold, &reason))
    }

    /// What `policy` would change, entity by entity and field by field, against the live
    /// database (caught up first), without writing anything but the catch-up. Every
    /// change goes to `sink` as it is found; the summary counts them.
    pub fn dry_run(
        &self,
        store: &SqliteEventStore,
        policy: &TrustPolicy,
        known_sources: &[&str],
        sink: &mut dyn ChangeSink,
    ) -> Result<DryRunSummary> {
        let started = Instant::now();
        let Some((mut db, lock)) = self.open_write()? else {
            return Err(ProjectionError::Corrupt {
                path: self.dir.clone(),
                detail: "no projection database of this format to compare against".into(),
            });
        };
        let stored = db.stored_policy(known_sources)?;
        db.catch_up(store, &stored, &mut |_, _| {})?;
        // Nothing below writes: the lock is not needed while comparing.
        drop(lock);
        let mut summary = db.dry_run(store, &stored, policy, sink)?;
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }

    /// Removes database files of interrupted rebuilds (see [`ORPHAN_AGE_MS`]).
    fn remove_orphans(&self, current: &Path) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path == current || !name.starts_with("p-") || !name.ends_with(".sqlite3") {
                continue;
            }
            let idle = entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|d| d > Duration::from_millis(ORPHAN_AGE_MS));
            if idle {
                remove_database(&path);
            }
        }
    }
}

/// Removes a database file with its WAL and shared-memory files.
fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let mut p = path.to_path_buf().into_os_string();
        p.push(suffix);
        let _ = fs::remove_file(PathBuf::from(p));
    }
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Checks that `store` holds the event the checkpoint names; `Corrupt` otherwise.
fn check_checkpoint(path: &Path, meta: &Meta, store: &SqliteEventStore) -> Result<()> {
    if meta.checkpoint_seq == 0 {
        return Ok(());
    }
    let head_seq = store.head()?.map_or(0, |h| h.seq);
    let at = store
        .read_raw_from(meta.checkpoint_seq)
        .next()
        .transpose()?;
    let matches = at
        .as_ref()
        .is_some_and(|e| e.seq == meta.checkpoint_seq && e.hash.to_hex() == meta.checkpoint_hash);
    if matches {
        Ok(())
    } else {
        Err(ProjectionError::Corrupt {
            path: path.to_path_buf(),
            detail: format!(
                "the projections were folded up to seq {} of a different log \
                 (the log's head is {head_seq})",
                meta.checkpoint_seq
            ),
        })
    }
}
