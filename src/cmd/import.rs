//! `trustfold import --source NAME [--format native|csv|ndjson] [--map COL=FIELD,...] FILE`:
//! a recorded response or a dump (a council spreadsheet, an OCM export) appended as
//! source data and processed like a run.
//!
//! The whole file is read and extracted before anything is appended: a bad file (wrong
//! encoding, a missing mapped column, ragged rows, one id on two rows that disagree) is an
//! error naming the lines, and the log is left exactly as it was.
//!
//! An import is a run: it holds the run's lock, ends with `RunCompleted`, `RunFailed` or
//! `RunCancelled` (SIGINT/SIGTERM, exit 130), and records in its `RunStarted` how the file
//! was read, so `trustfold resume` can finish an import whose process died by reading the
//! stored payload again ([`resume`]).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::ValueEnum;
use serde::{Deserialize, Serialize};
use trustfold_events::{
    Blobs, ConnectorFigures, ConnectorResponded, EventPayload, EventStore, PlannedConnector,
    RecordedEvent, RedactedRequest, RunFailed, RunFigures, RunStarted,
};
use uuid::Uuid;

use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;
use crate::extract::{extractor_for, tabular, Extraction};
use crate::ingest::lifecycle::{catch_panic, failpoint, Shutdown};
use crate::ingest::{self, stages, RunHeader, RunRecorder};
use trustfold_normalize::phone::Region;

use crate::source::{valid_source, SOURCE_NAME_CHARS_MAX};

/// Most ids with disagreeing records named in the refusal of a file (the count covers
/// the rest).
pub const DUPLICATE_IDS_LISTED_MAX: usize = 10;

/// Longest `--locality`, in characters ("Llanfairpwllgwyngyll" is 20; a sentence is a
/// mistake).
pub const LOCALITY_CHARS_MAX: usize = 100;

/// `--locality` checked: trimmed, not empty, at most [`LOCALITY_CHARS_MAX`] characters, no
/// control characters.
fn valid_locality(given: &str) -> std::result::Result<String, String> {
    let name = given.trim();
    if name.is_empty() {
        return Err("is empty".into());
    }
    if name.chars().count() > LOCALITY_CHARS_MAX {
        return Err(format!("is longer than {LOCALITY_CHARS_MAX} characters"));
    }
    if name.chars().any(char::is_control) {
        return Err("holds a control character".into());
    }
    Ok(name.to_string())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The source's own wire format (a saved Overpass, WFS, ArcGIS, Places or OCM answer).
    Native,
    /// Comma-separated values with a header row; needs --map.
    Csv,
    /// One JSON object per line; needs --map.
    Ndjson,
}

/// What to do when one external id is on several records that disagree.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnDuplicate {
    /// Refuse the file, naming the lines (an id names one record).
    #[default]
    Refuse,
    /// The first record with the id wins; the others are skipped, with a note.
    KeepFirst,
    /// The last record with the id wins; the others are skipped, with a note.
    KeepLast,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The source the records come from, e.g. `sport_scotland` or `council_spreadsheet`.
    #[arg(long)]
    pub source: String,
    #[arg(long, value_enum, default_value_t = Format::Native)]
    pub format: Format,
    /// Column mapping for csv/ndjson, e.g. `id=external_id,name=name,addr=address,city=locality,phone=phone`.
    #[arg(long)]
    pub map: Option<String>,
    /// When one external id is on records that disagree: refuse the file (the default),
    /// or say which record wins.
    #[arg(long, value_enum, default_value_t = OnDuplicate::Refuse)]
    pub on_duplicate: OnDuplicate,
    /// The country whose national format the file writes phone numbers (and postcodes) in,
    /// e.g. `US`: a two-letter code. Default: the trust policy's `region` for the source,
    /// else the connector's (GB for the six connectors), else the policy's `[default]`
    /// region; with none, a number without its country code is kept as written.
    #[arg(long)]
    pub region: Option<String>,
    /// Each record of the file is one establishment (a food hygiene register lists every
    /// outlet of an airport apart, under one name): two records with the same name are
    /// never made one place, nor dropped as one site listed twice. Adds the source to the
    /// data dir's `matching.toml` `distinct_sources` for this run.
    #[arg(long)]
    pub distinct_records: bool,
    /// The town or city of the file's records that name none, e.g. `Edinburgh` for an
    /// extract of one city's features: such a record can then be found by its name in that
    /// locality. Records that give a locality keep theirs.
    #[arg(long, value_name = "NAME")]
    pub locality: Option<String>,
    /// The file to import.
    pub file: PathBuf,
    /// Print the run report as one JSON document.
    #[arg(long)]
    pub json: bool,
}

