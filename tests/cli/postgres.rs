//! `--store postgres://…`: what only the PostgreSQL store has to show. The whole suite also
//! runs on PostgreSQL (`TRUSTFOLD_TEST_CLI_BACKEND=postgres`, see `main.rs`); these tests
//! run whatever the suite's backend, whenever a test server is configured
//! (`TRUSTFOLD_TEST_PG_URL`): bad store URLs, workers on separate data dirs sharing one
//! database, a run killed on one worker and resumed on another, four workers and a
//! rebuild at once, SIGKILL inside appends.

use super::*;

/// A password that must never be printed.
const PASSWORD: &str = "hunter2-not-for-logs";

/// The same scratch, always on the embedded data dir (the reference for comparisons).
fn setup_embedded() -> Scratch {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    Scratch {
        _tmp: tmp,
        data,
        pg: None,
    }
}

/// A connection to the scratch's database, to look behind trustfold's back.
/// `url` with its user, password and database replaced (for URLs that must fail).
fn with_parts(url: &str, user: &str, password: &str, db: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    let host_and_db = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let host = host_and_db.split('/').next().unwrap();
    format!("postgres://{user}:{password}@{host}/{db}")
}

/// One line on stderr, naming what went wrong, without the password or a panic.
fn assert_one_line_error(out: &Output, code: i32, words: &[&str], what: &str) {
    assert_exit(out, code);
    let err = stderr(out);
    assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
    assert!(
        !err.contains(PASSWORD),
        "{what}: the password leaked: {err}"
    );
    for w in words {
        assert!(err.contains(w), "{what}: {w:?} in {err}");
    }
}

#[test]
fn store_urls_that_cannot_serve_exit_2_or_1_with_one_line_and_never_the_password() {
    let Some(dir) = setup_postgres() else { return };
    let url = dir.store_url().unwrap().to_string();
    let db = url.rsplit('/').next().unwrap().to_string();
    let with_store = |store: &str, args: &[&str]| -> Output {
        clean_env(&mut dir.cmd())
            .env("TRUSTFOLD_STORE", store)
            .args(args)
            .output()
            .unwrap()
    };
    let cases: Vec<(String, i32, Vec<&str>, &str)> = vec![
        (
            format!("mysql://root:{PASSWORD}@127.0.0.1/x"),
            2,
            vec!["not a PostgreSQL URL"],
            "another scheme",
        ),
        (
            format!("postgres://u:{PASSWORD}@127.0.0.1:1/x"),
            1,
            vec!["cannot reach the PostgreSQL server", "127.0.0.1:1"],
            "nothing listening",
        ),
        (
            format!("postgres://u:{PASSWORD}@127.0.0.1:99999/x"),
            2,
            vec!["not a valid PostgreSQL URL"],
            "a port out of range",
        ),
        (
            with_parts(&url, "tf_no_such_role", PASSWORD, &db),
            2,
            vec!["tf_no_such_role"],
            "wrong credentials",
        ),
        (
            format!("{}/tf_no_such_database", url.rsplit_once('/').unwrap().0),
            2,
            vec!["tf_no_such_database", "createdb"],
            "a database that does not exist",
        ),
    ];
    for (store, code, words, what) in cases {
        for args in [&["ingest", SEED][..], &["events"][..], &["verify"][..]] {
            let out = with_store(&store, args);
            assert_one_line_error(&out, code, &words, &format!("{what}: {args:?}"));
        }
    }
    assert!(
        !dir.data.join("log.sqlite3").exists(),
        "nothing written to the data dir"
    );

    // A database of another program: refused, and left as it was.
    let mut c = dir.pg_client().unwrap();
    c.batch_execute(
        "CREATE TABLE public.orders (id INT PRIMARY KEY); INSERT INTO public.orders VALUES (1)",
    )
    .unwrap();
    for args in [&["ingest", SEED][..], &["events"][..], &["entities"][..]] {
        let out = dir.tf(args);
        assert_one_line_error(&out, 2, &["another program", "public.orders"], "foreign");
    }
    assert_eq!(
        dir.trustfold_schemas(),
        0,
        "nothing created in another program's database"
    );
    c.batch_execute("DROP TABLE public.orders").unwrap();

    // A log written by a newer trustfold: read by none of this one's commands.
    assert_success(&dir.tf(&["ingest", SEED]));
    c.batch_execute("UPDATE trustfold.meta SET value = '999' WHERE key = 'format'")
        .unwrap();
    for args in [&["ingest", SEED][..], &["events"][..], &["verify"][..]] {
        let out = dir.tf(args);
        assert_one_line_error(&out, 2, &["newer trustfold"], "newer format");
    }
}

