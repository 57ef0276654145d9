//! The words a query is read with, organised by the sources' own schemes.
//!
//! Every table below is keyed by a value of a scheme one of trustfold's sources uses, and
//! lists the words people type for it:
//!
//! * sports: OpenStreetMap `sport=*` values ([`SPORTS`]), each with the sportscotland
//!   register layers that hold its facilities (`pub_spf*`, the register's facility types)
//!   and the kind of ground it is played on ([`Ground`]);
//! * places to do sport: OpenStreetMap `leisure=*` values, the register's facility types
//!   and Google place types ([`PLACE_TYPES`]);
//! * other kinds of place: OpenStreetMap `amenity=*`, `shop=*`, `tourism=*` values
//!   ([`CATEGORIES`]);
//! * things that are not places: what OpenStreetMap's `shop=*` and `craft=*` values sell or
//!   do (products, services), and the other things people search for under a sport's name
//!   (tickets, fixtures, results, recipes, bets, media, jobs): [`NOT_PLACES`];
//! * EV charging: OpenStreetMap `amenity=charging_station` and its `socket:*` values,
//!   Open Charge Map's connection types and networks, and the vehicles of OSM's access
//!   keys ([`EV_TERMS`], [`CHARGE_WORDS`], [`VEHICLES`]);
//! * operators: sports and fitness operators, shops and charging networks ([`BRANDS`]).
//!
//! The canonical sport names are trustfold's own (`football`, not OSM's `soccer`), because
//! extraction maps every source's labels onto them (`src/extract/normalize.rs`, `SPORTS`)
//! and a query's sports must compare with a record's directly.
//!
//! Nothing here is written from the evaluation queries (`fixtures/queries/heldout.csv`).

use serde::{Deserialize, Serialize};

/// The kind of ground a sport is played on, which decides which place words suit it: a
/// "football pool" is not a pool to play football in (it is a bet), a "tennis court" is a
/// court. From the register's facility types (pitches, courts, pools, ...).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ground {
    /// Outdoor pitches (register "Pitches").
    Pitch,
    /// Courts, indoor or outdoor (register tennis and squash courts, sports halls).
    Court,
    /// Indoor halls and studios (register "Sports Halls").
    Hall,
    /// Water (register "Swimming Pools"; lochs and the sea).
    Water,
    /// Golf courses and ranges.
    Course,
    /// Tracks (register "Athletics Tracks", velodromes).
    Track,
    /// Ice (register "Ice Rinks").
    Ice,
    /// Greens and alleys for bowls and ten-pin.
    Green,
    /// Walls and crags.
    Wall,
    /// Snow and dry slopes.
    Snow,
    /// Trails, open country and roads.
    Open,
    /// Rings, mats and gyms (combat sports, fitness).
    Gym,
    /// Ranges for shooting and archery.
    Range,
}

/// A sport: an OpenStreetMap `sport=*` value with trustfold's canonical name.
#[derive(Clone, Copy, Debug)]
pub struct Sport {
    /// trustfold's name, the one extraction uses (`SPORTS` in `src/extract/normalize.rs`).
    pub canonical: &'static str,
    /// OpenStreetMap `sport=*` values.
    pub osm: &'static [&'static str],
    /// sportscotland register layers holding its facilities; empty when the register has
    /// no facility type for it.
    pub register: &'static [&'static str],
    /// Where it is played.
    pub grounds: &'static [Ground],
    /// What people call it (each a phrase of normalised tokens).
    pub words: &'static [&'static [&'static str]],
    /// Whether its word has a common meaning outside sport (squash the drink, garden
    /// fencing, hair curling, running water): it then counts as the query's sport only
    /// with a place word, an area, a brand or another sport beside it.
    pub ambiguous: bool,
}

const fn sport(
    canonical: &'static str,
    osm: &'static [&'static str],
    register: &'static [&'static str],
    grounds: &'static [Ground],
    words: &'static [&'static [&'static str]],
) -> Sport {
    Sport {
        canonical,
        osm,
        register,
        grounds,
        words,
        ambiguous: false,
    }
}

const fn ambiguous(s: Sport) -> Sport {
    Sport {
        ambiguous: true,
        ..s
    }
}

use Ground::*;

/// Register layers (the WFS `typeNames` of the sportscotland facility register).
pub mod layer {
    /// Athletics Tracks (and the one velodrome).
    pub const ATHLETICS: &str = "pub_spfat";
    /// Bowling Greens.
    pub const BOWLING_GREENS: &str = "pub_spfbg";
    /// Fitness Suites.
    pub const FITNESS: &str = "pub_spffs";
    /// Golf Courses (and ranges, pitch and putt).
    pub const GOLF: &str = "pub_spfgc";
    /// Ice Rinks (and curling rinks).
    pub const ICE: &str = "pub_spfir";
    /// Pitches.
    pub const PITCHES: &str = "pub_spfp";
    /// Sports Halls (and gymnasia, studios).
    pub const HALLS: &str = "pub_spfsh";
    /// Squash Courts.
    pub const SQUASH: &str = "pub_spfsc";
    /// Swimming Pools.
    pub const POOLS: &str = "pub_spfsp";
    /// Tennis Courts (Indoor).
    pub const TENNIS_INDOOR: &str = "pub_spfitc";
    /// Tennis Courts (Outdoor).
    pub const TENNIS_OUTDOOR: &str = "pub_spfotc";
}
use layer::*;

