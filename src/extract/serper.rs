//! Serper (google.serper.dev) payloads: `/places` answers
//! `{"places":[{position,title,address,latitude,longitude,rating,ratingCount,category,
//! phoneNumber,website,cid}]}` and `/search` answers `{"organic":[{title,link,snippet,
//! position}], ...}`. A `/search` answer may carry a local pack under `places` too, so both
//! arrays are read, places first.
//!
//! Places are venues; organic results are web pages (`entity_class` "web_result", no
//! coordinates): they bring a website and a description, and the matcher decides which
//! venue a page is about.
//!
//! External ids: a place is `cid:<cid>` (Google's customer id, the same number Google
//! Places shows in `googleMapsUri`), or `title:<name_key>` when it has none; an organic
//! result is `url:<canonical link>`.

use serde_json::Value;
use trustfold_events::CandidateFields;

use super::common::{
    at, categories_from, count, entity_class_for, member, number, parse_payload, phone, rating,
    text, Records,
};
use super::{ExtractError, Extraction, Extractor};
use trustfold_normalize::phone::Region;
use trustfold_normalize::{
    address::split_uk_address,
    geo::coordinates,
    text::{display_name, free_text, name_key, required_name, TEXT_CHARS_MAX},
    web::{website, website_host},
};

/// The Serper extractor (both `/places` and `/search` payloads).
pub struct SerperExtractor;

impl Extractor for SerperExtractor {
    fn source(&self) -> &'static str {
        "serper"
    }

    fn version(&self) -> u32 {
        1
    }

    fn extract(&self, body: &[u8], region: Option<Region>) -> Result<Extraction, ExtractError> {
        let doc = parse_payload(body, self.source())?;
        if !doc.is_object() {
            return Err(ExtractError(
                "serper: the payload is not a JSON object".to_string(),
            ));
        }
        let places = doc.get("places");
        let organic = doc.get("organic");
        for (key, v) in [("places", places), ("organic", organic)] {
            if v.is_some_and(|v| !v.is_array() && !v.is_null()) {
                return Err(ExtractError(format!("serper: `{key}` is not an array")));
            }
        }
        // An answer with no results may leave the arrays out; its `searchParameters` still
        // says it is Serper's.
        if places.is_none() && organic.is_none() && doc.get("searchParameters").is_none() {
            return Err(ExtractError(
                "serper: the payload has neither a `places` nor an `organic` array".to_string(),
            ));
        }
        let mut out = Records::new();
        for (i, place) in places
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            match place_record(place, region) {
                Ok((id, fields)) => out.push(id, fields),
                Err(why) => out.skip(format!("{}: {why}", at("place", i, None))),
            }
        }
        for (i, result) in organic
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            match organic_record(result) {
                Ok((id, fields)) => out.push(id, fields),
                Err(why) => out.skip(format!("{}: {why}", at("organic result", i, None))),
            }
        }
        Ok(out.finish())
    }
}

/// One `/places` result.
fn place_record(p: &Value, region: Option<Region>) -> Result<(String, CandidateFields), String> {
    if !p.is_object() {
        return Err("not an object".to_string());
    }
    let name = required_name(text(member(p, "title")).as_deref())?;
    let cid =
        text(member(p, "cid")).filter(|c| !c.is_empty() && c.chars().all(|c| c.is_ascii_digit()));
    let external_id = match &cid {
        Some(cid) => format!("cid:{cid}"),
        None => format!("title:{}", name_key(&name)),
    };

    let mut f = CandidateFields {
        name: Some(name),
        country: Some("GB".to_string()),
        ..CandidateFields::default()
    };
    if let Some(address) = text(member(p, "address")) {
        let (lines, town, pc) = split_uk_address(&address);
        f.address_lines = lines;
        f.locality = town;
        f.postcode = pc;
    }
    let (lat, lon) = (
        number(member(p, "latitude")),
        number(member(p, "longitude")),
    );
    if let (Some(lat), Some(lon)) = (lat, lon) {
        let (lat, lon) = coordinates(lat, lon)?;
        f.lat = Some(lat);
        f.lon = Some(lon);
    }
    f.phone = text(member(p, "phoneNumber")).and_then(|t| phone(&t, region));
    f.website = text(member(p, "website")).and_then(|t| website(&t));
    f.rating = number(member(p, "rating")).and_then(rating);
    f.rating_count = count(member(p, "ratingCount"));
    if let Some(category) = text(member(p, "category")) {
        let (categories, sports) = categories_from(&[category.as_str()]);
        f.categories = categories;
        f.sports = sports;
    }
    f.entity_class = Some(entity_class_for(&f.categories).to_string());
    if let Some(cid) = cid {
        f.external_ids
            .insert("google_maps_cid".to_string(), vec![cid]);
    }
    Ok((external_id, f))
}

