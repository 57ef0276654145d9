//! Reading a query: what it is about (the subject), what kind of thing is wanted, and where.
//!
//! # How a query is read
//!
//! 1. **Tokens.** Unicode lowercase, apostrophes dropped ("David Lloyd's" gives "lloyds"),
//!    every other non-alphanumeric character a separator ([`tokenize`]).
//! 2. **Spelling.** A token no table knows, of four letters or more, is read as the word
//!    one edit away (two for words of eight letters or more) when there is one: "tenis" is
//!    tennis, "badmington" badminton. The plan says so.
//! 3. **Phrases.** Every table of [`super::vocab`] and every place of [`super::areas`] is a
//!    list of phrases of whole tokens; the last word of a phrase may be plural. The query
//!    is segmented into phrases so that the most tokens are explained, with the fewest
//!    corrections and then the fewest phrases: "car pool" is the car-sharing category, not
//!    a car and a pool; "edinburgh leisure centres" is Edinburgh and leisure centres, while
//!    "edinburgh leisure" alone is the operator; "food court" is not a court. This replaces
//!    lists of exceptions with the longer phrases the sources' schemes already name.
//! 4. **The head.** The kind of thing wanted is decided by the query's head noun: the last
//!    word that names a kind of thing in the main noun phrase, before the first preposition
//!    ("football boots *for* kids": boots, a product; "swimming lessons for toddlers":
//!    lessons, a place). Words of tickets, media, bets, recipes, jobs, information and
//!    events decide wherever they stand ("tennis on tv tonight"); "for sale" and "second
//!    hand" make any query a purchase. A place word that does not suit the sport before it
//!    is not a place: a "football pool" is not a pool to play football in.
//! 5. **The subject.** Sports, places to do sport, operators, named venues, other kinds of
//!    place, EV charging, and the words no table knows (read as part of a name).
//!
//! A query is a **sports venue query** (the only kind that calls the sports register) when
//! its subject is about sport and what it wants is a place.
//!
//! # Brands and "goals"
//!
//! Brands are matched like any phrase except "goals", which is too common a word ("career
//! goals", "goals scored") to be the Goals Soccer Centres brand everywhere. See
//! `goals_is_brand` (below) for the rule.

use std::collections::{HashMap, HashSet};
use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::areas::{gazetteer, Area};
use super::vocab::{
    self, Brand, BrandKind, Category, NotPlace, PlaceType, Sport, Wanted, CHARGE_OTHER_SENSES,
    GADGETS, GOALS_BRAND, GOALS_BRAND_NEXT, MODIFIER_WORDS, PLACE_WORDS_NEEDING_A_SPORT,
    PREPOSITIONS,
};

/// Shortest keyword for which the plural forms (`+s`, `+es`) also match. Two-letter
/// keywords such as "ev" would otherwise match unrelated words ("eves").
pub const PLURAL_MIN_CHARS: usize = 3;

/// Shortest unknown token that spelling correction looks at.
pub const SPELLING_MIN_CHARS: usize = 4;

/// Length from which a token may be two edits away from the word it means.
pub const SPELLING_TWO_EDITS_MIN_CHARS: usize = 8;

/// Shortest unknown token that is corrected to a place name (shorter ones collide with too
/// many small towns).
pub const SPELLING_PLACE_MIN_CHARS: usize = 6;

/// Most tokens read from one query (the planner limits a query to 300 characters, which
/// is at most 150 tokens; the segmentation is quadratic in the tokens of a phrase only).
pub const QUERY_TOKENS_MAX: usize = 150;

/// Longest phrase of any table, in tokens.
pub const PHRASE_TOKENS_MAX: usize = 6;

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

/// One reading the query reader made: which words, what it took them to mean, and from
/// which scheme. Shown by `plan` ("which words decided what").
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Reading {
    /// The words as they stand in the query.
    pub words: String,
    /// What they were read as.
    pub meaning: String,
}

