//! `trustfold migrate --to URL`: the data dir's log and payloads copied into PostgreSQL
//! verbatim, resumable, refusing a target that holds something else, then projected there.
//! Each test makes a throw-away database on the server `TRUSTFOLD_TEST_PG_URL` names and is
//! skipped without one (outside CI; under `CI=true` a missing server fails).

use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::Value;
use trustfold_events::pg::testing::TestDb;
use trustfold_events::{EventStore, PgEventStore, StoreUrl};

use super::*;

/// Events per batch of `migrate` (`MIGRATE_BATCH_EVENTS`): an interrupted copy stops at a
/// multiple of it.
const BATCH: u64 = 5_000;

/// The password the URLs of the error tests carry: it must appear nowhere.
const PASSWORD: &str = "hunter2";

impl Scratch {
    /// The binary on the PostgreSQL store at `url` (settings still from the data dir).
    fn on_pg(&self, url: &str, args: &[&str]) -> Output {
        self.pg_cmd(Some(url), args).output().unwrap()
    }

    /// The binary with no store, connector, key or policy from the environment.
    fn pg_cmd(&self, store: Option<&str>, args: &[&str]) -> Command {
        let mut cmd = self.tf_cmd(&[]);
        cmd.env_remove("TRUSTFOLD_STORE")
            .env_remove("TRUSTFOLD_FAILPOINT");
        if let Some(url) = store {
            cmd.arg("--store").arg(url);
        }
        cmd.args(args);
        cmd
    }

    fn migrate(&self, url: &str) -> Output {
        self.pg_cmd(None, &["migrate", "--to", url])
            .output()
            .unwrap()
    }

    /// `migrate --json`, which must succeed; its document.
    fn migrate_json(&self, url: &str) -> Value {
        let out = self
            .pg_cmd(None, &["migrate", "--to", url, "--json"])
            .output()
            .unwrap();
        assert_success(&out);
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("migrate --json: {e}: {}", stdout(&out)))
    }

    fn synthetic(&self, events: u64, tag: &str) {
        let out = self.run(&[
            "dev",
            "append-synthetic",
            "--events",
            &events.to_string(),
            "--batch",
            "1000",
            "--with-blobs",
            "--tag",
            tag,
        ]);
        assert_success(&out);
    }
}

/// The database's URL with a password in it, and the password: the test server's own,
/// or `hunter2` added where it needs none (trust authentication ignores it). The password
/// must then appear nowhere in what trustfold prints.
fn with_password(db: &TestDb) -> (String, String) {
    let url = db.url();
    let (scheme, rest) = url.split_once("://").unwrap();
    let (user_info, host) = rest.split_once('@').expect("the test URL names a user");
    match user_info.split_once(':') {
        Some((_, password)) => (url.to_string(), password.to_string()),
        None => (
            format!("{scheme}://{user_info}:{PASSWORD}@{host}"),
            PASSWORD.to_string(),
        ),
    }
}

/// An embedded data dir, whatever engine the suite runs on: what migrate copies from.
fn embedded() -> Scratch {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    Scratch {
        _tmp: tmp,
        data,
        pg: None,
    }
}

/// A throw-away database, or `None` (the test is then skipped).
fn database() -> Option<TestDb> {
    let db = TestDb::create();
    if db.is_none() {
        eprintln!("skipped: the migrate tests need a PostgreSQL server (TRUSTFOLD_TEST_PG_URL)");
    }
    db
}

fn pg_head(url: &str) -> u64 {
    PgEventStore::open_if_present(&StoreUrl::parse(url).unwrap())
        .unwrap()
        .and_then(|log| log.head().unwrap())
        .map_or(0, |h| h.seq)
}

/// Runs SQL on the database as its owner: tampering outside trustfold.
fn sql(url: &str, statements: &str) {
    StoreUrl::parse(url)
        .unwrap()
        .connect()
        .unwrap()
        .batch_execute(statements)
        .unwrap();
}

fn assert_verifies(dir: &Scratch, url: &str) {
    let here = dir.tf(&["verify", "--json"]);
    assert_success(&here);
    let there = dir.on_pg(url, &["verify", "--json"]);
    assert_success(&there);
    let (a, b): (Value, Value) = (
        serde_json::from_slice(&here.stdout).unwrap(),
        serde_json::from_slice(&there.stdout).unwrap(),
    );
    assert_eq!(a["intact"], true);
    assert_eq!(b["intact"], true);
    for key in ["events", "head_seq", "head_hash", "blobs_checked"] {
        assert_eq!(a[key], b[key], "{key}: the data dir {a} and PostgreSQL {b}");
    }
}

