//! The log and the blobs on PostgreSQL, for many writers on many hosts.
//!
//! Everything lives in the schema `trustfold` of one database:
//! ```text
//! trustfold.meta     what this database is (application, format)
//! trustfold.events   the log: seq, id, stream, version, kind, …, payload, hash
//! trustfold.head     one row: the head the last append recorded
//! trustfold.blobs    raw payloads by blake3
//! ```
//! An append runs in one transaction that first locks the head row (`SELECT … FOR
//! UPDATE`): appends are serialised on it, so `seq` is assigned gap-free and in commit
//! order (no sequence object, which would leave gaps and commit out of order), the hash
//! chain continues from the locked head, and the head row is updated before the commit.
//! Each connection sets `lock_timeout`, `statement_timeout` and
//! `idle_in_transaction_session_timeout`, so a stuck writer cannot freeze the log.
//!
//! The URL may hold a password: it is kept only to open more connections and never shown;
//! messages name the store by [`StoreUrl::redacted`].

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard, OnceLock};

use chrono::{DateTime, Utc};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::{ToSql, Type};
use postgres::{Client, NoTls, Statement};
use uuid::Uuid;

use crate::append::{classify_duplicates, prepare_rows, validate, PreparedRow};
use crate::blob::{BlobError, Blobs};
use crate::envelope::{RecordedEvent, StoredEvent};
use crate::hash::{BlobHash, Hash32};
use crate::limits::{PAYLOAD_BYTES_MAX, READ_PAGE_EVENTS};
use crate::store::{
    AppendBatch, Appended, EventFilter, EventStore, ExpectedVersion, Head, StoreError, StoredEvents,
};

/// The format of the `trustfold` schema this build writes and reads.
pub const PG_FORMAT_VERSION: i64 = 1;

/// How long a statement waits for a lock (another writer's head lock) before failing.
pub const PG_LOCK_TIMEOUT_MS: u64 = 30_000;

/// Longest any one statement may run.
pub const PG_STATEMENT_TIMEOUT_MS: u64 = 300_000;

/// How long a session may sit idle inside a transaction before the server ends it (a
/// writer that died between statements releases the head at once with its connection;
/// this covers one that hangs).
pub const PG_IDLE_IN_TRANSACTION_MS: u64 = 60_000;

/// The server's TCP keepalives on every connection: a client host that vanishes (not
/// a process that dies, whose socket closes at once) has its session ended, and the
/// advisory locks it held (a run's, a writer's) released, after about
/// idle + interval × count seconds rather than the system's default of hours.
pub const PG_KEEPALIVE_IDLE_S: u64 = 30;
/// See [`PG_KEEPALIVE_IDLE_S`].
pub const PG_KEEPALIVE_INTERVAL_S: u64 = 10;
/// See [`PG_KEEPALIVE_IDLE_S`].
pub const PG_KEEPALIVE_COUNT: u64 = 3;

/// Idle connections a process keeps for reuse ([`StoreUrl::connect_pooled`]).
pub const PG_POOL_IDLE_MAX: usize = 4;

/// How long an idle connection may take to answer before it is given up for a new one.
const PG_POOL_CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The idle connections, by URL (kept whole: the pool is in memory only).
static POOL: Mutex<Vec<(String, Client)>> = Mutex::new(Vec::new());

/// How long connecting may take.
pub const PG_CONNECT_TIMEOUT_S: u64 = 10;

/// Batches at least this long are written with binary COPY; shorter ones with one
/// multi-row INSERT.
pub const COPY_MIN_EVENTS: usize = 64;

/// What a reader of a database without a log is told.
const NO_LOG_YET: &str = "no trustfold log in this database yet";

/// The advisory lock that serialises creating the schema (two first writers racing).
const INIT_LOCK: i64 = 0x5446_494e_4954;

const SCHEMA: &str = r#"
CREATE SCHEMA IF NOT EXISTS trustfold;
CREATE TABLE IF NOT EXISTS trustfold.meta (
    key TEXT COLLATE "C" PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trustfold.events (
    seq BIGINT PRIMARY KEY,
    id UUID NOT NULL UNIQUE,
    stream TEXT COLLATE "C" NOT NULL,
    stream_version BIGINT NOT NULL,
    kind TEXT COLLATE "C" NOT NULL,
    schema_version INTEGER NOT NULL,
    recorded_at_us BIGINT NOT NULL,
    run_id UUID,
    trace_id TEXT,
    causation_id UUID,
    payload BYTEA NOT NULL,
    hash BYTEA NOT NULL,
    UNIQUE (stream, stream_version)
);
CREATE INDEX IF NOT EXISTS events_kind ON trustfold.events (kind, seq);
CREATE INDEX IF NOT EXISTS events_run ON trustfold.events (run_id, seq) WHERE run_id IS NOT NULL;
CREATE TABLE IF NOT EXISTS trustfold.head (
    one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
    seq BIGINT NOT NULL,
    hash BYTEA NOT NULL
);
CREATE TABLE IF NOT EXISTS trustfold.blobs (
    hash BYTEA PRIMARY KEY,
    bytes BYTEA NOT NULL
);
"#;

const SELECT_COLUMNS: &str = "seq, id, stream, stream_version, kind, schema_version, \
     recorded_at_us, run_id, trace_id, causation_id, payload, hash";

/// The log's last event.
const TAIL_SQL: &str = "SELECT seq, hash FROM trustfold.events ORDER BY seq DESC LIMIT 1";

/// A `postgres://` or `postgresql://` URL, parsed; shown only without its password.
#[derive(Clone)]
pub struct StoreUrl {
    url: String,
    config: postgres::Config,
    redacted: String,
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted)
    }
}

/// Whether `url` names a PostgreSQL store.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

impl StoreUrl {
    /// Parses a store URL. The error never repeats the URL (it may hold a password).
    pub fn parse(url: &str) -> Result<StoreUrl, StoreError> {
        if !is_postgres_url(url) {
            return Err(StoreError::Open {
                path: PathBuf::from("--store"),
                detail: "not a PostgreSQL URL: it must start with postgres:// or \
                         postgresql:// (leave --store out for the embedded data dir)"
                    .into(),
            });
        }
        let mut config = postgres::Config::from_str(url).map_err(|e| StoreError::Open {
            path: PathBuf::from("--store"),
            detail: format!("not a valid PostgreSQL URL: {e}"),
        })?;
        if config.get_dbname().is_none() {
            return Err(StoreError::Open {
                path: PathBuf::from("--store"),
                detail: "the PostgreSQL URL names no database (postgres://user@host/DATABASE)"
                    .into(),
            });
        }
        config.connect_timeout(std::time::Duration::from_secs(PG_CONNECT_TIMEOUT_S));
        config.application_name("trustfold");
        let redacted = redact(&config);
        Ok(StoreUrl {
            url: url.to_string(),
            config,
            redacted,
        })
    }

