//! Where a query is about: the places trustfold can recognise, and what covers each.
//!
//! Four lists, searched together (longest phrase first):
//!
//! * Edinburgh's districts, streets and landmarks ([`EDINBURGH_DISTRICTS`]), hand-placed;
//! * every Scottish town and council area the sportscotland register names
//!   (`fixtures/places/scotland.csv`, made by `fixtures/build/make_places.py` from the
//!   register's own coordinates: a median centre and a radius holding 90% of the town's
//!   facilities);
//! * the cities of England, Wales and Northern Ireland (`fixtures/places/uk_cities.csv`,
//!   approximate centres and radii);
//! * Scotland itself.
//!
//! A name that is also an everyday word or a given name ("Law", "Dollar", "Bath") is a
//! place only after "in", "near", "at" or "around".
//!
//! Coverage: the register covers Scotland, the council's open data the City of Edinburgh,
//! Open Charge Map (asked with `countrycode=GB`) the United Kingdom, and OpenStreetMap,
//! Google and Serper anywhere. The offline fixture world holds only the City of Edinburgh
//! ([`OFFLINE_WORLD_COUNCIL_AREA`]).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

/// The council area the offline fixture world covers (`fixtures/world/`: the register's
/// City of Edinburgh rows, OSM inside the Edinburgh box, OCM around the city, and Google,
/// Serper and council answers made from them).
pub const OFFLINE_WORLD_COUNCIL_AREA: &str = "City of Edinburgh";

/// The centre of Edinburgh (the east end of Princes Street), `(lat, lon)`.
pub const EDINBURGH_CENTRE: (f64, f64) = (55.9533, -3.1883);

/// The area assumed when a query names none: trustfold is an Edinburgh directory.
pub const HOME_AREA: &str = "edinburgh";

/// Radius searched around an Edinburgh district's centre, km.
pub const DISTRICT_RADIUS_KM: f64 = 3.0;

/// Radius searched around Edinburgh when the query names no place, km (the city and its
/// edges).
pub const HOME_RADIUS_KM: f64 = 12.0;

/// Longest place name, in tokens ("Na h-Eileanan Siar" is four, "Gatehouse of Fleet" three).
pub const AREA_TOKENS_MAX: usize = 6;

