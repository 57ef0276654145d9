//! Projection rebuild benchmark. Run:
//! `cargo bench -p trustfold-projections --bench rebuild` (N events via
//! `TRUSTFOLD_BENCH_EVENTS`, default 1,000,000; `TRUSTFOLD_BENCH_EVENTS=50000` is quick).
//!
//! It writes a log shaped like real runs (see `src/ingest/`) into a real `SqliteEventStore`,
//! in appends of 1,000 events: per run `RunStarted`, one `ConnectorResponded` for each of
//! four sources, about 20 `CandidateExtracted`, then per candidate `CandidateAccepted` +
//! `MergeDecided` (a new or an existing entity; a place is known to 1 to 4 of the six
//! sources), a re-observation, or a `CandidateRejected` (invalid, or `duplicate_in_source`
//! following a record kept earlier in the run), and `RunCompleted`; now and then an admin's
//! `FieldOverridden` (outside any run). 1M events are about 16k runs, 300k candidates and
//! 120k entities. The seed is fixed, so runs are comparable. It then measures, on that same
//! file and in the same run:
//!
//! - baselines: a plain rusqlite `SELECT seq, kind, payload` scan with a
//!   `serde_json::Value` decode of every payload, and `store.read_from(1)` (the store's own
//!   full typed decode);
//! - `Projections::rebuild` (`rebuild-projections --full`) with the shipped trust policy:
//!   wall time, events/s, entities, the size of the projection database, and the ratio to
//!   the plain-scan baseline. It runs in a child process (this binary re-executed), so its
//!   peak RSS is the rebuild's alone;
//! - a policy change on that database, each in its own child: the dry run of a change that
//!   touches every entity (the conflict gap), the re-merge after one source's trust
//!   changes, and the re-merge of every entity, each beside the plain-scan baseline;
//! - the costs of the fold's pieces (read, decode, `apply`, merging every entity in
//!   memory), timed with the crate's public pieces in another child process;
//! - incremental `Projections::catch_up` after one more run, and a no-op catch-up.
//!
//! `TRUSTFOLD_BENCH_DIR=<dir>` keeps the data dir (for `perf`): a log already there is
//! reused instead of generated (each bench run appends a few runs for the catch-up figures).
//! To profile the rebuild alone on such a dir:
//! `TRUSTFOLD_BENCH_CHILD=rebuild:<dir> perf record -g <bench binary>`.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};
use serde_json::json;
use trustfold_events::*;
use trustfold_projections::merge::merge_values;
use trustfold_projections::policy::SHIPPED_POLICY;
use trustfold_projections::state::{Candidate, EntityState, State};
use trustfold_projections::TrustPolicy;
use trustfold_projections::{apply, merge_entity, MergedEntity, ProjectionEvent, Projections};
use uuid::Uuid;

const SOURCES: [&str; 6] = [
    "serper",
    "google_places",
    "openstreetmap",
    "sport_scotland",
    "edinburgh_council",
    "open_charge_map",
];
const SERPER: usize = 0;
const GOOGLE: usize = 1;
const OSM: usize = 2;
const SPORT_SCOTLAND: usize = 3;
const COUNCIL: usize = 4;
const OCM: usize = 5;

/// Events per append (batches cut across runs; no stream expectations).
const BATCH: usize = 1_000;
/// Fixed seed: every bench run writes the same log (up to recorded times).
const SEED: u64 = 0x7e57_f01d_2026_0001;
/// Re-executed with `rebuild:<data dir>` or `phases:<data dir>`, the binary does only that.
const CHILD_ENV: &str = "TRUSTFOLD_BENCH_CHILD";
/// Runs appended (one at a time) to time the incremental catch-up.
const CATCH_UP_RUNS: usize = 5;

// ---------------------------------------------------------------------------------------
// A small deterministic generator (xorshift64*), no dependencies.

struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

// ---------------------------------------------------------------------------------------
// The world: places, which sources know them, and how each source describes them.

/// (name suffix, category, entity class, sports)
const KINDS: &[(&str, &str, &str, &[&str])] = &[
    (
        "Leisure Centre",
        "sports_centre",
        "sports_centre",
        &["badminton", "fitness", "swimming"],
    ),
    ("Tennis Club", "tennis_court", "club", &["tennis"]),
    ("Football Pitches", "pitch", "pitch", &["football"]),
    ("Swimming Pool", "swimming_pool", "pool", &["swimming"]),
    ("Golf Club", "golf_course", "club", &["golf"]),
    ("Bowling Club", "bowling_green", "club", &["bowls"]),
    ("Climbing Wall", "climbing", "sports_centre", &["climbing"]),
    (
        "Sports Hall",
        "sports_hall",
        "sports_hall",
        &["badminton", "basketball", "volleyball"],
    ),
    ("Park", "park", "park", &["football", "running"]),
    ("Gym", "gym", "gym", &["fitness"]),
    ("Squash Club", "squash_court", "club", &["squash"]),
    (
        "Athletics Track",
        "track",
        "track",
        &["athletics", "running"],
    ),
];
/// The kind founded by Open Charge Map.
const EV_KIND: (&str, &str, &str, &[&str]) =
    ("EV Charging Point", "charging_station", "ev_charger", &[]);

const AREAS: &[&str] = &[
    "Portobello",
    "Leith",
    "Morningside",
    "Stockbridge",
    "Gorgie",
    "Corstorphine",
    "Craigmillar",
    "Liberton",
    "Musselburgh",
    "Meadowbank",
    "Tollcross",
    "Marchmont",
    "Bruntsfield",
    "Newington",
    "Granton",
    "Pilton",
    "Colinton",
    "Currie",
    "Balerno",
    "Sighthill",
    "Wester Hailes",
    "Oxgangs",
    "Fairmilehead",
    "Gilmerton",
    "Duddingston",
    "Restalrig",
    "Trinity",
    "Inverleith",
    "Comely Bank",
    "Dalry",
    "Murrayfield",
    "Craiglockhart",
];

const STREETS: &[&str] = &[
    "Westbank Street",
    "Bath Street",
    "Leith Walk",
    "Easter Road",
    "Dalry Road",
    "Gorgie Road",
    "London Road",
    "Ferry Road",
    "Comiston Road",
    "Queensferry Road",
    "Lanark Road",
    "Calder Road",
    "Milton Road",
    "Craigmillar Castle Road",
    "Seafield Road",
    "Pilrig Street",
    "Bruntsfield Place",
    "Melville Drive",
    "Canongate",
    "Restalrig Road",
    "Inverleith Row",
    "Corstorphine Road",
    "Glasgow Road",
    "Gilmerton Road",
    "Liberton Road",
    "Duddingston Road",
    "Marchmont Crescent",
    "Raeburn Place",
    "Lochend Road",
    "Portobello High Street",
    "Colinton Road",
    "Oxgangs Road",
    "Granton Road",
    "Pennywell Road",
    "Broomhouse Road",
    "Saughton Road",
    "Stenhouse Drive",
    "Meadowbank Terrace",
    "Jock's Lodge",
    "Willowbrae Road",
];

