//! How a run ends: a shutdown request from a signal, panics caught at stage boundaries,
//! and fault injection for the tests that prove every run ends with a terminal event.

use std::fmt;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use anyhow::Result;
use tokio::sync::Notify;

/// The exit code of a run stopped by SIGINT or SIGTERM (128 + SIGINT, the shell's habit).
pub const CANCELLED_EXIT_CODE: u8 = 130;

/// A request to stop, passed into a run (never a global): from a signal (the command
/// line), a person's cancel (the server's `DELETE /api/runs/{id}`), or a test.
#[derive(Clone, Debug, Default)]
pub struct Shutdown {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// 0: running; otherwise the signal that asked to stop ([`CANCELLED`] for a cancel).
    signal: AtomicU8,
    /// Why a cancel asked to stop (set once, before `signal`).
    cancel_reason: std::sync::OnceLock<String>,
    notify: Notify,
}

const SIGINT: u8 = 2;
const SIGTERM: u8 = 15;
/// Not a signal: a person asked to stop the run (see [`Shutdown::cancel`]).
const CANCELLED: u8 = 255;

impl Shutdown {
    pub fn new() -> Shutdown {
        Shutdown::default()
    }

    /// Asks the run to stop (`signal` names why: 2 for SIGINT, 15 for SIGTERM).
    pub fn request(&self, signal: u8) {
        self.inner.signal.store(signal.max(1), Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Asks the run to stop on a person's request; `reason` (who and why) goes into the
    /// run's `RunCancelled`. The first request wins: later ones change nothing.
    pub fn cancel(&self, reason: impl Into<String>) {
        let _ = self.inner.cancel_reason.set(reason.into());
        let _ =
            self.inner
                .signal
                .compare_exchange(0, CANCELLED, Ordering::SeqCst, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Why the run was asked to stop, if it was.
    pub fn reason(&self) -> Option<String> {
        match self.inner.signal.load(Ordering::SeqCst) {
            0 => None,
            SIGINT => Some("SIGINT".into()),
            SIGTERM => Some("SIGTERM".into()),
            CANCELLED => Some(
                self.inner
                    .cancel_reason
                    .get()
                    .cloned()
                    .unwrap_or_else(|| "cancelled".into()),
            ),
            _ => Some("shutdown requested".into()),
        }
    }

    /// Whether a stop was requested.
    pub fn is_requested(&self) -> bool {
        self.inner.signal.load(Ordering::SeqCst) != 0
    }

    /// Returns `Err(Cancelled)` once a stop was requested: checked between stages.
    pub fn check(&self) -> Result<()> {
        match self.reason() {
            Some(r) => Err(Cancelled(r).into()),
            None => Ok(()),
        }
    }

    /// Resolves when a stop is requested.
    pub async fn requested(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }

    /// Turns SIGINT and SIGTERM into a stop request, on a thread of its own. A second
    /// signal exits at once with [`CANCELLED_EXIT_CODE`]: the user insists.
    pub fn listen_for_signals(&self) -> Result<()> {
        let me = self.clone();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        // Handlers are installed before the thread starts, so no signal slips past them.
        let (mut term, mut int) = runtime.block_on(async {
            use tokio::signal::unix::{signal, SignalKind};
            Ok::<_, std::io::Error>((
                signal(SignalKind::terminate())?,
                signal(SignalKind::interrupt())?,
            ))
        })?;
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let first = tokio::select! {
                        _ = int.recv() => SIGINT,
                        _ = term.recv() => SIGTERM,
                    };
                    tracing::warn!(signal = first, "stop requested; finishing the run's record");
                    me.request(first);
                    tokio::select! {
                        _ = int.recv() => {},
                        _ = term.recv() => {},
                    }
                    eprintln!("second signal: exiting now");
                    std::process::exit(CANCELLED_EXIT_CODE as i32);
                })
            })?;
        Ok(())
    }
}

/// The run was stopped on request; `RunCancelled` was recorded.
#[derive(Debug)]
pub struct Cancelled(pub String);

impl fmt::Display for Cancelled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "run cancelled ({})", self.0)
    }
}

impl std::error::Error for Cancelled {}

/// Runs a stage, turning a panic inside it into an error, so the run still records
/// `RunFailed` (the panic message says where).
pub fn catch_panic<T>(stage: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let msg = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "(no message)".into());
            Err(anyhow::anyhow!("panic in stage {stage}: {msg}"))
        }
    }
}

/// Name of the environment variable that injects a fault at a stage, for tests only:
/// `panic:<stage>`, `error:<stage>` or `sleep:<stage>:<ms>`. Stages: `fetch`, `extract`,
/// `resolve` (before the extraction events), `identity` (after them, before acceptance
/// and identity), `payload` and `import` (before and after an import stores its
/// payload), `rebuild` (a rebuild, once its fold is done: a sleep only).
pub const FAILPOINT_ENV: &str = "TRUSTFOLD_FAILPOINT";

