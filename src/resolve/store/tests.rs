//! The persisted identity index against the full scan it replaces: the same decisions
//! on random histories, a catch-up after every event equal to a rebuild, and a store that
//! cannot be used (another log, matcher, setting or format; a damaged file) rebuilt; the
//! resolve lock admitting one run at a time. Each runs on both engines (the PostgreSQL
//! ones skip without `TRUSTFOLD_TEST_PG_URL`, and fail without it under `CI=true`); the
//! reference store is always a SQLite one rebuilt from the same log.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use proptest::prelude::*;
use trustfold_events::pg::testing::TestDb;
use trustfold_events::{
    BlobHash, CandidateFields, EventKind, EventPayload, EventStore, MergeDecided, MergeOutcome,
    NewEvent, OpenMode, PgEventStore, SqliteEventStore,
};
use uuid::Uuid;

use super::*;
use crate::extract::{Extracted, Extraction};
use crate::ingest::stages::{
    accept_and_resolve, append_with_expectations, decide_all, identity_index_until,
    record_extractions, ExtractedPayload, RunCandidate, RunIds, StageFigures,
};
use crate::resolve::{candidate_id, CandidateRef};

/// One record of a run: indices into the pools below, and its fields.
#[derive(Clone, Debug)]
struct Rec {
    source: usize,
    ext: usize,
    fields: CandidateFields,
}

/// What happens next in a history.
#[derive(Clone, Debug)]
enum Step {
    /// A run of records (re-observations when a (source, id) comes again).
    Run(Vec<Rec>),
    /// A reviewer attaches a candidate seen so far to an entity (moving it if attached).
    Move { candidate: usize, entity: usize },
    /// A candidate seen so far is sent to review.
    Review { candidate: usize },
    /// A person's split: a candidate seen so far founds a new entity (`trustfold split`).
    Split { candidate: usize },
    /// A person's merge: every candidate attached to entity `from` joins `into`
    /// (`trustfold merge`).
    Merge { from: usize, into: usize },
    /// A decision about a record not extracted yet (it may be extracted later).
    Ghost { source: usize, ext: usize },
}

// "osm" and "openstreetmap" are one source for records: two candidates with one record key.
const SOURCES: [&str; 5] = [
    "google_places",
    "openstreetmap",
    "osm",
    "sport_scotland",
    "edinburgh_council",
];
const EXT_IDS: [&str; 7] = ["1", "2", "3", "4", "5", "6", " "];
// Distinctive, brand, kind and generic words, so that every lookup class occurs.
const WORDS: [&str; 12] = [
    "Drumbrae",
    "Quarrymill",
    "Drumbrea",
    "Hollow",
    "Powerleague",
    "Nuffield",
    "Tennis",
    "Football",
    "Bowling",
    "Club",
    "Centre",
    "Edinburgh",
];
const BASES: [(f64, f64); 3] = [(55.9513, -3.1072), (55.9530, -3.1050), (55.9600, -3.1200)];
const POSTCODES: [&str; 3] = ["EH15 1DR", "EH15 1DS", "EH9 9ZZ"];
const PHONES: [&str; 3] = ["0131 496 0000", "0131 496 0001", "0330 000 0000"];
const WEBSITES: [&str; 3] = [
    "https://www.powerleague.co.uk/portobello",
    "https://powerleague.co.uk",
    "https://facebook.com/drumbrae",
];

fn pick<T: Clone + std::fmt::Debug + 'static>(
    items: &'static [T],
) -> impl Strategy<Value = T> + Clone {
    (0..items.len()).prop_map(move |i| items[i].clone())
}

fn small_fields() -> impl Strategy<Value = CandidateFields> {
    (
        prop::collection::vec(pick(&WORDS), 0..4),
        prop::option::of((0..BASES.len(), -400.0f64..400.0, -400.0f64..400.0)),
        prop::option::of(pick(&POSTCODES)),
        prop::option::of(pick(&PHONES)),
        prop::option::of(pick(&WEBSITES)),
        prop::option::of((0..SOURCES.len(), 0..EXT_IDS.len())),
        any::<bool>(),
    )
        .prop_map(|(words, at, postcode, phone, website, names, tennis)| {
            let (lat, lon) = match at {
                Some((b, north_m, east_m)) => {
                    let (lat, lon) = BASES[b];
                    (
                        Some(lat + north_m / 111_195.0),
                        Some(lon + east_m / (111_195.0 * lat.to_radians().cos())),
                    )
                }
                None => (None, None),
            };
            let mut external_ids = BTreeMap::new();
            if let Some((s, e)) = names {
                external_ids.insert(SOURCES[s].to_string(), vec![EXT_IDS[e].to_string()]);
            }
            CandidateFields {
                name: (!words.is_empty()).then(|| words.join(" ")),
                lat,
                lon,
                postcode: postcode.map(String::from),
                phone: phone.map(String::from),
                website: website.map(String::from),
                categories: if tennis {
                    vec!["tennis".into()]
                } else {
                    Vec::new()
                },
                external_ids,
                ..CandidateFields::default()
            }
        })
}

