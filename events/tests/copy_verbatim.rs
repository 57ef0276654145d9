//! `PgEventStore::copy_verbatim`: a log copied from SQLite into PostgreSQL event for event
//! (what `trustfold migrate` does), and refused, with nothing written, where the events do
//! not continue the target's log. Runs on the server `TRUSTFOLD_TEST_PG_URL` names (a
//! throw-away database per test), and is skipped without one outside CI.

use trustfold_events::pg::testing::TestDb;
use trustfold_events::*;
use uuid::Uuid;

/// A SQLite log of `n` events over a few streams, with runs, traces and causations, and
/// the events as stored.
fn source(n: usize) -> (tempfile::TempDir, Vec<StoredEvent>) {
    let dir = tempfile::tempdir().unwrap();
    let log = SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
    let run = Uuid::now_v7();
    let mut cause = None;
    let mut appended = 0;
    while appended < n {
        // Batches of mixed streams, some long enough to be written with COPY by `append`.
        let len = (appended % 7 + 1) * 13;
        let events: Vec<NewEvent> = (0..len.min(n - appended))
            .map(|i| {
                let e = NewEvent::new(
                    format!("stream/{}", (appended + i) % 5),
                    CandidateAccepted {
                        candidate_id: format!("c{}", appended + i),
                        checks: vec!["valid".into(), format!("{i}")],
                    },
                )
                .in_run(run, "trace-1");
                match cause {
                    Some(c) if i % 3 == 0 => e.caused_by(c),
                    _ => e,
                }
            })
            .collect();
        cause = events.first().map(|e| e.id);
        appended += events.len();
        log.append(AppendBatch {
            events,
            expected: Default::default(),
        })
        .unwrap();
    }
    let stored: Vec<StoredEvent> = log.read_raw_from(1).map(|r| r.unwrap()).collect();
    assert_eq!(stored.len(), n);
    (dir, stored)
}

/// Every event of the store, as stored.
fn all(store: &dyn EventStore) -> Vec<StoredEvent> {
    store.read_raw_from(1).map(|r| r.unwrap()).collect()
}

#[test]
fn a_log_copied_in_slices_is_the_same_log_and_verifies() {
    let Some(db) = TestDb::create() else { return };
    let target = PgEventStore::open(&db.store_url(), true).unwrap();
    let (_dir, events) = source(2_500);
    for slice in [&events[..1], &events[1..1_200], &events[1_200..]] {
        let head = target.copy_verbatim(slice).unwrap();
        let last = slice.last().unwrap();
        assert_eq!((head.seq, head.hash), (last.seq, last.hash));
    }
    assert_eq!(all(&target), events, "every field, byte for byte");
    assert_eq!(target.recorded_head().unwrap(), target.head().unwrap());
    assert_eq!(target.check_tail().unwrap().unwrap().seq, 2_500);
    let report = verify(&target, None).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    // The copy goes on like any log: an append continues the chain after it.
    let appended = target
        .append(AppendBatch::new().push(NewEvent::new(
            "stream/0",
            CandidateAccepted {
                candidate_id: "after".into(),
                checks: vec![],
            },
        )))
        .unwrap();
    assert_eq!(appended.seqs, vec![2_501]);
    assert!(verify(&target, None).unwrap().is_intact());
}

/// A copy refused with `check` leaves the target exactly as it was.
fn assert_refused(
    target: &PgEventStore,
    batch: &[StoredEvent],
    what: &str,
    check: impl Fn(&StoreError) -> bool,
) {
    let before = all(target);
    let head_before = target.recorded_head().unwrap();
    let err = target.copy_verbatim(batch).unwrap_err();
    assert!(check(&err), "{what}: {err}");
    assert_eq!(all(target), before, "{what}: nothing written");
    assert_eq!(
        target.recorded_head().unwrap(),
        head_before,
        "{what}: the head did not move"
    );
}

#[test]
fn a_copy_that_does_not_continue_the_log_is_refused_and_writes_nothing() {
    let Some(db) = TestDb::create() else { return };
    let target = PgEventStore::open(&db.store_url(), true).unwrap();
    let (_dir, events) = source(300);
    let invalid = |e: &StoreError| matches!(e, StoreError::InvalidBatch(_));

    assert_refused(
        &target,
        &events[5..],
        "an empty log starts at seq 1",
        invalid,
    );
    target.copy_verbatim(&events[..100]).unwrap();
    assert_refused(&target, &events[101..], "a gap after the head", invalid);
    assert_refused(&target, &events[50..], "events already there", invalid);
    assert_refused(&target, &[], "an empty copy", invalid);

    // A gap inside the batch.
    let mut gapped = events[100..200].to_vec();
    gapped.remove(40);
    assert_refused(&target, &gapped, "a gap inside the batch", |e| {
        matches!(e, StoreError::ChainBroken { seq: 141, .. })
    });

    // The next events of another log: right seqs, but they chain onto another head.
    let (_other_dir, other) = source(300);
    assert_refused(&target, &other[100..200], "another log's events", |e| {
        matches!(e, StoreError::ChainBroken { seq: 101, .. })
    });

    // What a good copy then writes is what it was given.
    target.copy_verbatim(&events[100..]).unwrap();
    assert_eq!(all(&target), events);
}

