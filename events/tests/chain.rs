//! The chain as writers and readers check it: an append refuses to build on a tampered
//! tail, a checked read stops at the first break, `verify` names rows added by hand, and
//! an anchor kept elsewhere catches a removed tail whose recorded head was rewritten.

use rusqlite::{params, Connection};
use trustfold_events::*;

fn accepted(id: &str) -> NewEvent {
    NewEvent::new(
        "run/x",
        CandidateAccepted {
            candidate_id: id.into(),
            checks: vec!["valid".into()],
        },
    )
}

fn filled(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite3");
    let store = SqliteEventStore::open(&path, OpenMode::ReadWrite).unwrap();
    // Batches of 100: the chain spans batches as it spans single appends.
    let ids: Vec<usize> = (0..n).collect();
    for chunk in ids.chunks(100) {
        let events = chunk.iter().map(|i| accepted(&format!("c{i}"))).collect();
        store
            .append(AppendBatch {
                events,
                ..AppendBatch::default()
            })
            .unwrap();
    }
    (dir, path)
}

fn open(path: &std::path::Path) -> SqliteEventStore {
    SqliteEventStore::open(path, OpenMode::ReadWrite).unwrap()
}

/// Copies row `seq` as a new row `new_seq`, with its hash recomputed so that it chains
/// (`chain = true`), or kept as it was.
fn forge_row(path: &std::path::Path, seq: u64, new_seq: u64, chain: bool) {
    let store = open(path);
    let mut ev = store.read_at(seq).unwrap().unwrap();
    let prev = store.read_at(new_seq - 1).unwrap().unwrap().hash;
    ev.seq = new_seq;
    ev.id = uuid::Uuid::new_v4();
    ev.stream = "run/forged".into();
    ev.stream_version = 1;
    if chain {
        ev.hash = ev.expected_hash(&prev);
    }
    drop(store);
    Connection::open(path)
        .unwrap()
        .execute(
            "INSERT INTO events (seq, id, stream, stream_version, kind, schema_version, \
             recorded_at_us, run_id, trace_id, causation_id, payload, hash) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL, NULL, NULL, ?8, ?9)",
            params![
                ev.seq as i64,
                ev.id.as_bytes().as_slice(),
                ev.stream,
                ev.stream_version as i64,
                ev.kind,
                ev.schema_version,
                ev.recorded_at.timestamp_micros(),
                ev.payload,
                ev.hash.0.as_slice()
            ],
        )
        .unwrap();
}

#[test]
fn verify_names_a_row_added_by_hand_and_what_is_wrong_with_it() {
    for chain in [false, true] {
        let (_d, path) = filled(66);
        forge_row(&path, 10, 67, chain);
        let store = open(&path);
        let report = verify(&store, None).unwrap();
        let first = report.first_problem().unwrap().clone();
        match &first {
            Problem::Unrecorded {
                seq,
                recorded_seq,
                kind,
                stream,
                chains,
            } => {
                assert_eq!((*seq, *recorded_seq), (67, 66));
                assert_eq!(kind, "CandidateAccepted");
                assert_eq!(stream, "run/forged");
                assert_eq!(*chains, chain);
            }
            other => panic!("{other:?}"),
        }
        let text = first.to_string();
        assert!(
            text.starts_with("seq 67: added outside trustfold"),
            "{text}"
        );
        assert!(!text.contains("removed"), "{text}");
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    }
}

