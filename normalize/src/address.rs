//! Addresses: lines, localities, one-line UK addresses split into their parts, and the
//! form matching compares: a street with its house numbers, read the same way whichever
//! country's conventions wrote it (street types and their abbreviations, directions, house
//! numbers and ranges, unit and suite noise, punctuation, `&` for "and").

use crate::postcode::{is_outward, is_postcode_part, postcode};
use crate::text::{clean_text, fold, free_text};

/// Longest address line or locality, in characters.
pub const ADDRESS_CHARS_MAX: usize = 200;

/// Most house numbers kept for one address: a range is expanded to its numbers on one side
/// of the street ("11-23" is 11, 13, ..., 23) while it has at most this many, else only its
/// ends are kept. Bounds the blocks an address is filed under.
pub const HOUSE_NUMBERS_MAX: usize = 8;

/// Most words of a street name kept (a longer "street" is a description).
pub const STREET_WORDS_MAX: usize = 8;

/// Parts of an address that name a country, a nation or a region, never a locality.
const REGIONS: &[&str] = &[
    "uk",
    "u.k.",
    "united kingdom",
    "gb",
    "great britain",
    "britain",
    "scotland",
    "england",
    "wales",
    "northern ireland",
    "lothian",
    "midlothian",
    "east lothian",
    "west lothian",
    "fife",
    "scottish borders",
    "usa",
    "us",
    "u.s.",
    "u.s.a.",
    "united states",
    "united states of america",
    "canada",
    "ireland",
    "france",
    "germany",
    "deutschland",
];

/// Whether `s` is a country, nation or region name (see `REGIONS`).
pub fn is_region(s: &str) -> bool {
    let lower = clean_text(s).to_lowercase();
    REGIONS.contains(&lower.as_str())
}

/// Whether an address part reads like a street: it has a digit (a house number) or a
/// street word ("Westbank St", "Robertson Close", "Lochend Rd South").
pub fn looks_like_street(s: &str) -> bool {
    s.chars().any(|c| c.is_ascii_digit())
        || s.split(|c: char| !c.is_alphanumeric())
            .any(|w| street_type(&w.to_lowercase()).is_some())
}

/// A locality (post town) in canonical form: cleaned, "nr"/"near" dropped, "City of X"
/// read as "X", ALL-CAPS text in title case ("KIRKLISTON" → "Kirkliston"). `None` for
/// placeholders and for text with digits (a postcode or a house number is not a town).
pub fn locality(raw: &str) -> Option<String> {
    let s = free_text(raw, ADDRESS_CHARS_MAX)?;
    // A town name is letters with a few joining marks; digits mean a postcode or a house
    // number, other punctuation means it is not a name at all.
    let town_char = |c: char| {
        c.is_alphabetic() || c == ' ' || matches!(c, '-' | '\'' | '’' | '.' | '(' | ')' | '&')
    };
    if !s.chars().all(town_char) {
        return None;
    }
    let mut s = s.as_str();
    for prefix in ["nr ", "nr. ", "near ", "city of "] {
        // `get`, not indexing: the prefix's length may fall inside a character of `s`.
        let head = s.get(..prefix.len());
        if s.len() > prefix.len() && head.is_some_and(|h| h.eq_ignore_ascii_case(prefix)) {
            s = &s[prefix.len()..];
        }
    }
    if is_region(s) || !s.chars().any(char::is_alphabetic) {
        return None;
    }
    if s.chars().any(char::is_lowercase) {
        return Some(s.to_string());
    }
    // Title case for text the source wrote in capitals. Only one-to-one case mappings are
    // applied (a few letters expand, "ᾈ" → "ἈΙ"), so the result is stable when re-read.
    let mut out = String::with_capacity(s.len());
    let mut word_start = true;
    for c in s.chars() {
        if word_start {
            out.push(c);
        } else {
            let mut lower = c.to_lowercase();
            match (lower.next(), lower.next()) {
                (Some(l), None) => out.push(l),
                _ => out.push(c),
            }
        }
        word_start = c == ' ' || c == '-';
    }
    Some(out)
}

/// One address line: cleaned free text of at most [`ADDRESS_CHARS_MAX`] characters.
pub fn address_line(raw: &str) -> Option<String> {
    free_text(raw, ADDRESS_CHARS_MAX)
}

/// Most comma-separated parts of one address looked at.
pub const ADDRESS_PARTS_MAX: usize = 16;

/// If the last words of `part` are a postcode ("Edinburgh EH15 1DR", "Edinburgh
/// EH112PX"), the words before it and the postcode.
fn trailing_postcode(part: &str) -> Option<(String, String)> {
    let words: Vec<&str> = part.split_whitespace().collect();
    for take in [2, 1] {
        if words.len() >= take {
            let split = words.len() - take;
            if let Some(pc) = postcode(&words[split..].join(" ")) {
                return Some((words[..split].join(" "), pc));
            }
        }
    }
    None
}

/// If `part` is a town followed by an outward code only ("Edinburgh EH3", "Kirkliston
/// EH29"), the town.
fn town_before_outward_code(part: &str) -> Option<String> {
    let (town, code) = part.rsplit_once(' ')?;
    let code = code.to_ascii_uppercase();
    (is_outward(code.as_bytes()) && !town.chars().any(|c| c.is_ascii_digit()))
        .then(|| town.to_string())
}

/// A house number on its own: digits, an optional letter, an optional "/flat" ("1", "12a",
/// "135/7").
fn is_house_number(s: &str) -> bool {
    let (number, flat) = s.split_once('/').unwrap_or((s, ""));
    let digits = number.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    number.len() - digits.len() <= 1
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && flat.chars().all(|c| c.is_ascii_digit())
}

