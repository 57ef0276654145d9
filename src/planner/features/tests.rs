//! The query reader's specification, by example. None of these queries is in the held-out
//! evaluation set (`fixtures/queries/heldout.csv`); a test below checks that.

use super::*;
use crate::planner::areas::{AreaKind, Nation};

fn f(query: &str) -> QueryFeatures {
    extract_features(query)
}

// ---- tokens --------------------------------------------------------------------

#[test]
fn given_mixed_case_punctuation_and_apostrophes_when_tokenised_then_normalised() {
    assert_eq!(
        tokenize("David Lloyd's, 5-a-side!  St James’ Quarter"),
        vec!["david", "lloyds", "5", "a", "side", "st", "james", "quarter"]
    );
    assert_eq!(tokenize("CAFÉ Über"), vec!["café", "über"]);
    assert!(tokenize(" -- ?! ").is_empty());
}

// ---- sports venue queries: the seed's FR-4 table and more -------------------------

/// Queries asking for a place to do sport. Each must be read as a sports venue query.
const SPORTS_QUERIES: &[&str] = &[
    "powerleague portobello",
    "Power League Edinburgh",
    "nuffield health edinburgh",
    "nuffield edinburgh",
    "goals soccer centre",
    "goals soccer",
    "goals",
    "goals leith",
    "david lloyd tennis",
    "David Lloyd's Edinburgh",
    "royal commonwealth pool",
    "edinburgh leisure centres",
    "tennis courts edinburgh",
    "padel edinburgh",
    "5-a-side football leith",
    "five a side pitches",
    "puregym",
    "pure gym leith walk",
    "the gym group edinburgh",
    "meadowbank sports centre",
    "murrayfield ice rink",
    "tynecastle",
    "golf course corstorphine",
    "swimming lessons portobello",
    "astroturf pitch gorgie",
    "rugby club stockbridge",
    "badminton court near me",
    "squash courts marchmont",
    "climbing wall ratho",
    "sunday league football",
    "5 a side tournaments",
    "arena",
    "leisure centre",
    "ice skating",
    "bowling alley",
    "athletics track meadowbank",
    "hockey pitches",
    "basketball courts",
    "boxing gym leith",
    "table tennis club",
    "sports halls for hire",
    "football tournament edinburgh",
    "yoga classes bruntsfield",
    "climbing",
    "bouldering",
    "water polo sessions",
    "kayaking club",
    "archery range",
    "bmx track",
    "cricket pitch hire",
    "squash edinburgh",
];

/// Queries that are not about a place to do sport, many of them sport words naming
/// something else. None may be read as a sports venue query.
const NOT_SPORTS_QUERIES: &[&str] = &[
    "pizza restaurant edinburgh",
    "food court st james quarter",
    "car pool leith",
    "carpool to work",
    "craigmillar castle",
    "dentist morningside",
    "sheriff court edinburgh",
    "pool table hire leith",
    "boxing day sales princes street",
    "butternut squash soup recipe",
    "phone charger shop",
    "sales pitch training",
    "career goals workshop",
    "hair curling tongs",
    "vw golf for sale",
    "nuffield trust report",
    "david lloyd george statue",
    "tennis elbow physio",
    "supreme court ruling",
    "gene pool",
    "coffee shop stockbridge",
    "library leith",
    "community centre gorgie",
    "court house hotel",
    "caravan pitch portobello",
    "sports car hire",
    "transport for edinburgh",
    "courtyard cafe",
    "league of legends",
    "night club cowgate",
    "pitch black cafe",
    "musselburgh fish and chips",
    "football shirt printing",
    "swimming costumes",
    "gym equipment for sale",
    "football pools",
    "rugby boots size 9",
    "golf trolley repair",
    "badminton racket shop",
    "hockey world cup",
    "netball results",
    "squash and lemonade",
    "cricket on the radio",
    "tennis tickets wimbledon",
    "football betting odds",
];

#[test]
fn given_sports_queries_when_read_then_every_one_is_a_sports_venue_query() {
    let misses: Vec<(&str, Wanted)> = SPORTS_QUERIES
        .iter()
        .map(|q| (*q, f(q)))
        .filter(|(_, x)| !x.is_sports)
        .map(|(q, x)| (q, x.wanted))
        .collect();
    assert!(misses.is_empty(), "false negatives: {misses:?}");
}