    /// The URL without its password, for messages.
    pub fn redacted(&self) -> &str {
        &self.redacted
    }

    /// The URL as given (with its password): only to hand to another trustfold process.
    pub fn secret(&self) -> &str {
        &self.url
    }

    fn path(&self) -> PathBuf {
        PathBuf::from(&self.redacted)
    }

    /// A new connection with trustfold's session settings.
    pub fn connect(&self) -> Result<Client, StoreError> {
        let mut client = self
            .config
            .connect(NoTls)
            .map_err(|e| connect_error(&self.path(), e))?;
        self.apply_settings(&mut client)?;
        Ok(client)
    }

    /// A connection with trustfold's session settings: one this process gave back
    /// ([`StoreUrl::give_back`]) and that still answers, else a new one. Each new
    /// connection costs the server a process and an authentication; an ingest's readers
    /// and writers of the projections and the identity index open one after another.
    pub fn connect_pooled(&self) -> Result<Client, StoreError> {
        loop {
            let idle = {
                let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
                let at = pool.iter().position(|(url, _)| *url == self.url);
                at.map(|i| pool.swap_remove(i).1)
            };
            match idle {
                Some(mut client) => {
                    if client.is_valid(PG_POOL_CHECK_TIMEOUT).is_ok() {
                        return Ok(client);
                    }
                }
                None => return self.connect(),
            }
        }
    }

    /// Keeps `client` for [`StoreUrl::connect_pooled`], its session reset to a new
    /// one's: `DISCARD ALL` (settings, `search_path`, prepared statements, temporary
    /// tables, and every advisory lock the session held, as closing it would) and
    /// trustfold's settings again. A connection inside a transaction, closed, or that
    /// cannot be reset is closed instead, as is one beyond [`PG_POOL_IDLE_MAX`].
    pub fn give_back(&self, mut client: Client) {
        if client.is_closed()
            || client.batch_execute("DISCARD ALL").is_err()
            || self.apply_settings(&mut client).is_err()
        {
            return;
        }
        let mut pool = POOL.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < PG_POOL_IDLE_MAX {
            pool.push((self.url.clone(), client));
        }
    }

    /// trustfold's session settings, on a new or reset connection.
    fn apply_settings(&self, client: &mut Client) -> Result<(), StoreError> {
        // Notices (of `CREATE … IF NOT EXISTS`) stay on the server: they are not ours to log.
        client
            .batch_execute(&format!(
                "SET client_min_messages = warning;
                 SET lock_timeout = {PG_LOCK_TIMEOUT_MS};
                 SET statement_timeout = {PG_STATEMENT_TIMEOUT_MS};
                 SET idle_in_transaction_session_timeout = {PG_IDLE_IN_TRANSACTION_MS};"
            ))
            .map_err(|e| pg_error(&self.path(), e))?;
        // Best effort: a server on a system without per-socket keepalive settings
        // refuses non-zero values, and a Unix socket ignores them.
        let _ = client.batch_execute(&format!(
            "SET tcp_keepalives_idle = {PG_KEEPALIVE_IDLE_S};
             SET tcp_keepalives_interval = {PG_KEEPALIVE_INTERVAL_S};
             SET tcp_keepalives_count = {PG_KEEPALIVE_COUNT};"
        ));
        Ok(())
    }
}

/// `postgres://user@host:port/db` from a config, without the password.
fn redact(c: &postgres::Config) -> String {
    let host = c
        .get_hosts()
        .first()
        .map(|h| match h {
            postgres::config::Host::Tcp(h) => h.clone(),
            postgres::config::Host::Unix(p) => p.display().to_string(),
        })
        .unwrap_or_else(|| "localhost".into());
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let user = c.get_user().map(|u| format!("{u}@")).unwrap_or_default();
    format!(
        "postgres://{user}{host}:{port}/{}",
        c.get_dbname().unwrap_or("")
    )
}

/// A failure to connect, in the contract's terms: a server that cannot be reached is an
/// outage (exit 1); one that refuses the credentials or has no such database is bad
/// input (exit 2).
fn connect_error(path: &std::path::Path, e: postgres::Error) -> StoreError {
    if let Some(db) = e.as_db_error() {
        let code = db.code().code();
        let detail = db.message().to_string();
        return match code {
            // invalid_authorization_specification, invalid_password
            "28000" | "28P01" => StoreError::Open {
                path: path.to_path_buf(),
                detail: format!("the server refused the credentials: {detail}"),
            },
            // invalid_catalog_name: no such database
            "3D000" => StoreError::Open {
                path: path.to_path_buf(),
                detail: format!("{detail}; create it first (createdb) or name another"),
            },
            _ => StoreError::Postgres {
                path: path.to_path_buf(),
                detail,
                code: Some(code.to_string()),
            },
        };
    }
    StoreError::Unavailable {
        path: path.to_path_buf(),
        detail: format!("cannot reach the PostgreSQL server: {}", with_cause(&e)),
    }
}

/// An error with its causes ("error connecting to server: Connection refused").
fn with_cause(e: &postgres::Error) -> String {
    let mut text = e.to_string();
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text
}

/// A statement's failure, in the store's terms.
fn pg_error(path: &std::path::Path, e: postgres::Error) -> StoreError {
    let Some(db) = e.as_db_error() else {
        return StoreError::Unavailable {
            path: path.to_path_buf(),
            detail: format!("lost the PostgreSQL connection: {}", with_cause(&e)),
        };
    };
    let code = db.code().code();
    let detail = db.message().to_string();
    match code {
        // disk_full, insufficient_resources
        "53100" | "53000" => StoreError::DiskFull {
            path: path.to_path_buf(),
            detail,
        },
        // lock_not_available, query_canceled (a timeout), admin shutdown
        "55P03" | "57014" | "57P01" | "57P02" | "57P03" => StoreError::Unavailable {
            path: path.to_path_buf(),
            detail,
        },
        // read_only_sql_transaction, insufficient_privilege
        "25006" | "42501" => StoreError::NotWritable {
            path: path.to_path_buf(),
            detail,
        },
        _ => StoreError::Postgres {
            path: path.to_path_buf(),
            detail,
            code: Some(code.to_string()),
        },
    }
}