const BRANDS: &[&str] = &[
    "Powerleague",
    "PureGym",
    "Edinburgh Leisure",
    "The Gym Group",
    "Goals",
    "David Lloyd",
];
const EV_OPERATORS: &[&str] = &[
    "ChargePlace Scotland",
    "Pod Point",
    "InstaVolt",
    "Tesla",
    "bp pulse",
];

/// Everything about one place that stays the same whichever source describes it.
struct Place {
    kind: u8,
    /// `KINDS.len()` for a charging point.
    area: u8,
    street: u8,
    number: u16,
    brand: Option<u8>,
    postcode: String,
    lat: f64,
    lon: f64,
    phone: u64,
    entity_id: String,
}

impl Place {
    fn kind(
        &self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    ) {
        KINDS.get(self.kind as usize).copied().unwrap_or(EV_KIND)
    }

    fn is_ev(&self) -> bool {
        self.kind as usize == KINDS.len()
    }

    fn name(&self) -> String {
        let area = AREAS[self.area as usize];
        let street = STREETS[self.street as usize];
        let street_word = street.split(' ').next().unwrap_or(street);
        if self.is_ev() {
            let op = EV_OPERATORS[(self.number as usize) % EV_OPERATORS.len()];
            return format!("{op} {area} {street}");
        }
        match self.brand {
            Some(b) => format!("{} {area} {street_word}", BRANDS[b as usize]),
            None => format!("{area} {street_word} {}", self.kind().0),
        }
    }

    fn web_slug(&self) -> String {
        self.name()
            .to_ascii_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect()
    }
}

/// The candidate id scheme of `src/resolve/mod.rs` (`c_` + 20 hex of blake3).
fn prefixed_hash(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let hex = hasher.finalize().to_hex();
    format!("{prefix}{}", &hex[..20])
}

fn candidate_id(source: &str, external_id: &str) -> String {
    prefixed_hash("c_", &["trustfold/candidate/v1", source, external_id])
}

fn entity_id_for(founding_candidate_id: &str) -> String {
    prefixed_hash("e_", &["trustfold/entity/v1", founding_candidate_id])
}

fn external_id(p: u64, place: &Place, source: usize) -> String {
    match source {
        SERPER => format!("serper:{:016x}", p.wrapping_mul(0x9e37_79b9_7f4a_7c15)),
        GOOGLE => format!(
            "ChIJ{:012x}{:010x}",
            p.wrapping_mul(0xbf58_476d_1ce4_e5b9) >> 16,
            p
        ),
        OSM => format!(
            "{}/{}",
            if p.is_multiple_of(3) { "node" } else { "way" },
            20_000_000 + p * 7
        ),
        SPORT_SCOTLAND => format!("pub_spfp.{}", 1_000 + p),
        COUNCIL => format!("arcgis/{}/{}", place.kind().1, 10 + p),
        _ => format!("ocm/{}", 100_000 + p),
    }
}

/// How one source describes one place: the same place, each source's own habits.
fn fields_for(place: &Place, p: u64, source: usize, rng: &mut Rng) -> CandidateFields {
    let (_, category, class, sports) = place.kind();
    let name = place.name();
    let street = STREETS[place.street as usize];
    // Each source puts the pin a few metres apart; OSM is the most careful.
    let jitter = if source == OSM { 2e-5 } else { 1.2e-4 };
    let lat = place.lat + (rng.unit() - 0.5) * jitter;
    let lon = place.lon + (rng.unit() - 0.5) * jitter * 1.8;
    let phone = if rng.chance(0.08) {
        // An outdated number now and then: a conflict for the merge to explain.
        format!("+44131{:07}", rng.below(10_000_000))
    } else {
        format!("+44131{:07}", place.phone)
    };
    let website = match place.brand {
        Some(b) => format!(
            "https://www.{}.co.uk/{}",
            BRANDS[b as usize].to_ascii_lowercase().replace(' ', ""),
            AREAS[place.area as usize]
                .to_ascii_lowercase()
                .replace(' ', "-")
        ),
        None => format!("https://www.{}.co.uk/", place.web_slug()),
    };
    let address = vec![format!("{} {street}", place.number)];
    // A postcode typo now and then: official sources within the conflict gap disagree.
    let postcode = if rng.chance(0.04) {
        let mut pc = place.postcode.clone();
        pc.pop();
        pc.push((b'A' + rng.below(26) as u8) as char);
        pc
    } else {
        place.postcode.clone()
    };
    let mut f = CandidateFields::default();
    match source {
        SERPER => {
            f.name = Some(if rng.chance(0.3) {
                format!("{name} - Edinburgh")
            } else {
                name
            });
            f.categories = vec![category.to_string()];
            f.address_lines = address;
            f.locality = Some("Edinburgh".into());
            f.postcode = Some(postcode.clone());
            f.lat = Some(lat);
            f.lon = Some(lon);
            f.phone = Some(phone);
            f.website = Some(website);
            f.rating = Some(3.2 + rng.unit() * 1.7);
            f.rating_count = Some(rng.below(2_000) as u64);
        }
        GOOGLE => {
            f.name = Some(name);
            f.categories = vec!["establishment".into(), "point_of_interest".into()];
            f.address_lines = address;
            f.locality = Some("Edinburgh".into());
            f.postcode = Some(postcode.clone());
            f.country = Some("GB".into());
            f.lat = Some(lat);
            f.lon = Some(lon);
            f.phone = Some(phone);
            f.website = Some(website);
            f.opening_hours = Some("Mo-Fr 06:30-22:00; Sa-Su 08:00-18:00".into());
            f.rating = Some(3.2 + rng.unit() * 1.7);
            f.rating_count = Some(rng.below(5_000) as u64);
            if place.is_ev() {
                f.entity_class = Some("ev_charger".into());
            }
        }
        OSM => {
            f.name = Some(name);
            f.categories = vec![category.to_string()];
            f.sports = sports.iter().map(|s| s.to_string()).collect();
            if rng.chance(0.6) {
                f.address_lines = address;
            }
            if rng.chance(0.5) {
                f.postcode = Some(postcode.clone());
            }
            f.lat = Some(lat);
            f.lon = Some(lon);
            if rng.chance(0.3) {
                f.website = Some(website);
            }
            if rng.chance(0.3) {
                f.opening_hours = Some("Mo-Su 07:00-21:00".into());
            }
            if rng.chance(0.25) {
                f.external_ids
                    .insert("wikidata".into(), vec![format!("Q{}", 5_000_000 + p)]);
            }
        }
        SPORT_SCOTLAND => {
            f.name = Some(name);
            f.entity_class = Some(class.into());
            f.categories = vec![category.to_string()];
            f.sports = sports.iter().map(|s| s.to_string()).collect();
            f.address_lines = address;
            f.locality = Some("Edinburgh".into());
            f.postcode = Some(postcode.clone());
            f.lat = Some(lat);
            f.lon = Some(lon);
            if rng.chance(0.4) {
                f.external_ids
                    .insert("uprn".into(), vec![format!("{}", 906_000_000 + p)]);
            }
        }
        COUNCIL => {
            f.name = Some(name);
            // The council's own vocabulary now and then (sportscotland's is the other).
            f.entity_class = Some(if rng.chance(0.3) {
                format!("council_{class}")
            } else {
                class.into()
            });
            f.categories = vec![category.to_string()];
            f.address_lines = address;
            f.postcode = Some(postcode.clone());
            f.lat = Some(lat);
            f.lon = Some(lon);
            if rng.chance(0.4) {
                f.website = Some(website);
            }
            if rng.chance(0.3) {
                f.external_ids
                    .insert("uprn".into(), vec![format!("{}", 906_000_000 + p)]);
            }
        }
        _ => {
            f.name = Some(name);
            f.entity_class = Some("ev_charger".into());
            f.categories = vec!["charging_station".into()];
            f.address_lines = address;
            f.locality = Some("Edinburgh".into());
            f.postcode = Some(postcode.clone());
            f.lat = Some(lat);
            f.lon = Some(lon);
            f.ev = Some(EvDetails {
                connector_types: vec!["CCS".into(), "Type 2".into()],
                power_kw_max: Some(*rng.pick(&[7.0, 22.0, 50.0, 150.0])),
                points: Some(1 + rng.below(6) as u32),
                operator: Some(EV_OPERATORS[(place.number as usize) % EV_OPERATORS.len()].into()),
            });
        }
    }
    f
}

