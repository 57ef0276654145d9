//! End-to-end tests: the real `trustfold` binary on a scratch data dir, real SQLite and
//! sled files, real processes (including SIGKILL mid-write).

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

/// A scratch data dir and a way to run the binary against it.
struct Scratch {
    _tmp: tempfile::TempDir,
    data: PathBuf,
}

fn setup() -> Scratch {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    Scratch { _tmp: tmp, data }
}

impl Scratch {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trustfold"));
        cmd.arg("--data-dir").arg(&self.data);
        cmd.env_remove("TRUSTFOLD_DATA_DIR").env_remove("RUST_LOG");
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn log(&self) -> PathBuf {
        self.data.join("log.sqlite3")
    }

    fn append(&self, events: u64, batch: u64) {
        let out = self.run(&[
            "dev",
            "append-synthetic",
            "--events",
            &events.to_string(),
            "--batch",
            &batch.to_string(),
        ]);
        assert_success(&out);
    }
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

fn assert_exit(out: &Output, code: i32) {
    assert_eq!(
        out.status.code(),
        Some(code),
        "stdout: {}\nstderr: {}",
        stdout(out),
        stderr(out)
    );
    assert!(
        !stderr(out).contains("panicked"),
        "no panic: {}",
        stderr(out)
    );
}

fn ndjson(out: &Output) -> Vec<serde_json::Value> {
    stdout(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn seqs(dir: &Scratch) -> Vec<u64> {
    let out = dir.run(&["events", "--json"]);
    assert_success(&out);
    ndjson(&out)
        .iter()
        .map(|e| e["seq"].as_u64().unwrap())
        .collect()
}

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

fn sqlite(path: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn assert_integrity_failure_at(dir: &Scratch, seq: u64) {
    let out = dir.run(&["verify"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains(&format!("seq {seq}:")),
        "names seq {seq}: {}",
        stderr(&out)
    );
    let json = dir.run(&["verify", "--json"]);
    assert_exit(&json, 3);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["intact"], false);
    assert_eq!(doc["first_bad_seq"], seq);
}

#[test]
fn verify_names_the_seq_of_a_changed_payload_byte() {
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
    let dir = setup();
    dir.append(20, 4);
    sqlite(&dir.log())
        .execute("DELETE FROM events WHERE seq = 8", [])
        .unwrap();
    assert_integrity_failure_at(&dir, 8);
}

#[test]
fn verify_names_the_seq_of_two_swapped_rows() {
    let dir = setup();
    dir.append(20, 4);
    sqlite(&dir.log())
        .execute_batch("UPDATE events SET seq = -1 WHERE seq = 11; UPDATE events SET seq = 11 WHERE seq = 12; UPDATE events SET seq = 12 WHERE seq = -1;")
        .unwrap();
    assert_integrity_failure_at(&dir, 11);
}

#[test]
fn verify_detects_a_corrupted_blob() {
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
    let key: Vec<u8> = (0..32)
        .map(|i| u8::from_str_radix(&hash[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let db = sled::open(dir.data.join("blobs")).unwrap();
    let mut bytes = db.get(&key).unwrap().unwrap().to_vec();
    bytes[3] ^= 0x01;
    db.insert(&key, bytes).unwrap();
    db.flush().unwrap();
    drop(db);
    assert_integrity_failure_at(&dir, 8);
    assert!(
        stderr(&dir.run(&["verify"])).contains(hash),
        "names the blob"
    );
}

#[test]
fn a_garbage_or_truncated_log_is_a_clear_error_not_a_panic() {
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
    use std::os::unix::fs::PermissionsExt;
    let dir = setup();
    dir.append(5, 5);
    std::fs::set_permissions(&dir.data, std::fs::Permissions::from_mode(0o555)).unwrap();
    let out = dir.run(&["dev", "append-synthetic", "--events", "1"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("read-only"), "{}", stderr(&out));
    assert_success(&dir.run(&["verify"]));
    std::fs::set_permissions(&dir.data, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert_eq!(seqs(&dir), vec![1, 2, 3, 4, 5]);
}

#[test]
fn a_missing_data_dir_is_a_clear_error() {
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

// ---------------------------------------------------------------------------------------
// Planner, connectors and ingest (offline fixtures and a real local HTTP server).

mod support;

use support::{Fault, FaultServer};

/// Connectors and the environment variables that override their base URLs.
const CONNECTORS: [&str; 6] = [
    "serper",
    "google_places",
    "openstreetmap",
    "sport_scotland",
    "edinburgh_council",
    "open_charge_map",
];

fn base_url_var(connector: &str) -> String {
    format!("TRUSTFOLD_{}_BASE_URL", connector.to_uppercase())
}

impl Scratch {
    /// A command whose every connector talks HTTP to `server`, with fast retries.
    fn cmd_against(&self, server: &FaultServer) -> Command {
        let mut cmd = self.cmd();
        for c in CONNECTORS {
            cmd.env(base_url_var(c), &server.url);
        }
        cmd.env("TRUSTFOLD_BACKOFF_MS", "10")
            .env("TRUSTFOLD_TIMEOUT_MS", "2000");
        for key in [
            "SERPER_API_KEY",
            "GOOGLE_PLACES_API_KEY",
            "OCM_API_KEY",
            "SPATIAL_HUB_AUTHKEY",
        ] {
            cmd.env_remove(key);
        }
        cmd
    }

    fn events_of_kind(&self, kind: &str) -> Vec<serde_json::Value> {
        let out = self.run(&["events", "--json", "--kind", kind]);
        assert_success(&out);
        ndjson(&out)
    }
}

fn clean_env(cmd: &mut Command) -> &mut Command {
    for c in CONNECTORS {
        cmd.env_remove(base_url_var(c));
    }
    for key in [
        "SERPER_API_KEY",
        "GOOGLE_PLACES_API_KEY",
        "OCM_API_KEY",
        "SPATIAL_HUB_AUTHKEY",
        "TRUSTFOLD_LIVE",
    ] {
        cmd.env_remove(key);
    }
    cmd
}

#[test]
fn plan_json_for_the_seed_query() {
    let dir = setup();
    let out = dir.run(&["plan", "powerleague portobello", "--json"]);
    assert_success(&out);
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plan["query"], "powerleague portobello");
    let mut selected: Vec<&str> = plan["selected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["connector"].as_str().unwrap())
        .collect();
    selected.sort();
    assert_eq!(
        selected,
        vec!["google_places", "openstreetmap", "serper", "sport_scotland"]
    );
    for s in plan["selected"].as_array().unwrap() {
        assert!(
            s["phase"].is_string() && s["reason"].is_string() && s["cost_usd"].is_number(),
            "{s}"
        );
    }
    let skipped: Vec<&str> = plan["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["connector"].as_str().unwrap())
        .collect();
    assert_eq!(skipped.len(), 2);
    assert!(plan["features"]["brands"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b == "powerleague"));
    assert!(!dir.data.exists(), "plan calls nothing and writes nothing");

    assert_exit(&dir.run(&["plan", "x", "--budget", "-1"]), 2);
    assert_exit(&dir.run(&["plan", "x", "--connectors", "serper,nope"]), 2);
    assert_exit(&dir.run(&["plan", ""]), 2);
}

#[test]
fn ingest_runs_offline_on_the_fixture_world_and_records_every_response() {
    let dir = setup();
    let out = clean_env(&mut dir.cmd())
        .args(["ingest", "powerleague portobello"])
        .output()
        .unwrap();
    assert_success(&out);
    let report = stdout(&out);
    assert!(report.contains("Connector Metrics"), "{report}");
    for c in ["serper", "google_places", "openstreetmap", "sport_scotland"] {
        let line = report
            .lines()
            .find(|l| l.starts_with(c))
            .unwrap_or_else(|| panic!("{c} in report:\n{report}"));
        assert!(
            line.contains("SUCCESS") && line.contains("fixture"),
            "{line}"
        );
    }
    let started = dir.events_of_kind("RunStarted");
    assert_eq!(started.len(), 1);
    let run_id = started[0]["run_id"].as_str().unwrap().to_string();
    let trace = started[0]["trace_id"].as_str().unwrap().to_string();
    let run = ndjson(&dir.run(&["events", "--json", "--run", &run_id]));
    assert_eq!(run.first().unwrap()["kind"], "RunStarted");
    assert_eq!(run.last().unwrap()["kind"], "RunCompleted");
    assert!(
        run.iter().all(|e| e["trace_id"] == trace.as_str()),
        "one trace id for the whole run"
    );
    let responded: Vec<_> = run
        .iter()
        .filter(|e| e["kind"] == "ConnectorResponded")
        .collect();
    assert!(responded.len() >= 4, "{} responses", responded.len());
    for r in &responded {
        assert_eq!(r["payload"]["transport"], "fixture");
        assert_eq!(r["payload"]["http_status"], 200);
        assert!(r["payload"]["payload_bytes"].as_u64().unwrap() > 2);
    }
    let google = responded
        .iter()
        .find(|r| r["payload"]["connector"] == "google_places")
        .unwrap();
    assert!(google["payload"]["request"]["url"]
        .as_str()
        .unwrap()
        .ends_with("/v1/places:searchText"));
    assert!(google["payload"]["request"]["body"]
        .as_str()
        .unwrap()
        .contains("powerleague portobello"));
    let verify = dir.run(&["verify"]);
    assert_success(&verify);
    assert!(
        stdout(&verify).contains(&format!("{} blobs checked", responded.len())),
        "{}",
        stdout(&verify)
    );

    let json = clean_env(&mut dir.cmd())
        .args(["ingest", "ev charging leith", "--json"])
        .output()
        .unwrap();
    assert_success(&json);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["status"], "completed");
    let ocm = report["figures"]["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connector"] == "open_charge_map")
        .expect("EV query calls OCM");
    assert!(ocm["candidates"].as_u64().unwrap() > 0, "{ocm}");
}

#[test]
fn ingest_over_http_sends_keys_but_never_records_them() {
    let server = FaultServer::start();
    let dir = setup();
    let planted = "tf-planted-secret-9f8e7d6c5b4a";
    let out = dir
        .cmd_against(&server)
        .env("SERPER_API_KEY", planted)
        .env("GOOGLE_PLACES_API_KEY", planted)
        .env("SPATIAL_HUB_AUTHKEY", planted)
        .env("OCM_API_KEY", planted)
        .env("RUST_LOG", "trace")
        .args(["ingest", "powerleague portobello"])
        .output()
        .unwrap();
    assert_success(&out);
    // The server saw the key where each API wants it.
    let received = server.received();
    let serper = received
        .iter()
        .find(|r| r.url.starts_with("/places"))
        .expect("serper called");
    assert!(serper
        .headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("x-api-key") && v == planted));
    assert_eq!(serper.method, "POST");
    assert!(
        serper.body.contains("\"q\":\"powerleague portobello\""),
        "{}",
        serper.body
    );
    let wfs = received
        .iter()
        .find(|r| r.url.starts_with("/geoserver/ows"))
        .expect("WFS called");
    assert!(
        wfs.url.contains(&format!("authkey={planted}")),
        "{}",
        wfs.url
    );
    // ... and nothing trustfold wrote or printed contains it.
    assert!(!stdout(&out).contains(planted) && !stderr(&out).contains(planted));
    for entry in walk(&dir.data) {
        let bytes = std::fs::read(&entry).unwrap();
        assert!(
            !contains(&bytes, planted.as_bytes()),
            "{} contains the key",
            entry.display()
        );
    }
    let responded = dir.events_of_kind("ConnectorResponded");
    assert!(responded
        .iter()
        .all(|r| r["payload"]["transport"] == "http"));
    let events = stdout(&dir.run(&["events", "--json"]));
    assert!(!events.contains(planted));
}

fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// Runs one ingest against the server with only `connector` called; returns the run's events.
fn ingest_one(
    dir: &Scratch,
    server: &FaultServer,
    connector: &str,
    query: &str,
    extra_env: &[(&str, &str)],
) -> (Output, Vec<serde_json::Value>) {
    let mut cmd = dir.cmd_against(server);
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd
        .args(["ingest", query, "--connectors", connector])
        .output()
        .unwrap();
    let started = dir.events_of_kind("RunStarted");
    let run_id = started.last().unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let events = ndjson(&dir.run(&["events", "--json", "--run", &run_id]));
    (out, events)
}

/// The run's fetch-level events (the later stages' candidate events left out).
fn kinds(events: &[serde_json::Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_string())
        .filter(|k| k.starts_with("Run") || k.starts_with("Connector") || k == "DeadLettered")
        .collect()
}

#[test]
fn a_500_is_retried_and_the_second_attempt_recorded() {
    let server = FaultServer::start();
    server.script("/places", vec![Fault::Status(500)]);
    let dir = setup();
    let (out, events) = ingest_one(&dir, &server, "serper", "powerleague portobello", &[]);
    assert_success(&out);
    assert_eq!(
        kinds(&events),
        vec![
            "RunStarted",
            "ConnectorFailed",
            "ConnectorResponded",
            "RunCompleted"
        ]
    );
    let failed = &events[1]["payload"];
    assert_eq!(failed["error_class"], "http_5xx");
    assert_eq!(failed["http_status"], 500);
    assert_eq!(failed["will_retry"], true);
    assert_eq!(events[2]["payload"]["attempt"], 2);
}

#[test]
fn a_429_waits_for_retry_after() {
    let server = FaultServer::start();
    server.script(
        "/v1/places:searchText",
        vec![Fault::RateLimited { retry_after_s: 1 }],
    );
    let dir = setup();
    let started = std::time::Instant::now();
    let (out, events) = ingest_one(
        &dir,
        &server,
        "google_places",
        "powerleague portobello",
        &[],
    );
    assert_success(&out);
    assert!(
        started.elapsed() >= Duration::from_millis(1000),
        "waited for Retry-After"
    );
    assert_eq!(
        kinds(&events),
        vec![
            "RunStarted",
            "ConnectorFailed",
            "ConnectorResponded",
            "RunCompleted"
        ]
    );
    assert_eq!(events[1]["payload"]["error_class"], "rate_limited");
    assert_eq!(events[1]["payload"]["retry_after_ms"], 1000);
}

#[test]
fn a_response_slower_than_the_timeout_is_dead_lettered_after_the_last_attempt() {
    let server = FaultServer::start();
    server.script(
        "/api/interpreter",
        vec![
            Fault::Slow { ms: 1500 },
            Fault::Slow { ms: 1500 },
            Fault::Slow { ms: 1500 },
        ],
    );
    let dir = setup();
    let (out, events) = ingest_one(
        &dir,
        &server,
        "openstreetmap",
        "powerleague portobello",
        &[("TRUSTFOLD_TIMEOUT_MS", "300")],
    );
    assert_success(&out);
    assert_eq!(
        kinds(&events),
        vec![
            "RunStarted",
            "ConnectorFailed",
            "ConnectorFailed",
            "ConnectorFailed",
            "DeadLettered",
            "RunCompleted"
        ]
    );
    let fps: Vec<_> = events[1..4]
        .iter()
        .map(|e| e["payload"]["fingerprint"].clone())
        .collect();
    assert!(
        fps.iter().all(|f| *f == fps[0]),
        "the same failure groups together: {fps:?}"
    );
    assert!(events[1..4]
        .iter()
        .all(|e| e["payload"]["error_class"] == "timeout"));
    assert_eq!(events[3]["payload"]["will_retry"], false);
    assert_eq!(events[4]["payload"]["attempts"], 3);
    assert!(stdout(&out).contains("TIMEOUT"), "{}", stdout(&out));

    // The dead letter is listed, replayed against a healthy server, and then closed.
    let list = dir.run(&["dlq", "list", "--json"]);
    assert_success(&list);
    let open: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(open.as_array().unwrap().len(), 1);
    assert_eq!(open[0]["connector"], "openstreetmap");
    assert_eq!(open[0]["query"], "powerleague portobello");
    let id = open[0]["dead_letter_id"].as_str().unwrap().to_string();
    let replay = dir
        .cmd_against(&server)
        .args(["dlq", "replay", &id])
        .output()
        .unwrap();
    assert_success(&replay);
    let responded = dir.events_of_kind("ConnectorResponded");
    let answer = responded.last().unwrap();
    assert_eq!(
        answer["causation_id"], open[0]["event_id"],
        "the replay names the dead letter it answers"
    );
    let list = dir.run(&["dlq", "list", "--json"]);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&list.stdout).unwrap(),
        serde_json::json!([])
    );
    assert_exit(&dir.run(&["dlq", "replay", "no-such-id"]), 2);
}

#[test]
fn truncated_json_html_pages_and_wrong_content_types_are_decode_failures() {
    for (fault, class) in [
        (Fault::Truncated, "decode"),
        (Fault::HtmlError { status: 200 }, "decode"),
        (Fault::WrongContentType, "decode"),
        (Fault::HtmlError { status: 502 }, "http_5xx"),
    ] {
        let server = FaultServer::start();
        server.script("/places", vec![fault.clone()]);
        let dir = setup();
        let (out, events) = ingest_one(&dir, &server, "serper", "powerleague portobello", &[]);
        assert_success(&out);
        assert_eq!(
            kinds(&events),
            vec![
                "RunStarted",
                "ConnectorFailed",
                "ConnectorResponded",
                "RunCompleted"
            ],
            "{fault:?}"
        );
        assert_eq!(events[1]["payload"]["error_class"], class, "{fault:?}");
        if class == "decode" {
            // The unusable bytes are kept for audit, and verify checks them.
            assert!(
                events[1]["payload"]["payload_hash"].is_string(),
                "{fault:?}"
            );
        }
        assert_success(&dir.run(&["verify"]));
    }
}

#[test]
fn an_oversized_body_is_refused_without_retry() {
    for fault in [
        Fault::Oversized { bytes: 300_000 },
        Fault::OversizedChunked { bytes: 300_000 },
    ] {
        let server = FaultServer::start();
        server.script("/v3/poi", vec![fault.clone()]);
        let dir = setup();
        let (out, events) = ingest_one(
            &dir,
            &server,
            "open_charge_map",
            "ev charging leith",
            &[("TRUSTFOLD_RESPONSE_BYTES_MAX", "100000")],
        );
        assert_success(&out);
        assert_eq!(
            kinds(&events),
            vec![
                "RunStarted",
                "ConnectorFailed",
                "DeadLettered",
                "RunCompleted"
            ],
            "{fault:?}"
        );
        assert_eq!(events[1]["payload"]["error_class"], "too_large");
        assert!(events[1]["payload"]["message"]
            .as_str()
            .unwrap()
            .contains("100000"));
    }
}

#[test]
fn arcgis_pages_are_followed_and_its_http_200_errors_recognised() {
    let server = FaultServer::start();
    let dir = setup();
    // Every council sports facility: more than one page of 50.
    let (out, events) = ingest_one(
        &dir,
        &server,
        "edinburgh_council",
        "leisure centres edinburgh",
        &[],
    );
    assert_success(&out);
    let pages: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "ConnectorResponded")
        .collect();
    let urls: Vec<&str> = pages
        .iter()
        .map(|p| p["payload"]["request"]["url"].as_str().unwrap())
        .collect();
    assert!(
        urls.iter()
            .all(|u| u.contains("/FeatureServer/0/query") && u.contains("f=geojson")),
        "{urls:?}"
    );
    assert!(
        urls.iter().any(|u| u.contains("resultOffset=0")),
        "{urls:?}"
    );
    assert!(
        urls.iter().any(|u| u.contains("resultOffset=50")),
        "the second page was fetched: {urls:?}"
    );
    let report = stdout(&out);
    let line = report
        .lines()
        .find(|l| l.starts_with("edinburgh_council"))
        .unwrap();
    assert!(
        line.contains(" 60 "),
        "all 60 facilities counted across pages: {line}"
    );

    // A query the service rejects: HTTP 200 with an error document.
    server.script("/FeatureServer", vec![Fault::ArcgisError]);
    let (out, events) = ingest_one(
        &dir,
        &server,
        "edinburgh_council",
        "tennis courts edinburgh",
        &[],
    );
    assert_success(&out);
    let failed: Vec<_> = events
        .iter()
        .filter(|e| e["kind"] == "ConnectorFailed")
        .collect();
    assert!(!failed.is_empty(), "{:?}", kinds(&events));
    assert_eq!(failed[0]["payload"]["http_status"], 400);
    assert_eq!(failed[0]["payload"]["error_class"], "http_4xx");
    assert!(events.iter().any(|e| e["kind"] == "DeadLettered"));
}

#[test]
fn bad_connector_overrides_are_usage_errors() {
    let dir = setup();
    let out = clean_env(&mut dir.cmd())
        .env("TRUSTFOLD_SERPER_BASE_URL", "not a url")
        .args(["ingest", "powerleague portobello"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("TRUSTFOLD_SERPER_BASE_URL"),
        "{}",
        stderr(&out)
    );
    let out = clean_env(&mut dir.cmd())
        .env("TRUSTFOLD_TIMEOUT_MS", "soon")
        .args(["ingest", "powerleague portobello"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        !dir.data.join("log.sqlite3").exists(),
        "nothing recorded for a refused run"
    );
}

// ---------------------------------------------------------------------------------------
// Extraction, acceptance, identity and import.

/// candidate id -> entity id, from the MergeDecided events (new or existing entity).
fn merge_map(dir: &Scratch) -> std::collections::BTreeMap<String, String> {
    let mut out = std::collections::BTreeMap::new();
    for e in dir.events_of_kind("MergeDecided") {
        let p = &e["payload"];
        if let Some(entity) = p["decision"]["entity_id"].as_str() {
            out.insert(
                p["candidate_id"].as_str().unwrap().to_string(),
                entity.to_string(),
            );
        }
    }
    out
}

fn ingest_offline(dir: &Scratch, query: &str) -> Output {
    let out = clean_env(&mut dir.cmd())
        .args(["ingest", query])
        .output()
        .unwrap();
    assert_success(&out);
    out
}

#[test]
fn the_seed_venue_from_four_sources_is_one_entity() {
    let dir = setup();
    let out = ingest_offline(&dir, "powerleague portobello");
    let report = stdout(&out);
    assert!(report.contains("Pipeline Stages"), "{report}");
    let extracted = dir.events_of_kind("CandidateExtracted");
    let merges = merge_map(&dir);
    // Every source's Powerleague Portobello record joins one entity.
    let mut entities = std::collections::BTreeSet::new();
    let mut sources = std::collections::BTreeSet::new();
    for e in &extracted {
        let p = &e["payload"];
        let name = p["fields"]["name"].as_str().unwrap_or("").to_lowercase();
        if name.contains("powerleague") && name.contains("portobello") {
            let cid = p["candidate_id"].as_str().unwrap();
            if let Some(entity) = merges.get(cid) {
                entities.insert(entity.clone());
                sources.insert(p["source"].as_str().unwrap().to_string());
            }
        }
    }
    assert_eq!(
        entities.len(),
        1,
        "one entity for Powerleague Portobello: {entities:?}"
    );
    assert!(
        sources.len() >= 3,
        "built from at least three sources: {sources:?}"
    );
    // Sighthill is a different place.
    for e in &extracted {
        let p = &e["payload"];
        let name = p["fields"]["name"].as_str().unwrap_or("").to_lowercase();
        if name.contains("sighthill") {
            if let Some(entity) = merges.get(p["candidate_id"].as_str().unwrap()) {
                assert!(
                    !entities.contains(entity),
                    "Sighthill merged into Portobello"
                );
            }
        }
    }
    // The register's repeated rows of one site are duplicates in source, not entities.
    let rejected = dir.events_of_kind("CandidateRejected");
    assert!(rejected
        .iter()
        .any(|r| r["payload"]["reason"] == "duplicate_in_source"));
    assert_success(&dir.run(&["verify"]));
}

#[test]
fn ingesting_the_same_query_twice_adds_no_candidates_and_no_entities() {
    let dir = setup();
    ingest_offline(&dir, "powerleague portobello");
    let candidates = |d: &Scratch| {
        d.events_of_kind("CandidateExtracted")
            .iter()
            .map(|e| e["payload"]["candidate_id"].as_str().unwrap().to_string())
            .collect::<std::collections::BTreeSet<_>>()
    };
    let first_candidates = candidates(&dir);
    let first_merges = merge_map(&dir);
    let new_entities = |m: &std::collections::BTreeMap<String, String>| {
        m.values().collect::<std::collections::BTreeSet<_>>().len()
    };
    assert!(!first_candidates.is_empty());
    let out = ingest_offline(&dir, "powerleague portobello");
    assert_eq!(
        candidates(&dir),
        first_candidates,
        "the same records get the same candidate ids"
    );
    assert_eq!(merge_map(&dir), first_merges, "identity is decided once");
    assert_eq!(new_entities(&merge_map(&dir)), new_entities(&first_merges));
    assert!(
        stdout(&out).contains("Entities Created:    0"),
        "{}",
        stdout(&out)
    );
}

fn write(dir: &Scratch, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir._tmp.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

const MAP: &str =
    "id=external_id,name=name,addr=address,city=locality,pc=postcode,phone=phone,lat=lat,lon=lon";

#[test]
fn a_csv_import_creates_entities_and_records_without_coordinates_still_match() {
    let dir = setup();
    ingest_offline(&dir, "powerleague portobello");
    let before = merge_map(&dir);
    // A council-style spreadsheet: one row without coordinates that is the seed venue
    // (matches on name, postcode and address), one new place with coordinates, and SQL
    // metacharacters in a name.
    let csv = "id,name,addr,city,pc,phone,lat,lon\n\
               S-1,Powerleague Portobello,10 Westbank Street,Edinburgh,EH15 1DR,,,\n\
               S-2,\"Bob's Tennis'); DROP TABLE events;--\",1 Fake Road,Edinburgh,EH12 5AA,0131 496 0999,55.9400,-3.2700\n";
    let path = write(&dir, "council.csv", csv.as_bytes());
    let out = dir.run(&[
        "import",
        "--source",
        "council_sheet",
        "--format",
        "csv",
        "--map",
        MAP,
        path.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["status"], "completed");
    assert_eq!(report["figures"]["candidates_found"], 2);
    let after = merge_map(&dir);
    let s1 = after.iter().find(|(c, _)| {
        !before.contains_key(*c)
            && dir.events_of_kind("CandidateExtracted").iter().any(|e| {
                e["payload"]["candidate_id"] == c.as_str() && e["payload"]["external_id"] == "S-1"
            })
    });
    let (_, entity) = s1.expect("S-1 decided");
    assert!(
        before.values().any(|e| e == entity),
        "the row without coordinates joined the existing Powerleague entity"
    );
    let names: Vec<String> = dir
        .events_of_kind("CandidateExtracted")
        .iter()
        .map(|e| {
            e["payload"]["fields"]["name"]
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(
        names.iter().any(|n| n.contains("DROP TABLE")),
        "stored as data, not executed"
    );
    assert_success(&dir.run(&["verify"]));

    // Re-importing the same file adds no entities.
    let again = dir.run(&[
        "import",
        "--source",
        "council_sheet",
        "--format",
        "csv",
        "--map",
        MAP,
        path.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&again);
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["figures"]["entities_created"], 0);
}

#[test]
fn bad_import_files_name_the_line_and_append_nothing() {
    let dir = setup();
    ingest_offline(&dir, "powerleague portobello");
    let head = || ndjson(&dir.run(&["events", "--json"])).len();
    let n = head();
    let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
        ("ragged.csv", b"id,name,addr,city,pc,phone,lat,lon\nA,One,x,Edinburgh,EH1 1AA,,55.9,-3.2\nB,Two\n".to_vec(), "csv", "line 3"),
        ("missing.csv", b"id,title\nA,One\n".to_vec(), "csv", "name"),
        ("latin1.csv", b"id,name,addr,city,pc,phone,lat,lon\nA,Caf\xe9 Sports,x,Edinburgh,EH1 1AA,,55.9,-3.2\n".to_vec(), "csv", "line 2"),
        ("bad.ndjson", b"{\"id\":\"A\",\"name\":\"One\",\"lat\":55.9,\"lon\":-3.2}\n{not json\n".to_vec(), "ndjson", "line 2"),
    ];
    for (name, bytes, format, expect) in cases {
        let path = write(&dir, name, &bytes);
        let out = dir.run(&[
            "import",
            "--source",
            "council_sheet",
            "--format",
            format,
            "--map",
            MAP,
            path.to_str().unwrap(),
        ]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(expect), "{name}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(name),
            "names the file: {}",
            stderr(&out)
        );
        assert_eq!(head(), n, "{name}: nothing appended");
    }
    let out = dir.run(&[
        "import", "--source", "Bad Name", "--format", "csv", "--map", MAP, "x.csv",
    ]);
    assert_exit(&out, 2);
    let out = dir.run(&[
        "import",
        "--source",
        "council_sheet",
        "--format",
        "csv",
        "/no/such/file.csv",
        "--map",
        MAP,
    ]);
    assert_exit(&out, 2);
    let garbage = write(&dir, "garbage.json", b"\x00\x01 this is not overpass");
    let out = dir.run(&[
        "import",
        "--source",
        "openstreetmap",
        garbage.to_str().unwrap(),
    ]);
    assert_exit(&out, 2);
    assert_eq!(head(), n);
    assert_success(&dir.run(&["verify"]));
}

#[test]
fn a_native_overpass_dump_imports_as_openstreetmap_data() {
    let dir = setup();
    let dump = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/world/openstreetmap.json");
    let out = dir.run(&[
        "import",
        "--source",
        "openstreetmap",
        dump.to_str().unwrap(),
        "--json",
    ]);
    assert_success(&out);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        report["figures"]["entities_created"].as_u64().unwrap() > 50,
        "{report}"
    );
    let responded = dir.events_of_kind("ConnectorResponded");
    assert_eq!(responded[0]["payload"]["transport"], "import");
    assert_success(&dir.run(&["verify"]));
}

// ---------------------------------------------------------------------------------------
// Projections: entities, provenance, trust policy, runs and reports, rebuilds.

use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

const SEED: &str = "powerleague portobello";

impl Scratch {
    /// The binary with no connector, key or policy settings inherited from the environment.
    fn tf(&self, args: &[&str]) -> Output {
        clean_env(&mut self.cmd())
            .env_remove("TRUSTFOLD_TRUST")
            .args(args)
            .output()
            .unwrap()
    }

    /// Runs a command that must succeed and parses its stdout as one JSON document.
    fn tf_json(&self, args: &[&str]) -> Value {
        let out = self.tf(args);
        assert_success(&out);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&out)))
    }

    fn entities(&self) -> Vec<Value> {
        let doc = self.tf_json(&["entities", "--json"]);
        doc.as_array().expect("entities --json is an array").clone()
    }

    fn projections(&self) -> PathBuf {
        self.data.join("projections")
    }

    /// The live projection database, as `projections/CURRENT` names it.
    fn live_projection(&self) -> PathBuf {
        let name = std::fs::read_to_string(self.projections().join("CURRENT")).unwrap();
        self.projections().join(name.trim())
    }

    fn event_count(&self) -> usize {
        if !self.log().exists() {
            return 0;
        }
        ndjson(&self.tf(&["events", "--json"])).len()
    }
}

fn shipped_policy() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/trust.toml"))
        .unwrap()
}

/// The 1-based number of the first line equal to `line` (after trimming) at or after line
/// `after` (1-based; 0 for the whole file).
fn line_of(text: &str, line: &str, after: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(after)
        .find(|(_, l)| l.trim() == line)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("no line {line:?} after line {after}"))
}

/// `text` with line `n` (1-based) replaced by `with` (which may hold several lines).
fn replace_line(text: &str, n: usize, with: &str) -> String {
    let mut lines: Vec<&str> = text.lines().collect();
    lines[n - 1] = with;
    lines.join("\n") + "\n"
}

/// The shipped policy with google_places' trust set to `trust`.
fn policy_with_google_trust(trust: &str) -> String {
    let text = shipped_policy();
    let table = line_of(&text, "[sources.google_places]", 0);
    let line = line_of(&text, "trust = 0.95", table);
    replace_line(&text, line, &format!("trust = {trust}"))
}

/// field -> winning source, from `provenance --json`.
fn winners(doc: &Value) -> BTreeMap<String, String> {
    doc["provenance"]
        .as_array()
        .expect("provenance rows")
        .iter()
        .filter_map(|f| {
            Some((
                f["field"].as_str()?.to_string(),
                f["source"].as_str()?.to_string(),
            ))
        })
        .collect()
}

fn ids(entities: &[Value]) -> BTreeSet<String> {
    entities
        .iter()
        .map(|e| e["entity_id"].as_str().unwrap().to_string())
        .collect()
}

/// The entity with the most sources.
fn best_sourced(entities: &[Value]) -> &Value {
    entities
        .iter()
        .max_by_key(|e| e["sources"].as_array().map(Vec::len).unwrap_or(0))
        .expect("at least one entity")
}

#[test]
fn the_seed_query_end_to_end_reingest_adds_nothing_and_a_trust_change_moves_winners_after_rebuild()
{
    let dir = setup();
    let first = dir.tf_json(&["ingest", SEED, "--json"]);
    assert_eq!(first["status"], "completed", "{first}");
    let entities = dir.entities();
    let before_ids = ids(&entities);
    assert_eq!(before_ids.len(), entities.len(), "entity ids are distinct");
    assert!(
        (3..=5).contains(&before_ids.len()),
        "3 to 5 entities for the seed query: {before_ids:?}"
    );
    let venue = best_sourced(&entities).clone();
    let sources = venue["sources"].as_array().unwrap().len();
    assert!(sources >= 3, "one entity from at least 3 sources: {venue}");
    let slug = venue["slug"].as_str().unwrap().to_string();
    // The report lists what the projection holds.
    let reported: BTreeSet<String> = first["entities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["entity_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(reported, before_ids, "the report names every entity");
    assert_eq!(
        first["figures"]["entities_created"].as_u64(),
        Some(before_ids.len() as u64)
    );

    // The same query again: nothing new.
    let second = dir.tf_json(&["ingest", SEED, "--json"]);
    assert_eq!(second["status"], "completed");
    assert_eq!(second["figures"]["entities_created"], 0, "{second}");
    assert_eq!(ids(&dir.entities()), before_ids, "no entity added");

    let before = dir.tf_json(&["provenance", &slug, "--json"]);
    let won_before = winners(&before);
    assert!(
        won_before.values().any(|s| s == "google_places"),
        "google_places wins some field under the shipped policy: {won_before:?}"
    );

    // google_places now trusted less than openstreetmap (0.70).
    std::fs::write(
        dir.data.join("trust.toml"),
        policy_with_google_trust("0.65"),
    )
    .unwrap();
    let stale = dir.tf(&["entities"]);
    assert_success(&stale);
    assert!(
        stderr(&stale).contains("stale: run rebuild-projections"),
        "{}",
        stderr(&stale)
    );
    assert!(
        stderr(&stale).contains("trust.toml"),
        "names the policy: {}",
        stderr(&stale)
    );
    let still = dir.tf(&["provenance", &slug, "--json"]);
    assert_success(&still);
    assert!(stderr(&still).contains("stale: run rebuild-projections"));
    let unchanged: Value = serde_json::from_slice(&still.stdout).unwrap();
    assert_eq!(
        winners(&unchanged),
        won_before,
        "a stale projection is not quietly refolded"
    );

    let rebuilt = dir.tf(&["rebuild-projections"]);
    assert_success(&rebuilt);
    assert!(
        stdout(&rebuilt).contains(&format!("{} entities", before_ids.len())),
        "{}",
        stdout(&rebuilt)
    );

    let after = dir.tf(&["provenance", &slug, "--json"]);
    assert_success(&after);
    assert!(
        !stderr(&after).contains("stale"),
        "fresh after the rebuild: {}",
        stderr(&after)
    );
    let after: Value = serde_json::from_slice(&after.stdout).unwrap();
    let won_after = winners(&after);
    let changed: Vec<(&String, &String, &String)> = won_before
        .iter()
        .filter_map(|(field, old)| {
            let new = won_after.get(field)?;
            (new != old).then_some((field, old, new))
        })
        .collect();
    assert!(
        !changed.is_empty(),
        "some field changed its winning source: before {won_before:?} after {won_after:?}"
    );
    for (field, old, new) in &changed {
        assert_eq!(
            old.as_str(),
            "google_places",
            "{field}: only google_places' trust went down, so only its wins can move"
        );
        assert_ne!(new.as_str(), "google_places", "{field}");
    }
    // Identity never depends on trust: the same entities, the same sources.
    assert_eq!(ids(&dir.entities()), before_ids);
    assert_eq!(after["sources"], venue["sources"]);
    for f in after["provenance"].as_array().unwrap() {
        for row in f["candidates"].as_array().unwrap() {
            if row["source"] == "google_places" {
                assert_eq!(row["trust"], 0.65, "the new trust is shown: {row}");
            }
        }
    }

    // The text output shows the new winner.
    let (field, _, new) = changed[0];
    let text = dir.tf(&["provenance", &slug]);
    assert_success(&text);
    assert!(!stderr(&text).contains("stale"), "{}", stderr(&text));
    let text = stdout(&text);
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{field}: ")))
        .unwrap_or_else(|| panic!("a line for {field}:\n{text}"));
    assert!(
        line.contains(&format!("(source {new}")),
        "{field} now from {new}: {line}"
    );
    let readers: [&[&str]; 4] = [
        &["entities"],
        &["runs"],
        &["conflicts"],
        &["entities", "--json"],
    ];
    for args in readers {
        let out = dir.tf(args);
        assert_success(&out);
        assert!(
            !stderr(&out).contains("stale"),
            "{args:?}: {}",
            stderr(&out)
        );
    }
    assert_success(&dir.tf(&["verify"]));
}

#[test]
fn a_bad_trust_policy_exits_2_naming_the_file_and_line_and_records_nothing() {
    let text = shipped_policy();
    let google = line_of(&text, "[sources.google_places]", 0);
    let trust = line_of(&text, "trust = 0.95", google);
    let tier = line_of(&text, "tier = \"official\"", google);
    let exclude = line_of(&text, "exclude = [\"categories\"]", google);
    // (file name, text, line of the error, words the message must hold)
    let cases: Vec<(&str, String, usize, Vec<&str>)> = vec![
        (
            "trust_too_high.toml",
            replace_line(&text, trust, "trust = 1.5"),
            trust,
            vec!["1.5", "[0, 1]"],
        ),
        (
            "typo_source.toml",
            replace_line(&text, google, "[sources.googel_places]"),
            google,
            vec!["unknown source", "googel_places", "google_places"],
        ),
        (
            "bad_exclude.toml",
            replace_line(&text, exclude, "exclude = [\"categoriez\"]"),
            exclude,
            vec!["exclude", "unknown field", "categoriez"],
        ),
        (
            "duplicate_key.toml",
            replace_line(&text, tier, "tier = \"official\"\ntrust = 0.5"),
            tier + 1,
            vec!["duplicate key", "trust"],
        ),
    ];
    // On a fresh data dir: refused before anything is created.
    for (name, policy, line, words) in &cases {
        let dir = setup();
        let path = write(&dir, name, policy.as_bytes());
        let path_s = path.to_str().unwrap();
        let out = dir.tf(&["--trust", path_s, "ingest", SEED]);
        assert_exit(&out, 2);
        let err = stderr(&out);
        assert!(err.contains(path_s), "{name}: names the file: {err}");
        assert!(
            err.contains(&format!("{path_s}:{line}:")),
            "{name}: names line {line}: {err}"
        );
        for w in words {
            assert!(err.contains(w), "{name}: {w:?} in {err}");
        }
        assert!(!dir.log().exists(), "{name}: no log written");
        assert!(
            !dir.projections().exists(),
            "{name}: no projections written"
        );
    }

    // On a data dir with a log: every command that reads the policy refuses it, and the log
    // and the projections are left as they were.
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let events = dir.event_count();
    let entities = dir.entities();
    let current = std::fs::read_to_string(dir.projections().join("CURRENT")).unwrap();
    for (name, policy, line, _) in &cases {
        let path = write(&dir, name, policy.as_bytes());
        let path_s = path.to_str().unwrap();
        let csv = write(
            &dir,
            "one.csv",
            b"id,name,addr,city,pc,phone,lat,lon\nZ-1,Zebra Padel Club,1 Zebra Road,Edinburgh,EH7 4AA,,55.96,-3.17\n",
        );
        let readers: Vec<Vec<&str>> = vec![
            vec!["ingest", SEED],
            vec![
                "import",
                "--source",
                "council_sheet",
                "--format",
                "csv",
                "--map",
                MAP,
                csv.to_str().unwrap(),
            ],
            vec!["rebuild-projections"],
            vec!["entities"],
            vec!["provenance", entities[0]["slug"].as_str().unwrap()],
            vec!["runs"],
            vec!["conflicts"],
        ];
        for args in readers {
            let mut full = vec!["--trust", path_s];
            full.extend(&args);
            let out = dir.tf(&full);
            assert_exit(&out, 2);
            assert!(
                stderr(&out).contains(&format!("{path_s}:{line}:")),
                "{name} {args:?}: {}",
                stderr(&out)
            );
        }
        // The same through the environment and as the data dir's own trust.toml.
        let out = clean_env(&mut dir.cmd())
            .env("TRUSTFOLD_TRUST", &path)
            .args(["ingest", SEED])
            .output()
            .unwrap();
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(&format!("{path_s}:{line}:")));
        let in_dir = dir.data.join("trust.toml");
        std::fs::write(&in_dir, policy).unwrap();
        let out = dir.tf(&["entities"]);
        assert_exit(&out, 2);
        assert!(
            stderr(&out).contains(&format!("{}:{line}:", in_dir.display())),
            "{name}: {}",
            stderr(&out)
        );
        std::fs::remove_file(&in_dir).unwrap();
    }
    assert_eq!(dir.event_count(), events, "nothing appended");
    assert_eq!(
        std::fs::read_to_string(dir.projections().join("CURRENT")).unwrap(),
        current,
        "the projections were not rebuilt"
    );
    assert_eq!(ids(&dir.entities()), ids(&entities));
    assert_success(&dir.tf(&["verify"]));
}

#[test]
fn entities_prints_json_csv_and_geojson_and_search_filters_by_words() {
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let all = dir.entities();
    assert!(all.len() >= 3, "{all:?}");
    assert_eq!(
        dir.tf_json(&["entities", "--format", "json"]),
        Value::Array(all.clone()),
        "--json is --format json"
    );
    for e in &all {
        let slug = e["slug"].as_str().unwrap();
        assert!(
            !slug.is_empty()
                && slug
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{slug}"
        );
        let sources: BTreeSet<&str> = e["sources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        assert!(!sources.is_empty(), "{e}");
        let info = e["source_info"].as_object().expect("source_info");
        assert!(info.contains_key("name"), "{e}");
        for (field, source) in info {
            assert!(
                sources.contains(source.as_str().unwrap()),
                "{field} from {source}, which is not among {sources:?}"
            );
            assert!(e["fields"].get(field).is_some(), "{field} has a value");
        }
        let external = e["external_ids"].as_object().expect("external_ids");
        assert!(
            external.keys().any(|k| sources.contains(k.as_str())),
            "each source's own id is kept: {e}"
        );
        let c = &e["completeness"];
        let (present, total) = (c["present"].as_u64().unwrap(), c["total"].as_u64().unwrap());
        assert!(present > 0 && present <= total, "{c}");
        let pct = c["pct"].as_f64().unwrap();
        assert!(
            (pct - 100.0 * present as f64 / total as f64).abs() < 0.01,
            "{c}"
        );
    }
    let by_id: BTreeMap<String, &Value> = all
        .iter()
        .map(|e| (e["entity_id"].as_str().unwrap().to_string(), e))
        .collect();

    // CSV: a header, then one row per entity.
    let out = dir.tf(&["entities", "--format", "csv"]);
    assert_success(&out);
    let mut reader = csv::Reader::from_reader(out.stdout.as_slice());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&header[..3], ["entity_id", "slug", "name"]);
    for col in ["lat", "lon", "postcode", "sources", "completeness_pct"] {
        assert!(header.iter().any(|h| h == col), "{col} in {header:?}");
    }
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), all.len());
    let mut seen = BTreeSet::new();
    for row in &rows {
        let e = by_id[&row[0]];
        seen.insert(row[0].to_string());
        assert_eq!(&row[col("slug")], e["slug"].as_str().unwrap());
        assert_eq!(&row[col("name")], e["name"].as_str().unwrap());
        let lat: f64 = row[col("lat")].parse().unwrap();
        let lon: f64 = row[col("lon")].parse().unwrap();
        assert_eq!(lat, e["fields"]["coordinates"]["lat"].as_f64().unwrap());
        assert_eq!(lon, e["fields"]["coordinates"]["lon"].as_f64().unwrap());
    }
    assert_eq!(seen, ids(&all));

    // GeoJSON: [lon, lat] points in Edinburgh.
    let geo = dir.tf_json(&["entities", "--format", "geojson"]);
    assert_eq!(geo["type"], "FeatureCollection");
    let features = geo["features"].as_array().unwrap();
    assert_eq!(features.len(), all.len());
    for f in features {
        assert_eq!(f["type"], "Feature");
        assert_eq!(f["geometry"]["type"], "Point", "{f}");
        let c = f["geometry"]["coordinates"].as_array().unwrap();
        let (lon, lat) = (c[0].as_f64().unwrap(), c[1].as_f64().unwrap());
        assert!((-3.45..=-3.0).contains(&lon), "lon {lon} in Edinburgh");
        assert!((55.85..=56.0).contains(&lat), "lat {lat} in Edinburgh");
        let e = by_id[f["id"].as_str().unwrap()];
        assert_eq!(lat, e["fields"]["coordinates"]["lat"].as_f64().unwrap());
        assert_eq!(f["properties"]["slug"], e["slug"]);
    }

    // Search: every word must match the name, slug, locality or postcode.
    let hits = dir.tf_json(&["entities", "--search", "portobello", "--json"]);
    let hits = hits.as_array().unwrap();
    assert!(
        !hits.is_empty() && hits.len() < all.len(),
        "{} of {}",
        hits.len(),
        all.len()
    );
    for h in hits {
        let text = format!("{} {}", h["name"], h["slug"]).to_lowercase();
        assert!(text.contains("portobello"), "{text}");
    }
    let misses: BTreeSet<String> = ids(&all).difference(&ids(hits)).cloned().collect();
    for id in &misses {
        let text = format!("{} {}", by_id[id]["name"], by_id[id]["slug"]).to_lowercase();
        assert!(!text.contains("portobello"), "{text} left out");
    }
    let table = dir.tf(&["entities", "--search", "portobello"]);
    assert_success(&table);
    let lines: Vec<String> = stdout(&table).lines().map(String::from).collect();
    assert_eq!(
        lines.len(),
        hits.len() + 2,
        "header, rows, count: {lines:?}"
    );
    for h in hits {
        assert!(lines
            .iter()
            .any(|l| l.starts_with(h["slug"].as_str().unwrap())));
    }
    let two_words = dir.tf_json(&["entities", "--search", "Powerleague PORTOBELLO", "--json"]);
    assert_eq!(two_words.as_array().unwrap().len(), 1, "{two_words}");

    let none = dir.tf(&["entities", "--search", "zzqxv"]);
    assert_success(&none);
    assert_eq!(stdout(&none).trim(), "no entities match");
    assert_eq!(
        dir.tf_json(&["entities", "--search", "zzqxv", "--json"]),
        serde_json::json!([])
    );
    let out = dir.tf(&["entities", "--search", "zzqxv", "--format", "csv"]);
    assert_success(&out);
    assert_eq!(stdout(&out).lines().count(), 1, "only the header");
    let geo = dir.tf_json(&["entities", "--search", "zzqxv", "--format", "geojson"]);
    assert_eq!(geo["features"], serde_json::json!([]));
    assert_exit(&dir.tf(&["entities", "--format", "xml"]), 2);
}

#[test]
fn provenance_shows_each_fields_winner_and_losers_with_their_origin_and_folds_as_of_a_seq() {
    let dir = setup();
    let report = dir.tf_json(&["ingest", SEED, "--json"]);
    let run_id = report["run_id"].as_str().unwrap().to_string();
    let trace_id = report["trace_id"].as_str().unwrap().to_string();
    let venue = best_sourced(&dir.entities()).clone();
    let slug = venue["slug"].as_str().unwrap().to_string();
    let id = venue["entity_id"].as_str().unwrap().to_string();
    let events: BTreeMap<u64, Value> = ndjson(&dir.tf(&["events", "--json"]))
        .into_iter()
        .map(|e| (e["seq"].as_u64().unwrap(), e))
        .collect();
    let payload_of: BTreeMap<String, String> = events
        .values()
        .filter(|e| e["kind"] == "ConnectorResponded")
        .map(|e| {
            (
                e["payload"]["payload_hash"].as_str().unwrap().to_string(),
                e["payload"]["connector"].as_str().unwrap().to_string(),
            )
        })
        .collect();

    let doc = dir.tf_json(&["provenance", &slug, "--json"]);
    assert_eq!(doc["entity_id"], id.as_str());
    assert_eq!(
        dir.tf_json(&["provenance", &id, "--json"]),
        doc,
        "by id as by slug"
    );
    assert_eq!(
        dir.tf_json(&["provenance", &id[..10], "--json"]),
        doc,
        "by a unique id prefix"
    );
    let fields = doc["provenance"].as_array().unwrap();
    assert!(fields.len() >= 5, "{doc}");
    let mut losers = 0;
    for f in fields {
        let field = f["field"].as_str().unwrap();
        let rows = f["candidates"].as_array().unwrap();
        assert!(!rows.is_empty(), "{field}");
        assert_eq!(f["value"], doc["fields"][field], "{field}");
        assert_eq!(f["source"], doc["source_info"][field], "{field}");
        assert!(
            rows.iter()
                .any(|r| r["winner"] == true && r["source"] == f["source"]),
            "{field}: the winning source has a winning row"
        );
        for r in rows {
            for key in [
                "source",
                "trust",
                "tier",
                "seq",
                "run_id",
                "trace_id",
                "payload_hash",
                "winner",
                "loss",
            ] {
                assert!(r.get(key).is_some(), "{field}: {key} in {r}");
            }
            assert_eq!(r["run_id"], run_id.as_str(), "{r}");
            assert_eq!(r["trace_id"], trace_id.as_str(), "{r}");
            let source = r["source"].as_str().unwrap();
            let hash = r["payload_hash"].as_str().unwrap();
            assert_eq!(
                payload_of.get(hash).map(String::as_str),
                Some(source),
                "{field}: the payload is the one {source} answered"
            );
            let event = &events[&r["seq"].as_u64().unwrap()];
            assert_eq!(event["kind"], "CandidateExtracted", "{r}");
            assert_eq!(event["payload"]["candidate_id"], r["candidate_id"]);
            let trust = r["trust"].as_f64().unwrap();
            assert!((0.0..=1.0).contains(&trust), "{r}");
            assert!(["official", "crowdsourced"].contains(&r["tier"].as_str().unwrap()));
            if r["winner"] == true {
                assert!(r["loss"].is_null(), "{field}: a winner has no loss: {r}");
            } else {
                losers += 1;
                assert!(
                    r["loss"].as_str().is_some_and(|l| !l.is_empty()),
                    "{field}: a losing row says why: {r}"
                );
            }
        }
    }
    assert!(losers > 0, "some value lost to another");
    // The shipped policy bars openstreetmap from phone and website.
    let excluded = fields
        .iter()
        .filter(|f| f["field"] == "website" || f["field"] == "phone")
        .flat_map(|f| f["candidates"].as_array().unwrap())
        .filter(|r| r["source"] == "openstreetmap")
        .collect::<Vec<_>>();
    for r in excluded {
        assert_eq!(r["winner"], false);
        assert_eq!(r["loss"], "excluded", "{r}");
    }

    // --field: just that field.
    let phone = dir.tf(&["provenance", &slug, "--field", "phone"]);
    assert_success(&phone);
    let text = stdout(&phone);
    assert!(text.lines().any(|l| l.starts_with("phone: ")), "{text}");
    let bad = dir.tf(&["provenance", &slug, "--field", "nonsense"]);
    assert_exit(&bad, 2);
    let err = stderr(&bad);
    assert!(err.contains("nonsense"), "{err}");
    let known: Vec<&str> = fields
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    for k in &known {
        assert!(err.contains(k), "names the known field {k}: {err}");
    }
    for other in known.iter().filter(|k| **k != "phone") {
        assert!(
            !text.lines().any(|l| l.starts_with(&format!("{other}: "))),
            "only phone, not {other}:\n{text}"
        );
    }
    let phone_json = dir.tf_json(&["provenance", &slug, "--field", "phone", "--json"]);
    let rows = phone_json["provenance"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["field"], "phone");

    let missing = dir.tf(&["provenance", "no-such-place"]);
    assert_exit(&missing, 2);
    assert!(
        stderr(&missing).contains("no-such-place"),
        "{}",
        stderr(&missing)
    );

    // --as-of: before the entity was founded there is nothing to show.
    let founded = events
        .values()
        .find(|e| {
            e["kind"] == "MergeDecided" && e["payload"]["decision"]["entity_id"] == id.as_str()
        })
        .expect("the entity was founded")["seq"]
        .as_u64()
        .unwrap();
    for seq in [1, founded - 1] {
        let early = dir.tf(&["provenance", &slug, "--as-of", &seq.to_string()]);
        assert_exit(&early, 2);
        let err = stderr(&early);
        assert!(err.contains("did not exist"), "{err}");
        assert!(
            err.contains(&format!("founded at seq {founded}")),
            "names when it was founded: {err}"
        );
    }
    let at_founding = dir.tf_json(&[
        "provenance",
        &slug,
        "--as-of",
        &founded.to_string(),
        "--json",
    ]);
    assert_eq!(at_founding["entity_id"], id.as_str());
    assert_eq!(at_founding["as_of_seq"], founded);
    // At the checkpoint (and at any later time) it is what the projection holds.
    let checkpoint = doc["as_of_seq"].as_u64().unwrap();
    assert_eq!(checkpoint, *events.keys().last().unwrap());
    for point in [checkpoint.to_string(), "2999-01-01T00:00:00Z".to_string()] {
        let then = dir.tf_json(&["provenance", &slug, "--as-of", &point, "--json"]);
        assert_eq!(then["fields"], doc["fields"], "as of {point}");
        assert_eq!(winners(&then), winners(&doc), "as of {point}");
        assert_eq!(then["sources"], doc["sources"], "as of {point}");
    }
    let bad = dir.tf(&["provenance", &slug, "--as-of", "last tuesday"]);
    assert_exit(&bad, 2);
    assert!(stderr(&bad).contains("--as-of"), "{}", stderr(&bad));
}

#[test]
fn runs_lists_the_ingest_and_report_reprints_its_appendix_c_report() {
    let dir = setup();
    let ingest = dir.tf(&["ingest", SEED]);
    assert_success(&ingest);
    let printed = stdout(&ingest);
    let runs = dir.tf_json(&["runs", "--json"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = &runs[0];
    assert_eq!(run["status"], "completed");
    assert_eq!(run["query"], SEED);
    let run_id = run["run_id"].as_str().unwrap().to_string();
    assert!(
        printed.contains(&format!("Run:      {run_id}")),
        "{printed}"
    );
    let started = dir.events_of_kind("RunStarted");
    assert_eq!(started[0]["run_id"], run_id.as_str());
    let table = dir.tf(&["runs"]);
    assert_success(&table);
    let line = stdout(&table)
        .lines()
        .find(|l| l.starts_with(&run_id))
        .map(String::from)
        .unwrap_or_else(|| panic!("{}", stdout(&table)));
    assert!(line.contains("completed") && line.ends_with(SEED), "{line}");

    let report = dir.tf(&["report", &run_id]);
    assert_success(&report);
    let text = stdout(&report);
    assert!(text.contains("Final Entities:"), "{text}");
    assert!(text.contains("Completeness:"), "{text}");
    assert!(text.contains(&format!("Query:    {SEED}")), "{text}");
    let entity_lines = |t: &str| -> Vec<String> {
        t.lines()
            .skip_while(|l| !l.starts_with("Final Entities:"))
            .take_while(|l| !l.starts_with("Inspect:"))
            .map(String::from)
            .collect()
    };
    assert!(
        entity_lines(&text).len() > 3,
        "entities listed: {}",
        entity_lines(&text).join("\n")
    );
    assert_eq!(
        entity_lines(&text),
        entity_lines(&printed),
        "the same entities as the ingest printed"
    );
    for e in dir.entities() {
        assert!(
            text.contains(&format!(
                "{} ({}, {})",
                e["name"].as_str().unwrap(),
                e["slug"].as_str().unwrap(),
                e["entity_id"].as_str().unwrap()
            )),
            "{e}\n{text}"
        );
    }
    let json = dir.tf_json(&["report", &run_id, "--json"]);
    assert_eq!(json["run_id"], run_id.as_str());
    assert_eq!(json["status"], "completed");
    assert_eq!(
        json["entities"].as_array().unwrap().len(),
        dir.entities().len()
    );
    assert_eq!(
        dir.tf_json(&["report", &run_id[..13], "--json"]),
        json,
        "a unique prefix names the run"
    );

    for unknown in ["00000000-0000-7000-8000-000000000000", "no-such-run"] {
        let out = dir.tf(&["report", unknown]);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(unknown), "{}", stderr(&out));
    }
}

#[test]
fn conflicts_lists_disagreeing_values_from_sources_of_near_trust() {
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let check = |rows: &Value| {
        let rows = rows.as_array().expect("conflicts --json is an array");
        for r in rows {
            assert_ne!(r["winner_source"], r["other_source"], "{r}");
            assert_ne!(r["winner_value"], r["other_value"], "{r}");
            let gap =
                (r["winner_trust"].as_f64().unwrap() - r["other_trust"].as_f64().unwrap()).abs();
            assert!(gap <= 0.15 + 1e-9, "within the policy's gap: {r}");
            let slug = r["slug"].as_str().unwrap();
            let field = r["field"].as_str().unwrap();
            let p = dir.tf_json(&["provenance", slug, "--field", field, "--json"]);
            let f = &p["provenance"][0];
            assert_eq!(f["conflict"], true, "{f}");
            assert_eq!(f["source"], r["winner_source"], "{f}");
            assert_eq!(f["value"], r["winner_value"], "{f}");
            assert!(
                f["candidates"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|c| c["source"] == r["other_source"] && c["value"] == r["other_value"]),
                "the other value is in the provenance: {f}"
            );
            assert!(p["conflicts"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == field));
        }
        rows.len()
    };
    let out = dir.tf(&["conflicts"]);
    assert_success(&out);
    let shipped = check(&dir.tf_json(&["conflicts", "--json"]));
    if shipped == 0 {
        assert_eq!(stdout(&out).trim(), "no conflicts");
    }

    // With google_places at 0.65 it is within 0.15 of serper (0.75), and the two disagree
    // on the seed venue's rating.
    std::fs::write(
        dir.data.join("trust.toml"),
        policy_with_google_trust("0.65"),
    )
    .unwrap();
    assert_success(&dir.tf(&["rebuild-projections"]));
    let rows = dir.tf_json(&["conflicts", "--json"]);
    let n = check(&rows);
    assert!(n > 0, "{rows}");
    let pair = rows
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["field"] == "rating")
        .unwrap_or_else(|| panic!("a rating conflict: {rows}"));
    assert_eq!(pair["winner_source"], "google_places");
    assert_eq!(pair["other_source"], "serper");
    let text = dir.tf(&["conflicts"]);
    assert_success(&text);
    let text = stdout(&text);
    assert!(
        text.lines()
            .any(|l| l.contains(pair["slug"].as_str().unwrap())
                && l.contains("rating")
                && l.contains("google_places 0.65")
                && l.contains("serper 0.75")),
        "{text}"
    );
    assert!(text.contains(&format!("{n} conflicting values")), "{text}");
    let listed = dir
        .entities()
        .into_iter()
        .find(|e| e["entity_id"] == pair["entity_id"])
        .unwrap();
    assert!(
        listed["conflicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "rating"),
        "{listed}"
    );
}

#[test]
fn an_import_is_folded_into_the_projections_and_searchable_at_once() {
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let before = dir.entities();
    let current = std::fs::read_to_string(dir.projections().join("CURRENT")).unwrap();
    let csv = write(
        &dir,
        "clubs.csv",
        b"id,name,addr,city,pc,phone,lat,lon\nQ-1,Quarrymill Racquet Club,5 Quarry Lane,Edinburgh,EH9 9ZZ,0131 496 0777,55.9300,-3.2000\n",
    );
    let report = dir.tf_json(&[
        "import",
        "--source",
        "council_sheet",
        "--format",
        "csv",
        "--map",
        MAP,
        csv.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(report["status"], "completed");
    assert_eq!(report["figures"]["entities_created"], 1, "{report}");
    let reported = report["entities"].as_array().unwrap();
    assert_eq!(reported.len(), 1, "{report}");
    assert_eq!(reported[0]["name"], "Quarrymill Racquet Club");
    assert_eq!(reported[0]["created"], true);

    let found = dir.tf_json(&["entities", "--search", "quarrymill", "--json"]);
    let found = found.as_array().unwrap();
    assert_eq!(found.len(), 1, "{found:?}");
    let e = &found[0];
    assert_eq!(e["entity_id"], reported[0]["entity_id"]);
    assert_eq!(e["name"], "Quarrymill Racquet Club");
    assert_eq!(e["sources"], serde_json::json!(["council_sheet"]));
    assert_eq!(e["fields"]["postcode"], "EH9 9ZZ");
    assert_eq!(
        e["external_ids"]["council_sheet"],
        serde_json::json!(["Q-1"])
    );
    let by_postcode = dir.tf_json(&["entities", "--search", "racquet eh9", "--json"]);
    assert_eq!(by_postcode.as_array().unwrap().len(), 1);
    let mut expected = ids(&before);
    expected.insert(e["entity_id"].as_str().unwrap().to_string());
    assert_eq!(ids(&dir.entities()), expected, "one entity added");
    assert_eq!(
        std::fs::read_to_string(dir.projections().join("CURRENT")).unwrap(),
        current,
        "caught up in place, not rebuilt"
    );
    let p = dir.tf_json(&[
        "provenance",
        "quarrymill-racquet-club",
        "--field",
        "phone",
        "--json",
    ]);
    assert_eq!(p["provenance"][0]["source"], "council_sheet");
    assert_eq!(p["provenance"][0]["value"], "+441314960777");
    assert_eq!(
        p["provenance"][0]["candidates"][0]["run_id"],
        report["run_id"]
    );
}

#[test]
fn a_corrupt_or_missing_projection_database_is_a_clear_error_until_rebuilt() {
    let dir = setup();
    let report = dir.tf_json(&["ingest", SEED, "--json"]);
    let run_id = report["run_id"].as_str().unwrap().to_string();
    let entities = dir.entities();
    let slug = entities[0]["slug"].as_str().unwrap().to_string();
    let readers: Vec<Vec<&str>> = vec![
        vec!["entities"],
        vec!["entities", "--json"],
        vec!["provenance", &slug],
        vec!["runs"],
        vec!["report", &run_id],
        vec!["conflicts"],
    ];
    let assert_refused = |named: &Path, what: &str| {
        for args in &readers {
            let out = dir.tf(args);
            assert_exit(&out, 2);
            let err = stderr(&out);
            assert!(
                err.contains(&named.display().to_string()),
                "{what} {args:?}: names {}: {err}",
                named.display()
            );
            assert!(
                err.contains("trustfold rebuild-projections"),
                "{what} {args:?}: says what to do: {err}"
            );
        }
    };
    let assert_rebuilt = |what: &str| {
        let out = dir.tf(&["rebuild-projections"]);
        assert_success(&out);
        assert_eq!(ids(&dir.entities()), ids(&entities), "{what}");
        for args in &readers {
            assert_success(&dir.tf(args));
        }
    };

    // Garbage in place of the live database.
    let live = dir.live_projection();
    let garbage: Vec<u8> = (0..64 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(&live, &garbage).unwrap();
    assert_refused(&live, "garbage");
    assert_rebuilt("after garbage");
    assert!(!live.exists(), "the damaged database was replaced");

    // An empty file.
    let live = dir.live_projection();
    std::fs::write(&live, b"").unwrap();
    assert_refused(&live, "empty");
    assert_rebuilt("after an empty file");

    // CURRENT naming a database that is not there.
    let pointer = dir.projections().join("CURRENT");
    std::fs::write(&pointer, "p-0123456789abcdef0123456789abcdef.sqlite3\n").unwrap();
    assert_refused(&pointer, "missing");
    let err = stderr(&dir.tf(&["entities"]));
    assert!(
        err.contains("p-0123456789abcdef0123456789abcdef.sqlite3"),
        "names the missing database: {err}"
    );
    assert_rebuilt("after a missing database");

    // CURRENT naming something that is not a projection database at all.
    std::fs::write(&pointer, "../log.sqlite3\n").unwrap();
    assert_refused(&pointer, "escaping");
    assert_rebuilt("after a bad pointer");

    // The log was never touched.
    assert_success(&dir.tf(&["verify"]));
    // An ingest with a damaged projection still records its run, with a warning.
    std::fs::write(dir.live_projection(), &garbage).unwrap();
    let events = dir.event_count();
    let out = dir.tf(&["ingest", "leisure centres edinburgh"]);
    assert_success(&out);
    assert!(
        stderr(&out).contains("trustfold rebuild-projections"),
        "{}",
        stderr(&out)
    );
    assert!(dir.event_count() > events, "the run is recorded");
    assert_success(&dir.tf(&["rebuild-projections"]));
    let runs = dir.tf_json(&["runs", "--json"]);
    assert_eq!(runs.as_array().unwrap().len(), 2, "{runs}");
    assert!(dir.entities().len() > entities.len());
}

#[test]
fn provenance_names_the_policy_its_values_were_folded_with() {
    let dir = setup();
    let report = dir.tf_json(&["ingest", SEED, "--json"]);
    let built_with = report["policy_hash"].as_str().unwrap().to_string();
    let slug = best_sourced(&dir.entities())["slug"]
        .as_str()
        .unwrap()
        .to_string();
    let fresh = dir.tf_json(&["provenance", &slug, "--json"]);
    assert_eq!(fresh["policy"]["hash"], built_with.as_str());

    // A new policy, not yet rebuilt: the values shown are still the old fold's, so the
    // policy named beside them must be the old one (the stale warning names the new one).
    std::fs::write(
        dir.data.join("trust.toml"),
        policy_with_google_trust("0.65"),
    )
    .unwrap();
    let out = dir.tf(&["provenance", &slug, "--json"]);
    assert_success(&out);
    assert!(stderr(&out).contains("stale"), "{}", stderr(&out));
    let stale: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(winners(&stale), winners(&fresh), "the old fold's values");
    assert_eq!(
        stale["policy"]["hash"],
        built_with.as_str(),
        "the policy that produced these values, not the one waiting for a rebuild"
    );
    let text = dir.tf(&["provenance", &slug]);
    assert!(
        stdout(&text).contains(&built_with[..12]),
        "the text names the fold's policy too: {}",
        stdout(&text)
    );
}

#[test]
fn a_repeated_ingest_reports_the_entities_it_found_again_as_not_new() {
    let dir = setup();
    let first = dir.tf_json(&["ingest", SEED, "--json"]);
    let second = dir.tf_json(&["ingest", SEED, "--json"]);
    assert_eq!(second["figures"]["entities_created"], 0);
    let listed = |r: &Value| -> BTreeSet<String> {
        r["entities"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["entity_id"].as_str().unwrap().to_string())
            .collect()
    };
    assert!(!listed(&first).is_empty());
    assert_eq!(
        listed(&second),
        listed(&first),
        "the second run found the same places, and its report lists them"
    );
    for e in second["entities"].as_array().unwrap() {
        assert_eq!(e["created"], false, "{e}");
    }
    let run_id = second["run_id"].as_str().unwrap();
    let text = stdout(&dir.tf(&["report", run_id]));
    assert!(text.contains("Final Entities:"), "{text}");
}

// ---------------------------------------------------------------------------------------
// Run lifecycle: signals, failures inside stages, trace ids, budgets, review, override,
// resume after kill -9, and incremental projections equal to a rebuild.

use std::process::Child;
use std::time::Instant;

/// A running `trustfold` whose stdout and stderr go to files, so no full pipe can block it.
struct Spawned {
    child: Child,
    out: PathBuf,
    err: PathBuf,
}

impl Scratch {
    /// Starts `cmd` in the background.
    fn spawn(&self, mut cmd: Command, tag: &str) -> Spawned {
        let out = self._tmp.path().join(format!("{tag}.stdout"));
        let err = self._tmp.path().join(format!("{tag}.stderr"));
        let child = cmd
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .unwrap();
        Spawned { child, out, err }
    }

    /// The binary as `tf` runs it, to be spawned rather than waited for.
    fn tf_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.cmd();
        clean_env(&mut cmd).env_remove("TRUSTFOLD_TRUST").args(args);
        cmd
    }

    /// The events of one run, in log order.
    fn run_events(&self, run_id: &str) -> Vec<Value> {
        let out = self.tf(&["events", "--json", "--run", run_id]);
        assert_success(&out);
        ndjson(&out)
    }

    /// The runs projection, as `runs --json` prints it.
    fn runs(&self) -> Vec<Value> {
        self.tf_json(&["runs", "--json"])
            .as_array()
            .expect("runs --json is an array")
            .clone()
    }

    /// How many events of each kind the log holds.
    fn kind_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for e in ndjson(&self.tf(&["events", "--json"])) {
            *counts
                .entry(e["kind"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        counts
    }

    /// Every entity as (name, sorted sources): what a run found, whatever the ids.
    fn entity_shapes(&self) -> BTreeSet<(String, Vec<String>)> {
        self.entities()
            .iter()
            .map(|e| {
                let mut sources: Vec<String> = e["sources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect();
                sources.sort();
                (e["name"].as_str().unwrap_or("").to_string(), sources)
            })
            .collect()
    }
}

impl Spawned {
    fn pid(&self) -> String {
        self.child.id().to_string()
    }

    /// Sends `signal` ("INT", "TERM", "KILL") with kill(1).
    fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.pid())
            .status()
            .unwrap();
        assert!(status.success(), "kill -{signal} {}", self.pid());
    }

    /// Waits up to `limit` for the process to exit; fails the test (after killing it) if it
    /// does not.
    fn wait_for_exit(mut self, limit: Duration) -> Output {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "still running after {limit:?}; stderr: {}",
                    std::fs::read_to_string(&self.err).unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        Output {
            status,
            stdout: std::fs::read(&self.out).unwrap(),
            stderr: std::fs::read(&self.err).unwrap(),
        }
    }

    /// SIGKILL: no destructor, no terminal event, no lock released by the process itself.
    fn kill_9(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

/// How many events of `kind` the log holds, or `None` while there is no readable log yet
/// (for polling a run in another process).
fn count_of_kind(dir: &Scratch, kind: &str) -> Option<usize> {
    if !dir.log().exists() {
        return None;
    }
    let out = dir.tf(&["events", "--json", "--kind", kind]);
    out.status.success().then(|| ndjson(&out).len())
}

/// Polls `ready` every 20 ms until it holds; fails the test naming `what` after `limit`.
fn wait_until(what: &str, limit: Duration, mut ready: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !ready() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

const TERMINAL_KINDS: [&str; 3] = ["RunCompleted", "RunFailed", "RunCancelled"];

/// Every run in the log has exactly one terminal event, and it is the last event of its
/// `run/<id>` stream.
fn assert_every_run_ends_once(dir: &Scratch) {
    let started = dir.events_of_kind("RunStarted");
    assert!(!started.is_empty(), "no runs");
    for s in started {
        let run_id = s["run_id"].as_str().unwrap();
        let stream = ndjson(&dir.tf(&["events", "--json", "--stream", &format!("run/{run_id}")]));
        let terminal: Vec<&str> = stream
            .iter()
            .map(|e| e["kind"].as_str().unwrap())
            .filter(|k| TERMINAL_KINDS.contains(k))
            .collect();
        assert_eq!(terminal.len(), 1, "run {run_id}: {terminal:?}");
        let last = stream.last().unwrap()["kind"].as_str().unwrap();
        assert_eq!(
            last, terminal[0],
            "run {run_id} ends with its terminal event"
        );
    }
}

/// The ids of the runs in the log (none before the first).
fn run_ids(dir: &Scratch) -> BTreeSet<String> {
    if !dir.log().exists() {
        return BTreeSet::new();
    }
    dir.events_of_kind("RunStarted")
        .iter()
        .map(|e| e["run_id"].as_str().unwrap().to_string())
        .collect()
}

/// The one run of `runs --json` with this id.
fn run_row(dir: &Scratch, run_id: &str) -> Value {
    dir.runs()
        .into_iter()
        .find(|r| r["run_id"] == run_id)
        .unwrap_or_else(|| panic!("run {run_id} in `runs --json`"))
}

#[test]
fn sigint_or_sigterm_during_a_slow_connector_call_cancels_the_run_with_exit_130() {
    for (signal, name) in [("INT", "SIGINT"), ("TERM", "SIGTERM")] {
        let server = FaultServer::start();
        server.script("/places", vec![Fault::Slow { ms: 8000 }]);
        let dir = setup();
        let mut cmd = dir.cmd_against(&server);
        cmd.env("SERPER_API_KEY", "tf-test-key")
            .env("TRUSTFOLD_TIMEOUT_MS", "30000")
            .args(["ingest", SEED, "--connectors", "serper"]);
        let ingest = dir.spawn(cmd, "ingest");
        wait_until(
            "the server holds serper's request",
            Duration::from_secs(10),
            || {
                server
                    .received()
                    .iter()
                    .any(|r| r.url.starts_with("/places"))
            },
        );
        ingest.signal(signal);
        // The server would answer after 8 s: exiting well before proves the call was dropped.
        let out = ingest.wait_for_exit(Duration::from_secs(5));
        assert_exit(&out, 130);
        assert!(stderr(&out).contains(name), "{name}: {}", stderr(&out));

        let started = dir.events_of_kind("RunStarted");
        assert_eq!(started.len(), 1, "{name}");
        let run_id = started[0]["run_id"].as_str().unwrap().to_string();
        let events = dir.run_events(&run_id);
        let last = events.last().unwrap();
        assert_eq!(last["kind"], "RunCancelled", "{name}: {:?}", kinds(&events));
        let reason = last["payload"]["reason"].as_str().unwrap();
        assert!(reason.contains(name), "{name}: {reason}");
        assert!(
            !events.iter().any(|e| e["kind"] == "ConnectorResponded"),
            "{name}: the slow answer never arrived"
        );
        let row = run_row(&dir, &run_id);
        assert_eq!(row["status"], "cancelled", "{name}: {row}");
        assert_eq!(row["interrupted"], false, "{name}: {row}");
        assert_success(&dir.tf(&["verify"]));
        assert_every_run_ends_once(&dir);
    }
}

#[test]
fn a_panic_or_an_error_inside_a_stage_ends_the_run_with_run_failed_and_exit_1() {
    let dir = setup();
    let cases = [
        ("panic:resolve", "resolve", "panic in stage resolve"),
        ("error:extract", "extract", "failpoint error:extract"),
        ("panic:extract", "extract", "panic in stage extract"),
        ("error:resolve", "resolve", "failpoint error:resolve"),
        ("error:fetch", "fetch", "failpoint error:fetch"),
    ];
    let mut failed_runs = Vec::new();
    for (failpoint, stage, message) in cases {
        let before = run_ids(&dir);
        let out = dir
            .tf_cmd(&["ingest", SEED])
            .env("TRUSTFOLD_FAILPOINT", failpoint)
            .output()
            .unwrap();
        // A panic is reported by the panic hook too, so `assert_exit` (no "panicked") does
        // not apply: the exit code and the message are what count.
        assert_eq!(
            out.status.code(),
            Some(1),
            "{failpoint}: stderr {}",
            stderr(&out)
        );
        assert!(
            stderr(&out).contains(message),
            "{failpoint}: {}",
            stderr(&out)
        );
        let run_id = run_ids(&dir)
            .into_iter()
            .find(|r| !before.contains(r))
            .unwrap_or_else(|| panic!("{failpoint}: the run was recorded"));
        let events = dir.run_events(&run_id);
        let last = events.last().unwrap();
        assert_eq!(
            last["kind"],
            "RunFailed",
            "{failpoint}: {:?}",
            kinds(&events)
        );
        assert_eq!(last["payload"]["stage"], stage, "{failpoint}");
        let error = last["payload"]["error"].as_str().unwrap();
        assert!(error.contains(message), "{failpoint}: {error}");
        assert_success(&dir.tf(&["verify"]));
        let row = run_row(&dir, &run_id);
        assert_eq!(row["status"], "failed", "{failpoint}: {row}");
        assert_eq!(row["interrupted"], false, "{failpoint}: {row}");
        failed_runs.push(run_id);
    }
    let runs = stdout(&dir.tf(&["runs"]));
    for run_id in &failed_runs {
        let line = runs
            .lines()
            .find(|l| l.starts_with(run_id.as_str()))
            .unwrap_or_else(|| panic!("{run_id} listed: {runs}"));
        assert!(line.contains(" failed "), "{line}");
    }
    assert_every_run_ends_once(&dir);
    // A failed run recorded no half-decided identity: a clean run afterwards completes.
    let ok = dir.tf_json(&["ingest", SEED, "--json"]);
    assert_eq!(ok["status"], "completed");
    assert_every_run_ends_once(&dir);
}

#[test]
fn a_panic_at_the_fetch_stage_also_ends_the_run_with_run_failed() {
    let dir = setup();
    let out = dir
        .tf_cmd(&["ingest", SEED])
        .env("TRUSTFOLD_FAILPOINT", "panic:fetch")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "stderr {}", stderr(&out));
    assert!(
        stderr(&out).contains("panic in stage fetch"),
        "{}",
        stderr(&out)
    );
    let started = dir.events_of_kind("RunStarted");
    assert_eq!(started.len(), 1);
    let run_id = started[0]["run_id"].as_str().unwrap();
    let events = dir.run_events(run_id);
    let last = events.last().unwrap();
    assert_eq!(last["kind"], "RunFailed", "{:?}", kinds(&events));
    assert_eq!(last["payload"]["stage"], "fetch");
    assert_eq!(run_row(&dir, run_id)["status"], "failed");
    assert_every_run_ends_once(&dir);
}

#[test]
fn every_log_line_and_every_event_of_a_run_carries_its_trace_id() {
    let dir = setup();
    let out = dir
        .tf_cmd(&["--log-format", "json", "ingest", SEED, "--json"])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert_success(&out);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let trace = report["trace_id"]
        .as_str()
        .expect("the report names its trace id");
    assert!(!trace.is_empty());
    let lines: Vec<&str> = std::str::from_utf8(&out.stderr)
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(lines.len() >= 5, "at least 5 log lines: {lines:?}");
    for line in &lines {
        let doc: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
        assert_eq!(doc["span"]["trace_id"], trace, "{line}");
    }
    let run_id = report["run_id"].as_str().unwrap();
    let events = dir.run_events(run_id);
    assert!(events.len() > 5, "{} events", events.len());
    for e in &events {
        assert_eq!(e["trace_id"], trace, "{e}");
    }
    assert_eq!(run_row(&dir, run_id)["trace_id"], trace);

    // One trace per run: the next run has its own.
    let next = dir.tf_json(&["ingest", SEED, "--json"]);
    assert_ne!(next["trace_id"], trace);
    let next_events = dir.run_events(next["run_id"].as_str().unwrap());
    assert!(next_events
        .iter()
        .all(|e| e["trace_id"] == next["trace_id"]));
}

/// The calls `server` received for Places (New) text search.
fn places_searches(server: &FaultServer) -> Vec<support::Received> {
    server
        .received()
        .into_iter()
        .filter(|r| r.url.starts_with("/v1/places:searchText"))
        .collect()
}

/// Google's figures in a run report.
fn google_figures(report: &Value) -> Value {
    report["figures"]["connectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["connector"] == "google_places")
        .unwrap_or_else(|| panic!("google_places in {report}"))
        .clone()
}

/// A query with 20 Places matches in the fixture world: two pages of 10.
const TWO_PAGES: &str = "tennis edinburgh";

#[test]
fn a_budget_stops_paid_calls_before_they_exceed_it_and_asks_for_a_review() {
    // The fixture world has two pages of Places results for the query (the offline path
    // follows nextPageToken too, and free calls never touch a budget).
    let offline = setup();
    let all = offline.tf_json(&[
        "ingest",
        TWO_PAGES,
        "--connectors",
        "google_places",
        "--budget",
        "0.02",
        "--json",
    ]);
    let g = google_figures(&all);
    assert_eq!(g["candidates"], 20, "{g}");
    assert_eq!(g["attempts"], 2, "{g}");
    assert_eq!(all["figures"]["cost_usd"], 0.0, "fixtures are free");
    assert!(offline.events_of_kind("ReviewRequested").is_empty());

    let ingest = |dir: &Scratch, server: &FaultServer, budget: &str| -> Value {
        let out = dir
            .cmd_against(server)
            .env("GOOGLE_PLACES_API_KEY", "tf-test-key")
            .args([
                "ingest",
                TWO_PAGES,
                "--connectors",
                "google_places",
                "--budget",
                budget,
                "--json",
            ])
            .output()
            .unwrap();
        assert_success(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    };

    // $0.02 pays for one call of $0.017: the second page is not asked for.
    let server = FaultServer::start();
    let dir = setup();
    let report = ingest(&dir, &server, "0.02");
    assert_eq!(
        server.received().len(),
        1,
        "exactly one call reached the server"
    );
    assert_eq!(places_searches(&server).len(), 1, "a Places search");
    assert_eq!(report["status"], "completed", "{report}");
    let spent = report["figures"]["cost_usd"].as_f64().unwrap();
    assert!((spent - 0.017).abs() < 1e-9, "spent {spent}");
    assert!(spent <= 0.02);
    assert_eq!(google_figures(&report)["candidates"], 10);
    let run_id = report["run_id"].as_str().unwrap().to_string();
    let events = dir.run_events(&run_id);
    assert_eq!(events.last().unwrap()["kind"], "RunCompleted");
    let reviews: Vec<&Value> = events
        .iter()
        .filter(|e| e["kind"] == "ReviewRequested")
        .collect();
    assert_eq!(reviews.len(), 1, "{:?}", kinds(&events));
    let review_id = format!("r_budget_{}", run_id.replace('-', ""));
    assert_eq!(reviews[0]["payload"]["reason"], "budget_overrun");
    assert_eq!(reviews[0]["payload"]["review_id"], review_id.as_str());
    assert_eq!(reviews[0]["stream"], format!("review/{review_id}"));
    let row = run_row(&dir, &run_id);
    assert!(
        (row["counts"]["spent_usd"].as_f64().unwrap() - 0.017).abs() < 1e-9,
        "{row}"
    );

    // The review is listed, approved once, and then closed.
    let open = dir.tf_json(&["review", "list", "--json"]);
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["review_id"], review_id.as_str());
    assert_eq!(open[0]["reason"], "budget_overrun");
    let text = dir.tf(&["review", "list"]);
    assert_success(&text);
    assert!(
        stdout(&text)
            .lines()
            .any(|l| l.contains(&review_id) && l.contains("budget_overrun")),
        "{}",
        stdout(&text)
    );
    let show = dir.tf(&["review", "show", &review_id]);
    assert_success(&show);
    assert!(stdout(&show).contains("budget"), "{}", stdout(&show));
    assert_success(&dir.tf(&["review", "approve", &review_id, "--reason", "ok"]));
    assert_eq!(
        dir.tf_json(&["review", "list", "--json"]),
        serde_json::json!([])
    );
    let closed = dir.tf_json(&["review", "list", "--all", "--json"]);
    assert_eq!(closed.as_array().unwrap().len(), 1, "{closed}");
    assert_eq!(closed[0]["decision"], "approved", "{closed}");
    assert_eq!(closed[0]["resolution"]["reason"], "ok", "{closed}");
    let all_text = stdout(&dir.tf(&["review", "list", "--all"]));
    assert!(
        all_text
            .lines()
            .any(|l| l.contains(&review_id) && l.contains("approved")),
        "{all_text}"
    );
    let resolved = dir.events_of_kind("ReviewResolved").len();
    let again = dir.tf(&["review", "approve", &review_id, "--reason", "ok"]);
    assert_exit(&again, 2);
    assert!(stderr(&again).contains(&review_id), "{}", stderr(&again));
    assert_exit(
        &dir.tf(&["review", "reject", &review_id, "--reason", "no"]),
        2,
    );
    assert_eq!(
        dir.events_of_kind("ReviewResolved").len(),
        resolved,
        "an answer is final"
    );
    assert_success(&dir.tf(&["verify"]));

    // $0.05 pays for both pages ($0.034): two calls, the second with the page token.
    let server = FaultServer::start();
    let dir = setup();
    let report = ingest(&dir, &server, "0.05");
    let calls = places_searches(&server);
    assert_eq!(calls.len(), 2, "both pages fetched");
    assert_eq!(server.received().len(), 2);
    assert!(!calls[0].body.contains("pageToken"), "{}", calls[0].body);
    assert!(calls[1].body.contains("\"pageToken\""), "{}", calls[1].body);
    assert_eq!(google_figures(&report)["candidates"], 20);
    let spent = report["figures"]["cost_usd"].as_f64().unwrap();
    assert!((spent - 0.034).abs() < 1e-9, "spent {spent}");
    assert!(dir.events_of_kind("ReviewRequested").is_empty());
}

/// A founding record and a second record of the same club, from another source, that
/// scores in the review band: the same name (one distinctive word: +2) and a postcode in
/// the same sector but not the same (+0.2) without coordinates: logit 1.2, score 0.77.
const CLUB_FOUNDING: &str = "id,name,addr,city,pc,phone,lat,lon\n\
    Q-1,Quarrymill Tennis Club,5 Quarry Lane,Edinburgh,EH9 9ZZ,0131 496 0777,55.9300,-3.2000\n";
const CLUB_IN_REVIEW: &str = "id,name,addr,city,pc,phone,lat,lon\n\
    C-7,Quarrymill Tennis Club,,Edinburgh,EH9 9ZY,,,\n";

/// Imports the two records; returns (review id, founding entity id, candidate id).
fn a_record_in_review(dir: &Scratch) -> (String, String, String) {
    let import = |source: &str, name: &str, csv: &str| -> Value {
        let path = write(dir, name, csv.as_bytes());
        dir.tf_json(&[
            "import",
            "--source",
            source,
            "--format",
            "csv",
            "--map",
            MAP,
            path.to_str().unwrap(),
            "--json",
        ])
    };
    let founded = import("council_sheet", "founding.csv", CLUB_FOUNDING);
    assert_eq!(founded["figures"]["entities_created"], 1, "{founded}");
    let entity = founded["entities"][0]["entity_id"]
        .as_str()
        .unwrap()
        .to_string();
    let second = import("edinburgh_council", "second.csv", CLUB_IN_REVIEW);
    assert_eq!(second["figures"]["reviews_requested"], 1, "{second}");
    assert_eq!(second["figures"]["entities_created"], 0, "{second}");
    let open = dir.tf_json(&["review", "list", "--json"]);
    let mine: Vec<&Value> = open
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["run_id"] == second["run_id"])
        .collect();
    assert_eq!(mine.len(), 1, "{open}");
    assert_eq!(mine[0]["reason"], "ambiguous_match");
    assert_eq!(mine[0]["entity_ids"], serde_json::json!([entity]));
    (
        mine[0]["review_id"].as_str().unwrap().to_string(),
        entity,
        mine[0]["candidate_id"].as_str().unwrap().to_string(),
    )
}

/// The MergeDecided events of one candidate.
fn merges_of(dir: &Scratch, candidate: &str) -> Vec<Value> {
    dir.events_of_kind("MergeDecided")
        .into_iter()
        .filter(|e| e["payload"]["candidate_id"] == candidate)
        .collect()
}

#[test]
fn an_ambiguous_match_is_shown_for_review_and_the_answer_decides_where_the_record_goes() {
    let dir = setup();
    let (review_id, entity, candidate) = a_record_in_review(&dir);
    assert_eq!(dir.entities().len(), 1, "the record waits: no entity yet");

    let show = dir.tf(&["review", "show", &review_id]);
    assert_success(&show);
    let text = stdout(&show);
    assert!(
        text.lines().any(|l| l.contains("record:")
            && l.contains("Quarrymill Tennis Club")
            && l.contains("edinburgh_council")
            && l.contains("C-7")),
        "names the record: {text}"
    );
    assert!(
        text.lines().any(|l| l.contains("candidate entity:")
            && l.contains("quarrymill-tennis-club")
            && l.contains("council_sheet")),
        "names the candidate entity: {text}"
    );
    let doc = dir.tf_json(&["review", "show", &review_id, "--json"]);
    assert_eq!(doc["review"]["review_id"], review_id.as_str());
    assert_eq!(doc["candidate"]["candidate_id"], candidate.as_str());
    assert_eq!(doc["candidate"]["observation"]["external_id"], "C-7");
    assert_eq!(doc["entities"][0]["entity_id"], entity.as_str());
    // An unknown review is bad input, and answering it records nothing.
    let n = dir.event_count();
    for args in [
        &["review", "show", "r_nonesuch"][..],
        &["review", "approve", "r_nonesuch", "--reason", "x"][..],
        &["review", "reject", "r_nonesuch", "--reason", "x"][..],
    ] {
        let out = dir.tf(args);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains("r_nonesuch"), "{}", stderr(&out));
    }
    assert_eq!(dir.event_count(), n);

    // Approving: the record joins the entity, decided by the review.
    let approve = dir.tf(&[
        "review",
        "approve",
        &review_id,
        "--reason",
        "the same club in the council register",
        "--by",
        "alice",
    ]);
    assert_success(&approve);
    assert!(stdout(&approve).contains(&entity), "{}", stdout(&approve));
    let entities = dir.entities();
    assert_eq!(entities.len(), 1, "{entities:?}");
    assert_eq!(entities[0]["entity_id"], entity.as_str());
    assert_eq!(entities[0]["candidates"], 2, "{}", entities[0]);
    assert!(
        entities[0]["sources"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "edinburgh_council"),
        "{}",
        entities[0]
    );
    let decided = merges_of(&dir, &candidate);
    let by_review: Vec<&Value> = decided
        .iter()
        .filter(|e| e["payload"]["decided_by"] == format!("review:{review_id}"))
        .collect();
    assert_eq!(by_review.len(), 1, "{decided:?}");
    assert_eq!(
        by_review[0]["payload"]["decision"]["outcome"],
        "existing_entity"
    );
    assert_eq!(
        by_review[0]["payload"]["decision"]["entity_id"],
        entity.as_str()
    );
    assert_eq!(dir.events_of_kind("ReviewResolved").len(), 1);
    let prov = dir.tf(&["provenance", "quarrymill-tennis-club"]);
    assert_success(&prov);
    assert!(
        stdout(&prov)
            .lines()
            .any(|l| l.contains("edinburgh_council")
                && l.contains(&format!("[joined by review:{review_id}]"))),
        "{}",
        stdout(&prov)
    );
    assert_eq!(
        dir.tf_json(&["review", "list", "--json"]),
        serde_json::json!([])
    );
    let all = dir.tf_json(&["review", "list", "--all", "--json"]);
    assert_eq!(all[0]["decision"], "approved", "{all}");
    assert_eq!(all[0]["resolution"]["by"], "alice", "{all}");
    assert_exit(
        &dir.tf(&["review", "approve", &review_id, "--reason", "x"]),
        2,
    );
    assert_exit(
        &dir.tf(&["review", "reject", &review_id, "--reason", "x"]),
        2,
    );
    assert_eq!(dir.events_of_kind("ReviewResolved").len(), 1);
    assert_success(&dir.tf(&["verify"]));

    // Rejecting, in another data dir: the record becomes an entity of its own.
    let other = setup();
    let (review_id, entity, candidate) = a_record_in_review(&other);
    assert_success(&other.tf(&[
        "review",
        "reject",
        &review_id,
        "--reason",
        "a different club",
    ]));
    let entities = other.entities();
    assert_eq!(entities.len(), 2, "{entities:?}");
    let new = entities
        .iter()
        .find(|e| e["entity_id"] != entity.as_str())
        .unwrap();
    assert_eq!(new["sources"], serde_json::json!(["edinburgh_council"]));
    assert_eq!(new["candidates"], 1);
    let founding = entities
        .iter()
        .find(|e| e["entity_id"] == entity.as_str())
        .unwrap();
    assert_eq!(
        founding["candidates"], 1,
        "the founding entity is unchanged"
    );
    let decided = merges_of(&other, &candidate);
    let by_review = decided
        .iter()
        .find(|e| e["payload"]["decided_by"] == format!("review:{review_id}"))
        .unwrap_or_else(|| panic!("{decided:?}"));
    assert_eq!(by_review["payload"]["decision"]["outcome"], "new_entity");
    assert_eq!(
        by_review["payload"]["decision"]["entity_id"],
        new["entity_id"]
    );
    let all = other.tf_json(&["review", "list", "--all", "--json"]);
    assert_eq!(all[0]["decision"], "rejected", "{all}");
    assert_success(&other.tf(&["verify"]));
}

#[test]
fn an_admin_override_beats_every_source_until_cleared_and_bad_overrides_exit_2() {
    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let venue = best_sourced(&dir.entities()).clone();
    let slug = venue["slug"].as_str().unwrap().to_string();
    let id = venue["entity_id"].as_str().unwrap().to_string();
    let before_value = venue["fields"]["phone"].clone();
    let before_source = venue["source_info"]["phone"].clone();
    assert!(before_value.is_string(), "the venue has a phone: {venue}");
    assert_ne!(before_value, "+441314960123");

    let out = dir.tf(&[
        "override",
        &slug,
        "phone",
        "+44 131 496 0123",
        "--reason",
        "called the venue",
        "--by",
        "alice",
    ]);
    assert_success(&out);
    let now = dir
        .entities()
        .into_iter()
        .find(|e| e["entity_id"] == id.as_str())
        .unwrap();
    assert_eq!(now["fields"]["phone"], "+441314960123", "{now}");
    assert_eq!(now["source_info"]["phone"], "admin", "{now}");

    let p = dir.tf_json(&["provenance", &slug, "--field", "phone", "--json"]);
    let f = &p["provenance"][0];
    assert_eq!(f["source"], "admin", "{f}");
    assert_eq!(f["tier"], "admin", "{f}");
    assert_eq!(f["value"], "+441314960123", "{f}");
    let rows = f["candidates"].as_array().unwrap();
    let admin: Vec<&Value> = rows.iter().filter(|r| r["source"] == "admin").collect();
    assert_eq!(admin.len(), 1, "{f}");
    assert_eq!(admin[0]["winner"], true);
    assert_eq!(admin[0]["note"], "by alice: called the venue");
    let sources: Vec<&Value> = rows.iter().filter(|r| r["source"] != "admin").collect();
    assert!(
        !sources.is_empty(),
        "the sources' values are still shown: {f}"
    );
    for r in sources {
        assert_eq!(r["loss"], "overridden", "{r}");
        assert_eq!(r["winner"], false, "{r}");
    }
    let text = stdout(&dir.tf(&["provenance", &slug, "--field", "phone"]));
    assert!(
        text.lines().any(|l| l.contains("WIN")
            && l.contains("admin")
            && l.contains("by alice: called the venue")),
        "{text}"
    );
    assert!(text.contains("overridden"), "{text}");

    // Bad overrides: exit 2, the message names the problem, nothing is recorded.
    let n = dir.event_count();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["override", &slug, "coordinates", "91,-3.1", "--reason", "x"],
            "latitude",
        ),
        (
            vec![
                "override",
                &slug,
                "coordinates",
                "55.95,-181",
                "--reason",
                "x",
            ],
            "longitude",
        ),
        (
            vec!["override", &slug, "rating", "5.5", "--reason", "x"],
            "between 0 and 5",
        ),
        (
            vec!["override", &slug, "rating", "--reason", "x", "--", "-0.5"],
            "between 0 and 5",
        ),
        (
            vec!["override", &slug, "colour", "red", "--reason", "x"],
            "colour",
        ),
        (
            vec![
                "override",
                &slug,
                "phone",
                "+44 131 496 0999",
                "--clear",
                "--reason",
                "x",
            ],
            "--clear",
        ),
        (
            vec!["override", &slug, "website", "--clear", "--reason", "x"],
            "no override of website",
        ),
        (
            vec![
                "override",
                "no-such-place",
                "phone",
                "+44 131 496 0999",
                "--reason",
                "x",
            ],
            "no-such-place",
        ),
        (
            vec![
                "override",
                &slug,
                "phone",
                "+44 131 496 0999",
                "--reason",
                " ",
            ],
            "--reason",
        ),
    ];
    for (args, expect) in cases {
        let out = dir.tf(&args);
        assert_exit(&out, 2);
        assert!(stderr(&out).contains(expect), "{args:?}: {}", stderr(&out));
        assert_eq!(dir.event_count(), n, "{args:?}: nothing recorded");
    }

    // Cleared: the sources' value wins again.
    let out = dir.tf(&[
        "override",
        &slug,
        "phone",
        "--clear",
        "--reason",
        "wrong number",
    ]);
    assert_success(&out);
    let now = dir
        .entities()
        .into_iter()
        .find(|e| e["entity_id"] == id.as_str())
        .unwrap();
    assert_eq!(now["fields"]["phone"], before_value, "{now}");
    assert_eq!(now["source_info"]["phone"], before_source, "{now}");
    let p = dir.tf_json(&["provenance", &slug, "--field", "phone", "--json"]);
    assert!(
        p["provenance"][0]["candidates"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["source"] != "admin" && r["loss"] != "overridden"),
        "{p}"
    );
    let again = dir.tf(&["override", &slug, "phone", "--clear", "--reason", "again"]);
    assert_exit(&again, 2);
    assert_success(&dir.tf(&["verify"]));
}

/// Starts an ingest of the seed query that sleeps at `stage`, waits until every connector
/// answered (the window of the sleep), checks it is live, and kills it with SIGKILL.
/// Returns the run id.
fn ingest_killed_in(dir: &Scratch, stage: &str, responses: usize) -> String {
    let mut cmd = dir.tf_cmd(&["ingest", SEED]);
    cmd.env("TRUSTFOLD_FAILPOINT", format!("sleep:{stage}:20000"));
    let ingest = dir.spawn(cmd, &format!("ingest-{stage}"));
    wait_until(
        &format!("{responses} responses are recorded ({stage})"),
        Duration::from_secs(15),
        || count_of_kind(dir, "ConnectorResponded").is_some_and(|n| n >= responses),
    );
    let run_id = dir.events_of_kind("RunStarted")[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Live: its process holds the run's lock, so it is running, not interrupted.
    let row = run_row(dir, &run_id);
    assert_eq!(row["status"], "running", "{stage}: {row}");
    assert_eq!(row["interrupted"], false, "{stage}: {row}");
    ingest.kill_9();
    run_id
}

/// Checks that `run_id` is listed as interrupted with the resume hint, resumes it, and
/// checks that the result is that of `reference` (an uninterrupted run).
fn assert_resumes_like(
    dir: &Scratch,
    run_id: &str,
    what: &str,
    resume: Output,
    reference: &Scratch,
) {
    assert_success(&resume);
    assert_success(&dir.tf(&["verify"]));
    assert_eq!(
        dir.entity_shapes(),
        reference.entity_shapes(),
        "{what}: the same entities as an uninterrupted run"
    );
    assert_eq!(
        dir.kind_counts(),
        reference.kind_counts(),
        "{what}: the same events as an uninterrupted run (no duplicates)"
    );
    let row = run_row(dir, run_id);
    assert_eq!(row["status"], "completed", "{what}: {row}");
    assert_eq!(row["interrupted"], false, "{what}: {row}");
    assert_every_run_ends_once(dir);
    let again = dir.tf(&["resume", run_id]);
    assert_exit(&again, 2);
    assert!(
        stderr(&again).contains("completed"),
        "{what}: {}",
        stderr(&again)
    );
}

fn assert_listed_as_interrupted(dir: &Scratch, run_id: &str, what: &str) {
    let row = run_row(dir, run_id);
    assert_eq!(row["interrupted"], true, "{what}: {row}");
    assert_eq!(row["status"], "running", "no terminal event: {what}: {row}");
    let text = stdout(&dir.tf(&["runs"]));
    let line = text
        .lines()
        .find(|l| l.starts_with(run_id))
        .unwrap_or_else(|| panic!("{what}: {text}"));
    assert!(line.contains("interrupted"), "{what}: {line}");
    assert!(
        text.contains(&format!("trustfold resume {run_id}")),
        "{what}: {text}"
    );
}

#[test]
fn a_run_killed_with_sigkill_is_listed_as_interrupted_and_resume_completes_it_without_duplicates() {
    let reference = setup();
    assert_success(&reference.tf(&["ingest", SEED]));
    let responses = reference.events_of_kind("ConnectorResponded").len();
    assert!(responses >= 4, "{responses}");

    for stage in ["fetch", "extract", "resolve"] {
        let what = format!("killed while sleeping at {stage}");
        let dir = setup();
        let run_id = ingest_killed_in(&dir, stage, responses);
        // The kill landed in the window: every response recorded, no stage event yet.
        let at_kill = dir.kind_counts();
        assert_eq!(
            at_kill.get("ConnectorResponded"),
            Some(&responses),
            "{what}: {at_kill:?}"
        );
        assert!(
            !at_kill.contains_key("CandidateExtracted"),
            "{what}: {at_kill:?}"
        );
        assert!(
            !TERMINAL_KINDS.iter().any(|k| at_kill.contains_key(*k)),
            "{what}: {at_kill:?}"
        );
        assert_listed_as_interrupted(&dir, &run_id, &what);
        let resume = dir.tf(&["resume", &run_id]);
        assert_resumes_like(&dir, &run_id, &what, resume, &reference);
    }

    let dir = setup();
    assert_success(&dir.tf(&["ingest", SEED]));
    let out = dir.tf(&["resume", "nonsense"]);
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("nonsense"), "{}", stderr(&out));
    let done = dir.runs()[0]["run_id"].as_str().unwrap().to_string();
    assert_exit(&dir.tf(&["resume", &done]), 2);
}

#[test]
fn a_run_killed_mid_fetch_resumes_by_sending_only_the_requests_without_a_recorded_response() {
    let reference = setup();
    assert_success(&reference.tf(&["ingest", SEED]));
    let responses = reference.events_of_kind("ConnectorResponded").len();

    // Google's answer is slow; the other connectors answer at once.
    let server = FaultServer::start();
    server.script("/v1/places:searchText", vec![Fault::Slow { ms: 15_000 }]);
    let dir = setup();
    let mut cmd = dir.cmd_against(&server);
    cmd.env("TRUSTFOLD_TIMEOUT_MS", "30000")
        .args(["ingest", SEED]);
    let ingest = dir.spawn(cmd, "ingest");
    wait_until(
        "every connector but google_places answered, and its call is open",
        Duration::from_secs(15),
        || {
            !places_searches(&server).is_empty()
                && count_of_kind(&dir, "ConnectorResponded") == Some(responses - 1)
        },
    );
    ingest.kill_9();
    let run_id = dir.events_of_kind("RunStarted")[0]["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    let recorded: Vec<String> = dir
        .events_of_kind("ConnectorResponded")
        .iter()
        .map(|e| e["payload"]["connector"].as_str().unwrap().to_string())
        .collect();
    assert!(
        !recorded.iter().any(|c| c == "google_places"),
        "{recorded:?}"
    );
    assert_listed_as_interrupted(&dir, &run_id, "killed mid-fetch");

    let sent_before = server.received().len();
    let resume = dir
        .cmd_against(&server)
        .env("TRUSTFOLD_TIMEOUT_MS", "30000")
        .args(["resume", &run_id])
        .output()
        .unwrap();
    let resent: Vec<String> = server.received()[sent_before..]
        .iter()
        .map(|r| r.url.clone())
        .collect();
    assert!(
        !resent.is_empty()
            && resent
                .iter()
                .all(|u| u.starts_with("/v1/places:searchText")),
        "only the unanswered Places call is sent again: {resent:?}"
    );
    assert_resumes_like(&dir, &run_id, "killed mid-fetch", resume, &reference);
    let google: Vec<Value> = dir
        .events_of_kind("ConnectorResponded")
        .into_iter()
        .filter(|e| e["payload"]["connector"] == "google_places")
        .collect();
    assert_eq!(google.len(), 1);
    assert_eq!(google[0]["run_id"], run_id.as_str());
}

#[test]
fn projections_caught_up_run_by_run_equal_a_rebuild_from_the_log() {
    let dir = setup();
    for query in [
        SEED,
        "tennis leith",
        "ev charging leith",
        "swimming pool edinburgh",
    ] {
        let report = dir.tf_json(&["ingest", query, "--json"]);
        assert_eq!(report["status"], "completed", "{query}: {report}");
    }
    let slug = best_sourced(&dir.entities())["slug"]
        .as_str()
        .unwrap()
        .to_string();
    assert_success(&dir.tf(&[
        "override",
        &slug,
        "website",
        "https://example.org/portobello",
        "--reason",
        "the venue's own page",
        "--by",
        "alice",
    ]));
    // An import, one of whose records waits for a review.
    a_record_in_review(&dir);
    // A failed run too.
    let failed = dir
        .tf_cmd(&["ingest", "golf edinburgh"])
        .env("TRUSTFOLD_FAILPOINT", "error:resolve")
        .output()
        .unwrap();
    assert_eq!(failed.status.code(), Some(1), "{}", stderr(&failed));

    // Reading catches the projections up; then compare with a rebuild of the whole log.
    assert!(dir.entities().len() > 10);
    let dump = || {
        trustfold_projections::Projections::new(&dir.data)
            .open_read()
            .unwrap()
            .expect("projections exist")
            .dump()
            .unwrap()
    };
    let incremental = dump();
    assert!(
        incremental.contains("example.org/portobello"),
        "the override is folded"
    );
    assert!(
        incremental.contains("ambiguous_match"),
        "the review is folded"
    );
    let current = std::fs::read_to_string(dir.projections().join("CURRENT")).unwrap();
    assert_success(&dir.tf(&["rebuild-projections"]));
    assert_ne!(
        std::fs::read_to_string(dir.projections().join("CURRENT")).unwrap(),
        current,
        "a fresh database was built"
    );
    let rebuilt = dump();
    if incremental != rebuilt {
        let first = incremental
            .lines()
            .zip(rebuilt.lines())
            .find(|(a, b)| a != b);
        panic!(
            "incremental projections differ from the rebuild ({} vs {} lines); first difference:\n{first:#?}",
            incremental.lines().count(),
            rebuilt.lines().count()
        );
    }
}
