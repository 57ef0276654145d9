//! `trustfold events`: the log, filtered.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Result;
use trustfold_events::{format_time, EventFilter, EventKind, EventPayload, StoredEvent};
use uuid::Uuid;

use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only events of this run (its id).
    #[arg(long)]
    pub run: Option<String>,
    /// Only events of this stream, e.g. `run/<id>`.
    #[arg(long)]
    pub stream: Option<String>,
    /// Only events of this kind, e.g. `ConnectorResponded`.
    #[arg(long)]
    pub kind: Option<String>,
    /// Only events whose JSON contains this text (case-insensitive).
    #[arg(long)]
    pub grep: Option<String>,
    /// Start at this seq.
    #[arg(long, default_value_t = 1)]
    pub from: u64,
    /// One JSON object per line (NDJSON).
    #[arg(long)]
    pub json: bool,
}

pub fn run(data_dir: &Place, args: Args) -> Result<ExitCode> {
    let run_id = args
        .run
        .as_deref()
        .map(|r| {
            Uuid::parse_str(r.trim_start_matches("run/"))
                .map_err(|_| bad_input(format!("--run {r:?} is not a run id (a UUID)")))
        })
        .transpose()?;
    if let Some(kind) = &args.kind {
        kind.parse::<EventKind>()
            .map_err(|e| bad_input(format!("--kind: {e}")))?;
    }
    let dir = DataDir::existing(data_dir)?;
    let Some(store) = dir.read_log()? else {
        if !args.json {
            eprintln!("the log at {} is empty", dir.describe());
        }
        return Ok(ExitCode::SUCCESS);
    };
    let needle = args.grep.as_deref().map(str::to_lowercase);
    let filter = EventFilter {
        from_seq: args.from,
        stream: args.stream,
        kind: args.kind,
        run_id,
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for ev in store.read_filtered(filter) {
        let ev = ev?;
        let json = serde_json::to_string(&ev.to_json())?;
        if let Some(needle) = &needle {
            if !json.to_lowercase().contains(needle) {
                continue;
            }
        }
        let written = if args.json {
            writeln!(out, "{json}")
        } else {
            writeln!(
                out,
                "{:>7}  {}  {:<19} {:<44} {}",
                ev.seq,
                format_time(&ev.recorded_at),
                ev.kind,
                ev.stream,
                summary(&ev)
            )
        };
        if let Err(e) = written {
            // A closed pipe (`trustfold events | head`) is the reader saying "enough".
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                return Ok(ExitCode::SUCCESS);
            }
            return Err(e.into());
        }
    }
    if let Err(e) = out.flush() {
        if e.kind() != std::io::ErrorKind::BrokenPipe {
            return Err(e.into());
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One short line about the event, for people.
fn summary(ev: &StoredEvent) -> String {
    let payload = match ev.decode() {
        Ok(d) => d.payload,
        Err(e) => return format!("<undecodable: {e}>"),
    };
    match payload {
        EventPayload::RunStarted(p) => format!(
            "{:?} mode={} budget=${:.3} connectors={}",
            p.query,
            p.mode,
            p.budget_usd,
            p.selected
                .iter()
                .map(|c| c.connector.as_str())
                .collect::<Vec<_>>()
                .join(",")
        ),
        EventPayload::ConnectorResponded(p) => format!(
            "{} HTTP {} {} ms ${:.4} attempt {} {} bytes payload {} ({})",
            p.connector,
            p.http_status,
            p.latency_ms,
            p.cost_usd,
            p.attempt,
            p.payload_bytes,
            p.payload_hash.short(),
            p.transport
        ),
        EventPayload::ConnectorFailed(p) => format!(
            "{} {} attempt {}{}: {}",
            p.connector,
            p.error_class.as_str(),
            p.attempt,
            if p.will_retry { " (will retry)" } else { "" },
            p.message
        ),
        EventPayload::DeadLettered(p) => format!(
            "{} {} after {} attempts: {}",
            p.connector,
            p.error_class.as_str(),
            p.attempts,
            p.last_message
        ),
        EventPayload::CandidateExtracted(p) => format!(
            "{} {} {:?} from {}",
            p.source,
            p.external_id,
            p.fields.name.unwrap_or_default(),
            p.payload_hash.short()
        ),
        EventPayload::CandidatesSeenAgain(p) => format!(
            "{} {} records seen again unchanged in {} (earlier payloads {}{})",
            p.source,
            p.n_records,
            p.payload_hash.short(),
            p.earlier_payloads
                .iter()
                .map(|h| h.short())
                .collect::<Vec<_>>()
                .join(","),
            if p.absent.is_empty() {
                String::new()
            } else {
                format!("; {} no longer there", p.absent.len())
            }
        ),
        EventPayload::CandidateAccepted(p) => p.candidate_id,
        EventPayload::CandidateRejected(p) => {
            format!("{} {:?}: {}", p.candidate_id, p.reason, p.detail)
        }
        EventPayload::MergeDecided(p) => {
            format!(
                "{} -> {:?} score {:.3}",
                p.candidate_id, p.decision, p.score
            )
        }
        EventPayload::ReviewRequested(p) => format!("{} {:?}: {}", p.review_id, p.reason, p.detail),
        EventPayload::ReviewResolved(p) => {
            format!("{} {:?} by {}: {}", p.review_id, p.decision, p.by, p.reason)
        }
        EventPayload::FieldOverridden(p) => format!(
            "{}.{} = {} by {}: {}",
            p.entity_id,
            p.field,
            p.value.map_or("<cleared>".to_string(), |v| v.to_string()),
            p.by,
            p.reason
        ),
        EventPayload::RunCompleted(p) => format!(
            "{} candidates, {} entities created, ${:.4}, {} ms",
            p.figures.candidates_found,
            p.figures.entities_created,
            p.figures.cost_usd,
            p.figures.duration_ms
        ),
        EventPayload::RunFailed(p) => format!("in {}: {}", p.stage, p.error),
        EventPayload::RunCancelled(p) => p.reason,
    }
}
