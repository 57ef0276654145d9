//! Matching quality on real data: `cargo bench --bench matching_quality`.
//!
//! Drives the real `trustfold` binary in a fresh data dir:
//!   1. imports the sportscotland register subset (`fixtures/matching/register_edinburgh_tennis_and_pitches.csv`,
//!      617 rows, one per court or pitch, so one site repeats) with `--format csv --map ...`;
//!   2. imports the OpenStreetMap tennis subset (`fixtures/matching/osm_edinburgh_tennis.json`, a real
//!      Overpass answer) with `--format native`;
//!   3. reads `CandidateExtracted`, `CandidateRejected` and `MergeDecided` back with `trustfold events --json`
//!      and builds the predicted clustering (candidate -> entity; a `duplicate_in_source` rejection joins
//!      the candidate it duplicates; `needs_review` counts as not merged);
//!   4. scores it against the hand-made truth `fixtures/matching/labels.csv` (see LABELS.md there):
//!      pairwise precision, recall and F1 for register-internal pairs, OSM-register pairs and all pairs,
//!      beside a naive same-run baseline (same normalised name within 100 m), and lists the false
//!      positives and negatives.
//!
//! It prints and never asserts. Set `TRUSTFOLD_BENCH_KEEP=1` to keep the data dir for inspection.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_trustfold");
const REGISTER_FILE: &str = "register_edinburgh_tennis_and_pitches.csv";
const OSM_FILE: &str = "osm_edinburgh_tennis.json";
const LABELS_FILE: &str = "labels.csv";
/// The `--source` of the register import; its candidates carry this source.
const REGISTER_SOURCE: &str = "sport_scotland_register";
const OSM_SOURCE: &str = "openstreetmap";
const REGISTER_MAP: &str =
    "id=external_id,name=name,address=address,postcode=postcode,town=locality,\
                            lat=lat,lng=lon,facility_sub_type=categories";
/// The naive baseline: the same normalised name within this distance.
const BASELINE_RADIUS_M: f64 = 100.0;
/// At most this many false positives / negatives / reviews are listed.
const LIST_MAX: usize = 20;
const GOAL_F1: f64 = 0.95;

// ------------------------------------------------------------------------------------
// Scratch data dir

struct Scratch {
    dir: PathBuf,
}

impl Scratch {
    fn new() -> Scratch {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let dir = std::env::temp_dir().join(format!(
            "trustfold-matching-quality-{}-{nanos}",
            std::process::id()
        ));
        if let Err(e) = std::fs::create_dir_all(&dir) {
            eprintln!(
                "matching_quality: cannot create the data dir {}: {e}",
                dir.display()
            );
            std::process::exit(1);
        }
        Scratch { dir }
    }