/// Sports, by OpenStreetMap `sport=*` value. The generic words ("sport", "league",
/// "tournament") are [`GENERIC_SPORT`].
pub const SPORTS: &[Sport] = &[
    sport(
        "football",
        &["soccer"],
        &[PITCHES],
        &[Pitch, Hall],
        &[
            &["football"],
            &["soccer"],
            &["futsal"],
            &["five", "a", "side"],
            &["5", "a", "side"],
            &["5", "aside"],
            &["seven", "a", "side"],
            &["7", "a", "side"],
            &["11", "a", "side"],
            &["fives"],
        ],
    ),
    sport(
        "american_football",
        &["american_football"],
        &[PITCHES],
        &[Pitch],
        &[&["american", "football"], &["gridiron"]],
    ),
    sport(
        "rugby",
        &["rugby_union", "rugby_league"],
        &[PITCHES],
        &[Pitch],
        &[
            &["rugby"],
            &["rugby", "union"],
            &["rugby", "league"],
            &["rugby", "sevens"],
        ],
    ),
    sport(
        "cricket",
        &["cricket"],
        &[PITCHES],
        &[Pitch, Hall],
        &[&["cricket"]],
    ),
    sport(
        "hockey",
        &["field_hockey"],
        &[PITCHES],
        &[Pitch],
        &[&["hockey"], &["field", "hockey"]],
    ),
    sport(
        "ice_hockey",
        &["ice_hockey"],
        &[ICE],
        &[Ice],
        &[&["ice", "hockey"]],
    ),
    sport("shinty", &["shinty"], &[PITCHES], &[Pitch], &[&["shinty"]]),
    sport(
        "lacrosse",
        &["lacrosse"],
        &[PITCHES],
        &[Pitch],
        &[&["lacrosse"]],
    ),
    sport(
        "gaelic_games",
        &["gaelic_games"],
        &[PITCHES],
        &[Pitch],
        &[&["gaelic", "football"], &["hurling"], &["camogie"]],
    ),
    sport(
        "tennis",
        &["tennis"],
        &[TENNIS_OUTDOOR, TENNIS_INDOOR],
        &[Court],
        &[&["tennis"], &["lawn", "tennis"]],
    ),
    sport(
        "table_tennis",
        &["table_tennis"],
        &[HALLS],
        &[Hall],
        &[&["table", "tennis"], &["ping", "pong"]],
    ),
    // The register has no padel courts: padel is not a tennis court.
    sport(
        "padel",
        &["padel"],
        &[],
        &[Court],
        &[&["padel"], &["padel", "tennis"]],
    ),
    ambiguous(sport(
        "squash",
        &["squash"],
        &[SQUASH],
        &[Court],
        &[&["squash"]],
    )),
    sport(
        "badminton",
        &["badminton"],
        &[HALLS],
        &[Court, Hall],
        &[&["badminton"]],
    ),
    sport(
        "pickleball",
        &["pickleball"],
        &[],
        &[Court, Hall],
        &[&["pickleball"]],
    ),
    sport(
        "basketball",
        &["basketball"],
        &[HALLS],
        &[Court, Hall],
        &[&["basketball"]],
    ),
    sport(
        "netball",
        &["netball"],
        &[HALLS],
        &[Court, Hall],
        &[&["netball"]],
    ),
    sport(
        "volleyball",
        &["volleyball", "beachvolleyball"],
        &[HALLS],
        &[Court, Hall],
        &[&["volleyball"], &["beach", "volleyball"]],
    ),
    sport(
        "handball",
        &["handball"],
        &[HALLS],
        &[Court, Hall],
        &[&["handball"]],
    ),
    sport(
        "dodgeball",
        &["dodgeball"],
        &[HALLS],
        &[Court, Hall],
        &[&["dodgeball"]],
    ),
    sport("baseball", &["baseball"], &[], &[Pitch], &[&["baseball"]]),
    sport("softball", &["softball"], &[], &[Pitch], &[&["softball"]]),
    sport(
        "swimming",
        &["swimming"],
        &[POOLS],
        &[Water],
        &[
            &["swimming"],
            &["swim"],
            &["aquatics"],
            &["aquafit"],
            &["aqua", "aerobics"],
            &["aqua", "fit"],
        ],
    ),
    sport(
        "diving",
        &["diving"],
        &[POOLS],
        &[Water],
        &[&["diving"], &["springboard"]],
    ),
    sport(
        "water_polo",
        &["water_polo"],
        &[POOLS],
        &[Water],
        &[&["water", "polo"]],
    ),
    sport(
        "golf",
        &["golf"],
        &[GOLF],
        &[Course],
        &[&["golf"], &["golfing"]],
    ),
    sport(
        "athletics",
        &["athletics", "running"],
        &[ATHLETICS],
        &[Track, Open],
        &[
            &["athletics"],
            &["track", "and", "field"],
            &["parkrun"],
            &["park", "run"],
            &["marathon"],
            &["jogging"],
        ],
    ),
    ambiguous(sport(
        "athletics",
        &["running"],
        &[ATHLETICS],
        &[Track, Open],
        &[&["running"]],
    )),
    sport(
        "cycling",
        &["cycling", "bmx", "mtb"],
        &[],
        &[Track, Open],
        &[
            &["cycling"],
            &["bmx"],
            &["mountain", "biking"],
            &["mountain", "bike"],
            &["mtb"],
        ],
    ),
    sport("rowing", &["rowing"], &[], &[Water], &[&["rowing"]]),
    sport(
        "sailing",
        &["sailing"],
        &[],
        &[Water],
        &[&["sailing"], &["dinghy", "sailing"]],
    ),
    sport(
        "canoeing",
        &["canoe"],
        &[],
        &[Water],
        &[&["canoe"], &["canoeing"], &["kayak"], &["kayaking"]],
    ),
    sport(
        "paddleboarding",
        &["sup"],
        &[],
        &[Water],
        &[
            &["paddleboarding"],
            &["paddle", "boarding"],
            &["paddleboard"],
            &["stand", "up", "paddle"],
        ],
    ),
    sport(
        "surfing",
        &["surfing"],
        &[],
        &[Water],
        &[&["surfing"], &["surf"], &["bodyboarding"]],
    ),
    sport(
        "climbing",
        &["climbing"],
        &[],
        &[Wall, Open],
        &[
            &["climbing"],
            &["bouldering"],
            &["rock", "climbing"],
            &["indoor", "climbing"],
        ],
    ),
    sport(
        "gymnastics",
        &["gymnastics"],
        &[HALLS],
        &[Hall],
        &[&["gymnastics"]],
    ),
    sport(
        "trampolining",
        &["trampoline"],
        &[],
        &[Hall],
        &[&["trampolining"], &["trampoline"]],
    ),
    sport(
        "parkour",
        &["parkour"],
        &[],
        &[Open, Hall],
        &[&["parkour"], &["free", "running"]],
    ),
    sport(
        "boxing",
        &["boxing", "kickboxing"],
        &[],
        &[Gym, Hall],
        &[&["boxing"], &["kickboxing"], &["kick", "boxing"]],
    ),
    sport(
        "martial_arts",
        &[
            "judo",
            "karate",
            "taekwondo",
            "jiu-jitsu",
            "aikido",
            "kung_fu",
            "mma",
        ],
        &[],
        &[Gym, Hall],
        &[
            &["martial", "arts"],
            &["judo"],
            &["karate"],
            &["taekwondo"],
            &["tae", "kwon", "do"],
            &["jiu", "jitsu"],
            &["jiujitsu"],
            &["ju", "jitsu"],
            &["bjj"],
            &["aikido"],
            &["kung", "fu"],
            &["mma"],
            &["muay", "thai"],
        ],
    ),
    sport(
        "wrestling",
        &["wrestling"],
        &[],
        &[Gym, Hall],
        &[&["wrestling"]],
    ),
    sport(
        "skating",
        &["ice_skating"],
        &[ICE],
        &[Ice],
        &[&["ice", "skating"], &["skating"], &["figure", "skating"]],
    ),
    sport(
        "skating",
        &["skateboard", "roller_skating"],
        &[],
        &[Open],
        &[
            &["skateboarding"],
            &["skateboard"],
            &["roller", "skating"],
            &["roller", "derby"],
            &["skate"],
        ],
    ),
    ambiguous(sport(
        "curling",
        &["curling"],
        &[ICE],
        &[Ice],
        &[&["curling"]],
    )),
    sport(
        "bowling",
        &["bowls"],
        &[BOWLING_GREENS],
        &[Green],
        &[&["bowls"], &["lawn", "bowls"], &["indoor", "bowls"]],
    ),
    sport(
        "bowling",
        &["10pin"],
        &[],
        &[Green, Hall],
        &[
            &["bowling"],
            &["ten", "pin"],
            &["tenpin"],
            &["10", "pin"],
            &["10pin"],
        ],
    ),
    sport(
        "skiing",
        &["skiing"],
        &[],
        &[Snow],
        &[
            &["ski"],
            &["skiing"],
            &["snowsports"],
            &["snowboarding"],
            &["snowboard"],
        ],
    ),
    sport(
        "archery",
        &["archery"],
        &[],
        &[Range, Hall],
        &[&["archery"]],
    ),
    sport(
        "shooting",
        &["shooting", "clay_pigeon_shooting"],
        &[],
        &[Range],
        &[
            &["clay", "pigeon", "shooting"],
            &["clay", "shooting"],
            &["target", "shooting"],
        ],
    ),
    ambiguous(sport(
        "fencing",
        &["fencing"],
        &[],
        &[Hall],
        &[&["fencing"]],
    )),
    sport(
        "equestrian",
        &["equestrian", "horse_racing"],
        &[],
        &[Open],
        &[
            &["horse", "riding"],
            &["equestrian"],
            &["pony", "trekking"],
            &["pony", "riding"],
            &["horseback", "riding"],
            &["dressage"],
            &["show", "jumping"],
        ],
    ),
    sport(
        "orienteering",
        &["orienteering"],
        &[],
        &[Open],
        &[&["orienteering"]],
    ),
    sport(
        "triathlon",
        &["triathlon"],
        &[],
        &[Water, Open],
        &[&["triathlon"], &["duathlon"]],
    ),
    sport(
        "fitness",
        &["fitness", "yoga", "pilates", "crossfit", "aerobics"],
        &[FITNESS],
        &[Gym, Hall],
        &[
            &["fitness"],
            &["crossfit"],
            &["pilates"],
            &["yoga"],
            &["zumba"],
            &["aerobics"],
            &["spin", "class"],
            &["spinning"],
            &["hiit"],
            &["bootcamp"],
            &["boot", "camp"],
            &["weightlifting"],
            &["weight", "lifting"],
            &["powerlifting"],
            &["bodybuilding"],
            &["workout"],
        ],
    ),
    sport(
        "cue_sports",
        &["billiards", "snooker", "8pool"],
        &[],
        &[Hall],
        &[&["snooker"], &["billiards"]],
    ),
    sport("darts", &["darts"], &[], &[Hall], &[&["darts"]]),
    sport(
        "karting",
        &["karting", "motor"],
        &[],
        &[Track],
        &[
            &["karting"],
            &["go", "karting"],
            &["go", "karts"],
            &["go", "kart"],
        ],
    ),
];

