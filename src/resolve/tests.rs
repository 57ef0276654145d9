//! The matcher's specification, as given / when / then cases on real Edinburgh places.

use std::collections::BTreeMap;

use proptest::prelude::*;
use trustfold_events::CandidateFields;

use super::*;

/// Metres per degree of latitude, for placing points a known distance apart.
const M_PER_DEG_LAT: f64 = 111_195.0;

/// A point `north_m` north and `east_m` east of `(lat, lon)`.
fn offset((lat, lon): (f64, f64), north_m: f64, east_m: f64) -> (f64, f64) {
    (
        lat + north_m / M_PER_DEG_LAT,
        lon + east_m / (M_PER_DEG_LAT * lat.to_radians().cos()),
    )
}

fn named(name: &str) -> CandidateFields {
    CandidateFields {
        name: Some(name.to_owned()),
        ..CandidateFields::default()
    }
}

fn at(name: &str, (lat, lon): (f64, f64)) -> CandidateFields {
    CandidateFields {
        lat: Some(lat),
        lon: Some(lon),
        ..named(name)
    }
}

/// A candidate of a test: source, external id, fields.
struct Rec {
    source: &'static str,
    external_id: String,
    fields: CandidateFields,
}

impl Rec {
    fn new(source: &'static str, external_id: &str, fields: CandidateFields) -> Self {
        Rec {
            source,
            external_id: external_id.to_owned(),
            fields,
        }
    }

    fn id(&self) -> String {
        candidate_id(self.source, &self.external_id)
    }

    fn with<R>(&self, f: impl FnOnce(&CandidateRef<'_>) -> R) -> R {
        let id = self.id();
        f(&CandidateRef {
            candidate_id: &id,
            source: self.source,
            external_id: &self.external_id,
            fields: &self.fields,
        })
    }
}

/// Given these candidates, each attached to the entity named beside it.
fn given(attached: &[(&str, &Rec)]) -> IdentityIndex {
    let mut index = IdentityIndex::new(MatchConfig::default());
    for (entity, rec) in attached {
        rec.with(|c| index.attach(c, entity));
    }
    index
}

/// When this candidate is decided.
fn when(index: &IdentityIndex, rec: &Rec) -> Decision {
    rec.with(|c| index.decide(c))
}

/// Runs candidates through decide + attach as ingestion does; returns the outcomes.
fn ingest(index: &mut IdentityIndex, recs: &[Rec]) -> Vec<Outcome> {
    recs.iter()
        .map(|rec| {
            rec.with(|c| {
                let d = index.decide(c);
                match &d.outcome {
                    Outcome::Existing(e) => index.attach(c, e),
                    Outcome::NewEntity | Outcome::Review(_) => {
                        index.attach(c, &entity_id_for(c.candidate_id))
                    }
                    Outcome::NoMatchCannotFound => {}
                }
                d.outcome
            })
        })
        .collect()
}

const PORTOBELLO_POWERLEAGUE: (f64, f64) = (55.9513, -3.1072);
const SIGHTHILL_POWERLEAGUE: (f64, f64) = (55.9262, -3.2905);

#[test]
fn powerleague_portobello_matches_its_longer_name_40_m_away() {
    let google = Rec::new(
        "google_places",
        "ChIJpp",
        at("Powerleague Edinburgh Portobello", PORTOBELLO_POWERLEAGUE),
    );
    let index = given(&[("e_pp", &google)]);

    let osm = Rec::new(
        "openstreetmap",
        "way/1",
        at(
            "Powerleague Portobello",
            offset(PORTOBELLO_POWERLEAGUE, 40.0, 0.0),
        ),
    );
    let d = when(&index, &osm);

    assert_eq!(d.outcome, Outcome::Existing("e_pp".into()), "{d:?}");
    assert!(d.score >= 0.8);
    assert_eq!(d.best_candidate, Some(google.id()));
    assert_eq!(d.features["distance"], 1.0);
    assert!((d.features["distance_m"] - 40.0).abs() < 1.0);
}

#[test]
fn two_powerleague_venues_in_one_city_are_different_places() {
    let portobello = Rec::new(
        "google_places",
        "ChIJpp",
        at("Powerleague Edinburgh Portobello", PORTOBELLO_POWERLEAGUE),
    );
    let index = given(&[("e_pp", &portobello)]);

    let sighthill = Rec::new(
        "google_places",
        "ChIJps",
        at("Powerleague Sighthill", SIGHTHILL_POWERLEAGUE),
    );
    let d = when(&index, &sighthill);

    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");
    assert!(d.score < MatchConfig::default().review_threshold);
}

#[test]
fn corstorphine_lawn_tennis_club_is_corstorphine_tennis_club_73_m_away() {
    let here = (55.9402, -3.2826);
    let sportscotland = Rec::new(
        "sport_scotland",
        "pub_spfotc.7",
        at("Corstorphine Lawn Tennis Club", here),
    );
    let index = given(&[("e_ctc", &sportscotland)]);

    let google = Rec::new(
        "google_places",
        "ChIJctc",
        at("Corstorphine Tennis Club", offset(here, 0.0, 73.0)),
    );
    let d = when(&index, &google);

    assert_eq!(d.outcome, Outcome::Existing("e_ctc".into()), "{d:?}");
}

#[test]
fn portobello_golf_course_is_not_portobello_bowling_club_300_m_away() {
    let golf = (55.9478, -3.1079);
    let index = given(&[(
        "e_golf",
        &Rec::new(
            "openstreetmap",
            "way/10",
            at("Portobello Golf Course", golf),
        ),
    )]);

    let bowls = Rec::new(
        "google_places",
        "ChIJbowl",
        at("Portobello Bowling Club", offset(golf, 300.0, 0.0)),
    );
    let d = when(&index, &bowls);

    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");
}

#[test]
fn portobello_high_school_pitches_are_not_portobello_swim_centre() {
    let school = (55.9467, -3.1184);
    let mut fields = at("Portobello High School", school);
    fields.categories = vec!["Pitches".into()];
    fields.sports = vec!["football".into()];
    let index = given(&[(
        "e_school",
        &Rec::new("edinburgh_council", "Parks_Pitches.4", fields),
    )]);

    let swim = Rec::new(
        "google_places",
        "ChIJswim",
        at("Portobello Swim Centre", (55.9548, -3.1143)),
    );
    let d = when(&index, &swim);

    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");
}

#[test]
fn the_same_name_2_km_away_is_another_place() {
    let here = (55.9302, -3.2101);
    let index = given(&[(
        "e_a",
        &Rec::new(
            "openstreetmap",
            "node/1",
            at("Drumbrae Hollow Tennis Club", here),
        ),
    )]);

    let far = Rec::new(
        "google_places",
        "ChIJfar",
        at("Drumbrae Hollow Tennis Club", offset(here, 2000.0, 0.0)),
    );
    let d = when(&index, &far);

    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");
}

#[test]
fn the_same_name_and_phone_2_km_away_is_still_another_place() {
    let here = (55.9302, -3.2101);
    let mut fields = at("Drumbrae Hollow Tennis Club", here);
    fields.phone = Some("+441314960999".into());
    let index = given(&[("e_a", &Rec::new("openstreetmap", "node/1", fields))]);

    // A chain's central booking number finds the pair; the distance keeps them apart.
    let mut far = at("Drumbrae Hollow Tennis Club", offset(here, 2000.0, 0.0));
    far.phone = Some("+441314960999".into());
    let d = when(&index, &Rec::new("google_places", "ChIJfar", far));

    assert!(!matches!(d.outcome, Outcome::Existing(_)), "{d:?}");
    assert_eq!(d.features["distance"], 0.0);
    assert_eq!(d.features["phone"], 1.0);
}

/// A directory's record: a name and address lines, no coordinates.
fn listed(name: &str, lines: &[&str]) -> CandidateFields {
    CandidateFields {
        address_lines: lines.iter().map(|l| l.to_string()).collect(),
        ..named(name)
    }
}

/// An OpenStreetMap record decided against a register's record, attached alone to entity
/// `e_r`.
fn osm_against_register(register: CandidateFields, osm: CandidateFields) -> Decision {
    let index = given(&[("e_r", &Rec::new("a_register", "1", register))]);
    when(&index, &Rec::new("openstreetmap", "node/1", osm))
}

#[test]
fn without_coordinates_the_same_house_number_and_street_make_one_place() {
    // The register's bakery and OpenStreetMap's "cake boutique" at 37 Hanover Street: the
    // names differ only in what the shop sells; the address is the same.
    let mut register = listed("Bibi's Bakery", &["37 Hanover Street", "Edinburgh"]);
    register.postcode = Some("EH2 2PJ".into());
    let index = given(&[(
        "e_bibi",
        &Rec::new("food_hygiene_register", "72204", register),
    )]);
    let osm = listed("Bibi's Cake Boutique", &["37", "Hanover St"]);
    let d = when(&index, &Rec::new("openstreetmap", "node/2153099986", osm));
    assert_eq!(d.outcome, Outcome::Existing("e_bibi".into()), "{d:?}");
    assert_eq!(d.features["street"], 1.0);
    assert!(d.features["name"] >= 0.92, "{d:?}");
    assert!(
        !d.features.contains_key("address"),
        "the street replaces the address words"
    );
    // A reviewer is shown each term; they add up to the recorded logit.
    let terms = score::contributions(&d.features).unwrap();
    let sum: f64 = score::BIAS + terms.iter().map(|(_, v)| v).sum::<f64>();
    assert!((sum - d.features["logit"]).abs() < 1e-9, "{terms:?} {d:?}");
    assert!(terms.iter().any(|(k, _)| k == "street"));
}

#[test]
fn without_coordinates_a_chain_on_the_same_street_is_another_branch() {
    let index = given(&[(
        "e_187",
        &Rec::new(
            "food_hygiene_register",
            "662232",
            listed("Best One", &["187-189 Leith Walk"]),
        ),
    )]);
    // Another branch, further up the street: the same name, a different number.
    let d = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "node/1",
            listed("best-one", &["301", "Leith Walk"]),
        ),
    );
    assert!(!matches!(d.outcome, Outcome::Existing(_)), "{d:?}");
    assert!(d.score < 0.5, "{d:?}");
    assert_eq!(d.features["name"], 1.0);
    // The same shop, numbered as one half of its range.
    let d = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "node/2",
            listed("best-one", &["189", "Leith Walk"]),
        ),
    );
    assert_eq!(d.outcome, Outcome::Existing("e_187".into()), "{d:?}");
}

