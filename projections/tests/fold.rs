//! Incremental catch-up after every event gives exactly the tables of a full rebuild.
//!
//! Random event sequences (extractions, re-extractions, merges into new and existing
//! entities, repeats within a source, overrides and their clearing, runs that start and
//! end) are appended to a real SQLite log one event at a time; one projection database is
//! caught up after each append, another is rebuilt once at the end, and every table of
//! the two must be identical row for row.

use proptest::prelude::*;
use trustfold_events::*;
use trustfold_projections::policy::SHIPPED_POLICY;
use trustfold_projections::{Projections, TrustPolicy};

const SOURCES: &[&str] = &[
    "serper",
    "google_places",
    "openstreetmap",
    "sport_scotland",
    "edinburgh_council",
    "open_charge_map",
];

fn policy() -> TrustPolicy {
    TrustPolicy::parse(SHIPPED_POLICY, "trust.toml", SOURCES).unwrap()
}

/// One step of a random history. Small id spaces make collisions (re-extraction, a
/// second merge of one candidate, slug clashes) common.
#[derive(Clone, Debug)]
enum Op {
    Extract {
        cand: u8,
        source: u8,
        name: u8,
        phone: u8,
        placeholder: bool,
    },
    NewEntity {
        cand: u8,
        entity: u8,
    },
    Existing {
        cand: u8,
        entity: u8,
    },
    Repeat {
        cand: u8,
        of: u8,
    },
    Override {
        entity: u8,
        clear: bool,
        phone: u8,
    },
    Review {
        cand: u8,
        entity: u8,
    },
    Resolve {
        cand: u8,
        approve: bool,
    },
    StartRun,
    EndRun,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..8u8, 0..6u8, 0..3u8, 0..3u8, any::<bool>()).prop_map(
            |(cand, source, name, phone, p)| Op::Extract { cand, source, name, phone, placeholder: p && phone == 0 }
        ),
        2 => (0..8u8, 0..4u8).prop_map(|(cand, entity)| Op::NewEntity { cand, entity }),
        2 => (0..8u8, 0..4u8).prop_map(|(cand, entity)| Op::Existing { cand, entity }),
        1 => (0..8u8, 0..8u8).prop_map(|(cand, of)| Op::Repeat { cand, of }),
        1 => (0..4u8, any::<bool>(), 0..3u8).prop_map(|(entity, clear, phone)| Op::Override { entity, clear, phone }),
        1 => (0..8u8, 0..4u8).prop_map(|(cand, entity)| Op::Review { cand, entity }),
        1 => (0..8u8, any::<bool>()).prop_map(|(cand, approve)| Op::Resolve { cand, approve }),
        1 => Just(Op::StartRun),
        1 => Just(Op::EndRun),
    ]
}

const NAMES: &[&str] = &["Leith Links", "Meadowbank Stadium", "Leith Links"];

fn cid(n: u8) -> String {
    format!("c_{n}")
}

fn eid(n: u8) -> String {
    format!("e_{n}")
}

