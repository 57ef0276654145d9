//! The baseline: the word-list query reader trustfold used before issue 15, kept verbatim
//! (from `src/planner/features.rs` at commit 384864a, its unit tests left out) so the
//! bench can print its figures beside the current reader's in the same run. Its planner
//! decided "call the sports register" exactly when `is_sports` was true and "call Open
//! Charge Map" when `ev` was; that is what the bench scores.
#![allow(dead_code)]

use serde::{Deserialize, Serialize};

/// Shortest keyword for which the plural forms (`+s`, `+es`) also match; see the module
/// docs. Two-letter keywords such as "ev" would otherwise match unrelated words ("eves").
pub const PLURAL_MIN_CHARS: usize = 3;

/// A keyword phrase and the canonical name reported when it matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Term {
    /// The tokens the phrase must match, in order, already normalised (lowercase, no
    /// apostrophes).
    pub phrase: &'static [&'static str],
    /// The name reported in [`QueryFeatures`]; several phrases may share one.
    pub canonical: &'static str,
}

/// Shorthand for table entries.
const fn t(phrase: &'static [&'static str], canonical: &'static str) -> Term {
    Term { phrase, canonical }
}

/// Context that cancels a match of `canonical`: a token right `before` it or right `after`
/// it (each compared with plural tolerance).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NegativeContext {
    /// The canonical name this context cancels.
    pub canonical: &'static str,
    /// Tokens that cancel the match when they come immediately before it.
    pub before: &'static [&'static str],
    /// Tokens that cancel the match when they come immediately after it.
    pub after: &'static [&'static str],
}

/// Shorthand for negative context entries.
const fn neg(
    canonical: &'static str,
    before: &'static [&'static str],
    after: &'static [&'static str],
) -> NegativeContext {
    NegativeContext {
        canonical,
        before,
        after,
    }
}

/// Sport terms, canonicalised (soccer -> football).
///
/// Deliberately absent: bare "club" (night, book, comedy clubs), bare "running" ("running
/// water"), bare "track" ("track my parcel"), bare "leisure", "snooker"/"darts"/"pool"
/// (cue and pub games have no sportscotland facilities) and bare "fencing" (garden fencing
/// dominates local searches; "fencing club" is kept). Generic words the seed asks for
/// ("sport", "league", "tournament") are reported under their own names.
pub const SPORT_TERMS: &[Term] = &[
    t(&["football"], "football"),
    t(&["soccer"], "football"),
    t(&["futsal"], "football"),
    t(&["five", "a", "side"], "football"),
    t(&["5", "a", "side"], "football"),
    t(&["american", "football"], "american_football"),
    t(&["rugby"], "rugby"),
    t(&["cricket"], "cricket"),
    t(&["hockey"], "hockey"),
    t(&["ice", "hockey"], "ice_hockey"),
    t(&["shinty"], "shinty"),
    t(&["lacrosse"], "lacrosse"),
    t(&["tennis"], "tennis"),
    t(&["table", "tennis"], "table_tennis"),
    t(&["ping", "pong"], "table_tennis"),
    t(&["padel"], "padel"),
    t(&["squash"], "squash"),
    t(&["badminton"], "badminton"),
    t(&["pickleball"], "pickleball"),
    t(&["basketball"], "basketball"),
    t(&["netball"], "netball"),
    t(&["volleyball"], "volleyball"),
    t(&["handball"], "handball"),
    t(&["dodgeball"], "dodgeball"),
    t(&["baseball"], "baseball"),
    t(&["softball"], "softball"),
    t(&["swimming"], "swimming"),
    t(&["swim"], "swimming"),
    t(&["aquatics"], "swimming"),
    t(&["aquafit"], "swimming"),
    t(&["diving"], "diving"),
    t(&["water", "polo"], "water_polo"),
    t(&["golf"], "golf"),
    t(&["pitch", "and", "putt"], "golf"),
    t(&["athletics"], "athletics"),
    t(&["parkrun"], "athletics"),
    t(&["park", "run"], "athletics"),
    t(&["running", "club"], "athletics"),
    t(&["running", "track"], "athletics"),
    t(&["cycling"], "cycling"),
    t(&["bmx"], "cycling"),
    t(&["mountain", "biking"], "cycling"),
    t(&["rowing"], "rowing"),
    t(&["sailing"], "sailing"),
    t(&["canoe"], "canoeing"),
    t(&["canoeing"], "canoeing"),
    t(&["kayak"], "canoeing"),
    t(&["kayaking"], "canoeing"),
    t(&["paddleboarding"], "paddleboarding"),
    t(&["paddle", "boarding"], "paddleboarding"),
    t(&["climbing"], "climbing"),
    t(&["bouldering"], "climbing"),
    t(&["gymnastics"], "gymnastics"),
    t(&["trampolining"], "trampolining"),
    t(&["trampoline", "park"], "trampolining"),
    t(&["boxing"], "boxing"),
    t(&["kickboxing"], "boxing"),
    t(&["martial", "arts"], "martial_arts"),
    t(&["judo"], "martial_arts"),
    t(&["karate"], "martial_arts"),
    t(&["taekwondo"], "martial_arts"),
    t(&["jiu", "jitsu"], "martial_arts"),
    t(&["jiujitsu"], "martial_arts"),
    t(&["mma"], "martial_arts"),
    t(&["wrestling"], "wrestling"),
    t(&["skating"], "skating"),
    t(&["ice", "skating"], "skating"),
    t(&["skateboarding"], "skating"),
    t(&["curling"], "curling"),
    t(&["bowling"], "bowling"),
    t(&["lawn", "bowls"], "bowling"),
    t(&["ten", "pin"], "bowling"),
    t(&["tenpin"], "bowling"),
    t(&["ski"], "skiing"),
    t(&["skiing"], "skiing"),
    t(&["snowsports"], "skiing"),
    t(&["snowboarding"], "skiing"),
    t(&["archery"], "archery"),
    t(&["fencing", "club"], "fencing"),
    t(&["horse", "riding"], "equestrian"),
    t(&["riding", "school"], "equestrian"),
    t(&["equestrian"], "equestrian"),
    t(&["orienteering"], "orienteering"),
    t(&["triathlon"], "triathlon"),
    t(&["fitness"], "fitness"),
    t(&["crossfit"], "fitness"),
    t(&["pilates"], "fitness"),
    t(&["yoga"], "fitness"),
    t(&["zumba"], "fitness"),
    t(&["aerobics"], "fitness"),
    t(&["spin", "class"], "fitness"),
    t(&["sport"], "sport"),
    t(&["league"], "league"),
    t(&["tournament"], "tournament"),
];

