//! The embedded event log: SQLite (WAL) through rusqlite.
//!
//! Concurrency: every append runs in a `BEGIN IMMEDIATE` transaction, which takes
//! SQLite's single write lock before reading the head. Reading the head, checking stream
//! versions and inserting therefore happen under one lock, across threads and processes,
//! which is what keeps `seq` gap-free and the compare-and-swap honest.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension, TransactionBehavior};
use uuid::Uuid;

use crate::envelope::{Envelope, NewEvent, RecordedEvent, StoredEvent};
use crate::hash::Hash32;
use crate::limits::{
    BATCH_EVENTS_MAX, BUSY_TIMEOUT_MS, ENVELOPE_TEXT_BYTES_MAX, EVENT_BYTES_MAX, READ_PAGE_EVENTS,
    STREAM_NAME_BYTES_MAX,
};
use crate::store::{
    AppendBatch, Appended, EventStore, ExpectedVersion, Head, StoreError, StoredEvents,
};

/// `PRAGMA application_id` of a trustfold log ("TFLG"), so another SQLite file is
/// recognised as "not ours" instead of being written into.
const APPLICATION_ID: i32 = 0x5446_4C47;

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
    recorded_at    TEXT    NOT NULL,
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
     recorded_at, run_id, trace_id, causation_id, payload, hash";

/// How the log is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Create the file if missing; appends allowed.
    ReadWrite,
    /// The file must exist; appends fail.
    ReadOnly,
}

/// Filters for reading a slice of the log (all optional, combined with AND).
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub from_seq: u64,
    pub stream: Option<String>,
    pub kind: Option<String>,
    pub run_id: Option<Uuid>,
}

/// The SQLite event log. One connection, guarded by a mutex, so the store is `Sync`.
pub struct SqliteEventStore {
    conn: Mutex<Connection>,
    path: PathBuf,
    mode: OpenMode,
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
            ErrorCode::CannotOpen | ErrorCode::ReadOnly | ErrorCode::PermissionDenied => {
                return StoreError::Open {
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
        let flags = match mode {
            OpenMode::ReadWrite => {
                OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE
            }
            OpenMode::ReadOnly => OpenFlags::SQLITE_OPEN_READ_ONLY,
        } | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = Connection::open_with_flags(&path, flags).map_err(err)?;
        conn.busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
            .map_err(err)?;

        // Reading the header is the first touch of the file: garbage fails here.
        let app_id: i32 = conn
            .query_row("PRAGMA application_id", [], |r| r.get(0))
            .map_err(err)?;
        let n_tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(err)?;
        if app_id == 0 && n_tables == 0 {
            if mode == OpenMode::ReadOnly {
                return Err(StoreError::Open {
                    path,
                    detail: "the file is empty, not an event log".to_string(),
                });
            }
            Self::initialise(&conn).map_err(err)?;
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
        let store = SqliteEventStore {
            conn: Mutex::new(conn),
            path,
            mode,
        };
        // Touch the head: a truncated file usually fails here rather than mid-command.
        store.head()?;
        Ok(store)
    }

    fn initialise(conn: &Connection) -> rusqlite::Result<()> {
        // WAL is persistent in the file; it lets readers run beside the one writer.
        conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE;
             {SCHEMA}
             PRAGMA application_id = {APPLICATION_ID};
             PRAGMA user_version = {FORMAT_VERSION};
             COMMIT;"
        ))
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

    fn recorded_head_impl(&self) -> Result<Option<Head>, StoreError> {
        let conn = self.lock();
        let get = |key: &str| -> Result<Option<Vec<u8>>, StoreError> {
            conn.query_row("SELECT value FROM log_meta WHERE key = ?1", [key], |r| {
                r.get(0)
            })
            .optional()
            .map_err(|e| self.err(e))
        };
        match (get("head_seq")?, get("head_hash")?) {
            (Some(seq), Some(hash)) => {
                let seq = <[u8; 8]>::try_from(seq.as_slice())
                    .map(u64::from_le_bytes)
                    .map_err(|_| StoreError::Integrity("log_meta head_seq is malformed".into()))?;
                let hash = Hash32::from_slice(&hash).ok_or_else(|| {
                    StoreError::Integrity("log_meta head_hash is malformed".into())
                })?;
                Ok(Some(Head { seq, hash }))
            }
            _ => Ok(None),
        }
    }

    /// Reads the events matching `filter`, page by page, in constant memory.
    pub fn read_filtered(&self, filter: EventFilter) -> StoredEvents<'_> {
        Box::new(PageIter {
            store: self,
            filter,
            next_seq: 0,
            buf: VecDeque::new(),
            done: false,
        })
    }