/// What the generated log holds, for the header line.
#[derive(Default)]
struct Counts {
    runs: u64,
    events: u64,
    extracted: u64,
    entities: u64,
    existing: u64,
    reobserved: u64,
    rejected_invalid: u64,
    rejected_dup: u64,
    overrides: u64,
}

/// One candidate of a run, planned before its events are written.
enum Plan {
    /// A record never seen before: founds the place's entity or joins it.
    New { place: u32, founds: bool },
    /// A record seen in an earlier run: extracted again, identity already decided.
    Again,
    /// A second record of the same source at the same site (one register row per
    /// facility): rejected as `duplicate_in_source`, following `leader`.
    Repeat { leader: String },
    /// A record with no name: rejected as invalid.
    Invalid,
}

struct PlannedCandidate {
    cid: String,
    source: usize,
    external_id: String,
    fields: CandidateFields,
    plan: Plan,
}

struct World {
    rng: Rng,
    places: Vec<Place>,
    /// Per source: places it knows that it has not reported yet.
    pending: [Vec<u32>; 6],
    /// Per source: places whose record from it is attached (for re-observations).
    attached: [Vec<u32>; 6],
    /// Added to place numbers in external ids, so a second world writes new records.
    id_base: u64,
    /// Candidates per run: about 20 (10 to 30), or exactly this many.
    per_run: Option<usize>,
    counts: Counts,
}

impl World {
    fn new(seed: u64, id_base: u64) -> World {
        World {
            rng: Rng::new(seed),
            places: Vec::new(),
            pending: Default::default(),
            attached: Default::default(),
            id_base,
            per_run: None,
            counts: Counts::default(),
        }
    }

    fn new_place(&mut self, founder: usize) -> u32 {
        let r = &mut self.rng;
        let ev =
            founder == OCM || (founder != SPORT_SCOTLAND && founder != COUNCIL && r.chance(0.04));
        let kind = if ev {
            KINDS.len()
        } else {
            r.below(KINDS.len())
        } as u8;
        let brand = (!ev && r.chance(0.12)).then(|| r.below(BRANDS.len()) as u8);
        let district = 1 + r.below(17);
        let postcode = format!(
            "EH{district} {}{}{}",
            r.below(10),
            (b'A' + r.below(26) as u8) as char,
            (b'A' + r.below(26) as u8) as char
        );
        // Which other sources know it: 0 to 3 more (1 to 4 in all), of those that list
        // this kind of place.
        let mut others: Vec<usize> = (0..SOURCES.len())
            .filter(|&s| {
                s != founder
                    && if ev {
                        matches!(s, SERPER | GOOGLE | OSM)
                    } else {
                        s != OCM
                    }
            })
            .collect();
        let mut known_by = 1u8 << founder;
        for _ in 0..r.below(4) {
            if others.is_empty() {
                break;
            }
            let i = r.below(others.len());
            known_by |= 1 << others.swap_remove(i);
        }
        let place = Place {
            kind,
            area: r.below(AREAS.len()) as u8,
            street: r.below(STREETS.len()) as u8,
            number: 1 + r.below(250) as u16,
            brand,
            postcode,
            lat: 55.895 + r.unit() * 0.09,
            lon: -3.33 + r.unit() * 0.27,
            phone: r.below(10_000_000) as u64,
            entity_id: String::new(),
        };
        let p = self.places.len() as u32;
        self.places.push(place);
        for s in 0..SOURCES.len() {
            if s != founder && known_by & (1 << s) != 0 {
                self.pending[s].push(p);
            }
        }
        p
    }