/// Words for sport in general (seed 000 FR-4: "sport", "league", "tournament"): a sports
/// query, with no particular sport.
pub const GENERIC_SPORT: &[&[&str]] = &[
    &["sport"],
    &["sports"],
    &["league"],
    &["tournament"],
    &["sports", "facilities"],
    &["sports", "facility"],
];

/// A kind of place to do sport, by OpenStreetMap `leisure=*` value and register facility
/// type. The `key` is the name the planner reports (and the council and OSM mappings use).
#[derive(Clone, Copy, Debug)]
pub struct PlaceType {
    /// The canonical name ("pitch", "leisure centre", ...).
    pub key: &'static str,
    /// OpenStreetMap tags, `(key, value)`.
    pub osm: &'static [(&'static str, &'static str)],
    /// Register layers holding such places; empty when the register has none.
    pub register: &'static [&'static str],
    /// Google place types (Places API, Table A).
    pub google: &'static [&'static str],
    /// Grounds it is for; empty when any sport can be done there.
    pub grounds: &'static [Ground],
    /// What people call it.
    pub words: &'static [&'static [&'static str]],
    /// Whether such places are, in Edinburgh, usually public (council or Edinburgh
    /// Leisure): seed 000 Appendix A sends public facilities to the council.
    pub public: bool,
}

const fn place(
    key: &'static str,
    osm: &'static [(&'static str, &'static str)],
    register: &'static [&'static str],
    google: &'static [&'static str],
    grounds: &'static [Ground],
    words: &'static [&'static [&'static str]],
    public: bool,
) -> PlaceType {
    PlaceType {
        key,
        osm,
        register,
        google,
        grounds,
        words,
        public,
    }
}

/// Places to do sport.
pub const PLACE_TYPES: &[PlaceType] = &[
    place(
        "leisure centre",
        &[("leisure", "sports_centre")],
        &[HALLS, POOLS, FITNESS],
        &["sports_complex"],
        &[],
        &[
            &["leisure", "centre"],
            &["leisure", "center"],
            &["leisure", "club"],
            &["leisure", "complex"],
            &["recreation", "centre"],
        ],
        true,
    ),
    place(
        "sports centre",
        &[("leisure", "sports_centre")],
        &[HALLS, POOLS, FITNESS],
        &["sports_complex"],
        &[],
        &[
            &["sports", "centre"],
            &["sports", "center"],
            &["sport", "centre"],
            &["sports", "complex"],
            &["sports", "club"],
            &["sports", "village"],
        ],
        true,
    ),
    place(
        "sports hall",
        &[("leisure", "sports_hall")],
        &[HALLS],
        &[],
        &[Hall, Court],
        &[
            &["sports", "hall"],
            &["games", "hall"],
            &["gymnasium"],
            &["studio"],
            &["dance", "studio"],
        ],
        true,
    ),
    place(
        "swim centre",
        &[("leisure", "sports_centre"), ("sport", "swimming")],
        &[POOLS],
        &["swimming_pool"],
        &[Water],
        &[
            &["swim", "centre"],
            &["swimming", "centre"],
            &["swim", "center"],
            &["aquatic", "centre"],
            &["aquatics", "centre"],
        ],
        true,
    ),
    place(
        "pool",
        &[("leisure", "swimming_pool")],
        &[POOLS],
        &["swimming_pool"],
        &[Water],
        &[
            &["pool"],
            &["swimming", "pool"],
            &["leisure", "pool"],
            &["swimming", "baths"],
            &["baths"],
        ],
        true,
    ),
    place(
        "lido",
        &[("leisure", "swimming_pool")],
        &[POOLS],
        &["swimming_pool"],
        &[Water],
        &[&["lido"], &["outdoor", "pool"]],
        true,
    ),
    place(
        "pitch",
        &[("leisure", "pitch")],
        &[PITCHES],
        &["athletic_field"],
        &[Pitch],
        &[
            &["pitch"],
            &["astroturf"],
            &["astro"],
            &["astro", "turf"],
            &["3g"],
            &["4g"],
            &["playing", "field"],
            &["sports", "ground"],
            &["football", "ground"],
            &["nets"],
        ],
        true,
    ),
    place(
        "court",
        &[("leisure", "pitch")],
        &[],
        &[],
        &[Court],
        &[&["court"]],
        true,
    ),
    place(
        "table",
        &[("leisure", "pitch"), ("sport", "table_tennis")],
        &[],
        &[],
        &[Hall],
        &[&["table"]],
        true,
    ),
    place(
        "tennis centre",
        &[("leisure", "sports_centre"), ("sport", "tennis")],
        &[TENNIS_INDOOR, TENNIS_OUTDOOR],
        &[],
        &[Court],
        &[&["tennis", "centre"], &["tennis", "center"]],
        false,
    ),
    place(
        "soccer centre",
        &[("leisure", "sports_centre"), ("sport", "soccer")],
        &[PITCHES],
        &[],
        &[Pitch],
        &[&["soccer", "centre"], &["football", "centre"]],
        false,
    ),
    place(
        "gym",
        &[("leisure", "fitness_centre")],
        &[FITNESS],
        &["gym", "fitness_center"],
        &[Gym, Hall, Wall],
        &[
            &["gym"],
            &["fitness", "centre"],
            &["fitness", "center"],
            &["fitness", "suite"],
            &["fitness", "studio"],
            &["fitness", "club"],
            &["health", "club"],
            &["crossfit", "box"],
        ],
        false,
    ),
    place(
        "stadium",
        &[("leisure", "stadium")],
        &[PITCHES],
        &["stadium", "arena"],
        &[],
        &[&["stadium"], &["stadia"], &["arena"]],
        false,
    ),
    place(
        "track",
        &[("leisure", "track")],
        &[ATHLETICS],
        &[],
        &[Track],
        &[
            &["track"],
            &["running", "track"],
            &["athletics", "track"],
            &["pump", "track"],
        ],
        true,
    ),
    place(
        "velodrome",
        &[("leisure", "track"), ("sport", "cycling")],
        &[ATHLETICS],
        &[],
        &[Track],
        &[&["velodrome"]],
        false,
    ),
    place(
        "golf course",
        &[("leisure", "golf_course")],
        &[GOLF],
        &["golf_course"],
        &[Course],
        &[
            &["golf", "course"],
            &["golf", "links"],
            &["links", "course"],
            &["driving", "range"],
            &["golf", "range"],
            &["pitch", "and", "putt"],
            &["putting", "green"],
            &["course"],
        ],
        true,
    ),
    place(
        "ice rink",
        &[("leisure", "ice_rink")],
        &[ICE],
        &["ice_skating_rink"],
        &[Ice],
        &[
            &["ice", "rink"],
            &["rink"],
            &["skating", "rink"],
            &["curling", "rink"],
        ],
        false,
    ),
    place(
        "bowling green",
        &[("leisure", "bowling_green")],
        &[BOWLING_GREENS],
        &[],
        &[Green],
        &[&["bowling", "green"], &["bowls", "green"], &["green"]],
        true,
    ),
    place(
        "bowling alley",
        &[("leisure", "bowling_alley")],
        &[],
        &["bowling_alley"],
        &[Green, Hall],
        &[&["bowling", "alley"], &["alley"], &["lanes"]],
        false,
    ),
    place(
        "climbing wall",
        &[("sport", "climbing")],
        &[],
        &[],
        &[Wall],
        &[
            &["climbing", "wall"],
            &["climbing", "centre"],
            &["climbing", "gym"],
            &["bouldering", "wall"],
            &["bouldering", "centre"],
            &["wall"],
            &["crag"],
        ],
        false,
    ),
    place(
        "skatepark",
        &[("leisure", "pitch"), ("sport", "skateboard")],
        &[],
        &[],
        &[Open],
        &[&["skatepark"], &["skate", "park"]],
        true,
    ),
    place(
        "ski slope",
        &[("landuse", "winter_sports")],
        &[],
        &["ski_resort"],
        &[Snow],
        &[
            &["ski", "slope"],
            &["dry", "slope"],
            &["ski", "centre"],
            &["ski", "resort"],
            &["slope"],
            &["slopes"],
        ],
        false,
    ),
    place(
        "trampoline park",
        &[("leisure", "trampoline_park")],
        &[],
        &[],
        &[Hall],
        &[&["trampoline", "park"]],
        false,
    ),
    place(
        "riding school",
        &[("leisure", "horse_riding")],
        &[],
        &[],
        &[Open],
        &[
            &["riding", "school"],
            &["riding", "stables"],
            &["stables"],
            &["riding", "centre"],
            &["equestrian", "centre"],
        ],
        false,
    ),
    place(
        "range",
        &[("leisure", "sports_centre"), ("sport", "shooting")],
        &[],
        &[],
        &[Range],
        &[&["range"], &["shooting", "ground"]],
        false,
    ),
    place(
        "trail",
        &[("route", "mtb")],
        &[],
        &[],
        &[Open],
        &[&["trail"], &["trails"], &["trail", "centre"]],
        false,
    ),
    place(
        "marina",
        &[("leisure", "marina")],
        &[],
        &[],
        &[Water],
        &[&["marina"], &["boathouse"], &["watersports", "centre"]],
        false,
    ),
];