/// How an import reads its file, recorded in its `RunStarted` (as `features`): what
/// `resume` needs to read the stored payload again the same way.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ImportSpec {
    pub source: String,
    pub format: Format,
    /// The file's name (not its path: a path may say more about the machine than needed).
    pub file: String,
    #[serde(default)]
    pub map: Option<String>,
    #[serde(default)]
    pub on_duplicate: OnDuplicate,
    /// The region its records were read in (a two-letter code; empty: none). Imports
    /// recorded before regions existed read British numbers only: absent is GB.
    #[serde(default = "legacy_region")]
    pub region: String,
    /// `--distinct-records`. Absent (false) in imports recorded before it existed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub distinct_records: bool,
    /// `--locality`, as given (trimmed). Absent in imports recorded before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locality: Option<String>,
}

fn legacy_region() -> String {
    Region::GB.to_string()
}

impl ImportSpec {
    /// The region recorded, `None` for none (or, from a damaged record, one unknown).
    fn region(&self) -> Option<Region> {
        self.region.parse().ok()
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    let meta =
        std::fs::metadata(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))?;
    if !meta.is_file() {
        return Err(bad_input(format!("{}: not a regular file", path.display())));
    }
    let max = trustfold_events::limits::PAYLOAD_BYTES_MAX as u64;
    if meta.len() > max {
        return Err(bad_input(format!(
            "{}: {} bytes is over the import limit of {max} bytes (PAYLOAD_BYTES_MAX); split the file",
            path.display(),
            meta.len()
        )));
    }
    std::fs::read(path).map_err(|e| bad_input(format!("{}: {e}", path.display())))
}

/// Reads `bytes` as `spec` says; returns the extraction, the extractor's name and version.
/// Messages name the file as `file` (the path the user gave, or the recorded name).
fn extract(spec: &ImportSpec, bytes: &[u8], file: &str) -> Result<(Extraction, String, u32)> {
    let (extraction, name, version) = match spec.format {
        Format::Native => {
            if spec.map.is_some() {
                return Err(bad_input("--map applies to --format csv or ndjson only"));
            }
            let ex = extractor_for(&spec.source).ok_or_else(|| {
                bad_input(format!(
                    "no native format is known for source {:?}; use --format csv or ndjson with --map",
                    spec.source
                ))
            })?;
            let extraction = ex
                .extract(bytes, spec.region())
                .map_err(|e| bad_input(format!("{file}: {e}")))?;
            (extraction, ex.source().to_string(), ex.version())
        }
        Format::Csv | Format::Ndjson => {
            let map = spec
                .map
                .as_deref()
                .ok_or_else(|| bad_input("--format csv and ndjson need --map COLUMN=FIELD,..."))?;
            let map = tabular::parse_map(map).map_err(|e| bad_input(format!("--map: {e}")))?;
            let extraction = if spec.format == Format::Csv {
                tabular::extract_csv(bytes, &map, spec.region())
            } else {
                tabular::extract_ndjson(bytes, &map, spec.region())
            }
            .map_err(|e| bad_input(format!("{file}: {e}")))?;
            let name = if spec.format == Format::Csv {
                "tabular_csv"
            } else {
                "tabular_ndjson"
            };
            (
                extraction,
                name.to_string(),
                tabular::TABULAR_EXTRACTOR_VERSION,
            )
        }
    };
    let mut extraction = settle_duplicates(extraction, spec.on_duplicate, file)?;
    if let Some(locality) = &spec.locality {
        for record in &mut extraction.records {
            let fields = &mut record.fields;
            if fields
                .locality
                .as_deref()
                .is_none_or(|l| l.trim().is_empty())
            {
                fields.locality = Some(locality.clone());
            }
        }
    }
    Ok((extraction, name, version))
}

/// Where a record is, for messages: its line, or its place among the records read.
fn position(record: &crate::extract::Extracted, idx: usize) -> String {
    match record.line {
        Some(line) => format!("line {line}"),
        None => format!("record {}", idx + 1),
    }
}