/// Approximate centres of Edinburgh's districts and landmarks, by canonical lowercase name,
/// with other phrases for the same place.
///
/// Hand-placed from general knowledge of the city, not surveyed: each is within roughly
/// 500 m of what a local would call the middle of the area (streets such as "leith walk"
/// and "royal mile" at their midpoint). Good enough to centre a search of a few km, no more.
pub const EDINBURGH_DISTRICTS: &[(&str, (f64, f64), &[&str])] = &[
    ("edinburgh", (55.9533, -3.1883), &["edinburghs"]),
    ("old town", (55.9495, -3.1910), &[]),
    ("new town", (55.9545, -3.1990), &[]),
    ("leith", (55.9740, -3.1710), &[]),
    ("leith walk", (55.9640, -3.1770), &[]),
    ("portobello", (55.9535, -3.1110), &["porty"]),
    ("joppa", (55.9470, -3.0930), &[]),
    ("morningside", (55.9275, -3.2100), &[]),
    ("stockbridge", (55.9585, -3.2085), &[]),
    ("meadowbank", (55.9560, -3.1600), &[]),
    ("sighthill", (55.9230, -3.2870), &[]),
    ("gorgie", (55.9370, -3.2370), &[]),
    ("dalry", (55.9420, -3.2220), &[]),
    ("corstorphine", (55.9410, -3.2810), &[]),
    ("craiglockhart", (55.9230, -3.2390), &[]),
    ("marchmont", (55.9360, -3.1920), &[]),
    ("bruntsfield", (55.9375, -3.2050), &[]),
    ("newington", (55.9380, -3.1790), &[]),
    ("tollcross", (55.9440, -3.2030), &[]),
    ("fountainbridge", (55.9430, -3.2120), &[]),
    ("haymarket", (55.9455, -3.2185), &[]),
    ("murrayfield", (55.9460, -3.2420), &[]),
    ("ratho", (55.9220, -3.3810), &[]),
    ("currie", (55.8960, -3.3080), &[]),
    ("balerno", (55.8840, -3.3390), &[]),
    ("juniper green", (55.9050, -3.2850), &[]),
    ("colinton", (55.9070, -3.2560), &[]),
    ("oxgangs", (55.9070, -3.2220), &[]),
    ("fairmilehead", (55.9010, -3.2050), &[]),
    ("liberton", (55.9130, -3.1620), &[]),
    ("gilmerton", (55.9060, -3.1330), &[]),
    ("craigmillar", (55.9330, -3.1380), &[]),
    ("niddrie", (55.9330, -3.1200), &[]),
    ("duddingston", (55.9420, -3.1480), &[]),
    ("restalrig", (55.9600, -3.1530), &[]),
    ("lochend", (55.9600, -3.1620), &[]),
    ("abbeyhill", (55.9550, -3.1700), &[]),
    ("craigentinny", (55.9600, -3.1370), &[]),
    ("granton", (55.9800, -3.2250), &[]),
    ("trinity", (55.9765, -3.2080), &[]),
    ("newhaven", (55.9810, -3.1960), &[]),
    ("pilton", (55.9715, -3.2310), &[]),
    ("muirhouse", (55.9740, -3.2560), &[]),
    ("drylaw", (55.9680, -3.2420), &[]),
    ("davidsons mains", (55.9660, -3.2720), &[]),
    ("barnton", (55.9590, -3.2900), &[]),
    ("cramond", (55.9780, -3.3000), &[]),
    ("blackhall", (55.9590, -3.2520), &[]),
    ("ravelston", (55.9530, -3.2420), &[]),
    ("comely bank", (55.9590, -3.2240), &[]),
    ("inverleith", (55.9650, -3.2120), &[]),
    ("canonmills", (55.9620, -3.2010), &[]),
    ("broughton", (55.9590, -3.1900), &[]),
    ("pilrig", (55.9660, -3.1800), &[]),
    ("wester hailes", (55.9140, -3.2850), &[]),
    ("saughton", (55.9330, -3.2600), &[]),
    ("stenhouse", (55.9320, -3.2680), &[]),
    ("broomhouse", (55.9300, -3.2810), &[]),
    ("south gyle", (55.9370, -3.3000), &["gyle"]),
    ("kirkliston", (55.9550, -3.4030), &[]),
    ("south queensferry", (55.9900, -3.3960), &["queensferry"]),
    ("west end", (55.9490, -3.2090), &[]),
    ("grange", (55.9340, -3.1880), &[]),
    ("prestonfield", (55.9330, -3.1610), &[]),
    ("polwarth", (55.9360, -3.2210), &[]),
    ("merchiston", (55.9320, -3.2150), &[]),
    ("sciennes", (55.9380, -3.1850), &[]),
    ("dean village", (55.9530, -3.2180), &[]),
    ("canongate", (55.9515, -3.1790), &[]),
    ("silverknowes", (55.9750, -3.2720), &[]),
    ("clermiston", (55.9540, -3.2910), &[]),
    ("east craigs", (55.9460, -3.3040), &[]),
    ("kingsknowe", (55.9200, -3.2600), &[]),
    ("slateford", (55.9270, -3.2440), &[]),
    ("hermiston", (55.9220, -3.3130), &[]),
    ("holyrood", (55.9520, -3.1720), &[]),
    ("easter road", (55.9610, -3.1660), &[]),
    ("royal mile", (55.9500, -3.1880), &[]),
    ("princes street", (55.9520, -3.1990), &[]),
    (
        "st james quarter",
        (55.9545, -3.1880),
        &["saint james quarter"],
    ),
    ("the meadows", (55.9410, -3.1920), &["meadows"]),
    ("arthurs seat", (55.9441, -3.1618), &[]),
    ("calton hill", (55.9554, -3.1826), &[]),
    ("fort kinnaird", (55.9345, -3.1030), &[]),
    ("hillend", (55.8890, -3.2100), &[]),
    ("pentlands", (55.8700, -3.2600), &["pentland hills"]),
];

