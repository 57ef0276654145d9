//! Records without coordinates, from any country (issue 13): two directories of the same
//! places, with neither a point nor (in one of them) a postcode, import into one data dir
//! as one entity per place with both sources; phone numbers are read in the import's
//! region and come out in E.164, and one that is not a valid number is kept as written
//! with the reason in provenance.

use super::*;

/// A city guide's export: `id,name,address,city,phone,type`, American spellings, no
/// coordinates and no postcode. Five places, and a second branch of one of them.
const GUIDE: &str = "\
id,name,address,city,phone,type
g1,Joe's Pizza,7 Carmine St,New York,(212) 555-0101,restaurant
g2,The Strand,828 Broadway,New York,212/555-0102,bookshop
g3,Katz's Delicatessen,205 E Houston St,New York,212.555.0103,deli
g4,Russ & Daughters,179 E. Houston St.,New York,(212) 555-0104,deli
g5,Veselka,144 Second Ave,New York,212-555-0105,restaurant
g6,Joe's Pizza,1435 Broadway,New York,(212) 555-0106,restaurant
";

/// Another listing of the same places: other spellings of the names and streets, a unit
/// number, numbers with their country code or none at all.
const LISTING: &str = "\
ref,title,street,town,tel
L-10,Joes Pizza,\"7 Carmine Street, Suite 1\",New York,+1 212 555 0101
L-11,Strand Book Store,828 Broadway,New York,
L-12,Katz's Deli,205 East Houston Street,New York,(212) 555-0103
L-13,Russ and Daughters,179 East Houston Street,New York,
L-14,Veselka Restaurant,144 2nd Avenue,New York,+1-212-555-0105
";

const GUIDE_MAP: &str =
    "id=external_id,name=name,address=address,city=locality,phone=phone,type=categories";
const LISTING_MAP: &str = "ref=external_id,title=name,street=address,town=locality,tel=phone";

impl Scratch {
    /// Imports `text` (CSV) as `source` with `map` and the extra arguments; the run must
    /// succeed.
    fn import_csv(&self, source: &str, name: &str, text: &str, map: &str, extra: &[&str]) {
        let mut cmd = self.import_csv_cmd(source, name, text, map, extra);
        assert_success(&cmd.output().unwrap());
    }

    /// The command that imports `text` (CSV), written to `name` beside the data dir, as
    /// `source` with `map` and the extra arguments: to run for its output, or to spawn.
    fn import_csv_cmd(
        &self,
        source: &str,
        name: &str,
        text: &str,
        map: &str,
        extra: &[&str],
    ) -> Command {
        let path = self.data.with_file_name(name);
        std::fs::write(&path, text).unwrap();
        let mut args = vec![
            "import", "--source", source, "--format", "csv", "--map", map,
        ];
        args.extend_from_slice(extra);
        args.push(path.to_str().unwrap());
        self.tf_cmd(&args)
    }

    /// Each entity's name and the sources of its records, sorted by name.
    fn entity_sources(&self) -> Vec<(String, BTreeSet<String>)> {
        let mut out: Vec<(String, BTreeSet<String>)> = self
            .entities()
            .iter()
            .map(|e| {
                let sources = e["sources"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s.as_str().unwrap().to_string())
                    .collect();
                (e["name"].as_str().unwrap_or("").to_string(), sources)
            })
            .collect();
        out.sort();
        out
    }

    /// Every entity's name, sorted.
    fn entity_names(&self) -> Vec<String> {
        self.entity_sources().into_iter().map(|(n, _)| n).collect()
    }

    /// The phone of every `CandidateExtracted`, by external id.
    fn extracted_phones(&self) -> BTreeMap<String, Option<String>> {
        self.events_of_kind("CandidateExtracted")
            .iter()
            .map(|e| {
                let p = &e["payload"];
                (
                    p["external_id"].as_str().unwrap().to_string(),
                    p["fields"]["phone"].as_str().map(str::to_string),
                )
            })
            .collect()
    }
}

