//! What every handler is given: the stores (the same handles the command line opens:
//! the data dir or `--store URL` → log, blobs, projections, through `DataDir`), the token,
//! the mode, the runs this server started and the metrics.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};

use anyhow::Result;
use tokio::sync::Semaphore;
use trustfold_events::{Blobs, EventStore};
use trustfold_projections::{ProjectionDb, ProjectionStore, TrustPolicy};

use super::identity::IdentityCorrections;
use super::metrics::Metrics;
use super::runs::RunManager;
use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;

/// Read connections kept open between requests, per store: a pooled connection keeps its
/// page cache warm and spares the checks of opening. More readers than this at once open
/// their own and close them after. Only embedded stores are pooled: a PostgreSQL reader
/// holds its projection schema shared (so it is never dropped under it), which a pool
/// would do for ever.
pub const READERS_POOLED_MAX: usize = 16;

/// The stores of one place (a data dir, or a PostgreSQL store), opened the way the
/// command line opens them.
pub struct Stores {
    place: Place,
    blobs: SharedBlobs,
    logs: Mutex<Vec<Box<dyn EventStore>>>,
    // Boxed like the logs, so one `Pooled` lends both (a log is a trait object).
    #[allow(clippy::vec_box)]
    projections: Mutex<Vec<Box<ProjectionDb>>>,
}

/// A read connection lent by [`Stores`]; it goes back to the pool when dropped (when the
/// store is pooled at all).
pub struct Pooled<'a, T: ?Sized> {
    item: Option<Box<T>>,
    pool: Option<&'a Mutex<Vec<Box<T>>>>,
}

impl<T: ?Sized> std::ops::Deref for Pooled<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        self.item
            .as_deref()
            .expect("a pooled connection is present until dropped")
    }
}

impl<T: ?Sized> Drop for Pooled<'_, T> {
    fn drop(&mut self) {
        if let (Some(item), Some(pool)) = (self.item.take(), self.pool) {
            let mut pool = pool.lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < READERS_POOLED_MAX {
                pool.push(item);
            }
        }
    }
}

impl std::fmt::Debug for Stores {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // `describe` never shows a password.
        f.debug_struct("Stores")
            .field("place", &self.place.describe())
            .finish()
    }
}

impl Stores {
    pub fn new(place: Place) -> Stores {
        Stores {
            place,
            blobs: SharedBlobs::default(),
            logs: Mutex::new(Vec::new()),
            projections: Mutex::new(Vec::new()),
        }
    }

    pub fn place(&self) -> &Place {
        &self.place
    }

    /// The data dir (or the PostgreSQL store beside it), as the reading commands see it.
    pub fn dir(&self) -> Result<DataDir> {
        DataDir::existing(&self.place)
    }

    fn pooled(&self) -> bool {
        self.place.store.is_none()
    }

    /// The log for reading (a connection of its own: readers never wait for the writer).
    /// No log yet is bad input ("nothing recorded").
    pub fn read_log(&self) -> Result<Pooled<'_, dyn EventStore>> {
        let pooled = if self.pooled() {
            self.logs.lock().unwrap_or_else(|p| p.into_inner()).pop()
        } else {
            None
        };
        let store = match pooled {
            Some(s) => s,
            None => crate::project::log_for_reading(&self.place)?,
        };
        Ok(Pooled {
            item: Some(store),
            pool: self.pooled().then_some(&self.logs),
        })
    }

    /// The log for appending (a connection of its own; appends queue on the store's lock).
    pub fn write_log(&self) -> Result<(DataDir, Box<dyn EventStore>)> {
        let dir = DataDir::writable(&self.place)?;
        let store = dir.write_log()?;
        Ok((dir, store))
    }

    /// The live projection database for this request (pooled, or opened). A reader takes
    /// no lock that a catch-up or a swap waits for.
    pub fn read_projections(&self) -> Result<Pooled<'_, ProjectionDb>> {
        let dir = self.dir()?;
        let projections = dir.projections();
        let pooled = match (&projections, self.pooled()) {
            (ProjectionStore::Embedded(p), true) => {
                let current = p.current_path()?;
                // A pooled database is used only while it is still the live one (a
                // rebuild swaps in a new file under a new name).
                let mut pool = self.projections.lock().unwrap_or_else(|p| p.into_inner());
                pool.retain(|db| Some(db.path()) == current.as_deref());
                pool.pop()
            }
            _ => None,
        };
        let db = match pooled {
            Some(db) => db,
            None => Box::new(projections.open_read()?.ok_or_else(|| {
                bad_input("no projections yet: run `trustfold rebuild-projections --full`")
            })?),
        };
        Ok(Pooled {
            item: Some(db),
            pool: self.pooled().then_some(&self.projections),
        })
    }

    /// Folds the log's new events into the projections (under their write lock).
    pub fn catch_up(&self, policy: &TrustPolicy) -> Result<()> {
        let (dir, store) = self.write_log()?;
        crate::project::catch_up(&dir, &*store, policy, false)?;
        Ok(())
    }

    /// The blob store (one handle, shared by whoever in the server holds it).
    pub fn blobs(&self) -> Result<Arc<dyn Blobs>> {
        self.blobs.get(&self.place)
    }
}