/// Creates the schema in an empty database, or checks that it is a trustfold log of a
/// format this build reads. A database holding tables of another program is refused.
fn initialise(client: &mut Client, path: &std::path::Path, write: bool) -> Result<(), StoreError> {
    let err = |e| pg_error(path, e);
    let ours: bool = client
        .query_one("SELECT to_regclass('trustfold.meta') IS NOT NULL", &[])
        .map_err(err)?
        .get(0);
    if !ours {
        let foreign: Option<String> = client
            .query_opt(
                "SELECT table_schema || '.' || table_name FROM information_schema.tables
                 WHERE table_schema NOT IN ('pg_catalog', 'information_schema', 'trustfold')
                   AND table_schema NOT LIKE 'pg_toast%' AND table_schema NOT LIKE 'tfp\\_%'
                   AND table_schema NOT LIKE 'tfi\\_%'
                 LIMIT 1",
                &[],
            )
            .map_err(err)?
            .map(|r| r.get(0));
        if let Some(table) = foreign {
            return Err(StoreError::Corrupt {
                path: path.to_path_buf(),
                detail: format!(
                    "this database holds tables of another program (e.g. {table}) and no \
                     trustfold log; point --store at an empty database or a trustfold one"
                ),
            });
        }
        if !write {
            return Err(StoreError::Open {
                path: path.to_path_buf(),
                detail: NO_LOG_YET.into(),
            });
        }
        let mut tx = client.transaction().map_err(err)?;
        // Two first writers may race: the second waits here and finds the work done.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&INIT_LOCK])
            .map_err(err)?;
        tx.batch_execute(SCHEMA).map_err(err)?;
        tx.execute(
            "INSERT INTO trustfold.meta(key, value) VALUES
                ('application', 'trustfold-log'), ('format', $1), ('log_id', $2)
             ON CONFLICT (key) DO NOTHING",
            &[&PG_FORMAT_VERSION.to_string(), &Uuid::new_v4().to_string()],
        )
        .map_err(err)?;
        tx.execute(
            "INSERT INTO trustfold.head(one, seq, hash) VALUES (TRUE, 0, $1)
             ON CONFLICT (one) DO NOTHING",
            &[&Hash32::ZERO.0.as_slice()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        return Ok(());
    }
    let meta: HashMap<String, String> = client
        .query("SELECT key, value FROM trustfold.meta", &[])
        .map_err(err)?
        .into_iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if meta.get("application").map(String::as_str) != Some("trustfold-log") {
        return Err(StoreError::Corrupt {
            path: path.to_path_buf(),
            detail: "the schema trustfold of this database is not a trustfold log".into(),
        });
    }
    let format: i64 = meta.get("format").and_then(|f| f.parse().ok()).unwrap_or(0);
    if format > PG_FORMAT_VERSION {
        return Err(StoreError::Open {
            path: path.to_path_buf(),
            detail: format!(
                "log format {format} was written by a newer trustfold (this one reads up to \
                 {PG_FORMAT_VERSION}); upgrade trustfold"
            ),
        });
    }
    Ok(())
}

/// The event log on PostgreSQL. One connection, guarded by a mutex (the store is `Sync`);
/// [`EventStore::reader`] opens another for a thread that reads beside it.
pub struct PgEventStore {
    client: Mutex<Client>,
    /// Prepared on `client` by its first append.
    append_statements: OnceLock<AppendStatements>,
    url: StoreUrl,
    path: PathBuf,
}

/// The statements every append runs, prepared once per connection: each then costs one
/// round trip, where a statement sent as text costs two (parse, then bind and execute).
/// They run while the append holds the head row, so every round trip saved is time other
/// writers do not wait.
struct AppendStatements {
    lock_head: Statement,
    tail: Statement,
    present: Statement,
    versions: Statement,
    copy_rows: Statement,
    insert_rows: Statement,
    update_head: Statement,
}

impl AppendStatements {
    fn prepare(client: &mut Client) -> Result<AppendStatements, postgres::Error> {
        Ok(AppendStatements {
            lock_head: client
                .prepare("SELECT seq, hash FROM trustfold.head WHERE one FOR UPDATE")?,
            tail: client.prepare(TAIL_SQL)?,
            present: client.prepare("SELECT id FROM trustfold.events WHERE id = ANY($1)")?,
            // Each stream's last version is one backward step on the (stream,
            // stream_version) index. (`max(..) … WHERE stream = ANY($1) GROUP BY stream`
            // read every event of each stream: an append to a long stream, e.g. a big
            // run's, grew with its length.)
            versions: client.prepare(
                "SELECT s.stream, (SELECT e.stream_version FROM trustfold.events e
                     WHERE e.stream = s.stream ORDER BY e.stream_version DESC LIMIT 1)
                 FROM unnest($1::text[]) AS s(stream)",
            )?,
            copy_rows: client.prepare(
                "COPY trustfold.events (seq, id, stream, stream_version, kind, schema_version, \
                 recorded_at_us, run_id, trace_id, causation_id, payload, hash) \
                 FROM STDIN (FORMAT binary)",
            )?,
            insert_rows: client.prepare(
                "INSERT INTO trustfold.events (seq, id, stream, stream_version, kind,
                    schema_version, recorded_at_us, run_id, trace_id, causation_id, payload, hash)
                 SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::text[], $4::bigint[],
                    $5::text[], $6::int[], array_fill($7::bigint, ARRAY[cardinality($1::bigint[])]),
                    $8::uuid[], $9::text[], $10::uuid[], $11::bytea[], $12::bytea[])",
            )?,
            update_head: client
                .prepare("UPDATE trustfold.head SET seq = $1, hash = $2 WHERE one")?,
        })
    }
}

impl std::fmt::Debug for PgEventStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgEventStore")
            .field("url", &self.url)
            .finish()
    }
}