#[test]
fn given_other_queries_when_read_then_none_is_a_sports_venue_query() {
    let hits: Vec<(&str, Vec<Reading>)> = NOT_SPORTS_QUERIES
        .iter()
        .map(|q| (*q, f(q)))
        .filter(|(_, x)| x.is_sports)
        .map(|(q, x)| (q, x.readings))
        .collect();
    assert!(hits.is_empty(), "false positives: {hits:#?}");
}

// ---- what is wanted ------------------------------------------------------------------

#[test]
fn given_a_sport_and_a_product_then_the_head_noun_decides() {
    let x = f("football shirt printing");
    assert_eq!(x.wanted, Wanted::Service);
    assert_eq!(x.wanted_words, vec!["printing"]);
    assert_eq!(f("rugby boots size 9").wanted, Wanted::Product);
    // The head is before the first preposition: the place is what is wanted.
    let lessons = f("swimming lessons for adults");
    assert_eq!(lessons.wanted, Wanted::Place);
    assert!(lessons.is_sports);
    // "hire" qualifies the head, it is not one.
    assert!(f("sports hall hire").is_sports);
}

#[test]
fn given_words_of_tickets_media_or_bets_then_they_decide_wherever_they_stand() {
    assert_eq!(f("cricket on the radio tv").wanted, Wanted::Media);
    assert_eq!(f("tennis tickets wimbledon").wanted, Wanted::Ticket);
    assert_eq!(f("football betting odds").wanted, Wanted::Betting);
    assert_eq!(f("for sale: squash racket").wanted, Wanted::Product);
}

#[test]
fn given_a_place_that_does_not_suit_the_sport_then_it_is_not_a_place_to_play() {
    let x = f("football pools");
    assert!(!x.is_sports);
    assert!(x.venue_words.is_empty());
    assert!(x
        .readings
        .iter()
        .any(|r| r.meaning.contains("not a place to play football")));
    // But a pool suits swimming, and a court suits squash.
    assert!(f("swimming pools").is_sports);
    assert_eq!(f("squash courts").venue_words, vec!["court"]);
}

#[test]
fn given_longer_phrases_of_other_schemes_then_they_win_over_a_sports_word_inside() {
    assert_eq!(f("food court").categories, vec!["food court"]);
    assert!(f("food court").venue_words.is_empty());
    assert_eq!(f("car pool leith").categories, vec!["car sharing"]);
    assert_eq!(f("sheriff court").categories, vec!["courthouse"]);
    let centres = f("edinburgh leisure centres");
    assert!(centres.brands.is_empty());
    assert_eq!(centres.venue_words, vec!["leisure centre"]);
    assert_eq!(f("edinburgh leisure").brands, vec!["edinburgh_leisure"]);
}

#[test]
fn given_place_words_that_need_a_sport_then_alone_they_are_not_sports_places() {
    assert!(!f("track my parcel").is_sports);
    assert!(!f("wall paint").is_sports);
    assert!(f("bmx track").is_sports);
    assert_eq!(f("bmx track").venue_words, vec!["track"]);
}

#[test]
fn given_ambiguous_sport_words_alone_then_they_need_support() {
    assert!(f("squash").sports.is_empty());
    assert!(f("squash edinburgh").is_sports);
    assert!(f("squash courts").is_sports);
    assert!(!f("garden fencing").is_sports);
    assert!(f("fencing club").is_sports);
}

// ---- spelling --------------------------------------------------------------------------

#[test]
fn given_misspelt_words_then_they_are_read_as_the_word_one_edit_away() {
    assert_eq!(f("tenis club").sports, vec!["tennis"]);
    assert_eq!(f("baddminton").sports, vec!["badminton"]);
    assert_eq!(f("powerleage leith").brands, vec!["powerleague"]);
    assert_eq!(f("rugbby pitches glasow").areas, vec!["glasgow"]);
    assert!(f("tenis club")
        .readings
        .iter()
        .any(|r| r.words == "tenis" && r.meaning.contains("spelling")));
    // A phrase decides between equally close words.
    assert_eq!(f("golf coarse").venue_words, vec!["golf course"]);
    // Unknown words far from any are left alone.
    assert!(f("xyzzy").sports.is_empty());
    assert_eq!(f("xyzzy").name_words, vec!["xyzzy"]);
}