/// Contexts in which a sport word means something else.
pub const SPORT_NEGATIVES: &[NegativeContext] = &[
    // A medical complaint: people want a physio, not a court.
    neg("tennis", &[], &["elbow"]),
    // Vegetables and soft drinks.
    neg(
        "squash",
        &[
            "butternut",
            "orange",
            "lemon",
            "summer",
            "winter",
            "acorn",
            "spaghetti",
        ],
        &["soup", "recipe", "drink", "cordial"],
    ),
    // The 26th of December and its sales.
    neg("boxing", &[], &["day"]),
    // Hairdressing.
    neg("curling", &["hair"], &["iron", "tong", "tongs", "wand"]),
    // The Volkswagen.
    neg(
        "golf",
        &["vw", "volkswagen"],
        &["gti", "tdi", "gtd", "estate"],
    ),
    // Gardening.
    neg("climbing", &[], &["plant", "rose", "frame"]),
    // "league of legends" (a video game), "league of nations", "ivy league" (universities).
    neg("league", &["ivy"], &["of"]),
    // Tournaments of games that are not sports.
    neg(
        "tournament",
        &[
            "chess", "poker", "bridge", "esports", "quiz", "scrabble", "gaming", "fortnite",
        ],
        &[],
    ),
    // "sports car", "sports bar" (a pub), "sports direct" (a shop), "sports news", "blood
    // sport".
    neg(
        "sport",
        &["blood"],
        &["car", "bar", "direct", "news", "betting", "bra"],
    ),
    // Professional regulation, not exercise.
    neg("fitness", &[], &["to"]),
];

/// Words for the kind of place a sports venue is, canonicalised (swimming pool -> pool).
///
/// Every entry is a sports venue type, so any match makes a query a sports query.
/// Deliberately absent: bare "centre" ("shopping centre"), bare "club", bare "park", bare
/// "hall", bare "field" and bare "track": each is mostly not about sport.
pub const VENUE_WORDS: &[Term] = &[
    t(&["leisure", "centre"], "leisure centre"),
    t(&["leisure", "center"], "leisure centre"),
    t(&["leisure", "club"], "leisure centre"),
    t(&["sports", "centre"], "sports centre"),
    t(&["sports", "center"], "sports centre"),
    t(&["sport", "centre"], "sports centre"),
    t(&["sports", "complex"], "sports centre"),
    t(&["sports", "hall"], "sports hall"),
    t(&["swim", "centre"], "swim centre"),
    t(&["swimming", "centre"], "swim centre"),
    t(&["swim", "center"], "swim centre"),
    t(&["tennis", "centre"], "tennis centre"),
    t(&["soccer", "centre"], "soccer centre"),
    t(&["fitness", "centre"], "fitness centre"),
    t(&["climbing", "centre"], "climbing wall"),
    t(&["climbing", "wall"], "climbing wall"),
    t(&["arena"], "arena"),
    t(&["stadium"], "stadium"),
    t(&["stadia"], "stadium"),
    t(&["pitch"], "pitch"),
    t(&["astroturf"], "pitch"),
    t(&["pool"], "pool"),
    t(&["swimming", "pool"], "pool"),
    t(&["leisure", "pool"], "pool"),
    t(&["lido"], "lido"),
    t(&["court"], "court"),
    t(&["gym"], "gym"),
    t(&["gymnasium"], "gym"),
    t(&["health", "club"], "health club"),
    t(&["ice", "rink"], "ice rink"),
    t(&["velodrome"], "velodrome"),
    t(&["playing", "field"], "playing field"),
    t(&["sports", "ground"], "playing field"),
    t(&["golf", "course"], "golf course"),
    t(&["driving", "range"], "driving range"),
    t(&["skatepark"], "skatepark"),
    t(&["skate", "park"], "skatepark"),
    t(&["running", "track"], "track"),
    t(&["athletics", "track"], "track"),
    t(&["bowling", "green"], "bowling green"),
    t(&["bowling", "alley"], "bowling alley"),
];