/// Longest sleep a failpoint may ask for.
pub const FAILPOINT_SLEEP_MS_MAX: u64 = 60_000;

/// How often a failpoint's sleep looks for a stop request.
const FAILPOINT_POLL_MS: u64 = 10;

/// Triggers the fault injected for `stage`, if any. A sleep announces itself on stderr
/// (`failpoint: sleeping`, so a test knows where the run is) and ends early on a stop
/// request, which the caller's next check then honours.
pub fn failpoint(stage: &str, shutdown: &Shutdown) -> Result<()> {
    let Ok(spec) = std::env::var(FAILPOINT_ENV) else {
        return Ok(());
    };
    let mut parts = spec.split(':');
    let (action, at) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    if at != stage {
        return Ok(());
    }
    match action {
        "panic" => panic!("failpoint {spec}"),
        "error" => Err(anyhow::anyhow!("failpoint {spec}")),
        "sleep" => {
            let ms: u64 = parts.next().and_then(|m| m.parse().ok()).unwrap_or(1000);
            let ms = ms.min(FAILPOINT_SLEEP_MS_MAX);
            tracing::warn!(stage, ms, "failpoint: sleeping");
            let until = std::time::Instant::now() + std::time::Duration::from_millis(ms);
            while std::time::Instant::now() < until && shutdown.reason().is_none() {
                std::thread::sleep(std::time::Duration::from_millis(FAILPOINT_POLL_MS));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Held by the process running a run: a flock on `<data-dir>/runs/<run-id>.lock`, or on
/// PostgreSQL a session advisory lock keyed by the run id. A run without a terminal event
/// whose lock nobody holds was interrupted (its process died): `runs` says so, on any host,
/// and `resume` may continue it. The lock goes with the process, even on SIGKILL: the OS
/// releases the flock, the server the session's locks when its connection drops.
pub enum RunLock {
    File {
        file: std::fs::File,
        path: std::path::PathBuf,
    },
    Postgres(#[allow(dead_code)] Box<trustfold_events::PgSessionLock>),
}

/// Another process holds a run's lock: the run is live there, so this process may neither
/// continue nor close it. The command line reports it as bad input (exit 2): the user
/// asked for something that cannot be done now, not something that failed.
#[derive(Debug, thiserror::Error)]
#[error("run {run_id} is running in another process{holder}")]
pub struct RunBusy {
    pub run_id: String,
    /// Where the lock is held, when that says more (" (which holds its lock on URL)").
    pub holder: String,
}

impl RunLock {
    fn path(data_dir: &std::path::Path, run_id: &str) -> std::path::PathBuf {
        data_dir.join("runs").join(format!("{run_id}.lock"))
    }

    /// The advisory key of a run's lock on PostgreSQL.
    fn key(run_id: &str) -> i64 {
        let h = blake3::hash(format!("trustfold/run/{run_id}").as_bytes());
        i64::from_le_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
    }

    /// Takes the run's lock; fails when another process holds it (the run is live).
    pub fn acquire(dir: &crate::datadir::DataDir, run_id: &str) -> Result<RunLock> {
        if let Some(url) = dir.postgres() {
            return match trustfold_events::PgSessionLock::try_lock(url, Self::key(run_id))? {
                Some(lock) => Ok(RunLock::Postgres(Box::new(lock))),
                None => Err(RunBusy {
                    run_id: run_id.to_string(),
                    holder: format!(" (which holds its lock on {url})"),
                }
                .into()),
            };
        }
        let path = Self::path(dir.root(), run_id);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?;
        }
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        match file.try_lock() {
            Ok(()) => Ok(RunLock::File { file, path }),
            Err(std::fs::TryLockError::WouldBlock) => Err(RunBusy {
                run_id: run_id.to_string(),
                holder: String::new(),
            }
            .into()),
            Err(std::fs::TryLockError::Error(e)) => Err(anyhow::anyhow!("{}: {e}", path.display())),
        }
    }

    /// Whether a live process holds the run's lock. On PostgreSQL a server that cannot
    /// be asked is an error: a run is not called interrupted on a guess.
    pub fn is_held(dir: &crate::datadir::DataDir, run_id: &str) -> Result<bool> {
        if let Some(url) = dir.postgres() {
            return Ok(trustfold_events::PgSessionLock::is_held(
                url,
                Self::key(run_id),
            )?);
        }
        let path = Self::path(dir.root(), run_id);
        let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else {
            return Ok(false);
        };
        match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                Ok(false)
            }
            Err(_) => Ok(true),
        }
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        if let RunLock::File { file, path } = self {
            // Remove first, then unlock: a checker never finds the file unlocked while it
            // is still the live run's.
            let _ = std::fs::remove_file(&*path);
            let _ = file.unlock();
        }
    }
}
