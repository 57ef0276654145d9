//! The content-addressed blob store for raw connector payloads: one file per blob.
//!
//! ```text
//! <blobs>/FORMAT                   "trustfold-blobs 2": the layout and its version
//! <blobs>/objects/<aa>/<62 hex>    one blob, named by the blake3 of its bytes
//!                                  (<aa> = the hash's first two hex digits)
//! <blobs>/tmp/<pid>-<uuid>         a write in progress, locked (flock) by its writer
//! ```
//!
//! Key = blake3 of the bytes. Every read re-hashes the bytes and refuses to return them if
//! they no longer match their name, so a corrupted payload is an error, never an answer;
//! one damaged file costs that one blob and nothing else.
//!
//! A blob is written to a file under `tmp/`, synced, renamed into `objects/` and its
//! directory synced before `put` returns: it is durable before any event that names it is
//! appended, and a crash leaves either the whole blob or no blob under its name. A write
//! that would leave less than [`FREE_BYTES_RESERVED`] free is refused before it starts,
//! so the log keeps room to record why. Any number of processes may read and write at
//! once: names are content addresses and renames are atomic, so nothing is locked.
//!
//! Stores written by earlier versions (sled, in the same directory) are migrated on the
//! first writable open. Why files rather than sled: `docs/adr/0003-blobs-as-files.md`.

use std::collections::BTreeSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::hash::{BlobHash, Hash32};
use crate::limits::{BLOB_LOCK_WAIT_MS, FREE_BYTES_RESERVED, PAYLOAD_BYTES_MAX};

/// The first line of `FORMAT` in a store of this layout.
const FORMAT_LINE: &str = "trustfold-blobs 2";
/// The layout version this build writes and reads.
const FORMAT_VERSION: u32 = 2;
/// Attempts at claiming a fresh temporary file before giving up (a clash needs another
/// process to clean the file between its creation and its lock, twice in a row).
const TMP_CLAIM_ATTEMPTS_MAX: u32 = 3;
/// Files of an old (sled) store in the store's directory.
const LEGACY_FILES: [&str; 2] = ["conf", "db"];

/// Errors of the blob store. Each says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error(
        "blob {hash} is corrupt: its bytes hash to {actual}; restore that blob from a backup, \
         or store the same payload again (a re-import or re-ingest of it repairs the file)"
    )]
    Corrupt { hash: BlobHash, actual: BlobHash },

    #[error("blob {0} is missing from the blob store")]
    Missing(BlobHash),

    #[error("blob {hash} cannot be read: {detail}")]
    Unreadable { hash: BlobHash, detail: String },

    #[error("payload of {actual} bytes exceeds PAYLOAD_BYTES_MAX ({max} bytes)")]
    TooLarge { actual: usize, max: usize },

    #[error("{path}: cannot open the blob store: {detail}")]
    Open { path: PathBuf, detail: String },

    #[error("the blob store holds a file that is not named by a blob hash: {0}")]
    BadKey(String),

    #[error("{path}: disk full: {detail}; free some space and run the command again")]
    DiskFull { path: PathBuf, detail: String },

    #[error("{path}: cannot write: {detail}")]
    ReadOnly { path: PathBuf, detail: String },

    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("{path}: the blob store is in the old (sled) format and cannot be migrated: {detail}")]
    Legacy { path: PathBuf, detail: String },

    /// PostgreSQL failed a blob read or write (the server's message; never the URL's
    /// password).
    #[error("blobs on {path}: {detail}")]
    Postgres { path: PathBuf, detail: String },
}

impl BlobError {
    /// Whether the error is a damaged or unsuitable store or payload (exit 2) rather than
    /// a runtime failure (a full disk, read-only media, an I/O error: exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            BlobError::Open { .. } | BlobError::TooLarge { .. } | BlobError::Legacy { .. }
        )
    }

    /// Whether the error is a payload that is not what its event says (exit 3).
    pub fn is_integrity(&self) -> bool {
        matches!(
            self,
            BlobError::Corrupt { .. } | BlobError::Missing(_) | BlobError::BadKey(_)
        )
    }
}

