//! Identity resolution: which candidates are the same place.
//!
//! Decided once per candidate, recorded as `MergeDecided`, and never from merged values:
//! a candidate is compared with the *candidates* already attached to entities, so identity
//! never depends on trust weights, and `rebuild-projections` with new weights cannot move a
//! candidate from one entity to another.
//!
//! The main type is [`IdentityIndex`]: the attached candidates, in the compact form the
//! matcher reads, and the blocking maps that find the few worth comparing.
//! [`IdentityIndex::decide`] reads the index and returns a [`Decision`] (it changes nothing
//! a caller can observe: it only keeps the candidate it just read, so that `attach` of the
//! same candidate right after need not read its fields again); [`IdentityIndex::attach`]
//! records where a candidate went, and is what replaying `MergeDecided` events calls to
//! rebuild the index.
//!
//! ```no_run
//! # use trustfold::resolve::*;
//! # use trustfold_events::CandidateFields;
//! let mut index = IdentityIndex::new(MatchConfig::default());
//! let fields = CandidateFields { name: Some("Powerleague Portobello".into()), lat: Some(55.9513), lon: Some(-3.1072), ..Default::default() };
//! let id = candidate_id("google_places", "ChIJ123");
//! let c = CandidateRef { candidate_id: &id, source: "google_places", external_id: "ChIJ123", fields: &fields };
//! let decision = index.decide(&c);
//! let entity = match &decision.outcome {
//!     Outcome::Existing(e) => e.clone(),
//!     _ => entity_id_for(&id),
//! };
//! index.attach(&c, &entity);
//! ```
//!
//! # Rules
//!
//! * **The same record**: a candidate with the `(source, external_id)` of an attached one
//!   (source names compared as in cross-references: "osm" is "openstreetmap") goes to that
//!   candidate's entity with score 1 and the single feature `same_record`, before any
//!   scoring. So ingesting the same query twice adds no candidates and no entities. A record
//!   with an empty id is never "the same record".
//! * **Scoring** is evidence in log-odds over the features both candidates have; a missing
//!   feature neither helps nor hurts; a name is mandatory. The formula, every weight and
//!   worked examples are in `score.rs`; `MergeDecided.features` records each feature, so a
//!   decision can be recomputed by hand. Generic and brand words count less than
//!   distinctive ones (a fixed word list, not frequencies in the index: a pair's score
//!   depends on the pair alone).
//! * **Two records of one source are not assumed different**: the sportscotland register
//!   lists a site once per facility, with one site name, address and point. They are
//!   scored like any pair.
//! * **Against entities**: an entity's score is the best score of its compared candidates.
//!   At or above `match_threshold`: [`Outcome::Existing`] (the best entity). In
//!   `[review_threshold, match_threshold)`: [`Outcome::Review`], the entities in the band,
//!   best first (at most [`REVIEW_ENTITIES_MAX`]). Below: [`Outcome::NewEntity`], unless
//!   the candidate has nothing another record of the place could find it by:
//!   [`Outcome::NoMatchCannotFound`], and the caller rejects it. A candidate placed by its
//!   name alone (no coordinates, postcode, phone, street or address; a locality or a
//!   website at most) that reaches the match threshold with two entities is a
//!   [`Outcome::Review`] of them: "Tesco Express" in Edinburgh names every branch.
//! * **Founding** (ADR 0007): a candidate may found an entity with a name and one of:
//!   coordinates; a postcode; a valid phone number (E.164); a house number on a named
//!   street together with a locality; a street or site without a number, a locality and a
//!   name with a distinctive word. Each is a block a later record of the place reads (the
//!   last, the name's words in the locality). A street without a number under a name of
//!   generic words is too vague a place (and a street too long a block); a number and
//!   street without a town is in every town.
//! * **Determinism**: the same attached set gives the same decision whatever the order it
//!   was attached in. Ties are broken by entity id, then candidate id, never by arrival.
//! * **Moving**: `attach` of an attached candidate to another entity moves it (a reviewer's
//!   answer). A candidate in review is best attached at once to a provisional entity of its
//!   own (`entity_id_for` its id): later records of the same place then find it, and the
//!   reviewer's answer moves it, or leaves it where it is.
//!
//! # Blocking
//!
//! No candidate is compared with every other. Each attached candidate is filed under keys,
//! and a decision compares only the candidates filed under the keys of the one being
//! decided:
//!
//! * **Near by, with a shared word.** A grid of `cell_m` squares (an equirectangular
//!   projection per row of cells); the cell and its 8 neighbours are searched, so every
//!   candidate within `cell_m` is found. In those cells, the candidates sharing one of the
//!   name's most telling words: its distinctive words if it has any ("drumbrae"), else its
//!   brand ("powerleague"), else its kind words ("tennis"); never generic ones ("club").
//!   A rare word (at most 16 candidates city-wide) is found through its city-wide list,
//!   which records each candidate's cell; a commoner one through (cell, word) blocks.
//! * **Near by, whatever the name**, when nothing else found anything and the index is
//!   sparse: the whole of each cell holding at most [`CELL_ALONE_MAX`] candidates (names
//!   that share only typos).
//! * **The same phone, website host** (the whole URL on hosts such as facebook.com),
//!   **postcode, house number on a street, or name key** (the sorted most telling words).
//!   For a candidate with coordinates, postcode, street and name key only look among
//!   candidates without coordinates: the cells find the others.
//! * **Without coordinates, the name's words city-wide**: candidates sharing at least two
//!   of its distinctive or brand words (one, if it has one): a single shared word is weak
//!   across a city; **and within its locality**, any one of them.
//! * **Cross-references**: the records it names in `external_ids`, those naming it, and
//!   those naming the same records.
//!
//! A key filed under by more than `common_token_max` candidates ("tennis" city-wide, a
//! chain's booking number, a chain's website) is too common to narrow anything down and is
//! skipped. The union is ranked by how strongly each candidate was found (a shared record,
//! then phone, name key and street, website, a word near by, a word in the locality, a
//! postcode, a word city-wide, the cell alone; integer weights in `index.rs`), and at most `block_candidates_max` are compared,
//! strongest first, ties by candidate id hash. Every step is bounded by these limits: there
//! is no path whose cost grows with the index.
//!
//! # Persisted
//!
//! Runs do not rebuild the index from the log: [`IdentityStore`] (`store/`) keeps the
//! attached candidates and their blocks in a SQLite file beside the projections, caught up
//! from the log, and builds for each run a *working* index holding only the blocks its
//! candidates' decisions can read (`IdentityIndex::working` says why its decisions are the
//! full index's). `keys.rs` is the one list of blocks both use.
//!
//! # At a million candidates
//!
//! A decision then costs more in trips to memory than in arithmetic, so the index is laid
//! out to make few: each attached candidate is one 128-byte record holding what a comparison
//! reads (`index.rs`), the maps are open-addressing tables with keys and values in one slot
//! (`table.rs`), and block lists keep their first entries inline. The benchmark
//! (`benches/resolve.rs`) streams synthetic candidates through `decide` + `attach` at 10k,
//! 100k and 1M and reports time, comparisons and pairwise precision and recall.