#[test]
fn an_altered_event_is_refused_with_its_seq_and_nothing_of_the_batch_is_written() {
    let Some(db) = TestDb::create() else { return };
    let target = PgEventStore::open(&db.store_url(), true).unwrap();
    let (_dir, events) = source(400);
    target.copy_verbatim(&events[..100]).unwrap();

    // A payload changed after it was hashed, in the middle of a batch (COPY would take it).
    let mut altered = events[100..].to_vec();
    altered[150].payload = altered[150]
        .payload
        .iter()
        .map(|b| if *b == b'a' { b'b' } else { *b })
        .collect();
    assert_refused(&target, &altered, "an altered payload", |e| {
        matches!(e, StoreError::ChainBroken { seq: 251, .. }) && e.is_integrity()
    });

    // Another field under the hash: the recorded time.
    let mut retimed = events[100..].to_vec();
    retimed[0].recorded_at += chrono::Duration::microseconds(1);
    assert_refused(&target, &retimed, "an altered time", |e| {
        matches!(e, StoreError::ChainBroken { seq: 101, .. })
    });

    // A hash rewritten to match an altered event breaks the link to the next one.
    let mut forged = events[100..].to_vec();
    forged[10].stream_version += 1;
    forged[10].hash = forged[10].expected_hash(&forged[9].hash);
    assert_refused(&target, &forged, "a rehashed event", |e| {
        matches!(e, StoreError::ChainBroken { seq: 112, .. })
    });

    // A stream version that skips, re-hashed from there on so the chain holds.
    let mut skipping = events[100..].to_vec();
    let stream = skipping[0].stream.clone();
    let mut prev = events[99].hash;
    let mut bumped = false;
    for ev in &mut skipping {
        if ev.stream == stream {
            ev.stream_version += 1;
            bumped = true;
        }
        ev.hash = ev.expected_hash(&prev);
        prev = ev.hash;
    }
    assert!(bumped);
    assert_refused(
        &target,
        &skipping,
        "a stream version that skips",
        |e| matches!(e, StoreError::InvalidBatch(m) if m.contains("seq 101")),
    );

    target.copy_verbatim(&events[100..]).unwrap();
    assert!(verify(&target, None).unwrap().is_intact());
}

#[test]
fn a_copy_onto_a_tampered_tail_is_refused() {
    let Some(db) = TestDb::create() else { return };
    let url = db.store_url();
    let target = PgEventStore::open(&url, true).unwrap();
    let (_dir, events) = source(200);
    target.copy_verbatim(&events[..100]).unwrap();
    url.connect()
        .unwrap()
        .execute("DELETE FROM trustfold.events WHERE seq = 100", &[])
        .unwrap();
    assert_refused(&target, &events[100..], "a removed last event", |e| {
        e.is_integrity()
    });
}

#[test]
fn payloads_put_together_are_stored_once_each_and_a_too_large_one_refuses_the_group() {
    let Some(db) = TestDb::create() else { return };
    let blobs = PgBlobStore::open(&db.store_url(), true).unwrap();
    let early = blobs.put(b"stored before").unwrap();
    let payloads: Vec<Vec<u8>> = vec![
        b"first".to_vec(),
        b"stored before".to_vec(),
        b"second".to_vec(),
        b"first".to_vec(),
    ];
    let hashes = blobs.put_all(&payloads).unwrap();
    assert_eq!(hashes[1], early);
    assert_eq!(hashes[0], hashes[3]);
    for (hash, bytes) in hashes.iter().zip(&payloads) {
        assert_eq!(&blobs.get(hash).unwrap(), bytes);
    }
    assert_eq!(blobs.count(), 3);
    let absent = Hash32::of(b"never stored");
    let present = blobs.present(&[hashes[2], absent, early]).unwrap();
    assert_eq!(present, [hashes[2], early].into_iter().collect());

    // One payload too large: none of the group is written.
    let too_large = vec![0u8; limits::PAYLOAD_BYTES_MAX + 1];
    let refused = blobs.put_all(&[b"third".to_vec(), too_large]);
    assert!(
        matches!(refused, Err(BlobError::TooLarge { .. })),
        "{refused:?}"
    );
    assert!(!blobs.contains(&Hash32::of(b"third")).unwrap());
    assert_eq!(blobs.count(), 3);
}