/// Everything the planner knows about a query. Lists keep the order of first appearance
/// and hold no duplicates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct QueryFeatures {
    /// The normalised tokens (see [`tokenize`]), before spelling correction.
    pub tokens: Vec<String>,
    /// Sports of the subject, canonical ("football", "tennis", "swimming", ...); also
    /// "sport", "league" or "tournament" for sport in general.
    pub sports: Vec<String>,
    /// Brand keys found ("powerleague", "goals", "nuffield_health", ...).
    pub brands: Vec<String>,
    /// Places to do sport found ("leisure centre", "pitch", "pool", ...).
    pub venue_words: Vec<String>,
    /// Named sports venues found ("royal_commonwealth_pool", ...).
    #[serde(default)]
    pub venues: Vec<String>,
    /// Other kinds of place found ("restaurant", "library", ...).
    #[serde(default)]
    pub categories: Vec<String>,
    /// Places named, canonical lowercase ("edinburgh", "portobello", "glasgow", ...).
    pub areas: Vec<String>,
    /// Whether the area searched lies in the City of Edinburgh.
    pub edinburgh: bool,
    /// Whether the query asks where to charge an electric vehicle.
    pub ev: bool,
    /// Whether the query asks for a place to do sport: a sports subject and a place wanted.
    pub is_sports: bool,
    /// Brand, category, specific venue or general.
    pub intent: QueryIntent,
    /// What kind of thing is wanted: a place, or a product, service, event, ...
    #[serde(default)]
    pub wanted: Wanted,
    /// The words that decided `wanted` when it is not a place ("shirt", "tickets").
    #[serde(default)]
    pub wanted_words: Vec<String>,
    /// Words no table knows, read as part of a name ("xyzzy", "ainslie").
    #[serde(default)]
    pub name_words: Vec<String>,
    /// The area searched: the place named, or the home area when none is.
    #[serde(default)]
    pub area: Option<Area>,
    /// Which words decided what.
    #[serde(default)]
    pub readings: Vec<Reading>,
}

impl QueryFeatures {
    /// Brands found that are private businesses. A key this version does not know (from an
    /// old event, say) counts as private: avoiding council data for a business is the
    /// cautious side of seed 000 Appendix A.
    pub fn private_brands(&self) -> Vec<&str> {
        self.brands
            .iter()
            .map(String::as_str)
            .filter(|b| !vocab::brand_named(b).is_some_and(|b| b.public))
            .collect()
    }

    /// Public facility types named by the query: public place types, public categories and
    /// public operators such as Edinburgh Leisure.
    pub fn public_facilities(&self) -> Vec<&str> {
        let venue = self
            .venue_words
            .iter()
            .filter(|w| vocab::place_type(w).is_some_and(|p| p.public));
        let category = self
            .categories
            .iter()
            .filter(|c| vocab::category_named(c).is_some_and(|c| c.public));
        let brand = self
            .brands
            .iter()
            .filter(|b| vocab::brand_named(b).is_some_and(|b| b.public));
        venue
            .chain(category)
            .chain(brand)
            .map(String::as_str)
            .collect()
    }

    /// The area searched (the home area for features recorded before areas were).
    pub fn area_or_home(&self) -> Area {
        self.area.clone().unwrap_or_else(Area::home)
    }