#[test]
fn every_command_works_on_postgres_and_agrees_with_the_embedded_store() {
    let Some(pg) = setup_postgres() else { return };
    let embedded = setup_embedded();
    for dir in [&embedded, &pg] {
        for query in [SEED, "tennis leith", "ev charging leith"] {
            let report = dir.tf_json(&["ingest", query, "--json"]);
            assert_eq!(report["status"], "completed", "{query}: {report}");
        }
        a_record_in_review(dir);
    }
    assert_eq!(pg.kind_counts(), embedded.kind_counts(), "the same events");
    assert_eq!(pg.entity_shapes(), embedded.entity_shapes());
    assert_eq!(
        ids(&pg.entities()),
        ids(&embedded.entities()),
        "the same entity ids (derived from the same records)"
    );
    assert_eq!(
        pg.tf_json(&["conflicts", "--json"]),
        embedded.tf_json(&["conflicts", "--json"])
    );

    // Review, override and provenance (with --as-of) on both, compared.
    let review = |dir: &Scratch| -> Value {
        let open = dir.tf_json(&["review", "list", "--json"]);
        let id = open[0]["review_id"].as_str().unwrap().to_string();
        assert_success(&dir.tf(&["review", "show", &id]));
        assert_success(&dir.tf(&["review", "approve", &id, "--reason", "same club"]));
        let mut left = dir.tf_json(&["review", "list", "--json"]);
        strip(&mut left, &["requested_at", "run_id"]);
        left
    };
    assert_eq!(review(&pg), review(&embedded));
    let slug = best_sourced(&embedded.entities())["slug"]
        .as_str()
        .unwrap()
        .to_string();
    for dir in [&embedded, &pg] {
        assert_success(&dir.tf(&[
            "override",
            &slug,
            "phone",
            "+44 131 496 0123",
            "--reason",
            "called them",
        ]));
    }
    let provenance = |dir: &Scratch, extra: &[&str]| -> Value {
        let mut args = vec!["provenance", slug.as_str(), "--json"];
        args.extend_from_slice(extra);
        let mut doc = dir.tf_json(&args);
        // Seqs, times and run ids differ between two logs written at different moments.
        strip(
            &mut doc,
            &[
                "last_seen_seq",
                "last_seen_at",
                "observed_at",
                "folded_to_seq",
                "recorded_at",
                "run_id",
                "trace_id",
            ],
        );
        doc
    };
    assert_eq!(provenance(&pg, &[]), provenance(&embedded, &[]));
    let first_run_end =
        |dir: &Scratch| -> String { dir.events_of_kind("RunCompleted")[0]["seq"].to_string() };
    assert_eq!(
        provenance(&pg, &["--as-of", &first_run_end(&pg)]),
        provenance(&embedded, &["--as-of", &first_run_end(&embedded)])
    );

    // A trust change: the dry run lists the same changes; the re-merge and a full rebuild
    // give the same entities on both.
    let policy = write(
        &pg,
        "trust.toml",
        policy_with_google_trust("0.2").as_bytes(),
    );
    let policy = policy.to_str().unwrap();
    let dry = |dir: &Scratch| -> Value {
        let out = dir.tf(&[
            "--trust",
            policy,
            "rebuild-projections",
            "--dry-run",
            "--json",
        ]);
        assert_success(&out);
        let mut doc: Value = serde_json::from_slice(&out.stdout).unwrap();
        strip(&mut doc, &["elapsed_ms"]);
        doc
    };
    assert_eq!(dry(&pg), dry(&embedded));
    for dir in [&embedded, &pg] {
        assert_success(&dir.tf(&["--trust", policy, "rebuild-projections"]));
    }
    let winners_of = |dir: &Scratch| -> Vec<(String, Value)> {
        let out = dir.tf(&["--trust", policy, "entities", "--json"]);
        assert_success(&out);
        let mut v: Vec<(String, Value)> = serde_json::from_slice::<Vec<Value>>(&out.stdout)
            .unwrap()
            .into_iter()
            .map(|e| {
                (
                    e["entity_id"].as_str().unwrap().to_string(),
                    e["fields"].clone(),
                )
            })
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    };
    assert_eq!(winners_of(&pg), winners_of(&embedded));
    for dir in [&embedded, &pg] {
        assert_success(&dir.tf(&["--trust", policy, "rebuild-projections", "--full"]));
    }
    assert_eq!(winners_of(&pg), winners_of(&embedded));

    // The reading commands, on PostgreSQL.
    let runs = pg.runs();
    assert_eq!(runs.len(), embedded.runs().len());
    assert!(runs
        .iter()
        .all(|r| r["status"] == "completed" && r["interrupted"] == false));
    let run_id = runs[0]["run_id"].as_str().unwrap();
    assert_success(&pg.tf(&["report", run_id]));
    assert_eq!(
        pg.run_events(run_id).len(),
        embedded
            .run_events(embedded.runs()[0]["run_id"].as_str().unwrap())
            .len()
    );
    let listed = pg.tf(&["dlq", "list", "--json"]);
    assert_success(&listed);
    let verified = pg.tf_json(&["verify", "--json"]);
    assert_eq!(verified["intact"], true, "{verified}");
    let head = stdout(&pg.tf(&["head"]));
    assert_success(&pg.tf(&["verify", "--expect", head.trim()]));
    let out = pg.tf(&["head"]);
    assert!(!stderr(&out).contains(PASSWORD));
    assert!(
        stderr(&out).contains("postgres://"),
        "names the store: {}",
        stderr(&out)
    );
}