    /// The events of one run, in the order a real run appends them.
    fn run(&mut self) -> Vec<NewEvent> {
        self.counts.runs += 1;
        let run_id = Uuid::from_u128(
            (u128::from(self.rng.next()) << 64 | u128::from(self.rng.next())) & !(0xf << 76)
                | (0x7 << 76),
        );
        let trace_id = format!("{:016x}", self.rng.next());
        let run = run_id.to_string();
        let stream = format!("run/{run_id}");
        let mut run_version = 0u64;
        let mut run_event = |payload: EventPayload, rng: &mut Rng| {
            run_version += 1;
            NewEvent::new(&stream, payload)
                .with_id(derived_event_id(&[
                    "bench-run-event",
                    &run,
                    &run_version.to_string(),
                    &rng.next().to_string(),
                ]))
                .in_run(run_id, &trace_id)
        };
        let mut events = Vec::with_capacity(80);

        // The plan: four of the six sources.
        let mut order: Vec<usize> = (0..SOURCES.len()).collect();
        for i in (1..order.len()).rev() {
            let j = self.rng.below(i + 1);
            order.swap(i, j);
        }
        let (selected, skipped) = order.split_at(4);
        let area = *self.rng.pick(AREAS);
        let kind = self.rng.pick(KINDS);
        let query = format!("{} in {area}", kind.0.to_ascii_lowercase());
        events.push(run_event(
            RunStarted {
                query: query.clone(),
                mode: "discover-many".into(),
                budget_usd: 0.5,
                features: json!({
                    "sports": kind.3,
                    "categories": [kind.1],
                    "brands": [],
                    "areas": [area.to_ascii_lowercase()],
                    "intent": "discover",
                }),
                selected: selected
                    .iter()
                    .map(|&s| PlannedConnector {
                        connector: SOURCES[s].into(),
                        phase: if s == GOOGLE {
                            "enrichment"
                        } else {
                            "discovery"
                        }
                        .into(),
                        reason: format!("covers {} in Edinburgh", kind.1),
                        cost_usd: if s == GOOGLE || s == SERPER {
                            0.032
                        } else {
                            0.0
                        },
                        trust: 0.8,
                    })
                    .collect(),
                skipped: skipped
                    .iter()
                    .map(|&s| SkippedConnector {
                        connector: SOURCES[s].into(),
                        reason: "no coverage for the query's features".into(),
                    })
                    .collect(),
                keep_off_topic: false,
            }
            .into(),
            &mut self.rng,
        ));

        // One response per connector.
        let mut response_hash = [Hash32::ZERO; 6];
        let mut connector_figures = Vec::new();
        for &s in selected {
            let hash = Hash32::of(format!("{run}/{}", SOURCES[s]).as_bytes());
            response_hash[s] = hash;
            let latency_ms = 80 + self.rng.below(900) as u64;
            let cost_usd = if s == GOOGLE || s == SERPER {
                0.032
            } else {
                0.0
            };
            events.push(run_event(
                ConnectorResponded {
                    connector: SOURCES[s].into(),
                    request: RedactedRequest {
                        method: if s == OSM || s == SERPER {
                            "POST"
                        } else {
                            "GET"
                        }
                        .into(),
                        url: format!(
                            "https://api.example.org/{}/search?q={}",
                            SOURCES[s],
                            query.replace(' ', "+")
                        ),
                        headers: vec![("accept".into(), "application/json".into())],
                        body: (s == OSM || s == SERPER)
                            .then(|| format!("{{\"q\":\"{query}\",\"location\":\"Edinburgh\"}}")),
                    },
                    http_status: 200,
                    latency_ms,
                    cost_usd,
                    attempt: 1,
                    payload_hash: hash,
                    payload_bytes: 4_000 + self.rng.below(60_000) as u64,
                    content_type: Some("application/json".into()),
                    transport: "fixture".into(),
                }
                .into(),
                &mut self.rng,
            ));
            connector_figures.push(ConnectorFigures {
                connector: SOURCES[s].into(),
                status: "ok".into(),
                latency_ms,
                candidates: 0,
                cost_usd,
                attempts: 1,
                transport: "fixture".into(),
                error: None,
            });
        }

        // The candidates (about 20 a run).
        let n = self.per_run.unwrap_or_else(|| 10 + self.rng.below(21));
        let mut planned: Vec<PlannedCandidate> = Vec::with_capacity(n);
        let mut in_run: HashSet<String> = HashSet::new();
        let mut newly_attached: Vec<(usize, u32)> = Vec::new();
        for _ in 0..n {
            let si = self.rng.below(selected.len());
            let source = selected[si];
            let roll = self.rng.unit();
            let pc = if roll < 0.03 {
                self.invalid(source)
            } else if roll < 0.08 {
                self.repeat(source, &planned)
            } else if roll < 0.15 {
                self.again(source, &in_run)
            } else {
                None
            };
            let pc = match pc {
                Some(pc) => pc,
                None => self.fresh(source),
            };
            if !in_run.insert(pc.cid.clone()) {
                continue;
            }
            if let Plan::New { place, .. } = pc.plan {
                newly_attached.push((source, place));
            }
            if let Some(c) = connector_figures
                .iter_mut()
                .find(|c| c.connector == SOURCES[source])
            {
                c.candidates += 1;
            }
            planned.push(pc);
        }

        // Stage 1: extraction.
        for (idx, c) in planned.iter().enumerate() {
            events.push(
                NewEvent::new(
                    format!("candidate/{}", c.cid),
                    CandidateExtracted {
                        candidate_id: c.cid.clone(),
                        source: SOURCES[c.source].into(),
                        external_id: c.external_id.clone(),
                        fields: c.fields.clone(),
                        extractor: SOURCES[c.source].into(),
                        extractor_version: 1,
                        payload_hash: response_hash[c.source],
                        skipped_records: if idx == 0 && self.rng.chance(0.2) {
                            vec!["record 17: no coordinates and no address".into()]
                        } else {
                            Vec::new()
                        },
                    },
                )
                .with_id(derived_event_id(&[
                    "CandidateExtracted",
                    &run,
                    SOURCES[c.source],
                    &idx.to_string(),
                ]))
                .in_run(run_id, &trace_id),
            );
        }
        self.counts.extracted += planned.len() as u64;

        // Stages 2 and 3: acceptance and identity, in the same order.
        let (mut accepted, mut rejected, mut created, mut updated) = (0u64, 0u64, 0u64, 0u64);
        for (idx, c) in planned.iter().enumerate() {
            let idx_s = idx.to_string();
            let cstream = format!("candidate/{}", c.cid);
            let id = |kind: &str| derived_event_id(&[kind, &run, &c.cid, &idx_s]);
            let reject = |reason, detail: String, duplicate_of: Option<String>| {
                NewEvent::new(
                    &cstream,
                    CandidateRejected {
                        candidate_id: c.cid.clone(),
                        reason,
                        detail,
                        duplicate_of,
                    },
                )
                .with_id(id("CandidateRejected"))
                .in_run(run_id, &trace_id)
            };
            let accept = |checks: [&str; 2]| {
                NewEvent::new(
                    &cstream,
                    CandidateAccepted {
                        candidate_id: c.cid.clone(),
                        checks: checks.iter().map(|s| s.to_string()).collect(),
                    },
                )
                .with_id(id("CandidateAccepted"))
                .in_run(run_id, &trace_id)
            };
            match &c.plan {
                Plan::Invalid => {
                    events.push(reject(RejectReason::Invalid, "no name".into(), None));
                    rejected += 1;
                    self.counts.rejected_invalid += 1;
                }
                Plan::Repeat { leader } => {
                    events.push(reject(
                        RejectReason::DuplicateInSource,
                        format!(
                            "same site as {} ({leader}) in this {} answer",
                            c.external_id.trim_end_matches(|ch: char| ch != '#'),
                            SOURCES[c.source]
                        ),
                        Some(leader.clone()),
                    ));
                    rejected += 1;
                    self.counts.rejected_dup += 1;
                }
                Plan::Again => {
                    events.push(accept(["valid", "identity already decided"]));
                    accepted += 1;
                    self.counts.reobserved += 1;
                }
                Plan::New { place, founds } => {
                    events.push(accept(["valid", "not a duplicate in this run"]));
                    accepted += 1;
                    let eid = self.places[*place as usize].entity_id.clone();
                    let (decision, score, features) = if *founds {
                        created += 1;
                        self.counts.entities += 1;
                        (
                            MergeOutcome::NewEntity {
                                entity_id: eid.clone(),
                            },
                            0.02 + self.rng.unit() * 0.1,
                            BTreeMap::from([
                                ("name".to_string(), 0.31),
                                ("name_words".to_string(), 0.0),
                                ("distance_m".to_string(), 412.0),
                                ("distance".to_string(), 0.0),
                                ("logit".to_string(), -4.2),
                            ]),
                        )
                    } else {
                        updated += 1;
                        self.counts.existing += 1;
                        (
                            MergeOutcome::ExistingEntity {
                                entity_id: eid.clone(),
                            },
                            0.9 + self.rng.unit() * 0.09,
                            BTreeMap::from([
                                ("name".to_string(), 0.96),
                                ("name_words".to_string(), 2.0),
                                ("distance_m".to_string(), 8.5),
                                ("distance".to_string(), 0.97),
                                ("postcode".to_string(), 1.0),
                                ("phone".to_string(), 1.0),
                                ("address".to_string(), 1.0),
                                ("logit".to_string(), 5.1),
                            ]),
                        )
                    };
                    events.push(
                        NewEvent::new(
                            format!("entity/{eid}"),
                            MergeDecided {
                                candidate_id: c.cid.clone(),
                                decision,
                                score,
                                features,
                                matcher_version: "1".into(),
                                decided_by: "matcher".into(),
                            },
                        )
                        .with_id(derived_event_id(&["MergeDecided", &c.cid, "matcher"]))
                        .in_run(run_id, &trace_id),
                    );
                }
            }
        }
        for (s, p) in newly_attached {
            self.attached[s].push(p);
        }

        events.push(run_event(
            RunCompleted {
                figures: RunFigures {
                    duration_ms: 1_500 + self.rng.below(6_000) as u64,
                    cost_usd: connector_figures.iter().map(|c| c.cost_usd).sum(),
                    connectors: connector_figures,
                    candidates_found: planned.len() as u64,
                    accepted,
                    rejected,
                    entities_created: created,
                    entities_updated: updated,
                    reviews_requested: 0,
                    seen_unchanged: 0,
                },
            }
            .into(),
            &mut self.rng,
        ));
        self.counts.events += events.len() as u64;
        events
    }

