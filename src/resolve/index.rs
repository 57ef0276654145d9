//! The identity index: attached candidates in the matcher's compact form, the blocking maps
//! that find the few worth comparing, and the decision itself.

use std::sync::Mutex;

use trustfold_events::CandidateFields;

use super::keys::{
    self, cell_hash, cell_token_key, filed_keys, indexed_globally, indexed_in_cells,
    locality_token_key, lookup_rank, neighbour_cells, own_cell, record_key, BlockKey, BlockKind,
};
use super::score::{self, AttachedToken, PairFeatures, QueryToken, Side, Vocabulary, NO_ID};
use super::table::{BlockMap, IdMap, Lists, TokenPostings};
use super::vocab::{self, Postcode, TokenClass, Website};
use super::{CandidateRef, Decision, MatchConfig, Outcome, REVIEW_ENTITIES_MAX};

/// How strongly a block finds a candidate, in twentieths (integers, so that sums are exact
/// and the ranking cannot depend on the order in which lists were read). A candidate found
/// by several blocks sums their priorities; the strongest are compared first.
mod priority {
    /// Names the other's `(source, id)` or shares a cross-referenced id: near certain.
    pub const EXTERNAL_ID: u32 = 2000;
    /// The same phone number.
    pub const PHONE: u32 = 60;
    /// The same website host (whole URL on shared hosts).
    pub const WEBSITE: u32 = 40;
    /// The same full postcode.
    pub const POSTCODE: u32 = 30;
    /// The same most telling name words (the name key).
    pub const NAME_KEY: u32 = 50;
    /// A nearby cell and a name token: twice the token's weight (a distinctive word near
    /// by: 40; "club" near by: 8).
    pub const CELL_TOKEN_PER_WEIGHT: f32 = 40.0;
    /// A name token anywhere: the token's weight (distinctive: 20).
    pub const TOKEN_PER_WEIGHT: f32 = 20.0;
    /// Only a nearby cell: the weakest reason to compare (typos in every shared word).
    pub const CELL: u32 = 5;
    /// The same house number on the same street.
    pub const STREET: u32 = 50;
    /// A house number at most two from its own on the same street.
    pub const NEAR_STREET: u32 = 25;
    /// A name token within the same locality: one and a half times the token's weight
    /// (distinctive: 30), between a word near by and a word city-wide.
    pub const LOCALITY_TOKEN_PER_WEIGHT: f32 = 30.0;
}

/// A cell is read whole (every candidate in it, whatever its name) only while it holds at
/// most this many candidates. It finds names that share no exact word, only typos
/// ("Drumbrea" for "Drumbrae"): worth a few comparisons where places are sparse, not the
/// hundreds of a dense cell, where the (cell, token) blocks do the work.
pub const CELL_ALONE_MAX: usize = 8;

/// Every token seen in an attached name, by dense id.
#[derive(Default)]
struct Vocab {
    /// By a 128-bit hash of the text: a lookup never reads the text itself.
    ids: IdMap,
    texts: Vec<Box<str>>,
}

impl Vocab {
    /// The id of the token with this key ([`keys::token_key`]), or [`NO_ID`].
    fn get(&self, key: (u64, u64)) -> u32 {
        self.ids.get(key).unwrap_or(NO_ID)
    }

    fn intern(&mut self, key: (u64, u64), text: &str) -> u32 {
        let (id, inserted) = self.ids.insert(key, self.texts.len() as u32);
        if inserted {
            self.texts.push(text.into());
        }
        id
    }
}

impl Vocabulary for Vocab {
    fn text(&self, id: u32) -> &str {
        &self.texts[id as usize]
    }
}

/// A candidate's fields in matching form.
pub(crate) struct Prepared {
    pub(crate) name: Vec<QueryToken>,
    pub(crate) name_weight: f32,
    /// The class of the name's most telling tokens: the ones looked up in the blocks.
    pub(crate) lookup_class: Option<TokenClass>,
    /// Hash of the name's most telling tokens, sorted, each as the word its plural or
    /// possessive is of: "Powerleague Edinburgh Portobello" and "Portobello Powerleague"
    /// share it, and so do "Bower's Butchers" and "George Bower".
    pub(crate) name_key: Option<u64>,
    /// The (street, house number) blocks of its address (`vocab::street_keys`).
    pub(crate) street_keys: Vec<u64>,
    /// The blocks of the house numbers near its own (`vocab::near_street_keys`): read only.
    pub(crate) near_street_keys: Vec<u64>,
    /// The key of its locality as a whole (`vocab::locality_key`).
    pub(crate) locality_key: Option<u64>,
    pub(crate) kinds: u32,
    /// 32-bit hash of the entity class (never 0).
    pub(crate) class: Option<u32>,
    pub(crate) coord: Option<(f64, f64)>,
    pub(crate) phone: Option<u64>,
    pub(crate) website: Option<Website>,
    pub(crate) postcode: Option<Postcode>,
    pub(crate) address: Vec<u32>,
    /// The name run together (`vocab::compact_name`), 0 without a name.
    pub(crate) compact: u32,
    /// The street and its house numbers (`vocab::street_form`), empty without one.
    pub(crate) street: Vec<u32>,
    /// The locality's word hashes (`vocab::locality_form`), empty without one.
    pub(crate) locality: Vec<u32>,
    /// The record's own key, then those of the records it names.
    pub(crate) ids: Vec<(u64, u64)>,
    /// `ids` as pairs of u32 (low, high), the form the arena and the scorer use.
    pub(crate) id_words: Vec<u32>,
    /// Its source's key ([`source_hash`]).
    pub(crate) source: u32,
}

/// What [`Prepared`] is derived from, past the parsing of the fields: the form the
/// identity store keeps of each attached candidate (`form.rs`), so that loading one reads
/// neither the log nor the normalisation tables.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Parts {
    /// The name's tokens (text, class), in order.
    pub(crate) tokens: Vec<(String, TokenClass)>,
    pub(crate) kinds: u32,
    pub(crate) class: Option<u32>,
    pub(crate) coord: Option<(f64, f64)>,
    pub(crate) phone: Option<u64>,
    pub(crate) website: Option<Website>,
    pub(crate) postcode: Option<Postcode>,
    pub(crate) address: Vec<u32>,
    pub(crate) compact: u32,
    pub(crate) street: Vec<u32>,
    pub(crate) locality: Vec<u32>,
    pub(crate) ids: Vec<(u64, u64)>,
    /// Its source's key ([`source_hash`]).
    pub(crate) source: u32,
}

/// The 32-bit key of a source name (never 0): "osm" and "openstreetmap" are one source, as
/// in record keys.
pub(crate) fn source_hash(source: &str) -> u32 {
    ((vocab::hash_str(&vocab::source_key(source)) >> 32) as u32).max(1)
}

