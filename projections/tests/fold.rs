//! Incremental catch-up after every event gives exactly the tables of a full rebuild.
//!
//! Random event sequences (extractions, re-extractions, records seen again from shared
//! payloads, merges into new and existing entities, repeats within a source, overrides
//! and their clearing, reviews, runs that start and end, people's splits and merges)
//! are appended to a real SQLite log one event at a time; one projection database is
//! caught up after each append, another is rebuilt once at the end, and every table of
//! the two must be identical row for row.

mod common;

use common::*;
use proptest::prelude::*;
use trustfold_events::*;
use trustfold_projections::Projections;

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn incremental_after_every_event_equals_a_full_rebuild(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
        let policy = policy();
        let incremental = Projections::new(&dir.path().join("inc"));
        // Rebuilt a few events at a time, so the rebuild crosses its slice boundaries too.
        let rebuilt = Projections::new(&dir.path().join("full")).with_rebuild_slice(7);
        let mut run = None;
        for (n, op) in ops.iter().enumerate() {
            let mut batch = AppendBatch::new();
            for ev in to_events(op, &mut run, n) {
                batch = batch.push(ev);
            }
            store.append(batch).unwrap();
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
            payload: i % 2,
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
    ops.push(Op::SeenAgain {
        earlier: 0,
        also: Some(1),
        absent: Some(2),
        now: 3,
    });
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
    // Payloads 0 and 1 were seen again in payload 3, but for candidate 2.
    let db = inc.open_read().unwrap().unwrap();
    let seen = |n: u8| db.candidate(&cid(n)).unwrap().unwrap().seen;
    assert!(seen(0).is_some() && seen(1).is_some(), "seen again");
    assert!(seen(2).is_none(), "absent from the new payload");
}

/// The same fold on PostgreSQL: caught up after every event there, it gives exactly the
/// tables of a rebuild on SQLite (the dumps are written column by column, by type, so two
/// engines compare).
#[test]
fn incremental_on_postgres_equals_a_rebuild_on_sqlite() {
    let Some(db) = trustfold_events::pg::testing::TestDb::create() else {
        return;
    };
    let url = db.store_url();
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig {
        cases: 12,
        ..ProptestConfig::default()
    });
    runner
        .run(&prop::collection::vec(op(), 1..30), |ops| {
            let dir = tempfile::tempdir().unwrap();
            let store = SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite)
                .unwrap();
            // A fresh pointer for each case: drop the last case's projections.
            let mut c = url.connect().unwrap();
            c.batch_execute("DROP TABLE IF EXISTS trustfold.projection_current")
                .unwrap();
            let pg = trustfold_projections::PgProjections::new(&url);
            let policy = policy();
            let mut run = None;
            for (n, op) in ops.iter().enumerate() {
                let mut batch = AppendBatch::new();
                for ev in to_events(op, &mut run, n) {
                    batch = batch.push(ev);
                }
                store.append(batch).unwrap();
                pg.catch_up(&store, &policy, SOURCES, &mut |_, _| {})
                    .unwrap();
            }
            let full = Projections::new(&dir.path().join("full")).with_rebuild_slice(5);
            full.rebuild(&store, &policy, &mut |_, _| {}).unwrap();
            let a = pg.open_read().unwrap().unwrap().dump().unwrap();
            let b = full.open_read().unwrap().unwrap().dump().unwrap();
            prop_assert_eq!(a, b);
            Ok(())
        })
        .unwrap();
}