/// Words that name a place to do something, without saying what: they make a query with a
/// sport a venue query ("tennis lessons", "rugby club"), Google's `sports_club` and
/// `sports_coaching`, OpenStreetMap's `club=sport`.
pub const PLACE_WORDS: &[&[&str]] = &[
    &["club"],
    &["lessons"],
    &["lesson"],
    &["classes"],
    &["class"],
    &["coaching"],
    &["coach"],
    &["training"],
    &["sessions"],
    &["session"],
    &["school"],
    &["academy"],
    &["team"],
    &["venue"],
    &["venues"],
    &["facility"],
    &["facilities"],
    &["centre"],
    &["center"],
    &["hall"],
    &["ground"],
    &["grounds"],
    &["field"],
    &["fields"],
    &["places"],
    &["place"],
    &["spots"],
    &["spot"],
    &["somewhere"],
    &["where"],
    &["play"],
    &["learn"],
    &["practice"],
    &["practise"],
    &["membership"],
    &["camp"],
    &["camps"],
    &["group"],
    &["meetup"],
];

/// A non-sports kind of place, by OpenStreetMap value.
#[derive(Clone, Copy, Debug)]
pub struct Category {
    /// The canonical name reported ("restaurant", "library", ...).
    pub key: &'static str,
    /// OpenStreetMap tag, `(key, value)`.
    pub osm: (&'static str, &'static str),
    /// What people call it.
    pub words: &'static [&'static [&'static str]],
    /// Whether it is a public facility or council service (seed 000 Appendix A).
    pub public: bool,
}

const fn category(
    key: &'static str,
    osm: (&'static str, &'static str),
    words: &'static [&'static [&'static str]],
    public: bool,
) -> Category {
    Category {
        key,
        osm,
        words,
        public,
    }
}

/// Other kinds of place, so that "pizza restaurant edinburgh" is a category search and
/// "food court" or "sheriff court" is not a court to play on (the longer phrase wins).
pub const CATEGORIES: &[Category] = &[
    category(
        "restaurant",
        ("amenity", "restaurant"),
        &[
            &["restaurant"],
            &["pizzeria"],
            &["bistro"],
            &["brasserie"],
            &["diner"],
        ],
        false,
    ),
    category(
        "cafe",
        ("amenity", "cafe"),
        &[
            &["cafe"],
            &["café"],
            &["coffee", "shop"],
            &["cafes"],
            &["tearoom"],
        ],
        false,
    ),
    category(
        "pub",
        ("amenity", "pub"),
        &[&["pub"], &["bar"], &["inn"], &["sports", "bar"]],
        false,
    ),
    category(
        "nightclub",
        ("amenity", "nightclub"),
        &[&["nightclub"], &["night", "club"]],
        false,
    ),
    category(
        "takeaway",
        ("amenity", "fast_food"),
        &[
            &["takeaway"],
            &["take", "away"],
            &["fast", "food"],
            &["chippy"],
            &["fish", "and", "chips"],
        ],
        false,
    ),
    category(
        "food court",
        ("amenity", "food_court"),
        &[&["food", "court"]],
        false,
    ),
    category(
        "hotel",
        ("tourism", "hotel"),
        &[
            &["hotel"],
            &["hostel"],
            &["b", "and", "b"],
            &["guest", "house"],
        ],
        false,
    ),
    category(
        "campsite",
        ("tourism", "camp_site"),
        &[
            &["campsite"],
            &["camp", "site"],
            &["caravan", "park"],
            &["caravan", "site"],
            &["caravan", "pitch"],
            &["tent", "pitch"],
            &["camping", "pitch"],
            &["camping"],
        ],
        false,
    ),
    category(
        "shop",
        ("shop", "yes"),
        &[
            &["supermarket"],
            &["shopping", "centre"],
            &["shopping", "center"],
            &["retail", "park"],
            &["convenience", "store"],
            &["corner", "shop"],
        ],
        false,
    ),
    category(
        "dentist",
        ("amenity", "dentist"),
        &[&["dentist"], &["dental", "practice"]],
        false,
    ),
    category(
        "doctor",
        ("amenity", "doctors"),
        &[
            &["doctor"],
            &["gp"],
            &["gp", "surgery"],
            &["health", "centre"],
            &["medical", "practice"],
        ],
        false,
    ),
    category(
        "pharmacy",
        ("amenity", "pharmacy"),
        &[&["pharmacy"], &["chemist"]],
        false,
    ),
    category(
        "hospital",
        ("amenity", "hospital"),
        &[&["hospital"], &["a", "and", "e"]],
        false,
    ),
    category(
        "vet",
        ("amenity", "veterinary"),
        &[&["vet"], &["vets"], &["veterinary"]],
        false,
    ),
    category(
        "school",
        ("amenity", "school"),
        &[
            &["primary", "school"],
            &["high", "school"],
            &["secondary", "school"],
            &["nursery"],
            &["college"],
            &["university"],
        ],
        true,
    ),
    category(
        "library",
        ("amenity", "library"),
        &[&["library"], &["libraries"]],
        true,
    ),
    category(
        "museum",
        ("tourism", "museum"),
        &[&["museum"], &["gallery"], &["art", "gallery"]],
        false,
    ),
    category(
        "cinema",
        ("amenity", "cinema"),
        &[&["cinema"], &["pictures"]],
        false,
    ),
    category(
        "theatre",
        ("amenity", "theatre"),
        &[&["theatre"], &["theater"], &["concert", "hall"]],
        false,
    ),
    category(
        "park",
        ("leisure", "park"),
        &[&["park"], &["gardens"], &["botanic", "garden"]],
        true,
    ),
    category(
        "playground",
        ("leisure", "playground"),
        &[&["playground"], &["play", "park"], &["play", "area"]],
        true,
    ),
    category(
        "community centre",
        ("amenity", "community_centre"),
        &[
            &["community", "centre"],
            &["community", "center"],
            &["community", "hall"],
            &["village", "hall"],
        ],
        true,
    ),
    category(
        "church",
        ("amenity", "place_of_worship"),
        &[
            &["church"],
            &["mosque"],
            &["temple"],
            &["synagogue"],
            &["cathedral"],
        ],
        false,
    ),
    category(
        "courthouse",
        ("amenity", "courthouse"),
        &[
            &["sheriff", "court"],
            &["high", "court"],
            &["crown", "court"],
            &["county", "court"],
            &["supreme", "court"],
            &["magistrates", "court"],
            &["court", "of", "session"],
            &["court", "house"],
            &["courthouse"],
        ],
        false,
    ),
    category(
        "car park",
        ("amenity", "parking"),
        &[&["car", "park"], &["parking"]],
        false,
    ),
    category(
        "car sharing",
        ("amenity", "car_sharing"),
        &[
            &["car", "pool"],
            &["carpool"],
            &["car", "club"],
            &["car", "share"],
        ],
        false,
    ),
    category(
        "petrol station",
        ("amenity", "fuel"),
        &[
            &["petrol", "station"],
            &["filling", "station"],
            &["gas", "station"],
        ],
        false,
    ),
    category(
        "post office",
        ("amenity", "post_office"),
        &[&["post", "office"]],
        false,
    ),
    category("bank", ("amenity", "bank"), &[&["bank"], &["atm"]], false),
    category(
        "hairdresser",
        ("shop", "hairdresser"),
        &[&["hairdresser"], &["barber"], &["hair", "salon"]],
        false,
    ),
    category(
        "public toilet",
        ("amenity", "toilets"),
        &[&["public", "toilet"], &["toilets"]],
        true,
    ),
    category(
        "allotment",
        ("landuse", "allotments"),
        &[&["allotment"]],
        true,
    ),
    category(
        "recycling centre",
        ("amenity", "recycling"),
        &[&["recycling", "centre"], &["tip"], &["dump"]],
        true,
    ),
    category(
        "cemetery",
        ("landuse", "cemetery"),
        &[&["cemetery"], &["graveyard"], &["crematorium"]],
        true,
    ),
    category(
        "station",
        ("railway", "station"),
        &[
            &["train", "station"],
            &["bus", "station"],
            &["railway", "station"],
        ],
        false,
    ),
    category(
        "police",
        ("amenity", "police"),
        &[&["police", "station"], &["police"]],
        true,
    ),
];

/// What a query asks for when it is not a place to go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Wanted {
    /// A place to go: a venue, a club, a class, a shop counted as a place (the default).
    #[default]
    Place,
    /// Something to buy (OSM `shop=*` goods).
    Product,
    /// A shop as such ("sports shop", "bike shop").
    Shop,
    /// A service done for you (OSM `craft=*`, repairs, printing, cleaning).
    Service,
    /// An event (a match, a cup, a sale).
    Event,
    /// Tickets for an event.
    Ticket,
    /// Something to cook or drink.
    Recipe,
    /// A bet.
    Betting,
    /// Something to watch, read or play on a screen.
    Media,
    /// Results, scores, news, rules, plans.
    Info,
    /// A medical complaint or its treatment.
    Health,
    /// A vehicle.
    Vehicle,
    /// A job.
    Job,
    /// Something else that is not a place.
    Other,
}

impl Wanted {
    /// The wire name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Wanted::Place => "place",
            Wanted::Product => "product",
            Wanted::Shop => "shop",
            Wanted::Service => "service",
            Wanted::Event => "event",
            Wanted::Ticket => "ticket",
            Wanted::Recipe => "recipe",
            Wanted::Betting => "betting",
            Wanted::Media => "media",
            Wanted::Info => "info",
            Wanted::Health => "health",
            Wanted::Vehicle => "vehicle",
            Wanted::Job => "job",
            Wanted::Other => "other",
        }
    }

    /// Whether the word decides the query's kind wherever it stands ("tennis on tv
    /// tonight"), not only as the query's head noun.
    pub const fn is_strong(self) -> bool {
        matches!(
            self,
            Wanted::Ticket
                | Wanted::Media
                | Wanted::Betting
                | Wanted::Recipe
                | Wanted::Job
                | Wanted::Info
                | Wanted::Event
        )
    }
}

