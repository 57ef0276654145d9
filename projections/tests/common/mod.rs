//! Random histories for the projection property tests: small id spaces make collisions
//! (re-extraction, a second merge of one candidate, slug clashes, records seen again from
//! a shared payload) common.

#![allow(dead_code)]

use proptest::prelude::*;
use trustfold_events::*;
use trustfold_projections::policy::SHIPPED_POLICY;
use trustfold_projections::TrustPolicy;

pub const SOURCES: &[&str] = &[
    "serper",
    "google_places",
    "openstreetmap",
    "sport_scotland",
    "edinburgh_council",
    "open_charge_map",
];

pub fn policy() -> TrustPolicy {
    TrustPolicy::parse(SHIPPED_POLICY, "trust.toml", SOURCES).unwrap()
}

/// One step of a random history. Small id spaces make collisions (re-extraction, a
/// second merge of one candidate, slug clashes) common.
#[derive(Clone, Debug)]
pub enum Op {
    Extract {
        cand: u8,
        source: u8,
        name: u8,
        phone: u8,
        placeholder: bool,
        /// Which of a few payloads it came from: several records share one, as records of
        /// one response do.
        payload: u8,
    },
    /// The records of payloads `earlier` (and `also`) seen again in payload `now`, except
    /// candidate `absent` when given.
    SeenAgain {
        earlier: u8,
        also: Option<u8>,
        absent: Option<u8>,
        now: u8,
    },
    /// The record accepted (again) by the current run.
    Accept {
        cand: u8,
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
    /// A person's split: `cand` leaves entity `from` for `to` (founded, or joined),
    /// as `trustfold split` writes it (the move, then `EntitySplit`).
    Split {
        cand: u8,
        from: u8,
        to: u8,
        new_entity: bool,
    },
    /// A person's merge of `gone` into `keep`, as `trustfold merge` writes it: the moves
    /// (here of any candidates: the fold must not assume they were all of `gone`'s
    /// members), then `EntitiesMerged`.
    Merge {
        keep: u8,
        gone: u8,
        moved: Vec<u8>,
    },
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..8u8, 0..6u8, 0..3u8, 0..3u8, any::<bool>(), 0..3u8).prop_map(
            |(cand, source, name, phone, p, payload)| Op::Extract { cand, source, name, phone, placeholder: p && phone == 0, payload }
        ),
        1 => (0..3u8, proptest::option::of(0..3u8), proptest::option::of(0..8u8), 0..4u8).prop_map(
            |(earlier, also, absent, now)| Op::SeenAgain { earlier, also, absent, now }
        ),
        1 => (0..8u8).prop_map(|cand| Op::Accept { cand }),
        2 => (0..8u8, 0..4u8).prop_map(|(cand, entity)| Op::NewEntity { cand, entity }),
        2 => (0..8u8, 0..4u8).prop_map(|(cand, entity)| Op::Existing { cand, entity }),
        1 => (0..8u8, 0..8u8).prop_map(|(cand, of)| Op::Repeat { cand, of }),
        1 => (0..4u8, any::<bool>(), 0..3u8).prop_map(|(entity, clear, phone)| Op::Override { entity, clear, phone }),
        1 => (0..8u8, 0..4u8).prop_map(|(cand, entity)| Op::Review { cand, entity }),
        1 => (0..8u8, any::<bool>()).prop_map(|(cand, approve)| Op::Resolve { cand, approve }),
        1 => Just(Op::StartRun),
        1 => Just(Op::EndRun),
        1 => (0..8u8, 0..6u8, 0..6u8, any::<bool>()).prop_map(|(cand, from, to, new_entity)| Op::Split { cand, from, to, new_entity }),
        1 => (0..6u8, 0..6u8, prop::collection::vec(0..8u8, 0..3)).prop_map(|(keep, gone, moved)| Op::Merge { keep, gone, moved }),
    ]
}

