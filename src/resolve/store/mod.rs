//! The persisted identity index: the blocks and attached candidates the matcher reads,
//! kept in a SQLite file of their own beside the projections, caught up from the log like
//! them, and read a few blocks at a time.
//!
//! A run used to rebuild the whole [`IdentityIndex`](super::IdentityIndex) from every
//! `CandidateExtracted` and `MergeDecided` in the log, so its cost grew with history. Here the index is a fold of
//! the log kept on disk (`fold.rs`), and a run builds a *working* index holding only what
//! its own decisions can reach (`working.rs`): the blocks its candidates' keys name and the
//! attached candidates in them. The decisions are the full index's (see
//! `IdentityIndex::working` for why), and the full scan stays as the oracle the tests
//! compare with (`ingest::stages::identity_index`).
//!
//! Layout under `<data-dir>/projections/` (as the projections', see ADR 0002 and 0005):
//! ```text
//! IDENTITY             the name of the live store, e.g. "i-0190….sqlite3"
//! i-<uuid>.sqlite3     the stores (WAL); a rebuild writes a new one and swaps IDENTITY
//! IDENTITY.LOCK        held (flock) by whoever writes: a catch-up or a rebuild's swap
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
//! rebuilt from the log on the next catch-up, never read.

mod fold;
#[cfg(test)]
mod tests;
mod working;

use std::fs::{self, File};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension};
use serde::Serialize;
use trustfold_events::{Backend, EventStore, StoreError};

use super::{MatchConfig, MATCHER_VERSION};

pub use working::WorkingIndex;

/// The directory of the identity store inside a data dir (shared with the projections).
pub const IDENTITY_DIR: &str = "projections";
/// The pointer file naming the live store.
const POINTER: &str = "IDENTITY";
/// The writers' lock file.
const LOCK_FILE: &str = "IDENTITY.LOCK";
/// The schema this build writes; a store of another format is rebuilt.
/// Format 3: the street, (street, number) and (locality, word) blocks, and form version 2.
pub const FORMAT_VERSION: i64 = 3;
/// How long a writer waits for another writer's lock.
pub const LOCK_WAIT_MS_MAX: u64 = 120_000;
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

/// Errors of the identity store. A store that is merely out of date, of another log or
/// built otherwise is rebuilt, not an error; these are what remains.
#[derive(Debug, thiserror::Error)]
pub enum IdentityStoreError {
    #[error("sqlite error on the identity index {path}")]
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

type Result<T> = std::result::Result<T, IdentityStoreError>;

fn sql<T>(path: &Path, r: rusqlite::Result<T>) -> Result<T> {
    r.map_err(|source| IdentityStoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    })
}