/// Contexts in which a venue word is not a sports venue.
pub const VENUE_NEGATIVES: &[NegativeContext] = &[
    // Courts of law and food courts. "court of session" and "court house" by what follows.
    neg(
        "court",
        &[
            "food",
            "supreme",
            "high",
            "sheriff",
            "law",
            "crown",
            "county",
            "magistrates",
            "district",
            "criminal",
            "civil",
            "family",
            "appeal",
            "appeals",
            "claims",
            "youth",
            "juvenile",
            "earls",
            "hampton",
            "kangaroo",
        ],
        &[
            "house", "of", "order", "case", "hearing", "room", "date", "summons", "fine", "record",
            "martial", "yard",
        ],
    ),
    // Car sharing, billiards, genetics, betting ("football pools") and office jargon.
    neg(
        "pool",
        &[
            "car", "vehicle", "gene", "rock", "tide", "typing", "motor", "talent", "labour",
            "labor", "football", "betting", "prize", "dead", "mining", "data",
        ],
        &["table", "cue", "hall", "car", "ball", "shark"],
    ),
    // Sales talk, campsites and darkness.
    neg(
        "pitch",
        &[
            "sales", "elevator", "investor", "startup", "camping", "caravan", "tent", "campsite",
        ],
        &["black", "dark", "deck", "perfect", "pine"],
    ),
    // Playground equipment.
    neg("gym", &["jungle"], &[]),
];

/// Sports and fitness operators, keyed by brand (the key is what [`QueryFeatures::brands`]
/// reports). Every entry is a sports or fitness operator: a brand match makes a query a
/// sports query, so a non-sports brand must not be added here without changing that rule.
///
/// "goals" is not listed: it is matched by a rule of its own (`goals_is_brand`). "nuffield" alone is the
/// brand (the issue asks for it); the think tank and college are negative contexts.
pub const BRANDS: &[Term] = &[
    t(&["powerleague"], "powerleague"),
    t(&["power", "league"], "powerleague"),
    t(&["nuffield"], "nuffield_health"),
    t(&["nuffield", "health"], "nuffield_health"),
    t(&["david", "lloyd"], "david_lloyd"),
    t(&["davidlloyd"], "david_lloyd"),
    t(&["puregym"], "puregym"),
    t(&["pure", "gym"], "puregym"),
    t(&["edinburgh", "leisure"], "edinburgh_leisure"),
    t(&["the", "gym", "group"], "the_gym_group"),
    t(&["gym", "group"], "the_gym_group"),
    t(&["anytime", "fitness"], "anytime_fitness"),
    t(&["bannatyne"], "bannatyne"),
    t(&["bannatynes"], "bannatyne"),
    t(&["virgin", "active"], "virgin_active"),
    t(&["jd", "gyms"], "jd_gyms"),
    t(&["snap", "fitness"], "snap_fitness"),
    t(&["game4padel"], "game4padel"),
];

/// The canonical key reported for the Goals Soccer Centres brand.
pub const GOALS_BRAND: &str = "goals";

/// Words that, right after a leading "goals", mark the brand rather than the plural noun.
pub const GOALS_BRAND_NEXT: &[&str] = &["centre", "center", "soccer", "football", "5", "five"];

/// Brands that are public operators. Edinburgh Leisure is the council's arm's-length
/// leisure trust, so council data is appropriate for it; every other brand is a private
/// business, for which seed 000 Appendix A says to avoid council data.
pub const PUBLIC_BRANDS: &[&str] = &["edinburgh_leisure"];

/// Contexts in which a brand phrase names something else.
pub const BRAND_NEGATIVES: &[NegativeContext] = &[
    // The Nuffield Trust and Foundation (health think tanks) and Nuffield College, Oxford.
    neg(
        "nuffield_health",
        &[],
        &["trust", "foundation", "college", "department", "place"],
    ),
    // The Prime Minister.
    neg("david_lloyd", &[], &["george"]),
    // "Edinburgh Leisure centres" is the category "leisure centres in Edinburgh"; reading
    // it as the brand would hide the venue word and the category intent.
    neg(
        "edinburgh_leisure",
        &[],
        &["centre", "center", "club", "pool"],
    ),
];