/// Splits a one-line UK address ("10 Westbank St, Edinburgh EH15 1DR, UK") into its street
/// lines, locality and postcode: `(["10 Westbank St"], Some("Edinburgh"), Some("EH15 1DR"))`.
///
/// Parts are separated by commas. Trailing country and region parts ("UK", "Scotland",
/// "Midlothian") are dropped. The postcode is the last part, or the end of the last part;
/// the words before it in the same part are the locality. An outward code alone ("Edinburgh
/// EH3") is dropped: it is not a postcode. Without a postcode-borne locality, the last part
/// is the locality when it does not read like a street (no digits, no street word). A part
/// that is only a house number is joined to the next ("1, New Park Square" → "1 New Park
/// Square"). The remaining parts are the lines, in order.
pub fn split_uk_address(s: &str) -> (Vec<String>, Option<String>, Option<String>) {
    let mut parts: Vec<String> = s
        .split([',', '\n'])
        .take(ADDRESS_PARTS_MAX)
        .filter_map(address_line)
        .collect();
    // Google writes some house numbers as a part of their own ("1, New Park Square").
    let mut i = 0;
    while i + 1 < parts.len() {
        if is_house_number(&parts[i]) {
            let next = parts.remove(i + 1);
            parts[i] = format!("{} {next}", parts[i]);
        }
        i += 1;
    }
    let drop_regions = |parts: &mut Vec<String>| {
        while parts.last().is_some_and(|p| is_region(p)) {
            parts.pop();
        }
    };
    drop_regions(&mut parts);
    let mut town = None;
    let mut pc = None;
    if let Some(last) = parts.last().cloned() {
        if let Some(p) = postcode(&last) {
            pc = Some(p);
            parts.pop();
        } else if let Some((before, p)) = trailing_postcode(&last) {
            pc = Some(p);
            parts.pop();
            town = locality(&before);
        } else if let Some(before) = town_before_outward_code(&last) {
            parts.pop();
            town = locality(&before);
        }
    }
    drop_regions(&mut parts);
    if town.is_none() {
        if let Some(last) = parts.last() {
            if !looks_like_street(last) {
                town = locality(last);
                if town.is_some() {
                    parts.pop();
                }
            }
        }
    }
    (parts, town, pc)
}

// ---------------------------------------------------------------------------------------
// Streets and house numbers, for matching
// ---------------------------------------------------------------------------------------

/// Street types, their full form first, then the abbreviations sources write (Royal Mail,
/// USPS, Canada Post and Australia Post usage). One table: [`looks_like_street`] and
/// [`street_address`] both read it.
const STREET_TYPES: &[(&str, &[&str])] = &[
    ("street", &["st", "str", "strt"]),
    ("road", &["rd"]),
    ("avenue", &["ave", "av", "avn", "avenu"]),
    ("boulevard", &["blvd", "boul", "boulv", "bd"]),
    ("drive", &["dr", "drv"]),
    ("place", &["pl"]),
    ("lane", &["ln"]),
    ("court", &["ct", "crt"]),
    ("crescent", &["cres", "cresc", "crsnt"]),
    ("terrace", &["ter", "terr", "tce"]),
    ("gardens", &["gdns", "gdn", "gardns"]),
    ("square", &["sq", "sqr"]),
    ("close", &["cl"]),
    ("grove", &["gr", "gro", "grv"]),
    ("parkway", &["pkwy", "pky", "pkway"]),
    ("highway", &["hwy", "hiway"]),
    ("circle", &["cir", "circ"]),
    ("circus", &[]),
    ("expressway", &["expy", "expwy"]),
    ("freeway", &["fwy"]),
    ("turnpike", &["tpke"]),
    ("trail", &["trl"]),
    ("way", &["wy"]),
    ("alley", &["aly"]),
    ("parade", &["pde"]),
    ("esplanade", &["esp", "espl"]),
    ("heights", &["hts"]),
    ("mews", &[]),
    ("row", &[]),
    ("wynd", &[]),
    ("loan", &[]),
    ("brae", &[]),
    ("walk", &[]),
    ("gate", &[]),
    ("quay", &[]),
    ("wharf", &[]),
    ("approach", &["app"]),
    ("vennel", &[]),
    ("yards", &[]),
    ("pass", &[]),
    ("plaza", &["plz"]),
    ("bridge", &["br", "brg"]),
    ("centre", &["ctr", "center"]),
    ("park", &["pk"]),
    // Not streets, but what a shop in one gives as its street.
    ("mall", &[]),
    ("arcade", &[]),
];

/// Directions, full form first. Read as directions only beside other street words ("N Main
/// St", "Lochend Rd S"); "North Bridge" keeps its "north" (the full form is the same).
const DIRECTIONS: &[(&str, &[&str])] = &[
    ("north", &["n"]),
    ("south", &["s"]),
    ("east", &["e"]),
    ("west", &["w"]),
    ("northeast", &["ne"]),
    ("northwest", &["nw"]),
    ("southeast", &["se"]),
    ("southwest", &["sw"]),
];

/// Ordinal words in street names, as the numbers the other spelling uses ("Fifth Avenue"
/// is "5th Avenue").
const ORDINALS: &[(&str, &str)] = &[
    ("first", "1st"),
    ("second", "2nd"),
    ("third", "3rd"),
    ("fourth", "4th"),
    ("fifth", "5th"),
    ("sixth", "6th"),
    ("seventh", "7th"),
    ("eighth", "8th"),
    ("ninth", "9th"),
    ("tenth", "10th"),
];