/// What kind of place an area is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AreaKind {
    /// A district, street or landmark of Edinburgh.
    District,
    /// A Scottish town (from the register).
    Town,
    /// A Scottish council area (from the register).
    CouncilArea,
    /// A city of England, Wales or Northern Ireland.
    City,
    /// A nation (Scotland).
    Nation,
}

impl AreaKind {
    /// How the kind reads in a sentence.
    pub const fn describe(self) -> &'static str {
        match self {
            AreaKind::District => "Edinburgh district",
            AreaKind::Town => "Scottish town",
            AreaKind::CouncilArea => "Scottish council area",
            AreaKind::City => "city",
            AreaKind::Nation => "nation",
        }
    }
}

/// One of the four nations of the United Kingdom.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Nation {
    Scotland,
    England,
    Wales,
    NorthernIreland,
}

impl Nation {
    /// The nation's name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Nation::Scotland => "Scotland",
            Nation::England => "England",
            Nation::Wales => "Wales",
            Nation::NorthernIreland => "Northern Ireland",
        }
    }
}

/// A place the query names (or the home area when it names none), as recorded in a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Area {
    /// Canonical lowercase name ("glasgow", "portobello", "fife").
    pub name: String,
    /// The name as the source spells it ("Glasgow", "Fife").
    pub display: String,
    pub kind: AreaKind,
    /// The Scottish council area it lies in, when known.
    pub council_area: Option<String>,
    pub nation: Nation,
    /// Centre, decimal degrees.
    pub lat: f64,
    pub lon: f64,
    /// How far around the centre the area reaches, km.
    pub radius_km: f64,
    /// False when the query named no place and the home area was assumed.
    pub named: bool,
}

impl Area {
    /// `(lat, lon)`.
    pub fn centre(&self) -> (f64, f64) {
        (self.lat, self.lon)
    }

    /// Whether the area lies in the City of Edinburgh (council data and the offline world
    /// cover it).
    pub fn in_edinburgh(&self) -> bool {
        self.council_area.as_deref() == Some(OFFLINE_WORLD_COUNCIL_AREA)
    }

    /// Whether the offline fixture world holds data for this area.
    pub fn offline_world_covers(&self) -> bool {
        self.in_edinburgh()
    }

    /// The name in title case ("Leith Walk", "Glasgow"), for APIs that take place names.
    pub fn display_title(&self) -> String {
        if self.display != self.name {
            return self.display.clone();
        }
        self.name
            .split(' ')
            .map(|w| {
                let mut c = w.chars();
                match c.next() {
                    Some(first) => first.to_uppercase().chain(c).collect(),
                    None => String::new(),
                }
            })
            .collect::<Vec<String>>()
            .join(" ")
    }

    /// The home area, assumed when a query names no place.
    pub fn home() -> Area {
        Area {
            name: HOME_AREA.to_string(),
            display: "Edinburgh".to_string(),
            kind: AreaKind::Town,
            council_area: Some(OFFLINE_WORLD_COUNCIL_AREA.to_string()),
            nation: Nation::Scotland,
            lat: EDINBURGH_CENTRE.0,
            lon: EDINBURGH_CENTRE.1,
            radius_km: HOME_RADIUS_KM,
            named: false,
        }
    }

    /// One line: "glasgow (Scottish town in Glasgow City, Scotland; 8.5 km around 55.863, -4.280)".
    pub fn describe(&self) -> String {
        let within = match (&self.council_area, self.kind) {
            (Some(la), AreaKind::Town | AreaKind::District) => {
                format!(" in {la}, {}", self.nation.as_str())
            }
            _ => format!(", {}", self.nation.as_str()),
        };
        format!(
            "{} ({}{within}; {:.1} km around {:.3}, {:.3}){}",
            self.name,
            self.kind.describe(),
            self.radius_km,
            self.lat,
            self.lon,
            if self.named {
                ""
            } else {
                " [no place named: the home area]"
            }
        )
    }
}