/// `verify --store URL` exits 3 naming `seq`, in text and in JSON.
fn assert_pg_integrity_failure_at(dir: &Scratch, url: &str, seq: u64) {
    let out = dir.on_pg(url, &["verify"]);
    assert_exit(&out, 3);
    assert!(
        stderr(&out).contains(&format!("seq {seq}:")),
        "names seq {seq}: {}",
        stderr(&out)
    );
    let json = dir.on_pg(url, &["verify", "--json"]);
    assert_exit(&json, 3);
    let doc: Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(doc["intact"], false);
    assert_eq!(doc["first_bad_seq"], seq, "{doc}");
}

/// The identity index on PostgreSQL is being ported: until it is, the migration says it
/// was not built (and the reading commands that catch it up cannot run there).
fn identity_built(doc: &Value) -> bool {
    let built = doc["identity"]["error"].is_null();
    if !built {
        eprintln!(
            "note: the identity index was not built on PostgreSQL: {}",
            doc["identity"]["error"]
        );
    }
    built
}

#[test]
fn the_fixture_world_round_trips_into_postgresql() {
    let Some(db) = database() else { return };
    let dir = embedded();
    ingest_offline(&dir, SEED);
    ingest_offline(&dir, TWO_PAGES);
    let path = write(&dir, "club.csv", CLUB_FOUNDING.as_bytes());
    let import = dir.tf(&[
        "import",
        "--source",
        "council_sheet",
        "--format",
        "csv",
        "--map",
        MAP,
        path.to_str().unwrap(),
    ]);
    assert_success(&import);
    let n_events = dir.event_count() as u64;

    let (url, password) = with_password(&db);
    let out = dir
        .pg_cmd(None, &["migrate", "--to", &url, "--json"])
        .output()
        .unwrap();
    assert_success(&out);
    assert!(
        !stdout(&out).contains(&password) && !stderr(&out).contains(&password),
        "the password is never shown"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["events_copied"], n_events, "{doc}");
    assert_eq!(doc["resumed_from"], 0);
    assert_eq!(doc["already_migrated"], false);
    assert!(doc["blobs_copied"].as_u64().unwrap() > 0, "{doc}");
    assert_eq!(doc["verify"]["source"]["intact"], true, "{doc}");
    assert_eq!(doc["verify"]["target"]["intact"], true, "{doc}");
    assert_verifies(&dir, db.url());

    // The same log: every event line alike (seq, id, times, payload, hash).
    let here = dir.tf(&["events", "--json"]);
    let there = dir.on_pg(db.url(), &["events", "--json"]);
    assert_success(&there);
    assert_eq!(ndjson(&here).len() as u64, n_events);
    assert_eq!(stdout(&here), stdout(&there));
    let head_here = dir.tf(&["head"]);
    assert_eq!(stdout(&head_here), stdout(&dir.on_pg(db.url(), &["head"])));
    // An anchor kept from the data dir holds on PostgreSQL.
    let anchor = stdout(&head_here).trim().to_string();
    assert_success(&dir.on_pg(db.url(), &["verify", "--expect", &anchor]));

    // The projections built there are those of the data dir, table by table.
    let url = StoreUrl::parse(db.url()).unwrap();
    let there = trustfold_projections::PgProjections::new(&url)
        .open_read()
        .unwrap()
        .expect("projections built on PostgreSQL")
        .dump()
        .unwrap();
    assert_eq!(dir.projection_dump(), there);
    if identity_built(&doc) {
        let entities = dir.on_pg(db.url(), &["entities", "--json"]);
        assert_success(&entities);
        let there: Value = serde_json::from_slice(&entities.stdout).unwrap();
        assert_eq!(Value::Array(dir.entities()), there);
    }

    // Again: nothing to copy; the projections are built again.
    let again = dir.migrate_json(db.url());
    assert_eq!(again["already_migrated"], true, "{again}");
    assert_eq!(again["events_copied"], 0);
    assert_eq!(again["resumed_from"], n_events);
    let text = dir.migrate(db.url());
    assert_success(&text);
    assert!(
        stdout(&text).contains("already migrated"),
        "{}",
        stdout(&text)
    );
    assert_verifies(&dir, db.url());
}

