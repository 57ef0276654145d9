//! What each domain source can be asked for a query, in its own scheme: register layers,
//! OpenStreetMap tags, the council's services and facility types.
//!
//! The planner uses these to skip a source with nothing relevant to ask (with the reason),
//! and the connectors use the same functions to build their requests, so a plan never
//! promises a question its connector would not ask. Nothing here asks for everything: an
//! empty answer means "skip this source".

use super::areas::Area;
use super::features::QueryFeatures;
use super::vocab::{self, layer, Wanted};

/// Most register layers asked for one query (one request each).
pub const REGISTER_LAYERS_MAX: usize = 4;

/// Register layers that hold most named sites, asked (by name) for a named venue whose
/// kind the query does not say.
const NAMED_SITE_LAYERS: &[&str] = &[layer::HALLS, layer::PITCHES, layer::POOLS, layer::FITNESS];

/// The register layers worth asking for a query, most specific first, at most
/// [`REGISTER_LAYERS_MAX`]. Empty when the register holds nothing the query asks for.
pub fn register_layers(f: &QueryFeatures) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    fn push(out: &mut Vec<&'static str>, layers: &[&'static str]) {
        for l in layers {
            if !out.contains(l) {
                out.push(l);
            }
        }
    }
    let places: Vec<&vocab::PlaceType> = f
        .venue_words
        .iter()
        .filter_map(|w| vocab::place_type(w))
        .collect();
    for s in &f.sports {
        let place = places.iter().copied().find(|p| vocab::suits(p, s));
        push(&mut out, &vocab::register_layers_for(s, place));
    }
    let specific_sport = f.sports.iter().any(|s| vocab::sport_named(s).is_some());
    if !specific_sport {
        for p in &places {
            push(&mut out, p.register);
        }
    }
    // A named venue's kind is in its name ("royal commonwealth pool").
    for v in &f.venues {
        let name = format!(" {} ", v.replace('_', " "));
        for p in vocab::PLACE_TYPES {
            if p.words
                .iter()
                .any(|w| name.contains(&format!(" {} ", w.join(" "))))
            {
                push(&mut out, p.register);
            }
        }
    }
    for b in &f.brands {
        if let Some(b) = vocab::brand_named(b) {
            push(&mut out, b.register);
        } else if b == vocab::GOALS_BRAND {
            push(&mut out, &[layer::PITCHES]);
        }
    }
    let generic_only = out.is_empty()
        && f.sports
            .iter()
            .any(|s| matches!(s.as_str(), "sport" | "league" | "tournament"));
    let named = !f.venues.is_empty() || (!f.name_words.is_empty() && !specific_sport);
    if out.is_empty() && (named || generic_only) {
        push(&mut out, NAMED_SITE_LAYERS);
    }
    out.truncate(REGISTER_LAYERS_MAX);
    out
}

/// An Overpass question: the tag filters and name words of one query.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OsmAsk {
    /// `sport=*` values.
    pub sports: Vec<&'static str>,
    /// Tag filters other than sport, `(key, value)`; each is asked with a name.
    pub tags: Vec<(&'static str, &'static str)>,
    /// Words a feature's name may contain.
    pub name_words: Vec<String>,
    /// `amenity=charging_station`.
    pub charging: bool,
}

impl OsmAsk {
    /// Whether there is nothing to ask.
    pub fn is_empty(&self) -> bool {
        self.sports.is_empty()
            && self.tags.is_empty()
            && self.name_words.is_empty()
            && !self.charging
    }

    /// A short description for plan reasons: "sport=tennis; leisure=pitch; name ~ portobello".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.sports.is_empty() {
            parts.push(format!("sport={}", self.sports.join("|")));
        }
        for (k, v) in &self.tags {
            parts.push(format!("{k}={v}"));
        }
        if self.charging {
            parts.push("amenity=charging_station".into());
        }
        if !self.name_words.is_empty() {
            parts.push(format!("name ~ {}", self.name_words.join("|")));
        }
        parts.join("; ")
    }
}

