//! The `EventStore` trait: an append-only, hash-chained, totally ordered log.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use crate::catalogue::DecodeError;
use crate::envelope::{NewEvent, RecordedEvent, StoredEvent};
use crate::hash::Hash32;

/// What the writer believes about a stream before appending to it: the compare in the
/// compare-and-swap that keeps two writers from losing each other's events.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must be at exactly this version (its number of events).
    Exact(u64),
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExpectedVersion::Any => f.write_str("any"),
            ExpectedVersion::NoStream => f.write_str("no stream (0)"),
            ExpectedVersion::Exact(v) => write!(f, "{v}"),
        }
    }
}

/// Events to append together, and the versions their streams are expected at.
#[derive(Clone, Debug, Default)]
pub struct AppendBatch {
    pub events: Vec<NewEvent>,
    pub expected: BTreeMap<String, ExpectedVersion>,
}

impl AppendBatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// A batch of events for one stream expected at `expected`.
    pub fn for_stream(stream: &str, expected: ExpectedVersion, events: Vec<NewEvent>) -> Self {
        let mut batch = AppendBatch {
            events,
            expected: BTreeMap::new(),
        };
        batch.expected.insert(stream.to_string(), expected);
        batch
    }

    pub fn expect(mut self, stream: &str, expected: ExpectedVersion) -> Self {
        self.expected.insert(stream.to_string(), expected);
        self
    }

    pub fn push(mut self, event: NewEvent) -> Self {
        self.events.push(event);
        self
    }
}

/// The outcome of an append.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Appended {
    /// The seq of each event of the batch, in batch order.
    pub seqs: Vec<u64>,
    /// True when every event was already in the log (an idempotent retry): nothing written.
    pub already_present: bool,
}

/// The last event of the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Head {
    pub seq: u64,
    pub hash: Hash32,
}

/// Errors of the event store. Each variant says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another writer moved the stream: re-read it, decide again, retry.
    #[error(
        "version conflict on stream {stream:?}: expected {expected}, but it is at {actual}; \
         another writer appended first — re-read the stream and retry"
    )]
    Conflict {
        stream: String,
        expected: ExpectedVersion,
        actual: u64,
    },

    /// An event id was reused for different content: a bug in the writer.
    #[error(
        "event id {id} is already in the log at seq {seq} with different content; \
         an id names one fact"
    )]
    IdReused { id: uuid::Uuid, seq: u64 },

    /// Part of the batch is already in the log: batches are atomic, so this is not a retry.
    #[error(
        "{present} of {total} events of the batch are already in the log (e.g. id {example}); \
         a retried batch must be identical to the original"
    )]
    PartiallyPresent {
        present: usize,
        total: usize,
        example: uuid::Uuid,
    },

    #[error("invalid batch: {0}")]
    InvalidBatch(String),

    #[error("limit exceeded: {what} is {actual}, the limit {name} is {max}")]
    Limit {
        what: String,
        name: &'static str,
        actual: usize,
        max: usize,
    },

    /// The file is not a usable trustfold log.
    #[error("{path}: {detail}")]
    Corrupt { path: PathBuf, detail: String },

    #[error("{path}: cannot open the event log: {detail}")]
    Open { path: PathBuf, detail: String },

    /// The file exists but cannot be reached now (permissions, an I/O error): a runtime
    /// failure, not bad input.
    #[error("{path}: cannot open the event log: {detail}")]
    Unavailable { path: PathBuf, detail: String },

    /// The disk is full. The append was rolled back: nothing of it was written.
    #[error(
        "{path}: disk full ({detail}); nothing was written: free some space and run the \
         command again"
    )]
    DiskFull { path: PathBuf, detail: String },

    /// The log cannot be written here (read-only media, an immutable file, permissions).
    #[error(
        "{path}: cannot write the event log ({detail}); reading commands work without write \
         access, writing ones need it"
    )]
    NotWritable { path: PathBuf, detail: String },

    /// The log breaks its hash chain (or its recorded head) where a writer or a reader
    /// checked it: it was altered outside trustfold. Nothing was appended or folded past it.
    #[error(
        "log integrity: seq {seq}: {detail}; stopped before appending or folding past it \
         (run `trustfold verify` for the whole log)"
    )]
    ChainBroken { seq: u64, detail: String },

    /// The stored log breaks an invariant the store checks while reading.
    #[error("log integrity: {0}")]
    Integrity(String),

    #[error("event at seq {seq} cannot be decoded: {source}")]
    Decode {
        seq: u64,
        #[source]
        source: DecodeError,
    },

    /// PostgreSQL failed a statement (the server's message and SQLSTATE; the URL's
    /// password is never part of it).
    #[error("PostgreSQL ({path}): {detail}")]
    Postgres {
        path: PathBuf,
        detail: String,
        code: Option<String>,
    },

    #[error("sqlite error on {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Whether the log was found altered (exit 3).
    pub fn is_integrity(&self) -> bool {
        matches!(self, StoreError::ChainBroken { .. })
    }

    /// Whether the error comes from bad input or a damaged/unsuitable file (exit 2),
    /// as opposed to a runtime failure (a full disk, read-only media: exit 1).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            StoreError::Corrupt { .. }
                | StoreError::Open { .. }
                | StoreError::InvalidBatch(_)
                | StoreError::Limit { .. }
        )
    }
}