fn step() -> impl Strategy<Value = Step> {
    let rec =
        (0..SOURCES.len(), 0..EXT_IDS.len(), small_fields()).prop_map(|(source, ext, fields)| {
            Rec {
                source,
                ext,
                fields,
            }
        });
    prop_oneof![
        6 => prop::collection::vec(rec, 1..10).prop_map(Step::Run),
        1 => (0..64usize, 0..64usize).prop_map(|(candidate, entity)| Step::Move { candidate, entity }),
        1 => (0..64usize).prop_map(|candidate| Step::Review { candidate }),
        1 => (0..64usize).prop_map(|candidate| Step::Split { candidate }),
        1 => (0..64usize, 0..64usize).prop_map(|(from, into)| Step::Merge { from, into }),
        1 => (0..SOURCES.len(), 0..EXT_IDS.len()).prop_map(|(source, ext)| Step::Ghost { source, ext }),
    ]
}

fn config() -> impl Strategy<Value = MatchConfig> {
    (
        1usize..6,
        1usize..7,
        prop_oneof![Just(60.0), Just(150.0), Just(300.0)],
    )
        .prop_map(
            |(common_token_max, block_candidates_max, cell_m)| MatchConfig {
                common_token_max,
                block_candidates_max,
                cell_m,
                ..MatchConfig::default()
            },
        )
}

/// The engine a test's logs and identity stores are on.
enum TestEngine {
    Sqlite,
    /// Two throw-away databases: one for the logs (and their identity stores), one for
    /// the other store a test compares with.
    Postgres {
        logs: TestDb,
        stores: TestDb,
    },
}

/// A log with its data dir (whose identity store, on SQLite, is the log's).
struct Log {
    _tmp: tempfile::TempDir,
    store: Box<dyn EventStore>,
}

impl std::ops::Deref for Log {
    type Target = dyn EventStore;
    fn deref(&self) -> &Self::Target {
        &*self.store
    }
}

impl TestEngine {
    /// PostgreSQL, or `None` (the test skipped, as `TestDb::create` says) without a server.
    fn postgres() -> Option<TestEngine> {
        Some(TestEngine::Postgres {
            logs: TestDb::create()?,
            stores: TestDb::create()?,
        })
    }

    /// Drops everything trustfold keeps in a test database: the log and every store.
    fn wipe(db: &TestDb) {
        let mut c = db.store_url().connect().unwrap();
        c.batch_execute(
            r"DO $$ DECLARE s text; BEGIN
                FOR s IN SELECT nspname FROM pg_namespace
                         WHERE nspname = 'trustfold' OR nspname LIKE 'tfi\_%' LOOP
                    EXECUTE format('DROP SCHEMA %I CASCADE', s);
                END LOOP;
              END $$",
        )
        .unwrap();
    }

    /// A new, empty log (and so an empty identity store: [`IdentityStore::of_log`]).
    fn log(&self) -> Log {
        let tmp = tempfile::tempdir().unwrap();
        let store: Box<dyn EventStore> = match self {
            TestEngine::Sqlite => Box::new(
                SqliteEventStore::open(tmp.path().join("log.sqlite3"), OpenMode::ReadWrite)
                    .unwrap(),
            ),
            TestEngine::Postgres { logs, .. } => {
                Self::wipe(logs);
                Box::new(PgEventStore::open(&logs.store_url(), true).unwrap())
            }
        };
        Log { _tmp: tmp, store }
    }

    /// Another, empty identity store on this engine (the last one it gave is gone).
    fn other_store(&self, tmp: &tempfile::TempDir) -> IdentityStore {
        match self {
            TestEngine::Sqlite => IdentityStore::in_data_dir(tmp.path()),
            TestEngine::Postgres { stores, .. } => {
                Self::wipe(stores);
                IdentityStore::on_postgres(&stores.store_url())
            }
        }
    }

    /// Another log on this engine, beside the last one `log` gave (on PostgreSQL: in the
    /// other database).
    fn second_log(&self) -> Log {
        match self {
            TestEngine::Sqlite => self.log(),
            TestEngine::Postgres { stores, .. } => {
                Self::wipe(stores);
                Log {
                    _tmp: tempfile::tempdir().unwrap(),
                    store: Box::new(PgEventStore::open(&stores.store_url(), true).unwrap()),
                }
            }
        }
    }
}

/// A connection to a store's live database (file or schema), for tests that damage it.
fn live_conn(store: &IdentityStore) -> Box<dyn Conn> {
    match &store.place {
        Place::Dir(dir) => {
            let path = IdentityStore::current_path_in(dir).unwrap().unwrap();
            Box::new(SqliteConn {
                conn: rusqlite::Connection::open(&path).unwrap(),
                path,
            })
        }
        Place::Postgres(pg) => Box::new(pg.schemas.open_read().unwrap().unwrap().0),
    }
}

