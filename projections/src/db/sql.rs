//! The SQL the projections speak, over either engine: a connection ([`Conn`]) that runs a
//! statement with positional parameters and hands back rows ([`Row`]) by column index.
//!
//! The statements are written once, in the subset SQLite and PostgreSQL share: `?N`
//! placeholders (the PostgreSQL connection rewrites them to `$N`), `INSERT … ON CONFLICT
//! … DO UPDATE`, no engine-specific functions. What cannot be shared (the schema's column
//! types, pragmas, how a writer takes its lock) belongs to each engine's module.

use std::path::Path;

use super::{ProjectionError, Result};

/// Which engine a connection talks to.
#[allow(dead_code)] // PostgreSQL's connection comes next
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

/// One positional parameter.
#[derive(Clone, Copy, Debug)]
pub enum Param<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl<'a> From<&'a str> for Param<'a> {
    fn from(v: &'a str) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a String> for Param<'a> {
    fn from(v: &'a String) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a &String> for Param<'a> {
    fn from(v: &'a &String) -> Self {
        Param::Text(v)
    }
}

impl<'a> From<&'a [u8]> for Param<'a> {
    fn from(v: &'a [u8]) -> Self {
        Param::Blob(v)
    }
}

impl<'a> From<&'a Vec<u8>> for Param<'a> {
    fn from(v: &'a Vec<u8>) -> Self {
        Param::Blob(v)
    }
}

impl From<i64> for Param<'_> {
    fn from(v: i64) -> Self {
        Param::Int(v)
    }
}

impl From<u64> for Param<'_> {
    fn from(v: u64) -> Self {
        Param::Int(v as i64)
    }
}

impl From<u32> for Param<'_> {
    fn from(v: u32) -> Self {
        Param::Int(i64::from(v))
    }
}

impl From<bool> for Param<'_> {
    fn from(v: bool) -> Self {
        Param::Int(i64::from(v))
    }
}

impl From<f64> for Param<'_> {
    fn from(v: f64) -> Self {
        Param::Real(v)
    }
}

impl<'a> From<&'a Option<String>> for Param<'a> {
    fn from(v: &'a Option<String>) -> Self {
        v.as_deref().map_or(Param::Null, Param::Text)
    }
}

impl<'a> From<Option<&'a String>> for Param<'a> {
    fn from(v: Option<&'a String>) -> Self {
        v.map_or(Param::Null, |s| Param::Text(s))
    }
}

impl<'a> From<Option<&'a str>> for Param<'a> {
    fn from(v: Option<&'a str>) -> Self {
        v.map_or(Param::Null, Param::Text)
    }
}

impl<'a> From<Option<&'a [u8]>> for Param<'a> {
    fn from(v: Option<&'a [u8]>) -> Self {
        v.map_or(Param::Null, Param::Blob)
    }
}

impl From<Option<i64>> for Param<'_> {
    fn from(v: Option<i64>) -> Self {
        v.map_or(Param::Null, Param::Int)
    }
}

impl From<Option<u64>> for Param<'_> {
    fn from(v: Option<u64>) -> Self {
        v.map_or(Param::Null, |n| Param::Int(n as i64))
    }
}

impl From<Option<f64>> for Param<'_> {
    fn from(v: Option<f64>) -> Self {
        v.map_or(Param::Null, Param::Real)
    }
}

/// `&[Param]` from a list of values, as `rusqlite::params!` does.
macro_rules! params {
    ($($p:expr),* $(,)?) => {
        &[$($crate::db::sql::Param::from($p)),*][..]
    };
}
pub(crate) use params;

/// One row of a result, read by column index (0-based). A column of another type than
/// asked for is an error, never a silent conversion.
pub trait Row {
    fn int(&self, i: usize) -> Result<Option<i64>>;
    fn real(&self, i: usize) -> Result<Option<f64>>;
    fn text(&self, i: usize) -> Result<Option<String>>;
    fn blob(&self, i: usize) -> Result<Option<Vec<u8>>>;
    /// Where the row came from, for messages.
    fn location(&self) -> &Path;

