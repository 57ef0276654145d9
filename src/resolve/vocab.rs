//! The matcher's vocabulary: how much each word of a name tells about identity (token
//! classes), the coarse kind of a place, and the matching forms of a record's phone,
//! website, postcode, address and locality, derived with `trustfold-normalize` (which
//! does all folding and parsing: this module only decides what matching keeps of it).
//!
//! These forms answer "are these two records the same place?", not "how should this
//! value be displayed?", so they may throw away things a display form keeps (case, accents,
//! "The", "Ltd", the URL scheme, a suite number). Every function is total: any input gives
//! an answer without panicking, and input is cut at a named limit before any work is done.

use std::borrow::Cow;
use std::sync::OnceLock;

use trustfold_normalize::address::{self, HouseNumber, StreetAddress};
use trustfold_normalize::{phone, postcode, text, web};

pub(crate) use super::hash::{fmix64, hash_parts, hash_str, FastMap, Hash128};
pub(crate) use trustfold_normalize::postcode::PostcodeKey as Postcode;
pub(crate) use trustfold_normalize::text::clip;

/// Longest name, address line or category read, in bytes; the rest is ignored (cut at a
/// character boundary). No real place name comes near it; it bounds the work per record.
pub(crate) const TEXT_BYTES_MAX: usize = text::FOLD_BYTES_MAX;

/// Most words of a locality kept for comparing two (word hashes).
pub(crate) const LOCALITY_WORDS_MAX: usize = 4;

/// Most name tokens kept per name (after folding and dropping stop words). The token
/// matcher tracks used tokens in a `u32` bit set, so this must stay at or below 32.
pub(crate) const NAME_TOKENS_MAX: usize = 16;

/// Most address tokens kept per record (over all address lines).
pub(crate) const ADDRESS_TOKENS_MAX: usize = 16;

/// Most address lines, categories, sports or cross-referenced ids read per record.
pub(crate) const LIST_ITEMS_MAX: usize = 16;

/// Longest token kept, in bytes; longer tokens are cut (a 10 kB "word" is noise).
pub(crate) const TOKEN_BYTES_MAX: usize = 40;

/// How much a name token tells about identity. Distinctive words (place names, proper
/// names: "portobello", "drumbrae") decide; the rest only support them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokenClass {
    /// Proper names and every word not in the lists below.
    Distinctive,
    /// What kind of place it is ("tennis", "golf", "school", "pool"): they separate
    /// "Portobello Golf Course" from "Portobello Bowling Club", so they weigh more than
    /// generic words, but far less than a proper name.
    Kind,
    /// Operators with many venues ("powerleague", "nuffield"): shared by places that are
    /// different by design, so they say little about *which* venue.
    Brand,
    /// Filler that nearly every venue name has ("club", "centre", "edinburgh", "sports").
    Generic,
}

impl TokenClass {
    /// The token's weight in name similarity (see `super::score`).
    pub(crate) fn weight(self) -> f32 {
        match self {
            TokenClass::Distinctive => 1.0,
            TokenClass::Kind => 0.5,
            TokenClass::Brand => 0.4,
            TokenClass::Generic => 0.2,
        }
    }
}

/// Words dropped from names before anything else: legal suffixes and articles, which
/// sources add or omit freely ("The Braid Bowling Club", "Goals Soccer Centres Ltd").
const STOP_WORDS: &[&str] = &[
    "the", "ltd", "limited", "plc", "and", "of", "at", "llp", "inc",
];

/// Generic venue words (weight 0.2). Also the city and country names: every place here is
/// in Edinburgh, so "Powerleague Edinburgh Portobello" and "Powerleague Portobello" differ
/// by nothing that identifies a place.
const GENERIC_WORDS: &[&str] = &[
    "club",
    "clubs",
    "centre",
    "sports",
    "sport",
    "park",
    "leisure",
    "edinburgh",
    "scotland",
    "scottish",
    "uk",
    "city",
    "ground",
    "facility",
    "facilities",
    "venue",
    "association",
    "society",
    "team",
    "social",
    "complex",
    "recreation",
    "community",
    "health",
    "and",
    "a",
    "side",
    "new",
    "old",
    "north",
    "south",
    "east",
    "west",
    "upper",
    "lower",
    "main",
    "st",
    "saint",
    "hub",
    "house",
    "area",
    "centres",
    "trust",
    "group",
    "ltd",
    "amp",
    "lothian",
    "lothians",
    "area",
    "play",
    "public",
    "local",
    "site",
    "unit",
    // What a shop or food business is, not which one: directories add or drop these
    // freely ("Bibi's Bakery" and "Bibi's Cake Boutique", "The Corner Shop" and "The Corner
    // Store", "Oriental Mkt" and "Oriental Supermarket").
    "shop",
    "shops",
    "store",
    "stores",
    "supermarket",
    "superstore",
    "minimarket",
    "mini",
    "market",
    "mkt",
    "mart",
    "express",
    "metro",
    "extra",
    "convenience",
    "newsagent",
    "newsagents",
    "news",
    // A shop's post office counter: "Cost Cutters / Post Office".
    "post",
    "office",
    "grocer",
    "grocers",
    "grocery",
    "groceries",
    "food",
    "foods",
    "fine",
    "deli",
    "delicatessen",
    "bakery",
    "bakers",
    "baker",
    "butcher",
    "butchers",
    "cafe",
    "coffee",
    "kitchen",
    "takeaway",
    "licence",
    "wines",
    "trading",
    "traders",
    "boutique",
    "emporium",
    "company",
    // "& Son" and "& Sons": a plural of a word this short is not read as the word.
    "son",
    "sons",
    "daughters",
    "bros",
    "brothers",
    "retail",
    "catering",
    "outlet",
    "cake",
    "cakes",
    "fishmonger",
    "fishmongers",
    "cheesemonger",
    "greengrocer",
    "greengrocers",
    "confectioner",
    "confectioners",
    "confectionery",
    "patisserie",
    "chocolatier",
    "chocolatiers",
    "butchery",
    "bakehouse",
    "offlicence",
    "minimart",
    "wine",
    // What kind of place serves the food, not which one ("Dome Cafe and Bar", "Potterrow
    // Venue Bar").
    "bar",
    "bars",
    "bistro",
    "restaurant",
    "restaurants",
    "pub",
    "grill",
    "brasserie",
    "canteen",
    "eatery",
    "diner",
    "tavern",
    // Whom a venue's own canteen serves: "Tesco Staff Restaurant" is the store's.
    "staff",
    // A petrol station's shop ("Tesco PFS", "Esso Forecourt").
    "pfs",
    "forecourt",
    // Page-title filler of search results ("... | Home", "Book Online").
    "home",
    "book",
    "booking",
    "bookings",
    "online",
    "welcome",
    "official",
    "website",
    "page",
    "contact",
    "us",
    "info",
];

/// Brand words (weight 0.4): sports and fitness operators with several venues in the city
/// (the planner's brand list, `src/planner/features.rs`, one word per brand after the
/// joins below), and the charging networks of EV chargers.
const BRAND_WORDS: &[&str] = &[
    "powerleague",
    "goals",
    "nuffield",
    "davidlloyd",
    "puregym",
    "anytime",
    "bannatyne",
    "bannatynes",
    "virgin",
    "gymgroup",
    "jd",
    "snap",
    "game4padel",
    "chargeplace",
    "podpoint",
    "instavolt",
    "gridserve",
    "ionity",
    "tesla",
    "bp",
    "pulse",
    "shell",
    "recharge",
    "ecotricity",
    "osprey",
    "evolt",
    "swarco",
    "mer",
    "tesco",
    "asda",
    "sainsburys",
    "lidl",
    "aldi",
    "morrisons",
];