/// Removes the named keys wherever they occur.
fn strip(v: &mut Value, keys: &[&str]) {
    match v {
        Value::Object(m) => {
            for k in keys {
                m.remove(*k);
            }
            m.values_mut().for_each(|x| strip(x, keys));
        }
        Value::Array(a) => a.iter_mut().for_each(|x| strip(x, keys)),
        _ => {}
    }
}

#[test]
fn a_run_killed_on_one_worker_is_listed_as_interrupted_everywhere_and_resumed_by_another() {
    let Some(first) = setup_postgres() else {
        return;
    };
    let reference = setup_embedded();
    assert_success(&reference.tf(&["ingest", SEED]));
    let responses = reference.events_of_kind("ConnectorResponded").len();

    let second = first.worker();
    let run_id = ingest_killed_in(&first, "resolve", responses);
    // The first worker's lock went with its connection: the run is interrupted for any
    // worker, on any host.
    assert_listed_as_interrupted(&second, &run_id, "seen from another worker");
    assert_listed_as_interrupted(&first, &run_id, "seen from the worker that ran it");
    let resume = second.tf(&["resume", &run_id]);
    assert_resumes_like(
        &second,
        &run_id,
        "resumed by another worker",
        resume,
        &reference,
    );
    assert_eq!(first.entity_shapes(), reference.entity_shapes());

    // A live run is not interrupted, and cannot be resumed by another worker.
    let mut cmd = first.tf_cmd(&["ingest", "tennis leith"]);
    cmd.env("TRUSTFOLD_FAILPOINT", "sleep:resolve:20000");
    let live = first.spawn(cmd, "live");
    let live_id = loop {
        let started = second.events_of_kind("RunStarted");
        if let Some(r) = started.iter().find(|e| e["run_id"] != run_id.as_str()) {
            break r["run_id"].as_str().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    wait_until(
        "the live run is in its sleep",
        Duration::from_secs(15),
        || run_row(&second, &live_id)["status"] == "running",
    );
    assert_eq!(run_row(&second, &live_id)["interrupted"], false);
    let refused = second.tf(&["resume", &live_id]);
    assert_exit(&refused, 2);
    assert!(
        stderr(&refused).contains("running in another process"),
        "{}",
        stderr(&refused)
    );
    live.kill_9();
}

#[test]
fn four_workers_and_a_rebuild_at_once_leave_a_gap_free_log_and_the_entities_of_sequential_work() {
    let Some(store) = setup_postgres() else {
        return;
    };
    let queries = [
        "tennis leith",
        "ev charging leith",
        "swimming pool edinburgh",
    ];
    let csv = "id,name,addr,city,pc,phone,lat,lon\n\
        W-1,Warriston Bowling Club,1 Warriston Road,Edinburgh,EH7 4HW,,55.9680,-3.1990\n\
        W-2,Leith Links Pitches,Links Place,Edinburgh,EH6 7EZ,,55.9700,-3.1700\n";

    // Sequential, on the embedded store: the reference.
    let reference = setup_embedded();
    for q in queries {
        assert_success(&reference.tf(&["ingest", q]));
    }
    let import_args = |dir: &Scratch| -> Vec<String> {
        let path = write(dir, "sheet.csv", csv.as_bytes());
        [
            "import",
            "--source",
            "council_sheet",
            "--format",
            "csv",
            "--map",
            MAP,
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([path.to_str().unwrap().to_string()])
        .collect()
    };
    let args = import_args(&reference);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_success(&reference.tf(&args));

    // At once, on PostgreSQL: three ingests and an import on four workers with data dirs
    // of their own, and a fifth rebuilding the projections meanwhile.
    assert_success(&store.tf(&["ingest", SEED]));
    assert_success(&reference.tf(&["ingest", SEED]));
    let workers: Vec<Scratch> = (0..5).map(|_| store.worker()).collect();
    let mut running = Vec::new();
    for (i, q) in queries.iter().enumerate() {
        running.push(workers[i].spawn(workers[i].tf_cmd(&["ingest", q]), "ingest"));
    }
    let args = import_args(&workers[3]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    running.push(workers[3].spawn(workers[3].tf_cmd(&args), "import"));
    running.push(workers[4].spawn(
        workers[4].tf_cmd(&["rebuild-projections", "--full"]),
        "rebuild",
    ));
    for p in running {
        assert_success(&p.wait_for_exit(Duration::from_secs(120)));
    }

    let seqs = seqs(&store);
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap-free seqs in commit order"
    );
    assert_success(&store.tf(&["verify"]));
    assert_every_run_ends_once(&store);
    assert!(store.runs().iter().all(|r| r["status"] == "completed"));
    assert_eq!(store.entity_shapes(), reference.entity_shapes());
    assert_eq!(store.kind_counts(), reference.kind_counts());
    // Every worker reads the same projections.
    for w in &workers {
        assert_eq!(w.entity_shapes(), reference.entity_shapes());
    }
}

#[test]
fn sigkill_inside_appends_twenty_times_leaves_no_partial_batch_and_the_others_go_on() {
    let Some(store) = setup_postgres() else {
        return;
    };
    const BATCH: u64 = 2_000;
    let steady = store.worker();
    let mut background = steady.spawn(
        steady.tf_cmd(&[
            "dev",
            "append-synthetic",
            "--events",
            "400000",
            "--batch",
            "500",
            "--tag",
            "steady",
        ]),
        "steady",
    );
    let victim = store.worker();
    for round in 0..20u64 {
        let p = victim.spawn(
            victim.tf_cmd(&[
                "dev",
                "append-synthetic",
                "--events",
                "1000000",
                "--batch",
                &BATCH.to_string(),
                "--tag",
                &format!("victim{round}"),
                "--with-blobs",
            ]),
            "victim",
        );
        // Somewhere in its appends: most of its time is spent inside one.
        std::thread::sleep(Duration::from_millis(150 + (round * 37) % 200));
        p.kill_9();
    }
    // The steady writer went on all along.
    assert!(
        background.child.try_wait().unwrap().is_none(),
        "the steady writer is still running"
    );
    background.signal("KILL");
    let _ = background.child.wait();

    let mut c = store.pg_client().unwrap();
    let streams = c
        .query(
            "SELECT stream, count(*) FROM trustfold.events
             WHERE stream LIKE 'synthetic/%' GROUP BY stream",
            &[],
        )
        .unwrap();
    let mut victim_batches = 0;
    for row in &streams {
        let (stream, n): (String, i64) = (row.get(0), row.get(1));
        let expected = if stream.starts_with("synthetic/victim") {
            victim_batches += 1;
            BATCH
        } else {
            500
        };
        assert_eq!(n as u64, expected, "{stream}: whole batches only");
    }
    assert!(victim_batches > 0, "the victims appended something");
    let seqs = seqs(&store);
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "gap-free"
    );
    let verified = store.tf_json(&["verify", "--json"]);
    assert_eq!(verified["intact"], true, "{verified}");
}