    fn fetch_page(
        &self,
        filter: &EventFilter,
        from_seq: u64,
    ) -> Result<Vec<StoredEvent>, StoreError> {
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
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| self.err(e))?;
        let run_id = filter.run_id.map(|u| u.as_bytes().to_vec());
        let mut rows = stmt
            .query(params![
                from_seq as i64,
                filter.stream.as_deref(),
                filter.kind.as_deref(),
                run_id,
                READ_PAGE_EVENTS as i64,
            ])
            .map_err(|e| self.err(e))?;
        let mut out = Vec::with_capacity(READ_PAGE_EVENTS);
        while let Some(row) = rows.next().map_err(|e| self.err(e))? {
            out.push(row_to_event(row).map_err(|e| match e {
                RowError::Sql(e) => self.err(e),
                RowError::Bad(msg) => StoreError::Integrity(msg),
            })?);
        }
        Ok(out)
    }

    fn current_version(conn: &Connection, stream: &str) -> rusqlite::Result<u64> {
        conn.prepare_cached("SELECT max(stream_version) FROM events WHERE stream = ?1")?
            .query_row([stream], |r| r.get::<_, Option<i64>>(0))
            .map(|v| v.unwrap_or(0) as u64)
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
        events: &[(NewEvent, Vec<u8>)],
    ) -> Result<Appended, StoreError> {
        let mut seqs = Vec::with_capacity(events.len());
        let mut missing = None;
        for (ev, payload) in events {
            let found = conn
                .prepare_cached(&format!(
                    "SELECT {SELECT_COLUMNS} FROM events WHERE id = ?1"
                ))
                .and_then(|mut s| {
                    s.query_row([ev.id.as_bytes().as_slice()], |row| Ok(row_to_event(row)))
                        .optional()
                })
                .map_err(|e| self.err(e))?;
            match found {
                None => missing = Some(ev.id),
                Some(stored) => {
                    let stored = stored.map_err(|e| match e {
                        RowError::Sql(e) => self.err(e),
                        RowError::Bad(m) => StoreError::Integrity(m),
                    })?;
                    let wanted = crate::envelope::content_hash(
                        &ev.stream,
                        ev.payload.kind().as_str(),
                        ev.payload.schema_version(),
                        ev.run_id,
                        ev.trace_id.as_deref(),
                        ev.causation_id,
                        payload,
                    );
                    if stored.content_hash() != wanted {
                        return Err(StoreError::IdReused {
                            id: ev.id,
                            seq: stored.seq,
                        });
                    }
                    seqs.push(stored.seq);
                }
            }
        }
        if missing.is_some() {
            let example = events
                .iter()
                .map(|(e, _)| e.id)
                .find(|id| Some(*id) != missing)
                .unwrap_or_default();
            return Err(StoreError::PartiallyPresent {
                present: seqs.len(),
                total: events.len(),
                example,
            });
        }
        Ok(Appended {
            seqs,
            already_present: true,
        })
    }
}