/// Given names, as owners' names in business names ("George Bower", "James Borthwick", "D
/// McPherson Fruit & Fishmonger"): before a surname they say little about which business
/// it is (see [`name_form`]). Names that are as often surnames ("Scott", "Lewis",
/// "Graham", "Douglas", "Gordon") are left out: in "Robert Graham" or "John Lewis" they are
/// the surname.
const GIVEN_NAMES: &[&str] = &[
    "adam",
    "agnes",
    "ahmed",
    "alan",
    "alastair",
    "alex",
    "alexander",
    "ali",
    "alison",
    "alistair",
    "andrew",
    "andy",
    "angela",
    "angus",
    "ann",
    "anna",
    "anne",
    "anthony",
    "archie",
    "barbara",
    "ben",
    "bill",
    "billy",
    "bob",
    "brian",
    "callum",
    "calum",
    "carol",
    "catherine",
    "charles",
    "charlie",
    "chris",
    "christine",
    "christopher",
    "colin",
    "david",
    "davie",
    "derek",
    "donald",
    "duncan",
    "eddie",
    "edward",
    "eileen",
    "elizabeth",
    "emma",
    "eric",
    "euan",
    "ewan",
    "fiona",
    "frank",
    "fraser",
    "gary",
    "gavin",
    "george",
    "gillian",
    "hamish",
    "harry",
    "helen",
    "hugh",
    "iain",
    "ian",
    "isabel",
    "jack",
    "jackie",
    "james",
    "jamie",
    "jane",
    "janet",
    "jean",
    "jennifer",
    "jim",
    "jimmy",
    "joe",
    "john",
    "johnny",
    "joseph",
    "kate",
    "katherine",
    "kenneth",
    "kevin",
    "laura",
    "linda",
    "lindsay",
    "lorna",
    "louise",
    "malcolm",
    "margaret",
    "maria",
    "mark",
    "martin",
    "mary",
    "matthew",
    "michael",
    "mike",
    "mohammed",
    "muhammad",
    "neil",
    "nicola",
    "norman",
    "pat",
    "patricia",
    "patrick",
    "paul",
    "peter",
    "rab",
    "richard",
    "rob",
    "robbie",
    "robert",
    "sam",
    "sandy",
    "sarah",
    "sean",
    "sheila",
    "simon",
    "stephen",
    "steve",
    "steven",
    "susan",
    "tam",
    "tom",
    "tommy",
    "tony",
    "walter",
    "william",
    "willie",
];

/// Pairs of words that are one brand, joined before classing so "Power League" and
/// "Powerleague" agree.
const JOINS: &[(&str, &str, &str)] = &[
    ("power", "league", "powerleague"),
    ("david", "lloyd", "davidlloyd"),
    ("pure", "gym", "puregym"),
    ("gym", "group", "gymgroup"),
    ("pod", "point", "podpoint"),
    ("charge", "place", "chargeplace"),
    // The co-operative societies' shops: "Co-op", "Co-operative Food", "Cooperative".
    ("co", "op", "coop"),
    ("co", "operative", "coop"),
];

/// Spelling variants and plurals folded to one form before classing.
const SYNONYMS: &[(&str, &str)] = &[
    ("cooperative", "coop"),
    ("center", "centre"),
    ("centres", "centre"),
    ("centers", "centre"),
    ("theater", "theatre"),
    ("swimming", "swim"),
    ("bowls", "bowling"),
    ("pitches", "pitch"),
    ("courts", "court"),
    ("grounds", "ground"),
    ("pools", "pool"),
    ("fields", "field"),
    ("soccer", "football"),
    ("gymnasium", "gym"),
    ("aquatics", "aquatic"),
    ("schools", "school"),
    ("chargers", "charger"),
    ("bannatynes", "bannatyne"),
];

/// Abbreviations that stand for several words ("Spartans FC" is "Spartans Football Club").
const EXPANSIONS: &[(&str, &[&str])] = &[
    ("fc", &["football", "club"]),
    ("afc", &["football", "club"]),
    ("rfc", &["rugby", "football", "club"]),
    ("ltc", &["lawn", "tennis", "club"]),
    ("tc", &["tennis", "club"]),
    ("bc", &["bowling", "club"]),
    ("gc", &["golf", "club"]),
    ("cc", &["cricket", "club"]),
    ("hc", &["hockey", "club"]),
    ("rc", &["rugby", "club"]),
    ("ps", &["primary", "school"]),
    ("hs", &["high", "school"]),
];

/// Coarse kinds of place, as bits. Two places whose kinds are known and disjoint ("golf"
/// and "bowling") are unlikely to be the same place even when their names share a word.
pub(crate) mod kind {
    pub const TENNIS: u32 = 1 << 0;
    pub const GOLF: u32 = 1 << 1;
    pub const BOWLING: u32 = 1 << 2;
    pub const FOOTBALL: u32 = 1 << 3;
    pub const RUGBY: u32 = 1 << 4;
    pub const CRICKET: u32 = 1 << 5;
    pub const HOCKEY: u32 = 1 << 6;
    pub const SWIMMING: u32 = 1 << 7;
    pub const ATHLETICS: u32 = 1 << 8;
    pub const GYM: u32 = 1 << 9;
    pub const CLIMBING: u32 = 1 << 10;
    pub const ICE: u32 = 1 << 11;
    pub const SQUASH: u32 = 1 << 12;
    pub const BADMINTON: u32 = 1 << 13;
    pub const BASKETBALL: u32 = 1 << 14;
    pub const NETBALL: u32 = 1 << 15;
    pub const EV: u32 = 1 << 16;
    pub const PADEL: u32 = 1 << 17;
    /// Places that host many activities (schools, leisure centres, stadiums, pitches):
    /// compatible with every kind, so a school's pitch and the school do not disagree.
    pub const HOST: u32 = 1 << 31;
}

/// Words that say what kind of place it is, with the kind bits they set. Every word here
/// is a [`TokenClass::Kind`] token in a name.
const KIND_WORDS: &[(&str, u32)] = &[
    ("tennis", kind::TENNIS),
    ("golf", kind::GOLF),
    ("putting", kind::GOLF),
    ("bowling", kind::BOWLING),
    ("football", kind::FOOTBALL),
    ("futsal", kind::FOOTBALL),
    ("rugby", kind::RUGBY),
    ("cricket", kind::CRICKET),
    ("hockey", kind::HOCKEY),
    ("swim", kind::SWIMMING),
    ("pool", kind::SWIMMING),
    ("aquatic", kind::SWIMMING),
    ("lido", kind::SWIMMING),
    ("athletics", kind::ATHLETICS),
    ("athletic", kind::ATHLETICS),
    ("gym", kind::GYM),
    ("fitness", kind::GYM),
    ("climbing", kind::CLIMBING),
    ("bouldering", kind::CLIMBING),
    ("ice", kind::ICE),
    ("rink", kind::ICE),
    ("curling", kind::ICE),
    ("skating", kind::ICE),
    ("squash", kind::SQUASH),
    ("badminton", kind::BADMINTON),
    ("basketball", kind::BASKETBALL),
    ("netball", kind::NETBALL),
    ("padel", kind::PADEL),
    ("charging", kind::EV),
    ("charger", kind::EV),
    ("chargepoint", kind::EV),
    ("ev", kind::EV),
    ("school", kind::HOST),
    ("academy", kind::HOST),
    ("primary", kind::HOST),
    ("high", kind::HOST),
    ("college", kind::HOST),
    ("university", kind::HOST),
    ("stadium", kind::HOST),
    ("arena", kind::HOST),
    // A pitch is of one sport or another (the record says which: "Pitch - Football"), so
    // "pitch" and "playing fields" say nothing about kind on their own.
    ("pitch", 0),
    ("playing", 0),
    ("course", 0),
    ("lawn", 0),
    ("court", 0),
    ("track", 0),
    ("hall", 0),
    ("green", 0),
    ("field", 0),
    ("wall", 0),
];

