//! The persisted identity index (`projections/IDENTITY`): runs decide against it as
//! they did against a full scan of the log, it follows the log, and it is rebuilt when
//! asked or when it cannot be used.

use super::*;

/// Every run of these tests also decides against a full scan of the log and fails if any
/// decision differs (`ingest::stages::IDENTITY_CHECK_ENV`).
const CHECK: &str = "TRUSTFOLD_IDENTITY_CHECK";

const REGISTER_MAP: &str = "id=external_id,name=name,address=address,postcode=postcode,\
                            town=locality,lat=lat,lng=lon,facility_sub_type=categories";

fn matching_fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/matching")
        .join(name)
}

impl Scratch {
    /// The binary with the identity check on.
    fn checked(&self, args: &[&str]) -> Output {
        clean_env(&mut self.cmd())
            .env_remove("TRUSTFOLD_TRUST")
            .env(CHECK, "1")
            .args(args)
            .output()
            .unwrap()
    }

    fn identity_store(&self) -> PathBuf {
        let dir = self.data.join("projections");
        let name = std::fs::read_to_string(dir.join("IDENTITY")).unwrap();
        dir.join(name.trim())
    }

    /// The identity store's tables and figures, in a canonical order (its build time
    /// left out).
    fn identity_dump(&self) -> Vec<String> {
        let conn = sqlite(&self.identity_store());
        let mut out = Vec::new();
        for query in [
            "SELECT key || '=' || value FROM meta WHERE key != 'built_at' ORDER BY key",
            "SELECT candidate_id || ' ' || seq FROM seen ORDER BY candidate_id",
            "SELECT idx || ' ' || candidate_id || ' ' || entity_id || ' ' || ifnull(seq, '-') \
             || ' ' || keys_hash FROM attached ORDER BY idx",
            "SELECT kind || ' ' || key || ' ' || idx FROM postings ORDER BY kind, key, idx",
            "SELECT candidate_id || ' ' || review_id FROM in_review ORDER BY candidate_id",
        ] {
            let mut stmt = conn.prepare(query).unwrap();
            let rows = stmt
                .query_map([], |r| r.get::<_, String>(0))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            out.push(format!("-- {query}"));
            out.extend(rows);
        }
        out
    }

    fn identity_checkpoint(&self) -> u64 {
        sqlite(&self.identity_store())
            .query_row(
                "SELECT value FROM meta WHERE key = 'checkpoint_seq'",
                [],
                |r| r.get::<_, String>(0),
            )
            .unwrap()
            .parse()
            .unwrap()
    }

    fn head(&self) -> u64 {
        sqlite(&self.log())
            .query_row("SELECT max(seq) FROM events", [], |r| r.get::<_, i64>(0))
            .unwrap() as u64
    }
}

/// The fixture world (several offline queries, one of them twice) and the labelled set
/// (the register subset and the OpenStreetMap tennis features, imported as the
/// matching-quality bench does), then a reviewer's answer: every run's `MergeDecided`
/// events from the persisted index equal those from a full scan of the log.
#[test]
fn runs_decide_against_the_persisted_index_as_against_a_full_scan() {
    if embedded_only("the identity index file (postgres: src/resolve/store/tests.rs)") {
        return;
    }
    let dir = setup();
    for query in [
        "powerleague portobello",
        "tennis edinburgh",
        "padel edinburgh",
        "ev charging leith",
        "leisure centres edinburgh",
        "golf edinburgh",
        "tennis edinburgh",
    ] {
        let out = dir.checked(&["ingest", query]);
        assert_success(&out);
    }
    let register = matching_fixture("register_edinburgh_tennis_and_pitches.csv");
    let osm = matching_fixture("osm_edinburgh_tennis.json");
    for args in [
        vec![
            "import",
            "--source",
            "sport_scotland_register",
            "--format",
            "csv",
            "--map",
            REGISTER_MAP,
            register.to_str().unwrap(),
        ],
        vec!["import", "--source", "openstreetmap", osm.to_str().unwrap()],
        // Seen again: every record re-observed, identity already decided.
        vec!["import", "--source", "openstreetmap", osm.to_str().unwrap()],
    ] {
        assert_success(&dir.checked(&args));
    }
    // A reviewer's answer moves a candidate; later runs see it where it was moved.
    let (review_id, _, _) = a_record_in_review(&dir);
    assert_success(&dir.checked(&["review", "approve", &review_id, "--reason", "same club"]));
    assert_success(&dir.checked(&["ingest", "powerleague portobello"]));
    assert!(
        dir.events_of_kind("MergeDecided").len() > 300,
        "the labelled set was decided"
    );

    // The store follows the log: after the last run it is caught up to its head.
    assert_eq!(dir.identity_checkpoint(), dir.head());
}