#[test]
fn two_coordinate_free_directories_of_the_same_places_make_one_entity_per_place_with_both_sources()
{
    let dir = setup();
    dir.import_csv(
        "city_guide",
        "guide.csv",
        GUIDE,
        GUIDE_MAP,
        &["--region", "US"],
    );
    dir.import_csv(
        "listing",
        "listing.csv",
        LISTING,
        LISTING_MAP,
        &["--region", "us"],
    );

    let both: BTreeSet<String> = ["city_guide", "listing"].map(String::from).into();
    let entities = dir.entity_sources();
    assert_eq!(
        entities.len(),
        6,
        "five places and a second branch: {entities:#?}"
    );
    let joined: Vec<&(String, BTreeSet<String>)> =
        entities.iter().filter(|(_, s)| *s == both).collect();
    assert_eq!(
        joined.len(),
        5,
        "every place of both listings is one entity: {entities:#?}"
    );
    let branches = entities.iter().filter(|(n, _)| n.contains("Pizza")).count();
    assert_eq!(
        branches, 2,
        "the branch on Broadway is another place: {entities:#?}"
    );

    // Every decision that joined a listing record to a guide record says why: the street
    // and house number, the locality, and the phone where both have one.
    let joins: Vec<Value> = dir
        .events_of_kind("MergeDecided")
        .into_iter()
        .filter(|e| e["payload"]["decision"]["outcome"] == "existing_entity")
        .collect();
    assert_eq!(joins.len(), 5);
    for j in &joins {
        let f = &j["payload"]["features"];
        assert!(f["street"].as_f64().unwrap() > 0.8, "{f}");
        assert_eq!(f["locality"], 1.0, "{f}");
        assert_eq!(
            j["payload"]["matcher_version"],
            trustfold::resolve::MATCHER_VERSION
        );
    }
    assert!(joins
        .iter()
        .any(|j| j["payload"]["features"]["phone"] == 1.0));
}

#[test]
fn a_directory_imported_twice_in_either_order_gives_the_same_places() {
    let one = setup();
    one.import_csv(
        "city_guide",
        "guide.csv",
        GUIDE,
        GUIDE_MAP,
        &["--region", "US"],
    );
    one.import_csv(
        "listing",
        "listing.csv",
        LISTING,
        LISTING_MAP,
        &["--region", "US"],
    );
    let other = setup();
    other.import_csv(
        "listing",
        "listing.csv",
        LISTING,
        LISTING_MAP,
        &["--region", "US"],
    );
    other.import_csv(
        "city_guide",
        "guide.csv",
        GUIDE,
        GUIDE_MAP,
        &["--region", "US"],
    );
    let sources = |d: &Scratch| {
        let mut s: Vec<BTreeSet<String>> = d.entity_sources().into_iter().map(|(_, s)| s).collect();
        s.sort();
        s
    };
    assert_eq!(sources(&one), sources(&other));
}

