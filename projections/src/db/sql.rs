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
#[macro_export]
macro_rules! sql_params {
    ($($p:expr),* $(,)?) => {
        &[$($crate::db::sql::Param::from($p)),*][..]
    };
}
pub use sql_params as params;

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
pub trait Conn: Send {
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

/// The PostgreSQL connection.
pub mod postgres {
    use std::cell::{RefCell, RefMut};
    use std::collections::HashMap;
    use std::error::Error as StdError;
    use std::path::{Path, PathBuf};

    use postgres::types::{to_sql_checked, IsNull, ToSql, Type};
    use postgres::{Client, Statement};
    use trustfold_events::StoreUrl;

    use super::{Conn, Engine, Param, Row};
    use crate::db::{ProjectionError, Result};

    /// Statements kept prepared per connection (every statement here is one of a few
    /// dozen fixed texts).
    pub const PREPARED_MAX: usize = 256;

    impl ToSql for Param<'_> {
        fn to_sql(
            &self,
            ty: &Type,
            out: &mut postgres::types::private::BytesMut,
        ) -> std::result::Result<IsNull, Box<dyn StdError + Sync + Send>> {
            // Each parameter is written as the type PostgreSQL inferred for its place.
            match *self {
                Param::Null => Ok(IsNull::Yes),
                Param::Int(v) => match *ty {
                    Type::INT8 => v.to_sql(ty, out),
                    Type::INT4 => i32::try_from(v)?.to_sql(ty, out),
                    Type::INT2 => i16::try_from(v)?.to_sql(ty, out),
                    Type::BOOL => (v != 0).to_sql(ty, out),
                    Type::FLOAT8 => (v as f64).to_sql(ty, out),
                    _ => Err(format!("an integer cannot be sent as {ty}").into()),
                },
                Param::Real(v) => match *ty {
                    Type::FLOAT4 => (v as f32).to_sql(ty, out),
                    _ => v.to_sql(ty, out),
                },
                Param::Text(v) => v.to_sql(ty, out),
                Param::Blob(v) => v.to_sql(ty, out),
            }
        }

        fn accepts(_: &Type) -> bool {
            true
        }

        to_sql_checked!();
    }

    /// A PostgreSQL connection whose `search_path` is one projection's schema.
    pub struct PgConn {
        /// `Some` until dropped.
        client: RefCell<Option<Client>>,
        prepared: RefCell<HashMap<String, Statement>>,
        /// `<redacted URL> schema <schema>`, for messages (never the URL's password).
        pub location: PathBuf,
        /// Where the connection goes back to when dropped ([`PgConn::pooled`]).
        pool: Option<StoreUrl>,
    }

    impl PgConn {
        /// A connection closed when dropped (with every lock its session holds).
        pub fn new(client: Client, location: impl Into<PathBuf>) -> PgConn {
            PgConn {
                client: RefCell::new(Some(client)),
                prepared: RefCell::new(HashMap::new()),
                location: location.into(),
                pool: None,
            }
        }

        /// A connection of `url`'s pool ([`StoreUrl::connect_pooled`]), given back
        /// when dropped: its session reset, which releases every lock it holds as
        /// closing it would.
        pub fn pooled(url: &StoreUrl, location: impl Into<PathBuf>) -> Result<PgConn> {
            let mut conn = PgConn::new(url.connect_pooled()?, location);
            conn.pool = Some(url.clone());
            Ok(conn)
        }

        fn client(&self) -> RefMut<'_, Client> {
            RefMut::map(self.client.borrow_mut(), |c| {
                c.as_mut().expect("a PgConn holds its client until dropped")
            })
        }

        fn err(&self, e: postgres::Error) -> ProjectionError {
            error(&self.location, e)
        }