/// Words of category and sport lists (not names) that set kind bits, beyond [`KIND_WORDS`]:
/// the category vocabularies of the sources ("sports_complex", "leisure=sports_centre",
/// "electric_vehicle_charging_station").
const CATEGORY_KIND_WORDS: &[(&str, u32)] = &[
    ("bowls", kind::BOWLING),
    ("complex", kind::HOST),
    ("community", kind::HOST),
    ("recreation", kind::HOST),
    ("multi", kind::HOST),
    ("electric", kind::EV),
    ("vehicle", kind::EV),
    ("charge", kind::EV),
    ("station", 0),
];

/// Everything the tables above say about one word, gathered once into a hash map so that
/// classing a token is one lookup, not a scan of every list.
#[derive(Clone, Copy, Default)]
struct WordInfo {
    stop: bool,
    class: Option<TokenClass>,
    name_kinds: u32,
    category_kinds: u32,
    synonym: Option<&'static str>,
    expansion: Option<&'static [&'static str]>,
}

fn word_table() -> &'static FastMap<&'static str, WordInfo> {
    static TABLE: OnceLock<FastMap<&'static str, WordInfo>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t: FastMap<&'static str, WordInfo> = FastMap::default();
        for w in STOP_WORDS {
            t.entry(w).or_default().stop = true;
        }
        for w in GENERIC_WORDS {
            t.entry(w).or_default().class = Some(TokenClass::Generic);
        }
        for w in BRAND_WORDS {
            t.entry(w).or_default().class = Some(TokenClass::Brand);
        }
        // Kind words last: a word in two lists is a kind word.
        for (w, k) in KIND_WORDS {
            let e = t.entry(w).or_default();
            e.class = Some(TokenClass::Kind);
            e.name_kinds |= k;
            e.category_kinds |= k;
        }
        for (w, k) in CATEGORY_KIND_WORDS {
            t.entry(w).or_default().category_kinds |= k;
        }
        for (w, k) in BRAND_KINDS {
            let e = t.entry(w).or_default();
            e.name_kinds |= k;
            e.category_kinds |= k;
        }
        for (from, to) in SYNONYMS {
            t.entry(from).or_default().synonym = Some(to);
        }
        for (abbr, words) in EXPANSIONS {
            t.entry(abbr).or_default().expansion = Some(words);
        }
        t
    })
}

/// What the tables say about a word, or else about its singular ("supermarkets" is a
/// generic word as "supermarket" is; see [`plural_pair`]).
fn word_info(word: &str) -> WordInfo {
    let table = word_table();
    if let Some(info) = table.get(word) {
        return *info;
    }
    let singular = word
        .strip_suffix('s')
        .filter(|stem| stem.len() >= PLURAL_STEM_BYTES_MIN && !stem.ends_with('s'));
    singular
        .and_then(|stem| table.get(stem))
        .map(|info| WordInfo {
            // A plural is not an abbreviation to expand, nor a synonym's spelling.
            expansion: None,
            synonym: None,
            ..*info
        })
        .unwrap_or_default()
}

/// Brands imply their sport.
const BRAND_KINDS: &[(&str, u32)] = &[
    ("powerleague", kind::FOOTBALL),
    ("goals", kind::FOOTBALL),
    ("puregym", kind::GYM),
    ("anytime", kind::GYM),
    ("gymgroup", kind::GYM),
    ("jd", kind::GYM),
    ("snap", kind::GYM),
    ("bannatyne", kind::GYM),
    ("nuffield", kind::GYM),
    ("davidlloyd", kind::HOST),
    ("virgin", kind::HOST),
    ("game4padel", kind::PADEL),
    ("chargeplace", kind::EV),
    ("podpoint", kind::EV),
    ("instavolt", kind::EV),
    ("gridserve", kind::EV),
    ("ionity", kind::EV),
];

/// The class of a (folded, joined, synonym-mapped) name token.
#[cfg(test)]
pub(crate) fn token_class(token: &str) -> TokenClass {
    class_of(token, word_info(token))
}

fn class_of(token: &str, info: WordInfo) -> TokenClass {
    if let Some(class) = info.class {
        class
    } else if token.len() <= 1 {
        TokenClass::Generic
    } else if token.bytes().all(|b| b.is_ascii_digit()) {
        // Numbers ("Goals 2", "Pitch 3") distinguish, but a typo in them is common.
        TokenClass::Kind
    } else {
        TokenClass::Distinctive
    }
}

/// Folds text for matching (`trustfold_normalize::text::fold`: lowercase ASCII, every
/// script transliterated, `&` and `+` as "and", apostrophes removed, punctuation a space).
pub(crate) fn fold(s: &str) -> String {
    text::fold(s)
}

/// [`fold`] into a buffer the caller reuses.
pub(crate) fn fold_into(s: &str, out: &mut String) {
    text::fold_into(s, out)
}

/// The tokens of a folded string, each cut at [`TOKEN_BYTES_MAX`].
fn raw_tokens(folded: &str) -> impl Iterator<Item = &str> {
    folded.split_whitespace().map(|t| clip(t, TOKEN_BYTES_MAX))
}

/// One name token with its class.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct NameToken {
    pub text: String,
    pub class: TokenClass,
}

/// A name's matching tokens, and the kind bits its words imply.
///
/// Folded ([`fold`]), stop words dropped, abbreviations expanded ("FC"), brand word pairs
/// joined ("power league"), synonyms mapped ("center" -> "centre"), duplicates dropped
/// (first kept), at most [`NAME_TOKENS_MAX`].
#[cfg(test)]
pub(crate) fn name_tokens(name: &str) -> (Vec<NameToken>, u32) {
    let (tokens, kinds, _) = name_form(name);
    (tokens, kinds)
}

