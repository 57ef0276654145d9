//! The data directory: where the log, the blob store and the projections live.
//!
//! With `--store postgres://…` they live in a PostgreSQL database instead (see
//! `trustfold_events::pg` and `trustfold_projections::db::pg`), and the data dir holds only
//! the worker's own settings (`trust.toml`, `matching.toml`). [`Place`] says which;
//! [`DataDir`] hands the commands the stores of either engine behind the same traits.
//!
//! ```text
//! <data-dir>/log.sqlite3     the event log (SQLite, WAL)
//! <data-dir>/blobs/          raw connector payloads (one file per blob, content-addressed)
//! <data-dir>/projections/    the read models (see trustfold-projections)
//! <data-dir>/runs/           a lock file per live run
//! ```
//!
//! A new log is started only in a data dir with no data in it: blobs, projections or run
//! locks without a log mean the log was deleted or moved, and starting a new one at seq 1
//! beside them would silently orphan them.

use std::fmt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use trustfold_events::{
    BlobStore, Blobs, EventStore, OpenMode, PgBlobStore, PgEventStore, SqliteEventStore, StoreUrl,
};
use trustfold_projections::{PgProjections, ProjectionStore, Projections};

use crate::exit::{bad_input, integrity_failure};

/// Where a command's data lives: the data dir, and with `--store` a PostgreSQL database
/// holding the log, the blobs, the projections, the identity index and the run locks.
#[derive(Clone, Debug)]
pub struct Place {
    /// The whole store when embedded; beside a PostgreSQL store, only this worker's
    /// settings (`trust.toml`, `matching.toml`).
    pub data_dir: PathBuf,
    pub store: Option<StoreUrl>,
}

impl Place {
    /// The embedded data dir at `data_dir`.
    pub fn embedded(data_dir: &Path) -> Place {
        Place {
            data_dir: data_dir.to_path_buf(),
            store: None,
        }
    }

    /// From the command line: `--store URL` (never repeated in errors: it may hold a
    /// password) or the data dir alone.
    pub fn new(data_dir: &Path, store: Option<&str>) -> Result<Place> {
        let store = match store.map(str::trim) {
            None | Some("") => None,
            Some(url) => Some(StoreUrl::parse(url).map_err(|e| bad_input(e.to_string()))?),
        };
        Ok(Place {
            data_dir: data_dir.to_path_buf(),
            store,
        })
    }

    /// Where the log is, for messages: the data dir, or the URL without its password.
    pub fn describe(&self) -> String {
        match &self.store {
            Some(url) => url.redacted().to_string(),
            None => self.data_dir.display().to_string(),
        }
    }
}

/// The data dir cannot be written (read-only media, permissions): a runtime failure.
/// Reading commands recognise it and read without updating the projections.
#[derive(Debug)]
pub struct NotWritable(pub String);

impl fmt::Display for NotWritable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NotWritable {}

fn not_writable(msg: String) -> anyhow::Error {
    anyhow::Error::new(NotWritable(msg))
}

/// A validated data directory, or a PostgreSQL store beside a data dir of settings.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
    pg: Option<StoreUrl>,
}

impl DataDir {
    /// A data dir that must already exist (for commands that only read). Beside a
    /// PostgreSQL store it may be missing (the defaults then apply).
    pub fn existing(place: &Place) -> Result<DataDir> {
        let root = place.data_dir.as_path();
        if let Some(url) = &place.store {
            return Ok(DataDir {
                root: root.to_path_buf(),
                pg: Some(url.clone()),
            });
        }
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => Ok(DataDir {
                root: root.to_path_buf(),
                pg: None,
            }),
            Ok(_) => Err(bad_input(format!(
                "data dir {} is a file, not a directory; pass --data-dir DIR",
                root.display()
            ))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(bad_input(format!(
                "no trustfold data at {}: run `trustfold ingest \"<query>\"` first, or pass \
                 --data-dir (or set TRUSTFOLD_DATA_DIR)",
                root.display()
            ))),
            Err(e) => Err(bad_input(format!("data dir {}: {e}", root.display()))),
        }
    }

