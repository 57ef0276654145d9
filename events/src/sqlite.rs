//! The embedded event log: SQLite (WAL) through rusqlite.
//!
//! Concurrency: every append runs in a `BEGIN IMMEDIATE` transaction, which takes
//! SQLite's single write lock before reading the head. Reading the head, checking stream
//! versions and inserting therefore happen under one lock, across threads and processes,
//! which is what keeps `seq` gap-free and the compare-and-swap honest.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::types::ValueRef;
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use crate::append::{prepare_rows, validate, PreparedRow, APPEND_PIPELINE_MIN_EVENTS};
use crate::envelope::{NewEvent, RecordedEvent, StoredEvent};
use crate::hash::Hash32;
use crate::limits::{BUSY_TIMEOUT_MS, READ_PAGE_EVENTS};
use crate::store::{
    AppendBatch, Appended, ChainCheck, EventFilter, EventStore, ExpectedVersion, Head, StoreError,
    StoredEvents,
};

/// `PRAGMA application_id` of a trustfold log ("TFLG"), so another SQLite file is
/// recognised as "not ours" instead of being written into.
const APPLICATION_ID: i32 = 0x5446_4C47;

/// Page cache per connection, in KiB.
const SQLITE_CACHE_KIB: u32 = 32 * 1024;

/// The on-disk format version (`PRAGMA user_version`).
const FORMAT_VERSION: i32 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS events (
    seq            INTEGER PRIMARY KEY,
    id             BLOB    NOT NULL UNIQUE,
    stream         TEXT    NOT NULL,
    stream_version INTEGER NOT NULL,
    kind           TEXT    NOT NULL,
    schema_version INTEGER NOT NULL,
    recorded_at_us INTEGER NOT NULL,
    run_id         BLOB,
    trace_id       TEXT,
    causation_id   BLOB,
    payload        BLOB    NOT NULL,
    hash           BLOB    NOT NULL,
    UNIQUE (stream, stream_version)
);
CREATE TABLE IF NOT EXISTS log_meta (
    key   TEXT PRIMARY KEY,
    value BLOB NOT NULL
);
";

const SELECT_COLUMNS: &str = "seq, id, stream, stream_version, kind, schema_version, \
     recorded_at_us, run_id, trace_id, causation_id, payload, hash";

/// Runs `f` again while SQLite answers "busy" without waiting, up to `BUSY_TIMEOUT_MS`.
/// Switching a fresh file to WAL and WAL recovery can report busy at once instead of
/// calling the busy handler, when several processes open a new log together.
fn retry_busy<T>(mut f: impl FnMut() -> rusqlite::Result<T>) -> rusqlite::Result<T> {
    let started = std::time::Instant::now();
    loop {
        match f() {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::DatabaseBusy
                    && started.elapsed() < Duration::from_millis(BUSY_TIMEOUT_MS) =>
            {
                std::thread::sleep(Duration::from_millis(5 + fastrand_ms()));
            }
            other => return other,
        }
    }
}

/// A few milliseconds of jitter, so racing openers do not retry in lockstep.
fn fastrand_ms() -> u64 {
    u64::from(std::process::id() % 7)
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::from(d.subsec_micros() % 11)))
}

/// The last row's seq and hash as a [`Head`], refusing a malformed stored hash.
fn checked_head(raw: Option<(u64, Vec<u8>)>) -> Result<Option<Head>, StoreError> {
    raw.map(|(seq, hash)| {
        Hash32::from_slice(&hash)
            .map(|hash| Head { seq, hash })
            .ok_or_else(|| {
                StoreError::Integrity(format!("the hash stored at seq {seq} is malformed"))
            })
    })
    .transpose()
}

/// How the log is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file if missing; appends allowed.
    ReadWrite,
    /// The file must exist; appends fail.
    ReadOnly,
}

/// The SQLite event log. One connection, guarded by a mutex, so the store is `Sync`.
pub struct SqliteEventStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    mode: OpenMode,
    /// Opened with `immutable=1`: the file is on read-only media (see
    /// [`read_only_connection`]); second connections are opened the same way.
    immutable: bool,
}

impl std::fmt::Debug for SqliteEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteEventStore")
            .field("path", &self.path)
            .finish()
    }
}

/// Maps a rusqlite error to a store error that names the file.
fn sql_err(path: &Path, err: rusqlite::Error) -> StoreError {
    if let rusqlite::Error::SqliteFailure(e, ref msg) = err {
        let detail = msg.clone().unwrap_or_else(|| e.to_string());
        match e.code {
            ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt => {
                return StoreError::Corrupt {
                    path: path.to_path_buf(),
                    detail: format!(
                        "the event log file is damaged or not a database ({detail}); \
                         restore it from a backup"
                    ),
                }
            }
            ErrorCode::DiskFull => {
                return StoreError::DiskFull {
                    path: path.to_path_buf(),
                    detail,
                }
            }
            ErrorCode::ReadOnly | ErrorCode::PermissionDenied => {
                return StoreError::NotWritable {
                    path: path.to_path_buf(),
                    detail,
                }
            }
            ErrorCode::CannotOpen => {
                return StoreError::Unavailable {
                    path: path.to_path_buf(),
                    detail,
                }
            }
            _ => {}
        }
    }
    StoreError::Sqlite {
        path: path.to_path_buf(),
        source: err,
    }
}