impl Parts {
    /// Reads a candidate's fields.
    pub(crate) fn of(fields: &CandidateFields, source: &str, external_id: &str) -> Parts {
        let (mut tokens, name_kinds, compact) = fields
            .name
            .as_deref()
            .map(vocab::name_form)
            .unwrap_or_default();
        let street_address = vocab::street_of(fields.address_lines.iter());
        let locality_key = vocab::locality_of(fields.locality.as_deref());
        vocab::demote_place_words(
            &mut tokens,
            street_address.as_ref(),
            locality_key.as_deref(),
        );
        let kinds = name_kinds
            | vocab::category_kinds(fields.categories.iter().chain(fields.sports.iter()));
        let class = fields
            .entity_class
            .as_deref()
            .map(vocab::snake)
            .filter(|c| !c.is_empty())
            .map(|c| ((vocab::hash_str(&c) >> 32) as u32).max(1));
        let coord = match (fields.lat, fields.lon) {
            (Some(lat), Some(lon))
                if lat.is_finite()
                    && lon.is_finite()
                    && lat.abs() <= 90.0
                    && lon.abs() <= 180.0
                    // (0, 0) is a missing location written as numbers, not a place.
                    && !(lat == 0.0 && lon == 0.0) =>
            {
                Some((lat, lon))
            }
            _ => None,
        };
        let address = vocab::address_token_hashes(fields.address_lines.iter());
        let street = vocab::street_form_of(street_address.as_ref());
        let locality = vocab::locality_form_of(locality_key.as_deref());
        // The candidate's own record first (always, even with an empty id: `ids[0]` is its
        // own), then the records it names; each as its `record_key`.
        let mut ids = vec![record_key(source, external_id)];
        let mut add_id = |source: &str, id: &str| {
            let key = record_key(source, id);
            if !id.trim().is_empty() && ids.len() < vocab::LIST_ITEMS_MAX * 2 && !ids.contains(&key)
            {
                ids.push(key);
            }
        };
        for (other, values) in fields.external_ids.iter().take(vocab::LIST_ITEMS_MAX) {
            for v in values.iter().take(vocab::LIST_ITEMS_MAX) {
                add_id(other, v);
            }
        }
        Parts {
            tokens: tokens.into_iter().map(|t| (t.text, t.class)).collect(),
            kinds,
            class,
            coord,
            phone: fields.phone.as_deref().and_then(vocab::phone_key),
            website: fields.website.as_deref().and_then(vocab::website_key),
            postcode: fields.postcode.as_deref().and_then(vocab::postcode_key),
            address,
            compact,
            street,
            locality,
            ids,
            source: source_hash(source),
        }
    }
}

impl Prepared {
    /// Reads `fields`; `token_id` gives a token's vocabulary id (or [`NO_ID`]) from its
    /// [`keys::token_key`] and text.
    pub(crate) fn new(
        fields: &CandidateFields,
        source: &str,
        external_id: &str,
        token_id: impl FnMut((u64, u64), &str) -> u32,
    ) -> Self {
        Prepared::from_parts(Parts::of(fields, source, external_id), token_id)
    }

    /// The matching form of `parts` (see [`Prepared::new`]).
    pub(crate) fn from_parts(
        parts: Parts,
        mut token_id: impl FnMut((u64, u64), &str) -> u32,
    ) -> Self {
        let name: Vec<QueryToken> = parts
            .tokens
            .into_iter()
            .map(|(text, class)| {
                let key = keys::token_key(&text);
                QueryToken {
                    id: token_id(key, &text),
                    hash: key.0,
                    weight: class.weight(),
                    class,
                    text,
                }
            })
            .collect();
        let name_weight = name.iter().map(|t| t.weight).sum();
        let lookup_class = name.iter().map(|t| t.class).min_by_key(|c| lookup_rank(*c));
        let name_key = lookup_class.map(|class| {
            // A plural or possessive keys as its word: "Bower's Butchers" and "George
            // Bower" share the key "bower", as the scorer reads them.
            let mut words: Vec<&str> = name
                .iter()
                .filter(|t| t.class == class)
                .map(|t| vocab::plural_stem(&t.text))
                .collect();
            words.sort_unstable();
            vocab::hash_parts(0, words)
        });
        Prepared {
            street_keys: vocab::street_keys(&parts.street),
            near_street_keys: vocab::near_street_keys(&parts.street),
            locality_key: vocab::locality_key(&parts.locality),
            name,
            name_weight,
            lookup_class,
            name_key,
            kinds: parts.kinds,
            class: parts.class,
            coord: parts.coord,
            phone: parts.phone,
            website: parts.website,
            postcode: parts.postcode,
            address: parts.address,
            compact: parts.compact,
            street: parts.street,
            locality: parts.locality,
            id_words: parts
                .ids
                .iter()
                .flat_map(|&(id, _)| [id as u32, (id >> 32) as u32])
                .collect(),
            ids: parts.ids,
            source: parts.source,
        }
    }

    /// The parts this form was derived from.
    pub(crate) fn parts(&self) -> Parts {
        Parts {
            tokens: self
                .name
                .iter()
                .map(|t| (t.text.clone(), t.class))
                .collect(),
            kinds: self.kinds,
            class: self.class,
            coord: self.coord,
            phone: self.phone,
            website: self.website,
            postcode: self.postcode,
            address: self.address.clone(),
            compact: self.compact,
            street: self.street.clone(),
            locality: self.locality.clone(),
            ids: self.ids.clone(),
            source: self.source,
        }
    }

    /// Whether nothing but its name (and at most a locality or a website) says where this
    /// record is: no coordinates, postcode, phone, street or address. Such a record cannot
    /// tell apart two places that its name matches equally well (a chain's branches).
    fn placed_by_name_only(&self) -> bool {
        self.coord.is_none()
            && self.postcode.is_none()
            && self.phone.is_none()
            && self.street.is_empty()
            && self.address.is_empty()
    }

    /// Whether a place could be found again by this record alone, so that it may found
    /// an entity (see the module docs of `resolve`): coordinates, a postcode, a valid phone
    /// number, a house number on a named street in a named locality, or a street or site
    /// without a number in a named locality under a name with a distinctive word (found
    /// again by its `LocalityToken` block: "Mortonhall Tennis Club, Hermitage Drive,
    /// Edinburgh").
    pub(crate) fn can_found(&self) -> bool {
        let located = !self.locality.is_empty();
        self.coord.is_some()
            || self.postcode.is_some()
            || self.phone.is_some()
            || (located && self.street.len() > 1)
            || (located
                && (!self.street.is_empty() || !self.address.is_empty())
                && self.name.iter().any(|t| t.class == TokenClass::Distinctive))
    }

    fn side(&self) -> Side<'_> {
        Side {
            name_weight: self.name_weight,
            kinds: self.kinds,
            class: self.class,
            coord: self.coord,
            phone: self.phone,
            website: self.website,
            postcode: self.postcode,
            address: &self.address,
            compact: self.compact,
            street: &self.street,
            locality: &self.locality,
            ids: &self.id_words,
        }
    }
}

/// Strings kept end to end in one buffer, by index.
#[derive(Default)]
struct TextArena {
    text: String,
    ends: Vec<usize>,
}

impl TextArena {
    fn push(&mut self, s: &str) {
        self.text.push_str(s);
        self.ends.push(self.text.len());
    }

    fn get(&self, i: u32) -> &str {
        let i = i as usize;
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }
}