/// Filters for reading a slice of the log (all optional, combined with AND).
#[derive(Clone, Debug, Default)]
pub struct EventFilter {
    pub from_seq: u64,
    pub stream: Option<String>,
    pub kind: Option<String>,
    pub run_id: Option<uuid::Uuid>,
}

/// Which engine a log is kept in, and where: what a reader needs to find the stores kept
/// beside it (the projections, the identity index) on the same engine.
#[derive(Clone, Copy, Debug)]
pub enum Backend<'a> {
    /// A SQLite file; the stores beside it live in the directory it lies in.
    Sqlite(&'a std::path::Path),
    /// A PostgreSQL database; the stores beside it live in schemas of the same database.
    Postgres(&'a crate::pg::StoreUrl),
}

/// A stream of stored events, read page by page in constant memory.
pub type StoredEvents<'a> = Box<dyn Iterator<Item = Result<StoredEvent, StoreError>> + 'a>;

/// The append-only event log.
///
/// Invariants every implementation keeps:
/// - `seq` starts at 1 and is gap-free and strictly increasing, also across processes;
/// - every event's hash is blake3(previous hash || canonical bytes);
/// - an event, once appended, is never changed or removed.
pub trait EventStore: Send + Sync {
    /// Where the log is, for messages: a file, or a PostgreSQL URL without its password.
    fn location(&self) -> String;

    /// The engine the log is kept in, and where.
    fn backend(&self) -> Backend<'_>;

    /// Appends the batch atomically: either all the events are persisted, or none are.
    ///
    /// Every stream named in `batch.expected` is checked first (compare-and-swap).
    /// Re-appending a batch whose events are all already present with the same content
    /// is a no-op that returns the original seqs.
    fn append(&self, batch: AppendBatch) -> Result<Appended, StoreError>;

    /// The last event, or `None` for an empty log.
    fn head(&self) -> Result<Option<Head>, StoreError>;

    /// The head recorded by the last append, kept apart from the events so that a removed
    /// tail is detectable. Stores that keep no such record return `None`.
    fn recorded_head(&self) -> Result<Option<Head>, StoreError> {
        Ok(None)
    }

    /// The number of events in `stream` (0 if it does not exist).
    fn stream_version(&self, stream: &str) -> Result<u64, StoreError>;

    /// Every event from `from_seq` on, in order, without decoding payloads.
    fn read_raw_from(&self, from_seq: u64) -> StoredEvents<'_>;

    /// Every event from `from_seq` on, like [`EventStore::read_raw_from`], but checked as
    /// it is read: contiguous seqs, each hash chained to the one before (the first to the
    /// stored hash at `from_seq - 1`), and, where the read reaches the end of the log, the
    /// recorded head. The first break is a [`StoreError::ChainBroken`] and ends the stream,
    /// so a reader that folds what it gets never folds a tampered event.
    fn read_checked_from(&self, from_seq: u64) -> StoredEvents<'_> {
        let from_seq = from_seq.max(1);
        let anchor = if from_seq == 1 {
            Ok(ChainCheck::from_start())
        } else {
            match self.read_raw_from(from_seq - 1).next() {
                Some(Ok(ev)) if ev.seq == from_seq - 1 => Ok(ChainCheck::after(ev.seq, ev.hash)),
                Some(Ok(_)) | None => Err(ChainCheck::missing(from_seq - 1)),
                Some(Err(e)) => Err(e),
            }
        };
        let mut check = match anchor {
            Ok(c) => c,
            Err(e) => return Box::new(std::iter::once(Err(e))),
        };
        let mut inner = self.read_raw_from(from_seq);
        let mut done = false;
        Box::new(std::iter::from_fn(move || {
            if done {
                return None;
            }
            match inner.next() {
                Some(Ok(ev)) => match check.check(&ev) {
                    Ok(()) => Some(Ok(ev)),
                    Err(e) => {
                        done = true;
                        Some(Err(e))
                    }
                },
                Some(Err(e)) => {
                    done = true;
                    Some(Err(e))
                }
                None => {
                    done = true;
                    match self.recorded_head().and_then(|r| check.finish(r)) {
                        Ok(()) => None,
                        Err(e) => Some(Err(e)),
                    }
                }
            }
        }))
    }

    /// Every event of one stream, decoded, in order.
    fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError>;

    /// The events matching `filter`, in order, page by page in constant memory.
    fn read_filtered(&self, filter: EventFilter) -> StoredEvents<'_>;

    /// The events at `seqs` (in the order given). A seq the log does not have is an
    /// integrity error: callers name seqs the log gave them.
    fn read_seqs(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError>;

    /// The event at `seq`, if the log has one.
    fn read_at(&self, seq: u64) -> Result<Option<StoredEvent>, StoreError> {
        match self.read_raw_from(seq).next() {
            Some(Ok(ev)) if ev.seq == seq => Ok(Some(ev)),
            Some(Err(e)) => Err(e),
            _ => Ok(None),
        }
    }

    /// A second, read-only handle on the same log (its own connection), for a thread that
    /// reads beside this one.
    fn reader(&self) -> Result<Box<dyn EventStore>, StoreError>;

    /// Which of `ids` are already in the log: a writer resuming interrupted work appends
    /// only the facts that are not yet recorded.
    fn existing_ids(
        &self,
        ids: &[uuid::Uuid],
    ) -> Result<std::collections::HashSet<uuid::Uuid>, StoreError>;

    /// The seq of the event with this id, if the log has it (a point read on the id
    /// index): how a reader follows a `causation_id` back to its cause.
    fn seq_of(&self, id: uuid::Uuid) -> Result<Option<u64>, StoreError>;

    /// Checks the tail a writer is about to append to: the last event is the one the
    /// last append recorded, and it is chained to the event before it. Returns the head.
    fn check_tail(&self) -> Result<Option<Head>, StoreError>;

    /// Every event from `from_seq` on, decoded (and upcast), in order.
    fn read_from(
        &self,
        from_seq: u64,
    ) -> Box<dyn Iterator<Item = Result<RecordedEvent, StoreError>> + '_> {
        Box::new(self.read_raw_from(from_seq).map(|r| {
            r.and_then(|ev| {
                ev.decode().map_err(|source| StoreError::Decode {
                    seq: ev.seq,
                    source,
                })
            })
        }))
    }
}