impl SqliteEventStore {
    /// Opens (creating if needed, in `ReadWrite` mode) the log at `path`.
    pub fn open(path: impl AsRef<Path>, mode: OpenMode) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        let err = |e| sql_err(&path, e);
        if path.exists() && !path.is_file() {
            return Err(StoreError::Open {
                path,
                detail: "exists but is not a regular file".to_string(),
            });
        }
        if mode == OpenMode::ReadOnly && !path.exists() {
            return Err(StoreError::Open {
                path,
                detail: "no event log here yet".to_string(),
            });
        }
        let (conn, immutable) = match mode {
            OpenMode::ReadWrite => {
                let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
                    | OpenFlags::SQLITE_OPEN_CREATE
                    | OpenFlags::SQLITE_OPEN_NO_MUTEX;
                let conn = Connection::open_with_flags(&path, flags).map_err(err)?;
                conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                    .map_err(err)?;
                (conn, false)
            }
            OpenMode::ReadOnly => read_only_connection(&path)?,
        };

        // Reading the header is the first touch of the file: garbage fails here.
        let (app_id, n_tables) = retry_busy(|| Self::identity(&conn)).map_err(err)?;
        if app_id == 0 && n_tables == 0 {
            if mode == OpenMode::ReadOnly {
                return Err(StoreError::Open {
                    path,
                    detail: "the file is empty, not an event log".to_string(),
                });
            }
            retry_busy(|| Self::initialise(&conn)).map_err(err)?;
        } else if app_id != APPLICATION_ID {
            return Err(StoreError::Corrupt {
                path,
                detail: format!(
                    "this SQLite file is not a trustfold event log (application_id {app_id:#x}); \
                     point --data-dir at a trustfold data directory"
                ),
            });
        }
        let format: i32 = conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        if format > FORMAT_VERSION {
            return Err(StoreError::Open {
                path,
                detail: format!(
                    "log format {format} was written by a newer trustfold (this one reads up \
                     to {FORMAT_VERSION}); upgrade trustfold"
                ),
            });
        }
        if mode == OpenMode::ReadWrite {
            // FULL: a commit is on disk before append returns (durable, not just crash-safe).
            conn.execute_batch("PRAGMA synchronous = FULL;")
                .map_err(err)?;
        }
        // A bigger page cache keeps the id and stream indexes hot during bulk appends and
        // replays (SQLite's default is 2 MiB).
        conn.execute_batch(&format!("PRAGMA cache_size = -{SQLITE_CACHE_KIB};"))
            .map_err(err)?;
        let store = SqliteEventStore {
            conn: Mutex::new(conn),
            path,
            mode,
            immutable,
        };
        // Touch the head: a truncated file usually fails here rather than mid-command.
        {
            let conn = store.lock();
            retry_busy(|| Self::head_in(&conn)).map_err(|e| store.err(e))?;
        }
        store.head()?;
        Ok(store)
    }

    /// The file's application id and table count, read in one snapshot: read separately,
    /// a process that initialises the file in between would make it look foreign.
    fn identity(conn: &Connection) -> rusqlite::Result<(i32, i64)> {
        conn.execute_batch("BEGIN")?;
        let read = conn
            .query_row("PRAGMA application_id", [], |r| r.get::<_, i32>(0))
            .and_then(|app| {
                conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                    r.get::<_, i64>(0)
                })
                .map(|n| (app, n))
            });
        let end = conn.execute_batch("COMMIT");
        let read = read?;
        end?;
        Ok(read)
    }

    /// Creates the schema in an empty file. Two processes may race here: the second
    /// finds the work done once it holds the write lock, and leaves it.
    fn initialise(conn: &Connection) -> rusqlite::Result<()> {
        // WAL is persistent in the file; it lets readers run beside the one writer.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        let created = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| {
                r.get::<_, i64>(0)
            })
            .and_then(|n| {
                if n > 0 {
                    return Ok(());
                }
                conn.execute_batch(&format!(
                    "{SCHEMA}
                     PRAGMA application_id = {APPLICATION_ID};
                     PRAGMA user_version = {FORMAT_VERSION};"
                ))
            });
        match created {
            Ok(()) => conn.execute_batch("COMMIT"),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(e)
            }
        }
    }

    /// The file this log lives in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (the transaction
        // rolls back on drop), so a poisoned mutex is safe to keep using.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, e: rusqlite::Error) -> StoreError {
        sql_err(&self.path, e)
    }

    fn row_err(&self, e: RowError) -> StoreError {
        row_err(&self.path, e)
    }

    fn recorded_head_impl(&self) -> Result<Option<Head>, StoreError> {
        let conn = self.lock();
        recorded_head_on(&conn, &self.path)
    }

    /// The last event, checked before anything is built on it: it must be the head the
    /// last append recorded, and its hash must chain to the event before it. Costs two
    /// point reads; every append runs it, and so does `trustfold head`.
    pub fn check_tail(&self) -> Result<Option<Head>, StoreError> {
        let conn = self.lock();
        Self::check_tail_on(&conn, &self.path)
    }

    fn check_tail_on(conn: &Connection, path: &Path) -> Result<Option<Head>, StoreError> {
        let err = |e| sql_err(path, e);
        let head = checked_head(Self::head_in(conn).map_err(err)?)?;
        let recorded = recorded_head_on(conn, path)?;
        let broken = |seq, detail: String| Err(StoreError::ChainBroken { seq, detail });
        crate::append::check_head_against_recorded(head, recorded)?;
        let Some(h) = head else {
            return Ok(None);
        };
        let prev = if h.seq == 1 {
            Some(Hash32::ZERO)
        } else {
            conn.prepare_cached("SELECT hash FROM events WHERE seq = ?1")
                .and_then(|mut s| {
                    s.query_row([(h.seq - 1) as i64], |r| r.get::<_, Vec<u8>>(0))
                        .optional()
                })
                .map_err(err)?
                .and_then(|b| Hash32::from_slice(&b))
        };
        let Some(prev) = prev else {
            return broken(
                h.seq - 1,
                format!(
                    "missing: the event before the last one (seq {}) is not in the log",
                    h.seq
                ),
            );
        };
        let last = conn
            .prepare_cached(&format!(
                "SELECT {SELECT_COLUMNS} FROM events WHERE seq = ?1"
            ))
            .and_then(|mut s| s.query_row([h.seq as i64], |row| Ok(row_to_event(row))))
            .map_err(err)?
            .map_err(|e| row_err(path, e))?;
        if last.expected_hash(&prev) != last.hash {
            return broken(
                h.seq,
                "hash mismatch: the last event was altered, or events before it were removed \
                 or reordered"
                    .into(),
            );
        }
        Ok(Some(h))
    }

    /// Reads the events matching `filter`, page by page, in constant memory.
    pub fn read_filtered(&self, filter: EventFilter) -> StoredEvents<'_> {
        Box::new(PageIter::new(self, filter, row_to_event))
    }

    fn fetch_page<T>(
        &self,
        filter: &EventFilter,
        from_seq: u64,
        map: RowMapper<T>,
    ) -> Result<Vec<T>, StoreError> {
        let conn = self.lock();
        fetch_page_on(&conn, &self.path, filter, from_seq, map)
    }

    /// Streams `filter` with the SQLite work on a second thread (its own read-only
    /// connection) while the caller decodes: a full replay uses both cores. Memory stays
    /// bounded by `PREFETCH_PAGES` pages.
    fn prefetching(&self, filter: EventFilter, checked: bool) -> Prefetch {
        let (sender, receiver) = std::sync::mpsc::sync_channel(PREFETCH_PAGES);
        let path = self.path.clone();
        let immutable = self.immutable;
        std::thread::spawn(move || {
            let conn = match reader_connection(&path, immutable) {
                Ok(conn) => conn,
                Err(e) => {
                    let _ = sender.send(Err(sql_err(&path, e)));
                    return;
                }
            };
            let mut check = if checked {
                match chain_anchor(&conn, &path, filter.from_seq) {
                    Ok(c) => Some(c),
                    Err(e) => {
                        let _ = sender.send(Err(e));
                        return;
                    }
                }
            } else {
                None
            };
            let mut next_seq = filter.from_seq;
            loop {
                let mut page = fetch_page_on(&conn, &path, &filter, next_seq, row_to_event);
                let (last, full) = match &page {
                    Ok(p) => (p.last().map(|e| e.seq), p.len() == READ_PAGE_EVENTS),
                    Err(_) => (None, false),
                };
                // The events up to a break go out, then the break, then nothing: a reader
                // folds what it gets and never gets past a tampered event.
                let mut broken = None;
                if let (Some(check), Ok(events)) = (check.as_mut(), page.as_mut()) {
                    if let Some(i) = events
                        .iter()
                        .position(|ev| check.check(ev).map_err(|e| broken = Some(e)).is_err())
                    {
                        events.truncate(i);
                    }
                    if broken.is_none() && !full {
                        broken = recorded_head_on(&conn, &path)
                            .and_then(|r| check.finish(r))
                            .err();
                    }
                }
                // A closed channel means the reader is gone: stop.
                if sender.send(page).is_err() || !full {
                    if let Some(e) = broken {
                        let _ = sender.send(Err(e));
                    }
                    return;
                }
                if let Some(e) = broken {
                    let _ = sender.send(Err(e));
                    return;
                }
                next_seq = last.map_or(next_seq, |s| s + 1);
            }
        });
        Prefetch {
            receiver,
            buf: VecDeque::new(),
            done: false,
        }
    }

    /// The event at `seq`, if the log has one (a point read on the store's connection).
    pub fn read_at(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        let conn = self.lock();
        conn.prepare_cached(&format!(
            "SELECT {SELECT_COLUMNS} FROM events WHERE seq = ?1"
        ))
        .and_then(|mut s| {
            s.query_row([seq as i64], |row| Ok(row_to_event(row)))
                .optional()
        })
        .map_err(|e| self.err(e))?
        .transpose()
        .map_err(|e| self.row_err(e))
    }

    /// The events at `seqs` (in the order given), each a point read on this store's
    /// connection. A seq the log does not have is an integrity error: callers name seqs
    /// the log gave them. Reading in ascending seq order keeps the reads on neighbouring
    /// pages.
    ///
    /// Each event is checked against the stored hash of the event before it
    /// ([`StoreError::ChainBroken`] if its content no longer matches its hash), so what is
    /// read by seq is checked as what is read in order is. The hash before an event read
    /// just before it is already at hand: a run of consecutive seqs costs no extra read.
    pub fn read_seqs(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        let conn = self.lock();
        // One read transaction for the batch: one snapshot, and no lock taken per read.
        conn.execute_batch("BEGIN").map_err(|e| self.err(e))?;
        let read = (|| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {SELECT_COLUMNS} FROM events WHERE seq = ?1"
                ))
                .map_err(|e| self.err(e))?;
            let mut hash_at = conn
                .prepare_cached("SELECT hash FROM events WHERE seq = ?1")
                .map_err(|e| self.err(e))?;
            let mut out: Vec<StoredEvent> = Vec::with_capacity(seqs.len());
            for &seq in seqs {
                let ev = stmt
                    .query_row([seq as i64], |row| Ok(row_to_event(row)))
                    .optional()
                    .map_err(|e| self.err(e))?
                    .ok_or_else(|| {
                        StoreError::Integrity(format!("seq {seq} is named but not in the log"))
                    })?
                    .map_err(|e| self.row_err(e))?;
                let prev = match out.last() {
                    Some(last) if last.seq + 1 == seq => Some(last.hash),
                    _ if seq == 1 => Some(Hash32::ZERO),
                    _ => hash_at
                        .query_row([(seq - 1) as i64], |r| r.get::<_, Vec<u8>>(0))
                        .optional()
                        .map_err(|e| self.err(e))?
                        .and_then(|b| Hash32::from_slice(&b)),
                };
                let Some(prev) = prev else {
                    return Err(ChainCheck::missing(seq - 1));
                };
                if ev.expected_hash(&prev) != ev.hash {
                    return Err(StoreError::ChainBroken {
                        seq,
                        detail: "hash mismatch: the event was altered, or events before it \
                                 were removed or reordered"
                            .into(),
                    });
                }
                out.push(ev);
            }
            Ok(out)
        })();
        let end = conn.execute_batch("COMMIT").map_err(|e| self.err(e));
        let out = read?;
        end?;
        Ok(out)
    }

    /// A second, read-only handle on the same log file (its own connection), for a thread
    /// that reads beside this one.
    pub fn reader(&self) -> Result<SqliteEventStore, StoreError> {
        SqliteEventStore::open(&self.path, OpenMode::ReadOnly)
    }

    /// Which of `ids` are already in the log. Lets a writer that resumes interrupted work
    /// append only the facts that are not yet recorded.
    pub fn existing_ids(
        &self,
        ids: &[Uuid],
    ) -> Result<std::collections::HashSet<Uuid>, StoreError> {
        let conn = self.lock();
        let mut found = std::collections::HashSet::new();
        for id in ids {
            if Self::id_present(&conn, *id).map_err(|e| self.err(e))? {
                found.insert(*id);
            }
        }
        Ok(found)
    }

    fn current_version(conn: &Connection, stream: &str) -> rusqlite::Result<u64> {
        conn.prepare_cached("SELECT max(stream_version) FROM events WHERE stream = ?1")?
            .query_row([stream], |r| r.get::<_, Option<i64>>(0))
            .map(|v| v.unwrap_or(0) as u64)
    }

    fn id_present(conn: &Connection, id: Uuid) -> rusqlite::Result<bool> {
        conn.prepare_cached("SELECT 1 FROM events WHERE id = ?1")?
            .exists([id.as_bytes().as_slice()])
    }

    fn head_in(conn: &Connection) -> rusqlite::Result<Option<(u64, Vec<u8>)>> {
        conn.prepare_cached("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")?
            .query_row([], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get::<_, Vec<u8>>(1)?))
            })
            .optional()
    }

    /// Explains why inserting failed on a duplicate id: an idempotent retry, a reused id,
    /// or a batch that is only partly present.
    fn classify_duplicates(
        &self,
        conn: &Connection,
        events: &[NewEvent],
    ) -> Result<Appended, StoreError> {
        crate::append::classify_duplicates(events, |id| {
            conn.prepare_cached(&format!(
                "SELECT {SELECT_COLUMNS} FROM events WHERE id = ?1"
            ))
            .and_then(|mut s| {
                s.query_row([id.as_bytes().as_slice()], |row| Ok(row_to_event(row)))
                    .optional()
            })
            .map_err(|e| self.err(e))?
            .transpose()
            .map_err(|e| self.row_err(e))
        })
    }
}

