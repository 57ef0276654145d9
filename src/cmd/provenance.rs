//! `trustfold provenance <id|slug>`: for every field, the value, where it came from (source,
//! trust, tier, event seq, run, trace id, payload hash) and the values it beat, with why.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use trustfold_events::{EventPayload, EventStore, MergeDecided, MergeOutcome, RecordedEvent};
use trustfold_projections::asof::{entity_as_of, AsOf};
use trustfold_projections::{
    Field, LossReason, MergedAway, MergedEntity, ProjectionDb, ProvenanceRow, TrustPolicy,
};

use crate::cmd::entities::{clip, entity_json};
use crate::datadir::Place;
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

/// Longest `--as-of` text echoed in an error.
const AS_OF_ECHO_CHARS_MAX: usize = 60;
/// Most points on an entity's map (distinct source and position); the rest are counted.
pub const MAP_POINTS_MAX: usize = 24;
/// Most other entity streams read to show an entity's identity corrections (the stream
/// each moved record came from, and the one before that...); the rest are counted.
pub const CORRECTION_STREAMS_MAX: usize = 64;

/// Parses `--as-of` (or `?as_of=`): a seq, an RFC 3339 time, or a date (its end, UTC).
pub fn parse_as_of(text: &str) -> Result<AsOf> {
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
        text.chars().take(AS_OF_ECHO_CHARS_MAX).collect::<String>()
    )))
}

/// What `provenance` is asked: by the command line or by `GET /api/entities/{key}`.
#[derive(Clone, Debug)]
pub struct Query {
    /// An entity id, a unique id prefix (6+ characters) or a slug.
    pub entity: String,
    /// Only this field.
    pub field: Option<Field>,
    /// The point to fold up to, and the text it was given as.
    pub as_of: Option<(AsOf, String)>,
}

impl Query {
    /// Parses the textual parts (`--field`, `--as-of`); bad ones are bad input.
    pub fn parse(entity: &str, field: Option<&str>, as_of: Option<&str>) -> Result<Query> {
        let field = match field {
            Some(f) => Some(f.parse().map_err(|e| bad_input(format!("--field: {e}")))?),
            None => None,
        };
        let as_of = match as_of {
            Some(t) => Some((parse_as_of(t)?, t.to_string())),
            None => None,
        };
        Ok(Query {
            entity: entity.to_string(),
            field,
            as_of,
        })
    }
}

/// One entity's provenance: what `provenance` prints and the entity page shows.
pub struct Provenance {
    /// The entity as merged now, or as of the asked point.
    pub entity: MergedEntity,
    /// The last seq folded into `entity`.
    pub folded_to: u64,
    /// The policy of the projections (values and as-of both use it, so they agree).
    pub policy: TrustPolicy,
    pub fields: Vec<Field>,
    /// The identity and override events of the entity's stream up to `folded_to`.
    pub identity: Vec<RecordedEvent>,
    /// With an as-of point: the entity now, to compare with.
    pub now: Option<MergedEntity>,
    /// With an as-of point: every event of the entity's stream (for what changed since).
    pub identity_now: Vec<RecordedEvent>,
    /// The key asked for named an entity merged into this one (an alias).
    pub alias: Option<MergedAway>,
    /// The identity corrections of this entity (splits and merges), up to `folded_to`,
    /// each with who, when and why (see [`corrections`]).
    pub corrections: Corrections,
}

/// A person's identity corrections of one entity, beside the matcher's decisions they
/// overrode.
#[derive(Clone, Debug, Default)]
pub struct Corrections {
    /// One document per correction, in log order.
    pub list: Vec<Value>,
    /// Per record moved here by a correction: the matcher's (or a reviewer's) decision
    /// that had placed it before, with its evidence.
    pub original: std::collections::BTreeMap<String, Value>,
    /// Streams not read past [`CORRECTION_STREAMS_MAX`].
    pub left_out: usize,
}