/// Most name words sent to any API (keeps requests small and bounded).
pub const NAME_WORDS_MAX: usize = 6;

/// Words that never narrow a name search: filler and generic place words.
const GENERIC_NAME_WORDS: &[&str] = &[
    "edinburgh",
    "scotland",
    "uk",
    "the",
    "a",
    "an",
    "in",
    "near",
    "at",
    "of",
    "and",
    "for",
    "best",
    "local",
    "my",
    "me",
    "centre",
    "center",
    "club",
    "clubs",
    "venue",
    "venues",
];

/// Words a venue's name may contain: the brand's words, the named venue's words, the
/// words no table knows, and the districts named (venues are named after them:
/// "Powerleague Portobello"). Sport, place-type and filler words are left out.
pub fn name_words(f: &QueryFeatures) -> Vec<String> {
    let sportish = |t: &str| {
        let singular = t.strip_suffix('s').unwrap_or(t);
        let is = |p: &str| p == t || p == singular;
        f.sports.iter().any(|s| s.split('_').any(is))
            || f.venue_words.iter().any(|v| v.split(' ').any(is))
    };
    let mut brand_words: Vec<String> = Vec::new();
    for b in &f.brands {
        match vocab::brand_named(b) {
            Some(brand) => {
                if let Some(first) = brand.words.first() {
                    brand_words.push(first.join(" "));
                }
            }
            None => brand_words.push(b.replace('_', " ")),
        }
    }
    let districts: Vec<&str> = f
        .areas
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "edinburgh")
        .collect();
    let mut out: Vec<String> = Vec::new();
    let mut add = |w: &str| {
        if w.chars().count() >= 3
            && !GENERIC_NAME_WORDS.contains(&w)
            && !sportish(w)
            && !w.chars().all(|c| c.is_ascii_digit())
            && !out.iter().any(|o| o == w)
        {
            out.push(w.to_string());
        }
    };
    for b in &brand_words {
        add(b);
    }
    for v in &f.venues {
        for w in v.split('_') {
            add(w);
        }
    }
    for w in &f.name_words {
        add(w);
    }
    // Districts name venues only alongside a brand or a name ("powerleague portobello"):
    // "tennis courts portobello" asks by area, not by name.
    if !brand_words.is_empty() || !f.venues.is_empty() || !f.name_words.is_empty() {
        for d in districts {
            add(d);
        }
    }
    out.truncate(NAME_WORDS_MAX);
    out
}

/// What to ask OpenStreetMap for a query (see [`OsmAsk`]).
pub fn osm(f: &QueryFeatures) -> OsmAsk {
    let mut ask = OsmAsk::default();
    // Sports and sports places are asked only when a place is wanted: OSM's sports
    // features do not answer "football shirt printing".
    let place = f.wanted == Wanted::Place;
    for s in f.sports.iter().filter(|_| place) {
        for entry in vocab::sport_entries(s) {
            for v in entry.osm {
                if !ask.sports.contains(v) {
                    ask.sports.push(v);
                }
            }
        }
    }
    // With a sport named, the sport's tag says it all: "tennis courts" is every
    // sport=tennis feature, not every leisure=pitch of the area.
    let sport_named = !ask.sports.is_empty();
    for w in f.venue_words.iter().filter(|_| place) {
        if let Some(p) = vocab::place_type(w) {
            // A place type that is a sport tag (climbing wall, skatepark) is asked as the
            // sport when no sport was named.
            for (k, v) in p.osm {
                if *k == "sport" {
                    if !sport_named && !ask.sports.contains(v) {
                        ask.sports.push(v);
                    }
                } else if !sport_named && !ask.tags.contains(&(*k, *v)) {
                    ask.tags.push((k, v));
                }
            }
        }
    }
    if place {
        for c in &f.categories {
            if let Some(c) = vocab::category_named(c) {
                if c.osm.1 != "yes" && !ask.tags.contains(&c.osm) {
                    ask.tags.push(c.osm);
                }
            }
        }
    }
    if matches!(f.wanted, Wanted::Product | Wanted::Shop) {
        for n in vocab::NOT_PLACES.iter().filter(|n| {
            f.wanted_words
                .iter()
                .any(|w| n.words.iter().any(|p| p.join(" ") == *w))
        }) {
            if let Some(("shop", v)) = n.scheme.split_once('=') {
                if v != "*" && !ask.tags.contains(&("shop", v)) {
                    ask.tags.push(("shop", v));
                }
            }
        }
    }
    ask.charging = f.ev;
    ask.name_words = name_words(f);
    // One named place whose name the tables do not know ("tennis xyzzy"): asked by its
    // name alone; every tennis court of the area would not be it.
    if f.intent == super::QueryIntent::SpecificVenue && !f.name_words.is_empty() {
        ask.sports.clear();
        ask.tags.clear();
    }
    ask
}