fn merge_event(candidate_id: &str, decision: MergeOutcome, by: &str) -> NewEvent {
    NewEvent::new(
        format!("test/{candidate_id}"),
        MergeDecided {
            candidate_id: candidate_id.to_string(),
            decision,
            score: 1.0,
            features: BTreeMap::new(),
            matcher_version: MATCHER_VERSION.to_string(),
            decided_by: by.to_string(),
        },
    )
}

/// Records a run's extractions (the real stage 1) and returns its candidates.
fn extract(log: &dyn EventStore, ids: &RunIds<'_>, recs: &[Rec]) -> Vec<RunCandidate> {
    let payloads = recs
        .iter()
        .map(|r| ExtractedPayload {
            source: SOURCES[r.source].to_string(),
            response_event: Uuid::new_v4(),
            payload_hash: BlobHash::of(b"test"),
            extractor: "test".into(),
            extractor_version: 1,
            extraction: Extraction {
                records: vec![Extracted {
                    external_id: EXT_IDS[r.ext].to_string(),
                    fields: r.fields.clone(),
                    line: None,
                }],
                skipped: Vec::new(),
            },
        })
        .collect();
    record_extractions(
        log,
        ids,
        payloads,
        None,
        &|_| true,
        &mut StageFigures::default(),
    )
    .unwrap()
}

fn refs(candidates: &[RunCandidate]) -> Vec<CandidateRef<'_>> {
    candidates
        .iter()
        .map(|c| CandidateRef {
            candidate_id: &c.candidate_id,
            source: &c.source,
            external_id: &c.external_id,
            fields: &c.fields,
        })
        .collect()
}

/// Plays a history on `log`, deciding every run twice (the persisted index's working
/// index, and a full scan of the log as of the same seq) and asserting the same events.
/// Returns the number of runs decided.
fn play(log: &dyn EventStore, config: &MatchConfig, steps: &[Step]) -> usize {
    let identity = IdentityStore::of_log(log);
    let mut seen: Vec<String> = Vec::new();
    let mut entities: Vec<String> = vec!["e_reviewed".into()];
    let mut runs = 0;
    for step in steps {
        match step {
            Step::Run(recs) => {
                let run_id = Uuid::new_v4();
                let ids = RunIds {
                    run_id,
                    trace_id: "trace",
                };
                let candidates = extract(log, &ids, recs);
                identity.catch_up(log, config).unwrap();
                let working = identity.working_index(&refs(&candidates), config).unwrap();
                let checkpoint = working.checkpoint_seq;
                let mut index = working.index;
                let (events, expected) = decide_all(
                    &ids,
                    &candidates,
                    &mut index,
                    config,
                    &working.in_review,
                    &mut StageFigures::default(),
                );
                let (mut full, full_review) =
                    identity_index_until(log, config.clone(), checkpoint).unwrap();
                let (full_events, full_expected) = decide_all(
                    &ids,
                    &candidates,
                    &mut full,
                    config,
                    &full_review,
                    &mut StageFigures::default(),
                );
                assert_eq!(events, full_events, "run {runs}: decisions differ");
                assert_eq!(expected, full_expected);
                for e in &events {
                    if let trustfold_events::EventPayload::MergeDecided(m) = &e.payload {
                        if let MergeOutcome::NewEntity { entity_id } = &m.decision {
                            entities.push(entity_id.clone());
                        }
                    }
                }
                append_with_expectations(log, events, expected).unwrap();
                seen.extend(candidates.into_iter().map(|c| c.candidate_id));
                runs += 1;
            }
            Step::Move { candidate, entity } => {
                if seen.is_empty() {
                    continue;
                }
                let cid = &seen[candidate % seen.len()];
                let eid = entities[entity % entities.len()].clone();
                let ev = merge_event(
                    cid,
                    MergeOutcome::ExistingEntity { entity_id: eid },
                    "review:r",
                );
                log.append(trustfold_events::AppendBatch::new().push(ev))
                    .unwrap();
            }
            Step::Split { candidate } => {
                if seen.is_empty() {
                    continue;
                }
                let cid = &seen[candidate % seen.len()];
                let eid = crate::resolve::entity_id_for_split(cid, "e_from", runs as u64);
                let ev = merge_event(
                    cid,
                    MergeOutcome::NewEntity {
                        entity_id: eid.clone(),
                    },
                    "split:e_from",
                );
                log.append(trustfold_events::AppendBatch::new().push(ev))
                    .unwrap();
                entities.push(eid);
            }
            Step::Merge { from, into } => {
                if entities.is_empty() {
                    continue;
                }
                let from = entities[from % entities.len()].clone();
                let into = entities[into % entities.len()].clone();
                if from == into {
                    continue;
                }
                // The members as the full scan of the log has them, moved in one batch.
                let (index, _) =
                    crate::ingest::stages::identity_index(log, config.clone()).unwrap();
                let mut batch = trustfold_events::AppendBatch::new();
                for cid in seen
                    .iter()
                    .filter(|c| index.entity_of(c) == Some(from.as_str()))
                {
                    batch = batch.push(merge_event(
                        cid,
                        MergeOutcome::ExistingEntity {
                            entity_id: into.clone(),
                        },
                        &format!("merge:{from}"),
                    ));
                }
                if !batch.events.is_empty() {
                    log.append(batch).unwrap();
                }
            }
            Step::Review { candidate } => {
                if seen.is_empty() {
                    continue;
                }
                let cid = &seen[candidate % seen.len()];
                let ev = merge_event(
                    cid,
                    MergeOutcome::NeedsReview {
                        review_id: format!("r_{cid}"),
                        entity_ids: Vec::new(),
                    },
                    "matcher",
                );
                log.append(trustfold_events::AppendBatch::new().push(ev))
                    .unwrap();
            }
            Step::Ghost { source, ext } => {
                let cid = candidate_id(SOURCES[*source], EXT_IDS[*ext]);
                let ev = merge_event(
                    &cid,
                    MergeOutcome::NewEntity {
                        entity_id: format!("e_ghost_{cid}"),
                    },
                    "matcher",
                );
                log.append(trustfold_events::AppendBatch::new().push(ev))
                    .unwrap();
            }
        }
    }
    runs
}

