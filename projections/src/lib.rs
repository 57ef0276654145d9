//! # trustfold-projections
//!
//! The read models trustfold folds from its event log, and the trust policy that chooses
//! each field's value.
//!
//! The log says *who* belongs together (identity is decided once, as `MergeDecided`
//! events); it never says which phone number is right. That is chosen here, when the log is
//! folded: [`apply`] folds each event into a [`State`] (candidates, entities, runs,
//! reviews), and [`merge_entity`] picks every field of an entity from its candidates under
//! a [`TrustPolicy`] (tier, then preference, then trust, then recency, then candidate id),
//! keeping every losing value with the reason it lost. Both are pure: no I/O, no clock.
//!
//! [`Projections`] is the edge that does the I/O: it keeps the folded tables in a SQLite
//! database of their own with a checkpoint, catches them up after each run (loading only
//! the rows an event touches, then calling the same `apply`), and rebuilds them from the
//! whole log into a fresh file that is swapped in atomically. A database remembers the
//! policy it was built with, so a changed policy shows as stale until
//! `rebuild-projections`.
//!
//! One design decision worth knowing: field provenance is not stored. It is merged again
//! for one entity when asked, from its members' observations read back from the log, with
//! the database's own policy; storing it tripled the database and made rebuilds five times
//! slower (see ADR 0002).
//!
//! ```
//! use trustfold_projections::policy::{TrustPolicy, SHIPPED_POLICY};
//! use trustfold_projections::Field;
//!
//! let sources = ["serper", "google_places", "openstreetmap", "sport_scotland",
//!                "edinburgh_council", "open_charge_map"];
//! let policy = TrustPolicy::parse(SHIPPED_POLICY, "trust.toml", &sources).unwrap();
//! let google = policy.rank("google_places", Field::Phone).unwrap();
//! let serper = policy.rank("serper", Field::Phone).unwrap();
//! assert!(google > serper, "an official source outranks a crowdsourced one");
//! ```
//!
//! This crate knows nothing of HTTP, planning or the command line, and never appends to
//! the log.

#![forbid(unsafe_code)]

pub mod asof;
pub mod db;
pub mod fields;
mod files;
pub mod merge;
pub mod policy;
pub mod state;
pub mod values;

pub use db::pg::PgProjections;
pub use db::{
    changed_sources, ChangeSink, ConflictRow, DryRunSummary, EntityCounts, EntityCursor,
    EntityFilter, EntityPage, FieldChange, FoldReport, Meta, ProjectionDb, ProjectionError,
    ProjectionStore, Projections, RemergeReport, SourceCount,
};
pub use fields::Field;
pub use merge::{merge_entity, LossReason, MergedEntity, ProvenanceRow};
pub use policy::{PolicyError, Rank, SourcePolicy, Tier, TrustPolicy};
pub use state::{apply, MergedAway, ProjectionEvent, RunRow, State};