mod form;
mod hash;
mod index;
mod keys;
pub mod score;
pub mod store;
mod table;
mod vocab;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use trustfold_events::CandidateFields;

pub use index::{IdentityIndex, CELL_ALONE_MAX};
pub use score::NEAR_M;
pub use store::{IdentityReport, IdentityStore, IdentityStoreError, WorkingIndex};

/// Recorded in every `MergeDecided`; bumped whenever a decision for the same inputs can
/// change (a weight, a threshold default, a token list, the blocking rules).
///
/// 2: founding without coordinates; street, locality and compact-name evidence; street and
/// (locality, word) blocks; phones compared as E.164 numbers (issue 13, ADR 0007).
/// 3: words in brackets, and name words repeating the record's own street or locality,
/// weigh as generic words; more shop-kind words are generic; a shared phone or website adds
/// nothing at another address (a chain's branches); an agreeing postcode or locality counts
/// half beside the same street and number; house numbers two apart count as one unknown
/// (ADR 0007).
/// 4: a plural or possessive matches its word in full; a word written together matches the
/// words it joins; "post", "office" and "staff" are generic words; the register's
/// code-page-850 misreadings fold to the letters they stand for; initials match; a plural
/// of a listed word is classed as the word; a name's business ends at "at" or "within" as
/// at "@"; a street or site without a number in a locality founds under a name with a
/// distinctive word; addresses read a house number's letter written apart, letter ranges,
/// and which premises ("Ground Floor", "Shop 3", "No.") before the number (ADR 0007).
/// 5: words written together and initials written apart weigh once in the name weights;
/// an owner's given name before a surname, and one or two words after a closing "of",
/// weigh as generic words; "son" is generic (ADR 0007).
/// 6: a record whose only place is a locality (a map feature that gives a name, imported
/// with `--locality`) is decided: it may join a place its name's words find in the
/// locality, and never founds one; a record placed by its name alone that matches two
/// entities goes to review; the name key reads a plural or possessive as its word
/// ("Bower's Butchers" and "George Bower" share "bower") (ADR 0007).
pub const MATCHER_VERSION: &str = "6";

