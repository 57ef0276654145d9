//! The small amount of text normalisation matching needs: name folding and token classes,
//! phone numbers, postcodes, website hosts, address tokens and the coarse kind of a place.
//!
//! These helpers are private to `resolve` on purpose. They answer "are these two records
//! the same place?", not "how should this value be displayed?", so they may throw away
//! things a display form keeps (case, accents, "The", "Ltd", the URL scheme). Every function
//! is total: any input, however long or odd, gives an answer without panicking, and input
//! is cut at a named limit before any work is done on it.

use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::OnceLock;

/// Longest name, address line or category read, in bytes; the rest is ignored (cut at a
/// character boundary). No real place name comes near it; it bounds the work per record.
pub(crate) const TEXT_BYTES_MAX: usize = 256;

/// Most name tokens kept per name (after folding and dropping stop words). The token
/// matcher tracks used tokens in a `u32` bit set, so this must stay at or below 32.
pub(crate) const NAME_TOKENS_MAX: usize = 16;

/// Most address tokens kept per record (over all address lines).
pub(crate) const ADDRESS_TOKENS_MAX: usize = 16;

/// Most address lines, categories, sports or cross-referenced ids read per record.
pub(crate) const LIST_ITEMS_MAX: usize = 16;

/// Longest token kept, in bytes; longer tokens are cut (a 10 kB "word" is noise).
pub(crate) const TOKEN_BYTES_MAX: usize = 40;

/// Fewest digits of a phone number worth comparing: shorter strings are extensions,
/// fragments or placeholders, and would make unrelated records agree.
const PHONE_DIGITS_MIN: usize = 7;

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

/// Pairs of words that are one brand, joined before classing so "Power League" and
/// "Powerleague" agree.
const JOINS: &[(&str, &str, &str)] = &[
    ("power", "league", "powerleague"),
    ("david", "lloyd", "davidlloyd"),
    ("pure", "gym", "puregym"),
    ("gym", "group", "gymgroup"),
    ("pod", "point", "podpoint"),
    ("charge", "place", "chargeplace"),
];