/// Electric-vehicle charging terms. Canonical names are not reported (only
/// [`QueryFeatures::ev`] is), but negative contexts refer to them.
pub const EV_TERMS: &[Term] = &[
    t(&["ev"], "ev"),
    t(&["evs"], "ev"),
    t(&["electric", "vehicle"], "ev"),
    t(&["electric", "car"], "ev"),
    t(&["electric", "van"], "ev"),
    t(&["plug", "in", "hybrid"], "ev"),
    t(&["charging"], "charging"),
    t(&["charger"], "charging"),
    t(&["charge", "point"], "charging"),
    t(&["chargepoint"], "charging"),
    t(&["supercharger"], "charging"),
    t(&["chademo"], "charging"),
    // Charging networks seen in Edinburgh.
    t(&["chargeplace"], "charging"),
    t(&["pod", "point"], "charging"),
    t(&["podpoint"], "charging"),
    t(&["ionity"], "charging"),
    t(&["instavolt"], "charging"),
    t(&["gridserve"], "charging"),
];

/// Contexts in which "charging"/"charger" is about gadgets or law, not vehicles.
pub const EV_NEGATIVES: &[NegativeContext] = &[neg(
    "charging",
    &[
        "phone", "mobile", "laptop", "usb", "wireless", "tablet", "iphone", "android", "watch",
        "battery",
    ],
    &["order"],
)];

/// Edinburgh places: the city, its districts and a few landmarks, canonical lowercase.
///
/// City of Edinburgh council area only: Musselburgh, Dalkeith, Shawfair, Livingston and
/// the other neighbouring towns are outside it (East, Mid and West Lothian), so council
/// data does not cover them; the tests pin that list (`NOT_EDINBURGH_CITY`). Names shared
/// with other cities ("west end", "trinity") are kept: trustfold is an Edinburgh directory,
/// so the Edinburgh reading is the likely one, and a false hit costs one free council call.
pub const EDINBURGH_AREAS: &[Term] = &[
    t(&["edinburgh"], "edinburgh"),
    t(&["old", "town"], "old town"),
    t(&["new", "town"], "new town"),
    t(&["leith"], "leith"),
    t(&["leith", "walk"], "leith walk"),
    t(&["portobello"], "portobello"),
    t(&["joppa"], "joppa"),
    t(&["morningside"], "morningside"),
    t(&["stockbridge"], "stockbridge"),
    t(&["meadowbank"], "meadowbank"),
    t(&["sighthill"], "sighthill"),
    t(&["gorgie"], "gorgie"),
    t(&["dalry"], "dalry"),
    t(&["corstorphine"], "corstorphine"),
    t(&["craiglockhart"], "craiglockhart"),
    t(&["marchmont"], "marchmont"),
    t(&["bruntsfield"], "bruntsfield"),
    t(&["newington"], "newington"),
    t(&["tollcross"], "tollcross"),
    t(&["fountainbridge"], "fountainbridge"),
    t(&["haymarket"], "haymarket"),
    t(&["murrayfield"], "murrayfield"),
    t(&["ratho"], "ratho"),
    t(&["currie"], "currie"),
    t(&["balerno"], "balerno"),
    t(&["juniper", "green"], "juniper green"),
    t(&["colinton"], "colinton"),
    t(&["oxgangs"], "oxgangs"),
    t(&["fairmilehead"], "fairmilehead"),
    t(&["liberton"], "liberton"),
    t(&["gilmerton"], "gilmerton"),
    t(&["craigmillar"], "craigmillar"),
    t(&["niddrie"], "niddrie"),
    t(&["duddingston"], "duddingston"),
    t(&["restalrig"], "restalrig"),
    t(&["lochend"], "lochend"),
    t(&["abbeyhill"], "abbeyhill"),
    t(&["craigentinny"], "craigentinny"),
    t(&["granton"], "granton"),
    t(&["trinity"], "trinity"),
    t(&["newhaven"], "newhaven"),
    t(&["pilton"], "pilton"),
    t(&["muirhouse"], "muirhouse"),
    t(&["drylaw"], "drylaw"),
    t(&["davidsons", "mains"], "davidsons mains"),
    t(&["barnton"], "barnton"),
    t(&["cramond"], "cramond"),
    t(&["blackhall"], "blackhall"),
    t(&["ravelston"], "ravelston"),
    t(&["comely", "bank"], "comely bank"),
    t(&["inverleith"], "inverleith"),
    t(&["canonmills"], "canonmills"),
    t(&["broughton"], "broughton"),
    t(&["pilrig"], "pilrig"),
    t(&["wester", "hailes"], "wester hailes"),
    t(&["saughton"], "saughton"),
    t(&["stenhouse"], "stenhouse"),
    t(&["broomhouse"], "broomhouse"),
    t(&["south", "gyle"], "south gyle"),
    t(&["gyle"], "south gyle"),
    t(&["kirkliston"], "kirkliston"),
    t(&["south", "queensferry"], "south queensferry"),
    t(&["queensferry"], "south queensferry"),
    t(&["west", "end"], "west end"),
    t(&["grange"], "grange"),
    t(&["prestonfield"], "prestonfield"),
    t(&["polwarth"], "polwarth"),
    t(&["merchiston"], "merchiston"),
    t(&["sciennes"], "sciennes"),
    t(&["dean", "village"], "dean village"),
    t(&["canongate"], "canongate"),
    t(&["silverknowes"], "silverknowes"),
    t(&["clermiston"], "clermiston"),
    t(&["east", "craigs"], "east craigs"),
    t(&["kingsknowe"], "kingsknowe"),
    t(&["slateford"], "slateford"),
    t(&["hermiston"], "hermiston"),
    t(&["holyrood"], "holyrood"),
    t(&["easter", "road"], "easter road"),
    t(&["royal", "mile"], "royal mile"),
    t(&["princes", "street"], "princes street"),
    t(&["st", "james", "quarter"], "st james quarter"),
    t(&["saint", "james", "quarter"], "st james quarter"),
    t(&["the", "meadows"], "the meadows"),
    t(&["meadows"], "the meadows"),
    t(&["arthurs", "seat"], "arthurs seat"),
    t(&["calton", "hill"], "calton hill"),
];

