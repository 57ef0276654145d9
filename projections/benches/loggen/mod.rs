//! The 1M-event bench log: a deterministic world of places and the runs that describe
//! them, written as the pipeline writes them (see `rebuild.rs` for its shape). Shared by
//! the projections' rebuild benchmark and the server's load benchmark
//! (`benches/serve_load.rs`), which include this file.

#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::json;
use trustfold_events::*;
use uuid::Uuid;

pub const SOURCES: [&str; 6] = [
    "serper",
    "google_places",
    "openstreetmap",
    "sport_scotland",
    "edinburgh_council",
    "open_charge_map",
];
pub const SERPER: usize = 0;
pub const GOOGLE: usize = 1;
pub const OSM: usize = 2;
pub const SPORT_SCOTLAND: usize = 3;
pub const COUNCIL: usize = 4;
pub const OCM: usize = 5;

/// Events per append (batches cut across runs; no stream expectations).
pub const BATCH: usize = 1_000;
/// Fixed seed: every bench run writes the same log (up to recorded times).
pub const SEED: u64 = 0x7e57_f01d_2026_0001;

// ---------------------------------------------------------------------------------------
// A small deterministic generator (xorshift64*), no dependencies.

pub struct Rng(pub u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

// ---------------------------------------------------------------------------------------
// The world: places, which sources know them, and how each source describes them.

/// (name suffix, category, entity class, sports)
pub const KINDS: &[(&str, &str, &str, &[&str])] = &[
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
pub const EV_KIND: (&str, &str, &str, &[&str]) =
    ("EV Charging Point", "charging_station", "ev_charger", &[]);

pub const AREAS: &[&str] = &[
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

pub const STREETS: &[&str] = &[
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

pub const BRANDS: &[&str] = &[
    "Powerleague",
    "PureGym",
    "Edinburgh Leisure",
    "The Gym Group",
    "Goals",
    "David Lloyd",
];
pub const EV_OPERATORS: &[&str] = &[
    "ChargePlace Scotland",
    "Pod Point",
    "InstaVolt",
    "Tesla",
    "bp pulse",
];

/// Everything about one place that stays the same whichever source describes it.
pub struct Place {
    pub kind: u8,
    /// `KINDS.len()` for a charging point.
    pub area: u8,
    pub street: u8,
    pub number: u16,
    pub brand: Option<u8>,
    pub postcode: String,
    pub lat: f64,
    pub lon: f64,
    pub phone: u64,
    pub entity_id: String,
}

impl Place {
    pub fn kind(
        &self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    ) {
        KINDS.get(self.kind as usize).copied().unwrap_or(EV_KIND)
    }

    pub fn is_ev(&self) -> bool {
        self.kind as usize == KINDS.len()
    }

    pub fn name(&self) -> String {
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

    pub fn web_slug(&self) -> String {
        self.name()
            .to_ascii_lowercase()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect()
    }
}

/// The candidate id scheme of `src/resolve/mod.rs` (`c_` + 20 hex of blake3).
pub fn prefixed_hash(prefix: &str, parts: &[&str]) -> String {
    let mut hasher = blake3::Hasher::new();
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part.as_bytes());
    }
    let hex = hasher.finalize().to_hex();
    format!("{prefix}{}", &hex[..20])
}

pub fn candidate_id(source: &str, external_id: &str) -> String {
    prefixed_hash("c_", &["trustfold/candidate/v1", source, external_id])
}

pub fn entity_id_for(founding_candidate_id: &str) -> String {
    prefixed_hash("e_", &["trustfold/entity/v1", founding_candidate_id])
}

pub fn external_id(p: u64, place: &Place, source: usize) -> String {
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
pub fn fields_for(place: &Place, p: u64, source: usize, rng: &mut Rng) -> CandidateFields {
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
pub struct Counts {
    pub runs: u64,
    pub events: u64,
    pub extracted: u64,
    pub entities: u64,
    pub existing: u64,
    pub reobserved: u64,
    pub rejected_invalid: u64,
    pub rejected_dup: u64,
    pub overrides: u64,
}

/// One candidate of a run, planned before its events are written.
pub enum Plan {
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

pub struct PlannedCandidate {
    pub cid: String,
    pub source: usize,
    pub external_id: String,
    pub fields: CandidateFields,
    pub plan: Plan,
}

pub struct World {
    pub rng: Rng,
    pub places: Vec<Place>,
    /// Per source: places it knows that it has not reported yet.
    pub pending: [Vec<u32>; 6],
    /// Per source: places whose record from it is attached (for re-observations).
    pub attached: [Vec<u32>; 6],
    /// Added to place numbers in external ids, so a second world writes new records.
    pub id_base: u64,
    /// Candidates per run: about 20 (10 to 30), or exactly this many.
    pub per_run: Option<usize>,
    pub counts: Counts,
}

impl World {
    pub fn new(seed: u64, id_base: u64) -> World {
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

    pub fn new_place(&mut self, founder: usize) -> u32 {
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
    pub fn run(&mut self) -> Vec<NewEvent> {
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
    pub fn fresh(&mut self, source: usize) -> PlannedCandidate {
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
    pub fn again(&mut self, source: usize, in_run: &HashSet<String>) -> Option<PlannedCandidate> {
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
    pub fn repeat(
        &mut self,
        source: usize,
        planned: &[PlannedCandidate],
    ) -> Option<PlannedCandidate> {
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
    pub fn invalid(&mut self, source: usize) -> Option<PlannedCandidate> {
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
    pub fn maybe_override(&mut self) -> Option<NewEvent> {
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
pub fn generate(store: &SqliteEventStore, world: &mut World, n: u64) -> Duration {
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