#[test]
fn founding_needs_something_a_later_record_can_find_it_by() {
    let index = IdentityIndex::new(MatchConfig::default());
    let founds = |f: CandidateFields| {
        let rec = Rec::new("a_directory", "1", f);
        !matches!(when(&index, &rec).outcome, Outcome::NoMatchCannotFound)
    };
    // A number on a street in a town; a valid phone number; a postcode: each founds.
    let mut with_town = listed("Corner Shop", &["26 Spey Terrace"]);
    with_town.locality = Some("Edinburgh".into());
    assert!(founds(with_town));
    let mut with_phone = named("Corner Shop");
    with_phone.phone = Some("+441314960123".into());
    assert!(founds(with_phone));
    let mut with_postcode = named("Corner Shop");
    with_postcode.postcode = Some("EH7 4PL".into());
    assert!(founds(with_postcode));
    // A street in every town, a street without a number under a name of generic words, a
    // number kept as written: none. (A street without a number in a town under a name
    // with a distinctive word founds: `a_street_without_a_number_in_a_town_founds_under_a_distinctive_name`.)
    assert!(!founds(listed("Corner Shop", &["26 Spey Terrace"])));
    let mut no_number = listed("The Newsagent", &["Spey Terrace"]);
    no_number.locality = Some("Edinburgh".into());
    assert!(!founds(no_number));
    let mut kept = named("Corner Shop");
    kept.phone = Some("0131 496 012".into());
    assert!(!founds(kept));
}

#[test]
fn a_district_and_its_city_are_weak_evidence_against_not_a_veto() {
    let mut register = listed("Leith Fruit Market", &["12 Great Junction Street"]);
    register.locality = Some("Leith".into());
    let index = given(&[("e_lfm", &Rec::new("a_register", "1", register))]);
    let mut guide = listed("Leith Fruit Market", &["12 Great Junction St"]);
    guide.locality = Some("Edinburgh".into());
    let d = when(&index, &Rec::new("a_guide", "g1", guide));
    assert_eq!(d.outcome, Outcome::Existing("e_lfm".into()), "{d:?}");
    assert_eq!(d.features["locality"], 0.0);
}

#[test]
fn a_record_without_coordinates_matches_on_phone_and_a_similar_name() {
    let mut fields = at("Meadowbank Sports Centre", (55.9564715, -3.15813));
    fields.phone = Some("+441314960173".into());
    let index = given(&[("e_mb", &Rec::new("google_places", "ChIJmb", fields))]);

    let mut sheet = named("Meadowbank Sports Centre & Stadium");
    sheet.phone = Some("+441314960173".into());
    let d = when(&index, &Rec::new("spreadsheet", "row-12", sheet));

    assert_eq!(d.outcome, Outcome::Existing("e_mb".into()), "{d:?}");
    assert_eq!(d.features["phone"], 1.0);
    assert!(!d.features.contains_key("distance"));
}

#[test]
fn a_record_without_coordinates_matches_on_postcode_and_name() {
    let mut fields = at("Portobello Bowling Club, Edinburgh", (55.9531, -3.1060));
    fields.postcode = Some("EH15 1LW".into());
    fields.address_lines = vec!["29 Lee Cres".into()];
    let index = given(&[("e_pbc", &Rec::new("google_places", "ChIJpbc", fields))]);

    let mut sheet = named("PORTOBELLO BOWLING CLUB");
    sheet.postcode = Some("eh151lw".into());
    sheet.address_lines = vec!["29 Lee Crescent".into(), "Edinburgh".into()];
    let d = when(
        &index,
        &Rec::new("edinburgh_council", "Sports_Facilities.88", sheet),
    );

    assert_eq!(d.outcome, Outcome::Existing("e_pbc".into()), "{d:?}");
    assert_eq!(d.features["postcode"], 1.0);
    assert_eq!(d.features["street"], 1.0);
}

#[test]
fn a_search_result_matches_on_its_website_and_name() {
    let mut fields = at("Powerleague Edinburgh Portobello", PORTOBELLO_POWERLEAGUE);
    fields.website = Some("https://www.powerleague.com/club/edinburgh-portobello".into());
    let index = given(&[("e_pp", &Rec::new("google_places", "ChIJpp", fields))]);

    let mut result = named("Powerleague Portobello | 5-a-side Football");
    result.website = Some("powerleague.com/club/edinburgh-portobello/".into());
    let d = when(
        &index,
        &Rec::new(
            "serper",
            "https://powerleague.com/club/edinburgh-portobello",
            result,
        ),
    );

    assert_eq!(d.outcome, Outcome::Existing("e_pp".into()), "{d:?}");
}