/// What the OS said, in the store's terms.
fn io_err(path: &Path, e: io::Error) -> BlobError {
    let path = path.to_path_buf();
    if is_disk_full(&e) {
        return BlobError::DiskFull {
            path,
            detail: e.to_string(),
        };
    }
    if is_not_writable(&e) {
        return BlobError::ReadOnly {
            path,
            detail: e.to_string(),
        };
    }
    BlobError::Io { path, source: e }
}

/// ENOSPC or EDQUOT.
fn is_disk_full(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::StorageFull || matches!(e.raw_os_error(), Some(28 | 122))
}

/// EROFS, EACCES or EPERM (an immutable file).
fn is_not_writable(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::ReadOnlyFilesystem
        || e.kind() == io::ErrorKind::PermissionDenied
        || matches!(e.raw_os_error(), Some(1 | 13 | 30))
}

/// Where raw payloads are kept, keyed by their blake3: a directory of files
/// ([`BlobStore`]) or a PostgreSQL table (`crate::pg::PgBlobStore`). Every read re-hashes
/// the bytes; a blob is durable before `put` (or `flush`) returns.
pub trait Blobs: Send + Sync {
    /// Where the blobs are, for messages.
    fn location(&self) -> String;
    /// Stores `bytes` (if not already present) and makes them durable. Returns their hash.
    fn put(&self, bytes: &[u8]) -> Result<BlobHash, BlobError>;
    /// Stores `bytes`; [`Blobs::flush`] must run before an event naming them is appended.
    fn put_unflushed(&self, bytes: &[u8]) -> Result<BlobHash, BlobError>;
    /// Makes every blob written so far durable.
    fn flush(&self) -> Result<(), BlobError>;
    /// Reads a blob, verifying that its bytes still hash to its key.
    fn get(&self, hash: &BlobHash) -> Result<Vec<u8>, BlobError>;
    fn contains(&self, hash: &BlobHash) -> Result<bool, BlobError>;
    /// Number of blobs stored.
    fn count(&self) -> usize;
    /// Checks every blob; returns the bad ones.
    fn verify_all(&self) -> Result<Vec<BlobError>, BlobError>;
}

impl Blobs for BlobStore {
    fn location(&self) -> String {
        self.path().display().to_string()
    }
    fn put(&self, bytes: &[u8]) -> Result<BlobHash, BlobError> {
        BlobStore::put(self, bytes)
    }
    fn put_unflushed(&self, bytes: &[u8]) -> Result<BlobHash, BlobError> {
        BlobStore::put_unflushed(self, bytes)
    }
    fn flush(&self) -> Result<(), BlobError> {
        BlobStore::flush(self)
    }
    fn get(&self, hash: &BlobHash) -> Result<Vec<u8>, BlobError> {
        BlobStore::get(self, hash)
    }
    fn contains(&self, hash: &BlobHash) -> Result<bool, BlobError> {
        BlobStore::contains(self, hash)
    }
    fn count(&self) -> usize {
        BlobStore::len(self)
    }
    fn verify_all(&self) -> Result<Vec<BlobError>, BlobError> {
        BlobStore::verify_all(self)
    }
}

/// Raw payloads keyed by their blake3 hash, one file each.
pub struct BlobStore {
    root: PathBuf,
    writable: bool,
    /// Directories that gained a blob since the last [`BlobStore::flush`].
    unsynced_dirs: Mutex<BTreeSet<PathBuf>>,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("path", &self.root)
            .field("writable", &self.writable)
            .finish()
    }
}