/// Most entities a `Review` outcome names.
pub const REVIEW_ENTITIES_MAX: usize = 5;

/// Hard upper bound for `block_candidates_max`: comparisons per decision.
pub const BLOCK_CANDIDATES_LIMIT: usize = 10_000;

/// Hard upper bound for `common_token_max`: the longest block list ever read.
pub const COMMON_TOKEN_LIMIT: usize = 100_000;

/// Number of hex digits in candidate and entity ids after the prefix (80 bits).
const ID_HEX_CHARS: usize = 20;

/// The candidate id of a record: `c_` and 20 hex digits of a blake3 hash of the source and
/// the record's id at that source. The same record from the same source always gets the
/// same id, whichever run or response it came from.
pub fn candidate_id(source: &str, external_id: &str) -> String {
    prefixed_hash("c_", &["trustfold/candidate/v1", source, external_id])
}

/// The id of the entity a candidate founds: `e_` and 20 hex digits of a blake3 hash of the
/// founding candidate's id. Stable: replaying the log founds the same entity ids.
pub fn entity_id_for(founding_candidate_id: &str) -> String {
    prefixed_hash("e_", &["trustfold/entity/v1", founding_candidate_id])
}

/// The id of the entity a person's split founds for `candidate_id`, taken out of
/// `from_entity` when its stream was at `from_version`: never an id used before (the
/// candidate's own `entity_id_for` may be the entity it leaves, when it founded it), and
/// the same if the same split is retried.
pub fn entity_id_for_split(candidate_id: &str, from_entity: &str, from_version: u64) -> String {
    prefixed_hash(
        "e_",
        &[
            "trustfold/entity/split/v1",
            candidate_id,
            from_entity,
            &from_version.to_string(),
        ],
    )
}

/// `prefix` + the first [`ID_HEX_CHARS`] hex digits of blake3 over the parts, each
/// length-prefixed so ("ab", "c") and ("a", "bc") differ.
fn prefixed_hash(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let hex = hasher.finalize().to_hex();
    format!("{prefix}{}", &hex.as_str()[..ID_HEX_CHARS])
}

/// The matcher's settings (`<data-dir>/matching.toml`). Every field has a
/// default; [`MatchConfig::validate`] names the first one out of range.
#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatchConfig {
    /// Score at or above which a candidate joins the best entity.
    pub match_threshold: f64,
    /// Score at or above which (and below `match_threshold`) a person decides.
    pub review_threshold: f64,
    /// Side of a blocking cell, metres. Candidates within `cell_m` of each other are always
    /// compared (the cell and its 8 neighbours are searched).
    pub cell_m: f64,
    /// Distance at and beyond which coordinates fully disagree, metres (they agree fully
    /// within `NEAR_M`, linearly between). 1500 m: big sites (golf courses, parks) are
    /// pinned hundreds of metres apart by different sources; two venues of one chain are
    /// rarely closer than a couple of kilometres.
    pub distance_zero_m: f64,
    /// Most attached candidates compared per decision (the strongest-found first).
    pub block_candidates_max: usize,
    /// A blocking key (token, cell, phone, host, postcode) filed under by more candidates
    /// than this is not used: it is too common to narrow anything down.
    pub common_token_max: usize,
    /// Sources whose records are each one establishment (a food hygiene register lists
    /// every outlet of an airport or a station apart, under one name and often one
    /// postcode): two records of one of them with the same name are never made one place
    /// by the matcher, nor dropped as the same site listed twice (as a register of sports
    /// facilities repeats a site per facility). Records of such a source with other names
    /// still join ("Tesco" and its "Tesco Staff Restaurant"), and so do other sources'.
    /// `import --distinct-records` adds the imported source for its run. At most
    /// [`DISTINCT_SOURCES_MAX`].
    pub distinct_sources: Vec<String>,
}