/// [`name_tokens`] and [`compact_name`] from one fold of the name.
pub(crate) fn name_form(name: &str) -> (Vec<NameToken>, u32, u32) {
    let business = business_part(name);
    let folded = fold(business);
    let compact = compact_of(&folded);
    // Words in brackets qualify the name ("Gowans (Fishmonger)", "Dome Bar (EUSA)", "Tesco
    // PFS (Esso)", "Jenners (Catering Facilities)"): what the business is, who runs it or
    // which part of a venue; they come after the name's own words, and weigh as generic
    // words beside a telling word of the name's own (below).
    let (main, aside) = split_bracketed(business);
    let (main, aside) = if main.chars().any(char::is_alphanumeric) && !aside.is_empty() {
        (fold(&main), fold(&aside))
    } else {
        (folded, String::new())
    };
    let mut words: Vec<&str> = Vec::new();
    let mut aside_from = usize::MAX;
    // The words after the name's last "of" ("Armstrong's of Stockbridge").
    let mut of_from = usize::MAX;
    for (part, text) in [(0, &main), (1, &aside)] {
        if part == 1 {
            aside_from = words.len();
        }
        for raw in raw_tokens(text) {
            if words.len() >= NAME_TOKENS_MAX * 2 {
                break;
            }
            if part == 0 && raw == "of" {
                of_from = words.len();
            }
            let info = word_info(raw);
            if info.stop {
                continue;
            }
            match info.expansion {
                Some(expanded) => words.extend_from_slice(expanded),
                None => words.push(raw),
            }
        }
    }
    let mut tokens: Vec<NameToken> = Vec::with_capacity(words.len().min(NAME_TOKENS_MAX));
    let mut kinds = 0u32;
    // The first token from the brackets, and after the last "of".
    let mut aside_at = usize::MAX;
    let mut of_at = usize::MAX;
    let mut i = 0;
    while i < words.len() && tokens.len() < NAME_TOKENS_MAX {
        let in_aside = i >= aside_from;
        if i >= of_from && of_at == usize::MAX {
            of_at = tokens.len();
        }
        let joined = words
            .get(i + 1)
            .filter(|_| in_aside || i + 1 < aside_from)
            .and_then(|next| JOINS.iter().find(|(a, b, _)| *a == words[i] && b == next));
        let (word, step) = match joined {
            Some((_, _, j)) => (*j, 2),
            None => (words[i], 1),
        };
        i += step;
        let mut info = word_info(word);
        let word = match info.synonym {
            Some(canonical) => {
                info = word_info(canonical);
                canonical
            }
            None => word,
        };
        kinds |= info.name_kinds
            | pair_kinds(
                tokens.last().map_or("", |t: &NameToken| t.text.as_str()),
                word,
            );
        if tokens.iter().all(|t| t.text != word) {
            if in_aside && aside_at == usize::MAX {
                aside_at = tokens.len();
            }
            tokens.push(NameToken {
                text: word.to_owned(),
                class: class_of(word, info),
            });
        }
    }
    // The words in brackets weigh as generic words when the name outside them has a
    // telling word of its own; else they are the name ("Edinburgh Trading Ltd (Oriental
    // Mkt)" trades as the Oriental Mkt).
    if aside_at < tokens.len() && tokens[..aside_at].iter().any(telling) {
        for t in &mut tokens[aside_at..] {
            t.class = TokenClass::Generic;
        }
    }
    // A name that ends in "of" and one or two proper names says where the business is
    // ("Armstrong's of Stockbridge", "Franco's of Stockbridge", "McRae of Gorgie"): those
    // words weigh as generic words beside a telling word before the "of", as a record's own
    // street does (`demote_place_words`). With no telling word before it ("House of
    // Fraser", "Bank of Scotland") the words after it are the name.
    let main_end = aside_at.min(tokens.len());
    if of_at < main_end
        && main_end - of_at <= OF_PLACE_WORDS_MAX
        && tokens[of_at..main_end]
            .iter()
            .all(|t| t.class == TokenClass::Distinctive)
        && tokens[..of_at].iter().any(telling)
    {
        for t in &mut tokens[of_at..main_end] {
            t.class = TokenClass::Generic;
        }
    }
    demote_given_names(&mut tokens);
    (tokens, kinds, compact)
}

/// Most words after a name's last "of" read as the place it is named after.
const OF_PLACE_WORDS_MAX: usize = 2;

/// Weighs as generic the given names ([`GIVEN_NAMES`], written as they are: "Sheila's" is
/// the business's name) that stand before a surname in a name: the owner's name in
/// "George Bower" or "Iain Mellis Cheesemonger" is found by the surname, and the register
/// and the shop's sign often give one with the given name and the other without ("Bower's
/// Butchers", "I.J. Mellis Cheesemonger"). A given name before nothing but generic words
/// ("Maria Cafe") or alone ("Karine") is the name, and stays distinctive.
fn demote_given_names(tokens: &mut [NameToken]) {
    let given = |t: &NameToken| {
        t.class == TokenClass::Distinctive && GIVEN_NAMES.binary_search(&t.text.as_str()).is_ok()
    };
    let mut i = 0;
    while i < tokens.len() {
        if !given(&tokens[i]) {
            i += 1;
            continue;
        }
        let mut end = i + 1;
        while end < tokens.len() && given(&tokens[end]) {
            end += 1;
        }
        if tokens
            .get(end)
            .is_some_and(|t| t.class == TokenClass::Distinctive)
        {
            for t in &mut tokens[i..end] {
                t.class = TokenClass::Generic;
            }
        }
        i = end;
    }
}

/// Whether a name token says which place it is: a distinctive or a brand word.
fn telling(t: &NameToken) -> bool {
    matches!(t.class, TokenClass::Distinctive | TokenClass::Brand)
}

/// Weighs as generic the distinctive words of a name that repeat the record's own street
/// or locality ("Tesco PFS Willowbrae" at 226 Willowbrae Road): they say where the
/// business is, which the street term already weighs, not which business it is. Only
/// beside another distinctive or brand word: in "S & J Albert Store" at 160 Albert Street
/// the street's name is all there is to the name.
/// `street` and `locality` as [`street_of`] and [`locality_of`] read them.
pub(crate) fn demote_place_words(
    tokens: &mut [NameToken],
    street: Option<&StreetAddress>,
    locality: Option<&str>,
) {
    if tokens.iter().filter(|t| telling(t)).count() < 2 {
        return;
    }
    let place = [street.map(|s| s.street.as_str()), locality];
    let words = || place.iter().flatten().flat_map(|p| raw_tokens(p));
    let is_place =
        |t: &NameToken| t.class == TokenClass::Distinctive && words().any(|w| w == t.text);
    if tokens.iter().all(|t| !telling(t) || is_place(t)) {
        // Nothing but place words: they are the name.
        return;
    }
    for t in tokens.iter_mut() {
        if is_place(t) {
            t.class = TokenClass::Generic;
        }
    }
}

/// A name's text outside brackets, and inside them (each part's pieces joined by spaces):
/// "Gowans (Fishmonger) Ltd" gives ("Gowans   Ltd", "Fishmonger"). An unclosed bracket
/// runs to the end of the name.
fn split_bracketed(name: &str) -> (String, String) {
    let (mut main, mut aside) = (String::with_capacity(name.len()), String::new());
    let mut depth = 0u32;
    for c in name.chars() {
        match c {
            '(' | '[' => {
                depth += 1;
                aside.push(' ');
            }
            ')' | ']' if depth > 0 => {
                depth -= 1;
                main.push(' ');
            }
            _ if depth > 0 => aside.push(c),
            _ => main.push(c),
        }
    }
    (main, aside)
}

/// The part of a name that names the business: after "T/A" ("trading as": "Smith
/// Retail Ltd T/A Corner Shop" is the Corner Shop), and before an "@", "at" or "within"
/// that names its host ("Costa Coffee @ Tesco" is Costa Coffee, trading inside Tesco;
/// "Sodexo at Caledonian Brewery" is the caterer's canteen in the brewery), when a name is
/// left; else the name.
pub(crate) fn business_part(name: &str) -> &str {
    let mut name = clip(name, TEXT_BYTES_MAX);
    // ASCII lowercasing keeps every byte where it was, so positions carry over.
    let lower = name.to_ascii_lowercase();
    if let Some(i) = lower.find(" t/a ") {
        let after = &name[i + 5..];
        if after.chars().any(char::is_alphanumeric) {
            name = after;
        }
    }
    let lower = name.to_ascii_lowercase();
    let host = ["@", " at ", " within "]
        .iter()
        .filter_map(|w| lower.find(w))
        .min();
    match host.map(|i| &name[..i]) {
        Some(before) if before.chars().any(char::is_alphanumeric) => before,
        _ => name,
    }
}

/// A name's letters and digits run together, stop words left out, as a 32-bit hash (0 for
/// a name without a letter or digit): "Day To Day" and "Day-Today", "Mini Market" and
/// "Minimarket" are one name written with other word breaks.
#[cfg(test)]
pub(crate) fn compact_name(name: &str) -> u32 {
    compact_of(&fold(business_part(name)))
}

/// [`compact_name`] of a folded name.
fn compact_of(folded: &str) -> u32 {
    let joined: String = raw_tokens(folded).filter(|w| !word_info(w).stop).collect();
    if joined.is_empty() {
        return 0;
    }
    ((hash_str(&joined) >> 32) as u32).max(1)
}

