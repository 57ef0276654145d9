//! Blocking keys: the blocks an attached candidate is filed under, and the blocks a
//! decision may read.
//!
//! Both lists are written once, here, and used by the in-memory index (`index.rs`, which
//! files and reads them) and by the persisted one (`store/`, which stores them and
//! preloads what a run may read), so the two cannot drift apart. A working index built
//! from the store checks, in debug builds, that every block a decision reads was preloaded
//! (see `IdentityIndex::note_read`).

use super::index::Prepared;
use super::vocab::{self, TokenClass};

/// Metres per degree of latitude (and of longitude at the equator) on the sphere of
/// `haversine_km` (mean radius 6371.0088 km).
const M_PER_DEG: f64 = 6_371_008.8 * std::f64::consts::PI / 180.0;

/// The kinds of block. The number is what the store keeps in its `kind` column: never
/// renumber one (add new kinds at the end and bump `store::FORMAT_VERSION`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum BlockKind {
    /// The record itself (`record_key(source, external_id).0`): "the same record".
    Record = 1,
    /// A record that candidates name in `external_ids`.
    Id = 2,
    Phone = 3,
    /// `Website::block_key`.
    Website = 4,
    Postcode = 5,
    /// The postcode of a candidate without coordinates.
    PostcodeNoCoord = 6,
    NameKey = 7,
    /// The name key of a candidate without coordinates.
    NameKeyNoCoord = 8,
    /// A name token city-wide (by the first half of [`token_key`]); the in-memory index
    /// keeps these lists by vocabulary id, with each member's cell.
    Token = 9,
    /// A name token in one grid cell ([`cell_token_key`]).
    CellToken = 10,
    /// A grid cell ([`cell_key`]).
    Cell = 11,
    /// A house number on a street (`vocab::street_keys`): read by candidates without
    /// coordinates, which no cell finds.
    Street = 12,
    /// A house number on a street, of a candidate without coordinates: what a candidate
    /// with coordinates reads (the cells find the others).
    StreetNoCoord = 13,
    /// A distinctive or brand name word within a locality ([`locality_token_key`]): read
    /// by candidates without coordinates, for which a single shared word city-wide is too
    /// weak but within one town worth a comparison.
    LocalityToken = 14,
}

impl BlockKind {
    #[cfg(test)]
    const ALL: [BlockKind; 14] = [
        BlockKind::Record,
        BlockKind::Id,
        BlockKind::Phone,
        BlockKind::Website,
        BlockKind::Postcode,
        BlockKind::PostcodeNoCoord,
        BlockKind::NameKey,
        BlockKind::NameKeyNoCoord,
        BlockKind::Token,
        BlockKind::CellToken,
        BlockKind::Cell,
        BlockKind::Street,
        BlockKind::StreetNoCoord,
        BlockKind::LocalityToken,
    ];

    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// The most members of a block of this kind a decision reads: past it the block is
    /// "too common" (or, for a cell, too full to read whole) and skipped. A record's block
    /// is read for its first member only.
    pub(crate) fn read_max(self, common_token_max: usize) -> usize {
        match self {
            BlockKind::Record => 1,
            BlockKind::Cell => super::CELL_ALONE_MAX,
            _ => common_token_max,
        }
    }
}

/// One block: its kind and its 64-bit key.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct BlockKey {
    pub kind: BlockKind,
    pub key: u64,
}

impl BlockKey {
    pub(crate) fn new(kind: BlockKind, key: u64) -> BlockKey {
        BlockKey { kind, key }
    }
}