#[test]
fn edit_distance_counts_transpositions_as_one_and_gives_up_early() {
    assert_eq!(edit_distance("tennis", "tennis", 2), 0);
    assert_eq!(edit_distance("tenis", "tennis", 2), 1);
    assert_eq!(edit_distance("edinbrugh", "edinburgh", 2), 1);
    assert_eq!(edit_distance("abc", "xyzuvw", 1), 2);
}

// ---- EV --------------------------------------------------------------------------------

#[test]
fn given_charging_with_a_vehicle_then_ev_and_with_a_gadget_not() {
    for q in [
        "ev charging leith",
        "charge point portobello",
        "charging my polestar",
        "plug in the van",
        "tesla charging edinburgh",
        "chademo near haymarket",
        "electric vehicle charge points",
    ] {
        assert!(f(q).ev, "{q}");
    }
    for q in [
        "phone charger shop",
        "usb charging cable",
        "laptop charger",
        "christmas eves",
        "no charge for parking",
        "charges at my bank",
    ] {
        assert!(!f(q).ev, "{q}");
    }
}

// ---- brands ------------------------------------------------------------------------------

#[test]
fn given_the_goals_rule_then_brand_only_when_it_leads_or_precedes_soccer() {
    let brand = |q: &str| f(q).brands.contains(&GOALS_BRAND.to_string());
    assert!(brand("goals"));
    assert!(brand("goals soccer centre"));
    assert!(brand("goals edinburgh"));
    assert!(brand("goals leith"));
    assert!(brand("new goals football pitches"));
    assert!(!brand("fitness goals edinburgh"));
    assert!(!brand("goals scored"));
    assert!(!brand("5 a side goals for sale"));
}

#[test]
fn given_brand_spellings_then_one_canonical_key_each() {
    assert_eq!(f("nuffield").brands, vec!["nuffield_health"]);
    assert_eq!(f("Nuffield Health").brands, vec!["nuffield_health"]);
    assert_eq!(f("power league").brands, vec!["powerleague"]);
    assert_eq!(f("david lloyds").brands, vec!["david_lloyd"]);
    assert_eq!(f("pure gym").brands, vec!["puregym"]);
    assert!(f("nuffield trust").brands.is_empty());
    assert!(f("david lloyd george").brands.is_empty());
}

#[test]
fn given_a_shop_chain_then_a_shop_is_wanted_not_a_venue() {
    let x = f("sports direct leith");
    assert_eq!(x.brands, vec!["sports_direct"]);
    assert_eq!(x.wanted, Wanted::Shop);
    assert!(!x.is_sports);
}

#[test]
fn given_brands_then_private_and_public_operators_are_told_apart() {
    assert_eq!(
        f("powerleague portobello").private_brands(),
        vec!["powerleague"]
    );
    assert!(f("edinburgh leisure").private_brands().is_empty());
    assert_eq!(
        f("edinburgh leisure").public_facilities(),
        vec!["edinburgh_leisure"]
    );
    assert_eq!(
        f("tennis courts and library leith").public_facilities(),
        vec!["court", "library"]
    );
}

// ---- places --------------------------------------------------------------------------

#[test]
fn given_edinburgh_districts_then_areas_are_found_longest_first() {
    assert_eq!(f("gyms in leith walk").areas, vec!["leith walk"]);
    assert_eq!(f("wester hailes pitch").areas, vec!["wester hailes"]);
    assert_eq!(
        f("Edinburgh's Morningside and Corstorphine").areas,
        vec!["edinburgh", "morningside", "corstorphine"]
    );
    assert!(f("queensferry").edinburgh);
}

#[test]
fn given_scottish_towns_and_council_areas_then_they_are_the_area_searched() {
    let x = f("rugby pitches kirkcaldy");
    let area = x.area.expect("an area");
    assert_eq!(area.name, "kirkcaldy");
    assert_eq!(area.kind, AreaKind::Town);
    assert_eq!(area.council_area.as_deref(), Some("Fife"));
    assert!(area.named && !x.edinburgh);
    let la = f("tennis in east lothian").area.unwrap();
    assert_eq!(la.kind, AreaKind::CouncilArea);
    assert_eq!(f("gym stirling").area.unwrap().kind, AreaKind::Town);
}

#[test]
fn given_towns_outside_the_city_then_not_edinburgh() {
    for town in ["musselburgh", "dalkeith", "livingston", "tranent"] {
        let x = f(&format!("leisure centre {town}"));
        assert!(!x.edinburgh, "{town}");
        assert_eq!(x.areas, vec![town.to_string()]);
    }
}