#[test]
fn a_chain_website_does_not_join_different_venues() {
    let mut fields = at("Powerleague Edinburgh Portobello", PORTOBELLO_POWERLEAGUE);
    fields.website = Some("https://www.powerleague.com/club/edinburgh-portobello".into());
    let index = given(&[("e_pp", &Rec::new("google_places", "ChIJpp", fields))]);

    let mut result = named("Powerleague Sighthill");
    result.website = Some("https://www.powerleague.com/club/edinburgh-sighthill".into());
    let d = when(
        &index,
        &Rec::new(
            "serper",
            "https://powerleague.com/club/edinburgh-sighthill",
            result,
        ),
    );

    assert_eq!(d.outcome, Outcome::NoMatchCannotFound, "{d:?}");
}

/// From the development probe (`fixtures/matching/directories/probe.py`): OpenStreetMap
/// lists every William Hill with the chain's website; one branch is not another.
#[test]
fn branches_of_a_chain_sharing_a_website_and_phone_at_other_addresses_stay_apart() {
    let mut leith = listed("William Hill", &["217", "Leith Walk"]);
    leith.website = Some("http://www.williamhill.com/".into());
    leith.phone = Some("+44 870 518 1715".into());
    leith.postcode = Some("EH6 8NY".into());
    let index = given(&[("e_wh", &Rec::new("openstreetmap", "node/1", leith))]);

    let mut crighton = listed("William Hill", &["22", "Crighton Place"]);
    crighton.website = Some("www.williamhill.com".into());
    crighton.phone = Some("+44 870 518 1715".into());
    let d = when(&index, &Rec::new("openstreetmap", "node/2", crighton));
    assert_eq!(d.outcome, Outcome::NoMatchCannotFound, "{d:?}");

    // At the same address the same website and phone still count in full.
    let mut again = listed("William Hill", &["217 Leith Walk"]);
    again.website = Some("williamhill.com".into());
    again.phone = Some("+44 870 518 1715".into());
    let d = when(&index, &Rec::new("a_guide", "g1", again));
    assert_eq!(d.outcome, Outcome::Existing("e_wh".into()), "{d:?}");
    assert_eq!(d.features["website"], 1.0);
}

/// From the probe with coordinates: branches of a chain a block apart on other streets
/// went to review; one site whose sources name two entrance streets still matches.
#[test]
fn with_coordinates_another_street_a_block_away_is_another_branch() {
    let centre = (55.9500, -3.1880);
    let mut nero = at("Caffe Nero", centre);
    nero.address_lines = vec!["30 North Bridge".into()];
    let index = given(&[("e_n", &Rec::new("a_register", "1", nero))]);
    let mut other = at("Caffe Nero", offset(centre, 250.0, 100.0));
    other.address_lines = vec!["123".into(), "High Street".into()];
    let d = when(&index, &Rec::new("openstreetmap", "node/1", other));
    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");

    let mut centre_rec = at("Meadowbank Sports Centre", centre);
    centre_rec.address_lines = vec!["139 London Road".into()];
    let index = given(&[("e_m", &Rec::new("google_places", "ChIJm", centre_rec))]);
    let mut entrance = at("Meadowbank Sports Centre", offset(centre, 60.0, 40.0));
    entrance.address_lines = vec!["1".into(), "Clockmill Lane".into()];
    let d = when(&index, &Rec::new("openstreetmap", "way/1", entrance));
    assert_eq!(d.outcome, Outcome::Existing("e_m".into()), "{d:?}");
}

/// The register's words in brackets say what the business is or who runs it; words after
/// "at" name its host.
#[test]
fn words_in_brackets_weigh_as_generic_words() {
    let register = listed("GOWANS (FISHMONGER)", &["26 Easter Drylaw Bank"]);
    let index = given(&[("e_g", &Rec::new("a_register", "663436", register))]);
    let d = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "node/778778351",
            listed("J. R. Gowans", &["26", "Easter Drylaw Bank"]),
        ),
    );
    assert_eq!(d.outcome, Outcome::Existing("e_g".into()), "{d:?}");

    // Two bars of one students' union at one address share the union's name in brackets
    // and a kind word: the same premises, not the same business.
    let mut dome = listed("Dome Cafe and Bar (EUSA)", &["5 Bristo Square"]);
    dome.postcode = Some("EH8 9AL".into());
    dome.locality = Some("Edinburgh".into());
    let index = given(&[("e_d", &Rec::new("a_register", "522895", dome))]);
    let mut potterrow = listed("Potterrow Venue Bar (EUSA)", &["5 Bristo Square"]);
    potterrow.postcode = Some("EH8 9AL".into());
    potterrow.locality = Some("Edinburgh".into());
    let d = when(&index, &Rec::new("a_register", "523114", potterrow));
    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");

    // A caterer "at" its host is a concession in it, not the host (the second development
    // set); the business before the "@" is still itself.
    let mut brewery = listed("Caledonian Brewery", &["42A Slateford Road"]);
    brewery.postcode = Some("EH11 1PH".into());
    let index = given(&[("e_c", &Rec::new("a_register", "663260", brewery))]);
    let mut sodexo = listed("Sodexo at Caledonian Brewery", &["42 Slateford Road"]);
    sodexo.postcode = Some("EH11 1QB".into());
    let d = when(&index, &Rec::new("a_register", "1006535", sodexo));
    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");
    let mut pashas = listed("Pashas @ Balgreen", &["170 Balgreen Road"]);
    pashas.postcode = Some("EH11 3AU".into());
    let index = given(&[("e_p", &Rec::new("a_register", "737666", pashas))]);
    let osm = listed("Pasha's Newsagent", &["170", "Balgreen Road"]);
    let d = when(&index, &Rec::new("openstreetmap", "node/33775554", osm));
    assert_eq!(d.outcome, Outcome::Existing("e_p".into()), "{d:?}");

    // A venue's own staff canteen, under the venue's name, is the venue (rule "V").
    let mut store = listed("Tesco Main Store", &["30 Meadow Place Road", "Edinburgh"]);
    store.postcode = Some("EH12 7UQ".into());
    let index = given(&[("e_t", &Rec::new("a_register", "662150", store))]);
    let mut canteen = listed(
        "Tesco Staff Restaurant",
        &["30 Meadow Place Road", "Edinburgh"],
    );
    canteen.postcode = Some("EH12 7UQ".into());
    let d = when(&index, &Rec::new("a_register", "1089382", canteen));
    assert_eq!(d.outcome, Outcome::Existing("e_t".into()), "{d:?}");
}

/// A name word that repeats the record's own street says where, not who (a development
/// pair of the directories set).
#[test]
fn a_name_word_that_repeats_its_own_street_weighs_as_a_generic_word() {
    let mut register = listed("Tesco PFS (Esso) Willowbrae", &["226 Willowbrae Road"]);
    register.postcode = Some("EH8 7NG".into());
    let index = given(&[("e_t", &Rec::new("a_register", "663506", register))]);
    let d = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "node/1131225159",
            listed("Tesco Express", &["226", "Willowbrae Road"]),
        ),
    );
    assert_eq!(d.outcome, Outcome::Existing("e_t".into()), "{d:?}");

    // Two businesses of one street that share only its name stay apart.
    let index = given(&[(
        "e_s",
        &Rec::new(
            "a_register",
            "662886",
            listed("Stenhouse Takeaway", &["12 Stenhouse Cross"]),
        ),
    )]);
    let d = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "node/4363185018",
            listed("Stenhouse News", &["1", "Stenhouse Cross"]),
        ),
    );
    assert_eq!(d.outcome, Outcome::NoMatchCannotFound, "{d:?}");
}