fn row_to_event(path: &std::path::Path, row: &postgres::Row) -> Result<StoredEvent, StoreError> {
    let seq = row.try_get::<_, i64>(0).map_err(|e| pg_error(path, e))? as u64;
    let bad = |what: &str| StoreError::Integrity(format!("seq {seq}: {what}"));
    let get = |e: postgres::Error| pg_error(path, e);
    let recorded_at_us: i64 = row.try_get(6).map_err(get)?;
    let hash: Vec<u8> = row.try_get(11).map_err(get)?;
    Ok(StoredEvent {
        seq,
        id: row.try_get(1).map_err(get)?,
        stream: row.try_get(2).map_err(get)?,
        stream_version: row.try_get::<_, i64>(3).map_err(get)? as u64,
        kind: row.try_get(4).map_err(get)?,
        schema_version: row.try_get::<_, i32>(5).map_err(get)? as u32,
        recorded_at: DateTime::<Utc>::from_timestamp_micros(recorded_at_us)
            .ok_or_else(|| bad("recorded_at_us out of range"))?,
        run_id: row.try_get(7).map_err(get)?,
        trace_id: row.try_get(8).map_err(get)?,
        causation_id: row.try_get(9).map_err(get)?,
        payload: row.try_get(10).map_err(get)?,
        hash: Hash32::from_slice(&hash).ok_or_else(|| bad("malformed hash"))?,
    })
}

impl PgEventStore {
    /// Connects, creating the schema in an empty database when `write` (a reader of an
    /// empty database gets an error saying there is no log yet).
    pub fn open(url: &StoreUrl, write: bool) -> Result<PgEventStore, StoreError> {
        let path = url.path();
        let mut client = url.connect()?;
        initialise(&mut client, &path, write)?;
        Ok(PgEventStore {
            client: Mutex::new(client),
            append_statements: OnceLock::new(),
            url: url.clone(),
            path,
        })
    }

