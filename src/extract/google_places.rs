//! Google Places API (New) `places:searchText` payloads: `{"places":[{id, displayName{text},
//! formattedAddress, location{latitude,longitude}, types[], nationalPhoneNumber,
//! internationalPhoneNumber, websiteUri, rating, userRatingCount, googleMapsUri,
//! businessStatus, regularOpeningHours{weekdayDescriptions[]}}]}`.
//!
//! The request's field mask decides which members are present, so every member is
//! optional; a search without results answers `{}` (zero records, not an error). An API
//! error answers `{"error": {...}}`, which is an [`ExtractError`].
//!
//! External id: the place `id` (`ChIJ...`). The customer id in `googleMapsUri`
//! (`?cid=...`) is recorded as `external_ids.google_maps_cid`: Serper reports the same
//! number, so the two sources can be joined on it.

use serde_json::Value;
use trustfold_events::CandidateFields;

use super::common::{
    array, at, categories_from, count, entity_class_for, member, number, parse_payload, phone,
    quote, rating, text, Records,
};
use super::{ExtractError, Extraction, Extractor};
use trustfold_normalize::phone::Region;
use trustfold_normalize::{
    address::split_uk_address,
    geo::coordinates,
    text::{free_text, required_name, TEXT_CHARS_MAX},
    web::website,
};

/// The Google Places (New) extractor.
pub struct GooglePlacesExtractor;

impl Extractor for GooglePlacesExtractor {
    fn source(&self) -> &'static str {
        "google_places"
    }

    fn version(&self) -> u32 {
        1
    }

    fn extract(&self, body: &[u8], region: Option<Region>) -> Result<Extraction, ExtractError> {
        let doc = parse_payload(body, self.source())?;
        if !doc.is_object() {
            return Err(ExtractError(
                "google_places: the payload is not a JSON object".to_string(),
            ));
        }
        if let Some(err) = member(&doc, "error") {
            let message = text(member(err, "message")).unwrap_or_else(|| err.to_string());
            return Err(ExtractError(format!(
                "google_places: the API answered an error: {}",
                quote(&message, 200)
            )));
        }
        let places = match member(&doc, "places") {
            None => return Ok(Extraction::default()),
            Some(Value::Array(places)) => places,
            Some(_) => {
                return Err(ExtractError(
                    "google_places: `places` is not an array".to_string(),
                ))
            }
        };
        let mut out = Records::new();
        for (i, place) in places.iter().enumerate() {
            let id = text(member(place, "id")).filter(|id| !id.trim().is_empty());
            match (&id, place_fields(place, region)) {
                (Some(id), Ok(fields)) => out.push(id.trim().to_string(), fields),
                (None, _) => out.skip(format!("{}: no id", at("place", i, None))),
                (Some(id), Err(why)) => out.skip(format!("{}: {why}", at("place", i, Some(id)))),
            }
        }
        Ok(out.finish())
    }
}

/// The customer id in a Google Maps URI (`https://maps.google.com/?cid=123`).
fn maps_cid(uri: &str) -> Option<String> {
    let query = uri.split_once('?')?.1;
    query
        .split('&')
        .find_map(|p| p.strip_prefix("cid="))
        .filter(|c| !c.is_empty() && c.len() <= 24 && c.chars().all(|c| c.is_ascii_digit()))
        .map(str::to_string)
}

