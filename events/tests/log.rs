//! The event log against real SQLite files and blob stores in a scratch directory.

use std::collections::BTreeMap;

use rusqlite::{params, Connection};
use trustfold_events::*;
use uuid::Uuid;

fn scratch() -> (tempfile::TempDir, SqliteEventStore) {
    let dir = tempfile::tempdir().unwrap();
    let store =
        SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
    (dir, store)
}

fn request() -> RedactedRequest {
    RedactedRequest {
        method: "POST".into(),
        url: "https://places.googleapis.com/v1/places:searchText".into(),
        headers: vec![("X-Goog-FieldMask".into(), "places.id".into())],
        body: Some(r#"{"textQuery":"powerleague portobello"}"#.into()),
    }
}

fn figures() -> RunFigures {
    RunFigures {
        duration_ms: 1234,
        cost_usd: 0.027,
        connectors: vec![ConnectorFigures {
            connector: "serper".into(),
            status: "ok".into(),
            latency_ms: 1472,
            candidates: 10,
            cost_usd: 0.01,
            attempts: 1,
            transport: "fixture".into(),
            error: None,
        }],
        candidates_found: 15,
        accepted: 8,
        rejected: 7,
        entities_created: 3,
        entities_updated: 0,
        reviews_requested: 0,
        seen_unchanged: 0,
    }
}

/// One sample of every kind in the catalogue.
fn samples() -> Vec<EventPayload> {
    let hash = Hash32::of(b"{\"places\":[]}");
    let mut fields = CandidateFields {
        name: Some("Powerleague Portobello".into()),
        entity_class: Some("venue".into()),
        categories: vec!["five_a_side".into()],
        sports: vec!["football".into()],
        address_lines: vec!["10 Westbank Street".into()],
        locality: Some("Edinburgh".into()),
        postcode: Some("EH15 1DR".into()),
        country: Some("GB".into()),
        lat: Some(55.956_558),
        lon: Some(-3.119_323),
        phone: Some("+441314960123".into()),
        website: Some("https://www.powerleague.com/".into()),
        ev: Some(EvDetails {
            connector_types: vec!["Type 2".into()],
            power_kw_max: Some(7.0),
            points: Some(2),
            operator: None,
        }),
        rating: Some(4.4),
        rating_count: Some(310),
        description: Some("5-a-side football".into()),
        ..CandidateFields::default()
    };
    fields
        .socials
        .insert("facebook".into(), "https://facebook.com/powerleague".into());
    fields
        .external_ids
        .insert("sport_scotland".into(), vec!["pub_spfp.1029".into()]);
    let mut features = BTreeMap::new();
    features.insert("name_similarity".to_string(), 0.93);
    vec![
        RunStarted {
            query: "powerleague portobello".into(),
            mode: "discover-many".into(),
            budget_usd: 0.1,
            features: serde_json::json!({"brands": ["powerleague"], "areas": ["portobello"]}),
            selected: vec![PlannedConnector {
                connector: "serper".into(),
                phase: "discovery".into(),
                reason: "always".into(),
                cost_usd: 0.01,
                trust: 0.75,
            }],
            skipped: vec![SkippedConnector {
                connector: "open_charge_map".into(),
                reason: "not EV".into(),
            }],
            keep_off_topic: false,
        }
        .into(),
        ConnectorResponded {
            connector: "google_places".into(),
            request: request(),
            http_status: 200,
            latency_ms: 617,
            cost_usd: 0.017,
            attempt: 2,
            payload_hash: hash,
            payload_bytes: 13,
            content_type: Some("application/json".into()),
            transport: "fixture".into(),
        }
        .into(),
        ConnectorFailed {
            connector: "openstreetmap".into(),
            request: request(),
            error_class: ErrorClass::Timeout,
            http_status: None,
            message: "timed out after 3000 ms".into(),
            fingerprint: "ab12".into(),
            attempt: 1,
            latency_ms: 3000,
            will_retry: true,
            retry_after_ms: Some(250),
            payload_hash: None,
        }
        .into(),
        DeadLettered {
            dead_letter_id: "dl-1".into(),
            connector: "openstreetmap".into(),
            query: "powerleague portobello".into(),
            request: request(),
            error_class: ErrorClass::Http5xx,
            fingerprint: "ab12".into(),
            attempts: 3,
            last_message: "HTTP 503".into(),
        }
        .into(),
        CandidateExtracted {
            candidate_id: "cand-1".into(),
            source: "sport_scotland".into(),
            external_id: "pub_spfp.1029".into(),
            fields,
            extractor: "sport_scotland".into(),
            extractor_version: 1,
            payload_hash: hash,
            skipped_records: vec!["feature 3: no geometry".into()],
        }
        .into(),
        CandidateAccepted {
            candidate_id: "cand-1".into(),
            checks: vec!["name present".into()],
        }
        .into(),
        CandidateRejected {
            candidate_id: "cand-2".into(),
            reason: RejectReason::DuplicateInSource,
            detail: "same site as cand-1".into(),
            duplicate_of: Some("cand-1".into()),
        }
        .into(),
        CandidatesSeenAgain {
            source: "sport_scotland".into(),
            payload_hash: BlobHash::of(b"the register again"),
            extractor: "tabular_csv".into(),
            extractor_version: 1,
            earlier_payloads: vec![BlobHash::of(b"the register")],
            absent: vec!["cand-9".into()],
            n_records: 13_724,
            skipped_records: vec!["row 7: no name".into()],
        }
        .into(),
        MergeDecided {
            candidate_id: "cand-1".into(),
            decision: MergeOutcome::NeedsReview {
                review_id: "rev-1".into(),
                entity_ids: vec!["ent-1".into()],
            },
            score: 0.71,
            features,
            matcher_version: "1".into(),
            decided_by: "matcher".into(),
        }
        .into(),
        ReviewRequested {
            review_id: "rev-1".into(),
            reason: ReviewReason::AmbiguousMatch,
            candidate_id: Some("cand-1".into()),
            entity_ids: vec!["ent-1".into()],
            detail: "score 0.71 in the review band".into(),
        }
        .into(),
        ReviewResolved {
            review_id: "rev-1".into(),
            decision: ReviewDecision::Approved,
            reason: "same pitches".into(),
            by: "auditor".into(),
            entity_id: Some("ent-1".into()),
        }
        .into(),
        FieldOverridden {
            entity_id: "ent-1".into(),
            field: "phone".into(),
            value: Some(serde_json::json!("+441314960999")),
            reason: "called them".into(),
            by: "admin".into(),
        }
        .into(),
        EntitySplit {
            entity_id: "ent-1".into(),
            candidate_id: "cand-2".into(),
            into_entity_id: "ent-9".into(),
            new_entity: true,
            reason: "another club at the same school".into(),
            by: "auditor".into(),
        }
        .into(),
        EntitiesMerged {
            entity_id: "ent-1".into(),
            merged_entity_id: "ent-9".into(),
            candidate_ids: vec!["cand-2".into(), "cand-3".into()],
            reason: "one place after all".into(),
            by: "auditor".into(),
        }
        .into(),
        RunCompleted { figures: figures() }.into(),
        RunFailed {
            stage: "fetch".into(),
            error: "store full".into(),
            figures: figures(),
        }
        .into(),
        RunCancelled {
            reason: "SIGINT".into(),
            figures: figures(),
        }
        .into(),
    ]
}

#[test]
fn every_kind_round_trips_through_the_log() {
    let (_dir, store) = scratch();
    let samples = samples();
    let kinds: Vec<_> = samples.iter().map(|p| p.kind()).collect();
    assert_eq!(
        kinds,
        EventKind::ALL,
        "samples must cover the whole catalogue"
    );
    let run = Uuid::new_v4();
    let events: Vec<_> = samples
        .iter()
        .map(|p| NewEvent::new(format!("run/{run}"), p.clone()).in_run(run, "trace-1"))
        .collect();
    let appended = store
        .append(AppendBatch::for_stream(
            &format!("run/{run}"),
            ExpectedVersion::NoStream,
            events,
        ))
        .unwrap();
    assert_eq!(
        appended.seqs,
        (1..=samples.len() as u64).collect::<Vec<_>>()
    );
    let read: Vec<_> = store.read_from(1).collect::<Result<_, _>>().unwrap();
    assert_eq!(read.len(), samples.len());
    for (i, (ev, sample)) in read.iter().zip(&samples).enumerate() {
        assert_eq!(&ev.payload, sample);
        assert_eq!(ev.seq, i as u64 + 1);
        assert_eq!(ev.stream_version, i as u64 + 1);
        assert_eq!(ev.schema_version, sample.kind().current_version());
        assert_eq!(ev.run_id, Some(run));
        assert_eq!(ev.trace_id.as_deref(), Some("trace-1"));
        // Kind names parse back.
        assert_eq!(
            sample.kind().as_str().parse::<EventKind>().unwrap(),
            sample.kind()
        );
    }
    let stream = store.read_stream(&format!("run/{run}")).unwrap();
    assert_eq!(stream, read);
    assert!(verify(&store, None)
        .unwrap()
        .problems
        .iter()
        .all(|p| matches!(
            p,
            Problem::Blob {
                fault: BlobFault::Missing,
                ..
            }
        )));
}

fn accepted(id: &str) -> NewEvent {
    NewEvent::new(
        "candidate/c",
        CandidateAccepted {
            candidate_id: id.into(),
            checks: vec![],
        },
    )
}

#[test]
fn a_stale_expected_version_is_a_conflict_naming_both_versions() {
    let (_dir, store) = scratch();
    store
        .append(AppendBatch::for_stream(
            "candidate/c",
            ExpectedVersion::NoStream,
            vec![accepted("a")],
        ))
        .unwrap();
    let err = store
        .append(AppendBatch::for_stream(
            "candidate/c",
            ExpectedVersion::NoStream,
            vec![accepted("b")],
        ))
        .unwrap_err();
    match &err {
        StoreError::Conflict {
            stream,
            expected,
            actual,
        } => {
            assert_eq!(stream, "candidate/c");
            assert_eq!(*expected, ExpectedVersion::NoStream);
            assert_eq!(*actual, 1);
        }
        other => panic!("expected a conflict, got {other}"),
    }
    assert!(err.to_string().contains("candidate/c"), "{err}");
    let err = store
        .append(AppendBatch::for_stream(
            "candidate/c",
            ExpectedVersion::Exact(5),
            vec![accepted("b")],
        ))
        .unwrap_err();
    assert!(matches!(
        err,
        StoreError::Conflict {
            actual: 1,
            expected: ExpectedVersion::Exact(5),
            ..
        }
    ));
    // Nothing of the failed batches was written.
    assert_eq!(store.head().unwrap().unwrap().seq, 1);
    store
        .append(AppendBatch::for_stream(
            "candidate/c",
            ExpectedVersion::Exact(1),
            vec![accepted("b")],
        ))
        .unwrap();
    assert_eq!(store.stream_version("candidate/c").unwrap(), 2);
}

#[test]
fn a_retried_batch_is_a_no_op_returning_the_original_seqs() {
    let (_dir, store) = scratch();
    store
        .append(AppendBatch::new().push(accepted("x")))
        .unwrap();
    let batch = AppendBatch::for_stream(
        "candidate/c",
        ExpectedVersion::Exact(1),
        vec![accepted("a"), accepted("b")],
    );
    let first = store.append(batch.clone()).unwrap();
    assert_eq!(
        first,
        Appended {
            seqs: vec![2, 3],
            already_present: false
        }
    );
    // The retry's expected version is stale by now; it is still recognised as a retry.
    let again = store.append(batch.clone()).unwrap();
    assert_eq!(
        again,
        Appended {
            seqs: vec![2, 3],
            already_present: true
        }
    );
    assert_eq!(store.head().unwrap().unwrap().seq, 3);

    // Same id, different content: an error, nothing written.
    let mut changed = batch.events[0].clone();
    changed.payload = CandidateAccepted {
        candidate_id: "other".into(),
        checks: vec![],
    }
    .into();
    let err = store.append(AppendBatch::new().push(changed)).unwrap_err();
    assert!(matches!(err, StoreError::IdReused { seq: 2, .. }), "{err}");

    // Part of a batch present: not a retry.
    let err = store
        .append(
            AppendBatch::new()
                .push(batch.events[0].clone())
                .push(accepted("new")),
        )
        .unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::PartiallyPresent {
                present: 1,
                total: 2,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(store.head().unwrap().unwrap().seq, 3);
    assert!(verify(&store, None).unwrap().is_intact());
}

#[test]
fn limits_are_enforced_with_named_errors() {
    let (_dir, store) = scratch();
    let huge = "x".repeat(limits::EVENT_BYTES_MAX + 1);
    let err = store
        .append(AppendBatch::new().push(NewEvent::new(
            "s",
            CandidateAccepted {
                candidate_id: huge,
                checks: vec![],
            },
        )))
        .unwrap_err();
    assert!(err.to_string().contains("EVENT_BYTES_MAX"), "{err}");
    let too_many: Vec<_> = (0..=limits::BATCH_EVENTS_MAX)
        .map(|i| accepted(&i.to_string()))
        .collect();
    let err = store
        .append(AppendBatch {
            events: too_many,
            expected: BTreeMap::new(),
        })
        .unwrap_err();
    assert!(err.to_string().contains("BATCH_EVENTS_MAX"), "{err}");
    let err = store.append(AppendBatch::new()).unwrap_err();
    assert!(matches!(err, StoreError::InvalidBatch(_)));
    let err = store
        .append(AppendBatch::new().push(NewEvent::new(
            "s".repeat(300),
            CandidateAccepted {
                candidate_id: "c".into(),
                checks: vec![],
            },
        )))
        .unwrap_err();
    assert!(err.to_string().contains("STREAM_NAME_BYTES_MAX"), "{err}");
    let ev = accepted("dup");
    let err = store
        .append(AppendBatch::new().push(ev.clone()).push(ev))
        .unwrap_err();
    assert!(err.to_string().contains("appears twice"), "{err}");
    assert_eq!(store.head().unwrap(), None);
}

#[test]
fn reading_pages_through_a_log_longer_than_one_page() {
    let (_dir, store) = scratch();
    let n = limits::READ_PAGE_EVENTS * 2 + 17;
    let events: Vec<_> = (0..n).map(|i| accepted(&i.to_string())).collect();
    store
        .append(AppendBatch {
            events,
            expected: BTreeMap::new(),
        })
        .unwrap();
    let seqs: Vec<u64> = store.read_raw_from(1).map(|e| e.unwrap().seq).collect();
    assert_eq!(seqs, (1..=n as u64).collect::<Vec<_>>());
    let from: Vec<u64> = store
        .read_raw_from(n as u64 - 2)
        .map(|e| e.unwrap().seq)
        .collect();
    assert_eq!(from, vec![n as u64 - 2, n as u64 - 1, n as u64]);
}

/// Writes a raw row the way an older trustfold would have, with a correct chained hash.
fn insert_raw(path: &std::path::Path, kind: &str, version: u32, payload: &[u8]) -> u64 {
    let store = SqliteEventStore::open(path, OpenMode::ReadOnly).unwrap();
    let head = store.head().unwrap();
    drop(store);
    let seq = head.map_or(1, |h| h.seq + 1);
    let prev = head.map_or(Hash32::ZERO, |h| h.hash);
    let recorded_at = chrono::DateTime::parse_from_rfc3339("2026-01-27T08:57:31.000000Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let id = Uuid::new_v4();
    let env = Envelope {
        seq,
        id,
        stream: "run/old",
        stream_version: seq,
        kind,
        schema_version: version,
        recorded_at_us: recorded_at.timestamp_micros(),
        run_id: None,
        trace_id: None,
        causation_id: None,
        payload,
    };
    let hash = env.chained_hash(&prev);
    let conn = Connection::open(path).unwrap();
    conn.execute(
        "INSERT INTO events (seq, id, stream, stream_version, kind, schema_version, recorded_at_us, payload, hash) \
         VALUES (?1, ?2, 'run/old', ?1, ?3, ?4, ?5, ?6, ?7)",
        params![seq as i64, id.as_bytes().as_slice(), kind, version, recorded_at.timestamp_micros(), payload, hash.0.as_slice()],
    )
    .unwrap();
    conn.execute(
        "INSERT INTO log_meta (key, value) VALUES ('head_seq', ?1), ('head_hash', ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![seq.to_le_bytes().as_slice(), hash.0.as_slice()],
    )
    .unwrap();
    seq
}

#[test]
fn a_stored_v1_event_is_upcast_after_v2_exists() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("log.sqlite3");
    drop(SqliteEventStore::open(&path, OpenMode::ReadWrite).unwrap());
    assert_eq!(EventKind::ConnectorResponded.current_version(), 2);
    let hash = Hash32::of(b"old bytes");
    let v1 = serde_json::json!({
        "connector": "openstreetmap",
        "request": {"method": "POST", "url": "https://overpass-api.de/api/interpreter"},
        "http_status": 200,
        "latency_ms": 2000,
        "cost_usd": 0.0,
        "payload_hash": hash.to_hex(),
        "payload_bytes": 9
    });
    let seq = insert_raw(&path, "ConnectorResponded", 1, v1.to_string().as_bytes());
    let store = SqliteEventStore::open(&path, OpenMode::ReadWrite).unwrap();
    let ev = store.read_from(seq).next().unwrap().unwrap();
    assert_eq!(
        ev.schema_version, 1,
        "the stored version is reported as stored"
    );
    match ev.payload {
        EventPayload::ConnectorResponded(p) => {
            assert_eq!(p.connector, "openstreetmap");
            assert_eq!(p.attempt, 1);
            assert_eq!(p.transport, "http");
            assert_eq!(p.content_type, None);
            assert_eq!(p.payload_hash, hash);
        }
        other => panic!("unexpected {other:?}"),
    }
    // New events chain on after the old one; the log stays intact.
    store
        .append(AppendBatch::new().push(accepted("after")))
        .unwrap();
    let report = verify(&store, None).unwrap();
    assert!(
        report.problems.iter().all(
            |p| matches!(p, Problem::Blob { fault: BlobFault::Missing, seqs, .. } if seqs == &[1])
        ),
        "{:?}",
        report.problems
    );
}

#[test]
fn a_version_newer_than_this_build_is_a_clear_error() {
    let err = EventPayload::decode("RunCompleted", 9, b"{}").unwrap_err();
    assert!(err.to_string().contains("newer than this build"), "{err}");
    let err = EventPayload::decode("RunExploded", 1, b"{}").unwrap_err();
    assert!(
        err.to_string().contains("RunStarted"),
        "lists the known kinds: {err}"
    );
    let err = EventPayload::decode("RunCompleted", 1, b"{not json").unwrap_err();
    assert!(matches!(err, DecodeError::Json { .. }));
}

fn filled_store(n: usize) -> (tempfile::TempDir, std::path::PathBuf) {
    let (dir, store) = scratch();
    for i in 0..n {
        store
            .append(AppendBatch::new().push(accepted(&format!("c{i}"))))
            .unwrap();
    }
    let path = store.path().to_path_buf();
    drop(store);
    (dir, path)
}

fn first_problem(path: &std::path::Path) -> Problem {
    let store = SqliteEventStore::open(path, OpenMode::ReadOnly).unwrap();
    let report = verify(&store, None).unwrap();
    report
        .first_problem()
        .cloned()
        .expect("tampering must be detected")
}

#[test]
fn tampering_is_detected_at_the_first_bad_seq() {
    // A changed payload byte.
    let (_d, path) = filled_store(10);
    Connection::open(&path)
        .unwrap()
        .execute(
            "UPDATE events SET payload = replace(payload, 'c4', 'c9') WHERE seq = 5",
            [],
        )
        .unwrap();
    assert_eq!(first_problem(&path), Problem::HashMismatch { seq: 5 });

    // A deleted row.
    let (_d, path) = filled_store(10);
    Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM events WHERE seq = 7", [])
        .unwrap();
    assert_eq!(
        first_problem(&path),
        Problem::SeqGap {
            expected: 7,
            found: 8
        }
    );

    // Two rows swapped (content moved, seqs kept).
    let (_d, path) = filled_store(10);
    let conn = Connection::open(&path).unwrap();
    conn.execute_batch(
        "UPDATE events SET seq = -3 WHERE seq = 3; UPDATE events SET seq = 3 WHERE seq = 4; UPDATE events SET seq = 4 WHERE seq = -3;",
    )
    .unwrap();
    drop(conn);
    assert_eq!(first_problem(&path), Problem::HashMismatch { seq: 3 });

    // The last row removed.
    let (_d, path) = filled_store(10);
    Connection::open(&path)
        .unwrap()
        .execute("DELETE FROM events WHERE seq = 10", [])
        .unwrap();
    let p = first_problem(&path);
    assert!(matches!(p, Problem::HeadMismatch { .. }), "{p:?}");
    assert_eq!(p.seq(), Some(10));
}

#[test]
fn a_corrupted_blob_is_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let blob_dir = dir.path().join("blobs");
    let blobs = BlobStore::open(&blob_dir).unwrap();
    let hash = blobs.put(b"{\"places\":[1,2,3]}").unwrap();
    assert_eq!(
        blobs.put(b"{\"places\":[1,2,3]}").unwrap(),
        hash,
        "put is idempotent"
    );
    assert_eq!(blobs.get(&hash).unwrap(), b"{\"places\":[1,2,3]}");
    let store =
        SqliteEventStore::open(dir.path().join("log.sqlite3"), OpenMode::ReadWrite).unwrap();
    let failed = ConnectorFailed {
        connector: "serper".into(),
        request: request(),
        error_class: ErrorClass::Decode,
        http_status: Some(200),
        message: "truncated".into(),
        fingerprint: "f".into(),
        attempt: 1,
        latency_ms: 5,
        will_retry: false,
        retry_after_ms: None,
        payload_hash: Some(hash),
    };
    store
        .append(
            AppendBatch::new()
                .push(accepted("a"))
                .push(NewEvent::new("run/x", failed)),
        )
        .unwrap();
    assert!(verify(&store, Some(&blobs)).unwrap().is_intact());
    drop(blobs);

    // Bit rot: different bytes under the same name, written behind the store's back.
    let hex = hash.to_hex();
    std::fs::write(
        blob_dir.join("objects").join(&hex[..2]).join(&hex[2..]),
        b"{\"places\":[1,2,4]}",
    )
    .unwrap();

    let blobs = BlobStore::open(&blob_dir).unwrap();
    let err = blobs.get(&hash).unwrap_err();
    assert!(matches!(err, BlobError::Corrupt { .. }), "{err}");
    let report = verify(&store, Some(&blobs)).unwrap();
    assert_eq!(
        report.first_problem(),
        Some(&Problem::Blob {
            hash,
            fault: BlobFault::Corrupt,
            seqs: vec![2],
            n_events: 1
        })
    );
    assert!(matches!(
        blobs.put(&vec![0u8; limits::PAYLOAD_BYTES_MAX + 1]),
        Err(BlobError::TooLarge { .. })
    ));
}

#[test]
fn damaged_or_foreign_files_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.sqlite3");
    std::fs::write(
        &garbage,
        b"this is not a database at all, just some text that goes on and on".repeat(100),
    )
    .unwrap();
    let err = SqliteEventStore::open(&garbage, OpenMode::ReadWrite).unwrap_err();
    assert!(
        err.is_bad_input() && err.to_string().contains("garbage.sqlite3"),
        "{err}"
    );

    let foreign = dir.path().join("foreign.sqlite3");
    Connection::open(&foreign)
        .unwrap()
        .execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    let err = SqliteEventStore::open(&foreign, OpenMode::ReadWrite).unwrap_err();
    assert!(
        err.to_string().contains("not a trustfold event log"),
        "{err}"
    );

    let (_d, path) = filled_store(300);
    let bytes = std::fs::read(&path).unwrap();
    let truncated = dir.path().join("truncated.sqlite3");
    std::fs::write(&truncated, &bytes[..bytes.len() / 2]).unwrap();
    let outcome = SqliteEventStore::open(&truncated, OpenMode::ReadOnly).and_then(|s| {
        let n = s.read_raw_from(1).collect::<Result<Vec<_>, _>>()?.len();
        Ok(n)
    });
    match outcome {
        Err(e) => assert!(e.is_bad_input(), "{e}"),
        Ok(n) => panic!("a truncated log read back {n} events without complaint"),
    }

    let err = SqliteEventStore::open(dir.path(), OpenMode::ReadWrite).unwrap_err();
    assert!(err.is_bad_input(), "{err}");
}