#[test]
fn a_100k_event_log_round_trips_and_is_timed() {
    let Some(db) = database() else { return };
    let dir = embedded();
    dir.synthetic(100_000, "big");
    let started = Instant::now();
    let doc = dir.migrate_json(db.url());
    let wall = started.elapsed();
    eprintln!(
        "migrate of 100,000 events (debug build): {} ms wall; copy {} ms ({} events/s), \
         verify {} ms, projections {} ms; {} payloads, {} event bytes",
        wall.as_millis(),
        doc["copy_ms"],
        doc["events_per_s"],
        doc["verify"]["ms"],
        doc["projections_ms"],
        doc["blobs_copied"],
        doc["event_bytes"]
    );
    assert_eq!(doc["events_copied"], 100_000);
    assert_eq!(doc["blobs_copied"], 100);
    assert_eq!(doc["head_seq"], 100_000);
    assert_verifies(&dir, db.url());
    let tail = |out: Output| {
        assert_success(&out);
        stdout(&out)
    };
    assert_eq!(
        tail(dir.tf(&["events", "--json", "--from", "99000"])),
        tail(dir.on_pg(db.url(), &["events", "--json", "--from", "99000"]))
    );
}

/// Starts a migrate that sleeps after its first batch; waits until it does.
fn migrate_paused(dir: &Scratch, url: &str, tag: &str) -> Spawned {
    let mut cmd = dir.pg_cmd(None, &["migrate", "--to", url]);
    cmd.env("TRUSTFOLD_FAILPOINT", "sleep:migrate:20000");
    let running = dir.spawn(cmd, tag);
    wait_until(
        "the migrate sleeps after its first batch",
        Duration::from_secs(30),
        || {
            std::fs::read_to_string(&running.err)
                .unwrap_or_default()
                .contains("failpoint: sleeping")
        },
    );
    running
}

#[test]
fn a_migration_killed_between_batches_resumes_where_it_stopped() {
    let Some(db) = database() else { return };
    let dir = embedded();
    dir.synthetic(12_000, "k");
    migrate_paused(&dir, db.url(), "migrate-killed").kill_9();
    assert_eq!(pg_head(db.url()), BATCH, "whole batches only");
    assert_success(&dir.on_pg(db.url(), &["verify"]));

    let doc = dir.migrate_json(db.url());
    assert_eq!(doc["resumed_from"], BATCH, "{doc}");
    assert_eq!(doc["events_copied"], 12_000 - BATCH);
    assert_verifies(&dir, db.url());
    assert_eq!(
        stdout(&dir.tf(&["events", "--json"])),
        stdout(&dir.on_pg(db.url(), &["events", "--json"]))
    );
}

#[test]
fn a_migration_stopped_with_ctrl_c_says_so_excludes_another_and_resumes() {
    let Some(db) = database() else { return };
    let dir = embedded();
    dir.synthetic(7_000, "c");
    let running = migrate_paused(&dir, db.url(), "migrate-int");
    // Meanwhile a second one into the same database waits for nothing: it is refused.
    let second = dir.migrate(db.url());
    assert_exit(&second, 1);
    assert!(
        stderr(&second).contains("another `trustfold migrate` is copying"),
        "{}",
        stderr(&second)
    );
    running.signal("INT");
    let out = running.wait_for_exit(Duration::from_secs(30));
    assert_exit(&out, 130);
    assert!(
        stderr(&out).contains(&format!("migration stopped after seq {BATCH} of 7000")),
        "{}",
        stderr(&out)
    );
    assert_eq!(pg_head(db.url()), BATCH);
    let doc = dir.migrate_json(db.url());
    assert_eq!(doc["resumed_from"], BATCH);
    assert_verifies(&dir, db.url());
}

#[test]
fn a_migration_killed_at_any_moment_leaves_whole_batches_and_resumes() {
    let Some(db) = database() else { return };
    let dir = embedded();
    dir.synthetic(60_000, "any");
    let running = dir.spawn(
        dir.pg_cmd(None, &["migrate", "--to", db.url()]),
        "migrate-any",
    );
    // Killed as soon as the first batch is in: most likely while the next is being written.
    wait_until(
        "the first batch is on PostgreSQL",
        Duration::from_secs(60),
        || pg_head(db.url()) > 0,
    );
    running.kill_9();
    let head = pg_head(db.url());
    assert_eq!(head % BATCH, 0, "whole batches only: head {head}");
    assert!(head < 60_000, "killed before the copy ended (head {head})");
    assert_success(&dir.on_pg(db.url(), &["verify"]));
    let doc = dir.migrate_json(db.url());
    assert_eq!(doc["resumed_from"], head, "{doc}");
    assert_verifies(&dir, db.url());
}