/// One place the gazetteer knows.
#[derive(Clone, Debug)]
pub struct Place {
    pub area: Area,
    /// Only after "in", "near", "at" or "around".
    pub ambiguous: bool,
    /// Facilities of the register in it (a tie-breaker between places of one name).
    pub weight: u32,
}

/// Every place, indexed by the phrases that name it.
pub struct Gazetteer {
    places: Vec<Place>,
    /// Phrase (tokens joined by a space) -> place index.
    by_phrase: HashMap<String, usize>,
    /// First token -> longest phrase length starting with it.
    longest: HashMap<String, usize>,
}

const SCOTLAND_CSV: &str = include_str!("../../fixtures/places/scotland.csv");
const UK_CITIES_CSV: &str = include_str!("../../fixtures/places/uk_cities.csv");

/// The gazetteer, built once from the tables compiled into the binary.
pub fn gazetteer() -> &'static Gazetteer {
    static G: OnceLock<Gazetteer> = OnceLock::new();
    G.get_or_init(Gazetteer::build)
}

/// Lowercase tokens of a name, as the query reader makes them.
fn phrase_of(name: &str) -> String {
    super::features::tokenize(name).join(" ")
}

impl Gazetteer {
    fn build() -> Gazetteer {
        let mut g = Gazetteer {
            places: Vec::new(),
            by_phrase: HashMap::new(),
            longest: HashMap::new(),
        };
        // Edinburgh first: its district names win over towns elsewhere ("dalry").
        for (name, (lat, lon), also) in EDINBURGH_DISTRICTS {
            let area = Area {
                name: name.to_string(),
                display: name.to_string(),
                kind: if *name == "edinburgh" {
                    AreaKind::Town
                } else {
                    AreaKind::District
                },
                council_area: Some(OFFLINE_WORLD_COUNCIL_AREA.to_string()),
                nation: Nation::Scotland,
                lat: *lat,
                lon: *lon,
                radius_km: if *name == "edinburgh" {
                    HOME_RADIUS_KM
                } else {
                    DISTRICT_RADIUS_KM
                },
                named: true,
            };
            g.add(area, false, u32::MAX, also);
        }
        let mut rows = csv::Reader::from_reader(SCOTLAND_CSV.as_bytes());
        for row in rows.records().flatten() {
            let get = |i: usize| row.get(i).unwrap_or("").trim();
            let (Ok(lat), Ok(lon), Ok(radius_km)) =
                (get(3).parse(), get(4).parse(), get(5).parse())
            else {
                continue;
            };
            let kind = match get(0) {
                "town" => AreaKind::Town,
                "council_area" => AreaKind::CouncilArea,
                _ => continue,
            };
            let display = get(1).to_string();
            let also: Vec<&str> = get(8).split(';').filter(|s| !s.is_empty()).collect();
            let area = Area {
                name: phrase_of(&display),
                display,
                kind,
                council_area: Some(get(2).to_string()),
                nation: Nation::Scotland,
                lat,
                lon,
                radius_km,
                named: true,
            };
            g.add(area, get(7) == "1", get(6).parse().unwrap_or(0), &also);
        }
        let mut rows = csv::Reader::from_reader(UK_CITIES_CSV.as_bytes());
        for row in rows.records().flatten() {
            let get = |i: usize| row.get(i).unwrap_or("").trim();
            let (Ok(lat), Ok(lon), Ok(radius_km)) =
                (get(2).parse(), get(3).parse(), get(4).parse())
            else {
                continue;
            };
            let nation = match get(1) {
                "England" => Nation::England,
                "Wales" => Nation::Wales,
                "Northern Ireland" => Nation::NorthernIreland,
                _ => Nation::Scotland,
            };
            let display = get(0).to_string();
            let also: Vec<&str> = get(6).split(';').filter(|s| !s.is_empty()).collect();
            let area = Area {
                name: phrase_of(&display),
                display,
                kind: AreaKind::City,
                council_area: None,
                nation,
                lat,
                lon,
                radius_km,
                named: true,
            };
            g.add(area, get(5) == "1", 0, &also);
        }
        g.add(
            Area {
                name: "scotland".into(),
                display: "Scotland".into(),
                kind: AreaKind::Nation,
                council_area: None,
                nation: Nation::Scotland,
                lat: 56.8,
                lon: -4.2,
                radius_km: 250.0,
                named: true,
            },
            false,
            0,
            &[],
        );
        g
    }