impl std::fmt::Display for Wanted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Words naming something that is not a place, grouped by the scheme they come from.
#[derive(Clone, Copy, Debug)]
pub struct NotPlace {
    /// What kind of thing.
    pub wanted: Wanted,
    /// The scheme value ("shop=clothes", "craft=printer", ...), reported in plans.
    pub scheme: &'static str,
    /// What people call it.
    pub words: &'static [&'static [&'static str]],
}

const fn not_place(
    wanted: Wanted,
    scheme: &'static str,
    words: &'static [&'static [&'static str]],
) -> NotPlace {
    NotPlace {
        wanted,
        scheme,
        words,
    }
}

/// Things that are not places, by what sells or does them.
pub const NOT_PLACES: &[NotPlace] = &[
    not_place(
        Wanted::Product,
        "shop=clothes",
        &[
            &["shirt"],
            &["jersey"],
            &["top"],
            &["tops"],
            &["kit"],
            &["kits"],
            &["strip"],
            &["shorts"],
            &["socks"],
            &["leggings"],
            &["jacket"],
            &["hoodie"],
            &["tracksuit"],
            &["costume"],
            &["swimsuit"],
            &["swimwear"],
            &["trunks"],
            &["bikini"],
            &["wetsuit"],
            &["wear"],
            &["sportswear"],
            &["activewear"],
            &["clothing"],
            &["clothes"],
            &["apparel"],
            &["uniform"],
            &["cap"],
            &["hat"],
        ],
    ),
    not_place(
        Wanted::Product,
        "shop=shoes",
        &[
            &["boots"],
            &["shoes"],
            &["trainers"],
            &["sneakers"],
            &["spikes"],
            &["cleats"],
            &["studs"],
            &["footwear"],
        ],
    ),
    not_place(
        Wanted::Product,
        "shop=sports",
        &[
            &["equipment"],
            &["gear"],
            &["racket"],
            &["racquet"],
            &["bat"],
            &["ball"],
            &["stick"],
            &["shuttlecock"],
            &["shuttlecocks"],
            &["shuttles"],
            &["goggles"],
            &["mat"],
            &["weights"],
            &["dumbbells"],
            &["kettlebell"],
            &["treadmill"],
            &["helmet"],
            &["pads"],
            &["gumshield"],
            &["skis"],
            &["snowboard"],
            &["glove"],
            &["gloves"],
            &["bag"],
            &["grips"],
            &["strings"],
            &["umbrella"],
            &["trophy"],
            &["trophies"],
            &["medals"],
            &["pool", "cue"],
            &["cue"],
            &["pool", "table"],
            &["snooker", "table"],
            &["dartboard"],
            &["hot", "tub"],
            &["sauna", "kit"],
        ],
    ),
    not_place(
        Wanted::Product,
        "shop=bicycle",
        &[&["bike"], &["bicycle"], &["ebike"], &["e", "bike"]],
    ),
    not_place(
        Wanted::Product,
        "shop=games",
        &[
            &["stickers"],
            &["cards"],
            &["toy"],
            &["toys"],
            &["board", "game"],
            &["console"],
        ],
    ),
    not_place(
        Wanted::Product,
        "shop=books",
        &[&["book"], &["books"], &["magazine"]],
    ),
    not_place(
        Wanted::Product,
        "shop=beauty",
        &[
            &["wand"],
            &["tongs"],
            &["straighteners"],
            &["curlers"],
            &["hair", "dryer"],
        ],
    ),
    not_place(
        Wanted::Product,
        "shop=confectionery",
        &[&["cake"], &["cakes"], &["cupcakes"]],
    ),
    not_place(
        Wanted::Product,
        "shop=electronics",
        &[
            &["cable"],
            &["adapter"],
            &["plug", "adapter"],
            &["power", "bank"],
        ],
    ),
    not_place(
        Wanted::Shop,
        "shop=*",
        &[
            &["shop"],
            &["shops"],
            &["store"],
            &["stores"],
            &["outlet"],
            &["retailer"],
            &["retailers"],
            &["supplier"],
            &["suppliers"],
            &["stockist"],
            &["stockists"],
        ],
    ),
    not_place(
        Wanted::Service,
        "craft=*",
        &[
            &["printing"],
            &["print"],
            &["printers"],
            &["embroidery"],
            &["engraving"],
            &["repair"],
            &["repairs"],
            &["restringing"],
            &["restring"],
            &["regrip"],
            &["regripping"],
            &["servicing"],
            &["service"],
            &["cleaning"],
            &["cleaner"],
            &["installation"],
            &["installer"],
            &["maintenance"],
            &["massage"],
            &["insurance"],
            &["plumber"],
            &["electrician"],
            &["builder"],
            &["delivery"],
            &["removals"],
            &["photographer"],
        ],
    ),
    not_place(
        Wanted::Health,
        "healthcare=*",
        &[
            &["elbow"],
            &["knee"],
            &["ankle"],
            &["shoulder"],
            &["injury"],
            &["injuries"],
            &["physio"],
            &["physiotherapy"],
            &["physiotherapist"],
            &["treatment"],
            &["therapy"],
            &["pain"],
            &["sprain"],
        ],
    ),
    not_place(
        Wanted::Ticket,
        "shop=ticket",
        &[
            &["tickets"],
            &["ticket"],
            &["season", "ticket"],
            &["box", "office"],
        ],
    ),
    not_place(
        Wanted::Event,
        "event",
        &[
            &["fixtures"],
            &["fixture"],
            &["match"],
            &["matches"],
            &["game"],
            &["games"],
            &["final"],
            &["world", "cup"],
            &["six", "nations"],
            &["olympics"],
            &["sales"],
            &["sale"],
            &["boxing", "day"],
            &["festival"],
            &["parade"],
            &["highland", "games"],
        ],
    ),
    not_place(
        Wanted::Info,
        "information",
        &[
            &["results"],
            &["result"],
            &["scores"],
            &["score"],
            &["news"],
            &["rules"],
            &["history"],
            &["stats"],
            &["standings"],
            &["league", "table"],
            &["transfer"],
            &["transfers"],
            &["tips"],
            &["plan"],
            &["plans"],
            &["quiz"],
            &["meaning"],
            &["weather"],
            &["things", "to", "do"],
        ],
    ),
    not_place(
        Wanted::Media,
        "media",
        &[
            &["tv"],
            &["television"],
            &["radio"],
            &["stream"],
            &["streaming"],
            &["live", "stream"],
            &["highlights"],
            &["podcast"],
            &["film"],
            &["movie"],
            &["fifa"],
            &["video", "game"],
            &["app"],
            &["wallpaper"],
            &["league", "of", "legends"],
        ],
    ),
    not_place(
        Wanted::Betting,
        "shop=bookmaker",
        &[
            &["betting"],
            &["bet"],
            &["bets"],
            &["odds"],
            &["bookies"],
            &["bookmaker"],
            &["accumulator"],
            &["lottery"],
        ],
    ),
    not_place(
        Wanted::Recipe,
        "food",
        &[
            &["recipe"],
            &["recipes"],
            &["soup"],
            &["risotto"],
            &["cordial"],
            &["drink"],
            &["juice"],
            &["smoothie"],
            &["lemon"],
            &["orange"],
            &["butternut"],
            &["pumpkin"],
            &["roast"],
            &["roasted"],
            &["salad"],
        ],
    ),
    not_place(
        Wanted::Vehicle,
        "shop=car",
        &[
            &["gti"],
            &["tdi"],
            &["gtd"],
            &["hatchback"],
            &["sports", "car"],
            &["vw", "golf"],
            &["volkswagen", "golf"],
            &["mot"],
        ],
    ),
    not_place(
        Wanted::Job,
        "jobs",
        &[
            &["jobs"],
            &["job"],
            &["vacancies"],
            &["vacancy"],
            &["careers"],
            &["recruitment"],
        ],
    ),
    not_place(
        Wanted::Other,
        "idiom",
        &[
            &["sales", "pitch"],
            &["elevator", "pitch"],
            &["pitch", "black"],
            &["pitch", "perfect"],
            &["pitch", "deck"],
            &["gene", "pool"],
            &["talent", "pool"],
            &["rock", "pool"],
            &["ivy", "league"],
            &["jungle", "gym"],
            &["court", "case"],
            &["court", "date"],
            &["tax"],
            &["bin"],
            &["bins"],
            &["train"],
            &["bus"],
            &["walk"],
            &["walks"],
            &["hike"],
        ],
    ),
];

/// Words that make a query about buying whatever it names ("for sale", "second hand").
pub const SALE_WORDS: &[&[&str]] = &[
    &["for", "sale"],
    &["buy"],
    &["buying"],
    &["second", "hand"],
    &["secondhand"],
];

/// Single place words that name a sports place only beside a sport played there: "bmx
/// track" is a venue, "track my parcel" is not; "climbing wall" is, "wall paint" is not.
pub const PLACE_WORDS_NEEDING_A_SPORT: &[&str] = &[
    "track",
    "course",
    "green",
    "wall",
    "range",
    "alley",
    "slope",
    "slopes",
    "table",
    "nets",
    "studio",
    "trail",
    "trails",
    "crag",
    "marina",
    "boathouse",
    "rink",
];

/// Words that qualify a search rather than say what it is for ("hire", "near me", "open
/// now"): skipped when looking for the query's head noun.
pub const MODIFIER_WORDS: &[&str] = &[
    "a",
    "an",
    "the",
    "in",
    "at",
    "on",
    "near",
    "nearby",
    "nearest",
    "around",
    "me",
    "my",
    "i",
    "for",
    "to",
    "of",
    "and",
    "or",
    "with",
    "best",
    "top",
    "good",
    "free",
    "open",
    "now",
    "today",
    "tonight",
    "tomorrow",
    "weekend",
    "local",
    "public",
    "private",
    "indoor",
    "outdoor",
    "heated",
    "covered",
    "floodlit",
    "kids",
    "kid",
    "children",
    "childrens",
    "child",
    "family",
    "families",
    "adult",
    "adults",
    "junior",
    "juniors",
    "youth",
    "senior",
    "seniors",
    "toddler",
    "toddlers",
    "baby",
    "babies",
    "beginner",
    "beginners",
    "girls",
    "boys",
    "women",
    "womens",
    "men",
    "mens",
    "ladies",
    "hour",
    "hours",
    "opening",
    "times",
    "timetable",
    "price",
    "prices",
    "cost",
    "booking",
    "book",
    "hire",
    "rental",
    "rent",
    "new",
    "olympic",
    "size",
    "full",
    "half",
    "small",
    "large",
    "big",
    "all",
    "weather",
    "fast",
    "quick",
    "can",
    "where",
    "what",
    "which",
    "how",
    "who",
    "is",
    "are",
    "there",
    "any",
    "some",
    "get",
    "go",
    "find",
    "want",
    "need",
    "do",
    "does",
    "you",
    "your",
    "we",
    "our",
    "this",
    "that",
    "these",
    "those",
    "from",
    "by",
    "into",
    "up",
    "out",
    "off",
    "about",
    "over",
    "under",
    "within",
    "close",
    "closest",
    "walking",
    "distance",
    "miles",
    "mile",
    "km",
    "city",
    "town",
    "area",
    "uk",
    "wild",
    "grass",
    "artificial",
    "synthetic",
    "clay",
    "hard",
    "sand",
    "water",
    "lane",
    "lanes",
    "term",
    "holiday",
    "summer",
    "winter",
    "evening",
    "morning",
    "weekly",
    "daily",
    "monthly",
    "drop",
    "casual",
    "pay",
    "as",
    "per",
    "friendly",
    "disabled",
    "accessible",
    "wheelchair",
    "themed",
    "personalised",
    "custom",
    "home",
    "pro",
    "2024",
    "2025",
    "2026",
    "2027",
    "24",
    "spots",
];

/// Prepositions that end a query's main noun phrase: the head noun is looked for before
/// the first of them ("football boots *for* kids").
pub const PREPOSITIONS: &[&str] = &[
    "in", "near", "at", "around", "for", "with", "on", "to", "from", "by", "within", "close",
];

/// Unambiguous EV-charging terms: OSM `amenity=charging_station` and its `socket:*` values,
/// Open Charge Map connection types and networks.
pub const EV_TERMS: &[&[&str]] = &[
    &["ev"],
    &["evs"],
    &["electric", "vehicle"],
    &["electric", "vehicles"],
    &["electric", "car"],
    &["electric", "cars"],
    &["electric", "van"],
    &["electric", "vans"],
    &["e", "car"],
    &["ecar"],
    &["plug", "in", "hybrid"],
    &["phev"],
    &["bev"],
    &["charging", "station"],
    &["charging", "point"],
    &["charging", "points"],
    &["charge", "point"],
    &["charge", "points"],
    &["chargepoint"],
    &["chargepoints"],
    &["charging", "hub"],
    &["supercharger"],
    &["superchargers"],
    &["chademo"],
    &["ccs"],
    &["type", "2"],
    &["type2"],
    &["type", "1"],
    &["rapid", "charger"],
    &["rapid", "chargers"],
    &["fast", "charger"],
    &["destination", "charger"],
    // Charging networks (Open Charge Map operators seen in Scotland and the UK).
    &["chargeplace"],
    &["charge", "place", "scotland"],
    &["pod", "point"],
    &["podpoint"],
    &["ionity"],
    &["instavolt"],
    &["gridserve"],
    &["bp", "pulse"],
    &["shell", "recharge"],
    &["osprey"],
    &["mfg", "ev", "power"],
    &["source", "london"],
];

/// Charging, without saying of what: an EV query when a vehicle is named too.
pub const CHARGE_WORDS: &[&[&str]] = &[
    &["charge"],
    &["charging"],
    &["charger"],
    &["chargers"],
    &["plug", "in"],
    &["plug"],
    &["top", "up"],
    &["recharge"],
    &["recharging"],
];

/// Vehicles: OSM access keys (`motorcar`, `motor_vehicle`, `goods`) and the makes and
/// models of battery electric cars sold in the UK.
pub const VEHICLES: &[&[&str]] = &[
    &["car"],
    &["cars"],
    &["van"],
    &["vans"],
    &["vehicle"],
    &["vehicles"],
    &["motorcar"],
    &["taxi"],
    &["tesla"],
    &["model", "3"],
    &["model", "y"],
    &["leaf"],
    &["zoe"],
    &["niro"],
    &["kia"],
    &["ioniq"],
    &["kona"],
    &["polestar"],
    &["mg4"],
    &["byd"],
    &["id3"],
    &["id", "3"],
    &["id4"],
    &["i3"],
    &["enyaq"],
    &["etron"],
    &["e", "tron"],
];

/// Gadgets that are charged too: with one of these, "charger" is not about vehicles.
pub const GADGETS: &[&str] = &[
    "phone",
    "mobile",
    "laptop",
    "usb",
    "wireless",
    "tablet",
    "iphone",
    "android",
    "watch",
    "battery",
    "batteries",
    "ipad",
    "headphones",
    "airpods",
    "toothbrush",
    "cable",
    "samsung",
    "macbook",
    "kindle",
    "vape",
    "camera",
    "drone",
];

/// Words that make "charge" a price or a legal term: "free of charge", "bank charges",
/// "charged with", "charge card".
pub const CHARGE_OTHER_SENSES: &[&str] = &[
    "of", "bank", "charged", "charges", "card", "fee", "fees", "with", "assault", "court", "police",
];

/// What an operator runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BrandKind {
    /// Sports and fitness venues.
    Sports,
    /// Shops (a sports shop chain is not a venue).
    Shop,
}

/// An operator, as OpenStreetMap's `brand=*` tags name it.
#[derive(Clone, Copy, Debug)]
pub struct Brand {
    /// The key reported ("powerleague", ...).
    pub key: &'static str,
    /// What people call it.
    pub words: &'static [&'static [&'static str]],
    /// What it runs.
    pub kind: BrandKind,
    /// Register layers holding its venues.
    pub register: &'static [&'static str],
    /// Its web domains, to recognise its records by their website.
    pub domains: &'static [&'static str],
    /// Whether it is a public operator (Edinburgh Leisure, the council's leisure trust).
    pub public: bool,
}

