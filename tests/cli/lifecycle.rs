//! Run lifecycle: signals, failures inside stages, trace ids, budgets, review, override,
//! resume after kill -9, and incremental projections equal to a rebuild.

use super::*;

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
    let dump = || dir.projection_dump();
    let incremental = dump();
    assert!(
        incremental.contains("example.org/portobello"),
        "the override is folded"
    );
    assert!(
        incremental.contains("ambiguous_match"),
        "the review is folded"
    );
    let current = dir.projection_pointer();
    assert_success(&dir.tf(&["rebuild-projections", "--full"]));
    assert_ne!(
        dir.projection_pointer(),
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