/// One council service to ask, with its facility-type filter.
#[derive(Clone, Debug, PartialEq)]
pub struct CouncilAsk {
    /// The ArcGIS service name.
    pub service: &'static str,
    /// The type field (`TYPE`, `PITCH_TYPE`).
    pub type_field: &'static str,
    /// Values the type field may take (matched as `UPPER(field) LIKE '%VALUE%'`); empty
    /// asks the service's whole layer, which holds only what the query asks for.
    pub types: Vec<&'static str>,
}

/// The council's services: sports facilities, park pitches and community centres. The
/// type values are the services' own.
pub fn council(f: &QueryFeatures) -> Vec<CouncilAsk> {
    let mut out = Vec::new();
    let mut facility_types: Vec<&'static str> = Vec::new();
    let mut push = |t: &'static str| {
        if !facility_types.contains(&t) {
            facility_types.push(t);
        }
    };
    for w in &f.venue_words {
        match w.as_str() {
            "leisure centre" | "gym" => push("Leisure Centre"),
            "sports centre" | "sports hall" => {
                push("Sports Centre");
                push("Leisure Centre");
                push("Community High School");
            }
            "pool" | "swim centre" | "lido" => push("Swimming Pool"),
            "golf course" => push("Golf Course"),
            "climbing wall" => push("Climbing Centre"),
            "tennis centre" => push("Tennis Centre"),
            "pitch" | "soccer centre" => push("Park Pitches"),
            _ => {}
        }
    }
    for s in &f.sports {
        match s.as_str() {
            "swimming" | "diving" | "water_polo" => push("Swimming Pool"),
            "golf" => push("Golf Course"),
            "climbing" => push("Climbing Centre"),
            "tennis" => push("Tennis Centre"),
            "football" | "rugby" | "hockey" | "cricket" => push("Park Pitches"),
            "badminton" | "basketball" | "netball" | "volleyball" | "fitness" | "gymnastics"
            | "table_tennis" | "squash" => {
                push("Leisure Centre");
                push("Sports Centre");
            }
            _ => {}
        }
    }
    let everything_sporty = f.brands.iter().any(|b| b == "edinburgh_leisure")
        || (f.is_sports
            && facility_types.is_empty()
            && f.sports
                .iter()
                .all(|s| matches!(s.as_str(), "sport" | "league" | "tournament"))
            && f.venue_words.is_empty()
            && !f.sports.is_empty());
    let named = !f.venues.is_empty() || !f.name_words.is_empty();
    if f.is_sports && (!facility_types.is_empty() || everything_sporty || named) {
        out.push(CouncilAsk {
            service: "Sports_Facilities",
            type_field: "TYPE",
            types: if everything_sporty || named {
                Vec::new()
            } else {
                facility_types
            },
        });
    }
    let pitch_sports: Vec<&'static str> = f
        .sports
        .iter()
        .filter_map(|s| match s.as_str() {
            "football" => Some("FOOTBALL"),
            "rugby" => Some("RUGBY"),
            "hockey" => Some("HOCKEY"),
            "cricket" => Some("CRICKET"),
            _ => None,
        })
        .collect();
    let pitch_place = f.venue_words.iter().any(|w| w == "pitch");
    if f.is_sports && (!pitch_sports.is_empty() || pitch_place) {
        out.push(CouncilAsk {
            service: "Parks_Pitches",
            type_field: "PITCH_TYPE",
            types: pitch_sports,
        });
    }
    if f.categories.iter().any(|c| c == "community centre") && f.wanted == Wanted::Place {
        out.push(CouncilAsk {
            service: "Community_Centres",
            type_field: "TYPE",
            types: Vec::new(),
        });
    }
    out
}