    /// A record never seen: a place the source knows but has not reported, or a new place.
    fn fresh(&mut self, source: usize) -> PlannedCandidate {
        let take_pending = !self.pending[source].is_empty() && self.rng.chance(0.85);
        let (p, founds) = if take_pending {
            let i = self.rng.below(self.pending[source].len());
            (self.pending[source].swap_remove(i), false)
        } else {
            (self.new_place(source), true)
        };
        let g = self.id_base + u64::from(p);
        let ext = external_id(g, &self.places[p as usize], source);
        let cid = candidate_id(SOURCES[source], &ext);
        if founds {
            self.places[p as usize].entity_id = entity_id_for(&cid);
        }
        let fields = fields_for(&self.places[p as usize], g, source, &mut self.rng);
        PlannedCandidate {
            cid,
            source,
            external_id: ext,
            fields,
            plan: Plan::New { place: p, founds },
        }
    }

    /// A record this source reported in an earlier run, observed again.
    fn again(&mut self, source: usize, in_run: &HashSet<String>) -> Option<PlannedCandidate> {
        if self.attached[source].is_empty() {
            return None;
        }
        let p = *self.rng.pick(&self.attached[source]);
        let place = &self.places[p as usize];
        let g = self.id_base + u64::from(p);
        let ext = external_id(g, place, source);
        let cid = candidate_id(SOURCES[source], &ext);
        if in_run.contains(&cid) {
            return None;
        }
        let mut fields = fields_for(place, g, source, &mut self.rng);
        if let Some(r) = fields.rating_count.as_mut() {
            *r += 3;
        }
        Some(PlannedCandidate {
            cid,
            source,
            external_id: ext,
            fields,
            plan: Plan::Again,
        })
    }

    /// A second record of the same source at the site of a record kept earlier in the run.
    fn repeat(&mut self, source: usize, planned: &[PlannedCandidate]) -> Option<PlannedCandidate> {
        let kept: Vec<&PlannedCandidate> = planned
            .iter()
            .filter(|c| c.source == source && matches!(c.plan, Plan::New { .. } | Plan::Again))
            .collect();
        if kept.is_empty() {
            return None;
        }
        let leader = *self.rng.pick(&kept);
        let facility = 2 + self.rng.below(3);
        let ext = format!("{}#{facility}", leader.external_id);
        let mut fields = leader.fields.clone();
        fields.lat = fields.lat.map(|v| v + 3e-5);
        if let Some(sport) = ["squash", "table_tennis", "netball"].get(self.rng.below(3)) {
            fields.sports.push(sport.to_string());
            fields.sports.sort();
            fields.sports.dedup();
        }
        Some(PlannedCandidate {
            cid: candidate_id(SOURCES[source], &ext),
            source,
            external_id: ext,
            fields,
            plan: Plan::Repeat {
                leader: leader.cid.clone(),
            },
        })
    }

    /// A record without a name.
    fn invalid(&mut self, source: usize) -> Option<PlannedCandidate> {
        let ext = format!(
            "{}/unnamed-{}",
            SOURCES[source],
            self.rng.next() % 1_000_000_000
        );
        let fields = CandidateFields {
            categories: vec!["pitch".into()],
            lat: Some(55.9 + self.rng.unit() * 0.08),
            lon: Some(-3.3 + self.rng.unit() * 0.2),
            ..CandidateFields::default()
        };
        Some(PlannedCandidate {
            cid: candidate_id(SOURCES[source], &ext),
            source,
            external_id: ext,
            fields,
            plan: Plan::Invalid,
        })
    }

    /// Now and then an admin sets (or clears) a field of an entity: not part of a run.
    fn maybe_override(&mut self) -> Option<NewEvent> {
        if self.places.is_empty() || !self.rng.chance(0.05) {
            return None;
        }
        let p = self.rng.below(self.places.len());
        let eid = self.places[p].entity_id.clone();
        if eid.is_empty() {
            return None;
        }
        self.counts.overrides += 1;
        let (field, value) = match self.rng.below(4) {
            0 => (
                "phone",
                Some(json!(format!("+44131{:07}", self.rng.below(10_000_000)))),
            ),
            1 => (
                "name",
                Some(json!(format!("{} (Main Site)", self.places[p].name()))),
            ),
            2 => ("opening_hours", Some(json!("Mo-Su 09:00-17:00"))),
            _ => ("phone", None),
        };
        Some(
            NewEvent::new(
                format!("entity/{eid}"),
                FieldOverridden {
                    entity_id: eid.clone(),
                    field: field.into(),
                    value,
                    reason: "confirmed by phone with the venue".into(),
                    by: "admin@example.org".into(),
                },
            )
            .with_id(derived_event_id(&[
                "FieldOverridden",
                &eid,
                &self.counts.overrides.to_string(),
            ])),
        )
    }
}

/// Writes runs until the log holds at least `n` events; returns the time spent appending.
fn generate(store: &SqliteEventStore, world: &mut World, n: u64) -> Duration {
    let mut buf: Vec<NewEvent> = Vec::with_capacity(2 * BATCH);
    let mut appending = Duration::ZERO;
    let mut flush = |buf: &mut Vec<NewEvent>, all: bool| {
        while buf.len() >= BATCH || (all && !buf.is_empty()) {
            let rest = buf.split_off(buf.len().min(BATCH));
            let events = std::mem::replace(buf, rest);
            let t = Instant::now();
            store
                .append(AppendBatch {
                    events,
                    expected: BTreeMap::new(),
                })
                .expect("append");
            appending += t.elapsed();
        }
    };
    while world.counts.events < n {
        buf.extend(world.run());
        if let Some(ev) = world.maybe_override() {
            world.counts.events += 1;
            buf.push(ev);
        }
        flush(&mut buf, false);
    }
    flush(&mut buf, true);
    appending
}

// ---------------------------------------------------------------------------------------
// Measurements.

fn policy() -> TrustPolicy {
    TrustPolicy::parse(SHIPPED_POLICY, "trust.toml", &SOURCES).expect("the shipped policy parses")
}

