//! The content-addressed blob store for raw connector payloads, on sled.
//!
//! Key = blake3 of the bytes. Every read re-hashes the bytes and refuses to return them if
//! they no longer match their key, so a corrupted payload is an error, never an answer.
//! `put` flushes before returning: a blob is durable before any event that names it is
//! appended.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::hash::{BlobHash, Hash32};
use crate::limits::{BLOB_LOCK_WAIT_MS, PAYLOAD_BYTES_MAX};

/// Errors of the blob store.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error(
        "blob {hash} is corrupt: its bytes hash to {actual}; restore the blob store from a backup"
    )]
    Corrupt { hash: BlobHash, actual: BlobHash },

    #[error("blob {0} is missing from the blob store")]
    Missing(BlobHash),

    #[error("payload of {actual} bytes exceeds PAYLOAD_BYTES_MAX ({max} bytes)")]
    TooLarge { actual: usize, max: usize },

    #[error("{path}: cannot open the blob store: {detail}")]
    Open { path: PathBuf, detail: String },

    #[error("blob store key {0:?} is not a 32-byte hash")]
    BadKey(Vec<u8>),

    #[error("blob store {path}: {source}")]
    Sled {
        path: PathBuf,
        #[source]
        source: sled::Error,
    },
}

impl BlobError {
    /// Whether the error is a damaged or unsuitable store (exit 2) rather than a runtime one.
    pub fn is_bad_input(&self) -> bool {
        matches!(self, BlobError::Open { .. } | BlobError::TooLarge { .. })
    }
}

/// Raw payloads keyed by their blake3 hash.
pub struct BlobStore {
    db: sled::Db,
    path: PathBuf,
}

impl std::fmt::Debug for BlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobStore")
            .field("path", &self.path)
            .finish()
    }
}

fn is_lock_error(e: &sled::Error) -> bool {
    match e {
        sled::Error::Io(io) => {
            io.kind() == std::io::ErrorKind::WouldBlock
                || io.to_string().contains("could not acquire lock")
                || io.raw_os_error() == Some(11)
        }
        _ => false,
    }
}

impl BlobStore {
    /// Opens (creating if needed) the store in directory `path`. sled allows one process at
    /// a time; another process holding it is waited for, up to `BLOB_LOCK_WAIT_MS`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, BlobError> {
        let path = path.as_ref().to_path_buf();
        if path.exists() && !path.is_dir() {
            return Err(BlobError::Open {
                path,
                detail: "exists but is not a directory".into(),
            });
        }
        let started = Instant::now();
        loop {
            match sled::Config::new().path(&path).open() {
                Ok(db) => return Ok(BlobStore { db, path }),
                Err(e)
                    if is_lock_error(&e)
                        && started.elapsed() < Duration::from_millis(BLOB_LOCK_WAIT_MS) =>
                {
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    let detail = match &e {
                        sled::Error::Corruption { .. } => {
                            format!("the blob store is damaged ({e}); restore it from a backup")
                        }
                        _ if is_lock_error(&e) => format!(
                            "another trustfold process holds the blob store for more than \
                             {BLOB_LOCK_WAIT_MS} ms ({e})"
                        ),
                        _ => e.to_string(),
                    };
                    return Err(BlobError::Open { path, detail });
                }
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn sled_err(&self, source: sled::Error) -> BlobError {
        BlobError::Sled {
            path: self.path.clone(),
            source,
        }
    }

    /// Stores `bytes` (if not already present) and makes them durable. Returns their hash.
    pub fn put(&self, bytes: &[u8]) -> Result<BlobHash, BlobError> {
        let hash = self.put_unflushed(bytes)?;
        self.flush()?;
        Ok(hash)
    }

    /// Stores `bytes` without waiting for disk; call [`BlobStore::flush`] before appending
    /// any event that names the blob. Used to write many blobs with one flush.
    pub fn put_unflushed(&self, bytes: &[u8]) -> Result<BlobHash, BlobError> {
        if bytes.len() > PAYLOAD_BYTES_MAX {
            return Err(BlobError::TooLarge {
                actual: bytes.len(),
                max: PAYLOAD_BYTES_MAX,
            });
        }
        let hash = Hash32::of(bytes);
        // Content addressing makes the write idempotent: same key, same bytes.
        self.db
            .compare_and_swap(hash.0, None as Option<&[u8]>, Some(bytes))
            .map_err(|e| self.sled_err(e))?
            .ok();
        Ok(hash)
    }

    /// Makes every blob written so far durable.
    pub fn flush(&self) -> Result<(), BlobError> {
        self.db.flush().map(|_| ()).map_err(|e| self.sled_err(e))
    }

    /// Reads a blob, verifying that its bytes still hash to its key.
    pub fn get(&self, hash: &BlobHash) -> Result<Vec<u8>, BlobError> {
        let bytes = self.db.get(hash.0).map_err(|e| self.sled_err(e))?;
        let bytes = bytes.ok_or(BlobError::Missing(*hash))?;
        let actual = Hash32::of(&bytes);
        if actual != *hash {
            return Err(BlobError::Corrupt {
                hash: *hash,
                actual,
            });
        }
        Ok(bytes.to_vec())
    }

    pub fn contains(&self, hash: &BlobHash) -> Result<bool, BlobError> {
        self.db.contains_key(hash.0).map_err(|e| self.sled_err(e))
    }

    /// Number of blobs stored.
    pub fn len(&self) -> usize {
        self.db.len()
    }

    pub fn is_empty(&self) -> bool {
        self.db.is_empty()
    }

    /// Checks every blob; returns the corrupt ones (key, actual hash of the bytes).
    pub fn verify_all(&self) -> Result<Vec<BlobError>, BlobError> {
        let mut bad = Vec::new();
        for item in self.db.iter() {
            let (key, bytes) = item.map_err(|e| self.sled_err(e))?;
            let Some(hash) = Hash32::from_slice(&key) else {
                bad.push(BlobError::BadKey(key.to_vec()));
                continue;
            };
            let actual = Hash32::of(&bytes);
            if actual != hash {
                bad.push(BlobError::Corrupt { hash, actual });
            }
        }
        Ok(bad)
    }
}
