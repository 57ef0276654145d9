//! The persisted identity index: the blocks and attached candidates the matcher reads,
//! kept beside the projections on the log's own engine (a SQLite file in the data dir, or
//! a schema in the PostgreSQL database that holds the log), caught up from the log like
//! them, and read a few blocks at a time.
//!
//! A run used to rebuild the whole [`IdentityIndex`](super::IdentityIndex) from every
//! `CandidateExtracted` and `MergeDecided` in the log, so its cost grew with history.
//! Here the index is a fold of the log kept in a database (`fold.rs`), and a run builds a
//! *working* index holding only what its own decisions can reach (`working.rs`): the
//! blocks its candidates' keys name and the attached candidates in them. The decisions
//! are the full index's (see `IdentityIndex::working` for why), and the full scan stays as
//! the oracle the tests compare with (`ingest::stages::identity_index`).
//!
//! [`IdentityStore::of_log`] finds a log's store: every statement goes through the
//! projections' [`Conn`], so both engines run the same SQL; only the tables' type names
//! (and PostgreSQL's "C" collation on text keys, so that both sort ids byte by byte),
//! SQLite's pragmas and how a store is swapped in differ.
//!
//! Embedded, under `<data-dir>/projections/` (as the projections', see ADR 0002 and 0005):
//! ```text
//! IDENTITY             the name of the live store, e.g. "i-0190….sqlite3"
//! i-<uuid>.sqlite3     the stores (WAL); a rebuild writes a new one and swaps IDENTITY
//! IDENTITY.LOCK        held (flock) by whoever writes: a catch-up or a rebuild's swap
//! RESOLVE.LOCK         held (flock) by the run resolving its candidates (below)
//! ```
//! On PostgreSQL, in the log's database (the projections' [`SchemaSet`], another set):
//! ```text
//! tfi_<uuid>                   the stores, a schema each; a rebuild builds a new one
//! trustfold.identity_current   one row naming the live schema, swapped in a transaction
//! advisory lock PG_WRITER_LOCK held by whoever writes, on the writing connection
//! schema key, shared           held by each reader while it reads, so that the schema a
//!                              swap retires is dropped (by a later writer) once unread
//! advisory lock PG_RESOLVE_LOCK held by the run resolving its candidates (below)
//! ```
//! Tables of a store:
//! ```text
//! seen(candidate_id, seq)                 the latest CandidateExtracted of every candidate
//! attached(idx, candidate_id, entity_id,  every attached candidate in attach order (the
//!          seq, keys_hash, form)          first MergeDecided attaching it), its latest
//!                                         extraction's seq and matching form (`form.rs`)
//! postings(kind, key, idx)                every block of every attached candidate
//! in_review(candidate_id, review_id)      candidates whose last MergeDecided asks a person
//! meta                                    checkpoint (seq and that event's hash), format,
//!                                         matcher version, key settings, counters
//! ```
//! A store remembers what its keys depend on (its format, [`MATCHER_VERSION`] and the
//! matcher's `cell_m`); a store built otherwise, of another log, missing or unreadable is
//! rebuilt from the log on the next catch-up, never read. A catch-up commits its rows
//! and the checkpoint in one transaction; a run reads its working index in one read
//! transaction (on PostgreSQL `REPEATABLE READ`: one snapshot, one checkpoint).
//!
//! **The resolve lock** ([`IdentityStore::resolve_lock`]). Two runs that read the index
//! before either appends its decisions could each found an entity for one place (the
//! stream expectations catch only two runs founding the *same* entity). So a run holds
//! the resolve lock from its catch-up to the append of its decisions
//! (`ingest::stages::accept_and_resolve`): runs resolve one at a time, whether they are
//! threads, processes or workers on several hosts sharing one PostgreSQL log. Embedded it
//! is a flock on `RESOLVE.LOCK`; on PostgreSQL a session advisory lock on a connection of
//! its own, released when the guard drops or the connection dies with its process. A
//! waiter gives up after [`RESOLVE_LOCK_WAIT_MS_MAX`]. The hold covers only local work
//! (catch-up, working index, decisions, append), never a connector call. It is taken
//! before the store's writer lock and never while holding it, so the two cannot deadlock.

mod fold;
#[cfg(test)]
mod tests;
mod working;

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde::Serialize;
use trustfold_events::{Backend, EventStore, StoreError, StoreUrl};
use trustfold_projections::db::pg::SchemaSet;
use trustfold_projections::db::sql::postgres::PgConn;
use trustfold_projections::db::sql::{
    self, params, sqlite::SqliteConn, Conn, Engine, Param, Row, Tx,
};
use trustfold_projections::ProjectionError;

use super::{MatchConfig, MATCHER_VERSION};

pub use working::WorkingIndex;

