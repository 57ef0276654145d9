//! One conformance suite for the event store and the blob store, run against both engines:
//! the embedded SQLite log with its file blob store, and PostgreSQL (a throw-away database
//! per test on the server `TRUSTFOLD_TEST_PG_URL` names; under `CI=true` it must be set).
//! The same test bodies, not copies.

use std::collections::BTreeSet;
use std::sync::Arc;

use trustfold_events::pg::testing::TestDb;
use trustfold_events::*;
use uuid::Uuid;

/// One engine's stores, and a way to open more handles on the same log.
struct Engine {
    name: &'static str,
    store: Box<dyn EventStore>,
    blobs: Box<dyn Blobs>,
    reopen: Box<dyn Fn() -> Box<dyn EventStore> + Send + Sync>,
    /// Changes one payload byte of the event at `seq`, outside trustfold.
    tamper: Box<dyn Fn(u64)>,
    _keep: Box<dyn std::any::Any>,
}

fn sqlite() -> Engine {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log.sqlite3");
    let open = {
        let log = log.clone();
        move || -> Box<dyn EventStore> {
            Box::new(SqliteEventStore::open(&log, OpenMode::ReadWrite).unwrap())
        }
    };
    let tamper_log = log.clone();
    Engine {
        name: "sqlite",
        store: open(),
        blobs: Box::new(BlobStore::open(dir.path().join("blobs")).unwrap()),
        reopen: Box::new(open),
        tamper: Box::new(move |seq| {
            let c = rusqlite::Connection::open(&tamper_log).unwrap();
            c.execute(
                "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'a', 'b') AS BLOB) WHERE seq = ?1",
                [seq as i64],
            )
            .unwrap();
        }),
        _keep: Box::new(dir),
    }
}

fn postgres() -> Option<Engine> {
    let db = TestDb::create()?;
    let url = db.store_url();
    let open = {
        let url = url.clone();
        move || -> Box<dyn EventStore> { Box::new(PgEventStore::open(&url, true).unwrap()) }
    };
    let tamper_url = url.clone();
    Some(Engine {
        name: "postgres",
        store: open(),
        blobs: Box::new(PgBlobStore::open(&url, true).unwrap()),
        reopen: Box::new(open),
        tamper: Box::new(move |seq| {
            let mut c = tamper_url.connect().unwrap();
            c.execute(
                "UPDATE trustfold.events SET payload = convert_to(replace(convert_from(payload, 'UTF8'), 'a', 'b'), 'UTF8') WHERE seq = $1",
                &[&(seq as i64)],
            )
            .unwrap();
        }),
        _keep: Box::new(db),
    })
}

/// Runs `test` on every engine available.
fn on_every_engine(test: impl Fn(&Engine)) {
    test(&sqlite());
    if let Some(pg) = postgres() {
        test(&pg);
    }
}

fn accepted(cid: &str) -> CandidateAccepted {
    CandidateAccepted {
        candidate_id: cid.into(),
        checks: vec!["valid".into()],
    }
}

fn ev(stream: &str, cid: &str) -> NewEvent {
    NewEvent::new(stream, accepted(cid))
}

#[test]
fn appends_are_gap_free_chained_and_read_back_in_order() {
    on_every_engine(|e| {
        let s = &*e.store;
        let run = Uuid::now_v7();
        let first = s
            .append(AppendBatch::for_stream(
                "run/1",
                ExpectedVersion::NoStream,
                vec![ev("run/1", "a").in_run(run, "t1"), ev("run/1", "b")],
            ))
            .unwrap();
        assert_eq!(first.seqs, vec![1, 2], "{}", e.name);
        // A long batch (written with COPY on PostgreSQL).
        let many: Vec<NewEvent> = (0..300).map(|i| ev("bulk", &format!("c{i}"))).collect();
        let bulk = s.append(AppendBatch::new().push(many[0].clone())).unwrap();
        assert_eq!(bulk.seqs, vec![3]);
        let rest = s
            .append(AppendBatch {
                events: many[1..].to_vec(),
                expected: Default::default(),
            })
            .unwrap();
        assert_eq!(rest.seqs, (4..=302).collect::<Vec<_>>(), "{}", e.name);
        let read: Vec<u64> = s.read_raw_from(1).map(|r| r.unwrap().seq).collect();
        assert_eq!(read, (1..=302).collect::<Vec<_>>(), "{}", e.name);
        assert_eq!(s.head().unwrap().unwrap().seq, 302);
        assert_eq!(s.recorded_head().unwrap(), s.head().unwrap(), "{}", e.name);
        assert_eq!(s.stream_version("bulk").unwrap(), 300);
        let report = verify(s, Some(&*e.blobs)).unwrap();
        assert!(report.is_intact(), "{}: {:?}", e.name, report.problems);
        // Filters and point reads.
        let of_run: Vec<u64> = s
            .read_filtered(EventFilter {
                run_id: Some(run),
                ..EventFilter::default()
            })
            .map(|r| r.unwrap().seq)
            .collect();
        assert_eq!(of_run, vec![1], "{}", e.name);
        let of_stream = s.read_stream("run/1").unwrap();
        assert_eq!(of_stream.len(), 2);
        let picked: Vec<u64> = s
            .read_seqs(&[5, 2, 300])
            .unwrap()
            .iter()
            .map(|ev| ev.seq)
            .collect();
        assert_eq!(picked, vec![5, 2, 300], "{}", e.name);
        assert!(s.read_seqs(&[999]).is_err(), "{}", e.name);
        assert_eq!(s.read_at(7).unwrap().unwrap().seq, 7);
        assert!(s.read_at(999).unwrap().is_none());
        let present = s.existing_ids(&[many[5].id, Uuid::now_v7()]).unwrap();
        assert_eq!(present, [many[5].id].into_iter().collect(), "{}", e.name);
        let at_7 = s.read_at(7).unwrap().unwrap();
        assert_eq!(s.seq_of(at_7.id).unwrap(), Some(7), "{}", e.name);
        assert_eq!(s.seq_of(Uuid::now_v7()).unwrap(), None, "{}", e.name);
        assert_eq!(s.check_tail().unwrap().unwrap().seq, 302, "{}", e.name);
    });
}