impl BlobStore {
    /// Opens (creating if needed) the store in directory `path` for reading and writing.
    /// An old sled store found there is migrated first; files left by writers that died
    /// (an interrupted write, an interrupted migration) are removed.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, BlobError> {
        let root = path.as_ref().to_path_buf();
        refuse_non_directory(&root)?;
        fs::create_dir_all(&root).map_err(|e| io_err(&root, e))?;
        if is_legacy(&root) {
            migrate_legacy(&root)?;
        }
        ensure_layout(&root)?;
        let store = BlobStore {
            root,
            writable: true,
            unsynced_dirs: Mutex::new(BTreeSet::new()),
        };
        store.remove_leftovers();
        Ok(store)
    }

    /// Opens the store without writing anything, for reading commands and read-only
    /// media. A directory that does not exist reads as an empty store.
    pub fn open_read_only(path: impl AsRef<Path>) -> Result<Self, BlobError> {
        let root = path.as_ref().to_path_buf();
        refuse_non_directory(&root)?;
        if is_legacy(&root) {
            return Err(BlobError::Legacy {
                path: root,
                detail: "it is migrated by the first command that may write to the data dir \
                         (e.g. `trustfold verify` with write access); copy the data dir to \
                         writable storage first"
                    .into(),
            });
        }
        if root.join("FORMAT").exists() {
            read_format(&root)?;
        }
        Ok(BlobStore {
            root,
            writable: false,
            unsynced_dirs: Mutex::new(BTreeSet::new()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.root
    }

    fn objects(&self) -> PathBuf {
        self.root.join("objects")
    }

    fn object_path(&self, hash: &BlobHash) -> PathBuf {
        let hex = hash.to_hex();
        self.objects().join(&hex[..2]).join(&hex[2..])
    }

    /// Stores `bytes` (if not already present) and makes them durable. Returns their hash.
    pub fn put(&self, bytes: &[u8]) -> Result<BlobHash, BlobError> {
        let hash = self.put_unflushed(bytes)?;
        self.flush()?;
        Ok(hash)
    }

    /// Stores `bytes` with the file itself synced but its directory entry not yet: call
    /// [`BlobStore::flush`] before appending any event that names the blob. Used to write
    /// many blobs with one round of directory syncs.
    ///
    /// A blob already stored is read back and checked; if its file was damaged, it is
    /// written again, so storing the same payload repairs it.
    pub fn put_unflushed(&self, bytes: &[u8]) -> Result<BlobHash, BlobError> {
        if bytes.len() > PAYLOAD_BYTES_MAX {
            return Err(BlobError::TooLarge {
                actual: bytes.len(),
                max: PAYLOAD_BYTES_MAX,
            });
        }
        let hash = Hash32::of(bytes);
        match self.get(&hash) {
            // Content addressing makes the write idempotent: same name, same bytes.
            Ok(_) => return Ok(hash),
            Err(BlobError::Missing(_)) => {}
            Err(BlobError::Corrupt { .. } | BlobError::Unreadable { .. }) => {
                tracing::warn!(%hash, "blob file damaged; writing it again");
            }
            Err(e) => return Err(e),
        }
        self.write_object(&hash, bytes)?;
        Ok(hash)
    }

    /// Writes `bytes` under `hash` (which the caller vouches for): a synced temporary file
    /// renamed into place. Nothing is left under `tmp/` when it fails.
    fn write_object(&self, hash: &BlobHash, bytes: &[u8]) -> Result<(), BlobError> {
        if !self.writable {
            return Err(BlobError::ReadOnly {
                path: self.root.clone(),
                detail: "the blob store was opened read-only".into(),
            });
        }
        self.check_space(bytes.len() as u64)?;
        let (tmp_path, mut file) = claim_tmp(&self.root.join("tmp"))?;
        let written = file
            .write_all(bytes)
            .and_then(|_| file.sync_all())
            .map_err(|e| io_err(&tmp_path, e));
        if let Err(e) = written {
            let _ = fs::remove_file(&tmp_path);
            return Err(e);
        }
        let target = self.object_path(hash);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        let renamed = fs::create_dir_all(&dir)
            .map_err(|e| io_err(&dir, e))
            .and_then(|_| fs::rename(&tmp_path, &target).map_err(|e| io_err(&target, e)));
        if let Err(e) = renamed {
            let _ = fs::remove_file(&tmp_path);
            return Err(e);
        }
        drop(file);
        let mut dirs = self.unsynced_dirs.lock().unwrap_or_else(|p| p.into_inner());
        dirs.insert(dir);
        dirs.insert(self.objects());
        Ok(())
    }

    /// Refuses a write of `n_bytes` that would leave less than [`FREE_BYTES_RESERVED`].
    fn check_space(&self, n_bytes: u64) -> Result<(), BlobError> {
        // Where the file system cannot say, the write itself will.
        let Some(available) = free_bytes(&self.root) else {
            return Ok(());
        };
        let needed = n_bytes.saturating_add(FREE_BYTES_RESERVED);
        if available < needed {
            return Err(BlobError::DiskFull {
                path: self.root.clone(),
                detail: format!(
                    "storing a payload of {} needs {} free ({} is kept in reserve \
                     (FREE_BYTES_RESERVED) so the log can still record what happened), but \
                     only {} is free; nothing was written",
                    human_bytes(n_bytes),
                    human_bytes(needed),
                    human_bytes(FREE_BYTES_RESERVED),
                    human_bytes(available)
                ),
            });
        }
        Ok(())
    }

    /// Makes every blob written so far durable (syncs the directories that gained one).
    pub fn flush(&self) -> Result<(), BlobError> {
        let dirs =
            std::mem::take(&mut *self.unsynced_dirs.lock().unwrap_or_else(|p| p.into_inner()));
        for dir in dirs {
            File::open(&dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| io_err(&dir, e))?;
        }
        Ok(())
    }

    /// Reads a blob, verifying that its bytes still hash to its name.
    pub fn get(&self, hash: &BlobHash) -> Result<Vec<u8>, BlobError> {
        let path = self.object_path(hash);
        let unreadable = |e: io::Error| BlobError::Unreadable {
            hash: *hash,
            detail: format!("{}: {e}", path.display()),
        };
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(BlobError::Missing(*hash)),
            Err(e) => return Err(unreadable(e)),
        };
        let len = file.metadata().map_err(unreadable)?.len();
        if len > PAYLOAD_BYTES_MAX as u64 {
            // Larger than any blob this store writes: hash it without holding it.
            let mut hasher = blake3::Hasher::new();
            io::copy(&mut file, &mut hasher).map_err(unreadable)?;
            return Err(BlobError::Corrupt {
                hash: *hash,
                actual: Hash32(*hasher.finalize().as_bytes()),
            });
        }
        let mut bytes = Vec::with_capacity(len as usize);
        file.read_to_end(&mut bytes).map_err(unreadable)?;
        let actual = Hash32::of(&bytes);
        if actual != *hash {
            return Err(BlobError::Corrupt {
                hash: *hash,
                actual,
            });
        }
        Ok(bytes)
    }

    /// Whether a blob is stored under `hash` (its bytes are not checked: see `get`).
    pub fn contains(&self, hash: &BlobHash) -> Result<bool, BlobError> {
        let path = self.object_path(hash);
        match fs::metadata(&path) {
            Ok(m) => Ok(m.is_file()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(BlobError::Unreadable {
                hash: *hash,
                detail: format!("{}: {e}", path.display()),
            }),
        }
    }

    /// Number of blobs stored (a walk of the directory).
    pub fn len(&self) -> usize {
        self.object_files().map_or(0, |files| files.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every file under `objects/`, with the hash its name spells (if it spells one).
    fn object_files(&self) -> Result<Vec<(PathBuf, Option<BlobHash>)>, BlobError> {
        let objects = self.objects();
        let mut out = Vec::new();
        let fan = match fs::read_dir(&objects) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(io_err(&objects, e)),
        };
        let mut dirs: Vec<PathBuf> = fan
            .map(|e| e.map(|e| e.path()).map_err(|e| io_err(&objects, e)))
            .collect::<Result<_, _>>()?;
        dirs.sort();
        for dir in dirs {
            let prefix = dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !dir.is_dir() {
                out.push((dir, None));
                continue;
            }
            let mut files: Vec<PathBuf> = fs::read_dir(&dir)
                .map_err(|e| io_err(&dir, e))?
                .map(|e| e.map(|e| e.path()).map_err(|e| io_err(&dir, e)))
                .collect::<Result<_, _>>()?;
            files.sort();
            for file in files {
                let name = file
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let spelled = format!("{prefix}{name}");
                // Only the lowercase form this store writes is a blob's name.
                let hash = spelled
                    .parse::<BlobHash>()
                    .ok()
                    .filter(|h| h.to_hex() == spelled);
                out.push((file, hash));
            }
        }
        Ok(out)
    }

    /// Checks every blob; returns the bad ones: `Corrupt` (bytes that no longer hash to
    /// their name), `Unreadable` (an I/O error), `BadKey` (a file not named by a hash).
    /// Only a store that cannot be listed at all is an `Err`.
    pub fn verify_all(&self) -> Result<Vec<BlobError>, BlobError> {
        let mut bad = Vec::new();
        for (path, hash) in self.object_files()? {
            let Some(hash) = hash else {
                bad.push(BlobError::BadKey(path.display().to_string()));
                continue;
            };
            match self.get(&hash) {
                Ok(_) => {}
                // Removed between the listing and the read (another process repaired it).
                Err(BlobError::Missing(_)) => {}
                Err(e) => bad.push(e),
            }
        }
        Ok(bad)
    }

    /// Removes what writers that died left behind: unlocked files under `tmp/`, and the
    /// old store's files once a migration has finished. Best effort: a leftover is
    /// harmless (never read), so a failure here is only logged.
    fn remove_leftovers(&self) {
        let tmp = self.root.join("tmp");
        if let Ok(entries) = fs::read_dir(&tmp) {
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(file) = OpenOptions::new().write(true).open(&path) else {
                    continue;
                };
                // A live writer holds its file's lock until the rename; a dead one does not.
                if file.try_lock().is_ok() {
                    match fs::remove_file(&path) {
                        Ok(()) => {
                            tracing::info!(path = %path.display(), "removed an interrupted blob write")
                        }
                        Err(e) => {
                            tracing::warn!(path = %path.display(), error = %e, "cannot remove an interrupted blob write")
                        }
                    }
                }
            }
        }
        remove_legacy_files(&self.root);
    }
}

/// The bytes an unprivileged writer may still use on the file system holding `path`
/// (`None` where the file system cannot say). For checks before large writes.
pub fn free_bytes(path: &Path) -> Option<u64> {
    let stat = rustix::fs::statvfs(path).ok()?;
    Some(stat.f_bavail.saturating_mul(stat.f_frsize))
}

/// A byte count for people: "3.1 MiB" (for messages about space).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["bytes", "KiB", "MiB", "GiB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} bytes")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn refuse_non_directory(root: &Path) -> Result<(), BlobError> {
    if root.exists() && !root.is_dir() {
        return Err(BlobError::Open {
            path: root.to_path_buf(),
            detail: "exists but is not a directory".into(),
        });
    }
    Ok(())
}

/// Creates and locks a fresh file under `tmp`. The lock tells a cleaner that the writer
/// is alive; a cleaner that got in between creation and lock has removed the file, which
/// the inode check notices (then another name is tried).
fn claim_tmp(tmp: &Path) -> Result<(PathBuf, File), BlobError> {
    use std::os::unix::fs::MetadataExt;
    fs::create_dir_all(tmp).map_err(|e| io_err(tmp, e))?;
    for _ in 0..TMP_CLAIM_ATTEMPTS_MAX {
        let path = tmp.join(format!(
            "{}-{}",
            std::process::id(),
            uuid::Uuid::new_v4().simple()
        ));
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| io_err(&path, e))?;
        if file.try_lock().is_err() {
            continue;
        }
        let same = match (fs::metadata(&path), file.metadata()) {
            (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
            _ => false,
        };
        if same {
            return Ok((path, file));
        }
    }
    Err(BlobError::Io {
        path: tmp.to_path_buf(),
        source: io::Error::other(format!(
            "could not claim a temporary file in {TMP_CLAIM_ATTEMPTS_MAX} attempts"
        )),
    })
}

/// Writes `text` to `path` durably: a synced temporary file renamed into place.
fn write_durably(root: &Path, path: &Path, text: &str) -> Result<(), BlobError> {
    let (tmp_path, mut file) = claim_tmp(&root.join("tmp"))?;
    let written = file
        .write_all(text.as_bytes())
        .and_then(|_| file.sync_all())
        .and_then(|_| fs::rename(&tmp_path, path))
        .and_then(|_| File::open(root)?.sync_all());
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp_path);
        return Err(io_err(path, e));
    }
    Ok(())
}