/// The correction a `MergeDecided` carries out, from its `decided_by`: `split:<entity>`
/// or `merge:<entity>`, the entity the record came from.
fn correction_source(decided_by: &str) -> Option<(&'static str, &str)> {
    if let Some(e) = decided_by.strip_prefix("split:") {
        Some(("split", e))
    } else {
        decided_by.strip_prefix("merge:").map(|e| ("merge", e))
    }
}

/// A split as the corrections list shows it, from its event.
fn split_json(ev: &RecordedEvent, p: &trustfold_events::EntitySplit) -> Value {
    json!({
        "kind": "split",
        "seq": ev.seq,
        "recorded_at": trustfold_events::format_time(&ev.recorded_at),
        "by": p.by,
        "reason": p.reason,
        "candidate_id": p.candidate_id,
        "from": p.entity_id,
        "into": p.into_entity_id,
        "new_entity": p.new_entity,
    })
}

/// The corrections in `identity` (an entity's stream up to a point): the splits that
/// took records out, and for the records a split or merge brought in, the correction
/// (read from the stream of the entity they came from) and the decision that had placed
/// them before (followed back through earlier corrections).
pub fn corrections(store: &dyn EventStore, identity: &[RecordedEvent]) -> Result<Corrections> {
    let mut out = Corrections::default();
    let mut streams: std::collections::HashMap<String, Vec<RecordedEvent>> = Default::default();
    let mut read = |eid: &str, out: &mut Corrections| -> Result<Option<Vec<RecordedEvent>>> {
        if let Some(s) = streams.get(eid) {
            return Ok(Some(s.clone()));
        }
        if streams.len() >= CORRECTION_STREAMS_MAX {
            out.left_out += 1;
            return Ok(None);
        }
        let s = store.read_stream(&format!("entity/{eid}"))?;
        streams.insert(eid.to_string(), s.clone());
        Ok(Some(s))
    };
    let mut merges_seen = std::collections::BTreeSet::new();
    for ev in identity {
        match &ev.payload {
            EventPayload::EntitySplit(p) => out.list.push(split_json(ev, p)),
            EventPayload::MergeDecided(m) => {
                let Some((kind, from)) = correction_source(&m.decided_by) else {
                    continue;
                };
                let Some(stream) = read(from, &mut out)? else {
                    continue;
                };
                // The correction itself, in the stream of the entity the record left.
                let doc = stream.iter().find_map(|c| match &c.payload {
                    EventPayload::EntitySplit(p)
                        if kind == "split"
                            && p.candidate_id == m.candidate_id
                            && c.seq > ev.seq =>
                    {
                        Some(split_json(c, p))
                    }
                    EventPayload::EntitiesMerged(p)
                        if kind == "merge" && merges_seen.insert(c.seq) =>
                    {
                        Some(json!({
                            "kind": "merge",
                            "seq": c.seq,
                            "recorded_at": trustfold_events::format_time(&c.recorded_at),
                            "by": p.by,
                            "reason": p.reason,
                            "merged_entity_id": p.merged_entity_id,
                            "into": p.entity_id,
                            "candidate_ids": p.candidate_ids,
                        }))
                    }
                    _ => None,
                });
                out.list.extend(doc);
                // The decision before: the latest for this record in the stream it left,
                // followed back while that too was a correction.
                let mut stream = Some(stream);
                let mut before = ev.seq;
                let mut original = None;
                for _ in 0..CORRECTION_STREAMS_MAX {
                    let Some(s) = stream.take() else { break };
                    let Some((d, dm)) = s.iter().rev().find_map(|d| match &d.payload {
                        EventPayload::MergeDecided(dm)
                            if dm.candidate_id == m.candidate_id && d.seq < before =>
                        {
                            Some((d.clone(), dm.clone()))
                        }
                        _ => None,
                    }) else {
                        break;
                    };
                    original = Some(decision_json(d.seq, &dm));
                    match correction_source(&dm.decided_by) {
                        Some((_, older)) => {
                            before = d.seq;
                            stream = read(older, &mut out)?;
                        }
                        None => break,
                    }
                }
                if let Some(o) = original {
                    out.original.insert(m.candidate_id.clone(), o);
                }
            }
            _ => {}
        }
    }
    out.list.sort_by_key(|c| c["seq"].as_u64());
    out.list.dedup();
    Ok(out)
}