/// Words that start a unit, suite, flat or floor designation, which says where inside a
/// building and nothing about the street: dropped with the identifier after them ("Suite
/// 200", "Unit 3B", "Flat 2", "Apt 4", "Floor 1", "1st Floor", "#200").
const UNIT_WORDS: &[&str] = &[
    "unit",
    "units",
    "suite",
    "ste",
    "apt",
    "apartment",
    "flat",
    "floor",
    "fl",
    "room",
    "rm",
    "bldg",
    "building",
    "level",
    "lvl",
    "dept",
    "office",
    "shop",
    "kiosk",
    "stall",
    "box",
    "pmb",
];

/// The full form of a street type word or abbreviation ("rd" → "road").
pub fn street_type(word: &str) -> Option<&'static str> {
    STREET_TYPES
        .iter()
        .find(|(full, abbrs)| *full == word || abbrs.contains(&word))
        .map(|(full, _)| *full)
}

fn direction(word: &str) -> Option<&'static str> {
    DIRECTIONS
        .iter()
        .find(|(full, abbrs)| *full == word || abbrs.contains(&word))
        .map(|(full, _)| *full)
}

/// One house number, or a range of them, with a letter suffix when it has one ("12a").
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HouseNumber {
    pub lo: u32,
    pub hi: u32,
    /// The letter after a single number ("21B" → `b`), lowercase.
    pub suffix: Option<u8>,
}

/// Largest house number read: longer digit runs are not house numbers (a phone number or
/// a postcode written into the line).
const HOUSE_NUMBER_MAX: u32 = 99_999;

/// A street address as matching compares it: the street's name and the house numbers on
/// it. Both sources' spellings of one address give the same value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StreetAddress {
    /// The street's words, folded, street types and directions in full ("st andrews sq" →
    /// "saint andrews square", "N. Main St." → "north main street").
    pub street: String,
    /// The numbers given for it, in order, at most [`HOUSE_NUMBERS_MAX`] ranges.
    pub numbers: Vec<HouseNumber>,
}

impl StreetAddress {
    /// The house numbers the address stands at, each once, ascending, at most
    /// [`HOUSE_NUMBERS_MAX`]: single numbers as they are, a range on one side of the street
    /// ("155-159": 155, 157, 159) or, when its ends differ in parity ("25-28"), every
    /// number in it; a range with more numbers than the limit by its two ends.
    pub fn house_numbers(&self) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for n in &self.numbers {
            let step = if (n.hi - n.lo) % 2 == 0 { 2 } else { 1 };
            let count = (n.hi - n.lo) / step + 1;
            if count as usize <= HOUSE_NUMBERS_MAX {
                out.extend((0..count).map(|i| n.lo + i * step));
            } else {
                out.extend([n.lo, n.hi]);
            }
        }
        out.sort_unstable();
        out.dedup();
        out.truncate(HOUSE_NUMBERS_MAX);
        out
    }
}

/// How two addresses' house numbers compare on the same street.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NumbersMatch {
    /// The same numbers ("30A" and "30a"; "155-157" and "155; 157").
    Same,
    /// They share a number without being the same: one a range holding the other, a
    /// number with and without its letter ("21B", "21").
    Overlap,
    /// One or both give no number.
    Unknown,
    /// Different numbers at most [`NEAR_NUMBERS`] apart ("34" and "36"; "46" and "47", a
    /// corner or a listing's slip).
    Near,
    /// Different numbers further apart.
    Different,
}

/// House numbers this far apart may be one shop that the listings number differently (a
/// double frontage, a corner, a slip).
pub const NEAR_NUMBERS: u32 = 2;

/// Compares two lists of house numbers (see [`NumbersMatch`]).
pub fn compare_numbers(a: &[HouseNumber], b: &[HouseNumber]) -> NumbersMatch {
    if a.is_empty() || b.is_empty() {
        return NumbersMatch::Unknown;
    }
    // The numbers each covers on its side of the street ("155-159": 155, 157, 159).
    let covered = |ns: &[HouseNumber]| {
        let mut v: Vec<u32> = Vec::new();
        for n in ns {
            let step = if (n.hi - n.lo) % 2 == 0 { 2 } else { 1 };
            if (n.hi - n.lo) / step <= 2 * HOUSE_NUMBERS_MAX as u32 {
                v.extend((n.lo..=n.hi).step_by(step as usize));
            } else {
                v.extend([n.lo, n.hi]);
            }
        }
        v.sort_unstable();
        v.dedup();
        v
    };
    let suffixes = |ns: &[HouseNumber]| {
        let mut v: Vec<(u32, Option<u8>)> = ns.iter().map(|n| (n.lo, n.suffix)).collect();
        v.sort_unstable();
        v
    };
    let (ca, cb) = (covered(a), covered(b));
    if ca == cb {
        return if suffixes(a) == suffixes(b) || a.iter().chain(b).all(|n| n.suffix.is_none()) {
            NumbersMatch::Same
        } else {
            NumbersMatch::Overlap
        };
    }
    if ca.iter().any(|x| cb.contains(x)) {
        return NumbersMatch::Overlap;
    }
    let near = ca
        .iter()
        .any(|x| cb.iter().any(|y| x.abs_diff(*y) <= NEAR_NUMBERS));
    if near {
        NumbersMatch::Near
    } else {
        NumbersMatch::Different
    }
}