    fn cleanup(&self) {
        if std::env::var_os("TRUSTFOLD_BENCH_KEEP").is_some() {
            eprintln!("matching_quality: data dir kept at {}", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Stops the bench with a clear message (and the data dir removed unless kept).
    fn fail(&self, msg: &str) -> ! {
        eprintln!("matching_quality: FAILED: {msg}");
        self.cleanup();
        std::process::exit(1);
    }

    /// Runs `trustfold --data-dir D <args>`; on failure prints its stderr and stops.
    fn trustfold(&self, args: &[&str]) -> (Output, Duration) {
        let mut cmd = Command::new(BIN);
        cmd.arg("--data-dir").arg(&self.dir).args(args);
        // Nothing here may reach the network or another data dir.
        for var in [
            "TRUSTFOLD_DATA_DIR",
            "TRUSTFOLD_LIVE",
            "TRUSTFOLD_FIXTURES_DIR",
        ] {
            cmd.env_remove(var);
        }
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        let shown = format!(
            "trustfold --data-dir {} {}",
            self.dir.display(),
            args.join(" ")
        );
        let start = Instant::now();
        let out = match cmd.output() {
            Ok(out) => out,
            Err(e) => self.fail(&format!("could not start `{shown}` ({BIN}): {e}")),
        };
        let took = start.elapsed();
        if !out.status.success() {
            let stdout = String::from_utf8_lossy(&out.stdout);
            let tail: String = {
                let lines: Vec<&str> = stdout.lines().collect();
                lines[lines.len().saturating_sub(20)..].join("\n")
            };
            eprintln!("matching_quality: `{shown}` exited with {}", out.status);
            eprintln!("--- stderr ---\n{}", String::from_utf8_lossy(&out.stderr));
            eprintln!("--- stdout (last 20 lines) ---\n{tail}");
            self.fail("the trustfold binary failed (see above); is the import command and matcher in place?");
        }
        (out, took)
    }

    /// The events of one kind, as NDJSON documents.
    fn events(&self, kind: &str) -> Vec<Value> {
        let (out, _) = self.trustfold(&["events", "--json", "--kind", kind]);
        let text = String::from_utf8_lossy(&out.stdout);
        let mut events = Vec::new();
        for (i, line) in text.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            match serde_json::from_str::<Value>(line) {
                Ok(v) => events.push(v),
                Err(e) => self.fail(&format!(
                    "`events --kind {kind}` line {}: not JSON ({e}): {line:.200}",
                    i + 1
                )),
            }
        }
        events
    }
}

// ------------------------------------------------------------------------------------
// Fixture parsing (std only)

/// RFC 4180 CSV: quoted fields, doubled quotes, commas and newlines inside quotes.
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    field.push('"');
                    chars.next();
                }
                '"' => quoted = false,
                _ => field.push(c),
            }
            continue;
        }
        match c {
            '"' => quoted = true,
            ',' => row.push(std::mem::take(&mut field)),
            '\r' => {}
            '\n' => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            _ => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// One record of the labelled set.
#[derive(Clone, Debug)]
struct Record {
    /// `register` or `openstreetmap`, as in labels.csv.
    label_source: String,
    external_id: String,
    place: String,
    name: String,
    lat: Option<f64>,
    lon: Option<f64>,
}

impl Record {
    fn is_register(&self) -> bool {
        self.label_source == "register"
    }
    fn candidate_source(&self) -> &str {
        if self.is_register() {
            REGISTER_SOURCE
        } else {
            OSM_SOURCE
        }
    }
}

fn read_text(path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn csv_table(path: &Path) -> Result<Vec<HashMap<String, String>>, String> {
    let rows = parse_csv(&read_text(path)?);
    let Some((header, body)) = rows.split_first() else {
        return Err(format!("{}: empty", path.display()));
    };
    let mut out = Vec::new();
    for (i, r) in body.iter().enumerate() {
        if r.len() != header.len() {
            return Err(format!(
                "{} line {}: {} fields, header has {}",
                path.display(),
                i + 2,
                r.len(),
                header.len()
            ));
        }
        out.push(header.iter().cloned().zip(r.iter().cloned()).collect());
    }
    Ok(out)
}

/// (name, lat, lon) of each named OSM element, keyed `type/id`; a way's point is the mean
/// of its distinct nodes (as in build_labels.py).
/// (name, lat, lon).
type NamedPoint = (String, Option<f64>, Option<f64>);

fn osm_points(path: &Path) -> Result<HashMap<String, NamedPoint>, String> {
    let doc: Value =
        serde_json::from_str(&read_text(path)?).map_err(|e| format!("{}: {e}", path.display()))?;
    let elements = doc["elements"]
        .as_array()
        .ok_or_else(|| format!("{}: no elements", path.display()))?;
    let mut nodes: HashMap<i64, (f64, f64)> = HashMap::new();
    for e in elements {
        if e["type"] == "node" {
            if let (Some(id), Some(lat), Some(lon)) =
                (e["id"].as_i64(), e["lat"].as_f64(), e["lon"].as_f64())
            {
                nodes.insert(id, (lat, lon));
            }
        }
    }
    let mut out = HashMap::new();
    for e in elements {
        let Some(name) = e["tags"]["name"].as_str() else {
            continue;
        };
        let key = format!(
            "{}/{}",
            e["type"].as_str().unwrap_or("?"),
            e["id"].as_i64().unwrap_or(0)
        );
        let point = match e["type"].as_str() {
            Some("node") => e["lat"].as_f64().zip(e["lon"].as_f64()),
            _ if e["center"].is_object() => {
                e["center"]["lat"].as_f64().zip(e["center"]["lon"].as_f64())
            }
            Some("way") => {
                let mut seen = Vec::new();
                for n in e["nodes"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_i64)
                {
                    if !seen.contains(&n) {
                        seen.push(n);
                    }
                }
                let pts: Vec<(f64, f64)> =
                    seen.iter().filter_map(|n| nodes.get(n).copied()).collect();
                if pts.is_empty() {
                    None
                } else {
                    let k = pts.len() as f64;
                    Some((
                        pts.iter().map(|p| p.0).sum::<f64>() / k,
                        pts.iter().map(|p| p.1).sum::<f64>() / k,
                    ))
                }
            }
            _ => None,
        };
        out.insert(
            key,
            (name.to_string(), point.map(|p| p.0), point.map(|p| p.1)),
        );
    }
    Ok(out)
}

fn load_records(dir: &Path) -> Result<Vec<Record>, String> {
    let register: HashMap<String, HashMap<String, String>> = csv_table(&dir.join(REGISTER_FILE))?
        .into_iter()
        .map(|r| (r["id"].clone(), r))
        .collect();
    let osm = osm_points(&dir.join(OSM_FILE))?;
    let mut records = Vec::new();
    for row in csv_table(&dir.join(LABELS_FILE))? {
        let (source, ext, place) = (
            row["source"].clone(),
            row["external_id"].clone(),
            row["place"].clone(),
        );
        let (name, lat, lon) = match source.as_str() {
            "register" => {
                let r = register
                    .get(&ext)
                    .ok_or_else(|| format!("labels.csv: {ext} is not in {REGISTER_FILE}"))?;
                (
                    r["name"].clone(),
                    r["lat"].parse().ok(),
                    r["lng"].parse().ok(),
                )
            }
            "openstreetmap" => osm
                .get(&ext)
                .cloned()
                .ok_or_else(|| format!("labels.csv: {ext} is not in {OSM_FILE}"))?,
            other => return Err(format!("labels.csv: unknown source {other:?}")),
        };
        records.push(Record {
            label_source: source,
            external_id: ext,
            place,
            name,
            lat,
            lon,
        });
    }
    Ok(records)
}

// ------------------------------------------------------------------------------------
// Clustering and scoring

struct UnionFind {
    parent: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> UnionFind {
        UnionFind {
            parent: (0..n).collect(),
        }
    }
    fn find(&mut self, x: usize) -> usize {
        let mut r = x;
        while self.parent[r] != r {
            r = self.parent[r];
        }
        let mut y = x;
        while self.parent[y] != r {
            let next = self.parent[y];
            self.parent[y] = r;
            y = next;
        }
        r
    }
    fn union(&mut self, a: usize, b: usize) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            self.parent[ra.max(rb)] = ra.min(rb);
        }
    }
}

