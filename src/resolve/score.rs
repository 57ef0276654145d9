//! Pair scoring: how strongly two candidates say "same place", and why.
//!
//! The formula (matcher version [`super::MATCHER_VERSION`]) is a sum of evidence in
//! log-odds (as in Fellegi–Sunter record linkage), turned into a score in [0, 1] by the
//! logistic function:
//!
//! ```text
//! logit = BIAS + Σ contribution(feature)    over the features present for the pair
//! score = 1 / (1 + e^-logit)                BIAS = −1
//! ```
//!
//! A feature is *present* only when both candidates carry what it compares (both have a
//! phone, both have coordinates, ...). An absent feature adds nothing, so a missing phone
//! neither helps nor hurts. Each present feature is a similarity `f` in [0, 1], recorded in
//! `MergeDecided.features` under its name, and contributes linearly from its disagreement
//! value (`f = 0`) to its agreement value (`f = 1`): `lo + (hi − lo)·f`.
//!
//! | feature        | `f`                                                                    | lo   | hi   |
//! |----------------|------------------------------------------------------------------------|------|------|
//! | `name`         | weighted token similarity (below); **mandatory**                        | see below ||
//! | `distance`     | 1 within [`NEAR_M`]; `e^(−(d − 100 m)/decay)` beyond; 0 from `distance_zero_m` | −4 | +3 |
//! | `phone`        | 1 the same number (E.164), else 0; a number kept as written has none; agreement counts 0 at other premises | −1   | +3   |
//! | `website`      | 1 same page; 0.7 same host, one a home page; 0.15 same host, other pages; 0; agreement counts 0 at other premises | −0.5 | +2.5 |
//! | `postcode`     | 1 same; 0.6 same sector; 0.45 same district; 0                          | −2.5 | +2   |
//! | `street`       | 0 another street; the same street: by house numbers, the same 1, overlapping 0.87, one without 0.67, at most two apart 0.67, different 0.08 | −3 | +3 |
//! | `address`      | Dice overlap of the address tokens, when one has no street `street` reads | −1.5 | +1.5 |
//! | `locality`     | 1 the same; 0.7 one written at more detail ("Leith, Edinburgh"); 0 different ("Leith", "Edinburgh") | −1 | +0.5 |
//! | `category`     | 1 a kind in common; 0.9 one hosts many kinds (school, leisure centre); 0.1 disjoint kinds (golf, bowling) | −2.5 | 0 |
//! | `entity_class` | 1 the same class, 0 different                                           | −4   | 0    |
//! | `brand`        | 1 the same brand word; 0 a brand on one side only, or two brands       | −2   | 0    |
//! | `external_id`  | 1 when one names the other's record (present only as 1)                | —    | +4   |
//!
//! * `decay` is `(distance_zero_m − 100 m) / 3.5` (400 m by default): 165 m gives +2,
//!   300 m +0.3, 500 m −1.4, 1 km −3.3, and beyond `distance_zero_m` the full −4.
//! * When both candidates have coordinates, the `postcode`, `street`, `address` and
//!   `locality` terms are halved:
//!   they mostly repeat what the distance says (Wardie Primary School and Wardie Playing
//!   Fields share a street, a postcode and a point within 200 m). Except "another street"
//!   (`street` 0) when the points are over [`NEAR_M`] apart, which counts in full: two
//!   premises on two streets a block apart are a chain's two branches, not one site whose
//!   sources name different entrance streets.
//! * *Same premises*: when the `street` term says the same house number or overlapping
//!   ones (`street` ≥ 0.87), an agreeing `postcode` or `locality` counts half: it repeats
//!   what the street and number said. Disagreement counts in full.
//! * *Other premises*: when the `street` term says another street or another house number
//!   (`street` ≤ 0.08), a shared phone or website adds nothing (their disagreement still
//!   counts): a chain's branches share both, and the address decides which branch a
//!   record is.
//! * `category` compares the coarse kinds (`vocab::kind`) implied by the name, the
//!   categories and the sports; it is present when both have one. Agreement adds nothing:
//!   neighbours of one kind are common, so only disagreement is evidence.
//! * `brand` is present when either name has a brand word ("Powerleague", "Nuffield"): a
//!   chain's venue is not the park next door that shares its location word.
//!
//! The name term is the one non-linear term:
//!
//! ```text
//! name term = clamp(10·(s − 0.75), −6, +2)  (+1 when s ≥ 0.9 and the names share at least
//!                                              1.75 distinctive words, a typo'd one counting 0.8)
//! ```
//!
//! Similarity 0.75 is neutral and each 0.1 moves the logit by 1. A name alone, however
//! exact, reaches logit +1 (score 0.73: the review band), unless it agrees on two
//! distinctive words ("Drumbrae Hollow Tennis Club"): +2, 0.88, a match. `name_words`
//! records the shared distinctive words, `distance_m` the great-circle distance, and `logit`
//! the sum, so every score can be recomputed by hand from the features.
//!
//! Without a name on either side the pair scores 0 (no `logit`) whatever else agrees: a
//! phone number or a website is shared by too many places to identify one on its own.
//!
//! Worked examples (the tests in `tests.rs`): "Powerleague Portobello" 40 m from
//! "Powerleague Edinburgh Portobello": name 0.97 → +2, distance +3, brand 0: logit 4,
//! score 0.98. "Powerleague Sighthill" and "Powerleague Edinburgh Portobello", 12 km apart:
//! name 0.28 → −4.7, distance −4: score 0.00006 (0.003 even with one booking number).
//! "Portobello Golf Course" and "Portobello Bowling Club", 300 m: name 0.56 → −1.9,
//! distance +0.3, category 0.1 → −2.25: score 0.01.
//! Without coordinates: "Bibi's Bakery, 37 Hanover Street" and "Bibi's Cake Boutique, 37
//! Hanover St": name 0.92 (alike but for generic words) → +1.7, street 1 → +3: logit 3.7,
//! score 0.98. "Best One, 187-189 Leith Walk" and "best-one, 301 Leith Walk": name 1 with
//! two distinctive words → +3, street 0.08 (another number) → −2.5: logit −0.5, score
//! 0.38, another branch.
//!
//! # Name similarity
//!
//! Each token has a weight by its class (`vocab::TokenClass`): distinctive words 1.0,
//! kind words ("tennis", "school", "course") 0.5, brand words ("powerleague") 0.4, generic
//! words ("club", "centre", "edinburgh", "park") 0.2; articles and legal suffixes ("the",
//! "ltd") are dropped. A stop-list rather than weights learned from the index's token
//! frequencies, so that a pair's score depends on the two candidates alone: the features in
//! a `MergeDecided` can be recomputed from the two records, and ingesting unrelated places
//! never changes a later decision. A word in brackets, or one that repeats the record's own
//! street or locality beside another telling word, weighs as a generic word in that record
//! (`vocab::name_form`, `vocab::demote_place_words`), and so do an owner's given name before
//! a surname ("George Bower") and the place after a closing "of" ("Armstrong's of
//! Stockbridge"); a word matched across two weights
//! counts at the lesser. Tokens match exactly, or with one edit (a typo; tokens of at least
//! 4 bytes) for 0.8 of the weight; a plural or possessive "s" on a stem of at least 4 bytes
//! ("Bower's" and "Bower") is the same word, in full. A token that writes two or three
//! consecutive unmatched words of the other name together ("Costcutter" and "Cost
//! Cutters", "VietnamHouse" and "Viet Nam House"; tokens of 7 bytes or more, words of 3 or
//! more) matches them at the lesser of its weight and theirs, and the side that weighs
//! more drops the difference from its name weight: it is one word written two ways
//! (likewise initials written apart, "IJ" and "I. J."). Initials match the same
//! letters written apart ("IJ", "I.J.") in full, and the words they may stand for ("M&S",
//! "Marks & Spencer") at half the lesser weight, never as matched words for the rule below.
//! With `M` the matched weight and `Wa`, `Wb` the two names' total weights:
//!
//! ```text
//! dice = 2M / (Wa + Wb)        containment = M / min(Wa, Wb)
//! s = (dice + containment) / 2
//! ```
//!
//! Two rules lift `s`: names that differ only in generic words ("Tesco Metro" and "Tesco
//! Express") score at least 0.92, and names that are the same letters run together ("Day
//! To Day", "Day-Today"; recorded as `name` 1) score 1. Long words (9 bytes or more) may
//! match with two typos, their first letters equal.
//!
//! Dice punishes words only one side has; containment forgives a name that is the other
//! plus words ("Powerleague Portobello" in "Powerleague Edinburgh Portobello",
//! "Corstorphine Tennis Club" in "Corstorphine Lawn Tennis Club"). The mean keeps either
//! from deciding alone.

