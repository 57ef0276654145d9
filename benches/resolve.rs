//! Identity resolution at scale: `cargo bench --bench resolve`.
//!
//! A deterministic generator (SplitMix64, fixed seed) makes synthetic places in a box over
//! Edinburgh: two made-up distinctive words and a kind ("Drumbrae Hollow Tennis Club"; 15%
//! with "The"), or, for 10%, a chain's brand and one word ("Powerleague Drumbrae"). Each
//! place is seen by one to six of six sources (google_places, openstreetmap,
//! sport_scotland, edinburgh_council, serper, a spreadsheet), sport_scotland listing 15% of
//! its sites twice (once per facility, as the register does), each with its own noise:
//! dropped "The", "&" for "and", brand first / last / with "Edinburgh", ", Edinburgh" and
//! page-title suffixes, UPPER CASE, a dropped last word, a one-letter typo in 5% of
//! records; pins jittered 5–80 m; phones (about 40% of records, in E.164 as extraction writes
//! them), websites
//! (25%) with and without scheme, `www.` and trailing slash, postcodes (65%) with or
//! without the space, street types abbreviated or not; serper records without coordinates,
//! spreadsheet rows without them half the time.
//!
//! The candidates are streamed in a shuffled order through `IdentityIndex::decide` and
//! `attach`, as ingestion does: a match joins its entity, a new place founds one, a
//! candidate in review founds a provisional one of its own (the reviewer has not
//! answered), and one that can found nothing is dropped (counted as a singleton). The
//! *resolve* time covers making each record, its candidate id, `decide`, `attach` and the
//! founding entity's id. Because the generator knows each candidate's place, the run also
//! reports the pairwise precision, recall and F1 of the clustering.
//!
//! Sizes (candidates, not places) come from `TRUSTFOLD_BENCH_SIZES` (default
//! "10000,100000,1000000"). Each size also times the *floor*: making the same records and
//! hashing their name keys, without resolving. Goals: 1M candidates in at most 20 s, and
//! time(1M) / time(100k) at most 12 (printed raw and relative to the floor, which scales
//! linearly by construction, so the ratio survives a noisy machine).
//! `TRUSTFOLD_BENCH_EXPLAIN=k` prints the first k candidates that did not join their
//! place's entity, with the decision and the record they should have joined.
//!
//! Prints; asserts nothing.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use trustfold::resolve::{
    candidate_id, entity_id_for, CandidateRef, IdentityIndex, MatchConfig, Outcome,
};
use trustfold_events::CandidateFields;

/// Seed of every random choice: the same sizes give the same candidates on every run.
const SEED: u64 = 0x7472_7573_7466_6f6c;

/// The generator's city box: Edinburgh from Cramond to Joppa, Colinton to Leith.
const LAT_MIN: f64 = 55.89;
const LAT_MAX: f64 = 55.99;
const LON_MIN: f64 = -3.33;
const LON_MAX: f64 = -3.05;

const M_PER_DEG: f64 = 111_195.0;

/// SplitMix64: small, fast, and good enough for a generator (not for anything secret).
struct Rng(u64);