const fn brand(
    key: &'static str,
    words: &'static [&'static [&'static str]],
    register: &'static [&'static str],
    domains: &'static [&'static str],
) -> Brand {
    Brand {
        key,
        words,
        kind: BrandKind::Sports,
        register,
        domains,
        public: false,
    }
}

const fn shop_brand(
    key: &'static str,
    words: &'static [&'static [&'static str]],
    domains: &'static [&'static str],
) -> Brand {
    Brand {
        key,
        words,
        kind: BrandKind::Shop,
        register: &[],
        domains,
        public: false,
    }
}

/// The Goals Soccer Centres brand key; its word is matched by a rule of its own (see
/// `goals_is_brand` in `features.rs`).
pub const GOALS_BRAND: &str = "goals";

/// Operators.
pub const BRANDS: &[Brand] = &[
    brand(
        "powerleague",
        &[&["powerleague"], &["power", "league"]],
        &[PITCHES],
        &["powerleague.com", "powerleague.co.uk"],
    ),
    brand(
        "nuffield_health",
        &[&["nuffield"], &["nuffield", "health"]],
        &[FITNESS, POOLS],
        &["nuffieldhealth.com"],
    ),
    brand(
        "david_lloyd",
        &[&["david", "lloyd"], &["davidlloyd"]],
        &[FITNESS, POOLS, TENNIS_INDOOR],
        &["davidlloyd.co.uk"],
    ),
    brand(
        "puregym",
        &[&["puregym"], &["pure", "gym"]],
        &[FITNESS],
        &["puregym.com"],
    ),
    Brand {
        public: true,
        ..brand(
            "edinburgh_leisure",
            &[&["edinburgh", "leisure"]],
            &[HALLS, POOLS, FITNESS],
            &["edinburghleisure.co.uk"],
        )
    },
    brand(
        "the_gym_group",
        &[&["the", "gym", "group"], &["gym", "group"]],
        &[FITNESS],
        &["thegymgroup.com"],
    ),
    brand(
        "anytime_fitness",
        &[&["anytime", "fitness"]],
        &[FITNESS],
        &["anytimefitness.co.uk", "anytimefitness.com"],
    ),
    brand(
        "bannatyne",
        &[&["bannatyne"], &["bannatynes"]],
        &[FITNESS, POOLS],
        &["bannatyne.co.uk"],
    ),
    brand(
        "virgin_active",
        &[&["virgin", "active"]],
        &[FITNESS, POOLS],
        &["virginactive.co.uk"],
    ),
    brand(
        "jd_gyms",
        &[&["jd", "gyms"], &["jd", "gym"]],
        &[FITNESS],
        &["jdgyms.co.uk"],
    ),
    brand(
        "snap_fitness",
        &[&["snap", "fitness"]],
        &[FITNESS],
        &["snapfitness.com"],
    ),
    brand("game4padel", &[&["game4padel"]], &[], &["game4padel.co.uk"]),
    shop_brand(
        "sports_direct",
        &[&["sports", "direct"], &["sportsdirect"]],
        &["sportsdirect.com"],
    ),
    shop_brand("jd_sports", &[&["jd", "sports"]], &["jdsports.co.uk"]),
    shop_brand("decathlon", &[&["decathlon"]], &["decathlon.co.uk"]),
    shop_brand("go_outdoors", &[&["go", "outdoors"]], &["gooutdoors.co.uk"]),
    shop_brand(
        "evans_cycles",
        &[&["evans", "cycles"]],
        &["evanscycles.com"],
    ),
    shop_brand("halfords", &[&["halfords"]], &["halfords.com"]),
];

