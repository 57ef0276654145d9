//! Costs that do not grow with history: a policy change re-merges (with `--dry-run` first
//! and `--full` to re-fold), and a register imported again unchanged adds almost nothing
//! to the log while provenance still says when each record was last seen.

use super::*;

/// The real sportscotland register rows of Edinburgh's tennis courts and pitches (617
/// rows), as the matching fixtures keep them.
fn register() -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/matching/register_edinburgh_tennis_and_pitches.csv"),
    )
    .unwrap()
}

const REGISTER_MAP: &str = "id=external_id,name=name,address=address,postcode=postcode,\
     town=locality,lat=lat,lng=lon,facility_sub_type=categories";

impl Scratch {
    fn import_register(&self, file: &str, text: &str) -> Value {
        let path = self._tmp.path().join(file);
        std::fs::write(&path, text).unwrap();
        self.tf_json(&[
            "import",
            "--source",
            "sport_scotland",
            "--format",
            "csv",
            "--map",
            REGISTER_MAP,
            path.to_str().unwrap(),
            "--json",
        ])
    }

    /// (events, payload bytes) of the log, read with SQLite (or PostgreSQL) directly.
    fn log_size(&self) -> (u64, u64) {
        if let Some(mut c) = self.pg_client() {
            let row = c
                .query_one(
                    "SELECT count(*), sum(length(payload))::BIGINT FROM trustfold.events",
                    &[],
                )
                .unwrap();
            return (row.get::<_, i64>(0) as u64, row.get::<_, i64>(1) as u64);
        }
        sqlite(&self.log())
            .query_row(
                "SELECT count(*), sum(length(payload)) FROM events",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .unwrap()
    }
}

#[test]
fn reimporting_an_unchanged_register_grows_the_log_by_almost_nothing() {
    let dir = setup();
    let text = register();
    let first = dir.import_register("register.csv", &text);
    let (events_1, bytes_1) = dir.log_size();
    let entities = dir.entities().len();
    assert!(entities > 100, "{entities}");

    let second = dir.import_register("register.csv", &text);
    let (events_2, bytes_2) = dir.log_size();
    let (grew_events, grew_bytes) = (events_2 - events_1, bytes_2 - bytes_1);
    assert!(
        grew_events * 50 <= events_1 && grew_bytes * 50 <= bytes_1,
        "the same file again wrote {grew_events} events / {grew_bytes} bytes after \
         {events_1} / {bytes_1}: more than 2%"
    );
    assert_eq!(dir.entities().len(), entities, "no entity added");
    assert_eq!(second["figures"]["entities_created"], 0);
    let seen = second["figures"]["seen_unchanged"].as_u64().unwrap();
    let rows = text.lines().count() as u64 - 1;
    assert!(seen > rows * 9 / 10, "{seen} of {rows} rows seen again");
    assert_eq!(
        first["figures"]["seen_unchanged"].as_u64().unwrap_or(0),
        0,
        "nothing is seen again the first time"
    );
    let compact = dir.events_of_kind("CandidatesSeenAgain");
    assert_eq!(compact.len(), 1, "one event for the whole file");
    assert_eq!(compact[0]["payload"]["n_records"], seen);

    // Provenance still says when the records were last seen: the second import.
    let slug = dir.entities()[0]["slug"].as_str().unwrap().to_string();
    let doc = dir.tf_json(&["provenance", &slug, "--json"]);
    let seen_at: Vec<u64> = doc["provenance"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| f["candidates"].as_array().unwrap().clone())
        .filter_map(|r| r["last_seen_seq"].as_u64())
        .collect();
    let at = compact[0]["seq"].as_u64().unwrap();
    assert!(
        !seen_at.is_empty() && seen_at.iter().all(|s| *s == at),
        "{seen_at:?} vs seq {at}"
    );
    let text_out = stdout(&dir.tf(&["provenance", &slug]));
    assert!(
        text_out.contains(&format!("seen again unchanged at seq {at}")),
        "{text_out}"
    );
    // The compact form folds like the long one.
    assert_success(&dir.tf(&["verify"]));
    let incremental = dir.projection_dump();
    assert_success(&dir.tf(&["rebuild-projections", "--full"]));
    assert_eq!(incremental, dir.projection_dump());
}

#[test]
fn a_changed_reimport_records_the_changed_rows_in_full_and_names_the_ones_gone() {
    let dir = setup();
    let text = register();
    dir.import_register("register.csv", &text);
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    // Row 1 renamed, row 2 removed, a new row added.
    let renamed_id = lines[1].split(',').next().unwrap().to_string();
    let removed_id = lines[2].split(',').next().unwrap().to_string();
    lines[1] = lines[1].replacen(',', ",Renamed ", 1);
    lines.remove(2);
    lines.push(
        "pub_new.1,A New Pitch,1 New Road,EH1 1AA,Edinburgh,55.95,-3.19,Pitch - Grass".into(),
    );
    let changed = lines.join("\n") + "\n";
    let before = dir.events_of_kind("CandidateExtracted").len();
    let report = dir.import_register("register2.csv", &changed);
    let extracted = dir.events_of_kind("CandidateExtracted");
    let new_ones: Vec<&Value> = extracted[before..].iter().collect();
    let ids: BTreeSet<&str> = new_ones
        .iter()
        .map(|e| e["payload"]["external_id"].as_str().unwrap())
        .collect();
    assert!(
        ids.contains(renamed_id.as_str()) && ids.contains("pub_new.1"),
        "{ids:?}"
    );
    assert!(!ids.contains(removed_id.as_str()));
    assert!(
        new_ones.len() < 150,
        "only changed, new and undecided rows are recorded in full: {}",
        new_ones.len()
    );
    let seen = dir.events_of_kind("CandidatesSeenAgain");
    let absent: Vec<&str> = seen[0]["payload"]["absent"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(absent.len(), 1, "{absent:?}");
    assert_eq!(report["figures"]["entities_created"], 1, "the new pitch");
    // The removed row's candidate is not marked as seen again.
    let removed = match dir.pg_client() {
        Some(mut c) => {
            let schema = dir.projection_pointer();
            c.query_one(
                &format!("SELECT seen_seq FROM {schema}.candidates WHERE candidate_id = $1"),
                &[&absent[0]],
            )
            .unwrap()
            .get::<_, Option<i64>>(0)
        }
        None => sqlite(&dir.live_projection())
            .query_row(
                "SELECT seen_seq FROM candidates WHERE candidate_id = ?1",
                [absent[0]],
                |r| r.get::<_, Option<i64>>(0),
            )
            .unwrap(),
    };
    assert_eq!(removed, None);
}

#[test]
fn a_dry_run_lists_exactly_what_the_remerge_then_changes_and_writes_nothing() {
    let dir = setup();
    dir.tf_json(&["ingest", SEED, "--json"]);
    dir.tf_json(&["ingest", "tennis edinburgh", "--json"]);
    let before_dump = dir.projection_dump();
    let before: Vec<Value> = dir.entities();
    std::fs::write(
        dir.data.join("trust.toml"),
        policy_with_google_trust("0.65"),
    )
    .unwrap();

    let dry = dir.tf_json(&["rebuild-projections", "--dry-run", "--json"]);
    assert_eq!(
        dir.projection_dump(),
        before_dump,
        "a dry run writes nothing"
    );
    let changes = dry["changes"].as_array().unwrap();
    assert!(!changes.is_empty(), "{dry}");
    let summary = &dry["summary"];
    assert_eq!(summary["changes"].as_u64().unwrap() as usize, changes.len());
    assert_eq!(
        summary["changed_sources"],
        serde_json::json!(["google_places"])
    );
    for c in changes {
        assert_eq!(c["before_source"], "google_places", "{c}");
        assert_ne!(c["after_source"], "google_places", "{c}");
        for key in ["entity_id", "slug", "field", "before", "after"] {
            assert!(c.get(key).is_some(), "{key} in {c}");
        }
    }
    let text = stdout(&dir.tf(&["rebuild-projections", "--dry-run"]));
    assert!(
        text.contains("would change") && text.contains("nothing was written"),
        "{text}"
    );

    let remerge = dir.tf_json(&["rebuild-projections", "--json"]);
    assert_eq!(remerge["mode"], "remerge", "{remerge}");
    let examined = summary["entities_examined"].as_u64().unwrap();
    assert_eq!(
        remerge["report"]["entities_remerged"].as_u64().unwrap(),
        examined
    );
    assert!(
        examined < before.len() as u64,
        "only entities with google_places records"
    );
    // Every listed change is now the table's value, and nothing else moved.
    let after: BTreeMap<String, Value> = dir
        .entities()
        .into_iter()
        .map(|e| (e["entity_id"].as_str().unwrap().to_string(), e))
        .collect();
    for c in changes {
        let e = &after[c["entity_id"].as_str().unwrap()];
        let field = c["field"].as_str().unwrap();
        assert_eq!(e["source_info"][field], c["after_source"], "{c}");
    }
    let remerged = dir.projection_dump();
    assert_success(&dir.tf(&["rebuild-projections", "--full"]));
    assert_eq!(dir.projection_dump(), remerged, "re-merge = full re-fold");
    let again = dir.tf_json(&["rebuild-projections", "--json"]);
    assert_eq!(again["mode"], "unchanged");
}

#[test]
fn bad_rebuild_flags_exit_2() {
    let dir = setup();
    dir.tf_json(&["ingest", SEED, "--json"]);
    assert_exit(&dir.tf(&["rebuild-projections", "--dry-run", "--full"]), 2);
    let empty = setup();
    assert_exit(&empty.tf(&["rebuild-projections", "--dry-run"]), 2);
}