    /// Connects to a database that may hold no log yet: `None` when it holds nothing (a
    /// reader then says there is nothing to read), an error when it holds another
    /// program's tables or a log of a newer format.
    pub fn open_if_present(url: &StoreUrl) -> Result<Option<PgEventStore>, StoreError> {
        match PgEventStore::open(url, false) {
            Ok(s) => Ok(Some(s)),
            Err(StoreError::Open { detail, .. }) if detail == NO_LOG_YET => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The store's URL (shown without its password).
    pub fn url(&self) -> &StoreUrl {
        &self.url
    }

    fn lock(&self) -> MutexGuard<'_, Client> {
        // A panic mid-statement leaves no half-written transaction behind (the server
        // rolls it back when the connection's next command starts or it closes).
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn err(&self, e: postgres::Error) -> StoreError {
        pg_error(&self.path, e)
    }

    /// The append statements, prepared on `client` (this store's connection, locked by the
    /// caller) the first time.
    fn append_statements(&self, client: &mut Client) -> Result<&AppendStatements, StoreError> {
        if let Some(st) = self.append_statements.get() {
            return Ok(st);
        }
        let st = AppendStatements::prepare(client).map_err(|e| self.err(e))?;
        Ok(self.append_statements.get_or_init(|| st))
    }

    /// The head recorded by the last append, on `client`.
    fn recorded_head_on(
        client: &mut impl postgres::GenericClient,
        path: &std::path::Path,
    ) -> Result<Option<Head>, StoreError> {
        let row = client
            .query_opt("SELECT seq, hash FROM trustfold.head", &[])
            .map_err(|e| pg_error(path, e))?;
        let Some(row) = row else {
            return Ok(None);
        };
        let seq: i64 = row.get(0);
        let hash: Vec<u8> = row.get(1);
        if seq == 0 {
            return Ok(None);
        }
        let hash = Hash32::from_slice(&hash)
            .ok_or_else(|| StoreError::Integrity("the recorded head hash is malformed".into()))?;
        Ok(Some(Head {
            seq: seq as u64,
            hash,
        }))
    }

    fn head_on(
        client: &mut impl postgres::GenericClient,
        path: &std::path::Path,
    ) -> Result<Option<Head>, StoreError> {
        let row = client
            .query_opt(TAIL_SQL, &[])
            .map_err(|e| pg_error(path, e))?;
        Self::head_from(row)
    }

    /// The head in a row of `TAIL_SQL`.
    fn head_from(row: Option<postgres::Row>) -> Result<Option<Head>, StoreError> {
        row.map(|r| {
            let seq: i64 = r.get(0);
            let hash: Vec<u8> = r.get(1);
            Hash32::from_slice(&hash)
                .map(|hash| Head {
                    seq: seq as u64,
                    hash,
                })
                .ok_or_else(|| {
                    StoreError::Integrity(format!("the hash stored at seq {seq} is malformed"))
                })
        })
        .transpose()
    }

    fn page(&self, filter: &EventFilter, from_seq: u64) -> Result<Vec<StoredEvent>, StoreError> {
        let mut client = self.lock();
        let rows = client
            .query(
                &format!(
                    "SELECT {SELECT_COLUMNS} FROM trustfold.events
                     WHERE seq >= $1
                       AND ($2::text IS NULL OR stream = $2)
                       AND ($3::text IS NULL OR kind = $3)
                       AND ($4::uuid IS NULL OR run_id = $4)
                     ORDER BY seq LIMIT $5"
                ),
                &[
                    &(from_seq as i64),
                    &filter.stream,
                    &filter.kind,
                    &filter.run_id,
                    &(READ_PAGE_EVENTS as i64),
                ],
            )
            .map_err(|e| self.err(e))?;
        rows.iter().map(|r| row_to_event(&self.path, r)).collect()
    }

    /// Writes prepared rows inside the append's transaction.
    fn insert(
        tx: &mut postgres::Transaction<'_>,
        path: &std::path::Path,
        st: &AppendStatements,
        rows: &[PreparedRow<'_>],
        recorded_at_us: i64,
    ) -> Result<(), StoreError> {
        let err = |e| pg_error(path, e);
        if rows.len() >= COPY_MIN_EVENTS {
            let sink = tx.copy_in(&st.copy_rows).map_err(err)?;
            let types = [
                Type::INT8,
                Type::UUID,
                Type::TEXT,
                Type::INT8,
                Type::TEXT,
                Type::INT4,
                Type::INT8,
                Type::UUID,
                Type::TEXT,
                Type::UUID,
                Type::BYTEA,
                Type::BYTEA,
            ];
            let mut writer = BinaryCopyInWriter::new(sink, &types);
            for row in rows {
                let env = row.envelope(recorded_at_us);
                let values: [&(dyn ToSql + Sync); 12] = [
                    &(env.seq as i64),
                    &env.id,
                    &env.stream,
                    &(env.stream_version as i64),
                    &env.kind,
                    &(env.schema_version as i32),
                    &env.recorded_at_us,
                    &env.run_id,
                    &env.trace_id,
                    &env.causation_id,
                    &env.payload,
                    &row.hash.0.as_slice(),
                ];
                writer.write(&values).map_err(err)?;
            }
            writer.finish().map_err(err)?;
            return Ok(());
        }
        // Few rows: one INSERT over arrays, one round trip.
        let mut seqs = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        let mut streams = Vec::with_capacity(rows.len());
        let mut versions = Vec::with_capacity(rows.len());
        let mut kinds = Vec::with_capacity(rows.len());
        let mut schema_versions = Vec::with_capacity(rows.len());
        let mut run_ids = Vec::with_capacity(rows.len());
        let mut trace_ids = Vec::with_capacity(rows.len());
        let mut causes = Vec::with_capacity(rows.len());
        let mut payloads = Vec::with_capacity(rows.len());
        let mut hashes = Vec::with_capacity(rows.len());
        for row in rows {
            let env = row.envelope(recorded_at_us);
            seqs.push(env.seq as i64);
            ids.push(env.id);
            streams.push(env.stream);
            versions.push(env.stream_version as i64);
            kinds.push(env.kind);
            schema_versions.push(env.schema_version as i32);
            run_ids.push(env.run_id);
            trace_ids.push(env.trace_id);
            causes.push(env.causation_id);
            payloads.push(env.payload);
            hashes.push(row.hash.0.as_slice());
        }
        tx.execute(
            &st.insert_rows,
            &[
                &seqs,
                &ids,
                &streams,
                &versions,
                &kinds,
                &schema_versions,
                &recorded_at_us,
                &run_ids,
                &trace_ids,
                &causes,
                &payloads,
                &hashes,
            ],
        )
        .map_err(err)?;
        Ok(())
    }
}

impl EventStore for PgEventStore {
    fn seq_of(&self, id: Uuid) -> Result<Option<u64>, StoreError> {
        let mut client = self.lock();
        let row = client
            .query_opt("SELECT seq FROM trustfold.events WHERE id = $1", &[&id])
            .map_err(|e| self.err(e))?;
        Ok(row.map(|r| r.get::<_, i64>(0) as u64))
    }

    fn location(&self) -> String {
        self.url.redacted().to_string()
    }

    fn backend(&self) -> crate::store::Backend<'_> {
        crate::store::Backend::Postgres(&self.url)
    }

    fn append(&self, batch: AppendBatch) -> Result<Appended, StoreError> {
        validate(&batch)?;
        let path = self.path.clone();
        let err = |e| pg_error(&path, e);
        let mut client = self.lock();
        let st = self.append_statements(&mut client)?;
        let mut tx = client.transaction().map_err(err)?;
        // The head row lock serialises appends: everything below sees the log as it is.
        let head = tx.query_one(&st.lock_head, &[]).map_err(err)?;
        let head_seq = head.get::<_, i64>(0) as u64;
        let head_hash = Hash32::from_slice(&head.get::<_, Vec<u8>>(1))
            .ok_or_else(|| StoreError::Integrity("the recorded head hash is malformed".into()))?;
        // The tail this append chains onto must be the recorded head.
        let actual = Self::head_from(tx.query_opt(&st.tail, &[]).map_err(err)?)?;
        let recorded = (head_seq > 0).then_some(Head {
            seq: head_seq,
            hash: head_hash,
        });
        crate::append::check_head_against_recorded(actual, recorded)?;

        let ids: Vec<Uuid> = batch.events.iter().map(|e| e.id).collect();
        let present: Vec<Uuid> = tx
            .query(&st.present, &[&ids])
            .map_err(err)?
            .iter()
            .map(|r| r.get(0))
            .collect();
        if !present.is_empty() {
            return classify_duplicates(&batch.events, |id| {
                tx.query_opt(
                    &format!("SELECT {SELECT_COLUMNS} FROM trustfold.events WHERE id = $1"),
                    &[&id],
                )
                .map_err(|e| pg_error(&path, e))?
                .map(|r| row_to_event(&path, &r))
                .transpose()
            });
        }

        let streams: Vec<&str> = {
            let mut s: Vec<&str> = batch.events.iter().map(|e| e.stream.as_str()).collect();
            s.sort_unstable();
            s.dedup();
            s
        };
        let mut versions: BTreeMap<&str, u64> = streams.iter().map(|s| (*s, 0)).collect();
        for row in tx.query(&st.versions, &[&streams]).map_err(err)? {
            let stream: String = row.get(0);
            let v: Option<i64> = row.get(1);
            if let (Some(slot), Some(v)) = (versions.get_mut(stream.as_str()), v) {
                *slot = v as u64;
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
                return Err(StoreError::Conflict {
                    stream: stream.clone(),
                    expected: *expected,
                    actual,
                });
            }
        }

        let recorded_at_us = Utc::now().timestamp_micros();
        let mut prepared: Vec<PreparedRow<'_>> = Vec::with_capacity(batch.events.len());
        prepare_rows(
            &batch.events,
            head_seq,
            head_hash,
            versions,
            recorded_at_us,
            |rows| {
                prepared.extend(rows);
                true
            },
        )?;
        Self::insert(&mut tx, &path, st, &prepared, recorded_at_us)?;
        let last = prepared
            .last()
            .map(|r| (r.seq, r.hash))
            .unwrap_or((head_seq, head_hash));
        tx.execute(&st.update_head, &[&(last.0 as i64), &last.1 .0.as_slice()])
            .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(Appended {
            seqs: prepared.iter().map(|r| r.seq).collect(),
            already_present: false,
        })
    }

    fn head(&self) -> Result<Option<Head>, StoreError> {
        let mut client = self.lock();
        Self::head_on(&mut *client, &self.path)
    }

    fn recorded_head(&self) -> Result<Option<Head>, StoreError> {
        let mut client = self.lock();
        Self::recorded_head_on(&mut *client, &self.path)
    }

    fn stream_version(&self, stream: &str) -> Result<u64, StoreError> {
        let mut client = self.lock();
        let v: Option<i64> = client
            .query_one(
                "SELECT max(stream_version) FROM trustfold.events WHERE stream = $1",
                &[&stream],
            )
            .map_err(|e| self.err(e))?
            .get(0);
        Ok(v.unwrap_or(0) as u64)
    }

    fn read_raw_from(&self, from_seq: u64) -> StoredEvents<'_> {
        self.read_filtered(EventFilter {
            from_seq,
            ..EventFilter::default()
        })
    }

    fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut out = Vec::new();
        for ev in self.read_filtered(EventFilter {
            stream: Some(stream.to_string()),
            ..EventFilter::default()
        }) {
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

    fn read_filtered(&self, filter: EventFilter) -> StoredEvents<'_> {
        let mut next_seq = filter.from_seq;
        let mut buf: VecDeque<StoredEvent> = VecDeque::new();
        let mut done = false;
        Box::new(std::iter::from_fn(move || {
            if buf.is_empty() && !done {
                match self.page(&filter, next_seq) {
                    Ok(page) => {
                        done = page.len() < READ_PAGE_EVENTS;
                        if let Some(last) = page.last() {
                            next_seq = last.seq + 1;
                        }
                        buf.extend(page);
                    }
                    Err(e) => {
                        done = true;
                        return Some(Err(e));
                    }
                }
            }
            buf.pop_front().map(Ok)
        }))
    }

    fn read_seqs(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
        if seqs.is_empty() {
            return Ok(Vec::new());
        }
        let wanted: Vec<i64> = seqs.iter().map(|s| *s as i64).collect();
        let rows = {
            let mut client = self.lock();
            client
                .query(
                    &format!("SELECT {SELECT_COLUMNS} FROM trustfold.events WHERE seq = ANY($1)"),
                    &[&wanted],
                )
                .map_err(|e| self.err(e))?
        };
        let mut by_seq: HashMap<u64, StoredEvent> = HashMap::with_capacity(rows.len());
        for r in &rows {
            let ev = row_to_event(&self.path, r)?;
            by_seq.insert(ev.seq, ev);
        }
        seqs.iter()
            .map(|seq| {
                by_seq.remove(seq).ok_or_else(|| {
                    StoreError::Integrity(format!("seq {seq} is named but not in the log"))
                })
            })
            .collect()
    }

    fn reader(&self) -> Result<Box<dyn EventStore>, StoreError> {
        Ok(Box::new(PgEventStore::open(&self.url, false)?))
    }

    fn existing_ids(&self, ids: &[Uuid]) -> Result<HashSet<Uuid>, StoreError> {
        if ids.is_empty() {
            return Ok(HashSet::new());
        }
        let mut client = self.lock();
        Ok(client
            .query(
                "SELECT id FROM trustfold.events WHERE id = ANY($1)",
                &[&ids],
            )
            .map_err(|e| self.err(e))?
            .iter()
            .map(|r| r.get(0))
            .collect())
    }

    fn check_tail(&self) -> Result<Option<Head>, StoreError> {
        let head = self.head()?;
        crate::append::check_head_against_recorded(head, self.recorded_head()?)?;
        let Some(h) = head else {
            return Ok(None);
        };
        let mut window = self.read_seqs(&if h.seq == 1 {
            vec![1]
        } else {
            vec![h.seq - 1, h.seq]
        })?;
        let last = window.pop().expect("read_seqs returns what it was asked");
        let prev = window.pop().map_or(Hash32::ZERO, |e| e.hash);
        if last.expected_hash(&prev) != last.hash {
            return Err(StoreError::ChainBroken {
                seq: h.seq,
                detail: "hash mismatch: the last event was altered, or events before it were \
                         removed or reordered"
                    .into(),
            });
        }
        Ok(Some(h))
    }
}

// Verbatim copies: how `trustfold migrate` moves a log, and its payloads many to a commit,
// from another engine. Kept apart from `append`, which assigns seqs, hashes and times;
// this keeps the ones it is given.

/// The columns of `trustfold.events` in the order a verbatim copy writes them.
const COPY_COLUMN_TYPES: [Type; 12] = [
    Type::INT8,
    Type::UUID,
    Type::TEXT,
    Type::INT8,
    Type::TEXT,
    Type::INT4,
    Type::INT8,
    Type::UUID,
    Type::TEXT,
    Type::UUID,
    Type::BYTEA,
    Type::BYTEA,
];

impl PgEventStore {
    /// Appends events exactly as another log stored them (seq, id, stream, stream version,
    /// kind, schema version, recorded time, run, trace, causation, payload bytes and hash):
    /// how `trustfold migrate` copies a log. Either all the events are persisted, or none
    /// are: one transaction that, like an append, first locks the head row and checks the
    /// tail against the recorded head, then writes with binary COPY and moves the head.
    ///
    /// Refused with nothing written unless the events continue this log: the first seq
    /// follows the head ([`StoreError::InvalidBatch`] otherwise), each event follows the one
    /// before it and its hash is blake3(previous hash || canonical bytes), the first
    /// chained onto the head's ([`StoreError::ChainBroken`] at the first that is not), and
    /// each stream version follows the stream's last one. At most `BATCH_EVENTS_MAX`
    /// events, each payload within `EVENT_BYTES_MAX`, as for an append. Returns the new head.
    pub fn copy_verbatim(&self, events: &[StoredEvent]) -> Result<Head, StoreError> {
        use crate::limits::{BATCH_EVENTS_MAX, EVENT_BYTES_MAX};
        let Some(first) = events.first() else {
            return Err(StoreError::InvalidBatch(
                "a copy needs at least one event".into(),
            ));
        };
        if events.len() > BATCH_EVENTS_MAX {
            return Err(StoreError::Limit {
                what: "the copy's length".into(),
                name: "BATCH_EVENTS_MAX",
                actual: events.len(),
                max: BATCH_EVENTS_MAX,
            });
        }
        if let Some(ev) = events.iter().find(|e| e.payload.len() > EVENT_BYTES_MAX) {
            return Err(StoreError::Limit {
                what: format!("the payload of seq {}", ev.seq),
                name: "EVENT_BYTES_MAX",
                actual: ev.payload.len(),
                max: EVENT_BYTES_MAX,
            });
        }
        let path = self.path.clone();
        let err = |e| pg_error(&path, e);
        let mut client = self.lock();
        let mut tx = client.transaction().map_err(err)?;
        let head = tx
            .query_one(
                "SELECT seq, hash FROM trustfold.head WHERE one FOR UPDATE",
                &[],
            )
            .map_err(err)?;
        let head_seq = head.get::<_, i64>(0) as u64;
        let head_hash = Hash32::from_slice(&head.get::<_, Vec<u8>>(1))
            .ok_or_else(|| StoreError::Integrity("the recorded head hash is malformed".into()))?;
        let recorded = (head_seq > 0).then_some(Head {
            seq: head_seq,
            hash: head_hash,
        });
        crate::append::check_head_against_recorded(Self::head_on(&mut tx, &path)?, recorded)?;
        if first.seq != head_seq + 1 {
            return Err(StoreError::InvalidBatch(format!(
                "the copy starts at seq {}, but this log's head is seq {head_seq}: it must \
                 start at seq {}",
                first.seq,
                head_seq + 1
            )));
        }
        // The same check a checked read makes: contiguous, and each hash chained.
        let mut chain = crate::store::ChainCheck::after(head_seq, head_hash);
        for ev in events {
            chain.check(ev)?;
        }
        let mut streams: Vec<&str> = events.iter().map(|e| e.stream.as_str()).collect();
        streams.sort_unstable();
        streams.dedup();
        let mut versions: HashMap<&str, u64> = streams.iter().map(|s| (*s, 0)).collect();
        for row in tx
            .query(
                "SELECT stream, max(stream_version) FROM trustfold.events
                 WHERE stream = ANY($1) GROUP BY stream",
                &[&streams],
            )
            .map_err(err)?
        {
            if let Some(slot) = versions.get_mut(row.get::<_, &str>(0)) {
                *slot = row.get::<_, i64>(1) as u64;
            }
        }
        for ev in events {
            let last = versions.entry(ev.stream.as_str()).or_insert(0);
            if ev.stream_version != *last + 1 {
                return Err(StoreError::InvalidBatch(format!(
                    "seq {}: stream {:?} at version {} does not follow its version {}",
                    ev.seq, ev.stream, ev.stream_version, last
                )));
            }
            *last = ev.stream_version;
        }

        let sink = tx
            .copy_in(
                "COPY trustfold.events (seq, id, stream, stream_version, kind, schema_version, \
                 recorded_at_us, run_id, trace_id, causation_id, payload, hash) \
                 FROM STDIN (FORMAT binary)",
            )
            .map_err(err)?;
        let mut writer = BinaryCopyInWriter::new(sink, &COPY_COLUMN_TYPES);
        for ev in events {
            let values: [&(dyn ToSql + Sync); 12] = [
                &(ev.seq as i64),
                &ev.id,
                &ev.stream,
                &(ev.stream_version as i64),
                &ev.kind,
                &(ev.schema_version as i32),
                &ev.recorded_at.timestamp_micros(),
                &ev.run_id,
                &ev.trace_id,
                &ev.causation_id,
                &ev.payload,
                &ev.hash.0.as_slice(),
            ];
            writer.write(&values).map_err(err)?;
        }
        writer.finish().map_err(err)?;
        let last = &events[events.len() - 1];
        let last = Head {
            seq: last.seq,
            hash: last.hash,
        };
        tx.execute(
            "UPDATE trustfold.head SET seq = $1, hash = $2 WHERE one",
            &[&(last.seq as i64), &last.hash.0.as_slice()],
        )
        .map_err(err)?;
        tx.commit().map_err(err)?;
        Ok(last)
    }
}

impl PgBlobStore {
    /// Which of `hashes` the store holds, in one query.
    pub fn present(&self, hashes: &[BlobHash]) -> Result<HashSet<BlobHash>, BlobError> {
        let keys: Vec<&[u8]> = hashes.iter().map(|h| h.0.as_slice()).collect();
        let rows = self
            .lock()
            .query(
                "SELECT hash FROM trustfold.blobs WHERE hash = ANY($1)",
                &[&keys],
            )
            .map_err(|e| self.err(e))?;
        Ok(rows
            .iter()
            .filter_map(|r| Hash32::from_slice(r.get::<_, &[u8]>(0)))
            .collect())
    }