/// One word of an address part as read: a house number (or a list or range of them), a
/// unit designation, or a word.
fn house_numbers_of(token: &str) -> Option<Vec<HouseNumber>> {
    // "47;49", "97-99-101", "3-5a", "12/3" (flat 3 of number 12), "30A", "12-14".
    let token = token.trim_matches(|c: char| c == ',' || c == ';' || c == '.');
    if token.is_empty() || !token.as_bytes()[0].is_ascii_digit() {
        return None;
    }
    let token = token.split('/').next().unwrap_or(token);
    let parts: Vec<&str> = token
        .split(['-', ';', '\u{2013}', '\u{2014}', '&'])
        .filter(|p| !p.is_empty())
        .collect();
    if parts.is_empty() || parts.len() > HOUSE_NUMBERS_MAX {
        return None;
    }
    let mut singles: Vec<(u32, Option<u8>)> = Vec::with_capacity(parts.len());
    for p in &parts {
        // "119B-C": a letter alone after a lettered number is that number's next letter.
        if let (&[letter], Some(&(n, Some(_)))) = (p.as_bytes(), singles.last()) {
            if letter.is_ascii_alphabetic() {
                singles.push((n, Some(letter.to_ascii_lowercase())));
                continue;
            }
        }
        let digits = p.trim_end_matches(|c: char| c.is_ascii_alphabetic());
        let letters = &p[digits.len()..];
        if digits.is_empty() || letters.len() > 1 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let n: u32 = digits.parse().ok().filter(|n| *n <= HOUSE_NUMBER_MAX)?;
        singles.push((n, letters.bytes().next().map(|b| b.to_ascii_lowercase())));
    }
    // "12-14": a range; "97-99-101", "47;49": a list. A range's end below its start
    // ("12-4") is a list.
    let is_range = parts.len() == 2
        && token.contains(['-', '\u{2013}', '\u{2014}'])
        && singles[0].0 < singles[1].0;
    if is_range {
        let (lo, hi) = (singles[0].0, singles[1].0);
        return Some(vec![HouseNumber {
            lo,
            hi,
            suffix: None,
        }]);
    }
    Some(
        singles
            .into_iter()
            .map(|(n, suffix)| HouseNumber {
                lo: n,
                hi: n,
                suffix,
            })
            .collect(),
    )
}

/// Reads the street and house numbers out of a record's address lines, or `None` when no
/// line names a street.
///
/// * Lines are split at commas; a part that is only house numbers ("32", "47; 49",
///   "97-99-101") gives its numbers to the next part (OpenStreetMap keeps `addr:housenumber`
///   and `addr:street` apart).
/// * Unit, suite, flat and floor designations are dropped with their identifier ("Suite
///   200", "Unit 12", "Flat 2", "1st Floor", "#4"), as is a postcode at the end.
/// * The street is the first part with a house number before it ("10 Downing St"), after
///   it ("Hauptstraße 5", "Rue de Rivoli 12"), or a street type word ("Leith Walk" has
///   none: it is read when it has a number); its words are folded ([`fold`]: accents, case,
///   `&` for "and", punctuation) and street types and directions spelled in full
///   ([`street_type`]), "St" at the start being "Saint".
pub fn street_address<'a>(lines: impl IntoIterator<Item = &'a str>) -> Option<StreetAddress> {
    let mut pending: Vec<HouseNumber> = Vec::new();
    // Without a numbered part, the first part with a street type, a street's before a
    // building's ("Princes Mall, Princes Street" is on Princes Street).
    let mut unnumbered: Option<(bool, StreetAddress)> = None;
    for line in lines.into_iter().take(ADDRESS_PARTS_MAX) {
        for part in crate::text::clip(line, 512)
            .split([',', '\n'])
            .take(ADDRESS_PARTS_MAX)
        {
            let words = part_words(part);
            if words.is_empty() {
                continue;
            }
            let (numbers, rest) = leading_numbers(premises_dropped(&words));
            if rest.is_empty() {
                if !numbers.is_empty() {
                    pending = numbers;
                }
                continue;
            }
            let mut numbers = if numbers.is_empty() {
                std::mem::take(&mut pending)
            } else {
                numbers
            };
            let mut rest = rest.to_vec();
            // A number after the street ("Hauptstrasse 5").
            if numbers.is_empty() {
                if let Some(last) = rest.last().and_then(|w| house_numbers_of(w)) {
                    if rest.len() >= 2 {
                        numbers = last;
                        rest.pop();
                    }
                }
            }
            let has_type = rest.iter().any(|w| street_type(w).is_some());
            if numbers.is_empty() && !has_type {
                continue;
            }
            let Some(street) = street_name(&rest) else {
                continue;
            };
            if !numbers.is_empty() {
                numbers.truncate(HOUSE_NUMBERS_MAX);
                return Some(StreetAddress { street, numbers });
            }
            let building = rest
                .iter()
                .filter_map(|w| street_type(w))
                .all(|t| BUILDING_TYPES.contains(&t));
            if unnumbered.as_ref().is_none_or(|(b, _)| *b && !building) {
                unnumbered = Some((building, StreetAddress { street, numbers }));
            }
        }
    }
    unnumbered.map(|(_, s)| s)
}

/// The words of a part from its last run of house numbers with words after it, when the
/// words before that run name no street: they say which premises ("Ground Floor 12 Leith
/// Walk", "GF 12 ...", "No. 12 ...", "Basement 3 ..."). Else all the words.
fn premises_dropped(words: &[String]) -> &[String] {
    let is_number = |w: &String| house_numbers_of(w).is_some() && !is_ordinal(w);
    let Some(last) = words.iter().rposition(is_number) else {
        return words;
    };
    if last + 1 == words.len() {
        return words;
    }
    let mut start = last;
    while start > 0 && is_number(&words[start - 1]) {
        start -= 1;
    }
    if start == 0 || words[..start].iter().any(|w| street_type(w).is_some()) {
        return words;
    }
    &words[start..]
}