/// Every block an attached candidate is filed under (each once), given its matching form
/// `p` and whether it has an id at its source (`own_id`: one without is never "the same
/// record" as another).
pub(crate) fn filed_keys(p: &Prepared, own_id: bool, cell_m: f64) -> Vec<BlockKey> {
    use BlockKind as K;
    let mut keys = Vec::with_capacity(8 + 2 * p.name.len() + p.ids.len());
    if own_id {
        keys.push(BlockKey::new(K::Record, p.ids[0].0));
    }
    // The records it names (its own is found through `Record`).
    for &(id, _) in p.ids.iter().skip(1) {
        keys.push(BlockKey::new(K::Id, id));
    }
    if let Some(phone) = p.phone {
        keys.push(BlockKey::new(K::Phone, phone));
    }
    if let Some(w) = p.website {
        keys.push(BlockKey::new(K::Website, w.block_key()));
    }
    if let Some(pc) = p.postcode {
        keys.push(BlockKey::new(K::Postcode, pc.full));
        if p.coord.is_none() {
            keys.push(BlockKey::new(K::PostcodeNoCoord, pc.full));
        }
    }
    let cell = p.coord.map(|(lat, lon)| own_cell(lat, lon, cell_m));
    for t in p
        .name
        .iter()
        .filter(|t| indexed_in_cells(t.class, p.lookup_class))
    {
        keys.push(BlockKey::new(K::Token, t.hash));
        if let Some(cell) = cell {
            keys.push(BlockKey::new(
                K::CellToken,
                cell_token_key(cell_hash(cell), t.hash),
            ));
        }
    }
    if let Some(key) = p.name_key {
        keys.push(BlockKey::new(K::NameKey, key));
        if p.coord.is_none() {
            keys.push(BlockKey::new(K::NameKeyNoCoord, key));
        }
    }
    if let Some(cell) = cell {
        keys.push(BlockKey::new(K::Cell, cell));
    }
    for &street in &p.street_keys {
        keys.push(BlockKey::new(K::Street, street));
        if p.coord.is_none() {
            keys.push(BlockKey::new(K::StreetNoCoord, street));
        }
    }
    if let Some(locality) = p.locality_key {
        for t in p.name.iter().filter(|t| indexed_globally(t.class)) {
            keys.push(BlockKey::new(
                K::LocalityToken,
                locality_token_key(locality, t.hash),
            ));
        }
    }
    // Distinct by construction but for 64-bit hash collisions (two named records, two
    // tokens): a block holds a candidate once.
    keys.sort_unstable();
    keys.dedup();
    keys
}

/// The blocks a decision for `q` may read (a superset: which of them it reads depends on
/// the index, e.g. a cell is read whole only when nothing else found anything).
#[derive(Clone, Debug, Default)]
pub(crate) struct Lookups {
    /// Read directly, each up to its kind's [`BlockKind::read_max`] members.
    pub keys: Vec<BlockKey>,
    /// The full 128-bit record keys behind the `Record` keys (the in-memory map checks
    /// more bits than the store's 64-bit key).
    pub records: Vec<(u64, u64)>,
    /// The name tokens whose city-wide lists are read (text and block key).
    pub tokens: Vec<(String, u64)>,
    /// The tokens looked up in nearby cells (hashes), when the candidate has coordinates.
    /// While a token's city-wide list is short enough to read, it names every member with
    /// its cell, so its (cell, token) blocks follow from it; only for a token too common
    /// for that must its (cell, token) blocks in `near` be read one by one.
    pub cell_tokens: Vec<u64>,
    /// The hashes of the candidate's cell and its 8 neighbours (empty without coordinates).
    pub near: Vec<u32>,
}

