//! End-to-end tests: the real `trustfold` binary on a scratch data dir, real SQLite and
//! blob files, real processes (including SIGKILL mid-write), real full and read-only
//! file systems (a small tmpfs, where the tests may mount one).
//!
//! Shared helpers live here; the tests are in one module per topic (as ripgrep's `tests/`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Fault, FaultServer};

mod connectors;
mod corrections;
mod directories;
mod history;
mod identity;
mod identity_index;
mod lifecycle;
mod log;
mod migrate;
mod postgres;
mod projections;
mod relevance;
mod serve;
mod storage_faults;
mod support;

/// With `TRUSTFOLD_TEST_CLI_BACKEND=postgres`, every scratch keeps its log, blobs,
/// projections and run locks in a throw-away PostgreSQL database (its data dir then holds
/// only settings), so the same tests run against both engines: `.ci/run` runs this suite a
/// second time so. Tests about files (storage faults, the SQLite files themselves) say
/// they are embedded-only and return early there.
const BACKEND_ENV: &str = "TRUSTFOLD_TEST_CLI_BACKEND";

/// A scratch data dir and a way to run the binary against it.
struct Scratch {
    _tmp: tempfile::TempDir,
    data: PathBuf,
    /// The scratch's PostgreSQL database, when the suite runs on PostgreSQL (shared by
    /// the scratch's workers, dropped with the last).
    pg: Option<std::sync::Arc<trustfold_events::pg::testing::TestDb>>,
}

fn on_postgres() -> bool {
    match std::env::var(BACKEND_ENV).as_deref() {
        Ok("postgres") => true,
        Ok("embedded") | Err(_) => false,
        Ok(other) => panic!("{BACKEND_ENV}={other}: expected postgres or embedded"),
    }
}

fn setup() -> Scratch {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let pg = on_postgres().then(|| {
        std::sync::Arc::new(
            trustfold_events::pg::testing::TestDb::create()
                .unwrap_or_else(|| panic!("{BACKEND_ENV}=postgres needs TRUSTFOLD_TEST_PG_URL")),
        )
    });
    if pg.is_some() {
        // Where a worker on PostgreSQL keeps its settings (trust.toml, matching.toml).
        std::fs::create_dir_all(&data).unwrap();
    }
    Scratch {
        _tmp: tmp,
        data,
        pg,
    }
}

/// A scratch on a PostgreSQL database of its own, whatever the suite's backend; `None`
/// (the test is skipped) when no test server is configured outside CI.
fn setup_postgres() -> Option<Scratch> {
    let db = trustfold_events::pg::testing::TestDb::create()?;
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    Some(Scratch {
        _tmp: tmp,
        data,
        pg: Some(std::sync::Arc::new(db)),
    })
}

impl Scratch {
    /// Another worker on the same store: a data dir of its own (on another host, as far
    /// as trustfold can tell), the same PostgreSQL database.
    fn worker(&self) -> Scratch {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        Scratch {
            _tmp: tmp,
            data,
            pg: self.pg.clone(),
        }
    }

    /// The PostgreSQL store's URL, when the scratch has one.
    fn store_url(&self) -> Option<&str> {
        self.pg.as_deref().map(|db| db.url())
    }
}

/// Whether this test is about the embedded data dir's files (and so skipped when the suite
/// runs on PostgreSQL, where its PostgreSQL counterpart lives in `postgres.rs`).
fn embedded_only(what: &str) -> bool {
    if on_postgres() {
        eprintln!("skipped on PostgreSQL: {what}");
        return true;
    }
    false
}

impl Scratch {
    fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_trustfold"));
        cmd.arg("--data-dir").arg(&self.data);
        cmd.env_remove("TRUSTFOLD_DATA_DIR").env_remove("RUST_LOG");
        match &self.pg {
            Some(db) => cmd.env("TRUSTFOLD_STORE", db.url()),
            None => cmd.env_remove("TRUSTFOLD_STORE"),
        };
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    fn log(&self) -> PathBuf {
        self.data.join("log.sqlite3")
    }