/// How the register can be filtered to an area: by council area, by town, or (for an
/// Edinburgh district) by the City of Edinburgh and then by distance at acceptance.
pub fn register_area_filter(area: &Area) -> Option<(&'static str, String)> {
    use super::areas::AreaKind;
    match area.kind {
        AreaKind::CouncilArea => area.council_area.clone().map(|la| ("la_name", la)),
        AreaKind::Town if area.name == super::areas::HOME_AREA => {
            area.council_area.clone().map(|la| ("la_name", la))
        }
        AreaKind::Town => Some(("town", area.display.clone())),
        AreaKind::District => area.council_area.clone().map(|la| ("la_name", la)),
        AreaKind::City | AreaKind::Nation => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::extract_features;

    fn layers(q: &str) -> Vec<&'static str> {
        register_layers(&extract_features(q))
    }

    #[test]
    fn register_layers_follow_the_sport_and_the_place() {
        assert_eq!(layers("powerleague portobello"), vec![layer::PITCHES]);
        assert_eq!(
            layers("tennis courts leith"),
            vec![layer::TENNIS_OUTDOOR, layer::TENNIS_INDOOR]
        );
        assert_eq!(layers("swimming pools"), vec![layer::POOLS]);
        assert_eq!(
            layers("leisure centres"),
            vec![layer::HALLS, layer::POOLS, layer::FITNESS]
        );
        assert_eq!(layers("royal commonwealth pool"), vec![layer::POOLS]);
    }

    #[test]
    fn a_sport_the_register_does_not_hold_asks_nothing() {
        assert!(layers("bouldering").is_empty());
        assert!(layers("padel courts").is_empty());
        assert!(layers("kayaking").is_empty());
    }

    #[test]
    fn osm_is_asked_by_tag_and_by_name() {
        let ask = osm(&extract_features("powerleague portobello"));
        assert_eq!(ask.name_words, vec!["powerleague", "portobello"]);
        let ask = osm(&extract_features("tennis courts morningside"));
        assert_eq!(ask.sports, vec!["tennis"]);
        assert!(
            ask.tags.is_empty(),
            "the sport's tag says it all: {:?}",
            ask.tags
        );
        let ask = osm(&extract_features("leisure centres morningside"));
        assert_eq!(ask.tags, vec![("leisure", "sports_centre")]);
        assert!(ask.name_words.is_empty(), "{:?}", ask.name_words);
        let ask = osm(&extract_features("bouldering"));
        assert_eq!(ask.sports, vec!["climbing"]);
        let ask = osm(&extract_features("library stockbridge"));
        assert_eq!(ask.tags, vec![("amenity", "library")]);
    }

    #[test]
    fn the_council_is_asked_only_for_what_its_services_hold() {
        let asks = council(&extract_features("swimming pools leith"));
        assert_eq!(asks.len(), 1);
        assert_eq!(asks[0].types, vec!["Swimming Pool"]);
        let asks = council(&extract_features("football pitches gorgie"));
        let services: Vec<&str> = asks.iter().map(|a| a.service).collect();
        assert_eq!(services, vec!["Sports_Facilities", "Parks_Pitches"]);
        assert!(council(&extract_features("pizza restaurant edinburgh")).is_empty());
        assert!(council(&extract_features("ev charging leith")).is_empty());
        let asks = council(&extract_features("sports facilities edinburgh"));
        assert_eq!(asks[0].service, "Sports_Facilities");
        assert!(asks[0].types.is_empty(), "the whole layer is what is asked");
    }
}