/// Folds and merges what `query` asks for. A missing entity is [`NotFound`](crate::exit::NotFound).
pub fn provenance(db: &ProjectionDb, store: &dyn EventStore, query: &Query) -> Result<Provenance> {
    let not_found = || {
        crate::exit::not_found(format!(
            "no entity {:?}: pass an entity id, a unique id prefix or a slug (see `trustfold entities`)",
            query.entity.chars().take(80).collect::<String>()
        ))
    };
    let (current, _) = db.entity(&query.entity)?.ok_or_else(not_found)?;
    let alias = db.alias(&query.entity)?;
    // The values are those of the policy the projection was folded with (which may be
    // stale: the reader warns); --as-of folds with that same policy, so the two agree at
    // the checkpoint.
    let policy = project::stored_policy(db)?;
    let now = db
        .entity_with_provenance(&current.entity_id, store, &policy)?
        .ok_or_else(not_found)?;
    let stream = store.read_stream(&format!("entity/{}", current.entity_id))?;
    let fields: Vec<Field> = match query.field {
        Some(f) => vec![f],
        None => Field::ALL.to_vec(),
    };
    match &query.as_of {
        None => Ok(Provenance {
            entity: now,
            folded_to: db.meta()?.checkpoint_seq,
            policy,
            fields,
            corrections: corrections(store, &stream)?,
            identity: stream,
            now: None,
            identity_now: Vec::new(),
            alias,
        }),
        Some((point, text)) => {
            // An alias asked as of before its merge is the entity it was then.
            let before_merge = alias.as_ref().is_some_and(|a| match point {
                AsOf::Seq(s) => *s < a.seq,
                AsOf::Time(t) => *t < a.recorded_at,
            });
            let (shown_id, stream) = match &alias {
                Some(a) if before_merge => (
                    a.entity_id.clone(),
                    store.read_stream(&format!("entity/{}", a.entity_id))?,
                ),
                _ => (current.entity_id.clone(), stream),
            };
            let (e, last) = entity_as_of(store, &shown_id, *point, &policy)?;
            let e = e.ok_or_else(|| {
                crate::exit::not_found(format!(
                    "entity {} did not exist yet at {} (the log up to seq {last}); it was \
                     founded at seq {}",
                    shown_id,
                    text.chars().take(AS_OF_ECHO_CHARS_MAX).collect::<String>(),
                    current.founded_seq
                ))
            })?;
            let identity: Vec<RecordedEvent> =
                stream.iter().filter(|ev| ev.seq <= last).cloned().collect();
            Ok(Provenance {
                entity: e,
                folded_to: last,
                policy,
                fields,
                corrections: corrections(store, &identity)?,
                identity,
                now: Some(now),
                identity_now: stream,
                alias,
            })
        }
    }
}

/// The `provenance --json` document (also `GET /api/entities/{key}`): the entity as
/// `entities --format json` shows it, then per field the winner and every candidate value
/// with why it lost, the member records with the decisions that joined them, the admin
/// overrides, the points on the map with the distances between them, and with an as-of
/// point, the fields that differ from now.
pub fn provenance_document(p: &Provenance) -> Value {
    let entity = &p.entity;
    let mut doc = entity_json(entity);
    let per_field: Vec<Value> = p
        .fields
        .iter()
        .filter_map(|f| field_json(entity, *f))
        .collect();
    doc["provenance"] = Value::Array(per_field);
    doc["as_of_seq"] = json!(p.folded_to);
    doc["as_of"] = json!(p.now.is_some());
    doc["policy"] = json!({"origin": p.policy.origin(), "hash": p.policy.hash()});
    doc["members"] = members_json(entity, &p.identity, &p.corrections.original);
    doc["corrections"] = Value::Array(p.corrections.list.clone());
    if p.corrections.left_out > 0 {
        doc["corrections_left_out"] = json!(p.corrections.left_out);
    }
    doc["alias"] = match &p.alias {
        Some(a) => alias_json(a),
        None => Value::Null,
    };
    doc["overrides"] = overrides_json(entity, &p.identity);
    doc["map"] = map_json(entity);
    if let Some(now) = &p.now {
        doc["changes_since"] = changes_json(entity, now, p.folded_to, &p.identity_now);
    }
    doc
}

