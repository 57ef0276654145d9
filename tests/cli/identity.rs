//! Extraction, acceptance, identity and import.

use super::*;

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