/// An attached candidate, in two adjacent cache lines: everything a comparison reads,
/// with up to [`INLINE_NAME_TOKENS`] name tokens inline (longer names, and the address
/// token hashes and ids, lie in the index's arenas).
///
/// Coordinates are kept as f32 (under 1 m of rounding anywhere on Earth, a few centimetres
/// in Edinburgh); hashes of websites and entity classes as 32 bits (a false "same" needs a
/// 1 in 4 billion collision between the two records compared).
#[repr(align(64))]
struct Stored {
    inline_name: [AttachedToken; INLINE_NAME_TOKENS],
    lat: f32,
    lon: f32,
    /// 0 when absent (a phone key has at least 7 digits, so is never 0).
    phone: u64,
    /// 0 when absent (a packed postcode has at least 4 non-zero bytes).
    postcode: u64,
    web_host: u32,
    web_full: u32,
    entity: u32,
    kinds: u32,
    name_weight: f32,
    /// 0 when absent.
    class: u32,
    /// Where the name is in `names` when it has more than [`INLINE_NAME_TOKENS`] tokens.
    names_start: u32,
    arena_start: u32,
    name_len: u8,
    address_len: u8,
    ids_len: u8,
    /// Words of the street form (`Parts::street`) in the arena, after the ids.
    street_len: u8,
    /// Words of the locality form, after the street.
    locality_len: u8,
    postcode_outward_len: u8,
    postcode_len: u8,
    /// [`WEB_PRESENT`], [`WEB_PATH_EMPTY`], [`WEB_SHARED_HOST`].
    web_flags: u8,
}

/// Name tokens kept in [`Stored`] itself: nearly every name has at most this many.
const INLINE_NAME_TOKENS: usize = 8;

// Two cache lines exactly: the layout above is deliberate.
const _: () = assert!(std::mem::size_of::<Stored>() == 128);

const WEB_PRESENT: u8 = 1;
const WEB_PATH_EMPTY: u8 = 2;
const WEB_SHARED_HOST: u8 = 4;

impl Stored {
    fn coord(&self) -> Option<(f64, f64)> {
        (!self.lat.is_nan()).then(|| (f64::from(self.lat), f64::from(self.lon)))
    }

    fn website(&self) -> Option<Website> {
        (self.web_flags & WEB_PRESENT != 0).then_some(Website {
            host: self.web_host,
            full: self.web_full,
            path_empty: self.web_flags & WEB_PATH_EMPTY != 0,
            shared_host: self.web_flags & WEB_SHARED_HOST != 0,
        })
    }

    fn postcode(&self) -> Option<Postcode> {
        (self.postcode != 0).then_some(Postcode {
            full: self.postcode,
            outward_len: self.postcode_outward_len,
            len: self.postcode_len,
        })
    }

    fn name<'a>(&'a self, names: &'a [AttachedToken]) -> &'a [AttachedToken] {
        let n = usize::from(self.name_len);
        if n <= INLINE_NAME_TOKENS {
            &self.inline_name[..n]
        } else {
            let s = self.names_start as usize;
            &names[s..s + n]
        }
    }

    fn address<'a>(&self, arena: &'a [u32]) -> &'a [u32] {
        let s = self.arena_start as usize;
        &arena[s..s + usize::from(self.address_len)]
    }

    fn ids<'a>(&self, arena: &'a [u32]) -> &'a [u32] {
        let s = self.arena_start as usize + usize::from(self.address_len);
        &arena[s..s + 2 * usize::from(self.ids_len)]
    }

    /// The compact name's hash: one word after the ids, always there.
    fn compact(&self, arena: &[u32]) -> u32 {
        arena[self.arena_start as usize
            + usize::from(self.address_len)
            + 2 * usize::from(self.ids_len)]
    }

    fn street<'a>(&self, arena: &'a [u32]) -> &'a [u32] {
        let s = self.arena_start as usize
            + usize::from(self.address_len)
            + 2 * usize::from(self.ids_len)
            + 1;
        &arena[s..s + usize::from(self.street_len)]
    }

    /// Where the locality starts in the arena (after the street).
    fn locality_at(&self) -> usize {
        self.arena_start as usize
            + usize::from(self.address_len)
            + 2 * usize::from(self.ids_len)
            + 1
            + usize::from(self.street_len)
    }

    fn locality<'a>(&self, arena: &'a [u32]) -> &'a [u32] {
        let s = self.locality_at();
        &arena[s..s + usize::from(self.locality_len)]
    }

    /// Its source's key: one word after the locality, always there.
    fn source(&self, arena: &[u32]) -> u32 {
        arena[self.locality_at() + usize::from(self.locality_len)]
    }
}

/// The candidates attached to entities, and the maps that find the ones worth comparing.
/// See the module docs of `resolve` for the rules.
pub struct IdentityIndex {
    config: MatchConfig,
    /// [`MatchConfig::distinct_sources`], as [`source_hash`] keys.
    distinct_sources: Vec<u32>,
    vocab: Vocab,
    candidates: Vec<Stored>,
    /// Every attached candidate's id, end to end (one allocation, not one per candidate).
    candidate_ids: TextArena,
    /// Hash of each candidate id: ranks equally strong block hits independently of the
    /// order candidates were attached in.
    order_keys: Vec<u64>,
    /// Name tokens of every attached candidate (see [`Stored`]).
    names: Vec<AttachedToken>,
    /// Address token hashes and ids (pairs of u32) of every attached candidate.
    arena: Vec<u32>,
    /// By [`id_key`] of the candidate id.
    by_candidate_id: IdMap,
    /// By a 128-bit hash of (source, external id): two independent 64-bit hashes.
    by_record: IdMap,
    /// By [`id_key`] of the entity id.
    entity_index: IdMap,
    entity_ids: Vec<Box<str>>,
    entity_sizes: Vec<u32>,
    n_entities: usize,
    /// Blocks. Each list holds candidate indices in attach order.
    block_cell: BlockMap,
    /// By [`cell_token_key`].
    block_cell_token: BlockMap,
    /// By token id: every candidate with the token (but generic ones), with its cell.
    block_token: Vec<TokenPostings>,
    block_name_key: BlockMap,
    block_name_key_no_coord: BlockMap,
    block_phone: BlockMap,
    block_website: BlockMap,
    block_postcode: BlockMap,
    block_postcode_no_coord: BlockMap,
    block_id: BlockMap,
    block_street: BlockMap,
    block_street_no_coord: BlockMap,
    block_locality_token: BlockMap,
    lists: Lists,
    /// Attached candidates that name another record in `external_ids`.
    n_cross_references: usize,
    /// Attached candidates with coordinates.
    n_with_coordinates: usize,
    /// Distinct cells holding attached candidates that `block_cell` does not hold: 0 but
    /// in a working index, where the store counted them (see [`Self::preset_counters`]).
    cells_elsewhere: usize,
    /// In a working index, in debug builds: the blocks preloaded from the store, the only
    /// ones its decisions may read (see [`Self::note_read`]).
    #[cfg(debug_assertions)]
    preset: Option<Preset>,
    /// The last candidate `decide` read, in matching form, under its [`fingerprint`]:
    /// `attach` right after `decide` (how ingestion calls them) reuses it rather than
    /// reading the fields a second time. Only a cache: a miss reads the fields.
    last_prepared: Mutex<Option<((u64, u64), Prepared)>>,
}