/// Fold chunk sizes: a fact or a few at a time (so that chunks end between an extraction
/// and the decision attaching it, between a move and a review...), and the real one.
fn chunk() -> impl Strategy<Value = usize> {
    prop_oneof![
        Just(1usize),
        Just(2),
        Just(3),
        Just(7),
        Just(fold::FOLD_CHUNK_FACTS)
    ]
}

/// Plays random histories on `engine`, folding `chunk` facts at a time (each run decided
/// by the persisted index and by a full scan, the same events asserted), then compares the log's own store (caught up
/// run by run), another store on the engine caught up after every single event, and a
/// SQLite store rebuilt from the log at the end: the same tables.
fn check_history(
    engine: &TestEngine,
    config: &MatchConfig,
    chunk: usize,
    steps: &[Step],
) -> std::result::Result<(), TestCaseError> {
    fold::CHUNK_FACTS.with(|c| c.set(chunk));
    let log = engine.log();
    play(&*log, config, steps);
    let live = IdentityStore::of_log(&*log);
    live.catch_up(&*log, config).unwrap();

    let head = log.head().unwrap().map_or(0, |h| h.seq);
    let stepwise_dir = tempfile::tempdir().unwrap();
    let stepwise = engine.other_store(&stepwise_dir);
    for seq in 0..=head {
        stepwise.catch_up_to(&*log, config, Some(seq)).unwrap();
    }
    let rebuilt_dir = tempfile::tempdir().unwrap();
    let rebuilt = IdentityStore::in_data_dir(rebuilt_dir.path());
    rebuilt.rebuild(&*log, config, &mut |_, _| {}).unwrap();

    let expected = rebuilt.dump().unwrap();
    prop_assert_eq!(&stepwise.dump().unwrap(), &expected);
    prop_assert_eq!(&live.dump().unwrap(), &expected);
    prop_assert_eq!(expected.checkpoint.seq, head);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Random histories (runs with re-observations under changed fields, reviewers'
    /// moves, reviews, decisions before extractions; tight limits, so that blocks overflow
    /// and comparisons are cut): each run decides the same with the working index as with
    /// a full scan; and a store caught up after every single event, one rebuilt at the
    /// end, and the one caught up run by run hold the same tables.
    #[test]
    fn the_working_index_decides_as_a_full_scan_and_catch_up_equals_rebuild(
        config in config(),
        chunk in chunk(),
        steps in prop::collection::vec(step(), 1..10),
    ) {
        check_history(&TestEngine::Sqlite, &config, chunk, &steps)?;
    }
}

/// The same histories with the log and its identity store on PostgreSQL (fewer cases:
/// every catch-up opens connections).
#[test]
fn on_postgres_the_working_index_decides_as_a_full_scan_and_as_sqlite() {
    let Some(engine) = TestEngine::postgres() else {
        return;
    };
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(config(), chunk(), prop::collection::vec(step(), 1..10)),
            |(config, chunk, steps)| check_history(&engine, &config, chunk, &steps),
        )
        .unwrap();
}

/// Runs a few records into a fresh log, through the working index.
fn a_log_with_runs(engine: &TestEngine, config: &MatchConfig) -> Log {
    let log = engine.log();
    assert_eq!(play(&*log, config, &[Step::Run(tennis_clubs())]), 1);
    // As after a run: the projections' catch-up folds its decisions in.
    IdentityStore::of_log(&*log)
        .catch_up(&*log, config)
        .unwrap();
    log
}