/// The events of one op, appended as one batch (a correction is a move and its record).
pub fn to_events(op: &Op, run: &mut Option<(uuid::Uuid, String)>, n: usize) -> Vec<NewEvent> {
    let in_run = |ev: NewEvent, run: &Option<(uuid::Uuid, String)>| match run {
        Some((id, trace)) => ev.in_run(*id, trace.clone()),
        None => ev,
    };
    let moved = |cand: u8, to: u8, outcome: MergeOutcome, by: String| {
        NewEvent::new(
            format!("entity/{}", eid(to)),
            MergeDecided {
                candidate_id: cid(cand),
                decision: outcome,
                score: 1.0,
                features: Default::default(),
                matcher_version: "1".into(),
                decided_by: by,
            },
        )
    };
    match op {
        Op::Split {
            cand,
            from,
            to,
            new_entity,
        } => {
            let outcome = if *new_entity {
                MergeOutcome::NewEntity {
                    entity_id: eid(*to),
                }
            } else {
                MergeOutcome::ExistingEntity {
                    entity_id: eid(*to),
                }
            };
            vec![
                in_run(
                    moved(*cand, *to, outcome, format!("split:{}", eid(*from))),
                    run,
                ),
                in_run(
                    NewEvent::new(
                        format!("entity/{}", eid(*from)),
                        EntitySplit {
                            entity_id: eid(*from),
                            candidate_id: cid(*cand),
                            into_entity_id: eid(*to),
                            new_entity: *new_entity,
                            reason: "two places".into(),
                            by: "ana".into(),
                        },
                    ),
                    run,
                ),
            ]
        }
        Op::Merge {
            keep,
            gone,
            moved: cands,
        } => {
            let mut out: Vec<NewEvent> = cands
                .iter()
                .map(|c| {
                    in_run(
                        moved(
                            *c,
                            *keep,
                            MergeOutcome::ExistingEntity {
                                entity_id: eid(*keep),
                            },
                            format!("merge:{}", eid(*gone)),
                        ),
                        run,
                    )
                })
                .collect();
            out.push(in_run(
                NewEvent::new(
                    format!("entity/{}", eid(*gone)),
                    EntitiesMerged {
                        entity_id: eid(*keep),
                        merged_entity_id: eid(*gone),
                        candidate_ids: cands.iter().map(|c| cid(*c)).collect(),
                        reason: "one place".into(),
                        by: "bo".into(),
                    },
                ),
                run,
            ));
            out
        }
        _ => vec![to_event(op, run, n)],
    }
}

const NAMES: &[&str] = &["Leith Links", "Meadowbank Stadium", "Leith Links"];

pub fn payload_hash(n: u8) -> BlobHash {
    BlobHash::of(format!("payload {n}").as_bytes())
}

pub fn cid(n: u8) -> String {
    format!("c_{n}")
}

pub fn eid(n: u8) -> String {
    format!("e_{n}")
}

pub fn to_event(op: &Op, run: &mut Option<(uuid::Uuid, String)>, n: usize) -> NewEvent {
    let ev = match op {
        Op::Extract {
            cand,
            source,
            name,
            phone,
            placeholder,
            payload,
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
                    payload_hash: payload_hash(*payload),
                    skipped_records: vec![],
                },
            )
        }
        Op::SeenAgain {
            earlier,
            also,
            absent,
            now,
        } => NewEvent::new(
            format!("seen/{n}"),
            CandidatesSeenAgain {
                source: "sport_scotland".into(),
                payload_hash: payload_hash(*now),
                extractor: "test".into(),
                extractor_version: 1,
                earlier_payloads: std::iter::once(*earlier)
                    .chain(*also)
                    .map(payload_hash)
                    .collect(),
                absent: absent.iter().map(|c| cid(*c)).collect(),
                n_records: 3,
                skipped_records: vec![],
            },
        ),
        Op::Accept { cand } => NewEvent::new(
            format!("candidate/{}", cid(*cand)),
            CandidateAccepted {
                candidate_id: cid(*cand),
                checks: vec!["valid".into(), "identity already decided".into()],
            },
        ),
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
        Op::Split { .. } | Op::Merge { .. } => {
            panic!("corrections are batches: use to_events")
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