/// Checks, event by event, that a stretch of the log read in order is contiguous and
/// hash-chained, and (at the end of the log) that it ends at the recorded head. Used by
/// [`EventStore::read_checked_from`] and by the stores' own readers.
#[derive(Clone, Debug)]
pub struct ChainCheck {
    next_seq: u64,
    prev: Hash32,
}

impl ChainCheck {
    /// A check of the log from seq 1.
    pub fn from_start() -> Self {
        ChainCheck {
            next_seq: 1,
            prev: Hash32::ZERO,
        }
    }

    /// A check of the events after `seq`, whose stored hash is `hash`.
    pub fn after(seq: u64, hash: Hash32) -> Self {
        ChainCheck {
            next_seq: seq + 1,
            prev: hash,
        }
    }

    /// The error for an anchor event that is not in the log.
    pub fn missing(seq: u64) -> StoreError {
        StoreError::ChainBroken {
            seq,
            detail: "missing: the event to check the chain from is not in the log".into(),
        }
    }

    /// Checks the next event read.
    pub fn check(&mut self, ev: &StoredEvent) -> Result<(), StoreError> {
        if ev.seq != self.next_seq {
            return Err(StoreError::ChainBroken {
                seq: self.next_seq,
                detail: format!(
                    "missing: the next event found is seq {} (events were removed or reordered)",
                    ev.seq
                ),
            });
        }
        if ev.expected_hash(&self.prev) != ev.hash {
            return Err(StoreError::ChainBroken {
                seq: ev.seq,
                detail: "hash mismatch: the event was altered, or events before it were \
                         removed or reordered"
                    .into(),
            });
        }
        self.prev = ev.hash;
        self.next_seq = ev.seq + 1;
        Ok(())
    }

    /// Checks where the read ended (the end of the log) against the head recorded by the
    /// last append, read after the events. A concurrent append can only move the recorded
    /// head past what was read, so a log that goes on past it was added to by hand.
    pub fn finish(&self, recorded: Option<Head>) -> Result<(), StoreError> {
        let last_seq = self.next_seq - 1;
        let Some(recorded) = recorded else {
            return Ok(());
        };
        if last_seq > recorded.seq {
            return Err(StoreError::ChainBroken {
                seq: recorded.seq + 1,
                detail: format!(
                    "added outside trustfold: the last append recorded head seq {}, but the log \
                     goes on to seq {last_seq}",
                    recorded.seq
                ),
            });
        }
        if last_seq == recorded.seq && last_seq > 0 && self.prev != recorded.hash {
            return Err(StoreError::ChainBroken {
                seq: last_seq,
                detail: "replaced: the last event is not the one its append recorded".into(),
            });
        }
        Ok(())
    }
}