pub fn run(data_dir: &Place, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let query = Query::parse(&args.entity, args.field.as_deref(), args.as_of.as_deref())?;
    let policy = project::load_policy(trust, data_dir)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    let store = project::log_for_reading(data_dir)?;
    let p = provenance(&db, &*store, &query)?;
    if let Some(a) = &p.alias {
        let survivor = p.now.as_ref().unwrap_or(&p.entity);
        eprintln!("{}", alias_note(&args.entity, a, &survivor.slug));
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&provenance_document(&p))?
        );
    } else {
        print!(
            "{}",
            render(
                &p.entity,
                &p.fields,
                p.folded_to,
                p.now.is_some(),
                &p.policy
            )
        );
        print!("{}", render_corrections(&p.corrections));
    }
    Ok(ExitCode::SUCCESS)
}

/// An entity merged away, as the JSON documents show it (`provenance --json`'s `alias`).
pub fn alias_json(a: &MergedAway) -> Value {
    json!({
        "entity_id": a.entity_id,
        "slug": a.slug,
        "merged_into": a.into,
        "seq": a.seq,
        "recorded_at": trustfold_events::format_time(&a.recorded_at),
        "by": a.by,
        "reason": a.reason,
    })
}

/// The line saying that `key` named an entity merged into `slug`.
pub fn alias_note(key: &str, a: &MergedAway, slug: &str) -> String {
    format!(
        "note: {} ({}) was merged into {slug} ({}) at seq {} by {}: {}",
        clip(key, 80),
        a.entity_id,
        a.into,
        a.seq,
        a.by,
        clip(&a.reason, 200)
    )
}

/// The corrections as text: who corrected what, when and why, and the decision each
/// moved record had before.
fn render_corrections(c: &Corrections) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    if c.list.is_empty() {
        return out;
    }
    let _ = writeln!(out, "\nidentity corrections:");
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    for v in &c.list {
        let head = format!(
            "  seq {} {} {} by {}: {}",
            v["seq"],
            s(v, "recorded_at"),
            s(v, "kind"),
            s(v, "by"),
            clip(&s(v, "reason"), 200)
        );
        let _ = writeln!(out, "{head}");
        let moved: Vec<String> = if s(v, "kind") == "split" {
            let _ = writeln!(
                out,
                "      record {} left {} for {}{}",
                s(v, "candidate_id"),
                s(v, "from"),
                s(v, "into"),
                if v["new_entity"] == true {
                    " (new)"
                } else {
                    ""
                }
            );
            vec![s(v, "candidate_id")]
        } else {
            let ids: Vec<String> = v["candidate_ids"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|x| x.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "      {} merged into {} ({} records)",
                s(v, "merged_entity_id"),
                s(v, "into"),
                ids.len()
            );
            ids
        };
        for cid in moved {
            if let Some(o) = c.original.get(&cid) {
                let _ = writeln!(
                    out,
                    "      before: {cid} placed by {} at seq {} (score {:.3})",
                    s(o, "decided_by"),
                    o["seq"],
                    o["score"].as_f64().unwrap_or(0.0)
                );
            }
        }
    }
    if c.left_out > 0 {
        let _ = writeln!(out, "  ({} more streams not read)", c.left_out);
    }
    out
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

