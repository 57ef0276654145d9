//! `trustfold provenance <id|slug>`: for every field, the value, where it came from (source,
//! trust, tier, event seq, run, trace id, payload hash) and the values it beat, with why.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use trustfold_projections::asof::{entity_as_of, AsOf};
use trustfold_projections::{Field, LossReason, MergedEntity, ProvenanceRow};

use crate::cmd::entities::{clip, entity_json};
use crate::exit::bad_input;
use crate::project::{self, short};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The entity id (or a unique prefix of at least 6 characters) or its slug.
    pub entity: String,
    /// Only this field.
    #[arg(long)]
    pub field: Option<String>,
    /// Fold the log only up to this seq, or this time (RFC 3339, e.g. 2026-11-22T10:00:00Z).
    #[arg(long, value_name = "SEQ|TIME")]
    pub as_of: Option<String>,
    #[arg(long)]
    pub json: bool,
}

fn parse_as_of(text: &str) -> Result<AsOf> {
    if let Ok(seq) = text.parse::<u64>() {
        return Ok(AsOf::Seq(seq));
    }
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(AsOf::Time(t.with_timezone(&chrono::Utc)));
    }
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        // A date means the end of that day (UTC).
        let end = d
            .and_hms_opt(23, 59, 59)
            .map(|t| t.and_utc())
            .ok_or_else(|| bad_input(format!("--as-of {text:?}: not a valid date")))?;
        return Ok(AsOf::Time(end));
    }
    Err(bad_input(format!(
        "--as-of {:?}: expected an event seq (e.g. 120) or a time (RFC 3339, e.g. \
         2026-11-22T10:00:00Z, or a date 2026-11-22)",
        text.chars().take(60).collect::<String>()
    )))
}