/// Named Edinburgh sports venues. Naming one makes the query a specific-venue query and a
/// sports query (every entry is a sports venue).
pub const KNOWN_VENUES: &[Term] = &[
    t(
        &["royal", "commonwealth", "pool"],
        "royal_commonwealth_pool",
    ),
    t(&["commonwealth", "pool"], "royal_commonwealth_pool"),
    t(
        &["meadowbank", "sports", "centre"],
        "meadowbank_sports_centre",
    ),
    t(&["meadowbank", "stadium"], "meadowbank_sports_centre"),
    t(&["murrayfield", "stadium"], "murrayfield_stadium"),
    t(&["murrayfield", "ice", "rink"], "murrayfield_ice_rink"),
    t(&["easter", "road", "stadium"], "easter_road_stadium"),
    t(&["tynecastle"], "tynecastle_park"),
    t(&["tynecastle", "park"], "tynecastle_park"),
    t(
        &["ainslie", "park", "leisure", "centre"],
        "ainslie_park_leisure_centre",
    ),
    t(
        &["leith", "victoria", "swim", "centre"],
        "leith_victoria_swim_centre",
    ),
    t(&["portobello", "swim", "centre"], "portobello_swim_centre"),
    t(&["warrender", "baths"], "warrender_swim_centre"),
    t(&["warrender", "swim", "centre"], "warrender_swim_centre"),
    t(&["glenogle", "swim", "centre"], "glenogle_swim_centre"),
    t(&["glenogle", "baths"], "glenogle_swim_centre"),
    t(&["dalry", "swim", "centre"], "dalry_swim_centre"),
    t(
        &["drumbrae", "leisure", "centre"],
        "drumbrae_leisure_centre",
    ),
    t(
        &["gracemount", "leisure", "centre"],
        "gracemount_leisure_centre",
    ),
    t(
        &["craiglockhart", "leisure", "centre"],
        "craiglockhart_leisure_centre",
    ),
    t(
        &["craiglockhart", "tennis", "centre"],
        "craiglockhart_leisure_centre",
    ),
    t(
        &["kirkliston", "leisure", "centre"],
        "kirkliston_leisure_centre",
    ),
    t(&["jack", "kane"], "jack_kane_sports_centre"),
    t(&["oriam"], "oriam"),
    t(
        &["edinburgh", "international", "climbing", "arena"],
        "edinburgh_international_climbing_arena",
    ),
    t(&["eica"], "edinburgh_international_climbing_arena"),
];

/// Non-sports place categories, so that "pizza restaurant edinburgh" is recognised as a
/// category search (and not mistaken for a sports one or for nothing at all).
pub const CATEGORY_TERMS: &[Term] = &[
    t(&["restaurant"], "restaurant"),
    t(&["pizzeria"], "restaurant"),
    t(&["bistro"], "restaurant"),
    t(&["cafe"], "cafe"),
    t(&["café"], "cafe"),
    t(&["coffee", "shop"], "cafe"),
    t(&["pub"], "pub"),
    t(&["bar"], "pub"),
    t(&["takeaway"], "takeaway"),
    t(&["hotel"], "hotel"),
    t(&["hostel"], "hotel"),
    t(&["shop"], "shop"),
    t(&["store"], "shop"),
    t(&["supermarket"], "shop"),
    t(&["shopping", "centre"], "shop"),
    t(&["retail", "park"], "shop"),
    t(&["food", "court"], "food court"),
    t(&["dentist"], "dentist"),
    t(&["dental", "practice"], "dentist"),
    t(&["doctor"], "doctor"),
    t(&["gp", "surgery"], "doctor"),
    t(&["health", "centre"], "doctor"),
    t(&["medical", "practice"], "doctor"),
    t(&["pharmacy"], "pharmacy"),
    t(&["chemist"], "pharmacy"),
    t(&["hospital"], "hospital"),
    t(&["school"], "school"),
    t(&["nursery"], "school"),
    t(&["library"], "library"),
    t(&["libraries"], "library"),
    t(&["museum"], "museum"),
    t(&["gallery"], "museum"),
    t(&["park"], "park"),
    t(&["playground"], "playground"),
    t(&["play", "park"], "playground"),
    t(&["community", "centre"], "community centre"),
    t(&["community", "center"], "community centre"),
    t(&["church"], "church"),
    t(&["cinema"], "cinema"),
    t(&["theatre"], "theatre"),
    t(&["car", "park"], "car park"),
    t(&["post", "office"], "post office"),
    t(&["bank"], "bank"),
    t(&["hairdresser"], "hairdresser"),
    t(&["barber"], "hairdresser"),
    t(&["vet"], "vet"),
    t(&["garage"], "garage"),
    t(&["petrol", "station"], "petrol station"),
    t(&["public", "toilet"], "public toilet"),
    t(&["allotment"], "allotment"),
    t(&["recycling", "centre"], "recycling centre"),
    t(&["cemetery"], "cemetery"),
    t(&["council"], "council"),
];