/// The kind bits of a list of categories or sports ("tennis", "sports_complex",
/// "leisure=sports_centre", "Outdoor Tennis Courts").
pub(crate) fn category_kinds<'a>(items: impl Iterator<Item = &'a String>) -> u32 {
    let mut kinds = 0;
    let mut folded = String::new();
    for item in items.take(LIST_ITEMS_MAX) {
        fold_into(item, &mut folded);
        let mut previous = "";
        for raw in raw_tokens(&folded) {
            let info = word_info(raw);
            let word = info.synonym.unwrap_or(raw);
            kinds |= match info.synonym {
                Some(word) => word_info(word).category_kinds,
                None => info.category_kinds,
            };
            kinds |= pair_kinds(previous, word);
            previous = word;
        }
    }
    kinds
}

/// Kind bits of two words together: "leisure centre", "sports centre", "community centre"
/// host many kinds (a lone "leisure" does not: OpenStreetMap's `leisure=pitch`).
fn pair_kinds(previous: &str, word: &str) -> u32 {
    match (previous, word) {
        ("leisure" | "sports" | "sport" | "community" | "recreation", "centre") => kind::HOST,
        _ => 0,
    }
}

/// The number a phone value names (E.164 text, as extraction writes a valid number), as an
/// integer; `None` for a number kept as written because it is not valid. Reads the text
/// alone (`trustfold_normalize::phone::key`): which records are one place must not change
/// with libphonenumber's metadata.
pub(crate) fn phone_key(phone: &str) -> Option<u64> {
    phone::key(clip(phone.trim(), TEXT_BYTES_MAX))
}

/// A postcode packed for comparison (`trustfold_normalize::postcode::PostcodeKey`).
pub(crate) fn postcode_key(postcode: &str) -> Option<Postcode> {
    Postcode::of(clip(postcode, TEXT_BYTES_MAX))
}

/// Hosts shared by many unrelated places (social networks, site builders, maps): on these
/// only the whole URL identifies a place.
const SHARED_HOSTS: &[&str] = &[
    "facebook.com",
    "instagram.com",
    "twitter.com",
    "x.com",
    "linktr.ee",
    "google.com",
    "maps.google.com",
    "sites.google.com",
    "goo.gl",
    "wixsite.com",
    "weebly.com",
    "wordpress.com",
    "blogspot.com",
    "squarespace.com",
    "bit.ly",
    "youtube.com",
    "tripadvisor.co.uk",
    "tripadvisor.com",
    "yelp.com",
    "yell.com",
    "eventbrite.co.uk",
    "clubbuzz.co.uk",
    "pitchero.com",
    "teamapp.com",
    "openstreetmap.org",
];

/// A website reduced to what identifies a place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Website {
    /// Hash of the host without `www.`/`m.` and port, lowercase. 32 bits: two different
    /// hosts share a hash with odds of 1 in 4 billion per pair compared.
    pub host: u32,
    /// Hash of host + path (lowercase, no query, fragment, trailing `/` or `index.*`).
    pub full: u32,
    /// The path is empty (a home page).
    pub path_empty: bool,
    /// The host is one of [`SHARED_HOSTS`]: only `full` identifies the place.
    pub shared_host: bool,
}

impl Website {
    /// The key blocking uses: the host, or the whole URL on a shared host.
    pub(crate) fn block_key(self) -> u64 {
        if self.shared_host {
            u64::from(self.full) | 1 << 32
        } else {
            u64::from(self.host)
        }
    }

    /// How strongly two websites say "same place": 1 the same page (or both the same
    /// home page), 0.7 the same host and one is its home page, 0.15 the same host and
    /// different pages (a chain's venue pages: neutral), 0 different hosts (or different
    /// pages of a shared host).
    pub(crate) fn similarity(self, other: Website) -> f64 {
        if self.full == other.full {
            1.0
        } else if self.host != other.host || self.shared_host {
            0.0
        } else if self.path_empty || other.path_empty {
            0.7
        } else {
            0.15
        }
    }
}

/// The matching form of a website URL ("https://www.Powerleague.com/club/x/?utm=1" ->
/// host "powerleague.com", path "/club/x"). `None` when there is no host.
pub(crate) fn website_key(url: &str) -> Option<Website> {
    let (host, path) = web::host_and_path(url)?;
    let shared_host = SHARED_HOSTS.iter().any(|s| {
        host == *s
            || (host.len() > s.len()
                && host.ends_with(s)
                && host.as_bytes()[host.len() - s.len() - 1] == b'.')
    });
    Some(Website {
        host: (hash_str(&host) >> 32) as u32,
        full: (hash_parts(0, [host.as_str(), path.as_str()]) >> 32) as u32,
        path_empty: path.is_empty(),
        shared_host,
    })
}

/// Address words that identify nothing: the city, the country, "unit".
const ADDRESS_NOISE: &[&str] = &[
    "edinburgh",
    "uk",
    "united",
    "kingdom",
    "scotland",
    "gb",
    "the",
];

/// The matching tokens of a record's address lines: folded, abbreviations expanded, city,
/// country and postcode-shaped tokens dropped, deduplicated, at most
/// [`ADDRESS_TOKENS_MAX`].
#[cfg(test)]
pub(crate) fn address_tokens<'a>(lines: impl Iterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for_each_address_token(lines, |word| {
        if !out.iter().any(|t| t == word) {
            out.push(word.to_owned());
        }
        out.len() < ADDRESS_TOKENS_MAX
    });
    out
}

/// The address tokens as 32-bit hashes, deduplicated: all the matcher keeps of an address
/// (tokens are only compared with each other; a collision could only nudge one address
/// similarity).
pub(crate) fn address_token_hashes<'a>(lines: impl Iterator<Item = &'a String>) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for_each_address_token(lines, |word| {
        let h = (hash_str(word) >> 32) as u32;
        if !out.contains(&h) {
            out.push(h);
        }
        out.len() < ADDRESS_TOKENS_MAX
    });
    out
}

/// Calls `f` with each matching token of the address lines, until it returns false.
fn for_each_address_token<'a>(
    lines: impl Iterator<Item = &'a String>,
    mut f: impl FnMut(&str) -> bool,
) {
    let mut folded = String::new();
    for line in lines.take(LIST_ITEMS_MAX) {
        fold_into(line, &mut folded);
        for raw in raw_tokens(&folded) {
            if ADDRESS_NOISE.contains(&raw) || postcode::is_postcode_part(raw) {
                continue;
            }
            let word = address::street_type(raw).unwrap_or(raw);
            if !f(word) {
                return;
            }
        }
    }
}

/// The street form of a record's address lines: the street's hash, then each house number
/// as two words (`lo` with its letter in the top byte, `hi`); empty when no line names a
/// street (`trustfold_normalize::address::street_address`).
#[cfg(test)]
pub(crate) fn street_form<'a>(lines: impl Iterator<Item = &'a String>) -> Vec<u32> {
    street_form_of(street_of(lines).as_ref())
}

/// The street and house numbers a record's address lines name
/// (`trustfold_normalize::address::street_address`, each line clipped), read once per
/// record for [`street_form_of`] and [`demote_place_words`].
pub(crate) fn street_of<'a>(lines: impl Iterator<Item = &'a String>) -> Option<StreetAddress> {
    let lines: Vec<&str> = lines
        .take(LIST_ITEMS_MAX)
        .map(|l| clip(l, TEXT_BYTES_MAX))
        .collect();
    address::street_address(lines)
}

