//! Given a query and a record, then a verdict with its evidence.

use super::*;
use crate::planner::extract_features;

fn record(
    name: &str,
    sports: &[&str],
    categories: &[&str],
    at: Option<(f64, f64)>,
) -> CandidateFields {
    CandidateFields {
        name: Some(name.to_string()),
        sports: sports.iter().map(|s| s.to_string()).collect(),
        categories: categories.iter().map(|s| s.to_string()).collect(),
        lat: at.map(|a| a.0),
        lon: at.map(|a| a.1),
        ..CandidateFields::default()
    }
}

const PORTOBELLO: (f64, f64) = (55.9566, -3.1193);
const GLASGOW_GREEN: (f64, f64) = (55.8500, -4.2380);

fn judged(query: &str, c: &CandidateFields) -> Verdict {
    judge(&extract_features(query), c)
}

#[test]
fn given_a_sport_when_the_record_is_another_sport_then_off_topic_with_the_evidence() {
    let army = record(
        "Army H Q Scotland",
        &["football"],
        &["pitch"],
        Some(PORTOBELLO),
    );
    let v = judged("bouldering", &army);
    assert!(!v.on_topic);
    assert!(v.evidence.contains("climbing"), "{}", v.evidence);
    assert!(v.evidence.contains("football"), "{}", v.evidence);
    let wall = record(
        "Alien Rock",
        &["climbing"],
        &["climbing_centre"],
        Some(PORTOBELLO),
    );
    assert!(judged("bouldering", &wall).on_topic);
}

#[test]
fn given_a_sport_when_the_record_is_a_facility_where_it_is_played_then_on_topic() {
    let court = record("Joppa Gardens", &[], &["tennis_court"], Some(PORTOBELLO));
    let v = judged("tennis courts", &court);
    assert!(v.on_topic, "{}", v.evidence);
    assert!(v.evidence.contains("tennis_court"));
    // A pitch that does not say its sport may hold a rugby match.
    let pitch = record("Inch Park", &[], &["pitch"], Some(PORTOBELLO));
    assert!(judged("rugby pitches", &pitch).on_topic);
    // But a pitch that says football does not answer rugby.
    let football = record("Inch Park 5s", &["football"], &["pitch"], Some(PORTOBELLO));
    assert!(!judged("rugby pitches", &football).on_topic);
}

#[test]
fn given_a_named_place_when_the_record_lies_far_outside_it_then_off_topic() {
    let v = judged(
        "squash courts in dundee",
        &record(
            "Squash Club",
            &["squash"],
            &["squash_court"],
            Some(PORTOBELLO),
        ),
    );
    assert!(!v.on_topic);
    assert!(v.evidence.contains("km from dundee"), "{}", v.evidence);
    let v = judged(
        "squash courts in glasgow",
        &record(
            "Squash Club",
            &["squash"],
            &["squash_court"],
            Some(GLASGOW_GREEN),
        ),
    );
    assert!(v.on_topic, "{}", v.evidence);
}

#[test]
fn given_no_place_named_then_the_area_is_not_a_condition() {
    let v = judged(
        "squash courts",
        &record(
            "Squash Club",
            &["squash"],
            &["squash_court"],
            Some(GLASGOW_GREEN),
        ),
    );
    assert!(v.on_topic, "{}", v.evidence);
}

#[test]
fn given_a_brand_then_only_its_records_by_name_or_website() {
    let f = extract_features("powerleague leith");
    let pool = record("Leith Victoria", &["swimming"], &["swimming_pool"], None);
    assert!(!judge(&f, &pool).on_topic);
    // Another branch in the city is one the brand search validates; one in Glasgow is not.
    let sighthill = record(
        "Powerleague Sighthill",
        &[],
        &["pitch"],
        Some((55.9230, -3.2870)),
    );
    assert!(judge(&f, &sighthill).on_topic);
    let glasgow = record("Powerleague Glasgow", &[], &["pitch"], Some(GLASGOW_GREEN));
    assert!(!judge(&f, &glasgow).on_topic);
    // A venue of the brand's kind in the place named is an alternative.
    let fives = record(
        "Leith Links 5s",
        &["football"],
        &["five_a_side"],
        Some((55.9700, -3.1630)),
    );
    let v = judge(&f, &fives);
    assert!(
        v.on_topic && v.evidence.contains("kind of venue"),
        "{}",
        v.evidence
    );
    let by_name = record("Powerleague Edinburgh Portobello", &[], &[], None);
    assert!(judge(&f, &by_name).on_topic);
    let mut by_site = record("Edinburgh Portobello 5s", &[], &[], None);
    by_site.website = Some("https://www.powerleague.com/club/edinburgh".into());
    let v = judge(&f, &by_site);
    assert!(
        v.on_topic && v.evidence.contains("website"),
        "{}",
        v.evidence
    );
}

#[test]
fn given_an_ev_query_then_only_charge_points() {
    let mut charger = record("Our Dynamic Earth", &[], &[], Some(PORTOBELLO));
    charger.ev = Some(trustfold_events::EvDetails::default());
    assert!(judged("charging my polestar", &charger).on_topic);
    let pool = record(
        "Portobello Swim Centre",
        &["swimming"],
        &["swimming_pool"],
        None,
    );
    assert!(!judged("charging my polestar", &pool).on_topic);
}

#[test]
fn given_a_product_query_then_a_sports_venue_does_not_answer_it() {
    let pitch = record("Football Pitch", &["football"], &["pitch"], None);
    let v = judged("football shirt printing", &pitch);
    assert!(!v.on_topic);
    assert!(v.evidence.contains("service"), "{}", v.evidence);
    let printer = record("Leith Shirt Printing Co", &[], &[], None);
    assert!(judged("football shirt printing", &printer).on_topic);
}

#[test]
fn given_an_unknown_name_word_then_the_record_must_carry_it() {
    let court = record(
        "Meadows Tennis Courts",
        &["tennis"],
        &["tennis_court"],
        None,
    );
    let v = judged("tennis xyzzy", &court);
    assert!(!v.on_topic);
    assert!(v.evidence.contains("xyzzy"));
    let named = record("Xyzzy Lawn Tennis Club", &["tennis"], &[], None);
    assert!(judged("tennis xyzzy", &named).on_topic);
}

#[test]
fn given_a_record_that_says_nothing_to_compare_then_it_is_kept() {
    let bare = record("The Hub", &[], &[], None);
    let v = judged("volleyball", &bare);
    assert!(v.on_topic, "{}", v.evidence);
    assert!(v.evidence.contains("kept"));
}

#[test]
fn given_a_kind_of_place_then_records_of_that_kind() {
    let lc = record("Leith Victoria", &["swimming"], &["leisure_centre"], None);
    assert!(judged("leisure centres", &lc).on_topic);
    let green = record("Leith Bowling Club", &["bowling"], &["bowling_green"], None);
    assert!(!judged("leisure centres", &green).on_topic);
    let cafe = record("Stockbridge Fives", &["football"], &["pitch"], None);
    assert!(!judged("coffee shop stockbridge", &cafe).on_topic);
}
