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

    /// The stored log breaks an invariant the store checks while reading.
    #[error("log integrity: {0}")]
    Integrity(String),

    #[error("event at seq {seq} cannot be decoded: {source}")]
    Decode {
        seq: u64,
        #[source]
        source: DecodeError,
    },

    #[error("sqlite error on {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
}

impl StoreError {
    /// Whether the error comes from bad input or a damaged/unsuitable file (exit 2),
    /// as opposed to a runtime failure.
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

/// A stream of stored events, read page by page in constant memory.
pub type StoredEvents<'a> = Box<dyn Iterator<Item = Result<StoredEvent, StoreError>> + 'a>;

/// The append-only event log.
///
/// Invariants every implementation keeps:
/// - `seq` starts at 1 and is gap-free and strictly increasing, also across processes;
/// - every event's hash is blake3(previous hash || canonical bytes);
/// - an event, once appended, is never changed or removed.
pub trait EventStore {
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

    /// Every event of one stream, decoded, in order.
    fn read_stream(&self, stream: &str) -> Result<Vec<RecordedEvent>, StoreError>;

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