#[test]
fn phones_from_any_country_become_e164_and_an_invalid_one_is_kept_with_its_reason() {
    let dir = setup();
    let text = "\
id,name,address,city,phone
p1,Corner Bistro,331 W 4th St,New York,(212) 555-0110
p2,Cafe de Flore,172 Boulevard Saint-Germain,Paris,+33 1 45 48 55 26
p3,Bar Italia,22 Frith Street,London,+44 20 7437 4520
p4,Mystery Diner,1 Main St,Springfield,555-01
p5,Nowhere Cafe,2 Main St,Springfield,n/a
";
    let map = "id=external_id,name=name,address=address,city=locality,phone=phone";
    dir.import_csv("world_guide", "world.csv", text, map, &["--region", "US"]);
    let phones = dir.extracted_phones();
    assert_eq!(phones["p1"].as_deref(), Some("+12125550110"));
    assert_eq!(phones["p2"].as_deref(), Some("+33145485526"));
    assert_eq!(phones["p3"].as_deref(), Some("+442074374520"));
    // Not a valid number: kept as written, never dropped; a placeholder is no number.
    assert_eq!(phones["p4"].as_deref(), Some("555-01"));
    assert_eq!(phones["p5"], None);

    // The entity's phone is only ever a valid number; provenance shows the one kept as
    // written, and why it lost.
    let doc = dir.tf_json(&["provenance", "mystery-diner", "--field", "phone", "--json"]);
    let text = doc.to_string();
    assert!(text.contains("555-01"), "{text}");
    assert!(text.contains("\"loss\":\"invalid\""), "{text}");
    assert!(text.contains("not valid in the region"), "{text}");
    let out = dir.tf(&["provenance", "mystery-diner", "--field", "phone"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("not a valid value"),
        "{}",
        stdout(&out)
    );
    let diner = dir
        .entities()
        .into_iter()
        .find(|e| e["name"] == "Mystery Diner")
        .unwrap();
    assert!(diner["fields"].get("phone").is_none(), "{diner}");
}

#[test]
fn the_region_comes_from_the_flag_else_the_trust_policy_else_the_connector() {
    let text = "id,name,address,city,phone\nf1,Chez Nous,12 Rue de Rivoli,Paris,01 42 68 53 00\n";
    let map = "id=external_id,name=name,address=address,city=locality,phone=phone";

    // The shipped policy reads an imported source's numbers as British: a French national
    // number is not valid there, and is kept as written.
    let none = setup();
    none.import_csv("annuaire", "a.csv", text, map, &[]);
    assert_eq!(
        none.extracted_phones()["f1"].as_deref(),
        Some("01 42 68 53 00")
    );

    // The policy's [default] region reads every source it does not list.
    let policy = setup();
    std::fs::create_dir_all(&policy.data).unwrap();
    let shipped =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/trust.toml"))
            .unwrap();
    let with_region = shipped.replace("region = \"GB\"", "region = \"FR\"");
    assert_ne!(
        with_region, shipped,
        "the shipped policy has a [default] region"
    );
    std::fs::write(policy.data.join("trust.toml"), with_region).unwrap();
    policy.import_csv("annuaire", "a.csv", text, map, &[]);
    assert_eq!(
        policy.extracted_phones()["f1"].as_deref(),
        Some("+33142685300")
    );

    // The flag wins over the policy; a connector's own source reads British numbers.
    let flag = setup();
    flag.import_csv("annuaire", "a.csv", text, map, &["--region", "FR"]);
    assert_eq!(
        flag.extracted_phones()["f1"].as_deref(),
        Some("+33142685300")
    );
    let osm = setup();
    let gb = "id,name,address,city,phone\nn1,Shop,1 Leith Walk,Edinburgh,0131 496 0123\n";
    osm.import_csv("openstreetmap", "o.csv", gb, map, &[]);
    assert_eq!(
        osm.extracted_phones()["n1"].as_deref(),
        Some("+441314960123")
    );

    // A region that is not a country is bad input, before anything is recorded.
    let bad = setup();
    let out = bad
        .import_csv_cmd("annuaire", "a.csv", text, map, &["--region", "XX"])
        .output()
        .unwrap();
    assert_exit(&out, 2);
    assert!(
        stderr(&out).contains("unknown region 'XX'"),
        "{}",
        stderr(&out)
    );
    assert!(!bad.log().exists());
}

#[test]
fn a_record_that_nothing_could_find_again_is_rejected_with_the_founding_minimum() {
    let dir = setup();
    // A name and a street without a number, no locality, phone or postcode: nothing a
    // later record of the same place could find it by.
    let text = "id,name,address\nx1,Somewhere Shop,High Street\nx2,Numbered Shop,12 High Street\n";
    dir.import_csv(
        "scraps",
        "s.csv",
        text,
        "id=external_id,name=name,address=address",
        &[],
    );
    let rejected = dir.events_of_kind("CandidateRejected");
    assert_eq!(rejected.len(), 2, "{rejected:#?}");
    for r in &rejected {
        assert!(
            r["payload"]["detail"]
                .as_str()
                .unwrap()
                .contains("nor a house number and street with a locality"),
            "{r}"
        );
    }
}

/// A register that lists every outlet apart: six W H Smith shops in one airport terminal,
/// under one name, three of them with one postcode and none with a street number.
const REGISTER: &str = "\
FHRSID,BusinessName,AddressLine1,PostCode
522471,W H Smith,Edinburgh Airport,EH12 9DN
522479,W H Smith,Edinburgh Airport,EH12 9DN
522480,W H Smith,Edinburgh Airport,EH12 9DN
522475,W H Smith,Edinburgh Airport,EH12 9HB
661201,Tesco Main Store,30 Meadow Place Road,EH12 7UQ
661202,Tesco Staff Restaurant,30 Meadow Place Road,EH12 7UQ
";
const REGISTER_MAP: &str =
    "FHRSID=external_id,BusinessName=name,AddressLine1=address,PostCode=postcode";

#[test]
fn a_source_whose_records_are_each_one_establishment_keeps_same_named_outlets_apart() {
    let outlets = |names: &[String]| names.iter().filter(|n| *n == "W H Smith").count();
    // As a sports register's repeated site: one place (three dropped as the same site,
    // the fourth joined), and the store's canteen joins the store.
    let dir = setup();
    dir.import_csv("register", "r.csv", REGISTER, REGISTER_MAP, &[]);
    let names = dir.entity_names();
    assert_eq!(outlets(&names), 1, "{names:?}");
    assert_eq!(dir.events_of_kind("CandidateRejected").len(), 2);

    // Each record one establishment: four outlets; the canteen still joins its store
    // (another name), and importing the file again changes nothing.
    let dir = setup();
    for _ in 0..2 {
        dir.import_csv(
            "register",
            "r.csv",
            REGISTER,
            REGISTER_MAP,
            &["--distinct-records"],
        );
        let names = dir.entity_names();
        assert_eq!(outlets(&names), 4, "{names:?}");
        assert_eq!(names.len(), 5, "{names:?}");
        assert!(dir.events_of_kind("CandidateRejected").is_empty());
    }
    // One more outlet in a later import is one more place too.
    dir.import_csv(
        "register",
        "r2.csv",
        "FHRSID,BusinessName,AddressLine1,PostCode\n522473,W H Smith,Edinburgh Airport,EH12 9NA\n",
        REGISTER_MAP,
        &["--distinct-records"],
    );
    let names = dir.entity_names();
    assert_eq!(outlets(&names), 5, "{names:?}");
    let started = dir.events_of_kind("RunStarted");
    assert!(
        started
            .iter()
            .all(|e| e["payload"]["features"]["distinct_records"] == true),
        "{started:#?}"
    );

    // The same from the data dir's matching settings, for every run of the source.
    let dir = setup();
    std::fs::create_dir_all(&dir.data).unwrap();
    std::fs::write(
        dir.data.join("matching.toml"),
        "distinct_sources = [\"register\"]\n",
    )
    .unwrap();
    dir.import_csv("register", "r.csv", REGISTER, REGISTER_MAP, &[]);
    let names = dir.entity_names();
    assert_eq!(outlets(&names), 4, "{names:?}");

    // A source name that could not be one is refused, naming the setting.
    std::fs::write(
        dir.data.join("matching.toml"),
        "distinct_sources = [\"Food Register\"]\n",
    )
    .unwrap();
    let out = dir
        .import_csv_cmd("register", "r2.csv", REGISTER, REGISTER_MAP, &[])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("match.distinct_sources"),
        "{out:?}"
    );
}

