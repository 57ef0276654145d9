//! # trustfold-events
//!
//! The facts trustfold records, and the log it records them in.
//!
//! Everything the pipeline learns or decides — a planner decision, a connector response,
//! an extracted candidate, a merge decision, a human review — is an event: a fact in the
//! past tense, typed ([`EventPayload`]) and versioned ([`EventKind::current_version`]).
//! Events are appended to an [`EventStore`]: a single, totally ordered, append-only log
//! whose global position `seq` is gap-free and whose every event carries a blake3 hash
//! chained to the previous one, so `verify` can prove nothing was altered, removed or
//! reordered. Raw connector payloads are kept out of the log in a content-addressed
//! [`BlobStore`]; events name them by hash.
//!
//! One design decision worth knowing: events are never rewritten. When the shape of a
//! kind changes, its schema version goes up and [`EventPayload::decode`] upcasts the old
//! shapes on read, so a log written years ago still replays.
//!
//! This crate knows nothing of connectors, merging or read models.
//!
//! ```
//! use trustfold_events::*;
//! let dir = tempfile::tempdir().unwrap();
//! let store = SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
//! let event = NewEvent::new("run/1", CandidateAccepted {
//!     candidate_id: "c1".into(),
//!     checks: vec!["coordinates in range".into()],
//! });
//! let appended = store
//!     .append(AppendBatch::for_stream("run/1", ExpectedVersion::NoStream, vec![event]))
//!     .unwrap();
//! assert_eq!(appended.seqs, vec![1]);
//! assert!(verify(&store, None).unwrap().is_intact());
//! ```

#![forbid(unsafe_code)]

mod append;
pub mod blob;
pub mod catalogue;
pub mod envelope;
pub mod hash;
pub mod limits;
pub mod pg;
pub mod sqlite;
pub mod store;
pub mod verify;

pub use blob::{BlobError, BlobStore, Blobs};
pub use catalogue::*;
pub use envelope::{derived_event_id, format_time, Envelope, NewEvent, RecordedEvent, StoredEvent};
pub use hash::{BlobHash, Hash32};
pub use pg::{is_postgres_url, PgBlobStore, PgEventStore, PgSessionLock, StoreUrl};
pub use sqlite::{OpenMode, SqliteEventStore};
pub use store::{
    AppendBatch, Appended, Backend, ChainCheck, EventFilter, EventStore, ExpectedVersion, Head,
    StoreError, StoredEvents,
};
pub use verify::{
    verify, verify_with, BlobFault, Problem, VerifyOptions, VerifyReport, VERIFY_PROBLEMS_MAX,
};