/// What a decision for the candidate `q` may read (`own_id`: whether it has an id at its
/// source). Mirrors `IdentityIndex::decide` and `block`: change one, change the other (the
/// debug check in `note_read` finds a read this list misses).
pub(crate) fn lookups(q: &Prepared, own_id: bool, cell_m: f64) -> Lookups {
    use BlockKind as K;
    let mut out = Lookups::default();
    if own_id {
        out.keys.push(BlockKey::new(K::Record, q.ids[0].0));
        out.records.push(q.ids[0]);
    }
    // Candidates naming this record; the records it names and those naming them.
    out.keys.push(BlockKey::new(K::Id, q.ids[0].0));
    for &key in q.ids.iter().skip(1) {
        out.keys.push(BlockKey::new(K::Id, key.0));
        out.keys.push(BlockKey::new(K::Record, key.0));
        out.records.push(key);
    }
    if let Some(phone) = q.phone {
        out.keys.push(BlockKey::new(K::Phone, phone));
    }
    if let Some(w) = q.website {
        out.keys.push(BlockKey::new(K::Website, w.block_key()));
    }
    let looked_up = q.name.iter().filter(|t| Some(t.class) == q.lookup_class);
    match q.coord {
        Some((lat, lon)) => {
            for t in looked_up.filter(|t| indexed_in_cells(t.class, q.lookup_class)) {
                out.keys.push(BlockKey::new(K::Token, t.hash));
                out.tokens.push((t.text.clone(), t.hash));
                out.cell_tokens.push(t.hash);
            }
            if let Some(key) = q.name_key {
                out.keys.push(BlockKey::new(K::NameKeyNoCoord, key));
            }
            if let Some(pc) = q.postcode {
                out.keys.push(BlockKey::new(K::PostcodeNoCoord, pc.full));
            }
            for cell in neighbour_cells(lat, lon, cell_m) {
                out.keys.push(BlockKey::new(K::Cell, cell));
                out.near.push(cell_hash(cell));
            }
            for &street in q.street_keys.iter().chain(&q.near_street_keys) {
                out.keys.push(BlockKey::new(K::StreetNoCoord, street));
            }
        }
        None => {
            if let Some(key) = q.name_key {
                out.keys.push(BlockKey::new(K::NameKey, key));
            }
            for t in looked_up.filter(|t| indexed_globally(t.class)) {
                out.keys.push(BlockKey::new(K::Token, t.hash));
                out.tokens.push((t.text.clone(), t.hash));
                if let Some(locality) = q.locality_key {
                    out.keys.push(BlockKey::new(
                        K::LocalityToken,
                        locality_token_key(locality, t.hash),
                    ));
                }
            }
            if let Some(pc) = q.postcode {
                out.keys.push(BlockKey::new(K::Postcode, pc.full));
            }
            for &street in q.street_keys.iter().chain(&q.near_street_keys) {
                out.keys.push(BlockKey::new(K::Street, street));
            }
        }
    }
    out
}

/// Which name tokens are looked up in the blocks: the distinctive words if the name has
/// any; else its brand ("Powerleague" alone); else its kind words ("Tennis Courts"); else
/// the generic ones. Looking up "tennis" and "club" for "Drumbrae Hollow Tennis Club" would
/// bring every tennis club and every club near by, to lose on the name.
pub(crate) fn lookup_rank(class: TokenClass) -> u8 {
    match class {
        TokenClass::Distinctive => 0,
        TokenClass::Brand => 1,
        TokenClass::Kind => 2,
        TokenClass::Generic => 3,
    }
}

/// Whether a name token is filed under in the (cell, token) blocks (and the token lists):
/// every word but the generic ones ("club", "centre", "edinburgh"), which near by say
/// nothing; except in a name of nothing but generic words ("Edinburgh Sports Club"), where
/// they are all there is (such names are few, so their lists stay short).
pub(crate) fn indexed_in_cells(class: TokenClass, lookup_class: Option<TokenClass>) -> bool {
    class != TokenClass::Generic || lookup_class == Some(TokenClass::Generic)
}

/// Whether a name token is looked up in the city-wide token lists by a candidate without
/// coordinates: distinctive and brand words. A kind word ("tennis") is in too many places
/// for a city-wide list to narrow anything down.
pub(crate) fn indexed_globally(class: TokenClass) -> bool {
    matches!(class, TokenClass::Distinctive | TokenClass::Brand)
}

/// The 128-bit key of a name token's text: the vocabulary's key, and (its first half) the
/// token's block key. The same text has the same key in every process.
pub(crate) fn token_key(text: &str) -> (u64, u64) {
    let mut h = vocab::Hash128::default();
    h.part(text.as_bytes());
    h.finish()
}

/// The key of a (locality, token) block, from the locality's key (`vocab::locality_key`)
/// and the token's hash.
pub(crate) fn locality_token_key(locality: u64, token_hash: u64) -> u64 {
    vocab::fmix64(token_hash ^ vocab::fmix64(locality ^ 0x4c4f_4341_4c49_5459))
}

/// The key of a (cell, token) block, from the cell's hash and the token's hash.
pub(crate) fn cell_token_key(cell_hash: u32, token_hash: u64) -> u64 {
    vocab::fmix64(token_hash ^ vocab::fmix64(u64::from(cell_hash) | 1 << 32))
}