use std::collections::BTreeMap;

use trustfold_normalize::address::{compare_numbers, LocalityMatch, NumbersMatch};

use super::vocab::{self, kind, Postcode, TokenClass, Website};

/// Within this distance, coordinates agree fully (different sources put the pin on the
/// entrance, the car park or the middle of the site).
pub const NEAR_M: f64 = 100.0;

/// The logit of a pair with no evidence but a name similarity of 0.75.
pub const BIAS: f64 = -1.0;

const NAME_PIVOT: f64 = 0.75;
const NAME_SLOPE: f64 = 10.0;
const NAME_MIN: f64 = -6.0;
const NAME_MAX: f64 = 2.0;
/// Added to the name term when the names agree (similarity at least
/// [`NAME_WORDS_SIMILARITY_MIN`]) on at least [`NAME_WORDS_MIN`] distinctive words.
const NAME_WORDS_BONUS: f64 = 1.0;
const NAME_WORDS_MIN: f64 = 1.75;
const NAME_WORDS_SIMILARITY_MIN: f64 = 0.9;
const DISTANCE: (f64, f64) = (-4.0, 3.0);
const PHONE: (f64, f64) = (-1.0, 3.0);
const WEBSITE: (f64, f64) = (-0.5, 2.5);
const POSTCODE: (f64, f64) = (-2.5, 2.0);
/// Two addresses with no word in common (once house-number and unit noise is gone) are
/// mostly two premises: "83 Princes Street" and "Unit 234-235 Edinburgh Airport", two
/// branches of one chain, went to review at −0.5.
const ADDRESS: (f64, f64) = (-1.5, 1.5);
const STREET: (f64, f64) = (-3.0, 3.0);
const LOCALITY: (f64, f64) = (-1.0, 0.5);
const CATEGORY: (f64, f64) = (-2.5, 0.0);
const ENTITY_CLASS: (f64, f64) = (-4.0, 0.0);
const BRAND: (f64, f64) = (-2.0, 0.0);
/// Postcode and address terms are scaled by this when both candidates have coordinates:
/// then they mostly repeat what the distance already says.
const LOCATION_REPEAT: f64 = 0.5;
const EXTERNAL_ID: f64 = 4.0;

