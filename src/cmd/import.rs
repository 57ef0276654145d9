//! `trustfold import --source NAME [--format native|csv|ndjson] [--map COL=FIELD,...] FILE`:
//! a recorded response or a dump (a council spreadsheet, an OCM export) appended as
//! source data and processed like a run.
//!
//! The whole file is read and extracted before anything is appended: a bad file (wrong
//! encoding, a missing mapped column, ragged rows) is an error naming the line, and the
//! log is left exactly as it was.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Result;
use clap::ValueEnum;
use trustfold_events::{
    ConnectorFigures, ConnectorResponded, PlannedConnector, RedactedRequest, RunStarted,
};

use crate::datadir::DataDir;
use crate::exit::bad_input;
use crate::extract::{extractor_for, tabular, Extraction};
use crate::ingest::{self, stages, RunHeader, RunRecorder};

/// Longest source name accepted.
pub const SOURCE_NAME_CHARS_MAX: usize = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// The source's own wire format (a saved Overpass, WFS, ArcGIS, Places or OCM answer).
    Native,
    /// Comma-separated values with a header row; needs --map.
    Csv,
    /// One JSON object per line; needs --map.
    Ndjson,
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
    /// The file to import.
    pub file: PathBuf,
    /// Print the run report as one JSON document.
    #[arg(long)]
    pub json: bool,
}

fn valid_source(name: &str) -> bool {
    !name.is_empty()
        && name.chars().count() <= SOURCE_NAME_CHARS_MAX
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
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

fn extract(args: &Args, bytes: &[u8]) -> Result<(Extraction, String, u32)> {
    let file = args.file.display();
    match args.format {
        Format::Native => {
            if args.map.is_some() {
                return Err(bad_input("--map applies to --format csv or ndjson only"));
            }
            let ex = extractor_for(&args.source).ok_or_else(|| {
                bad_input(format!(
                    "no native format is known for source {:?}; use --format csv or ndjson with --map",
                    args.source
                ))
            })?;
            let extraction = ex
                .extract(bytes)
                .map_err(|e| bad_input(format!("{file}: {e}")))?;
            Ok((extraction, ex.source().to_string(), ex.version()))
        }
        Format::Csv | Format::Ndjson => {
            let map = args
                .map
                .as_deref()
                .ok_or_else(|| bad_input("--format csv and ndjson need --map COLUMN=FIELD,..."))?;
            let map = tabular::parse_map(map).map_err(|e| bad_input(format!("--map: {e}")))?;
            let extraction = if args.format == Format::Csv {
                tabular::extract_csv(bytes, &map)
            } else {
                tabular::extract_ndjson(bytes, &map)
            }
            .map_err(|e| bad_input(format!("{file}: {e}")))?;
            let name = if args.format == Format::Csv {
                "tabular_csv"
            } else {
                "tabular_ndjson"
            };
            Ok((
                extraction,
                name.to_string(),
                tabular::TABULAR_EXTRACTOR_VERSION,
            ))
        }
    }
}

pub fn run(data_dir: &Path, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let trust_policy = crate::project::load_policy(trust, data_dir)?;
    if !valid_source(&args.source) {
        return Err(bad_input(format!(
            "--source {:?}: use lowercase letters, digits and _ (at most {SOURCE_NAME_CHARS_MAX})",
            args.source
        )));
    }
    let bytes = read_file(&args.file)?;
    let (extraction, extractor, version) = extract(&args, &bytes)?;
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
    let store = dir.write_log()?;
    let blobs = dir.blobs()?;
    let file_name = args
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let header = RunHeader {
        query: format!("import {} {file_name}", args.source),
        mode: "import".into(),
        budget_usd: 0.0,
        estimated_cost_usd: 0.0,
        skipped: vec![],
    };
    let clock = Instant::now();
    let mut rec = RunRecorder::new(&store, &blobs, &header.query);
    rec.record(RunStarted {
        query: header.query.clone(),
        mode: "import".into(),
        budget_usd: 0.0,
        features: serde_json::json!({"format": format!("{:?}", args.format).to_lowercase(), "file": file_name}),
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
    let outcome = (|| {
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
        let n = extraction.records.len() as u64;
        let payload = stages::ExtractedPayload {
            source: args.source.clone(),
            response_event: response,
            payload_hash: hash,
            extractor,
            extractor_version: version,
            extraction,
        };
        let known = crate::project::known_records(dir.root(), &store);
        let st = ingest::process_payloads(
            &store,
            &rec,
            vec![payload],
            &match_config,
            known.as_ref(),
            None,
        )?;
        let figures = ConnectorFigures {
            connector: args.source.clone(),
            status: "ok".into(),
            latency_ms: 0,
            candidates: n,
            cost_usd: 0.0,
            attempts: 1,
            transport: "import".into(),
            error: None,
        };
        Ok((vec![figures], st))
    })();
    let report = ingest::finish_run(&mut rec, &header, clock, "import", outcome)?;
    crate::project::print_run_report(&dir, &store, &trust_policy, report, args.json)?;
    Ok(ExitCode::SUCCESS)
}