/// The directory of the identity store inside a data dir (shared with the projections).
pub const IDENTITY_DIR: &str = "projections";
/// The pointer file naming the live store.
const POINTER: &str = "IDENTITY";
/// The writers' lock file.
const LOCK_FILE: &str = "IDENTITY.LOCK";
/// The resolve lock's file (see [`IdentityStore::resolve_lock`]).
pub const RESOLVE_LOCK_FILE: &str = "RESOLVE.LOCK";
/// On PostgreSQL: the prefix of the stores' schemas (`tfi_<uuid>`).
const PG_PREFIX: &str = "tfi";
/// On PostgreSQL: the table in the `trustfold` schema naming the live store's schema.
const PG_POINTER: &str = "identity_current";
/// On PostgreSQL: the advisory lock identity writers take turns on ("TFIDEN" in ASCII;
/// the projections' writers use another).
pub const PG_WRITER_LOCK: i64 = 0x5446_4944_454e;
/// On PostgreSQL: the advisory lock of the resolve lock ("TFRESO" in ASCII).
pub const PG_RESOLVE_LOCK: i64 = 0x5446_5245_534f;
/// The schema this build writes; a store of another format is rebuilt.
/// Format 3: the street, (street, number) and (locality, word) blocks, and form version 2.
/// Format 4: form version 3 (the record's source).
pub const FORMAT_VERSION: i64 = 4;
/// How long a writer waits for another writer's lock.
pub const LOCK_WAIT_MS_MAX: u64 = 120_000;
/// How long a run waits for the resolve lock while other runs resolve (each holds it for
/// its catch-up, working index, decisions and their append: seconds, a large import's
/// longer).
pub const RESOLVE_LOCK_WAIT_MS_MAX: u64 = 300_000;
/// How long a reader or writer waits on SQLite's busy lock.
pub const BUSY_TIMEOUT_MS: u64 = 30_000;
/// A store file that is not live and unmodified for this long is an orphan of an
/// interrupted rebuild (a rebuild in progress writes its file continuously).
pub const ORPHAN_AGE_MS: u64 = 10 * 60 * 1000;
/// Events folded between two progress reports.
pub const PROGRESS_EVENTS: u64 = 50_000;
/// SQLite page cache of a store connection, KiB: enough for the upper levels of the
/// postings B-tree, small beside the 100 MB an ingest may use.
const CACHE_KIB: i64 = 16 * 1024;
/// How much of a store SQLite reads through a memory map rather than `read` calls into
/// its own cache: the pages a run touches are read in place from the OS page cache (and
/// count towards its RSS only once touched).
const MMAP_BYTES: i64 = 1 << 30;
/// SQLite page cache while a rebuild writes a fresh store, KiB.
const REBUILD_CACHE_KIB: i64 = 128 * 1024;
/// Statements a SQLite connection keeps prepared (the fold and the working index use
/// about twenty texts).
const SQLITE_PREPARED_MAX: usize = 64;

/// Errors of the identity store. A store that is merely out of date, of another log or
/// built otherwise is rebuilt, not an error; these are what remains.
#[derive(Debug, thiserror::Error)]
pub enum IdentityStoreError {
    /// The database refused or failed a statement (SQLite or PostgreSQL; the message
    /// names the store file or schema, never a URL's password).
    #[error(transparent)]
    Database(ProjectionError),
    #[error("{path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Log(#[from] StoreError),
    #[error("{path}: {detail}; run `trustfold rebuild-projections --full`")]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "another process holds {path} for more than {waited_ms} ms; try again when it finishes"
    )]
    Locked { path: PathBuf, waited_ms: u64 },
    #[error("no identity index in {dir}: it is built by the first ingest or import")]
    Missing { dir: PathBuf },
}

impl From<ProjectionError> for IdentityStoreError {
    fn from(e: ProjectionError) -> Self {
        match e {
            ProjectionError::Corrupt { path, detail } => {
                IdentityStoreError::Corrupt { path, detail }
            }
            ProjectionError::Locked { path, waited_ms } => {
                IdentityStoreError::Locked { path, waited_ms }
            }
            ProjectionError::Store(e) => IdentityStoreError::Log(e),
            ProjectionError::Io { path, source } => IdentityStoreError::Io { path, source },
            other => IdentityStoreError::Database(other),
        }
    }
}

type Result<T> = std::result::Result<T, IdentityStoreError>;

