//! The data directory: where the log, the blob store and the projections live.
//!
//! ```text
//! <data-dir>/log.sqlite3     the event log (SQLite, WAL)
//! <data-dir>/blobs/          raw connector payloads (sled, content-addressed)
//! ```

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use trustfold_events::{BlobStore, OpenMode, SqliteEventStore};

use crate::exit::bad_input;

/// A validated data directory.
#[derive(Clone, Debug)]
pub struct DataDir {
    root: PathBuf,
}

impl DataDir {
    /// A data dir that must already exist (for commands that only read).
    pub fn existing(root: &Path) -> Result<DataDir> {
        match std::fs::metadata(root) {
            Ok(m) if m.is_dir() => Ok(DataDir {
                root: root.to_path_buf(),
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
    pub fn writable(root: &Path) -> Result<DataDir> {
        if root.exists() && !root.is_dir() {
            return Err(bad_input(format!(
                "data dir {} is a file, not a directory; pass --data-dir DIR",
                root.display()
            )));
        }
        std::fs::create_dir_all(root)
            .map_err(|e| bad_input(format!("cannot create data dir {}: {e}", root.display())))?;
        let meta = std::fs::metadata(root)
            .map_err(|e| bad_input(format!("data dir {}: {e}", root.display())))?;
        // Checked by mode bits, not only by trying: as root a write would succeed, but a
        // directory marked read-only means its owner does not want it changed.
        if meta.permissions().readonly() {
            return Err(bad_input(format!(
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
            .map_err(|e| bad_input(format!("data dir {} is not writable: {e}", root.display())))?;
        Ok(DataDir {
            root: root.to_path_buf(),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn log_path(&self) -> PathBuf {
        self.root.join("log.sqlite3")
    }

    pub fn blobs_path(&self) -> PathBuf {
        self.root.join("blobs")
    }

    /// Whether an event log exists yet.
    pub fn has_log(&self) -> bool {
        self.log_path().exists()
    }

    /// Opens the log for reading; `None` when nothing was recorded yet.
    pub fn read_log(&self) -> Result<Option<SqliteEventStore>> {
        if !self.has_log() {
            return Ok(None);
        }
        Ok(Some(SqliteEventStore::open(
            self.log_path(),
            OpenMode::ReadOnly,
        )?))
    }

    /// Opens (creating) the log for appending.
    pub fn write_log(&self) -> Result<SqliteEventStore> {
        Ok(SqliteEventStore::open(
            self.log_path(),
            OpenMode::ReadWrite,
        )?)
    }

    /// Opens (creating) the blob store.
    pub fn blobs(&self) -> Result<BlobStore> {
        BlobStore::open(self.blobs_path())
            .with_context(|| format!("opening the blob store of {}", self.root.display()))
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

    /// Opens the blob store only if one exists.
    pub fn existing_blobs(&self) -> Result<Option<BlobStore>> {
        if !self.blobs_path().exists() {
            return Ok(None);
        }
        self.blobs().map(Some)
    }
}