/// Credit for a token matched with one edit, as a fraction of its weight.
const TYPO_CREDIT: f32 = 0.8;

/// The least similarity of two names whose words match but for generic ones (see
/// `name_similarity`): name term +1.7.
const CORE_SIMILARITY: f64 = 0.92;

/// Shortest token (bytes) that may match with one edit: "gym" and "gyn" are different.
const TYPO_BYTES_MIN: usize = 4;

/// Shortest tokens (bytes, both) that may match with two edits, their first letters
/// equal: long words are misspelt twice ("Croissantiere", "Croissanterie") and two long
/// words two edits apart are rarely different words.
const TWO_TYPOS_BYTES_MIN: usize = 9;

/// Marks a query token that is not in the index's vocabulary (it can only match by typo).
pub(crate) const NO_ID: u32 = u32::MAX;

/// One name token of the candidate being decided.
#[derive(Clone, Debug)]
pub(crate) struct QueryToken {
    pub id: u32,
    /// The token's block key (`keys::token_hash` of its text).
    pub hash: u64,
    pub weight: f32,
    pub class: vocab::TokenClass,
    pub text: String,
}

/// What the two candidates of a pair have, as the scorer reads it. The query side's name
/// tokens carry their text (they may be unknown to the vocabulary); the attached side's are
/// vocabulary ids.
#[derive(Clone, Copy)]
pub(crate) struct Side<'a> {
    pub name_weight: f32,
    pub kinds: u32,
    pub class: Option<u32>,
    pub coord: Option<(f64, f64)>,
    pub phone: Option<u64>,
    pub website: Option<Website>,
    pub postcode: Option<Postcode>,
    pub address: &'a [u32],
    /// The name run together (`vocab::compact_name`), 0 without a name.
    pub compact: u32,
    /// The street form (`vocab::street_form`), empty without a street.
    pub street: &'a [u32],
    /// The locality form (`vocab::locality_form`), empty without a locality.
    pub locality: &'a [u32],
    /// The `(source, id)` hashes this candidate is or names, each as two u32 (low, high).
    pub ids: &'a [u32],
}

/// The vocabulary the attached side's token ids refer to.
pub(crate) trait Vocabulary {
    fn text(&self, id: u32) -> &str;
}

/// A name token of an attached candidate: its vocabulary id, and what the typo filter and
/// the weights need, kept beside the id so that a comparison reads no other memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct AttachedToken {
    pub id: u32,
    pub class: vocab::TokenClass,
    /// Length in bytes (tokens are at most 40), first and last byte.
    pub len: u8,
    pub first: u8,
    pub last: u8,
}

impl Default for AttachedToken {
    fn default() -> Self {
        AttachedToken {
            id: NO_ID,
            class: vocab::TokenClass::Generic,
            len: 0,
            first: 0,
            last: 0,
        }
    }
}

/// The features of one pair and its score.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct PairFeatures {
    pub name: f64,
    pub name_words: f64,
    pub distance_m: Option<f64>,
    pub distance: Option<f64>,
    pub phone: Option<f64>,
    pub website: Option<f64>,
    pub postcode: Option<f64>,
    pub address: Option<f64>,
    pub street: Option<f64>,
    pub locality: Option<f64>,
    pub category: Option<f64>,
    pub entity_class: Option<f64>,
    pub brand: Option<f64>,
    pub external_id: Option<f64>,
    /// `None` when the pair cannot match at all (no name on one side).
    pub logit: Option<f64>,
    pub score: f64,
}

impl PairFeatures {
    /// The features as `MergeDecided` records them (present features only).
    pub(crate) fn to_map(&self) -> BTreeMap<String, f64> {
        let mut m = BTreeMap::new();
        m.insert("name".to_owned(), self.name);
        m.insert("name_words".to_owned(), self.name_words);
        let optional = [
            ("distance_m", self.distance_m),
            ("distance", self.distance),
            ("phone", self.phone),
            ("website", self.website),
            ("postcode", self.postcode),
            ("address", self.address),
            ("street", self.street),
            ("locality", self.locality),
            ("category", self.category),
            ("entity_class", self.entity_class),
            ("brand", self.brand),
            ("external_id", self.external_id),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                m.insert(k.to_owned(), v);
            }
        }
        if let Some(logit) = self.logit {
            m.insert("logit".to_owned(), logit);
        }
        m
    }
}

/// Linear interpolation between a feature's disagreement and agreement contributions.
fn lerp((lo, hi): (f64, f64), f: f64) -> f64 {
    lo + (hi - lo) * f
}

/// The name term of the logit: `similarity` as in the module docs, `words` the distinctive
/// words the names share (a typo'd one counts 0.8).
pub(crate) fn name_contribution(similarity: f64, words: f64) -> f64 {
    let bonus = if words >= NAME_WORDS_MIN && similarity >= NAME_WORDS_SIMILARITY_MIN {
        NAME_WORDS_BONUS
    } else {
        0.0
    };
    (NAME_SLOPE * (similarity - NAME_PIVOT)).clamp(NAME_MIN, NAME_MAX) + bonus
}

/// How two names compare: their similarity, and how many distinctive words they share.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct NameMatch {
    pub similarity: f64,
    pub words: f64,
    /// `None` when neither name has a brand word; 1 when they share one; 0 when only one
    /// has a brand, or they have different brands (a chain's venue is not the park next
    /// door, nor another chain's venue).
    pub brand: Option<f64>,
}