    /// Whether the query names a place (rather than relying on the home area).
    pub fn names_area(&self) -> bool {
        self.area.as_ref().is_some_and(|a| a.named)
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

/// What a phrase means.
#[derive(Clone, Copy, Debug)]
enum Sense {
    Sport(&'static Sport),
    GenericSport,
    Place(&'static PlaceType),
    PlaceWord,
    Category(&'static Category),
    NotPlace(&'static NotPlace),
    Sale,
    Ev,
    Charge,
    Vehicle,
    Brand(&'static Brand),
    Venue(&'static str),
    Area,
}

/// One lexicon entry.
struct Entry {
    phrase: Vec<&'static str>,
    sense: Sense,
}

/// Every phrase of every table, indexed by first word.
struct Lexicon {
    entries: Vec<Entry>,
    by_first: HashMap<&'static str, Vec<usize>>,
    /// Every word of every phrase, and the modifiers: a token in here is not misspelt.
    known: HashSet<&'static str>,
}

fn lexicon() -> &'static Lexicon {
    static L: OnceLock<Lexicon> = OnceLock::new();
    L.get_or_init(|| {
        let mut entries: Vec<Entry> = Vec::new();
        let mut push = |phrases: &[&'static [&'static str]], sense: Sense| {
            for p in phrases {
                entries.push(Entry {
                    phrase: p.to_vec(),
                    sense,
                });
            }
        };
        // Order matters only for a phrase in two tables: the first sense wins.
        for (phrase, key) in vocab::KNOWN_VENUES {
            push(&[phrase], Sense::Venue(key));
        }
        for b in vocab::BRANDS {
            push(b.words, Sense::Brand(b));
        }
        for n in vocab::NOT_PLACES {
            push(n.words, Sense::NotPlace(n));
        }
        for c in vocab::CATEGORIES {
            push(c.words, Sense::Category(c));
        }
        for p in vocab::PLACE_TYPES {
            push(p.words, Sense::Place(p));
        }
        for s in vocab::SPORTS {
            push(s.words, Sense::Sport(s));
        }
        push(vocab::GENERIC_SPORT, Sense::GenericSport);
        push(vocab::EV_TERMS, Sense::Ev);
        push(vocab::CHARGE_WORDS, Sense::Charge);
        push(vocab::VEHICLES, Sense::Vehicle);
        push(vocab::SALE_WORDS, Sense::Sale);
        push(vocab::PLACE_WORDS, Sense::PlaceWord);
        let mut by_first: HashMap<&'static str, Vec<usize>> = HashMap::new();
        let mut known: HashSet<&'static str> = HashSet::new();
        for (i, e) in entries.iter().enumerate() {
            by_first.entry(e.phrase[0]).or_default().push(i);
            known.extend(e.phrase.iter().copied());
        }
        known.extend(MODIFIER_WORDS.iter().copied());
        known.extend(GADGETS.iter().copied());
        known.extend(PREPOSITIONS.iter().copied());
        Lexicon {
            entries,
            by_first,
            known,
        }
    })
}

/// One phrase found in the query.
#[derive(Clone, Copy, Debug)]
struct Hit {
    start: usize,
    end: usize,
    sense: Sense,
    /// Whether the last token matched in a plural form ("courts" for "court").
    plural: bool,
}

/// The words a token may stand for: itself, and the spelling corrections.
struct TokenForms {
    token: String,
    corrections: Vec<&'static str>,
}

/// Damerau-Levenshtein distance (optimal string alignment), over chars, giving up above
/// `max` (returns `max + 1`).
fn edit_distance(a: &str, b: &str, max: usize) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > max {
        return max + 1;
    }
    let w = b.len() + 1;
    let mut d = vec![0usize; (a.len() + 1) * w];
    for i in 0..=a.len() {
        d[i * w] = i;
    }
    for (j, slot) in d.iter_mut().enumerate().take(w) {
        *slot = j;
    }
    for i in 1..=a.len() {
        let mut row_min = usize::MAX;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut v = (d[(i - 1) * w + j] + 1)
                .min(d[i * w + j - 1] + 1)
                .min(d[(i - 1) * w + j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                v = v.min(d[(i - 2) * w + j - 2] + 1);
            }
            d[i * w + j] = v;
            row_min = row_min.min(v);
        }
        if row_min > max {
            return max + 1;
        }
    }
    d[a.len() * w + b.len()].min(max + 1)
}

/// The corrections of an unknown token: the known words (and one-word place names) at the
/// smallest edit distance, if any is within reach.
fn corrections_of(token: &str) -> Vec<&'static str> {
    let n = token.chars().count();
    let lex = lexicon();
    let is_known = |t: &str| {
        lex.known.contains(t)
            || gazetteer().is_name(t)
            || singular_forms(t).any(|s| lex.known.contains(s) || gazetteer().is_name(s))
    };
    if n < SPELLING_MIN_CHARS || token.chars().any(|c| c.is_ascii_digit()) || is_known(token) {
        return Vec::new();
    }
    let max = if n >= SPELLING_TWO_EDITS_MIN_CHARS {
        2
    } else {
        1
    };
    let mut best: Vec<&'static str> = Vec::new();
    let mut best_d = max + 1;
    let words = lex
        .known
        .iter()
        .copied()
        .filter(|w| w.chars().count() >= SPELLING_MIN_CHARS);
    for w in words {
        let d = edit_distance(token, w, max);
        if d < best_d {
            best_d = d;
            best = vec![w];
        } else if d == best_d && d <= max && !best.contains(&w) {
            best.push(w);
        }
    }
    if n >= SPELLING_PLACE_MIN_CHARS {
        // Place names only when no word is as close.
        for w in gazetteer().one_word_names() {
            if w.chars().count() < SPELLING_PLACE_MIN_CHARS {
                continue;
            }
            let d = edit_distance(token, w, max);
            if d < best_d {
                best_d = d;
                best = vec![w];
            }
        }
    }
    if best_d > max {
        Vec::new()
    } else {
        best.sort_unstable();
        best
    }
}

/// `w` and the forms it would have without an English plural ending.
fn singular_forms(w: &str) -> impl Iterator<Item = &str> {
    let n = w.chars().count();
    let es = w.strip_suffix("es").filter(|_| n > 4);
    let s = w.strip_suffix('s').filter(|_| n > 3);
    es.into_iter().chain(s)
}

/// How a token matches a phrase word: exactly (0), as a plural (0, plural), or as a
/// spelling correction (1). `None` when it does not.
fn word_match(word: &str, forms: &TokenForms, last: bool) -> Option<(usize, bool)> {
    let t = forms.token.as_str();
    if t == word {
        return Some((0, false));
    }
    if last && is_plural_of(word, t) {
        return Some((0, true));
    }
    if forms.corrections.contains(&word) {
        return Some((1, false));
    }
    None
}

/// Whether `token` is `word` + "s" or `word` + "es", for words long enough to be safe.
fn is_plural_of(word: &str, token: &str) -> bool {
    word.chars().count() >= PLURAL_MIN_CHARS
        && token
            .strip_prefix(word)
            .is_some_and(|rest| rest == "s" || rest == "es")
}

/// Score of a segmentation: more tokens explained, then fewer corrections, then fewer
/// phrases, then fewer weak phrases (words like "centre" or "club" that say only that a
/// place is wanted); compared as a tuple, larger is better.
type Score = (
    usize,
    std::cmp::Reverse<usize>,
    std::cmp::Reverse<usize>,
    std::cmp::Reverse<usize>,
);

/// The phrases that match at `i`: `(length, corrections, hit)`.
fn matches_at(forms: &[TokenForms], i: usize) -> Vec<(usize, usize, Hit)> {
    let lex = lexicon();
    let mut out = Vec::new();
    // Candidate entries: by the token itself, its singular forms and its corrections.
    let mut firsts: Vec<&str> = vec![forms[i].token.as_str()];
    firsts.extend(singular_forms(&forms[i].token));
    firsts.extend(forms[i].corrections.iter().copied());
    let mut seen: HashSet<usize> = HashSet::new();
    for first in firsts {
        for &e in lex.by_first.get(first).into_iter().flatten() {
            if !seen.insert(e) {
                continue;
            }
            let entry = &lex.entries[e];
            let n = entry.phrase.len();
            if i + n > forms.len() {
                continue;
            }
            let mut edits = 0;
            let mut plural = false;
            let ok = entry.phrase.iter().enumerate().all(|(k, w)| {
                match word_match(w, &forms[i + k], k + 1 == n) {
                    Some((d, p)) => {
                        edits += d;
                        plural |= p;
                        true
                    }
                    None => false,
                }
            });
            if ok {
                out.push((
                    n,
                    edits,
                    Hit {
                        start: i,
                        end: i + n,
                        sense: entry.sense,
                        plural,
                    },
                ));
            }
        }
    }
    // Places: exact phrases, or one corrected token.
    let tokens: Vec<String> = forms.iter().map(|f| f.token.clone()).collect();
    if let Some((n, _)) = gazetteer().longest_at(&tokens, i) {
        out.push((
            n,
            0,
            Hit {
                start: i,
                end: i + n,
                sense: Sense::Area,
                plural: false,
            },
        ));
    } else if forms[i].corrections.iter().any(|c| gazetteer().is_name(c)) {
        out.push((
            1,
            1,
            Hit {
                start: i,
                end: i + 1,
                sense: Sense::Area,
                plural: false,
            },
        ));
    }
    out
}

/// The best segmentation of the tokens into phrases (see the module docs).
fn segment(forms: &[TokenForms]) -> Vec<Hit> {
    let n = forms.len();
    // best[i]: the best score and first step for tokens[i..].
    let zero = (
        0,
        std::cmp::Reverse(0),
        std::cmp::Reverse(0),
        std::cmp::Reverse(0),
    );
    let mut best: Vec<(Score, Option<Hit>)> = vec![(zero, None); n + 1];
    for i in (0..n).rev() {
        // Leave token i unexplained.
        let mut choice = (best[i + 1].0, None);
        for (len, edits, hit) in matches_at(forms, i) {
            let (covered, std::cmp::Reverse(e), std::cmp::Reverse(p), std::cmp::Reverse(w)) =
                best[i + len].0;
            let weak = usize::from(matches!(hit.sense, Sense::PlaceWord | Sense::Sale));
            let score = (
                covered + len,
                std::cmp::Reverse(e + edits),
                std::cmp::Reverse(p + 1),
                std::cmp::Reverse(w + weak),
            );
            if score > choice.0 {
                choice = (score, Some(hit));
            }
        }
        best[i] = choice;
    }
    let mut hits = Vec::new();
    let mut i = 0;
    while i < n {
        match best[i].1 {
            Some(h) => {
                hits.push(h);
                i = h.end;
            }
            None => i += 1,
        }
    }
    hits
}

/// Contexts in which a brand phrase names something else (a think tank, a college, a
/// Prime Minister).
const BRAND_NEGATIVES: &[(&str, &[&str])] = &[
    (
        "nuffield_health",
        &["trust", "foundation", "college", "department", "place"],
    ),
    ("david_lloyd", &["george"]),
];

/// Reads the features of a query. Pure; linear in the number of tokens times the size of
/// the tables. The area is the place named, or the home area.
pub fn extract_features(query: &str) -> QueryFeatures {
    let mut tokens = tokenize(query);
    tokens.truncate(QUERY_TOKENS_MAX);
    let forms: Vec<TokenForms> = tokens
        .iter()
        .map(|t| TokenForms {
            token: t.clone(),
            corrections: corrections_of(t),
        })
        .collect();
    let mut hits = segment(&forms);
    let mut readings: Vec<Reading> = Vec::new();
    let words_of = |h: &Hit| tokens[h.start..h.end].join(" ");

    for f in &forms {
        if let [only] = f.corrections.as_slice() {
            readings.push(Reading {
                words: f.token.clone(),
                meaning: format!("read as \"{only}\" (spelling)"),
            });
        }
    }

    // Brand phrases that name something else here.
    hits.retain(|h| match h.sense {
        Sense::Brand(b) => {
            let next = tokens.get(h.end).map(String::as_str);
            let negated = BRAND_NEGATIVES
                .iter()
                .any(|(k, after)| *k == b.key && next.is_some_and(|n| after.contains(&n)));
            if negated {
                readings.push(Reading {
                    words: words_of(h),
                    meaning: format!(
                        "not the operator {}: \"{}\" follows",
                        b.key,
                        next.unwrap_or("")
                    ),
                });
            }
            !negated
        }
        _ => true,
    });

    // "charge" as a price or a legal term.
    hits.retain(|h| match h.sense {
        Sense::Charge => {
            let before = h.start.checked_sub(1).map(|i| tokens[i].as_str());
            let after = tokens.get(h.end).map(String::as_str);
            let other = before.is_some_and(|b| CHARGE_OTHER_SENSES.contains(&b))
                || after.is_some_and(|a| CHARGE_OTHER_SENSES.contains(&a));
            !other
        }
        _ => true,
    });

    // Areas: the first named place is the area searched. Ambiguous names ("law",
    // "dollar") only after a preposition.
    let mut area: Option<Area> = None;
    let mut areas: Vec<String> = Vec::new();
    let mut area_tokens: HashSet<usize> = HashSet::new();
    for h in hits.iter().filter(|h| matches!(h.sense, Sense::Area)) {
        let phrase = match (h.end - h.start, forms[h.start].corrections.as_slice()) {
            (1, [c]) if !gazetteer().is_name(&tokens[h.start]) => c.to_string(),
            _ => words_of(h),
        };
        let Some(place) = gazetteer().lookup(&phrase) else {
            continue;
        };
        let after_preposition = h
            .start
            .checked_sub(1)
            .is_some_and(|i| matches!(tokens[i].as_str(), "in" | "near" | "at" | "around"));
        if place.ambiguous && !after_preposition {
            continue;
        }
        area_tokens.extend(h.start..h.end);
        if !areas.contains(&place.area.name) {
            areas.push(place.area.name.clone());
        }
        readings.push(Reading {
            words: words_of(h),
            meaning: format!("place: {}", place.area.describe()),
        });
        // The most specific place named wins: "leisure centre portobello edinburgh"
        // searches Portobello.
        let better = match &area {
            None => true,
            Some(a) => place.area.radius_km < a.radius_km,
        };
        if better {
            area = Some(place.area.clone());
        }
    }
    hits.retain(|h| !matches!(h.sense, Sense::Area) || area_tokens.contains(&h.start));

    // The main noun phrase ends at the first preposition no phrase consumed.
    let covered: HashSet<usize> = hits.iter().flat_map(|h| h.start..h.end).collect();
    let np_end = (0..tokens.len())
        .find(|&i| i > 0 && !covered.contains(&i) && PREPOSITIONS.contains(&tokens[i].as_str()))
        .unwrap_or(tokens.len());

    // Place words that need a sport beside them, and places that do not suit the sport
    // right before them.
    let sports_in_query: Vec<&'static Sport> = hits
        .iter()
        .filter_map(|h| match h.sense {
            Sense::Sport(s) => Some(s),
            _ => None,
        })
        .collect();
    let mut mismatched: Vec<Hit> = Vec::new();
    let before_retain = hits.clone();
    hits.retain(|h| {
        let Sense::Place(p) = h.sense else {
            return true;
        };
        let single = h.end - h.start == 1;
        let word = tokens[h.start].as_str();
        let needs_sport = single
            && PLACE_WORDS_NEEDING_A_SPORT
                .iter()
                .any(|w| *w == word || is_plural_of(w, word));
        if needs_sport && !sports_in_query.iter().any(|s| vocab::suits(p, s.canonical)) {
            readings.push(Reading {
                words: words_of(h),
                meaning: "not read as a sports place: no sport played there is named".into(),
            });
            return false;
        }
        let sport_before = before_retain.iter().find_map(|o| match o.sense {
            Sense::Sport(s) if o.end == h.start => Some(s),
            _ => None,
        });
        if let Some(s) = sport_before {
            if !vocab::suits(p, s.canonical) {
                readings.push(Reading {
                    words: format!("{} {}", tokens[h.start - 1], words_of(h)),
                    meaning: format!(
                        "not a place to play {}: {} is not played at a {}",
                        s.canonical, s.canonical, p.key
                    ),
                });
                mismatched.push(*h);
                return false;
            }
        }
        true
    });

    // The head: the last kind-naming phrase of the main noun phrase.
    let head = hits
        .iter()
        .filter(|h| h.start < np_end)
        .filter(|h| !matches!(h.sense, Sense::Area | Sense::Sale))
        .chain(mismatched.iter().filter(|h| h.start < np_end))
        .max_by_key(|h| h.end);
    let head_is_mismatch = head.is_some_and(|h| mismatched.iter().any(|m| m.start == h.start));

    // What is wanted.
    let mut wanted = Wanted::Place;
    let mut wanted_words: Vec<String> = Vec::new();
    let strong = hits.iter().find(|h| match h.sense {
        Sense::NotPlace(n) => n.wanted.is_strong(),
        _ => false,
    });
    let sale = hits.iter().find(|h| matches!(h.sense, Sense::Sale));
    if let Some(h) = strong {
        let Sense::NotPlace(n) = h.sense else {
            unreachable!("filtered above")
        };
        wanted = n.wanted;
        wanted_words.push(words_of(h));
        readings.push(Reading {
            words: words_of(h),
            meaning: format!("wants {} ({}), not a place", n.wanted, n.scheme),
        });
    } else if let Some(h) = head.filter(|_| head_is_mismatch) {
        // "football pools": the compound is what is wanted, not a pool.
        wanted = Wanted::Other;
        let from = h.start.saturating_sub(1);
        wanted_words.push(tokens[from..h.end].join(" "));
    } else if let Some(h) = head.filter(|h| matches!(h.sense, Sense::NotPlace(_))) {
        let Sense::NotPlace(n) = h.sense else {
            unreachable!("filtered above")
        };
        wanted = n.wanted;
        wanted_words.push(words_of(h));
        readings.push(Reading {
            words: words_of(h),
            meaning: format!("head noun: wants {} ({}), not a place", n.wanted, n.scheme),
        });
    } else if let Some(h) = sale {
        wanted = Wanted::Product;
        wanted_words.push(words_of(h));
        readings.push(Reading {
            words: words_of(h),
            meaning: "wants to buy something, not a place".into(),
        });
    } else if let Some(h) = head {
        let what = match h.sense {
            Sense::Category(c) => format!("head noun: a {} ({}={})", c.key, c.osm.0, c.osm.1),
            Sense::Place(p) => format!("head noun: a place to do sport ({})", p.key),
            Sense::PlaceWord => "head noun: a place, club or class".to_string(),
            _ => "head noun: a place".to_string(),
        };
        readings.push(Reading {
            words: words_of(h),
            meaning: what,
        });
    }

    // The subject.
    let is_place = wanted == Wanted::Place;
    let mut sports: Vec<String> = Vec::new();
    let mut brands: Vec<String> = Vec::new();
    let mut venue_words: Vec<String> = Vec::new();
    let mut venues: Vec<String> = Vec::new();
    let mut categories: Vec<String> = Vec::new();
    let add = |list: &mut Vec<String>, s: &str| {
        if !list.iter().any(|x| x == s) {
            list.push(s.to_string());
        }
    };
    let supported = hits.iter().any(|h| {
        matches!(
            h.sense,
            Sense::Place(_) | Sense::PlaceWord | Sense::Brand(_) | Sense::Venue(_)
        )
    }) || area.is_some()
        || sports_in_query.iter().filter(|s| !s.ambiguous).count() > 0;
    let mut ev_term = false;
    let mut charge = false;
    let mut vehicle = false;
    for h in &hits {
        match h.sense {
            Sense::Sport(s) => {
                if s.ambiguous && !supported {
                    readings.push(Reading {
                        words: words_of(h),
                        meaning: format!(
                            "{} only beside a place word, a place or another sport (the word has other meanings)",
                            s.canonical
                        ),
                    });
                    continue;
                }
                add(&mut sports, s.canonical);
                readings.push(Reading {
                    words: words_of(h),
                    meaning: format!("sport {} (OSM sport={})", s.canonical, s.osm.join(";")),
                });
            }
            Sense::GenericSport => {
                let w = words_of(h);
                let key = if w.starts_with("league") {
                    "league"
                } else if w.starts_with("tournament") {
                    "tournament"
                } else {
                    "sport"
                };
                add(&mut sports, key);
                readings.push(Reading {
                    words: w,
                    meaning: "sport in general".into(),
                });
            }
            Sense::Place(p) => {
                add(&mut venue_words, p.key);
                let osm: Vec<String> = p.osm.iter().map(|(k, v)| format!("{k}={v}")).collect();
                readings.push(Reading {
                    words: words_of(h),
                    meaning: format!("place to do sport: {} (OSM {})", p.key, osm.join(" + ")),
                });
            }
            Sense::Category(c) => {
                add(&mut categories, c.key);
                readings.push(Reading {
                    words: words_of(h),
                    meaning: format!("kind of place: {} (OSM {}={})", c.key, c.osm.0, c.osm.1),
                });
            }
            Sense::Brand(b) => {
                add(&mut brands, b.key);
                readings.push(Reading {
                    words: words_of(h),
                    meaning: match b.kind {
                        BrandKind::Sports => format!("operator {} (sports and fitness)", b.key),
                        BrandKind::Shop => format!("shop chain {}", b.key),
                    },
                });
            }
            Sense::Venue(v) => {
                add(&mut venues, v);
                readings.push(Reading {
                    words: words_of(h),
                    meaning: format!("named venue {v}"),
                });
            }
            Sense::Ev => ev_term = true,
            Sense::Charge => charge = true,
            Sense::Vehicle => vehicle = true,
            _ => {}
        }
    }
    if let Some(start) = goals_is_brand(&tokens, &area_tokens) {
        if !brands.iter().any(|b| b == GOALS_BRAND) {
            brands.push(GOALS_BRAND.to_string());
            readings.push(Reading {
                words: tokens[start].clone(),
                meaning: "operator goals (Goals Soccer Centres)".into(),
            });
        }
    }

    // EV: an unambiguous term, or charging and a vehicle without a gadget.
    let gadget = tokens.iter().any(|t| GADGETS.contains(&t.as_str()));
    let ev = is_place && (ev_term || (charge && vehicle && !gadget));
    if ev {
        readings.push(Reading {
            words: "(charging)".into(),
            meaning: "EV charging (OSM amenity=charging_station)".into(),
        });
    }

    let sports_brand = brands.iter().any(|b| {
        b == GOALS_BRAND || vocab::brand_named(b).is_some_and(|b| b.kind == BrandKind::Sports)
    });
    let shop_brand = brands
        .iter()
        .any(|b| vocab::brand_named(b).is_some_and(|b| b.kind == BrandKind::Shop));
    if shop_brand && wanted == Wanted::Place {
        wanted = Wanted::Shop;
    }
    let is_place = wanted == Wanted::Place;
    let sports_subject =
        !sports.is_empty() || sports_brand || !venue_words.is_empty() || !venues.is_empty();
    let is_sports = is_place && sports_subject;

    // Words no table knows: part of a name.
    let covered: HashSet<usize> = hits
        .iter()
        .flat_map(|h| h.start..h.end)
        .chain(mismatched.iter().flat_map(|h| h.start..h.end))
        .collect();
    let mut name_words: Vec<String> = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let modifier = MODIFIER_WORDS.contains(&t.as_str()) || GADGETS.contains(&t.as_str());
        let goals = t == "goals" && brands.iter().any(|b| b == GOALS_BRAND);
        if covered.contains(&i)
            || modifier
            || goals
            || t.chars().any(|c| c.is_ascii_digit())
            || t.chars().count() < 2
            || name_words.contains(t)
        {
            continue;
        }
        name_words.push(t.clone());
    }
    if !name_words.is_empty() {
        readings.push(Reading {
            words: name_words.join(" "),
            meaning: "not a known word, place, sport or brand: read as part of a name".into(),
        });
    }

    let names_venue = names_a_venue(&hits, &tokens, &name_words, &area_tokens);
    let intent = if !brands.is_empty() {
        QueryIntent::Brand
    } else if !venues.is_empty()
        || names_venue
        || (sports_subject && is_place && !name_words.is_empty() && venue_words.is_empty())
    {
        QueryIntent::SpecificVenue
    } else if sports_subject || !categories.is_empty() || ev || !wanted_words.is_empty() {
        QueryIntent::Category
    } else {
        QueryIntent::General
    };

    let searched = area.clone().unwrap_or_else(Area::home);
    QueryFeatures {
        tokens,
        sports,
        brands,
        venue_words,
        venues,
        categories,
        edinburgh: searched.in_edinburgh(),
        areas,
        ev,
        is_sports,
        intent,
        wanted,
        wanted_words,
        name_words,
        area: Some(searched),
        readings,
    }
}

/// Whether the query reads as one named place: a place word in the singular ("pool", not
/// "pools") with a name before it, or an Edinburgh district right before it ("meadowbank
/// sports centre"). The city itself does not count: "edinburgh leisure centre" is a
/// category.
fn names_a_venue(
    hits: &[Hit],
    tokens: &[String],
    name_words: &[String],
    area_tokens: &HashSet<usize>,
) -> bool {
    let first_name = tokens.iter().position(|t| name_words.contains(t));
    hits.iter()
        .filter(|h| matches!(h.sense, Sense::Place(_)) && !h.plural)
        .any(|v| {
            let named = first_name.is_some_and(|i| i < v.start);
            let district_before = v.start > 0
                && area_tokens.contains(&(v.start - 1))
                && tokens[v.start - 1] != "edinburgh";
            named || district_before
        })
}

/// The Goals Soccer Centres rule. "goals" is the brand when
///
/// * it is followed by "soccer" or "football" anywhere in the query ("goals soccer
///   centre", "new goals football pitches"), or
/// * it is the first token and is alone, or followed by a word in [`GOALS_BRAND_NEXT`] or
///   by a place ("goals", "goals centre", "goals edinburgh", "goals leith").
///
/// Otherwise it is the ordinary plural: "fitness goals edinburgh", "goals scored", "5 a side
/// goals for sale". Returns the token index of the brand match.
fn goals_is_brand(tokens: &[String], area_tokens: &HashSet<usize>) -> Option<usize> {
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
            Some(word) => GOALS_BRAND_NEXT.contains(&word) || area_tokens.contains(&1),
        };
        brand.then_some(i)
    })
}

#[cfg(test)]
mod tests;