/// The layout version recorded in `FORMAT`.
fn read_format(root: &Path) -> Result<u32, BlobError> {
    let path = root.join("FORMAT");
    let text = fs::read_to_string(&path).map_err(|e| io_err(&path, e))?;
    let version = text
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("trustfold-blobs "))
        .and_then(|v| v.trim().parse::<u32>().ok())
        .ok_or_else(|| BlobError::Open {
            path: path.clone(),
            detail: format!(
                "not a trustfold blob store format line ({:?})",
                text.chars().take(60).collect::<String>()
            ),
        })?;
    if version != FORMAT_VERSION {
        return Err(BlobError::Open {
            path,
            detail: if version > FORMAT_VERSION {
                format!(
                    "blob store format {version} was written by a newer trustfold (this one \
                     reads format {FORMAT_VERSION}); upgrade trustfold"
                )
            } else {
                format!("unknown blob store format {version}")
            },
        });
    }
    Ok(version)
}

/// Checks `FORMAT`, or lays out a new store in a directory that holds nothing else.
fn ensure_layout(root: &Path) -> Result<(), BlobError> {
    if root.join("FORMAT").exists() {
        read_format(root)?;
        return Ok(());
    }
    let foreign: Vec<String> = fs::read_dir(root)
        .map_err(|e| io_err(root, e))?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !["objects", "tmp", ".migrate.lock"].contains(&n.as_str()))
        .collect();
    if !foreign.is_empty() {
        return Err(BlobError::Open {
            path: root.to_path_buf(),
            detail: format!(
                "not a trustfold blob store (it holds {}); point --data-dir at a trustfold \
                 data directory",
                foreign.join(", ")
            ),
        });
    }
    for dir in ["objects", "tmp"] {
        let d = root.join(dir);
        fs::create_dir_all(&d).map_err(|e| io_err(&d, e))?;
    }
    write_durably(root, &root.join("FORMAT"), &format!("{FORMAT_LINE}\n"))
}