/// The coordinate-free directories set (`fixtures/matching/directories/`: the hygiene
/// register and OpenStreetMap shops, no coordinate in either), imported as its bench
/// does, twice over: decisions made on the street, (locality, word) and phone blocks from
/// the persisted index equal those from a full scan of the log.
#[test]
fn coordinate_free_directories_decide_against_the_persisted_index_as_against_a_full_scan() {
    if embedded_only("the identity index file (postgres: src/resolve/store/tests.rs)") {
        return;
    }
    let dir = setup();
    let fhrs = matching_fixture("directories/fhrs_edinburgh.csv");
    let osm = matching_fixture("directories/osm_edinburgh.csv");
    let fhrs_map = "FHRSID=external_id,BusinessName=name,AddressLine1=address,\
                    AddressLine2=address2,PostCode=postcode,BusinessType=categories";
    let osm_map = "id=external_id,name=name,addr:housenumber=address,addr:street=address2,\
                   addr:city=locality,addr:postcode=postcode,phone=phone,website=website,\
                   shop=categories,amenity=categories";
    for (source, map, file) in [
        ("openstreetmap", osm_map, &osm),
        ("food_hygiene_register", fhrs_map, &fhrs),
        ("openstreetmap", osm_map, &osm),
    ] {
        let out = dir.checked(&[
            "import",
            "--source",
            source,
            "--format",
            "csv",
            "--map",
            map,
            file.to_str().unwrap(),
        ]);
        assert_success(&out);
    }
    let decided = dir.events_of_kind("MergeDecided");
    assert!(
        decided.len() > 500,
        "the set was decided: {}",
        decided.len()
    );
    assert!(
        decided
            .iter()
            .any(|e| e["payload"]["features"].get("street").is_some()),
        "pairs were found and scored on their streets"
    );
    assert_eq!(dir.identity_checkpoint(), dir.head());
}

#[test]
fn rebuild_projections_full_rebuilds_the_identity_index_to_the_same_tables() {
    if embedded_only("the identity index file (postgres: src/resolve/store/tests.rs)") {
        return;
    }
    let dir = setup();
    ingest_offline(&dir, "powerleague portobello");
    ingest_offline(&dir, "tennis edinburgh");
    let incremental = dir.identity_dump();
    let before = dir.identity_store();

    // A policy change re-merges the projections; identity never depends on the policy.
    assert_success(&dir.tf(&["rebuild-projections"]));
    assert_eq!(dir.identity_store(), before, "plain rebuild leaves it");

    let out = dir.tf(&["rebuild-projections", "--full", "--json"]);
    assert_success(&out);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["identity"]["to_seq"], dir.head(), "{doc}");
    assert!(doc["identity"]["attached"].as_u64().unwrap() > 0, "{doc}");
    assert_ne!(dir.identity_store(), before, "a new file is swapped in");
    assert!(!before.exists(), "the old file is removed");
    assert_eq!(dir.identity_dump(), incremental);

    let text = dir.tf(&["rebuild-projections", "--full"]);
    assert_success(&text);
    assert!(
        stdout(&text).contains("rebuilt the identity index"),
        "{}",
        stdout(&text)
    );
}

#[test]
fn a_damaged_identity_index_is_rebuilt_by_the_next_run() {
    if embedded_only("the identity index file (postgres: src/resolve/store/tests.rs)") {
        return;
    }
    let dir = setup();
    ingest_offline(&dir, "powerleague portobello");
    let good = dir.identity_dump();
    std::fs::write(dir.identity_store(), b"not a database").unwrap();
    // Reading commands go on (their catch-up rebuilds it); a run decides as a full scan.
    assert_success(&dir.tf(&["entities", "--json"]));
    let out = dir.checked(&["ingest", "powerleague portobello"]);
    assert_success(&out);
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert_eq!(dir.identity_checkpoint(), dir.head());
    let again = dir.identity_dump();
    // The second run added acceptances and re-observations, no new attachments.
    let attached = |d: &[String]| {
        d.iter()
            .skip_while(|l| !l.contains("FROM attached"))
            .skip(1)
            .take_while(|l| !l.starts_with("--"))
            .map(|l| l.split(' ').take(3).collect::<Vec<_>>().join(" "))
            .collect::<Vec<_>>()
    };
    assert_eq!(attached(&again), attached(&good));

    // A pointer naming a file that is gone: rebuilt too.
    std::fs::write(dir.data.join("projections/IDENTITY"), "i-gone.sqlite3\n").unwrap();
    assert_success(&dir.checked(&["ingest", "powerleague portobello"]));
    assert_eq!(dir.identity_checkpoint(), dir.head());
}

#[test]
fn another_cell_size_rebuilds_the_index_and_other_thresholds_keep_it() {
    if embedded_only("the identity index file (postgres: src/resolve/store/tests.rs)") {
        return;
    }
    let dir = setup();
    ingest_offline(&dir, "powerleague portobello");
    let first = dir.identity_store();
    std::fs::write(
        dir.data.join("matching.toml"),
        "match_threshold = 0.85\ncommon_token_max = 50\n",
    )
    .unwrap();
    assert_success(&dir.checked(&["ingest", "tennis edinburgh"]));
    assert_eq!(
        dir.identity_store(),
        first,
        "thresholds are read-time settings"
    );
    std::fs::write(dir.data.join("matching.toml"), "cell_m = 500.0\n").unwrap();
    assert_success(&dir.checked(&["ingest", "padel edinburgh"]));
    assert_ne!(dir.identity_store(), first, "the cell size shapes the keys");
    assert_eq!(dir.identity_checkpoint(), dir.head());
}