    /// A column that must not be NULL.
    fn req_int(&self, i: usize) -> Result<i64> {
        self.int(i)?.ok_or_else(|| self.null_at(i))
    }
    fn req_text(&self, i: usize) -> Result<String> {
        self.text(i)?.ok_or_else(|| self.null_at(i))
    }
    fn null_at(&self, i: usize) -> ProjectionError {
        ProjectionError::Corrupt {
            path: self.location().to_path_buf(),
            detail: format!("column {i} of a stored row is NULL where a value is required"),
        }
    }
}

/// One connection to a projection database.
pub trait Conn {
    #[allow(dead_code)] // read once both engines are in
    fn engine(&self) -> Engine;
    /// Where the database is, for messages (a file, or a PostgreSQL schema).
    fn location(&self) -> &Path;
    /// Runs one statement; returns the rows it changed.
    fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64>;
    /// Runs one query and hands each row to `f`, in order.
    fn each(
        &self,
        sql: &str,
        params: &[Param<'_>],
        f: &mut dyn FnMut(&dyn Row) -> Result<()>,
    ) -> Result<()>;
    /// Runs statements without parameters (schema, transaction control).
    fn batch(&self, sql: &str) -> Result<()>;
    /// Begins a transaction; `write` ones are serialised against other writers.
    fn begin(&self, write: bool) -> Result<()>;
}

/// The first row `f` makes of `sql`, if any.
pub fn one<T>(
    conn: &dyn Conn,
    sql: &str,
    params: &[Param<'_>],
    f: impl FnOnce(&dyn Row) -> Result<T>,
) -> Result<Option<T>> {
    let mut f = Some(f);
    let mut out = None;
    conn.each(sql, params, &mut |row| {
        if let Some(f) = f.take() {
            out = Some(f(row)?);
        }
        Ok(())
    })?;
    Ok(out)
}

/// Every row `f` makes of `sql`.
pub fn all<T>(
    conn: &dyn Conn,
    sql: &str,
    params: &[Param<'_>],
    mut f: impl FnMut(&dyn Row) -> Result<T>,
) -> Result<Vec<T>> {
    let mut out = Vec::new();
    conn.each(sql, params, &mut |row| {
        out.push(f(row)?);
        Ok(())
    })?;
    Ok(out)
}

/// A transaction on a connection, rolled back on drop unless committed.
pub struct Tx<'c> {
    conn: &'c dyn Conn,
    open: bool,
}

impl<'c> Tx<'c> {
    pub fn begin(conn: &'c dyn Conn, write: bool) -> Result<Tx<'c>> {
        conn.begin(write)?;
        Ok(Tx { conn, open: true })
    }

    pub fn commit(mut self) -> Result<()> {
        self.open = false;
        self.conn.batch("COMMIT")
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if self.open {
            // The error that ended the transaction is the one reported; a failed rollback
            // leaves nothing committed either.
            let _ = self.conn.batch("ROLLBACK");
        }
    }
}

/// The SQLite connection.
pub mod sqlite {
    use std::path::{Path, PathBuf};

    use rusqlite::types::{ToSqlOutput, ValueRef};
    use rusqlite::ToSql;

    use super::{Conn, Engine, Param, Row};
    use crate::db::{ProjectionError, Result};

    impl ToSql for Param<'_> {
        fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
            Ok(ToSqlOutput::Borrowed(match *self {
                Param::Null => ValueRef::Null,
                Param::Int(v) => ValueRef::Integer(v),
                Param::Real(v) => ValueRef::Real(v),
                Param::Text(v) => ValueRef::Text(v.as_bytes()),
                Param::Blob(v) => ValueRef::Blob(v),
            }))
        }
    }

    /// A rusqlite connection to one projection database file.
    pub struct SqliteConn {
        pub conn: rusqlite::Connection,
        pub path: PathBuf,
    }

    fn err(path: &Path, source: rusqlite::Error) -> ProjectionError {
        ProjectionError::Sqlite {
            path: path.to_path_buf(),
            source,
        }
    }

    struct SqliteRow<'r, 's> {
        row: &'r rusqlite::Row<'s>,
        path: &'r Path,
    }

    impl SqliteRow<'_, '_> {
        fn value(&self, i: usize) -> Result<ValueRef<'_>> {
            self.row.get_ref(i).map_err(|e| err(self.path, e))
        }

        fn wrong(&self, i: usize, want: &str) -> ProjectionError {
            ProjectionError::Corrupt {
                path: self.path.to_path_buf(),
                detail: format!("column {i} of a stored row is not {want}"),
            }
        }
    }

