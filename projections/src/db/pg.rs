//! The projections on PostgreSQL: each build in a schema of its own, `tfp_<uuid>`, and
//! `trustfold.projection_current` naming the live one, so a rebuild swaps the pointer in
//! one transaction and readers never see half a table.
//!
//! Locks, all advisory and held by the connection that needs them (a process that dies
//! releases them with its connection):
//! - writers (a catch-up, a re-merge, the tail fold and swap of a rebuild) take turns on
//!   [`WRITER_LOCK`], session-level, on the connection that writes;
//! - a rebuild holds its schema's key exclusively while it builds it;
//! - a reader holds its schema's key shared while it reads, so the schema a swap retires
//!   is dropped only once no reader is in it (by a later writer).
//!
//! `LISTEN/NOTIFY` is not used: the checkpoint in each schema's `meta` table is the only
//! source of truth about what has been folded.

use std::path::PathBuf;
use std::time::Instant;

use trustfold_events::{EventStore, StoreUrl};

use super::fold::{self, REBUILD_SLICE_EVENTS};
use super::read::ProjectionDb;
use super::sql::postgres::PgConn;
use super::sql::Conn;
use super::{
    ChangeSink, DryRunSummary, FoldReport, ProjectionError, RemergeReport, Result, FORMAT_VERSION,
};
use crate::policy::TrustPolicy;

/// The advisory lock writers of the projections take (a fixed key: "TFPROJ" in ASCII).
pub const WRITER_LOCK: i64 = 0x5446_5052_4f4a;

/// The advisory lock (transaction-level) under which a connection creates the pointer
/// table: the key the log takes to create its schema ("TFINIT" in ASCII).
const POINTER_INIT_LOCK: i64 = 0x5446_494e_4954;

/// Attempts at opening the live schema for reading when swaps keep retiring it.
const OPEN_ATTEMPTS_MAX: usize = 3;

/// A set of schemas of which one is live: each build in a schema of its own
/// (`<prefix>_<uuid>`), a pointer row naming the live one, writers taking turns on one
/// advisory lock, readers holding their schema shared. The projections use one set, the
/// identity index another.
#[derive(Clone, Debug)]
pub struct SchemaSet {
    url: StoreUrl,
    /// `tfp` or `tfi`.
    prefix: &'static str,
    /// The pointer table in the `trustfold` schema.
    pointer: &'static str,
    writer_lock: i64,
}

impl SchemaSet {
    pub fn new(
        url: &StoreUrl,
        prefix: &'static str,
        pointer: &'static str,
        writer_lock: i64,
    ) -> SchemaSet {
        SchemaSet {
            url: url.clone(),
            prefix,
            pointer,
            writer_lock,
        }
    }