impl Rng {
    fn new(parts: &[u64]) -> Self {
        let mut r = Rng(SEED);
        for &p in parts {
            r.0 ^= p.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            r.next();
        }
        r
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const SYLLABLES: &[&str] = &[
    "drum", "brae", "hol", "low", "craig", "kirk", "ton", "burn", "glen", "lin", "mor", "ash",
    "bal", "dal", "gar", "inch", "loch", "mill", "muir", "ness", "pen", "ros", "stan", "thorn",
    "wick", "hale", "ber", "cor", "dun", "fern", "gil", "hay", "kil", "lang", "mea", "nor", "ock",
    "pol", "quar", "rig", "sand", "tor", "ul", "vale", "wood", "yar", "ard", "ben",
];

/// A place's kind: its name words, and the sport sources tag it with.
const KINDS: &[(&str, &str)] = &[
    ("Tennis Club", "tennis"),
    ("Lawn Tennis Club", "tennis"),
    ("Bowling Club", "bowls"),
    ("Golf Club", "golf"),
    ("Golf Course", "golf"),
    ("Football Club", "football"),
    ("Rugby Club", "rugby"),
    ("Cricket Club", "cricket"),
    ("Hockey Club", "hockey"),
    ("Leisure Centre", "multi"),
    ("Sports Centre", "multi"),
    ("Swimming Pool", "swimming"),
    ("Primary School", "school"),
    ("High School", "school"),
    ("Community Centre", "community"),
    ("Park", "park"),
    ("Bowling & Tennis Club", "bowls"),
    ("Sports & Social Club", "multi"),
    ("Climbing Centre", "climbing"),
    ("Curling Rink", "curling"),
    ("Playing Fields", "football"),
];

/// Chains: the brand, its sport and its website host.
const BRANDS: &[(&str, &str, &str)] = &[
    ("Powerleague", "football", "powerleague.com"),
    ("Goals", "football", "goalsfootball.co.uk"),
    ("Nuffield Health", "fitness", "nuffieldhealth.com"),
    ("David Lloyd", "tennis", "davidlloyd.co.uk"),
    ("PureGym", "fitness", "puregym.com"),
    ("Anytime Fitness", "fitness", "anytimefitness.co.uk"),
];

const STREET_TYPES: &[(&str, &str)] = &[
    ("Road", "Rd"),
    ("Street", "St"),
    ("Avenue", "Ave"),
    ("Crescent", "Cres"),
    ("Drive", "Dr"),
    ("Place", "Pl"),
    ("Terrace", "Ter"),
    ("Gardens", "Gdns"),
];

/// What a source tells: (name, p(coordinates), p(phone | place has one),
/// p(website | place has one), p(postcode), p(address)).
const SOURCES: &[(&str, f64, f64, f64, f64, f64)] = &[
    ("google_places", 1.0, 0.95, 0.95, 0.8, 0.9),
    ("openstreetmap", 1.0, 0.5, 0.6, 0.2, 0.3),
    ("sport_scotland", 1.0, 0.0, 0.0, 0.9, 0.9),
    ("edinburgh_council", 1.0, 0.3, 0.2, 0.8, 0.9),
    ("serper", 0.0, 0.6, 0.9, 0.2, 0.3),
    ("spreadsheet", 0.5, 0.8, 0.3, 0.9, 0.9),
];

/// Share of places with a phone number, and with a website.
const P_PHONE: f64 = 0.75;
const P_WEBSITE: f64 = 0.55;
/// Share of sport_scotland sightings that list the site twice (once per facility).
const P_FACILITY_REPEAT: f64 = 0.15;
/// Share of names with a typo in one distinctive word, per candidate.
const P_TYPO: f64 = 0.05;

/// One synthetic place: the truth the sources blur.
pub(crate) struct Place {
    words: Vec<String>,
    kind: usize,
    brand: Option<usize>,
    the: bool,
    lat: f64,
    lon: f64,
    phone: Option<u64>,
    website: Option<(String, String)>,
    postcode: String,
    address: (u32, String, usize),
}

fn word(rng: &mut Rng) -> String {
    let n = if rng.chance(0.5) { 2 } else { 3 };
    let mut w = String::new();
    for _ in 0..n {
        let syllable: &&str = rng.pick(SYLLABLES);
        w.push_str(syllable);
    }
    let mut c = w.chars();
    let first = c.next().map(|f| f.to_ascii_uppercase()).unwrap_or('X');
    std::iter::once(first).chain(c).collect()
}

pub(crate) fn place(p: u32) -> Place {
    let mut rng = Rng::new(&[1, u64::from(p)]);
    let brand = if rng.chance(0.10) {
        Some(rng.below(BRANDS.len()))
    } else {
        None
    };
    let words = if brand.is_some() {
        vec![word(&mut rng)]
    } else {
        vec![word(&mut rng), word(&mut rng)]
    };
    let kind = rng.below(KINDS.len());
    let the = brand.is_none() && rng.chance(0.15);
    let lat = LAT_MIN + (LAT_MAX - LAT_MIN) * rng.unit();
    let lon = LON_MIN + (LON_MAX - LON_MIN) * rng.unit();
    let phone = rng
        .chance(P_PHONE)
        .then(|| 1_310_000_000 + rng.next() % 10_000_000);
    let website = rng.chance(P_WEBSITE).then(|| match brand {
        Some(b) => (
            BRANDS[b].2.to_owned(),
            format!("/club/edinburgh-{}", words[0].to_lowercase()),
        ),
        None => {
            let tld = *rng.pick(&[".co.uk", ".org.uk", ".com", ".org"]);
            (
                format!(
                    "{}{}{}",
                    words[0].to_lowercase(),
                    words[1].to_lowercase(),
                    tld
                ),
                String::new(),
            )
        }
    });
    // Postcode districts on a coarse grid over the box, sectors on a finer one.
    let gx = ((lon - LON_MIN) / (LON_MAX - LON_MIN) * 6.0) as u32;
    let gy = ((lat - LAT_MIN) / (LAT_MAX - LAT_MIN) * 3.0) as u32;
    let sector = ((lon - LON_MIN) / (LON_MAX - LON_MIN) * 60.0) as u32 % 10;
    let letters: Vec<char> = (0..2)
        .map(|_| (b'A' + rng.below(26) as u8) as char)
        .collect();
    let postcode = format!(
        "EH{} {}{}{}",
        1 + gy * 6 + gx,
        sector,
        letters[0],
        letters[1]
    );
    let address = (
        1 + rng.below(200) as u32,
        word(&mut rng),
        rng.below(STREET_TYPES.len()),
    );
    Place {
        words,
        kind,
        brand,
        the,
        lat,
        lon,
        phone,
        website,
        postcode,
        address,
    }
}

/// One edit in a word: substitution, deletion, insertion or a swap of neighbours.
fn typo(rng: &mut Rng, w: &str) -> String {
    let mut b: Vec<u8> = w.bytes().collect();
    let i = 1 + rng.below(b.len().saturating_sub(2).max(1));
    let i = i.min(b.len() - 1);
    match rng.below(4) {
        0 => b[i] = b'a' + rng.below(26) as u8,
        1 => {
            b.remove(i);
        }
        2 => b.insert(i, b'a' + rng.below(26) as u8),
        _ if i + 1 < b.len() => b.swap(i, i + 1),
        _ => b[i] = b'e',
    }
    String::from_utf8(b).unwrap_or_else(|_| w.to_owned())
}

/// The record source `s` publishes for place `p` (its `dup`th listing of the site).
pub(crate) fn candidate(
    world: &[Place],
    p: u32,
    s: usize,
    dup: u8,
) -> (&'static str, String, CandidateFields) {
    let pl = &world[p as usize];
    let mut rng = Rng::new(&[2, u64::from(p), s as u64, u64::from(dup)]);
    let (source, p_coord, p_phone, p_web, p_postcode, p_address) = SOURCES[s];

    let mut words: Vec<&str> = pl.words.iter().map(String::as_str).collect();
    let typo_word;
    if rng.chance(P_TYPO) {
        let i = rng.below(words.len());
        typo_word = typo(&mut rng, words[i]);
        words[i] = &typo_word;
    }
    let kind_words = KINDS[pl.kind].0;
    let mut name = match pl.brand {
        Some(b) => {
            let brand = BRANDS[b].0;
            match rng.below(4) {
                0 => format!("{brand} {}", words[0]),
                1 => format!("{} {brand}", words[0]),
                2 => format!("{brand} Edinburgh {}", words[0]),
                _ => format!("{brand} {}, Edinburgh", words[0]),
            }
        }
        None => {
            let mut kind = kind_words.to_owned();
            if rng.chance(0.5) {
                kind = kind.replace('&', "and");
            }
            if rng.chance(0.05) {
                // "Drumbrae Hollow Tennis" for "... Tennis Club".
                if let Some((head, _)) = kind.rsplit_once(' ') {
                    kind = head.to_owned();
                }
            }
            let the = if pl.the && rng.chance(0.5) {
                "The "
            } else {
                ""
            };
            let mut n = format!("{the}{} {} {kind}", words[0], words[1]);
            if source == "google_places" && rng.chance(0.3) {
                n.push_str(", Edinburgh");
            }
            n
        }
    };
    if source == "serper" && rng.chance(0.3) {
        let suffix: &&str = rng.pick(&[" | Home", " - Book Online", " | Edinburgh"]);
        name.push_str(suffix);
    }
    if (source == "sport_scotland" || source == "edinburgh_council") && rng.chance(0.3) {
        name = name.to_uppercase();
    }

    let mut f = CandidateFields {
        name: Some(name),
        entity_class: Some("venue".into()),
        ..Default::default()
    };
    if rng.chance(p_coord) {
        let d_m = 5.0 + 75.0 * rng.unit();
        let bearing = std::f64::consts::TAU * rng.unit();
        f.lat = Some(pl.lat + d_m * bearing.cos() / M_PER_DEG);
        f.lon = Some(pl.lon + d_m * bearing.sin() / (M_PER_DEG * pl.lat.to_radians().cos()));
    }
    if let Some(n) = pl.phone.filter(|_| rng.chance(p_phone)) {
        // As extraction writes every valid number, whatever the source's spelling
        // ("0131 496 0173", "(0131) 496-0173", "+44 131 ..."): E.164. Drawn all the same,
        // so the records of every other field are the ones earlier runs made.
        let _spelling = rng.below(5);
        f.phone = Some(format!("+44{n}"));
    }
    if let Some((host, path)) = pl.website.as_ref().filter(|_| rng.chance(p_web)) {
        f.website = Some(match rng.below(4) {
            0 => format!("https://www.{host}{path}/"),
            1 => format!("http://{host}{path}"),
            2 => format!("www.{host}{path}"),
            _ => format!("https://{host}{path}"),
        });
    }
    if rng.chance(p_postcode) {
        f.postcode = Some(if rng.chance(0.3) {
            pl.postcode.replace(' ', "").to_lowercase()
        } else {
            pl.postcode.clone()
        });
    }
    if rng.chance(p_address) {
        let (number, street, t) = &pl.address;
        let (long, short) = STREET_TYPES[*t];
        let t = if rng.chance(0.5) { long } else { short };
        f.address_lines = vec![format!("{number} {street} {t}")];
    }
    let sport = KINDS[pl.kind].1;
    let sport = pl.brand.map_or(sport, |b| BRANDS[b].1);
    match source {
        "google_places" => {
            let t = match sport {
                "golf" => "golf_course",
                "swimming" => "swimming_pool",
                "school" => "school",
                "park" => "park",
                "multi" | "community" => "sports_complex",
                "fitness" => "gym",
                _ => "sports_club",
            };
            f.categories = vec!["establishment".into(), "point_of_interest".into(), t.into()];
        }
        "openstreetmap" | "sport_scotland" | "spreadsheet" => f.sports = vec![sport.into()],
        "edinburgh_council" => f.categories = vec!["Sports Facilities".into()],
        _ => {}
    }
    let ext = match source {
        "google_places" => format!("ChIJ{:016x}", Rng::new(&[3, u64::from(p)]).next()),
        "openstreetmap" => format!("way/{}", 10_000_000 + u64::from(p)),
        "sport_scotland" => format!("pub_spf.{}.{}", p, dup),
        "edinburgh_council" => format!("Sports_Facilities.{p}"),
        "serper" => format!("https://search.example/{p:x}"),
        _ => format!("row-{p}"),
    };
    (source, ext, f)
}

/// The candidates of the first places until there are `n`: (place, source, listing).
pub(crate) fn stream(n: usize) -> Vec<(u32, u8, u8)> {
    let mut items = Vec::with_capacity(n + 8);
    let mut p = 0u32;
    while items.len() < n {
        let mut rng = Rng::new(&[4, u64::from(p)]);
        let k = 1 + rng.below(SOURCES.len());
        let mut sources: Vec<usize> = (0..SOURCES.len()).collect();
        for i in 0..k {
            let j = i + rng.below(SOURCES.len() - i);
            sources.swap(i, j);
        }
        for &s in &sources[..k] {
            items.push((p, s as u8, 0));
            if SOURCES[s].0 == "sport_scotland" && rng.chance(P_FACILITY_REPEAT) {
                items.push((p, s as u8, 1));
            }
        }
        p += 1;
    }
    items.truncate(n);
    // Fisher–Yates: sources answer in no particular order.
    let mut rng = Rng::new(&[5, n as u64]);
    for i in (1..items.len()).rev() {
        let j = rng.below(i + 1);
        items.swap(i, j);
    }
    items
}

/// Generates and hashes every candidate's name key: the work any resolver must at least do.
fn floor(world: &[Place], items: &[(u32, u8, u8)]) -> (Duration, u64) {
    let start = Instant::now();
    let mut acc = 0u64;
    for &(p, s, dup) in items {
        let (source, ext, f) = candidate(world, p, s as usize, dup);
        let id = candidate_id(source, &ext);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        f.name.as_deref().unwrap_or("").to_lowercase().hash(&mut h);
        id.hash(&mut h);
        acc = acc.wrapping_add(h.finish());
    }
    (start.elapsed(), acc)
}

struct Run {
    n: usize,
    places: usize,
    elapsed: Duration,
    decide: Duration,
    attach: Duration,
    floor: Duration,
    comparisons_mean: f64,
    comparisons_max: usize,
    entities: usize,
    outcomes: [usize; 4],
    precision: f64,
    recall: f64,
}

fn resolve(world: &[Place], items: &[(u32, u8, u8)]) -> Run {
    let mut index = IdentityIndex::new(MatchConfig::default());
    // Where each candidate went, kept as the entity id and mapped to numbers after the
    // clock stops (bookkeeping of the benchmark, not work of the resolver).
    let mut entity_of: Vec<Option<String>> = Vec::with_capacity(items.len());
    let (mut comparisons, mut comparisons_max) = (0usize, 0usize);
    let mut outcomes = [0usize; 4];
    let (mut decide_time, mut attach_time) = (Duration::ZERO, Duration::ZERO);
    // TRUSTFOLD_BENCH_EXPLAIN=k prints the first k candidates that did not join their
    // place's entity, with the decision (slows the run: for tuning, not for timing).
    let mut explain: usize = std::env::var("TRUSTFOLD_BENCH_EXPLAIN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut first_seen: HashMap<u32, (String, CandidateFields)> = HashMap::new();
    let start = Instant::now();
    for &(p, s, dup) in items {
        let (source, ext, fields) = candidate(world, p, s as usize, dup);
        let id = candidate_id(source, &ext);
        let c = CandidateRef {
            candidate_id: &id,
            source,
            external_id: &ext,
            fields: &fields,
        };
        let t0 = Instant::now();
        let d = index.decide(&c);
        decide_time += t0.elapsed();
        comparisons += d.comparisons;
        comparisons_max = comparisons_max.max(d.comparisons);
        if explain > 0 {
            explain_miss(&mut explain, &first_seen, p, source, &fields, &d);
        }
        // A review founds a provisional entity: the reviewer has not answered yet.
        let entity = match d.outcome {
            Outcome::Existing(e) => {
                outcomes[1] += 1;
                Some(e)
            }
            Outcome::NewEntity => {
                outcomes[0] += 1;
                Some(entity_id_for(&id))
            }
            Outcome::Review(_) => {
                outcomes[2] += 1;
                Some(entity_id_for(&id))
            }
            Outcome::NoMatchCannotFound => {
                outcomes[3] += 1;
                None
            }
        };
        if let Some(e) = &entity {
            let t0 = Instant::now();
            index.attach(&c, e);
            attach_time += t0.elapsed();
            if explain > 0 {
                first_seen
                    .entry(p)
                    .or_insert_with(|| (source.to_owned(), fields.clone()));
            }
        }
        entity_of.push(entity);
    }
    let elapsed = start.elapsed();
    let mut entity_dense: HashMap<String, u32> = HashMap::new();
    let entity_of: Vec<u32> = entity_of
        .into_iter()
        .map(|e| match e {
            Some(e) => {
                let next = entity_dense.len() as u32;
                *entity_dense.entry(e).or_insert(next)
            }
            None => u32::MAX,
        })
        .collect();

    // Pairwise precision and recall from the contingency of (entity, place); a rejected
    // candidate counts as a singleton (its true pairs are missed).
    let choose2 = |k: u64| k * k.saturating_sub(1) / 2;
    let mut cells: HashMap<(u32, u32), u64> = HashMap::new();
    let mut per_entity: HashMap<u32, u64> = HashMap::new();
    let mut per_place: HashMap<u32, u64> = HashMap::new();
    for (&(p, _, _), &e) in items.iter().zip(&entity_of) {
        *per_place.entry(p).or_default() += 1;
        if e != u32::MAX {
            *cells.entry((e, p)).or_default() += 1;
            *per_entity.entry(e).or_default() += 1;
        }
    }
    let tp: u64 = cells.values().map(|&k| choose2(k)).sum();
    let predicted: u64 = per_entity.values().map(|&k| choose2(k)).sum();
    let truth: u64 = per_place.values().map(|&k| choose2(k)).sum();
    Run {
        n: items.len(),
        places: per_place.len(),
        elapsed,
        decide: decide_time,
        attach: attach_time,
        floor: Duration::ZERO,
        comparisons_mean: comparisons as f64 / items.len().max(1) as f64,
        comparisons_max,
        entities: index.n_entities(),
        outcomes,
        precision: if predicted == 0 {
            1.0
        } else {
            tp as f64 / predicted as f64
        },
        recall: if truth == 0 {
            1.0
        } else {
            tp as f64 / truth as f64
        },
    }
}

/// Prints a candidate that did not join its place's first attached record (see `resolve`).
fn explain_miss(
    left: &mut usize,
    first_seen: &HashMap<u32, (String, CandidateFields)>,
    place: u32,
    source: &str,
    fields: &CandidateFields,
    d: &trustfold::resolve::Decision,
) {
    match first_seen.get(&place) {
        None => {}
        Some((first_source, first)) if !matches!(d.outcome, Outcome::Existing(_)) => {
            *left -= 1;
            let brief = |f: &CandidateFields| {
                format!(
                    "{:?} at {:?},{:?} phone {:?} web {:?} pc {:?} addr {:?}",
                    f.name, f.lat, f.lon, f.phone, f.website, f.postcode, f.address_lines
                )
            };
            println!(
                "MISS {:?} score {:.3} comparisons {} features {:?}\n  this  {source}: {}\n  first {first_source}: {}",
                d.outcome,
                d.score,
                d.comparisons,
                d.features,
                brief(fields),
                brief(first)
            );
        }
        Some(_) => {}
    }
}

/// Peak resident memory of this process so far, from /proc (Linux), if readable.
fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

pub fn main() {
    let sizes: Vec<usize> = std::env::var("TRUSTFOLD_BENCH_SIZES")
        .unwrap_or_else(|_| "10000,100000,1000000".to_owned())
        .split(',')
        .filter_map(|s| s.trim().replace('_', "").parse().ok())
        .filter(|&n| n > 0)
        .collect();
    println!("resolve benchmark: synthetic Edinburgh places seen by 1-6 sources, shuffled, decide + attach");
    println!("config: {:?}", MatchConfig::default());
    let mut runs: Vec<Run> = Vec::new();
    for n in sizes {
        // The world exists before any source describes it: its places are made up front,
        // and each record (a source's noisy view of a place) is made as it is read.
        let items = stream(n);
        let n_places = items.iter().map(|i| i.0 as usize + 1).max().unwrap_or(0);
        let world: Vec<Place> = (0..n_places as u32).map(place).collect();
        let (floor_time, check) = floor(&world, &items);
        let mut run = resolve(&world, &items);
        run.floor = floor_time;
        let secs = run.elapsed.as_secs_f64();
        let f1 = 2.0 * run.precision * run.recall / (run.precision + run.recall).max(f64::EPSILON);
        println!(
            "\nN = {} candidates ({} places)\n  resolve   {:>8.3} s  {:>9.0} candidates/s\n  floor     {:>8.3} s  (generate + hash name keys; checksum {:x})\n  resolve - floor {:>6.3} s  (in decide {:.3} s, in attach {:.3} s)\n  comparisons per candidate: mean {:.1}, max {}\n  entities  {} at the end, the peak (true places {})\n  outcomes  new {}, existing {}, review {}, cannot found {}\n  pairwise  precision {:.4}  recall {:.4}  F1 {:.4}\n  peak RSS  {}",
            run.n,
            run.places,
            secs,
            run.n as f64 / secs,
            floor_time.as_secs_f64(),
            check,
            (run.elapsed.saturating_sub(floor_time)).as_secs_f64(),
            run.decide.as_secs_f64(),
            run.attach.as_secs_f64(),
            run.comparisons_mean,
            run.comparisons_max,
            run.entities,
            run.places,
            run.outcomes[0],
            run.outcomes[1],
            run.outcomes[2],
            run.outcomes[3],
            run.precision,
            run.recall,
            f1,
            peak_rss_mb().map_or("n/a".to_owned(), |mb| format!("{mb:.0} MB")),
        );
        runs.push(run);
    }
    let find = |n: usize| runs.iter().find(|r| r.n == n);
    if let (Some(small), Some(big)) = (find(100_000), find(1_000_000)) {
        let raw = big.elapsed.as_secs_f64() / small.elapsed.as_secs_f64();
        let floor_ratio = big.floor.as_secs_f64() / small.floor.as_secs_f64();
        println!(
            "\ntime(1M) / time(100k) = {raw:.2} (goal <= 12); floor ratio {floor_ratio:.2}, floor-adjusted {:.2}",
            raw / floor_ratio * 10.0
        );
        println!(
            "time(1M) = {:.2} s (goal <= 20 s)",
            big.elapsed.as_secs_f64()
        );
    }
}
