//! A policy change re-merges; it never re-folds. For random histories and random policy
//! changes:
//! - re-merging the affected entities under the new policy gives exactly the tables of a
//!   full rebuild with the new policy;
//! - a dry run lists exactly the (entity, field) pairs whose value or winning source
//!   differs between the two full rebuilds, writes nothing, and its counts add up.

mod common;

use std::collections::BTreeSet;

use common::*;
use proptest::prelude::*;
use trustfold_events::*;
use trustfold_projections::{ChangeSink, FieldChange, Projections, TrustPolicy};

/// One source's rules in a generated policy.
#[derive(Clone, Debug)]
struct Rules {
    trust: f64,
    official: bool,
    prefer_phone: bool,
    exclude_name: bool,
}

fn rules() -> impl Strategy<Value = Rules> {
    (
        prop::sample::select(vec![0.5, 0.7, 0.75, 0.9, 0.95]),
        any::<bool>(),
        any::<bool>(),
        prop::bool::weighted(0.2),
    )
        .prop_map(|(trust, official, prefer_phone, exclude_name)| Rules {
            trust,
            official,
            prefer_phone,
            exclude_name,
        })
}

/// A policy: the shipped one with the rules of some sources replaced, and maybe another
/// conflict gap.
fn policy_text(changes: &[(usize, Rules)], gap: Option<f64>) -> String {
    let mut text = format!(
        "version = 1\nconflict_trust_gap_max = {}\n[default]\ntrust = 0.5\ntier = \"crowdsourced\"\n",
        gap.unwrap_or(0.15)
    );
    let shipped = policy();
    for (i, name) in SOURCES.iter().enumerate() {
        let (trust, tier, prefer, exclude) = match changes.iter().rev().find(|(s, _)| *s == i) {
            Some((_, r)) => (
                r.trust,
                if r.official {
                    "official"
                } else {
                    "crowdsourced"
                },
                if r.prefer_phone {
                    vec!["phone"]
                } else {
                    vec![]
                },
                if r.exclude_name { vec!["name"] } else { vec![] },
            ),
            None => {
                let s = shipped.source(name);
                (
                    s.trust,
                    s.tier.as_str(),
                    s.prefer.iter().map(|f| f.as_str()).collect(),
                    s.exclude.iter().map(|f| f.as_str()).collect(),
                )
            }
        };
        let list = |v: Vec<&str>| {
            v.iter()
                .map(|f| format!("{f:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        text.push_str(&format!(
            "[sources.{name}]\ntrust = {trust}\ntier = \"{tier}\"\nprefer = [{}]\nexclude = [{}]\n",
            list(prefer),
            list(exclude)
        ));
    }
    text
}

#[derive(Default)]
struct Collect(Vec<FieldChange>);

impl ChangeSink for Collect {
    fn change(&mut self, change: &FieldChange) -> std::io::Result<()> {
        self.0.push(change.clone());
        Ok(())
    }
}

/// (entity, field) -> (value, source) of every stored entity.
fn winners(p: &Projections) -> BTreeSet<(String, String, String, String)> {
    let db = p.open_read().unwrap().unwrap();
    db.entities(None)
        .unwrap()
        .into_iter()
        .flat_map(|m| {
            let id = m.entity_id.clone();
            m.values.into_iter().map(move |(f, v)| {
                (
                    id.clone(),
                    f.as_str().to_string(),
                    v.value.to_string(),
                    v.source,
                )
            })
        })
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn remerge_after_a_policy_change_equals_a_full_rebuild_with_the_new_policy(
        ops in prop::collection::vec(op(), 1..40),
        changes in prop::collection::vec((0..6usize, rules()), 0..3),
        gap in proptest::option::of(prop::sample::select(vec![0.05, 0.3])),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
        let mut run = None;
        for (n, op) in ops.iter().enumerate() {
            store.append(to_events(op, &mut run, n).into_iter().fold(AppendBatch::new(), AppendBatch::push)).unwrap();
        }
        let old = policy();
        let new = TrustPolicy::parse(&policy_text(&changes, gap), "new.toml", SOURCES).unwrap();

        let remerged = Projections::new(&dir.path().join("remerged"));
        remerged.rebuild(&store, &old, &mut |_, _| {}).unwrap();
        let dry = Projections::new(&dir.path().join("dry"));
        dry.rebuild(&store, &old, &mut |_, _| {}).unwrap();
        let before = dry.open_read().unwrap().unwrap().dump().unwrap();

        let report = remerged.remerge(&store, &new, SOURCES, &mut |_, _| {}).unwrap();
        let full = Projections::new(&dir.path().join("full"));
        full.rebuild(&store, &new, &mut |_, _| {}).unwrap();
        let a = remerged.open_read().unwrap().unwrap();
        let b = full.open_read().unwrap().unwrap();
        prop_assert_eq!(a.dump().unwrap(), b.dump().unwrap());
        prop_assert_eq!(a.meta().unwrap().policy_hash, new.hash().to_string());
        prop_assert!(report.entities_remerged <= report.entities_total);

        // The dry run names exactly the pairs that differ between the two rebuilds.
        let mut sink = Collect::default();
        let summary = dry.dry_run(&store, &new, SOURCES, &mut sink).unwrap();
        prop_assert_eq!(dry.open_read().unwrap().unwrap().dump().unwrap(), before, "a dry run writes nothing");
        let old_w = winners(&dry);
        let new_w = winners(&full);
        let differ: BTreeSet<(String, String)> = old_w
            .symmetric_difference(&new_w)
            .map(|(e, f, _, _)| (e.clone(), f.clone()))
            .collect();
        let listed: BTreeSet<(String, String)> = sink
            .0
            .iter()
            .map(|c| (c.entity_id.clone(), c.field.as_str().to_string()))
            .collect();
        prop_assert_eq!(&listed, &differ);
        prop_assert_eq!(summary.changes as usize, sink.0.len());
        prop_assert_eq!(summary.by_field.values().map(|m| m.changed).sum::<u64>(), summary.changes);
        let entities: BTreeSet<&String> = sink.0.iter().map(|c| &c.entity_id).collect();
        prop_assert_eq!(summary.entities_changed as usize, entities.len());
    }
}

/// Only the entities with a record from a source whose rules changed are merged again.
#[test]
fn a_change_to_one_source_remerges_only_the_entities_it_has_records_in() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
    let mut run = None;
    // Entity 0: google_places (source 1) and serper (0); entity 1: openstreetmap (2) only.
    let ops = [
        Op::Extract {
            cand: 0,
            source: 1,
            name: 0,
            phone: 0,
            placeholder: false,
            payload: 0,
        },
        Op::NewEntity { cand: 0, entity: 0 },
        Op::Extract {
            cand: 1,
            source: 0,
            name: 0,
            phone: 1,
            placeholder: false,
            payload: 0,
        },
        Op::Existing { cand: 1, entity: 0 },
        Op::Extract {
            cand: 2,
            source: 2,
            name: 1,
            phone: 2,
            placeholder: false,
            payload: 1,
        },
        Op::NewEntity { cand: 2, entity: 1 },
    ];
    for (n, op) in ops.iter().enumerate() {
        store
            .append(
                to_events(op, &mut run, n)
                    .into_iter()
                    .fold(AppendBatch::new(), AppendBatch::push),
            )
            .unwrap();
    }
    let p = Projections::new(&dir.path().join("p"));
    p.rebuild(&store, &policy(), &mut |_, _| {}).unwrap();
    let serper_down = TrustPolicy::parse(
        &policy_text(
            &[(
                0,
                Rules {
                    trust: 0.5,
                    official: false,
                    prefer_phone: false,
                    exclude_name: false,
                },
            )],
            None,
        ),
        "new.toml",
        SOURCES,
    )
    .unwrap();
    let report = p
        .remerge(&store, &serper_down, SOURCES, &mut |_, _| {})
        .unwrap();
    assert_eq!(report.mode, "remerge");
    assert_eq!(report.changed_sources, vec!["serper".to_string()]);
    assert_eq!(
        (report.entities_total, report.entities_remerged),
        (2, 1),
        "{report:?}"
    );
    // The same policy again: nothing to do.
    let again = p
        .remerge(&store, &serper_down, SOURCES, &mut |_, _| {})
        .unwrap();
    assert_eq!(
        (again.mode.as_str(), again.entities_remerged),
        ("unchanged", 0)
    );
    // Another conflict gap applies to every entity.
    let gap = TrustPolicy::parse(&policy_text(&[], Some(0.3)), "gap.toml", SOURCES).unwrap();
    let all = p.remerge(&store, &gap, SOURCES, &mut |_, _| {}).unwrap();
    assert_eq!(all.entities_remerged, 2, "{all:?}");
}