#[test]
fn given_cities_of_other_nations_then_their_nation_is_known() {
    assert_eq!(f("squash in swansea").area.unwrap().nation, Nation::Wales);
    assert_eq!(f("gyms manchester").area.unwrap().nation, Nation::England);
}

#[test]
fn given_no_place_then_the_home_area_is_searched_and_says_so() {
    let x = f("padel");
    let area = x.area.clone().unwrap();
    assert!(!area.named);
    assert_eq!(area.name, "edinburgh");
    assert!(x.areas.is_empty());
    assert!(!x.names_area());
}

#[test]
fn given_an_ambiguous_town_name_then_only_after_a_preposition() {
    assert!(f("law firm").areas.is_empty());
    assert_eq!(f("tennis club in law").areas, vec!["law"]);
}

// ---- intent ----------------------------------------------------------------------------

#[test]
fn given_queries_of_each_kind_then_the_intent_is_read() {
    let cases = [
        ("powerleague portobello", QueryIntent::Brand),
        ("goals soccer centre", QueryIntent::Brand),
        ("david lloyd tennis", QueryIntent::Brand),
        ("royal commonwealth pool", QueryIntent::SpecificVenue),
        ("ainslie park leisure centre", QueryIntent::SpecificVenue),
        ("meadowbank sports centre", QueryIntent::SpecificVenue),
        ("tynecastle", QueryIntent::SpecificVenue),
        ("tennis xyzzy", QueryIntent::SpecificVenue),
        ("tennis courts edinburgh", QueryIntent::Category),
        ("edinburgh leisure centres", QueryIntent::Category),
        ("indoor pool edinburgh", QueryIntent::Category),
        ("leisure centre portobello", QueryIntent::Category),
        ("pizza restaurant edinburgh", QueryIntent::Category),
        ("ev charging leith", QueryIntent::Category),
        ("craigmillar castle", QueryIntent::General),
        ("asdf", QueryIntent::General),
    ];
    for (query, intent) in cases {
        assert_eq!(f(query).intent, intent, "{query}");
    }
}

#[test]
fn given_features_when_serialised_then_round_trip_with_snake_case_names() {
    let features = f("royal commonwealth pool");
    let json = serde_json::to_value(&features).expect("serialise");
    assert_eq!(json["intent"], "specific_venue");
    assert_eq!(json["wanted"], "place");
    assert_eq!(json["venues"][0], "royal_commonwealth_pool");
    let back: QueryFeatures = serde_json::from_value(json).expect("deserialise");
    assert_eq!(back, features);
}

#[test]
fn given_features_json_without_the_newer_fields_then_it_still_reads() {
    // Plans recorded by older versions (RunStarted.features) decode.
    let json = serde_json::json!({
        "tokens": ["padel"], "sports": ["padel"], "brands": [], "venue_words": [],
        "areas": [], "edinburgh": false, "ev": false, "is_sports": true,
        "intent": "category"
    });
    let features: QueryFeatures = serde_json::from_value(json).expect("deserialise");
    assert!(features.venues.is_empty() && features.categories.is_empty());
    assert_eq!(features.wanted, Wanted::Place);
    assert_eq!(features.area_or_home().name, "edinburgh");
}

// ---- limits and separation ---------------------------------------------------------------

#[test]
fn given_a_very_long_query_then_it_is_read_in_bounded_time() {
    let long = "tennis court ".repeat(200);
    let x = f(&long);
    assert_eq!(x.tokens.len(), QUERY_TOKENS_MAX);
    assert!(x.is_sports);
}

#[test]
fn given_the_heldout_set_then_no_query_of_these_tests_is_in_it() {
    // The evaluation set must stay unseen by the examples the rules were written from.
    let heldout: HashSet<String> = include_str!("../../../fixtures/queries/heldout.csv")
        .lines()
        .skip(1)
        .filter_map(|l| l.split(',').next())
        .map(|q| tokenize(q).join(" "))
        .collect();
    assert!(heldout.len() >= 200);
    let sources = [include_str!("tests.rs"), include_str!("../mod.rs")];
    let literals: Vec<&str> = sources
        .iter()
        .flat_map(|s| s.split('"').skip(1).step_by(2))
        .collect();
    let shared: Vec<&&str> = literals
        .iter()
        .filter(|l| l.contains(' ') && heldout.contains(&tokenize(l).join(" ")))
        .collect();
    assert!(shared.is_empty(), "in the held-out set: {shared:?}");
}