impl IdentityIndex {
    /// An empty index. The configuration is used as given: call [`MatchConfig::validate`]
    /// where it is read (an invalid one gives odd decisions, never a panic).
    pub fn new(config: MatchConfig) -> Self {
        IdentityIndex {
            distinct_sources: config
                .distinct_sources
                .iter()
                .map(|s| source_hash(s))
                .collect(),
            config,
            vocab: Vocab::default(),
            candidates: Vec::new(),
            candidate_ids: TextArena::default(),
            order_keys: Vec::new(),
            names: Vec::new(),
            arena: Vec::new(),
            by_candidate_id: IdMap::default(),
            by_record: IdMap::default(),
            entity_index: IdMap::default(),
            entity_ids: Vec::new(),
            entity_sizes: Vec::new(),
            n_entities: 0,
            block_cell: BlockMap::default(),
            block_cell_token: BlockMap::default(),
            block_token: Vec::new(),
            block_name_key: BlockMap::default(),
            block_name_key_no_coord: BlockMap::default(),
            block_phone: BlockMap::default(),
            block_website: BlockMap::default(),
            block_postcode: BlockMap::default(),
            block_postcode_no_coord: BlockMap::default(),
            block_id: BlockMap::default(),
            block_street: BlockMap::default(),
            block_street_no_coord: BlockMap::default(),
            block_locality_token: BlockMap::default(),
            lists: Lists::default(),
            n_cross_references: 0,
            n_with_coordinates: 0,
            cells_elsewhere: 0,
            #[cfg(debug_assertions)]
            preset: None,
            last_prepared: Mutex::new(None),
        }
    }

    /// An empty *working* index: one that will hold only the attached candidates a few
    /// decisions can reach, with exactly the blocks those decisions read, preloaded from
    /// the persisted index (`store/`). Build it with [`Self::add_unfiled`] for each
    /// reachable candidate in attach order, then the `preset_*` calls for each block and
    /// the counters; then `decide` and `attach` as on a full index.
    ///
    /// Its decisions are those of the full index, for the candidates whose blocks were
    /// preloaded: each block such a decision reads holds the same candidates in the same
    /// order, with the same count, and its other blocks are never read (debug builds check
    /// that). Indices differ from the full index's, but only their order matters (ties and
    /// the union are ordered by index), and that order is kept.
    pub(crate) fn working(config: MatchConfig) -> Self {
        #[allow(unused_mut)]
        let mut index = IdentityIndex::new(config);
        #[cfg(debug_assertions)]
        {
            index.preset = Some(Preset::default());
        }
        index
    }

    /// Adds an attached candidate to a working index, from its stored matching form,
    /// without filing it under any block; returns its index here and the hash of its cell
    /// (0 without coordinates), which its entries in token lists carry.
    pub(crate) fn add_unfiled(
        &mut self,
        candidate_id: &str,
        entity_id: &str,
        parts: Parts,
    ) -> (u32, u32) {
        let cell_m = self.config.cell_m;
        let cell = parts
            .coord
            .map_or(0, |(lat, lon)| cell_hash(own_cell(lat, lon, cell_m)));
        let (idx, entity) = self.slot(candidate_id, entity_id);
        if let Some(entity) = entity {
            let vocab = &mut self.vocab;
            let p = Prepared::from_parts(parts, |key, text| vocab.intern(key, text));
            self.push_stored(candidate_id, entity, &p);
        }
        (idx, cell)
    }

    /// Sets a block of a working index (any kind but `Record` and `Token`): its members,
    /// in attach order, or "more than the kind's read limit" (`overflowed`).
    pub(crate) fn preset_block(&mut self, key: BlockKey, members: &[u32], overflowed: bool) {
        self.note_preset(key, None);
        let max = key.kind.read_max(self.config.common_token_max);
        if let Some((map, lists)) = self.block_map(key.kind) {
            if overflowed {
                map.overflow(key.key, max, lists);
            } else {
                for &m in members {
                    map.push(key.key, m, max, lists);
                }
            }
        }
    }

    /// Sets the city-wide list of a name token in a working index: its members in attach
    /// order with their cells' hashes, or `overflowed`. A complete list also gives every
    /// (cell, token) block of the token (its members with that cell), so those are set
    /// too; an overflowed token's (cell, token) blocks must be preset one by one.
    ///
    /// A token no attached candidate is filed under stays out of the vocabulary, as in the
    /// full index: a decision without coordinates counts the name words it looks up, and
    /// an unknown word is not looked up. (Every distinctive or brand word of an attached
    /// name is filed, so for the words counted there, "filed" and "known" agree.)
    pub(crate) fn preset_token(&mut self, text: &str, members: &[(u32, u32)], overflowed: bool) {
        let key = keys::token_key(text);
        let block = BlockKey::new(BlockKind::Token, key.0);
        if !overflowed && members.is_empty() {
            self.note_preset(block, Some(key.0));
            return;
        }
        let id = self.vocab.intern(key, text) as usize;
        let n_tokens = self.vocab.texts.len();
        self.block_token
            .resize_with(n_tokens, TokenPostings::default);
        let max = self.config.common_token_max;
        if overflowed {
            self.note_preset(block, None);
            self.block_token[id].overflow(max, &mut self.lists);
            return;
        }
        self.note_preset(block, Some(key.0));
        for &(m, cell) in members {
            self.block_token[id].push(m, cell, max, &mut self.lists);
            if cell != 0 {
                self.block_cell_token
                    .push(cell_token_key(cell, key.0), m, max, &mut self.lists);
            }
        }
    }

    /// Sets the first attached candidate of a record in a working index (`None`: none).
    pub(crate) fn preset_record(&mut self, key: (u64, u64), first: Option<u32>) {
        self.note_preset(BlockKey::new(BlockKind::Record, key.0), None);
        if let Some(idx) = first {
            self.by_record.insert(key, idx);
        }
    }

    /// Sets a working index's counters to the store's, once every block is preset:
    /// attached candidates with coordinates, those naming other records, and the distinct
    /// cells holding candidates (of which `block_cell` holds the preset ones).
    pub(crate) fn preset_counters(
        &mut self,
        n_with_coordinates: usize,
        n_cross_references: usize,
        n_cells: usize,
    ) {
        self.n_with_coordinates = n_with_coordinates;
        self.n_cross_references = n_cross_references;
        self.cells_elsewhere = n_cells.saturating_sub(self.block_cell.len());
    }

    /// Records, in a working index of a debug build, that a block was preset (and, for a
    /// complete token list, that all its (cell, token) blocks were).
    #[allow(unused_variables)]
    fn note_preset(&mut self, key: BlockKey, complete_token: Option<u64>) {
        #[cfg(debug_assertions)]
        if let Some(preset) = &mut self.preset {
            preset.keys.insert(key);
            if let Some(t) = complete_token {
                preset.complete_tokens.insert(t);
            }
        }
    }