/// The distance similarity: 1 within [`NEAR_M`], 0 at and beyond `zero_m`, linear between.
pub(crate) fn distance_similarity(distance_m: f64, zero_m: f64) -> f64 {
    if distance_m <= NEAR_M {
        1.0
    } else if distance_m >= zero_m {
        0.0
    } else {
        (-(distance_m - NEAR_M) / distance_decay_m(zero_m)).exp()
    }
}

/// The distance over which the distance similarity falls by a factor e beyond [`NEAR_M`]:
/// `(distance_zero_m − NEAR_M) / 3.5`, so that the similarity is about 0.03 (logit −3.8)
/// when it is cut to 0 at `distance_zero_m` (400 m for the default 1500 m).
fn distance_decay_m(zero_m: f64) -> f64 {
    ((zero_m - NEAR_M) / DISTANCE_DECAYS).max(1.0)
}

/// Decay lengths between [`NEAR_M`] and `distance_zero_m`.
const DISTANCE_DECAYS: f64 = 3.5;

/// Weighted token similarity of two names (see the module docs).
pub(crate) fn name_similarity(
    query: &[QueryToken],
    query_weight: f32,
    attached: &[AttachedToken],
    attached_weight: f32,
    vocab: &impl Vocabulary,
) -> NameMatch {
    if query.is_empty() || attached.is_empty() || query_weight <= 0.0 || attached_weight <= 0.0 {
        return NameMatch::default();
    }
    let mut words: f32 = 0.0;
    // Names hold at most NAME_TOKENS_MAX (16) tokens, so a u32 tracks which are used.
    let mut used: u32 = 0;
    let mut matched: f32 = 0.0;
    let mut unmatched: u32 = 0;
    for (i, q) in query.iter().enumerate() {
        let hit = if q.id == NO_ID {
            None
        } else {
            attached
                .iter()
                .enumerate()
                .position(|(j, a)| a.id == q.id && used & (1 << j) == 0)
        };
        match hit {
            Some(j) => {
                used |= 1 << j;
                // One word may weigh differently on the two sides (in brackets, or the
                // record's own street, on one side only): it counts at the lesser weight,
                // so that no name matches more than its own weight.
                let a = attached[j].class;
                matched += q.weight.min(a.weight());
                if q.class == TokenClass::Distinctive && a == TokenClass::Distinctive {
                    words += 1.0;
                }
            }
            None => unmatched |= 1 << i,
        }
    }
    if unmatched != 0 && used.count_ones() < attached.len() as u32 {
        for (i, q) in query.iter().enumerate() {
            if unmatched & (1 << i) == 0 || q.text.len() < TYPO_BYTES_MIN {
                continue;
            }
            let (q_first, q_last) = (q.text.as_bytes()[0], q.text.as_bytes()[q.text.len() - 1]);
            for (j, a) in attached.iter().enumerate() {
                if used & (1 << j) != 0 {
                    continue;
                }
                // One edit keeps the length within 1 and the first or the last byte, so
                // most pairs are ruled out without reading the other token's text.
                let len = usize::from(a.len);
                let long = len >= TWO_TYPOS_BYTES_MIN && q.text.len() >= TWO_TYPOS_BYTES_MIN;
                if len < TYPO_BYTES_MIN
                    || len.abs_diff(q.text.len()) > if long { 2 } else { 1 }
                    || (a.first != q_first && (long || a.last != q_last))
                {
                    continue;
                }
                let other = vocab.text(a.id);
                let typo = vocab::one_edit_apart(&q.text, other)
                    || (long && a.first == q_first && vocab::edits_at_most(&q.text, other, 2));
                if typo {
                    // A plural or a possessive is the same word, not a misspelling.
                    let credit = if vocab::plural_pair(&q.text, other) {
                        1.0
                    } else {
                        TYPO_CREDIT
                    };
                    used |= 1 << j;
                    unmatched &= !(1 << i);
                    matched += credit * q.weight.min(a.class.weight());
                    if q.class == TokenClass::Distinctive && a.class == TokenClass::Distinctive {
                        words += credit;
                    }
                    break;
                }
            }
        }
    }
    // Weight that joined words count twice on one side: "VietnamHouse" is one word of
    // one name and three ("Viet Nam House") of the other; the pair is one word of both.
    let mut surplus = Surplus::default();
    if unmatched != 0 && used.count_ones() < attached.len() as u32 {
        surplus = joined_words(
            query,
            &mut unmatched,
            attached,
            &mut used,
            vocab,
            &mut matched,
            &mut words,
        );
    }
    if unmatched != 0 && used.count_ones() < attached.len() as u32 {
        let (m, apart) = initials(query, &mut unmatched, attached, &mut used, vocab);
        matched += m;
        surplus.query += apart.query;
        surplus.attached += apart.attached;
    }
    let q_brand = query.iter().any(|t| t.class == TokenClass::Brand);
    let a_brand = attached.iter().any(|t| t.class == TokenClass::Brand);
    let brand = if !q_brand && !a_brand {
        None
    } else {
        let shared = query.iter().any(|q| {
            q.class == TokenClass::Brand && attached.iter().any(|a| a.id == q.id && q.id != NO_ID)
        });
        Some(if shared { 1.0 } else { 0.0 })
    };
    let matched = f64::from(matched);
    let (wa, wb) = (
        f64::from((query_weight - surplus.query).max(f32::EPSILON)),
        f64::from((attached_weight - surplus.attached).max(f32::EPSILON)),
    );
    let dice = 2.0 * matched / (wa + wb);
    let containment = matched / wa.min(wb);
    let mut similarity = ((dice + containment) / 2.0).clamp(0.0, 1.0);
    // Names that differ only in generic words ("Tesco Metro" and "Tesco Express",
    // "Sainsbury's Local" and "Sainsburys", "The Corner Shop" and "The Corner Store") are
    // one name with another label: every other word of both is matched.
    let core = |t: TokenClass| t != TokenClass::Generic;
    let q_core_all = query
        .iter()
        .enumerate()
        .all(|(i, q)| !core(q.class) || unmatched & (1 << i) == 0);
    let a_core_all = attached
        .iter()
        .enumerate()
        .all(|(j, a)| !core(a.class) || used & (1 << j) != 0);
    let has_core = query.iter().any(|q| core(q.class)) && attached.iter().any(|a| core(a.class));
    if has_core && q_core_all && a_core_all {
        similarity = similarity.max(CORE_SIMILARITY);
    }
    NameMatch {
        similarity,
        words: f64::from(words),
        brand,
    }
}