/// One place's canonical fields; `Err` is why it is skipped.
fn place_fields(p: &Value, region: Option<Region>) -> Result<CandidateFields, String> {
    if !p.is_object() {
        return Err("not an object".to_string());
    }
    let name = required_name(
        member(p, "displayName")
            .and_then(|d| text(member(d, "text")))
            .as_deref(),
    )?;
    let mut f = CandidateFields {
        name: Some(name),
        country: Some("GB".to_string()),
        ..CandidateFields::default()
    };
    if let Some(address) = text(member(p, "formattedAddress")) {
        let (lines, town, pc) = split_uk_address(&address);
        f.address_lines = lines;
        f.locality = town;
        f.postcode = pc;
    }
    if let Some(loc) = member(p, "location") {
        let (lat, lon) = (
            number(member(loc, "latitude")),
            number(member(loc, "longitude")),
        );
        match (lat, lon) {
            (Some(lat), Some(lon)) => {
                let (lat, lon) = coordinates(lat, lon)?;
                f.lat = Some(lat);
                f.lon = Some(lon);
            }
            _ => return Err("location without latitude and longitude".to_string()),
        }
    }
    // The international form carries the country code; the national one is the fallback.
    f.phone = ["internationalPhoneNumber", "nationalPhoneNumber"]
        .into_iter()
        .find_map(|k| text(member(p, k)).and_then(|t| phone(&t, region)));
    f.website = text(member(p, "websiteUri")).and_then(|u| website(&u));
    f.rating = number(member(p, "rating")).and_then(rating);
    f.rating_count = count(member(p, "userRatingCount"));

    let types: Vec<String> = array(p, "types")
        .iter()
        .filter_map(|t| text(Some(t)))
        .collect();
    let labels: Vec<&str> = types.iter().map(String::as_str).collect();
    let (categories, sports) = categories_from(&labels);
    f.categories = categories;
    f.sports = sports;
    f.entity_class = Some(entity_class_for(&f.categories).to_string());

    if let Some(hours) = member(p, "regularOpeningHours") {
        let days: Vec<String> = array(hours, "weekdayDescriptions")
            .iter()
            .filter_map(|d| text(Some(d)))
            .filter_map(|d| free_text(&d, TEXT_CHARS_MAX))
            .collect();
        f.opening_hours = free_text(&days.join("; "), TEXT_CHARS_MAX);
    }
    if let Some(cid) = text(member(p, "googleMapsUri")).and_then(|u| maps_cid(&u)) {
        f.external_ids
            .insert("google_maps_cid".to_string(), vec![cid]);
    }
    // A place Google reports closed is still a fact about it; say so rather than drop it.
    if let Some(status) = text(member(p, "businessStatus")) {
        if status != "OPERATIONAL" {
            f.description = free_text(&format!("Google business status: {status}"), 200);
        }
    }
    Ok(f)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::common::test_support::{arbitrary_json, assert_never_panics};
    use proptest::prelude::*;
    use serde_json::json;
    use trustfold_normalize::geo::haversine_km;

    const WORLD: &[u8] = include_bytes!("../../fixtures/world/google_places.json");

    /// A place in the shape of the real `searchText` capture (`responses/google_places/`):
    /// `displayName` with `languageCode`, `regularOpeningHours` with `periods`, `reviews`;
    /// no phone (not in that request's field mask).
    const REAL_SHAPE: &str = r#"{"places": [{
        "id": "ChIJ-real-shape",
        "types": ["sports_complex", "point_of_interest", "establishment"],
        "formattedAddress": "Edinburgh Park, 1 Lochside Ave, Edinburgh EH12 9DJ, UK",
        "location": {"latitude": 55.9276, "longitude": -3.3083},
        "rating": 4.8, "userRatingCount": 120,
        "googleMapsUri": "https://maps.google.com/?cid=123456789&g_mp=abc",
        "displayName": {"text": "Game4Padel | Edinburgh Park", "languageCode": "en"},
        "regularOpeningHours": {"openNow": true, "periods": [{"open": {"day": 0, "hour": 7, "minute": 0}}],
            "weekdayDescriptions": ["Monday: 7:00\u202fAM\u2009\u2013\u200910:00\u202fPM", "Tuesday: Closed"]},
        "reviews": [{"name": "places/x/reviews/y", "rating": 5, "text": {"text": "Great", "languageCode": "en"}}]
    }]}"#;

    #[test]
    fn world_fixture() {
        let e = GooglePlacesExtractor
            .extract(WORLD, Some(Region::GB))
            .unwrap();
        assert_eq!(
            e,
            GooglePlacesExtractor
                .extract(WORLD, Some(Region::GB))
                .unwrap(),
            "deterministic"
        );
        assert_eq!(e.records.len(), 193);
        assert!(e.skipped.is_empty(), "{:?}", e.skipped);
        let pl = e
            .records
            .iter()
            .find(|r| r.fields.name.as_deref() == Some("Powerleague Edinburgh Portobello"))
            .expect("Powerleague Portobello");
        assert_eq!(pl.external_id, "ChIJyZWuilSQ-6Bz8B2Lp-ptpcY");
        let f = &pl.fields;
        assert_eq!(f.address_lines, vec!["10 Westbank St"]);
        assert_eq!(f.locality.as_deref(), Some("Edinburgh"));
        assert_eq!(f.postcode.as_deref(), Some("EH15 1DR"));
        assert_eq!(f.country.as_deref(), Some("GB"));
        assert_eq!(f.phone.as_deref(), Some("+441314960916"));
        assert!(f.phone.as_deref().unwrap().starts_with("+44131496"));
        let off_m = haversine_km((f.lat.unwrap(), f.lon.unwrap()), (55.95656, -3.11932)) * 1000.0;
        assert!(off_m < 100.0, "{off_m} m from the register's point");
        assert_eq!(
            f.website.as_deref(),
            Some("https://www.powerleague.com/club/edinburgh-portobello")
        );
        assert_eq!(f.categories, vec!["pitch", "sports_centre"]);
        assert_eq!(f.entity_class.as_deref(), Some("venue"));
        assert_eq!(f.rating, Some(4.4));
        assert_eq!(f.rating_count, Some(277));
        assert_eq!(
            f.external_ids.get("google_maps_cid"),
            Some(&vec!["1062742226099496799".to_string()])
        );
        assert!(f
            .opening_hours
            .as_deref()
            .unwrap()
            .starts_with("Monday: 9:00 AM – 10:30 PM; Tuesday: 9:00 AM – 10:30 PM;"));
        // "9 Wheatfield Rd, Edinburgh EH112PX, UK": the postcode without its space.
        assert!(e
            .records
            .iter()
            .any(|r| r.fields.postcode.as_deref() == Some("EH11 2PX")));
        let chargers = e
            .records
            .iter()
            .filter(|r| r.fields.entity_class.as_deref() == Some("ev_charger"))
            .count();
        assert_eq!(chargers, 6);
    }

    #[test]
    fn real_capture_shape() {
        let e = GooglePlacesExtractor
            .extract(REAL_SHAPE.as_bytes(), Some(Region::GB))
            .unwrap();
        assert_eq!(e.records.len(), 1);
        let f = &e.records[0].fields;
        assert_eq!(f.name.as_deref(), Some("Game4Padel | Edinburgh Park"));
        assert_eq!(f.address_lines, vec!["Edinburgh Park", "1 Lochside Ave"]);
        assert_eq!(f.postcode.as_deref(), Some("EH12 9DJ"));
        assert_eq!(f.phone, None);
        assert_eq!(
            f.opening_hours.as_deref(),
            Some("Monday: 7:00 AM – 10:00 PM; Tuesday: Closed")
        );
        assert_eq!(
            f.external_ids.get("google_maps_cid"),
            Some(&vec!["123456789".to_string()])
        );
    }

    #[test]
    fn empty_answers_errors_and_broken_places() {
        let x = |s: &str| GooglePlacesExtractor.extract(s.as_bytes(), Some(Region::GB));
        assert_eq!(x("{}").unwrap(), Extraction::default());
        assert_eq!(x(r#"{"places": []}"#).unwrap(), Extraction::default());
        let err = x(r#"{"error": {"code": 403, "message": "API key not valid"}}"#).unwrap_err();
        assert!(err.0.contains("API key not valid"), "{err}");
        assert!(x("[]").is_err());
        assert!(x(r#"{"places": "none"}"#).is_err());
        assert!(x("not json").is_err());
        let e = x(r#"{"places": [
            {"id": "a", "displayName": {"text": "A"}},
            {"id": "b", "displayName": {"text": " "}},
            {"displayName": {"text": "No Id"}},
            {"id": "c", "displayName": {"text": "C"}, "location": {"latitude": "NaN", "longitude": 1}},
            {"id": "d", "displayName": {"text": "D"}, "location": {"latitude": 95, "longitude": 1}},
            {"id": "e", "displayName": "E"},
            {"id": "f", "displayName": {"text": "F"}, "types": "gym", "rating": 7, "userRatingCount": -3,
             "businessStatus": "CLOSED_PERMANENTLY"}
        ]}"#)
        .unwrap();
        let ids: Vec<&str> = e.records.iter().map(|r| r.external_id.as_str()).collect();
        assert_eq!(ids, vec!["a", "f"]);
        let f = &e.records[1].fields;
        assert_eq!((f.rating, f.rating_count), (None, None));
        assert!(f.categories.is_empty());
        assert_eq!(
            f.description.as_deref(),
            Some("Google business status: CLOSED_PERMANENTLY")
        );
        assert_eq!(
            e.skipped,
            vec![
                "place 1 (b): no name",
                "place 2: no id",
                "place 3 (c): location without latitude and longitude",
                "place 4 (d): coordinates out of range (95, 1)",
                "place 5 (e): no name",
            ]
        );
    }

    #[test]
    fn maps_uris_give_their_cid() {
        assert_eq!(
            maps_cid("https://maps.google.com/?cid=1062742226099496799").as_deref(),
            Some("1062742226099496799")
        );
        assert_eq!(
            maps_cid("https://maps.google.com/?q=x&cid=42").as_deref(),
            Some("42")
        );
        assert_eq!(maps_cid("https://maps.google.com/?cid=abc"), None);
        assert_eq!(maps_cid("https://maps.google.com/"), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_payloads_never_panic(v in arbitrary_json(), bytes in any::<Vec<u8>>()) {
            let place = serde_json::from_str::<Value>(REAL_SHAPE).unwrap()["places"][0].clone();
            assert_never_panics(&GooglePlacesExtractor, &v, &bytes, &|p| json!({"places": [p]}), &place);
        }
    }
}