pub fn run(data_dir: &Path, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let field: Option<Field> = match &args.field {
        Some(f) => Some(f.parse().map_err(|e| bad_input(format!("--field: {e}")))?),
        None => None,
    };
    let as_of = args.as_of.as_deref().map(parse_as_of).transpose()?;
    let policy = project::load_policy(trust, data_dir)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    let not_found = || {
        bad_input(format!(
            "no entity {:?}: pass an entity id, a unique id prefix or a slug (see `trustfold entities`)",
            args.entity.chars().take(80).collect::<String>()
        ))
    };
    let (current, _) = db.entity(&args.entity)?.ok_or_else(not_found)?;
    // The values are those of the policy the projection was folded with (which may be
    // stale: the warning above says so); --as-of folds with that same policy, so the two
    // agree at the checkpoint.
    let policy = db.stored_policy(&project::known_sources())?;
    let store = project::log_for_reading(data_dir)?;
    let (entity, folded_to) = match as_of {
        None => (
            db.entity_with_provenance(&current.entity_id, &store, &policy)?
                .ok_or_else(not_found)?,
            db.meta()?.checkpoint_seq,
        ),
        Some(point) => {
            let (e, last) = entity_as_of(&store, &current.entity_id, point, &policy)?;
            let e = e.ok_or_else(|| {
                bad_input(format!(
                    "entity {} did not exist yet at {} (the log up to seq {last}); it was \
                     founded at seq {}",
                    current.entity_id,
                    args.as_of.as_deref().unwrap_or(""),
                    current.founded_seq
                ))
            })?;
            (e, last)
        }
    };
    let fields: Vec<Field> = match field {
        Some(f) => vec![f],
        None => Field::ALL.to_vec(),
    };
    if args.json {
        let mut doc = entity_json(&entity);
        let per_field: Vec<Value> = fields
            .iter()
            .filter_map(|f| field_json(&entity, *f))
            .collect();
        doc["provenance"] = Value::Array(per_field);
        doc["as_of_seq"] = json!(folded_to);
        doc["policy"] = json!({"origin": policy.origin(), "hash": policy.hash()});
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!(
            "{}",
            render(&entity, &fields, folded_to, as_of.is_some(), &policy)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn rows_of(entity: &MergedEntity, field: Field) -> Vec<&ProvenanceRow> {
    entity
        .provenance
        .iter()
        .filter(|r| r.field == field)
        .collect()
}

fn field_json(entity: &MergedEntity, field: Field) -> Option<Value> {
    let rows = rows_of(entity, field);
    let win = entity.values.get(&field);
    if rows.is_empty() && win.is_none() {
        return None;
    }
    Some(json!({
        "field": field,
        "value": win.map(|w| w.value.clone()),
        "source": win.map(|w| w.source.clone()),
        "trust": win.map(|w| w.trust),
        "tier": win.map(|w| w.tier),
        "confidence": win.map(|w| w.confidence),
        "conflict": win.map(|w| w.conflict).unwrap_or(false),
        "elements": win.map(|w| w.elements.clone()).unwrap_or_default(),
        "candidates": rows,
    }))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn render(
    e: &MergedEntity,
    fields: &[Field],
    seq: u64,
    as_of: bool,
    policy: &trustfold_projections::TrustPolicy,
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "{}", e.name().unwrap_or("(no name)"));
    let _ = writeln!(out, "  id {}   slug {}", e.entity_id, e.slug);
    let _ = writeln!(
        out,
        "  sources: {} ({} candidates)   completeness {:.0}% ({}/20)",
        e.sources.join(", "),
        e.n_candidates,
        e.completeness_pct(),
        e.completeness_present
    );
    let _ = writeln!(
        out,
        "  {} seq {seq}; trust policy {} ({})\n",
        if as_of { "as of" } else { "folded up to" },
        policy.origin(),
        short(policy.hash())
    );
    for &field in fields {
        let rows = rows_of(e, field);
        let win = e.values.get(&field);
        if rows.is_empty() && win.is_none() {
            continue;
        }
        match win {
            Some(w) => {
                let _ = writeln!(
                    out,
                    "{field}: {}   (source {}, confidence {:.2}{})",
                    clip(&value_text(&w.value), 100),
                    w.source,
                    w.confidence,
                    if w.conflict { ", CONFLICT" } else { "" }
                );
                for el in &w.elements {
                    let _ = writeln!(
                        out,
                        "    · {}  from {} (support {:.2})",
                        clip(&value_text(&el.value), 60),
                        el.sources.join(", "),
                        el.support
                    );
                }
            }
            None => {
                let _ = writeln!(out, "{field}: (missing)");
            }
        }
        // Records of one source with the same value and outcome (a register listing one
        // site once per facility) are shown once, with their count; --json lists each.
        let mut i = 0;
        while i < rows.len() {
            let r = rows[i];
            let same = rows[i..]
                .iter()
                .take_while(|o| {
                    o.source == r.source
                        && o.winner == r.winner
                        && o.loss == r.loss
                        && o.value == r.value
                })
                .count();
            i += same;
            let times = if same > 1 {
                format!(" (×{same} records, latest shown)")
            } else {
                String::new()
            };
            let mark = if r.winner { "WIN " } else { "lost" };
            let origin = match (&r.run_id, &r.trace_id, &r.payload_hash) {
                (run, trace, Some(hash)) => format!(
                    "run {} trace {} payload {}",
                    run.as_deref().unwrap_or("-"),
                    trace.as_deref().unwrap_or("-"),
                    short(hash)
                ),
                _ => r.note.clone().unwrap_or_default(),
            };
            let why = match r.loss {
                Some(LossReason::Invalid) => format!(
                    " — {}: {}",
                    LossReason::Invalid.as_str(),
                    r.note.as_deref().unwrap_or("")
                ),
                Some(l) => format!(
                    " — {}{}",
                    l.as_str(),
                    if r.agrees { " (same value)" } else { "" }
                ),
                None => String::new(),
            };
            let why = match r.decided_by.as_deref() {
                Some(by) if by.starts_with("review:") => format!("{why} [joined by {by}]"),
                _ => why,
            };
            let value = if r.winner && !field.is_multi_valued() {
                String::new()
            } else {
                format!("  {}", clip(&value_text(&r.value), 60))
            };
            let seen = r
                .last_seen_seq
                .map(|s| format!(" (seen again unchanged at seq {s})"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "  {mark} {:<18} {:.2} {:<12} seq {:<7} {origin}{value}{why}{seen}{times}",
                r.source,
                r.trust,
                r.tier.as_str(),
                r.seq
            );
        }
    }
    out
}
