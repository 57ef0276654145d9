//! The log: appends, concurrent writers, kill -9, verify and tampering, bad data dirs.

use super::*;

#[test]
fn events_lists_and_filters_the_log() {
    let dir = setup();
    dir.append(10, 5);
    let all = dir.run(&["events", "--json"]);
    assert_success(&all);
    let all = ndjson(&all);
    assert_eq!(all.len(), 10);
    for (i, e) in all.iter().enumerate() {
        assert_eq!(e["seq"], i as u64 + 1);
        assert_eq!(e["kind"], "CandidateAccepted");
        assert_eq!(e["schema_version"], 1);
        assert_eq!(e["hash"].as_str().unwrap().len(), 64);
    }
    let stream = dir.run(&["events", "--json", "--stream", "synthetic/w/1"]);
    let stream = ndjson(&stream);
    assert_eq!(
        stream
            .iter()
            .map(|e| e["seq"].as_u64().unwrap())
            .collect::<Vec<_>>(),
        vec![6, 7, 8, 9, 10]
    );
    let grep = ndjson(&dir.run(&["events", "--json", "--grep", "W-0-3-OF-5"]));
    assert_eq!(grep.len(), 1);
    assert_eq!(grep[0]["payload"]["candidate_id"], "w-0-3-of-5");
    let from = ndjson(&dir.run(&["events", "--json", "--from", "9"]));
    assert_eq!(from.len(), 2);
    assert!(ndjson(&dir.run(&["events", "--json", "--kind", "RunStarted"])).is_empty());
    let text = dir.run(&["events", "--kind", "CandidateAccepted"]);
    assert_success(&text);
    assert_eq!(stdout(&text).lines().count(), 10);

    let bad = dir.run(&["events", "--kind", "RunExploded"]);
    assert_exit(&bad, 2);
    assert!(
        stderr(&bad).contains("RunExploded") && stderr(&bad).contains("RunStarted"),
        "{}",
        stderr(&bad)
    );
    let bad = dir.run(&["events", "--run", "not-a-uuid"]);
    assert_exit(&bad, 2);
    assert!(stderr(&bad).contains("not-a-uuid"));
    assert_exit(&dir.run(&["events", "--from", "minus-one"]), 2);
}