/// Whether `root` holds an old sled store that was not migrated yet.
fn is_legacy(root: &Path) -> bool {
    !root.join("FORMAT").exists() && LEGACY_FILES.iter().any(|f| root.join(f).exists())
}

/// An exclusive flock on `path`, waited for up to `BLOB_LOCK_WAIT_MS`.
fn lock_waiting(path: &Path) -> Result<File, BlobError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(|e| io_err(path, e))?;
    let started = Instant::now();
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(fs::TryLockError::WouldBlock)
                if started.elapsed() < Duration::from_millis(BLOB_LOCK_WAIT_MS) =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::WouldBlock) => {
                return Err(BlobError::Io {
                    path: path.to_path_buf(),
                    source: io::Error::other(format!(
                        "another trustfold process has been migrating the blob store for more \
                         than {BLOB_LOCK_WAIT_MS} ms (BLOB_LOCK_WAIT_MS); try again when it \
                         finishes"
                    )),
                })
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err(path, e)),
        }
    }
}

/// Size of the files under `path`, recursively (for the migration's space check).
fn tree_bytes(path: &Path) -> u64 {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::read_dir(path)
            .map(|entries| entries.flatten().map(|e| tree_bytes(&e.path())).sum())
            .unwrap_or(0),
        Ok(m) => m.len(),
        Err(_) => 0,
    }
}