#[test]
fn a_target_holding_another_log_is_refused_and_left_untouched() {
    let Some(db) = database() else { return };
    let (mine, other) = (embedded(), embedded());
    mine.synthetic(3_000, "mine");
    other.synthetic(3_000, "other");
    mine.migrate_json(db.url());
    let before = stdout(&mine.on_pg(db.url(), &["events", "--json"]));

    let out = other.migrate(db.url());
    assert_exit(&out, 2);
    let err = stderr(&out);
    assert!(err.contains("holds a different log"), "{err}");
    assert!(err.contains("nothing was written"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert_eq!(before, stdout(&mine.on_pg(db.url(), &["events", "--json"])));
}

/// `cp -a`.
fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn a_data_dir_behind_its_target_is_refused_and_one_ahead_resumes() {
    let Some(db) = database() else { return };
    let dir = embedded();
    dir.synthetic(3_000, "a");
    let earlier = embedded();
    copy_dir(&dir.data, &earlier.data);
    dir.synthetic(4_000, "b");

    // The earlier copy of the data dir first: the later one continues it.
    let first = earlier.migrate_json(db.url());
    assert_eq!(first["events_copied"], 3_000);
    let next = dir.migrate_json(db.url());
    assert_eq!(next["resumed_from"], 3_000, "{next}");
    assert_eq!(next["events_copied"], 4_000);
    assert_verifies(&dir, db.url());

    // Now the earlier data dir is behind the database.
    let out = earlier.migrate(db.url());
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("it has 7000 events, the data dir 3000"),
        "{}",
        stderr(&out)
    );
    assert_eq!(pg_head(db.url()), 7_000);
}

#[test]
fn a_database_of_another_program_or_a_newer_format_is_refused() {
    let Some(db) = database() else { return };
    let dir = embedded();
    dir.synthetic(1_000, "x");
    sql(
        db.url(),
        "CREATE TABLE public.foo (id int); INSERT INTO public.foo VALUES (1);",
    );
    let out = dir.migrate(db.url());
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("public.foo"), "{}", stderr(&out));
    assert!(stderr(&out).contains("another program"), "{}", stderr(&out));
    let mut client = StoreUrl::parse(db.url()).unwrap().connect().unwrap();
    let schema: Option<String> = client
        .query_one("SELECT to_regnamespace('trustfold')::text", &[])
        .unwrap()
        .get(0);
    assert_eq!(schema, None, "nothing created");

    let Some(newer) = database() else { return };
    dir.migrate_json(newer.url());
    sql(
        newer.url(),
        "UPDATE trustfold.meta SET value = '99' WHERE key = 'format'",
    );
    let out = dir.migrate(newer.url());
    assert_exit(&out, 2);
    assert!(stderr(&out).contains("newer trustfold"), "{}", stderr(&out));
}

#[test]
fn bad_urls_and_unreachable_servers_fail_in_one_line_without_the_password() {
    let dir = embedded();
    dir.synthetic(1_000, "u");
    let check_secret = |url: &str, password: &str, code: i32, says: &str| {
        let out = dir.migrate(url);
        assert_exit(&out, code);
        let (o, e) = (stdout(&out), stderr(&out));
        assert!(
            !o.contains(password) && !e.contains(password),
            "{url}: {o}{e}"
        );
        assert!(e.contains(says), "{url}: {e}");
        assert_eq!(e.trim().lines().count(), 1, "{url}: one line: {e}");
    };
    let check = |url: &str, code: i32, says: &str| check_secret(url, PASSWORD, code, says);
    check("mysql://root:hunter2@127.0.0.1/db", 2, "PostgreSQL URL");
    check("postgres://u:hunter2@127.0.0.1:notaport/db", 2, "--to");
    check(
        "postgres://u:hunter2@127.0.0.1:5432",
        2,
        "names no database",
    );
    check(
        "postgres://postgres:hunter2@127.0.0.1:1/trustfold",
        1,
        "cannot reach the PostgreSQL server",
    );
    // --store naming another database than --to.
    let out = dir
        .pg_cmd(
            Some("postgres://postgres:hunter2@127.0.0.1:1/elsewhere"),
            &[
                "migrate",
                "--to",
                "postgres://postgres:hunter2@127.0.0.1:1/db",
            ],
        )
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(!stderr(&out).contains(PASSWORD), "{}", stderr(&out));

    // On the test server: an unknown role and a missing database are bad input.
    let Some(db) = database() else { return };
    let url = StoreUrl::parse(db.url()).unwrap();
    let redacted = url.redacted();
    let host_port = redacted
        .trim_start_matches("postgres://")
        .split_once('@')
        .map_or(redacted, |(_, rest)| rest)
        .rsplit_once('/')
        .unwrap()
        .0
        .to_string();
    check(
        &format!("postgres://no_such_role:{PASSWORD}@{host_port}/postgres"),
        2,
        "no_such_role",
    );
    // The server's own credentials (where it asks for a password), another database.
    let (with_secret, password) = with_password(&db);
    let base = with_secret.rsplit_once('/').unwrap().0;
    check_secret(
        &format!("{base}/tf_no_such_database"),
        &password,
        2,
        "does not exist",
    );
    assert_eq!(pg_head(db.url()), 0, "the test database was not touched");
}