/// Shortest token (bytes) read as words written together, and shortest such word.
const JOINED_BYTES_MIN: usize = 7;
const JOINED_PART_BYTES_MIN: usize = 3;
/// Most words one token may be written together from.
const JOINED_PARTS_MAX: usize = 3;

/// Name weight that a side counts beyond what its matched words weigh on the other side,
/// for words written together: see [`joined_words`].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Surplus {
    query: f32,
    attached: f32,
}

/// Matches a token of either name with consecutive unmatched words of the other that it
/// writes together ("Costcutter" and "Cost Cutters", "VietnamHouse" and "Viet Nam
/// House"). The pair counts at the lesser of the token's weight and the words' summed
/// weight, and as a distinctive word when the token and one of the words are distinctive.
/// It is one word written two ways, so what either side weighs beyond that lesser weight
/// is returned as surplus, which the similarity takes off that side's name weight: "Viet
/// Nam House" does not have two words more than "VietnamHouse". Lengths and first bytes
/// rule out most runs before any text is read.
fn joined_words(
    query: &[QueryToken],
    unmatched: &mut u32,
    attached: &[AttachedToken],
    used: &mut u32,
    vocab: &impl Vocabulary,
    matched: &mut f32,
    words: &mut f32,
) -> Surplus {
    let mut surplus = Surplus::default();
    // A query token written together for attached words.
    for (i, q) in query.iter().enumerate() {
        if *unmatched & (1 << i) == 0 || q.text.len() < JOINED_BYTES_MIN {
            continue;
        }
        let free = *used;
        let word = |j: usize| {
            let a = &attached[j];
            (usize::from(a.len), a.first, free & (1 << j) == 0)
        };
        let found = joined_run(&q.text, attached.len(), word, |j| {
            vocab.text(attached[j].id)
        });
        if let Some((start, end)) = found {
            let run = &attached[start..end];
            let run_weight: f32 = run.iter().map(|a| a.class.weight()).sum();
            let pair = q.weight.min(run_weight);
            *matched += pair;
            surplus.query += q.weight - pair;
            surplus.attached += run_weight - pair;
            if q.class == TokenClass::Distinctive
                && run.iter().any(|a| a.class == TokenClass::Distinctive)
            {
                *words += 1.0;
            }
            *unmatched &= !(1 << i);
            for j in start..end {
                *used |= 1 << j;
            }
        }
    }
    // An attached token written together for query words.
    for (j, a) in attached.iter().enumerate() {
        if *used & (1 << j) != 0 || usize::from(a.len) < JOINED_BYTES_MIN {
            continue;
        }
        let free = *unmatched;
        let word = |i: usize| {
            let q = &query[i];
            let first = q.text.as_bytes().first().copied().unwrap_or(0);
            (q.text.len(), first, free & (1 << i) != 0)
        };
        let text = vocab.text(a.id);
        if let Some((start, end)) = joined_run(text, query.len(), word, |i| query[i].text.as_str())
        {
            let run = &query[start..end];
            let run_weight: f32 = run.iter().map(|q| q.weight).sum();
            let pair = a.class.weight().min(run_weight);
            *matched += pair;
            surplus.attached += a.class.weight() - pair;
            surplus.query += run_weight - pair;
            if a.class == TokenClass::Distinctive
                && run.iter().any(|q| q.class == TokenClass::Distinctive)
            {
                *words += 1.0;
            }
            *used |= 1 << j;
            for i in start..end {
                *unmatched &= !(1 << i);
            }
        }
    }
    surplus
}

/// The first run `[start, end)` of two to [`JOINED_PARTS_MAX`] consecutive free words of
/// the `n` (`word(k)` is a word's length, first byte and whether it is free) that `token`
/// writes together; `text(k)` reads a word's text, only for runs whose lengths fit.
fn joined_run<'t>(
    token: &str,
    n: usize,
    word: impl Fn(usize) -> (usize, u8, bool),
    text: impl Fn(usize) -> &'t str,
) -> Option<(usize, usize)> {
    let first = token.as_bytes()[0];
    for start in 0..n {
        let (len, byte, free) = word(start);
        if !free || byte != first || len < JOINED_PART_BYTES_MIN || len >= token.len() {
            continue;
        }
        let mut total = len;
        for end in start + 1..n.min(start + JOINED_PARTS_MAX) {
            let (len, _, free) = word(end);
            if !free || len < JOINED_PART_BYTES_MIN {
                break;
            }
            total += len;
            if total > token.len() + 1 {
                break;
            }
            if total + 1 >= token.len() && vocab::joined_pair(token, (start..=end).map(&text)) {
                return Some((start, end + 1));
            }
        }
    }
    None
}

