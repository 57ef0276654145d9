//! `trustfold override <entity> <field> <value> --reason R` and `override --clear`: an
//! admin's value for one field, above every source (the admin tier). Appended as
//! `FieldOverridden`; the projection shows it, and provenance names who and why.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Result;
use serde_json::{json, Value};
use trustfold_events::{AppendBatch, EventStore, ExpectedVersion, FieldOverridden, NewEvent};
use trustfold_projections::values::is_placeholder;
use trustfold_projections::{Field, ProjectionDb};

use crate::datadir::{DataDir, Place};
use crate::exit::bad_input;
use crate::project;
use trustfold_normalize::{phone, postcode, web};

/// Longest override value, in bytes.
pub const OVERRIDE_VALUE_BYTES_MAX: usize = 4096;
/// Longest reason or name, in characters.
pub const REASON_CHARS_MAX: usize = 500;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// The entity id (or unique prefix) or slug.
    pub entity: String,
    /// The field (name, phone, website, coordinates, sports, ...).
    pub field: String,
    /// The value: text for text fields; "LAT,LON" for coordinates; comma-separated for
    /// categories and sports; a number for rating and rating_count; JSON for the rest.
    pub value: Option<String>,
    /// Remove the override of this field instead (the sources' value applies again).
    #[arg(long)]
    pub clear: bool,
    /// Why (kept in the log and shown in provenance).
    #[arg(long)]
    pub reason: String,
    /// Who (default: $USER).
    #[arg(long)]
    pub by: Option<String>,
    #[arg(long)]
    pub json: bool,
}

/// Who is acting: `--by`, else `$USER`, else "unknown".
pub fn actor(by: Option<&str>) -> Result<String> {
    let by = by
        .map(str::to_string)
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "unknown".into());
    let by = by.trim().to_string();
    if by.is_empty() || by.chars().count() > REASON_CHARS_MAX {
        return Err(bad_input(format!(
            "--by: give a name of 1 to {REASON_CHARS_MAX} characters"
        )));
    }
    Ok(by)
}

/// Checks a `--reason`.
pub fn reason(text: &str) -> Result<String> {
    let t = text.trim();
    if t.is_empty() || t.chars().count() > REASON_CHARS_MAX {
        return Err(bad_input(format!(
            "--reason: say why, in 1 to {REASON_CHARS_MAX} characters"
        )));
    }
    Ok(t.to_string())
}

/// The override value of `field` parsed from the command line.
pub fn parse_value(field: Field, raw: &str) -> Result<Value> {
    let bad = |why: &str| {
        bad_input(format!(
            "value {:?} for {field}: {why}",
            raw.chars().take(60).collect::<String>()
        ))
    };
    if raw.len() > OVERRIDE_VALUE_BYTES_MAX {
        return Err(bad(&format!(
            "longer than OVERRIDE_VALUE_BYTES_MAX ({OVERRIDE_VALUE_BYTES_MAX} bytes)"
        )));
    }
    if is_placeholder(raw) {
        return Err(bad(
            "a placeholder is not a value; to drop an override use --clear",
        ));
    }
    let text = raw.trim();
    Ok(match field {
        Field::Coordinates => {
            let parts: Vec<&str> = text.split(',').map(str::trim).collect();
            let (Some(lat), Some(lon), 2) = (
                parts.first().and_then(|p| p.parse::<f64>().ok()),
                parts.get(1).and_then(|p| p.parse::<f64>().ok()),
                parts.len(),
            ) else {
                return Err(bad("expected LAT,LON, e.g. 55.9563,-3.1191"));
            };
            if !(-90.0..=90.0).contains(&lat) || !(-180.0..=180.0).contains(&lon) {
                return Err(bad(
                    "latitude must be in [-90, 90] and longitude in [-180, 180]",
                ));
            }
            json!({"lat": lat, "lon": lon})
        }
        // An admin's number is read as British unless it carries its country code
        // ("+1 212 555 0100"), and must be valid: an override is never kept as written.
        Field::Phone => json!(phone::parse(text, Some(phone::Region::GB)).map_err(|why| bad(
            &format!("not a valid phone number (e.g. +44 131 496 0000, or +1 212 555 0100 with its country code): {why}")
        ))?),
        Field::Website => json!(web::website(text)
            .ok_or_else(|| bad("not a website (e.g. https://example.org)"))?),
        Field::Postcode => {
            json!(postcode::postcode(text)
                .ok_or_else(|| bad("not a UK postcode (e.g. EH15 1DR)"))?)
        }
        Field::Rating => {
            let r: f64 = text.parse().map_err(|_| bad("not a number"))?;
            if !(0.0..=5.0).contains(&r) {
                return Err(bad("a rating is between 0 and 5"));
            }
            json!(r)
        }
        Field::RatingCount => json!(text.parse::<u64>().map_err(|_| bad("not a whole number"))?),
        Field::Categories | Field::Sports => {
            let items: Vec<String> = text
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty() && !is_placeholder(s))
                .collect();
            if items.is_empty() {
                return Err(bad("give one or more comma-separated values"));
            }
            json!(items)
        }
        Field::ExternalIds | Field::Socials | Field::Ev => {
            let v: Value = serde_json::from_str(text)
                .map_err(|e| bad(&format!("expected a JSON object: {e}")))?;
            if !v.is_object() {
                return Err(bad("expected a JSON object"));
            }
            v
        }
        _ => json!(text),
    })
}