/// Checks a batch against the limits before touching the database.
fn validate(batch: &AppendBatch) -> Result<Vec<(NewEvent, Vec<u8>)>, StoreError> {
    if batch.events.is_empty() {
        return Err(StoreError::InvalidBatch(
            "an append needs at least one event".into(),
        ));
    }
    if batch.events.len() > BATCH_EVENTS_MAX {
        return Err(StoreError::Limit {
            what: "the batch length".into(),
            name: "BATCH_EVENTS_MAX",
            actual: batch.events.len(),
            max: BATCH_EVENTS_MAX,
        });
    }
    let mut ids = HashSet::with_capacity(batch.events.len());
    let mut out = Vec::with_capacity(batch.events.len());
    for ev in &batch.events {
        if !ids.insert(ev.id) {
            return Err(StoreError::InvalidBatch(format!(
                "event id {} appears twice",
                ev.id
            )));
        }
        if ev.stream.is_empty() || ev.stream.len() > STREAM_NAME_BYTES_MAX {
            return Err(StoreError::Limit {
                what: format!(
                    "the stream name {:?}",
                    ev.stream.chars().take(40).collect::<String>()
                ),
                name: "STREAM_NAME_BYTES_MAX",
                actual: ev.stream.len(),
                max: STREAM_NAME_BYTES_MAX,
            });
        }
        if ev.stream.chars().any(char::is_control) {
            return Err(StoreError::InvalidBatch(format!(
                "stream name {:?} contains control characters",
                ev.stream
            )));
        }
        if let Some(t) = &ev.trace_id {
            if t.len() > ENVELOPE_TEXT_BYTES_MAX {
                return Err(StoreError::Limit {
                    what: "the trace id".into(),
                    name: "ENVELOPE_TEXT_BYTES_MAX",
                    actual: t.len(),
                    max: ENVELOPE_TEXT_BYTES_MAX,
                });
            }
        }
        let payload = ev.payload.encode();
        if payload.len() > EVENT_BYTES_MAX {
            return Err(StoreError::Limit {
                what: format!("the payload of event {} ({})", ev.id, ev.payload.kind()),
                name: "EVENT_BYTES_MAX",
                actual: payload.len(),
                max: EVENT_BYTES_MAX,
            });
        }
        out.push((ev.clone(), payload));
    }
    for stream in batch.expected.keys() {
        if !batch.events.iter().any(|e| &e.stream == stream) {
            return Err(StoreError::InvalidBatch(format!(
                "an expected version is given for stream {stream:?}, but no event of the batch \
                 is in it"
            )));
        }
    }
    Ok(out)
}

impl EventStore for SqliteEventStore {
    fn append(&self, batch: AppendBatch) -> Result<Appended, StoreError> {
        if self.mode == OpenMode::ReadOnly {
            return Err(StoreError::Open {
                path: self.path.clone(),
                detail: "opened read-only; cannot append".into(),
            });
        }
        let events = validate(&batch)?;
        let mut conn = self.lock();
        let path = self.path.clone();
        let err = |e| sql_err(&path, e);
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(err)?;

        // Stream versions: check the expectations (the compare of compare-and-swap).
        let mut versions: BTreeMap<&str, u64> = BTreeMap::new();
        for (ev, _) in &events {
            if !versions.contains_key(ev.stream.as_str()) {
                versions.insert(
                    &ev.stream,
                    Self::current_version(&tx, &ev.stream).map_err(err)?,
                );
            }
        }
        let mut conflict = None;
        for (stream, expected) in &batch.expected {
            let actual = versions.get(stream.as_str()).copied().unwrap_or(0);
            let ok = match expected {
                ExpectedVersion::Any => true,
                ExpectedVersion::NoStream => actual == 0,
                ExpectedVersion::Exact(v) => actual == *v,
            };
            if !ok && conflict.is_none() {
                conflict = Some(StoreError::Conflict {
                    stream: stream.clone(),
                    expected: *expected,
                    actual,
                });
            }
        }

        let (mut seq, mut prev) = match Self::head_in(&tx).map_err(err)? {
            Some((seq, hash)) => (
                seq,
                Hash32::from_slice(&hash).ok_or_else(|| {
                    StoreError::Integrity(format!("the hash stored at seq {seq} is malformed"))
                })?,
            ),
            None => (0, Hash32::ZERO),
        };
        // Microseconds: the precision the time is stored and hashed with.
        let recorded_at: DateTime<Utc> = Utc::now().trunc_subsecs(6);
        let recorded_text = crate::envelope::format_time(&recorded_at);
        let mut seqs = Vec::with_capacity(events.len());
        {
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO events (seq, id, stream, stream_version, kind, schema_version, \
                     recorded_at, run_id, trace_id, causation_id, payload, hash) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                )
                .map_err(err)?;
            for (ev, payload) in &events {
                // Any id already present means this is a retry (or a misuse): classify it
                // before the version check, since a retry's expectation is stale by design.
                seq += 1;
                let version = versions.get_mut(ev.stream.as_str()).map_or(1, |v| {
                    *v += 1;
                    *v
                });
                let kind = ev.payload.kind().as_str();
                let env = Envelope {
                    seq,
                    id: ev.id,
                    stream: &ev.stream,
                    stream_version: version,
                    kind,
                    schema_version: ev.payload.schema_version(),
                    recorded_at: &recorded_at,
                    run_id: ev.run_id,
                    trace_id: ev.trace_id.as_deref(),
                    causation_id: ev.causation_id,
                    payload,
                };
                let hash = env.chained_hash(&prev);
                let res = insert.execute(params![
                    seq as i64,
                    ev.id.as_bytes().as_slice(),
                    ev.stream,
                    version as i64,
                    kind,
                    env.schema_version,
                    recorded_text,
                    ev.run_id.as_ref().map(|u| u.as_bytes().as_slice()),
                    ev.trace_id,
                    ev.causation_id.as_ref().map(|u| u.as_bytes().as_slice()),
                    payload,
                    hash.0.as_slice(),
                ]);
                match res {
                    Ok(_) => {}
                    Err(rusqlite::Error::SqliteFailure(e, ref msg))
                        if e.code == ErrorCode::ConstraintViolation
                            && msg.as_deref().is_some_and(|m| m.contains("events.id")) =>
                    {
                        drop(insert);
                        let outcome = self.classify_duplicates(&tx, &events);
                        // Nothing of this batch is kept (dropping tx rolls back).
                        return outcome;
                    }
                    Err(e) => return Err(err(e)),
                }
                seqs.push(seq);
                prev = hash;
            }
        }
        if let Some(conflict) = conflict {
            return Err(conflict);
        }
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
        match Self::head_in(&conn).map_err(|e| self.err(e))? {
            None => Ok(None),
            Some((seq, hash)) => Ok(Some(Head {
                seq,
                hash: Hash32::from_slice(&hash).ok_or_else(|| {
                    StoreError::Integrity(format!("the hash stored at seq {seq} is malformed"))
                })?,
            })),
        }
    }

    /// The head recorded in `log_meta` by the last append (`None` for an empty log).
    fn recorded_head(&self) -> Result<Option<Head>, StoreError> {
        self.recorded_head_impl()
    }

    fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        let conn = self.lock();
        Self::current_version(&conn, stream).map_err(|e| self.err(e))
    }

    fn read_raw_from(&self, from_seq: u64) -> StoredEvents<'_> {
        self.read_filtered(EventFilter {
            from_seq,
            ..EventFilter::default()
        })
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