/// Letters of initials or an acronym, at most.
const INITIALS_MAX: usize = 4;

/// One side's words as the initials pass reads them.
#[derive(Clone, Copy, Default)]
struct Word {
    len: usize,
    first: u8,
    free: bool,
    weight: f32,
    /// Matched here with the same letters written apart.
    strong: bool,
}

/// Credit for initials matched with the words they may stand for, as a fraction of the
/// lesser weight: two letters are spelt by many pairs of words.
const ACRONYM_CREDIT: f32 = 0.5;

/// Matches initials with what they stand for, among the words still unmatched: a token of
/// two to four letters with as many single letters of the other name ("IJ" and "I.J.",
/// the same letters: in full, and matched as the core-words rule reads it); or with as
/// many consecutive words of it that start with those letters ("MS" or "M&S" and "Marks &
/// Spencer"), and single letters in a row with words: [`ACRONYM_CREDIT`], and left
/// unmatched for the core-words rule ("AK Stores" is not "Alpha Kebabs"). Each pair counts
/// at the lesser of the two sides' weights and adds no distinctive word. Returns the
/// weight matched, and for the same letters written apart, the [`Surplus`] of the side
/// that weighs more ("IJ" is one distinctive word, "I. J." two single letters: one
/// word written two ways, as for words written together).
fn initials(
    query: &[QueryToken],
    unmatched: &mut u32,
    attached: &[AttachedToken],
    used: &mut u32,
    vocab: &impl Vocabulary,
) -> (f32, Surplus) {
    let mut surplus = Surplus::default();
    let mut q = [Word::default(); vocab::NAME_TOKENS_MAX];
    for (i, t) in query.iter().enumerate().take(vocab::NAME_TOKENS_MAX) {
        q[i] = Word {
            len: t.text.len(),
            first: t.text.as_bytes().first().copied().unwrap_or(0),
            free: *unmatched & (1 << i) != 0,
            weight: t.weight,
            strong: false,
        };
    }
    let mut a = [Word::default(); vocab::NAME_TOKENS_MAX];
    for (j, t) in attached.iter().enumerate().take(vocab::NAME_TOKENS_MAX) {
        a[j] = Word {
            len: usize::from(t.len),
            first: t.first,
            free: *used & (1 << j) == 0,
            weight: t.class.weight(),
            strong: false,
        };
    }
    let (nq, na) = (
        query.len().min(vocab::NAME_TOKENS_MAX),
        attached.len().min(vocab::NAME_TOKENS_MAX),
    );
    let mut matched = 0.0;
    for query_is_x in [true, false] {
        let (x, nx, y, ny) = if query_is_x {
            (&mut q, nq, &mut a, na)
        } else {
            (&mut a, na, &mut q, nq)
        };
        let text = |k: usize, of_query: bool| -> &str {
            if of_query {
                query[k].text.as_str()
            } else {
                vocab.text(attached[k].id)
            }
        };
        let mut start = 0;
        while start < nx {
            let w = x[start];
            if !w.free {
                start += 1;
                continue;
            }
            // The letters: one short token's, or a run of single letters'.
            let mut letters = [0u8; INITIALS_MAX];
            let (count, end, apart_ok) = if (2..=INITIALS_MAX).contains(&w.len) {
                let t = text(start, query_is_x).as_bytes();
                if !t.iter().all(u8::is_ascii_alphabetic) {
                    start += 1;
                    continue;
                }
                letters[..t.len()].copy_from_slice(t);
                (t.len(), start + 1, true)
            } else if w.len == 1 {
                let mut end = start;
                while end < nx && end - start < INITIALS_MAX && x[end].free && x[end].len == 1 {
                    letters[end - start] = x[end].first;
                    end += 1;
                }
                (end - start, end, false)
            } else {
                start += 1;
                continue;
            };
            if count < 2 {
                start += 1;
                continue;
            }
            // (start of the run, the same letters written apart)
            let found = (0..(ny + 1).saturating_sub(count)).find_map(|ys| {
                let run = &y[ys..ys + count];
                let spelled = run
                    .iter()
                    .zip(&letters[..count])
                    .all(|(v, l)| v.free && v.first == *l);
                let apart = apart_ok && run.iter().all(|v| v.len == 1);
                (spelled && (apart || run.iter().all(|v| v.len >= 2))).then_some((ys, apart))
            });
            let Some((ys, apart)) = found else {
                start += 1;
                continue;
            };
            let wx: f32 = x[start..end].iter().map(|v| v.weight).sum();
            let wy: f32 = y[ys..ys + count].iter().map(|v| v.weight).sum();
            let credit = if apart { 1.0 } else { ACRONYM_CREDIT };
            matched += credit * wx.min(wy);
            if apart {
                let (sx, sy) = (wx - wx.min(wy), wy - wx.min(wy));
                let (sq, sa) = if query_is_x { (sx, sy) } else { (sy, sx) };
                surplus.query += sq;
                surplus.attached += sa;
            }
            for v in x[start..end].iter_mut().chain(&mut y[ys..ys + count]) {
                v.free = false;
                v.strong = apart;
            }
            start = end;
        }
    }
    for (i, w) in q.iter().enumerate().take(nq) {
        if w.strong {
            *unmatched &= !(1 << i);
        }
    }
    for (j, w) in a.iter().enumerate().take(na) {
        if w.strong {
            *used |= 1 << j;
        }
    }
    (matched, surplus)
}

