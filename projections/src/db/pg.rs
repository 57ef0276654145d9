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

/// The advisory key of one projection schema (readers share it; its builder holds it).
fn schema_key(schema: &str) -> i64 {
    let h = blake3::hash(format!("trustfold/projection-schema/{schema}").as_bytes());
    i64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
}

/// A schema name is ours and safe to splice into SQL: `tfp_` and 32 hex digits.
fn valid_schema(name: &str) -> bool {
    name.len() == 36 && name.starts_with("tfp_") && name[4..].bytes().all(|b| b.is_ascii_hexdigit())
}

/// The projections of one PostgreSQL store.
#[derive(Clone, Debug)]
pub struct PgProjections {
    url: StoreUrl,
    rebuild_slice_events: u64,
}

impl PgProjections {
    pub fn new(url: &StoreUrl) -> PgProjections {
        PgProjections {
            url: url.clone(),
            rebuild_slice_events: REBUILD_SLICE_EVENTS,
        }
    }

    /// The same projections, rebuilt `n` events at a time (at least 1).
    pub fn with_rebuild_slice(mut self, n: u64) -> PgProjections {
        self.rebuild_slice_events = n.max(1);
        self
    }

    fn location(&self, schema: &str) -> PathBuf {
        PathBuf::from(format!("{} schema {schema}", self.url.redacted()))
    }

    fn connect(&self, schema: &str) -> Result<PgConn> {
        let client = self.url.connect()?;
        Ok(PgConn::new(client, self.location(schema)))
    }

    /// The pointer table, created on first use.
    fn ensure_pointer(conn: &PgConn) -> Result<()> {
        conn.batch(
            "CREATE SCHEMA IF NOT EXISTS trustfold;
             CREATE TABLE IF NOT EXISTS trustfold.projection_current (
                one BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (one),
                schema_name TEXT NOT NULL
             )",
        )
    }

    /// The live schema, if one was built.
    fn current(conn: &PgConn) -> Result<Option<String>> {
        Self::ensure_pointer(conn)?;
        let name = super::sql::one(
            conn,
            "SELECT schema_name FROM trustfold.projection_current",
            &[],
            |r| r.req_text(0),
        )?;
        match name {
            Some(n) if valid_schema(&n) => Ok(Some(n)),
            Some(n) => Err(ProjectionError::Corrupt {
                path: conn.location.clone(),
                detail: format!(
                    "trustfold.projection_current names {n:?}, not a projection schema"
                ),
            }),
            None => Ok(None),
        }
    }

    fn use_schema(conn: &PgConn, schema: &str) -> Result<()> {
        conn.batch(&format!("SET search_path TO {schema}"))
    }

    /// Opens the live schema for reading, if one was built (holding it shared, so it is
    /// not dropped while read).
    pub fn open_read(&self) -> Result<Option<ProjectionDb>> {
        for _ in 0..3 {
            let conn = self.connect("(current)")?;
            let Some(schema) = Self::current(&conn)? else {
                return Ok(None);
            };
            conn.execute(
                "SELECT pg_advisory_lock_shared(?1)",
                super::sql::params![schema_key(&schema)],
            )?;
            // A swap may have retired (and a writer dropped) it in between: look again.
            if Self::current(&conn)?.as_deref() != Some(schema.as_str()) {
                continue;
            }
            Self::use_schema(&conn, &schema)?;
            let db = ProjectionDb::from_conn(Box::new(conn), self.location(&schema))?;
            db.check_format()?;
            return Ok(Some(db));
        }
        Err(ProjectionError::Locked {
            path: self.location("(current)"),
            waited_ms: 0,
        })
    }

    /// Opens the live schema for writing with the writer lock held (by its connection),
    /// if one exists in this build's format; `None` means a full rebuild is due.
    fn open_write(&self) -> Result<Option<ProjectionDb>> {
        let conn = self.connect("(current)")?;
        Self::ensure_pointer(&conn)?;
        conn.execute(
            "SELECT pg_advisory_lock(?1)",
            super::sql::params![WRITER_LOCK],
        )?;
        let Some(schema) = Self::current(&conn)? else {
            return Ok(None);
        };
        self.drop_retired(&conn, &schema);
        Self::use_schema(&conn, &schema)?;
        let db = ProjectionDb::from_conn(Box::new(conn), self.location(&schema))?;
        if db.format_version()? != FORMAT_VERSION {
            return Ok(None);
        }
        Ok(Some(db))
    }