struct PageIter<'a> {
    store: &'a SqliteEventStore,
    filter: EventFilter,
    next_seq: u64,
    buf: VecDeque<StoredEvent>,
    done: bool,
}

impl Iterator for PageIter<'_> {
    type Item = Result<StoredEvent, StoreError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.buf.is_empty() && !self.done {
            let from = self.next_seq.max(self.filter.from_seq);
            match self.store.fetch_page(&self.filter, from) {
                Ok(page) => {
                    self.done = page.len() < READ_PAGE_EVENTS;
                    if let Some(last) = page.last() {
                        self.next_seq = last.seq + 1;
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

enum RowError {
    Sql(rusqlite::Error),
    Bad(String),
}

impl From<rusqlite::Error> for RowError {
    fn from(e: rusqlite::Error) -> Self {
        RowError::Sql(e)
    }
}

fn row_to_event(row: &rusqlite::Row<'_>) -> Result<StoredEvent, RowError> {
    let seq = row.get::<_, i64>(0)? as u64;
    let bad = |what: &str| RowError::Bad(format!("seq {seq}: {what}"));
    let uuid = |b: Option<Vec<u8>>, what: &str| -> Result<Option<Uuid>, RowError> {
        b.map(|b| Uuid::from_slice(&b).map_err(|_| bad(what)))
            .transpose()
    };
    let id = uuid(Some(row.get(1)?), "malformed event id")?.unwrap_or_default();
    let recorded: String = row.get(6)?;
    let recorded_at = DateTime::parse_from_rfc3339(&recorded)
        .map_err(|_| bad("malformed recorded_at"))?
        .with_timezone(&Utc);
    let hash: Vec<u8> = row.get(11)?;
    // Payloads are written as blobs; accept text too, so a row edited by hand can still be
    // read and reported by `verify` instead of failing the whole scan.
    let payload = match row.get_ref(10)? {
        rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => b.to_vec(),
        _ => return Err(bad("payload is neither bytes nor text")),
    };
    Ok(StoredEvent {
        seq,
        id,
        stream: row.get(2)?,
        stream_version: row.get::<_, i64>(3)? as u64,
        kind: row.get(4)?,
        schema_version: row.get::<_, i64>(5)? as u32,
        recorded_at,
        run_id: uuid(row.get(7)?, "malformed run id")?,
        trace_id: row.get(8)?,
        causation_id: uuid(row.get(9)?, "malformed causation id")?,
        payload,
        hash: Hash32::from_slice(&hash).ok_or_else(|| bad("malformed hash"))?,
    })
}