/// Street types that name a building or a precinct rather than a street: a part with one
/// of these is the street only when no other part names one.
const BUILDING_TYPES: &[&str] = &["mall", "arcade", "centre", "plaza", "park"];

/// The words of one address part: folded, with unit designations and postcode parts
/// dropped; house-number tokens keep their separators ("47;49", "3-5a"), a list written
/// with spaces ("47; 49; 51", "155 - 157") being joined into one token first.
fn part_words(part: &str) -> Vec<String> {
    // What brackets hold says which premises or who: "12 Leith Walk (Shop)", "12 (GF)".
    let mut cleaned = clean_text(part);
    while let (Some(open), Some(close)) = (cleaned.find('('), cleaned.find(')')) {
        if close < open {
            break;
        }
        cleaned.replace_range(open..=close, " ");
    }
    let separator = |c: char| matches!(c, ';' | '&' | '-' | '\u{2013}');
    let starts_with_digit = |s: &str| s.as_bytes().first().is_some_and(u8::is_ascii_digit);
    let mut raw: Vec<String> = Vec::new();
    for t in cleaned.split_whitespace() {
        if let Some(last) = raw.last_mut() {
            let in_list = starts_with_digit(last) && house_numbers_of(last).is_some();
            if in_list && t.eq_ignore_ascii_case("and") {
                // "12 and 14 Leith Walk" is "12 & 14".
                last.push('&');
                continue;
            }
            let joins = in_list
                && ((last.ends_with(separator) && starts_with_digit(t))
                    || (t.chars().all(separator) && !t.is_empty())
                    || (t.starts_with(separator) && starts_with_digit(&t[1..])));
            if joins {
                last.push_str(t);
                continue;
            }
        }
        raw.push(t.to_string());
    }
    // "27 A Station Road": a house number's letter written apart, before more words. Not
    // a direction's initial ("12 E 42nd St", "5 N Main St").
    let mut i = 1;
    while i + 1 < raw.len() {
        let letter = raw[i].as_bytes();
        let detached = matches!(
            letter,
            &[b'A'..=b'D' | b'F'..=b'H' | b'a'..=b'd' | b'f'..=b'h']
        ) && raw[i - 1].bytes().all(|b| b.is_ascii_digit());
        if detached {
            let letter = raw.remove(i);
            raw[i - 1].push_str(&letter);
        }
        i += 1;
    }
    let mut words: Vec<String> = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        let w = raw[i].as_str();
        i += 1;
        if let Some(unit) = w.strip_prefix('#') {
            // "#200" is a unit; in "# 200" its number is the next word.
            if unit.is_empty() {
                i += 1;
            }
            continue;
        }
        if house_numbers_of(w).is_some() && !is_ordinal(w) {
            words.push(w.trim_end_matches(separator).to_string());
            continue;
        }
        let folded = fold(w);
        let key = folded.trim();
        if UNIT_WORDS.contains(&key) {
            // The identifier follows ("Suite 200", "Flat 2"). A unit's number that leads
            // straight into the street, in a part with no other house number, is the
            // number on that street: "Unit 54 Jane Street" is 54 Jane Street to a listing
            // that leaves the word out.
            let numbered_street = raw.get(i).is_some_and(|n| {
                starts_with_digit(n) && house_numbers_of(n).is_some() && !is_ordinal(n)
            }) && raw.len() > i + 1
                && !words.iter().any(|w| house_numbers_of(w).is_some())
                && !raw[i + 1..]
                    .iter()
                    .any(|w| starts_with_digit(w) && house_numbers_of(w).is_some());
            if numbered_street {
                words.push(raw[i].trim_end_matches(separator).to_string());
            }
            i += 1;
            // More units of one listing: "Unit L5 & L6", "Units 3 and 4".
            while i + 1 < raw.len()
                && matches!(fold(&raw[i]).trim(), "and" | "")
                && raw[i + 1].bytes().any(|b| b.is_ascii_digit())
            {
                i += 2;
            }
            continue;
        }
        if is_ordinal(key)
            && raw
                .get(i)
                .is_some_and(|n| UNIT_WORDS.contains(&fold(n).trim()))
        {
            // "1st Floor".
            i += 1;
            continue;
        }
        for f in folded.split_whitespace() {
            if f.bytes().any(|b| b.is_ascii_digit())
                && !is_ordinal(f)
                && is_postcode_part(&f.to_ascii_uppercase())
            {
                continue;
            }
            words.push(f.to_string());
        }
    }
    words
}

fn is_ordinal(w: &str) -> bool {
    let digits = w.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && matches!(&w[digits.len()..], "st" | "nd" | "rd" | "th")
}

/// The house numbers at the start of a part's words, and the words after them.
fn leading_numbers(words: &[String]) -> (Vec<HouseNumber>, &[String]) {
    let mut numbers = Vec::new();
    let mut i = 0;
    while i < words.len() {
        match house_numbers_of(&words[i]) {
            Some(ns) if numbers.len() + ns.len() <= HOUSE_NUMBERS_MAX => {
                numbers.extend(ns);
                i += 1;
            }
            _ => break,
        }
    }
    (numbers, &words[i..])
}