/// The category similarity of two kind sets, `None` unless both are known.
fn category_similarity(a: u32, b: u32) -> Option<f64> {
    if a == 0 || b == 0 {
        return None;
    }
    let (sa, sb) = (a & !kind::HOST, b & !kind::HOST);
    Some(if sa & sb != 0 {
        1.0
    } else if sa == 0 || sb == 0 || (a | b) & kind::HOST != 0 {
        0.9
    } else {
        0.1
    })
}

/// Scores one pair. `name` is the name similarity, computed by the caller (it needs the
/// token lists, which the two sides hold in different forms).
pub(crate) fn score_pair(
    name: NameMatch,
    q: &Side<'_>,
    a: &Side<'_>,
    distance_zero_m: f64,
) -> PairFeatures {
    let mut f = PairFeatures {
        name: name.similarity,
        name_words: name.words,
        ..PairFeatures::default()
    };
    if q.name_weight <= 0.0 || a.name_weight <= 0.0 {
        // No name on one side: cannot match (see the module docs).
        f.name = 0.0;
        return f;
    }
    // One name written with other word breaks ("Day To Day", "Day-Today") is the same name.
    let mut name = name;
    if q.compact != 0 && q.compact == a.compact {
        name.similarity = 1.0;
        f.name = 1.0;
    }
    let mut logit = BIAS + name_contribution(name.similarity, name.words);
    if let (Some(p), Some(r)) = (q.coord, a.coord) {
        let d_m = trustfold_normalize::geo::haversine_km(p, r) * 1000.0;
        let d_m = if d_m.is_finite() { d_m } else { f64::MAX };
        let s = distance_similarity(d_m, distance_zero_m);
        f.distance_m = Some(d_m.min(1.0e8));
        f.distance = Some(s);
        logit += lerp(DISTANCE, s);
    }
    // Two addresses that disagree (another street, or another number on the same street)
    // are two premises: a shared phone or website then says "the same business", which a
    // chain's branches are, not "the same place" (see `business_term`).
    let street = street_similarity(q.street, a.street);
    let other_premises = street.is_some_and(address_conflict);
    if let (Some(p), Some(r)) = (q.phone, a.phone) {
        let s = if p == r { 1.0 } else { 0.0 };
        f.phone = Some(s);
        logit += business_term(PHONE, s, other_premises);
    }
    if let (Some(p), Some(r)) = (q.website, a.website) {
        let s = p.similarity(r);
        f.website = Some(s);
        logit += business_term(WEBSITE, s, other_premises);
    }
    let repeat = if f.distance.is_some() {
        LOCATION_REPEAT
    } else {
        1.0
    };
    // The same house number on the same street says "the same premises"; a postcode or a
    // locality that agrees too mostly repeats it (see `premises_repeat`).
    let same_premises = street.is_some_and(|s| s >= STREET_OVERLAP);
    if let (Some(p), Some(r)) = (q.postcode, a.postcode) {
        let s = p.similarity(r);
        f.postcode = Some(s);
        logit += repeat * premises_repeat(lerp(POSTCODE, s), same_premises);
    }
    if let Some(s) = street {
        // The street and number say what the address words would, more precisely.
        f.street = Some(s);
        logit += street_repeat(repeat, s, f.distance) * lerp(STREET, s);
    } else if !q.address.is_empty() && !a.address.is_empty() {
        let common = q.address.iter().filter(|t| a.address.contains(t)).count();
        let s = 2.0 * common as f64 / (q.address.len() + a.address.len()) as f64;
        f.address = Some(s);
        logit += repeat * lerp(ADDRESS, s);
    }
    if let Some(m) = vocab::compare_localities(q.locality, a.locality) {
        let s = match m {
            LocalityMatch::Same => 1.0,
            LocalityMatch::Compatible => LOCALITY_COMPATIBLE,
            LocalityMatch::Different => 0.0,
        };
        f.locality = Some(s);
        logit += repeat * premises_repeat(lerp(LOCALITY, s), same_premises);
    }
    if let Some(s) = name.brand {
        f.brand = Some(s);
        logit += lerp(BRAND, s);
    }
    if let Some(s) = category_similarity(q.kinds, a.kinds) {
        f.category = Some(s);
        logit += lerp(CATEGORY, s);
    }
    if let (Some(p), Some(r)) = (q.class, a.class) {
        let s = if p == r { 1.0 } else { 0.0 };
        f.entity_class = Some(s);
        logit += lerp(ENTITY_CLASS, s);
    }
    // Every candidate carries its own id; two that carry nothing else cannot share one
    // (the same record never gets here), so the ids are only read when one names others.
    let names_others = q.ids.len() > 2 || a.ids.len() > 2;
    if names_others
        && q.ids
            .chunks_exact(2)
            .any(|q_id| a.ids.chunks_exact(2).any(|a_id| a_id == q_id))
    {
        f.external_id = Some(1.0);
        logit += EXTERNAL_ID;
    }
    f.logit = Some(logit);
    f.score = logistic(logit);
    f
}

/// Whether a `street` similarity says the two addresses are different premises: another
/// street, or another house number on the same one.
fn address_conflict(street: f64) -> bool {
    street <= STREET_DIFFERENT_NUMBER
}

/// The share of the `street` term counted beside coordinates: half (the distance says
/// most of it), but in full for another street when the points are not close either: two
/// premises on two streets over [`NEAR_M`] apart (a chain's branches in one shopping
/// district) are not one site whose sources name different entrance streets.
fn street_repeat(repeat: f64, street: f64, distance: Option<f64>) -> f64 {
    match distance {
        Some(d) if street == 0.0 && d < 1.0 => 1.0,
        _ => repeat,
    }
}

