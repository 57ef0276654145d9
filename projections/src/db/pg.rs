//! The projections on PostgreSQL: each build in a schema of its own, `tfp_<uuid>`, and
//! `trustfold.projection_current` naming the live one, so a rebuild swaps the pointer in
//! one transaction and readers never see half a table. Writers (catch-ups, re-merges, the
//! swap) take turns on one advisory lock.

/// The advisory lock writers of the projections take (a fixed key: "TFPROJ" in ASCII).
pub const WRITER_LOCK: i64 = 0x5446_5052_4f4a;