/// An admin's override as asked (`override`, `POST /api/overrides`): the value is the
/// text [`parse_value`] reads, `None` to clear.
#[derive(Clone, Debug)]
pub struct OverrideRequest {
    pub entity: String,
    pub field: String,
    pub value: Option<String>,
    pub reason: String,
    pub by: String,
}

/// What an override recorded.
#[derive(Clone, Debug)]
pub struct Overridden {
    pub entity_id: String,
    pub field: Field,
    pub seq: Option<u64>,
    pub cleared: bool,
}

/// Checks and appends a `FieldOverridden` (an unknown entity is
/// [`NotFound`](crate::exit::NotFound); clearing a field that has no override is a
/// [`Conflict`](crate::exit::Conflict)). The caller catches the projections up.
pub fn record_override(
    db: &ProjectionDb,
    store: &dyn EventStore,
    req: &OverrideRequest,
) -> Result<Overridden> {
    let field: Field = req.field.parse().map_err(|e| bad_input(format!("{e}")))?;
    let value = match &req.value {
        Some(v) => Some(parse_value(field, v)?),
        None => None,
    };
    let reason = reason(&req.reason)?;
    let by = actor(Some(&req.by))?;
    let Some((entity, state)) = db.entity(&req.entity)? else {
        return Err(crate::exit::not_found(format!(
            "no entity {:?} (see `trustfold entities`)",
            req.entity.chars().take(80).collect::<String>()
        )));
    };
    if value.is_none() && !state.overrides.contains_key(&field) {
        return Err(crate::exit::conflict(format!(
            "{} has no override of {field} to clear",
            entity.slug
        )));
    }
    let stream = format!("entity/{}", entity.entity_id);
    let cleared = value.is_none();
    let event = NewEvent::new(
        &stream,
        FieldOverridden {
            entity_id: entity.entity_id.clone(),
            field: field.as_str().to_string(),
            value,
            reason,
            by,
        },
    );
    let appended = store.append(AppendBatch::for_stream(
        &stream,
        ExpectedVersion::Any,
        vec![event],
    ))?;
    Ok(Overridden {
        entity_id: entity.entity_id,
        field,
        seq: appended.seqs.first().copied(),
        cleared,
    })
}

/// The `override --json` document, read from projections that include the override.
pub fn override_document(db: &ProjectionDb, o: &Overridden) -> Result<Value> {
    let (now, _) = db
        .entity(&o.entity_id)?
        .ok_or_else(|| anyhow::anyhow!("entity {} vanished", o.entity_id))?;
    let shown = now.values.get(&o.field);
    Ok(json!({
        "entity_id": now.entity_id,
        "slug": now.slug,
        "field": o.field,
        "seq": o.seq,
        "cleared": o.cleared,
        "value": shown.map(|v| v.value.clone()),
        "source": shown.map(|v| v.source.clone()),
    }))
}

pub fn run(data_dir: &Place, trust: Option<&Path>, args: Args) -> Result<ExitCode> {
    let field: Field = args.field.parse().map_err(|e| bad_input(format!("{e}")))?;
    let value = match (&args.value, args.clear) {
        (Some(_), true) => return Err(bad_input("give either a value or --clear, not both")),
        (None, false) => {
            return Err(bad_input(
                "give the value to set, or --clear to remove the override",
            ))
        }
        (Some(v), false) => {
            parse_value(field, v)?;
            Some(v.clone())
        }
        (None, true) => None,
    };
    reason(&args.reason)?;
    let by = actor(args.by.as_deref())?;
    let policy = project::load_policy(trust, data_dir)?;
    let db = project::open_for_reading(data_dir, &policy)?;
    let dir = DataDir::writable(data_dir)?;
    let store = dir.write_log()?;
    let done = record_override(
        &db,
        &*store,
        &OverrideRequest {
            entity: args.entity,
            field: args.field,
            value,
            reason: args.reason,
            by,
        },
    )?;
    drop(db);
    // Reading catches the projections up, this override included.
    let db = project::open_for_reading(data_dir, &policy)?;
    let doc = override_document(&db, &done)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(ExitCode::SUCCESS);
    }
    let slug = doc["slug"].as_str().unwrap_or("");
    let seq = done.seq.unwrap_or(0);
    match (done.cleared, doc.get("source").and_then(Value::as_str)) {
        (false, Some(_)) => println!(
            "{slug} {field} = {} (admin override, seq {seq})",
            doc["value"]
        ),
        (true, Some(source)) => println!(
            "{slug} {field}: override cleared; now {} from {source}",
            doc["value"]
        ),
        (true, None) => println!("{slug} {field}: override cleared; no source has a value"),
        (false, None) => println!("{slug} {field}: override recorded"),
    }
    Ok(ExitCode::SUCCESS)
}