/// A postcode or locality term when the street and house number already agree
/// (`same_premises`): agreement counts [`LOCATION_REPEAT`] of itself, disagreement in full.
/// Counted whole, the three terms of one address (+3, +2, +0.5) outweighed names with one
/// kind word in common: "Dome Cafe and Bar (EUSA)" and "Potterrow Venue Bar (EUSA)", two
/// bars of one students' union at 5 Bristo Square, scored 0.88.
fn premises_repeat(term: f64, same_premises: bool) -> f64 {
    if same_premises && term > 0.0 {
        term * LOCATION_REPEAT
    } else {
        term
    }
}

/// The contribution of a phone or website similarity `s`: as any linear term, except that
/// agreement counts for nothing at other premises (`other_premises`): every branch of a
/// chain shares its website and often its phone (William Hill at 217 Leith Walk and at 22
/// Crighton Place), and a business that moved is another place at each address.
/// Disagreement still counts in full.
fn business_term(range: (f64, f64), s: f64, other_premises: bool) -> f64 {
    let term = lerp(range, s);
    if other_premises {
        term.min(0.0)
    } else {
        term
    }
}

/// The locality similarity of two names written at different detail ("Leith, Edinburgh"
/// and "Edinburgh"): a little evidence for.
const LOCALITY_COMPATIBLE: f64 = 0.7;

/// The street similarity of two addresses on the same street, by their house numbers (with
/// [`STREET`] from −3 to +3, the contributions are +3, +2.2, +1, +1 and −2.5): sharing a
/// street is evidence for by itself, a number on each side that differs is strong
/// evidence against (another branch of a chain on the same street), numbers at most two
/// apart are often one shop the listings number differently ("34" and "36 Blackford
/// Avenue"): as good as a number on one side only (matcher 3; it was +0.5).
const STREET_OVERLAP: f64 = 0.87;
const STREET_UNKNOWN: f64 = 0.67;
const STREET_NEAR: f64 = 0.67;
const STREET_DIFFERENT_NUMBER: f64 = 0.08;

/// How two street forms compare, `None` unless both have a street: 0 on different streets;
/// on the same street by their house numbers: the same 1, overlapping (a range and a
/// number in it, "21B" and "21"), unknown on one side, near (at most two apart), different
/// (see the constants above).
pub(crate) fn street_similarity(q: &[u32], a: &[u32]) -> Option<f64> {
    let (qs, as_) = (q.first()?, a.first()?);
    if qs != as_ {
        return Some(0.0);
    }
    Some(
        match compare_numbers(&vocab::street_numbers(q), &vocab::street_numbers(a)) {
            NumbersMatch::Same => 1.0,
            NumbersMatch::Overlap => STREET_OVERLAP,
            NumbersMatch::Unknown => STREET_UNKNOWN,
            NumbersMatch::Near => STREET_NEAR,
            NumbersMatch::Different => STREET_DIFFERENT_NUMBER,
        },
    )
}

/// 1 / (1 + e^-x), in [0, 1] for every input (NaN gives 0).
pub(crate) fn logistic(x: f64) -> f64 {
    let s = 1.0 / (1.0 + (-x).exp());
    if s.is_nan() {
        0.0
    } else {
        s.clamp(0.0, 1.0)
    }
}

/// The logit term of each feature a `MergeDecided` recorded, as [`score_pair`] added them:
/// what a person reviewing a match is shown. `BIAS` plus the terms is the recorded
/// `logit` (the name term is the non-linear one; `postcode`, `address`, `street` and
/// `locality` count half when a `distance` is present). `None` when the features carry no logit (a pair without a
/// name, or a decision that was not scored).
pub fn contributions(features: &BTreeMap<String, f64>) -> Option<Vec<(String, f64)>> {
    features.get("logit")?;
    let get = |k: &str| features.get(k).copied();
    let repeat = if get("distance").is_some() {
        LOCATION_REPEAT
    } else {
        1.0
    };
    let mut out = vec![(
        "name".to_owned(),
        name_contribution(get("name").unwrap_or(0.0), get("name_words").unwrap_or(0.0)),
    )];
    let linear = [
        ("distance", DISTANCE, 1.0),
        ("phone", PHONE, 1.0),
        ("website", WEBSITE, 1.0),
        ("postcode", POSTCODE, repeat),
        ("address", ADDRESS, repeat),
        (
            "street",
            STREET,
            street_repeat(repeat, get("street").unwrap_or(1.0), get("distance")),
        ),
        ("locality", LOCALITY, repeat),
        ("brand", BRAND, 1.0),
        ("category", CATEGORY, 1.0),
        ("entity_class", ENTITY_CLASS, 1.0),
    ];
    let other_premises = get("street").is_some_and(address_conflict);
    let same_premises = get("street").is_some_and(|s| s >= STREET_OVERLAP);
    for (name, range, weight) in linear {
        if let Some(f) = get(name) {
            let term = match name {
                "phone" | "website" => business_term(range, f, other_premises),
                "postcode" | "locality" => premises_repeat(lerp(range, f), same_premises),
                _ => lerp(range, f),
            };
            out.push((name.to_owned(), weight * term));
        }
    }
    if get("external_id").is_some() {
        out.push(("external_id".to_owned(), EXTERNAL_ID));
    }
    Some(out)
}