/// Words that, right after a leading "goals", mark the brand rather than the plural noun.
pub const GOALS_BRAND_NEXT: &[&str] = &["centre", "center", "soccer", "football", "5", "five"];

/// Named Edinburgh sports venues. Naming one makes the query a specific-venue query and a
/// sports query.
pub const KNOWN_VENUES: &[(&[&str], &str)] = &[
    (
        &["royal", "commonwealth", "pool"],
        "royal_commonwealth_pool",
    ),
    (&["commonwealth", "pool"], "royal_commonwealth_pool"),
    (
        &["meadowbank", "sports", "centre"],
        "meadowbank_sports_centre",
    ),
    (&["meadowbank", "stadium"], "meadowbank_sports_centre"),
    (&["murrayfield", "stadium"], "murrayfield_stadium"),
    (&["murrayfield", "ice", "rink"], "murrayfield_ice_rink"),
    (&["easter", "road", "stadium"], "easter_road_stadium"),
    (&["tynecastle"], "tynecastle_park"),
    (&["tynecastle", "park"], "tynecastle_park"),
    (&["hampden"], "hampden_park"),
    (&["hampden", "park"], "hampden_park"),
    (
        &["ainslie", "park", "leisure", "centre"],
        "ainslie_park_leisure_centre",
    ),
    (
        &["leith", "victoria", "swim", "centre"],
        "leith_victoria_swim_centre",
    ),
    (&["portobello", "swim", "centre"], "portobello_swim_centre"),
    (&["warrender", "baths"], "warrender_swim_centre"),
    (&["warrender", "swim", "centre"], "warrender_swim_centre"),
    (&["glenogle", "swim", "centre"], "glenogle_swim_centre"),
    (&["glenogle", "baths"], "glenogle_swim_centre"),
    (&["dalry", "swim", "centre"], "dalry_swim_centre"),
    (
        &["drumbrae", "leisure", "centre"],
        "drumbrae_leisure_centre",
    ),
    (
        &["gracemount", "leisure", "centre"],
        "gracemount_leisure_centre",
    ),
    (
        &["craiglockhart", "leisure", "centre"],
        "craiglockhart_leisure_centre",
    ),
    (
        &["craiglockhart", "tennis", "centre"],
        "craiglockhart_leisure_centre",
    ),
    (
        &["kirkliston", "leisure", "centre"],
        "kirkliston_leisure_centre",
    ),
    (&["jack", "kane"], "jack_kane_sports_centre"),
    (
        &["edinburgh", "international", "climbing", "arena"],
        "edinburgh_international_climbing_arena",
    ),
    (&["eica"], "edinburgh_international_climbing_arena"),
    (&["oriam"], "oriam"),
    (
        &["ratho", "climbing", "arena"],
        "edinburgh_international_climbing_arena",
    ),
];

