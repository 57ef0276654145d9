//! The tables of a projection database, per engine, and the column list `dump` walks.
//!
//! Both engines hold the same tables with the same columns; only the type names differ
//! (PostgreSQL's `BIGINT`, `DOUBLE PRECISION` and `BYTEA` for SQLite's `INTEGER`, `REAL`
//! and `BLOB`), and PostgreSQL text columns that are sorted or compared by range use the
//! "C" collation, so both engines order ids byte by byte, as Rust sorts them.

/// SQLite's tables.
pub const SQLITE_TABLES: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    candidate_id TEXT PRIMARY KEY,
    entity_id TEXT,
    follows TEXT,
    observed_seq INTEGER,
    source TEXT,
    name TEXT,
    payload_hash BLOB,
    record_hash BLOB,
    decided_by TEXT,
    seen_seq INTEGER,
    seen_at_us INTEGER,
    seen_run TEXT
);
CREATE TABLE IF NOT EXISTS entities (
    entity_id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    name TEXT,
    sort_name TEXT NOT NULL,
    entity_class TEXT,
    locality TEXT,
    postcode TEXT,
    lat REAL,
    lon REAL,
    sources TEXT NOT NULL,
    n_sources INTEGER NOT NULL,
    completeness INTEGER NOT NULL,
    conflicts TEXT NOT NULL,
    founded_seq INTEGER NOT NULL,
    updated_seq INTEGER NOT NULL,
    overrides TEXT,
    merged TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    review_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    requested_seq INTEGER NOT NULL,
    row TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    started_at TEXT NOT NULL,
    status TEXT NOT NULL,
    row TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_entities (
    run_id TEXT NOT NULL,
    entity_id TEXT NOT NULL,
    created INTEGER NOT NULL,
    PRIMARY KEY (run_id, entity_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS merged_entities (
    entity_id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    into_id TEXT NOT NULL,
    merged_seq INTEGER NOT NULL,
    row TEXT NOT NULL
);
";

/// PostgreSQL's tables (created in the projection's own schema).
pub const POSTGRES_TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS candidates (
    candidate_id TEXT COLLATE "C" PRIMARY KEY,
    entity_id TEXT COLLATE "C",
    follows TEXT COLLATE "C",
    observed_seq BIGINT,
    source TEXT COLLATE "C",
    name TEXT,
    payload_hash BYTEA,
    record_hash BYTEA,
    decided_by TEXT,
    seen_seq BIGINT,
    seen_at_us BIGINT,
    seen_run TEXT
);
CREATE TABLE IF NOT EXISTS entities (
    entity_id TEXT COLLATE "C" PRIMARY KEY,
    slug TEXT COLLATE "C" NOT NULL,
    name TEXT,
    sort_name TEXT COLLATE "C" NOT NULL,
    entity_class TEXT,
    locality TEXT,
    postcode TEXT,
    lat DOUBLE PRECISION,
    lon DOUBLE PRECISION,
    sources TEXT NOT NULL,
    n_sources BIGINT NOT NULL,
    completeness BIGINT NOT NULL,
    conflicts TEXT NOT NULL,
    founded_seq BIGINT NOT NULL,
    updated_seq BIGINT NOT NULL,
    overrides TEXT,
    merged TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS reviews (
    review_id TEXT COLLATE "C" PRIMARY KEY,
    status TEXT NOT NULL,
    requested_seq BIGINT NOT NULL,
    row TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT COLLATE "C" PRIMARY KEY,
    started_at TEXT COLLATE "C" NOT NULL,
    status TEXT NOT NULL,
    row TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS run_entities (
    run_id TEXT COLLATE "C" NOT NULL,
    entity_id TEXT COLLATE "C" NOT NULL,
    created BIGINT NOT NULL,
    PRIMARY KEY (run_id, entity_id)
);
CREATE TABLE IF NOT EXISTS merged_entities (
    entity_id TEXT COLLATE "C" PRIMARY KEY,
    slug TEXT COLLATE "C" NOT NULL,
    into_id TEXT COLLATE "C" NOT NULL,
    merged_seq BIGINT NOT NULL,
    row TEXT NOT NULL
);
"#;

/// Indexes, the same on both engines.
pub const INDEXES: &str = "
CREATE UNIQUE INDEX IF NOT EXISTS entities_slug ON entities(slug);
CREATE INDEX IF NOT EXISTS entities_sort ON entities(sort_name, slug);
CREATE INDEX IF NOT EXISTS candidates_entity ON candidates(entity_id) WHERE entity_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS candidates_follows ON candidates(follows) WHERE follows IS NOT NULL;
CREATE INDEX IF NOT EXISTS candidates_payload ON candidates(payload_hash) WHERE payload_hash IS NOT NULL;
CREATE INDEX IF NOT EXISTS candidates_source ON candidates(source, entity_id) WHERE entity_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS runs_started ON runs(started_at);
CREATE UNIQUE INDEX IF NOT EXISTS merged_entities_slug ON merged_entities(slug);
CREATE INDEX IF NOT EXISTS merged_entities_into ON merged_entities(into_id);
";

/// The type of a column, as `dump` writes it.
#[derive(Clone, Copy)]
pub enum Kind {
    Int,
    Real,
    Text,
    Blob,
}

use Kind::{Blob, Int, Real, Text};

/// Every table's columns with their types, and the order rows are dumped in.
pub type TableColumns = (&'static str, &'static [(&'static str, Kind)], &'static str);

pub const DUMP: &[TableColumns] = &[
    (
        "candidates",
        &[
            ("candidate_id", Text),
            ("entity_id", Text),
            ("follows", Text),
            ("observed_seq", Int),
            ("source", Text),
            ("name", Text),
            ("payload_hash", Blob),
            ("record_hash", Blob),
            ("decided_by", Text),
            ("seen_seq", Int),
            ("seen_at_us", Int),
            ("seen_run", Text),
        ],
        "candidate_id",
    ),
    (
        "entities",
        &[
            ("entity_id", Text),
            ("slug", Text),
            ("name", Text),
            ("sort_name", Text),
            ("entity_class", Text),
            ("locality", Text),
            ("postcode", Text),
            ("lat", Real),
            ("lon", Real),
            ("sources", Text),
            ("n_sources", Int),
            ("completeness", Int),
            ("conflicts", Text),
            ("founded_seq", Int),
            ("updated_seq", Int),
            ("overrides", Text),
            ("merged", Text),
        ],
        "entity_id",
    ),
    (
        "runs",
        &[
            ("run_id", Text),
            ("started_at", Text),
            ("status", Text),
            ("row", Text),
        ],
        "run_id",
    ),
    (
        "run_entities",
        &[("run_id", Text), ("entity_id", Text), ("created", Int)],
        "run_id, entity_id",
    ),
    (
        "reviews",
        &[
            ("review_id", Text),
            ("status", Text),
            ("requested_seq", Int),
            ("row", Text),
        ],
        "review_id",
    ),
    (
        "merged_entities",
        &[
            ("entity_id", Text),
            ("slug", Text),
            ("into_id", Text),
            ("merged_seq", Int),
            ("row", Text),
        ],
        "entity_id",
    ),
];
