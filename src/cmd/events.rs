//! `trustfold events`: the log, filtered.

use std::io::{BufWriter, Write};
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use trustfold_events::{
    format_time, Blobs, EventFilter, EventKind, EventPayload, EventStore, MergeOutcome, StoredEvent,
};
use trustfold_projections::ProjectionDb;
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
    /// Show this one event in full instead: its raw payload (read back and verified), its
    /// cause, what it caused and what it touched (the server's event page).
    #[arg(long, value_name = "SEQ", conflicts_with_all = ["run", "stream", "kind", "grep"])]
    pub seq: Option<u64>,
    /// One JSON object per line (NDJSON); with --seq, one document.
    #[arg(long)]
    pub json: bool,
}

/// Events a page of `GET /api/events` scans at most (a sparse `grep` over a long log ends
/// a page early, with a cursor to go on from).
pub const EVENTS_SCAN_MAX: usize = 100_000;
/// Events after an event searched for the ones it caused (causes come first in the log,
/// and a run's effects follow its causes closely).
pub const CAUSED_SCAN_EVENTS_MAX: usize = 20_000;
/// Most entities, candidates or events one event page lists as touched or caused.
pub const TOUCHED_MAX: usize = 200;
/// Most bytes of a raw payload an event page shows (the rest is counted).
pub const PAYLOAD_SHOWN_BYTES_MAX: usize = 256 * 1024;

/// What `events` is asked: the filters the log reads with, and a text to grep for.
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    pub filter: EventFilter,
    /// Lower-cased text the event's JSON must contain.
    pub needle: Option<String>,
}

/// Checks the `events` filters (also the parameters of `GET /api/events`).
pub fn event_query(
    run: Option<&str>,
    stream: Option<&str>,
    kind: Option<&str>,
    grep: Option<&str>,
    from: u64,
) -> Result<EventQuery> {
    let run_id = run
        .filter(|r| !r.is_empty())
        .map(|r| {
            Uuid::parse_str(r.trim_start_matches("run/")).map_err(|_| {
                bad_input(format!(
                    "--run {:?} is not a run id (a UUID)",
                    r.chars().take(60).collect::<String>()
                ))
            })
        })
        .transpose()?;
    let kind = kind.filter(|k| !k.is_empty());
    if let Some(kind) = kind {
        kind.parse::<EventKind>()
            .map_err(|e| bad_input(format!("--kind: {e}")))?;
    }
    let stream = stream.filter(|s| !s.is_empty());
    if stream.is_some_and(|s| s.len() > trustfold_events::limits::STREAM_NAME_BYTES_MAX) {
        return Err(bad_input(format!(
            "--stream: at most {} bytes",
            trustfold_events::limits::STREAM_NAME_BYTES_MAX
        )));
    }
    Ok(EventQuery {
        filter: EventFilter {
            from_seq: from.max(1),
            stream: stream.map(str::to_string),
            kind: kind.map(str::to_string),
            run_id,
        },
        needle: grep.filter(|g| !g.is_empty()).map(str::to_lowercase),
    })
}

/// The events `query` selects, in seq order, each with its `--json` form, with how many
/// were read to find them (the grep is checked on the JSON text).
pub fn select<'a>(
    store: &'a dyn EventStore,
    query: &'a EventQuery,
) -> impl Iterator<Item = Result<Selected>> + 'a {
    store.read_filtered(query.filter.clone()).map(move |ev| {
        let ev = ev?;
        let json = serde_json::to_string(&ev.to_json())?;
        let matches = match &query.needle {
            Some(needle) => json.to_lowercase().contains(needle.as_str()),
            None => true,
        };
        Ok(Selected {
            event: ev,
            json,
            matches,
        })
    })
}

/// One event read by [`select`]: its JSON line, and whether it passed the grep.
pub struct Selected {
    pub event: StoredEvent,
    pub json: String,
    pub matches: bool,
}