        /// `?N` placeholders as PostgreSQL's `$N`.
        fn dialect(sql: &str) -> String {
            let mut out = String::with_capacity(sql.len());
            let mut chars = sql.chars().peekable();
            while let Some(c) = chars.next() {
                if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
                    out.push('$');
                } else {
                    out.push(c);
                }
            }
            out
        }

        fn statement(&self, sql: &str) -> Result<Statement> {
            if let Some(s) = self.prepared.borrow().get(sql) {
                return Ok(s.clone());
            }
            let stmt = self
                .client()
                .prepare(&Self::dialect(sql))
                .map_err(|e| self.err(e))?;
            let mut prepared = self.prepared.borrow_mut();
            if prepared.len() >= PREPARED_MAX {
                prepared.clear();
            }
            prepared.insert(sql.to_string(), stmt.clone());
            Ok(stmt)
        }
    }

    impl Drop for PgConn {
        fn drop(&mut self) {
            // Its statements first: dropping them closes them on the server.
            self.prepared.get_mut().clear();
            if let (Some(url), Some(client)) = (self.pool.take(), self.client.get_mut().take()) {
                url.give_back(client);
            }
        }
    }

    /// A PostgreSQL error as a projection error: the server's message and code, or what
    /// failed on the way (the URL, which may hold a password, is never in it).
    pub fn error(location: &Path, e: postgres::Error) -> ProjectionError {
        let (detail, code) = match e.as_db_error() {
            Some(db) => (db.message().to_string(), Some(db.code().code().to_string())),
            None => (e.to_string(), None),
        };
        ProjectionError::Postgres {
            path: location.to_path_buf(),
            detail,
            code,
        }
    }

    struct PgRow<'r> {
        row: &'r postgres::Row,
        location: &'r Path,
    }

    impl PgRow<'_> {
        fn get<T: for<'a> postgres::types::FromSql<'a>>(&self, i: usize) -> Result<Option<T>> {
            self.row
                .try_get::<_, Option<T>>(i)
                .map_err(|e| error(self.location, e))
        }
    }

    impl Row for PgRow<'_> {
        fn int(&self, i: usize) -> Result<Option<i64>> {
            match self.row.columns().get(i).map(|c| c.type_().clone()) {
                Some(Type::INT4) => Ok(self.get::<i32>(i)?.map(i64::from)),
                Some(Type::INT2) => Ok(self.get::<i16>(i)?.map(i64::from)),
                _ => self.get::<i64>(i),
            }
        }
        fn real(&self, i: usize) -> Result<Option<f64>> {
            self.get::<f64>(i)
        }
        fn text(&self, i: usize) -> Result<Option<String>> {
            self.get::<String>(i)
        }
        fn blob(&self, i: usize) -> Result<Option<Vec<u8>>> {
            self.get::<Vec<u8>>(i)
        }
        fn location(&self) -> &Path {
            self.location
        }
    }

    fn refs<'p>(params: &'p [Param<'p>]) -> Vec<&'p (dyn ToSql + Sync)> {
        params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
    }

    impl Conn for PgConn {
        fn engine(&self) -> Engine {
            Engine::Postgres
        }

        fn location(&self) -> &Path {
            &self.location
        }

        fn execute(&self, sql: &str, params: &[Param<'_>]) -> Result<u64> {
            let stmt = self.statement(sql)?;
            self.client()
                .execute(&stmt, &refs(params))
                .map_err(|e| self.err(e))
        }

        fn each(
            &self,
            sql: &str,
            params: &[Param<'_>],
            f: &mut dyn FnMut(&dyn Row) -> Result<()>,
        ) -> Result<()> {
            use postgres::fallible_iterator::FallibleIterator;
            let stmt = self.statement(sql)?;
            let mut client = self.client();
            let mut rows = client
                .query_raw(&stmt, params.iter())
                .map_err(|e| error(&self.location, e))?;
            while let Some(row) = rows.next().map_err(|e| error(&self.location, e))? {
                f(&PgRow {
                    row: &row,
                    location: &self.location,
                })?;
            }
            Ok(())
        }

        fn batch(&self, sql: &str) -> Result<()> {
            self.client().batch_execute(sql).map_err(|e| self.err(e))
        }

        fn begin(&self, _write: bool) -> Result<()> {
            // Writers take turns on the session's writer lock, taken when the schema is
            // opened for writing (`pg::WRITER_LOCK`), not per transaction.
            self.batch("BEGIN")
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