/// The re-merge and the dry run on PostgreSQL: the re-merged schema equals a full rebuild
/// with the new policy on SQLite, and the dry run lists the same changes.
#[test]
fn remerge_on_postgres_equals_a_full_rebuild_on_sqlite() {
    let Some(db) = trustfold_events::pg::testing::TestDb::create() else {
        return;
    };
    let url = db.store_url();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 10,
        ..ProptestConfig::default()
    });
    runner
        .run(
            &(
                prop::collection::vec(op(), 1..30),
                prop::collection::vec((0..6usize, rules()), 1..3),
            ),
            |(ops, changes)| {
                let dir = tempfile::tempdir().unwrap();
                let store =
                    SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite)
                        .unwrap();
                let mut run = None;
                for (n, op) in ops.iter().enumerate() {
                    store
                        .append(
                            to_events(op, &mut run, n)
                                .into_iter()
                                .fold(AppendBatch::new(), AppendBatch::push),
                        )
                        .unwrap();
                }
                let mut c = url.connect().unwrap();
                c.batch_execute("DROP TABLE IF EXISTS trustfold.projection_current")
                    .unwrap();
                let old = policy();
                let new =
                    TrustPolicy::parse(&policy_text(&changes, None), "new.toml", SOURCES).unwrap();
                let pg = trustfold_projections::PgProjections::new(&url);
                pg.rebuild(&store, &old, &mut |_, _| {}).unwrap();
                let mut sink = Collect::default();
                let summary = pg.dry_run(&store, &new, SOURCES, &mut sink).unwrap();
                pg.remerge(&store, &new, SOURCES, &mut |_, _| {}).unwrap();
                let full = Projections::new(&dir.path().join("full"));
                full.rebuild(&store, &new, &mut |_, _| {}).unwrap();
                let sqlite_dry = Projections::new(&dir.path().join("dry"));
                sqlite_dry.rebuild(&store, &old, &mut |_, _| {}).unwrap();
                let mut sqlite_sink = Collect::default();
                sqlite_dry
                    .dry_run(&store, &new, SOURCES, &mut sqlite_sink)
                    .unwrap();
                prop_assert_eq!(
                    pg.open_read().unwrap().unwrap().dump().unwrap(),
                    full.open_read().unwrap().unwrap().dump().unwrap()
                );
                prop_assert_eq!(&sink.0, &sqlite_sink.0);
                prop_assert_eq!(summary.changes as usize, sink.0.len());
                Ok(())
            },
        )
        .unwrap();
}