/// The first field where two records' values differ, as `field: a vs b`.
fn first_difference(
    a: &trustfold_events::CandidateFields,
    b: &trustfold_events::CandidateFields,
) -> String {
    let (a, b) = (
        serde_json::to_value(a).unwrap_or_default(),
        serde_json::to_value(b).unwrap_or_default(),
    );
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return String::new();
    };
    let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
    keys.sort();
    keys.dedup();
    let null = serde_json::Value::Null;
    keys.into_iter()
        .find_map(|k| {
            let (x, y) = (a.get(k).unwrap_or(&null), b.get(k).unwrap_or(&null));
            (x != y).then(|| {
                let clip =
                    |v: &serde_json::Value| v.to_string().chars().take(60).collect::<String>();
                format!("{k} {} vs {}", clip(x), clip(y))
            })
        })
        .unwrap_or_default()
}

/// One external id on several records that disagree is refused (an id names one record:
/// keeping the last silently would lose the others, and both would be decided on), unless
/// `choice` says which one wins. Records that repeat one another exactly are left to the
/// stages (rejected as duplicates in the run).
fn settle_duplicates(
    mut extraction: Extraction,
    choice: OnDuplicate,
    file: &str,
) -> Result<Extraction> {
    let mut by_id: std::collections::HashMap<&str, Vec<usize>> = std::collections::HashMap::new();
    for (i, r) in extraction.records.iter().enumerate() {
        by_id.entry(r.external_id.as_str()).or_default().push(i);
    }
    let mut conflicts: Vec<Vec<usize>> = by_id
        .into_values()
        .filter(|idx| {
            idx.len() > 1
                && idx
                    .iter()
                    .any(|&i| extraction.records[i].fields != extraction.records[idx[0]].fields)
        })
        .collect();
    if conflicts.is_empty() {
        return Ok(extraction);
    }
    conflicts.sort();
    let records = &extraction.records;
    if choice == OnDuplicate::Refuse {
        let listed: Vec<String> = conflicts
            .iter()
            .take(DUPLICATE_IDS_LISTED_MAX)
            .map(|idx| {
                let differs = idx
                    .iter()
                    .find(|&&i| records[i].fields != records[idx[0]].fields)
                    .map(|&i| first_difference(&records[idx[0]].fields, &records[i].fields))
                    .unwrap_or_default();
                let places: Vec<String> = idx.iter().map(|&i| position(&records[i], i)).collect();
                format!(
                    "id {:?} on {} ({differs})",
                    records[idx[0]]
                        .external_id
                        .chars()
                        .take(80)
                        .collect::<String>(),
                    places.join(" and ")
                )
            })
            .collect();
        let more = conflicts.len().saturating_sub(DUPLICATE_IDS_LISTED_MAX);
        return Err(bad_input(format!(
            "{file}: {} external id{} on records that disagree: {}{}; an id names one record: \
             fix the file, or pass --on-duplicate keep-first or keep-last to say which wins \
             (nothing was imported)",
            conflicts.len(),
            if conflicts.len() == 1 { " is" } else { "s are" },
            listed.join("; "),
            if more > 0 {
                format!("; and {more} more")
            } else {
                String::new()
            }
        )));
    }
    let mut dropped = vec![false; records.len()];
    let mut notes = Vec::new();
    for idx in &conflicts {
        let winner = if choice == OnDuplicate::KeepFirst {
            idx[0]
        } else {
            idx[idx.len() - 1]
        };
        for &i in idx.iter().filter(|&&i| i != winner) {
            dropped[i] = true;
            notes.push(format!(
                "{}: {}: the same id as {}, which is kept (--on-duplicate {})",
                position(&records[i], i),
                records[i].external_id.chars().take(80).collect::<String>(),
                position(&records[winner], winner),
                if choice == OnDuplicate::KeepFirst {
                    "keep-first"
                } else {
                    "keep-last"
                }
            ));
        }
    }
    let mut i = 0;
    extraction.records.retain(|_| {
        i += 1;
        !dropped[i - 1]
    });
    extraction.skipped.extend(notes);
    Ok(extraction)
}