/// From the development probe: a possessive or a plural, words written together, the
/// register's garbled apostrophe ("CathÆs") and initials are the same words at one
/// address; a plural of a generic word is generic ("Supermarkets").
#[test]
fn possessives_joined_words_and_garbled_apostrophes_are_the_same_words() {
    let pairs: &[(&str, &str, &str, &str)] = &[
        ("Bower's Butchers", "75 Raeburn Place", "George Bower", "75"),
        (
            "Armstrong's Of Stockbridge",
            "80 Raeburn Place",
            "G Armstrong",
            "80",
        ),
        (
            "Cost Cutters / Post Office",
            "70-72 Raeburn Place",
            "Costcutter",
            "70",
        ),
        ("CathÆs Takeaway", "12 Raeburn Place", "Cath's", "12"),
        (
            "I.J. Mellis Cheesemonger",
            "30a Raeburn Place",
            "IJ Mellis",
            "30a",
        ),
        (
            "Sainsbury's Supermarkets Ltd",
            "9 Raeburn Place",
            "Sainsbury's Local",
            "9",
        ),
        (
            "Marks & Spencer Simply Food",
            "54 Raeburn Place",
            "M&S Simply Food",
            "54",
        ),
    ];
    for (register, address, osm, number) in pairs {
        let mut rec = listed(register, &[address]);
        rec.postcode = Some("EH4 1HH".into());
        let d = osm_against_register(rec, listed(osm, &[number, "Raeburn Place"]));
        assert_eq!(
            d.outcome,
            Outcome::Existing("e_r".into()),
            "{register} / {osm}: {d:?}"
        );
    }

    // Two letters that happen to start the other name's words are not its initials.
    let d = osm_against_register(
        listed("AK Stores", &["7 Raeburn Place"]),
        listed("Alpha Kebabs", &["7", "Raeburn Place"]),
    );
    assert_eq!(d.outcome, Outcome::NoMatchCannotFound, "{d:?}");

    // A plural of a short word is another word, and neighbours sharing a district word
    // stay apart however their words are written.
    let d = osm_against_register(
        listed("New Look", &["121 Princes Street"]),
        listed("News Look", &["125", "Princes Street"]),
    );
    assert_eq!(d.outcome, Outcome::NoMatchCannotFound, "{d:?}");
}

/// Branches whose addresses have no word in common ("Edinburgh Airport" has no street to
/// compare) went to review on the name alone.
#[test]
fn addresses_with_no_word_in_common_keep_a_chain_apart() {
    let mut airport = listed("Superdrug", &["Unit 234-235 Edinburgh Airport"]);
    airport.postcode = Some("EH12 9DN".into());
    let index = given(&[("e_s", &Rec::new("a_register", "1", airport))]);
    let d = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "node/1977957770",
            listed("Superdrug", &["83", "Princes Street"]),
        ),
    );
    assert_eq!(d.outcome, Outcome::NoMatchCannotFound, "{d:?}");
}

#[test]
fn a_record_with_no_location_that_matches_nothing_cannot_found_an_entity() {
    let index = given(&[]);
    let d = when(
        &index,
        &Rec::new(
            "serper",
            "https://example.org/",
            named("Drumbrae Hollow Tennis Club"),
        ),
    );
    assert_eq!(d.outcome, Outcome::NoMatchCannotFound);
    assert_eq!(d.comparisons, 0);

    let mut with_postcode = named("Drumbrae Hollow Tennis Club");
    with_postcode.postcode = Some("EH4 7QP".into());
    let d = when(&index, &Rec::new("spreadsheet", "row-1", with_postcode));
    assert_eq!(d.outcome, Outcome::NewEntity);
}

/// A site the register gives by its street (or its own name) and town alone, listed once
/// per facility: the first record founds the place, found again by its name in the town;
/// the next joins it. Without the town, or with a name of no distinctive word, nothing
/// could find it again.
#[test]
fn a_street_without_a_number_in_a_town_founds_under_a_distinctive_name() {
    let site = |name: &str, line: &str, town: Option<&str>| {
        let mut f = listed(name, &[line]);
        f.locality = town.map(str::to_string);
        f
    };
    let mortonhall = || {
        site(
            "Mortonhall Tennis Club",
            "Hermitage Drive",
            Some("Edinburgh"),
        )
    };
    let mut index = IdentityIndex::new(MatchConfig::default());
    let outcomes = ingest(
        &mut index,
        &[
            Rec::new("sport_scotland", "pub_spfotc.358", mortonhall()),
            Rec::new("sport_scotland", "pub_spfotc.359", mortonhall()),
        ],
    );
    assert_eq!(outcomes[0], Outcome::NewEntity, "{outcomes:?}");
    assert!(matches!(outcomes[1], Outcome::Existing(_)), "{outcomes:?}");

    let heriots = site(
        "George Heriots School - Goldenacre Sportsfield",
        "Goldenacre Sportsfield",
        Some("Edinburgh"),
    );
    let d = when(
        &given(&[]),
        &Rec::new("sport_scotland", "pub_spfp.870", heriots),
    );
    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");

    for f in [
        site("Mortonhall Tennis Club", "Hermitage Drive", None),
        site("Tennis Club", "Hermitage Drive", Some("Edinburgh")),
    ] {
        let d = when(&given(&[]), &Rec::new("a_list", "1", f));
        assert_eq!(d.outcome, Outcome::NoMatchCannotFound, "{d:?}");
    }
}

#[test]
fn the_same_record_from_the_same_source_is_the_same_candidate() {
    let google = Rec::new(
        "google_places",
        "ChIJpp",
        at("Powerleague Edinburgh Portobello", PORTOBELLO_POWERLEAGUE),
    );
    let index = given(&[("e_pp", &google)]);

    // Fields changed since (a new phone, moved pin): still the same record.
    let mut moved = at(
        "Powerleague Portobello (new)",
        offset(PORTOBELLO_POWERLEAGUE, 5000.0, 0.0),
    );
    moved.phone = Some("+441310000000".into());
    let d = when(&index, &Rec::new("google_places", "ChIJpp", moved));

    assert_eq!(d.outcome, Outcome::Existing("e_pp".into()));
    assert_eq!(d.score, 1.0);
    assert_eq!(
        d.features,
        BTreeMap::from([("same_record".to_owned(), 1.0)])
    );
    assert_eq!(d.comparisons, 0);
}

#[test]
fn one_site_repeated_per_facility_by_one_source_is_one_place() {
    let site = (55.9564, -3.1581);
    let mut hall = at("Meadowbank Sports Centre", site);
    hall.address_lines = vec!["139 London Road".into()];
    hall.sports = vec!["Badminton".into()];
    let index = given(&[("e_mb", &Rec::new("sport_scotland", "pub_spfsh.31", hall))]);

    let mut track = at("Meadowbank Sports Centre", site);
    track.address_lines = vec!["139 London Road".into()];
    track.sports = vec!["Athletics".into()];
    let d = when(&index, &Rec::new("sport_scotland", "pub_spfat.9", track));

    assert_eq!(d.outcome, Outcome::Existing("e_mb".into()), "{d:?}");
}

#[test]
fn a_full_name_of_two_distinctive_words_is_enough_without_a_location() {
    let index = given(&[(
        "e_dh",
        &Rec::new(
            "openstreetmap",
            "way/5",
            at("Drumbrae Hollow Tennis Club", (55.95, -3.29)),
        ),
    )]);

    let d = when(
        &index,
        &Rec::new(
            "serper",
            "https://example.org/dh",
            named("The Drumbrae Hollow Tennis Club | Home"),
        ),
    );

    assert_eq!(d.outcome, Outcome::Existing("e_dh".into()), "{d:?}");
    assert_eq!(d.features["name_words"], 2.0);
}