impl EventStore for SqliteEventStore {
    fn seq_of(&self, id: Uuid) -> Result<Option<u64>, StoreError> {
        let conn = self.lock();
        conn.prepare_cached("SELECT seq FROM events WHERE id = ?1")
            .and_then(|mut s| {
                s.query_row([id.as_bytes().as_slice()], |r| r.get::<_, i64>(0))
                    .optional()
            })
            .map(|seq| seq.map(|s| s as u64))
            .map_err(|e| self.err(e))
    }

    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn backend(&self) -> crate::store::Backend<'_> {
        crate::store::Backend::Sqlite(&self.path)
    }

    fn read_filtered(&self, filter: EventFilter) -> StoredEvents<'_> {
        SqliteEventStore::read_filtered(self, filter)
    }

    fn read_seqs(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        SqliteEventStore::read_seqs(self, seqs)
    }

    fn read_at(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        SqliteEventStore::read_at(self, seq)
    }

    fn reader(&self) -> Result<Box<dyn EventStore>, StoreError> {
        Ok(Box::new(SqliteEventStore::reader(self)?))
    }

    fn existing_ids(&self, ids: &[Uuid]) -> Result<std::collections::HashSet<Uuid>, StoreError> {
        SqliteEventStore::existing_ids(self, ids)
    }

    fn check_tail(&self) -> Result<Option<Head>, StoreError> {
        SqliteEventStore::check_tail(self)
    }

    fn append(&self, batch: AppendBatch) -> Result<Appended, StoreError> {
        if self.mode == OpenMode::ReadOnly {
            return Err(StoreError::Open {
                path: self.path.clone(),
                detail: "opened read-only; cannot append".into(),
            });
        }
        validate(&batch)?;
        let mut conn = self.lock();
        let path = self.path.clone();
        let err = |e| sql_err(&path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;

        // Stream versions: check the expectations (the compare of compare-and-swap).
        let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
        for ev in &batch.events {
            if !versions.contains_key(ev.stream.as_str()) {
                versions.insert(
                    &ev.stream,
                    Self::current_version(&tx, &ev.stream).map_err(err)?,
                );
            }
        }
        for (stream, expected) in &batch.expected {
            let actual = versions.get(stream.as_str()).copied().unwrap_or(0);
            let ok = match expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual == 0,
                ExpectedVersion::Exact(v) => actual == *v,
            };
            if !ok {
                // A retry of a batch that landed has a stale expectation by design: answer
                // it as a retry, not as a conflict.
                if Self::id_present(&tx, batch.events[0].id).map_err(err)? {
                    return self.classify_duplicates(&tx, &batch.events);
                }
                return Err(StoreError::Conflict {
                    stream: stream.clone(),
                    expected: *expected,
                    actual,
                });
            }
        }

        // The new events chain onto the last one: make sure it is what the log says it is.
        let (head_seq, head_hash) = match Self::check_tail_on(&tx, &path)? {
            Some(h) => (h.seq, h.hash),
            None => (0, Hash32::ZERO),
        };
        // Microseconds: the precision the time is stored and hashed with.
        let recorded_at_us = Utc::now().timestamp_micros();
        let mut last_hash = head_hash;
        let mut insert = |rows: &[PreparedRow<'_>]| -> Result<(), StoreError> {
            match insert_rows(&tx, rows, recorded_at_us) {
                Ok(()) => {
                    if let Some(last) = rows.last() {
                        last_hash = last.hash;
                    }
                    Ok(())
                }
                // An id already present: a retry (or a misuse) that the version check let
                // through (e.g. with `Any`). Classified below, after the rollback point.
                Err(rusqlite::Error::SqliteFailure(e, ref msg))
                    if e.code == ErrorCode::ConstraintViolation
                        && msg.as_deref().is_some_and(|m| m.contains("events.id")) =>
                {
                    Err(StoreError::InvalidBatch(DUPLICATE_ID_MARKER.into()))
                }
                Err(e) => Err(err(e)),
            }
        };
        let outcome = if batch.events.len() >= APPEND_PIPELINE_MIN_EVENTS {
            // Encoding and hashing (one core) overlap with SQLite inserting (the other).
            std::thread::scope(|scope| {
                let (sender, receiver) = std::sync::mpsc::sync_channel(4);
                let events = &batch.events;
                let producer = scope.spawn(move || {
                    prepare_rows(
                        events,
                        head_seq,
                        head_hash,
                        versions,
                        recorded_at_us,
                        |rows| sender.send(rows).is_ok(),
                    )
                });
                let mut inserted = Ok(());
                for rows in receiver.iter() {
                    inserted = insert(&rows);
                    if inserted.is_err() {
                        break; // dropping the receiver stops the producer
                    }
                }
                drop(receiver);
                let produced = producer.join().unwrap_or_else(|_| {
                    Err(StoreError::InvalidBatch(
                        "encoding the batch panicked".into(),
                    ))
                });
                produced.and(inserted)
            })
        } else {
            let mut inserted = Ok(());
            prepare_rows(
                &batch.events,
                head_seq,
                head_hash,
                versions,
                recorded_at_us,
                |rows| {
                    inserted = insert(&rows);
                    inserted.is_ok()
                },
            )
            .and(inserted)
        };
        match outcome {
            Ok(()) => {}
            Err(StoreError::InvalidBatch(m)) if m == DUPLICATE_ID_MARKER => {
                // Nothing of this batch is kept: dropping `tx` rolls back.
                return self.classify_duplicates(&tx, &batch.events);
            }
            Err(e) => return Err(e),
        }
        let seq = head_seq + batch.events.len() as u64;
        let prev = last_hash;
        let seqs: Vec<u64> = (head_seq + 1..=seq).collect();
        tx.execute(
            "INSERT INTO log_meta (key, value) VALUES ('head_seq', ?1), ('head_hash', ?2) \
             ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![seq.to_le_bytes().as_slice(), prev.0.as_slice()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Appended {
            seqs,
            already_present: false,
        })
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        let conn = self.lock();
        checked_head(Self::head_in(&conn).map_err(|e| self.err(e))?)
    }

    /// The head recorded in `log_meta` by the last append (`None` for an empty log).
    fn recorded_head(&self) -> Result<Option<Head>, StoreError> {
        self.recorded_head_impl()
    }

    fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        let conn = self.lock();
        Self::current_version(&conn, stream).map_err(|e| self.err(e))
    }

    fn read_from(
        &self,
        from_seq: u64,
    ) -> Box<dyn Iterator<Item = Result<RecordedEvent, StoreError>> + '_> {
        let filter = EventFilter {
            from_seq,
            ..EventFilter::default()
        };
        Box::new(self.prefetching(filter, false).map(|r| {
            r.and_then(|ev| {
                let seq = ev.seq;
                ev.into_recorded()
                    .map_err(|source| StoreError::Decode { seq, source })
            })
        }))
    }

    fn read_raw_from(&self, from_seq: u64) -> StoredEvents<'_> {
        Box::new(self.prefetching(
            EventFilter {
                from_seq,
                ..EventFilter::default()
            },
            false,
        ))
    }

    /// As the trait says, with the hashing done on the reading thread, beside the caller's
    /// decoding: a checked replay costs little more wall time than a raw one.
    fn read_checked_from(&self, from_seq: u64) -> StoredEvents<'_> {
        Box::new(self.prefetching(
            EventFilter {
                from_seq: from_seq.max(1),
                ..EventFilter::default()
            },
            true,
        ))
    }

    fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let filter = EventFilter {
            stream: Some(stream.to_string()),
            ..EventFilter::default()
        };
        let mut out = Vec::new();
        for ev in self.read_filtered(filter) {
            let ev = ev?;
            if ev.stream_version != out.len() as u64 + 1 {
                return Err(StoreError::Integrity(format!(
                    "stream {stream:?} jumps to version {} at seq {} (expected {})",
                    ev.stream_version,
                    ev.seq,
                    out.len() + 1
                )));
            }
            out.push(ev.decode().map_err(|source| StoreError::Decode {
                seq: ev.seq,
                source,
            })?);
        }
        Ok(out)
    }
}