/// [`street_form`] of a street already read ([`street_of`]).
pub(crate) fn street_form_of(street: Option<&StreetAddress>) -> Vec<u32> {
    let Some(s) = street else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(1 + 2 * s.numbers.len());
    out.push(((hash_str(&s.street) >> 32) as u32).max(1));
    for n in &s.numbers {
        out.push(n.lo | u32::from(n.suffix.unwrap_or(0)) << 24);
        out.push(n.hi);
    }
    out
}

/// The house numbers of a street form (see [`street_form`]).
pub(crate) fn street_numbers(form: &[u32]) -> Vec<HouseNumber> {
    form.get(1..)
        .unwrap_or_default()
        .chunks_exact(2)
        .map(|w| HouseNumber {
            lo: w[0] & 0x00ff_ffff,
            hi: w[1],
            suffix: match (w[0] >> 24) as u8 {
                0 => None,
                b => Some(b),
            },
        })
        .collect()
}

/// The keys a street form is blocked under: one per house number it stands at (ranges
/// expanded, at most `address::HOUSE_NUMBERS_MAX`), each the street's hash with the
/// number; none without a number (a whole street is too long a block).
pub(crate) fn street_keys(form: &[u32]) -> Vec<u64> {
    let Some(&street) = form.first() else {
        return Vec::new();
    };
    form_house_numbers(form)
        .into_iter()
        .map(|n| street_key(street, n))
        .collect()
}

/// The (street, house number) blocks of the numbers at most [`NEAR_NUMBERS`] from an
/// address's own, which are not its own: read, never filed, by a record of at most
/// [`NEAR_NUMBERS_FROM_MAX`] numbers. The scorer counts numbers two apart as evidence for
/// ("34" and "36 Blackford Avenue", one shop numbered two ways), so the blocks must bring
/// such pairs together when their names share no block.
pub(crate) fn near_street_keys(form: &[u32]) -> Vec<u64> {
    let Some(&street) = form.first() else {
        return Vec::new();
    };
    let own = form_house_numbers(form);
    if own.len() > NEAR_NUMBERS_FROM_MAX {
        return Vec::new();
    }
    let mut near: Vec<u32> = own
        .iter()
        .flat_map(|&n| (1..=NEAR_NUMBERS).flat_map(move |d| [n.checked_sub(d), n.checked_add(d)]))
        .flatten()
        .filter(|m| *m > 0 && !own.contains(m))
        .collect();
    near.sort_unstable();
    near.dedup();
    near.into_iter().map(|n| street_key(street, n)).collect()
}

/// How far apart two house numbers may be for [`near_street_keys`] (as
/// `NumbersMatch::Near`).
const NEAR_NUMBERS: u32 = 2;
/// A record with more house numbers than this (a range) has its neighbours in its own blocks.
const NEAR_NUMBERS_FROM_MAX: usize = 2;

fn form_house_numbers(form: &[u32]) -> Vec<u32> {
    StreetAddress {
        street: String::new(),
        numbers: street_numbers(form),
    }
    .house_numbers()
}

fn street_key(street: u32, n: u32) -> u64 {
    fmix64(u64::from(street) << 32 | u64::from(n) ^ 0x5757_0000_0000_0000)
}

/// The locality form of a record: the hashes of its locality's words
/// (`trustfold_normalize::address::locality_key`), at most [`LOCALITY_WORDS_MAX`].
#[cfg(test)]
pub(crate) fn locality_form(locality: Option<&str>) -> Vec<u32> {
    locality_form_of(locality_of(locality).as_deref())
}

/// A record's locality as matching compares it (`address::locality_key`), read once per
/// record for [`locality_form_of`] and [`demote_place_words`].
pub(crate) fn locality_of(locality: Option<&str>) -> Option<String> {
    locality.map(|raw| address::locality_key(clip(raw, TEXT_BYTES_MAX)))
}

/// [`locality_form`] of a locality already read ([`locality_of`]).
pub(crate) fn locality_form_of(key: Option<&str>) -> Vec<u32> {
    let Some(key) = key else {
        return Vec::new();
    };
    key.split_whitespace()
        .take(LOCALITY_WORDS_MAX)
        .map(|w| ((hash_str(w) >> 32) as u32).max(1))
        .collect()
}

/// The key of a locality form as a whole (for blocks within a locality).
pub(crate) fn locality_key(form: &[u32]) -> Option<u64> {
    if form.is_empty() {
        return None;
    }
    let mut h = Hash128::default();
    h.tag(7);
    for w in form {
        h.part(&w.to_le_bytes());
    }
    Some(h.finish().0)
}

/// How two locality forms compare (`trustfold_normalize::address::compare_localities`,
/// on word hashes): `None` unless both have one.
pub(crate) fn compare_localities(a: &[u32], b: &[u32]) -> Option<address::LocalityMatch> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a == b {
        return Some(address::LocalityMatch::Same);
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    Some(if short.iter().all(|w| long.contains(w)) {
        address::LocalityMatch::Compatible
    } else {
        address::LocalityMatch::Different
    })
}

/// Normalised source name for cross-references ("osm" and "openstreetmap" are one source).
pub(crate) fn source_key(source: &str) -> Cow<'_, str> {
    let plain = source
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    let s: Cow<'_, str> = if plain {
        Cow::Borrowed(source)
    } else {
        Cow::Owned(snake(source))
    };
    match s.as_ref() {
        "osm" | "open_street_map" => Cow::Borrowed("openstreetmap"),
        "google" | "gmaps" | "google_maps" | "places" => Cow::Borrowed("google_places"),
        "sportscotland" => Cow::Borrowed("sport_scotland"),
        "ocm" | "openchargemap" => Cow::Borrowed("open_charge_map"),
        _ => s,
    }
}

/// Folded words joined by `_` ("Sport Scotland" -> "sport_scotland").
pub(crate) fn snake(text: &str) -> String {
    fold(text).split_whitespace().collect::<Vec<_>>().join("_")
}

/// Whether two tokens are at most `max` edits apart (substitutions, insertions, deletions
/// and swaps of two adjacent bytes: the optimal string alignment distance), compared byte
/// by byte. Tokens are at most [`TOKEN_BYTES_MAX`] bytes; the work is a band of
/// `2·max + 1` cells per byte, stopped as soon as every cell of a row exceeds `max`.
pub(crate) fn edits_at_most(a: &str, b: &str, max: usize) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let n = b.len();
    let big = max + 1;
    // Three rows of the distance table: two back (for swaps), one back, current.
    let mut prev2 = vec![big; n + 1];
    let mut prev: Vec<usize> = (0..=n).map(|j| j.min(big)).collect();
    let mut cur = vec![big; n + 1];
    for i in 1..=a.len() {
        cur.fill(big);
        cur[0] = i.min(big);
        let lo = i.saturating_sub(max).max(1);
        let hi = (i + max).min(n);
        let mut row_min = cur[0];
        for j in lo..=hi {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j - 1] + cost).min(prev[j] + 1).min(cur[j - 1] + 1);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d.min(big);
            row_min = row_min.min(cur[j]);
        }
        if row_min > max {
            return false;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[n] <= max
}

/// Shortest stem (bytes) whose plural or possessive ("armstrong", "armstrongs") is read as
/// the same word: "new" and "news" are different words.
const PLURAL_STEM_BYTES_MIN: usize = 4;

/// Whether one token is the other with an "s" at its end: a plural or a possessive whose
/// apostrophe folding dropped ("Bower's Butchers", "George Bower"; "Cost Cutters",
/// "Costcutter"). The stem is at least [`PLURAL_STEM_BYTES_MIN`] bytes and does not itself
/// end in "s" ("glass" is not the plural of "glas").
pub(crate) fn plural_pair(a: &str, b: &str) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    long.len() == short.len() + 1
        && short.len() >= PLURAL_STEM_BYTES_MIN
        && long.ends_with('s')
        && !short.ends_with('s')
        && long.starts_with(short)
}