    /// Checks, in a working index of a debug build, that a block a decision reads was
    /// preset: a read `keys::lookups` does not list would read a partial block and could
    /// decide differently from the full index. `token` is the token of a (cell, token)
    /// block, whose blocks are all known when its list was.
    #[allow(unused_variables)]
    fn note_read(&self, key: BlockKey, token: Option<u64>) {
        #[cfg(debug_assertions)]
        if let Some(preset) = &self.preset {
            let known = preset.keys.contains(&key)
                || token.is_some_and(|t| preset.complete_tokens.contains(&t));
            assert!(
                known,
                "a working identity index read a block it did not preload: {key:?}; \
                 keys::lookups must list every block `block` reads"
            );
        }
    }

    /// Whether `source` is one of [`MatchConfig::distinct_sources`], as the index reads
    /// source names ("osm" is "openstreetmap").
    pub(crate) fn is_distinct_source(&self, source: &str) -> bool {
        self.distinct_sources.contains(&source_hash(source))
    }

    /// The configuration decisions use.
    pub fn config(&self) -> &MatchConfig {
        &self.config
    }

    /// Attaches a candidate to an entity (replaying `MergeDecided`, or after a decision).
    ///
    /// Idempotent: attaching an attached candidate to its entity again changes nothing.
    /// Attaching it to a *different* entity moves it there (a reviewer's answer overrides
    /// the matcher's); its blocking keys stay as they were.
    pub fn attach(&mut self, c: &CandidateRef<'_>, entity_id: &str) {
        if let (idx, Some(p)) = self.add(c, entity_id) {
            self.file(idx, &p, has_own_id(c));
        }
    }

    /// Adds a candidate's record and entity, without filing it under any block, and
    /// returns its index and matching form (to be filed); or moves an attached candidate
    /// to `entity_id`, and returns its index alone.
    fn add(&mut self, c: &CandidateRef<'_>, entity_id: &str) -> (u32, Option<Prepared>) {
        let (idx, entity) = self.slot(c.candidate_id, entity_id);
        let Some(entity) = entity else {
            return (idx, None);
        };
        let fp = fingerprint(c);
        let cached = match self.last_prepared.get_mut() {
            Ok(slot) => slot.take().filter(|(key, _)| *key == fp).map(|(_, p)| p),
            Err(_) => None,
        };
        let vocab = &mut self.vocab;
        let p = match cached {
            Some(mut p) => {
                // Tokens new to the vocabulary when decided get their ids now.
                for t in p.name.iter_mut().filter(|t| t.id == NO_ID) {
                    t.id = vocab.intern(keys::token_key(&t.text), &t.text);
                }
                p
            }
            None => Prepared::new(c.fields, c.source, c.external_id, |key, text| {
                vocab.intern(key, text)
            }),
        };
        self.push_stored(c.candidate_id, entity, &p);
        (idx, Some(p))
    }

    /// The index of a candidate: a new one joining `entity_id` (with that entity's slot,
    /// for [`Self::push_stored`]), or the one it has, moved to `entity_id` if it is
    /// elsewhere (no slot).
    fn slot(&mut self, candidate_id: &str, entity_id: &str) -> (u32, Option<u32>) {
        let entity = self.entity_slot(entity_id);
        let idx = self.candidates.len() as u32;
        let (i, new) = self.by_candidate_id.insert(id_key(candidate_id), idx);
        if !new {
            let old = self.candidates[i as usize].entity;
            if old != entity {
                self.candidates[i as usize].entity = entity;
                self.leave(old);
                self.join(entity);
            }
            return (i, None);
        }
        self.join(entity);
        (i, Some(entity))
    }

    /// Stores a new candidate's record (at the next index, which [`Self::slot`] gave it).
    fn push_stored(&mut self, candidate_id: &str, entity: u32, p: &Prepared) {
        let n_tokens = self.vocab.texts.len();
        self.block_token
            .resize_with(n_tokens, TokenPostings::default);

        let tokens = p.name.iter().map(|t| AttachedToken {
            id: t.id,
            class: t.class,
            len: t.text.len().min(255) as u8,
            first: t.text.as_bytes().first().copied().unwrap_or(0),
            last: t.text.as_bytes().last().copied().unwrap_or(0),
        });
        let names_start = self.names.len() as u32;
        let mut inline_name = [AttachedToken::default(); INLINE_NAME_TOKENS];
        if p.name.len() <= INLINE_NAME_TOKENS {
            for (slot, t) in inline_name.iter_mut().zip(tokens) {
                *slot = t;
            }
        } else {
            self.names.extend(tokens);
        }
        let arena_start = self.arena.len() as u32;
        // Each list is bounded far below 255 (`LIST_ITEMS_MAX`, `HOUSE_NUMBERS_MAX`,
        // `LOCALITY_WORDS_MAX`), so the u8 lengths below hold them.
        self.arena.extend_from_slice(&p.address);
        self.arena.extend_from_slice(&p.id_words);
        self.arena.push(p.compact);
        self.arena.extend_from_slice(&p.street);
        self.arena.extend_from_slice(&p.locality);
        self.arena.push(p.source);

        let (lat, lon) = p
            .coord
            .map_or((f32::NAN, f32::NAN), |(lat, lon)| (lat as f32, lon as f32));
        let web = p.website;
        let pc = p.postcode;
        self.candidates.push(Stored {
            inline_name,
            lat,
            lon,
            phone: p.phone.unwrap_or(0),
            postcode: pc.map_or(0, |pc| pc.full),
            web_host: web.map_or(0, |w| w.host),
            web_full: web.map_or(0, |w| w.full),
            entity,
            kinds: p.kinds,
            name_weight: p.name_weight,
            class: p.class.unwrap_or(0),
            names_start,
            arena_start,
            name_len: p.name.len() as u8,
            address_len: p.address.len() as u8,
            ids_len: p.ids.len() as u8,
            street_len: p.street.len() as u8,
            locality_len: p.locality.len() as u8,
            postcode_outward_len: pc.map_or(0, |pc| pc.outward_len),
            postcode_len: pc.map_or(0, |pc| pc.len),
            web_flags: web.map_or(0, |w| {
                WEB_PRESENT
                    | if w.path_empty { WEB_PATH_EMPTY } else { 0 }
                    | if w.shared_host { WEB_SHARED_HOST } else { 0 }
            }),
        });
        self.order_keys.push(vocab::hash_str(candidate_id));
        self.candidate_ids.push(candidate_id);
    }

    /// Files candidate `idx` under every block of [`filed_keys`], and counts it.
    ///
    /// The (cell, token) blocks are kept for every token from the first member on, though
    /// a decision reads them only once the token's city-wide list has stopped being rare
    /// (while it is rare, that list is scanned instead). Filling them only at that moment
    /// would give the same blocks when they are read (every member with a cell, in attach
    /// order, counted the same way), so decisions do not depend on which is done; keeping
    /// them from the start is what lets a block be stored and read back on its own
    /// (`store/`), at the price of more entries for rare tokens.
    fn file(&mut self, idx: u32, p: &Prepared, own_id: bool) {
        let max = self.config.common_token_max;
        let cell_m = self.config.cell_m;
        let cell = p.coord.map(|(lat, lon)| own_cell(lat, lon, cell_m));
        let own_cell_hash = cell.map_or(0, cell_hash);
        for key in filed_keys(p, own_id, cell_m) {
            match key.kind {
                BlockKind::Record => {
                    // `p.ids[0]` is the record's full key (the block key is its first half).
                    self.by_record.insert(p.ids[0], idx);
                }
                BlockKind::Token => {
                    if let Some(t) = p.name.iter().find(|t| t.hash == key.key) {
                        self.block_token[t.id as usize].push(
                            idx,
                            own_cell_hash,
                            max,
                            &mut self.lists,
                        );
                    }
                }
                kind => {
                    if let Some((map, lists)) = self.block_map(kind) {
                        map.push(key.key, idx, kind.read_max(max), lists);
                    }
                }
            }
        }
        if cell.is_some() {
            self.n_with_coordinates += 1;
        }
        if p.ids.len() > 1 {
            self.n_cross_references += 1;
        }
    }