pub fn run(data_dir: &Place, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let trust_policy = crate::project::load_policy(trust, data_dir)?;
    if !valid_source(&args.source) {
        return Err(bad_input(format!(
            "--source {:?}: use lowercase letters, digits and _ (at most {SOURCE_NAME_CHARS_MAX})",
            args.source
        )));
    }
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let given = match &args.region {
        Some(code) => Some(
            code.parse::<Region>()
                .map_err(|e| bad_input(format!("--region: {e}")))?,
        ),
        None => None,
    };
    let region = crate::source::region_for(&args.source, given, Some(&trust_policy));
    let locality = match &args.locality {
        Some(given) => Some(
            valid_locality(given).map_err(|e| bad_input(format!("--locality {given:?}: {e}")))?,
        ),
        None => None,
    };
    let spec = ImportSpec {
        source: args.source.clone(),
        format: args.format,
        file: file_name.clone(),
        map: args.map.clone(),
        on_duplicate: args.on_duplicate,
        region: region.map(|r| r.to_string()).unwrap_or_default(),
        distinct_records: args.distinct_records,
        locality,
    };
    let bytes = read_file(&args.file)?;
    let (extraction, extractor, version) =
        extract(&spec, &bytes, &args.file.display().to_string())?;
    if extraction.records.is_empty() {
        return Err(bad_input(format!(
            "{}: no records to import ({} skipped{})",
            args.file.display(),
            extraction.skipped.len(),
            extraction
                .skipped
                .first()
                .map(|s| format!(", e.g. {s}"))
                .unwrap_or_default()
        )));
    }
    let dir = DataDir::writable(data_dir)?;
    let match_config = dir.match_config()?;
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals()?;
    let store = dir.write_log()?;
    let blobs = dir.blobs()?;
    let header = header(&spec);
    let clock = Instant::now();
    let mut rec = RunRecorder::new(&*store, &*blobs, &header.query);
    let _lock = dir.run_lock(&rec.run_id.to_string())?;
    rec.record(RunStarted {
        query: header.query.clone(),
        mode: "import".into(),
        budget_usd: 0.0,
        features: serde_json::to_value(&spec)?,
        selected: vec![PlannedConnector {
            connector: args.source.clone(),
            phase: "import".into(),
            reason: format!("import of {file_name}"),
            cost_usd: 0.0,
            trust: 0.0,
        }],
        skipped: vec![],
        keep_off_topic: false,
    })?;
    let mut stage = "import";
    let outcome = catch_panic(stage, || {
        failpoint("payload", &shutdown)?;
        shutdown.check()?;
        let hash = rec.store_payload(&bytes)?;
        let response = rec.record(ConnectorResponded {
            connector: args.source.clone(),
            request: RedactedRequest {
                method: "IMPORT".into(),
                url: format!("file:{file_name}"),
                ..Default::default()
            },
            http_status: 200,
            latency_ms: 0,
            cost_usd: 0.0,
            attempt: 1,
            payload_hash: hash,
            payload_bytes: bytes.len() as u64,
            content_type: None,
            transport: "import".into(),
        })?;
        failpoint("import", &shutdown)?;
        shutdown.check()?;
        stage = "resolve";
        let known = crate::project::known_records(&dir, &*store);
        process(
            &*store,
            &rec,
            &spec,
            (&match_config, known.as_ref(), &shutdown),
            (response, hash),
            (extraction, extractor, version),
        )
    });
    let report = ingest::finish_run(&mut rec, &header, clock, stage, outcome)?;
    crate::project::print_run_report(&dir, &*store, &trust_policy, report, args.json)?;
    Ok(ExitCode::SUCCESS)
}

fn header(spec: &ImportSpec) -> RunHeader {
    RunHeader {
        query: format!("import {} {}", spec.source, spec.file),
        mode: "import".into(),
        budget_usd: 0.0,
        estimated_cost_usd: 0.0,
        skipped: vec![],
    }
}