/// The `MergeDecided` of `candidate` among the entity's stream events, the latest first.
fn decision_of<'a>(
    identity: &'a [RecordedEvent],
    candidate: &str,
) -> Option<(&'a RecordedEvent, &'a MergeDecided)> {
    identity.iter().rev().find_map(|ev| match &ev.payload {
        EventPayload::MergeDecided(m) if m.candidate_id == candidate => Some((ev, m)),
        _ => None,
    })
}

/// The evidence of a recorded match decision: its score, features and what each
/// feature added to the logit.
pub fn decision_json(seq: u64, m: &MergeDecided) -> Value {
    let contributions = crate::resolve::score::contributions(&m.features).map(|terms| {
        terms
            .into_iter()
            .map(|(feature, logit)| json!({"feature": feature, "logit": logit}))
            .collect::<Vec<_>>()
    });
    let outcome = match &m.decision {
        MergeOutcome::NewEntity { .. } => "new_entity",
        MergeOutcome::ExistingEntity { .. } => "existing_entity",
        MergeOutcome::NeedsReview { .. } => "needs_review",
    };
    json!({
        "seq": seq,
        "outcome": outcome,
        "score": m.score,
        "features": m.features,
        "bias": crate::resolve::score::BIAS,
        "contributions": contributions,
        "matcher_version": m.matcher_version,
        "decided_by": m.decided_by,
    })
}

/// The entity's member records: source, name, the observation its values come from, who
/// put it here and the decision's evidence.
fn members_json(
    entity: &MergedEntity,
    identity: &[RecordedEvent],
    original: &std::collections::BTreeMap<String, Value>,
) -> Value {
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for r in &entity.provenance {
        if r.candidate_id == "override" || !seen.insert(r.candidate_id.as_str()) {
            continue;
        }
        let name = entity
            .provenance
            .iter()
            .find(|n| n.field == Field::Name && n.candidate_id == r.candidate_id)
            .and_then(|n| n.value.as_str());
        let decision =
            decision_of(identity, &r.candidate_id).map(|(ev, m)| decision_json(ev.seq, m));
        out.push(json!({
            "candidate_id": r.candidate_id,
            "source": r.source,
            "name": name,
            "observed_seq": r.seq,
            "recorded_at": trustfold_events::format_time(&r.recorded_at),
            "run_id": r.run_id,
            "payload_hash": r.payload_hash,
            "decided_by": r.decided_by,
            "decision": decision,
            "original_decision": original.get(&r.candidate_id),
        }));
    }
    Value::Array(out)
}

/// The admin overrides that hold a field: value, who, why and the event.
fn overrides_json(entity: &MergedEntity, identity: &[RecordedEvent]) -> Value {
    let out: Vec<Value> = entity
        .provenance
        .iter()
        .filter(|r| r.candidate_id == "override")
        .map(|r| {
            let recorded = identity.iter().find_map(|ev| match &ev.payload {
                EventPayload::FieldOverridden(o) if ev.seq == r.seq => Some(o),
                _ => None,
            });
            json!({
                "field": r.field,
                "value": r.value,
                "by": recorded.map(|o| o.by.clone()),
                "reason": recorded.map(|o| o.reason.clone()),
                "note": r.note,
                "seq": r.seq,
                "recorded_at": trustfold_events::format_time(&r.recorded_at),
            })
        })
        .collect();
    Value::Array(out)
}