/// The word a plural or possessive is of ("armstrongs" is "armstrong"; "news", "glass"
/// and "bus" are themselves), as [`plural_pair`] reads them: the key under which both
/// are filed, so that blocking finds the pairs the scorer calls one word.
pub(crate) fn plural_stem(token: &str) -> &str {
    match token.strip_suffix('s') {
        Some(stem) if stem.len() >= PLURAL_STEM_BYTES_MIN && !stem.ends_with('s') => stem,
        _ => token,
    }
}

/// Whether `token` is `parts` written together ("costcutter" and "cost", "cutters";
/// "vietnamhouse" and "viet", "nam", "house"), up to a plural's "s" on either side.
pub(crate) fn joined_pair<'a>(token: &str, parts: impl IntoIterator<Item = &'a str>) -> bool {
    let mut rest = token;
    let mut parts = parts.into_iter().peekable();
    while let Some(part) = parts.next() {
        if parts.peek().is_none() {
            return rest == part || plural_pair(rest, part);
        }
        match rest.strip_prefix(part) {
            Some(r) if !r.is_empty() => rest = r,
            _ => return false,
        }
    }
    false
}

/// Whether two tokens are one edit apart (a substitution, insertion, deletion or swap of
/// two adjacent characters), compared byte by byte.
pub(crate) fn one_edit_apart(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => {
            let first = match short.iter().zip(long).position(|(x, y)| x != y) {
                Some(i) => i,
                None => return true,
            };
            // Substitution: the rest equal; transposition: swapped pair, then the rest equal.
            short[first + 1..] == long[first + 1..]
                || (first + 1 < short.len()
                    && short[first] == long[first + 1]
                    && short[first + 1] == long[first]
                    && short[first + 2..] == long[first + 2..])
        }
        1 => {
            let first = short
                .iter()
                .zip(long)
                .position(|(x, y)| x != y)
                .unwrap_or(short.len());
            short[first..] == long[first + 1..]
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(name: &str) -> Vec<String> {
        name_tokens(name).0.into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn plurals_and_words_written_together() {
        let plurals: &[(&str, &str, bool)] = &[
            ("armstrongs", "armstrong", true),
            ("bower", "bowers", true),
            ("cutters", "cutter", true),
            ("news", "new", false),
            ("glass", "glas", false),
            ("bowers", "bowers", false),
            ("armstrong", "armstrongx", false),
        ];
        for (a, b, want) in plurals {
            assert_eq!(plural_pair(a, b), *want, "{a} / {b}");
            // Blocking files the two under one key exactly when the scorer calls them one
            // word (or they are the same token).
            assert_eq!(
                plural_stem(a) == plural_stem(b),
                *want || a == b,
                "{a} / {b}"
            );
        }
        for (token, stem) in [
            ("armstrongs", "armstrong"),
            ("news", "news"),
            ("glass", "glass"),
        ] {
            assert_eq!(plural_stem(token), stem);
        }
        // A plural of a listed word is classed as the word.
        assert_eq!(token_class("supermarkets"), TokenClass::Generic);
        assert_eq!(token_class("cheesemongers"), TokenClass::Generic);
        assert_eq!(token_class("glass"), TokenClass::Distinctive);
        let joins: &[(&str, &[&str], bool)] = &[
            ("costcutter", &["cost", "cutters"], true),
            ("costcutters", &["cost", "cutter"], true),
            ("vietnamhouse", &["viet", "nam", "house"], true),
            ("powerleague", &["power", "league"], true),
            ("costcutter", &["cost"], false),
            ("costcutter", &["cost", "cutter", "s"], false),
            ("costcutter", &["cutter", "cost"], false),
            ("vietnam", &["viet", "nam", "house"], false),
        ];
        for (token, parts, want) in joins {
            assert_eq!(
                joined_pair(token, parts.iter().copied()),
                *want,
                "{token} / {parts:?}"
            );
        }
    }

    fn classes(name: &str) -> Vec<(String, TokenClass)> {
        name_tokens(name)
            .0
            .into_iter()
            .map(|t| (t.text, t.class))
            .collect()
    }

    #[test]
    fn owners_given_names_and_the_place_after_of_weigh_as_generic_words() {
        use TokenClass::{Distinctive as D, Generic as G};
        let cases: &[(&str, &[(&str, TokenClass)])] = &[
            ("George Bower", &[("george", G), ("bower", D)]),
            (
                "Iain Mellis Cheesemonger",
                &[("iain", G), ("mellis", D), ("cheesemonger", G)],
            ),
            ("John Paul Jones", &[("john", G), ("paul", G), ("jones", D)]),
            // "Ali & Son" is "Ali and Sons": the given name before a generic word stays.
            ("Ali & Son", &[("ali", D), ("son", G)]),
            // Alone, before generic words, or possessive, a given name is the name.
            ("Karine", &[("karine", D)]),
            ("Maria Cafe", &[("maria", D), ("cafe", G)]),
            ("Sheila's Fish", &[("sheilas", D), ("fish", D)]),
            // Names that are as often surnames are not in the list.
            ("Robert Graham", &[("robert", G), ("graham", D)]),
            (
                "Armstrong's Of Stockbridge",
                &[("armstrongs", D), ("stockbridge", G)],
            ),
            ("McRae of Gorgie", &[("mcrae", D), ("gorgie", G)]),
            // Nothing telling before the "of", or more than a place after it.
            ("House of Fraser", &[("house", G), ("fraser", D)]),
            (
                "Friends of Dalry Dog Home",
                &[("friends", D), ("dalry", D), ("dog", D), ("home", G)],
            ),
        ];
        for (name, want) in cases {
            let want: Vec<(String, TokenClass)> =
                want.iter().map(|(t, c)| ((*t).to_owned(), *c)).collect();
            assert_eq!(classes(name), want, "{name}");
        }
        assert!(
            GIVEN_NAMES.windows(2).all(|w| w[0] < w[1]),
            "GIVEN_NAMES is sorted, for binary_search"
        );
    }

    #[test]
    fn names_fold_to_the_same_tokens_whatever_the_spelling() {
        assert_eq!(
            texts("The Braid Bowling Club"),
            ["braid", "bowling", "club"]
        );
        assert_eq!(
            texts("Bainfield Bowling & Social Club, Edinburgh"),
            texts("bainfield bowling and social club edinburgh")
        );
        assert_eq!(texts("Café Rüdiger's Ltd"), ["cafe", "rudigers"]);
        assert_eq!(
            texts("Power League Portobello"),
            ["powerleague", "portobello"]
        );
        assert_eq!(texts("Spartans FC"), ["spartans", "football", "club"]);
        assert_eq!(texts("Leisure Center"), ["leisure", "centre"]);
    }

    #[test]
    fn the_business_is_named_after_trading_as_and_before_an_at() {
        assert_eq!(business_part("Costa Coffee @ Tesco"), "Costa Coffee ");
        assert_eq!(
            business_part("Smith Retail Ltd T/A Corner Shop"),
            "Corner Shop"
        );
        assert_eq!(business_part("@ home"), "@ home");
        assert_eq!(business_part("Sodexo at Caledonian Brewery"), "Sodexo");
        assert_eq!(business_part("Costa Coffee within Next"), "Costa Coffee");
        assert_eq!(business_part("At The Market"), "At The Market");
        assert_eq!(business_part("Seat Covers"), "Seat Covers");
        assert_eq!(business_part("Plain Name"), "Plain Name");
        assert_eq!(compact_name("Day To Day"), compact_name("Day-Today"));
        assert_ne!(compact_name("Day To Day"), compact_name("Day To Night"));
        assert_eq!(compact_name("🎾"), 0);
    }

    #[test]
    fn token_classes_weigh_place_names_above_filler() {
        assert_eq!(token_class("portobello"), TokenClass::Distinctive);
        assert_eq!(token_class("tennis"), TokenClass::Kind);
        assert_eq!(token_class("powerleague"), TokenClass::Brand);
        assert_eq!(token_class("club"), TokenClass::Generic);
        assert_eq!(token_class("edinburgh"), TokenClass::Generic);
    }

    #[test]
    fn near_street_keys_are_the_neighbouring_numbers_blocks_and_never_its_own() {
        let form = |line: &str| street_form([line.to_owned()].iter());
        let keys = |line: &str| street_keys(&form(line));
        let near = near_street_keys(&form("34 Blackford Avenue"));
        let mut want: Vec<u64> = ["32", "33", "35", "36"]
            .iter()
            .flat_map(|n| keys(&format!("{n} Blackford Avenue")))
            .collect();
        want.sort_unstable();
        let mut got = near.clone();
        got.sort_unstable();
        assert_eq!(got, want);
        assert!(near
            .iter()
            .all(|k| !keys("34 Blackford Avenue").contains(k)));
        // Another street's numbers are other blocks; number 1 has no 0 or -1.
        assert!(near.iter().all(|k| !keys("36 Blackford Road").contains(k)));
        assert_eq!(near_street_keys(&form("1 Blackford Avenue")).len(), 2);
        // A range (more than two numbers) reads its own blocks only.
        assert!(near_street_keys(&form("155-159 Bruntsfield Place")).is_empty());
        assert!(near_street_keys(&form("Blackford Avenue")).is_empty());
    }

    #[test]
    fn words_in_brackets_come_after_the_name_as_generic_words() {
        let classes = |name: &str| -> Vec<(String, TokenClass)> {
            name_tokens(name)
                .0
                .into_iter()
                .map(|t| (t.text, t.class))
                .collect()
        };
        let d = |t: &str| (t.to_owned(), TokenClass::Distinctive);
        let g = |t: &str| (t.to_owned(), TokenClass::Generic);
        assert_eq!(
            classes("GOWANS (FISHMONGER)"),
            vec![d("gowans"), g("fishmonger")]
        );
        assert_eq!(
            classes("Tesco PFS (Esso) Willowbrae"),
            vec![
                ("tesco".to_owned(), TokenClass::Brand),
                g("pfs"),
                d("willowbrae"),
                g("esso")
            ]
        );
        assert_eq!(
            classes("Dome Cafe [EUSA"),
            vec![d("dome"), g("cafe"), g("eusa")]
        );
        // Brackets beside nothing telling are the name.
        assert_eq!(
            classes("Edinburgh Trading Ltd (Oriental Mkt)"),
            vec![g("edinburgh"), g("trading"), d("oriental"), g("mkt")]
        );
        // A name all in brackets is the name.
        assert_eq!(classes("(Harvey Nichols)"), vec![d("harvey"), d("nichols")]);
        // The name run together still reads every letter.
        assert_eq!(
            compact_name("Gowans (Fishmonger)"),
            compact_name("gowans fishmonger")
        );
    }

    #[test]
    fn phones_compare_by_their_e164_text_alone() {
        // Extraction writes every valid number in E.164; a number kept as written (not
        // valid in its source's region) is no key, whatever it looks like.
        assert_eq!(phone_key("+441314960173"), Some(441_314_960_173));
        assert_eq!(phone_key(" +12125550100 "), Some(12_125_550_100));
        for kept in ["0131 496 0173", "+44 131 496 0173", "212/555-01", "123", ""] {
            assert_eq!(phone_key(kept), None, "{kept:?}");
        }
    }

    #[test]
    fn streets_and_localities_have_matching_forms() {
        let lines = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let a = street_form(lines(&["32", "Earl Grey Street"]).iter());
        let b = street_form(lines(&["32 Earl Grey St, Edinburgh"]).iter());
        assert_eq!(a, b);
        assert_eq!(street_keys(&a).len(), 1);
        let range = street_form(lines(&["155-159 Bruntsfield Place"]).iter());
        let one = street_form(lines(&["157 Bruntsfield Pl"]).iter());
        assert_eq!(street_keys(&range).len(), 3);
        assert!(street_keys(&range).contains(&street_keys(&one)[0]));
        assert_eq!(
            street_numbers(&street_form(lines(&["21B Castle St"]).iter()))[0].suffix,
            Some(b'b')
        );
        assert!(street_form(lines(&["Edinburgh"]).iter()).is_empty());
        assert!(street_keys(&street_form(lines(&["George Square"]).iter())).is_empty());

        use trustfold_normalize::address::LocalityMatch::*;
        let l = |s: &str| locality_form(Some(s));
        assert_eq!(
            compare_localities(&l("EDINBURGH"), &l("City of Edinburgh")),
            Some(Same)
        );
        assert_eq!(
            compare_localities(&l("Leith, Edinburgh"), &l("Edinburgh")),
            Some(Compatible)
        );
        assert_eq!(
            compare_localities(&l("Leith"), &l("Edinburgh")),
            Some(Different)
        );
        assert_eq!(compare_localities(&l(""), &l("Edinburgh")), None);
        assert_eq!(
            locality_key(&l("Edinburgh")),
            locality_key(&l("EDINBURGH, Scotland"))
        );
    }

    #[test]
    fn websites_reduce_to_host_and_path() {
        let a = website_key("https://www.Powerleague.com/club/portobello/?utm=1").unwrap();
        let b = website_key("powerleague.com/club/portobello").unwrap();
        let c = website_key("http://powerleague.com/club/sighthill").unwrap();
        let home = website_key("https://powerleague.com/").unwrap();
        assert_eq!(a.similarity(b), 1.0);
        assert_eq!(a.similarity(c), 0.15);
        assert_eq!(a.similarity(home), 0.7);
        let fb1 = website_key("https://facebook.com/clubone").unwrap();
        let fb2 = website_key("https://facebook.com/clubtwo").unwrap();
        assert_eq!(fb1.similarity(fb2), 0.0);
        assert_ne!(fb1.block_key(), fb2.block_key());
        assert_eq!(website_key("not a url"), None);
    }

    #[test]
    fn one_edit_catches_typos_only() {
        assert!(one_edit_apart("drumbrae", "drumbrea"));
        assert!(one_edit_apart("drumbrae", "drumbra"));
        assert!(one_edit_apart("drumbrae", "drumbraes"));
        assert!(one_edit_apart("drumbrae", "drumbrac"));
        assert!(!one_edit_apart("drumbrae", "drumbeer"));
        assert!(!one_edit_apart("sighthill", "portobello"));
        for (a, b, two) in [
            ("croissantiere", "croissanterie", true),
            ("bruntsfield", "brunstfeild", true),
            ("drumbrae", "drumbrea", true),
            ("morningside", "morningside", true),
            ("morningside", "mornngsde", true),
            ("morningside", "mrnngsde", false),
            ("portobello", "sighthill", false),
            ("", "ab", true),
            ("", "abc", false),
        ] {
            assert_eq!(edits_at_most(a, b, 2), two, "{a} {b}");
            assert_eq!(edits_at_most(b, a, 2), two, "{b} {a}");
        }
        assert!(edits_at_most("drumbrae", "drumbrea", 1));
        assert!(!edits_at_most("croissantiere", "croissanterie", 1));
    }

    #[test]
    fn addresses_expand_abbreviations_and_drop_the_city() {
        let a = address_tokens(["29 Lee Cres, Edinburgh EH15 1LW, UK".to_owned()].iter());
        let b = address_tokens(["29 Lee Crescent".to_owned()].iter());
        assert_eq!(a, b);
    }
}
