//! Projections: entities, provenance, trust policy, runs and reports, rebuilds.

use super::*;

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
    let current = dir.projection_pointer();
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
        dir.projection_pointer(),
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
    let current = dir.projection_pointer();
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
        dir.projection_pointer(),
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
    if embedded_only("projection files damaged on disk") {
        return;
    }
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