    /// A data dir to write into: created if missing, refused if it is a file or read-only.
    /// Beside a PostgreSQL store nothing is written to it.
    pub fn writable(place: &Place) -> Result<DataDir> {
        let root = place.data_dir.as_path();
        if let Some(url) = &place.store {
            return Ok(DataDir {
                root: root.to_path_buf(),
                pg: Some(url.clone()),
            });
        }
        if root.exists() && !root.is_dir() {
            return Err(bad_input(format!(
                "data dir {} is a file, not a directory; pass --data-dir DIR",
                root.display()
            )));
        }
        std::fs::create_dir_all(root)
            .map_err(|e| not_writable(format!("cannot create data dir {}: {e}", root.display())))?;
        let meta = std::fs::metadata(root)
            .map_err(|e| not_writable(format!("data dir {}: {e}", root.display())))?;
        // Checked by mode bits, not only by trying: as root a write would succeed, but a
        // directory marked read-only means its owner does not want it changed.
        if meta.permissions().readonly() {
            return Err(not_writable(format!(
                "data dir {} is read-only; make it writable or pass another --data-dir",
                root.display()
            )));
        }
        // One probe name per process: concurrent writers must not remove each other's.
        let probe = root.join(format!(
            ".write-probe-{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        std::fs::write(&probe, b"")
            .and_then(|_| std::fs::remove_file(&probe))
            .map_err(|e| {
                not_writable(format!("data dir {} is not writable: {e}", root.display()))
            })?;
        Ok(DataDir {
            root: root.to_path_buf(),
            pg: None,
        })
    }

    /// The data dir (beside a PostgreSQL store: where the settings are read from).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The PostgreSQL store, when the data lives there.
    pub fn postgres(&self) -> Option<&StoreUrl> {
        self.pg.as_ref()
    }

    /// Where the log is, for messages: the data dir, or the URL without its password.
    pub fn describe(&self) -> String {
        match &self.pg {
            Some(url) => url.redacted().to_string(),
            None => self.root.display().to_string(),
        }
    }

    /// The projections, on the engine the log is on.
    pub fn projections(&self) -> ProjectionStore {
        match &self.pg {
            Some(url) => ProjectionStore::Postgres(Box::new(PgProjections::new(url))),
            None => ProjectionStore::Embedded(Projections::new(&self.root)),
        }
    }

    /// Takes a run's lock: a flock in the data dir, or a session advisory lock on
    /// PostgreSQL (released with the connection when the process dies).
    pub fn run_lock(&self, run_id: &str) -> Result<crate::ingest::lifecycle::RunLock> {
        crate::ingest::lifecycle::RunLock::acquire(self, run_id)
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.join("log.sqlite3")
    }

    pub fn blobs_path(&self) -> PathBuf {
        self.root.join("blobs")
    }

    /// Opens the log for reading; `None` when nothing was recorded yet. A log missing
    /// beside data that only a log produces is an integrity failure (exit 3).
    pub fn read_log(&self) -> Result<Option<Box<dyn EventStore>>> {
        if let Some(url) = &self.pg {
            return Ok(PgEventStore::open_if_present(url)?.map(|s| Box::new(s) as _));
        }
        if !self.log_in_place()? {
            return Ok(None);
        }
        Ok(Some(Box::new(SqliteEventStore::open(
            self.log_path(),
            OpenMode::ReadOnly,
        )?)))
    }

    /// Opens the log for appending, creating it only in a data dir (or a database) with
    /// no data yet.
    pub fn write_log(&self) -> Result<Box<dyn EventStore>> {
        if let Some(url) = &self.pg {
            return Ok(Box::new(PgEventStore::open(url, true)?));
        }
        self.log_in_place()?;
        Ok(Box::new(SqliteEventStore::open(
            self.log_path(),
            OpenMode::ReadWrite,
        )?))
    }

    /// Whether the log has content; refuses a missing or emptied log when the data dir
    /// holds what only a log could have produced.
    fn log_in_place(&self) -> Result<bool> {
        let state = match std::fs::metadata(self.log_path()) {
            Ok(m) if m.is_file() && m.len() == 0 => "is empty (0 bytes)",
            Ok(_) => return Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => "is missing",
            Err(e) => {
                return Err(anyhow::anyhow!("{}: {e}", self.log_path().display()));
            }
        };
        let found = self.data_without_log();
        if found.is_empty() {
            return Ok(false);
        }
        Err(integrity_failure(format!(
            "{}: the event log (log.sqlite3) {state}, but this data dir holds {}: the log was \
             deleted, emptied or moved. Restore log.sqlite3 from a backup; trustfold starts a new \
             log only in a data dir without data (pass another --data-dir to start afresh)",
            self.root.display(),
            join_and(&found)
        )))
    }

    /// What the data dir holds that only a log could have produced, described for people.
    fn data_without_log(&self) -> Vec<String> {
        let mut found = Vec::new();
        let blobs = self.blobs_path();
        if blobs.join("db").exists() {
            found.push("a blob store (in the old sled format)".to_string());
        } else if blobs.join("objects").is_dir() {
            let n = BlobStore::open_read_only(&blobs).map_or(0, |b| b.len());
            if n > 0 {
                found.push(format!(
                    "a blob store with {n} payload{}",
                    if n == 1 { "" } else { "s" }
                ));
            }
        }
        let projections = trustfold_projections::Projections::new(&self.root);
        if projections.dir().join("CURRENT").exists() {
            let folded = projections
                .open_read()
                .ok()
                .flatten()
                .and_then(|db| db.meta().ok())
                .map(|m| m.checkpoint_seq);
            found.push(match folded {
                Some(seq) => format!("projections folded up to seq {seq}"),
                None => "projections".to_string(),
            });
        }
        let n_locks = std::fs::read_dir(self.root.join("runs"))
            .map(|d| d.flatten().count())
            .unwrap_or(0);
        if n_locks > 0 {
            found.push(format!(
                "the lock file{} of {n_locks} run{}",
                if n_locks == 1 { "" } else { "s" },
                if n_locks == 1 { "" } else { "s" }
            ));
        }
        found
    }

    /// Opens (creating, migrating an old store if needed) the blob store for writing.
    pub fn blobs(&self) -> Result<Box<dyn Blobs>> {
        if let Some(url) = &self.pg {
            return Ok(Box::new(PgBlobStore::open(url, true)?));
        }
        Ok(Box::new(BlobStore::open(self.blobs_path()).with_context(
            || format!("opening the blob store of {}", self.root.display()),
        )?))
    }

    /// The matching thresholds: `<data-dir>/matching.toml` when present, else the defaults.
    pub fn match_config(&self) -> Result<crate::resolve::MatchConfig> {
        let path = self.root.join("matching.toml");
        if !path.exists() {
            return Ok(crate::resolve::MatchConfig::default());
        }
        let text = std::fs::read_to_string(&path)
            .map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        let config: crate::resolve::MatchConfig =
            toml::from_str(&text).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        config
            .validate()
            .map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
        Ok(config)
    }

    /// Opens the blob store only if one exists: for writing where the data dir may be
    /// written (so an old store is migrated and leftovers cleaned), else read-only.
    pub fn existing_blobs(&self) -> Result<Option<Box<dyn Blobs>>> {
        if let Some(url) = &self.pg {
            return Ok(Some(Box::new(PgBlobStore::open(url, false)?)));
        }
        if !self.blobs_path().exists() {
            return Ok(None);
        }
        if DataDir::writable(&Place::embedded(&self.root)).is_ok() {
            return self.blobs().map(Some);
        }
        Ok(Some(Box::new(
            BlobStore::open_read_only(self.blobs_path())
                .with_context(|| format!("opening the blob store of {}", self.root.display()))?,
        )))
    }
}

/// "a, b and c".
fn join_and(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}