fn tennis_clubs() -> Vec<Rec> {
    (0..6)
        .map(|i| Rec {
            source: i % 3,
            ext: i,
            fields: CandidateFields {
                name: Some(format!("{} Tennis Club", WORDS[i % 4])),
                lat: Some(BASES[i % 2].0),
                lon: Some(BASES[i % 2].1),
                ..CandidateFields::default()
            },
        })
        .collect()
}

fn set_meta_value(store: &IdentityStore, key: &str, value: &str) {
    live_conn(store)
        .execute(
            "UPDATE meta SET value = ?2 WHERE key = ?1",
            trustfold_projections::sql_params![key, value],
        )
        .unwrap();
}

fn another_matcher_version_format_or_cell_size_is_rebuilt(engine: &TestEngine) {
    let config = MatchConfig::default();
    let log = a_log_with_runs(engine, &config);
    let store = IdentityStore::of_log(&*log);
    let before = store.dump().unwrap();
    assert!(store.catch_up(&*log, &config).unwrap().rebuilt.is_none());

    for (key, value, why) in [
        ("matcher_version", "0", "matcher version"),
        ("format_version", "0", "format"),
        ("keys_config", "cell_m=0", "other matching settings"),
        ("checkpoint_seq", "not a number", "not a number"),
    ] {
        set_meta_value(&store, key, value);
        let report = store.catch_up(&*log, &config).unwrap();
        let reason = report.rebuilt.unwrap_or_default();
        assert!(reason.contains(why), "{key}: {reason}");
        assert_eq!(store.dump().unwrap(), before, "{key}");
    }

    // Thresholds and limits are applied when blocks are read: the store stays.
    let looser = MatchConfig {
        match_threshold: 0.7,
        common_token_max: 5,
        ..MatchConfig::default()
    };
    assert!(store.catch_up(&*log, &looser).unwrap().rebuilt.is_none());
    // The cell size shapes the keys: the store is rebuilt.
    let coarser = MatchConfig {
        cell_m: 500.0,
        ..MatchConfig::default()
    };
    let report = store.catch_up(&*log, &coarser).unwrap();
    assert!(report.rebuilt.is_some());
    assert_ne!(store.dump().unwrap().postings, before.postings);
}

#[test]
fn a_store_of_another_matcher_version_format_or_cell_size_is_rebuilt() {
    another_matcher_version_format_or_cell_size_is_rebuilt(&TestEngine::Sqlite);
}

#[test]
fn on_postgres_a_store_of_another_matcher_version_format_or_cell_size_is_rebuilt() {
    if let Some(engine) = TestEngine::postgres() {
        another_matcher_version_format_or_cell_size_is_rebuilt(&engine);
    }
}

/// A store caught up from one log, then asked to catch up from another (a data dir or a
/// database whose log was replaced, e.g. restored from elsewhere): rebuilt from the new
/// log, never read.
fn another_log_is_rebuilt(engine: &TestEngine) {
    let config = MatchConfig::default();
    let log = a_log_with_runs(engine, &config);
    let store = IdentityStore::of_log(&*log);
    let ours = store.dump().unwrap();
    // Another log, longer: its seq at our checkpoint has another hash.
    let other = engine.second_log();
    play(
        &*other,
        &config,
        &[
            Step::Run(tennis_clubs()),
            Step::Run(vec![Rec {
                source: 0,
                ext: 0,
                fields: CandidateFields {
                    name: Some("Quarrymill Bowling Club".into()),
                    lat: Some(55.95),
                    lon: Some(-3.2),
                    ..CandidateFields::default()
                },
            }]),
        ],
    );
    let report = store.catch_up(&*other, &config).unwrap();
    assert!(
        report
            .rebuilt
            .as_deref()
            .unwrap_or("")
            .contains("different log"),
        "{report:?}"
    );
    let theirs = store.dump().unwrap();
    assert_ne!(theirs, ours);
    assert_eq!(
        theirs.checkpoint.seq,
        other.head().unwrap().map_or(0, |h| h.seq)
    );
    // The same tables as a SQLite store built from that log.
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = IdentityStore::in_data_dir(reference_dir.path());
    reference.rebuild(&*other, &config, &mut |_, _| {}).unwrap();
    assert_eq!(theirs, reference.dump().unwrap());
}

#[test]
fn a_store_of_another_log_is_rebuilt() {
    another_log_is_rebuilt(&TestEngine::Sqlite);
}

#[test]
fn on_postgres_a_store_of_another_log_is_rebuilt() {
    if let Some(engine) = TestEngine::postgres() {
        another_log_is_rebuilt(&engine);
    }
}