#[test]
fn an_altered_data_dir_stops_the_copy_at_the_altered_seq() {
    let Some(db) = database() else { return };
    let dir = embedded();
    dir.synthetic(12_000, "t");
    sqlite(&dir.log())
        .execute(
            "UPDATE events SET payload = CAST(replace(CAST(payload AS TEXT), 'of', 'OF') AS BLOB) \
             WHERE seq = 7001",
            [],
        )
        .unwrap();
    let out = dir.migrate(db.url());
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("seq 7001"), "{}", stderr(&out));
    assert_eq!(pg_head(db.url()), BATCH, "the batches before it, whole");
    assert_success(&dir.on_pg(db.url(), &["verify"]));

    // An altered payload: the batch naming it is not copied.
    let other = embedded();
    other.synthetic(12_000, "p");
    let blob = other.tf(&[
        "events",
        "--json",
        "--kind",
        "ConnectorResponded",
        "--from",
        "8000",
    ]);
    let named = &ndjson(&blob)[0];
    assert_eq!(named["seq"], 8_000);
    let hash = named["payload"]["payload_hash"].as_str().unwrap();
    let file = other
        .data
        .join("blobs/objects")
        .join(&hash[..2])
        .join(&hash[2..]);
    std::fs::write(&file, b"not what was stored").unwrap();
    let db2 = TestDb::create().unwrap();
    let out = other.migrate(db2.url());
    assert_exit(&out, 3);
    assert!(stderr(&out).contains("seq 8000"), "{}", stderr(&out));
    assert_eq!(pg_head(db2.url()), BATCH);
}

#[test]
fn tampering_on_postgresql_after_a_migration_is_named_by_verify() {
    let Some(first) = database() else { return };
    let dir = embedded();
    dir.synthetic(3_000, "v");
    let dbs = [first, TestDb::create().unwrap(), TestDb::create().unwrap()];
    for db in &dbs {
        dir.migrate_json(db.url());
        assert_success(&dir.on_pg(db.url(), &["verify"]));
    }
    // A payload changed.
    sql(
        dbs[0].url(),
        "UPDATE trustfold.events SET payload = convert_to(replace(convert_from(payload, 'UTF8'), \
         'of', 'OF'), 'UTF8') WHERE seq = 1500",
    );
    assert_pg_integrity_failure_at(&dir, dbs[0].url(), 1500);
    // A row removed, nothing else adjusted.
    sql(
        dbs[1].url(),
        "DELETE FROM trustfold.events WHERE seq = 1500",
    );
    assert_pg_integrity_failure_at(&dir, dbs[1].url(), 1500);
    // Two rows' seqs swapped.
    sql(
        dbs[2].url(),
        "BEGIN;
         UPDATE trustfold.events SET seq = -1 WHERE seq = 1500;
         UPDATE trustfold.events SET seq = 1500 WHERE seq = 1501;
         UPDATE trustfold.events SET seq = 1501 WHERE seq = -1;
         COMMIT;",
    );
    assert_pg_integrity_failure_at(&dir, dbs[2].url(), 1500);
    // The data dir is untouched; migrating again onto an altered copy stops at its check.
    assert_success(&dir.tf(&["verify"]));
    let again = dir.migrate(dbs[0].url());
    assert_exit(&again, 3);
    assert!(stderr(&again).contains("seq 1500"), "{}", stderr(&again));
}