fn insert_rows(
    conn: &Connection,
    rows: &[PreparedRow<'_>],
    recorded_at_us: i64,
) -> rusqlite::Result<()> {
    let mut sql = String::from(
        "INSERT INTO events (seq, id, stream, stream_version, kind, schema_version, \
         recorded_at_us, run_id, trace_id, causation_id, payload, hash) VALUES ",
    );
    for i in 0..rows.len() {
        sql.push_str(if i == 0 {
            "(?,?,?,?,?,?,?,?,?,?,?,?)"
        } else {
            ",(?,?,?,?,?,?,?,?,?,?,?,?)"
        });
    }
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut idx = 1;
    for row in rows {
        let env = row.envelope(recorded_at_us);
        stmt.raw_bind_parameter(idx, env.seq as i64)?;
        stmt.raw_bind_parameter(idx + 1, env.id.as_bytes().as_slice())?;
        stmt.raw_bind_parameter(idx + 2, env.stream)?;
        stmt.raw_bind_parameter(idx + 3, env.stream_version as i64)?;
        stmt.raw_bind_parameter(idx + 4, env.kind)?;
        stmt.raw_bind_parameter(idx + 5, env.schema_version)?;
        stmt.raw_bind_parameter(idx + 6, env.recorded_at_us)?;
        stmt.raw_bind_parameter(
            idx + 7,
            env.run_id.as_ref().map(|u| u.as_bytes().as_slice()),
        )?;
        stmt.raw_bind_parameter(idx + 8, env.trace_id)?;
        stmt.raw_bind_parameter(
            idx + 9,
            env.causation_id.as_ref().map(|u| u.as_bytes().as_slice()),
        )?;
        stmt.raw_bind_parameter(idx + 10, env.payload)?;
        stmt.raw_bind_parameter(idx + 11, row.hash.0.as_slice())?;
        idx += 12;
    }
    stmt.raw_execute().map(|_| ())
}

/// Internal signal (never returned to callers) that an insert hit an existing event id.
const DUPLICATE_ID_MARKER: &str = "duplicate event id";

/// One page of `filter` from `from_seq`, mapped row by row.
fn fetch_page_on<T>(
    conn: &Connection,
    path: &Path,
    filter: &EventFilter,
    from_seq: u64,
    map: RowMapper<T>,
) -> Result<Vec<T>, StoreError> {
    let mut sql = format!("SELECT {SELECT_COLUMNS} FROM events WHERE seq >= ?1");
    if filter.stream.is_some() {
        sql.push_str(" AND stream = ?2");
    }
    if filter.kind.is_some() {
        sql.push_str(" AND kind = ?3");
    }
    if filter.run_id.is_some() {
        sql.push_str(" AND run_id = ?4");
    }
    sql.push_str(" ORDER BY seq LIMIT ?5");
    let mut stmt = conn.prepare_cached(&sql).map_err(|e| sql_err(path, e))?;
    let run_id = filter.run_id.map(|u| u.as_bytes().to_vec());
    let mut rows = stmt
        .query(params![
            from_seq as i64,
            filter.stream.as_deref(),
            filter.kind.as_deref(),
            run_id,
            READ_PAGE_EVENTS as i64,
        ])
        .map_err(|e| sql_err(path, e))?;
    let mut out = Vec::with_capacity(READ_PAGE_EVENTS);
    while let Some(row) = rows.next().map_err(|e| sql_err(path, e))? {
        out.push(map(row).map_err(|e| row_err(path, e))?);
    }
    Ok(out)
}

type RowMapper<T> = fn(&rusqlite::Row<'_>) -> Result<T, RowError>;

/// Something read from the log that knows its position.
trait Sequenced {
    fn seq(&self) -> u64;
}

impl Sequenced for StoredEvent {
    fn seq(&self) -> u64 {
        self.seq
    }
}

impl Sequenced for RecordedEvent {
    fn seq(&self) -> u64 {
        self.seq
    }
}

/// Streams the log page by page: at most `READ_PAGE_EVENTS` rows in memory.
struct PageIter<'a, T> {
    store: &'a SqliteEventStore,
    filter: EventFilter,
    map: RowMapper<T>,
    next_seq: u64,
    buf: VecDeque<T>,
    done: bool,
}

impl<'a, T> PageIter<'a, T> {
    fn new(store: &'a SqliteEventStore, filter: EventFilter, map: RowMapper<T>) -> Self {
        PageIter {
            store,
            next_seq: filter.from_seq,
            filter,
            map,
            buf: VecDeque::new(),
            done: false,
        }
    }
}

impl<T: Sequenced> Iterator for PageIter<'_, T> {
    type Item = Result<T, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() && !self.done {
            match self.store.fetch_page(&self.filter, self.next_seq, self.map) {
                Ok(page) => {
                    self.done = page.len() < READ_PAGE_EVENTS;
                    if let Some(last) = page.last() {
                        self.next_seq = last.seq() + 1;
                    }
                    self.buf.extend(page);
                }
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        self.buf.pop_front().map(Ok)
    }
}

fn row_err(path: &Path, e: RowError) -> StoreError {
    match e {
        RowError::Sql(e) => sql_err(path, e),
        RowError::Bad(msg) => StoreError::Integrity(msg),
    }
}

/// Pages read ahead by the prefetching thread.
const PREFETCH_PAGES: usize = 2;

/// The consumer side of [`SqliteEventStore::prefetching`].
struct Prefetch {
    receiver: std::sync::mpsc::Receiver<Result<Vec<StoredEvent>, StoreError>>,
    buf: VecDeque<StoredEvent>,
    done: bool,
}

impl Iterator for Prefetch {
    type Item = Result<StoredEvent, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        // The producer ends the stream by hanging up (after a short page, or after an
        // error that follows the events read before it).
        while self.buf.is_empty() && !self.done {
            match self.receiver.recv() {
                Ok(Ok(page)) => {
                    self.buf.extend(page);
                }
                Ok(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                Err(_) => self.done = true,
            }
        }
        self.buf.pop_front().map(Ok)
    }
}

enum RowError {
    Sql(rusqlite::Error),
    Bad(String),
}

impl From<rusqlite::Error> for RowError {
    fn from(e: rusqlite::Error) -> Self {
        RowError::Sql(e)
    }
}

fn blob_ref<'r>(row: &'r rusqlite::Row<'_>, idx: usize) -> Result<Option<&'r [u8]>, RowError> {
    match row.get_ref(idx)? {
        ValueRef::Null => Ok(None),
        // Written as blobs; text is accepted so a row edited by hand can still be read and
        // reported by `verify` instead of failing the whole scan.
        ValueRef::Blob(b) | ValueRef::Text(b) => Ok(Some(b)),
        _ => Err(RowError::Bad(format!(
            "column {idx} is neither bytes nor text"
        ))),
    }
}

/// The envelope columns, read without allocating for the fixed-size ones.
struct RowEnvelope {
    seq: u64,
    id: Uuid,
    stream_version: u64,
    schema_version: u32,
    recorded_at: DateTime<Utc>,
    run_id: Option<Uuid>,
    causation_id: Option<Uuid>,
    hash: Hash32,
}

fn row_envelope(row: &rusqlite::Row<'_>) -> Result<RowEnvelope, RowError> {
    let seq = row.get::<_, i64>(0)? as u64;
    let bad = |what: &str| RowError::Bad(format!("seq {seq}: {what}"));
    let uuid = |idx: usize, what: &str| -> Result<Option<Uuid>, RowError> {
        blob_ref(row, idx)?
            .map(|b| Uuid::from_slice(b).map_err(|_| bad(what)))
            .transpose()
    };
    Ok(RowEnvelope {
        seq,
        id: uuid(1, "malformed event id")?.ok_or_else(|| bad("missing event id"))?,
        stream_version: row.get::<_, i64>(3)? as u64,
        schema_version: row.get::<_, i64>(5)? as u32,
        recorded_at: DateTime::from_timestamp_micros(row.get(6)?)
            .ok_or_else(|| bad("recorded_at_us out of range"))?,
        run_id: uuid(7, "malformed run id")?,
        causation_id: uuid(9, "malformed causation id")?,
        hash: blob_ref(row, 11)?
            .and_then(Hash32::from_slice)
            .ok_or_else(|| bad("malformed hash"))?,
    })
}

/// A row as stored, payload undecoded (for verify and `events`).
fn row_to_event(row: &rusqlite::Row<'_>) -> Result<StoredEvent, RowError> {
    let env = row_envelope(row)?;
    Ok(StoredEvent {
        seq: env.seq,
        id: env.id,
        stream: row.get(2)?,
        stream_version: env.stream_version,
        kind: row.get(4)?,
        schema_version: env.schema_version,
        recorded_at: env.recorded_at,
        run_id: env.run_id,
        trace_id: row.get(8)?,
        causation_id: env.causation_id,
        payload: blob_ref(row, 10)?.unwrap_or_default().to_vec(),
        hash: env.hash,
    })
}

/// The head recorded in `log_meta` by the last append, read on `conn`.
fn recorded_head_on(conn: &Connection, path: &Path) -> Result<Option<Head>, StoreError> {
    let get = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
        conn.prepare_cached("SELECT value FROM log_meta WHERE key = ?1")
            .and_then(|mut s| s.query_row([key], |r| r.get(0)).optional())
            .map_err(|e| sql_err(path, e))
    };
    match (get("head_seq")?, get("head_hash")?) {
        (Some(seq), Some(hash)) => {
            let seq = <[u8; 8]>::try_from(seq.as_slice())
                .map(u64::from_le_bytes)
                .map_err(|_| StoreError::Integrity("log_meta head_seq is malformed".into()))?;
            let hash = Hash32::from_slice(&hash)
                .ok_or_else(|| StoreError::Integrity("log_meta head_hash is malformed".into()))?;
            Ok(Some(Head { seq, hash }))
        }
        _ => Ok(None),
    }
}