    fn add(&mut self, area: Area, ambiguous: bool, weight: u32, also: &[&str]) {
        let idx = self.places.len();
        self.places.push(Place {
            area: area.clone(),
            ambiguous,
            weight,
        });
        let mut phrases = vec![area.name.clone()];
        phrases.extend(also.iter().map(|a| phrase_of(a)));
        if area.kind == AreaKind::CouncilArea {
            // "City of Edinburgh" is also "edinburgh council"; "Glasgow City" -> its town.
            phrases.push(format!("{} council", area.name));
        }
        for phrase in phrases {
            if phrase.is_empty() {
                continue;
            }
            // One name, two places: the more specific kind keeps it (Edinburgh's Dalry
            // over Ayrshire's, the town of Stirling over its council area), then the one
            // with more facilities in the register.
            if let Some(&old) = self.by_phrase.get(&phrase) {
                if old == idx {
                    continue;
                }
                let o = &self.places[old];
                let rank = |k: AreaKind| match k {
                    AreaKind::District => 0,
                    AreaKind::Town => 1,
                    AreaKind::CouncilArea => 2,
                    AreaKind::City => 3,
                    AreaKind::Nation => 4,
                };
                let keep_old = (rank(o.area.kind), std::cmp::Reverse(o.weight))
                    <= (rank(area.kind), std::cmp::Reverse(weight));
                if keep_old {
                    continue;
                }
            }
            let n = phrase.split(' ').count();
            let first = phrase.split(' ').next().unwrap_or("").to_string();
            let e = self.longest.entry(first).or_insert(0);
            *e = (*e).max(n);
            self.by_phrase.insert(phrase, idx);
        }
    }

    /// The longest place name starting at token `start`: `(tokens used, place)`.
    pub fn longest_at(&self, tokens: &[String], start: usize) -> Option<(usize, &Place)> {
        let first = tokens.get(start)?;
        let max = (*self.longest.get(first.as_str())?).min(AREA_TOKENS_MAX);
        (1..=max.min(tokens.len() - start)).rev().find_map(|n| {
            let phrase = tokens[start..start + n].join(" ");
            self.by_phrase.get(&phrase).map(|&i| (n, &self.places[i]))
        })
    }

    /// Whether a single token names a place (for spelling correction).
    pub fn is_name(&self, token: &str) -> bool {
        self.by_phrase.contains_key(token)
    }