/// The sport with this canonical name (the first entry when several OSM values share it).
pub fn sport_named(canonical: &str) -> Option<&'static Sport> {
    SPORTS.iter().find(|s| s.canonical == canonical)
}

/// Every entry of a canonical sport (several OSM values may share one).
pub fn sport_entries(canonical: &str) -> impl Iterator<Item = &'static Sport> + '_ {
    SPORTS.iter().filter(move |s| s.canonical == canonical)
}

/// The place type with this key.
pub fn place_type(key: &str) -> Option<&'static PlaceType> {
    PLACE_TYPES.iter().find(|p| p.key == key)
}

/// The category with this key.
pub fn category_named(key: &str) -> Option<&'static Category> {
    CATEGORIES.iter().find(|c| c.key == key)
}

/// The brand with this key.
pub fn brand_named(key: &str) -> Option<&'static Brand> {
    BRANDS.iter().find(|b| b.key == key)
}

/// Whether a sport can be done at a place type: the place suits any sport, or one of the
/// sport's grounds.
pub fn suits(place: &PlaceType, sport: &str) -> bool {
    place.grounds.is_empty()
        || sport_entries(sport).any(|s| s.grounds.iter().any(|g| place.grounds.contains(g)))
}

/// Register layers for a sport at a place type: the layers the two share, or either's
/// when the other has none.
pub fn register_layers_for(sport: &str, place: Option<&PlaceType>) -> Vec<&'static str> {
    let mut from_sport: Vec<&'static str> = Vec::new();
    for s in sport_entries(sport) {
        for l in s.register {
            if !from_sport.contains(l) {
                from_sport.push(l);
            }
        }
    }
    match place {
        Some(p) if !p.register.is_empty() && !from_sport.is_empty() => {
            let both: Vec<&'static str> = from_sport
                .iter()
                .copied()
                .filter(|l| p.register.contains(l))
                .collect();
            if both.is_empty() {
                from_sport
            } else {
                both
            }
        }
        _ => from_sport,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planner::features::tokenize;

    fn all_phrases() -> Vec<(&'static str, Vec<&'static str>)> {
        let mut out = Vec::new();
        for s in SPORTS {
            out.extend(s.words.iter().map(|w| ("SPORTS", w.to_vec())));
        }
        for p in PLACE_TYPES {
            out.extend(p.words.iter().map(|w| ("PLACE_TYPES", w.to_vec())));
        }
        for c in CATEGORIES {
            out.extend(c.words.iter().map(|w| ("CATEGORIES", w.to_vec())));
        }
        for n in NOT_PLACES {
            out.extend(n.words.iter().map(|w| ("NOT_PLACES", w.to_vec())));
        }
        for b in BRANDS {
            out.extend(b.words.iter().map(|w| ("BRANDS", w.to_vec())));
        }
        for (name, table) in [
            ("GENERIC_SPORT", GENERIC_SPORT),
            ("PLACE_WORDS", PLACE_WORDS),
            ("SALE_WORDS", SALE_WORDS),
            ("EV_TERMS", EV_TERMS),
            ("CHARGE_WORDS", CHARGE_WORDS),
            ("VEHICLES", VEHICLES),
        ] {
            out.extend(table.iter().map(|w| (name, w.to_vec())));
        }
        for (w, _) in KNOWN_VENUES {
            out.push(("KNOWN_VENUES", w.to_vec()));
        }
        out
    }

    #[test]
    fn every_phrase_is_already_normalised() {
        // A phrase that tokenize() would split or lowercase differently could never match.
        for (table, phrase) in all_phrases() {
            assert!(!phrase.is_empty(), "{table}: empty phrase");
            assert_eq!(tokenize(&phrase.join(" ")), phrase, "{table}: {phrase:?}");
        }
    }

    #[test]
    fn canonical_sports_are_the_extractors_vocabulary() {
        // Extraction maps every source's labels onto these names; a query's sport must be
        // one of them to compare with a record's.
        let extract = crate::extract::common::SPORTS;
        for s in SPORTS {
            let shared_with_records = extract.contains(&s.canonical);
            let query_only = matches!(
                s.canonical,
                "gaelic_games"
                    | "surfing"
                    | "parkour"
                    | "shooting"
                    | "cue_sports"
                    | "darts"
                    | "karting"
            );
            assert!(
                shared_with_records || query_only,
                "{} is neither an extraction sport nor a known query-only one",
                s.canonical
            );
        }
    }

    #[test]
    fn register_layers_are_the_registers_own() {
        let layers = [
            ATHLETICS,
            BOWLING_GREENS,
            FITNESS,
            GOLF,
            ICE,
            PITCHES,
            HALLS,
            SQUASH,
            POOLS,
            TENNIS_INDOOR,
            TENNIS_OUTDOOR,
        ];
        let used = SPORTS
            .iter()
            .flat_map(|s| s.register.iter())
            .chain(PLACE_TYPES.iter().flat_map(|p| p.register.iter()))
            .chain(BRANDS.iter().flat_map(|b| b.register.iter()));
        for l in used {
            assert!(layers.contains(l), "{l}");
        }
    }

    #[test]
    fn grounds_decide_which_places_suit_a_sport() {
        let pool = place_type("pool").unwrap();
        let court = place_type("court").unwrap();
        assert!(suits(pool, "swimming") && suits(pool, "water_polo"));
        assert!(!suits(pool, "football"), "a football pool is a bet");
        assert!(suits(court, "tennis") && suits(court, "squash"));
        assert!(!suits(court, "golf"));
        assert!(suits(place_type("sports centre").unwrap(), "climbing"));
    }

    #[test]
    fn register_layers_narrow_to_what_sport_and_place_share() {
        assert_eq!(
            register_layers_for("tennis", place_type("court")),
            vec![TENNIS_OUTDOOR, TENNIS_INDOOR]
        );
        assert_eq!(
            register_layers_for("swimming", place_type("leisure centre")),
            vec![POOLS]
        );
        assert!(register_layers_for("climbing", None).is_empty());
        assert!(register_layers_for("padel", place_type("court")).is_empty());
    }
}