/// The check for a read from `from_seq`: anchored at the stored hash of the event before.
fn chain_anchor(conn: &Connection, path: &Path, from_seq: u64) -> Result<ChainCheck, StoreError> {
    if from_seq <= 1 {
        return Ok(ChainCheck::from_start());
    }
    let prev = conn
        .prepare_cached("SELECT hash FROM events WHERE seq = ?1")
        .and_then(|mut s| {
            s.query_row([(from_seq - 1) as i64], |r| r.get::<_, Vec<u8>>(0))
                .optional()
        })
        .map_err(|e| sql_err(path, e))?;
    match prev.as_deref().map(Hash32::from_slice) {
        Some(Some(hash)) => Ok(ChainCheck::after(from_seq - 1, hash)),
        Some(None) => Err(StoreError::Integrity(format!(
            "the hash stored at seq {} is malformed",
            from_seq - 1
        ))),
        None => Err(ChainCheck::missing(from_seq - 1)),
    }
}

/// `path` as an SQLite URI that opens it immutable: no locks, no `-shm`, no `-wal`.
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// A read-only connection; `immutable` as [`read_only_connection`] decided.
fn reader_connection(path: &Path, immutable: bool) -> rusqlite::Result<Connection> {
    let conn = if immutable {
        Connection::open_with_flags(
            immutable_uri(path),
            OpenFlags::SQLITE_OPEN_READ_ONLY
                | OpenFlags::SQLITE_OPEN_NO_MUTEX
                | OpenFlags::SQLITE_OPEN_URI,
        )?
    } else {
        Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?
    };
    conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))?;
    Ok(conn)
}