/// Categories that are public facilities or council services (seed 000 Appendix A: the
/// council is the source for "public facility info, council services").
pub const PUBLIC_CATEGORIES: &[&str] = &[
    "library",
    "park",
    "playground",
    "community centre",
    "school",
    "public toilet",
    "allotment",
    "recycling centre",
    "cemetery",
    "council",
];

/// Venue words whose venues are, in Edinburgh, usually public (council or Edinburgh Leisure):
/// leisure centres, pools, pitches and courts in parks, playing fields, council golf courses.
pub const PUBLIC_VENUE_WORDS: &[&str] = &[
    "leisure centre",
    "sports centre",
    "sports hall",
    "swim centre",
    "pool",
    "pitch",
    "court",
    "playing field",
    "golf course",
    "skatepark",
    "bowling green",
    "track",
];

/// Words that qualify a search rather than name a place ("indoor", "near me", "24 hour").
/// Used only to tell "indoor pool edinburgh" (a category) from "royal commonwealth pool" (a
/// named venue): a token that is none of these and no other known word is taken to be part
/// of a name.
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
    "for",
    "to",
    "of",
    "and",
    "with",
    "best",
    "top",
    "good",
    "cheap",
    "free",
    "open",
    "now",
    "today",
    "tonight",
    "local",
    "public",
    "indoor",
    "outdoor",
    "heated",
    "covered",
    "floodlit",
    "kids",
    "children",
    "childrens",
    "family",
    "adult",
    "adults",
    "junior",
    "hour",
    "hours",
    "opening",
    "times",
    "timetable",
    "price",
    "prices",
    "booking",
    "book",
    "hire",
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
    "rapid",
    "fast",
    "lessons",
    "classes",
    "membership",
];

/// What a query is looking for, which decides how broadly to search.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QueryIntent {
    /// Names a brand ("powerleague portobello"): several sources, to find and validate
    /// every branch.
    Brand,
    /// A kind of place ("tennis courts edinburgh"): broad discovery.
    Category,
    /// One named place ("royal commonwealth pool"): targeted enrichment.
    SpecificVenue,
    /// None of the above.
    General,
}

impl QueryIntent {
    /// The intent's wire name, identical to its serde form.
    pub const fn as_str(self) -> &'static str {
        match self {
            QueryIntent::Brand => "brand",
            QueryIntent::Category => "category",
            QueryIntent::SpecificVenue => "specific_venue",
            QueryIntent::General => "general",
        }
    }
}

impl std::fmt::Display for QueryIntent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Everything the planner knows about a query. Lists keep the order of first appearance
/// and hold no duplicates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryFeatures {
    /// The normalised tokens (see [`tokenize`]).
    pub tokens: Vec<String>,
    /// Sport terms found, canonical ("football", "tennis", "swimming", ...).
    pub sports: Vec<String>,
    /// Brand keys found ("powerleague", "goals", "nuffield_health", ...).
    pub brands: Vec<String>,
    /// Sports venue words found ("leisure centre", "pitch", "pool", ...).
    pub venue_words: Vec<String>,
    /// Named Edinburgh sports venues found ("royal_commonwealth_pool", ...).
    #[serde(default)]
    pub venues: Vec<String>,
    /// Non-sports place categories found ("restaurant", "library", ...).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Edinburgh places found, canonical lowercase ("edinburgh", "portobello", ...).
    pub areas: Vec<String>,
    /// Whether the query names Edinburgh or a place in it.
    pub edinburgh: bool,
    /// Whether the query is about electric-vehicle charging.
    pub ev: bool,
    /// Whether the query is about sport: a sport term, a sports brand, a sports venue word
    /// or a named sports venue.
    pub is_sports: bool,
    /// Brand, category, specific venue or general.
    pub intent: QueryIntent,
}

impl QueryFeatures {
    /// Brands found that are private businesses (not in [`PUBLIC_BRANDS`]). A key this
    /// version does not know (from an old event, say) counts as private: avoiding council
    /// data for a business is the cautious side of seed 000 Appendix A.
    pub fn private_brands(&self) -> Vec<&str> {
        self.brands
            .iter()
            .map(String::as_str)
            .filter(|b| !PUBLIC_BRANDS.contains(b))
            .collect()
    }