/// The canonical name of a street from its folded words (see [`street_address`]).
fn street_name(words: &[String]) -> Option<String> {
    let words: Vec<&str> = words
        .iter()
        .flat_map(|w| w.split_whitespace())
        .filter(|w| !w.is_empty())
        .take(STREET_WORDS_MAX)
        .collect();
    if words.is_empty() {
        return None;
    }
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    for (i, w) in words.iter().enumerate() {
        let last = i + 1 == words.len();
        let word = if i == 0 && (*w == "st" || *w == "ste") && words.len() > 1 {
            // "St Andrew Square", "Ste Catherine": Saint.
            "saint"
        } else if *w == "mt" && !last {
            "mount"
        } else if let Some(d) = direction(w)
            .filter(|_| words.len() > 1 && (i == 0 || last || street_type(words[i - 1]).is_some()))
        {
            d
        } else if let Some(t) = street_type(w).filter(|_| i > 0) {
            t
        } else if let Some((_, n)) = ORDINALS.iter().find(|(word, _)| word == w) {
            n
        } else {
            w
        };
        out.push(word);
    }
    // A street of nothing but a number or a type is not a street.
    if !out
        .iter()
        .any(|w| w.bytes().any(|b| b.is_ascii_alphabetic()))
    {
        return None;
    }
    Some(out.join(" "))
}

// ---------------------------------------------------------------------------------------
// Localities, for matching
// ---------------------------------------------------------------------------------------

/// How two records' localities compare.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalityMatch {
    /// The same place name ("EDINBURGH" and "Edinburgh").
    Same,
    /// One name holds the other ("New York City" and "New York"; "Leith, Edinburgh" and
    /// "Edinburgh"): written at different detail.
    Compatible,
    /// Different names: other towns, or one a district and the other its city ("Leith"
    /// and "Edinburgh"), which only a gazetteer could tell apart. Weak evidence against.
    Different,
}

/// A locality's matching key: folded words, without "city of", "nr"/"near" and region
/// words ("Edinburgh, Scotland" → "edinburgh"). Empty when nothing is left.
pub fn locality_key(raw: &str) -> String {
    let folded = fold(raw);
    let words: Vec<&str> = folded.split_whitespace().collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    while i < words.len() {
        let w = words[i];
        if (i == 0 && matches!(w, "nr" | "near"))
            || (w == "city" && words.get(i + 1) == Some(&"of"))
        {
            i += if w == "city" { 2 } else { 1 };
            continue;
        }
        out.push(w);
        i += 1;
    }
    while out.len() > 1 {
        let tail2 = out.len() >= 2 && is_region(&out[out.len() - 2..].join(" "));
        if tail2 {
            out.truncate(out.len() - 2);
        } else if is_region(out[out.len() - 1]) {
            out.pop();
        } else {
            break;
        }
    }
    out.truncate(STREET_WORDS_MAX);
    out.join(" ")
}

/// Compares two locality keys ([`locality_key`]); `None` when either is empty.
pub fn compare_localities(a: &str, b: &str) -> Option<LocalityMatch> {
    if a.is_empty() || b.is_empty() {
        return None;
    }
    if a == b {
        return Some(LocalityMatch::Same);
    }
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    let long_words: Vec<&str> = long.split(' ').collect();
    let contained = short.split(' ').all(|w| long_words.contains(&w));
    Some(if contained {
        LocalityMatch::Compatible
    } else {
        LocalityMatch::Different
    })
}