fn haversine_m(a: (f64, f64), b: (f64, f64)) -> f64 {
    let r = 6_371_008.8_f64;
    let (p1, p2) = (a.0.to_radians(), b.0.to_radians());
    let (dp, dl) = (p2 - p1, (b.1 - a.1).to_radians());
    let h = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * r * h.sqrt().min(1.0).asin()
}

fn distance(a: &Record, b: &Record) -> Option<f64> {
    Some(haversine_m((a.lat?, a.lon?), (b.lat?, b.lon?)))
}

fn normalise_name(s: &str) -> String {
    s.to_lowercase()
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

#[derive(Clone, Copy, Default)]
struct Counts {
    true_pairs: u64,
    predicted: u64,
    tp: u64,
}

impl Counts {
    fn fp(&self) -> u64 {
        self.predicted - self.tp
    }
    fn fn_(&self) -> u64 {
        self.true_pairs - self.tp
    }
    fn precision(&self) -> Option<f64> {
        (self.predicted > 0).then(|| self.tp as f64 / self.predicted as f64)
    }
    fn recall(&self) -> Option<f64> {
        (self.true_pairs > 0).then(|| self.tp as f64 / self.true_pairs as f64)
    }
    fn f1(&self) -> Option<f64> {
        let (p, r) = (self.precision()?, self.recall()?);
        Some(if p + r == 0.0 {
            0.0
        } else {
            2.0 * p * r / (p + r)
        })
    }
}

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Kind {
    Register,
    Cross,
    Osm,
}

fn kind_of(a: &Record, b: &Record) -> Kind {
    match (a.is_register(), b.is_register()) {
        (true, true) => Kind::Register,
        (false, false) => Kind::Osm,
        _ => Kind::Cross,
    }
}

/// Pairwise counts per kind, and the wrong pairs (i, j) for listing.
/// (counts per kind, false positives, false negatives); a pair is (record i, record j).
type Scored = (
    BTreeMap<Kind, Counts>,
    Vec<(usize, usize)>,
    Vec<(usize, usize)>,
);

fn score(records: &[Record], cluster: &[usize]) -> Scored {
    let mut by_kind: BTreeMap<Kind, Counts> = BTreeMap::new();
    let (mut fps, mut fns) = (Vec::new(), Vec::new());
    for i in 0..records.len() {
        for j in i + 1..records.len() {
            let truth = records[i].place == records[j].place;
            let pred = cluster[i] == cluster[j];
            if !truth && !pred {
                continue;
            }
            let c = by_kind
                .entry(kind_of(&records[i], &records[j]))
                .or_default();
            if truth {
                c.true_pairs += 1;
            }
            if pred {
                c.predicted += 1;
            }
            match (truth, pred) {
                (true, true) => c.tp += 1,
                (false, true) => fps.push((i, j)),
                (true, false) => fns.push((i, j)),
                _ => {}
            }
        }
    }
    (by_kind, fps, fns)
}

/// The names of the real records the matcher's own tests were written from: every quoted
/// name in the "Cases from the labelled real data" part of `src/resolve/tests.rs` (those
/// tests rebuild the records by hand, so their names are what ties them to the labels).
fn names_the_tests_use() -> std::collections::BTreeSet<String> {
    let src = include_str!("../src/resolve/tests.rs");
    let from = src
        .find("// Cases from the labelled real data")
        .unwrap_or(src.len());
    src[from..]
        .split('"')
        .skip(1)
        .step_by(2)
        .map(normalise_name)
        .filter(|n| n.split(' ').count() >= 2)
        .collect()
}

/// Pair counts for the pairs `keep` selects.
fn score_pairs(
    records: &[Record],
    cluster: &[usize],
    keep: impl Fn(usize, usize) -> bool,
) -> Counts {
    let mut c = Counts::default();
    for i in 0..records.len() {
        for j in i + 1..records.len() {
            if !keep(i, j) {
                continue;
            }
            let truth = records[i].place == records[j].place;
            let pred = cluster[i] == cluster[j];
            c.true_pairs += u64::from(truth);
            c.predicted += u64::from(pred);
            c.tp += u64::from(truth && pred);
        }
    }
    c
}

fn total(by_kind: &BTreeMap<Kind, Counts>, kinds: &[Kind]) -> Counts {
    let mut t = Counts::default();
    for k in kinds {
        if let Some(c) = by_kind.get(k) {
            t.true_pairs += c.true_pairs;
            t.predicted += c.predicted;
            t.tp += c.tp;
        }
    }
    t
}

fn fmt(x: Option<f64>) -> String {
    x.map(|v| format!("{v:.3}")).unwrap_or_else(|| "n/a".into())
}

/// Wrong pairs grouped by the two sites involved (a register site repeats per court), worst first.
fn list_pairs(
    title: &str,
    pairs: &[(usize, usize)],
    records: &[Record],
    note: &dyn Fn(usize, usize) -> String,
) {
    println!("\n{title}: {} record pairs", pairs.len());
    if pairs.is_empty() {
        return;
    }
    let site = |r: &Record| {
        format!(
            "{} [{}]",
            r.name,
            if r.is_register() {
                "register"
            } else {
                r.external_id.as_str()
            }
        )
    };
    let mut groups: BTreeMap<(String, String), (u64, usize, usize)> = BTreeMap::new();
    for &(i, j) in pairs {
        let (a, b) = if records[i].is_register() && !records[j].is_register() {
            (j, i)
        } else {
            (i, j)
        };
        let key = (site(&records[a]), site(&records[b]));
        groups.entry(key).or_insert((0, a, b)).0 += 1;
    }
    let mut rows: Vec<_> = groups.into_iter().collect();
    rows.sort_by(|x, y| y.1 .0.cmp(&x.1 .0).then_with(|| x.0.cmp(&y.0)));
    println!("  {:>5}  {:>7}  record A  <->  record B", "pairs", "dist m");
    for ((sa, sb), (n, a, b)) in rows.iter().take(LIST_MAX) {
        let d = distance(&records[*a], &records[*b])
            .map(|d| format!("{d:.0}"))
            .unwrap_or_else(|| "?".into());
        println!("  {n:>5}  {d:>7}  {sa}  <->  {sb}{}", note(*a, *b));
    }
    if rows.len() > LIST_MAX {
        println!("  ... and {} more site pairs", rows.len() - LIST_MAX);
    }
}

/// The first number found under any of these keys in the import's JSON report.
fn find_number(v: &Value, key: &str) -> Option<f64> {
    match v {
        Value::Object(m) => {
            if let Some(x) = m.get(key).and_then(Value::as_f64) {
                return Some(x);
            }
            m.values().find_map(|x| find_number(x, key))
        }
        Value::Array(a) => a.iter().find_map(|x| find_number(x, key)),
        _ => None,
    }
}

fn node(key: String, index: &mut HashMap<String, usize>) -> usize {
    let n = index.len();
    *index.entry(key).or_insert(n)
}

fn clip(v: &Value) -> String {
    v.to_string().chars().take(300).collect()
}

fn main() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join("matching");
    let records = match load_records(&fixtures) {
        Ok(r) => r,
        Err(e) => {
            eprintln!(
                "matching_quality: FAILED: reading the labelled set in {}: {e}",
                fixtures.display()
            );
            std::process::exit(1);
        }
    };
    let scratch = Scratch::new();
    println!("matching_quality: trustfold binary {BIN}");
    println!("matching_quality: data dir {}", scratch.dir.display());

    // 1-2. The two imports, through the real binary.
    let register_path = fixtures.join(REGISTER_FILE);
    let osm_path = fixtures.join(OSM_FILE);
    let (reg_out, reg_time) = scratch.trustfold(&[
        "import",
        "--source",
        REGISTER_SOURCE,
        "--format",
        "csv",
        "--map",
        REGISTER_MAP,
        register_path.to_str().unwrap_or_default(),
        "--json",
    ]);
    let (osm_out, osm_time) = scratch.trustfold(&[
        "import",
        "--source",
        OSM_SOURCE,
        "--format",
        "native",
        osm_path.to_str().unwrap_or_default(),
        "--json",
    ]);

    // 3. What the pipeline decided.
    let extracted = scratch.events("CandidateExtracted");
    let rejected = scratch.events("CandidateRejected");
    let merges = scratch.events("MergeDecided");

    // Nodes: candidates, then entities.
    let mut index: HashMap<String, usize> = HashMap::new();
    let mut by_source_ext: HashMap<(String, String), Vec<String>> = HashMap::new();
    for e in &extracted {
        let p = &e["payload"];
        let (Some(cid), Some(source), Some(ext)) = (
            p["candidate_id"].as_str(),
            p["source"].as_str(),
            p["external_id"].as_str(),
        ) else {
            scratch.fail(&format!(
                "a CandidateExtracted event without candidate_id/source/external_id: {}",
                clip(e)
            ));
        };
        node(format!("c:{cid}"), &mut index);
        let list = by_source_ext
            .entry((source.to_string(), ext.to_string()))
            .or_default();
        if !list.iter().any(|c| c == cid) {
            list.push(cid.to_string());
        }
    }
    // The last decision per candidate wins (a person's answer comes after the matcher's).
    let mut decision: HashMap<String, (String, Option<String>, f64)> = HashMap::new();
    for e in &merges {
        let p = &e["payload"];
        let Some(cid) = p["candidate_id"].as_str() else {
            continue;
        };
        let outcome = p["decision"]["outcome"].as_str().unwrap_or("?").to_string();
        let entity = p["decision"]["entity_id"].as_str().map(str::to_string);
        decision.insert(
            cid.to_string(),
            (outcome, entity, p["score"].as_f64().unwrap_or(f64::NAN)),
        );
    }
    let mut duplicate_of: Vec<(String, String)> = Vec::new();
    let mut rejected_other: HashMap<String, String> = HashMap::new();
    let mut reject_reasons: BTreeMap<String, u64> = BTreeMap::new();
    for e in &rejected {
        let p = &e["payload"];
        let Some(cid) = p["candidate_id"].as_str() else {
            continue;
        };
        let reason = p["reason"].as_str().unwrap_or("?");
        *reject_reasons.entry(reason.to_string()).or_default() += 1;
        match p["duplicate_of"].as_str() {
            Some(first) if first != cid => duplicate_of.push((cid.to_string(), first.to_string())),
            Some(_) => {}
            None => {
                rejected_other.insert(
                    cid.to_string(),
                    format!("{reason}: {}", p["detail"].as_str().unwrap_or("")),
                );
            }
        }
    }
    let mut keys: Vec<(String, String)> = Vec::new();
    for (cid, (_, entity, _)) in &decision {
        if let Some(eid) = entity {
            keys.push((format!("c:{cid}"), format!("e:{eid}")));
        }
    }
    for (cid, first) in &duplicate_of {
        keys.push((format!("c:{cid}"), format!("c:{first}")));
    }
    keys.sort();
    for (a, b) in &keys {
        node(a.clone(), &mut index);
        node(b.clone(), &mut index);
    }
    let mut uf = UnionFind::new(index.len());
    for (a, b) in &keys {
        uf.union(index[a], index[b]);
    }

    // Records -> predicted cluster. A record with no candidate, or whose candidate was
    // rejected or sent to review, is a cluster of its own.
    let mut cluster = Vec::with_capacity(records.len());
    let mut missing: Vec<usize> = Vec::new();
    let mut several = 0usize;
    let mut claimed: HashMap<String, usize> = HashMap::new();
    let mut review_records: Vec<usize> = Vec::new();
    let mut rejected_records: Vec<(usize, String)> = Vec::new();
    let base = index.len();
    for (i, r) in records.iter().enumerate() {
        let cands = by_source_ext.get(&(r.candidate_source().to_string(), r.external_id.clone()));
        match cands.and_then(|c| c.first()) {
            None => {
                missing.push(i);
                cluster.push(base + i);
            }
            Some(cid) => {
                if cands.map_or(0, Vec::len) > 1 {
                    several += 1;
                }
                claimed.insert(cid.clone(), i);
                // A candidate's own node is unique to it: one sent to review, or rejected as
                // invalid, stays alone unless a duplicate row of it joined it.
                cluster.push(uf.find(index[&format!("c:{cid}")]));
                if let Some((outcome, _, _)) = decision.get(cid.as_str()) {
                    if outcome == "needs_review" {
                        review_records.push(i);
                    }
                }
                if let Some(why) = rejected_other.get(cid.as_str()) {
                    rejected_records.push((i, why.clone()));
                }
            }
        }
    }
    let unlabelled: usize = by_source_ext
        .iter()
        .filter(|((s, _), _)| s == REGISTER_SOURCE || s == OSM_SOURCE)
        .flat_map(|(_, c)| c.iter())
        .filter(|c| !claimed.contains_key(*c))
        .count();

    // 4. Scores.
    let (by_kind, fps, fns) = score(&records, &cluster);

    // Baseline: the same normalised name within BASELINE_RADIUS_M (transitively closed).
    let mut buf = UnionFind::new(records.len());
    let names: Vec<String> = records.iter().map(|r| normalise_name(&r.name)).collect();
    for i in 0..records.len() {
        for j in i + 1..records.len() {
            if !names[i].is_empty()
                && names[i] == names[j]
                && distance(&records[i], &records[j]).is_some_and(|d| d <= BASELINE_RADIUS_M)
            {
                buf.union(i, j);
            }
        }
    }
    let base_cluster: Vec<usize> = (0..records.len()).map(|i| buf.find(i)).collect();
    let (base_by_kind, _, _) = score(&records, &base_cluster);

    // -- Report --------------------------------------------------------------------------
    let n_reg = records.iter().filter(|r| r.is_register()).count();
    let n_places = records
        .iter()
        .map(|r| r.place.as_str())
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let n_pred_clusters = cluster
        .iter()
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    println!("\n== trustfold matching quality (real data: sportscotland register x OpenStreetMap, Edinburgh) ==");
    println!(
        "records {} (register {n_reg}, openstreetmap {}); true places {n_places}; predicted clusters {n_pred_clusters}",
        records.len(),
        records.len() - n_reg
    );
    println!(
        "events: CandidateExtracted {}, CandidateRejected {} {:?}, MergeDecided {}",
        extracted.len(),
        rejected.len(),
        reject_reasons,
        merges.len()
    );
    println!(
        "needs_review (counted as not merged): {}; rejected other than as a duplicate: {}; records with no candidate: {}; \
         candidates with no label: {unlabelled}; records with several candidates: {several}",
        review_records.len(),
        rejected_records.len(),
        missing.len()
    );
    for (label, out) in [
        ("register import", &reg_out),
        ("openstreetmap import", &osm_out),
    ] {
        if let Ok(v) = serde_json::from_slice::<Value>(&out.stdout) {
            let f = |k| {
                find_number(&v, k)
                    .map(|x| format!("{x}"))
                    .unwrap_or_else(|| "?".into())
            };
            println!(
                "{label}: accepted {}, rejected {}, entities created {}, updated {}, reviews {}",
                f("accepted"),
                f("rejected"),
                f("entities_created"),
                f("entities_updated"),
                f("reviews_requested")
            );
        }
    }
    println!(
        "wall time: register import {:.3} s ({} rows), openstreetmap import {:.3} s ({} features), total {:.3} s",
        reg_time.as_secs_f64(),
        n_reg,
        osm_time.as_secs_f64(),
        records.len() - n_reg,
        (reg_time + osm_time).as_secs_f64()
    );

    println!(
        "\n{:<28} {:>10} {:>10} {:>8} {:>8} {:>9} {:>7} {:>7} {:>13}",
        "pairs", "true", "predicted", "FP", "FN", "precision", "recall", "F1", "baseline F1"
    );
    let rows: [(&str, Vec<Kind>); 4] = [
        ("(a) register-internal", vec![Kind::Register]),
        ("(b) OSM <-> register", vec![Kind::Cross]),
        ("    OSM-internal", vec![Kind::Osm]),
        ("(c) all", vec![Kind::Register, Kind::Cross, Kind::Osm]),
    ];
    for (label, kinds) in &rows {
        let c = total(&by_kind, kinds);
        let b = total(&base_by_kind, kinds);
        println!(
            "{label:<28} {:>10} {:>10} {:>8} {:>8} {:>9} {:>7} {:>7} {:>13}",
            c.true_pairs,
            c.predicted,
            c.fp(),
            c.fn_(),
            fmt(c.precision()),
            fmt(c.recall()),
            fmt(c.f1()),
            fmt(b.f1())
        );
    }
    // The records the matcher's tests were written from, apart from the rest: a score on
    // pairs the rules were tuned on says less than one on pairs they never saw.
    let test_names = names_the_tests_use();
    let seen: Vec<bool> = records
        .iter()
        .map(|r| test_names.contains(&normalise_name(&r.name)))
        .collect();
    let n_seen = seen.iter().filter(|s| **s).count();
    for (label, want_seen) in [
        ("    pairs with a test record", true),
        ("    pairs with none", false),
    ] {
        let keep = |i: usize, j: usize| (seen[i] || seen[j]) == want_seen;
        let c = score_pairs(&records, &cluster, keep);
        let b = score_pairs(&records, &base_cluster, keep);
        println!(
            "{label:<28} {:>10} {:>10} {:>8} {:>8} {:>9} {:>7} {:>7} {:>13}",
            c.true_pairs,
            c.predicted,
            c.fp(),
            c.fn_(),
            fmt(c.precision()),
            fmt(c.recall()),
            fmt(c.f1()),
            fmt(b.f1())
        );
    }
    println!(
        "({n_seen} of {} records are ones src/resolve/tests.rs was written from, by name)",
        records.len()
    );
    let all = total(&by_kind, &[Kind::Register, Kind::Cross, Kind::Osm]);
    let cross = total(&by_kind, &[Kind::Cross]);
    println!(
        "\ngoal F1 >= {GOAL_F1}: all {} ({}), OSM <-> register {} ({})",
        fmt(all.f1()),
        if all.f1().is_some_and(|f| f >= GOAL_F1) {
            "met"
        } else {
            "NOT met"
        },
        fmt(cross.f1()),
        if cross.f1().is_some_and(|f| f >= GOAL_F1) {
            "met"
        } else {
            "NOT met"
        },
    );
    println!(
        "baseline: same normalised name within {BASELINE_RADIUS_M:.0} m, computed here on the same records \
         (register points; OSM way = mean of its nodes)"
    );

    let pred_note = |a: usize, b: usize| -> String {
        let entity_of = |i: usize| -> String {
            let r = &records[i];
            by_source_ext
                .get(&(r.candidate_source().to_string(), r.external_id.clone()))
                .and_then(|c| c.first())
                .map(|cid| match decision.get(cid.as_str()) {
                    Some((o, e, s)) => format!(
                        "{o}{} {s:.2}",
                        e.as_deref().map(|e| format!(" {e}")).unwrap_or_default()
                    ),
                    None if rejected_other.contains_key(cid.as_str()) => "rejected".into(),
                    None => "duplicate".into(),
                })
                .unwrap_or_else(|| "no candidate".into())
        };
        format!("   ({} | {})", entity_of(a), entity_of(b))
    };
    list_pairs(
        "False positives (merged, but different places)",
        &fps,
        &records,
        &pred_note,
    );
    list_pairs(
        "False negatives (the same place, not merged)",
        &fns,
        &records,
        &pred_note,
    );

    if !review_records.is_empty() {
        println!("\nSent to review ({}):", review_records.len());
        for &i in review_records.iter().take(LIST_MAX) {
            let r = &records[i];
            println!(
                "  {} [{} {}] place {}",
                r.name, r.label_source, r.external_id, r.place
            );
        }
    }
    if !rejected_records.is_empty() {
        println!(
            "\nRejected (not as duplicates) ({}):",
            rejected_records.len()
        );
        for (i, why) in rejected_records.iter().take(LIST_MAX) {
            let r = &records[*i];
            println!("  {} [{} {}]: {why}", r.name, r.label_source, r.external_id);
        }
    }
    if !missing.is_empty() {
        println!("\nRecords with no CandidateExtracted ({}):", missing.len());
        for &i in missing.iter().take(LIST_MAX) {
            let r = &records[i];
            println!("  {} [{} {}]", r.name, r.label_source, r.external_id);
        }
    }
    scratch.cleanup();
}