#[test]
fn an_append_refuses_to_chain_onto_a_tampered_tail() {
    // The last event altered.
    let (_d, path) = filled(5);
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE events SET payload = replace(payload, 'c4', 'c9') WHERE seq = 5",
            [],
        )
        .unwrap();
    let store = open(&path);
    let err = store
        .append(AppendBatch::new().push(accepted("next")))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ChainBroken { seq: 5, .. }),
        "{err}"
    );
    assert!(err.is_integrity());
    assert_eq!(store.head().unwrap().unwrap().seq, 5, "nothing appended");

    // Events removed from the end.
    let (_d, path) = filled(5);
    Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM events WHERE seq >= 4", [])
        .unwrap();
    let err = open(&path)
        .append(AppendBatch::new().push(accepted("next")))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ChainBroken { seq: 4, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("removed"), "{err}");

    // A row added by hand.
    let (_d, path) = filled(5);
    forge_row(&path, 2, 6, true);
    let err = open(&path)
        .append(AppendBatch::new().push(accepted("next")))
        .unwrap_err();
    assert!(
        matches!(err, StoreError::ChainBroken { seq: 6, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("added outside trustfold"), "{err}");
}

#[test]
fn a_checked_read_stops_at_the_first_break_and_reads_clean_logs_whole() {
    let (_d, path) = filled(3000);
    let store = open(&path);
    let seqs: Vec<u64> = store.read_checked_from(1).map(|e| e.unwrap().seq).collect();
    assert_eq!(seqs.len(), 3000);
    let tail: Vec<u64> = store
        .read_checked_from(2990)
        .map(|e| e.unwrap().seq)
        .collect();
    assert_eq!(tail, (2990..=3000).collect::<Vec<_>>());
    drop(store);

    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE events SET payload = replace(payload, 'c2000', 'c2001') WHERE seq = 2001",
            [],
        )
        .unwrap();
    let store = open(&path);
    for from in [1, 1500, 2001] {
        let read: Vec<Result<StoredEvent, StoreError>> = store.read_checked_from(from).collect();
        let ok = read.iter().take_while(|r| r.is_ok()).count() as u64;
        assert_eq!(ok, 2001 - from, "from {from}: the events before the break");
        match read.last().unwrap() {
            Err(StoreError::ChainBroken { seq: 2001, .. }) => {}
            other => panic!("from {from}: {other:?}"),
        }
        assert_eq!(read.len() as u64, ok + 1, "nothing after the break");
    }
    // The default implementation (any store) agrees.
    struct Plain<'a>(&'a SqliteEventStore);
    impl EventStore for Plain<'_> {
        fn append(&self, b: AppendBatch) -> Result<Appended, StoreError> {
            self.0.append(b)
        }
        fn head(&self) -> Result<Option<Head>, StoreError> {
            self.0.head()
        }
        fn recorded_head(&self) -> Result<Option<Head>, StoreError> {
            self.0.recorded_head()
        }
        fn stream_version(&self, s: &str) -> Result<u64, StoreError> {
            self.0.stream_version(s)
        }
        fn read_raw_from(&self, from: u64) -> StoredEvents<'_> {
            self.0.read_raw_from(from)
        }
        fn read_stream(&self, s: &str) -> Result<Vec<RecordedEvent>, StoreError> {
            self.0.read_stream(s)
        }
        fn location(&self) -> String {
            EventStore::location(self.0)
        }
        fn backend(&self) -> trustfold_events::Backend<'_> {
            self.0.backend()
        }
        fn read_filtered(&self, f: EventFilter) -> StoredEvents<'_> {
            self.0.read_filtered(f)
        }
        fn read_seqs(&self, seqs: &[u64]) -> Result<Vec<StoredEvent>, StoreError> {
            self.0.read_seqs(seqs)
        }
        fn reader(&self) -> Result<Box<dyn EventStore>, StoreError> {
            EventStore::reader(self.0)
        }
        fn existing_ids(
            &self,
            ids: &[uuid::Uuid],
        ) -> Result<std::collections::HashSet<uuid::Uuid>, StoreError> {
            self.0.existing_ids(ids)
        }
        fn check_tail(&self) -> Result<Option<Head>, StoreError> {
            self.0.check_tail()
        }
        fn seq_of(&self, id: uuid::Uuid) -> Result<Option<u64>, StoreError> {
            self.0.seq_of(id)
        }
    }
    let read: Vec<_> = Plain(&store).read_checked_from(1000).collect();
    assert_eq!(read.iter().filter(|r| r.is_ok()).count(), 1001);
    assert!(matches!(
        read.last().unwrap(),
        Err(StoreError::ChainBroken { seq: 2001, .. })
    ));
}