/// A register of clubs with their streets and town, and a map's features of the same
/// clubs that give nothing but a name (an extract of one city's features).
const CLUBS: &str = "\
id,name,address,town
c1,Colinton Lawn Tennis Club,10 Westgarth Avenue,Edinburgh
c2,Thistle Lawn Tennis Club,59 Katesmill Road,Edinburgh
c3,Braid Tennis Club,58 Cluny Gardens,Edinburgh
";
const FEATURES: &str = "\
id,name,city
way/1,Colinton Lawn Tennis Club,
way/2,Thistle Lawn Tennis Club,
way/3,Braid Tennis Club,Glasgow
way/4,Nowhere Racquet Club,
";
const FEATURES_MAP: &str = "id=external_id,name=name,city=locality";
const CLUBS_MAP: &str = "id=external_id,name=name,address=address,town=locality";

#[test]
fn records_that_give_only_a_name_are_found_in_the_locality_the_import_gives() {
    let dir = setup();
    dir.import_csv("register", "clubs.csv", CLUBS, CLUBS_MAP, &[]);
    assert_eq!(dir.entities().len(), 3);

    // Without a locality, three features have nothing to place them by (the fourth
    // gives its town, and is decided).
    dir.import_csv("osm", "f.csv", FEATURES, FEATURES_MAP, &[]);
    let rejected = dir.events_of_kind("CandidateRejected");
    let unplaced = rejected
        .iter()
        .filter(|r| {
            r["payload"]["detail"]
                .as_str()
                .unwrap()
                .starts_with("nothing to place it by (no coordinates, address, locality,")
        })
        .count();
    assert_eq!((rejected.len(), unplaced), (4, 3), "{rejected:#?}");

    // A locality that could not be one is refused, naming the flag, and nothing is appended.
    let before = dir.events_of_kind("RunStarted").len();
    for bad in ["  ", "Edin\u{7}burgh"] {
        let locality = ["--locality", bad];
        let out = dir
            .import_csv_cmd("osm", "f2.csv", FEATURES, FEATURES_MAP, &locality)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        assert!(stderr(&out).contains("--locality"), "{}", stderr(&out));
    }
    assert_eq!(dir.events_of_kind("RunStarted").len(), before);

    // With the city the features were taken from, each joins its club by name; the one
    // that gives its own town keeps it, and the one that matches nothing founds nothing.
    let dir = setup();
    dir.import_csv("register", "clubs.csv", CLUBS, CLUBS_MAP, &[]);
    dir.import_csv(
        "osm",
        "f.csv",
        FEATURES,
        FEATURES_MAP,
        &["--locality", " Edinburgh "],
    );
    let both = dir
        .entity_sources()
        .into_iter()
        .filter(|(_, s)| s.len() == 2)
        .map(|(n, _)| n)
        .collect::<Vec<_>>();
    assert_eq!(
        both,
        ["Colinton Lawn Tennis Club", "Thistle Lawn Tennis Club"],
        "{:?}",
        dir.entity_sources()
    );
    assert_eq!(dir.entities().len(), 3);
    let extracted = dir.events_of_kind("CandidateExtracted");
    let field = |ext: &str, key: &str| {
        let e = extracted
            .iter()
            .find(|e| e["payload"]["external_id"] == ext)
            .unwrap_or_else(|| panic!("{ext} not extracted"));
        e["payload"]["fields"][key].as_str().map(str::to_string)
    };
    assert_eq!(field("way/1", "locality").as_deref(), Some("Edinburgh"));
    assert_eq!(field("way/3", "locality").as_deref(), Some("Glasgow"));
    // Braid in Glasgow is not Edinburgh's Braid; neither it nor the club that matches
    // nothing can found a place by a name and a town alone.
    let mut rejected: Vec<String> = dir
        .events_of_kind("CandidateRejected")
        .iter()
        .map(|r| {
            let detail = r["payload"]["detail"].as_str().unwrap();
            assert!(detail.contains("cannot found one"), "{r}");
            let id = &r["payload"]["candidate_id"];
            let e = extracted
                .iter()
                .find(|e| e["payload"]["candidate_id"] == *id)
                .unwrap();
            e["payload"]["external_id"].as_str().unwrap().to_string()
        })
        .collect();
    rejected.sort();
    assert_eq!(rejected, ["way/3", "way/4"]);
    // The flag is part of how the import was read, so a resume reads it back.
    let started = dir.events_of_kind("RunStarted");
    assert_eq!(
        started.last().unwrap()["payload"]["features"]["locality"],
        "Edinburgh"
    );
    assert!(started[0]["payload"]["features"].get("locality").is_none());
}

