//! Planner, connectors and ingest (offline fixtures and a real local HTTP server).

use super::*;

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
    assert!(dir.wrote_nothing(), "plan calls nothing and writes nothing");

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
    if let Some(mut db) = dir.pg_client() {
        // On PostgreSQL the log and the payloads are rows: none holds the key either.
        let rows = db
            .query(
                "SELECT 'event ' || seq, payload FROM trustfold.events \
                 UNION ALL SELECT 'blob ' || encode(hash, 'hex'), bytes FROM trustfold.blobs",
                &[],
            )
            .unwrap();
        assert!(rows.len() > 10, "the log and payloads are there to search");
        for row in rows {
            let (what, bytes): (String, Vec<u8>) = (row.get(0), row.get(1));
            assert!(
                !contains(&bytes, planted.as_bytes()),
                "{what} contains the key"
            );
        }
    }
    let responded = dir.events_of_kind("ConnectorResponded");
    assert!(responded
        .iter()
        .all(|r| r["payload"]["transport"] == "http"));
    let events = stdout(&dir.run(&["events", "--json"]));
    assert!(!events.contains(planted));
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
    // Every council sports facility: more than one page of 50 (the query asks for the
    // whole layer, so the whole layer is asked).
    let (out, events) = ingest_one(
        &dir,
        &server,
        "edinburgh_council",
        "sports facilities edinburgh",
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