#[test]
fn two_processes_append_5000_events_each_without_gaps() {
    let dir = setup();
    std::fs::create_dir_all(&dir.data).unwrap();
    let children: Vec<_> = ["a", "b"]
        .iter()
        .map(|tag| {
            dir.cmd()
                .args([
                    "dev",
                    "append-synthetic",
                    "--events",
                    "5000",
                    "--batch",
                    "1",
                    "--tag",
                    tag,
                ])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_success(&out);
    }
    assert_eq!(seqs(&dir), (1..=10_000).collect::<Vec<_>>());
    let out = dir.run(&["events", "--json", "--grep", "\"a-"]);
    assert_eq!(
        ndjson(&out).len(),
        5000,
        "each writer's events are all there"
    );
    let verify = dir.run(&["verify"]);
    assert_success(&verify);
    assert!(
        stdout(&verify).contains("intact: 10000 events"),
        "{}",
        stdout(&verify)
    );
}

#[test]
fn a_writer_killed_mid_stream_leaves_no_partial_batch() {
    let dir = setup();
    dir.append(1, 1);
    let mut rng = 0x9e37_79b9_u64;
    for round in 0..20 {
        let mut child = dir
            .cmd()
            .args([
                "dev",
                "append-synthetic",
                "--events",
                "10000000",
                "--batch",
                "50",
                "--tag",
                &format!("k{round}"),
            ])
            .arg("--with-blobs")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        std::thread::sleep(Duration::from_millis(30 + rng % 250));
        // SIGKILL: no destructor, no flush, no rollback by the process itself.
        child.kill().unwrap();
        child.wait().unwrap();
    }
    let verify = dir.run(&["verify"]);
    assert_success(&verify);
    // Every batch is its own stream of exactly 50 events: a partial batch would be short.
    let events = ndjson(&dir.run(&["events", "--json"]));
    let mut per_stream = std::collections::BTreeMap::<String, u64>::new();
    for e in &events {
        *per_stream
            .entry(e["stream"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    let partial: Vec<_> = per_stream
        .iter()
        .filter(|(s, n)| s.starts_with("synthetic/k") && **n != 50)
        .collect();
    assert!(partial.is_empty(), "partial batches: {partial:?}");
    // Some batches landed (how many depends on the machine's speed); the invariant is above.
    let landed = per_stream
        .keys()
        .filter(|s| s.starts_with("synthetic/k"))
        .count();
    assert!(landed >= 1, "no writer got a batch in before being killed");
}

#[test]
fn verify_names_the_seq_of_a_changed_payload_byte() {
    if embedded_only("rows of log.sqlite3 altered (postgres: migrate.rs tampering test)") {
        return;
    }
    let dir = setup();
    dir.append(20, 4);
    assert_success(&dir.run(&["verify"]));
    let conn = sqlite(&dir.log());
    let payload: Vec<u8> = conn
        .query_row("SELECT payload FROM events WHERE seq = 13", [], |r| {
            r.get(0)
        })
        .unwrap();
    let mut changed = payload.clone();
    let pos = changed.iter().position(|b| b.is_ascii_digit()).unwrap();
    changed[pos] = if changed[pos] == b'9' {
        b'8'
    } else {
        changed[pos] + 1
    };
    conn.execute("UPDATE events SET payload = ?1 WHERE seq = 13", [changed])
        .unwrap();
    drop(conn);
    assert_integrity_failure_at(&dir, 13);
}

#[test]
fn verify_names_the_seq_of_a_deleted_row() {
    if embedded_only("rows of log.sqlite3 altered (postgres: migrate.rs tampering test)") {
        return;
    }
    let dir = setup();
    dir.append(20, 4);
    sqlite(&dir.log())
        .execute("DELETE FROM events WHERE seq = 8", [])
        .unwrap();
    assert_integrity_failure_at(&dir, 8);
}

#[test]
fn verify_names_the_seq_of_two_swapped_rows() {
    if embedded_only("rows of log.sqlite3 altered (postgres: migrate.rs tampering test)") {
        return;
    }
    let dir = setup();
    dir.append(20, 4);
    sqlite(&dir.log())
        .execute_batch("UPDATE events SET seq = -1 WHERE seq = 11; UPDATE events SET seq = 11 WHERE seq = 12; UPDATE events SET seq = 12 WHERE seq = -1;")
        .unwrap();
    assert_integrity_failure_at(&dir, 11);
}

#[test]
fn verify_detects_a_corrupted_blob() {
    if embedded_only("a blob file altered on disk") {
        return;
    }
    let dir = setup();
    let out = dir.run(&[
        "dev",
        "append-synthetic",
        "--events",
        "12",
        "--batch",
        "4",
        "--with-blobs",
    ]);
    assert_success(&out);
    assert!(stdout(&dir.run(&["verify"])).contains("3 blobs checked"));
    // The second batch's payload blob, named by the event at seq 8.
    let events = ndjson(&dir.run(&["events", "--json", "--kind", "ConnectorResponded"]));
    let target = events
        .iter()
        .find(|e| e["seq"] == 8)
        .expect("seq 8 names a blob");
    let hash = target["payload"]["payload_hash"].as_str().unwrap();
    let file = dir
        .data
        .join("blobs/objects")
        .join(&hash[..2])
        .join(&hash[2..]);
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[3] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();
    assert_integrity_failure_at(&dir, 8);
    assert!(
        stderr(&dir.run(&["verify"])).contains(hash),
        "names the blob"
    );
}

#[test]
fn a_garbage_or_truncated_log_is_a_clear_error_not_a_panic() {
    if embedded_only("a damaged log.sqlite3") {
        return;
    }
    let dir = setup();
    std::fs::create_dir_all(&dir.data).unwrap();
    std::fs::write(
        dir.log(),
        b"SQLite format 2\0 but not really; garbage garbage garbage ".repeat(200),
    )
    .unwrap();
    for args in [
        &["verify"][..],
        &["events"][..],
        &["dev", "append-synthetic", "--events", "1"][..],
    ] {
        let out = dir.run(args);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains("log.sqlite3"),
            "names the file: {}",
            stderr(&out)
        );
    }

    let dir = setup();
    dir.append(2000, 100);
    let bytes = std::fs::read(dir.log()).unwrap();
    // Checkpointed content lives in the main file; drop the WAL so the truncation bites.
    let _ = std::fs::remove_file(dir.data.join("log.sqlite3-wal"));
    let _ = std::fs::remove_file(dir.data.join("log.sqlite3-shm"));
    std::fs::write(dir.log(), &bytes[..bytes.len() / 3]).unwrap();
    for args in [&["verify"][..], &["events"][..]] {
        let out = dir.run(args);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("log.sqlite3"), "{}", stderr(&out));
    }
}

#[test]
fn a_data_dir_that_is_a_file_is_refused() {
    if embedded_only("the data dir as a file") {
        return;
    }
    let dir = setup();
    std::fs::write(&dir.data, b"not a directory").unwrap();
    for args in [
        &["verify"][..],
        &["events"][..],
        &["dev", "append-synthetic", "--events", "1"][..],
    ] {
        let out = dir.run(args);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("is a file"), "{}", stderr(&out));
    }
    assert_eq!(
        std::fs::read(&dir.data).unwrap(),
        b"not a directory",
        "nothing written"
    );
}

#[test]
fn a_read_only_data_dir_refuses_writes_and_still_verifies() {
    if embedded_only("a read-only data dir") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = setup();
    dir.append(5, 5);
    std::fs::set_permissions(&dir.data, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = dir.run(&["dev", "append-synthetic", "--events", "1"]);
    // A data dir that cannot be written is a runtime failure, not bad input.
    assert_exit(&out, 1);
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert_success(&dir.run(&["verify"]));
    std::fs::set_permissions(&dir.data, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(seqs(&dir), vec![1, 2, 3, 4, 5]);
}

#[test]
fn a_missing_data_dir_is_a_clear_error() {
    if embedded_only("a missing data dir") {
        return;
    }
    let dir = setup();
    let out = dir.run(&["events"]);
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("no trustfold data at"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.data.exists(), "reading does not create the data dir");
}

#[test]
fn usage_errors_exit_2() {
    let dir = setup();
    assert_exit(&dir.run(&["no-such-command"]), 2);
    assert_exit(&dir.run(&["events", "--no-such-flag"]), 2);
    assert_success(&dir.run(&["--help"]));
}