/// A 32-bit hash of a cell key, never 0 (0 marks "no coordinates" in token lists). Two
/// cells sharing one would only bring a far candidate into a block, where the distance
/// keeps it apart.
pub(crate) fn cell_hash(cell: u64) -> u32 {
    ((vocab::fmix64(cell) >> 32) as u32).max(1)
}

/// The key of the same record at the same source: 128 bits of hash, so that a million
/// records collide with odds of about 1 in 10^26. The maps keyed by hashes never read the
/// keys' text, which at a million candidates would be a cache miss per lookup.
pub(crate) fn record_key(source: &str, external_id: &str) -> (u64, u64) {
    let mut h = vocab::Hash128::default();
    h.tag(4);
    // "osm" and "openstreetmap" are one source (as in cross-references).
    h.part(vocab::source_key(source).as_bytes());
    h.part(vocab::clip(external_id.trim(), vocab::TEXT_BYTES_MAX).as_bytes());
    h.finish()
}

/// The grid row of a latitude: rows are `cell_m` tall.
fn cell_row(lat: f64, cell_m: f64) -> i64 {
    (lat * M_PER_DEG / cell_m).floor() as i64
}

/// The grid column of a longitude in `row`: columns are `cell_m` wide at the row's middle
/// latitude (an equirectangular projection per row), so a row's cells are square.
fn cell_col(lon: f64, row: i64, cell_m: f64) -> i64 {
    let middle = ((row as f64 + 0.5) * cell_m / M_PER_DEG).clamp(-90.0, 90.0);
    let scale = middle.to_radians().cos().max(1e-9);
    (lon * M_PER_DEG * scale / cell_m).floor() as i64
}

fn cell_key(row: i64, col: i64) -> u64 {
    (u64::from(row as i32 as u32) << 32) | u64::from(col as i32 as u32)
}

/// The cell a point is filed under.
pub(crate) fn own_cell(lat: f64, lon: f64, cell_m: f64) -> u64 {
    let row = cell_row(lat, cell_m);
    cell_key(row, cell_col(lon, row, cell_m))
}

/// The point's cell and its 8 neighbours. Each neighbouring row's columns are computed at
/// that row's own scale, so every point within `cell_m` is in one of the nine. The point's
/// own cell ([`own_cell`]) is always one of them.
pub(crate) fn neighbour_cells(lat: f64, lon: f64, cell_m: f64) -> impl Iterator<Item = u64> {
    let row = cell_row(lat, cell_m);
    (row - 1..=row + 1).flat_map(move |r| {
        let col = cell_col(lon, r, cell_m);
        (col - 1..=col + 1).map(move |c| cell_key(r, c))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_point_within_a_cell_is_in_the_nine_neighbours() {
        let cell_m = 300.0;
        let centre = (55.9533, -3.1883);
        for i in 0..720 {
            let bearing = f64::from(i) * 0.5_f64.to_radians();
            for d_m in [1.0, 150.0, 299.0] {
                let lat = centre.0 + d_m * bearing.cos() / M_PER_DEG;
                let lon =
                    centre.1 + d_m * bearing.sin() / (M_PER_DEG * centre.0.to_radians().cos());
                let own = own_cell(lat, lon, cell_m);
                assert!(
                    neighbour_cells(centre.0, centre.1, cell_m).any(|c| c == own),
                    "{d_m} m at {i}"
                );
            }
        }
    }

    #[test]
    fn a_point_is_in_its_own_neighbourhood() {
        for (lat, lon) in [
            (55.95, -3.19),
            (0.0001, 179.9999),
            (-89.9, -179.9),
            (60.0, 0.0),
        ] {
            let own = own_cell(lat, lon, 300.0);
            assert!(neighbour_cells(lat, lon, 300.0).any(|c| c == own));
        }
    }

    #[test]
    fn kind_codes_never_repeat() {
        let mut seen = std::collections::HashSet::new();
        for k in BlockKind::ALL {
            assert!(k.code() > 0 && seen.insert(k.code()), "{k:?}");
        }
    }
}