    /// Stores `payloads` in one transaction: when it returns, all of them are durable;
    /// on an error, none was written. A bulk copy's one commit for many payloads, where a
    /// `put` commits each. Each payload is within `PAYLOAD_BYTES_MAX`, as for `put`.
    pub fn put_all(&self, payloads: &[Vec<u8>]) -> Result<Vec<BlobHash>, BlobError> {
        if let Some(big) = payloads.iter().find(|p| p.len() > PAYLOAD_BYTES_MAX) {
            return Err(BlobError::TooLarge {
                actual: big.len(),
                max: PAYLOAD_BYTES_MAX,
            });
        }
        let hashes: Vec<BlobHash> = payloads.iter().map(|p| Hash32::of(p)).collect();
        let mut client = self.lock();
        let mut tx = client.transaction().map_err(|e| self.err(e))?;
        let insert = tx
            .prepare(
                "INSERT INTO trustfold.blobs(hash, bytes) VALUES ($1, $2)
                 ON CONFLICT (hash) DO NOTHING",
            )
            .map_err(|e| self.err(e))?;
        for (hash, bytes) in hashes.iter().zip(payloads) {
            tx.execute(&insert, &[&hash.0.as_slice(), bytes])
                .map_err(|e| self.err(e))?;
        }
        tx.commit().map_err(|e| self.err(e))?;
        Ok(hashes)
    }
}

/// Raw payloads on PostgreSQL, by blake3, in `trustfold.blobs`. A `put` commits before it
/// returns, so the blob is durable before any event naming it is appended.
pub struct PgBlobStore {
    client: Mutex<Client>,
    path: PathBuf,
}

impl PgBlobStore {
    pub fn open(url: &StoreUrl, write: bool) -> Result<PgBlobStore, StoreError> {
        let path = url.path();
        let mut client = url.connect()?;
        initialise(&mut client, &path, write)?;
        Ok(PgBlobStore {
            client: Mutex::new(client),
            path,
        })
    }