#[test]
fn the_compare_and_swap_refuses_a_stale_writer_and_retries_are_idempotent() {
    on_every_engine(|e| {
        let s = &*e.store;
        let a = ev("entity/x", "a");
        s.append(AppendBatch::for_stream(
            "entity/x",
            ExpectedVersion::NoStream,
            vec![a.clone()],
        ))
        .unwrap();
        let stale = s.append(AppendBatch::for_stream(
            "entity/x",
            ExpectedVersion::NoStream,
            vec![ev("entity/x", "b")],
        ));
        assert!(
            matches!(stale, Err(StoreError::Conflict { actual: 1, .. })),
            "{}: {stale:?}",
            e.name
        );
        let exact = s
            .append(AppendBatch::for_stream(
                "entity/x",
                ExpectedVersion::Exact(1),
                vec![ev("entity/x", "c")],
            ))
            .unwrap();
        assert_eq!(exact.seqs, vec![2]);
        // The same event again: the original seq, nothing written.
        let again = s.append(AppendBatch::new().push(a.clone())).unwrap();
        assert_eq!(
            (again.seqs, again.already_present),
            (vec![1], true),
            "{}",
            e.name
        );
        // The same id for other content: refused.
        let reused = s.append(AppendBatch::new().push(ev("entity/x", "z").with_id(a.id)));
        assert!(
            matches!(reused, Err(StoreError::IdReused { seq: 1, .. })),
            "{}",
            e.name
        );
        // Part of a batch present: refused whole.
        let partial = s.append(AppendBatch::new().push(a).push(ev("entity/y", "d")));
        assert!(
            matches!(
                partial,
                Err(StoreError::PartiallyPresent { present: 1, .. })
            ),
            "{}: {partial:?}",
            e.name
        );
        assert_eq!(
            s.head().unwrap().unwrap().seq,
            2,
            "{}: nothing more written",
            e.name
        );
    });
}

#[test]
fn concurrent_writers_on_separate_connections_never_leave_a_gap() {
    on_every_engine(|e| {
        let reopen = Arc::new(&e.reopen);
        std::thread::scope(|scope| {
            for w in 0..4 {
                let reopen = Arc::clone(&reopen);
                scope.spawn(move || {
                    let store = reopen();
                    for i in 0..25 {
                        store
                            .append(AppendBatch::new().push(ev(&format!("w{w}"), &format!("{i}"))))
                            .unwrap();
                    }
                });
            }
        });
        let seqs: Vec<u64> = e.store.read_raw_from(1).map(|r| r.unwrap().seq).collect();
        assert_eq!(seqs, (1..=100).collect::<Vec<_>>(), "{}", e.name);
        for w in 0..4 {
            assert_eq!(e.store.stream_version(&format!("w{w}")).unwrap(), 25);
        }
        assert!(verify(&*e.store, None).unwrap().is_intact(), "{}", e.name);
    });
}

#[test]
fn blobs_are_content_addressed_and_verified_on_every_read() {
    on_every_engine(|e| {
        let b = &*e.blobs;
        let h = b.put(b"payload one").unwrap();
        assert_eq!(h, BlobHash::of(b"payload one"));
        assert_eq!(b.put(b"payload one").unwrap(), h, "idempotent");
        assert_eq!(b.get(&h).unwrap(), b"payload one".to_vec());
        assert!(b.contains(&h).unwrap());
        let missing = BlobHash::of(b"never stored");
        assert!(
            matches!(b.get(&missing), Err(BlobError::Missing(_))),
            "{}",
            e.name
        );
        assert_eq!(b.count(), 1);
        assert!(b.verify_all().unwrap().is_empty());
        let big = vec![0u8; trustfold_events::limits::PAYLOAD_BYTES_MAX + 1];
        assert!(
            matches!(b.put(&big), Err(BlobError::TooLarge { .. })),
            "{}",
            e.name
        );
    });
}

#[test]
fn a_changed_payload_is_named_by_verify_and_stops_a_checked_read() {
    on_every_engine(|e| {
        let s = &*e.store;
        for i in 0..5 {
            s.append(AppendBatch::new().push(ev("s", &format!("cand-{i}"))))
                .unwrap();
        }
        (e.tamper)(3);
        let report = verify(s, None).unwrap();
        assert_eq!(
            report.first_problem().and_then(|p| p.seq()),
            Some(3),
            "{}: {:?}",
            e.name,
            report.problems
        );
        let read: Vec<_> = s.read_checked_from(1).collect();
        let broken = read.iter().find_map(|r| r.as_ref().err());
        assert!(
            matches!(broken, Some(StoreError::ChainBroken { seq: 3, .. })),
            "{}: {broken:?}",
            e.name
        );
        let seqs: BTreeSet<u64> = read
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|e| e.seq)
            .collect();
        assert_eq!(
            seqs,
            [1, 2].into_iter().collect(),
            "{}: nothing past the break",
            e.name
        );
    });
}
