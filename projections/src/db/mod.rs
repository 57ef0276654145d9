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
pub mod pg;
mod read;
mod rows;
mod schema;
pub mod sql;

use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use trustfold_events::{EventStore, StoreError};

use crate::files;
use crate::policy::{PolicyError, TrustPolicy};

pub use merging::{ChangeSink, DryRunSummary, FieldChange, RemergeReport};
pub use page::{EntityCounts, EntityCursor, EntityFilter, EntityPage, SourceCount};
pub use read::{review_status, ConflictRow, ProjectionDb};

/// The directory of the projections inside a data dir.
pub const PROJECTIONS_DIR: &str = "projections";
/// The schema this build writes; a database of another version is rebuilt, not read.
/// 4: candidates as columns, compact entity rows, `run_entities`, records seen again.
/// 5: `merged_entities` (the aliases a person's merge leaves).
pub const FORMAT_VERSION: i64 = 5;
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
    /// PostgreSQL refused or failed a statement (the message is the server's; the URL,
    /// which may hold a password, is never part of it).
    #[error("PostgreSQL ({path}): {detail}")]
    Postgres {
        path: PathBuf,
        detail: String,
        /// The SQLSTATE, when the server answered.
        code: Option<String>,
    },
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
fn text_by_key(conn: &dyn sql::Conn, query: &str, key: &str) -> Result<Option<String>> {
    sql::one(conn, query, sql::params![key], |r| r.req_text(0))
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

/// The projections of one data dir.
#[derive(Clone, Debug)]
pub struct Projections {
    dir: PathBuf,
    /// Events a rebuild folds before writing their rows (see
    /// [`fold::REBUILD_SLICE_EVENTS`]); smaller in tests, to cross slice boundaries.
    rebuild_slice_events: u64,
}

/// The projections of a store: the data dir's SQLite files, or schemas on PostgreSQL.
/// Both fold, merge and read with the same code (`fold.rs`, `merging.rs`, `read.rs`);
/// they differ in where a database lives and how writers take turns.
#[derive(Clone, Debug)]
pub enum ProjectionStore {
    Embedded(Projections),
    Postgres(Box<pg::PgProjections>),
}

impl ProjectionStore {
    /// The same projections, rebuilt `n` events at a time.
    pub fn with_rebuild_slice(self, n: u64) -> ProjectionStore {
        match self {
            ProjectionStore::Embedded(p) => ProjectionStore::Embedded(p.with_rebuild_slice(n)),
            ProjectionStore::Postgres(p) => {
                ProjectionStore::Postgres(Box::new(p.with_rebuild_slice(n)))
            }
        }
    }

    /// The live database for reading, if one was built.
    pub fn open_read(&self) -> Result<Option<ProjectionDb>> {
        match self {
            ProjectionStore::Embedded(p) => p.open_read(),
            ProjectionStore::Postgres(p) => p.open_read(),
        }
    }

    /// See [`Projections::catch_up`].
    pub fn catch_up(
        &self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
        known_sources: &[&str],
        progress: Progress<'_>,
    ) -> Result<FoldReport> {
        match self {
            ProjectionStore::Embedded(p) => p.catch_up(store, policy, known_sources, progress),
            ProjectionStore::Postgres(p) => p.catch_up(store, policy, known_sources, progress),
        }
    }

    /// See [`Projections::rebuild`].
    pub fn rebuild(
        &self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
        progress: Progress<'_>,
    ) -> Result<FoldReport> {
        match self {
            ProjectionStore::Embedded(p) => p.rebuild(store, policy, progress),
            ProjectionStore::Postgres(p) => p.rebuild(store, policy, progress),
        }
    }

    /// See [`Projections::remerge`].
    pub fn remerge(
        &self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
        known_sources: &[&str],
        progress: Progress<'_>,
    ) -> Result<RemergeReport> {
        match self {
            ProjectionStore::Embedded(p) => p.remerge(store, policy, known_sources, progress),
            ProjectionStore::Postgres(p) => p.remerge(store, policy, known_sources, progress),
        }
    }

    /// See [`Projections::dry_run`].
    pub fn dry_run(
        &self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
        known_sources: &[&str],
        sink: &mut dyn ChangeSink,
    ) -> Result<DryRunSummary> {
        match self {
            ProjectionStore::Embedded(p) => p.dry_run(store, policy, known_sources, sink),
            ProjectionStore::Postgres(p) => p.dry_run(store, policy, known_sources, sink),
        }
    }
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
            rebuild_slice_events: fold::REBUILD_SLICE_EVENTS,
        }
    }

    /// The same projections, rebuilt `n` events at a time (at least 1).
    pub fn with_rebuild_slice(mut self, n: u64) -> Projections {
        self.rebuild_slice_events = n.max(1);
        self
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
        files::remove_orphans(&self.dir, Some(&path));
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
        store: &dyn EventStore,
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
        store: &dyn EventStore,
        policy: &TrustPolicy,
        progress: Progress<'_>,
    ) -> Result<FoldReport> {
        let started = Instant::now();
        io(&self.dir, fs::create_dir_all(&self.dir))?;
        // Dead rebuilds' files first: on a full disk they may be what is in the way.
        files::remove_orphans_if_unlocked(&self.dir, || self.current_path().ok().flatten());
        // Claimed (and locked) until it is swapped in; if anything below fails, dropping
        // it removes the file: a failed rebuild (a full disk, say) leaves nothing behind.
        let building = files::Building::claim(&self.dir)?;
        let path = building.path().to_path_buf();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (mut db, mut report) = fold::build_fresh(
            ProjectionDb::create(&path)?,
            store,
            policy,
            self.rebuild_slice_events,
            progress,
        )?;
        // Events appended while we built are folded under the lock, then the swap.
        let lock = self.lock()?;
        let tail = db.catch_up(store, policy, &mut |_, _| {})?;
        report.events += tail.events;
        report.to_seq = report.to_seq.max(tail.to_seq);
        report.entities_written += tail.entities_written;
        drop(db);
        let old = self.current_path().ok().flatten();
        self.point_to(&name)?;
        // Live now; still under the lock, so no cleaner sees it unclaimed and not current.
        building.keep();
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
        store: &dyn EventStore,
        policy: &TrustPolicy,
        known_sources: &[&str],
        progress: Progress<'_>,
    ) -> Result<RemergeReport> {
        remerge_or_rebuild(
            "database",
            |progress| {
                let Some((mut db, _lock)) = self.open_write()? else {
                    return Ok(None);
                };
                let stored = db.stored_policy(known_sources)?;
                db.catch_up(store, &stored, &mut |_, _| {})?;
                db.remerge(store, &stored, policy, progress).map(Some)
            },
            |progress| self.rebuild(store, policy, progress),
            progress,
        )
    }

    /// What `policy` would change, entity by entity and field by field, against the live
    /// database (caught up first), without writing anything but the catch-up. Every
    /// change goes to `sink` as it is found; the summary counts them.
    pub fn dry_run(
        &self,
        store: &dyn EventStore,
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
}