#[test]
fn a_damaged_store_or_pointer_is_rebuilt_never_a_panic() {
    let config = MatchConfig::default();
    let log = a_log_with_runs(&TestEngine::Sqlite, &config);
    let store = IdentityStore::of_log(&*log);
    let good = store.dump().unwrap();
    let dir = store.dir().unwrap().to_path_buf();

    // Garbage in the store file.
    let live = IdentityStore::current_path_in(&dir).unwrap().unwrap();
    std::fs::write(live, b"this is not a database, just bytes").unwrap();
    let report = store.catch_up(&*log, &config).unwrap();
    assert!(report.rebuilt.is_some());
    assert_eq!(store.dump().unwrap(), good);

    // A pointer naming nothing, or nonsense.
    let pointer = dir.join(POINTER);
    for text in ["i-0000.sqlite3\n", "../../etc/passwd", ""] {
        std::fs::write(&pointer, text).unwrap();
        let report = store.catch_up(&*log, &config).unwrap();
        assert!(report.rebuilt.is_some(), "{text:?}");
        assert_eq!(store.dump().unwrap(), good, "{text:?}");
    }
}

/// The same on PostgreSQL: a schema whose tables are gone, a pointer naming a schema that
/// does not exist, or something that is not one of ours.
#[test]
fn on_postgres_a_damaged_store_or_pointer_is_rebuilt_never_a_panic() {
    let Some(engine) = TestEngine::postgres() else {
        return;
    };
    let config = MatchConfig::default();
    let log = a_log_with_runs(&engine, &config);
    let store = IdentityStore::of_log(&*log);
    let good = store.dump().unwrap();
    let Backend::Postgres(url) = log.backend() else {
        unreachable!("a PostgreSQL log")
    };
    let mut admin = url.connect().unwrap();

    live_conn(&store)
        .batch("DROP TABLE meta, attached")
        .unwrap();
    let report = store.catch_up(&*log, &config).unwrap();
    assert!(
        report
            .rebuilt
            .as_deref()
            .unwrap_or("")
            .contains("unreadable"),
        "{report:?}"
    );
    assert_eq!(store.dump().unwrap(), good);

    for name in [
        "tfi_00000000000000000000000000000000",
        "public; DROP TABLE trustfold.events",
        "",
    ] {
        admin
            .execute(
                "UPDATE trustfold.identity_current SET schema_name = $1",
                &[&name],
            )
            .unwrap();
        let report = store.catch_up(&*log, &config).unwrap();
        assert!(report.rebuilt.is_some(), "{name:?}");
        assert_eq!(store.dump().unwrap(), good, "{name:?}");
    }
    assert!(log.head().unwrap().is_some(), "the log is untouched");
}

fn a_damaged_row_is_a_clear_error(engine: &TestEngine) {
    use trustfold_projections::db::sql::Param;
    let config = MatchConfig::default();
    let log = a_log_with_runs(engine, &config);
    let store = IdentityStore::of_log(&*log);
    let conn = live_conn(&store);
    let near = CandidateFields {
        name: Some("Drumbrae Tennis Club".into()),
        lat: Some(BASES[0].0),
        lon: Some(BASES[0].1),
        ..CandidateFields::default()
    };
    let id = candidate_id("google_places", "probe");
    let probe = CandidateRef {
        candidate_id: &id,
        source: "google_places",
        external_id: "probe",
        fields: &near,
    };
    assert!(store.working_index(&[probe], &config).is_ok());
    for (damage, form, says) in [
        (
            "UPDATE attached SET form = ?1",
            Some(&[0x01, 0xff][..]),
            "matching form",
        ),
        (
            "UPDATE attached SET form = ?1",
            Some(&[0x07][..]),
            "version 7",
        ),
        (
            "UPDATE attached SET form = NULL",
            None,
            "no row with a matching form",
        ),
        ("DELETE FROM attached", None, "no row"),
    ] {
        let args: Vec<Param<'_>> = form.map(Param::Blob).into_iter().collect();
        conn.execute(damage, &args).unwrap();
        let err = store
            .working_index(&[probe], &config)
            .err()
            .unwrap_or_else(|| panic!("{damage}: an error"));
        assert!(
            matches!(err, IdentityStoreError::Corrupt { .. }),
            "{damage}: {err}"
        );
        let text = err.to_string();
        assert!(text.contains(says), "{damage}: {text}");
        assert!(text.contains("rebuild-projections --full"), "{text}");
    }
    drop(conn);

    // A catch-up that must read an extraction back from the log and finds something else.
    let log = a_log_with_runs(engine, &config);
    let store = IdentityStore::of_log(&*log);
    let ghost = candidate_id("google_places", "never-attached");
    live_conn(&store)
        .execute(
            "INSERT INTO seen(candidate_id, seq) VALUES (?1, 7)",
            trustfold_projections::sql_params![ghost.as_str()],
        )
        .unwrap();
    let ev = merge_event(
        &ghost,
        MergeOutcome::NewEntity {
            entity_id: "e_ghost".into(),
        },
        "matcher",
    );
    log.append(trustfold_events::AppendBatch::new().push(ev))
        .unwrap();
    let err = store.catch_up(&*log, &config).expect_err("an error");
    assert!(err.to_string().contains("not CandidateExtracted"), "{err}");
}