    /// The map of a kind of block kept as a [`BlockMap`], with the lists it spills into
    /// (`None` for the two kinds kept otherwise: `by_record` and `block_token`).
    fn block_map(&mut self, kind: BlockKind) -> Option<(&mut BlockMap, &mut Lists)> {
        let map = match kind {
            BlockKind::Id => &mut self.block_id,
            BlockKind::Phone => &mut self.block_phone,
            BlockKind::Website => &mut self.block_website,
            BlockKind::Postcode => &mut self.block_postcode,
            BlockKind::PostcodeNoCoord => &mut self.block_postcode_no_coord,
            BlockKind::NameKey => &mut self.block_name_key,
            BlockKind::NameKeyNoCoord => &mut self.block_name_key_no_coord,
            BlockKind::CellToken => &mut self.block_cell_token,
            BlockKind::Cell => &mut self.block_cell,
            BlockKind::Street => &mut self.block_street,
            BlockKind::StreetNoCoord => &mut self.block_street_no_coord,
            BlockKind::LocalityToken => &mut self.block_locality_token,
            BlockKind::Record | BlockKind::Token => return None,
        };
        Some((map, &mut self.lists))
    }

    /// [`Self::block_map`] for reading.
    fn block_ref(&self, kind: BlockKind) -> Option<&BlockMap> {
        Some(match kind {
            BlockKind::Id => &self.block_id,
            BlockKind::Phone => &self.block_phone,
            BlockKind::Website => &self.block_website,
            BlockKind::Postcode => &self.block_postcode,
            BlockKind::PostcodeNoCoord => &self.block_postcode_no_coord,
            BlockKind::NameKey => &self.block_name_key,
            BlockKind::NameKeyNoCoord => &self.block_name_key_no_coord,
            BlockKind::CellToken => &self.block_cell_token,
            BlockKind::Cell => &self.block_cell,
            BlockKind::Street => &self.block_street,
            BlockKind::StreetNoCoord => &self.block_street_no_coord,
            BlockKind::LocalityToken => &self.block_locality_token,
            BlockKind::Record | BlockKind::Token => return None,
        })
    }

    /// The members of a block (`None` when none, or too many to read): every read of a
    /// [`BlockMap`] by a decision goes through here, so that a working index can check it
    /// was preloaded.
    fn read_block(&self, kind: BlockKind, key: u64) -> Option<&[u32]> {
        self.note_read(BlockKey::new(kind, key), None);
        let max = kind.read_max(self.config.common_token_max);
        self.block_ref(kind)?.get(key, max, &self.lists)
    }

    /// The entity a candidate is attached to.
    pub fn entity_of(&self, candidate_id: &str) -> Option<&str> {
        let i = self.by_candidate_id.get(id_key(candidate_id))?;
        Some(&self.entity_ids[self.candidates[i as usize].entity as usize])
    }

    /// Entities with at least one attached candidate.
    pub fn n_entities(&self) -> usize {
        self.n_entities
    }

    /// Attached candidates.
    pub fn n_candidates(&self) -> usize {
        self.candidates.len()
    }