/// The stages of an import after its payload is recorded (the same for a resumed one);
/// `known` as for `ingest::process_payloads`.
fn process(
    store: &dyn EventStore,
    rec: &RunRecorder<'_>,
    spec: &ImportSpec,
    (match_config, known, shutdown): (
        &crate::resolve::MatchConfig,
        Option<&trustfold_projections::ProjectionDb>,
        &Shutdown,
    ),
    (response, hash): (Uuid, trustfold_events::BlobHash),
    (extraction, extractor, version): (Extraction, String, u32),
) -> Result<(Vec<ConnectorFigures>, stages::StageFigures)> {
    let n = extraction.records.len() as u64;
    let payload = stages::ExtractedPayload {
        source: spec.source.clone(),
        response_event: response,
        payload_hash: hash,
        extractor,
        extractor_version: version,
        extraction,
    };
    // `--distinct-records` holds for this import (and its resume, which reads the spec).
    let mut config = match_config.clone();
    if spec.distinct_records && !config.distinct_sources.contains(&spec.source) {
        config.distinct_sources.push(spec.source.clone());
    }
    // An import answers no question: nothing to screen for relevance.
    let st = ingest::process_payloads(store, rec, vec![payload], &config, known, None, shutdown)?;
    let figures = ConnectorFigures {
        connector: spec.source.clone(),
        status: "ok".into(),
        latency_ms: 0,
        candidates: n,
        cost_usd: 0.0,
        attempts: 1,
        transport: "import".into(),
        error: None,
    };
    Ok((vec![figures], st))
}

/// What `resume` knows of an interrupted import.
pub struct Interrupted<'a> {
    pub run_id: Uuid,
    pub trace_id: String,
    pub started_event: Uuid,
    pub started: &'a RunStarted,
    /// The run's events so far, in log order.
    pub events: &'a [RecordedEvent],
}

/// Finishes an import whose process died: the stored payload is read again the way
/// `RunStarted` says, and the stages append only the facts not yet recorded. When that is
/// not possible (the payload was never stored, or cannot be read, or the run predates the
/// recorded reading instructions), the run is closed with `RunFailed` saying why and what
/// to do, and the command fails.
pub fn resume(
    dir: &DataDir,
    store: &dyn EventStore,
    blobs: &dyn Blobs,
    trust_policy: &trustfold_projections::TrustPolicy,
    run: Interrupted<'_>,
    json: bool,
) -> Result<ExitCode> {
    let spec: Option<ImportSpec> = serde_json::from_value(run.started.features.clone()).ok();
    let spec_label = spec
        .as_ref()
        .map_or_else(|| run.started.query.clone(), |s| s.file.clone());
    let mut rec = RunRecorder::resume(
        store,
        blobs,
        run.run_id,
        run.trace_id.clone(),
        &run.started.query,
        run.started_event,
    )?;
    let response = run.events.iter().find_map(|e| match &e.payload {
        EventPayload::ConnectorResponded(p) => Some((e.id, p.payload_hash)),
        _ => None,
    });
    let usable = match (&spec, response) {
        (None, _) => Err(format!(
            "its RunStarted does not say how the file was read (recorded by an older \
             trustfold); import {spec_label} again"
        )),
        (Some(s), _) if s.format != Format::Native && s.map.is_none() => Err(format!(
            "its RunStarted does not record the column map; import {spec_label} again"
        )),
        (_, None) => Err(format!(
            "it stopped before its payload was stored: nothing of {spec_label} was imported; \
             import it again"
        )),
        (Some(s), Some((event, hash))) => blobs
            .get(&hash)
            .map(|bytes| (s.clone(), event, hash, bytes))
            .map_err(|e| {
                format!("its stored payload cannot be read ({e}); import {spec_label} again")
            }),
    };
    let (spec, response, hash, bytes) = match usable {
        Ok(u) => u,
        Err(why) => {
            rec.record(RunFailed {
                stage: "import".into(),
                error: format!("interrupted import closed by resume: {why}"),
                figures: RunFigures::default(),
            })?;
            return Err(anyhow::anyhow!(
                "run {} cannot be continued: {why}; it is now closed (RunFailed)",
                run.run_id
            ));
        }
    };
    let header = header(&spec);
    let clock = Instant::now();
    let shutdown = Shutdown::new();
    shutdown.listen_for_signals()?;
    eprintln!(
        "resuming import run {}: reading {} again from its stored payload",
        run.run_id, spec.file
    );
    let match_config = dir.match_config()?;
    let outcome = catch_panic("resolve", || {
        let extracted = extract(&spec, &bytes, &spec.file)?;
        // A resumed run records every record in full (see `process_payloads`).
        process(
            store,
            &rec,
            &spec,
            (&match_config, None, &shutdown),
            (response, hash),
            extracted,
        )
    });
    let report = ingest::finish_run(&mut rec, &header, clock, "resolve", outcome)?;
    crate::project::print_run_report(dir, store, trust_policy, report, json)?;
    Ok(ExitCode::SUCCESS)
}