fn rate(n: u64, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64().max(1e-9)
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1_048_576.0
}

/// A `/proc/self/status` figure in KiB (`VmHWM` peak RSS, `VmRSS` current).
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn file_size(path: &Path) -> u64 {
    let mut total = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
    for suffix in ["-wal", "-shm"] {
        let mut p = path.as_os_str().to_owned();
        p.push(suffix);
        total += std::fs::metadata(PathBuf::from(p))
            .map(|m| m.len())
            .unwrap_or(0);
    }
    total
}

/// The plain baseline: a rusqlite scan of seq, kind and payload, each payload decoded as
/// an untyped JSON value.
fn plain_scan(log: &Path) -> (u64, Duration) {
    let conn = Connection::open_with_flags(
        log,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .expect("open the log read-only");
    let t = Instant::now();
    let mut n = 0u64;
    let mut stmt = conn
        .prepare("SELECT seq, kind, payload FROM events ORDER BY seq")
        .expect("prepare");
    let mut rows = stmt.query([]).expect("query");
    while let Some(row) = rows.next().expect("row") {
        let seq: i64 = row.get(0).expect("seq");
        let kind = row.get_ref(1).expect("kind").as_str().expect("kind text");
        let bytes = row
            .get_ref(2)
            .expect("payload")
            .as_blob()
            .expect("payload blob");
        let v: serde_json::Value = serde_json::from_slice(bytes).expect("payload json");
        std::hint::black_box((seq, kind, v));
        n += 1;
    }
    (n, t.elapsed())
}

/// `key=value` pairs of the child's `CHILD` line.
fn run_child(mode: &str, data_dir: &Path) -> BTreeMap<String, String> {
    let exe = std::env::current_exe().expect("current exe");
    let out = Command::new(exe)
        .env(CHILD_ENV, format!("{mode}:{}", data_dir.display()))
        .output()
        .expect("run the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {mode} failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find(|l| l.starts_with("CHILD "))
        .unwrap_or_else(|| panic!("child {mode} printed no figures:\n{stdout}"));
    line.split_whitespace()
        .skip(1)
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn wall_s_of(m: &BTreeMap<String, String>) -> f64 {
    num(m, "wall_us") / 1e6
}

fn num(m: &BTreeMap<String, String>, key: &str) -> f64 {
    m.get(key)
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("child figure {key} missing"))
}

/// Child: only the rebuild, so VmHWM is the rebuild's.
fn child_rebuild(data_dir: &Path) {
    let rss_start = status_kib("VmRSS:");
    let store = SqliteEventStore::open(data_dir.join("log.sqlite3"), OpenMode::ReadOnly)
        .expect("open the log");
    let policy = policy();
    let projections = Projections::new(data_dir);
    let t = Instant::now();
    let report = projections
        .rebuild(&store, &policy, &mut |_, _| {})
        .expect("rebuild");
    let wall = t.elapsed();
    let db = projections
        .current_path()
        .expect("current")
        .expect("a database");
    let (user_s, sys_s) = cpu_seconds();
    println!(
        "CHILD wall_us={} events={} entities={} db_bytes={} hwm_kib={} rss_start_kib={} \
         rss_end_kib={} user_s={user_s:.2} sys_s={sys_s:.2}",
        wall.as_micros(),
        report.events,
        report.entities_written,
        file_size(&db),
        status_kib("VmHWM:"),
        rss_start,
        status_kib("VmRSS:"),
    );
}

/// The policy changes the re-merge lines measure, against the shipped policy.
#[derive(Clone, Copy)]
enum PolicyChange {
    /// serper's trust goes from 0.75 to 0.60: the entities with a serper record.
    OneSource,
    /// The conflict gap goes from 0.15 to 0.20 (and serper as above): every entity.
    Every,
}

fn changed_policy(change: PolicyChange) -> TrustPolicy {
    let mut text = SHIPPED_POLICY.replace(
        "[sources.serper]\ntrust = 0.75",
        "[sources.serper]\ntrust = 0.60",
    );
    assert_ne!(
        text, SHIPPED_POLICY,
        "the shipped policy still has serper at 0.75"
    );
    if let PolicyChange::Every = change {
        text = text.replace(
            "conflict_trust_gap_max = 0.15",
            "conflict_trust_gap_max = 0.20",
        );
    }
    TrustPolicy::parse(&text, "bench.toml", &SOURCES).expect("the changed policy parses")
}

/// Counts changes without keeping them.
struct CountChanges(u64);

impl trustfold_projections::ChangeSink for CountChanges {
    fn change(&mut self, _: &trustfold_projections::FieldChange) -> std::io::Result<()> {
        self.0 += 1;
        Ok(())
    }
}

/// Child: a re-merge (or its dry run) after a policy change, alone, so VmHWM is its own.
fn child_remerge(data_dir: &Path, change: PolicyChange, dry: bool) {
    let store = SqliteEventStore::open(data_dir.join("log.sqlite3"), OpenMode::ReadOnly)
        .expect("open the log");
    let policy = changed_policy(change);
    let projections = Projections::new(data_dir);
    let t = Instant::now();
    let (examined, changed) = if dry {
        let mut sink = CountChanges(0);
        let s = projections
            .dry_run(&store, &policy, &SOURCES, &mut sink)
            .expect("dry run");
        (s.entities_examined, sink.0)
    } else {
        let r = projections
            .remerge(&store, &policy, &SOURCES, &mut |_, _| {})
            .expect("re-merge");
        assert_eq!(r.mode, "remerge", "{r:?}");
        (r.entities_remerged, r.entities_changed)
    };
    let wall = t.elapsed();
    let (user_s, sys_s) = cpu_seconds();
    println!(
        "CHILD wall_us={} examined={examined} changed={changed} hwm_kib={} user_s={user_s:.2} \
         sys_s={sys_s:.2}",
        wall.as_micros(),
        status_kib("VmHWM:"),
    );
}

/// User and system CPU seconds of this process so far (`/proc/self/stat`, at the usual
/// 100 clock ticks a second).
fn cpu_seconds() -> (f64, f64) {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which is in parentheses): utime is the 12th, stime the 13th.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let field = |i: usize| -> f64 {
        rest.split_whitespace()
            .nth(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
            / 100.0
    };
    (field(11), field(12))
}

/// The JSON a row of `write_rows` carries for one merged entity (the text columns).
fn encode_entity(m: &MergedEntity, es: &EntityState) -> usize {
    let mut bytes = serde_json::to_string(&m.sources).map_or(0, |s| s.len());
    bytes += serde_json::to_string(&m.conflicts()).map_or(0, |s| s.len());
    bytes += serde_json::to_string(m).map_or(0, |s| s.len());
    bytes += serde_json::to_string(es).map_or(0, |s| s.len());
    bytes
}

/// Child: the rebuild's phases with the crate's public pieces.
fn child_phases(data_dir: &Path) {
    let store = SqliteEventStore::open(data_dir.join("log.sqlite3"), OpenMode::ReadOnly)
        .expect("open the log");
    let policy = policy();

    // 1. Reading alone (the store's prefetching scan, no payload decode).
    let t = Instant::now();
    let mut n = 0u64;
    for ev in store.read_raw_from(1) {
        std::hint::black_box(ev.expect("read"));
        n += 1;
    }
    let read = t.elapsed();

    // 2. The fold: read + `ProjectionEvent::from_stored` + `apply`, decode and apply timed
    //    apart (reading is the rest of the loop).
    let mut state = State {
        untracked: true,
        ..State::default()
    };
    let (mut decode, mut applying) = (Duration::ZERO, Duration::ZERO);
    let t = Instant::now();
    for ev in store.read_raw_from(1) {
        let ev = ev.expect("read");
        let t1 = Instant::now();
        let pe = ProjectionEvent::from_stored(&ev).expect("decode");
        let t2 = Instant::now();
        apply(&mut state, pe);
        applying += t2.elapsed();
        decode += t2 - t1;
    }
    let fold = t.elapsed();
    let hwm_fold = status_kib("VmHWM:");

    // 3. Merging every entity, split over threads as `merge_many` does (CPU time beside
    //    wall time shows what the threads bought).
    let ids: Vec<&String> = state.entities.keys().collect();
    let one = |eid: &String| -> Option<(MergedEntity, &EntityState)> {
        let es = state.entities.get(eid)?;
        let members: Vec<&Candidate> = es
            .members
            .iter()
            .filter_map(|c| state.candidates.get(c))
            .collect();
        Some((merge_values(es, &members, &policy), es))
    };
    let threads = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(8);
    let (user0, sys0) = cpu_seconds();
    let t = Instant::now();
    let chunk = ids.len().div_ceil(threads).max(1);
    let merged: Vec<_> = std::thread::scope(|s| {
        let handles: Vec<_> = ids
            .chunks(chunk)
            .map(|part| s.spawn(move || part.iter().filter_map(|e| one(e)).collect::<Vec<_>>()))
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("merge"))
            .collect()
    });
    let merge_n = t.elapsed();
    let (user1, sys1) = cpu_seconds();
    let merge_cpu = (user1 - user0) + (sys1 - sys0);
    let hwm_merged = status_kib("VmHWM:");
    // Provenance rows are merged per entity when read, not stored: count what one full
    // merge of every entity would produce, for scale.
    let provenance_rows: usize = ids
        .iter()
        .filter_map(|eid| {
            let es = state.entities.get(*eid)?;
            let members: Vec<&Candidate> = es
                .members
                .iter()
                .filter_map(|c| state.candidates.get(c))
                .collect();
            Some(merge_entity(es, &members, &policy).provenance.len())
        })
        .sum();

    // 4. JSON of every row (what `write_rows` serialises before binding).
    let t = Instant::now();
    let mut json_bytes = 0usize;
    for c in state.candidates.values() {
        json_bytes += serde_json::to_string(c).map_or(0, |s| s.len());
    }
    for r in state.runs.values() {
        json_bytes += serde_json::to_string(r).map_or(0, |s| s.len());
        json_bytes += r.started_at.to_rfc3339().len();
    }
    for (m, es) in merged.iter() {
        json_bytes += encode_entity(m, es);
    }
    let encode = t.elapsed();
    let conflicts: usize = merged.iter().map(|(m, _)| m.conflicts().len()).sum();
    let (n_candidates, n_entities, n_runs) = (
        state.candidates.len(),
        state.entities.len(),
        state.runs.len(),
    );

    // 5. Freeing it all (the rebuild drops the merged rows, then the state).
    let t = Instant::now();
    drop(merged);
    drop(ids);
    drop(state);
    let free = t.elapsed();

    println!(
        "CHILD events={n} read_us={} fold_us={} decode_us={} apply_us={} merge_cpu_s={merge_cpu:.2} \
         merge_threads={threads} mergen_us={} encode_us={} free_us={} json_bytes={json_bytes} \
         candidates={n_candidates} entities={n_entities} runs={n_runs} \
         provenance_rows={provenance_rows} conflict_fields={conflicts} hwm_fold_kib={hwm_fold} \
         hwm_merged_kib={hwm_merged}",
        read.as_micros(),
        fold.as_micros(),
        decode.as_micros(),
        applying.as_micros(),
        merge_n.as_micros(),
        encode.as_micros(),
        free.as_micros(),
    );
}

fn main() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        let (mode, dir) = spec.split_once(':').expect("mode:dir");
        match mode {
            "rebuild" => child_rebuild(Path::new(dir)),
            "phases" => child_phases(Path::new(dir)),
            "plain" => {
                let (n, t) = plain_scan(&Path::new(dir).join("log.sqlite3"));
                println!("CHILD events={n} wall_us={}", t.as_micros());
            }
            "dryrun_all" => child_remerge(Path::new(dir), PolicyChange::Every, true),
            "remerge_one" => child_remerge(Path::new(dir), PolicyChange::OneSource, false),
            "remerge_all" => child_remerge(Path::new(dir), PolicyChange::Every, false),
            other => panic!("unknown child mode {other}"),
        }
        return;
    }

    let n: u64 = std::env::var("TRUSTFOLD_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let temp = tempfile::tempdir().expect("tempdir");
    let data_dir = match std::env::var_os("TRUSTFOLD_BENCH_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            std::fs::create_dir_all(&d).expect("create TRUSTFOLD_BENCH_DIR");
            d
        }
        None => temp.path().to_path_buf(),
    };
    let log_path = data_dir.join("log.sqlite3");
    let store = SqliteEventStore::open(&log_path, OpenMode::ReadWrite).expect("open the log");
    let mut world = World::new(SEED, 0);

    // 1. The log.
    let existing = store.head().expect("head").map_or(0, |h| h.seq);
    if existing == 0 {
        let t = Instant::now();
        let appending = generate(&store, &mut world, n);
        let c = &world.counts;
        println!(
            "generated {} events in {:.1} s ({:.0} events/s appending): {} runs, {} extractions \
             ({} re-observed), {} entities founded, {} joined, {} rejected invalid, \
             {} rejected duplicate_in_source, {} overrides",
            c.events,
            t.elapsed().as_secs_f64(),
            rate(c.events, appending),
            c.runs,
            c.extracted,
            c.reobserved,
            c.entities,
            c.existing,
            c.rejected_invalid,
            c.rejected_dup,
            c.overrides
        );
    } else {
        println!(
            "reusing the log in {} ({existing} events)",
            data_dir.display()
        );
        // The catch-up runs below must be new facts: another seed, other record ids.
        world = World::new(SEED ^ existing.rotate_left(17), 1_000_000_000 + existing);
    }
    let total = store.head().expect("head").expect("a log").seq;
    let log_bytes = file_size(&log_path);

    // 2. Baselines.
    let (plain_n, plain) = plain_scan(&log_path);
    assert_eq!(plain_n, total, "the plain scan sees every event");
    let plain_rate = rate(plain_n, plain);
    let t = Instant::now();
    let mut typed_n = 0u64;
    for ev in store.read_from(1) {
        std::hint::black_box(ev.expect("decode"));
        typed_n += 1;
    }
    let typed = t.elapsed();
    assert_eq!(typed_n, total);
    let typed_rate = rate(typed_n, typed);

    // 3 and 4. The rebuild, alone in a child process.
    let rss_parent = status_kib("VmRSS:");
    let r = run_child("rebuild", &data_dir);
    let wall = Duration::from_micros(num(&r, "wall_us") as u64);
    let rebuilt = num(&r, "events") as u64;
    assert_eq!(rebuilt, total, "the rebuild folds every event");
    let entities = num(&r, "entities") as u64;
    assert!(entities > 0, "the rebuild writes entities");
    let rebuild_rate = rate(rebuilt, wall);

    // A policy change on that database: the dry run first (it writes nothing), then a
    // re-merge after one source's trust changes, then one that touches every entity.
    let dry = run_child("dryrun_all", &data_dir);
    let one = run_child("remerge_one", &data_dir);
    let all = run_child("remerge_all", &data_dir);

    // Phases on the same log, in another child (the rebuild's database is left as it is).
    let p = run_child("phases", &data_dir);
    assert_eq!(num(&p, "events") as u64, total);

    // 5. Incremental catch-up: one more run at a time, then nothing new.
    let policy = policy();
    let projections = Projections::new(&data_dir);
    let mut catch_up_ms = Vec::new();
    let mut catch_up_events = 0;
    // A typical run: 21 candidates, about 66 events.
    world.per_run = Some(21);
    for _ in 0..CATCH_UP_RUNS {
        let events = world.run();
        let k = events.len();
        store
            .append(AppendBatch {
                events,
                expected: BTreeMap::new(),
            })
            .expect("append one run");
        let t = Instant::now();
        let rep = projections
            .catch_up(&store, &policy, &SOURCES, &mut |_, _| {})
            .expect("catch up");
        catch_up_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(rep.events, k as u64, "the catch-up folds the new run");
        catch_up_events += k;
    }
    let mut noop_ms = Vec::new();
    for _ in 0..CATCH_UP_RUNS {
        let t = Instant::now();
        let rep = projections
            .catch_up(&store, &policy, &SOURCES, &mut |_, _| {})
            .expect("no-op catch up");
        noop_ms.push(t.elapsed().as_secs_f64() * 1e3);
        assert_eq!(rep.events, 0);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let first_catch_up = catch_up_ms[0];
    let catch_up_med = median(&mut catch_up_ms);
    let noop_med = median(&mut noop_ms);

    let us = |k: &str| num(&p, k) / 1e6;
    let (read_s, fold_s, decode_s, apply_s) = (
        us("read_us"),
        us("fold_us"),
        us("decode_us"),
        us("apply_us"),
    );
    let (merge_cpu_s, mergen_s) = (num(&p, "merge_cpu_s"), us("mergen_us"));
    let wall_s = wall.as_secs_f64();
    let pct = |s: f64| 100.0 * s / wall_s;

    println!();
    println!(
        "trustfold-projections rebuild benchmark: {total} events, log {:.1} MiB, \
         shipped trust policy, {} threads",
        mib(log_bytes),
        num(&p, "merge_threads")
    );
    println!(
        "  {} candidates, {} entities, {} runs, {} provenance rows, {} conflicting fields",
        num(&p, "candidates"),
        num(&p, "entities"),
        num(&p, "runs"),
        num(&p, "provenance_rows"),
        num(&p, "conflict_fields")
    );
    println!(
        "plain scan+decode  {:>10.0} events/s   (rusqlite SELECT seq,kind,payload + serde_json::Value; {:.2} s)",
        plain_rate,
        plain.as_secs_f64()
    );
    println!(
        "store.read_from    {:>10.0} events/s   plain baseline {:>10.0} events/s   ratio {:.2}",
        typed_rate,
        plain_rate,
        typed_rate / plain_rate
    );
    println!(
        "rebuild --full     {:>10.0} events/s   plain baseline {:>10.0} events/s   ratio {:.2} (goal >= 0.50)",
        rebuild_rate,
        plain_rate,
        rebuild_rate / plain_rate
    );
    println!(
        "  wall             {:>10.2} s          plain baseline {:>10.2} s",
        wall_s,
        plain.as_secs_f64()
    );
    println!(
        "  cpu              {:>10.2} s user  {:.2} s system (child process)",
        num(&r, "user_s"),
        num(&r, "sys_s")
    );
    println!(
        "  entities written {:>10}            projection db {:.1} MiB ({:.2}x the log)",
        entities,
        mib(num(&r, "db_bytes") as u64),
        num(&r, "db_bytes") / log_bytes as f64
    );
    println!(
        "  peak RSS         {:>10.1} MiB        (child process; {:.1} MiB at its start; this process holds {:.1} MiB)",
        num(&r, "hwm_kib") / 1024.0,
        num(&r, "rss_start_kib") / 1024.0,
        rss_parent as f64 / 1024.0
    );
    let remerge_line = |label: &str, m: &BTreeMap<String, String>, goal: &str| {
        let w = num(m, "wall_us") / 1e6;
        println!(
            "{label:<18} {:>10.2} s          plain baseline {:>10.2} s   ratio {:.2} (baseline / it; {goal}); \
             {} entities examined, {} changed; peak RSS {:.1} MiB",
            w,
            plain.as_secs_f64(),
            plain.as_secs_f64() / w,
            num(m, "examined"),
            num(m, "changed"),
            num(m, "hwm_kib") / 1024.0
        );
    };
    remerge_line(
        "re-merge, 1 source",
        &one,
        "the entities with a serper record",
    );
    remerge_line("re-merge, every", &all, "goal >= 1.00");
    remerge_line("dry run, every", &dry, "goal: no slower than the re-merge");
    println!(
        "  full rebuild / re-merge of every entity: {:.2}x the time",
        wall_s_of(&r) / (num(&all, "wall_us") / 1e6)
    );
    println!(
        "catch-up           {:>10.1} ms         one run of ~{} events (median of {CATCH_UP_RUNS} runs; first {:.1} ms)",
        catch_up_med,
        catch_up_events / CATCH_UP_RUNS,
        first_catch_up
    );
    println!(
        "catch-up (no-op)   {:>10.2} ms         (median of {CATCH_UP_RUNS})",
        noop_med
    );
    println!("pieces (public pieces, separate child; % of the full rebuild's wall):");
    println!(
        "  read (raw scan alone)       {:>7.2} s  ({:>10.0} events/s)",
        read_s,
        rate(total, Duration::from_secs_f64(read_s))
    );
    println!(
        "  fold = read+decode+apply    {:>7.2} s  {:>5.1}%   of which decode {:.2} s, apply {:.2} s, reading {:.2} s",
        fold_s,
        pct(fold_s),
        decode_s,
        apply_s,
        (fold_s - decode_s - apply_s).max(0.0)
    );
    println!(
        "  merge ({} threads)           {:>7.2} s  {:>5.1}%   ({:.2} s of CPU)",
        num(&p, "merge_threads"),
        mergen_s,
        pct(mergen_s),
        merge_cpu_s
    );
    println!(
        "  peak RSS after fold {:.1} MiB, after merge {:.1} MiB",
        num(&p, "hwm_fold_kib") / 1024.0,
        num(&p, "hwm_merged_kib") / 1024.0
    );
}