fn io<T>(path: &Path, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|source| IdentityStoreError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn sqlite<T>(path: &Path, r: rusqlite::Result<T>) -> Result<T> {
    r.map_err(|source| {
        IdentityStoreError::Database(ProjectionError::Sqlite {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// What a catch-up or rebuild did.
#[derive(Clone, Debug, Default, Serialize)]
pub struct IdentityReport {
    pub from_seq: u64,
    pub to_seq: u64,
    /// Events read (of every kind; only extractions and merge decisions change anything).
    pub events: u64,
    /// Attached candidates in the store afterwards.
    pub attached: u64,
    /// Why the store was rebuilt from the log, when it was.
    pub rebuilt: Option<String>,
    pub elapsed_ms: u64,
}

/// Progress callback: (events folded so far, events in total).
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64);

/// The settings the stored keys depend on: a store built with others is rebuilt. Only
/// the cell size shapes keys; thresholds and list limits are applied when blocks are
/// read, so changing them keeps the store.
fn keys_config(config: &MatchConfig) -> String {
    format!("cell_m={:016x}", config.cell_m.to_bits())
}

/// The identity store of one log: in its data dir, or in its PostgreSQL database.
#[derive(Clone, Debug)]
pub struct IdentityStore {
    place: Place,
}

#[derive(Clone, Debug)]
enum Place {
    /// `<data-dir>/projections`: the pointer file, the store files, the lock files.
    Dir(PathBuf),
    /// Schemas `tfi_<uuid>` of the log's database, `trustfold.identity_current` naming
    /// the live one.
    Postgres(Box<PgPlace>),
}

#[derive(Clone, Debug)]
struct PgPlace {
    url: StoreUrl,
    schemas: SchemaSet,
}

/// An exclusive lock on a lock file, released on drop.
struct FileLock {
    _file: File,
}

/// Takes the flock on `path` (created if missing), waiting up to `wait`.
fn flock(path: &Path, wait: Duration) -> Result<FileLock> {
    if let Some(dir) = path.parent() {
        io(dir, fs::create_dir_all(dir))?;
    }
    let file = io(
        path,
        fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path),
    )?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(FileLock { _file: file }),
            Err(fs::TryLockError::WouldBlock) => {
                if started.elapsed() > wait {
                    return Err(IdentityStoreError::Locked {
                        path: path.to_path_buf(),
                        waited_ms: wait.as_millis() as u64,
                    });
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(fs::TryLockError::Error(e)) => {
                return Err(IdentityStoreError::Io {
                    path: path.to_path_buf(),
                    source: e,
                })
            }
        }
    }
}

impl IdentityStore {
    /// The identity store of the data dir at `root`.
    pub fn in_data_dir(root: &Path) -> IdentityStore {
        IdentityStore {
            place: Place::Dir(root.join(IDENTITY_DIR)),
        }
    }

    /// The identity store in the PostgreSQL database at `url`.
    pub fn on_postgres(url: &StoreUrl) -> IdentityStore {
        IdentityStore {
            place: Place::Postgres(Box::new(PgPlace {
                url: url.clone(),
                schemas: SchemaSet::new(url, PG_PREFIX, PG_POINTER, PG_WRITER_LOCK),
            })),
        }
    }

    /// The identity store of a log: in the data dir the log file lies in, or in the
    /// PostgreSQL database that holds the log. Every code path that resolves against a
    /// log finds its index this way, without a handle threaded through the run.
    pub fn of_log(log: &dyn EventStore) -> IdentityStore {
        match log.backend() {
            Backend::Sqlite(path) => {
                IdentityStore::in_data_dir(path.parent().unwrap_or_else(|| Path::new(".")))
            }
            Backend::Postgres(url) => IdentityStore::on_postgres(url),
        }
    }

    /// The directory of an embedded store (`None` on PostgreSQL).
    pub fn dir(&self) -> Option<&Path> {
        match &self.place {
            Place::Dir(dir) => Some(dir),
            Place::Postgres(_) => None,
        }
    }

    /// Where the store is, for messages: its directory, or the database (without the
    /// URL's password).
    pub fn location(&self) -> String {
        match &self.place {
            Place::Dir(dir) => dir.display().to_string(),
            Place::Postgres(pg) => pg.url.redacted().to_string(),
        }
    }

    /// The live store's path, if one was built and the pointer names a file that exists.
    fn current_path_in(dir: &Path) -> std::result::Result<Option<PathBuf>, String> {
        let pointer = dir.join(POINTER);
        match fs::read_to_string(&pointer) {
            Ok(name) => {
                let name = name.trim();
                let valid = name.starts_with("i-")
                    && name.ends_with(".sqlite3")
                    && !name.contains(['/', '\\'])
                    && name.len() < 100;
                if !valid {
                    return Err(format!(
                        "{} does not name an identity index ({name:?})",
                        pointer.display()
                    ));
                }
                let path = dir.join(name);
                if !path.is_file() {
                    return Err(format!(
                        "{} names {name}, which does not exist",
                        pointer.display()
                    ));
                }
                Ok(Some(path))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(format!("{}: {e}", pointer.display())),
        }
    }

    /// The embedded store's writer lock.
    fn lock(dir: &Path) -> Result<FileLock> {
        flock(
            &dir.join(LOCK_FILE),
            Duration::from_millis(LOCK_WAIT_MS_MAX),
        )
    }

    /// Holds off other runs' identity decisions (see the module doc): whoever holds it
    /// may catch the store up, read its working index, decide and append the decisions,
    /// knowing that no other run (in this process, another, or on another host sharing
    /// the PostgreSQL log) decides meanwhile. Released on drop. Waits up to
    /// [`RESOLVE_LOCK_WAIT_MS_MAX`] for the runs ahead.
    ///
    /// Embedded: a flock on `projections/RESOLVE.LOCK`. PostgreSQL: a session advisory
    /// lock ([`PG_RESOLVE_LOCK`]) on a connection of its own, released on drop or when
    /// the connection dies with its process.
    pub fn resolve_lock(&self) -> Result<ResolveGuard> {
        self.resolve_lock_waiting(Duration::from_millis(RESOLVE_LOCK_WAIT_MS_MAX))
    }

    /// [`Self::resolve_lock`], waiting up to `wait`.
    pub(crate) fn resolve_lock_waiting(&self, wait: Duration) -> Result<ResolveGuard> {
        match &self.place {
            Place::Dir(dir) => Ok(ResolveGuard {
                _held: Held::File {
                    _lock: flock(&dir.join(RESOLVE_LOCK_FILE), wait)?,
                },
            }),
            Place::Postgres(pg) => Ok(ResolveGuard {
                _held: Held::Postgres {
                    _lock: Box::new(PgResolveLock::take(&pg.url, wait)?),
                },
            }),
        }
    }

    /// Folds the events appended since the checkpoint into the live store. A missing
    /// store, or one that cannot be caught up (another format, matcher version or cell
    /// size; another log; an unreadable file), is rebuilt from the log instead, and the
    /// report says why.
    pub fn catch_up(&self, log: &dyn EventStore, config: &MatchConfig) -> Result<IdentityReport> {
        self.catch_up_to(log, config, None)
    }

    /// [`Self::catch_up`] up to `to_seq` at most (tests fold one event at a time).
    pub(crate) fn catch_up_to(
        &self,
        log: &dyn EventStore,
        config: &MatchConfig,
        to_seq: Option<u64>,
    ) -> Result<IdentityReport> {
        let reason = match &self.place {
            Place::Dir(dir) => {
                let _lock = Self::lock(dir)?;
                match Self::current_path_in(dir) {
                    Ok(None) => "no identity index yet".to_string(),
                    Err(why) => why,
                    Ok(Some(path)) => match StoreDb::open(&path, true) {
                        Err(e) => format!("{} is unreadable ({e})", path.display()),
                        Ok(mut db) => match db.usable(log, config)? {
                            None => return db.catch_up(log, config, to_seq),
                            Some(why) => why,
                        },
                    },
                }
            }
            Place::Postgres(pg) => {
                let schemas = &pg.schemas;
                // The writer lock is held by the connection, and released with it at the
                // end of this block when the store is to be rebuilt.
                match schemas.open_write() {
                    Err(ProjectionError::Corrupt { detail, .. }) => detail,
                    Err(e) => return Err(e.into()),
                    Ok((_, None)) => "no identity index yet".to_string(),
                    Ok((conn, Some(schema))) => {
                        let location = schemas.location(&schema);
                        match StoreDb::on_conn(Box::new(conn), location.clone()) {
                            Err(e) => format!("{} is unreadable ({e})", location.display()),
                            Ok(mut db) => match db.usable(log, config)? {
                                None => return db.catch_up(log, config, to_seq),
                                Some(why) => why,
                            },
                        }
                    }
                }
            }
        };
        tracing::info!(reason = %reason, "rebuilding the identity index from the log");
        let mut report = self.rebuild_to(log, config, &mut |_, _| {}, to_seq)?;
        report.rebuilt = Some(reason);
        Ok(report)
    }

    /// Folds the whole log into a fresh store and swaps it in (`rebuild-projections
    /// --full`). Readers of the old store keep reading it until they close it.
    pub fn rebuild(
        &self,
        log: &dyn EventStore,
        config: &MatchConfig,
        progress: Progress<'_>,
    ) -> Result<IdentityReport> {
        let mut report = self.rebuild_to(log, config, progress, None)?;
        report.rebuilt = Some("asked for".into());
        Ok(report)
    }

    fn rebuild_to(
        &self,
        log: &dyn EventStore,
        config: &MatchConfig,
        progress: Progress<'_>,
        to_seq: Option<u64>,
    ) -> Result<IdentityReport> {
        let started = Instant::now();
        let mut report = match &self.place {
            Place::Dir(dir) => Self::rebuild_file(dir, log, config, progress, to_seq)?,
            Place::Postgres(pg) => {
                Self::rebuild_schema(&pg.schemas, log, config, progress, to_seq)?
            }
        };
        report.from_seq = 1;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// Builds a new store file, then swaps the pointer file under the writer lock.
    fn rebuild_file(
        dir: &Path,
        log: &dyn EventStore,
        config: &MatchConfig,
        progress: Progress<'_>,
        to_seq: Option<u64>,
    ) -> Result<IdentityReport> {
        io(dir, fs::create_dir_all(dir))?;
        let name = format!("i-{}.sqlite3", uuid::Uuid::now_v7().simple());
        let path = dir.join(&name);
        let mut db = StoreDb::create(&path, config)?;
        let mut report = db.fold(log, config, to_seq, true, progress)?;
        db.finish_bulk()?;
        // Events appended while we built are folded under the lock, then the swap.
        let lock = Self::lock(dir)?;
        let tail = db.catch_up(log, config, to_seq)?;
        report.events += tail.events;
        report.to_seq = tail.to_seq;
        report.attached = tail.attached;
        drop(db);
        let old = Self::current_path_in(dir).ok().flatten();
        let pointer = dir.join(POINTER);
        let tmp = dir.join(format!("{POINTER}.tmp"));
        {
            let mut f = io(&tmp, File::create(&tmp))?;
            io(&tmp, f.write_all(format!("{name}\n").as_bytes()))?;
            io(&tmp, f.sync_all())?;
        }
        io(&pointer, fs::rename(&tmp, &pointer))?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        drop(lock);
        if let Some(old) = old.filter(|o| *o != path) {
            // Readers that still have the old store open keep reading it (unlinked).
            remove_database(&old);
        }
        Self::remove_orphans(dir, &path);
        Ok(report)
    }

    /// Builds a new schema (held by its connection, so no writer drops it), then, under
    /// the writer lock, folds what was appended meanwhile and swaps the pointer row in
    /// one transaction. The schema it retires is dropped by a later writer once no reader
    /// is in it; a failed build's schema is dropped at once.
    fn rebuild_schema(
        schemas: &SchemaSet,
        log: &dyn EventStore,
        config: &MatchConfig,
        progress: Progress<'_>,
        to_seq: Option<u64>,
    ) -> Result<IdentityReport> {
        let (conn, schema) = schemas.create()?;
        let built = (|| -> Result<(StoreDb, IdentityReport)> {
            let mut db = StoreDb {
                conn: Box::new(conn),
                path: schemas.location(&schema),
            };
            db.init(config)?;
            let mut report = db.fold(log, config, to_seq, true, progress)?;
            db.finish_bulk()?;
            schemas.take_writer_lock(&*db.conn)?;
            let tail = db.catch_up(log, config, to_seq)?;
            report.events += tail.events;
            report.to_seq = tail.to_seq;
            report.attached = tail.attached;
            Ok((db, report))
        })();
        let (db, report) = match built {
            Ok(b) => b,
            Err(e) => {
                schemas.abandon(&schema);
                return Err(e);
            }
        };
        schemas.publish(&*db.conn, &schema)?;
        Ok(report)
    }

    /// Removes store files of interrupted rebuilds (see [`ORPHAN_AGE_MS`]).
    fn remove_orphans(dir: &Path, current: &Path) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if path == current || !name.starts_with("i-") || !name.ends_with(".sqlite3") {
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

    /// Opens the live store for reading.
    fn open_read(&self) -> Result<StoreDb> {
        let dir = match &self.place {
            Place::Dir(dir) => dir,
            Place::Postgres(pg) => {
                let Some((conn, schema)) = pg.schemas.open_read()? else {
                    return Err(IdentityStoreError::Missing {
                        dir: PathBuf::from(pg.url.redacted()),
                    });
                };
                return StoreDb::on_conn(Box::new(conn), pg.schemas.location(&schema));
            }
        };
        let path = match Self::current_path_in(dir) {
            Ok(Some(path)) => path,
            Ok(None) => return Err(IdentityStoreError::Missing { dir: dir.clone() }),
            Err(detail) => {
                return Err(IdentityStoreError::Corrupt {
                    path: dir.join(POINTER),
                    detail,
                })
            }
        };
        StoreDb::open(&path, false)
    }

    /// The working index for `candidates`: the attached candidates and blocks their
    /// decisions can read, as of the store's checkpoint (one read transaction), with the
    /// candidates among them waiting for a review. Catch the store up first.
    pub fn working_index(
        &self,
        candidates: &[super::CandidateRef<'_>],
        config: &MatchConfig,
    ) -> Result<WorkingIndex> {
        let db = self.open_read()?;
        working::build(&db, candidates, config)
    }

    /// Every table of the live store in a canonical order (tests compare an incremental
    /// catch-up with a rebuild).
    pub fn dump(&self) -> Result<StoreDump> {
        self.open_read()?.dump()
    }
}

/// The resolve lock, held until dropped (see [`IdentityStore::resolve_lock`]).
pub struct ResolveGuard {
    _held: Held,
}

/// What a guard holds, released by its own drop.
enum Held {
    File { _lock: FileLock },
    Postgres { _lock: Box<PgResolveLock> },
}

/// The resolve lock on PostgreSQL: a session advisory lock on a connection of its own.
struct PgResolveLock {
    conn: PgConn,
}

impl PgResolveLock {
    fn take(url: &StoreUrl, wait: Duration) -> Result<PgResolveLock> {
        let location = PathBuf::from(format!("the resolve lock of {}", url.redacted()));
        let conn = PgConn::new(url.connect()?, location.clone());
        // A host that vanishes without closing the connection releases the lock once
        // the server notices: `StoreUrl::connect` sets the server's TCP keepalives.
        let wait_ms = wait.as_millis().clamp(1, i32::MAX as u128 / 2) as u64;
        conn.batch(&format!(
            "SET lock_timeout = {wait_ms}; SET statement_timeout = {}",
            wait_ms * 2
        ))?;
        match conn.execute("SELECT pg_advisory_lock(?1)", params![PG_RESOLVE_LOCK]) {
            Ok(_) => Ok(PgResolveLock { conn }),
            // lock_not_available: the wait ran out.
            Err(ProjectionError::Postgres { code: Some(c), .. }) if c == "55P03" => {
                Err(IdentityStoreError::Locked {
                    path: location,
                    waited_ms: wait_ms,
                })
            }
            Err(e) => Err(e.into()),
        }
    }
}

impl Drop for PgResolveLock {
    fn drop(&mut self) {
        // Closing the connection releases it anyway; this releases it at once.
        let _ = self
            .conn
            .execute("SELECT pg_advisory_unlock(?1)", params![PG_RESOLVE_LOCK]);
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

/// The tables on SQLite.
const SQLITE_TABLES: &str = "
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE seen (candidate_id TEXT PRIMARY KEY, seq INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE attached (
    idx INTEGER PRIMARY KEY,
    candidate_id TEXT NOT NULL UNIQUE,
    entity_id TEXT NOT NULL,
    seq INTEGER,
    keys_hash INTEGER NOT NULL,
    form BLOB
);
CREATE TABLE postings (
    kind INTEGER NOT NULL,
    key INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    PRIMARY KEY (kind, key, idx)
) WITHOUT ROWID;
CREATE TABLE in_review (candidate_id TEXT PRIMARY KEY, review_id TEXT NOT NULL) WITHOUT ROWID;
";

/// The same tables on PostgreSQL (in the store's own schema): the same columns, with
/// PostgreSQL's type names, and text keys in the "C" collation so that both engines sort
/// them byte by byte.
const POSTGRES_TABLES: &str = r#"
CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE seen (candidate_id TEXT COLLATE "C" PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE attached (
    idx BIGINT PRIMARY KEY,
    candidate_id TEXT COLLATE "C" NOT NULL UNIQUE,
    entity_id TEXT COLLATE "C" NOT NULL,
    seq BIGINT,
    keys_hash BIGINT NOT NULL,
    form BYTEA
);
CREATE TABLE postings (
    kind SMALLINT NOT NULL,
    key BIGINT NOT NULL,
    idx BIGINT NOT NULL,
    PRIMARY KEY (kind, key, idx)
);
CREATE TABLE in_review (candidate_id TEXT COLLATE "C" PRIMARY KEY, review_id TEXT NOT NULL);
"#;

/// The counters a decision reads besides the blocks, kept in `meta`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Attached candidates with coordinates.
    pub n_with_coordinates: u64,
    /// Attached candidates naming another record.
    pub n_cross_references: u64,
    /// Distinct cells holding attached candidates.
    pub n_cells: u64,
    /// The next attach index.
    pub next_idx: u64,
}

/// A store's checkpoint: the last seq folded and that event's hash (hex).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
}

/// One identity store: a SQLite file, or a PostgreSQL schema. Every statement goes
/// through [`Conn`], so both engines run the same SQL.
pub(crate) struct StoreDb {
    conn: Box<dyn Conn>,
    /// Where it is, for messages (the file, or the schema).
    path: PathBuf,
}

impl StoreDb {
    /// Opens the SQLite store file at `path`.
    fn open(path: &Path, write: bool) -> Result<StoreDb> {
        use rusqlite::{Connection, OpenFlags};
        let flags = if write {
            OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX
        } else {
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
        };
        let conn = sqlite(path, Connection::open_with_flags(path, flags))?;
        sqlite(
            path,
            conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS)),
        )?;
        conn.set_prepared_statement_cache_capacity(SQLITE_PREPARED_MAX);
        let db = StoreDb {
            conn: Box::new(SqliteConn {
                conn,
                path: path.to_path_buf(),
            }),
            path: path.to_path_buf(),
        };
        // NORMAL: a commit is not flushed to disk until the WAL is checkpointed. A power
        // cut may then lose the last catch-ups, never tear one (WAL), and the next
        // catch-up folds those events again from the log, which holds them durably.
        // (FULL costs an fsync per catch-up: about 25 ms, most of a small run.)
        db.conn.batch(&format!(
            "PRAGMA cache_size=-{CACHE_KIB}; PRAGMA synchronous=NORMAL; \
             PRAGMA mmap_size={MMAP_BYTES};"
        ))?;
        // Reading the format proves the file is an identity store.
        db.format_version()?;
        Ok(db)
    }

    /// A store on an open connection (a PostgreSQL schema selected), checked to be one
    /// by reading its format.
    fn on_conn(conn: Box<dyn Conn>, location: PathBuf) -> Result<StoreDb> {
        let db = StoreDb {
            conn,
            path: location,
        };
        db.format_version()?;
        Ok(db)
    }

    /// Creates a SQLite store file at `path`, with its tables.
    fn create(path: &Path, config: &MatchConfig) -> Result<StoreDb> {
        let conn = sqlite(path, rusqlite::Connection::open(path))?;
        conn.set_prepared_statement_cache_capacity(SQLITE_PREPARED_MAX);
        let db = StoreDb {
            conn: Box::new(SqliteConn {
                conn,
                path: path.to_path_buf(),
            }),
            path: path.to_path_buf(),
        };
        // Unreferenced until the swap: nothing reads it while it is built, and a crash
        // leaves an orphan, not a torn store. So no journal while folding.
        db.conn.batch(&format!(
            "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-{REBUILD_CACHE_KIB};"
        ))?;
        db.init(config)?;
        Ok(db)
    }

    /// The tables of this engine, and the meta rows of an empty store.
    fn init(&self, config: &MatchConfig) -> Result<()> {
        let conn = &*self.conn;
        // One transaction: one commit (on PostgreSQL, one WAL flush rather than a dozen).
        let tx = Tx::begin(conn, true)?;
        conn.batch(match conn.engine() {
            Engine::Sqlite => SQLITE_TABLES,
            Engine::Postgres => POSTGRES_TABLES,
        })?;
        for (k, v) in [
            ("format_version", FORMAT_VERSION.to_string()),
            ("matcher_version", MATCHER_VERSION.to_string()),
            ("keys_config", keys_config(config)),
            ("checkpoint_seq", "0".into()),
            ("checkpoint_hash", String::new()),
            ("built_at", chrono::Utc::now().to_rfc3339()),
        ] {
            set_meta(conn, k, &v)?;
        }
        fold::write_counters(conn, &Counters::default())?;
        tx.commit()?;
        Ok(())
    }

    /// The state in which a store is swapped in: on SQLite, WAL mode and a durable file;
    /// on PostgreSQL (durable as it is), statistics for the planner.
    fn finish_bulk(&mut self) -> Result<()> {
        match self.conn.engine() {
            Engine::Sqlite => self.conn.batch(&format!(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-{CACHE_KIB};"
            ))?,
            Engine::Postgres => self
                .conn
                .batch("ANALYZE meta, seen, attached, postings, in_review")?,
        }
        Ok(())
    }

    /// A read transaction: one checkpoint's rows, whatever a writer commits meanwhile
    /// (SQLite's WAL gives each transaction a snapshot; PostgreSQL needs REPEATABLE READ
    /// for one, its default giving each statement its own).
    fn begin_read(&self) -> Result<Tx<'_>> {
        let tx = Tx::begin(&*self.conn, false)?;
        if self.conn.engine() == Engine::Postgres {
            self.conn
                .batch("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")?;
        }
        Ok(tx)
    }

    fn format_version(&self) -> Result<i64> {
        Ok(get_meta(&*self.conn, "format_version")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    /// `None` when this store can be caught up from `log` with `config`, else why it must
    /// be rebuilt. An error is only for failing to read the log.
    fn usable(&mut self, log: &dyn EventStore, config: &MatchConfig) -> Result<Option<String>> {
        let rebuild = |why: String| Ok(Some(why));
        let conn = &*self.conn;
        let meta = |key: &str| -> Result<String> { Ok(get_meta(conn, key)?.unwrap_or_default()) };
        let format = self.format_version()?;
        if format != FORMAT_VERSION {
            return rebuild(format!(
                "the identity index is in format {format}; this build writes format {FORMAT_VERSION}"
            ));
        }
        let matcher = meta("matcher_version")?;
        if matcher != MATCHER_VERSION {
            return rebuild(format!(
                "the identity index was built by matcher version {matcher:?}; this is {MATCHER_VERSION:?}"
            ));
        }
        let keys = meta("keys_config")?;
        if keys != keys_config(config) {
            return rebuild(format!(
                "the identity index was built with other matching settings ({keys}, now {})",
                keys_config(config)
            ));
        }
        let checkpoint = match read_checkpoint(conn) {
            Ok(c) => c,
            Err(e) => return rebuild(e.to_string()),
        };
        if checkpoint.seq > 0 {
            let at = log.read_at(checkpoint.seq)?;
            let matches = at
                .as_ref()
                .is_some_and(|e| e.hash.to_hex() == checkpoint.hash);
            if !matches {
                let head = log.head()?.map_or(0, |h| h.seq);
                return rebuild(format!(
                    "the identity index was folded up to seq {} of a different log (the log's head is {head})",
                    checkpoint.seq
                ));
            }
        }
        Ok(None)
    }

    /// Folds the events after the checkpoint (up to `to_seq`) in one transaction.
    fn catch_up(
        &mut self,
        log: &dyn EventStore,
        config: &MatchConfig,
        to_seq: Option<u64>,
    ) -> Result<IdentityReport> {
        self.fold(log, config, to_seq, false, &mut |_, _| {})
    }

    /// Folds in one write transaction, which also moves the checkpoint: the rows and the
    /// checkpoint commit together.
    fn fold(
        &mut self,
        log: &dyn EventStore,
        config: &MatchConfig,
        to_seq: Option<u64>,
        eager: bool,
        progress: Progress<'_>,
    ) -> Result<IdentityReport> {
        let started = Instant::now();
        let tx = Tx::begin(&*self.conn, true)?;
        let report = fold::fold(&*self.conn, log, config, to_seq, eager, progress)?;
        tx.commit()?;
        Ok(IdentityReport {
            elapsed_ms: started.elapsed().as_millis() as u64,
            ..report
        })
    }

    /// Every table in a canonical order, formatted the same on both engines.
    fn dump(&self) -> Result<StoreDump> {
        let conn = &*self.conn;
        let tx = self.begin_read()?;
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        let dump = StoreDump {
            checkpoint: read_checkpoint(conn)?,
            counters: fold::read_counters(conn)?,
            seen: sql::all(
                conn,
                "SELECT candidate_id, seq FROM seen ORDER BY candidate_id",
                &[],
                |r| Ok(format!("{} {}", r.req_text(0)?, r.req_int(1)?)),
            )?,
            attached: sql::all(
                conn,
                "SELECT idx, candidate_id, entity_id, seq, keys_hash, form FROM attached \
                 ORDER BY idx",
                &[],
                |r| {
                    Ok(format!(
                        "{} {} {} {} {} {}",
                        r.req_int(0)?,
                        r.req_text(1)?,
                        r.req_text(2)?,
                        or_dash(r.int(3)?.map(|s| s.to_string())),
                        r.req_int(4)?,
                        or_dash(r.blob(5)?.map(|b| hex_upper(&b))),
                    ))
                },
            )?,
            postings: sql::all(
                conn,
                "SELECT kind, key, idx FROM postings ORDER BY kind, key, idx",
                &[],
                |r| {
                    Ok(format!(
                        "{} {} {}",
                        r.req_int(0)?,
                        r.req_int(1)?,
                        r.req_int(2)?
                    ))
                },
            )?,
            in_review: sql::all(
                conn,
                "SELECT candidate_id, review_id FROM in_review ORDER BY candidate_id",
                &[],
                |r| Ok(format!("{} {}", r.req_text(0)?, r.req_text(1)?)),
            )?,
        };
        tx.commit()?;
        Ok(dump)
    }
}

/// Rows per multi-row statement, largest first: a list is written (or looked up) in as
/// many of the longest statements as fit, then shorter ones, so only a few statement
/// texts exist, each prepared once (on PostgreSQL, each statement is a round trip to the
/// server, whatever its rows). 128 rows of six columns are 768 parameters, within every
/// SQLite's limit.
const ROWS_PER_STATEMENT: [usize; 4] = [128, 16, 4, 1];

/// `<head> VALUES (?1, …), (…) <tail>` for `rows` rows of `width` parameters.
pub(super) fn values_statement(head: &str, tail: &str, rows: usize, width: usize) -> String {
    let mut sql = format!("{head} VALUES ");
    for r in 0..rows {
        sql.push_str(if r == 0 { "(" } else { ", (" });
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("?{}", r * width + c + 1));
        }
        sql.push(')');
    }
    sql.push(' ');
    sql.push_str(tail);
    sql
}

/// `<head> IN (?1, …, ?n)`.
pub(super) fn in_statement(head: &str, n: usize) -> String {
    let list: Vec<String> = (1..=n).map(|i| format!("?{i}")).collect();
    format!("{head} IN ({})", list.join(", "))
}

/// Runs `statement(rows)` over `params` (`width` per row), [`ROWS_PER_STATEMENT`] rows at
/// a time, handing each result row to `f`.
pub(super) fn in_chunks(
    conn: &dyn Conn,
    params: &[Param<'_>],
    width: usize,
    statement: impl Fn(usize) -> String,
    f: &mut dyn FnMut(&dyn Row) -> std::result::Result<(), ProjectionError>,
) -> Result<()> {
    let mut rest = params;
    for rows in ROWS_PER_STATEMENT {
        if rest.len() < rows * width {
            continue;
        }
        let sql = statement(rows);
        while rest.len() >= rows * width {
            let (chunk, tail) = rest.split_at(rows * width);
            conn.each(&sql, chunk, f)?;
            rest = tail;
        }
    }
    Ok(())
}

fn hex_upper(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02X}");
    }
    s
}

fn get_meta(conn: &dyn Conn, key: &str) -> Result<Option<String>> {
    Ok(sql::one(
        conn,
        "SELECT value FROM meta WHERE key = ?1",
        params![key],
        |r| r.req_text(0),
    )?)
}

fn set_meta(conn: &dyn Conn, key: &str, value: &str) -> Result<()> {
    conn.execute(
        "INSERT INTO meta(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// A store's checkpoint as `conn` sees it.
fn read_checkpoint(conn: &dyn Conn) -> Result<Checkpoint> {
    let seq = get_meta(conn, "checkpoint_seq")?.unwrap_or_default();
    let seq = seq.parse().map_err(|_| IdentityStoreError::Corrupt {
        path: conn.location().to_path_buf(),
        detail: format!("the stored checkpoint {seq:?} is not a number"),
    })?;
    Ok(Checkpoint {
        seq,
        hash: get_meta(conn, "checkpoint_hash")?.unwrap_or_default(),
    })
}

/// The content of a store, for comparisons.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StoreDump {
    pub checkpoint: Checkpoint,
    pub counters: Counters,
    pub seen: Vec<String>,
    pub attached: Vec<String>,
    pub postings: Vec<String>,
    pub in_review: Vec<String>,
}