fn to_event(op: &Op, run: &mut Option<(uuid::Uuid, String)>, n: usize) -> NewEvent {
    let ev = match op {
        Op::Extract {
            cand,
            source,
            name,
            phone,
            placeholder,
        } => {
            let fields = CandidateFields {
                name: Some(NAMES[*name as usize].into()),
                phone: Some(if *placeholder {
                    "N/A".into()
                } else {
                    format!("+4413100000{phone}")
                }),
                sports: vec![["football", "tennis", "bowls"][*phone as usize].into()],
                lat: Some(55.97 + *name as f64 * 0.0001),
                lon: Some(-3.16),
                ..CandidateFields::default()
            };
            NewEvent::new(
                format!("candidate/{}", cid(*cand)),
                CandidateExtracted {
                    candidate_id: cid(*cand),
                    source: SOURCES[*source as usize].into(),
                    external_id: format!("x{cand}"),
                    fields,
                    extractor: "test".into(),
                    extractor_version: 1,
                    payload_hash: BlobHash::of(format!("payload {n}").as_bytes()),
                    skipped_records: vec![],
                },
            )
        }
        Op::NewEntity { cand, entity } => NewEvent::new(
            format!("entity/{}", eid(*entity)),
            MergeDecided {
                candidate_id: cid(*cand),
                decision: MergeOutcome::NewEntity {
                    entity_id: eid(*entity),
                },
                score: 0.0,
                features: Default::default(),
                matcher_version: "1".into(),
                decided_by: "matcher".into(),
            },
        ),
        Op::Existing { cand, entity } => NewEvent::new(
            format!("entity/{}", eid(*entity)),
            MergeDecided {
                candidate_id: cid(*cand),
                decision: MergeOutcome::ExistingEntity {
                    entity_id: eid(*entity),
                },
                score: 0.9,
                features: Default::default(),
                matcher_version: "1".into(),
                decided_by: "matcher".into(),
            },
        ),
        Op::Repeat { cand, of } => NewEvent::new(
            format!("candidate/{}", cid(*cand)),
            CandidateRejected {
                candidate_id: cid(*cand),
                reason: RejectReason::DuplicateInSource,
                detail: "same site".into(),
                duplicate_of: Some(cid(*of)),
            },
        ),
        Op::Override {
            entity,
            clear,
            phone,
        } => NewEvent::new(
            format!("entity/{}", eid(*entity)),
            FieldOverridden {
                entity_id: eid(*entity),
                field: "phone".into(),
                value: (!clear).then(|| serde_json::json!(format!("+4413199999{phone}"))),
                reason: "checked".into(),
                by: "test".into(),
            },
        ),
        Op::Review { cand, entity } => NewEvent::new(
            format!("review/r_{cand}"),
            ReviewRequested {
                review_id: format!("r_{cand}"),
                reason: ReviewReason::AmbiguousMatch,
                candidate_id: Some(cid(*cand)),
                entity_ids: vec![eid(*entity)],
                detail: "in the band".into(),
            },
        ),
        Op::Resolve { cand, approve } => NewEvent::new(
            format!("review/r_{cand}"),
            ReviewResolved {
                review_id: format!("r_{cand}"),
                decision: if *approve {
                    ReviewDecision::Approved
                } else {
                    ReviewDecision::Rejected
                },
                reason: "looked".into(),
                by: "ana".into(),
                entity_id: None,
            },
        ),
        Op::StartRun => {
            let id = uuid::Uuid::now_v7();
            *run = Some((id, format!("trace{n}")));
            NewEvent::new(
                format!("run/{id}"),
                RunStarted {
                    query: format!("query {n}"),
                    mode: "discover-many".into(),
                    budget_usd: 0.1,
                    features: serde_json::Value::Null,
                    selected: vec![],
                    skipped: vec![],
                    keep_off_topic: false,
                },
            )
        }
        Op::EndRun => {
            let stream = run
                .as_ref()
                .map(|(id, _)| format!("run/{id}"))
                .unwrap_or_else(|| "run/none".into());
            NewEvent::new(
                stream,
                RunCompleted {
                    figures: RunFigures::default(),
                },
            )
        }
    };
    let ev = match run {
        Some((id, trace)) => ev.in_run(*id, trace.clone()),
        None => ev,
    };
    if matches!(op, Op::EndRun) {
        *run = None;
    }
    ev
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_after_every_event_equals_a_full_rebuild(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
        let policy = policy();
        let incremental = Projections::new(&dir.path().join("inc"));
        let rebuilt = Projections::new(&dir.path().join("full"));
        let mut run = None;
        for (n, op) in ops.iter().enumerate() {
            let ev = to_event(op, &mut run, n);
            store.append(AppendBatch::new().push(ev)).unwrap();
            incremental.catch_up(&store, &policy, SOURCES, &mut |_, _| {}).unwrap();
        }
        rebuilt.rebuild(&store, &policy, &mut |_, _| {}).unwrap();
        let a = incremental.open_read().unwrap().unwrap().dump().unwrap();
        let b = rebuilt.open_read().unwrap().unwrap().dump().unwrap();
        prop_assert_eq!(a, b);
    }
}

/// Catch-up in uneven chunks (several events between catch-ups) also equals a rebuild.
#[test]
fn catch_up_in_chunks_equals_a_rebuild() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
    let policy = policy();
    let inc = Projections::new(&dir.path().join("inc"));
    let mut run = None;
    let mut ops = vec![Op::StartRun];
    for i in 0..8u8 {
        ops.push(Op::Extract {
            cand: i,
            source: i % 6,
            name: i % 3,
            phone: i % 3,
            placeholder: false,
        });
        ops.push(if i % 3 == 0 {
            Op::NewEntity {
                cand: i,
                entity: i / 3,
            }
        } else {
            Op::Existing {
                cand: i,
                entity: i / 3,
            }
        });
    }
    ops.push(Op::Repeat { cand: 7, of: 1 });
    ops.push(Op::Override {
        entity: 1,
        clear: false,
        phone: 2,
    });
    ops.push(Op::EndRun);
    for (n, op) in ops.iter().enumerate() {
        store
            .append(AppendBatch::new().push(to_event(op, &mut run, n)))
            .unwrap();
        if n % 5 == 4 {
            inc.catch_up(&store, &policy, SOURCES, &mut |_, _| {})
                .unwrap();
        }
    }
    inc.catch_up(&store, &policy, SOURCES, &mut |_, _| {})
        .unwrap();
    let full = Projections::new(&dir.path().join("full"));
    full.rebuild(&store, &policy, &mut |_, _| {}).unwrap();
    let a = inc.open_read().unwrap().unwrap().dump().unwrap();
    let b = full.open_read().unwrap().unwrap().dump().unwrap();
    assert_eq!(a, b);
    assert!(
        a.contains("leith-links-2"),
        "the slug clash got a suffix:\n{a}"
    );
}