#[test]
fn a_damaged_row_is_a_clear_error_naming_the_fix() {
    a_damaged_row_is_a_clear_error(&TestEngine::Sqlite);
}

#[test]
fn on_postgres_a_damaged_row_is_a_clear_error_naming_the_fix() {
    if let Some(engine) = TestEngine::postgres() {
        a_damaged_row_is_a_clear_error(&engine);
    }
}

fn a_store_never_built(engine: &TestEngine) {
    let log = engine.log();
    let store = IdentityStore::of_log(&*log);
    let err = store
        .working_index(&[], &MatchConfig::default())
        .err()
        .expect("missing");
    assert!(matches!(err, IdentityStoreError::Missing { .. }), "{err}");
    // The first catch-up builds it, on an empty log too.
    let report = store.catch_up(&*log, &MatchConfig::default()).unwrap();
    assert_eq!(report.rebuilt.as_deref(), Some("no identity index yet"));
    assert_eq!(store.dump().unwrap().checkpoint.seq, 0);
}

#[test]
fn reading_a_store_that_was_never_built_says_so() {
    a_store_never_built(&TestEngine::Sqlite);
}

#[test]
fn on_postgres_reading_a_store_that_was_never_built_says_so() {
    if let Some(engine) = TestEngine::postgres() {
        a_store_never_built(&engine);
    }
}

/// One holder at a time: a second taker waits for the first to let go, or gives up
/// after its wait with an error naming the lock.
fn one_resolver_at_a_time(engine: &TestEngine) {
    let log = engine.log();
    let store = IdentityStore::of_log(&*log);
    let held = store.resolve_lock().unwrap();
    let err = store
        .resolve_lock_waiting(Duration::from_millis(200))
        .err()
        .expect("held elsewhere");
    assert!(matches!(err, IdentityStoreError::Locked { .. }), "{err}");
    assert!(
        err.to_string().contains("resolve lock") || err.to_string().contains(RESOLVE_LOCK_FILE),
        "{err}"
    );

    let released = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (store, released) = (store.clone(), released.clone());
        std::thread::spawn(move || {
            let _guard = store.resolve_lock().unwrap();
            assert!(
                released.load(Ordering::SeqCst),
                "the lock was taken while another held it"
            );
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    released.store(true, Ordering::SeqCst);
    drop(held);
    waiter.join().unwrap();
    // Free again.
    drop(
        store
            .resolve_lock_waiting(Duration::from_millis(200))
            .unwrap(),
    );
}

#[test]
fn the_resolve_lock_has_one_holder_at_a_time() {
    one_resolver_at_a_time(&TestEngine::Sqlite);
}

#[test]
fn on_postgres_the_resolve_lock_has_one_holder_at_a_time() {
    if let Some(engine) = TestEngine::postgres() {
        one_resolver_at_a_time(&engine);
    }
}

/// The same place seen by several runs at once, each from another source: resolved one
/// at a time, the first founds the entity and every other joins it. (Without the lock,
/// runs that read the index before any of them appended would each found one.)
fn concurrent_runs_resolve_one_at_a_time(engine: &TestEngine) {
    const RUNS: usize = 4;
    const ROUNDS: usize = 3;
    let config = MatchConfig::default();
    let log = engine.log();
    let opened = |log: &Log| -> Box<dyn EventStore> {
        match log.backend() {
            Backend::Sqlite(path) => {
                Box::new(SqliteEventStore::open(path, OpenMode::ReadWrite).unwrap())
            }
            Backend::Postgres(url) => Box::new(PgEventStore::open(url, true).unwrap()),
        }
    };
    IdentityStore::of_log(&*log)
        .catch_up(&*log, &config)
        .unwrap();
    for round in 0..ROUNDS {
        let (lat, lon) = BASES[round];
        let barrier = Arc::new(Barrier::new(RUNS));
        let decided: Vec<Vec<MergeOutcome>> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..RUNS)
                .map(|i| {
                    let barrier = barrier.clone();
                    let store = opened(&log);
                    let config = config.clone();
                    scope.spawn(move || {
                        let run_id = Uuid::new_v4();
                        let ids = RunIds {
                            run_id,
                            trace_id: "trace",
                        };
                        let rec = Rec {
                            source: [0, 1, 3, 4][i],
                            ext: round,
                            fields: CandidateFields {
                                name: Some(format!("{} Tennis Club", WORDS[round])),
                                lat: Some(lat),
                                lon: Some(lon),
                                postcode: Some(POSTCODES[round].into()),
                                phone: Some(PHONES[round].into()),
                                ..CandidateFields::default()
                            },
                        };
                        let candidates = extract(&*store, &ids, &[rec]);
                        barrier.wait();
                        accept_and_resolve(
                            &*store,
                            &ids,
                            &candidates,
                            &config,
                            &mut StageFigures::default(),
                        )
                        .unwrap();
                        store
                            .read_filtered(trustfold_events::EventFilter {
                                run_id: Some(run_id),
                                kind: Some(EventKind::MergeDecided.as_str().to_string()),
                                ..Default::default()
                            })
                            .map(|e| {
                                let e = e.unwrap();
                                match EventPayload::decode(&e.kind, e.schema_version, &e.payload)
                                    .unwrap()
                                {
                                    EventPayload::MergeDecided(m) => m.decision,
                                    other => panic!("{other:?}"),
                                }
                            })
                            .collect()
                    })
                })
                .collect();
            workers.into_iter().map(|w| w.join().unwrap()).collect()
        });
        let founded: Vec<&String> = decided
            .iter()
            .flatten()
            .filter_map(|d| match d {
                MergeOutcome::NewEntity { entity_id } => Some(entity_id),
                _ => None,
            })
            .collect();
        assert_eq!(founded.len(), 1, "round {round}: {decided:?}");
        for d in decided.iter().flatten() {
            match d {
                MergeOutcome::NewEntity { .. } => {}
                MergeOutcome::ExistingEntity { entity_id } => {
                    assert_eq!(entity_id, founded[0], "round {round}: {decided:?}")
                }
                other => panic!("round {round}: {other:?}"),
            }
        }
        assert_eq!(decided.iter().flatten().count(), RUNS);
    }
}