#[test]
fn a_name_alone_asks_for_review() {
    let index = given(&[(
        "e_dh",
        &Rec::new(
            "openstreetmap",
            "way/5",
            at("Drumbrae Tennis Club", (55.95, -3.29)),
        ),
    )]);

    let d = when(
        &index,
        &Rec::new(
            "serper",
            "https://example.org/dh",
            named("Drumbrae Tennis Club"),
        ),
    );

    assert_eq!(d.outcome, Outcome::Review(vec!["e_dh".into()]), "{d:?}");
    let config = MatchConfig::default();
    assert!(d.score >= config.review_threshold && d.score < config.match_threshold);
}

/// `f` in Edinburgh, as its own locality.
fn in_edinburgh(f: CandidateFields) -> CandidateFields {
    CandidateFields {
        locality: Some("Edinburgh".into()),
        ..f
    }
}

#[test]
fn a_possessive_and_its_word_find_each_other_without_a_house_number() {
    // OpenStreetMap names the street alone; the owner's given name and the register's
    // possessive leave the two names no word spelled alike, so only the name key can
    // bring them together: "bower" for both.
    let d = osm_against_register(
        in_edinburgh(listed("Bower's Butchers", &["75 Raeburn Place"])),
        in_edinburgh(listed("George Bower", &["Raeburn Place"])),
    );
    assert_eq!(d.outcome, Outcome::Existing("e_r".into()), "{d:?}");
    assert_eq!(d.comparisons, 1);
}

/// A name and a town, nothing else: an extract of a city's map features imported with
/// `--locality`.
fn in_town(name: &str, town: &str) -> CandidateFields {
    CandidateFields {
        locality: Some(town.into()),
        ..named(name)
    }
}

#[test]
fn a_name_in_a_town_joins_the_one_place_it_names_and_asks_when_it_names_two() {
    let club = in_edinburgh(listed(
        "Colinton Lawn Tennis Club",
        &["10 Westgarth Avenue"],
    ));
    let express = |street: &str| in_edinburgh(listed("Tesco Express", &[street]));
    let (a, b) = (express("3 Roseburn Terrace"), express("60 South Bridge"));
    let index = given(&[
        ("e_club", &Rec::new("register", "1", club)),
        ("e_tesco_a", &Rec::new("register", "2", a)),
        ("e_tesco_b", &Rec::new("register", "3", b)),
    ]);

    // The same name in the same town, and no other place by that name: the club.
    let d = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "way/1",
            in_town("Colinton Lawn Tennis Club", "Edinburgh"),
        ),
    );
    assert_eq!(d.outcome, Outcome::Existing("e_club".into()), "{d:?}");
    assert_eq!(d.features["locality"], 1.0);

    // A chain's name in the town is every branch: a reviewer says which.
    let d = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "way/2",
            in_town("Tesco Express", "Edinburgh"),
        ),
    );
    assert_eq!(
        d.outcome,
        Outcome::Review(vec!["e_tesco_a".into(), "e_tesco_b".into()]),
        "{d:?}"
    );
    assert!(d.score >= MatchConfig::default().match_threshold, "{d:?}");

    // With its street, the same record is one branch again.
    let mut placed = in_town("Tesco Express", "Edinburgh");
    placed.address_lines = vec!["60 South Bridge".into()];
    let d = when(&index, &Rec::new("openstreetmap", "way/3", placed));
    assert_eq!(d.outcome, Outcome::Existing("e_tesco_b".into()), "{d:?}");

    // In another town, neither: a name and a town cannot found a place either.
    let d = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "way/4",
            in_town("Colinton Lawn Tennis Club", "Glasgow"),
        ),
    );
    assert_eq!(d.outcome, Outcome::NoMatchCannotFound, "{d:?}");
}

#[test]
fn review_lists_every_entity_in_the_band_best_first() {
    let here = (55.95, -3.29);
    let index = given(&[
        (
            "e_b",
            &Rec::new("openstreetmap", "way/5", at("Drumbrae Tennis Club", here)),
        ),
        (
            "e_a",
            &Rec::new(
                "openstreetmap",
                "way/6",
                at("Drumbrae Tennis Club", offset(here, 0.0, 3000.0)),
            ),
        ),
        (
            "e_c",
            &Rec::new(
                "openstreetmap",
                "way/7",
                at("Drumbrae Lawn Tennis Club", offset(here, 3000.0, 0.0)),
            ),
        ),
    ]);

    let d = when(
        &index,
        &Rec::new(
            "serper",
            "https://example.org/dh",
            named("Drumbrae Tennis Club"),
        ),
    );

    // e_a and e_b tie (same name): the entity id decides; e_c's name is further off.
    assert_eq!(
        d.outcome,
        Outcome::Review(vec!["e_a".into(), "e_b".into(), "e_c".into()]),
        "{d:?}"
    );
}

#[test]
fn a_charger_at_a_venue_is_not_the_venue() {
    let site = (55.9564, -3.1581);
    let mut venue = at("Meadowbank Sports Centre", site);
    venue.entity_class = Some("venue".into());
    let index = given(&[("e_mb", &Rec::new("google_places", "ChIJmb", venue))]);

    let mut charger = at("Meadowbank Sports Centre", offset(site, 30.0, 0.0));
    charger.entity_class = Some("ev_charger".into());
    charger.categories = vec!["electric_vehicle_charging_station".into()];
    let d = when(&index, &Rec::new("open_charge_map", "OCM-1", charger));

    assert_ne!(d.outcome, Outcome::Existing("e_mb".into()), "{d:?}");
}

#[test]
fn a_missing_feature_neither_helps_nor_hurts() {
    let here = (55.9402, -3.2826);
    let index = given(&[(
        "e",
        &Rec::new(
            "google_places",
            "ChIJ1",
            at("Corstorphine Tennis Club", here),
        ),
    )]);
    let plain = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "way/2",
            at("Corstorphine Tennis Club", offset(here, 150.0, 0.0)),
        ),
    );

    let mut with_phone = at("Corstorphine Tennis Club", offset(here, 150.0, 0.0));
    with_phone.phone = Some("+441313340000".into());
    with_phone.website = Some("https://corstorphinetennis.example".into());
    let one_sided = when(&index, &Rec::new("openstreetmap", "way/2", with_phone));

    assert_eq!(plain.score, one_sided.score);
    assert!(!one_sided.features.contains_key("phone"));
}

#[test]
fn without_a_name_nothing_matches() {
    let here = (55.9402, -3.2826);
    let mut fields = at("Corstorphine Tennis Club", here);
    fields.phone = Some("+441313340000".into());
    let index = given(&[("e", &Rec::new("google_places", "ChIJ1", fields))]);

    let mut nameless = CandidateFields {
        lat: Some(here.0),
        lon: Some(here.1),
        ..Default::default()
    };
    nameless.phone = Some("+441313340000".into());
    let d = when(&index, &Rec::new("openstreetmap", "node/3", nameless));

    assert_eq!(d.outcome, Outcome::NewEntity);
    assert_eq!(d.score, 0.0);
}

#[test]
fn a_typo_still_matches() {
    let here = (55.9302, -3.2101);
    let index = given(&[(
        "e",
        &Rec::new(
            "openstreetmap",
            "node/1",
            at("Drumbrae Hollow Tennis Club", here),
        ),
    )]);
    let d = when(
        &index,
        &Rec::new(
            "google_places",
            "ChIJ9",
            at("Drumbrea Hollow Tennis Club", offset(here, 30.0, 20.0)),
        ),
    );
    assert_eq!(d.outcome, Outcome::Existing("e".into()), "{d:?}");
}