/// Every source's coordinates for the place (one point per source and position, the
/// winner first) and the great-circle distances between them, in metres.
fn map_json(entity: &MergedEntity) -> Value {
    let mut points: Vec<(&ProvenanceRow, f64, f64)> = Vec::new();
    let mut distinct = 0usize;
    let mut rows: Vec<&ProvenanceRow> = rows_of(entity, Field::Coordinates);
    rows.sort_by_key(|r| !r.winner);
    for r in rows {
        let (Some(lat), Some(lon)) = (
            r.value.get("lat").and_then(Value::as_f64),
            r.value.get("lon").and_then(Value::as_f64),
        ) else {
            continue;
        };
        if points
            .iter()
            .any(|(p, a, b)| p.source == r.source && *a == lat && *b == lon)
        {
            continue;
        }
        distinct += 1;
        if points.len() < MAP_POINTS_MAX {
            points.push((r, lat, lon));
        }
    }
    let metres = |a: (f64, f64), b: (f64, f64)| {
        (trustfold_normalize::geo::haversine_km(a, b) * 1000.0 * 10.0).round() / 10.0
    };
    let mut distances = Vec::new();
    for i in 0..points.len() {
        for j in i + 1..points.len() {
            distances.push(json!({
                "from": i,
                "to": j,
                "metres": metres((points[i].1, points[i].2), (points[j].1, points[j].2)),
            }));
        }
    }
    let winner = entity.coordinates();
    json!({
        "winner": winner.map(|(lat, lon)| json!({"lat": lat, "lon": lon})),
        "points": points.iter().map(|(r, lat, lon)| json!({
            "source": r.source,
            "candidate_id": r.candidate_id,
            "lat": lat,
            "lon": lon,
            "winner": r.winner,
            "seq": r.seq,
            "from_winner_metres": winner.map(|w| metres(w, (*lat, *lon))),
        })).collect::<Vec<_>>(),
        "points_left_out": distinct - points.len(),
        "distances": distances,
    })
}

/// The fields whose value or source differs between `then` (as of `folded_to`) and now,
/// each with the event that brought today's winner (its observation or override, or the
/// decision that joined its record), or the entity's first event after the point.
fn changes_json(
    then: &MergedEntity,
    now: &MergedEntity,
    folded_to: u64,
    identity_now: &[RecordedEvent],
) -> Value {
    let mut out = Vec::new();
    for &field in Field::ALL {
        let (a, b) = (then.values.get(&field), now.values.get(&field));
        let what = match (a, b) {
            (None, None) => continue,
            (Some(a), Some(b)) if a.value == b.value && a.source == b.source => continue,
            (Some(a), Some(b)) if a.value == b.value && a.source != b.source => "source",
            _ => "value",
        };
        let winner_row = now.provenance.iter().find(|r| r.field == field && r.winner);
        let by_observation = winner_row.filter(|r| r.seq > folded_to).map(|r| {
            (
                r.seq,
                if r.candidate_id == "override" {
                    "FieldOverridden"
                } else {
                    "CandidateExtracted"
                },
            )
        });
        let by_decision = winner_row
            .and_then(|r| decision_of(identity_now, &r.candidate_id))
            .filter(|(ev, _)| ev.seq > folded_to)
            .map(|(ev, _)| (ev.seq, "MergeDecided"));
        let by_override = identity_now.iter().find_map(|ev| match &ev.payload {
            EventPayload::FieldOverridden(o) if ev.seq > folded_to && o.field == field.as_str() => {
                Some((ev.seq, "FieldOverridden"))
            }
            _ => None,
        });
        let first_after = identity_now
            .iter()
            .find(|ev| ev.seq > folded_to)
            .map(|ev| (ev.seq, ev.payload.kind().as_str()));
        let changed_by = by_observation
            .into_iter()
            .chain(by_decision)
            .max_by_key(|(seq, _)| *seq)
            .or(by_override)
            .or(first_after);
        out.push(json!({
            "field": field,
            "what": what,
            "then": a.map(|v| json!({"value": v.value, "source": v.source})),
            "now": b.map(|v| json!({"value": v.value, "source": v.source})),
            "changed_by": changed_by.map(|(seq, kind)| json!({"seq": seq, "kind": kind})),
        }));
    }
    Value::Array(out)
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
                Some(by)
                    if by.starts_with("review:")
                        || by.starts_with("split:")
                        || by.starts_with("merge:") =>
                {
                    format!("{why} [joined by {by}]")
                }
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