    /// Drops projection schemas that are neither current nor held (by a rebuild building
    /// them, or by a reader still in them). Best effort: a schema in use stays for later.
    fn drop_retired(&self, conn: &PgConn, current: &str) {
        let Ok(schemas) = super::sql::all(
            conn,
            "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'tfp\\_%'",
            &[],
            |r| r.req_text(0),
        ) else {
            return;
        };
        for s in schemas
            .iter()
            .filter(|s| s.as_str() != current && valid_schema(s))
        {
            let key = schema_key(s);
            let free = super::sql::one(
                conn,
                "SELECT pg_try_advisory_lock(?1)",
                super::sql::params![key],
                |r| Ok(r.int(0)?.is_some_and(|v| v != 0)),
            );
            if let Ok(Some(true)) = free {
                let _ = conn.batch(&format!("DROP SCHEMA IF EXISTS {s} CASCADE"));
                let _ = conn.execute("SELECT pg_advisory_unlock(?1)", super::sql::params![key]);
            }
        }
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
        let schema = format!("tfp_{}", uuid::Uuid::now_v7().simple());
        let conn = self.connect(&schema)?;
        Self::ensure_pointer(&conn)?;
        // Held while building: no cleaner drops it, and it is not anyone's current yet.
        conn.execute(
            "SELECT pg_advisory_lock(?1)",
            super::sql::params![schema_key(&schema)],
        )?;
        let built = (|| -> Result<(ProjectionDb, FoldReport)> {
            conn.batch(&format!("CREATE SCHEMA {schema}"))?;
            Self::use_schema(&conn, &schema)?;
            conn.batch(super::schema::POSTGRES_TABLES)?;
            conn.batch(super::schema::INDEXES)?;
            conn.execute(
                "INSERT INTO meta(key, value) VALUES ('format_version', ?1)",
                super::sql::params![FORMAT_VERSION.to_string().as_str()],
            )?;
            let db = ProjectionDb::from_conn(Box::new(conn), self.location(&schema))?;
            fold::build_fresh(db, store, policy, self.rebuild_slice_events, progress)
        })();
        let (mut db, mut report) = match built {
            Ok(b) => b,
            Err(e) => {
                // A failed rebuild leaves nothing behind.
                if let Ok(c) = self.connect(&schema) {
                    let _ = c.batch(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
                }
                return Err(e);
            }
        };
        // Events appended meanwhile are folded under the writer lock, then the swap, in
        // one transaction: readers see the old schema or the new one.
        db.conn.execute(
            "SELECT pg_advisory_lock(?1)",
            super::sql::params![WRITER_LOCK],
        )?;
        let tail = db.catch_up(store, policy, &mut |_, _| {})?;
        report.events += tail.events;
        report.to_seq = report.to_seq.max(tail.to_seq);
        report.entities_written += tail.entities_written;
        let tx = super::sql::Tx::begin(&*db.conn, false)?;
        db.conn.execute(
            "INSERT INTO trustfold.projection_current(one, schema_name) VALUES (TRUE, ?1)
             ON CONFLICT (one) DO UPDATE SET schema_name = excluded.schema_name",
            super::sql::params![schema.as_str()],
        )?;
        tx.commit()?;
        // The builder's hold on the new schema ends; readers hold it from now on.
        db.conn.execute(
            "SELECT pg_advisory_unlock(?1)",
            super::sql::params![schema_key(&schema)],
        )?;
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
        let started = Instant::now();
        let attempt = (|| -> Result<Option<RemergeReport>> {
            let Some(mut db) = self.open_write()? else {
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
            Ok(None) => "no projection schema of this format yet".to_string(),
            Err(e) if e.is_bad_input() => format!("the projection schema is unusable: {e}"),
            Err(e) => return Err(e),
        };
        let fold = self.rebuild(store, policy, progress)?;
        Ok(RemergeReport::full(fold, &reason))
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
                path: self.location("(current)"),
                detail: "no projection schema of this format to compare against".into(),
            });
        };
        let stored = db.stored_policy(known_sources)?;
        db.catch_up(store, &stored, &mut |_, _| {})?;
        db.conn.execute(
            "SELECT pg_advisory_unlock(?1)",
            super::sql::params![WRITER_LOCK],
        )?;
        let mut summary = db.dry_run(store, &stored, policy, sink)?;
        summary.elapsed_ms = started.elapsed().as_millis() as u64;
        Ok(summary)
    }
}