#[test]
fn a_record_naming_another_sources_id_matches_it() {
    let here = (55.9302, -3.2101);
    let index = given(&[(
        "e",
        &Rec::new(
            "openstreetmap",
            "way/77",
            at("Drumbrae Tennis Courts", here),
        ),
    )]);
    let mut ocm = at("Drumbrae Courts Car Park", offset(here, 80.0, 0.0));
    ocm.external_ids = BTreeMap::from([("osm".to_owned(), vec!["way/77".to_owned()])]);
    let d = when(&index, &Rec::new("open_charge_map", "OCM-5", ocm));
    assert_eq!(d.features.get("external_id"), Some(&1.0), "{d:?}");
}

#[test]
fn ingesting_the_same_query_twice_adds_no_candidates_and_no_entities() {
    let recs = edinburgh_sample();
    let mut index = IdentityIndex::new(MatchConfig::default());
    ingest(&mut index, &recs);
    let (n_candidates, n_entities) = (index.n_candidates(), index.n_entities());

    let again = ingest(&mut index, &recs);

    assert_eq!(
        (index.n_candidates(), index.n_entities()),
        (n_candidates, n_entities)
    );
    assert!(again
        .iter()
        .all(|o| matches!(o, Outcome::Existing(_) | Outcome::NoMatchCannotFound)));
    // The sample's venues resolve to one entity each.
    assert_eq!(
        n_entities,
        4,
        "{:?}",
        recs.iter()
            .map(|r| index.entity_of(&r.id()))
            .collect::<Vec<_>>()
    );
}

#[test]
fn attach_is_idempotent_and_a_second_attach_moves_the_candidate() {
    let rec = Rec::new(
        "google_places",
        "ChIJ1",
        at("Corstorphine Tennis Club", (55.94, -3.28)),
    );
    let mut index = given(&[("e_1", &rec), ("e_1", &rec)]);
    assert_eq!((index.n_candidates(), index.n_entities()), (1, 1));

    rec.with(|c| index.attach(c, "e_2"));

    assert_eq!(index.entity_of(&rec.id()), Some("e_2"));
    assert_eq!((index.n_candidates(), index.n_entities()), (1, 1));
}

#[test]
fn decisions_do_not_depend_on_the_order_candidates_were_attached_in() {
    let recs = edinburgh_sample();
    let mut forward = IdentityIndex::new(MatchConfig::default());
    let mut backward = IdentityIndex::new(MatchConfig::default());
    for (i, rec) in recs.iter().enumerate() {
        rec.with(|c| forward.attach(c, &format!("e_{}", i % 3)));
    }
    // Same assignment, attached in a shuffled (reversed, interleaved) order.
    let mut order: Vec<usize> = (0..recs.len()).rev().collect();
    order.rotate_left(3);
    for i in order {
        recs[i].with(|c| backward.attach(c, &format!("e_{}", i % 3)));
    }
    let probes = [
        Rec::new(
            "probe",
            "1",
            at(
                "Powerleague Portobello",
                offset(PORTOBELLO_POWERLEAGUE, 10.0, 10.0),
            ),
        ),
        Rec::new("probe", "2", named("Meadowbank Sports Centre")),
        Rec::new("probe", "3", at("Portobello", (55.95, -3.11))),
    ];
    for probe in &probes {
        assert_eq!(when(&forward, probe), when(&backward, probe));
    }
}

#[test]
fn comparisons_are_capped_however_crowded_the_block() {
    let here = (55.95, -3.19);
    let recs: Vec<Rec> = (0..500)
        .map(|i| {
            Rec::new(
                "openstreetmap",
                &format!("node/{i}"),
                at("Tennis Court", offset(here, f64::from(i % 20), 0.0)),
            )
        })
        .collect();
    let pairs: Vec<(String, &Rec)> = recs
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("e_{i}"), r))
        .collect();
    let refs: Vec<(&str, &Rec)> = pairs.iter().map(|(e, r)| (e.as_str(), *r)).collect();
    let index = given(&refs);

    let d = when(
        &index,
        &Rec::new("google_places", "x", at("Tennis Court", here)),
    );

    assert!(
        d.comparisons <= MatchConfig::default().block_candidates_max,
        "{}",
        d.comparisons
    );
}

#[test]
fn candidate_and_entity_ids_are_deterministic() {
    let c = candidate_id("google_places", "ChIJpp");
    assert_eq!(c, candidate_id("google_places", "ChIJpp"));
    assert_ne!(c, candidate_id("openstreetmap", "ChIJpp"));
    assert_ne!(candidate_id("ab", "c"), candidate_id("a", "bc"));
    assert!(c.starts_with("c_") && c.len() == 22 && c[2..].bytes().all(|b| b.is_ascii_hexdigit()));
    let e = entity_id_for(&c);
    assert_eq!(e, entity_id_for(&c));
    assert!(e.starts_with("e_") && e.len() == 22);
}

