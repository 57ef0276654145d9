//! # trustfold-projections
//!
//! Read models folded from the log.

#![forbid(unsafe_code)]

pub mod fields;
pub mod policy;

pub use fields::Field;
pub use policy::{PolicyError, Rank, SourcePolicy, Tier, TrustPolicy};
pub mod asof;
pub mod db;
pub mod merge;
pub mod state;
pub mod values;

pub use db::{ConflictRow, FoldReport, Meta, ProjectionDb, ProjectionError, Projections};
pub use merge::{merge_entity, LossReason, MergedEntity, ProvenanceRow};
pub use state::{apply, ProjectionEvent, RunRow, State};