fn io<T>(path: &Path, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|source| IdentityStoreError::Io {
        path: path.to_path_buf(),
        source,
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

/// The identity store of one data dir.
#[derive(Clone, Debug)]
pub struct IdentityStore {
    dir: PathBuf,
}

/// An exclusive lock on the identity store, released on drop.
struct WriteLock {
    _file: File,
}

impl IdentityStore {
    /// The identity store of the data dir at `root`.
    pub fn in_data_dir(root: &Path) -> IdentityStore {
        IdentityStore {
            dir: root.join(IDENTITY_DIR),
        }
    }

    /// The identity store of a log: in the data dir the log file lies in. Every code path
    /// that resolves against a log finds its index this way, without a handle threaded
    /// through the run.
    pub fn of_log(log: &dyn EventStore) -> IdentityStore {
        match log.backend() {
            Backend::Sqlite(path) => {
                IdentityStore::in_data_dir(path.parent().unwrap_or_else(|| Path::new(".")))
            }
            Backend::Postgres(_) => todo!("the identity index on PostgreSQL"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The live store's path, if one was built and the pointer names a file that exists.
    fn current_path(&self) -> std::result::Result<Option<PathBuf>, String> {
        let pointer = self.dir.join(POINTER);
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
                let path = self.dir.join(name);
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

    fn lock(&self) -> Result<WriteLock> {
        io(&self.dir, fs::create_dir_all(&self.dir))?;
        let path = self.dir.join(LOCK_FILE);
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
                        return Err(IdentityStoreError::Locked {
                            path,
                            waited_ms: LOCK_WAIT_MS_MAX,
                        });
                    }
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(IdentityStoreError::Io { path, source: e })
                }
            }
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
        let lock = self.lock()?;
        let reason = match self.current_path() {
            Ok(None) => "no identity index yet".to_string(),
            Err(why) => why,
            Ok(Some(path)) => match StoreDb::open(&path, true) {
                Err(e) => format!("{} is unreadable ({e})", path.display()),
                Ok(mut db) => match db.usable(log, config)? {
                    None => return db.catch_up(log, config, to_seq),
                    Some(why) => why,
                },
            },
        };
        drop(lock);
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
        io(&self.dir, fs::create_dir_all(&self.dir))?;
        let name = format!("i-{}.sqlite3", uuid::Uuid::now_v7().simple());
        let path = self.dir.join(&name);
        let mut db = StoreDb::create(&path, config)?;
        let mut report = db.fold(log, config, to_seq, true, progress)?;
        db.finish_bulk()?;
        // Events appended while we built are folded under the lock, then the swap.
        let lock = self.lock()?;
        let tail = db.catch_up(log, config, to_seq)?;
        report.events += tail.events;
        report.to_seq = tail.to_seq;
        report.attached = tail.attached;
        drop(db);
        let old = self.current_path().ok().flatten();
        let pointer = self.dir.join(POINTER);
        let tmp = self.dir.join(format!("{POINTER}.tmp"));
        {
            let mut f = io(&tmp, File::create(&tmp))?;
            io(&tmp, f.write_all(format!("{name}\n").as_bytes()))?;
            io(&tmp, f.sync_all())?;
        }
        io(&pointer, fs::rename(&tmp, &pointer))?;
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        drop(lock);
        if let Some(old) = old.filter(|o| *o != path) {
            // Readers that still have the old store open keep reading it (unlinked).
            remove_database(&old);
        }
        self.remove_orphans(&path);
        report.from_seq = 1;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(report)
    }

    /// Removes store files of interrupted rebuilds (see [`ORPHAN_AGE_MS`]).
    fn remove_orphans(&self, current: &Path) {
        let Ok(entries) = fs::read_dir(&self.dir) else {
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
        let path = match self.current_path() {
            Ok(Some(path)) => path,
            Ok(None) => {
                return Err(IdentityStoreError::Missing {
                    dir: self.dir.clone(),
                })
            }
            Err(detail) => {
                return Err(IdentityStoreError::Corrupt {
                    path: self.dir.join(POINTER),
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
        let mut db = self.open_read()?;
        working::build(&mut db, candidates, config)
    }

    /// Every table of the live store in a canonical order (tests compare an incremental
    /// catch-up with a rebuild).
    pub fn dump(&self) -> Result<StoreDump> {
        self.open_read()?.dump()
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

const SCHEMA: &str = "
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

/// One identity store file.
pub(crate) struct StoreDb {
    conn: Connection,
    path: PathBuf,
}

impl StoreDb {
    fn open(path: &Path, write: bool) -> Result<StoreDb> {
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
        // NORMAL: a commit is not flushed to disk until the WAL is checkpointed. A power
        // cut may then lose the last catch-ups, never tear one (WAL), and the next
        // catch-up folds those events again from the log, which holds them durably.
        // (FULL costs an fsync per catch-up: about 25 ms, most of a small run.)
        sql(
            path,
            conn.execute_batch(&format!(
                "PRAGMA cache_size=-{CACHE_KIB}; PRAGMA synchronous=NORMAL; \
                 PRAGMA mmap_size={MMAP_BYTES};"
            )),
        )?;
        let db = StoreDb {
            conn,
            path: path.to_path_buf(),
        };
        // Reading the format proves the file is an identity store.
        db.format_version()?;
        Ok(db)
    }

    fn create(path: &Path, config: &MatchConfig) -> Result<StoreDb> {
        let conn = sql(path, Connection::open(path))?;
        // Unreferenced until the swap: nothing reads it while it is built, and a crash
        // leaves an orphan, not a torn store. So no journal while folding.
        sql(
            path,
            conn.execute_batch(&format!(
                "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-{REBUILD_CACHE_KIB};"
            )),
        )?;
        sql(path, conn.execute_batch(SCHEMA))?;
        let db = StoreDb {
            conn,
            path: path.to_path_buf(),
        };
        for (k, v) in [
            ("format_version", FORMAT_VERSION.to_string()),
            ("matcher_version", MATCHER_VERSION.to_string()),
            ("keys_config", keys_config(config)),
            ("checkpoint_seq", "0".into()),
            ("checkpoint_hash", String::new()),
            ("built_at", chrono::Utc::now().to_rfc3339()),
        ] {
            db.set_meta(&db.conn, k, &v)?;
        }
        fold::write_counters(&db.conn, &db.path, &Counters::default())?;
        Ok(db)
    }

    /// WAL mode and a durable file: the state in which a store is swapped in.
    fn finish_bulk(&mut self) -> Result<()> {
        sql(
            &self.path,
            self.conn.execute_batch(&format!(
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-{CACHE_KIB};"
            )),
        )?;
        Ok(())
    }

    fn get_meta(&self, conn: &Connection, key: &str) -> Result<Option<String>> {
        get_meta(conn, &self.path, key)
    }

    fn set_meta(&self, conn: &Connection, key: &str, value: &str) -> Result<()> {
        set_meta(conn, &self.path, key, value)
    }

    fn format_version(&self) -> Result<i64> {
        Ok(self
            .get_meta(&self.conn, "format_version")?
            .and_then(|v| v.parse().ok())
            .unwrap_or(0))
    }

    fn checkpoint(&self, conn: &Connection) -> Result<Checkpoint> {
        read_checkpoint(conn, &self.path)
    }

    /// `None` when this store can be caught up from `log` with `config`, else why it must
    /// be rebuilt. An error is only for failing to read the log.
    fn usable(&mut self, log: &dyn EventStore, config: &MatchConfig) -> Result<Option<String>> {
        let rebuild = |why: String| Ok(Some(why));
        let format = self.format_version()?;
        if format != FORMAT_VERSION {
            return rebuild(format!(
                "the identity index is in format {format}; this build writes format {FORMAT_VERSION}"
            ));
        }
        let matcher = self
            .get_meta(&self.conn, "matcher_version")?
            .unwrap_or_default();
        if matcher != MATCHER_VERSION {
            return rebuild(format!(
                "the identity index was built by matcher version {matcher:?}; this is {MATCHER_VERSION:?}"
            ));
        }
        let keys = self
            .get_meta(&self.conn, "keys_config")?
            .unwrap_or_default();
        if keys != keys_config(config) {
            return rebuild(format!(
                "the identity index was built with other matching settings ({keys}, now {})",
                keys_config(config)
            ));
        }
        let checkpoint = match self.checkpoint(&self.conn) {
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

    fn fold(
        &mut self,
        log: &dyn EventStore,
        config: &MatchConfig,
        to_seq: Option<u64>,
        eager: bool,
        progress: Progress<'_>,
    ) -> Result<IdentityReport> {
        let started = Instant::now();
        let path = self.path.clone();
        let tx = sql(
            &path,
            self.conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate),
        )?;
        let report = fold::fold(&tx, &path, log, config, to_seq, eager, progress)?;
        sql(&path, tx.commit())?;
        Ok(IdentityReport {
            elapsed_ms: started.elapsed().as_millis() as u64,
            ..report
        })
    }

    fn dump(&mut self) -> Result<StoreDump> {
        let path = self.path.clone();
        let tx = sql(&path, self.conn.transaction())?;
        let rows = |q: &str| -> Result<Vec<String>> {
            let mut stmt = sql(&path, tx.prepare(q))?;
            let out = sql(
                &path,
                stmt.query_map([], |r| r.get::<_, String>(0))
                    .and_then(|it| it.collect::<rusqlite::Result<Vec<_>>>()),
            )?;
            Ok(out)
        };
        let dump = StoreDump {
            checkpoint: read_checkpoint(&tx, &path)?,
            counters: fold::read_counters(&tx, &path)?,
            seen: rows("SELECT candidate_id || ' ' || seq FROM seen ORDER BY candidate_id")?,
            attached: rows(
                "SELECT idx || ' ' || candidate_id || ' ' || entity_id || ' ' || ifnull(seq, '-') \
                 || ' ' || keys_hash || ' ' || ifnull(hex(form), '-') FROM attached ORDER BY idx",
            )?,
            postings: rows(
                "SELECT kind || ' ' || key || ' ' || idx FROM postings ORDER BY kind, key, idx",
            )?,
            in_review: rows(
                "SELECT candidate_id || ' ' || review_id FROM in_review ORDER BY candidate_id",
            )?,
        };
        Ok(dump)
    }
}

fn get_meta(conn: &Connection, path: &Path, key: &str) -> Result<Option<String>> {
    sql(
        path,
        conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional()),
    )
}

fn set_meta(conn: &Connection, path: &Path, key: &str, value: &str) -> Result<()> {
    sql(
        path,
        conn.prepare_cached(
            "INSERT INTO meta(key, value) VALUES (?1, ?2)
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        )
        .and_then(|mut s| s.execute(params![key, value])),
    )?;
    Ok(())
}

/// A store's checkpoint as `conn` sees it.
fn read_checkpoint(conn: &Connection, path: &Path) -> Result<Checkpoint> {
    let seq = get_meta(conn, path, "checkpoint_seq")?.unwrap_or_default();
    let seq = seq.parse().map_err(|_| IdentityStoreError::Corrupt {
        path: path.to_path_buf(),
        detail: format!("the stored checkpoint {seq:?} is not a number"),
    })?;
    Ok(Checkpoint {
        seq,
        hash: get_meta(conn, path, "checkpoint_hash")?.unwrap_or_default(),
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