    /// Public facility types named by the query: public venue words, public categories and
    /// public operators such as Edinburgh Leisure.
    pub fn public_facilities(&self) -> Vec<&str> {
        let venue = self
            .venue_words
            .iter()
            .filter(|w| PUBLIC_VENUE_WORDS.contains(&w.as_str()));
        let category = self
            .categories
            .iter()
            .filter(|c| PUBLIC_CATEGORIES.contains(&c.as_str()));
        let brand = self
            .brands
            .iter()
            .filter(|b| PUBLIC_BRANDS.contains(&b.as_str()));
        venue
            .chain(category)
            .chain(brand)
            .map(String::as_str)
            .collect()
    }
}

/// Splits a query into normalised tokens: Unicode lowercase, apostrophes dropped (so
/// "David Lloyd's" gives "lloyds" and "St James’ Quarter" gives "james"), and every other
/// non-alphanumeric character a separator ("5-a-side" gives "5", "a", "side").
pub fn tokenize(query: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    for c in query.chars() {
        if is_apostrophe(c) {
            continue;
        }
        if c.is_alphanumeric() {
            current.extend(c.to_lowercase());
        } else if !current.is_empty() {
            tokens.push(std::mem::take(&mut current));
        }
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens
}

/// Straight, curly and modifier apostrophes, and the backtick and acute accent people type
/// in their place.
fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2019}' | '\u{2018}' | '\u{02BC}' | '`' | '\u{00B4}'
    )
}

/// Reads the features of a query. Pure and cheap (linear in the number of tokens times the
/// size of the tables); callers limit the query's length.
pub fn extract_features(query: &str) -> QueryFeatures {
    let tokens = tokenize(query);

    let sport_hits = find_hits(&tokens, SPORT_TERMS, SPORT_NEGATIVES);
    let venue_hits = find_hits(&tokens, VENUE_WORDS, VENUE_NEGATIVES);
    let area_hits = find_hits(&tokens, EDINBURGH_AREAS, &[]);
    let known_hits = find_hits(&tokens, KNOWN_VENUES, &[]);
    let category_hits = find_hits(&tokens, CATEGORY_TERMS, &[]);
    let ev_hits = find_hits(&tokens, EV_TERMS, EV_NEGATIVES);
    let mut brand_hits = find_hits(&tokens, BRANDS, BRAND_NEGATIVES);
    if let Some(start) = goals_is_brand(&tokens, &area_hits) {
        brand_hits.push(Hit {
            start,
            end: start + 1,
            canonical: GOALS_BRAND,
            plural: false,
        });
        brand_hits.sort_by_key(|h| h.start);
    }

    let sports = canonicals(&sport_hits);
    let brands = canonicals(&brand_hits);
    let venue_words = canonicals(&venue_hits);
    let venues = canonicals(&known_hits);
    let categories = canonicals(&category_hits);
    let areas = canonicals(&area_hits);
    let ev = !ev_hits.is_empty();
    let is_sports =
        !sports.is_empty() || !brands.is_empty() || !venue_words.is_empty() || !venues.is_empty();

    // Every token some table recognised; the rest may be part of a venue's name.
    let recognised: Vec<Hit> = [
        &sport_hits,
        &venue_hits,
        &area_hits,
        &category_hits,
        &ev_hits,
        &brand_hits,
    ]
    .into_iter()
    .flatten()
    .copied()
    .collect();

    let intent = if !brands.is_empty() {
        QueryIntent::Brand
    } else if !venues.is_empty() || names_a_venue(&tokens, &venue_hits, &area_hits, &recognised) {
        QueryIntent::SpecificVenue
    } else if !sports.is_empty() || !venue_words.is_empty() || !categories.is_empty() || ev {
        QueryIntent::Category
    } else {
        QueryIntent::General
    };

    QueryFeatures {
        tokens,
        sports,
        brands,
        venue_words,
        venues,
        categories,
        edinburgh: !areas.is_empty(),
        areas,
        ev,
        is_sports,
        intent,
    }
}

/// Whether the query reads as one named place: a venue word in the singular ("pool", not
/// "pools") with a name before it. A name is either a token no table recognises and that is
/// not a [`MODIFIER_WORDS`] qualifier ("ainslie park leisure centre", "royal commonwealth
/// pool"), or an Edinburgh district right before the venue word ("meadowbank sports
/// centre"). The city itself does not count: "edinburgh leisure centre" is a category.
fn names_a_venue(
    tokens: &[String],
    venue_hits: &[Hit],
    area_hits: &[Hit],
    recognised_hits: &[Hit],
) -> bool {
    // One pass over the hits, then one over the tokens: linear, whatever the query.
    let mut recognised = vec![false; tokens.len()];
    for hit in recognised_hits {
        for slot in recognised.iter_mut().take(hit.end).skip(hit.start) {
            *slot = true;
        }
    }
    let first_name_token = tokens.iter().zip(&recognised).position(|(token, known)| {
        !known
            && !MODIFIER_WORDS.contains(&token.as_str())
            && !token.chars().any(|c| c.is_ascii_digit())
    });
    venue_hits.iter().filter(|v| !v.plural).any(|v| {
        let named = first_name_token.is_some_and(|i| i < v.start);
        let district_before = area_hits
            .iter()
            .any(|a| a.end == v.start && a.canonical != "edinburgh");
        named || district_before
    })
}

/// The Goals Soccer Centres rule. "goals" is the brand when
///
/// * it is followed by "soccer" or "football" anywhere in the query ("goals soccer
///   centre", "new goals football pitches"), or
/// * it is the first token and is alone, or followed by a word in [`GOALS_BRAND_NEXT`] or
///   by an Edinburgh place ("goals", "goals centre", "goals edinburgh", "goals leith").
///
/// Otherwise it is the ordinary plural: "fitness goals edinburgh", "goals scored", "5 a side
/// goals for sale". Brand names lead queries, which is why position matters. A preceding
/// "soccer" or "football" is not taken as the brand ("football goals" is usually the
/// equipment), and such a query is a sports query through "football" anyway. Returns the
/// token index of the brand match.
fn goals_is_brand(tokens: &[String], area_hits: &[Hit]) -> Option<usize> {
    tokens.iter().enumerate().find_map(|(i, token)| {
        if token != "goals" {
            return None;
        }
        let next = tokens.get(i + 1).map(String::as_str);
        if matches!(next, Some("soccer" | "football")) {
            return Some(i);
        }
        if i != 0 {
            return None;
        }
        let brand = match next {
            None => true,
            Some(word) => {
                GOALS_BRAND_NEXT.contains(&word) || area_hits.iter().any(|a| a.start == 1)
            }
        };
        brand.then_some(i)
    })
}

/// One phrase match: tokens `start..end` matched the phrase for `canonical`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Hit {
    /// Index of the first matched token.
    start: usize,
    /// Index one past the last matched token.
    end: usize,
    /// The canonical name of the matched term.
    canonical: &'static str,
    /// Whether the last token matched in a plural form ("courts" for "court").
    plural: bool,
}

/// Scans `tokens` left to right; at each position the longest phrase of `table` that
/// matches is taken and its tokens consumed (first table entry wins a tie). A match with a
/// negative context is dropped, but still consumes its tokens so that no shorter phrase
/// inside it can match instead.
fn find_hits(tokens: &[String], table: &[Term], negatives: &[NegativeContext]) -> Vec<Hit> {
    let mut hits = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let mut best: Option<(&Term, bool)> = None;
        for term in table {
            if let Some(plural) = phrase_matches_at(tokens, i, term.phrase) {
                // Strictly longer only, so the first entry wins a tie.
                let longer = match best {
                    None => true,
                    Some((b, _)) => term.phrase.len() > b.phrase.len(),
                };
                if longer {
                    best = Some((term, plural));
                }
            }
        }
        match best {
            Some((term, plural)) => {
                let hit = Hit {
                    start: i,
                    end: i + term.phrase.len(),
                    canonical: term.canonical,
                    plural,
                };
                if !is_negated(tokens, &hit, negatives) {
                    hits.push(hit);
                }
                i = hit.end;
            }
            None => i += 1,
        }
    }
    hits
}

/// `Some(plural)` if `phrase` matches the tokens starting at `start`; only the last word may
/// be plural.
fn phrase_matches_at(tokens: &[String], start: usize, phrase: &[&str]) -> Option<bool> {
    let window = tokens.get(start..start + phrase.len())?;
    let last = phrase.len().checked_sub(1)?;
    let mut plural = false;
    for (i, (word, token)) in phrase.iter().zip(window).enumerate() {
        if token == word {
            continue;
        }
        if i == last && is_plural_of(word, token) {
            plural = true;
            continue;
        }
        return None;
    }
    Some(plural)
}

/// Whether `token` is `word` + "s" or `word` + "es", for words long enough to be safe.
fn is_plural_of(word: &str, token: &str) -> bool {
    word.chars().count() >= PLURAL_MIN_CHARS
        && token
            .strip_prefix(word)
            .is_some_and(|rest| rest == "s" || rest == "es")
}

/// Whether a context word matches a token, with the same plural tolerance.
fn context_matches(word: &str, token: &str) -> bool {
    token == word || is_plural_of(word, token)
}

fn is_negated(tokens: &[String], hit: &Hit, negatives: &[NegativeContext]) -> bool {
    let before = hit.start.checked_sub(1).and_then(|i| tokens.get(i));
    let after = tokens.get(hit.end);
    negatives
        .iter()
        .filter(|n| n.canonical == hit.canonical)
        .any(|n| {
            before.is_some_and(|b| n.before.iter().any(|w| context_matches(w, b)))
                || after.is_some_and(|a| n.after.iter().any(|w| context_matches(w, a)))
        })
}

/// The canonical names of `hits`, first appearance first, without duplicates.
fn canonicals(hits: &[Hit]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for hit in hits {
        if !out.iter().any(|c| c == hit.canonical) {
            out.push(hit.canonical.to_string());
        }
    }
    out
}