#[test]
fn an_import_with_a_locality_killed_before_its_decisions_resumes_with_that_locality() {
    let reference = setup();
    reference.import_csv("register", "clubs.csv", CLUBS, CLUBS_MAP, &[]);
    let locality = ["--locality", "Edinburgh"];
    reference.import_csv("osm", "f.csv", FEATURES, FEATURES_MAP, &locality);

    let dir = setup();
    dir.import_csv("register", "clubs.csv", CLUBS, CLUBS_MAP, &[]);
    let mut cmd = dir.import_csv_cmd("osm", "f.csv", FEATURES, FEATURES_MAP, &locality);
    cmd.env("TRUSTFOLD_FAILPOINT", "sleep:import:30000");
    let import = dir.spawn(cmd, "import-kill");
    let err = import.err.clone();
    wait_until("the import sleeps", Duration::from_secs(20), move || {
        std::fs::read_to_string(&err).is_ok_and(|e| e.contains("failpoint: sleeping"))
    });
    import.kill_9();
    let started = dir.events_of_kind("RunStarted");
    let run_id = started.last().unwrap()["run_id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        dir.events_of_kind("MergeDecided").len(),
        3,
        "the register's only"
    );

    // The resumed import reads the stored file the way its RunStarted says: the features
    // are in Edinburgh, and join their clubs as the uninterrupted import's did.
    assert_success(&dir.tf(&["resume", &run_id]));
    assert_eq!(dir.entity_sources(), reference.entity_sources());
    assert_eq!(
        dir.events_of_kind("CandidateRejected").len(),
        reference.events_of_kind("CandidateRejected").len()
    );
}

#[test]
fn a_chains_name_alone_in_a_town_is_offered_for_review_with_every_branch() {
    let dir = setup();
    let branches = "\
id,name,address,town
t1,Tesco Express,3 Roseburn Terrace,Edinburgh
t2,Tesco Express,60 South Bridge,Edinburgh
";
    dir.import_csv("register", "tesco.csv", branches, CLUBS_MAP, &[]);
    let feature = "id,name\nnode/9,Tesco Express\n";
    let map = "id=external_id,name=name";
    dir.import_csv("osm", "t.csv", feature, map, &["--locality", "Edinburgh"]);

    // Neither branch is chosen: both are offered, and the reason says why.
    let open = dir.tf_json(&["review", "list", "--json"]);
    let open = open.as_array().unwrap();
    assert_eq!(open.len(), 1, "{open:?}");
    let branch_ids: BTreeSet<String> = dir
        .entities()
        .iter()
        .map(|e| e["entity_id"].as_str().unwrap().to_string())
        .collect();
    let offered: BTreeSet<String> = open[0]["entity_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap().to_string())
        .collect();
    assert_eq!(offered, branch_ids);
    let detail = open[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("reaches the match threshold") && detail.contains("nothing but its name"),
        "{detail}"
    );
    assert!(dir.entity_sources().iter().all(|(_, s)| s.len() == 1));
}
