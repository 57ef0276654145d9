//! Database files that can outlive their writer: the one a rebuild is writing, and the
//! orphans of rebuilds that died (kill -9, a full disk).
//!
//! A rebuild claims its file name by creating and locking (flock) a companion
//! `p-<uuid>.sqlite3.lock` before the database exists, and holds the lock until the
//! database is swapped in or abandoned. A database that is not current and whose lock
//! nobody holds is an orphan: its writer is gone (the OS drops the lock of a dead
//! process), so it is removed with its WAL, shared-memory, journal and lock files. The live
//! database is never touched (`CURRENT` names it, read under the projections' write lock),
//! nor is another live rebuild's (its lock is held).

use std::fs::{self, File, OpenOptions};
use std::path::{Path, PathBuf};

use crate::db::ProjectionError;

/// Attempts at claiming a fresh name before giving up (a clash needs another process to
/// clean the lock file between its creation and its lock, twice in a row).
const CLAIM_ATTEMPTS_MAX: u32 = 3;

/// Suffixes SQLite and the rebuild add to a database's name.
const COMPANIONS: [&str; 4] = ["-wal", "-shm", "-journal", ".lock"];

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// A database a rebuild is writing. Dropped before [`Building::keep`], it removes the
/// database (a failed or abandoned rebuild leaves nothing behind).
pub(crate) struct Building {
    path: PathBuf,
    lock_path: PathBuf,
    lock: Option<File>,
}

impl Building {
    /// Claims a fresh `p-<uuid>.sqlite3` in `dir`.
    pub(crate) fn claim(dir: &Path) -> Result<Building, ProjectionError> {
        use std::os::unix::fs::MetadataExt;
        let io = |path: &Path, source| ProjectionError::Io {
            path: path.to_path_buf(),
            source,
        };
        for _ in 0..CLAIM_ATTEMPTS_MAX {
            let path = dir.join(format!("p-{}.sqlite3", uuid::Uuid::now_v7().simple()));
            let lock_path = with_suffix(&path, ".lock");
            let lock = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&lock_path)
                .map_err(|e| io(&lock_path, e))?;
            if lock.try_lock().is_err() {
                continue;
            }
            // A cleaner that got in between creation and lock removed the file: try again.
            let same = match (fs::metadata(&lock_path), lock.metadata()) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                return Ok(Building {
                    path,
                    lock_path,
                    lock: Some(lock),
                });
            }
        }
        Err(io(
            dir,
            std::io::Error::other(format!(
                "could not claim a database name in {CLAIM_ATTEMPTS_MAX} attempts"
            )),
        ))
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The database is live (`CURRENT` names it): stop guarding it. Call with the
    /// projections' write lock held, so no cleaner sees it unlocked and not yet current.
    pub(crate) fn keep(mut self) {
        let _ = fs::remove_file(&self.lock_path);
        self.lock = None;
    }
}

impl Drop for Building {
    fn drop(&mut self) {
        if self.lock.is_some() {
            remove_database(&self.path);
            // The lock file goes last, while still held: a cleaner never sees it free
            // beside a half-removed database.
            let _ = fs::remove_file(&self.lock_path);
        }
    }
}

/// Removes a database file with its WAL, shared-memory, journal and lock files.
pub(crate) fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let _ = fs::remove_file(with_suffix(path, suffix));
    }
    let _ = fs::remove_file(with_suffix(path, ".lock"));
}

/// Removes the orphans in `dir` (see the module docs). The caller holds the projections'
/// write lock and passes the live database. Best effort: what cannot be removed now is
/// tried again by the next writer.
pub(crate) fn remove_orphans(dir: &Path, current: Option<&Path>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let live = current.and_then(|c| c.file_name()).map(|n| n.to_owned());
    let mut bases: Vec<String> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name == "CURRENT.tmp" {
            // A swap that died before its rename; CURRENT still names the live database.
            let _ = fs::remove_file(entry.path());
            continue;
        }
        if !name.starts_with("p-") {
            continue;
        }
        let base = COMPANIONS
            .iter()
            .find_map(|s| name.strip_suffix(s))
            .unwrap_or(&name)
            .to_string();
        if base.ends_with(".sqlite3") && !bases.contains(&base) {
            bases.push(base);
        }
    }
    for base in bases {
        if live.as_deref() == Some(std::ffi::OsStr::new(&base)) {
            continue;
        }
        let path = dir.join(&base);
        let lock_path = with_suffix(&path, ".lock");
        // Held until the files are gone, so the lock file is removed last, still held.
        let lock = OpenOptions::new().write(true).open(&lock_path).ok();
        if lock.as_ref().is_some_and(|l| l.try_lock().is_err()) {
            continue; // a live rebuild
        }
        remove_database(&path);
        drop(lock);
    }
}

/// Removes the orphans if the projections' write lock is free right now (a writer that
/// holds it cleans up itself); `current` is read under that lock.
pub(crate) fn remove_orphans_if_unlocked(dir: &Path, current: impl Fn() -> Option<PathBuf>) {
    let Ok(lock) = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("LOCK"))
    else {
        return;
    };
    if lock.try_lock().is_ok() {
        remove_orphans(dir, current().as_deref());
    }
}