    fn err(&self, e: postgres::Error) -> BlobError {
        BlobError::Postgres {
            path: self.path.clone(),
            detail: match e.as_db_error() {
                Some(db) => db.message().to_string(),
                None => e.to_string(),
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, Client> {
        self.client.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Blobs for PgBlobStore {
    fn location(&self) -> String {
        self.path.display().to_string()
    }

    fn put(&self, bytes: &[u8]) -> Result<BlobHash, BlobError> {
        self.put_unflushed(bytes)
    }

    fn put_unflushed(&self, bytes: &[u8]) -> Result<BlobHash, BlobError> {
        if bytes.len() > PAYLOAD_BYTES_MAX {
            return Err(BlobError::TooLarge {
                actual: bytes.len(),
                max: PAYLOAD_BYTES_MAX,
            });
        }
        let hash = Hash32::of(bytes);
        // Content addressing makes the write idempotent; autocommit makes it durable.
        self.lock()
            .execute(
                "INSERT INTO trustfold.blobs(hash, bytes) VALUES ($1, $2)
                 ON CONFLICT (hash) DO NOTHING",
                &[&hash.0.as_slice(), &bytes],
            )
            .map_err(|e| self.err(e))?;
        Ok(hash)
    }

    fn flush(&self) -> Result<(), BlobError> {
        Ok(())
    }

    fn get(&self, hash: &BlobHash) -> Result<Vec<u8>, BlobError> {
        let row = self
            .lock()
            .query_opt(
                "SELECT bytes FROM trustfold.blobs WHERE hash = $1",
                &[&hash.0.as_slice()],
            )
            .map_err(|e| self.err(e))?
            .ok_or(BlobError::Missing(*hash))?;
        let bytes: Vec<u8> = row.get(0);
        let actual = Hash32::of(&bytes);
        if actual != *hash {
            return Err(BlobError::Corrupt {
                hash: *hash,
                actual,
            });
        }
        Ok(bytes)
    }

    fn contains(&self, hash: &BlobHash) -> Result<bool, BlobError> {
        Ok(self
            .lock()
            .query_opt(
                "SELECT 1 FROM trustfold.blobs WHERE hash = $1",
                &[&hash.0.as_slice()],
            )
            .map_err(|e| self.err(e))?
            .is_some())
    }

    fn count(&self) -> usize {
        self.lock()
            .query_one("SELECT count(*) FROM trustfold.blobs", &[])
            .map(|r| r.get::<_, i64>(0) as usize)
            .unwrap_or(0)
    }

    fn verify_all(&self) -> Result<Vec<BlobError>, BlobError> {
        let mut bad = Vec::new();
        let mut after: Vec<u8> = Vec::new();
        // Page by key so memory holds one page of payloads, not the table.
        loop {
            let rows = self
                .lock()
                .query(
                    "SELECT hash, bytes FROM trustfold.blobs WHERE hash > $1
                     ORDER BY hash LIMIT 64",
                    &[&after],
                )
                .map_err(|e| self.err(e))?;
            if rows.is_empty() {
                return Ok(bad);
            }
            for r in &rows {
                let key: Vec<u8> = r.get(0);
                let bytes: Vec<u8> = r.get(1);
                match Hash32::from_slice(&key) {
                    Some(hash) => {
                        let actual = Hash32::of(&bytes);
                        if actual != hash {
                            bad.push(BlobError::Corrupt { hash, actual });
                        }
                    }
                    None => bad.push(BlobError::BadKey(format!("{key:02x?}"))),
                }
                after = key;
            }
        }
    }
}

/// A session advisory lock: held while this value (and its connection) lives; a process
/// that dies releases it with its connection. Used for run locks across hosts.
pub struct PgSessionLock {
    client: Client,
    key: i64,
}

impl PgSessionLock {
    /// Takes the lock `key` if free; `None` when another session holds it.
    pub fn try_lock(url: &StoreUrl, key: i64) -> Result<Option<PgSessionLock>, StoreError> {
        let mut client = url.connect()?;
        let got: bool = client
            .query_one("SELECT pg_try_advisory_lock($1)", &[&key])
            .map_err(|e| pg_error(&url.path(), e))?
            .get(0);
        Ok(got.then_some(PgSessionLock { client, key }))
    }

    /// Whether some session holds the lock `key` now.
    pub fn is_held(url: &StoreUrl, key: i64) -> Result<bool, StoreError> {
        let mut client = url.connect()?;
        let (hi, lo) = ((key >> 32) as i32, key as i32);
        let held: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                   AND classid::int = $1 AND objid::int = $2 AND objsubid = 1 AND granted)",
                &[&hi, &lo],
            )
            .map_err(|e| pg_error(&url.path(), e))?
            .get(0);
        Ok(held)
    }
}

impl Drop for PgSessionLock {
    fn drop(&mut self) {
        // Closing the connection releases it anyway; this says so at once.
        let _ = self
            .client
            .execute("SELECT pg_advisory_unlock($1)", &[&self.key]);
    }
}

/// Throw-away databases for tests: each test gets a database of its own on the server
/// named by `TRUSTFOLD_TEST_PG_URL` (a URL to an existing database, e.g.
/// `postgres://postgres@127.0.0.1:5432/postgres`, whose user may create databases),
/// dropped when the handle drops.
pub mod testing {
    use super::StoreUrl;

    /// The variable naming the test server.
    pub const TEST_URL_ENV: &str = "TRUSTFOLD_TEST_PG_URL";

    /// A database created for one test.
    pub struct TestDb {
        admin: String,
        name: String,
        url: String,
    }

    impl TestDb {
        /// A fresh database, or `None` when no test server is configured. Under `CI=true`
        /// a missing server is a failure, not a skip: CI promises one.
        pub fn create() -> Option<TestDb> {
            let Ok(admin) = std::env::var(TEST_URL_ENV) else {
                assert!(
                    std::env::var("CI").ok().as_deref() != Some("true"),
                    "CI=true but {TEST_URL_ENV} is not set: the PostgreSQL tests must run in CI"
                );
                eprintln!("skipped: set {TEST_URL_ENV} to run the PostgreSQL tests");
                return None;
            };
            let name = format!("tf_test_{}", uuid::Uuid::new_v4().simple());
            let create = format!("CREATE DATABASE {name}");
            off_runtime(|| {
                let mut client = StoreUrl::parse(&admin)
                    .and_then(|u| u.connect())
                    .unwrap_or_else(|e| panic!("{TEST_URL_ENV}: {e}"));
                client
                    .batch_execute(&create)
                    .unwrap_or_else(|e| panic!("creating a test database: {e}"));
            });
            let url = match admin.rfind('/') {
                Some(i) => {
                    let (base, rest) = admin.split_at(i);
                    let query = rest.find('?').map(|q| &rest[q..]).unwrap_or("");
                    format!("{base}/{name}{query}")
                }
                None => panic!("{TEST_URL_ENV} must end with /DATABASE"),
            };
            Some(TestDb { admin, name, url })
        }

        /// The test database's URL.
        pub fn url(&self) -> &str {
            &self.url
        }

        /// The URL parsed.
        pub fn store_url(&self) -> StoreUrl {
            StoreUrl::parse(&self.url).expect("a test database URL parses")
        }
    }

    impl Drop for TestDb {
        fn drop(&mut self) {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            off_runtime(|| {
                if let Ok(mut c) = StoreUrl::parse(&self.admin).and_then(|u| u.connect()) {
                    let _ = c.batch_execute(&drop);
                }
            });
        }
    }

    /// Runs `f` on a thread of its own: the synchronous client starts a runtime of its
    /// own, which it cannot do on a thread of an async test's runtime.
    fn off_runtime<F: FnOnce() + Send>(f: F) {
        std::thread::scope(|s| {
            if let Err(panic) = s.spawn(f).join() {
                std::panic::resume_unwind(panic);
            }
        });
    }
}