#[test]
fn config_validation_names_the_bad_field() {
    assert_eq!(MatchConfig::default().validate(), Ok(()));
    let bad = |f: fn(&mut MatchConfig)| {
        let mut c = MatchConfig::default();
        f(&mut c);
        c.validate().unwrap_err()
    };
    assert!(bad(|c| c.review_threshold = 0.9).contains("review_threshold"));
    assert!(bad(|c| c.match_threshold = 1.5).contains("match_threshold"));
    assert!(bad(|c| c.match_threshold = f64::NAN).contains("match_threshold"));
    assert!(bad(|c| c.cell_m = 0.0).contains("cell_m"));
    assert!(bad(|c| c.distance_zero_m = 50.0).contains("distance_zero_m"));
    assert!(bad(|c| c.block_candidates_max = 0).contains("block_candidates_max"));
    assert!(bad(|c| c.common_token_max = 0).contains("common_token_max"));

    let partial: MatchConfig = serde_json::from_str(r#"{"match_threshold": 0.9}"#).unwrap();
    assert_eq!(
        partial,
        MatchConfig {
            match_threshold: 0.9,
            ..MatchConfig::default()
        }
    );
    assert!(serde_json::from_str::<MatchConfig>(r#"{"match_treshold": 0.9}"#).is_err());
}

/// Four venues as several sources see them.
fn edinburgh_sample() -> Vec<Rec> {
    let pp = PORTOBELLO_POWERLEAGUE;
    let mb = (55.9564715, -3.15813);
    let ctc = (55.9402, -3.2826);
    let mut mb_phone = at("Meadowbank Sports Centre", mb);
    mb_phone.phone = Some("+441314960173".into());
    mb_phone.postcode = Some("EH7 6AE".into());
    let mut mb_sheet = named("Meadowbank Sports Centre");
    mb_sheet.phone = Some("+441314960173".into());
    let mut mb_ss = at("MEADOWBANK SPORTS CENTRE", offset(mb, -60.0, 30.0));
    mb_ss.sports = vec!["Athletics".into()];
    let mut pp_google = at("Powerleague Edinburgh Portobello", pp);
    pp_google.website = Some("https://www.powerleague.com/club/edinburgh-portobello".into());
    let mut pp_serper = named("Powerleague Portobello");
    pp_serper.website = Some("https://powerleague.com/club/edinburgh-portobello".into());
    vec![
        Rec::new("google_places", "ChIJpp", pp_google),
        Rec::new(
            "openstreetmap",
            "way/1",
            at("Powerleague Portobello", offset(pp, 40.0, 0.0)),
        ),
        Rec::new(
            "serper",
            "https://powerleague.com/club/edinburgh-portobello",
            pp_serper,
        ),
        Rec::new(
            "google_places",
            "ChIJps",
            at("Powerleague Sighthill", SIGHTHILL_POWERLEAGUE),
        ),
        Rec::new(
            "openstreetmap",
            "way/2",
            at("Powerleague", offset(SIGHTHILL_POWERLEAGUE, -20.0, 15.0)),
        ),
        Rec::new("google_places", "ChIJmb", mb_phone),
        Rec::new("spreadsheet", "row-3", mb_sheet),
        Rec::new("sport_scotland", "pub_spfat.9", mb_ss),
        Rec::new(
            "sport_scotland",
            "pub_spfotc.7",
            at("Corstorphine Lawn Tennis Club", ctc),
        ),
        Rec::new(
            "google_places",
            "ChIJctc",
            at("Corstorphine Tennis Club", offset(ctc, 0.0, 73.0)),
        ),
    ]
}

fn any_text() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        Just(None),
        Just(Some(String::new())),
        ".{0,40}".prop_map(Some),
        "[A-Za-z &'-]{0,30}".prop_map(Some),
        (1usize..40_000).prop_map(|n| Some("Drumbrae ".repeat(n / 9 + 1))),
    ]
}

fn any_coordinate() -> impl Strategy<Value = Option<f64>> {
    prop_oneof![
        Just(None),
        Just(Some(f64::NAN)),
        Just(Some(f64::INFINITY)),
        Just(Some(f64::NEG_INFINITY)),
        Just(Some(0.0)),
        any::<f64>().prop_map(Some),
        (55.9f64..56.0).prop_map(Some),
        (-3.3f64..-3.1).prop_map(Some),
    ]
}

fn any_fields() -> impl Strategy<Value = CandidateFields> {
    (
        (any_text(), any_text(), any_text(), any_text(), any_text()),
        (any_coordinate(), any_coordinate()),
        (
            prop::collection::vec(".{0,20}", 0..4),
            prop::collection::vec(".{0,20}", 0..4),
        ),
        prop::collection::btree_map(".{0,8}", prop::collection::vec(".{0,12}", 0..3), 0..3),
    )
        .prop_map(
            |(
                (name, phone, website, postcode, class),
                (lat, lon),
                (categories, address_lines),
                external_ids,
            )| {
                CandidateFields {
                    name,
                    phone,
                    website,
                    postcode,
                    entity_class: class,
                    lat,
                    lon,
                    categories,
                    address_lines,
                    external_ids,
                    ..CandidateFields::default()
                }
            },
        )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn decide_never_panics_and_scores_stay_in_0_1(
        attached in prop::collection::vec(any_fields(), 0..6),
        probe in any_fields(),
    ) {
        let mut index = IdentityIndex::new(MatchConfig::default());
        for (i, fields) in attached.iter().enumerate() {
            let ext = format!("r{i}");
            let id = candidate_id("src", &ext);
            let c = CandidateRef { candidate_id: &id, source: "src", external_id: &ext, fields };
            let d = index.decide(&c);
            prop_assert!((0.0..=1.0).contains(&d.score));
            index.attach(&c, &format!("e_{}", i % 2));
        }
        let id = candidate_id("probe", "p");
        let d = index.decide(&CandidateRef { candidate_id: &id, source: "probe", external_id: "p", fields: &probe });
        prop_assert!((0.0..=1.0).contains(&d.score), "{}", d.score);
        prop_assert!(d.features.values().all(|v| v.is_finite()), "{:?}", d.features);
        prop_assert!(d.comparisons <= MatchConfig::default().block_candidates_max);
    }

    /// Names drawn from words that are plurals, joins and initials of each other: however
    /// the passes pair them up, a name matches at most its own weight.
    #[test]
    fn a_name_similarity_stays_in_0_1_whatever_joins_plurals_and_initials_pair(
        a in prop::collection::vec(prop::sample::select(TANGLED_WORDS), 1..7),
        b in prop::collection::vec(prop::sample::select(TANGLED_WORDS), 1..7),
    ) {
        let index = given(&[(
            "e",
            &Rec::new("a_register", "1", listed(&a.join(" "), &["12 Leith Walk"])),
        )]);
        let d = when(
            &index,
            &Rec::new("openstreetmap", "node/1", listed(&b.join(" "), &["12", "Leith Walk"])),
        );
        if let Some(name) = d.features.get("name") {
            prop_assert!((0.0..=1.0).contains(name), "{a:?} / {b:?}: {name}");
        }
        prop_assert!((0.0..=1.0).contains(&d.score), "{}", d.score);
    }
}

/// Words that match one another by plural, join or initials.
const TANGLED_WORDS: &[&str] = &[
    "a",
    "b",
    "i",
    "j",
    "m",
    "s",
    "ab",
    "ij",
    "ms",
    "cost",
    "cutter",
    "cutters",
    "costcutter",
    "costcutters",
    "mellis",
    "marks",
    "spencer",
    "viet",
    "nam",
    "house",
    "vietnamhouse",
    "armstrong",
    "armstrongs",
    "shop",
    "shops",
    "&",
    "the",
];

#[test]
fn the_worked_examples_of_the_scoring_docs_hold() {
    let pp = PORTOBELLO_POWERLEAGUE;
    let index = given(&[(
        "e_pp",
        &Rec::new(
            "google_places",
            "ChIJpp",
            at("Powerleague Edinburgh Portobello", pp),
        ),
    )]);
    let near = when(
        &index,
        &Rec::new(
            "openstreetmap",
            "way/1",
            at("Powerleague Portobello", offset(pp, 40.0, 0.0)),
        ),
    );
    assert!((near.features["logit"] - 4.0).abs() < 0.01, "{near:?}");

    // Far apart, found through a shared phone so that the pair is scored at all.
    let mut a = at("Powerleague Edinburgh Portobello", pp);
    a.phone = Some("+443300000000".into());
    let index = given(&[("e_pp", &Rec::new("google_places", "ChIJpp", a))]);
    let mut b = at("Powerleague Sighthill", SIGHTHILL_POWERLEAGUE);
    b.phone = Some("+443300000000".into());
    let far = when(&index, &Rec::new("google_places", "ChIJps", b));
    assert!(far.score < 0.01, "{far:?}");

    let golf = (55.9478, -3.1079);
    let index = given(&[(
        "e_golf",
        &Rec::new(
            "openstreetmap",
            "way/10",
            at("Portobello Golf Course", golf),
        ),
    )]);
    let mut bowls = at("Portobello Bowling Club", offset(golf, 300.0, 0.0));
    bowls.postcode = None;
    let d = when(&index, &Rec::new("google_places", "ChIJbowl", bowls));
    assert!(
        (d.features["logit"] - (-1.0 - 1.9 + 0.3 - 2.25)).abs() < 0.1,
        "{d:?}"
    );
}

// Cases from the labelled real data (`fixtures/matching/LABELS.md`): the sportscotland
// register against OpenStreetMap.

#[test]
fn a_chain_venue_is_not_the_park_that_shares_its_location_word() {
    let mut park = at("Sighthill Park", (55.9262, -3.2905));
    park.categories = vec!["Pitch - Football (5-a-side)".into()];
    park.postcode = Some("EH11 4PN".into());
    let index = given(&[("e_park", &Rec::new("sport_scotland", "pub_spfp.1", park))]);

    let mut venue = at(
        "Powerleague Sighthill",
        offset((55.9262, -3.2905), 0.0, 125.0),
    );
    venue.categories = vec!["Pitch - Football (5-a-side)".into()];
    venue.postcode = Some("EH11 4EQ".into());
    let d = when(&index, &Rec::new("sport_scotland", "pub_spfp.2", venue));

    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");
    assert_eq!(d.features["brand"], 0.0);
}

#[test]
fn a_school_and_the_playing_fields_on_its_street_are_different_places() {
    let here = (55.9745, -3.2095);
    let mut fields = at("Wardie Playing Fields", here);
    fields.address_lines = vec!["Granton Road".into()];
    fields.postcode = Some("EH5 3NJ".into());
    fields.categories = vec!["Pitch - Football (11-a-side)".into()];
    let index = given(&[(
        "e_fields",
        &Rec::new("sport_scotland", "pub_spfp.3", fields),
    )]);

    let mut school = at("Wardie Primary School", offset(here, 0.0, 164.0));
    school.address_lines = vec!["Granton Road".into()];
    school.postcode = Some("EH5 3NJ".into());
    school.categories = vec!["Pitch - Football (5-a-side)".into()];
    let d = when(&index, &Rec::new("sport_scotland", "pub_spfp.4", school));

    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");
}

#[test]
fn tennis_courts_are_not_the_football_pitches_of_the_same_park() {
    let here = (55.9700, -3.1650);
    let mut pitches = at("Leith Links Playing Fields", here);
    pitches.categories = vec![
        "Pitch - Football (11-a-side)".into(),
        "Pitch - Cricket".into(),
    ];
    let index = given(&[(
        "e_links",
        &Rec::new("sport_scotland", "pub_spfp.5", pitches),
    )]);

    let mut tennis = at("Leith Links Tennis", offset(here, 160.0, 40.0));
    tennis.sports = vec!["tennis".into()];
    tennis.categories = vec!["leisure=pitch".into()];
    let d = when(&index, &Rec::new("openstreetmap", "way/257356796", tennis));

    assert!(!matches!(d.outcome, Outcome::Existing(_)), "{d:?}");
    assert_eq!(d.features["category"], 0.1);
}

#[test]
fn a_club_matches_under_its_full_name_from_another_source() {
    let here = (55.9451, -3.2450);
    let mut osm = at("Murrayfield Lawn Tennis Club", here);
    osm.sports = vec!["tennis".into()];
    osm.address_lines = vec!["57 Corstorphine Road".into()];
    osm.website = Some("http://www.murrayfieldtennis.co.uk/".into());
    let index = given(&[("e_mltc", &Rec::new("openstreetmap", "node/4169512853", osm))]);

    let mut register = at("Murrayfield Tennis Club", offset(here, -80.0, 70.0));
    register.categories = vec!["Tennis Court - Outdoor".into()];
    register.address_lines = vec!["57 Corstorphine Road".into()];
    register.postcode = Some("EH12 6DG".into());
    let d = when(
        &index,
        &Rec::new("sport_scotland", "pub_spfotc.363", register),
    );

    assert_eq!(d.outcome, Outcome::Existing("e_mltc".into()), "{d:?}");
}

#[test]
fn a_name_of_generic_words_is_still_found_near_by_in_a_crowded_index() {
    let here = (55.9400, -3.2200);
    // A crowded neighbourhood: cells too full to be read whole.
    let crowd: Vec<Rec> = (0..200)
        .map(|i| {
            Rec::new(
                "openstreetmap",
                &format!("node/{i}"),
                at(
                    &format!("Crowd{i} Bowling Club"),
                    offset(here, f64::from(i % 7) * 10.0, 0.0),
                ),
            )
        })
        .collect();
    let mut attached: Vec<(String, &Rec)> = crowd
        .iter()
        .enumerate()
        .map(|(i, r)| (format!("e_{i}"), r))
        .collect();
    let club = Rec::new(
        "openstreetmap",
        "way/443814911",
        at("Edinburgh Sports Club", offset(here, 30.0, 30.0)),
    );
    attached.push(("e_esc".to_owned(), &club));
    let refs: Vec<(&str, &Rec)> = attached.iter().map(|(e, r)| (e.as_str(), *r)).collect();
    let index = given(&refs);

    let d = when(
        &index,
        &Rec::new(
            "sport_scotland",
            "pub_spfotc.303",
            at("Edinburgh Sports Club", offset(here, 120.0, 60.0)),
        ),
    );

    assert_eq!(d.outcome, Outcome::Existing("e_esc".into()), "{d:?}");
}

/// From the development sets (matcher 5): a name that writes words together weighs them
/// once ("VietnamHouse" is "Viet Nam House", not a word against three), an owner's given
/// name before the surname and a place after a closing "of" weigh as generic words; two
/// businesses that share only a given name stay apart.
#[test]
fn joined_words_count_once_and_owners_given_names_weigh_little() {
    // The house numbers two apart (as good as a number on one side only) in all but the
    // first: the name has to carry the match.
    let pairs: &[(&str, &str, &str, &str)] = &[
        (
            "VietnamHouse ArtGallery",
            "28 Raeburn Place",
            "Viet Nam House",
            "28",
        ),
        (
            "Borthwick Newsagent",
            "6 Raeburn Place",
            "James Borthwick",
            "8",
        ),
        (
            "Iain Mellis Cheesemonger",
            "30 Raeburn Place",
            "I.J. Mellis Cheesemonger",
            "28",
        ),
        (
            "Armstrong's Of Stockbridge",
            "80 Raeburn Place",
            "G Armstrong",
            "82",
        ),
        (
            "Ali and Sons Newsagent",
            "2-4A Raeburn Place",
            "Ali & Son Newsagent",
            "2-4",
        ),
    ];
    for (register, address, osm, number) in pairs {
        let d = osm_against_register(
            listed(register, &[address]),
            listed(osm, &[number, "Raeburn Place"]),
        );
        assert_eq!(
            d.outcome,
            Outcome::Existing("e_r".into()),
            "{register} / {osm}: {d:?}"
        );
    }
    // Only the given name in common: another business at the same address.
    let d = osm_against_register(
        listed("Iain Smith Butchers", &["7 Raeburn Place"]),
        listed("Iain Mellis Cheesemonger", &["7", "Raeburn Place"]),
    );
    assert_eq!(d.outcome, Outcome::NoMatchCannotFound, "{d:?}");
}

/// A source whose records are each one establishment: another of its records with the
/// same name is another outlet (its entity is passed over, though it would have joined),
/// a record of another source still joins, a record of it with another name still joins,
/// and the same record stays the same record.
#[test]
fn a_distinct_source_keeps_its_same_named_records_apart() {
    let outlet = || {
        let mut f = listed("W H Smith", &["Edinburgh Airport"]);
        f.postcode = Some("EH12 9DN".into());
        f
    };
    let first = Rec::new("a_register", "1", outlet());
    let second = Rec::new("a_register", "2", outlet());
    let config = MatchConfig {
        distinct_sources: vec!["a_register".into()],
        ..MatchConfig::default()
    };
    let mut index = IdentityIndex::new(config);
    first.with(|c| index.attach(c, "e_1"));
    assert_eq!(
        when(&given(&[("e_1", &first)]), &second).outcome,
        Outcome::Existing("e_1".into()),
        "without the setting"
    );
    let d = when(&index, &second);
    assert_eq!(d.outcome, Outcome::NewEntity, "{d:?}");
    assert_eq!(d.comparisons, 0);
    assert_eq!(
        when(&index, &first).outcome,
        Outcome::Existing("e_1".into())
    );
    let elsewhere = Rec::new("openstreetmap", "node/1", outlet());
    assert_eq!(
        when(&index, &elsewhere).outcome,
        Outcome::Existing("e_1".into())
    );
    let mut cafe = outlet();
    cafe.name = Some("W H Smith Cafe".into());
    let cafe = Rec::new("a_register", "3", cafe);
    assert_eq!(when(&index, &cafe).outcome, Outcome::Existing("e_1".into()));
}