    /// Whether a log may be read: its file exists, or it lives in PostgreSQL (where a
    /// database without one reads as an empty log).
    fn has_log(&self) -> bool {
        self.pg.is_some() || self.log().exists()
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

// Planner, connectors and ingest (offline fixtures and a real local HTTP server).

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

/// Every file under `root` (none when it does not exist: a worker on PostgreSQL may have
/// written no file at all).
fn walk(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if !root.exists() {
        return out;
    }
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

fn write(dir: &Scratch, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir._tmp.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

const MAP: &str =
    "id=external_id,name=name,addr=address,city=locality,pc=postcode,phone=phone,lat=lat,lon=lon";

// Projections: entities, provenance, trust policy, runs and reports, rebuilds.

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

    /// Every projection table as text (for comparing an incremental fold with a rebuild).
    fn projection_dump(&self) -> String {
        let store = match self.store_url() {
            Some(url) => trustfold_projections::ProjectionStore::Postgres(Box::new(
                trustfold_projections::PgProjections::new(
                    &trustfold_events::StoreUrl::parse(url).unwrap(),
                ),
            )),
            None => trustfold_projections::ProjectionStore::Embedded(
                trustfold_projections::Projections::new(&self.data),
            ),
        };
        store
            .open_read()
            .unwrap()
            .expect("projections exist")
            .dump()
            .unwrap()
    }

    /// Whether nothing was stored: no file in the data dir and, on PostgreSQL, no schema
    /// of trustfold's in the database.
    fn wrote_nothing(&self) -> bool {
        walk(&self.data).is_empty() && self.trustfold_schemas() == 0
    }

    /// A client of the scratch's PostgreSQL database (to look behind trustfold's back),
    /// when it has one.
    fn pg_client(&self) -> Option<::postgres::Client> {
        self.store_url()
            .map(|url| ::postgres::Client::connect(url, ::postgres::NoTls).unwrap())
    }

    /// How many schemas of trustfold's the scratch's database holds (0 without one).
    fn trustfold_schemas(&self) -> i64 {
        self.pg_client().map_or(0, |mut c| {
            c.query_one(
                "SELECT count(*) FROM pg_namespace \
                 WHERE nspname = 'trustfold' OR nspname LIKE 'tf%\\_%'",
                &[],
            )
            .unwrap()
            .get(0)
        })
    }

    /// Which projections build is live: `projections/CURRENT`, or the schema PostgreSQL's
    /// pointer row names (a rebuild changes it; a catch-up does not).
    fn projection_pointer(&self) -> String {
        match self.pg_client() {
            Some(mut c) => c
                .query_one("SELECT schema_name FROM trustfold.projection_current", &[])
                .unwrap()
                .get(0),
            None => std::fs::read_to_string(self.projections().join("CURRENT")).unwrap(),
        }
    }

    /// The live projection database, as `projections/CURRENT` names it.
    fn live_projection(&self) -> PathBuf {
        let name = std::fs::read_to_string(self.projections().join("CURRENT")).unwrap();
        self.projections().join(name.trim())
    }

    fn event_count(&self) -> usize {
        if !self.has_log() {
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

// Run lifecycle: signals, failures inside stages, trace ids, budgets, review, override,
// resume after kill -9, and incremental projections equal to a rebuild.

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
    if !dir.has_log() {
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
    if !dir.has_log() {
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

/// A founding record and a second record of the same club, from another source, that
/// scores in the review band: the same name (one distinctive word: +2) and a postcode in
/// the same sector but not the same (+0.2) without coordinates, and no town to compare:
/// logit 1.2, score 0.77.
const CLUB_FOUNDING: &str = "id,name,addr,city,pc,phone,lat,lon\n\
    Q-1,Quarrymill Tennis Club,5 Quarry Lane,Edinburgh,EH9 9ZZ,0131 496 0777,55.9300,-3.2000\n";

const CLUB_IN_REVIEW: &str = "id,name,addr,city,pc,phone,lat,lon\n\
    C-7,Quarrymill Tennis Club,,,EH9 9ZY,,,\n";

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