/// `GET /api/events`: up to `limit` events as `events --json` prints them, and the seq
/// the next page starts at (`null` after the last event). A page reads at most
/// [`EVENTS_SCAN_MAX`] events, so a sparse grep returns early with a cursor.
pub fn events_page_document(
    store: &dyn EventStore,
    query: &EventQuery,
    limit: usize,
) -> Result<Value> {
    let mut events = Vec::new();
    let mut next = None;
    let mut scanned = 0usize;
    for item in select(store, query) {
        let item = item?;
        scanned += 1;
        if item.matches {
            if events.len() == limit {
                next = Some(item.event.seq);
                break;
            }
            events.push(serde_json::from_str::<Value>(&item.json)?);
        }
        if scanned >= EVENTS_SCAN_MAX {
            next = Some(item.event.seq + 1);
            break;
        }
    }
    Ok(json!({
        "events": events,
        "next_cursor": next,
        "limit": limit,
        "scanned": scanned,
    }))
}

pub fn run(data_dir: &Place, args: Args) -> Result<ExitCode> {
    let query = event_query(
        args.run.as_deref(),
        args.stream.as_deref(),
        args.kind.as_deref(),
        args.grep.as_deref(),
        args.from,
    )?;
    let dir = DataDir::existing(data_dir)?;
    if let Some(seq) = args.seq {
        let store = crate::project::log_for_reading(data_dir)?;
        let db = dir.projections().open_read().ok().flatten();
        let doc = event_document(
            &*store,
            || {
                dir.existing_blobs()?
                    .ok_or_else(|| anyhow::anyhow!("there is no blob store"))
            },
            db.as_ref(),
            seq,
        )?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&doc)?);
        } else {
            print!("{}", render_event(&doc));
        }
        return Ok(ExitCode::SUCCESS);
    }
    let Some(store) = dir.read_log()? else {
        if !args.json {
            eprintln!("the log at {} is empty", dir.describe());
        }
        return Ok(ExitCode::SUCCESS);
    };
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    for item in select(&*store, &query) {
        let item = item?;
        if !item.matches {
            continue;
        }
        let ev = &item.event;
        let written = if args.json {
            writeln!(out, "{}", item.json)
        } else {
            writeln!(
                out,
                "{:>7}  {}  {:<19} {:<44} {}",
                ev.seq,
                format_time(&ev.recorded_at),
                ev.kind,
                ev.stream,
                summary(ev)
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

/// One event for a person (`GET /api/events/{seq}`, the event page): its envelope and
/// payload as `events --json` prints it, a one-line summary, the raw connector payload it
/// names read from the blob store (every read re-hashes it; a damaged or missing blob is
/// said, not shown), the event that caused it, the events it caused, and what it touched
/// (entities, candidates, reviews, runs). `blobs` opens the blob store only when the
/// event names a payload; when it cannot be opened now, the document says why.
pub fn event_document<B: std::ops::Deref<Target = dyn Blobs>>(
    store: &dyn EventStore,
    blobs: impl FnOnce() -> Result<B>,
    db: Option<&ProjectionDb>,
    seq: u64,
) -> Result<Value> {
    let ev = store
        .read_at(seq)?
        .ok_or_else(|| crate::exit::not_found(format!("no event at seq {seq}")))?;
    let decoded = ev.decode().ok().map(|d| d.payload);
    let mut doc = serde_json::to_value(ev.to_json())?;
    doc["summary"] = json!(summary(&ev));
    let cause = match ev.causation_id {
        Some(id) => store.seq_of(id)?.map(|s| {
            let kind = store
                .read_at(s)
                .ok()
                .flatten()
                .map(|c| c.kind)
                .unwrap_or_default();
            json!({"seq": s, "id": id, "kind": kind})
        }),
        None => None,
    };
    doc["cause"] = json!(cause);
    let mut caused = Vec::new();
    let mut scanned = 0usize;
    for later in store.read_raw_from(seq + 1) {
        let later = later?;
        scanned += 1;
        if later.causation_id == Some(ev.id) {
            caused.push(json!({"seq": later.seq, "kind": later.kind, "stream": later.stream}));
            if caused.len() >= TOUCHED_MAX {
                break;
            }
        }
        if scanned >= CAUSED_SCAN_EVENTS_MAX {
            break;
        }
    }
    doc["caused"] = json!({"events": caused, "scanned_after": scanned});
    doc["touched"] = json!(touched(&ev, decoded.as_ref(), db)?);
    let payload_hash = match &decoded {
        Some(EventPayload::ConnectorResponded(p)) => Some(p.payload_hash),
        Some(EventPayload::ConnectorFailed(p)) => p.payload_hash,
        Some(EventPayload::CandidateExtracted(p)) => Some(p.payload_hash),
        Some(EventPayload::CandidatesSeenAgain(p)) => Some(p.payload_hash),
        _ => None,
    };
    doc["raw_payload"] = match payload_hash.map(|h| (h, blobs())) {
        None => Value::Null,
        Some((hash, Err(e))) => {
            json!({"hash": hash.to_hex(), "verified": false, "error": format!("{e:#}")})
        }
        Some((hash, Ok(blobs))) => match blobs.get(&hash) {
            Ok(bytes) => {
                let shown = &bytes[..bytes.len().min(PAYLOAD_SHOWN_BYTES_MAX)];
                json!({
                    "hash": hash.to_hex(),
                    "bytes": bytes.len(),
                    "verified": true,
                    "text": String::from_utf8_lossy(shown),
                    "truncated": bytes.len() > shown.len(),
                })
            }
            Err(e) => json!({"hash": hash.to_hex(), "verified": false, "error": e.to_string()}),
        },
    };
    Ok(doc)
}

/// The event document for a person on a terminal.
fn render_event(doc: &Value) -> String {
    use std::fmt::Write as _;
    let text = |v: &Value| v.as_str().unwrap_or("").to_string();
    let mut out = String::new();
    let _ = writeln!(
        out,
        "seq {}  {}  {}  stream {} (v{})",
        doc["seq"],
        text(&doc["recorded_at"]),
        text(&doc["kind"]),
        text(&doc["stream"]),
        doc["stream_version"]
    );
    let _ = writeln!(out, "  {}", text(&doc["summary"]));
    let _ = writeln!(
        out,
        "  id {}  hash {}",
        text(&doc["id"]),
        text(&doc["hash"])
    );
    if let Some(c) = doc["cause"].as_object() {
        let _ = writeln!(
            out,
            "  caused by seq {} ({})",
            c["seq"],
            c["kind"].as_str().unwrap_or("")
        );
    }
    let caused = doc["caused"]["events"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let _ = writeln!(out, "  caused {} events", caused.len());
    for t in doc["touched"].as_array().into_iter().flatten() {
        let _ = writeln!(out, "  touched {} {}", text(&t["type"]), text(&t["id"]));
    }
    let raw = &doc["raw_payload"];
    if !raw.is_null() {
        match raw["verified"].as_bool() {
            Some(true) => {
                let _ = writeln!(
                    out,
                    "  payload {} ({} bytes, verified){}\n{}",
                    text(&raw["hash"]),
                    raw["bytes"],
                    if raw["truncated"] == Value::Bool(true) {
                        ", first part shown"
                    } else {
                        ""
                    },
                    text(&raw["text"])
                );
            }
            _ => {
                let _ = writeln!(
                    out,
                    "  payload {}: {}",
                    text(&raw["hash"]),
                    text(&raw["error"])
                );
            }
        }
    }
    out
}

/// What an event is about: its stream's subject and the rows of the projections it names.
fn touched(
    ev: &StoredEvent,
    payload: Option<&EventPayload>,
    db: Option<&ProjectionDb>,
) -> Result<Vec<Value>> {
    let mut out: Vec<Value> = Vec::new();
    let push = |out: &mut Vec<Value>, v: Value| {
        if out.len() < TOUCHED_MAX && !out.contains(&v) {
            out.push(v);
        }
    };
    let entity = |id: &str| -> Result<Value> {
        let slug = match db {
            Some(db) => db.entity(id)?.map(|(m, _)| m.slug),
            None => None,
        };
        Ok(json!({"type": "entity", "id": id, "slug": slug}))
    };
    let candidate = |id: &str| -> Result<Vec<Value>> {
        let mut v = vec![json!({"type": "candidate", "id": id})];
        if let Some(db) = db {
            if let Some(eid) = db.candidate(id)?.and_then(|c| c.entity_id) {
                v.push(entity(&eid)?);
            }
        }
        Ok(v)
    };
    if let Some(run) = ev.run_id {
        push(&mut out, json!({"type": "run", "id": run.to_string()}));
    }
    match payload {
        Some(EventPayload::CandidateExtracted(p)) => {
            for v in candidate(&p.candidate_id)? {
                push(&mut out, v);
            }
        }
        Some(EventPayload::CandidateAccepted(p)) => {
            for v in candidate(&p.candidate_id)? {
                push(&mut out, v);
            }
        }
        Some(EventPayload::CandidateRejected(p)) => {
            push(&mut out, json!({"type": "candidate", "id": p.candidate_id}));
        }
        Some(EventPayload::MergeDecided(p)) => {
            push(&mut out, json!({"type": "candidate", "id": p.candidate_id}));
            match &p.decision {
                MergeOutcome::NewEntity { entity_id }
                | MergeOutcome::ExistingEntity { entity_id } => {
                    push(&mut out, entity(entity_id)?);
                }
                MergeOutcome::NeedsReview {
                    review_id,
                    entity_ids,
                } => {
                    push(&mut out, json!({"type": "review", "id": review_id}));
                    for e in entity_ids {
                        push(&mut out, entity(e)?);
                    }
                }
            }
        }
        Some(EventPayload::ReviewRequested(p)) => {
            push(&mut out, json!({"type": "review", "id": p.review_id}));
            for e in &p.entity_ids {
                push(&mut out, entity(e)?);
            }
        }
        Some(EventPayload::ReviewResolved(p)) => {
            push(&mut out, json!({"type": "review", "id": p.review_id}));
            if let Some(e) = &p.entity_id {
                push(&mut out, entity(e)?);
            }
        }
        Some(EventPayload::FieldOverridden(p)) => {
            push(&mut out, entity(&p.entity_id)?);
        }
        Some(EventPayload::EntitySplit(p)) => {
            push(&mut out, entity(&p.entity_id)?);
            push(&mut out, entity(&p.into_entity_id)?);
        }
        Some(EventPayload::EntitiesMerged(p)) => {
            push(&mut out, entity(&p.entity_id)?);
        }
        Some(EventPayload::ConnectorResponded(p)) => {
            if let Some(db) = db {
                for cid in db.candidates_of_payload(&p.payload_hash)? {
                    if out.len() >= TOUCHED_MAX {
                        break;
                    }
                    for v in candidate(&cid)? {
                        push(&mut out, v);
                    }
                }
            }
        }
        _ => {}
    }
    Ok(out)
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
        EventPayload::EntitySplit(p) => format!(
            "{} left {} for {}{} by {}: {}",
            p.candidate_id,
            p.entity_id,
            p.into_entity_id,
            if p.new_entity { " (new)" } else { "" },
            p.by,
            p.reason
        ),
        EventPayload::EntitiesMerged(p) => format!(
            "{} merged into {} ({} records) by {}: {}",
            p.merged_entity_id,
            p.entity_id,
            p.candidate_ids.len(),
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