/// Opens an SQLite file in WAL mode for reading, also on read-only media.
///
/// Reading a WAL database needs its `-shm` file, which SQLite creates beside it; on a
/// read-only mount (or beside an immutable file in a read-only directory) it cannot, and
/// the first read fails with "unable to open database file". Such a file cannot change
/// while it is there, so it is opened again as immutable. A `-wal` file with content
/// beside it would then be ignored (immutable readers do not read the WAL), so that case
/// is refused: the copy was taken while a writer was active.
///
/// Returns the connection and whether it is immutable. Also used for the projections.
pub fn read_only_connection(path: &Path) -> Result<(Connection, bool), StoreError> {
    let err = |e| sql_err(path, e);
    let conn = reader_connection(path, false).map_err(err)?;
    let probe = retry_busy(|| conn.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(())));
    match probe {
        Ok(()) => Ok((conn, false)),
        Err(rusqlite::Error::SqliteFailure(e, _))
            if matches!(
                e.code,
                ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied
            ) =>
        {
            drop(conn);
            let mut wal = path.as_os_str().to_owned();
            wal.push("-wal");
            if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                return Err(StoreError::Unavailable {
                    path: path.to_path_buf(),
                    detail: format!(
                        "it cannot be opened for reading here (read-only storage) while {} \
                         holds events not yet in the main file; copy both to writable storage \
                         and open it there once",
                        PathBuf::from(wal).display()
                    ),
                });
            }
            let conn = reader_connection(path, true).map_err(err)?;
            Ok((conn, true))
        }
        Err(e) => Err(err(e)),
    }
}