    /// Every one-word place name (for spelling correction).
    pub fn one_word_names(&'static self) -> impl Iterator<Item = &'static str> {
        self.by_phrase
            .keys()
            .map(String::as_str)
            .filter(|k| !k.contains(' '))
    }

    /// The place of a name (lowercase tokens joined by spaces), e.g. "glasgow".
    pub fn lookup(&self, name: &str) -> Option<&Place> {
        self.by_phrase
            .get(&phrase_of(name))
            .map(|&i| &self.places[i])
    }

    /// How many places (for tests and the plan's vocabulary summary).
    pub fn len(&self) -> usize {
        self.places.len()
    }

    /// Whether the gazetteer is empty (it never is).
    pub fn is_empty(&self) -> bool {
        self.places.is_empty()
    }

    /// Every place.
    pub fn places(&self) -> impl Iterator<Item = &Place> {
        self.places.iter()
    }
}

/// The approximate centre `(lat, lon)` of a named area, by name ("portobello", "leith
/// walk", "glasgow"). Case and surrounding or repeated whitespace are ignored.
pub fn area_centre(area: &str) -> Option<(f64, f64)> {
    gazetteer().lookup(area).map(|p| p.area.centre())
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustfold_normalize::geo::haversine_km;

    fn at(name: &str) -> Area {
        gazetteer()
            .lookup(name)
            .unwrap_or_else(|| panic!("{name} unknown"))
            .area
            .clone()
    }

    #[test]
    fn every_scottish_council_area_and_many_towns_are_known() {
        let g = gazetteer();
        let councils = g
            .places()
            .filter(|p| p.area.kind == AreaKind::CouncilArea)
            .count();
        assert_eq!(councils, 32, "Scotland has 32 council areas");
        let towns = g.places().filter(|p| p.area.kind == AreaKind::Town).count();
        assert!(towns > 600, "{towns} towns");
        assert!(g.places().filter(|p| p.area.kind == AreaKind::City).count() > 50);
    }

    #[test]
    fn towns_sit_where_the_register_puts_their_facilities() {
        // Known city centres, from general knowledge: within a few km.
        for (name, centre) in [
            ("glasgow", (55.8617, -4.2583)),
            ("aberdeen", (57.1497, -2.0943)),
            ("dundee", (56.4620, -2.9707)),
            ("inverness", (57.4778, -4.2247)),
        ] {
            let d = haversine_km(at(name).centre(), centre);
            assert!(d < 5.0, "{name}: {d:.1} km off");
        }
        let fife = at("fife");
        assert_eq!(fife.kind, AreaKind::CouncilArea);
        assert!(fife.radius_km > 15.0);
        assert_eq!(at("the borders").display, "Scottish Borders");
    }

    #[test]
    fn edinburgh_districts_are_in_the_city_and_win_over_towns_elsewhere() {
        let dalry = at("dalry");
        assert_eq!(
            dalry.kind,
            AreaKind::District,
            "Edinburgh's Dalry, not Ayrshire's"
        );
        assert!(dalry.in_edinburgh());
        assert!(at("portobello").offline_world_covers());
        assert!(!at("glasgow").offline_world_covers());
        assert!(!at("musselburgh").in_edinburgh(), "East Lothian");
        assert_eq!(
            at("musselburgh").council_area.as_deref(),
            Some("East Lothian")
        );
        for (name, (lat, lon), _) in EDINBURGH_DISTRICTS {
            assert!(
                (55.84..56.01).contains(lat) && (-3.45..-3.05).contains(lon),
                "{name}"
            );
        }
    }

    #[test]
    fn cities_of_the_other_nations_know_their_nation() {
        assert_eq!(at("cardiff").nation, Nation::Wales);
        assert_eq!(at("london").nation, Nation::England);
        assert_eq!(at("belfast").nation, Nation::NorthernIreland);
        assert_eq!(at("newcastle upon tyne").name, "newcastle");
    }

    #[test]
    fn names_are_looked_up_ignoring_case_and_spacing() {
        assert_eq!(area_centre("edinburgh"), Some(EDINBURGH_CENTRE));
        assert_eq!(area_centre("  Leith   Walk "), area_centre("leith walk"));
        assert_eq!(area_centre("xyzzy"), None);
        assert_eq!(area_centre(""), None);
        // The register puts Powerleague Portobello under 1 km from Portobello's centre.
        let portobello = area_centre("portobello").unwrap();
        assert!(haversine_km(portobello, (55.95655889562928, -3.1193233798286606)) < 1.0);
    }

    #[test]
    fn everyday_words_among_town_names_are_marked() {
        for name in ["law", "dollar", "keith"] {
            assert!(gazetteer().lookup(name).unwrap().ambiguous, "{name}");
        }
        assert!(!gazetteer().lookup("perth").unwrap().ambiguous);
    }
}