/// One handle on the blob store for the requests and runs that use it at the same time,
/// opened when the first of them asks and dropped with the last.
#[derive(Default)]
pub struct SharedBlobs {
    slot: Mutex<Option<Weak<dyn Blobs>>>,
}

impl SharedBlobs {
    fn get(&self, place: &Place) -> Result<Arc<dyn Blobs>> {
        // Held while opening, so two requests never open the store twice.
        let mut slot = self.slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(open) = slot.as_ref().and_then(Weak::upgrade) {
            return Ok(open);
        }
        let blobs: Arc<dyn Blobs> = Arc::from(DataDir::writable(place)?.blobs()?);
        *slot = Some(Arc::downgrade(&blobs));
        Ok(blobs)
    }
}

/// How the server was started.
#[derive(Clone)]
pub struct Config {
    /// The data dir, or a PostgreSQL store (`--store URL`) beside a data dir of settings.
    pub place: Place,
    /// `--trust FILE`, as the command line takes it.
    pub trust: Option<PathBuf>,
    /// The token mutating routes need.
    pub token: Token,
    /// `--read-only`: every mutating route answers 403.
    pub read_only: bool,
    /// The address bound; on a loopback address only loopback `Host` headers are served
    /// (a web page elsewhere cannot reach the API through DNS rebinding).
    pub bind: std::net::SocketAddr,
}

/// A secret compared in constant time and never printed by `Debug`.
#[derive(Clone)]
pub struct Token {
    secret: Arc<str>,
    hash: blake3::Hash,
}

/// Shortest token accepted from `--token` or `TRUSTFOLD_TOKEN`.
pub const TOKEN_CHARS_MIN: usize = 16;
/// Longest token accepted.
pub const TOKEN_CHARS_MAX: usize = 256;

impl Token {
    /// A token given by the user; too short or too long is bad input.
    pub fn given(text: &str) -> Result<Token> {
        let n = text.chars().count();
        // Letters, digits and `-._~`: what a URL and a cookie carry as they are.
        let safe = |c: char| c.is_ascii_alphanumeric() || "-._~".contains(c);
        if !(TOKEN_CHARS_MIN..=TOKEN_CHARS_MAX).contains(&n) || !text.chars().all(safe) {
            return Err(bad_input(format!(
                "--token: give {TOKEN_CHARS_MIN} to {TOKEN_CHARS_MAX} characters, each a \
                 letter, a digit or one of -._~ (or leave it out for a random one)"
            )));
        }
        Ok(Token::from_secret(text))
    }

    /// A fresh random token (256 bits, hex).
    pub fn random() -> Token {
        let text = format!(
            "{}{}",
            uuid::Uuid::new_v4().simple(),
            uuid::Uuid::new_v4().simple()
        );
        Token::from_secret(&text)
    }

    fn from_secret(text: &str) -> Token {
        Token {
            secret: Arc::from(text),
            hash: blake3::hash(text.as_bytes()),
        }
    }

    /// Whether `presented` is the token. Compares hashes (`blake3::Hash` equality is
    /// constant-time), so the time taken says nothing about the token.
    pub fn matches(&self, presented: &str) -> bool {
        blake3::hash(presented.as_bytes()) == self.hash
    }

    /// The secret itself, for the one URL `serve` prints and nothing else.
    pub fn reveal(&self) -> &str {
        &self.secret
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(****)")
    }
}

/// The state every handler gets (cheap to clone).
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    stores: Stores,
    /// The current trust policy (the data dir's or `--trust`): the one a first build of
    /// the projections uses, and what "stale" is measured against.
    policy: TrustPolicy,
    runs: RunManager,
    metrics: Metrics,
    /// Bounds the requests doing store work at once.
    reads: Arc<Semaphore>,
    /// Bounds the as-of folds at once (each reads the log from the start).
    as_of: Arc<Semaphore>,
    identity: Arc<dyn IdentityCorrections>,
}

impl AppState {
    /// The state for `config`: the policy is checked now (a bad one is bad input).
    pub fn new(config: Config, identity: Arc<dyn IdentityCorrections>) -> Result<AppState> {
        let policy = crate::project::load_policy(config.trust.as_deref(), &config.place)?;
        Ok(AppState {
            inner: Arc::new(Inner {
                stores: Stores::new(config.place.clone()),
                config,
                policy,
                runs: RunManager::new(),
                metrics: Metrics::new(),
                reads: Arc::new(Semaphore::new(super::BLOCKING_REQUESTS_MAX)),
                as_of: Arc::new(Semaphore::new(super::AS_OF_CONCURRENT_MAX)),
                identity,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    pub fn stores(&self) -> &Stores {
        &self.inner.stores
    }

    pub fn policy(&self) -> &TrustPolicy {
        &self.inner.policy
    }

    pub fn runs(&self) -> &RunManager {
        &self.inner.runs
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn identity(&self) -> &Arc<dyn IdentityCorrections> {
        &self.inner.identity
    }

    pub(super) fn reads(&self) -> &Arc<Semaphore> {
        &self.inner.reads
    }

    pub(super) fn as_of_permits(&self) -> &Arc<Semaphore> {
        &self.inner.as_of
    }
}