#[test]
fn concurrent_runs_resolve_one_at_a_time_on_sqlite() {
    concurrent_runs_resolve_one_at_a_time(&TestEngine::Sqlite);
}

#[test]
fn on_postgres_concurrent_runs_resolve_one_at_a_time() {
    if let Some(engine) = TestEngine::postgres() {
        concurrent_runs_resolve_one_at_a_time(&engine);
    }
}

/// Several workers' first catch-ups at once, on a log without a store yet: each builds
/// one and they swap in turn (on PostgreSQL: creating the pointer table too), none fails.
fn first_catch_ups_at_once(engine: &TestEngine) {
    const WORKERS: usize = 6;
    let config = MatchConfig::default();
    let log = engine.log();
    let ids = RunIds {
        run_id: Uuid::new_v4(),
        trace_id: "trace",
    };
    extract(&*log, &ids, &tennis_clubs());
    let barrier = Barrier::new(WORKERS);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..WORKERS)
            .map(|_| {
                scope.spawn(|| {
                    barrier.wait();
                    IdentityStore::of_log(&*log).catch_up(&*log, &config)
                })
            })
            .collect();
        for w in workers {
            w.join().unwrap().unwrap();
        }
    });
    let reference_dir = tempfile::tempdir().unwrap();
    let reference = IdentityStore::in_data_dir(reference_dir.path());
    reference.rebuild(&*log, &config, &mut |_, _| {}).unwrap();
    assert_eq!(
        IdentityStore::of_log(&*log).dump().unwrap(),
        reference.dump().unwrap()
    );
}

#[test]
fn first_catch_ups_at_once_all_succeed() {
    first_catch_ups_at_once(&TestEngine::Sqlite);
}

#[test]
fn on_postgres_first_catch_ups_at_once_all_succeed() {
    if let Some(engine) = TestEngine::postgres() {
        first_catch_ups_at_once(&engine);
    }
}

/// A rebuild retires the live schema; the next writer drops it once no reader is in it.
#[test]
fn on_postgres_retired_schemas_are_dropped_once_unread() {
    let Some(engine) = TestEngine::postgres() else {
        return;
    };
    let config = MatchConfig::default();
    let log = a_log_with_runs(&engine, &config);
    let store = IdentityStore::of_log(&*log);
    let Backend::Postgres(url) = log.backend() else {
        unreachable!("a PostgreSQL log")
    };
    let mut admin = url.connect().unwrap();
    let mut schemas = || -> Vec<String> {
        admin
            .query(
                "SELECT nspname::text FROM pg_namespace WHERE nspname LIKE 'tfi\\_%' ORDER BY 1",
                &[],
            )
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let first = schemas();
    assert_eq!(first.len(), 1, "{first:?}");

    // A reader in the live schema while a rebuild swaps in another.
    let reader = live_conn(&store);
    store.rebuild(&*log, &config, &mut |_, _| {}).unwrap();
    store.catch_up(&*log, &config).unwrap();
    let during = schemas();
    assert_eq!(during.len(), 2, "the read schema stays: {during:?}");
    drop(reader);
    store.catch_up(&*log, &config).unwrap();
    let after = schemas();
    assert_eq!(after.len(), 1, "{after:?}");
    assert_ne!(after, first, "the new schema is the live one");
}