#[test]
fn an_anchor_kept_elsewhere_catches_a_removed_tail_with_a_rewritten_head() {
    let (_d, path) = filled(66);
    let store = open(&path);
    let anchor = store.head().unwrap().unwrap();
    let earlier = store.read_at(40).unwrap().unwrap();
    let options = VerifyOptions {
        expect: vec![
            anchor,
            Head {
                seq: 40,
                hash: earlier.hash,
            },
        ],
        ..VerifyOptions::default()
    };
    let report = verify_with(&store, None, &options).unwrap();
    assert!(report.is_intact(), "{:?}", report.problems);
    assert_eq!(report.n_anchors_checked, 2);
    drop(store);

    // Remove the last six events and rewrite the recorded head to match what is left.
    let conn = Connection::open(&path).unwrap();
    let new_head: Vec<u8> = conn
        .query_row("SELECT hash FROM events WHERE seq = 60", [], |r| r.get(0))
        .unwrap();
    conn.execute_batch("DELETE FROM events WHERE seq > 60")
        .unwrap();
    conn.execute(
        "UPDATE log_meta SET value = ?1 WHERE key = 'head_seq'",
        [60u64.to_le_bytes().as_slice()],
    )
    .unwrap();
    conn.execute(
        "UPDATE log_meta SET value = ?1 WHERE key = 'head_hash'",
        [new_head.as_slice()],
    )
    .unwrap();
    drop(conn);
    let store = open(&path);
    // The chain agrees with itself: without an anchor nothing can tell.
    assert!(verify(&store, None).unwrap().is_intact());
    let report = verify_with(&store, None, &options).unwrap();
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    let p = &report.problems[0];
    assert!(
        matches!(
            p,
            Problem::AnchorMismatch {
                found: None,
                log_end: 60,
                ..
            }
        ),
        "{p:?}"
    );
    assert_eq!(p.seq(), Some(61));
    assert!(p.to_string().contains("seq 66"), "{p}");
    assert_eq!(report.n_anchors_checked, 1, "the seq 40 anchor still holds");

    // A rewritten history (hashes recomputed from an altered event on) fails the anchor.
    let wrong = Head {
        seq: 40,
        hash: Hash32::of(b"not it"),
    };
    let report = verify_with(
        &store,
        None,
        &VerifyOptions {
            expect: vec![wrong],
            ..VerifyOptions::default()
        },
    )
    .unwrap();
    assert!(matches!(
        report.first_problem(),
        Some(Problem::AnchorMismatch { found: Some(_), .. })
    ));
}

#[test]
fn more_rows_added_by_hand_than_a_report_lists_are_named_from_the_first() {
    let (_d, path) = filled(66);
    let conn = Connection::open(&path).unwrap();
    for offset in [66, 132] {
        conn.execute(
            "INSERT INTO events (seq, id, stream, stream_version, kind, schema_version, \
             recorded_at_us, run_id, trace_id, causation_id, payload, hash) \
             SELECT seq + ?1, randomblob(16), 'run/forged-' || (seq + ?1), 1, kind, \
             schema_version, recorded_at_us, run_id, trace_id, causation_id, payload, hash \
             FROM events WHERE seq <= 66",
            [offset],
        )
        .unwrap();
    }
    drop(conn);
    let report = verify(&open(&path), None).unwrap();
    assert!(report.truncated);
    assert_eq!(report.problems.len(), VERIFY_PROBLEMS_MAX);
    assert_eq!(report.first_problem().and_then(Problem::seq), Some(67));
    assert!(report
        .problems
        .iter()
        .all(|p| matches!(p, Problem::Unrecorded { chains: false, .. })));
}