/// Runs a re-merge (`attempt`: `None` when there are no projections of this format), or
/// the full `rebuild` when there are none or they cannot be used (damaged, of another
/// log, with a policy that no longer parses): those are replaced rather than left in the
/// way, and the report says why. `kind` is what holds them on the engine ("database",
/// "schema"). Both engines' `remerge`.
fn remerge_or_rebuild(
    kind: &str,
    attempt: impl FnOnce(Progress<'_>) -> Result<Option<RemergeReport>>,
    rebuild: impl FnOnce(Progress<'_>) -> Result<FoldReport>,
    progress: Progress<'_>,
) -> Result<RemergeReport> {
    let started = Instant::now();
    let reason = match attempt(&mut *progress) {
        Ok(Some(mut report)) => {
            report.elapsed_ms = started.elapsed().as_millis() as u64;
            return Ok(report);
        }
        Ok(None) => format!("no projection {kind} of this format yet"),
        Err(e) if e.is_bad_input() => format!("the projection {kind} is unusable: {e}"),
        Err(e) => return Err(e),
    };
    Ok(RemergeReport::full(rebuild(progress)?, &reason))
}

fn rate(events: u64, elapsed: Duration) -> f64 {
    events as f64 / elapsed.as_secs_f64().max(1e-9)
}

/// Checks that `store` holds the event the checkpoint names; `Corrupt` otherwise.
fn check_checkpoint(path: &Path, meta: &Meta, store: &dyn EventStore) -> Result<()> {
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