/// Address lines as a tabular source gives them, with a line that is only a house number
/// (or a list or range of them) joined to the line after it: OpenStreetMap's
/// `addr:housenumber` "32" and `addr:street` "Earl Grey Street" are one line, "32 Earl Grey
/// Street".
pub fn join_house_numbers(lines: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(lines.len());
    let mut pending: Option<String> = None;
    for line in lines {
        let only_numbers = {
            let words = part_words(&line);
            !words.is_empty() && leading_numbers(&words).1.is_empty()
        };
        match pending.take() {
            Some(n) if !only_numbers => out.push(format!("{n} {line}")),
            Some(n) => {
                out.push(n);
                pending = Some(line);
            }
            None if only_numbers => pending = Some(line),
            None => out.push(line),
        }
    }
    out.extend(pending);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ten thousand bytes of text, for the "huge input" rows.
    fn huge(unit: &str) -> String {
        unit.repeat(10_240 / unit.len().max(1))
    }

    #[test]
    fn localities() {
        let rows: &[(&str, Option<&str>)] = &[
            ("Edinburgh", Some("Edinburgh")),
            ("EDINBURGH", Some("Edinburgh")),
            ("NR EDINBURGH", Some("Edinburgh")),
            ("SOUTH QUEENSFERRY", Some("South Queensferry")),
            ("City of Edinburgh", Some("Edinburgh")),
            ("  Kirkliston ", Some("Kirkliston")),
            ("Scotland", None),
            ("EH15", None),
            ("75 James Dewar Road", None),
            ("n/a", None),
        ];
        for (raw, want) in rows {
            assert_eq!(locality(raw).as_deref(), *want, "{raw:?}");
        }
    }

    #[test]
    fn uk_addresses_split_into_lines_locality_and_postcode() {
        type Row<'a> = (&'a str, &'a [&'a str], Option<&'a str>, Option<&'a str>);
        let rows: &[Row] = &[
            (
                "10 Westbank St, Edinburgh EH15 1DR, UK",
                &["10 Westbank St"],
                Some("Edinburgh"),
                Some("EH15 1DR"),
            ),
            (
                "Abercorn Cres, Edinburgh EH8 7HZ",
                &["Abercorn Cres"],
                Some("Edinburgh"),
                Some("EH8 7HZ"),
            ),
            (
                "9 Wheatfield Rd, Edinburgh EH112PX, UK",
                &["9 Wheatfield Rd"],
                Some("Edinburgh"),
                Some("EH11 2PX"),
            ),
            (
                "Edinburgh EH27 8EB, UK",
                &[],
                Some("Edinburgh"),
                Some("EH27 8EB"),
            ),
            (
                "19 Watertoun Rd, Edinburgh EH9, UK",
                &["19 Watertoun Rd"],
                Some("Edinburgh"),
                None,
            ),
            (
                "Todshill Rd, Kirkliston EH29",
                &["Todshill Rd"],
                Some("Kirkliston"),
                None,
            ),
            (
                "Roddinglaw Rd, Newbridge EH28 8NN, UK",
                &["Roddinglaw Rd"],
                Some("Newbridge"),
                Some("EH28 8NN"),
            ),
            (
                "BIRCHLEA, 33 OLD CRAIGHALL, MUSSELBURGH, MIDLOTHIAN, EH21 8SE",
                &["BIRCHLEA", "33 OLD CRAIGHALL"],
                Some("Musselburgh"),
                Some("EH21 8SE"),
            ),
            (
                "St James Square, Edinburgh, EH1 3AD",
                &["St James Square"],
                Some("Edinburgh"),
                Some("EH1 3AD"),
            ),
            ("10 Westbank Street", &["10 Westbank Street"], None, None),
            ("Edinburgh, UK", &[], Some("Edinburgh"), None),
            (
                "1, New Park Square, Edinburgh Park, Edinburgh EH12 9GR, UK",
                &["1 New Park Square", "Edinburgh Park"],
                Some("Edinburgh"),
                Some("EH12 9GR"),
            ),
            (
                "135/7, Duddingston Rd West, Edinburgh EH15 3QD",
                &["135/7 Duddingston Rd West"],
                Some("Edinburgh"),
                Some("EH15 3QD"),
            ),
            (
                "12a, Lee Crescent, Edinburgh",
                &["12a Lee Crescent"],
                Some("Edinburgh"),
                None,
            ),
            ("", &[], None, None),
            (
                "'; DROP TABLE places; --",
                &["'; DROP TABLE places; --"],
                None,
                None,
            ),
        ];
        for (raw, lines, town, pc) in rows {
            let (l, t, p) = split_uk_address(raw);
            assert_eq!(l, lines.to_vec(), "{raw:?}");
            assert_eq!(t.as_deref(), *town, "{raw:?}");
            assert_eq!(p.as_deref(), *pc, "{raw:?}");
        }
        let (l, _, _) = split_uk_address(&huge("a, "));
        assert!(l.len() <= ADDRESS_PARTS_MAX);
    }

    fn street(lines: &[&str]) -> Option<(String, Vec<u32>)> {
        street_address(lines.iter().copied()).map(|s| {
            let numbers = s.house_numbers();
            (s.street, numbers)
        })
    }

    #[test]
    fn streets_read_alike_whichever_conventions_wrote_them() {
        // (lines, street, house numbers): one row per convention.
        let rows: &[(&[&str], &str, &[u32])] = &[
            (&["10 Westbank St"], "westbank street", &[10]),
            (&["10 WESTBANK STREET"], "westbank street", &[10]),
            (
                &["29 Lee Cres, Edinburgh EH15 1LW, UK"],
                "lee crescent",
                &[29],
            ),
            (&["32", "Earl Grey Street"], "earl grey street", &[32]),
            (
                &["47; 49; 51; 53", "Leith Walk"],
                "leith walk",
                &[47, 49, 51, 53],
            ),
            (
                &["97-99-101", "South Bridge"],
                "south bridge",
                &[97, 99, 101],
            ),
            (
                &["155-159 Bruntsfield Place"],
                "bruntsfield place",
                &[155, 157, 159],
            ),
            (&["25-28 Argyle Place"], "argyle place", &[25, 26, 27, 28]),
            (&["2-100 Long Road"], "long road", &[2, 100]),
            (&["30A Victoria Street"], "victoria street", &[30]),
            (&["27 A Station Road"], "station road", &[27]),
            (&["1 B Royal Terrace"], "royal terrace", &[1]),
            (&["12 E 42nd St"], "east 42nd street", &[12]),
            (&["119B-C", "St John's Road"], "saint johns road", &[119]),
            (&["3-5a Sciennes"], "sciennes", &[3, 5]),
            (
                &["135/7 Duddingston Rd West"],
                "duddingston road west",
                &[135],
            ),
            // A unit's number that leads into the street is the number on it (unit 12 of
            // the mall is not unit 40); beside another house number it is dropped.
            (&["Unit 12 Princes Mall"], "princes mall", &[12]),
            (&["Unit 54 Jane Street"], "jane street", &[54]),
            (&["Unit L5 & L6 Princes Mall"], "princes mall", &[]),
            // Which premises, before or after the number.
            (&["Ground Floor 12 Leith Walk"], "leith walk", &[12]),
            (&["GF 12 Leith Walk"], "leith walk", &[12]),
            (&["No. 12 Leith Walk"], "leith walk", &[12]),
            (&["Shop 3, 12 Leith Walk"], "leith walk", &[12]),
            (&["Kiosk 2 12 Leith Walk"], "leith walk", &[12]),
            (&["12 Leith Walk (Shop)"], "leith walk", &[12]),
            (&["12 (GF) Leith Walk"], "leith walk", &[12]),
            (&["12 and 14 Leith Walk"], "leith walk", &[12, 14]),
            (&["123 Highway 9 North"], "highway 9 north", &[123]),
            (&["Unit 3 54 Jane Street"], "jane street", &[54]),
            (&["Flat 2, 10 Lee Crescent"], "lee crescent", &[10]),
            (&["St Andrew Square"], "saint andrew square", &[]),
            (
                &["30-34 St Andrew Sq"],
                "saint andrew square",
                &[30, 32, 34],
            ),
            (&["12 St Mary's St"], "saint marys street", &[12]),
            (&["350 5th Ave., Suite 200"], "5th avenue", &[350]),
            (&["350 Fifth Avenue"], "5th avenue", &[350]),
            (
                &["1600 Pennsylvania Ave NW"],
                "pennsylvania avenue northwest",
                &[1600],
            ),
            (&["123 N. Main St. #4"], "north main street", &[123]),
            (
                &["123 North Main Street, Apt 4B"],
                "north main street",
                &[123],
            ),
            (&["1st Floor, 23 Main St"], "main street", &[23]),
            (&["5 Blvd Saint-Germain"], "blvd saint germain", &[5]),
            (&["Hauptstraße 5"], "hauptstrasse", &[5]),
            (&["Rue de Rivoli 12"], "rue de rivoli", &[12]),
            (&["8 Rose & Crown Yard"], "rose and crown yard", &[8]),
            (&["North Bridge"], "north bridge", &[]),
            (&["Lochend Rd S"], "lochend road south", &[]),
            (&["100 Mt Pleasant Rd"], "mount pleasant road", &[100]),
        ];
        for (lines, want_street, want_numbers) in rows {
            let (s, n) = street(lines).unwrap_or_else(|| panic!("{lines:?}: no street"));
            assert_eq!(s, *want_street, "{lines:?}");
            assert_eq!(n, want_numbers.to_vec(), "{lines:?}");
        }
        // No street to read.
        assert_eq!(street(&["Unit 3"]), None);
        assert_eq!(
            street(&["Princes Mall", "Princes Street"]),
            Some(("princes street".into(), vec![]))
        );
        assert_eq!(
            street(&["Unit 3, Princes Mall", "Edinburgh"]),
            Some(("princes mall".into(), vec![]))
        );
        for lines in [&["Edinburgh"][..], &["George"], &["12"], &[""], &[]] {
            assert_eq!(street(lines), None, "{lines:?}");
        }
        let long = huge("9 Lee Crescent, ");
        assert!(street(&[long.as_str()]).is_some());
        assert!(street_address([huge("1-").as_str()])
            .is_none_or(|s| s.numbers.len() <= HOUSE_NUMBERS_MAX));
    }

    #[test]
    fn house_numbers_compare_as_same_overlapping_near_or_different() {
        let n = |line: &str| street_address([line]).unwrap().numbers;
        use NumbersMatch::*;
        let rows: &[(&str, &str, NumbersMatch)] = &[
            ("30A Victoria St", "30a Victoria St", Same),
            ("155-157 Restalrig Rd", "155; 157 Restalrig Rd", Same),
            ("60-62 South Bridge", "60 & 62 South Bridge", Same),
            ("21B Castle St", "21 Castle St", Overlap),
            ("62-64 Lochend Rd", "62 Lochend Rd", Overlap),
            (
                "7-8 Parsons Green Terrace",
                "7 Parsons Green Terrace",
                Overlap,
            ),
            ("155-159 Bruntsfield Pl", "157 Bruntsfield Pl", Overlap),
            ("34 Blackford Ave", "36 Blackford Ave", Near),
            ("187-189 Leith Walk", "301 Leith Walk", Different),
            ("34 Blackford Ave", "35 Blackford Ave", Near),
            ("34 Blackford Ave", "37 Blackford Ave", Different),
        ];
        for (a, b, want) in rows {
            assert_eq!(compare_numbers(&n(a), &n(b)), *want, "{a} / {b}");
            assert_eq!(compare_numbers(&n(b), &n(a)), *want, "{b} / {a}");
        }
        assert_eq!(compare_numbers(&[], &n("1 A St")), Unknown);
    }

    #[test]
    fn localities_compare_as_same_compatible_or_different() {
        use LocalityMatch::*;
        let rows: &[(&str, &str, Option<LocalityMatch>)] = &[
            ("EDINBURGH", "Edinburgh", Some(Same)),
            ("City of Edinburgh", "Edinburgh, Scotland", Some(Same)),
            ("New York City", "New York", Some(Compatible)),
            ("Leith, Edinburgh", "Edinburgh", Some(Compatible)),
            ("Leith", "Edinburgh", Some(Different)),
            ("Musselburgh", "Edinburgh", Some(Different)),
            ("", "Edinburgh", None),
            ("UK", "Edinburgh", Some(Different)),
        ];
        for (a, b, want) in rows {
            assert_eq!(
                compare_localities(&locality_key(a), &locality_key(b)),
                *want,
                "{a} / {b}"
            );
        }
    }

    #[test]
    fn a_line_of_house_numbers_joins_the_street_after_it() {
        let rows: &[(&[&str], &[&str])] = &[
            (&["32", "Earl Grey Street"], &["32 Earl Grey Street"]),
            (&["47; 49", "Leith Walk"], &["47; 49 Leith Walk"]),
            (
                &["10 Lee Crescent", "Portobello"],
                &["10 Lee Crescent", "Portobello"],
            ),
            (&["12"], &["12"]),
            (&["12", "14"], &["12", "14"]),
            (&[], &[]),
        ];
        for (lines, want) in rows {
            let got = join_house_numbers(lines.iter().map(|s| s.to_string()).collect());
            assert_eq!(got, want.to_vec(), "{lines:?}");
        }
    }
}