    /// The advisory key of one schema (readers share it; its builder holds it).
    fn key(schema: &str) -> i64 {
        let h = blake3::hash(format!("trustfold/schema/{schema}").as_bytes());
        i64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// A schema name is one of ours and safe to splice into SQL: the prefix, `_` and 32
    /// hex digits.
    fn valid(&self, name: &str) -> bool {
        let digits = name
            .strip_prefix(self.prefix)
            .and_then(|r| r.strip_prefix('_'));
        digits.is_some_and(|d| d.len() == 32 && d.bytes().all(|b| b.is_ascii_hexdigit()))
    }

    /// Where a schema is, for messages (never with the URL's password).
    pub fn location(&self, schema: &str) -> PathBuf {
        PathBuf::from(format!("{} schema {schema}", self.url.redacted()))
    }

    fn connect(&self, schema: &str) -> Result<PgConn> {
        let conn = PgConn::pooled(&self.url, self.location(schema))?;
        // One statement batch is one transaction: the lock makes first connections of
        // several processes take turns, where `IF NOT EXISTS` alone lets them race into
        // a duplicate-key error on PostgreSQL's catalog.
        conn.batch(&format!(
            "SELECT pg_advisory_xact_lock({POINTER_INIT_LOCK});
             CREATE SCHEMA IF NOT EXISTS trustfold;
             CREATE TABLE IF NOT EXISTS trustfold.{} (
                one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
                schema_name TEXT NOT NULL
             )",
            self.pointer
        ))?;
        Ok(conn)
    }

    /// The live schema, if one was built.
    fn current(&self, conn: &PgConn) -> Result<Option<String>> {
        let name = super::sql::one(
            conn,
            &format!("SELECT schema_name FROM trustfold.{}", self.pointer),
            &[],
            |r| r.req_text(0),
        )?;
        match name {
            Some(n) if self.valid(&n) => Ok(Some(n)),
            Some(n) => Err(ProjectionError::Corrupt {
                path: conn.location.clone(),
                detail: format!(
                    "trustfold.{} names {n:?}, not one of its schemas",
                    self.pointer
                ),
            }),
            None => Ok(None),
        }
    }

    fn use_schema(conn: &PgConn, schema: &str) -> Result<()> {
        conn.batch(&format!("SET search_path TO {schema}"))
    }

    /// A connection to the live schema for reading (held shared, so it is not dropped
    /// while read), or `None` when none was built.
    pub fn open_read(&self) -> Result<Option<(PgConn, String)>> {
        for _ in 0..OPEN_ATTEMPTS_MAX {
            let mut conn = self.connect("(current)")?;
            let Some(schema) = self.current(&conn)? else {
                return Ok(None);
            };
            conn.execute(
                "SELECT pg_advisory_lock_shared(?1)",
                super::sql::params![Self::key(&schema)],
            )?;
            // A swap may have retired (and a writer dropped) it in between: look again.
            if self.current(&conn)?.as_deref() != Some(schema.as_str()) {
                continue;
            }
            Self::use_schema(&conn, &schema)?;
            conn.location = self.location(&schema);
            return Ok(Some((conn, schema)));
        }
        Err(ProjectionError::Locked {
            path: self.location("(current)"),
            waited_ms: 0,
        })
    }

    /// A connection holding the writer lock, on the live schema if there is one (schemas
    /// retired by earlier swaps and read by nobody are dropped on the way).
    pub fn open_write(&self) -> Result<(PgConn, Option<String>)> {
        let mut conn = self.connect("(current)")?;
        self.take_writer_lock(&conn)?;
        let current = self.current(&conn)?;
        self.drop_retired(&conn, current.as_deref());
        if let Some(schema) = &current {
            Self::use_schema(&conn, schema)?;
            conn.location = self.location(schema);
        }
        Ok((conn, current))
    }

    /// Takes the writer lock on `conn`'s session (waiting up to the lock timeout).
    pub fn take_writer_lock(&self, conn: &dyn Conn) -> Result<()> {
        conn.execute(
            "SELECT pg_advisory_lock(?1)",
            super::sql::params![self.writer_lock],
        )?;
        Ok(())
    }

    /// Releases the writer lock of `conn`'s session.
    pub fn release_writer_lock(&self, conn: &dyn Conn) -> Result<()> {
        conn.execute(
            "SELECT pg_advisory_unlock(?1)",
            super::sql::params![self.writer_lock],
        )?;
        Ok(())
    }

    /// A new, empty schema to build in (held by its connection until published), its
    /// connection's `search_path` set to it.
    pub fn create(&self) -> Result<(PgConn, String)> {
        let schema = format!("{}_{}", self.prefix, uuid::Uuid::now_v7().simple());
        let conn = self.connect(&schema)?;
        conn.execute(
            "SELECT pg_advisory_lock(?1)",
            super::sql::params![Self::key(&schema)],
        )?;
        conn.batch(&format!("CREATE SCHEMA {schema}"))?;
        Self::use_schema(&conn, &schema)?;
        Ok((conn, schema))
    }

    /// Drops a schema a failed build leaves (best effort).
    pub fn abandon(&self, schema: &str) {
        if self.valid(schema) {
            if let Ok(c) = self.connect(schema) {
                let _ = c.batch(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }

    /// Makes `schema` the live one, in one transaction, on `conn` (which holds the
    /// writer lock and built it); its builder's hold on it ends.
    pub fn publish(&self, conn: &dyn Conn, schema: &str) -> Result<()> {
        let tx = super::sql::Tx::begin(conn, false)?;
        conn.execute(
            &format!(
                "INSERT INTO trustfold.{}(one, schema_name) VALUES (TRUE, ?1)
                 ON CONFLICT (one) DO UPDATE SET schema_name = excluded.schema_name",
                self.pointer
            ),
            super::sql::params![schema],
        )?;
        tx.commit()?;
        conn.execute(
            "SELECT pg_advisory_unlock(?1)",
            super::sql::params![Self::key(schema)],
        )?;
        Ok(())
    }

    /// Drops this set's schemas that are neither current nor held (by a build, or by a
    /// reader still in them). Best effort: a schema in use stays for a later writer.
    fn drop_retired(&self, conn: &PgConn, current: Option<&str>) {
        let Ok(schemas) = super::sql::all(
            conn,
            "SELECT nspname FROM pg_namespace WHERE starts_with(nspname, ?1)",
            super::sql::params![format!("{}_", self.prefix).as_str()],
            |r| r.req_text(0),
        ) else {
            return;
        };
        for s in schemas
            .iter()
            .filter(|s| Some(s.as_str()) != current && self.valid(s))
        {
            let key = Self::key(s);
            let free = super::sql::one(
                conn,
                // As an integer: `Row::int` reads no booleans, and an error here would
                // leave every retired schema in place.
                "SELECT pg_try_advisory_lock(?1)::int",
                super::sql::params![key],
                |r| Ok(r.int(0)?.is_some_and(|v| v != 0)),
            );
            if let Ok(Some(true)) = free {
                let _ = conn.batch(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"));
                let _ = conn.execute("SELECT pg_advisory_unlock(?1)", super::sql::params![key]);
            }
        }
    }
}

/// The projections of one PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PgProjections {
    schemas: SchemaSet,
    rebuild_slice_events: u64,
}

impl PgProjections {
    pub fn new(url: &StoreUrl) -> PgProjections {
        PgProjections {
            schemas: SchemaSet::new(url, "tfp", "projection_current", WRITER_LOCK),
            rebuild_slice_events: REBUILD_SLICE_EVENTS,
        }
    }

    /// The same projections, rebuilt `n` events at a time (at least 1).
    pub fn with_rebuild_slice(mut self, n: u64) -> PgProjections {
        self.rebuild_slice_events = n.max(1);
        self
    }

    /// Opens the live schema for reading, if one was built.
    pub fn open_read(&self) -> Result<Option<ProjectionDb>> {
        let Some((conn, schema)) = self.schemas.open_read()? else {
            return Ok(None);
        };
        let db = ProjectionDb::from_conn(Box::new(conn), self.schemas.location(&schema))?;
        db.check_format()?;
        Ok(Some(db))
    }

    /// Opens the live schema for writing with the writer lock held (by its connection),
    /// if one exists in this build's format; `None` means a full rebuild is due.
    fn open_write(&self) -> Result<Option<ProjectionDb>> {
        let (conn, current) = self.schemas.open_write()?;
        let Some(schema) = current else {
            return Ok(None);
        };
        let db = ProjectionDb::from_conn(Box::new(conn), self.schemas.location(&schema))?;
        if db.format_version()? != FORMAT_VERSION {
            return Ok(None);
        }
        Ok(Some(db))
    }

    /// Folds the events appended since the checkpoint (building the projections with
    /// `policy` if none exist yet).
    pub fn catch_up(
        &self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
        known_sources: &[&str],
        progress: super::Progress<'_>,
    ) -> Result<FoldReport> {
        let Some(mut db) = self.open_write()? else {
            return self.rebuild(store, policy, progress);
        };
        let stored = db.stored_policy(known_sources)?;
        db.catch_up(store, &stored, progress)
    }

    /// Replays the whole log into a new schema with `policy` and swaps it in.
    pub fn rebuild(
        &self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
        progress: super::Progress<'_>,
    ) -> Result<FoldReport> {
        let started = Instant::now();
        let (conn, schema) = self.schemas.create()?;
        let built = (|| -> Result<(ProjectionDb, FoldReport)> {
            conn.batch(super::schema::POSTGRES_TABLES)?;
            conn.batch(super::schema::INDEXES)?;
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('format_version', ?1)",
                super::sql::params![FORMAT_VERSION.to_string().as_str()],
            )?;
            let db = ProjectionDb::from_conn(Box::new(conn), self.schemas.location(&schema))?;
            fold::build_fresh(db, store, policy, self.rebuild_slice_events, progress)
        })();
        let (mut db, mut report) = match built {
            Ok(b) => b,
            Err(e) => {
                // A failed rebuild leaves nothing behind.
                self.schemas.abandon(&schema);
                return Err(e);
            }
        };
        // Events appended meanwhile are folded under the writer lock, then the swap, in
        // one transaction: readers see the old schema or the new one.
        self.schemas.take_writer_lock(&*db.conn)?;
        let tail = db.catch_up(store, policy, &mut |_, _| {})?;
        report.events += tail.events;
        report.to_seq = report.to_seq.max(tail.to_seq);
        report.entities_written += tail.entities_written;
        self.schemas.publish(&*db.conn, &schema)?;
        drop(db);
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        report.events_per_s = super::rate(report.events, started.elapsed());
        Ok(report)
    }

    /// After a policy change: re-merges the entities it touches (see
    /// `Projections::remerge`); a full rebuild when there is no usable schema.
    pub fn remerge(
        &self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
        known_sources: &[&str],
        progress: super::Progress<'_>,
    ) -> Result<RemergeReport> {
        super::remerge_or_rebuild(
            "schema",
            |progress| {
                let Some(mut db) = self.open_write()? else {
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

    /// What `policy` would change, without writing anything but the catch-up.
    pub fn dry_run(
        &self,
        store: &dyn EventStore,
        policy: &TrustPolicy,
        known_sources: &[&str],
        sink: &mut dyn ChangeSink,
    ) -> Result<DryRunSummary> {
        let started = Instant::now();
        let Some(mut db) = self.open_write()? else {
            return Err(ProjectionError::Corrupt {
                path: self.schemas.location("(current)"),
                detail: "no projection schema of this format to compare against".into(),
            });
        };
        let stored = db.stored_policy(known_sources)?;
        db.catch_up(store, &stored, &mut |_, _| {})?;
        // Nothing below writes.
        self.schemas.release_writer_lock(&*db.conn)?;
        let mut summary = db.dry_run(store, &stored, policy, sink)?;
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }
}