/// Spelling variants and plurals folded to one form before classing.
const SYNONYMS: &[(&str, &str)] = &[
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

fn word_info(word: &str) -> WordInfo {
    word_table().get(word).copied().unwrap_or_default()
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

/// `s` cut to at most `max` bytes, at a character boundary.
pub(crate) fn clip(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Folds text for matching: lowercase, Latin accents stripped (the extractors' table) ("Café" -> "cafe"),
/// `&` -> " and ", apostrophes removed ("Queen's" -> "queens"), every other character that
/// is not a letter or digit -> space. Input is cut at [`TEXT_BYTES_MAX`] first.
pub(crate) fn fold(text: &str) -> String {
    let mut out = String::new();
    fold_into(text, &mut out);
    out
}

/// [`fold`] into a buffer the caller reuses.
pub(crate) fn fold_into(text: &str, out: &mut String) {
    out.clear();
    let text = clip(text, TEXT_BYTES_MAX);
    if text.is_ascii() {
        // Most names are ASCII: fold byte by byte (same rules as below), through a table
        // when no byte needs more than a one-for-one replacement.
        let mut bytes = std::mem::take(out).into_bytes();
        bytes.reserve(text.len() + 8);
        if text
            .bytes()
            .any(|b| matches!(b, b'&' | b'+' | b'\'' | b'`'))
        {
            for &b in text.as_bytes() {
                match b {
                    b'&' | b'+' => bytes.extend_from_slice(b" and "),
                    b'\'' | b'`' => {}
                    _ => bytes.push(ASCII_FOLD[usize::from(b)]),
                }
            }
        } else {
            bytes.extend(text.bytes().map(|b| ASCII_FOLD[usize::from(b)]));
        }
        // Only ASCII bytes were written, so this cannot fail.
        *out = String::from_utf8(bytes).unwrap_or_default();
        return;
    }
    for c in text.chars() {
        match c {
            '&' | '+' => out.push_str(" and "),
            '\'' | '\u{2019}' | '\u{2018}' | '`' => {}
            _ if c.is_ascii_alphanumeric() => out.push(c.to_ascii_lowercase()),
            _ if c.is_ascii() => out.push(' '),
            _ => match crate::extract::normalize::fold_char(c) {
                Some(base) => out.push_str(base),
                None if c.is_alphanumeric() => out.extend(c.to_lowercase()),
                None => out.push(' '),
            },
        }
    }
}

/// ASCII folding: letters lowercased, digits kept, everything else a space.
const ASCII_FOLD: [u8; 128] = {
    let mut t = [b' '; 128];
    let mut i = 0;
    while i < 128 {
        let b = i as u8;
        if b.is_ascii_alphanumeric() {
            t[i] = b.to_ascii_lowercase();
        }
        i += 1;
    }
    t
};

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
pub(crate) fn name_tokens(name: &str) -> (Vec<NameToken>, u32) {
    let folded = fold(name);
    let mut words: Vec<&str> = Vec::new();
    for raw in raw_tokens(&folded) {
        if words.len() >= NAME_TOKENS_MAX * 2 {
            break;
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
    let mut tokens: Vec<NameToken> = Vec::with_capacity(words.len().min(NAME_TOKENS_MAX));
    let mut kinds = 0u32;
    let mut i = 0;
    while i < words.len() && tokens.len() < NAME_TOKENS_MAX {
        let joined = words
            .get(i + 1)
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
            tokens.push(NameToken {
                text: word.to_owned(),
                class: class_of(word, info),
            });
        }
    }
    (tokens, kinds)
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

/// The national significant number of a phone number as an integer: digits only, an
/// international prefix (`+44`, `0044`, `44`) or trunk `0` removed, so "0131 496 0173",
/// "+44 131 496 0173" and "(0131) 4960173" agree. `None` for fewer than
/// [`PHONE_DIGITS_MIN`] digits or more than 15 (the E.164 maximum).
pub(crate) fn phone_key(phone: &str) -> Option<u64> {
    let phone = clip(phone, TEXT_BYTES_MAX);
    // An extension ("... ext 204", "x204") is not part of the number.
    let cut = phone
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(phone.len());
    let digits: String = phone[..cut].chars().filter(char::is_ascii_digit).collect();
    let mut d = digits.as_str();
    if let Some(rest) = d.strip_prefix("00") {
        d = rest;
    }
    if d.len() >= 11 && d.starts_with("44") {
        d = &d[2..];
    }
    let d = d.trim_start_matches('0');
    if d.len() < PHONE_DIGITS_MIN || d.len() > 15 {
        return None;
    }
    d.parse().ok()
}

/// A postcode packed into a `u64`: uppercase letters and digits only (at most 8 of them),
/// so "eh15 1lw" and "EH151LW" agree. `None` for fewer than 4 or more than 8 characters.
pub(crate) fn postcode_key(postcode: &str) -> Option<Postcode> {
    let postcode = clip(postcode, TEXT_BYTES_MAX);
    let chars: Vec<u8> = postcode
        .bytes()
        .filter(u8::is_ascii_alphanumeric)
        .map(|b| b.to_ascii_uppercase())
        .take(9)
        .collect();
    if chars.len() < 4 || chars.len() > 8 {
        return None;
    }
    let mut packed = 0u64;
    for &b in &chars {
        packed = (packed << 8) | u64::from(b);
    }
    // A UK postcode ends in its inward code, digit letter letter ("1LW"); everything before
    // it is the outward code ("EH15"), and the outward code plus the inward digit is the
    // sector ("EH15 1"). Other postcodes only compare whole.
    let n = chars.len();
    let uk = n >= 5
        && chars[n - 3].is_ascii_digit()
        && chars[n - 2].is_ascii_alphabetic()
        && chars[n - 1].is_ascii_alphabetic()
        && chars[0].is_ascii_alphabetic();
    Some(Postcode {
        full: packed,
        outward_len: if uk { (n - 3) as u8 } else { 0 },
        len: n as u8,
    })
}

/// A packed postcode (see [`postcode_key`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Postcode {
    /// The characters, 8 bits each, first character highest.
    pub full: u64,
    /// Length of the outward code, 0 when the postcode is not UK-shaped.
    pub outward_len: u8,
    /// Number of characters.
    pub len: u8,
}

impl Postcode {
    /// The first `k` characters, packed.
    fn prefix(self, k: u8) -> u64 {
        self.full >> (8 * u32::from(self.len - k))
    }

    /// How close two postcodes are: 1 the same, 0.6 the same sector ("EH15 1"), 0.45 the
    /// same outward code ("EH15"), 0 different (or not comparable beyond equality).
    pub(crate) fn similarity(self, other: Postcode) -> f64 {
        if self == other {
            return 1.0;
        }
        if self.outward_len == 0 || self.outward_len != other.outward_len {
            return 0.0;
        }
        let out = self.outward_len;
        if self.prefix(out + 1) == other.prefix(out + 1) {
            0.6
        } else if self.prefix(out) == other.prefix(out) {
            0.45
        } else {
            0.0
        }
    }
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
    let url = clip(url.trim(), TEXT_BYTES_MAX).to_ascii_lowercase();
    let rest = match url.find("://") {
        Some(i) => &url[i + 3..],
        None => url.as_str(),
    };
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    };
    // Drop credentials and port.
    let host = authority.rsplit('@').next().unwrap_or("");
    let host = host.split(':').next().unwrap_or("");
    let host = host.trim_end_matches('.');
    let host = host
        .strip_prefix("www.")
        .or_else(|| host.strip_prefix("m."))
        .unwrap_or(host);
    if host.is_empty() || !host.contains('.') || host.contains(char::is_whitespace) {
        return None;
    }
    let mut path = path.trim_end_matches('/');
    for index in ["/index.html", "/index.htm", "/index.php", "/home"] {
        if let Some(p) = path.strip_suffix(index) {
            path = p;
        }
    }
    let path = path.trim_end_matches('/');
    let shared_host = SHARED_HOSTS.iter().any(|s| {
        host == *s
            || (host.len() > s.len()
                && host.ends_with(s)
                && host.as_bytes()[host.len() - s.len() - 1] == b'.')
    });
    Some(Website {
        host: (hash_str(host) >> 32) as u32,
        full: (hash_parts(0, [host, path]) >> 32) as u32,
        path_empty: path.is_empty(),
        shared_host,
    })
}

/// Street-word abbreviations expanded in addresses.
const ADDRESS_ABBREVIATIONS: &[(&str, &str)] = &[
    ("rd", "road"),
    ("st", "street"),
    ("ave", "avenue"),
    ("av", "avenue"),
    ("cres", "crescent"),
    ("dr", "drive"),
    ("pl", "place"),
    ("ter", "terrace"),
    ("terr", "terrace"),
    ("gdns", "gardens"),
    ("sq", "square"),
    ("ln", "lane"),
    ("ct", "court"),
    ("pk", "park"),
    ("gr", "grove"),
    ("cl", "close"),
    ("hwy", "highway"),
    ("bldgs", "buildings"),
];

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
            if ADDRESS_NOISE.contains(&raw) || looks_like_postcode_part(raw) {
                continue;
            }
            let word = ADDRESS_ABBREVIATIONS
                .iter()
                .find(|(a, _)| *a == raw)
                .map_or(raw, |(_, e)| *e);
            if !f(word) {
                return;
            }
        }
    }
}

/// "eh15", "1lw", "eh151lw": tokens of a postcode inside an address line (the postcode is
/// compared on its own).
fn looks_like_postcode_part(token: &str) -> bool {
    let b = token.as_bytes();
    let letters = b.iter().take_while(|c| c.is_ascii_alphabetic()).count();
    let outward = (1..=2).contains(&letters)
        && b.len() > letters
        && b.len() <= letters + 2
        && b[letters..].iter().all(u8::is_ascii_digit);
    let inward =
        b.len() == 3 && b[0].is_ascii_digit() && b[1..].iter().all(u8::is_ascii_alphabetic);
    let whole =
        b.len() >= 5 && b.len() <= 7 && postcode_key(token).is_some_and(|p| p.outward_len > 0);
    (outward && letters == 2) || inward || (whole && letters == 2)
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

/// A fast 64-bit hash of a string (FNV-1a then a finaliser): keys of the blocking maps.
/// Not cryptographic and not persisted: it only has to be the same within one process.
pub(crate) fn hash_str(s: &str) -> u64 {
    hash_parts(0, [s])
}

/// [`hash_str`] of several strings at once, as if joined by a separator that cannot occur
/// in them, without building the joined string. `seed` gives independent hashes.
pub(crate) fn hash_parts<'a>(seed: u64, parts: impl IntoIterator<Item = &'a str>) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    for (i, part) in parts.into_iter().enumerate() {
        if i > 0 {
            h ^= 0x1f_u64 | 0x100;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        for b in part.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    fmix64(h)
}

/// A tiny multiplicative hasher for the matcher's maps (keys are integers and short strings
/// made by this module, not chosen by an attacker), finished with a full avalanche so that
/// the low bits a table indexes by depend on every input bit.
#[derive(Clone, Copy, Default)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
}

impl Hasher for FastHasher {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.add(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        fmix64(self.0)
    }
}

pub(crate) type FastMap<K, V> = HashMap<K, V, BuildHasherDefault<FastHasher>>;

/// A streaming 128-bit hash (two independent multiplicative lanes, each finished with
/// [`fmix64`]) of a sequence of byte strings; each part is length-prefixed, so the parts
/// ("ab", "c") and ("a", "bc") differ. For fingerprints and map keys within one process.
#[derive(Clone, Copy)]
pub(crate) struct Hash128 {
    a: u64,
    b: u64,
}

impl Default for Hash128 {
    fn default() -> Self {
        Hash128 {
            a: 0x243f_6a88_85a3_08d3,
            b: 0x1319_8a2e_0370_7344,
        }
    }
}

impl Hash128 {
    fn word(&mut self, w: u64) {
        self.a = (self.a.rotate_left(5) ^ w).wrapping_mul(0x517c_c1b7_2722_0a95);
        self.b = (self.b.rotate_left(23) ^ w).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }

    /// Adds one part.
    pub(crate) fn part(&mut self, bytes: &[u8]) {
        self.word(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(chunk);
            self.word(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.word(u64::from_le_bytes(w));
        }
    }

    /// Adds a marker that no part can produce (parts start with their length).
    pub(crate) fn tag(&mut self, tag: u8) {
        self.word(u64::MAX - u64::from(tag));
    }

    pub(crate) fn finish(self) -> (u64, u64) {
        (fmix64(self.a), fmix64(self.b ^ 0x5851_f42d_4c95_7f2d))
    }
}

/// MurmurHash3's 64-bit finaliser: spreads every input bit over the whole word.
pub(crate) fn fmix64(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^= h >> 33;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(name: &str) -> Vec<String> {
        name_tokens(name).0.into_iter().map(|t| t.text).collect()
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
    fn token_classes_weigh_place_names_above_filler() {
        assert_eq!(token_class("portobello"), TokenClass::Distinctive);
        assert_eq!(token_class("tennis"), TokenClass::Kind);
        assert_eq!(token_class("powerleague"), TokenClass::Brand);
        assert_eq!(token_class("club"), TokenClass::Generic);
        assert_eq!(token_class("edinburgh"), TokenClass::Generic);
    }

    #[test]
    fn phones_agree_across_formats() {
        let k = phone_key("0131 496 0173");
        assert!(k.is_some());
        for other in [
            "+44 131 496 0173",
            "(0131) 4960173",
            "0044 131 496 0173",
            "+441314960173",
            "0131-496-0173 ext 2",
        ] {
            assert_eq!(phone_key(other), k, "{other}");
        }
        assert_eq!(phone_key("123"), None);
        assert_eq!(phone_key(""), None);
    }

    #[test]
    fn postcodes_compare_by_unit_sector_and_district() {
        let a = postcode_key("EH15 1LW").unwrap();
        assert_eq!(postcode_key("eh151lw"), Some(a));
        assert_eq!(a.similarity(postcode_key("EH15 1XX").unwrap()), 0.6);
        assert_eq!(a.similarity(postcode_key("EH15 2AB").unwrap()), 0.45);
        assert_eq!(a.similarity(postcode_key("EH1 1LW").unwrap()), 0.0);
        assert_eq!(postcode_key("x"), None);
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
    }

    #[test]
    fn addresses_expand_abbreviations_and_drop_the_city() {
        let a = address_tokens(["29 Lee Cres, Edinburgh EH15 1LW, UK".to_owned()].iter());
        let b = address_tokens(["29 Lee Crescent".to_owned()].iter());
        assert_eq!(a, b);
    }
}