    /// Decides a candidate against the attached candidates. Does not attach: the index is
    /// unchanged but for a one-candidate cache of the candidate's matching form, which
    /// `attach` of the same candidate (same ids and fields) uses instead of reading the
    /// fields again.
    ///
    /// For a source of [`MatchConfig::distinct_sources`] (its records are each one
    /// establishment), the entities holding another record of that source with the same
    /// name (run together: `vocab::compact_name`) are left out: neither joined, nor offered
    /// for review, nor counted as compared. The same record is still the same record.
    pub fn decide(&self, c: &CandidateRef<'_>) -> Decision {
        // The same record (candidate ids are derived from it, so the same id too). A record
        // without an id at its source is never "the same record" as another.
        let same = if has_own_id(c) {
            self.same_record(record_key(c.source, c.external_id))
        } else {
            None
        };
        if let Some(i) = same {
            let entity = self.entity_ids[self.candidates[i as usize].entity as usize].to_string();
            return Decision {
                outcome: Outcome::Existing(entity.clone()),
                score: 1.0,
                features: [("same_record".to_owned(), 1.0)].into_iter().collect(),
                best_entity: Some(entity),
                best_candidate: Some(self.candidate_ids.get(i).to_string()),
                comparisons: 0,
            };
        }

        let q = Prepared::new(c.fields, c.source, c.external_id, |key, _| {
            self.vocab.get(key)
        });
        let can_found = q.can_found();
        let mut compared = if q.name_weight > 0.0 {
            self.block(&q)
        } else {
            Vec::new()
        };
        if q.compact != 0 && self.distinct_sources.contains(&q.source) {
            let arena = &self.arena;
            let excluded: Vec<u32> = compared
                .iter()
                .map(|&i| &self.candidates[i as usize])
                .filter(|s| s.source(arena) == q.source && s.compact(arena) == q.compact)
                .map(|s| s.entity)
                .collect();
            if !excluded.is_empty() {
                compared.retain(|&i| !excluded.contains(&self.candidates[i as usize].entity));
            }
        }
        let q_side = q.side();

        // Read every compared candidate's first line before scoring any: the loads are
        // independent, so the memory system serves them together rather than one per
        // comparison (at a million candidates each is a trip to memory).
        let warm = compared
            .iter()
            .fold(0u32, |acc, &i| acc ^ self.candidates[i as usize].entity);
        std::hint::black_box(warm);

        // Every pair's score; the best pair is kept with its features.
        let mut per_entity: Vec<(u32, f64)> = Vec::with_capacity(compared.len());
        let mut best: Option<(PairFeatures, u32)> = None;
        for &i in &compared {
            let s = &self.candidates[i as usize];
            let name = score::name_similarity(
                &q.name,
                q.name_weight,
                s.name(&self.names),
                s.name_weight,
                &self.vocab,
            );
            let a_side = Side {
                name_weight: s.name_weight,
                kinds: s.kinds,
                class: (s.class != 0).then_some(s.class),
                coord: s.coord(),
                phone: (s.phone != 0).then_some(s.phone),
                website: s.website(),
                postcode: s.postcode(),
                address: s.address(&self.arena),
                compact: s.compact(&self.arena),
                street: s.street(&self.arena),
                locality: s.locality(&self.arena),
                ids: s.ids(&self.arena),
            };
            let f = score::score_pair(name, &q_side, &a_side, self.config.distance_zero_m);
            per_entity.push((s.entity, f.score));
            let better = match &best {
                None => true,
                Some((b, bi)) => {
                    let bs = &self.candidates[*bi as usize];
                    f.score > b.score
                        || (f.score == b.score
                            && (
                                &self.entity_ids[s.entity as usize],
                                self.candidate_ids.get(i),
                            ) < (
                                &self.entity_ids[bs.entity as usize],
                                self.candidate_ids.get(*bi),
                            ))
                }
            };
            if better {
                best = Some((f, i));
            }
        }

        // An entity's score is the best of its compared candidates; rank entities by score,
        // ties by entity id.
        per_entity.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.total_cmp(&a.1)));
        per_entity.dedup_by_key(|e| e.0);
        per_entity.sort_unstable_by(|a, b| {
            b.1.total_cmp(&a.1)
                .then_with(|| self.entity_ids[a.0 as usize].cmp(&self.entity_ids[b.0 as usize]))
        });

        let (score, features, best_entity, best_candidate) = match &best {
            Some((f, i)) => (
                f.score,
                f.to_map(),
                Some(self.entity_ids[self.candidates[*i as usize].entity as usize].to_string()),
                Some(self.candidate_ids.get(*i).to_string()),
            ),
            None => (0.0, Default::default(), None, None),
        };
        // A record placed by its name alone that matches two entities cannot say which it
        // is: "Tesco Express" in Edinburgh is every branch. A reviewer decides.
        let ambiguous = q.placed_by_name_only()
            && per_entity
                .get(1)
                .is_some_and(|(_, s)| *s >= self.config.match_threshold);
        let outcome = if score >= self.config.match_threshold && best_entity.is_some() && !ambiguous
        {
            Outcome::Existing(best_entity.clone().unwrap_or_default())
        } else if score >= self.config.review_threshold && best_entity.is_some() {
            Outcome::Review(
                per_entity
                    .iter()
                    .take_while(|(_, s)| *s >= self.config.review_threshold)
                    .take(REVIEW_ENTITIES_MAX)
                    .map(|(e, _)| self.entity_ids[*e as usize].to_string())
                    .collect(),
            )
        } else if can_found {
            Outcome::NewEntity
        } else {
            Outcome::NoMatchCannotFound
        };
        let comparisons = compared.len();
        if let Ok(mut slot) = self.last_prepared.lock() {
            *slot = Some((fingerprint(c), q));
        }
        Decision {
            outcome,
            score,
            features,
            best_entity,
            best_candidate,
            comparisons,
        }
    }

    /// The attached candidates worth comparing with `q`, strongest-found first, at most
    /// `block_candidates_max` (see the module docs of `resolve`). Every block it may read is
    /// listed by `keys::lookups`: keep the two in step.
    fn block(&self, q: &Prepared) -> Vec<u32> {
        let common_max = self.config.common_token_max;
        let lists = &self.lists;
        let mut hits: Vec<(u32, u32)> = Vec::with_capacity(64);
        fn take(hits: &mut Vec<(u32, u32)>, list: Option<&[u32]>, priority: u32) {
            if let Some(items) = list {
                hits.extend(items.iter().map(|&c| (c, priority)));
            }
        }
        let weight_priority = |per_weight: f32, weight: f32| (per_weight * weight).round() as u32;
        // Names are looked up by their most telling words (see `lookup_rank`).
        let known_tokens = || {
            q.name
                .iter()
                .filter(|t| t.id != NO_ID && Some(t.class) == q.lookup_class)
        };
        let cell_tokens = || known_tokens().filter(|t| indexed_in_cells(t.class, q.lookup_class));
        let global_tokens = || known_tokens().filter(|t| indexed_globally(t.class));
        let token_list = |t: &QueryToken| {
            self.note_read(BlockKey::new(BlockKind::Token, t.hash), None);
            &self.block_token[t.id as usize]
        };

        // Candidates naming this record (only worth a lookup once some candidate names
        // another record at all); and for each record this one names: that record itself,
        // and the others naming it.
        if self.n_cross_references > 0 {
            take(
                &mut hits,
                self.read_block(BlockKind::Id, q.ids[0].0),
                priority::EXTERNAL_ID,
            );
        }
        for &key in q.ids.iter().skip(1) {
            take(
                &mut hits,
                self.read_block(BlockKind::Id, key.0),
                priority::EXTERNAL_ID,
            );
            if let Some(i) = self.same_record(key) {
                hits.push((i, priority::EXTERNAL_ID));
            }
        }
        if let Some(phone) = q.phone {
            take(
                &mut hits,
                self.read_block(BlockKind::Phone, phone),
                priority::PHONE,
            );
        }
        if let Some(w) = q.website {
            take(
                &mut hits,
                self.read_block(BlockKind::Website, w.block_key()),
                priority::WEBSITE,
            );
        }
        match q.coord {
            Some((lat, lon)) => {
                let near: Vec<u32> = neighbour_cells(lat, lon, self.config.cell_m)
                    .map(cell_hash)
                    .collect();
                let rare_max = rare_token_max(common_max);
                for t in cell_tokens() {
                    let p = weight_priority(priority::CELL_TOKEN_PER_WEIGHT, t.weight);
                    let list = token_list(t);
                    if list.n as usize <= rare_max {
                        // A rare word: its own list says where each of its candidates is.
                        if let Some(pairs) = list.usable(common_max, lists) {
                            for pair in pairs
                                .chunks_exact(2)
                                .filter(|p| p[1] != 0 && near.contains(&p[1]))
                            {
                                hits.push((pair[0], p));
                            }
                        }
                    } else {
                        for &cell in &near {
                            let key = cell_token_key(cell, t.hash);
                            self.note_read(BlockKey::new(BlockKind::CellToken, key), Some(t.hash));
                            take(
                                &mut hits,
                                self.block_cell_token.get(key, common_max, lists),
                                p,
                            );
                        }
                    }
                }
                // The cells cannot find attached candidates without coordinates. Without
                // phone, website or postcode in common, such a pair can only reach the
                // review band on a near-identical name: its name key finds it.
                if let Some(key) = q.name_key {
                    take(
                        &mut hits,
                        self.read_block(BlockKind::NameKeyNoCoord, key),
                        priority::NAME_KEY,
                    );
                }
                if let Some(pc) = q.postcode {
                    take(
                        &mut hits,
                        self.read_block(BlockKind::PostcodeNoCoord, pc.full),
                        priority::POSTCODE,
                    );
                }
                for &street in &q.street_keys {
                    take(
                        &mut hits,
                        self.read_block(BlockKind::StreetNoCoord, street),
                        priority::STREET,
                    );
                }
                for &street in &q.near_street_keys {
                    take(
                        &mut hits,
                        self.read_block(BlockKind::StreetNoCoord, street),
                        priority::NEAR_STREET,
                    );
                }
                // Nothing shares a word, a phone, a website or a postcode: look at whatever
                // is near by, where few enough places are (typos in every shared word).
                if hits.is_empty() && self.sparse() {
                    for cell in neighbour_cells(lat, lon, self.config.cell_m) {
                        take(
                            &mut hits,
                            self.read_block(BlockKind::Cell, cell),
                            priority::CELL,
                        );
                    }
                }
            }
            None => {
                if let Some(key) = q.name_key {
                    take(
                        &mut hits,
                        self.read_block(BlockKind::NameKey, key),
                        priority::NAME_KEY,
                    );
                }
                // City-wide, a single shared word is weak: "Drumbrae Hollow" and "Drumbrae
                // Ridge" are different places anywhere. With two or more words looked up,
                // a candidate must share at least two of them.
                let mut shared: Vec<(u32, u32)> = Vec::new();
                let mut looked_up = 0;
                for t in global_tokens() {
                    looked_up += 1;
                    let p = weight_priority(priority::TOKEN_PER_WEIGHT, t.weight);
                    if let Some(pairs) = token_list(t).usable(common_max, lists) {
                        shared.extend(pairs.chunks_exact(2).map(|pair| (pair[0], p)));
                    }
                    // Within the record's own locality one shared word is enough.
                    if let Some(locality) = q.locality_key {
                        take(
                            &mut hits,
                            self.read_block(
                                BlockKind::LocalityToken,
                                locality_token_key(locality, t.hash),
                            ),
                            weight_priority(priority::LOCALITY_TOKEN_PER_WEIGHT, t.weight),
                        );
                    }
                }
                let required = looked_up.min(2);
                shared.sort_unstable();
                for run in shared.chunk_by(|a, b| a.0 == b.0) {
                    if run.len() >= required {
                        hits.push((run[0].0, run.iter().map(|h| h.1).sum()));
                    }
                }
                if let Some(pc) = q.postcode {
                    take(
                        &mut hits,
                        self.read_block(BlockKind::Postcode, pc.full),
                        priority::POSTCODE,
                    );
                }
                for &street in &q.street_keys {
                    take(
                        &mut hits,
                        self.read_block(BlockKind::Street, street),
                        priority::STREET,
                    );
                }
                for &street in &q.near_street_keys {
                    take(
                        &mut hits,
                        self.read_block(BlockKind::Street, street),
                        priority::NEAR_STREET,
                    );
                }
            }
        }

        // Union: one entry per candidate, priorities summed (integers: exact in any order).
        hits.sort_unstable_by_key(|h| h.0);
        let mut union: Vec<(u32, u32)> = Vec::with_capacity(hits.len());
        for (c, p) in hits {
            match union.last_mut() {
                Some(last) if last.0 == c => last.1 += p,
                _ => union.push((c, p)),
            }
        }
        let cap = self.config.block_candidates_max.max(1);
        let rank = |a: &(u32, u32), b: &(u32, u32)| {
            b.1.cmp(&a.1)
                .then_with(|| self.order_keys[a.0 as usize].cmp(&self.order_keys[b.0 as usize]))
                .then(a.0.cmp(&b.0))
        };
        if union.len() > cap {
            union.select_nth_unstable_by(cap - 1, rank);
            union.truncate(cap);
        }
        // The order of comparison does not change the decision (ties are broken by ids):
        // the union stays in index order.
        union.into_iter().map(|(c, _)| c).collect()
    }

    /// Whether the attached candidates with coordinates are, on average over the cells
    /// they occupy, few enough per cell for [`CELL_ALONE_MAX`] to let cells be read whole.
    /// Where they are not, reading a cell whole is refused anyway, and skipping the nine
    /// lookups saves as many trips to memory.
    fn sparse(&self) -> bool {
        self.n_with_coordinates <= (self.block_cell.len() + self.cells_elsewhere) * CELL_ALONE_MAX
    }

    /// The first attached candidate of a record (by its full key), if any.
    fn same_record(&self, key: (u64, u64)) -> Option<u32> {
        self.note_read(BlockKey::new(BlockKind::Record, key.0), None);
        self.by_record.get(key)
    }

    /// The dense index of an entity id, registering it if new.
    fn entity_slot(&mut self, entity_id: &str) -> u32 {
        let (e, inserted) = self
            .entity_index
            .insert(id_key(entity_id), self.entity_ids.len() as u32);
        if inserted {
            self.entity_ids.push(entity_id.into());
            self.entity_sizes.push(0);
        }
        e
    }

    fn join(&mut self, entity: u32) {
        let size = &mut self.entity_sizes[entity as usize];
        *size += 1;
        if *size == 1 {
            self.n_entities += 1;
        }
    }

    fn leave(&mut self, entity: u32) {
        let size = &mut self.entity_sizes[entity as usize];
        *size -= 1;
        if *size == 0 {
            self.n_entities -= 1;
        }
    }
}