#[test]
fn two_handles_appending_concurrently_stay_gap_free() {
    let (dir, store) = scratch();
    let path = store.path().to_path_buf();
    drop(store);
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = SqliteEventStore::open(&path, OpenMode::ReadWrite).unwrap();
                for i in 0..200 {
                    store
                        .append(AppendBatch::new().push(accepted(&format!("{t}-{i}"))))
                        .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let store = SqliteEventStore::open(&path, OpenMode::ReadOnly).unwrap();
    let seqs: Vec<u64> = store.read_raw_from(1).map(|e| e.unwrap().seq).collect();
    assert_eq!(seqs, (1..=400).collect::<Vec<_>>());
    assert!(verify(&store, None).unwrap().is_intact());
    drop(dir);
}

#[test]
fn a_long_batch_is_atomic_when_an_event_in_its_middle_is_too_big() {
    // Long batches are encoded on a second thread while the first inserts; an error half
    // way must still leave nothing behind.
    let (_dir, store) = scratch();
    let mut events: Vec<_> = (0..1000).map(|i| accepted(&i.to_string())).collect();
    events[700] = NewEvent::new(
        "candidate/c",
        CandidateAccepted {
            candidate_id: "x".repeat(limits::EVENT_BYTES_MAX + 1),
            checks: vec![],
        },
    );
    let err = store
        .append(AppendBatch {
            events,
            expected: BTreeMap::new(),
        })
        .unwrap_err();
    assert!(err.to_string().contains("EVENT_BYTES_MAX"), "{err}");
    assert_eq!(store.head().unwrap(), None);

    let events: Vec<_> = (0..1000).map(|i| accepted(&i.to_string())).collect();
    let batch = AppendBatch::for_stream("candidate/c", ExpectedVersion::NoStream, events);
    assert_eq!(
        store.append(batch.clone()).unwrap().seqs,
        (1..=1000).collect::<Vec<_>>()
    );
    let again = store.append(batch).unwrap();
    assert!(again.already_present);
    assert_eq!(again.seqs.len(), 1000);
    assert!(verify(&store, None).unwrap().is_intact());
}

#[test]
fn many_handles_opening_a_fresh_log_at_once_all_see_a_trustfold_log() {
    // Regression: opening read the application id and the table count separately, so a
    // process initialising the file in between made it look like a foreign database.
    for _ in 0..20 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.sqlite3");
        let threads: Vec<_> = (0..4)
            .map(|i| {
                let path = path.clone();
                std::thread::spawn(move || {
                    let store = SqliteEventStore::open(&path, OpenMode::ReadWrite)?;
                    store.append(AppendBatch::new().push(accepted(&i.to_string())))?;
                    Ok::<_, StoreError>(())
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap().unwrap();
        }
        let store = SqliteEventStore::open(&path, OpenMode::ReadOnly).unwrap();
        assert_eq!(store.head().unwrap().unwrap().seq, 4);
        assert!(verify(&store, None).unwrap().is_intact());
    }
}