    impl Row for SqliteRow<'_, '_> {
        fn int(&self, i: usize) -> Result<Option<i64>> {
            match self.value(i)? {
                ValueRef::Null => Ok(None),
                ValueRef::Integer(v) => Ok(Some(v)),
                _ => Err(self.wrong(i, "an integer")),
            }
        }
        fn real(&self, i: usize) -> Result<Option<f64>> {
            match self.value(i)? {
                ValueRef::Null => Ok(None),
                ValueRef::Real(v) => Ok(Some(v)),
                ValueRef::Integer(v) => Ok(Some(v as f64)),
                _ => Err(self.wrong(i, "a number")),
            }
        }
        fn text(&self, i: usize) -> Result<Option<String>> {
            match self.value(i)? {
                ValueRef::Null => Ok(None),
                ValueRef::Text(b) => String::from_utf8(b.to_vec())
                    .map(Some)
                    .map_err(|_| self.wrong(i, "UTF-8 text")),
                _ => Err(self.wrong(i, "text")),
            }
        }
        fn blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
            match self.value(i)? {
                ValueRef::Null => Ok(None),
                // Written as blobs; text is accepted so a row edited by hand still reads.
                ValueRef::Blob(b) | ValueRef::Text(b) => Ok(Some(b.to_vec())),
                _ => Err(self.wrong(i, "bytes")),
            }
        }
        fn location(&self) -> &Path {
            self.path
        }
    }

    impl Conn for SqliteConn {
        fn engine(&self) -> Engine {
            Engine::Sqlite
        }

        fn location(&self) -> &Path {
            &self.path
        }

        fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
            let mut stmt = self
                .conn
                .prepare_cached(sql)
                .map_err(|e| err(&self.path, e))?;
            stmt.execute(rusqlite::params_from_iter(params.iter()))
                .map(|n| n as u64)
                .map_err(|e| err(&self.path, e))
        }

        fn each(
            &self,
            sql: &str,
            params: &[Param<'_>],
            f: &mut dyn FnMut(&dyn Row) -> Result<()>,
        ) -> Result<()> {
            let mut stmt = self
                .conn
                .prepare_cached(sql)
                .map_err(|e| err(&self.path, e))?;
            let mut rows = stmt
                .query(rusqlite::params_from_iter(params.iter()))
                .map_err(|e| err(&self.path, e))?;
            while let Some(row) = rows.next().map_err(|e| err(&self.path, e))? {
                f(&SqliteRow {
                    row,
                    path: &self.path,
                })?;
            }
            Ok(())
        }

        fn batch(&self, sql: &str) -> Result<()> {
            self.conn.execute_batch(sql).map_err(|e| err(&self.path, e))
        }

        fn begin(&self, write: bool) -> Result<()> {
            // IMMEDIATE takes SQLite's write lock at once, so two writers queue here
            // rather than fail at their first write.
            self.batch(if write { "BEGIN IMMEDIATE" } else { "BEGIN" })
        }
    }
}