/// Up to how many candidates a token is rare: its city-wide list is scanned for neighbours
/// instead of looking the token up in nine cells (1 trip to memory instead of 9).
const RARE_TOKEN_MAX: usize = 16;

/// [`RARE_TOKEN_MAX`], below the configured common limit. (The limit once ensured that the
/// list still existed when the token stopped being rare, to fill the cell blocks from it;
/// those blocks are now kept from the start, but the limit stays: it decides which tokens
/// are read through their cells, and so the comparisons made.)
fn rare_token_max(common_token_max: usize) -> usize {
    RARE_TOKEN_MAX.min(common_token_max.saturating_sub(1))
}

/// A 128-bit hash of everything `Prepared::new` reads from a candidate: equal
/// fingerprints mean the same matching form (up to a 1 in 10^25 collision).
fn fingerprint(c: &CandidateRef<'_>) -> (u64, u64) {
    let f = c.fields;
    let mut h = vocab::Hash128::default();
    for part in [c.candidate_id, c.source, c.external_id] {
        h.part(part.as_bytes());
    }
    for o in [&f.name, &f.entity_class, &f.postcode, &f.phone, &f.website] {
        match o {
            Some(v) => h.part(v.as_bytes()),
            None => h.tag(0),
        }
    }
    for list in [&f.categories, &f.sports, &f.address_lines] {
        h.tag(1);
        for v in list {
            h.part(v.as_bytes());
        }
    }
    for (k, vs) in &f.external_ids {
        h.tag(2);
        h.part(k.as_bytes());
        for v in vs {
            h.part(v.as_bytes());
        }
    }
    for coordinate in [f.lat, f.lon] {
        match coordinate {
            Some(v) => h.part(&v.to_bits().to_le_bytes()),
            None => h.tag(3),
        }
    }
    h.finish()
}

/// The map key of a candidate or entity id (128 bits of hash, as [`record_key`]).
fn id_key(id: &str) -> (u64, u64) {
    let mut h = vocab::Hash128::default();
    h.tag(5);
    h.part(id.as_bytes());
    h.finish()
}

/// Whether a candidate has an id at its source (one without is never "the same record"
/// as another).
pub(crate) fn has_own_id(c: &CandidateRef<'_>) -> bool {
    !c.external_id.trim().is_empty()
}

/// The blocks a working index was given (debug builds; see `IdentityIndex::note_read`).
#[cfg(debug_assertions)]
#[derive(Default)]
struct Preset {
    keys: std::collections::HashSet<BlockKey>,
    /// Tokens whose whole city-wide list was preset, and with it their (cell, token) blocks.
    complete_tokens: std::collections::HashSet<u64>,
}