/// Words that make a title segment the page's kind rather than a place ("Home - X").
const GENERIC_SEGMENTS: &[&str] = &[
    "home",
    "homepage",
    "home page",
    "welcome",
    "official site",
    "official website",
];

/// Separators between a page's own title and the site's name, in the order tried.
const TITLE_SEPARATORS: &[&str] = &[" | ", " - ", " – ", " — ", " · "];

/// Letters and digits only, lowercase: "Edinburgh Leisure" → "edinburghleisure".
fn compact(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Whether a title segment names the site the page is on: its compact form and the first
/// label of the link's host (without `www.`) contain one another, e.g. "Powerleague" and
/// `powerleague.com`, "Edinburgh Leisure" and `edinburghleisure.co.uk`, "City of
/// Edinburgh Council" and `edinburgh.gov.uk`. Both sides must have 4 or more characters
/// so that short words do not match by accident.
fn names_the_site(segment: &str, site_label: &str) -> bool {
    let seg = compact(segment);
    seg.len() >= 4
        && site_label.len() >= 4
        && (seg.contains(site_label) || site_label.contains(&seg))
}

/// The name of the place an organic result is about, from its title.
///
/// The rule: split the title at " | ", " - ", " – ", " — " and " · "; drop generic segments
/// ("Home", "Welcome", "Official Site"); if more than one segment is left and the last one
/// names the site (see `names_the_site`), drop it too; the name is the first segment left.
/// So "Meadowbank Sports Centre | Edinburgh Leisure" → "Meadowbank Sports Centre", "Home -
/// Craigmillar Park Golf Club" → "Craigmillar Park Golf Club", "Home | Edinburgh Sports Club
/// | Padel | Squash | Tennis" → "Edinburgh Sports Club". A page title that is a headline
/// ("Play 5-a-side football in Portobello, Edinburgh - Powerleague") keeps the headline: a
/// web result's name is a label for people, not a matching key (the link is).
pub fn organic_title_name(title: &str, link: &str) -> Option<String> {
    let title = display_name(title)?;
    let mut segments: Vec<&str> = vec![title.as_str()];
    for sep in TITLE_SEPARATORS {
        segments = segments.iter().flat_map(|s| s.split(sep)).collect();
    }
    let mut segments: Vec<&str> = segments
        .into_iter()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .filter(|s| !GENERIC_SEGMENTS.contains(&s.to_lowercase().as_str()))
        .collect();
    let site_label = website_host(link)
        .and_then(|h| h.split('.').next().map(compact))
        .unwrap_or_default();
    if segments.len() > 1
        && segments
            .last()
            .is_some_and(|s| names_the_site(s, &site_label))
    {
        segments.pop();
    }
    segments
        .first()
        .and_then(|s| display_name(s))
        .or(Some(title))
}

/// One `/search` organic result.
fn organic_record(r: &Value) -> Result<(String, CandidateFields), String> {
    if !r.is_object() {
        return Err("not an object".to_string());
    }
    let link = text(member(r, "link"))
        .and_then(|l| website(&l))
        .ok_or("no usable link")?;
    let title = text(member(r, "title")).unwrap_or_default();
    let name = organic_title_name(&title, &link).map_or_else(|| required_name(Some(&title)), Ok)?;
    let f = CandidateFields {
        name: Some(name),
        entity_class: Some("web_result".to_string()),
        website: Some(link.clone()),
        description: text(member(r, "snippet")).and_then(|s| free_text(&s, TEXT_CHARS_MAX)),
        ..CandidateFields::default()
    };
    Ok((format!("url:{link}"), f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::common::test_support::{arbitrary_json, assert_never_panics};
    use proptest::prelude::*;
    use serde_json::json;
    use std::sync::OnceLock;
    use trustfold_normalize::geo::haversine_km;

    const PLACES: &[u8] = include_bytes!("../../fixtures/world/serper_places.json");
    const ORGANIC: &[u8] = include_bytes!("../../fixtures/world/serper_organic.json");

    #[test]
    fn places_fixture() {
        let e = SerperExtractor.extract(PLACES, Some(Region::GB)).unwrap();
        assert_eq!(
            e,
            SerperExtractor.extract(PLACES, Some(Region::GB)).unwrap(),
            "deterministic"
        );
        assert_eq!(e.records.len(), 122);
        assert!(e.skipped.is_empty(), "{:?}", e.skipped);
        let first = &e.records[0];
        assert_eq!(first.external_id, "cid:6433041593405413829");
        let f = &first.fields;
        assert_eq!(f.name.as_deref(), Some("Abercorn Sports Club"));
        assert_eq!(f.address_lines, vec!["Abercorn Cres"]);
        assert_eq!(f.locality.as_deref(), Some("Edinburgh"));
        assert_eq!(f.postcode.as_deref(), Some("EH8 7HZ"));
        assert_eq!(f.phone.as_deref(), Some("+441314960963"));
        assert_eq!(f.categories, vec!["sports_club"]);
        assert_eq!(f.rating, Some(4.3));
        assert_eq!(f.rating_count, Some(57));
        assert_eq!(
            f.external_ids.get("google_maps_cid"),
            Some(&vec!["6433041593405413829".to_string()])
        );
        // "25 Roseburn St, Edinburgh EH125PE": the postcode without its space.
        let murrayfield = e
            .records
            .iter()
            .find(|r| r.fields.name.as_deref() == Some("Murrayfield Indoor Sports Club, Edinburgh"))
            .unwrap();
        assert_eq!(murrayfield.fields.postcode.as_deref(), Some("EH12 5PE"));
        for r in &e.records {
            let (lat, lon) = (r.fields.lat.unwrap(), r.fields.lon.unwrap());
            assert!(haversine_km((lat, lon), (55.95, -3.19)) < 30.0, "{r:?}");
        }
    }

    #[test]
    fn organic_fixture() {
        let e = SerperExtractor.extract(ORGANIC, Some(Region::GB)).unwrap();
        assert_eq!(e.records.len(), 77);
        assert!(e.skipped.is_empty(), "{:?}", e.skipped);
        let names: Vec<&str> = e
            .records
            .iter()
            .map(|r| r.fields.name.as_deref().unwrap())
            .collect();
        assert!(names.contains(&"Meadowbank Sports Centre"));
        assert!(names.contains(&"Craigmillar Park Golf Club"));
        assert!(names.contains(&"Powerleague Edinburgh Sighthill"));
        assert!(names.contains(&"Powerleague Portobello"));
        let first = &e.records[0];
        assert_eq!(
            first.external_id,
            "url:https://www.powerleague.com/club/edinburgh-portobello"
        );
        assert_eq!(first.fields.entity_class.as_deref(), Some("web_result"));
        assert_eq!(first.fields.lat, None);
        assert!(first
            .fields
            .description
            .as_deref()
            .unwrap()
            .contains("EH15 1DR"));
    }

    #[test]
    fn organic_titles_lose_their_site_names() {
        // Titles from the real "padel edinburgh" capture and the fixture world.
        let rows: &[(&str, &str, &str)] = &[
            (
                "Meadowbank Sports Centre | Edinburgh Leisure",
                "https://www.edinburghleisure.co.uk/venues/meadowbank-sports-centre",
                "Meadowbank Sports Centre",
            ),
            (
                "Home - Craigmillar Park Golf Club",
                "https://www.craigmillarpark.co.uk",
                "Craigmillar Park Golf Club",
            ),
            (
                "Home | Edinburgh Sports Club | Padel | Squash | Tennis",
                "https://www.edinburghsportsclub.co.uk/",
                "Edinburgh Sports Club",
            ),
            (
                "Powerleague Portobello - OpenStreetMap",
                "https://www.openstreetmap.org/way/1080707333",
                "Powerleague Portobello",
            ),
            (
                "5-a-side leagues in Edinburgh - Powerleague",
                "https://www.powerleague.com/leagues/edinburgh",
                "5-a-side leagues in Edinburgh",
            ),
            (
                "Sports pitches and facilities in parks - City of Edinburgh Council",
                "https://www.edinburgh.gov.uk/parks-greenspaces/sports-pitches",
                "Sports pitches and facilities in parks",
            ),
            (
                "Game4Padel | Edinburgh Park",
                "https://www.matchi.se/facilities/game4padeledinburghpark",
                "Game4Padel",
            ),
            (
                "EDINBURGH PARK",
                "https://www.game4padel.com/edinburgh-park",
                "EDINBURGH PARK",
            ),
            (
                "Thistle Padel (@thistlepadel) · Edinburgh",
                "https://www.instagram.com/thistlepadel/?hl=en",
                "Thistle Padel (@thistlepadel)",
            ),
            ("Oriam", "https://oriam.hw.ac.uk/", "Oriam"),
            ("Home", "https://example.com/", "Home"),
        ];
        for (title, link, want) in rows {
            assert_eq!(
                organic_title_name(title, link).as_deref(),
                Some(*want),
                "{title}"
            );
        }
        assert_eq!(organic_title_name("", "https://example.com/"), None);
    }

    #[test]
    fn format_errors_and_broken_records() {
        let x = |s: &str| SerperExtractor.extract(s.as_bytes(), Some(Region::GB));
        assert!(x("[]").is_err());
        assert!(x("{}").is_err());
        assert!(x(r#"{"places": {}}"#).is_err());
        assert_eq!(
            x(r#"{"searchParameters": {"q": "x"}}"#).unwrap(),
            Extraction::default()
        );
        let e = x(r#"{"places": [
            {"title": "No Cid", "latitude": "55.9", "longitude": -3.1},
            {"title": null},
            7,
            {"title": "Null Island", "latitude": 0, "longitude": 0, "cid": "1"}
        ], "organic": [{"title": "x", "link": "mailto:a@b.c"}]}"#)
        .unwrap();
        assert_eq!(e.records.len(), 1);
        assert_eq!(e.records[0].external_id, "title:no cid");
        assert_eq!(e.records[0].fields.lat, Some(55.9));
        assert_eq!(
            e.skipped,
            vec![
                "place 1: no name",
                "place 2: not an object",
                "place 3: coordinates (0, 0): null island, a missing location",
                "organic result 0: no usable link",
            ]
        );
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        #[test]
        fn arbitrary_payloads_never_panic(v in arbitrary_json(), bytes in any::<Vec<u8>>()) {
            static TEMPLATES: OnceLock<(Value, Value)> = OnceLock::new();
            let (place, result) = TEMPLATES.get_or_init(|| {
                let places = serde_json::from_slice::<Value>(PLACES).unwrap();
                let organic = serde_json::from_slice::<Value>(ORGANIC).unwrap();
                (places["places"][0].clone(), organic["organic"][0].clone())
            });
            assert_never_panics(&SerperExtractor, &v, &bytes, &|r| json!({"places": [r]}), place);
            assert_never_panics(&SerperExtractor, &v, &[], &|r| json!({"organic": [r], "places": r}), result);
        }
    }
}