/// Most sources `distinct_sources` (in `matching.toml`) may list.
pub const DISTINCT_SOURCES_MAX: usize = 64;

impl Default for MatchConfig {
    fn default() -> Self {
        MatchConfig {
            match_threshold: 0.80,
            review_threshold: 0.60,
            cell_m: 300.0,
            distance_zero_m: 1500.0,
            block_candidates_max: 64,
            common_token_max: 100,
            distinct_sources: Vec::new(),
        }
    }
}

impl MatchConfig {
    /// Checks every field; the error names the field, its value and the allowed range.
    pub fn validate(&self) -> Result<(), String> {
        let unit = |name: &str, v: f64| {
            if v.is_finite() && (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!(
                    "match.{name} is {v}: it must be a score between 0 and 1"
                ))
            }
        };
        unit("match_threshold", self.match_threshold)?;
        unit("review_threshold", self.review_threshold)?;
        if self.review_threshold > self.match_threshold {
            return Err(format!(
                "match.review_threshold ({}) is above match.match_threshold ({}): the review band must lie below the match threshold",
                self.review_threshold, self.match_threshold
            ));
        }
        if !(self.cell_m.is_finite() && (10.0..=100_000.0).contains(&self.cell_m)) {
            return Err(format!(
                "match.cell_m is {}: it must be between 10 and 100000 metres",
                self.cell_m
            ));
        }
        if !(self.distance_zero_m.is_finite()
            && self.distance_zero_m > NEAR_M
            && self.distance_zero_m <= 1_000_000.0)
        {
            return Err(format!(
                "match.distance_zero_m is {}: it must be more than {NEAR_M} and at most 1000000 metres",
                self.distance_zero_m
            ));
        }
        if !(1..=BLOCK_CANDIDATES_LIMIT).contains(&self.block_candidates_max) {
            return Err(format!(
                "match.block_candidates_max is {}: it must be between 1 and {BLOCK_CANDIDATES_LIMIT}",
                self.block_candidates_max
            ));
        }
        if !(1..=COMMON_TOKEN_LIMIT).contains(&self.common_token_max) {
            return Err(format!(
                "match.common_token_max is {}: it must be between 1 and {COMMON_TOKEN_LIMIT}",
                self.common_token_max
            ));
        }
        if self.distinct_sources.len() > DISTINCT_SOURCES_MAX {
            return Err(format!(
                "match.distinct_sources lists {} sources: at most {DISTINCT_SOURCES_MAX}",
                self.distinct_sources.len()
            ));
        }
        if let Some(bad) = self
            .distinct_sources
            .iter()
            .find(|s| !crate::source::valid_source(s))
        {
            return Err(format!(
                "match.distinct_sources has {bad:?}: a source name is lowercase letters, digits and _ (at most {})",
                crate::source::SOURCE_NAME_CHARS_MAX
            ));
        }
        Ok(())
    }
}

/// A candidate as the matcher sees it: its ids and canonical fields, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct CandidateRef<'a> {
    pub candidate_id: &'a str,
    pub source: &'a str,
    pub external_id: &'a str,
    pub fields: &'a CandidateFields,
}

/// Where a candidate goes.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Nothing matched: the candidate founds an entity ([`entity_id_for`] its id).
    NewEntity,
    /// The candidate is the same place as this entity.
    Existing(String),
    /// A person must decide between these entities (best first) and a new one.
    Review(Vec<String>),
    /// Nothing matched and the candidate has nothing a later record could find it by (see
    /// "Founding" in the module docs): it may not found an entity. The caller rejects it; a
    /// later record of the same place that has such a thing will found the entity.
    NoMatchCannotFound,
}

/// A decision and the evidence behind it.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub outcome: Outcome,
    /// The best pair's score in [0, 1] (0 when nothing was compared).
    pub score: f64,
    /// The best pair's features (see `score.rs` for each and its weight), or
    /// `{"same_record": 1}`. Empty when nothing was compared.
    pub features: BTreeMap<String, f64>,
    /// The entity of the best pair, whatever the outcome.
    pub best_entity: Option<String>,
    /// The attached candidate of the best pair.
    pub best_candidate: Option<String>,
    /// Pairs scored for this decision (at most `block_candidates_max`).
    pub comparisons: usize,
}