/// Copies every blob of an old sled store into the current layout, then removes the old
/// files. A blob whose bytes no longer match its key is copied as it is, so `verify` still
/// names the events it belonged to. Interrupted at any point, the next open starts over
/// (until `FORMAT` is written) or only removes the old files (after).
fn migrate_legacy(root: &Path) -> Result<(), BlobError> {
    let _lock = lock_waiting(&root.join(".migrate.lock"))?;
    if !is_legacy(root) {
        return Ok(()); // another process finished it while we waited
    }
    let legacy = |detail: String| BlobError::Legacy {
        path: root.to_path_buf(),
        detail,
    };
    // sled writes a snapshot to `snap.<n>.generating` and renames it when complete; one
    // left behind (a full disk) is an unfinished attempt, and sled refuses to start
    // beside it although nothing is lost.
    if let Ok(entries) = fs::read_dir(root) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("snap.") && name.ends_with(".generating") {
                let _ = fs::remove_file(entry.path());
            }
        }
    }
    let old_bytes: u64 = ["db", "blobs"]
        .iter()
        .map(|f| tree_bytes(&root.join(f)))
        .sum();
    let probe = BlobStore {
        root: root.to_path_buf(),
        writable: true,
        unsynced_dirs: Mutex::new(BTreeSet::new()),
    };
    probe.check_space(old_bytes)?;
    let started = Instant::now();
    let db = loop {
        // Periodic flushes off: this process only reads the old store.
        match sled::Config::new().path(root).flush_every_ms(None).open() {
            Ok(db) => break db,
            Err(sled::Error::Io(e))
                if (e.kind() == io::ErrorKind::WouldBlock || e.raw_os_error() == Some(11))
                    && started.elapsed() < Duration::from_millis(BLOB_LOCK_WAIT_MS) =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => {
                return Err(legacy(format!(
                    "it does not open ({e}); it is left as it was: restore it from a backup, \
                     or move it aside to start a new blob store (`verify` then names the \
                     events whose payloads are gone)"
                )))
            }
        }
    };
    for dir in ["objects", "tmp"] {
        let d = root.join(dir);
        fs::create_dir_all(&d).map_err(|e| io_err(&d, e))?;
    }
    let mut n_blobs = 0u64;
    for item in db.iter() {
        let (key, bytes) = item.map_err(|e| {
            legacy(format!(
                "reading it failed after {n_blobs} blobs ({e}); it is left as it was"
            ))
        })?;
        let Some(hash) = Hash32::from_slice(&key) else {
            tracing::warn!(key = ?key, "old blob store: a key that is not a hash, not migrated");
            continue;
        };
        // Not `put`: the bytes are copied under their key even when they no longer match.
        probe.write_object(&hash, &bytes)?;
        n_blobs += 1;
    }
    probe.flush()?;
    drop(db);
    write_durably(root, &root.join("FORMAT"), &format!("{FORMAT_LINE}\n"))?;
    remove_legacy_files(root);
    tracing::info!(n_blobs, path = %root.display(), "migrated the blob store from sled to files");
    Ok(())
}

/// Removes an old sled store's files from a store that has `FORMAT` (a finished migration).
fn remove_legacy_files(root: &Path) {
    if !root.join("FORMAT").exists() {
        return;
    }
    let Ok(entries) = fs::read_dir(root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = entry.path();
        let old = LEGACY_FILES.contains(&name.as_str()) || name.starts_with("snap.");
        if old {
            let _ = fs::remove_file(&path);
        } else if name == "blobs" && path.is_dir() {
            // sled kept large values in `blobs/`; this layout has no such directory.
            let _ = fs::remove_dir_all(&path);
        }
    }
}
